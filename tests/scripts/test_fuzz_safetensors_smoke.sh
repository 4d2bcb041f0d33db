#!/usr/bin/env bash
# test_fuzz_safetensors_smoke: builds the safetensors/JSON reader's fuzzer
# (scripts/fuzz_safetensors.sh) and runs it for 20 seconds over the seed corpus; passes when it
# finds no crash, sanitizer report or broken reader contract. Without clang's libFuzzer runtime
# the fuzzing is skipped, except in CI (CI=true), where that is a failure. Also checks that the
# committed seed corpus is what gen_malformed_safetensors.py --corpus writes.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if "$PY" "$ROOT/tests/scripts/gen_malformed_safetensors.py" --corpus "$TMP/corpus" >/dev/null &&
    diff -r "$TMP/corpus" "$ROOT/tests/corpus/safetensors" >"$TMP/corpus.diff" 2>&1; then
    ok "corpus_reproducible ($(ls "$ROOT/tests/corpus/safetensors" | wc -l) files)"
else
    not_ok corpus_reproducible "tests/corpus/safetensors differs from gen_malformed_safetensors.py --corpus: $(head -5 "$TMP/corpus.diff")"
fi

if ! "$ROOT/scripts/fuzz_safetensors.sh" --check; then
    if [ "${CI:-}" = true ]; then
        not_ok fuzz "clang -fsanitize=fuzzer does not link; CI must install clang and libclang-rt-14-dev"
    else
        echo "ok - $SCRIPT_NAME/fuzz # skipped: no libFuzzer"
    fi
    exit 0
fi

fuzz_smoke fuzz_safetensors.sh 20 || exit 1
