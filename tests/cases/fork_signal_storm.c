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
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        FL_REQUIRE(pthread_create(&t[i], NULL, churn, NULL) == 0);
    fl_alarm(on_alarm, SA_RESTART, 50, 50);
    pid_t kids[NCHILD];
    for (int k = 0; k < NCHILD; k++) {
        kids[k] = fork();
        FL_REQUIRE(kids[k] >= 0);
        if (kids[k] == 0) {
            fl_alarm_off();
            child_leak();
            exit(0);
        }
    }
    fl_alarm_off();
    stop = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    int bad = 0;
    for (int k = 0; k < NCHILD; k++)
        bad += fl_wait(kids[k]) != 0;
    printf("ok %d children\n", NCHILD - bad);
    return 0;
}
