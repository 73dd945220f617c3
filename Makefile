# forkleak — build, test, demo.  See README.md.
#   make            build/lib/libforkleak.so and build/bin/forkleak
#   make test       unit tests (ASan/UBSan) + behaviour cases under the shim
#   make demo       deps, build, run the main example under `forkleak run`
#   make install PREFIX=/usr/local
#   make SANITIZE=address|undefined   (tools and unit tests only; never the shim)

PREFIX   ?= /usr/local
B        ?= build
CC       ?= gcc
PKGS_SHIM := libunwind
PKGS_TOOL := libdw jansson

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
            -Wno-format-nonliteral -Werror
BASE     := -std=gnu11 -D_GNU_SOURCE -O2 -g $(WARN)
SAN_FLAGS :=
ifeq ($(SANITIZE),address)
SAN_FLAGS := -fsanitize=address -fno-omit-frame-pointer
else ifeq ($(SANITIZE),undefined)
SAN_FLAGS := -fsanitize=undefined -fno-sanitize-recover=undefined
else ifeq ($(SANITIZE),both)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif

HAVE_PC  := $(shell pkg-config --exists $(PKGS_SHIM) $(PKGS_TOOL) && echo yes)
ifeq ($(HAVE_PC),yes)
SHIM_CFLAGS := $(shell pkg-config --cflags $(PKGS_SHIM))
SHIM_LIBS   := $(shell pkg-config --libs $(PKGS_SHIM))
TOOL_CFLAGS := $(shell pkg-config --cflags $(PKGS_TOOL))
TOOL_LIBS   := $(shell pkg-config --libs $(PKGS_TOOL))
endif

SHIM_SRC := $(wildcard preload/*.c)
SHIM_HDR := $(wildcard preload/*.h preload/*.def)
TOOL_SRC := $(wildcard tools/*.c)
TOOL_HDR := $(wildcard tools/*.h)
SHIM     := $(B)/lib/libforkleak.so
TOOL     := $(B)/bin/forkleak

.PHONY: all deps deps-all check-deps test demo e2e bench install clean

all: check-deps $(SHIM) $(TOOL)

deps:
	./scripts/install-deps.sh

deps-all:
	./scripts/install-deps.sh --all

# The README's two commands. Both install what is missing first.
demo: deps
	$(MAKE) all examples
	$(MAKE) -s --no-print-directory demo-run

test: deps-all
	$(MAKE) all
	/usr/bin/python3 tests/all.py

e2e: deps-all all
	/usr/bin/python3 tests/e2e/e2e.py

# make demo / make test install what is missing; plain `make` only says what is missing.
check-deps:
	@./scripts/install-deps.sh --check || { echo "forkleak: missing build dependencies; run 'make deps' (or 'make demo'/'make test', which install them)"; exit 1; }

$(SHIM): $(SHIM_SRC) $(SHIM_HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(BASE) -fPIC -fvisibility=hidden -ftls-model=initial-exec -fno-builtin-malloc \
	  -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc -fno-stack-protector \
	  $(SHIM_CFLAGS) -shared -Wl,-z,defs -Wl,-z,now -Wl,--build-id -o $@ $(SHIM_SRC) $(SHIM_LIBS) -ldl -lpthread

$(TOOL): $(TOOL_SRC) $(TOOL_HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(BASE) $(SAN_FLAGS) $(TOOL_CFLAGS) -o $@ $(TOOL_SRC) $(TOOL_LIBS) -lm

-include tests/tests.mk
-include tools/tool.mk
-include examples/examples.mk
-include bench/bench.mk
-include tests/unit/unwind.mk

# ../shared/bench: forkleak (the shim alone, and the whole `forkleak run` with its report) next to
# the peers. BENCH_ARGS=--quick for a smoke run; BENCH_TOOLS to choose the peers. Results and the
# table go to $(B)/bench-results/<timestamp>/summary.md.
BENCH_DIR   ?= ../shared/bench
BENCH_TOOLS ?= lsan heaptrack valgrind
bench: all
	BENCH_BUILD=$(abspath $(B))/bench-build BENCH_RESULTS=$(abspath $(B))/bench-results \
	  $(BENCH_DIR)/run.sh $(BENCH_ARGS) native \
	  forkleak=preload:$(abspath $(SHIM)) \
	  'forkleak-run=cmd:$(abspath $(TOOL)) run --error-exitcode 0 --' $(BENCH_TOOLS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib
	install -m 0755 $(TOOL) $(DESTDIR)$(PREFIX)/bin/forkleak
	install -m 0755 $(SHIM) $(DESTDIR)$(PREFIX)/lib/libforkleak.so

clean:
	rm -rf $(B)
