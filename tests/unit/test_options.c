/* test_options.c — the FORKLEAK_* parser (preload/options.c): defaults, every accepted spelling,
 * and every rejected value. A rejected value must end the process with status 2 and exactly one
 * line on stderr naming the variable, the value and what is accepted, so each of those runs in a
 * forked child whose stderr goes to a pipe. Unknown names only warn; FORKLEAK_HELP prints the
 * table. */
// LINK: preload/options.c preload/log.c
#include "internal.h"

#include <sys/wait.h>
#include <unistd.h>

#include "task.h"

extern char **environ;

/* Removes every FORKLEAK_* variable from the environment. */
static void clear_forkleak_env(void)
{
    for (;;) {
        char **e = environ;
        while (e && *e && strncmp(*e, "FORKLEAK_", 9) != 0)
            e++;
        if (!e || !*e)
            return;
        char name[128];
        size_t n = strcspn(*e, "=");
        snprintf(name, sizeof name, "%.*s", (int)n, *e);
        unsetenv(name);
    }
}

typedef struct outcome {
    int status; /* exit status, or 128 + signal */
    char err[4096];
} outcome_t;

/* In a child: set NAME=VALUE (NAME NULL: nothing), parse, exit 0. Returns what happened. */
static outcome_t parse_in_child(const char *name, const char *value)
{
    outcome_t o;
    memset(&o, 0, sizeof o);
    int fd[2];
    ASSERT_EQ(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        clear_forkleak_env();
        if (name)
            setenv(name, value, 1);
        fl_options_parse();
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(fd[0], o.err + n, sizeof o.err - 1 - n)) > 0)
        n += (size_t)r;
    close(fd[0]);
    int st;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    /* The message must be text: a NUL byte would end it here. */
    ASSERT_CTX("stderr of %s=%s has a NUL byte", name ? name : "-", value ? value : "-");
    ASSERT_EQ(strlen(o.err), n);
    return o;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void parse_with(const char *name, const char *value)
{
    clear_forkleak_env();
    if (name)
        setenv(name, value, 1);
    fl_options_parse();
    clear_forkleak_env();
}

static void test_defaults(void)
{
    parse_with(NULL, NULL);
    ASSERT_STR_EQ(fl_opt.dir, ".");
    ASSERT_EQ(fl_opt.depth, 30);
    ASSERT_EQ(fl_opt.prefault, FL_PREFAULT_OFF);
    ASSERT_EQ(fl_opt.prefault_in, FL_PREFAULT_IN_CHILD);
    ASSERT_TRUE(fl_opt.follow_exec);
    ASSERT_EQ(fl_opt.inherited, FL_INHERITED_SUMMARY);
    ASSERT_TRUE(fl_opt.scan_mappings);
    ASSERT_EQ(fl_opt.signal, 0);
    ASSERT_FALSE(fl_opt.reachable);
    ASSERT_EQ(fl_opt.check_threads, 0); /* auto */
    ASSERT_FALSE(fl_opt.help);
    char buf[512];
    fl_options_describe(buf, sizeof buf);
    ASSERT_TRUE(strstr(buf, "depth=30") != NULL);
    ASSERT_TRUE(strstr(buf, "scan_mappings=yes") != NULL);
    ASSERT_TRUE(strstr(buf, "prefault=off") != NULL);
}

static void test_accepted_values(void)
{
    parse_with("FORKLEAK_DEPTH", "1");
    ASSERT_EQ(fl_opt.depth, 1);
    parse_with("FORKLEAK_DEPTH", "64");
    ASSERT_EQ(fl_opt.depth, 64);
    parse_with("FORKLEAK_DIR", "/tmp/somewhere");
    ASSERT_STR_EQ(fl_opt.dir, "/tmp/somewhere");
    parse_with("FORKLEAK_PREFAULT", "heap");
    ASSERT_EQ(fl_opt.prefault, FL_PREFAULT_HEAP);
    parse_with("FORKLEAK_PREFAULT", "writable");
    ASSERT_EQ(fl_opt.prefault, FL_PREFAULT_WRITABLE);
    parse_with("FORKLEAK_PREFAULT_IN", "both");
    ASSERT_EQ(fl_opt.prefault_in, FL_PREFAULT_IN_BOTH);
    parse_with("FORKLEAK_INHERITED", "full");
    ASSERT_EQ(fl_opt.inherited, FL_INHERITED_FULL);
    parse_with("FORKLEAK_CHECK_THREADS", "1");
    ASSERT_EQ(fl_opt.check_threads, 1);
    parse_with("FORKLEAK_CHECK_THREADS", "2");
    ASSERT_EQ(fl_opt.check_threads, 2);
    parse_with("FORKLEAK_CHECK_THREADS", "auto");
    ASSERT_EQ(fl_opt.check_threads, 0);
    static const char *const no[] = {"no", "NO", "0", "false", "off", "Off"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        ASSERT_CTX("SCAN_MAPPINGS=%s", no[i]);
        parse_with("FORKLEAK_SCAN_MAPPINGS", no[i]);
        ASSERT_FALSE(fl_opt.scan_mappings);
    }
    static const char *const yes[] = {"yes", "Yes", "1", "true", "on"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        ASSERT_CTX("REACHABLE=%s", yes[i]);
        parse_with("FORKLEAK_REACHABLE", yes[i]);
        ASSERT_TRUE(fl_opt.reachable);
    }
    parse_with("FORKLEAK_FOLLOW_EXEC", "no");
    ASSERT_FALSE(fl_opt.follow_exec);
    parse_with("FORKLEAK_SIGNAL", "SIGUSR2");
    ASSERT_EQ(fl_opt.signal, SIGUSR2);
    parse_with("FORKLEAK_SIGNAL", "usr1");
    ASSERT_EQ(fl_opt.signal, SIGUSR1);
    parse_with("FORKLEAK_SIGNAL", "12");
    ASSERT_EQ(fl_opt.signal, 12);
    parse_with("FORKLEAK_SIGNAL", "RTMIN+3");
    ASSERT_EQ(fl_opt.signal, SIGRTMIN + 3);
    parse_with("FORKLEAK_SIGNAL", "off");
    ASSERT_EQ(fl_opt.signal, 0);
    parse_with("FORKLEAK_SUPPRESSIONS", "/any/file"); /* the tool's: accepted, not interpreted */
    parse_with("FORKLEAK_LIB", "/any/lib.so");
}

