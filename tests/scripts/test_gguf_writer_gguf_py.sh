#!/usr/bin/env bash
# Files written by src/formats/gguf.c's writer, read by llama.cpp's gguf-py GGUFReader: every key
# (all 13 value types, a nested array, a string array, bools), every tensor's name, shape,
# type, offset alignment and bytes (F32, F16, BF16, Q8_0, TQ1_0, TQ2_0), at the default
# alignment and at 64. The sample comes from tests/tools/gguf_write_sample.c.
source "$(dirname "$0")/lib.sh"

source "$ROOT/tests/crossval/crossval_lib.sh"  # reference policy, PY, PYTHONPATH with gguf-py
require_python
TOOL="$BUILD/tools/gguf_write_sample"
if [ ! -x "$TOOL" ]; then not_ok build "missing $TOOL (make tests)"; exit 0; fi

check write_default_alignment "$TOOL" "$TMP/sample.gguf"
check write_alignment_64 "$TOOL" "$TMP/sample64.gguf" 64
check no_temporary_left [ ! -e "$TMP/sample.gguf.tmp" ]
check refuses_bad_alignment_value bash -c "! '$TOOL' '$TMP/bad.gguf' 48 2>/dev/null && [ ! -e '$TMP/bad.gguf' ]"

for f in sample:32 sample64:64; do
"$PY" - "$TMP/${f%%:*}.gguf" "${f##*:}" "$SCRIPT_NAME/${f%%:*}" <<'PYEOF'
import sys
import numpy as np
from gguf import GGUFReader, quants
from gguf.constants import GGUFValueType as V, GGMLQuantizationType as Q

path, alignment, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
failures = 0

def report(name, good, detail=""):
    global failures
    print(f"{'ok' if good else 'not ok'} - {prefix}/{name}")
    if not good:
        failures += 1
        print(f"    {detail}")

try:
    r = GGUFReader(path)
except Exception as e:  # gguf-py refusing the file is the failure this test exists for
    report("gguf_py_opens", False, repr(e))
    sys.exit(1)
report("gguf_py_opens", True)

# key -> (value type, element types for arrays, expected contents())
expected = {
    "general.name": (V.STRING, None, "sample"),
    "sample.u8": (V.UINT8, None, 200),
    "sample.i8": (V.INT8, None, -100),
    "sample.u16": (V.UINT16, None, 60000),
    "sample.i16": (V.INT16, None, -30000),
    "sample.u32": (V.UINT32, None, 4000000000),
    "sample.i32": (V.INT32, None, -2000000000),
    "sample.f32": (V.FLOAT32, None, 0.15625),
    "sample.bool": (V.BOOL, None, True),
    "sample.str": (V.STRING, None, "h\u00e9llo w\u00f6rld"),
    "sample.u64": (V.UINT64, None, 2**40 + 3),
    "sample.i64": (V.INT64, None, -(2**40) - 5),
    "sample.f64": (V.FLOAT64, None, -2.5e-300),
    "sample.arr_str": (V.ARRAY, [V.STRING], ["", "a", "<|begin_of_text|>", "\u00fc"]),
    "sample.arr_f32": (V.ARRAY, [V.FLOAT32], [1.5, -2.25, 0.125]),
    "sample.arr_i32": (V.ARRAY, [V.INT32], [-1, 0, 2147483647, -2147483648]),
    "sample.arr_bool": (V.ARRAY, [V.BOOL], [True, False, True]),
    "sample.nested": (V.ARRAY, [V.ARRAY, V.UINT16], [1, 2, 3]),  # [[1, 2], [3]], flattened
}
if alignment != 32:
    expected["general.alignment"] = (V.UINT32, None, alignment)

keys = [k for k in r.fields if not k.startswith("GGUF.")]
report("key_set", sorted(keys) == sorted(expected), f"{sorted(keys)} vs {sorted(expected)}")
report("version_3", r.fields["GGUF.version"].contents() == 3)
for key, (vtype, subtypes, value) in expected.items():
    field = r.fields.get(key)
    if field is None:
        report(f"key_{key}", False, "missing")
        continue
    types = field.types
    got = field.contents()
    good = types[0] == vtype and (subtypes is None or types[1:] == subtypes) and got == value
    report(f"key_{key}", good, f"types {types}, value {got!r}; expected {vtype} {subtypes} {value!r}")
nested = r.fields.get("sample.nested")
if nested is not None:
    # parts: key length, key, type, outer element type, outer count, then per inner array:
    # element type, count, values
    counts = [int(nested.parts[i][0]) for i in (4, 6, 10)]
    report("nested_structure", counts == [2, 2, 1], f"counts {counts}")

i = np.arange(512)
ramp = ((i * 37) % 101 - 50).astype(np.float32) / np.float32(8)
q8_src = ramp[:128] * np.float32(1.37)
tern = ((i * 7) % 3 - 1).astype(np.float32)
# name -> (type, shape as ne list, expected values, source floats for a quantized type)
tensors = {
    "t.f32": (Q.F32, [8, 4], ramp[:32], None),
    "t.f16": (Q.F16, [16], ramp[:16], None),
    "t.bf16": (Q.BF16, [4, 2, 2], ramp[:16], None),
    "t.q8_0": (Q.Q8_0, [64, 2], None, q8_src),
    "t.tq1_0": (Q.TQ1_0, [256, 2], tern * np.float32(0.25), tern * np.float32(0.25)),
    "t.tq2_0": (Q.TQ2_0, [256, 1, 1, 2], tern * np.float32(0.5), tern * np.float32(0.5)),
}
report("alignment", r.alignment == alignment, f"{r.alignment}")
report("tensor_names_in_order", [t.name for t in r.tensors] == list(tensors), f"{[t.name for t in r.tensors]}")
for t in r.tensors:
    if t.name not in tensors:
        continue
    qtype, shape, values, src = tensors[t.name]
    n = int(np.prod(shape))
    good = t.tensor_type == qtype and t.shape.tolist() == shape and t.n_elements == n
    report(f"{t.name}_type_shape", good, f"{t.tensor_type} {t.shape.tolist()} {t.n_elements}")
    report(f"{t.name}_offset_aligned", t.data_offset % alignment == 0, f"offset {t.data_offset}")
    raw = np.asarray(t.data)
    if qtype in (Q.F32, Q.F16):
        got = raw.astype(np.float32).ravel()
    else:
        got = quants.dequantize(raw.view(np.uint8).reshape(-1, raw.shape[-1]), qtype).ravel()
    if values is not None:
        report(f"{t.name}_values", got.shape == values.shape and np.array_equal(got, values),
               f"got {got[:8]} expected {values[:8]}")
    if src is not None:  # the bytes are exactly what ggml's reference quantizer makes
        want = quants.quantize(src.reshape(-1, shape[0]), qtype).ravel()
        report(f"{t.name}_bytes", np.array_equal(raw.view(np.uint8).ravel(), want))
    if qtype == Q.Q8_0:
        err = np.abs(got - src).max()
        report(f"{t.name}_error", err <= np.abs(src).max() / 127 * 0.56, f"max error {err}")
sys.exit(1 if failures else 0)
PYEOF
rc=$?
[ $rc -eq 0 ] || echo "not ok - $SCRIPT_NAME/${f%%:*}/python_exit ($rc)"
done
