/* threads.c — the shim's locks, the fork gate and the thread registry.
 * The gate makes fork wait until no other thread is inside a hook: a thread could otherwise be in
 * the middle of unw_backtrace holding libunwind's or ld.so's locks, and the child would deadlock
 * on its first unwind. Each thread announces itself in a padded per-thread slot (one store and a
 * fence on the hot path, no shared counter). Never allocates from the tracked heap. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <ucontext.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

FL_TLS int fl_tl_fork_holder;
FL_TLS volatile int *fl_tl_slot;
static FL_TLS int tl_overflow;
volatile int fl_gate_closed;

#define NSLOTS 1024
static struct {
    volatile int busy;
    volatile pid_t owner;
} __attribute__((aligned(64))) slots[NSLOTS];
static volatile int overflow_busy;
static pthread_key_t slot_key;
static bool slot_key_ok;

static void relax(unsigned *spins)
{
    if (++*spins < 64)
        __builtin_ia32_pause();
    else
        sched_yield();
}

void fl_lock_slow(fl_lock_t *l)
{
    unsigned spins = 0;
    for (;;) {
        while (__atomic_load_n(&l->v, __ATOMIC_RELAXED))
            relax(&spins);
        if (!__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
            return;
    }
}

FL_TLS fl_lock_t *fl_tl_held[FL_MAX_HELD];
FL_TLS unsigned fl_tl_nheld;

static bool held_here(const fl_lock_t *l)
{
    for (unsigned k = 0; k < fl_tl_nheld && k < FL_MAX_HELD; k++)
        if (fl_tl_held[k] == l)
            return true;
    return false;
}

void fl_lock_force(fl_lock_t *l)
{
    if (FL_UNLIKELY(fl_tl_nheld) && held_here(l)) {
        /* The interrupted hook below us holds it (and will never run again), or was about to take
         * it, or had just released it: in the last two cases it is free, and taken here. */
        __atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE);
        return;
    }
    if (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
        fl_lock_slow(l);
}

