// A chain A -> B -> C cut from the roots: A is the direct leak, B and C indirect. C is allocated
// first and A last, so A has the highest address.
// MODES: parent child
// EXPECT self: direct_bytes=44 direct_blocks=1 indirect_bytes=40 indirect_blocks=2 reachable_blocks=0
// EXPECT-LEAK self: function=make_a kind=direct bytes=44 blocks=1
// EXPECT-LEAK self: function=make_b kind=indirect bytes=28 blocks=1
// EXPECT-LEAK self: function=make_c kind=indirect bytes=12 blocks=1
#include "fltest.h"

static FL_NOINLINE void **make_c(void)
{
    void **c = malloc(12);
    memset(c, 0, 12);
    FL_ESCAPE(c);
    return c;
}

static FL_NOINLINE void **make_b(void **next)
{
    void **b = malloc(28);
    memset(b, 0, 28);
    b[1] = next;
    FL_ESCAPE(b);
    return b;
}

static FL_NOINLINE void make_a(void **next)
{
    void **a = malloc(44);
    memset(a, 0, 44);
    a[2] = next;
    FL_ESCAPE(a);
}

static FL_NOINLINE void build(void)
{
    make_a(make_b(make_c()));
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    build();
    return 0;
}
