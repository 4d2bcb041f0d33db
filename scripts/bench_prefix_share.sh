#!/usr/bin/env bash
# bench_prefix_share.sh (`make bench-prefix-share`): what shared prompt prefixes save in the
# server (bitnet_batch_params.prefix_share_min, `--prefix-share`): the same workloads on a
# fresh `bitnet serve` with the default (16) and with `--prefix-share 0` (every slot prefills
# its own prompt), alternating, on the 2B-4T-shaped I2_S file (scripts/bench_models.sh):
#   shared: 4 requests at once, each a P-token prefix common to all (a system prompt) and 16
#           tokens of its own, 16 tokens generated (greedy, ignore_eos);
#   n=4:    one request with OpenAI's n = 4 on a P-token prompt (seeded sampling, 16 tokens);
#   return: five conversations' first turns one after another (P-token prompts of their own),
#           then the first conversation's next turn (its prompt and 16 new tokens): timed is
#           that turn, whose slot went to the fifth conversation (the prompt cache in host
#           memory, --cache-ram, gives it back; --prefix-share 0 turns that off too).
# Prints the wall time of each workload per setting (medians over the rounds), the ratio, and
# whether the replies were the same with both settings (they must be: a copy of cache entries
# changes no bit). Not part of `make test`.
#
# Env: BENCH_THREADS (2), BENCH_SHARE_P (700 prefix tokens), BENCH_SHARE_ROUNDS (2),
#      BENCH_DIR (models/bench), BITNET_BUILD (build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. scripts/bench_serve_lib.sh
bench_serve_setup bench-prefix-share
T=${BENCH_THREADS:-2} P=${BENCH_SHARE_P:-700} ROUNDS=${BENCH_SHARE_ROUNDS:-2}
LOG_DIR="$ROOT/$BUILD/bench"
mkdir -p "$LOG_DIR"

# run_setting NAME ARGS...: a fresh server, both workloads, one JSON line on stdout.
run_setting() {
    local name=$1 log="$LOG_DIR/prefix-share-$1.log"
    shift
    "$SERVER" -m "$MODEL" -t "$T" -np 4 -c $((4 * (P + 256))) --port 0 "$@" >"$log" 2>&1 &
    local pid=$! url
    url=$(bench_server_url "$log" $pid bench-prefix-share) || return 1
    python3 - "$url" "$P" "$name" <<'PY'
import json, sys, threading, time, urllib.request
url, p, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def post(body):
    req = urllib.request.Request(url + "/v1/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=1200) as r:
        return json.load(r)
prefix = [1000 + (37 * i) % 120000 for i in range(p)]
def shared():
    out = [None] * 4
    def one(k):
        out[k] = post({"prompt": prefix + [2000 + 101 * k + i for i in range(16)], "max_tokens": 16,
                       "temperature": 0, "ignore_eos": True})
    threads = [threading.Thread(target=one, args=(k,)) for k in range(4)]
    t0 = time.time()
    for t in threads: t.start()
    for t in threads: t.join()
    return time.time() - t0, [r["choices"][0]["text"] for r in out], sum(r["usage"]["prompt_tokens_details"]["cached_tokens"] for r in out)
def returning():
    first = [[3000 + 7 * c] + prefix[1:] for c in range(5)]
    for c in range(5):
        post({"prompt": first[c], "max_tokens": 16, "temperature": 0, "ignore_eos": True})
    t0 = time.time()
    r = post({"prompt": first[0] + [4000 + i for i in range(16)], "max_tokens": 16, "temperature": 0, "ignore_eos": True})
    return time.time() - t0, [r["choices"][0]["text"]], r["usage"]["prompt_tokens_details"]["cached_tokens"]
def n4():
    t0 = time.time()
    r = post({"prompt": [5] + prefix, "n": 4, "max_tokens": 16, "seed": 3, "temperature": 1, "ignore_eos": True})
    return time.time() - t0, [c["text"] for c in r["choices"]], None
res = {"setting": name}
for key, fn in (("shared", shared), ("n4", n4), ("return", returning)):
    secs, texts, cached = fn()
    res[key] = {"seconds": secs, "texts": texts, "cached": cached}
print(json.dumps(res))
PY
    local rc=$?
    kill -TERM $pid 2>/dev/null
    wait $pid 2>/dev/null || true
    return $rc
}

RESULTS="$LOG_DIR/prefix-share.jsonl"
: >"$RESULTS"
echo "bench-prefix-share: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $T threads, 4 slots, P=$P, $ROUNDS rounds" >&2
for r in $(seq 1 "$ROUNDS"); do
    run_setting shared >>"$RESULTS"
    run_setting alone --prefix-share 0 >>"$RESULTS"
done
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(setting, key): return statistics.median(r[key]["seconds"] for r in rows if r["setting"] == setting)
def texts(setting, key): return {json.dumps(r[key]["texts"]) for r in rows if r["setting"] == setting}
print("| workload | --prefix-share 16 (default) | --prefix-share 0 | speedup | same replies |")
print("|---|---|---|---|---|")
for key, label in (("shared", "4 requests at once, one shared prefix"), ("n4", "one request, n = 4"),
                   ("return", "a conversation's next turn after 4 others took the slots")):
    a, b = med("shared", key), med("alone", key)
    same = texts("shared", key) == texts("alone", key) and len(texts("shared", key)) == 1
    print(f"| {label} | {a:.2f} s | {b:.2f} s | {b / a:.2f}x | {'yes' if same else 'NO'} |")
for key in ("shared", "return"):
    print(f"cached prompt tokens, {key} (default setting; per round): {[r[key]['cached'] for r in rows if r['setting'] == 'shared']}")
PY
