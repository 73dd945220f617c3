/* test_table.c — the live-block table (preload/table.c, included here for white-box checks of its
 * shards): insert/remove/lookup, replacement, growth, backward-shift deletion against a reference
 * model over 100k random operations (with the linear-probing invariant checked on every shard),
 * clusters that wrap around the end of a shard, sizes of 4 GiB and more, generations, the sorted
 * snapshot (on one worker and on two: preload/par.c) and the shards' counts per region behind it,
 * and threads inserting and removing at once. */
// LINK: preload/arena.c preload/threads.c preload/log.c preload/par.c preload/options.c
#include "../../preload/table.c"

#include <pthread.h>

#include "task.h"

/* xorshift64*: reproducible randomness (the seed is printed on failure through task_ctx). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static void clear_table(void)
{
    for (int i = 0; i < NSHARDS; i++) {
        shard_t *s = &shards[i];
        if (s->slots)
            fl_arena_free(s->slots, (size_t)(s->mask + 1) * sizeof(slot_t));
        s->slots = NULL;
        s->count = 0;
        memset(s->rkey, 0, sizeof s->rkey);
        memset(s->rcount, 0, sizeof s->rcount);
        s->roverflow = false;
        s->mask = 0;
    }
    memset(big, 0, sizeof big);
}

/* Every entry of every shard can be found by a lookup (so no empty slot breaks its probe chain:
 * what backward-shift deletion must preserve), with its own record, and each shard's count
 * matches its occupied slots. Uses only the table's public lookup, not its hash. */
static void check_invariants(void)
{
    for (int k = 0; k < NSHARDS; k++) {
        shard_t *s = &shards[k];
        if (!s->slots) {
            ASSERT_EQ(s->count, 0);
            continue;
        }
        uint32_t used = 0;
        for (uint32_t i = 0; i <= s->mask; i++) {
            slot_t e = s->slots[i];
            if (!e.w0)
                continue;
            used++;
            fl_block_t want, got;
            decode(e, &want);
            ASSERT_CTX("shard %d slot %u: address %#lx", k, i, (unsigned long)want.addr);
            ASSERT_TRUE(fl_table_lookup(want.addr, &got));
            ASSERT_EQ(got.stack, want.stack);
            ASSERT_EQ(got.gen, want.gen);
        }
        ASSERT_EQ(used, s->count);
        if (s->roverflow)
            continue;
        /* Its counts per region are exact: each listed region's records, and no others. */
        uint32_t listed = 0;
        for (int q = 0; q < SHARD_REGIONS; q++) {
            if (!s->rcount[q])
                continue;
            uint32_t have = 0;
            for (uint32_t i = 0; i <= s->mask; i++)
                if (s->slots[i].w0 && ((s->slots[i].w0 & ADDR_MASK) >> 21) + 1 == s->rkey[q])
                    have++;
            ASSERT_CTX("shard %d region %u", k, s->rkey[q]);
            ASSERT_EQ(have, s->rcount[q]);
            listed += have;
        }
        ASSERT_EQ(listed, s->count);
    }
}

