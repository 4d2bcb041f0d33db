#!/usr/bin/env bash
# test_fuzz_kld_base_smoke: builds the fuzzer of the `perplexity --kl-divergence-base` file reader
# (scripts/fuzz_kld_base.sh) and runs it for 6 seconds over the seed corpus; passes when it finds
# no crash, sanitizer report or broken reader contract. Without clang's libFuzzer runtime the
# fuzzing is skipped, except in CI (CI=true), where that is a failure. Also checks that the
# committed seed corpus is what gen_kld_corpus.py --corpus writes.
. "$(dirname "$0")/lib.sh"

reader_fuzz_smoke gen_kld_corpus.py kld_base fuzz_kld_base.sh 6 || exit 1
