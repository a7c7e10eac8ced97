# weir -- one non-recursive Makefile, out-of-tree build under build/<variant>/,
# automatic header dependencies. V=1 echoes commands.
#
#   make              build weir and weir-sim            (build/default/)
#   make check        build and run every test; ends with "N passed, N failed"
#   make asan | tsan  the same tests under ASan+UBSan / ThreadSanitizer
#   make demo         a minute of simulated building data through weir
#   make bench        every benchmark (bench-stream, bench-learn, ...);
#                     writes BENCHMARKS.md
#   make install      PREFIX=/usr/local DESTDIR= (uninstall too)
#   make deps         install missing Debian packages (deploy/deps.sh)
#   make clean
# Tune with OPT=, WERROR= (empty turns -Werror off), TEST_TIMEOUT=, T=name
# (run only tests whose file name contains it). A CFLAGS= override replaces
# the += below.
MAKEFLAGS += --no-builtin-rules
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

# Every goal but these needs the Debian packages: check for them (and install
# what is missing) before the pkg-config calls below read them. The check is
# a dpkg query, about 0.1 s.
NODEPS_GOALS := clean deps help uninstall
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
  ifndef WEIR_DEPS_CHECKED
    # Fuzzing needs clang, benchmarks the scikit-learn reference: --extra.
    DEPS_ARGS := $(if $(filter fuzz bench bench-%,$(MAKECMDGOALS)),--extra)
    DEPS_RC := $(shell sh deploy/deps.sh $(DEPS_ARGS) >&2; echo $$?)
    ifneq ($(DEPS_RC),0)
      $(error Debian packages are missing: run 'make deps' as root)
    endif
    export WEIR_DEPS_CHECKED := 1
  endif
endif

SAN          ?=
BUILD        ?= build/$(or $(SAN),default)
PKG_CONFIG   ?= pkg-config
PROTOC_C     ?= protoc-c
TEST_TIMEOUT ?= 300
Q            := $(if $(V),,@)

# Debian's libpaho-mqtt-dev ships no .pc file, hence the plain -l.
PKGS       := libuv libprotobuf-c libcjson inih zlib
DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
DEP_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
PAHO_LIBS  := -lpaho-mqtt3as
# Nor does libcsv-dev.
CSV_LIBS   := -lcsv

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wwrite-strings -Wformat=2 -Wvla -Wundef
WERROR   ?= -Werror
OPT      ?= -O2 -g
CPPFLAGS += -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -I. -I$(BUILD)/gen \
            $(DEP_CFLAGS)
CFLAGS   += -std=c11 $(OPT) -fno-omit-frame-pointer
LDLIBS   += $(DEP_LIBS) $(PAHO_LIBS) $(CSV_LIBS) -lpthread -lm
DEPFLAGS := -MMD -MP
ifeq ($(SAN),asan)
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
  export ASAN_OPTIONS := detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS := print_stacktrace=1
else ifeq ($(SAN),tsan)
  SANFLAGS := -fsanitize=thread
  export TSAN_OPTIONS := halt_on_error=1
else ifneq ($(SAN),)
  $(error SAN must be empty, asan or tsan)
endif
CFLAGS  += $(SANFLAGS)
LDFLAGS += $(SANFLAGS)

