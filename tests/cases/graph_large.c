// A heap big enough for the exit check's second thread (FORKLEAK_CHECK_THREADS): 100 lists of
// 1 000 blocks, a 65 535-node tree and one 50 000-block chain (only one worker can follow it, the
// other waits for work it hands over) stay reachable from globals; a 5 000-block list, a 1 023-node
// tree and a 3-cycle are cut loose. One thread and two must find exactly the same leaks, in the
// top process and in a fork child.
// MODES: parent child t1 child-t1
// [parent,child] ENV: FORKLEAK_CHECK_THREADS=2
// [t1,child-t1] ENV: FORKLEAK_CHECK_THREADS=1
// EXPECT self: direct_blocks=3 direct_bytes=104 indirect_blocks=6023 indirect_bytes=209072 reachable_blocks>=215535
// EXPECT-LEAK self: function=list kind=direct blocks=1 bytes=32
// EXPECT-LEAK self: function=list kind=indirect blocks=4999 bytes=159968
// EXPECT-LEAK self: function=tree kind=direct blocks=1 bytes=48
// EXPECT-LEAK self: function=tree kind=indirect blocks=1022 bytes=49056
// EXPECT-LEAK self: function=leak_cycle kind=direct blocks=1 bytes=24
// EXPECT-LEAK self: function=leak_cycle kind=indirect blocks=2 bytes=48
// TIMEOUT: 120
#include "fltest.h"

struct node {
    struct node *next;
    struct node *left, *right;
    long pad;
};

struct node *lists[100]; /* not static: gcc would drop stores nobody reads */
struct node *chain;
struct node *kept_tree;

static FL_NOINLINE struct node *list(size_t n, size_t size)
{
    struct node *head = NULL;
    for (size_t i = 0; i < n; i++) {
        struct node *x = malloc(size);
        memset(x, 0, size);
        x->next = head;
        head = x;
    }
    return head;
}

static FL_NOINLINE struct node *tree(int depth, size_t size)
{
    if (depth == 0)
        return NULL;
    struct node *x = malloc(size);
    memset(x, 0, size);
    x->left = tree(depth - 1, size);
    x->right = tree(depth - 1, size);
    return x;
}

static FL_NOINLINE void leak_list(void)
{
    FL_ESCAPE(list(5000, 32));
}

static FL_NOINLINE void leak_cycle(void)
{
    struct node *a = malloc(24), *b = malloc(24), *c = malloc(24);
    memset(a, 0, 24);
    memset(b, 0, 24);
    memset(c, 0, 24);
    a->next = b;
    b->next = c;
    c->next = a;
    FL_ESCAPE(a);
}

static FL_NOINLINE void build(void)
{
    for (int i = 0; i < 100; i++)
        lists[i] = list(1000, 40 + (size_t)i % 64);
    kept_tree = tree(16, 32);
    chain = list(50000, 32);
    leak_list();
    FL_ESCAPE(tree(10, 48));
    leak_cycle();
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    build();
    return 0;
}
