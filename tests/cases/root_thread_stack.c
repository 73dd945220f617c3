// Another live thread's stack is a root, whatever the thread is doing when the process exits:
// running (spinning), blocked on a mutex, blocked in read() on a pipe, in sigwait() with every
// signal blocked, or with every signal blocked while spinning or blocked in read(). The only
// pointer to the block is a volatile local in that thread's frame.
// MODES: spin child-spin mutex child-mutex read child-read sigwait child-sigwait sigblocked-spin child-sigblocked-spin sigblocked-read child-sigblocked-read
// CFLAGS: -pthread
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=0 reachable_bytes>=60
// EXPECT-LEAK self: function=thread_main groups=0
#include "fltest.h"

#include <pthread.h>
#include <signal.h>

static const char *variant;
static volatile int ready;
static volatile pid_t thread_tid;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static int pipefd[2];

static FL_NOINLINE void *thread_main(void *arg)
{
    void *volatile p = malloc(60);
    sigset_t set;
    if (strncmp(variant, "sigblocked", 10) == 0 || strcmp(variant, "sigwait") == 0) {
        sigfillset(&set);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
    }
    thread_tid = gettid();
    fl_set_flag(&ready);
    if (strcmp(variant, "mutex") == 0) {
        pthread_mutex_lock(&mutex); /* main holds it for good */
    } else if (strcmp(variant, "read") == 0 || strcmp(variant, "sigblocked-read") == 0) {
        char c;
        (void)!read(pipefd[0], &c, 1); /* nobody ever writes */
    } else if (strcmp(variant, "sigwait") == 0) {
        int sig;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigwait(&set, &sig);
    } else {
        for (;;)
            __asm__ volatile("pause");
    }
    (void)p;
    (void)arg;
    return NULL;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    variant = fl_variant(argc, argv);
    FL_REQUIRE(pipe(pipefd) == 0);
    pthread_mutex_lock(&mutex);
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, thread_main, NULL) == 0);
    fl_wait_flag(&ready);
    if (strstr(variant, "spin") == NULL)
        fl_wait_sleeping(thread_tid);
    fl_control_leak();
    return 0;
}
