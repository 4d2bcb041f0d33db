#!/usr/bin/env bash
# fuzz_kld_base: builds the libFuzzer target of the `perplexity --kl-divergence-base` file reader
# (tests/fuzz/fuzz_kld_base.c) into build-fuzz/ and runs it on a fresh copy of the seed corpus
# tests/corpus/kld_base (written by tests/scripts/gen_kld_corpus.py).
#
#   scripts/fuzz_kld_base.sh [SECONDS] [libFuzzer options...]   build, then fuzz (default 60 s)
#   scripts/fuzz_kld_base.sh --build | --check                   as scripts/fuzz_gguf.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/fuzz_lib.sh

usable() { have_libfuzzer; }
build() { fuzz_build fuzz_kld_base tests/fuzz/fuzz_kld_base.c; }

write_dict() {
    cat >"$OUT/kld_base.dict" <<'DICT'
"_logits_"
"\x08\x00\x00\x00"
"\x10\x00\x00\x00"
"\x00\x00\x80\x7f"
"\x00\x00\xc0\x7f"
"\xff\xff\xff\x7f"
"\xff\xff\xff\xff"
DICT
}

fuzz_main fuzz_kld_base tests/corpus/kld_base "$OUT/kld_base.dict" 4096 "$@"
