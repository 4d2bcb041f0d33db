#!/usr/bin/env bash
# test_chat: `bitnet chat` on a generated model with the real LLaMA-3 vocabulary
# (ggml-vocab-llama-bpe.gguf from the reference; greedy decoding):
#   - turn 2 of a piped session equals a fresh `bitnet run`: by ids (`run --tokens` of the
#     session's context_ids reproduces the generated ids) and by text (run of the whole
#     rendered conversation, turn-1 reply included, prints the same bytes); the context of
#     turn 2 is exactly the rendered conversation tokenized, i.e. only deltas were fed and BOS
#     only once;
#   - /clear starts a fresh session (same ids as the first turn), /exit stops reading, EOF
#     (with or without a final newline) ends cleanly, a full context is reported, not fatal;
#   - context shift: a chat of ten turns through a 64-token context keeps answering; old turns
#     are dropped whole, the system prompt is kept (stderr says how many tokens), the last
#     turn's context is exactly the kept conversation and a fresh run of it gives the same
#     reply; a message that cannot fit at all is not sent;
#   - a --stop string that ends a reply inside (or across) tokens: the next turn's context is
#     the rendered conversation with the reply as the history has it;
#   - SIGINT during a reply stops it and the chat goes on with a consistent KV cache; SIGINT at
#     the prompt ends the chat (signals sent with kill through a FIFO, and as a real Ctrl-C in
#     a tmux terminal, where the prompt goes to stdout);
#   - bad arguments exit 2, a missing model exits 1.
# The text check uses the llama3 format: its assistant header ends in "\n\n", which the
# LLaMA-3 pre-tokenizer keeps apart from the reply, so that retokenizing the reply text gives
# back the generated ids (the bitnet format's "Assistant: " does not: its trailing space merges
# with the reply's first word, which is why the chat keeps the generated ids instead).
# CI=true: a missing vocabulary or tmux is a failure; elsewhere a skipped ok line.
source "$(dirname "$0")/lib.sh"
VOCAB="$ROOT/.cache/reference/llama.cpp/models/ggml-vocab-llama-bpe.gguf"
M="$TMP/chat.gguf"

skip_or_fail() { # NAME WHY
    if [ "${CI:-}" = true ]; then not_ok "$1" "$2 (CI=true: missing is a failure)"; else echo "ok - $SCRIPT_NAME/$1 # SKIP $2"; fi
}

if [ ! -x "$BITNET" ]; then not_ok "built" "$BITNET missing (make all)"; exit 1; fi
if [ ! -f "$VOCAB" ]; then skip_or_fail vocab "$VOCAB missing (scripts/fetch_reference.sh)"; exit 0; fi
if ! "$BITNET" gen-model "$M" --vocab-from "$VOCAB" --wtype tq2_0 --seed 3 >"$TMP/gen.log" 2>&1; then
    not_ok gen_model "$(tail -3 "$TMP/gen.log")"; exit 1
fi

COMMON=(-m "$M" -t 2 --greedy --chat-template llama3)

# header ROLE: the llama3 format's opening of a message
header() { printf '<|start_header_id|>%s<|end_header_id|>\n\n' "$1"; }
# ids_line FILE KEY N: the N-th "KEY: ..." line of FILE, without the key
ids_line() { grep "^$2:" "$1" | sed -n "${3}p" | sed "s/^$2: *//"; }

# ---- turn 2 equals a fresh run -------------------------------------------------------------
printf 'Hello there\nHow are you?\n' | "$BITNET" chat "${COMMON[@]}" -n 8 --system "Be brief." --print-ids >"$TMP/ids.out" 2>"$TMP/ids.err"
rc=$?
check "piped_session_exit_0" [ $rc -eq 0 ]
ctx1=$(ids_line "$TMP/ids.out" context_ids 1) gen1=$(ids_line "$TMP/ids.out" generated_ids 1)
ctx2=$(ids_line "$TMP/ids.out" context_ids 2) gen2=$(ids_line "$TMP/ids.out" generated_ids 2)
if [ -n "$ctx2" ] && [ -n "$gen2" ]; then
    fresh=$("$BITNET" run -m "$M" -t 2 --greedy -n 8 --tokens "$ctx2" --print-ids 2>"$TMP/run.err")
    if [ "$fresh" = "$gen2" ]; then ok "turn2_ids_equal_fresh_run"; else
        not_ok "turn2_ids_equal_fresh_run" "chat: $gen2"; echo "    run:  $fresh"; fi
