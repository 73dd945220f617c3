// realloc: the new block replaces the old one in the records, with the new requested size and the
// realloc call site as its stack: growing, shrinking, moving (the old address must be forgotten),
// and realloc(NULL, n) as malloc.
// MODES: grow child-grow shrink child-shrink move child-move null child-null
// [grow,child-grow] EXPECT self: direct_bytes=5004 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// [shrink,child-shrink] EXPECT self: direct_bytes=12 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// [move,child-move] EXPECT self: direct_bytes=1004 direct_blocks=1 indirect_blocks=0 reachable_blocks=1 reachable_bytes=44
// [null,child-null] EXPECT self: direct_bytes=44 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// EXPECT-LEAK self: function=resize kind=direct blocks=1
// EXPECT-LEAK self: function=first groups=0
#include "fltest.h"

void *volatile g_neighbour;

static FL_NOINLINE char *first(size_t n)
{
    char *volatile p = malloc(n);
    memset(p, 'x', n);
    return p;
}

static FL_NOINLINE void resize(const char *v)
{
    if (strcmp(v, "grow") == 0) {
        char *p = first(12);
        char *volatile q = realloc(p, 5004);
        FL_REQUIRE(q != NULL && q[11] == 'x');
    } else if (strcmp(v, "shrink") == 0) {
        char *p = first(5004);
        char *volatile q = realloc(p, 12);
        FL_REQUIRE(q != NULL && q[11] == 'x');
    } else if (strcmp(v, "move") == 0) {
        char *p = first(44);
        g_neighbour = malloc(44); /* right after p: p cannot grow in place */
        char *volatile q = realloc(p, 1004);
        FL_REQUIRE(q != NULL && q != p && q[43] == 'x');
    } else {
        void *volatile q = realloc(NULL, 44);
        FL_REQUIRE(q != NULL);
    }
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    resize(fl_variant(argc, argv));
    return 0;
}
