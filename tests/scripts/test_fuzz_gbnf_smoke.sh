#!/usr/bin/env bash
# test_fuzz_gbnf_smoke: builds the GBNF grammar fuzzer (scripts/fuzz_gbnf.sh: a grammar and a
# text; whole and byte-by-byte reads agree, no accepted text is a dead end, refusals name the
# grammar's fault) and runs it for 8 seconds over the seed corpus tests/corpus/gbnf; it passes
# when the fuzzer finds no crash, sanitizer report or broken contract. Without clang's libFuzzer
# runtime the fuzzing is skipped, except in CI (CI=true), where that is a failure.
# TEST_LONG=30: tests/run_tests.sh starts it early (seconds on 2 cores, the longest first).
. "$(dirname "$0")/lib.sh"

if ! "$ROOT/scripts/fuzz_gbnf.sh" --check; then
    if [ "${CI:-}" = true ]; then not_ok fuzz "clang -fsanitize=fuzzer does not link; CI must install clang and libclang-rt-14-dev"
    else echo "ok - $SCRIPT_NAME/fuzz # SKIP no libFuzzer (install clang and libclang-rt-14-dev)"; fi
    exit 0
fi
fuzz_smoke fuzz_gbnf.sh 8 || exit 1
