/* exit.c — the end of a process image: exit (an on_exit handler registered in the constructor
 * runs after the program's atexit handlers and every library destructor), _exit/_Exit (wrapped),
 * exec and on-demand snapshots. Runs the check once per process image and writes the report.
 * Never allocates from the tracked heap; never changes the program's exit status or errno. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int finished;

void fl_exit_after_fork_child(void)
{
    finished = 0;
}

/* on_exit rather than atexit: same list, same order (it runs last because it was registered
 * first, before __libc_start_main registers _dl_fini), but it is told the exit status. */
static void on_exit_cb(int status, void *arg)
{
    (void)arg;
    if (fl_active && fl_is_own_process())
        fl_finish(FL_EXIT_EXIT, status, NULL);
}

void fl_exit_register(void)
{
    on_exit(on_exit_cb, NULL);
}

/* ---- grouping blocks by (verdict, generation, stack) ---- */
typedef struct gslot { uint64_t key; uint32_t idx; } gslot_t;

static uint64_t gkey(uint8_t kind, uint32_t gen, uint32_t stack)
{
    return ((uint64_t)kind << 56) | ((uint64_t)(gen & 0xffffff) << 32) | stack;
}

static pid_t ancestor_pid(uint32_t gen)
{
    for (uint32_t i = 0; i < fl_proc.lineage_n; i++)
        if (fl_proc.lineage[i].gen == gen)
            return fl_proc.lineage[i].pid;
    return 0;
}

typedef struct inh { uint64_t live_blocks, live_bytes, leaked_blocks, leaked_bytes; } inh_t;

/* What the report needs besides the groups, gathered on the check's workers: the memory figures
 * and a child's inheritance per stack on the caller, the pages it copied (a pagemap walk) on the
 * helper. The helper's part never allocates and never sets errno. */
typedef struct gather {
    const fl_snap_t *b;
    const uint8_t *kind;
    size_t n;
    uint32_t nstacks;
    fl_mem_t now;
    inh_t *agg;      /* per stack; NULL when not a child or out of memory */
    inh_t *agg2;     /* the helper's half, added to agg after */
    uint64_t *cowby; /* pages copied per stack */
    void *cowh;
    fl_cow_t cow;
} gather_t;

static void gather_inherited(gather_t *g, inh_t *agg, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        const fl_snap_t *b = &g->b[i];
        if (fl_snap_gen(b) >= fl_proc.gen || b->stack >= g->nstacks)
            continue;
        inh_t *a = &agg[b->stack];
        a->live_blocks++;
        a->live_bytes += fl_snap_size(b);
        if (g->kind[i] == FL_KIND_DIRECT || g->kind[i] == FL_KIND_INDIRECT) {
            a->leaked_blocks++;
            a->leaked_bytes += fl_snap_size(b);
        }
    }
}

static void gather_part(void *arg, unsigned w, unsigned nw)
{
    gather_t *g = arg;
    bool split = nw > 1 && g->agg2; /* the helper takes the second half of the inheritance */
    if (w == 0) {
        fl_mem_read(&g->now, false);
        if (g->agg)
            gather_inherited(g, g->agg, 0, split ? g->n / 2 : g->n);
    }
    if ((w == 1 || nw == 1) && fl_proc.gen > 0) {
        fl_cow_attribute(g->cowh, g->b, g->n, fl_proc.gen, g->cowby, g->cowby ? g->nstacks : 0,
                         &g->cow);
        if (split)
            gather_inherited(g, g->agg2, g->n / 2, g->n);
    }
}

/* A child's inheritance, per allocation stack: live at fork = still live at exit + freed by the
 * child (counted as it freed them), and how much of what is left leaked. */
