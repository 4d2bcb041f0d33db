#!/usr/bin/env bash
# test_serve_ops: what bitnet-server offers its operator, on a small generated model, all
# traffic to 127.0.0.1, every client bounded by a timeout:
#   - option errors (unreadable or empty key file, bad values, a --slot-save-path that is not a
#     folder, a negative --prefix-share): exit 2 with the reason; slot actions without --slot-save-path: 501;
#   - --api-key-file with two keys (both accepted, another refused, /health and / open);
#   - CORS off by default (no Access-Control-* header, OPTIONS not answered as a preflight)
#     and on with --cors;
#   - --max-prompt-tokens (400 saying by how much), --max-tokens-cap (max_tokens lowered:
#     finish_reason "length"), --timeout-request (a long generation stopped, finish_reason
#     "length", plain and streamed; an embedding request of many inputs stopped as a whole with
#     a 503, the server fine after it);
#   - --timeout-idle: a client that trickles its headers one byte at a time, and one that sends
#     nothing, are disconnected within a bounded time;
#   - GET /metrics: the Prometheus text format parses, counters and histograms move with the
#     requests made, gauges are there; llama-server's llamacpp:* metrics with its meanings;
#   - one log line per request, --log-format json (every line parses) and text;
#   - --lookup: four requests at once give the replies of a server without it;
#   - --sse-ping-interval: a stream waiting for the slot gets SSE comment lines before its
#     events (none with the request's sse_ping_interval -1), the same reply either way;
#   - --log-file and a crash: SIGSEGV drains what the copy's pipe still holds into the file.
# Runs on the normal build only (test_serve.sh is the one the sanitizer builds rerun).
# TEST_SERIAL: tests/run_tests.sh runs it alone (--timeout-request must stop a generation after 0.9-4 s).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
serve_prerequisites || exit 0
M="$TMP/ops.gguf"
make_model "$M" || { not_ok gen_model "$(tail -3 "$TMP/gen.log")"; exit 1; }

# ---- option errors: exit 2 with the reason ------------------------------------------------------------
printf '# only a comment\n\n' >"$TMP/nokeys.txt"
for bad in "key_file_missing|--api-key-file $TMP/missing.txt|cannot read" "key_file_empty|--api-key-file $TMP/nokeys.txt|holds no key" \
    "log_format|--log-format xml|text or json" "timeout_idle_0|--timeout-idle 0|--timeout-idle needs" \
    "max_prompt_tokens_negative|--max-prompt-tokens -1|--max-prompt-tokens needs" \
    "slot_save_path_missing|--slot-save-path $TMP/no-such-folder|is not a folder" \
    "prefix_share_negative|--prefix-share -1|--prefix-share needs an integer in 0.."; do
    IFS='|' read -r name args word <<<"$bad"
    # shellcheck disable=SC2086
    "$SERVER" -m "$M" $args >/dev/null 2>"$TMP/bad.err"
    rc=$?
    if [ $rc -eq 2 ] && grep -qF -- "$word" "$TMP/bad.err"; then ok "bad_${name}_exit_2"; else
        not_ok "bad_${name}_exit_2" "rc=$rc: $(head -2 "$TMP/bad.err")"; fi
done

# ---- server 1: key file, limits, JSON logs, a short idle timeout -----------------------------------
printf '# keys of the test\nfirst-key-aaaa\n\n  second-key-bbbb  \r\n' >"$TMP/keys.txt"
if ! start_server "$TMP/a.log" -m "$M" -t 2 -np 2 -c 1024 --api-key-file "$TMP/keys.txt" --log-format json \
    --max-prompt-tokens 20 --max-tokens-cap 5 --timeout-idle 2; then
    not_ok server_starts "$(tail -5 "$TMP/a.log")"; kill -9 "$SERVER_PID" 2>/dev/null; exit 1
