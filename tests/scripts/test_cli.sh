#!/usr/bin/env bash
# CLI behaviour: compat-check answers on files written by gguf-py (every type) and by our
# writer (I2_S), on the reference's vocabulary-only GGUFs, and on files it must refuse;
# logits / logits-diff exit codes; gen-model argument errors; BITNET_DEBUG_LOGITS; --prompt-cache;
# --lookup (the same tokens); --context-shift (past --ctx); llama.cpp's other samplers (--mirostat, --typical, XTC, --top-nsigma, the
# dynamic temperature, DRY: each changes a seeded run, and --lookup keeps its tokens); --samplers /
# --sampling-seq (a part of the default order, another order as given); adaptive-p.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/crossval/crossval_lib.sh"
require_python
VOCAB_DIR="$REF_DIR/llama.cpp/models"
[ -f "$VOCAB_DIR/ggml-vocab-llama-bpe.gguf" ] || unavailable "reference vocabularies not fetched (scripts/fetch_reference.sh)"

# json_check FILE EXPR: evaluates a Python expression over the parsed JSON `j`.
json_check() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"; }

# --- compat-check on gguf-py files of every type gguf-py writes ---
for w in f32 f16 bf16 q8_0 tq1_0 tq2_0; do
        f="$TMP/gp_$w.gguf"
        if "$PY" "$ROOT/scripts/gguf_py_gen_model.py" "$f" --hidden 256 --layers 2 --heads 4 \
            --kv-heads 2 --ffn 512 --vocab-size 300 --wtype $w --etype f16 >/dev/null 2>&1 &&
            "$BITNET" compat-check "$f" --json >"$TMP/cc_$w.json" 2>"$TMP/cc_$w.err" &&
            json_check "$TMP/cc_$w.json" "j['can_run'] and j['architecture']=='bitnet' and j['hparams']['n_layer']==2 \
                and j['hparams']['n_embd']==256 and j['hparams']['n_head_kv']==2 and j['hparams']['n_vocab']==300 \
                and j['types']['$w']['count']>=14 and sum(t['count'] for t in j['types'].values())==24 \
                and j['lm_head']=='tied' and j['tokenizer']['model']=='llama' and j['tokenizer']['vocab_size']==300"; then
            ok "compat_check_gguf_py_$w"
        else
            not_ok "compat_check_gguf_py_$w" "$(cat "$TMP/cc_$w.err" 2>/dev/null | head -3)"
        fi
done

# --- I2_S (gguf-py cannot write it): our writer, architecture bitnet-b1.58 ---
"$BITNET" gen-model "$TMP/i2s.gguf" --arch bitnet-b1.58 --wtype i2_s --hidden 256 --ffn 512 --vocab-size 300 2>/dev/null
if "$BITNET" compat-check "$TMP/i2s.gguf" --json >"$TMP/i2s.json" &&
    json_check "$TMP/i2s.json" "j['can_run'] and j['ffn_act']=='relu2' and j['architecture']=='bitnet-b1.58' \
        and j['types']['i2_s']['count']==14 \
        and j['types']['i2_s']['bytes']==2*(2*(256*256//4+32)+2*(256*128//4+32)+3*(256*512//4+32))"; then
    ok compat_check_i2s
else
    not_ok compat_check_i2s
fi
# text output names the verdict
if "$BITNET" compat-check "$TMP/i2s.gguf" | grep -q "^runnable: *yes"; then ok compat_check_text; else not_ok compat_check_text; fi
# --show-kv lists every key
if "$BITNET" compat-check "$TMP/i2s.gguf" --show-kv | grep -q "bitnet-b1.58.embedding_length (u32) = 256"; then
    ok compat_check_show_kv
else
    not_ok compat_check_show_kv
fi

# --- vocabulary-only GGUFs of the reference ---
for v in llama-bpe:gpt2:128256 llama-spm:llama:32000; do
        IFS=: read -r name kind size <<<"$v"
        if "$BITNET" compat-check "$VOCAB_DIR/ggml-vocab-$name.gguf" --json >"$TMP/v.json" 2>/dev/null &&
            json_check "$TMP/v.json" "j['kind']=='vocab-only' and j['tensor_count']==0 and j['tokenizer']['model']=='$kind' \
                and j['tokenizer']['vocab_size']==$size and not j['can_run']"; then
            ok "compat_check_vocab_$name"
        else
            not_ok "compat_check_vocab_$name" "$(cat "$TMP/v.json")"
        fi
