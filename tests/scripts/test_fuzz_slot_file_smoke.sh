#!/usr/bin/env bash
# test_fuzz_slot_file_smoke: builds the fuzzer of the slot file reader (scripts/fuzz_slot_file.sh,
# bitnet_batch_slot_restore) and runs it for 6 seconds over the seed corpus; passes when it finds
# no crash, sanitizer report or broken reader contract. Without clang's libFuzzer runtime the
# fuzzing is skipped, except in CI (CI=true), where that is a failure. Also checks that the
# committed seed corpus is what gen_slot_corpus.py --corpus writes.
# TEST_LONG=30: tests/run_tests.sh starts it early (seconds on 2 cores, the longest first).
. "$(dirname "$0")/lib.sh"

reader_fuzz_smoke gen_slot_corpus.py slot fuzz_slot_file.sh 6 || exit 1
