/* report.c — writing one process's report (docs/report-format.md) without malloc: a fixed buffer
 * in the arena, write(2), a temporary name and rename(2), so a reader never sees half a file.
 * Created O_EXCL|O_NOFOLLOW, mode 0600. Runs at exit, after the program's own handlers. */
#include "internal.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void out_write(fl_outbuf_t *o, const char *s, size_t n)
{
    while (n > 0) {
        if (o->len == sizeof o->buf)
            fl_out_flush(o);
        size_t k = sizeof o->buf - o->len;
        if (k > n)
            k = n;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
    }
}

void fl_out_flush(fl_outbuf_t *o)
{
    size_t off = 0;
    while (off < o->len && !o->err) {
        ssize_t w = write(o->fd, o->buf + off, o->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            o->err = w < 0 ? errno : EIO;
        else
            off += (size_t)w;
    }
    o->len = 0;
}

void fl_out_printf(fl_outbuf_t *o, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t n = fl_vfmt(line, sizeof line, fmt, ap);
    va_end(ap);
    out_write(o, line, n < sizeof line ? n : sizeof line - 1);
}

/* Percent-escapes everything but printable ASCII other than '%', ' ' and '=' (see the format). */
void fl_out_escaped(fl_outbuf_t *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c > 0x20 && c < 0x7f && c != '%' && c != '=') {
            out_write(o, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            out_write(o, e, 3);
        }
    }
}

void fl_out_record_end(fl_outbuf_t *o)
{
    out_write(o, "\n", 1);
    o->records++;
}

static const char *errname(int e)
{
    const char *s = strerrordesc_np(e); /* static strings: strerror may allocate */
    return s ? s : "unknown error";
}

const char *fl_report_suffix = "";

bool fl_report_open(fl_outbuf_t *o, char *tmp, size_t tmpcap, char *final, size_t finalcap)
{
    fl_fmt(final, finalcap, "%s/fl.%d.%lu%s.report", fl_opt.dir, (int)fl_proc.pid,
           (unsigned long)fl_proc.start_ns, fl_report_suffix);
    fl_fmt(tmp, tmpcap, "%s/.fl.%d.%lu%s.tmp", fl_opt.dir, (int)fl_proc.pid,
           (unsigned long)fl_proc.start_ns, fl_report_suffix);
    o->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (o->fd >= 0)
        fchmod(o->fd, 0600); /* whatever the program's umask: the owner must be able to read it */
    o->err = 0;
    o->len = 0;
    o->records = 0;
    if (o->fd < 0) {
        /* Once per process tree would be nicer, but each process only knows itself: the message
         * is the same line in each, and most runs have a writable directory. */
        fl_log_warn("cannot write the report in FORKLEAK_DIR='%s': %s", fl_opt.dir,
                    errname(errno));
        return false;
    }
    return true;
}

bool fl_report_commit(fl_outbuf_t *o, const char *tmp, const char *final)
{
    fl_out_printf(o, "end records=%zu\n", o->records);
    fl_out_flush(o);
    int err = o->err;
    if (close(o->fd) != 0 && !err)
        err = errno;
    if (!err && rename(tmp, final) != 0)
        err = errno;
    if (err) {
        unlink(tmp);
        fl_log_warn("cannot write the report %s: %s", final, errname(err));
        return false;
    }
    return true;
}

static const char *const exit_kinds[] = {"exit", "_exit", "_Exit", "exec", "snapshot"};

