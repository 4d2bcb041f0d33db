#!/usr/bin/env bash
# The benchmark models, shared by scripts/bench.sh (`make bench`) and scripts/bench_serve.sh
# (`make bench-serve`): random-weight models with the exact shapes of
# microsoft/bitnet-b1.58-2B-4T (hidden 2560, 30 layers, 20 heads, 5 KV heads, FFN 6912, the
# LLaMA-3 vocabulary of 128256 from the reference's ggml-vocab-llama-bpe.gguf, F16 tied
# embedding), generated once by `bitnet gen-model` and cached under BENCH_DIR (models/bench,
# gitignored):
#   bitnet-2b-shapes-tq2_0.gguf  arch "bitnet", TQ2_0 (llama.cpp runs it too)
#   bitnet-2b-shapes-i2_s.gguf   arch "bitnet-b1.58", I2_S (this engine only)
#
# Sourced: defines bench_model KIND (tq2_0 | i2_s), which generates the file when missing and
# prints its path. Needs BIN (the bitnet CLI) and ROOT set by the caller; BENCH_DIR optional.
# Run directly: `scripts/bench_models.sh tq2_0` does the same (BIN from BITNET_BUILD, default build).

bench_model() {
    local kind=$1 name arch
    case "$kind" in
    tq2_0) name=bitnet-2b-shapes-tq2_0.gguf arch=bitnet ;;
    i2_s) name=bitnet-2b-shapes-i2_s.gguf arch=bitnet-b1.58 ;;
    *) echo "bench_model: unknown kind '$kind' (tq2_0 or i2_s)" >&2; return 1 ;;
    esac
    local dir=${BENCH_DIR:-models/bench}
    case "$dir" in /*) ;; *) dir="$ROOT/$dir" ;; esac
    local f="$dir/$name"
    if [ ! -s "$f" ]; then
        local vocab="$ROOT/.cache/reference/llama.cpp/models/ggml-vocab-llama-bpe.gguf"
        [ -f "$vocab" ] || { echo "bench_model: missing $vocab (run scripts/fetch_reference.sh)" >&2; return 1; }
        [ -x "$BIN" ] || { echo "bench_model: $BIN is missing (run make)" >&2; return 1; }
        mkdir -p "$dir"
        echo "bench: generating $f (once; cached)" >&2
        local t0=$SECONDS
        "$BIN" gen-model "$f.tmp" --arch "$arch" --wtype "$kind" \
            --hidden 2560 --layers 30 --heads 20 --kv-heads 5 --ffn 6912 --ctx 4096 --etype f16 \
            --seed 1 --vocab-from "$vocab" >/dev/null || return 1
        mv "$f.tmp" "$f"
        echo "bench: generated $f in $((SECONDS - t0)) s" >&2
    fi
    echo "$f"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    ROOT=$(cd "$(dirname "$0")/.." && pwd)
    BIN=${BIN:-$ROOT/${BITNET_BUILD:-build}/bitnet}
    bench_model "${1:?usage: scripts/bench_models.sh tq2_0|i2_s}"
fi
