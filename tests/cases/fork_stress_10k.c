// 10 000 forks from a 4-thread parent: the main thread forks and reaps one child at a time while
// three threads keep allocating and freeing (with a short sleep every few iterations, so that they
// cannot starve the forking thread on a small machine). Each child leaks one 32-byte block and
// _exit(0)s. No hang (the timeout kills a deadlock), 10 001 complete reports, the combined view
// merges the 10 000 children's leak into one entry, and `forkleak report` reads the whole run in
// under 2 s (of CPU). A few children may also report a worker's block as a direct leak: the only
// pointer to it was in the worker's registers at the fork (between malloc's return and the store),
// which no child can see — hence the bound. About 25 s alone: run with `make cases-slow`.
// SLOW: 10 000 forks, 25 s or more
// CFLAGS: -pthread
// TIMEOUT: 600
// REPORT-TIME: 2
// EXPECT-PROCS: 10001
// EXPECT-PROCS child: 10000
// EXPECT parent: leaked_blocks=0 exit_kind=exit exit_status=0 nchildren=10000 nchildren_noreport=0
// EXPECT child: exit_kind=_exit exit_status=0 indirect_blocks=0
// EXPECT-LEAK child: function=leak_in_child kind=direct origin=own bytes=32 blocks=1
// EXPECT-LEAK child: kind=direct function!=leak_in_child function!=worker groups=0
// EXPECT-LEAK child: kind=direct function=worker blocks<=3
// EXPECT-COMBINED: function=leak_in_child kind=direct origin=own process_count=10000 blocks=10000 bytes=320000 groups=1
#include "fltest.h"

#include <pthread.h>

#define NFORKS 10000
#define NWORKERS 3
#define SLOTS 64
static void *volatile slots[NWORKERS][SLOTS];
static volatile int stop;

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned r = (unsigned)id * 2654435761u + 1;
    for (unsigned long n = 1; !__atomic_load_n(&stop, __ATOMIC_RELAXED); n++) {
        r = r * 1103515245u + 12345u;
        int i = (int)((r >> 8) % SLOTS);
        void *old = slots[id][i];
        slots[id][i] = NULL;
        free(old);
        slots[id][i] = malloc(16 + (r >> 20) % 2000);
        if (n % 8 == 0)
            usleep(20);
    }
    return NULL;
}

static FL_NOINLINE void leak_in_child(void)
{
    void *volatile p = malloc(32);
    (void)p;
}

int main(void)
{
    pthread_t t[NWORKERS];
    for (int i = 0; i < NWORKERS; i++)
        FL_REQUIRE(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
    for (int n = 0; n < NFORKS; n++) {
        pid_t pid = fork();
        FL_REQUIRE(pid >= 0);
        if (pid == 0) {
            leak_in_child();
            _exit(0);
        }
        FL_REQUIRE(fl_wait(pid) == 0);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < NWORKERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < NWORKERS; i++)
        for (int k = 0; k < SLOTS; k++)
            free(slots[i][k]);
    return 0;
}
