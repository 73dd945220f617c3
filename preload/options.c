/* options.c — strict parsing of the FORKLEAK_* environment (table in options.def). Runs in the
 * constructor: an invalid value is fatal before main (one line, exit status 2); an unknown
 * FORKLEAK_* name only warns. Never allocates. */
#include "internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

fl_options_t fl_opt;

enum { T_STR, T_INT, T_ENUM, T_BOOL, T_SIG, T_TOOL };
typedef struct optdesc {
    const char *name;
    int type;
    const char *def, *accepted, *help;
} optdesc_t;

static const optdesc_t table[] = {
#define FL_OPT(NAME, field, type, def, acc, help) {#NAME, T_##type, def, acc, help},
#include "options.def"
#undef FL_OPT
};
#define NOPTS (sizeof table / sizeof table[0])

static const struct { const char *name; int num; } signames[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU}, {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"PWR", SIGPWR},   {"SYS", SIGSYS},
};

static _Noreturn void bad(const char *name, const char *val, const char *accepted)
{
    char buf[768], shown[200];
    size_t vl = strlen(val);
    /* A long value is shown shortened, so that the line keeps its end and its newline. */
    memcpy(shown, val, vl < sizeof shown - 4 ? vl : sizeof shown - 4);
    if (vl >= sizeof shown - 4)
        memcpy(shown + sizeof shown - 4, "...", 4);
    else
        shown[vl] = 0;
    size_t n = fl_fmt(buf, sizeof buf,
                      "forkleak: error: FORKLEAK_%s='%s' is not one of %s (see FORKLEAK_HELP=1)\n",
                      name, shown, accepted);
    fl_log_raw(buf, n < sizeof buf ? n : sizeof buf - 1);
    /* Before main, with nothing of the program's run yet: status 2 and no stdio flush. */
    _exit(2);
}

static bool parse_long(const char *s, long *out)
{
    char *end;
    if (!*s)
        return false;
    long v = strtol(s, &end, 10);
    if (*end)
        return false; /* mimalloc's check: the whole value must be a number */
    *out = v;
    return true;
}

static int enum_index(const char *accepted, const char *val)
{
    int idx = 0;
    size_t vl = strlen(val);
    for (const char *p = accepted; *p; idx++) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == vl && strncmp(p, val, l) == 0)
            return idx;
        if (!e)
            break;
        p = e + 1;
    }
    return -1;
}

static int parse_bool(const char *v)
{
    static const char *const yes[] = {"yes", "1", "true", "on"}, *const no[] = {"no", "0", "false", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

static int parse_signal(const char *v)
{
    long n;
    if (strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "no") == 0)
        return 0;
    if (parse_long(v, &n))
        return n > 0 && n < NSIG && n != SIGKILL && n != SIGSTOP ? (int)n : -1;
    if (strncasecmp(v, "SIG", 3) == 0)
        v += 3;
    for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
        if (strcasecmp(v, signames[i].name) == 0)
            return signames[i].num;
    if (strncasecmp(v, "RTMIN+", 6) == 0 && parse_long(v + 6, &n) && n >= 0 &&
        SIGRTMIN + n <= SIGRTMAX)
        return SIGRTMIN + (int)n;
    return -1;
}

static void apply(size_t i, const char *v)
{
    const optdesc_t *d = &table[i];
    long n;
    int k;
    switch (d->type) {
    case T_TOOL:
        return;
    case T_STR:
        if (!*v || strlen(v) >= sizeof fl_opt.dir)
            bad(d->name, v, "a non-empty path shorter than 512 bytes");
        memcpy(fl_opt.dir, v, strlen(v) + 1); /* DIR is the only string option */
        return;
    case T_INT:
        if (!parse_long(v, &n) || n < 1 || n > FL_MAX_DEPTH)
            bad(d->name, v, "the numbers 1..64");
        fl_opt.depth = (int)n;
        return;
    case T_ENUM:
        k = enum_index(d->accepted, v);
        if (k < 0)
            bad(d->name, v, d->accepted);
        if (strcmp(d->name, "PREFAULT") == 0)
            fl_opt.prefault = k;
        else if (strcmp(d->name, "PREFAULT_IN") == 0)
            fl_opt.prefault_in = k;
        else if (strcmp(d->name, "CHECK_THREADS") == 0)
            fl_opt.check_threads = k;
        else
            fl_opt.inherited = k;
        return;
    case T_BOOL:
        k = parse_bool(v);
        if (k < 0)
            bad(d->name, v, "yes, no");
        if (strcmp(d->name, "FOLLOW_EXEC") == 0)
            fl_opt.follow_exec = k;
        else if (strcmp(d->name, "SCAN_MAPPINGS") == 0)
            fl_opt.scan_mappings = k;
        else if (strcmp(d->name, "REACHABLE") == 0)
            fl_opt.reachable = k;
        else
            fl_opt.help = k;
        return;
    case T_SIG:
        k = parse_signal(v);
        if (k < 0)
            bad(d->name, v, "off, a signal name (SIGUSR2, USR2, RTMIN+3) or number");
        fl_opt.signal = k;
        return;
    }
}

static void print_help(void)
{
    char buf[512];
    static const char head[] = "forkleak: FORKLEAK_* variables (name, default, accepted values):\n";
    fl_log_raw(head, sizeof head - 1);
    for (size_t i = 0; i < NOPTS; i++) {
        size_t n = fl_fmt(buf, sizeof buf, "  FORKLEAK_%s%s  default '%s'  [%s]\n      %s\n",
                          table[i].name, "", table[i].def, table[i].accepted, table[i].help);
        fl_log_raw(buf, n < sizeof buf ? n : sizeof buf - 1);
    }
}

void fl_options_parse(void)
{
    /* Defaults first, through the same parser, so the table's defaults are the truth. */
    for (size_t i = 0; i < NOPTS; i++)
        apply(i, table[i].def);
    extern char **environ;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "FORKLEAK_", 9) != 0)
            continue;
        const char *name = *e + 9, *eq = strchr(name, '=');
        if (!eq)
            continue;
        size_t nl = (size_t)(eq - name), i;
        for (i = 0; i < NOPTS; i++)
            if (strlen(table[i].name) == nl && strncmp(table[i].name, name, nl) == 0)
                break;
        if (i == NOPTS) {
            char nm[64];
            size_t l = nl < sizeof nm - 1 ? nl : sizeof nm - 1;
            memcpy(nm, name, l);
            nm[l] = 0;
            fl_log_warn("unknown variable FORKLEAK_%s ignored (FORKLEAK_HELP=1 lists them)", nm);
            continue;
        }
        apply(i, eq + 1);
    }
    if (fl_opt.help)
        print_help();
}

size_t fl_options_describe(char *buf, size_t cap)
{
    static const char *const pf[] = {"off", "heap", "writable"}, *const pin[] = {"child", "parent", "both"};
    return fl_fmt(buf, cap,
                  "depth=%d prefault=%s prefault_in=%s follow_exec=%s inherited=%s "
                  "scan_mappings=%s signal=%d reachable=%s",
                  fl_opt.depth, pf[fl_opt.prefault], pin[fl_opt.prefault_in],
                  fl_opt.follow_exec ? "yes" : "no",
                  fl_opt.inherited == FL_INHERITED_FULL ? "full" : "summary",
                  fl_opt.scan_mappings ? "yes" : "no", fl_opt.signal, fl_opt.reachable ? "yes" : "no");
}
