/* run.c — `forkleak run`: checks its options, finds libforkleak.so, runs the program with the
 * shim preloaded and its stdin/stdout/stderr untouched, waits, then prints the combined report
 * on stderr. The program's exit status is passed through; only a program that exited 0 while
 * leaking gets --error-exitcode. This process never touches the program's own processes beyond
 * forwarding SIGTERM/SIGHUP to the one it started. */
#include "forkleak.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char run_usage[] =
    "usage: forkleak run [options] [--] PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM with libforkleak.so preloaded, so that it and every process it forks (and,\n"
    "by default, every program they exec) writes a leak report when it exits; then prints the\n"
    "report of the whole process tree on stderr. PROGRAM's stdin, stdout and stderr are its own.\n"
    "\n"
    "Options:\n"
    "  -o DIR, --output-dir DIR\n"
    "                         write the reports to DIR (created if missing) and keep them;\n"
    "                         default: a fresh $TMPDIR/forkleak.XXXXXX removed afterwards\n"
    "  --keep                 keep the default report directory and print its path\n"
    "  --error-exitcode N     exit status when PROGRAM exited 0 but leaked, or a report could\n"
    "                         not be read (default 23, as LeakSanitizer; 0 turns it off)\n"
    "  --format text|json     how the report on stderr looks (default text)\n"
    "  --suppressions FILE    LSan-style suppressions (leak:PATTERN); may be repeated\n"
    "  -h, --help             show this help\n"
    "\n"
    "Settings of the shim (each sets the FORKLEAK_* variable named for PROGRAM):\n"
    "  --depth N              frames kept per allocation stack, 1..64 (default 30)\n"
    "                                                                  FORKLEAK_DEPTH\n"
    "  --prefault MODE        after fork, break copy-on-write of resident pages:\n"
    "                         off (default), heap or writable          FORKLEAK_PREFAULT\n"
    "  --prefault-in WHERE    child (default), parent or both          FORKLEAK_PREFAULT_IN\n"
    "  --follow-exec yes|no   keep the shim in programs run by exec (default yes)\n"
    "                                                                  FORKLEAK_FOLLOW_EXEC\n"
    "  --inherited summary|full\n"
    "                         full also lists every inherited block live at exit\n"
    "                                                                  FORKLEAK_INHERITED\n"
    "  --scan-mappings yes|no scan private anonymous mappings for pointers (default yes;\n"
    "                         no is LeakSanitizer's narrower root set) FORKLEAK_SCAN_MAPPINGS\n"
    "  --signal SIG           write a snapshot report when a process gets SIG (e.g. SIGUSR2;\n"
    "                         default off)                             FORKLEAK_SIGNAL\n"
    "  --reachable yes|no     also list the blocks still reachable at exit (default no)\n"
    "                                                                  FORKLEAK_REACHABLE\n"
    "  --check-threads auto|1|2\n"
    "                         threads for each exit check (default auto: a second one for\n"
    "                         big heaps when 2 CPUs are free)          FORKLEAK_CHECK_THREADS\n"
    "\n"
    "Environment:\n"
    "  FORKLEAK_LIB           the libforkleak.so to preload (default: ../lib/libforkleak.so\n"
    "                         next to this program's directory, then libforkleak.so beside it)\n"
    "  FORKLEAK_SUPPRESSIONS  one more suppression file\n"
    "  TMPDIR                 where the default report directory is made\n"
    "\n"
    "Exit status: PROGRAM's (128+N when a signal N killed it); if PROGRAM exited 0 but leaks\n"
    "were found, --error-exitcode; 2 for a usage error before PROGRAM runs; 127 (126) when\n"
    "PROGRAM cannot be found (executed).\n";

typedef struct setting {
    const char *opt, *env;
    const char *const *words; /* NULL: validated by a function */
    size_t nwords;
    const char *value;
} setting_t;

