// While the process has one thread, a free's record goes a few frees later (hooks.c). A free
// followed at once by _exit, by fork or by a thread leaves no record behind, in the process or in
// the child; an address the allocator hands back at once (glibc's tcache: last in, first out)
// carries its new size and stack, not the freed block's; a freed block whose address comes back
// in the child still counts as freed there.
// MODES: exit fork thread
// [exit,thread] EXPECT-PROCS: 1
// [exit] EXPECT self: leaked_blocks=1 leaked_bytes=40 reachable_blocks=1 reachable_bytes=24 exit_kind=_exit
// [exit,thread] EXPECT-LEAK self: function=second_site kind=direct bytes=40 blocks=1
// [thread] EXPECT self: leaked_blocks=1 leaked_bytes=40
// [fork] EXPECT-PROCS: 2
// [fork] EXPECT parent: leaked_blocks=1 leaked_bytes=40 reachable_blocks=2 reachable_bytes=64
// [fork] EXPECT-LEAK parent: function=second_site kind=direct bytes=40 blocks=1
// [fork] EXPECT child: leaked_blocks=2 leaked_bytes=80 reachable_blocks=1 reachable_bytes=24
// [fork] EXPECT-LEAK child: function=child_site kind=direct origin=own bytes=40 blocks=1
// [fork] EXPECT-LEAK child: function=second_site kind=direct origin=inherited bytes=40 blocks=1
// [fork] EXPECT-INHERITED child: function=second_site blocks=2 bytes=80 freed_blocks=1 freed_bytes=40 live_blocks=1
// [fork] EXPECT-INHERITED child: function=first_site groups=0
#include "fltest.h"

void *volatile g_keep, *volatile g_kept;
static void *volatile g_tmp[64];

static FL_NOINLINE void *first_site(size_t n)
{
    return malloc(n);
}

static FL_NOINLINE void *second_site(size_t n)
{
    return malloc(n);
}

static FL_NOINLINE void *child_site(size_t n)
{
    return malloc(n);
}

static void *idle(void *arg)
{
    return arg;
}

int main(int argc, char **argv)
{
    g_keep = malloc(24);
    for (int i = 0; i < 64; i++)
        g_tmp[i] = first_site(40);
    for (int i = 0; i < 64; i++) {
        free(g_tmp[i]);
        g_tmp[i] = NULL;
    }
    /* The last one freed comes back: a leak of second_site's, not a freed first_site block. */
    void *volatile leak = second_site(40);
    FL_ESCAPE(leak);
    leak = NULL;
    void *volatile kept = second_site(40); /* freed just before _exit, fork or the thread */
    free(kept);
    kept = NULL;
    if (FL_VARIANT("exit"))
        _exit(0);
    if (FL_VARIANT("thread")) {
        pthread_t t;
        FL_REQUIRE(pthread_create(&t, NULL, idle, NULL) == 0);
        FL_REQUIRE(pthread_join(t, NULL) == 0);
        return 0;
    }
    g_kept = second_site(40); /* inherited, freed in the child, where its address comes back */
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        free(g_kept);
        g_kept = NULL;
        void *volatile c = child_site(40);
        FL_ESCAPE(c);
        c = NULL;
        exit(0);
    }
    return fl_wait(pid);
}