static void test_basic(void)
{
    clear_table();
    fl_block_t b;
    ASSERT_EQ(fl_table_count(), 0);
    ASSERT_FALSE(fl_table_lookup(0x1000, &b));
    ASSERT_FALSE(fl_table_remove(0x1000, &b));
    fl_table_insert(0x1000, 33, 7, 0);
    fl_table_insert(0x2010, 0, 8, 3);
    fl_table_insert(0x7ffffffff000, 4096, 0xfffffff0u, 65534);
    ASSERT_EQ(fl_table_count(), 3);
    ASSERT_TRUE(fl_table_lookup(0x1000, &b));
    ASSERT_U64_EQ(b.addr, 0x1000);
    ASSERT_EQ(b.size, 33);
    ASSERT_EQ(b.stack, 7);
    ASSERT_EQ(b.gen, 0);
    ASSERT_TRUE(fl_table_lookup(0x2010, &b));
    ASSERT_EQ(b.size, 0); /* malloc(0) is a block */
    ASSERT_EQ(b.gen, 3);
    ASSERT_TRUE(fl_table_lookup(0x7ffffffff000, &b));
    ASSERT_EQ(b.stack, 0xfffffff0u);
    ASSERT_EQ(b.gen, 65534);
    ASSERT_FALSE(fl_table_lookup(0x1008, &b)); /* exact addresses only */
    memset(&b, 0, sizeof b);
    ASSERT_TRUE(fl_table_remove(0x2010, &b));
    ASSERT_U64_EQ(b.addr, 0x2010);
    ASSERT_EQ(b.stack, 8);
    ASSERT_FALSE(fl_table_remove(0x2010, NULL));
    ASSERT_FALSE(fl_table_lookup(0x2010, &b));
    ASSERT_EQ(fl_table_count(), 2);
    ASSERT_TRUE(fl_table_remove(0x1000, NULL));
    ASSERT_TRUE(fl_table_remove(0x7ffffffff000, NULL));
    ASSERT_EQ(fl_table_count(), 0);
    check_invariants();
}

/* Inserting an address that is already there (a free the shim never saw) replaces the record. */
static void test_replace(void)
{
    clear_table();
    fl_block_t b;
    fl_table_insert(0x5000, 10, 1, 0);
    fl_table_insert(0x5000, 20, 2, 1);
    ASSERT_EQ(fl_table_count(), 1);
    ASSERT_TRUE(fl_table_lookup(0x5000, &b));
    ASSERT_EQ(b.size, 20);
    ASSERT_EQ(b.stack, 2);
    ASSERT_EQ(b.gen, 1);
    check_invariants();
}

static void test_growth(void)
{
    clear_table();
    const size_t n = 200000;
    size_t before = fl_table_metadata_bytes();
    for (size_t i = 0; i < n; i++)
        fl_table_insert(0x10000000 + i * 16, i % 5000, (uint32_t)i, (uint32_t)(i % 7));
    ASSERT_EQ(fl_table_count(), n);
    ASSERT_GE(fl_table_metadata_bytes(), before + n * sizeof(slot_t));
    check_invariants();
    fl_block_t b;
    for (size_t i = 0; i < n; i++) {
        ASSERT_TRUE(fl_table_lookup(0x10000000 + i * 16, &b));
        ASSERT_EQ(b.size, i % 5000);
        ASSERT_EQ(b.stack, i);
    }
    /* Load factor stays at most 3/4 in every shard. */
    for (int k = 0; k < NSHARDS; k++)
        ASSERT_LE((uint64_t)shards[k].count * 4, (uint64_t)(shards[k].mask + 1) * 3);
    for (size_t i = 0; i < n; i += 2)
        ASSERT_TRUE(fl_table_remove(0x10000000 + i * 16, NULL));
    ASSERT_EQ(fl_table_count(), n / 2);
    check_invariants();
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(fl_table_lookup(0x10000000 + i * 16, &b), i % 2 == 1);
}

/* Where an address lands when the table is empty: its shard and home slot at the initial
 * capacity, found by looking (so the test does not depend on the table's hash function). */
static void home_of(uintptr_t a, int *shard, uint32_t *slot)
{
    fl_table_insert(a, 1, 0, 0);
    for (int k = 0; k < NSHARDS; k++)
        for (uint32_t i = 0; shards[k].slots && i <= shards[k].mask; i++)
            if ((shards[k].slots[i].w0 & ADDR_MASK) == a) {
                *shard = k;
                *slot = i;
                ASSERT_TRUE(fl_table_remove(a, NULL));
                return;
            }
    ASSERT_TRUE(!"inserted address not found in any shard");
}

/* WANT addresses that share one shard (the first one met) and have home slot HOME. */
static void find_home(uint32_t home, uintptr_t *out, size_t want, uintptr_t *cursor, int *shard)
{
    size_t got = 0;
    while (got < want) {
        uintptr_t a = (*cursor += 16);
        int k;
        uint32_t slot;
        home_of(a, &k, &slot);
        if (slot == home && (*shard < 0 || k == *shard)) {
            *shard = k;
            out[got++] = a;
        }
    }
}

