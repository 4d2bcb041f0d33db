#!/usr/bin/env bash
# fuzz_safetensors: builds the safetensors (and JSON) reader's libFuzzer target
# (tests/fuzz/fuzz_safetensors.c) into build-fuzz/ and runs it on a fresh copy of the seed
# corpus tests/corpus/safetensors (written by tests/scripts/gen_malformed_safetensors.py --corpus).
#
#   scripts/fuzz_safetensors.sh [SECONDS] [libFuzzer options...]   build, then fuzz (default 60 s)
#   scripts/fuzz_safetensors.sh --build | --check                   as scripts/fuzz_gguf.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/fuzz_lib.sh

usable() { have_libfuzzer; }
build() { fuzz_build fuzz_safetensors tests/fuzz/fuzz_safetensors.c; }

write_dict() {
    cat >"$OUT/safetensors.dict" <<'DICT'
"\"dtype\""
"\"shape\""
"\"data_offsets\""
"\"__metadata__\""
"\"F32\""
"\"BF16\""
"\"U8\""
"\\u00e9"
"\\ud83d\\ude00"
"18446744073709551615"
"1e309"
DICT
}

fuzz_main fuzz_safetensors tests/corpus/safetensors "$OUT/safetensors.dict" 8192 "$@"
