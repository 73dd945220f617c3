/* scan.c — the reachability check at exit, with LeakSanitizer's semantics: roots are the writable
 * segments of every loaded object, the live part of each live thread's stack and its registers,
 * static TLS, blocks the dynamic loader allocated (DTVs, dynamic TLS), and — unlike LSan — private
 * anonymous mappings that hold no tracked block (CPython's arenas, custom pools). Interior
 * pointers count; only aligned words are read. Unreached blocks are leaked: the first of a chain
 * (a clique leader, as valgrind's memcheck does it) direct, the rest indirect. In a fork child,
 * blocks reachable only from the copied stacks of threads that did not survive the fork are
 * "orphaned by fork". Never reads the shim's own memory; never allocates while the world is
 * stopped (everything is prepared before). */
#define UNW_LOCAL_ONLY
#include "internal.h"

#include <fcntl.h>
#include <libunwind.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

typedef struct range { uintptr_t lo, hi; } range_t;

#define RED_ZONE 128
#define MAX_SEGS 8192
#define MAX_EXCL (16384 + 8192 + FL_MAX_STOP + 64)
#define EXCL_BUF (2 * MAX_EXCL) /* the general exclusions, then the shim-only ones */

static struct {
    bool have_self;
    pid_t self_tid;
    uintptr_t self_sp, self_regs[FL_NREGS];
    int nself_regs;
    range_t *segs;
    size_t nsegs;
    char *maps;
    size_t maps_len, maps_cap;
    range_t *excl;
    int pagemap_fd;
    fl_thread_info_t *threads;
    size_t nthreads;
} prep;

static uintptr_t main_tp;    /* main thread's thread pointer: its static TLS is in ld.so's mapping */
static range_t main_tls_init; /* that mapping as it was at start */
static range_t main_tls;      /* ... and as it is now, clipped to how it was (set at each scan) */
bool fl_main_thread_gone; /* set in a fork child forked from another thread */

/* ---- preparation (before the world stops) ---- */
static void unwind_to_boundary(uintptr_t boundary)
{
    unw_context_t uc;
    unw_cursor_t c;
    prep.have_self = false;
    if (!boundary || unw_getcontext(&uc) != 0 || unw_init_local(&c, &uc) != 0)
        return;
    for (int i = 0; i < 256 && unw_step(&c) > 0; i++) {
        unw_proc_info_t pi;
        if (unw_get_proc_info(&c, &pi) != 0 || pi.start_ip != boundary)
            continue;
        /* c is in the exit (or _exit) frame; one more step gives its caller, whose SP is the
         * lowest live address of this stack and whose callee-saved registers still hold what
         * the caller kept there (a pointer held only in RBX is found). */
        if (unw_step(&c) <= 0)
            return;
        static const int regs[6] = {UNW_X86_64_RBX, UNW_X86_64_RBP, UNW_X86_64_R12,
                                    UNW_X86_64_R13, UNW_X86_64_R14, UNW_X86_64_R15};
        unw_word_t v;
        if (unw_get_reg(&c, UNW_X86_64_RSP, &v) != 0)
            return;
        prep.self_sp = v;
        for (int r = 0; r < 6; r++)
            prep.self_regs[r] = unw_get_reg(&c, regs[r], &v) == 0 ? v : 0;
        prep.nself_regs = 6;
        prep.have_self = true;
        return;
    }
}

static int seg_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    uintptr_t shim_lo, shim_hi;
    fl_shim_range(&shim_lo, &shim_hi);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || prep.nsegs == MAX_SEGS)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        /* Round the end up to the page: ld.so's minimal malloc serves its early blocks from the
         * rest of the last page of its data segment (DESIGN.md, Roots). */
        uintptr_t hi = (lo + ph->p_memsz + 4095) & ~(uintptr_t)4095;
        if (lo >= shim_lo && lo < shim_hi)
            continue; /* our own tables: never roots */
        prep.segs[prep.nsegs++] = (range_t){lo & ~(uintptr_t)7, hi};
    }
    return 0;
}

/* For a snapshot taken in a signal handler: the interrupted context is the live state. */
void fl_scan_set_self(pid_t tid, uintptr_t sp, const uintptr_t *regs, int nregs)
{
    prep.self_tid = tid;
    prep.self_sp = sp - RED_ZONE;
    for (int i = 0; i < nregs && i < FL_NREGS; i++)
        prep.self_regs[i] = regs[i];
    prep.nself_regs = nregs;
    prep.have_self = true;
}

static void read_maps(void)
{
    prep.maps_len = 0;
    for (;;) {
        if (!prep.maps) {
            prep.maps_cap = prep.maps_cap ? prep.maps_cap * 2 : (1 << 20);
            prep.maps = fl_arena_map(prep.maps_cap);
            if (!prep.maps)
                return;
        }
        ssize_t n = fl_read_file("/proc/self/maps", prep.maps, prep.maps_cap);
        if (n < 0)
            return;
        if ((size_t)n < prep.maps_cap - 1) { /* all of it: otherwise try again, twice as big */
            prep.maps_len = (size_t)n;
            return;
        }
        fl_arena_unmap(prep.maps, prep.maps_cap);
        prep.maps = NULL;
    }
}

