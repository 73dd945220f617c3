/* format_text.c — the human report, in the shape LeakSanitizer users know: per process, leak
 * groups with their stacks and a SUMMARY line; then the combined (de-duplicated) view, the
 * process tree, the memory table and the suppressions used. Prints only what analyze.c chose;
 * strings from reports are printed with control bytes escaped (a report cannot drive the
 * terminal). */
#include "forkleak.h"

#include <stdlib.h>

#define MAX_PIDS_LISTED 8
#define MAX_CMDLINE 200
#define MAX_COW_SITES 5

/* The LSan-style title of a kind of group ("Direct leak", …). */
const char *fl_kind_title(fl_kind_t k)
{
    switch (k) {
    case FL_KIND_DIRECT:
        return "Direct leak";
    case FL_KIND_INDIRECT:
        return "Indirect leak";
    case FL_KIND_ORPHAN:
        return "Orphaned by fork";
    case FL_KIND_LIVE:
        return "Live at exit";
    default:
        return "Still reachable";
    }
}

/* Writes S with bytes below 0x20 and 0x7f escaped as \xNN; at most MAX bytes (0: all). */
static void put(FILE *out, const char *s, size_t max)
{
    size_t n = 0;
    for (; *s; s++, n++) {
        if (max && n == max) {
            fputs("...", out);
            return;
        }
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

static void put_frame(FILE *out, size_t i, const fl_frame_t *f)
{
    fprintf(out, "    #%zu 0x%llx", i, (unsigned long long)f->ip);
    if (f->flags & FL_FRAME_NOMODULE) {
        fputc('\n', out);
        return;
    }
    if (f->function) {
        fputs(" in ", out);
        put(out, f->function, 0);
    }
    if (f->function && f->file) {
        fputc(' ', out);
        put(out, f->file, 0);
        if (f->line)
            fprintf(out, ":%u", f->line);
    } else {
        fputs(" (", out);
        put(out, f->module, 0);
        fprintf(out, "+0x%llx)", (unsigned long long)f->offset);
    }
    if (f->flags & FL_FRAME_MISMATCH)
        fputs(" [build-id mismatch]", out);
    fputc('\n', out);
}

static void put_stack(FILE *out, const fl_symstack_t *st)
{
    for (size_t i = 0; i < st->n; i++)
        put_frame(out, i, &st->frames[i]);
    if (!st->n)
        fputs("    (no frames recorded)\n", out);
}

static void put_exit(FILE *out, const fl_report_t *r)
{
    if (!strcmp(r->exit_kind, "exec")) {
        fputs("exec", out);
        if (r->exit_target) {
            fputs(" -> ", out);
            put(out, r->exit_target, 0);
        }
    } else if (!strcmp(r->exit_kind, "snapshot")) {
        fputs("snapshot (still running)", out);
    } else {
        put(out, r->exit_kind, 0);
        fprintf(out, " %lld", (long long)r->exit_status);
    }
}

static void put_cmdline(FILE *out, const fl_report_t *r)
{
    put(out, r->exe ? r->exe : "?", MAX_CMDLINE);
    size_t used = r->exe ? strlen(r->exe) : 1;
    for (size_t i = 1; i < r->argv.n; i++) {
        if (used > MAX_CMDLINE) {
            fputs(" ...", out);
            break;
        }
        fputc(' ', out);
        put(out, r->argv.v[i], MAX_CMDLINE);
        used += strlen(r->argv.v[i]) + 1;
    }
}

static void put_header(FILE *out, const fl_node_t *n)
{
    const fl_report_t *r = n->rep;
    fprintf(out, "== pid %lld ", (long long)r->pid);
    const fl_node_t *head = fl_tree_head((fl_node_t *)n);
    if (r->gen > 0)
        fprintf(out, "(child of %lld, gen %llu) ", (long long)r->ppid, (unsigned long long)r->gen);
    else if (n->exec_prev)
        fprintf(out, "(after exec, child of %lld) ", (long long)r->ppid);
    else if (head->parent)
        fprintf(out, "(child of %lld) ", (long long)r->ppid);
    put_cmdline(out, r);
    fputs(" \xe2\x80\x94 ", out); /* em dash */
    put_exit(out, r);
    fputs(" ==\n", out);
}

static void put_group(FILE *out, const fl_group_t *g)
{
    if (g->kind == FL_KIND_LIVE || g->kind == FL_KIND_ORPHAN || g->kind == FL_KIND_REACHABLE)
        fprintf(out, "%s: %llu byte(s) in %llu object(s)", fl_kind_title(g->kind),
                (unsigned long long)g->bytes, (unsigned long long)g->blocks);
    else
        fprintf(out, "%s of %llu byte(s) in %llu object(s)", fl_kind_title(g->kind),
                (unsigned long long)g->bytes, (unsigned long long)g->blocks);
    if (g->inherited)
        fprintf(out, " inherited from pid %lld (gen %llu),", (long long)g->from_pid,
                (unsigned long long)g->from_gen);
    fputs(" allocated from:\n", out);
    put_stack(out, g->stack->sym);
    fputc('\n', out);
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

static void put_inherited(FILE *out, const fl_report_t *r)
{
    uint64_t blocks = 0, bytes = 0, fb = 0, fbytes = 0, lb = 0, lbytes = 0, kb = 0, kbytes = 0;
    for (size_t i = 0; i < r->inherits.n; i++) {
        const fl_inherit_t *h = &r->inherits.v[i];
        blocks = fl_sat_add(blocks, h->blocks);
        bytes = fl_sat_add(bytes, h->bytes);
        fb = fl_sat_add(fb, h->freed_blocks);
        fbytes = fl_sat_add(fbytes, h->freed_bytes);
        lb = fl_sat_add(lb, h->live_blocks);
        lbytes = fl_sat_add(lbytes, h->live_bytes);
        kb = fl_sat_add(kb, h->leaked_blocks);
        kbytes = fl_sat_add(kbytes, h->leaked_bytes);
    }
    fprintf(out,
            "Inherited at fork: %llu byte(s) in %llu block(s) from %zu site(s); freed by this "
            "process: %llu byte(s) in %llu block(s); live at exit: %llu byte(s) in %llu "
            "block(s); leaked: %llu byte(s) in %llu block(s).\n",
            (unsigned long long)bytes, (unsigned long long)blocks, r->inherits.n,
            (unsigned long long)fbytes, (unsigned long long)fb, (unsigned long long)lbytes,
            (unsigned long long)lb, (unsigned long long)kbytes, (unsigned long long)kb);
    if (r->blocks.n)
        fprintf(out,
                "FORKLEAK_INHERITED=full: %zu inherited block(s) live at exit are listed in "
                "--format json.\n",
                r->blocks.n);
}

static void put_process(FILE *out, const fl_node_t *n)
{
    const fl_report_t *r = n->rep;
    size_t ng;
    fl_group_t **gs = fl_view_groups(r, &ng);
    if (!ng && !r->warnings.n && !r->notes.n && !n->supp_blocks && !n->supp_bytes) {
        free(gs);
        return;
    }
    put_header(out, n);
    fputc('\n', out);
    for (size_t i = 0; i < ng; i++)
        put_group(out, gs[i]);
    free(gs);
    if (r->inherits.n)
        put_inherited(out, r);
    for (size_t i = 0; i < r->warnings.n; i++) {
        fputs("warning (from the report): ", out);
        put(out, r->warnings.v[i], 0);
        fputc('\n', out);
    }
    for (size_t i = 0; i < r->notes.n; i++) {
        fputs("note: ", out);
        put(out, r->notes.v[i], 0);
        fputc('\n', out);
    }
    if (n->supp_blocks || n->supp_bytes)
        fprintf(out, "Suppressed: %llu byte(s) in %llu allocation(s).\n",
                (unsigned long long)n->supp_bytes, (unsigned long long)n->supp_blocks);
    if (r->inherits.n || r->warnings.n || r->notes.n || n->supp_blocks || n->supp_bytes)
        fputc('\n', out);
    uint64_t lbytes = fl_sat_add(n->direct_bytes, n->indirect_bytes);
    uint64_t lblocks = fl_sat_add(n->direct_blocks, n->indirect_blocks);
    if (!check_ran(r))
        fprintf(out,
                "SUMMARY: forkleak: no reachability check in this process; %llu byte(s) live "
                "at exit in %llu allocation(s).\n",
                (unsigned long long)n->live_bytes, (unsigned long long)n->live_blocks);
    else if (n->orphan_blocks || n->orphan_bytes)
        fprintf(out,
                "SUMMARY: forkleak: %llu byte(s) leaked in %llu allocation(s); %llu byte(s) in "
                "%llu allocation(s) orphaned by fork.\n",
                (unsigned long long)lbytes, (unsigned long long)lblocks,
                (unsigned long long)n->orphan_bytes, (unsigned long long)n->orphan_blocks);
    else
        fprintf(out, "SUMMARY: forkleak: %llu byte(s) leaked in %llu allocation(s).\n",
                (unsigned long long)lbytes, (unsigned long long)lblocks);
    fputc('\n', out);
}

static void put_pids(FILE *out, fl_node_t *const *v, size_t n)
{
    fputs(n > 1 ? " (pids " : " (pid ", out);
    for (size_t i = 0; i < n && i < MAX_PIDS_LISTED; i++)
        fprintf(out, "%s%lld", i ? ", " : "", (long long)v[i]->pid);
    if (n > MAX_PIDS_LISTED)
        fputs(", ...", out);
    fputc(')', out);
}

static void put_combined_entry(FILE *out, const fl_combined_t *c)
{
    if (c->kind == FL_KIND_LIVE || c->kind == FL_KIND_ORPHAN || c->kind == FL_KIND_REACHABLE)
        fprintf(out, "%s: %llu byte(s) in %llu object(s)", fl_kind_title(c->kind),
                (unsigned long long)c->bytes, (unsigned long long)c->blocks);
    else
        fprintf(out, "%s of %llu byte(s) in %llu object(s)", fl_kind_title(c->kind),
                (unsigned long long)c->bytes, (unsigned long long)c->blocks);
    if (c->before_fork) {
        fprintf(out, ", allocated before fork in pid %lld (gen %llu)%s, present in %zu %s",
                (long long)c->alloc_pid, (unsigned long long)c->alloc_gen,
                c->alloc ? " where it was not leaked" : " (no report)", c->inheritors.n,
                c->inheritors.n == 1 ? "child" : "children");
        put_pids(out, c->inheritors.v, c->inheritors.n);
    } else if (c->inheritors.n && c->procs.n == 1) {
        fprintf(out, ", leaked before fork in pid %lld, also present in %zu %s",
                (long long)c->procs.v[0]->pid, c->inheritors.n,
                c->inheritors.n == 1 ? "child" : "children");
        put_pids(out, c->inheritors.v, c->inheritors.n);
    } else if (c->procs.n == 1) {
        fprintf(out, " in pid %lld", (long long)c->procs.v[0]->pid);
    } else {
        fprintf(out, " in %zu processes", c->procs.n);
        put_pids(out, c->procs.v, c->procs.n);
        if (c->inheritors.n) {
            fprintf(out, ", also inherited by %zu %s", c->inheritors.n,
                    c->inheritors.n == 1 ? "child" : "children");
            put_pids(out, c->inheritors.v, c->inheritors.n);
        }
    }
    fputs(", allocated from:\n", out);
    put_stack(out, c->stack);
    fputc('\n', out);
}

static void put_combined(FILE *out, const fl_view_t *v, size_t nselected)
{
    if (nselected < 2 || !v->combined.n)
        return;
    fprintf(out, "== Combined view of %zu processes (each leak counted once) ==\n\n", nselected);
    for (size_t i = 0; i < v->combined.n; i++)
        put_combined_entry(out, v->combined.v[i]);
    fprintf(out,
            "SUMMARY: forkleak: %llu byte(s) leaked in %llu allocation(s) in %zu of %zu "
            "processes (de-duplicated).\n\n",
            (unsigned long long)v->leak_bytes, (unsigned long long)v->leak_blocks, v->leaky_procs,
            nselected);
}

static void put_tree_line(FILE *out, const fl_node_t *n)
{
    fprintf(out, "%lld ", (long long)n->pid);
    if (!n->rep && n->exec_prev) {
        const char *target = n->exec_prev->rep ? n->exec_prev->rep->exit_target : NULL;
        fprintf(out, "\xe2\x80\x94 exec'd %s: no report (ran without the shim, was killed, or is "
                     "still running)\n",
                target ? target : "a program");
        return;
    }
    if (!n->rep) {
        fputs("\xe2\x80\x94 no report (killed by a signal, still running, or exec'd without "
              "the shim)\n",
              out);
        return;
    }
    const fl_report_t *r = n->rep;
    put(out, r->exe ? r->exe : "?", 80);
    fputs(" \xe2\x80\x94 ", out);
    put_exit(out, r);
    if (!strcmp(r->exit_kind, "exec"))
        ;
    else if (!check_ran(r))
        fprintf(out, " \xe2\x80\x94 no leak check, %llu B live at exit",
                (unsigned long long)n->live_bytes);
    else
        fprintf(out, " \xe2\x80\x94 leaked %llu B own, %llu B inherited",
                (unsigned long long)n->own_bytes, (unsigned long long)n->inh_bytes);
    if (r->mem[FL_MEM_EXIT].present)
        fprintf(out, " \xe2\x80\x94 rss %llu KiB", (unsigned long long)r->mem[FL_MEM_EXIT].rss_kb);
    if (r->cow_present)
        fprintf(out, ", cow %llu copied / %llu shared pages",
                (unsigned long long)r->cow_copied_pages, (unsigned long long)r->cow_shared_pages);
    fputc('\n', out);
}

static bool tree_visible(const fl_view_t *v, const fl_node_t *n)
{
    if (!v->opts->pids.n)
        return true;
    return n->rep ? n->selected : n->parent && n->parent->selected;
}

/* The tree, drawn without recursion: nodes arrive in DFS order; open[d] says whether the level-d
 * ancestor has later siblings (draw "|   ") or not ("    "). With --pid only the selected
 * processes (and their children without a report) are listed, each with its parent named. */
static void put_tree(FILE *out, const fl_view_t *v)
{
    const fl_tree_t *t = &v->tree;
    size_t shown = 0;
    for (size_t i = 0; i < t->nodes.n; i++)
        shown += tree_visible(v, t->nodes.v[i]);
    if (shown < 2)
        return;
    fputs("== Process tree ==\n", out);
    FL_VEC(bool) open = {0};
    for (size_t i = 0; i < t->nodes.n; i++) {
        const fl_node_t *n = t->nodes.v[i];
        if (!tree_visible(v, n))
            continue;
        const fl_node_t *head = fl_tree_head((fl_node_t *)n);
        if (v->opts->pids.n) {
            if (head->parent)
                fprintf(out, "(child of %lld) ", (long long)head->parent->pid);
            if (n->exec_prev)
                fputs("=> exec'd: ", out);
            put_tree_line(out, n);
            continue;
        }
        bool last = true;
        if (head->parent) {
            const fl_node_t *p = head->parent;
            last = p->kids.v[p->kids.n - 1] == head;
        }
        while (open.n <= n->depth)
            *FL_PUSH(open) = false;
        if (!n->exec_prev)
            open.v[n->depth] = !last;
        for (unsigned d = 1; d < n->depth; d++)
            fputs(open.v[d] ? "|   " : "    ", out);
        if (n->depth > 0) {
            if (n->exec_prev)
                fputs(open.v[n->depth] ? "|   " : "    ", out);
            else
                fputs(last ? "`-- " : "|-- ", out);
        }
        if (n->exec_prev)
            fputs("=> exec'd: ", out);
        put_tree_line(out, n);
    }
    free(open.v);
    fputc('\n', out);
}

static void put_kb(FILE *out, bool present, uint64_t v, int width)
{
    if (present)
        fprintf(out, " %*llu", width, (unsigned long long)v);
    else
        fprintf(out, " %*s", width, "-");
}

static void put_memory(FILE *out, const fl_view_t *v)
{
    if (!v->any_memory)
        return;
    fputs("== Memory per process (KiB; cow and prefault in pages) ==\n", out);
    fprintf(out, "%8s %9s %9s %9s %10s %9s %9s %9s %10s %10s  %s\n", "pid", "vsz@exit", "rss@start",
            "rss@exit", "privdirty", "shared", "anon", "minflt", "cow-copied", "cow-shared",
            "prefault");
    for (size_t i = 0; i < v->tree.nodes.n; i++) {
        const fl_node_t *n = v->tree.nodes.v[i];
        const fl_report_t *r = n->rep;
        if (!r || !n->selected ||
            !(r->mem[FL_MEM_START].present || r->mem[FL_MEM_EXIT].present || r->cow_present ||
              r->prefault_present))
            continue;
        const fl_memory_t *s = &r->mem[FL_MEM_START], *e = &r->mem[FL_MEM_EXIT];
        fprintf(out, "%8lld", (long long)r->pid);
        put_kb(out, e->present, e->vsz_kb, 9);
        put_kb(out, s->present, s->rss_kb, 9);
        put_kb(out, e->present, e->rss_kb, 9);
        put_kb(out, e->present, e->private_dirty_kb, 10);
        put_kb(out, e->present, fl_sat_add(e->shared_clean_kb, e->shared_dirty_kb), 9);
        put_kb(out, e->present, e->anon_kb, 9);
        put_kb(out, e->present, e->minflt, 9);
        put_kb(out, r->cow_present, r->cow_copied_pages, 10);
        put_kb(out, r->cow_present, r->cow_shared_pages, 10);
        fputs("  ", out);
        if (r->prefault_present) {
            put(out, r->prefault_mode ? r->prefault_mode : "?", 20);
            fprintf(out, " %llu pages %.1f ms", (unsigned long long)r->prefault_pages,
                    r->prefault_ms);
            const char *err = r->prefault_error;
            const fl_memory_t *pf = &r->mem[FL_MEM_PREFAULT];
            if (pf->present)
                fprintf(out, ", then %llu KiB private dirty",
                        (unsigned long long)pf->private_dirty_kb);
            if (err && *err && strcmp(err, "0") && strcmp(err, "-") && strcmp(err, "none")) {
                fputs(" error: ", out);
                put(out, r->prefault_error, 80);
            }
        } else {
            fputc('-', out);
        }
        fputc('\n', out);
    }
    fputc('\n', out);
    /* Which allocation sites cost each child its copied pages. */
    bool title = false;
    for (size_t i = 0; i < v->tree.nodes.n; i++) {
        fl_node_t *n = v->tree.nodes.v[i];
        fl_report_t *r = n->rep;
        if (!r || !n->selected || !r->cow_sites.n)
            continue;
        if (!title) {
            fputs("== Copy-on-write by allocation site (pages each child copied) ==\n", out);
            title = true;
        }
        /* Top sites by pages, without sorting the report's own array. */
        size_t ns = r->cow_sites.n;
        fl_cow_site_t **idx = fl_xmalloc(ns * sizeof *idx);
        for (size_t k = 0; k < ns; k++)
            idx[k] = &r->cow_sites.v[k];
        for (size_t k = 0; k < ns && k < MAX_COW_SITES; k++) {
            size_t best = k;
            for (size_t j = k + 1; j < ns; j++)
                if (idx[j]->pages > idx[best]->pages)
                    best = j;
            fl_cow_site_t *tmp = idx[k];
            idx[k] = idx[best];
            idx[best] = tmp;
            const fl_symstack_t *st = fl_symbolize_stack(r, idx[k]->stack);
            const fl_frame_t *f = fl_first_user_frame(st);
            fprintf(out, "  pid %lld: %llu page(s), %llu byte(s) at ", (long long)r->pid,
                    (unsigned long long)idx[k]->pages, (unsigned long long)idx[k]->bytes);
            if (!f)
                fputs("(no frames)", out);
            else if (f->function) {
                put(out, f->function, 0);
                if (f->file) {
                    fputc(' ', out);
                    put(out, f->file, 0);
                    fprintf(out, ":%u", f->line);
                }
            } else if (f->module) {
                put(out, f->module, 0);
                fprintf(out, "+0x%llx", (unsigned long long)f->offset);
            } else {
                fprintf(out, "0x%llx", (unsigned long long)f->ip);
            }
            fputc('\n', out);
        }
        if (ns > MAX_COW_SITES)
            fprintf(out, "  pid %lld: ... and %zu more site(s)\n", (long long)r->pid,
                    ns - MAX_COW_SITES);
        free(idx);
    }
    if (title)
        fputc('\n', out);
}

static void put_suppressions(FILE *out, const fl_view_t *v)
{
    bool any = false;
    for (size_t i = 0; i < v->supps.n; i++)
        any |= v->supps.v[i].hits > 0;
    if (!any)
        return;
    fputs("-----------------------------------------------------\n", out);
    fputs("Suppressions used:\n", out);
    fputs("  count      bytes template\n", out);
    for (size_t i = 0; i < v->supps.n; i++) {
        const fl_supp_t *s = &v->supps.v[i];
        if (!s->hits)
            continue;
        fprintf(out, "%7llu %10llu leak:", (unsigned long long)s->hits,
                (unsigned long long)s->bytes);
        put(out, s->pattern, 0);
        fputc('\n', out);
    }
    fputs("-----------------------------------------------------\n\n", out);
}

static void put_gen_suppressions(FILE *out, const fl_view_t *v)
{
    fputs("# Suppressions for the leaks above (forkleak --gen-suppressions):\n", out);
    fl_map_t seen = {0};
    for (size_t i = 0; i < v->combined.n; i++) {
        char *s = fl_suggest_suppression(v->combined.v[i]->stack);
        if (!s)
            continue;
        const char *k = fl_intern(s);
        free(s);
        if (fl_map_get(&seen, (uintptr_t)k))
            continue;
        fl_map_put(&seen, (uintptr_t)k, &seen);
        put(out, k, 0);
        fputc('\n', out);
    }
    fl_map_free(&seen);
    fputc('\n', out);
}

/* Prints the human report: per process, combined, tree, memory, suppressions. */
void fl_format_text(fl_view_t *v, FILE *out)
{
    size_t nselected = 0;
    for (size_t i = 0; i < v->tree.nodes.n; i++) {
        fl_node_t *n = v->tree.nodes.v[i];
        if (n->rep && n->selected) {
            nselected++;
            put_process(out, n);
        }
    }
    put_combined(out, v, nselected);
    put_tree(out, v);
    put_memory(out, v);
    put_suppressions(out, v);
    if (v->opts->gen_supp)
        put_gen_suppressions(out, v);
    if (v->leak_blocks || v->leak_bytes)
        fprintf(out,
                "forkleak: %llu byte(s) leaked in %llu allocation(s) in %zu of %zu "
                "process(es).\n",
                (unsigned long long)v->leak_bytes, (unsigned long long)v->leak_blocks,
                v->leaky_procs, nselected);
    else if (!v->nreports && v->diags.n)
        fprintf(out, "forkleak: no report could be read.\n");
    else
        fprintf(out, "forkleak: no leaks in %zu process(es).\n", nselected);
}
