// FORKLEAK_PREFAULT=heap breaks copy-on-write of the heap right after fork, on the side(s) that
// FORKLEAK_PREFAULT_IN names. The parent dirties a 64 MiB block (alloc_big) and forks; the child
// waits until the parent's fork() has returned (the parent pre-faults before it returns), then
// exits. In the side that pre-faulted, the report's prefault record shows mode heap, at least the
// block's 16384 pages, no error. A child that pre-faulted is private right after fork (memory
// phase=prefault: ~64 MiB private dirty). Whichever side pre-faulted, the child no longer shares
// the block's pages at exit: they count as copied, at alloc_big.
// MODES: in-child in-parent in-both
// ENV: FORKLEAK_PREFAULT=heap
// [in-parent] ENV: FORKLEAK_PREFAULT_IN=parent
// [in-both] ENV: FORKLEAK_PREFAULT_IN=both
// EXPECT-PROCS: 2
// EXPECT parent: leaked_blocks=0 cow=null
// EXPECT child: leaked_blocks=0 memory.start.rss_kb>=65536 cow.copied_pages>=16385 cow.shared_pages<=16
// EXPECT-COWSITE child: rank=0 function=alloc_big pages=16385 bytes=67112960
// [in-child] EXPECT parent: prefault=null
// [in-parent] EXPECT child: prefault=null memory.prefault=null
// [in-child,in-both] EXPECT child: prefault.mode=heap prefault.pages>=16384 prefault.bytes>=67108864 prefault.error=none prefault.ms>0 memory.prefault.private_dirty_kb=65536~5% memory.prefault.rss_kb>=65536
// [in-parent,in-both] EXPECT parent: prefault.mode=heap prefault.pages>=16384 prefault.error=none prefault.ms>0
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
    int go[2];
    FL_REQUIRE(pipe(go) == 0);
    g_big = alloc_big();
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        char c;
        FL_REQUIRE(read(go[0], &c, 1) == 1);
        FL_REQUIRE(g_big[BIG - 1] == 1 && g_big[0] == 1);
        exit(0);
    }
    FL_REQUIRE(write(go[1], "g", 1) == 1);
    int st = fl_wait(pid);
    FL_REQUIRE(g_big[BIG / 2] == 1);
    free(g_big);
    g_big = NULL;
    return st;
}
