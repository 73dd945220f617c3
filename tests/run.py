#!/usr/bin/python3
"""tests/run.py — forkleak's test runner (stdlib only).

    tests/run.py [-j N] [--repeat N] [--keep] [-v] [FILTER...]   behaviour cases + real programs
    tests/run.py --slow … / --slow-only …                        also / only the tests marked SLOW
    tests/run.py --unit [-j N] [FILTER...]                        unit tests under ASan/UBSan
    tests/run.py --list [FILTER...]                               names only
    tests/run.py --opt=-O2 …                                      cases built with -O2 (default -O1)

A FILTER selects tests whose name contains it (or matches it, if it has * ? [). Output is TAP-like:
`ok N - name` / `not ok N - name`, the details of a failure (expected vs got, the program's stderr,
the kept output directory) under it, and a last line `N passed, N failed`; exit status 1 if anything
failed, 2 on a usage error or a malformed test file.

Kinds of test
-------------
tests/cases/NAME.c, NAME.cc   a program, built with `gcc -O1 -g` (g++ for .cc) into build/tests/NAME/,
                              run with LD_PRELOAD=build/lib/libforkleak.so FORKLEAK_DIR=<fresh dir>,
                              then `forkleak report --format json <dir>` is compared with the
                              expectations in the file's header.
tests/real/NAME.sh            a bash script run natively (no preload) with FL_TOOL, FL_LIB, FL_OUT
                              (a fresh report directory), FL_WORK (a scratch directory) and FL_PY in
                              its environment. It runs a real program itself (natively and under
                              `$FL_TOOL run -o $FL_OUT`) and exits non-zero, with a message, if
                              outputs differ; then the JSON of $FL_OUT is checked like a case's.
tests/unit/test_*.c           unit tests: linked with the core files named by `// LINK:` (plus
                              tests/unit/stubs.c) under -fsanitize=address,undefined; pass = exit 0.
Helper sources live in subdirectories (tests/cases/lib/, tests/unit/ *.h) and are not tests.

Directives (in the `//` or `#` comment lines at the top of a test file; /* */ blocks are prose)
-------------------------------------------------------------------------------
Each is one line `KEY: value`, or `[MODE,MODE] KEY: value` to apply to some modes only. An
all-caps word followed by `:` at the start of a header comment line must be a known directive.

  MODES: m1 m2 ...      run the program once per mode, with the mode as argv[1]; the test is named
                        NAME[mode]. Modes `child` and `child-*` mean "the scenario runs in a fork
                        child" (tests/cases/fltest.h: fl_mode() forks; the parent waits and exits
                        with the child's status); other modes run it in the top process.
  RUN: ARGS             more program arguments (shell words), after the mode if any.
  ENV: NAME=VALUE       an environment variable (repeatable). VALUE may use {out} (the report
                        directory), {build} (the test's build directory), {work} (a scratch dir).
  CFLAGS: FLAGS         extra compiler/linker flags, after the source (so -lfoo works; -O0 wins
                        over the default -O1); {build} is substituted.
  SO: lib/x.c [FLAGS]   build tests/cases/lib/x.c into {build}/libx.so first (gcc -O1 -g -fPIC
                        -shared). The program is compiled with -DFL_BUILD_DIR="{build}".
  LINK: files           (unit tests) core files to link, e.g. preload/table.c preload/arena.c
  EXIT: N               the program's own exit status (default 0): forkleak must never change it.
  TIMEOUT: S            seconds before the whole process group is killed (default 60).
  STDOUT: REGEX         the program's whole stdout must match (Python re.fullmatch; \\n for newline).
  STDERR: REGEX         the program's whole stderr must match. Without STDERR/STDERR-HAS, stderr
                        must not contain "forkleak:" (the shim warns only when it degrades).
  STDERR-HAS: REGEX     stderr must contain a match (repeatable).
  COMPARE-NATIVE: yes   also run the program without the shim: stdout, stderr and exit status
                        must be byte-identical.
  EXPECT-PROCS: N       exactly N reports (processes). `EXPECT-PROCS ROLE: N`: N processes in ROLE.
  EXPECT ROLE: CHECKS   every process in ROLE (there must be at least one) satisfies CHECKS.
  EXPECT-LEAK ROLE: ATTRS
                        in every process of ROLE, the leak groups that match the string attributes
                        of ATTRS add up to its numeric ones.
  EXPECT-INHERITED ROLE: ATTRS   the same over the process's `inherited` records (per stack).
  EXPECT-BLOCK ROLE: ATTRS       the same over its `inherited_blocks` (FORKLEAK_INHERITED=full).
  EXPECT-COWSITE ROLE: ATTRS     the same over its copy-on-write sites (`cow.sites`).
  EXPECT-COMBINED: ATTRS         the same over the combined view (`combined`; no role).
  EXPECT-TREE: ATTRS             the same over the nodes of the process tree (`tree`; no role).
  SLOW: REASON          a long test: skipped unless the runner is given --slow or --slow-only
                        (`make cases-slow`).
  REPORT-TIME: S        `forkleak report` (the text report) on the output must take at most S
                        seconds of CPU (user + sys, so that a loaded machine does not fail it);
                        -v prints its times and those of the JSON report the runner reads.

CHECKS are space-separated `key OP value` with OP one of = != >= <= > <. Keys: any field of the
JSON `summary` (direct_bytes, direct_blocks, indirect_*, orphan_*, reachable_*, leaked_* = direct
+ indirect, check), and exit_kind, exit_status, gen, exe (basename), nleaks (number of groups),
nwarnings (the report's warning records), nnotes (inconsistencies the tool noticed), pid, ppid,
nchildren (the process's `children`), nchildren_noreport (those with has_report false),
ninherited, ninherited_blocks, and any dotted path into the JSON process object (numbers index
lists), e.g. cow.copied_pages, memory.prefault.private_dirty_kb, lineage.0.pid (null if absent).

Values: a number, a string, `null`, `true`/`false`; `N~T` (with = or !=) is N within ±T and `N~P%`
within ±P percent of N. A pid can be named: `@pid` and `@ppid` are those of the process being
checked, `@parent`, `@child`, `@grandchild`, `@self` and `@genN` the pid of the one process in
that role (e.g. `EXPECT-LEAK grandchild: function=f from_pid=@child`).

ATTRS for EXPECT-LEAK: string attributes select groups — kind (direct, indirect, orphan…), origin
(own, inherited), from_gen, function (the innermost stack frame in the test's own code: its
executable or a helper .so built for it, so a leak is attributed to the right function), file
(basename of that frame's source); numeric ones are checked against the sum over the selected
groups — bytes, blocks, groups (how many groups; groups=0 says "no such leak"). With no numeric
attribute, at least one group must match. The other record directives work the same way:
  EXPECT-LEAK       strings kind origin from_gen from_pid function file; numbers bytes blocks groups
  EXPECT-INHERITED  strings function file; numbers blocks bytes freed_blocks freed_bytes live_blocks
                    live_bytes leaked_blocks leaked_bytes groups
  EXPECT-BLOCK      strings function file kind gen; numbers blocks (how many) bytes (their sizes)
  EXPECT-COWSITE    strings function file rank (0: the site with the most pages); numbers pages
                    bytes groups
  EXPECT-COMBINED   strings kind origin function file leaked_before_fork allocated_in_gen, and
                    processes / inherited_by / allocated_in = ROLE (the entry's pids are exactly
                    those of the processes in ROLE; quote a role that has a space: "gen 2");
                    numbers bytes blocks process_count inherited_count groups
  EXPECT-TREE       strings has_report exe exit_kind exit_status depth, and process / parent /
                    exec_from = ROLE (that node is an image of a process in ROLE) or null;
                    numbers nodes (how many)

ROLE: parent (the gen-0 process(es) not forked by another reported process), child (gen 1),
grandchild (gen 2), gen N, self (the process running the scenario: the children in a `child`
mode, else the parent), all, exe NAME (exe basename), pid-index N (the N-th process, 0-based, in the
tool's order), snapshot (the processes of the FORKLEAK_SIGNAL snapshot reports fl.P.T.sN.report,
as the tool reads them alone: in the whole run, an image's final report supersedes its snapshots). In a `child` mode, unless the file says otherwise, the parent must leak nothing
(`EXPECT parent: leaked_blocks=0`) and there must be one child (`EXPECT-PROCS child: 1`).

Checks made on every case run, whatever the file says: the exit status; no timeout; report files
are named fl.<pid>.<ns>.report (or .sN.report), regular, mode 0600, and no temporary (.tmp / dot) file is left;
the tool's JSON has no `errors`, and no process has `warnings` (the shim could not do something)
or `notes` (the tool found the report inconsistent) unless an EXPECT mentions nwarnings/nnotes;
every process that did not exec made its reachability check (summary check is "reachability")
unless an EXPECT says otherwise.

--repeat N runs every test N times (each with fresh ASLR) and passes it only if all N pass.
"""

