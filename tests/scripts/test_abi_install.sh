#!/usr/bin/env bash
# ABI test: `make install` into a temporary prefix, then build examples/minimal.c and
# examples/streaming.c against the installed header and libraries only (pkg-config), shared
# and static, and run them on a generated model. Then tests/embed/compat_truncation.c, an
# embedder built the same way, calls the compatibility text functions with small buffers from
# several threads on a model with the real LLaMA-3 vocabulary and a 2048-token context (cut
# replies are successes, nothing is written past the buffer, generation stops early).
# CI=true: a missing reference vocabulary is a failure; elsewhere a skipped ok line.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
PREFIX="$TMP/prefix"
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"

if make -s install PREFIX="$PREFIX" BUILD="${BITNET_BUILD:-build}" >"$TMP/install.log" 2>&1; then
    ok install
else
    not_ok install "$(tail -5 "$TMP/install.log")"
    exit 0
fi
check installed_header test -f "$PREFIX/include/bitnet.h"
check installed_pc test -f "$PREFIX/lib/pkgconfig/bitnet.pc"
if ! command -v pkg-config >/dev/null; then
    not_ok pkg_config "pkg-config is not installed"
    exit 0
fi
cflags=$(pkg-config --cflags bitnet) && libs=$(pkg-config --libs bitnet)
check pkg_config_flags test -n "$libs"

model="$TMP/model.gguf"
"$BITNET" gen-model "$model" --ctx 128 >/dev/null 2>&1
check model test -f "$model"

# Only the installed tree: no -I or -L pointing into the source or build folders.
work="$TMP/abi"
mkdir -p "$work"
cp examples/minimal.c examples/streaming.c "$work/"
cd "$work"
check build_shared cc -std=c11 -Wall -Wextra -Werror minimal.c $cflags $libs -o minimal_shared
# static: the same pkg-config flags, with the linker told to take the archive
check build_static cc -std=c11 -Wall -Wextra -Werror minimal.c $cflags -Wl,-Bstatic $libs -Wl,-Bdynamic \
    $(pkg-config --static --libs-only-other bitnet) -lm -pthread -o minimal_static
check build_streaming cc -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter streaming.c $cflags $libs -o streaming
check static_has_no_libbitnet_dependency sh -c "! ldd ./minimal_static | grep -q libbitnet"
check shared_uses_installed_lib sh -c "LD_LIBRARY_PATH='$PREFIX/lib' ldd ./minimal_shared | grep -q '$PREFIX/lib/libbitnet.so'"

out_shared=$(LD_LIBRARY_PATH="$PREFIX/lib" ./minimal_shared "$model" "hello world" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "${out_shared#hello world}" != "$out_shared" ] && [ ${#out_shared} -gt 11 ]; then ok run_shared; else not_ok run_shared "rc $rc: $out_shared"; fi
out_static=$(./minimal_static "$model" "hello world" 2>&1)
if [ "$out_static" = "$out_shared" ]; then ok static_matches_shared; else not_ok static_matches_shared "$out_static"; fi
stream_err=$(LD_LIBRARY_PATH="$PREFIX/lib" ./streaming "$model" "hello" 2>&1 >/dev/null)
if echo "$stream_err" | grep -q "generated"; then ok run_streaming; else not_ok run_streaming "$stream_err"; fi
bad=$(LD_LIBRARY_PATH="$PREFIX/lib" ./minimal_shared "$TMP/missing.gguf" x 2>&1)
if [ $? -ne 0 ] && echo "$bad" | grep -q "missing.gguf"; then ok bad_model_reports_error; else not_ok bad_model_reports_error "$bad"; fi

# ---- the compatibility API's truncation contract, from an embedder's threads ------------------
VOCAB="$ROOT/.cache/reference/llama.cpp/models/ggml-vocab-llama-bpe.gguf"
if [ ! -f "$VOCAB" ]; then
    if [ "${CI:-}" = true ]; then not_ok compat_truncation "$VOCAB missing (CI=true: missing is a failure)"
    else echo "ok - $SCRIPT_NAME/compat_truncation # SKIP $VOCAB missing (scripts/fetch_reference.sh)"; fi
    exit 0
fi
vmodel="$TMP/vocab_model.gguf"
"$BITNET" gen-model "$vmodel" --vocab-from "$VOCAB" --ctx 2048 --seed 5 >"$TMP/gen_vocab.log" 2>&1
cp "$ROOT/tests/embed/compat_truncation.c" "$work/"
check build_compat_truncation cc -std=c11 -Wall -Wextra -Werror compat_truncation.c $cflags $libs -pthread -o compat_truncation
LD_LIBRARY_PATH="$PREFIX/lib" ./compat_truncation "$vmodel" >"$TMP/compat.out" 2>&1
rc=$?
sed -e "s#^ok - #ok - $SCRIPT_NAME/#" -e "s#^not ok - #not ok - $SCRIPT_NAME/#" "$TMP/compat.out"
check compat_truncation_exit_0 [ $rc -eq 0 ]
