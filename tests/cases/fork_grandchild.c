// Three generations: each process leaks its own block; descendants report their ancestors' leaks
// as inherited, with the generation and the pid they come from; the grandchild's lineage names
// both ancestors, oldest first; the tree nests it under the child.
// EXPECT-PROCS: 3
// EXPECT child: gen=1 ppid=@parent lineage.0.pid=@parent lineage.0.gen=0 lineage.1=null
// EXPECT grandchild: gen=2 ppid=@child lineage.0.pid=@parent lineage.0.gen=0 lineage.1.pid=@child lineage.1.gen=1 lineage.2=null
// EXPECT-TREE: process=parent parent=null depth=0 nodes=1
// EXPECT-TREE: process=child parent=parent depth=1 nodes=1
// EXPECT-TREE: process=grandchild parent=child depth=2 nodes=1
// EXPECT-TREE: nodes=3
// EXPECT-LEAK child: function=leak_gen0 from_pid=@parent groups=1
// EXPECT-LEAK grandchild: function=leak_gen0 from_pid=@parent groups=1
// EXPECT-LEAK grandchild: function=leak_gen1 from_pid=@child groups=1
// EXPECT parent: direct_bytes=12 direct_blocks=1 indirect_blocks=0
// EXPECT child: direct_bytes=56 direct_blocks=2 indirect_blocks=0
// EXPECT grandchild: direct_bytes=116 direct_blocks=3 indirect_blocks=0
// EXPECT-LEAK parent: function=leak_gen0 origin=own bytes=12
// EXPECT-LEAK child: function=leak_gen0 origin=inherited from_gen=0 bytes=12
// EXPECT-LEAK child: function=leak_gen1 origin=own bytes=44
// EXPECT-LEAK grandchild: function=leak_gen0 origin=inherited from_gen=0 bytes=12
// EXPECT-LEAK grandchild: function=leak_gen1 origin=inherited from_gen=1 bytes=44
// EXPECT-LEAK grandchild: function=leak_gen2 origin=own bytes=60
#include "fltest.h"

static FL_NOINLINE void leak_gen0(void)
{
    void *volatile p = malloc(12);
    (void)p;
}
static FL_NOINLINE void leak_gen1(void)
{
    void *volatile p = malloc(44);
    (void)p;
}
static FL_NOINLINE void leak_gen2(void)
{
    void *volatile p = malloc(60);
    (void)p;
}

int main(void)
{
    leak_gen0();
    pid_t pid = fork();
    FL_REQUIRE(pid >= 0);
    if (pid == 0) {
        leak_gen1();
        pid_t g = fork();
        FL_REQUIRE(g >= 0);
        if (g == 0) {
            leak_gen2();
            return 0;
        }
        return fl_wait(g);
    }
    return fl_wait(pid);
}
