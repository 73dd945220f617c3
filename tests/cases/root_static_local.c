// A pointer held only in a function-local static (in .bss) keeps its block reachable, and so does
// everything reachable from that block.
// MODES: parent child
// EXPECT self: reachable_blocks=2 reachable_bytes=143 direct_bytes=7 direct_blocks=1 indirect_blocks=0
#include "fltest.h"

static FL_NOINLINE void fill(void)
{
    static void *volatile keep;
    void **outer = malloc(104);
    outer[0] = malloc(39);
    keep = outer;
    (void)keep;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill();
    fl_control_leak();
    return 0;
}
