// posix_memalign's failures: EINVAL for an alignment that is not a power of two or is smaller
// than sizeof(void *), ENOMEM for a huge size; *memptr untouched, nothing recorded.
// MODES: parent child
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
#include "fltest.h"

static FL_NOINLINE void try_bad(void)
{
    void *sentinel = (void *)0x1234, *p = sentinel;
    FL_REQUIRE(posix_memalign(&p, 3, 44) == EINVAL && p == sentinel);
    FL_REQUIRE(posix_memalign(&p, 24, 44) == EINVAL && p == sentinel);
    FL_REQUIRE(posix_memalign(&p, 4, 44) == EINVAL && p == sentinel);
    FL_REQUIRE(posix_memalign(&p, 0, 44) == EINVAL && p == sentinel);
    FL_REQUIRE(posix_memalign(&p, 64, SIZE_MAX - 100) == ENOMEM && p == sentinel);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    try_bad();
    fl_control_leak();
    return 0;
}
