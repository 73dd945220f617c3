// Leaks are per process and carry their origin: the child reports the parent's dropped block as
// inherited (from the parent, generation 0) and its own as own; the parent reports only its own.
// A block the parent keeps in a global is reachable in both.
// EXPECT-PROCS: 2
// EXPECT parent: direct_bytes=44 direct_blocks=1 indirect_blocks=0 reachable_blocks=1 reachable_bytes=12
// EXPECT-LEAK parent: function=leak_before_fork kind=direct origin=own bytes=44 blocks=1
// EXPECT child: direct_bytes=104 direct_blocks=2 indirect_blocks=0 reachable_blocks=1 reachable_bytes=12
// EXPECT-LEAK child: function=leak_before_fork kind=direct origin=inherited from_gen=0 bytes=44 blocks=1
// EXPECT-LEAK child: function=leak_in_child kind=direct origin=own bytes=60 blocks=1
#include "fltest.h"

void *volatile g_kept;

static FL_NOINLINE void leak_before_fork(void)
{
    void *volatile p = malloc(44);
    (void)p;
}

static FL_NOINLINE void leak_in_child(void)
{
    void *volatile p = malloc(60);
    (void)p;
}

int main(void)
{
    g_kept = malloc(12);
    leak_before_fork();
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        leak_in_child();
        exit(0);
    }
    return fl_wait(pid);
}