void fl_unlock_force(fl_lock_t *l)
{
    if (FL_UNLIKELY(fl_tl_nheld) && held_here(l))
        return;
    __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

static pid_t gettid_raw(void)
{
    return (pid_t)syscall(SYS_gettid);
}

pid_t fl_gettid(void)
{
    return gettid_raw();
}

/* The slot key's destructor: the thread is ending. Its capture caches go too, under the guard (a
 * signal handler's malloc must not come into the shim while this holds the arena's lock). */
static void release_slot(void *p)
{
    (void)p;
    int guard = fl_tl_guard;
    fl_tl_guard = 1;
    fl_stacks_thread_exit();
    fl_tl_guard = guard;
    volatile int *s = fl_tl_slot;
    if (!s)
        return;
    fl_tl_slot = NULL;
    size_t i = (size_t)((const char *)s - (const char *)&slots[0].busy) / sizeof slots[0];
    if (i < NSLOTS)
        __atomic_store_n(&slots[i].owner, 0, __ATOMIC_RELEASE);
}

static bool tid_alive(pid_t tid)
{
    return syscall(SYS_tgkill, getpid(), tid, 0) == 0 || errno != ESRCH;
}

/* Takes a free slot (pass 0), or with `reclaim` also one whose thread died without running its
 * key destructor (pass 1: a system call per occupied slot). */
static void acquire_slot(bool reclaim)
{
    pid_t me = gettid_raw();
    for (int pass = 0; pass < (reclaim ? 2 : 1); pass++) {
        for (size_t i = 0; i < NSLOTS; i++) {
            pid_t o = __atomic_load_n(&slots[i].owner, __ATOMIC_RELAXED);
            /* Second pass: take back slots of threads that died without their key destructor. */
            if (o != 0 && (pass == 0 || o == me || tid_alive(o)))
                continue;
            if (__atomic_compare_exchange_n(&slots[i].owner, &o, me, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_RELAXED)) {
                fl_tl_slot = &slots[i].busy;
                /* A non-NULL value makes the key's destructor run at thread exit. Keys below 32
                 * live inside struct pthread: setting one never allocates. */
                if (slot_key_ok)
                    pthread_setspecific(slot_key, (void *)1);
                return;
            }
        }
    }
    /* No slot: the destructor still frees the thread's capture caches. */
    if (slot_key_ok)
        pthread_setspecific(slot_key, (void *)1);
}

/* A thread that found no free slot (more than NSLOTS threads in hooks' reach at once) uses the
 * shared counter, and looks for a slot again only every RETRY_SLOT entries, reclaiming dead
 * threads' slots every RECLAIM_SLOT looks: looking on every entry cost a scan of all slots and
 * up to 1024 system calls per malloc, and made 1200 threads 1000 times slower. */
#define RETRY_SLOT 1024
#define RECLAIM_SLOT 64
static FL_TLS unsigned tl_slot_wait, tl_slot_looks;

void fl_gate_enter_slow(void)
{
    unsigned spins = 0;
    if (!fl_tl_slot && !tl_overflow) {
        if (tl_slot_wait == 0) {
            acquire_slot(tl_slot_looks++ % RECLAIM_SLOT == 0);
            if (!fl_tl_slot)
                tl_slot_wait = RETRY_SLOT;
        } else {
            tl_slot_wait--;
        }
    }
    for (;;) {
        bool pass = fl_tl_fork_holder != 0;
        if (fl_tl_slot) {
            __atomic_store_n(fl_tl_slot, 1, __ATOMIC_SEQ_CST);
            if (pass || !__atomic_load_n(&fl_gate_closed, __ATOMIC_SEQ_CST))
                return;
            __atomic_store_n(fl_tl_slot, 0, __ATOMIC_SEQ_CST);
        } else {
            __atomic_fetch_add(&overflow_busy, 1, __ATOMIC_SEQ_CST);
            tl_overflow = 1;
            if (pass || !__atomic_load_n(&fl_gate_closed, __ATOMIC_SEQ_CST))
                return;
            __atomic_fetch_sub(&overflow_busy, 1, __ATOMIC_SEQ_CST);
            tl_overflow = 0;
        }
        while (__atomic_load_n(&fl_gate_closed, __ATOMIC_ACQUIRE))
            relax(&spins);
    }
}

void fl_gate_leave(void)
{
    if (FL_LIKELY(fl_tl_slot != NULL) && !tl_overflow) {
        __atomic_store_n(fl_tl_slot, 0, __ATOMIC_RELEASE);
    } else if (tl_overflow) {
        tl_overflow = 0;
        __atomic_fetch_sub(&overflow_busy, 1, __ATOMIC_RELEASE);
    }
}

/* Closes the gate and waits until every other thread has left the hooks. The caller (the forking
 * thread) is inside no hook itself. */
static fl_lock_t closer_lock; /* fork and the exit check never close the gate together */

void fl_gate_close(void)
{
    unsigned spins = 0;
    fl_lock_force(&closer_lock);
    __atomic_store_n(&fl_gate_closed, 1, __ATOMIC_SEQ_CST);
    for (size_t i = 0; i < NSLOTS; i++) {
        if (&slots[i].busy == fl_tl_slot)
            continue;
        while (__atomic_load_n(&slots[i].busy, __ATOMIC_SEQ_CST))
            relax(&spins);
    }
    while (__atomic_load_n(&overflow_busy, __ATOMIC_SEQ_CST) > tl_overflow)
        relax(&spins);
}

void fl_gate_open(void)
{
    __atomic_store_n(&fl_gate_closed, 0, __ATOMIC_SEQ_CST);
    fl_unlock_force(&closer_lock);
}

/* ---- thread registry: stack bounds by tid, recorded when the thread starts ---- */
#define NTHREADS 8192
static fl_thread_info_t reg[NTHREADS];
static fl_lock_t reg_lock;

void fl_threads_init(void)
{
    slot_key_ok = pthread_key_create(&slot_key, release_slot) == 0;
}

void fl_threads_register_self(uintptr_t lo, uintptr_t hi)
{
    pid_t tid = gettid_raw();
    fl_lock(&reg_lock);
    size_t i, freeslot = NTHREADS;
    for (i = 0; i < NTHREADS; i++) {
        if (reg[i].tid == tid)
            break;
        if (!reg[i].tid && freeslot == NTHREADS)
            freeslot = i;
    }
    if (i == NTHREADS)
        i = freeslot;
    if (i < NTHREADS)
        reg[i] = (fl_thread_info_t){tid, 0, lo, hi};
    fl_unlock(&reg_lock);
}

size_t fl_threads_list(fl_thread_info_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < NTHREADS && n < cap; i++)
        if (reg[i].tid || reg[i].orphan)
            out[n++] = reg[i];
    return n;
}

