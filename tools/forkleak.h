/* forkleak.h — declarations shared by the forkleak tool (every tools/ file), grouped by the file
 * that defines them. The tool reads, symbolizes and presents reports offline; it never runs inside
 * the program it checks (that is libforkleak.so's job) and never trusts a report file. */
#ifndef FL_FORKLEAK_H
#define FL_FORKLEAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FL_VERSION        "0.1.0"
#define FL_JSON_VERSION   1
#define FL_REPORT_VERSION 1

/* ---- util.c: memory, growable arrays, strings, diagnostics ---- */

/* Growable array of T: FL_VEC(T) v = {0}; T *e = FL_PUSH(v); free(v.v). */
#define FL_VEC(T) struct { T *v; size_t n, cap; }
#define FL_PUSH(vec)                                                                   \
    ((vec).n == (vec).cap ? (void)((vec).v = fl_grow((vec).v, &(vec).cap, sizeof *(vec).v)) \
                          : (void)0,                                                   \
     memset(&(vec).v[(vec).n], 0, sizeof *(vec).v), &(vec).v[(vec).n++])

/* malloc/calloc/realloc/strdup that exit with a message when memory runs out. */
void *fl_xmalloc(size_t n);
void *fl_xcalloc(size_t n, size_t size);
void *fl_xrealloc(void *p, size_t n);
char *fl_xstrdup(const char *s);
char *fl_xstrndup(const char *s, size_t n);
/* Grows an array to at least *cap + 1 elements (doubling); used by FL_PUSH. */
void *fl_grow(void *p, size_t *cap, size_t elem);
/* printf into a fresh malloc'd string. */
char *fl_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* qsort that accepts an empty (NULL) array, which qsort itself must not be given. */
static inline void fl_sort(void *base, size_t n, size_t size,
                           int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

/* Saturating addition: hostile reports may carry counts near UINT64_MAX. */
static inline uint64_t fl_sat_add(uint64_t a, uint64_t b)
{
    return a + b < a ? UINT64_MAX : a + b;
}

/* Interns a string: equal strings give the same pointer, valid until fl_intern_free(). */
const char *fl_intern(const char *s);
const char *fl_intern_n(const char *s, size_t n);
void fl_intern_free(void);

/* 64-bit FNV-1a hash. */
uint64_t fl_hash_bytes(const void *p, size_t n, uint64_t h);
#define FL_HASH_SEED 0xcbf29ce484222325ULL

/* Open-addressing map from a u64 key to a pointer (NULL: absent). */
typedef struct fl_map {
    uint64_t *keys;
    void **vals;
    size_t cap, n;
    void *zero_val;
} fl_map_t;
void *fl_map_get(const fl_map_t *m, uint64_t key);
void fl_map_put(fl_map_t *m, uint64_t key, void *val);
void fl_map_free(fl_map_t *m);

/* Dynamic string buffer. */
typedef struct fl_buf {
    char *s;
    size_t len, cap;
} fl_buf_t;
void fl_buf_add(fl_buf_t *b, const char *s, size_t n);
void fl_buf_printf(fl_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One bad input: a report or suppression file, the line (0: the whole file), what was wrong. */
typedef struct fl_diag {
    char *file;
    unsigned long line;
    char *message;
} fl_diag_t;
typedef FL_VEC(fl_diag_t) fl_diags_t;
void fl_diag_add(fl_diags_t *d, const char *file, unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fl_diags_print(const fl_diags_t *d, FILE *f);
void fl_diags_free(fl_diags_t *d);

/* Messages of the tool itself: "forkleak: error: …" / "forkleak: warning: …" on stderr. */
void fl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes each distinct warning once (keyed by its text). */
void fl_warn_once(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fl_warn_once_reset(void);
/* Prints a usage error ("forkleak: error: …" and a hint naming CMD's --help); returns 2. */
int fl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict unsigned parse of a whole string: decimal, or hex with 0x. false on junk/overflow. */
bool fl_parse_u64(const char *s, uint64_t *out);
/* "12", "12.5": a non-negative decimal number. */
bool fl_parse_decimal(const char *s, double *out);
const char *fl_basename(const char *path);

/* ---- reader.c: one report file into an fl_report_t ---- */

typedef enum fl_kind {
    FL_KIND_DIRECT,
    FL_KIND_INDIRECT,
    FL_KIND_ORPHAN,
    FL_KIND_LIVE,
    FL_KIND_REACHABLE,
    FL_KIND_COUNT
} fl_kind_t;
extern const char *const fl_kind_names[FL_KIND_COUNT];

struct fl_symmod;
struct fl_symstack;

typedef struct fl_module {
    uint64_t id, base, lo, hi;
    const char *buildid; /* lower-case hex, NULL when the report says "-" */
    const char *path;
    struct fl_symmod *sym; /* symbolize.c's cache entry, set lazily */
} fl_module_t;

typedef struct fl_stack {
    uint64_t id;
    uint32_t nframes;
    uint64_t *ips;
    unsigned long line;
    struct fl_symstack *sym; /* symbolize.c's result, set lazily */
} fl_stack_t;

typedef struct fl_group {
    fl_kind_t kind;
    bool inherited;
    int64_t from_pid;
    uint64_t from_gen;
    uint64_t stack_id;
    fl_stack_t *stack;
    uint64_t blocks, bytes;
    unsigned long line;
    /* analyze.c */
    bool shown;
    int supp; /* index of the suppression that matched, -1 none */
} fl_group_t;

typedef struct fl_inherit {
    uint64_t stack_id;
    fl_stack_t *stack;
    uint64_t blocks, bytes, freed_blocks, freed_bytes, live_blocks, live_bytes, leaked_blocks,
        leaked_bytes;
    unsigned long line;
} fl_inherit_t;

typedef struct fl_block {
    uint64_t addr, size, gen, stack_id;
    fl_stack_t *stack;
    fl_kind_t kind;
    unsigned long line;
} fl_block_t;

typedef struct fl_memory {
    bool present;
    uint64_t vsz_kb, rss_kb, private_dirty_kb, shared_clean_kb, shared_dirty_kb, anon_kb, minflt,
        majflt;
    unsigned has; /* FL_MEM_HAS_* bits: the keys the record had (a child's start lacks some) */
} fl_memory_t;
enum {
    FL_MEM_HAS_VSZ = 1, FL_MEM_HAS_RSS = 2, FL_MEM_HAS_PRIVATE_DIRTY = 4, FL_MEM_HAS_SHARED_CLEAN = 8,
    FL_MEM_HAS_SHARED_DIRTY = 16, FL_MEM_HAS_ANON = 32, FL_MEM_HAS_MINFLT = 64, FL_MEM_HAS_MAJFLT = 128
};

enum { FL_MEM_START, FL_MEM_PREFAULT, FL_MEM_EXIT };

typedef struct fl_cow_site {
    uint64_t stack_id;
    fl_stack_t *stack;
    uint64_t pages, bytes;
    unsigned long line;
} fl_cow_site_t;

typedef struct fl_child {
    int64_t pid;
    uint64_t time_ns;
    const char *how;
    struct fl_node *node; /* tree.c: the child's node (a report or a placeholder) */
} fl_child_t;

typedef struct fl_lineage {
    int64_t pid;
    uint64_t gen;
} fl_lineage_t;

typedef struct fl_kv {
    const char *key, *value;
} fl_kv_t;

typedef struct fl_summary {
    bool present;
    const char *check; /* "reachability", "none", or what the report said */
    uint64_t direct_blocks, direct_bytes, indirect_blocks, indirect_bytes, orphan_blocks,
        orphan_bytes, reachable_blocks, reachable_bytes, live_blocks, live_bytes, scanned_bytes;
    double check_ms;
    bool has_check_ms, has_scanned;
} fl_summary_t;

typedef struct fl_report {
    char *file;
    int64_t pid, ppid;
    uint64_t gen, start_ns, end_ns, tid;
    FL_VEC(fl_lineage_t) lineage;
    const char *exe;
    FL_VEC(const char *) argv;
    const char *exit_kind; /* exit, _exit, _Exit, exec, snapshot (or a newer kind) */
    int64_t exit_status;
    const char *exit_target;
    FL_VEC(fl_kv_t) config;
    FL_VEC(fl_module_t) modules; /* sorted by lo after reading */
    FL_VEC(fl_stack_t) stacks;   /* sorted by id after reading */
    FL_VEC(fl_group_t) groups;
    FL_VEC(fl_inherit_t) inherits;
    FL_VEC(fl_block_t) blocks;
    fl_memory_t mem[3]; /* FL_MEM_START, FL_MEM_PREFAULT (right after pre-faulting), FL_MEM_EXIT */
    bool cow_present;
    uint64_t cow_shared_pages, cow_copied_pages;
    FL_VEC(fl_cow_site_t) cow_sites;
    bool prefault_present;
    const char *prefault_mode, *prefault_error;
    uint64_t prefault_pages, prefault_bytes;
    double prefault_ms;
    FL_VEC(fl_child_t) children;
    fl_summary_t summary;
    FL_VEC(const char *) warnings; /* from the report's warning records */
    FL_VEC(char *) notes;          /* found by the tool (inconsistent totals, superseded…) */
    char *arena;                   /* all strings of this report live here */
    struct fl_node *node;          /* tree.c */
    size_t index;                  /* position in the reading order */
} fl_report_t;

/* Parses a report held in memory. On failure returns NULL and adds one diagnostic naming FILE and
 * the line. Never reads past SIZE; DATA need not be NUL-terminated. */
fl_report_t *fl_report_parse(const char *data, size_t size, const char *file, fl_diags_t *diags);
/* Reads and parses one file; refuses non-regular files (and symlinks when NOFOLLOW). */
fl_report_t *fl_report_read(const char *path, bool nofollow, fl_diags_t *diags);
void fl_report_free(fl_report_t *r);
/* The module whose [lo, hi) holds IP, or NULL. */
const fl_module_t *fl_report_module_at(const fl_report_t *r, uint64_t ip);

/* ---- symbolize.c: raw IPs to functions and lines, offline, with libdw ---- */

enum {
    FL_FRAME_NOMODULE = 1,   /* ip == 0 or outside every module */
    FL_FRAME_MISMATCH = 2,   /* the file on disk has another build-id */
    FL_FRAME_UNRESOLVED = 4, /* no symbol: shown as module+offset */
};

/* One displayed frame. An IP inside inlined code expands into several frames with the same IP,
 * innermost first; all but the last are inlined. */
typedef struct fl_frame {
    uint64_t ip, offset;
    const char *module;   /* interned path, NULL when FL_FRAME_NOMODULE */
    const char *function; /* interned, demangled; NULL if unknown */
    const char *file;     /* interned; NULL if unknown */
    unsigned line;
    bool inlined;
    unsigned flags;
} fl_frame_t;

typedef struct fl_symstack {
    size_t n;
    fl_frame_t *frames;
    const char *sig; /* interned: the frames without addresses; equal stacks share it */
} fl_symstack_t;

/* Symbolizes (once) and returns the displayed form of stack S of report R. */
const fl_symstack_t *fl_symbolize_stack(fl_report_t *r, fl_stack_t *s);
void fl_symbolize_init(bool enabled);
void fl_symbolize_free(void);
/* Whether the build-id of module M matched its file: 1 yes, 0 no, -1 unknown. */
int fl_symbolize_module_status(fl_report_t *r, fl_module_t *m);
/* Demangles an Itanium C++ name; returns NAME itself when it is not mangled. Interned. */
const char *fl_demangle(const char *name);
/* True for malloc-family functions and operator new/new[] (frames to skip for a suppression). */
bool fl_is_allocator(const char *function);

/* ---- suppress.c: LSan-style suppressions ---- */

typedef struct fl_supp {
    const char *pattern; /* without "leak:" */
    char *file;
    unsigned long line;
    uint64_t hits, bytes, blocks;
} fl_supp_t;
typedef FL_VEC(fl_supp_t) fl_supps_t;

/* Reads a suppression file; false (with a diagnostic) on a bad line or unreadable file. */
bool fl_supp_load(fl_supps_t *s, const char *path, fl_diags_t *diags);
/* Index of the first suppression matching any frame's function, file or module, or -1. */
int fl_supp_match(const fl_supps_t *s, const fl_symstack_t *st);
/* LSan's TemplateMatch: '*' wildcards, optional '^' and '$' anchors, substring otherwise. */
bool fl_supp_template_match(const char *templ, const char *str);
void fl_supps_free(fl_supps_t *s);

/* ---- tree.c: processes, exec chains, and children that left no report ---- */

typedef struct fl_node {
    fl_report_t *rep;   /* NULL: a child that left no report */
    int64_t pid;
    uint64_t time_ns;   /* start (report) or fork time (placeholder) */
    struct fl_node *parent;     /* the image that forked or spawned it */
    struct fl_node *exec_prev;  /* earlier image of the same process (it exec'd into this one) */
    struct fl_node *exec_next;
    FL_VEC(struct fl_node *) kids;  /* sorted by time */
    FL_VEC(fl_report_t *) superseded; /* earlier snapshots of the same image */
    bool selected;      /* passes --pid */
    size_t index;       /* position in tree (DFS) order */
    unsigned depth;
    /* analyze.c: shown figures */
    uint64_t own_bytes, own_blocks, inh_bytes, inh_blocks, orphan_bytes, orphan_blocks, live_bytes,
        live_blocks, direct_bytes, direct_blocks, indirect_bytes, indirect_blocks, supp_bytes,
        supp_blocks;
    size_t nshown;
} fl_node_t;

typedef struct fl_tree {
    FL_VEC(fl_node_t *) nodes; /* DFS order: a parent before its children, images in order */
    FL_VEC(fl_node_t *) all;   /* ownership */
} fl_tree_t;

/* Builds the tree. Reports that duplicate another's identity are refused with a diagnostic
 * and freed; a superseded snapshot stays owned by its node. */
void fl_tree_build(fl_tree_t *t, fl_report_t **reps, size_t n, fl_diags_t *diags);
void fl_tree_free(fl_tree_t *t);
/* The head image of NODE's process (follows exec_prev). */
fl_node_t *fl_tree_head(fl_node_t *node);
/* The ancestor image with this pid and generation, or NULL. */
fl_node_t *fl_tree_ancestor(fl_node_t *node, int64_t pid, uint64_t gen);

/* ---- analyze.c: filters, suppressions, the combined view ---- */

typedef enum { FL_FMT_TEXT, FL_FMT_JSON, FL_FMT_FOLDED, FL_FMT_SARIF } fl_format_t;

typedef struct fl_opts {
    fl_format_t format;
    FL_VEC(const char *) supp_files;
    bool gen_supp;
    uint64_t min_bytes;
    FL_VEC(int64_t) pids;
    int kind;   /* -1 all, else FL_KIND_DIRECT or FL_KIND_INDIRECT */
    int origin; /* -1 all, 0 own, 1 inherited */
    bool symbolize;
    bool run_mode; /* output of `forkleak run` */
} fl_opts_t;

typedef struct fl_combined {
    fl_kind_t kind;
    const fl_symstack_t *stack;
    fl_node_t *first;         /* a process that has it (for its exe) */
    bool before_fork;         /* allocated by an ancestor before a fork, not leaked there */
    fl_node_t *alloc;         /* before_fork: the allocating image, if it left a report */
    int64_t alloc_pid;
    uint64_t alloc_gen;
    uint64_t bytes, blocks;
    FL_VEC(fl_node_t *) procs;    /* own leak in these processes */
    FL_VEC(fl_node_t *) inheritors; /* inherited copies in these descendants */
} fl_combined_t;

typedef struct fl_view {
    fl_opts_t *opts;
    fl_tree_t tree;
    fl_supps_t supps;
    fl_diags_t diags;
    FL_VEC(fl_combined_t *) combined;
    size_t nreports;
    uint64_t leak_bytes, leak_blocks; /* de-duplicated direct + indirect */
    size_t leaky_procs;
    bool any_memory;
} fl_view_t;

/* Filters, matches suppressions and builds the combined view over the tree. */
void fl_analyze(fl_view_t *v);
void fl_view_free(fl_view_t *v);
/* The groups of R that pass, sorted for display. Caller frees the array. */
fl_group_t **fl_view_groups(const fl_report_t *r, size_t *n);
/* True if G is a leak (direct or indirect). */
bool fl_kind_is_leak(fl_kind_t k);
/* The first frame that is not an allocator (for suppressions and SARIF), or NULL. */
const fl_frame_t *fl_first_user_frame(const fl_symstack_t *st);
/* A ready suppression line for G's stack (malloc'd), or NULL if none can be made. */
char *fl_suggest_suppression(const fl_symstack_t *st);

/* ---- report.c: the `report` command and the pipeline shared with `run` ---- */

int fl_cmd_report(int argc, char **argv);
/* Reads FILES (report files), analyses and prints to OUT. Returns 0 no leaks, 1 leaks, 2 when an
 * input was bad (2 wins). */
int fl_report_files(fl_opts_t *o, char **files, size_t nfiles, FILE *out);
/* Lists the *.report files of DIR (no dotfiles, no .tmp), sorted; false with a diagnostic. */
typedef FL_VEC(char *) fl_strvec_t;
bool fl_list_dir(const char *dir, fl_strvec_t *out, fl_diags_t *diags);
/* Parses --format etc.; shared with run. Returns false after printing a usage error. */
bool fl_parse_format(const char *s, fl_format_t *f, bool run_mode);
void fl_opts_free(fl_opts_t *o);

/* ---- run.c ---- */

int fl_cmd_run(int argc, char **argv);

/* ---- format_*.c ---- */

void fl_format_text(fl_view_t *v, FILE *out);
void fl_format_json(fl_view_t *v, FILE *out);
void fl_format_folded(fl_view_t *v, FILE *out);
void fl_format_sarif(fl_view_t *v, FILE *out);
/* A JSON string (jansson) for any bytes: invalid UTF-8 bytes become the text \xNN. */
struct json_t;
struct json_t *fl_json_str(const char *s);
/* Writes a JSON document (indented, newline-terminated) and releases it. */
void fl_json_dump(struct json_t *root, FILE *out);
/* Shared by text and SARIF: "Direct leak", "Indirect leak", "Orphaned by fork", "Live at exit". */
const char *fl_kind_title(fl_kind_t k);


#endif