done

# --- refusals: exit 1 with a reason ---
printf 'not a gguf file at all' >"$TMP/junk.gguf"
"$BITNET" compat-check "$TMP/junk.gguf" >/dev/null 2>"$TMP/junk.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "junk.gguf" "$TMP/junk.err"; then ok compat_check_refuses_junk; else not_ok compat_check_refuses_junk "rc=$rc"; fi
"$BITNET" compat-check >/dev/null 2>&1
if [ $? -eq 2 ]; then ok compat_check_usage_error; else not_ok compat_check_usage_error; fi

# --- logits and logits-diff ---
m="$TMP/tq2.gguf"
"$BITNET" gen-model "$m" --wtype tq2_0 --vocab-size 300 2>/dev/null
"$BITNET" logits -m "$m" --tokens 1,2,3,4 --out "$TMP/a.bin" >"$TMP/a.out" 2>&1
if grep -q "^tokens: 1 2 3 4$" "$TMP/a.out" && [ "$(stat -c %s "$TMP/a.bin")" -eq $((4 * 300 * 4)) ]; then
    ok logits_writes_file
else
    not_ok logits_writes_file "$(cat "$TMP/a.out")"
fi
"$BITNET" logits -m "$m" --tokens 1,2,3,4 --out "$TMP/b.bin" -t 1 >/dev/null 2>&1
if "$BITNET" logits-diff "$TMP/a.bin" "$TMP/b.bin" --vocab 300 >/dev/null; then ok logits_diff_same_exit0; else not_ok logits_diff_same_exit0; fi
"$BITNET" logits -m "$m" --tokens 1,2,3,9 --out "$TMP/c.bin" >/dev/null 2>&1
"$BITNET" logits-diff "$TMP/a.bin" "$TMP/c.bin" --vocab 300 --json >"$TMP/d.json"
rc=$?
if [ $rc -eq 1 ] && json_check "$TMP/d.json" "j['first_divergence']==3 and j['positions'][0]['cosine']==1"; then
    ok logits_diff_divergence_exit1
else
    not_ok logits_diff_divergence_exit1 "rc=$rc"
fi
"$BITNET" logits-diff "$TMP/a.bin" "$TMP/c.bin" --vocab 7 >/dev/null 2>&1
if [ $? -eq 2 ]; then ok logits_diff_bad_vocab_exit2; else not_ok logits_diff_bad_vocab_exit2; fi
"$BITNET" logits -m "$m" --tokens 1,2,300 --out "$TMP/e.bin" >/dev/null 2>"$TMP/e.err"
if [ $? -eq 1 ] && grep -q "outside the vocabulary" "$TMP/e.err"; then ok logits_bad_token_id; else not_ok logits_bad_token_id; fi
"$BITNET" logits -m "$m" --tokens 1,2,3 --out "$TMP/f.bin" --ctx 2 >/dev/null 2>"$TMP/f.err"
if [ $? -eq 1 ] && grep -q "context" "$TMP/f.err"; then ok logits_context_overflow; else not_ok logits_context_overflow; fi

# --- gen-model argument errors ---
bad=0
for args in "--wtype q4_0" "--hidden 100 --wtype tq2_0" "--heads 3" "--arch qwen2" "--vocab-size 10" "--layers x"; do
    # shellcheck disable=SC2086
    "$BITNET" gen-model "$TMP/bad.gguf" $args >/dev/null 2>&1
    rc=$?
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then bad=1; echo "    gen-model $args: rc=$rc"; fi
    [ -e "$TMP/bad.gguf" ] && { bad=1; echo "    gen-model $args wrote a file"; }
done
if [ $bad -eq 0 ]; then ok gen_model_rejects_bad_args; else not_ok gen_model_rejects_bad_args; fi