static void write_inherited(fl_outbuf_t *o, const gather_t *g, uint8_t *written)
{
    static const char *const names[] = {"live", "direct", "indirect", "orphan", "reachable"};
    if (fl_opt.inherited == FL_INHERITED_FULL)
        for (size_t i = 0; i < g->n; i++) {
            const fl_snap_t *b = &g->b[i];
            if (fl_snap_gen(b) >= fl_proc.gen)
                continue;
            fl_report_stack(o, b->stack, written);
            fl_out_printf(o, "block addr=%p size=%lu stack=%u gen=%u kind=%s",
                          (void *)fl_snap_addr(b), (unsigned long)fl_snap_size(b), b->stack,
                          fl_snap_gen(b), names[g->kind[i]]);
            fl_out_record_end(o);
        }
    for (uint32_t s = 1; s < g->nstacks; s++) {
        const fl_freed_t *f = fl_inherited_freed_get(s);
        uint64_t fb = f ? f->blocks : 0, fy = f ? f->bytes : 0;
        const inh_t *a = &g->agg[s];
        if (!fb && !a->live_blocks)
            continue;
        fl_report_stack(o, s, written);
        fl_out_printf(o,
                      "inherited stack=%u blocks=%lu bytes=%lu freed_blocks=%lu freed_bytes=%lu "
                      "live_blocks=%lu live_bytes=%lu leaked_blocks=%lu leaked_bytes=%lu",
                      s, (unsigned long)(fb + a->live_blocks), (unsigned long)(fy + a->live_bytes),
                      (unsigned long)fb, (unsigned long)fy, (unsigned long)a->live_blocks,
                      (unsigned long)a->live_bytes, (unsigned long)a->leaked_blocks,
                      (unsigned long)a->leaked_bytes);
        fl_out_record_end(o);
    }
}

static void memory_record(fl_outbuf_t *o, const char *phase, const fl_mem_t *m)
{
    if (!m->valid)
        return;
    if (m->quick) {
        fl_out_printf(o, "memory phase=%s vsz_kb=%lu rss_kb=%lu anon_kb=%lu minflt=%lu majflt=%lu",
                      phase, (unsigned long)m->vsz_kb, (unsigned long)m->rss_kb,
                      (unsigned long)m->anon_kb, (unsigned long)m->minflt, (unsigned long)m->majflt);
        fl_out_record_end(o);
        return;
    }
    fl_out_printf(o,
                  "memory phase=%s vsz_kb=%lu rss_kb=%lu private_dirty_kb=%lu shared_clean_kb=%lu "
                  "shared_dirty_kb=%lu anon_kb=%lu minflt=%lu majflt=%lu",
                  phase, (unsigned long)m->vsz_kb, (unsigned long)m->rss_kb,
                  (unsigned long)m->private_dirty_kb, (unsigned long)m->shared_clean_kb,
                  (unsigned long)m->shared_dirty_kb, (unsigned long)m->anon_kb,
                  (unsigned long)m->minflt, (unsigned long)m->majflt);
    fl_out_record_end(o);
}

/* Memory at start (a child: right after fork), after pre-faulting, at exit; what pre-faulting
 * did; and in a child, which inherited blocks' pages it has copied, by allocation stack. */
static void write_memory(fl_outbuf_t *o, const gather_t *g, uint8_t *written)
{
    memory_record(o, "start", &fl_mem_start);
    memory_record(o, "prefault", &fl_mem_prefault);
    memory_record(o, "exit", &g->now);
    if (fl_pf.ran) {
        static const char *const modes[] = {"off", "heap", "writable"};
        fl_out_printf(o, "prefault mode=%s pages=%lu bytes=%lu ms=%lu.%03lu error=%s",
                      modes[fl_opt.prefault], (unsigned long)fl_pf.pages,
                      (unsigned long)(fl_pf.pages * 4096), (unsigned long)(fl_pf.ns / 1000000),
                      (unsigned long)(fl_pf.ns / 1000 % 1000),
                      fl_pf.error ? (strerrorname_np(fl_pf.error) ? strerrorname_np(fl_pf.error) : "error") : "none");
        fl_out_record_end(o);
    }
    if (fl_proc.gen == 0 || !g->cow.valid)
        return;
    fl_out_printf(o, "cow shared_pages=%lu copied_pages=%lu", (unsigned long)g->cow.shared_pages,
                  (unsigned long)g->cow.copied_pages);
    fl_out_record_end(o);
    for (uint32_t s = 1; g->cowby && s < g->nstacks; s++) {
        if (!g->cowby[s])
            continue;
        fl_report_stack(o, s, written);
        fl_out_printf(o, "cowsite stack=%u pages=%lu bytes=%lu", s, (unsigned long)g->cowby[s],
                      (unsigned long)(g->cowby[s] * 4096));
        fl_out_record_end(o);
    }
}

