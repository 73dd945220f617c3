// Orphaned by fork: a thread holds the only pointer to a block on its stack; the main thread
// forks. In the parent the thread lives on (reachable); in the child the thread did not survive,
// so the block is reachable only from its copied stack: "orphan", not a leak and not reachable.
// CFLAGS: -pthread
// EXPECT-PROCS: 2
// EXPECT parent: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=0
// EXPECT child: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=1 orphan_bytes=60
// EXPECT-LEAK child: function=thread_main kind=orphan origin=inherited bytes=60 blocks=1
#include "fltest.h"

#include <pthread.h>

static volatile int ready;
static volatile pid_t thread_tid;
static int pipefd[2];

static FL_NOINLINE void *thread_main(void *arg)
{
    void *volatile p = malloc(60);
    thread_tid = gettid();
    fl_set_flag(&ready);
    char c;
    (void)!read(pipefd[0], &c, 1);
    (void)p;
    return arg;
}

int main(void)
{
    FL_REQUIRE(pipe(pipefd) == 0);
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, thread_main, NULL) == 0);
    fl_wait_flag(&ready);
    fl_wait_sleeping(thread_tid);
    fl_control_leak();
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0)
        exit(0);
    return fl_wait(pid);
}
