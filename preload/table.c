/* table.c — the live-block table: every tracked block's {address, requested size, stack id,
 * generation} in 16 bytes, out of band, in 256 independently locked open-addressed shards (linear
 * probing, backward-shift deletion), grown inside the arena. No global lock on the malloc path;
 * nothing here is ever O(live blocks) except the exit-time snapshot. */
#include "internal.h"

#include <string.h>

#define NSHARDS 256
#define INITIAL_CAP 64
#define SIZE_BIG 0xffffffffu /* real size kept in the big-size side table */
#define GEN_MAX 0xffffu

/* word0: address (low 48 bits) | generation << 48; 0 = empty.
 * word1: requested size (low 32 bits) | stack id << 32. */
typedef struct slot { uint64_t w0, w1; } slot_t;

typedef struct shard {
    fl_lock_t lock;
    uint32_t count, mask;
    slot_t *slots;
} __attribute__((aligned(64))) shard_t;

static shard_t shards[NSHARDS];

/* Blocks of 4 GiB and more: so rare that a small locked array is enough. */
#define NBIG 4096 /* 4096 live blocks of >= 4 GiB: 16 TiB */
static struct { uintptr_t addr; uint64_t size; } big[NBIG];
static fl_lock_t big_lock;

/* Fibonacci hashing of the address without its always-zero low bits: one multiply, and the high
 * bits (which pick the slot) depend on every address bit. Deletion rehashes each element it walks
 * past, so this must be cheap. */
static inline uint64_t mix(uint64_t x)
{
    return (x >> 4) * 0x9e3779b97f4a7c15ull;
}

/* The shard comes from the block's 2 MiB region, not from the whole address: allocators give each
 * thread its own arena (glibc: its own 64 MiB heaps), so a thread's blocks fall in shards the other
 * threads rarely touch, and the shard's lock and slots stay in that core's cache. Hashing the full
 * address spread every thread over every shard: each lock then bounced between cores (churn_mt
 * spent a quarter of the table's time on that one xchg). */
static inline shard_t *shard_of(uintptr_t addr)
{
    return &shards[((addr >> 21) * 0x9e3779b97f4a7c15ull) >> 56];
}

#define ADDR_MASK ((1ull << 48) - 1)

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
    uint32_t ncap = s->slots ? (s->mask + 1) * 2 : INITIAL_CAP;
    slot_t *ns = fl_arena_alloc((size_t)ncap * sizeof(slot_t));
    if (!ns)
        return false;
    if (s->slots) {
        uint32_t ocap = s->mask + 1;
        for (uint32_t i = 0; i < ocap; i++) {
            slot_t e = s->slots[i];
            if (!e.w0)
                continue;
            uint32_t j = (uint32_t)(mix(e.w0 & ADDR_MASK) >> 24) & (ncap - 1);
            while (ns[j].w0)
                j = (j + 1) & (ncap - 1);
            ns[j] = e;
        }
        fl_arena_free(s->slots, (size_t)ocap * sizeof(slot_t));
    }
    s->slots = ns;
    s->mask = ncap - 1;
    return true;
}

void fl_table_insert(uintptr_t addr, size_t size, uint32_t stack, uint32_t gen)
{
    uint64_t h = mix(addr);
    shard_t *s = shard_of(addr);
    uint64_t w0 = ((uint64_t)addr & ADDR_MASK) | ((uint64_t)(gen < GEN_MAX ? gen : GEN_MAX) << 48);
    uint64_t w1 = (size < SIZE_BIG ? size : SIZE_BIG) | ((uint64_t)stack << 32);
    if (FL_UNLIKELY(size >= SIZE_BIG))
        big_set(addr, size);
    fl_lock(&s->lock);
    if (FL_UNLIKELY(!s->slots || (s->count + 1) * 4 > (s->mask + 1) * 3)) {
        if (!grow(s)) {
            fl_unlock(&s->lock);
            fl_disable("out of memory for the block table");
            return;
        }
    }
    uint32_t i = (uint32_t)(h >> 24) & s->mask;
    for (;;) {
        uint64_t cur = s->slots[i].w0;
        if (!cur) {
            s->count++;
            break;
        }
        if ((cur & ADDR_MASK) == addr)
            break; /* a free we never saw (freed through a path we do not wrap): replace */
        i = (i + 1) & s->mask;
    }
    s->slots[i].w0 = w0;
    s->slots[i].w1 = w1;
    fl_unlock(&s->lock);
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
    uint64_t h = mix(addr);
    shard_t *s = shard_of(addr);
    fl_lock(&s->lock);
    if (!s->slots) {
        fl_unlock(&s->lock);
        return false;
    }
    uint32_t i = (uint32_t)(h >> 24) & s->mask;
    for (;;) {
        uint64_t cur = s->slots[i].w0;
        if (!cur) {
            fl_unlock(&s->lock);
            return false;
        }
        if ((cur & ADDR_MASK) == addr)
            break;
        i = (i + 1) & s->mask;
    }
    slot_t victim = s->slots[i];
    /* Backward-shift deletion keeps every probe chain intact without tombstones. */
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & s->mask;
        uint64_t w = s->slots[j].w0;
        if (!w)
            break;
        uint32_t home = (uint32_t)(mix(w & ADDR_MASK) >> 24) & s->mask;
        /* Move j back to i if its home is not in the cyclic range (i, j]. */
        if (((j - home) & s->mask) >= ((j - i) & s->mask)) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i].w0 = 0;
    s->slots[i].w1 = 0;
    s->count--;
    fl_unlock(&s->lock);
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
    uint64_t h = mix(addr);
    shard_t *s = shard_of(addr);
    bool found = false;
    fl_lock(&s->lock);
    if (s->slots) {
        for (uint32_t i = (uint32_t)(h >> 24) & s->mask;; i = (i + 1) & s->mask) {
            uint64_t cur = s->slots[i].w0;
            if (!cur)
                break;
            if ((cur & ADDR_MASK) == addr) {
                decode(s->slots[i], out);
                found = true;
                break;
            }
        }
    }
    fl_unlock(&s->lock);
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

size_t fl_table_snapshot(fl_block_t *out, size_t cap)
{
    size_t n = 0;
    for (int k = 0; k < NSHARDS; k++) {
        shard_t *s = &shards[k];
        if (!s->slots)
            continue;
        for (uint32_t i = 0; i <= s->mask && n < cap; i++) {
            if (!s->slots[i].w0)
                continue;
            decode(s->slots[i], &out[n]);
            if (out[n].size == SIZE_BIG) /* the caller holds big_lock too */
                for (size_t b = 0; b < NBIG; b++)
                    if (big[b].addr == out[n].addr)
                        out[n].size = big[b].size;
            n++;
        }
    }
    return n;
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