/* In the child only the forking thread survives: forget the others' slots and registrations. */
void fl_threads_after_fork_child(pid_t old_tid)
{
    pid_t me = gettid_raw();
    for (size_t i = 0; i < NSLOTS; i++) {
        if (&slots[i].busy == fl_tl_slot) {
            slots[i].owner = me;
            continue;
        }
        slots[i].busy = 0;
        slots[i].owner = 0;
    }
    overflow_busy = tl_overflow;
    for (size_t i = 0; i < NTHREADS; i++) {
        if (reg[i].tid == old_tid) {
            reg[i].tid = me; /* the forking thread lives on, under a new tid */
        } else if (reg[i].tid) {
            /* Its stack is still mapped here, a copy nobody runs on: what only it points to is
             * "orphaned by fork" (google/sanitizers#836), not an ordinary leak. */
            reg[i].tid = 0;
            reg[i].orphan = 1;
        }
    }
    reg_lock.v = 0;
}

/* ---- stopping the world for the exit check ---- */
static fl_tstate_t tstates[FL_MAX_STOP];
static size_t ntstates; /* entries in use: a stopped thread looks for its own among them */
static volatile int world_active, world_release, stop_sig;

static long futex(volatile int *addr, int op, int val, const struct timespec *ts)
{
    return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

/* The general registers of an interrupted context (a signal handler's third argument), all of
 * them: any may hold the only pointer to a block. Returns the stack pointer. */
uintptr_t fl_regs_from_ucontext(const void *ucv, uintptr_t regs[FL_NREGS])
{
    const greg_t *g = ((const ucontext_t *)ucv)->uc_mcontext.gregs;
    static const int which[FL_NREGS] = {REG_RAX, REG_RBX, REG_RCX, REG_RDX, REG_RSI, REG_RDI,
                                        REG_RBP, REG_RSP, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                        REG_R12, REG_R13, REG_R14, REG_R15};
    for (int r = 0; r < FL_NREGS; r++)
        regs[r] = (uintptr_t)g[which[r]];
    return (uintptr_t)g[REG_RSP];
}

static void stop_handler(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    if (!__atomic_load_n(&world_active, __ATOMIC_ACQUIRE))
        return; /* late delivery after a resume: nothing to do */
    int saved = errno;
    pid_t tid = gettid_raw();
    size_t n = __atomic_load_n(&ntstates, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < n; i++) {
        fl_tstate_t *t = &tstates[i];
        if (t->tid != tid)
            continue;
        t->sp = fl_regs_from_ucontext(ucv, t->regs);
        t->have_regs = t->have_sp = true;
        __atomic_store_n(&t->state, FL_TS_STOPPED, __ATOMIC_RELEASE);
        futex(&t->state, FUTEX_WAKE_PRIVATE, 1, NULL);
        while (!__atomic_load_n(&world_release, __ATOMIC_ACQUIRE))
            futex(&world_release, FUTEX_WAIT_PRIVATE, 0, NULL);
        __atomic_store_n(&t->state, FL_TS_RESUMED, __ATOMIC_RELEASE);
        break;
    }
    errno = saved;
}

/* A real-time signal the program leaves at its default, with our handler installed for good:
 * restoring SIG_DFL while a signal may still be in flight would kill the process. */
static int pick_signal(void)
{
    struct sigaction cur;
    if (stop_sig && sigaction(stop_sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == stop_handler)
        return stop_sig;
    for (int sig = SIGRTMAX - 2; sig > SIGRTMIN + 2; sig--) {
        if (sigaction(sig, NULL, &cur) != 0 || cur.sa_handler != SIG_DFL)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = stop_handler;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigfillset(&sa.sa_mask);
        if (sigaction(sig, &sa, NULL) == 0)
            return stop_sig = sig;
    }
    return 0;
}

/* A task that has exited (main after pthread_exit stays a zombie until the process ends). */
static bool task_dead(pid_t tid)
{
    char path[64], buf[512];
    fl_fmt(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    if (fl_read_file(path, buf, sizeof buf) <= 0)
        return true;
    const char *p = strrchr(buf, ')');
    return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

static bool sig_blocked(pid_t tid, int sig)
{
    char path[64], buf[2048];
    fl_fmt(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    if (fl_read_file(path, buf, sizeof buf) <= 0)
        return false;
    const char *p = strstr(buf, "SigBlk:");
    if (!p)
        return false;
    unsigned long long mask = strtoull(p + 7, NULL, 16);
    return (mask >> (sig - 1)) & 1;
}

/* /proc/self/task/<tid>/syscall: "nr a1..a6 sp pc", "-1 sp pc" or "running". */
static bool syscall_sp(pid_t tid, uintptr_t *sp, long *nr)
{
    char path[64], buf[256];
    fl_fmt(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    if (fl_read_file(path, buf, sizeof buf) <= 0 || buf[0] == 'r')
        return false;
    char *tok[10];
    int nt = 0;
    for (char *p = buf; *p && nt < 10;) {
        while (*p == ' ' || *p == '\n')
            p++;
        if (!*p)
            break;
        tok[nt++] = p;
        while (*p && *p != ' ' && *p != '\n')
            p++;
    }
    if (nt < 3)
        return false;
    *nr = strtol(tok[0], NULL, 10);
    *sp = (uintptr_t)strtoull(tok[nt - 2], NULL, 16);
    return true;
}

void fl_world_lock(void)
{
    fl_gate_close();
    fl_depot_lock_all();
    fl_table_lock_all();
}

void fl_world_unlock(void)
{
    fl_table_unlock_all();
    fl_depot_unlock_all();
    fl_gate_open();
}

void fl_world_stop(fl_world_t *w, fl_scan_stats_t *st)
{
    memset(w, 0, sizeof *w);
    w->t = tstates;
    __atomic_store_n(&ntstates, 0, __ATOMIC_RELEASE);
    pid_t self = gettid_raw();
    int sig = pick_signal();
    if (!sig)
        fl_scan_warn(st, "no free real-time signal to stop threads: their registers are not scanned");
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        fl_scan_warn(st, "cannot list /proc/self/task: other threads are not scanned");
        return;
    }
    world_release = 0;
    __atomic_store_n(&world_active, 1, __ATOMIC_RELEASE);
    char dbuf[4096];
    for (;;) {
        long nread = syscall(SYS_getdents64, fd, dbuf, sizeof dbuf);
        if (nread <= 0)
            break;
        for (long off = 0; off < nread;) {
            struct dirent64 *d = (struct dirent64 *)(dbuf + off);
            off += d->d_reclen;
            pid_t tid = (pid_t)strtol(d->d_name, NULL, 10);
            if (tid <= 0 || tid == self)
                continue;
            if (task_dead(tid)) {
                if (tid == getpid())
                    w->main_dead = true; /* its stack and static TLS are no roots */
                continue;
            }
            if (w->nt == FL_MAX_STOP) {
                fl_scan_warn(st, "too many threads: some are not scanned");
                break;
            }
            fl_tstate_t *t = &tstates[w->nt++];
            memset(t, 0, sizeof *t);
            t->tid = tid;
            __atomic_store_n(&ntstates, w->nt, __ATOMIC_RELEASE); /* before its signal */
            long nr = -1;
            uintptr_t sp;
            /* A thread that blocks the signal, or sits in rt_sigtimedwait (128), which would
             * swallow it, is not signalled: its SP comes from /proc, without registers. */
            bool blocked = sig == 0 || sig_blocked(tid, sig);
            bool have = syscall_sp(tid, &sp, &nr);
            if (blocked || nr == 128) {
                t->state = FL_TS_NOSIGNAL;
                if (have) {
                    t->sp = sp;
                    t->have_sp = true;
                }
                continue;
            }
            t->state = FL_TS_PENDING;
            if (syscall(SYS_tgkill, getpid(), tid, sig) != 0)
                t->state = FL_TS_NOSIGNAL; /* it is exiting: nothing of it to scan */
        }
    }
    close(fd);
    /* Wait up to 200 ms in all (DESIGN: 0.6 ms for 16 threads, 8 ms for 64). */
    uint64_t deadline = fl_mono_ns() + 200000000ull;
    /* A thread that blocks the signal for a moment while running (glibc's pthread_create blocks
     * every signal around the clone, and the new thread may be the one exiting) has no stack
     * pointer to read: wait until it unblocks (then stop it) or enters a system call. */
    for (size_t i = 0; sig && i < w->nt; i++) {
        fl_tstate_t *t = &tstates[i];
        while (t->state == FL_TS_NOSIGNAL && !t->have_sp && fl_mono_ns() < deadline) {
            long nr = -1;
            uintptr_t sp;
            if (!sig_blocked(t->tid, sig) && !task_dead(t->tid)) {
                t->state = FL_TS_PENDING;
                if (syscall(SYS_tgkill, getpid(), t->tid, sig) != 0)
                    t->state = FL_TS_NOSIGNAL;
                break;
            }
            if (syscall_sp(t->tid, &sp, &nr)) {
                t->sp = sp;
                t->have_sp = true;
                break;
            }
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
    for (size_t i = 0; i < w->nt; i++) {
        fl_tstate_t *t = &tstates[i];
        while (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == FL_TS_PENDING) {
            uint64_t now = fl_mono_ns();
            if (now >= deadline)
                break;
            struct timespec ts = {0, (long)((deadline - now) < 1000000 ? deadline - now : 1000000)};
            futex(&t->state, FUTEX_WAIT_PRIVATE, FL_TS_PENDING, &ts);
        }
        if (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == FL_TS_STOPPED) {
            st->stopped_threads++;
        } else {
            long nr;
            uintptr_t sp;
            if (!t->have_sp && syscall_sp(t->tid, &sp, &nr)) {
                t->sp = sp;
                t->have_sp = true;
            }
            if (t->state == FL_TS_PENDING)
                fl_scan_warn(st, "a thread did not stop in 200 ms: its whole stack is scanned");
        }
    }
    w->stopped = true;
}

void fl_world_resume(fl_world_t *w)
{
    if (!w->stopped)
        return;
    __atomic_store_n(&world_release, 1, __ATOMIC_RELEASE);
    futex(&world_release, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
    /* Wait (bounded) until they have left the handler, so a later stop starts clean. */
    uint64_t deadline = fl_mono_ns() + 100000000ull;
    for (size_t i = 0; i < w->nt; i++)
        while (__atomic_load_n(&tstates[i].state, __ATOMIC_ACQUIRE) == FL_TS_STOPPED &&
               fl_mono_ns() < deadline)
            sched_yield();
    __atomic_store_n(&world_active, 0, __ATOMIC_RELEASE);
    w->stopped = false;
}
