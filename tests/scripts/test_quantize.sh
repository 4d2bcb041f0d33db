#!/usr/bin/env bash
# test_quantize: `bitnet quantize` round trips and conversions on gen-model files (hidden 256,
# 2 layers; every layer matrix's scale is an f16 value, as gen-model writes them):
#   I2_S -> TQ2_0 -> I2_S and TQ2_0 -> TQ1_0 -> TQ2_0 and TQ1_0 -> TQ2_0 -> TQ1_0 give
#   byte-identical files (the codes and scales survive exactly), and the report says "exact";
#   an I2_S scale that is not an f16 value is reported as rounded when it becomes TQ2_0;
#   F32 -> TQ2_0 ternarizes by the absmean rule (checked against numpy with gguf-py: every
#   layer matrix equals beta * clamp(round(W / beta), -1, 1), beta = mean|W| rounded to f16);
#   --head q8_0 rewrites the embedding, which our engine runs (logits close to the F16 head's);
#   bad requests (i2_s for a non-BitNet architecture, unknown type, same input and output) fail.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"

SHAPE=(--hidden 256 --heads 2 --kv-heads 1 --ffn 512 --layers 2 --vocab-size 512 --seed 3)
q() { "$BITNET" quantize "$@" 2>"$TMP/q.log"; }

"$BITNET" gen-model "$TMP/a-i2s.gguf" --arch bitnet-b1.58 --wtype i2_s "${SHAPE[@]}" 2>/dev/null
"$BITNET" gen-model "$TMP/b-tq2.gguf" --arch bitnet --wtype tq2_0 "${SHAPE[@]}" 2>/dev/null
"$BITNET" gen-model "$TMP/c-tq1.gguf" --arch bitnet --wtype tq1_0 "${SHAPE[@]}" 2>/dev/null
"$BITNET" gen-model "$TMP/d-f32.gguf" --arch bitnet --wtype f32 "${SHAPE[@]}" 2>/dev/null

# roundtrip NAME FILE TYPE1 TYPE2
roundtrip() {
    if q "$2" "$TMP/rt1.gguf" "$3" && grep -q "(exact)" "$TMP/q.log" && q "$TMP/rt1.gguf" "$TMP/rt2.gguf" "$4" &&
        grep -q "(exact)" "$TMP/q.log" && cmp -s "$2" "$TMP/rt2.gguf"; then
        ok "roundtrip/$1 (byte-identical, reported exact)"
    else
        not_ok "roundtrip/$1" "$(cat "$TMP/q.log"; cmp "$2" "$TMP/rt2.gguf" 2>&1)"
    fi
}
roundtrip i2_s-tq2_0-i2_s "$TMP/a-i2s.gguf" tq2_0 i2_s
roundtrip tq2_0-tq1_0-tq2_0 "$TMP/b-tq2.gguf" tq1_0 tq2_0
roundtrip tq1_0-tq2_0-tq1_0 "$TMP/c-tq1.gguf" tq2_0 tq1_0
roundtrip i2_s-tq1_0-i2_s "$TMP/a-i2s.gguf" tq1_0 i2_s

# F32 -> I2_S (absmean: beta is generally not an f16 value) -> TQ2_0 reports the rounding.
if q "$TMP/d-f32.gguf" "$TMP/e-i2s.gguf" i2_s && grep -q "14 ternarized from float by absmean" "$TMP/q.log" &&
    q "$TMP/e-i2s.gguf" "$TMP/e-tq2.gguf" tq2_0 && grep -q "scales rounded to per-block f16" "$TMP/q.log"; then
    ok "i2_s-to-tq2_0/reports-rounding"
else
    not_ok "i2_s-to-tq2_0/reports-rounding" "$(cat "$TMP/q.log")"
fi

