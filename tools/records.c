/* records.c — one handler per record of a report (docs/report-format.md): checks the keys each
 * record must have, their ranges and duplicates, and fills the fl_report_t. Unknown records and
 * keys are a later minor version's and are ignored; a malformed known one rejects the file. */
#include "reader.h"

#include <stddef.h>

#include <stdlib.h>

static bool rec_process(fl_parser_t *p)
{
    fl_report_t *r = p->r;
    uint64_t pid = 0, ppid = 0;
    if (p->seen_process)
        return fl_parse_fail(p, "duplicate 'process' record");
    p->seen_process = true;
    fl_field_u64(p, "pid", true, FL_MAX_PID, &pid);
    fl_field_u64(p, "ppid", true, FL_MAX_PID, &ppid);
    fl_field_u64(p, "gen", true, UINT32_MAX, &r->gen);
    fl_field_u64(p, "start_ns", true, UINT64_MAX, &r->start_ns);
    fl_field_u64(p, "end_ns", false, UINT64_MAX, &r->end_ns);
    fl_field_u64(p, "tid", false, FL_MAX_PID, &r->tid);
    if (!p->failed && pid == 0)
        return fl_parse_fail(p, "pid=0 is not a process id");
    r->pid = (int64_t)pid;
    r->ppid = (int64_t)ppid;
    return !p->failed;
}

static bool rec_lineage(fl_parser_t *p)
{
    if (p->seen_lineage)
        return fl_parse_fail(p, "duplicate 'lineage' record");
    p->seen_lineage = true;
    for (size_t i = 1; i < p->ntok; i++) {
        const fl_tok_t *t = &p->toks[i];
        char buf[48], ex[64];
        if (!t->len)
            continue;
        const char *colon = memchr(t->s, ':', t->len);
        uint64_t pid, gen;
        if (!colon || t->len >= sizeof buf)
            return fl_parse_fail(p, "lineage entry '%s' is not PID:GEN",
                                 fl_parse_excerpt(t->s, t->len, ex, sizeof ex));
        memcpy(buf, t->s, t->len);
        buf[t->len] = 0;
        buf[colon - t->s] = 0;
        if (!fl_parse_u64(buf, &pid) || !fl_parse_u64(buf + (colon - t->s) + 1, &gen) || pid == 0 ||
            pid > FL_MAX_PID || gen > UINT32_MAX)
            return fl_parse_fail(p, "lineage entry '%s' is not PID:GEN (numbers in range)",
                                 fl_parse_excerpt(t->s, t->len, ex, sizeof ex));
        fl_lineage_t *l = FL_PUSH(p->r->lineage);
        l->pid = (int64_t)pid;
        l->gen = gen;
    }
    return true;
}

static bool rec_exe(fl_parser_t *p)
{
    if (p->seen_exe)
        return fl_parse_fail(p, "duplicate 'exe' record");
    p->seen_exe = true;
    return fl_field_str(p, "path", true, &p->r->exe);
}

static bool rec_argv(fl_parser_t *p)
{
    if (p->seen_argv)
        return fl_parse_fail(p, "duplicate 'argv' record");
    p->seen_argv = true;
    /* Positional: an empty token (two spaces in a row) is an empty argument. */
    for (size_t i = 1; i < p->ntok; i++) {
        const char *s = fl_parse_decode(p, p->toks[i].s, p->toks[i].len, "argv word");
        if (!s)
            return false;
        *FL_PUSH(p->r->argv) = s;
    }
    return true;
}

static bool rec_exit(fl_parser_t *p)
{
    fl_report_t *r = p->r;
    if (p->seen_exit)
        return fl_parse_fail(p, "duplicate 'exit' record");
    p->seen_exit = true;
    if (!fl_field_str(p, "kind", true, &r->exit_kind))
        return false;
    if (!r->exit_kind[0])
        return fl_parse_fail(p, "empty exit kind=");
    fl_field_i64(p, "status", true, &r->exit_status);
    fl_field_str(p, "target", false, &r->exit_target);
    return !p->failed;
}

