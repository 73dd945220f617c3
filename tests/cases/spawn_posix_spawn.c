// posix_spawn (a CLONE_VM child inside glibc) runs unchanged: the spawned shell prints and exits
// with 3; output and status as in the native run; the shell, loaded with the shim, reports too.
// COMPARE-NATIVE: yes
// STDOUT: spawned\nstatus 3\n
// EXPECT-PROCS: 2
// EXPECT parent: leaked_blocks=0
// EXPECT exe dash: exit_status=3
#include "fltest.h"

#include <spawn.h>

extern char **environ;

int main(void)
{
    pid_t pid;
    char *argv[] = {"sh", "-c", "echo spawned; exit 3", NULL};
    FL_REQUIRE(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) == 0);
    printf("status %d\n", fl_wait(pid));
    return 0;
}