fi
AUTH=(-H "Authorization: Bearer second-key-bbbb")
k1=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Authorization: Bearer first-key-aaaa' "$URL/v1/models")
k2=$(req GET /v1/models)
k3=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Authorization: Bearer first-key-aaab' "$URL/v1/models")
open_page=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$URL/")
check key_file_two_keys [ "$k1" = 200 -a "$k2" = 200 -a "$k3" = 401 -a "$open_page" = 200 ]

# CORS is off: no header, and OPTIONS is no preflight.
curl -s -D "$TMP/h1" -o /dev/null --max-time 10 "${AUTH[@]}" "$URL/v1/models"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X OPTIONS -H 'Origin: https://example.test' \
    -H 'Access-Control-Request-Method: POST' "$URL/v1/chat/completions")
check cors_off_by_default bash -c "! grep -qi '^access-control' '$TMP/h1' && [ '$st' != 204 ]"

# Limits.
ids=$("$PY" -c 'print(",".join(["9906"] * 30))')
st=$(req POST /v1/completions "{\"prompt\":[$ids],\"max_tokens\":2}")
msg=$(json_get 'j["error"]["message"]' <"$TMP/resp" 2>/dev/null)
check prompt_cap_400 [ "$st" = 400 -a -n "$(echo "$msg" | grep -F '30 tokens, 10 more than' | grep -F -- --max-prompt-tokens)" ]
for case in lowered:'"max_tokens":50,' applied_without_max_tokens:; do
    st=$(req POST /v1/completions "{\"prompt\":\"Once upon\",${case#*:}\"temperature\":0,\"ignore_eos\":true}")
    got=$(json_get '"%s %s" % (j["choices"][0]["finish_reason"], j["usage"]["completion_tokens"])' <"$TMP/resp" 2>/dev/null)
    check "max_tokens_cap_${case%%:*}" [ "$st" = 200 -a "$got" = "length 5" ]
done

# /metrics: parses, and the counters move with one more request.
metrics() { # FILE
    curl -s --max-time 10 "${AUTH[@]}" -D "$1.h" -o "$1" "$URL/metrics"
}
metrics "$TMP/m1"
req POST /v1/completions '{"prompt":"Counting","temperature":0,"ignore_eos":true}' >/dev/null
metrics "$TMP/m2"
check metrics_content_type grep -qi '^content-type: text/plain; version=0.0.4' "$TMP/m1.h"
"$PY" - "$TMP/m1" "$TMP/m2" >"$TMP/metrics.out" 2>&1 <<'EOF'
import re, sys
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*)\})? (\S+)$')
def parse(path):
    samples, types = {}, {}
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        m = LINE.match(line)
        assert m, "not in the text format: %r" % line
        samples[(m.group(1), m.group(3) or "")] = float(m.group(5))
    return samples, types
(a, ta), (b, tb) = parse(sys.argv[1]), parse(sys.argv[2])
def val(s, name, labels=""): return s.get((name, labels), 0.0)
problems = []
def want(cond, what):
    if not cond: problems.append(what)
for name, kind in [("bitnet_requests_total", "counter"), ("bitnet_prompt_tokens_total", "counter"),
                   ("bitnet_generated_tokens_total", "counter"), ("bitnet_time_to_first_token_seconds", "histogram"),
                   ("bitnet_inter_token_latency_seconds", "histogram"), ("bitnet_requests_active", "gauge"),
                   ("bitnet_requests_queued", "gauge"), ("bitnet_kv_cache_usage_ratio", "gauge"),
                   ("bitnet_kv_cache_positions_used", "gauge")]:
    want(tb.get(name) == kind, "%s is not a %s" % (name, kind))
