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
    fl_alarm(on_alarm, SA_RESTART, 2000, 2000);
    while (forks < 40) {
        for (unsigned i = 0; i < 1000; i++) {
            void *volatile p = malloc(40 + (i & 63));
            free(p);
        }
    }
    fl_alarm_off();
    printf("ok %s\n", forks > 0 ? "forked" : "none");
    return 0;
}
