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

.PHONY: all deps check-deps shim tool test unit cases demo examples install clean bench e2e fuzz lint

all: check-deps $(SHIM) $(TOOL)

deps:
	./scripts/install-deps.sh

# make demo / make test install what is missing; plain `make` only says what is missing.
check-deps:
	@./scripts/install-deps.sh --check || { echo "forkleak: missing build dependencies; run 'make deps' (or 'make demo'/'make test', which install them)"; exit 1; }

$(SHIM): $(SHIM_SRC) $(SHIM_HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(BASE) -fPIC -fvisibility=hidden -ftls-model=initial-exec -fno-builtin-malloc \
	  -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc -fno-stack-protector \
	  $(SHIM_CFLAGS) -shared -Wl,-z,defs -Wl,--build-id -o $@ $(SHIM_SRC) $(SHIM_LIBS) -ldl -lpthread

$(TOOL): $(TOOL_SRC) $(TOOL_HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(BASE) $(SAN_FLAGS) $(TOOL_CFLAGS) -o $@ $(TOOL_SRC) $(TOOL_LIBS) -lm

-include tests/tests.mk
-include examples/examples.mk
-include bench/bench.mk

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib
	install -m 0755 $(TOOL) $(DESTDIR)$(PREFIX)/bin/forkleak
	install -m 0755 $(SHIM) $(DESTDIR)$(PREFIX)/lib/libforkleak.so

clean:
	rm -rf $(B)
