// Interior pointers keep a block alive: globals hold a pointer into the middle of one block and to
// the last requested byte of another.
// MODES: parent child
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 reachable_blocks=2 reachable_bytes=208
// EXPECT-LEAK self: function=fill groups=0
#include "fltest.h"

char *volatile g_middle, *volatile g_last;

static FL_NOINLINE void fill(void)
{
    g_middle = (char *)malloc(100) + 50;
    g_last = (char *)malloc(108) + 107;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill();
    fl_control_leak();
    return 0;
}
