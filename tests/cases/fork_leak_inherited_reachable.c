// A child leaks a block it inherited that is reachable in the parent: the parent keeps its pointer
// in a global to the end; the child drops its copy of the pointer. The leak is the child's only:
// origin inherited, from the parent (pid and generation 0); the parent reports the block as
// reachable, not leaked; the combined view lists it once, as "inherited", allocated in the parent
// (which did not leak it) and leaked by the child, and the child's inherited record counts it.
// EXPECT-PROCS: 2
// EXPECT parent: leaked_blocks=0 reachable_blocks=1 reachable_bytes=333
// EXPECT child: direct_blocks=1 direct_bytes=333 indirect_blocks=0 reachable_blocks=0
// EXPECT-LEAK child: function=make_table kind=direct origin=inherited from_gen=0 from_pid=@parent bytes=333 blocks=1
// EXPECT-LEAK child: origin=own groups=0
// EXPECT-INHERITED child: function=make_table blocks=1 bytes=333 freed_blocks=0 live_blocks=1 leaked_blocks=1 leaked_bytes=333
// EXPECT-COMBINED: function=make_table kind=direct origin=inherited allocated_in=parent allocated_in_gen=0 inherited_by=child inherited_count=1 leaked_before_fork=false bytes=333 blocks=1 groups=1
// EXPECT-COMBINED: groups=1
#include "fltest.h"

void *volatile g_table;

static FL_NOINLINE void make_table(void)
{
    g_table = malloc(333);
}

int main(void)
{
    make_table();
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        g_table = NULL; /* the child forgets it without freeing it */
        exit(0);
    }
    int st = fl_wait(pid);
    FL_REQUIRE(g_table != NULL); /* the parent's pointer is its own copy */
    return st;
}
