// FORKLEAK_SIGNAL=SIGUSR2: a process that keeps running (a pre-fork server's worker never exits)
// gets a snapshot report on that signal: fl.P.T.s1.report, exit kind "snapshot", with the leaks
// made so far (100 bytes), and goes on: it leaks 200 more bytes, sees no child it did not make,
// and exits; its final report has both leaks, and the tool notes the superseded snapshot. In mode
// child-main the worker is a forked child (its snapshot judges copy-on-write from a copy of its
// page map taken before the sweeper is cloned).
// MODES: main child-main
// ENV: FORKLEAK_SIGNAL=SIGUSR2
// EXPECT-PROCS snapshot: 1
// EXPECT snapshot: exit_kind=snapshot exit_status=0 pid=@self direct_bytes=100 direct_blocks=1 indirect_blocks=0 check=reachability
// EXPECT-LEAK snapshot: function=leak_before_snapshot kind=direct origin=own bytes=100 blocks=1
// EXPECT-LEAK snapshot: function=leak_after_snapshot groups=0
// EXPECT self: exit_kind=exit exit_status=0 direct_bytes=300 direct_blocks=2 indirect_blocks=0 nnotes=1 check=reachability
// EXPECT-LEAK self: function=leak_before_snapshot kind=direct bytes=100 blocks=1
// EXPECT-LEAK self: function=leak_after_snapshot kind=direct bytes=200 blocks=1
// [child-main] EXPECT parent: leaked_blocks=0 nnotes=0
#include "fltest.h"

#include <dirent.h>
#include <signal.h>

static FL_NOINLINE void leak_before_snapshot(void)
{
    void *volatile p = malloc(100);
    (void)p;
}

static FL_NOINLINE void leak_after_snapshot(void)
{
    void *volatile p = malloc(200);
    (void)p;
}

/* Whether FORKLEAK_DIR holds this process's first snapshot, fl.<pid>.<start>.s1.report (the
 * sweeper writes it asynchronously, after the signal handler has returned). */
static int snapshot_written(void)
{
    const char *dir = getenv("FORKLEAK_DIR");
    char prefix[64];
    snprintf(prefix, sizeof prefix, "fl.%d.", (int)getpid());
    DIR *d = opendir(dir);
    FL_REQUIRE(d != NULL);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && n > 10 &&
            strcmp(e->d_name + n - 10, ".s1.report") == 0)
            found = 1;
    }
    closedir(d);
    return found;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    leak_before_snapshot();
    FL_REQUIRE(kill(getpid(), SIGUSR2) == 0);
    for (int i = 0; i < 20000 && !snapshot_written(); i++)
        usleep(1000);
    FL_REQUIRE(snapshot_written());
    FL_REQUIRE(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
    leak_after_snapshot();
    return 0;
}
