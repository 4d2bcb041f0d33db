#!/usr/bin/env bash
# test_serve: bitnet-server end to end on a small generated model with the real LLaMA-3
# vocabulary, all traffic to 127.0.0.1, every client bounded by a timeout:
#   - arguments: --help, a bad option (exit 2), a missing model (exit 1); `bitnet serve` runs
#     the server beside it, or says how to build it when it is missing;
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
#     of its values; a grammar that does not compile or comes beside response_format is
#     refused, a streamed grammar reply follows it;
#   - "samplers": a part of the default order equals the request with the others off (unknown
#     names skipped); another order runs as given, and is reported; more than 32 refused;
#     adaptive-p named there changes the tokens, repeats, is reported; a bad decay refused;
#   - /infill, the rerank routes and POST /props: 501 saying what is not implemented; GET
#     /lora-adapters an empty list; one metrics label per path;
#   - llama-server's other samplers (mirostat 2, XTC, typical_p with top_n_sigma, min_keep, DRY): a
#     seeded request repeats itself, differs from the same without them, generation_settings
#     reports them; n_indent (not offered) and a bad mirostat refused on the chat route too, bad
#     DRY breakers and XTC values on the Responses and Messages routes (passed on);
#   - llama-server's n_cmpl: an array of replies, each the one its seed gives alone, streamed
#     completion after completion;
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
#     same choices (chunks by index, one choice after another); more than the slots a 400; the
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
#     and streamed, include_usage, stop, logprobs (echoed with the prompt's too), logit_bias, response_format json_object and
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
#   - a client killed mid-stream frees its slot (/slots), which serves the next request; one
#     that leaves a plain request stops its job at once (499), not at the reply's end;
#     with one slot and --queue 0 a second request gets 503 meanwhile; the prompt cache in host
#     memory gives a conversation's next turn its tokens back after another took the slot; a reply that fills the
#     slot's context ends with finish_reason "length"; with --context-shift it goes on to max_tokens
#     (the same reply twice, /completion's truncated, the slot keeps the start --keep names; bad
#     n_keep / n_discard refused);
#   - SIGTERM with a stream in flight: the stream ends with a finish chunk and [DONE], exit 0;
#   - seeded requests with OpenAI's default sampling (temperature, no top_k, top_p 1; min_p
#     too; a logit_bias) give the same tokens with the screened head (the default) and --lm-head
#     model (plain build only).
# BITNET_BUILD selects the build (test_serve_sanitizers.sh runs this with the ASan and TSan ones).
# TEST_LONG=80: tests/run_tests.sh starts it early (seconds on 2 cores, the longest first).
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
# native_check NAME PYTHON-EXPRESSION: a check over the last reply (j) that prints True.
native_check() {
    local got
    got=$(json_get "$2" <"$TMP/resp" 2>&1)
    if [ "$got" = True ]; then ok "$1"; else not_ok "$1" "$got: $(head -c 300 "$TMP/resp")"; fi
}
NATIVE='"prompt":"Once upon a time","n_predict":8,"temperature":0,"ignore_eos":true'
req POST /v1/completions '{"prompt":"Once upon a time","max_tokens":8,"temperature":0,"ignore_eos":true}' >/dev/null
cp "$TMP/resp" "$TMP/openai.json"
st=$(req POST /completion "{$NATIVE,\"n_probs\":2,\"return_tokens\":true}")
cp "$TMP/resp" "$TMP/native.json"
native_check native_completion "$st == 200 and j['content'] == json.load(open('$TMP/openai.json'))['choices'][0]['text'] and j['stop'] is True and j['stop_type'] == 'limit' and j['tokens_predicted'] == 8 and len(j['tokens']) == 8 and j['tokens_evaluated'] == 5 and j['prompt'] == '<|begin_of_text|>Once upon a time' and j['generation_settings']['n_predict'] == 8 and j['generation_settings']['top_k'] == 40 and j['model'] == 'test-model' and j['timings']['predicted_n'] == 8"
native_check native_probabilities "len(j['completion_probabilities']) == 8 and all(p['id'] == t and len(p['top_logprobs']) == 2 and p['top_logprobs'][0]['id'] == t for p, t in zip(j['completion_probabilities'], j['tokens']))"
st=$(req POST /detokenize "{\"tokens\":$(json_get 'json.dumps(j["tokens"])' <"$TMP/native.json")}")
native_check native_tokens_are_content "j['content'] == json.load(open('$TMP/native.json'))['content']"
# response_fields: the final reply keeps the paths that lead somewhere, each under its path
# (plain and the stream's last event); not an array of strings: a 400
FIELDS='"response_fields":["content","generation_settings/n_predict","timings/predicted_n","no/such","content/x"]'
st=$(req POST /completion "{$NATIVE,$FIELDS}")
native_check native_response_fields "$st == 200 and sorted(j) == ['content', 'generation_settings/n_predict', 'timings/predicted_n'] and j['content'] == json.load(open('$TMP/native.json'))['content'] and j['generation_settings/n_predict'] == 8 and j['timings/predicted_n'] == 8"
curl -s -N --max-time 60 "${AUTH[@]}" -d "{$NATIVE,$FIELDS,\"stream\":true}" "$URL/completion" >"$TMP/fields.sse"
got=$("$PY" -c 'import json,sys; ev=[json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("data: ")]; print(sorted(ev[-1]) == ["content", "generation_settings/n_predict", "timings/predicted_n"] and all("content" in e and "stop" in e for e in ev[:-1]))' "$TMP/fields.sse" 2>&1)
if [ "$got" = True ]; then ok native_response_fields_streamed; else not_ok native_response_fields_streamed "$got: $(tail -c 300 "$TMP/fields.sse")"; fi
error_case response_fields_type 400 "'response_fields' must be an array of strings" POST /completion '{"prompt":"a","response_fields":"content"}'
# a stop string that starts with the first token's text holds that text back until the next
# token: the first token's id must still come, with the next piece's
hold=$(json_get 'json.dumps(bytes(j["completion_probabilities"][0]["bytes"]).decode() + "\u0001")' <"$TMP/native.json" 2>/dev/null || echo '"\u0001"')
curl -s -N --max-time 60 "${AUTH[@]}" -d "{$NATIVE,\"stream\":true,\"stop\":[$hold]}" "$URL/completions" >"$TMP/native.sse"
got=$("$PY" - "$TMP/native.sse" "$TMP/native.json" <<'EOF'
import json, sys
events = [json.loads(l[6:]) for l in open(sys.argv[1]).read().splitlines() if l.startswith("data: ")]
whole = json.load(open(sys.argv[2]))
pieces, last = events[:-1], events[-1]
print(all(not e["stop"] for e in pieces) and last["stop"] and last["content"] == "" and last["stop_type"] == "limit"
      and "".join(e["content"] for e in pieces) == whole["content"] and sum((e["tokens"] for e in pieces), []) == whole["tokens"]
      and any(len(e["tokens"]) > 1 for e in pieces) and "[DONE]" not in open(sys.argv[1]).read())
EOF
)
check native_stream_same_as_whole [ "$got" = True ]
word=$(json_get 'json.dumps(j["content"][-4:], ensure_ascii=False)' <"$TMP/native.json")
st=$(req POST /completion "{$NATIVE,\"stop\":[\"\\u0001\",$word]}")
native_check native_stopping_word "$st == 200 and j['stop_type'] == 'word' and j['stopping_word'] == $word and j['content'] + $word == json.load(open('$TMP/native.json'))['content'][:len(j['content']) + len($word)]"
st=$(req POST /completion '{"prompt":[9906," world"],"n_predict":0}')
native_check native_prompt_only_mixed "$st == 200 and j['content'] == '' and j['tokens_predicted'] == 0 and j['prompt'] == 'Hello world' and j['tokens_evaluated'] == 2"
st=$(req POST /completion '{"prompt":"Tell me","n_predict":6,"typical_p":1,"mirostat":0,"dry_multiplier":0,"xtc_probability":0}')
seed=$(json_get 'j["generation_settings"]["seed"]' <"$TMP/resp")
cp "$TMP/resp" "$TMP/sampled.json"
st=$(req POST /completion "{\"prompt\":\"Tell me\",\"n_predict\":6,\"seed\":$seed}")
native_check native_reported_seed_repeats "$st == 200 and j['content'] == json.load(open('$TMP/sampled.json'))['content'] and j['generation_settings']['seed'] == $seed"
# llama-server's other samplers reach the engine: a seeded mirostat 2 / XTC / typical / min_keep
# request repeats itself, differs from the same request without them, and generation_settings
# reports them.
OTHER='"prompt":"Tell me","n_predict":8,"seed":7,"temperature":1,"top_k":0,"top_p":1,"min_p":0,"ignore_eos":true,"return_tokens":true'
req POST /completion "{$OTHER}" >/dev/null && cp "$TMP/resp" "$TMP/plain_sampled.json"
for extra in '"mirostat":2,"mirostat_tau":2' '"xtc_probability":1,"xtc_threshold":0.01,"top_k":40' '"typical_p":0.3,"top_n_sigma":1' \
    '"min_p":0.9,"min_keep":30'; do
    name=$(echo "$extra" | sed 's/"\([a-z_]*\)".*/\1/')
    req POST /completion "{$OTHER,$extra}" >/dev/null && cp "$TMP/resp" "$TMP/other1.json"
    st=$(req POST /completion "{$OTHER,$extra}")
    native_check "other_sampler_$name" "$st == 200 and j['tokens'] == json.load(open('$TMP/other1.json'))['tokens'] and len(j['tokens']) == 8 and j['tokens'] != json.load(open('$TMP/plain_sampled.json'))['tokens'] and all(abs(j['generation_settings'][k] - v) < 1e-6 for k, v in {$extra}.items())"
