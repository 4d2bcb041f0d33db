#!/usr/bin/env bash
# The aarch64 build, emulated: cross-compiled with Debian's aarch64-linux-gnu-gcc into
# build-aarch64/ (`make CROSS=aarch64`, -Werror) and run under qemu-aarch64 (user mode).
#   cross_build_werror      library, CLI and the kernel unit tests build warning-free
#   clang_cross_lib_werror  the library builds warning-free under clang --target too (the
#                           compiler of Apple users; skipped without clang outside CI)
#   unit/<cpu>/<case>       test_kernels, test_attention, test_lm_head, test_head_screen (the
#                           NEON screen pass: its bound, tiles and exact generation), test_forward (row
#                           passes, forward pass), test_logprob (the log-sum-exp and top-n scan),
#                           test_cpu, test_json_schema and test_gbnf (plain C,
#                           but aarch64's char is unsigned) on `-cpu max` (dotprod and
#                           i8mm: both ARM tiers' tables run; the model-level tests again with
#                           BITNET_FORCE_TIER=neon, test_forward there without context_shift);
#                           test_kernels, test_logprob and test_cpu on `-cpu cortex-a53` (ARMv8.0, no
#                           dotprod: the neon tier alone, and a
#                           dot-product instruction outside the dotprod tier would be an
#                           illegal instruction; the whole forward pass there: a53_auto_bits)
#   detect/<cpu>            `compat-check --verbose` reports dotprod on max, neon on a53
#   <model>/<mode>/...      `bitnet logits` of small generated models (SiLU TQ2_0 with the
#                           --lm-head q8 head, ReLU^2 I2_S, SiLU TQ1_0 with a Q8_0 head),
#                           12 positions, act-quant token, q8k and none:
#       scalar_bits         the aarch64 build at BITNET_FORCE_TIER=scalar = the x86 build at
#                           scalar, bit for bit (the portable code rounds the same on both)
#       neon, dotprod       within cosine 0.99999 of x86 scalar at every position, same top-1
#                           (SIMD attention, float rows and SiLU reorder float sums)
#       dotprod_bits        dotprod = neon bit for bit (the ternary kernels are exact; the
#                           rest is the same NEON code)
#       a53_auto_bits       the a53 run, tier picked by detection, = the forced neon run
#   <model>/greedy/<tier>   16 greedy tokens (the one-token GEMV paths) at every ARM tier =
#                           the x86 build's at scalar
# Speed is not measured (emulation says nothing about it). Outside CI a missing cross
# compiler or qemu is a skip; in CI (CI=true) a failure.
# TEST_LONG=190: tests/run_tests.sh starts it early (seconds on 2 cores, the longest first).
source "$(dirname "$0")/lib.sh"

if [ "$(uname -m)" != x86_64 ]; then
    echo "ok - $SCRIPT_NAME # SKIP an x86-64 host emulating aarch64; on $(uname -m) the normal build's tests run its own tiers"
    exit 0
