/* cmd_chat: `bitnet chat`, an interactive multi-turn conversation over one session.
 *
 * The session keeps its KV cache across turns: each turn feeds only the text the cache does
 * not hold yet (bn_chat_render_delta: the previous reply's end-of-turn marker, the new user
 * message and the assistant's opening), tokenized with special tokens parsed, with BOS only at
 * the start of a fresh session. What is in the cache, token for token:
 *   BOS? + delta(turn 1) + reply 1 + delta(turn 2) + reply 2 + ...
 * where "reply k" is the tokens generated for turn k, minus the one that ended it (an
 * end-of-generation or --stop-id token, which the next delta's CLOSE text replaces).
 * bitnet_session_generate() does not feed the last token it samples; when that token is part
 * of the reply (stopped by -n, by Ctrl-C through a callback, by a full context) it is kept as
 * "pending" and fed in front of the next delta. When a --stop string ends the reply, the cache
 * is brought back to the reply's text as the history has it: the generated tokens whose text
 * is a prefix of the reply stay (the cache is truncated after them: a stop string that began
 * in an earlier token took that token's text out of the reply), and the rest of the reply
 * text (e.g. what came before the stop string inside the last token) is tokenized and fed as
 * pending in front of the next delta.
 *
 * Context shift (llama.cpp's, by whole turns): a turn's prompt is tokenized in two parts, the
 * "head" (pending tokens and the previous reply's CLOSE; on the first turn BOS and the system
 * message), which belongs to what came before, and the new user message with the assistant's
 * opening, where the new turn starts (turn_starts). Before each turn, when the prompt plus room
 * for the reply (the smaller of -n and half the context after the kept prefix) does not fit,
 * bitnet_context_turns_to_drop() picks the fewest oldest turns to drop; the session is
 * truncated to the kept prefix (BOS and the system message: its KV is kept as it is) and the
 * kept later turns are evaluated again in front of the new prompt. The history drops the same
 * messages, so the cache always holds the rendered kept conversation. stderr says so each
 * time ("context shift: dropped ...").
 *
 * Terminal handling: SIGINT while an answer is generated stops that answer (abort_flag) and
 * returns to the prompt; SIGINT at the prompt, EOF on stdin and /exit end the chat (exit 0).
 * The "> " prompt goes to stdout when stdin is a terminal and to stderr otherwise, so that a
 * piped chat writes only the replies (one per turn, each ended by a newline) on stdout. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/chat.h"
#include "cli.h"
#include "cli_gen.h"
#include "cli_model.h"
#include "cli_prompt.h"

static void usage(void) {
    printf("usage: bitnet chat --model M [--system TEXT] [--chat-template NAME] [options]\n"
           "Interactive multi-turn chat over one session that keeps its KV cache across turns.\n"
           "Type a message and Enter; the reply streams to stdout. Commands (a line by itself):\n"
           "  /clear                forget the conversation (keeps --system) and start a fresh session\n"
           "  /exit                 end the chat (EOF on stdin does the same)\n"
           "Ctrl-C while a reply is generated stops that reply and returns to the prompt; Ctrl-C at\n"
           "the prompt ends the chat. When a message and room for its reply no longer fit the context\n"
           "(-c), the oldest whole turns are dropped (the system prompt is kept) and stderr says so.\n"
           "Output: when stdin is a terminal the '> ' prompt is written to stdout; otherwise (a pipe,\n"
           "a file) it goes to stderr and stdout holds only the replies, each ended by a newline.\n"
           "  --print-ids           instead of each reply's text print two lines on stdout:\n"
           "                        'context_ids: <every id in the session when the reply began,\n"
           "                        comma-separated>' and 'generated_ids: <ids, space-separated>'\n"
           "                        (a fresh `bitnet run --tokens <context_ids>` reproduces them)\n"
           "  --verbose             also print timings of each reply on stderr\n"
           "  -p, --prompt TEXT     the system message, as in llama-cli's conversation mode (-cnv, which is\n"
           "                        taken; `bitnet run ... -cnv` runs this command)\n"
           "%s%s",
           cli_gen_opts_help, cli_model_opts_help);
}

/* ===================================================================== Ctrl-C */

