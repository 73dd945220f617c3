// The aligned allocators return correctly aligned blocks and record the size the program asked
// for (108 bytes), also for pvalloc (which rounds the usable size up to a page) and valloc.
// MODES: memalign child-memalign posix_memalign child-posix_memalign aligned_alloc child-aligned_alloc valloc child-valloc pvalloc child-pvalloc
// EXPECT self: direct_bytes=108 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// EXPECT-LEAK self: function=fill kind=direct bytes=108 blocks=1
#include "fltest.h"

#include <malloc.h>

static FL_NOINLINE void fill(const char *v)
{
    void *volatile p = NULL;
    size_t align = 4096;
    if (strcmp(v, "memalign") == 0) {
        align = 64;
        p = memalign(align, 108);
    } else if (strcmp(v, "posix_memalign") == 0) {
        void *q = NULL;
        align = 256;
        FL_REQUIRE(posix_memalign(&q, align, 108) == 0);
        p = q;
    } else if (strcmp(v, "aligned_alloc") == 0) {
        align = 128;
        p = aligned_alloc(align, 108);
    } else if (strcmp(v, "valloc") == 0) {
        p = valloc(108);
    } else {
        p = pvalloc(108);
        FL_REQUIRE(p != NULL && malloc_usable_size(p) >= 4096);
    }
    FL_REQUIRE(p != NULL && ((uintptr_t)p & (align - 1)) == 0);
    memset(p, 1, 108);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill(fl_variant(argc, argv));
    return 0;
}
