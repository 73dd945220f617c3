# common.bash — sourced by the real-program tests (tests/real/*.sh; not a test itself). fl_compare runs a
# command three times from the same directory: natively, with LD_PRELOAD of the shim, and under
# `forkleak run -o $FL_OUT` (whose report the runner then checks against the test's EXPECT lines).
# stdout, stderr and exit status must be byte-identical to the native run; under `forkleak run`,
# stderr is the program's followed by the report.
# Environment from tests/run.py: FL_TOOL, FL_LIB, FL_OUT, FL_WORK.
set -u

fl_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# fl_compare CMD [ARGS...]
fl_compare() {
    local res="$FL_WORK/res" cwd="$FL_WORK/cwd"
    mkdir -p "$res" "$cwd" "$FL_WORK/preload"
    (cd "$cwd" && "$@" >"$res/native.out" 2>"$res/native.err" </dev/null)
    local native=$?
    (cd "$cwd" && LD_PRELOAD="$FL_LIB" FORKLEAK_DIR="$FL_WORK/preload" "$@" \
        >"$res/preload.out" 2>"$res/preload.err" </dev/null)
    local preload=$?
    (cd "$cwd" && "$FL_TOOL" run -o "$FL_OUT" --error-exitcode 0 -- "$@" \
        >"$res/run.out" 2>"$res/run.err" </dev/null)
    local run=$?
    echo "native status $native, with LD_PRELOAD $preload, under forkleak run $run"
    [ "$native" = "$preload" ] || fl_fail "exit status $preload with the shim, $native natively"
    [ "$native" = "$run" ] || fl_fail "exit status $run under forkleak run, $native natively"
    cmp "$res/native.out" "$res/preload.out" || fl_fail "stdout differs with the shim"
    cmp "$res/native.err" "$res/preload.err" || {
        diff "$res/native.err" "$res/preload.err" | head -20 >&2
        fl_fail "stderr differs with the shim"
    }
    cmp "$res/native.out" "$res/run.out" || fl_fail "stdout differs under forkleak run"
    local n
    n=$(stat -c %s "$res/native.err")
    head -c "$n" "$res/run.err" | cmp - "$res/native.err" ||
        fl_fail "under forkleak run, stderr does not start with the program's own stderr"
    ls "$FL_WORK/preload" | grep -q '\.report$' || fl_fail "no report with LD_PRELOAD"
    return 0
}
