/* arena.c — the shim's own memory: every table, the depot and the report buffers live in mmap'ed
 * regions registered here, never in the tracked heap (or every block would look reachable, and
 * the shim would re-enter itself). The registry lets the scan and pre-faulting skip them. */
#include "internal.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define MAX_REGIONS 16384
#define CHUNK (1u << 20)
#define NCLASSES 8 /* 16 .. 2048 bytes */

typedef struct region { uintptr_t lo, hi; } region_t;
static region_t regions[MAX_REGIONS];
static size_t nregions;
static fl_lock_t arena_lock;

typedef struct freeobj { struct freeobj *next; } freeobj_t;
static freeobj_t *freelist[NCLASSES];
static char *bump, *bump_end;

/* Larger objects (the table's shards, the depot's hash buckets: 4 KiB .. 16 MiB, by powers of
 * two) are carved from chunks of 1 MiB, 2 MiB, ... up to 32 MiB. A table that grows to a million
 * records replaces its arrays ~3 000 times: a mapping of its own each time (mmap, madvise,
 * prctl, munmap, and the region list) cost the build phase of shared/bench's forktree ~30 ms. A
 * freed one gives its pages back (MADV_DONTNEED: zero when touched again) and waits in its class
 * for reuse. */
#define BIG_CHUNK (32u << 20)
#define NBIG_CLASSES 13 /* 4 KiB << 12 = 16 MiB */
static freeobj_t *bigfree[NBIG_CLASSES];
static char *bbump, *bbump_end;
static unsigned nbigchunks;

static void add_region(uintptr_t lo, uintptr_t hi)
{
    /* Extend a neighbour when the kernel placed the new mapping right next to it. */
    for (size_t i = nregions; i-- > 0;) {
        if (regions[i].hi == lo) {
            regions[i].hi = hi;
            return;
        }
        if (regions[i].lo == hi) {
            regions[i].lo = lo;
            return;
        }
    }
    if (nregions < MAX_REGIONS)
        regions[nregions++] = (region_t){lo, hi};
    else
        fl_disable("too many shim memory regions");
}

static void remove_region(uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < nregions; i++) {
        region_t *r = &regions[i];
        if (lo < r->lo || hi > r->hi)
            continue;
        if (lo == r->lo && hi == r->hi)
            *r = regions[--nregions];
        else if (lo == r->lo)
            r->lo = hi;
        else if (hi == r->hi)
            r->hi = lo;
        else { /* a hole in the middle: split */
            uintptr_t oldhi = r->hi;
            r->hi = lo;
            if (nregions < MAX_REGIONS)
                regions[nregions++] = (region_t){hi, oldhi};
        }
        return;
    }
}

static void *map_locked(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* A VMA flag of its own keeps the kernel from merging shim memory with the program's
     * neighbouring anonymous mappings (the scan and pre-faulting rely on telling them apart),
     * and keeps the shim's tables out of the program's core dumps. */
    madvise(p, size, MADV_DONTDUMP);
    /* Name it in /proc/pid/maps where the kernel supports it (5.17+, CONFIG_ANON_VMA_NAME). */
    static bool no_names;
    if (!no_names &&
        prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, size, (unsigned long)"forkleak"))
        no_names = true;
    add_region((uintptr_t)p, (uintptr_t)p + size);
    return p;
}

static size_t page_round(size_t n)
{
    return (n + 4095) & ~(size_t)4095;
}

void *fl_arena_map(size_t size)
{
    size = page_round(size);
    fl_lock(&arena_lock);
    void *p = map_locked(size);
    fl_unlock(&arena_lock);
    return p;
}

void fl_arena_unmap(void *p, size_t size)
{
    if (!p)
        return;
    size = page_round(size);
    fl_lock(&arena_lock);
    munmap(p, size);
    remove_region((uintptr_t)p, (uintptr_t)p + size);
    fl_unlock(&arena_lock);
}

/* The power-of-two class, counted from smallest, that holds size. */
static int class_of(size_t size, size_t smallest)
{
    int c = 0;
    while ((smallest << c) < size)
        c++;
    return c;
}


static void *big_alloc(size_t size)
{
    int c = class_of(size, 4096);
    size_t csize = (size_t)4096 << c;
    void *p;
    fl_lock(&arena_lock);
    if (bigfree[c]) {
        p = bigfree[c];
        bigfree[c] = bigfree[c]->next;
        ((freeobj_t *)p)->next = NULL; /* the rest of it is zero since MADV_DONTNEED */
    } else {
        if (bbump + csize > bbump_end) { /* the old chunk's tail stays unused (never touched) */
            size_t chunk_size = nbigchunks < 5 ? (1u << 20) << nbigchunks : BIG_CHUNK;
            if (chunk_size < csize)
                chunk_size = csize;
            char *chunk = map_locked(chunk_size);
            if (!chunk) {
                fl_unlock(&arena_lock);
                return NULL;
            }
            nbigchunks++;
            bbump = chunk;
            bbump_end = chunk + chunk_size;
        }
        p = bbump;
        bbump += csize;
    }
    fl_unlock(&arena_lock);
    return p;
}

