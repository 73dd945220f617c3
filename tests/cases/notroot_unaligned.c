// Only aligned words are pointers: a pointer stored at an odd offset (a packed struct in a global,
// and an unaligned copy inside a reachable heap block) does not keep its block alive.
// MODES: parent child
// EXPECT self: direct_bytes=136 direct_blocks=2 indirect_blocks=0 reachable_blocks=1 reachable_bytes=64
// EXPECT-LEAK self: function=fill kind=direct bytes=136 blocks=2
#include "fltest.h"

struct __attribute__((packed)) packed {
    char c;
    void *p;
};
volatile struct packed g_packed __attribute__((aligned(8)));
void *volatile g_holder;

static FL_NOINLINE void fill(void)
{
    g_packed.p = malloc(60);
    FL_REQUIRE(((uintptr_t)&g_packed.p & 7) != 0);
    void *q = malloc(76);
    char *h = malloc(64);
    memset(h, 0, 64);
    memcpy(h + 3, &q, sizeof q); /* unaligned copy in a reachable block */
    g_holder = h;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill();
    return 0;
}
