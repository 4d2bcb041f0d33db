#!/usr/bin/env bash
# test_safetensors_malformed: the safetensors reader (build/tools/st_inspect) over a valid file
# and malformed variants (tests/scripts/gen_malformed_safetensors.py: header length, JSON,
# dtype, shape, offsets out of range or overlapping, shape/size mismatch, names), with build/
# and, when built, build-asan/. The valid file must be accepted; each variant refused with exit
# 1, an error naming the file and containing the expected words, and no sanitizer report.
. "$(dirname "$0")/lib.sh"

GEN="$TMP/st"
if ! "$PY" "$ROOT/tests/scripts/gen_malformed_safetensors.py" "$GEN" >/dev/null; then
    not_ok generate "gen_malformed_safetensors.py failed"
    exit 1
fi
SANITIZER_REPORT='AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:'

for build in build build-asan; do
    tool="$ROOT/$build/tools/st_inspect"
    if [ ! -x "$tool" ]; then
        [ "$build" = build ] && not_ok "$build" "$tool is missing (make tests)"
        continue
    fi
    fails=()
    while IFS=$'\t' read -r file expect; do
        err=$(timeout 10 "$tool" "$GEN/$file" 2>&1 >/dev/null)
        rc=$?
        if grep -qE "$SANITIZER_REPORT" <<<"$err"; then
            fails+=("$file: sanitizer report")
        elif [ "$expect" = - ]; then
            [ "$rc" -eq 0 ] || fails+=("$file: exit $rc, expected 0: $err")
        elif [ "$rc" -ne 1 ]; then
            fails+=("$file: exit $rc, expected 1")
        elif [[ "$err" != *"$file"* || "$err" != *"$expect"* ]]; then
            fails+=("$file: message lacks the file name or '$expect': $err")
        fi
    done <"$GEN/manifest.tsv"
    n=$(wc -l <"$GEN/manifest.tsv")
    if [ ${#fails[@]} -eq 0 ]; then
        ok "$build ($n files: the valid one accepted, every variant refused with a clear error)"
    else
        not_ok "$build" "${#fails[@]} of $n files:"
        printf '    %s\n' "${fails[@]}" | head -20
    fi
done
