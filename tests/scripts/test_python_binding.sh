#!/usr/bin/env bash
# Runs the Python binding's unittest suite (bindings/python/test_bitnet.py) against the
# shared library of this build and turns its verbose report into ok / not ok lines.
source "$(dirname "$0")/lib.sh"
lib="${BITNET_LIB:-$BUILD/libbitnet.so}"
if [ ! -x "$PY" ] || [ ! -f "$lib" ]; then
    not_ok setup "need $PY and $lib (make all)"
    exit 0
fi
# The binding's tests generate a model with the reference's LLaMA-3 vocabulary.
source "$ROOT/tests/crossval/crossval_lib.sh"
[ -f "$LLAMA_BPE_VOCAB" ] || unavailable "reference vocabulary not fetched (scripts/fetch_reference.sh)"
log="$TMP/unittest.log"
(cd "$ROOT/bindings/python" && BITNET_LIB="$lib" BITNET_BUILD="${BITNET_BUILD:-build}" \
    "$PY" -m unittest -v test_bitnet) >"$log" 2>&1
rc=$?
# "test_name (test_bitnet.BindingTest...) ... ok" / "... FAIL" / "... ERROR"
while IFS= read -r line; do
    name=${line%% *}
    case "$line" in
        *" ... ok") ok "$name" ;;
        *" ... FAIL" | *" ... ERROR") not_ok "$name" ;;
    esac
done <"$log"
if [ $rc -ne 0 ]; then not_ok unittest "exit $rc"; sed 's/^/    /' "$log" | tail -30; fi