static const char *const prefault_words[] = {"off", "heap", "writable"};
static const char *const prefault_in_words[] = {"child", "parent", "both"};
static const char *const yes_no[] = {"yes", "no"};
static const char *const inherited_words[] = {"summary", "full"};
static const char *const threads_words[] = {"auto", "1", "2"};

enum {
    S_DEPTH,
    S_PREFAULT,
    S_PREFAULT_IN,
    S_FOLLOW_EXEC,
    S_INHERITED,
    S_SCAN,
    S_REACHABLE,
    S_THREADS,
    S_SIGNAL,
    S_N
};

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t pending_signal;

/* SIGTERM/SIGHUP sent to forkleak go to the program; it decides how to die, and we report. */
static void forward(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
    else
        pending_signal = sig;
}

static bool check_word(setting_t *s, const char *val)
{
    for (size_t i = 0; i < s->nwords; i++) {
        if (!strcmp(val, s->words[i])) {
            s->value = s->words[i];
            return true;
        }
    }
    char list[128] = "";
    for (size_t i = 0; i < s->nwords; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 s->words[i]);
    fl_error("%s='%s' is not one of %s", s->opt, val, list);
    return false;
}

/* Accepts SIGUSR2, USR2, 12, SIGRTMIN+3, RTMIN+3; passes the canonical SIGNAME on. Signals that
 * cannot be caught, or that a fault raises, are refused. */
static bool check_signal(setting_t *s, const char *val, char *out, size_t cap)
{
    const char *name = strncmp(val, "SIG", 3) ? val : val + 3;
    int sig = 0;
    uint64_t n;
    if (fl_parse_u64(val, &n) && n >= 1 && n <= (uint64_t)SIGRTMAX) {
        sig = (int)n;
    } else if (!strncmp(name, "RTMIN+", 6) && fl_parse_u64(name + 6, &n) &&
               n <= (uint64_t)(SIGRTMAX - SIGRTMIN)) {
        sig = SIGRTMIN + (int)n;
    } else if (!strcmp(name, "RTMIN")) {
        sig = SIGRTMIN;
    } else {
        for (int i = 1; i < SIGRTMIN; i++) {
            const char *abbrev = sigabbrev_np(i);
            if (abbrev && !strcmp(abbrev, name)) {
                sig = i;
                break;
            }
        }
    }
    if (!sig) {
        fl_error("%s='%s' is not a signal (a name like SIGUSR2, SIGRTMIN+N, or a number)", s->opt,
                 val);
        return false;
    }
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE ||
        sig == SIGILL || sig == SIGCHLD) {
        fl_error("%s='%s': SIG%s cannot be used for snapshots (uncatchable, raised by faults, "
                 "or sent by the kernel); use e.g. SIGUSR2",
                 s->opt, val, sigabbrev_np(sig));
        return false;
    }
    if (sig >= SIGRTMIN)
        snprintf(out, cap, "SIGRTMIN+%d", sig - SIGRTMIN);
    else
        snprintf(out, cap, "SIG%s", sigabbrev_np(sig));
    s->value = out;
    return true;
}

/* The shim: FORKLEAK_LIB if set (it must exist), else next to this executable. */
static char *find_shim(void)
{
    const char *env = getenv("FORKLEAK_LIB");
    if (env && *env) {
        char *p = realpath(env, NULL);
        if (!p || access(p, R_OK) != 0) {
            fl_error("FORKLEAK_LIB='%s': %s", env, strerror(errno));
            free(p);
            return NULL;
        }
        return p;
    }
    char *exe = realpath("/proc/self/exe", NULL);
    if (!exe) {
        fl_error("cannot find this program's path (/proc/self/exe): %s", strerror(errno));
        return NULL;
    }
    *strrchr(exe, '/') = 0;
    char *a = fl_xasprintf("%s/../lib/libforkleak.so", exe);
    char *b = fl_xasprintf("%s/libforkleak.so", exe);
    char *found = NULL;
    if (access(a, R_OK) == 0)
        found = realpath(a, NULL);
    else if (access(b, R_OK) == 0)
        found = realpath(b, NULL);
    if (!found)
        fl_error("cannot find libforkleak.so (looked for %s and %s); set FORKLEAK_LIB to its "
                 "path",
                 a, b);
    free(a);
    free(b);
    free(exe);
    return found;
}