done
# "samplers": a part of llama.cpp's order is the request with the others off (top_k alone and
# the temperature: the same tokens as top_k with top_p 1 and min_p 0; an unknown name is
# skipped, as llama-server does); another order runs as given (temperature 3 before top_p 0.5:
# other tokens than after it, repeated by the same seed, and reported); more than 32 is a 400
SEEDED='"prompt":"Tell me","n_predict":8,"seed":3,"temperature":1,"ignore_eos":true,"return_tokens":true'
req POST /completion "{$SEEDED,\"top_k\":20,\"top_p\":1,\"min_p\":0}" >/dev/null && cp "$TMP/resp" "$TMP/topk_only.json"
st=$(req POST /completion "{$SEEDED,\"top_k\":20,\"samplers\":[\"top_k\",\"temperature\"]}")
native_check sampler_order_subset "$st == 200 and j['tokens'] == json.load(open('$TMP/topk_only.json'))['tokens'] and j['generation_settings']['samplers'] == ['top_k', 'temperature']"
st=$(req POST /completion "{$SEEDED,\"top_k\":20,\"samplers\":[\"top_k\",\"no_such\",\"temperature\"]}")
native_check sampler_order_unknown_skipped "$st == 200 and j['tokens'] == json.load(open('$TMP/topk_only.json'))['tokens']"
req POST /completion "{$SEEDED,\"temperature\":3,\"top_p\":0.5,\"samplers\":\"pt\"}" >/dev/null && cp "$TMP/resp" "$TMP/top_p_first.json"
req POST /completion "{$SEEDED,\"temperature\":3,\"top_p\":0.5,\"samplers\":\"tp\"}" >/dev/null && cp "$TMP/resp" "$TMP/temp_first.json"
st=$(req POST /completion "{$SEEDED,\"temperature\":3,\"top_p\":0.5,\"samplers\":[\"temperature\",\"top_p\"]}")
native_check sampler_order_another "$st == 200 and j['tokens'] == json.load(open('$TMP/temp_first.json'))['tokens'] and j['tokens'] != json.load(open('$TMP/top_p_first.json'))['tokens'] and j['generation_settings']['samplers'] == ['temperature', 'top_p']"
# adaptive-p: named in samplers, other tokens than without, repeated, reported; a bad decay is a 400
req POST /completion "{$SEEDED,\"samplers\":[\"min_p\",\"temperature\"]}" >/dev/null && cp "$TMP/resp" "$TMP/no_adaptive.json"
req POST /completion "{$SEEDED,\"adaptive_target\":0.1,\"samplers\":\"mta\"}" >/dev/null && cp "$TMP/resp" "$TMP/adaptive1.json"
st=$(req POST /completion "{$SEEDED,\"adaptive_target\":0.1,\"samplers\":[\"min_p\",\"temperature\",\"adaptive_p\"]}")
native_check adaptive_p "$st == 200 and j['tokens'] == json.load(open('$TMP/adaptive1.json'))['tokens'] and j['tokens'] != json.load(open('$TMP/no_adaptive.json'))['tokens'] and abs(j['generation_settings']['adaptive_target'] - 0.1) < 1e-6 and j['generation_settings']['samplers'][-1] == 'adaptive_p'"
error_case adaptive_decay_refused 400 "'adaptive_decay'" POST /v1/chat/completions '{"messages":[{"role":"user","content":"a"}],"adaptive_decay":1}'
st=$(req POST /v1/chat/completions '{"messages":[{"role":"user","content":"a"}],"max_tokens":2,"samplers":"tkt"}')
check sampler_order_chat_route [ "$st" = 200 ]
error_case sampler_order_too_long 400 "more than 32 samplers" POST /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"samplers\":\"$(printf 'k%.0s' $(seq 33))\"}"
error_case min_keep_negative 400 "'min_keep' must be between 0" POST /v1/chat/completions '{"messages":[{"role":"user","content":"a"}],"min_keep":-1}'
# DRY on a greedy reply (which repeats itself on this random model): other tokens, settings reported
GREEDY='"prompt":"Tell me","n_predict":32,"temperature":0,"ignore_eos":true,"return_tokens":true'
req POST /completion "{$GREEDY}" >/dev/null && cp "$TMP/resp" "$TMP/greedy32.json"
st=$(req POST /completion "{$GREEDY,\"dry_multiplier\":3,\"dry_allowed_length\":1,\"dry_sequence_breakers\":[\"END\"]}")
native_check other_sampler_dry "$st == 200 and len(j['tokens']) == 32 and j['tokens'] != json.load(open('$TMP/greedy32.json'))['tokens'] and j['generation_settings']['dry_multiplier'] == 3 and j['generation_settings']['dry_sequence_breakers'] == ['END']"
# llama-server's strings in logit_bias: each of the string's tokens gets the bias. Banning the
# text of the greedy reply's first token changes the reply: none of its tokens comes, the
# same as a pair and as an object key.
ban=$(json_get 'json.dumps(bytes(j["completion_probabilities"][0]["bytes"]).decode())' <"$TMP/native.json" 2>/dev/null || echo '"?"')
req POST /tokenize "{\"content\":$ban}" >/dev/null
banned=$(json_get 'j["tokens"]' <"$TMP/resp" 2>/dev/null || echo '[]')
st=$(req POST /completion "{$NATIVE,\"return_tokens\":true,\"logit_bias\":[[$ban,false]]}")
cp "$TMP/resp" "$TMP/banned.json"
native_check logit_bias_string_ban "$st == 200 and json.load(open('$TMP/native.json'))['tokens'][0] in $banned and len(j['tokens']) == 8 and not set(j['tokens']) & set($banned)"
st=$(req POST /v1/completions "{\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"temperature\":0,\"ignore_eos\":true,\"logit_bias\":{$ban:false}}")
native_check logit_bias_string_key_ban "$st == 200 and j['choices'][0]['text'] == json.load(open('$TMP/banned.json'))['content']"
error_case native_prompt_object 400 "'prompt[1]' must be a string" POST /completion '{"prompt":["a",{"b":1}]}'
error_case native_absent_sampler 400 "'n_indent' = 2" POST /completion '{"prompt":"a","n_indent":2}'
error_case chat_absent_sampler 400 "'n_indent' = 2" POST /v1/chat/completions '{"messages":[{"role":"user","content":"a"}],"n_indent":2}'
error_case chat_bad_mirostat 400 "'mirostat' must be between 0 and 2" POST /v1/chat/completions '{"messages":[{"role":"user","content":"a"}],"mirostat":5}'
# the Responses and Messages routes pass llama-server's sampler fields on to the chat request
error_case responses_bad_dry 400 "'dry_sequence_breakers' must be an array" POST /v1/responses '{"input":"a","dry_sequence_breakers":"x"}'
st=$(req POST /v1/messages '{"max_tokens":4,"messages":[{"role":"user","content":"a"}],"xtc_probability":3}')
check messages_bad_xtc [ "$st" = 400 -a "$(json_get '"xtc_probability" in j["error"]["message"]' <"$TMP/resp" 2>&1)" = True ]
error_case native_n_predict_range 400 n_predict POST /completion '{"prompt":"a","n_predict":-2}'
# post_sampling_probs: the probabilities of the distributions the tokens were drawn from ("prob",
# "top_probs"; the same tokens as without): greedy, each token alone with 1; top-k 3 at
# temperature 1, at most 3 listed, best first, summing to 1, the token among them; chat alike
req POST /completion "{$NATIVE,\"n_probs\":4,\"post_sampling_probs\":true,\"return_tokens\":true}" >/dev/null && cp "$TMP/resp" "$TMP/post_greedy.json"
native_check native_post_sampling_greedy "j['tokens'] == json.load(open('$TMP/native.json'))['tokens'] and all(p['prob'] == 1 and len(p['top_probs']) == 1 and p['top_probs'][0]['id'] == p['id'] == t for p, t in zip(j['completion_probabilities'], j['tokens'])) and j['generation_settings']['post_sampling_probs'] is True"
POST_SEEDED='"prompt":"Once upon a time","n_predict":8,"temperature":1,"top_k":3,"seed":5,"ignore_eos":true,"return_tokens":true'
req POST /completion "{$POST_SEEDED}" >/dev/null && cp "$TMP/resp" "$TMP/post_plain.json"
st=$(req POST /completion "{$POST_SEEDED,\"n_probs\":5,\"post_sampling_probs\":true}")
native_check native_post_sampling_top_k "$st == 200 and j['tokens'] == json.load(open('$TMP/post_plain.json'))['tokens'] and all(len(p['top_probs']) <= 3 and abs(sum(a['prob'] for a in p['top_probs']) - 1) < 1e-4 and all(a['prob'] >= b['prob'] for a, b in zip(p['top_probs'], p['top_probs'][1:])) and p['id'] in [a['id'] for a in p['top_probs']] and 'logprob' not in p for p in j['completion_probabilities'])"
st=$(req POST /v1/chat/completions '{"messages":[{"role":"user","content":"a"}],"max_tokens":4,"temperature":0,"logprobs":true,"top_logprobs":2,"post_sampling_probs":true}')
check chat_post_sampling_probs [ "$st" = 200 -a "$(json_get 'all(e["prob"] == 1 and len(e["top_probs"]) == 1 for e in j["choices"][0]["logprobs"]["content"])' <"$TMP/resp" 2>&1)" = True ]
# llama-server's endpoints for what this engine does not do: 501 saying so (not a 404), one
# metrics label per path whatever the method; GET /lora-adapters lists none
expect_error infill_not_offered 501 'fill-in-the-middle' POST /infill '{"input_prefix":"a","input_suffix":"b"}'
expect_error rerank_not_offered 501 'reranking is not implemented' POST /v1/rerank '{"query":"a","documents":["b"]}'
expect_error props_post_not_offered 501 'does not change its properties' POST /props '{}'
st=$(req GET /lora-adapters)
check lora_adapters_none [ "$st" = 200 -a "$(cat "$TMP/resp")" = '[]' ]
req GET /metrics >/dev/null
check metrics_one_label_per_path [ "$(grep -c 'bitnet_requests_total{endpoint="/props",status="501"}' "$TMP/resp")" = 1 -a \
    "$(grep -c '^bitnet_requests_total{endpoint="/lora-adapters",status="200"}' "$TMP/resp")" = 1 ]
