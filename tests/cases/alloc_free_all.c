// free: blocks from every allocator, freed, leave nothing behind (no leak, nothing reachable),
// including realloc'ed, zero-sized and 4 MiB blocks; free(NULL) is fine.
// MODES: parent child
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
#include "fltest.h"

#include <malloc.h>

static FL_NOINLINE void churn(void)
{
    for (int i = 0; i < 1000; i++) {
        size_t n = (size_t)(i * 37) % 5000;
        void *volatile a = malloc(n);
        void *volatile b = calloc(3, n);
        void *volatile c = realloc(NULL, n + 1);
        c = realloc(c, n * 2 + 10);
        void *volatile d = reallocarray(NULL, 5, n + 1);
        void *volatile e = memalign(64, n);
        void *q = NULL;
        FL_REQUIRE(posix_memalign(&q, 32, n) == 0);
        void *volatile f = aligned_alloc(16, n);
        void *volatile g = valloc(n);
        void *volatile h = pvalloc(n);
        free(a), free(b), free(c), free(d), free(e), free(q), free(f), free(g), free(h);
    }
    void *volatile big = malloc(4 << 20);
    free(big);
    free(NULL);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    churn();
    fl_control_leak();
    return 0;
}
