# Helpers for tests/scripts/test_*.sh. Protocol: print "ok - name" / "not ok - name".
# BITNET_BUILD (default build) holds the CLI; BITNET_TEST_TMP is a fresh folder per script.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD="$ROOT/${BITNET_BUILD:-build}"
BITNET="$BUILD/bitnet"
TMP="${BITNET_TEST_TMP:-$(mktemp -d)}"
SCRIPT_NAME=$(basename "$0" .sh)
# Debian's python3 (numpy, gguf-py's needs) by path: on these machines a bare `python3` is a
# pyenv shim that costs ~0.35 s per start, ten times the interpreter's own.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || echo python3)

ok()     { echo "ok - $SCRIPT_NAME/$1"; }
not_ok() { echo "not ok - $SCRIPT_NAME/$1"; shift; [ $# -gt 0 ] && echo "    $*"; }
# check NAME COMMAND...: passes when the command exits 0
check()  { local n=$1; shift; if "$@"; then ok "$n"; else not_ok "$n" "command failed: $*"; fi; }

# reader_fuzz_smoke GENERATOR CORPUS FUZZ_SCRIPT SECONDS: the smoke test of a file reader's
# fuzzer: checks that the committed seed corpus (tests/corpus/CORPUS) is what
# tests/scripts/GENERATOR --corpus writes, then (when clang's libFuzzer links; a failure in CI
# when it does not) builds and fuzzes for SECONDS (fuzz_smoke).
reader_fuzz_smoke() {
    local gen=$1 corpus=$2 script=$3 seconds=$4
    if "$PY" "$ROOT/tests/scripts/$gen" --corpus "$TMP/corpus" >/dev/null &&
        diff -r "$TMP/corpus" "$ROOT/tests/corpus/$corpus" >"$TMP/corpus.diff" 2>&1; then
        ok "corpus_reproducible ($(ls "$ROOT/tests/corpus/$corpus" | wc -l) files)"
    else
        not_ok corpus_reproducible "tests/corpus/$corpus differs from $gen --corpus output: $(head -5 "$TMP/corpus.diff")"
    fi
    if ! "$ROOT/scripts/$script" --check; then
        if [ "${CI:-}" = true ]; then
            not_ok fuzz "clang -fsanitize=fuzzer does not link; CI must install clang and libclang-rt-14-dev"
        else
            echo "ok - $SCRIPT_NAME/fuzz # skipped: no libFuzzer"
        fi
        return 0
    fi
    fuzz_smoke "$script" "$seconds"
}

# fuzz_smoke SCRIPT SECONDS: builds a libFuzzer target with scripts/SCRIPT --build (case build),
# then fuzzes SECONDS (case fuzz_<SECONDS>s: no crash, sanitizer report or broken contract).
# Returns 1 after a failure.
fuzz_smoke() {
    local script="$ROOT/scripts/$1" s=$2 log="$TMP/fuzz.log"
    if ! "$script" --build >"$log" 2>&1; then
        not_ok build "scripts/$1 --build failed:"
        tail -20 "$log" | sed 's/^/    /'
        return 1
    fi
    ok build
    if "$script" "$s" >"$log" 2>&1 && grep -q '^Done [0-9]* runs' "$log"; then
        ok "fuzz_${s}s ($(grep -m1 -o '^Done [0-9]* runs' "$log"), no crash)"
        return 0
    fi
    not_ok "fuzz_${s}s" "the fuzzer failed (crashing inputs are in build-fuzz/artifacts/):"
    grep -E 'contract broken|ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -10 | sed 's/^/    /'
    return 1
}
