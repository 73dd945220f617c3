// 1100 live threads, more than the shim's 1024 per-thread gate slots: each allocates and frees in
// a loop (the threads without a slot share a counter, and must not look for a free slot on every
// malloc: that made such a program a thousand times slower), then keeps one block in a volatile
// local and waits. The exit check stops and scans every thread (it stopped at 1024 before, and
// the blocks of the others were reported leaked). In mode child, the process forks while the
// threads run: the child has one thread, and the 1100 blocks only the parent's other threads
// pointed to are orphans there.
// MODES: parent child
// CFLAGS: -pthread
// [parent] EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=0 reachable_blocks>=1100 nwarnings=0
// [child] EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=1100 nwarnings=0
// EXPECT-LEAK self: function=fl_control_leak kind=direct bytes=7 blocks=1
// [child] EXPECT-LEAK self: function=thread_main kind=orphan origin=inherited blocks=1100
#include "fltest.h"

#include <pthread.h>

#define NTHREADS 1100

static pthread_barrier_t started;

static void *thread_main(void *arg)
{
    void *volatile mine = malloc(24 + ((uintptr_t)arg & 7)); /* only this frame points to it */
    for (int i = 0; i < 2000; i++) {
        void *volatile p = malloc(16 + (i & 255));
        free(p);
    }
    pthread_barrier_wait(&started);
    for (;;)
        pause();
    (void)mine;
    return NULL;
}

int main(int argc, char **argv)
{
    int child = fl_in_child_mode(argc, argv);
    FL_REQUIRE(pthread_barrier_init(&started, NULL, NTHREADS + 1) == 0);
    pthread_attr_t at;
    FL_REQUIRE(pthread_attr_init(&at) == 0);
    FL_REQUIRE(pthread_attr_setstacksize(&at, 64 << 10) == 0);
    for (uintptr_t i = 0; i < NTHREADS; i++) {
        pthread_t t;
        FL_REQUIRE(pthread_create(&t, &at, thread_main, (void *)i) == 0);
    }
    pthread_barrier_wait(&started);
    if (child) {
        fflush(NULL);
        pid_t pid = fork();
        FL_REQUIRE(pid >= 0);
        if (pid > 0)
            _exit(fl_wait(pid)); /* the parent leaves no report of its own */
    }
    fl_control_leak();
    exit(0);
}
