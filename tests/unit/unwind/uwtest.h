/* uwtest.h — shared by the translation units of the fl_unwind test (test_unwind.c, shapes_fp.c,
 * shapes_cxx.cc). Each TU is built with different code-generation flags, so a call chain through
 * them mixes frame shapes: no frame pointer, frame pointer, realigned stacks, C++ cleanups. */
#ifndef UWTEST_H
#define UWTEST_H

#ifdef __cplusplus
extern "C" {
#endif

#define UW_NOINLINE __attribute__((noinline))

/* Compares fl_unwind with unw_backtrace from one call instruction, at the current point. */
int uw_check(void);
/* Calls `depth` more frames, each of a shape chosen from seed, then uw_check() at the bottom. */
int uw_descend(int depth, unsigned seed);

int uw_shape_fp(int depth, unsigned seed);      /* shapes_fp.c: -fno-omit-frame-pointer */
int uw_fp_chain(int depth);                     /* shapes_fp.c: a pure frame-pointer chain */
int uw_shape_cxx(int depth, unsigned seed);     /* shapes_cxx.cc: a frame with a cleanup */
int uw_cxx_exceptions(int depth, unsigned seed); /* checks in destructors and catch blocks */
int uw_cxx_call_once(int depth, unsigned seed); /* checks under std::call_once */

#ifdef __cplusplus
}
#endif
#endif
