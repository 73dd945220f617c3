// fork + exec of `/bin/sh -c 'exit 3'`. The child's image writes a short "exec" record just before
// exec (no leak check, target /bin/sh). FORKLEAK_FOLLOW_EXEC=yes (the default): the shell keeps
// the shim and writes its own report, same pid, a new image (gen 0, exec_from the child) that
// exits with 3. =no: the shell runs without the shim and leaves no report; the tree must still
// show that the exec'd image of the child left no report. The parent sees status 3 in both.
// MODES: yes no
// [yes] ENV: FORKLEAK_FOLLOW_EXEC=yes
// [no] ENV: FORKLEAK_FOLLOW_EXEC=no
// STDOUT: status 3\n
// EXPECT parent: leaked_blocks=0 check=reachability nchildren=1 nchildren_noreport=0
// EXPECT child: exit_kind=exec exit.target=/bin/sh check=none pid=@child
// [yes] EXPECT-PROCS: 3
// [yes] EXPECT exe dash: gen=0 pid=@child ppid=@parent exit_kind=_exit exit_status=3 check=reachability leaked_blocks=0
// [yes] EXPECT-TREE: exec_from=child process="exe dash" parent=parent depth=1 has_report=true exit_status=3 nodes=1
// [no] EXPECT-PROCS: 2
// [no] EXPECT-PROCS exe dash: 0
// [no] EXPECT-TREE: exec_from=child has_report=false process=null nodes=1
// EXPECT-TREE: exec_from=null process=child parent=parent depth=1 exit_kind=exec nodes=1
#include "fltest.h"

int main(void)
{
    fflush(stdout);
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exit 3", (char *)NULL);
        _exit(127);
    }
    printf("status %d\n", fl_wait(pid));
    return 0;
}
