/* internal.h — declarations shared by the files of libforkleak.so, grouped by defining file.
 * Nothing here may allocate from the tracked heap; every function is callable from inside malloc
 * unless its comment says otherwise. */
#ifndef FL_INTERNAL_H
#define FL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FL_EXPORT __attribute__((visibility("default")))
#define FL_LIKELY(x) __builtin_expect(!!(x), 1)
#define FL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define FL_TLS __thread __attribute__((tls_model("initial-exec")))
#define FL_MAX_DEPTH 64
/* An address or register value the shim keeps in TLS (which the exit check scans for pointers),
 * stored with bit 63 flipped: never a user-space pointer, so it keeps no block alive; and
 * order-preserving for user addresses. */
#define FL_HIDE(x) ((uintptr_t)(x) ^ (1ull << 63))

/* Always-on check for conditions that would corrupt the shim's state: it degrades (warns once and
 * stops tracking) instead of aborting the host program. */
#define FL_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (FL_UNLIKELY(!(cond)))                                                                  \
            fl_disable("internal check failed: " #cond " at " __FILE__);                          \
    } while (0)

/* ---- log.c: malloc-free formatting and messages ---- */
size_t fl_vfmt(char *buf, size_t cap, const char *fmt, va_list ap);
size_t fl_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void fl_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fl_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fl_log_raw(const char *s, size_t n);
ssize_t fl_read_file(const char *path, char *buf, size_t cap);
/* The number after NAME (e.g. "\nVmRSS:") in a /proc status-like text; 0 if NAME is absent. */
uint64_t fl_proc_field(const char *text, const char *name);
/* Stops tracking for good (this process and its children): warns once with the reason. */
void fl_disable(const char *why);
uint64_t fl_now_ns(void);      /* CLOCK_REALTIME */
uint64_t fl_mono_ns(void);     /* CLOCK_MONOTONIC */

/* ---- options.c: FORKLEAK_* configuration ---- */
enum fl_prefault_mode { FL_PREFAULT_OFF, FL_PREFAULT_HEAP, FL_PREFAULT_WRITABLE };
enum fl_prefault_in { FL_PREFAULT_IN_CHILD, FL_PREFAULT_IN_PARENT, FL_PREFAULT_IN_BOTH };
enum fl_inherited_mode { FL_INHERITED_SUMMARY, FL_INHERITED_FULL };
typedef struct fl_options {
    char dir[512];
    int depth;
    int prefault;
    int prefault_in;
    bool follow_exec;
    int inherited;
    bool scan_mappings;
    int signal;        /* 0: off */
    bool reachable;    /* list reachable groups too */
    int check_threads; /* 0: auto, 1, 2 */
    bool help;
} fl_options_t;
extern fl_options_t fl_opt;
/* Parses the environment; on an invalid value prints one line and exits with status 2. */
void fl_options_parse(void);
/* Writes "key=value" pairs of the effective settings (for the report's config record). */
size_t fl_options_describe(char *buf, size_t cap);

/* ---- real.c: the next allocator and the bootstrap pool ---- */
typedef struct fl_real_fns {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    void *(*memalign)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
    pid_t (*fork)(void);
    void (*exit_)(int);
    void (*Exit_)(int);
    int (*pthread_create)(void *, const void *, void *(*)(void *), void *);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    int (*fexecve)(int, char *const[], char *const[]);
    int (*posix_spawn)(pid_t *, const char *, const void *, const void *, char *const[],
                       char *const[]);
    int (*posix_spawnp)(pid_t *, const char *, const void *, const void *, char *const[],
                        char *const[]);
    int (*dlclose)(void *);
} fl_real_fns_t;
extern fl_real_fns_t fl_real;
extern volatile int fl_real_state; /* 0 none, 1 resolving, 2 ready */
extern bool fl_glibc_malloc;       /* the next malloc is glibc's (chunk layout known) */
void fl_real_resolve(void);
bool fl_bootstrap_owns(const void *p);
void *fl_bootstrap_alloc(size_t size, size_t align);
size_t fl_bootstrap_size(const void *p);

