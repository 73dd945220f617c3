// A stale copy of a pointer in a dead stack frame is not a root: stash() keeps the only pointer in
// a volatile local and returns; then the program exits (exit() from main, or return from main).
// deep_stash() leaves its copy 16 KiB below, where nothing overwrites it before the check.
// LeakSanitizer scans the whole stack and can miss these under ASLR; forkleak must not.
// MODES: exit child-exit return child-return
// EXPECT self: direct_bytes=104 direct_blocks=2 indirect_blocks=0 reachable_blocks=0
// EXPECT-LEAK self: function=stash kind=direct bytes=44 blocks=1
// EXPECT-LEAK self: function=deep_stash kind=direct bytes=60 blocks=1
#include "fltest.h"

static FL_NOINLINE void stash(void)
{
    void *volatile p = malloc(44);
    (void)p;
}

static FL_NOINLINE void deep_stash(void)
{
    volatile char pad[16384];
    void *volatile p = malloc(60);
    pad[0] = 0;
    (void)pad[0];
    (void)p;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    deep_stash();
    stash();
    if (FL_VARIANT("return"))
        return 0;
    exit(0);
}
