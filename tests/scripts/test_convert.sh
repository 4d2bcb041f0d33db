#!/usr/bin/env bash
# test_convert: `bitnet convert` on Hugging Face checkpoints written by an independent writer
# (tests/crossval/hf_checkpoint.py: numpy + the safetensors format, the real LLaMA-3
# tokenizer.json from scripts/fetch_tokenizer_llama3.sh), small shapes (hidden 256, 2 layers,
# 128256 tokens), in every layout the converter supports:
#   b158-packed, b158-bf16 -> bitnet-b1.58; bitnet-fp16 (1bitLLM) -> bitnet:
#     our engine (`bitnet logits --act-quant none`) on the converted file agrees with the
#     float64 HF-side forward of the checkpoint (hf_checkpoint.py forward): cosine >= 0.99999
#     and the same top-1 at every position, for several --wtype;
#   llama-packed, llama-innorm -> llama: our engine on the converted files (and
#     tests/crossval/ref_forward.py, GGUF side, float64, on the TQ2_0 ones) agree with the
#     HF-side forward (0.99999 + top-1); llama.cpp (build/crossval/llama_harness) loads the
#     converted llama-packed files and agrees with it: F32 weights cosine >= 0.99999 + top-1,
#     TQ2_0 (llama.cpp quantizes activations to Q8_K) cosine >= 0.999 + top-1; likewise the
#     bitnet-fp16 TQ2_0/TQ1_0 files (arch bitnet) in llama.cpp.
# Then the tokenizer: the converted GGUF gives the same ids as llama.cpp's
# ggml-vocab-llama-bpe.gguf on tests/data/tokenizer_corpus.txt (through llama.cpp itself and
# through `bitnet tokenize`), likewise a SentencePiece tokenizer.model against
# ggml-vocab-llama-spm.gguf, and refusals: unknown tensors, a code-3 byte, an unknown
# architecture, a SentencePiece-only folder; none leaves OUT or OUT.tmp behind. RoPE scaling
# (llama3, linear) against the HF-side forward and llama.cpp, and its refusals.
# TEST_LONG=100: tests/run_tests.sh starts it early (seconds on 2 cores, the longest first).
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"
require_python
# Fetched by `make test` (scripts/fetch_tokenizer_llama3.sh); the test itself stays offline.
TOKDIR=${BITNET_TOKENIZER_DIR:-$ROOT/.cache/tokenizer-llama3}
TOKJSON="$TOKDIR/package/models/tokenizer.json"
[ -f "$TOKDIR/.complete" ] && [ -f "$TOKJSON" ] || unavailable "the LLaMA-3 tokenizer.json is not cached (run scripts/fetch_tokenizer_llama3.sh)"
HFCK="$ROOT/tests/crossval/hf_checkpoint.py"
VOCAB=128256
toks=$(token_ids 16 "$VOCAB" 9)

# hf LAYOUT [--shards N]: writes $TMP/LAYOUT and its HF-side logits $TMP/LAYOUT-hf.bin
hf() {
    local l=$1; shift
    run_logged "$TMP/hf.log" "$PY" "$HFCK" write "$l" "$TMP/$l" --tokenizer "$TOKJSON" --seed 5 "$@" &&
        run_logged "$TMP/hf.log" "$PY" "$HFCK" forward "$TMP/$l" --tokens "$toks" --out "$TMP/$l-hf.bin"
}

# conv LAYOUT WTYPE: $TMP/LAYOUT-WTYPE.gguf
conv() { run_logged "$TMP/conv-$1-$2.log" "$BITNET" convert "$TMP/$1" "$TMP/$1-$2.gguf" --wtype "$2"; }

HAVE_HARNESS=0
if [ -f "$REF_DIR/.complete" ] || [ "${CI:-}" = true ]; then
    BITNET_BUILD=${BITNET_BUILD:-build} "$ROOT/scripts/build_harness.sh" >"$TMP/harness.log" 2>&1 && HAVE_HARNESS=1
fi
# llama_agree NAME MODEL HF_LOGITS MIN_COSINE: llama.cpp's logits of MODEL against the HF side.
llama_agree() {
    if [ "$HAVE_HARNESS" != 1 ]; then
        if [ "${CI:-}" = true ]; then not_ok "$1" "the llama.cpp harness did not build"
        else ok "$1 # SKIP reference llama.cpp not fetched"; fi
        return
    fi
    if run_logged "$TMP/llama.log" "$HARNESS" logits --model "$2" --tokens "$toks" --out "$2.llama.bin" --threads "$REF_THREADS"; then
        logits_agree "$1" "$2.llama.bin" "$3" "$VOCAB" "$4"
    else
        not_ok "$1" "llama.cpp did not load or run the converted file"
    fi
}

