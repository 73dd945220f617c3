/* format_json.c — the machine-readable report (docs/json-format.md, "forkleak-json" version 1),
 * built with jansson, never by hand. Other tools rely on its shape: keys are always present
 * (null when unknown), addresses are "0x…" strings, counts are integers. */
#include "forkleak.h"

#include <jansson.h>
#include <stdlib.h>

/* Counts can be near UINT64_MAX in a hostile report; JSON integers here are int64. */
static json_t *jnum(uint64_t v)
{
    return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

static json_t *jhex(uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "0x%llx", (unsigned long long)v);
    return json_string(b);
}

/* JSON strings must be UTF-8: report strings can hold any byte, so invalid bytes become the
 * four characters \xNN. */
json_t *fl_json_str(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    fl_buf_t b = {0};
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = 0;
        if (*p < 0x80)
            n = 1;
        else if ((*p & 0xe0) == 0xc0 && *p >= 0xc2)
            n = 2;
        else if ((*p & 0xf0) == 0xe0)
            n = 3;
        else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4)
            n = 4;
        bool ok = n > 0;
        for (size_t k = 1; ok && k < n; k++)
            ok = (p[k] & 0xc0) == 0x80;
        if (ok && n > 1) {
            json_t *t = json_stringn((const char *)p, n);
            ok = t != NULL;
            json_decref(t);
        }
        if (ok) {
            fl_buf_add(&b, (const char *)p, n);
            p += n;
        } else {
            fl_buf_printf(&b, "\\x%02x", *p);
            p++;
        }
    }
    j = json_string(b.s ? b.s : "");
    free(b.s);
    return j ? j : json_string("");
}

#define jstr fl_json_str

/* Stacks repeat across thousands of forked processes: each distinct one is built once and
 * shared by reference (jansson counts references; the dump does not care). */
static fl_map_t frame_cache;

static json_t *jframes_new(const fl_symstack_t *st)
{
    json_t *a = json_array();
    for (size_t i = 0; i < st->n; i++) {
        const fl_frame_t *f = &st->frames[i];
        json_t *o = json_object();
        json_object_set_new(o, "ip", jhex(f->ip));
        json_object_set_new(o, "module", jstr(f->module));
        json_object_set_new(o, "offset", f->module ? jhex(f->offset) : json_null());
        json_object_set_new(o, "function", jstr(f->function));
        json_object_set_new(o, "file", jstr(f->file));
        json_object_set_new(o, "line", f->file && f->line ? jnum(f->line) : json_null());
        json_object_set_new(o, "inlined", json_boolean(f->inlined));
        json_object_set_new(o, "build_id_mismatch", json_boolean(f->flags & FL_FRAME_MISMATCH));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *jframes(const fl_symstack_t *st)
{
    json_t *a = fl_map_get(&frame_cache, (uintptr_t)st);
    if (!a) {
        a = jframes_new(st);
        fl_map_put(&frame_cache, (uintptr_t)st, a);
    }
    return json_incref(a);
}

static void frame_cache_free(void)
{
    for (size_t i = 0; i < frame_cache.cap; i++)
        if (frame_cache.keys[i])
            json_decref(frame_cache.vals[i]);
    json_decref(frame_cache.zero_val);
    fl_map_free(&frame_cache);
}

/* json_dumpf writes piecemeal through stdio; a large buffer halves the time of a big dump. */
typedef struct sink {
    FILE *out;
    char buf[1 << 16];
    size_t len;
} sink_t;

static int sink_write(const char *s, size_t n, void *data)
{
    sink_t *k = data;
    if (k->len + n > sizeof k->buf) {
        fwrite(k->buf, 1, k->len, k->out);
        k->len = 0;
        if (n > sizeof k->buf)
            return fwrite(s, 1, n, k->out) == n ? 0 : -1;
    }
    memcpy(k->buf + k->len, s, n);
    k->len += n;
    return 0;
}

/* Dumps ROOT to OUT (indented, a newline at the end) and releases it. */
void fl_json_dump(struct json_t *root, FILE *out)
{
    sink_t *k = fl_xmalloc(sizeof *k);
    k->out = out;
    k->len = 0;
    json_dump_callback(root, sink_write, k, JSON_INDENT(2));
    sink_write("\n", 1, k);
    fwrite(k->buf, 1, k->len, out);
    free(k);
    json_decref(root);
}

static json_t *jstack(fl_report_t *r, fl_stack_t *s)
{
    return jframes(fl_symbolize_stack(r, s));
}

static json_t *jexit(const fl_report_t *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", jstr(r->exit_kind));
    json_object_set_new(o, "status", json_integer(r->exit_status));
    json_object_set_new(o, "target", jstr(r->exit_target));
    return o;
}

static json_t *jgroup(fl_report_t *r, fl_group_t *g)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(fl_kind_names[g->kind]));
    json_object_set_new(o, "origin", json_string(g->inherited ? "inherited" : "own"));
    json_object_set_new(o, "from_pid", g->inherited ? json_integer(g->from_pid) : json_null());
    json_object_set_new(o, "from_gen", g->inherited ? jnum(g->from_gen) : json_null());
    json_object_set_new(o, "blocks", jnum(g->blocks));
    json_object_set_new(o, "bytes", jnum(g->bytes));
    json_object_set_new(o, "stack_id", jnum(g->stack_id));
    json_object_set_new(o, "stack", jstack(r, g->stack));
    return o;
}

