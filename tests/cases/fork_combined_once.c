// A leak made before fork is one leak, not N+1: the parent leaks a block, then forks 3 children
// that inherit it and leak it too (none frees it). Each process reports it (the children as
// inherited from the parent), but the combined view lists it once, with the parent's bytes, as
// "leaked before fork in the parent, also present in 3 children"; the run's de-duplicated total
// is that block plus the children's own leaks (one each, merged into one entry of 3 blocks).
// EXPECT-PROCS: 4
// EXPECT-PROCS child: 3
// EXPECT parent: direct_blocks=1 direct_bytes=240 indirect_blocks=0 nchildren=3 nchildren_noreport=0
// EXPECT child: direct_blocks=2 direct_bytes=256 indirect_blocks=0
// EXPECT-LEAK child: function=leak_before_fork origin=inherited from_pid=@parent bytes=240 blocks=1
// EXPECT-LEAK child: function=leak_in_child origin=own bytes=16 blocks=1
// EXPECT-COMBINED: function=leak_before_fork kind=direct origin=own processes=parent process_count=1 inherited_by=child inherited_count=3 leaked_before_fork=true bytes=240 blocks=1 groups=1
// EXPECT-COMBINED: function=leak_in_child kind=direct origin=own processes=child process_count=3 inherited_count=0 leaked_before_fork=false bytes=48 blocks=3 groups=1
// EXPECT-COMBINED: groups=2 bytes=288 blocks=4
#include "fltest.h"

static FL_NOINLINE void leak_before_fork(void)
{
    void *volatile p = malloc(240);
    (void)p;
}

static FL_NOINLINE void leak_in_child(void)
{
    void *volatile p = malloc(16);
    (void)p;
}

int main(void)
{
    leak_before_fork();
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        FL_REQUIRE(pids[i] >= 0);
        if (pids[i] == 0) {
            leak_in_child();
            exit(0);
        }
    }
    int st = 0;
    for (int i = 0; i < 3; i++)
        st |= fl_wait(pids[i]);
    return st;
}
