// Large blocks (2 MiB: glibc serves them with mmap) are tracked and checked like any other:
// dropped, one leaks; kept in a global, it and the small block only it points to are reachable;
// dropped while pointing to a small block, the large one is direct and the small one indirect.
// MODES: leak child-leak keep child-keep holder child-holder
// [leak,child-leak] EXPECT self: direct_bytes=2097152 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// [leak,child-leak] EXPECT-LEAK self: function=fill kind=direct bytes=2097152 blocks=1
// [keep,child-keep] EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 reachable_blocks=2 reachable_bytes=2097196
// [holder,child-holder] EXPECT self: direct_bytes=2097152 direct_blocks=1 indirect_bytes=44 indirect_blocks=1 reachable_blocks=0
// [holder,child-holder] EXPECT-LEAK self: function=fill kind=indirect bytes=44 blocks=1
#include "fltest.h"

void *volatile g_big;

static FL_NOINLINE void fill(int keep, int hold)
{
    void **big = malloc(2 << 20);
    FL_REQUIRE(big != NULL);
    memset(big, 0, 4096);
    if (hold || keep)
        big[100] = malloc(44);
    FL_ESCAPE(big);
    if (keep)
        g_big = big;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill(FL_VARIANT("keep"), FL_VARIANT("holder"));
    if (FL_VARIANT("keep"))
        fl_control_leak();
    return 0;
}
