// Another live thread's registers are roots: the thread keeps the only pointer in RBX while it
// spins, or while it is blocked in the read() system call. Its dead stack below the SP (where
// malloc ran) is zeroed first and every other register is cleared, so only RBX can keep the block.
// MODES: spin child-spin read child-read
// CFLAGS: -pthread
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=0 reachable_bytes>=60
// EXPECT-LEAK self: function=thread_main groups=0
#include "fltest.h"

#include <pthread.h>

/* hold_rbx(p, flag, fd): RBX = p; zero 64 KiB of dead stack below; clear the other scratch
 * registers; *flag = 1; then spin forever (fd < 0) or sit in read(fd, …) forever. */
__attribute__((noreturn)) void hold_rbx(void *p, volatile int *flag, long fd);
__asm__(".text\n"
        ".globl hold_rbx\n"
        ".type hold_rbx, @function\n"
        "hold_rbx:\n"
        "  .cfi_startproc\n"
        "  sub $24, %rsp\n"
        "  .cfi_adjust_cfa_offset 24\n"
        "  mov %rdi, %rbx\n"
        "  lea -65536(%rsp), %rcx\n"
        "1: movq $0, (%rcx)\n"
        "  add $8, %rcx\n"
        "  cmp %rsp, %rcx\n"
        "  jb 1b\n"
        "  xor %eax, %eax\n"
        "  xor %ecx, %ecx\n"
        "  xor %edi, %edi\n"
        "  xor %r8d, %r8d\n"
        "  xor %r9d, %r9d\n"
        "  xor %r10d, %r10d\n"
        "  xor %r11d, %r11d\n"
        "  movl $1, (%rsi)\n"
        "  xor %esi, %esi\n"
        "  test %rdx, %rdx\n"
        "  js 3f\n"
        "  mov %rdx, %rdi\n"
        "2: mov %rsp, %rsi\n" /* read(fd, rsp, 1) */
        "  mov $1, %edx\n"
        "  xor %eax, %eax\n"
        "  syscall\n"
        "  jmp 2b\n"
        "3: pause\n"
        "  jmp 3b\n"
        "  .cfi_endproc\n"
        ".size hold_rbx, .-hold_rbx\n");

static const char *variant;
static volatile int ready;
static volatile pid_t thread_tid;
static int pipefd[2];

static FL_NOINLINE void *thread_main(void *arg)
{
    (void)arg;
    thread_tid = gettid();
    hold_rbx(malloc(60), &ready, strcmp(variant, "read") == 0 ? pipefd[0] : -1);
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    variant = fl_variant(argc, argv);
    FL_REQUIRE(pipe(pipefd) == 0);
    pthread_t t;
    FL_REQUIRE(pthread_create(&t, NULL, thread_main, NULL) == 0);
    fl_wait_flag(&ready);
    if (strcmp(variant, "read") == 0)
        fl_wait_sleeping(thread_tid);
    fl_control_leak();
    return 0;
}
