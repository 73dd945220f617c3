/* analyze.c — decides what is shown: applies the filters (--pid, --kind, --origin,
 * --min-bytes) and the suppressions to every leak group, adds up each process's figures, and
 * builds the combined view, where a leak inherited through fork is counted once, at the process
 * that allocated it, and identical stacks in several processes become one entry. The formats
 * only print what this file decided; they never filter on their own. */
#include "forkleak.h"

#include <stdlib.h>

/* Direct and indirect groups are leaks; orphans and live-at-exit blocks are not. */
bool fl_kind_is_leak(fl_kind_t k)
{
    return k == FL_KIND_DIRECT || k == FL_KIND_INDIRECT;
}

/* The first frame below the allocator (malloc family, operator new), or NULL. */
const fl_frame_t *fl_first_user_frame(const fl_symstack_t *st)
{
    for (size_t i = 0; i < st->n; i++)
        if (!fl_is_allocator(st->frames[i].function))
            return &st->frames[i];
    return NULL;
}

/* leak:FUNCTION of the first frame below the allocator (its module if unnamed). */
char *fl_suggest_suppression(const fl_symstack_t *st)
{
    const fl_frame_t *f = fl_first_user_frame(st);
    if (!f)
        return NULL;
    if (f->function)
        return fl_xasprintf("leak:%s", f->function);
    if (f->module)
        return fl_xasprintf("leak:%s", fl_basename(f->module));
    return NULL;
}

static bool pid_selected(const fl_opts_t *o, int64_t pid)
{
    if (!o->pids.n)
        return true;
    for (size_t i = 0; i < o->pids.n; i++)
        if (o->pids.v[i] == pid)
            return true;
    return false;
}

static bool group_passes(const fl_opts_t *o, const fl_group_t *g)
{
    if (g->kind == FL_KIND_REACHABLE && o->kind != FL_KIND_REACHABLE)
        return false; /* shown only when asked for by name */
    if (o->kind >= 0 && (int)g->kind != o->kind)
        return false;
    if (o->origin >= 0 && (int)g->inherited != o->origin)
        return false;
    return g->bytes >= o->min_bytes;
}

/* Compares the summary record with the groups the report lists: a difference is a shim bug
 * worth showing, never silently papered over. */
static void check_totals(fl_report_t *r)
{
    if (!r->summary.present)
        return;
    uint64_t bytes[FL_KIND_COUNT] = {0}, blocks[FL_KIND_COUNT] = {0};
    bool any[FL_KIND_COUNT] = {0};
    for (size_t i = 0; i < r->groups.n; i++) {
        fl_group_t *g = &r->groups.v[i];
        bytes[g->kind] = fl_sat_add(bytes[g->kind], g->bytes);
        blocks[g->kind] = fl_sat_add(blocks[g->kind], g->blocks);
        any[g->kind] = true;
    }
    const fl_summary_t *s = &r->summary;
    const struct {
        fl_kind_t k;
        uint64_t bytes, blocks;
    } want[] = {
        {FL_KIND_DIRECT, s->direct_bytes, s->direct_blocks},
        {FL_KIND_INDIRECT, s->indirect_bytes, s->indirect_blocks},
        {FL_KIND_ORPHAN, s->orphan_bytes, s->orphan_blocks},
        {FL_KIND_LIVE, s->live_bytes, s->live_blocks},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        fl_kind_t k = want[i].k;
        if (want[i].bytes == bytes[k] && want[i].blocks == blocks[k])
            continue;
        if (!any[k] && k == FL_KIND_LIVE)
            continue; /* live groups may be omitted when a check ran */
        *FL_PUSH(r->notes) = fl_xasprintf(
            "the summary record says %s_bytes=%llu %s_blocks=%llu but the %s groups add up to "
            "%llu bytes in %llu blocks",
            fl_kind_names[k], (unsigned long long)want[i].bytes, fl_kind_names[k],
            (unsigned long long)want[i].blocks, fl_kind_names[k], (unsigned long long)bytes[k],
            (unsigned long long)blocks[k]);
    }
}

static void count(fl_node_t *n, const fl_group_t *g)
{
    n->nshown++;
    switch (g->kind) {
    case FL_KIND_DIRECT:
        n->direct_bytes = fl_sat_add(n->direct_bytes, g->bytes);
        n->direct_blocks = fl_sat_add(n->direct_blocks, g->blocks);
        break;
    case FL_KIND_INDIRECT:
        n->indirect_bytes = fl_sat_add(n->indirect_bytes, g->bytes);
        n->indirect_blocks = fl_sat_add(n->indirect_blocks, g->blocks);
        break;
    case FL_KIND_ORPHAN:
        n->orphan_bytes = fl_sat_add(n->orphan_bytes, g->bytes);
        n->orphan_blocks = fl_sat_add(n->orphan_blocks, g->blocks);
        break;
    case FL_KIND_LIVE:
        n->live_bytes = fl_sat_add(n->live_bytes, g->bytes);
        n->live_blocks = fl_sat_add(n->live_blocks, g->blocks);
        break;
    default:
        break;
    }
    if (fl_kind_is_leak(g->kind)) {
        if (g->inherited) {
            n->inh_bytes = fl_sat_add(n->inh_bytes, g->bytes);
            n->inh_blocks = fl_sat_add(n->inh_blocks, g->blocks);
        } else {
            n->own_bytes = fl_sat_add(n->own_bytes, g->bytes);
            n->own_blocks = fl_sat_add(n->own_blocks, g->blocks);
        }
    }
}