error_case responses_stored 400 "'previous_response_id' is not supported" POST /v1/responses '{"input":"Hi","previous_response_id":"resp_1"}'
error_case responses_input_item 400 "'input[0]': items of type 'reasoning'" POST /v1/responses '{"input":[{"type":"reasoning"}]}'
error_case responses_tool_type 400 "only function tools" POST /v1/responses '{"input":"Hi","tools":[{"type":"web_search"}]}'
st=$(req GET /props)
native_check props "$st == 200 and j['total_slots'] == 8 and j['default_generation_settings']['n_ctx'] == 256 and j['default_generation_settings']['params']['temperature'] > 0.79 and j['chat_format'] == 'llama3'"
st=$(req POST /apply-template '{"messages":[{"role":"user","content":"Hi"}]}')
native_check apply_template "$st == 200 and j['prompt'] == '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'"
# an assistant prefill (llama-server's and Anthropic's): a conversation that ends with an
# assistant message is continued from it: the prompt stops inside that message, and the greedy
# reply is the completion of that prompt's text; two assistant messages at the end, or a
# prefill with tools, are refused; the Messages API continues it too
PREFILL='"messages":[{"role":"user","content":"Count to five."},{"role":"assistant","content":"1, 2,"}]'
st=$(req POST /apply-template "{$PREFILL}")
native_check prefill_template "$st == 200 and j['prompt'] == '<|start_header_id|>user<|end_header_id|>\n\nCount to five.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n1, 2,'"
PREFILL_PROMPT=$(json_get 'json.dumps(j["prompt"])' <"$TMP/resp" 2>/dev/null || echo '""')
st=$(req POST /v1/completions "{\"prompt\":$PREFILL_PROMPT,\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true}")
cp "$TMP/resp" "$TMP/prefill_completion.json"
st=$(req POST /v1/chat/completions "{$PREFILL,\"max_tokens\":6,\"temperature\":0,\"ignore_eos\":true}")
native_check prefill_continues "$st == 200 and j['choices'][0]['message']['content'] == json.load(open('$TMP/prefill_completion.json'))['choices'][0]['text'] and j['usage']['completion_tokens'] == 6"
st=$(req POST /v1/messages "{\"max_tokens\":6,\"temperature\":0,$PREFILL}")
native_check prefill_messages_api "$st == 200 and j['content'][0]['text'] == json.load(open('$TMP/prefill_completion.json'))['choices'][0]['text']"
error_case prefill_two_assistants 400 "two assistant messages" POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"A"},{"role":"assistant","content":"B"}]}'
error_case prefill_with_tools 400 "assistant prefill" POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"A"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}'
# Slot files: the slot that ran a prompt is saved, erased, restored; the same prompt then finds
# its tokens cached there and gets the same reply. Bad names, actions and files are refused.
SLOTQ='"prompt":"A prompt kept in a slot file","n_predict":4,"temperature":0'
st=$(req POST /completion "{$SLOTQ}")
cp "$TMP/resp" "$TMP/slot_first.json"
slot=$(json_get 'j["id_slot"]' <"$TMP/resp" 2>/dev/null || echo 0)
st=$(req POST "/slots/$slot?action=save" '{"filename":"kept.bin"}')
native_check slot_save "$st == 200 and j['id_slot'] == $slot and j['n_saved'] >= 8 and j['n_written'] > 0 and j['filename'] == 'kept.bin'"
saved=$(json_get 'j["n_saved"]' <"$TMP/resp" 2>/dev/null || echo -1)
st=$(req POST "/slots/$slot?action=erase" '{}')
native_check slot_erase "$st == 200 and j['n_erased'] == $saved"
st=$(req POST "/slots/$slot?action=restore" '{"filename":"kept.bin"}')
native_check slot_restore "$st == 200 and j['n_restored'] == $saved"
st=$(req POST /completion "{$SLOTQ}")
native_check slot_restored_is_reused "$st == 200 and j['id_slot'] == $slot and j['tokens_cached'] > 0 and j['content'] == json.load(open('$TMP/slot_first.json'))['content']"
printf 'not a slot file' >"$TMP/slots/junk.bin"
error_case slot_junk_file 400 "junk.bin: not a slot file" POST "/slots/$slot?action=restore" '{"filename":"junk.bin"}'
error_case slot_missing_file 404 "missing.bin: cannot open" POST "/slots/$slot?action=restore" '{"filename":"missing.bin"}'
error_case slot_bad_filename 400 "'filename' must be a file name" POST "/slots/$slot?action=save" '{"filename":"../up.bin"}'
error_case slot_bad_action 400 "'action' must be save, restore or erase" POST "/slots/$slot?action=fly" '{}'
error_case slot_bad_id 400 "invalid slot id '99'" POST "/slots/99?action=erase" '{}'