void fl_scan_prepare(uintptr_t boundary)
{
    prep.self_tid = fl_gettid();
    prep.nself_regs = 0;
    unwind_to_boundary(boundary);
    if (!prep.segs)
        prep.segs = fl_arena_map(MAX_SEGS * sizeof(range_t));
    if (!prep.excl)
        prep.excl = fl_arena_map(EXCL_BUF * sizeof(range_t));
    if (!prep.threads)
        prep.threads = fl_arena_map(8192 * sizeof(fl_thread_info_t));
    prep.nsegs = 0;
    if (prep.segs)
        dl_iterate_phdr(seg_cb, NULL);
    read_maps();
}

/* ---- /proc/self/maps parsing (no allocation) ---- */
typedef struct mapline {
    uintptr_t lo, hi;
    char perms[5];
    unsigned long inode;
    const char *path; /* points into the buffer, up to the newline */
    size_t pathlen;
} mapline_t;

static uintptr_t hexnum(const char **p)
{
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            return v;
    }
}

static bool next_map(const char **cur, mapline_t *m)
{
    const char *p = *cur;
    if (!p || !*p)
        return false;
    const char *eol = strchr(p, '\n');
    if (!eol)
        eol = p + strlen(p);
    m->lo = hexnum(&p);
    p++;
    m->hi = hexnum(&p);
    p++;
    memcpy(m->perms, p, 4);
    m->perms[4] = 0;
    p += 5;
    hexnum(&p); /* offset */
    p++;
    while (*p != ' ' && p < eol)
        p++; /* dev */
    p++;
    m->inode = 0;
    while (*p >= '0' && *p <= '9')
        m->inode = m->inode * 10 + (unsigned long)(*p++ - '0');
    while (*p == ' ' && p < eol)
        p++;
    m->path = p;
    m->pathlen = (size_t)(eol - p);
    *cur = *eol ? eol + 1 : eol;
    return true;
}

/* A private writable anonymous mapping: [heap], [stack], [vvar]… are special; "[anon:name]" is
 * anonymous. */
static bool private_anon(const mapline_t *m)
{
    return m->perms[0] == 'r' && m->perms[1] == 'w' && m->perms[3] == 'p' && m->inode == 0 &&
           (!m->pathlen || (m->pathlen > 6 && memcmp(m->path, "[anon:", 6) == 0));
}

/* Private writable anonymous memory, in bytes (the mappings the scan may read as roots, and the
 * malloc arenas): with the block count, what decides whether a second worker pays. */
size_t fl_scan_anon_bytes(void)
{
    const char *cur = prep.maps;
    mapline_t m;
    size_t total = 0;
    while (cur && next_map(&cur, &m))
        if (private_anon(&m) && !fl_arena_owns(m.lo))
            total += m.hi - m.lo;
    return total;
}

static bool find_mapping(uintptr_t addr, mapline_t *out)
{
    const char *cur = prep.maps;
    mapline_t m;
    while (next_map(&cur, &m))
        if (addr >= m.lo && addr < m.hi) {
            *out = m;
            return true;
        }
    return false;
}

/* Called from the constructor: remembers where the main thread's static TLS lives. */
/* Finds the line of /proc/self/maps that contains addr, reading it in small pieces (no arena
 * yet: the constructor calls this before the shim maps anything). */
static bool find_mapping_now(uintptr_t addr, range_t *out)
{
    char buf[4096];
    size_t have = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool found = false;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = 0;
        char *line = buf, *eol;
        while ((eol = strchr(line, '\n')) != NULL) {
            const char *p = line;
            uintptr_t lo = hexnum(&p);
            p++;
            uintptr_t hi = hexnum(&p);
            if (addr >= lo && addr < hi) {
                *out = (range_t){lo, hi};
                found = true;
                break;
            }
            line = eol + 1;
        }
        if (found)
            break;
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
    }
    close(fd);
    return found;
}

void fl_scan_init(void)
{
    prep.pagemap_fd = -1;
    __asm__("mov %%fs:0, %0" : "=r"(main_tp)); /* the TCB's self pointer (x86_64 TLS ABI) */
    /* Recorded now: later the kernel may merge the program's own anonymous mappings into this
     * VMA, and those must not become roots when FORKLEAK_SCAN_MAPPINGS=no. */
    find_mapping_now(main_tp, &main_tls_init);
}

/* The anonymous mapping holding main's TCB and static TLS, clipped to what is there now (the
 * kernel may have merged it with neighbours, ours included: those are excluded separately). */
static void find_main_tls(void)
{
    mapline_t m;
    main_tls = (range_t){0, 0};
    if (main_tp && find_mapping(main_tp, &m) && m.inode == 0 && !(m.pathlen && m.path[0] == '[')) {
        main_tls = (range_t){m.lo, m.hi};
        if (main_tls_init.hi) { /* clipped to what it was at start */
            if (main_tls.lo < main_tls_init.lo)
                main_tls.lo = main_tls_init.lo;
            if (main_tls.hi > main_tls_init.hi)
                main_tls.hi = main_tls_init.hi;
            if (main_tls.lo >= main_tls.hi)
                main_tls = (range_t){0, 0};
        }
    }
}

/* ---- marking ---- */
/* Blocks close together in memory: the brk heap, the allocator's own mappings, each thread arena.
 * Blocks [first, last) lie in [lo, end). pdir, if set: per 4 KiB page from pbase, the index of the
 * page's first block (npages + 1 entries). */
#define MAX_CL 16
typedef struct cluster {
    uintptr_t lo, end, pbase;
    size_t first, last, npages;
    const uint32_t *pdir;
} cluster_t;