/* Set by the SIGINT handler; the generation loop polls it through abort_flag. (A CLI-level
 * flag: signal handlers have no other way to talk to the program.) */
static volatile sig_atomic_t interrupted;
_Static_assert(sizeof(sig_atomic_t) == sizeof(int), "abort_flag is a volatile int *");

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

/* No SA_RESTART: a SIGINT while waiting for input makes the read fail with EINTR. */
static int install_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGINT, &sa, NULL);
}

/* ===================================================================== conversation state */

typedef struct chat_state {
    bitnet_model *m;
    bitnet_session *s;
    cli_gen_opts *go;
    bn_chat_format format;
    bool print_ids, verbose;
    bn_chat_message *msgs;   /* [n_msgs] history; contents malloc'd */
    size_t n_msgs, cap_msgs;
    size_t n_done;           /* messages whose text is in the cache (see the header comment) */
    int32_t *ids;            /* [n_ids] every token in the session, in order */
    size_t n_ids, cap_ids;
    int64_t *turn_starts;    /* [n_turns] where each exchange (user message + reply) starts in ids */
    int n_turns, cap_turns;
    size_t n_keep_msgs;      /* messages never dropped: the system message (0 or 1) */
    int32_t *pending;        /* [n_pending] reply tokens sampled but not fed yet */
    int n_pending;
    int32_t *gen;            /* [max_gen] ids of the current reply */
    int max_gen;
    char *reply;             /* [reply_len] text of the current reply */
    size_t reply_len, reply_cap;
} chat_state;

static int append_ids(chat_state *c, const int32_t *ids, size_t n) {
    if (n == 0) return 0;
    if (c->n_ids + n > c->cap_ids) {
        size_t cap = (c->n_ids + n) * 2;
        int32_t *bigger = realloc(c->ids, cap * sizeof *bigger);
        if (!bigger) return -1;
        c->ids = bigger;
        c->cap_ids = cap;
    }
    memcpy(c->ids + c->n_ids, ids, n * sizeof *ids);
    c->n_ids += n;
    return 0;
}

