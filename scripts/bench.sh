#!/usr/bin/env bash
# bench.sh (`make bench`): this engine against the reference llama.cpp, in one run, on
# random-weight models with the exact shapes of microsoft/bitnet-b1.58-2B-4T (hidden 2560,
# 30 layers, 20 heads, 5 KV heads, FFN 6912, LLaMA-3 vocabulary of 128256, F16 tied embedding).
#
# The models are generated once and cached under models/bench/ (gitignored):
#   bitnet-2b-shapes-tq2_0.gguf  arch "bitnet" (SiLU: llama.cpp's bitnet arch; same bytes and
#                                shapes as 2B-4T, so the same speed) - both engines run it
#   bitnet-2b-shapes-i2_s.gguf   arch "bitnet-b1.58", I2_S - this engine only
# Runs, alternating engine and llama.cpp (scripts/build_harness.sh's `bench`), with the same
# threads, prompt length and prompt ids, each engine with its default KV cache (f16: ours and
# llama.cpp's; the harness runs llama.cpp's f16 cache without flash attention):
#   engine TQ2_0 (screened head, the default) | llama.cpp TQ2_0 | engine TQ2_0 --lm-head model
#   (the plain F16 head) | engine TQ2_0 --lm-head q8 | engine I2_S
#   | engine TQ2_0 with BITNET_FORCE_TIER=avx512, =avx2 (prompt processing)
#   | llama.cpp TQ2_0 with its AVX2 CPU backend | engine 1 thread
#   | at the avx2 tier, generation with the screened head, the plain head and --lm-head q8
#   (the q8 run also times it against the plain head in one loop, --head-ab model: a second
#   copy of the model with the F16 head, steps of both alternating; the ratio the summary uses)
# (each screened run also times the screened against the plain head with their steps
# interleaved on one sequence: bench's screen_speedup_interleaved, the ratio the summary uses)
# then long context: a DEPTH-token prompt (2048) and generation after it (at depth DEPTH),
# engine at the top tier and at avx2, llama.cpp, against the P-token runs above (generation at
# depth P, ~0):
#   engine -p DEPTH | engine avx2 -p DEPTH | llama.cpp -p DEPTH
# (the engine's depth runs also compare DEPTH with P in one loop, --depth-ab P: prompts and
# steps of both depths interleaved, the ratios the long-context summary uses; the ratios of
# the separate runs are printed in brackets)
# and repeats that ROUNDS times; the tables use each configuration's median over rounds.
# llama.cpp's CPU backend is one library per x86 level and it loads the best this CPU runs
# (zen4 / AVX-512 here). The avx2 rows are compared with llama.cpp's AVX2 ("haswell")
# variant, loaded alone from a directory holding only it (BITNET_REF_LIB); the harness
# reports the loaded variant's features and the run fails if they include AVX-512.
# Prints the table with ratios and writes everything (CPU model, flags, load average, date,
# every raw JSON line) to build/bench/results.json.
# Env: BENCH_THREADS (2), BENCH_P (128), BENCH_N (32), BENCH_REPS (3), BENCH_ROUNDS (1),
#      BENCH_DEPTH (2048; 0 skips the long-context runs), BENCH_DEPTH_REPS (2),
#      BENCH_DIR (models/bench), BITNET_BUILD (build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BITNET_BUILD:-build}
BIN="$ROOT/$BUILD/bitnet"
DIR=${BENCH_DIR:-models/bench}
T=${BENCH_THREADS:-2}
P=${BENCH_P:-128}
N=${BENCH_N:-32}
R=${BENCH_REPS:-3}
ROUNDS=${BENCH_ROUNDS:-1}
D=${BENCH_DEPTH:-2048}
RD=${BENCH_DEPTH_REPS:-2}
PY=/usr/bin/python3
VOCAB="$ROOT/.cache/reference/llama.cpp/models/ggml-vocab-llama-bpe.gguf"
OUT_DIR="$ROOT/$BUILD/bench"
mkdir -p "$DIR" "$OUT_DIR"

