// A signal handler ends the process with exit(3) or _exit(3) (a SIGTERM handler's usual job)
// while the main thread allocates and frees in a loop with a second thread alive: the signal
// usually lands inside one of the shim's hooks, often while it holds a table lock. The exit
// check used to wait for that lock, held by the very hook it had interrupted: about half of such
// processes hung. Now the check takes a lock its own thread holds as its own, and says in the
// report that the interrupted record may be inexact; the table is then read slot by slot, since
// its counts may be one off, and a record a cut-short removal left twice is kept once. 20
// children each end this way; each leaves a report with its exit status and no false leak (a
// second warning may say the idle thread, just created, did not stop in time).
// MODES: exit _exit
// CFLAGS: -pthread
// STDOUT: 20 children ended with status 3\n
// EXPECT-PROCS child: 20
// EXPECT child: exit_status=3 direct_blocks=0 indirect_blocks=0 nwarnings<=2
// [exit] EXPECT child: exit_kind=exit
// [_exit] EXPECT child: exit_kind=_exit
// EXPECT parent: direct_blocks=0
#include "fltest.h"

#define NCHILD 20

static int use_exit;

static void on_alarm(int sig)
{
    (void)sig;
    if (use_exit)
        exit(3);
    _exit(3);
}

static _Noreturn void child(int k)
{
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, fl_idle_thread, NULL) == 0);
    fl_alarm(on_alarm, 0, 20000 + 1373 * k, 0);
    for (unsigned i = 0;; i++) {
        void *volatile p = malloc(40 + (i & 63));
        free(p);
    }
}

int main(int argc, char **argv)
{
    use_exit = FL_VARIANT("exit");
    pid_t kids[NCHILD];
    for (int k = 0; k < NCHILD; k++) {
        fflush(NULL);
        kids[k] = fork();
        FL_REQUIRE(kids[k] >= 0);
        if (kids[k] == 0)
            child(k);
    }
    int ok = 0;
    for (int k = 0; k < NCHILD; k++)
        ok += fl_wait(kids[k]) == 3;
    printf("%d children ended with status 3\n", ok);
    return 0;
}