import argparse
import concurrent.futures
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "tests", "cases")
REAL = os.path.join(ROOT, "tests", "real")
UNIT = os.path.join(ROOT, "tests", "unit")
BUILD = os.path.join(ROOT, "build", "tests")
OPT = "-O1"  # --opt changes it (and BUILD) to check that cases hold at every -O level

DIRECTIVES = {"MODES", "RUN", "ENV", "CFLAGS", "SO", "LINK", "EXIT", "TIMEOUT", "STDOUT", "STDERR",
              "STDERR-HAS", "COMPARE-NATIVE", "EXPECT-PROCS", "EXPECT", "EXPECT-LEAK",
              "EXPECT-INHERITED", "EXPECT-BLOCK", "EXPECT-COWSITE", "EXPECT-COMBINED", "EXPECT-TREE",
              "SLOW", "REPORT-TIME"}
# Record directives: per process (they need a role) or over the whole run (no role).
PROC_RECORDS = ("EXPECT-LEAK", "EXPECT-INHERITED", "EXPECT-BLOCK", "EXPECT-COWSITE")
RUN_RECORDS = ("EXPECT-COMBINED", "EXPECT-TREE")
HEADER_RE = re.compile(r"^\s*(?://|#)\s?(.*)$")
DIRECTIVE_RE = re.compile(r"^(?:\[(?P<modes>[\w,.+-]+)\]\s*)?(?P<key>[A-Z][A-Z-]*[A-Z])"
                          r"(?:\s+(?P<role>[^:]*?))?\s*:(?:\s(?P<val>.*)|$)")
CHECK_RE = re.compile(r"^(?P<key>[a-z_][a-z_0-9.]*)(?P<op>>=|<=|!=|=|>|<)(?P<val>.*)$")
REPORT_NAME_RE = re.compile(r"^fl\.\d+\.\d+(\.s\d+)?\.report$")  # .sN: a FORKLEAK_SIGNAL snapshot
SNAPSHOT_NAME_RE = re.compile(r"^fl\.\d+\.\d+\.s\d+\.report$")
SUMMARY_ALIASES = {"exit_kind": ("exit", "kind"), "exit_status": ("exit", "status")}


class TestFileError(Exception):
    pass


# ---------------------------------------------------------------- parsing test files
class Directive:
    def __init__(self, key, role, val, modes, line):
        self.key, self.role, self.val, self.modes, self.line = key, role, val, modes, line

    def applies(self, mode):
        return self.modes is None or mode in self.modes