ok200 = 'endpoint="/v1/completions",status="200"'
want(val(b, "bitnet_requests_total", ok200) == val(a, "bitnet_requests_total", ok200) + 1, "completions 200 did not move by 1")
want(val(a, "bitnet_requests_total", 'endpoint="/v1/completions",status="400"') >= 1, "no 400 counted")
want(val(a, "bitnet_requests_total", 'endpoint="/v1/models",status="401"') >= 1, "no 401 counted")
want(val(b, "bitnet_generated_tokens_total") - val(a, "bitnet_generated_tokens_total") == 5, "generated tokens did not move by 5")
want(val(b, "bitnet_prompt_tokens_total") > val(a, "bitnet_prompt_tokens_total"), "prompt tokens did not move")
for h in ("bitnet_time_to_first_token_seconds", "bitnet_inter_token_latency_seconds"):
    buckets = sorted((float(l.split('"')[1]), v) for (n, l), v in b.items() if n == h + "_bucket" and "+Inf" not in l)
    inf = val(b, h + "_bucket", 'le="+Inf"')
    want(all(buckets[i][1] <= buckets[i + 1][1] for i in range(len(buckets) - 1)) and buckets[-1][1] <= inf,
         h + " buckets are not cumulative")
    want(inf == val(b, h + "_count") and val(b, h + "_sum") > 0, h + ": +Inf != _count or no _sum")
want(val(b, "bitnet_time_to_first_token_seconds_count") == val(a, "bitnet_time_to_first_token_seconds_count") + 1, "ttft count did not move by 1")
want(val(b, "bitnet_inter_token_latency_seconds_count") == val(a, "bitnet_inter_token_latency_seconds_count") + 4, "itl count did not move by 4")
want(val(b, "bitnet_requests_active") == 0 and val(b, "bitnet_requests_queued") == 0, "active or queued requests when idle")
want(0 < val(b, "bitnet_kv_cache_positions_used") <= val(b, "bitnet_kv_cache_positions_total") == 1024, "kv positions")
# llama-server's names and meanings (dashboards and autoscalers written for it)
for name, kind in [("llamacpp:prompt_tokens_total", "counter"), ("llamacpp:prompt_seconds_total", "counter"),
                   ("llamacpp:tokens_predicted_total", "counter"), ("llamacpp:tokens_predicted_seconds_total", "counter"),
                   ("llamacpp:n_decode_total", "counter"), ("llamacpp:n_tokens_max", "counter"),
                   ("llamacpp:prompt_tokens_seconds", "gauge"), ("llamacpp:predicted_tokens_seconds", "gauge"),
                   ("llamacpp:requests_processing", "gauge"), ("llamacpp:requests_deferred", "gauge"),
                   ("llamacpp:n_busy_slots_per_decode", "gauge"), ("llamacpp:kv_cache_usage_ratio", "gauge"),
                   ("llamacpp:kv_cache_tokens", "gauge")]:
    want(tb.get(name) == kind, "%s is not a %s" % (name, kind))
def moved(name): return val(b, name) - val(a, name)
want(moved("llamacpp:tokens_predicted_total") == 5, "llamacpp:tokens_predicted_total did not move by 5")
want(val(b, "llamacpp:prompt_tokens_total") == val(b, "bitnet_prompt_tokens_total") - val(b, "bitnet_prompt_tokens_cached_total"),
     "llamacpp:prompt_tokens_total is not the prompt tokens less the cached ones")
want(moved("llamacpp:n_decode_total") >= 5 and moved("llamacpp:tokens_predicted_seconds_total") > 0 and
     moved("llamacpp:prompt_seconds_total") > 0, "decode calls or times did not move")
want(val(b, "llamacpp:predicted_tokens_seconds") > 0 and val(b, "llamacpp:n_busy_slots_per_decode") >= 1,
     "no generation rate since the last scrape, or fewer than 1 busy slot per decode")
want(val(b, "llamacpp:kv_cache_tokens") == val(b, "bitnet_kv_cache_positions_used") and
     val(b, "llamacpp:kv_cache_usage_ratio") == val(b, "bitnet_kv_cache_usage_ratio"), "llamacpp:kv_cache_* differ from ours")
want(val(b, "llamacpp:n_tokens_max") >= 6 and val(b, "llamacpp:requests_processing") == 0 and val(b, "llamacpp:requests_deferred") == 0,
     "n_tokens_max, or requests processing/deferred when idle")
