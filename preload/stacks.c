/* stacks.c — allocation stacks: the frames libunwind's unw_backtrace gives (DWARF, so code built
 * without frame pointers unwinds too; unwind.c walks them faster, from the hook's caller), interned
 * once in a stack depot (uthash, in the arena) and named by a u32 id. On the common path no lock
 * is taken: an allocation site remembered by unwind.c, else a per-thread cache of stack hashes,
 * else a lock-free index of the depot gives the id. Never symbolizes: that is the tool's job. */
#define UNW_LOCAL_ONLY
#include "internal.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <string.h>
#include <sys/single_threaded.h>

#define uthash_malloc(sz) fl_arena_alloc(sz)
#define uthash_free(ptr, sz) fl_arena_free((ptr), (sz))
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) fl_disable("out of memory for the stack depot")
#include <uthash.h>

typedef struct dentry {
    UT_hash_handle hh;
    fl_stack_t s; /* ends in the frames: allocated with room for s.n of them */
} dentry_t;

#define NDSHARDS 16
static struct {
    fl_lock_t lock;
    dentry_t *head;
} __attribute__((aligned(64))) dshards[NDSHARDS];

#define CHUNK_BITS 12
#define NCHUNKS (1u << 16)
static fl_stack_t **id_chunks[NCHUNKS];
static uint32_t next_id = 1; /* 0 means "no stack" */

/* The per-thread cache of stack hash -> id, in the arena (not in static TLS, which glibc takes
 * from each thread's stack; see unwind.c's thread state). Made with the thread's unwind state,
 * freed with it. gcc's cc1 asks it ~800 k times for ~9 k distinct stacks: 256 entries answer
 * 12 %, 4096 entries 64 %, but a 64 KiB cache misses the CPU's caches itself, and its gain over
 * the depot's index (0.3 % of cc1's samples) did not pay for 64 KiB per thread. */
typedef struct tcache_ent { uint64_t hash; uint32_t id; uint32_t n; } tcache_ent_t;
#define TCACHE 256
static FL_TLS tcache_ent_t *tl_tcache;
static FL_TLS bool tl_tcache_done;
/* The thread's private stack for libunwind (see slow_backtrace below), from fl_stack_map. */
#define ALT_STACK (64u << 10)
static FL_TLS char *tl_alt;

static uintptr_t shim_lo, shim_hi, shim_text_lo, shim_text_hi, ldso_lo, ldso_hi;

static int find_ranges(struct dl_phdr_info *info, size_t size, void *ctx)
{
    (void)size;
    uintptr_t self = (uintptr_t)ctx, lo = UINTPTR_MAX, hi = 0, tlo = UINTPTR_MAX, thi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
        if (a < lo)
            lo = a;
        if (b > hi)
            hi = b;
        if ((ph->p_flags & PF_X) && a < tlo)
            tlo = a;
        if ((ph->p_flags & PF_X) && b > thi)
            thi = b;
    }
    if (self >= lo && self < hi) {
        shim_lo = lo;
        shim_hi = hi;
        shim_text_lo = tlo;
        shim_text_hi = thi;
    }
    const char *name = info->dlpi_name;
    if (name && strstr(name, "/ld-linux")) {
        ldso_lo = tlo;
        ldso_hi = thi;
    }
    return 0;
}

void fl_stacks_init(void)
{
    dl_iterate_phdr(find_ranges, (void *)(uintptr_t)&fl_stacks_init);
    /* Unwind once now, under the guard: libunwind creates its per-thread cache key on first use.
     * Created this early it gets a low index; created at the program's first malloc it could
     * land at 32 or above, and its pthread_setspecific would then calloc glibc's second-level key
     * array inside the shim (untracked, unscanned) — the array where the program's own keys
     * >= 32 keep their values. */
    void *warm[4];
    unw_backtrace(warm, 4);
}

bool fl_shim_text_contains(uintptr_t ip)
{
    return ip >= shim_text_lo && ip < shim_text_hi;
}

void fl_shim_range(uintptr_t *lo, uintptr_t *hi)
{
    *lo = shim_lo;
    *hi = shim_hi;
}

