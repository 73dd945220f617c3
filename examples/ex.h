/* ex.h — the few helpers the examples share (not an example itself): error exits, a `noinline`
 * marker for the functions that leak, and a one-line view of this process's memory from /proc.
 * Kept tiny on purpose, like TLPI's tlpi_hdr.h: each example should read on its own. */
#ifndef EX_H
#define EX_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB 1024UL
#define MiB (1024UL * 1024UL)

/* A function that leaks must stay a real function: once it has returned, its frame (and the
 * only copy of the pointer) is dead, so a leak checker finds nothing that points to the block.
 * Inlined into main, the pointer could linger in main's live frame and look reachable. */
#define NOINLINE __attribute__((noinline))

/* Print "what: strerror(errno)" and exit 1, as TLPI's errExit does. */
static inline void die(const char *what)
{
    perror(what);
    exit(1);
}

/* Reads one "Name:   123 kB" line of a /proc file; 0 if absent. */
static inline long proc_kb(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    char line[256];
    long v = 0;
    size_t n = strlen(name);
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* VSZ and RSS (what ps shows) and Private_Dirty (what this process alone has written: the part
 * of RSS that is really its own, not shared copy-on-write with a parent or child). */
static inline void show_mem(const char *label)
{
    printf("  %-34s VSZ %8ld KiB  RSS %7ld KiB  private dirty %7ld KiB\n", label,
           proc_kb("/proc/self/status", "VmSize"), proc_kb("/proc/self/status", "VmRSS"),
           proc_kb("/proc/self/smaps_rollup", "Private_Dirty"));
    fflush(stdout);
}

/* Waits for PID; returns its wait status (dies on error). */
static inline int wait_for(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    return status;
}

#endif