static bool rec_config(fl_parser_t *p)
{
    for (size_t i = 1; i < p->ntok; i++) {
        const fl_tok_t *t = &p->toks[i];
        if (!t->len)
            continue;
        if (t->eq == t->len) {
            char ex[64];
            return fl_parse_fail(p, "config token '%s' is not key=value",
                                 fl_parse_excerpt(t->s, t->len, ex, sizeof ex));
        }
        fl_kv_t *kv = FL_PUSH(p->r->config);
        kv->key = fl_parse_decode(p, t->s, t->eq, "config key");
        kv->value = kv->key
                        ? fl_parse_decode(p, t->s + t->eq + 1, t->len - t->eq - 1, "config value")
                        : NULL;
        if (!kv->value)
            return false;
    }
    return true;
}

static bool rec_module(fl_parser_t *p)
{
    fl_module_t m = {0};
    const char *bid = NULL;
    fl_field_u64(p, "id", true, UINT32_MAX, &m.id);
    fl_field_u64(p, "base", true, UINT64_MAX, &m.base);
    fl_field_u64(p, "lo", true, UINT64_MAX, &m.lo);
    fl_field_u64(p, "hi", true, UINT64_MAX, &m.hi);
    fl_field_str(p, "buildid", true, &bid);
    fl_field_str(p, "path", true, &m.path);
    if (p->failed)
        return false;
    if (m.lo > m.hi)
        return fl_parse_fail(p, "module lo=0x%llx is above hi=0x%llx", (unsigned long long)m.lo,
                             (unsigned long long)m.hi);
    if (fl_map_get(&p->module_ids, m.id))
        return fl_parse_fail(p, "duplicate module id=%llu", (unsigned long long)m.id);
    fl_map_put(&p->module_ids, m.id, p);
    if (strcmp(bid, "-") != 0) {
        size_t n = strlen(bid);
        if (n == 0 || n % 2 || n > 128)
            return fl_parse_fail(p, "buildid='%s' is not an even number (2..128) of hex digits",
                                 bid);
        for (char *c = (char *)bid; *c; c++) {
            if (fl_parse_hexval(*c) < 0)
                return fl_parse_fail(p, "buildid='%s' is not hex", bid);
            if (*c >= 'A' && *c <= 'F')
                *c = (char)(*c - 'A' + 'a');
        }
        m.buildid = bid;
    }
    *FL_PUSH(p->r->modules) = m;
    return true;
}

static bool rec_stack(fl_parser_t *p)
{
    uint64_t id = 0;
    if (!fl_field_u64(p, "id", true, UINT64_MAX, &id))
        return false;
    if (fl_map_get(&p->stack_index, id))
        return fl_parse_fail(p, "duplicate stack id=%llu", (unsigned long long)id);
    size_t nframes = 0;
    for (size_t i = 1; i < p->ntok; i++)
        if (p->toks[i].len && p->toks[i].eq == p->toks[i].len)
            nframes++;
    if (nframes > FL_MAX_FRAMES)
        return fl_parse_fail(p, "stack id=%llu has %zu frames (at most %d)", (unsigned long long)id,
                             nframes, FL_MAX_FRAMES);
    fl_stack_t *s = FL_PUSH(p->r->stacks);
    s->id = id;
    s->line = p->line;
    s->ips = fl_xmalloc(nframes * sizeof *s->ips);
    for (size_t i = 1; i < p->ntok; i++) {
        const fl_tok_t *t = &p->toks[i];
        char buf[24];
        if (!t->len || t->eq != t->len)
            continue;
        if (t->len >= sizeof buf) {
            char ex[48];
            return fl_parse_fail(p, "frame '%s' is not an address",
                                 fl_parse_excerpt(t->s, t->len, ex, sizeof ex));
        }
        memcpy(buf, t->s, t->len);
        buf[t->len] = 0;
        if (!fl_parse_u64(buf, &s->ips[s->nframes]))
            return fl_parse_fail(p, "frame '%s' is not an address (0x…)", buf);
        s->nframes++;
    }
    fl_map_put(&p->stack_index, id, (void *)(uintptr_t)p->r->stacks.n);
    return true;
}