/* ---- arena.c: the shim's own memory (mmap), never the tracked heap ---- */
void *fl_arena_alloc(size_t size); /* zeroed, 16-byte aligned; NULL on failure */
void fl_arena_free(void *p, size_t size);
void *fl_arena_map(size_t size);   /* page-granular, zeroed, registered as shim memory */
void fl_arena_unmap(void *p, size_t size);
/* A stack of the shim's own: size bytes (a multiple of 4096) above a guard page of FL_GUARD
 * bytes; its top is at the result + FL_GUARD + size. NULL on failure. */
#define FL_GUARD 4096u
char *fl_stack_map(size_t size);
void fl_stack_unmap(char *base, size_t size);
/* Calls fn(arg) with the stack pointer at top (16-byte aligned). Its CFI finds the caller through
 * RBP, so libunwind unwinds from fn back into the caller's frames. */
void *fl_call_on_stack(void *(*fn)(void *), void *arg, void *top);
/* Calls fn(arg) on a fresh stack of size bytes, mapped for the call (or right here if that fails).
 * Meanwhile fl_tl_caller_sp is the thread's own stack pointer at the call: the exit check scans
 * the thread's live stack from there, not from the private one. */
void fl_run_on_stack(void *(*fn)(void *), void *arg, size_t size);
#define FL_CHECK_STACK (256u << 10) /* exit check, snapshots: they use ~18 KiB */
extern FL_TLS uintptr_t fl_tl_caller_sp;
/* Calls fn for each range of shim memory (for the scan to skip). Not thread-safe vs. mapping. */
void fl_arena_foreach(void (*fn)(uintptr_t lo, uintptr_t hi, void *ctx), void *ctx);
bool fl_arena_owns(uintptr_t addr);
/* Makes fresh zero memory from fl_arena_alloc writable at once (its pages allocated now). */
void fl_arena_populate(void *p, size_t size);
void fl_arena_lock(void);
void fl_arena_reset_after_clone(void); /* in a single-threaded copy: the holder is gone */
void fl_arena_unlock(void);

/* ---- sync: spin locks that the forking thread may pass (see fork.c) ---- */
typedef struct { volatile int v; } fl_lock_t;
extern FL_TLS int fl_tl_fork_holder;
void fl_lock_slow(fl_lock_t *l);
/* The locks this thread holds through fl_lock (they nest three deep at most: a depot shard, the
 * depot index, the arena). A signal handler that ends the process while this thread is inside
 * a hook runs the exit check, whose fl_lock_force must not wait for a lock its own interrupted
 * hook holds: it takes that one as already its own. A lock is noted before it is taken and
 * forgotten after it is released, so a signal in between never finds one held but unnoted. */
#define FL_MAX_HELD 4
extern FL_TLS fl_lock_t *fl_tl_held[FL_MAX_HELD];
extern FL_TLS unsigned fl_tl_nheld;
static inline void fl_lock(fl_lock_t *l)
{
    if (FL_UNLIKELY(fl_tl_fork_holder))
        return;
    unsigned n = fl_tl_nheld;
    if (FL_LIKELY(n < FL_MAX_HELD))
        fl_tl_held[n] = l;
    fl_tl_nheld = n + 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (FL_LIKELY(!__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE)))
        return;
    fl_lock_slow(l);
}
/* Released, then forgotten: a signal handler that ends the process in between finds the lock
 * noted and free (fl_lock_force takes it), never held and not noted (it waited for ever). */
static inline void fl_unlock(fl_lock_t *l)
{
    if (FL_UNLIKELY(fl_tl_fork_holder))
        return;
    __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    unsigned n = fl_tl_nheld - 1;
    if (n < FL_MAX_HELD && fl_tl_held[n] != l)
        for (unsigned k = 0; k < n; k++) /* not the innermost: released out of order */
            if (fl_tl_held[k] == l) {
                fl_tl_held[k] = fl_tl_held[n];
                break;
            }
    fl_tl_nheld = n;
}
/* Used by the fork prepare step and the exit check, which must really take the lock (unless this
 * thread holds it already: see fl_tl_held). */
void fl_lock_force(fl_lock_t *l);
void fl_unlock_force(fl_lock_t *l);

