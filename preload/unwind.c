/* unwind.c — stack capture that returns, frame for frame, what libunwind's unw_backtrace() returns
 * at the same point, several times faster. Rules per return address come from cfi.c and are kept
 * in a lock-free table; each thread also replays the unchanged outer part of its previous walk,
 * and remembers whole walks by the state they start from (allocation sites).
 * Frames the rules cannot express are left to unw_backtrace itself. Runs inside malloc: never
 * allocates from the heap, never blocks, never reads outside the calling thread's stack mapping.
 *
 * What unw_backtrace does (libunwind 1.6, src/mi/backtrace.c and src/x86_64/Gtrace.c): from its
 * own frame it records each return address, applying per frame the rule tdep_stash_frame gave:
 * STANDARD (cfa = RSP or RBP + off; rip = *(cfa - 8); RBP = *(cfa + rbp_off) if saved; RSP = cfa)
 * or ALIGNED (cfa = *(RBP + off); rip = *(cfa - 8); RBP = *RBP; RSP = cfa). It stops after a LAST
 * frame, at a return address below 0x4000, or at max. Any other frame makes it start over with an
 * unw_step loop. fl_unwind does the same walk from its caller's frame; at a frame whose rule is
 * FL_RULE_LIBUNWIND it hands the whole capture to unw_backtrace.
 *
 * The entry point is a few lines of assembly: it gives the C walker the caller's return-address
 * slot and RBP and, when the walker gives up, tail-jumps to unw_backtrace with the caller's own
 * stack pointer and registers, so libunwind sees exactly the call it would have seen. */
#define UNW_LOCAL_ONLY
#include "internal.h"

#include <emmintrin.h>
#include <fcntl.h>
#include <libunwind.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A cached rule in one 64-bit word. Bit 63 is always set, so no entry looks like a heap pointer
 * to the exit-time scan. bits 60..62 kind, 59 CFA from RSP (else RBP), 58 RBP restored from the
 * stack, 48..57 flush epoch, 32..47 RBP offset from the CFA (s16; libunwind requires |off| <
 * 2^14), 0..31 CFA offset (s32; libunwind requires |off| < 2^28). */
#define V_MARK (1ull << 63)
#define V_RSP (1ull << 59)
#define V_RBP (1ull << 58)
#define V_EPOCH_SHIFT 48
#define V_EPOCH_MASK 0x3ffull
#define V_KIND(v) ((unsigned)((v) >> 60) & 7u)

/* ---- the rule table: open addressing, insert-only keys, values replaced whole ----------------
 * Readers take no lock: a key is stored (release) after its value, and a key never changes once
 * set, so a reader that sees the key sees a complete value. Values are single 8-byte words that a
 * flush may overwrite in place. Writers serialise with a try-lock: a thread that finds it taken
 * (another thread inserting, or the interrupted code of its own thread when a signal handler
 * allocates) simply does not cache this time. Growing publishes a new table; old tables stay
 * mapped because a reader may still be in one (the total is less than the final table's size). */
typedef struct uw_ent {
    uint64_t key, val;
} uw_ent_t;
typedef struct uw_table {
    uint64_t mask;
    uint32_t shift, used;
    uw_ent_t e[];
} uw_table_t;

#ifdef FL_UNWIND_TABLE_MIN_BITS /* the unit test starts tiny to exercise growth */
#define TABLE_MIN_BITS FL_UNWIND_TABLE_MIN_BITS
#else
#define TABLE_MIN_BITS 10 /* 1024 rules, 16 KiB */
#endif
#define TABLE_MAX_BITS 20 /* 1 M rules, 16 MiB: past that, new addresses are derived every time */
#define MAX_PROBE 32

static uw_table_t *uw_table;
static int uw_lock;
static uint32_t uw_epoch; /* bumped by fl_unwind_flush (dlclose may reuse code addresses) */

/* ---- per-thread state ---- */
/* The readable range around this thread's stack pointer, packed in one word so that a signal
 * handler running fl_unwind on the same thread never sees half of an update: bit 63 set, bits
 * 28..62 the top page number, 0..27 the size in pages. 0: unknown. */
static __thread uint64_t tl_stack __attribute__((tls_model("initial-exec")));
static __thread int tl_learns __attribute__((tls_model("initial-exec")));
static __thread fl_unwind_stats_t tl_stats __attribute__((tls_model("initial-exec")));
#define MAX_LEARNS 64 /* /proc/self/maps reads per thread, then unknown stacks go to libunwind */

/* fl_unwind_walk (internal.h) is the C half of fl_unwind (see the assembly below). It returns the
 * number of frames, or -1 when unw_backtrace must produce the result. */

static inline uint64_t hash_ip(uint64_t ip, uint32_t shift)
{
    return (ip * 0x9e3779b97f4a7c15ull) >> shift;
}

static inline uint64_t table_get(const uw_table_t *t, uint64_t ip)
{
    const uint64_t mask = t->mask;
    uint64_t i = hash_ip(ip, t->shift);
    for (int n = 0; n < MAX_PROBE; n++) {
        uint64_t k = __atomic_load_n(&t->e[i].key, __ATOMIC_ACQUIRE);
        if (k == ip)
            return __atomic_load_n(&t->e[i].val, __ATOMIC_RELAXED);
        if (k == 0)
            return 0;
        i = (i + 1) & mask;
    }
    return 0;
}

static uw_table_t *table_new(uint32_t bits)
{
    uw_table_t *t = fl_arena_map(sizeof(uw_table_t) + (sizeof(uw_ent_t) << bits));
    if (!t)
        return NULL;
    t->mask = (1ull << bits) - 1;
    t->shift = 64 - bits;
    return t;
}

/* Finds key's slot, or the empty slot where it goes; NULL if the probe is too long. */
static uw_ent_t *table_slot(uw_table_t *t, uint64_t key)
{
    uint64_t i = hash_ip(key, t->shift);
    for (int n = 0; n < MAX_PROBE; n++) {
        uw_ent_t *e = &t->e[i];
        if (e->key == key || e->key == 0)
            return e;
        i = (i + 1) & t->mask;
    }
    return NULL;
}

/* Called with uw_lock held. Copies the live entries into a table twice as big and publishes it. */
static uw_table_t *table_grow(uw_table_t *old)
{
    uint32_t bits = 64 - old->shift;
    if (bits >= TABLE_MAX_BITS)
        return NULL;
    uw_table_t *t = table_new(bits + 1);
    if (!t)
        return NULL;
    for (uint64_t i = 0; i <= old->mask; i++) {
        uw_ent_t *o = &old->e[i];
        if (!o->key)
            continue;
        uw_ent_t *e = table_slot(t, o->key);
        if (!e) /* cannot happen at a quarter full; if it does, the rule is derived again later */
            continue;
        e->val = __atomic_load_n(&o->val, __ATOMIC_RELAXED);
        e->key = o->key;
        t->used++;
    }
    __atomic_store_n(&uw_table, t, __ATOMIC_RELEASE);
    return t;
}

static void table_put(uint64_t key, uint64_t val)
{
    if (__atomic_exchange_n(&uw_lock, 1, __ATOMIC_ACQUIRE))
        return;
    uw_table_t *t = uw_table;
    if (!t) {
        t = table_new(TABLE_MIN_BITS);
        if (!t)
            goto out;
        __atomic_store_n(&uw_table, t, __ATOMIC_RELEASE);
    }
    uw_ent_t *e = table_slot(t, key);
    if (e && e->key == key) {
        __atomic_store_n(&e->val, val, __ATOMIC_RELEASE);
        goto out;
    }
    if (!e || (uint64_t)(t->used + 1) * 2 > t->mask + 1) {
        uw_table_t *g = table_grow(t);
        if (!g)
            goto out;
        t = g;
        e = table_slot(t, key);
        if (!e)
            goto out;
    }
    __atomic_store_n(&e->val, val, __ATOMIC_RELAXED);
    __atomic_store_n(&e->key, key, __ATOMIC_RELEASE);
    t->used++;
out:
    __atomic_store_n(&uw_lock, 0, __ATOMIC_RELEASE);
}