typedef struct ctx {
    const fl_snap_t *b;
    size_t n;
    uint8_t *kind;
    uint32_t *stack;
    size_t sp;
    uint32_t *stack2; /* the second worker's */
    size_t hint;      /* the indexes of the blocks after and before the one being scanned */
    size_t hint_prev;
    uintptr_t minaddr, maxend;
    fl_scan_stats_t *st;
    unsigned ncl;           /* clusters of blocks (see make_clusters) */
    cluster_t cl[MAX_CL];
    uintptr_t touched;
    range_t *collect; /* while set, scan_words notes its ranges here instead (see scan_pieces) */
    size_t ncollect;
    uint64_t *pm; /* this worker's buffer for pagemap entries (512) */
} ctx_t;

#define UNSEEN FL_KIND_LIVE

/* glibc keeps pointers to chunk headers (main_arena.top, the bins). The header of the chunk after
 * a block lies inside the block's last 8 requested bytes when its size is 1..8 mod 16 (the next
 * chunk's prev_size field is usable by the block): such a pointer is the allocator's, not the
 * program's, and must not keep the block alive. */
static inline bool glibc_next_header(const fl_snap_t *b, uintptr_t v)
{
    if (!fl_glibc_malloc)
        return false;
    uintptr_t chunk = (fl_snap_size(b) + 8 + 15) & ~(uintptr_t)15;
    if (chunk < 32)
        chunk = 32;
    return v == fl_snap_addr(b) - 16 + chunk;
}

/* The block containing addr (interior pointers count; a 0-byte block only by its address). */
static inline __attribute__((always_inline)) ssize_t find_block(const ctx_t *c, uintptr_t v)
{
    const cluster_t *k = c->cl;
    for (unsigned i = 1; FL_UNLIKELY(v - k->lo >= k->end - k->lo); i++, k++)
        if (i >= c->ncl)
            return -1; /* between clusters: no block there */
    size_t lo = k->first, hi = k->last;
    if (k->pdir) { /* the last block starting at or before v starts in v's page, or is the last
                    * one before it */
        size_t pg = (v - k->pbase) >> 12;
        lo = k->pdir[pg];
        hi = k->pdir[pg + 1];
    }
    /* The first block starting after v, without branches (the comparisons are unpredictable). */
    const fl_snap_t *first = c->b + lo;
    for (size_t len = hi - lo; len > 0;) {
        size_t half = len >> 1;
        bool right = fl_snap_addr(&first[half]) <= v;
        first = right ? first + half + 1 : first;
        len = right ? len - half - 1 : half;
    }
    lo = (size_t)(first - c->b);
    if (lo == 0)
        return -1;
    const fl_snap_t *b = &c->b[lo - 1];
    if ((v < fl_snap_addr(b) + fl_snap_size(b) && !glibc_next_header(b, v)) || v == fl_snap_addr(b))
        return (ssize_t)(lo - 1);
    return -1;
}

static inline void consider(ctx_t *c, uintptr_t v, uint8_t tag)
{
    if (v < c->minaddr || v >= c->maxend)
        return;
    /* A list allocated in order points from each block to its neighbour in memory (the next one,
     * or the previous one when each new node becomes the head): those two are checked before any
     * search. */
    ssize_t i = v == fl_snap_addr(&c->b[c->hint])       ? (ssize_t)c->hint
                : v == fl_snap_addr(&c->b[c->hint_prev]) ? (ssize_t)c->hint_prev
                                                        : find_block(c, v);
    /* With two workers, both may see a block unseen and push it: it is scanned twice, which
     * marks nothing new. A locked compare-and-swap here would stall the streaming reads. */
    if (i < 0 || __atomic_load_n(&c->kind[i], __ATOMIC_RELAXED) != UNSEEN)
        return;
    __atomic_store_n(&c->kind[i], tag, __ATOMIC_RELAXED);
    c->stack[c->sp++] = (uint32_t)i;
}

static void scan_dense(ctx_t *c, uintptr_t lo, uintptr_t hi, uint8_t tag)
{
    c->st->scanned_bytes += hi - lo;
    if (hi - lo > 8192) { /* each page once first: see scan_block */
        uintptr_t sum = 0;
        for (uintptr_t p = (lo + 4095) & ~(uintptr_t)4095; p + 8 <= hi; p += 4096)
            sum += *(volatile const uintptr_t *)p;
        c->touched += sum;
    }
    for (uintptr_t p = lo; p + 8 <= hi; p += 8)
        consider(c, *(const uintptr_t *)p, tag);
}

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define SPARSE_MIN (256u << 10)

/* Large ranges (thread stacks of 8 MiB, sparse mappings, big calloc'ed blocks) are mostly pages
 * never touched: reading them would fault each one in, for nothing but zeros. pagemap says which
 * pages are present or swapped out; only those can hold a pointer. */
#define MAX_COLLECT 16384

static void scan_words(ctx_t *c, uintptr_t lo, uintptr_t hi, uint8_t tag)
{
    uint64_t *pm = c->pm;
    lo = (lo + 7) & ~(uintptr_t)7;
    if (hi <= lo)
        return;
    if (c->collect && c->ncollect < MAX_COLLECT) {
        c->collect[c->ncollect++] = (range_t){lo, hi};
        return;
    }
    if (hi - lo < SPARSE_MIN || prep.pagemap_fd < 0) {
        scan_dense(c, lo, hi, tag);
        return;
    }
    for (uintptr_t base = lo & ~(uintptr_t)4095; base < hi; base += 512 * 4096ull) {
        long r = fl_raw_pread(prep.pagemap_fd, pm, 512 * sizeof *pm, (off_t)(base / 4096 * 8));
        size_t n = r > 0 ? (size_t)r / 8 : 0;
        for (size_t i = 0; i < 512; i++) {
            uintptr_t plo = base + i * 4096, phi = plo + 4096;
            if (plo >= hi)
                break;
            if (i < n && !(pm[i] & (PM_PRESENT | PM_SWAPPED)))
                continue;
            scan_dense(c, plo > lo ? plo : lo, phi < hi ? phi : hi, tag);
        }
    }
}