/* ---- table.c: live blocks, sharded by address ---- */
typedef struct fl_block {
    uintptr_t addr;
    uint64_t size;
    uint32_t stack;
    uint32_t gen;
} fl_block_t;
/* A record as the exit check's snapshot holds it: the table's own 16 bytes. */
typedef struct fl_snap {
    uint64_t w0;   /* address (low 48 bits) | generation << 48 */
    uint32_t size; /* 0xffffffff: 4 GiB or more, the real size kept aside */
    uint32_t stack;
} fl_snap_t;
#define FL_ADDR_MASK ((1ull << 48) - 1)
uint64_t fl_table_snap_big_size(uintptr_t addr);
static inline uintptr_t fl_snap_addr(const fl_snap_t *b)
{
    return (uintptr_t)(b->w0 & FL_ADDR_MASK);
}
static inline uint32_t fl_snap_gen(const fl_snap_t *b)
{
    return (uint32_t)(b->w0 >> 48);
}
static inline uint64_t fl_snap_size(const fl_snap_t *b)
{
    return FL_LIKELY(b->size != 0xffffffffu) ? b->size : fl_table_snap_big_size(fl_snap_addr(b));
}
void fl_table_insert(uintptr_t addr, size_t size, uint32_t stack, uint32_t gen);
/* The same; if addr had a record, true and that record in *old (the new one replaces it). */
bool fl_table_replace(uintptr_t addr, size_t size, uint32_t stack, uint32_t gen, fl_block_t *old);
/* Removes the record; returns false if addr was not tracked. Fills *out when non-NULL. */
bool fl_table_remove(uintptr_t addr, fl_block_t *out);
bool fl_table_lookup(uintptr_t addr, fl_block_t *out);
/* Starts loading the slot where addr's record goes (no lock, no effect but on the cache). */
void fl_table_prefetch(uintptr_t addr);
size_t fl_table_count(void);
/* Copies every record into out (capacity cap), in address order; returns the number copied, and
 * in *end the highest address + size among them.
 * Caller holds the locks (fl_table_lock_all) or has stopped the world. */
size_t fl_table_snapshot(fl_snap_t *out, size_t cap, uintptr_t *end);
/* The same read slot by slot, trusting no count, each address once: for a table a signal may
 * have cut short in the middle of a change. */
size_t fl_table_snapshot_plain(fl_snap_t *out, size_t cap, uintptr_t *end);
void fl_table_lock_all(void);
void fl_table_unlock_all(void);
size_t fl_table_metadata_bytes(void);

/* ---- stacks.c: unwinding and the stack depot ---- */
typedef struct fl_stack {
    uint32_t id;
    uint16_t n;
    uint16_t flags; /* FL_STACK_* */
    uint64_t hash;
    uintptr_t frames[];
} fl_stack_t;
#define FL_STACK_LDSO 1u /* allocated from the dynamic loader's code: a root, as in LSan */
void fl_stacks_init(void);
/* The stack hash's round (stacks.c, hash_frames): four lanes, the outermost frame first; the lane
 * of a frame absorbs it with fl_hash_round(lane, return address). Shared with unwind.c, which keeps
 * the lanes of the outer part of its previous walk. A lane always has bit 63 set (never a user
 * pointer, for the exit-time scan of TLS). */
static inline uint64_t fl_hash_round(uint64_t lane, uint64_t ra)
{
    uint64_t x = lane + ra * 0xc2b2ae3d27d4eb4full;
    return ((x << 31) | (x >> 33)) * 0x9e3779b185ebca87ull | (1ull << 63);
}
#define FL_HASH_INIT {0x9e3779b185ebca87ull, 0xc2b2ae3d27d4eb4full, 0x85ebca77c2b2ae63ull, \
                      0xd6e8feb86659fd93ull} /* the lanes before the outermost frame */
/* Captures the caller's stack (frames inside the shim dropped) and returns its depot id. */
uint32_t fl_stack_capture(void);
/* The same from a hook's entry state: ra_slot is the stack pointer at the hook's first instruction
 * (its caller's return address), rbp the RBP there. */