static const char *const kind_words[] = {"direct", "indirect", "orphan", "live", "reachable"};
static const char *const origin_words[] = {"own", "inherited"};

static bool rec_group(fl_parser_t *p)
{
    fl_group_t g = {.supp = -1};
    int kind = fl_field_word(p, "kind", kind_words, 5, true);
    int origin = fl_field_word(p, "origin", origin_words, 2, true);
    uint64_t from_pid = 0;
    fl_field_u64(p, "stack", true, UINT64_MAX, &g.stack_id);
    fl_field_u64(p, "blocks", true, UINT64_MAX, &g.blocks);
    fl_field_u64(p, "bytes", true, UINT64_MAX, &g.bytes);
    fl_field_u64(p, "from_pid", origin == 1, FL_MAX_PID, &from_pid);
    fl_field_u64(p, "from_gen", origin == 1, UINT32_MAX, &g.from_gen);
    if (p->failed)
        return false;
    g.kind = (fl_kind_t)kind;
    g.inherited = origin == 1;
    g.from_pid = (int64_t)from_pid;
    g.line = p->line;
    *FL_PUSH(p->r->groups) = g;
    return true;
}

static bool rec_block(fl_parser_t *p)
{
    fl_block_t b = {0};
    fl_field_u64(p, "addr", true, UINT64_MAX, &b.addr);
    fl_field_u64(p, "size", true, UINT64_MAX, &b.size);
    fl_field_u64(p, "stack", true, UINT64_MAX, &b.stack_id);
    fl_field_u64(p, "gen", true, UINT32_MAX, &b.gen);
    int kind = fl_field_word(p, "kind", kind_words, 5, true);
    if (p->failed)
        return false;
    b.kind = (fl_kind_t)kind;
    b.line = p->line;
    *FL_PUSH(p->r->blocks) = b;
    return true;
}

static bool rec_inherited(fl_parser_t *p)
{
    fl_inherit_t h = {0};
    fl_field_u64(p, "stack", true, UINT64_MAX, &h.stack_id);
    fl_field_u64(p, "blocks", false, UINT64_MAX, &h.blocks);
    fl_field_u64(p, "bytes", false, UINT64_MAX, &h.bytes);
    fl_field_u64(p, "freed_blocks", false, UINT64_MAX, &h.freed_blocks);
    fl_field_u64(p, "freed_bytes", false, UINT64_MAX, &h.freed_bytes);
    fl_field_u64(p, "live_blocks", false, UINT64_MAX, &h.live_blocks);
    fl_field_u64(p, "live_bytes", false, UINT64_MAX, &h.live_bytes);
    fl_field_u64(p, "leaked_blocks", false, UINT64_MAX, &h.leaked_blocks);
    fl_field_u64(p, "leaked_bytes", false, UINT64_MAX, &h.leaked_bytes);
    if (p->failed)
        return false;
    h.line = p->line;
    *FL_PUSH(p->r->inherits) = h;
    return true;
}

static bool rec_memory(fl_parser_t *p)
{
    static const char *const phases[] = {"start", "prefault", "exit"};
    const fl_tok_t *t = fl_field_find(p, "phase");
    if (!t)
        return p->failed ? false : fl_parse_fail(p, "missing phase=");
    size_t vl = t->len - t->eq - 1;
    const char *v = t->s + t->eq + 1;
    int ph = -1;
    for (int i = 0; i < 3; i++)
        if (strlen(phases[i]) == vl && !memcmp(v, phases[i], vl))
            ph = i;
    /* A phase this reader does not know (a later minor version) is skipped, not an error. */
    if (ph < 0)
        return true;
    fl_memory_t *m = &p->r->mem[ph];
    if (m->present)
        return fl_parse_fail(p, "duplicate 'memory phase=%s' record", phases[ph]);
    m->present = true;
    static const struct { const char *key; size_t off; unsigned bit; } keys[] = {
        {"vsz_kb", offsetof(fl_memory_t, vsz_kb), FL_MEM_HAS_VSZ},
        {"rss_kb", offsetof(fl_memory_t, rss_kb), FL_MEM_HAS_RSS},
        {"private_dirty_kb", offsetof(fl_memory_t, private_dirty_kb), FL_MEM_HAS_PRIVATE_DIRTY},
        {"shared_clean_kb", offsetof(fl_memory_t, shared_clean_kb), FL_MEM_HAS_SHARED_CLEAN},
        {"shared_dirty_kb", offsetof(fl_memory_t, shared_dirty_kb), FL_MEM_HAS_SHARED_DIRTY},
        {"anon_kb", offsetof(fl_memory_t, anon_kb), FL_MEM_HAS_ANON},
        {"minflt", offsetof(fl_memory_t, minflt), FL_MEM_HAS_MINFLT},
        {"majflt", offsetof(fl_memory_t, majflt), FL_MEM_HAS_MAJFLT},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (fl_field_find(p, keys[i].key))
            m->has |= keys[i].bit;
        fl_field_u64(p, keys[i].key, false, UINT64_MAX, (uint64_t *)((char *)m + keys[i].off));
    }
    return !p->failed;
}

