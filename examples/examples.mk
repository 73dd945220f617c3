# examples/examples.mk — included by the top-level Makefile.
#   make examples        build examples/NN_*.c into build/examples/
#   make examples-test   run each under `forkleak run` and check forkleak's figures (check.py)
#   make demo-run        run example 9, the pre-fork server, under `forkleak run` (what `make demo` shows)
#
# Examples are built like the behaviour cases in tests/: -O1 -g, so that stacks name the
# functions in the source and a leaking function is not folded into its caller.

EX_DIR    := $(B)/examples
EX_SRC    := $(sort $(wildcard examples/[0-9][0-9]_*.c))
EX_BIN    := $(patsubst examples/%.c,$(EX_DIR)/%,$(EX_SRC))
EX_CFLAGS := -std=gnu11 -D_GNU_SOURCE -O1 -g $(WARN)
DEMO_DIR  ?= $(B)/demo

.PHONY: examples examples-test demo-run

examples: $(EX_BIN)

$(EX_DIR)/%: examples/%.c examples/ex.h examples/examples.mk
	@mkdir -p $(@D)
	$(CC) $(EX_CFLAGS) -o $@ $<

examples-test: all examples
	/usr/bin/python3 examples/check.py --build $(B)

# The pre-fork server: 4 workers, a SIGUSR2 snapshot of worker 1 while it still serves, then the
# per-process report of the whole tree (each worker's own leaks, the parent's pre-fork leak
# counted once). Reports stay in $(DEMO_DIR). forkleak exits 23 when it found leaks, which is
# the point of the demo, so --error-exitcode 0; `report` exits 1 for leaks, 2 for an error.
demo-run: all examples
	@rm -rf $(DEMO_DIR)
	$(TOOL) run -o $(DEMO_DIR) --signal SIGUSR2 --error-exitcode 0 -- $(EX_DIR)/09_prefork_server
	@echo
	@echo "== The snapshot worker 1 wrote while it was still serving =="
	$(TOOL) report $(DEMO_DIR)/*.s1.report || [ $$? -eq 1 ]