static void expect_rejected(const char *name, const char *value, const char *accepted_part)
{
    outcome_t o = parse_in_child(name, value);
    char want[256];
    snprintf(want, sizeof want, "forkleak: error: %s='%s' ", name, value);
    ASSERT_CTX("%s=%s: stderr was \"%s\"", name, value, o.err);
    ASSERT_EQ(o.status, 2);
    ASSERT_EQ(count_lines(o.err), 1);
    ASSERT_EQ(o.err[strlen(o.err) - 1], '\n');
    ASSERT_EQ(strncmp(o.err, want, strlen(want)), 0);
    ASSERT_TRUE(strstr(o.err, accepted_part) != NULL);
}

static void test_rejected_values(void)
{
    expect_rejected("FORKLEAK_DEPTH", "abc", "1..64");
    expect_rejected("FORKLEAK_DEPTH", "0", "1..64");
    expect_rejected("FORKLEAK_DEPTH", "65", "1..64");
    expect_rejected("FORKLEAK_DEPTH", "-1", "1..64");
    expect_rejected("FORKLEAK_DEPTH", "", "1..64");
    expect_rejected("FORKLEAK_DEPTH", "12x", "1..64");
    expect_rejected("FORKLEAK_DEPTH", "0x10", "1..64");
    expect_rejected("FORKLEAK_DEPTH", "99999999999999999999999", "1..64");
    expect_rejected("FORKLEAK_PREFAULT", "heapp", "off,heap,writable");
    expect_rejected("FORKLEAK_PREFAULT", "", "off,heap,writable");
    expect_rejected("FORKLEAK_PREFAULT_IN", "neither", "child,parent,both");
    expect_rejected("FORKLEAK_INHERITED", "all", "summary,full");
    expect_rejected("FORKLEAK_CHECK_THREADS", "3", "auto,1,2");
    expect_rejected("FORKLEAK_CHECK_THREADS", "0", "auto,1,2");
    expect_rejected("FORKLEAK_SCAN_MAPPINGS", "maybe", "yes");
    expect_rejected("FORKLEAK_FOLLOW_EXEC", "2", "yes");
    expect_rejected("FORKLEAK_REACHABLE", "", "yes");
    expect_rejected("FORKLEAK_HELP", "please", "yes");
    expect_rejected("FORKLEAK_SIGNAL", "SIGFOO", "signal");
    expect_rejected("FORKLEAK_SIGNAL", "SIGKILL", "signal");
    expect_rejected("FORKLEAK_SIGNAL", "9", "signal");
    expect_rejected("FORKLEAK_SIGNAL", "99", "signal");
    expect_rejected("FORKLEAK_DIR", "", "path");
    char longdir[700];
    memset(longdir, 'd', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = 0;
    outcome_t o = parse_in_child("FORKLEAK_DIR", longdir);
    ASSERT_EQ(o.status, 2);
    ASSERT_EQ(count_lines(o.err), 1);
    ASSERT_TRUE(strstr(o.err, "FORKLEAK_DIR=") != NULL);
}

static void test_unknown_name_warns(void)
{
    outcome_t o = parse_in_child("FORKLEAK_FOO", "1");
    ASSERT_CTX("stderr was \"%s\"", o.err);
    ASSERT_EQ(o.status, 0);
    ASSERT_EQ(count_lines(o.err), 1);
    ASSERT_TRUE(strncmp(o.err, "forkleak: warning: ", 19) == 0);
    ASSERT_TRUE(strstr(o.err, "FORKLEAK_FOO") != NULL);
    o = parse_in_child("FORKLEAK_", "1");
    ASSERT_EQ(o.status, 0);
}

static void test_help_table(void)
{
    outcome_t o = parse_in_child("FORKLEAK_HELP", "1");
    ASSERT_CTX("stderr was \"%s\"", o.err);
    ASSERT_EQ(o.status, 0);
    static const char *const names[] = {"DIR", "DEPTH", "PREFAULT", "PREFAULT_IN", "FOLLOW_EXEC",
                                        "INHERITED", "SCAN_MAPPINGS", "SIGNAL", "REACHABLE",
                                        "CHECK_THREADS", "HELP", "SUPPRESSIONS", "LIB"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n  FORKLEAK_%s  default '", names[i]);
        ASSERT_CTX("no line for %s in \"%s\"", names[i], o.err);
        ASSERT_TRUE(strstr(o.err, line) != NULL);
    }
}

int main(void)
{
    RUN_TEST(test_defaults);
    RUN_TEST(test_accepted_values);
    RUN_TEST(test_rejected_values);
    RUN_TEST(test_unknown_name_warns);
    RUN_TEST(test_help_table);
    return 0;
}