/* A cluster in one shard that wraps around its end: homes 61, 62, 63 and 0, removed in every
 * order from each position; the rest must stay findable and the probing invariant must hold. */
static void test_wraparound_cluster(void)
{
    uintptr_t cursor = 0x20000000, a[10];
    int shard = -1;
    clear_table();
    find_home(61, a, 2, &cursor, &shard);
    find_home(62, a + 2, 3, &cursor, &shard);
    find_home(63, a + 5, 2, &cursor, &shard);
    find_home(0, a + 7, 3, &cursor, &shard);
    for (int victim = 0; victim < 10; victim++) {
        for (int order = 0; order < 2; order++) {
            clear_table();
            for (int i = 0; i < 10; i++) {
                int k = order ? 9 - i : i;
                fl_table_insert(a[k], (size_t)k + 1, (uint32_t)k, 0);
            }
            ASSERT_EQ(shards[shard].mask, INITIAL_CAP - 1); /* no growth: the cluster wraps */
            ASSERT_EQ(shards[shard].count, 10);
            check_invariants();
            ASSERT_CTX("victim %d order %d", victim, order);
            ASSERT_TRUE(fl_table_remove(a[victim], NULL));
            check_invariants();
            fl_block_t b;
            for (int i = 0; i < 10; i++) {
                ASSERT_EQ(fl_table_lookup(a[i], &b), i != victim);
                if (i != victim)
                    ASSERT_EQ(b.size, i + 1);
            }
            /* Then remove the rest one by one, checking after each. */
            for (int i = 0; i < 10; i++) {
                if (i == victim)
                    continue;
                ASSERT_TRUE(fl_table_remove(a[i], &b));
                ASSERT_EQ(b.size, i + 1);
                check_invariants();
            }
            ASSERT_EQ(fl_table_count(), 0);
        }
    }
}

/* The reference model: a direct-indexed array over a universe of addresses. */
#define UNIVERSE 40000
typedef struct model { bool live; uint64_t size; uint32_t stack, gen; } model_t;
static model_t model[UNIVERSE];
static uintptr_t uaddr[UNIVERSE];

static int cmp_snap(const void *x, const void *y)
{
    uintptr_t a = fl_snap_addr(x), b = fl_snap_addr(y);
    return a < b ? -1 : a > b;
}

static fl_snap_t snap[UNIVERSE + 16];

/* The snapshot, on one worker or on two, or read slot by slot (fl_table_snapshot_plain, for a
 * check that a signal cut into); it must be in address order on its own. */
static bool plain;

