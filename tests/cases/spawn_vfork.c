// vfork children run unchanged and write no report of their own (they share the parent's memory
// until they exec or _exit): vfork + _exit(7), and vfork + exec of /bin/echo, whose new image is
// checked like any program. Output and statuses are those of the native run.
// COMPARE-NATIVE: yes
// STDOUT: vfork _exit status 7\nfrom echo\nvfork exec status 0\n
// EXPECT-PROCS: 2
// EXPECT parent: leaked_blocks=0 exit_status=0
// EXPECT exe echo: exit_kind=exit exit_status=0
#include "fltest.h"

int main(void)
{
    pid_t pid = vfork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0)
        _exit(7);
    int st = fl_wait(pid);
    printf("vfork _exit status %d\n", st);
    fflush(stdout);
    pid = vfork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        execl("/bin/echo", "echo", "from echo", (char *)NULL);
        _exit(127);
    }
    st = fl_wait(pid);
    printf("vfork exec status %d\n", st);
    return 0;
}
