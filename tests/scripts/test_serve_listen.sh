#!/usr/bin/env bash
# test_serve_listen: where and how bitnet-server listens, and llama-server's command lines around
# it, on a small generated model; all traffic to 127.0.0.1 or a Unix socket in the test's folder,
# every client bounded by a timeout:
#   - HTTPS (--ssl-key-file/--ssl-cert-file, a certificate made here by openssl) below an
#     --api-prefix: health, a greedy chat reply plain and streamed (curl, and the official openai
#     npm package verifying the certificate), a client that does not trust it refused, plain HTTP
#     to the TLS port failing without harm, paths outside the prefix 404, the log's full paths;
#   - a Unix domain socket (--host PATH.sock): requests by curl --unix-socket, a second server on
#     the same path refused, a socket file left by a killed server replaced, the file removed at
#     exit, a path that is not a socket left alone;
#   - --reuse-port: two servers on one port, both answering; without it the second is refused;
#   - --chat-template NAME and --chat-template-file (a Jinja template of a built-in format: /props
#     shows it and the prompt follows it; other templates and names refused), default DRY
#     breakers (--dry-sequence-breaker, "none"), a default grammar, JSON schema and logit bias
#     (--grammar, -j, -l: on /completion and chat; a request's own constraint wins; bad ones,
#     also against the model's vocabulary, refused at startup);
#   - --cors-origins with a list of origins and "localhost": listed origins named back, others not;
#   - --log-file: the file holds what stderr shows, the options' notes included;
#   - llama-server's environment variables (LLAMA_ARG_MODEL, LLAMA_API_KEY, ...) as options, the
#     command line's winning; a bad switch value refused;
#   - option errors exit 2 (1 for a key the TLS library refuses) with the reason; refused and
#     inert llama-server options say so.
# test_serve_sanitizers.sh runs it again against the ASan+UBSan server (cases named
# test_serve_listen@build-asan/...; a sanitizer report in a server's log fails it).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
serve_prerequisites || exit 0
M="$TMP/listen.gguf"
make_model "$M" || { not_ok gen_model "$(tail -3 "$TMP/gen.log")"; exit 1; }
if ! command -v openssl >/dev/null; then skip_or_fail openssl "openssl is not installed (apt-get install openssl)"; exit 0; fi
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$TMP/openssl.log" 2>&1 ||
    { not_ok make_certificate "$(tail -3 "$TMP/openssl.log")"; exit 1; }
CHAT='{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":8,"temperature":0}'

# ---- option errors and llama-server's options -------------------------------------------------
printf 'not a key\n' >"$TMP/bad.pem"
printf '{{ bos_token }}{%% for m in messages %%}[INST] {{ m.content }} [/INST]{%% endfor %%}' >"$TMP/mistral.jinja"
printf '{%% for m in messages %%}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%% endfor %%}{%% if add_generation_prompt %%}<|im_start|>assistant\n{%% endif %%}' \
    >"$TMP/chatml.jinja"
