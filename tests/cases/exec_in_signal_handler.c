// A signal handler replaces the process with exec (execve is async-signal-safe; a supervisor
// that re-execs itself on SIGHUP does this) while the main thread allocates and frees in a loop
// with a second thread alive: the signal usually lands inside one of the shim's hooks. The exec
// must go through (here to /bin/sh, which exits 7) without waiting on anything the interrupted
// hook holds; then it writes no short exec report (when the signal lands outside a hook, it
// does). The exit status 7 is the shell's, which ran with the shim and reports no leak.
// MODES: parent
// CFLAGS: -pthread
// EXIT: 7
// EXPECT self: direct_blocks=0 indirect_blocks=0
#include "fltest.h"

static void on_alarm(int sig)
{
    (void)sig;
    execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
    _exit(99);
}

int main(void)
{
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, fl_idle_thread, NULL) == 0);
    fl_alarm(on_alarm, 0, 20000, 0);
    for (unsigned i = 0;; i++) {
        void *volatile p = malloc(40 + (i & 63));
        free(p);
    }
}
