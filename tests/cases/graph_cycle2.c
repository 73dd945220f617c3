// Two blocks pointing at each other, cut from every root, are leaked: one direct (the cycle's
// entry), the other indirect (valgrind's clique rule; LeakSanitizer calls both indirect).
// MODES: parent child
// EXPECT self: direct_bytes=48 direct_blocks=1 indirect_bytes=48 indirect_blocks=1 reachable_blocks=0
// EXPECT-LEAK self: function=fill bytes=96 blocks=2
#include "fltest.h"

static FL_NOINLINE void fill(void)
{
    void **a = malloc(48), **b = malloc(48);
    memset(a, 0, 48);
    memset(b, 0, 48);
    a[0] = b;
    b[0] = a;
    FL_ESCAPE(a);
    FL_ESCAPE(b);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill();
    return 0;
}
