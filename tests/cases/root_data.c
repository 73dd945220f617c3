// A pointer held only in an initialised global (.data) keeps its block reachable.
// MODES: parent child
// EXPECT self: reachable_blocks=1 reachable_bytes=101 direct_bytes=7 direct_blocks=1 indirect_blocks=0
// EXPECT-LEAK self: function=fl_control_leak kind=direct bytes=7 blocks=1
#include "fltest.h"

static int anchor;
void *volatile g_data = &anchor; /* non-zero initialiser: lives in .data */

static FL_NOINLINE void fill(void)
{
    g_data = malloc(101);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill();
    fl_control_leak();
    return 0;
}