static int push_message(chat_state *c, bn_chat_role role, const char *text, size_t len) {
    if (c->n_msgs == c->cap_msgs) {
        size_t cap = c->cap_msgs ? c->cap_msgs * 2 : 8;
        bn_chat_message *bigger = realloc(c->msgs, cap * sizeof *bigger);
        if (!bigger) return -1;
        c->msgs = bigger;
        c->cap_msgs = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    c->msgs[c->n_msgs++] = (bn_chat_message){role, copy};
    return 0;
}

static void pop_message(chat_state *c) {
    free((char *)c->msgs[--c->n_msgs].content);
}

static int push_turn(chat_state *c, int64_t start) {
    if (c->n_turns == c->cap_turns) {
        int cap = c->cap_turns ? c->cap_turns * 2 : 8;
        int64_t *bigger = realloc(c->turn_starts, (size_t)cap * sizeof *bigger);
        if (!bigger) return -1;
        c->turn_starts = bigger;
        c->cap_turns = cap;
    }
    c->turn_starts[c->n_turns++] = start;
    return 0;
}

/* Forgets the conversation except the system message and starts a fresh session. */
static int chat_clear(chat_state *c) {
    while (c->n_msgs > c->n_keep_msgs) pop_message(c);
    c->n_done = 0;
    c->n_ids = 0;
    c->n_turns = 0;
    c->n_pending = 0;
    return bitnet_session_reset(c->s);
}

static void chat_free(chat_state *c) {
    while (c->n_msgs) pop_message(c);
    free(c->msgs);
    free(c->ids);
    free(c->turn_starts);
    free(c->pending);
    free(c->gen);
    free(c->reply);
}

/* ===================================================================== one turn */

static int on_token(int32_t token, const char *text, size_t len, void *user) {
    (void)token;
    chat_state *c = user;
    if (!c->print_ids) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    if (c->reply_len + len + 1 > c->reply_cap) {
        size_t cap = (c->reply_len + len + 1) * 2;
        char *bigger = realloc(c->reply, cap);
        if (!bigger) return 1;
        c->reply = bigger;
        c->reply_cap = cap;
    }
    memcpy(c->reply + c->reply_len, text, len);
    c->reply_len += len;
    return 0;
}

/* text tokenized (special tokens parsed, BOS when bos) into *out (malloc'd, may be empty).
 * Returns the count or -1 (printed). */
static int tokenize_text(const chat_state *c, const char *text, bool bos, bool parse_special, int32_t **out) {
    size_t len = strlen(text);
    int n = bitnet_model_tokenize(c->m, text, len, bos, parse_special, NULL, 0);
    *out = n >= 0 ? malloc(sizeof(int32_t) * (size_t)(n ? n : 1)) : NULL;
    if (n >= 0 && (!*out || bitnet_model_tokenize(c->m, text, len, bos, parse_special, *out, n) != n)) n = -1;
    if (n < 0) {
        free(*out);
        *out = NULL;
        cli_fail("chat", "tokenization failed: %s", bitnet_get_last_error());
    }
    return n;
}

/* a[0, na) followed by b[0, nb), malloc'd; NULL when out of memory (printed). */
static int32_t *concat_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    int32_t *ids = malloc(sizeof(int32_t) * (na + nb + 1));
    if (!ids) {
        cli_fail("chat", "out of memory");
        return NULL;
    }
    if (na) memcpy(ids, a, sizeof(int32_t) * na);
    if (nb) memcpy(ids + na, b, sizeof(int32_t) * nb);
    return ids;
}

/* The tokens of this turn's prompt: the head (the pending reply tokens, then the text still
 * missing before the new user message: the previous reply's CLOSE, or BOS and the system
 * message on the first turn) and the new user message with the assistant's opening. Each
 * text part is tokenized on its own (special tokens parsed; BOS when the session is fresh).
 * Returns the count and *n_head, or -1 (printed). */
static int turn_prompt(chat_state *c, int32_t **out, int *n_head) {
    size_t user = c->n_msgs - 1;
    char *head = bn_chat_render_delta(c->format, c->msgs, c->n_done, user, false);
    char *tail = head ? bn_chat_render(c->format, c->msgs + user, 1, true) : NULL;
    int32_t *head_ids = NULL, *tail_ids = NULL, *both = NULL;
    int nh = -1, nt = -1;
    if (!tail) cli_fail("chat", "%s", bitnet_get_last_error());
    else if ((nh = tokenize_text(c, head, c->n_ids == 0 && c->n_pending == 0, true, &head_ids)) >= 0)
        nt = tokenize_text(c, tail, false, true, &tail_ids);
    free(head);
    free(tail);
    int32_t *front = nt >= 0 ? concat_ids(c->pending, (size_t)c->n_pending, head_ids, (size_t)nh) : NULL;
    if (front) both = concat_ids(front, (size_t)(c->n_pending + nh), tail_ids, (size_t)nt);
    free(front);
    free(head_ids);
    free(tail_ids);
    if (!both) return -1;
    *out = both;
    *n_head = c->n_pending + nh;
    return *n_head + nt;
}

/* ===================================================================== context shift */

/* Room kept for the reply when deciding whether old turns must go: the smaller of -n and half
 * of the context after the kept prefix (at least one token). */
static int64_t reply_reserve(const chat_state *c, int64_t n_keep) {
    int64_t half = (bitnet_session_n_ctx(c->s) - n_keep) / 2;
    int64_t r = c->go->gen.max_tokens > 0 && c->go->gen.max_tokens < half ? c->go->gen.max_tokens : half;
    return r > 0 ? r : 1;
}