/* LD_PRELOAD with the shim first; entries already there are kept (ld.so takes ':' or ' '). */
static char *preload_value(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old)
        return fl_xstrdup(lib);
    size_t ll = strlen(lib);
    for (const char *p = old; *p;) {
        size_t n = strcspn(p, ": ");
        if (n == ll && !strncmp(p, lib, n))
            return fl_xstrdup(old);
        p += n;
        p += *p != 0;
    }
    return fl_xasprintf("%s:%s", lib, old);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    if (rmdir(dir) != 0)
        fl_warn("cannot remove the report directory %s: %s", dir, strerror(errno));
}

/* Reports still being written (a snapshot's sweeper or a grandchild outliving the program write
 * under a ".…tmp" name, then rename): give them up to 5 s to land before reading the directory. */
static void wait_for_writers(const char *dir)
{
    for (int tries = 0; tries < 100; tries++) {
        DIR *d = opendir(dir);
        if (!d)
            return;
        bool busy = false;
        struct dirent *e;
        while ((e = readdir(d)) && !busy) {
            size_t l = strlen(e->d_name);
            busy = e->d_name[0] == '.' && l > 4 && !strcmp(e->d_name + l - 4, ".tmp");
        }
        closedir(d);
        if (!busy)
            return;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static bool in_list(const fl_strvec_t *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->v[i], s))
            return true;
    return false;
}

static void free_list(fl_strvec_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    memset(v, 0, sizeof *v);
}

/* In the child, between fork and exec: environment, default signal dispositions, exec. On
 * failure errno goes to the parent through the close-on-exec pipe. */
static void __attribute__((noreturn))
exec_child(char **argv, const char *preload, const char *dir, const setting_t *set, int errfd,
           const struct sigaction *old_int, const struct sigaction *old_quit)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGINT, old_int, NULL);
    sigaction(SIGQUIT, old_quit, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGHUP, &dfl, NULL);
    setenv("LD_PRELOAD", preload, 1);
    setenv("FORKLEAK_DIR", dir, 1);
    for (int i = 0; i < S_N; i++)
        if (set[i].value)
            setenv(set[i].env, set[i].value, 1);
    execvp(argv[0], argv);
    int e = errno;
    ssize_t w = write(errfd, &e, sizeof e);
    (void)w;
    _exit(e == ENOENT ? 127 : 126);
}