/* The stack's hash, over the raw return addresses, in four independent lanes: the multiplies of
 * consecutive frames overlap instead of forming one chain of n dependent multiplies (a 20-frame
 * stack: ~30 cycles of latency instead of ~100). Frames are absorbed from the outermost in, the
 * lane of a frame chosen by its distance from the outermost one, so that the hash state of a
 * stack's outer part can be kept and extended inwards: unwind.c keeps it with its previous walk,
 * and a capture that replays that walk only absorbs its new inner frames (fl_stack_capture_at).
 * The lanes are taken relative to the innermost frame, combined, and the sum avalanched. */
static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* Absorbs f[n-1] .. f[0] into the lanes (l[0]: the lane of the frame absorbed last). */
static inline void absorb(uint64_t l[4], void *const *f, int n)
{
    uint64_t a = l[0], b = l[1], c = l[2], d = l[3];
    for (int i = n - 1; i >= 0; i--) {
        uint64_t x = fl_hash_round(d, (uintptr_t)f[i]);
        d = c;
        c = b;
        b = a;
        a = x;
    }
    l[0] = a;
    l[1] = b;
    l[2] = c;
    l[3] = d;
}

static inline uint64_t hash_final(const uint64_t l[4], int n)
{
    uint64_t h = rotl(l[0], 1) + rotl(l[1], 7) + rotl(l[2], 12) + rotl(l[3], 18) + (uint64_t)n;
    h ^= h >> 33;
    h *= 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
    h *= 0x165667b19e3779f9ull;
    h ^= h >> 32;
    return h ? h : 1;
}

static inline uint64_t hash_frames(void *const *f, int n)
{
    uint64_t l[4] = FL_HASH_INIT;
    absorb(l, f, n);
    return hash_final(l, n);
}