/* How many old turns to drop so that prompt[n_head, n) fits with room for the reply (the head
 * belongs to the last turn); every turn when even that is not enough but the prompt alone
 * then fits. BITNET_ERR_CONTEXT_EXCEEDED when the message cannot fit at all. */
static int turns_to_drop(const chat_state *c, int n, int n_head) {
    int64_t n_ctx = bitnet_session_n_ctx(c->s), n_seq = (int64_t)c->n_ids + n_head;
    int64_t n_keep = c->n_turns ? c->turn_starts[0] : (int64_t)c->n_ids;
    int k = bitnet_context_turns_to_drop(n_ctx, n_seq, c->turn_starts, c->n_turns, n - n_head + reply_reserve(c, n_keep));
    if (k < 0 && bitnet_context_turns_to_drop(n_ctx, n_seq, c->turn_starts, c->n_turns, n - n_head + 1) >= 0) k = c->n_turns;
    return k;
}

/* Drops the k oldest turns: the session keeps its prefix, the kept later turns (and the
 * head) move in front of the prompt to be evaluated again, the history forgets the dropped
 * exchanges. Returns the new prompt length (*prompt replaced) or -1 (printed). */
static int drop_turns(chat_state *c, int k, int32_t **prompt, int n, int n_head) {
    int64_t keep = c->turn_starts[0], n_seq = (int64_t)c->n_ids + n_head;
    int64_t cut = k < c->n_turns ? c->turn_starts[k] : n_seq;
    int32_t *seq = concat_ids(c->ids, c->n_ids, *prompt, (size_t)n); /* the cache, then the prompt */
    if (!seq) return -1;
    size_t n_new = c->n_ids + (size_t)n - (size_t)cut, n_redo = (size_t)(n_seq - cut);
    memmove(seq, seq + cut, n_new * sizeof *seq);
    if (bitnet_session_truncate(c->s, keep)) {
        free(seq);
        cli_fail("chat", "%s", bitnet_get_last_error());
        return -1;
    }
    fprintf(stderr, "bitnet chat: context shift: dropped %d old turn(s) (%lld tokens); kept the first %lld tokens (%s), "
            "evaluating %zu tokens of later turns again\n",
            k, (long long)(cut - keep), (long long)keep, c->n_keep_msgs ? "BOS and the system prompt" : "BOS", n_redo);
    for (int i = k; i < c->n_turns; i++) c->turn_starts[i - k] = c->turn_starts[i] - (cut - keep);
    c->n_turns -= k;
    c->n_ids = (size_t)keep;
    size_t first = c->n_keep_msgs, n_drop = 2 * (size_t)k; /* each turn: a user message and its reply */
    for (size_t i = first; i < first + n_drop; i++) free((char *)c->msgs[i].content);
    memmove(c->msgs + first, c->msgs + first + n_drop, (c->n_msgs - first - n_drop) * sizeof *c->msgs);
    c->n_msgs -= n_drop;
    c->n_done -= n_drop;
    free(*prompt);
    *prompt = seq;
    return (int)n_new;
}

static void say_context_full(const chat_state *c) {
    fprintf(stderr, "bitnet chat: the context is full (%lld of %lld tokens used); the reply stops here (the next message drops old turns)\n",
            (long long)bitnet_session_n_past(c->s), (long long)bitnet_session_n_ctx(c->s));
}

static void say_no_room(const chat_state *c, int n_message) {
    fprintf(stderr, "bitnet chat: the context is full: this message (%d tokens) does not fit a context of %lld even after dropping "
            "every old turn; it was not sent (/clear drops the system prompt too)\n",
            n_message, (long long)bitnet_session_n_ctx(c->s));
}

