/* 06_free_before_fork.c — free big temporary data before fork, not after (seed 001, "Minimizing
 * Footprint Before fork()"). A child inherits every block live at the moment of fork: its VSZ,
 * its page tables, and the copy-on-write risk if it ever writes there.
 *
 * The parent loads a 64 MiB "config", keeps one value from it, and forks worker A while the
 * config is still allocated (it frees it only after A is done: "after fork"). Then it forks
 * worker B, with the config already freed ("before fork"). Both workers do the same small job.
 *
 *     forkleak run -- build/examples/06_free_before_fork
 *
 * forkleak shows, in each child's inherited figures: worker A inherited the 64 MiB block from
 * load_config (live at its exit), worker B did not; and in the memory table A's VSZ and RSS at
 * start are 64 MiB above B's. */
#include "ex.h"

#define CONFIG_SIZE (64 * MiB)

/* Loads a big dataset of which the program needs only a little. */
static NOINLINE char *load_config(void)
{
    char *c = malloc(CONFIG_SIZE);
    if (!c)
        die("malloc");
    memset(c, 'C', CONFIG_SIZE);
    c[12345] = 42;
    return c;
}

/* The worker's job: small, and it needs only `value`. */
static void work(const char *name, int value)
{
    char *scratch = malloc(4096); /* its own, freed: nothing leaks */
    if (!scratch)
        die("malloc");
    snprintf(scratch, 4096, "worker %s (pid %d): value %d", name, (int)getpid(), value);
    puts(scratch);
    show_mem("at work");
    free(scratch);
}

static void run_worker(const char *name, int value)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == -1)
        die("fork");
    if (pid == 0) {
        work(name, value);
        _exit(0);
    }
    wait_for(pid);
}

int main(void)
{
    char *config = load_config();
    int value = config[12345]; /* all we need from it */

    run_worker("A (forked with the config still allocated)", value);
    free(config); /* after fork: A already carried it */
    config = NULL;

    run_worker("B (forked after free)", value);
    return 0;
}
