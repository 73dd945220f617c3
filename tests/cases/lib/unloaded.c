/* A library that leaks, then is unloaded by dlclose before the program exits. */
#include <stdlib.h>

__attribute__((noinline)) void *unloaded_make(size_t n)
{
    void *volatile p = malloc(n);
    return p;
}