void fl_report_header(fl_outbuf_t *o, int kind, int status, const char *exec_target)
{
    char path[4096];
    fl_out_printf(o, "forkleak-report 1\n");
    fl_out_printf(o, "process pid=%d ppid=%d gen=%u start_ns=%lu end_ns=%lu tid=%d",
                  (int)fl_proc.pid, (int)fl_proc.ppid, fl_proc.gen, (unsigned long)fl_proc.start_ns,
                  (unsigned long)fl_now_ns(), (int)fl_gettid());
    if (fl_proc.lineage_truncated)
        fl_out_printf(o, " lineage_truncated=1");
    fl_out_record_end(o);
    fl_out_printf(o, "lineage");
    for (uint32_t i = 0; i < fl_proc.lineage_n; i++)
        fl_out_printf(o, " %d:%u", (int)fl_proc.lineage[i].pid, fl_proc.lineage[i].gen);
    fl_out_record_end(o);
    /* thread-self: when main has called pthread_exit, /proc/self (the zombie leader) has no exe
     * and an empty cmdline any more; the exiting thread's own entry still has both. */
    ssize_t n = readlink("/proc/thread-self/exe", path, sizeof path - 1);
    fl_out_printf(o, "exe path=");
    fl_out_escaped(o, path, n > 0 ? (size_t)n : 0);
    fl_out_record_end(o);
    /* argv from /proc (the program may have rewritten its own argv, as servers do) */
    char *cmd = fl_arena_map(1 << 16);
    ssize_t cl = cmd ? fl_read_file("/proc/thread-self/cmdline", cmd, 1 << 16) : -1;
    fl_out_printf(o, "argv");
    /* Servers rewrite their argv in place (setproctitle, PostgreSQL's ps display) and leave NUL
     * padding behind: drop the trailing empty words. */
    while (cl > 0 && cmd[cl - 1] == 0 && (cl < 2 || cmd[cl - 2] == 0))
        cl--;
    for (ssize_t i = 0; i < cl;) {
        size_t l = strnlen(cmd + i, (size_t)(cl - i));
        fl_out_printf(o, " ");
        if (l == 0)
            fl_out_printf(o, "%%"); /* an empty word is a lone '%' (see the format) */
        fl_out_escaped(o, cmd + i, l);
        i += (ssize_t)l + 1;
    }
    fl_out_record_end(o);
    fl_arena_unmap(cmd, 1 << 16);
    fl_out_printf(o, "exit kind=%s status=%d", exit_kinds[kind], status);
    if (exec_target) {
        fl_out_printf(o, " target=");
        fl_out_escaped(o, exec_target, strlen(exec_target));
    }
    fl_out_record_end(o);
    char cfg[512];
    size_t cn = fl_options_describe(cfg, sizeof cfg);
    fl_out_printf(o, "config ");
    out_write(o, cfg, cn < sizeof cfg ? cn : sizeof cfg - 1);
    fl_out_record_end(o);
}

/* ---- module map ---- */
static size_t build_id(const struct dl_phdr_info *info, unsigned char *id, size_t cap)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof *nh;
            const char *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (desc + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                size_t l = nh->n_descsz < cap ? nh->n_descsz : cap;
                memcpy(id, desc, l);
                return l;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    return 0;
}

typedef struct modctx { fl_outbuf_t *o; int id; } modctx_t;

/* Modules that dlclose may have unmapped: their map entries, recorded just before, so that stacks
 * captured while they were loaded still symbolize (written if they are gone at report time). */
typedef struct gone {
    uintptr_t base, lo, hi;
    unsigned char id[64];
    size_t idn;
    char path[256];
} gone_t;
#define MAX_GONE 256
static gone_t gone[MAX_GONE];
static size_t ngone;
static fl_lock_t gone_lock;

static int module_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    modctx_t *m = arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    if (hi == 0)
        return 0;
    unsigned char id[64];
    size_t idn = build_id(info, id, sizeof id);
    fl_out_printf(m->o, "module id=%d base=%p lo=%p hi=%p buildid=", m->id++,
                  (void *)info->dlpi_addr, (void *)lo, (void *)hi);
    if (!idn)
        fl_out_printf(m->o, "-");
    for (size_t i = 0; i < idn; i++)
        fl_out_printf(m->o, "%02x", id[i]);
    fl_out_printf(m->o, " path=");
    const char *name = info->dlpi_name;
    char exe[4096];
    if (!name || !*name) { /* the main program */
        ssize_t n = readlink("/proc/thread-self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = 0;
        name = exe;
    }
    fl_out_escaped(m->o, name, strlen(name));
    fl_out_record_end(m->o);
    return 0;
}

static fl_outbuf_t *prerendered;

static int present_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    return info->dlpi_addr == ((const gone_t *)arg)->base && info->dlpi_name &&
           strcmp(info->dlpi_name, ((const gone_t *)arg)->path) == 0;
}