/* One allocation site's copied pages: `cowsite stack= pages= bytes=` (what the shim writes), or
 * the same keys on a `cow` record (as docs/report-format.md's table puts it). */
static bool cow_site(fl_parser_t *p)
{
    fl_cow_site_t c = {0};
    fl_field_u64(p, "stack", true, UINT64_MAX, &c.stack_id);
    fl_field_u64(p, "pages", false, UINT64_MAX, &c.pages);
    fl_field_u64(p, "bytes", false, UINT64_MAX, &c.bytes);
    if (p->failed)
        return false;
    p->r->cow_present = true;
    c.line = p->line;
    *FL_PUSH(p->r->cow_sites) = c;
    return true;
}

static bool rec_cowsite(fl_parser_t *p)
{
    return cow_site(p);
}

/* `cow` carries the totals (shared_pages= copied_pages=), and may carry one site. */
static bool rec_cow(fl_parser_t *p)
{
    fl_report_t *r = p->r;
    bool totals = fl_field_find(p, "shared_pages") || fl_field_find(p, "copied_pages");
    bool site = fl_field_find(p, "stack") != NULL;
    if (p->failed)
        return false;
    if (!totals && !site)
        return fl_parse_fail(p, "cow record has neither shared_pages=/copied_pages= nor stack=");
    if (totals) {
        if (p->seen_cow_tot)
            return fl_parse_fail(p, "duplicate cow totals (shared_pages=/copied_pages=)");
        p->seen_cow_tot = true;
        r->cow_present = true;
        fl_field_u64(p, "shared_pages", false, UINT64_MAX, &r->cow_shared_pages);
        fl_field_u64(p, "copied_pages", false, UINT64_MAX, &r->cow_copied_pages);
    }
    return site ? cow_site(p) : !p->failed;
}

static bool rec_prefault(fl_parser_t *p)
{
    fl_report_t *r = p->r;
    if (p->seen_prefault)
        return fl_parse_fail(p, "duplicate 'prefault' record");
    p->seen_prefault = true;
    r->prefault_present = true;
    fl_field_str(p, "mode", false, &r->prefault_mode);
    fl_field_u64(p, "pages", false, UINT64_MAX, &r->prefault_pages);
    fl_field_u64(p, "bytes", false, UINT64_MAX, &r->prefault_bytes);
    fl_field_dec(p, "ms", &r->prefault_ms, NULL);
    fl_field_str(p, "error", false, &r->prefault_error);
    return !p->failed;
}

static bool rec_child(fl_parser_t *p)
{
    fl_child_t c = {0};
    uint64_t pid = 0;
    fl_field_u64(p, "pid", true, FL_MAX_PID, &pid);
    fl_field_u64(p, "time_ns", false, UINT64_MAX, &c.time_ns);
    fl_field_str(p, "how", false, &c.how);
    if (p->failed)
        return false;
    if (pid == 0)
        return fl_parse_fail(p, "child pid=0 is not a process id");
    c.pid = (int64_t)pid;
    *FL_PUSH(p->r->children) = c;
    return true;
}

