#!/usr/bin/env bash
# The library, CLI and unit tests build warning-free under clang too (-Wall -Wextra -Werror,
# the CI flags), not only under gcc. Compiled at -O0 into build-clang/ to keep it quick.
source "$(dirname "$0")/lib.sh"
if ! command -v clang >/dev/null; then
    if [ "${CI:-}" = true ]; then not_ok clang_build "clang is not installed (CI=true)"; exit 1; fi
    echo "ok - $SCRIPT_NAME # SKIP clang not installed"
    exit 0
fi
log="$TMP/clang.log"
if make -C "$ROOT" -j2 CC=clang BUILD=build-clang OPT=-O0 CI=true all tests >"$log" 2>&1; then
    ok clang_build_werror
else
    not_ok clang_build_werror "$(grep -E 'error|warning' "$log" | head -10)"
fi