# --- BITNET_DEBUG_LOGITS: logs the LM head and a ternary matmul against a float reference ---
BITNET_DEBUG_LOGITS=1 "$BITNET" run -m "$m" --tokens 1,2,3 -n 1 --print-ids >/dev/null 2>"$TMP/dbg.err"
if [ "$(grep -c 'debug-logits: .*cosine 0\.99\|debug-logits: .*cosine 1\.0' "$TMP/dbg.err")" -eq 2 ]; then
    ok debug_logits_reports
else
    not_ok debug_logits_reports "$(cat "$TMP/dbg.err")"
fi
"$BITNET" run -m "$m" --tokens 1,2,3 -n 1 --print-ids >/dev/null 2>"$TMP/nodbg.err"
if ! grep -q debug-logits "$TMP/nodbg.err"; then ok debug_logits_off_by_default; else not_ok debug_logits_off_by_default; fi

# --- --prompt-cache: the second run takes the prompt back from the file (all but its last
# token), and prints the same tokens; --prompt-cache-ro leaves the file alone; a file of other
# KV cache types or a damaged one is not used (stderr says why) and the output is the same ---
PC="$TMP/prompt.cache"
pc_run() { "$BITNET" run -m "$m" --tokens 1,2,3,4,5,6,7,8,9,10 -n 6 --temp 0 --print-ids -t 2 "$@"; }
want=$(pc_run 2>/dev/null)
got1=$(pc_run --prompt-cache "$PC" 2>"$TMP/pc1.err") && got2=$(pc_run --prompt-cache "$PC" 2>"$TMP/pc2.err")
if [ -n "$want" ] && [ "$got1" = "$want" ] && [ "$got2" = "$want" ] && [ -s "$PC" ] && ! grep -q 'prompt cache' "$TMP/pc1.err" &&
    grep -q 'prompt cache .*: 9 of 10 prompt tokens reused' "$TMP/pc2.err"; then ok prompt_cache_reused; else
    not_ok prompt_cache_reused "want '$want', got '$got1' then '$got2': $(cat "$TMP/pc2.err")"; fi
before=$(b3sum "$PC" 2>/dev/null || cksum "$PC")
got3=$(pc_run --prompt-cache "$PC" --prompt-cache-ro --kv-type f32 2>"$TMP/pc3.err")
if [ "$(b3sum "$PC" 2>/dev/null || cksum "$PC")" = "$before" ] && grep -q 'not used: .*other KV cache types (K f16' "$TMP/pc3.err" &&
    [ "$got3" = "$(pc_run --kv-type f32 2>/dev/null)" ]; then ok prompt_cache_other_kv_types; else
    not_ok prompt_cache_other_kv_types "$(cat "$TMP/pc3.err")"; fi
printf 'junk' | dd of="$PC" bs=1 seek=200 conv=notrunc 2>/dev/null
got4=$(pc_run --prompt-cache "$PC" 2>"$TMP/pc4.err")
if [ "$got4" = "$want" ] && grep -q 'not used: .*damaged' "$TMP/pc4.err"; then ok prompt_cache_damaged; else
    not_ok prompt_cache_damaged "$(cat "$TMP/pc4.err")"; fi

# --- --lookup N: the same tokens as without it (greedy and seeded), drafts taken on a repeating
# prompt (stderr counts them); a draft length past 16 is a usage error ---
lk_run() { "$BITNET" run -m "$m" --tokens 5,6,7,8,5,6,7,8,5,6,7 -n 40 --ignore-eos --print-ids -t 2 "$@"; }
same=0
for samp in "--temp 0" "--temp 0.9 --seed 3 --repeat-penalty 1.2"; do
    # shellcheck disable=SC2086
    a=$(lk_run $samp 2>/dev/null) b=$(lk_run $samp --lookup 6 2>"$TMP/lk.err")
    [ -n "$a" ] && [ "$a" = "$b" ] && grep -Eq 'lookup: [1-9][0-9]* draft tokens evaluated in [1-9][0-9]* passes' "$TMP/lk.err" && same=$((same + 1))
