/* test_unwind.c — fl_unwind (preload/unwind.c + cfi.c) must return exactly what unw_backtrace
 * returns at the same point. Both are called from one call instruction (through a function
 * pointer in a loop), at the bottom of call chains that mix frame shapes: no frame pointer (this
 * file is built -O2 -fomit-frame-pointer), frame pointers (shapes_fp.c), alloca, big frames, every
 * callee-saved register live (RBP a plain register), over-aligned locals, a realigned (DRAP) stack,
 * varargs, hand-written CFI (a new row right at a return address, a call as a function's last
 * instruction, RBP or RIP undefined mid-stack, an opcode libunwind does not know), C++ cleanups
 * and exceptions (shapes_cxx.cc), libc and ld.so frames (qsort, bsearch, dl_iterate_phdr and
 * pthread_once callbacks), signal handlers (also on an alternate stack), timer signals landing
 * inside captures, a makecontext stack, four threads at once, and rule flushes racing with
 * lookups. Consecutive captures differ at random depths, so the replay of a thread's previous
 * walk is checked against libunwind all along. Any difference is printed frame by frame and
 * fails the test. It also checks that the fast path really ran where it should, and that a wild
 * frame pointer ends the walk instead of crashing it.
 * Output: TAP-like `ok N - name` lines, then `N passed, N failed`; exit status 1 on failure. */
#define UNW_LOCAL_ONLY
#include <alloca.h>
#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <pthread.h>
#include <search.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"
#include "uwtest.h"

#define MAXF 160
static int (*volatile fns[2])(void **, int) = {fl_unwind, unw_backtrace};
static volatile int two = 2;
static __thread int cur_max = 64;
static __thread const char *cur_what = "";
static __thread unsigned long checks_here;
static int failures, total_checks, reported;

static const char *symname(void *ip, char *buf, size_t cap)
{
    Dl_info di;
    if (dladdr(ip, &di) && di.dli_sname)
        snprintf(buf, cap, "%s+%#lx", di.dli_sname, (unsigned long)((char *)ip - (char *)di.dli_saddr));
    else if (dladdr(ip, &di) && di.dli_fname)
        snprintf(buf, cap, "%s+%#lx", strrchr(di.dli_fname, '/') ? strrchr(di.dli_fname, '/') + 1 : di.dli_fname,
                 (unsigned long)((char *)ip - (char *)di.dli_fbase));
    else
        snprintf(buf, cap, "?");
    return buf;
}

/* The comparison. buf[max] carries a canary: neither may write past max entries. */
UW_NOINLINE int uw_check(void)
{
    void *bufs[2][MAXF + 1];
    int n[2];
    int max = cur_max;
    for (int i = 0; i < two; i++) {
        __asm__("" : "+r"(i)); /* opaque: gcc must not peel the loop into two call sites */
        bufs[i][max] = (void *)0x5a5a5a5a;
        n[i] = fns[i](bufs[i], max); /* one call instruction for both: same return address */
    }
    __atomic_add_fetch(&total_checks, 1, __ATOMIC_RELAXED);
    checks_here++;
    bool same = n[0] == n[1] && bufs[0][max] == (void *)0x5a5a5a5a;
    for (int i = 0; same && i < n[0]; i++)
        same = bufs[0][i] == bufs[1][i];
    if (same)
        return 0;
    __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
    if (__atomic_fetch_add(&reported, 1, __ATOMIC_RELAXED) < 3) {
        char s0[128], s1[128];
        flockfile(stdout);
        printf("# MISMATCH in %s, max=%d: fl_unwind returned %d frames, unw_backtrace %d%s\n", cur_what,
               max, n[0], n[1], bufs[0][max] != (void *)0x5a5a5a5a ? " (fl_unwind wrote past max)" : "");
        for (int i = 0; i < (n[0] > n[1] ? n[0] : n[1]); i++)
            printf("#   %2d %c fl %-16p %-36s unw %-16p %s\n", i,
                   i < n[0] && i < n[1] && bufs[0][i] == bufs[1][i] ? ' ' : '*',
                   i < n[0] ? bufs[0][i] : NULL, i < n[0] ? symname(bufs[0][i], s0, sizeof s0) : "",
                   i < n[1] ? bufs[1][i] : NULL, i < n[1] ? symname(bufs[1][i], s1, sizeof s1) : "");
        funlockfile(stdout);
    }
    return 1;
}