static void print_ids(const chat_state *c, const int32_t *prompt, int n_prompt, int n_gen) {
    printf("context_ids: ");
    for (size_t i = 0; i < c->n_ids; i++) printf(i ? ",%d" : "%d", c->ids[i]);
    for (int i = 0; i < n_prompt; i++) printf(c->n_ids || i ? ",%d" : "%d", prompt[i]);
    printf("\ngenerated_ids:");
    for (int i = 0; i < n_gen; i++) printf(" %d", c->gen[i]);
    printf("\n");
    fflush(stdout);
}

static void print_timings(const chat_state *c, const bitnet_generate_result *r) {
    double dec = r->decode_seconds > 0 && r->n_generated > 1 ? (r->n_generated - 1) / r->decode_seconds : 0;
    fprintf(stderr,
            "bitnet chat: %d prompt tokens in %.3f s (%.1f tok/s), %d generated (%.1f tok/s), first token after %.3f s, "
            "stop: %s; context %lld/%lld\n",
            r->n_prompt, r->prefill_seconds, r->prefill_seconds > 0 ? r->n_prompt / r->prefill_seconds : 0.0, r->n_generated,
            dec, r->time_to_first_token_seconds, cli_stop_reason_name(r->stop_reason), (long long)bitnet_session_n_past(c->s),
            (long long)bitnet_session_n_ctx(c->s));
}

/* How many of the first n_fed reply tokens have a text that is a prefix of the reply text;
 * *text_len receives that text's length. */
static int tokens_matching_reply(const chat_state *c, int n_fed, size_t *text_len) {
    char piece[256];
    size_t pos = 0;
    int i = 0;
    for (; i < n_fed; i++) {
        int len = bitnet_model_token_to_piece(c->m, c->gen[i], 0, piece, sizeof piece);
        if (len < 0 || pos + (size_t)len > c->reply_len || memcmp(c->reply + pos, piece, (size_t)len) != 0) break;
        pos += (size_t)len;
    }
    *text_len = pos;
    return i;
}

/* A --stop string ended the reply: keeps the fed reply tokens whose text is a prefix of the
 * reply (the cache is truncated after them) and makes the rest of the reply text pending, so
 * that the cache holds the reply as the history does. Returns the reply tokens kept or -1. */
static int resync_stopped_reply(chat_state *c, int64_t reply_start, int n_fed) {
    size_t done;
    int kept = tokens_matching_reply(c, n_fed, &done);
    if (kept < n_fed && bitnet_session_truncate(c->s, reply_start + kept)) {
        cli_fail("chat", "%s", bitnet_get_last_error());
        return -1;
    }
    if (c->reply) c->reply[c->reply_len] = '\0'; /* on_token keeps room for it */
    int32_t *rest;
    int n = tokenize_text(c, c->reply ? c->reply + done : "", false, false, &rest);
    if (n < 0) return -1;
    free(c->pending);
    c->pending = rest;
    c->n_pending = n;
    return kept;
}

/* The sampled reply tokens not fed yet (less one that closed the reply) become pending. */
static int keep_unfed(chat_state *c, int n_gen, int n_fed, bool closer) {
    int n_left = n_gen - n_fed - (closer && n_gen > n_fed ? 1 : 0);
    int32_t *p = realloc(c->pending, sizeof(int32_t) * (size_t)(n_left > 0 ? n_left : 1));
    if (!p) return -1;
    c->pending = p;
    c->n_pending = n_left > 0 ? n_left : 0;
    if (c->n_pending) memcpy(c->pending, c->gen + n_fed, sizeof(int32_t) * (size_t)c->n_pending);
    return 0;
}

