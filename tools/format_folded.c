/* format_folded.c — collapsed stacks (`outer;…;inner BYTES`), weighted by leaked bytes, for
 * flamegraph.pl and speedscope. Built from the combined view, so a leak inherited through fork
 * weighs once; the outermost frame is the program's name. Lines are merged and sorted. */
#include "forkleak.h"

#include <stdlib.h>

/* A frame name cannot hold ';' (the separator) or control bytes, and must not end the line in
 * a number that flamegraph.pl would take for the weight: such bytes become '_'. */
static void add_name(fl_buf_t *b, const char *s)
{
    if (!*s) /* an empty name (a report may say exe= ) would leave a line without text */
        s = "?";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char ch = c == ';' || c < 0x20 || c == 0x7f ? '_' : (char)c;
        fl_buf_add(b, &ch, 1);
    }
}

static void add_frame(fl_buf_t *b, const fl_frame_t *f)
{
    if (f->function) {
        add_name(b, f->function);
    } else if (f->module) {
        add_name(b, fl_basename(f->module));
        fl_buf_printf(b, "+0x%llx", (unsigned long long)f->offset);
    } else {
        fl_buf_printf(b, "0x%llx", (unsigned long long)f->ip);
    }
}

typedef struct line {
    char *text;
    uint64_t bytes;
} line_t;

static int cmp_line(const void *x, const void *y)
{
    return strcmp(((const line_t *)x)->text, ((const line_t *)y)->text);
}

/* Prints the combined leak entries as collapsed stacks weighted by bytes. */
void fl_format_folded(fl_view_t *v, FILE *out)
{
    FL_VEC(line_t) lines = {0};
    for (size_t i = 0; i < v->combined.n; i++) {
        const fl_combined_t *c = v->combined.v[i];
        if (!fl_kind_is_leak(c->kind) || !c->bytes)
            continue;
        const fl_node_t *who = c->alloc ? c->alloc : c->first;
        fl_buf_t b = {0};
        add_name(&b, who->rep && who->rep->exe ? fl_basename(who->rep->exe) : "?");
        for (size_t k = c->stack->n; k-- > 0;) {
            fl_buf_add(&b, ";", 1);
            add_frame(&b, &c->stack->frames[k]);
        }
        line_t *l = FL_PUSH(lines);
        l->text = b.s;
        l->bytes = c->bytes;
    }
    fl_sort(lines.v, lines.n, sizeof *lines.v, cmp_line);
    for (size_t i = 0; i < lines.n;) {
        uint64_t sum = lines.v[i].bytes;
        size_t j = i + 1;
        while (j < lines.n && !strcmp(lines.v[j].text, lines.v[i].text))
            sum = fl_sat_add(sum, lines.v[j++].bytes);
        fprintf(out, "%s %llu\n", lines.v[i].text, (unsigned long long)sum);
        i = j;
    }
    for (size_t i = 0; i < lines.n; i++)
        free(lines.v[i].text);
    free(lines.v);
}