for l in b158-packed b158-bf16 bitnet-fp16; do
    hf "$l" || { not_ok "$l/checkpoint" "hf_checkpoint.py failed"; continue; }
    case $l in b158-packed) types="i2_s tq2_0 tq1_0 f16" ;; b158-bf16) types="i2_s tq2_0" ;; *) types="tq2_0 tq1_0 i2_s" ;; esac
    for w in $types; do
        m="$TMP/$l-$w.gguf"
        if ! conv "$l" "$w"; then not_ok "$l/$w/convert"; continue; fi
        if run_logged "$TMP/ours.log" "$BITNET" logits --model "$m" --tokens "$toks" --out "$TMP/$l-$w.bin" --act-quant none --threads 2; then
            logits_agree "$l/$w/ours-vs-hf" "$TMP/$l-$w.bin" "$TMP/$l-hf.bin" "$VOCAB" 0.99999
        else
            not_ok "$l/$w/ours-vs-hf" "bitnet logits failed"
        fi
        # llama.cpp runs arch bitnet (not bitnet-b1.58, not I2_S): the TQ files load and agree
        # (it quantizes activations to Q8_K, hence the looser bound).
        [ "$l" = bitnet-fp16 ] && [ "$w" != i2_s ] && llama_agree "$l/$w/llama.cpp-vs-hf" "$m" "$TMP/$l-hf.bin" 0.999
    done
done
# The packed 2B-4T layout keeps its ternary values and scales exactly in I2_S: what the report says.
if grep -q 'packed U8 x weight_scale.*-> i2_s.*(exact)' "$TMP/conv-b158-packed-i2_s.log"; then ok "b158-packed/i2_s/report-exact"
else not_ok "b158-packed/i2_s/report-exact" "$(cat "$TMP/conv-b158-packed-i2_s.log")"; fi

for l in llama-packed llama-innorm; do
    hf "$l" --shards 2 || { not_ok "$l/checkpoint" "hf_checkpoint.py failed"; continue; }
    for w in tq2_0 f32; do
        m="$TMP/$l-$w.gguf"
        if ! conv "$l" "$w"; then not_ok "$l/$w/convert"; continue; fi
        # The third opinion on the ternary file only (gguf-py's reader takes ~7 s over this
        # vocabulary's metadata per run); the F32 file is checked against the HF side below.
        if [ "$w" != tq2_0 ]; then :
        elif run_logged "$TMP/ref.log" "$PY" "$REF_FORWARD" --model "$m" --tokens "$toks" --out "$TMP/$l-$w-ref.bin"; then
            logits_agree "$l/$w/ref_forward-vs-hf" "$TMP/$l-$w-ref.bin" "$TMP/$l-hf.bin" "$VOCAB" 0.99999
        else
            not_ok "$l/$w/ref_forward-vs-hf" "ref_forward.py failed"
        fi
        if run_logged "$TMP/ours.log" "$BITNET" logits --model "$m" --tokens "$toks" --out "$TMP/$l-$w.bin" --act-quant none --threads 2; then
            logits_agree "$l/$w/ours-vs-hf" "$TMP/$l-$w.bin" "$TMP/$l-hf.bin" "$VOCAB" 0.99999
        else
            not_ok "$l/$w/ours-vs-hf" "bitnet logits failed"
        fi
        # llama.cpp cannot load the per-linear input norms (no llama.cpp name exists for them).
        [ "$l" = llama-packed ] && llama_agree "$l/$w/llama.cpp-vs-hf" "$m" "$TMP/$l-hf.bin" "$([ $w = f32 ] && echo 0.99999 || echo 0.999)"
    done
done
if grep -q 'per-linear input norms *14 tensors' "$TMP/conv-llama-innorm-f32.log"; then ok "llama-innorm/report-in-norms"
else not_ok "llama-innorm/report-in-norms" "$(cat "$TMP/conv-llama-innorm-f32.log")"; fi

