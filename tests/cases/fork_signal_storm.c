// fork() while a timer signal fires every 50 us and its handler allocates, and three threads
// allocate and free: the forking thread holds the shim's gate closed and its locks taken, and a
// handler that allocated in that window waited for itself for ever (the process hung with every
// thread spinning). The shim now blocks signals on the forking thread for that window only. Each
// of the 60 children leaks 9 bytes; the parent leaks nothing.
// The program itself stays clear of malloc's own non-reentrancy: the signal goes to the main
// thread only (the others block it), which calls nothing but fork() while the timer runs.
// MODES: parent
// CFLAGS: -pthread
// STDOUT: ok 60 children\n
// EXPECT-PROCS: 61
// EXPECT parent: direct_blocks=0 indirect_blocks=0
// EXPECT child: direct_bytes=9 direct_blocks=1
// EXPECT-LEAK child: function=child_leak kind=direct bytes=9 blocks=1
#include "fltest.h"

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#define NCHILD 60

static volatile int stop;

static void on_alarm(int sig)
{
    (void)sig;
    void *volatile p = malloc(24);
    free(p);
}

static void *churn(void *arg)
{
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alrm, NULL);
    for (unsigned i = 0; !stop; i++) {
        void *volatile p = malloc(40 + (i & 63));
        free(p);
    }
    return arg;
}

static FL_NOINLINE void child_leak(void)
{
    void *volatile p = malloc(9);
    (void)p;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    FL_REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        FL_REQUIRE(pthread_create(&t[i], NULL, churn, NULL) == 0);
    struct itimerval it = {{0, 50}, {0, 50}};
    FL_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
    pid_t kids[NCHILD];
    for (int k = 0; k < NCHILD; k++) {
        kids[k] = fork();
        FL_REQUIRE(kids[k] >= 0);
        if (kids[k] == 0) {
            struct itimerval off = {{0, 0}, {0, 0}};
            setitimer(ITIMER_REAL, &off, NULL);
            child_leak();
            exit(0);
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    FL_REQUIRE(setitimer(ITIMER_REAL, &off, NULL) == 0);
    stop = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    int bad = 0;
    for (int k = 0; k < NCHILD; k++)
        bad += fl_wait(kids[k]) != 0;
    printf("ok %d children\n", NCHILD - bad);
    return 0;
}
