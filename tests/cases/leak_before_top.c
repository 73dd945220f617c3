// A dropped block is leaked even when glibc's own bookkeeping points into it: for malloc(33) the
// chunk is 48 bytes and the next chunk's header (here: the top chunk, which main_arena.top in
// libc's .data points to) starts 32 bytes into the block, inside the 33 requested bytes. That
// pointer is malloc metadata, not a program pointer; LeakSanitizer and valgrind report the leak.
// MODES: parent child
// EXPECT self: direct_bytes=33 direct_blocks=1 reachable_blocks=0
// EXPECT-LEAK self: function=leak_last kind=direct bytes=33 blocks=1
#include "fltest.h"

static FL_NOINLINE void leak_last(void)
{
    void *volatile p = malloc(33); /* the last allocation: the top chunk follows it */
    (void)p;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    leak_last();
    return 0;
}
