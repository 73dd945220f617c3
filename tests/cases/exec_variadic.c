// execle passes its argument list and its own environment; execlp searches PATH. Both go through
// the shim's wrappers (glibc's own versions call execve internally), which write the exec record:
// the shell's exit status must arrive unchanged, with the arguments and environment given.
// MODES: execle execlp
// [execle] EXIT: 7
// [execlp] EXIT: 5
#include "fltest.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "execle") == 0) {
        char *const envp[] = {"FL_CODE=7", NULL};
        execle("/bin/sh", "sh", "-c", "exit $FL_CODE", (char *)NULL, envp);
    } else {
        execlp("sh", "sh", "-c", "exit $1", "sh", "5", (char *)NULL);
    }
    return 99; /* exec failed */
}
