#!/usr/bin/python3
"""Tests of the forkleak tool (tools/): reading, symbolizing, grouping and printing reports, and
`forkleak run`. Runs the tool (normally the ASan+UBSan build) on hand-written fixtures
(tests/tool/fixtures/), on reports that reference small programs it builds with -g
(tests/tool/progs/), and on generated hostile input; compares text output with golden files
(tests/tool/golden/) and checks JSON and SARIF structure.

    tests/tool/run.py --tool build-asan/bin/forkleak [--perf-tool build/bin/forkleak]
                      [--update] [--only SUBSTRING] [--keep]

Prints `ok N - name` / `not ok N - name` (the output of a failing test follows it, indented),
then `N passed, N failed[, N skipped]`; exits 1 if anything failed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIX = os.path.join(HERE, "fixtures")
GOLDEN = os.path.join(HERE, "golden")
PROGS = os.path.join(HERE, "progs")

SANITIZER_RE = re.compile(r"runtime error:|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer")
PIE_BASE = 0x555555554000
LIB_BASE = 0x7FFFF7C00000


class Failure(Exception):
    pass


class Skip(Exception):
    pass


# ---------------------------------------------------------------- harness

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


class Ctx:
    def __init__(self, args, work):
        self.args = args
        self.tool = os.path.abspath(args.tool)
        self.work = work
        self.bins = {}

    def run(self, argv, env=None, cwd=None, timeout=120, stdin=subprocess.DEVNULL):
        """Runs the tool with ARGV; returns (rc, stdout, stderr). Sanitizer reports fail."""
        e = dict(os.environ)
        e.pop("FORKLEAK_SUPPRESSIONS", None)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        e["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        if env:
            e.update(env)
        p = subprocess.run([self.tool] + argv, env=e, cwd=cwd or self.work, stdin=stdin,
                           capture_output=True, timeout=timeout)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        if SANITIZER_RE.search(err):
            raise Failure(f"sanitizer report from {' '.join(argv)}:\n{err}")
        return p.returncode, out, err

    def norm(self, s):
        return s.replace(self.work, "@WORK@").replace(ROOT, "@ROOT@")

    def golden(self, name, text):
        path = os.path.join(GOLDEN, name)
        text = self.norm(text)
        if self.args.update:
            os.makedirs(GOLDEN, exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            return
        if not os.path.exists(path):
            raise Failure(f"no golden file {path} (run with --update to create it)")
        with open(path) as f:
            want = f.read()
        if want != text:
            import difflib
            diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                                "golden/" + name, "actual"))
            raise Failure("output differs from the golden file:\n" + diff)

    # -- programs under test

    def build(self, name, src, flags, cxx=False):
        if name in self.bins:
            return self.bins[name]
        out = os.path.join(self.work, "bin", name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        cc = "g++" if cxx else "gcc"
        subprocess.run([cc] + flags + ["-o", out, os.path.join(PROGS, src)], check=True)
        self.bins[name] = out
        return out


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


def expect_rc(rc, want, out, err):
    if rc != want:
        raise Failure(f"exit status {rc}, expected {want}\n--- stdout\n{out}\n--- stderr\n{err}")


def expect_in(needle, hay, what="output"):
    if isinstance(needle, str):
        if needle not in hay:
            raise Failure(f"{what} lacks {needle!r}:\n{hay}")
    elif not needle.search(hay):
        raise Failure(f"{what} does not match /{needle.pattern}/:\n{hay}")


# ---------------------------------------------------------------- ELF helpers

def build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    return m.group(1) if m else "-"


def load_span(path):
    """[lowest vaddr, highest end) of the PT_LOAD segments."""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True).stdout
    lo, hi = None, 0
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            vaddr, memsz = int(f[2], 16), int(f[5], 16)
            lo = vaddr if lo is None else min(lo, vaddr)
            hi = max(hi, vaddr + memsz)
    return lo & ~0xFFF, hi


def call_sites(path):
    """[(function, return address, target)] for every call instruction, demangled names."""
    out = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", path],
                         capture_output=True, text=True).stdout
    lines = out.splitlines()
    sites, func = [], None
    insn_re = re.compile(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$")
    for i, line in enumerate(lines):
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            func = m.group(1)
            continue
        m = insn_re.match(line)
        if not m or not m.group(2).startswith("call"):
            continue
        for nxt in lines[i + 1:]:
            n = insn_re.match(nxt)
            if n:
                target = re.search(r"<(.*)>", m.group(3))
                sites.append((func, int(n.group(1), 16), target.group(1) if target else ""))
                break
    return sites


def call_ip(path, func, target):
    """The recorded IP of the call from FUNC to TARGET: the return address minus one."""
    name_re = re.compile(r"(^|[\s:*&])" + re.escape(func) + r"(<|$)")
    for f, ret, t in call_sites(path):
        if name_re.search(f.split("(")[0].split(" [")[0]) and target in t:
            return ret - 1
    raise Failure(f"no call to {target} in {func} of {path}")


def site_line(src, marker):
    with open(os.path.join(PROGS, src)) as f:
        for n, line in enumerate(f, 1):
            if f"SITE: {marker}" in line and not line.rstrip().endswith(f"SITE: {marker}x"):
                if re.search(rf"SITE: {re.escape(marker)}(\s|\*|$)", line):
                    return n
    raise Failure(f"no SITE: {marker} in {src}")


def dyn_symbol(path, name):
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[2].split("@")[0] == name:
            return int(f[0], 16)
    raise Failure(f"no dynamic symbol {name} in {path}")


def module_line(mid, path, base, bid=None):
    lo, hi = load_span(path)
    return (f"module id={mid} base={base:#x} lo={base + lo:#x} hi={base + hi:#x} "
            f"buildid={bid or build_id(path)} path={path}")


def report_text(pid, records, ppid=1, gen=0, start=1000, end=2000, exe="/bin/prog",
                exit_="exit kind=exit status=0", lineage=""):
    """A well-formed report around RECORDS (lines); the end count is computed."""
    lines = [f"process pid={pid} ppid={ppid} gen={gen} start_ns={start} end_ns={end} tid={pid}",
             f"lineage {lineage}".rstrip(), f"exe path={exe}", f"argv {exe}", exit_] + records
    return "forkleak-report 1\n" + "\n".join(lines) + f"\nend records={len(lines)}\n"


def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(text)
    return path


# ---------------------------------------------------------------- real-binary fixtures

def c_fixture(ctx, pie):
    """A report of leaky.c (PIE or not) with three groups; returns (dir, binary)."""
    name = "leaky_pie" if pie else "leaky_nopie"
    flags = ["-g", "-O2"] + (["-fPIE", "-pie"] if pie else ["-fno-pie", "-no-pie"])
    exe = ctx.build(name, "leaky.c", flags)
    base = PIE_BASE if pie else 0
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    start = LIB_BASE + dyn_symbol(libc, "__libc_start_main") + 0x10
    s1 = [base + call_ip(exe, "make_buffer", "malloc"), base + call_ip(exe, "main", "make_buffer"),
          start]
    s2 = [base + call_ip(exe, "make_list", "calloc"), base + call_ip(exe, "main", "make_list"),
          start]
    recs = [module_line(0, exe, base), module_line(1, libc, LIB_BASE),
            "stack id=1 " + " ".join(hex(x) for x in s1),
            "stack id=2 " + " ".join(hex(x) for x in s2),
            "group kind=direct origin=own stack=1 blocks=1 bytes=100",
            "group kind=direct origin=own stack=2 blocks=1 bytes=32",
            "group kind=indirect origin=own stack=2 blocks=2 bytes=64",
            "summary check=reachability direct_blocks=2 direct_bytes=132 indirect_blocks=2 "
            "indirect_bytes=64"]
    d = os.path.join(ctx.work, name)
    write(os.path.join(d, "fl.4242.1000.report"), report_text(4242, recs, exe=exe))
    return d, exe


def cxx_fixture(ctx):
    exe = ctx.build("leaky_cc", "leaky.cc", ["-g", "-O2", "-fno-optimize-sibling-calls"],
                    cxx=True)
    std = "/lib/x86_64-linux-gnu/libstdc++.so.6"
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    libc_base = LIB_BASE + 0x1000000
    start = libc_base + dyn_symbol(libc, "__libc_start_main") + 0x10
    new = LIB_BASE + dyn_symbol(std, "_Znwm") + 4
    newa = LIB_BASE + dyn_symbol(std, "_Znam") + 4
    s1 = [new, PIE_BASE + call_ip(exe, "adopt", "operator new"),
          PIE_BASE + call_ip(exe, "main", "adopt"), start]
    s2 = [newa, PIE_BASE + call_ip(exe, "make_many", "operator new[]"),
          PIE_BASE + call_ip(exe, "main", "make_many"), start]
    recs = [module_line(0, exe, PIE_BASE), module_line(1, std, LIB_BASE),
            module_line(2, libc, libc_base),
            "stack id=1 " + " ".join(hex(x) for x in s1),
            "stack id=2 " + " ".join(hex(x) for x in s2),
            "group kind=direct origin=own stack=1 blocks=1 bytes=40",
            "group kind=direct origin=own stack=2 blocks=1 bytes=64",
            "summary check=reachability direct_blocks=2 direct_bytes=104"]
    d = os.path.join(ctx.work, "leaky_cc")
    write(os.path.join(d, "fl.777.1000.report"), report_text(777, recs, exe=exe))
    return d, exe


FRAME_RE = r"#(\d+) 0x[0-9a-f]+ in {func} {file}:{line}\n"


def frame_re(func, src, line):
    return re.compile(FRAME_RE.format(func=re.escape(func), file=".*" + re.escape(src),
                                      line=line))


# ---------------------------------------------------------------- tests: symbolization

@test
def symbolize_c_nopie(ctx):
    d, exe = c_fixture(ctx, pie=False)
    rc, out, err = ctx.run(["report", d])
    expect_rc(rc, 1, out, err)
    # make_buffer inlines grab: two frames for one IP, the inlined one first.
    expect_in(re.compile(
        r"Direct leak of 100 byte\(s\) in 1 object\(s\) allocated from:\n"
        r"    #0 (0x[0-9a-f]+) in grab .*leaky\.c:%d\n"
        r"    #1 \1 in make_buffer .*leaky\.c:%d\n"
        r"    #2 0x[0-9a-f]+ in main .*leaky\.c:%d\n"
        % (site_line("leaky.c", "grab"), site_line("leaky.c", "make_buffer->grab"),
           site_line("leaky.c", "main->make_buffer"))), out)
    expect_in(frame_re("make_list", "leaky.c", site_line("leaky.c", "make_list")), out)
    expect_in(frame_re("main", "leaky.c", site_line("leaky.c", "main->make_list")), out)
    expect_in(re.compile(r"#3 0x[0-9a-f]+ in __libc_start_main"), out)
    expect_in("SUMMARY: forkleak: 196 byte(s) leaked in 4 allocation(s).", out)
    expect(err == "", f"unexpected stderr: {err}")


@test
def kind_reachable(ctx):
    """Groups of blocks still reachable (FORKLEAK_REACHABLE=yes) show only with --kind reachable,
    titled as such, and never count as leaks."""
    d, exe = c_fixture(ctx, pie=True)
    text = open(os.path.join(d, "fl.4242.1000.report")).read()
    text = text.replace("group kind=direct origin=own stack=2 blocks=1 bytes=32\n", "")
    text = text.replace("group kind=indirect origin=own stack=2 blocks=2 bytes=64\n",
                        "group kind=reachable origin=own stack=2 blocks=3 bytes=96\n")
    text = text.replace("direct_blocks=2 direct_bytes=132 indirect_blocks=2 indirect_bytes=64",
                        "direct_blocks=1 direct_bytes=100 reachable_blocks=3 reachable_bytes=96")
    text = re.sub(r"end records=(\d+)", lambda m: "end records=%d" % (int(m.group(1)) - 1), text)
    r = os.path.join(ctx.work, "reachable")
    write(os.path.join(r, "fl.4242.1000.report"), text)
    rc, out, err = ctx.run(["report", r])
    expect_rc(rc, 1, out, err)
    expect_in("Direct leak of 100 byte(s) in 1 object(s)", out)
    expect("reachable" not in out.lower(), "a reachable group shown without --kind reachable")
    rc, out, err = ctx.run(["report", "--kind", "reachable", r])
    expect_rc(rc, 0, out, err)
    expect_in("Still reachable: 96 byte(s) in 3 object(s) allocated from:", out)
    expect_in(frame_re("make_list", "leaky.c", site_line("leaky.c", "make_list")), out)
    expect("Direct leak" not in out, "--kind reachable showed a leak")
    expect("warning" not in err and "note" not in out.lower(), "totals disagree: " + err + out)
    rc, out, err = ctx.run(["report", "--kind", "reachable", "--format", "json", r])
    expect_rc(rc, 0, out, err)
    kinds = [g["kind"] for g in json.loads(out)["processes"][0]["leaks"]]
    expect(kinds == ["reachable"], f"JSON kinds with --kind reachable: {kinds}")


@test
def symbolize_c_pie(ctx):
    d, exe = c_fixture(ctx, pie=True)
    rc, out, err = ctx.run(["report", d])
    expect_rc(rc, 1, out, err)
    expect_in(frame_re("grab", "leaky.c", site_line("leaky.c", "grab")), out)
    expect_in(frame_re("make_buffer", "leaky.c", site_line("leaky.c", "make_buffer->grab")), out)
    expect_in(frame_re("main", "leaky.c", site_line("leaky.c", "main->make_list")), out)
    expect_in("#0 0x5555", out)


@test
def symbolize_cxx_demangled(ctx):
    d, exe = cxx_fixture(ctx)
    rc, out, err = ctx.run(["report", d])
    expect_rc(rc, 1, out, err)
    expect_in(re.compile(r"#0 0x[0-9a-f]+ in operator new\(unsigned long\)"), out)
    expect_in(frame_re("zoo::Keeper::adopt(char const*)", "leaky.cc",
                       site_line("leaky.cc", "Keeper::adopt")), out)
    expect_in(frame_re("main", "leaky.cc", site_line("leaky.cc", "main->adopt")), out)
    expect_in(re.compile(r"#0 0x[0-9a-f]+ in operator new\[\]\(unsigned long\)"), out)
    expect_in(frame_re("int* zoo::Keeper::make_many<int>(int)", "leaky.cc",
                       site_line("leaky.cc", "Keeper::make_many")), out)
    # The suppression to generate skips the allocator frame.
    rc, out, err = ctx.run(["report", "--gen-suppressions", d])
    expect_in("leak:zoo::Keeper::adopt(char const*)\n", out)
    expect_in("leak:int* zoo::Keeper::make_many<int>(int)\n", out)


@test
def symbolize_json_frames(ctx):
    d, exe = c_fixture(ctx, pie=False)
    rc, out, err = ctx.run(["report", "--format", "json", d])
    expect_rc(rc, 1, out, err)
    doc = json.loads(out)
    leak = doc["processes"][0]["leaks"][0]
    f0, f1 = leak["stack"][0], leak["stack"][1]
    expect(f0["function"] == "grab" and f0["inlined"] is True, f"frame 0: {f0}")
    expect(f1["function"] == "make_buffer" and f1["inlined"] is False, f"frame 1: {f1}")
    expect(f0["ip"] == f1["ip"] and f0["module"] == exe, f"ip/module: {f0} {f1}")
    expect(f0["line"] == site_line("leaky.c", "grab") and f0["file"].endswith("leaky.c"),
           f"file/line: {f0}")
    expect(int(f0["offset"], 16) == int(f0["ip"], 16), "offset of a non-PIE frame is its ip")
    mods = doc["processes"][0]["modules"]
    expect(mods[0]["build_id_match"] is True, f"modules: {mods}")


@test
def build_id_mismatch(ctx):
    d, exe = c_fixture(ctx, pie=False)
    bad = os.path.join(ctx.work, "mismatch")
    os.makedirs(bad, exist_ok=True)
    text = open(os.path.join(d, "fl.4242.1000.report")).read()
    text = re.sub(r"buildid=[0-9a-f]+ path=" + re.escape(exe), "buildid=" + "ab" * 20 +
                  " path=" + exe, text)
    write(os.path.join(bad, "fl.4242.1000.report"), text)
    rc, out, err = ctx.run(["report", bad])
    expect_rc(rc, 1, out, err)
    expect_in(re.compile(r"#0 0x[0-9a-f]+ \(.*leaky_nopie\+0x[0-9a-f]+\) \[build-id mismatch\]"),
              out)
    expect("make_buffer" not in out, "a mismatched module must not be symbolized")
    expect_in("has build-id", err, "stderr")
    expect_in("ab" * 20, err, "stderr")
    rc, out, err = ctx.run(["report", "--format", "json", bad])
    doc = json.loads(out)
    expect(doc["processes"][0]["modules"][0]["build_id_match"] is False, "build_id_match")
    expect(doc["processes"][0]["leaks"][0]["stack"][0]["build_id_mismatch"] is True, "flag")


@test
def unresolvable_frames(ctx):
    recs = ["module id=0 base=0x400000 lo=0x400000 hi=0x500000 buildid=- "
            "path=/nonexistent/forkleak-test/gone",
            "stack id=1 0x401234 0x0 0x900000",
            "group kind=direct origin=own stack=1 blocks=1 bytes=8"]
    d = os.path.join(ctx.work, "unresolvable")
    write(os.path.join(d, "fl.5.1.report"), report_text(5, recs))
    rc, out, err = ctx.run(["report", d])
    expect_rc(rc, 1, out, err)
    expect_in("    #0 0x401234 (/nonexistent/forkleak-test/gone+0x1234)\n"
              "    #1 0x0\n    #2 0x900000\n", out)
    expect_in("cannot read /nonexistent/forkleak-test/gone", err, "stderr")


@test
def shim_frames_dropped(ctx):
    recs = ["module id=0 base=0x7f0000000000 lo=0x7f0000000000 hi=0x7f0000100000 buildid=- "
            "path=/opt/x/lib/libforkleak.so",
            "module id=1 base=0x400000 lo=0x400000 hi=0x500000 buildid=- path=/nonexistent/p",
            "stack id=1 0x7f0000001000 0x7f0000002000 0x401000 0x7f0000003000",
            "group kind=direct origin=own stack=1 blocks=1 bytes=8"]
    d = os.path.join(ctx.work, "shimframes")
    write(os.path.join(d, "fl.6.1.report"), report_text(6, recs))
    rc, out, err = ctx.run(["report", "--no-symbolize", d])
    expect_in("    #0 0x401000 (/nonexistent/p+0x1000)\n"
              "    #1 0x7f0000003000 (/opt/x/lib/libforkleak.so+0x3000)\n", out)


# ---------------------------------------------------------------- tests: formats and filters

TREE = os.path.join(FIX, "tree")


@test
def text_golden_tree(ctx):
    rc, out, err = ctx.run(["report", TREE])
    expect_rc(rc, 1, out, err)
    ctx.golden("tree.txt", out + "--- stderr\n" + err)


FILTERS = [
    ("tree-pid-101.txt", ["--pid", "101"], 1),
    ("tree-pid-102.txt", ["--pid", "102"], 0),
    ("tree-kind-direct.txt", ["--kind", "direct"], 1),
    ("tree-kind-indirect.txt", ["--kind", "indirect"], 1),
    ("tree-origin-own.txt", ["--origin", "own"], 1),
    ("tree-origin-inherited.txt", ["--origin", "inherited"], 1),
    ("tree-min-bytes-300.txt", ["--min-bytes", "300"], 1),
    ("tree-min-bytes-huge.txt", ["--min-bytes", "0x100000"], 0),
]


def make_filter_test(golden, flags, want):
    def t(ctx):
        rc, out, err = ctx.run(["report", "--no-symbolize"] + flags + [TREE])
        expect_rc(rc, want, out, err)
        ctx.golden(golden, out)
    t.__name__ = "filter_" + golden[:-4].replace("-", "_")
    return t


for _g, _f, _w in FILTERS:
    test(make_filter_test(_g, _f, _w))


@test
def filters_apply_to_json(ctx):
    rc, out, err = ctx.run(["report", "--no-symbolize", "--format", "json", "--kind", "indirect",
                            "--origin", "own", TREE])
    expect_rc(rc, 1, out, err)
    doc = json.loads(out)
    kinds = {(l["kind"], l["origin"]) for p in doc["processes"] for l in p["leaks"]}
    expect(kinds == {("indirect", "own")}, f"kinds shown: {kinds}")
    expect(doc["totals"]["leaked_bytes"] == 256, f"totals: {doc['totals']}")
    rc, out, err = ctx.run(["report", "--no-symbolize", "--format", "json", "--pid", "103",
                            "--pid", "100", TREE])
    doc = json.loads(out)
    expect(sorted(p["pid"] for p in doc["processes"]) == [100, 103], "pids shown")
    expect(doc["filters"]["pids"] == [103, 100], f"filters echoed: {doc['filters']}")


@test
def json_schema_tree(ctx):
    rc, out, err = ctx.run(["report", "--no-symbolize", "--format", "json", TREE])
    expect_rc(rc, 1, out, err)
    doc = json.loads(out)
    expect(doc["format"] == "forkleak-json" and doc["version"] == 1, "format/version")
    for key in ("processes", "tree", "combined", "suppressions", "errors", "totals"):
        expect(isinstance(doc[key], (list, dict)), f"top-level {key}")
    procs = {(p["pid"], p["start_ns"]): p for p in doc["processes"]}
    expect(len(procs) == 5, f"{len(procs)} processes")
    need = {"pid", "ppid", "gen", "exe", "argv", "exit", "summary", "leaks", "inherited",
            "memory", "cow", "prefault", "children", "warnings", "report_file"}
    sneed = {"leaked_bytes", "leaked_blocks", "direct_bytes", "direct_blocks", "indirect_bytes",
             "indirect_blocks", "orphan_bytes", "orphan_blocks", "reachable_bytes",
             "reachable_blocks", "live_bytes", "live_blocks", "check"}
    lneed = {"kind", "origin", "from_pid", "from_gen", "blocks", "bytes", "stack"}
    fneed = {"ip", "module", "offset", "function", "file", "line", "inlined"}
    for p in doc["processes"]:
        expect(need <= set(p), f"process keys missing: {need - set(p)}")
        s = p["summary"]
        expect(sneed <= set(s), f"summary keys missing: {sneed - set(s)}")
        expect(s["leaked_bytes"] == s["direct_bytes"] + s["indirect_bytes"], "leaked = d + i")
        expect(s["leaked_blocks"] == s["direct_blocks"] + s["indirect_blocks"], "blocks d + i")
        expect(s["check"] in ("reachability", "none"), f"check {s['check']}")
        expect(set(p["exit"]) >= {"kind", "status"}, "exit keys")
        for l in p["leaks"]:
            expect(lneed <= set(l), f"leak keys missing: {lneed - set(l)}")
            for f in l["stack"]:
                expect(fneed <= set(f), f"frame keys missing: {fneed - set(f)}")
                expect(f["ip"].startswith("0x"), "ip is a 0x string")
    p100 = procs[(100, 1000)]
    p101 = procs[(101, 2000)]
    expect(p101["summary"]["leaked_bytes"] == 2916, f"101 leaked {p101['summary']}")
    expect(p101["summary"]["inherited_leaked_bytes"] == 2816, "101 inherited")
    expect(p101["cow"]["copied_pages"] == 20 and len(p101["cow"]["sites"]) == 2, "cow")
    expect(p101["prefault"]["mode"] == "heap" and p101["prefault"]["pages"] == 120, "prefault")
    expect(p101["memory"]["exit"]["rss_kb"] == 3100, "memory")
    expect(p101["memory"]["prefault"]["private_dirty_kb"] == 480, "memory after prefault")
    expect(p100["memory"]["prefault"] is None, "no prefault phase in 100")
    expect([(s["stack_id"], s["pages"]) for s in p101["cow"]["sites"]] == [(2, 15), (1, 5)],
           "cow sites from `cow stack=` and `cowsite`")
    expect(p101["parent"] == {"pid": 100, "start_ns": 1000}, f"parent {p101['parent']}")
    p100 = procs[(100, 1000)]
    expect(p100["summary"]["reachable_bytes"] == 512, "reachable from the summary record")
    kids = {c["pid"]: c["has_report"] for c in p100["children"]}
    expect(kids == {101: True, 102: True, 104: False}, f"children {kids}")
    img2 = procs[(102, 3600)]
    expect(img2["exec_from"] == {"pid": 102, "start_ns": 3000}, "exec chain")
    expect(img2["summary"]["check"] == "none" and img2["summary"]["live_bytes"] == 300, "live")
    p103 = procs[(103, 4000)]
    expect(p103["exit"] == {"kind": "_exit", "status": 3, "target": None}, "exit of 103")
    expect(p103["summary"]["orphan_bytes"] == 48, "orphans")
    expect(p103["warnings"] == ["could not stop thread 7 (blocked signals)"], "warnings")
    blocks = p103["inherited_blocks"]
    expect([(b["addr"], b["size"], b["stack_id"]) for b in blocks] ==
           [("0x5555557a0010", 1024, 1), ("0x5555557a0420", 1024, 1), ("0x5555557a0830", 64, 4)],
           f"inherited blocks {blocks}")
    expect(sorted(p103["block_stacks"]) == ["1", "4"] and
           p103["block_stacks"]["4"][0]["offset"] == "0x1130", "block stacks")
    expect(p101["inherited_blocks"] == [] and p101["block_stacks"] == {}, "no blocks in 101")
    # The tree: DFS order, one placeholder.
    tree = doc["tree"]
    expect([n["pid"] for n in tree] == [100, 101, 103, 102, 102, 104], f"tree order")
    expect(tree[5]["has_report"] is False and tree[5]["parent"] == 0, "placeholder 104")
    expect(tree[4]["exec_from"] == 3 and tree[4]["parent"] == 0, "exec image in tree")
    expect(tree[0]["children"] == [1, 3, 5], f"children of root {tree[0]['children']}")
    # The combined view counts the pre-fork leak once.
    comb = doc["combined"]
    first = comb[0]
    expect(first["bytes"] == 2048 and first["processes"] == [100] and
           first["leaked_before_fork"] and first["inherited_by"] == [101, 103], f"{first}")
    own2 = [c for c in comb if c["processes"] == [101, 103]]
    expect(len(own2) == 1 and own2[0]["bytes"] == 200, "own leak in 2 processes")
    inh = [c for c in comb if c["origin"] == "inherited" and c["kind"] == "direct"]
    expect({(c["allocated_in"]["pid"], c["bytes"]) for c in inh} == {(100, 512), (101, 64)},
           f"before-fork entries {inh}")
    expect(doc["totals"]["leaked_bytes"] == 3080, f"totals {doc['totals']}")


@test
def sarif_structure(ctx):
    d, exe = c_fixture(ctx, pie=False)
    rc, out, err = ctx.run(["report", "--format", "sarif", d])
    expect_rc(rc, 1, out, err)
    doc = json.loads(out)
    expect(doc["version"] == "2.1.0" and "sarif" in doc["$schema"], "version/schema")
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    expect(driver["name"] == "forkleak" and driver["rules"], "driver")
    ids = [r["id"] for r in driver["rules"]]
    for r in driver["rules"]:
        expect({"id", "shortDescription"} <= set(r) and "text" in r["shortDescription"], "rule")
    results = run["results"]
    expect(len(results) == 3, f"{len(results)} results")
    levels = {"none", "note", "warning", "error"}
    for res in results:
        expect(res["ruleId"] in ids and ids[res["ruleIndex"]] == res["ruleId"], "ruleId/Index")
        expect(res["level"] in levels and res["message"]["text"], "level/message")
        loc = res["locations"][0]["physicalLocation"]
        expect(loc["artifactLocation"]["uri"].endswith("leaky.c"), f"uri {loc}")
        expect(loc["region"]["startLine"] >= 1, "startLine")
        expect(res["stacks"][0]["frames"], "stack frames")
        expect(res["partialFingerprints"], "fingerprints")
    lines = {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results}
    expect(lines == {site_line("leaky.c", "grab"), site_line("leaky.c", "make_list")},
           f"locations {lines}")
    expect(run["invocations"][0]["executionSuccessful"] is True, "invocation")
    # Relative to %SRCROOT% when the source is under the current directory.
    rc, out, err = ctx.run(["report", "--format", "sarif", d], cwd=ROOT)
    loc = json.loads(out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    expect(loc["artifactLocation"] == {"uri": "tests/tool/progs/leaky.c", "uriBaseId": "SRCROOT"},
           f"relative uri {loc}")


@test
def sarif_tree_and_errors(ctx):
    d = os.path.join(ctx.work, "sarif-bad")
    shutil.copytree(TREE, d, dirs_exist_ok=True)
    write(os.path.join(d, "fl.9.9.report"), "")
    rc, out, err = ctx.run(["report", "--no-symbolize", "--format", "sarif", d])
    expect_rc(rc, 2, out, err)
    doc = json.loads(out)
    run = doc["runs"][0]
    expect(len(run["results"]) == 7, f"{len(run['results'])} results (combined entries)")
    expect(run["invocations"][0]["executionSuccessful"] is False, "unsuccessful")
    notes = run["invocations"][0]["toolExecutionNotifications"]
    expect(len(notes) == 1 and "fl.9.9.report" in notes[0]["message"]["text"], f"{notes}")


@test
def folded_golden(ctx):
    rc, out, err = ctx.run(["report", "--no-symbolize", "--format", "folded", TREE])
    expect_rc(rc, 1, out, err)
    ctx.golden("tree.folded", out)
    d, exe = c_fixture(ctx, pie=False)
    rc, out, err = ctx.run(["report", "--format", "folded", d])
    expect_in(re.compile(r"^leaky_nopie;__libc_start_main[^;]*;main;make_buffer;grab 100$", re.M),
              out)
    expect_in(re.compile(r"^leaky_nopie;__libc_start_main[^;]*;main;make_list 96$", re.M), out)


@test
def gen_suppressions(ctx):
    d, exe = c_fixture(ctx, pie=False)
    rc, out, err = ctx.run(["report", "--gen-suppressions", d])
    expect_in("# Suppressions for the leaks above (forkleak --gen-suppressions):\n"
              "leak:grab\nleak:make_list\n", out)
    block = out.split("(forkleak --gen-suppressions):\n")[1].split("\n\n")[0]
    supp = write(os.path.join(ctx.work, "generated.supp"), block + "\n")
    rc, out, err = ctx.run(["report", "--suppressions", supp, d])
    expect_rc(rc, 0, out, err)
    rc, out, err = ctx.run(["report", "--gen-suppressions", "--format", "json", d])
    expect(json.loads(out)["generated_suppressions"] == ["leak:grab", "leak:make_list"], out)


# ---------------------------------------------------------------- tests: suppressions

def supp_case(ctx, name, lines, want_rc, want_hits):
    d, exe = c_fixture(ctx, pie=False)
    supp = write(os.path.join(ctx.work, name + ".supp"), "\n".join(lines) + "\n")
    rc, text, err = ctx.run(["report", "--suppressions", supp, d])
    expect_rc(rc, want_rc, text, err)
    expect_in("Suppressions used:\n  count      bytes template\n", text)
    for count, nbytes, templ in want_hits:
        expect_in(re.compile(rf"^\s+{count}\s+{nbytes} {re.escape(templ)}$", re.M), text)
    rc, out, err = ctx.run(["report", "--format", "json", "--suppressions", supp, d])
    doc = json.loads(out)
    got = [(s["hits"], s["bytes"], "leak:" + s["pattern"]) for s in doc["suppressions"]
           if s["hits"]]
    expect(got == [tuple(h) for h in want_hits], f"json suppressions {got}")
    return text


@test
def suppress_by_function(ctx):
    out = supp_case(ctx, "byfunc", ["# comment", "", "leak:make_list"], 1,
                    [(2, 96, "leak:make_list")])
    expect_in("Direct leak of 100 byte(s)", out)


@test
def suppress_by_file(ctx):
    supp_case(ctx, "byfile", ["leak:progs/leaky.c"], 0, [(3, 196, "leak:progs/leaky.c")])


@test
def suppress_by_module(ctx):
    supp_case(ctx, "bymodule", ["leak:libc.so.6"], 0, [(3, 196, "leak:libc.so.6")])


@test
def suppress_wildcards_and_anchors(ctx):
    supp_case(ctx, "wild", ["leak:^make_l*t$", "leak:^rab", "leak:gr*b$"], 0,
              [(2, 96, "leak:^make_l*t$"), (1, 100, "leak:gr*b$")])


@test
def suppress_env_variable(ctx):
    d, exe = c_fixture(ctx, pie=False)
    supp = write(os.path.join(ctx.work, "env.supp"), "leak:make_buffer\n")
    rc, out, err = ctx.run(["report", d], env={"FORKLEAK_SUPPRESSIONS": supp})
    expect_rc(rc, 1, out, err)
    expect_in(re.compile(r"^\s+1\s+100 leak:make_buffer$", re.M), out)


@test
def suppress_bad_file(ctx):
    d, exe = c_fixture(ctx, pie=False)
    supp = write(os.path.join(ctx.work, "bad.supp"), "leak:ok\nrace:foo\n")
    rc, out, err = ctx.run(["report", "--suppressions", supp, d])
    expect_rc(rc, 2, out, err)
    expect_in(f"forkleak: error: {supp}:2: suppression type 'race' is not supported", err)
    rc, out, err = ctx.run(["report", "--suppressions", supp + ".missing", d])
    expect_rc(rc, 2, out, err)
    expect_in("cannot read suppressions: No such file or directory", err)


@test
def suppress_template_semantics(ctx):
    # Unit-level checks through the tool: each pattern against the function "make_list".
    cases = [("make_list", True), ("ake_li", True), ("^make", True), ("^ake", False),
             ("list$", True), ("lis$", False), ("m*_*t", True), ("*", True), ("^make_list$", True),
             ("^x*", False), ("st$", True)]
    d, exe = c_fixture(ctx, pie=False)
    for pat, match in cases:
        supp = write(os.path.join(ctx.work, "tm.supp"), f"leak:{pat}\n")
        rc, out, err = ctx.run(["report", "--kind", "indirect", "--suppressions", supp, d])
        expect(("Suppressions used" in out) == match, f"pattern {pat!r}: expected "
               f"{'a match' if match else 'no match'}\n{out}")


# ---------------------------------------------------------------- tests: bad input

BAD = [
    # file, line (None: whole file), message substring
    ("empty.report", None, "empty file (not a forkleak report)"),
    ("truncated.report", 6, "truncated: the last line has no newline"),
    ("no-end.report", 6, "truncated: no 'end records=N' line"),
    ("bad-count.report", 7, "corrupt: 'end records=9' but the file has 5 records"),
    ("corrupt-pid.report", 2, "pid='12ab' is not a number"),
    ("wrong-version.report", 1, "unsupported report format version '2'"),
    ("not-a-report.report", 1, "not a forkleak report"),
    ("nul-byte.report", 3, "NUL byte at column 9"),
    ("control-byte.report", 3, "byte 0x1b at column 10 is not printable ASCII"),
    ("huge-number.report", 7, "bytes='99999999999999999999999' is out of range (more than 64"),
    ("pid-range.report", 2, "pid=4294967296 is out of range"),
    ("bad-escape.report", 3, "bad %-escape in path '%G1'"),
    ("escaped-nul.report", 3, "path contains an escaped NUL byte (%00)"),
    ("undefined-stack.report", 7, "stack=9 is not defined by any 'stack' record"),
    ("duplicate-process.report", 3, "duplicate 'process' record"),
    ("duplicate-key.report", 2, "duplicate key 'pid='"),
    ("missing-process.report", None, "no 'process' record"),
    ("unknown-kind.report", 7, "kind='weird' is not one of direct, indirect, orphan, live, "
                               "reachable"),
    ("module-range.report", 6, "module lo=0x500000 is above hi=0x400000"),
    ("after-end.report", 8, "data after the 'end' record"),
    ("bad-lineage.report", 3, "lineage entry '100-0' is not PID:GEN"),
    ("bad-frame.report", 6, "frame 'main' is not an address"),
    ("empty-line.report", 3, "empty line (every line is a record)"),
]


def bad_dir(ctx, name, files):
    d = os.path.join(ctx.work, "bad-" + name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    shutil.copy(os.path.join(FIX, "good", "fl.1.1000.report"), d)
    for fname, content in files.items():
        if isinstance(content, bytes):
            write(os.path.join(d, fname), content, "wb")
        elif content is not None:
            write(os.path.join(d, fname), content)
    return d


def expect_bad(ctx, d, fname, line, message):
    rc, out, err = ctx.run(["report", "--no-symbolize", d])
    expect_rc(rc, 2, out, err)
    path = os.path.join(d, fname)
    where = f"{path}:{line}" if line else path
    errors = [l for l in err.splitlines() if l.startswith("forkleak: error:")]
    expect(len(errors) == 1, f"expected one error line, got:\n{err}")
    expect(errors[0].startswith(f"forkleak: error: {where}: ") and message in errors[0],
           f"expected 'forkleak: error: {where}: …{message}…', got:\n{errors[0]}")
    # Every other report is still read and reported.
    expect_in("== pid 1 /bin/good", out)
    expect_in("Direct leak of 10 byte(s)", out)
    return out, err


def make_bad_test(fname, line, message):
    def t(ctx):
        with open(os.path.join(FIX, "bad", fname), "rb") as f:
            content = f.read()
        d = bad_dir(ctx, fname, {fname: content})
        expect_bad(ctx, d, fname, line, message)
    t.__name__ = "bad_input_" + fname[:-7].replace("-", "_")
    return t


for _b in BAD:
    test(make_bad_test(*_b))


@test
def bad_input_binary_garbage(ctx):
    garbage = bytes((i * 167 + 13) % 256 for i in range(4096))
    d = bad_dir(ctx, "garbage", {"fl.2.2.report": garbage})
    expect_bad(ctx, d, "fl.2.2.report", 1, "not a forkleak report")


@test
def bad_input_very_long_line(ctx):
    long = "forkleak-report 1\nprocess pid=2 ppid=1 gen=0 start_ns=1 tid=2 pad=" + \
           "x" * (17 * 1024 * 1024) + "\n"
    d = bad_dir(ctx, "longline", {"fl.2.2.report": long})
    expect_bad(ctx, d, "fl.2.2.report", 2, "line is longer than 16 MiB")


@test
def bad_input_too_many_frames(ctx):
    frames = " ".join(hex(0x400000 + i) for i in range(2000))
    text = report_text(2, [f"stack id=1 {frames}",
                           "group kind=direct origin=own stack=1 blocks=1 bytes=1"])
    d = bad_dir(ctx, "frames", {"fl.2.2.report": text})
    expect_bad(ctx, d, "fl.2.2.report", 7, "stack id=1 has 2000 frames (at most 1024)")


@test
def bad_input_symlink(ctx):
    d = bad_dir(ctx, "symlink", {})
    os.symlink(os.path.join(FIX, "good", "fl.1.1000.report"), os.path.join(d, "fl.2.2.report"))
    expect_bad(ctx, d, "fl.2.2.report", None, "is a symbolic link")
    # Named explicitly, a symlink is followed.
    rc, out, err = ctx.run(["report", "--no-symbolize", os.path.join(d, "fl.2.2.report")])
    expect_rc(rc, 1, out, err)


@test
def bad_input_fifo_and_directory(ctx):
    d = bad_dir(ctx, "fifo", {})
    os.mkfifo(os.path.join(d, "fl.2.2.report"))
    expect_bad(ctx, d, "fl.2.2.report", None, "not a regular file")
    d = bad_dir(ctx, "subdir", {})
    os.mkdir(os.path.join(d, "fl.3.3.report"))
    expect_bad(ctx, d, "fl.3.3.report", None, "not a regular file")


@test
def bad_input_missing_path(ctx):
    rc, out, err = ctx.run(["report", os.path.join(ctx.work, "no-such-dir"),
                            os.path.join(FIX, "good")])
    expect_rc(rc, 2, out, err)
    expect_in("no-such-dir: cannot open: No such file or directory", err)
    expect_in("== pid 1 /bin/good", out)


@test
def bad_input_duplicate_image(ctx):
    d = bad_dir(ctx, "dup", {})
    shutil.copy(os.path.join(d, "fl.1.1000.report"), os.path.join(d, "fl.1.1000.copy.report"))
    rc, out, err = ctx.run(["report", "--no-symbolize", d])
    expect_rc(rc, 2, out, err)
    expect_in("duplicate report of pid 1 started at 1000", err)
    expect(out.count("== pid 1 ") == 1, "reported once")


@test
def bad_input_errors_in_json(ctx):
    d = bad_dir(ctx, "json", {"fl.2.2.report": "forkleak-report 1\nprocess pid=x\n"})
    rc, out, err = ctx.run(["report", "--no-symbolize", "--format", "json", d])
    expect_rc(rc, 2, out, err)
    errs = json.loads(out)["errors"]
    expect(len(errs) == 1 and errs[0]["line"] == 2 and errs[0]["file"].endswith("fl.2.2.report")
           and "pid='x'" in errs[0]["message"], f"{errs}")


@test
def hostile_but_valid(ctx):
    """Counts near 2^64 are valid: sums saturate, JSON stays valid, nothing crashes."""
    big = "18446744073709551615"
    recs = ["stack id=1 0x1", "stack id=18446744073709551615 0xffffffffffffffff",
            f"group kind=direct origin=own stack=1 blocks={big} bytes={big}",
            f"group kind=indirect origin=own stack=18446744073709551615 blocks={big} bytes={big}",
            f"group kind=direct origin=inherited stack=1 blocks=1 bytes={big} "
            "from_pid=2147483647 from_gen=4294967295",
            f"inherited stack=1 blocks={big} bytes={big} leaked_bytes={big}",
            f"memory phase=exit rss_kb={big} minflt={big}",
            f"summary check=reachability direct_blocks={big} direct_bytes={big}",
            "child pid=2147483647 time_ns=18446744073709551615 how=fork",
            "newrecord with=unknown keys", "warning text=%1B%5B31mred%FF"]
    d = os.path.join(ctx.work, "hostile")
    write(os.path.join(d, "fl.7.7.report"),
          report_text(2147483647, recs, gen=4294967295, start=18446744073709551615,
                      lineage="1:0"))
    for fmt in ("text", "json", "folded", "sarif"):
        rc, out, err = ctx.run(["report", "--no-symbolize", "--format", fmt, d])
        expect_rc(rc, 1, out, err)
        if fmt in ("json", "sarif"):
            json.loads(out)
    rc, out, err = ctx.run(["report", "--no-symbolize", d])
    expect_in(f"SUMMARY: forkleak: {big} byte(s) leaked", out)
    expect_in("\\x1b[31mred", out)
    expect("\x1b" not in out, "control bytes from a report must not reach the terminal")
    rc, out, err = ctx.run(["report", "--no-symbolize", "--format", "json", d])
    doc = json.loads(out)
    expect(doc["processes"][0]["warnings"] == ["\x1b[31mred\\xff"], doc["processes"][0]["warnings"])


@test
def unknown_records_and_keys_ignored(ctx):
    d = os.path.join(ctx.work, "future")
    write(os.path.join(d, "fl.3.3.report"), report_text(3, [
        "stack id=1 0x10 extra=1", "group kind=direct origin=own stack=1 blocks=1 bytes=5 "
        "color=blue", "hologram depth=3", "memory phase=fork rss_kb=1"]))
    rc, out, err = ctx.run(["report", "--no-symbolize", d])
    expect_rc(rc, 1, out, err)
    expect_in("Direct leak of 5 byte(s)", out)


OTHER_FORMATS = ("folded", "sarif")


@test
def fuzz_regressions(ctx):
    d = os.path.join(FIX, "fuzz")
    files = sorted(f for f in os.listdir(d) if f != "README") if os.path.isdir(d) else []
    for f in files:
        rc, out, err = ctx.run(["report", "--no-symbolize", os.path.join(d, f)])
        expect(rc in (0, 1, 2), f"{f}: exit {rc}")
        rc, out, err = ctx.run(["report", "--no-symbolize", "--format", "json",
                                os.path.join(d, f)])
        json.loads(out)
        # every other format too (a report naming its program exe=/dir/ once left a folded
        # line without text, and strcmp got NULL)
        for fmt in OTHER_FORMATS:
            rc, out, err = ctx.run(["report", "--no-symbolize", "--format", fmt,
                                    os.path.join(d, f)])
            expect(rc in (0, 1, 2), f"{f}: --format {fmt}: exit {rc}")
    if not files:
        raise Skip("no fuzz regression inputs")


# ---------------------------------------------------------------- tests: tree corner cases

@test
def snapshot_superseded(ctx):
    rc, out, err = ctx.run(["report", "--no-symbolize", os.path.join(FIX, "snapshot")])
    expect_rc(rc, 1, out, err)
    ctx.golden("snapshot.txt", out)


@test
def pid_reuse_and_spawn(ctx):
    rc, out, err = ctx.run(["report", "--no-symbolize", os.path.join(FIX, "reuse")])
    expect_rc(rc, 0, out, err)
    ctx.golden("reuse.txt", out)


# ---------------------------------------------------------------- tests: command line

@test
def help_and_version(ctx):
    rc, out, err = ctx.run(["--help"])
    expect_rc(rc, 0, out, err)
    expect_in("usage: forkleak [--version] [--help] <command> [<args>]", out)
    for cmd in ("run", "report"):
        rc, out, err = ctx.run([cmd, "--help"])
        expect_rc(rc, 0, out, err)
        expect_in(f"usage: forkleak {cmd} ", out)
        rc2, out2, err2 = ctx.run(["help", cmd])
        expect(out2 == out, "help CMD is CMD --help")
    rc, out, err = ctx.run(["--version"])
    expect_rc(rc, 0, out, err)
    expect(re.match(r"forkleak \d+\.\d+\.\d+ ", out), out)
    rc, out, err = ctx.run(["frobnicate"])
    expect_rc(rc, 2, out, err)
    expect_in("'frobnicate' is not a forkleak command", err)
    rc, out, err = ctx.run([])
    expect_rc(rc, 2, out, err)


@test
def report_usage_errors(ctx):
    cases = [
        (["--format", "xml", TREE], "--format='xml' is not one of text, json, folded, sarif"),
        (["--kind", "both", TREE], "--kind='both' is not one of direct, indirect, all"),
        (["--origin", "mine", TREE], "--origin='mine' is not one of own, inherited, all"),
        (["--min-bytes", "10k", TREE], "--min-bytes='10k' is not a number of bytes"),
        (["--pid", "0", TREE], "--pid='0' is not a process id"),
        (["--bogus", TREE], "unknown option '--bogus'"),
        (["--format"], "option '--format' needs a value"),
        ([], "no report directory or file given"),
    ]
    for argv, msg in cases:
        rc, out, err = ctx.run(["report"] + argv)
        expect_rc(rc, 2, out, err)
        expect_in(f"forkleak: error: {msg}", err, "stderr")


@test
def report_empty_dir(ctx):
    d = os.path.join(ctx.work, "emptydir")
    os.makedirs(d, exist_ok=True)
    write(os.path.join(d, ".fl.1.1.tmp"), "partial")
    write(os.path.join(d, "notes.txt"), "x")
    rc, out, err = ctx.run(["report", d])
    expect_rc(rc, 0, out, err)
    expect_in("holds no *.report files", err)
    expect_in("forkleak: no leaks in 0 process(es).", out)


# ---------------------------------------------------------------- tests: forkleak run

def fake_shim(ctx):
    out = os.path.join(ctx.work, "lib", "fakeshim.so")
    if not os.path.exists(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", out,
                        os.path.join(PROGS, "fakeshim.c")], check=True)
    return out


def run_env(ctx, **extra):
    env = {"FORKLEAK_LIB": fake_shim(ctx), "TMPDIR": os.path.join(ctx.work, "tmp")}
    os.makedirs(env["TMPDIR"], exist_ok=True)
    env.update(extra)
    return env


@test
def run_clean_program(ctx):
    env = run_env(ctx)
    rc, out, err = ctx.run(["run", "--", "/bin/echo", "hello"], env=env)
    expect_rc(rc, 0, out, err)
    expect(out == "hello\n", f"program output changed: {out!r}")
    expect_in("forkleak: no leaks in 1 process(es).", err)
    expect(os.listdir(env["TMPDIR"]) == [], "the default report directory is removed")


@test
def run_exit_status(ctx):
    env = run_env(ctx, FAKESHIM_LEAK="40")
    rc, out, err = ctx.run(["run", "/bin/true"], env=env)
    expect_rc(rc, 23, out, err)
    expect_in("Direct leak of 40 byte(s) in 1 object(s)", err)
    rc, out, err = ctx.run(["run", "--error-exitcode", "0", "/bin/true"], env=env)
    expect_rc(rc, 0, out, err)
    rc, out, err = ctx.run(["run", "--error-exitcode", "7", "/bin/true"], env=env)
    expect_rc(rc, 7, out, err)
    rc, out, err = ctx.run(["run", "--", "/bin/sh", "-c", "exit 3"], env=env)
    expect_rc(rc, 3, out, err)
    rc, out, err = ctx.run(["run", "--", "/bin/sh", "-c", "kill -TERM $$"], env=env)
    expect_rc(rc, 128 + signal.SIGTERM, out, err)
    expect_in("left no report", err)
    supp = write(os.path.join(ctx.work, "run.supp"), "leak:bin/true\n")
    rc, out, err = ctx.run(["run", "--suppressions", supp, "/bin/true"], env=env)
    expect_rc(rc, 0, out, err)


@test
def run_unreadable_report(ctx):
    env = run_env(ctx, FAKESHIM_CORRUPT="1")
    rc, out, err = ctx.run(["run", "--", "/bin/true"], env=env)
    expect_rc(rc, 23, out, err)
    expect_in(re.compile(r"forkleak: error: \S+/fl\.\d+\.\d+\.report:\d+: corrupt: 'end records="),
              err)
    rc, out, err = ctx.run(["run", "--error-exitcode", "0", "--", "/bin/true"], env=env)
    expect_rc(rc, 0, out, err)
    rc, out, err = ctx.run(["run", "--", "/bin/sh", "-c", "exit 5"], env=env)
    expect_rc(rc, 5, out, err)


@test
def run_settings_reach_the_shim(ctx):
    env = run_env(ctx, LD_PRELOAD="libfoo-not-there.so")
    argv = ["run", "--format", "json", "--depth", "12", "--prefault", "writable",
            "--prefault-in", "both", "--follow-exec", "no", "--inherited", "full",
            "--scan-mappings", "no", "--reachable", "yes", "--check-threads", "2", "--signal",
            "USR2", "--", "/bin/true"]
    rc, out, err = ctx.run(argv, env=env)
    expect_rc(rc, 0, out, err)
    doc = json.loads(err[err.index("{"):])
    cfg = doc["processes"][0]["config"]
    want = {"depth": "12", "prefault": "writable", "prefault_in": "both", "follow_exec": "no",
            "inherited": "full", "scan_mappings": "no", "reachable": "yes", "check_threads": "2",
            "signal": "SIGUSR2",
            "ld_preload": fake_shim(ctx) + ":libfoo-not-there.so"}
    expect(cfg == want, f"config seen by the shim: {cfg}")
    for sig, canon in (("SIGRTMIN+2", "SIGRTMIN+2"), ("10", "SIGUSR1"), ("SIGHUP", "SIGHUP")):
        rc, out, err = ctx.run(["run", "--format", "json", "--signal", sig, "/bin/true"], env=env)
        cfg = json.loads(err[err.index("{"):])["processes"][0]["config"]
        expect(cfg["signal"] == canon, f"--signal {sig} gave {cfg['signal']}")


@test
def run_bad_options(ctx):
    env = run_env(ctx)
    cases = [
        (["--depth", "65"], "--depth='65' is not a number of frames (1..64)"),
        (["--depth", "x"], "--depth='x' is not a number of frames"),
        (["--prefault", "heapp"], "--prefault='heapp' is not one of off, heap, writable"),
        (["--prefault-in", "kid"], "--prefault-in='kid' is not one of child, parent, both"),
        (["--follow-exec", "maybe"], "--follow-exec='maybe' is not one of yes, no"),
        (["--inherited", "all"], "--inherited='all' is not one of summary, full"),
        (["--scan-mappings", "1"], "--scan-mappings='1' is not one of yes, no"),
        (["--check-threads", "3"], "--check-threads='3' is not one of auto, 1, 2"),
        (["--reachable", "all"], "--reachable='all' is not one of yes, no"),
        (["--signal", "SIGFOO"], "--signal='SIGFOO' is not a signal"),
        (["--signal", "KILL"], "--signal='KILL': SIGKILL cannot be used"),
        (["--error-exitcode", "256"], "--error-exitcode='256' is not an exit status (0..255)"),
        (["--format", "sarif"], "--format='sarif' is not one of text, json"),
        (["--nope"], "unknown option '--nope'"),
        ([], "no PROGRAM to run"),
    ]
    marker = os.path.join(ctx.work, "must-not-exist")
    for argv, msg in cases:
        prog = [] if not argv else ["/bin/sh", "-c", f"touch {marker}"]
        rc, out, err = ctx.run(["run"] + argv + prog, env=env)
        expect_rc(rc, 2, out, err)
        expect_in(f"forkleak: error: {msg}", err, "stderr")
        expect(not os.path.exists(marker), "the program must not run after a usage error")
    rc, out, err = ctx.run(["run", "/bin/true"], env=dict(env, FORKLEAK_LIB="/nonexistent/x.so"))
    expect_rc(rc, 2, out, err)
    expect_in("FORKLEAK_LIB='/nonexistent/x.so': No such file or directory", err)
    supp = write(os.path.join(ctx.work, "runbad.supp"), "leek:x\n")
    rc, out, err = ctx.run(["run", "--suppressions", supp, "/bin/sh", "-c", f"touch {marker}"],
                           env=env)
    expect_rc(rc, 2, out, err)
    expect(not os.path.exists(marker), "a bad suppression file stops before running")


@test
def run_missing_program(ctx):
    env = run_env(ctx)
    rc, out, err = ctx.run(["run", "/nonexistent/prog"], env=env)
    expect_rc(rc, 127, out, err)
    expect_in("forkleak: error: cannot run '/nonexistent/prog': No such file or directory", err)
    noexec = write(os.path.join(ctx.work, "not-executable"), "#!/bin/sh\nexit 0\n")
    os.chmod(noexec, 0o644)
    rc, out, err = ctx.run(["run", noexec], env=env)
    expect_rc(rc, 126, out, err)
    expect_in(f"cannot run '{noexec}': Permission denied", err)


@test
def run_output_dir_and_keep(ctx):
    env = run_env(ctx, FAKESHIM_LEAK="8")
    d = os.path.join(ctx.work, "outdir")
    rc, out, err = ctx.run(["run", "-o", d, "--", "/bin/true"], env=env)
    expect_rc(rc, 23, out, err)
    first = sorted(os.listdir(d))
    expect(len(first) == 1 and first[0].endswith(".report"), f"{first}")
    rc, out, err = ctx.run(["run", "-o", d, "--", "/bin/true"], env=env)
    expect(err.count("Direct leak of 8 byte(s)") == 1, "only this run's reports are read")
    expect(len(os.listdir(d)) == 2, "reports accumulate in -o DIR")
    rc, out, err = ctx.run(["run", "--keep", "/bin/true"], env=env)
    m = re.search(r"forkleak: reports kept in (\S+)", err)
    expect(m and os.path.isdir(m.group(1)) and len(os.listdir(m.group(1))) == 1, err)
    expect(m.group(1).startswith(env["TMPDIR"] + "/forkleak."), "mkdtemp in $TMPDIR")
    shutil.rmtree(m.group(1))


@test
def run_forwards_term_and_ignores_int(ctx):
    env = dict(os.environ, **run_env(ctx))
    env.pop("FORKLEAK_SUPPRESSIONS", None)
    # SIGTERM to forkleak reaches the program.
    p = subprocess.Popen([ctx.tool, "run", "--", "/bin/sleep", "30"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        raise Failure("SIGTERM was not forwarded: forkleak still waiting")
    expect_rc(p.returncode, 128 + signal.SIGTERM, out, err)
    # SIGINT to forkleak alone is ignored while the program runs; the program finishes.
    p = subprocess.Popen([ctx.tool, "run", "--", "/bin/sh", "-c", "sleep 1; exit 4"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    expect_rc(p.returncode, 4, out, err)


@test
def run_with_real_shim(ctx):
    shim = os.path.join(ROOT, "build", "lib", "libforkleak.so")
    if not os.path.exists(shim):
        raise Skip("build/lib/libforkleak.so not built")
    env = {"FORKLEAK_LIB": shim}
    rc, out, err = ctx.run(["run", "--", "/bin/true"], env=env)
    expect_rc(rc, 0, out, err)
    exe = ctx.build("leaky_e2e", "leaky.c", ["-g", "-O0"])
    rc, out, err = ctx.run(["run", "--", exe], env=env)
    expect_rc(rc, 23, out, err)
    expect_in(frame_re("make_buffer", "leaky.c", site_line("leaky.c", "make_buffer->grab")),
              err)
    expect_in("make_list", err)


# ---------------------------------------------------------------- performance

def perf_reports(ctx, n=10000, fanout=10):
    """N reports of a 5-deep fork tree (fanout 10) of leaky_nopie with real addresses."""
    d = os.path.join(ctx.work, "perf")
    if os.path.isdir(d) and len(os.listdir(d)) == n:
        return d
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    exe = ctx.build("leaky_nopie", "leaky.c", ["-g", "-O2", "-fno-pie", "-no-pie"])
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    start = LIB_BASE + dyn_symbol(libc, "__libc_start_main") + 0x10
    sites = [call_ip(exe, "make_buffer", "malloc"), call_ip(exe, "make_list", "calloc")]
    outer = [call_ip(exe, "main", "make_buffer"), call_ip(exe, "main", "make_list")]
    mods = [module_line(0, exe, 0), module_line(1, libc, LIB_BASE)]
    stacks = []
    for i in range(8):
        frames = [sites[i % 2], outer[i % 2]] + [outer[(i + k) % 2] for k in range(i % 4)] + \
                 [start]
        stacks.append(f"stack id={i + 1} " + " ".join(hex(x) for x in frames))
    parent, gen, lineage, children = [None], [0], [[]], {0: []}
    for i in range(1, n):
        p = (i - 1) // fanout
        parent.append(p)
        gen.append(gen[p] + 1)
        lineage.append(lineage[p] + [(1000 + p, gen[p])])
        children.setdefault(p, []).append(i)
    for i in range(n):
        pid = 1000 + i
        recs = mods + stacks
        if gen[i] == 0:
            recs += ["group kind=direct origin=own stack=1 blocks=3 bytes=300",
                     "group kind=indirect origin=own stack=2 blocks=4 bytes=128"]
        else:
            recs += ["group kind=direct origin=inherited stack=1 blocks=3 bytes=300 "
                     "from_pid=1000 from_gen=0",
                     f"group kind=direct origin=own stack={3 + i % 6} blocks=1 bytes={16 + i % 7}",
                     "inherited stack=1 blocks=3 bytes=300 live_blocks=3 live_bytes=300 "
                     "leaked_blocks=3 leaked_bytes=300",
                     "memory phase=exit vsz_kb=1000 rss_kb=400 private_dirty_kb=100",
                     "cow shared_pages=90 copied_pages=10"]
        recs += [f"child pid={1000 + c} time_ns={2000 + c} how=fork" for c in children.get(i, [])]
        recs.append("summary check=reachability")
        lin = " ".join(f"{p}:{g}" for p, g in lineage[i])
        write(os.path.join(d, f"fl.{pid}.{1000 + i}.report"),
              report_text(pid, recs, ppid=1000 + parent[i] if parent[i] is not None else 1,
                          gen=gen[i], start=1000 + i, end=10 ** 9, exe=exe, lineage=lin))
    return d


@test
def perf_10000_reports(ctx):
    d = perf_reports(ctx)
    tools = [("asan", ctx.tool)]
    if ctx.args.perf_tool:
        tools.append(("release", os.path.abspath(ctx.args.perf_tool)))
    for label, tool in tools:
        for fmt in ("text", "json"):
            t0 = time.monotonic()
            p = subprocess.run([tool, "report", "--format", fmt, d], capture_output=True,
                               timeout=600)
            dt = time.monotonic() - t0
            out = p.stdout.decode()
            expect_rc(p.returncode, 1, out[-2000:], p.stderr.decode()[-2000:])
            if fmt == "text":
                expect_in("in 10000 of 10000 process(es).", out)
            print(f"# timing: forkleak report --format {fmt} of 10000 reports ({label} build): "
                  f"{dt:.2f} s", flush=True)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", required=True, help="the forkleak binary to test")
    ap.add_argument("--perf-tool", help="a non-sanitizer build, for the timing line")
    ap.add_argument("--update", action="store_true", help="rewrite the golden files")
    ap.add_argument("--only", help="run only tests whose name contains this")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="forkleak-tool-test.")
    work = os.path.realpath(work)
    ctx = Ctx(args, work)
    passed = failed = skipped = 0
    n = 0
    for t in TESTS:
        if args.only and args.only not in t.__name__:
            continue
        n += 1
        name = t.__name__
        try:
            t(ctx)
        except Skip as e:
            skipped += 1
            print(f"ok {n} - {name} # SKIP {e}", flush=True)
            continue
        except (Failure, subprocess.SubprocessError, OSError, KeyError, IndexError, ValueError,
                TypeError) as e:
            failed += 1
            print(f"not ok {n} - {name}", flush=True)
            msg = f"{type(e).__name__}: {e}" if not isinstance(e, Failure) else str(e)
            for line in ctx.norm(msg).splitlines()[:200]:
                print("    " + line)
            continue
        passed += 1
        print(f"ok {n} - {name}", flush=True)
    if args.keep:
        print(f"# work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