# Embeddings: the server's vector (mean pooling, length 1) is `bitnet embed`'s for the same
# text (the same engine; the crossval test compares that one with llama.cpp), in both shapes.
"$BITNET" embed -m "$M" -p "Once upon a time" -t 2 >"$TMP/embed.txt" 2>"$TMP/embed.err"
st=$(req POST /v1/embeddings '{"input":["Once upon a time","Hi"],"encoding_format":"float"}')
native_check embeddings_equal_cli "$st == 200 and j['object'] == 'list' and len(j['data']) == 2 and j['data'][1]['index'] == 1 and max(abs(a - float(b)) for a, b in zip(j['data'][0]['embedding'], open('$TMP/embed.txt').read().split())) < 1e-5 and len(j['data'][0]['embedding']) == len(open('$TMP/embed.txt').read().split())"
cp "$TMP/resp" "$TMP/embed.json"
st=$(req POST /embedding '{"content":"Once upon a time"}')
native_check embedding_llama_shape "$st == 200 and len(j) == 1 and len(j[0]['embedding']) == 1 and j[0]['embedding'][0] == json.load(open('$TMP/embed.json'))['data'][0]['embedding']"
error_case embeddings_no_input 400 '"input" or "content" must be provided' POST /v1/embeddings '{"model":"m"}'
error_case embeddings_dimensions 400 "'dimensions' must be this model's embedding size" POST /v1/embeddings '{"input":"a","dimensions":64}'
# OpenAI's "n": n choices of one request, choice i the reply a lone request with seed + i gets;
# more choices than slots, or with stream, is a 400.
st=$(req POST /v1/completions '{"prompt":"Hi","n":3,"max_tokens":5,"seed":6,"temperature":1,"ignore_eos":true}')
cp "$TMP/resp" "$TMP/choices.json"
st1=$(req POST /v1/completions '{"prompt":"Hi","max_tokens":5,"seed":8,"temperature":1,"ignore_eos":true}')
native_check n_choices "$st == 200 and $st1 == 200 and [c['index'] for c in json.load(open('$TMP/choices.json'))['choices']] == [0, 1, 2] and json.load(open('$TMP/choices.json'))['choices'][2]['text'] == j['choices'][0]['text'] and json.load(open('$TMP/choices.json'))['usage']['completion_tokens'] == 15"
error_case n_more_than_slots 400 "is more than the server's 8 slots" POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"n":9}'
curl -s -N --max-time 60 "${AUTH[@]}" -d '{"prompt":"Hi","n":3,"max_tokens":5,"seed":6,"temperature":1,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}' \
    "$URL/v1/completions" >"$TMP/choices.sse"