else
    not_ok "turn2_ids_equal_fresh_run" "no context_ids/generated_ids for turn 2 in: $(head -c 300 "$TMP/ids.out")"
fi
# The cache after turn 1 holds turn 1's context and its reply; turn 2 only appends (BOS once).
gen1_csv=$(echo "$gen1" | tr ' ' ',')
case "$ctx2" in
"$ctx1,$gen1_csv,"*) ok "turn2_context_extends_turn1" ;;
*) not_ok "turn2_context_extends_turn1" "turn 2 context does not start with turn 1 context + reply" ;;
esac
bos_count=$(echo "$ctx2" | tr ',' '\n' | grep -c '^128000$')
check "bos_only_once" [ "$bos_count" -eq 1 ]

{ header system; printf 'Be brief.<|eot_id|>'; header user; printf 'Hello there<|eot_id|>'; header assistant; } >"$TMP/p1.txt"
printf 'Hello there\nHow are you?\n' | "$BITNET" chat "${COMMON[@]}" -n 8 --system "Be brief." >"$TMP/chat.out" 2>"$TMP/chat.err"
"$BITNET" run -m "$M" -t 2 --greedy -n 8 --prompt-file "$TMP/p1.txt" --parse-special >"$TMP/run1.out" 2>"$TMP/run1.err"
# run prints the reply and a newline: drop that newline to rebuild the conversation.
{ cat "$TMP/p1.txt"; head -c -1 "$TMP/run1.out"; printf '<|eot_id|>'; header user; printf 'How are you?<|eot_id|>'; header assistant; } >"$TMP/p2.txt"
"$BITNET" run -m "$M" -t 2 --greedy -n 8 --prompt-file "$TMP/p2.txt" --parse-special >"$TMP/run2.out" 2>"$TMP/run2.err"
if [ -s "$TMP/chat.out" ] && cat "$TMP/run1.out" "$TMP/run2.out" | cmp -s - "$TMP/chat.out"; then
    ok "transcript_equals_fresh_runs"
else
    not_ok "transcript_equals_fresh_runs" "chat stdout differs from the two fresh runs"
    echo "    chat: $(od -c "$TMP/chat.out" | head -3)"
fi
want=$("$BITNET" tokenize -m "$M" --prompt-file "$TMP/p2.txt" --parse-special | tr ' ' ',')
if [ -n "$want" ] && [ "$want" = "$ctx2" ]; then ok "turn2_context_is_rendered_conversation"; else
    not_ok "turn2_context_is_rendered_conversation" "tokenized: $want"; echo "    chat:      $ctx2"; fi
check "prompt_not_on_stdout_when_piped" bash -c "! grep -q '^> ' '$TMP/chat.out'"

# ---- /clear, /exit, EOF ---------------------------------------------------------------------
printf 'Hello there\nHow are you?\n/clear\nHello there\n' | "$BITNET" chat "${COMMON[@]}" -n 6 --print-ids >"$TMP/clear.out" 2>"$TMP/clear.err"
rc=$?
c1=$(ids_line "$TMP/clear.out" context_ids 1) c3=$(ids_line "$TMP/clear.out" context_ids 3)
g1=$(ids_line "$TMP/clear.out" generated_ids 1) g3=$(ids_line "$TMP/clear.out" generated_ids 3)
if [ $rc -eq 0 ] && [ -n "$c1" ] && [ "$c1" = "$c3" ] && [ "$g1" = "$g3" ] && grep -q "conversation cleared" "$TMP/clear.err"; then
    ok "clear_starts_fresh_session"
else
    not_ok "clear_starts_fresh_session" "rc $rc; first context '$c1' vs after /clear '$c3'"
fi

printf 'Hello there\n/exit\nHow are you?\n' | "$BITNET" chat "${COMMON[@]}" -n 4 --print-ids >"$TMP/exit.out" 2>"$TMP/exit.err"
rc=$?
n=$(grep -c '^generated_ids:' "$TMP/exit.out")
check "exit_command_stops" [ $rc -eq 0 -a "$n" -eq 1 ]

