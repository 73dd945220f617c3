// A program that creates 40 pthread keys before its first malloc, then stores a block under key
// index 37 (in glibc's second-level array for keys 32..63, calloc'ed by pthread_setspecific on
// first use in each thread). The value must be reachable: nothing else here differs from
// root_tsd.c. (With the shim's unwinder creating its own key at the first tracked malloc, that
// key gets index 40 and the unwinder's pthread_setspecific callocs the second-level array inside
// the shim, untracked: the array is never scanned and the value looks leaked.)
// MODES: main child-main thread child-thread
// CFLAGS: -pthread
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=0
// EXPECT-LEAK self: function=fill groups=0
#include "fltest.h"

#include <pthread.h>

static pthread_key_t keys[40];
static volatile int ready;
static volatile pid_t thread_tid;
static int pipefd[2];

static FL_NOINLINE void fill(void)
{
    FL_REQUIRE(pthread_setspecific(keys[37], malloc(108)) == 0);
}

static void *thread_main(void *arg)
{
    (void)arg;
    fill();
    fl_scrub_stack();
    thread_tid = gettid();
    fl_set_flag(&ready);
    char c;
    (void)!read(pipefd[0], &c, 1);
    return NULL;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    for (int i = 0; i < 40; i++)
        FL_REQUIRE(pthread_key_create(&keys[i], NULL) == 0);
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
