#!/usr/bin/env bash
# Installs the npm packages of the server tests, pinned, into .cache/node (nothing global):
#   - openai: the official client (tests/scripts/test_serve.sh drives bitnet-server with it);
#   - @anthropic-ai/sdk: Anthropic's official client (test_serve.sh drives /v1/messages with it);
#   - puppeteer-core: drives Debian's chromium headless (tests/scripts/test_serve_browser.sh
#     opens the chat page with it; puppeteer-core downloads no browser).
# Prints the folder holding node_modules on success; exits non-zero with a message otherwise.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BITNET_NODE_DIR:-$ROOT/.cache/node}
PACKAGES=(openai@7.55.0 @anthropic-ai/sdk@1.17.0 puppeteer-core@24.43.1)

# has NAME@VERSION: installed at that version
has() {
    local name=${1%@*} version=${1##*@}
    [ -f "$DIR/node_modules/$name/package.json" ] && grep -q "\"version\": \"$version\"" "$DIR/node_modules/$name/package.json"
}
missing=()
for p in "${PACKAGES[@]}"; do has "$p" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && { echo "$DIR"; exit 0; }
command -v npm >/dev/null || { echo "fetch_openai_node: npm is not installed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"private": true}' >package.json
npm install --silent --no-audit --no-fund "${missing[@]}" >/dev/null ||
    { echo "fetch_openai_node: could not install ${missing[*]} from the npm registry" >&2; exit 1; }
echo "$DIR"
