#!/usr/bin/env bash
# bench_cache_reuse.sh (`make bench-cache-reuse`): what cache reuse (`--cache-reuse N`, a
# request's n_cache_reuse; bitnet_generate_params.n_cache_reuse) saves on a chat whose client
# drops its oldest messages: on one slot of a `bitnet serve` (the prompt cache off, so that only
# the slot's own cache can help), the 2B-4T-shaped I2_S file (scripts/bench_models.sh):
#   the slot holds S + H (a system prompt of 100 tokens and a history of BENCH_REUSE_H tokens);
#   the next prompt is S + H without its first 300 tokens + 40 new ones, one token generated,
#   with n_cache_reuse 0 and 64, alternating (before each, S + H is sent again to put it back).
# Prints each request's wall time (client side: the moves of the cache are in it), its cached
# tokens and the medians' ratio. The replies may differ (reuse is approximate); not compared.
# Not part of `make test`.
#
# Env: BENCH_THREADS (2), BENCH_REUSE_H (1500), BENCH_REUSE_ROUNDS (3), BENCH_DIR (models/bench),
#      BITNET_BUILD (build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. scripts/bench_serve_lib.sh
bench_serve_setup bench-cache-reuse
T=${BENCH_THREADS:-2} H=${BENCH_REUSE_H:-1500} ROUNDS=${BENCH_REUSE_ROUNDS:-3}
LOG="$ROOT/$BUILD/bench/cache-reuse.log"
mkdir -p "$(dirname "$LOG")"
"$SERVER" -m "$MODEL" -t "$T" -np 1 -c $((H + 512)) --cache-ram 0 --port 0 >"$LOG" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
url=$(bench_server_url "$LOG" $pid bench-cache-reuse)
echo "bench-cache-reuse: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $T threads, history $H tokens, $ROUNDS rounds" >&2
python3 - "$url" "$H" "$ROUNDS" <<'PY'
import json, random, statistics, sys, time, urllib.request
url, h, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def post(body):
    req = urllib.request.Request(url + "/completion", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=1200) as r:
        return json.load(r)
rnd = random.Random(5)
system = [rnd.randrange(1000, 100000) for _ in range(100)]
history = [rnd.randrange(1000, 100000) for _ in range(h)]
new = [rnd.randrange(1000, 100000) for _ in range(40)]
before, after = system + history, system + history[300:] + new
ms = {0: [], 64: []}
for r in range(rounds):
    for reuse in (0, 64):
        post({"prompt": before, "n_predict": 1, "temperature": 0})
        t0 = time.perf_counter()
        res = post({"prompt": after, "n_predict": 1, "temperature": 0, "n_cache_reuse": reuse})
        ms[reuse].append((time.perf_counter() - t0) * 1e3)
        print(f"round {r + 1}: n_cache_reuse {reuse:2d}: {ms[reuse][-1]:7.0f} ms, cached {res['tokens_cached']} of {len(after)}")
a, b = statistics.median(ms[0]), statistics.median(ms[64])
print(f"median: off {a:.0f} ms, n_cache_reuse 64 {b:.0f} ms: {a / b:.1f}x")
PY
