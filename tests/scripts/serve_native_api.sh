# serve_native_api.sh: a part of test_serve.sh (sourced, with its server, helpers and
# variables): llama-server's own API and request fields beyond OpenAI's (/completion, /props,
# /apply-template, n_cmpl, the other samplers and their order, logit_bias strings, embeddings,
# "n", several prompts, return_progress, echo and best_of); test_serve.sh's header lists
# what each case checks. It sends one request at a time.

NATIVE='"prompt":"Once upon a time","n_predict":8,"temperature":0,"ignore_eos":true'
req POST /v1/completions '{"prompt":"Once upon a time","max_tokens":8,"temperature":0,"ignore_eos":true}' >/dev/null
cp "$TMP/resp" "$TMP/openai.json"
st=$(req POST /completion "{$NATIVE,\"n_probs\":2,\"return_tokens\":true}")
cp "$TMP/resp" "$TMP/native.json"
native_check native_completion "$st == 200 and j['content'] == json.load(open('$TMP/openai.json'))['choices'][0]['text'] and j['stop'] is True and j['stop_type'] == 'limit' and j['tokens_predicted'] == 8 and len(j['tokens']) == 8 and j['tokens_evaluated'] == 5 and j['prompt'] == '<|begin_of_text|>Once upon a time' and j['generation_settings']['n_predict'] == 8 and j['generation_settings']['top_k'] == 40 and j['model'] == 'test-model' and j['timings']['predicted_n'] == 8"
native_check native_probabilities "len(j['completion_probabilities']) == 8 and all(p['id'] == t and len(p['top_logprobs']) == 2 and p['top_logprobs'][0]['id'] == t for p, t in zip(j['completion_probabilities'], j['tokens']))"
# a prediction (OpenAI's Predicted Outputs) on /completion: the same content, its drafts in
# llama-server's timings draft_n / draft_n_accepted (absent without drafts)
PREDICTED=$(json_get 'json.dumps({"type": "content", "content": j["content"]})' <"$TMP/native.json")
st=$(req POST /completion "{$NATIVE,\"prediction\":$PREDICTED}")
native_check native_prediction_drafts "$st == 200 and j['content'] == json.load(open('$TMP/native.json'))['content'] and j['timings']['draft_n'] > 0 and 0 < j['timings']['draft_n_accepted'] <= j['timings']['draft_n'] and 'draft_n' not in json.load(open('$TMP/native.json'))['timings']"
# a grammar with token references: the control tokens by text and by id around the grammar's text
st=$(req POST /completion '{"prompt":"Once upon a time","n_predict":12,"temperature":0,"return_tokens":true,"grammar":"root ::= <|start_header_id|> [a-z ]{1,5} <[128007]>"}')
native_check native_grammar_token_refs "$st == 200 and j['tokens'][0] == 128006 and j['tokens'][-1] == 128007 and j['stop_type'] == 'eos' and 2 < len(j['tokens']) <= 7"
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
# timings_per_token (llama-server's): every token's event carries the timings so far (predicted_n
# 1, 2, ...; the prompt's figures from the first on), on /completion and in OpenAI's chunks; none without it
curl -s -N --max-time 60 "${AUTH[@]}" -d "{$NATIVE,\"stream\":true,\"timings_per_token\":true}" "$URL/completion" >"$TMP/timed.sse"
curl -s -N --max-time 60 "${AUTH[@]}" -d "{$CHAT,\"max_tokens\":4,\"temperature\":0,\"stream\":true,\"timings_per_token\":true}" "$URL/v1/chat/completions" >"$TMP/timed_chat.sse"
got=$("$PY" - "$TMP/timed.sse" "$TMP/timed_chat.sse" "$TMP/fields.sse" <<'EOF'
import json, sys
def events(path): return [json.loads(l[6:]) for l in open(path) if l.startswith("data: ") and l.strip() != "data: [DONE]"]
native, chat, plain = events(sys.argv[1]), events(sys.argv[2]), events(sys.argv[3])
pieces = [e for e in native if not e["stop"]]
ok = len(pieces) == 8 and [e["timings"]["predicted_n"] for e in pieces] == list(range(1, 9))
ok = ok and all(e["timings"]["prompt_n"] + e["timings"]["cache_n"] == 5 and e["timings"]["prompt_ms"] > 0 for e in pieces)
ok = ok and all(b["timings"]["predicted_ms"] >= a["timings"]["predicted_ms"] for a, b in zip(pieces, pieces[1:]))
texts = [e for e in chat if e["choices"] and e["choices"][0]["delta"].get("content")]
ok = ok and len(texts) >= 1 and all("timings" in e and e["timings"]["predicted_n"] >= 1 for e in texts)
print(ok and not any("timings" in e for e in plain[:-1]))
EOF
)
if [ "$got" = True ]; then ok timings_per_token_streamed; else not_ok timings_per_token_streamed "$got: $(head -c 400 "$TMP/timed.sse")"; fi
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
# llama-server's t_max_predict_ms: newlines only (a string logit bias); 1 ms after the first token
# the next newline ends the reply ("limit"; a step takes longer than that), where the same
# request without it runs to n_predict; and on the chat route as "length"
NEWLINES='"prompt":"Once upon a time","n_predict":24,"temperature":0,"ignore_eos":true,"logit_bias":[["\n",30]]'
req POST /completion "{$NEWLINES}" >/dev/null
cp "$TMP/resp" "$TMP/newlines.json"
st=$(req POST /completion "{$NEWLINES,\"t_max_predict_ms\":1}")
native_check native_t_max_predict_ms "$st == 200 and json.load(open('$TMP/newlines.json'))['tokens_predicted'] == 24 and set(json.load(open('$TMP/newlines.json'))['content']) == {'\\n'} and 1 <= j['tokens_predicted'] <= 3 and j['content'] == '\\n' * j['tokens_predicted'] and j['stop_type'] == 'limit' and j['generation_settings']['t_max_predict_ms'] == 1"
st=$(req POST /v1/chat/completions "{$CHAT,\"max_tokens\":24,\"temperature\":0,\"logit_bias\":{\"198\":30},\"t_max_predict_ms\":1}")
native_check chat_t_max_predict_ms "$st == 200 and 1 <= j['usage']['completion_tokens'] <= 3 and j['choices'][0]['finish_reason'] == 'length'"
error_case t_max_predict_ms_type 400 "'t_max_predict_ms' must be an integer" POST /completion '{"prompt":"a","t_max_predict_ms":"1s"}'
# llama-server's n_indent: after the first newline, a line indented less ends the reply there,
# its indentation kept (a grammar fixes the lines; the same in a stream); an empty line counts
# (the newlines of the logit bias above); on the chat route too; not an integer: a 400
INDENTED='"prompt":"Once","n_predict":40,"temperature":0,"grammar":"root ::= \"a\\n\" \"    b\\n\" \"  c\\n\" \"d\""'
st=$(req POST /completion "{$INDENTED,\"n_indent\":3}")
native_check n_indent_cuts_line "$st == 200 and j['content'] == 'a\\n    b\\n  ' and j['stop_type'] == 'limit' and j['generation_settings']['n_indent'] == 3"
st=$(req POST /completion "{$INDENTED,\"n_indent\":2}")
native_check n_indent_keeps_indented "$st == 200 and j['content'] == 'a\\n    b\\n  c\\n' and j['stop_type'] == 'limit'"
curl -s -N --max-time 60 "${AUTH[@]}" -d "{$INDENTED,\"n_indent\":3,\"stream\":true}" "$URL/completion" >"$TMP/indent.sse"
got=$("$PY" -c 'import json,sys; ev=[json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("data: ")]; print("".join(e["content"] for e in ev) == "a\n    b\n  " and ev[-1]["stop_type"] == "limit")' "$TMP/indent.sse" 2>&1)
if [ "$got" = True ]; then ok n_indent_streamed; else not_ok n_indent_streamed "$got: $(tail -c 300 "$TMP/indent.sse")"; fi
st=$(req POST /completion "{$NEWLINES,\"n_indent\":1}")
native_check n_indent_empty_line "$st == 200 and j['content'] == '\\n' and j['tokens_predicted'] == 2"
st=$(req POST /v1/chat/completions "{$CHAT,\"max_tokens\":24,\"temperature\":0,\"logit_bias\":{\"198\":30},\"n_indent\":1}")
native_check chat_n_indent "$st == 200 and j['choices'][0]['message']['content'] == '\\n' and j['choices'][0]['finish_reason'] == 'length'"
error_case n_indent_type 400 "'n_indent' must be an integer" POST /completion '{"prompt":"a","n_indent":"two"}'
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
text, finish, after_finish = {}, {}, False
for c in chunks:
    for ch in c["choices"]:
        after_finish |= ch["index"] in finish  # a choice's chunk after its finish chunk
        text[ch["index"]] = text.get(ch["index"], "") + ch["text"]
        if ch["finish_reason"]: finish[ch["index"]] = ch["finish_reason"]
