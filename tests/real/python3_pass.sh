# `python3 -c pass` (Debian's /usr/bin/python3) runs unchanged and reports no leak: CPython's
# object arenas are private anonymous mappings, scanned as roots (LeakSanitizer reports kilobytes
# of false leaks here).
# EXPECT-PROCS: 1
# EXPECT parent: leaked_blocks=0 exit_kind=exit exit_status=0
. "$(dirname "$0")/common.bash"
fl_compare /usr/bin/python3 -c pass
