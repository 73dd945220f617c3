// In another live thread too, a stale pointer in a dead frame below its stack pointer is not a
// root: the thread's deep_stash() leaves the only copy 16 KiB below, returns, and the thread then
// blocks in read() (spinning, in the `spin` variants) while the process exits.
// MODES: read child-read spin child-spin
// CFLAGS: -pthread
// EXPECT self: direct_bytes=60 direct_blocks=1 indirect_blocks=0 orphan_blocks=0
// EXPECT-LEAK self: function=deep_stash kind=direct bytes=60 blocks=1
#include "fltest.h"

#include <pthread.h>

static const char *variant;
static volatile int ready;
static volatile pid_t thread_tid;
static int pipefd[2];

static FL_NOINLINE void deep_stash(void)
{
    volatile char pad[16384];
    void *volatile p = malloc(60);
    pad[0] = 0;
    (void)pad[0];
    (void)p;
}

static void *thread_main(void *arg)
{
    deep_stash();
    thread_tid = gettid();
    fl_set_flag(&ready);
    if (strcmp(variant, "read") == 0) {
        char c;
        (void)!read(pipefd[0], &c, 1);
    } else {
        for (;;)
            __asm__ volatile("pause");
    }
    return arg;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    variant = fl_variant(argc, argv);
    FL_REQUIRE(pipe(pipefd) == 0);
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, thread_main, NULL) == 0);
    fl_wait_flag(&ready);
    if (strcmp(variant, "read") == 0)
        fl_wait_sleeping(thread_tid);
    return 0;
}
