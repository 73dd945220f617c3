/* 02_pipe_result.c — the same isolation as 01, for a result that does not fit in 8 bits: the
 * child writes it into a pipe created before fork (seed 000, "Returning Large Results via a Pipe").
 *
 * leaky_stats() stands for library code that builds a 1 MiB histogram and a small label per 1000
 * terms, and frees none of them. The child sends back a struct (sum and count of squares, which no exit
 * status could carry), then exits; the kernel reclaims what it leaked.
 *
 *     forkleak run -- build/examples/02_pipe_result
 *
 * forkleak shows: the child's own leaks, 1 MiB in 1 block (the histogram) and 100 x 64 bytes
 * (the labels), both allocated in leaky_stats; the parent leaked nothing. */
#include "ex.h"

#define HIST_SIZE (1 * MiB)
#define LABEL_SIZE 64

struct result {
    long long sum_of_squares;
    long count;
};

/* Library code we cannot fix: computes 1^2 + ... + n^2 and leaks all its working memory. */
static NOINLINE struct result leaky_stats(long n)
{
    struct result r = {0, 0};
    unsigned char *hist = calloc(1, HIST_SIZE); /* never freed */
    if (!hist)
        die("calloc");
    for (long i = 1; i <= n; i++) {
        r.sum_of_squares += (long long)i * i;
        r.count++;
        hist[(i * i) % HIST_SIZE]++;
        if (i % 1000 == 0) {
            char *label = malloc(LABEL_SIZE); /* one per 1000 terms, never freed either */
            if (!label)
                die("malloc");
            snprintf(label, LABEL_SIZE, "checkpoint at %ld", i);
        }
    }
    return r;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int fds[2];

    if (pipe(fds) == -1) /* before fork: both processes get both ends */
        die("pipe");
    fflush(stdout);

    pid_t pid = fork();
    if (pid == -1)
        die("fork");
    if (pid == 0) {
        close(fds[0]); /* the child only writes */
        struct result r = leaky_stats(n);
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r)
            die("write");
        _exit(0); /* the result went through the pipe; the status only says "done" */
    }

    close(fds[1]); /* the parent only reads; it sees EOF if the child dies early */
    struct result r;
    ssize_t got = read(fds[0], &r, sizeof r);
    close(fds[0]);
    int status = wait_for(pid);
    if (got != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child failed (read %zd bytes)\n", got);
        return 1;
    }
    printf("parent: sum of squares 1..%ld = %lld over %ld terms, via the pipe\n", n,
           r.sum_of_squares, r.count);
    printf("parent: through an exit status it would have been %lld\n", r.sum_of_squares & 0xff);
    return 0;
}