/* ---- frame shapes (this file: no frame pointer) ---- */
static volatile int vsink;
static void sink(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

UW_NOINLINE static int shape_plain(int depth, unsigned seed)
{
    int r = uw_descend(depth - 1, seed * 3 + 1);
    return r + (vsink & 0);
}

UW_NOINLINE static int shape_alloca(int depth, unsigned seed)
{
    char *p = alloca(16 + (seed & 63)); /* CFA = RBP + 16 */
    sink(p);
    return uw_descend(depth - 1, seed * 5 + 2) + p[0] * 0;
}

UW_NOINLINE static int shape_big(int depth, unsigned seed)
{
    char big[6000]; /* CFA = RSP + 6000-odd */
    big[seed % sizeof big] = 1;
    sink(big);
    return uw_descend(depth - 1, seed * 7 + 3) + big[0] * 0;
}

/* Keeps many values live across the call: pushes RBX, RBP (as a plain register), R12-R15. */
UW_NOINLINE static int shape_regs(int depth, unsigned seed)
{
    unsigned a = seed * 3, b = seed ^ 0x55, c = seed + 7, d = seed * 11, e = seed ^ 0xaa, f = seed + 99,
             g = seed * 13;
    int r = uw_descend(depth - 1, seed * 11 + 4);
    vsink = (int)(a + b * c - d + e * f + g);
    return r;
}

UW_NOINLINE static int shape_aligned(int depth, unsigned seed)
{
    char buf[64] __attribute__((aligned(64))); /* AND RSP, -64: CFA from RBP */
    buf[seed & 63] = 1;
    sink(buf);
    return uw_descend(depth - 1, seed * 13 + 5) + buf[0] * 0;
}

/* force_align_arg_pointer with a VLA and stack arguments: gcc's DRAP prologue, whose CFA is the
 * expression *(RBP - 16) that libunwind traces as an "aligned" frame. */
UW_NOINLINE __attribute__((force_align_arg_pointer)) static int
shape_drap(int depth, unsigned seed, int a3, int a4, int a5, int a6, int a7, int a8)
{
    char vla[16 + (seed & 31)] __attribute__((aligned(32)));
    memset(vla, a7, sizeof vla);
    sink(vla);
    return uw_descend(depth - 1, seed * 17 + 6) + vla[1] * 0 + a3 + a4 + a5 + a6 - a8;
}

UW_NOINLINE static int shape_varargs(int depth, ...)
{
    va_list ap;
    va_start(ap, depth);
    unsigned seed = va_arg(ap, unsigned);
    va_end(ap);
    return uw_descend(depth - 1, seed * 19 + 7);
}

static int shape_noreturn(int depth, unsigned seed);

/* ---- libc and ld.so frames between ours ---- */
static __thread int cb_depth;
static __thread unsigned cb_seed;
static __thread int cb_result;

static int cmp_descend(const void *a, const void *b)
{
    if (cb_depth >= 0) { /* once per sort */
        int d = cb_depth;
        cb_depth = -1;
        cb_result = uw_descend(d, cb_seed);
    }
    return *(const int *)a - *(const int *)b;
}

UW_NOINLINE static int shape_qsort(int depth, unsigned seed)
{
    int v[2] = {2, 1};
    cb_depth = depth - 1;
    cb_seed = seed * 23 + 8;
    qsort(v, 2, sizeof v[0], cmp_descend);
    return cb_result;
}

UW_NOINLINE static int shape_bsearch(int depth, unsigned seed)
{
    int v[3] = {1, 2, 3}, key = 2;
    cb_depth = depth - 1;
    cb_seed = seed * 29 + 9;
    int *hit = bsearch(&key, v, 3, sizeof v[0], cmp_descend);
    return cb_result + (hit ? 0 : 1);
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *ctx)
{
    (void)info;
    (void)size;
    int *args = ctx;
    cb_result = uw_descend(args[0], (unsigned)args[1]);
    return 1; /* stop after the first object */
}

UW_NOINLINE static int shape_phdr(int depth, unsigned seed)
{
    int args[2] = {depth - 1, (int)(seed * 31 + 10)};
    dl_iterate_phdr(phdr_cb, args);
    return cb_result;
}

static void once_cb(void)
{
    cb_result = uw_descend(cb_depth, cb_seed);
}

UW_NOINLINE static int shape_once(int depth, unsigned seed)
{
    pthread_once_t once = PTHREAD_ONCE_INIT;
    cb_depth = depth - 1;
    cb_seed = seed * 37 + 11;
    pthread_once(&once, once_cb);
    return cb_result;
}

UW_NOINLINE static int shape_fp(int depth, unsigned seed)
{
    return uw_shape_fp(depth, seed) + (vsink & 0);
}

UW_NOINLINE static int shape_cxx(int depth, unsigned seed)
{
    return uw_shape_cxx(depth, seed) + (vsink & 0);
}

/* ---- hand-written CFI: the cases compilers rarely produce ----
 * uw_asm_noreturn ends with its call, so its return address is the first byte of uw_asm_edge
 * (rules must be looked up at ra - 1); uw_asm_edge starts a new CFI row right at its return address;
 * uw_asm_rbp_undef and uw_asm_rip_undef end the chain for libunwind (unw_step returns 0);
 * uw_asm_valoffset uses DW_CFA_val_offset, which libunwind does not implement. */
int uw_asm_edge(int depth, unsigned seed);
int uw_asm_noreturn(int depth, unsigned seed);
int uw_asm_rbp_undef(int depth, unsigned seed);
int uw_asm_rip_undef(int depth, unsigned seed);
int uw_asm_valoffset(int depth, unsigned seed);
void uw_descend_then_jump(int depth, unsigned seed);
__asm__(".text\n"
        ".p2align 4\n"
        ".globl uw_asm_noreturn\n"
        ".type uw_asm_noreturn, @function\n"
        "uw_asm_noreturn:\n"
        ".cfi_startproc\n"
        "  sub $8, %rsp\n"
        ".cfi_def_cfa_offset 16\n"
        "  call uw_descend_then_jump\n"
        ".cfi_endproc\n"
        ".size uw_asm_noreturn, .-uw_asm_noreturn\n"
        ".globl uw_asm_edge\n"
        ".type uw_asm_edge, @function\n"
        "uw_asm_edge:\n"
        ".cfi_startproc\n"
        "  push %rbx\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbx, -16\n"
        "  sub $16, %rsp\n"
        ".cfi_def_cfa_offset 32\n"
        "  lea -1(%rdi), %edi\n"
        "  lea 13(%rsi,%rsi,4), %esi\n"
        "  call uw_descend\n"
        ".cfi_def_cfa_offset 24\n" /* a new row right at the return address */
        "  add $8, %rsp\n"
        "  add $8, %rsp\n"
        ".cfi_def_cfa_offset 16\n"
        "  pop %rbx\n"
        ".cfi_def_cfa_offset 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size uw_asm_edge, .-uw_asm_edge\n"
        ".globl uw_asm_rbp_undef\n"
        ".type uw_asm_rbp_undef, @function\n"
        "uw_asm_rbp_undef:\n"
        ".cfi_startproc\n"
        "  sub $8, %rsp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_undefined %rbp\n"
        "  lea -1(%rdi), %edi\n"
        "  call uw_descend\n"
        "  add $8, %rsp\n"
        ".cfi_def_cfa_offset 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size uw_asm_rbp_undef, .-uw_asm_rbp_undef\n"
        ".globl uw_asm_rip_undef\n"
        ".type uw_asm_rip_undef, @function\n"
        "uw_asm_rip_undef:\n"
        ".cfi_startproc\n"
        "  sub $8, %rsp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_undefined %rip\n"
        "  lea -1(%rdi), %edi\n"
        "  call uw_descend\n"
        "  add $8, %rsp\n"
        ".cfi_def_cfa_offset 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size uw_asm_rip_undef, .-uw_asm_rip_undef\n"
        ".globl uw_asm_valoffset\n"
        ".type uw_asm_valoffset, @function\n"
        "uw_asm_valoffset:\n"
        ".cfi_startproc\n"
        "  push %rbx\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_escape 0x14, 0x03, 0x02\n" /* DW_CFA_val_offset rbx, 2 * -8 */
        "  lea -1(%rdi), %edi\n"
        "  call uw_descend\n"
        "  pop %rbx\n"
        ".cfi_def_cfa_offset 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size uw_asm_valoffset, .-uw_asm_valoffset\n");

static __thread jmp_buf *jump_back;
static __thread int jump_result;

UW_NOINLINE void uw_descend_then_jump(int depth, unsigned seed)
{
    jump_result = uw_descend(depth - 1, seed * 41 + 12);
    longjmp(*jump_back, 1);
}

UW_NOINLINE static int shape_noreturn(int depth, unsigned seed)
{
    jmp_buf jb;
    jmp_buf *volatile saved = jump_back;
    jump_back = &jb;
    if (setjmp(jb) == 0)
        uw_asm_noreturn(depth, seed);
    jump_back = saved;
    return jump_result;
}

enum { NSHAPES = 13, NASM = 5 };
static __thread int allow_libc = 1, allow_asm = 0;

UW_NOINLINE int uw_descend(int depth, unsigned seed)
{
    if (depth <= 0)
        return uw_check();
    unsigned s = allow_asm ? seed % (NSHAPES + NASM) : seed % NSHAPES;
    if (!allow_libc && s >= 8 && s <= 11)
        s = seed % 8;
    switch (s) {
    case 0: return shape_plain(depth, seed);
    case 1: return shape_alloca(depth, seed);
    case 2: return shape_big(depth, seed);
    case 3: return shape_regs(depth, seed);
    case 4: return shape_aligned(depth, seed);
    case 5: return shape_drap(depth, seed, 1, 2, 3, 4, (int)seed, 10);
    case 6: return shape_varargs(depth, seed);
    case 7: return shape_fp(depth, seed);
    case 8: return shape_qsort(depth, seed);
    case 9: return shape_bsearch(depth, seed);
    case 10: return shape_phdr(depth, seed);
    case 11: return shape_once(depth, seed);
    case 12: return shape_cxx(depth, seed);
    case 13: return shape_noreturn(depth, seed);
    case 14: return uw_asm_edge(depth, seed);
    case 15: return uw_asm_rbp_undef(depth, seed);
    case 16: return uw_asm_rip_undef(depth, seed);
    default: return uw_asm_valoffset(depth, seed);
    }
}

/* ---- test driver ---- */
static int tests_run, tests_failed;

static void report(const char *name, bool ok, const char *detail)
{
    tests_run++;
    if (!ok)
        tests_failed++;
    printf("%s %d - %s%s%s\n", ok ? "ok" : "not ok", tests_run, name, detail && *detail ? " # " : "",
           detail ? detail : "");
    fflush(stdout);
}

static const int maxes[] = {1, 2, 3, 5, 8, 17, 30, 46, 64, 100, MAXF};

/* Runs a group and checks: no mismatch, and (when `fast` is set) that fl_unwind answered from its
 * own rules rather than handing every call to libunwind. */
static fl_unwind_stats_t others; /* counters of threads that have ended */
static pthread_mutex_t others_lock = PTHREAD_MUTEX_INITIALIZER;

static void stats_all(fl_unwind_stats_t *s)
{
    fl_unwind_get_stats(s);
    pthread_mutex_lock(&others_lock);
    s->calls += others.calls;
    s->fast += others.fast;
    s->fallback += others.fallback;
    s->stopped += others.stopped;
    pthread_mutex_unlock(&others_lock);
}

static void group(const char *name, void (*body)(void), int fast)
{
    int f0 = failures, c0 = total_checks;
    fl_unwind_stats_t s0, s1;
    stats_all(&s0);
    cur_what = name;
    body();
    stats_all(&s1);
    char detail[200];
    unsigned long calls = (unsigned long)(s1.calls - s0.calls), fb = (unsigned long)(s1.fallback - s0.fallback);
    snprintf(detail, sizeof detail, "%d checks, fl_unwind: %lu calls, %lu fast, %lu to libunwind, %lu stopped",
             total_checks - c0, calls, (unsigned long)(s1.fast - s0.fast), fb,
             (unsigned long)(s1.stopped - s0.stopped));
    bool ok = failures == f0 && total_checks > c0;
    if (fast == 1 && (fb != 0 || s1.stopped != s0.stopped))
        ok = false;
    if (fast == 2 && s1.fast == s0.fast)
        ok = false;
    report(name, ok, detail);
}

static void body_no_libc(void)
{
    allow_libc = 0;
    for (int depth = 0; depth <= 40; depth++)
        for (unsigned seed = 0; seed < NSHAPES * 3; seed++)
            for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
                cur_max = maxes[m];
                uw_descend(depth, seed * 2654435761u + (unsigned)depth);
            }
    allow_libc = 1;
    cur_max = 64;
}

