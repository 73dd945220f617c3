/* fltest.h — helpers for the behaviour cases in tests/cases/ (not a test itself): run the scenario
 * in the top process or in a fork child, leak on purpose where the compiler cannot see it, and
 * check the test program's own assumptions. Programs must stay deterministic at any -O level:
 * pointers that must stay reachable live in globals or volatile locals, leaks happen in noinline
 * functions whose frames are dead at exit. */
#ifndef FLTEST_H
#define FLTEST_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define FL_NOINLINE __attribute__((noinline, noclone))
#define FL_UNUSED __attribute__((unused))
/* Makes gcc assume P escapes and that memory is read here: it keeps the malloc that made P and
 * every store into the block (without it, gcc deletes a block that is only written to). */
#define FL_ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")
#define FL_VARIANT(name) (strcmp(fl_variant(argc, argv), (name)) == 0)

/* A check of the test program's own assumptions (not of forkleak): exit status 99 if false. */
#define FL_REQUIRE(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: test program assumption failed: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                                        \
            fflush(stderr);                                                                        \
            _exit(99);                                                                             \
        }                                                                                          \
    } while (0)

/* The exit status of child PID, as a shell reports it (128 + signal when killed). */
static FL_UNUSED int fl_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 98;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 97;
}

/* True in mode `child` or `child-*` (argv[1]): the scenario runs in a fork child. */
static FL_UNUSED int fl_in_child_mode(int argc, char **argv)
{
    return argc >= 2 && (strcmp(argv[1], "child") == 0 || strncmp(argv[1], "child-", 6) == 0);
}

/* The mode without its `child-` prefix ("parent" for `child` and no mode). */
static FL_UNUSED const char *fl_variant(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "child") == 0)
        return "parent";
    return strncmp(argv[1], "child-", 6) == 0 ? argv[1] + 6 : argv[1];
}

/* In a `child` mode: fork now; the parent waits and exits with the child's status (it allocates
 * nothing, so it must report no leak); the child returns and runs the scenario. Any other mode: run
 * the scenario right here. Call it first thing in main. */
static FL_UNUSED void fl_mode(int argc, char **argv)
{
    if (!fl_in_child_mode(argc, argv))
        return;
    fflush(NULL);
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0)
        return;
    exit(fl_wait(pid));
}

/* The control leak: 7 bytes whose only pointer was in a frame that is dead at exit. Cases that
 * check that something is a root leak it too and expect `direct_bytes=7 direct_blocks=1`, so a
 * check that wrongly finds everything reachable fails them. */
static FL_NOINLINE FL_UNUSED void fl_control_leak(void)
{
    void *volatile p = malloc(7);
    (void)p;
}

/* A thread that only waits, with every signal blocked: it makes the process multi-threaded (so
 * the shim's hooks take their locks) and never runs a handler. Start it with
 * pthread_create(&t, NULL, fl_idle_thread, NULL). */
static FL_UNUSED void *fl_idle_thread(void *arg)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;)
        pause();
    return arg;
}

/* SIGALRM runs fn (sigaction flags `flags`) first_us microseconds from now, then every every_us
 * (0: once); both below one second. */
static FL_UNUSED void fl_alarm(void (*fn)(int), int flags, long first_us, long every_us)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    FL_REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);
    struct itimerval it = {{0, every_us}, {0, first_us}};
    FL_REQUIRE(setitimer(ITIMER_REAL, &it, NULL) == 0);
}

/* Stops fl_alarm's timer. */
static FL_UNUSED void fl_alarm_off(void)
{
    struct itimerval off = {{0, 0}, {0, 0}};
    FL_REQUIRE(setitimer(ITIMER_REAL, &off, NULL) == 0);
}

/* Waits (yielding) until *flag becomes non-zero. */
static FL_UNUSED void fl_wait_flag(volatile int *flag)
{
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
        sched_yield();
}

static FL_UNUSED void fl_set_flag(volatile int *flag)
{
    __atomic_store_n(flag, 1, __ATOMIC_RELEASE);
}

/* Waits until thread TID of this process sleeps in the kernel (state S in its stat file), so a
 * case about a blocked thread really has it blocked when it exits. */
static FL_UNUSED void fl_wait_sleeping(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    for (int i = 0; i < 20000; i++) {
        FILE *f = fopen(path, "r");
        FL_REQUIRE(f != NULL);
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *e = strrchr(buf, ')');
        if (e && e[1] == ' ' && e[2] == 'S')
            return;
        usleep(500);
    }
    FL_REQUIRE(!"the thread never blocked");
}

/* Overwrites the dead stack below the caller, so stale copies of pointers left there by earlier
 * calls (malloc's frames, the shim's) cannot matter to a test about another thread's stack, which
 * is scanned from its SP minus the 128-byte red zone. */
static FL_NOINLINE FL_UNUSED void fl_scrub_stack(void)
{
    volatile char buf[16384];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0;
}

#endif
