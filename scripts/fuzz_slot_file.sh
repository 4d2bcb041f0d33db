#!/usr/bin/env bash
# fuzz_slot_file: builds the libFuzzer target of the slot file reader (tests/fuzz/fuzz_slot_file.c:
# bitnet_batch_slot_restore, the files of the server's POST /slots/{id}?action=restore) into
# build-fuzz/ and runs it on a fresh copy of the seed corpus tests/corpus/slot (written by
# tests/scripts/gen_slot_corpus.py).
#
#   scripts/fuzz_slot_file.sh [SECONDS] [libFuzzer options...]   build, then fuzz (default 60 s)
#   scripts/fuzz_slot_file.sh --build | --check                   as scripts/fuzz_gguf.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/fuzz_lib.sh

usable() { have_libfuzzer; }
build() { fuzz_build fuzz_slot_file tests/fuzz/fuzz_slot_file.c; }

write_dict() {
    cat >"$OUT/slot.dict" <<'DICT'
"BNSLOT\x0d\x0a"
"\x01\x00\x00\x00"
"\x00\x00\x00\x00\x00\x00\x00\x00"
"\x40\x00\x00\x00\x00\x00\x00\x00"
"\x41\x00\x00\x00\x00\x00\x00\x00"
"\xff\xff\xff\xff\xff\xff\xff\xff"
"\x2c\x01\x00\x00"
DICT
}

fuzz_main fuzz_slot_file tests/corpus/slot "$OUT/slot.dict" 131072 "$@"
