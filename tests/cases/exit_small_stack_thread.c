// A thread made with a PTHREAD_STACK_MIN (16 KiB) stack ends the process with exit(5) or
// _exit(5): the exit check (~18 KiB of stack) runs on a stack of the shim's own, and still scans
// that thread's live frames from where it called: the block in its volatile local is reachable,
// the one it dropped leaks, and main's (blocked in pthread_join) is reachable.
// MODES: exit _exit child-exit child-_exit
// CFLAGS: -pthread
// EXIT: 5
// EXPECT self: direct_bytes=44 direct_blocks=1 indirect_blocks=0 exit_status=5 reachable_bytes>=64080
// [exit,child-exit] EXPECT self: exit_kind=exit
// [_exit,child-_exit] EXPECT self: exit_kind=_exit
// EXPECT-LEAK self: function=drop kind=direct bytes=44 blocks=1
// EXPECT-LEAK self: function=thread_main groups=0
#include "fltest.h"

#include <limits.h>
#include <pthread.h>

static int use_exit;
static void *many[1000]; /* reachable: a heap of some size makes the check use more stack */

static FL_NOINLINE void drop(void)
{
    void *volatile p = malloc(44);
    (void)p;
}

static void *thread_main(void *arg)
{
    (void)arg;
    void *volatile kept = malloc(20); /* in this live frame when the process ends */
    drop();
    fflush(stdout);
    if (use_exit)
        exit(5);
    _exit(5);
    (void)kept;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    use_exit = FL_VARIANT("exit");
    for (int i = 0; i < 1000; i++)
        many[i] = malloc(64);
    FL_ESCAPE(many);
    void *volatile mine = malloc(60); /* main's frame is live: main is blocked in join */
    pthread_attr_t at;
    FL_REQUIRE(pthread_attr_init(&at) == 0);
    FL_REQUIRE(pthread_attr_setstacksize(&at, PTHREAD_STACK_MIN) == 0);
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, &at, thread_main, NULL) == 0);
    pthread_join(t, NULL);
    (void)mine;
    return 1;
}
