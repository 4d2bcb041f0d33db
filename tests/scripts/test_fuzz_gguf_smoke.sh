#!/usr/bin/env bash
# test_fuzz_gguf_smoke: builds the GGUF reader's fuzzer (scripts/fuzz_gguf.sh) and runs it for
# 20 seconds over the seed corpus; it passes when the fuzzer finds no crash, sanitizer report or
# broken reader contract. Without clang's libFuzzer runtime the fuzzing is skipped, except in CI
# (CI=true), where that is a failure. Also checks that the committed seed corpus is what
# tests/scripts/gen_malformed_gguf.py --corpus writes.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if "$PY" "$ROOT/tests/scripts/gen_malformed_gguf.py" --corpus "$TMP/corpus" >/dev/null &&
    diff -r "$TMP/corpus" "$ROOT/tests/corpus/gguf" >"$TMP/corpus.diff" 2>&1; then
    ok "corpus_reproducible ($(ls "$ROOT/tests/corpus/gguf" | wc -l) files)"
else
    not_ok corpus_reproducible "tests/corpus/gguf differs from gen_malformed_gguf.py --corpus output: $(head -5 "$TMP/corpus.diff")"
fi

if ! "$ROOT/scripts/fuzz_gguf.sh" --check; then
    if [ "${CI:-}" = true ]; then
        not_ok fuzz "clang -fsanitize=fuzzer does not link; CI must install clang and libclang-rt-14-dev"
    else
        echo "ok - $SCRIPT_NAME/fuzz # skipped: no libFuzzer"
    fi
    exit 0
fi

fuzz_smoke fuzz_gguf.sh 20 || exit 1
