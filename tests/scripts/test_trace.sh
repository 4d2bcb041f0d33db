#!/usr/bin/env bash
# test_trace: BLAKE3 against b3sum (the reference implementation), the tracer's files (read
# with Python's json module, raw dumps checked with b3sum) and `bitnet trace-diff` exit codes
# and messages. Uses build/tools/{blake3_sum,trace_write} and build/bitnet.
. "$(dirname "$0")/lib.sh"
SUM="$BUILD/tools/blake3_sum"
TW="$BUILD/tools/trace_write"

for tool in "$SUM" "$TW" "$BITNET"; do
    if [ ! -x "$tool" ]; then not_ok "tools_built" "$tool missing (make all tests)"; exit 1; fi
done
if ! command -v b3sum >/dev/null; then not_ok "b3sum_present" "b3sum not installed (Debian package b3sum)"; exit 1; fi

# --- BLAKE3 vs b3sum: the official vector inputs (bytes i % 251) and random data ---
mkdir -p "$TMP/b3"
vec_ok=1
for len in 0 1 63 64 65 1023 1024 1025 2048 2049 3072 3073 4096 4097 5120 5121 6144 6145 7168 7169 8192 8193 16384 31744 102400; do
    f="$TMP/b3/vec_$len"
    $PY -c "import sys; sys.stdout.buffer.write(bytes(i % 251 for i in range($len)))" >"$f"
    want=$(b3sum --no-names "$f")
    got=$("$SUM" "$f" | cut -d' ' -f1)
    if [ "$want" != "$got" ]; then vec_ok=0; echo "    length $len: b3sum $want, ours $got"; fi
done
[ $vec_ok = 1 ] && ok "blake3_vectors_match_b3sum" || not_ok "blake3_vectors_match_b3sum"

rand_ok=1
for len in 5 1000 1024 4100 65537 300001 1048576; do
    f="$TMP/b3/rand_$len"
    head -c "$len" /dev/urandom >"$f"
    [ "$(b3sum --no-names "$f")" = "$("$SUM" "$f" | cut -d' ' -f1)" ] || { rand_ok=0; echo "    random length $len differs"; }
    [ "$(b3sum --no-names "$f")" = "$("$SUM" <"$f" | cut -d' ' -f1)" ] || { rand_ok=0; echo "    random length $len differs (stdin)"; }
done
[ $rand_ok = 1 ] && ok "blake3_random_match_b3sum" || not_ok "blake3_random_match_b3sum"

# --- tracer output: fields, raw dumps, b3sum identity ---
A="$TMP/a" B="$TMP/b"
BITNET_TRACE_RAW=1 "$TW" "$A" --seqs 2 --layers 2 --dim 300 --nan 1:0:q_rope
rc=$?
check "trace_write_raw_runs" [ $rc -eq 0 ]
check_records() { # DIR: every line parses as JSON with the documented fields; raw dump hash = blake3
    $PY - "$1" <<'PYEOF'
import json, os, subprocess, sys
d = sys.argv[1]
stages = ["embed", "attn_norm", "q_proj", "k_proj", "v_proj", "q_rope", "k_rope", "attn", "attn_sub_norm",
          "attn_out", "ffn_norm", "ffn_gate", "ffn_up", "ffn_act", "ffn_sub_norm", "ffn_out", "layer_out",
          "output_norm", "logits"]
fields = {"name", "shape", "dtype", "blake3", "rms", "num_elements", "seq", "layer", "stage", "batch_id",
          "batch_pos", "min", "max", "mean", "first", "raw"}
n = 0
for line in open(os.path.join(d, "trace.jsonl")):
    r = json.loads(line)
    assert set(r) == fields, sorted(set(r) ^ fields)
    assert r["dtype"] == "f32" and r["stage"] in stages
    assert r["name"] == (r["stage"] if r["layer"] < 0 else "blk%d/%s" % (r["layer"], r["stage"]))
    prod = 1
    for s in r["shape"]: prod *= s
    assert prod == r["num_elements"] and len(r["first"]) == min(8, prod)
    raw = os.path.join(d, r["raw"])
    assert os.path.getsize(raw) == 4 * prod
    assert subprocess.check_output(["b3sum", "--no-names", raw]).decode().strip() == r["blake3"], raw
    if r["seq"] == 1 and r["layer"] == 0 and r["stage"] == "q_rope":
        assert r["first"][1] == "nan" and r["min"] == "nan" and r["rms"] == "nan", r
    else:
        assert isinstance(r["rms"], float) and r["min"] <= r["mean"] <= r["max"]
    n += 1
assert n == 2 * (3 + 2 * 16), n
PYEOF
}
check "records_parse_and_raw_b3sum_equals_blake3" check_records "$A"

BITNET_TRACE_FILTER='layers=5-' "$TW" "$TMP/badfilter" 2>"$TMP/err.txt"
rc=$?
if [ $rc -ne 0 ] && grep -q "BITNET_TRACE_FILTER" "$TMP/err.txt"; then ok "bad_filter_refused"
else not_ok "bad_filter_refused" "exit $rc: $(cat "$TMP/err.txt")"; fi