printf 'Hello there' | "$BITNET" chat "${COMMON[@]}" -n 4 --print-ids >"$TMP/eof.out" 2>"$TMP/eof.err"
rc=$?
n=$(grep -c '^generated_ids:' "$TMP/eof.out")
check "eof_after_unterminated_line" [ $rc -eq 0 -a "$n" -eq 1 ]
"$BITNET" chat "${COMMON[@]}" </dev/null >"$TMP/empty.out" 2>"$TMP/empty.err"
rc=$?
check "eof_at_once" [ $rc -eq 0 -a ! -s "$TMP/empty.out" ]

# ---- a full context is reported, the next turn shifts, /clear recovers -------------------------
printf 'Hello there\nHow are you?\n/clear\nHello there\n' | "$BITNET" chat "${COMMON[@]}" -n 0 -c 40 --print-ids >"$TMP/full.out" 2>"$TMP/full.err"
rc=$?
n=$(grep -c '^generated_ids:' "$TMP/full.out")
full=$(grep -c 'context is full' "$TMP/full.err")
shifts=$(grep -c 'context shift: dropped 1 old turn' "$TMP/full.err")
# turn 1 fills the context (reported); turn 2 drops turn 1 (reported) and fills it again; after
# /clear a reply again, which fills the context again
if [ $rc -eq 0 ] && [ "$n" -eq 3 ] && [ "$full" -eq 3 ] && [ "$shifts" -eq 1 ]; then ok "context_full_reported_next_turn_shifts"; else
    not_ok "context_full_reported_next_turn_shifts" "rc $rc, $n replies, $full context-full messages, $shifts shifts"; sed 's/^/    /' "$TMP/full.err" | tail -5; fi
# a message that cannot fit even after dropping every turn is not sent; the chat goes on
long=$(printf 'word %.0s' $(seq 1 60))
printf 'Hello there\n%s\nHow are you?\n' "$long" | "$BITNET" chat "${COMMON[@]}" -n 4 -c 40 --print-ids >"$TMP/long.out" 2>"$TMP/long.err"
rc=$?
n=$(grep -c '^generated_ids:' "$TMP/long.out")
if [ $rc -eq 0 ] && [ "$n" -eq 2 ] && grep -q 'does not fit a context of 40' "$TMP/long.err"; then ok "message_too_long_not_sent"; else
    not_ok "message_too_long_not_sent" "rc $rc, $n replies"; tail -3 "$TMP/long.err" | sed 's/^/    /'; fi

# ---- a long chat through a small context: context shift ---------------------------------------
# Ten turns of exactly 8 tokens (--ignore-eos) through a 64-token context: old turns are dropped,
# the system prompt stays. Checked for the last turn: its context is exactly the kept
# conversation (the system prompt, the turns not dropped with their replies as generated, the
# new message), and a fresh session fed those ids (`bitnet run --tokens`) generates the same
# reply, i.e. the shifted KV cache is what a fresh session fed the kept history holds.
msgs=(Hello "How are you?" "Tell me more" "And then?" Ok "Why so?" "Go on" Really "Fine then" Bye)
printf '%s\n' "${msgs[@]}" | "$BITNET" chat "${COMMON[@]}" -n 8 --ignore-eos -c 64 --system "Be brief." --print-ids \
    >"$TMP/shift.out" 2>"$TMP/shift.err"
rc=$?
n_replies=$(grep -c '^generated_ids:' "$TMP/shift.out")
dropped=$(grep -o 'dropped [0-9]* old turn' "$TMP/shift.err" | awk '{s += $2} END {print s + 0}')
if [ $rc -eq 0 ] && [ "$n_replies" -eq 10 ] && [ "$dropped" -gt 0 ] && [ "$dropped" -lt 9 ]; then ok "long_chat_keeps_answering"; else
    not_ok "long_chat_keeps_answering" "rc $rc, $n_replies replies, $dropped turns dropped"; tail -3 "$TMP/shift.err" | sed 's/^/    /'; fi
{ header system; printf 'Be brief.<|eot_id|>'; } >"$TMP/sys.txt"
sys_ids=$("$BITNET" tokenize -m "$M" --prompt-file "$TMP/sys.txt" --parse-special | tr ' ' ',')
n_sys=$(echo "$sys_ids" | tr ',' '\n' | wc -l)
n_notes=$(grep -c 'context shift:' "$TMP/shift.err")
n_kept_sys=$(grep -c "kept the first $n_sys tokens (BOS and the system prompt)" "$TMP/shift.err")
if [ "$n_notes" -gt 0 ] && [ "$n_kept_sys" -eq "$n_notes" ]; then ok "shift_notice_keeps_system_prompt"; else
    not_ok "shift_notice_keeps_system_prompt" "$n_notes notices, $n_kept_sys keep the $n_sys system tokens"; fi