static size_t take_snapshot(bool two)
{
    static char *stack;
    if (!stack)
        stack = mmap(NULL, FL_PAR_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fl_opt.check_threads = 2;
    fl_table_lock_all();
    if (two)
        ASSERT_EQ(fl_par_begin(stack, FL_PAR_STACK, 1, 0), 2);
    uintptr_t end, want_end = 0;
    size_t n = plain ? fl_table_snapshot_plain(snap, UNIVERSE + 16, &end)
                     : fl_table_snapshot(snap, UNIVERSE + 16, &end);
    fl_par_end();
    fl_table_unlock_all();
    for (size_t i = 0; i < n; i++) {
        ASSERT_TRUE(i == 0 || fl_snap_addr(&snap[i - 1]) < fl_snap_addr(&snap[i]));
        if (fl_snap_addr(&snap[i]) + fl_snap_size(&snap[i]) > want_end)
            want_end = fl_snap_addr(&snap[i]) + fl_snap_size(&snap[i]);
    }
    ASSERT_U64_EQ(end, want_end);
    return n;
}

static void compare_snapshot_on(size_t nlive, bool two)
{
    size_t n = take_snapshot(two);
    ASSERT_EQ(n, nlive);
    size_t j = 0;
    for (size_t i = 0; i < UNIVERSE; i++) {
        if (!model[i].live)
            continue;
        ASSERT_U64_EQ(fl_snap_addr(&snap[j]), uaddr[i]);
        ASSERT_U64_EQ(fl_snap_size(&snap[j]), model[i].size);
        ASSERT_EQ(snap[j].stack, model[i].stack);
        ASSERT_EQ(fl_snap_gen(&snap[j]), model[i].gen);
        j++;
    }
}

static void compare_snapshot(size_t nlive)
{
    compare_snapshot_on(nlive, false);
    compare_snapshot_on(nlive, true);
    plain = true;
    compare_snapshot_on(nlive, false);
    plain = false;
}

static int cmp_uptr(const void *x, const void *y)
{
    uintptr_t a = *(const uintptr_t *)x, b = *(const uintptr_t *)y;
    return a < b ? -1 : a > b;
}

static void test_random_vs_model(void)
{
    clear_table();
    memset(model, 0, sizeof model);
    /* Dense runs (like a heap) and scattered 48-bit addresses (like mmap'ed blocks). */
    for (size_t i = 0; i < UNIVERSE; i++)
        uaddr[i] = i < UNIVERSE / 2 ? 0x555555560000 + i * 32
                                    : (rnd() & 0x7ffffffffff0ull) | 0x10;
    qsort(uaddr, UNIVERSE, sizeof uaddr[0], cmp_uptr);
    for (size_t i = 1; i < UNIVERSE; i++)
        if (uaddr[i] == uaddr[i - 1])
            uaddr[i] = uaddr[i - 1] + 16; /* keep them distinct (order no longer matters) */
    size_t nlive = 0, nbig = 0;
    for (int op = 0; op < 100000; op++) {
        size_t i = rnd() % UNIVERSE;
        unsigned what = (unsigned)(rnd() % 10);
        ASSERT_CTX("op %d: %u on %#lx", op, what, (unsigned long)uaddr[i]);
        fl_block_t b;
        if (what < 5) { /* insert (or replace) */
            uint64_t size = rnd() % 100000;
            if (rnd() % 1000 == 0 && nbig < 100)
                size = (4ull << 30) + rnd() % (1ull << 40); /* >= 4 GiB */
            uint32_t stack = (uint32_t)rnd(), gen = (uint32_t)(rnd() % 65535);
            if (model[i].live && model[i].size >= 0xffffffffull)
                nbig--; /* replaced */
            if (size >= 0xffffffffull)
                nbig++;
            fl_table_insert(uaddr[i], size, stack, gen);
            if (!model[i].live)
                nlive++;
            model[i] = (model_t){true, size, stack, gen};
        } else if (what < 8) { /* remove */
            bool had = fl_table_remove(uaddr[i], &b);
            ASSERT_EQ(had, model[i].live);
            if (had) {
                ASSERT_U64_EQ(b.addr, uaddr[i]);
                ASSERT_U64_EQ(b.size, model[i].size);
                ASSERT_EQ(b.stack, model[i].stack);
                ASSERT_EQ(b.gen, model[i].gen);
                if (model[i].size >= 0xffffffffull)
                    nbig--;
                model[i].live = false;
                nlive--;
            }
        } else { /* lookup */
            bool has = fl_table_lookup(uaddr[i], &b);
            ASSERT_EQ(has, model[i].live);
            if (has) {
                ASSERT_U64_EQ(b.size, model[i].size);
                ASSERT_EQ(b.stack, model[i].stack);
                ASSERT_EQ(b.gen, model[i].gen);
            }
        }
        ASSERT_EQ(fl_table_count(), nlive);
        if (op % 5000 == 0) {
            check_invariants();
            compare_snapshot(nlive);
        }
    }
    check_invariants();
    compare_snapshot(nlive);
}

/* Sizes that do not fit the slot's 32 bits are kept exactly (a side table), including the
 * boundary values. */
static void test_big_sizes(void)
{
    clear_table();
    static const uint64_t sizes[] = {0xfffffffeull, 0xffffffffull, 0x100000000ull,
                                     5ull << 30, 1ull << 40, (1ull << 47) - 1};
    const size_t n = sizeof sizes / sizeof sizes[0];
    fl_block_t b;
    for (size_t i = 0; i < n; i++)
        fl_table_insert(0x7f0000000000 + i * 0x100000, sizes[i], (uint32_t)i, 1);
    for (size_t i = 0; i < n; i++) {
        ASSERT_TRUE(fl_table_lookup(0x7f0000000000 + i * 0x100000, &b));
        ASSERT_U64_EQ(b.size, sizes[i]);
    }
    fl_snap_t big_snap[16];
    fl_table_lock_all();
    uintptr_t end;
    size_t got = fl_table_snapshot(big_snap, 16, &end);
    ASSERT_U64_EQ(end, 0x7f0000000000 + (n - 1) * 0x100000 + sizes[n - 1]);
    fl_table_unlock_all();
    ASSERT_EQ(got, n);
    qsort(big_snap, got, sizeof big_snap[0], cmp_snap);
    for (size_t i = 0; i < n; i++)
        ASSERT_U64_EQ(fl_snap_size(&big_snap[i]), sizes[i]);
    for (size_t i = 0; i < n; i++) {
        ASSERT_TRUE(fl_table_remove(0x7f0000000000 + i * 0x100000, &b));
        ASSERT_U64_EQ(b.size, sizes[i]);
    }
    /* A big block freed, then a small one at the same address: the small size. */
    fl_table_insert(0x7f0000000000, 6ull << 30, 1, 0);
    ASSERT_TRUE(fl_table_remove(0x7f0000000000, NULL));
    fl_table_insert(0x7f0000000000, 64, 2, 0);
    ASSERT_TRUE(fl_table_lookup(0x7f0000000000, &b));
    ASSERT_EQ(b.size, 64);
    ASSERT_TRUE(fl_table_remove(0x7f0000000000, NULL));
    /* Replaced in place by a small block (a free the shim did not see): the small size. */
    fl_table_insert(0x7f0000100000, 6ull << 30, 1, 0);
    fl_table_insert(0x7f0000100000, 64, 2, 0);
    ASSERT_TRUE(fl_table_remove(0x7f0000100000, &b));
    ASSERT_EQ(b.size, 64);
    ASSERT_EQ(fl_table_count(), 0);
}

/* Many blocks of 4 GiB and more alive at once (1.2 TiB of address space is possible with
 * overcommit): each keeps its exact size. */
static void test_many_big_sizes(void)
{
    clear_table();
    fl_block_t b;
    for (uint64_t i = 0; i < 300; i++)
        fl_table_insert(0x100000000000 + i * (8ull << 30), (4ull << 30) + i, 1, 0);
    for (uint64_t i = 0; i < 300; i++) {
        ASSERT_CTX("big block %lu", (unsigned long)i);
        ASSERT_TRUE(fl_table_lookup(0x100000000000 + i * (8ull << 30), &b));
        ASSERT_U64_EQ(b.size, (4ull << 30) + i);
    }
    clear_table();
}

/* Generations up to 65534 are exact; higher ones saturate at 65535 (documented in table.c). */
static void test_generations(void)
{
    clear_table();
    fl_block_t b;
    fl_table_insert(0x9000, 1, 1, 65534);
    fl_table_insert(0x9010, 1, 1, 1u << 20);
    ASSERT_TRUE(fl_table_lookup(0x9000, &b));
    ASSERT_EQ(b.gen, 65534);
    ASSERT_TRUE(fl_table_lookup(0x9010, &b));
    ASSERT_EQ(b.gen, 65535);
    clear_table();
}

#define NTHREADS 4
#define PER_THREAD 50000
static void *hammer(void *arg)
{
    uintptr_t base = 0x300000000000 + (uintptr_t)arg * 0x10000000;
    for (int round = 0; round < 3; round++) {
        for (uintptr_t i = 0; i < PER_THREAD; i++)
            fl_table_insert(base + i * 16, i, (uint32_t)round, 0);
        for (uintptr_t i = 0; i < PER_THREAD; i += 3)
            if (!fl_table_remove(base + i * 16, NULL))
                abort();
    }
    return NULL;
}

static void test_threads(void)
{
    clear_table();
    pthread_t t[NTHREADS];
    for (intptr_t i = 0; i < NTHREADS; i++)
        ASSERT_EQ(pthread_create(&t[i], NULL, hammer, (void *)i), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    ASSERT_EQ(fl_table_count(), NTHREADS * (PER_THREAD - (PER_THREAD + 2) / 3));
    check_invariants();
    fl_block_t b;
    for (uintptr_t k = 0; k < NTHREADS; k++)
        for (uintptr_t i = 0; i < PER_THREAD; i++) {
            bool has = fl_table_lookup(0x300000000000 + k * 0x10000000 + i * 16, &b);
            ASSERT_EQ(has, i % 3 != 0);
            if (has)
                ASSERT_EQ(b.stack, 2);
        }
    clear_table();
}

/* A heap-like table: 40 000 blocks over 12 regions of 2 MiB. No shard holds more than a few, so
 * each knows its counts per region (checked by check_invariants) and the snapshot reads the
 * table once. Regions emptied and filled again reuse their entries; a shard given more regions
 * than it can list falls back to counting, and the snapshot is still exact. */
static void test_region_counts(void)
{
    clear_table();
    memset(model, 0, sizeof model);
    for (size_t i = 0; i < UNIVERSE; i++)
        uaddr[i] = 0x555555400000ull + i * 624; /* 24 MiB in all */
    size_t nlive = 0;
    for (size_t i = 0; i < UNIVERSE; i++) {
        model[i] = (model_t){true, 100 + i % 500, (uint32_t)i % 7, 0};
        fl_table_insert(uaddr[i], model[i].size, model[i].stack, 0);
        nlive++;
    }
    int overflowed = 0;
    for (int k = 0; k < NSHARDS; k++)
        overflowed += shards[k].roverflow;
    ASSERT_EQ(overflowed, 0);
    check_invariants();
    compare_snapshot(nlive);
    /* Empty the first 4 MiB, then fill them again. */
    for (size_t i = 0; i < UNIVERSE && uaddr[i] < 0x555555800000ull; i++) {
        ASSERT_TRUE(fl_table_remove(uaddr[i], NULL));
        model[i].live = false;
        nlive--;
    }
    check_invariants();
    compare_snapshot(nlive);
    for (size_t i = 0; i < UNIVERSE && uaddr[i] < 0x555555800000ull; i++) {
        fl_table_insert(uaddr[i], model[i].size, model[i].stack, 0);
        model[i].live = true;
        nlive++;
    }
    check_invariants();
    compare_snapshot(nlive);
    /* One shard given more regions than it lists: addresses 2 MiB apart that hash to it. */
    shard_t *target = shard_of(0x600000000000ull);
    size_t added = 0;
    for (uintptr_t a = 0x600000000000ull; added < SHARD_REGIONS + 2; a += 1u << 21)
        if (shard_of(a) == target) {
            fl_table_insert(a, 64, 9, 0);
            added++;
        }
    ASSERT_TRUE(target->roverflow);
    ASSERT_EQ(take_snapshot(false), nlive + added);
    ASSERT_EQ(take_snapshot(true), nlive + added);
    check_invariants();
}

int main(void)
{
    RUN_TEST(test_basic);
    RUN_TEST(test_replace);
    RUN_TEST(test_growth);
    RUN_TEST(test_wraparound_cluster);
    RUN_TEST(test_random_vs_model);
    RUN_TEST(test_region_counts);
    RUN_TEST(test_big_sizes);
    RUN_TEST(test_generations);
    RUN_TEST(test_threads);
    RUN_TEST(test_many_big_sizes);
    return 0;
}
