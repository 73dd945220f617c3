# `bash -c 'ls | wc -l'` runs unchanged: bash forks two children that exec ls and wc (every image
# loads the shim again and reports); the output is the native one.
# EXPECT parent: exit_kind=exit exit_status=0
# EXPECT exe ls: exit_kind=exit exit_status=0
# EXPECT exe wc: exit_kind=exit exit_status=0
. "$(dirname "$0")/common.bash"
mkdir -p "$FL_WORK/cwd" && touch "$FL_WORK/cwd/a" "$FL_WORK/cwd/b" "$FL_WORK/cwd/c"
fl_compare bash -c 'ls | wc -l'
