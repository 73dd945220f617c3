/* reader.c — reads one per-process report (docs/report-format.md, version 1) into an
 * fl_report_t: the file, its lines and tokens and values (records.c handles each record). Every
 * input is hostile until proven otherwise: the reader never reads past the buffer, never trusts a
 * count, and rejects the whole file with one diagnostic (file:line: what) rather than guess. It
 * must not depend on libdw or jansson (the fuzz target links it alone). */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_BYTES (1024UL * 1024 * 1024) /* FORKLEAK_INHERITED=full lists every block */
#define MAX_LINE_BYTES (16UL * 1024 * 1024)   /* argv can approach ARG_MAX, escaped */
#define MAX_TOKENS (1UL << 20)

const char *const fl_kind_names[FL_KIND_COUNT] = {"direct", "indirect", "orphan", "live",
                                                  "reachable"};

/* Keeps the first failure of a file; returns false. */
bool fl_parse_fail(fl_parser_t *p, const char *fmt, ...)
{
    if (p->failed)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    p->failed = true;
    return false;
}

/* A short, printable excerpt of a raw token for messages: control bytes as \xNN, "..." when
 * cut. */
const char *fl_parse_excerpt(const char *s, size_t n, char *buf, size_t cap)
{
    size_t o = 0, i = 0;
    for (; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    if (i < n) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

/* The value of a hex digit, -1 otherwise. */
int fl_parse_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes a %-escaped string into the arena. NULL (and a failure) on a bad escape or %00. */
const char *fl_parse_decode(fl_parser_t *p, const char *s, size_t n, const char *what)
{
    char *out = p->arena, *o = out;
    if ((size_t)(p->arena_end - p->arena) < n + 1) /* cannot happen: tokens are disjoint */
        return fl_parse_fail(p, "internal error: string space exhausted"), NULL;
    if (n == 1 && s[0] == '%') /* a lone '%' is the empty string (report-format.md) */
        n = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? fl_parse_hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? fl_parse_hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            char b[40];
            return fl_parse_fail(p, "bad %%-escape in %s '%s' (expected %%XX with two hex digits)",
                                 what, fl_parse_excerpt(s + i, n - i < 8 ? n - i : 8, b, sizeof b)),
                   NULL;
        }
        if (hi == 0 && lo == 0)
            return fl_parse_fail(p, "%s contains an escaped NUL byte (%%00)", what), NULL;
        *o++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *o++ = 0;
    p->arena = o;
    return out;
}

/* Finds key K among the line's key=value tokens. NULL if absent; fails on a duplicate. */
const fl_tok_t *fl_field_find(fl_parser_t *p, const char *k)
{
    size_t kl = strlen(k);
    const fl_tok_t *found = NULL;
    for (size_t i = 1; i < p->ntok; i++) {
        const fl_tok_t *t = &p->toks[i];
        if (t->eq == kl && t->eq < t->len && !memcmp(t->s, k, kl)) {
            if (found)
                return fl_parse_fail(p, "duplicate key '%s='", k), NULL;
            found = t;
        }
    }
    return found;
}

/* The value of key K: 1 with *v and *vl set when the record has it, 0 when it is absent and not
 * required, -1 when parsing failed (a duplicate key, or a required key missing). */
static int field_value(fl_parser_t *p, const char *k, bool required, const char **v, size_t *vl)
{
    const fl_tok_t *t = fl_field_find(p, k);
    if (p->failed)
        return -1;
    if (!t) {
        if (required)
            fl_parse_fail(p, "missing %s=", k);
        return required ? -1 : 0;
    }
    *v = t->s + t->eq + 1;
    *vl = t->len - t->eq - 1;
    return 1;
}

/* An unsigned value in [0, MAX]. */
bool fl_field_u64(fl_parser_t *p, const char *k, bool required, uint64_t max, uint64_t *out)
{
    const char *v;
    size_t vl;
    int got = field_value(p, k, required, &v, &vl);
    if (got <= 0)
        return got == 0;
    char buf[32], ex[48];
    uint64_t x;
    if (vl == 0 || vl >= sizeof buf)
        return fl_parse_fail(p, "%s='%s' is not a number%s", k,
                             fl_parse_excerpt(v, vl, ex, sizeof ex), vl ? " (too long)" : "");
    memcpy(buf, v, vl);
    buf[vl] = 0;
    if (!fl_parse_u64(buf, &x)) {
        bool digits = strspn(buf, "0123456789") == vl;
        return fl_parse_fail(p, "%s='%s' is %s", k, fl_parse_excerpt(v, vl, ex, sizeof ex),
                             digits ? "out of range (more than 64 bits)"
                                    : "not a number (decimal, or hex with 0x)");
    }
    if (x > max)
        return fl_parse_fail(p, "%s=%s is out of range (at most %llu)", k, buf,
                             (unsigned long long)max);
    *out = x;
    return true;
}

/* A signed decimal value. */
bool fl_field_i64(fl_parser_t *p, const char *k, bool required, int64_t *out)
{
    const char *v;
    size_t vl;
    int got = field_value(p, k, required, &v, &vl);
    if (got <= 0)
        return got == 0;
    char buf[32], ex[48];
    bool neg = vl && v[0] == '-';
    uint64_t x;
    if (vl - neg == 0 || vl >= sizeof buf)
        return fl_parse_fail(p, "%s='%s' is not a number", k,
                             fl_parse_excerpt(v, vl, ex, sizeof ex));
    memcpy(buf, v + neg, vl - neg);
    buf[vl - neg] = 0;
    if (!fl_parse_u64(buf, &x) || x > (uint64_t)INT64_MAX)
        return fl_parse_fail(p, "%s='%s' is not a number or is out of range", k,
                             fl_parse_excerpt(v, vl, ex, sizeof ex));
    *out = neg ? -(int64_t)x : (int64_t)x;
    return true;
}

/* A decimal with an optional fraction. */
bool fl_field_dec(fl_parser_t *p, const char *k, double *out, bool *present)
{
    const char *v;
    size_t vl;
    int got = field_value(p, k, false, &v, &vl);
    if (got <= 0)
        return got == 0;
    char buf[48], ex[48];
    if (vl == 0 || vl >= sizeof buf)
        return fl_parse_fail(p, "%s='%s' is not a number", k,
                             fl_parse_excerpt(v, vl, ex, sizeof ex));
    memcpy(buf, v, vl);
    buf[vl] = 0;
    if (!fl_parse_decimal(buf, out))
        return fl_parse_fail(p, "%s='%s' is not a number", k,
                             fl_parse_excerpt(v, vl, ex, sizeof ex));
    if (present)
        *present = true;
    return true;
}

/* A string value; *out untouched when absent and not required. */
bool fl_field_str(fl_parser_t *p, const char *k, bool required, const char **out)
{
    const char *v;
    size_t vl;
    int got = field_value(p, k, required, &v, &vl);
    if (got <= 0)
        return got == 0;
    const char *s = fl_parse_decode(p, v, vl, k);
    if (!s)
        return false;
    *out = s;
    return true;
}

/* A word from a fixed set (an enum-like value). */
int fl_field_word(fl_parser_t *p, const char *k, const char *const *words, size_t nwords,
                  bool required)
{
    const char *v;
    size_t vl;
    if (field_value(p, k, required, &v, &vl) <= 0)
        return -1;
    for (size_t i = 0; i < nwords; i++)
        if (strlen(words[i]) == vl && !memcmp(words[i], v, vl))
            return (int)i;
    char ex[64], list[160] = "";
    for (size_t i = 0; i < nwords; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", words[i]);
    fl_parse_fail(p, "%s='%s' is not one of %s", k, fl_parse_excerpt(v, vl, ex, sizeof ex), list);
    return -1;
}

/* Splits a line at single spaces; every piece is a token (possibly empty). */
static bool tokenize(fl_parser_t *p, const char *s, size_t n)
{
    p->ntok = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ' ')
            continue;
        if (p->ntok == MAX_TOKENS)
            return fl_parse_fail(p, "more than %lu tokens on one line", MAX_TOKENS);
        if (p->ntok == p->captok) {
            p->captok = p->captok ? p->captok * 2 : 64;
            p->toks = fl_xrealloc(p->toks, p->captok * sizeof *p->toks);
        }
        fl_tok_t *t = &p->toks[p->ntok++];
        t->s = s + start;
        t->len = i - start;
        const char *eq = memchr(t->s, '=', t->len);
        t->eq = eq ? (size_t)(eq - t->s) : t->len;
        start = i + 1;
    }
    return true;
}

