/* util.c — small helpers of the forkleak tool: checked allocation, growable arrays, string
 * interning, a u64 map, diagnostics and strict number parsing. No knowledge of reports here;
 * nothing in this file may depend on libdw or jansson (the fuzz target links it alone). */
#include "forkleak.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

static void out_of_memory(size_t n)
{
    fprintf(stderr, "forkleak: error: out of memory (allocating %zu bytes)\n", n);
    exit(2);
}

/* malloc that exits with a message when memory runs out. */
void *fl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

/* calloc that exits with a message when memory runs out. */
void *fl_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size);
    return p;
}

/* realloc that exits with a message when memory runs out. */
void *fl_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}

/* strdup that exits with a message when memory runs out. */
char *fl_xstrdup(const char *s)
{
    return fl_xstrndup(s, strlen(s));
}

/* strndup that exits with a message when memory runs out. */
char *fl_xstrndup(const char *s, size_t n)
{
    char *p = fl_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Doubles the capacity of an array (FL_PUSH). */
void *fl_grow(void *p, size_t *cap, size_t elem)
{
    size_t ncap = *cap ? *cap * 2 : 8;
    if (ncap < *cap || ncap > SIZE_MAX / elem)
        out_of_memory(SIZE_MAX);
    *cap = ncap;
    return fl_xrealloc(p, ncap * elem);
}

/* asprintf that exits with a message when memory runs out. */
char *fl_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        out_of_memory(0);
    return s;
}

/* FNV-1a over N bytes, continuing from H. */
uint64_t fl_hash_bytes(const void *p, size_t n, uint64_t h)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* ---- map: open addressing, linear probing, key 0 reserved for "empty" ---- */

/* The value stored for KEY, or NULL. */
void *fl_map_get(const fl_map_t *m, uint64_t key)
{
    if (!key)
        return m->zero_val; /* 0 marks an empty slot: key 0 lives beside the table */
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = (key * 0x9e3779b97f4a7c15ULL) >> 7 & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key)
            return m->vals[i];
        if (!m->keys[i])
            return NULL;
    }
}

/* Stores VAL for KEY, growing the table at 3/4 load. */
void fl_map_put(fl_map_t *m, uint64_t key, void *val)
{
    if (!key) {
        m->zero_val = val;
        return;
    }
    if ((m->n + 1) * 4 > m->cap * 3) {
        fl_map_t bigger = {0};
        bigger.cap = m->cap ? m->cap * 2 : 64;
        bigger.keys = fl_xcalloc(bigger.cap, sizeof *bigger.keys);
        bigger.vals = fl_xcalloc(bigger.cap, sizeof *bigger.vals);
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i])
                fl_map_put(&bigger, m->keys[i], m->vals[i]);
        free(m->keys);
        free(m->vals);
        *m = bigger;
    }
    size_t mask = m->cap - 1;
    for (size_t i = (key * 0x9e3779b97f4a7c15ULL) >> 7 & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key) {
            m->vals[i] = val;
            return;
        }
        if (!m->keys[i]) {
            m->keys[i] = key;
            m->vals[i] = val;
            m->n++;
            return;
        }
    }
}