static uint64_t pack(const fl_rule_t *ru, uint64_t epoch)
{
    uint64_t v = V_MARK | ((uint64_t)ru->kind << 60) | (epoch << V_EPOCH_SHIFT);
    if (ru->kind == FL_RULE_STANDARD || ru->kind == FL_RULE_ALIGNED) {
        v |= (uint32_t)ru->cfa_off;
        if (ru->cfa_rsp)
            v |= V_RSP;
        if (ru->rbp_saved)
            v |= V_RBP | ((uint64_t)(uint16_t)ru->rbp_off << 32);
    }
    return v;
}

__attribute__((noinline, cold)) static uint64_t miss(uintptr_t ra, uint64_t epoch)
{
    fl_rule_t ru;
    bool cacheable = fl_cfi_rule(ra, &ru);
    uint64_t v = pack(&ru, epoch);
    tl_stats.derived++;
    if (cacheable)
        table_put(ra, v);
    return v;
}

/* ---- what this file keeps in thread-local storage -----------------------------------------------
 * The exit-time scan reads every thread's stack and TLS for pointers to heap blocks. RBP often
 * holds one (it is a plain register in code built without frame pointers), and a stack may live
 * in a heap block (coroutines). Every address or register value kept in TLS is therefore stored
 * with bit 63 flipped: never a user-space pointer, and order-preserving for user addresses. */
#define HIDE(x) FL_HIDE(x)

/* ---- the calling thread's stack bounds ---- */
static inline uint64_t range_pack(uintptr_t lo, uintptr_t hi)
{
    uint64_t pages = (hi - lo) >> 12;
    if (pages > 0xfffffff)
        pages = 0xfffffff;
    return (1ull << 63) | ((uint64_t)(hi >> 12) << 28) | pages;
}

static inline uintptr_t range_hi(uint64_t st)
{
    return (uintptr_t)((st >> 28) & 0x7ffffffffull) << 12;
}

static inline uintptr_t range_lo(uint64_t st)
{
    return range_hi(st) - ((uintptr_t)(st & 0xfffffff) << 12);
}

/* Whether the range st holds ra_slot and 16 bytes above it; its top in *hi_out if so. */
static inline bool range_holds(uint64_t st, uintptr_t ra_slot, uintptr_t *hi_out)
{
    uintptr_t hi = range_hi(st), lo = range_lo(st);
    if (ra_slot - lo >= hi - lo || hi - ra_slot < 16)
        return false;
    *hi_out = hi;
    return true;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Finds the readable mapping that holds addr in /proc/self/maps, extended upwards over readable
 * neighbours (a stack split by mprotect stays one range). Raw syscalls: not a cancellation point,
 * nothing allocated, safe in a signal handler. The main thread's "[stack]" grows down: its range
 * starts 64 MiB below its top (the kernel keeps at least 128 MiB free there for growth), so a
 * deeper call does not need a new look. */
static bool maps_find(uintptr_t addr, uintptr_t *lo_out, uintptr_t *hi_out)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[256], tail[8] = {0}; /* small: this may run on a signal handler's small stack */
    uintptr_t lo = 0, hi = 0, flo = 0, fhi = 0;
    int state = 0, nperm = 0;
    bool readable = false, bad = false, found = false, done = false, is_stack = false;
    while (!done) {
        ssize_t n = syscall(SYS_read, fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && !done; i++) {
            char ch = buf[i];
            int h;
            switch (state) {
            case 0:
                if (ch == '-')
                    state = 1;
                else if ((h = hexval(ch)) >= 0)
                    lo = lo * 16 + (unsigned)h;
                else
                    bad = true;
                break;
            case 1:
                if (ch == ' ') {
                    state = 2;
                    nperm = 0;
                } else if ((h = hexval(ch)) >= 0)
                    hi = hi * 16 + (unsigned)h;
                else
                    bad = true;
                break;
            case 2:
                if (nperm++ == 0)
                    readable = ch == 'r';
                if (nperm == 4)
                    state = 3;
                break;
            default:
                if (ch != '\n') {
                    memmove(tail, tail + 1, sizeof tail - 2);
                    tail[sizeof tail - 2] = ch;
                    break;
                }
                if (!bad && readable && lo < hi) {
                    if (!found && addr >= lo && addr < hi) {
                        found = true;
                        flo = lo;
                        fhi = hi;
                        is_stack = memcmp(tail, "[stack]", 7) == 0;
                    } else if (found && lo == fhi) {
                        fhi = hi;
                    } else if (found) {
                        done = true;
                    }
                } else if (found) {
                    done = true;
                }
                lo = hi = 0;
                bad = false;
                state = 0;
                memset(tail, 0, sizeof tail);
                break;
            }
        }
    }
    syscall(SYS_close, fd);
    if (!found)
        return false;
    if (is_stack && fhi - flo < (64u << 20))
        flo = fhi - (64u << 20);
    *lo_out = flo;
    *hi_out = fhi;
    return true;
}

__attribute__((noinline, cold)) static bool learn_stack(uintptr_t sp)
{
    if (tl_learns >= MAX_LEARNS)
        return false;
    tl_learns++;
    uintptr_t lo, hi;
    if (!maps_find(sp, &lo, &hi))
        return false;
    __atomic_store_n(&tl_stack, range_pack(lo, hi), __ATOMIC_RELAXED);
    tl_stats.learned++;
    return true;
}

void fl_unwind_set_stack(uintptr_t lo, uintptr_t hi)
{
    lo = (lo + 4095) & ~(uintptr_t)4095;
    hi &= ~(uintptr_t)4095;
    __atomic_store_n(&tl_stack, hi > lo ? range_pack(lo, hi) : 0, __ATOMIC_RELAXED);
}

void fl_unwind_flush(void)
{
    uint32_t e = (__atomic_add_fetch(&uw_epoch, 1, __ATOMIC_RELEASE)) & V_EPOCH_MASK;
    if (e != 0)
        return;
    /* After 1024 flushes epochs repeat: start an empty table so no old rule comes back. */
    while (__atomic_exchange_n(&uw_lock, 1, __ATOMIC_ACQUIRE))
        ;
    uw_table_t *t = uw_table ? table_new(64 - uw_table->shift) : NULL;
    if (t || !uw_table)
        __atomic_store_n(&uw_table, t, __ATOMIC_RELEASE);
    __atomic_store_n(&uw_lock, 0, __ATOMIC_RELEASE);
}

void fl_unwind_get_stats(fl_unwind_stats_t *out)
{
    *out = tl_stats;
    const uw_table_t *t = __atomic_load_n(&uw_table, __ATOMIC_ACQUIRE);
    out->rules = t ? t->used : 0;
}

/* ---- the previous walk of this thread ---------------------------------------------------------
 * Most consecutive captures of a thread share their outer frames (main loop, request handler...),
 * at the same stack addresses. A state of the walk is (return address, stack pointer, RBP); the
 * next state follows from the rule of the return address and the words read at cfa - 8 (and at the
 * RBP save slot). So when the walk reaches a state equal to one of the previous walk's, and every
 * word the previous walk read from there on still holds the value it read, the rest of the walk is
 * the previous walk's rest: checking that is a batch of independent loads instead of a chain of
 * dependent ones (load a return address, find its rule, load the next return address).
 * Code built without frame pointers uses RBP as a plain register, whose value changes from call
 * to call; so RBP only counts where the rest of the walk uses it (an RBP-based CFA before RBP is
 * restored from the stack): need[k] says whether state k's RBP matters, and only the RBP reads
 * that matter are checked. Only walks that ended at a LAST rule (the top of the stack) and used
 * STANDARD rules only are kept, with the flush epoch and stack range they were made in. A signal
 * handler that calls fl_unwind while the interrupted code is in here finds tl_busy set and
 * neither reads nor writes the record or the walk in progress. */