BITNET_TRACE_FILTER='layers=1;stages=attn_out,logits' "$TW" "$TMP/filtered" --seqs 2 --layers 3
check "filter_keeps_only_selected" [ "$(cut -d'"' -f4 "$TMP/filtered/trace.jsonl" | sort | uniq -c | awk '{print $2":"$1}' | tr '\n' ' ')" = "blk1/attn_out:2 logits:2 " ]

# --- trace-diff ---
td() { "$BITNET" trace-diff "$@" >"$TMP/out.txt" 2>"$TMP/err.txt"; echo $?; }
expect() { # NAME WANT_EXIT GREP_PATTERN FILE -- args...
    local name=$1 want=$2 pat=$3 file=$4; shift 5
    local got; got=$(td "$@")
    if [ "$got" = "$want" ] && grep -q -- "$pat" "$TMP/$file"; then ok "$name"
    else not_ok "$name" "exit $got (want $want); stdout: $(cat "$TMP/out.txt") stderr: $(cat "$TMP/err.txt")"; fi
}

BITNET_TRACE_RAW=1 "$TW" "$B" --seqs 2 --layers 2 --dim 300 --nan 1:0:q_rope
expect "diff_identical_exit_0" 0 "first divergence: none" out.txt -- "$A" "$B"

C="$TMP/c"
BITNET_TRACE_RAW=1 "$TW" "$C" --seqs 2 --layers 2 --dim 300 --nan 1:0:q_rope --change 1:0:ffn_out:0.25
expect "diff_changed_names_record" 1 "first divergence: seq 1, layer 0, stage ffn_out" out.txt -- "$A" "$C"
check "diff_reports_raw_stats" grep -q "max |diff| 0.25, cosine" "$TMP/out.txt"
check "diff_summary_line" grep -q "^summary: 70 compared, 69 matched, 1 diverged" "$TMP/out.txt"

td "$A" "$C" --json >/dev/null
json_ok() {
    $PY -c '
import json, sys
r = json.load(open(sys.argv[1]))
f = r["first_divergence"]
assert r["exit"] == 1 and r["compared"] == 70 and r["diverged"] == 1, r
assert (f["seq"], f["layer"], f["stage"], f["reason"]) == (1, 0, "ffn_out", "hash"), f
assert f["a"]["blake3"] != f["b"]["blake3"] and abs(f["max_abs_diff"] - 0.25) < 1e-6, f
' "$TMP/out.txt"
}
check "diff_json_output" json_ok

expect "diff_tolerance_passes" 0 "first divergence: none" out.txt -- "$A" "$C" --atol 0.3
expect "diff_tolerance_fails" 1 "stage ffn_out (blk0/ffn_out, seq_id 0): values differ" out.txt -- "$A" "$C" --atol 0.1 --rtol 0.01

D="$TMP/d" E="$TMP/e"
"$TW" "$D" --seqs 2 --layers 2
"$TW" "$E" --seqs 2 --layers 2 --change 0:1:k_rope:0.001
expect "diff_stats_fallback_is_said" 0 "compared by summary statistics" out.txt -- "$D" "$E" --atol 0.01

F="$TMP/f"
"$TW" "$F" --seqs 2 --layers 2 --skip 1:1:ffn_up
expect "diff_missing_fails" 1 "1 record only in A: seq 1, layer 1, stage ffn_up" out.txt -- "$D" "$F"
expect "diff_missing_allowed" 0 "first divergence: none" out.txt -- "$D" "$F" --allow-missing

G="$TMP/g"
"$TW" "$G" --seqs 2 --layers 2 --reshape 0:0:attn
expect "diff_shape_mismatch" 1 "seq 0, layer 0, stage attn .*: shape differs" out.txt -- "$D" "$G"

H="$TMP/h"
mkdir -p "$H"
head -n 5 "$D/trace.jsonl" >"$H/trace.jsonl"
sed -n 6p "$D/trace.jsonl" | head -c 100 >>"$H/trace.jsonl"
echo >>"$H/trace.jsonl"
expect "diff_corrupt_exit_2" 2 "h/trace.jsonl:6: column" err.txt -- "$D" "$H"
expect "diff_missing_dir_exit_2" 2 "nope/trace.jsonl" err.txt -- "$D" "$TMP/nope"
head -c 3000 /dev/urandom >"$H/trace.jsonl"
expect "diff_binary_garbage_exit_2" 2 "trace.jsonl:1:" err.txt -- "$D" "$H"

expect "usage_one_dir" 2 "expected two trace folders" err.txt -- "$D"
expect "usage_bad_tolerance" 2 "needs a number" err.txt -- "$D" "$E" --rtol -1
expect "usage_unknown_option" 2 "unknown option" err.txt -- "$D" "$E" --bogus
expect "help" 0 "usage: bitnet trace-diff" out.txt -- --help
