// The shim's own memory is never a root, though it holds every block's address (the block table,
// the exit-time snapshot) and thread start arguments (pthread_create's arg passes through it):
// 2000 dropped blocks and a dropped thread argument are all leaked. (The joined thread's DTV stays
// allocated in glibc's stack cache and is reachable: not asserted either way.)
// MODES: parent child
// CFLAGS: -pthread
// EXPECT self: direct_bytes=24044 direct_blocks=2001 indirect_blocks=0 orphan_blocks=0
// EXPECT-LEAK self: function=drop_many kind=direct bytes=24000 blocks=2000
// EXPECT-LEAK self: function=start_thread kind=direct bytes=44 blocks=1
#include "fltest.h"

#include <pthread.h>

static FL_NOINLINE void drop_many(void)
{
    for (int i = 0; i < 2000; i++) {
        void *volatile p = malloc(12);
        (void)p;
    }
}

static void *thread_main(void *arg)
{
    (void)arg;
    return NULL;
}

static FL_NOINLINE void start_thread(void)
{
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, thread_main, malloc(44)) == 0);
    FL_REQUIRE(pthread_join(t, NULL) == 0);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    drop_many();
    start_thread();
    return 0;
}
