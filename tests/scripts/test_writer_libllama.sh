#!/usr/bin/env bash
# Files written by `bitnet gen-model` are read by the reference: every weight type llama.cpp
# knows (f32, f16, bf16, tq1_0, tq2_0; and a q8_0 token embedding) loads in libllama
# (llama_harness load) with the hyper-parameters we wrote, and gguf-py reads every tensor with
# the expected shape and type.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"
require_python
require_harness

H=256 L=2 NH=2 NKV=1 FF=512 V=512

# gguf_py_check MODEL WTYPE ETYPE: gguf-py reads the file; shapes and types as written.
gguf_py_check() {
    "$PY" - "$@" "$H" "$L" "$NH" "$NKV" "$FF" "$V" <<'PYEOF'
import sys
import gguf
path, wtype, etype = sys.argv[1:4]
H, L, NH, NKV, FF, V = map(int, sys.argv[4:10])
r = gguf.GGUFReader(path)
T = {t.name: t for t in r.tensors}
kv = H // NH * NKV
want = {"token_embd.weight": ([H, V], etype), "output_norm.weight": ([H], "f32")}
for i in range(L):
    b = "blk.%d." % i
    want.update({b + "attn_norm.weight": ([H], "f32"), b + "attn_sub_norm.weight": ([H], "f32"),
                 b + "ffn_norm.weight": ([H], "f32"), b + "ffn_sub_norm.weight": ([FF], "f32"),
                 b + "attn_q.weight": ([H, H], wtype), b + "attn_k.weight": ([H, kv], wtype),
                 b + "attn_v.weight": ([H, kv], wtype), b + "attn_output.weight": ([H, H], wtype),
                 b + "ffn_gate.weight": ([H, FF], wtype), b + "ffn_up.weight": ([H, FF], wtype),
                 b + "ffn_down.weight": ([FF, H], wtype)})
bad = []
for name, (shape, ty) in want.items():
    t = T.get(name)
    if t is None:
        bad.append("missing " + name); continue
    got_shape, got_type = [int(d) for d in t.shape.tolist()], t.tensor_type.name.lower()
    if got_shape != shape or got_type != ty:
        bad.append("%s: %s %s, expected %s %s" % (name, got_shape, got_type, shape, ty))
extra = sorted(set(T) - set(want))
if extra:
    bad.append("unexpected tensors: %s" % ", ".join(extra))
if r.fields["general.architecture"].contents() != "bitnet":
    bad.append("general.architecture is not bitnet")
for line in bad:
    print(line)
sys.exit(1 if bad else 0)
PYEOF
}

# load_check MODEL: libllama loads it and reports the hyper-parameters we wrote.
load_check() {
    local out
    out=$("$HARNESS" load --model "$1" 2>&1) || { echo "$out" | tail -5; return 1; }
    echo "$out" | grep -qx ok &&
        echo "$out" | grep -qx "n_vocab: $V" && echo "$out" | grep -qx "n_embd: $H" &&
        echo "$out" | grep -qx "n_layer: $L" && echo "$out" | grep -qx "n_head: $NH" &&
        echo "$out" | grep -qx "n_head_kv: $NKV" && echo "$out" | grep -qx "feed_forward_length: $FF" ||
        { echo "$out" | sed 's/^/    /'; return 1; }
}

for spec in f32:f16 f16:f16 bf16:f16 tq1_0:f16 tq2_0:f16 tq2_0:q8_0; do
    w=${spec%%:*} e=${spec##*:}
    m="$TMP/w-$w-$e.gguf"
    if ! run_logged "$TMP/gen.log" "$BITNET" gen-model "$m" --arch bitnet --hidden "$H" --layers "$L" \
            --heads "$NH" --kv-heads "$NKV" --ffn "$FF" --vocab-size "$V" --wtype "$w" --etype "$e" --seed 3; then
        not_ok "$w-$e/gen-model"; continue
    fi
    check "$w-$e/libllama-load" load_check "$m"
    check "$w-$e/gguf-py-read" gguf_py_check "$m" "$w" "$e"
done