done
"$BITNET" run -m "$m" --tokens 1,2 --lookup 17 >/dev/null 2>"$TMP/lk17.err"
rc=$?
if [ $same = 2 ] && [ $rc = 2 ] && grep -q -- '--lookup needs a draft length in 0..16' "$TMP/lk17.err"; then ok lookup_same_tokens; else
    not_ok lookup_same_tokens "same $same of 2, --lookup 17 rc $rc: $(cat "$TMP/lk.err" "$TMP/lk17.err")"; fi
# --json's lookup object: the taken tokens by draft position sum to "accepted", at most 6
# positions (--lookup 6), none above the passes, each at most the one before
lk_run --temp 0 --lookup 6 --json >"$TMP/lk.json" 2>/dev/null
if json_check "$TMP/lk.json" 'j["lookup"]["accepted"] > 0 and 1 <= len(j["lookup"]["accepted_at"]) <= 6 and
        sum(j["lookup"]["accepted_at"]) == j["lookup"]["accepted"] and max(j["lookup"]["accepted_at"]) <= j["lookup"]["passes"] and
        all(a >= b for a, b in zip(j["lookup"]["accepted_at"], j["lookup"]["accepted_at"][1:]))'; then ok lookup_json_accepted_at; else
    not_ok lookup_json_accepted_at "$(head -c 600 "$TMP/lk.json")"; fi

# --- --context-shift: generation goes past --ctx (40 tokens in 24 positions, --json counts the
# positions dropped), its first tokens those of the run that stops at the full context; the
# same with --lookup; --keep -2 is a usage error ---
cs_run() { "$BITNET" run -m "$m" --tokens 5,6,7,8,9 --ignore-eos --temp 0 -t 2 --ctx 24 "$@"; }
full=$(cs_run -n 40 --print-ids 2>"$TMP/cs0.err")
cs_run -n 40 --context-shift --keep 1 --json >"$TMP/cs.json" 2>/dev/null
shifted=$(cs_run -n 40 --context-shift --keep 1 --lookup 4 --print-ids 2>/dev/null)
cs_run -n 4 --keep -2 >/dev/null 2>"$TMP/cs2.err"
rc=$?
nfull=$(echo "$full" | wc -w)
if [ "$nfull" = 20 ] && grep -q 'stop: context_full' "$TMP/cs0.err" &&
    json_check "$TMP/cs.json" "len(j['generated_ids']) == 40 and j['stop_reason'] == 'max_tokens' and j['context_shift']['discarded'] > 0 and ' '.join(map(str, j['generated_ids'][:20])) == '$full' and ' '.join(map(str, j['generated_ids'])) == '$shifted'" &&
    [ $rc = 2 ] && grep -q -- '--keep needs an integer >= -1' "$TMP/cs2.err"; then ok context_shift_run; else
    not_ok context_shift_run "plain $nfull tokens ($(tail -1 "$TMP/cs0.err")), shifted: $(head -c 300 "$TMP/cs.json"), --keep -2 rc $rc"; fi

# --- llama.cpp's other samplers: each flag changes a seeded run and repeats itself; with
# --lookup the same tokens; a bad value is a usage error naming the flag ---
changed=0
for extra in "--mirostat 2 --mirostat-ent 3" "--mirostat 1" "--typical 0.3" "--xtc-probability 1 --xtc-threshold 0.02" \
    "--top-nsigma 1" "--dynatemp-range 0.7 --dynatemp-exp 2" "--dry-multiplier 3 --dry-allowed-length 1 --dry-sequence-breaker none"; do
    # shellcheck disable=SC2086
    a=$(lk_run --temp 1 --seed 4 2>/dev/null) b=$(lk_run --temp 1 --seed 4 $extra 2>/dev/null) c=$(lk_run --temp 1 --seed 4 $extra --lookup 6 2>/dev/null)
    if [ -n "$b" ] && [ "$a" != "$b" ] && [ "$b" = "$c" ]; then changed=$((changed + 1)); else echo "    $extra: $b / $c"; fi
