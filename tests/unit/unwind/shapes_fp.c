/* shapes_fp.c — frames built with -fno-omit-frame-pointer (CFA = RBP + 16 at every call). */
#include "uwtest.h"

static volatile int sink;

UW_NOINLINE int uw_shape_fp(int depth, unsigned seed)
{
    volatile char pad[24];
    pad[0] = (char)depth;
    int r = uw_descend(depth - 1, seed * 7 + 3);
    return r + pad[0] - depth;
}

UW_NOINLINE int uw_fp_chain(int depth)
{
    volatile int local = depth;
    int r = depth > 0 ? uw_fp_chain(depth - 1) : uw_check();
    sink = local;
    return r;
}