static void body_deep(void)
{
    for (unsigned seed = 0; seed < 40; seed++) {
        allow_libc = 0;
        cur_max = MAXF;
        uw_descend(150, seed);
    }
    allow_libc = 1;
    cur_max = 64;
}

static void body_libc(void)
{
    for (int depth = 1; depth <= 30; depth++)
        for (unsigned seed = 0; seed < 60; seed++) {
            cur_max = maxes[(depth + seed) % (sizeof maxes / sizeof maxes[0])];
            uw_descend(depth, seed);
        }
    cur_max = 64;
}

static void body_asm(void)
{
    allow_asm = 1;
    for (int depth = 0; depth <= 24; depth++)
        for (unsigned seed = 0; seed < (NSHAPES + NASM) * 4; seed++) {
            cur_max = maxes[(depth + seed) % (sizeof maxes / sizeof maxes[0])];
            uw_descend(depth, seed * 2654435761u + (unsigned)depth);
        }
    allow_asm = 0;
    cur_max = 64;
}

static void body_fp(void)
{
    for (int depth = 0; depth < 60; depth++)
        for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
            cur_max = maxes[m];
            uw_fp_chain(depth);
        }
    cur_max = 64;
}

static void body_cxx(void)
{
    for (int depth = 0; depth < 25; depth++)
        for (unsigned seed = 0; seed < 8; seed++) {
            uw_cxx_exceptions(depth, seed);
            uw_cxx_call_once(depth, seed);
        }
}

