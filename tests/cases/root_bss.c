// A pointer held only in a zero-initialised global (.bss) keeps its block reachable.
// MODES: parent child
// EXPECT self: reachable_blocks=1 reachable_bytes=102 direct_bytes=7 direct_blocks=1 indirect_blocks=0
#include "fltest.h"

void *volatile g_bss; /* zero initialiser: lives in .bss */

static FL_NOINLINE void fill(void)
{
    g_bss = malloc(102);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill();
    fl_control_leak();
    return 0;
}
