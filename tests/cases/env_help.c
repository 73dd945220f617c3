// FORKLEAK_HELP=1 prints the table of variables on stderr (each with its default and accepted
// values) and the program goes on as usual.
// ENV: FORKLEAK_HELP=1
// STDOUT: main ran\n
// STDERR: forkleak: FORKLEAK_\* variables[^\n]*\n(  FORKLEAK_[A-Z_]+  default '[^'\n]*'  \[[^\]\n]*\]\n      [^\n]+\n)+
// STDERR-HAS: FORKLEAK_DIR .*\n.*\n  FORKLEAK_DEPTH
// STDERR-HAS: FORKLEAK_PREFAULT .*off,heap,writable
// STDERR-HAS: FORKLEAK_SCAN_MAPPINGS
// STDERR-HAS: FORKLEAK_HELP
// EXPECT-PROCS: 1
#include <stdio.h>

int main(void)
{
    printf("main ran\n");
    return 0;
}
