#!/usr/bin/env bash
# `bitnet bench` on a tiny generated model (seconds): the --json line has every key the
# issue lists with sane values, --lm-head q8 reports a q8_0 head reading fewer bytes, the
# screened head (default) its copy plus the candidate rows and its counters, the KV cache types
# are reported and size the cache, --depth-ab reports its two ratios, --head-ab its ratio, -o md
# prints llama-bench's table (-p 0: generation only; -d: at a depth; value lists: a test each), bad usage exits 2; and, when the reference is cached, the llama.cpp harness's `bench` prints
# its JSON line for the same model.
source "$(dirname "$0")/lib.sh"
M="$TMP/bench-tiny.gguf"
if ! "$BITNET" gen-model "$M" --arch bitnet --hidden 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 \
        --vocab-size 300 --wtype tq2_0 --seed 3 >"$TMP/gen.log" 2>&1; then
    not_ok gen_model "$(cat "$TMP/gen.log")"
    exit 0
fi

# json_check NAME FILE PYTHON-ASSERTIONS: the last stdout line parses and the assertions hold.
json_check() {
    local name=$1 file=$2 expr=$3
    if tail -n 1 "$file" | "$PY" -c "
import json, sys
j = json.loads(sys.stdin.read())
$expr
" 2>"$TMP/json.err"; then ok "$name"; else not_ok "$name" "$(cat "$TMP/json.err") -- $(tail -n 1 "$file")"; fi
}

if "$BITNET" bench -m "$M" -p 20 -n 5 -r 3 -t 2 --lm-head model --json >"$TMP/b.out" 2>"$TMP/b.err"; then
    ok bench_runs
    json_check bench_json_keys "$TMP/b.out" '
for k in ("prefill_tok_s","decode_tok_s","tier","threads","bytes_per_token","gbps","bandwidth_pct",
          "prefill_min","prefill_max","decode_min","decode_max","ttft_s","peak_rss_bytes","read_bandwidth_gbps"):
    assert k in j, k
assert j["threads"] == 2 and j["p"] == 20 and j["n"] == 5 and j["reps"] == 3
assert j["prefill_min"] <= j["prefill_tok_s"] <= j["prefill_max"] and j["prefill_tok_s"] > 0
assert j["decode_min"] <= j["decode_tok_s"] <= j["decode_max"] and j["decode_tok_s"] > 0
assert j["tier"] in ("scalar","avx2","avxvnni","avx512","amx","neon","dotprod")
assert j["bytes_per_token"] > 300 * 256 * 2          # at least the F16 head
# the file layout: TQ2_0 blocks of 66 bytes per 256 weights vs 64 in the packed tiles
assert j["file_bytes_per_token"] > j["bytes_per_token"], (j["file_bytes_per_token"], j["bytes_per_token"])
assert abs(j["gbps"] - j["bytes_per_token"] * j["decode_tok_s"] / 1e9) < 1e-3 * max(1, j["gbps"])
assert j["read_bandwidth_gbps"] > 0 and j["bandwidth_pct"] > 0
assert 0 < j["ttft_s"] < 60 and j["peak_rss_bytes"] > 0'
    grep -q "^decode" "$TMP/b.out" && ok bench_human_table || not_ok bench_human_table "$(cat "$TMP/b.out")"
else
    not_ok bench_runs "$(cat "$TMP/b.err")"
fi

if "$BITNET" bench -m "$M" -p 8 -n 2 -r 1 -t 1 --lm-head q8 --json >"$TMP/q.out" 2>"$TMP/q.err"; then
    json_check bench_q8_head "$TMP/q.out" "
assert j['lm_head'] == 'q8_0' and j['threads'] == 1
f16 = json.loads(open('$TMP/b.out').read().splitlines()[-1])
assert f16['bytes_per_token'] - j['bytes_per_token'] == 300 * 256 * 2 - 300 * 256 // 32 * 34"
else
    not_ok bench_q8_head "$(cat "$TMP/q.err")"
fi

# The screened head (the default): its copy (hidden 256 = 8 blocks, padded to a 16-block group:
# 512 code bytes + 32 scale bytes per row) instead of the F16 head, plus the candidate rows.
if "$BITNET" bench -m "$M" -p 8 -n 8 -r 1 -t 2 --json >"$TMP/s.out" 2>"$TMP/s.err"; then
    json_check bench_screened_head "$TMP/s.out" "