/* Root ranges come from the loader, the registry and startup; memory may have been unmapped or
 * re-protected since. Scan only what the current map says is readable: never fault. */
static void scan_safe(ctx_t *c, uintptr_t lo, uintptr_t hi, uint8_t tag)
{
    const char *cur = prep.maps;
    mapline_t m;
    if (!cur)
        return;
    while (next_map(&cur, &m)) {
        if (m.hi <= lo || m.lo >= hi || m.perms[0] != 'r')
            continue;
        /* [vvar] and friends can fault even when "readable" */
        if (m.pathlen > 2 && m.path[0] == '[' && m.path[1] == 'v')
            continue;
        scan_words(c, m.lo > lo ? m.lo : lo, m.hi < hi ? m.hi : hi, tag);
    }
}

/* Marking on two workers. Each has its own stack; one that runs dry says so, and the other hands
 * it the top half of its stack through a small buffer every few blocks while it waits. Marking
 * is done when every worker is idle and the buffer empty (seen under the lock). */
#define HAND_CAP 4096
typedef struct share {
    volatile int lock;
    volatile int waiting; /* a hint, read without the lock */
    volatile int done;
    unsigned idle;
    volatile size_t nhand;
    uint32_t hand[HAND_CAP];
    ctx_t *w[2];
    uint8_t tag;
} share_t;

static share_t share;
static uint64_t pm_helper[512];
static uint64_t pm_main[512];

