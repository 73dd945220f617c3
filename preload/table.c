/* table.c — the live-block table: every tracked block's {address, requested size, stack id,
 * generation} in 16 bytes, out of band, in 256 independently locked open-addressed shards (linear
 * probing, looked at four slots at a time; backward-shift deletion), grown inside the arena. No
 * global lock on the malloc path; nothing here is ever O(live blocks) except the exit-time
 * snapshot. */
#include "internal.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>

#define NSHARDS 256
#define INITIAL_CAP 64
#define SIZE_BIG 0xffffffffu /* real size kept in the big-size side table */
#define GEN_MAX 0xffffu

/* word0: address (low 48 bits) | generation << 48; 0 = empty.
 * word1: requested size (low 32 bits) | stack id << 32. */
typedef struct slot { uint64_t w0, w1; } slot_t;

/* A shard also counts its records per 2 MiB region, for the few regions it holds at once (a heap
 * of 2 GiB puts 4 in each), in the cache line of its lock: the exit check's sorted snapshot then
 * knows where each region goes without reading the table twice. A shard that ever held more
 * regions at once is marked and counted by reading it. */
#define SHARD_REGIONS 4
typedef struct shard {
    fl_lock_t lock;
    uint32_t count, mask; /* records; slots - 1 (a multiple of 4, not necessarily of 2) */
    slot_t *slots;
    uint32_t rkey[SHARD_REGIONS]; /* region_key() */
    uint32_t rcount[SHARD_REGIONS];
    bool roverflow;
} __attribute__((aligned(64))) shard_t;

static shard_t shards[NSHARDS];

/* Blocks of 4 GiB and more: so rare that a small locked array is enough. */
#define NBIG 4096 /* 4096 live blocks of >= 4 GiB: 16 TiB */
static struct { uintptr_t addr; uint64_t size; } big[NBIG];
static fl_lock_t big_lock;

/* Fibonacci hashing of the address without its always-zero low bits, whose top 32 bits (which
 * depend on every address bit) are scaled to the capacity: two multiplies, no division, any
 * capacity. Deletion rehashes each record it walks past, so this must be cheap. */
static inline uint32_t slot_home(uint64_t addr, uint32_t cap)
{
    uint64_t h = ((addr >> 4) * 0x9e3779b97f4a7c15ull) >> 32;
    return (uint32_t)((h * cap) >> 32);
}

/* Capacities go 64, 96, 128, 192, 256, 384...: each growth is 1.5x or 4/3x, not 2x, so that the
 * load right after one (0.4 or 0.45) is not far below the most allowed (0.6): ~32 bytes per
 * record on average instead of ~29 at a 3/4 maximum with doubling, for much shorter probes and
 * deletion walks (leaky_server spent 8% less time at 0.6 than at 3/4). */
#define MAX_LOAD_NUM 3
#define MAX_LOAD_DEN 5

static inline uint32_t next_slot(uint32_t i, uint32_t cap)
{
    return i + 1 < cap ? i + 1 : 0;
}

/* The cyclic distance from slot a forward to slot b. */
static inline uint32_t dist(uint32_t a, uint32_t b, uint32_t cap)
{
    return b >= a ? b - a : b + cap - a;
}

/* Probing looks at a group of four slots at once (64 bytes, a cache line when the array is
 * page-aligned, i.e. past 2 KiB): which of them hold addr, which are empty, as bit masks. One
 * test of the masks replaces a loop of compare-and-branch per slot (2.5 probes and a mispredicted
 * exit per remove in leaky_server); the probing order and the table's content are those of plain
 * linear probing. */
#define GROUP 4
static inline unsigned match4(const slot_t *g, uint64_t addr)
{
    unsigned m = 0;
    for (int k = 0; k < GROUP; k++) /* an empty slot never matches: addr is not 0 */
        m |= (unsigned)(((g[k].w0 ^ addr) & ((1ull << 48) - 1)) == 0) << k;
    return m;
}

static inline unsigned empty4(const slot_t *g)
{
    unsigned m = 0;
    for (int k = 0; k < GROUP; k++)
        m |= (unsigned)(g[k].w0 == 0) << k;
    return m;
}

