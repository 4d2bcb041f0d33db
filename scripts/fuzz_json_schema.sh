#!/usr/bin/env bash
# fuzz_json_schema: builds the JSON Schema compiler's libFuzzer target (tests/fuzz/fuzz_json_schema.c:
# a schema, NUL, a text; soundness against an independent validator, no dead ends) into
# build-fuzz/ and runs it on a fresh copy of the seed corpus tests/corpus/json_schema.
#
#   scripts/fuzz_json_schema.sh [SECONDS] [libFuzzer options...]   build, then fuzz (default 60 s)
#   scripts/fuzz_json_schema.sh --build | --check                   as scripts/fuzz_gguf.sh
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/fuzz_lib.sh

usable() { have_libfuzzer; }
build() { fuzz_build fuzz_json_schema tests/fuzz/fuzz_json_schema.c; }

write_dict() {
    cat >"$OUT/json_schema.dict" <<'DICT'
"\"type\""
"\"object\""
"\"array\""
"\"string\""
"\"number\""
"\"integer\""
"\"boolean\""
"\"null\""
"\"properties\""
"\"required\""
"\"additionalProperties\""
"\"items\""
"\"enum\""
"\"const\""
"\"anyOf\""
"\"oneOf\""
"\"allOf\""
"\"$ref\""
"\"#/$defs/\""
"\"$defs\""
"\"minItems\""
"\"maxItems\""
"\"minLength\""
"\"maxLength\""
"\"minimum\""
"\"multipleOf\""
"\"maximum\""
"\"exclusiveMinimum\""
"\"exclusiveMaximum\""
"\"format\""
"\"prefixItems\""
"\"pattern\""
"(?:"
"[^0-9]"
"{2,3}"
"\\\\d"
"\"minProperties\""
"\"uniqueItems\""
"\"maxProperties\""
"\"date\""
"\"time\""
"\"date-time\""
"\"uuid\""
"2024-02-29T23:59:59.5+05:30"
"\\u0000"
"\\ud83d\\ude00"
"\x00"
"1e308"
"-0.5"
DICT
}

fuzz_main fuzz_json_schema tests/corpus/json_schema "$OUT/json_schema.dict" 4096 "$@"
