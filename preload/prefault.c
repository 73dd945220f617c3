/* prefault.c — what a process's memory costs, and breaking copy-on-write right after fork.
 * Memory figures come from /proc/self/status, smaps_rollup and getrusage, at start (or fork) and
 * at exit. Pre-faulting (FORKLEAK_PREFAULT) writes-faults only pages that are resident, in private
 * writable mappings, never the shim's own, with MADV_POPULATE_WRITE (or an atomic add per page on
 * kernels without it), so the copies happen at fork time instead of at random later. At exit a
 * child attributes the pages of its inherited blocks that it has copied, by allocation stack,
 * from /proc/self/pagemap. Never allocates from the tracked heap; failure is reported, not fatal. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

fl_mem_t fl_mem_start, fl_mem_prefault;
fl_prefault_t fl_pf;

fl_mem_t fl_mem_now_override; /* a snapshot's figures, read before the sweeper was cloned */

/* quick: /proc/self/status only (right after fork: smaps_rollup walks every page table, and a
 * child's resident pages are all shared with its parent at that moment anyway). */
void fl_mem_read(fl_mem_t *m, bool quick)
{
    char buf[4096];
    if (fl_mem_now_override.valid && !quick) {
        *m = fl_mem_now_override;
        return;
    }
    memset(m, 0, sizeof *m);
    if (fl_read_file("/proc/self/status", buf, sizeof buf) > 0) {
        m->vsz_kb = fl_proc_field(buf, "\nVmSize:");
        m->rss_kb = fl_proc_field(buf, "\nVmRSS:");
        m->anon_kb = fl_proc_field(buf, "\nRssAnon:");
    }
    if (quick)
        m->quick = true;
    else if (fl_read_file("/proc/self/smaps_rollup", buf, sizeof buf) > 0) {
        m->private_dirty_kb = fl_proc_field(buf, "\nPrivate_Dirty:");
        m->shared_clean_kb = fl_proc_field(buf, "\nShared_Clean:");
        m->shared_dirty_kb = fl_proc_field(buf, "\nShared_Dirty:");
        m->anon_kb = fl_proc_field(buf, "\nAnonymous:");
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        m->minflt = (uint64_t)ru.ru_minflt;
        m->majflt = (uint64_t)ru.ru_majflt;
    }
    m->valid = true;
}

/* ---- where the heap is: 2 MiB granules that ever held a tracked block (PREFAULT=heap) ---- */
#define GRANULE_SHIFT 21
#define GRANULES (1ull << (47 - GRANULE_SHIFT))
static uint64_t heapmap[GRANULES / 64]; /* .bss: only touched words cost memory */
bool fl_heapmap_on;

void fl_heapmap_mark(uintptr_t addr, size_t size)
{
    uint64_t g = addr >> GRANULE_SHIFT, last = (addr + (size ? size - 1 : 0)) >> GRANULE_SHIFT;
    for (; g <= last && g < GRANULES; g++) {
        uint64_t bit = 1ull << (g & 63);
        if (!(__atomic_load_n(&heapmap[g / 64], __ATOMIC_RELAXED) & bit))
            __atomic_fetch_or(&heapmap[g / 64], bit, __ATOMIC_RELAXED);
    }
}

static bool heapmap_overlaps(uintptr_t lo, uintptr_t hi)
{
    for (uint64_t g = lo >> GRANULE_SHIFT; g <= (hi - 1) >> GRANULE_SHIFT && g < GRANULES; g++)
        if (heapmap[g / 64] & (1ull << (g & 63)))
            return true;
    return false;
}

/* ---- pre-faulting ---- */
static bool shim_memory(uintptr_t lo, uintptr_t hi)
{
    uintptr_t slo, shi;
    fl_shim_range(&slo, &shi);
    if (lo < shi && hi > slo)
        return true;
    return fl_arena_owns(lo) || fl_arena_owns(hi - 1);
}

static bool fallback_mode;

