#!/usr/bin/env bash
# Runs the whole suite and prints 'N passed, N failed' as its last line.
#
# - every unit-test program in build/tests, build-asan/tests and build-tsan/tests (each prints
#   "ok - ..." / "not ok - ..." per case; a crash or non-zero exit without a "not ok" line
#   counts as one failure);
# - every script tests/scripts/test_*.sh, which follows the same protocol and may use
#   build/bitnet. Scripts get BITNET_BUILD=build and BITNET_TEST_TMP (a fresh temp folder).
# Set TEST_FILTER=substring to run only matching programs/scripts.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
passed=0 failed=0
failed_names=()
tmp_root=$(mktemp -d)
trap 'rm -rf "$tmp_root"' EXIT

run_one() { # label, command...
    local label=$1; shift
    case "$label" in *"${TEST_FILTER:-}"*) ;; *) return ;; esac
    local out="$tmp_root/out.txt" t0=$SECONDS
    local tdir="$tmp_root/t$RANDOM$RANDOM"; mkdir -p "$tdir"
    BITNET_TEST_TMP="$tdir" BITNET_BUILD="${BITNET_BUILD:-build}" "$@" >"$out" 2>&1
    local rc=$?
    local p f
    p=$(grep -c '^ok - ' "$out")
    f=$(grep -c '^not ok - ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $label (exit $rc)" >>"$out"; fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $label (ran no case)" >>"$out"; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -gt 0 ]; then
        echo "FAIL $label ($p passed, $f failed, $((SECONDS - t0))s)"
        sed 's/^/    /' "$out" | tail -60
        failed_names+=("$label")
    else
        echo "PASS $label ($p cases, $((SECONDS - t0))s)"
    fi
    rm -rf "$tdir"
}

for dir in build build-asan build-tsan; do
    [ -d "$dir/tests" ] || continue
    for t in "$dir"/tests/test_*; do
        [ -x "$t" ] || continue
        # TSan only matters for threaded code; its build runs the tests marked for it.
        if [ "$dir" = build-tsan ] && ! grep -q "TSAN_RELEVANT" "tests/unit/$(basename "$t").c" 2>/dev/null; then
            continue
        fi
        run_one "$dir/$(basename "$t")" "$t"
    done
done
for s in tests/scripts/test_*.sh; do
    [ -f "$s" ] || continue
    run_one "$s" bash "$s"
done

if [ ${#failed_names[@]} -gt 0 ]; then
    echo "failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
