# Helpers shared by the cross-validation scripts (tests/scripts/test_crossval_*.sh and
# test_writer_libllama.sh); sourced after tests/scripts/lib.sh.
#
# Reference policy: the reference is llama.cpp from the npm registry, cached in
# .cache/reference by scripts/fetch_reference.sh. Outside CI a missing reference (or missing
# numpy/gguf-py) prints one skipped `ok` line and ends the script; with CI=true it is a
# failure, never a skip. Tests never touch the network otherwise (in CI the harness build may
# run the fetch script).
REF_DIR=${BITNET_REF_DIR:-$ROOT/.cache/reference}
export PYTHONPATH="$REF_DIR/llama.cpp/gguf-py${PYTHONPATH:+:$PYTHONPATH}"
HARNESS="$BUILD/crossval/llama_harness"
# llama.cpp's thread count for the harness's logits, greedy, embed and trace runs. One thread:
# its workers spin at every barrier, so beside another test on a 2-core machine a 2-thread
# greedy run took ~2x as long (2026-12-06: 2.3 s against 1.1 s alone); its results do not
# depend on the count (each row's sums stay in one thread: the same logits bits at 1, 2 and 3).
# Our engine keeps --threads 2 (its threaded paths are what is checked).
REF_THREADS=1
REF_FORWARD="$ROOT/tests/crossval/ref_forward.py"
GGUF_PY_GEN="$ROOT/scripts/gguf_py_gen_model.py"
LLAMA_BPE_VOCAB="$REF_DIR/llama.cpp/models/ggml-vocab-llama-bpe.gguf"

# unavailable WHAT: skip (outside CI) or fail (CI) the whole script because WHAT is missing.
unavailable() {
    if [ "${CI:-}" = true ]; then
        not_ok "reference" "$1 (CI=true: a missing reference is a failure)"
        exit 1
    fi
    echo "ok - $SCRIPT_NAME # SKIP $1"
    exit 0
}

# require_python: numpy and gguf-py importable by $PY (lib.sh: /usr/bin/python3).
require_python() {
    [ -x "$PY" ] || unavailable "$PY not found"
    "$PY" -c 'import numpy, gguf' 2>/dev/null || unavailable "numpy or gguf-py not importable (PYTHONPATH=$PYTHONPATH)"
}

# require_harness: builds (if needed) the llama.cpp harness; needs the cached reference.
require_harness() {
    if [ ! -f "$REF_DIR/.complete" ] && [ "${CI:-}" != true ]; then
        unavailable "reference llama.cpp not fetched (run scripts/fetch_reference.sh)"
    fi
    BITNET_BUILD=${BITNET_BUILD:-build} "$ROOT/scripts/build_harness.sh" >"$TMP/harness_build.log" 2>&1 ||
        { sed 's/^/    /' "$TMP/harness_build.log" | tail -20; unavailable "the llama.cpp harness did not build"; }
}

# token_ids N VOCAB SEED: N comma-separated pseudo-random ids in [0, VOCAB) (a fixed LCG).
token_ids() {
    local n=$1 vocab=$2 s=$3 i out=""
    for ((i = 0; i < n; i++)); do
        s=$(((s * 1103515245 + 12345) % 2147483648))
        out+="${out:+,}$(((s >> 8) % vocab))"
    done
    echo "$out"
}

# logits_agree NAME A.bin B.bin VOCAB MIN_COSINE [cosine-only]: two ok/not ok lines,
# NAME/cosine (every position's cosine >= MIN_COSINE) and NAME/top1 (same argmax at every
# position; left out with cosine-only), with the figures (min cosine, its position, top-1
# agreement, max |diff|) printed below the lines.
logits_agree() {
    local name=$1 a=$2 b=$3 vocab=$4 min=$5 only=${6:-} out
    out=$("$PY" - "$a" "$b" "$vocab" "$min" <<'EOF'
import sys
import numpy as np
a_path, b_path, vocab, min_cos = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
a, b = (np.fromfile(p, dtype="<f4").astype(np.float64) for p in (a_path, b_path))
if a.size == 0 or a.size != b.size or a.size % vocab:
    print("sizes differ: %d vs %d floats (vocab %d)" % (a.size, b.size, vocab)); print("COS FAIL"); print("TOP1 FAIL")
    sys.exit(0)
a, b = a.reshape(-1, vocab), b.reshape(-1, vocab)
cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
same = a.argmax(1) == b.argmax(1)
p = int(np.argmin(cos))
print("min cosine %.9f at position %d of %d, top-1 agreement %d/%d, max|diff| %.4g"
      % (cos[p], p, len(cos), same.sum(), len(same), np.abs(a - b).max()))
if not same.all():
    print("first top-1 mismatch at position %d: %d vs %d" % (np.argmin(same), a[np.argmin(same)].argmax(), b[np.argmin(same)].argmax()))
print("COS OK" if (cos >= min_cos).all() else "COS FAIL")
print("TOP1 OK" if same.all() else "TOP1 FAIL")
EOF
    )
    local figures
    figures=$(echo "$out" | grep -v -e '^COS ' -e '^TOP1 ')
    if echo "$out" | grep -q '^COS OK'; then ok "$name/cosine"; else not_ok "$name/cosine" "cosine below $min"; fi
    if [ "$only" != cosine-only ]; then
        if echo "$out" | grep -q '^TOP1 OK'; then ok "$name/top1"; else not_ok "$name/top1" "top-1 differs"; fi
    fi
    echo "$figures" | sed 's/^/    /'
}

# token_mode_agrees NAME MODEL TOKENS REF.bin VOCAB: our default-mode logits (bitnet.cpp's
# per-token int8 activations) against llama.cpp's (per-256-block Q8_K) in REF.bin: close, not
# equal; only the cosine (>= 0.995) is asserted, top-1 is reported.
token_mode_agrees() {
    local out="$TMP/token-mode.bin"
    if run_logged "$TMP/ours.log" "$BITNET" logits --model "$2" --tokens "$3" --out "$out" --threads 2 --kv-type f32; then
        logits_agree "$1" "$out" "$4" "$5" 0.995 cosine-only
    else
        not_ok "$1/logits" "our default-mode logits run failed"
    fi
}

# greedy_agrees NAME MODEL TOKENS N_GEN MODE [KV]: our --greedy continuation (--act-quant MODE)
# and llama.cpp's (harness greedy) are the same N_GEN ids, both with KV cache type KV [f32].
greedy_agrees() {
    local ours ref kv=${6:-f32}
    ours=$("$BITNET" run --model "$2" --tokens "$3" -n "$4" --greedy --print-ids --act-quant "$5" --threads 2 --kv-type "$kv" 2>"$TMP/run.log" | tr -s ' \n' ' ' | sed 's/ $//')
    ref=$("$HARNESS" greedy --model "$2" --tokens "$3" -n "$4" --threads "$REF_THREADS" --kv-type "$kv" 2>"$TMP/greedy.log")
    same_ids "$1" "$ours" "$ref"
}

# same_ids NAME "ids A" "ids B": ok when the two id lists are identical.
same_ids() {
    if [ -n "$2" ] && [ "$2" = "$3" ]; then
        ok "$1"
    else
        not_ok "$1" "continuations differ"
        echo "    ours:      $2"
        echo "    llama.cpp: $3"
    fi
}

# run_logged LOG COMMAND...: runs it with stdout+stderr in LOG; prints LOG's tail on failure.
run_logged() {
    local log=$1; shift
    if "$@" >"$log" 2>&1; then return 0; fi
    echo "    failed: $*"
    tail -5 "$log" | sed 's/^/    /'
    return 1
}
