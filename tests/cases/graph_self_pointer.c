// A block whose only pointers point to itself (its start, and into its middle) is leaked, direct.
// MODES: parent child
// EXPECT self: direct_bytes=48 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// EXPECT-LEAK self: function=fill kind=direct bytes=48 blocks=1
#include "fltest.h"

static FL_NOINLINE void fill(void)
{
    void **p = malloc(48);
    p[0] = p;
    p[1] = (char *)p + 20;
    FL_ESCAPE(p);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill();
    return 0;
}