got=$("$PY" - "$TMP/choices.sse" "$TMP/choices.json" <<'EOF'
import json, sys
events = [l[6:] for l in open(sys.argv[1]).read().split("\n") if l.startswith("data: ")]
chunks = [json.loads(e) for e in events[:-1]]
text, finish = {}, {}
for c in chunks:
    for ch in c["choices"]:
        text[ch["index"]] = text.get(ch["index"], "") + ch["text"]
        if ch["finish_reason"]: finish[ch["index"]] = ch["finish_reason"]
whole = json.load(open(sys.argv[2]))
want = {ch["index"]: ch["text"] for ch in whole["choices"]}
usage = chunks[-1].get("usage") or {}
print(events[-1] == "[DONE]" and text == want and finish == {0: "length", 1: "length", 2: "length"} and usage.get("completion_tokens") == 15)
EOF
)
if [ "$got" = True ]; then ok n_choices_streamed; else not_ok n_choices_streamed "$got: $(head -c 400 "$TMP/choices.sse")"; fi
# llama-server's n_cmpl on /completion ("n" its alias): an array of the replies, reply i the one a
# lone request with seed + i gets (index i, that seed reported); streamed: each completion's
# pieces then its whole reply (stop true), index by index, the same texts
CMPL='"prompt":"Hi","n_predict":5,"seed":6,"temperature":1,"ignore_eos":true,"return_tokens":true'
req POST /completion "{$CMPL,\"seed\":7}" >/dev/null && cp "$TMP/resp" "$TMP/cmpl_seed7.json"
st=$(req POST /completion "{$CMPL,\"n_cmpl\":2}")
cp "$TMP/resp" "$TMP/cmpl.json"
native_check native_n_cmpl "$st == 200 and isinstance(j, list) and [r['index'] for r in j] == [0, 1] and [r['generation_settings']['seed'] for r in j] == [6, 7] and j[1]['tokens'] == json.load(open('$TMP/cmpl_seed7.json'))['tokens'] and all(r['stop'] and len(r['tokens']) == 5 for r in j)"
curl -s -N --max-time 60 "${AUTH[@]}" -d "{$CMPL,\"n\":2,\"stream\":true}" "$URL/completion" >"$TMP/cmpl.sse"
got=$("$PY" - "$TMP/cmpl.sse" "$TMP/cmpl.json" <<'EOF'
import json, sys
events = [json.loads(l[6:]) for l in open(sys.argv[1]).read().splitlines() if l.startswith("data: ")]
whole = json.load(open(sys.argv[2]))
finals = [e for e in events if e["stop"]]
text = {}
for e in events:
    if not e["stop"]: text[e["index"]] = text.get(e["index"], "") + e["content"]
print([e["index"] for e in finals] == [0, 1] and text == {r["index"]: r["content"] for r in whole}
      and [e["index"] for e in events] == sorted(e["index"] for e in events) and finals[1]["generation_settings"]["seed"] == 7)
EOF
)
if [ "$got" = True ]; then ok native_n_cmpl_streamed; else not_ok native_n_cmpl_streamed "$got: $(head -c 400 "$TMP/cmpl.sse")"; fi
# Several prompts in one request (llama-server's and OpenAI's): completion i is prompt i / n's
# choice i % n, the reply a lone request of that prompt with seed + choice gets; the usage sums
# the prompts' tokens; streamed, the same texts by index; /completion: an array of the replies,
# each with its own prompt.
MULTI='"max_tokens":5,"seed":6,"temperature":1,"ignore_eos":true'
st1=$(req POST /v1/completions "{\"prompt\":\"Once upon a time\",$MULTI,\"seed\":7}")
cp "$TMP/resp" "$TMP/multi_lone.json"
st=$(req POST /v1/completions "{\"prompt\":[\"Hi\",\"Once upon a time\"],\"n\":2,$MULTI}")
cp "$TMP/resp" "$TMP/multi.json"
native_check several_prompts "$st == 200 and $st1 == 200 and [c['index'] for c in j['choices']] == [0, 1, 2, 3] and j['choices'][0]['text'] == json.load(open('$TMP/choices.json'))['choices'][0]['text'] and j['choices'][3]['text'] == json.load(open('$TMP/multi_lone.json'))['choices'][0]['text'] and j['usage']['prompt_tokens'] == json.load(open('$TMP/choices.json'))['usage']['prompt_tokens'] + json.load(open('$TMP/multi_lone.json'))['usage']['prompt_tokens'] and j['usage']['completion_tokens'] == 20 and j['usage']['total_tokens'] == j['usage']['prompt_tokens'] + 20"
curl -s -N --max-time 60 "${AUTH[@]}" -d "{\"prompt\":[\"Hi\",\"Once upon a time\"],\"n\":2,$MULTI,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" \
    "$URL/v1/completions" >"$TMP/multi.sse"
