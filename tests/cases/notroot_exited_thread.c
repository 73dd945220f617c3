// The stack and the static TLS of a thread that has exited are not roots, although glibc keeps the
// memory (its stack cache): the thread left the only pointers in a volatile local (76 bytes) and
// in its __thread variable (92 bytes), then returned. Joined, or detached and gone.
// MODES: joined child-joined detached child-detached
// CFLAGS: -pthread
// EXPECT self: direct_bytes=168 direct_blocks=2 indirect_blocks=0 orphan_blocks=0
// EXPECT-LEAK self: function=thread_main kind=direct bytes=168 blocks=2
#include "fltest.h"

#include <dirent.h>
#include <pthread.h>

static __thread void *volatile tls_slot;

static FL_NOINLINE void *thread_main(void *arg)
{
    void *volatile p = malloc(76);
    tls_slot = malloc(92);
    (void)p;
    return arg;
}

static int ntasks(void)
{
    DIR *d = opendir("/proc/self/task");
    FL_REQUIRE(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, thread_main, NULL) == 0);
    if (FL_VARIANT("detached")) {
        pthread_detach(t);
        while (ntasks() > 1) /* until the thread is really gone */
            usleep(1000);
    } else {
        FL_REQUIRE(pthread_join(t, NULL) == 0);
    }
    return 0;
}