/* The shard comes from the block's 2 MiB region, not from the whole address: allocators give each
 * thread its own arena (glibc: its own 64 MiB heaps), so a thread's blocks fall in shards the other
 * threads rarely touch, and the shard's lock and slots stay in that core's cache. Hashing the full
 * address spread every thread over every shard: each lock then bounced between cores (churn_mt
 * spent a quarter of the table's time on that one xchg). */
#define REGION_SHIFT 21
#define ADDR_MASK ((1ull << 48) - 1)

static inline shard_t *shard_of(uintptr_t addr)
{
    return &shards[((addr >> REGION_SHIFT) * 0x9e3779b97f4a7c15ull) >> 56];
}

/* The 2 MiB region of an address (or of a slot's first word), + 1 so that 0 means none. */
static inline uint32_t region_key(uint64_t addr)
{
    return (uint32_t)((addr & ADDR_MASK) >> REGION_SHIFT) + 1;
}

/* A shard lock that costs nothing while the process has one thread. The exchange of fl_lock is a
 * full barrier: it waits for every store the program made before the hook (to a block that missed
 * in cache, say) to reach the cache, which cost single-threaded churn more than the table probe
 * itself. glibc's __libc_single_threaded turns false before a second thread starts (also for
 * glibc's own helper threads, which bypass our pthread_create) and never back (glibc 2.36), and the
 * only thread cannot be inside this section and creating a thread at once: while it is true no
 * other thread can hold or want a shard. glibc's malloc skips its arena lock the same way. The
 * caller keeps the answer: lock and unlock must agree even if a thread appears in between. The fork
 * prepare step and the exit check still take every lock for real (fl_table_lock_all). */
static inline bool shard_lock(shard_t *s)
{
    if (FL_LIKELY(__libc_single_threaded))
        return false;
    fl_lock(&s->lock);
    return true;
}

static inline void shard_unlock(shard_t *s, bool locked)
{
    if (locked)
        fl_unlock(&s->lock);
}

void fl_table_prefetch(uintptr_t addr)
{
    /* No lock: the slot array may be replaced under us, and a prefetch of a stale or wrong address
     * is harmless (it never faults). The group after the home one too: a probe or a deletion's
     * shift that runs past the home line found it missing (a quarter of cc1's removals waited
     * there). */
    const shard_t *s = shard_of(addr);
    const slot_t *slots = __atomic_load_n(&s->slots, __ATOMIC_RELAXED);
    uint32_t cap = __atomic_load_n(&s->mask, __ATOMIC_RELAXED) + 1;
    if (slots) {
        uint32_t h = slot_home(addr, cap), g = (h | (GROUP - 1)) + 1;
        __builtin_prefetch(&slots[h], 1, 3);
        __builtin_prefetch(&slots[g < cap ? g : 0], 1, 3);
    }
}

