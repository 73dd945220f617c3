/* symbolize.c — turns a report's raw instruction pointers into functions, files and lines,
 * offline, with libdw (elfutils), from the module map the report recorded. A module whose file on
 * disk has another build-id is never symbolized (that would print plausible lies); its frames stay
 * module+offset and are flagged. Everything is cached: per module file, per offset, per stack. */
#include "forkleak.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>

#define MAX_INLINE 32

typedef struct loc {
    const char *function, *file;
    unsigned line;
    bool inlined;
} loc_t;

typedef struct locs {
    size_t n;
    loc_t v[];
} locs_t;

enum { MOD_UNOPENED, MOD_OK, MOD_UNREADABLE, MOD_MISMATCH, MOD_DISABLED };

typedef struct fl_symmod {
    const char *path, *buildid; /* interned; buildid NULL when the report had none */
    int state;
    int match; /* 1 build-ids equal, 0 differ, -1 not checkable */
    Dwfl *dwfl;
    Dwfl_Module *mod;
    fl_map_t offsets; /* offset -> locs_t* */
} fl_symmod_t;

/* A cached stack: the raw (ip, base, module) triples it was made from, and the result. */
typedef struct stack_entry {
    struct stack_entry *next;
    size_t n;
    uint64_t *key; /* 3 * n words */
    fl_symstack_t st;
} stack_entry_t;

static struct {
    bool enabled;
    fl_map_t mods;   /* interned "path\nbuildid" -> fl_symmod_t* */
    fl_map_t stacks; /* hash -> stack_entry_t* chain */
    FL_VEC(fl_symmod_t *) all_mods;
    FL_VEC(stack_entry_t *) all_stacks;
    void *libstdcxx;
    char *(*cxa_demangle)(const char *, char *, size_t *, int *);
    bool demangler_tried;
    char *debuginfo_path;
} S;

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &S.debuginfo_path,
};

/* Turns symbolization on or off (--no-symbolize) for this run. */
void fl_symbolize_init(bool enabled)
{
    S.enabled = enabled;
    /* Symbolization is offline: never let libdw ask a debuginfod server (no network, and a
     * hanging request would stall the report). */
    unsetenv("DEBUGINFOD_URLS");
}

/* Demangles an Itanium C++ name (interned); other names come back as they are. */
const char *fl_demangle(const char *name)
{
    if (!name)
        return NULL;
    if (name[0] != '_' || name[1] != 'Z')
        return fl_intern(name);
    /* The C++ runtime's demangler, loaded only when a mangled name shows up: a machine that ran
     * the C++ program has libstdc++; without it, names stay mangled. */
    if (!S.demangler_tried) {
        S.demangler_tried = true;
        S.libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        if (S.libstdcxx)
            *(void **)&S.cxa_demangle = dlsym(S.libstdcxx, "__cxa_demangle");
        if (!S.cxa_demangle)
            fl_warn_once("libstdc++.so.6 not found: C++ names are shown mangled");
    }
    int status = -1;
    char *d = S.cxa_demangle ? S.cxa_demangle(name, NULL, NULL, &status) : NULL;
    if (!d || status != 0) {
        free(d);
        return fl_intern(name);
    }
    const char *r = fl_intern(d);
    free(d);
    return r;
}

/* Whether a frame is the allocator itself (skipped for suppressions and SARIF). */
bool fl_is_allocator(const char *f)
{
    static const char *const names[] = {
        "malloc",        "calloc",         "realloc",         "reallocarray",  "free",
        "memalign",      "valloc",         "pvalloc",         "aligned_alloc", "posix_memalign",
        "strdup",        "strndup",        "__strdup",        "__strndup",     "__libc_malloc",
        "__libc_calloc", "__libc_realloc", "__libc_memalign",
    };
    if (!f)
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(f, names[i]))
            return true;
    return !strncmp(f, "operator new", 12) || !strncmp(f, "operator delete", 15);
}

/* ---- modules ---- */

