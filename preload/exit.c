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

static const char *const kind_names[] = {"live", "direct", "indirect", "orphan", "reachable"};

static void write_report(const fl_block_t *b, const uint8_t *kind, size_t n, int exit_kind,
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
    for (size_t i = 0; i < n; i++) {
        tot_blocks[kind[i]]++;
        tot_bytes[kind[i]] += b[i].size;
        if (kind[i] == FL_KIND_REACHABLE && !fl_opt.reachable)
            continue;
        uint64_t k = gkey(kind[i], b[i].gen, b[i].stack);
        size_t j = (size_t)((k * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
        while (slots[j].key && slots[j].key != k + 1)
            j = (j + 1) & (cap - 1);
        if (!slots[j].key) {
            slots[j].key = k + 1;
            slots[j].idx = (uint32_t)ng;
            groups[ng++] = (fl_group_t){b[i].stack, b[i].gen, kind[i], 0, 0};
        }
        groups[slots[j].idx].blocks++;
        groups[slots[j].idx].bytes += b[i].size;
    }
    for (size_t g = 0; g < ng; g++) {
        const fl_group_t *gr = &groups[g];
        fl_report_stack(o, gr->stack, written);
        fl_out_printf(o, "group kind=%s origin=%s stack=%u blocks=%lu bytes=%lu",
                      kind_names[gr->kind], gr->gen < fl_proc.gen ? "inherited" : "own", gr->stack,
                      (unsigned long)gr->blocks, (unsigned long)gr->bytes);
        if (gr->gen < fl_proc.gen)
            fl_out_printf(o, " from_pid=%d from_gen=%u", (int)ancestor_pid(gr->gen), gr->gen);
        fl_out_record_end(o);
    }
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
    fl_arena_unmap(o, sizeof *o);
}

void fl_finish(int kind, int status, const char *exec_target)
{
    if (__atomic_exchange_n(&finished, 1, __ATOMIC_ACQ_REL))
        return;
    int saved_errno = errno;
    int saved_guard = fl_tl_guard;
    fl_tl_guard = 1; /* whatever we (or libc for us) allocate from here is not the program's */
    fl_scan_stats_t st;
    memset(&st, 0, sizeof st);
    uint64_t t0 = fl_mono_ns();

    /* The boundary is the entry point the program called: its caller's frame is the lowest live
     * one. exit() is libc's; _exit/_Exit are our wrappers. */
    uintptr_t boundary = kind == FL_EXIT_EXIT     ? (uintptr_t)&exit
                         : kind == FL_EXIT__EXIT  ? (uintptr_t)&_exit
                         : kind == FL_EXIT__EXIT2 ? (uintptr_t)&_Exit
                                                  : 0;
    fl_scan_prepare(boundary);
    fl_world_lock();
    size_t cap = fl_table_count() + 16;
    fl_block_t *blocks = fl_arena_map(cap * sizeof *blocks);
    fl_block_t *tmp = fl_arena_map(cap * sizeof *blocks);
    uint32_t *work = fl_arena_map(cap * sizeof *work);
    uint8_t *kinds = fl_arena_map(cap);
    size_t n = 0;
    fl_world_t world;
    memset(&world, 0, sizeof world);
    if (blocks && tmp && kinds && work) {
        fl_world_stop(&world, &st);
        n = fl_table_snapshot(blocks, cap);
        fl_sort_blocks(blocks, n, tmp);
        fl_scan_classify(&world, blocks, n, kinds, work, &st);
        fl_world_resume(&world);
    } else {
        fl_log_warn("out of memory for the exit check");
    }
    fl_world_unlock();
    st.check_ns = fl_mono_ns() - t0;

    write_report(blocks, kinds, n, kind, status, exec_target, &st);
    fl_arena_unmap(blocks, cap * sizeof *blocks);
    fl_arena_unmap(tmp, cap * sizeof *blocks);
    fl_arena_unmap(work, cap * sizeof *work);
    fl_arena_unmap(kinds, cap);
    fl_tl_guard = saved_guard;
    errno = saved_errno;
}