static void share_lock(share_t *sh)
{
    while (__atomic_exchange_n(&sh->lock, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&sh->lock, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
}

static void share_unlock(share_t *sh)
{
    __atomic_store_n(&sh->lock, 0, __ATOMIC_RELEASE);
}

static void give(share_t *sh, ctx_t *c)
{
    share_lock(sh);
    size_t k = c->sp / 2;
    if (k > HAND_CAP - sh->nhand)
        k = HAND_CAP - sh->nhand;
    memcpy(&sh->hand[sh->nhand], &c->stack[c->sp - k], k * sizeof *c->stack);
    sh->nhand += k;
    c->sp -= k;
    share_unlock(sh);
}

static void take_locked(share_t *sh, ctx_t *c)
{
    memcpy(&c->stack[c->sp], sh->hand, sh->nhand * sizeof *c->stack);
    c->sp += sh->nhand;
    sh->nhand = 0;
}

/* Scans one block from the mark stack, first asking for the memory two pages past its start. A
 * program's lists and trees are mostly allocated in order, so that is where the next blocks
 * are; and in a fork child every page-table entry is "old": the first access to each page sets its
 * accessed bit. A prefetch overlaps that page walk with the scan of the blocks before it (256 MiB
 * in a forktree child: classify ~45 -> ~34 ms with two workers; one load per page in a separate
 * pass first was the earlier way to overlap them). Prefetches never fault. */
static inline void scan_block(ctx_t *c, uint32_t idx, uint8_t tag)
{
    const fl_snap_t *b = &c->b[idx];
    uintptr_t a = fl_snap_addr(b);
    c->hint = idx + 1 < c->n ? idx + 1 : idx;
    c->hint_prev = idx ? idx - 1 : idx;
    __builtin_prefetch((const char *)a + 8192, 0, 0);
    scan_words(c, a, a + fl_snap_size(b), tag);
}

static void flood_one(ctx_t *c, uint8_t tag)
{
    while (c->sp > 0)
        scan_block(c, c->stack[--c->sp], tag);
}

static void flood_worker(void *arg, unsigned w, unsigned nw)
{
    share_t *sh = arg;
    ctx_t *c = sh->w[w];
    unsigned tick = 0;
    for (;;) {
        while (c->sp > 0) {
            scan_block(c, c->stack[--c->sp], sh->tag);
            if ((++tick & 15) == 0 && c->sp > 1 && __atomic_load_n(&sh->waiting, __ATOMIC_RELAXED))
                give(sh, c);
        }
        share_lock(sh);
        if (sh->nhand) {
            take_locked(sh, c);
            share_unlock(sh);
            continue;
        }
        if (++sh->idle == nw) {
            __atomic_store_n(&sh->done, 1, __ATOMIC_RELEASE);
            share_unlock(sh);
            return;
        }
        __atomic_store_n(&sh->waiting, 1, __ATOMIC_RELAXED);
        share_unlock(sh);
        for (unsigned spins = 0;; spins++) {
            if (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE))
                return;
            if (__atomic_load_n(&sh->nhand, __ATOMIC_RELAXED)) {
                share_lock(sh);
                bool got = sh->nhand > 0 && !sh->done;
                if (got) {
                    take_locked(sh, c);
                    sh->idle--;
                    __atomic_store_n(&sh->waiting, sh->idle > 0, __ATOMIC_RELAXED);
                }
                share_unlock(sh);
                if (got)
                    break;
            }
            if (spins < 256)
                __builtin_ia32_pause();
            else
                fl_raw_yield();
        }
    }
}

/* The second worker's context: a copy of the caller's with its own stack and buffers, made once
 * the page directory is built; root pieces it scans leave their blocks on its stack for flood. */
static ctx_t helper_ctx;
static fl_scan_stats_t helper_st;

/* Adds what the helper scanned to the caller's count. */
static void helper_stats_to(ctx_t *c)
{
    c->st->scanned_bytes += helper_st.scanned_bytes;
    helper_st.scanned_bytes = 0;
}

static void helper_init(const ctx_t *c)
{
    helper_ctx = *c;
    helper_ctx.stack = c->stack2;
    helper_ctx.sp = 0;
    helper_ctx.pm = pm_helper;
    memset(&helper_st, 0, sizeof helper_st);
    helper_ctx.st = &helper_st;
}

static void flood(ctx_t *c, uint8_t tag)
{
    ctx_t *c1 = &helper_ctx;
    if (fl_par_workers() < 2 || c->sp + c1->sp == 0) {
        flood_one(c, tag);
        return;
    }
    share.lock = 0;
    share.waiting = 0;
    share.done = 0;
    share.idle = 0;
    share.nhand = 0;
    share.w[0] = c;
    share.w[1] = c1;
    share.tag = tag;
    fl_par_run(flood_worker, &share);
    helper_stats_to(c);
}

/* Root ranges noted while c->collect was set, scanned by every worker in 1 MiB pieces taken in
 * turn (CPython's arenas, cc1's 65 MB of GC pages: the roots can be most of the scan). */
#define PIECE ((uintptr_t)1 << 20)
typedef struct piecejob {
    const range_t *r;
    size_t n;
    uint64_t first[MAX_COLLECT + 1]; /* the number of pieces before each range */
    volatile uint64_t next;
    ctx_t *w[2];
    uint8_t tag;
} piecejob_t;

static void pieces_part(void *arg, unsigned w, unsigned nw)
{
    (void)nw;
    piecejob_t *j = arg;
    ctx_t *c = j->w[w];
    for (;;) {
        uint64_t p = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (p >= j->first[j->n])
            return;
        size_t a = 0, b = j->n; /* the range holding piece p: first[a] <= p < first[a + 1] */
        while (b - a > 1) {
            size_t mid = (a + b) / 2;
            if (j->first[mid] <= p)
                a = mid;
            else
                b = mid;
        }
        uintptr_t lo = j->r[a].lo + (p - j->first[a]) * PIECE;
        uintptr_t hi = lo + PIECE < j->r[a].hi ? lo + PIECE : j->r[a].hi;
        scan_words(c, lo, hi, j->tag);
    }
}

static void scan_pieces(ctx_t *c, uint8_t tag)
{
    static piecejob_t j;
    j.r = c->collect;
    j.n = c->ncollect;
    c->collect = NULL;
    if (fl_par_workers() < 2) {
        for (size_t i = 0; i < j.n; i++)
            scan_words(c, j.r[i].lo, j.r[i].hi, tag);
        return;
    }
    j.first[0] = 0;
    for (size_t i = 0; i < j.n; i++)
        j.first[i + 1] = j.first[i] + (j.r[i].hi - j.r[i].lo + PIECE - 1) / PIECE;
    j.next = 0;
    j.w[0] = c;
    j.w[1] = &helper_ctx;
    j.tag = tag;
    fl_par_run(pieces_part, &j);
    helper_stats_to(c);
}

/* Unreached blocks, in address order: each not yet claimed starts a clique (direct), and every
 * unreached block it leads to is indirect — an earlier leader it reaches is demoted. A block's
 * pointers to itself and to its own leader do not count. */
static void classify_leaks(ctx_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->kind[i] != UNSEEN)
            continue;
        c->kind[i] = FL_KIND_DIRECT;
        c->stack[c->sp++] = (uint32_t)i;
        while (c->sp > 0) {
            uint32_t j = c->stack[--c->sp];
            const fl_snap_t *b = &c->b[j];
            uintptr_t lo = (fl_snap_addr(b) + 7) & ~(uintptr_t)7, hi = fl_snap_addr(b) + fl_snap_size(b);
            for (uintptr_t p = lo; p + 8 <= hi; p += 8) {
                uintptr_t v = *(const uintptr_t *)p;
                if (v < c->minaddr || v >= c->maxend)
                    continue;
                ssize_t k = find_block(c, v);
                if (k < 0 || (size_t)k == i || (uint32_t)k == j)
                    continue;
                if (c->kind[k] == UNSEEN) {
                    c->kind[k] = FL_KIND_INDIRECT;
                    c->stack[c->sp++] = (uint32_t)k;
                } else if (c->kind[k] == FL_KIND_DIRECT) {
                    c->kind[k] = FL_KIND_INDIRECT;
                }
            }
        }
    }
}

/* ---- root ranges minus exclusions ---- */
static void sort_ranges(range_t *r, size_t n)
{
    /* Shell sort: a few thousand ranges at most, no allocation. */
    for (size_t gap = n / 2; gap > 0; gap /= 2)
        for (size_t i = gap; i < n; i++) {
            range_t t = r[i];
            size_t j = i;
            for (; j >= gap && r[j - gap].lo > t.lo; j -= gap)
                r[j] = r[j - gap];
            r[j] = t;
        }
}

typedef struct exclctx { range_t *r; size_t n; } exclctx_t;

static void add_excl_cb(uintptr_t lo, uintptr_t hi, void *arg)
{
    exclctx_t *e = arg;
    if (e->n < MAX_EXCL)
        e->r[e->n++] = (range_t){lo, hi};
}

