/* stacks.c — allocation stacks: captured with libunwind's unw_backtrace (DWARF, so code built
 * without frame pointers unwinds too), interned once in a stack depot (uthash, in the arena) and
 * named by a u32 id. A per-thread cache of recent stack hashes keeps the depot's locks off the
 * common path. Never symbolizes: that is the tool's job. */
#define UNW_LOCAL_ONLY
#include "internal.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <string.h>

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

typedef struct tcache_ent { uint64_t hash; uint32_t id; uint32_t n; } tcache_ent_t;
#define TCACHE 256
static FL_TLS tcache_ent_t tcache[TCACHE];

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

static inline uint64_t hash_frames(const uintptr_t *f, int n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= f[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h ? h : 1;
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

static uint32_t intern(const uintptr_t *frames, int n, uint64_t h)
{
    typeof(dshards[0]) *sh = &dshards[h & (NDSHARDS - 1)];
    dentry_t *e;
    size_t keylen = (size_t)n * sizeof(uintptr_t);
    fl_lock(&sh->lock);
    HASH_FIND_BYHASHVALUE(hh, sh->head, frames, keylen, (unsigned)h, e);
    if (e) {
        fl_unlock(&sh->lock);
        return e->s.id;
    }
    e = fl_arena_alloc(sizeof(dentry_t) + keylen);
    if (!e) {
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
        fl_unlock(&sh->lock);
        fl_arena_free(e, sizeof(dentry_t) + keylen);
        return 0;
    }
    e->s.id = id;
    __atomic_store_n(slot, &e->s, __ATOMIC_RELEASE);
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, sh->head, e->s.frames, keylen, (unsigned)h, e);
    fl_unlock(&sh->lock);
    return id;
}

/* noinline keeps this frame (and the hook's) inside the shim's text, where they are dropped. */
__attribute__((noinline)) uint32_t fl_stack_capture(void)
{
    void *raw[FL_MAX_DEPTH + 16];
    int depth = fl_opt.depth ? fl_opt.depth : 30;
    int n = fl_unwind(raw, depth + 16); /* = unw_backtrace(raw, depth + 16), faster */
    int k = 0;
    while (k < n && fl_shim_text_contains((uintptr_t)raw[k]))
        k++;
    int m = n - k;
    if (m > depth)
        m = depth;
    if (m < 0)
        m = 0;
    uintptr_t frames[FL_MAX_DEPTH];
    /* Return addresses point after the call; minus one names the call site (libunwind#287). */
    for (int i = 0; i < m; i++)
        frames[i] = (uintptr_t)raw[k + i] - 1;
    uint64_t h = hash_frames(frames, m);
    tcache_ent_t *c = &tcache[(h >> 7) & (TCACHE - 1)];
    if (c->hash == h && c->n == (uint32_t)m)
        return c->id;
    uint32_t id = intern(frames, m, h);
    if (id) {
        c->hash = h;
        c->n = (uint32_t)m;
        c->id = id;
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
}

void fl_depot_unlock_all(void)
{
    for (int i = 0; i < NDSHARDS; i++)
        fl_unlock_force(&dshards[i].lock);
}
