// While the process has one thread, a new block's record is added a few allocations later
// (hooks.c). A block freed, or realloc'd elsewhere, before that never reaches the table and
// leaves no record behind; _exit and fork right after allocations add the pending records first;
// so does pthread_create, whose new thread may free them; and an exit from a signal handler that
// cut a hook short adds the records still pending to its check (20 children, each ended by a
// timer while it allocates: the 16 blocks it keeps are all found, whether the signal landed in a
// hook or between two).
// MODES: exit fork thread signal
// [exit,thread] EXPECT-PROCS: 1
// [exit] EXPECT self: leaked_blocks=4 leaked_bytes=4120 exit_kind=_exit
// [exit,fork] EXPECT-LEAK self: function=pending_site kind=direct bytes=120 blocks=3
// [exit,fork] EXPECT-LEAK self: function=grow_site kind=direct bytes=4000 blocks=1
// [thread] EXPECT self: leaked_blocks=3 leaked_bytes=4080
// [thread] EXPECT-LEAK self: function=pending_site kind=direct bytes=80 blocks=2
// [fork] EXPECT-PROCS: 2
// [fork] EXPECT parent: leaked_blocks=4 leaked_bytes=4120
// [fork] EXPECT child: leaked_blocks=4 leaked_bytes=4120
// [fork] EXPECT-LEAK child: function=pending_site kind=direct origin=inherited bytes=120 blocks=3
// [signal] STDOUT: 20 children ended with status 3\n
// [signal] EXPECT-PROCS child: 20
// [signal] EXPECT child: exit_status=3 reachable_blocks>=16 leaked_blocks<=1 nwarnings<=1
#include "fltest.h"

static void *volatile g_pending[3];

static FL_NOINLINE void *pending_site(size_t n)
{
    return malloc(n);
}

static FL_NOINLINE void *grow_site(void *p, size_t n)
{
    return realloc(p, n);
}

static void *free_one(void *arg)
{
    free(g_pending[1]); /* the main thread's, allocated just before this thread started */
    g_pending[1] = NULL;
    return arg;
}

/* ---- signal: a timer ends the process while it allocates and frees --------------------------- */
#define NCHILD 20
#define KEEP 16
static void *volatile g_keep[KEEP];

static void on_alarm(int sig)
{
    (void)sig;
    _exit(3);
}

static _Noreturn void child(int k)
{
    fl_alarm(on_alarm, 0, 20000 + 1373 * k, 0);
    for (unsigned i = 0;; i++) {
        void *p = malloc(40 + (i & 63));
        void *old = g_keep[i % KEEP];
        g_keep[i % KEEP] = p;
        free(old);
    }
}

int main(int argc, char **argv)
{
    if (FL_VARIANT("signal")) {
        printf("%d children ended with status 3\n", fl_fork_each(NCHILD, child, 3));
        return 0;
    }
    for (int i = 0; i < 3; i++)
        g_pending[i] = pending_site(40);
    free(malloc(24)); /* freed while pending: no record */
    void *volatile grown = grow_site(malloc(40), 4000); /* moved while pending: one record */
    FL_ESCAPE(grown);
    grown = NULL;
    for (int i = 0; i < 3; i++) {
        FL_ESCAPE(g_pending[i]);
        if (!FL_VARIANT("thread"))
            g_pending[i] = NULL;
    }
    if (FL_VARIANT("exit"))
        _exit(0);
    if (FL_VARIANT("thread")) {
        pthread_t t;
        FL_REQUIRE(pthread_create(&t, NULL, free_one, NULL) == 0);
        FL_REQUIRE(pthread_join(t, NULL) == 0);
        g_pending[0] = g_pending[2] = NULL;
        return 0;
    }
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0)
        exit(0);
    return fl_wait(pid);
}
