// Another thread calls exit() while main runs with every signal blocked, so main cannot be stopped
// with the real-time signal and, running, has no stack pointer in /proc. In `unblock` main unblocks
// after ~30 ms and then waits in pthread_join: the check waits for that and stops it properly. In
// `spin` it never does: after 200 ms the check scans main's whole stack. Either way main's block
// (its frame is live) is reachable and only the exiting thread's dropped block leaks.
// MODES: unblock spin child-unblock child-spin
// CFLAGS: -pthread
// EXIT: 5
// EXPECT self: direct_bytes=44 direct_blocks=1 exit_status=5 reachable_bytes>=60
// EXPECT-LEAK self: function=drop kind=direct bytes=44 blocks=1
// EXPECT-LEAK self: function=main groups=0
#include "fltest.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

static volatile int spinning;

static FL_NOINLINE void drop(void)
{
    void *volatile p = malloc(44);
    (void)p;
}

static void *thread_main(void *arg)
{
    (void)arg;
    while (!spinning)
        ;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    drop();
    exit(5);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    void *volatile mine = malloc(60);
    sigset_t all, old;
    sigfillset(&all);
    FL_REQUIRE(pthread_sigmask(SIG_BLOCK, &all, &old) == 0);
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, thread_main, NULL) == 0);
    spinning = 1;
    double t0 = now();
    while (FL_VARIANT("spin") || now() - t0 < 0.03)
        ; /* running, every signal blocked */
    FL_REQUIRE(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);
    pthread_join(t, NULL);
    (void)mine;
    return 1;
}