print("; ".join(problems) if problems else "fine")
EOF
check metrics_parse_and_move [ "$(cat "$TMP/metrics.out")" = fine ] || sed 's/^/    /' "$TMP/metrics.out"

# The slow clients: headers trickled one byte every 0.3 s, and a connection that sends nothing.
"$PY" - "$URL" >"$TMP/slow.out" 2>&1 <<'EOF'
import socket, sys, time, threading
host, port = sys.argv[1].split("//")[1].rsplit(":", 1)
results = {}
def trickle():
    s = socket.create_connection((host, int(port)), timeout=2)
    t0, request = time.time(), b"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    try:
        for byte in request:
            if time.time() - t0 > 15: break
            s.send(bytes([byte]))
            time.sleep(0.3)
    except OSError:
        pass
    s.settimeout(15 - (time.time() - t0) if time.time() - t0 < 15 else 0.1)
    try:
        while s.recv(4096): pass   # an answer would mean it was served: drained until closed
    except OSError:
        pass
    results["trickle"] = time.time() - t0
def silent():
    s = socket.create_connection((host, int(port)), timeout=15)
    t0 = time.time()
    try: s.recv(1)
    except OSError: pass
    results["silent"] = time.time() - t0
threads = [threading.Thread(target=f) for f in (trickle, silent)]
for t in threads: t.start()
for t in threads: t.join()
print("%.1f %.1f" % (results["trickle"], results["silent"]))
EOF
read -r t_trickle t_silent <"$TMP/slow.out"
in_range() { "$PY" -c "import sys; sys.exit(not ($2 <= float('$1') <= $3))" 2>/dev/null; }
check slow_client_dropped in_range "${t_trickle:-99}" 1.5 5
check idle_client_dropped in_range "${t_silent:-99}" 1.5 5
[ -n "${t_trickle:-}" ] || sed 's/^/    /' "$TMP/slow.out"
stop_server TERM
check server1_exit_0 [ "$STOP_RC" = 0 ]

# One JSON object per line: every line that is not the server's own message parses.
"$PY" - "$TMP/a.log" >"$TMP/log.out" 2>&1 <<'EOF'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
gen = [e for e in entries if e["path"] == "/v1/completions" and e["status"] == 200]
ok = (len(gen) >= 3 and all(e["completion_tokens"] == 5 and e["prompt_tokens"] > 0 and e["ttft_ms"] > 0 and
      e["finish_reason"] == "length" and e["method"] == "POST" and e["duration_ms"] > 0 for e in gen) and
      any(e["path"] == "/metrics" and e["status"] == 200 for e in entries) and
      any(e["path"] == "/v1/models" and e["status"] == 401 for e in entries) and
      all(e["client"].startswith("127.0.0.1:") for e in entries))
print("fine" if ok else "entries: %s" % entries[-6:])
EOF
check log_json_lines [ "$(cat "$TMP/log.out")" = fine ] || sed 's/^/    /' "$TMP/log.out"

# ---- server 2: CORS on, a 1 s request time limit, text logs -----------------------------------------
AUTH=()
if ! start_server "$TMP/b.log" -m "$M" -t 2 -np 1 -c 4096 --cors '*' --timeout-request 1; then
    not_ok server2_starts "$(tail -5 "$TMP/b.log")"; kill -9 "$SERVER_PID" 2>/dev/null; exit 1
fi
st=$(curl -s -D "$TMP/h2" -o /dev/null -w '%{http_code}' --max-time 10 -X OPTIONS -H 'Origin: https://example.test' \
    -H 'Access-Control-Request-Method: POST' "$URL/v1/chat/completions")
curl -s -D "$TMP/h3" -o /dev/null --max-time 10 "$URL/health"
check cors_on_preflight [ "$st" = 204 -a -n "$(grep -i '^access-control-allow-origin: \*' "$TMP/h2")" \
    -a -n "$(grep -i '^access-control-allow-headers:.*authorization' "$TMP/h2")" ]
check cors_on_header grep -qi '^access-control-allow-origin: \*' "$TMP/h3"

