#!/usr/bin/env bash
# test_serve: bitnet-server end to end on a small generated model with the real LLaMA-3
# vocabulary, all traffic to 127.0.0.1, every client bounded by a timeout:
#   - arguments: --help, a bad option (exit 2), a missing model (exit 1); `bitnet serve` runs
#     the server beside it, or says how to build it when it is missing; llama-server's options:
#     refused ones and bad values exit 2, a llama-server command line runs (inert options noted,
#     its sampling options the requests' defaults on both APIs, -a, --no-webui);
#   - curl on the plain endpoints: /health (open without the key), /v1/models, /tokenize,
#     /detokenize (round trip), /slots; 401 without or with a wrong API key;
#   - malformed requests (truncated and invalid JSON, wrong types, empty messages, max_tokens
#     0 and negative, an absurd stop list, unknown path, wrong method, a body over the limit
#     with and without Content-Length, a prompt longer than a slot's context): each gets its
#     status and an OpenAI error object, and the next normal request is served; bad logit_bias
#     entries (type, key, range, unknown id, an empty string, strings of too many tokens),
#     response_format (not an object, a json_schema without a schema or with a keyword not
#     enforced, a schema that is not one, an unknown type; llama-server's top-level json_schema
#     beside it) and tools likewise (parameters with a keyword not enforced, tool_choice naming
#     no tool, tools on /v1/completions or beside response_format; an empty tools list is
#     accepted); tool_choice "required" gives a call; a call cut short in a stream (chat,
#     Messages, Responses) leaves well-formed events; a top-level json_schema enum reply is one
#     of its values; a grammar that does not compile, names a token outside the vocabulary
#     or comes beside response_format is refused, a streamed grammar reply follows it, one
#     with token references (<[id]>) gives those tokens (/completion's return_tokens);
#   - "samplers": a part of the default order equals the request with the others off (unknown
#     names skipped); another order runs as given, and is reported; more than 32 refused;
#     adaptive-p named there changes the tokens, repeats, is reported; a bad decay refused;
#   - /infill, the rerank routes and POST /props: 501 saying what is not implemented; GET
#     /lora-adapters an empty list; one metrics label per path;
#   - llama-server's other samplers (mirostat 2, XTC, typical_p with top_n_sigma, min_keep, DRY): a
#     seeded request repeats itself, differs from the same without them, generation_settings
#     reports them; a bad mirostat refused on the chat route too, bad
#     DRY breakers and XTC values on the Responses and Messages routes (passed on);
#   - llama-server's id_slot: the reply's slot is the one asked for, over the slot that holds the
#     prompt; a request for a slot busy with a long stream waits for its end while one for any
#     slot is answered before it; a slot beyond --parallel is a 400;
#   - llama-server's n_indent: a grammar's lines, cut at the first one indented less (its
#     indentation kept; streamed the same), an empty line counts, chat's "length", a 400;
#   - llama-server's t_max_predict_ms: a reply of newlines ends at the first newline after the
#     limit ("limit" on /completion, "length" on chat) where the same request runs to n_predict;
#     a string is a 400;
#   - llama-server's n_cmpl: an array of replies, each the one its seed gives alone, streamed
#     side by side (each completion's final event its last);
#   - llama-server's /completion (and /completions): greedy content equal to /v1/completions',
#     return_tokens and n_probs, the stream (pieces, then the final object with stop true, no
#     [DONE]) equal to the whole reply, stop_type and stopping_word, n_predict 0 with a mixed
#     prompt, the seed a reply reports repeats it, its 400s, response_fields (plain, streamed, a
#     bad type); /props; /apply-template (an assistant prefill: a conversation that ends with the
#     assistant's message is continued, on the chat and Messages routes; --no-prefill-assistant
#     closes it, continue_final_message asks for it, add_generation_prompt false opens no turn);
#     logit_bias
#     strings (banning the text of the greedy first token changes it, as a pair and as a key);
#   - embeddings: /v1/embeddings' vector equals `bitnet embed`'s, /embedding gives it in
#     llama-server's shape, a body without input is a 400; the openai client's embeddings.create
#     (base64, its default, equal to floats; unit length; alone equal to in a list);
#   - OpenAI's "n": choice i equal to a lone request with seed + i, usage summed; streamed, the
#     same choices (chunks by index, side by side: the second's first before the first's last,
#     no chunk after a choice's finish chunk); more than the slots a 400; the
#     other choices take the prompt's KV entries from the first's prefill (/metrics: cached);
#   - several prompts in one request (with n 2): completion i is prompt i / 2's choice i % 2,
#     equal to the lone request, usage summing the prompts, streamed alike; /completion's array
#     with each reply's prompt; on one slot with no queue they run one after another (no 503);
#   - llama-server's return_progress: /completion's and a chat's streams report the prompt's
#     progress (rising to the prompt's tokens) before the first token;
#   - OpenAI's echo (the prompt before each choice's text, streamed too), max_tokens 0 with echo
#     (the prompt alone), best_of (the best of three lone seeded requests by mean token
#     log-probability); best_of streamed and suffix refused; echo with logprobs (lm-eval-harness's
#     loglikelihood): the prompt's tokens first, scoring a prompt and its greedy continuation gives
#     the continuation's generated log-probabilities, several prompts of ids, streamed alike;
#   - shared prompt prefixes: three requests at once starting with one long system prompt: two
#     take its KV entries from the third's slot (cached_tokens), and their greedy replies equal
#     those of a one-slot server (no other slot to share with);
#   - the official openai npm package (serve_openai_client.cjs): chat and completions, plain
#     and streamed, include_usage, stop, logprobs (echoed with the prompt's too), logit_bias, prediction (Predicted
#     Outputs: the same reply, its drafts in usage; on /completion in timings.draft_n), response_format json_object and
#     json_schema, tools (named, auto, streamed: arguments in deltas; the client's runTools round trip), the
#     Responses API (text equal to the chat's, raw events, parse and stream helpers, function
#     calls (their arguments streamed in deltas) and their outputs as input items, input token counts of a Responses body and of a
#     chat equal to their replies' usage); curl: its refusals of what is not served;
#   - the official @anthropic-ai/sdk package (serve_anthropic_client.cjs) on /v1/messages: text
#     equal to the chat completion's, raw events and the stream helper, stop_sequences,
#     count_tokens, a tool_use plain and streamed (its input in input_json_delta pieces) and its
#     tool_result, the error types the SDK
#     reads (a wrong key, a refused field); curl: the X-Api-Key header,
#     Anthropic's error objects there (400, 401, 405, 413) while an OpenAI route keeps its own;
#   - 8 greedy clients at once (half of them streaming): every reply equals the same request
#     run alone, and /metrics counted their tokens; a second chat turn reports cached prompt tokens;
#   - a client killed mid-stream frees its slot (/slots), which serves the next request (and a
#     stream of three choices killed mid-way all three; one of two choices read to its end has
#     both finish chunks and [DONE]); one
#     that leaves a plain request stops its job at once (499), not at the reply's end;
#     with one slot and --queue 0 a second request gets 503 meanwhile (and GET
#     /slots?fail_on_no_slot=1, 200 once the slot is idle); the prompt cache in host
#     memory gives a conversation's next turn its tokens back after another took the slot; a reply that fills the
#     slot's context ends with finish_reason "length"; with --context-shift it goes on to max_tokens
#     (the same reply twice, /completion's truncated, the slot keeps the start --keep names; bad
#     n_keep / n_discard refused);
#   - SIGTERM with a stream in flight: the stream ends with a finish chunk and [DONE], exit 0;
#   - seeded requests with OpenAI's default sampling (temperature, no top_k, top_p 1; min_p
#     too; a logit_bias) give the same tokens with the screened head (the default) and --lm-head
#     model (plain build only).
# BITNET_BUILD selects the build (test_serve_sanitizers.sh runs this with the ASan and TSan ones;
# the TSan run leaves out llama-server's API and the request fields in serve_native_api.sh, and
# the official clients).
# TEST_LONG=60: tests/run_tests.sh starts it early (seconds on 2 cores, the longest first).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
serve_prerequisites || exit 0
M="$TMP/serve.gguf"
make_model "$M" || { not_ok gen_model "$(tail -3 "$TMP/gen.log")"; exit 1; }
KEY=test-key-123
AUTH=(-H "Authorization: Bearer $KEY")

