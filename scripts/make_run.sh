#!/usr/bin/env bash
# `make run`: generate text. Model choice, in order:
#   1. MODEL=path given to make;
#   2. the real microsoft/bitnet-b1.58-2B-4T file at models/ggml-model-i2_s.gguf (`make download`);
#   3. otherwise a small random-weight demo model generated into build/demo-model.gguf, saying
#      so (its text is gibberish: the weights are random).
# PROMPT, N (tokens) and THREADS may be set too: make run PROMPT="..." N=64.
set -euo pipefail
cd "$(dirname "$0")/.."
BITNET=build/bitnet
model=${1:-}
prompt=${PROMPT:-"The capital of France is"}
n=${N:-64}
args=()
[ -n "${THREADS:-}" ] && args+=(-t "$THREADS")

if [ -n "$model" ]; then
    [ -f "$model" ] || { echo "make run: MODEL=$model does not exist" >&2; exit 1; }
    echo "make run: using MODEL=$model" >&2
elif [ -f models/ggml-model-i2_s.gguf ]; then
    model=models/ggml-model-i2_s.gguf
    echo "make run: using the real 2B-4T model at $model" >&2
    args+=(--chat)
else
    model=build/demo-model.gguf
    vocab=.cache/reference/llama.cpp/models/ggml-vocab-llama-bpe.gguf
    echo "make run: no model given and models/ggml-model-i2_s.gguf is absent (fetch it with 'make download')." >&2
    echo "make run: generating a small RANDOM-WEIGHT demo model instead: its output is meaningless text." >&2
    if [ ! -f "$model" ]; then
        if [ -f "$vocab" ]; then
            "$BITNET" gen-model "$model" --arch bitnet-b1.58 --hidden 512 --layers 4 --heads 8 --kv-heads 2 --ffn 1536 \
                --vocab-from "$vocab" --wtype i2_s --seed 7
        else
            "$BITNET" gen-model "$model" --arch bitnet-b1.58 --hidden 512 --layers 4 --heads 8 --kv-heads 2 --ffn 1536 \
                --vocab-size 4096 --wtype i2_s --seed 7
        fi
    fi
fi
echo "make run: bitnet run -m $model -p \"$prompt\" -n $n ${args[*]:-}" >&2
exec "$BITNET" run -m "$model" -p "$prompt" -n "$n" "${args[@]}"