static void write_gone(fl_outbuf_t *o, int id)
{
    for (size_t i = 0; i < ngone; i++) {
        const gone_t *g = &gone[i];
        if (dl_iterate_phdr(present_cb, (void *)g))
            continue; /* still (or again) loaded: already in the map */
        fl_out_printf(o, "module id=%d base=%p lo=%p hi=%p buildid=", id++, (void *)g->base,
                      (void *)g->lo, (void *)g->hi);
        if (!g->idn)
            fl_out_printf(o, "-");
        for (size_t k = 0; k < g->idn; k++)
            fl_out_printf(o, "%02x", g->id[k]);
        fl_out_printf(o, " path=");
        fl_out_escaped(o, g->path, strlen(g->path));
        fl_out_printf(o, " unloaded=1");
        fl_out_record_end(o);
    }
}

void fl_report_modules(fl_outbuf_t *o)
{
    if (prerendered && !prerendered->err) {
        out_write(o, prerendered->buf, prerendered->len);
        o->records += prerendered->records;
        return;
    }
    modctx_t m = {o, 0};
    dl_iterate_phdr(module_cb, &m);
    write_gone(o, m.id);
}

typedef struct findctx { uintptr_t base; const char *name; gone_t *out; } findctx_t;

static int remember_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    findctx_t *f = arg;
    if (info->dlpi_addr != f->base || !info->dlpi_name || strcmp(info->dlpi_name, f->name) != 0)
        return 0;
    gone_t *g = f->out;
    g->base = info->dlpi_addr;
    g->lo = UINTPTR_MAX;
    g->hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < g->lo)
            g->lo = a;
        if (a + ph->p_memsz > g->hi)
            g->hi = a + ph->p_memsz;
    }
    g->idn = build_id(info, g->id, sizeof g->id);
    size_t l = strlen(info->dlpi_name);
    if (l >= sizeof g->path)
        l = sizeof g->path - 1;
    memcpy(g->path, info->dlpi_name, l);
    g->path[l] = 0;
    return 1;
}

/* Called by the dlclose wrapper before the real dlclose. */
void fl_report_module_closing(uintptr_t base, const char *name)
{
    if (!name || !*name)
        return;
    fl_lock(&gone_lock);
    for (size_t i = 0; i < ngone; i++)
        if (gone[i].base == base && strcmp(gone[i].path, name) == 0) {
            fl_unlock(&gone_lock);
            return;
        }
    if (ngone < MAX_GONE) {
        findctx_t f = {base, name, &gone[ngone]};
        if (dl_iterate_phdr(remember_cb, &f))
            ngone++;
    }
    fl_unlock(&gone_lock);
}

/* Renders the module map now, into memory (fd -1: a full buffer sets err and is not used). */
void fl_report_modules_prerender(void)
{
    fl_outbuf_t *o = fl_arena_map(sizeof *o);
    if (!o)
        return;
    o->fd = -1;
    modctx_t m = {o, 0};
    dl_iterate_phdr(module_cb, &m);
    write_gone(o, m.id);
    prerendered = o;
}

void fl_report_modules_prerender_drop(void)
{
    fl_arena_unmap(prerendered, sizeof *prerendered);
    prerendered = NULL;
}

void fl_report_stack(fl_outbuf_t *o, uint32_t id, uint8_t *written)
{
    if (written) {
        if (written[id >> 3] & (1u << (id & 7)))
            return;
        written[id >> 3] |= (uint8_t)(1u << (id & 7));
    }
    const fl_stack_t *s = fl_depot_get(id);
    fl_out_printf(o, "stack id=%u", id);
    for (int i = 0; s && i < s->n; i++)
        fl_out_printf(o, " %p", (void *)s->frames[i]);
    fl_out_record_end(o);
}

void fl_report_children(fl_outbuf_t *o)
{
    const fl_child_t *c;
    size_t n = fl_children_get(&c);
    for (size_t i = 0; i < n; i++) {
        fl_out_printf(o, "child pid=%d time_ns=%lu how=%s", (int)c[i].pid,
                      (unsigned long)c[i].time_ns, c[i].how ? "spawn" : "fork");
        fl_out_record_end(o);
    }
}
