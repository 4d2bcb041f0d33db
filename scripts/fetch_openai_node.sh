#!/usr/bin/env bash
# Installs the official `openai` npm package (pinned) into .cache/node for the server tests
# (tests/scripts/test_serve.sh drives bitnet-server with it). Nothing is installed globally.
# Prints the folder holding node_modules on success; exits non-zero with a message otherwise.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BITNET_NODE_DIR:-$ROOT/.cache/node}
OPENAI_VERSION=7.55.0

if [ -f "$DIR/node_modules/openai/package.json" ] &&
    grep -q "\"version\": \"$OPENAI_VERSION\"" "$DIR/node_modules/openai/package.json"; then
    echo "$DIR"; exit 0
fi
command -v npm >/dev/null || { echo "fetch_openai_node: npm is not installed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"private": true}' >package.json
npm install --silent --no-audit --no-fund "openai@$OPENAI_VERSION" >/dev/null ||
    { echo "fetch_openai_node: could not install openai@$OPENAI_VERSION from the npm registry" >&2; exit 1; }
echo "$DIR"
