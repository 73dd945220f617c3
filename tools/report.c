/* report.c — `forkleak report`: its options, finding the report files, and the pipeline shared
 * with `forkleak run` (read every file, build the tree, symbolize, filter, print). A bad file is
 * named with what was wrong and skipped; every other file is still reported. Exit status: 0 no
 * leaks, 1 leaks, 2 bad usage or a bad input file (2 wins over 1: a CI job must not pass on a
 * report it could not read). */
#include "forkleak.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <sys/stat.h>

static const char report_usage[] =
    "usage: forkleak report [options] DIR|FILE...\n"
    "\n"
    "Reads the per-process reports that libforkleak.so wrote (every *.report file in each\n"
    "DIR, or the FILEs named), puts the processes into their fork tree, symbolizes the\n"
    "stacks offline and prints the leaks of every process and a combined view in which a\n"
    "leak inherited through fork is counted once.\n"
    "\n"
    "Options:\n"
    "  --format FORMAT        text (default, LeakSanitizer-style), json (docs/json-format.md),\n"
    "                         folded (collapsed stacks for flamegraph.pl/speedscope) or\n"
    "                         sarif (SARIF 2.1.0, for code scanning)\n"
    "  --suppressions FILE    LSan-style suppressions (leak:PATTERN lines); may be repeated.\n"
    "                         FORKLEAK_SUPPRESSIONS names one more file\n"
    "  --gen-suppressions     also print a ready leak: suppression for each leak\n"
    "  --min-bytes N          show only leak groups of at least N bytes\n"
    "  --pid PID              show only process PID (all its images); may be repeated\n"
    "  --kind KIND            direct, indirect or all (default; all also shows orphaned and\n"
    "                         live-at-exit groups), or reachable: the blocks still reachable\n"
    "                         at exit that processes run with FORKLEAK_REACHABLE=yes listed\n"
    "                         (valgrind's \"still reachable\"; never counted as leaks)\n"
    "  --origin ORIGIN        own, inherited or all (default)\n"
    "  --no-symbolize         print module+offset instead of reading debug information\n"
    "  -h, --help             show this help\n"
    "\n"
    "Filters and suppressions apply to every format and to the exit status.\n"
    "\n"
    "Exit status: 0 no leaks, 1 leaks (direct or indirect) were found, 2 bad usage or an\n"
    "input file that could not be read (2 wins over 1).\n";

static bool parse_word(const char *opt, const char *val, const char *const *words, size_t n,
                       int *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(val, words[i])) {
            *out = (int)i;
            return true;
        }
    }
    char list[200] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", words[i]);
    fl_error("%s='%s' is not one of %s", opt, val, list);
    return false;
}

/* Parses --format; `run` accepts only text and json. */
bool fl_parse_format(const char *s, fl_format_t *f, bool run_mode)
{
    static const char *const all[] = {"text", "json", "folded", "sarif"};
    int k;
    if (!parse_word("--format", s, all, run_mode ? 2 : 4, &k))
        return false;
    *f = (fl_format_t)k;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends every DIR/NAME.report (no dotfiles, no .tmp) to OUT, sorted by name. */
bool fl_list_dir(const char *dir, fl_strvec_t *out, fl_diags_t *diags)
{
    DIR *d = opendir(dir);
    if (!d) {
        fl_diag_add(diags, dir, 0, "cannot read directory: %s", strerror(errno));
        return false;
    }
    size_t first = out->n;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d))) {
        /* Dotfiles include the shim's temporary names (".fl…tmp"), never final reports. */
        if (e->d_name[0] == '.' || ends_with(e->d_name, ".tmp") || !ends_with(e->d_name, ".report"))
            continue;
        size_t dl = strlen(dir);
        *FL_PUSH(*out) =
            fl_xasprintf("%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", e->d_name);
    }
    bool ok = errno == 0;
    if (!ok)
        fl_diag_add(diags, dir, 0, "cannot read directory: %s", strerror(errno));
    closedir(d);
    fl_sort(out->v + first, out->n - first, sizeof *out->v, cmp_str);
    return ok;
}

/* Releases the option vectors. */
void fl_opts_free(fl_opts_t *o)
{
    free(o->supp_files.v);
    free(o->pids.v);
    memset(o, 0, sizeof *o);
}

/* FILES are report files (directories already expanded). NOFOLLOW[i] says the file came from a
 * directory listing: then a symlink is refused (the shim never writes one). */