static void hex(const unsigned char *b, int n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

static void open_module(fl_symmod_t *sm)
{
    /* The vDSO has no file; a relative name cannot be found from here either (the program's
     * working directory is not ours): module+offset, without a warning for the vDSO. */
    if (sm->path[0] != '/') {
        if (strncmp(sm->path, "linux-vdso", 10) && strncmp(sm->path, "linux-gate", 10))
            fl_warn_once("module path %s is not absolute: its frames are shown as "
                         "module+offset",
                         sm->path);
        sm->state = MOD_UNREADABLE;
        return;
    }
    sm->dwfl = dwfl_begin(&callbacks);
    if (!sm->dwfl) {
        fl_warn_once("libdw: %s", dwfl_errmsg(-1));
        sm->state = MOD_UNREADABLE;
        return;
    }
    dwfl_report_begin(sm->dwfl);
    /* Reported at bias 0 (add_p_vaddr): module addresses are the file's own vaddrs, so one
     * cache serves every process that loaded this file, wherever ASLR put it. */
    sm->mod = dwfl_report_elf(sm->dwfl, fl_basename(sm->path), sm->path, -1, 0, true);
    dwfl_report_end(sm->dwfl, NULL, NULL);
    if (!sm->mod) {
        fl_warn_once("cannot read %s: %s; its frames are shown as module+offset", sm->path,
                     dwfl_errmsg(-1));
        sm->state = MOD_UNREADABLE;
        return;
    }
    const unsigned char *bits = NULL;
    GElf_Addr vaddr;
    int len = dwfl_module_build_id(sm->mod, &bits, &vaddr);
    char ondisk[2 * 256 + 1] = "";
    if (len > 0 && len <= 256)
        hex(bits, len, ondisk);
    if (!sm->buildid) {
        sm->match = -1;
    } else if (strcmp(ondisk, sm->buildid) != 0) {
        sm->match = 0;
        sm->state = MOD_MISMATCH;
        fl_warn_once("%s has build-id %s on disk but %s in the report (rebuilt since?): its "
                     "frames are not symbolized",
                     sm->path, ondisk[0] ? ondisk : "(none)", sm->buildid);
        return;
    } else {
        sm->match = 1;
    }
    sm->state = MOD_OK;
}

static fl_symmod_t *symmod_for(fl_module_t *m)
{
    if (m->sym)
        return m->sym;
    char *k = fl_xasprintf("%s\n%s", m->path, m->buildid ? m->buildid : "-");
    const char *key = fl_intern(k);
    free(k);
    fl_symmod_t *sm = fl_map_get(&S.mods, (uint64_t)(uintptr_t)key);
    if (!sm) {
        sm = fl_xcalloc(1, sizeof *sm);
        sm->path = fl_intern(m->path);
        sm->buildid = fl_intern(m->buildid);
        sm->match = -1;
        sm->state = S.enabled ? MOD_UNOPENED : MOD_DISABLED;
        fl_map_put(&S.mods, (uint64_t)(uintptr_t)key, sm);
        *FL_PUSH(S.all_mods) = sm;
    }
    m->sym = sm;
    return sm;
}

/* 1 build-ids match, 0 they differ, -1 unknown (opens the module once). */
int fl_symbolize_module_status(fl_report_t *r, fl_module_t *m)
{
    (void)r;
    fl_symmod_t *sm = symmod_for(m);
    if (sm->state == MOD_UNOPENED)
        open_module(sm);
    return sm->match;
}

/* The name of a subprogram or inlined instance: the linkage name (demangled) when there is one,
 * following DW_AT_abstract_origin and DW_AT_specification. */
static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &a));
    if (!name)
        name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a));
    if (!name)
        name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
    return name ? fl_demangle(name) : NULL;
}

/* Resolves one module-relative address into its inline chain, innermost first (as
 * eu-addr2line -i does: the concrete scopes of the innermost DIE, each inlined_subroutine
 * giving the call site of the next frame out). */
