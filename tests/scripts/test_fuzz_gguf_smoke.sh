#!/usr/bin/env bash
# test_fuzz_gguf_smoke: builds the GGUF reader's fuzzer (scripts/fuzz_gguf.sh) and runs it for
# 10 seconds over the seed corpus; it passes when the fuzzer finds no crash, sanitizer report or
# broken reader contract. Without clang's libFuzzer runtime the fuzzing is skipped, except in CI
# (CI=true), where that is a failure. Also checks that the committed seed corpus is what
# tests/scripts/gen_malformed_gguf.py --corpus writes.
# TEST_LONG=45: tests/run_tests.sh starts it early (seconds on 2 cores, the longest first).
. "$(dirname "$0")/lib.sh"

reader_fuzz_smoke gen_malformed_gguf.py gguf fuzz_gguf.sh 10 || exit 1