static fl_stack_t **id_slot(uint32_t id, bool create)
{
    uint32_t c = id >> CHUNK_BITS;
    if (c >= NCHUNKS)
        return NULL;
    fl_stack_t **chunk = __atomic_load_n(&id_chunks[c], __ATOMIC_ACQUIRE);
    if (!chunk) {
        if (!create)
            return NULL;
        fl_stack_t **fresh = fl_arena_alloc(sizeof(fl_stack_t *) << CHUNK_BITS);
        if (!fresh)
            return NULL;
        fl_stack_t **expected = NULL;
        if (__atomic_compare_exchange_n(&id_chunks[c], &expected, fresh, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            chunk = fresh;
        else {
            fl_arena_free(fresh, sizeof(fl_stack_t *) << CHUNK_BITS);
            chunk = expected;
        }
    }
    return &chunk[id & ((1u << CHUNK_BITS) - 1)];
}


/* ---- the depot's index: stack hash -> id, read without locks ----------------------------------
 * A program with thousands of live allocation sites (gcc's cc1: ~9500) overflows any per-thread
 * cache, and the uthash lookup behind it walks a chain of entries and compares ~30 frames. This
 * open-addressed table of {hash, depth, id} answers such a miss in one or two probes. Like the
 * per-thread cache, it trusts the 64-bit hash and the depth (a collision between two stacks of a
 * run is ~2^-40 likely even with a million stacks); the frames are compared only when a stack is
 * interned. Keys are insert-only and published (release) after their value, as in unwind.c's rule
 * table; growing publishes a new table and leaves the old one mapped for readers still in it. */
typedef struct idx_ent { uint64_t hash; uint32_t n, id; } idx_ent_t;
typedef struct idx_table {
    uint64_t mask;
    uint32_t shift, used;
    idx_ent_t e[];
} idx_table_t;
#define IDX_MIN_BITS 10
#define IDX_MAX_BITS 24 /* 16 M entries, 256 MiB: past that, lookups fall back to the depot */
#define IDX_MAX_PROBE 64
static idx_table_t *idx;
static fl_lock_t idx_lock;

static uint32_t idx_lookup(uint64_t h, int n)
{
    const idx_table_t *t = __atomic_load_n(&idx, __ATOMIC_ACQUIRE);
    if (!t)
        return 0;
    uint64_t i = h >> t->shift;
    for (int p = 0; p < IDX_MAX_PROBE; p++, i = (i + 1) & t->mask) {
        uint64_t k = __atomic_load_n(&t->e[i].hash, __ATOMIC_ACQUIRE);
        if (k == h && t->e[i].n == (uint32_t)n)
            return t->e[i].id;
        if (k == 0)
            return 0;
    }
    return 0;
}

static idx_table_t *idx_new(uint32_t bits)
{
    idx_table_t *t = fl_arena_map(sizeof(idx_table_t) + (sizeof(idx_ent_t) << bits));
    if (t) {
        t->mask = (1ull << bits) - 1;
        t->shift = 64 - bits;
    }
    return t;
}

/* Puts e into t (not yet published, or under idx_lock); false if its probe is too long. */
static bool idx_put(idx_table_t *t, idx_ent_t e)
{
    uint64_t i = e.hash >> t->shift;
    for (int p = 0; p < IDX_MAX_PROBE; p++, i = (i + 1) & t->mask) {
        if (t->e[i].hash == e.hash && t->e[i].n == e.n)
            return true; /* a colliding stack keeps the first id */
        if (t->e[i].hash == 0) {
            t->e[i].n = e.n;
            t->e[i].id = e.id;
            __atomic_store_n(&t->e[i].hash, e.hash, __ATOMIC_RELEASE);
            t->used++;
            return true;
        }
    }
    return false;
}

/* Called with the depot shard's lock held (the order: shard, then idx_lock). */
static void idx_add(uint64_t h, int n, uint32_t id)
{
    idx_ent_t e = {h, (uint32_t)n, id};
    bool locked = !__libc_single_threaded;
    if (locked)
        fl_lock(&idx_lock);
    idx_table_t *t = idx;
    if (!t || (uint64_t)(t->used + 1) * 2 > t->mask + 1 || !idx_put(t, e)) {
        uint32_t bits = t ? 64 - t->shift + 1 : IDX_MIN_BITS;
        idx_table_t *g = bits <= IDX_MAX_BITS ? idx_new(bits) : NULL;
        if (g) {
            for (uint64_t i = 0; t && i <= t->mask; i++)
                if (t->e[i].hash)
                    idx_put(g, t->e[i]);
            idx_put(g, e);
            __atomic_store_n(&idx, g, __ATOMIC_RELEASE);
        }
    }
    if (locked)
        fl_unlock(&idx_lock);
}

static uint32_t intern(const uintptr_t *frames, int n, uint64_t h)
{
    /* The shard from the top bits: uthash picks its bucket from the low bits of (unsigned)h, and a
     * shard chosen by those too left 15 of every 16 buckets empty (chains 16 times as long). */
    typeof(dshards[0]) *sh = &dshards[h >> 60];
    dentry_t *e;
    size_t keylen = (size_t)n * sizeof(uintptr_t);
    /* One thread: no other can hold or want the shard (see table.c's shard_lock). */
    bool locked = !__libc_single_threaded;
    if (locked)
        fl_lock(&sh->lock);
    HASH_FIND_BYHASHVALUE(hh, sh->head, frames, keylen, (unsigned)h, e);
    if (e) {
        if (locked)
            fl_unlock(&sh->lock);
        return e->s.id;
    }
    e = fl_arena_alloc(sizeof(dentry_t) + keylen);
    if (!e) {
        if (locked)
            fl_unlock(&sh->lock);
        fl_disable("out of memory for the stack depot");
        return 0;
    }
    e->s.n = (uint16_t)n;
    e->s.hash = h;
    memcpy(e->s.frames, frames, keylen);
    if (n > 0 && frames[0] >= ldso_lo && frames[0] < ldso_hi)
        e->s.flags |= FL_STACK_LDSO;
    uint32_t id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    fl_stack_t **slot = id_slot(id, true);
    if (!slot) {
        if (locked)
            fl_unlock(&sh->lock);
        fl_arena_free(e, sizeof(dentry_t) + keylen);
        return 0;
    }
    e->s.id = id;
    __atomic_store_n(slot, &e->s, __ATOMIC_RELEASE);
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, sh->head, e->s.frames, keylen, (unsigned)h, e);
    idx_add(h, n, id);
    if (locked)
        fl_unlock(&sh->lock);
    return id;
}

/* Makes this thread's cache and unwind state on its first capture (with the hook's guard set, so
 * a signal handler's malloc cannot come back in here). */
static void thread_init(void)
{
    if (!tl_tcache && !tl_tcache_done) {
        tl_tcache = fl_arena_alloc(sizeof(tcache_ent_t) * TCACHE);
        tl_tcache_done = !tl_tcache;
    }
    fl_unwind_thread_init();
}

void fl_stacks_thread_exit(void)
{
    char *alt = tl_alt;
    tl_alt = NULL;
    if (alt)
        fl_stack_unmap(alt, ALT_STACK);
    tcache_ent_t *c = tl_tcache;
    tl_tcache_done = true;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    tl_tcache = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    fl_arena_free(c, sizeof(tcache_ent_t) * TCACHE);
    fl_unwind_thread_exit();
}

static inline void tcache_put(uint64_t h, int m, uint32_t id)
{
    tcache_ent_t *t = tl_tcache;
    if (t) {
        tcache_ent_t *c = &t[(h >> 7) & (TCACHE - 1)];
        c->hash = h;
        c->n = (uint32_t)m;
        c->id = id;
    }
}

/* The per-thread cache, then the depot's index; 0 if the stack is new (or the index full). */
static inline uint32_t tcache_lookup(uint64_t h, int m)
{
    const tcache_ent_t *t = tl_tcache;
    if (FL_LIKELY(t)) {
        const tcache_ent_t *c = &t[(h >> 7) & (TCACHE - 1)];
        if (FL_LIKELY(c->hash == h && c->n == (uint32_t)m))
            return c->id;
    }
    uint32_t id = idx_lookup(h, m);
    if (id)
        tcache_put(h, m, id);
    return id;
}

/* From the frames an unwind returned (raw[0..n), the innermost first): drops the leading frames in
 * the shim's text, keeps the innermost `depth`, and returns the depot id. The common case touches
 * only the walk's output and one line of the per-thread cache: the hash is taken over the raw
 * return addresses, and the call sites (minus one) are made only for the depot when it misses. */
static inline uint32_t stack_id(void *const *raw, int n, int depth)
{
    int k = 0;
    while (k < n && fl_shim_text_contains((uintptr_t)raw[k]))
        k++;
    int m = n - k;
    if (m > depth)
        m = depth;
    if (m < 0)
        m = 0;
    uint64_t h = hash_frames(raw + k, m);
    uint32_t hit = tcache_lookup(h, m);
    if (FL_LIKELY(hit))
        return hit;
    uintptr_t frames[FL_MAX_DEPTH];
    /* Return addresses point after the call; minus one names the call site (libunwind#287). */
    for (int i = 0; i < m; i++)
        frames[i] = (uintptr_t)raw[k + i] - 1;
    uint32_t id = intern(frames, m, h);
    if (id)
        tcache_put(h, m, id);
    return id;
}

static inline int capture_depth(void)
{
    return fl_opt.depth ? fl_opt.depth : 30;
}

/* ---- libunwind, on a stack of the shim's own -----------------------------------------------
 * The walker hands libunwind the frames it cannot follow: signal frames, stacks made with
 * makecontext. unw_backtrace needs several KiB of stack more than the walker (its cursor and
 * context are 2 KiB, then its DWARF parsing), and a signal handler that allocates on an 8 KiB
 * sigaltstack (SIGSTKSZ) overflowed it. So unw_backtrace runs on a private 64 KiB stack
 * (fl_call_on_stack: libunwind unwinds back across it and gives the same frames, plus two of the
 * shim's, which stack_id drops), made on the thread's first such capture and unmapped at its
 * exit. A hook runs with the thread's guard set, so nothing nests on it. */
typedef struct slow { void **raw; int max, n; } slow_t;

static void *slow_backtrace(void *p)
{
    slow_t *s = p;
    s->n = unw_backtrace(s->raw, s->max);
    return NULL;
}

static char *alt_stack(void)
{
    if (!tl_alt)
        tl_alt = fl_stack_map(ALT_STACK);
    return tl_alt ? tl_alt + FL_GUARD + ALT_STACK : NULL;
}

/* noinline keeps this frame (and the hook's) inside the shim's text, where they are dropped. */
__attribute__((noinline)) uint32_t fl_stack_capture(void)
{
    void *raw[FL_MAX_DEPTH + 16];
    int depth = capture_depth();
    slow_t s = {raw, depth + 16, 0};
    char *top = alt_stack();
    if (top)
        fl_call_on_stack(slow_backtrace, &s, top);
    else
        slow_backtrace(&s);
    return stack_id(raw, s.n, depth);
}

/* Walking from the hook's caller gives the frames unw_backtrace gives from inside the hook minus the
 * shim's own (the hook's and this function's), which stack_id drops anyway: two frames fewer to
 * walk. When the walk replays the thread's previous one, the replayed frames are not even copied:
 * their hash state comes with the record, and the per-thread cache usually knows the stack. Only
 * when it does not are the frames needed: the walk is then made again, in full (same frames). Where
 * the walker needs libunwind, the capture is made the ordinary way, from here. */
static uint32_t capture_walk(uintptr_t ra_slot, uintptr_t rbp);

uint32_t fl_stack_capture_at(uintptr_t ra_slot, uintptr_t rbp)
{
    if (FL_UNLIKELY(!tl_tcache))
        thread_init();
    uint32_t id = fl_unwind_site_get(ra_slot, rbp);
    if (FL_LIKELY(id))
        return id;
    id = capture_walk(ra_slot, rbp);
    fl_unwind_site_put(ra_slot, rbp, id);
    return id;
}

static uint32_t capture_walk(uintptr_t ra_slot, uintptr_t rbp)
{
    void *raw[FL_MAX_DEPTH + 16];
    int depth = capture_depth();
    fl_unwind_lazy_t lz = {.limit = depth, .walked = -1};
    int n = fl_unwind_walk(raw, depth + 16, ra_slot, rbp, &lz);
    if (FL_UNLIKELY(n < 0))
        return fl_stack_capture();
    if (lz.walked < 0)
        return stack_id(raw, n, depth);
    /* n frames in all, at most depth: nothing is cut. The leading frames in the shim's text are
     * among the walked ones (the walk starts in the hook's caller, normally not the shim). */
    int k = 0;
    while (k < lz.walked && fl_shim_text_contains((uintptr_t)raw[k]))
        k++;
    uint64_t h = 0;
    if (FL_LIKELY(k < lz.walked)) {
        absorb(lz.lane, raw + k, lz.walked - k);
        h = hash_final(lz.lane, n - k);
        uint32_t id = tcache_lookup(h, n - k);
        if (FL_LIKELY(id))
            return id;
    }
    n = fl_unwind_walk(raw, depth + 16, ra_slot, rbp, NULL);
    if (FL_UNLIKELY(n < 0))
        return fl_stack_capture();
    uint32_t id = stack_id(raw, n, depth);
    /* The two ways of hashing the same frames must agree, or the cache would never hit. */
    if (h) {
        k = 0;
        while (k < n && fl_shim_text_contains((uintptr_t)raw[k]))
            k++;
        static volatile int warned;
        if (h != hash_frames(raw + k, n - k) && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
            fl_log_warn("internal: the replayed stack hash differs from the full one");
    }
    return id;
}

const fl_stack_t *fl_depot_get(uint32_t id)
{
    fl_stack_t **slot = id_slot(id, false);
    return slot ? __atomic_load_n(slot, __ATOMIC_ACQUIRE) : NULL;
}

uint32_t fl_depot_count(void)
{
    return __atomic_load_n(&next_id, __ATOMIC_RELAXED);
}

void fl_depot_lock_all(void)
{
    for (int i = 0; i < NDSHARDS; i++)
        fl_lock_force(&dshards[i].lock);
    fl_lock_force(&idx_lock);
}

void fl_depot_unlock_all(void)
{
    fl_unlock_force(&idx_lock);
    for (int i = 0; i < NDSHARDS; i++)
        fl_unlock_force(&dshards[i].lock);
}