static locs_t *resolve(fl_symmod_t *sm, uint64_t addr)
{
    loc_t tmp[MAX_INLINE];
    size_t n = 0;
    const char *file = NULL;
    int line = 0;
    Dwfl_Line *l = dwfl_module_getsrc(sm->mod, addr);
    if (l)
        file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
    bool closed = false; /* reached the enclosing subprogram */

    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(sm->mod, addr, &bias);
    Dwarf_Die *scopes = NULL;
    int ns = cu ? dwarf_getscopes(cu, addr - bias, &scopes) : 0;
    if (ns > 0) {
        Dwarf_Die inner;
        Dwarf_Addr dbias;
        Dwarf *dw = dwfl_module_getdwarf(sm->mod, &dbias);
        bool ok = dw && dwarf_offdie(dw, dwarf_dieoffset(&scopes[0]), &inner);
        free(scopes);
        scopes = NULL;
        ns = ok ? dwarf_getscopes_die(&inner, &scopes) : 0;
        Dwarf_Files *files = NULL;
        if (dwarf_getsrcfiles(cu, &files, NULL) != 0)
            files = NULL;
        for (int i = 0; i < ns && n < MAX_INLINE; i++) {
            int tag = dwarf_tag(&scopes[i]);
            if (tag == DW_TAG_inlined_subroutine) {
                tmp[n++] = (loc_t){die_name(&scopes[i]), fl_intern(file),
                                   line > 0 ? (unsigned)line : 0, true};
                Dwarf_Attribute a;
                Dwarf_Word v;
                file = NULL;
                line = 0;
                if (files && dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &a), &v) == 0)
                    file = dwarf_filesrc(files, v, NULL, NULL);
                if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &a), &v) == 0 &&
                    v <= INT32_MAX)
                    line = (int)v;
            } else if (tag == DW_TAG_subprogram || tag == DW_TAG_entry_point) {
                tmp[n++] = (loc_t){die_name(&scopes[i]), fl_intern(file),
                                   line > 0 ? (unsigned)line : 0, false};
                closed = true;
                break;
            }
        }
        free(scopes);
    } else {
        free(scopes);
    }
    if (!closed && n < MAX_INLINE) {
        /* No DWARF function: the symbol table (stripped libraries keep .dynsym). */
        GElf_Off off = 0;
        GElf_Sym sym;
        const char *name = dwfl_module_addrinfo(sm->mod, addr, &off, &sym, NULL, NULL, NULL);
        tmp[n++] =
            (loc_t){fl_demangle(name), fl_intern(file), line > 0 ? (unsigned)line : 0, false};
    }
    /* The outermost entry is the real function; only entries before it are inlined. */
    for (size_t i = 0; i < n; i++)
        tmp[i].inlined = i + 1 < n;
    locs_t *ls = fl_xmalloc(sizeof *ls + n * sizeof ls->v[0]);
    ls->n = n;
    memcpy(ls->v, tmp, n * sizeof tmp[0]);
    return ls;
}

static const locs_t *lookup(fl_symmod_t *sm, uint64_t off)
{
    if (sm->state == MOD_UNOPENED)
        open_module(sm);
    if (sm->state != MOD_OK)
        return NULL;
    locs_t *ls = fl_map_get(&sm->offsets, off);
    if (!ls) {
        ls = resolve(sm, off);
        fl_map_put(&sm->offsets, off, ls);
    }
    return ls;
}

/* ---- stacks ---- */

static bool is_shim(const fl_module_t *m)
{
    return m && !strncmp(fl_basename(m->path), "libforkleak", 11);
}

static void add_sig(fl_buf_t *b, const fl_frame_t *f)
{
    if (b->len)
        fl_buf_add(b, "\n", 1);
    if (f->function && f->file)
        fl_buf_printf(b, "%s\t%s:%u", f->function, f->file, f->line);
    else if (f->module)
        fl_buf_printf(b, "%s\t%s+0x%llx", f->function ? f->function : "", f->module,
                      (unsigned long long)f->offset);
    else
        fl_buf_printf(b, "0x%llx", (unsigned long long)f->ip);
}