static void body_max_edges(void)
{
    void *buf[4];
    for (int max = -2; max <= 0; max++) {
        int a = fl_unwind(buf, max), b = unw_backtrace(buf, max);
        if (a != 0 || b != 0) {
            printf("# max=%d: fl_unwind %d, unw_backtrace %d\n", max, a, b);
            failures++;
        }
    }
    total_checks++;
    for (int max = 1; max <= 3; max++) {
        cur_max = max;
        uw_check();
        uw_descend(5, 3);
    }
    cur_max = 64;
}

static volatile sig_atomic_t in_handler;
static void on_signal(int sig)
{
    (void)sig;
    in_handler = 1;
    for (int depth = 0; depth < 6; depth++)
        uw_descend(depth, (unsigned)depth * 3);
    in_handler = 0;
}

UW_NOINLINE static int raise_at(int depth)
{
    if (depth > 0)
        return raise_at(depth - 1) + (vsink & 0);
    raise(SIGUSR1);
    return 0;
}

static void body_signal(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    for (int d = 0; d < 8; d++)
        raise_at(d);
    /* Again on an alternate signal stack: the handler's frames are on another mapping. */
    stack_t ss;
    ss.ss_size = 256 * 1024;
    ss.ss_sp = mmap(NULL, ss.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ss.ss_flags = 0;
    sigaltstack(&ss, NULL);
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    for (int d = 0; d < 8; d++)
        raise_at(d);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    signal(SIGUSR1, SIG_DFL);
}

/* A timer signal lands anywhere, also inside fl_unwind: the handler's own capture (max 2: its
 * frames only, no signal frame, so no libunwind) must not disturb the interrupted one, which
 * reuses its thread's previous walk. The interrupted comparisons catch any disturbance. */
static volatile unsigned long ticks, bad_ticks;
static void on_tick(int sig)
{
    (void)sig;
    void *b[2];
    int saved = errno;
    int n = fl_unwind(b, 2);
    ticks++;
    if (n != 2)
        bad_ticks++;
    errno = saved;
}

static void body_async(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tick;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPROF, &sa, NULL);
    timer_t tm;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev._sigev_un._tid = gettid();
    sev.sigev_signo = SIGPROF;
    if (timer_create(CLOCK_MONOTONIC, &sev, &tm) != 0) {
        printf("# timer_create: %s\n", strerror(errno));
        failures++;
        return;
    }
    struct itimerspec its = {{0, 30000}, {0, 30000}}; /* every 30 us */
    timer_settime(tm, 0, &its, NULL);
    allow_libc = 0;
    for (int round = 0; round < 4; round++)
        for (int depth = 0; depth <= 30; depth++)
            for (unsigned seed = 0; seed < 40; seed++)
                for (int rep = 0; rep < 3; rep++)
                    uw_descend(depth, seed * 7 + (unsigned)round);
    allow_libc = 1;
    timer_delete(tm);
    signal(SIGPROF, SIG_DFL);
    printf("# %lu timer signals handled during the captures\n", ticks);
    if (bad_ticks) {
        printf("# %lu captures in the handler did not return 2 frames\n", bad_ticks);
        failures++;
    }
}

