# Helpers for tests/scripts/test_*.sh. Protocol: print "ok - name" / "not ok - name".
# BITNET_BUILD (default build) holds the CLI; BITNET_TEST_TMP is a fresh folder per script.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD="$ROOT/${BITNET_BUILD:-build}"
BITNET="$BUILD/bitnet"
TMP="${BITNET_TEST_TMP:-$(mktemp -d)}"
SCRIPT_NAME=$(basename "$0" .sh)

ok()     { echo "ok - $SCRIPT_NAME/$1"; }
not_ok() { echo "not ok - $SCRIPT_NAME/$1"; shift; [ $# -gt 0 ] && echo "    $*"; }
# check NAME COMMAND...: passes when the command exits 0
check()  { local n=$1; shift; if "$@"; then ok "$n"; else not_ok "$n" "command failed: $*"; fi; }

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