static void big_free(void *p, size_t size)
{
    int c = class_of(size, 4096);
    madvise(p, (size_t)4096 << c, MADV_DONTNEED);
    fl_lock(&arena_lock);
    ((freeobj_t *)p)->next = bigfree[c];
    bigfree[c] = p;
    fl_unlock(&arena_lock);
}

void *fl_arena_alloc(size_t size)
{
    if (size == 0)
        size = 1;
    if (size > 2048)
        return size <= ((size_t)4096 << (NBIG_CLASSES - 1)) ? big_alloc(size) : fl_arena_map(size);
    int c = class_of(size, 16);
    size_t csize = (size_t)16 << c;
    void *p;
    fl_lock(&arena_lock);
    if (freelist[c]) {
        freeobj_t *f = freelist[c];
        freelist[c] = f->next;
        p = f;
        memset(p, 0, csize);
    } else {
        if (bump + csize > bump_end) {
            char *chunk = map_locked(CHUNK);
            if (!chunk) {
                fl_unlock(&arena_lock);
                return NULL;
            }
            bump = chunk;
            bump_end = chunk + CHUNK;
        }
        p = bump; /* fresh mmap pages are zero */
        bump += csize;
    }
    fl_unlock(&arena_lock);
    return p;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void fl_arena_populate(void *p, size_t size)
{
    static volatile int unsupported; /* before Linux 5.14 */
    if (size >= 16384 && !unsupported) {
        if (madvise(p, (size + 4095) & ~(size_t)4095, MADV_POPULATE_WRITE) == 0)
            return;
        unsupported = 1;
    }
    memset(p, 0, size); /* zero already: this only writes each page once */
}

void fl_arena_free(void *p, size_t size)
{
    if (!p)
        return;
    if (size > 2048) {
        if (size <= ((size_t)4096 << (NBIG_CLASSES - 1)))
            big_free(p, size);
        else
            fl_arena_unmap(p, size);
        return;
    }
    int c = class_of(size ? size : 1, 16);
    fl_lock(&arena_lock);
    ((freeobj_t *)p)->next = freelist[c];
    freelist[c] = p;
    fl_unlock(&arena_lock);
}

void fl_arena_foreach(void (*fn)(uintptr_t lo, uintptr_t hi, void *ctx), void *ctx)
{
    for (size_t i = 0; i < nregions; i++)
        fn(regions[i].lo, regions[i].hi, ctx);
}

bool fl_arena_owns(uintptr_t addr)
{
    for (size_t i = 0; i < nregions; i++)
        if (addr >= regions[i].lo && addr < regions[i].hi)
            return true;
    return false;
}

void fl_arena_lock(void)
{
    fl_lock_force(&arena_lock);
}

void fl_arena_unlock(void)
{
    fl_unlock_force(&arena_lock);
}

void fl_arena_reset_after_clone(void)
{
    arena_lock.v = 0;
}

/* ---- stacks of the shim's own ---------------------------------------------------------------
 * For work too deep for the program's stack: libunwind in a signal handler on an 8 KiB
 * sigaltstack (stacks.c), the exit check in a thread made with a 16 KiB stack (exit.c). */
char *fl_stack_map(size_t size)
{
    char *m = fl_arena_map(FL_GUARD + size);
    if (m && mprotect(m, FL_GUARD, PROT_NONE) != 0) {
        fl_arena_unmap(m, FL_GUARD + size);
        m = NULL;
    }
    return m;
}

void fl_stack_unmap(char *base, size_t size)
{
    fl_arena_unmap(base, FL_GUARD + size);
}

__asm__(".text\n"
        ".p2align 4\n"
        ".globl fl_call_on_stack\n"
        ".hidden fl_call_on_stack\n"
        ".type fl_call_on_stack, @function\n"
        "fl_call_on_stack:\n"
        ".cfi_startproc\n"
        "  endbr64\n"
        "  push %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "  mov %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "  mov %rdx, %rsp\n"
        "  mov %rdi, %rax\n"
        "  mov %rsi, %rdi\n"
        "  call *%rax\n"
        "  mov %rbp, %rsp\n"
        ".cfi_def_cfa_register %rsp\n"
        "  pop %rbp\n"
        ".cfi_def_cfa_offset 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size fl_call_on_stack, .-fl_call_on_stack\n");

FL_TLS uintptr_t fl_tl_caller_sp;

void fl_run_on_stack(void *(*fn)(void *), void *arg, size_t size)
{
    char *m = fl_stack_map(size);
    if (!m) {
        fn(arg);
        return;
    }
    uintptr_t prev = fl_tl_caller_sp, sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    fl_tl_caller_sp = sp;
    fl_call_on_stack(fn, arg, m + FL_GUARD + size);
    fl_tl_caller_sp = prev;
    fl_stack_unmap(m, size);
}
