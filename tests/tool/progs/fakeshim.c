/* fakeshim.c — a stand-in for libforkleak.so in the tool's `forkleak run` tests (the real shim
 * is tested by tests/cases). When the process ends it writes one report, format version 1, into
 * $FORKLEAK_DIR the way the real shim does (temporary dotfile, then rename); its config record
 * echoes the FORKLEAK_* variables and LD_PRELOAD it saw, and FAKESHIM_LEAK=N adds one direct leak
 * of N bytes, FAKESHIM_CORRUPT=1 spoils the record count. It tracks nothing. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned long long start_ns;

static unsigned long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

__attribute__((constructor)) static void fake_init(void)
{
    start_ns = now_ns();
}

/* Percent-escapes a string as docs/report-format.md requires. */
static void put_escaped(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c > 0x20 && c < 0x7f && c != '%' && c != '=')
            fputc(c, f);
        else
            fprintf(f, "%%%02X", c);
    }
}

__attribute__((destructor)) static void fake_fini(void)
{
    static const char *const vars[] = {"DEPTH",         "PREFAULT",  "PREFAULT_IN",
                                       "FOLLOW_EXEC",   "INHERITED", "SCAN_MAPPINGS",
                                       "REACHABLE",     "CHECK_THREADS", "SIGNAL"};
    const char *dir = getenv("FORKLEAK_DIR");
    if (!dir)
        return;
    char tmp[4096], final[4096], exe[4096], cmdline[8192];
    int pid = getpid();
    snprintf(tmp, sizeof tmp, "%s/.fl.%d.%llu.tmp", dir, pid, start_ns);
    snprintf(final, sizeof final, "%s/fl.%d.%llu.report", dir, pid, start_ns);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "w");
    int records = 0;
    fprintf(f, "forkleak-report 1\n");
    fprintf(f, "process pid=%d ppid=%d gen=0 start_ns=%llu end_ns=%llu tid=%d\n", pid, getppid(),
            start_ns, now_ns(), pid);
    records++;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    fputs("exe path=", f);
    put_escaped(f, exe, strlen(exe));
    fputc('\n', f);
    records++;
    int cfd = open("/proc/self/cmdline", O_RDONLY);
    n = cfd >= 0 ? read(cfd, cmdline, sizeof cmdline) : 0;
    if (cfd >= 0)
        close(cfd);
    fputs("argv", f);
    for (ssize_t i = 0; i < n;) {
        size_t len = strnlen(cmdline + i, (size_t)(n - i));
        fputc(' ', f);
        put_escaped(f, cmdline + i, len);
        i += (ssize_t)len + 1;
    }
    fputc('\n', f);
    records++;
    fprintf(f, "exit kind=exit status=0\n");
    records++;
    fputs("config", f);
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "FORKLEAK_%s", vars[i]);
        const char *v = getenv(name);
        if (!v)
            continue;
        fputc(' ', f);
        for (const char *c = vars[i]; *c; c++)
            fputc(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c, f);
        fputc('=', f);
        put_escaped(f, v, strlen(v));
    }
    const char *pre = getenv("LD_PRELOAD");
    if (pre) {
        fputs(" ld_preload=", f);
        put_escaped(f, pre, strlen(pre));
    }
    fputc('\n', f);
    records++;
    const char *leak = getenv("FAKESHIM_LEAK");
    unsigned long long bytes = leak ? strtoull(leak, NULL, 10) : 0;
    if (bytes) {
        fputs("module id=0 base=0x0 lo=0x1000 hi=0x6000 buildid=- path=", f);
        put_escaped(f, exe, strlen(exe));
        fputc('\n', f);
        fprintf(f, "stack id=1 0x1234 0x5678\n");
        fprintf(f, "group kind=direct origin=own stack=1 blocks=1 bytes=%llu\n", bytes);
        records += 3;
    }
    fprintf(f,
            "summary check=reachability direct_blocks=%d direct_bytes=%llu indirect_blocks=0 "
            "indirect_bytes=0\n",
            bytes ? 1 : 0, bytes);
    records++;
    /* FAKESHIM_CORRUPT=1: a wrong record count, as a damaged report would have. */
    fprintf(f, "end records=%d\n", getenv("FAKESHIM_CORRUPT") ? records + 1 : records);
    if (fclose(f) == 0)
        rename(tmp, final);
}
