// A leak allocated by a library that was dlclose'd before exit is still attributed to the
// library's function: the report keeps the unloaded library in its module map.
// MODES: parent child
// SO: lib/unloaded.c
// CFLAGS: -ldl
// EXPECT self: direct_bytes=77 direct_blocks=1
// EXPECT-LEAK self: kind=direct bytes=77 function=unloaded_make
#include "fltest.h"

#include <dlfcn.h>

static FL_NOINLINE void run(void)
{
    void *h = dlopen(FL_BUILD_DIR "/libunloaded.so", RTLD_NOW);
    if (!h)
        exit(90);
    void *(*make)(size_t) = (void *(*)(size_t))dlsym(h, "unloaded_make");
    make(77); /* dropped: the leak */
    if (dlclose(h) != 0)
        exit(91);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    run();
    return 0;
}
