# Tessera — plain GNU Makefile. Targets: all (default), test, asan, valgrind, bench, fuzz, fuzz-build,
# fuzz-merge, format, clean.
# Every src/<module>/*.c except src/cli goes into libtessera.a; src/cli builds the `tessera`
# command on top of it; each tests/unit/test_*.c is its own cmocka binary; each bench/*.c a tool.

CC      ?= cc
BUILD   ?= build
PKGS     = yaml-0.1 sqlite3 jansson libxxhash libzstd lmdb libmicrohttpd hiredis gnutls nettle
OPT     ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Wshadow -Wvla -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter
ifeq ($(CI),true)
WARN    += -Werror
endif
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Isrc $(shell pkg-config --cflags $(PKGS))
CFLAGS  += $(OPT) $(WARN) $(EXTRA_CFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm -lpthread
LDFLAGS += $(EXTRA_LDFLAGS)

LIB_SRC  := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC:= $(sort $(wildcard bench/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN:= $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

LIB      := $(BUILD)/libtessera.a
TESSERA  := $(BUILD)/tessera

.PHONY: all test unit integration asan valgrind bench format clean fuzz fuzz-build fuzz-merge fuzz-targets fuzz-seeds
all: $(TESSERA) $(BUILD)/bench/gen

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(TESSERA): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $(CLI_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< $(LIB) $(LDFLAGS) $(LDLIBS) -lcmocka -o $@

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

# The whole suite: cmocka unit binaries, then the integration scripts against the real binary.
test: $(TESSERA) $(UNIT_BIN) $(BUILD)/bench/gen
	@BUILD=$(BUILD) tests/run.sh

unit: $(UNIT_BIN)
	@BUILD=$(BUILD) tests/run.sh unit

integration: $(TESSERA) $(BUILD)/bench/gen
	@BUILD=$(BUILD) tests/run.sh integration

# Same suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build directory.
asan:
	$(MAKE) test BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined"

# Same suite under valgrind's memcheck (build-vg/, tens of minutes; not part of CI's run).
valgrind:
	@tests/valgrind.sh

bench: $(BENCH_BIN) $(TESSERA)
	@BUILD=$(BUILD) bench/run.sh

# ---- fuzzing (docs/fuzzing.md) -----------------------------------------------------------------
# libFuzzer targets tests/fuzz/fuzz_<name>.c, linked with the library built by clang with
# ASan + UBSan and coverage in its own directory (build-fuzz/). `make fuzz` runs each for
# FUZZ_SECONDS from its corpus tests/fuzz/corpus/<name>/; new inputs go to a scratch corpus in
# build-fuzz/corpus/<name>/ and crash artefacts to build-fuzz/artifacts/<name>/; it fails if any
# target finds a crash, a leak, a timeout or a sanitizer report. FUZZ_TARGETS picks some
# (e.g. FUZZ_TARGETS="csv expr"); FUZZ_SAN replaces the sanitizer flags (give it its own
# FUZZ_BUILD directory: objects are not rebuilt when flags change); `make fuzz-merge` folds the
# scratch corpora into the repo's (minimized by libFuzzer's -merge=1).
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?= -timeout=10 -rss_limit_mb=2048 -max_len=65536
FUZZ_ALL     := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all

fuzz-build:
	$(MAKE) fuzz-targets BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	  EXTRA_LDFLAGS="$(FUZZ_SAN)"

fuzz-targets: $(FUZZ_ALL:%=$(BUILD)/fuzz/fuzz_%) $(BUILD)/fuzz/seeds

# The seeds of the binary formats (segments, manifests, push logs, records, states) are made by
# the library's own writers: `make fuzz-seeds` rewrites them in tests/fuzz/corpus/.
$(BUILD)/fuzz/seeds: tests/fuzz/seeds.c $(wildcard tests/fuzz/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

fuzz-seeds: fuzz-build
	$(FUZZ_BUILD)/fuzz/seeds tests/fuzz/corpus

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@

fuzz: fuzz-build
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t tests/fuzz/corpus/$$t; \
	  dict=""; [ -f tests/fuzz/$$t.dict ] && dict="-dict=tests/fuzz/$$t.dict"; \
	  echo "== fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  scratch=$$(mktemp -d /dev/shm/tess-fuzz-XXXXXX 2>/dev/null || mktemp -d); \
	  if ! FUZZ_SCRATCH=$$scratch $(FUZZ_BUILD)/fuzz/fuzz_$$t $(FUZZ_FLAGS) $$dict -max_total_time=$(FUZZ_SECONDS) \
	      -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
	      $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t >$(FUZZ_BUILD)/fuzz_$$t.log 2>&1; then \
	    failed="$$failed $$t"; tail -n 40 $(FUZZ_BUILD)/fuzz_$$t.log; \
	  else grep -E 'DONE|stat::number_of_executed_units' $(FUZZ_BUILD)/fuzz_$$t.log; fi; \
	  rm -rf $$scratch; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: findings in:$$failed (logs and artefacts in $(FUZZ_BUILD)/)"; exit 1; fi; \
	echo "fuzz: no findings"

fuzz-merge: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  [ -d $(FUZZ_BUILD)/corpus/$$t ] || continue; \
	  $(FUZZ_BUILD)/fuzz/fuzz_$$t $(FUZZ_FLAGS) -merge=1 tests/fuzz/corpus/$$t \
	    $(FUZZ_BUILD)/corpus/$$t 2>&1 | tail -n 1; \
	done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz*

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