def parse_header(path):
    """The directives of the leading comment block of PATH."""
    out = []
    in_block = False
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if in_block or line.lstrip().startswith("/*"):  # a block comment: prose, skipped
                in_block = "*/" not in line
                continue
            if not line.strip():
                continue
            if line.startswith("#!"):
                continue
            m = HEADER_RE.match(line)
            if not m or line.lstrip().startswith("#include") or line.lstrip().startswith("#define"):
                break
            text = m.group(1).strip()
            d = DIRECTIVE_RE.match(text)
            if not d:
                continue
            key = d.group("key")
            if key not in DIRECTIVES:
                raise TestFileError("%s:%d: unknown directive %s" % (path, lineno, key))
            modes = d.group("modes").split(",") if d.group("modes") else None
            out.append(Directive(key, (d.group("role") or "").strip(), (d.group("val") or "").strip(),
                                 modes, lineno))
    return out


def parse_checks(text, where):
    checks = []
    for tok in shlex.split(text):
        m = CHECK_RE.match(tok)
        if not m:
            raise TestFileError("%s: cannot parse check %r (want key=value, key>=N…)" % (where, tok))
        checks.append((m.group("key"), m.group("op"), m.group("val")))
    return checks


class Test:
    """One runnable test: a (file, mode) pair."""

    def __init__(self, kind, path, mode, directives):
        self.kind, self.path, self.mode = kind, path, mode
        self.stem = os.path.splitext(os.path.basename(path))[0]
        self.name = ("real/" if kind == "real" else "unit/" if kind == "unit" else "") + self.stem
        if mode is not None:
            self.name += "[%s]" % mode
        self.d = [x for x in directives if x.applies(mode)]
        self.build_dir = os.path.join(BUILD, ("real-" if kind == "real" else "unit-" if kind == "unit"
                                              else "") + self.stem)
        where = os.path.relpath(path, ROOT)
        self.exit = 0
        self.timeout = 60.0
        self.env, self.args, self.cflags, self.sos, self.link = [], [], [], [], []
        self.stdout = self.stderr = None
        self.stderr_has = []
        self.native = False
        self.expects, self.records, self.procs = [], [], []
        self.slow = False
        self.report_time = None
        for x in self.d:
            at = "%s:%d" % (where, x.line)
            if x.key in ("EXPECT",) + PROC_RECORDS and not x.role:
                raise TestFileError("%s: %s needs a role (e.g. `%s parent: …`)" % (at, x.key, x.key))
            if x.key in RUN_RECORDS and x.role:
                raise TestFileError("%s: %s takes no role" % (at, x.key))
            if x.key == "EXIT":
                self.exit = int(x.val)
            elif x.key == "TIMEOUT":
                self.timeout = float(x.val)
            elif x.key == "ENV":
                if "=" not in x.val:
                    raise TestFileError("%s: ENV wants NAME=VALUE" % at)
                self.env.append(x.val.split("=", 1))
            elif x.key == "RUN":
                self.args += shlex.split(x.val)
            elif x.key == "CFLAGS":
                self.cflags += shlex.split(x.val)
            elif x.key == "SO":
                w = shlex.split(x.val)
                self.sos.append((w[0], w[1:]))
            elif x.key == "LINK":
                self.link += shlex.split(x.val)
            elif x.key == "STDOUT":
                self.stdout = x.val
            elif x.key == "STDERR":
                self.stderr = x.val
            elif x.key == "STDERR-HAS":
                self.stderr_has.append(x.val)
            elif x.key == "COMPARE-NATIVE":
                self.native = x.val.lower() in ("yes", "1", "true")
            elif x.key == "EXPECT":
                self.expects.append((x.role, parse_checks(x.val, at), at))
            elif x.key in PROC_RECORDS or x.key in RUN_RECORDS:
                self.records.append((x.key, x.role or None, parse_checks(x.val, at), at))
            elif x.key == "SLOW":
                self.slow = True
            elif x.key == "REPORT-TIME":
                self.report_time = float(x.val)
            elif x.key == "EXPECT-PROCS":
                self.procs.append((x.role or None, int(x.val), at))
        if is_child_mode(mode):
            if not any(r == "parent" for r, _, _ in self.expects):
                self.expects.append(("parent", [("leaked_blocks", "=", "0")], "implicit (mode child)"))
            if not any(r in ("child", "self") for r, _, _ in self.procs):
                self.procs.append(("child", 1, "implicit (mode child)"))
        self.has_check_expect = any(k == "check" for _, cs, _ in self.expects for k, _, _ in cs)


def discover(unit):
    tests = []
    if unit:
        files = sorted(f for f in os.listdir(UNIT) if f.startswith("test_") and f.endswith(".c"))
        for f in files:
            p = os.path.join(UNIT, f)
            tests.append(Test("unit", p, None, parse_header(p)))
        return tests
    for d, kind, exts in ((CASES, "case", (".c", ".cc")), (REAL, "real", (".sh",))):
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if not f.endswith(exts) or not os.path.isfile(p):
                continue
            ds = parse_header(p)
            modes = [m for x in ds if x.key == "MODES" for m in x.val.split()]
            for m in modes or [None]:
                tests.append(Test(kind, p, m, ds))
    return tests


# ---------------------------------------------------------------- building
_build_locks = {}
_build_results = {}
_build_guard = threading.Lock()


