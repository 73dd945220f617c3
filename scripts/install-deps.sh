#!/bin/sh
# Installs the Debian packages forkleak builds and tests with, only those missing.
#   scripts/install-deps.sh           install what is missing to build (needs root, or sudo)
#   scripts/install-deps.sh --all     also what the tests use (make test, CI)
#   scripts/install-deps.sh --check   exit 1 if anything needed to build is missing
set -eu
BUILD="gcc make pkg-config libunwind-dev uthash-dev libdw-dev libelf-dev libjansson-dev"
# Used by `make test` (the runners, C++ and fuzz builds, the real programs of the end-to-end
# tests) but not to build.
TEST="python3 bash git binutils g++ clang libclang-rt-14-dev redis-server redis-tools postgresql"
missing() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"
    done
}
if [ "${1:-}" = "--check" ]; then
    m=$(missing $BUILD)
    [ -z "$m" ] && exit 0
    echo "missing packages: $m" >&2
    exit 1
fi
if [ "${1:-}" = "--all" ]; then
    want=$(missing $BUILD $TEST)
else
    want=$(missing $BUILD)
fi
[ -z "$want" ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "forkleak: installing Debian packages:" $want >&2
export DEBIAN_FRONTEND=noninteractive
# An empty package list (fresh container) makes apt-get install fail: update first.
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends $want