fi
CROSS_CC=aarch64-linux-gnu-gcc SYSROOT=/usr/aarch64-linux-gnu
missing=()
command -v "$CROSS_CC" >/dev/null || missing+=("$CROSS_CC (gcc-aarch64-linux-gnu)")
command -v qemu-aarch64 >/dev/null || missing+=("qemu-aarch64 (qemu-user)")
[ -e "$SYSROOT/lib/libc.so.6" ] || missing+=("$SYSROOT/lib/libc.so.6 (libc6-dev-arm64-cross)")
if [ ${#missing[@]} -gt 0 ]; then
    if [ "${CI:-}" = true ]; then not_ok tools "missing: ${missing[*]} (CI=true)"; exit 1; fi
    echo "ok - $SCRIPT_NAME # SKIP missing ${missing[*]}"
    exit 0
fi

ABUILD="$ROOT/build-aarch64"
UNITS=(test_kernels test_attention test_lm_head test_head_screen test_forward test_logprob test_cpu test_json_schema test_gbnf)
log="$TMP/cross.log"
if make -C "$ROOT" -j2 CROSS=aarch64 CI=true all "${UNITS[@]/#/build-aarch64/tests/}" >"$log" 2>&1; then
    ok cross_build_werror
else
    not_ok cross_build_werror "$(grep -E 'error|warning' "$log" | head -10)"
    exit 1
fi
if command -v clang >/dev/null; then
    if make -C "$ROOT" -j2 CROSS=aarch64 CC="clang --target=aarch64-linux-gnu" BUILD=build-aarch64-clang OPT=-O1 CI=true \
        build-aarch64-clang/libbitnet.a >"$log" 2>&1; then
        ok clang_cross_lib_werror
    else
        not_ok clang_cross_lib_werror "$(grep -E 'error|warning' "$log" | head -10)"
    fi
elif [ "${CI:-}" = true ]; then not_ok clang_cross_lib_werror "clang is not installed (CI=true)"
else echo "ok - $SCRIPT_NAME/clang_cross_lib_werror # SKIP clang not installed"; fi
export QEMU_LD_PREFIX=$SYSROOT

# unit CPU TEST [TIER]: runs an aarch64 unit test under `qemu-aarch64 -cpu CPU` (with
# BITNET_FORCE_TIER=TIER when given), its cases renamed unit/CPU[-TIER]/<case>; a crash or a
# non-zero exit without a failing case is one failure.
unit() {
    local cpu=$1 t=$2 tier=${3:-} out="$TMP/unit.out" rc label=$1${3:+-$3}
    BITNET_FORCE_TIER=$tier BITNET_TEST_EXEC_WRAPPER="qemu-aarch64 -cpu $cpu" BITNET_TEST_TMP="$TMP" \
        qemu-aarch64 -cpu "$cpu" "$ABUILD/tests/$t" >"$out" 2>&1
    rc=$?
    sed -n -e "s|^ok - |ok - $SCRIPT_NAME/unit/$label/|p" -e "s|^not ok - |not ok - $SCRIPT_NAME/unit/$label/|p" \
        -e 's/^\(  .*\)/    \1/p' -e 's/^\(# .*\)/\1/p' "$out"
    if [ "$rc" -ne 0 ] && ! grep -q '^not ok - ' "$out"; then
        not_ok "unit/$label/$t" "exit $rc: $(tail -3 "$out")"
    fi
}
# Kernel tests take every tier's table (both on max); the model-level tests (the head, the
# forward pass) use the tier in use: the best, then neon forced.
# test_head_screen without generation_identical_to_the_plain_head (16 sampling cases x 2 models
# x 2 heads, ~15 s emulated): the NEON pass is checked by its bound, tile and exact-row cases and
# through a batch (batch_identical_to_the_plain_head); the sampling cases run natively.
HEAD_SCREEN_CASES=copy_rounds_within_half_a_step,bound_holds_at_every_tier,tokens_and_rows_batch_to_the_same_bits
HEAD_SCREEN_CASES+=,selection_keeps_ties_and_near_ties,screened_row_is_exact_where_not_masked,batch_identical_to_the_plain_head
HEAD_SCREEN_CASES+=,api_names_and_modes
for t in "${UNITS[@]}"; do
    if [ "$t" = test_head_screen ]; then BITNET_TEST_ONLY=$HEAD_SCREEN_CASES unit max "$t"; else unit max "$t"; fi
done
# Forced neon: the same cases but context_shift (~15 s emulated), whose attention, RoPE and
# cache code is the same at both ARM tiers and ran on max above.
unit max test_lm_head neon
BITNET_TEST_SKIP=context_shift unit max test_forward neon
# The a53 runs: the kernel tables and detection; its forward pass runs end to end below
# (a53_auto_bits: the CLI's logits of each model, tier picked by detection).
for t in test_kernels test_logprob test_cpu; do unit cortex-a53 "$t"; done

# --- end to end: logits of the aarch64 build against the x86 build's scalar tier ---
arm() { # arm CPU TIER ARGS...: the aarch64 CLI under qemu, BITNET_FORCE_TIER=TIER ("" = detect)
    local cpu=$1 tier=$2; shift 2
    BITNET_FORCE_TIER=$tier qemu-aarch64 -cpu "$cpu" "$ABUILD/bitnet" "$@"
}

if [ ! -x "$BITNET" ]; then not_ok e2e "the x86 CLI $BITNET is not built (make)"; exit 1; fi
"$BITNET" gen-model "$TMP/probe.gguf" --hidden 256 --layers 1 >/dev/null 2>&1
for cpu_tier in max:dotprod cortex-a53:neon; do
    cpu=${cpu_tier%%:*} want=${cpu_tier#*:}
    line=$(arm "$cpu" "" compat-check "$TMP/probe.gguf" --verbose 2>/dev/null | grep '^cpu:')
    case "$line" in
    "cpu:          kernel tier $want (best here: $want)"*) ok "detect/$cpu ($want)" ;;
    *) not_ok "detect/$cpu" "expected kernel tier $want, compat-check --verbose said: ${line:-nothing}" ;;
    esac
done

VOCAB=512 TOKS=$(seq -s, 3 14)
SHAPE=(--hidden 256 --heads 4 --kv-heads 1 --ffn 512 --layers 2 --vocab-size "$VOCAB" --seed 5)
# name:arch:wtype:etype:extra logits options
MODELS=("silu-tq2_0-q8head:bitnet:tq2_0:f16:--lm-head q8" "relu2-i2_s:bitnet-b1.58:i2_s:f16:" "silu-tq1_0-q8_0:bitnet:tq1_0:q8_0:")

# agree NAME REF OURS: cosine >= 0.99999 at every position and the same top-1 everywhere.
agree() {
    local out
    out=$("$BITNET" logits-diff "$2" "$3" --vocab "$VOCAB" --threshold 0.99999 2>&1 | tail -1)
    if [[ "$out" == *"top-1 agreement 12/12"* ]] && "$BITNET" logits-diff "$2" "$3" --vocab "$VOCAB" --threshold 0.99999 >/dev/null 2>&1; then
        ok "$1 (${out%%, first*})"
    else
        not_ok "$1" "$out"
    fi
}
same_bits() { if cmp -s "$2" "$3"; then ok "$1"; else not_ok "$1" "$2 and $3 differ"; fi; }

for spec in "${MODELS[@]}"; do
    IFS=: read -r name arch wtype etype extra <<<"$spec"
    m="$TMP/$name.gguf"
    if ! "$BITNET" gen-model "$m" --arch "$arch" --wtype "$wtype" --etype "$etype" "${SHAPE[@]}" >"$TMP/gen.log" 2>&1; then
        not_ok "$name/gen-model" "$(tail -2 "$TMP/gen.log")"; continue
    fi
    for mode in token q8k none; do
        # shellcheck disable=SC2206
        args=(logits --model "$m" --tokens "$TOKS" --act-quant "$mode" --threads 2 $extra)
        ref="$TMP/$name-$mode-x86.bin"
        if ! BITNET_FORCE_TIER=scalar "$BITNET" "${args[@]}" --out "$ref" >/dev/null 2>"$TMP/x86.log"; then
            not_ok "$name/$mode/x86" "$(tail -2 "$TMP/x86.log")"; continue
        fi
        for tier in scalar neon dotprod; do
            o="$TMP/$name-$mode-$tier.bin"
            if ! arm max "$tier" "${args[@]}" --out "$o" >/dev/null 2>"$TMP/arm.log"; then
                not_ok "$name/$mode/$tier" "$(tail -2 "$TMP/arm.log")"; continue
            fi
            if [ "$tier" = scalar ]; then same_bits "$name/$mode/scalar_bits" "$ref" "$o"
            else agree "$name/$mode/$tier" "$ref" "$o"; fi
        done
        same_bits "$name/$mode/dotprod_bits" "$TMP/$name-$mode-neon.bin" "$TMP/$name-$mode-dotprod.bin"
        if [ "$mode" = token ]; then
            o="$TMP/$name-$mode-a53.bin"
            if arm cortex-a53 "" "${args[@]}" --out "$o" >/dev/null 2>"$TMP/arm.log"; then
                same_bits "$name/$mode/a53_auto_bits" "$TMP/$name-$mode-neon.bin" "$o"
            else
                not_ok "$name/$mode/a53" "$(tail -2 "$TMP/arm.log")"
            fi
        fi
    done
    gen=(run --model "$m" --tokens "$TOKS" -n 16 --greedy --ignore-eos --print-ids --threads 2)
    want=$(BITNET_FORCE_TIER=scalar "$BITNET" "${gen[@]}" 2>"$TMP/x86.log")
    for tier in scalar neon dotprod; do
        got=$(arm max "$tier" "${gen[@]}" 2>"$TMP/arm.log")
        if [ -n "$want" ] && [ "$got" = "$want" ]; then ok "$name/greedy/$tier"
        else not_ok "$name/greedy/$tier" "x86 scalar: ${want:-$(tail -1 "$TMP/x86.log")}; aarch64 $tier: ${got:-$(tail -1 "$TMP/arm.log")}"; fi
    done
done
