/* hooks.c — the exported entry points: the malloc family, fork, _exit/_Exit, pthread_create.
 * Each is a few lines around the core (the allocating ones behind a three-instruction stub that
 * passes the caller's frame along). A thread-local guard sends the shim's own (re-entrant)
 * allocations straight to the next allocator, and allocations made before the names are
 * resolved to the bootstrap pool. No hook takes a lock across a call that can re-enter it. */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

FL_TLS volatile int fl_tl_guard;
volatile int fl_active;

/* False while this very thread is resolving the names (we are inside dlsym): use the pool. */
static bool resolve_slow(void)
{
    if (fl_tl_guard)
        return false;
    fl_tl_guard = 1;
    fl_real_resolve();
    fl_tl_guard = 0;
    return true;
}

static inline bool ready(void)
{
    return FL_LIKELY(fl_real_state == 2) || resolve_slow();
}

static inline bool tracking(void)
{
    return FL_LIKELY(fl_active) && !fl_tl_guard;
}

/* Enters a hook that may unwind. The fork gate only matters when another thread could fork (or
 * run the exit check) while this one is inside: with a single thread (glibc's
 * __libc_single_threaded, see table.c) nobody can, and the gate's fence is skipped. The answer is
 * kept for leave(): a thread cannot appear while this one is inside the hook. */
static inline bool enter(void)
{
    fl_tl_guard = 1;
    if (FL_LIKELY(__libc_single_threaded))
        return false;
    fl_gate_enter();
    return true;
}

static inline void leave(bool gated)
{
    if (gated)
        fl_gate_leave();
    fl_tl_guard = 0;
    if (FL_UNLIKELY(fl_snapshot_pending))
        fl_snapshot_deferred();
}

/* Removes p's record; counts the free of an inherited block. */
static inline void forget_now(uintptr_t p)
{
    fl_block_t b;
    if (fl_table_remove(p, &b) && FL_UNLIKELY(b.gen < fl_proc.gen))
        fl_inherited_freed(b.stack, b.size);
}

/* ---- frees whose record is removed a few frees later --------------------------------------------
 * A removal's table slot is a cache miss nothing hides: the free comes with no warning. While the
 * process has one thread, free only starts loading the slot and notes the address; the record goes
 * DEFER frees later, when the slot has arrived. Another thread could get the address back from
 * the allocator and record it meanwhile, so this stops when a second thread appears (glibc's
 * __libc_single_threaded, as in table.c): from then on the first hook of the thread drains what it
 * noted, and so do pthread_create, fork, the exit check and a snapshot, which all read the table.
 * A noted address that malloc hands back to the same thread gets its new record in place of the
 * old one (fl_table_replace). Noted addresses are FL_HIDE()den: TLS is scanned for pointers, and a
 * freed block's address is none. */
#define DEFER FL_FREE_NOTED
static FL_TLS uintptr_t tl_defer[DEFER];
static FL_TLS unsigned tl_defer_pos;
static FL_TLS bool tl_defer_any;

/* With the guard set (a signal handler that allocates must not run this at the same time). */
void fl_free_drain(void)
{
    if (!tl_defer_any)
        return;
    tl_defer_any = false;
    for (unsigned i = 0; i < DEFER; i++) {
        uintptr_t q = tl_defer[i];
        tl_defer[i] = 0;
        if (q)
            forget_now(FL_HIDE(q));
    }
}

size_t fl_free_noted(uintptr_t *out)
{
    size_t n = 0;
    for (unsigned i = 0; i < DEFER; i++)
        if (tl_defer[i])
            out[n++] = FL_HIDE(tl_defer[i]);
    return n;
}

/* Called with the guard set, on every address the allocator hands out: whether it is a noted
 * free's (no longer noted: the new record replaces the old one). glibc's tcache hands the last
 * freed chunk of a size out first, so this is common, and saves the removal altogether. */
static inline bool defer_reused(uintptr_t p)
{
    if (FL_LIKELY(!tl_defer_any))
        return false;
    if (FL_UNLIKELY(!__libc_single_threaded)) {
        fl_free_drain();
        return false;
    }
    bool noted = false;
    for (unsigned i = 0; i < DEFER; i++)
        if (FL_UNLIKELY(tl_defer[i] == FL_HIDE(p))) {
            tl_defer[i] = 0;
            noted = true;
        }
    return noted;
}

