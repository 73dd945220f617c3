/* exec.c — the exec family. Just before exec replaces this image, a short "exec" report is
 * written (no leak check: the memory is about to vanish, and nothing in it is a leak the program
 * could fix). If exec fails the record is removed and the process goes on as before.
 * glibc's execv/execvp/execl… call execve internally (no PLT), so each is wrapped. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static char exec_tmp[600], exec_final[600];

static bool exec_record(const char *target)
{
    if (!fl_active || !fl_is_own_process())
        return false;
    int saved = errno;
    int guard = fl_tl_guard;
    fl_tl_guard = 1;
    bool ok = false;
    fl_outbuf_t *o = fl_arena_map(sizeof *o);
    if (o && fl_report_open(o, exec_tmp, sizeof exec_tmp, exec_final, sizeof exec_final)) {
        fl_report_header(o, FL_EXIT_EXEC, 0, target);
        fl_report_children(o);
        fl_out_printf(o, "summary check=none");
        fl_out_record_end(o);
        ok = fl_report_commit(o, exec_tmp, exec_final);
    }
    fl_arena_unmap(o, sizeof *o);
    fl_tl_guard = guard;
    errno = saved;
    return ok;
}

static void exec_failed(bool recorded)
{
    if (recorded) {
        int saved = errno;
        unlink(exec_final);
        errno = saved;
    }
}

FL_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    if (fl_real_state != 2)
        fl_real_resolve();
    bool r = exec_record(path);
    int rc = fl_real.execve(path, argv, envp);
    exec_failed(r);
    return rc;
}

FL_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    if (fl_real_state != 2)
        fl_real_resolve();
    bool r = exec_record(file);
    int rc = fl_real.execvpe(file, argv, envp);
    exec_failed(r);
    return rc;
}

FL_EXPORT int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

FL_EXPORT int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, environ);
}

FL_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    if (fl_real_state != 2)
        fl_real_resolve();
    bool r = exec_record("(fexecve)");
    int rc = fl_real.fexecve(fd, argv, envp);
    exec_failed(r);
    return rc;
}

/* execl*: collect the arguments (ARG_MAX bounds them; the stack holds the pointers). */
#define COLLECT_ARGS(first, ap, argv, extra)                                                       \
    size_t n_ = 1;                                                                                 \
    va_start(ap, first);                                                                           \
    while (va_arg(ap, char *))                                                                     \
        n_++;                                                                                      \
    va_end(ap);                                                                                    \
    char *argv[n_ + 1];                                                                            \
    va_start(ap, first);                                                                           \
    argv[0] = (char *)first;                                                                       \
    for (size_t i_ = 1; i_ <= n_; i_++)                                                            \
        argv[i_] = i_ < n_ ? va_arg(ap, char *) : NULL;                                            \
    if (i_extra_)                                                                                  \
        (void)va_arg(ap, char *); /* the terminating NULL */                                      \
    extra;                                                                                         \
    va_end(ap)

FL_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    const int i_extra_ = 0;
    COLLECT_ARGS(arg, ap, argv, (void)0);
    return execve(path, argv, environ);
}

FL_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    const int i_extra_ = 0;
    COLLECT_ARGS(arg, ap, argv, (void)0);
    return execvpe(file, argv, environ);
}

FL_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    char **envp;
    const int i_extra_ = 1;
    COLLECT_ARGS(arg, ap, argv, envp = va_arg(ap, char **));
    return execve(path, argv, envp);
}

/* FORKLEAK_FOLLOW_EXEC=no: take the shim out of this process's own LD_PRELOAD, in place (the
 * environment strings are writable and no allocation is needed), so that every program it starts
 * — exec, posix_spawn, system, popen — runs without it. */
void fl_exec_strip_preload(void)
{
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
            continue;
        char *val = *e + 11, *w = val;
        const char *r = val;
        bool first = true;
        while (*r) {
            while (*r == ' ' || *r == ':')
                r++;
            const char *start = r;
            while (*r && *r != ' ' && *r != ':')
                r++;
            size_t len = (size_t)(r - start);
            if (!len)
                continue;
            const char *base = start;
            for (const char *q = start; q < r; q++)
                if (*q == '/')
                    base = q + 1;
            if ((size_t)(r - base) == strlen("libforkleak.so") &&
                memcmp(base, "libforkleak.so", (size_t)(r - base)) == 0)
                continue;
            if (!first)
                *w++ = ':';
            memmove(w, start, len);
            w += len;
            first = false;
        }
        *w = 0;
        if (!*val) { /* nothing left: drop the variable */
            char **d = e;
            do
                d[0] = d[1];
            while (*d++);
            e--;
        }
    }
}
