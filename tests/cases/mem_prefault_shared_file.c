// Pre-faulting never writes a MAP_SHARED mapping: that would dirty the file's pages and change its
// mtime. A 1 MiB file, written and fsync'ed, is mapped shared and read-write and read through (all
// pages resident and clean), then the program forks with FORKLEAK_PREFAULT=writable on both sides.
// After fork (in the child and in the parent) and after the child's exit, the file's mtime is what
// it was before fork and the mapping has no dirty page (smaps); the private regions were
// pre-faulted meanwhile. Any difference: exit 99.
// ENV: FORKLEAK_PREFAULT=writable
// ENV: FORKLEAK_PREFAULT_IN=both
// EXPECT-PROCS: 2
// EXPECT all: leaked_blocks=0 prefault.mode=writable prefault.error=none prefault.pages>0
#include "fltest.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#define SIZE (1u << 20)
static char *map;
static struct timespec mtime0;

static struct timespec mtime_now(void)
{
    struct stat st;
    FL_REQUIRE(stat("shared.dat", &st) == 0);
    return st.st_mtim;
}

/* Shared_Dirty + Private_Dirty of the mapping at MAP, in kB, from /proc/self/smaps. */
static long dirty_kb(void)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    FL_REQUIRE(f != NULL);
    char line[512];
    int in = 0;
    long kb = -1, v;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3) { /* a mapping's first line */
            in = (uintptr_t)map >= lo && (uintptr_t)map < hi;
            if (in)
                kb = 0;
            continue;
        }
        if (in && (sscanf(line, "Shared_Dirty: %ld kB", &v) == 1 ||
                   sscanf(line, "Private_Dirty: %ld kB", &v) == 1))
            kb += v;
    }
    fclose(f);
    FL_REQUIRE(kb >= 0); /* the mapping was found */
    return kb;
}

static void check(void)
{
    struct timespec t = mtime_now();
    FL_REQUIRE(t.tv_sec == mtime0.tv_sec && t.tv_nsec == mtime0.tv_nsec);
    FL_REQUIRE(dirty_kb() == 0);
}

int main(void)
{
    int fd = open("shared.dat", O_RDWR | O_CREAT | O_TRUNC, 0600);
    FL_REQUIRE(fd >= 0);
    static char buf[SIZE];
    memset(buf, 'a', sizeof buf);
    FL_REQUIRE(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf);
    FL_REQUIRE(fsync(fd) == 0);
    map = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    FL_REQUIRE(map != MAP_FAILED);
    unsigned sum = 0;
    for (size_t i = 0; i < SIZE; i += 4096)
        sum += ((volatile char *)map)[i];
    FL_REQUIRE(sum == 'a' * (SIZE / 4096));
    usleep(20000); /* a later write would get a later mtime, whatever the clock's granularity */
    mtime0 = mtime_now();
    FL_REQUIRE(dirty_kb() == 0);
    int go[2];
    FL_REQUIRE(pipe(go) == 0);
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        check();
        char c;
        FL_REQUIRE(read(go[0], &c, 1) == 1);
        exit(0);
    }
    check();
    FL_REQUIRE(write(go[1], "g", 1) == 1);
    int st = fl_wait(pid);
    check();
    munmap(map, SIZE);
    close(fd);
    return st;
}