bad=0 # every context starts with the system prompt's tokens and fits
for ((t = 1; t <= 10; t++)); do
    ctx=$(ids_line "$TMP/shift.out" context_ids "$t")
    case "$ctx" in "$sys_ids",*) ;; *) bad=1 ;; esac
    [ "$(echo "$ctx" | tr ',' '\n' | wc -l)" -lt 64 ] || bad=1
done
check "every_context_starts_with_system_prompt" [ $bad -eq 0 ]
# user_ids T: the tokens of message T's rendering with the assistant's opening
user_ids() { { header user; printf '%s<|eot_id|>' "${msgs[$1 - 1]}"; header assistant; } >"$TMP/u.txt"
    "$BITNET" tokenize -m "$M" --prompt-file "$TMP/u.txt" --parse-special --no-bos | tr ' ' ','; }
want="$sys_ids"
for ((t = dropped + 1; t <= 9; t++)); do
    want="$want,$(user_ids $t),$(ids_line "$TMP/shift.out" generated_ids "$t" | tr ' ' ','),128009"
done
want="$want,$(user_ids 10)"
last_ctx=$(ids_line "$TMP/shift.out" context_ids 10) last_gen=$(ids_line "$TMP/shift.out" generated_ids 10)
if [ "$want" = "$last_ctx" ]; then ok "shifted_context_is_kept_conversation"; else
    not_ok "shifted_context_is_kept_conversation" "expected: $want"; echo "    chat:     $last_ctx"; fi
fresh_ids=$("$BITNET" run -m "$M" -t 2 --greedy -n 8 --ignore-eos --tokens "$want" --print-ids 2>/dev/null)
if [ -n "$last_gen" ] && [ "$fresh_ids" = "$last_gen" ]; then ok "reply_after_shift_equals_fresh_session"; else
    not_ok "reply_after_shift_equals_fresh_session" "chat '$last_gen' vs fresh '$fresh_ids'"; fi

# ---- a --stop string: the reply text before it is in the cache, as in the history ---------------
# Turn 1's greedy reply (above) is "RowAnimation" x4, " Monsters", ... (one token each).
# "sters" stops inside " Monsters": " Mon" is part of the reply although its token is not fed;
# "AnimationRow" stops across two tokens: the reply is "Row", less than the fed first token.
for stop in sters AnimationRow; do
    printf 'Hello there\nHow are you?\n' | "$BITNET" chat "${COMMON[@]}" -n 8 --system "Be brief." --stop "$stop" --print-ids >"$TMP/stop_ids.out" 2>/dev/null
    printf 'Hello there\nHow are you?\n' | "$BITNET" chat "${COMMON[@]}" -n 8 --system "Be brief." --stop "$stop" >"$TMP/stop.out" 2>/dev/null
    reply1=$(sed -n 1p "$TMP/stop.out")
    { cat "$TMP/p1.txt"; printf '%s<|eot_id|>' "$reply1"; header user; printf 'How are you?<|eot_id|>'; header assistant; } >"$TMP/stop_p2.txt"
    want=$("$BITNET" tokenize -m "$M" --prompt-file "$TMP/stop_p2.txt" --parse-special | tr ' ' ',')
    got=$(ids_line "$TMP/stop_ids.out" context_ids 2)
    case "$(ids_line "$TMP/stop_ids.out" generated_ids 1)" in *" "*) long_enough=1 ;; *) long_enough=0 ;; esac
    if [ -n "$reply1" ] && [ $long_enough = 1 ] && [ "$want" = "$got" ]; then ok "stop_string_${stop}_reply_text_in_cache"; else
        not_ok "stop_string_${stop}_reply_text_in_cache" "reply '$reply1'; tokenized: $want"; echo "    chat:      $got"; fi
done

