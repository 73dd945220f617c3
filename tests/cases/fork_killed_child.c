// A child killed by SIGKILL leaves no report, but it is not forgotten: the parent's report lists it
// among its children (has_report false) and the tree shows it under the parent, marked as having no
// report; a sibling that exits normally is listed with its report.
// EXPECT-PROCS: 2
// EXPECT-PROCS child: 1
// EXPECT parent: leaked_blocks=0 nchildren=2 nchildren_noreport=1
// EXPECT-TREE: has_report=false parent=parent depth=1 process=null exit_kind=null nodes=1
// EXPECT-TREE: has_report=true parent=parent depth=1 process=child nodes=1
// EXPECT-TREE: nodes=3
#include "fltest.h"

#include <signal.h>

int main(void)
{
    int ready[2];
    FL_REQUIRE(pipe(ready) == 0);
    pid_t victim = fork();
    FL_REQUIRE(victim >= 0);
    if (victim == 0) {
        FL_REQUIRE(write(ready[1], "r", 1) == 1);
        for (;;)
            pause(); /* until SIGKILL */
    }
    char c;
    FL_REQUIRE(read(ready[0], &c, 1) == 1);
    pid_t sibling = fork();
    FL_REQUIRE(sibling >= 0);
    if (sibling == 0)
        exit(0);
    FL_REQUIRE(fl_wait(sibling) == 0);
    FL_REQUIRE(kill(victim, SIGKILL) == 0);
    FL_REQUIRE(fl_wait(victim) == 128 + SIGKILL);
    return 0;
}