#define REC 64
#define F_CFA_RBP 1u /* the state's rule computes the CFA from RBP */
#define F_RESTORE 2u /* ... and restores RBP from the stack */
typedef struct uw_rec {
    uint32_t first; /* states are in [first, REC); first == REC: empty */
    uint32_t epoch; /* uw_epoch, all 32 bits */
    uint64_t stack; /* tl_stack when recorded */
    /* All of these are HIDE()den. State k is (rip[k], rsp[k], rbp[k]). The step k -> k+1 read
     * rip[k+1] at rsp[k+1] - 8, and restored RBP from rbp_at[k] if flags[k] & F_RESTORE. A replay
     * checks chk_x[k] at chk_at[k]: the RBP slot if that RBP matters, else again the return
     * address. low[k]: the lowest address read from state k on. */
    uintptr_t rip[REC], rsp[REC], rbp[REC];
    uintptr_t chk_at[REC], chk_x[REC], rbp_at[REC], low[REC];
    /* The stack hash of the walk's outer part (stacks.c, fl_hash_round): lane[k] is the lane that
     * absorbed return address k, lane[k] = fl_hash_round(lane[k + 4], rip[k]), and lane[REC + i]
     * are the initial values; lanes k..k+3 are the hash state of frames k..REC-1. Not hidden: a
     * lane always has bit 63 set. */
    uint64_t lane[REC + 4];
    uint8_t need[REC], flags[REC];
} uw_rec_t;
typedef struct uw_cur { /* the walk in progress (its return addresses are in buf); HIDE()den */
    uintptr_t rsp[REC], rbp[REC], rbp_at[REC], rbp_x[REC];
    uint8_t flags[REC]; /* F_* */
} uw_cur_t;
static __thread volatile int tl_busy __attribute__((tls_model("initial-exec")));
/* Whether the last walk of this thread made itself the record (a walk that ends by max, or at a
 * frame the record cannot describe, leaves the previous record in place). */
static __thread bool tl_kept __attribute__((tls_model("initial-exec")));

/* Makes the current walk the record. Its states are in cur (return addresses in buf). Without a
 * replay, its n states go to slots REC-n .. REC-1, the last one a LAST frame. After a replay from
 * slot `at` (whose state equals state n-1 and whose rest stays), states 0..n-2 go just below it. */
static void rec_keep(uw_rec_t *r, const uw_cur_t *cur, void *const *buf, int n, uint32_t at,
                     bool replay, uint64_t st, uint32_t epoch)
{
    if ((int)at < n - 1) { /* does not fit */
        r->first = REC;
        return;
    }
    uint32_t first = at - (uint32_t)(n - 1);
    uintptr_t low = UINTPTR_MAX;
    int i = n - 1;
    if (replay) {
        low = HIDE(r->low[at]);
        i--;
    } else {
        r->rip[at] = HIDE(buf[i]);
        r->rsp[at] = cur->rsp[i];
        r->rbp[at] = cur->rbp[i];
        r->need[at] = 0; /* a LAST frame uses nothing */
        r->low[at] = HIDE(low);
        static const uint64_t init[4] = FL_HASH_INIT;
        for (int l = 0; l < 4; l++)
            r->lane[REC + l] = init[l];
        r->lane[at] = fl_hash_round(r->lane[at + 4], (uintptr_t)buf[i]);
        i--;
    }
    for (; i >= 0; i--) {
        uint32_t k = first + (uint32_t)i;
        unsigned f = cur->flags[i];
        bool next_needs = r->need[k + 1];
        r->rip[k] = HIDE(buf[i]);
        r->rsp[k] = cur->rsp[i];
        r->rbp[k] = cur->rbp[i];
        r->lane[k] = fl_hash_round(r->lane[k + 4], (uintptr_t)buf[i]);
        r->flags[k] = (uint8_t)f;
        r->rbp_at[k] = cur->rbp_at[i];
        r->need[k] = (f & F_CFA_RBP) || (!(f & F_RESTORE) && next_needs);
        uintptr_t ra_at = HIDE(r->rsp[k + 1]) - 8;
        if ((f & F_RESTORE) && next_needs) {
            r->chk_at[k] = cur->rbp_at[i];
            r->chk_x[k] = cur->rbp_x[i];
        } else {
            r->chk_at[k] = HIDE(ra_at);
            r->chk_x[k] = r->rip[k + 1];
        }
        if (ra_at < low)
            low = ra_at;
        if (HIDE(r->rbp_at[k]) < low)
            low = HIDE(r->rbp_at[k]);
        r->low[k] = HIDE(low);
    }
    r->first = first;
    r->epoch = epoch;
    r->stack = st;
}

/* ---- allocation sites: whole stacks remembered by where they start ----------------------------
 * A program allocates from a few dozen places over and over (a server's request handler; churn's
 * 15 depths), or, like gcc's cc1, from thousands that it cycles through; consecutive allocations
 * often come from different ones, so the one previous walk is left after the first frame or two.
 * A site remembered here is the state a walk started from (the return address, its slot, and RBP
 * if the rest of the walk used it), the offsets of every word that walk read from the stack (the
 * checks a replay from the record's first state makes), a hash of the state and of the words read
 * there, and the depot id the caller made of its frames. A walk from the same state whose words
 * still hash the same is the same walk (see the record above), so the id is returned without
 * walking. The hash is a sum of products by odd constants, one per position: two stacks that
 * differ in one checked word always differ in it, and the depot itself already names a stack by
 * a 64-bit hash.
 *
 * Sites are found by their set: a hash of the starting state and of the next two return
 * addresses (read with the rules of the first two frames, which a small memo keeps). Those tell
 * apart the many callers of one allocating function at one depth (cc1: 1 457 starting states,
 * 4 900 with the next return address, 6 200 with the next two, 9 500 stacks); with the state
 * alone they all crowded into one set, and with one return address a server's handlers still
 * shared sets and each capture tried two sites. Simulated on cc1's 1.4 M captures: 512 sets of
 * 16 sites answer 97 % of captures (1024 sets of 8: 94 %); the 64 sites keyed by the state alone
 * that this replaced answered 44 %. Measured: 97 % (cc1), 99.99 % (leaky_server).
 *
 * Finding a site costs up to four cache misses in a program as big as cc1, whose own work evicts
 * the cache between two captures: two rules for the key, the set, the site. But a program
 * allocates in sequences (a pass's loop, a constructor that allocates three things), so each site
 * remembers the two that came after it the last times (next[], next2[]), which start loading at
 * once and are checked first at the next capture, before any key: in cc1 one of them is right for
 * 73 % of the captures (1.03 M of 1.40 M; 60 % with one), and the shim's time there fell by 15 %.
 * A wrong guess costs one check, which the hash rejects like any other site's.
 *
 * A site is one cache line, taken from a pool in the order sites are made, so that a thread with
 * few sites touches few pages of the cache (2.3 MiB mapped per thread). The cache starts with 512
 * sets, 32 KiB of index a thread with a few dozen sites touches only here and there; a thread
 * that has had to evict SITE_GROW sites goes on with 2048, each site moving to the set that the
 * next two bits of its key choose (the tag keeps them). cc1's 9 500 stacks did not fit in 8 192
 * sites: it walked 44 k times, 23 k now. The cache is made only at the thread's SITE_AFTER-th
 * walk (short threads never pay for it), and forgotten whole when the flush epoch or the thread's
 * stack range changes. Nothing in it is a pointer (offsets, hashes, HIDE()den addresses); tl_busy
 * guards it as it does the record. */
