// Report files are created mode 0600 whatever the umask (0 or 0777), atomically (no temporary file
// left behind), one per process (the runner checks names, modes and leftovers for every case).
// MODES: umask0 child-umask0 umask777 child-umask777
// EXPECT self: direct_bytes=44 direct_blocks=1
#include "fltest.h"

#include <sys/stat.h>

static FL_NOINLINE void drop(void)
{
    void *volatile p = malloc(44);
    (void)p;
}

int main(int argc, char **argv)
{
    umask(FL_VARIANT("umask0") ? 0 : 0777);
    fl_mode(argc, argv);
    drop();
    return 0;
}