static bool check_ran(const fl_report_t *r)
{
    if (r->summary.present && r->summary.check)
        return strcmp(r->summary.check, "none") != 0;
    for (size_t i = 0; i < r->groups.n; i++)
        if (r->groups.v[i].kind != FL_KIND_LIVE)
            return true;
    return false;
}

static json_t *jsummary(const fl_node_t *n)
{
    const fl_report_t *r = n->rep;
    json_t *o = json_object();
#define SET(k, v) json_object_set_new(o, k, jnum(v))
    SET("leaked_bytes", fl_sat_add(n->direct_bytes, n->indirect_bytes));
    SET("leaked_blocks", fl_sat_add(n->direct_blocks, n->indirect_blocks));
    SET("direct_bytes", n->direct_bytes);
    SET("direct_blocks", n->direct_blocks);
    SET("indirect_bytes", n->indirect_bytes);
    SET("indirect_blocks", n->indirect_blocks);
    SET("orphan_bytes", n->orphan_bytes);
    SET("orphan_blocks", n->orphan_blocks);
    SET("reachable_bytes", r->summary.reachable_bytes);
    SET("reachable_blocks", r->summary.reachable_blocks);
    SET("live_bytes", n->live_bytes);
    SET("live_blocks", n->live_blocks);
    SET("own_leaked_bytes", n->own_bytes);
    SET("own_leaked_blocks", n->own_blocks);
    SET("inherited_leaked_bytes", n->inh_bytes);
    SET("inherited_leaked_blocks", n->inh_blocks);
    SET("suppressed_bytes", n->supp_bytes);
    SET("suppressed_blocks", n->supp_blocks);
#undef SET
    const char *check = r->summary.present && r->summary.check ? r->summary.check
                        : check_ran(r)                         ? "reachability"
                                                               : "none";
    json_object_set_new(o, "check", jstr(check));
    return o;
}

static json_t *jrecorded(const fl_summary_t *s)
{
    if (!s->present)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "check", jstr(s->check));
#define SET(k) json_object_set_new(o, #k, jnum(s->k))
    SET(direct_blocks);
    SET(direct_bytes);
    SET(indirect_blocks);
    SET(indirect_bytes);
    SET(orphan_blocks);
    SET(orphan_bytes);
    SET(reachable_blocks);
    SET(reachable_bytes);
    SET(live_blocks);
    SET(live_bytes);
#undef SET
    json_object_set_new(o, "check_ms", s->has_check_ms ? json_real(s->check_ms) : json_null());
    json_object_set_new(o, "scanned_bytes", s->has_scanned ? jnum(s->scanned_bytes) : json_null());
    return o;
}

static json_t *jmemory(const fl_memory_t *m)
{
    if (!m->present)
        return json_null();
    json_t *o = json_object();
#define SET(k, bit) json_object_set_new(o, #k, (m->has & (bit)) ? jnum(m->k) : json_null())
    SET(vsz_kb, FL_MEM_HAS_VSZ);
    SET(rss_kb, FL_MEM_HAS_RSS);
    SET(private_dirty_kb, FL_MEM_HAS_PRIVATE_DIRTY);
    SET(shared_clean_kb, FL_MEM_HAS_SHARED_CLEAN);
    SET(shared_dirty_kb, FL_MEM_HAS_SHARED_DIRTY);
    SET(anon_kb, FL_MEM_HAS_ANON);
    SET(minflt, FL_MEM_HAS_MINFLT);
    SET(majflt, FL_MEM_HAS_MAJFLT);
#undef SET
    return o;
}