/* After a reply: records what entered the cache and which reply tokens still have to. */
static int settle_reply(chat_state *c, const int32_t *prompt, int n_prompt, int64_t n_past_before,
                        const bitnet_generate_result *r) {
    int n_gen = r->n_generated < c->max_gen ? r->n_generated : c->max_gen;
    int n_fed = (int)(bitnet_session_n_past(c->s) - n_past_before - n_prompt);
    bool closer = r->stop_reason == BITNET_STOP_EOG || r->stop_reason == BITNET_STOP_ID;
    if (n_fed < 0 || n_fed > n_gen) {
        cli_fail("chat", "internal error: the session holds %d generated tokens of %d", n_fed, n_gen);
        return -1;
    }
    if (r->stop_reason == BITNET_STOP_STRING) {
        if ((n_fed = resync_stopped_reply(c, n_past_before + n_prompt, n_fed)) < 0) return -1;
    } else if (keep_unfed(c, n_gen, n_fed, closer)) {
        return cli_fail("chat", "out of memory");
    }
    if (append_ids(c, prompt, (size_t)n_prompt) || append_ids(c, c->gen, (size_t)n_fed)) return cli_fail("chat", "out of memory");
    if (push_message(c, BN_CHAT_ASSISTANT, c->reply ? c->reply : "", c->reply_len)) return cli_fail("chat", "out of memory");
    c->n_done = c->n_msgs;
    return 0;
}

/* This turn's prompt, after dropping old turns when it and room for the reply do not fit.
 * Returns its length (*n_tail: the new turn's own tokens at its end); 0 when the message
 * cannot fit at all (said, and taken out of the history); -1 on a failure (printed). */
static int prepare_turn(chat_state *c, int32_t **prompt, int *n_tail) {
    int n_head, n = turn_prompt(c, prompt, &n_head);
    if (n < 0) return -1;
    *n_tail = n - n_head;
    int k = turns_to_drop(c, n, n_head);
    if (k < 0) {
        say_no_room(c, *n_tail);
        free(*prompt);
        return 0;
    }
    if (k == 0) return n;
    int m = drop_turns(c, k, prompt, n, n_head);
    if (m < 0) free(*prompt);
    return m;
}

/* One user message and its reply. Returns 0 (also when the message could not fit: it is then
 * dropped) or 1 on a runtime failure. */
static int chat_turn(chat_state *c, const char *text, size_t len) {
    if (push_message(c, BN_CHAT_USER, text, len)) return cli_fail("chat", "out of memory");
    int32_t *prompt;
    int n_tail, n = prepare_turn(c, &prompt, &n_tail);
    if (n <= 0) {
        pop_message(c);
        return n < 0;
    }
    int64_t n_past = bitnet_session_n_past(c->s);
    c->reply_len = 0; /* `interrupted` was cleared at the prompt: a Ctrl-C from now on stops this reply */
    c->go->gen.abort_flag = (volatile int *)&interrupted;
    c->go->gen.on_token = on_token;
    c->go->gen.user_data = c;
    bitnet_generate_result r = {.struct_size = sizeof r};
    int rc = bitnet_session_generate(c->s, prompt, n, &c->go->gen, c->gen, c->max_gen, &r);
    c->go->gen.abort_flag = NULL;
    bool was_interrupted = interrupted;
    interrupted = 0;
    if (rc != 0) {
        free(prompt);
        return cli_fail("chat", "%s", bitnet_get_last_error());
    }
    int n_gen = r.n_generated < c->max_gen ? r.n_generated : c->max_gen;
    if (c->print_ids) print_ids(c, prompt, n, n_gen);
    else printf("\n");
    fflush(stdout);
    if (push_turn(c, (int64_t)c->n_ids + n - n_tail)) rc = cli_fail("chat", "out of memory");
    else rc = settle_reply(c, prompt, n, n_past, &r) ? 1 : 0;
    free(prompt);
    if (was_interrupted && r.stop_reason == BITNET_STOP_CALLBACK) fprintf(stderr, "bitnet chat: reply interrupted\n");
    if (r.stop_reason == BITNET_STOP_CONTEXT_FULL) say_context_full(c);
    if (c->verbose) print_timings(c, &r);
    return rc;
}

/* ===================================================================== the loop */

/* Reads one line without its line ending. 1: a line; 0: EOF; -1: interrupted (SIGINT);
 * -2: read error. */