got=$("$PY" - "$TMP/multi.sse" "$TMP/multi.json" <<'EOF'
import json, sys
events = [l[6:] for l in open(sys.argv[1]).read().split("\n") if l.startswith("data: ")]
chunks = [json.loads(e) for e in events[:-1]]
text = {}
for c in chunks:
    for ch in c["choices"]: text[ch["index"]] = text.get(ch["index"], "") + ch["text"]
whole = json.load(open(sys.argv[2]))
usage = chunks[-1].get("usage") or {}
print(events[-1] == "[DONE]" and text == {ch["index"]: ch["text"] for ch in whole["choices"]} and all(usage.get(k) == whole["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")))
EOF
)
if [ "$got" = True ]; then ok several_prompts_streamed; else not_ok several_prompts_streamed "$got: $(head -c 400 "$TMP/multi.sse")"; fi
st=$(req POST /v1/completions '{"prompt":["Hi","Once"],"max_tokens":3,"temperature":0,"ignore_eos":true,"logprobs":1}')
native_check several_prompts_text_offsets "$st == 200 and [c['logprobs']['text_offset'][0] for c in j['choices']] == [0, 0]"
st=$(req POST /completion '{"prompt":["Hi",[9906,1917]],"n_predict":3,"temperature":0,"return_tokens":true}')
native_check native_several_prompts "$st == 200 and isinstance(j, list) and [r['index'] for r in j] == [0, 1] and j[0]['prompt'].endswith('Hi') and j[1]['prompt'] == 'Hello world' and j[1]['tokens_evaluated'] == 2 and all(r['stop'] and len(r['tokens']) == 3 for r in j)"
# The choices of n share one prefill: the 2nd and 3rd take all but the prompt's last token
# from the first's slot (the prompt is new to every slot).
cached_total() { req GET /metrics >/dev/null; awk '$1 == "bitnet_prompt_tokens_cached_total" {print $2}' "$TMP/resp"; }
c0=$(cached_total)
LONG_PROMPT="Shared prefill $$: $("$PY" -c 'print(" ".join("item%d" % i for i in range(50)))')"
st=$(req POST /v1/completions "{\"prompt\":\"$LONG_PROMPT\",\"n\":3,\"max_tokens\":3,\"seed\":6,\"temperature\":1}")
pt=$(json_get 'j["usage"]["prompt_tokens"]' <"$TMP/resp" 2>/dev/null)
c1=$(cached_total)
if [ "$st" = 200 ] && [ "${pt:-0}" -gt 50 ] && [ $((c1 - c0)) -ge $((2 * (pt - 1))) ]; then ok n_choices_share_prefill; else
    not_ok n_choices_share_prefill "status $st, prompt ${pt:-?} tokens, cached counter $c0 -> $c1"; fi