static uint64_t combo_key(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    uint64_t k[4] = {a, b, c, d};
    return fl_hash_bytes(k, sizeof k, FL_HASH_SEED);
}

/* Finds or makes the combined entry for a key; entries with equal hashes but different
 * contents are told apart by MATCH. */
typedef struct bucket {
    struct bucket *next;
    fl_combined_t *c;
    uint64_t k[4];
} bucket_t;
typedef FL_VEC(bucket_t *) bucket_vec_t;

static fl_combined_t *entry(fl_view_t *v, fl_map_t *m, bucket_vec_t *all, uint64_t a, uint64_t b,
                            uint64_t c, uint64_t d, bool create)
{
    uint64_t h = combo_key(a, b, c, d);
    bucket_t *head = fl_map_get(m, h);
    for (bucket_t *e = head; e; e = e->next)
        if (e->k[0] == a && e->k[1] == b && e->k[2] == c && e->k[3] == d)
            return e->c;
    if (!create)
        return NULL;
    bucket_t *e = fl_xcalloc(1, sizeof *e);
    e->k[0] = a, e->k[1] = b, e->k[2] = c, e->k[3] = d;
    e->c = fl_xcalloc(1, sizeof *e->c);
    e->next = head;
    fl_map_put(m, h, e);
    *FL_PUSH(*all) = e;
    *FL_PUSH(v->combined) = e->c;
    return e->c;
}

static int cmp_combined(const void *x, const void *y)
{
    const fl_combined_t *a = *(fl_combined_t *const *)x, *b = *(fl_combined_t *const *)y;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    if (a->before_fork != b->before_fork)
        return a->before_fork ? 1 : -1;
    int c = strcmp(a->stack->sig, b->stack->sig);
    if (c)
        return c;
    return a->first->index < b->first->index ? -1 : a->first->index > b->first->index;
}

static void build_combined(fl_view_t *v)
{
    fl_map_t map = {0}, own_at = {0};
    bucket_vec_t all = {0};
    /* Pass 1: own leaks, by (stack, kind) across processes; remember them per (process, stack)
     * so that inherited copies can find the original. */
    for (size_t i = 0; i < v->tree.nodes.n; i++) {
        fl_node_t *n = v->tree.nodes.v[i];
        if (!n->rep)
            continue;
        for (size_t k = 0; k < n->rep->groups.n; k++) {
            fl_group_t *g = &n->rep->groups.v[k];
            if (!g->shown || g->inherited)
                continue;
            const fl_symstack_t *st = g->stack->sym;
            fl_combined_t *c = entry(v, &map, &all, 1, (uintptr_t)st->sig, g->kind, 0, true);
            if (!c->first) {
                c->first = n;
                c->kind = g->kind;
                c->stack = st;
            }
            c->bytes = fl_sat_add(c->bytes, g->bytes);
            c->blocks = fl_sat_add(c->blocks, g->blocks);
            if (!c->procs.n || c->procs.v[c->procs.n - 1] != n)
                *FL_PUSH(c->procs) = n;
            uint64_t at = combo_key(2, (uintptr_t)n, (uintptr_t)st->sig, 0);
            if (!fl_map_get(&own_at, at))
                fl_map_put(&own_at, at, c);
        }
    }
    /* Pass 2: inherited leaks join the allocating ancestor's own entry when it leaked the same
     * stack; otherwise they share one entry per (ancestor, stack, kind), counted once. */
    for (size_t i = 0; i < v->tree.nodes.n; i++) {
        fl_node_t *n = v->tree.nodes.v[i];
        if (!n->rep)
            continue;
        for (size_t k = 0; k < n->rep->groups.n; k++) {
            fl_group_t *g = &n->rep->groups.v[k];
            if (!g->shown || !g->inherited)
                continue;
            const fl_symstack_t *st = g->stack->sym;
            fl_node_t *a = fl_tree_ancestor(n, g->from_pid, g->from_gen);
            fl_combined_t *c =
                a ? fl_map_get(&own_at, combo_key(2, (uintptr_t)a, (uintptr_t)st->sig, 0)) : NULL;
            if (!c) {
                c = entry(v, &map, &all, 3, (uintptr_t)st->sig, g->kind,
                          (uint64_t)g->from_pid << 32 ^ g->from_gen, true);
                if (!c->first) {
                    c->first = n;
                    c->kind = g->kind;
                    c->stack = st;
                    c->before_fork = true;
                    c->alloc = a;
                    c->alloc_pid = g->from_pid;
                    c->alloc_gen = g->from_gen;
                }
                if (g->bytes > c->bytes)
                    c->bytes = g->bytes;
                if (g->blocks > c->blocks)
                    c->blocks = g->blocks;
            }
            if (!c->inheritors.n || c->inheritors.v[c->inheritors.n - 1] != n)
                *FL_PUSH(c->inheritors) = n;
        }
    }
    fl_sort(v->combined.v, v->combined.n, sizeof *v->combined.v, cmp_combined);
    for (size_t i = 0; i < v->combined.n; i++) {
        fl_combined_t *c = v->combined.v[i];
        if (fl_kind_is_leak(c->kind)) {
            v->leak_bytes = fl_sat_add(v->leak_bytes, c->bytes);
            v->leak_blocks = fl_sat_add(v->leak_blocks, c->blocks);
        }
    }
    for (size_t i = 0; i < all.n; i++)
        free(all.v[i]);
    free(all.v);
    fl_map_free(&map);
    fl_map_free(&own_at);
}

