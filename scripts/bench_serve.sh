#!/usr/bin/env bash
# bench_serve.sh (`make bench-serve`): our OpenAI-compatible server against llama.cpp's
# llama-server, in one run, with real streaming HTTP clients (scripts/bench_serve.mjs, Node).
#
# Both serve the same random-weight 2B-4T-shaped TQ2_0 file (scripts/bench_models.sh, cached
# under models/bench/) with the same threads and --parallel; llama-server is built once from
# the reference bundle (scripts/build_llama_server.sh, cached under .cache/llama-server/;
# ~20+ minutes the first time). Measured, alternating the engines at every step: aggregate
# generated tokens/s and TTFT p50/p99 at 1, 4 and 8 concurrent streaming clients (128-token
# prompts as token ids, 64 generated tokens, greedy, ignore_eos), and a new request's TTFT on
# the idle server against its TTFT while 7 others are generating. Prints the table and writes
# build/bench/serve.json (machine, date, threads, commands, every request); server logs go to
# build/bench/serve-*.log. Not part of `make test`.
#
# Env: BENCH_THREADS (2), BENCH_SERVE_PARALLEL (8), BENCH_SERVE_CLIENTS (1,4,8),
#      BENCH_SERVE_P (128), BENCH_SERVE_N (64), BENCH_SERVE_REQS (2 requests per client and
#      level, at least BENCH_SERVE_MIN_REQS=4 per level), BENCH_SERVE_ROUNDS (1),
#      BENCH_SERVE_PROBES (5; 0 skips the TTFT-under-load test), BENCH_SERVE_BG_N (256 tokens
#      per background request), BENCH_SERVE_ENGINES (both | ours | llama),
#      BENCH_SERVE_OURS (our server's command, default "$BUILD/bitnet serve"; split at spaces),
#      BENCH_SERVE_LLAMA_ARGS (extra llama-server arguments), BENCH_SERVE_DEADLINE (3600 s for
#      the whole measurement), BENCH_SERVE_TIMEOUT (600 s per request), BENCH_DIR (models/bench),
#      BITNET_BUILD (build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BITNET_BUILD:-build}
BIN="$ROOT/$BUILD/bitnet"
OUT_DIR="$ROOT/$BUILD/bench"
T=${BENCH_THREADS:-2}
ENGINES=${BENCH_SERVE_ENGINES:-both}
case "$ENGINES" in both|ours|llama) ;; *) echo "bench-serve: BENCH_SERVE_ENGINES must be both, ours or llama" >&2; exit 2 ;; esac
command -v node >/dev/null || { echo "bench-serve: node is not installed (apt-get install nodejs)" >&2; exit 1; }
mkdir -p "$OUT_DIR"

ARGS=()
if [ "$ENGINES" != llama ]; then
    OURS=${BENCH_SERVE_OURS:-}
    if [ -z "$OURS" ]; then
        if [ -x "$ROOT/$BUILD/bitnet-server" ]; then
            OURS="$ROOT/$BUILD/bitnet serve"   # which execs bitnet-server beside it
        else
            echo "bench-serve: our server $BUILD/bitnet-server is not built: make builds it only with" \
                 "libmicrohttpd and jansson (apt-get install libmicrohttpd-dev libjansson-dev);" \
                 "BENCH_SERVE_ENGINES=llama measures llama-server alone" >&2
            exit 1
        fi
    fi
    ARGS+=(--ours "$OURS")
fi

# The model (generated once with the CLI, cached) and llama-server (built once, cached).
[ -x "$BIN" ] || { echo "bench-serve: $BIN is missing (run make)" >&2; exit 1; }
"$ROOT/scripts/fetch_reference.sh" >/dev/null
. "$ROOT/scripts/bench_models.sh"
MODEL=$(bench_model tq2_0)
if [ "$ENGINES" != ours ]; then
    LLAMA=$("$ROOT/scripts/build_llama_server.sh")
    ARGS+=(--llama "$LLAMA${BENCH_SERVE_LLAMA_ARGS:+ $BENCH_SERVE_LLAMA_ARGS}")
fi

CMD=""
for v in BENCH_THREADS BENCH_SERVE_PARALLEL BENCH_SERVE_CLIENTS BENCH_SERVE_P BENCH_SERVE_N BENCH_SERVE_REQS \
         BENCH_SERVE_MIN_REQS BENCH_SERVE_ROUNDS BENCH_SERVE_PROBES BENCH_SERVE_BG_N BENCH_SERVE_ENGINES \
         BENCH_SERVE_OURS BENCH_SERVE_LLAMA_ARGS; do
    if [ -n "${!v:-}" ]; then CMD+="$v=${!v} "; fi
done
CMD+="make bench-serve"
exec node "$ROOT/scripts/bench_serve.mjs" "${ARGS[@]}" --model "$MODEL" --out "$OUT_DIR/serve.json" \
    --logdir "$OUT_DIR" --command "$CMD" --threads "$T" \
    --parallel "${BENCH_SERVE_PARALLEL:-8}" --clients "${BENCH_SERVE_CLIENTS:-1,4,8}" \
    --prompt "${BENCH_SERVE_P:-128}" --gen "${BENCH_SERVE_N:-64}" --reqs "${BENCH_SERVE_REQS:-2}" \
    --min-reqs "${BENCH_SERVE_MIN_REQS:-4}" --rounds "${BENCH_SERVE_ROUNDS:-1}" \
    --probes "${BENCH_SERVE_PROBES:-5}" --bg "$(( ${BENCH_SERVE_PARALLEL:-8} - 1 ))" --bg-gen "${BENCH_SERVE_BG_N:-256}" \
    --deadline "${BENCH_SERVE_DEADLINE:-3600}" --req-timeout "${BENCH_SERVE_TIMEOUT:-600}"