static void big_set(uintptr_t addr, uint64_t size)
{
    fl_lock(&big_lock);
    size_t i, freeslot = NBIG;
    for (i = 0; i < NBIG; i++) {
        if (big[i].addr == addr)
            break;
        if (!big[i].addr && freeslot == NBIG)
            freeslot = i;
    }
    if (i == NBIG)
        i = freeslot;
    if (i < NBIG) {
        big[i].addr = addr;
        big[i].size = size;
    }
    fl_unlock(&big_lock);
    static volatile int warned;
    if (i == NBIG && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        fl_log_warn("more than %d live blocks of 4 GiB or more: sizes reported as 4 GiB - 1", NBIG);
}

static uint64_t big_take(uintptr_t addr, bool remove)
{
    uint64_t size = SIZE_BIG;
    fl_lock(&big_lock);
    for (size_t i = 0; i < NBIG; i++)
        if (big[i].addr == addr) {
            size = big[i].size;
            if (remove)
                big[i].addr = 0;
            break;
        }
    fl_unlock(&big_lock);
    return size;
}

static bool grow(shard_t *s)
{
    uint32_t ocap = s->slots ? s->mask + 1 : 0;
    uint32_t ncap = !ocap ? INITIAL_CAP : (ocap & (ocap - 1)) == 0 ? ocap / 2 * 3 : ocap / 3 * 4;
    if (ncap > (1u << 30))
        return false;
    slot_t *ns = fl_arena_alloc((size_t)ncap * sizeof(slot_t));
    if (!ns)
        return false;
    /* Its pages are not there yet: the rehash's first access to each would be a read (mapping
     * the zero page), then a write (a second fault). Made writable at once: one fault, or none. */
    fl_arena_populate(ns, (size_t)ncap * sizeof(slot_t));
    for (uint32_t i = 0; i < ocap; i++) {
        slot_t e = s->slots[i];
        if (!e.w0)
            continue;
        uint32_t j = slot_home(e.w0 & ADDR_MASK, ncap);
        while (ns[j].w0)
            j = next_slot(j, ncap);
        ns[j] = e;
    }
    if (ocap)
        fl_arena_free(s->slots, (size_t)ocap * sizeof(slot_t));
    s->slots = ns;
    s->mask = ncap - 1;
    return true;
}

/* Linear probing from addr's home slot h, a group at a time: the slots of h's group before h are
 * not on the probe sequence. Returns the slot holding addr, or (with *found false) the first
 * empty one, where it would go: in linear probing a record is never past an empty slot. */
static inline uint32_t probe(const shard_t *s, uintptr_t addr, bool *found)
{
    const uint32_t cap = s->mask + 1;
    uint32_t h = slot_home(addr, cap);
    uint32_t g = h & ~(uint32_t)(GROUP - 1);
    unsigned on = 0xfu & (0xfu << (h & (GROUP - 1)));
    for (;;) {
        const slot_t *gp = &s->slots[g];
        unsigned m = match4(gp, addr) & on;
        if (FL_LIKELY(m)) {
            *found = true;
            return g + (uint32_t)__builtin_ctz(m);
        }
        unsigned e = empty4(gp) & on;
        if (e) {
            *found = false;
            return g + (uint32_t)__builtin_ctz(e);
        }
        g = g + GROUP < cap ? g + GROUP : 0;
        on = 0xfu;
    }
}

static inline void region_add(shard_t *s, uintptr_t addr)
{
    uint32_t r = region_key(addr);
    for (int k = 0; k < SHARD_REGIONS; k++)
        if (s->rkey[k] == r) {
            s->rcount[k]++;
            return;
        }
    for (int k = 0; k < SHARD_REGIONS; k++)
        if (s->rcount[k] == 0) {
            s->rkey[k] = r;
            s->rcount[k] = 1;
            return;
        }
    s->roverflow = true;
}

static inline void region_remove(shard_t *s, uintptr_t addr)
{
    uint32_t r = region_key(addr);
    for (int k = 0; k < SHARD_REGIONS; k++)
        if (s->rkey[k] == r && s->rcount[k]) {
            s->rcount[k]--;
            return;
        }
}

static void decode(slot_t e, fl_block_t *out);

bool fl_table_replace(uintptr_t addr, size_t size, uint32_t stack, uint32_t gen, fl_block_t *old)
{
    shard_t *s = shard_of(addr);
    uint64_t w0 = ((uint64_t)addr & ADDR_MASK) | ((uint64_t)(gen < GEN_MAX ? gen : GEN_MAX) << 48);
    uint64_t w1 = (size < SIZE_BIG ? size : SIZE_BIG) | ((uint64_t)stack << 32);
    if (FL_UNLIKELY(size >= SIZE_BIG))
        big_set(addr, size);
    bool locked = shard_lock(s);
    if (FL_UNLIKELY(!s->slots ||
                    (uint64_t)(s->count + 1) * MAX_LOAD_DEN > (uint64_t)(s->mask + 1) * MAX_LOAD_NUM)) {
        if (!grow(s)) {
            shard_unlock(s, locked);
            fl_disable("out of memory for the block table");
            return false;
        }
    }
    bool found;
    uint32_t i = probe(s, addr, &found);
    if (!found) { /* else a free we never saw (freed through a path we do not wrap): replace */
        s->count++;
        region_add(s, addr);
    } else {
        decode(s->slots[i], old);
        if (old->size == SIZE_BIG && size < SIZE_BIG)
            old->size = big_take(addr, true);
    }
    /* w1 first: a signal handler that ends the process here (exit.c, "interrupted") finds the
     * slot empty or whole, never an address with an empty size and stack. */
    s->slots[i].w1 = w1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    s->slots[i].w0 = w0;
    shard_unlock(s, locked);
    return found;
}

void fl_table_insert(uintptr_t addr, size_t size, uint32_t stack, uint32_t gen)
{
    fl_block_t old;
    fl_table_replace(addr, size, stack, gen, &old);
}

static void decode(slot_t e, fl_block_t *out)
{
    out->addr = e.w0 & ADDR_MASK;
    out->gen = (uint32_t)(e.w0 >> 48);
    out->size = (uint32_t)e.w1;
    out->stack = (uint32_t)(e.w1 >> 32);
}

bool fl_table_remove(uintptr_t addr, fl_block_t *out)
{
    shard_t *s = shard_of(addr);
    bool locked = shard_lock(s), found = false;
    uint32_t i = s->slots ? probe(s, addr, &found) : 0;
    if (!found) {
        shard_unlock(s, locked);
        return false;
    }
    slot_t victim = s->slots[i];
    /* Backward-shift deletion keeps every probe chain intact without tombstones. */
    const uint32_t cap = s->mask + 1;
    uint32_t j = i;
    for (;;) {
        j = next_slot(j, cap);
        uint64_t w = s->slots[j].w0;
        if (!w)
            break;
        uint32_t home = slot_home(w & ADDR_MASK, cap);
        /* Move j back to i if its home is not in the cyclic range (i, j]. */
        if (dist(home, j, cap) >= dist(i, j, cap)) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i].w0 = 0;
    s->slots[i].w1 = 0;
    s->count--;
    region_remove(s, addr);
    shard_unlock(s, locked);
    if (out) {
        decode(victim, out);
        if (out->size == SIZE_BIG)
            out->size = big_take(addr, true);
    } else if ((uint32_t)victim.w1 == SIZE_BIG) {
        big_take(addr, true);
    }
    return true;
}

bool fl_table_lookup(uintptr_t addr, fl_block_t *out)
{
    shard_t *s = shard_of(addr);
    bool locked = shard_lock(s), found = false;
    uint32_t i = s->slots ? probe(s, addr, &found) : 0;
    if (found)
        decode(s->slots[i], out);
    shard_unlock(s, locked);
    if (found && out->size == SIZE_BIG)
        out->size = big_take(addr, false);
    return found;
}

size_t fl_table_count(void)
{
    size_t n = 0;
    for (int i = 0; i < NSHARDS; i++)
        n += __atomic_load_n(&shards[i].count, __ATOMIC_RELAXED);
    return n;
}

/* The snapshot's entries are the slots themselves; the sizes of 4 GiB and more are copied aside
 * with it (the caller holds big_lock too), for fl_snap_size. */
static struct bigent { uintptr_t addr; uint64_t size; } snap_big[NBIG];
static size_t nsnap_big;

static void snap_big_copy(void)
{
    nsnap_big = 0;
    for (size_t b = 0; b < NBIG; b++)
        if (big[b].addr)
            snap_big[nsnap_big++] = (struct bigent){big[b].addr, big[b].size};
}

uint64_t fl_table_snap_big_size(uintptr_t addr)
{
    for (size_t b = 0; b < nsnap_big; b++)
        if (snap_big[b].addr == addr)
            return snap_big[b].size;
    return SIZE_BIG;
}

static inline fl_snap_t snap_of(slot_t e)
{
    return (fl_snap_t){e.w0, (uint32_t)e.w1, (uint32_t)(e.w1 >> 32)};
}

static void sift(fl_snap_t *b, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && fl_snap_addr(&b[c + 1]) > fl_snap_addr(&b[c]))
            c++;
        if (fl_snap_addr(&b[i]) >= fl_snap_addr(&b[c]))
            return;
        fl_snap_t t = b[i];
        b[i] = b[c];
        b[c] = t;
        i = c;
    }
}