LONG='"prompt":"A story without an end:","temperature":0,"ignore_eos":true'
t0=$(date +%s.%N)
st=$(req POST /v1/completions "{$LONG}")
t1=$(date +%s.%N)
got=$(json_get '"%s %s" % (j["choices"][0]["finish_reason"], j["usage"]["completion_tokens"])' <"$TMP/resp" 2>/dev/null)
took=$("$PY" -c "print($t1 - $t0)")
if [ "$st" = 200 ] && [ "${got% *}" = length ] && [ "${got#* }" -lt 4000 ] && in_range "$took" 0.9 4; then
    ok timeout_request_plain; else not_ok timeout_request_plain "status $st, $got after $took s"; fi
curl -s -N --max-time 30 -d "{$LONG,\"stream\":true}" "$URL/v1/completions" >"$TMP/timeout.sse"
if grep -q '"finish_reason":"length"' "$TMP/timeout.sse" && [ "$(grep -v '^$' "$TMP/timeout.sse" | tail -1)" = 'data: [DONE]' ]; then
    ok timeout_request_stream; else not_ok timeout_request_stream "$(tail -c 300 "$TMP/timeout.sse")"; fi
# Slot actions need --slot-save-path (501 without it, as llama-server).
st=$(req POST '/slots/0?action=erase' '{}')
check slot_actions_need_path [ "$st" = 501 ]
# Embeddings under the request's limit: 400 inputs of ~1000 tokens (~5 s on 2 cores) are one request
# of 1 s, not 1 s each; it runs out between or inside inputs (a 503 that says so), then the
# server embeds the next request as usual.
"$PY" -c 'import json; print(json.dumps({"input": ["word " * 1000] * 400}))' >"$TMP/embed_big.json"
t0=$(date +%s.%N)
st=$(curl -s -o "$TMP/resp" -w '%{http_code}' --max-time 30 --data-binary @"$TMP/embed_big.json" "$URL/v1/embeddings")
t1=$(date +%s.%N)
took=$("$PY" -c "print($t1 - $t0)")
if [ "$st" = 503 ] && grep -q 'time limit (--timeout-request) ran out' "$TMP/resp" && in_range "$took" 0.9 4; then
    ok timeout_request_embeddings; else not_ok timeout_request_embeddings "status $st after $took s: $(head -c 200 "$TMP/resp")"; fi
st=$(req POST /v1/embeddings '{"input":"after the limit"}')
check embeddings_after_timeout [ "$st" = 200 ]
check log_text_line grep -Eq '^bitnet-server: [0-9T:.-]+Z POST /v1/completions 200 [0-9.]+ ms prompt=[0-9]+ cached=[0-9]+ generated=[0-9]+ ttft=[0-9.]+ ms finish=length client=127\.0\.0\.1:[0-9]+$' "$TMP/b.log"
stop_server TERM
check server2_exit_0 [ "$STOP_RC" = 0 ]

