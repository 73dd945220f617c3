/* test_arena.c — the shim's own memory (preload/arena.c): small objects from size classes, larger
 * ones (4 KiB .. 16 MiB) carved from chunks and reused by class once freed (their pages given
 * back: zero again), the largest mapped on their own; all of it registered as the shim's, none of
 * it after it is unmapped. */
// LINK: preload/arena.c preload/threads.c preload/log.c preload/table.c preload/par.c preload/options.c
#include "internal.h"

#include <string.h>

#include "task.h"

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void test_sizes_zero_and_owned(void)
{
    static const size_t sizes[] = {1, 16, 17, 2048, 2049, 4096, 5000, 65536, 1u << 20,
                                   (1u << 20) + 1, 16u << 20, (16u << 20) + 1, 40u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        ASSERT_CTX("size %zu", n);
        unsigned char *p = fl_arena_alloc(n);
        ASSERT_TRUE(p != NULL);
        ASSERT_TRUE(all_zero(p, n));
        ASSERT_TRUE(fl_arena_owns((uintptr_t)p));
        ASSERT_TRUE(fl_arena_owns((uintptr_t)p + n - 1));
        memset(p, 0xab, n);
        fl_arena_free(p, n);
    }
}

/* A freed object of a class comes back (the last freed first) and is zero again. */
static void test_reuse_is_zero(void)
{
    static const size_t sizes[] = {24, 3000, 100000, 3u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        ASSERT_CTX("size %zu", n);
        unsigned char *a = fl_arena_alloc(n);
        memset(a, 0x5a, n);
        fl_arena_free(a, n);
        unsigned char *b = fl_arena_alloc(n);
        ASSERT_TRUE(b == a);
        ASSERT_TRUE(all_zero(b, n));
        fl_arena_free(b, n);
    }
}

/* Many live objects of growing sizes (a table's shards growing in step) do not overlap. */
static void test_no_overlap(void)
{
    enum { N = 300 };
    static unsigned char *p[N];
    static size_t sz[N];
    for (int i = 0; i < N; i++) {
        sz[i] = 3000 + (size_t)i * 997;
        p[i] = fl_arena_alloc(sz[i]);
        ASSERT_TRUE(p[i] != NULL);
        memset(p[i], i & 0xff, sz[i]);
    }
    for (int i = 0; i < N; i++) {
        ASSERT_CTX("object %d", i);
        for (size_t k = 0; k < sz[i]; k += 101)
            ASSERT_EQ(p[i][k], i & 0xff);
        fl_arena_free(p[i], sz[i]);
    }
}

static void test_unmapped_not_owned(void)
{
    void *p = fl_arena_map(1u << 20);
    ASSERT_TRUE(fl_arena_owns((uintptr_t)p));
    fl_arena_unmap(p, 1u << 20);
    ASSERT_FALSE(fl_arena_owns((uintptr_t)p));
}

int main(void)
{
    RUN_TEST(test_sizes_zero_and_owned);
    RUN_TEST(test_reuse_is_zero);
    RUN_TEST(test_no_overlap);
    RUN_TEST(test_unmapped_not_owned);
    return 0;
}