[ -x "$BIN" ] || { echo "bench: $BIN is missing (run make)" >&2; exit 1; }
HARNESS=$("$ROOT/scripts/build_harness.sh")
[ -f "$VOCAB" ] || { echo "bench: missing $VOCAB (run scripts/fetch_reference.sh)" >&2; exit 1; }
# llama.cpp's AVX2 backend alone, for the comparison with our AVX2 tier.
REF_LIB=${BITNET_REF_DIR:-$ROOT/.cache/reference}/lib
REF_AVX2="$OUT_DIR/ref-avx2"
[ -f "$REF_LIB/libggml-cpu-haswell.so" ] || { echo "bench: missing $REF_LIB/libggml-cpu-haswell.so (run scripts/fetch_reference.sh)" >&2; exit 1; }
mkdir -p "$REF_AVX2"
ln -sf "$REF_LIB/libggml-cpu-haswell.so" "$REF_AVX2/libggml-cpu-haswell.so"

# The models (generated once, cached): scripts/bench_models.sh, shared with bench_serve.sh.
. "$ROOT/scripts/bench_models.sh"
TQ=$(BENCH_DIR="$DIR" bench_model tq2_0)
I2=$(BENCH_DIR="$DIR" bench_model i2_s)

RAW="$OUT_DIR/raw.jsonl"
: > "$RAW"
# run NAME CMD...: runs a benchmark, keeps its last stdout line (the JSON) tagged with NAME.
run() {
    local name=$1; shift
    echo "bench: [$name] $*" >&2
    local line
    line=$("$@" | tail -n 1)
    case "$line" in
    "{"*) echo "{\"config\":\"$name\",\"result\":$line}" >> "$RAW" ;;
    *) echo "bench: [$name] produced no JSON" >&2; exit 1 ;;
    esac
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
    echo "bench: round $round of $ROUNDS" >&2
    run engine "$BIN" bench -m "$TQ" -p "$P" -n "$N" -r "$R" -t "$T" --json
    run llama "$HARNESS" bench --model "$TQ" -p "$P" -n "$N" -r "$R" --threads "$T" --kv-type f16
    run engine_f16_head "$BIN" bench -m "$TQ" -p "$P" -n "$N" -r "$R" -t "$T" --lm-head model --json
    run engine_q8_head "$BIN" bench -m "$TQ" -p "$P" -n "$N" -r "$R" -t "$T" --lm-head q8 --json
    run engine_i2_s "$BIN" bench -m "$I2" -p "$P" -n "$N" -r "$R" -t "$T" --json
    run engine_avx512 env BITNET_FORCE_TIER=avx512 "$BIN" bench -m "$TQ" -p "$P" -n 2 -r "$R" -t "$T" --json
    run engine_avx2 env BITNET_FORCE_TIER=avx2 "$BIN" bench -m "$TQ" -p "$P" -n "$N" -r "$R" -t "$T" --json
    run llama_avx2 env BITNET_REF_LIB="$REF_AVX2" "$HARNESS" bench --model "$TQ" -p "$P" -n "$N" -r "$R" --threads "$T" --kv-type f16
    run engine_1thread "$BIN" bench -m "$TQ" -p "$P" -n 2 -r "$R" -t 1 --json
    run engine_avx2_screen env BITNET_FORCE_TIER=avx2 "$BIN" bench -m "$TQ" -p 8 -n "$N" -r "$R" -t "$T" --json
    run engine_avx2_f16_head env BITNET_FORCE_TIER=avx2 "$BIN" bench -m "$TQ" -p 8 -n "$N" -r "$R" -t "$T" --lm-head model --json
    run engine_avx2_q8_head env BITNET_FORCE_TIER=avx2 "$BIN" bench -m "$TQ" -p 8 -n "$N" -r "$R" -t "$T" --lm-head q8 --head-ab model --json
    if [ "$D" -gt 0 ]; then
        run engine_depth "$BIN" bench -m "$TQ" -p "$D" -n "$N" -r "$RD" -t "$T" --depth-ab "$P" --json
        run engine_avx2_depth env BITNET_FORCE_TIER=avx2 "$BIN" bench -m "$TQ" -p "$D" -n "$N" -r "$RD" -t "$T" --depth-ab "$P" --json
        run llama_depth "$HARNESS" bench --model "$TQ" -p "$D" -n "$N" -r "$RD" --threads "$T" --kv-type f16
    fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