static ucontext_t uc_main, uc_co;
static void co_entry(void)
{
    allow_libc = 0;
    for (int depth = 0; depth < 30; depth++)
        for (unsigned seed = 0; seed < 10; seed++)
            uw_descend(depth, seed);
    allow_libc = 1;
}

static void body_ucontext(void)
{
    size_t size = 1 << 20;
    void *stk = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    getcontext(&uc_co);
    uc_co.uc_stack.ss_sp = stk;
    uc_co.uc_stack.ss_size = size;
    uc_co.uc_link = &uc_main;
    makecontext(&uc_co, co_entry, 0);
    swapcontext(&uc_main, &uc_co);
    munmap(stk, size);
}

static volatile int flushing;
static void *thread_main(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    cur_what = "threads";
    /* Threads 0 and 1 keep a record (as the shim's threads do from their first capture); 2 has
     * none; 3 drops its record halfway, as at thread exit. All must give libunwind's frames. */
    if (id != 2 && !fl_unwind_thread_init()) {
        printf("# fl_unwind_thread_init failed\n");
        failures++;
    }
    for (int round = 0; round < 3; round++) {
        if (id == 3 && round == 1)
            fl_unwind_thread_exit();
        for (int depth = 0; depth <= 30; depth++)
            for (unsigned seed = 0; seed < 26; seed++) {
                cur_max = maxes[(seed + id) % (sizeof maxes / sizeof maxes[0])];
                uw_descend(depth, seed * 977 + id + (unsigned)round);
                if (flushing && (seed % 7) == id)
                    fl_unwind_flush();
            }
    }
    if (id == 3 && fl_unwind_thread_init()) {
        printf("# fl_unwind_thread_init made a record again after fl_unwind_thread_exit\n");
        failures++;
    }
    fl_unwind_stats_t s;
    fl_unwind_get_stats(&s);
    pthread_mutex_lock(&others_lock);
    others.calls += s.calls;
    others.fast += s.fast;
    others.fallback += s.fallback;
    others.stopped += s.stopped;
    others.replayed += s.replayed;
    pthread_mutex_unlock(&others_lock);
    if (id == 2 && s.replayed != 0) {
        printf("# a thread without a record replayed %lu walks\n", (unsigned long)s.replayed);
        failures++;
    }
    if (id < 2 && s.replayed == 0) {
        printf("# thread %u kept a record but never replayed it\n", id);
        failures++;
    }
    return NULL;
}

