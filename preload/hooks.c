/* hooks.c — the exported entry points: the malloc family, fork, _exit/_Exit, pthread_create.
 * Each is a few lines around the core. A thread-local guard sends the shim's own (re-entrant)
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

static inline void enter(void)
{
    fl_tl_guard = 1;
    fl_gate_enter();
}

static inline void leave(void)
{
    fl_gate_leave();
    fl_tl_guard = 0;
    if (FL_UNLIKELY(fl_snapshot_pending))
        fl_snapshot_deferred();
}

static inline void record(void *p, size_t size)
{
    fl_table_insert((uintptr_t)p, size, fl_stack_capture(), fl_proc.gen);
    if (FL_UNLIKELY(fl_heapmap_on))
        fl_heapmap_mark((uintptr_t)p, size);
}

/* Removes p's record before the real free: once freed, another thread may get the same address
 * back and record it, and removing afterwards would delete that new record (heaptrack does it in
 * this order for the same reason). */
static inline void forget(void *p)
{
    fl_block_t b;
    if (fl_table_remove((uintptr_t)p, &b) && FL_UNLIKELY(b.gen < fl_proc.gen))
        fl_inherited_freed(b.stack, b.size);
}

FL_EXPORT void *malloc(size_t size)
{
    if (!ready())
        return fl_bootstrap_alloc(size, 16);
    if (!tracking())
        return fl_real.malloc(size);
    enter();
    void *p = fl_real.malloc(size);
    if (p)
        record(p, size);
    leave();
    return p;
}

FL_EXPORT void *calloc(size_t n, size_t size)
{
    if (!ready()) {
        size_t total;
        if (__builtin_mul_overflow(n, size, &total))
            return NULL;
        return fl_bootstrap_alloc(total, 16); /* the pool is never reused: already zero */
    }
    if (!tracking())
        return fl_real.calloc(n, size);
    enter();
    void *p = fl_real.calloc(n, size);
    if (p)
        record(p, n * size);
    leave();
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

FL_EXPORT void *realloc(void *p, size_t size)
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
    enter();
    fl_block_t old;
    bool had = p && fl_table_remove((uintptr_t)p, &old);
    void *q = fl_real.realloc(p, size);
    if (had && old.gen < fl_proc.gen && (q || size == 0))
        fl_inherited_freed(old.stack, old.size); /* the inherited block is gone from this child */
    if (q)
        record(q, size);
    else if (had && (size != 0 || !p))
        /* Failed: the old block is untouched and still the program's. (realloc(p, 0) returning
         * NULL freed p, as glibc does.) */
        fl_table_insert(old.addr, old.size, old.stack, old.gen);
    leave();
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

static void *aligned(size_t align, size_t size, int which)
{
    if (!ready())
        return fl_bootstrap_alloc(size, align);
    void *p = NULL;
    bool track = tracking();
    if (track)
        enter();
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
            record(p, size);
        leave();
    }
    return p;
}

FL_EXPORT void *memalign(size_t align, size_t size)
{
    return aligned(align, size, 0);
}

FL_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    return aligned(align, size, 1);
}

FL_EXPORT void *valloc(size_t size)
{
    return aligned(4096, size, 2);
}

FL_EXPORT void *pvalloc(size_t size)
{
    return aligned(4096, size, 3);
}

FL_EXPORT int posix_memalign(void **out, size_t align, size_t size)
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
    enter();
    int rc = fl_real.posix_memalign(out, align, size);
    if (rc == 0)
        record(*out, size);
    leave();
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
    fl_arena_free(p, sizeof(tramp_t));
    pthread_attr_t attr;
    /* pthread_getattr_np allocates: under the guard those go untracked to the real allocator. */
    fl_tl_guard = 1;
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
    tramp_t *t = fl_arena_alloc(sizeof *t);
    if (!t)
        return fl_real.pthread_create(th, attr, fn, arg);
    t->fn = fn;
    t->arg = arg;
    int rc = fl_real.pthread_create(th, attr, thread_start, t);
    if (rc != 0)
        fl_arena_free(t, sizeof *t);
    return rc;
}