uint32_t fl_stack_capture_at(uintptr_t ra_slot, uintptr_t rbp);
/* Frees the calling thread's capture caches for good (it is ending). */
void fl_stacks_thread_exit(void);
const fl_stack_t *fl_depot_get(uint32_t id);
uint32_t fl_depot_count(void);
void fl_depot_lock_all(void);
void fl_depot_unlock_all(void);
bool fl_shim_text_contains(uintptr_t ip);
void fl_shim_range(uintptr_t *lo, uintptr_t *hi); /* the shim's whole loaded image */

/* ---- cfi.c: unwind rules from .eh_frame, as libunwind's unw_backtrace reads them ---- */
enum fl_rule_kind {
    FL_RULE_STANDARD = 1, /* cfa = (cfa_rsp ? RSP : RBP) + cfa_off; RBP = *(cfa + rbp_off) if rbp_saved */
    FL_RULE_LAST,         /* the outermost frame: the walk ends here */
    FL_RULE_ALIGNED,      /* gcc's realigned stack: cfa = *(RBP + cfa_off); RBP = *RBP */
    FL_RULE_LIBUNWIND,    /* anything else: only libunwind knows */
};
typedef struct fl_rule {
    uint8_t kind; /* enum fl_rule_kind */
    bool cfa_rsp, rbp_saved;
    int32_t cfa_off;
    int16_t rbp_off;
} fl_rule_t;
/* The rule unw_backtrace applies to the frame that returns to ra (the return address is at
 * cfa - 8 in STANDARD and ALIGNED frames). Returns false if the answer may change later (no
 * object mapped at ra yet): do not cache it. */
bool fl_cfi_rule(uintptr_t ra, fl_rule_t *out);

/* ---- unwind.c: stack capture, frame for frame what unw_backtrace returns, several times faster ---- */
/* Fills buf with up to max return addresses, starting with the one into the caller: exactly what
 * unw_backtrace(buf, max) would store if called at the same point. Malloc-free, lock-free unless
 * it must hand over to libunwind (signal frames, code without unwind info). */
int fl_unwind(void **buf, int max);
/* fl_unwind's walk from an explicit state: the frame whose return address is at ra_slot, with
 * RBP = rbp (a function's entry state). Returns the number of frames, or -1 where only libunwind
 * could continue: then call fl_unwind from a frame of one's own. With lazy (NULL: never), when the
 * walk replays the thread's previous one and has at most lazy->limit frames in all, only the first
 * lazy->walked are stored in buf and lazy->lane holds the stack hash's lanes (fl_hash_round) after
 * the frames from lazy->walked on; lazy->walked stays as the caller set it otherwise. */
typedef struct fl_unwind_lazy {
    int limit, walked;
    uint64_t lane[4];
} fl_unwind_lazy_t;
int fl_unwind_walk(void **buf, int max, uintptr_t ra_slot, uintptr_t rbp, fl_unwind_lazy_t *lazy);
/* Allocation sites (a per-thread cache of whole stacks by their first state, each checked word by
 * word before use): the id put for the walk from (ra_slot, rbp) if that walk would read the same
 * words again, else 0. Put right after a fl_unwind_walk from the same state. */
uint32_t fl_unwind_site_get(uintptr_t ra_slot, uintptr_t rbp);
void fl_unwind_site_put(uintptr_t ra_slot, uintptr_t rbp, uint32_t id);
/* The calling thread's record and sites (in the arena, not in static TLS: see unwind.c). init
 * makes them if needed and says whether they exist; exit frees them for good (the thread is
 * ending). Without them fl_unwind still gives the same frames, only without shortcuts. */
bool fl_unwind_thread_init(void);
void fl_unwind_thread_exit(void);
/* Tells fl_unwind the calling thread's stack [lo, hi) (from the pthread_create trampoline): spares
 * one read of /proc/self/maps per thread. Optional. */