# ---- arguments ----------------------------------------------------------------------------
"$SERVER" --help >"$TMP/help.out" 2>&1
check help_exit_0 [ $? -eq 0 ]
check help_names_options grep -q -- '--parallel' "$TMP/help.out"
"$SERVER" -m "$M" --port nope >/dev/null 2>&1
check bad_option_exit_2 [ $? -eq 2 ]
"$BITNET" serve --help 2>&1 | grep -- '--api-key' >/dev/null
check bitnet_serve_runs_server [ "${PIPESTATUS[0]}" -eq 0 ]
mkdir -p "$TMP/alone" && cp "$BITNET" "$TMP/alone/bitnet"
"$TMP/alone/bitnet" serve -m "$M" >/dev/null 2>"$TMP/noserver.err"
rc=$?
if [ $rc -eq 1 ] && grep -q libmicrohttpd-dev "$TMP/noserver.err"; then ok bitnet_serve_without_server_says_why; else
    not_ok bitnet_serve_without_server_says_why "rc=$rc: $(head -2 "$TMP/noserver.err")"; fi
timeout 60 "$SERVER" -m "$TMP/missing.gguf" --port 0 >/dev/null 2>"$TMP/missing.err"
rc=$?
if [ $rc -eq 1 ] && grep -q missing.gguf "$TMP/missing.err"; then ok missing_model_exit_1; else
    not_ok missing_model_exit_1 "rc=$rc: $(tail -2 "$TMP/missing.err")"; fi
