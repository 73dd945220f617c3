/* micro.c — micro-benchmarks of the shim's hot path (issue 8), run by `make bench-micro`:
 *   1. ns per stack capture by depth (4, 8, 16, 32 frames returned): libunwind's unw_backtrace
 *      against preload/unwind.c's fl_unwind, linked in; both must return the same frames.
 *   2. ns per malloc/free pair by stack depth: this program re-runs itself natively and with
 *      LD_PRELOAD=<each --shim>, and prints one table.
 * Built -O2 -fomit-frame-pointer, like the shared bench's churn: unwinding costs what it costs on
 * distro binaries. Each figure is the best of several timed rounds.
 *
 *   micro [--shim LABEL=PATH]... [--rounds N]      (default shim: build/lib/libforkleak.so)
 */
#define UNW_LOCAL_ONLY
#include <errno.h>
#include <libunwind.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define NOINLINE __attribute__((noinline))

static const int depths[] = {4, 8, 16, 32};
#define NDEPTHS ((int)(sizeof depths / sizeof depths[0]))
static int rounds = 7;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- 1. unwinding ---- */
typedef int (*bt_fn)(void **, int);
static bt_fn volatile unwinders[2] = {unw_backtrace, fl_unwind};
static volatile int sinkv;

/* Calls `levels` more frames, then runs body(arg) there. */
NOINLINE static double at_depth(int levels, double (*body)(void *), void *arg)
{
    if (levels > 0) {
        double r = at_depth(levels - 1, body, arg);
        sinkv++; /* not a tail call */
        return r;
    }
    return body(arg);
}

/* Frames unw_backtrace returns from the body when at_depth is entered with 0 levels. */
static int base_frames;

static double count_frames(void *arg)
{
    (void)arg;
    void *buf[256];
    return unw_backtrace(buf, 256);
}

struct unwind_job {
    int which, iters, want;
    int got;
};

static double time_unwind(void *arg)
{
    struct unwind_job *j = arg;
    void *buf[256];
    bt_fn f = unwinders[j->which];
    int n = 0;
    for (int i = 0; i < 1000; i++) /* warm both caches */
        n = f(buf, 256);
    double best = 1e30;
    for (int r = 0; r < rounds; r++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < j->iters; i++)
            n = f(buf, 256);
        double ns = (double)(now_ns() - t0) / j->iters;
        if (ns < best)
            best = ns;
    }
    j->got = n;
    return best;
}

static volatile int two = 2;

static int check_same(void *arg)
{
    (void)arg;
    void *bufs[2][256];
    int n[2];
    for (int i = 0; i < two; i++) { /* one call instruction for both: same return address */
        __asm__("" : "+r"(i)); /* opaque: gcc must not peel the loop into two calls */
        n[i] = unwinders[i](bufs[i], 256);
    }
    if (n[0] == n[1] && memcmp(bufs[0], bufs[1], (size_t)n[0] * sizeof bufs[0][0]) == 0)
        return 1;
    fprintf(stderr, "mismatch: unw_backtrace %d frames, fl_unwind %d\n", n[0], n[1]);
    for (int i = 0; i < n[0] || i < n[1]; i++)
        fprintf(stderr, "  %2d %p %p\n", i, i < n[0] ? bufs[0][i] : NULL, i < n[1] ? bufs[1][i] : NULL);
    return 0;
}

static double check_same_d(void *arg)
{
    return check_same(arg);
}

/* Consecutive captures from stacks of different depths (D-2 .. D+2, pseudo-random), as in the
 * shared bench's churn: the recursion's own cost is measured with a no-op and subtracted. */
static double one_capture(void *arg)
{
    void *buf[256];
    return ((bt_fn)arg)(buf, 256);
}

static int nop_fn(void **buf, int max)
{
    (void)buf;
    (void)max;
    return 0;
}

NOINLINE static double time_varying(bt_fn f, int levels, int iters)
{
    double best = 1e30;
    for (int r = 0; r < rounds; r++) {
        uint32_t x = 12345;
        uint64_t t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            x = x * 1664525u + 1013904223u;
            int l = levels - 2 + (int)((x >> 24) % 5);
            at_depth(l < 0 ? 0 : l, one_capture, (void *)f);
        }
        double ns = (double)(now_ns() - t0) / iters;
        if (ns < best)
            best = ns;
    }
    return best;
}