static int read_line(char **buf, size_t *cap, size_t *len) {
    errno = 0;
    ssize_t n = getline(buf, cap, stdin);
    if (n < 0) {
        int why = errno == EINTR || interrupted ? -1 : feof(stdin) ? 0 : -2;
        clearerr(stdin);
        return why;
    }
    while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r')) n--;
    (*buf)[n] = '\0';
    *len = (size_t)n;
    return 1;
}

static int chat_loop(chat_state *c) {
    bool tty = isatty(STDIN_FILENO);
    FILE *prompt_out = tty ? stdout : stderr;
    char *line = NULL;
    size_t cap = 0, len = 0;
    int rc = 0;
    for (;;) {
        interrupted = 0;
        fputs("> ", prompt_out);
        fflush(prompt_out);
        int got = read_line(&line, &cap, &len);
        if (got <= 0) {
            fputc('\n', prompt_out); /* end the prompt's line */
            if (got == -2) rc = cli_fail("chat", "cannot read stdin: %s", strerror(errno));
            break;
        }
        if (len == 0) continue;
        if (!strcmp(line, "/exit")) break;
        if (!strcmp(line, "/clear")) {
            if (chat_clear(c)) {
                rc = cli_fail("chat", "%s", bitnet_get_last_error());
                break;
            }
            fprintf(stderr, "bitnet chat: conversation cleared\n");
            continue;
        }
        if ((rc = chat_turn(c, line, len))) break;
    }
    free(line);
    return rc;
}

static int parse_args(int argc, char **argv, cli_model_opts *mo, cli_gen_opts *go, chat_state *c) {
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return -1;
        }
        if ((r = cli_model_opt(argc, argv, &i, mo, "chat")) || (r = cli_gen_opt(argc, argv, &i, go, "chat"))) {
            if (r == 2) return 2;
            continue;
        }
        const char *v;
        if ((r = cli_opt(argc, argv, &i, "--prompt", "-p", &v))) { /* llama-cli -cnv's system prompt */
            if (r < 0) return 2;
            go->system = v;
        } else if (!strcmp(argv[i], "--print-ids")) {
            c->print_ids = true;
        } else {
            return cli_usage_error("chat", "unknown argument '%s'", argv[i]);
        }
    }
    if (cli_gen_opts_finish(go, "chat")) return 2;
    c->verbose = mo->verbose;
    return 0;
}

int cmd_chat(int argc, char **argv) {
    cli_model_opts mo;
    cli_gen_opts go;
    chat_state c = {.go = &go};
    cli_model_opts_init(&mo);
    cli_gen_opts_init(&go);
    int rc = parse_args(argc, argv, &mo, &go, &c);
    if (!rc) rc = cli_open_model(&mo, "chat", &c.m, &c.s);
    if (rc) {
        cli_gen_opts_free(&go);
        return rc < 0 ? 0 : rc;
    }
    int format;
    if ((rc = cli_chat_format(&go, c.m, "chat", &format))) goto done;
    c.format = (bn_chat_format)format;
    c.n_keep_msgs = go.system ? 1 : 0;
    c.max_gen = go.gen.max_tokens > 0 ? go.gen.max_tokens : (int)bitnet_session_n_ctx(c.s);
    if (!(c.gen = malloc(sizeof(int32_t) * (size_t)c.max_gen)) ||
        (go.system && push_message(&c, BN_CHAT_SYSTEM, go.system, strlen(go.system)))) {
        rc = cli_fail("chat", "out of memory");
        goto done;
    }
    if (install_sigint()) {
        rc = cli_fail("chat", "cannot install the SIGINT handler: %s", strerror(errno));
        goto done;
    }
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "bitnet chat: format %s; /clear starts over, /exit (or Ctrl-D) quits, Ctrl-C stops a reply\n",
                bn_chat_format_name(c.format));
    rc = chat_loop(&c);
done:
    chat_free(&c);
    cli_gen_opts_free(&go);
    bitnet_session_free(c.s);
    bitnet_model_close(c.m);
    return rc;
}