/* Parses a report held in memory; on failure one diagnostic names FILE:LINE. */
fl_report_t *fl_report_parse(const char *data, size_t size, const char *file, fl_diags_t *diags)
{
    fl_parser_t p = {0};
    fl_report_t *r = fl_xcalloc(1, sizeof *r);
    p.r = r;
    r->file = fl_xstrdup(file);
    r->exit_status = 0;

    if (size == 0) {
        fl_parse_fail(&p, "empty file (not a forkleak report)");
        goto out;
    }
    if (size > MAX_FILE_BYTES) {
        fl_parse_fail(&p, "file is %zu bytes, larger than the %lu MiB a report may have", size,
                      MAX_FILE_BYTES >> 20);
        goto out;
    }
    r->arena = fl_xmalloc(size + 1);
    p.arena = r->arena;
    p.arena_end = r->arena + size + 1;

    size_t nrecords = 0;
    bool ended = false;
    const char *pos = data, *end = data + size;
    for (p.line = 1; pos < end; p.line++) {
        const char *nl = memchr(pos, '\n', (size_t)(end - pos));
        size_t len = nl ? (size_t)(nl - pos) : (size_t)(end - pos);
        if (len > MAX_LINE_BYTES) {
            fl_parse_fail(&p, "line is longer than %lu MiB", MAX_LINE_BYTES >> 20);
            goto out;
        }
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)pos[i];
            if (c == 0) {
                fl_parse_fail(&p, "NUL byte at column %zu (binary data, not a report)", i + 1);
                goto out;
            }
            if (c < 0x20 || c > 0x7e) {
                fl_parse_fail(&p, "byte 0x%02x at column %zu is not printable ASCII (%s)", c, i + 1,
                              p.line == 1 ? "not a forkleak report" : "strings must be %-escaped");
                goto out;
            }
        }
        if (!nl) {
            fl_parse_fail(&p,
                          "truncated: the last line has no newline (and no 'end' record follows)");
            goto out;
        }
        if (ended) {
            fl_parse_fail(&p, "data after the 'end' record");
            goto out;
        }
        if (p.line == 1) {
            static const char magic[] = "forkleak-report ";
            if (len < sizeof magic - 1 || memcmp(pos, magic, sizeof magic - 1)) {
                char ex[64];
                fl_parse_fail(&p,
                              "not a forkleak report (the first line is '%s', expected "
                              "'forkleak-report 1')",
                              fl_parse_excerpt(pos, len < 40 ? len : 40, ex, sizeof ex));
                goto out;
            }
            if (len != sizeof magic || pos[len - 1] != '0' + FL_REPORT_VERSION) {
                char ex[64];
                fl_parse_fail(&p,
                              "unsupported report format version '%s' (this forkleak reads "
                              "version %d)",
                              fl_parse_excerpt(pos + sizeof magic - 1, len - (sizeof magic - 1), ex,
                                               sizeof ex),
                              FL_REPORT_VERSION);
                goto out;
            }
            pos = nl + 1;
            continue;
        }
        if (len == 0) {
            fl_parse_fail(&p, "empty line (every line is a record)");
            goto out;
        }
        if (!tokenize(&p, pos, len))
            goto out;
        const fl_tok_t *name = &p.toks[0];
        if (name->len == 3 && !memcmp(name->s, "end", 3)) {
            uint64_t n = 0;
            if (!fl_field_u64(&p, "records", true, UINT64_MAX, &n))
                goto out;
            if (n != nrecords) {
                fl_parse_fail(&p, "corrupt: 'end records=%llu' but the file has %zu records",
                              (unsigned long long)n, nrecords);
                goto out;
            }
            ended = true;
        } else {
            nrecords++;
            if (!fl_record_parse(&p))
                goto out;
        }
        pos = nl + 1;
    }
    if (!ended) {
        p.line--;
        fl_parse_fail(&p, "truncated: no 'end records=N' line (the report was cut short)");
        goto out;
    }
    p.line = 0;
    if (!p.seen_process) {
        fl_parse_fail(&p, "no 'process' record");
        goto out;
    }
    if (!p.seen_exit) {
        fl_parse_fail(&p, "no 'exit' record");
        goto out;
    }
    if (!fl_record_resolve(&p))
        goto out;