static int bench_unwind(void)
{
    base_frames = (int)at_depth(0, count_frames, NULL);
    printf("Stack capture, ns per call (best of %d rounds; -O2 -fomit-frame-pointer frames; "
           "varying depth: each call from D-2..D+2 frames, like churn)\n\n",
           rounds);
    printf("| frames | unw_backtrace | fl_unwind | unw ns/frame | fl ns/frame | speed-up | "
           "varying depth: unw | fl | speed-up |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    int bad = 0;
    for (int d = 0; d < NDEPTHS; d++) {
        int levels = depths[d] - base_frames;
        if (levels < 0)
            levels = 0;
        struct unwind_job ju = {0, 200000, depths[d], 0}, jf = {1, 200000, depths[d], 0};
        double tu = at_depth(levels, time_unwind, &ju);
        double tf = at_depth(levels, time_unwind, &jf);
        if (!at_depth(levels, check_same_d, NULL))
            bad = 1;
        if (ju.got != jf.got) {
            fprintf(stderr, "frame counts differ: %d %d\n", ju.got, jf.got);
            bad = 1;
        }
        for (int w = 0; w < 2000; w++)
            time_varying(unwinders[w & 1], levels, 1);
        double base = time_varying(nop_fn, levels, 100000);
        double vu = time_varying(unwinders[0], levels, 100000) - base;
        double vf = time_varying(unwinders[1], levels, 100000) - base;
        printf("| %d | %.1f | %.1f | %.2f | %.2f | %.1fx | %.1f | %.1f | %.1fx |\n", ju.got, tu, tf,
               tu / ju.got, tf / jf.got, tu / tf, vu, vf, vu / vf);
    }
    if (bad)
        printf("\nERROR: fl_unwind and unw_backtrace returned different frames\n");
    return bad;
}

/* ---- 2. malloc/free pairs (the child) ---- */
struct malloc_job {
    int iters;
};

static double time_malloc(void *arg)
{
    struct malloc_job *j = arg;
    for (int i = 0; i < 10000; i++) {
        void *volatile p = malloc(32);
        free(p);
    }
    double best = 1e30;
    for (int r = 0; r < rounds; r++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < j->iters; i++) {
            void *volatile p = malloc(32 + (i & 15));
            free(p);
        }
        double ns = (double)(now_ns() - t0) / j->iters;
        if (ns < best)
            best = ns;
    }
    return best;
}

static int malloc_child(void)
{
    base_frames = (int)at_depth(0, count_frames, NULL);
    for (int d = 0; d < NDEPTHS; d++) {
        int levels = depths[d] - base_frames;
        struct malloc_job j = {300000};
        double ns = at_depth(levels < 0 ? 0 : levels, time_malloc, &j);
        printf("%d %.2f\n", depths[d], ns);
    }
    return 0;
}

/* Runs `self --malloc-child` with LD_PRELOAD=lib (NULL: natively); reads its ns by depth. */
static int run_child(const char *self, const char *lib, double *ns)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    char dir[] = "/tmp/fl-micro-XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    char rounds_s[16];
    snprintf(rounds_s, sizeof rounds_s, "%d", rounds);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        if (lib) {
            setenv("LD_PRELOAD", lib, 1);
            setenv("FORKLEAK_DIR", dir, 1);
        } else {
            unsetenv("LD_PRELOAD");
        }
        execl(self, self, "--malloc-child", "--rounds", rounds_s, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    int depth, n = 0;
    double v;
    while (f && fscanf(f, "%d %lf", &depth, &v) == 2)
        for (int d = 0; d < NDEPTHS; d++)
            if (depths[d] == depth) {
                ns[d] = v;
                n++;
            }
    if (f)
        fclose(f);
    int status;
    waitpid(pid, &status, 0);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "micro: could not remove %s\n", dir);
    return (WIFEXITED(status) && WEXITSTATUS(status) == 0 && n == NDEPTHS) ? 0 : -1;
}

#define MAX_SHIMS 8
int main(int argc, char **argv)
{
    fl_unwind_thread_init(); /* as the shim does on a thread's first capture: fl_unwind replays */
    const char *labels[MAX_SHIMS], *paths[MAX_SHIMS];
    int nshims = 0;
    bool child = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--malloc-child"))
            child = true;
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shim") && i + 1 < argc && nshims < MAX_SHIMS) {
            char *spec = argv[++i], *eq = strchr(spec, '=');
            labels[nshims] = eq ? (*eq = 0, spec) : "shim";
            paths[nshims++] = eq ? eq + 1 : spec;
        } else {
            fprintf(stderr, "usage: micro [--shim LABEL=PATH]... [--rounds N]\n");
            return 2;
        }
    }
    if (child)
        return malloc_child();
    if (!nshims) {
        labels[nshims] = "forkleak";
        paths[nshims++] = "build/lib/libforkleak.so";
    }
    int bad = bench_unwind();

    double native[NDEPTHS], shim[MAX_SHIMS][NDEPTHS];
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return 1;
    self[len] = 0;
    printf("\nmalloc(32..47) + free, ns per pair (best of %d rounds; stack depth at the call)\n\n",
           rounds);
    if (run_child(self, NULL, native) != 0) {
        printf("ERROR: native run failed\n");
        return 1;
    }
    for (int s = 0; s < nshims; s++) {
        char abs[4096];
        const char *p = realpath(paths[s], abs) ? abs : paths[s];
        if (access(p, R_OK) != 0 || run_child(self, p, shim[s]) != 0) {
            printf("ERROR: run with LD_PRELOAD=%s failed\n", p);
            return 1;
        }
    }
    printf("| depth | native |");
    for (int s = 0; s < nshims; s++)
        printf(" %s | ratio |", labels[s]);
    printf("\n|---:|---:|");
    for (int s = 0; s < nshims; s++)
        printf("---:|---:|");
    printf("\n");
    for (int d = 0; d < NDEPTHS; d++) {
        printf("| %d | %.1f |", depths[d], native[d]);
        for (int s = 0; s < nshims; s++)
            printf(" %.1f | %.1fx |", shim[s][d], shim[s][d] / native[d]);
        printf("\n");
    }
    return bad;
}