/* Breaks CoW on [lo, hi), a run of resident pages. Returns 0 or an errno. */
static int populate(uintptr_t lo, uintptr_t hi)
{
    if (!fallback_mode) {
        if (madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) == 0)
            return 0;
        if (errno != EINVAL)
            return errno;
        fallback_mode = true; /* before Linux 5.14: write-fault each page ourselves */
    }
    for (uintptr_t p = lo; p < hi; p += 4096)
        __atomic_fetch_add((volatile char *)p, 0, __ATOMIC_RELAXED);
    return 0;
}

static int prefault_mapping(uintptr_t lo, uintptr_t hi)
{
    unsigned char vec[4096];
    for (uintptr_t base = lo; base < hi; base += sizeof vec * 4096ull) {
        uintptr_t end = base + sizeof vec * 4096ull < hi ? base + sizeof vec * 4096ull : hi;
        size_t npages = (end - base) / 4096;
        if (mincore((void *)base, end - base, vec) != 0)
            return errno == ENOMEM ? 0 : errno; /* unmapped meanwhile: nothing to do */
        size_t i = 0;
        while (i < npages) {
            if (!(vec[i] & 1)) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < npages && (vec[j] & 1))
                j++;
            int err = populate(base + i * 4096, base + j * 4096);
            if (err)
                return err;
            fl_pf.pages += j - i;
            i = j;
        }
    }
    return 0;
}

void fl_prefault_run(void)
{
    static volatile int warned;
    if (fl_opt.prefault == FL_PREFAULT_OFF || fl_pf.error)
        return;
    size_t cap = 1 << 20;
    char *maps = fl_arena_map(cap);
    if (!maps)
        return;
    uint64_t t0 = fl_mono_ns();
    fl_pf.ran = true;
    ssize_t len = fl_read_file("/proc/self/maps", maps, cap);
    for (char *line = maps; len > 0 && *line;) {
        char *eol = strchr(line, '\n');
        if (eol)
            *eol = 0;
        char *p = line;
        uintptr_t lo = strtoull(p, &p, 16), hi = strtoull(p + 1, &p, 16);
        const char *perms = p + 1;
        strtoull(perms + 5, &p, 16); /* offset */
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++; /* dev */
        unsigned long inode = strtoul(p, &p, 10);
        while (*p == ' ')
            p++;
        const char *path = p;
        line = eol ? eol + 1 : line + strlen(line);
        /* Private and writable only: never shared mappings (writing them would change a file's
         * contents or mtime), read-only or PROT_NONE guards, nor the special [vvar]/[vdso]. */
        if (perms[0] != 'r' || perms[1] != 'w' || perms[3] != 'p' ||
            (path[0] == '[' && path[1] == 'v'))
            continue;
        if (shim_memory(lo, hi))
            continue;
        bool anon = inode == 0 && (!*path || strncmp(path, "[anon:", 6) == 0);
        bool want = strcmp(path, "[heap]") == 0 || (anon && heapmap_overlaps(lo, hi));
        if (fl_opt.prefault == FL_PREFAULT_WRITABLE)
            want = want || anon || strcmp(path, "[stack]") == 0 || inode != 0;
        if (!want)
            continue;
        int err = prefault_mapping(lo, hi);
        if (err) {
            fl_pf.error = err;
            if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
                fl_log_warn("pre-faulting stopped after %lu pages: %s", (unsigned long)fl_pf.pages,
                            strerrordesc_np(err) ? strerrordesc_np(err) : "error");
            break;
        }
    }
    fl_pf.ns += fl_mono_ns() - t0;
    fl_arena_unmap(maps, cap);
}

/* ---- copy-on-write by allocation site (child, at exit) ---- */
#define PM_PRESENT (1ull << 63)
#define PM_EXCLUSIVE (1ull << 56)

typedef struct pmwin { int fd; uint64_t first; size_t n; uint64_t e[512]; } pmwin_t;

/* A copy of the pagemap entries of the private writable mappings, taken by a process just before
 * it clones a snapshot sweeper: after the clone every page is mapped twice and no longer looks
 * exclusive, so the sweeper must judge copied vs shared from this copy. */
