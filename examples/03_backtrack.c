/* 03_backtrack.c — a backtracking search (N queens) that forks a child per branch, so whatever
 * each branch leaks dies with it and the parent's state stays clean (seed 000, "Backtracking
 * Algorithm with Clean Parent State").
 *
 * The root tries each column for the queen of row 0 in its own child; each of those tries each
 * safe column of row 1 in a grandchild, which searches the rest of the board sequentially. Every
 * board position tried leaks one 64-byte node record (node_record(), the leak the seed's
 * tree_search has). A branch returns its number of solutions through its exit status (small
 * enough for 8 bits); parents add them up.
 *
 *     forkleak run -- build/examples/03_backtrack [N]        (N = 5 by default)
 *
 * forkleak shows: one process tree (the root, N children, their grandchildren); the root leaked
 * nothing; each child leaked one node record of its own, and each grandchild its own records plus
 * that one, inherited from its parent: the combined view counts it once, as "leaked before fork
 * in pid P, also present in K children". */
#include "ex.h"

#define MAXN 12
#define NODE_SIZE 64
#define FORK_ROWS 2 /* rows 0 and 1 fork a process per column; deeper rows recurse */

/* Stands for the per-node bookkeeping of the search that nobody frees. */
static NOINLINE void node_record(const int *cols, int row)
{
    char *node = malloc(NODE_SIZE); /* leaked: the pointer dies when we return */
    if (!node)
        die("malloc");
    int len = snprintf(node, NODE_SIZE, "row %d:", row);
    for (int r = 0; r <= row && len < NODE_SIZE - 4; r++)
        len += snprintf(node + len, NODE_SIZE - (size_t)len, " %d", cols[r]);
}

/* Whether a queen at (row, col) is safe from the queens in rows 0..row-1. */
static int safe(const int *cols, int row, int col)
{
    for (int r = 0; r < row; r++)
        if (cols[r] == col || abs(cols[r] - col) == row - r)
            return 0;
    return 1;
}

/* Plain recursive backtracking below the forking rows: solutions with rows 0..row-1 placed. */
static int solve(int *cols, int row, int n)
{
    if (row == n)
        return 1;
    int found = 0;
    for (int col = 0; col < n; col++) {
        if (!safe(cols, row, col))
            continue;
        cols[row] = col;
        node_record(cols, row);
        found += solve(cols, row + 1, n);
    }
    return found;
}

/* Tries every safe column of `row` in a child of its own and adds up what the children report.
 * The children all run at once; each writes only its own copy of cols. */
static int fork_branches(int *cols, int row, int n)
{
    pid_t pids[MAXN];
    int nkids = 0, found = 0;

    for (int col = 0; col < n; col++) {
        if (!safe(cols, row, col))
            continue;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == -1)
            die("fork");
        if (pid == 0) {
            cols[row] = col;
            node_record(cols, row);
            int sub = row + 1 < FORK_ROWS ? fork_branches(cols, row + 1, n)
                                          : solve(cols, row + 1, n);
            printf("  pid %d (child of %d) queens at columns", (int)getpid(), (int)getppid());
            for (int r = 0; r <= row; r++)
                printf(" %d", cols[r]);
            printf(": %d solution(s)\n", sub);
            fflush(stdout); /* _exit does not flush stdio */
            _exit(sub); /* <= 54 per branch for N <= 9: fits in the 8-bit exit status */
        }
        pids[nkids++] = pid;
    }
    for (int i = 0; i < nkids; i++) {
        int status = wait_for(pids[i]);
        if (!WIFEXITED(status)) {
            fprintf(stderr, "branch %d died\n", (int)pids[i]);
            exit(1);
        }
        found += WEXITSTATUS(status);
    }
    return found;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5;
    int cols[MAXN];

    if (n < 4 || n > 9) {
        fprintf(stderr, "usage: %s [N]   (4 <= N <= 9)\n", argv[0]);
        return 2;
    }
    printf("root %d: %d queens, one process per queen of rows 0 and 1\n", (int)getpid(), n);
    int total = fork_branches(cols, 0, n);
    printf("root %d: %d solution(s); my own heap is as clean as before the search\n",
           (int)getpid(), total);
    return 0;
}