/* Without scratch memory: the records as the shards hold them, heap-sorted in place (slow, but
 * needs nothing). */
static size_t snapshot_in_place(fl_snap_t *out, size_t cap, uintptr_t *end)
{
    *end = 0;
    size_t n = 0;
    for (int k = 0; k < NSHARDS; k++) {
        shard_t *s = &shards[k];
        for (uint32_t i = 0; s->slots && i <= s->mask && n < cap; i++)
            if (s->slots[i].w0) {
                out[n] = snap_of(s->slots[i]);
                uintptr_t e = fl_snap_addr(&out[n]) + fl_snap_size(&out[n]);
                if (e > *end)
                    *end = e;
                n++;
            }
    }
    for (size_t i = n / 2; i-- > 0;)
        sift(out, i, n);
    for (size_t i = n; i-- > 1;) {
        fl_snap_t t = out[0];
        out[0] = out[i];
        out[i] = t;
        sift(out, 0, i);
    }
    return n;
}

/* ---- the sorted snapshot ----------------------------------------------------------------------
 * The exit check wants the records in address order. A shard holds whole 2 MiB regions, so the
 * records are bucketed by region (the shards' counts per region give each region's place in the
 * output — a shard that held too many regions is counted by reading it — and one pass scatters
 * the records there), and each region (at most 128 Ki records, usually a few thousand:
 * cache-resident) is radix-sorted on its 21 low address bits. One read of the table and one write
 * of the output, instead of a sort of the whole output afterwards (which streams it through
 * memory three times over). The scratch memory is plain mmap, not the arena: the world
 * may be stopped and a stopped thread may hold the arena's lock. It is unmapped before returning,
 * so the scan never finds its copies of block addresses. */