def sh(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", **kw)


def build(t):
    """Builds t's program once per file (modes share it). Returns (path or None, log)."""
    with _build_guard:
        lock = _build_locks.setdefault(t.path, threading.Lock())
    with lock:
        if t.path in _build_results:
            return _build_results[t.path]
        res = _build(t)
        _build_results[t.path] = res
        return res


def subst(s, t, out="", work=""):
    return s.replace("{build}", t.build_dir).replace("{out}", out).replace("{work}", work)


def _build(t):
    os.makedirs(t.build_dir, exist_ok=True)
    log = []
    if t.kind == "real":
        return t.path, ""
    if t.kind == "unit":
        exe = os.path.join(t.build_dir, t.stem)
        cmd = ["gcc", "-std=gnu11", "-D_GNU_SOURCE", "-O1", "-g", "-Wall", "-Wextra",
               "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
               "-fno-omit-frame-pointer", "-I" + os.path.join(ROOT, "preload"), "-I" + UNIT,
               "-o", exe, t.path, os.path.join(UNIT, "stubs.c")]
        cmd += [os.path.join(ROOT, f) for f in t.link] + ["-lpthread"]
        r = sh(cmd)
        log.append("$ " + " ".join(cmd) + "\n" + r.stdout)
        return (exe if r.returncode == 0 else None), "".join(log)
    for src, flags in t.sos:
        so_stem = os.path.splitext(os.path.basename(src))[0]
        so = os.path.join(t.build_dir, "lib%s.so" % so_stem)
        cmd = ["gcc", OPT, "-g", "-fPIC", "-shared", "-D_GNU_SOURCE", "-I" + CASES, "-o", so,
               os.path.join(CASES, src)] + [subst(f, t) for f in flags]
        r = sh(cmd)
        log.append("$ " + " ".join(cmd) + "\n" + r.stdout)
        if r.returncode != 0:
            return None, "".join(log)
    exe = os.path.join(t.build_dir, t.stem)
    cc = "g++" if t.path.endswith(".cc") else "gcc"
    cmd = [cc, OPT, "-g", "-Wall", "-D_GNU_SOURCE", "-I" + CASES,
           '-DFL_BUILD_DIR="%s"' % t.build_dir, "-o", exe, t.path] + [subst(f, t) for f in t.cflags]
    r = sh(cmd)
    log.append("$ " + " ".join(cmd) + "\n" + r.stdout)
    return (exe if r.returncode == 0 else None), "".join(log)


# ---------------------------------------------------------------- running
class Result:
    def __init__(self):
        self.ok = True
        self.msgs = []
        self.stdout = self.stderr = ""
        self.status = None
        self.outdir = None
        self.json = None
        self.timings = []
        self.json_wall = None

    def fail(self, msg):
        self.ok = False
        self.msgs.append(msg)


def base_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FORKLEAK_") and k not in ("LD_PRELOAD", "ASAN_OPTIONS",
                                                          "LSAN_OPTIONS", "UBSAN_OPTIONS")}
    env["LC_ALL"] = "C"
    return env


def run_group(argv, env, timeout, cwd=None):
    """Runs argv in its own process group; kills the whole group on timeout.
    Returns (status, stdout, stderr, timed_out); status < 0 is a signal."""
    p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        timed_out = True
    return p.returncode, out, err, timed_out


def show(b, limit=4000):
    """Text for a failure message: control characters other than newline and tab made visible."""
    s = b.decode("utf-8", "replace") if isinstance(b, bytes) else b
    s = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", lambda m: "\\x%02x" % ord(m.group()), s)
    return s if len(s) <= limit else s[:limit] + "\n…(%d more bytes)" % (len(s) - limit)


def check_report_files(r, outdir):
    for f in sorted(os.listdir(outdir)):
        p = os.path.join(outdir, f)
        st = os.lstat(p)
        if f.startswith(".") or f.endswith(".tmp"):
            r.fail("temporary file left in the report directory: %s" % f)
        elif not REPORT_NAME_RE.match(f):
            r.fail("unexpected file in the report directory: %s" % f)
        elif not stat.S_ISREG(st.st_mode):
            r.fail("report %s is not a regular file" % f)
        elif stat.S_IMODE(st.st_mode) != 0o600:
            r.fail("report %s has mode %o, want 600" % (f, stat.S_IMODE(st.st_mode)))


def read_json(r, outdir, tool):
    """The tool's JSON of OUTDIR; if there are snapshot reports, the JSON of those alone (the
    tool shows only the final report of an image) is added under "_snapshots"."""
    reports = [f for f in os.listdir(outdir) if f.endswith(".report")]
    if not reports:
        return {"processes": [], "errors": []}
    t0 = time.monotonic()
    j = tool_json(r, [tool, "report", "--format", "json", outdir])
    r.json_wall = time.monotonic() - t0
    snaps = sorted(os.path.join(outdir, f) for f in reports if SNAPSHOT_NAME_RE.match(f))
    if j is not None and snaps:
        j["_snapshots"] = tool_json(r, [tool, "report", "--format", "json"] + snaps)
        if j["_snapshots"] is None:
            return None
    return j


def tool_json(r, cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                           env=base_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        r.fail("cannot run %s: %s" % (" ".join(cmd), e))
        return None
    if p.returncode not in (0, 1):
        r.fail("`%s` exited with %d:\n%s" % (" ".join(cmd), p.returncode, show(p.stderr)))
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        r.fail("`%s` did not print JSON (%s):\n%s" % (" ".join(cmd), e, show(p.stdout, 1000)))
        return None


def time_tool(r, outdir, tool, limit):
    """REPORT-TIME: `forkleak report` (text) on OUTDIR, within LIMIT seconds of CPU."""
    cmd = [tool, "report", outdir]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=base_env())
    _, status, ru = os.wait4(p.pid, 0)
    wall, cpu = time.monotonic() - t0, ru.ru_utime + ru.ru_stime
    r.timings.append("`forkleak report`: %.2fs CPU, %.2fs wall" % (cpu, wall))
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        r.fail("`%s` exited with %d" % (" ".join(cmd), os.waitstatus_to_exitcode(status)))
    if cpu > limit:
        r.fail("`%s` took %.2fs of CPU (%.2fs wall), want at most %gs" % (" ".join(cmd), cpu, wall,
                                                                       limit))


class Procs(list):
    """The processes of a run (final reports), with .snapshots: those of its snapshot reports."""
    snapshots = ()


