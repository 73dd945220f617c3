// ... and blocks that atexit handlers or destructors allocate and drop are leaks: the check runs
// after them (a check made before them would miss these).
// MODES: atexit child-atexit destructor child-destructor
// EXPECT self: direct_bytes=44 direct_blocks=1 indirect_blocks=0
// EXPECT-LEAK self: function=drop_one kind=direct bytes=44 blocks=1
#include "fltest.h"

static volatile int use_destructor;

static FL_NOINLINE void drop_one(void)
{
    void *volatile p = malloc(44);
    (void)p;
}

static void handler(void)
{
    drop_one();
}

__attribute__((destructor)) static void dtor(void)
{
    if (use_destructor)
        drop_one();
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    if (FL_VARIANT("atexit"))
        atexit(handler);
    else
        use_destructor = 1;
    return 0;
}