static json_t *jident(const fl_node_t *n)
{
    if (!n || !n->rep)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "pid", json_integer(n->rep->pid));
    json_object_set_new(o, "start_ns", jnum(n->rep->start_ns));
    return o;
}

static json_t *jprocess(fl_view_t *v, fl_node_t *n)
{
    fl_report_t *r = n->rep;
    json_t *o = json_object();
    json_object_set_new(o, "pid", json_integer(r->pid));
    json_object_set_new(o, "ppid", json_integer(r->ppid));
    json_object_set_new(o, "gen", jnum(r->gen));
    json_object_set_new(o, "start_ns", jnum(r->start_ns));
    json_object_set_new(o, "end_ns", r->end_ns ? jnum(r->end_ns) : json_null());
    json_object_set_new(o, "tid", r->tid ? jnum(r->tid) : json_null());
    json_t *lin = json_array();
    for (size_t i = 0; i < r->lineage.n; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "pid", json_integer(r->lineage.v[i].pid));
        json_object_set_new(e, "gen", jnum(r->lineage.v[i].gen));
        json_array_append_new(lin, e);
    }
    json_object_set_new(o, "lineage", lin);
    json_object_set_new(o, "exe", jstr(r->exe));
    json_t *argv = json_array();
    for (size_t i = 0; i < r->argv.n; i++)
        json_array_append_new(argv, jstr(r->argv.v[i]));
    json_object_set_new(o, "argv", argv);
    json_object_set_new(o, "exit", jexit(r));
    fl_node_t *head = fl_tree_head(n);
    json_object_set_new(o, "parent", jident(head->parent));
    json_object_set_new(o, "exec_from", jident(n->exec_prev));
    json_t *cfg = json_object();
    for (size_t i = 0; i < r->config.n; i++) {
        json_t *k = jstr(r->config.v[i].key); /* keys must be UTF-8 too */
        json_object_set_new(cfg, json_string_value(k), jstr(r->config.v[i].value));
        json_decref(k);
    }
    json_object_set_new(o, "config", cfg);
    json_t *mods = json_array();
    for (size_t i = 0; i < r->modules.n; i++) {
        fl_module_t *m = &r->modules.v[i];
        json_t *e = json_object();
        json_object_set_new(e, "id", jnum(m->id));
        json_object_set_new(e, "path", jstr(m->path));
        json_object_set_new(e, "base", jhex(m->base));
        json_object_set_new(e, "lo", jhex(m->lo));
        json_object_set_new(e, "hi", jhex(m->hi));
        json_object_set_new(e, "build_id", jstr(m->buildid));
        int st = v->opts->symbolize ? fl_symbolize_module_status(r, m) : -1;
        json_object_set_new(e, "build_id_match", st < 0 ? json_null() : json_boolean(st));
        json_array_append_new(mods, e);
    }
    json_object_set_new(o, "modules", mods);
    json_object_set_new(o, "summary", jsummary(n));
    json_object_set_new(o, "recorded_summary", jrecorded(&r->summary));
    size_t ng;
    fl_group_t **gs = fl_view_groups(r, &ng);
    json_t *leaks = json_array();
    for (size_t i = 0; i < ng; i++)
        json_array_append_new(leaks, jgroup(r, gs[i]));
    free(gs);
    json_object_set_new(o, "leaks", leaks);
    json_t *inh = json_array();
    for (size_t i = 0; i < r->inherits.n; i++) {
        fl_inherit_t *h = &r->inherits.v[i];
        json_t *e = json_object();
        json_object_set_new(e, "stack_id", jnum(h->stack_id));
        json_object_set_new(e, "stack", jstack(r, h->stack));
#define SET(k) json_object_set_new(e, #k, jnum(h->k))
        SET(blocks);
        SET(bytes);
        SET(freed_blocks);
        SET(freed_bytes);
        SET(live_blocks);
        SET(live_bytes);
        SET(leaked_blocks);
        SET(leaked_bytes);
#undef SET
        json_array_append_new(inh, e);
    }
    json_object_set_new(o, "inherited", inh);
    /* FORKLEAK_INHERITED=full: blocks name their stack by id; the stacks follow once each. */
    json_t *blocks = json_array(), *bstacks = json_object();
    for (size_t i = 0; i < r->blocks.n; i++) {
        fl_block_t *b = &r->blocks.v[i];
        json_t *e = json_object();
        json_object_set_new(e, "addr", jhex(b->addr));
        json_object_set_new(e, "size", jnum(b->size));
        json_object_set_new(e, "gen", jnum(b->gen));
        json_object_set_new(e, "kind", json_string(fl_kind_names[b->kind]));
        json_object_set_new(e, "stack_id", jnum(b->stack_id));
        json_array_append_new(blocks, e);
        char id[24];
        snprintf(id, sizeof id, "%llu", (unsigned long long)b->stack_id);
        if (!json_object_get(bstacks, id))
            json_object_set_new(bstacks, id, jstack(r, b->stack));
    }
    json_object_set_new(o, "inherited_blocks", blocks);
    json_object_set_new(o, "block_stacks", bstacks);
    json_t *mem = json_object();
    json_object_set_new(mem, "start", jmemory(&r->mem[FL_MEM_START]));
    json_object_set_new(mem, "prefault", jmemory(&r->mem[FL_MEM_PREFAULT]));
    json_object_set_new(mem, "exit", jmemory(&r->mem[FL_MEM_EXIT]));
    json_object_set_new(o, "memory", mem);
    if (r->cow_present) {
        json_t *c = json_object(), *sites = json_array();
        json_object_set_new(c, "shared_pages", jnum(r->cow_shared_pages));
        json_object_set_new(c, "copied_pages", jnum(r->cow_copied_pages));
        for (size_t i = 0; i < r->cow_sites.n; i++) {
            fl_cow_site_t *s = &r->cow_sites.v[i];
            json_t *e = json_object();
            json_object_set_new(e, "stack_id", jnum(s->stack_id));
            json_object_set_new(e, "stack", jstack(r, s->stack));
            json_object_set_new(e, "pages", jnum(s->pages));
            json_object_set_new(e, "bytes", jnum(s->bytes));
            json_array_append_new(sites, e);
        }
        json_object_set_new(c, "sites", sites);
        json_object_set_new(o, "cow", c);
    } else {
        json_object_set_new(o, "cow", json_null());
    }
    if (r->prefault_present) {
        json_t *p = json_object();
        json_object_set_new(p, "mode", jstr(r->prefault_mode));
        json_object_set_new(p, "pages", jnum(r->prefault_pages));
        json_object_set_new(p, "bytes", jnum(r->prefault_bytes));
        json_object_set_new(p, "ms", json_real(r->prefault_ms));
        json_object_set_new(p, "error", jstr(r->prefault_error));
        json_object_set_new(o, "prefault", p);
    } else {
        json_object_set_new(o, "prefault", json_null());
    }
    json_t *kids = json_array();
    for (size_t i = 0; i < r->children.n; i++) {
        fl_child_t *c = &r->children.v[i];
        json_t *e = json_object();
        json_object_set_new(e, "pid", json_integer(c->pid));
        json_object_set_new(e, "time_ns", c->time_ns ? jnum(c->time_ns) : json_null());
        json_object_set_new(e, "how", jstr(c->how));
        json_object_set_new(e, "has_report", json_boolean(c->node && c->node->rep));
        json_array_append_new(kids, e);
    }
    json_object_set_new(o, "children", kids);
    json_t *w = json_array(), *notes = json_array();
    for (size_t i = 0; i < r->warnings.n; i++)
        json_array_append_new(w, jstr(r->warnings.v[i]));
    for (size_t i = 0; i < r->notes.n; i++)
        json_array_append_new(notes, jstr(r->notes.v[i]));
    json_object_set_new(o, "warnings", w);
    json_object_set_new(o, "notes", notes);
    json_object_set_new(o, "report_file", jstr(r->file));
    return o;
}

