// Allocations made on small stacks that are not the thread's own: a signal handler on an 8 KiB
// sigaltstack (the classic SIGSTKSZ), and a function run by swapcontext on an 8 KiB makecontext
// stack. The shim needs libunwind to cross the signal frame or the end of the makecontext stack,
// and libunwind needs more stack than the handler has left: it must run elsewhere. The handler
// runs from two different callers, so a stack that stopped at the signal frame would merge its
// two leaks into one group. A makecontext stack has no caller: its stacks end at __start_context,
// and both of its leaks make one group.
// MODES: signal child-signal ucontext child-ucontext
// COMPARE-NATIVE: yes
// STDOUT: done\n
// EXPECT self: direct_bytes=87 direct_blocks=3 indirect_blocks=0 orphan_blocks=0
// [signal,child-signal] EXPECT-LEAK self: function=handler kind=direct bytes=80 blocks=2 groups=2
// [ucontext,child-ucontext] EXPECT-LEAK self: function=on_small_stack kind=direct bytes=80 blocks=2 groups=1
#include "fltest.h"

#include <signal.h>
#include <ucontext.h>

#define SMALL 8192

static FL_NOINLINE void handler(int sig)
{
    (void)sig;
    void *volatile p = malloc(40); /* leaked: the handler's frame is gone at exit */
    FL_ESCAPE(p);
    free(malloc(100));
}

static ucontext_t main_ctx, small_ctx;

static FL_NOINLINE void on_small_stack(void)
{
    void *volatile p = malloc(40);
    FL_ESCAPE(p);
    free(malloc(100));
}

static FL_NOINLINE void run_small(void)
{
    char *stack = malloc(SMALL); /* freed after: its stale words are not scanned */
    FL_REQUIRE(getcontext(&small_ctx) == 0);
    small_ctx.uc_stack.ss_sp = stack;
    small_ctx.uc_stack.ss_size = SMALL;
    small_ctx.uc_link = &main_ctx;
    makecontext(&small_ctx, on_small_stack, 0);
    FL_REQUIRE(swapcontext(&main_ctx, &small_ctx) == 0);
    explicit_bzero(stack, SMALL); /* its stale words would live on in the next block made there */
    free(stack);
}

static FL_NOINLINE void first(int use_signal)
{
    if (use_signal)
        raise(SIGUSR1);
    else
        run_small();
    FL_ESCAPE(&use_signal);
}

static FL_NOINLINE void second(int use_signal)
{
    if (use_signal)
        raise(SIGUSR1);
    else
        run_small();
    FL_ESCAPE(&use_signal);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    int use_signal = FL_VARIANT("signal");
    void *alt = malloc(SMALL);
    if (use_signal) {
        stack_t ss = {.ss_sp = alt, .ss_size = SMALL, .ss_flags = 0};
        FL_REQUIRE(sigaltstack(&ss, NULL) == 0);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = handler;
        sa.sa_flags = SA_ONSTACK;
        FL_REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
    }
    first(use_signal);
    second(use_signal);
    if (use_signal) {
        stack_t off = {.ss_flags = SS_DISABLE};
        FL_REQUIRE(sigaltstack(&off, NULL) == 0);
    }
    explicit_bzero(alt, SMALL); /* as in run_small: stdout's buffer may be made there next */
    free(alt);
    puts("done");
    fl_control_leak();
    return 0;
}
