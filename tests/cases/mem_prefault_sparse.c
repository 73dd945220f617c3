// Pre-faulting only copies pages that are resident: it never turns untouched memory into RSS. A
// 1 GiB anonymous mapping (no THP) has 10 MiB touched, one page in every 102; with
// FORKLEAK_PREFAULT=writable the child's VmRSS right after fork (after pre-faulting) is the
// parent's before fork, give or take 8 MiB (the test exits 99 otherwise), and the report says
// ~2560 pages were pre-faulted, not 262144.
// ENV: FORKLEAK_PREFAULT=writable
// EXPECT-PROCS: 2
// EXPECT parent: leaked_blocks=0 prefault=null
// EXPECT child: leaked_blocks=0 prefault.mode=writable prefault.error=none prefault.pages>=2560 prefault.pages<=4608 memory.prefault.rss_kb>=10240 memory.prefault.rss_kb<65536
#include "fltest.h"

#include <sys/mman.h>

#define GiB (1ul << 30)
#define STRIDE (102 * 4096ul)
#define TOUCHED 2560

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    FL_REQUIRE(f != NULL);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    FL_REQUIRE(kb > 0);
    return kb;
}

int main(void)
{
    char *sparse = mmap(NULL, GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                        -1, 0);
    FL_REQUIRE(sparse != MAP_FAILED);
    FL_REQUIRE(madvise(sparse, GiB, MADV_NOHUGEPAGE) == 0);
    for (unsigned long i = 0; i < TOUCHED; i++)
        sparse[i * STRIDE] = 1;
    long before = rss_kb();
    FL_REQUIRE(before >= TOUCHED * 4);
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        long after = rss_kb();
        if (after > before + 8192) {
            fprintf(stderr, "child VmRSS %ld kB after pre-faulting, parent %ld kB before fork\n",
                    after, before);
            _exit(99);
        }
        exit(0);
    }
    int st = fl_wait(pid);
    munmap(sparse, GiB);
    return st;
}
