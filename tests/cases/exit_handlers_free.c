// The check runs after the program's atexit handlers and destructors: blocks they free are not
// leaks. Each block's only pointer is kept XOR-masked in a global, so before the handler runs the
// block is unreachable: a check made too early would report it.
// MODES: atexit child-atexit destructor child-destructor cxa child-cxa
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// EXPECT-LEAK self: function=fill groups=0
#include "fltest.h"

#define MASK ((uintptr_t)0x5a5a5a5a5a5a5a5aull)
static volatile uintptr_t masked;
static volatile int use_destructor;

static void release(void)
{
    if (masked)
        free((void *)(masked ^ MASK));
    masked = 0;
}

static void release_cxa(void *arg)
{
    (void)arg;
    release();
}

__attribute__((destructor)) static void dtor(void)
{
    if (use_destructor)
        release();
}

static FL_NOINLINE void fill(void)
{
    masked = (uintptr_t)malloc(60) ^ MASK;
}

extern int __cxa_atexit(void (*)(void *), void *, void *);
extern void *__dso_handle;

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    if (FL_VARIANT("atexit"))
        atexit(release);
    else if (FL_VARIANT("cxa")) /* how C++ registers static destructors */
        __cxa_atexit(release_cxa, NULL, &__dso_handle);
    else
        use_destructor = 1;
    fill();
    fl_control_leak();
    return 0;
}
