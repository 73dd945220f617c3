// An unusable FORKLEAK_DIR (missing, a file, under a file, one where even root cannot create
// files) gives one warning on stderr naming it; the program runs unchanged with its own exit
// status, and no report appears anywhere.
// MODES: missing file under-file proc
// EXIT: 7
// STDOUT: main ran\n
// EXPECT-PROCS: 0
// [missing] ENV: FORKLEAK_DIR={out}/no/such/dir
// [missing] STDERR: forkleak: warning: [^\n]*FORKLEAK_DIR='[^']*/no/such/dir'[^\n]*\n
// [file] ENV: FORKLEAK_DIR=/dev/null
// [file] STDERR: forkleak: warning: [^\n]*FORKLEAK_DIR='/dev/null'[^\n]*\n
// [under-file] ENV: FORKLEAK_DIR=/dev/null/x
// [under-file] STDERR: forkleak: warning: [^\n]*FORKLEAK_DIR='/dev/null/x'[^\n]*\n
// [proc] ENV: FORKLEAK_DIR=/proc
// [proc] STDERR: forkleak: warning: [^\n]*FORKLEAK_DIR='/proc'[^\n]*\n
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    void *volatile p = malloc(44); /* a leak to report, were the directory usable */
    (void)p;
    printf("main ran\n");
    return 7;
}