CPU_FLAGS=$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
"$PY" - "$RAW" "$OUT_DIR/results.json" "$CPU_MODEL" "$CPU_FLAGS" "$LOAD_BEFORE" "$LOAD_AFTER" "$T" "$P" "$N" "$R" "$D" <<'EOF'
import json, statistics, sys, datetime, platform
raw, out, cpu, flags, load0, load1, t, p, n, r, depth = sys.argv[1:]
rows = [json.loads(l) for l in open(raw) if l.strip()]
by = {}
for row in rows:
    by.setdefault(row["config"], []).append(row["result"])
def med(cfg, key):
    v = [x[key] for x in by.get(cfg, []) if key in x]
    return statistics.median(v) if v else float("nan")
def features(cfg):
    return by[cfg][0].get("cpu_features", "unknown") if cfg in by else "not run"
if "AVX512" in features("llama_avx2").split("+"):
    sys.exit(f"bench: llama.cpp's AVX2 run loaded an AVX-512 backend ({features('llama_avx2')})")
table = []
def line(label, cfg, pre=True, dec=True, base="llama"):
    d = {"label": label, "config": cfg, "prefill_tok_s": med(cfg, "prefill_tok_s"), "decode_tok_s": med(cfg, "decode_tok_s")}
    d["prefill_ratio"] = d["prefill_tok_s"] / med(base, "prefill_tok_s") if pre else None
    d["decode_ratio"] = d["decode_tok_s"] / med(base, "decode_tok_s") if dec else None
    d["ratio_against"] = base
    for k in ("tier", "lm_head_mode", "cpu_features", "screen_candidates", "screen_fallback_rate", "bandwidth_pct", "gbps", "bytes_per_token", "file_bytes_per_token", "ttft_s", "peak_rss_bytes", "file_bytes", "kv_cache_bytes", "load_s", "pack_s", "read_bandwidth_gbps", "screen_speedup_interleaved", "head_ab_tg_ratio"):
        if cfg in by and k in by[cfg][0]:
            d[k] = med(cfg, k) if k not in ("tier", "lm_head_mode", "cpu_features") else by[cfg][0][k]
    table.append(d)
line("llama.cpp TQ2_0 (reference)", "llama")
line("bitnet TQ2_0, screened head", "engine")
line("bitnet TQ2_0, F16 head (model)", "engine_f16_head")
line("bitnet TQ2_0, --lm-head q8", "engine_q8_head")
line("bitnet I2_S, screened head", "engine_i2_s")
line("bitnet TQ2_0, forced avx512", "engine_avx512", dec=False)
line("bitnet TQ2_0, 1 thread", "engine_1thread", dec=False)
line("llama.cpp TQ2_0, AVX2 backend", "llama_avx2", base="llama_avx2")
line("bitnet TQ2_0, forced avx2", "engine_avx2", dec=False, base="llama_avx2")
line("bitnet TQ2_0, avx2, screened head", "engine_avx2_screen", pre=False, base="llama_avx2")
line("bitnet TQ2_0, avx2, F16 head (model)", "engine_avx2_f16_head", pre=False, base="llama_avx2")
line("bitnet TQ2_0, avx2, --lm-head q8", "engine_avx2_q8_head", pre=False, base="llama_avx2")
now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
doc = {"date": now, "cpu_model": cpu, "cpu_flags": flags.split(), "kernel": platform.release(),
       "threads": int(t), "prompt_tokens": int(p), "generated_tokens": int(n), "reps": int(r),
       "load_average_before": load0, "load_average_after": load1, "table": table, "runs": rows}
eng1 = med("engine_1thread", "prefill_tok_s")
doc["prefill_2_threads_over_1"] = med("engine", "prefill_tok_s") / eng1 if eng1 == eng1 and eng1 > 0 else None
e = next(d for d in table if d["config"] == "engine")
ref = next(d for d in table if d["config"] == "llama")
if e.get("file_bytes_per_token") and ref["decode_tok_s"] == ref["decode_tok_s"]:
    # llama.cpp reads the file's own layout: the engine's matrices at their size in the file
    doc["llama_file_bytes_per_token"] = e["file_bytes_per_token"]
    doc["llama_gbps"] = e["file_bytes_per_token"] * ref["decode_tok_s"] / 1e9