if [ -x "$PY" ] && "$PY" -c 'import numpy, gguf' 2>/dev/null; then
    if q "$TMP/d-f32.gguf" "$TMP/f-tq2.gguf" tq2_0 && "$PY" - "$TMP/d-f32.gguf" "$TMP/f-tq2.gguf" >"$TMP/np.log" 2>&1 <<'PYEOF'
import sys
import numpy as np
import gguf
src, dst = (gguf.GGUFReader(p) for p in sys.argv[1:3])
dt = {t.name: t for t in dst.tensors}
n = 0
for t in src.tensors:
    if not t.name.endswith(("attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                            "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight")):
        continue
    w = np.asarray(t.data, dtype=np.float32).reshape(-1).astype(np.float64)
    beta = max(np.abs(w).mean(), 1e-5)
    expect = np.clip(np.round(w / beta), -1, 1) * float(np.float16(beta))
    got = gguf.quants.dequantize(dt[t.name].data, gguf.GGMLQuantizationType.TQ2_0).reshape(-1)
    if not np.array_equal(got.astype(np.float64), expect):
        sys.exit("%s: %d values differ from the absmean rule" % (t.name, int((got != expect).sum())))
    n += 1
print("%d matrices match" % n)
PYEOF
    then
        ok "absmean/f32-to-tq2_0 ($(cat "$TMP/np.log"))"
    else
        not_ok "absmean/f32-to-tq2_0" "$(cat "$TMP/q.log" "$TMP/np.log")"
    fi
else
    [ "${CI:-}" = true ] && not_ok "absmean" "numpy/gguf-py missing" || ok "absmean # SKIP numpy or gguf-py missing"
fi

toks=$(token_ids 12 512 4)
if q "$TMP/b-tq2.gguf" "$TMP/g-q8.gguf" tq2_0 --head q8_0 && grep -q "1 head tensors re-encoded" "$TMP/q.log" &&
    "$BITNET" logits --model "$TMP/b-tq2.gguf" --tokens "$toks" --out "$TMP/f16.bin" --threads 2 >/dev/null 2>&1 &&
    "$BITNET" logits --model "$TMP/g-q8.gguf" --tokens "$toks" --out "$TMP/q8.bin" --threads 2 >/dev/null 2>&1; then
    logits_agree "head-q8_0" "$TMP/q8.bin" "$TMP/f16.bin" 512 0.999 cosine-only
else
    not_ok "head-q8_0" "$(cat "$TMP/q.log")"
fi

# fails NAME WORDS ARGS...: exit 1 or 2 with WORDS in the message and no output file left.
fails() {
    local name=$1 words=$2; shift 2
    rm -f "$TMP/x.gguf" "$TMP/x.gguf.tmp"
    "$BITNET" quantize "$@" 2>"$TMP/q.log"
    local rc=$?
    if [ $rc -ne 0 ] && grep -q -- "$words" "$TMP/q.log" && [ ! -e "$TMP/x.gguf" ] && [ ! -e "$TMP/x.gguf.tmp" ]; then ok "refuse/$name"
    else not_ok "refuse/$name" "exit $rc: $(cat "$TMP/q.log")"; fi
}
"$PY" - "$TMP/b-tq2.gguf" "$TMP/llama.gguf" 2>/dev/null <<'PYEOF' || true
import sys
data = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(data.replace(b'\x06\x00\x00\x00\x00\x00\x00\x00bitnet', b'\x06\x00\x00\x00\x00\x00\x00\x00llamaX', 1))
PYEOF
fails i2_s-for-other-arch "only for the BitNet architectures" "$TMP/llama.gguf" "$TMP/x.gguf" i2_s
fails unknown-type "unknown type" "$TMP/b-tq2.gguf" "$TMP/x.gguf" q4_k
fails same-file "same file" "$TMP/b-tq2.gguf" "$TMP/b-tq2.gguf" tq1_0
fails not-gguf "bad magic\|magic" "$TMP/q.log" "$TMP/x.gguf" tq2_0