# llama-server's options beyond ours: refused ones, bad values and an out-of-range sampling
# default exit 2 saying why; a llama-server command line runs (its inert options noted), its
# sampling options are the requests' defaults on both APIs (a request's own field wins), -a,
# --no-webui
llama_refusal() {
    local name=$1 word=$2 rc
    shift 2
    timeout 60 "$SERVER" -m "$M" --port 0 "$@" >/dev/null 2>"$TMP/llama_args.err"
    rc=$?
    if [ $rc -eq 2 ] && grep -q -- "$word" "$TMP/llama_args.err"; then ok "$name"; else not_ok "$name" "rc=$rc: $(tail -2 "$TMP/llama_args.err")"; fi
}
llama_refusal llama_args_lora_refused "LoRA adapters are not supported" --lora x.gguf
llama_refusal llama_args_nocb_refused "always batches" -nocb
llama_refusal llama_args_bad_number "needs a number" --temp warm
llama_refusal llama_args_default_out_of_range "'temperature' must be between 0 and 2" --temp 3
if start_server "$TMP/llama.log" -m "$M" -t 2 -np 1 -c 256 -ngl 99 -fa 1 -v --jinja -cb --metrics -tb 2 --temp 0 --top-k 1 -n 3 -s 42 \
    --no-webui -a compat-model -to 30; then
    check llama_args_inert_noted [ "$(grep -c -e '-ngl ignored' -e '-fa ignored' -e '--jinja ignored' -e '-tb ignored' "$TMP/llama.log")" -eq 4 ]
    st=$(req POST /completion '{"prompt":"Hello"}')
    native_check llama_args_native_defaults "$st == 200 and j['tokens_predicted'] == 3 and j['model'] == 'compat-model' and j['generation_settings']['temperature'] == 0 and j['generation_settings']['top_k'] == 1 and j['generation_settings']['seed'] == 42"
    st=$(req POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}]}')
    native_check llama_args_chat_defaults "$st == 200 and j['usage']['completion_tokens'] == 3 and j['model'] == 'compat-model'"
    st=$(req POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":2}')
    native_check llama_args_request_wins "$st == 200 and j['usage']['completion_tokens'] == 2"
    st=$(req GET /props)
    native_check llama_args_props "$st == 200 and j['default_generation_settings']['params']['n_predict'] == 3 and j['default_generation_settings']['params']['top_k'] == 1"
    check llama_args_no_webui [ "$(req GET /)" = 404 ]
    stop_server TERM
    check llama_args_server_exit_0 [ "$STOP_RC" = 0 ]
else
    not_ok llama_args_server_starts "$(tail -5 "$TMP/llama.log")"
    kill -9 "$SERVER_PID" 2>/dev/null
fi

# ---- the main server ------------------------------------------------------------------------
mkdir -p "$TMP/slots"
if ! start_server "$TMP/a.log" -m "$M" -t 2 -np 8 -c 2048 --api-key "$KEY" --alias test-model --chat-format llama3 --slot-save-path "$TMP/slots"; then
    not_ok server_starts "$(tail -5 "$TMP/a.log")"; kill -9 "$SERVER_PID" 2>/dev/null; exit 1
fi
ok server_starts
check listening_line_once [ "$(grep -c 'listening on http://127.0.0.1:' "$TMP/a.log")" -eq 1 ]
check context_shift_off_by_default grep -q 'context shift off; ready' "$TMP/a.log"

# ---- plain endpoints ------------------------------------------------------------------------
# req_key KEY METHOD PATH [BODY]: req with another key ("" for none).
req_key() {
    local AUTH=()
    [ -n "$1" ] && AUTH=(-H "Authorization: Bearer $1")
    shift
    req "$@"
}
st=$(req_key "" GET /health)
check health_open_without_key [ "$st" = 200 -a "$(json_get 'j["status"]' <"$TMP/resp")" = ok ]
st=$(req GET /v1/models)
check models [ "$st" = 200 -a "$(json_get 'j["data"][0]["id"]' <"$TMP/resp")" = test-model ]
st=$(req POST /tokenize '{"content":"Hello world"}')
ids=$(json_get '",".join(map(str, j["tokens"]))' <"$TMP/resp")
check tokenize [ "$st" = 200 -a "$ids" = "9906,1917" ]
st=$(req POST /tokenize '{"content":"Hello world","add_special":true,"with_pieces":true}')
check tokenize_special_pieces [ "$st" = 200 -a "$(json_get '"%s %s" % (j["tokens"][0]["id"], j["tokens"][1]["piece"])' <"$TMP/resp")" = "128000 Hello" ]
st=$(req POST /detokenize "{\"tokens\":[$ids]}")
check detokenize_round_trip [ "$st" = 200 -a "$(json_get 'j["content"]' <"$TMP/resp")" = "Hello world" ]
st=$(req GET /slots)
check slots [ "$st" = 200 -a "$(json_get '"%s %s" % (len(j), j[0]["n_ctx"])' <"$TMP/resp")" = "8 256" ]
for bad in none wrong; do
    key=; [ $bad = wrong ] && key=nope
    st=$(req_key "$key" GET /v1/models)
    check "key_${bad}_401" [ "$st" = 401 -a "$(json_get 'j["error"]["type"]' <"$TMP/resp")" = authentication_error ]
done

# ---- malformed requests -----------------------------------------------------------------------
SMALL='{"prompt":"Hi","max_tokens":1,"temperature":0}'
# expect_error NAME STATUS WORD METHOD PATH [BODY]: the status and an error object whose
# message contains WORD.
expect_error() {
    local name=$1 want=$2 word=$3 st msg
    shift 3
    st=$(req "$@")
    msg=$(json_get 'j["error"]["message"] if j["error"]["code"] == '"$want"' and j["error"]["type"] else ""' <"$TMP/resp" 2>/dev/null)
    if [ "$st" = "$want" ] && [ -n "$msg" ] && [[ "$msg" == *"$word"* ]]; then ok "$name"; else
        not_ok "$name" "status $st (want $want), body: $(head -c 300 "$TMP/resp")"; fi
}
# error_case NAME STATUS WORD METHOD PATH [BODY]: expect_error, then a normal request served.
error_case() {
    local name=$1 st
    expect_error "$@"
    st=$(req POST /v1/completions "$SMALL")
    [ "$st" = 200 ] || not_ok "${name}_then_served" "status $st: $(head -c 200 "$TMP/resp")"
}
CHAT='"messages":[{"role":"user","content":"Hi"}]'
error_case truncated_json 400 JSON POST /v1/chat/completions '{"messages":[{"role":'
error_case invalid_json 400 JSON POST /v1/chat/completions 'this is not json'
error_case not_an_object 400 object POST /v1/completions '[1,2,3]'
error_case messages_wrong_type 400 messages POST /v1/chat/completions '{"messages":"Hi"}'
error_case messages_empty 400 messages POST /v1/chat/completions '{"messages":[]}'
error_case role_unknown 400 role POST /v1/chat/completions '{"messages":[{"role":"wizard","content":"Hi"}]}'
error_case content_wrong_type 400 content POST /v1/chat/completions '{"messages":[{"role":"user","content":42}]}'
error_case image_part 400 'text' POST /v1/chat/completions '{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}'
error_case max_tokens_zero 400 max_tokens POST /v1/chat/completions "{$CHAT,\"max_tokens\":0}"
error_case max_tokens_negative 400 max_tokens POST /v1/chat/completions "{$CHAT,\"max_tokens\":-5}"
error_case max_tokens_string 400 max_tokens POST /v1/completions '{"prompt":"Hi","max_tokens":"8"}'
error_case temperature_string 400 temperature POST /v1/chat/completions "{$CHAT,\"temperature\":\"hot\"}"
error_case temperature_range 400 temperature POST /v1/chat/completions "{$CHAT,\"temperature\":7}"
error_case top_logprobs_range 400 top_logprobs POST /v1/chat/completions "{$CHAT,\"logprobs\":true,\"top_logprobs\":99}"
error_case stream_wrong_type 400 stream POST /v1/chat/completions "{$CHAT,\"stream\":\"yes\"}"
error_case n_range 400 "'n' must be between 1 and 16" POST /v1/chat/completions "{$CHAT,\"n\":17}"
stops=$("$PY" -c 'import json; print(json.dumps(["s%d" % i for i in range(5000)]))')
error_case stop_list_absurd 400 stop POST /v1/chat/completions "{$CHAT,\"stop\":$stops}"
error_case stop_wrong_type 400 stop POST /v1/completions '{"prompt":"Hi","stop":[1,2]}'
error_case logit_bias_wrong_type 400 logit_bias POST /v1/chat/completions "{$CHAT,\"logit_bias\":\"ban\"}"
error_case logit_bias_key 400 'token id' POST /v1/chat/completions "{$CHAT,\"logit_bias\":{\"-3\":1}}"
error_case logit_bias_range 400 'between -100 and 100' POST /v1/chat/completions "{$CHAT,\"logit_bias\":{\"15\":250}}"
error_case logit_bias_value_type 400 'must be a number' POST /v1/completions '{"prompt":"Hi","logit_bias":{"15":"x"}}'
error_case logit_bias_unknown_id 400 'not a token id' POST /v1/completions '{"prompt":"Hi","logit_bias":{"999999999":1}}'
error_case logit_bias_bad_pair 400 'pair' POST /v1/completions '{"prompt":"Hi","logit_bias":[[15]]}'
error_case logit_bias_empty_string 400 "'logit_bias[1]': an empty string" POST /v1/completions '{"prompt":"Hi","logit_bias":[[15,1],["",1]]}'
many=$("$PY" -c 'import json; print(json.dumps(" hello" * 4097))')
error_case logit_bias_string_tokens 400 'more than 4096 tokens' POST /v1/completions "{\"prompt\":\"Hi\",\"logit_bias\":[[$many,1]]}"
error_case prediction_wrong_type 400 "'prediction' must be an object" POST /v1/chat/completions "{$CHAT,\"prediction\":\"abc\"}"
error_case prediction_type 400 "'prediction.type' must be" POST /v1/chat/completions "{$CHAT,\"prediction\":{\"type\":\"image\",\"content\":\"x\"}}"
error_case prediction_content_missing 400 "'prediction.content' is missing" POST /v1/chat/completions "{$CHAT,\"prediction\":{\"type\":\"content\"}}"
error_case prediction_part 400 "'prediction.content[0]'" POST /v1/completions '{"prompt":"Hi","prediction":{"type":"content","content":[{"type":"image"}]}}'
error_case response_format_type 400 response_format POST /v1/chat/completions "{$CHAT,\"response_format\":\"json\"}"
error_case response_format_schema_missing 400 "json_schema.schema' is missing" POST /v1/chat/completions "{$CHAT,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{}}}"
error_case response_format_schema_refused 400 "at '/properties/s': this keyword is not supported (its constraint would not be enforced): not" \
    POST /v1/chat/completions "{$CHAT,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"integer\",\"not\":{\"const\":3}}}}}}}"
error_case response_format_schema_type 400 'must be a JSON Schema' POST /v1/completions '{"prompt":"Hi","response_format":{"type":"json_object","schema":"{}"}}'
error_case json_schema_and_response_format 400 'not both' POST /v1/completions '{"prompt":"Hi","json_schema":{},"response_format":{"type":"text"}}'
error_case json_schema_top_level_refused 400 "'json_schema': json_schema at '/': this keyword is not supported (its constraint would not be enforced): not" \
    POST /v1/completions '{"prompt":"Hi","json_schema":{"type":"integer","not":{"const":3}}}'
st=$(req POST /v1/completions '{"prompt":"Hi","max_tokens":48,"temperature":0,"json_schema":{"enum":["yes","no"]}}')
if [ "$st" = 200 ] && [ "$(json_get 'j["choices"][0]["text"].strip() in ("\"yes\"", "\"no\"") and j["choices"][0]["finish_reason"] == "stop"' <"$TMP/resp")" = True ]; then
    ok json_schema_top_level; else not_ok json_schema_top_level "status $st: $(head -c 300 "$TMP/resp")"; fi
# multipleOf (with bounds): the number the constraint lets through is a multiple within them
st=$(req POST /v1/completions '{"prompt":"Hi","max_tokens":24,"temperature":0,"json_schema":{"type":"integer","multipleOf":7,"minimum":10,"maximum":1000}}')
if [ "$st" = 200 ] && [ "$(json_get 'int(j["choices"][0]["text"]) % 7 == 0 and 10 <= int(j["choices"][0]["text"]) <= 1000 and j["choices"][0]["finish_reason"] == "stop"' <"$TMP/resp")" = True ]; then
    ok json_schema_multiple_of; else not_ok json_schema_multiple_of "status $st: $(head -c 300 "$TMP/resp")"; fi
error_case response_format_unknown 400 "'text', 'json_object' or 'json_schema'" POST /v1/chat/completions "{$CHAT,\"response_format\":{\"type\":\"xml\"}}"
NOW_TOOL='{"type":"function","function":{"name":"now"}}'
error_case tools_parameters_refused 400 "'tools[1].function.parameters': json_schema at '/properties/n': this keyword is not supported" \
    POST /v1/chat/completions "{$CHAT,\"tools\":[$NOW_TOOL,{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"n\":{\"not\":{\"const\":2}}}}}}]}"
error_case tool_choice_unknown 400 "'later', which is not in 'tools'" POST /v1/chat/completions \
    "{$CHAT,\"tools\":[$NOW_TOOL],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"later\"}}}"
error_case tools_on_completions 400 'only supported by /v1/chat/completions' POST /v1/completions "{\"prompt\":\"Hi\",\"tools\":[$NOW_TOOL]}"
error_case tools_with_response_format 400 "cannot be combined with 'tools'" POST /v1/chat/completions \
    "{$CHAT,\"tools\":[$NOW_TOOL],\"response_format\":{\"type\":\"json_object\"}}"
st=$(req POST /v1/chat/completions "{$CHAT,\"max_tokens\":200,\"seed\":1,\"tools\":[$NOW_TOOL],\"tool_choice\":\"required\",\"parallel_tool_calls\":false}")
if [ "$st" = 200 ] && [ "$(json_get '"%s %s %s %s" % (j["choices"][0]["finish_reason"], j["choices"][0]["message"]["content"], j["choices"][0]["message"]["tool_calls"][0]["function"]["name"], j["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])' <"$TMP/resp")" = "tool_calls None now {}" ]; then
    ok tools_required_call; else not_ok tools_required_call "status $st: $(head -c 300 "$TMP/resp")"; fi