static void run_threads(int flush)
{
    pthread_t t[4];
    flushing = flush;
    for (unsigned i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    flushing = 0;
}

static void body_threads(void)
{
    run_threads(0);
}

static void body_threads_flush(void)
{
    run_threads(1);
}

/* A frame whose CFI says CFA = RBP + 16 while RBP holds garbage: libunwind would read through it
 * (and crash); fl_unwind must stop there, with the frames up to it. */
int wild_probe(uintptr_t rbp_value, void **buf, int max, int *n);
__asm__(".text\n"
        ".globl wild_probe\n"
        ".type wild_probe, @function\n"
        "wild_probe:\n"
        ".cfi_startproc\n"
        "  push %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "  push %rcx\n"
        ".cfi_def_cfa_offset 24\n"
        "  sub $8, %rsp\n"
        ".cfi_def_cfa_offset 32\n"
        "  mov %rdi, %rbp\n"
        ".cfi_def_cfa %rbp, 16\n"
        "  mov %rsi, %rdi\n"
        "  mov %edx, %esi\n"
        "  call fl_unwind\n"
        ".cfi_def_cfa %rsp, 32\n"
        "  add $8, %rsp\n"
        ".cfi_def_cfa_offset 24\n"
        "  pop %rcx\n"
        ".cfi_def_cfa_offset 16\n"
        "  mov %eax, (%rcx)\n"
        "  pop %rbp\n"
        ".cfi_def_cfa_offset 8\n"
        "  ret\n"
        ".cfi_endproc\n"
        ".size wild_probe, .-wild_probe\n");

static void body_wild(void)
{
    void *buf[16];
    int n = -1;
    uintptr_t wild[] = {0x10, 0x7ffffffff000, (uintptr_t)&n + (64u << 20), ~(uintptr_t)0 - 4096};
    fl_unwind_stats_t s0, s1;
    for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++) {
        fl_unwind_get_stats(&s0);
        wild_probe(wild[i], buf, 16, &n);
        fl_unwind_get_stats(&s1);
        total_checks++;
        /* buf[0] returns into wild_probe; its CFA is wild, so the walk ends after that frame. */
        if (n != 1 || s1.stopped != s0.stopped + 1) {
            printf("# wild rbp %#lx: fl_unwind returned %d frames (want 1), stopped %+ld\n",
                   (unsigned long)wild[i], n, (long)(s1.stopped - s0.stopped));
            failures++;
        }
    }
}

