// An invalid FORKLEAK_* value is fatal before main: exit status 2, no report, nothing from the
// program, and one line on stderr naming the variable, the value and what is accepted.
// MODES: depth-abc depth-0 depth-65 depth-trailing prefault scan-mappings inherited signal dir-empty
// EXIT: 2
// STDOUT:
// EXPECT-PROCS: 0
// [depth-abc] ENV: FORKLEAK_DEPTH=abc
// [depth-abc] STDERR: forkleak: error: FORKLEAK_DEPTH='abc' [^\n]*1\.\.64[^\n]*\n
// [depth-0] ENV: FORKLEAK_DEPTH=0
// [depth-0] STDERR: forkleak: error: FORKLEAK_DEPTH='0' [^\n]*1\.\.64[^\n]*\n
// [depth-65] ENV: FORKLEAK_DEPTH=65
// [depth-65] STDERR: forkleak: error: FORKLEAK_DEPTH='65' [^\n]*1\.\.64[^\n]*\n
// [depth-trailing] ENV: FORKLEAK_DEPTH=12x
// [depth-trailing] STDERR: forkleak: error: FORKLEAK_DEPTH='12x' [^\n]*1\.\.64[^\n]*\n
// [prefault] ENV: FORKLEAK_PREFAULT=heapp
// [prefault] STDERR: forkleak: error: FORKLEAK_PREFAULT='heapp' is not one of off, ?heap, ?writable[^\n]*\n
// [scan-mappings] ENV: FORKLEAK_SCAN_MAPPINGS=maybe
// [scan-mappings] STDERR: forkleak: error: FORKLEAK_SCAN_MAPPINGS='maybe' [^\n]*yes, ?no[^\n]*\n
// [inherited] ENV: FORKLEAK_INHERITED=all
// [inherited] STDERR: forkleak: error: FORKLEAK_INHERITED='all' [^\n]*summary, ?full[^\n]*\n
// [signal] ENV: FORKLEAK_SIGNAL=SIGFOO
// [signal] STDERR: forkleak: error: FORKLEAK_SIGNAL='SIGFOO' [^\n]*signal[^\n]*\n
// [dir-empty] ENV: FORKLEAK_DIR=
// [dir-empty] STDERR: forkleak: error: FORKLEAK_DIR='' [^\n]*\n
#include <stdio.h>

int main(void)
{
    printf("main ran\n");
    return 0;
}