/* Records p, allocated by the call whose return-address slot is ra_slot (see "entry stubs" below).
 * The slot for p's record is loaded while the stack is walked: the insert then finds it cached. */
static inline void record(void *p, size_t size, uintptr_t ra_slot, uintptr_t rbp)
{
    bool noted = defer_reused((uintptr_t)p);
    if (!noted) /* else free loaded it */
        fl_table_prefetch((uintptr_t)p);
    fl_block_t old;
    if (fl_table_replace((uintptr_t)p, size, fl_stack_capture_at(ra_slot, rbp), fl_proc.gen,
                         &old) &&
        noted && FL_UNLIKELY(old.gen < fl_proc.gen))
        fl_inherited_freed(old.stack, old.size);
    if (FL_UNLIKELY(fl_heapmap_on))
        fl_heapmap_mark((uintptr_t)p, size);
}

/* Removes p's record before the real free: once freed, another thread may get the same address
 * back and record it, and removing afterwards would delete that new record (heaptrack does it in
 * this order for the same reason). glibc's free reads the chunk header just below p and writes the
 * first words of p: start loading that line now, so that its cache miss overlaps the table's. */
static inline void forget(void *p)
{
    if (fl_glibc_malloc)
        __builtin_prefetch((char *)p - 8, 1, 3);
    if (FL_LIKELY(__libc_single_threaded)) {
        fl_table_prefetch((uintptr_t)p);
        unsigned i = tl_defer_pos;
        uintptr_t q = tl_defer[i];
        /* q stays noted until its record is gone: a signal handler that ends the process in
         * between still knows it was freed (fl_free_noted). */
        if (q)
            forget_now(FL_HIDE(q));
        tl_defer[i] = FL_HIDE(p);
        tl_defer_pos = (i + 1) % DEFER;
        tl_defer_any = true;
        return;
    }
    if (FL_UNLIKELY(tl_defer_any))
        fl_free_drain();
    forget_now((uintptr_t)p);
}

/* ---- entry stubs --------------------------------------------------------------------------------
 * Each allocating entry point is a stub of three instructions that passes its caller's
 * return-address slot (the stack pointer at entry) and RBP to the C hook as two extra arguments,
 * in the first argument registers the function does not use. The stack is then captured from the
 * caller's frame (fl_stack_capture_at), without unwinding through the hook's and the capture's own
 * frames first: those are the shim's and were dropped from the stack anyway. The stubs jump and
 * touch no stack, so their CFI is the plain entry state and they never appear in a backtrace. */
