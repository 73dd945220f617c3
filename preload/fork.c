/* fork.c — fork: generations, lineage, the children a process made, and child setup.
 * At fork nothing is O(live blocks): the child only bumps its generation (a block is inherited
 * iff its gen is older), so a 1 M-block heap forks as fast as an empty one. Every shim lock is
 * taken before fork and released in both processes; vfork and posix_spawn children (CLONE_VM, no
 * atfork handlers) are never touched: they fail fl_is_own_process(). */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

fl_proc_t fl_proc;
volatile pid_t fl_known_pid;
uint64_t fl_fork_time_mono;

static fl_child_t *children;
static size_t nchildren, capchildren;
static fl_lock_t children_lock;

bool fl_is_own_process(void)
{
    /* glibc 2.36 getpid() is a real syscall (no cache), so this is right in a vfork child. */
    return getpid() == fl_known_pid;
}

void fl_children_add(pid_t pid, int how)
{
    fl_lock(&children_lock);
    if (nchildren == capchildren) {
        size_t ncap = capchildren ? capchildren * 2 : 64;
        fl_child_t *n = fl_arena_alloc(ncap * sizeof *n);
        if (!n) {
            fl_unlock(&children_lock);
            return;
        }
        if (children) {
            __builtin_memcpy(n, children, nchildren * sizeof *n);
            fl_arena_free(children, capchildren * sizeof *n);
        }
        children = n;
        capchildren = ncap;
    }
    children[nchildren++] = (fl_child_t){pid, (uint8_t)how, fl_now_ns()};
    fl_unlock(&children_lock);
}

size_t fl_children_get(const fl_child_t **out)
{
    *out = children;
    return nchildren;
}

/* Counters of inherited blocks the child freed, by stack id: a directory of 4096-entry chunks
 * mapped on first use. A new child drops the directory pointer (O(1)); the parent's copy stays
 * the parent's. */
#define FREED_CHUNK_BITS 12
#define FREED_DIR_SIZE (1u << 16)
static fl_freed_t **freed_dir;

