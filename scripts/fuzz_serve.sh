#!/usr/bin/env bash
# fuzz_serve: builds the server's request libFuzzer target (tests/fuzz/fuzz_serve_request.c over
# server/request.c, server/openai.c, server/tools.c, server/responses.c and server/anthropic.c:
# the /v1 endpoints' bodies, the Responses and Messages APIs' and llama-server's /completion ones) into build-fuzz/ and runs it on a fresh copy of the seed corpus
# tests/corpus/serve, with a small generated model that has the real LLaMA-3 vocabulary
# (build-fuzz/serve-model.gguf, written once by build/bitnet gen-model from
# .cache/reference/llama.cpp/models/ggml-vocab-llama-bpe.gguf; scripts/fetch_reference.sh
# fetches that vocabulary).
#
#   scripts/fuzz_serve.sh [SECONDS] [libFuzzer options...]   build, then fuzz SECONDS (default 60)
#   scripts/fuzz_serve.sh --build                             build only (target and model)
#   scripts/fuzz_serve.sh --check                             exit 0 when clang's libFuzzer and
#                                                             jansson are usable, 1 otherwise
#
# How the target is built and run (and what it needs): scripts/fuzz_lib.sh; also jansson
# (libjansson-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/fuzz_lib.sh

VOCAB=.cache/reference/llama.cpp/models/ggml-vocab-llama-bpe.gguf
MODEL=$OUT/serve-model.gguf

have_jansson() { pkg-config --exists jansson 2>/dev/null; }
usable() { have_libfuzzer && have_jansson; }

build_model() {
    [ -s "$MODEL" ] && return 0
    if [ ! -f "$VOCAB" ]; then
        echo "fuzz_serve: $VOCAB is missing (scripts/fetch_reference.sh fetches it)" >&2
        return 1
    fi
    [ -x build/bitnet ] || make --no-print-directory -s build/bitnet
    build/bitnet gen-model "$MODEL.tmp" --vocab-from "$VOCAB" --wtype tq2_0 --seed 3 --ctx 4096 >/dev/null &&
        mv "$MODEL.tmp" "$MODEL"
}

build() {
    if ! have_jansson; then
        echo "fuzz_serve: jansson was not found (pkg-config jansson); install libjansson-dev" >&2
        return 1
    fi
    # shellcheck disable=SC2046
    fuzz_build fuzz_serve_request -Iserver $(pkg-config --cflags jansson) tests/fuzz/fuzz_serve_request.c \
        server/request.c server/openai.c server/tools.c server/responses.c server/anthropic.c server/embeddings.c $(pkg-config --libs jansson) &&
        build_model
}

# Tokens worth splicing into bodies: the fields the parser knows, numbers just outside their
# ranges, roles, special tokens.
write_dict() {
    cat >"$OUT/serve.dict" <<'EOF'
"\"messages\""
"\"role\""
"\"content\""
"\"system\""
"\"user\""
"\"assistant\""
"\"developer\""
"\"type\""
"\"text\""
"\"prompt\""
"\"max_tokens\""
"\"max_completion_tokens\""
"\"temperature\""
"\"top_p\""
"\"top_k\""
"\"min_p\""
"\"seed\""
"\"stop\""
"\"stream\""
"\"stream_options\""
"\"include_usage\""
"\"logprobs\""
"\"top_logprobs\""
"\"presence_penalty\""
"\"frequency_penalty\""
"\"repeat_penalty\""
"\"ignore_eos\""
"\"tools\""
"\"tool_choice\""
"\"parallel_tool_calls\""
"\"tool_calls\""
"\"tool_call_id\""
"\"tool\""
"\"function\""
"\"name\""
"\"arguments\""
"\"parameters\""
"\"description\""
"\"required\""
"\"auto\""
"\"none\""
"\"response\""
"\"$ref\""
"\"$defs\""
"\"grammar\""
"::="
"\"n_predict\""
"\"prediction\""
"\"timings_per_token\""
"\"t_max_predict_ms\""
"\"id_slot\""
"\"n_cache_reuse\""
"\"n_indent\""
"\"input\""
"\"content\""
"\"encoding_format\""
"\"base64\""
"\"embd_normalize\""
"\"prompt_string\""
"\"n_probs\""
"\"repeat_last_n\""
"\"return_tokens\""
"\"return_progress\""
"\"cache_prompt\""
"\"typical_p\""
"\"mirostat\""
"\"dry_multiplier\""
"\"xtc_probability\""
"\"top_n_sigma\""
"\"post_sampling_probs\""
"\"samplers\""
"\"adaptive_p\""
"\"adaptive_target\""
"\"adaptive_decay\""
"\"n_cmpl\""
"\"add_generation_prompt\""
"\"continue_final_message\""
"\"echo\""
"\"best_of\""
"\"suffix\""
"\"min_keep\""
"\"n_keep\""
"\"n_discard\""
"\"response_fields\""
"\"input\""
"\"instructions\""
"\"max_output_tokens\""
"\"input_text\""
"\"output_text\""
"\"function_call\""
"\"function_call_output\""
"\"call_id\""
"\"output\""
"\"format\""
"\"system\""
"\"stop_sequences\""
"\"tool_use\""
"\"tool_result\""
"\"tool_use_id\""
"\"input_schema\""
"\"input\""
"\"any\""
"\"disable_parallel_tool_use\""
"\"thinking\""
"\"n\""
"null"
"true"
"false"
"1e308"
"-1"
"9223372036854775807"
"2.5"
"-2.5"
"10.5"
"21"
"1073741825"
"-0.0"
"\"\\u0000\""
"\"\\ud800\""
"\"response_format\""
"\"json_schema\""
"\"schema\""
"\"properties\""
"\"required\""
"\"additionalProperties\""
"\"items\""
"\"enum\""
"\"anyOf\""
"\"$ref\""
"\"#/$defs/\""
"\"maxLength\""
"\"minItems\""
"\"integer\""
"\"object\""
"<|begin_of_text|>"
"<|eot_id|>"
"<|start_header_id|>"
"\xf0\x9f\x98\x80"
"\xff"
EOF
}

export BITNET_FUZZ_MODEL=$MODEL
fuzz_main fuzz_serve_request tests/corpus/serve "$OUT/serve.dict" 4096 "$@"
