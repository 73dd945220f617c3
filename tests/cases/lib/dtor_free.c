/* Helper of exit_lib_destructor.c: a library whose destructor frees the block the program handed
 * it (masked, so that only the destructor can find it). Library destructors run at exit after the
 * program's, before the check. */
#include <stdint.h>
#include <stdlib.h>

#define MASK ((uintptr_t)0x3c3c3c3c3c3c3c3cull)
static volatile uintptr_t masked;

void lib_keep(void *p);
void lib_keep(void *p)
{
    masked = (uintptr_t)p ^ MASK;
}

__attribute__((destructor)) static void lib_dtor(void)
{
    if (masked)
        free((void *)(masked ^ MASK));
}