def flatten(j):
    """Every process object of the JSON, parents before children, whether the tool nests children
    as objects or lists them flat."""
    out, seen = Procs(), set()
    if j.get("_snapshots"):
        out.snapshots = flatten(j["_snapshots"])

    def visit(p):
        if id(p) in seen:
            return
        seen.add(id(p))
        out.append(p)
        for c in p.get("children") or []:
            if isinstance(c, dict) and "summary" in c:
                visit(c)

    for p in j.get("processes") or []:
        visit(p)
    return out


def is_child_mode(mode):
    return mode is not None and (mode == "child" or mode.startswith("child-"))


def select(role, procs, mode):
    w = role.split()
    pids = {p.get("pid") for p in procs}
    if w == ["self"]:
        w = ["child"] if is_child_mode(mode) else ["parent"]
    if w == ["parent"]:
        return [p for p in procs if p.get("gen") == 0 and p.get("ppid") not in pids]
    if w == ["child"]:
        return [p for p in procs if p.get("gen") == 1]
    if w == ["grandchild"]:
        return [p for p in procs if p.get("gen") == 2]
    if w == ["all"]:
        return list(procs)
    if w == ["snapshot"]:
        return list(getattr(procs, "snapshots", ()))
    if len(w) == 2 and w[0] == "gen":
        return [p for p in procs if p.get("gen") == int(w[1])]
    if len(w) == 2 and w[0] == "exe":
        return [p for p in procs if os.path.basename(p.get("exe") or "") == w[1]]
    if len(w) == 2 and w[0] == "pid-index":
        i = int(w[1])
        return [procs[i]] if i < len(procs) else []
    raise TestFileError("unknown role %r" % role)


TOLERANCE_RE = re.compile(r"^(-?[0-9.]+)~([0-9.]+)(%?)$")


def compare(got, op, want):
    if isinstance(got, bool):
        got = "true" if got else "false"
    if want == "null":
        return op in ("=", "!=") and (got is None) == (op == "=")
    m = TOLERANCE_RE.match(want)
    if m and op in ("=", "!="):
        n, tol = float(m.group(1)), float(m.group(2))
        if m.group(3):
            tol = abs(n) * tol / 100
        try:
            inside = abs(float(got) - n) <= tol
        except (TypeError, ValueError):
            inside = False
        return inside == (op == "=")
    try:
        g, v = float(got), float(want)
    except (TypeError, ValueError):
        g, v = str(got), want
        if op not in ("=", "!="):
            return False
    return {"=": g == v, "!=": g != v, ">=": g >= v, "<=": g <= v, ">": g > v, "<": g < v}[op]


def resolve(val, p, procs, mode):
    """A check's value with a pid reference replaced by the pid: @pid and @ppid of process P, or
    @ROLE (@parent, @child, @grandchild, @self, @genN) the pid of the one process in that role."""
    if not val.startswith("@"):
        return val
    if val in ("@pid", "@ppid"):
        if p is None:
            raise TestFileError("%s is only for per-process checks" % val)
        return str(p.get(val[1:]))
    m = re.fullmatch(r"@(parent|child|grandchild|self|gen(\d+))", val)
    if not m:
        raise TestFileError("unknown reference %s (want @pid @ppid @parent @child @grandchild "
                            "@self @genN)" % val)
    sel = select("gen %s" % m.group(2) if m.group(2) else m.group(1), procs, mode)
    if len(sel) != 1:
        return "(%d processes in role %s)" % (len(sel), val[1:])
    return str(sel[0].get("pid"))


def field(p, key):
    s = p.get("summary") or {}
    if "." in key:
        v = p
        for k in key.split("."):
            if isinstance(v, list):
                v = v[int(k)] if k.isdigit() and int(k) < len(v) else None
            else:
                v = v.get(k) if isinstance(v, dict) else None
        return v
    if key in ("pid", "ppid"):
        return p.get(key)
    if key == "nchildren":
        return len(p.get("children") or [])
    if key == "nchildren_noreport":
        return sum(1 for c in p.get("children") or [] if c.get("has_report") is False)
    if key == "ninherited":
        return len(p.get("inherited") or [])
    if key == "ninherited_blocks":
        return len(p.get("inherited_blocks") or [])
    if key in SUMMARY_ALIASES:
        a, b = SUMMARY_ALIASES[key]
        return (p.get(a) or {}).get(b)
    if key == "leaked_bytes" and key not in s:
        return s.get("direct_bytes", 0) + s.get("indirect_bytes", 0)
    if key == "leaked_blocks" and key not in s:
        return s.get("direct_blocks", 0) + s.get("indirect_blocks", 0)
    if key == "gen":
        return p.get("gen")
    if key == "exe":
        return os.path.basename(p.get("exe") or "")
    if key == "nleaks":
        return len(p.get("leaks") or [])
    if key == "nwarnings":
        return len(p.get("warnings") or [])
    if key == "nnotes":
        return len(p.get("notes") or [])
    return s.get(key)


def own_frame(leak, own_modules):
    for fr in leak.get("stack") or []:
        if os.path.basename(fr.get("module") or "") in own_modules:
            return fr
    return None


def describe_proc(p, own_modules):
    s = p.get("summary") or {}
    keys = ("direct_bytes", "direct_blocks", "indirect_bytes", "indirect_blocks", "orphan_bytes",
            "orphan_blocks", "reachable_bytes", "reachable_blocks", "check")
    lines = ["pid %s gen %s exe %s exit %s/%s: %s" % (
        p.get("pid"), p.get("gen"), os.path.basename(p.get("exe") or "?"),
        (p.get("exit") or {}).get("kind"), (p.get("exit") or {}).get("status"),
        " ".join("%s=%s" % (k, s.get(k)) for k in keys))]
    for lk in p.get("leaks") or []:
        fr = own_frame(lk, own_modules)
        fn = fr.get("function") if fr else None
        if not fn:
            fn = next((f.get("function") for f in lk.get("stack") or [] if f.get("function")), "?")
            fn = "(no own frame) " + str(fn)
        lines.append("    leak kind=%s origin=%s bytes=%s blocks=%s function=%s%s" % (
            lk.get("kind"), lk.get("origin"), lk.get("bytes"), lk.get("blocks"), fn,
            " from_gen=%s" % lk.get("from_gen") if lk.get("origin") == "inherited" else ""))
    return "\n".join(lines)


