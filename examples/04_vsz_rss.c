/* 04_vsz_rss.c — what a forked child really costs: VSZ and RSS before and after fork, and after
 * the child writes half of a buffer it inherited (seed 001, "VSZ vs RSS After fork()").
 *
 * The parent fills a 32 MiB buffer, then forks. Right after fork the child's VSZ equals the
 * parent's, and on Linux its RSS does too (anonymous pages are mapped in both processes), but
 * its private dirty memory is small: every page is still shared copy-on-write. The child then
 * writes the first 16 MiB: those pages are copied, and only they are the child's own cost.
 *
 *     forkleak run -- build/examples/04_vsz_rss
 *
 * forkleak shows, for the child: ~4096 pages copied and ~4096 still shared (cow), private dirty
 * up by ~16 MiB between fork and exit, and the copies attributed to the allocating stack
 * (load_table) in the memory table. */
#include "ex.h"

#define TABLE_SIZE (32 * MiB)

/* The parent's big, long-lived data: allocated and written once, before any fork. */
static NOINLINE char *load_table(size_t size)
{
    char *t = malloc(size);
    if (!t)
        die("malloc");
    memset(t, 'P', size); /* touch every page: now it is resident in the parent */
    return t;
}

int main(void)
{
    char *table = load_table(TABLE_SIZE);
    printf("parent %d:\n", (int)getpid());
    show_mem("after filling 32 MiB");

    pid_t pid = fork();
    if (pid == -1)
        die("fork");
    if (pid == 0) {
        printf("child %d:\n", (int)getpid());
        show_mem("right after fork");
        memset(table, 'C', TABLE_SIZE / 2); /* first half: 4096 pages, each copied on write */
        show_mem("after writing 16 MiB");
        _exit(0); /* the parent still maps the other half: it stays shared */
    }

    wait_for(pid);
    printf("parent %d:\n", (int)getpid());
    show_mem("after the child exited");
    printf("parent: table[0] is still '%c' here\n", table[0]);
    free(table);
    return 0;
}
