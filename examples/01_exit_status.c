/* 01_exit_status.c — keep a leaky function's damage out of the caller: run it in a forked child
 * and hand the result back through the exit status (seed 000, "Keeping the Parent's Memory Clean").
 *
 * The child calls leaky_sum(), which forgets to free the 1 KiB record it makes for each number,
 * and exits with the sum. The kernel frees everything when the child exits, so the parent stays
 * clean. But an exit status carries only 8 bits: sum(1..24) = 300 arrives as 300 & 0xff = 44.
 *
 *     forkleak run -- build/examples/01_exit_status
 *
 * forkleak shows: the child (exit 300) leaked 24 KiB in 24 blocks of its own (origin own,
 * allocated in leaky_sum); the parent leaked nothing. */
#include "ex.h"

#define RECORD_SIZE 1024

/* Stands for a third-party function we cannot fix: it sums 1..n and leaks one record per term. */
static NOINLINE int leaky_sum(int n)
{
    int sum = 0;
    for (int i = 1; i <= n; i++) {
        char *record = malloc(RECORD_SIZE); /* never freed: the leak */
        if (!record)
            die("malloc");
        snprintf(record, RECORD_SIZE, "term %d", i);
        sum += i;
    }
    return sum;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 24;

    printf("parent %d: running leaky_sum(%d) in a child\n", (int)getpid(), n);
    fflush(stdout); /* or the child would print the buffered line again */

    pid_t pid = fork();
    if (pid == -1)
        die("fork");
    if (pid == 0) {
        int sum = leaky_sum(n);
        printf("child  %d: leaky_sum(%d) = %d, exit(%d)\n", (int)getpid(), n, sum, sum);
        exit(sum); /* the kernel reclaims the leaked records; only the low 8 bits get out */
    }

    int status = wait_for(pid);
    if (!WIFEXITED(status)) {
        fprintf(stderr, "child did not exit normally\n");
        return 1;
    }
    printf("parent %d: WEXITSTATUS = %d   (the child said %d; %d & 0xff = %d)\n", (int)getpid(),
           WEXITSTATUS(status), n * (n + 1) / 2, n * (n + 1) / 2, (n * (n + 1) / 2) & 0xff);
    printf("parent %d: my heap never saw the leak\n", (int)getpid());
    return 0;
}