typedef struct rent {
    uint64_t key;    /* region + 1; 0: empty */
    uint64_t count;  /* records in the region; then the next free index in the output */
} rent_t;

static void *scratch_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static inline rent_t *region_slot(rent_t *map, uint64_t mask, unsigned shift, uint64_t key)
{
    uint64_t i = (key * 0x9e3779b97f4a7c15ull) >> shift;
    while (map[i].key && map[i].key != key)
        i = (i + 1) & mask;
    return &map[i];
}

/* LSD radix sort of b (n records, all in one region) on address bits 0..20, through tmp. */
static void sort_region(fl_snap_t *b, size_t n, fl_snap_t *tmp)
{
    if (n < 48) {
        for (size_t i = 1; i < n; i++) {
            fl_snap_t t = b[i];
            size_t j = i;
            for (; j > 0 && fl_snap_addr(&b[j - 1]) > fl_snap_addr(&t); j--)
                b[j] = b[j - 1];
            b[j] = t;
        }
        return;
    }
    static const unsigned shifts[2] = {0, 11}, widths[2] = {11, 10};
    fl_snap_t *src = b, *dst = tmp; /* bits 0..20: below the generation's */
    for (int pass = 0; pass < 2; pass++) {
        size_t count[1u << 11];
        unsigned sh = shifts[pass], m = (1u << widths[pass]) - 1;
        memset(count, 0, sizeof(size_t) << widths[pass]);
        for (size_t i = 0; i < n; i++)
            count[(src[i].w0 >> sh) & m]++;
        if (count[(src[0].w0 >> sh) & m] == n)
            continue; /* one digit for all: nothing to move */
        size_t sum = 0;
        for (unsigned d = 0; d <= m; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i].w0 >> sh) & m]++] = src[i];
        fl_snap_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != b)
        memcpy(b, src, n * sizeof *b);
}

/* LSD radix sort of region keys (27 bits) through tmp. */
static void sort_keys(uint64_t *k, size_t n, uint64_t *tmp)
{
    uint64_t *src = k, *dst = tmp;
    for (unsigned sh = 0; sh < 28; sh += 7) {
        size_t count[128] = {0};
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> sh) & 127]++;
        size_t sum = 0;
        for (unsigned d = 0; d < 128; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> sh) & 127]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != k)
        memcpy(k, src, n * sizeof *k);
}

