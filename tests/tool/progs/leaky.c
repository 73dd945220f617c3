/* leaky.c — a small C program whose allocation call sites the tool tests symbolize (built with
 * -g, PIE and -no-pie). Each call site is marked with a SITE: comment the runner looks up. */
#include <stdlib.h>
#include <string.h>

struct node {
    struct node *next;
    char payload[24];
};

static inline __attribute__((always_inline)) void *grab(size_t n)
{
    return malloc(n); /* SITE: grab */
}

__attribute__((noinline)) void *make_buffer(size_t n)
{
    void *p = grab(n); /* SITE: make_buffer->grab */
    memset(p, 1, n);
    return p;
}

__attribute__((noinline)) struct node *make_list(int n)
{
    struct node *head = NULL;
    for (int i = 0; i < n; i++) {
        struct node *e = calloc(1, sizeof *e); /* SITE: make_list */
        e->next = head;
        head = e;
    }
    return head;
}

int main(int argc, char **argv)
{
    void *volatile a = make_buffer(100);           /* SITE: main->make_buffer */
    struct node *volatile l = make_list(argc + 2); /* SITE: main->make_list */
    (void)argv;
    a = NULL;
    l = NULL;
    return 0;
}
