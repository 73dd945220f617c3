// Reachability follows pointers from the roots only: a global points at one inner node of a cut
// tree, which keeps that node and its subtree; the root and the other branch are leaked (root
// direct, other branch indirect).
// MODES: parent child
// EXPECT self: direct_bytes=64 direct_blocks=1 indirect_bytes=64 indirect_blocks=3 reachable_bytes=64 reachable_blocks=3
// EXPECT-LEAK self: function=build kind=direct bytes=64 blocks=1
#include "fltest.h"

void *volatile g_inner;

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
    g_inner = mid[1];
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    build();
    return 0;
}
