/* test_fmt.c — the shim's malloc-free formatter (preload/log.c: fl_fmt/fl_vfmt), compared with
 * snprintf over its documented subset (%s %c %d %i %u %x %p %% with l, ll, z and a width, space-
 * or zero-padded), truncation to any buffer size (snprintf's return value, always NUL-terminated),
 * and its documented differences (%p of NULL, an unsupported conversion stops the output). */
// LINK: preload/log.c
#include "internal.h"

#include <limits.h>

#include "task.h"

static char got[512], want[512];

/* fl_fmt and snprintf must agree on FMT with the given argument, for every buffer size. */
#define SAME(fmt, ...)                                                                             \
    do {                                                                                           \
        int n_ = snprintf(want, sizeof want, fmt, __VA_ARGS__);                                    \
        size_t m_ = fl_fmt(got, sizeof got, fmt, __VA_ARGS__);                                     \
        ASSERT_CTX("format \"%s\"", fmt);                                                          \
        ASSERT_STR_EQ(got, want);                                                                  \
        ASSERT_EQ(m_, n_);                                                                         \
        for (size_t cap_ = 0; cap_ <= (size_t)n_ + 1; cap_++) {                                    \
            char small_[512];                                                                      \
            memset(small_, 'Z', sizeof small_);                                                    \
            size_t r_ = fl_fmt(small_, cap_, fmt, __VA_ARGS__);                                    \
            ASSERT_CTX("format \"%s\" into %zu bytes", fmt, cap_);                                 \
            ASSERT_EQ(r_, n_);                                                                     \
            if (cap_ > 0) {                                                                        \
                size_t len_ = cap_ - 1 < (size_t)n_ ? cap_ - 1 : (size_t)n_;                       \
                ASSERT_EQ(memcmp(small_, want, len_), 0);                                          \
                ASSERT_EQ(small_[len_], 0);                                                        \
            }                                                                                      \
            ASSERT_EQ(small_[cap_], 'Z'); /* nothing written past the buffer */                    \
        }                                                                                          \
    } while (0)

static void test_strings_and_chars(void)
{
    SAME("plain text%s", "");
    SAME("%s", "hello");
    SAME("[%s] [%s]", "a b", "");
    SAME("%c%c%c", 'x', 'y', 'z');
    SAME("100%% sure%s", "");
    SAME("FORKLEAK_%s='%s' is not one of %s", "DEPTH", "abc", "1..64");
    SAME("%s", (const char *)NULL); /* glibc prints (null) too */
}

static void test_integers(void)
{
    static const long long vals[] = {0, 1, -1, 9, 10, 42, -42, 255, 65535, INT_MAX, INT_MIN,
                                     LLONG_MAX, LLONG_MIN, 1000000007, -999999999999};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        long long v = vals[i];
        SAME("%d", (int)v);
        SAME("%i", (int)v);
        SAME("%u", (unsigned)v);
        SAME("%x", (unsigned)v);
        SAME("%ld", (long)v);
        SAME("%lu", (unsigned long)v);
        SAME("%lx", (unsigned long)v);
        SAME("%lld", v);
        SAME("%llu", (unsigned long long)v);
        SAME("%llx", (unsigned long long)v);
        SAME("%zu", (size_t)v);
        SAME("%zd", (ssize_t)v);
        SAME("%zx", (size_t)v);
        SAME("<%d|%u|%x>", (int)v, (unsigned)v, (unsigned)v);
    }
}

static void test_widths(void)
{
    SAME("%5d", 42);
    SAME("%05d", 42);
    SAME("%08x", 0xbeefu);
    SAME("%016lx", 0x7fffdeadbeefUL);
    SAME("%2d", 12345);
    SAME("%02u", 7u);
    SAME("%010lu", 123456789UL);
    SAME("%20llu", 18446744073709551615ULL);
}

/* Widths beyond 24 and negative numbers in a width: printf's results. */
static void test_width_edges(void)
{
    SAME("%030d", 42);
    SAME("%5d", -42);
    SAME("%05d", -42);
}

static void test_pointers(void)
{
    int x;
    SAME("%p", (void *)&x);
    SAME("%p", (void *)0x7fff12345678);
    /* Documented difference: NULL is 0x0 (glibc: (nil)). */
    ASSERT_EQ(fl_fmt(got, sizeof got, "%p", (void *)NULL), 3);
    ASSERT_STR_EQ(got, "0x0");
}

/* An unsupported conversion stops the output there (rather than misreading the arguments). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
static void test_unsupported(void)
{
    char buf[64];
    size_t n = fl_fmt(buf, sizeof buf, "a%qb%s", "never");
    ASSERT_STR_EQ(buf, "a");
    ASSERT_EQ(n, 1);
    n = fl_fmt(buf, 0, "abc");
    ASSERT_EQ(n, 3);
}
#pragma GCC diagnostic pop

int main(void)
{
    RUN_TEST(test_strings_and_chars);
    RUN_TEST(test_integers);
    RUN_TEST(test_widths);
    RUN_TEST(test_pointers);
    RUN_TEST(test_unsupported);
    RUN_TEST(test_width_edges);
    return 0;
}