static fl_freed_t *freed_slot(uint32_t stack, bool create)
{
    fl_freed_t **dir = __atomic_load_n(&freed_dir, __ATOMIC_ACQUIRE);
    uint32_t c = stack >> FREED_CHUNK_BITS;
    if (c >= FREED_DIR_SIZE)
        return NULL;
    if (!dir) {
        if (!create)
            return NULL;
        fl_freed_t **fresh = fl_arena_map(FREED_DIR_SIZE * sizeof *fresh);
        if (!fresh)
            return NULL;
        if (__atomic_compare_exchange_n(&freed_dir, &dir, fresh, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            dir = fresh;
        else
            fl_arena_unmap(fresh, FREED_DIR_SIZE * sizeof *fresh);
    }
    fl_freed_t *chunk = __atomic_load_n(&dir[c], __ATOMIC_ACQUIRE);
    if (!chunk) {
        if (!create)
            return NULL;
        fl_freed_t *fresh = fl_arena_map(sizeof(fl_freed_t) << FREED_CHUNK_BITS);
        if (!fresh)
            return NULL;
        if (__atomic_compare_exchange_n(&dir[c], &chunk, fresh, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            chunk = fresh;
        else
            fl_arena_unmap(fresh, sizeof(fl_freed_t) << FREED_CHUNK_BITS);
    }
    return &chunk[stack & ((1u << FREED_CHUNK_BITS) - 1)];
}

void fl_inherited_freed(uint32_t stack, uint64_t size)
{
    fl_freed_t *f = freed_slot(stack, true);
    if (!f)
        return;
    __atomic_fetch_add(&f->blocks, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&f->bytes, size, __ATOMIC_RELAXED);
}

const fl_freed_t *fl_inherited_freed_get(uint32_t stack)
{
    return freed_slot(stack, false);
}

/* Runs in the child, single-threaded, with every shim lock still held by this thread. */
static void child_setup(pid_t parent_pid, pid_t parent_tid, uint64_t fork_ns)
{
    fl_known_pid = getpid();
    if (fl_proc.lineage_n == sizeof fl_proc.lineage / sizeof fl_proc.lineage[0]) {
        __builtin_memmove(&fl_proc.lineage[0], &fl_proc.lineage[1],
                          sizeof fl_proc.lineage - sizeof fl_proc.lineage[0]);
        fl_proc.lineage_n--;
        fl_proc.lineage_truncated = true;
    }
    fl_proc.lineage[fl_proc.lineage_n].pid = parent_pid;
    fl_proc.lineage[fl_proc.lineage_n].gen = fl_proc.gen;
    fl_proc.lineage_n++;
    fl_proc.pid = fl_known_pid;
    fl_proc.ppid = parent_pid;
    fl_proc.gen++;
    fl_proc.start_ns = fork_ns;
    fl_fork_time_mono = fl_mono_ns();
    nchildren = 0; /* the parent's children are not ours; the array stays (arena, CoW) */
    freed_dir = NULL;
    memset(&fl_pf, 0, sizeof fl_pf);
    memset(&fl_mem_prefault, 0, sizeof fl_mem_prefault);
    /* Forked from a thread other than main: main's stack and TLS are copies nobody runs on. */
    if (parent_tid != parent_pid)
        fl_main_thread_gone = true;
    fl_threads_after_fork_child(parent_tid);
    fl_exit_after_fork_child();
}

/* After every lock is released: the child's memory at fork, then pre-faulting where asked
 * (the child pays for its copies now rather than at some later write; the parent side keeps the
 * child's view of shared pages cheap). */
static void after_fork(pid_t pid)
{
    bool here = pid == 0 ? fl_opt.prefault_in != FL_PREFAULT_IN_PARENT
                         : fl_opt.prefault_in != FL_PREFAULT_IN_CHILD;
    if (pid < 0)
        return;
    int guard = fl_tl_guard;
    fl_tl_guard = 1;
    if (pid == 0)
        fl_mem_read(&fl_mem_start, true);
    if (fl_opt.prefault != FL_PREFAULT_OFF && here) {
        fl_prefault_run();
        if (pid == 0)
            fl_mem_read(&fl_mem_prefault, false);
    }
    fl_tl_guard = guard;
}

pid_t fl_fork(void)
{
    if (fl_real_state != 2)
        fl_real_resolve();
    /* Guard set: a signal handler forks while this thread is inside the shim (a hook that holds
     * a shard lock, the exit check). The shim's locks may be this thread's own, and its tables
     * half way through a change: waiting for them would hang, and the child would find them
     * held. So that child is not tracked (it warns once and leaves no report). */
    if (!fl_active || FL_UNLIKELY(fl_tl_guard)) {
        bool untrack = fl_active;
        pid_t pid = fl_real.fork();
        if (pid == 0) {
            fl_known_pid = getpid();
            if (untrack)
                fl_disable("fork() from a signal handler that interrupted the shim");
        }
        return pid;
    }
    pid_t parent = fl_proc.pid, parent_tid = (pid_t)syscall(SYS_gettid);
    uint64_t t = fl_now_ns();
    fl_tl_guard = 1;
    fl_free_drain(); /* else the child would count the parent's last frees as its own */
    fl_tl_guard = 0;
    /* No signal handler of this thread runs while it holds the gate closed (here, and in the child
     * until child_setup is done): one that allocates would wait at the gate for itself, or for a
     * lock this thread holds, for ever. Signals that come meanwhile are delivered at the end. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    /* Order: drain the hooks, then the locks in the order the hot path nests them (depot and
     * table shards are never held together; the arena is always innermost). glibc takes its own
     * malloc locks after all atfork prepare handlers: shim then glibc, never the reverse. */
    fl_gate_close();
    fl_depot_lock_all();
    fl_table_lock_all();
    fl_lock_force(&children_lock);
    fl_arena_lock();
    /* Other libraries' atfork prepare handlers run inside fork and may malloc: this thread holds
     * every lock already and must pass them (DESIGN.md, "Fork"). */
    fl_tl_fork_holder = 1;
    pid_t pid = fl_real.fork();
    fl_tl_fork_holder = 0;
    if (pid == 0)
        child_setup(parent, parent_tid, t);
    fl_arena_unlock();
    fl_unlock_force(&children_lock);
    fl_table_unlock_all();
    fl_depot_unlock_all();
    fl_gate_open();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid > 0)
        fl_children_add(pid, 0);
    after_fork(pid);
    return pid;
}

FL_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (fl_real_state != 2)
        fl_real_resolve();
    pid_t p;
    int rc = fl_real.posix_spawn(&p, path, fa, attr, argv, envp);
    if (rc == 0) {
        if (pid)
            *pid = p;
        if (fl_active)
            fl_children_add(p, 1);
    }
    return rc;
}

FL_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (fl_real_state != 2)
        fl_real_resolve();
    pid_t p;
    int rc = fl_real.posix_spawnp(&p, file, fa, attr, argv, envp);
    if (rc == 0) {
        if (pid)
            *pid = p;
        if (fl_active)
            fl_children_add(p, 1);
    }
    return rc;
}
