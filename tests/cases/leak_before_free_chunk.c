// A dropped block is leaked even when a free chunk right after it sits in one of glibc's bins:
// main_arena's bin list (in libc's .data) points at that chunk's header, which lies inside the
// dropped block's requested bytes (40 bytes: chunk of 48, next header at +32). LSan and valgrind
// report the 40-byte leak.
// MODES: parent child
// EXPECT self: direct_bytes=40 direct_blocks=1 reachable_blocks=1 reachable_bytes=16
// EXPECT-LEAK self: function=leak_then_free_neighbour kind=direct bytes=40 blocks=1
#include "fltest.h"

void *volatile g_guard;

static FL_NOINLINE void leak_then_free_neighbour(void)
{
    void *volatile p = malloc(40);
    void *volatile big = malloc(2000); /* too big for the tcache: freed into the unsorted bin */
    g_guard = malloc(16);              /* keeps `big` from merging into the top chunk */
    FL_REQUIRE((char *)big == (char *)p + 48);
    free(big);
    (void)p;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    leak_then_free_neighbour();
    return 0;
}
