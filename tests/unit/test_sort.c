/* test_sort.c — the exit-time sort of the block snapshot by address (preload/sort.c): against
 * qsort on random and adversarial inputs (empty, one block, around the small-input cutoff, equal
 * addresses, shared high digits, descending, 100k random 47-bit addresses); no record lost. */
// LINK: preload/sort.c preload/log.c
#include "internal.h"

#include "task.h"

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static int cmp_full(const void *x, const void *y)
{
    const fl_block_t *a = x, *b = y;
    if (a->addr != b->addr)
        return a->addr < b->addr ? -1 : 1;
    if (a->size != b->size)
        return a->size < b->size ? -1 : 1;
    if (a->stack != b->stack)
        return a->stack < b->stack ? -1 : 1;
    return a->gen < b->gen ? -1 : a->gen > b->gen;
}

/* Sorts B (n records) with fl_sort_blocks and checks the order and that the records are the same
 * multiset as before. */
static void check_sort(fl_block_t *b, size_t n, const char *what)
{
    fl_block_t *orig = malloc((n + 1) * sizeof *b), *tmp = malloc((n + 1) * sizeof *b);
    fl_block_t *sorted = malloc((n + 1) * sizeof *b);
    memcpy(orig, b, n * sizeof *b);
    fl_sort_blocks(b, n, tmp);
    for (size_t i = 1; i < n; i++) {
        ASSERT_CTX("%s, n=%zu, at %zu", what, n, i);
        ASSERT_LE(b[i - 1].addr, b[i].addr);
    }
    memcpy(sorted, b, n * sizeof *b);
    qsort(sorted, n, sizeof *b, cmp_full);
    qsort(orig, n, sizeof *b, cmp_full);
    for (size_t i = 0; i < n; i++) {
        ASSERT_CTX("%s, n=%zu, record %zu", what, n, i);
        ASSERT_EQ(cmp_full(&sorted[i], &orig[i]), 0);
    }
    free(orig);
    free(tmp);
    free(sorted);
}

static fl_block_t *make(size_t n, int pattern)
{
    fl_block_t *b = calloc(n + 1, sizeof *b);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd();
        switch (pattern) {
        case 0: /* random user-space addresses (47 bits), 16-aligned */
            b[i].addr = (r & 0x7ffffffffff0ull) | 0x10;
            break;
        case 1: /* one heap: shared high digits, only the low ones differ */
            b[i].addr = 0x555555554000ull + (r % 100000) * 16;
            break;
        case 2: /* all equal */
            b[i].addr = 0x7f0000001000ull;
            break;
        case 3: /* descending */
            b[i].addr = 0x7f0000000000ull - i * 32;
            break;
        case 4: /* two far-apart regions (heap and mmap), few distinct values */
            b[i].addr = (r & 1 ? 0x7ff000000000ull : 0x560000000000ull) + (r >> 40) % 8 * 16;
            break;
        default: /* every digit of the 55-bit range in use */
            b[i].addr = r & ((1ull << 55) - 1);
            break;
        }
        b[i].size = r >> 50;
        b[i].stack = (uint32_t)i;
        b[i].gen = (uint32_t)(r >> 60);
    }
    return b;
}

static void test_sizes_and_patterns(void)
{
    static const size_t sizes[] = {0, 1, 2, 3, 62, 63, 64, 65, 127, 1000, 4096, 100000};
    char what[64];
    for (int pattern = 0; pattern < 6; pattern++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            fl_block_t *b = make(sizes[k], pattern);
            snprintf(what, sizeof what, "pattern %d", pattern);
            check_sort(b, sizes[k], what);
            free(b);
        }
}

static void test_already_sorted(void)
{
    fl_block_t *b = make(5000, 0);
    fl_block_t *tmp = malloc(5000 * sizeof *b);
    fl_sort_blocks(b, 5000, tmp);
    check_sort(b, 5000, "sorted input");
    free(b);
    free(tmp);
}

int main(void)
{
    RUN_TEST(test_sizes_and_patterns);
    RUN_TEST(test_already_sorted);
    return 0;
}
