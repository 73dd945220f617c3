// calloc: zeroed memory, recorded with n * size bytes; an overflowing n * size fails with ENOMEM
// and records nothing.
// MODES: parent child overflow child-overflow
// [parent,child] EXPECT self: direct_bytes=44 direct_blocks=1 indirect_blocks=0
// [parent,child] EXPECT-LEAK self: function=fill kind=direct bytes=44 blocks=1
// [overflow,child-overflow] EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
#include "fltest.h"

static FL_NOINLINE void fill(void)
{
    unsigned char *volatile p = calloc(4, 11);
    FL_REQUIRE(p != NULL);
    for (int i = 0; i < 44; i++)
        FL_REQUIRE(p[i] == 0);
}

static FL_NOINLINE void overflow(void)
{
    errno = 0;
    void *volatile p = calloc(SIZE_MAX / 2 + 2, 2);
    FL_REQUIRE(p == NULL && errno == ENOMEM);
    p = calloc((size_t)1 << 62, 8);
    FL_REQUIRE(p == NULL);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    if (FL_VARIANT("overflow")) {
        overflow();
        fl_control_leak();
    } else {
        fill();
    }
    return 0;
}
