/* sort.c — sorting the exit-time block snapshot by address for interior-pointer lookup: insertion
 * sort for a handful of blocks, otherwise an LSD radix sort (five 11-bit passes over the 55 low
 * address bits), O(n), counts on the stack, no allocation (the caller gives the scratch array),
 * no qsort (glibc's may malloc). */
#include "internal.h"

#include <string.h>

#define BITS 11
#define BUCKETS (1u << BITS)
#define PASSES 5

static void insertion(fl_block_t *b, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        fl_block_t t = b[i];
        size_t j = i;
        for (; j > 0 && b[j - 1].addr > t.addr; j--)
            b[j] = b[j - 1];
        b[j] = t;
    }
}

void fl_sort_blocks(fl_block_t *b, size_t n, fl_block_t *tmp)
{
    if (n < 64) {
        insertion(b, n);
        return;
    }
    size_t count[BUCKETS];
    fl_block_t *src = b, *dst = tmp;
    for (int pass = 0; pass < PASSES; pass++) {
        int shift = pass * BITS;
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(src[i].addr >> shift) & (BUCKETS - 1)]++;
        if (count[(src[0].addr >> shift) & (BUCKETS - 1)] == n)
            continue; /* every address has this digit: nothing to move */
        size_t sum = 0;
        for (size_t d = 0; d < BUCKETS; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i].addr >> shift) & (BUCKETS - 1)]++] = src[i];
        fl_block_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != b) /* the result ended in tmp */
        memcpy(b, src, n * sizeof *b);
}