assert j['lm_head_mode'] == 'screen' and j['lm_head'] == 'f16'
assert 1 <= j['screen_candidates'] <= 300 and j['screen_fallback_rate'] == 0
f16 = json.loads(open('$TMP/b.out').read().splitlines()[-1])
want = f16['bytes_per_token'] - 300 * 256 * 2 + 300 * (512 + 32) + j['screen_candidates'] * 512
assert abs(j['bytes_per_token'] - want) <= 512 * 0.01 + 1, (j['bytes_per_token'], want)
# the interleaved comparison ran (a ratio of two timed loops on this tiny model: only its sign is sure)
assert j['screen_speedup_interleaved'] > 0, j
assert f16['screen_speedup_interleaved'] == 0, f16"
    grep -q "^screen .*candidate rows per token" "$TMP/s.out" && grep -q "^screen .*generation .*x the plain head's" "$TMP/s.out" &&
        ok bench_screen_line || not_ok bench_screen_line "$(cat "$TMP/s.out")"
else
    not_ok bench_screened_head "$(cat "$TMP/s.err")"
fi

# KV cache types: reported, and the cache bytes follow them (head size 64: f16 = f32 / 2,
# q8_0 = f32 * 34 / 128 in both K blocks and V rows; the context is the same, -c 48)
for kv in f32 f16 q8_0; do
    "$BITNET" bench -m "$M" -p 8 -n 2 -r 1 -t 1 -c 48 --kv-type "$kv" --json >"$TMP/kv-$kv.out" 2>"$TMP/kv-$kv.err" ||
        not_ok "bench_kv_$kv" "$(cat "$TMP/kv-$kv.err")"
done
json_check bench_kv_types "$TMP/kv-q8_0.out" "
f32, f16 = (json.loads(open('$TMP/kv-%s.out' % t).read().splitlines()[-1]) for t in ('f32', 'f16'))
assert (f32['kv_type_k'], f16['kv_type_k'], j['kv_type_k'], j['kv_type_v']) == ('f32', 'f16', 'q8_0', 'q8_0')
assert f32['kv_cache_bytes'] == 2 * f16['kv_cache_bytes'] and f32['kv_cache_bytes'] * 34 == j['kv_cache_bytes'] * 128, (f32, j)"
grep -q "KV cache K q8_0 V q8_0" "$TMP/kv-q8_0.out" && ok bench_kv_human || not_ok bench_kv_human "$(head -3 "$TMP/kv-q8_0.out")"
"$BITNET" bench -m "$M" --kv-type q4 >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok bench_bad_kv_type || not_ok bench_bad_kv_type "--kv-type q4 exited $rc, expected 2"

# --depth-ab: both depths' prompts and steps in one loop, two ratios (timings of a tiny model:
# only that they were measured is sure); absent, they are 0; a depth above -p is a usage error
if "$BITNET" bench -m "$M" -p 24 -n 6 -r 2 -t 2 --depth-ab 4 --json >"$TMP/d.out" 2>"$TMP/d.err"; then
    json_check bench_depth_ab "$TMP/d.out" "
assert j['depth_ab'] == 4 and j['p'] == 24
assert 0 < j['depth_ab_pp_ratio'] < 1e3 and 0 < j['depth_ab_tg_ratio'] < 1e3, j
f16 = json.loads(open('$TMP/b.out').read().splitlines()[-1])
assert f16['depth_ab'] == 0 and f16['depth_ab_pp_ratio'] == 0 and f16['depth_ab_tg_ratio'] == 0, f16"
    grep -q "^depth .*prompt of 24 tokens at .*x the rate of 4; generation after it .*x after 4" "$TMP/d.out" &&
        ok bench_depth_ab_line || not_ok bench_depth_ab_line "$(cat "$TMP/d.out")"
else
    not_ok bench_depth_ab "$(cat "$TMP/d.err")"
fi
"$BITNET" bench -m "$M" -p 8 --depth-ab 9 >/dev/null 2>"$TMP/d2.err"; rc=$?
[ $rc -eq 2 ] && grep -q "depth-ab 9 is above the prompt length 8" "$TMP/d2.err" && ok bench_depth_ab_too_deep ||
    not_ok bench_depth_ab_too_deep "exited $rc: $(cat "$TMP/d2.err")"

# --head-ab: this head against a second copy of the model with another head, in one loop
# (timings of a tiny model: only that the ratio was measured is sure); absent, it is 0 and "";
# an unknown head is a usage error
if "$BITNET" bench -m "$M" -p 8 -n 6 -r 2 -t 2 --lm-head q8 --head-ab model --json >"$TMP/hab.out" 2>"$TMP/hab.err"; then
    json_check bench_head_ab "$TMP/hab.out" "
assert j['lm_head'] == 'q8_0' and j['head_ab'] == 'model', j
assert 0 < j['head_ab_tg_ratio'] < 1e3, j
f16 = json.loads(open('$TMP/b.out').read().splitlines()[-1])
assert f16['head_ab'] == '' and f16['head_ab_tg_ratio'] == 0, f16"
    grep -q "^head-ab .*generation .*x that of a copy of the model with --lm-head model" "$TMP/hab.out" &&
        ok bench_head_ab_line || not_ok bench_head_ab_line "$(cat "$TMP/hab.out")"
