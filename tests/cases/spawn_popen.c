// popen()/pclose() run unchanged: what the command writes comes through the pipe, and pclose
// returns its exit status (6).
// COMPARE-NATIVE: yes
// STDOUT: read: from popen\nstatus 6\n
// EXPECT-PROCS: 2
// EXPECT parent: leaked_blocks=0
#include "fltest.h"

int main(void)
{
    FILE *f = popen("echo from popen; exit 6", "r");
    FL_REQUIRE(f != NULL);
    char line[64] = "";
    FL_REQUIRE(fgets(line, sizeof line, f) != NULL);
    int st = pclose(f);
    FL_REQUIRE(st != -1 && WIFEXITED(st));
    printf("read: %s", line);
    printf("status %d\n", WEXITSTATUS(st));
    return 0;
}