static bool node_listed(const fl_view_t *v, const fl_node_t *n)
{
    if (!v->opts->pids.n)
        return true;
    return n->rep ? n->selected : n->parent && n->parent->selected;
}

static json_t *jtree(fl_view_t *v, size_t *proc_index)
{
    json_t *a = json_array();
    size_t *tix = fl_xmalloc((v->tree.nodes.n ? v->tree.nodes.n : 1) * sizeof *tix);
    size_t k = 0;
    for (size_t i = 0; i < v->tree.nodes.n; i++)
        tix[i] = node_listed(v, v->tree.nodes.v[i]) ? k++ : SIZE_MAX;
#define TIX(node)                                                                                  \
    ((node) && tix[(node)->index] != SIZE_MAX ? jnum(tix[(node)->index]) : json_null())
    for (size_t i = 0; i < v->tree.nodes.n; i++) {
        fl_node_t *n = v->tree.nodes.v[i];
        if (tix[i] == SIZE_MAX)
            continue;
        fl_report_t *r = n->rep;
        json_t *o = json_object();
        json_object_set_new(o, "pid", json_integer(n->pid));
        json_object_set_new(o, "start_ns", r ? jnum(r->start_ns) : json_null());
        json_object_set_new(o, "time_ns", n->time_ns ? jnum(n->time_ns) : json_null());
        json_object_set_new(o, "depth", jnum(n->depth));
        json_object_set_new(o, "parent", TIX(fl_tree_head(n)->parent));
        json_object_set_new(o, "exec_from", TIX(n->exec_prev));
        json_object_set_new(o, "process",
                            r && proc_index[i] != SIZE_MAX ? jnum(proc_index[i]) : json_null());
        json_object_set_new(o, "has_report", json_boolean(r != NULL));
        json_object_set_new(o, "exe", r ? jstr(r->exe) : json_null());
        json_object_set_new(o, "exit", r ? jexit(r) : json_null());
        json_object_set_new(o, "own_leaked_bytes", jnum(n->own_bytes));
        json_object_set_new(o, "inherited_leaked_bytes", jnum(n->inh_bytes));
        json_object_set_new(o, "rss_kb",
                            r && r->mem[FL_MEM_EXIT].present ? jnum(r->mem[FL_MEM_EXIT].rss_kb)
                                                             : json_null());
        json_object_set_new(o, "cow_copied_pages",
                            r && r->cow_present ? jnum(r->cow_copied_pages) : json_null());
        json_object_set_new(o, "cow_shared_pages",
                            r && r->cow_present ? jnum(r->cow_shared_pages) : json_null());
        json_t *kids = json_array();
        for (size_t c = 0; c < n->kids.n; c++)
            if (tix[n->kids.v[c]->index] != SIZE_MAX)
                json_array_append_new(kids, jnum(tix[n->kids.v[c]->index]));
        json_object_set_new(o, "children", kids);
        json_array_append_new(a, o);
    }
#undef TIX
    free(tix);
    return a;
}

