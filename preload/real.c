/* real.c — finding the next allocator (and fork, _exit, exec…) with dlsym(RTLD_NEXT), so a program
 * linked with jemalloc keeps jemalloc; and the static bootstrap pool that serves the few
 * allocations made before (or while) the names are resolved. Never calls the tracked heap. */
#include "internal.h"

#include <dlfcn.h>
#include <string.h>

fl_real_fns_t fl_real;
bool fl_glibc_malloc;
volatile int fl_real_state;

/* dlsym itself may allocate (a failing lookup calls malloc twice for its error string, see
 * DESIGN.md): those calls land here. 1 MiB covers dlerror buffers and early TLS/DTV blocks. */
#define POOL_SIZE (1u << 20)
static char pool[POOL_SIZE] __attribute__((aligned(64)));
static size_t pool_used;

typedef struct { size_t size, pad; } pool_hdr_t; /* 16 bytes: keeps user pointers 16-aligned */

void *fl_bootstrap_alloc(size_t size, size_t align)
{
    if (align < 16)
        align = 16;
    if (align > 4096 || size > POOL_SIZE)
        return NULL;
    size_t off, next;
    size_t cur = __atomic_load_n(&pool_used, __ATOMIC_RELAXED);
    do {
        off = (cur + sizeof(pool_hdr_t) + align - 1) & ~(align - 1);
        next = off + ((size + 15) & ~(size_t)15);
        if (next > POOL_SIZE)
            return NULL;
    } while (!__atomic_compare_exchange_n(&pool_used, &cur, next, false, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    ((pool_hdr_t *)(pool + off))[-1].size = size;
    return pool + off; /* the pool is zero (.bss) and never reused: calloc needs no memset */
}

bool fl_bootstrap_owns(const void *p)
{
    return (const char *)p >= pool && (const char *)p < pool + POOL_SIZE;
}

void fl_bootstrap_range(uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)pool;
    *hi = (uintptr_t)pool + __atomic_load_n(&pool_used, __ATOMIC_RELAXED);
}

size_t fl_bootstrap_size(const void *p)
{
    return ((const pool_hdr_t *)p)[-1].size;
}

#define RESOLVE(field, name)                                                                       \
    do {                                                                                           \
        void *sym = dlsym(RTLD_NEXT, name);                                                        \
        memcpy(&fl_real.field, &sym, sizeof sym);                                                  \
    } while (0)

/* Resolves every name once, up front (optional names too, so that a failing lookup never happens
 * inside malloc later). The caller's thread has fl_tl_guard set, so allocations dlsym makes go to
 * the bootstrap pool. */
void fl_real_resolve(void)
{
    int expected = 0;
    if (!__atomic_compare_exchange_n(&fl_real_state, &expected, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&fl_real_state, __ATOMIC_ACQUIRE) != 2)
            __builtin_ia32_pause(); /* another thread resolves: it takes microseconds */
        return;
    }
    RESOLVE(malloc, "malloc");
    RESOLVE(free, "free");
    RESOLVE(calloc, "calloc");
    RESOLVE(realloc, "realloc");
    RESOLVE(reallocarray, "reallocarray");
    RESOLVE(memalign, "memalign");
    RESOLVE(posix_memalign, "posix_memalign");
    RESOLVE(aligned_alloc, "aligned_alloc");
    RESOLVE(valloc, "valloc");
    RESOLVE(pvalloc, "pvalloc");
    RESOLVE(malloc_usable_size, "malloc_usable_size");
    RESOLVE(fork, "fork");
    RESOLVE(exit_, "_exit");
    RESOLVE(Exit_, "_Exit");
    RESOLVE(pthread_create, "pthread_create");
    RESOLVE(execve, "execve");
    RESOLVE(execvpe, "execvpe");
    RESOLVE(fexecve, "fexecve");
    RESOLVE(posix_spawn, "posix_spawn");
    RESOLVE(posix_spawnp, "posix_spawnp");
    RESOLVE(dlclose, "dlclose");
    if (!fl_real.malloc || !fl_real.free || !fl_real.calloc || !fl_real.realloc ||
        !fl_real.memalign || !fl_real.posix_memalign) {
        /* Without a next allocator nothing can work: we cannot even warn safely later. */
        static const char msg[] = "forkleak: error: cannot find the next malloc with dlsym\n";
        fl_log_raw(msg, sizeof msg - 1);
    }
    Dl_info info;
    void *m;
    memcpy(&m, &fl_real.malloc, sizeof m);
    fl_glibc_malloc = m && dladdr(m, &info) && info.dli_fname && strstr(info.dli_fname, "/libc.so");
    __atomic_store_n(&fl_real_state, 2, __ATOMIC_RELEASE);
}