# ---- SIGINT through a FIFO ---------------------------------------------------------------------
# prompts_seen FILE: how many "> " prompts the chat printed on stderr
prompts_seen() { grep -o '> ' "$1" 2>/dev/null | wc -l; }
# wait_prompts FILE N PID: waits (up to 20 s) until N prompts were printed; fails if PID died
wait_prompts() {
    local i
    for ((i = 0; i < 200; i++)); do
        [ "$(prompts_seen "$1")" -ge "$2" ] && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
# wait_exit PID: waits (up to 10 s) for PID to end; its status in $exit_rc (255 on time-out)
wait_exit() {
    local i
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$1" 2>/dev/null; then wait "$1"; exit_rc=$?; return 0; fi
        sleep 0.1
    done
    kill -TERM "$1" 2>/dev/null; wait "$1"; exit_rc=255
    return 1
}

fifo="$TMP/in.fifo" err="$TMP/sig.err" out="$TMP/sig.out"
mkfifo "$fifo"
# Replies without end: only SIGINT (or 2048 tokens, ~30 s) stops them.
"$BITNET" chat "${COMMON[@]}" -n 0 --ignore-eos -c 2048 --print-ids <"$fifo" >"$out" 2>"$err" &
pid=$!
exec 3>"$fifo"
sig_ok=1
wait_prompts "$err" 1 $pid || sig_ok=0
echo "Tell me a long story" >&3
sleep 1
kill -INT $pid 2>/dev/null
wait_prompts "$err" 2 $pid || sig_ok=0
echo "Go on" >&3
sleep 1
kill -INT $pid 2>/dev/null
wait_prompts "$err" 3 $pid || sig_ok=0
echo "/exit" >&3
exec 3>&-
wait_exit $pid
n_int=$(grep -c 'reply interrupted' "$err")
if [ $sig_ok = 1 ] && [ "$exit_rc" -eq 0 ] && [ "$n_int" -eq 2 ]; then ok "sigint_stops_reply_returns_to_prompt"; else
    not_ok "sigint_stops_reply_returns_to_prompt" "exit $exit_rc, $n_int interrupted replies, $(prompts_seen "$err") prompts"; tail -3 "$err" | sed 's/^/    /'; fi
# The interrupted replies stay in the cache: turn 2's context extends turn 1's by its reply, and
# a fresh run from turn 2's context generates what the chat generated.
s_ctx1=$(ids_line "$out" context_ids 1) s_gen1=$(ids_line "$out" generated_ids 1)
s_ctx2=$(ids_line "$out" context_ids 2) s_gen2=$(ids_line "$out" generated_ids 2)
n_gen2=$(echo "$s_gen2" | wc -w)
case "$s_ctx2" in
"$s_ctx1,$(echo "$s_gen1" | tr ' ' ','),"*) ext=1 ;;
*) ext=0 ;;
esac
if [ "$ext" = 1 ] && [ "$n_gen2" -gt 0 ] && [ "$n_gen2" -lt 2000 ] &&
   [ "$("$BITNET" run -m "$M" -t 2 --greedy --ignore-eos -n "$n_gen2" --tokens "$s_ctx2" --print-ids 2>/dev/null)" = "$s_gen2" ]; then
    ok "cache_consistent_after_sigint"
else
    not_ok "cache_consistent_after_sigint" "extends: $ext, turn 2 generated $n_gen2 tokens"
fi

: >"$err"
"$BITNET" chat "${COMMON[@]}" -n 4 <"$fifo" >"$out" 2>"$err" &
pid=$!
exec 3>"$fifo"
at_prompt=1
wait_prompts "$err" 1 $pid || at_prompt=0
kill -INT $pid 2>/dev/null
wait_exit $pid || at_prompt=0
exec 3>&-
if [ $at_prompt = 1 ] && [ "$exit_rc" -eq 0 ]; then ok "sigint_at_prompt_exits"; else not_ok "sigint_at_prompt_exits" "exit $exit_rc"; fi

