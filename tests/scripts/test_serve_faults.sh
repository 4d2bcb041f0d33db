#!/usr/bin/env bash
# test_serve_faults: bitnet-server's faults, loopback only, every client bounded by a timeout.
#   - a bad model at start-up (a missing file, a file that is not a GGUF, a GGUF truncated to
#     half its size): a clean exit, non-zero, within a bound, with a message on stderr that names
#     the file and the problem;
#   - SIGTERM while several requests stream (2 slots streaming, 2 streams and 2 plain requests
#     queued):
#     the server exits 0 within a bound; every stream ends with [DONE] after a finish chunk or an
#     error event, every plain request gets a reply or an error object; no client hangs.
# (A client that disconnects mid-stream is test_serve.sh's killed_client_frees_slot.)
# TEST_SERIAL: tests/run_tests.sh runs it alone (SIGTERM must end the server within 15 s).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
serve_prerequisites || exit 0
M="$TMP/faults.gguf"
make_model "$M" || { not_ok gen_model "$(tail -3 "$TMP/gen.log")"; exit 1; }
AUTH=()

# ---- a bad model at start-up ------------------------------------------------------------------
# bad_model NAME FILE PATTERN: the server on FILE exits non-zero within 60 s, and its stderr
# names FILE and matches PATTERN (extended regex, case-insensitive).
bad_model() {
    local name=$1 file=$2 pattern=$3 t0=$SECONDS
    timeout 60 "$SERVER" -m "$file" --port 0 >/dev/null 2>"$TMP/$name.err"
    local rc=$?
    local msg; msg=$(grep -v 'listening on' "$TMP/$name.err" | head -3)
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q -F "$file" <<<"$msg" && grep -q -i -E "$pattern" <<<"$msg"; then
        ok "$name (exit $rc in $((SECONDS - t0)) s: $msg)"
    else
        not_ok "$name" "exit $rc; stderr: $(head -c 400 "$TMP/$name.err")"
    fi
}
bad_model missing_model "$TMP/no-such-model.gguf" 'no such file|not found|cannot open'
printf 'this is a text file, not a model\n%.0s' $(seq 1 50) >"$TMP/not-a-model.gguf"
bad_model not_a_gguf "$TMP/not-a-model.gguf" 'magic|not a gguf'
head -c $(($(stat -c %s "$M") / 2)) "$M" >"$TMP/truncated.gguf"
bad_model truncated_gguf "$TMP/truncated.gguf" 'truncated|past (the )?end|not enough bytes|bytes are left|too (short|small)'

# ---- SIGTERM while several requests stream ---------------------------------------------------------
if ! start_server "$TMP/term.log" -m "$M" -t 1 -np 2 -c 8192 --queue 8; then
    not_ok server_starts "$(tail -5 "$TMP/term.log")"; kill -9 "$SERVER_PID" 2>/dev/null; exit 1
fi
body() { # I STREAM
    printf '{"prompt":"Stream %d: a long story","max_tokens":4000,"temperature":0,"ignore_eos":true,"stream":%s}' "$1" "$2"
}
pids=()
# send I STREAM: request I in the background; its reply goes to $TMP/outI, curl's status to $TMP/rcI.
send() {
    { curl -s -N --max-time 60 -d "$(body "$1" "$2")" "$URL/v1/completions" >"$TMP/out$1"; echo $? >"$TMP/rc$1"; } &
    pids+=($!)
}
for i in 0 1 2 3; do send $i true; done
# Both slots stream before the signal (the other two streams wait in the queue) ...
streaming=0
for _ in $(seq 1 300); do
    streaming=$(grep -l '^data: ' "$TMP"/out[0-3] 2>/dev/null | wc -l)
    [ "$streaming" -ge 2 ] && break
    sleep 0.1
done
check "two_slots_streaming ($streaming)" [ "$streaming" -ge 2 ]
# ... and two plain requests join the queue.
send 4 false
send 5 false
sleep 0.5
t0=$SECONDS
stop_server TERM
rc=$STOP_RC
wait "${pids[@]}"
took=$((SECONDS - t0))
check "sigterm_exit_0 (${took} s)" [ "$rc" = 0 -a "$took" -le 15 ]
ended=0
for i in 0 1 2 3 4 5; do
    if "$PY" - "$TMP/out$i" <<'PY'
import json, sys
raw = open(sys.argv[1], encoding="utf-8", errors="replace").read()
if raw.startswith("data: "):
    events = [l[6:] for l in raw.splitlines() if l.startswith("data: ")]
    assert events[-1] == "[DONE]", "no [DONE]"
    last = json.loads(events[-2])
    assert "error" in last or last["choices"][0]["finish_reason"], "neither a finish chunk nor an error event"
else:
    j = json.loads(raw)
    assert "error" in j or j["choices"][0]["finish_reason"], "neither a reply nor an error object"
PY
    then ended=$((ended + 1)); else echo "    request $i: curl exit $(cat "$TMP/rc$i"): $(head -c 200 "$TMP/out$i") ... $(tail -c 200 "$TMP/out$i")"; fi
done
check "sigterm_every_request_ended_clearly ($ended of 6)" [ "$ended" = 6 ]
sanitizer_reports no_sanitizer_reports "$TMP/term.log"
exit 0
