// Threads with small stacks run as they do natively. glibc carves a thread's static TLS out of
// the stack size the program asked for: the shim's per-thread state must not live there, or
// pthread_create fails on a PTHREAD_STACK_MIN stack and a thread that uses most of a 64 KiB
// stack overflows it. Each thread allocates at the bottom of its deepest frame, and with 40 KiB
// of a 64 KiB stack in use it leaks 33 bytes; every thread ends, and its capture caches are freed.
// MODES: parent child
// CFLAGS: -pthread
// COMPARE-NATIVE: yes
// STDOUT: min stack: created\nsmall stack: 40960 bytes used\nthreads: 64 done\n
// EXPECT self: direct_bytes=40 direct_blocks=2 indirect_blocks=0 orphan_blocks=0
// EXPECT-LEAK self: function=deep_leak kind=direct bytes=33 blocks=1
#include "fltest.h"

#include <limits.h>
#include <pthread.h>

static FL_NOINLINE void *deep_leak(size_t use)
{
    volatile char *buf = __builtin_alloca(use);
    memset((char *)buf, 1, use);
    void *volatile p = malloc(33); /* the thread's last pointer to it dies with the frame */
    FL_ESCAPE(p);
    free(malloc(200));
    return (void *)(uintptr_t)buf[use / 2];
}

static void *run(void *arg)
{
    size_t use = (size_t)(uintptr_t)arg;
    if (use)
        return deep_leak(use);
    free(malloc(24));
    return NULL;
}

static int start(size_t stack, size_t use)
{
    pthread_attr_t at;
    FL_REQUIRE(pthread_attr_init(&at) == 0);
    FL_REQUIRE(pthread_attr_setstacksize(&at, stack) == 0);
    pthread_t t;
    int rc = pthread_create(&t, &at, run, (void *)(uintptr_t)use);
    pthread_attr_destroy(&at);
    if (rc == 0)
        FL_REQUIRE(pthread_join(t, NULL) == 0);
    return rc;
}

static FL_NOINLINE void *many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 64; i++)
        FL_REQUIRE(start(PTHREAD_STACK_MIN, 0) == 0);
    return NULL;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    int rc = start(PTHREAD_STACK_MIN, 0);
    printf("min stack: %s\n", rc == 0 ? "created" : strerror(rc));
    rc = start(64 << 10, 40 << 10);
    printf("small stack: %s\n", rc == 0 ? "40960 bytes used" : strerror(rc));
    many(NULL);
    printf("threads: 64 done\n");
    fl_control_leak();
    return 0;
}