# Long context: the DEPTH-token prompt rate over the P-token one, and generation after the
# DEPTH-token prompt over generation after the P-token one (targets in docs/BENCH.md).
long_ctx = []
for label, short, longc in (("bitnet TQ2_0, top tier", "engine", "engine_depth"), ("bitnet TQ2_0, avx2", "engine_avx2", "engine_avx2_depth"),
                            ("llama.cpp TQ2_0", "llama", "llama_depth")):
    if longc not in by:
        continue
    d = {"label": label, "tier": by[longc][0].get("tier", "-"), "pp_short": med(short, "prefill_tok_s"), "pp_long": med(longc, "prefill_tok_s"),
         "tg_short": med(short, "decode_tok_s"), "tg_long": med(longc, "decode_tok_s")}
    d["pp_ratio"] = d["pp_long"] / d["pp_short"]
    d["tg_ratio"] = d["tg_long"] / d["tg_short"]
    # the engine's interleaved ratios (--depth-ab), None for llama.cpp
    d["pp_ratio_interleaved"] = med(longc, "depth_ab_pp_ratio") if "depth_ab_pp_ratio" in by[longc][0] else None
    d["tg_ratio_interleaved"] = med(longc, "depth_ab_tg_ratio") if "depth_ab_tg_ratio" in by[longc][0] else None
    long_ctx.append(d)
doc["long_context"] = {"depth": int(depth), "short": int(p), "rows": long_ctx}
json.dump(doc, open(out, "w"), indent=1)
print(f"\nbitnet bench vs llama.cpp: {cpu}, {t} threads, prompt {p}, {n} generated, {r} reps, {now}")
print(f"load average before {load0}, after {load1}")
print(f"llama.cpp CPU backends: default {features('llama')}; AVX2 run {features('llama_avx2')}")
print("ratios: against llama.cpp's default backend, the avx2 rows against its AVX2 backend")
print(f"{'configuration':34} {'tier':8} {'pp tok/s':>9} {'x llama':>8} {'tg tok/s':>9} {'x llama':>8} {'bw %':>6}")
for d in table:
    pr = f"{d['prefill_ratio']:.2f}x" if d["prefill_ratio"] is not None else "-"
    dr = f"{d['decode_ratio']:.2f}x" if d["decode_ratio"] is not None else "-"
    tg = f"{d['decode_tok_s']:.2f}" if d["decode_ratio"] is not None else "-"
    bw = f"{d['bandwidth_pct']:.0f}" if "bandwidth_pct" in d and d["decode_ratio"] is not None and not d["config"].startswith("llama") else "-"
    print(f"{d['label']:34} {d.get('tier', '-'):8} {d['prefill_tok_s']:9.2f} {pr:>8} {tg:>9} {dr:>8} {bw:>6}")
over_probe = [d["label"] for d in table if d.get("bandwidth_pct", 0) > 100 and d["decode_ratio"] is not None and not d["config"].startswith("llama")]
if over_probe:
    print(f"WARNING: {len(over_probe)} runs read faster than the bandwidth probe measured ({over_probe[0]}, ...): the probe "
          "under-reads this machine, so the bw % figures are not meaningful here")
print(f"engine: {e.get('bytes_per_token', 0)/2**30:.2f} GiB weights/token, {e.get('gbps', 0):.2f} GB/s of a measured "
      f"{e.get('read_bandwidth_gbps', 0):.2f} GB/s; TTFT (16-token prompt) {e.get('ttft_s', 0)*1000:.0f} ms; load {e.get('load_s', 0):.2f} s "
      f"(repack {e.get('pack_s', 0):.2f} s); peak RSS {e.get('peak_rss_bytes', 0)/2**30:.2f} GiB for a {e.get('file_bytes', 0)/2**30:.2f} GiB file")
if "llama_gbps" in doc:
    print(f"llama.cpp: reads the file's own layout, {doc['llama_file_bytes_per_token']/2**30:.2f} GiB/token -> {doc['llama_gbps']:.2f} GB/s; "
          f"generation ratio at equal bandwidth would be {doc['llama_file_bytes_per_token']/e.get('bytes_per_token', 1):.2f}x")