/* Applies filters and suppressions to every group, sums each process, builds the combined view. */
void fl_analyze(fl_view_t *v)
{
    const fl_opts_t *o = v->opts;
    for (size_t i = 0; i < v->tree.nodes.n; i++) {
        fl_node_t *n = v->tree.nodes.v[i];
        if (!n->rep)
            continue;
        fl_report_t *r = n->rep;
        v->nreports++;
        check_totals(r);
        n->selected = pid_selected(o, r->pid);
        /* The memory table is about what fork costs: a lone process's RSS is no news. */
        if (r->cow_present || r->prefault_present ||
            (v->tree.nodes.n > 1 && (r->mem[FL_MEM_START].present || r->mem[FL_MEM_EXIT].present)))
            v->any_memory = true;
        for (size_t k = 0; k < r->groups.n; k++) {
            fl_group_t *g = &r->groups.v[k];
            g->supp = -1;
            g->shown = n->selected && group_passes(o, g);
            if (!g->shown)
                continue;
            const fl_symstack_t *st = fl_symbolize_stack(r, g->stack);
            int s = fl_supp_match(&v->supps, st);
            if (s >= 0) {
                fl_supp_t *sp = &v->supps.v[s];
                g->supp = s;
                g->shown = false;
                sp->hits++;
                sp->bytes = fl_sat_add(sp->bytes, g->bytes);
                sp->blocks = fl_sat_add(sp->blocks, g->blocks);
                n->supp_bytes = fl_sat_add(n->supp_bytes, g->bytes);
                n->supp_blocks = fl_sat_add(n->supp_blocks, g->blocks);
                continue;
            }
            count(n, g);
        }
        if (n->own_bytes || n->inh_bytes || n->own_blocks || n->inh_blocks)
            v->leaky_procs++;
    }
    build_combined(v);
}

static int cmp_group(const void *x, const void *y)
{
    const fl_group_t *a = *(fl_group_t *const *)x, *b = *(fl_group_t *const *)y;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    if (a->inherited != b->inherited)
        return a->inherited ? 1 : -1;
    if (a->blocks != b->blocks)
        return a->blocks > b->blocks ? -1 : 1;
    int c = strcmp(a->stack->sym->sig, b->stack->sym->sig);
    if (c)
        return c;
    return a->line < b->line ? -1 : a->line > b->line;
}

/* The shown groups of R: direct, indirect, orphan, live; bytes descending within a kind. */
fl_group_t **fl_view_groups(const fl_report_t *r, size_t *n)
{
    fl_group_t **out = fl_xmalloc((r->groups.n ? r->groups.n : 1) * sizeof *out);
    size_t m = 0;
    for (size_t i = 0; i < r->groups.n; i++)
        if (r->groups.v[i].shown)
            out[m++] = &r->groups.v[i];
    fl_sort(out, m, sizeof *out, cmp_group);
    *n = m;
    return out;
}

/* Releases the view, its tree (and so every report) and its suppressions. */
void fl_view_free(fl_view_t *v)
{
    for (size_t i = 0; i < v->combined.n; i++) {
        free(v->combined.v[i]->procs.v);
        free(v->combined.v[i]->inheritors.v);
        free(v->combined.v[i]);
    }
    free(v->combined.v);
    fl_tree_free(&v->tree);
    fl_supps_free(&v->supps);
    fl_diags_free(&v->diags);
}
