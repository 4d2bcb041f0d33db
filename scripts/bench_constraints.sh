#!/usr/bin/env bash
# bench_constraints.sh (`make bench-constraints`): what output constraints cost in generation.
# `bitnet run` on the 2B-4T-shaped I2_S file (scripts/bench_models.sh), 64 tokens after a short
# prompt (ignore_eos), greedy, top-k 40 (temperature 0.8, seed 5) and a temperature draw with
# OpenAI's defaults (temperature 1, no top-k, top-p or min-p; seed 5), with no constraint, two
# GBNF grammars (lowercase words, `[a-z ]+`; a brace-delimited text, `"{" [^}]* "}"`) and
# `--json-object`. Prints each case's decode tok/s (median over the rounds), its ratio to the
# unconstrained run of the same sampling measured in the same rounds, and how its draws were
# masked (`masks_best`: settled by the likeliest tokens; `masks_all`: every token checked).
# BENCH_BASELINE=/path/to/another/bitnet (a build of an older commit) runs the same cases
# with that binary, alternating round by round, and prints new/baseline ratios.
# The weights are random, so which tokens a grammar refuses is not what a trained model
# would meet: the ratios show the mechanism, not a real model's figures. Not in `make test`.
#
# Env: BENCH_THREADS (2), BENCH_CONSTRAINT_ROUNDS (3), BENCH_DIR (models/bench),
#      BITNET_BUILD (build), BENCH_BASELINE (none).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${BITNET_BUILD:-build}
BIN="$ROOT/$BUILD/bitnet"
. scripts/bench_models.sh
MODEL=$(bench_model i2_s)
T=${BENCH_THREADS:-2} ROUNDS=${BENCH_CONSTRAINT_ROUNDS:-3} BASE=${BENCH_BASELINE:-}
[ -z "$BASE" ] || [ -x "$BASE" ] || { echo "bench-constraints: BENCH_BASELINE=$BASE is not an executable" >&2; exit 1; }

# One run: prints "decode_tok_s masks_best masks_all".
one() {
    local bin=$1
    shift
    "$bin" run -m "$MODEL" -p "Hello there my friend" -n 64 -t "$T" --ignore-eos --json "$@" 2>/dev/null |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const c=j.constraint||{};
                 console.log(j.timings.decode_tok_s, c.masks_best??"-", c.masks_all??"-")})'
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

constraint_args() {
    case $1 in
    none) ;;
    words) printf '%s\n' --grammar 'root ::= [a-z ]+' ;;
    braces) printf '%s\n' --grammar 'root ::= "{" [^}]* "}"' ;;
    json_object) printf '%s\n' --json-object ;;
    esac
}

echo "bench-constraints: $MODEL, $T threads, $ROUNDS rounds$([ -n "$BASE" ] && echo ", baseline $BASE")"
grep -m1 'model name' /proc/cpuinfo || true
printf '%-12s %-7s %10s %9s %8s %11s%s\n' constraint draw "tok/s" "vs none" "best" "all" "$([ -n "$BASE" ] && echo "  baseline tok/s  new/base")"
for draw in greedy topk temp; do
    case $draw in
    greedy) sampling=(--temperature 0) ;;
    topk) sampling=(--temperature 0.8 --top-k 40 --seed 5) ;;
    temp) sampling=(--temperature 1 --top-k 0 --top-p 1 --min-p 0 --seed 5) ;; # OpenAI's defaults
    esac
    none_new=""
    for c in none words braces json_object; do
        mapfile -t cargs < <(constraint_args $c)
        rates=() base_rates=() best=- all=-
        for ((r = 0; r < ROUNDS; r++)); do
            read -r rate best all < <(one "$BIN" "${cargs[@]}" "${sampling[@]}")
            rates+=("$rate")
            if [ -n "$BASE" ]; then
                read -r rate _ _ < <(one "$BASE" "${cargs[@]}" "${sampling[@]}")
                base_rates+=("$rate")
            fi
        done
        m=$(median "${rates[@]}")
        [ $c = none ] && none_new=$m
        extra=""
        if [ -n "$BASE" ]; then
            b=$(median "${base_rates[@]}")
            extra=$(awk -v n="$m" -v b="$b" '{}END{printf "  %15.1f  %8.2fx", b, n / b}' </dev/null)
        fi
        printf '%-12s %-7s %10.1f %8.2fx %8s %11s%s\n' $c $draw "$m" "$(awk -v a="$m" -v b="$none_new" 'BEGIN{print a / b}')" "$best" "$all" "$extra"
    done
done