# ---- Ctrl-C in a real terminal (tmux) ----------------------------------------------------------
tmux_test() {
    local sock="bitnet_chat_test_$$" pane="$TMP/pane.txt" i
    cat >"$TMP/tmux_cmd.sh" <<EOF
"$BITNET" chat ${COMMON[*]} -n 0 --ignore-eos -c 2048 2>"$TMP/tmux.err"
echo \$? >"$TMP/tmux.rc"
EOF
    tmux -L "$sock" -f /dev/null new-session -d -x 200 -y 50 "bash '$TMP/tmux_cmd.sh'" || return 1
    local shown=0
    pane_prompts() { tmux -L "$sock" capture-pane -p -J -S - 2>/dev/null >"$pane"; grep -c '^> ' "$pane"; }
    for ((i = 0; i < 100; i++)); do [ "$(pane_prompts)" -ge 1 ] && break; sleep 0.1; done
    tmux -L "$sock" send-keys "Tell me a long story" Enter
    sleep 1
    tmux -L "$sock" send-keys C-c
    for ((i = 0; i < 100; i++)); do [ "$(pane_prompts)" -ge 2 ] && { shown=1; break; }; sleep 0.1; done
    tmux -L "$sock" send-keys "/exit" Enter
    for ((i = 0; i < 100; i++)); do [ -s "$TMP/tmux.rc" ] && break; sleep 0.1; done
    tmux -L "$sock" kill-server 2>/dev/null
    [ $shown = 1 ] && [ "$(cat "$TMP/tmux.rc" 2>/dev/null)" = 0 ] && grep -q 'reply interrupted' "$TMP/tmux.err"
}
if ! command -v tmux >/dev/null; then
    skip_or_fail "tmux_ctrl_c" "tmux not installed (Debian package tmux)"
elif tmux_test; then
    ok "tmux_ctrl_c_returns_to_prompt"
else
    not_ok "tmux_ctrl_c_returns_to_prompt" "rc $(cat "$TMP/tmux.rc" 2>/dev/null); pane:"; tail -5 "$TMP/pane.txt" 2>/dev/null | cut -c1-120 | sed 's/^/    /'
fi

# ---- bad usage ----------------------------------------------------------------------------------
"$BITNET" chat --bogus </dev/null >/dev/null 2>"$TMP/u1.err"; rc=$?
check "unknown_option_exits_2" [ $rc -eq 2 -a -s "$TMP/u1.err" ]
"$BITNET" chat </dev/null >/dev/null 2>"$TMP/u2.err"; rc=$?
check "missing_model_option_exits_2" [ $rc -eq 2 ]
"$BITNET" chat -m "$M" --chat-template nope </dev/null >/dev/null 2>"$TMP/u3.err"; rc=$?
check "bad_template_exits_2" [ $rc -eq 2 ]
# llama.cpp's --chat-template TEMPLATE / --chat-template-file: a Jinja template of a built-in
# format gives that format's prompt; another format's template is refused (exit 2)
printf '{%% for m in messages %%}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%% endfor %%}' >"$TMP/chatml.jinja"
printf '{%% for m in messages %%}[INST] {{ m.content }} [/INST]{%% endfor %%}' >"$TMP/mistral.jinja"
ids() { "$BITNET" run -m "$M" -t 2 -p "Hi" -n 1 --greedy --chat --system S --json "$@" 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["prompt_ids"])'; }
by_name=$(ids --chat-template chatml) by_file=$(ids --chat-template-file "$TMP/chatml.jinja") by_text=$(ids --chat-template "$(cat "$TMP/chatml.jinja")")
if [ -n "$by_name" ] && [ "$by_file" = "$by_name" ] && [ "$by_text" = "$by_name" ]; then ok chat_template_jinja_is_its_format; else
    not_ok chat_template_jinja_is_its_format "name $by_name, file $by_file, text $by_text"; fi
"$BITNET" run -m "$M" -p Hi -n 1 --chat --chat-template-file "$TMP/mistral.jinja" >/dev/null 2>"$TMP/u5.err"; rc=$?
if [ $rc -eq 2 ] && grep -q "not one of the chat formats" "$TMP/u5.err"; then ok other_template_exits_2; else
    not_ok other_template_exits_2 "rc=$rc: $(head -2 "$TMP/u5.err")"; fi
"$BITNET" chat -m "$TMP/no_such.gguf" </dev/null >/dev/null 2>"$TMP/u4.err"; rc=$?
check "missing_model_file_exits_1" [ $rc -eq 1 -a -s "$TMP/u4.err" ]
"$BITNET" chat --help >"$TMP/help.out" 2>&1; rc=$?
check "help_documents_prompt_stream" bash -c "[ $rc -eq 0 ] && grep -q 'stderr' '$TMP/help.out' && grep -q '/clear' '$TMP/help.out'"
