#!/usr/bin/env bash
# The screened LM head end to end at every kernel tier this CPU has (BITNET_FORCE_TIER):
# `bitnet run` with --lm-head screen (the default) and --lm-head model must generate the same
# token ids, greedy, with seeded top-k sampling with a repetition penalty, and with seeded
# temperature draws without top-k (plain, and with min-p: the Gumbel screen, whose rows must
# all come from the screened head, `run --verbose`), on a model with
# the real LLaMA-3 vocabulary (128256 rows: the head is what it is in 2B-4T, narrower) and an
# F16 tied head, and on a small-vocabulary I2_S model with a separate output.weight. `bench`
# on the large-vocabulary model must report a small candidate mean and no fallback.
# A tier the CPU lacks is reported as skipped. CI=true turns a missing reference into a failure.
source "$(dirname "$0")/lib.sh"
VOCAB_FILE="$ROOT/.cache/reference/llama.cpp/models/ggml-vocab-llama-bpe.gguf"

big="$TMP/screen-llama3.gguf" small="$TMP/screen-small.gguf"
if [ -f "$VOCAB_FILE" ]; then
    if ! "$BITNET" gen-model "$big" --arch bitnet-b1.58 --hidden 512 --layers 2 --heads 4 --kv-heads 2 --ffn 1024 \
            --vocab-from "$VOCAB_FILE" --wtype tq2_0 --etype f16 --seed 21 >"$TMP/gen.log" 2>&1; then
        not_ok gen_llama3_vocab "$(tail -3 "$TMP/gen.log")"; big=""
    fi
elif [ "${CI:-}" = true ]; then
    not_ok reference_vocab "$VOCAB_FILE missing (scripts/fetch_reference.sh); CI=true: a missing reference is a failure"; big=""
else
    echo "ok - $SCRIPT_NAME/llama3_vocab # SKIP $VOCAB_FILE not fetched"; big=""
fi
if ! "$BITNET" gen-model "$small" --arch bitnet-b1.58 --hidden 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 \
        --vocab-size 700 --wtype i2_s --output-weight --seed 5 >"$TMP/gen2.log" 2>&1; then
    not_ok gen_small "$(tail -3 "$TMP/gen2.log")"; small=""
fi

# ids TIER MODEL HEAD ARGS...: generated ids (one line) of `bitnet run` at TIER.
ids() {
    local tier=$1 model=$2 head=$3; shift 3
    BITNET_FORCE_TIER=$tier "$BITNET" run -m "$model" --tokens 1,291,64,315,98,374 --no-bos --print-ids -n 24 \
        -t 2 -c 64 --lm-head "$head" "$@" 2>"$TMP/run.err" | tail -n 1
}

tier_in_use() {
    BITNET_FORCE_TIER=$1 "$BITNET" run -m "$2" --tokens 1 --no-bos -n 1 --verbose 2>&1 >/dev/null |
        sed -n 's/^session: kernel tier \([a-z0-9]*\),.*/\1/p'
}

for tier in scalar avx2 avx512; do
    for model in $big $small; do
        name="$tier/$(basename "$model" .gguf)"
        used=$(tier_in_use "$tier" "$model")
        if [ "$used" != "$tier" ]; then
            echo "ok - $SCRIPT_NAME/$name # SKIP this CPU has no $tier tier (got '$used')"
            continue
        fi
        for mode in greedy topk temp temp_minp; do
            case $mode in
            greedy) args=(--greedy) ;;
            topk) args=(--temperature 0.9 --top-k 40 --top-p 0.9 --repeat-penalty 1.3 --seed 4) ;;
            temp) args=(--temperature 1 --top-k 0 --top-p 1 --min-p 0 --seed 7) ;;
            temp_minp) args=(--temperature 0.7 --top-k 0 --top-p 1 --min-p 0.05 --seed 8) ;;
            esac
            a=$(ids "$tier" "$model" screen "${args[@]}" --verbose)
            served=$(sed -n 's/^lm head: \([0-9]*\) of \([0-9]*\) logits rows screened.*/\1\/\2/p' "$TMP/run.err")
            b=$(ids "$tier" "$model" model "${args[@]}")
            if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$(echo "$a" | wc -w)" -eq 24 ] && [ "$served" = 24/24 ]; then
                ok "$name/$mode"
            else
                not_ok "$name/$mode" "screen: '$a' model: '$b' screened rows: '$served' $(tail -2 "$TMP/run.err")"
            fi
        done
    done
done

if [ -n "$big" ]; then
    if "$BITNET" bench -m "$big" -p 8 -n 16 -r 1 -t 2 --json >"$TMP/b.out" 2>"$TMP/b.err" &&
       tail -n 1 "$TMP/b.out" | "$PY" -c '
import json, sys
j = json.loads(sys.stdin.read())
assert j["lm_head_mode"] == "screen", j["lm_head_mode"]
assert 1 <= j["screen_candidates"] <= 1024, j["screen_candidates"]
assert j["screen_fallback_rate"] == 0, j["screen_fallback_rate"]' 2>"$TMP/j.err"; then
        ok bench_candidates
    else
        not_ok bench_candidates "$(cat "$TMP/j.err" "$TMP/b.err" | tail -3) $(tail -n 1 "$TMP/b.out")"
    fi
fi
