// Every way a process ends makes the check and reports with its own status: exit(), return from
// main, _exit() and _Exit() (which skip atexit handlers: LeakSanitizer checks none of them; their
// leaks count here). The status (3) is the program's.
// MODES: exit child-exit return child-return _exit child-_exit _Exit child-_Exit
// EXIT: 3
// EXPECT self: direct_bytes=44 direct_blocks=1 indirect_blocks=0 exit_status=3
// EXPECT-LEAK self: function=drop kind=direct bytes=44 blocks=1
// [exit,child-exit,return,child-return] EXPECT self: exit_kind=exit
// [_exit,child-_exit] EXPECT self: exit_kind=_exit
// [_Exit,child-_Exit] EXPECT self: exit_kind=_Exit
#include "fltest.h"

static FL_NOINLINE void drop(void)
{
    void *volatile p = malloc(44);
    (void)p;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    drop();
    if (FL_VARIANT("_exit"))
        _exit(3);
    if (FL_VARIANT("_Exit"))
        _Exit(3);
    if (FL_VARIANT("exit"))
        exit(3);
    return 3;
}
