// pthread_setspecific values are roots, for keys below 32 (stored in struct pthread) and for keys
// of index 32 and up (stored in a second-level array that glibc callocs), in the main thread and
// in another live thread (blocked in read()).
// MODES: main child-main thread child-thread
// CFLAGS: -pthread
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=0 reachable_bytes>=200
// EXPECT-LEAK self: function=fill groups=0
#include "fltest.h"

#include <pthread.h>

static pthread_key_t keys[40];
static volatile int ready;
static volatile pid_t thread_tid;
static int pipefd[2];

static FL_NOINLINE void fill(void)
{
    FL_REQUIRE(pthread_setspecific(keys[3], malloc(92)) == 0);
    FL_REQUIRE(pthread_setspecific(keys[37], malloc(108)) == 0); /* index >= 32 */
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
    void *volatile first = malloc(16); /* as real programs do before creating keys (see */
    free(first);                       /* tsd_keys_before_first_malloc.c for why it matters) */
    for (int i = 0; i < 40; i++)
        FL_REQUIRE(pthread_key_create(&keys[i], NULL) == 0);
    FL_REQUIRE(keys[37] >= 32); /* glibc hands out keys in order from 0 */
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
