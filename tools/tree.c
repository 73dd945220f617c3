/* tree.c — puts reports together into the process tree: one node per process image, exec
 * chains (the same pid running a new program), parent links from lineage and ppid, and a
 * placeholder for every child a parent recorded that left no report. Reports may be hostile:
 * links only ever point from an earlier (start_ns, reading order) to a later image, so there
 * are no cycles, and nothing here recurses. */
#include "forkleak.h"

#include <stdlib.h>

static bool is_snapshot(const fl_report_t *r)
{
    return !strcmp(r->exit_kind, "snapshot");
}

/* Sort key of an image: (start_ns, reading order). Parents and exec predecessors must come
 * strictly before in this order. */
static bool precedes(const fl_report_t *a, const fl_report_t *b)
{
    return a->start_ns < b->start_ns || (a->start_ns == b->start_ns && a->index < b->index);
}

static int cmp_pid_start(const void *x, const void *y)
{
    const fl_report_t *a = *(fl_report_t *const *)x, *b = *(fl_report_t *const *)y;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    if (a->start_ns != b->start_ns)
        return a->start_ns < b->start_ns ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int cmp_node_time(const void *x, const void *y)
{
    const fl_node_t *a = *(fl_node_t *const *)x, *b = *(fl_node_t *const *)y;
    if (a->time_ns != b->time_ns)
        return a->time_ns < b->time_ns ? -1 : 1;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    size_t ia = a->rep ? a->rep->index : SIZE_MAX, ib = b->rep ? b->rep->index : SIZE_MAX;
    return ia < ib ? -1 : ia > ib;
}

static int cmp_node_pid(const void *x, const void *y)
{
    const fl_node_t *a = *(fl_node_t *const *)x, *b = *(fl_node_t *const *)y;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    return cmp_node_time(x, y);
}

static fl_node_t *new_node(fl_tree_t *t, fl_report_t *r, int64_t pid, uint64_t time_ns)
{
    fl_node_t *n = fl_xcalloc(1, sizeof *n);
    n->rep = r;
    n->pid = pid;
    n->time_ns = time_ns;
    if (r)
        r->node = n;
    *FL_PUSH(t->all) = n;
    return n;
}

/* The first image of NODE's process (before any exec). */
fl_node_t *fl_tree_head(fl_node_t *node)
{
    while (node->exec_prev)
        node = node->exec_prev;
    return node;
}

/* The ancestor image with this pid and generation (a forked-from process), or NULL. */
fl_node_t *fl_tree_ancestor(fl_node_t *node, int64_t pid, uint64_t gen)
{
    for (fl_node_t *n = fl_tree_head(node)->parent; n; n = fl_tree_head(n)->parent) {
        for (fl_node_t *img = n; img; img = img->exec_prev)
            if (img->rep && img->rep->pid == pid && img->rep->gen == gen)
                return img;
    }
    return NULL;
}

/* The image that forked or spawned HEAD: by lineage (the last ancestor is the parent, with its
 * generation) when HEAD was forked, else by ppid; among several images of that pid, the one
 * that was running when HEAD started. */
static fl_node_t *find_parent(fl_report_t **sorted, size_t n, const fl_report_t *h)
{
    int64_t ppid = h->ppid;
    bool by_gen = h->lineage.n > 0;
    uint64_t pgen = 0;
    if (by_gen) {
        ppid = h->lineage.v[h->lineage.n - 1].pid;
        pgen = h->lineage.v[h->lineage.n - 1].gen;
    }
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid]->pid < ppid)
            lo = mid + 1;
        else
            hi = mid;
    }
    fl_report_t *best = NULL;
    bool best_alive = false;
    for (size_t i = lo; i < n && sorted[i]->pid == ppid; i++) {
        fl_report_t *c = sorted[i];
        if (!c->node || !precedes(c, h) || (by_gen && c->gen != pgen))
            continue;
        bool alive = !c->end_ns || c->end_ns >= h->start_ns;
        if (!best || (alive && !best_alive) || (alive == best_alive && precedes(best, c))) {
            best = c;
            best_alive = alive;
        }
    }
    return best ? best->node : NULL;
}

/* Whether C should represent its image rather than KEEP: a final report beats a snapshot,
 * a later snapshot an earlier one, and among equals the first read wins. */
static bool better(const fl_report_t *c, const fl_report_t *keep)
{
    if (is_snapshot(keep) != is_snapshot(c))
        return !is_snapshot(c);
    if (is_snapshot(c) && c->end_ns != keep->end_ns)
        return c->end_ns > keep->end_ns;
    return c->index < keep->index;
}

/* Keeps one report per image (pid, start_ns): a final report beats snapshots, a later
 * snapshot an earlier one; two final reports of one image are an error. */
static void dedupe(fl_tree_t *t, fl_report_t **sorted, size_t n, fl_diags_t *diags)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && sorted[j]->pid == sorted[i]->pid &&
               sorted[j]->start_ns == sorted[i]->start_ns)
            j++;
        fl_report_t *keep = sorted[i];
        for (size_t k = i + 1; k < j; k++)
            if (better(sorted[k], keep))
                keep = sorted[k];
        fl_node_t *node = new_node(t, keep, keep->pid, keep->start_ns);
        for (size_t k = i; k < j; k++) {
            fl_report_t *c = sorted[k];
            if (c == keep)
                continue;
            if (!is_snapshot(c)) {
                fl_diag_add(diags, c->file, 0,
                            "duplicate report of pid %lld started at %llu (also in %s); ignored",
                            (long long)c->pid, (unsigned long long)c->start_ns, keep->file);
                fl_report_free(c);
            } else {
                c->node = node;
                *FL_PUSH(node->superseded) = c;
            }
            sorted[k] = NULL;
        }
        if (node->superseded.n)
            *FL_PUSH(keep->notes) = fl_xasprintf(
                "%zu earlier snapshot report(s) of this process image superseded by %s",
                node->superseded.n, keep->file);
        i = j;
    }
}

