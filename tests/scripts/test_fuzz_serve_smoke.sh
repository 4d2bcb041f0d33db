#!/usr/bin/env bash
# test_fuzz_serve_smoke: builds the server's request fuzzer (scripts/fuzz_serve.sh: request
# bodies -> generation requests, with the real LLaMA-3 vocabulary) and runs it for 10 seconds
# over the seed corpus tests/corpus/serve; it passes when the fuzzer finds no crash, sanitizer
# report or broken contract. Without clang's libFuzzer runtime, jansson or the reference
# vocabulary the fuzzing is skipped, except in CI (CI=true), where that is a failure.
# TEST_LONG=45: tests/run_tests.sh starts it early (seconds on 2 cores, the longest first).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_lib.sh"

if ! "$ROOT/scripts/fuzz_serve.sh" --check; then
    skip_or_fail fuzz "clang -fsanitize=fuzzer does not link or jansson is missing (install clang, libclang-rt-14-dev, libjansson-dev)"
    exit 0
fi
if [ ! -f "$VOCAB" ]; then skip_or_fail vocab "$VOCAB missing (scripts/fetch_reference.sh)"; exit 0; fi

fuzz_smoke fuzz_serve.sh 10 || exit 1
