#!/usr/bin/env bash
# fuzz_gguf: builds the GGUF reader's libFuzzer target (tests/fuzz/fuzz_gguf.c) into build-fuzz/
# and runs it on a fresh copy of the seed corpus tests/corpus/gguf.
#
#   scripts/fuzz_gguf.sh [SECONDS] [libFuzzer options...]   build, then fuzz SECONDS (default 60)
#   scripts/fuzz_gguf.sh --build                             build only
#   scripts/fuzz_gguf.sh --check                             exit 0 when clang's libFuzzer
#                                                            runtime is usable, 1 otherwise
#
# How the target is built and run (and what it needs): scripts/fuzz_lib.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/fuzz_lib.sh

usable() { have_libfuzzer; }
build() { fuzz_build fuzz_gguf tests/fuzz/fuzz_gguf.c; }

# Tokens worth splicing into inputs: the magic, known keys and names, interesting type ids.
write_dict() {
    cat >"$OUT/gguf.dict" <<'EOF'
"GGUF"
"general.architecture"
"general.alignment"
"bitnet"
"bitnet-b1.58"
"llama"
"blk.0.attn_q.weight"
"token_embd.weight"
"\x03\x00\x00\x00"
"\x02\x00\x00\x00"
"\x09\x00\x00\x00"
"\x08\x00\x00\x00"
"\x22\x00\x00\x00"
"\x23\x00\x00\x00"
"\x24\x00\x00\x00"
"\xff\xff\xff\xff\xff\xff\xff\xff"
"\x00\x00\x00\x00\x00\x00\x00\x80"
"\x00\x00\x00\x00\x01\x00\x00\x00"
EOF
}

fuzz_main fuzz_gguf tests/corpus/gguf "$OUT/gguf.dict" 16384 "$@"
