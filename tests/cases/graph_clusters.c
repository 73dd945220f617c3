// Blocks far apart in memory: the brk heap's, and large ones glibc serves with mmap near the
// libraries, terabytes away. The exit check splits them into clusters, each with its own page
// directory (scan.c), and rejects a word between clusters at once. Across that gap: an interior
// pointer into a large block keeps it alive; a leaked large block's pointer makes a small block
// indirect; a small block pointed to only from an anonymous mapping (a root) stays reachable; and
// that mapping is full of words pointing into itself, between the clusters, which match nothing.
// MODES: parent child
// EXPECT self: direct_blocks=1 direct_bytes=1048576 indirect_blocks=1 indirect_bytes=48 reachable_blocks=2 reachable_bytes=1048616
// EXPECT-LEAK self: function=make_leak kind=direct bytes=1048576 blocks=1
// EXPECT-LEAK self: function=make_leak kind=indirect bytes=48 blocks=1
#include "fltest.h"

#include <sys/mman.h>

char *volatile g_inside; /* points into the middle of a large block, never to its start */
void **volatile g_map;

static FL_NOINLINE void make_kept(void)
{
    char *big = malloc(1 << 20);
    FL_REQUIRE(big != NULL);
    memset(big, 0, 4096);
    g_inside = big + 500000;
}

static FL_NOINLINE void make_leak(void)
{
    void **big = malloc(1 << 20);
    FL_REQUIRE(big != NULL);
    memset(big, 0, 4096);
    big[7] = malloc(48);
    FL_ESCAPE(big);
}

static FL_NOINLINE void make_rooted(void)
{
    size_t len = 1 << 20;
    void **map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FL_REQUIRE(map != MAP_FAILED);
    for (size_t i = 0; i < len / sizeof *map; i++)
        map[i] = (char *)map + (i * 4096) % len; /* between the clusters */
    map[1000] = malloc(40);
    g_map = map;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    make_kept();
    make_leak();
    make_rooted();
    return 0;
}
