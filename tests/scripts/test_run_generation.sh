#!/usr/bin/env bash
# test_run_generation: `bitnet run` end to end on generated `bitnet` models.
#   - parity: from the same PROMPT TEXT, our prompt ids equal llama.cpp's (harness `tokenize`)
#     and our greedy continuation equals llama.cpp's greedy decoding (harness `greedy`), with
#     the real LLaMA-3 vocabulary; F32 weights with --act-quant none and TQ2_0 weights with
#     --act-quant q8k (llama.cpp's own activation quantization), so that the numerics match;
#   - `run --json` parses and has prompt_ids, generated_ids, text, stop_reason, timings;
#   - --stop strings stop generation and are not printed; --stop-id; -n (0, -1, -2: no limit);
#     --logit-bias (bans,
#     boosts, refusals); --json-object (the text is a JSON object, or its start when cut); -j / --json-schema(-file)
#     (a sampled reply closes and satisfies the schema; refused keywords and files: exit 2);
#     --grammar / --grammar-file (a sampled reply is a text of the grammar; a grammar that does
#     not compile, or beside --json-object: exit 2);
#   - sampling: same seed same text, different seeds different text (temperature 1);
#     --seed -1 draws a seed and says it (given back, it repeats the run); BITNET_SEED overrides --seed; BITNET_DETERMINISTIC=1 gives greedy output, identical
#     across runs and across -t 1 / -t 2;
#   - bad arguments exit 2 with a message; a missing model file exits 1 naming the file;
#     bitnet.cpp's run_inference.py command line (-ngl 0 -b 1 --temp ...) runs, as do llama-cli's
#     long names and flags (--ctx-size, --n-predict, -no-cnv, -co, --jinja, --no-perf, -r, -sys), and with -cnv is
#     `bitnet chat` (-p its system message; `-p -cnv` is a prompt); -e/--escape turns llama-cli's
#     escapes into bytes (-p, -f, --stop), without it a note says the text is taken as written.
# CI=true: a missing reference (vocabulary or harness) is a failure; elsewhere one skipped ok.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"

if [ ! -x "$BITNET" ]; then not_ok "built" "$BITNET missing (make all)"; exit 1; fi
if [ ! -f "$LLAMA_BPE_VOCAB" ]; then unavailable "$LLAMA_BPE_VOCAB missing (scripts/fetch_reference.sh)"; fi

PROMPT="The capital of France is"
N_GEN=16
gen_model() { # OUT WTYPE
    run_logged "$TMP/gen.log" "$BITNET" gen-model "$1" --arch bitnet --vocab-from "$LLAMA_BPE_VOCAB" --wtype "$2" --seed 5 ||
        { not_ok "gen_model_$2"; exit 1; }
}
MF="$TMP/f32.gguf" MQ="$TMP/tq2_0.gguf"
gen_model "$MF" f32
gen_model "$MQ" tq2_0

# json_get FILE EXPR: evaluates a Python expression over the last line of FILE parsed as `j`
json_get() {
    "$PY" - "$1" "$2" <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8", errors="surrogateescape").read().splitlines()
j = json.loads(lines[-1])
v = eval(sys.argv[2])
print(" ".join(map(str, v)) if isinstance(v, list) else v)
EOF
}

# ---- --json ---------------------------------------------------------------------------------
"$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n "$N_GEN" -t 2 --json >"$TMP/g.json" 2>"$TMP/g.err"
rc=$?
keys=$(json_get "$TMP/g.json" "sorted(j)" 2>"$TMP/py.err")
if [ $rc -eq 0 ] && [ "$keys" = "generated_ids prompt_ids stop_reason text timings" ]; then ok "json_parses_with_keys"; else
    not_ok "json_parses_with_keys" "rc $rc, keys '$keys' $(head -c 200 "$TMP/py.err")"; fi
