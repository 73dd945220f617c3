# tools/tool.mk — tests and fuzzing of the forkleak tool; included by the top-level Makefile.
#   make tool-test     fuzz-short (when clang is installed), then the tool's tests
#                      (tests/tool/run.py) on an ASan+UBSan build
#   make fuzz-short    fuzz the report reader for ~20 s
#   make fuzz          fuzz longer: FUZZ_SECONDS=600 by default
#   make tool-lint     cppcheck over tools/
# Crashes are written to $(B)/fuzz/; copy each into tests/tool/fixtures/fuzz/ (tool-test then
# runs it as a regression test).

ASAN_B       ?= build-asan
TOOL_PY      ?= /usr/bin/python3
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 600
FUZZ_BIN     := $(B)/fuzz/fuzz_reader
FUZZ_FLAGS   := -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -Itools
FUZZ_SEEDS   := tests/tool/fixtures/good tests/tool/fixtures/tree tests/tool/fixtures/bad \
                tests/tool/fixtures/reuse tests/tool/fixtures/snapshot
FUZZ_RUN      = $(FUZZ_BIN) -max_len=16384 -dict=tests/fuzz/reader.dict \
                -artifact_prefix=$(B)/fuzz/ $(B)/fuzz/corpus $(FUZZ_SEEDS)

.PHONY: tool-test fuzz fuzz-short tool-lint

tool-test:
	@$(MAKE) --no-print-directory B=$(ASAN_B) SANITIZE=both $(ASAN_B)/bin/forkleak
	@$(MAKE) --no-print-directory $(B)/bin/forkleak
	@fail=0; \
	if command -v $(FUZZ_CC) >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory fuzz-short || fail=1; \
	else \
	  echo "tool-test: $(FUZZ_CC) not installed, fuzz-short skipped"; \
	fi; \
	$(TOOL_PY) tests/tool/run.py --tool $(ASAN_B)/bin/forkleak --perf-tool $(B)/bin/forkleak \
	  || fail=1; \
	exit $$fail

$(FUZZ_BIN): tests/fuzz/fuzz_reader.c $(filter-out tools/main.c,$(TOOL_SRC)) $(TOOL_HDR)
	@mkdir -p $(@D)/corpus
	$(FUZZ_CC) $(FUZZ_FLAGS) $(TOOL_CFLAGS) -o $@ tests/fuzz/fuzz_reader.c \
	  $(filter-out tools/main.c,$(TOOL_SRC)) $(TOOL_LIBS) -lm

# Quiet unless it finds something: the log is kept in $(B)/fuzz/fuzz-short.log.
fuzz-short: $(FUZZ_BIN)
	@echo "fuzz-short: fuzzing the report reader for 20 s"
	@if $(FUZZ_RUN) -max_total_time=20 -print_final_stats=1 >$(B)/fuzz/fuzz-short.log 2>&1; \
	then grep -E '^stat::(number_of_executed_units|new_units_added)' $(B)/fuzz/fuzz-short.log; \
	else tail -60 $(B)/fuzz/fuzz-short.log; \
	  echo "fuzz-short: FAILED; the input is in $(B)/fuzz/ (add it to tests/tool/fixtures/fuzz/)"; \
	  exit 1; fi

fuzz: $(FUZZ_BIN)
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1

tool-lint:
	cppcheck --std=c11 --enable=warning,style,performance,portability --inline-suppr \
	  --error-exitcode=1 --quiet -D_GNU_SOURCE -Itools tools/*.c tests/fuzz/fuzz_reader.c
