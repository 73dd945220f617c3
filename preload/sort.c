/* sort.c — sorting the exit-time block snapshot by address for interior-pointer lookup: an LSD
 * radix sort (three 16-bit passes over the 48-bit address), O(n), no allocation (the caller gives
 * the scratch array), no qsort (glibc's may malloc). */
#include "internal.h"

#include <string.h>

void fl_sort_blocks(fl_block_t *b, size_t n, fl_block_t *tmp)
{
    static size_t count[1 << 16];
    fl_block_t *src = b, *dst = tmp;
    for (int pass = 0; pass < 3; pass++) {
        int shift = pass * 16;
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(src[i].addr >> shift) & 0xffff]++;
        size_t sum = 0;
        for (size_t d = 0; d < (1 << 16); d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i].addr >> shift) & 0xffff]++] = src[i];
        fl_block_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != b) /* an odd number of passes leaves the result in tmp */
        memcpy(b, src, n * sizeof *b);
}
