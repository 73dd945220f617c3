// Blocks freed by a shared library's destructor (a library linked in, and one loaded with dlopen and
// never closed) are not leaks: library destructors run before the check.
// MODES: linked child-linked dlopen child-dlopen
// SO: lib/dtor_free.c
// SO: lib/dtor_free2.c
// CFLAGS: {build}/libdtor_free.so -Wl,-rpath,{build} -ldl
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0
// [linked,child-linked] EXPECT self: reachable_blocks=0
// EXPECT-LEAK self: function=fill groups=0
#include "fltest.h"

#include <dlfcn.h>

void lib_keep(void *p);

static FL_NOINLINE void fill(void (*keep)(void *))
{
    keep(malloc(60));
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    void (*keep)(void *) = lib_keep;
    if (FL_VARIANT("dlopen")) {
        /* The same code under another name: its own destructor and state. */
        void *h = dlopen(FL_BUILD_DIR "/libdtor_free2.so", RTLD_NOW);
        FL_REQUIRE(h != NULL);
        *(void **)&keep = dlsym(h, "lib_keep");
        FL_REQUIRE(keep != NULL);
    }
    fill(keep);
    fl_control_leak();
    return 0;
}
