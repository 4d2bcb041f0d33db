#!/usr/bin/env bash
# test_serve_nginx: scale-out behind nginx, loopback only. Two bitnet-server replicas on free
# ports of 127.0.0.1 behind nginx (Debian's package) configured with deploy/nginx-bitnet.conf,
# the ports templated into a copy under the test's temp folder; nginx runs unprivileged-port,
# with its pid, logs and temp paths there (nginx -p -c -e), and stops with `nginx -s quit`.
#   - /health answers 200 through nginx; a stream comes through token by token;
#   - a steady stream of 40 requests (2 clients, plain and streamed, chat and completions;
#     tests/scripts/serve_load_client.cjs failover) goes through nginx; after a third of them,
#     once both replicas have served some, replica A gets kill -9. The requests in flight on A
#     may fail cleanly (a 502 or a cut stream): at most 2, all in flight at the kill; every
#     other request gets the same greedy reply as before the kill, through replica B;
#   - replica B exits 0 on SIGTERM; nginx quits.
# Without nginx or node the test is skipped, except in CI (CI=true), where that is a failure.
# TEST_SERIAL: tests/run_tests.sh runs it alone (a stream must deliver its first event before half its time).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
serve_prerequisites || exit 0
node_prerequisites || exit 0
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX" ]; then skip_or_fail nginx "nginx is not installed (apt-get install nginx)"; exit 0; fi
M="$TMP/nginx.gguf"
make_model "$M" || { not_ok gen_model "$(tail -3 "$TMP/gen.log")"; exit 1; }
AUTH=()
NG="$TMP/nginx"
mkdir -p "$NG"
nginx_cmd() { "$NGINX" -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" "$@"; }

PIDS=()
cleanup() {
    [ -f "$NG/nginx.pid" ] && nginx_cmd -s stop 2>/dev/null
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
}
trap 'cleanup 2>/dev/null' EXIT

# ---- two replicas ----------------------------------------------------------------------------------
# start_replica NAME: a replica logging to $TMP/NAME.log; sets SERVER_PID and URL, or exits.
start_replica() {
    if ! start_server "$TMP/$1.log" -m "$M" -t 1 -np 2 -c 512 --queue 8; then
        not_ok "replica_$1_starts" "$(tail -5 "$TMP/$1.log")"; exit 1
    fi
    PIDS+=("$SERVER_PID")
}
start_replica a
PID_a=$SERVER_PID URL_a=$URL
start_replica b
PID_b=$SERVER_PID URL_b=$URL
ok "replicas_start ($URL_a, $URL_b)"

# ---- nginx ---------------------------------------------------------------------------------------
LB_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$LB_PORT/" -e "s/127\.0\.0\.1:8081/${URL_a#http://}/" \
    -e "s/127\.0\.0\.1:8082/${URL_b#http://}/" "$ROOT/deploy/nginx-bitnet.conf" >"$NG/bitnet.conf"
check config_templated [ "$(grep -c -E "^ *(listen|server) 127.0.0.1:($LB_PORT|${URL_a##*:}|${URL_b##*:})[ ;]" "$NG/bitnet.conf")" -eq 3 ]
user=
[ "$(id -u)" = 0 ] && user="user root root;" # workers as root: the temp folder is private to this user
cat >"$NG/nginx.conf" <<EOF
$user
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 256; }
http {
    access_log $NG/access.log;
    add_header X-Bitnet-Upstream \$upstream_addr always; # which replica answered (the client checks)
    client_body_temp_path $NG/body;
    proxy_temp_path $NG/proxy;
    fastcgi_temp_path $NG/fastcgi;
    uwsgi_temp_path $NG/uwsgi;
    scgi_temp_path $NG/scgi;
    include $NG/bitnet.conf;
}
EOF
if ! nginx_cmd >"$NG/start.out" 2>&1; then
    not_ok nginx_starts "$(cat "$NG/start.out") $(tail -5 "$NG/error.log" 2>/dev/null)"; exit 1
fi
URL="http://127.0.0.1:$LB_PORT"
healthy=0
for _ in $(seq 1 100); do
    [ "$(req GET /health)" = 200 ] && { healthy=1; break; }
    sleep 0.1
done
check health_through_nginx [ $healthy = 1 ]

# ---- kill -9 one replica under a steady stream of requests --------------------------------------
t0=$SECONDS
# (The shell's "Killed" notice for replica A goes to /dev/null; the client's stderr does not.)
{ timeout 120 node "$ROOT/tests/scripts/serve_load_client.cjs" failover "$URL" "$URL_a" "$URL_b" "$PID_a" 40 "$SCRIPT_NAME" 2>&3
  rc=$?; } 3>&2 2>/dev/null
[ $rc -eq 0 ] || { echo "    nginx error log:"; tail -5 "$NG/error.log" | sed 's/^/    /'; }
echo "# failover run: $((SECONDS - t0)) s"
{ wait "$PID_a"; } 2>/dev/null
check replica_a_was_killed [ ! -d "/proc/$PID_a" ]
check served_after_the_kill [ "$(req POST /v1/completions '{"prompt":"Hi","max_tokens":2,"temperature":0}')" = 200 ]

# ---- shutdown ------------------------------------------------------------------------------------
SERVER_PID=$PID_b
stop_server TERM
check replica_b_sigterm_exit_0 [ "$STOP_RC" = 0 ]
nginx_cmd -s quit
for _ in $(seq 1 100); do [ -f "$NG/nginx.pid" ] || break; sleep 0.1; done
check nginx_quits [ ! -f "$NG/nginx.pid" ]
sanitizer_reports no_sanitizer_reports "$TMP/a.log" "$TMP/b.log"
exit 0
