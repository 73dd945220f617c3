// Pre-faulting leaves guard pages and read-only mappings alone, on both sides of the fork, and
// never fails on them: a PROT_NONE guard page in the middle of a 1 MiB malloc block (the block's
// mapping is heap, so both modes visit its writable parts), the guard page below a live thread's
// stack, and a resident anonymous mapping made read-only. Right after fork (in the child and in
// the parent) the guards are still PROT_NONE and not resident, the read-only pages are still
// read-only and shared; everything else of the block was pre-faulted. Any difference: exit 99.
// MODES: heap writable
// CFLAGS: -pthread
// ENV: FORKLEAK_PREFAULT_IN=both
// [heap] ENV: FORKLEAK_PREFAULT=heap
// [writable] ENV: FORKLEAK_PREFAULT=writable
// EXPECT-PROCS: 2
// EXPECT all: leaked_blocks=0 prefault.error=none prefault.pages>=255
// [heap] EXPECT all: prefault.mode=heap
// [writable] EXPECT all: prefault.mode=writable
#include "fltest.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>

char *volatile g_block;
static char *guard, *ro;
static int pipefd[2];
static volatile int thread_ready;
static void *thread_stack_lo;
static size_t thread_guard_size;

/* The permissions of the mapping that holds ADDR, from /proc/self/maps ("rw-p"…). */
static void perms(const void *addr, char out[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    FL_REQUIRE(f != NULL);
    char line[512];
    strcpy(out, "none");
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && (uintptr_t)addr >= lo &&
            (uintptr_t)addr < hi) {
            memcpy(out, p, 5);
            break;
        }
    }
    fclose(f);
}

static int resident(const void *addr)
{
    unsigned char v;
    FL_REQUIRE(mincore((void *)((uintptr_t)addr & ~(uintptr_t)4095), 4096, &v) == 0);
    return v & 1;
}

static int exclusive(const void *addr)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    FL_REQUIRE(fd >= 0);
    uint64_t e;
    FL_REQUIRE(pread(fd, &e, 8, (off_t)((uintptr_t)addr / 4096 * 8)) == 8);
    close(fd);
    FL_REQUIRE(e >> 63); /* present */
    return e >> 56 & 1;
}

static void check(void)
{
    char p[5];
    perms(guard, p);
    FL_REQUIRE(strcmp(p, "---p") == 0);
    FL_REQUIRE(!resident(guard));
    if (thread_guard_size) {
        perms(thread_stack_lo, p);
        FL_REQUIRE(strcmp(p, "---p") == 0);
        FL_REQUIRE(!resident(thread_stack_lo));
    }
    perms(ro, p);
    FL_REQUIRE(strcmp(p, "r--p") == 0);
    FL_REQUIRE(!exclusive(ro) && ro[0] == 7);
    /* the block's writable pages on both sides of the guard were pre-faulted */
    FL_REQUIRE(exclusive(guard - 4096) && exclusive(guard + 4096));
}

static void *thread_main(void *arg)
{
    pthread_attr_t a;
    FL_REQUIRE(pthread_getattr_np(pthread_self(), &a) == 0);
    size_t size;
    FL_REQUIRE(pthread_attr_getstack(&a, &thread_stack_lo, &size) == 0);
    FL_REQUIRE(pthread_attr_getguardsize(&a, &thread_guard_size) == 0);
    pthread_attr_destroy(&a);
    /* glibc puts the guard below the stack it reports */
    thread_stack_lo = (char *)thread_stack_lo - thread_guard_size;
    fl_set_flag(&thread_ready);
    char c;
    (void)!read(pipefd[0], &c, 1);
    return arg;
}

static FL_NOINLINE char *alloc_block(void)
{
    char *p = malloc(1u << 20);
    FL_REQUIRE(p != NULL);
    return p;
}

int main(void)
{
    FL_REQUIRE(pipe(pipefd) == 0);
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, thread_main, NULL) == 0);
    fl_wait_flag(&thread_ready);
    g_block = alloc_block();
    guard = (char *)(((uintptr_t)g_block + (512u << 10)) & ~(uintptr_t)4095);
    FL_REQUIRE(mprotect(guard, 4096, PROT_NONE) == 0);
    for (char *q = g_block; q < g_block + (1u << 20); q += 4096)
        if (q < guard || q >= guard + 4096)
            *(volatile char *)q = 1;
    ro = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FL_REQUIRE(ro != MAP_FAILED);
    memset(ro, 7, 16 * 4096);
    FL_REQUIRE(mprotect(ro, 16 * 4096, PROT_READ) == 0);
    int go[2];
    FL_REQUIRE(pipe(go) == 0);
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        check();
        char c;
        FL_REQUIRE(read(go[0], &c, 1) == 1); /* the parent has checked its side */
        exit(0);
    }
    check();
    FL_REQUIRE(write(go[1], "g", 1) == 1);
    int st = fl_wait(pid);
    FL_REQUIRE(write(pipefd[1], "x", 1) == 1);
    pthread_join(t, NULL);
    FL_REQUIRE(mprotect(guard, 4096, PROT_READ | PROT_WRITE) == 0);
    free(g_block);
    g_block = NULL;
    return st;
}