# A call cut short in a stream (max_tokens inside its arguments): what was sent stays well
# formed: the chat's deltas then finish_reason "length"; the Messages API's tool_use block opened
# and stopped, stop_reason "max_tokens"; the Responses API's item done as "incomplete" and
# response.incomplete
CITY_PARAMS='{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}'
CUT=60 # greedy: the call's name is whole, its arguments are not
curl -s -N --max-time 60 "${AUTH[@]}" -d "{$CHAT,\"max_tokens\":$CUT,\"temperature\":0,\"stream\":true,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"city\",\"parameters\":$CITY_PARAMS}}],\"tool_choice\":\"required\"}" \
    "$URL/v1/chat/completions" >"$TMP/cut_chat.sse"
curl -s -N --max-time 60 "${AUTH[@]}" -H 'anthropic-version: 2023-06-01' -d "{\"model\":\"m\",\"max_tokens\":$CUT,\"temperature\":0,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tools\":[{\"name\":\"city\",\"input_schema\":$CITY_PARAMS}],\"tool_choice\":{\"type\":\"tool\",\"name\":\"city\"}}" \
    "$URL/v1/messages" >"$TMP/cut_msg.sse"
curl -s -N --max-time 60 "${AUTH[@]}" -d "{\"model\":\"m\",\"max_output_tokens\":$CUT,\"temperature\":0,\"stream\":true,\"input\":\"Hi\",\"tools\":[{\"type\":\"function\",\"name\":\"city\",\"parameters\":$CITY_PARAMS}],\"tool_choice\":\"required\"}" \
    "$URL/v1/responses" >"$TMP/cut_resp.sse"