static json_t *jpids(fl_node_t *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]->pid));
    return a;
}

static json_t *jcombined(const fl_view_t *v)
{
    json_t *a = json_array();
    for (size_t i = 0; i < v->combined.n; i++) {
        const fl_combined_t *c = v->combined.v[i];
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(fl_kind_names[c->kind]));
        json_object_set_new(o, "origin", json_string(c->before_fork ? "inherited" : "own"));
        json_object_set_new(o, "bytes", jnum(c->bytes));
        json_object_set_new(o, "blocks", jnum(c->blocks));
        json_object_set_new(o, "processes", jpids(c->procs.v, c->procs.n));
        json_object_set_new(o, "process_count", jnum(c->procs.n));
        json_object_set_new(o, "inherited_by", jpids(c->inheritors.v, c->inheritors.n));
        json_object_set_new(o, "inherited_count", jnum(c->inheritors.n));
        json_object_set_new(o, "leaked_before_fork",
                            json_boolean(!c->before_fork && c->inheritors.n));
        if (c->before_fork) {
            json_t *al = json_object();
            json_object_set_new(al, "pid", json_integer(c->alloc_pid));
            json_object_set_new(al, "gen", jnum(c->alloc_gen));
            json_object_set_new(al, "has_report", json_boolean(c->alloc != NULL));
            json_object_set_new(o, "allocated_in", al);
        } else {
            json_object_set_new(o, "allocated_in", json_null());
        }
        json_object_set_new(o, "stack", jframes(c->stack));
        json_array_append_new(a, o);
    }
    return a;
}