/* ---- allocation sites ------------------------------------------------------------------------
 * fl_unwind_site_get may answer a capture with the id put for an earlier walk from the same
 * state: it must do so only when that walk is this one. site_probe enters like the shim's
 * allocation hooks (a jump that passes the caller's return-address slot and RBP); site_capture
 * asks the sites, walks in any case, and checks a site's answer against the walk's frames. The
 * chains below reach the probe from one leaf, at one stack depth, through 2^SITE_LEVELS paths
 * that differ in the return address at one or more levels: from the same starting state, with the
 * same next return addresses as many others, the deep ones included. One level keeps RBP as a
 * frame pointer (a CFA from RBP), so RBP is part of the state. */
#define SITE_LEVELS 11
#define SITE_MAXF 64
#define SITE_STACKS 4096
static void *site_frames[SITE_STACKS + 1][SITE_MAXF];
static int site_nframes[SITE_STACKS + 1];
static uint32_t site_count; /* ids 1..site_count */
static unsigned long site_hits, site_wrong, site_unwalked;

static uint32_t site_intern(void *const *f, int n)
{
    for (uint32_t id = 1; id <= site_count; id++)
        if (site_nframes[id] == n && memcmp(site_frames[id], f, (size_t)n * sizeof f[0]) == 0)
            return id;
    if (site_count == SITE_STACKS)
        return 0;
    site_count++;
    memcpy(site_frames[site_count], f, (size_t)n * sizeof f[0]);
    site_nframes[site_count] = n;
    return site_count;
}

uint32_t site_capture(uintptr_t ra_slot, uintptr_t rbp);
UW_NOINLINE uint32_t site_capture(uintptr_t ra_slot, uintptr_t rbp)
{
    uint32_t id = fl_unwind_site_get(ra_slot, rbp);
    void *f[SITE_MAXF];
    int n = fl_unwind_walk(f, SITE_MAXF, ra_slot, rbp, NULL);
    total_checks++;
    if (n < 0 || n == SITE_MAXF) {
        site_unwalked++;
        return id;
    }
    if (id) {
        site_hits++;
        if (id > site_count || site_nframes[id] != n ||
            memcmp(site_frames[id], f, (size_t)n * sizeof f[0]) != 0) {
            if (site_wrong++ < 3)
                printf("# a site answered id %u (%d frames), the walk gives %d frames\n", id,
                       id <= site_count ? site_nframes[id] : -1, n);
            failures++;
        }
        return id;
    }
    id = site_intern(f, n);
    fl_unwind_site_put(ra_slot, rbp, id);
    return id;
}

uint32_t site_probe(void);
__asm__(".text\n"
        ".globl site_probe\n"
        ".type site_probe, @function\n"
        "site_probe:\n"
        ".cfi_startproc\n"
        "  mov %rsp, %rdi\n"
        "  mov %rbp, %rsi\n"
        "  jmp site_capture\n"
        ".cfi_endproc\n"
        ".size site_probe, .-site_probe\n");

static int site_chain(int level, unsigned path);

UW_NOINLINE static int site_leaf(void)
{
    return (int)site_probe() + (vsink & 0);
}

UW_NOINLINE static int site_a(int level, unsigned path)
{
    int r = site_chain(level - 1, path);
    return r + (vsink & 0);
}

UW_NOINLINE static int site_b(int level, unsigned path)
{
    int r = site_chain(level - 1, path);
    return r + (vsink & 1);
}

UW_NOINLINE static int site_fp(int level, unsigned path)
{
    char *p = alloca(32); /* CFA = RBP + 16 */
    sink(p);
    return site_chain(level - 1, path) + p[0] * 0;
}

UW_NOINLINE static int site_chain(int level, unsigned path)
{
    if (level == 0)
        return site_leaf();
    if (level == SITE_LEVELS / 2)
        return site_fp(level, path);
    return (path >> level & 1) ? site_b(level, path) : site_a(level, path);
}

/* A path that differs from the others at the levels where a path's bit chooses the function. */
static unsigned site_path(unsigned j)
{
    unsigned path = 0;
    for (int level = 1; j; level++)
        if (level != SITE_LEVELS / 2) {
            path |= (j & 1) << level;
            j >>= 1;
        }
    return path;
}

