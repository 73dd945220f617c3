# `git --version` runs unchanged with the shim and under `forkleak run`.
# EXPECT parent: exit_kind=exit exit_status=0
. "$(dirname "$0")/common.bash"
fl_compare git --version