# ---- --lookup: the same replies as without it (greedy, seeded, with a penalty; four at once so
# that drafts share steps with other slots' rows and prompt chunks), drafts taken (/metrics) ----
lookup_replies() { # LOG ARGS...: the texts of the four replies, one JSON string per line
    local log=$1
    shift
    start_server "$log" -m "$M" -t 2 -np 4 -c 2048 "$@" || return 1
    local pids=() k
    for k in 0 1 2 3; do
        curl -s --max-time 120 -d "{\"prompt\":\"one two three one two three $k\",\"max_tokens\":48,\"ignore_eos\":true,\"temperature\":$((k % 2)),\"seed\":$k,\"repeat_penalty\":1.$k}" \
            "$URL/v1/completions" >"$TMP/lookup$k.json" &
        pids+=($!)
    done
    wait "${pids[@]}"
    for k in 0 1 2 3; do json_get 'json.dumps(j["choices"][0]["text"])' <"$TMP/lookup$k.json" || return 1; done
    req GET /metrics >/dev/null
    awk '$1 == "bitnet_lookup_taken_tokens_total" {print $2}' "$TMP/resp" >"$log.taken"
    awk '$1 == "llamacpp:spec_decode_num_drafts_total" {p = $2} $1 == "llamacpp:spec_decode_num_draft_tokens_total" {d = $2}
         END {print p + 0, d + 0}' "$TMP/resp" >"$log.passes"
    awk '$1 == "llamacpp:spec_decode_num_accepted_tokens_total" {print "total", $2}
         $1 ~ /^llamacpp:spec_decode_num_accepted_tokens_per_pos_total[{]/ {print $1, $2}' "$TMP/resp" >"$log.perpos"
    stop_server TERM
    [ "$STOP_RC" = 0 ]
}
with=$(lookup_replies "$TMP/l.log" --lookup 6) && without=$(lookup_replies "$TMP/p.log")
if [ $? = 0 ] && [ "$(echo "$with" | grep -c .)" = 4 ] && [ "$with" = "$without" ] && [ "$(cat "$TMP/l.log.taken")" -gt 0 ] &&
    [ "$(cat "$TMP/p.log.taken")" = 0 ]; then ok lookup_same_replies; else
    not_ok lookup_same_replies "with: $(echo "$with" | head -c 300) without: $(echo "$without" | head -c 300), drafts taken: $(cat "$TMP/l.log.taken" "$TMP/p.log.taken" 2>&1)"
    kill -9 "$SERVER_PID" 2>/dev/null; fi
# llama-server's spec_decode_num_drafts_total: the passes that checked a draft, each of 1..6 tokens
read -r passes drafted <"$TMP/l.log.passes"
if [ "${passes:-0}" -gt 0 ] && [ "$drafted" -ge "$passes" ] && [ "$drafted" -le $((passes * 6)) ] && [ "$(cat "$TMP/p.log.passes")" = "0 0" ]; then
    ok lookup_drafts_metric; else not_ok lookup_drafts_metric "with --lookup 6: $passes passes, $drafted tokens; without: $(cat "$TMP/p.log.passes")"; fi
# ... and its accepted tokens per draft position: positions 0.. in order, at most 6 of them, the
# counts summing to the accepted total, none above the passes, none above the position before
# (a draft's tokens are taken in order); no such lines without drafts
perpos_problems=$(awk -v passes="${passes:-0}" '
    $1 == "total" {total = $2; next}
    {want = "llamacpp:spec_decode_num_accepted_tokens_per_pos_total{position=\"" (n + 0) "\"}"
     if ($1 != want) print "line " $1 " where " want " was due"
     if (n > 0 && $2 > prev) print "position " n ": " $2 " > " prev
     if ($2 > passes) print "position " n ": " $2 " > passes " passes
     prev = $2; sum += $2; n++}
    END {if (n < 1 || n > 6) print n " positions"; if (sum != total) print "sum " sum " != accepted " total}' "$TMP/l.log.perpos")
if [ -z "$perpos_problems" ] && [ "$(grep -c position "$TMP/p.log.perpos")" = 0 ]; then ok lookup_accepted_per_pos_metric; else
    not_ok lookup_accepted_per_pos_metric "$perpos_problems; with: $(tr '\n' ' ' <"$TMP/l.log.perpos") without: $(tr '\n' ' ' <"$TMP/p.log.perpos")"; fi

# ---- --sse-ping-interval: streams that wait for the slot (a long generation holds it) get SSE
# comment lines, then their events; a request's sse_ping_interval -1 turns them off ----------------
if start_server "$TMP/ping.log" -m "$M" -t 2 -np 1 -c 4096 --sse-ping-interval 1; then
    curl -s -o /dev/null --max-time 60 "$URL/v1/completions" -d '{"prompt":"Count","max_tokens":1200,"ignore_eos":true,"temperature":0}' &
    long=$!
    sleep 0.3
    curl -s -N --max-time 60 "$URL/v1/completions" -d '{"prompt":"Hi","max_tokens":2,"stream":true,"temperature":0}' >"$TMP/ping_on.sse" &
    on=$!
    curl -s -N --max-time 60 "$URL/v1/completions" -d '{"prompt":"Hi","max_tokens":2,"stream":true,"temperature":0,"sse_ping_interval":-1}' \
        >"$TMP/ping_off.sse"
    wait $on $long
    "$PY" - "$TMP/ping_on.sse" "$TMP/ping_off.sse" >"$TMP/ping.out" 2>&1 <<'EOF'
import json, sys
def read(path):
    events = open(path).read().split("\n\n")
    pings = 0
    while events and events[0] == ":":
        events.pop(0)
        pings += 1
    data = [e for e in events if e]
    assert all(e.startswith("data: ") for e in data), "a line that is neither a ping before the data nor data: %r" % data[:3]
    assert data[-1] == "data: [DONE]", "no [DONE]"
    text = "".join(json.loads(e[6:])["choices"][0]["text"] for e in data[:-1])
    return pings, text
(on, text_on), (off, text_off) = read(sys.argv[1]), read(sys.argv[2])
problems = []
if on < 1: problems.append("no ping while waiting")
if off != 0: problems.append("%d pings with sse_ping_interval -1" % off)
if not text_on or text_on != text_off: problems.append("replies differ: %r %r" % (text_on, text_off))
print("; ".join(problems) if problems else "fine")
EOF
    check sse_ping_while_waiting [ "$(cat "$TMP/ping.out")" = fine ] || sed 's/^/    /' "$TMP/ping.out"
    stop_server TERM
else
    not_ok sse_ping_server_starts "$(tail -5 "$TMP/ping.log")"
    kill -9 "$SERVER_PID" 2>/dev/null
fi

# ---- --log-file and a crash: with the terminal side stalled (stderr a FIFO nobody reads), the
# access lines fill the FIFO and then the copy's pipe; SIGSEGV must drain the pipe into the file
# (the file then holds far more than the terminal got, ending on a whole line) ----------------
mkfifo "$TMP/stall.fifo"
exec 7<>"$TMP/stall.fifo" # open, never read until the end: writes to it block once it is full
(ulimit -c 0 && exec "$SERVER" -m "$M" -t 1 -np 1 -c 256 --port 0 --log-file "$TMP/stall.logfile" 2>"$TMP/stall.fifo" >/dev/null) &
stall_pid=$! # no core file from the SIGSEGV below
stall_url=
for _ in $(seq 1 300); do
    stall_url=$(grep -o 'listening on http://[^ ]*' "$TMP/stall.logfile" 2>/dev/null | head -1 | sed 's/^listening on //')
    [ -n "$stall_url" ] && grep -q 'ready$' "$TMP/stall.logfile" && break
    sleep 0.1
done
if [ -n "$stall_url" ]; then
    # 2500 requests of ~100-byte access lines: > 2 x 64 KiB, the FIFO's and the pipe's buffers
    timeout 30 curl -s -o /dev/null -m 2 $(for k in $(seq 1 2500); do printf '%s/no-such-path-%05d ' "$stall_url" "$k"; done) 2>/dev/null
    sleep 0.5
    kill -SEGV "$stall_pid" 2>/dev/null
    wait "$stall_pid"
    stall_rc=$?
    timeout 2 cat <&7 >"$TMP/stall.term"
    exec 7<&-
    term=$(wc -c <"$TMP/stall.term") file=$(wc -c <"$TMP/stall.logfile")
    if [ "$stall_rc" = 139 ] && [ $((file - term)) -gt 32768 ] && [ "$(tail -c 1 "$TMP/stall.logfile" | od -An -c | tr -d ' ')" = '\n' ]; then
        ok log_file_drained_on_crash; else
        not_ok log_file_drained_on_crash "exit $stall_rc; $term bytes on the terminal, $file in the file"; fi
else
    not_ok log_file_drained_on_crash "the server did not start: $(tail -3 "$TMP/stall.logfile" 2>&1)"
    kill -9 "$stall_pid" 2>/dev/null
    exec 7<&-
fi
exit 0
