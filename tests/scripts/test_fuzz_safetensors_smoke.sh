#!/usr/bin/env bash
# test_fuzz_safetensors_smoke: builds the safetensors/JSON reader's fuzzer
# (scripts/fuzz_safetensors.sh) and runs it for 10 seconds over the seed corpus; passes when it
# finds no crash, sanitizer report or broken reader contract. Without clang's libFuzzer runtime
# the fuzzing is skipped, except in CI (CI=true), where that is a failure. Also checks that the
# committed seed corpus is what gen_malformed_safetensors.py --corpus writes.
. "$(dirname "$0")/lib.sh"

reader_fuzz_smoke gen_malformed_safetensors.py safetensors fuzz_safetensors.sh 10 || exit 1
