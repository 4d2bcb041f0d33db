#!/usr/bin/env bash
# test_gguf_malformed: `bitnet compat-check` over a valid GGUF and a few hundred malformed
# variants of it (written by tests/scripts/gen_malformed_gguf.py), with build/ and, when it has
# been built, build-asan/. Each malformed file must be refused cleanly: exit 1 (not 0, not 2,
# not a crash or a hang: each run gets `timeout 10`), an error on stderr that names the file
# and an offset or a key/tensor, and no sanitizer report. The valid file must exit 0. Random
# byte flips may leave a valid file, so there exit 0 is accepted too (1 under the same rules).
# Prints one ok/not ok line per category and build; a not ok lists the failing files.
. "$(dirname "$0")/lib.sh"

GEN="$TMP/gguf-variants"
if ! "$PY" "$ROOT/tests/scripts/gen_malformed_gguf.py" "$GEN" >/dev/null; then
    not_ok generate "gen_malformed_gguf.py failed"
    exit 1
fi

SANITIZER_REPORT='AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:'
# Names a message may cite besides an offset: the valid model's keys and tensors, and any
# key or tensor name of the architectures the variants use (e.g. a missing blk.0.* tensor).
NAME_PATTERN='(general|bitnet|llama|qwen2|gpt2|blk|token_embd|output|output_norm|test|pad)\.[A-Za-z0-9_.]+'

# run_and_judge BIN FILE EXPECT: runs compat-check on FILE; sets RC to its exit status and
# REASON to why the run does not meet EXPECT ("" when it does; paths shown as FILE). Bash
# matching, not grep/sed: a few hundred files per build, each fork a few ms on small machines.
run_and_judge() {
    local bin=$1 file=$2 expect=$3 err
    err=$(timeout 10 "$bin" compat-check "$file" 2>&1 >/dev/null)
    RC=$?
    REASON=$(failure_reason "$file" "$expect" "$RC" "$err")
    REASON=${REASON//"$file"/FILE}
    REASON=${REASON:0:400}
}

failure_reason() { # FILE EXPECT RC STDERR
    local file=$1 expect=$2 rc=$3 err=$4 msg
    if [ "$rc" -eq 124 ]; then
        echo "timed out after 10 s"
    elif [ "$rc" -eq 126 ] || [ "$rc" -eq 127 ]; then
        echo "could not run the binary (exit $rc)"
    elif [ "$rc" -gt 128 ]; then
        echo "killed by signal $((rc - 128)) (crash)"
    elif [[ "$err" =~ $SANITIZER_REPORT ]]; then
        echo "sanitizer report: $(grep -m1 -E "$SANITIZER_REPORT" <<<"$err")"
    elif [ "$expect" = accept ]; then
        [ "$rc" -eq 0 ] || echo "exit $rc, expected 0: ${err:0:300}"
    elif [ "$rc" -eq 0 ] && [ "$expect" = any ]; then
        :
    elif [ "$rc" -ne 1 ]; then
        echo "exit $rc, expected 1: ${err:0:300}"
    elif [[ "$err" != *"${file##*/}"* ]]; then
        echo "error does not name the file: ${err:0:300}"
    else
        msg=${err//"$file"/}
        msg=${msg//"${file##*/}"/}
        if ! [[ "$msg" =~ offset\ [0-9]+ ]] && ! grep -qF -f "$GEN/names.txt" <<<"$msg" &&
            ! [[ "$msg" =~ $NAME_PATTERN ]]; then
            echo "error names no offset, key or tensor: ${err:0:300}"
        fi
    fi
}

run_build() { # BUILD_DIR
    local dir=$1 bin="$1/bitnet" label
    label=$(basename "$dir")
    declare -A total=() failures=() detail=()
    local categories=() cat file expect desc rc reason accepted_flips=0
    while IFS=$'\t' read -r cat file expect desc; do
        if [ -z "${total[$cat]+x}" ]; then
            categories+=("$cat"); total[$cat]=0; failures[$cat]=0; detail[$cat]=""
        fi
        total[$cat]=$((total[$cat] + 1))
        run_and_judge "$bin" "$GEN/$file" "$expect"
        rc=$RC reason=$REASON
        if [ -n "$reason" ]; then
            failures[$cat]=$((failures[$cat] + 1))
            [ "${failures[$cat]}" -le 8 ] && detail[$cat]+="
    $file ($desc): $reason"
        elif [ "$expect" = any ] && [ "$rc" -eq 0 ]; then
            accepted_flips=$((accepted_flips + 1))
        fi
    done <"$GEN/manifest.tsv"
    for cat in "${categories[@]}"; do
        if [ "${failures[$cat]}" -eq 0 ]; then
            ok "$label/$cat (${total[$cat]} files)"
        else
            not_ok "$label/$cat" "${failures[$cat]} of ${total[$cat]} files fail:${detail[$cat]}"
            [ "${failures[$cat]}" -gt 8 ] && echo "    ... and $((failures[$cat] - 8)) more"
        fi
    done
    echo "# $label: $accepted_flips of ${total[random_flips]:-0} random byte-flip files were accepted as valid"
}

if [ ! -x "$BITNET" ]; then
    not_ok "$(basename "$BUILD")/cli" "$BITNET is missing: build it with make"
    exit 1
fi
run_build "$BUILD"
if [ -x "$ROOT/build-asan/bitnet" ] && [ "$ROOT/build-asan" != "$BUILD" ]; then
    run_build "$ROOT/build-asan"
fi