# Record directives: (string attributes that select entries, numeric ones summed over them, the
# name of their count).
RECORD_KEYS = {
    "EXPECT-LEAK": (("kind", "origin", "from_gen", "from_pid", "function", "file"),
                    ("bytes", "blocks"), "groups"),
    "EXPECT-INHERITED": (("function", "file"),
                         ("blocks", "bytes", "freed_blocks", "freed_bytes", "live_blocks",
                          "live_bytes", "leaked_blocks", "leaked_bytes"), "groups"),
    "EXPECT-BLOCK": (("function", "file", "kind", "gen"), ("bytes",), "blocks"),
    "EXPECT-COWSITE": (("function", "file", "rank"), ("pages", "bytes"), "groups"),
    "EXPECT-COMBINED": (("kind", "origin", "function", "file", "leaked_before_fork",
                         "allocated_in_gen", "processes", "inherited_by", "allocated_in"),
                        ("bytes", "blocks", "process_count", "inherited_count"), "groups"),
    "EXPECT-TREE": (("has_report", "exe", "exit_kind", "exit_status", "depth", "process", "parent",
                     "exec_from"), (), "nodes"),
}


class PidSet(frozenset):
    """An attribute compared with a role: the pids of the processes in that role."""


class ProcRef:
    """An attribute compared with a role: that process object (None: no link)."""

    def __init__(self, proc):
        self.proc = proc


def stack_attrs(stack, own_modules):
    fr = own_frame({"stack": stack}, own_modules)
    return {"function": fr.get("function") if fr else None,
            "file": os.path.basename(fr.get("file") or "") if fr else None}


def record_entries(directive, p, j, own_modules):
    """The entries a record directive looks at, as dicts of its attributes."""
    out = []
    if directive == "EXPECT-LEAK":
        for lk in p.get("leaks") or []:
            e = stack_attrs(lk.get("stack"), own_modules)
            e.update({k: lk.get(k) for k in ("kind", "origin", "from_gen", "from_pid", "bytes",
                                             "blocks")})
            out.append(e)
    elif directive == "EXPECT-INHERITED":
        for rec in p.get("inherited") or []:
            e = stack_attrs(rec.get("stack"), own_modules)
            e.update({k: rec.get(k) for k in RECORD_KEYS[directive][1]})
            out.append(e)
    elif directive == "EXPECT-BLOCK":
        stacks = p.get("block_stacks") or {}
        for b in p.get("inherited_blocks") or []:
            e = stack_attrs(stacks.get(str(b.get("stack_id"))), own_modules)
            e.update({"kind": b.get("kind"), "gen": b.get("gen"), "bytes": b.get("size")})
            out.append(e)
    elif directive == "EXPECT-COWSITE":
        sites = sorted((p.get("cow") or {}).get("sites") or [], key=lambda x: -(x.get("pages") or 0))
        for rank, site in enumerate(sites):
            e = stack_attrs(site.get("stack"), own_modules)
            e.update({"rank": rank, "pages": site.get("pages"), "bytes": site.get("bytes")})
            out.append(e)
    elif directive == "EXPECT-COMBINED":
        for c in j.get("combined") or []:
            e = stack_attrs(c.get("stack"), own_modules)
            e.update({k: c.get(k) for k in ("kind", "origin", "leaked_before_fork", "bytes",
                                            "blocks", "process_count", "inherited_count")})
            alloc = c.get("allocated_in") or {}
            e.update({"processes": PidSet(c.get("processes") or []),
                      "inherited_by": PidSet(c.get("inherited_by") or []),
                      "allocated_in": PidSet([alloc["pid"]] if alloc.get("pid") is not None else []),
                      "allocated_in_gen": alloc.get("gen")})
            out.append(e)
    elif directive == "EXPECT-TREE":
        procs, tree = j.get("processes") or [], j.get("tree") or []

        def proc_of(node_index):
            if node_index is None or not 0 <= node_index < len(tree):
                return ProcRef(None)
            i = tree[node_index].get("process")
            return ProcRef(procs[i] if i is not None and 0 <= i < len(procs) else None)

        for idx, n in enumerate(tree):
            out.append({"has_report": n.get("has_report"),
                        "exe": os.path.basename(n.get("exe") or "") or None,
                        "exit_kind": (n.get("exit") or {}).get("kind"),
                        "exit_status": (n.get("exit") or {}).get("status"), "depth": n.get("depth"),
                        "process": proc_of(idx), "parent": proc_of(n.get("parent")),
                        "exec_from": proc_of(n.get("exec_from"))})
    return out


def match_attr(got, op, want, p, procs, mode):
    """One selecting attribute of a record directive."""
    if isinstance(got, (PidSet, ProcRef)):
        if op not in ("=", "!="):
            raise TestFileError("%s: a role attribute takes = or !=" % want)
        if isinstance(got, ProcRef):
            if want == "null":
                same = got.proc is None
            else:
                same = got.proc is not None and any(got.proc is q for q in select(want, procs, mode))
        else:
            same = got == PidSet(q.get("pid") for q in select(want, procs, mode))
        return same == (op == "=")
    return compare(got, op, resolve(want, p, procs, mode))