/* The passes over the table are split between the check's workers by shard (a region's records
 * are all in one shard, so each worker has regions of its own and a region map of its own). */
typedef struct snapjob {
    int pass;
    unsigned bits;
    uint64_t mask;
    rent_t *map[2];
    uint64_t *keys[2]; /* each worker's regions, as met */
    size_t nk[2];
    const uint64_t *sorted; /* every region, in address order */
    size_t nsorted;
    fl_snap_t *out, *tmp[2];
    uintptr_t end[2]; /* the highest block end each worker met */
} snapjob_t;

static unsigned owner_of_shard(int k, unsigned nworkers)
{
    return (unsigned)k % nworkers;
}

static unsigned owner_of_key(uint64_t key, unsigned nworkers)
{
    uintptr_t addr = (uintptr_t)(key - 1) << REGION_SHIFT;
    return owner_of_shard((int)(shard_of(addr) - shards), nworkers);
}

static void snap_pass(void *arg, unsigned w, unsigned nw)
{
    snapjob_t *j = arg;
    rent_t *map = j->map[w];
    unsigned shift = 64 - j->bits;
    if (j->pass == 2) { /* 4. each region in order; its end is where the next one starts */
        for (size_t i = w; i < j->nsorted; i += nw) {
            size_t lo = i ? region_slot(j->map[owner_of_key(j->sorted[i - 1], nw)], j->mask, shift,
                                        j->sorted[i - 1])->count
                          : 0;
            size_t hi = region_slot(j->map[owner_of_key(j->sorted[i], nw)], j->mask, shift,
                                    j->sorted[i])->count;
            sort_region(j->out + lo, hi - lo, j->tmp[w]);
        }
        return;
    }
    for (int k = 0; k < NSHARDS; k++) {
        if (owner_of_shard(k, nw) != w)
            continue;
        const shard_t *sh = &shards[k];
        uint64_t last_key = 0;
        rent_t *r = NULL;
        if (j->pass == 0 && !sh->roverflow) { /* 1. records per region: the shard knows them */
            for (int q = 0; q < SHARD_REGIONS; q++) {
                if (!sh->rcount[q])
                    continue;
                uint64_t key = sh->rkey[q];
                r = region_slot(map, j->mask, shift, key);
                if (!r->key) {
                    r->key = key;
                    j->keys[w][j->nk[w]++] = key;
                }
                r->count += sh->rcount[q];
            }
            continue;
        }
        for (uint32_t i = 0; sh->slots && i <= sh->mask; i++) {
            /* In a fork child the table's page-table entries are old too (see scan.c's
             * scan_block): asking for the slots two pages ahead overlaps those walks. */
            if ((i & 255) == 0)
                __builtin_prefetch(
                    (const void *)((uintptr_t)sh->slots + (i + 512u) * sizeof(slot_t)), 0, 0);
            uint64_t wd = sh->slots[i].w0;
            if (!wd)
                continue;
            uint64_t key = region_key(wd);
            if (key != last_key) { /* a shard holds a region or two, mostly */
                r = region_slot(map, j->mask, shift, key);
                last_key = key;
            }
            if (j->pass == 0) { /* 1. records per region; the regions as they are met */
                if (!r->key) {
                    r->key = key;
                    j->keys[w][j->nk[w]++] = key;
                }
                r->count++;
            } else { /* 3. each record to its region's place */
                fl_snap_t *o = &j->out[r->count++];
                *o = snap_of(sh->slots[i]);
                uintptr_t e = fl_snap_addr(o) + fl_snap_size(o);
                if (e > j->end[w])
                    j->end[w] = e;
            }
        }
    }
}

