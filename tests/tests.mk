# tests/tests.mk — the shim's test targets; included by the top-level Makefile, whose `make test`
# (tests/all.py) runs `make unit` and `make cases` among its suites.
#   make unit          unit tests of the shim's core files (tests/unit), under ASan/UBSan
#   make cases         behaviour cases (tests/cases) and real programs (tests/real) under the shim
#   make test-repeat   the same cases 20 times each (ASLR on): every run must give the same verdict
#   make cases-slow    only the cases marked SLOW (skipped by the targets above and by make test)
# Runner options go in TESTFLAGS, e.g. make cases TESTFLAGS='-j1 -v root_' (a filter), or
# TESTFLAGS=--opt=-O2 to build the cases at another -O level. tests/run.py documents the format of
# a case.

FL_TEST_PY ?= /usr/bin/python3
FL_RUNNER  := $(FL_TEST_PY) tests/run.py
TESTFLAGS  ?=

.PHONY: unit cases test-repeat cases-slow test-deps

# Install what is missing to build (the cases need the shim and the tool built).
test-deps:
	@./scripts/install-deps.sh --check >/dev/null 2>&1 || ./scripts/install-deps.sh

unit: test-deps
	$(FL_RUNNER) --unit $(TESTFLAGS)

cases: test-deps
	@$(MAKE) --no-print-directory all
	$(FL_RUNNER) $(TESTFLAGS)

test-repeat: test-deps
	@$(MAKE) --no-print-directory all
	$(FL_RUNNER) --repeat 20 $(TESTFLAGS)

cases-slow: test-deps
	@$(MAKE) --no-print-directory all
	$(FL_RUNNER) --slow-only -v $(TESTFLAGS)
