#!/usr/bin/env bash
# download_model.sh (make download): fetches microsoft/bitnet-b1.58-2B-4T's GGUF
# (ggml-model-i2_s.gguf) into models/, verifies its size and SHA-256, and only then moves it
# into place.
#
# - Resumable: curl writes models/ggml-model-i2_s.gguf.part and continues it (-C -) when run
#   again after an interruption.
# - An existing file that verifies is not downloaded again; one that does not verify is left
#   alone and reported (the script never deletes or overwrites it).
# - A download that fails verification is deleted (resuming it again could not fix it).
# - Offline (no route, DNS failure, refused connection, connect timeout of 10 s) it fails at
#   once and says how to place the file by hand.
#
# Overrides (used by tests/scripts/test_download.sh with file:// URLs):
#   BITNET_DOWNLOAD_URL, BITNET_DOWNLOAD_SHA256, BITNET_DOWNLOAD_SIZE, BITNET_MODELS_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
URL=${BITNET_DOWNLOAD_URL:-https://huggingface.co/microsoft/bitnet-b1.58-2B-4T-gguf/resolve/main/ggml-model-i2_s.gguf}
SHA256=${BITNET_DOWNLOAD_SHA256:-4221b252fdd5fd25e15847adfeb5ee88886506ba50b8a34548374492884c2162}
SIZE=${BITNET_DOWNLOAD_SIZE:-1187801280}
MODELS_DIR=${BITNET_MODELS_DIR:-$ROOT/models}
DEST=$MODELS_DIR/ggml-model-i2_s.gguf
PART=$DEST.part
CONNECT_TIMEOUT=10

say()  { echo "download: $*" >&2; }
fail() { say "error: $*"; exit 1; }

file_size() { stat -c %s "$1"; }

file_sha256() {
    if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null; then shasum -a 256 "$1" | cut -d' ' -f1
    else fail "neither sha256sum nor shasum is installed: cannot verify the download"
    fi
}

# verify FILE: 0 when size and SHA-256 match; otherwise prints why and returns 1.
verify() {
    local file=$1 size sum
    size=$(file_size "$file")
    if [ "$size" != "$SIZE" ]; then
        say "$file: size $size bytes, expected $SIZE"
        return 1
    fi
    say "checking the SHA-256 of $file ..."
    sum=$(file_sha256 "$file")
    if [ "$sum" != "$SHA256" ]; then
        say "$file: SHA-256 $sum, expected $SHA256"
        return 1
    fi
}

by_hand_hint() {
    cat >&2 <<EOF
download: to install the model by hand, on a machine with internet access fetch
download:     $URL
download: and copy it to
download:     $DEST
download: (expected: $SIZE bytes, SHA-256 $SHA256); then run 'make download' again to verify it.
EOF
}

[[ "$SIZE" =~ ^[0-9]+$ ]] || fail "BITNET_DOWNLOAD_SIZE '$SIZE' is not a number of bytes"
[[ "$SHA256" =~ ^[0-9a-f]{64}$ ]] || fail "BITNET_DOWNLOAD_SHA256 '$SHA256' is not 64 lower-case hex digits"
command -v curl >/dev/null || { say "error: curl is not installed"; by_hand_hint; exit 1; }

if [ -e "$DEST" ]; then
    if verify "$DEST"; then
        say "$DEST is already present and verified; nothing to do"
        exit 0
    fi
    fail "$DEST exists but is not the expected file; move it away and run again"
fi

mkdir -p "$MODELS_DIR"
if [ -e "$PART" ] && [ "$(file_size "$PART")" -gt "$SIZE" ]; then
    say "$PART is larger than the model: discarding it"
    rm -f "$PART"
fi

if [ ! -e "$PART" ] || [ "$(file_size "$PART")" -lt "$SIZE" ]; then
    if [ -e "$PART" ]; then say "resuming $PART ($(file_size "$PART") of $SIZE bytes)"; fi
    say "fetching $URL"
    rc=0
    curl --fail --location --continue-at - --output "$PART" \
         --connect-timeout "$CONNECT_TIMEOUT" --speed-limit 1024 --speed-time 60 \
         --progress-bar "$URL" || rc=$?
    case $rc in
        0) ;;
        5|6|7|28)  # proxy/host not resolved, connection failed, timed out
            host=$(printf '%s' "$URL" | sed -E 's|^[a-z]+://([^/:]+).*|\1|')
            say "error: this machine cannot reach $host (curl exit $rc: no route, DNS failure or connection refused)."
            by_hand_hint
            exit 1 ;;
        *)
            say "error: curl failed (exit $rc) fetching $URL"
            [ -e "$PART" ] && say "the partial download $PART is kept; run again to resume"
            exit 1 ;;
    esac
fi

[ -e "$PART" ] || fail "curl reported success but wrote no file to $PART"
if ! verify "$PART"; then
    if [ "$(file_size "$PART")" -lt "$SIZE" ]; then
        fail "the download ended early; $PART is kept: run again to resume"
    fi
    rm -f "$PART"
    fail "the download does not match the expected file and was deleted; run again to fetch it anew"
fi
mv -f "$PART" "$DEST"
say "installed $DEST ($SIZE bytes, SHA-256 verified)"