touch "$TMP/plain.sock"
for bad in "key_without_cert|2|--ssl-key-file $TMP/key.pem|--ssl-key-file needs --ssl-cert-file" \
    "cert_without_key|2|--ssl-cert-file $TMP/cert.pem|--ssl-cert-file needs --ssl-key-file" \
    "key_unreadable|2|--ssl-key-file $TMP/none.pem --ssl-cert-file $TMP/cert.pem|--ssl-key-file $TMP/none.pem: No such file" \
    "key_refused_by_tls|1|--ssl-key-file $TMP/bad.pem --ssl-cert-file $TMP/cert.pem|TLS key or certificate was refused" \
    "api_prefix_slash|2|--api-prefix /api/|--api-prefix must start with '/', not end with one" \
    "api_prefix_relative|2|--api-prefix api|--api-prefix must start with '/'" \
    "reuse_port_unix|2|--host $TMP/x.sock --reuse-port|--reuse-port is for TCP addresses" \
    "unix_not_a_socket|1|--host $TMP/plain.sock|$TMP/plain.sock exists and is not a socket" \
    "unix_no_folder|1|--host $TMP/no-such-folder/x.sock|cannot listen on the Unix socket" \
    "chat_template_name|2|--chat-template llama2|'llama2' is neither a chat format (bitnet, llama3, chatml, falcon3, plain) nor" \
    "chat_template_text|2|--chat-template {{x}}|the template is not one of the chat formats" \
    "chat_template_file_other|2|--chat-template-file $TMP/mistral.jinja|--chat-template-file: the template is not one of the chat formats" \
    "chat_template_file_missing|2|--chat-template-file $TMP/none.jinja|--chat-template-file $TMP/none.jinja: No such file" \
    "draft_model_refused|2|-md $TMP/draft.gguf|-md is refused: draft models are not supported (--lookup N" \
    "log_file_unwritable|1|--log-file $TMP/no-such-folder/log.txt|--log-file $TMP/no-such-folder/log.txt: No such file" \
    "cors_path|2|--cors https://app.example/|--cors takes '*' or a comma-separated list of origins" \
    "cors_host_only|2|--cors-origins app.example|--cors takes '*' or a comma-separated list of origins" \
    "default_grammar_token|2|--grammar root::=<[999999]>|'grammar': the token reference <[999999]> is not a token of this model" \
    "default_schema_not_json|2|-j {|-j: not a JSON Schema" \
    "default_bias_form|2|-l 12x|-l needs TOKEN_ID+BIAS or TOKEN_ID-BIAS" \
    "default_bias_no_bias|2|-l 15043|-l needs TOKEN_ID+BIAS or TOKEN_ID-BIAS" \
    "default_bias_token|2|-l 999999+1|'logit_bias': 999999 is not a token id of this model" \
    "last_option_unknown|2|--no-such-option|--no-such-option needs a value, or is not an option of this server"; do
    IFS='|' read -r name want args word <<<"$bad"
    # shellcheck disable=SC2086
    timeout 60 "$SERVER" -m "$M" --port 0 $args >/dev/null 2>"$TMP/bad.err"
    rc=$?
    if [ $rc -eq "$want" ] && grep -qF -- "$word" "$TMP/bad.err"; then ok "bad_${name}"; else
        not_ok "bad_${name}" "rc=$rc (want $want): $(head -3 "$TMP/bad.err")"; fi
done
check unix_not_a_socket_left_alone test -f "$TMP/plain.sock"

