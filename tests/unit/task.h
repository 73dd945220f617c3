/* task.h — always-on assertions for the unit tests (in the style of libuv's test/task.h): a failed
 * check prints the file, the line, the expression and both sides, then aborts. Not affected by
 * NDEBUG. Tests are functions run by RUN_TEST, which prints `ok - name` when one passes. */
#ifndef FL_TASK_H
#define FL_TASK_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Context for the next failure message (e.g. which random operation was running). */
static char task_ctx[256] __attribute__((unused));
#define ASSERT_CTX(...) snprintf(task_ctx, sizeof task_ctx, __VA_ARGS__)

static inline __attribute__((noreturn)) void task_fail(void)
{
    if (task_ctx[0])
        fprintf(stderr, "  context: %s\n", task_ctx);
    abort();
}

#define ASSERT_BASE(a, op, b, type, fmt)                                                           \
    do {                                                                                           \
        type eval_a_ = (type)(a);                                                                  \
        type eval_b_ = (type)(b);                                                                  \
        if (!(eval_a_ op eval_b_)) {                                                               \
            fprintf(stderr, "%s:%d: assertion failed: `%s %s %s` (" fmt " %s " fmt ")\n",         \
                    __FILE__, __LINE__, #a, #op, #b, eval_a_, #op, eval_b_);                       \
            task_fail();                                                                           \
        }                                                                                          \
    } while (0)

#define ASSERT_EQ(a, b) ASSERT_BASE(a, ==, b, int64_t, "%" PRId64)
#define ASSERT_NE(a, b) ASSERT_BASE(a, !=, b, int64_t, "%" PRId64)
#define ASSERT_LT(a, b) ASSERT_BASE(a, <, b, int64_t, "%" PRId64)
#define ASSERT_LE(a, b) ASSERT_BASE(a, <=, b, int64_t, "%" PRId64)
#define ASSERT_GE(a, b) ASSERT_BASE(a, >=, b, int64_t, "%" PRId64)
#define ASSERT_U64_EQ(a, b) ASSERT_BASE(a, ==, b, uint64_t, "%#" PRIx64)
#define ASSERT_PTR_EQ(a, b) ASSERT_BASE(a, ==, b, const void *, "%p")
#define ASSERT_TRUE(a) ASSERT_BASE(!!(a), ==, 1, int, "%d")
#define ASSERT_FALSE(a) ASSERT_BASE(!!(a), ==, 0, int, "%d")

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *eval_a_ = (a), *eval_b_ = (b);                                                 \
        if (strcmp(eval_a_, eval_b_) != 0) {                                                       \
            fprintf(stderr, "%s:%d: assertion failed: `%s == %s` (\"%s\" == \"%s\")\n", __FILE__,  \
                    __LINE__, #a, #b, eval_a_, eval_b_);                                           \
            task_fail();                                                                           \
        }                                                                                          \
    } while (0)

#define RUN_TEST(fn)                                                                               \
    do {                                                                                           \
        task_ctx[0] = 0;                                                                           \
        fn();                                                                                      \
        printf("ok - %s\n", #fn);                                                                  \
        fflush(stdout);                                                                            \
    } while (0)

#endif
