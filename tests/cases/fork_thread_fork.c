// Fork from a thread other than main while two other threads allocate and free. The child (whose
// only thread is the forking one) reports; blocks whose only pointers are on the stacks of threads
// that did not survive the fork are "orphan", not leaks: one held by a thread blocked in read(),
// and one held by the main thread (blocked in pthread_join) — main's stack is just a copy in a
// child forked from another thread. The allocating threads keep their blocks in globals: in the
// child at most one block per thread (one that was in a register at the fork) can be lost, so
// only a bound is checked for them. The parent frees everything and leaks nothing.
// CFLAGS: -pthread
// EXPECT-PROCS: 2
// EXPECT parent: leaked_blocks=0 orphan_blocks=0 nchildren=1
// EXPECT child: exit_kind=exit exit_status=0 indirect_blocks=0
// EXPECT-LEAK child: function=hold_in_thread kind=orphan origin=inherited from_pid=@parent bytes=70 blocks=1
// EXPECT-LEAK child: function=hold_in_main kind=orphan origin=inherited from_pid=@parent bytes=50 blocks=1
// EXPECT-LEAK child: function=fl_control_leak kind=direct origin=own bytes=7 blocks=1
// EXPECT-LEAK child: kind=direct function!=fl_control_leak function!=worker groups=0
// EXPECT-LEAK child: kind=direct function=worker blocks<=2
#include "fltest.h"

#include <pthread.h>

#define NWORKERS 2
#define SLOTS 32
static void *volatile slots[NWORKERS][SLOTS];
static volatile long iterations[NWORKERS];
static volatile int stop, holder_ready;
static volatile pid_t holder_tid;
static int pipefd[2];

static FL_NOINLINE void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    unsigned r = (unsigned)id * 2654435761u + 1;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        r = r * 1103515245u + 12345u;
        int i = (int)((r >> 8) % SLOTS);
        void *old = slots[id][i];
        slots[id][i] = NULL;
        free(old);
        slots[id][i] = malloc(16 + (r >> 20) % 500);
        if (++iterations[id] % 16 == 0)
            usleep(50); /* leave the CPU to the forking thread now and then */
    }
    return NULL;
}

static FL_NOINLINE void *hold_in_thread(void *arg)
{
    void *volatile p = malloc(70);
    holder_tid = gettid();
    fl_set_flag(&holder_ready);
    char c;
    (void)!read(pipefd[0], &c, 1); /* until main writes, after the child is gone */
    free(p);
    return arg;
}

static void *forker(void *arg)
{
    fl_wait_flag(&holder_ready);
    fl_wait_sleeping(holder_tid);
    for (int w = 0; w < NWORKERS; w++)
        while (__atomic_load_n(&iterations[w], __ATOMIC_RELAXED) < 1000)
            usleep(100);
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        fl_control_leak();
        exit(0);
    }
    return (void *)(intptr_t)fl_wait(pid);
}

static FL_NOINLINE int hold_in_main(void)
{
    void *volatile p = malloc(50);
    pthread_t w[NWORKERS], h, f;
    for (int i = 0; i < NWORKERS; i++)
        FL_REQUIRE(pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i) == 0);
    FL_REQUIRE(pthread_create(&h, NULL, hold_in_thread, NULL) == 0);
    FL_REQUIRE(pthread_create(&f, NULL, forker, NULL) == 0);
    void *status;
    pthread_join(f, &status);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < NWORKERS; i++)
        pthread_join(w[i], NULL);
    FL_REQUIRE(write(pipefd[1], "x", 1) == 1);
    pthread_join(h, NULL);
    for (int i = 0; i < NWORKERS; i++)
        for (int k = 0; k < SLOTS; k++)
            free(slots[i][k]);
    free(p);
    return (int)(intptr_t)status;
}

int main(void)
{
    FL_REQUIRE(pipe(pipefd) == 0);
    return hold_in_main();
}