# OpenAI's echo on /v1/completions: each choice's text begins with its prompt as sent (ids as
# their text), streamed too; best_of streamed and a suffix: 400s.
st=$(req POST /v1/completions '{"prompt":"Once upon a time","max_tokens":8,"temperature":0,"ignore_eos":true,"echo":true}')
native_check echo "$st == 200 and j['choices'][0]['text'] == 'Once upon a time' + json.load(open('$TMP/openai.json'))['choices'][0]['text'] and j['usage']['completion_tokens'] == 8"
cp "$TMP/resp" "$TMP/echo.json"
st=$(req POST /v1/completions '{"prompt":["Hi",[9906,1917]],"max_tokens":2,"temperature":0,"echo":true}')
native_check echo_several_prompts "$st == 200 and j['choices'][0]['text'].startswith('Hi') and j['choices'][1]['text'].startswith('Hello world') and len(j['choices'][1]['text']) > len('Hello world')"
# stream_check NAME BODY EXPR: BODY streamed from /v1/completions; the Python expression EXPR over
# `chunks` (its data events, parsed) and `whole` (the JSON reply in $TMP/resp) must be True.
stream_check() {
    curl -s -N --max-time 60 "${AUTH[@]}" -d "$2" "$URL/v1/completions" >"$TMP/$1.sse"
    local got
    got=$("$PY" -c '
import json, sys
chunks = [json.loads(l[6:]) for l in open(sys.argv[1]).read().split("\n") if l.startswith("data: {")]
whole = json.load(open(sys.argv[2]))
print(eval(sys.argv[3]))' "$TMP/$1.sse" "$TMP/resp" "$3" 2>&1)
    if [ "$got" = True ]; then ok "$1"; else not_ok "$1" "$got: $(head -c 400 "$TMP/$1.sse")"; fi
}
cp "$TMP/echo.json" "$TMP/resp"
stream_check echo_streamed '{"prompt":"Once upon a time","max_tokens":8,"temperature":0,"ignore_eos":true,"echo":true,"stream":true}' \
    '"".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"] and chunks[0]["choices"][0]["text"].startswith("Once upon a time")'
# max_tokens 0 (OpenAI's): nothing generated; with echo the reply is the prompt, streamed too
st=$(req POST /v1/completions '{"prompt":"Once upon a time","max_tokens":0,"echo":true,"temperature":0}')
native_check echo_max_tokens_0 "$st == 200 and j['choices'][0]['text'] == 'Once upon a time' and j['choices'][0]['finish_reason'] == 'length' and j['usage']['completion_tokens'] == 0 and j['usage']['prompt_tokens'] > 3"
stream_check echo_max_tokens_0_streamed '{"prompt":"Once upon a time","max_tokens":0,"echo":true,"stream":true,"stream_options":{"include_usage":true}}' \
    '"".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == whole["choices"][0]["text"] and [c for c in chunks if c["choices"]][-1]["choices"][0]["finish_reason"] == "length" and chunks[-1]["usage"]["completion_tokens"] == 0'
# echo with logprobs (lm-eval-harness's loglikelihood): the prompt tokens' log-probabilities come
# before the completion's (the first null, text_offset into the echoed prompt). Scored as one
# prompt of ids (max_tokens 0), a prompt and its greedy continuation (/completion's tokens above)
# give that continuation the log-probabilities its generation had; several prompts of ids with
# max_tokens 1 (lm-eval's request) list each prompt's; streamed, the same; with
# post_sampling_probs refused.
st=$(req POST /tokenize '{"content":"Once upon a time","add_special":true}')
PROMPT_IDS=$(json_get 'json.dumps(j["tokens"])' <"$TMP/resp" 2>/dev/null || echo '[]')
SCORED_IDS=$(json_get 'json.dumps(j["tokens"])' <"$TMP/native.json" | "$PY" -c "import json,sys; print(json.dumps($PROMPT_IDS + json.load(sys.stdin)))")
st=$(req POST /v1/completions "{\"prompt\":$SCORED_IDS,\"max_tokens\":0,\"echo\":true,\"logprobs\":2}")
native_check echo_logprobs_score_the_generation "$st == 200 and (lambda lp, gen, n: len(lp['tokens']) == n + 8 and lp['token_logprobs'][0] is None and lp['top_logprobs'][0] is None and all(v < 0 and len(t) == 2 for v, t in zip(lp['token_logprobs'][1:], lp['top_logprobs'][1:])) and all(abs(a - p['logprob']) < 1e-4 for a, p in zip(lp['token_logprobs'][n:], gen)) and lp['text_offset'] == sorted(lp['text_offset']) and j['choices'][0]['text'].endswith(json.load(open('$TMP/native.json'))['content']))(j['choices'][0]['logprobs'], json.load(open('$TMP/native.json'))['completion_probabilities'], len($PROMPT_IDS))"
cp "$TMP/resp" "$TMP/scored.json"
st=$(req POST /v1/completions "{\"prompt\":[$PROMPT_IDS,$SCORED_IDS],\"max_tokens\":1,\"echo\":true,\"logprobs\":1,\"temperature\":0}")
native_check echo_logprobs_several_prompts "$st == 200 and (lambda c, whole: [len(x['logprobs']['tokens']) for x in c] == [len($PROMPT_IDS) + 1, len($SCORED_IDS) + 1] and c[1]['logprobs']['token_logprobs'][:-1] == whole['token_logprobs'] and c[0]['logprobs']['token_logprobs'][:-1] == whole['token_logprobs'][:len($PROMPT_IDS)] and c[0]['logprobs']['text_offset'][-1] == len('<|begin_of_text|>Once upon a time'))(j['choices'], json.load(open('$TMP/scored.json'))['choices'][0]['logprobs'])"
st=$(req POST /v1/completions '{"prompt":"Once upon a time","max_tokens":3,"temperature":0,"ignore_eos":true,"echo":true,"logprobs":1}')
native_check echo_logprobs_text "$st == 200 and (lambda c: c['text'] == 'Once upon a time' + json.load(open('$TMP/openai.json'))['choices'][0]['text'][:len(c['text']) - 16] and len(c['logprobs']['tokens']) == 8 and c['logprobs']['tokens'][0] == '<|begin_of_text|>' and c['logprobs']['text_offset'][:2] == [0, 0] and c['logprobs']['text_offset'][5] == 16 and ''.join(c['logprobs']['tokens'][1:]) == c['text'])(j['choices'][0])"
stream_check echo_logprobs_streamed '{"prompt":"Once upon a time","max_tokens":3,"temperature":0,"ignore_eos":true,"echo":true,"logprobs":1,"stream":true}' \
    'all(sum((c["choices"][0]["logprobs"][k] for c in chunks), []) == whole["choices"][0]["logprobs"][k] for k in ("tokens", "token_logprobs", "top_logprobs", "text_offset"))'
# with n 2 the prompt is scored once: the second choice lists the first's entries and takes its
# KV entries (/metrics: cached), streamed alike
c0=$(cached_total)
st=$(req POST /v1/completions "{\"prompt\":\"$LONG_PROMPT\",\"n\":2,\"max_tokens\":2,\"seed\":5,\"temperature\":1,\"echo\":true,\"logprobs\":1}")
cp "$TMP/resp" "$TMP/echo_n.json"
c1=$(cached_total)
cp "$TMP/echo_n.json" "$TMP/resp"
native_check echo_logprobs_n_scored_once "$st == 200 and (lambda a, b, n: n > 50 and len(a['tokens']) == len(b['tokens']) == n + 2 and a['tokens'][:n] == b['tokens'][:n] and a['token_logprobs'][:n] == b['token_logprobs'][:n] and a['text_offset'][:n + 1] == b['text_offset'][:n + 1])(j['choices'][0]['logprobs'], j['choices'][1]['logprobs'], j['usage']['prompt_tokens']) and $((c1 - c0)) >= j['usage']['prompt_tokens'] - 1"
stream_check echo_logprobs_n_streamed "{\"prompt\":\"$LONG_PROMPT\",\"n\":2,\"max_tokens\":2,\"seed\":5,\"temperature\":1,\"echo\":true,\"logprobs\":1,\"stream\":true}" \
    'all(sum((c["choices"][0]["logprobs"]["token_logprobs"] for c in chunks if c["choices"][0]["index"] == k), []) == whole["choices"][k]["logprobs"]["token_logprobs"] for k in (0, 1))'
error_case echo_logprobs_post_sampling 400 "post_sampling_probs" POST /v1/completions '{"prompt":"Hi","echo":true,"logprobs":1,"post_sampling_probs":true}'
# best_of: 3 drawn (seeds 6, 7, 8, as "n" seeds them), the one with the highest mean token
# log-probability returned (logprobs null: not asked), the usage of all three; not streamed.
for k in 0 1 2; do
    req POST /v1/completions "{\"prompt\":\"Hi\",\"max_tokens\":5,\"temperature\":1,\"ignore_eos\":true,\"logprobs\":0,\"seed\":$((6 + k))}" >/dev/null
    cp "$TMP/resp" "$TMP/best_of$k.json"
done
st=$(req POST /v1/completions '{"prompt":"Hi","max_tokens":5,"temperature":1,"ignore_eos":true,"seed":6,"best_of":3}')
native_check best_of "$st == 200 and len(j['choices']) == 1 and j['choices'][0]['index'] == 0 and j['choices'][0]['logprobs'] is None and j['usage']['completion_tokens'] == 15 and j['choices'][0]['text'] == max((json.load(open('$TMP/best_of%d.json' % k))['choices'][0] for k in range(3)), key=lambda c: sum(c['logprobs']['token_logprobs']) / len(c['logprobs']['token_logprobs']))['text']"
error_case best_of_stream 400 "cannot be streamed" POST /v1/completions '{"prompt":"Hi","best_of":2,"stream":true}'
# llama-server's return_progress: a stream reports the prompt's progress before its first token,
# processed rising to total (the prompt's tokens); /completion's events have no content, a chat's
# chunks the role and null content; a plain request has none.
PROGRESS_WORDS=$("$PY" -c 'print(" ".join("w%d" % i for i in range(90)))')
# progress_check NAME PATH BODY EXPR: BODY streamed to PATH; EXPR over `events` (the parsed data
# events), `prog` (their prompt_progress objects) and `first` (the index of the first event
# with text) must be True.
progress_check() {
    curl -s -N --max-time 60 "${AUTH[@]}" -d "$3" "$URL$2" >"$TMP/$1.sse"
    local got
    got=$("$PY" -c '
import json, sys
events = [json.loads(l[6:]) for l in open(sys.argv[1]).read().split("\n") if l.startswith("data: {")]
prog = [e["prompt_progress"] for e in events if "prompt_progress" in e]
text = lambda e: e.get("content") or "".join((c.get("delta") or {}).get("content") or "" for c in e.get("choices", []))
first = min([i for i, e in enumerate(events) if text(e)] or [len(events)])
print(len(prog) >= 1 and all(a["processed"] < b["processed"] for a, b in zip(prog, prog[1:])) and prog[-1]["processed"] == prog[-1]["total"] > 100 and
      all("prompt_progress" not in e for e in events[first:]) and eval(sys.argv[2]))' "$TMP/$1.sse" "$4" 2>&1)
    if [ "$got" = True ]; then ok "$1"; else not_ok "$1" "$got: $(head -c 400 "$TMP/$1.sse")"; fi
}
progress_check progress_native /completion "{\"prompt\":\"$PROGRESS_WORDS\",\"n_predict\":2,\"stream\":true,\"return_progress\":true}" \
    'all(e["content"] == "" and e["tokens"] == [] for e in events if "prompt_progress" in e) and prog[-1]["total"] == events[-1]["tokens_evaluated"]'
progress_check progress_chat /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"$PROGRESS_WORDS\"}],\"max_tokens\":2,\"stream\":true,\"return_progress\":true,\"stream_options\":{\"include_usage\":true}}" \
    'all(e["choices"][0]["delta"] == {"role": "assistant", "content": None} for e in events if "prompt_progress" in e) and prog[-1]["total"] == events[-1]["usage"]["prompt_tokens"]'
st=$(req POST /completion "{\"prompt\":\"$PROGRESS_WORDS\",\"n_predict\":2,\"return_progress\":true}")
native_check progress_not_in_plain_replies "$st == 200 and 'prompt_progress' not in j"
error_case suffix_refused 400 "'suffix'" POST /v1/completions '{"prompt":"Hi","suffix":"!"}'

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
{ kill -9 $cpid && wait $cpid; } 2>/dev/null
check one_slot_freed all_idle
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
# n_discard are 400s.
if ! start_server "$TMP/c.log" -m "$M" -t 2 -np 2 -c 128 --context-shift --keep 2; then
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
stop_server TERM
check context_shift_server_exit_0 [ "$STOP_RC" = 0 ]
check context_shift_said_on grep -q 'context shift on; ready' "$TMP/c.log"

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
