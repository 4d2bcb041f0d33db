#!/usr/bin/env bash
# test_fuzz_json_schema_smoke: builds the JSON Schema compiler's fuzzer (scripts/fuzz_json_schema.sh:
# a schema and a text; every text its state calls complete is valid by an independent validator,
# no accepted text is a dead end) and runs it for 8 seconds over the seed corpus
# tests/corpus/json_schema; it passes when the fuzzer finds no crash, sanitizer report or broken
# contract. Without clang's libFuzzer runtime the fuzzing is skipped, except in CI (CI=true),
# where that is a failure.
# TEST_LONG=30: tests/run_tests.sh starts it early (seconds on 2 cores, the longest first).
. "$(dirname "$0")/lib.sh"

if ! "$ROOT/scripts/fuzz_json_schema.sh" --check; then
    if [ "${CI:-}" = true ]; then not_ok fuzz "clang -fsanitize=fuzzer does not link; CI must install clang and libclang-rt-14-dev"
    else echo "ok - $SCRIPT_NAME/fuzz # SKIP no libFuzzer (install clang and libclang-rt-14-dev)"; fi
    exit 0
fi
fuzz_smoke fuzz_json_schema.sh 8 || exit 1
