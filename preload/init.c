/* init.c — the constructor: resolves the next allocator, parses FORKLEAK_* (an invalid value ends
 * the process with status 2 before main), records who this process is, and registers the exit
 * handler first so that it runs last. Tracking starts only when all of that has succeeded. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void absolute_dir(void)
{
    if (fl_opt.dir[0] == '/')
        return;
    /* A relative FORKLEAK_DIR means relative to where the program started: it may chdir later. */
    char cwd[512], joined[512];
    if (!getcwd(cwd, sizeof cwd))
        return;
    size_t n = fl_fmt(joined, sizeof joined, "%s/%s", cwd, fl_opt.dir);
    if (n < sizeof joined)
        memcpy(fl_opt.dir, joined, n + 1);
}

__attribute__((constructor(101))) static void fl_constructor(void)
{
    fl_tl_guard = 1;
    fl_real_resolve();
    fl_options_parse();
    absolute_dir();
    if (!fl_opt.follow_exec)
        fl_exec_strip_preload();
    fl_known_pid = getpid();
    fl_proc.pid = fl_known_pid;
    fl_proc.ppid = getppid();
    fl_proc.gen = 0;
    fl_proc.start_ns = fl_now_ns();
    fl_stacks_init();
    fl_threads_init();
    fl_scan_init();
    fl_heapmap_on = fl_opt.prefault == FL_PREFAULT_HEAP;
    fl_mem_read(&fl_mem_start, false);
    fl_exit_register();
    fl_snapshot_init();
    fl_tl_guard = 0;
    __atomic_store_n(&fl_active, 1, __ATOMIC_RELEASE);
}