got=$("$PY" - "$TMP/cut_chat.sse" "$TMP/cut_msg.sse" "$TMP/cut_resp.sse" <<'PY' 2>&1
import json, sys
def data(path):
    return [json.loads(l[6:]) for l in open(path) if l.startswith("data: ") and l.strip() != "data: [DONE]"]
chat, msg, resp = (data(p) for p in sys.argv[1:4])
deltas = [d for c in chat for ch in c["choices"] for d in ch["delta"].get("tool_calls") or []]
ok_chat = len(deltas) >= 2 and deltas[0]["function"]["name"] == "city" and chat[-1]["choices"][0]["finish_reason"] == "length"
types = [e["type"] for e in msg]
start = [e for e in msg if e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use"]
ok_msg = len(start) == 1 and any(e["type"] == "content_block_stop" and e["index"] == start[0]["index"] for e in msg) and \
    [e for e in msg if e["type"] == "message_delta"][0]["delta"]["stop_reason"] == "max_tokens" and types[-1] == "message_stop"
done = [e for e in resp if e["type"] == "response.output_item.done"]
ok_resp = len(done) == 1 and done[0]["item"]["type"] == "function_call" and done[0]["item"]["status"] == "incomplete" and \
    resp[-1]["type"] == "response.incomplete" and resp[-1]["response"]["output"][0]["status"] == "incomplete"
print(ok_chat, ok_msg, ok_resp)
PY
)
if [ "$got" = "True True True" ]; then ok tools_stream_cut_inside_a_call; else
    not_ok tools_stream_cut_inside_a_call "$got: $(tail -c 200 "$TMP/cut_chat.sse") | $(tail -c 200 "$TMP/cut_msg.sse") | $(tail -c 300 "$TMP/cut_resp.sse")"; fi
error_case grammar_refused 400 "'grammar': grammar: line 1, column 10: the rule 'x' is used but never defined" \
    POST /v1/completions '{"prompt":"Hi","grammar":"root ::= x"}'
error_case grammar_token_ref_range 400 "'grammar': the token reference <[999999]> is not a token of this model" \
    POST /v1/completions '{"prompt":"Hi","grammar":"root ::= \"a\" <[999999]>"}'
error_case grammar_token_text 400 "'grammar': grammar: line 1, column 10: <hello world> is not one token of this model" \
    POST /v1/completions '{"prompt":"Hi","grammar":"root ::= <hello world>"}'
error_case grammar_with_response_format 400 "'grammar' cannot be combined with 'response_format'" \
    POST /v1/chat/completions "{$CHAT,\"grammar\":\"root ::= [a-z]+\",\"response_format\":{\"type\":\"json_object\"}}"
st=$(req POST /v1/chat/completions "{$CHAT,\"max_tokens\":1,\"tools\":[],\"tool_choice\":\"none\"}")
check tools_empty_accepted [ "$st" = 200 ]
error_case prompt_missing 400 prompt POST /v1/completions '{"max_tokens":2}'
error_case prompt_bad_id 400 'token id' POST /v1/completions '{"prompt":[1,2,999999999]}'
long=$("$PY" -c 'print(",".join(["9906"] * 300))')
error_case prompt_too_long 400 '45 more than' POST /v1/completions "{\"prompt\":[$long]}"
error_case tokenize_no_content 400 content POST /tokenize '{"text":"x"}'
error_case detokenize_bad_id 400 'tokens[1]' POST /detokenize '{"tokens":[1,-4]}'
error_case unknown_path 404 'no such endpoint' POST /v1/nothing '{}'
error_case wrong_method 405 'not allowed' GET /v1/chat/completions
head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$TMP/huge.json"
st=$(curl -s -o "$TMP/resp" -w '%{http_code}' --max-time 60 "${AUTH[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$TMP/huge.json" "$URL/v1/chat/completions")
check body_too_large_413 [ "$st" = 413 -a "$(json_get 'j["error"]["code"]' <"$TMP/resp" 2>/dev/null)" = 413 ]
st=$(curl -s -o "$TMP/resp" -w '%{http_code}' --max-time 60 "${AUTH[@]}" -H 'Content-Type: application/json' \
    -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/huge.json" "$URL/v1/chat/completions")
check body_too_large_chunked_413 [ "$st" = 413 ]
st=$(req POST /v1/completions "$SMALL")
check served_after_malformed [ "$st" = 200 ]

# ---- the openai npm package ---------------------------------------------------------------------
# a sanitizer build (test_serve_sanitizers) runs each path once: the sampled tools cases, the
# client's slowest under TSan, take fewer seeds there, and replies the clients' stream helpers
# rebuild are not fetched a second time
depth=full; [ "${BITNET_BUILD:-build}" != build ] && depth=quick
# the TSan run leaves the clients out: their requests hand work between the server's threads
# as curl's do throughout this script, and the plain and ASan runs cover their paths (a third
# of the TSan run's time saved)
if [ "${BITNET_BUILD:-build}" = build-tsan ]; then :
elif ! command -v node >/dev/null; then skip_or_fail openai_client "node is not installed"
elif [ ! -f "$NODE_DIR/node_modules/openai/package.json" ]; then skip_or_fail openai_client "the openai npm package is missing (scripts/fetch_openai_node.sh)"
else
    timeout 300 node "$ROOT/tests/scripts/serve_openai_client.cjs" "$NODE_DIR/node_modules" "$URL/v1" "$KEY" "$SCRIPT_NAME/openai" "$depth"
    [ $? -eq 0 ] || not_ok openai_client_exit "the client script failed"
fi
if [ "${BITNET_BUILD:-build}" = build-tsan ]; then :
elif ! command -v node >/dev/null; then skip_or_fail anthropic_client "node is not installed"
elif [ ! -f "$NODE_DIR/node_modules/@anthropic-ai/sdk/package.json" ]; then skip_or_fail anthropic_client "the @anthropic-ai/sdk npm package is missing (scripts/fetch_openai_node.sh)"
else
    timeout 300 node "$ROOT/tests/scripts/serve_anthropic_client.cjs" "$NODE_DIR/node_modules" "$URL" "$KEY" "$SCRIPT_NAME/anthropic" "$depth"
    [ $? -eq 0 ] || not_ok anthropic_client_exit "the client script failed"
fi
# anthropic_error TYPE: True when the last reply is Anthropic's error object of that type
# ({"type": "error", "error": {"type", "message"}}, as the SDK reads it).
anthropic_error() {
    json_get "j['type'] == 'error' and sorted(j['error']) == ['message', 'type'] and j['error']['type'] == '$1' and j['error']['message'] != ''" \
        <"$TMP/resp" 2>&1
}
# Anthropic's own header for the key (the SDK sends Authorization), and a wrong one
for key in "$KEY" nope; do
    st=$(curl -s -o "$TMP/resp" -w '%{http_code}' --max-time 60 -H "x-api-key: $key" -d '{"messages":[{"role":"user","content":"Hi"}]}' \
        "$URL/v1/messages/count_tokens")
    if [ "$key" = nope ]; then check x_api_key_401 [ "$st" = 401 -a "$(anthropic_error authentication_error)" = True ]
    else check x_api_key_200 [ "$st" = 200 ]; fi
done
# the Messages API's other errors in Anthropic's shape too, those sent before its handler included;
# an OpenAI route's stay OpenAI's
st=$(req POST /v1/messages '{"messages":[{"role":"user","content":"Hi"}]}')
check anthropic_error_400 [ "$st" = 400 -a "$(anthropic_error invalid_request_error)" = True ]
st=$(req GET /v1/messages)
check anthropic_error_405 [ "$st" = 405 -a "$(anthropic_error invalid_request_error)" = True ]
st=$(curl -s -o "$TMP/resp" -w '%{http_code}' --max-time 60 "${AUTH[@]}" --data-binary @"$TMP/huge.json" "$URL/v1/messages")
check anthropic_error_413 [ "$st" = 413 -a "$(anthropic_error request_too_large)" = True ]
st=$(req POST /v1/chat/completions '{"messages":[]}')
check openai_error_unchanged [ "$st" = 400 -a "$(json_get '"type" not in j and j["error"]["code"] == 400 and j["error"]["type"] == "invalid_request_error"' <"$TMP/resp" 2>&1)" = True ]

# ---- a grammar, streamed (the job keeps its own copy of the grammar) -------------------------
GRAMMAR_BODY='{"prompt":"Call me","max_tokens":40,"seed":2,"stream":true,"grammar":"root ::= [0-9]{3} \"-\" [0-9]{4}\n"}'
curl -s -N --max-time 60 "${AUTH[@]}" -d "$GRAMMAR_BODY" "$URL/v1/completions" >"$TMP/grammar.sse"

# ---- 8 clients at once ----------------------------------------------------------------------
# reply_text FILE: the generated text of a reply or an SSE stream, JSON-encoded.
reply_text() {
    "$PY" - "$1" <<'EOF'
import json, sys
raw = open(sys.argv[1], encoding="utf-8", errors="replace").read()
if raw.startswith("data: "):
    text, done = "", False
    for line in raw.splitlines():
        if line == "data: [DONE]": done = True
        elif line.startswith("data: "):
            for c in json.loads(line[6:]).get("choices", []): text += c.get("text") or ""
    print(json.dumps(text) if done else "no [DONE]")
else:
    print(json.dumps(json.loads(raw)["choices"][0]["text"]))
EOF
}
got=$(reply_text "$TMP/grammar.sse")
if [[ "$got" =~ ^\"[0-9]{3}-[0-9]{4}\"$ ]] && grep -q '"finish_reason":"stop"' "$TMP/grammar.sse"; then ok grammar_streamed; else
    not_ok grammar_streamed "$got: $(head -c 300 "$TMP/grammar.sse")"; fi
# ---- llama-server's own API: /completion, /props, /apply-template ------------------------------
# The TSan run leaves this part out: it sends one request at a time, each through the same
# hand-off between the server's threads as this script's other requests, and the plain and
# ASan runs cover its paths (~40 s of the TSan run's ~90 s alone on the Zen 3 VM of 2026-12-07).
if [ "${BITNET_BUILD:-build}" != build-tsan ]; then source "$ROOT/tests/scripts/serve_native_api.sh"; fi

# ---- llama-server's id_slot: the slot asked for, waiting while it is busy ------------------------
all_idle
IDP='"prompt":"Slot choice '$$'","n_predict":2,"temperature":0'
st=$(req POST /completion "{$IDP,\"id_slot\":3}")
native_check id_slot_taken "$st == 200 and j['id_slot'] == 3"
st=$(req POST /completion "{$IDP,\"id_slot\":5}")
native_check id_slot_over_cached_prefix "$st == 200 and j['id_slot'] == 5 and j['tokens_cached'] <= 1" # BOS, from what it held before
st=$(req POST /completion "{$IDP,\"id_slot\":3}")
native_check id_slot_keeps_its_cache "$st == 200 and j['id_slot'] == 3 and j['tokens_cached'] == j['tokens_evaluated'] - 1"
# slot 2 busy with a long stream: a request for it waits for its end, one for any slot does not
curl -s -N --max-time 120 "${AUTH[@]}" -d '{"prompt":"Busy slot","n_predict":96,"ignore_eos":true,"stream":true,"id_slot":2}' \
    "$URL/completion" >"$TMP/busy.sse" 2>&1 &
busy_pid=$!
for _ in $(seq 1 200); do grep -q '^data: ' "$TMP/busy.sse" 2>/dev/null && break; sleep 0.05; done
curl -s --max-time 120 "${AUTH[@]}" -d '{"prompt":"Wants slot two","n_predict":1,"id_slot":2}' "$URL/completion" >"$TMP/wants.json" &
wants_pid=$!
curl -s --max-time 120 "${AUTH[@]}" -d '{"prompt":"Any slot","n_predict":1}' "$URL/completion" >"$TMP/any.json"
ended_before_any=$(grep -c '"stop":true' "$TMP/busy.sse")
wait "$wants_pid"
ended_before_wants=$(grep -c '"stop":true' "$TMP/busy.sse")
wait "$busy_pid"
got=$("$PY" - "$TMP/busy.sse" "$TMP/wants.json" "$TMP/any.json" "$ended_before_any$ended_before_wants" <<'EOF'
import json, sys
busy = [json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("data: ")]
wants, other = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
# the busy stream had not ended when the other request was answered, and had when the one
# waiting for its slot was
print(sys.argv[4] == "01" and busy[-1]["stop"] and busy[-1]["tokens_predicted"] == 96 and busy[-1]["id_slot"] == 2
      and wants["id_slot"] == 2 and wants["tokens_predicted"] == 1 and other["id_slot"] != 2)
EOF
)
if [ "$got" = True ]; then ok id_slot_waits_for_busy_slot; else not_ok id_slot_waits_for_busy_slot "$got: $(head -c 300 "$TMP/wants.json")"; fi
error_case id_slot_out_of_range 400 "'id_slot' = 8: the server's slots are 0 to 7" POST /completion '{"prompt":"a","id_slot":8}'

# ---- shared prompt prefixes: one long system prompt, three requests at once ----------------------
SHARED_SYS="You are assistant $$. $("$PY" -c 'print(" ".join("rule%d: answer briefly." % i for i in range(30)))')"
shared_body() { printf '{"prompt":"%s Question %d?","max_tokens":6,"temperature":0,"ignore_eos":true}' "$SHARED_SYS" "$1"; }
spids=()
for i in 0 1 2; do
    curl -s --max-time 120 "${AUTH[@]}" -d "$(shared_body $i)" "$URL/v1/completions" >"$TMP/shared$i" &
    spids+=($!)
done
wait "${spids[@]}"
got=$("$PY" - "$TMP"/shared0 "$TMP"/shared1 "$TMP"/shared2 <<'EOF'
import json, sys
r = [json.load(open(f)) for f in sys.argv[1:]]
cached = sorted(x["usage"]["prompt_tokens_details"]["cached_tokens"] for x in r)
prompt = r[0]["usage"]["prompt_tokens"]
print(prompt > 150 and cached[0] < 20 and cached[1] >= prompt - 20 and cached[2] >= prompt - 20 or (prompt, cached))
EOF
)
if [ "$got" = True ]; then ok shared_system_prompt_cached; else not_ok shared_system_prompt_cached "$got: $(head -c 300 "$TMP/shared0")"; fi

body_of() { # I STREAM
    printf '{"prompt":"Request number %d: once upon a time","max_tokens":12,"temperature":0,"ignore_eos":true,"stream":%s}' "$1" "$2"
}
for i in 0 1 2 3 4 5 6 7; do
    curl -s --max-time 120 "${AUTH[@]}" -d "$(body_of $i false)" "$URL/v1/completions" >"$TMP/alone$i"
done
pids=()
for i in 0 1 2 3 4 5 6 7; do
    stream=false; [ $((i % 2)) -eq 1 ] && stream=true
    curl -s -N --max-time 180 "${AUTH[@]}" -d "$(body_of $i $stream)" "$URL/v1/completions" >"$TMP/together$i" &
    pids+=($!)
done
wait "${pids[@]}"
same=0
for i in 0 1 2 3 4 5 6 7; do
    a=$(reply_text "$TMP/alone$i" 2>&1) b=$(reply_text "$TMP/together$i" 2>&1)
    if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != '""' ]; then same=$((same + 1)); else echo "    request $i alone: $a"; echo "    together: $b"; fi
done
check eight_clients_identical_to_alone [ $same -eq 8 ]
# /metrics counted them (the counters are updated by the HTTP threads and the engine thread).
st=$(req GET /metrics)
gen=$(awk '$1 == "bitnet_generated_tokens_total" {print $2}' "$TMP/resp")
ok200=$(grep -c '^bitnet_requests_total{endpoint="/v1/completions",status="200"} [0-9]' "$TMP/resp")
check metrics_count_requests [ "$st" = 200 -a "${gen:-0}" -ge 192 -a "$ok200" = 1 ]

# ---- prefix reuse: the next chat turn -----------------------------------------------------------
T1='[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello there"}]'
st=$(req POST /v1/chat/completions "{\"messages\":$T1,\"max_tokens\":6,\"temperature\":0}")
reply=$(json_get 'json.dumps(j["choices"][0]["message"]["content"])' <"$TMP/resp")
p1=$(json_get 'j["usage"]["prompt_tokens"]' <"$TMP/resp")
T2="${T1%]},{\"role\":\"assistant\",\"content\":$reply},{\"role\":\"user\",\"content\":\"And then?\"}]"
st=$(req POST /v1/chat/completions "{\"messages\":$T2,\"max_tokens\":6,\"temperature\":0}")
cached=$(json_get 'j["usage"]["prompt_tokens_details"]["cached_tokens"]' <"$TMP/resp" 2>/dev/null)
if [ "$st" = 200 ] && [ -n "$cached" ] && [ "$cached" -ge $((p1 - 1)) ] && [ "$cached" -gt 0 ]; then ok second_turn_cached; else
    not_ok second_turn_cached "status $st, turn 1 prompt $p1 tokens, turn 2 cached ${cached:-?}: $(head -c 300 "$TMP/resp")"; fi

# ---- a client gone from a plain request -------------------------------------------------------
# Its job stops at once (logged 499), not at the end of its tokens (~250 here, over a second):
# tokens keep coming, and the wait must still look at the socket.
gone() { grep -c ' POST /v1/completions 499 ' "$TMP/a.log"; }
n499=$(gone)
curl -s --max-time 0.3 "${AUTH[@]}" -d '{"prompt":"A plain request left behind:","max_tokens":4000,"temperature":0,"ignore_eos":true}' \
    "$URL/v1/completions" >/dev/null
for _ in $(seq 1 30); do [ "$(gone)" -gt "$n499" ] && break; sleep 0.1; done
if [ "$(gone)" -gt "$n499" ]; then ok plain_client_gone_cancels; else
    not_ok plain_client_gone_cancels "$(grep 'A plain\|POST /v1/completions' "$TMP/a.log" | tail -2)"; fi

# ---- a client killed mid-stream ---------------------------------------------------------------
# A prompt no other test sends: only the killed stream's slot can hold it.
KILLED_PROMPT="A long story, told once ($$):"
LONG="{\"prompt\":\"$KILLED_PROMPT\",\"max_tokens\":200,\"temperature\":0,\"ignore_eos\":true,\"stream\":true}"
# first_data FILE: waits (up to 60 s) until FILE holds a data: line.
first_data() { for _ in $(seq 1 600); do grep -q '^data: ' "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
slot_requests() { req GET /slots >/dev/null; json_get '" ".join(str(s["n_requests"]) for s in j)' <"$TMP/resp"; }
before=$(slot_requests)
curl -s -N --max-time 120 "${AUTH[@]}" -d "$LONG" "$URL/v1/completions" >"$TMP/killed.sse" &
cpid=$!
first_data "$TMP/killed.sse"
{ kill -9 $cpid && wait $cpid; } 2>/dev/null
check killed_client_frees_slot all_idle
after=$(slot_requests)
st=$(req POST /v1/completions "{\"prompt\":\"$KILLED_PROMPT\",\"max_tokens\":2,\"temperature\":0}")
again=$(slot_requests)
# The slot that ran the killed stream holds its prompt: the same prompt goes back to it.
reused=$("$PY" -c "
b, a, g = [list(map(int, s.split())) for s in ('$before', '$after', '$again')]
print(sum(1 for i in range(len(b)) if a[i] == b[i] + 1 and g[i] == a[i] + 1))")
check killed_clients_slot_reused [ "$st" = 200 -a "$reused" = 1 ]
# A stream of three choices (three slots generating side by side) killed mid-way: all three
# cancelled, the slots idle again (the jobs' outputs no longer wake the stream that was freed).
curl -s -N --max-time 120 "${AUTH[@]}" -d "{\"prompt\":\"$KILLED_PROMPT\",\"n\":3,\"max_tokens\":200,\"temperature\":1,\"ignore_eos\":true,\"stream\":true}" \
    "$URL/v1/completions" >"$TMP/killed3.sse" &
cpid=$!
first_data "$TMP/killed3.sse"
{ kill -9 $cpid && wait $cpid; } 2>/dev/null
check killed_choices_stream_frees_slots all_idle
# The same stream read to its end (the TSan run's one of several choices): both choices' texts,
# each with its finish chunk, then [DONE].
curl -s -N --max-time 120 "${AUTH[@]}" -d "{\"prompt\":\"$KILLED_PROMPT\",\"n\":2,\"max_tokens\":16,\"temperature\":1,\"ignore_eos\":true,\"stream\":true}" \
    "$URL/v1/completions" >"$TMP/two.sse"
got=$("$PY" - "$TMP/two.sse" <<'EOF'
import json, sys
events = [l[6:] for l in open(sys.argv[1]).read().split("\n") if l.startswith("data: ")]
finish = [ch["index"] for e in events[:-1] for ch in json.loads(e)["choices"] if ch["finish_reason"]]
print(events[-1:] == ["[DONE]"] and sorted(finish) == [0, 1] or events[-3:])
EOF
)
if [ "$got" = True ]; then ok choices_stream_read_to_end; else not_ok choices_stream_read_to_end "$got"; fi

# ---- SIGTERM with a stream in flight --------------------------------------------------------------
curl -s -N --max-time 120 "${AUTH[@]}" -d "$LONG" "$URL/v1/completions" >"$TMP/term.sse" &
cpid=$!
first_data "$TMP/term.sse"
stop_server TERM
rc=$STOP_RC
wait $cpid 2>/dev/null
check sigterm_exit_0 [ "$rc" = 0 ]
if grep -q '"finish_reason":"stop"' "$TMP/term.sse" && [ "$(grep -v '^$' "$TMP/term.sse" | tail -1)" = 'data: [DONE]' ]; then
    ok sigterm_stream_finished; else not_ok sigterm_stream_finished "$(tail -c 300 "$TMP/term.sse")"; fi
[ "$rc" = 0 ] || tail -20 "$TMP/a.log" | sed 's/^/    /'

# ---- one slot, no queue ---------------------------------------------------------------------------
AUTH=()
if ! start_server "$TMP/b.log" -m "$M" -t 2 -np 1 -c 256 --queue 0 --no-prefill-assistant; then
    not_ok small_server_starts "$(tail -5 "$TMP/b.log")"; kill -9 "$SERVER_PID" 2>/dev/null; exit 1
fi
curl -s -N --max-time 120 -d "$LONG" "$URL/v1/completions" >"$TMP/busy.sse" &
cpid=$!
first_data "$TMP/busy.sse"
expect_error queue_full_503 503 busy POST /v1/completions "$SMALL"
expect_error slots_fail_on_no_slot 503 "no slot available" GET "/slots?fail_on_no_slot=1"
{ kill -9 $cpid && wait $cpid; } 2>/dev/null
check one_slot_freed all_idle
check slots_fail_on_no_slot_idle [ "$(req GET '/slots?fail_on_no_slot=1')" = 200 ]
st=$(req POST /v1/completions "$SMALL")
check one_slot_reused [ "$st" = 200 ]
st=$(req POST /apply-template '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]}')
native_check no_prefill_assistant_closes_it "$st == 200 and j['prompt'] == 'User: Hi\nAssistant: Hello\nAssistant: '"
# llama-server's continue_final_message (with add_generation_prompt false) asks for it there;
# add_generation_prompt false alone leaves the turn unopened
st=$(req POST /apply-template '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}],"add_generation_prompt":false,"continue_final_message":true}')
native_check continue_final_message "$st == 200 and j['prompt'] == 'User: Hi\nAssistant: Hello'"
st=$(req POST /apply-template '{"messages":[{"role":"user","content":"Hi"}],"add_generation_prompt":false}')
native_check add_generation_prompt_false "$st == 200 and j['prompt'] == 'User: Hi\n'"
# Several prompts on one slot and no queue: one job at a time (the next queued once the one
# before was read), not a 503; streamed too.
st=$(req POST /v1/completions '{"prompt":["a","b","c"],"max_tokens":2,"temperature":0}')
native_check several_prompts_one_slot "$st == 200 and [c['index'] for c in j['choices']] == [0, 1, 2] and all(c['finish_reason'] for c in j['choices'])"
curl -s -N --max-time 60 -d '{"prompt":["a","b","c"],"max_tokens":2,"temperature":0,"stream":true}' "$URL/v1/completions" >"$TMP/one_slot.sse"
n_finished=$(grep -c '"finish_reason":"length"' "$TMP/one_slot.sse")
check several_prompts_one_slot_streamed [ "$n_finished" = 3 -a "$(grep -v '^$' "$TMP/one_slot.sse" | tail -1)" = 'data: [DONE]' ]
# The shared-system-prompt requests (above) one at a time in the only slot: the same replies.
same=0
for i in 0 1 2; do
    st=$(req POST /v1/completions "$(shared_body $i)")
    a=$(json_get 'j["choices"][0]["text"]' <"$TMP/resp" 2>&1) b=$(json_get 'j["choices"][0]["text"]' <"$TMP/shared$i" 2>&1)
    if [ "$st" = 200 ] && [ -n "$a" ] && [ "$a" = "$b" ]; then same=$((same + 1)); else echo "    request $i: one slot '$a', shared '$b'"; fi
done
check shared_prefix_same_replies [ $same -eq 3 ]
# The prompt cache in host memory (--cache-ram, on by default): conversation A, then B in the
# only slot, then A's next turn takes A's tokens back (cached_tokens, /metrics), and gives the
# reply it gives when the slot still holds them.
A1="Conversation A ($$): $("$PY" -c 'print(" ".join("fact%d" % i for i in range(25)))')"
st1=$(req POST /v1/completions "{\"prompt\":\"$A1\",\"max_tokens\":6,\"temperature\":0}")
pa=$(json_get 'j["usage"]["prompt_tokens"]' <"$TMP/resp" 2>/dev/null)
A2="$A1$(json_get 'j["choices"][0]["text"]' <"$TMP/resp" 2>/dev/null) And then"
st2=$(req POST /v1/completions "{\"prompt\":\"Conversation B ($$): something else entirely\",\"max_tokens\":6,\"temperature\":0}")
st3=$(req POST /v1/completions "{\"prompt\":$(printf '%s' "$A2" | "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read()))'),\"max_tokens\":6,\"temperature\":0}")
cp "$TMP/resp" "$TMP/turn2.json"
c3=$(json_get 'j["usage"]["prompt_tokens_details"]["cached_tokens"]' <"$TMP/resp" 2>/dev/null)
st4=$(req POST /v1/completions "{\"prompt\":$(printf '%s' "$A2" | "$PY" -c 'import json,sys; print(json.dumps(sys.stdin.read()))'),\"max_tokens\":6,\"temperature\":0}")
same=$(json_get "j['choices'][0]['text'] == json.load(open('$TMP/turn2.json'))['choices'][0]['text']" <"$TMP/resp" 2>&1)
req GET /metrics >/dev/null
restored=$(awk '$1 == "bitnet_prompt_cache_tokens_restored_total" {print $2}' "$TMP/resp")
if [ "$st1$st2$st3$st4" = 200200200200 ] && [ "${c3:-0}" -ge $((pa - 2)) ] && [ "${restored:-0}" -ge $((pa - 2)) ] && [ "$same" = True ]; then
    ok prompt_cache_next_turn; else
    not_ok prompt_cache_next_turn "status $st1 $st2 $st3 $st4, A's prompt ${pa:-?} tokens, next turn cached ${c3:-?}, restored ${restored:-?}, same $same"; fi
# A reply that fills the slot's context ends with finish_reason "length".
fill=$("$PY" -c 'print(",".join(["9906"] * 250))')
st=$(req POST /v1/completions "{\"prompt\":[$fill],\"temperature\":0,\"ignore_eos\":true}")
got=$(json_get '"%s %s" % (j["choices"][0]["finish_reason"], j["usage"]["completion_tokens"])' <"$TMP/resp" 2>/dev/null)
check context_full_is_length [ "$st" = 200 -a "${got% *}" = length -a "${got#* }" -ge 5 -a "${got#* }" -le 7 ]
stop_server INT
rc=$STOP_RC
check sigint_exit_0 [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -20 "$TMP/b.log" | sed 's/^/    /'

# ---- context shift: replies go on past a slot's context ------------------------------------------
# --context-shift --keep 2 on slots of 64 positions: 150 greedy tokens from a 7-token prompt end
# at max_tokens (finish_reason "length", /completion's truncated true), the same twice; the slot
# then holds only the kept start (BOS + 2: the next request's cached_tokens); bad n_keep and
# n_discard are 400s. With --queue 0 and slot 1 busy, a request for slot 1 (id_slot) would
# wait: a 503, while one for any slot runs in slot 0. --cache-reuse 8: after a 40-token prompt
# in slot 1 (another, sharing its first 4 tokens, in slot 0 before it), the same without its
# tokens 4..13 and with 2 new ones goes to slot 1 and takes 30 from it (its first 4 and the 26
# after the gap, moved), and with a request's n_cache_reuse 0 only the first 4.
if ! start_server "$TMP/c.log" -m "$M" -t 2 -np 2 -c 128 --context-shift --keep 2 --queue 0 --cache-reuse 8; then
    not_ok shift_server_starts "$(tail -5 "$TMP/c.log")"; kill -9 "$SERVER_PID" 2>/dev/null; exit 1
fi
SHIFT='"prompt":"Hello there, how are you","temperature":0,"ignore_eos":true'
st1=$(req POST /v1/completions "{$SHIFT,\"max_tokens\":150}")
got1=$(json_get '"%s %s %s" % (j["choices"][0]["finish_reason"], j["usage"]["completion_tokens"], j["choices"][0]["text"])' <"$TMP/resp" 2>&1)
st2=$(req POST /v1/completions "{$SHIFT,\"max_tokens\":150}")
got2=$(json_get '"%s %s %s" % (j["choices"][0]["finish_reason"], j["usage"]["completion_tokens"], j["choices"][0]["text"])' <"$TMP/resp" 2>&1)
cached=$(json_get 'j["usage"]["prompt_tokens_details"]["cached_tokens"]' <"$TMP/resp" 2>&1)
if [ "$st1$st2" = 200200 ] && [ "${got1:0:11}" = "length 150 " ] && [ "$got1" = "$got2" ] && [ "$cached" = 3 ]; then
    ok context_shift_goes_on; else not_ok context_shift_goes_on "status $st1 $st2, '${got1:0:40}' vs '${got2:0:40}', cached $cached"; fi
st=$(req POST /completion "{$SHIFT,\"n_predict\":100,\"n_keep\":-1,\"n_discard\":7}")
check context_shift_native_truncated [ "$st" = 200 -a "$(json_get '"%s %s %s" % (j["tokens_predicted"], j["truncated"], j["stop_type"])' <"$TMP/resp" 2>&1)" = "100 True limit" ]
# generation_settings: the request's n_keep and n_discard; /props: the server's --keep
check context_shift_settings_say_n_keep [ "$(json_get '"%s %s" % (j["generation_settings"]["n_keep"], j["generation_settings"]["n_discard"])' <"$TMP/resp" 2>&1)" = "-1 7" ]
st=$(req GET /props)
check context_shift_props_say_keep [ "$st" = 200 -a "$(json_get '"%s %s" % (j["default_generation_settings"]["params"]["n_keep"], j["default_generation_settings"]["params"]["n_discard"])' <"$TMP/resp" 2>&1)" = "2 0" ]
expect_error context_shift_bad_n_keep 400 "'n_keep' must be between -1" POST /v1/completions "{$SHIFT,\"n_keep\":-2}"
expect_error context_shift_bad_n_discard 400 "'n_discard' must be an integer" POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"n_discard":"half"}'
curl -s -N --max-time 120 -d "{$SHIFT,\"n_predict\":2000,\"id_slot\":1,\"stream\":true}" "$URL/completion" >"$TMP/slot1.sse" &
cpid=$!
first_data "$TMP/slot1.sse"
expect_error id_slot_busy_no_queue_503 503 "asks for a busy slot" POST /completion '{"prompt":"a","n_predict":1,"id_slot":1}'
st=$(req POST /completion '{"prompt":"a","n_predict":1}')
native_check id_slot_free_slot_still_served "$st == 200 and j['id_slot'] == 0"
{ kill -9 $cpid && wait $cpid; } 2>/dev/null
all_idle
REUSE1=$("$PY" -c 'print(list(range(1000, 1040)))')
REUSE2=$("$PY" -c 'p = list(range(1000, 1040)); print(p[:4] + p[14:] + [2000, 2001])')
REUSE_OTHER=$("$PY" -c 'print(list(range(1000, 1004)) + list(range(3000, 3036)))')
st=$(req POST /completion "{\"prompt\":$REUSE_OTHER,\"n_predict\":4,\"id_slot\":0}")
st=$(req POST /completion "{\"prompt\":$REUSE1,\"n_predict\":4,\"id_slot\":1}")
native_check cache_reuse_first "$st == 200 and j['tokens_evaluated'] == 40 and j['tokens_cached'] == 0"
st=$(req POST /completion "{\"prompt\":$REUSE2,\"n_predict\":4}") # its slot, not the least recently used
native_check cache_reuse_moves_runs "$st == 200 and j['id_slot'] == 1 and j['tokens_evaluated'] == 32 and j['tokens_cached'] == 30 and j['tokens_predicted'] == 4"
st=$(req POST /completion "{\"prompt\":$REUSE2,\"n_predict\":4,\"id_slot\":1,\"n_cache_reuse\":0}")
native_check cache_reuse_off_takes_exact_prefix "$st == 200 and j['tokens_cached'] == 4"
expect_error cache_reuse_negative 400 "'n_cache_reuse' must be between 0" POST /completion '{"prompt":"a","n_cache_reuse":-1}'
stop_server TERM
check context_shift_server_exit_0 [ "$STOP_RC" = 0 ]
check context_shift_said_on grep -q 'cache reuse runs of 8+, context shift on; ready' "$TMP/c.log"

# ---- seeded default sampling: the screened head and the whole head draw the same tokens ----------
# heads_run HEAD: the completion texts of four seeded requests (temperature draws without
# top_k: the screened head's Gumbel screen, docs/KERNELS.md; the last with a logit bias) and
# two constrained ones (a grammar, greedy; json_object, top-k: their likeliest tokens checked
# in the head) on a server with --lm-head HEAD.
heads_run() {
    start_server "$TMP/h-$1.log" -m "$M" -t 2 -np 2 -c 256 --lm-head "$1" || return 1
    local body rc=0
    for body in '{"prompt":"The sea","max_tokens":24,"temperature":1,"seed":5,"ignore_eos":true}' \
                '{"prompt":[9906,1917],"max_tokens":24,"temperature":0.7,"min_p":0.05,"seed":6,"ignore_eos":true}' \
                '{"prompt":"Once","max_tokens":24,"temperature":1.2,"presence_penalty":0.5,"seed":7,"ignore_eos":true}' \
                '{"prompt":"The sea","max_tokens":24,"temperature":0.8,"seed":8,"ignore_eos":true,"logit_bias":{"279":4,"13":-100,"323":false}}' \
                '{"prompt":"The sea","max_tokens":24,"temperature":0,"grammar":"root ::= [a-z ]+","ignore_eos":true}' \
                '{"prompt":"Once","max_tokens":24,"temperature":0.8,"top_k":5,"seed":9,"response_format":{"type":"json_object"}}'; do
        [ "$(req POST /v1/completions "$body")" = 200 ] || { rc=1; break; } # (the server must stop: it holds this $(...)'s pipe)
        json_get 'j["choices"][0]["text"]' <"$TMP/resp" | od -An -tx1 | tr -d ' \n'
        echo
    done
    [ $rc = 0 ] && [ "$(req GET /metrics)" = 200 ] || rc=1
    grep -E '^bitnet_(lm_head_rows|constraint_draws)_total\{' "$TMP/resp" | tr '\n' ' ' >"$TMP/heads-$1.metrics"
    stop_server TERM
    [ $rc = 0 ] && [ "$STOP_RC" = 0 ]
}
AUTH=()
# A numerics check, run in the plain build only (test_serve_sanitizers: two more servers cost
# ~45 s under the sanitizers, and their main server already serves with the screened head).
if [ "${BITNET_BUILD:-build}" = build ]; then
screened= whole=
screened=$(heads_run screen) && whole=$(heads_run model) && [ "$(echo "$screened" | grep -c .)" = 6 ]
if [ $? = 0 ] && [ "$screened" = "$whole" ]; then ok seeded_draws_same_with_both_heads; else
    not_ok seeded_draws_same_with_both_heads "screen: $(echo "$screened" | head -c 200) model: $(echo "$whole" | head -c 200)"
    kill -9 "$SERVER_PID" 2>/dev/null; fi
# /metrics says how the head served them: the 96 logits rows (4 x 24) of the first four
# screened (or fallen back) with the screened head; the constrained ones' rows screened, fallen
# back (the constraint refused the row's best tokens) or plain (after such a row), 144 in all
# (the json_object reply may close its object early: at least 121); nothing counted with the plain
# head. Both servers count the same constrained draws by how they were masked.
head_way() { sed -n "s/.*_rows_total{way=\"$2\"} \([0-9]*\).*/\1/p" "$TMP/heads-$1.metrics" 2>/dev/null; }
mask_ways() { grep -o 'constraint_draws_total{way="[a-z]*"} [0-9]*' "$TMP/heads-$1.metrics" 2>/dev/null | tr '\n' ' '; }
s=$(head_way screen screened) f=$(head_way screen fallback) p=$(head_way screen plain)
if [ -n "$s" ] && [ $((s + f + p)) -ge 121 ] && [ $((s + f + p)) -le 144 ] && [ $((s + f)) -ge 96 ] && [ "$p" -le 48 ] &&
    [ "$(grep -o 'bitnet_lm_head_rows_total{[^ ]* [0-9]*' "$TMP/heads-model.metrics" | tr '\n' ' ')" = \
    'bitnet_lm_head_rows_total{way="screened"} 0 bitnet_lm_head_rows_total{way="fallback"} 0 bitnet_lm_head_rows_total{way="plain"} 0 ' ] &&
    [ "$(mask_ways screen)" = "$(mask_ways model)" ] && [ "$(mask_ways screen | grep -c 'best"} [1-9]')" = 1 ]; then
    ok metrics_count_head_rows
else not_ok metrics_count_head_rows "screen: $(cat "$TMP/heads-screen.metrics" 2>&1) model: $(cat "$TMP/heads-model.metrics" 2>&1)"; fi
fi

# ---- sanitizer builds: no report in any server's log ----------------------------------------------
logs=("$TMP/a.log" "$TMP/b.log")
[ -f "$TMP/h-screen.log" ] && logs+=("$TMP/h-screen.log" "$TMP/h-model.log")
sanitizer_reports no_sanitizer_reports "${logs[@]}"
exit 0
