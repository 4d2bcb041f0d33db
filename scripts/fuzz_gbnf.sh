#!/usr/bin/env bash
# fuzz_gbnf: builds the GBNF grammar libFuzzer target (tests/fuzz/fuzz_gbnf.c: a grammar, NUL, a
# text; whole and byte-by-byte reads agree, no dead ends) into build-fuzz/ and runs it on a fresh
# copy of the seed corpus tests/corpus/gbnf.
#
#   scripts/fuzz_gbnf.sh [SECONDS] [libFuzzer options...]   build, then fuzz (default 60 s)
#   scripts/fuzz_gbnf.sh --build | --check                   as scripts/fuzz_gguf.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/fuzz_lib.sh

usable() { have_libfuzzer; }
build() { fuzz_build fuzz_gbnf tests/fuzz/fuzz_gbnf.c; }

write_dict() {
    cat >"$OUT/gbnf.dict" <<'DICT'
"root"
"::="
" | "
"\x0a"
"\x00"
"[^"
"[a-z]"
"\\x7F"
"\\u00e9"
"\\U0001F600"
"\\n"
"\\\""
"*"
"+"
"?"
"{2,5}"
"{3,}"
"("
")"
"# "
"."
"\xc3\xa9"
"\xe2\x82\xac"
"<[7]>"
"!<[7]>"
"\xff\x07"
DICT
}

fuzz_main fuzz_gbnf tests/corpus/gbnf "$OUT/gbnf.dict" 4096 "$@"
