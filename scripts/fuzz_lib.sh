# shellcheck shell=bash
# fuzz_lib: what the libFuzzer scripts (scripts/fuzz_gguf.sh, scripts/fuzz_serve.sh) share.
# Sourced from the repository root. The library is compiled from its sources by the Makefile
# (which knows the file list and the per-ISA flags) into build-fuzz/libbitnet.a with
# -fsanitize=fuzzer-no-link,address,undefined; a target links it with
# -fsanitize=fuzzer,address,undefined. Needs clang and its fuzzer runtime (Debian:
# libclang-rt-14-dev).
CLANG=${CLANG:-clang}
OUT=build-fuzz
SAN=address,undefined

# have_libfuzzer: 0 when '$CLANG -fsanitize=fuzzer' links a program.
have_libfuzzer() {
    local probe
    probe=$(mktemp -d)
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
        'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
        >"$probe/probe.c"
    local rc=0
    "$CLANG" -fsanitize=fuzzer "$probe/probe.c" -o "$probe/probe" >/dev/null 2>&1 || rc=1
    rm -rf "$probe"
    return $rc
}

# fuzz_build TARGET SOURCES... [-- EXTRA FLAGS...]: build-fuzz/libbitnet.a, then
# build-fuzz/TARGET from the sources (with the flags, e.g. a library's -I and -l). One build at
# a time: the test runner and a person may both be fuzzing.
fuzz_build() {
    local target=$1; shift
    if ! have_libfuzzer; then
        echo "$target: '$CLANG -fsanitize=fuzzer' does not link: install clang and its fuzzer runtime (libclang-rt-14-dev)" >&2
        return 1
    fi
    local werror=
    [ "${CI:-}" = true ] && werror=-Werror
    mkdir -p "$OUT"
    exec 9>"$OUT/.build.lock"
    flock 9
    # the ISA kernels at -O0: the fuzz targets (file and request parsers) never run them, so
    # optimising them only lengthens the build: clang -O1 with the fuzzer and sanitizers takes
    # ~30 s on attention_avx512.c alone (over 10 minutes before BN_INLINE stopped forcing
    # inlining under sanitizers) and warns that it cannot unroll the kernels' loops. The rest of
    # the library at -O0 too (as it was built while the Makefile let KERNEL_OPT reach every file):
    # the smoke runs in make test are build-bound, and at -O1 test_fuzz_gguf_smoke took 58 s
    # instead of 29 s from scratch (Zen 3 VM, 2026-12-07)
    make --no-print-directory -s -j"$(nproc 2>/dev/null || echo 2)" BUILD="$OUT" CC="$CLANG" SAN="fuzzer-no-link,$SAN" OPT=-O0 KERNEL_OPT=-O0 "$OUT/libbitnet.a" &&
        "$CLANG" -std=c11 -O1 -g -Wall -Wextra $werror -Iinclude -Isrc -D_GNU_SOURCE -pthread \
            -fsanitize="fuzzer,$SAN" -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
            "$@" "$OUT/libbitnet.a" -lm -o "$OUT/$target"
    local rc=$?
    flock -u 9
    return $rc
}

# fuzz_run TARGET SECONDS CORPUS DICT [libFuzzer options...]: runs build-fuzz/TARGET for SECONDS on
# a private working copy of the seed corpus folder (the fuzzer adds the inputs it finds there;
# the committed corpus is never modified). Crashing inputs land in build-fuzz/artifacts/.
fuzz_run() {
    local target=$1 seconds=$2 corpus=$3 dict=$4
    shift 4
    local work
    work=$(mktemp -d "$OUT/corpus.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT
    mkdir -p "$OUT/artifacts"
    cp "$corpus"/* "$work/"
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    "$OUT/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -dict="$dict" -artifact_prefix="$OUT/artifacts/" -print_final_stats=1 "$@" "$work"
}

# fuzz_main TARGET CORPUS DICT MAX_LEN ARGS...: the command line of a fuzz script (see
# scripts/fuzz_gguf.sh's header). The script defines usable (0 when it can be built), build and
# write_dict (which writes DICT).
fuzz_main() {
    local target=$1 corpus=$2 dict=$3 max_len=$4
    shift 4
    case "${1:-}" in
    --check) usable; exit ;;
    --build) build; exit ;;
    esac
    local seconds=${1:-60}
    [ $# -gt 0 ] && shift
    build
    write_dict
    fuzz_run "$target" "$seconds" "$corpus" "$dict" -max_len="$max_len" "$@"
}
