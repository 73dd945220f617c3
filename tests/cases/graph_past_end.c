// A pointer just past the end of a block (p + size) does not point into it: the block is leaked
// (LeakSanitizer: only [p, p + size) counts, and p itself for a 0-byte block).
// MODES: parent child
// EXPECT self: direct_bytes=44 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// EXPECT-LEAK self: function=fill kind=direct bytes=44 blocks=1
#include "fltest.h"

char *volatile g_end;

static FL_NOINLINE void fill(void)
{
    g_end = (char *)malloc(44) + 44;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill();
    return 0;
}
