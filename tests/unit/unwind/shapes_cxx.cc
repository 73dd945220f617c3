// shapes_cxx.cc — C++ frames for the fl_unwind test: functions with cleanups (their CIEs carry a
// personality and an LSDA, augmentation "zPLR"), checks made from destructors while an exception
// unwinds, from catch blocks, and from a callable run by std::call_once (libstdc++ and libc
// frames in between).
#include <mutex>
#include <stdexcept>

#include "uwtest.h"

namespace {

int failures_in_dtors = 0;

struct Checker {
    int depth;
    unsigned seed;
    ~Checker()
    {
        // Runs from a landing pad while the exception passes this frame.
        failures_in_dtors += uw_check();
        if (depth > 0 && (seed & 1))
            failures_in_dtors += uw_descend(depth % 3, seed + 1);
    }
};

UW_NOINLINE int thrower(int depth, unsigned seed)
{
    Checker c{depth, seed};
    if (depth == 0)
        throw std::runtime_error("bottom");
    return thrower(depth - 1, seed * 3 + 1) + 1;
}

} // namespace

extern "C" UW_NOINLINE int uw_shape_cxx(int depth, unsigned seed)
{
    Checker c{0, 0}; // its destructor runs a check on the normal path too
    volatile int x = depth;
    return uw_descend(depth - 1, seed * 5 + 1) + x - depth;
}

extern "C" UW_NOINLINE int uw_cxx_exceptions(int depth, unsigned seed)
{
    failures_in_dtors = 0;
    int f = 0;
    try {
        try {
            thrower(depth, seed);
        } catch (const std::runtime_error &) {
            f += uw_check();
            f += uw_descend(depth % 5, seed);
            throw; // rethrow through this frame
        }
    } catch (const std::exception &) {
        f += uw_check();
    }
    return f + failures_in_dtors;
}

extern "C" UW_NOINLINE int uw_cxx_call_once(int depth, unsigned seed)
{
    std::once_flag flag;
    int f = 0;
    std::call_once(flag, [&] { f = uw_descend(depth, seed); });
    return f;
}