static fl_symstack_t build(fl_report_t *r, const fl_stack_t *s, const fl_module_t **mods,
                           size_t first)
{
    FL_VEC(fl_frame_t) out = {0};
    fl_buf_t sig = {0};
    for (size_t i = first; i < s->nframes; i++) {
        uint64_t ip = s->ips[i];
        const fl_module_t *m = mods[i];
        if (!m) {
            fl_frame_t *f = FL_PUSH(out);
            f->ip = ip;
            f->flags = FL_FRAME_NOMODULE;
            add_sig(&sig, f);
            continue;
        }
        fl_symmod_t *sm = m->sym;
        uint64_t off = ip - m->base;
        const locs_t *ls = lookup(sm, off);
        if (!ls || !ls->n || (!ls->v[ls->n - 1].function && !ls->v[0].file)) {
            fl_frame_t *f = FL_PUSH(out);
            f->ip = ip;
            f->offset = off;
            f->module = sm->path;
            f->flags = FL_FRAME_UNRESOLVED | (sm->state == MOD_MISMATCH ? FL_FRAME_MISMATCH : 0);
            add_sig(&sig, f);
            continue;
        }
        for (size_t k = 0; k < ls->n; k++) {
            fl_frame_t *f = FL_PUSH(out);
            f->ip = ip;
            f->offset = off;
            f->module = sm->path;
            f->function = ls->v[k].function;
            f->file = ls->v[k].file;
            f->line = ls->v[k].line;
            f->inlined = ls->v[k].inlined;
            add_sig(&sig, f);
        }
    }
    (void)r;
    fl_symstack_t st = {.n = out.n, .frames = out.v, .sig = fl_intern(sig.s ? sig.s : "")};
    free(sig.s);
    return st;
}

/* The displayed frames of stack S of report R, symbolized once and shared. */
const fl_symstack_t *fl_symbolize_stack(fl_report_t *r, fl_stack_t *s)
{
    if (s->sym)
        return s->sym;
    /* Key: (ip, base, module file) per frame. Forked children share their parent's addresses,
     * so thousands of reports of one program hit the same entries. */
    size_t n = s->nframes;
    const fl_module_t **mods = fl_xmalloc((n ? n : 1) * sizeof *mods);
    uint64_t *key = fl_xmalloc((n ? n : 1) * 3 * sizeof *key);
    size_t first = 0;
    bool leading = true;
    for (size_t i = 0; i < n; i++) {
        const fl_module_t *m = s->ips[i] ? fl_report_module_at(r, s->ips[i]) : NULL;
        /* The shim's own frames on top of a stack are not the program's: drop them. */
        if (leading && is_shim(m)) {
            first = i + 1;
            mods[i] = NULL;
            continue;
        }
        leading = false;
        mods[i] = m;
        if (m)
            symmod_for((fl_module_t *)m);
    }
    size_t kn = 0;
    for (size_t i = first; i < n; i++) {
        key[kn++] = s->ips[i];
        key[kn++] = mods[i] ? mods[i]->base : 0;
        key[kn++] = mods[i] ? (uint64_t)(uintptr_t)mods[i]->sym : 0;
    }
    uint64_t h = fl_hash_bytes(key, kn * sizeof *key, FL_HASH_SEED);
    stack_entry_t *head = fl_map_get(&S.stacks, h);
    for (stack_entry_t *e = head; e; e = e->next) {
        if (e->n * 3 == kn && !memcmp(e->key, key, kn * sizeof *key)) {
            free(key);
            free(mods);
            s->sym = &e->st;
            return s->sym;
        }
    }
    stack_entry_t *e = fl_xcalloc(1, sizeof *e);
    e->n = kn / 3;
    e->key = key;
    e->st = build(r, s, mods, first);
    e->next = head;
    fl_map_put(&S.stacks, h, e);
    *FL_PUSH(S.all_stacks) = e;
    free(mods);
    s->sym = &e->st;
    return s->sym;
}

static void free_locs(fl_map_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i])
            free(m->vals[i]);
    free(m->zero_val);
    fl_map_free(m);
}

/* Closes every module and frees every cached stack. */
void fl_symbolize_free(void)
{
    for (size_t i = 0; i < S.all_mods.n; i++) {
        fl_symmod_t *sm = S.all_mods.v[i];
        free_locs(&sm->offsets);
        if (sm->dwfl)
            dwfl_end(sm->dwfl);
        free(sm);
    }
    for (size_t i = 0; i < S.all_stacks.n; i++) {
        free(S.all_stacks.v[i]->key);
        free(S.all_stacks.v[i]->st.frames);
        free(S.all_stacks.v[i]);
    }
    free(S.all_mods.v);
    free(S.all_stacks.v);
    fl_map_free(&S.mods);
    fl_map_free(&S.stacks);
    if (S.libstdcxx)
        dlclose(S.libstdcxx);
    memset(&S, 0, sizeof S);
}