static bool rec_summary(fl_parser_t *p)
{
    fl_summary_t *s = &p->r->summary;
    if (p->seen_summary)
        return fl_parse_fail(p, "duplicate 'summary' record");
    p->seen_summary = true;
    s->present = true;
    fl_field_str(p, "check", false, &s->check);
    fl_field_u64(p, "direct_blocks", false, UINT64_MAX, &s->direct_blocks);
    fl_field_u64(p, "direct_bytes", false, UINT64_MAX, &s->direct_bytes);
    fl_field_u64(p, "indirect_blocks", false, UINT64_MAX, &s->indirect_blocks);
    fl_field_u64(p, "indirect_bytes", false, UINT64_MAX, &s->indirect_bytes);
    fl_field_u64(p, "orphan_blocks", false, UINT64_MAX, &s->orphan_blocks);
    fl_field_u64(p, "orphan_bytes", false, UINT64_MAX, &s->orphan_bytes);
    fl_field_u64(p, "reachable_blocks", false, UINT64_MAX, &s->reachable_blocks);
    fl_field_u64(p, "reachable_bytes", false, UINT64_MAX, &s->reachable_bytes);
    fl_field_u64(p, "live_blocks", false, UINT64_MAX, &s->live_blocks);
    fl_field_u64(p, "live_bytes", false, UINT64_MAX, &s->live_bytes);
    fl_field_dec(p, "check_ms", &s->check_ms, &s->has_check_ms);
    if (fl_field_find(p, "scanned_bytes"))
        s->has_scanned = true;
    fl_field_u64(p, "scanned_bytes", false, UINT64_MAX, &s->scanned_bytes);
    return !p->failed;
}

static bool rec_warning(fl_parser_t *p)
{
    const char *text = NULL;
    if (!fl_field_str(p, "text", true, &text))
        return false;
    *FL_PUSH(p->r->warnings) = text;
    return true;
}

static const struct {
    const char *name;
    bool (*fn)(fl_parser_t *);
} records[] = {
    {"process", rec_process}, {"lineage", rec_lineage},     {"exe", rec_exe},
    {"argv", rec_argv},       {"exit", rec_exit},           {"config", rec_config},
    {"module", rec_module},   {"stack", rec_stack},         {"group", rec_group},
    {"block", rec_block},     {"inherited", rec_inherited}, {"memory", rec_memory},
    {"cow", rec_cow},         {"cowsite", rec_cowsite},     {"prefault", rec_prefault},
    {"child", rec_child},     {"summary", rec_summary},     {"warning", rec_warning},
};

/* Dispatches the current line to its record handler. */
bool fl_record_parse(fl_parser_t *p)
{
    const fl_tok_t *name = &p->toks[0];
    for (size_t i = 0; i < sizeof records / sizeof records[0]; i++)
        if (strlen(records[i].name) == name->len && !memcmp(records[i].name, name->s, name->len))
            return records[i].fn(p);
    return true; /* a record of a later minor version */
}

static int cmp_module(const void *a, const void *b)
{
    const fl_module_t *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Points every stack reference at its stack (the stacks array no longer moves); the referencing
 * record's line is named on failure. */
#define RESOLVE(p, vec)                                                                            \
    for (size_t i_ = 0; i_ < (p)->r->vec.n; i_++) {                                                \
        uintptr_t ix_ = (uintptr_t)fl_map_get(&(p)->stack_index, (p)->r->vec.v[i_].stack_id);      \
        if (!ix_) {                                                                                \
            (p)->line = (p)->r->vec.v[i_].line;                                                    \
            return fl_parse_fail((p), "stack=%llu is not defined by any 'stack' record",           \
                                 (unsigned long long)(p)->r->vec.v[i_].stack_id);                  \
        }                                                                                          \
        (p)->r->vec.v[i_].stack = &(p)->r->stacks.v[ix_ - 1];                                      \
    }

/* Resolves stack references and sorts the module map. */
bool fl_record_resolve(fl_parser_t *p)
{
    RESOLVE(p, groups);
    RESOLVE(p, inherits);
    RESOLVE(p, blocks);
    RESOLVE(p, cow_sites);
    fl_sort(p->r->modules.v, p->r->modules.n, sizeof *p->r->modules.v, cmp_module);
    return true;
}