def check_expectations(t, r, j, own_modules):
    procs = flatten(j)
    if not procs and not any(n == 0 and role is None for role, n, _ in t.procs):
        r.fail("no report was written (is the shim loaded? see stderr)")
    errs = (j.get("errors") or []) + ((j.get("_snapshots") or {}).get("errors") or [])
    if errs:
        r.fail("the tool reported errors: %s" % json.dumps(errs)[:2000])
    bad = []
    for role, n, at in t.procs:
        sel = procs if role is None else select(role, procs, t.mode)
        if len(sel) != n:
            bad.append("%s: want %d process(es)%s, got %d" % (at, n, " in " + role if role else "",
                                                               len(sel)))
    for key, what in (("nwarnings", "warnings"), ("nnotes", "notes")):
        if any(k == key for _, cs, _ in t.expects for k, _, _ in cs):
            continue
        for p in procs + list(procs.snapshots):
            if p.get(what):
                bad.append("pid %s: the report has %s: %s" % (p.get("pid"), what,
                                                          json.dumps(p.get(what))[:500]))
    if not t.has_check_expect:
        for p in procs + list(procs.snapshots):
            if (p.get("exit") or {}).get("kind") == "exec":
                continue  # an image that exec'd another: the new image makes the check
            if (p.get("summary") or {}).get("check") != "reachability":
                bad.append("pid %s made no reachability check (summary check=%r)" % (
                    p.get("pid"), (p.get("summary") or {}).get("check")))
    for role, checks, at in t.expects:
        sel = select(role, procs, t.mode)
        if not sel:
            bad.append("%s: no process in role %r" % (at, role))
        for p in sel:
            for key, op, want in checks:
                got = field(p, key)
                if not compare(got, op, resolve(want, p, procs, t.mode)):
                    bad.append("%s: %s pid %s: want %s%s%s, got %s" % (
                        at, role, p.get("pid"), key, op, want,
                        json.dumps(got) if got is None or isinstance(got, bool) else got))
    for directive, role, attrs, at in t.records:
        strs_ok, nums_ok, count = RECORD_KEYS[directive]
        strs = [(k, o, v) for k, o, v in attrs if k in strs_ok]
        nums = [(k, o, v) for k, o, v in attrs if k in nums_ok or k == count]
        if len(strs) + len(nums) != len(attrs):
            raise TestFileError("%s: %s knows %s" % (at, directive, " ".join(strs_ok + nums_ok +
                                                                              (count,))))
        what = directive[len("EXPECT-"):].lower()
        if role and not select(role, procs, t.mode):
            bad.append("%s: no process in role %r" % (at, role))
        for p in select(role, procs, t.mode) if role else [None]:
            entries = record_entries(directive, p, j, own_modules)
            matched = [e for e in entries
                       if all(match_attr(e[k], o, v, p, procs, t.mode) for k, o, v in strs)]
            tot = {k: sum(e[k] or 0 for e in matched) for k in nums_ok}
            tot[count] = len(matched)
            who = "%s: %s pid %s" % (at, role, p.get("pid")) if p else at
            sel_desc = " ".join("%s%s%s" % a for a in strs) or "(any)"
            if not nums and not matched:
                bad.append("%s: no %s entry with %s" % (who, what, sel_desc))
            for k, o, v in nums:
                if not compare(tot[k], o, resolve(v, p, procs, t.mode)):
                    bad.append("%s: %s entries with %s: %s is %s, want %s%s" % (
                        who, what, sel_desc, k, tot[k], o, v))
    if bad:
        r.fail("expectations not met:\n  " + "\n  ".join(bad) + "\ngot:\n  " +
               "\n  ".join(describe_proc(p, own_modules) for p in procs))


def run_once(t, exe, opts, rep):
    r = Result()
    tag = "%s%s" % (re.sub(r"[^\w.-]", "_", t.name.replace("/", "-")), "" if rep == 0 else ".%d" % rep)
    out = os.path.join(BUILD, "out", tag)
    work = out + ".work"
    for d in (out, work):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    r.outdir = out
    env = base_env()
    for kv in opts.env:
        k, _, v = kv.partition("=")
        env[k] = v
    argv = ([t.mode] if t.mode is not None else []) + t.args
    if t.kind == "unit":
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        status, so, se, to = run_group([exe] + argv, env, t.timeout, cwd=work)
        r.status, r.stdout, r.stderr = status, so, se
        if to:
            r.fail("timed out after %gs" % t.timeout)
        elif status != t.exit:
            r.fail("exit status %s, want %s" % (status, t.exit))
        return r
    if t.kind == "real":
        env.update(FL_TOOL=opts.tool, FL_LIB=opts.lib, FL_OUT=out, FL_WORK=work, FL_PY=sys.executable)
        for k, v in t.env:
            env[k] = subst(v, t, out, work)
        status, so, se, to = run_group(["bash", t.path] + argv, env, t.timeout, cwd=work)
    else:
        penv = dict(env)
        penv["LD_PRELOAD"] = opts.lib
        penv["FORKLEAK_DIR"] = out
        for k, v in t.env:
            penv[k] = subst(v, t, out, work)
        status, so, se, to = run_group([exe] + argv, penv, t.timeout, cwd=work)
    r.status, r.stdout, r.stderr = status, so, se
    if to:
        r.fail("timed out after %gs (process group killed)" % t.timeout)
        return r
    if status != t.exit:
        r.fail("exit status %s, want %s%s" % (status, t.exit, " (killed by signal %d)" % -status
                                                if status < 0 else ""))
    text_out = so.decode("utf-8", "replace")
    text_err = se.decode("utf-8", "replace")
    if t.stdout is not None and not re.fullmatch(t.stdout, text_out):
        r.fail("stdout does not match /%s/" % t.stdout)
    if t.stderr is not None and not re.fullmatch(t.stderr, text_err):
        r.fail("stderr does not match /%s/" % t.stderr)
    for rx in t.stderr_has:
        if not re.search(rx, text_err):
            r.fail("stderr has no match for /%s/" % rx)
    if t.kind == "case" and t.stderr is None and not t.stderr_has and "forkleak:" in text_err:
        r.fail("the shim wrote to stderr (it should only when it degrades)")
    if t.native and t.kind == "case":
        nstatus, nso, nse, nto = run_group([exe] + argv, env, t.timeout, cwd=work)
        if nto:
            r.fail("the native run timed out")
        if (nstatus, nso, nse) != (status, so, se):
            r.fail("output differs from the native run:\n  native: status %s stdout %r stderr %r\n"
                   "  shim:   status %s stdout %r stderr %r" % (nstatus, show(nso, 500), show(nse, 500),
                                                             status, show(so, 500), show(se, 500)))
    check_report_files(r, out)
    j = read_json(r, out, opts.tool)
    if j is not None:
        r.json = j
        own = {os.path.basename(exe)} | {"lib%s.so" % os.path.splitext(os.path.basename(s))[0]
                                         for s, _ in t.sos}
        check_expectations(t, r, j, own)
    if t.report_time is not None:
        time_tool(r, out, opts.tool, t.report_time)
        if r.json_wall is not None:
            r.timings.append("`forkleak report --format json`: %.2fs wall" % r.json_wall)
    return r


