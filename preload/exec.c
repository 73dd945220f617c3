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
    /* Guard set: a signal handler execs from inside one of our hooks, which may hold the arena's
     * lock. The exec goes ahead without its short report (the tree shows no report). */
    if (!fl_active || !fl_is_own_process() || fl_tl_guard)
        return false;
    int saved = errno;
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
    fl_tl_guard = 0;
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

/* execl*: the arguments up to the terminating NULL, counted, then copied into an array on the
 * stack (ARG_MAX bounds them). fill_args consumes the NULL too, so execle's envp comes next. */
static size_t count_args(va_list *ap)
{
    size_t n = 1;
    while (va_arg(*ap, char *))
        n++;
    return n;
}

static void fill_args(char **argv, const char *first, va_list *ap)
{
    size_t i = 0;
    argv[i++] = (char *)first;
    while ((argv[i++] = va_arg(*ap, char *)) != NULL)
        ;
}

FL_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(&ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    fill_args(argv, arg, &ap);
    va_end(ap);
    return execve(path, argv, environ);
}

FL_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(&ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    fill_args(argv, arg, &ap);
    va_end(ap);
    return execvpe(file, argv, environ);
}

FL_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(&ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    fill_args(argv, arg, &ap);
    char **envp = va_arg(ap, char **);
    va_end(ap);
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