#ifdef FL_UNWIND_SITE_SETS_FIRST /* the unit test starts tiny to exercise growth */
#define SITE_SETS_FIRST FL_UNWIND_SITE_SETS_FIRST
#define SITE_GROW 16
#else
#define SITE_SETS_FIRST 512
#define SITE_GROW 256
#endif
#define SITE_SETS (SITE_SETS_FIRST * 4)
#define SITE_FIRST_BITS __builtin_ctz(SITE_SETS_FIRST)
#define SITE_WAYS 16 /* the set's tags are compared at once (SSE2) */
#define SITE_CHK 44 /* at most: each check takes one byte of at[], or three */
#define SITE_MEMO_BITS 10
#define SITE_MEMO (1u << SITE_MEMO_BITS)
#define SITE_AFTER 256
#define SITE_SET(c, key) (((key) >> 1) & (c)->mask)
/* 16 bits of the key, never 0; bits 1-2 are the key's two above those of the first sets' index. */
#define SITE_TAG(key)                                                                              \
    ((uint16_t)((((key) >> 48) & ~6ull) | (((key) >> SITE_FIRST_BITS) & 6u) | 1u))
typedef struct __attribute__((aligned(64))) site {
    uint64_t hash;          /* of the state and the checked words, bit 63 set */
    uint32_t id;            /* the caller's id */
    uint32_t used;          /* the cache's clock when last used (the set's least recent goes) */
    uint8_t n, need;        /* n: checks; need: RBP is part of the state */
    uint16_t top;           /* the offset of the last check, in words above the slot */
    /* The checked words in increasing address order, each as its distance in words from the one
     * before (the first: from the slot): one byte 1..255, or 0 and the distance in two bytes. */
    uint8_t at[SITE_CHK];
} site_t;
typedef struct __attribute__((aligned(64))) site_set { /* one cache line, apart from the sites */
    uint16_t tag[SITE_WAYS];  /* 16 bits of the key, never 0; 0: the way is empty */
    uint16_t site[SITE_WAYS]; /* the way's site in the pool, once it has one */
} site_set_t;
typedef struct site_cache {
    uint32_t epoch, clock; /* uw_epoch, all 32 bits, when the cache was filled */
    uint64_t stack;        /* tl_stack, likewise */
    struct {
        uint64_t rip, v; /* rip HIDE()den; v as in the rule table */
    } memo[SITE_MEMO];
    uint32_t nsites;       /* sites of the pool given to a way */
    uint32_t mask;         /* sets in use - 1 */
    uint32_t evicted;      /* sites evicted with mask + 1 < SITE_SETS */
    uint32_t last;         /* the site the thread used last, and its state (HIDE()den) */
    uint64_t last_slot, last_rip;
    bool streak;           /* the last two captures came from the same site */
    bool chain;            /* the last capture was answered here, not by the near sites */
    uint32_t pred, pred2;  /* the sites expected next (+ 1; 0: none), already being loaded */
    site_set_t set[SITE_SETS];
    uint16_t next[SITE_SETS * SITE_WAYS];  /* the site that came after each one last time (+ 1) */
    uint16_t next2[SITE_SETS * SITE_WAYS]; /* ... and the one before that, if another */
    site_t site[SITE_SETS * SITE_WAYS];
} site_cache_t;
_Static_assert(sizeof(site_t) == 64 && sizeof(site_set_t) == 64, "one cache line each");

/* Random odd multipliers: the state's three words, then one per checked word. */
static const uint64_t site_mul[] = {
    0x2cb0f69f4abea221ull, 0x9417034723148989ull, 0xdd555950609dfe03ull, 0xdbafb150deb12801ull,
    0x7e789b2e6c442cb7ull, 0xf41e5636c7e4f8c5ull, 0x0959d150f8fba7e5ull, 0xa97316f13cdb9eebull,
    0x74cd8258f9520069ull, 0x55c74a62e116868bull, 0xd2f4c799a2023cbdull, 0xdf98cb79a37b51b9ull,
    0x396f5885524f3905ull, 0xaf1d56386ca3b277ull, 0xa9ffbe6b5104e85bull, 0x6bd0c51b9fd533b3ull,
    0x980ce91c50ab4b57ull, 0x28ac395780fe62c5ull, 0x768912e3a6bcedc7ull, 0x50b3e8c9332c7c89ull,
    0xce3bbfe520bd47dbull, 0xcba6c8e8e0bb7c4full, 0xbf194db8434a346dull, 0x7d8f2a7b60416d7full,
    0x0849d1f6e0e10a5full, 0x7654b590d064e22full, 0x16d1da9507df3af3ull, 0xf63aef1089ea30e5ull,
    0x9ade6673cc6c522bull, 0x4c75bc274e37087dull, 0xd35e12b49f51f27bull, 0x22ddf2ffcee481ebull,
    0x06007fb13c59a1f1ull, 0x8966a38c651ea4dbull, 0x25242f018fc01ac7ull, 0xa73ec74fa31b717dull,
    0x7ee0abdd9797d3a3ull, 0x5c06ff7dc4ac1881ull, 0x8434e41042c28a7dull, 0x770a372d64327351ull,
    0xeed940dad9e9c06dull, 0x8977e93646524825ull, 0xa9897f0a62a51617ull, 0xa35d4250c53f2b3bull,
    0x4072542a94b9c33full, 0x3154a7a62447e8abull, 0x686865712a1a245full,

};
_Static_assert(sizeof site_mul == (3 + SITE_CHK) * sizeof(uint64_t), "one multiplier per position");

/* ---- near sites: the last few dozen walks, checked word for word ------------------------------
 * In front of the site cache, a small one keyed by the starting state alone, whose sites keep the
 * words themselves: a program that allocates from a few dozen places (a server's handlers, churn's
 * 15 depths) finds its site here in L1, with no rule to look up and no hash to compute: it cost
 * leaky_server a third of what the site cache costs per capture. Filled by walks only (the site
 * cache answers the rest); 64 sites of up to 24 checks (~20 frames), 28 KiB per thread, in the
 * thread's state. Addresses and values are HIDE()den like the record's. */
#define NEAR_SETS 16
#define NEAR_WAYS 4
#define NEAR_CHK 24
typedef struct near_site {
    uintptr_t rip, rsp, rbp; /* the first state; rbp only counts if need */
    uint64_t stack;          /* tl_stack when recorded */
    uint32_t epoch, id;      /* uw_epoch, all 32 bits; the caller's id (0: empty) */
    uint32_t used;           /* near_clock when last used (the set's least recent is replaced) */
    uint8_t need, n;         /* need: RBP counts; n: checks */
    uintptr_t at[NEAR_CHK], x[NEAR_CHK];
} near_t;

/* ---- a thread's state: the record, the walk in progress, the sites --------------------------
 * In the shim's arena rather than in static TLS: glibc carves a thread's static TLS out of the
 * stack size the program asked for, so 34 KiB of TLS made pthread_create fail on a 16 KiB stack
 * and overflowed threads that used most of a small stack. Made on the thread's first capture
 * (fl_unwind_thread_init); without it a walk still works, it only neither replays nor remembers.
 * Freed at the thread's exit (fl_unwind_thread_exit), after which it is not made again. */
typedef struct uw_thread {
    uw_rec_t rec;
    uw_cur_t cur;
    near_t near[NEAR_SETS][NEAR_WAYS];
    uint32_t near_clock;
    site_cache_t *sites; /* NULL until the thread's SITE_AFTER-th walk */
    uint32_t walks;      /* walks that would have made a site, while sites is NULL */
} uw_thread_t;
static __thread uw_thread_t *tl_uw __attribute__((tls_model("initial-exec")));
static __thread bool tl_uw_done __attribute__((tls_model("initial-exec")));

