#!/usr/bin/python3
"""Runs every test suite of forkleak and adds up their results (what `make test` runs).

Each suite is a command whose output ends with a line `N passed, N failed`; the suites run one
after another with their output streamed, and the last line printed here is the total. A suite
that ends without such a line counts as one failure.

    tests/all.py [SUITE ...]        (default: all, in order)
"""
import os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAKE = os.environ.get("MAKE", "make")
B = os.environ.get("B", "build")

SUITES = [
    ("unit", [MAKE, "-s", "--no-print-directory", "unit"]),
    ("unwind", [MAKE, "-s", "--no-print-directory", "test-unwind", "SANITIZE=both"]),
    ("cases", [MAKE, "-s", "--no-print-directory", "cases"]),
    # the same cases with the exit check on two threads however small the heap (parallel marking,
    # snapshot and report gathering must find exactly what one thread finds)
    ("cases-2threads", [MAKE, "-s", "--no-print-directory", "cases",
                        "TESTFLAGS=--env FORKLEAK_CHECK_THREADS=2"]),
    ("tool", [MAKE, "-s", "--no-print-directory", "tool-test"]),
    ("examples", [MAKE, "-s", "--no-print-directory", "examples-test"]),
    ("e2e", ["/usr/bin/python3", "tests/e2e/e2e.py"]),
    # make bench's own programs still build (they link the shim's unwinder with their own stubs)
    ("bench-build", ["sh", "-c", MAKE + " -s --no-print-directory " + B + "/bench/micro " + B +
                     "/bench/mem && echo '1 passed, 0 failed' || echo '0 passed, 1 failed'"]),
]  # the tool suite fuzzes the report reader first (fuzz-short, ~20 s)

LINE = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed")


def main():
    want = sys.argv[1:] or [name for name, _ in SUITES]
    total_p = total_f = 0
    rows = []
    for name, cmd in SUITES:
        if name not in want:
            continue
        print("### %s: %s" % (name, " ".join(cmd)), flush=True)
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        last = None
        for line in proc.stdout:
            sys.stdout.write(line)
            m = LINE.match(line.strip())
            if m:
                last = (int(m.group(1)), int(m.group(2)))
        rc = proc.wait()
        if last is None:
            last = (0, 1)
            print("not ok - suite %s ended (status %d) without a result line" % (name, rc))
        elif rc != 0 and last[1] == 0:
            last = (last[0], 1)
            print("not ok - suite %s exited %d" % (name, rc))
        rows.append((name, last[0], last[1], time.time() - t0))
        total_p += last[0]
        total_f += last[1]
    print("### summary")
    for name, p, f, secs in rows:
        print("#   %-9s %4d passed, %d failed (%.0fs)" % (name, p, f, secs))
    print("%d passed, %d failed" % (total_p, total_f))
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main())
