// libc's own caches are not leaks: what strerror() of an unknown errno, ctime(), getpwnam(),
// backtrace(), fopen() without fclose() (the FILE and its buffer) and setlocale() keep for later is
// reachable from libc. Each variant uses one of them; the only leak is the control.
// MODES: strerror child-strerror ctime child-ctime getpwnam child-getpwnam backtrace child-backtrace fopen child-fopen setlocale child-setlocale
// EXPECT self: direct_bytes=7 direct_blocks=1 indirect_blocks=0 orphan_blocks=0
#include "fltest.h"

#include <execinfo.h>
#include <locale.h>
#include <pwd.h>
#include <time.h>

static FL_NOINLINE void use_cache(const char *v)
{
    if (strcmp(v, "strerror") == 0) {
        FL_REQUIRE(strerror(12345) != NULL);
        FL_REQUIRE(strerror(-7) != NULL);
    } else if (strcmp(v, "ctime") == 0) {
        time_t t = 1700000000;
        FL_REQUIRE(ctime(&t) != NULL);
        FL_REQUIRE(localtime(&t) != NULL);
    } else if (strcmp(v, "getpwnam") == 0) {
        FL_REQUIRE(getpwnam("root") != NULL);
        FL_REQUIRE(getpwuid(0) != NULL);
    } else if (strcmp(v, "backtrace") == 0) {
        void *frames[16];
        FL_REQUIRE(backtrace(frames, 16) > 0);
    } else if (strcmp(v, "fopen") == 0) {
        FILE *f = fopen("/proc/self/stat", "r");
        FL_REQUIRE(f != NULL);
        FL_REQUIRE(fgetc(f) != EOF); /* allocates the read buffer */
        FILE *w = fopen("fopen-test.txt", "w");
        FL_REQUIRE(w != NULL);
        FL_REQUIRE(fputs("kept open\n", w) >= 0);
    } else if (strcmp(v, "setlocale") == 0) {
        FL_REQUIRE(setlocale(LC_ALL, "C.UTF-8") != NULL);
        FL_REQUIRE(setlocale(LC_NUMERIC, "C") != NULL);
    } else {
        FL_REQUIRE(!"unknown variant");
    }
}

int main(int argc, char **argv)
{
    fl_mode(argc, argv);
    use_cache(fl_variant(argc, argv));
    fl_control_leak();
    return 0;
}
