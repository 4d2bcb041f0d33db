#!/usr/bin/env bash
# Tokenizer parity with llama.cpp (the prebuilt reference library fetched by
# scripts/fetch_reference.sh):
#  1. llama.cpp's own test vectors (.inp/.out, add_special false) for the LLaMA-3 BPE and the
#     LLaMA SentencePiece vocabularies;
#  2. every case of tests/data/tokenizer_corpus.txt through tests/crossval/ref_tokenize.c
#     (linked to the reference libllama) and through `bitnet tokenize --batch-file`, with and
#     without BOS, with and without --parse-special, for: llama-bpe (LLaMA-3 pre-tokenizer),
#     llama-spm, and llama-bpe with the default pre-tokenizer (ours: --tokenizer-pre default;
#     llama.cpp: tokenizer.ggml.pre overridden to "default", which is what it does for a file
#     without the key, like the official BitNet 2B-4T GGUF);
#  3. speed: 10 KB of text with the 128k vocabulary, load included, well under a second.
source "$(dirname "$0")/lib.sh"

REF="$ROOT/.cache/reference"
MODELS="$REF/llama.cpp/models"
CORPUS="$ROOT/tests/data/tokenizer_corpus.txt"

if [ ! -f "$REF/lib/libllama.v0.4.0.so" ] || [ ! -f "$MODELS/ggml-vocab-llama-bpe.gguf" ]; then
    if [ "${CI:-}" = true ]; then
        not_ok reference "reference llama.cpp missing (run scripts/fetch_reference.sh)"
    else
        ok "reference # SKIP reference llama.cpp not fetched (scripts/fetch_reference.sh)"
    fi
    exit 0
fi
if [ ! -x "$BITNET" ]; then
    not_ok cli "$BITNET is missing (build it with make)"
    exit 0
fi

HARNESS="$BUILD/crossval/ref_tokenize"
mkdir -p "$BUILD/crossval"
if ! cc -std=c11 -O1 -I"$REF/llama.cpp/include" -I"$REF/llama.cpp/ggml/include" \
        "$ROOT/tests/crossval/ref_tokenize.c" -o "$HARNESS" -L"$REF/lib" \
        -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so \
        -Wl,-rpath,"$REF/lib" 2>"$TMP/cc.log"; then
    not_ok build-harness "$(head -5 "$TMP/cc.log")"
    exit 0
fi
ok build-harness

# compare NAME EXPECTED_FILE ACTUAL_FILE: equal line by line; prints the first difference.
compare() {
    if cmp -s "$2" "$3"; then
        ok "$1"
    else
        not_ok "$1" "first difference (line: expected | ours):"
        diff "$2" "$3" | head -6 | sed 's/^/      /'
    fi
}

# 1. llama.cpp's test vectors
for v in llama-bpe llama-spm; do
    sed 's/^ //' "$MODELS/ggml-vocab-$v.gguf.out" >"$TMP/$v.expected"
    if "$BITNET" tokenize -m "$MODELS/ggml-vocab-$v.gguf" --no-bos \
            --batch-file "$MODELS/ggml-vocab-$v.gguf.inp" >"$TMP/$v.ours" 2>"$TMP/err"; then
        compare "vectors-$v ($(wc -l <"$TMP/$v.expected") cases)" "$TMP/$v.expected" "$TMP/$v.ours"
    else
        not_ok "vectors-$v" "$(cat "$TMP/err")"
    fi
done

# 2. our corpus against the reference library
n_cases=$(grep -c '^__ggml_vocab_test__$' "$CORPUS")
for setup in "llama-bpe:" "llama-spm:" "llama-bpe:default"; do
    vocab="$MODELS/ggml-vocab-${setup%%:*}.gguf"
    pre=${setup#*:}
    for flags in "" "--no-bos" "--parse-special" "--no-bos --parse-special"; do
        name="corpus-${setup%%:*}${pre:+-pre-$pre}${flags:+ $flags} ($n_cases cases)"
        # shellcheck disable=SC2086
        if ! "$HARNESS" "$REF/lib" "$vocab" "$CORPUS" $flags ${pre:+--pre $pre} >"$TMP/ref" 2>"$TMP/err"; then
            not_ok "$name" "reference failed: $(head -3 "$TMP/err")"
            continue
        fi
        # shellcheck disable=SC2086
        if ! "$BITNET" tokenize -m "$vocab" --batch-file "$CORPUS" $flags \
                ${pre:+--tokenizer-pre $pre} >"$TMP/ours" 2>"$TMP/err"; then
            not_ok "$name" "bitnet tokenize failed: $(head -3 "$TMP/err")"
            continue
        fi
        if [ "$(wc -l <"$TMP/ref")" -ne "$n_cases" ]; then
            not_ok "$name" "reference printed $(wc -l <"$TMP/ref") lines for $n_cases cases"
            continue
        fi
        compare "$name" "$TMP/ref" "$TMP/ours"
    done
done

# 3. speed: ~10 KB of mixed text (valid UTF-8 cases of the corpus repeated)
: >"$TMP/10k.txt"
while [ "$(wc -c <"$TMP/10k.txt")" -lt 10240 ]; do
    head -c 2000 "$CORPUS" | grep -v '^__ggml_vocab_test__$' >>"$TMP/10k.txt"
done
t0=$(date +%s%N)
n_ids=$("$BITNET" tokenize -m "$MODELS/ggml-vocab-llama-bpe.gguf" --prompt-file "$TMP/10k.txt" | wc -w)
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$n_ids" -gt 1000 ] && [ "$ms" -lt 1000 ]; then
    ok "speed-10kb ($(wc -c <"$TMP/10k.txt") bytes -> $n_ids ids in ${ms} ms, load included)"
else
    not_ok "speed-10kb" "$n_ids ids in ${ms} ms"
fi
