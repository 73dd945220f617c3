/* mem.c — shim metadata per live block (issue 8: at most 40 bytes): the resident memory of a
 * process holding N live blocks, natively and under the shim, and the difference per block.
 * This program re-runs itself with and without LD_PRELOAD (like micro.c). The child allocates N
 * blocks of SIZE bytes (default 1 M of 32 bytes) from a few distinct call sites, 8..12 frames
 * deep, keeps them all live, and reports VmRSS; the parent prints both and
 * (RSS under the shim - RSS native) / N. Native RSS is subtracted, so the blocks themselves and
 * the allocator's own headers do not count; what remains is the table, the stack depot, the
 * unwinder's caches and the shim's fixed costs (spread over N).
 *
 *   mem [--shim LABEL=PATH]... [--blocks N] [--size BYTES]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static volatile unsigned long sink;

NOINLINE static void *alloc_at(int depth, size_t size)
{
    if (depth > 0) {
        void *p = alloc_at(depth - 1, size);
        sink++; /* not a tail call */
        return p;
    }
    return malloc(size);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int child(long n, size_t size)
{
    void **v = malloc((size_t)n * sizeof *v);
    if (!v)
        return 1;
    for (long i = 0; i < n; i++) {
        v[i] = alloc_at(8 + (int)(i % 5), size); /* five stacks */
        if (!v[i])
            return 1;
        memset(v[i], (int)i, size);
    }
    printf("%ld\n", rss_kb());
    fflush(stdout);
    for (long i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return 0;
}

/* Runs `self --child N SIZE` with LD_PRELOAD=lib (NULL: natively); returns its RSS in KiB. */
static long run_child(const char *self, const char *lib, long n, size_t size)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    char dir[] = "/tmp/fl-mem-XXXXXX";
    if (!mkdtemp(dir))
        return -1;
    char ns[32], ss[32];
    snprintf(ns, sizeof ns, "%ld", n);
    snprintf(ss, sizeof ss, "%zu", size);
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
        execl(self, self, "--child", ns, ss, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    long kb = -1;
    if (!f || fscanf(f, "%ld", &kb) != 1)
        kb = -1;
    if (f)
        fclose(f);
    int status;
    waitpid(pid, &status, 0);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "mem: could not remove %s\n", dir);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? kb : -1;
}

#define MAX_SHIMS 8
int main(int argc, char **argv)
{
    const char *labels[MAX_SHIMS], *paths[MAX_SHIMS];
    int nshims = 0;
    long n = 1 << 20;
    size_t size = 32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--child") && i + 2 < argc)
            return child(atol(argv[i + 1]), (size_t)atol(argv[i + 2]));
        if (!strcmp(argv[i], "--blocks") && i + 1 < argc)
            n = atol(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--shim") && i + 1 < argc && nshims < MAX_SHIMS) {
            char *spec = argv[++i], *eq = strchr(spec, '=');
            labels[nshims] = eq ? (*eq = 0, spec) : "shim";
            paths[nshims++] = eq ? eq + 1 : spec;
        } else {
            fprintf(stderr, "usage: mem [--shim LABEL=PATH]... [--blocks N] [--size BYTES]\n");
            return 2;
        }
    }
    if (n <= 0 || size == 0) {
        fprintf(stderr, "mem: --blocks and --size must be positive\n");
        return 2;
    }
    if (!nshims) {
        labels[nshims] = "forkleak";
        paths[nshims++] = "build/lib/libforkleak.so";
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return 1;
    self[len] = 0;
    long native = run_child(self, NULL, n, size);
    if (native < 0) {
        printf("ERROR: native run failed\n");
        return 1;
    }
    printf("%ld live blocks of %zu bytes (5 stacks, 9..13 frames); VmRSS after allocating\n\n", n,
           size);
    printf("| run | VmRSS KiB | shim bytes per live block |\n|---|---:|---:|\n");
    printf("| native | %ld | |\n", native);
    int bad = 0;
    for (int s = 0; s < nshims; s++) {
        char abs[4096];
        const char *p = realpath(paths[s], abs) ? abs : paths[s];
        long kb = access(p, R_OK) == 0 ? run_child(self, p, n, size) : -1;
        if (kb < 0) {
            printf("| %s | failed | |\n", labels[s]);
            bad = 1;
            continue;
        }
        printf("| %s | %ld | %.1f |\n", labels[s], kb, (double)(kb - native) * 1024.0 / (double)n);
    }
    return bad;
}