out:
    if (p.failed) {
        fl_diag_add(diags, file, p.line, "%s", p.err);
        fl_report_free(r);
        r = NULL;
    }
    free(p.toks);
    fl_map_free(&p.stack_index);
    fl_map_free(&p.module_ids);
    return r;
}

/* Reads a report file (a regular file; with NOFOLLOW, not a symlink) and parses it. */
fl_report_t *fl_report_read(const char *path, bool nofollow, fl_diags_t *diags)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0) {
        if (errno == ELOOP && nofollow)
            fl_diag_add(diags, path, 0,
                        "is a symbolic link (reports are never symlinks; "
                        "name the target explicitly to read it)");
        else
            fl_diag_add(diags, path, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        fl_diag_add(diags, path, 0, "cannot stat: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        fl_diag_add(diags, path, 0, "not a regular file");
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
        fl_diag_add(diags, path, 0, "file is %lld bytes, larger than the %lu MiB a report may have",
                    (long long)st.st_size, MAX_FILE_BYTES >> 20);
        close(fd);
        return NULL;
    }
    /* The size can change under us (a writer that ignored the rename protocol): read to EOF
     * within the limit rather than trusting st_size. */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = fl_xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap > MAX_FILE_BYTES) {
                fl_diag_add(diags, path, 0, "file grew past %lu MiB while being read",
                            MAX_FILE_BYTES >> 20);
                free(buf);
                close(fd);
                return NULL;
            }
            cap *= 2;
            buf = fl_xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fl_diag_add(diags, path, 0, "read error: %s", strerror(errno));
            free(buf);
            close(fd);
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    fl_report_t *r = fl_report_parse(buf, len, path, diags);
    free(buf);
    return r;
}

/* Releases a report and everything it owns. */
void fl_report_free(fl_report_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->stacks.n; i++)
        free(r->stacks.v[i].ips);
    for (size_t i = 0; i < r->notes.n; i++)
        free(r->notes.v[i]);
    free(r->stacks.v);
    free(r->lineage.v);
    free(r->argv.v);
    free(r->config.v);
    free(r->modules.v);
    free(r->groups.v);
    free(r->inherits.v);
    free(r->blocks.v);
    free(r->cow_sites.v);
    free(r->children.v);
    free(r->warnings.v);
    free(r->notes.v);
    free(r->arena);
    free(r->file);
    free(r);
}

/* Binary search of the module map (sorted by lo) for the module holding IP. */
const fl_module_t *fl_report_module_at(const fl_report_t *r, uint64_t ip)
{
    /* Modules are sorted by lo; find the last with lo <= ip, then check hi. */
    size_t lo = 0, hi = r->modules.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->modules.v[mid].lo <= ip)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const fl_module_t *m = &r->modules.v[lo - 1];
    return ip < m->hi ? m : NULL;
}
