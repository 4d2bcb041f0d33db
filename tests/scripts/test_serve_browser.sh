#!/usr/bin/env bash
# test_serve_browser: the chat page (GET /) in a real browser. Starts bitnet-server on a small
# generated model with an API key, checks the page is served as text/html (without the key)
# with nothing fetched from elsewhere, then serve_browser.cjs drives Debian's chromium headless
# with puppeteer-core: the page shows its key field, the test fills it in, types a
# message, sends it, waits for the streamed reply (text in the assistant bubble that grows
# while it streams, then the tokens/s line), stops a long reply with the Stop button (the
# stream ends, the slot is freed) and checks the conversation is sent back with the next turn.
# The screenshot goes to $BITNET_TEST_TMP/serve_browser.png and build/test-artifacts/.
# CI=true turns a missing chromium or puppeteer-core into a failure; elsewhere a skip.
# TEST_SERIAL: tests/run_tests.sh runs it alone (the page must finish within its timeouts).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
serve_prerequisites || exit 0
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then skip_or_fail chromium "chromium is not installed (apt-get install chromium)"; exit 0; fi
if ! command -v node >/dev/null; then skip_or_fail node "node is not installed"; exit 0; fi
if [ ! -f "$NODE_DIR/node_modules/puppeteer-core/package.json" ]; then
    skip_or_fail puppeteer "puppeteer-core is missing (scripts/fetch_openai_node.sh)"; exit 0; fi
M="$TMP/browser.gguf"
make_model "$M" || { not_ok gen_model "$(tail -3 "$TMP/gen.log")"; exit 1; }
KEY=browser-key-42
if ! start_server "$TMP/server.log" -m "$M" -t 2 -np 2 -c 2048 --chat-format llama3 --api-key "$KEY"; then
    not_ok server_starts "$(tail -5 "$TMP/server.log")"; kill -9 "$SERVER_PID" 2>/dev/null; exit 1
fi

# ---- the page as served ---------------------------------------------------------------------------
curl -s -D "$TMP/page.headers" -o "$TMP/page.html" --max-time 10 "$URL/"
check page_content_type grep -qi '^content-type: text/html; charset=utf-8' "$TMP/page.headers"
check page_is_the_source cmp -s "$TMP/page.html" "$ROOT/server/chat_page.html"
# Offline: no URL of another host in the page (the CSP header forbids them too).
check page_fetches_nothing_elsewhere bash -c "! grep -Eq '(src|href)=\"(https?:)?//' '$TMP/page.html'"

# ---- the browser --------------------------------------------------------------------------------
SHOT="$TMP/serve_browser.png"
timeout 90 node "$ROOT/tests/scripts/serve_browser.cjs" "$NODE_DIR/node_modules" "$CHROMIUM" "$URL" "$KEY" "$SHOT" \
    "$SCRIPT_NAME/browser" 2>"$TMP/node.err"
rc=$?
[ $rc -eq 0 ] || not_ok browser_exit "exit $rc: $(tail -5 "$TMP/node.err")"
if [ -s "$SHOT" ]; then
    mkdir -p "$ROOT/build/test-artifacts" && cp "$SHOT" "$ROOT/build/test-artifacts/serve_browser.png"
    check screenshot_is_png bash -c "head -c 8 '$SHOT' | od -An -tx1 | grep -q '89 50 4e 47'"
fi
stop_server TERM
check server_exit_0 [ "$STOP_RC" = 0 ]
exit 0
