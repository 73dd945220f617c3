# tests/unit/unwind.mk — preload/unwind.c's fl_unwind must return exactly what libunwind's
# unw_backtrace returns (tests/unit/unwind/test_unwind.c says how). Included by the top Makefile.
#   make test-unwind      build and run it (honours SANITIZE=address|undefined|both)
# The test's translation units are built with different code-generation flags on purpose:
# no frame pointer, frame pointer, C++ with exceptions. unwind.c and cfi.c get the shim's own
# flags; unwind.c once as shipped and once with a 4-entry rule table, so that the table grows
# while 4 threads read it.
UW_SRC := tests/unit/unwind
# objects built with other SANITIZE flags are kept apart
UW_OUT := $(B)/tests/unwind$(if $(SANITIZE),-$(SANITIZE))
UW_CC  := $(CC) $(BASE) $(SAN_FLAGS) -Ipreload -I$(UW_SRC) $(SHIM_CFLAGS)
UW_SHIMCC := $(CC) $(BASE) $(SAN_FLAGS) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
             -fno-stack-protector $(SHIM_CFLAGS)
UW_OBJS := $(UW_OUT)/test_unwind.o $(UW_OUT)/shapes_fp.o $(UW_OUT)/shapes_cxx.o \
           $(UW_OUT)/mmap_arena.o
UW_DEPS := $(UW_SRC)/uwtest.h preload/internal.h tests/unit/unwind.mk
CXX    ?= g++

$(UW_OUT)/unwind.o: preload/unwind.c $(UW_DEPS)
	@mkdir -p $(@D)
	$(UW_SHIMCC) -c $< -o $@
$(UW_OUT)/cfi.o: preload/cfi.c $(UW_DEPS)
	@mkdir -p $(@D)
	$(UW_SHIMCC) -c $< -o $@
$(UW_OUT)/unwind_tiny.o: preload/unwind.c $(UW_DEPS)
	@mkdir -p $(@D)
	$(UW_SHIMCC) -DFL_UNWIND_TABLE_MIN_BITS=2 -DFL_UNWIND_SITE_SETS_FIRST=16 -c $< -o $@
$(UW_OUT)/test_unwind.o: $(UW_SRC)/test_unwind.c $(UW_DEPS)
	@mkdir -p $(@D)
	$(UW_CC) -fomit-frame-pointer -c $< -o $@
$(UW_OUT)/mmap_arena.o: $(UW_SRC)/mmap_arena.c $(UW_DEPS)
	@mkdir -p $(@D)
	$(UW_CC) -c $< -o $@
$(UW_OUT)/shapes_fp.o: $(UW_SRC)/shapes_fp.c $(UW_DEPS)
	@mkdir -p $(@D)
	$(UW_CC) -fno-omit-frame-pointer -c $< -o $@
$(UW_OUT)/shapes_cxx.o: $(UW_SRC)/shapes_cxx.cc $(UW_DEPS)
	@mkdir -p $(@D)
	$(CXX) -std=gnu++17 -O2 -g -Wall -Wextra -Werror $(SAN_FLAGS) -I$(UW_SRC) -c $< -o $@
$(UW_OUT)/test_unwind: $(UW_OBJS) $(UW_OUT)/unwind.o $(UW_OUT)/cfi.o
	$(CXX) $(SAN_FLAGS) -o $@ $^ $(SHIM_LIBS) -ldl -lpthread
$(UW_OUT)/test_unwind_tiny: $(UW_OBJS) $(UW_OUT)/unwind_tiny.o $(UW_OUT)/cfi.o
	$(CXX) $(SAN_FLAGS) -o $@ $^ $(SHIM_LIBS) -ldl -lpthread

.PHONY: test-unwind
test-unwind: $(UW_OUT)/test_unwind $(UW_OUT)/test_unwind_tiny
	@{ $(UW_OUT)/test_unwind; echo "# again, with a 4-entry rule table that grows while 4 threads read it"; \
	   $(UW_OUT)/test_unwind_tiny; } | awk '{ print } /^[0-9]+ passed, [0-9]+ failed$$/ { p += $$1; f += $$3; n++ } \
	   END { print p " passed, " f + (n != 2) " failed"; exit (f > 0 || n != 2) }'
