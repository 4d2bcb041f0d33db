#!/usr/bin/env bash
# test_serve_sanitizers: test_serve.sh again against the ASan+UBSan server (build-asan) and
# the TSan server (build-tsan), which `make test` builds, and test_serve_listen.sh (TLS, Unix
# sockets, the API prefix) against the ASan+UBSan one; their cases are named
# test_serve@build-asan/... and test_serve@build-tsan/.... A sanitizer report in a server's
# log fails the run (test_serve.sh checks its logs); the TSan run leaves out the official
# clients and serve_native_api.sh's requests (test_serve.sh says why). A missing build is
# skipped outside CI.
# TEST_LONG=200: tests/run_tests.sh starts it early (seconds on 2 cores, the longest first).
source "$(dirname "$0")/lib.sh"
for build in build-asan build-tsan; do
    if [ ! -x "$ROOT/$build/bitnet-server" ]; then
        if [ "${CI:-}" = true ]; then not_ok "$build" "$ROOT/$build/bitnet-server missing (make test builds it; CI=true)"
        else echo "ok - $SCRIPT_NAME/$build # SKIP $ROOT/$build/bitnet-server missing (make ${build#build-})"; fi
        continue
    fi
    mkdir -p "$TMP/$build"
    BITNET_BUILD=$build BITNET_TEST_TMP="$TMP/$build" timeout 600 bash "$ROOT/tests/scripts/test_serve.sh"
    rc=$?
    [ $rc -eq 0 ] || not_ok "$build" "test_serve.sh exited $rc"
    [ "$build" = build-asan ] || continue
    mkdir -p "$TMP/$build-listen"
    BITNET_BUILD=$build BITNET_TEST_TMP="$TMP/$build-listen" timeout 300 bash "$ROOT/tests/scripts/test_serve_listen.sh"
    rc=$?
    [ $rc -eq 0 ] || not_ok "$build-listen" "test_serve_listen.sh exited $rc"
done
exit 0
