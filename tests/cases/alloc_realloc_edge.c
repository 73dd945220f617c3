// realloc(p, 0) frees p (glibc returns NULL); a failed realloc (a huge size: NULL, ENOMEM) leaves
// the old block untouched and still recorded, with its first allocation's size and stack.
// MODES: zero child-zero fail child-fail fail-keep child-fail-keep
// [zero,child-zero] EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// [fail,child-fail] EXPECT self: direct_bytes=44 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// [fail,child-fail] EXPECT-LEAK self: function=first kind=direct bytes=44 blocks=1
// [fail-keep,child-fail-keep] EXPECT self: direct_bytes=7 direct_blocks=1 reachable_blocks=1 reachable_bytes=44
#include "fltest.h"

void *volatile g_keep;

static FL_NOINLINE char *first(size_t n)
{
    char *volatile p = malloc(n);
    memset(p, 'x', n);
    return p;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    if (FL_VARIANT("zero")) {
        char *p = first(44);
        void *volatile q = realloc(p, 0);
        FL_REQUIRE(q == NULL);
        fl_control_leak();
    } else {
        char *p = first(44);
        errno = 0;
        void *volatile q = realloc(p, SIZE_MAX - 4096);
        FL_REQUIRE(q == NULL && errno == ENOMEM);
        FL_REQUIRE(p[43] == 'x'); /* still the program's */
        if (FL_VARIANT("fail-keep")) {
            g_keep = p;
            fl_control_leak();
        }
    }
    return 0;
}