bool fl_unwind_thread_init(void)
{
    if (FL_LIKELY(tl_uw))
        return true;
    if (tl_uw_done || tl_busy)
        return false;
    uw_thread_t *u = fl_arena_alloc(sizeof *u); /* zero: the record empty, no sites */
    if (!u) {
        tl_uw_done = true;
        return false;
    }
    u->rec.first = REC;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    tl_uw = u;
    return true;
}

void fl_unwind_thread_exit(void)
{
    uw_thread_t *u = tl_uw;
    tl_uw_done = true;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    tl_uw = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (u) {
        if (u->sites)
            fl_arena_unmap(u->sites, sizeof *u->sites);
        fl_arena_free(u, sizeof *u);
    }
}

/* The key of a capture from (ra_slot, rbp) whose return address is rip, on a stack whose readable
 * top is hi (ra_slot + 16 <= hi): the state and the next two return addresses (read as the walk
 * reads them), mixed. false if the first frame's rule is not one a walk keeps a record of (then no
 * site is made or found). */
__attribute__((no_sanitize_address, always_inline)) static inline bool
site_key(site_cache_t *c, uintptr_t ra_slot, uintptr_t rip, uintptr_t rbp, uintptr_t hi,
         uint64_t *key)
{
    const uint64_t epoch = c->epoch & V_EPOCH_MASK;
    const uint64_t want = V_MARK | (epoch << V_EPOCH_SHIFT);
    const uint64_t check = V_MARK | (V_EPOCH_MASK << V_EPOCH_SHIFT);
    const uintptr_t span = hi - 8 - ra_slot;
    uintptr_t rsp = ra_slot + 8, ip = rip, next[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        __typeof__(c->memo[0]) *m = &c->memo[(ip * 0x9e3779b97f4a7c15ull) >> (64 - SITE_MEMO_BITS)];
        uint64_t v = m->v;
        if (FL_UNLIKELY(m->rip != HIDE(ip) || (v & check) != want)) {
            const uw_table_t *t = __atomic_load_n(&uw_table, __ATOMIC_ACQUIRE);
            v = t ? table_get(t, ip) : 0;
            if ((v & check) != want)
                v = miss(ip, epoch);
            m->rip = HIDE(ip);
            m->v = v;
        }
        unsigned kind = V_KIND(v);
        if (FL_UNLIKELY(kind != FL_RULE_STANDARD)) {
            if (kind == FL_RULE_LAST)
                break;
            if (i == 0)
                return false; /* a walk from here keeps no record: no site */
            next[1] = 1;      /* the walk goes on some other way: the key stops here */
            break;
        }
        uintptr_t cfa = ((v & V_RSP) ? rsp : rbp) + (uintptr_t)(intptr_t)(int32_t)v;
        uintptr_t a = cfa - 8;
        if (a - ra_slot > span)
            return false;
        ip = next[i] = *(const uintptr_t *)a;
        if (!(v & V_RSP))
            next[i] ^= rbp * 0xc2b2ae3d27d4eb4full;
        if (v & V_RBP) {
            a = cfa + (uintptr_t)(intptr_t)(int16_t)(v >> 32);
            if (a - ra_slot > span)
                return false;
            rbp = *(const uintptr_t *)a;
        }
        rsp = cfa;
        if (ip < 0x4000)
            break;
    }
    uint64_t k = (rip ^ (ra_slot * 0x9e3779b97f4a7c15ull)) + next[0] * 0xff51afd7ed558ccdull +
                 next[1] * 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 31;
    k *= 0xbf58476d1ce4e5b9ull;
    *key = k ^ (k >> 29);
    return true;
}

static inline uint64_t site_base(uintptr_t rip, uintptr_t ra_slot, uintptr_t rbp, bool need)
{
    return rip * site_mul[0] + ra_slot * site_mul[1] + (need ? rbp * site_mul[2] : 0);
}

/* The same function called at the same depth from different places has the same first state:
 * those share a set, and the checks tell them apart. */