/* Frees the table (not the values). */
void fl_map_free(fl_map_t *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- interned strings: a chained hash set keyed by the full string ---- */

typedef struct istr {
    struct istr *next;
    uint64_t hash;
    size_t len;
    char s[];
} istr_t;

static struct {
    istr_t **slots;
    size_t cap, n;
} pool;

/* The unique copy of S[0..N), valid until fl_intern_free(). */
const char *fl_intern_n(const char *s, size_t n)
{
    uint64_t h = fl_hash_bytes(s, n, FL_HASH_SEED);
    if (pool.cap) {
        for (istr_t *e = pool.slots[h & (pool.cap - 1)]; e; e = e->next)
            if (e->hash == h && e->len == n && !memcmp(e->s, s, n))
                return e->s;
    }
    if (pool.n + 1 > pool.cap) {
        size_t ncap = pool.cap ? pool.cap * 2 : 1024;
        istr_t **ns = fl_xcalloc(ncap, sizeof *ns);
        for (size_t i = 0; i < pool.cap; i++) {
            for (istr_t *e = pool.slots[i], *next; e; e = next) {
                next = e->next;
                e->next = ns[e->hash & (ncap - 1)];
                ns[e->hash & (ncap - 1)] = e;
            }
        }
        free(pool.slots);
        pool.slots = ns;
        pool.cap = ncap;
    }
    istr_t *e = fl_xmalloc(sizeof *e + n + 1);
    e->hash = h;
    e->len = n;
    memcpy(e->s, s, n);
    e->s[n] = 0;
    e->next = pool.slots[h & (pool.cap - 1)];
    pool.slots[h & (pool.cap - 1)] = e;
    pool.n++;
    return e->s;
}

/* fl_intern_n() of a C string; NULL stays NULL. */
const char *fl_intern(const char *s)
{
    return s ? fl_intern_n(s, strlen(s)) : NULL;
}

/* Frees every interned string. */
void fl_intern_free(void)
{
    for (size_t i = 0; i < pool.cap; i++) {
        for (istr_t *e = pool.slots[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(pool.slots);
    memset(&pool, 0, sizeof pool);
}

/* ---- string buffer ---- */

/* Appends N bytes, keeping the buffer NUL-terminated. */
void fl_buf_add(fl_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        b->s = fl_xrealloc(b->s, ncap);
        b->cap = ncap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

/* Appends printf output. */
void fl_buf_printf(fl_buf_t *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        fl_buf_add(b, tmp, (size_t)n);
        return;
    }
    char *big = fl_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    fl_buf_add(b, big, (size_t)n);
    free(big);
}

/* ---- diagnostics ---- */

/* Records a bad input: FILE, LINE (0: the whole file) and what was wrong. */
void fl_diag_add(fl_diags_t *d, const char *file, unsigned long line, const char *fmt, ...)
{
    fl_diag_t *e = FL_PUSH(*d);
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&e->message, fmt, ap) < 0)
        out_of_memory(0);
    va_end(ap);
    e->file = fl_xstrdup(file);
    e->line = line;
}

/* "forkleak: error: FILE:LINE: message", one line per diagnostic. */
void fl_diags_print(const fl_diags_t *d, FILE *f)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->v[i].line)
            fprintf(f, "forkleak: error: %s:%lu: %s\n", d->v[i].file, d->v[i].line,
                    d->v[i].message);
        else
            fprintf(f, "forkleak: error: %s: %s\n", d->v[i].file, d->v[i].message);
    }
}

/* Frees the diagnostics. */
void fl_diags_free(fl_diags_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].message);
    }
    free(d->v);
    memset(d, 0, sizeof *d);
}

static void vmsg(const char *level, const char *fmt, va_list ap)
{
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    fprintf(stderr, "forkleak: %s: %s\n", level, buf);
}

/* A usage error and a hint at --help; returns exit status 2. */
int fl_usage_error(const char *cmd, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "forkleak: error: %s\n", buf);
    if (cmd)
        fprintf(stderr, "See 'forkleak %s --help'.\n", cmd);
    else
        fputs("See 'forkleak --help'.\n", stderr);
    return 2;
}

/* "forkleak: error: …" on stderr. */
void fl_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("error", fmt, ap);
    va_end(ap);
}

/* "forkleak: warning: …" on stderr. */
void fl_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning", fmt, ap);
    va_end(ap);
}

static fl_map_t warned;

/* A warning printed only the first time its text comes up. */
void fl_warn_once(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    uint64_t key = (uint64_t)(uintptr_t)fl_intern(buf);
    if (fl_map_get(&warned, key))
        return;
    fl_map_put(&warned, key, &warned);
    fprintf(stderr, "forkleak: warning: %s\n", buf);
}

/* Forgets which warnings were printed. */
void fl_warn_once_reset(void)
{
    fl_map_free(&warned);
}

/* ---- numbers ---- */

/* Strict: all of S is a decimal or 0x-hex number that fits in 64 bits. */
bool fl_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (!*s)
            return false;
        for (; *s; s++) {
            unsigned d;
            if (*s >= '0' && *s <= '9')
                d = (unsigned)(*s - '0');
            else if (*s >= 'a' && *s <= 'f')
                d = (unsigned)(*s - 'a' + 10);
            else if (*s >= 'A' && *s <= 'F')
                d = (unsigned)(*s - 'A' + 10);
            else
                return false;
            if (v >> 60)
                return false;
            v = v << 4 | d;
        }
    } else {
        if (!*s)
            return false;
        for (; *s; s++) {
            if (*s < '0' || *s > '9')
                return false;
            unsigned d = (unsigned)(*s - '0');
            if (v > (UINT64_MAX - d) / 10)
                return false;
            v = v * 10 + d;
        }
    }
    *out = v;
    return true;
}

/* Strict: digits with an optional fraction, nothing else. */
bool fl_parse_decimal(const char *s, double *out)
{
    const char *p = s;
    bool digits = false;
    while (*p >= '0' && *p <= '9')
        p++, digits = true;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits = true;
    }
    if (!digits || *p || p - s > 40)
        return false;
    errno = 0;
    *out = strtod(s, NULL);
    return errno == 0;
}

/* The part of PATH after its last slash. */
const char *fl_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}