static void body_sites(void)
{
    /* Groups of paths in a scrambled order, so that consecutive captures differ at random levels;
     * each group three times, so that its later captures can be answered. All paths share their
     * first frames, so they share one place in each cache. Groups of 4 fit the near sites' ways;
     * groups of 12 only the site cache's. The first captures only fill the caches (the site
     * cache is made after some walks). */
    const unsigned npaths = 1u << SITE_LEVELS, mask = npaths - 1;
    static const unsigned groups[] = {4, 12, 4, 12};
    for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
        const unsigned gsize = groups[gi];
        for (unsigned g = 0; g + gsize <= npaths; g += gsize)
            for (int rep = 0; rep < 3; rep++)
                for (unsigned j = 0; j < gsize; j++)
                    site_chain(SITE_LEVELS, ((g + j) * 0x9e5u) & mask);
    }
    printf("# %u stacks, %lu captures answered by a site, %lu not walked\n", site_count, site_hits,
           site_unwalked);
    /* Levels 1..SITE_LEVELS-1 but the frame-pointer one choose between two functions. */
    if (site_hits < 2 * npaths || site_count != (1u << (SITE_LEVELS - 2))) {
        printf("# expected sites to answer, and 2^%d stacks\n", SITE_LEVELS - 2);
        failures++;
    }

    /* The sites expected next: 48 paths captured in one order over and over, whose sites are then
     * expected right (each follows the same one every time); then in alternately the reverse and
     * the first order, where every first expectation is a wrong site from the same starting state
     * (and for many with the same next return addresses), which the check must reject, and from
     * the second switch on every second expectation is right. More paths than the near sites
     * hold, so that most captures come to the site cache. */
    fl_unwind_stats_t s0, s1, s2;
    fl_unwind_get_stats(&s0);
    for (int rep = 0; rep < 20; rep++)
        for (unsigned j = 0; j < 48; j++)
            site_chain(SITE_LEVELS, site_path(j));
    fl_unwind_get_stats(&s1);
    for (int rep = 0; rep < 10; rep++)
        for (unsigned k = 0; k < 48; k++)
            site_chain(SITE_LEVELS, site_path(rep & 1 ? k : 47 - k));
    fl_unwind_get_stats(&s2);
    printf("# expected next: %llu of 960 captures in a repeated order, %llu of 480 in orders that "
           "change\n",
           (unsigned long long)(s1.predicted - s0.predicted),
           (unsigned long long)(s2.predicted - s1.predicted));
    if (s1.predicted - s0.predicted < 480 || s2.predicted - s1.predicted < 240) {
        printf("# expected the sites after the previous one to answer most captures\n");
        failures++;
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!fl_unwind_thread_init()) {
        printf("fl_unwind_thread_init failed\n");
        return 1;
    }
    group("no-frame-pointer shapes, depths 0-40, 11 max values", body_no_libc, 1);
    group("deep stacks (150 frames, max 160)", body_deep, 1);
    group("frame-pointer chain", body_fp, 1);
    group("hand-written CFI: CFA change at the return address, call at a function's end, "
          "RBP/RIP undefined mid-stack, DW_CFA_val_offset", body_asm, 2);
    group("libc and ld.so frames (qsort, bsearch, dl_iterate_phdr, pthread_once)", body_libc, 2);
    group("C++ exceptions: destructors, catch, rethrow, call_once", body_cxx, 2);
    group("max <= 3", body_max_edges, 0);
    group("signal handlers (own stack and sigaltstack)", body_signal, 0);
    group("timer signals interrupting captures", body_async, 1);
    group("makecontext stack (ends in __start_context, which has no CFI)", body_ucontext, 0);
    group("4 threads", body_threads, 1);
    group("4 threads with concurrent rule flushes", body_threads_flush, 1);
    group("wild frame pointer stops the walk", body_wild, 0);
    group("allocation sites answer only for the same stack", body_sites, 1);
    fl_unwind_stats_t st;
    fl_unwind_get_stats(&st);
    printf("# %lu unwind rules cached; main thread derived %lu, read its stack range %lu times, "
           "replayed %lu walks\n", (unsigned long)st.rules, (unsigned long)st.derived,
           (unsigned long)st.learned, (unsigned long)st.replayed);
    report("the main thread replays its previous walk", st.replayed > 0, NULL);
    printf("%d passed, %d failed\n", tests_run - tests_failed, tests_failed);
    return tests_failed ? 1 : 0;
}
