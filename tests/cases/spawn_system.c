// system() runs unchanged: the shell's output, and its exit status (5) as system() returns it.
// COMPARE-NATIVE: yes
// STDOUT: from system\nstatus 5\n
// EXPECT-PROCS: 2
// EXPECT parent: leaked_blocks=0
#include "fltest.h"

int main(void)
{
    fflush(stdout);
    int st = system("echo from system; exit 5");
    FL_REQUIRE(st != -1 && WIFEXITED(st));
    printf("status %d\n", WEXITSTATUS(st));
    return 0;
}