whole = json.load(open(sys.argv[2]))
want = {ch["index"]: ch["text"] for ch in whole["choices"]}
usage = chunks[-1].get("usage") or {}
print(events[-1] == "[DONE]" and text == want and finish == {0: "length", 1: "length", 2: "length"} and not after_finish
      and usage.get("completion_tokens") == 15)
EOF
)
if [ "$got" = True ]; then ok n_choices_streamed; else not_ok n_choices_streamed "$got: $(head -c 400 "$TMP/choices.sse")"; fi
# the choices stream side by side, as OpenAI's: the second's first chunk comes before the first's
# last (each step of the batch brings a token of both; 64 of them)
curl -s -N --max-time 60 "${AUTH[@]}" -d '{"prompt":"Hi","n":2,"max_tokens":64,"seed":6,"temperature":1,"ignore_eos":true,"stream":true}' \
    "$URL/v1/completions" >"$TMP/choices2.sse"
got=$("$PY" - "$TMP/choices2.sse" <<'EOF'
import json, sys
order = [ch["index"] for l in open(sys.argv[1]).read().split("\n") if l.startswith("data: {") for ch in json.loads(l[6:])["choices"]]
print(order.count(0) > 1 and order.count(1) > 1 and order.index(1) < len(order) - 1 - order[::-1].index(0) or order)
EOF
)
if [ "$got" = True ]; then ok n_choices_streamed_side_by_side; else not_ok n_choices_streamed_side_by_side "$got"; fi
# llama-server's n_cmpl on /completion ("n" its alias): an array of the replies, reply i the one a
# lone request with seed + i gets (index i, that seed reported); streamed: each completion's
# pieces then its whole reply (stop true), the completions side by side, the same texts
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
last = {e["index"]: e for e in events}  # each completion's last event: its final one
print(sorted(e["index"] for e in finals) == [0, 1] and text == {r["index"]: r["content"] for r in whole}
      and all(last[e["index"]] is e for e in finals) and [e for e in finals if e["index"] == 1][0]["generation_settings"]["seed"] == 7)
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
