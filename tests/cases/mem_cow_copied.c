// What a child's copy-on-write costs, by allocation site: the parent dirties a 64 MiB block
// (allocated in alloc_big, kept in a global) and forks; the child writes one byte in each page of
// the first quarter and exits while the parent waits. The child's report: ~16 MiB (4096 pages)
// copied, ~48 MiB (12288 pages) still shared with the parent, and the top copy site is alloc_big
// with those 4096 pages. Right after fork the child's RSS is the parent's 64 MiB (all shared); at
// exit ~48 MiB of it is still shared dirty. THP is off for the block, so a write copies 4 KiB.
// EXPECT-PROCS: 2
// EXPECT parent: leaked_blocks=0 cow=null prefault=null
// EXPECT child: leaked_blocks=0 prefault=null memory.prefault=null cow.copied_pages=4096~5% cow.shared_pages=12288~5% memory.start.rss_kb>=65536 memory.exit.shared_dirty_kb=49152~5%
// EXPECT-COWSITE child: rank=0 function=alloc_big pages=4096~5% bytes=16777216~5%
// EXPECT-COWSITE child: function!=alloc_big pages<=16
#include "fltest.h"

#include <sys/mman.h>

#define BIG (64u << 20)
char *volatile g_big;

static FL_NOINLINE char *alloc_big(void)
{
    char *p = malloc(BIG);
    FL_REQUIRE(p != NULL);
    madvise((void *)(((uintptr_t)p + 4095) & ~(uintptr_t)4095), BIG - 4096, MADV_NOHUGEPAGE);
    memset(p, 1, BIG);
    return p;
}

int main(void)
{
    g_big = alloc_big();
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        for (size_t off = 0; off < BIG / 4; off += 4096)
            g_big[off] = 2;
        exit(0);
    }
    int st = fl_wait(pid);
    free(g_big);
    g_big = NULL;
    return st;
}