void fl_unwind_set_stack(uintptr_t lo, uintptr_t hi);
/* Forgets every cached rule and recorded walk (call after dlclose: code addresses may be reused). */
void fl_unwind_flush(void);
typedef struct fl_unwind_stats {
    uint64_t calls;    /* fl_unwind calls with max > 0 */
    uint64_t fast;     /* answered without libunwind */
    uint64_t fallback; /* handed to unw_backtrace */
    uint64_t stopped;  /* ended early: a rule pointed outside the thread's stack */
    uint64_t replayed; /* of the fast ones, finished by replaying this thread's previous walk */
    uint64_t derived;  /* rules derived from .eh_frame (misses) */
    uint64_t learned;  /* stack ranges read from /proc/self/maps */
    uint64_t sites;    /* captures answered by a remembered allocation site (no walk) */
    uint64_t predicted; /* of those, by the site expected after the previous capture's */
    uint64_t rules;    /* rules in the shared table (all threads) */
} fl_unwind_stats_t;
void fl_unwind_get_stats(fl_unwind_stats_t *out); /* this thread's counters; the table's size */

/* ---- threads.c: thread registry, the fork gate, stopping the world ---- */
typedef struct fl_thread_info {
    pid_t tid;
    uint8_t orphan; /* a parent's thread that did not survive the fork into this process */
    uintptr_t stack_lo, stack_hi;
} fl_thread_info_t;
void fl_threads_init(void);
void fl_threads_register_self(uintptr_t stack_lo, uintptr_t stack_hi);
/* Copies the registry (for the scan); returns the count. */
size_t fl_threads_list(fl_thread_info_t *out, size_t cap);
void fl_threads_after_fork_child(pid_t old_tid);
pid_t fl_gettid(void);
/* The fork gate: hooks enter/leave; fork closes the gate and waits for hooks to drain. */
void fl_gate_enter_slow(void);
void fl_gate_close(void);
void fl_gate_open(void);
extern volatile int fl_gate_closed;
extern FL_TLS volatile int *fl_tl_slot;
static inline void fl_gate_enter(void)
{
    volatile int *s = fl_tl_slot;
    if (FL_LIKELY(s != NULL)) {
        __atomic_store_n(s, 1, __ATOMIC_SEQ_CST);
        if (FL_LIKELY(!__atomic_load_n(&fl_gate_closed, __ATOMIC_SEQ_CST)))
            return;
        __atomic_store_n(s, 0, __ATOMIC_SEQ_CST);
    }
    fl_gate_enter_slow();
}
void fl_gate_leave(void);

#define FL_NREGS 16
#define FL_MAX_STOP 8192 /* threads the exit check stops and scans (more: a warning) */
typedef struct fl_tstate {
    pid_t tid;
    volatile int state; /* FL_TS_* */
    bool have_regs, have_sp;
    uintptr_t sp;
    uintptr_t regs[FL_NREGS];
} fl_tstate_t;
enum { FL_TS_PENDING, FL_TS_STOPPED, FL_TS_RESUMED, FL_TS_NOSIGNAL };
typedef struct fl_scan_stats {
    bool checked;
    uint64_t check_ns, scanned_bytes;
    unsigned stopped_threads;
    unsigned nwarnings;
    const char *warnings[8];
} fl_scan_stats_t;
typedef struct fl_world {
    fl_tstate_t *t;          /* the other threads of this process */
    size_t nt;
    bool stopped;
    bool main_dead; /* main called pthread_exit: a zombie leader */
    int sig;
} fl_world_t;
/* Exit-time sequence: lock (close the gate: no thread inside a hook; take the table and depot
 * locks), allocate, stop the other threads (a signal handler copies their registers and waits),
 * scan, resume, unlock. Between stop and resume: no arena, no loader, no malloc. */
uintptr_t fl_regs_from_ucontext(const void *uc, uintptr_t regs[FL_NREGS]);
void fl_world_lock(void);
void fl_world_unlock(void);
void fl_world_stop(fl_world_t *w, fl_scan_stats_t *st);
void fl_world_resume(fl_world_t *w);
void fl_scan_warn(fl_scan_stats_t *st, const char *msg);

/* ---- par.c: a second worker for the exit check ---- */
#define FL_PAR_MIN_BLOCKS 65536
#define FL_PAR_STACK (256u << 10)
typedef void (*fl_par_fn)(void *arg, unsigned worker, unsigned nworkers);
#define FL_PAR_MIN_BYTES ((size_t)32 << 20)
/* With the world stopped: starts a helper thread on stack (FL_PAR_STACK bytes) when
 * FORKLEAK_CHECK_THREADS and the machine allow and the check is big (FL_PAR_MIN_BLOCKS blocks or
 * FL_PAR_MIN_BYTES of anonymous memory). Returns the number of workers (1 or 2). */
