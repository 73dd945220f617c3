// An unknown FORKLEAK_* name only warns (one line naming it); the program runs and reports.
// ENV: FORKLEAK_FOO=1
// STDERR: forkleak: warning: [^\n]*FORKLEAK_FOO[^\n]*\n
// STDOUT: main ran\n
// EXPECT-PROCS: 1
// EXPECT parent: leaked_blocks=0
#include <stdio.h>

int main(void)
{
    printf("main ran\n");
    return 0;
}
