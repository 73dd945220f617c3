// Fork while other threads allocate: 4 threads malloc and free in a loop while the main thread
// forks 1000 times; each child mallocs, frees and _exit(0)s. Everything completes (no deadlock in
// the shim's locks across fork: a hang is killed by the timeout), 1001 reports. The parent stops
// the threads, frees everything and leaks nothing.
// CFLAGS: -pthread
// TIMEOUT: 240
// EXPECT-PROCS: 1001
// EXPECT-PROCS child: 1000
// EXPECT parent: leaked_blocks=0 exit_kind=exit exit_status=0
// EXPECT child: exit_kind=_exit exit_status=0
#include "fltest.h"

#include <pthread.h>
#include <sys/resource.h>

#define NTHREADS 4
#define SLOTS 64
static void *volatile slots[NTHREADS][SLOTS];
static volatile int stop;

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned r = (unsigned)id * 2654435761u + 1;
    /* Lower priority (Linux: per thread), so that on a small machine the forking thread and its
     * children are not starved by four spinning workers; they still allocate all along. */
    setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        r = r * 1103515245u + 12345u;
        int i = (int)((r >> 8) % SLOTS);
        void *old = slots[id][i];
        slots[id][i] = NULL;
        free(old);
        slots[id][i] = malloc(16 + (r >> 20) % 2000);
    }
    return NULL;
}

int main(void)
{
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        FL_REQUIRE(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
    for (int n = 0; n < 1000; n++) {
        pid_t pid = fork();
        FL_REQUIRE(pid >= 0);
        if (pid == 0) {
            void *volatile p = malloc(100);
            free(p);
            _exit(0);
        }
        FL_REQUIRE(fl_wait(pid) == 0);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < NTHREADS; i++)
        for (int k = 0; k < SLOTS; k++)
            free(slots[i][k]);
    return 0;
}