/* Links reports into the process tree; duplicates become diagnostics. */
void fl_tree_build(fl_tree_t *t, fl_report_t **reps, size_t n, fl_diags_t *diags)
{
    fl_report_t **sorted = fl_xmalloc((n ? n : 1) * sizeof *sorted);
    if (n)
        memcpy(sorted, reps, n * sizeof *sorted);
    fl_sort(sorted, n, sizeof *sorted, cmp_pid_start);
    dedupe(t, sorted, n, diags);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (sorted[i])
            sorted[m++] = sorted[i];
    n = m;

    /* Exec chains: an image that ended in exec continues in the next image of its pid. */
    for (size_t i = 0; i + 1 < n; i++) {
        fl_report_t *a = sorted[i], *b = sorted[i + 1];
        if (a->pid == b->pid && !strcmp(a->exit_kind, "exec") && precedes(a, b)) {
            a->node->exec_next = b->node;
            b->node->exec_prev = a->node;
        }
    }

    /* An image that exec'd with no later image of its pid: the program it became left no report
     * (it ran without the shim — FORKLEAK_FOLLOW_EXEC=no, a static or setuid program —, was
     * killed, or is still running). A placeholder continues the chain. */
    for (size_t i = 0; i < n; i++) {
        fl_report_t *a = sorted[i];
        if (strcmp(a->exit_kind, "exec") != 0 || a->node->exec_next)
            continue;
        fl_node_t *ph = new_node(t, NULL, a->pid, a->end_ns);
        a->node->exec_next = ph;
        ph->exec_prev = a->node;
    }

    FL_VEC(fl_node_t *) roots = {0};
    for (size_t i = 0; i < n; i++) {
        fl_node_t *node = sorted[i]->node;
        if (node->exec_prev)
            continue;
        node->parent = find_parent(sorted, n, sorted[i]);
        if (node->parent)
            *FL_PUSH(node->parent->kids) = node;
        else
            *FL_PUSH(roots) = node;
    }

    /* Children the parent recorded: match them to its kids by pid; a child without a report
     * becomes a placeholder. */
    size_t nreal = t->all.n;
    for (size_t i = 0; i < nreal; i++) {
        fl_node_t *p = t->all.v[i];
        if (!p->rep || !p->rep->children.n)
            continue;
        fl_sort(p->kids.v, p->kids.n, sizeof *p->kids.v, cmp_node_pid);
        size_t nk = p->kids.n;
        bool *used = fl_xcalloc(nk ? nk : 1, sizeof *used);
        for (size_t c = 0; c < p->rep->children.n; c++) {
            fl_child_t *ch = &p->rep->children.v[c];
            size_t lo = 0, hi = nk;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (p->kids.v[mid]->pid < ch->pid)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            while (lo < nk && p->kids.v[lo]->pid == ch->pid && used[lo])
                lo++;
            if (lo < nk && p->kids.v[lo]->pid == ch->pid) {
                used[lo] = true;
                ch->node = p->kids.v[lo];
                continue;
            }
            fl_node_t *ph = new_node(t, NULL, ch->pid, ch->time_ns);
            ph->parent = p;
            ch->node = ph;
            *FL_PUSH(p->kids) = ph;
        }
        free(used);
    }

    /* Depth-first order without recursion: a node, its children (by time), then the next image
     * of its process at the same depth. */
    fl_sort(roots.v, roots.n, sizeof *roots.v, cmp_node_time);
    for (size_t i = 0; i < t->all.n; i++)
        fl_sort(t->all.v[i]->kids.v, t->all.v[i]->kids.n, sizeof(fl_node_t *), cmp_node_time);
    FL_VEC(fl_node_t *) stack = {0};
    for (size_t i = roots.n; i-- > 0;)
        *FL_PUSH(stack) = roots.v[i];
    while (stack.n) {
        fl_node_t *node = stack.v[--stack.n];
        node->index = t->nodes.n;
        *FL_PUSH(t->nodes) = node;
        if (node->exec_next) {
            node->exec_next->depth = node->depth;
            *FL_PUSH(stack) = node->exec_next;
        }
        for (size_t k = node->kids.n; k-- > 0;) {
            node->kids.v[k]->depth = node->depth + 1;
            *FL_PUSH(stack) = node->kids.v[k];
        }
    }
    free(stack.v);
    free(roots.v);
    free(sorted);
}

/* Frees the nodes and the reports they own. */
void fl_tree_free(fl_tree_t *t)
{
    for (size_t i = 0; i < t->all.n; i++) {
        fl_node_t *n = t->all.v[i];
        fl_report_free(n->rep);
        for (size_t k = 0; k < n->superseded.n; k++)
            fl_report_free(n->superseded.v[k]);
        free(n->superseded.v);
        free(n->kids.v);
        free(n);
    }
    free(t->all.v);
    free(t->nodes.v);
    memset(t, 0, sizeof *t);
}
