# Helpers for the bitnet-server tests (sourced after lib.sh): a model with the real LLaMA-3
# vocabulary, starting and stopping servers on a free port of 127.0.0.1, curl with a timeout.
# CI=true turns a missing server binary, vocabulary, curl, node or openai package into a
# failure; elsewhere those are skipped with a reason.
SERVER="$BUILD/bitnet-server"
VOCAB="$ROOT/.cache/reference/llama.cpp/models/ggml-vocab-llama-bpe.gguf"
NODE_DIR="$ROOT/.cache/node"
# A build other than build/ (ASan, TSan) names its cases apart.
[ "${BITNET_BUILD:-build}" != build ] && SCRIPT_NAME="$SCRIPT_NAME@${BITNET_BUILD}"

skip_or_fail() { # NAME WHY
    if [ "${CI:-}" = true ]; then not_ok "$1" "$2 (CI=true: missing is a failure)"; else echo "ok - $SCRIPT_NAME/$1 # SKIP $2"; fi
}

# serve_prerequisites: 0 when the server, curl and the vocabulary are there (else reported).
serve_prerequisites() {
    if [ ! -x "$SERVER" ]; then
        skip_or_fail built "$SERVER missing (install libmicrohttpd-dev libjansson-dev, then make)"; return 1
    fi
    if ! command -v curl >/dev/null; then skip_or_fail curl "curl is not installed"; return 1; fi
    if [ ! -f "$VOCAB" ]; then skip_or_fail vocab "$VOCAB missing (scripts/fetch_reference.sh)"; return 1; fi
    return 0
}

# make_model FILE: a small random model with the LLaMA-3 vocabulary (the build's own bitnet
# is slow under sanitizers: build/bitnet writes the same file when it is there).
make_model() {
    local gen="$BITNET"
    [ -x "$ROOT/build/bitnet" ] && gen="$ROOT/build/bitnet"
    "$gen" gen-model "$1" --vocab-from "$VOCAB" --wtype tq2_0 --seed 3 --ctx 4096 >"$TMP/gen.log" 2>&1
}

# Extra curl arguments of start_server and req (a TLS test's --cacert).
CURL_EXTRA=()

# start_server LOG ARGS...: starts the server on a free port; sets SERVER_PID and URL (http:// or
# https://, with the --api-prefix). Waits for the 'listening on' line, then for /health 200.
# Returns 1 when it does not come up.
start_server() {
    local log=$1; shift
    # stdout to /dev/null: a server left running must not hold a caller's $(...) pipe open (it
    # writes only --help there)
    "$SERVER" "$@" --port 0 2>"$log" >/dev/null &
    SERVER_PID=$!
    URL=
    for _ in $(seq 1 600); do
        URL=$(grep -o 'listening on https\?://[^ ]*' "$log" | head -1 | sed 's/^listening on //')
        [ -n "$URL" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    [ -n "$URL" ] || return 1
    for _ in $(seq 1 600); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${CURL_EXTRA[@]}" "$URL/health")" = 200 ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# stop_server [SIGNAL]: signals the server (TERM) and waits for it; STOP_RC is its exit
# status (137 when a watchdog had to kill it after 30 s).
stop_server() {
    kill -"${1:-TERM}" "$SERVER_PID" 2>/dev/null
    # the watchdog's fds to /dev/null: killing the subshell leaves its sleep running, which
    # would hold a caller's $(...) pipe open for the whole 30 s
    (sleep 30; kill -KILL "$SERVER_PID" 2>/dev/null) >/dev/null 2>&1 </dev/null &
    local watchdog=$!
    wait "$SERVER_PID"
    STOP_RC=$?
    kill "$watchdog" 2>/dev/null
    wait "$watchdog" 2>/dev/null
}

# req METHOD PATH [BODY] -> writes the body to $TMP/resp and prints the status (curl bounded).
req() {
    local method=$1 path=$2 body=${3-}
    local args=(-s -o "$TMP/resp" -w '%{http_code}' --max-time 60 -X "$method" "${AUTH[@]}" "${CURL_EXTRA[@]}")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    curl "${args[@]}" "$URL$path"
}

# all_idle: waits (up to 10 s) until no slot of the server at $URL is processing.
all_idle() {
    for _ in $(seq 1 100); do
        req GET /slots >/dev/null
        [ "$(json_get 'any(s["is_processing"] for s in j)' <"$TMP/resp")" = False ] && return 0
        sleep 0.1
    done
    return 1
}

# node_prerequisites: 0 when node is there (else reported).
node_prerequisites() {
    command -v node >/dev/null && return 0
    skip_or_fail node "node is not installed (apt-get install nodejs)"
    return 1
}

# sanitizer_reports NAME LOG...: a case that fails when a log holds a sanitizer report.
sanitizer_reports() {
    local name=$1; shift
    if grep -q -E 'ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$@"; then
        not_ok "$name" "a sanitizer report:"
        grep -h -A12 -E 'ERROR: |WARNING: ThreadSanitizer|runtime error:' "$@" | head -40 | sed 's/^/    /'
    else
        ok "$name"
    fi
}

# json_get EXPR < JSON: a Python expression over `j` (the parsed JSON), printed.
json_get() { "$PY" -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

# native_check NAME PYTHON_EXPR: the expression (over j, the last reply's JSON, $TMP/resp) is True.
native_check() {
    local got
    got=$(json_get "$2" <"$TMP/resp" 2>&1)
    if [ "$got" = True ]; then ok "$1"; else not_ok "$1" "$got: $(head -c 300 "$TMP/resp")"; fi
}
