// A tree cut from its root pointer: the root is a direct leak, the six blocks under it indirect.
// The leaves are allocated first (lowest addresses), so a check that walks blocks in address
// order meets them before the root and must still end with the root as the direct leak.
// MODES: parent child
// EXPECT self: direct_bytes=64 direct_blocks=1 indirect_bytes=128 indirect_blocks=6 reachable_blocks=0
// EXPECT-LEAK self: function=build kind=direct bytes=64 blocks=1
// EXPECT-LEAK self: function=build kind=indirect bytes=128 blocks=6
#include "fltest.h"

static FL_NOINLINE void build(void)
{
    void **leaf[4], **mid[2], **root;
    for (int i = 0; i < 4; i++) {
        leaf[i] = malloc(16);
        memset(leaf[i], 0, 16);
    }
    for (int i = 0; i < 2; i++) {
        mid[i] = malloc(32);
        memset(mid[i], 0, 32);
        mid[i][0] = leaf[2 * i];
        mid[i][1] = leaf[2 * i + 1];
    }
    root = malloc(64);
    memset(root, 0, 64);
    root[0] = mid[0];
    root[1] = mid[1];
    FL_ESCAPE(root);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    build();
    return 0;
}
