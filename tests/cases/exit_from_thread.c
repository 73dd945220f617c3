// A thread other than main calls exit(5) while main is blocked in pthread_join: the check runs on
// that thread; its own dropped block leaks, and main (now "another live thread") keeps its block
// reachable from its stack. The status is the program's.
// MODES: parent child
// CFLAGS: -pthread
// EXIT: 5
// EXPECT self: direct_bytes=44 direct_blocks=1 indirect_blocks=0 exit_kind=exit exit_status=5 reachable_bytes>=60
// EXPECT-LEAK self: function=drop kind=direct bytes=44 blocks=1
// EXPECT-LEAK self: function=main groups=0
#include "fltest.h"

#include <pthread.h>

static FL_NOINLINE void drop(void)
{
    void *volatile p = malloc(44);
    (void)p;
}

static void *thread_main(void *arg)
{
    (void)arg;
    drop();
    exit(5);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    void *volatile mine = malloc(60); /* main's frame is live: main is blocked in join */
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, thread_main, NULL) == 0);
    pthread_join(t, NULL);
    (void)mine;
    return 1;
}