else
    not_ok bench_head_ab "$(cat "$TMP/hab.err")"
fi
"$BITNET" bench -m "$M" -p 8 --head-ab f8 >/dev/null 2>"$TMP/hab2.err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--head-ab must be auto, screen, model or q8, not 'f8'" "$TMP/hab2.err" && ok bench_head_ab_bad_head ||
    not_ok bench_head_ab_bad_head "exited $rc: $(cat "$TMP/hab2.err")"

# -o md: llama-bench's table alone on stdout (header, rule, pp and tg rows with mean +- deviation
# over the reps, n_batch when -b is given), the human lines on stderr; another -o is refused
if "$BITNET" bench -m "$M" -p 20 -n 5 -r 3 -t 2 -b 4 -o md >"$TMP/md.out" 2>"$TMP/md.err"; then
    "$PY" - "$TMP/md.out" >"$TMP/md.check" 2>&1 <<'MDEOF'
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert len(lines) == 4, lines
head = [c.strip() for c in lines[0].strip("|").split("|")]
assert head == ["model", "size", "params", "backend", "threads", "n_batch", "test", "t/s"], head
assert set(lines[1].replace("|", "").replace(" ", "")) <= set("-:"), lines[1]
for line, test in zip(lines[2:], ("pp20", "tg5")):
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[0] == "bitnet TQ2_0" and cells[3] == "CPU" and cells[4] == "2" and cells[5] == "4" and cells[6] == test, cells
    assert re.fullmatch(r"[0-9.]+ (MiB|GiB)", cells[1]) and re.fullmatch(r"[0-9.]+ (M|B)", cells[2]), cells
    m = re.fullmatch(r"([0-9.]+) \u00b1 ([0-9.]+)", cells[7])
    assert m and float(m.group(1)) > 0, cells[7]
print("fine")
MDEOF
    if [ "$(cat "$TMP/md.check")" = fine ] && grep -q '^prefill ' "$TMP/md.err"; then ok bench_md_table; else
        not_ok bench_md_table "$(cat "$TMP/md.check") -- $(head -c 300 "$TMP/md.out")"; fi
else
    not_ok bench_md_table "exited $?: $(tail -3 "$TMP/md.err")"
fi
"$BITNET" bench -m "$M" -p 8 -o csv >/dev/null 2>"$TMP/o.err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "-o must be text, md" "$TMP/o.err" && ok bench_bad_output || not_ok bench_bad_output "exited $rc: $(cat "$TMP/o.err")"

"$BITNET" bench -m "$M" -p 0 -n 0 >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok bench_bad_usage || not_ok bench_bad_usage "-p 0 -n 0 exited $rc, expected 2"
# llama-bench's -p 0 (generation only, from an empty sequence): the table's one row is tg5; its
# -fa 1 and -mmp 0 are taken with notes; its value lists are refused with the reason
if "$BITNET" bench -m "$M" -p 0 -n 5 -r 2 -t 2 -fa 1 -mmp 0 -o md >"$TMP/tg.out" 2>"$TMP/tg.err"; then
    rows=$(grep -c '^| bitnet' "$TMP/tg.out") tg=$(grep -c '| *tg5 |' "$TMP/tg.out")
    notes=$(grep -c -e '-fa ignored' -e '-mmp ignored' "$TMP/tg.err")
    [ "$rows/$tg/$notes" = 1/1/2 ] && grep -q '^prefill      none (-p 0' "$TMP/tg.err" && grep -q '^decode       5 tokens' "$TMP/tg.err" &&
        ok bench_generation_only || not_ok bench_generation_only "rows/tg/notes $rows/$tg/$notes: $(head -c 300 "$TMP/tg.err")"
else
    not_ok bench_generation_only "exited $?: $(tail -3 "$TMP/tg.err")"
fi
# llama-bench's -d D: the prompt and the generation after D untimed tokens, the tests named as
# llama-bench names them ("pp8 @ d16"), the JSON line's depth; not beside --depth-ab
if "$BITNET" bench -m "$M" -d 16 -p 8 -n 3 -r 2 -t 2 -o md >"$TMP/d.out" 2>"$TMP/d.err" &&
   "$BITNET" bench -m "$M" -d 16 -p 8 -n 3 -r 1 -t 2 --json >"$TMP/dj.out" 2>/dev/null; then
    rows=$(grep -c -e '| *pp8 @ d16 |' -e '| *tg3 @ d16 |' "$TMP/d.out")
    [ "$rows" = 2 ] && grep -q '^prefill      8 tokens after 16 (-d)' "$TMP/d.err" && grep -q '^decode       3 tokens after 16 + 8' "$TMP/d.err" &&
        ok bench_depth || not_ok bench_depth "rows $rows: $(head -c 300 "$TMP/d.out") $(head -c 300 "$TMP/d.err")"
    json_check bench_depth_json "$TMP/dj.out" 'assert j["depth"] == 16 and j["p"] == 8 and j["prefill_tok_s"] > 0 and j["decode_tok_s"] > 0, j'