static const char *const kind_names[] = {"live", "direct", "indirect", "orphan", "reachable"};

static void write_report(const fl_snap_t *b, const uint8_t *kind, size_t n, int exit_kind,
                         int status, const char *exec_target, const fl_scan_stats_t *st)
{
    fl_outbuf_t *o = fl_arena_map(sizeof *o);
    char tmp[600], final[600];
    if (!o)
        return;
    if (!fl_report_open(o, tmp, sizeof tmp, final, sizeof final)) {
        fl_arena_unmap(o, sizeof *o);
        return;
    }
    fl_report_header(o, exit_kind, status, exec_target);
    fl_report_modules(o);

    /* Group: an open-addressed table of group keys, and the groups in an array. */
    size_t cap = 64;
    while (cap < 2 * n + 16)
        cap <<= 1;
    gslot_t *slots = fl_arena_map(cap * sizeof *slots);
    fl_group_t *groups = fl_arena_map((n + 1) * sizeof *groups);
    uint32_t nstacks = fl_depot_count();
    uint8_t *written = fl_arena_map(nstacks / 8 + 1);
    size_t ng = 0;
    uint64_t tot_blocks[5] = {0}, tot_bytes[5] = {0};
    if (!slots || !groups || !written) {
        fl_log_warn("out of memory while writing the report");
        n = 0;
    }
    gather_t g = {.b = b, .kind = kind, .n = n, .nstacks = nstacks};
    if (fl_proc.gen > 0) {
        g.agg = fl_arena_map((size_t)nstacks * sizeof *g.agg);
        g.cowby = fl_arena_map((size_t)nstacks * sizeof *g.cowby);
        g.cowh = fl_cow_begin();
    }
    if (g.agg && fl_par_workers() > 1)
        g.agg2 = fl_arena_map((size_t)nstacks * sizeof *g.agg2);
    fl_par_run(gather_part, &g);
    fl_cow_end(g.cowh);
    for (uint32_t s = 0; g.agg2 && s < nstacks; s++) {
        g.agg[s].live_blocks += g.agg2[s].live_blocks;
        g.agg[s].live_bytes += g.agg2[s].live_bytes;
        g.agg[s].leaked_blocks += g.agg2[s].leaked_blocks;
        g.agg[s].leaked_bytes += g.agg2[s].leaked_bytes;
    }
    for (size_t i = 0; i < n; i++) {
        tot_blocks[kind[i]]++;
        tot_bytes[kind[i]] += fl_snap_size(&b[i]);
        if (kind[i] == FL_KIND_REACHABLE && !fl_opt.reachable)
            continue;
        uint64_t k = gkey(kind[i], fl_snap_gen(&b[i]), b[i].stack);
        size_t j = (size_t)((k * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
        while (slots[j].key && slots[j].key != k + 1)
            j = (j + 1) & (cap - 1);
        if (!slots[j].key) {
            slots[j].key = k + 1;
            slots[j].idx = (uint32_t)ng;
            groups[ng++] = (fl_group_t){b[i].stack, fl_snap_gen(&b[i]), kind[i], 0, 0};
        }
        groups[slots[j].idx].blocks++;
        groups[slots[j].idx].bytes += fl_snap_size(&b[i]);
    }
    for (size_t k = 0; k < ng; k++) {
        const fl_group_t *gr = &groups[k];
        fl_report_stack(o, gr->stack, written);
        fl_out_printf(o, "group kind=%s origin=%s stack=%u blocks=%lu bytes=%lu",
                      kind_names[gr->kind], gr->gen < fl_proc.gen ? "inherited" : "own", gr->stack,
                      (unsigned long)gr->blocks, (unsigned long)gr->bytes);
        if (gr->gen < fl_proc.gen)
            fl_out_printf(o, " from_pid=%d from_gen=%u", (int)ancestor_pid(gr->gen), gr->gen);
        fl_out_record_end(o);
    }
    if (fl_proc.gen > 0 && g.agg)
        write_inherited(o, &g, written);
    write_memory(o, &g, written);
    fl_report_children(o);
    fl_out_printf(o, "summary check=%s", st->checked ? "reachability" : "none");
    static const char *const sk[] = {"live", "direct", "indirect", "orphan", "reachable"};
    for (int k = 0; k < 5; k++)
        fl_out_printf(o, " %s_blocks=%lu %s_bytes=%lu", sk[k], (unsigned long)tot_blocks[k], sk[k],
                      (unsigned long)tot_bytes[k]);
    fl_out_printf(o, " check_ms=%lu scanned_bytes=%lu stopped_threads=%u",
                  (unsigned long)(st->check_ns / 1000000), (unsigned long)st->scanned_bytes,
                  st->stopped_threads);
    fl_out_record_end(o);
    for (unsigned w = 0; w < st->nwarnings; w++) {
        fl_out_printf(o, "warning text=");
        fl_out_escaped(o, st->warnings[w], strlen(st->warnings[w]));
        fl_out_record_end(o);
    }
    fl_report_commit(o, tmp, final);
    fl_arena_unmap(slots, cap * sizeof *slots);
    fl_arena_unmap(groups, (n + 1) * sizeof *groups);
    fl_arena_unmap(written, nstacks / 8 + 1);
    fl_arena_unmap(g.agg, (size_t)nstacks * sizeof *g.agg);
    fl_arena_unmap(g.agg2, (size_t)nstacks * sizeof *g.agg2);
    fl_arena_unmap(g.cowby, (size_t)nstacks * sizeof *g.cowby);
    fl_arena_unmap(o, sizeof *o);
}

bool fl_check_alloc(fl_check_t *c)
{
    c->cap = fl_table_count() + 16;
    c->blocks = fl_arena_map(c->cap * sizeof *c->blocks);
    c->work = fl_arena_map(2 * c->cap * sizeof *c->work); /* two workers may both push a block */
    c->kinds = fl_arena_map(c->cap);
    c->npagedir = 4 * c->cap + 2; /* up to 4 pages per block */
    c->pagedir = fl_arena_map(c->npagedir * sizeof *c->pagedir);
    c->work2 = fl_arena_map(2 * c->cap * sizeof *c->work2);
    c->par_stack = fl_arena_map(FL_PAR_STACK);
    /* The depot is locked (fl_world_lock): no stack appears until the check is over. */
    c->nstacks = fl_depot_count();
    c->ldso = fl_arena_map(c->nstacks / 8 + 1);
    for (uint32_t s = 1; c->ldso && s < c->nstacks; s++) {
        const fl_stack_t *st = fl_depot_get(s);
        if (st && (st->flags & FL_STACK_LDSO))
            c->ldso[s >> 3] |= (uint8_t)(1u << (s & 7));
    }
    c->n = 0;
    return c->blocks && c->work && c->kinds && c->work2;
}

void fl_check_free(fl_check_t *c)
{
    fl_arena_unmap(c->blocks, c->cap * sizeof *c->blocks);
    fl_arena_unmap(c->work, 2 * c->cap * sizeof *c->work);
    fl_arena_unmap(c->kinds, c->cap);
    fl_arena_unmap(c->pagedir, c->npagedir * sizeof *c->pagedir);
    fl_arena_unmap(c->work2, 2 * c->cap * sizeof *c->work2);
    fl_arena_unmap(c->par_stack, FL_PAR_STACK);
    fl_arena_unmap(c->ldso, c->nstacks / 8 + 1);
}

/* With the world stopped (or in a snapshot's sweeper): snapshot (in address order), mark, classify. */
/* The helper thread, if any, starts here and ends with fl_check_write. */
void fl_check_run(fl_check_t *c)
{
    fl_par_begin(c->par_stack, FL_PAR_STACK, c->cap, fl_scan_anon_bytes());
    /* A table change cut short by the signal handler ending the process: read slot by slot, and
     * leave out the blocks this thread freed whose records were still to go (fl_free_noted). */
    if (FL_LIKELY(!c->interrupted)) {
        c->n = fl_table_snapshot(c->blocks, c->cap, &c->end);
    } else {
        c->n = fl_table_snapshot_plain(c->blocks, c->cap, &c->end);
        uintptr_t noted[FL_FREE_NOTED];
        size_t nn = fl_free_noted(noted), k = 0;
        for (size_t i = 0; i < c->n; i++) {
            bool freed = false;
            for (size_t j = 0; j < nn; j++)
                freed = freed || fl_snap_addr(&c->blocks[i]) == noted[j];
            if (!freed)
                c->blocks[k++] = c->blocks[i];
        }
        c->n = k;
    }
    fl_scan_classify(c);
}

void fl_check_write(fl_check_t *c, int kind, int status, const char *exec_target)
{
    write_report(c->blocks, c->kinds, c->n, kind, status, exec_target, &c->st);
    fl_par_end();
}

typedef struct finish {
    int kind, status;
    const char *exec_target;
    bool interrupted; /* a signal handler ends the process from inside one of our hooks */
} finish_t;

static void *finish(void *arg);

/* The check runs on a stack of its own (FL_CHECK_STACK): the exiting thread may have been made
 * with a 16 KiB stack, or be in a signal handler on a small sigaltstack. */
void fl_finish(int kind, int status, const char *exec_target)
{
    if (__atomic_exchange_n(&finished, 1, __ATOMIC_ACQ_REL))
        return;
    int saved_errno = errno;
    int saved_guard = fl_tl_guard;
    fl_tl_guard = 1; /* whatever we (or libc for us) allocate from here is not the program's */
    finish_t f = {kind, status, exec_target, saved_guard != 0};
    if (!f.interrupted)
        fl_free_drain();
    fl_run_on_stack(finish, &f, FL_CHECK_STACK);
    fl_tl_guard = saved_guard;
    errno = saved_errno;
}

static void *finish(void *arg)
{
    const finish_t *f = arg;
    int kind = f->kind, status = f->status;
    const char *exec_target = f->exec_target;
    fl_check_t c;
    memset(&c, 0, sizeof c);
    c.interrupted = f->interrupted;
    uint64_t t0 = fl_mono_ns();

    /* The boundary is the entry point the program called: its caller's frame is the lowest live
     * one. exit() is libc's; _exit/_Exit are our wrappers. */
    uintptr_t boundary = kind == FL_EXIT_EXIT     ? (uintptr_t)&exit
                         : kind == FL_EXIT__EXIT  ? (uintptr_t)&_exit
                         : kind == FL_EXIT__EXIT2 ? (uintptr_t)&_Exit
                                                  : 0;
    fl_scan_prepare(boundary);
    fl_world_lock();
    if (fl_check_alloc(&c)) {
        fl_world_stop(&c.world, &c.st);
        fl_check_run(&c);
        fl_world_resume(&c.world);
    } else {
        fl_log_warn("out of memory for the exit check");
    }
    fl_world_unlock();
    c.st.check_ns = fl_mono_ns() - t0;
    if (f->interrupted)
        fl_scan_warn(&c.st, "the process ended in a signal handler that interrupted an allocation "
                            "being recorded: that block's record may be missing or inexact");
    fl_check_write(&c, kind, status, exec_target);
    fl_check_free(&c);
    return NULL;
}