static inline near_t *near_set(uw_thread_t *u, uintptr_t rip, uintptr_t ra_slot)
{
    return u->near[((rip ^ (ra_slot * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull) >> 60];
}

/* Called with tl_busy set. */
__attribute__((no_sanitize_address)) static inline uint32_t
near_get(uw_thread_t *u, uintptr_t ra_slot, uintptr_t rip, uintptr_t rbp, uint32_t epoch,
         uint64_t st)
{
    near_t *set = near_set(u, rip, ra_slot);
    for (int w = 0; w < NEAR_WAYS; w++) {
        near_t *si = &set[w];
        if (!si->id || si->rsp != HIDE(ra_slot + 8) || si->rip != HIDE(rip) ||
            si->epoch != epoch || si->stack != st || (si->need && si->rbp != HIDE(rbp)))
            continue;
        uintptr_t diff = 0;
        for (unsigned k = 0; k < si->n; k++)
            diff |= *(const uintptr_t *)HIDE(si->at[k]) ^ HIDE(si->x[k]);
        if (diff == 0) {
            si->used = ++u->near_clock;
            return si->id;
        }
    }
    return 0;
}

/* From the record of the walk just made from this state (checked by the caller). */
static void near_put(uw_thread_t *u, uintptr_t ra_slot, uintptr_t rip, uint32_t id)
{
    const uw_rec_t *r = &u->rec;
    const uint32_t f = r->first;
    if (REC - 1 - f > NEAR_CHK) /* too deep: the checks would not fit */
        return;
    near_t *set = near_set(u, rip, ra_slot), *si = &set[0];
    for (int w = 1; w < NEAR_WAYS; w++)
        if (set[w].used < si->used)
            si = &set[w];
    si->id = 0; /* invalid while it changes */
    unsigned n = 0;
    for (uint32_t k = f; k + 1 < REC; k++) {
        uintptr_t ra_at = HIDE(HIDE(r->rsp[k + 1]) - 8); /* hidden, like chk_at */
        if (n == NEAR_CHK)
            return;
        si->at[n] = ra_at;
        si->x[n++] = r->rip[k + 1];
        if (r->chk_at[k] != ra_at) {
            if (n == NEAR_CHK)
                return;
            si->at[n] = r->chk_at[k];
            si->x[n++] = r->chk_x[k];
        }
    }
    si->rip = r->rip[f];
    si->rsp = r->rsp[f];
    si->rbp = r->rbp[f];
    si->need = r->need[f];
    si->stack = r->stack;
    si->epoch = r->epoch;
    si->n = (uint8_t)n;
    si->used = ++u->near_clock;
    si->id = id;
}

/* After a capture from site x: x is the last site, and the two that followed x the last times
 * are expected next and start loading now (the program's own work until then hides the miss). */
static inline void site_follow(site_cache_t *c, uint32_t x, uintptr_t ra_slot, uintptr_t rip)
{
    c->streak = c->last == x && c->last_slot == HIDE(ra_slot);
    c->chain = true;
    c->last_slot = HIDE(ra_slot);
    c->last_rip = HIDE(rip);
    c->last = x;
    c->pred = c->next[x];
    if (c->pred)
        __builtin_prefetch(&c->site[c->pred - 1]);
    c->pred2 = c->next2[x];
    if (c->pred2)
        __builtin_prefetch(&c->site[c->pred2 - 1]);
}

/* Site x came right after the last one: the last one's first expectation, the former first its
 * second. */
static inline void site_learn(site_cache_t *c, uint32_t x)
{
    if (!c->last_slot || c->next[c->last] == x + 1)
        return;
    c->next2[c->last] = c->next[c->last];
    c->next[c->last] = (uint16_t)(x + 1);
}

/* Whether si's checked words, read from ra_slot up, hash as they did when si was made. base: the
 * state's part of the hash, without RBP and with it (si->need says which). */
__attribute__((no_sanitize_address, always_inline)) static inline bool
site_check(const site_t *si, uintptr_t ra_slot, uintptr_t span, const uint64_t base[2])
{
    if ((uintptr_t)si->top * 8 > span)
        return false;
    uint64_t h = base[si->need];
    const uint8_t *d = si->at;
    uintptr_t a = ra_slot;
    for (unsigned k = 0; k < si->n; k++) {
        unsigned step = *d++;
        if (FL_UNLIKELY(!step)) {
            step = d[0] | (unsigned)d[1] << 8;
            d += 2;
        }
        a += (uintptr_t)step * 8;
        h += *(const uintptr_t *)a * site_mul[3 + k];
    }
    return (h | (1ull << 63)) == si->hash;
}

/* A capture answered by site si: it is the set's most recently used; its id. */
static inline uint32_t site_use(site_cache_t *c, site_t *si)
{
    si->used = ++c->clock;
    tl_stats.sites++;
    return si->id;
}

/* The expected site e (+ 1), unless 0 or already tried: whether it is this capture's, and if so
 * its id in *id. */
__attribute__((no_sanitize_address, always_inline)) static inline bool
site_expected(site_cache_t *c, uint32_t e, uint32_t tried, uintptr_t ra_slot, uintptr_t rip,
              uintptr_t span, const uint64_t base[2], uint32_t *id)
{
    if (!e || e - 1 == tried || e - 1 >= c->nsites)
        return false;
    site_t *si = &c->site[e - 1];
    if (!site_check(si, ra_slot, span, base))
        return false;
    *id = site_use(c, si);
    tl_stats.predicted++;
    site_learn(c, e - 1);
    site_follow(c, e - 1, ra_slot, rip);
    return true;
}

__attribute__((no_sanitize_address)) uint32_t fl_unwind_site_get(uintptr_t ra_slot, uintptr_t rbp)
{
    uw_thread_t *const u = tl_uw;
    if (tl_busy || !u)
        return 0;
    tl_busy = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    site_cache_t *const c = u->sites;
    const uint64_t st = __atomic_load_n(&tl_stack, __ATOMIC_RELAXED);
    const uint32_t epoch = __atomic_load_n(&uw_epoch, __ATOMIC_RELAXED);
    const uintptr_t rip = *(const uintptr_t *)ra_slot;
    uintptr_t hi;
    uint64_t key;
    uint32_t id;
    const bool cached = c && c->epoch == epoch && c->stack == st && range_holds(st, ra_slot, &hi);
    /* The near sites first, unless the site cache answered the last capture: then its expected
     * sites are likelier (cc1: the near sites answer 6 % of captures, leaky_server's 87 %). */
    const bool near_first = !cached || !c->chain;
    if (near_first && (id = near_get(u, ra_slot, rip, rbp, epoch, st))) {
        tl_stats.sites++;
        if (cached)
            c->chain = false;
        goto out;
    }
    if (!cached)
        goto out;
    const uintptr_t span = hi - 8 - ra_slot;
    const uint64_t base[2] = {site_base(rip, ra_slot, rbp, false),
                              site_base(rip, ra_slot, rbp, true)};
    /* While the captures come from one site, that site first: a loop that allocates from one
     * place finds it without the key (the hash decides, as for any other site). Only then: in a
     * server, one state leads to another site next time more often than not, and checking the
     * last one first was a wasted check for 29 % of leaky_server's captures. */
    uint32_t tried = UINT32_MAX;
    if (c->streak && c->last_slot == HIDE(ra_slot) && c->last_rip == HIDE(rip)) {
        site_t *si = &c->site[tried = c->last];
        if (site_check(si, ra_slot, span, base)) {
            id = site_use(c, si);
            c->chain = true;
            goto out;
        }
    }
    if (site_expected(c, c->pred, tried, ra_slot, rip, span, base, &id) ||
        (c->pred2 != c->pred &&
         site_expected(c, c->pred2, tried, ra_slot, rip, span, base, &id)))
        goto out;
    if (!near_first && (id = near_get(u, ra_slot, rip, rbp, epoch, st))) {
        tl_stats.sites++;
        c->chain = false;
        goto out;
    }
    if (!site_key(c, ra_slot, rip, rbp, hi, &key))
        goto out;
    site_set_t *s = &c->set[SITE_SET(c, key)];
    const uint16_t tag = SITE_TAG(key);
    const __m128i want = _mm_set1_epi16((short)tag);
    unsigned match = (unsigned)_mm_movemask_epi8(
                         _mm_cmpeq_epi16(_mm_load_si128((const __m128i *)s->tag), want)) |
                     (unsigned)_mm_movemask_epi8(
                         _mm_cmpeq_epi16(_mm_load_si128((const __m128i *)s->tag + 1), want))
                         << 16;
    const int first = match ? __builtin_ctz(match) / 2 : 0;
    for (; match; match &= match - 1, match &= match - 1) { /* two bits per way */
        const int w = __builtin_ctz(match) / 2;
        site_t *si = &c->site[s->site[w]];
        if (site_check(si, ra_slot, span, base)) {
            id = site_use(c, si);
            /* The same key's sites are tried in way order: the one just used goes first. */
            uint16_t x = s->site[w];
            s->site[w] = s->site[first];
            s->site[first] = x;
            site_learn(c, x);
            site_follow(c, x, ra_slot, rip);
            break;
        }
    }
out:
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    tl_busy = 0;
    return id;
}

__attribute__((noinline, cold)) static site_cache_t *site_cache_new(uw_thread_t *u)
{
    if (++u->walks < SITE_AFTER)
        return NULL;
    u->walks = 0; /* if the map fails, try again after as many walks */
    u->sites = fl_arena_map(sizeof *u->sites); /* zero: every way empty */
    if (u->sites)
        u->sites->mask = SITE_SETS_FIRST - 1;
    return u->sites;
}

/* The way of set s a new site takes: an empty one, else the least recently used. */
static int site_victim(const site_cache_t *c, const site_set_t *s)
{
    int w = 0;
    for (int i = 1; i < SITE_WAYS && s->tag[w]; i++)
        if (!s->tag[i] || c->site[s->site[i]].used < c->site[s->site[w]].used)
            w = i;
    return w;
}

/* From SITE_SETS_FIRST sets to SITE_SETS: each site goes to the set its key's next two bits choose
 * (set s, or one of the three new ones above it, which only s feeds); the pool, and with it the
 * expected sites, stay as they are. */
static void site_cache_grow(site_cache_t *c)
{
    for (uint32_t s = 0; s < SITE_SETS_FIRST; s++) {
        site_set_t *from = &c->set[s];
        int keep = 0;
        for (int w = 0; w < SITE_WAYS; w++) {
            const uint16_t tag = from->tag[w];
            const uint32_t b = (tag >> 1) & 3u;
            if (!tag) {
                continue;
            } else if (b == 0) {
                from->site[keep] = from->site[w];
                from->tag[keep++] = tag;
            } else {
                site_set_t *to = &c->set[s | b << SITE_FIRST_BITS];
                int k = 0;
                while (to->tag[k])
                    k++;
                to->site[k] = from->site[w];
                to->tag[k] = tag;
            }
        }
        for (int w = keep; w < SITE_WAYS; w++)
            from->tag[w] = 0;
    }
    c->mask = SITE_SETS - 1;
}

/* Forgets every site and memoised rule; only the parts in use are cleared, so that the pages of an
 * unused index stay untouched. The sets stay as many. */
static void site_cache_clear(site_cache_t *c)
{
    memset(c->set, 0, (c->mask + 1) * sizeof c->set[0]);
    memset(c->next, 0, c->nsites * sizeof c->next[0]);
    memset(c->next2, 0, c->nsites * sizeof c->next2[0]);
    memset(c->memo, 0, sizeof c->memo);
    c->nsites = 0;
    c->evicted = 0;
    c->pred = c->pred2 = 0;
    c->last_slot = 0;
    c->streak = false;
}

void fl_unwind_site_put(uintptr_t ra_slot, uintptr_t rbp, uint32_t id)
{
    uw_thread_t *const u = tl_uw;
    if (tl_busy || !id || !u)
        return;
    tl_busy = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    const uw_rec_t *r = &u->rec;
    const uint32_t f = r->first, epoch = __atomic_load_n(&uw_epoch, __ATOMIC_RELAXED);
    const uint64_t st = __atomic_load_n(&tl_stack, __ATOMIC_RELAXED);
    const uintptr_t rip = *(const uintptr_t *)ra_slot;
    uintptr_t hi;
    /* The record must be the walk just made from this state: a walk that was not kept left an older
     * record, which may even start from the same state but go on differently. */
    if (!tl_kept || f >= REC || r->epoch != epoch || r->stack != st ||
        r->rsp[f] != HIDE(ra_slot + 8) || r->rip[f] != HIDE(rip) ||
        (r->need[f] && r->rbp[f] != HIDE(rbp)) || !range_holds(st, ra_slot, &hi))
        goto out;
    near_put(u, ra_slot, rip, id);
    site_cache_t *c = u->sites;
    if (!c && !(c = site_cache_new(u)))
        goto out;
    if (c->epoch != epoch || c->stack != st) {
        site_cache_clear(c);
        c->epoch = epoch;
        c->stack = st;
    }
    uint64_t key;
    if (!site_key(c, ra_slot, rip, rbp, hi, &key))
        goto out;
    /* The checks: for each step, the return address read, and the RBP read if it mattered; in
     * increasing address order, each word once. */
    uintptr_t at[2 * REC], x[2 * REC];
    unsigned n = 0;
    for (uint32_t k = f; k + 1 < REC; k++) {
        uintptr_t pa[2] = {HIDE(r->rsp[k + 1]) - 8, HIDE(r->chk_at[k])};
        uintptr_t px[2] = {HIDE(r->rip[k + 1]), HIDE(r->chk_x[k])};
        for (int i = 0; i < (pa[1] == pa[0] ? 1 : 2); i++) {
            unsigned j = n++;
            for (; j > 0 && at[j - 1] > pa[i]; j--) {
                at[j] = at[j - 1];
                x[j] = x[j - 1];
            }
            at[j] = pa[i];
            x[j] = px[i];
        }
    }
    uint8_t enc[SITE_CHK] = {0};
    unsigned m = 0, len = 0;
    uint64_t h = site_base(rip, ra_slot, rbp, r->need[f]);
    uintptr_t prev = ra_slot;
    for (unsigned i = 0; i < n; i++) {
        if (m > 0 && at[i] == prev)
            continue; /* read twice: checked once (the same value) */
        if (at[i] < ra_slot || at[i] - ra_slot > 0xffff * 8 || at[i] - ra_slot > hi - 8 - ra_slot ||
            ((at[i] - prev) & 7))
            goto out; /* a word the distances cannot name */
        uintptr_t d = (at[i] - prev) / 8;
        unsigned need_len = d >= 1 && d <= 255 ? 1 : 3;
        if (len + need_len > SITE_CHK)
            goto out; /* too deep */
        if (need_len == 1) {
            enc[len++] = (uint8_t)d;
        } else {
            enc[len++] = 0;
            enc[len++] = (uint8_t)d;
            enc[len++] = (uint8_t)(d >> 8);
        }
        h += x[i] * site_mul[3 + m];
        m++;
        prev = at[i];
    }
    site_set_t *s = &c->set[SITE_SET(c, key)];
    int w = site_victim(c, s);
    if (s->tag[w] && c->mask + 1 < SITE_SETS && ++c->evicted >= SITE_GROW) {
        site_cache_grow(c);
        s = &c->set[SITE_SET(c, key)];
        w = site_victim(c, s);
    }
    if (!s->tag[w]) /* a way without a site yet: the pool's next (there is one per way) */
        s->site[w] = (uint16_t)c->nsites++;
    site_t *si = &c->site[s->site[w]];
    s->tag[w] = 0; /* empty while it changes */
    memcpy(si->at, enc, len);
    si->n = (uint8_t)m;
    si->need = r->need[f];
    si->top = (uint16_t)((prev - ra_slot) / 8);
    si->hash = h | (1ull << 63);
    si->id = id;
    si->used = ++c->clock;
    s->tag[w] = SITE_TAG(key);
    site_learn(c, s->site[w]);
    c->next[s->site[w]] = c->next2[s->site[w]] = 0;
    c->last_slot = HIDE(ra_slot);
    c->last_rip = HIDE(rip);
    c->last = s->site[w];
    c->streak = false;
    c->pred = c->pred2 = 0;
out:
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    tl_busy = 0;
}

/* ---- the walk ----------------------------------------------------------------------------------
 * Starts in the caller's frame: its return address is at ra_slot, its stack pointer ra_slot + 8,
 * its RBP untouched. Every word read lies in [ra_slot, top of this thread's stack mapping): a rule
 * that would read elsewhere (a corrupt stack, or one switched without telling the CFI) ends the
 * walk there, where libunwind would read the wild address. */
__attribute__((no_sanitize_address)) int fl_unwind_walk(void **buf, int max, uintptr_t ra_slot,
                                                      uintptr_t rbp, fl_unwind_lazy_t *lazy)
{
    if (max <= 0)
        return 0;
    tl_stats.calls++;
    uint64_t st = __atomic_load_n(&tl_stack, __ATOMIC_RELAXED);
    uintptr_t hi;
    if (FL_UNLIKELY(!range_holds(st, ra_slot, &hi))) {
        if (learn_stack(ra_slot))
            st = __atomic_load_n(&tl_stack, __ATOMIC_RELAXED);
        if (!range_holds(st, ra_slot, &hi)) {
            tl_stats.fallback++;
            return -1;
        }
    }
    const uintptr_t floor = ra_slot, span = hi - 8 - ra_slot; /* readable: a - floor <= span */
    const uw_table_t *t = __atomic_load_n(&uw_table, __ATOMIC_ACQUIRE);
    const uint32_t epoch_full = __atomic_load_n(&uw_epoch, __ATOMIC_RELAXED);
    const uint64_t epoch = epoch_full & V_EPOCH_MASK;
    const uint64_t want = V_MARK | (epoch << V_EPOCH_SHIFT);
    const uint64_t check = V_MARK | (V_EPOCH_MASK << V_EPOCH_SHIFT);
    uintptr_t rsp = ra_slot + 8, rip = *(const uintptr_t *)ra_slot, cfa, a;

    /* The record is usable if it was made in this epoch, on this stack, and nobody below us on
     * this thread is using it. j scans it by increasing stack pointer. */
    uw_thread_t *const u = tl_uw;
    uw_rec_t *const r = u ? &u->rec : NULL;
    uw_cur_t *const cur = u ? &u->cur : NULL;
    const bool owner = u && !tl_busy;
    bool keep = owner; /* may this walk become the record? */
    uint32_t j = REC;
    if (owner) {
        tl_busy = 1;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        tl_kept = false;
        if (r->first < REC && r->epoch == epoch_full && r->stack == st)
            j = r->first;
    }
    int n = 0;
    for (;;) {
        if (rip < 0x4000) {
            keep = false; /* the record would not show the word that ended it */
            break;
        }
        buf[n] = (void *)rip;
        if (FL_LIKELY(keep)) { /* only the owner touches cur */
            if (FL_LIKELY(n < REC)) {
                cur->rsp[n] = HIDE(rsp);
                cur->rbp[n] = HIDE(rbp);
            } else {
                keep = false;
                j = REC;
            }
        }
        n++;
        if (j < REC) {
            while (j < REC && r->rsp[j] < HIDE(rsp))
                j++;
            if (j < REC && r->rsp[j] == HIDE(rsp) && r->rip[j] == HIDE(rip) &&
                (!r->need[j] || r->rbp[j] == HIDE(rbp)) && HIDE(r->low[j]) >= floor) {
                /* Same state as the previous walk's j-th: replay its rest if the words it read
                 * still hold what it read. */
                uintptr_t diff = 0;
                for (uint32_t k = j; k + 1 < REC; k++) {
                    diff |= *(const uintptr_t *)(HIDE(r->rsp[k + 1]) - 8) ^ HIDE(r->rip[k + 1]);
                    diff |= *(const uintptr_t *)HIDE(r->chk_at[k]) ^ HIDE(r->chk_x[k]);
                }
                if (FL_LIKELY(diff == 0)) {
                    int total = n + (int)(REC - 1 - j);
                    if (lazy && total <= lazy->limit && total <= max) {
                        /* The caller wants the stack's hash, not its frames: the record has the
                         * hash state of the replayed part, so its frames are not copied. */
                        for (int l = 0; l < 4; l++)
                            lazy->lane[l] = r->lane[j + 1 + (uint32_t)l];
                        lazy->walked = n;
                        rec_keep(r, cur, buf, n, j, true, st, epoch_full);
                        tl_kept = true;
                        tl_stats.fast++;
                        tl_stats.replayed++;
                        n = total;
                        goto out;
                    }
                    int out = total < max ? total : max;
                    for (int i = n; i < out; i++)
                        buf[i] = (void *)HIDE(r->rip[j + 1 + (uint32_t)(i - n)]);
                    rec_keep(r, cur, buf, n, j, true, st, epoch_full);
                    tl_kept = true;
                    tl_stats.fast++;
                    tl_stats.replayed++;
                    n = out;
                    goto out;
                }
                /* Something changed further up (another call site into the same function, say):
                 * take the states up to the first changed word from the record, walk on from
                 * there, and look for the record again above it. */
                uint32_t k = j;
                for (; k + 1 < REC; k++) {
                    if (*(const uintptr_t *)(HIDE(r->rsp[k + 1]) - 8) != HIDE(r->rip[k + 1]) ||
                        *(const uintptr_t *)HIDE(r->chk_at[k]) != HIDE(r->chk_x[k]) || n >= max ||
                        n >= REC)
                        break;
                    unsigned f = r->flags[k];
                    uintptr_t rbp_at = HIDE(r->rsp[k + 1]) - 8, rbp_x = HIDE(r->rip[k + 1]);
                    if (f & F_RESTORE) {
                        rbp_at = HIDE(r->rbp_at[k]);
                        rbp = rbp_x = *(const uintptr_t *)rbp_at;
                    }
                    rip = HIDE(r->rip[k + 1]);
                    rsp = HIDE(r->rsp[k + 1]);
                    cur->rbp_at[n - 1] = HIDE(rbp_at); /* keep is true here */
                    cur->rbp_x[n - 1] = HIDE(rbp_x);
                    cur->flags[n - 1] = (uint8_t)f;
                    buf[n] = (void *)rip;
                    cur->rsp[n] = HIDE(rsp);
                    cur->rbp[n] = HIDE(rbp);
                    n++;
                }
                j = k + 1;
            }
        }
        if (n >= max) {
            keep = false; /* ended by max: not the top of the stack */
            break;
        }
        uint64_t v = t ? table_get(t, rip) : 0;
        if (FL_UNLIKELY((v & check) != want)) {
            v = miss(rip, epoch);
            t = __atomic_load_n(&uw_table, __ATOMIC_ACQUIRE);
        }
        unsigned kind = V_KIND(v);
        if (FL_LIKELY(kind == FL_RULE_STANDARD)) {
            cfa = ((v & V_RSP) ? rsp : rbp) + (uintptr_t)(intptr_t)(int32_t)v;
            a = cfa - 8;
            if (FL_UNLIKELY(a - floor > span))
                goto stop;
            rip = *(const uintptr_t *)a;
            uintptr_t rbp_at = a, rbp_x = rip;
            if (v & V_RBP) {
                a = cfa + (uintptr_t)(intptr_t)(int16_t)(v >> 32);
                if (FL_UNLIKELY(a - floor > span))
                    goto stop;
                rbp = *(const uintptr_t *)a;
                rbp_at = a;
                rbp_x = rbp;
            }
            if (FL_LIKELY(keep)) {
                cur->rbp_at[n - 1] = HIDE(rbp_at);
                cur->rbp_x[n - 1] = HIDE(rbp_x);
                cur->flags[n - 1] = (uint8_t)(((v & V_RSP) ? 0 : F_CFA_RBP) |
                                                ((v & V_RBP) ? F_RESTORE : 0));
            }
            rsp = cfa;
        } else if (kind == FL_RULE_LAST) {
            break;
        } else if (kind == FL_RULE_ALIGNED) {
            /* tdep_trace: cfa = *(rbp + off); rip = *(cfa - 8); rbp = *rbp. */
            a = rbp + (uintptr_t)(intptr_t)(int32_t)v;
            if (a - floor > span || rbp - floor > span)
                goto stop;
            cfa = *(const uintptr_t *)a;
            a = cfa - 8;
            if (a - floor > span)
                goto stop;
            rip = *(const uintptr_t *)a;
            rbp = *(const uintptr_t *)rbp;
            rsp = cfa;
            keep = false; /* its reads are not in the record's format */
            j = REC;
        } else {
            tl_stats.fallback++;
            n = -1;
            goto out;
        }
    }
    tl_stats.fast++;
    if (keep && n > 0) {
        rec_keep(r, cur, buf, n, REC - 1, false, st, epoch_full);
        tl_kept = true;
    }
    goto out;
stop:
    tl_stats.stopped++;
out:
    if (owner) {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        tl_busy = 0;
    }
    return n;
}

/* int fl_unwind(void **buf, int max): passes the caller's return-address slot and RBP to the
 * walker (and no lazy request); on -1, restores the arguments and tail-jumps to unw_backtrace, which then runs in the
 * caller's place (same stack pointer, same callee-saved registers) and produces the answer. */
#define FL_STR2(x) #x
#define FL_STR(x) FL_STR2(x)
__asm__(".text\n"
        ".p2align 4\n"
        ".globl fl_unwind\n"
        ".hidden fl_unwind\n"
        ".type fl_unwind, @function\n"
        "fl_unwind:\n"
        ".cfi_startproc\n"
        "  endbr64\n"
        "  push %rdi\n"
        ".cfi_adjust_cfa_offset 8\n"
        "  push %rsi\n"
        ".cfi_adjust_cfa_offset 8\n"
        "  lea 16(%rsp), %rdx\n"
        "  mov %rbp, %rcx\n"
        "  xor %r8d, %r8d\n"
        "  sub $8, %rsp\n"
        ".cfi_adjust_cfa_offset 8\n"
        "  call fl_unwind_walk\n"
        "  add $8, %rsp\n"
        ".cfi_adjust_cfa_offset -8\n"
        "  pop %rsi\n"
        ".cfi_adjust_cfa_offset -8\n"
        "  pop %rdi\n"
        ".cfi_adjust_cfa_offset -8\n"
        "  test %eax, %eax\n"
        "  js 1f\n"
        "  ret\n"
        "1:\n"
        "  jmp " FL_STR(unw_backtrace) "@PLT\n"
        ".cfi_endproc\n"
        ".size fl_unwind, .-fl_unwind\n");
