// The live part of the exiting thread's stack is a root: exit() (or _exit()) is called from a
// function whose frame still holds the only pointer, in a volatile local.
// MODES: exit child-exit _exit child-_exit
// EXPECT self: reachable_blocks=1 reachable_bytes=44 direct_bytes=7 direct_blocks=1 indirect_blocks=0
// [exit,child-exit] EXPECT self: exit_kind=exit
// [_exit,child-_exit] EXPECT self: exit_kind=_exit
#include "fltest.h"

static FL_NOINLINE void hold_and_exit(int use__exit)
{
    void *volatile p = malloc(44);
    fl_control_leak(); /* after p is stored: the control's frame is dead, p's is live */
    if (use__exit)
        _exit(0);
    exit(0);
    (void)p;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    hold_and_exit(FL_VARIANT("_exit"));
    return 1;
}
