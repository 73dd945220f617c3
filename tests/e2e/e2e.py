#!/usr/bin/python3
"""End-to-end tests: real programs nobody here wrote, unmodified, under forkleak.

Each test runs a Debian program under `forkleak run` (or with the shim preloaded into a server),
checks that its behaviour is unchanged (same output, same exit status, server requests succeed)
and that the reports make sense (one per process, the forked children among them, memory figures
present). Prints `ok N - name` / `not ok N - name` and ends with `N passed, N failed`.

    tests/e2e/e2e.py [-k SUBSTRING] [--keep]
"""
import json, os, shutil, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "build/bin/forkleak")
SHIM = os.path.join(ROOT, "build/lib/libforkleak.so")
PY = "/usr/bin/python3"
PGBIN = "/usr/lib/postgresql/15/bin"


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def sh(cmd, env=None, timeout=120, **kw):
    return subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True, **kw)


def report(d):
    r = sh([TOOL, "report", "--format", "json", d])
    check(r.returncode in (0, 1), "forkleak report exited %d: %s" % (r.returncode, r.stderr[-2000:]))
    j = json.loads(r.stdout)
    check(not j.get("errors"), "unreadable reports: %s" % j.get("errors"))
    return j


def shim_env(d, **extra):
    env = dict(os.environ)
    env["LD_PRELOAD"] = SHIM
    env["FORKLEAK_DIR"] = d
    env.update(extra)
    return env


def by_exit(j, kind):
    return [p for p in j["processes"] if p["exit"]["kind"] == kind]


# ---------------------------------------------------------------------------------------------
def t_python_builtins(d):
    script = "import json; d={i: [i, str(i)] for i in range(5000)}; s=json.dumps(d); print(len(json.loads(s)))"
    native = sh([PY, "-c", script])
    r = sh([TOOL, "run", "-o", d, "--", PY, "-c", script])
    check(r.stdout == native.stdout and r.returncode == native.returncode == 0,
          "output or status changed: %r %d" % (r.stdout, r.returncode))
    j = report(d)
    check(len(j["processes"]) == 1, "expected one process")
    s = j["processes"][0]["summary"]
    # valgrind --leak-check=full on the same command: 0 bytes definitely/indirectly lost.
    check(s["leaked_bytes"] == 0, "python3 reported %d leaked bytes" % s["leaked_bytes"])


def t_python_multiprocessing(d):
    # fork start method; a Process's child ends in os._exit after its target returns. Each child
    # leaks one 4096-byte block through ctypes. (Not `with Pool()`: its __exit__ terminates the
    # workers with SIGTERM, and a killed process leaves no report.)
    script = r"""
import ctypes, multiprocessing as mp
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
def work(i, q):
    libc.malloc(4096)          # dropped at once: a leak in the worker
    q.put(i * i)
if __name__ == "__main__":
    mp.set_start_method("fork")
    q = mp.Queue()
    procs = [mp.Process(target=work, args=(i, q)) for i in range(8)]
    for p in procs: p.start()
    total = sum(q.get() for _ in procs)
    for p in procs: p.join()
    print(total, all(p.exitcode == 0 for p in procs))
"""
    native = sh([PY, "-c", script])
    r = sh([TOOL, "run", "-o", d, "--error-exitcode", "0", "--", PY, "-c", script])
    check(r.stdout == native.stdout and r.returncode == 0, "output/status changed: %r %s" % (r.stdout, r.stderr[-1500:]))
    j = report(d)
    workers = [p for p in j["processes"] if p["gen"] == 1 and p["exit"]["kind"] in ("_exit", "exit")]
    check(len(workers) == 8, "expected 8 forked workers with reports, got %d" % len(workers))
    for p in workers:
        own = [l for l in p["leaks"] if l["origin"] == "own" and l["kind"] == "direct" and l["bytes"] == 4096]
        check(own, "worker %d: its own 4096-byte ctypes leak was not reported" % p["pid"])
    check(any(p["exit"]["kind"] == "_exit" for p in workers), "workers should end in os._exit")
    top = [p for p in j["processes"] if p["gen"] == 0]
    check(top and all(l["bytes"] % 4096 != 0 or l["kind"] != "direct" for p in top for l in p["leaks"]),
          "the parent must not report the workers' leaks")


