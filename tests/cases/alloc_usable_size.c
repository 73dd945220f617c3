// malloc_usable_size passes through: at least the requested size for every allocator, 0 for NULL.
// MODES: parent child
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
#include "fltest.h"

#include <malloc.h>

static FL_NOINLINE void check(void)
{
    static const size_t sizes[] = {0, 1, 12, 100, 1000, 100000, 2 << 20};
    FL_REQUIRE(malloc_usable_size(NULL) == 0);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p[5];
        p[0] = malloc(n);
        p[1] = calloc(1, n);
        p[2] = memalign(128, n);
        p[3] = aligned_alloc(64, n);
        p[4] = realloc(NULL, n);
        for (int k = 0; k < 5; k++) {
            FL_REQUIRE(p[k] != NULL);
            FL_REQUIRE(malloc_usable_size(p[k]) >= n);
            free(p[k]);
        }
    }
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    check();
    fl_control_leak();
    return 0;
}