f16 = next(d for d in table if d["config"] == "engine_f16_head")
a2s = next(d for d in table if d["config"] == "engine_avx2_screen")
a2f = next(d for d in table if d["config"] == "engine_avx2_f16_head")
a2q = next(d for d in table if d["config"] == "engine_avx2_q8_head")
# The screened head over the plain one: from the interleaved steps of each screened run (bench's
# head_ab: both heads on one sequence, alternating), and from the separate runs for reference.
doc["screen_over_f16_head"] = {"top_tier": e.get("screen_speedup_interleaved"), "avx2": a2s.get("screen_speedup_interleaved"),
                               "top_tier_separate_runs": e["decode_tok_s"] / f16["decode_tok_s"],
                               "avx2_separate_runs": a2s["decode_tok_s"] / a2f["decode_tok_s"]}
so = doc["screen_over_f16_head"]
print(f"screened head: {e.get('bytes_per_token', 0)/1e9:.3f} GB/token read (F16 head {f16.get('bytes_per_token', 0)/1e9:.3f}; target <= 0.9), "
      f"{e.get('screen_candidates', 0):.1f} candidate rows per token, fallback rate {100*e.get('screen_fallback_rate', 0):.2f}%")
# three decimals: a ratio of 1.2967 printed as "1.30x" would read as the 1.3x target met
print(f"  generation over the F16 head, steps interleaved: {so['top_tier'] or 0:.3f}x at {e.get('tier')}, {so['avx2'] or 0:.3f}x at avx2 "
      f"(target >= 1.3x; separate runs: {so['top_tier_separate_runs']:.2f}x, {so['avx2_separate_runs']:.2f}x)")
doc["avx2_targets"] = {"f16_head_bandwidth_pct": a2f.get("bandwidth_pct"), "q8_over_f16_head": a2q.get("head_ab_tg_ratio"),
                       "q8_over_f16_head_separate_runs": a2q["decode_tok_s"] / a2f["decode_tok_s"],
                       "prefill_over_llama_avx2": next(d for d in table if d["config"] == "engine_avx2")["prefill_ratio"]}
at = doc["avx2_targets"]
print(f"avx2 tier: prompt {p} at {at['prefill_over_llama_avx2']:.2f}x llama.cpp's AVX2 backend (target >= 3x); generation with the F16 head "
      f"at {at['f16_head_bandwidth_pct'] or 0:.0f}% of the read bandwidth (target >= 90%); --lm-head q8 over the F16 head "
      f"{at['q8_over_f16_head'] or 0:.3f}x, steps interleaved (target >= 1.3x; separate runs: {at['q8_over_f16_head_separate_runs']:.2f}x)")
json.dump(doc, open(out, "w"), indent=1)
if doc["prefill_2_threads_over_1"]:
    print(f"prompt processing, 2 threads over 1: {doc['prefill_2_threads_over_1']:.2f}x")
if long_ctx:
    print(f"\nlong context: prompt {depth} vs {p} tokens (pp), generation after each prompt (tg at depth {depth} vs {p}), {t} threads")
    print("ratio: interleaved in one process (bench --depth-ab), the ratio of the separate runs in brackets")
    print(f"{'configuration':26} {'tier':8} {'pp '+p:>9} {'pp '+depth:>9} {'ratio':>14} {'tg@'+p:>8} {'tg@'+depth:>8} {'ratio':>14}")
    def both(inter, sep):
        return f"{inter:.2f} ({sep:.2f})" if inter is not None else f"({sep:.2f})"
    for d in long_ctx:
        print(f"{d['label']:26} {d['tier']:8} {d['pp_short']:9.2f} {d['pp_long']:9.2f} {both(d['pp_ratio_interleaved'], d['pp_ratio']):>14} "
              f"{d['tg_short']:8.2f} {d['tg_long']:8.2f} {both(d['tg_ratio_interleaved'], d['tg_ratio']):>14}")
    print("targets (engine): pp ratio >= 0.85, tg ratio >= 0.80")
print(f"results: {out}")
EOF
