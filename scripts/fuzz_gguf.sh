#!/usr/bin/env bash
# fuzz_gguf: builds the GGUF reader's libFuzzer target (tests/fuzz/fuzz_gguf.c) into build-fuzz/
# and runs it on a fresh copy of the seed corpus tests/corpus/gguf.
#
#   scripts/fuzz_gguf.sh [SECONDS] [libFuzzer options...]   build, then fuzz SECONDS (default 60)
#   scripts/fuzz_gguf.sh --build                             build only
#   scripts/fuzz_gguf.sh --check                             exit 0 when clang's libFuzzer
#                                                            runtime is usable, 1 otherwise
#
# The library is compiled from its sources by the Makefile (which knows the file list and the
# per-ISA flags) into build-fuzz/libbitnet.a with -fsanitize=fuzzer-no-link,address,undefined;
# the target links it with -fsanitize=fuzzer,address,undefined. Crashing inputs land in
# build-fuzz/artifacts/; the committed corpus is never modified (new inputs go to a temporary
# copy under build-fuzz/, removed afterwards). Needs clang and its fuzzer runtime (Debian: libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG=${CLANG:-clang}
OUT=build-fuzz
SAN=address,undefined

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

build() {
    if ! have_libfuzzer; then
        echo "fuzz_gguf: '$CLANG -fsanitize=fuzzer' does not link: install clang and its fuzzer runtime (libclang-rt-14-dev)" >&2
        return 1
    fi
    # One build at a time: the test runner and a person may both be fuzzing.
    mkdir -p "$OUT"
    exec 9>"$OUT/.build.lock"
    flock 9
    make --no-print-directory -s BUILD="$OUT" CC="$CLANG" SAN="fuzzer-no-link,$SAN" OPT=-O1 "$OUT/libbitnet.a"
    "$CLANG" -std=c11 -O1 -g -Wall -Wextra -Iinclude -Isrc -D_GNU_SOURCE -pthread \
        -fsanitize="fuzzer,$SAN" -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
        tests/fuzz/fuzz_gguf.c "$OUT/libbitnet.a" -lm -o "$OUT/fuzz_gguf"
    flock -u 9
}

# Tokens worth splicing into inputs: the magic, known keys and names, interesting type ids.
write_dict() {
    cat >"$OUT/gguf.dict" <<'EOF'
"GGUF"
"general.architecture"
"general.alignment"
"bitnet"
"bitnet-b1.58"
"llama"
"blk.0.attn_q.weight"
"token_embd.weight"
"\x03\x00\x00\x00"
"\x02\x00\x00\x00"
"\x09\x00\x00\x00"
"\x08\x00\x00\x00"
"\x22\x00\x00\x00"
"\x23\x00\x00\x00"
"\x24\x00\x00\x00"
"\xff\xff\xff\xff\xff\xff\xff\xff"
"\x00\x00\x00\x00\x00\x00\x00\x80"
"\x00\x00\x00\x00\x01\x00\x00\x00"
EOF
}

case "${1:-}" in
--check) have_libfuzzer; exit ;;
--build) build; exit ;;
esac

seconds=${1:-60}
[ $# -gt 0 ] && shift
build
write_dict
# A private working copy of the corpus (the fuzzer adds the inputs it finds there).
work=$(mktemp -d "$OUT/corpus.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT/artifacts"
cp tests/corpus/gguf/*.gguf "$work/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$OUT/fuzz_gguf" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -dict="$OUT/gguf.dict" -artifact_prefix="$OUT/artifacts/" \
    -print_final_stats=1 "$@" "$work"
