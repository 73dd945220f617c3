/* 09_prefork_server.c — a pre-fork server, the pattern behind Apache's prefork MPM, gunicorn,
 * unicorn and redis's BGSAVE: the parent builds its data once, then forks workers that share it
 * copy-on-write and serve requests until told to stop (seed 002, "Using fork to create tasks").
 *
 * The parent loads a cache (256 entries of 1 KiB, kept) and, on the way, leaks its 16 KiB parse
 * buffer: a leak made before fork, so every worker inherits it. It then forks 4 workers, each
 * with a socketpair, and sends each 50 requests. A worker answers each request with a response
 * it forgets to free (128 bytes leaked per request) and bumps the entry's hit counter (a write to
 * a page it shares with the parent: that page gets copied).
 *
 * Workers of a real server never exit, so a leak checker that runs at exit never sees them.
 * Halfway, once worker 1 has answered 20 requests, the parent sends it SIGUSR2: run under
 * `forkleak run --signal SIGUSR2`, the worker writes a snapshot report and goes on serving. (The
 * parent sends the signal only when FORKLEAK_SIGNAL=SIGUSR2 is set, since SIGUSR2 would
 * otherwise kill the worker.) Then the parent closes the sockets; the workers see EOF and exit.
 *
 *     forkleak run -o /tmp/fl9 --signal SIGUSR2 -- build/examples/09_prefork_server
 *     forkleak report /tmp/fl9/fl.PID.*.s1.report     (the snapshot alone; PID: worker 1's)
 *
 * forkleak shows: the parse buffer once, as "leaked before fork in pid P, also present in 4
 * children"; each worker's own leak, 50 x 128 bytes from handle_request; the snapshot of worker
 * 1 with 20 x 128 bytes leaked so far; and the cache pages each worker copied. */
#include <signal.h>
#include <sys/socket.h>

#include "ex.h"

#define WORKERS 4
#define REQUESTS 50       /* per worker */
#define SNAPSHOT_AFTER 20 /* requests worker 1 has answered when the parent asks for a snapshot */
#define CACHE_ENTRIES 256
#define PARSE_BUF (16 * KiB)
#define RESPONSE_SIZE 128

struct entry {
    long hits; /* written by the workers: a shared page becomes a private copy */
    char value[1024 - sizeof(long)];
};

struct request {
    int key;
};

static struct entry *cache[CACHE_ENTRIES]; /* the parent's data, shared with every worker */

/* Builds the cache. The parse buffer should be freed at the end, and is not: leaked before fork. */
static NOINLINE void load_cache(void)
{
    char *parse = malloc(PARSE_BUF);
    if (!parse)
        die("malloc");
    for (int i = 0; i < CACHE_ENTRIES; i++) {
        snprintf(parse, PARSE_BUF, "value of key %d", i);
        cache[i] = malloc(sizeof *cache[i]);
        if (!cache[i])
            die("malloc");
        cache[i]->hits = 0;
        snprintf(cache[i]->value, sizeof cache[i]->value, "%s", parse);
    }
    /* missing: free(parse); */
}

/* Answers one request. The response is built on the heap and never freed: 128 bytes a request. */
static NOINLINE void handle_request(int fd, const struct request *req)
{
    struct entry *e = cache[req->key % CACHE_ENTRIES];
    char *resp = malloc(RESPONSE_SIZE);
    if (!resp)
        die("malloc");
    e->hits++;
    snprintf(resp, RESPONSE_SIZE, "%.100s (hit %ld)", e->value, e->hits);
    if (write(fd, resp, RESPONSE_SIZE) != RESPONSE_SIZE)
        die("write");
    /* missing: free(resp); */
}

/* A worker: serves requests from FD until the parent closes its end. */
static NOINLINE int serve(int fd)
{
    struct request req;
    int served = 0;
    for (;;) {
        ssize_t n = read(fd, &req, sizeof req);
        if (n == 0)
            return served; /* EOF: the parent tells us to stop */
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof req)
            die("read request");
        handle_request(fd, &req);
        served++;
    }
}

/* Sends COUNT requests to one worker and waits for each answer. */
static void send_requests(int fd, int first, int count)
{
    char resp[RESPONSE_SIZE];
    for (int i = first; i < first + count; i++) {
        struct request req = {.key = i * 7};
        if (write(fd, &req, sizeof req) != (ssize_t)sizeof req)
            die("write request");
        if (read(fd, resp, sizeof resp) != (ssize_t)sizeof resp)
            die("read response");
    }
}

int main(void)
{
    pid_t pids[WORKERS];
    int fds[WORKERS];
    const char *sig = getenv("FORKLEAK_SIGNAL");
    int snapshots = sig && strcmp(sig, "SIGUSR2") == 0;

    load_cache();
    printf("server %d: cache of %d entries loaded, forking %d workers\n", (int)getpid(),
           CACHE_ENTRIES, WORKERS);
    fflush(stdout);

    for (int w = 0; w < WORKERS; w++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
            die("socketpair");
        pids[w] = fork();
        if (pids[w] == -1)
            die("fork");
        if (pids[w] == 0) {
            for (int i = 0; i < w; i++)
                close(fds[i]); /* not ours: the earlier workers' sockets */
            close(sv[0]);
            int served = serve(sv[1]);
            printf("worker %d (pid %d): served %d requests\n", w, (int)getpid(), served);
            fflush(stdout);
            _exit(0);
        }
        close(sv[1]);
        fds[w] = sv[0];
    }

    /* First part of the traffic; then, while the workers are still running, ask worker 1 for a
     * snapshot of its leaks so far (it has answered exactly SNAPSHOT_AFTER requests). */
    for (int w = 0; w < WORKERS; w++)
        send_requests(fds[w], w * REQUESTS, SNAPSHOT_AFTER);
    if (snapshots) {
        printf("server: SIGUSR2 to worker 1 (pid %d) after %d requests\n", (int)pids[1],
               SNAPSHOT_AFTER);
        fflush(stdout);
        kill(pids[1], SIGUSR2);
    }
    for (int w = 0; w < WORKERS; w++)
        send_requests(fds[w], w * REQUESTS + SNAPSHOT_AFTER, REQUESTS - SNAPSHOT_AFTER);

    for (int w = 0; w < WORKERS; w++)
        close(fds[w]); /* EOF: stop */
    for (int w = 0; w < WORKERS; w++)
        wait_for(pids[w]);
    printf("server: all workers stopped\n");
    for (int i = 0; i < CACHE_ENTRIES; i++)
        free(cache[i]);
    return 0;
}