def run_test(t, opts):
    """Builds and runs t opts.repeat times. Returns (ok, detail text)."""
    t0 = time.monotonic()
    try:
        exe, log = build(t)
    except TestFileError as e:
        return False, str(e), 0
    if exe is None:
        return False, "build failed:\n" + log, 0
    fails, first, timings = 0, None, []
    for rep in range(opts.repeat):
        try:
            r = run_once(t, exe, opts, rep)
        except TestFileError as e:
            return False, str(e), 0
        timings += r.timings
        if not r.ok:
            fails += 1
            if first is None:
                first = (rep, r)
        elif not opts.keep:
            shutil.rmtree(r.outdir, ignore_errors=True)
            shutil.rmtree(r.outdir + ".work", ignore_errors=True)
    dt = time.monotonic() - t0
    if not fails:
        return True, "\n".join(timings), dt
    rep, r = first
    lines = []
    if opts.repeat > 1:
        lines.append("%d of %d runs failed; the first (run %d):" % (fails, opts.repeat, rep + 1))
    lines += r.msgs + r.timings
    lines.append("exit status: %s" % r.status)
    if r.stdout:
        lines.append("stdout:\n" + show(r.stdout))
    if r.stderr:
        lines.append("stderr:\n" + show(r.stderr))
    lines.append("output kept in %s" % os.path.relpath(r.outdir, ROOT))
    return False, "\n".join(lines), dt


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description="forkleak test runner (see the docstring of this file)")
    ap.add_argument("filters", nargs="*")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--unit", action="store_true", help="run the unit tests instead")
    ap.add_argument("--slow", action="store_true", help="also run the tests marked SLOW")
    ap.add_argument("--slow-only", action="store_true", help="run only the tests marked SLOW")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the output of passing tests too")
    ap.add_argument("--opt", default="-O1", help="optimisation flag for the cases (default -O1; a "
                    "case's own CFLAGS still win)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each test's time")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="add to every case's environment (a case's own ENV wins)")
    ap.add_argument("--tool", default=os.environ.get("FL_TEST_TOOL",
                                                     os.path.join(ROOT, "build", "bin", "forkleak")))
    ap.add_argument("--lib", default=os.environ.get("FL_TEST_LIB",
                                                    os.path.join(ROOT, "build", "lib", "libforkleak.so")))
    opts = ap.parse_args()
    global OPT, BUILD
    if opts.opt != OPT:
        OPT, BUILD = opts.opt, BUILD + opts.opt
    opts.tool, opts.lib = os.path.abspath(opts.tool), os.path.abspath(opts.lib)
    try:
        tests = discover(opts.unit)
    except TestFileError as e:
        print("run.py: error: %s" % e, file=sys.stderr)
        return 2
    if opts.slow_only:
        tests = [t for t in tests if t.slow]
    elif not opts.slow:
        tests = [t for t in tests if not t.slow]
    if opts.filters:
        def want(name):
            return any(fnmatch.fnmatch(name, f) if any(c in f for c in "*?[") else f in name
                       for f in opts.filters)
        tests = [t for t in tests if want(t.name)]
    if opts.list:
        for t in tests:
            print(t.name)
        return 0
    if not opts.unit:
        for what, path in (("shim", opts.lib), ("tool", opts.tool)):
            if not os.access(path, os.R_OK):
                print("run.py: error: the %s %s is missing: run `make` first" % (what, path),
                      file=sys.stderr)
                return 2
    os.makedirs(os.path.join(BUILD, "out"), exist_ok=True)
    print("1..%d" % len(tests), flush=True)
    passed = failed = 0
    lock = threading.Lock()
    # The longest tests first keeps both cores busy to the end.
    order = sorted(range(len(tests)), key=lambda i: 0 if "stress" in tests[i].name else 1)
    results = {}
    next_print = [0]

    def report(i):
        nonlocal passed, failed
        ok, detail, dt = results[i]
        t = tests[i]
        suffix = " (%d runs)" % opts.repeat if opts.repeat > 1 else ""
        if opts.verbose:
            suffix += " # %.2fs" % dt
        if ok:
            passed += 1
            print("ok %d - %s%s" % (i + 1, t.name, suffix))
            for line in detail.splitlines() if opts.verbose else []:
                print("  # " + line)
        else:
            failed += 1
            print("not ok %d - %s%s" % (i + 1, t.name, suffix))
            for line in detail.splitlines():
                print("  # " + line)
        sys.stdout.flush()

    def job(i):
        res = run_test(tests[i], opts)
        with lock:
            results[i] = res
            while next_print[0] in results:  # print in file order
                report(next_print[0])
                next_print[0] += 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as ex:
        list(ex.map(job, order))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
