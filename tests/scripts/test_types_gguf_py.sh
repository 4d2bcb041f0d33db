#!/usr/bin/env bash
# Our tensor-type codecs against llama.cpp's gguf-py (gguf/quants.py): gguf-py decodes the
# bytes we quantize to the same values we decode; gguf-py's quantizers produce the same bytes
# as ours (both follow ggml's reference quantizers) and our dequantizer reads them. I2_S,
# which gguf-py does not know, is checked against a NumPy re-statement of FORMATS.md.
source "$(dirname "$0")/lib.sh"

source "$ROOT/tests/crossval/crossval_lib.sh"  # reference policy, PY, PYTHONPATH with gguf-py
require_python
TOOL="$BUILD/tools/types_dump"
if [ ! -x "$TOOL" ]; then not_ok build "missing $TOOL (make tests)"; exit 0; fi

check write_dumps "$TOOL" write "$TMP"

"$PY" - "$TMP" "$TOOL" "$SCRIPT_NAME" <<'PYEOF'
import subprocess, sys
import numpy as np
from gguf.constants import GGMLQuantizationType as Q
from gguf import quants

tmp, tool, script = sys.argv[1], sys.argv[2], sys.argv[3]
N = 2048
x = np.fromfile(f"{tmp}/input.f32", dtype=np.float32)
failures = 0

def report(name, good, detail=""):
    global failures
    print(f"{'ok' if good else 'not ok'} - {script}/{name}")
    if not good:
        failures += 1
        print(f"    {detail}")

def same_bits(a, b):
    a, b = np.asarray(a, np.float32).ravel(), np.asarray(b, np.float32).ravel()
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))

def first_diff(a, b):
    a, b = np.asarray(a, np.float32).ravel(), np.asarray(b, np.float32).ravel()
    if a.shape != b.shape: return f"shapes {a.shape} vs {b.shape}"
    i = int(np.nonzero(a.view(np.uint32) != b.view(np.uint32))[0][0])
    return f"element {i}: {a[i]!r} vs {b[i]!r} ({int((a != b).sum())} differ)"

report("input_has_2048_values", x.shape == (N,), f"shape {x.shape}")

types = {"f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "tq1_0": Q.TQ1_0, "tq2_0": Q.TQ2_0}
for name, qt in types.items():
    ours_bytes = np.fromfile(f"{tmp}/{name}.bin", dtype=np.uint8)
    ours_deq = np.fromfile(f"{tmp}/{name}.deq", dtype=np.float32)
    rows = 8  # 8 rows of 256: every block size divides 256
    # 1. gguf-py decodes our bytes to what we decode
    if qt == Q.F16:
        theirs = ours_bytes.view(np.float16).astype(np.float32)
    else:
        theirs = quants.dequantize(ours_bytes.reshape(rows, -1), qt)
    report(f"{name}_gguf_py_decodes_ours", same_bits(theirs, ours_deq),
           first_diff(theirs, ours_deq) if not same_bits(theirs, ours_deq) else "")
    # 2. gguf-py quantizes to the same bytes
    if qt == Q.F16:
        their_bytes = x.astype(np.float16).view(np.uint8).ravel()
    else:
        their_bytes = quants.quantize(x.reshape(rows, -1), qt).ravel()
    eq = their_bytes.shape == ours_bytes.shape and np.array_equal(their_bytes, ours_bytes)
    detail = ""
    if not eq:
        if their_bytes.shape != ours_bytes.shape:
            detail = f"sizes {their_bytes.shape} vs {ours_bytes.shape}"
        else:
            i = int(np.nonzero(their_bytes != ours_bytes)[0][0])
            detail = f"byte {i}: gguf-py {their_bytes[i]} vs ours {ours_bytes[i]}"
    report(f"{name}_same_bytes_as_gguf_py", eq, detail)
    # 3. our dequantizer reads gguf-py's bytes as gguf-py does
    their_bytes.tofile(f"{tmp}/{name}.py.bin")
    rc = subprocess.run([tool, "dequant", name, str(N), f"{tmp}/{name}.py.bin", f"{tmp}/{name}.py.deq"]).returncode
    if rc == 0:
        ours_of_theirs = np.fromfile(f"{tmp}/{name}.py.deq", dtype=np.float32)
        theirs_of_theirs = (their_bytes.view(np.float16).astype(np.float32) if qt == Q.F16
                            else quants.dequantize(their_bytes.reshape(rows, -1), qt))
        good = same_bits(ours_of_theirs, theirs_of_theirs)
        report(f"{name}_we_decode_gguf_py_bytes", good, "" if good else first_diff(ours_of_theirs, theirs_of_theirs))
    else:
        report(f"{name}_we_decode_gguf_py_bytes", False, f"types_dump dequant exited {rc}")

# Errors stay within what each format promises (sanity, not just self-consistency).
q8 = np.fromfile(f"{tmp}/q8_0.deq", dtype=np.float32).reshape(-1, 32)
amax = np.abs(x.reshape(-1, 32)).max(axis=1, keepdims=True)
report("q8_0_error_within_bound", bool((np.abs(q8 - x.reshape(-1, 32)) <= amax / 127 * 0.56 + 1e-12).all()))

# I2_S: re-state the layout of FORMATS.md in NumPy and decode our bytes with it.
i2 = np.fromfile(f"{tmp}/i2_s.bin", dtype=np.uint8)
report("i2_s_size", i2.size == N // 4 + 32, f"{i2.size} bytes")
scale = i2[N // 4:N // 4 + 4].view(np.float32)[0]
codes = np.empty(N, np.int32)
for blk in range(N // 128):
    b = i2[blk * 32:(blk + 1) * 32].astype(np.int32)
    for g in range(4):  # weights 32g..32g+31 at bits 7-2g..6-2g
        codes[blk * 128 + 32 * g: blk * 128 + 32 * g + 32] = (b >> (6 - 2 * g)) & 3
deq = ((codes - 1) * scale).astype(np.float32)
ours = np.fromfile(f"{tmp}/i2_s.deq", dtype=np.float32)
report("i2_s_numpy_restatement_decodes_ours", same_bits(deq, ours), "" if same_bits(deq, ours) else first_diff(deq, ours))
want_codes = np.clip(np.where(np.abs(x / scale) >= 0.5, np.sign(x), 0), -1, 1).astype(np.int32) + 1
report("i2_s_scale_and_codes", scale == np.abs(x).max() and np.array_equal(codes, want_codes)
       and not i2[N // 4 + 4:].any(), f"scale {scale} vs {np.abs(x).max()}")
sys.exit(1 if failures else 0)
PYEOF
rc=$?
[ $rc -eq 0 ] || echo "not ok - $SCRIPT_NAME/python_exit ($rc)"
