// FORKLEAK_PREFAULT=writable breaks copy-on-write of every private writable mapping (resident
// pages), FORKLEAK_PREFAULT=heap only of the heap: [heap] and the anonymous mappings that hold
// tracked blocks. The parent dirties five regions and forks: an initialised 1 MiB array (.data, a
// private file mapping), an 8 MiB .bss array, a 16 MiB anonymous mmap (between 2 MiB PROT_NONE
// guards, so that no tracked block is near it), a 4 MiB malloc block, and 256 KiB of main's
// stack. Right after fork the child reads /proc/self/pagemap: a pre-faulted page is mapped by the
// child alone (exclusive), one still shared with the parent is not. It prints each region's state.
// heap: the malloc block only (the .bss may share a 2 MiB granule with the heap's start, so it may
// be pre-faulted too; the other regions never are); writable: all five.
// MODES: heap writable
// [heap] ENV: FORKLEAK_PREFAULT=heap
// [writable] ENV: FORKLEAK_PREFAULT=writable
// [heap] STDOUT: data=shared bss=(private|shared) anon=shared malloc=private stack=shared\n
// [writable] STDOUT: data=private bss=private anon=private malloc=private stack=private\n
// EXPECT-PROCS: 2
// EXPECT parent: leaked_blocks=0 prefault=null
// EXPECT child: leaked_blocks=0 prefault.error=none
// [heap] EXPECT child: prefault.mode=heap prefault.pages>=1025 prefault.pages<4096
// [writable] EXPECT child: prefault.mode=writable prefault.pages>=7489 memory.prefault.private_dirty_kb>=29952
#include "fltest.h"

#include <fcntl.h>
#include <sys/mman.h>

#define MiB (1u << 20)
char g_data[MiB] = {1};
char g_bss[8 * MiB];
static char *g_anon;
char *volatile g_malloc;

/* "private" if every page of [p, p+len) (but the first and last 4, which neighbours may touch) is
 * mapped by this process alone, "shared" if none is, else "mixed"; "absent" if none is present. */
static const char *state(const void *p, size_t len)
{
    uintptr_t lo = ((uintptr_t)p + 4095) / 4096 + 4, hi = ((uintptr_t)p + len) / 4096 - 4;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    FL_REQUIRE(fd >= 0);
    size_t excl = 0, shared = 0;
    for (uintptr_t pg = lo; pg < hi; pg++) {
        uint64_t e;
        FL_REQUIRE(pread(fd, &e, 8, (off_t)(pg * 8)) == 8);
        if (!(e >> 63))
            continue;
        if (e >> 56 & 1)
            excl++;
        else
            shared++;
    }
    close(fd);
    return !excl && !shared ? "absent" : !shared ? "private" : !excl ? "shared" : "mixed";
}

static FL_NOINLINE char *alloc_malloc(void)
{
    char *p = malloc(4 * MiB);
    FL_REQUIRE(p != NULL);
    return p;
}

static void dirty(char *p, size_t len)
{
    madvise((void *)((uintptr_t)p & ~(uintptr_t)4095), len, MADV_NOHUGEPAGE);
    for (size_t i = 0; i < len; i += 4096)
        ((volatile char *)p)[i] = 1;
}

int main(void)
{
    volatile char stack[256 * 1024];
    /* 16 MiB, 2 MiB-aligned, with 2 MiB PROT_NONE on each side */
    char *res = mmap(NULL, 24 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    FL_REQUIRE(res != MAP_FAILED);
    g_anon = (char *)(((uintptr_t)res + 4 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
    FL_REQUIRE(mprotect(g_anon, 16 * MiB, PROT_READ | PROT_WRITE) == 0);
    g_malloc = alloc_malloc();
    dirty(g_data, sizeof g_data);
    dirty(g_bss, sizeof g_bss);
    dirty(g_anon, 16 * MiB);
    dirty(g_malloc, 4 * MiB);
    for (size_t i = 0; i < sizeof stack; i += 4096)
        stack[i] = 1;
    fflush(stdout);
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        const char *s[5] = {state(g_data, sizeof g_data), state(g_bss, sizeof g_bss),
                            state(g_anon, 16 * MiB), state(g_malloc, 4 * MiB),
                            state((const char *)stack, sizeof stack)};
        printf("data=%s bss=%s anon=%s malloc=%s stack=%s\n", s[0], s[1], s[2], s[3], s[4]);
        exit(0);
    }
    int st = fl_wait(pid);
    free(g_malloc);
    g_malloc = NULL;
    return st;
}
