/* 05_overcommit.c — a large allocation costs nothing until it is touched (seed 001, "Linux Memory
 * Overcommit"). malloc(1 GiB) only reserves address space: VSZ grows by 1 GiB, RSS does not move.
 * Physical pages arrive one by one as they are first written. This is also why fork is cheap.
 *
 * The parent allocates 1 GiB and touches none of it, then forks; the child writes 8 MiB of it.
 * The buffer stays allocated (and reachable, from a global) until exit, so that the figures
 * forkleak takes at exit include it; nothing leaks.
 *
 *     forkleak run -- build/examples/05_overcommit
 *
 * forkleak shows: the parent's VSZ at exit is 1 GiB more than at start while its RSS grew by
 * a few hundred KiB; the child starts with that 1 GiB VSZ and a small RSS, and exits with RSS
 * and private dirty up by the 8 MiB it wrote — fresh zero pages, nothing shared with the parent,
 * so its cow figures count no shared page. */
#include "ex.h"

#define BIG (1024 * MiB)
#define TOUCH (8 * MiB)

static char *big; /* a global: still reachable when the process exits */

int main(void)
{
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = -1;
    if (f) {
        if (fscanf(f, "%d", &mode) != 1)
            mode = -1;
        fclose(f);
    }
    printf("vm.overcommit_memory = %d (0 heuristic, 1 always, 2 strict)\n", mode);

    printf("parent %d:\n", (int)getpid());
    show_mem("before malloc(1 GiB)");
    big = malloc(BIG);
    if (!big) {
        printf("malloc(1 GiB) failed: no overcommit here (mode 2, or ulimit -v)\n");
        return 0;
    }
    show_mem("after malloc(1 GiB), untouched");

    fflush(stdout);
    pid_t pid = fork();
    if (pid == -1)
        die("fork");
    if (pid == 0) {
        printf("child %d:\n", (int)getpid());
        show_mem("right after fork");
        memset(big + BIG / 2, 1, TOUCH); /* 2048 pages in the middle, first touched here */
        show_mem("after writing 8 MiB of it");
        _exit(0);
    }
    wait_for(pid);
    printf("parent %d:\n", (int)getpid());
    show_mem("after the child exited");
    return 0;
}
