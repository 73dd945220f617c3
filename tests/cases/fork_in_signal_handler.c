// A timer signal handler calls fork() (as crash reporters do) while the main thread allocates and
// frees in a loop, with a second thread alive, so the shim's hooks take their shard locks. A
// fork from a handler that interrupted a hook used to wait for the lock the interrupted hook
// held, for ever. Now such a child is not tracked: it warns once and leaves no report; a child
// forked outside the shim is tracked as usual. The parent leaks nothing.
// MODES: parent
// CFLAGS: -pthread
// STDOUT: ok forked\n
// STDERR: (forkleak: warning: fork\(\) from a signal handler that interrupted the shim; tracking stopped for this process\n)*
// EXPECT parent: direct_blocks=0 indirect_blocks=0 exit_status=0
#include "fltest.h"

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

static volatile int forks;

static void on_alarm(int sig)
{
    (void)sig;
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    if (p > 0) {
        forks++;
        fl_wait(p);
    }
}

int main(void)
{
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, fl_idle_thread, NULL) == 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    FL_REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
    struct itimerval it = {{0, 2000}, {0, 2000}};
    FL_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
    while (forks < 40) {
        for (unsigned i = 0; i < 1000; i++) {
            void *volatile p = malloc(40 + (i & 63));
            free(p);
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    FL_REQUIRE(setitimer(ITIMER_REAL, &off, NULL) == 0);
    printf("ok %s\n", forks > 0 ? "forked" : "none");
    return 0;
}
