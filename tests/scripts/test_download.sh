#!/usr/bin/env bash
# Tests of scripts/download_model.sh (make download) without the network: file:// URLs stand
# in for Hugging Face, with the expected size and SHA-256 overridden to match a local file.
# Covers: a good file installed; a verified file not fetched again; a corrupted download and
# a wrong size rejected and not moved into place; a partial .part resumed (not restarted);
# an unreachable host failing fast with the by-hand instructions; bad overrides refused.
# TEST_SERIAL: tests/run_tests.sh runs it alone (a host that does not answer must fail within 12 s).
. "$(dirname "$0")/lib.sh"

SCRIPT="$ROOT/scripts/download_model.sh"
SRC="$TMP/source.gguf"
NAME=ggml-model-i2_s.gguf
head -c 300000 /dev/urandom >"$SRC"
GOOD_SHA=$(sha256sum "$SRC" | cut -d' ' -f1)
GOOD_SIZE=$(stat -c %s "$SRC")

# fetch MODELS_DIR URL [SHA] [SIZE]: runs the script, output in $TMP/out.txt, returns its status.
fetch() {
    BITNET_MODELS_DIR=$1 BITNET_DOWNLOAD_URL=$2 BITNET_DOWNLOAD_SHA256=${3:-$GOOD_SHA} \
        BITNET_DOWNLOAD_SIZE=${4:-$GOOD_SIZE} bash "$SCRIPT" >"$TMP/out.txt" 2>&1
}
said() { grep -q -- "$1" "$TMP/out.txt"; }
show() { sed 's/^/    /' "$TMP/out.txt"; }

# 1. a good file is installed, byte for byte, with no .part left behind
d="$TMP/good"
if fetch "$d" "file://$SRC" && cmp -s "$SRC" "$d/$NAME" && [ ! -e "$d/$NAME.part" ]; then
    ok good_file_installed
else not_ok good_file_installed; show; fi

# 2. run again with an unreachable source: the verified file is kept, nothing is fetched
if fetch "$d" "file://$TMP/does-not-exist" && said "already present and verified"; then
    ok verified_file_not_fetched_again
else not_ok verified_file_not_fetched_again; show; fi

# 3. a corrupted download (one byte changed) is rejected, deleted, and not moved into place;
#    the byte is the source's plus one (a fixed 'X' left 1 source in 256 unchanged)
BAD="$TMP/corrupt.gguf"
cp "$SRC" "$BAD"
old_byte=$(od -An -tu1 -j1234 -N1 "$SRC" | tr -d ' ')
printf "\\$(printf '%03o' $(((old_byte + 1) % 256)))" | dd of="$BAD" bs=1 seek=1234 conv=notrunc status=none
cmp -s "$SRC" "$BAD" && { echo "test_download: the corruption left the file unchanged" >&2; exit 1; }
d="$TMP/corrupt"
if ! fetch "$d" "file://$BAD" && said "SHA-256" && [ ! -e "$d/$NAME" ] && [ ! -e "$d/$NAME.part" ]; then
    ok corrupted_download_rejected
else not_ok corrupted_download_rejected; show; fi

# 4. a file of the wrong size is rejected the same way (the size is checked first)
d="$TMP/size"
if ! fetch "$d" "file://$SRC" "$GOOD_SHA" $((GOOD_SIZE - 1)) && said "expected $((GOOD_SIZE - 1))" \
    && [ ! -e "$d/$NAME" ]; then
    ok wrong_size_rejected
else not_ok wrong_size_rejected; show; fi

# 5. resume: the .part holds the first 100,000 good bytes; the source differs in its first
#    bytes, so only a real resume (not a restart) produces the expected hash
SHIFTED="$TMP/shifted.gguf"
cp "$SRC" "$SHIFTED"
printf 'ZZZZ' | dd of="$SHIFTED" bs=1 seek=10 conv=notrunc status=none
d="$TMP/resume"
mkdir -p "$d"
head -c 100000 "$SRC" >"$d/$NAME.part"
if fetch "$d" "file://$SHIFTED" && said "resuming" && cmp -s "$SRC" "$d/$NAME"; then
    ok partial_download_resumed
else not_ok partial_download_resumed; show; fi

# 6. an existing file that does not verify is reported and left untouched
d="$TMP/foreign"
mkdir -p "$d"
echo "not a model" >"$d/$NAME"
if ! fetch "$d" "file://$SRC" && said "not the expected file" && [ "$(cat "$d/$NAME")" = "not a model" ]; then
    ok foreign_file_left_alone
else not_ok foreign_file_left_alone; show; fi

# 7. an unreachable host (connection refused on the discard port) fails at once and says
#    how to place the file by hand
d="$TMP/offline"
t0=$SECONDS
if ! fetch "$d" "http://127.0.0.1:9/$NAME" && said "cannot reach 127.0.0.1" && said "by hand" \
    && said "$d/$NAME" && [ $((SECONDS - t0)) -le 12 ] && [ ! -e "$d/$NAME" ]; then
    ok unreachable_host_fails_fast
else not_ok unreachable_host_fails_fast "took $((SECONDS - t0)) s"; show; fi

# 8. malformed overrides are refused before anything is fetched
d="$TMP/bad"
if ! fetch "$d" "file://$SRC" "abc" && said "BITNET_DOWNLOAD_SHA256" \
    && ! fetch "$d" "file://$SRC" "$GOOD_SHA" "12kB" && said "BITNET_DOWNLOAD_SIZE"; then
    ok bad_overrides_refused
else not_ok bad_overrides_refused; show; fi