def t_make_j2(d):
    src = tempfile.mkdtemp(dir=d)
    for i in range(6):
        with open(os.path.join(src, "f%d.c" % i), "w") as f:
            f.write("int f%d(int x){return x*%d;}\n" % (i, i))
    with open(os.path.join(src, "main.c"), "w") as f:
        f.write("int f0(int);int main(void){return f0(0);}\n")
    with open(os.path.join(src, "Makefile"), "w") as f:
        f.write("OBJ=main.o " + " ".join("f%d.o" % i for i in range(6)) + "\nprog: $(OBJ)\n\t$(CC) -o $@ $(OBJ)\n")
    out = os.path.join(d, "reports")
    r = sh([TOOL, "run", "-o", out, "--error-exitcode", "0", "--", "make", "-s", "-j2", "-C", src])
    check(r.returncode == 0 and os.path.exists(os.path.join(src, "prog")), "make failed: %s" % r.stderr[-1500:])
    j = report(out)
    exes = {os.path.basename(p["exe"]) for p in j["processes"]}
    check("make" in exes, "no report from make: %s" % exes)
    check(any(e.startswith("cc1") for e in exes), "no report from cc1 (exec'd children): %s" % exes)
    check(len(j["processes"]) >= 10, "expected reports from make, gcc, cc1, as, collect2, ld: %d" % len(j["processes"]))


def t_gcc_O2(d):
    src = os.path.join(d, "big.c")
    with open(src, "w") as f:
        for i in range(1500):
            f.write("static int s%d[%d];\nint g%d(int x){int r=0;for(int i=0;i<x;i++)r+=s%d[i%%%d]*i+%d;return r;}\n"
                    % (i, i % 7 + 1, i, i, i % 7 + 1, i))
    native_o, shim_o = os.path.join(d, "n.o"), os.path.join(d, "s.o")
    n = sh(["gcc", "-O2", "-c", src, "-o", native_o])
    r = sh([TOOL, "run", "-o", os.path.join(d, "rep"), "--error-exitcode", "0", "--",
            "gcc", "-O2", "-c", src, "-o", shim_o], timeout=300)
    check(n.returncode == 0 and r.returncode == 0, "gcc failed under forkleak: %s" % r.stderr[-1500:])
    check(open(native_o, "rb").read() == open(shim_o, "rb").read(), "object file differs from the native one")
    j = report(os.path.join(d, "rep"))
    check(any(os.path.basename(p["exe"]).startswith("cc1") for p in j["processes"]), "cc1 left no report")


def wait_for(path, secs):
    t = time.time() + secs
    while time.time() < t:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


def t_redis(d):
    if not shutil.which("redis-server"):
        raise Fail("redis-server is not installed (scripts/install-deps.sh installs it for e2e)")
    sock = os.path.join(d, "redis.sock")
    rep = os.path.join(d, "rep")
    os.mkdir(rep)
    srv = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                            "--appendonly", "no", "--dir", d, "--enable-debug-command", "yes"], env=shim_env(rep),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        check(wait_for(sock, 10), "redis-server did not start")
        b = sh(["redis-benchmark", "-s", sock, "-n", "20000", "-q", "-t", "set,get,lpush"])
        check(b.returncode == 0 and "requests per second" in b.stdout, "redis-benchmark failed: %s" % b.stdout[-500:])
        cli = ["redis-cli", "-s", sock]
        check(sh(cli + ["debug", "populate", "50000"]).stdout.strip() == "OK", "DEBUG POPULATE failed")
        check("Background saving started" in sh(cli + ["bgsave"]).stdout, "BGSAVE did not start")
        t = time.time() + 30
        while time.time() < t:
            info = sh(cli + ["info", "persistence"]).stdout
            if "rdb_bgsave_in_progress:0" in info:
                break
            time.sleep(0.1)
        check("rdb_last_bgsave_status:ok" in info, "BGSAVE failed: %s" % info)
        size = sh(cli + ["dbsize"]).stdout.strip()
        check(size.isdigit() and int(size) >= 50000, "wrong dbsize: %r" % size)
        sh(cli + ["shutdown", "nosave"])
        srv.wait(timeout=30)
    finally:
        if srv.poll() is None:
            srv.kill()
    j = report(rep)
    check(len(j["processes"]) == 2, "expected the server and its BGSAVE child: %d reports" % len(j["processes"]))
    child = [p for p in j["processes"] if p["gen"] == 1]
    check(child, "no report from the BGSAVE child")
    c = child[0]
    check(c.get("memory") and c.get("cow"), "the BGSAVE child has no memory/cow figures")
    check(c["cow"].get("shared_pages", 0) > 0, "the BGSAVE child shares no inherited pages?")


