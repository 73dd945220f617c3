// Static TLS (__thread) is a root: of the main thread (whose TLS block ld.so allocates outside the
// stack), and of another live thread (blocked in read(), its own stack scrubbed of stale copies).
// MODES: main child-main thread child-thread
// CFLAGS: -pthread
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=0 reachable_bytes>=76
// EXPECT-LEAK self: function=fill groups=0
#include "fltest.h"

#include <pthread.h>

static __thread void *volatile tls_slot;
static volatile int ready;
static volatile pid_t thread_tid;
static int pipefd[2];

static FL_NOINLINE void fill(void)
{
    tls_slot = malloc(76);
}

static void *thread_main(void *arg)
{
    (void)arg;
    fill();
    fl_scrub_stack();
    thread_tid = gettid();
    fl_set_flag(&ready);
    char c;
    (void)!read(pipefd[0], &c, 1); /* blocks for good */
    return NULL;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    FL_REQUIRE(pipe(pipefd) == 0);
    if (FL_VARIANT("thread")) {
        pthread_t t;
        FL_REQUIRE(pthread_create(&t, NULL, thread_main, NULL) == 0);
        fl_wait_flag(&ready);
        fl_wait_sleeping(thread_tid);
    } else {
        fill();
    }
    fl_control_leak();
    return 0;
}
