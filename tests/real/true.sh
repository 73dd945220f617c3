# /bin/true runs unchanged (output, status) with the shim and under `forkleak run`, and leaks nothing.
# EXPECT-PROCS: 1
# EXPECT parent: leaked_blocks=0 exit_kind=exit exit_status=0
. "$(dirname "$0")/common.bash"
fl_compare /bin/true