else
    not_ok bench_depth "exited $?: $(tail -3 "$TMP/d.err")"
fi
"$BITNET" bench -m "$M" -d 4 -p 8 --depth-ab 4 >/dev/null 2>"$TMP/dab.err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "-d is not taken with --depth-ab" "$TMP/dab.err" && ok bench_depth_not_with_depth_ab ||
    not_ok bench_depth_not_with_depth_ab "exited $rc: $(cat "$TMP/dab.err")"
# llama-bench's value lists: a prompt test per -p value and a generation test per -n value (0s
# skipped) at each -d, one md table of their rows (the same model columns in each); --json
# (one object a run) and a list for -r are refused
if "$BITNET" bench -m "$M" -p 8,16 -n 0,3 -d 0,4 -r 1 -t 2 -o md >"$TMP/l.out" 2>"$TMP/l.err"; then
    tests=$(grep '^| bitnet' "$TMP/l.out" | awk -F'|' '{gsub(/ /, "", $7); printf "%s;", $7}')
    params=$(grep '^| bitnet' "$TMP/l.out" | awk -F'|' '{print $4}' | sort -u | wc -l)
    [ "$tests" = "pp8;pp16;tg3;pp8@d4;pp16@d4;tg3@d4;" ] && [ "$params" = 1 ] && [ "$(grep -c '^| model' "$TMP/l.out")" = 1 ] &&
        ok bench_value_lists || not_ok bench_value_lists "tests '$tests', params columns $params: $(head -c 400 "$TMP/l.out")"
else
    not_ok bench_value_lists "exited $?: $(tail -3 "$TMP/l.err")"
fi
"$BITNET" bench -m "$M" -p 8,16 --json >/dev/null 2>"$TMP/list.err"; rc=$?
[ $rc -eq 2 ] && grep -q "value lists .* without --json" "$TMP/list.err" && ok bench_value_lists_not_json ||
    not_ok bench_value_lists_not_json "exited $rc: $(cat "$TMP/list.err")"
"$BITNET" bench -m "$M" -r 2,3 >/dev/null 2>"$TMP/list.err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--reps takes one value" "$TMP/list.err" && ok bench_reps_list_refused ||
    not_ok bench_reps_list_refused "exited $rc: $(cat "$TMP/list.err")"
"$BITNET" bench -p 8 >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok bench_missing_model || not_ok bench_missing_model "exited $rc, expected 2"
"$BITNET" bench -m "$TMP/nope.gguf" >/dev/null 2>"$TMP/nope.err"; rc=$?
[ $rc -eq 1 ] && grep -q nope.gguf "$TMP/nope.err" && ok bench_missing_file || not_ok bench_missing_file "exited $rc"

if [ -f "$ROOT/.cache/reference/.complete" ] &&
   H=$(BITNET_BUILD=${BITNET_BUILD:-build} "$ROOT/scripts/build_harness.sh" 2>"$TMP/h.err"); then
    if "$H" bench --model "$M" -p 8 -n 2 -r 1 --threads 1 --kv-type f16 >"$TMP/h.out" 2>"$TMP/h.err"; then
        json_check harness_bench_json "$TMP/h.out" '
assert j["engine"] == "llama.cpp" and j["p"] == 8 and j["n"] == 2 and j["kv_type"] == "f16"
assert j["prefill_tok_s"] > 0 and j["decode_tok_s"] > 0
assert "AVX2" in j["cpu_features"].split("+"), j["cpu_features"]'
    else
        not_ok harness_bench_json "$(tail -5 "$TMP/h.err")"
    fi
    # make bench's AVX2 comparison: a directory holding only llama.cpp's haswell backend
    mkdir -p "$TMP/ref-avx2"
    ln -sf "$ROOT/.cache/reference/lib/libggml-cpu-haswell.so" "$TMP/ref-avx2/"
    if BITNET_REF_LIB="$TMP/ref-avx2" "$H" bench --model "$M" -p 8 -n 2 -r 1 --threads 1 >"$TMP/h2.out" 2>"$TMP/h2.err"; then
        json_check harness_bench_avx2_backend "$TMP/h2.out" '
f = j["cpu_features"].split("+")
assert "AVX2" in f and "AVX512" not in f, j["cpu_features"]'
    else
        not_ok harness_bench_avx2_backend "$(tail -5 "$TMP/h2.err")"
    fi
else
    echo "# skipped harness_bench_json: reference llama.cpp not available"
fi
