// Memory a program manages itself: a private anonymous mmap'ed pool that holds no malloc block
// is a root by default (valgrind's view; CPython's arenas are such pools), and not with
// FORKLEAK_SCAN_MAPPINGS=no (LeakSanitizer's narrower roots), where the block leaks.
// MODES: parent child lsan child-lsan
// [parent,child] EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 reachable_bytes>=140
// [parent,child] EXPECT-LEAK self: function=fill groups=0
// [lsan,child-lsan] ENV: FORKLEAK_SCAN_MAPPINGS=no
// [lsan,child-lsan] EXPECT self: direct_bytes=147 direct_blocks=2 indirect_blocks=0
// [lsan,child-lsan] EXPECT-LEAK self: function=fill kind=direct bytes=140 blocks=1
#include "fltest.h"

#include <sys/mman.h>

static void **volatile pool; /* the pool's address: not a malloc block */

static FL_NOINLINE void fill(void)
{
    void **p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FL_REQUIRE(p != MAP_FAILED);
    p[4096 / sizeof(void *) + 3] = malloc(140); /* the only pointer, inside the pool */
    pool = p;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill();
    fl_control_leak();
    return 0;
}
