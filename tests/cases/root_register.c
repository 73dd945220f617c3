// A pointer kept only in a callee-saved register (RBX) of the function that calls exit()/_exit()
// is found: the check recovers the caller's registers by unwinding. The pointer is in no memory
// the scan reads: the allocating frame is dead, and exit's own spill of RBX lies below the live
// stack. (Made deterministic with a few lines of assembly.)
// MODES: exit child-exit _exit child-_exit
// EXPECT self: reachable_blocks=1 reachable_bytes=60 direct_bytes=7 direct_blocks=1 indirect_blocks=0
#include "fltest.h"

/* exit_holding_rbx(p, fn): RBX = p, every other register that held p cleared, then fn(0). */
__attribute__((noreturn)) void exit_holding_rbx(void *p, void (*fn)(int));
__asm__(".text\n"
        ".globl exit_holding_rbx\n"
        ".type exit_holding_rbx, @function\n"
        "exit_holding_rbx:\n"
        "  .cfi_startproc\n"
        "  sub $8, %rsp\n" /* 16-byte alignment at the call; no copy of anything on the stack */
        "  .cfi_adjust_cfa_offset 8\n"
        "  mov %rdi, %rbx\n"
        "  xor %edi, %edi\n"
        "  xor %eax, %eax\n"
        "  call *%rsi\n"
        "  ud2\n"
        "  .cfi_endproc\n"
        ".size exit_holding_rbx, .-exit_holding_rbx\n");

static FL_NOINLINE void *make(void)
{
    void *volatile p = malloc(60);
    return p;
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    fl_control_leak();
    exit_holding_rbx(make(), FL_VARIANT("_exit") ? _exit : exit);
}