/* Scans [lo, hi) minus the sorted exclusions. */
static void scan_minus(ctx_t *c, uintptr_t lo, uintptr_t hi, const exclctx_t *ex, uint8_t tag)
{
    for (size_t i = 0; i < ex->n && lo < hi; i++) {
        const range_t *x = &ex->r[i];
        if (x->hi <= lo)
            continue;
        if (x->lo >= hi)
            break;
        if (x->lo > lo)
            scan_words(c, lo, x->lo, tag);
        if (x->hi > lo)
            lo = x->hi;
    }
    if (lo < hi)
        scan_words(c, lo, hi, tag);
}

/* The index of the first block at or above addr (n if none). */
static size_t first_from(const ctx_t *c, uintptr_t addr)
{
    size_t a = 0, b = c->n;
    while (a < b) {
        size_t mid = (a + b) / 2;
        if (fl_snap_addr(&c->b[mid]) < addr)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

static bool has_blocks(const ctx_t *c, uintptr_t lo, uintptr_t hi)
{
    size_t a = first_from(c, lo);
    return a < c->n && fl_snap_addr(&c->b[a]) < hi;
}

/* A block the allocator most likely served with its own mmap: large, at the start of a page (or
 * after glibc's 16-byte chunk header). */
static bool mmap_like(const fl_snap_t *b)
{
    uintptr_t off = fl_snap_addr(b) & 4095;
    return fl_snap_size(b) >= 64 * 1024 && (off == 0 || off == 16);
}

static void scan_around_large(ctx_t *c, uintptr_t lo, uintptr_t hi, const exclctx_t *ex)
{
    size_t a = first_from(c, lo);
    for (size_t i = a; i < c->n && fl_snap_addr(&c->b[i]) < hi; i++)
        if (!mmap_like(&c->b[i]))
            return; /* heap-like: never scanned whole */
    uintptr_t cur = lo;
    for (size_t i = a; i < c->n && fl_snap_addr(&c->b[i]) < hi; i++) {
        uintptr_t plo = fl_snap_addr(&c->b[i]) & ~(uintptr_t)4095;
        uintptr_t phi = (fl_snap_addr(&c->b[i]) + fl_snap_size(&c->b[i]) + 4095) & ~(uintptr_t)4095;
        if (plo > cur)
            scan_minus(c, cur, plo, ex, FL_KIND_REACHABLE);
        if (phi > cur)
            cur = phi;
    }
    if (cur < hi)
        scan_minus(c, cur, hi, ex, FL_KIND_REACHABLE);
}

/* The main thread's stack mapping, whole. */
static void scan_main_stack(ctx_t *c, uint8_t tag)
{
    const char *cur = prep.maps;
    mapline_t m;
    while (cur && next_map(&cur, &m))
        if (m.pathlen == 7 && memcmp(m.path, "[stack]", 7) == 0)
            scan_words(c, m.lo, m.hi, tag);
}

static const fl_thread_info_t *registered(pid_t tid)
{
    for (size_t i = 0; i < prep.nthreads; i++)
        if (prep.threads[i].tid == tid && !prep.threads[i].orphan)
            return &prep.threads[i];
    return NULL;
}

/* The live part of one thread's stack: from sp (minus the red zone a leaf function may use) to the
 * top of its stack (which, for threads glibc created, also holds its static TLS and struct
 * pthread with the pthread_setspecific slots). */
static void scan_stack(ctx_t *c, pid_t tid, uintptr_t sp, bool redzone, exclctx_t *ex)
{
    const fl_thread_info_t *t = registered(tid);
    uintptr_t lo = redzone ? sp - RED_ZONE : sp, hi = 0;
    mapline_t m;
    if (t && sp >= t->stack_lo && sp < t->stack_hi) {
        hi = t->stack_hi;
    } else if (find_mapping(sp, &m)) {
        hi = m.hi;
        add_excl_cb(m.lo, m.hi, ex); /* not to be scanned again as a plain mapping */
        if (t) /* running on another stack (sigaltstack, coroutine): its own stack whole */
            scan_safe(c, t->stack_lo, t->stack_hi, FL_KIND_REACHABLE);
    }
    if (lo < hi)
        scan_safe(c, lo, hi, FL_KIND_REACHABLE);
}

static void classify(ctx_t *cp, fl_world_t *w, const fl_check_t *chk);

void fl_scan_classify(fl_check_t *chk)
{
    size_t n = chk->n;
    fl_scan_stats_t *st = &chk->st;
    ctx_t c = {.b = chk->blocks,
               .n = n,
               .kind = chk->kinds,
               .stack = chk->work,
               .stack2 = chk->work2,
               .st = st,
               .pm = pm_main};
    memset(c.kind, UNSEEN, n);
    st->checked = true;
    if (n == 0)
        return;
    /* Opened for this check only: "self" is resolved at open (a fork child must not read its
     * parent's map through an inherited descriptor), and daemons close descriptors they did not
     * open. */
    prep.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    classify(&c, &chk->world, chk);
    if (prep.pagemap_fd >= 0)
        close(prep.pagemap_fd);
    prep.pagemap_fd = -1;
}

/* When the blocks are dense enough (the common heap: at most 4 pages per block between the lowest
 * and the highest), a directory of pages narrows each lookup to the blocks of one page: a
 * binary search over a million blocks costs ~8 cache misses, this one or two. Built by every
 * worker for its share of the pages. That pass over every block also finds the blocks the
 * dynamic loader allocated (roots): their stacks are set in a bitmap, and each worker lists the
 * blocks it meets with one. */
#define LDSO_CAP 1024
typedef struct pdjob {
    const ctx_t *c;
    const uint8_t *ldso; /* a bit per stack id */
    uint32_t nstacks;
    uint32_t nldso[2];
    bool ldso_overflow;
    uint32_t ldso_idx[2][LDSO_CAP];
} pdjob_t;

static inline bool ldso_stack(const pdjob_t *j, uint32_t stack)
{
    return stack < j->nstacks && (j->ldso[stack >> 3] >> (stack & 7) & 1);
}

/* The same, asking the depot when there is no bitmap (it could not be allocated). */
static bool from_ldso(const pdjob_t *j, uint32_t stack)
{
    if (j->ldso)
        return ldso_stack(j, stack);
    const fl_stack_t *s = fl_depot_get(stack);
    return s && (s->flags & FL_STACK_LDSO);
}

static void pagedir_part(void *arg, unsigned w, unsigned nw)
{
    pdjob_t *j = arg;
    const ctx_t *c = j->c;
    for (unsigned i = 0; i < c->ncl; i++) {
        const cluster_t *cl = &c->cl[i];
        if (!cl->pdir)
            continue;
        uint32_t *pdir = (uint32_t *)cl->pdir;
        size_t total = cl->npages + 1, p0 = total * w / nw, p1 = total * (w + 1) / nw;
        size_t k = p0 ? first_from(c, cl->pbase + p0 * 4096) : cl->first;
        size_t kend = p1 > cl->npages ? cl->last : first_from(c, cl->pbase + p1 * 4096);
        for (size_t p = p0; p <= p1; p++) {
            uintptr_t a = p < p1 ? cl->pbase + p * 4096 : UINTPTR_MAX;
            for (; k < kend && fl_snap_addr(&c->b[k]) < a; k++)
                if (FL_UNLIKELY(ldso_stack(j, c->b[k].stack))) {
                    if (j->nldso[w] < LDSO_CAP)
                        j->ldso_idx[w][j->nldso[w]++] = (uint32_t)k;
                    else
                        j->ldso_overflow = true;
                }
            if (p == p1)
                break;
            pdir[p] = (uint32_t)k;
        }
    }
}

/* Splits the blocks into clusters at gaps of CL_GAP or more (the last one takes whatever is left
 * at MAX_CL), and gives each a page directory while the cap entries last. A program with one
 * block served by mmap spans terabytes, from the brk heap to the libraries: one directory over all
 * of it would not fit, and every word that pointed anywhere in between (another allocator's heap,
 * a GC's pages) cost a binary search over every block. */
#define CL_GAP (16u << 20)
static void make_clusters(ctx_t *c, uint32_t *pdir, size_t cap)
{
    c->ncl = 0;
    c->cl[0] = (cluster_t){0}; /* no blocks: find_block finds none */
    for (size_t i = 0; i < c->n;) {
        cluster_t *cl = &c->cl[c->ncl++];
        cl->first = i;
        cl->lo = fl_snap_addr(&c->b[i]);
        uintptr_t end = cl->lo + 1;
        for (; i < c->n; i++) {
            uintptr_t a = fl_snap_addr(&c->b[i]), sz = fl_snap_size(&c->b[i]);
            if (a >= end && a - end >= CL_GAP && c->ncl < MAX_CL)
                break;
            if (a + (sz ? sz : 1) > end)
                end = a + (sz ? sz : 1);
        }
        cl->end = end;
        cl->last = i;
        cl->pdir = NULL;
        cl->pbase = cl->lo & ~(uintptr_t)4095;
        cl->npages = ((end - 1 - cl->pbase) >> 12) + 1;
        if (pdir && cl->npages + 1 <= cap) {
            cl->pdir = pdir;
            pdir += cl->npages + 1;
            cap -= cl->npages + 1;
        }
    }
}

/* Builds the clusters and their page directories, and marks the loader's blocks reachable
 * (pushing them); where a cluster has no directory, or without the bitmap, a plain pass does the
 * latter. */
static void page_directory(ctx_t *c, uint32_t *pdir, size_t cap, const uint8_t *ldso,
                           uint32_t nstacks)
{
    static pdjob_t j; /* 8 KiB of lists: not on the program's stack */
    memset(&j, 0, offsetof(pdjob_t, ldso_idx));
    j.c = c;
    j.ldso = ldso;
    j.nstacks = ldso ? nstacks : 0;
    make_clusters(c, pdir, cap);
    bool all = true;
    for (unsigned i = 0; i < c->ncl; i++)
        all = all && c->cl[i].pdir;
    fl_par_run(pagedir_part, &j);
    if (all && ldso && !j.ldso_overflow) {
        for (unsigned w = 0; w < 2; w++)
            for (uint32_t i = 0; i < j.nldso[w]; i++) {
                uint32_t k = j.ldso_idx[w][i];
                c->kind[k] = FL_KIND_REACHABLE;
                c->stack[c->sp++] = k;
            }
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (c->kind[i] == UNSEEN && from_ldso(&j, c->b[i].stack)) {
            c->kind[i] = FL_KIND_REACHABLE;
            c->stack[c->sp++] = (uint32_t)i;
        }
    }
}

static void classify(ctx_t *cp, fl_world_t *w, const fl_check_t *chk)
{
    ctx_t c = *cp;
    fl_scan_stats_t *st = c.st;
    const fl_snap_t *blocks = c.b;
    uint8_t *kind = c.kind;
    size_t n = c.n;
    c.minaddr = fl_snap_addr(&blocks[0]);
    c.maxend = chk->end + 1; /* a 0-byte block is found by its address */
    page_directory(&c, chk->pagedir, chk->npagedir, chk->ldso, chk->nstacks);
    helper_init(&c);
    prep.nthreads = prep.threads ? fl_threads_list(prep.threads, 8192) : 0;
    find_main_tls();

    exclctx_t ex = {prep.excl, 0};
    if (!ex.r) {
        fl_scan_warn(st, "out of memory for the scan: nothing is reported as leaked");
        memset(kind, FL_KIND_REACHABLE, n);
        return;
    }
    fl_arena_foreach(add_excl_cb, &ex);
    uintptr_t slo, shi;
    fl_shim_range(&slo, &shi);
    add_excl_cb(slo, shi, &ex);
    /* The shim's memory alone, for ranges that are roots in their own right (main's TLS). */
    exclctx_t shim_ex = {prep.excl + MAX_EXCL, ex.n};
    memcpy(shim_ex.r, ex.r, ex.n * sizeof *ex.r);
    sort_ranges(shim_ex.r, shim_ex.n);
    if (main_tls.hi)
        add_excl_cb(main_tls.lo, main_tls.hi, &ex);
    for (size_t i = 0; i < prep.nthreads; i++) /* every known stack: live, dead or orphaned */
        add_excl_cb(prep.threads[i].stack_lo, prep.threads[i].stack_hi, &ex);

    /* 1. Roots. */
    for (size_t i = 0; i < prep.nsegs; i++)
        scan_safe(&c, prep.segs[i].lo, prep.segs[i].hi, FL_KIND_REACHABLE);
    uintptr_t blo, bhi;
    fl_bootstrap_range(&blo, &bhi);
    scan_words(&c, blo, bhi, FL_KIND_REACHABLE);
    if (main_tls.hi && !fl_main_thread_gone && !w->main_dead)
        scan_minus(&c, main_tls.lo, main_tls.hi, &shim_ex, FL_KIND_REACHABLE);
    /* On the shim's own stack (fl_run_on_stack), the thread's live stack starts where it left. */
    uintptr_t here = fl_tl_caller_sp ? fl_tl_caller_sp : (uintptr_t)__builtin_frame_address(0);
    if (prep.have_self) {
        scan_stack(&c, prep.self_tid, prep.self_sp, false, &ex);
        for (int r = 0; r < prep.nself_regs; r++)
            consider(&c, prep.self_regs[r], FL_KIND_REACHABLE);
    } else {
        scan_stack(&c, prep.self_tid, here, false, &ex);
    }
    for (size_t i = 0; i < w->nt; i++) {
        fl_tstate_t *t = &w->t[i];
        if (t->state == FL_TS_NOSIGNAL && !t->have_sp) {
            /* Nothing says where its live frames end: its whole stack (main's is [stack]). */
            const fl_thread_info_t *ti = registered(t->tid);
            if (ti) {
                scan_safe(&c, ti->stack_lo, ti->stack_hi, FL_KIND_REACHABLE);
            } else if (t->tid == getpid()) {
                scan_main_stack(&c, FL_KIND_REACHABLE);
            }
            continue;
        }
        if (t->have_sp)
            scan_stack(&c, t->tid, t->sp, true, &ex);
        if (t->have_regs)
            for (int r = 0; r < FL_NREGS; r++)
                consider(&c, t->regs[r], FL_KIND_REACHABLE);
    }
    sort_ranges(ex.r, ex.n);
    if (fl_opt.scan_mappings && prep.maps) {
        static range_t collected[MAX_COLLECT];
        c.collect = collected;
        c.ncollect = 0;
        const char *cur = prep.maps;
        mapline_t m;
        while (next_map(&cur, &m)) {
            if (!private_anon(&m))
                continue;
            /* Mappings that hold tracked blocks (malloc arenas) are reached through their blocks:
             * their free chunks hold stale pointers. But the kernel merges neighbouring anonymous
             * mappings: a CPython arena next to a large block glibc served with mmap becomes one
             * VMA. When every block in it is such a large block, scan around them. */
            if (has_blocks(&c, m.lo, m.hi))
                scan_around_large(&c, m.lo, m.hi, &ex);
            else
                scan_minus(&c, m.lo, m.hi, &ex, FL_KIND_REACHABLE);
        }
        scan_pieces(&c, FL_KIND_REACHABLE);
    }
    flood(&c, FL_KIND_REACHABLE);

    /* 2. Orphans: what only the copied stacks of vanished threads point to. */
    for (size_t i = 0; i < prep.nthreads; i++)
        if (prep.threads[i].orphan)
            scan_safe(&c, prep.threads[i].stack_lo, prep.threads[i].stack_hi, FL_KIND_ORPHAN);
    if (fl_main_thread_gone) {
        if (main_tls.hi)
            scan_minus(&c, main_tls.lo, main_tls.hi, &shim_ex, FL_KIND_ORPHAN);
        scan_main_stack(&c, FL_KIND_ORPHAN); /* main's stack, left behind */
    }
    flood(&c, FL_KIND_ORPHAN);

    /* 3. The rest leaked. */
    classify_leaks(&c);
}

void fl_scan_warn(fl_scan_stats_t *st, const char *msg)
{
    if (st->nwarnings < sizeof st->warnings / sizeof st->warnings[0])
        st->warnings[st->nwarnings++] = msg;
}
