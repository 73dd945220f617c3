/* mmap_arena.c — the arena functions preload/unwind.c calls (its rule table, each thread's record
 * and site cache), on plain mmap, for the programs that link unwind.c without the rest of the
 * shim: the unwinder's unit test (test_unwind.c) and its micro-benchmark (bench/micro.c). */
#include "internal.h"

#include <sys/mman.h>

void *fl_arena_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *fl_arena_alloc(size_t size)
{
    return fl_arena_map(size);
}

void fl_arena_free(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

void fl_arena_unmap(void *p, size_t size)
{
    fl_arena_free(p, size);
}
