/* fuzz_reader.c — libFuzzer target for the report reader and everything that consumes its
 * output. The input is one or more report files glued together (a new file starts at each
 * "forkleak-report " line), so the tree builder sees hostile combinations of processes too.
 * Symbolization is off: no file on disk is opened. Build: make fuzz / make fuzz-short. */
#include "forkleak.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char magic[] = "\nforkleak-report ";
    const char *p = (const char *)data, *end = p + size;
    fl_opts_t opts = {.format = FL_FMT_TEXT, .kind = -1, .origin = -1, .symbolize = false};
    fl_view_t v = {.opts = &opts};
    FL_VEC(fl_report_t *) reps = {0};
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    fl_symbolize_init(false);
    /* One suppression so that matching runs on every stack. */
    fl_supp_t *s = FL_PUSH(v.supps);
    s->pattern = fl_intern("*+0x1*");
    s->file = fl_xstrdup("fuzz.supp");
    s->line = 1;

    int nfile = 0;
    while (p < end) {
        const char *next = memmem(p, (size_t)(end - p), magic, sizeof magic - 1);
        const char *stop = next ? next + 1 : end;
        char name[32];
        snprintf(name, sizeof name, "fuzz.%d.report", nfile++);
        fl_report_t *r = fl_report_parse(p, (size_t)(stop - p), name, &v.diags);
        if (r) {
            r->index = reps.n;
            *FL_PUSH(reps) = r;
        }
        p = stop;
    }
    fl_tree_build(&v.tree, reps.v, reps.n, &v.diags);
    free(reps.v);
    fl_analyze(&v);
    fl_format_text(&v, devnull);
    fl_format_json(&v, devnull);
    fl_format_folded(&v, devnull);
    fl_format_sarif(&v, devnull);
    fl_view_free(&v);
    fl_symbolize_free();
    fl_warn_once_reset();
    fl_intern_free();
    return 0;
}
