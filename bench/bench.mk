# bench/bench.mk — micro-benchmarks of the hot path (issue 8). Included by the top Makefile.
#   make bench-micro    ns per stack capture by depth (unw_backtrace vs fl_unwind), and ns per
#                       malloc/free pair by depth, natively and under the shim
#   make bench-mem      shim metadata bytes per live block: VmRSS with 1 M live blocks vs native
#   make bench-micro BENCH_SHIMS='a=/x/liba.so b=/y/libb.so'   compare several builds of the shim
# bench/micro.c is built -O2 -fomit-frame-pointer, like the shared bench's churn workload.
BM_OUT := $(B)/bench
BENCH_SHIMS ?= forkleak=$(SHIM)

$(BM_OUT)/micro: bench/micro.c preload/unwind.c preload/cfi.c preload/internal.h \
                 tests/unit/unwind/mmap_arena.c bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(BASE) -fPIC -fvisibility=hidden -ftls-model=initial-exec -fno-stack-protector \
	  $(SHIM_CFLAGS) -c preload/unwind.c -o $(BM_OUT)/unwind.o
	$(CC) $(BASE) -fPIC -fvisibility=hidden -ftls-model=initial-exec -fno-stack-protector \
	  $(SHIM_CFLAGS) -c preload/cfi.c -o $(BM_OUT)/cfi.o
	$(CC) $(BASE) -fomit-frame-pointer -Ipreload $(SHIM_CFLAGS) -c bench/micro.c -o $(BM_OUT)/micro.o
	$(CC) $(BASE) -Ipreload -c tests/unit/unwind/mmap_arena.c -o $(BM_OUT)/mmap_arena.o
	$(CC) -o $@ $(BM_OUT)/micro.o $(BM_OUT)/unwind.o $(BM_OUT)/cfi.o $(BM_OUT)/mmap_arena.o \
	  $(SHIM_LIBS) -ldl

.PHONY: bench-micro
bench-micro: $(BM_OUT)/micro $(SHIM)
	$(BM_OUT)/micro $(foreach s,$(BENCH_SHIMS),--shim $(s))

# make bench-mem: shim metadata bytes per live block (VmRSS with 1 M live blocks, shim vs native)
$(BM_OUT)/mem: bench/mem.c bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(BASE) -fomit-frame-pointer -o $@ bench/mem.c

.PHONY: bench-mem
bench-mem: $(BM_OUT)/mem $(SHIM)
	$(BM_OUT)/mem $(foreach s,$(BENCH_SHIMS),--shim $(s))