#define FL_ENTRY(name, sp_reg, bp_reg)                                                             \
    __asm__(".text\n"                                                                             \
            ".p2align 4\n"                                                                        \
            ".globl " #name "\n"                                                                  \
            ".type " #name ", @function\n" #name ":\n"                                            \
            ".cfi_startproc\n"                                                                    \
            "  endbr64\n"                                                                         \
            "  mov %rsp, %" sp_reg "\n"                                                           \
            "  mov %rbp, %" bp_reg "\n"                                                           \
            "  jmp fl_hook_" #name "\n"                                                           \
            ".cfi_endproc\n"                                                                      \
            ".size " #name ", .-" #name "\n")
#define FL_HOOK __attribute__((visibility("hidden"), used))
FL_HOOK void *fl_hook_malloc(size_t size, uintptr_t sp, uintptr_t bp);
FL_HOOK void *fl_hook_calloc(size_t n, size_t size, uintptr_t sp, uintptr_t bp);
FL_HOOK void *fl_hook_realloc(void *p, size_t size, uintptr_t sp, uintptr_t bp);
FL_HOOK void *fl_hook_memalign(size_t align, size_t size, uintptr_t sp, uintptr_t bp);
FL_HOOK void *fl_hook_aligned_alloc(size_t align, size_t size, uintptr_t sp, uintptr_t bp);
FL_HOOK void *fl_hook_valloc(size_t size, uintptr_t sp, uintptr_t bp);
FL_HOOK void *fl_hook_pvalloc(size_t size, uintptr_t sp, uintptr_t bp);
FL_HOOK int fl_hook_posix_memalign(void **out, size_t align, size_t size, uintptr_t sp,
                                   uintptr_t bp);
FL_ENTRY(malloc, "rsi", "rdx");
FL_ENTRY(calloc, "rdx", "rcx");
FL_ENTRY(realloc, "rdx", "rcx");
FL_ENTRY(memalign, "rdx", "rcx");
FL_ENTRY(aligned_alloc, "rdx", "rcx");
FL_ENTRY(valloc, "rsi", "rdx");
FL_ENTRY(pvalloc, "rsi", "rdx");
FL_ENTRY(posix_memalign, "rcx", "r8");

void *fl_hook_malloc(size_t size, uintptr_t sp, uintptr_t bp)
{
    if (!ready())
        return fl_bootstrap_alloc(size, 16);
    if (!tracking())
        return fl_real.malloc(size);
    bool gated = enter();
    void *p = fl_real.malloc(size);
    if (p)
        record(p, size, sp, bp);
    leave(gated);
    return p;
}

void *fl_hook_calloc(size_t n, size_t size, uintptr_t sp, uintptr_t bp)
{
    if (!ready()) {
        size_t total;
        if (__builtin_mul_overflow(n, size, &total))
            return NULL;
        return fl_bootstrap_alloc(total, 16); /* the pool is never reused: already zero */
    }
    if (!tracking())
        return fl_real.calloc(n, size);
    bool gated = enter();
    void *p = fl_real.calloc(n, size);
    if (p)
        record(p, n * size, sp, bp);
    leave(gated);
    return p;
}

FL_EXPORT void free(void *p)
{
    if (!p || fl_bootstrap_owns(p))
        return;
    if (tracking()) {
        fl_tl_guard = 1;
        forget(p);
        fl_tl_guard = 0;
    }
    fl_real.free(p);
}

static void *realloc_from_pool(void *p, size_t size)
{
    size_t old = fl_bootstrap_size(p);
    void *q = malloc(size);
    if (q)
        memcpy(q, p, old < size ? old : size);
    return q;
}

void *fl_hook_realloc(void *p, size_t size, uintptr_t sp, uintptr_t bp)
{
    if (!ready()) {
        void *q = fl_bootstrap_alloc(size, 16);
        if (q && p)
            memcpy(q, p, fl_bootstrap_size(p) < size ? fl_bootstrap_size(p) : size);
        return q;
    }
    if (p && fl_bootstrap_owns(p))
        return realloc_from_pool(p, size);
    if (!tracking())
        return fl_real.realloc(p, size);
    bool gated = enter();
    fl_block_t old;
    bool had = p && fl_table_remove((uintptr_t)p, &old);
    void *q = fl_real.realloc(p, size);
    if (had && old.gen < fl_proc.gen && (q || size == 0))
        fl_inherited_freed(old.stack, old.size); /* the inherited block is gone from this child */
    if (q)
        record(q, size, sp, bp);
    else if (had && (size != 0 || !p))
        /* Failed: the old block is untouched and still the program's. (realloc(p, 0) returning
         * NULL freed p, as glibc does.) */
        fl_table_insert(old.addr, old.size, old.stack, old.gen);
    leave(gated);
    return q;
}

FL_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

static void *aligned(size_t align, size_t size, int which, uintptr_t sp, uintptr_t bp)
{
    if (!ready())
        return fl_bootstrap_alloc(size, align);
    void *p = NULL;
    bool track = tracking(), gated = false;
    if (track)
        gated = enter();
    switch (which) {
    case 0: p = fl_real.memalign(align, size); break;
    case 1: p = fl_real.aligned_alloc ? fl_real.aligned_alloc(align, size)
                                      : fl_real.memalign(align, size); break;
    case 2: p = fl_real.valloc ? fl_real.valloc(size) : fl_real.memalign(4096, size); break;
    default:
        p = fl_real.pvalloc ? fl_real.pvalloc(size)
                            : fl_real.memalign(4096, (size + 4095) & ~(size_t)4095);
        break;
    }
    if (track) {
        if (p)
            record(p, size, sp, bp);
        leave(gated);
    }
    return p;
}

void *fl_hook_memalign(size_t align, size_t size, uintptr_t sp, uintptr_t bp)
{
    return aligned(align, size, 0, sp, bp);
}

void *fl_hook_aligned_alloc(size_t align, size_t size, uintptr_t sp, uintptr_t bp)
{
    return aligned(align, size, 1, sp, bp);
}

void *fl_hook_valloc(size_t size, uintptr_t sp, uintptr_t bp)
{
    return aligned(4096, size, 2, sp, bp);
}

void *fl_hook_pvalloc(size_t size, uintptr_t sp, uintptr_t bp)
{
    return aligned(4096, size, 3, sp, bp);
}

int fl_hook_posix_memalign(void **out, size_t align, size_t size, uintptr_t sp, uintptr_t bp)
{
    if (!ready()) {
        void *p = fl_bootstrap_alloc(size, align);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    if (!tracking())
        return fl_real.posix_memalign(out, align, size);
    bool gated = enter();
    int rc = fl_real.posix_memalign(out, align, size);
    if (rc == 0)
        record(*out, size, sp, bp);
    leave(gated);
    return rc;
}

FL_EXPORT size_t malloc_usable_size(void *p)
{
    if (p && fl_bootstrap_owns(p))
        return fl_bootstrap_size(p);
    if (!ready() || !fl_real.malloc_usable_size)
        return 0;
    return fl_real.malloc_usable_size(p);
}

FL_EXPORT pid_t fork(void)
{
    return fl_fork();
}

FL_EXPORT void _exit(int status)
{
    if (fl_active && fl_is_own_process())
        fl_finish(FL_EXIT__EXIT, status, NULL);
    if (ready() && fl_real.exit_)
        fl_real.exit_(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

FL_EXPORT void _Exit(int status)
{
    if (fl_active && fl_is_own_process())
        fl_finish(FL_EXIT__EXIT2, status, NULL);
    if (ready() && fl_real.Exit_)
        fl_real.Exit_(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

/* A library about to be unloaded: remember its map entry (the report is written at exit, when
 * stacks that went through it must still symbolize). */
FL_EXPORT int dlclose(void *handle)
{
    ready();
    struct link_map *lm = NULL;
    if (fl_active && dlinfo(handle, RTLD_DI_LINKMAP, &lm) == 0 && lm) {
        int guard = fl_tl_guard;
        fl_tl_guard = 1;
        fl_report_module_closing((uintptr_t)lm->l_addr, lm->l_name);
        fl_tl_guard = guard;
    }
    int rc = fl_real.dlclose(handle);
    /* Its code addresses may be reused by the next dlopen: cached unwind rules must go. */
    if (rc == 0)
        fl_unwind_flush();
    return rc;
}

/* ---- threads: record each new thread's stack bounds before it runs user code ---- */
typedef struct tramp { void *(*fn)(void *); void *arg; } tramp_t;

static void *thread_start(void *p)
{
    tramp_t t = *(tramp_t *)p;
    /* Under the guard: the arena's lock, and pthread_getattr_np's allocations (untracked). A
     * signal handler that allocates while this holds the arena's lock must not come back into
     * the shim, or it would wait for that lock for ever. */
    fl_tl_guard = 1;
    fl_arena_free(p, sizeof(tramp_t));
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr;
        size_t size;
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            fl_threads_register_self((uintptr_t)addr, (uintptr_t)addr + size);
            fl_unwind_set_stack((uintptr_t)addr, (uintptr_t)addr + size);
        }
        pthread_attr_destroy(&attr);
    }
    fl_tl_guard = 0;
    return t.fn(t.arg);
}

FL_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
                             void *arg)
{
    ready();
    if (!fl_active)
        return fl_real.pthread_create(th, attr, fn, arg);
    int guard = fl_tl_guard;
    fl_tl_guard = 1; /* the arena's lock: see thread_start */
    if (!guard)
        fl_free_drain(); /* the new thread may get those addresses back */
    tramp_t *t = fl_arena_alloc(sizeof *t);
    fl_tl_guard = guard;
    if (!t)
        return fl_real.pthread_create(th, attr, fn, arg);
    t->fn = fn;
    t->arg = arg;
    int rc = fl_real.pthread_create(th, attr, thread_start, t);
    if (rc != 0) {
        fl_tl_guard = 1;
        fl_arena_free(t, sizeof *t);
        fl_tl_guard = guard;
    }
    return rc;
}
