#!/usr/bin/python3
"""examples/check.py — run each example under forkleak and check the figures forkleak reports.

    examples/check.py [--build DIR] [--keep] [-v] [FILTER...]

Each example in examples/NN_name.c sets up a known situation (so many bytes leaked in this
process, so many pages written after fork, ...). This script runs the built example
(DIR/examples/NN_name, default DIR=build) as

    DIR/bin/forkleak run -o <tmpdir> --keep [options] -- DIR/examples/NN_name [args]

reads `DIR/bin/forkleak report --format json <tmpdir>`, and compares forkleak's figures with
what the example set up: leaked bytes and blocks per process and per allocating function, origin
(own or inherited, and from which pid), process counts and the process tree, pages copied and
still shared after fork (within a tolerance: malloc headers and stdio buffers add a page or
two), pre-faulted pages. Never timings. The expected figures are derived here from the
example's parameters, not copied from a previous run.

Output is TAP-like: `ok N - name` or `not ok N - name` followed by `#` lines saying what was
expected and what forkleak reported (and where the reports were kept); the last line is
`N passed, N failed`. Exit status 1 when anything failed, 2 on a usage error.
A FILTER selects examples whose name contains it. Stdlib only.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

KiB = 1024
MiB = 1024 * 1024
PAGE = 4096
TIMEOUT = 60


class Ctx:
    """One example's run(s) under forkleak and the failures found in them."""

    def __init__(self, args, name):
        self.args = args
        self.name = name
        self.tool = os.path.join(args.build, "bin", "forkleak")
        self.prog = os.path.join(args.build, "examples", name)
        self.failures = []
        self.dirs = []

    def fail(self, msg):
        self.failures.append(msg)

    def expect(self, cond, msg):
        if not cond:
            self.fail(msg)
        return cond

    def run(self, *opts, args=(), expect_status=None):
        """Runs the example under `forkleak run`; returns (stdout, report json, report dir)."""
        out = tempfile.mkdtemp(prefix="fl-%s." % self.name)
        self.dirs.append(out)
        cmd = [self.tool, "run", "-o", out, "--keep", *opts, "--", self.prog, *args]
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=TIMEOUT, text=True)
        except subprocess.TimeoutExpired:
            raise Failed("timed out after %d s: %s" % (TIMEOUT, " ".join(cmd)))
        self.last_cmd, self.last_stdout, self.last_stderr = cmd, p.stdout, p.stderr
        if expect_status is not None and p.returncode != expect_status:
            self.fail("`%s` exited %d, expected %d" % (" ".join(cmd), p.returncode, expect_status))
        return p.stdout, self.report(out), out

    def report(self, *paths):
        cmd = [self.tool, "report", "--format", "json", *paths]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT,
                           text=True)
        if p.returncode not in (0, 1):
            raise Failed("`%s` exited %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
        try:
            d = json.loads(p.stdout)
        except ValueError as e:
            raise Failed("`%s` printed invalid JSON: %s" % (" ".join(cmd), e))
        if d.get("errors"):
            raise Failed("forkleak report errors: %s" % d["errors"])
        return d


class Failed(Exception):
    pass


# ---- reading forkleak's JSON -------------------------------------------------------------

def procs(d):
    """The processes, in the order they started."""
    return sorted(d["processes"], key=lambda p: p["start_ns"])


def by_gen(d, gen):
    return [p for p in procs(d) if p["gen"] == gen]


def the_parent(ctx, d):
    roots = by_gen(d, 0)
    if len(roots) != 1:
        raise Failed("expected one gen-0 process, forkleak reported %d" % len(roots))
    return roots[0]


def own_function(p, stack):
    """The innermost frame of STACK in the example's own executable: the function that
    allocated, as the example's source names it."""
    for f in stack:
        if f.get("module") == p["exe"] and f.get("function"):
            return f["function"]
    return None


def leaks(p, origin=None, function=None):
    """(bytes, blocks) leaked (direct + indirect) by process P, optionally only the groups
    of ORIGIN (own / inherited) allocated in FUNCTION."""
    b = n = 0
    for g in p["leaks"]:
        if g["kind"] not in ("direct", "indirect"):
            continue
        if origin and g["origin"] != origin:
            continue
        if function and own_function(p, g["stack"]) != function:
            continue
        b += g["bytes"]
        n += g["blocks"]
    return b, n


def leak_fns(p):
    """{(origin, function): (bytes, blocks)} over the leak groups of P."""
    r = {}
    for g in p["leaks"]:
        if g["kind"] in ("direct", "indirect"):
            k = (g["origin"], own_function(p, g["stack"]))
            b, n = r.get(k, (0, 0))
            r[k] = (b + g["bytes"], n + g["blocks"])
    return r


def inherited_from(p, function):
    """The `inherited` records of P whose allocating function is FUNCTION, summed."""
    keys = ("blocks", "bytes", "freed_bytes", "live_bytes", "leaked_bytes")
    r = dict.fromkeys(keys, 0)
    for i in p["inherited"]:
        if own_function(p, i["stack"]) == function:
            for k in keys:
                r[k] += i[k]
    return r


def mem(p, phase, key):
    m = (p.get("memory") or {}).get(phase)
    return None if m is None else m.get(key)


def desc(p):
    return "pid %d (gen %d)" % (p["pid"], p["gen"])


def check_leaks(ctx, p, want):
    """WANT: {(origin, function): (bytes, blocks)}, exactly the leaks P must report."""
    got = leak_fns(p)
    if got != want:
        show = lambda m: ", ".join("%s %s: %d B in %d" % (o, f, b, n)
                                   for (o, f), (b, n) in sorted(m.items(), key=str)) or "none"
        ctx.fail("%s leaks: expected %s; forkleak reported %s" % (desc(p), show(want), show(got)))


def check_no_leaks(ctx, d):
    for p in procs(d):
        check_leaks(ctx, p, {})


def near(ctx, what, got, want, tol):
    ok = got is not None and abs(got - want) <= tol
    ctx.expect(ok, "%s: expected %d (+-%d), forkleak reported %s" % (what, want, tol, got))
    return ok


def at_least(ctx, what, got, low):
    ok = got is not None and got >= low
    ctx.expect(ok, "%s: expected >= %d, forkleak reported %s" % (what, low, got))
    return ok


def at_most(ctx, what, got, high):
    ok = got is not None and got <= high
    ctx.expect(ok, "%s: expected <= %d, forkleak reported %s" % (what, high, got))
    return ok


def check_cow_site(ctx, p, function, pages, tol):
    """The pages P copied since fork, attributed to the stack that allocated them."""
    cow = p.get("cow") or {}
    sites = {}
    for s in cow.get("sites") or []:
        fn = own_function(p, s.get("stack") or [])
        sites[fn] = sites.get(fn, 0) + s.get("pages", 0)
    if function not in sites:
        ctx.fail("%s: no cow site for %s (expected ~%d copied pages there); forkleak's JSON "
                 "cow.sites = %s although cow.copied_pages = %s" % (
                     desc(p), function, pages, sites or "[]", cow.get("copied_pages")))
        return
    near(ctx, "%s cow pages copied in blocks from %s" % (desc(p), function), sites[function],
         pages, tol)


def stdout_has(ctx, out, regex):
    m = re.search(regex, out, re.M)
    ctx.expect(m, "the example's stdout has no match for /%s/" % regex)
    return m


def the_children(ctx, d, n):
    kids = by_gen(d, 1)
    if len(kids) != n:
        raise Failed("expected %d children (gen 1), forkleak reported %d" % (n, len(kids)))
    return kids


# ---- the examples ------------------------------------------------------------------------

def ex01(ctx):
    n = 24
    out, d, _ = ctx.run(expect_status=23)
    result = n * (n + 1) // 2  # 300
    stdout_has(ctx, out, r"WEXITSTATUS = %d\b" % (result & 0xFF))
    parent = the_parent(ctx, d)
    (child,) = the_children(ctx, d, 1)
    check_leaks(ctx, parent, {})
    check_leaks(ctx, child, {("own", "leaky_sum"): (n * 1024, n)})
    ctx.expect(child["exit"]["kind"] == "exit" and child["exit"]["status"] == result,
               "child exit: expected exit(%d) as the child called it; forkleak reported %s"
               % (result, child["exit"]))


def ex02(ctx):
    n = 100000
    out, d, _ = ctx.run(expect_status=23)
    stdout_has(ctx, out, r"= %d over %d terms" % (sum(i * i for i in range(1, n + 1)), n))
    parent = the_parent(ctx, d)
    (child,) = the_children(ctx, d, 1)
    check_leaks(ctx, parent, {})
    check_leaks(ctx, child, {("own", "leaky_stats"): (1 * MiB + (n // 1000) * 64,
                                                      1 + n // 1000)})


def queens_model(n, fork_rows=2):
    """What 03_backtrack does, process by process: a list of (gen, own leaked node records,
    inherited leaked records, exit status), and the number of solutions."""
    def safe(cols, row, col):
        return all(cols[r] != col and abs(cols[r] - col) != row - r for r in range(row))

    def solve(cols, row):  # -> (solutions, node records)
        if row == n:
            return 1, 0
        sol = nodes = 0
        for col in range(n):
            if safe(cols, row, col):
                s, k = solve(cols[:row] + [col], row + 1)
                sol, nodes = sol + s, nodes + 1 + k
        return sol, nodes

    procs_ = []

    def branches(cols, row):  # forks a process per safe column; returns solutions
        total = 0
        for col in range(n):
            if not safe(cols, row, col):
                continue
            c = cols[:row] + [col]
            if row + 1 < fork_rows:
                s = branches(c, row + 1)
                own = 1
            else:
                s, k = solve(c, row + 1)
                own = 1 + k
            procs_.append((row + 1, own, row, s))  # inherits one record per forking ancestor
            total += s
        return total

    total = branches([], 0)
    procs_.append((0, 0, 0, 0))
    return sorted(procs_), total


def ex03(ctx):
    n, node = 5, 64
    out, d, _ = ctx.run(expect_status=23)
    model, total = queens_model(n)
    stdout_has(ctx, out, r"^root \d+: %d solution\(s\)" % total)
    got = []
    for p in procs(d):
        ob, on = leaks(p, "own", "node_record")
        ib, inn = leaks(p, "inherited", "node_record")
        ctx.expect(ob == on * node and ib == inn * node and leaks(p) == (ob + ib, on + inn),
                   "%s: leaks other than %d-byte node records: %s" % (desc(p), node, leak_fns(p)))
        got.append((p["gen"], on, inn, p["exit"]["status"]))
    if sorted(got) != model:
        ctx.fail("per process (gen, own node records leaked, inherited leaked, exit status): "
                 "expected %s; forkleak reported %s" % (model, sorted(got)))
    depths = sorted(t["depth"] for t in d["tree"])
    want_depths = sorted(g for g, _, _, _ in model)
    ctx.expect(depths == want_depths and all(t["has_report"] for t in d["tree"]),
               "tree depths: expected %s, forkleak reported %s" % (want_depths, depths))
    # The node record each gen-1 process leaked before forking its children is counted once.
    gen1 = {p["pid"] for p in by_gen(d, 1)}
    gen2 = len(by_gen(d, 2))
    pre = [c for c in d["combined"] if c["leaked_before_fork"]]
    got_pre = (sum(c["blocks"] for c in pre), sum(c["inherited_count"] for c in pre),
               {pid for c in pre for pid in c["processes"]})
    ctx.expect(got_pre == (len(gen1), gen2, gen1),
               "combined view: expected the pre-fork leaks of the %d gen-1 processes (%d "
               "blocks) once, also present in %d children; forkleak reported %d blocks, in "
               "%d children, leaked in pids %s" % (len(gen1), len(gen1), gen2, got_pre[0],
                                                   got_pre[1], sorted(got_pre[2])))
    combined = sum(c["blocks"] for c in d["combined"] if c["kind"] in ("direct", "indirect"))
    ctx.expect(combined == sum(own for _, own, _, _ in model),
               "combined view: expected %d node records in all (each counted once), forkleak "
               "reported %d" % (sum(own for _, own, _, _ in model), combined))


def ex04(ctx):
    size = 32 * MiB
    out, d, _ = ctx.run(expect_status=0)
    check_no_leaks(ctx, d)
    (child,) = the_children(ctx, d, 1)
    half = size // 2 // PAGE
    cow = child.get("cow") or {}
    # The block starts 16 bytes into its mapping, so the first half touches 4097 pages; the
    # child's printf also copies the stdio buffer's pages.
    near(ctx, "child cow copied_pages", cow.get("copied_pages"), half, 8)
    near(ctx, "child cow shared_pages", cow.get("shared_pages"), half, 8)
    at_least(ctx, "child rss_kb right after fork (counts the shared pages)",
             mem(child, "start", "rss_kb"), size // KiB)
    # Right after fork every resident page is shared: the shim records only status figures then
    # (private_dirty_kb is null). At exit the child's private dirty memory is the half it wrote.
    near(ctx, "child private_dirty_kb at exit (the half it wrote)",
         mem(child, "exit", "private_dirty_kb"), size // 2 // KiB, 2 * MiB // KiB)
    check_cow_site(ctx, child, "load_table", half, 8)


def ex05(ctx):
    big, touch = 1024 * MiB, 8 * MiB
    out, d, _ = ctx.run(expect_status=0)
    check_no_leaks(ctx, d)
    parent = the_parent(ctx, d)
    (child,) = the_children(ctx, d, 1)
    if not stdout_has(ctx, out, r"after malloc\(1 GiB\), untouched"):
        return
    v0, v1 = mem(parent, "start", "vsz_kb"), mem(parent, "exit", "vsz_kb")
    r0, r1 = mem(parent, "start", "rss_kb"), mem(parent, "exit", "rss_kb")
    at_least(ctx, "parent vsz_kb growth, start to exit", v1 - v0, big // KiB)
    at_most(ctx, "parent rss_kb growth, start to exit", r1 - r0, 4 * MiB // KiB)
    at_least(ctx, "child vsz_kb at fork", mem(child, "start", "vsz_kb"), big // KiB)
    at_most(ctx, "child rss_kb at fork", mem(child, "start", "rss_kb"), 8 * MiB // KiB)
    near(ctx, "child rss_kb growth, fork to exit", mem(child, "exit", "rss_kb") -
         mem(child, "start", "rss_kb"), touch // KiB, 2 * MiB // KiB)
    near(ctx, "child private_dirty_kb at exit (what it wrote)", mem(child, "exit", "private_dirty_kb"),
         touch // KiB, 2 * MiB // KiB)
    cow = child.get("cow") or {}
    near(ctx, "child cow copied_pages (pages first written after fork)",
         cow.get("copied_pages"), touch // PAGE, 8)
    # The parent never touched the buffer: no page of it can be shared with the parent.
    at_most(ctx, "child cow shared_pages (the parent never touched the 1 GiB, so nothing of "
            "it is shared)", cow.get("shared_pages"), 64)


def ex06(ctx):
    size = 64 * MiB
    out, d, _ = ctx.run(expect_status=0)
    check_no_leaks(ctx, d)
    a, b = the_children(ctx, d, 2)  # in start order: A (config live), then B (config freed)
    ia, ib = inherited_from(a, "load_config"), inherited_from(b, "load_config")
    ctx.expect(ia["blocks"] == 1 and ia["bytes"] == size and ia["live_bytes"] == size
               and ia["leaked_bytes"] == 0,
               "worker A (%s): expected to inherit 1 block of %d bytes from load_config, live "
               "at exit and not leaked; forkleak reported %s" % (desc(a), size, ia))
    ctx.expect(ib["blocks"] == 0,
               "worker B (%s): expected nothing inherited from load_config (freed before "
               "fork); forkleak reported %s" % (desc(b), ib))
    at_most(ctx, "worker B: bytes inherited in all", sum(i["bytes"] for i in b["inherited"]),
            1 * MiB)
    for key in ("vsz_kb", "rss_kb"):
        va, vb = mem(a, "start", key), mem(b, "start", key)
        if va is not None and vb is not None:
            near(ctx, "%s at fork, worker A minus worker B" % key, va - vb, size // KiB,
                 4 * MiB // KiB)


def ex07(ctx):
    size = 64 * MiB
    pages = size // PAGE
    # Without pre-faulting: the copies happen at the late write, one fault per page.
    out, d, _ = ctx.run(expect_status=0)
    check_no_leaks(ctx, d)
    (child,) = the_children(ctx, d, 1)
    ctx.expect(child.get("prefault") is None,
               "prefault off: expected no prefault record, got %s" % child.get("prefault"))
    near(ctx, "prefault off: child cow copied_pages", (child.get("cow") or {}).get("copied_pages"),
         pages, 16)
    m = stdout_has(ctx, out, r"first write of 64 MiB:\s+\S+ ms,\s+(\d+) page faults")
    if m:
        at_least(ctx, "prefault off: page faults of the child's late write", int(m.group(1)),
                 pages)
    # With --prefault heap: the copies happen right after fork, in the shim.
    out, d, _ = ctx.run("--prefault", "heap", expect_status=0)
    check_no_leaks(ctx, d)
    (child,) = the_children(ctx, d, 1)
    pf = child.get("prefault") or {}
    ctx.expect(pf.get("mode") == "heap" and pf.get("error") == "none",
               "prefault heap: expected a prefault record mode=heap error=none, got %s" % pf)
    near(ctx, "prefault heap: child prefault pages", pf.get("pages"), pages, 256)
    ctx.expect(pf.get("bytes") == (pf.get("pages") or 0) * PAGE,
               "prefault heap: bytes %s != pages %s * 4096" % (pf.get("bytes"), pf.get("pages")))
    m = stdout_has(ctx, out, r"first write of 64 MiB:\s+\S+ ms,\s+(\d+) page faults")
    if m:
        at_most(ctx, "prefault heap: page faults of the child's late write", int(m.group(1)), 64)
    parent = the_parent(ctx, d)
    ctx.expect(parent.get("prefault") is None,
               "prefault heap (in the child): the parent has a prefault record %s"
               % parent.get("prefault"))
    # The memory figures right after pre-faulting (report-format.md: memory phase=prefault).
    at_least(ctx, "prefault heap: child private_dirty_kb right after pre-faulting "
             "(memory phase=prefault in the JSON)", mem(child, "prefault", "private_dirty_kb"),
             size // KiB)


def ex08(ctx):
    out, d, _ = ctx.run(expect_status=0)
    check_no_leaks(ctx, d)
    (child,) = the_children(ctx, d, 1)
    rows = re.findall(r"^(\w+)\s+pid \d+: x =\s*(\d+) at (\S+), page frame (\S+)", out, re.M)
    got = [(w, int(v)) for w, v, _, _ in rows]
    want = [("before", 5), ("child", 10), ("parent", 5), ("parent", 20)]
    ctx.expect(got == want, "stdout: expected values %s, got %s" % (want, got))
    ctx.expect(len({a for _, _, a, _ in rows}) == 1,
               "stdout: expected one address for x in both processes, got %s" % rows)
    frames = {w: int(f, 16) for w, _, _, f in rows}
    if frames.get("child") and frames.get("parent"):
        ctx.expect(frames["child"] != frames["parent"],
                   "stdout: expected different page frames after the writes, got %s" % frames)
    at_least(ctx, "child cow copied_pages", (child.get("cow") or {}).get("copied_pages"), 1)
    check_cow_site(ctx, child, "new_counter", 1, 0)


def ex09(ctx):
    workers, requests, snap_after, resp, parse = 4, 50, 20, 128, 16 * KiB
    out, d, outdir = ctx.run("--signal", "SIGUSR2", expect_status=23)
    parent = the_parent(ctx, d)
    kids = the_children(ctx, d, workers)
    ctx.expect(len(procs(d)) == workers + 1,
               "expected %d processes, forkleak reported %d" % (workers + 1, len(procs(d))))
    check_leaks(ctx, parent, {("own", "load_cache"): (parse, 1)})
    for k in kids:
        check_leaks(ctx, k, {("own", "handle_request"): (requests * resp, requests),
                             ("inherited", "load_cache"): (parse, 1)})
        froms = {(g["from_pid"], g["from_gen"]) for g in k["leaks"] if g["origin"] == "inherited"}
        ctx.expect(froms == {(parent["pid"], 0)},
                   "%s: inherited leaks should come from pid %d gen 0; forkleak reported %s"
                   % (desc(k), parent["pid"], froms))
        at_least(ctx, "%s cow copied_pages (hit counters in the cache)" % desc(k),
                 (k.get("cow") or {}).get("copied_pages"), 10)
    pre = [c for c in d["combined"] if c["leaked_before_fork"]]
    ctx.expect(len(pre) == 1 and pre[0]["bytes"] == parse and pre[0]["processes"] == [parent["pid"]]
               and pre[0]["inherited_count"] == workers,
               "combined view: expected the parse buffer (%d B) once, leaked before fork in pid "
               "%d and present in %d children; forkleak reported %s" % (
                   parse, parent["pid"], workers,
                   [{k: c[k] for k in ("bytes", "processes", "inherited_count")} for c in pre]))
    total = sum(c["bytes"] for c in d["combined"])
    ctx.expect(total == parse + workers * requests * resp,
               "combined view: expected %d bytes leaked in all (de-duplicated), forkleak reported "
               "%d" % (parse + workers * requests * resp, total))
    # The snapshot: worker 1, still running, after exactly `snap_after` requests.
    m = stdout_has(ctx, out, r"SIGUSR2 to worker 1 \(pid (\d+)\)")
    snaps = glob.glob(os.path.join(outdir, "fl.*.s1.report"))
    if not m or not ctx.expect(len(snaps) == 1, "expected one snapshot report, found %s" % snaps):
        return
    s = ctx.report(snaps[0])["processes"]
    if not ctx.expect(len(s) == 1, "snapshot: expected one process, got %d" % len(s)):
        return
    s = s[0]
    ctx.expect(s["pid"] == int(m.group(1)) and s["exit"]["kind"] == "snapshot",
               "snapshot: expected pid %s, exit kind snapshot; got pid %d, %s"
               % (m.group(1), s["pid"], s["exit"]))
    # Conservative scanning: the worker is blocked in read() when the signal comes, and the
    # stack just below it still holds a stale copy of the last response's pointer, so that
    # response may count as reachable: 19 or 20 responses leaked so far.
    b, n = leaks(s, "own", "handle_request")
    ctx.expect(snap_after - 1 <= n <= snap_after and b == n * resp,
               "snapshot: expected %d (or %d) x %d B leaked by handle_request so far; forkleak "
               "reported %d B in %d" % (snap_after, snap_after - 1, resp, b, n))
    ctx.expect(leaks(s, "inherited") == (parse, 1),
               "snapshot: expected the inherited parse buffer (%d B); got %s"
               % (parse, leaks(s, "inherited")))
    # By then worker 1 has bumped 20 hit counters, 7 entries (~7 KiB) apart: ~20 cache pages
    # are its own copies. The snapshot must describe the worker, not the clone that wrote it.
    at_least(ctx, "snapshot: worker 1's cow copied_pages after %d requests" % snap_after,
             (s.get("cow") or {}).get("copied_pages"), 10)


EXAMPLES = [
    ("01_exit_status", ex01),
    ("02_pipe_result", ex02),
    ("03_backtrack", ex03),
    ("04_vsz_rss", ex04),
    ("05_overcommit", ex05),
    ("06_free_before_fork", ex06),
    ("07_cow_pitfall", ex07),
    ("08_same_address", ex08),
    ("09_prefork_server", ex09),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="the build directory (default: build)")
    ap.add_argument("--keep", action="store_true", help="keep the report directories")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print each example's stdout even when it passes")
    ap.add_argument("filters", nargs="*")
    args = ap.parse_args()

    tool = os.path.join(args.build, "bin", "forkleak")
    if not os.access(tool, os.X_OK):
        print("check.py: %s not found; run `make` first" % tool, file=sys.stderr)
        return 2
    chosen = [(n, f) for n, f in EXAMPLES if not args.filters or any(x in n for x in args.filters)]
    if not chosen:
        print("check.py: no example matches %s" % " ".join(args.filters), file=sys.stderr)
        return 2

    passed = failed = 0
    for i, (name, fn) in enumerate(chosen, 1):
        ctx = Ctx(args, name)
        if not os.access(ctx.prog, os.X_OK):
            ctx.fail("%s not found; run `make examples` first" % ctx.prog)
        else:
            try:
                fn(ctx)
            except Failed as e:
                ctx.fail(str(e))
            except (KeyError, TypeError, ValueError) as e:
                ctx.fail("unexpected report shape: %r" % e)
        if ctx.failures:
            failed += 1
            print("not ok %d - %s" % (i, name))
            for f in ctx.failures:
                print("  #   %s" % f)
            if getattr(ctx, "last_cmd", None):
                print("  # last command: %s" % " ".join(ctx.last_cmd))
                for line in ctx.last_stdout.splitlines()[:40]:
                    print("  # | %s" % line)
            print("  # reports kept in %s" % " ".join(ctx.dirs))
        else:
            passed += 1
            print("ok %d - %s" % (i, name))
            if args.verbose:
                for line in ctx.last_stdout.splitlines():
                    print("  # | %s" % line)
        if not ctx.failures and not args.keep:
            for dname in ctx.dirs:
                shutil.rmtree(dname, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