check "json_types" [ "$(json_get "$TMP/g.json" "all(isinstance(x, int) for x in j['prompt_ids'] + j['generated_ids']) and isinstance(j['text'], str) and isinstance(j['timings'], dict) and all(isinstance(v, (int, float)) for v in j['timings'].values())")" = True ]
ids_all=$(json_get "$TMP/g.json" "j['generated_ids']")
check "n_limits_generation" [ "$(echo "$ids_all" | wc -w)" -eq "$N_GEN" -a "$(json_get "$TMP/g.json" "j['stop_reason']")" = max_tokens ]
"$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n 3 -t 2 --json >"$TMP/n3.json" 2>/dev/null
check "n_3_is_prefix" [ "$(json_get "$TMP/n3.json" "j['generated_ids']")" = "$(echo "$ids_all" | cut -d' ' -f1-3)" ]
# -n 0, -1, -2 (llama-cli's "infinite" and "until the context is full"): no limit, so a 40-token
# context ends the greedy run there (40 positions, and the token sampled after the last), the
# same tokens each time
for n in 0 -1 -2; do
    "$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n "$n" -c 40 -t 2 --json >"$TMP/nu$n.json" 2>/dev/null
done
check "n_0_1_2_until_full_context" \
    [ "$(json_get "$TMP/nu-2.json" "j['stop_reason'] == 'context_full' and len(j['prompt_ids']) + len(j['generated_ids']) == 41")" = True \
    -a "$(json_get "$TMP/nu0.json" "j['generated_ids']")" = "$(json_get "$TMP/nu-2.json" "j['generated_ids']")" \
    -a "$(json_get "$TMP/nu-1.json" "j['generated_ids']")" = "$(json_get "$TMP/nu-2.json" "j['generated_ids']")" ]
# The streamed text equals the JSON text (run prints a newline after it).
"$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n "$N_GEN" -t 2 >"$TMP/g.txt" 2>/dev/null
check "stream_equals_json_text" [ "$(json_get "$TMP/g.json" "j['text'] == open('$TMP/g.txt', encoding='utf-8', errors='surrogateescape').read()[:-1]")" = True ]

# ---- --stop, --stop-id ----------------------------------------------------------------------
# A stop string taken from the middle of the greedy text (its first occurrence): the output is
# exactly the text before it.
stop=$(json_get "$TMP/g.json" "next(j['text'][k:k+3] for k in range(len(j['text']) // 2, len(j['text']) - 3) if j['text'][k:k+3].strip() and j['text'].find(j['text'][k:k+3]) == k)")
want=$(json_get "$TMP/g.json" "repr(j['text'][:j['text'].find('''$stop''')])")
"$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n "$N_GEN" -t 2 --json --stop "$stop" >"$TMP/s.json" 2>/dev/null
got=$(json_get "$TMP/s.json" "repr(j['text'])")
if [ -n "$stop" ] && [ "$got" = "$want" ] && [ "$(json_get "$TMP/s.json" "j['stop_reason']")" = stop_string ]; then
    ok "stop_string_stops_not_printed"
else
    not_ok "stop_string_stops_not_printed" "stop '$stop': got $got, want $want"
fi
"$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n "$N_GEN" -t 2 --stop "$stop" >"$TMP/s.txt" 2>/dev/null
if [ -s "$TMP/s.txt" ] && ! grep -qF -- "$stop" "$TMP/s.txt"; then ok "stop_string_not_streamed"; else not_ok "stop_string_not_streamed"; fi
sid=$(echo "$ids_all" | cut -d' ' -f4)
first=$(echo "$ids_all" | tr ' ' '\n' | grep -n -x -m1 "$sid" | cut -d: -f1)
"$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n "$N_GEN" -t 2 --json --stop-id "$sid" >"$TMP/i.json" 2>/dev/null
if [ "$(json_get "$TMP/i.json" "j['generated_ids']")" = "$(echo "$ids_all" | cut -d' ' -f1-"$first")" ] &&
   [ "$(json_get "$TMP/i.json" "j['stop_reason']")" = stop_id ]; then ok "stop_id_stops"; else
    not_ok "stop_id_stops" "stop id $sid: $(json_get "$TMP/i.json" "j['generated_ids']")"; fi