# ---- HTTPS below an API prefix -----------------------------------------------------------------
CURL_EXTRA=(--cacert "$TMP/cert.pem")
if start_server "$TMP/tls.log" -m "$M" -t 2 -np 2 -c 1024 --ssl-key-file "$TMP/key.pem" --ssl-cert-file "$TMP/cert.pem" \
    --api-prefix /api --reasoning-format none -sps 0.5 --props --cors-origins "https://app.example, localhost" --log-file "$TMP/tls.logfile"; then
    check tls_url_is_https_with_prefix grep -q "^https://127.0.0.1:[0-9]*/api$" <<<"$URL"
    st=$(req POST /v1/chat/completions "$CHAT")
    plain=$(json_get 'j["choices"][0]["message"]["content"]' <"$TMP/resp" 2>/dev/null)
    if [ "$st" = 200 ] && [ -n "$plain" ]; then ok tls_chat; else not_ok tls_chat "$st: $(head -c 300 "$TMP/resp")"; fi
    streamed=$(curl -s -N --max-time 60 "${CURL_EXTRA[@]}" "$URL/v1/chat/completions" -d "${CHAT%\}},\"stream\":true}" |
        sed -n 's/^data: //p' | grep -v '^\[DONE\]' | "$PY" -c 'import json,sys; print("".join(json.loads(l)["choices"][0]["delta"].get("content") or "" for l in sys.stdin if json.loads(l)["choices"]))')
    if [ -n "$plain" ] && [ "$streamed" = "$plain" ]; then ok tls_stream_same_text; else not_ok tls_stream_same_text "streamed '$streamed', plain '$plain'"; fi
    curl -s -o /dev/null --max-time 10 "${URL/127.0.0.1/localhost}/health"
    check tls_untrusted_certificate_refused_by_client [ $? = 60 ]
    curl -s -o /dev/null --max-time 10 "http://${URL#https://}/health"
    check tls_plain_http_fails [ $? != 0 ]
    check tls_page_below_prefix [ "$(req GET /)" = 200 ]
    st2=$(curl -s -o "$TMP/resp" -w '%{http_code}' --max-time 10 "${CURL_EXTRA[@]}" "${URL%/api}/health")
    if [ "$st2" = 404 ] && grep -q 'below /api/' "$TMP/resp"; then ok tls_outside_prefix_404; else not_ok tls_outside_prefix_404 "$st2: $(head -c 200 "$TMP/resp")"; fi
    st2=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${CURL_EXTRA[@]}" "${URL%/api}/apix/health")
    check tls_prefix_is_a_whole_segment [ "$st2" = 404 ]
    check tls_after_bad_clients [ "$(req GET /health)" = 200 ]
    # --cors-origins: a listed origin and one on this machine are named back; another is not
    for case in "listed|https://app.example|https://app.example" "local|http://localhost:5173|http://localhost:5173" \
        "local_ip|http://127.0.0.1:3000|http://127.0.0.1:3000" "other|https://evil.example|" "lookalike|http://localhost.evil.example|"; do
        IFS='|' read -r name origin want <<<"$case"
        curl -s -o /dev/null -D "$TMP/cors.h" --max-time 10 "${CURL_EXTRA[@]}" -H "Origin: $origin" "$URL/health"
        got=$(tr -d '\r' <"$TMP/cors.h" | sed -n 's/^[Aa]ccess-[Cc]ontrol-[Aa]llow-[Oo]rigin: //p')
        if [ "$got" = "$want" ] && grep -qi '^vary: origin' "$TMP/cors.h"; then ok "cors_origins_$name"; else
            not_ok "cors_origins_$name" "Allow-Origin '$got', want '$want': $(tr -d '\r' <"$TMP/cors.h" | tr '\n' ' ')"; fi
    done
    st=$(curl -s -o /dev/null -D "$TMP/cors.h" -w '%{http_code}' --max-time 10 "${CURL_EXTRA[@]}" -X OPTIONS -H "Origin: https://app.example" \
        -H "Access-Control-Request-Method: POST" "$URL/v1/chat/completions")
    check cors_origins_preflight [ "$st" = 204 -a -n "$(grep -i '^access-control-allow-origin: https://app.example' "$TMP/cors.h")" ]
    if [ "${BITNET_BUILD:-build}" != build ]; then :
    elif ! command -v node >/dev/null; then skip_or_fail openai_client_tls "node is not installed"
    elif [ ! -f "$NODE_DIR/node_modules/openai/package.json" ]; then skip_or_fail openai_client_tls "the openai npm package is missing (scripts/fetch_openai_node.sh)"
    else
        NODE_EXTRA_CA_CERTS="$TMP/cert.pem" timeout 120 node "$ROOT/tests/scripts/serve_tls_client.cjs" "$NODE_DIR/node_modules" \
            "${URL/127.0.0.1/localhost}/v1" none "$SCRIPT_NAME/openai_tls"
        [ $? -eq 0 ] || not_ok openai_client_tls_exit "the client script failed"
    fi
    stop_server TERM
    check tls_exit_0 [ "$STOP_RC" = 0 ]
    check tls_log_full_paths grep -q 'POST /api/v1/chat/completions 200' "$TMP/tls.log"
    check tls_inert_noted [ "$(grep -c -e '--reasoning-format ignored' -e '-sps ignored' -e '--props ignored' "$TMP/tls.log")" = 3 ]
    # --log-file: the same lines as stderr, from the options' notes (held while they are read) to
    # the shutdown's
    if [ -s "$TMP/tls.logfile" ] && cmp -s "$TMP/tls.log" "$TMP/tls.logfile" && grep -q -e '--props ignored' "$TMP/tls.logfile"; then
        ok log_file_has_stderr; else
        not_ok log_file_has_stderr "$(wc -l <"$TMP/tls.log") lines on stderr, $(wc -l <"$TMP/tls.logfile" 2>&1) in the file"; fi
else
    not_ok tls_server_starts "$(tail -5 "$TMP/tls.log")"
    kill -9 "$SERVER_PID" 2>/dev/null
fi
CURL_EXTRA=()