static int run_pipeline(fl_opts_t *o, char **files, const bool *nofollow, size_t nfiles,
                        fl_diags_t *pre, FILE *out)
{
    fl_view_t v = {.opts = o};
    v.diags = *pre;
    memset(pre, 0, sizeof *pre);
    int rc = 0;
    fl_symbolize_init(o->symbolize);

    const char *env = getenv("FORKLEAK_SUPPRESSIONS");
    bool supp_ok = true;
    if (env && *env)
        supp_ok &= fl_supp_load(&v.supps, env, &v.diags);
    for (size_t i = 0; i < o->supp_files.n; i++)
        supp_ok &= fl_supp_load(&v.supps, o->supp_files.v[i], &v.diags);
    if (!supp_ok) {
        /* A suppression file that cannot be read is a usage error: reporting leaks it was
         * meant to hide would be as wrong as hiding others. */
        fl_diags_print(&v.diags, stderr);
        rc = 2;
        goto out;
    }

    fl_report_t **reps = fl_xmalloc((nfiles ? nfiles : 1) * sizeof *reps);
    size_t n = 0;
    for (size_t i = 0; i < nfiles; i++) {
        fl_report_t *r = fl_report_read(files[i], nofollow[i], &v.diags);
        if (r) {
            r->index = n;
            reps[n++] = r;
        }
    }
    fl_tree_build(&v.tree, reps, n, &v.diags);
    free(reps);
    fl_analyze(&v);
    fl_diags_print(&v.diags, stderr);
    switch (o->format) {
    case FL_FMT_TEXT:
        fl_format_text(&v, out);
        break;
    case FL_FMT_JSON:
        fl_format_json(&v, out);
        break;
    case FL_FMT_FOLDED:
        fl_format_folded(&v, out);
        break;
    case FL_FMT_SARIF:
        fl_format_sarif(&v, out);
        break;
    }
    fflush(out);
    if (ferror(out)) {
        fl_error("cannot write the report: %s", strerror(errno));
        rc = 2;
    } else if (v.diags.n) {
        rc = 2;
    } else if (v.leak_blocks || v.leak_bytes) {
        rc = 1;
    }
out:
    fl_view_free(&v);
    fl_symbolize_free();
    fl_warn_once_reset();
    fl_intern_free();
    return rc;
}

/* The pipeline on report files found by `run` (symlinks refused). */
int fl_report_files(fl_opts_t *o, char **files, size_t nfiles, FILE *out)
{
    bool *nofollow = fl_xcalloc(nfiles ? nfiles : 1, sizeof *nofollow);
    for (size_t i = 0; i < nfiles; i++)
        nofollow[i] = true;
    fl_diags_t none = {0};
    int rc = run_pipeline(o, files, nofollow, nfiles, &none, out);
    free(nofollow);
    return rc;
}

/* `forkleak report [options] DIR|FILE…` */
int fl_cmd_report(int argc, char **argv)
{
    enum { O_FORMAT = 256, O_SUPP, O_GEN, O_MIN, O_PID, O_KIND, O_ORIGIN, O_NOSYM };
    static const struct option longopts[] = {
        {"format", required_argument, NULL, O_FORMAT},
        {"suppressions", required_argument, NULL, O_SUPP},
        {"gen-suppressions", no_argument, NULL, O_GEN},
        {"min-bytes", required_argument, NULL, O_MIN},
        {"pid", required_argument, NULL, O_PID},
        {"kind", required_argument, NULL, O_KIND},
        {"origin", required_argument, NULL, O_ORIGIN},
        {"no-symbolize", no_argument, NULL, O_NOSYM},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const kinds[] = {"direct", "indirect", "all", "reachable"};
    static const char *const origins[] = {"own", "inherited", "all"};
    fl_opts_t o = {.format = FL_FMT_TEXT, .kind = -1, .origin = -1, .symbolize = true};
    int c, k, rc = 2;
    uint64_t u;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(report_usage, stdout);
            fl_opts_free(&o);
            return 0;
        case O_FORMAT:
            if (!fl_parse_format(optarg, &o.format, false))
                goto out;
            break;
        case O_SUPP:
            *FL_PUSH(o.supp_files) = optarg;
            break;
        case O_GEN:
            o.gen_supp = true;
            break;
        case O_MIN:
            if (!fl_parse_u64(optarg, &u)) {
                fl_error("--min-bytes='%s' is not a number of bytes (decimal, or hex with 0x)",
                         optarg);
                goto out;
            }
            o.min_bytes = u;
            break;
        case O_PID:
            if (!fl_parse_u64(optarg, &u) || u == 0 || u > INT32_MAX) {
                fl_error("--pid='%s' is not a process id (1..%d)", optarg, INT32_MAX);
                goto out;
            }
            *FL_PUSH(o.pids) = (int64_t)u;
            break;
        case O_KIND:
            if (!parse_word("--kind", optarg, kinds, 4, &k))
                goto out;
            o.kind = k == 2 ? -1 : k == 3 ? FL_KIND_REACHABLE : k;
            break;
        case O_ORIGIN:
            if (!parse_word("--origin", optarg, origins, 3, &k))
                goto out;
            o.origin = k == 2 ? -1 : k;
            break;
        case O_NOSYM:
            o.symbolize = false;
            break;
        case ':':
            rc = fl_usage_error("report", "option '%s' needs a value", argv[optind - 1]);
            goto out;
        default:
            rc = fl_usage_error("report", "unknown option '%s'", argv[optind - 1]);
            goto out;
        }
    }
    if (optind == argc) {
        rc = fl_usage_error("report", "no report directory or file given");
        goto out;
    }

    fl_strvec_t files = {0};
    FL_VEC(bool) nofollow = {0};
    fl_diags_t diags = {0};
    for (int i = optind; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fl_diag_add(&diags, argv[i], 0, "cannot open: %s", strerror(errno));
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            size_t before = files.n;
            fl_list_dir(argv[i], &files, &diags);
            while (nofollow.n < files.n)
                *FL_PUSH(nofollow) = true;
            if (files.n == before)
                fl_warn("%s holds no *.report files", argv[i]);
        } else {
            /* Named explicitly: a symlink is the user's choice, but it must lead to a file. */
            *FL_PUSH(files) = fl_xstrdup(argv[i]);
            *FL_PUSH(nofollow) = false;
        }
    }
    rc = run_pipeline(&o, files.v, nofollow.v, files.n, &diags, stdout);
    for (size_t i = 0; i < files.n; i++)
        free(files.v[i]);
    free(files.v);
    free(nofollow.v);
out:
    fl_opts_free(&o);
    return rc;
}