done
# --samplers / --sampling-seq: a part of the default order = the same run with the others off;
# another order runs as given (temperature 1 first changes nothing; at 3 before top-p 0.5 it
# does, and --lookup keeps its tokens); an unknown name is a usage error
a=$(lk_run --temp 1 --seed 4 --top-k 20 --top-p 1 --min-p 0 2>/dev/null)
b=$(lk_run --temp 1 --seed 4 --top-k 20 --samplers "top_k;temperature" 2>/dev/null)
c=$(lk_run --temp 1 --seed 4 --top-k 20 --sampling-seq kt 2>/dev/null)
d=$(lk_run --temp 1 --seed 4 --top-k 20 --sampling-seq tk 2>/dev/null)
e=$(lk_run --temp 3 --seed 4 --top-p 0.5 --samplers "top_p;temperature" 2>/dev/null)
f=$(lk_run --temp 3 --seed 4 --top-p 0.5 --samplers "temperature;top_p" 2>/dev/null)
g=$(lk_run --temp 3 --seed 4 --top-p 0.5 --samplers "temperature;top_p" --lookup 6 2>/dev/null)
# adaptive-p: with adaptive_p named, other tokens; without it, a note and the plain run
h=$(lk_run --temp 1 --seed 4 --samplers "min_p;temperature" 2>/dev/null)
i=$(lk_run --temp 1 --seed 4 --samplers "min_p;temperature" --adaptive-target 0.1 2>"$TMP/adaptive.err")
j=$(lk_run --temp 1 --seed 4 --sampling-seq mta --adaptive-target 0.1 --adaptive-decay 0.5 2>/dev/null)
"$BITNET" run -m "$m" --tokens 1,2 --adaptive-decay 1 >/dev/null 2>"$TMP/decay.err"
rc_decay=$?
"$BITNET" run -m "$m" --tokens 1,2 --samplers "temperature;bogus" >/dev/null 2>"$TMP/order.err"
rc=$?
if [ -n "$h" ] && [ "$h" = "$i" ] && grep -q "adaptive_p in --samplers" "$TMP/adaptive.err" && [ -n "$j" ] && [ "$j" != "$h" ] &&
    [ $rc_decay = 2 ] && grep -q -- "--adaptive-decay" "$TMP/decay.err"; then ok adaptive_p; else
    not_ok adaptive_p "$h / $i / $j; --adaptive-decay 1 rc $rc_decay: $(cat "$TMP/decay.err")"; fi
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] && [ "$a" = "$d" ] && [ -n "$e" ] && [ "$e" != "$f" ] && [ "$f" = "$g" ] &&
    [ $rc = 2 ] && grep -q "unknown sampler 'bogus'" "$TMP/order.err"; then ok sampler_order; else
    not_ok sampler_order "rc $rc: $(cat "$TMP/order.err"); $a / $b / $c / $d; $e / $f / $g"; fi
"$BITNET" run -m "$m" --tokens 1,2 --mirostat 3 >/dev/null 2>"$TMP/m3.err"
rc=$?
if [ $changed = 7 ] && [ $rc = 2 ] && grep -q -- '--mirostat needs 0 (off), 1 or 2' "$TMP/m3.err"; then ok other_samplers; else
    not_ok other_samplers "$changed of 7 changed and repeated; --mirostat 3 rc $rc: $(cat "$TMP/m3.err")"; fi

# --- the README's C example compiles against the library and generates text ---
"$PY" - "$ROOT/README.md" "$TMP/readme_example.c" <<'PYEOF'
import re, sys
m = re.search(r"```c\n(.*?)```", open(sys.argv[1]).read(), re.S)
open(sys.argv[2], "w").write(m.group(1) if m else "")
PYEOF
if cc -std=c11 -Wall -Wextra -Werror -I"$ROOT/include" "$TMP/readme_example.c" "$BUILD/libbitnet.a" -lm -pthread \
        -o "$TMP/readme_example" 2>"$TMP/readme.err" &&
    "$BITNET" gen-model "$TMP/readme_model.gguf" --vocab-from "$VOCAB_DIR/ggml-vocab-llama-bpe.gguf" 2>/dev/null &&
    out=$("$TMP/readme_example" "$TMP/readme_model.gguf") && [ -n "$out" ]; then
    ok readme_c_example_runs
else
    not_ok readme_c_example_runs "$(head -5 "$TMP/readme.err")"
fi