/* `forkleak run [options] [--] PROGRAM [ARGS…]` */
int fl_cmd_run(int argc, char **argv)
{
    enum {
        O_KEEP = 256,
        O_ERRC,
        O_FORMAT,
        O_SUPP,
        O_DEPTH,
        O_PF,
        O_PFIN,
        O_FOLLOW,
        O_INH,
        O_SCAN,
        O_REACHABLE,
        O_THREADS,
        O_SIG
    };
    static const struct option longopts[] = {
        {"output-dir", required_argument, NULL, 'o'},
        {"keep", no_argument, NULL, O_KEEP},
        {"error-exitcode", required_argument, NULL, O_ERRC},
        {"format", required_argument, NULL, O_FORMAT},
        {"suppressions", required_argument, NULL, O_SUPP},
        {"depth", required_argument, NULL, O_DEPTH},
        {"prefault", required_argument, NULL, O_PF},
        {"prefault-in", required_argument, NULL, O_PFIN},
        {"follow-exec", required_argument, NULL, O_FOLLOW},
        {"inherited", required_argument, NULL, O_INH},
        {"scan-mappings", required_argument, NULL, O_SCAN},
        {"reachable", required_argument, NULL, O_REACHABLE},
        {"check-threads", required_argument, NULL, O_THREADS},
        {"signal", required_argument, NULL, O_SIG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    setting_t set[S_N] = {
        [S_DEPTH] = {"--depth", "FORKLEAK_DEPTH", NULL, 0, NULL},
        [S_PREFAULT] = {"--prefault", "FORKLEAK_PREFAULT", prefault_words, 3, NULL},
        [S_PREFAULT_IN] = {"--prefault-in", "FORKLEAK_PREFAULT_IN", prefault_in_words, 3, NULL},
        [S_FOLLOW_EXEC] = {"--follow-exec", "FORKLEAK_FOLLOW_EXEC", yes_no, 2, NULL},
        [S_INHERITED] = {"--inherited", "FORKLEAK_INHERITED", inherited_words, 2, NULL},
        [S_SCAN] = {"--scan-mappings", "FORKLEAK_SCAN_MAPPINGS", yes_no, 2, NULL},
        [S_REACHABLE] = {"--reachable", "FORKLEAK_REACHABLE", yes_no, 2, NULL},
        [S_THREADS] = {"--check-threads", "FORKLEAK_CHECK_THREADS", threads_words, 3, NULL},
        [S_SIGNAL] = {"--signal", "FORKLEAK_SIGNAL", NULL, 0, NULL},
    };
    fl_opts_t o = {
        .format = FL_FMT_TEXT, .kind = -1, .origin = -1, .symbolize = true, .run_mode = true};
    const char *outdir = NULL;
    bool keep = false;
    uint64_t errcode = 23, u;
    char depth[24], signame[32];
    int c, rc = 2;
    char *lib = NULL, *dir = NULL, *preload = NULL;
    fl_strvec_t before = {0}, files = {0};
    bool tmpdir = false;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(run_usage, stdout);
            fl_opts_free(&o);
            return 0;
        case 'o':
            outdir = optarg;
            break;
        case O_KEEP:
            keep = true;
            break;
        case O_ERRC:
            if (!fl_parse_u64(optarg, &errcode) || errcode > 255) {
                fl_error("--error-exitcode='%s' is not an exit status (0..255)", optarg);
                goto out;
            }
            break;
        case O_FORMAT:
            if (!fl_parse_format(optarg, &o.format, true))
                goto out;
            break;
        case O_SUPP:
            *FL_PUSH(o.supp_files) = optarg;
            break;
        case O_DEPTH:
            if (!fl_parse_u64(optarg, &u) || u < 1 || u > 64) {
                fl_error("--depth='%s' is not a number of frames (1..64)", optarg);
                goto out;
            }
            snprintf(depth, sizeof depth, "%llu", (unsigned long long)u);
            set[S_DEPTH].value = depth;
            break;
        case O_PF:
        case O_PFIN:
        case O_FOLLOW:
        case O_INH:
        case O_SCAN:
        case O_REACHABLE:
        case O_THREADS: {
            static const int which[] = {S_PREFAULT, S_PREFAULT_IN, S_FOLLOW_EXEC, S_INHERITED,
                                        S_SCAN,     S_REACHABLE,   S_THREADS};
            if (!check_word(&set[which[c - O_PF]], optarg))
                goto out;
            break;
        }
        case O_SIG:
            if (!check_signal(&set[S_SIGNAL], optarg, signame, sizeof signame))
                goto out;
            break;
        case ':':
            rc = fl_usage_error("run", "option '%s' needs a value", argv[optind - 1]);
            goto out;
        default:
            rc = fl_usage_error("run", "unknown option '%s'", argv[optind - 1]);
            goto out;
        }
    }
    if (optind == argc) {
        rc = fl_usage_error("run", "no PROGRAM to run");
        goto out;
    }
    if (!(lib = find_shim()))
        goto out;

    /* Check the suppression files now: finding out after a long run would waste it. */
    {
        fl_supps_t tmp = {0};
        fl_diags_t d = {0};
        const char *env = getenv("FORKLEAK_SUPPRESSIONS");
        bool ok = !(env && *env) || fl_supp_load(&tmp, env, &d);
        for (size_t i = 0; ok && i < o.supp_files.n; i++)
            ok = fl_supp_load(&tmp, o.supp_files.v[i], &d);
        fl_diags_print(&d, stderr);
        fl_diags_free(&d);
        fl_supps_free(&tmp);
        fl_intern_free();
        if (!ok)
            goto out;
    }

    if (outdir) {
        if (mkdir(outdir, 0700) != 0 && errno != EEXIST) {
            fl_error("cannot create the report directory %s: %s", outdir, strerror(errno));
            goto out;
        }
        struct stat st;
        if (stat(outdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fl_error("%s is not a directory", outdir);
            goto out;
        }
        dir = realpath(outdir, NULL);
        if (!dir) {
            fl_error("%s: %s", outdir, strerror(errno));
            goto out;
        }
        fl_diags_t d = {0};
        fl_list_dir(dir, &before, &d); /* reports of earlier runs are not this run's */
        fl_diags_free(&d);
    } else {
        const char *t = getenv("TMPDIR");
        char *templ = fl_xasprintf("%s/forkleak.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(templ)) {
            fl_error("cannot create a report directory %s: %s", templ, strerror(errno));
            free(templ);
            goto out;
        }
        dir = realpath(templ, NULL);
        free(templ);
        if (!dir) {
            fl_error("cannot resolve the report directory: %s", strerror(errno));
            goto out;
        }
        tmpdir = true;
    }
    preload = preload_value(lib);

    /* Like system(3): while the program runs, ^C and ^\ are its business (the terminal sends
     * them to it too); we survive them to print the report. TERM and HUP are forwarded. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, fwd = {.sa_handler = forward};
    struct sigaction old_int, old_quit, old_term, old_hup;
    sigemptyset(&fwd.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    sigaction(SIGTERM, &fwd, &old_term);
    sigaction(SIGHUP, &fwd, &old_hup);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        fl_error("pipe: %s", strerror(errno));
        goto restore;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fl_error("cannot fork: %s", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        goto restore;
    }
    if (pid == 0) {
        close(pipefd[0]);
        exec_child(argv + optind, preload, dir, set, pipefd[1], &old_int, &old_quit);
    }
    child_pid = pid;
    if (pending_signal)
        kill(pid, pending_signal);
    close(pipefd[1]);
    int exec_errno = 0;
    ssize_t got;
    do
        got = read(pipefd[0], &exec_errno, sizeof exec_errno);
    while (got < 0 && errno == EINTR);
    close(pipefd[0]);
    if (got != (ssize_t)sizeof exec_errno)
        exec_errno = 0;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fl_error("waitpid: %s", strerror(errno));
            goto restore;
        }
    }
    child_pid = 0;
    int prog_rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

    if (exec_errno) {
        fl_error("cannot run '%s': %s", argv[optind], strerror(exec_errno));
        rc = prog_rc;
        goto restore;
    }

    wait_for_writers(dir);
    {
        fl_diags_t d = {0};
        fl_strvec_t all = {0};
        fl_list_dir(dir, &all, &d);
        fl_diags_print(&d, stderr);
        fl_diags_free(&d);
        for (size_t i = 0; i < all.n; i++) {
            if (in_list(&before, all.v[i]))
                free(all.v[i]);
            else
                *FL_PUSH(files) = all.v[i];
        }
        free(all.v);
    }
    int report_rc = 0;
    if (!files.n)
        fl_warn("%s left no report in %s (is it statically linked or setuid, or did the shim "
                "fail to load?)",
                argv[optind], dir);
    else
        report_rc = fl_report_files(&o, files.v, files.n, stderr);
    rc = prog_rc != 0 ? prog_rc : report_rc != 0 ? (int)errcode : 0;

restore:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    if (tmpdir) {
        if (keep)
            fprintf(stderr, "forkleak: reports kept in %s\n", dir);
        else
            remove_dir(dir);
    }
out:
    free_list(&before);
    free_list(&files);
    free(lib);
    free(dir);
    free(preload);
    fl_opts_free(&o);
    return rc;
}