# ---- --logit-bias (-l): llama.cpp's ID+B / ID-B / ID-inf --------------------------------------
# Banning the first two greedy tokens changes the output and neither appears; a +100 boost makes
# every token that one; unknown ids and malformed values are refused.
g1=$(echo "$ids_all" | cut -d' ' -f1) g2=$(echo "$ids_all" | cut -d' ' -f2)
banned=$("$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n "$N_GEN" -t 2 --print-ids -l "$g1-inf" --logit-bias "$g2-inf" 2>/dev/null)
if [ -n "$banned" ] && [ "$banned" != "$ids_all" ] && ! echo "$banned" | tr ' ' '\n' | grep -qx -e "$g1" -e "$g2"; then
    ok logit_bias_bans; else not_ok logit_bias_bans "banned $g1 $g2: $banned"; fi
forced=$("$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n 4 -t 2 --print-ids -l 279+100 2>/dev/null)
check logit_bias_boosts [ "$forced" = "279 279 279 279" ]
"$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n 2 -t 2 -l 999999+1 >/dev/null 2>"$TMP/lb.err"
rc=$?
if [ $rc -ne 0 ] && grep -q 'not in the vocabulary' "$TMP/lb.err"; then ok logit_bias_unknown_id_refused; else
    not_ok logit_bias_unknown_id_refused "exit $rc: $(head -c 200 "$TMP/lb.err")"; fi

# ---- --json-object ------------------------------------------------------------------------------
# With a bias towards "}" (id 92) the object closes at once and parses; sampled, the text starts
# with "{", and parses whenever it closed.
"$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n 16 -t 2 --json --json-object -l 92+50 >"$TMP/jo.json" 2>/dev/null
if [ "$(json_get "$TMP/jo.json" "j['stop_reason']")" = json_complete ] &&
   [ "$(json_get "$TMP/jo.json" "isinstance(json.loads(j['text']), dict)")" = True ]; then ok json_object_closes; else
    not_ok json_object_closes "$(tail -c 300 "$TMP/jo.json")"; fi
"$BITNET" run -m "$MQ" -p "$PROMPT" --temperature 1 -s 3 -n 24 -t 2 --json --json-object >"$TMP/js.json" 2>/dev/null
check json_object_sampled [ "$(json_get "$TMP/js.json" "j['text'].startswith('{') and (j['stop_reason'] == 'max_tokens' or isinstance(json.loads(j['text']), dict))")" = True ]

# ---- --json-schema / --json-schema-file --------------------------------------------------------
# A schema with few choices: sampled, the reply closes within 48 tokens and satisfies it (keys
# in order, enum, type); a keyword that would not be enforced is a usage error (exit 2) before
# the model loads, naming it; an unreadable file likewise.
SCHEMA='{"type":"object","properties":{"colour":{"enum":["red","blue"]},"ok":{"type":"boolean"}},"required":["colour","ok"],"additionalProperties":false}'
"$BITNET" run -m "$MQ" -p "$PROMPT" --temperature 1 -s 5 -n 48 -t 2 --json -j "$SCHEMA" >"$TMP/sc.json" 2>/dev/null
check json_schema_sampled [ "$(json_get "$TMP/sc.json" "j['stop_reason'] == 'json_complete' and list(json.loads(j['text']).keys()) == ['colour', 'ok'] and json.loads(j['text'])['colour'] in ('red', 'blue') and isinstance(json.loads(j['text'])['ok'], bool)")" = True ]
printf '%s' "$SCHEMA" >"$TMP/schema.json"
"$BITNET" run -m "$MQ" -p "$PROMPT" --temperature 1 -s 5 -n 48 -t 2 --json --json-schema-file "$TMP/schema.json" >"$TMP/sf.json" 2>/dev/null
check json_schema_file_same [ "$(json_get "$TMP/sf.json" "j['text']")" = "$(json_get "$TMP/sc.json" "j['text']")" ]
"$BITNET" run -m /nonexistent.gguf -p x -j '{"type":"integer","not":{"const":3}}' >/dev/null 2>"$TMP/sc.err"
rc=$?
if [ $rc -eq 2 ] && grep -q "not supported (its constraint would not be enforced): not" "$TMP/sc.err"; then ok json_schema_refused; else
    not_ok json_schema_refused "exit $rc: $(head -c 300 "$TMP/sc.err")"; fi
"$BITNET" run -m "$MQ" -p x --json-schema-file "$TMP/missing.json" >/dev/null 2>"$TMP/sc.err"
rc=$?
if [ $rc -eq 2 ] && grep -q "cannot read" "$TMP/sc.err"; then ok json_schema_file_missing; else
    not_ok json_schema_file_missing "exit $rc: $(head -c 300 "$TMP/sc.err")"; fi

# ---- --grammar / --grammar-file ------------------------------------------------------------------
# Sampled, the reply is a text of the grammar: a phone-like number that nothing may follow
# (grammar_complete), the same from the file; a grammar that does not compile and two
# constraints are usage errors (exit 2) before the model loads.
GRAMMAR='root ::= [0-9]{3} "-" [0-9]{4}'
"$BITNET" run -m "$MQ" -p "$PROMPT" --temperature 1 -s 5 -n 32 -t 2 --json --grammar "$GRAMMAR" >"$TMP/gr.json" 2>/dev/null
check grammar_sampled [ "$(json_get "$TMP/gr.json" "j['stop_reason'] == 'grammar_complete' and __import__('re').fullmatch('[0-9]{3}-[0-9]{4}', j['text']) is not None")" = True ]
printf '# a comment\n%s\n' "$GRAMMAR" >"$TMP/g.gbnf"
"$BITNET" run -m "$MQ" -p "$PROMPT" --temperature 1 -s 5 -n 32 -t 2 --json --grammar-file "$TMP/g.gbnf" >"$TMP/gf.json" 2>/dev/null
check grammar_file_same [ "$(json_get "$TMP/gf.json" "j['text']")" = "$(json_get "$TMP/gr.json" "j['text']")" ]
"$BITNET" run -m /nonexistent.gguf -p x --grammar 'root ::= "a" | b' >/dev/null 2>"$TMP/gr.err"
rc=$?
if [ $rc -eq 2 ] && grep -q "line 1, column 16: the rule 'b' is used but never defined" "$TMP/gr.err"; then ok grammar_refused; else
    not_ok grammar_refused "exit $rc: $(head -c 300 "$TMP/gr.err")"; fi
"$BITNET" run -m /nonexistent.gguf -p x --json-object --grammar 'root ::= "a"' >/dev/null 2>"$TMP/gr.err"
rc=$?
if [ $rc -eq 2 ] && grep -q "give one of --json-object" "$TMP/gr.err"; then ok grammar_with_json_object_refused; else
    not_ok grammar_with_json_object_refused "exit $rc: $(head -c 300 "$TMP/gr.err")"; fi

# ---- seeds and determinism ------------------------------------------------------------------
sample() { # extra args...: prints the generated ids at temperature 1
    "$BITNET" run -m "$MQ" -p "$PROMPT" -n "$N_GEN" --temperature 1 --top-k 0 --top-p 1 --min-p 0 --print-ids "$@" 2>/dev/null
}
s1=$(sample -s 1 -t 2) s1b=$(sample -s 1 -t 2) s2=$(sample -s 2 -t 2)
check "same_seed_same_output" [ -n "$s1" -a "$s1" = "$s1b" ]
check "different_seeds_differ" [ -n "$s2" -a "$s1" != "$s2" ]
check "bitnet_seed_overrides_seed" [ "$(BITNET_SEED=2 sample -s 1 -t 2)" = "$s2" ]
# --seed -1 (llama-cli's random seed): a seed drawn per run and said on stderr; given back to
# --seed it repeats the run; two draws differ; -2 is refused
"$BITNET" run -m "$MQ" -p "$PROMPT" -n "$N_GEN" --temperature 1 --top-k 0 --top-p 1 --min-p 0 --print-ids -s -1 -t 2 \
    >"$TMP/rs.out" 2>"$TMP/rs.err"
rseed=$(sed -n 's/^note: --seed -1: sampling with seed \([0-9]*\) .*/\1/p' "$TMP/rs.err")
"$BITNET" run -m "$MQ" -p "$PROMPT" -n "$N_GEN" --temperature 1 --top-k 0 --top-p 1 --min-p 0 --print-ids -s -1 -t 2 \
    >/dev/null 2>"$TMP/rs2.err"
rseed2=$(sed -n 's/^note: --seed -1: sampling with seed \([0-9]*\) .*/\1/p' "$TMP/rs2.err")
check "random_seed_is_said_and_repeats" [ -n "$rseed" -a -s "$TMP/rs.out" -a "$(sample -s "$rseed" -t 2)" = "$(cat "$TMP/rs.out")" ]
check "random_seeds_differ" [ -n "$rseed2" -a "$rseed" != "$rseed2" ]
greedy=$(echo "$ids_all")
d1=$(BITNET_DETERMINISTIC=1 sample -s 1 -t 1) d2=$(BITNET_DETERMINISTIC=1 sample -s 2 -t 2) d3=$(BITNET_DETERMINISTIC=1 sample -s 1 -t 2)
check "deterministic_is_greedy_across_threads_and_seeds" [ -n "$d1" -a "$d1" = "$greedy" -a "$d2" = "$greedy" -a "$d3" = "$greedy" ]

# ---- bad usage ----------------------------------------------------------------------------------
bad_usage() { # NAME ARGS...: exit 2 and a message on stderr
    local name=$1; shift
    "$BITNET" run "$@" </dev/null >/dev/null 2>"$TMP/bad.err"
    local rc=$?
    if [ $rc -eq 2 ] && grep -q '^bitnet' "$TMP/bad.err"; then ok "$name"; else not_ok "$name" "exit $rc: $(head -c 200 "$TMP/bad.err")"; fi
}
bad_usage "bad_temperature_exits_2" -m "$MQ" -p hi --temperature abc
bad_usage "bad_n_exits_2" -m "$MQ" -p hi -n x
bad_usage "seed_below_minus_1_exits_2" -m "$MQ" -p hi -s -2
bad_usage "n_below_minus_2_exits_2" -m "$MQ" -p hi -n -3
bad_usage "unknown_option_exits_2" -m "$MQ" -p hi --bogus
bad_usage "missing_model_option_exits_2" -p hi
bad_usage "missing_value_exits_2" -m "$MQ" -p
bad_usage "no_prompt_exits_2" -m "$MQ"
bad_usage "bad_act_quant_exits_2" -m "$MQ" -p hi --act-quant int4
for v in 15 15+ 15+x 15++1 +15+1 15+inf 15-nan x-1; do bad_usage "bad_logit_bias_${v//[^a-z0-9]/_}_exits_2" -m "$MQ" -p hi -l "$v"; done
# -cnv (llama-cli's conversation mode) is `bitnet chat`, its -p the system message
cnv=$(echo "Hello" | "$BITNET" run -m "$MQ" -p "You are terse." -cnv -n 4 --greedy -t 2 --print-ids 2>/dev/null)
chat=$(echo "Hello" | "$BITNET" chat -m "$MQ" --system "You are terse." -n 4 --greedy -t 2 --print-ids 2>/dev/null)
if [ -n "$chat" ] && [ "$cnv" = "$chat" ] && grep -q '^context_ids: ' <<<"$cnv"; then ok cnv_is_chat; else
    not_ok cnv_is_chat "run -cnv: $(head -c 200 <<<"$cnv"); chat: $(head -c 200 <<<"$chat")"; fi
# -p -cnv: -cnv is -p's text there, not the conversation switch
"$BITNET" run -m "$MQ" -p -cnv -n 1 --greedy -t 2 --json </dev/null >"$TMP/p_cnv.json" 2>/dev/null
if [ "$(json_get "$TMP/p_cnv.json" "len(j['prompt_ids'])")" -ge 2 ]; then ok p_cnv_is_text; else not_ok p_cnv_is_text "$(tail -c 200 "$TMP/p_cnv.json")"; fi
# -e/--escape: llama-cli's escapes become bytes in -p, -f, the system message and --stop; without
# it the text is taken as written and a note says so
prompt_ids_of() { # OUT ARGS...: run's prompt ids
    local out=$1
    shift
    "$BITNET" run -m "$MQ" -n 1 --greedy -t 2 --json "$@" </dev/null 2>"$out.err" >"$out" && json_get "$out" "j['prompt_ids']"
}
printf '%s' 'tab\there\x41 \\n\q\' >"$TMP/esc.txt"
raw=$(prompt_ids_of "$TMP/esc_raw" -p 'a\nb\"c')
esc=$(prompt_ids_of "$TMP/esc_e" -p 'a\nb\"c' -e)
want=$(prompt_ids_of "$TMP/esc_want" -p "$(printf 'a\nb"c')")
escf=$(prompt_ids_of "$TMP/esc_f" -f "$TMP/esc.txt" --escape)
wantf=$(prompt_ids_of "$TMP/esc_fwant" -p "$(printf 'tab\there\x41 \\n\\q\\')")
quiet=$(prompt_ids_of "$TMP/esc_quiet" -p 'a\nb\"c' --no-escape)
if [ -n "$esc" ] && [ "$esc" = "$want" ] && [ "$escf" = "$wantf" ] && [ -n "$raw" ] && [ "$raw" != "$esc" ] && [ "$quiet" = "$raw" ] &&
    grep -q 'note: -p is taken as written' "$TMP/esc_raw.err" && ! grep -q 'note: -p' "$TMP/esc_quiet.err" "$TMP/esc_e.err"; then
    ok escape_option; else not_ok escape_option "raw=$raw esc=$esc want=$want escf=$escf wantf=$wantf quiet=$quiet"; fi
stop_text=$("$BITNET" run -m "$MQ" -n 24 --greedy -t 2 -p "$PROMPT" --ignore-eos --json </dev/null 2>/dev/null | tail -1)
third_char=$("$PY" -c 'import json,sys; t=json.loads(sys.argv[1])["text"]; print("%02x" % ord(t[2]) if len(t) > 2 and ord(t[2]) < 128 else "")' "$stop_text")
if [ -n "$third_char" ]; then
    cut=$("$BITNET" run -m "$MQ" -n 24 --greedy -t 2 -p "$PROMPT" --ignore-eos --stop "\\x$third_char" -e --json </dev/null 2>/dev/null | tail -1)
    if [ "$("$PY" -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); print(a["stop_reason"] == "stop_string" and b["text"].startswith(a["text"]) and len(a["text"]) <= 2)' "$cut" "$stop_text")" = True ]; then
        ok escape_stop_string; else not_ok escape_stop_string "$cut"; fi
else
    not_ok escape_stop_string "no ASCII third character in: $stop_text"
fi
bad_usage "escape_nul_stop_exits_2" -m "$MQ" -p hi --stop 'a\x00' -e
# bitnet.cpp's run_inference.py command line (llama-cli's options): runs, the same greedy tokens
# as ours, -b as --batch, the GPU option noted
"$BITNET" run -m "$MQ" -n 4 -t 2 -p "$PROMPT" -ngl 0 -c 256 --temp 0 -b 1 --print-ids >"$TMP/llama_cli.ids" 2>"$TMP/llama_cli.err"
rc=$?
"$BITNET" run -m "$MQ" -n 4 -t 2 -p "$PROMPT" -c 256 --greedy --batch 1 --print-ids >"$TMP/ours.ids" 2>/dev/null
if [ $rc -eq 0 ] && [ -s "$TMP/ours.ids" ] && cmp -s "$TMP/llama_cli.ids" "$TMP/ours.ids" && grep -q -- '-ngl ignored' "$TMP/llama_cli.err"; then
    ok llama_cli_command_line; else not_ok llama_cli_command_line "rc=$rc: $(head -3 "$TMP/llama_cli.err")"; fi
# llama-cli's long names and flags: --ctx-size, --n-predict, -no-cnv, --simple-io, --mmap, -co,
# --jinja, -dev, -nkvo (noted),
# --no-perf (no timings line): the same tokens; -r/--reverse-prompt is a stop string (noted);
# -sys is the system message of --chat (a note without it); -i refused, pointing to chat
"$BITNET" run -m "$MQ" -t 2 -p "$PROMPT" --ctx-size 256 --n-predict 4 --temp 0 -no-cnv --simple-io -co auto --no-perf --print-ids \
    --jinja -dev none -nkvo --mmap >"$TMP/llama_long.ids" 2>"$TMP/llama_long.err"
rc=$?
if [ $rc -eq 0 ] && cmp -s "$TMP/llama_long.ids" "$TMP/ours.ids" && grep -q -- '-co ignored' "$TMP/llama_long.err" &&
   [ "$(grep -c -e '--jinja ignored' -e '-dev ignored' -e '-nkvo ignored' "$TMP/llama_long.err")" = 3 ] &&
   ! grep -q 'tok/s' "$TMP/llama_long.err"; then ok llama_cli_long_names; else
    not_ok llama_cli_long_names "rc=$rc: $(head -3 "$TMP/llama_long.err")"; fi
w2=$(json_get "$TMP/g.json" "next((j['text'][k:k + 3] for k in range(1, len(j['text'])) if len(j['text'][k:k + 3].split()) == 1 and len(j['text'][k:k + 3].strip()) == 3), '')")
rp=$("$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n "$N_GEN" -t 2 -r "$w2" 2>"$TMP/rp.err")
st=$("$BITNET" run -m "$MQ" -p "$PROMPT" --greedy -n "$N_GEN" -t 2 --stop "$w2" 2>/dev/null)
noted=$(grep -c -e 'stop: stop_string' -e '-r is a stop string' "$TMP/rp.err")
check "reverse_prompt_is_stop_string" [ -n "$w2" -a "$rp" = "$st" -a "$noted" = 2 ]
sys_chat=$("$BITNET" run -m "$MQ" -p hi --chat -sys "Be brief." -n 3 --greedy -t 2 --print-ids 2>"$TMP/sys1.err")
sys_long=$("$BITNET" run -m "$MQ" -p hi --chat --system "Be brief." -n 3 --greedy -t 2 --print-ids 2>/dev/null)
"$BITNET" run -m "$MQ" -p hi -sys "Be brief." -n 1 --greedy -t 2 >/dev/null 2>"$TMP/sys2.err"
notes=$(grep -c 'used with --chat' "$TMP/sys1.err")/$(grep -c 'used with --chat' "$TMP/sys2.err")
check "sys_is_system_message" [ -n "$sys_chat" -a "$sys_chat" = "$sys_long" -a "$notes" = 0/1 ]
bad_usage "interactive_refused_exits_2" -m "$MQ" -p hi -i
# what llama.cpp has and this engine does not (common/llama_flags.c, as the server refuses them)
for opt in "--lora x.gguf" "-hf org/model" "-md draft.gguf" "--rope-freq-base 10000"; do
    "$BITNET" run -m "$MQ" -p hi $opt </dev/null >/dev/null 2>"$TMP/refused.err"
    rc=$?
    name=refused_$(echo "${opt%% *}" | tr -d -)
    if [ $rc -eq 2 ] && grep -q "is refused: " "$TMP/refused.err"; then ok "$name"; else not_ok "$name" "exit $rc: $(head -c 200 "$TMP/refused.err")"; fi
done
"$BITNET" run -m "$TMP/no_such_model.gguf" -p hi >/dev/null 2>"$TMP/missing.err"
rc=$?
if [ $rc -eq 1 ] && grep -q 'no_such_model.gguf' "$TMP/missing.err"; then ok "missing_model_file_exits_1"; else
    not_ok "missing_model_file_exits_1" "exit $rc: $(head -c 200 "$TMP/missing.err")"; fi

# ---- parity with llama.cpp from prompt text (needs the harness; last, as it may skip) --------
require_harness
for pair in "$MF:none" "$MQ:q8k"; do
    m=${pair%%:*} mode=${pair##*:} label=$(basename "${pair%%:*}" .gguf)
    ref_prompt=$("$HARNESS" tokenize --model "$m" --prompt "$PROMPT" 2>"$TMP/ht.err")
    ours_prompt=$("$BITNET" run -m "$m" -p "$PROMPT" -n 1 --greedy --json --act-quant "$mode" -t 2 2>/dev/null >"$TMP/p.json" && json_get "$TMP/p.json" "j['prompt_ids']")
    same_ids "$label/prompt_ids_from_text" "$ours_prompt" "$ref_prompt"
    ref=$("$HARNESS" greedy --model "$m" --tokens "$(echo "$ref_prompt" | tr ' ' ',')" -n 32 --threads "$REF_THREADS" --kv-type f32 2>"$TMP/hg.err")
    ours=$("$BITNET" run -m "$m" -p "$PROMPT" -n 32 --greedy --ignore-eos --print-ids --act-quant "$mode" --kv-type f32 -t 2 2>"$TMP/run.err")
    same_ids "$label/$mode/greedy_from_text" "$ours" "$ref"
done
