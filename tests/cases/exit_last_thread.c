// The process ends when its last thread returns after main called pthread_exit(): the check still
// runs (exit kind "exit", status 0), on that last thread, finds the block it dropped and names
// the program (its exe, and its frames symbolized) although main, the thread group leader, is
// gone; the exited main thread is not waited for (no warning).
// MODES: parent child
// CFLAGS: -pthread
// EXPECT self: direct_bytes=44 direct_blocks=1 indirect_blocks=0 exit_kind=exit exit_status=0 exe=exit_last_thread
// EXPECT-LEAK self: function=drop kind=direct bytes=44 blocks=1
#include "fltest.h"

#include <pthread.h>

static FL_NOINLINE void drop(void)
{
    void *volatile p = malloc(44);
    (void)p;
}

static void *worker(void *arg)
{
    usleep(20000); /* main is gone by then */
    drop();
    return arg;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, worker, NULL) == 0);
    pthread_exit(NULL);
}
