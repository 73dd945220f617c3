/* stubs.c — the few symbols the core files linked into a unit test reference but that live in
 * shim files a unit test does not link (hooks.c, stacks.c, scan.c). Minimal on purpose: if a core
 * file starts needing much more, it wants a seam instead. */
#include "internal.h"

volatile int fl_active = 1; /* hooks.c: tracking on (fl_disable clears it) */

FL_TLS volatile int fl_tl_guard; /* hooks.c: the shim's own allocations are not tracked */

void fl_stacks_thread_exit(void) /* stacks.c: a thread's capture caches, freed at its exit */
{
}

void fl_depot_lock_all(void) /* stacks.c */
{
}

void fl_depot_unlock_all(void) /* stacks.c */
{
}

void fl_scan_warn(fl_scan_stats_t *st, const char *msg) /* scan.c */
{
    if (st->nwarnings < sizeof st->warnings / sizeof st->warnings[0])
        st->warnings[st->nwarnings++] = msg;
}