#define MAX_DUMP 4096
static struct pmrange { uint64_t first, n; uint64_t *e; } dump[MAX_DUMP];
static size_t ndump;

void fl_pagemap_dump(void)
{
    size_t cap = 1 << 20;
    char *maps = fl_arena_map(cap);
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    ndump = 0;
    if (maps && fd >= 0 && fl_read_file("/proc/self/maps", maps, cap) > 0) {
        for (char *line = maps; *line && ndump < MAX_DUMP;) {
            char *eol = strchr(line, '\n'), *p = line;
            uintptr_t lo = strtoull(p, &p, 16), hi = strtoull(p + 1, &p, 16);
            bool rw = p[1] == 'r' && p[2] == 'w' && p[4] == 'p';
            line = eol ? eol + 1 : line + strlen(line);
            if (!rw || shim_memory(lo, hi))
                continue;
            uint64_t n = (hi - lo) / 4096;
            uint64_t *e = fl_arena_map(n * 8);
            if (!e)
                break;
            if (pread(fd, e, n * 8, (off_t)(lo / 4096 * 8)) != (ssize_t)(n * 8)) {
                fl_arena_unmap(e, n * 8);
                continue;
            }
            dump[ndump++] = (struct pmrange){lo / 4096, n, e};
        }
    }
    if (fd >= 0)
        close(fd);
    fl_arena_unmap(maps, cap);
}

void fl_pagemap_dump_drop(void)
{
    for (size_t i = 0; i < ndump; i++)
        fl_arena_unmap(dump[i].e, dump[i].n * 8);
    ndump = 0;
}

static bool pm_get(pmwin_t *w, uint64_t page, uint64_t *out)
{
    if (ndump) {
        static size_t last; /* blocks come in address order: the same range again, mostly */
        for (size_t k = 0; k < ndump; k++) {
            size_t i = (last + k) % ndump;
            if (page >= dump[i].first && page < dump[i].first + dump[i].n) {
                last = i;
                *out = dump[i].e[page - dump[i].first];
                return true;
            }
        }
        *out = 0; /* not in a private writable mapping: neither shared nor copied */
        return true;
    }
    if (page < w->first || page >= w->first + w->n) {
        long r = fl_raw_pread(w->fd, w->e, sizeof w->e, (off_t)(page * 8));
        if (r <= 0)
            return false;
        w->first = page;
        w->n = (size_t)r / 8;
    }
    *out = w->e[page - w->first];
    return true;
}

void *fl_cow_begin(void)
{
    pmwin_t *w = fl_arena_map(sizeof *w);
    if (!w)
        return NULL;
    w->fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (w->fd < 0) {
        fl_arena_unmap(w, sizeof *w);
        return NULL;
    }
    return w;
}

void fl_cow_end(void *h)
{
    pmwin_t *w = h;
    if (!w)
        return;
    close(w->fd);
    fl_arena_unmap(w, sizeof *w);
}

void fl_cow_attribute(void *h, const fl_snap_t *b, size_t n, uint32_t gen,
                      uint64_t *pages_by_stack, uint32_t nstacks, fl_cow_t *out)
{
    pmwin_t *w = h;
    memset(out, 0, sizeof *out);
    if (!w)
        return;
    out->valid = true;
    uint64_t last = 0;
    for (size_t i = 0; i < n; i++) {
        if (fl_snap_gen(&b[i]) >= gen || fl_snap_size(&b[i]) == 0)
            continue;
        uint64_t p = fl_snap_addr(&b[i]) >> 12, e = (fl_snap_addr(&b[i]) + fl_snap_size(&b[i]) - 1) >> 12;
        if (p <= last && last)
            p = last + 1; /* a page shared by neighbours counts once, for the first block */
        for (; p <= e; p++) {
            uint64_t ent;
            if (!pm_get(w, p, &ent))
                break;
            last = p;
            if (!(ent & PM_PRESENT))
                continue;
            if (ent & PM_EXCLUSIVE) {
                out->copied_pages++;
                if (b[i].stack < nstacks)
                    pages_by_stack[b[i].stack]++;
            } else {
                out->shared_pages++;
            }
        }
    }
}
