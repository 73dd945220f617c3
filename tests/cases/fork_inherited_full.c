// FORKLEAK_INHERITED=full lists every inherited block still live at the child's exit (address,
// size, generation, verdict, stack) — and only those: not the inherited blocks the child freed,
// not its own blocks, nothing in the gen-0 parent. The parent makes three 40-byte blocks in
// keep_three (kept in a global array) and a 24-byte one in leak_one whose pointer dies before
// fork; the child frees one of the three and makes a block of its own (kept). With the default
// (summary), the child's inherited records are the same but no block is listed.
// MODES: full summary
// [full] ENV: FORKLEAK_INHERITED=full
// EXPECT-PROCS: 2
// EXPECT parent: ninherited_blocks=0 direct_blocks=1 direct_bytes=24
// EXPECT child: direct_blocks=1 direct_bytes=24 indirect_blocks=0
// EXPECT-INHERITED child: function=keep_three blocks=3 bytes=120 freed_blocks=1 freed_bytes=40 live_blocks=2 live_bytes=80 leaked_blocks=0
// EXPECT-INHERITED child: function=leak_one blocks=1 bytes=24 freed_blocks=0 live_blocks=1 leaked_blocks=1 leaked_bytes=24
// EXPECT-INHERITED child: function=make_own groups=0
// [full] EXPECT child: ninherited_blocks=3
// [full] EXPECT-BLOCK child: function=keep_three kind=reachable gen=0 blocks=2 bytes=80
// [full] EXPECT-BLOCK child: function=leak_one kind=direct gen=0 blocks=1 bytes=24
// [full] EXPECT-BLOCK child: function=make_own blocks=0
// [summary] EXPECT child: ninherited_blocks=0
#include "fltest.h"

void *volatile g_three[3];
void *volatile g_own;

static FL_NOINLINE void keep_three(void)
{
    for (int i = 0; i < 3; i++)
        g_three[i] = malloc(40);
}

static FL_NOINLINE void leak_one(void)
{
    void *volatile p = malloc(24);
    (void)p;
}

static FL_NOINLINE void make_own(void)
{
    g_own = malloc(56);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    keep_three();
    leak_one();
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        free(g_three[1]);
        g_three[1] = NULL;
        make_own();
        exit(0);
    }
    return fl_wait(pid);
}
