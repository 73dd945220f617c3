/* par.c — a second worker for the exit check, on the core a forking parent leaves idle while it
 * waits for the child. A bare clone()d thread: no TLS of its own (it shares its creator's, so the
 * code it runs must never touch TLS or errno: raw system calls only), every signal blocked (the
 * program never sees it), created after the world is stopped and gone before it resumes. */
#include "internal.h"

#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

static struct {
    unsigned nworkers;
    pid_t pid; /* the process the helper belongs to: a fork child inherits this state, not it */
    volatile int seq;  /* job number: the helper waits for it to change */
    volatile int done; /* the last job number the helper finished */
    volatile int quit;
    volatile pid_t ctid; /* the helper's tid; the kernel clears it when the helper is gone */
    fl_par_fn fn;
    void *arg;
} par;

/* A system call that never writes errno (it would be the creator's: the helper has no TLS). */
static inline long raw6(long nr, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

long fl_raw_pread(int fd, void *buf, size_t n, off_t off)
{
    return raw6(SYS_pread64, fd, (long)buf, (long)n, (long)off, 0, 0);
}

void fl_raw_yield(void)
{
    raw6(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
}

static void wait_while(volatile int *w, int v)
{
    while (__atomic_load_n(w, __ATOMIC_ACQUIRE) == v)
        raw6(SYS_futex, (long)w, FUTEX_WAIT_PRIVATE, v, 0, 0, 0);
}

static void wake(volatile int *w)
{
    raw6(SYS_futex, (long)w, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
}

static int helper_main(void *unused)
{
    (void)unused;
    int seen = 0;
    for (;;) {
        wait_while(&par.seq, seen);
        seen = __atomic_load_n(&par.seq, __ATOMIC_ACQUIRE);
        if (par.quit)
            return 0; /* glibc's clone() then makes the exit system call */
        par.fn(par.arg, 1, par.nworkers);
        __atomic_store_n(&par.done, seen, __ATOMIC_RELEASE);
        wake(&par.done);
    }
}

static unsigned online_cpus(void)
{
    unsigned long mask[16];
    memset(mask, 0, sizeof mask);
    long r = raw6(SYS_sched_getaffinity, 0, sizeof mask, (long)mask, 0, 0, 0);
    unsigned n = 0;
    for (long i = 0; r > 0 && i < r / (long)sizeof mask[0]; i++)
        n += (unsigned)__builtin_popcountl(mask[i]);
    return n;
}

/* A seccomp filter may kill the process for a clone it did not expect. */
static bool sandboxed(void)
{
    char buf[4096];
    ssize_t n = fl_read_file("/proc/self/status", buf, sizeof buf);
    if (n <= 0)
        return true;
    return fl_proc_field(buf, "\nSeccomp:") != 0; /* absent: a kernel without seccomp */
}

unsigned fl_par_begin(void *stack, size_t stack_size, size_t nblocks, size_t anon_bytes)
{
    par.nworkers = 1;
    if (!stack || fl_opt.check_threads == 1)
        return 1;
    if (fl_opt.check_threads == 0 &&
        ((nblocks < FL_PAR_MIN_BLOCKS && anon_bytes < FL_PAR_MIN_BYTES) || online_cpus() < 2))
        return 1;
    if (sandboxed())
        return 1;
    par.seq = par.done = par.quit = 0;
    par.ctid = 0;
    /* The helper starts with every signal blocked (the mask is inherited): a signal for the
     * process goes to one of the program's threads, as if the helper did not exist. */
    uint64_t all = ~0ull, old = 0;
    raw6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, (long)&old, 8, 0, 0);
    int tid = clone(helper_main, (char *)stack + stack_size,
                    CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                        CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID,
                    NULL, &par.ctid, NULL, &par.ctid);
    raw6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8, 0, 0);
    if (tid <= 0)
        return 1;
    par.nworkers = 2;
    par.pid = (pid_t)raw6(SYS_getpid, 0, 0, 0, 0, 0, 0);
    return 2;
}

unsigned fl_par_workers(void)
{
    if (par.nworkers > 1 && par.pid != (pid_t)raw6(SYS_getpid, 0, 0, 0, 0, 0, 0))
        par.nworkers = 1; /* forked (by another thread) while the helper ran: it is not here */
    return par.nworkers ? par.nworkers : 1;
}

void fl_par_run(fl_par_fn fn, void *arg)
{
    if (fl_par_workers() < 2) {
        fn(arg, 0, 1);
        return;
    }
    par.fn = fn;
    par.arg = arg;
    int job = par.seq + 1;
    __atomic_store_n(&par.seq, job, __ATOMIC_RELEASE);
    wake(&par.seq);
    fn(arg, 0, par.nworkers);
    wait_while(&par.done, job - 1);
}

void fl_par_end(void)
{
    if (fl_par_workers() < 2)
        return;
    par.quit = 1;
    __atomic_store_n(&par.seq, par.seq + 1, __ATOMIC_RELEASE);
    wake(&par.seq);
    /* CLONE_CHILD_CLEARTID: the kernel zeroes ctid and wakes us once the helper is gone, after
     * which its stack may be unmapped. */
    for (pid_t t; (t = __atomic_load_n(&par.ctid, __ATOMIC_ACQUIRE)) != 0;)
        raw6(SYS_futex, (long)&par.ctid, FUTEX_WAIT, t, 0, 0, 0);
    par.nworkers = 1;
}
