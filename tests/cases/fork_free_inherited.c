// A child that frees a block it inherited: the block is gone from the child's records only. The
// parent still has it (reachable from its global); the child reports no leak and nothing
// reachable of it, and its inherited record says it got the block at fork and freed it.
// EXPECT-PROCS: 2
// EXPECT parent: leaked_blocks=0 reachable_blocks=1 reachable_bytes=108 ninherited=0
// EXPECT child: leaked_blocks=0 reachable_blocks=0 ninherited=1
// EXPECT-INHERITED child: function=main blocks=1 bytes=108 freed_blocks=1 freed_bytes=108 live_blocks=0 live_bytes=0 leaked_blocks=0 leaked_bytes=0
#include "fltest.h"

void *volatile g_shared;

int main(void)
{
    g_shared = malloc(108);
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        free(g_shared);
        g_shared = NULL;
        exit(0);
    }
    return fl_wait(pid);
}
