/* 08_same_address.c — after fork, parent and child see one variable at the same virtual address,
 * yet each writes its own value: the first write after fork gives the writer a private copy of
 * the page (seed 003, "Practical Example"; seed 002, "What about the memory?").
 *
 * x lives on the heap (new_counter) and starts at 5. The child writes 10; then the parent, which
 * still reads 5, writes 20. Both print &x (the same address) and the physical page frame behind
 * it, read from /proc/self/pagemap: the child's write moved it to a new frame; the parent keeps
 * the original one (no one shares it any more, so its own write needs no copy). The kernel shows
 * frame numbers to CAP_SYS_ADMIN only: unprivileged runs print 0 there.
 *
 *     forkleak run -- build/examples/08_same_address
 *
 * forkleak shows: the child's cow figures count the page it copied, and attribute it to the
 * stack that allocated x (new_counter). */
#include <fcntl.h>
#include <stdint.h>

#include "ex.h"

/* The physical frame behind ADDR (0 when the kernel hides it or the page is not present). */
static uint64_t frame_of(const void *addr)
{
    long psz = sysconf(_SC_PAGESIZE);
    uint64_t entry = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0)
        return 0;
    off_t off = (off_t)((uintptr_t)addr / (uintptr_t)psz) * (off_t)sizeof entry;
    if (pread(fd, &entry, sizeof entry, off) != (ssize_t)sizeof entry)
        entry = 0;
    close(fd);
    return (entry >> 63) & 1 ? entry & ((1ULL << 55) - 1) : 0; /* bit 63 present, 0-54 PFN */
}

static void show(const char *who, const int *x)
{
    printf("%-7s pid %d: x = %2d at %p, page frame %#llx\n", who, (int)getpid(), *x, (void *)x,
           (unsigned long long)frame_of(x));
    fflush(stdout);
}

static NOINLINE int *new_counter(int value)
{
    int *x = malloc(sizeof *x);
    if (!x)
        die("malloc");
    *x = value;
    return x;
}

int main(void)
{
    int *x = new_counter(5);
    int done[2]; /* the child tells the parent when it has written */

    if (pipe(done) == -1)
        die("pipe");
    show("before", x);

    pid_t pid = fork();
    if (pid == -1)
        die("fork");
    if (pid == 0) {
        close(done[0]);
        *x = 10; /* the first write after fork: the child gets a copy of the page */
        show("child", x);
        if (write(done[1], "!", 1) != 1)
            die("write");
        _exit(0);
    }

    char c;
    close(done[1]);
    if (read(done[0], &c, 1) != 1) /* wait until the child has written 10 */
        die("read");
    show("parent", x); /* still 5: the child's write went to its own copy */
    *x = 20;
    show("parent", x);
    wait_for(pid);
    free(x);
    return 0;
}
