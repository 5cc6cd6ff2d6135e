# Tessera — plain GNU Makefile. Targets: all (default), test, asan, bench, format, clean.
# Every src/<module>/*.c except src/cli goes into libtessera.a; src/cli builds the `tessera`
# command on top of it; each tests/unit/test_*.c is its own cmocka binary; each bench/*.c a tool.

CC      ?= cc
BUILD   ?= build
PKGS     = yaml-0.1 sqlite3 jansson libxxhash libzstd lmdb libmicrohttpd hiredis
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

.PHONY: all test unit integration asan bench format clean
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

bench: $(BENCH_BIN) $(TESSERA)
	@BUILD=$(BUILD) bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