MAINS     := ingest/main.c sim/main.c
CORE_SRC  := $(filter-out $(MAINS),$(wildcard ingest/*.c stream/*.c learn/*.c proto/*.c))
SIM_SRC   := $(filter-out $(MAINS),$(wildcard sim/*.c))
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_HELP := $(filter-out $(TEST_SRC) tests/fuzz_%.c,$(wildcard tests/*.c))
BENCH_SRC := $(wildcard bench/bench_*.c)
PB_C      := $(patsubst %.proto,$(BUILD)/gen/%.pb-c.c,$(wildcard proto/*.proto))
PB_H      := $(PB_C:.c=.h)
obj        = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
CORE_OBJ  := $(call obj,$(CORE_SRC)) $(PB_C:.c=.o)
SIM_OBJ   := $(call obj,$(SIM_SRC))
HELP_OBJ  := $(call obj,$(TEST_HELP))
TESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
BENCHES   := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
BINS      := $(if $(wildcard ingest/main.c),$(BUILD)/weir) \
             $(if $(wildcard sim/main.c),$(BUILD)/weir-sim)
ALL_OBJ   := $(CORE_OBJ) $(SIM_OBJ) $(HELP_OBJ) \
             $(call obj,$(MAINS) $(TEST_SRC) $(BENCH_SRC))

.PHONY: all check test asan tsan bench deps clean help install uninstall demo
all: $(BINS)

$(BUILD)/libcore.a: $(CORE_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^
$(BUILD)/weir: $(call obj,ingest/main.c) $(BUILD)/libcore.a
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/weir-sim: $(call obj,sim/main.c) $(SIM_OBJ) $(BUILD)/libcore.a
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(HELP_OBJ) $(SIM_OBJ) $(BUILD)/libcore.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(HELP_OBJ) $(SIM_OBJ) $(BUILD)/libcore.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Our code gets full warnings. Order-only: generated headers exist before
# the first compile; the .d files take over after that.
$(BUILD)/obj/%.o: %.c | $(PB_H)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) $(DEPFLAGS) -c $< -o $@
# Generated protobuf-c code isn't ours: default warnings only, no -Werror.
$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: %.proto
	@mkdir -p $(@D)
	$(Q)$(PROTOC_C) --c_out=$(BUILD)/gen $<
$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

# tests/run.sh runs each test binary (and tests/*.sh) under timeout, in its
# own process, and prints the one closing line "N passed, N failed".
check test: $(BINS) $(TESTS)
	$(Q)BUILD=$(BUILD) TEST_TIMEOUT=$(TEST_TIMEOUT) sh tests/run.sh $(TESTS)
asan tsan:
	$(Q)$(MAKE) --no-print-directory SAN=$@ check

# Benchmarks: bench/NAME.sh when there is one, else build/.../bench_NAME.
bench-%: all $(BENCHES)
	$(Q)if [ -f bench/$*.sh ]; then BUILD=$(BUILD) sh bench/$*.sh; \
	else $(BUILD)/bench/bench_$*; fi
bench: all $(BENCHES)
	$(Q)BUILD=$(BUILD) sh bench/all.sh

# make demo: private broker, weir and weir-sim on the building scenario for
# about a minute; prints a summary and draws the learning curves.
demo: all
	$(Q)BUILD=$(BUILD) sh deploy/demo.sh

PREFIX ?= /usr/local
install: all
	$(Q)BUILD=$(BUILD) PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) sh deploy/install.sh
uninstall:
	$(Q)PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) sh deploy/install.sh --uninstall

deps:
	sh deploy/deps.sh --extra
clean:
	rm -rf build
help:
	@sed -n '1,/^MAKEFLAGS/p' Makefile | sed '$$d'

# ---- fuzz (codec helper) ---------------------------------------------------
# make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="reading json"]: build every
# tests/fuzz_NAME.c with clang, libFuzzer, ASan and UBSan into build/fuzz/
# (compiling proto/*.c, stream/reject.c and the generated pb-c.c directly,
# with -DCODEC_CROSSCHECK=1 so protobuf decodes are checked against
# protobuf-c), then run each for FUZZ_SECONDS seeded from tests/corpus/NAME
# (new inputs go to build/fuzz/corpus-NAME). Stops at the first crash,
# leak, timeout or sanitizer report; the input is saved as
# build/fuzz/crash-NAME-*. Logs: build/fuzz/fuzz_NAME.log.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_MAX_LEN ?= 16384
FUZZ_DIR     := build/fuzz
FUZZ_TARGETS ?= $(patsubst tests/fuzz_%.c,%,$(wildcard tests/fuzz_*.c))
FUZZ_SEEDS_json := tests/corpus/json tests/corpus/object
FUZZ_LIB     := $(wildcard proto/*.c) stream/reject.c \
                $(patsubst %.proto,$(FUZZ_DIR)/gen/%.pb-c.c,$(wildcard proto/*.proto))
FUZZ_CFLAGS  := -std=c11 -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -DCODEC_CROSSCHECK=1 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE \
                -I. -I$(FUZZ_DIR)/gen $(DEP_CFLAGS)
.PHONY: fuzz
fuzz: $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
	$(Q)$(foreach t,$(FUZZ_TARGETS),mkdir -p $(FUZZ_DIR)/corpus-$(t) && \
	  echo "fuzz_$(t): $(FUZZ_SECONDS) s" && \
	  { $(FUZZ_DIR)/fuzz_$(t) -max_total_time=$(FUZZ_SECONDS) \
	      -max_len=$(FUZZ_MAX_LEN) -timeout=10 -print_final_stats=1 \
	      -artifact_prefix=$(FUZZ_DIR)/crash-$(t)- $(FUZZ_DIR)/corpus-$(t) \
	      $(or $(FUZZ_SEEDS_$(t)),tests/corpus/$(t)) \
	      >$(FUZZ_DIR)/fuzz_$(t).log 2>&1 || \
	    { tail -n 40 $(FUZZ_DIR)/fuzz_$(t).log; exit 1; }; } && \
	  grep -E '^stat::number_of_executed_units|^Done' \
	    $(FUZZ_DIR)/fuzz_$(t).log && ) true
$(FUZZ_DIR)/fuzz_%: tests/fuzz_%.c $(FUZZ_LIB) $(wildcard proto/*.h stream/*.h)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_LIB) $(DEP_LIBS) -lm -o $@
$(FUZZ_DIR)/gen/%.pb-c.c $(FUZZ_DIR)/gen/%.pb-c.h: %.proto
	@mkdir -p $(@D)
	$(Q)$(PROTOC_C) --c_out=$(FUZZ_DIR)/gen $<
# ---- end of fuzz section ------------------------------------------------------

-include $(ALL_OBJ:.o=.d)