unsigned fl_par_begin(void *stack, size_t stack_size, size_t nblocks, size_t anon_bytes);
unsigned fl_par_workers(void);
/* Runs fn(arg, w, nworkers) on every worker w (0 is the caller); returns when all are done. */
void fl_par_run(fl_par_fn fn, void *arg);
/* Ends the helper; returns once it is gone. */
void fl_par_end(void);
/* pread that never sets errno: what the helper may call. */
long fl_raw_pread(int fd, void *buf, size_t n, off_t off);
void fl_raw_yield(void);

/* ---- scan.c: roots, mark, classify ---- */
/* Must run before fl_world_stop: uses dl_iterate_phdr and libunwind, which take loader locks a
 * stopped thread could hold. boundary: the entry point whose caller's frame is the lowest live
 * one (libc's exit, or our _exit wrapper); 0 for "the current frame". */
void fl_scan_prepare(uintptr_t boundary);
struct fl_check;
/* Marks c->blocks[0 .. c->n) (sorted by address) and sets c->kinds. */
void fl_scan_classify(struct fl_check *c);
extern bool fl_main_thread_gone;
void fl_scan_init(void);
void fl_scan_set_self(pid_t tid, uintptr_t sp, const uintptr_t *regs, int nregs);
/* After fl_scan_prepare: bytes of private writable anonymous mappings. */
size_t fl_scan_anon_bytes(void);
void fl_bootstrap_range(uintptr_t *lo, uintptr_t *hi);

/* ---- fork.c: fork, generations, lineage, children ---- */
typedef struct fl_proc {
    pid_t pid, ppid;
    uint32_t gen;
    uint64_t start_ns;
    uint32_t lineage_n;
    struct { pid_t pid; uint32_t gen; } lineage[32]; /* newest last; older ones dropped */
    bool lineage_truncated;
} fl_proc_t;
extern fl_proc_t fl_proc;
extern volatile pid_t fl_known_pid;
/* True when this process is the one the shim set up (not a vfork/posix_spawn child). */
bool fl_is_own_process(void);
pid_t fl_fork(void);
typedef struct fl_child { pid_t pid; uint8_t how; uint64_t time_ns; } fl_child_t;
void fl_children_add(pid_t pid, int how);
size_t fl_children_get(const fl_child_t **out);
/* What this child freed of its inheritance, per allocation stack (counted in free/realloc). */
typedef struct fl_freed { uint64_t blocks, bytes; } fl_freed_t;
void fl_inherited_freed(uint32_t stack, uint64_t size);
const fl_freed_t *fl_inherited_freed_get(uint32_t stack);
extern uint64_t fl_fork_time_mono;

/* ---- hooks.c / state ---- */
extern volatile int fl_active;  /* tracking on */
extern FL_TLS volatile int fl_tl_guard;
/* hooks.c: frees whose record goes a few frees later (one thread only). drain removes the calling
 * thread's noted records now (with the guard set; before anything reads the table); noted gives
 * their addresses (at most FL_FREE_NOTED), for a check that cannot drain. */
#define FL_FREE_NOTED 8
void fl_free_drain(void);
size_t fl_free_noted(uintptr_t *out);
void fl_init(void);

/* ---- prefault.c: memory figures, pre-faulting after fork, CoW by site ---- */
typedef struct fl_mem {
    bool valid, quick;
    uint64_t vsz_kb, rss_kb, private_dirty_kb, shared_clean_kb, shared_dirty_kb, anon_kb;
    uint64_t minflt, majflt;
} fl_mem_t;
typedef struct fl_prefault {
    bool ran;
    int error;
    uint64_t pages, ns;
} fl_prefault_t;
typedef struct fl_cow { bool valid; uint64_t shared_pages, copied_pages; } fl_cow_t;
extern fl_mem_t fl_mem_start, fl_mem_prefault;
extern fl_mem_t fl_mem_now_override;
void fl_pagemap_dump(void);
void fl_pagemap_dump_drop(void);
extern fl_prefault_t fl_pf;
extern bool fl_heapmap_on;
void fl_mem_read(fl_mem_t *m, bool quick);
void fl_heapmap_mark(uintptr_t addr, size_t size);
void fl_prefault_run(void);
/* Opens and maps what fl_cow_attribute needs (NULL if it cannot: the figures are then invalid);
 * fl_cow_end releases it. fl_cow_attribute itself never allocates or sets errno (the exit
 * check's helper thread runs it). */
