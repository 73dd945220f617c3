/* log.c — formatting, messages and file reading for the shim. Never allocates, never uses stdio:
 * everything is formatted into a caller's buffer and written with write(2), and files are read
 * with read(2) into one, so it is safe inside malloc, at fork and at exit. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static size_t put_u64(char *buf, size_t cap, size_t len, uint64_t v, unsigned base, int width,
                      char pad, bool neg)
{
    char tmp[80];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    if (width > (int)sizeof tmp - 1)
        width = (int)sizeof tmp - 1;
    /* The sign goes after zero padding ("-0042") and before space padding ("  -42"). */
    if (neg && pad == ' ')
        tmp[n++] = '-';
    while (n < width - (neg && pad == '0'))
        tmp[n++] = pad;
    if (neg && pad == '0')
        tmp[n++] = '-';
    while (n > 0) {
        if (len + 1 < cap)
            buf[len] = tmp[n - 1];
        len++;
        n--;
    }
    return len;
}

/* A printf subset: %s %c %d %i %u %x %p %% with l/ll/z modifiers and a zero-padded width.
 * Returns the length it would have written; the output is always NUL-terminated. */
size_t fl_vfmt(char *buf, size_t cap, const char *fmt, va_list ap)
{
    size_t len = 0;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            if (len + 1 < cap)
                buf[len] = *f;
            len++;
            continue;
        }
        f++;
        char pad = ' ';
        int width = 0, lng = 0, sz = 0;
        if (*f == '0') {
            pad = '0';
            f++;
        }
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        while (*f == 'l') {
            lng++;
            f++;
        }
        if (*f == 'z') {
            sz = 1;
            f++;
        }
        switch (*f) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            for (; *s; s++) {
                if (len + 1 < cap)
                    buf[len] = *s;
                len++;
            }
            break;
        }
        case 'c':
            if (len + 1 < cap)
                buf[len] = (char)va_arg(ap, int);
            len++;
            break;
        case 'd':
        case 'i': {
            int64_t v = sz ? (int64_t)va_arg(ap, ssize_t)
                           : lng ? (int64_t)va_arg(ap, long) : (int64_t)va_arg(ap, int);
            uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
            len = put_u64(buf, cap, len, u, 10, width, pad, v < 0);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t u = sz ? (uint64_t)va_arg(ap, size_t)
                            : lng ? (uint64_t)va_arg(ap, unsigned long)
                                  : (uint64_t)va_arg(ap, unsigned);
            len = put_u64(buf, cap, len, u, *f == 'x' ? 16 : 10, width, pad, false);
            break;
        }
        case 'p': {
            uintptr_t u = (uintptr_t)va_arg(ap, void *);
            if (len + 1 < cap)
                buf[len] = '0';
            len++;
            if (len + 1 < cap)
                buf[len] = 'x';
            len++;
            len = put_u64(buf, cap, len, u, 16, 0, '0', false);
            break;
        }
        case '%':
            if (len + 1 < cap)
                buf[len] = '%';
            len++;
            break;
        default:
            return len; /* unsupported conversion: stop rather than misread va_args */
        }
    }
    if (cap)
        buf[len < cap ? len : cap - 1] = 0;
    return len;
}

size_t fl_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = fl_vfmt(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

uint64_t fl_proc_field(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

/* Reads the file at PATH (a /proc file, mostly) into buf: at most cap - 1 bytes, NUL-terminated.
 * Returns the length, or -1 if it cannot be opened. */
ssize_t fl_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n < cap - 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    return (ssize_t)n;
}

void fl_log_raw(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0)
            return; /* stderr closed or full: nothing sensible to do */
        s += w;
        n -= (size_t)w;
    }
}

static void vlog(const char *level, const char *fmt, va_list ap)
{
    char buf[1024];
    size_t n = fl_fmt(buf, sizeof buf, "forkleak: %s: ", level);
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    size_t m = fl_vfmt(buf + n, sizeof buf - n - 1, fmt, ap);
    n += m < sizeof buf - n - 1 ? m : sizeof buf - n - 2;
    buf[n++] = '\n';
    fl_log_raw(buf, n);
}

void fl_log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("warning", fmt, ap);
    va_end(ap);
}

void fl_log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog("error", fmt, ap);
    va_end(ap);
}

void fl_disable(const char *why)
{
    static volatile int said;
    fl_active = 0;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        fl_log_warn("%s; tracking stopped for this process", why);
}

uint64_t fl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t fl_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
