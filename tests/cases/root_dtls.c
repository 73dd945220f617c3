// The dynamic TLS of a dlopen'ed library is a root: the main thread, or another live thread
// (blocked in read()), stores the only pointer in the library's __thread variable.
// MODES: main child-main thread child-thread
// SO: lib/dtls.c
// CFLAGS: -pthread -ldl
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=0 reachable_bytes>=124
// EXPECT-LEAK self: function=fill groups=0
#include "fltest.h"

#include <dlfcn.h>
#include <pthread.h>

static void (*dtls_set)(void *);
static volatile int ready;
static volatile pid_t thread_tid;
static int pipefd[2];

static FL_NOINLINE void fill(void)
{
    dtls_set(malloc(124));
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
    void *h = dlopen(FL_BUILD_DIR "/libdtls.so", RTLD_NOW);
    FL_REQUIRE(h != NULL);
    *(void **)&dtls_set = dlsym(h, "dtls_set");
    FL_REQUIRE(dtls_set != NULL);
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