void *fl_cow_begin(void);
void fl_cow_end(void *h);
void fl_cow_attribute(void *h, const fl_snap_t *b, size_t n, uint32_t gen,
                      uint64_t *pages_by_stack, uint32_t nstacks, fl_cow_t *out);

/* ---- exec.c ---- */
void fl_exec_strip_preload(void);
extern char **environ;

/* ---- snapshot.c: on-demand reports of a running process (FORKLEAK_SIGNAL) ---- */
void fl_snapshot_init(void);
extern volatile int fl_snapshot_pending;
void fl_snapshot_deferred(void);

/* ---- exit.c: the end of a process image ---- */
enum fl_exit_kind { FL_EXIT_EXIT, FL_EXIT__EXIT, FL_EXIT__EXIT2, FL_EXIT_EXEC, FL_EXIT_SNAPSHOT };
void fl_exit_register(void);
/* Runs the check and writes the report once per process image. */
void fl_finish(int kind, int status, const char *exec_target);
void fl_exit_after_fork_child(void);
/* The scan-and-write steps shared by exit and snapshots. */
typedef struct fl_check {
    fl_snap_t *blocks;
    uint32_t *work;
    uint8_t *kinds;
    size_t cap, n;
    uintptr_t end; /* the highest block end */
    uint32_t *work2;   /* the second worker's mark stack */
    uint32_t *pagedir; /* npagedir entries (or NULL: lookups search every block), touched only
                        * when the heap is dense enough to use it */
    size_t npagedir;
    void *par_stack;   /* the second worker's own stack (FL_PAR_STACK) */
    uint8_t *ldso;     /* a bit per stack id: allocated in the dynamic loader (roots) */
    uint32_t nstacks;
    fl_scan_stats_t st;
    fl_world_t world;
    bool interrupted; /* the table may be mid-change (see exit.c): its snapshot is deduplicated */
} fl_check_t;
bool fl_check_alloc(fl_check_t *c);
void fl_check_free(fl_check_t *c);
void fl_check_run(fl_check_t *c);
void fl_check_write(fl_check_t *c, int kind, int status, const char *exec_target);
extern const char *fl_report_suffix;

/* ---- report.c: writing the report file without malloc ---- */
typedef struct fl_group {
    uint32_t stack;
    uint32_t gen;
    uint8_t kind; /* FL_KIND_* */
    uint64_t blocks, bytes;
} fl_group_t;
enum { FL_KIND_LIVE, FL_KIND_DIRECT, FL_KIND_INDIRECT, FL_KIND_ORPHAN, FL_KIND_REACHABLE };
typedef struct fl_outbuf {
    int fd;
    int err;
    size_t len, records;
    char buf[1 << 16];
} fl_outbuf_t;
void fl_out_printf(fl_outbuf_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fl_out_escaped(fl_outbuf_t *o, const char *s, size_t n);
void fl_out_record_end(fl_outbuf_t *o);
void fl_out_flush(fl_outbuf_t *o);
/* Opens the temporary file; returns false (after one warning) if the directory is unusable. */
bool fl_report_open(fl_outbuf_t *o, char *tmp, size_t tmpcap, char *final, size_t finalcap);
bool fl_report_commit(fl_outbuf_t *o, const char *tmp, const char *final);
void fl_report_header(fl_outbuf_t *o, int kind, int status, const char *exec_target);
void fl_report_modules(fl_outbuf_t *o);
void fl_report_modules_prerender(void);
void fl_report_module_closing(uintptr_t base, const char *name);
void fl_report_modules_prerender_drop(void);
void fl_report_stack(fl_outbuf_t *o, uint32_t id, uint8_t *written);
void fl_report_children(fl_outbuf_t *o);


#endif
