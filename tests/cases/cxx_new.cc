// C++: blocks from new, new[] (plain, and with the array cookie of a type with a destructor) are
// tracked through operator new, attributed to the calling function, with the requested sizes
// (new T[3] of a 12-byte T with a destructor asks for 8 + 36 bytes).
// MODES: parent child
// EXPECT self: direct_bytes=136 direct_blocks=3 indirect_blocks=0
// EXPECT-LEAK self: function=leak_new kind=direct bytes=48 blocks=1
// EXPECT-LEAK self: function=leak_new_array kind=direct bytes=44 blocks=1
// EXPECT-LEAK self: function=leak_new_array_dtor kind=direct bytes=44 blocks=1
#include "fltest.h"

struct S {
    long v[6];
};
struct T {
    int v[3];
    ~T() { v[0] = 0; }
};

S *volatile g_s;
int *volatile g_a;
T *volatile g_t;

extern "C" FL_NOINLINE void leak_new()
{
    g_s = new S();
}
extern "C" FL_NOINLINE void leak_new_array()
{
    g_a = new int[11];
}
extern "C" FL_NOINLINE void leak_new_array_dtor()
{
    g_t = new T[3];
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    leak_new();
    leak_new_array();
    leak_new_array_dtor();
    g_s = 0; /* dropped */
    g_a = 0;
    g_t = 0;
    return 0;
}