# ---- a Unix domain socket ----------------------------------------------------------------------
SOCK="$TMP/bitnet.sock"
# start_unix LOG: a server on $SOCK; 0 once /health answers 200 there.
start_unix() {
    "$SERVER" -m "$M" -t 2 -np 1 -c 512 --host "$SOCK" 2>"$1" >/dev/null &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$SOCK" http://localhost/health)" = 200 ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
if start_unix "$TMP/unix1.log"; then
    check unix_listening_line grep -q "listening on unix:$SOCK" "$TMP/unix1.log"
    check unix_log_client grep -q "GET /health 200 .* client=unix$" "$TMP/unix1.log"
    st=$(curl -s -o "$TMP/resp" -w '%{http_code}' --max-time 60 --unix-socket "$SOCK" http://localhost/v1/chat/completions -d "$CHAT")
    native_ok=$(json_get 'j["usage"]["completion_tokens"] == 8' <"$TMP/resp" 2>&1)
    if [ "$st" = 200 ] && [ "$native_ok" = True ]; then ok unix_chat; else not_ok unix_chat "$st: $(head -c 300 "$TMP/resp")"; fi
    timeout 60 "$SERVER" -m "$M" --host "$SOCK" >/dev/null 2>"$TMP/unix2.err"
    rc=$?
    if [ $rc = 1 ] && grep -q 'is in use by another server' "$TMP/unix2.err"; then ok unix_in_use_refused; else not_ok unix_in_use_refused "rc=$rc: $(head -2 "$TMP/unix2.err")"; fi
    check unix_still_served [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$SOCK" http://localhost/health)" = 200 ]
    stop_server KILL
    check unix_file_left_by_kill test -S "$SOCK"
    if start_unix "$TMP/unix3.log"; then
        ok unix_stale_file_replaced
        stop_server TERM
        check unix_exit_0 [ "$STOP_RC" = 0 ]
        check unix_file_removed_at_exit test ! -e "$SOCK"
    else
        not_ok unix_stale_file_replaced "$(tail -3 "$TMP/unix3.log")"
        kill -9 "$SERVER_PID" 2>/dev/null
    fi
else
    not_ok unix_server_starts "$(tail -5 "$TMP/unix1.log")"
    kill -9 "$SERVER_PID" 2>/dev/null
fi

# ---- --reuse-port ----------------------------------------------------------------------------
if start_server "$TMP/reuse1.log" -m "$M" -t 1 -np 1 -c 256 --reuse-port; then
    first_pid=$SERVER_PID first_url=$URL port=${URL##*:}
    "$SERVER" -m "$M" -t 1 -np 1 -c 256 --port "$port" >/dev/null 2>"$TMP/reuse_no.err"
    rc=$?
    if [ $rc = 1 ] && grep -q "cannot listen on 127.0.0.1 port $port" "$TMP/reuse_no.err"; then ok reuse_port_needed_by_both; else
        not_ok reuse_port_needed_by_both "rc=$rc: $(head -2 "$TMP/reuse_no.err")"; fi
    "$SERVER" -m "$M" -t 1 -np 1 -c 256 --port "$port" --reuse-port >/dev/null 2>"$TMP/reuse2.log" &
    second_pid=$!
    for _ in $(seq 1 300); do grep -q ' ready$' "$TMP/reuse2.log" && break; kill -0 $second_pid 2>/dev/null || break; sleep 0.1; done
    check reuse_port_second_server_ready grep -q ' ready$' "$TMP/reuse2.log"
    # the kernel spreads new connections over both: 40 requests reach both logs
    for _ in $(seq 1 40); do curl -s -o /dev/null --max-time 5 "$first_url/health"; done
    n1=$(grep -c 'GET /health 200' "$TMP/reuse1.log") n2=$(grep -c 'GET /health 200' "$TMP/reuse2.log")
    if [ "$n2" -gt 0 ] && [ "$n1" -gt 1 ]; then ok reuse_port_both_answer; else not_ok reuse_port_both_answer "first $n1, second $n2"; fi
    kill -TERM $second_pid; wait $second_pid
    check reuse_port_second_exit_0 [ $? = 0 ]
    SERVER_PID=$first_pid
    stop_server TERM
    check reuse_port_first_exit_0 [ "$STOP_RC" = 0 ]
else
    not_ok reuse_port_server_starts "$(tail -5 "$TMP/reuse1.log")"
    kill -9 "$SERVER_PID" 2>/dev/null
fi

# ---- chat templates and default DRY breakers ---------------------------------------------------
if start_server "$TMP/tmpl.log" -m "$M" -t 2 -np 1 -c 512 --chat-template-file "$TMP/chatml.jinja" \
    --dry-sequence-breaker END --dry-sequence-breaker '|' --grammar 'root ::= "yes" | "no"' -l 9891+2 -l 2201-inf; then
    req GET /props >/dev/null
    native_check chat_template_file_props "j['chat_format'] == 'chatml' and j['chat_template'] == open('$TMP/chatml.jinja').read() and j['default_generation_settings']['params']['dry_sequence_breakers'] == ['END', '|']"
    req POST /apply-template '{"messages":[{"role":"user","content":"Hi"}]}' >/dev/null
    native_check chat_template_file_prompt "j['prompt'].endswith('<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n')"
    # --grammar and -l: every request's defaults, unless it brings its own constraint or bias
    req GET /props >/dev/null
    native_check default_constraint_props "j['default_generation_settings']['params']['grammar'] == 'root ::= \"yes\" | \"no\"' and j['default_generation_settings']['params']['logit_bias'] == [{'bias': 2.0, 'token': 9891}, {'bias': None, 'token': 2201}]"
    st=$(req POST /completion '{"prompt":"Answer:","n_predict":4}')
    native_check default_grammar_native "$st == 200 and j['content'] in ('yes', 'no')"
    st=$(req POST /v1/chat/completions '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":4}')
    native_check default_grammar_chat "$st == 200 and j['choices'][0]['message']['content'] in ('yes', 'no')"
    st=$(req POST /v1/completions '{"prompt":"Answer:","max_tokens":4,"grammar":"root ::= \"maybe\""}')
    native_check default_grammar_request_wins "$st == 200 and j['choices'][0]['text'] == 'maybe'"
    st=$(req POST /v1/completions '{"prompt":"Answer:","max_tokens":8,"response_format":{"type":"json_schema","json_schema":{"name":"c","schema":{"enum":[7]}}}}')
    native_check default_grammar_response_format_wins "$st == 200 and j['choices'][0]['text'].strip() == '7'"
    stop_server TERM
else
    not_ok chat_template_file_server_starts "$(tail -5 "$TMP/tmpl.log")"
    kill -9 "$SERVER_PID" 2>/dev/null
fi
if start_server "$TMP/tmpl2.log" -m "$M" -t 2 -np 1 -c 512 --chat-template llama3 --dry-sequence-breaker none \
    -j '{"enum": ["red", "green"]}'; then
    req GET /props >/dev/null
    native_check chat_template_name_props "j['chat_format'] == 'llama3' and j['default_generation_settings']['params']['dry_sequence_breakers'] == []"
    st=$(req POST /completion '{"prompt":"Hello Hello Hello","n_predict":4,"dry_multiplier":0.8}')
    native_check dry_no_breakers_runs "$st == 200 and j['tokens_predicted'] <= 4 and j['generation_settings']['dry_sequence_breakers'] == []"
    st=$(req POST /v1/chat/completions '{"messages":[{"role":"user","content":"A colour?"}],"max_tokens":8}')
    native_check default_json_schema_chat "$st == 200 and j['choices'][0]['message']['content'].strip() in ('\"red\"', '\"green\"')"
    stop_server TERM
else
    not_ok chat_template_name_server_starts "$(tail -5 "$TMP/tmpl2.log")"
    kill -9 "$SERVER_PID" 2>/dev/null
fi
# ---- llama-server's environment variables: options when the command line does not give them ----
export LLAMA_ARG_MODEL="$M" LLAMA_ARG_CTX_SIZE=512 LLAMA_ARG_N_PARALLEL=2 LLAMA_API_KEY=env-key LLAMA_ARG_ALIAS=from-env \
    LLAMA_ARG_CONT_BATCHING=true LLAMA_ARG_N_GPU_LAYERS=99 LLAMA_ARG_TOP_K=1
if start_server "$TMP/env.log" -t 2 --alias from-cli; then
    AUTH=(-H "Authorization: Bearer env-key")
    st=$(req GET /v1/models)
    native_check env_options_taken "$st == 200 and j['data'][0]['id'] == 'from-cli' and j['data'][0]['meta']['n_slots'] == 2 and j['data'][0]['meta']['n_ctx_slot'] == 256"
    req GET /props >/dev/null
    native_check env_sampling_default "j['default_generation_settings']['params']['top_k'] == 1"
    AUTH=()
    check env_api_key_required [ "$(req GET /v1/models)" = 401 ]
    check env_options_said grep -q 'from the environment, LLAMA_API_KEY: --api-key (a key)' "$TMP/env.log"
    check env_key_not_logged bash -c "! grep -q env-key '$TMP/env.log'"
    stop_server TERM
else
    not_ok env_server_starts "$(tail -5 "$TMP/env.log")"
    kill -9 "$SERVER_PID" 2>/dev/null
fi
LLAMA_ARG_CONTEXT_SHIFT=maybe timeout 30 "$SERVER" --port 0 >/dev/null 2>"$TMP/env_bad.err"
rc=$?
if [ $rc = 2 ] && grep -q 'LLAMA_ARG_CONTEXT_SHIFT=maybe: a switch takes on' "$TMP/env_bad.err"; then ok env_bad_switch_exit_2; else
    not_ok env_bad_switch_exit_2 "rc=$rc: $(head -2 "$TMP/env_bad.err")"; fi
unset LLAMA_ARG_MODEL LLAMA_ARG_CTX_SIZE LLAMA_ARG_N_PARALLEL LLAMA_API_KEY LLAMA_ARG_ALIAS LLAMA_ARG_CONT_BATCHING LLAMA_ARG_N_GPU_LAYERS LLAMA_ARG_TOP_K

[ "${BITNET_BUILD:-build}" != build ] && sanitizer_reports no_sanitizer_reports "$TMP"/*.log "$TMP"/*.err
exit 0