/* Prints the whole view as one forkleak-json document (docs/json-format.md). */
void fl_format_json(fl_view_t *v, FILE *out)
{
    const fl_opts_t *opt = v->opts;
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string("forkleak-json"));
    json_object_set_new(root, "version", json_integer(FL_JSON_VERSION));
    json_t *tool = json_object();
    json_object_set_new(tool, "name", json_string("forkleak"));
    json_object_set_new(tool, "version", json_string(FL_VERSION));
    json_object_set_new(root, "tool", tool);

    json_t *filters = json_object(), *pids = json_array();
    for (size_t i = 0; i < opt->pids.n; i++)
        json_array_append_new(pids, json_integer(opt->pids.v[i]));
    json_object_set_new(filters, "min_bytes", jnum(opt->min_bytes));
    json_object_set_new(filters, "pids", pids);
    json_object_set_new(filters, "kind",
                        json_string(opt->kind < 0 ? "all" : fl_kind_names[opt->kind]));
    json_object_set_new(filters, "origin",
                        json_string(opt->origin < 0    ? "all"
                                    : opt->origin == 0 ? "own"
                                                       : "inherited"));
    json_object_set_new(filters, "symbolized", json_boolean(opt->symbolize));
    json_object_set_new(root, "filters", filters);

    size_t *proc_index = fl_xmalloc((v->tree.nodes.n ? v->tree.nodes.n : 1) * sizeof *proc_index);
    json_t *procs = json_array();
    size_t nproc = 0;
    for (size_t i = 0; i < v->tree.nodes.n; i++) {
        fl_node_t *n = v->tree.nodes.v[i];
        proc_index[i] = SIZE_MAX;
        if (!n->rep || !n->selected)
            continue;
        proc_index[i] = nproc++;
        json_array_append_new(procs, jprocess(v, n));
    }
    json_object_set_new(root, "processes", procs);
    json_object_set_new(root, "tree", jtree(v, proc_index));
    free(proc_index);
    json_object_set_new(root, "combined", jcombined(v));

    json_t *tot = json_object();
    json_object_set_new(tot, "processes", jnum(nproc));
    json_object_set_new(tot, "processes_with_leaks", jnum(v->leaky_procs));
    json_object_set_new(tot, "leaked_bytes", jnum(v->leak_bytes));
    json_object_set_new(tot, "leaked_blocks", jnum(v->leak_blocks));
    json_object_set_new(root, "totals", tot);

    json_t *supps = json_array();
    for (size_t i = 0; i < v->supps.n; i++) {
        const fl_supp_t *s = &v->supps.v[i];
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string("leak"));
        json_object_set_new(o, "pattern", jstr(s->pattern));
        json_object_set_new(o, "file", jstr(s->file));
        json_object_set_new(o, "line", jnum(s->line));
        json_object_set_new(o, "hits", jnum(s->hits));
        json_object_set_new(o, "bytes", jnum(s->bytes));
        json_object_set_new(o, "blocks", jnum(s->blocks));
        json_array_append_new(supps, o);
    }
    json_object_set_new(root, "suppressions", supps);
    if (opt->gen_supp) {
        json_t *gen = json_array(), *seen = json_object();
        for (size_t i = 0; i < v->combined.n; i++) {
            char *s = fl_suggest_suppression(v->combined.v[i]->stack);
            json_t *js = s ? jstr(s) : NULL;
            if (js && !json_object_get(seen, json_string_value(js))) {
                json_object_set_new(seen, json_string_value(js), json_true());
                json_array_append(gen, js);
            }
            json_decref(js);
            free(s);
        }
        json_decref(seen);
        json_object_set_new(root, "generated_suppressions", gen);
    }
    json_t *errs = json_array();
    for (size_t i = 0; i < v->diags.n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "file", jstr(v->diags.v[i].file));
        json_object_set_new(o, "line", v->diags.v[i].line ? jnum(v->diags.v[i].line) : json_null());
        json_object_set_new(o, "message", jstr(v->diags.v[i].message));
        json_array_append_new(errs, o);
    }
    json_object_set_new(root, "errors", errs);
    fl_json_dump(root, out);
    frame_cache_free();
}
