// malloc(0) returns a block of 0 bytes: dropped, it is one leaked block of 0 bytes; kept (a pointer
// to its address), it is reachable. calloc(0, n) and realloc(NULL, 0) make such blocks too.
// MODES: drop child-drop keep child-keep calloc child-calloc realloc child-realloc
// [drop,child-drop,calloc,child-calloc,realloc,child-realloc] EXPECT self: direct_bytes=0 direct_blocks=1 indirect_blocks=0 reachable_blocks=0
// [drop,child-drop,calloc,child-calloc,realloc,child-realloc] EXPECT-LEAK self: function=fill kind=direct bytes=0 blocks=1
// [keep,child-keep] EXPECT self: direct_bytes=7 direct_blocks=1 reachable_blocks=1 reachable_bytes=0
#include "fltest.h"

void *volatile g_keep;

static FL_NOINLINE void fill(int keep, const char *v)
{
    void *volatile p = strcmp(v, "calloc") == 0    ? calloc(0, 16)
                       : strcmp(v, "realloc") == 0 ? realloc(NULL, 0)
                                                   : malloc(0);
    FL_REQUIRE(p != NULL);
    if (keep)
        g_keep = p;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fill(FL_VARIANT("keep"), fl_variant(argc, argv));
    if (FL_VARIANT("keep"))
        fl_control_leak();
    return 0;
}
