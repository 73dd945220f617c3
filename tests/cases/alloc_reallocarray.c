// reallocarray: like realloc with n * size bytes; an overflowing n * size returns NULL with ENOMEM
// and keeps the old block (still recorded as it was).
// MODES: basic child-basic overflow child-overflow
// [basic,child-basic] EXPECT self: direct_bytes=1200 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// [basic,child-basic] EXPECT-LEAK self: function=fill kind=direct bytes=1200 blocks=1
// [overflow,child-overflow] EXPECT self: direct_bytes=44 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// [overflow,child-overflow] EXPECT-LEAK self: function=first kind=direct bytes=44 blocks=1
#include "fltest.h"

static FL_NOINLINE char *first(size_t n)
{
    char *volatile p = malloc(n);
    memset(p, 'x', n);
    return p;
}

static FL_NOINLINE void fill(void)
{
    char *p = reallocarray(NULL, 11, 4);
    FL_REQUIRE(p != NULL);
    memset(p, 'y', 44);
    char *volatile q = reallocarray(p, 100, 12);
    FL_REQUIRE(q != NULL && q[43] == 'y');
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    if (FL_VARIANT("overflow")) {
        char *p = first(44);
        errno = 0;
        void *volatile q = reallocarray(p, SIZE_MAX / 2, 4);
        FL_REQUIRE(q == NULL && errno == ENOMEM);
        FL_REQUIRE(p[43] == 'x');
    } else {
        fill();
    }
    return 0;
}
