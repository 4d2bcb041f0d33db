# bench_serve_lib.sh: sourced (from the repository root, ROOT set) by the benchmarks that start a
# `bitnet serve` of their own (bench_prefix_share.sh, bench_cache_reuse.sh).

# bench_serve_setup WHO: BUILD, BIN, SERVER (exits saying so when the server was not built) and
# MODEL, the 2B-4T-shaped I2_S file (scripts/bench_models.sh makes it when missing).
bench_serve_setup() {
    BUILD=${BITNET_BUILD:-build}
    BIN="$ROOT/$BUILD/bitnet"
    SERVER="$ROOT/$BUILD/bitnet-server"
    [ -x "$SERVER" ] || { echo "$1: $SERVER is missing (make; it needs libmicrohttpd and jansson)" >&2; exit 1; }
    . scripts/bench_models.sh
    MODEL=$(bench_model i2_s)
}

# bench_server_url LOG PID WHO: waits (up to 120 s) until the server of PID, logging to LOG, has
# loaded its model, then prints its URL; returns 1 after saying why when it exited instead.
bench_server_url() {
    local log=$1 pid=$2 who=$3
    for _ in $(seq 1 600); do
        grep -q '; ready' "$log" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || { echo "$who: the server exited: $(tail -3 "$log")" >&2; return 1; }
        sleep 0.2
    done
    sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log" | head -1
}
