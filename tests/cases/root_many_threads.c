// Every live thread's stack is a root, with many threads: 48 threads, each holding one block in a
// volatile local, blocked in read() (half of them) or spinning (the other half) at exit.
// MODES: parent child
// CFLAGS: -pthread
// TIMEOUT: 120
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=0 reachable_bytes>=2112
// EXPECT-LEAK self: function=thread_main groups=0
#include "fltest.h"

#include <pthread.h>

#define N 48
static volatile int ready[N];
static volatile pid_t tids[N];
static int pipefd[2];

static FL_NOINLINE void *thread_main(void *arg)
{
    int i = (int)(intptr_t)arg;
    void *volatile p = malloc(44);
    tids[i] = gettid();
    fl_set_flag(&ready[i]);
    if (i % 2 == 0) {
        char c;
        (void)!read(pipefd[0], &c, 1);
    } else {
        for (;;)
            sched_yield();
    }
    (void)p;
    return NULL;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    FL_REQUIRE(pipe(pipefd) == 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 0; i < N; i++) {
        pthread_t t;
        FL_REQUIRE(pthread_create(&t, &attr, thread_main, (void *)(intptr_t)i) == 0);
    }
    for (int i = 0; i < N; i++) {
        fl_wait_flag(&ready[i]);
        if (i % 2 == 0)
            fl_wait_sleeping(tids[i]);
    }
    fl_control_leak();
    return 0;
}
