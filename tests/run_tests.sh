#!/usr/bin/env bash
# Runs the whole suite and prints 'N passed, N failed' as its last line.
#
# - every unit-test program in build/tests, build-asan/tests and build-tsan/tests (each prints
#   "ok - ..." / "not ok - ..." per case; a crash or non-zero exit without a "not ok" line
#   counts as one failure);
# - every script tests/scripts/test_*.sh, which follows the same protocol and may use
#   build/bitnet. Scripts get BITNET_BUILD=build and BITNET_TEST_TMP (a fresh temp folder).
# Set TEST_FILTER=substring to run only matching programs/scripts.
#
# Items run TEST_PARALLEL at a time (default: one per CPU): most of them are one process on
# one core, and many wait on servers, clients or timeouts, so one at a time left a 2-core
# machine half idle. Scripts marked TEST_LONG=<seconds> start first, the longest first (so that
# no long one is left running alone at the end); one with TEST_SERIAL (its cases assert
# wall-clock times) runs after the others, alone. A PASS/FAIL line is printed as each item
# ends; the counts are summed at the end.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
parallel=${TEST_PARALLEL:-$(nproc 2>/dev/null || echo 2)}
[ "$parallel" -ge 1 ] 2>/dev/null || parallel=1
tmp_root=$(mktemp -d)
trap 'rm -rf "$tmp_root"' EXIT

# run_one ID LABEL COMMAND...: runs one item into $tmp_root/ID.*: .out its output, .res
# "passed failed" (written last: its presence means the item ended), .log what to print.
run_one() {
    local id=$1 label=$2; shift 2
    local out="$tmp_root/$id.out" t0=$SECONDS
    local tdir="$tmp_root/t$id"; mkdir -p "$tdir"
    BITNET_TEST_TMP="$tdir" BITNET_BUILD="${BITNET_BUILD:-build}" "$@" >"$out" 2>&1 </dev/null
    local rc=$?
    local p f
    p=$(grep -c '^ok - ' "$out")
    f=$(grep -c '^not ok - ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $label (exit $rc)" >>"$out"; fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $label (ran no case)" >>"$out"; fi
    if [ "$f" -gt 0 ]; then
        { echo "FAIL $label ($p passed, $f failed, $((SECONDS - t0))s)"; sed 's/^/    /' "$out" | tail -60; } >"$tmp_root/$id.log"
    else
        echo "PASS $label ($p cases, $((SECONDS - t0))s)" >"$tmp_root/$id.log"
    fi
    rm -rf "$tdir"
    echo "$p $f $label" >"$tmp_root/$id.res.tmp" && mv "$tmp_root/$id.res.tmp" "$tmp_root/$id.res"
}

# The items, in start order: long scripts, unit programs, the other scripts; serial ones apart.
labels=() commands=() serial_labels=() serial_commands=()
add() { # serial(0|1) label command (a string: the words of one command, no spaces inside)
    case "$2" in *"${TEST_FILTER:-}"*) ;; *) return ;; esac
    if [ "$1" = 1 ]; then serial_labels+=("$2"); serial_commands+=("$3"); else labels+=("$2"); commands+=("$3"); fi
}
while read -r _ s; do
    grep -q "TEST_SERIAL" "$s" || add 0 "$s" "bash $s"
done < <(grep -o "TEST_LONG=[0-9]*" tests/scripts/test_*.sh | sed -E 's/^(.*):TEST_LONG=([0-9]+)$/\2 \1/' | sort -rn)
for dir in build build-asan build-tsan; do
    [ -d "$dir/tests" ] || continue
    for t in "$dir"/tests/test_*; do
        [ -x "$t" ] || continue
        # TSan only matters for threaded code; its build runs the tests marked for it.
        if [ "$dir" = build-tsan ] && ! grep -q "TSAN_RELEVANT" "tests/unit/$(basename "$t").c" 2>/dev/null; then
            continue
        fi
        add 0 "$dir/$(basename "$t")" "$t"
    done
done
for s in tests/scripts/test_*.sh; do
    if grep -q "TEST_SERIAL" "$s"; then add 1 "$s" "bash $s"; elif ! grep -q "TEST_LONG" "$s"; then add 0 "$s" "bash $s"; fi
done

printed=()
# report_ended: prints the log of every item that ended since the last call.
report_ended() {
    local r id
    for r in "$tmp_root"/*.res; do
        [ -e "$r" ] || continue
        id=$(basename "$r" .res)
        [ -n "${printed[$id]:-}" ] && continue
        printed[$id]=1
        cat "$tmp_root/$id.log"
    done
}
# run_all MAX LABELS... -- COMMANDS...: at most MAX items at once.
next_id=0
run_all() {
    local max=$1; shift
    local n=$(($# / 2)) i running=0
    local -a ls=("${@:1:n}") cs=("${@:n+1:n}")
    for ((i = 0; i < n; i++)); do
        while [ "$running" -ge "$max" ]; do
            wait -n
            running=$((running - 1))
            report_ended
        done
        # shellcheck disable=SC2086 # the command string is split into its words on purpose
        run_one "$next_id" "${ls[i]}" ${cs[i]} &
        next_id=$((next_id + 1)) running=$((running + 1))
    done
    wait
    report_ended
}
[ ${#labels[@]} -gt 0 ] && run_all "$parallel" "${labels[@]}" "${commands[@]}"
[ ${#serial_labels[@]} -gt 0 ] && run_all 1 "${serial_labels[@]}" "${serial_commands[@]}"

passed=0 failed=0
failed_names=()
for r in "$tmp_root"/*.res; do
    [ -e "$r" ] || continue
    read -r p f label <"$r"
    passed=$((passed + p)) failed=$((failed + f))
    [ "$f" -gt 0 ] && failed_names+=("$label")
done
ended=$(ls "$tmp_root" | grep -c '\.res$')
if [ "$ended" -ne "$next_id" ]; then
    echo "not ok - run_tests: $next_id items started, $ended reported an end"
    failed=$((failed + 1))
fi
if [ ${#failed_names[@]} -gt 0 ]; then
    echo "failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
