// A bad FORKLEAK_PREFAULT / FORKLEAK_PREFAULT_IN is fatal before main: exit status 2, no report,
// nothing from the program, one line on stderr naming the variable, the value and what is
// accepted. (FORKLEAK_PREFAULT=heapp is env_bad_value[prefault].)
// MODES: in-kid in-empty prefault-empty
// EXIT: 2
// STDOUT:
// EXPECT-PROCS: 0
// [in-kid] ENV: FORKLEAK_PREFAULT_IN=kid
// [in-kid] STDERR: forkleak: error: FORKLEAK_PREFAULT_IN='kid' is not one of child, ?parent, ?both[^\n]*\n
// [in-empty] ENV: FORKLEAK_PREFAULT=heap
// [in-empty] ENV: FORKLEAK_PREFAULT_IN=
// [in-empty] STDERR: forkleak: error: FORKLEAK_PREFAULT_IN='' is not one of child, ?parent, ?both[^\n]*\n
// [prefault-empty] ENV: FORKLEAK_PREFAULT=
// [prefault-empty] STDERR: forkleak: error: FORKLEAK_PREFAULT='' is not one of off, ?heap, ?writable[^\n]*\n
#include <stdio.h>

int main(void)
{
    printf("main ran\n");
    return 0;
}
