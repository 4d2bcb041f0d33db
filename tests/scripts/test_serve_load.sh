#!/usr/bin/env bash
# test_serve_load: bitnet-server under load, loopback only, bounded in count and time. A server
# with 4 slots and a queue of 4 (-np 4 --queue 4) on a small generated model; the client is
# tests/scripts/serve_load_client.cjs (Node's http module, no packages):
#   1. the reference set (8 greedy requests, chat and completions) runs alone, one by one;
#   2. warm-up: 16 concurrent clients send a short mixed run; then, with every slot idle, the
#      server's resident memory (VmRSS in /proc/PID/status) is the idle level;
#   3. the load: 16 concurrent clients send a few hundred mixed requests (chat and completions,
#      plain and streamed, some cancelled mid-stream by closing the socket, some malformed): no
#      5xx other than 503 (the full queue, by design: seen at least once, and retried by the
#      client after 50 ms), 400 for every malformed one, every completed reply identical to its
#      reference (a quarter of them pinned to a slot with id_slot: waiting for it, the same reply);
#   4. with every slot idle again, VmRSS is within RSS_SLACK_KB (6 MB) of the idle level: the
#      KV caches are allocated up front and a request frees what it allocates, so nothing may
#      grow with the number of requests (the warm-up at the same concurrency has already
#      grown malloc's per-thread arenas; what they keep still moves by up to ~3 MB from run to
#      run, either way, on a ~100 MB server);
#   5. SIGTERM: exit 0.
# Then the same, with fewer requests, against the ASan+UBSan server (build-asan; skipped when
# that build is missing outside CI): no sanitizer report and no leak (LSan runs at the exit) in
# its log. ASan's quarantine holds freed memory back, so the RSS check is the normal build's.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
serve_prerequisites || exit 0
node_prerequisites || exit 0
M="$TMP/load.gguf"
make_model "$M" || { not_ok gen_model "$(tail -3 "$TMP/gen.log")"; exit 1; }
CLIENT="$ROOT/tests/scripts/serve_load_client.cjs"
RSS_SLACK_KB=${RSS_SLACK_KB:-6144}
AUTH=()

vm_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# client MODE ARGS... LABEL: the load client, bounded.
client() { timeout 120 node "$CLIENT" "$@"; }

# load_run BUILD N_WARM N_LOAD: one server of BUILD through steps 1-5.
load_run() {
    local build=$1 n_warm=$2 n_load=$3 name=$SCRIPT_NAME
    SCRIPT_NAME="$name@$build"
    SERVER="$ROOT/$build/bitnet-server"
    local log="$TMP/$build.log" t0=$SECONDS
    if ! start_server "$log" -m "$M" -t 2 -np 4 -c 1024 --queue 4; then
        not_ok server_starts "$(tail -5 "$log")"; kill -9 "$SERVER_PID" 2>/dev/null; SCRIPT_NAME=$name; return
    fi
    client reference "$URL" "$TMP/refs.json" "$SCRIPT_NAME"
    client load "$URL" "$TMP/refs.json" 16 "$n_warm" 1 "$SCRIPT_NAME/warmup"
    check idle_after_warmup all_idle
    local idle_kb; idle_kb=$(vm_rss_kb "$SERVER_PID")
    client load "$URL" "$TMP/refs.json" 16 "$n_load" 2 "$SCRIPT_NAME"
    check idle_after_load all_idle
    local after_kb; after_kb=$(vm_rss_kb "$SERVER_PID")
    if [ "$build" = build ]; then
        check "rss_back_to_idle (idle ${idle_kb} kB, after the load ${after_kb} kB, slack ${RSS_SLACK_KB} kB)" \
            [ "$after_kb" -le $((idle_kb + RSS_SLACK_KB)) ]
    fi
    stop_server TERM
    check sigterm_exit_0 [ "$STOP_RC" = 0 ]
    [ "$STOP_RC" = 0 ] || tail -20 "$log" | sed 's/^/    /'
    sanitizer_reports no_sanitizer_report_or_leak "$log"
    echo "# $SCRIPT_NAME: $((SECONDS - t0)) s"
    SCRIPT_NAME=$name
}

load_run build "${LOAD_WARM:-48}" "${LOAD_REQUESTS:-300}"
if [ -x "$ROOT/build-asan/bitnet-server" ]; then
    load_run build-asan "${LOAD_WARM_ASAN:-32}" "${LOAD_REQUESTS_ASAN:-120}"
else
    skip_or_fail build-asan "$ROOT/build-asan/bitnet-server missing (make asan)"
fi
exit 0