def t_postgres(d):
    if not os.path.exists(os.path.join(PGBIN, "postgres")):
        raise Fail("PostgreSQL 15 is not installed (scripts/install-deps.sh installs it for e2e)")
    os.chmod(d, 0o777)
    data, sock, rep = os.path.join(d, "data"), os.path.join(d, "sock"), os.path.join(d, "rep")
    for p in (sock, rep):
        os.mkdir(p)
        os.chmod(p, 0o777)
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    r = sh(as_pg + [PGBIN + "/initdb", "-D", data, "-A", "trust"])
    check(r.returncode == 0, "initdb failed: %s" % r.stderr[-800:])
    env = shim_env(rep)
    r = sh(as_pg + ["env", "LD_PRELOAD=" + SHIM, "FORKLEAK_DIR=" + rep, PGBIN + "/pg_ctl", "-D", data,
                    "-o", "-k %s -c listen_addresses=" % sock, "-l", os.path.join(d, "log"), "start", "-w"], env=env)
    check(r.returncode == 0, "pg_ctl start failed: %s %s" % (r.stdout, r.stderr))
    try:
        r = sh(as_pg + [PGBIN + "/pgbench", "-h", sock, "-i", "-s", "1", "postgres"])
        check(r.returncode == 0, "pgbench -i failed: %s" % r.stderr[-800:])
        r = sh(as_pg + [PGBIN + "/pgbench", "-h", sock, "-c", "4", "-t", "200", "postgres"])
        check(r.returncode == 0 and "number of failed transactions: 0" in r.stdout, "pgbench failed: %s" % r.stdout[-800:])
    finally:
        sh(as_pg + [PGBIN + "/pg_ctl", "-D", data, "stop", "-w"])
    j = report(rep)
    post = [p for p in j["processes"] if os.path.basename(p["exe"]) == "postgres"]
    check(len(post) >= 8, "expected the postmaster, its auxiliary processes and the backends: %d" % len(post))
    check(any(p["gen"] == 1 for p in post), "no forked backend left a report")
    check(all(p.get("memory") for p in post), "a postgres process has no memory figures")


TESTS = [("python3 builds dicts/json: no leak of its own", t_python_builtins),
         ("python3 multiprocessing (fork, os._exit) reports the workers' leaks", t_python_multiprocessing),
         ("make -j2 on a small tree", t_make_j2),
         ("gcc -O2 -c of a large file: identical object file", t_gcc_O2),
         ("redis-server (jemalloc): benchmark, BGSAVE child report", t_redis),
         ("PostgreSQL: initdb, pgbench, one report per backend", t_postgres)]


def main():
    args = sys.argv[1:]
    keep = "--keep" in args
    filt = args[args.index("-k") + 1] if "-k" in args else ""
    passed = failed = 0
    n = 0
    for name, fn in TESTS:
        if filt and filt not in name:
            continue
        n += 1
        d = tempfile.mkdtemp(prefix="fl-e2e-")
        t0 = time.time()
        try:
            fn(d)
            print("ok %d - %s (%.1fs)" % (n, name, time.time() - t0))
            passed += 1
        except (Fail, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError, OSError) as e:
            print("not ok %d - %s" % (n, name))
            print("  # " + str(e).replace("\n", "\n  # "))
            failed += 1
        finally:
            if not keep:
                shutil.rmtree(d, ignore_errors=True)
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
