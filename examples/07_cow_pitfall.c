/* 07_cow_pitfall.c — the copy-on-write pitfall: fork succeeds cheaply, and the child pays for its
 * copies much later, one page fault at a time, when it finally writes what it inherited. If the
 * memory is gone by then, the failure hits at a random write instead of at fork (seed 002, "Fail
 * to fork?"; the author's remedy: pre-fault the data right after fork).
 *
 * The parent fills 64 MiB and forks. The child idles for a while (200 ms: it "serves"), then
 * rewrites the whole buffer, timing the first pass (every page a copy-on-write fault) and a
 * second pass (no faults left). Run it twice:
 *
 *     forkleak run -- build/examples/07_cow_pitfall
 *     forkleak run --prefault heap -- build/examples/07_cow_pitfall
 *
 * forkleak shows: without pre-faulting, the child copies ~16384 pages (64 MiB) long after fork;
 * its private dirty memory at start is tiny. With --prefault heap, the report's prefault record
 * says ~16384 pages were copied right after fork (and how many ms that took), the memory table
 * shows the child private at once (memory phase "prefault"), and the late write takes no faults:
 * the cost, and any ENOMEM, moved to fork time. (The seed's failure itself is not reproduced:
 * this program does not try to run the machine out of memory.) */
#include <sys/resource.h>
#include <time.h>

#include "ex.h"

#define DATA_SIZE (64 * MiB)

static char *data; /* the parent's data, inherited by the child */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* Rewrites every byte of the buffer; prints how long it took and how many page faults it cost. */
static void write_all(const char *label)
{
    long f0 = minor_faults();
    double t0 = now_ms();
    memset(data, 'c', DATA_SIZE);
    printf("  child: %-28s %7.1f ms, %6ld page faults\n", label, now_ms() - t0, minor_faults() - f0);
    fflush(stdout);
}

int main(void)
{
    data = malloc(DATA_SIZE);
    if (!data)
        die("malloc");
    memset(data, 'p', DATA_SIZE); /* resident in the parent: 16384 pages */

    fflush(stdout);
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == -1)
        die("fork"); /* with strict overcommit this is where a too-big fork fails, cleanly */
    if (pid == 0) {
        printf("  child: fork returned after      %7.1f ms\n", now_ms() - t0);
        show_mem("child right after fork");
        usleep(200 * 1000); /* long after fork... */
        write_all("first write of 64 MiB:");
        write_all("second write of 64 MiB:");
        show_mem("child after writing");
        _exit(0);
    }
    wait_for(pid);
    printf("parent: data[0] is still '%c'\n", data[0]);
    return 0;
}