size_t fl_table_snapshot(fl_snap_t *out, size_t cap, uintptr_t *end)
{
    snap_big_copy();
    *end = 0;
    size_t total = 0;
    for (int k = 0; k < NSHARDS; k++)
        total += shards[k].count;
    if (total == 0)
        return 0;
    if (total > cap)
        return snapshot_in_place(out, cap, end);
    unsigned nw = fl_par_workers() > 1 ? 2 : 1;
    snapjob_t j;
    memset(&j, 0, sizeof j);
    j.bits = 4;
    while ((1ull << j.bits) < 2 * (uint64_t)total + 16)
        j.bits++;
    j.mask = (1ull << j.bits) - 1;
    j.out = out;
    /* The maps are sized for the worst case (a region per record) but sparse: only the pages
     * their regions hash to are ever touched. */
    size_t map_size = sizeof(rent_t) << j.bits;
    size_t keys_size = (nw + 1) * (total + 1) * sizeof(uint64_t);
    uint64_t *keys = scratch_map(keys_size);
    bool ok = keys != NULL;
    for (unsigned w = 0; w < nw; w++) {
        j.map[w] = ok ? scratch_map(map_size) : NULL;
        ok = ok && j.map[w];
        j.keys[w] = keys ? keys + w * (total + 1) : NULL;
    }
    size_t biggest = 0, at = 0, tmp_size = 0;
    if (ok) {
        fl_par_run(snap_pass, &j);
        /* 2. Regions in address order, each one's place in the output. */
        uint64_t *all = keys, *sort_tmp = keys + nw * (total + 1);
        size_t nk = j.nk[0];
        if (nw > 1) {
            memmove(all + nk, j.keys[1], j.nk[1] * sizeof *all);
            nk += j.nk[1];
        }
        sort_keys(all, nk, sort_tmp);
        for (size_t i = 0; i < nk; i++) {
            rent_t *r = region_slot(j.map[owner_of_key(all[i], nw)], j.mask, 64 - j.bits, all[i]);
            size_t c = r->count;
            if (c > biggest)
                biggest = c;
            r->count = at;
            at += c;
        }
        j.sorted = all;
        j.nsorted = nk;
        tmp_size = biggest * sizeof(fl_snap_t);
        for (unsigned w = 0; w < nw; w++) {
            j.tmp[w] = ok ? scratch_map(tmp_size) : NULL;
            ok = ok && j.tmp[w];
        }
    }
    if (ok) {
        j.pass = 1;
        fl_par_run(snap_pass, &j);
        j.pass = 2;
        fl_par_run(snap_pass, &j);
    }
    for (unsigned w = 0; w < nw; w++) {
        if (j.tmp[w])
            munmap(j.tmp[w], tmp_size);
        if (j.map[w])
            munmap(j.map[w], map_size);
    }
    if (keys)
        munmap(keys, keys_size);
    if (!ok)
        return snapshot_in_place(out, cap, end);
    *end = j.end[0] > j.end[1] ? j.end[0] : j.end[1];
    return total;
}

/* The records as the slots hold them, whatever the counts say: a change may have been cut short
 * by a signal handler that ends the process (exit.c). A removal stopped half way through its
 * backward shift leaves a record twice; it is kept once (the other copy, which no pointer is
 * looked up for, would be reported leaked). One thread, sorted by a heapsort. */
size_t fl_table_snapshot_plain(fl_snap_t *out, size_t cap, uintptr_t *end)
{
    snap_big_copy();
    size_t n = snapshot_in_place(out, cap, end), k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || fl_snap_addr(&out[i]) != fl_snap_addr(&out[k - 1]))
            out[k++] = out[i];
    return k;
}

void fl_table_lock_all(void)
{
    for (int i = 0; i < NSHARDS; i++)
        fl_lock_force(&shards[i].lock);
    fl_lock_force(&big_lock);
}

void fl_table_unlock_all(void)
{
    fl_unlock_force(&big_lock);
    for (int i = 0; i < NSHARDS; i++)
        fl_unlock_force(&shards[i].lock);
}

size_t fl_table_metadata_bytes(void)
{
    size_t n = sizeof shards + sizeof big;
    for (int i = 0; i < NSHARDS; i++)
        if (shards[i].slots)
            n += (size_t)(shards[i].mask + 1) * sizeof(slot_t);
    return n;
}
