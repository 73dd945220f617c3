// malloc: every block is recorded with the size the program asked for and the function that asked.
// MODES: parent child
// EXPECT self: direct_bytes=1017 direct_blocks=3 indirect_blocks=0
// EXPECT-LEAK self: function=leak_1 kind=direct bytes=1 blocks=1
// EXPECT-LEAK self: function=leak_12 kind=direct bytes=12 blocks=1
// EXPECT-LEAK self: function=leak_1004 kind=direct bytes=1004 blocks=1
#include "fltest.h"

static FL_NOINLINE void leak_1(void)
{
    void *volatile p = malloc(1);
    (void)p;
}
static FL_NOINLINE void leak_12(void)
{
    void *volatile p = malloc(12);
    (void)p;
}
static FL_NOINLINE void leak_1004(void)
{
    void *volatile p = malloc(1004);
    (void)p;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    leak_1();
    leak_12();
    leak_1004();
    return 0;
}