# ---- RoPE scaling from config.json: llama3 (Llama 3.1's, written as rope_freqs.weight) on
# llama-packed, read by us and by llama.cpp; linear (rope.scaling.* keys) on b158-packed in
# transformers v5's rope_parameters form. Each changes the HF-side logits (min cosine to the
# same checkpoint without it below 0.9999: original_max_position_embeddings 64 puts llama3's
# bands among these 16 positions). yarn, and llama3 on a BitNet architecture, are refused.
# rope_case NAME LAYOUT WTYPE JSON [--parameters]: $TMP/NAME (LAYOUT's checkpoint, its files
# linked, with config.json's RoPE scaling set), NAME.gguf, NAME.bin, NAME-hf.bin
rope_case() {
    local d="$TMP/$1" f
    rm -rf "$d" && mkdir "$d" || return 1
    for f in "$TMP/$2"/*; do [ "${f##*/}" = config.json ] && cp "$f" "$d/" || ln -s "$f" "$d/"; done
    if ! { run_logged "$TMP/hf.log" "$PY" "$HFCK" rope "$d" "$4" ${5:+"$5"} &&
        run_logged "$TMP/hf.log" "$PY" "$HFCK" forward "$d" --tokens "$toks" --out "$d-hf.bin" &&
        run_logged "$TMP/conv-$1.log" "$BITNET" convert "$d" "$d.gguf" --wtype "$3" &&
        run_logged "$TMP/ours.log" "$BITNET" logits --model "$d.gguf" --tokens "$toks" --out "$d.bin" --act-quant none --threads 2; }; then
        not_ok "$1" "checkpoint, conversion or logits failed"
        return 1
    fi
    logits_agree "$1/ours-vs-hf" "$d.bin" "$d-hf.bin" "$VOCAB" 0.99999
    local cos
    cos=$("$PY" -c 'import sys, numpy as np
a, b = (np.fromfile(p, dtype="<f4").astype(np.float64).reshape(-1, int(sys.argv[3])) for p in sys.argv[1:3])
print("%.6f" % ((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())' "$d-hf.bin" "$TMP/$2-hf.bin" "$VOCAB")
    if [ -n "$cos" ] && awk "BEGIN { exit !($cos < 0.9999) }"; then ok "$1/scaling-changes-the-logits # min cosine $cos"
    else not_ok "$1/scaling-changes-the-logits" "min cosine $cos to the unscaled checkpoint"; fi
}
if rope_case rope-llama3 llama-packed f32 \
    '{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}'; then
    llama_agree "rope-llama3/llama.cpp-vs-hf" "$TMP/rope-llama3.gguf" "$TMP/rope-llama3-hf.bin" 0.99999
    if grep -q 'RoPE frequency factors *1 tensors' "$TMP/conv-rope-llama3.log"; then ok "rope-llama3/report"
    else not_ok "rope-llama3/report" "$(cat "$TMP/conv-rope-llama3.log")"; fi
fi
rope_case rope-linear b158-packed i2_s '{"rope_type": "linear", "factor": 4.0}' --parameters
# refused: yarn; llama3 on bitnet-b1.58 (llama.cpp's graph for it has no frequency factors)
for bad in 'yarn:{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}:not supported (linear and llama3 are)' \
    'llama3:{"rope_type": "llama3", "factor": 8.0}:only the llama architecture does'; do
    name=${bad%%:*} rest=${bad#*:} want=${bad##*:}
    json=${rest%:*}
    rm -rf "$TMP/rope-bad" && mkdir "$TMP/rope-bad" && cp "$TMP/b158-packed/config.json" "$TMP/rope-bad/" && # (refused before any tensor)
        "$PY" "$HFCK" rope "$TMP/rope-bad" "$json"
    "$BITNET" convert "$TMP/rope-bad" "$TMP/rope-bad.gguf" >"$TMP/rope-bad.log" 2>&1
    rc=$?
    if [ $rc != 0 ] && grep -q "$want" "$TMP/rope-bad.log" && [ ! -e "$TMP/rope-bad.gguf" ]; then ok "rope-refused/$name"
    else not_ok "rope-refused/$name" "rc $rc: $(cat "$TMP/rope-bad.log")"; fi
done

# ---- SentencePiece: a tokenizer.model made from llama.cpp's LLaMA-2 vocabulary GGUF (pieces,
# scores, types), with the bitnet-fp16 weights (vocab 32000)
SPM_VOCAB="$REF_DIR/llama.cpp/models/ggml-vocab-llama-spm.gguf"
if [ -f "$SPM_VOCAB" ]; then
    stoks=$(token_ids 16 32000 9)
    if run_logged "$TMP/hf.log" "$PY" "$HFCK" write bitnet-fp16 "$TMP/spm" --spm-vocab "$SPM_VOCAB" --seed 6 &&
        run_logged "$TMP/hf.log" "$PY" "$HFCK" forward "$TMP/spm" --tokens "$stoks" --out "$TMP/spm-hf.bin" && conv spm tq2_0 &&
        run_logged "$TMP/ours.log" "$BITNET" logits --model "$TMP/spm-tq2_0.gguf" --tokens "$stoks" --out "$TMP/spm.bin" --act-quant none --threads 2; then
        logits_agree "spm/tq2_0/ours-vs-hf" "$TMP/spm.bin" "$TMP/spm-hf.bin" 32000 0.99999
    else
        not_ok "spm/tq2_0" "checkpoint, conversion or logits failed"
    fi
elif [ "${CI:-}" = true ]; then
    not_ok spm "$SPM_VOCAB missing"
fi

# ---- the sanitizer build (when built, as make test does) converts to the same bytes
ASAN_BITNET="$ROOT/build-asan/bitnet"
if [ -x "$ASAN_BITNET" ]; then
    for pair in b158-packed:i2_s b158-bf16:tq2_0 llama-innorm:tq2_0 spm:tq2_0; do
        l=${pair%%:*} w=${pair#*:}
        [ -f "$TMP/$l-$w.gguf" ] || { not_ok "asan/$l/$w" "no normal-build output to compare"; continue; }
        if "$ASAN_BITNET" convert "$TMP/$l" "$TMP/asan.gguf" --wtype "$w" >"$TMP/asan.log" 2>&1 &&
            ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP/asan.log" && cmp -s "$TMP/asan.gguf" "$TMP/$l-$w.gguf"; then
            ok "asan/$l/$w (same bytes, no sanitizer report)"
        else
            not_ok "asan/$l/$w" "$(grep -m3 -E 'Sanitizer|runtime error|error' "$TMP/asan.log")"
        fi
    done
fi

# ---- compat-check names each family
for pair in "b158-packed-i2_s:BitNet b1.58 2B-4T" "bitnet-fp16-tq2_0:BitNet b1.58 with SiLU" \
            "llama-packed-tq2_0:LLaMA-architecture ternary (" "llama-innorm-tq2_0:ternary with per-linear input norms"; do
    f="$TMP/${pair%%:*}.gguf" want=${pair#*:}
    [ -f "$f" ] || continue
    got=$("$BITNET" compat-check "$f" 2>/dev/null | grep '^family:')
    if [[ "$got" == *"$want"* ]]; then ok "compat-check/${pair%%:*}"; else not_ok "compat-check/${pair%%:*}" "got '$got', expected '$want'"; fi
done

# ---- tokenizer parity with llama.cpp's LLaMA-3 vocabulary GGUF
CORPUS="$ROOT/tests/data/tokenizer_corpus.txt"
# (arch bitnet with TQ2_0 weights: a file llama.cpp loads; the tokenizer code is the same for all)
CONVERTED="$TMP/bitnet-fp16-tq2_0.gguf"
if [ ! -f "$LLAMA_BPE_VOCAB" ] || [ ! -f "$REF_DIR/lib/libllama.v0.4.0.so" ]; then
    if [ "${CI:-}" = true ]; then not_ok tokenizer "reference llama.cpp missing"; else ok "tokenizer # SKIP reference llama.cpp not fetched"; fi
elif [ -f "$CONVERTED" ]; then
    RT="$BUILD/crossval/ref_tokenize"
    mkdir -p "$BUILD/crossval"
    if [ ! -x "$RT" ] || [ "$ROOT/tests/crossval/ref_tokenize.c" -nt "$RT" ]; then
        cc -std=c11 -O1 -I"$REF_DIR/llama.cpp/include" -I"$REF_DIR/llama.cpp/ggml/include" "$ROOT/tests/crossval/ref_tokenize.c" \
            -o "$RT" -L"$REF_DIR/lib" -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -Wl,-rpath,"$REF_DIR/lib" 2>"$TMP/cc.log" ||
            not_ok tokenizer/build "$(head -3 "$TMP/cc.log")"
    fi
    n=$(grep -c '^__ggml_vocab_test__$' "$CORPUS")
    for setup in "$CONVERTED:$LLAMA_BPE_VOCAB:" "$CONVERTED:$LLAMA_BPE_VOCAB:--parse-special" \
                 "$TMP/spm-tq2_0.gguf:$SPM_VOCAB:" "$TMP/spm-tq2_0.gguf:$SPM_VOCAB:--parse-special"; do
        IFS=: read -r conv_file ref_vocab flags <<<"$setup"
        [ -f "$conv_file" ] || continue
        name="tokenizer/$(basename "$ref_vocab" .gguf)${flags:+ $flags} ($n cases)"
        # shellcheck disable=SC2086
        if "$RT" "$REF_DIR/lib" "$ref_vocab" "$CORPUS" $flags >"$TMP/ref.ids" 2>"$TMP/err" &&
           "$RT" "$REF_DIR/lib" "$conv_file" "$CORPUS" $flags >"$TMP/conv-llama.ids" 2>>"$TMP/err" &&
           "$BITNET" tokenize -m "$conv_file" --batch-file "$CORPUS" $flags >"$TMP/conv-ours.ids" 2>>"$TMP/err"; then
            if [ "$(wc -l <"$TMP/ref.ids")" -eq "$n" ] && cmp -s "$TMP/ref.ids" "$TMP/conv-llama.ids" && cmp -s "$TMP/ref.ids" "$TMP/conv-ours.ids"; then
                ok "$name: the converted file's ids = the reference vocabulary's, in llama.cpp and in ours"
            else
                not_ok "$name" "ids differ: $(diff "$TMP/ref.ids" "$TMP/conv-llama.ids" | head -3) / $(diff "$TMP/ref.ids" "$TMP/conv-ours.ids" | head -3)"
            fi
        else
            not_ok "$name" "a tokenizer run failed: $(head -3 "$TMP/err")"
        fi
    done
fi

# ---- refusals: clear errors, exit 1, nothing left behind
# refuse NAME DIR WORDS: convert DIR must exit 1 with WORDS in its error and leave no output.
refuse() {
    local name=$1 dir=$2 words=$3 out="$TMP/refused.gguf" err rc
    rm -f "$out" "$out.tmp"
    err=$("$BITNET" convert "$dir" "$out" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -eq 1 ] && [[ "$err" == *"$words"* ]] && [ ! -e "$out" ] && [ ! -e "$out.tmp" ]; then
        ok "refuse/$name"
    else
        not_ok "refuse/$name" "exit $rc (expected 1), output left: $(ls "$out"* 2>/dev/null), message: $(tail -2 <<<"$err")"
    fi
}
base="$TMP/b158-packed"
if [ -d "$base" ]; then
    # mk NAME: a copy of the good checkpoint whose big files are symbolic links (replace, never edit, them)
    mk() { rm -rf "$TMP/bad-$1"; mkdir "$TMP/bad-$1"; cp -s "$base"/* "$TMP/bad-$1/"; cp --remove-destination "$base/config.json" "$TMP/bad-$1/"; echo "$TMP/bad-$1"; }
    d=$(mk extra)
    "$PY" -c "
import sys; sys.path.insert(0, '$ROOT/tests/crossval'); import hf_checkpoint as h, numpy as np, os
p = os.path.join('$d', 'model.safetensors'); t = h.read_safetensors(p); os.remove(p)
items = [(k, 'F32' if v.dtype != np.uint8 else 'U8', v.shape, h.encode(v, 'F32' if v.dtype != np.uint8 else 'U8')) for k, v in t.items()]
items.append(('model.layers.0.self_attn.q_proj.bias', 'F32', (256,), h.encode(np.zeros(256), 'F32')))
h.write_safetensors(p, items)
bad = '$(mk code3)'
p = os.path.join(bad, 'model.safetensors'); t = h.read_safetensors(p); os.remove(p)
w = t['model.layers.1.mlp.up_proj.weight'].copy(); w[3, 7] = 0xFF; t['model.layers.1.mlp.up_proj.weight'] = w
h.write_safetensors(p, [(k, 'F32' if v.dtype != np.uint8 else 'U8', v.shape, h.encode(v, 'F32' if v.dtype != np.uint8 else 'U8')) for k, v in t.items()])
" || not_ok refuse/setup "could not write the broken checkpoints"
    refuse unused-tensor "$d" "q_proj.bias"
    refuse code-3 "$TMP/bad-code3" "code 3"
    d=$(mk arch); sed -i 's/BitNetForCausalLM/MistralForCausalLM/' "$d/config.json"
    refuse architecture "$d" "MistralForCausalLM is not supported"
    d=$(mk spm-empty); rm "$d/tokenizer.json"; touch "$d/tokenizer.model"
    refuse sentencepiece-empty "$d" "no pieces (not a SentencePiece model?)"
    if [ -f "$TMP/spm/tokenizer.model" ]; then
        # trainer_spec comes first in the test's writer: bytes 0x12 len 0x18 <model_type>
        d=$(mk spm-unigram); rm "$d/tokenizer.json"
        "$PY" -c "import sys; b = bytearray(open(sys.argv[1], 'rb').read()); assert b[2] == 0x18; b[3] = 1; open(sys.argv[2], 'wb').write(b)" \
            "$TMP/spm/tokenizer.model" "$d/tokenizer.model"
        refuse sentencepiece-unigram "$d" "model type 1 is not supported"
        d=$(mk spm-trunc); rm "$d/tokenizer.json"; head -c 5001 "$TMP/spm/tokenizer.model" >"$d/tokenizer.model"
        refuse sentencepiece-truncated "$d" "tokenizer.model: offset 5001"
        d=$(mk spm-cut); rm "$d/tokenizer.json"; head -c 5000 "$TMP/spm/tokenizer.model" >"$d/tokenizer.model"
        refuse sentencepiece-cut-at-a-field "$d" "trainer spec says vocab_size 32000"
    fi
    d=$(mk shape); sed -i 's/"intermediate_size": 512/"intermediate_size": 768/' "$d/config.json"
    refuse shape "$d" "where the config implies"
    d=$(mk trunc); rm "$d/model.safetensors"; head -c 1000000 "$base/model.safetensors" >"$d/model.safetensors"
    refuse truncated "$d" "outside the"
    refuse missing-folder "$TMP/no-such-folder" "cannot open"
    # tokenizer.json variants: another pre-tokenizer (refused, accepted with --tokenizer-pre
    # default), a merge that is neither form, an id past the vocabulary
    d=$(mk pre)
    "$PY" - "$base/tokenizer.json" "$d" <<'PYEOF' || not_ok refuse/tokenizer-setup "could not write the tokenizer variants"
import json, os, sys, shutil
src, d = sys.argv[1], sys.argv[2]
t = json.load(open(src, encoding="utf-8"))
def put(folder, tok):
    os.remove(os.path.join(folder, "tokenizer.json"))
    json.dump(tok, open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8"), ensure_ascii=False)
pre = dict(t); pre["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
put(d, pre)
for name, fn in (("merge", lambda x: x["model"]["merges"].__setitem__(5, 17)),
                 ("id", lambda x: x["added_tokens"][0].__setitem__("id", 300000))):
    folder = d.replace("bad-pre", "bad-" + name)
    shutil.copytree(d, folder, symlinks=True)
    x = json.loads(json.dumps(t)); fn(x); put(folder, x)
PYEOF
    refuse pre-tokenizer "$d" "--tokenizer-pre default forces"
    if "$BITNET" convert "$d" "$TMP/pre.gguf" --tokenizer-pre default >"$TMP/pre.log" 2>&1 && grep -q "pre default" "$TMP/pre.log"; then
        ok "tokenizer-pre-default (forced, reported)"
    else
        not_ok "tokenizer-pre-default" "$(tail -3 "$TMP/pre.log")"
    fi
    refuse merge-form "$TMP/bad-merge" "merges[5] is neither"
    refuse token-id "$TMP/bad-id" "has an id outside 0..128255"
    # --vocab-from: the tokenizer keys of a GGUF instead of tokenizer.json
    if [ -f "$LLAMA_BPE_VOCAB" ]; then
        if "$BITNET" convert "$base" "$TMP/vf.gguf" --vocab-from "$LLAMA_BPE_VOCAB" >"$TMP/vf.log" 2>&1 &&
            grep -q "tokenizer.\* keys copied from" "$TMP/vf.log" && "$BITNET" compat-check "$TMP/vf.gguf" >/dev/null 2>&1; then
            ok "vocab-from"
        else
            not_ok "vocab-from" "$(tail -3 "$TMP/vf.log")"
        fi
    fi
fi
