/* snapshot.c — FORKLEAK_SIGNAL: a running process writes a report of its leaks so far without
 * exiting, for servers whose workers never exit. The process stops only as long as it takes to
 * stop its threads and clone itself: a sweeper (a raw clone with no exit signal, re-parented at
 * once through an intermediate, so the program never sees a child it did not make) marks and
 * writes the report on the copy-on-write image, like Android's libmemunreachable. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

volatile int fl_snapshot_pending;
static unsigned seq;

static pid_t raw_clone(void)
{
    /* No CLONE_VM, exit signal 0: a copy of the process that sends no SIGCHLD and that only
     * __WALL waits see. No atfork handlers run (this may be a signal handler). */
    return (pid_t)syscall(SYS_clone, 0, NULL, NULL, NULL, 0);
}

static _Noreturn void sweep(fl_check_t *c, uint64_t t0)
{
    char suffix[32];
    fl_arena_reset_after_clone();
    fl_check_run(c);
    c->st.check_ns = fl_mono_ns() - t0;
    fl_fmt(suffix, sizeof suffix, ".s%u", seq);
    fl_report_suffix = suffix;
    fl_check_write(c, FL_EXIT_SNAPSHOT, 0, NULL);
    syscall(SYS_exit_group, 0);
    __builtin_unreachable();
}

static void *take_here(void *uc);

/* On a stack of the shim's own, as the exit check (exit.c): this may be a signal handler. */
static void take(const ucontext_t *uc)
{
    fl_run_on_stack(take_here, (void *)uc, FL_CHECK_STACK);
}

static void *take_here(void *ucv)
{
    const ucontext_t *uc = ucv;
    int saved = errno;
    int guard = fl_tl_guard;
    fl_tl_guard = 1;
    fl_free_drain(); /* taken only outside the hooks: the noted frees are whole */
    fl_check_t c;
    memset(&c, 0, sizeof c);
    uint64_t t0 = fl_mono_ns();
    fl_scan_prepare(0);
    if (uc) {
        uintptr_t regs[FL_NREGS];
        uintptr_t sp = fl_regs_from_ucontext(uc, regs);
        fl_scan_set_self(fl_gettid(), sp, regs, FL_NREGS);
    }
    /* The sweeper must not call dl_iterate_phdr: a stopped thread may hold the loader lock. */
    fl_report_modules_prerender();
    /* Memory figures and which pages are exclusively ours, as they are before the sweeper exists:
     * once cloned, every page is mapped twice and would look shared. */
    fl_mem_read(&fl_mem_now_override, false);
    fl_mem_now_override.valid = true;
    if (fl_proc.gen > 0)
        fl_pagemap_dump();
    fl_world_lock();
    if (fl_check_alloc(&c)) {
        fl_world_stop(&c.world, &c.st);
        seq++;
        pid_t mid = raw_clone();
        if (mid == 0) {
            if (raw_clone() == 0)
                sweep(&c, t0);
            syscall(SYS_exit_group, 0);
        }
        fl_world_resume(&c.world);
        fl_world_unlock();
        if (mid > 0)
            while (waitpid(mid, NULL, __WALL) < 0 && errno == EINTR)
                ;
        else
            fl_log_warn("snapshot: cannot clone the sweeper: %s", strerrordesc_np(errno));
    } else {
        fl_world_unlock();
        fl_log_warn("snapshot: out of memory");
    }
    fl_check_free(&c);
    fl_report_modules_prerender_drop();
    fl_pagemap_dump_drop();
    fl_mem_now_override.valid = false;
    fl_tl_guard = guard;
    errno = saved;
    return NULL;
}

static void handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    if (!fl_active || !fl_is_own_process())
        return;
    /* Interrupted inside the shim (a hook holding a shard lock, a fork, the exit check): let the
     * hook take the snapshot when it leaves. */
    if (fl_tl_guard || fl_tl_fork_holder) {
        fl_snapshot_pending = 1;
        return;
    }
    take(uc);
}

void fl_snapshot_deferred(void)
{
    if (!__atomic_exchange_n(&fl_snapshot_pending, 0, __ATOMIC_ACQ_REL) || fl_tl_guard)
        return;
    take(NULL);
}

void fl_snapshot_init(void)
{
    if (!fl_opt.signal)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(fl_opt.signal, &sa, NULL) != 0)
        fl_log_warn("FORKLEAK_SIGNAL: cannot install the handler for signal %d", fl_opt.signal);
}
