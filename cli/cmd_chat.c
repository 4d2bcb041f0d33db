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
 * "pending" and fed in front of the next delta. A --stop string's last token is dropped (its
 * text before the stop string stays in the history but not in the cache).
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

#include "chat.h"
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
           "the prompt ends the chat. When the context is full the chat says so: /clear to go on.\n"
           "Output: when stdin is a terminal the '> ' prompt is written to stdout; otherwise (a pipe,\n"
           "a file) it goes to stderr and stdout holds only the replies, each ended by a newline.\n"
           "  --print-ids           instead of each reply's text print two lines on stdout:\n"
           "                        'context_ids: <every id in the session when the reply began,\n"
           "                        comma-separated>' and 'generated_ids: <ids, space-separated>'\n"
           "                        (a fresh `bitnet run --tokens <context_ids>` reproduces them)\n"
           "  --verbose             also print timings of each reply on stderr\n"
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

/* Forgets the conversation except the system message and starts a fresh session. */
static int chat_clear(chat_state *c) {
    while (c->n_msgs > (c->go->system ? 1u : 0u)) pop_message(c);
    c->n_done = 0;
    c->n_ids = 0;
    c->n_pending = 0;
    return bitnet_session_reset(c->s);
}

static void chat_free(chat_state *c) {
    while (c->n_msgs) pop_message(c);
    free(c->msgs);
    free(c->ids);
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

/* The tokens of this turn's prompt: the pending reply tokens, then the delta text tokenized
 * (special tokens parsed; BOS when the session is fresh). Returns the count or -1 (printed). */
static int turn_prompt(chat_state *c, int32_t **out) {
    char *delta = bn_chat_render_delta(c->format, c->msgs, c->n_done, c->n_msgs, true);
    if (!delta) {
        cli_fail("chat", "%s", bitnet_get_last_error());
        return -1;
    }
    bool fresh = c->n_ids == 0 && c->n_pending == 0;
    cli_prompt po = {.text = delta, .no_bos = !fresh, .parse_special = true};
    int32_t *text_ids;
    int n = cli_prompt_ids(&po, c->m, "chat", &text_ids);
    free(delta);
    if (n < 0) return -1;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(c->n_pending + n));
    if (!ids) {
        free(text_ids);
        cli_fail("chat", "out of memory");
        return -1;
    }
    if (c->n_pending) memcpy(ids, c->pending, sizeof(int32_t) * (size_t)c->n_pending);
    memcpy(ids + c->n_pending, text_ids, sizeof(int32_t) * (size_t)n);
    free(text_ids);
    *out = ids;
    return c->n_pending + n;
}

static void say_context_full(const chat_state *c) {
    fprintf(stderr, "bitnet chat: the context is full (%lld of %lld tokens used); type /clear to start a new conversation\n",
            (long long)bitnet_session_n_past(c->s), (long long)bitnet_session_n_ctx(c->s));
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

/* After a reply: records what entered the cache and which sampled tokens still have to. */
static int settle_reply(chat_state *c, const int32_t *prompt, int n_prompt, int64_t n_past_before,
                        const bitnet_generate_result *r) {
    int n_gen = r->n_generated < c->max_gen ? r->n_generated : c->max_gen;
    int n_fed = (int)(bitnet_session_n_past(c->s) - n_past_before - n_prompt);
    bool closer = r->stop_reason == BITNET_STOP_EOG || r->stop_reason == BITNET_STOP_ID || r->stop_reason == BITNET_STOP_STRING;
    int n_left = n_gen - n_fed - (closer && n_gen > n_fed ? 1 : 0);
    if (n_fed < 0 || n_fed > n_gen) {
        cli_fail("chat", "internal error: the session holds %d generated tokens of %d", n_fed, n_gen);
        return -1;
    }
    if (append_ids(c, prompt, (size_t)n_prompt) || append_ids(c, c->gen, (size_t)n_fed)) return cli_fail("chat", "out of memory");
    int32_t *p = realloc(c->pending, sizeof(int32_t) * (size_t)(n_left > 0 ? n_left : 1));
    if (!p) return cli_fail("chat", "out of memory");
    c->pending = p;
    c->n_pending = n_left > 0 ? n_left : 0;
    if (c->n_pending) memcpy(c->pending, c->gen + n_fed, sizeof(int32_t) * (size_t)c->n_pending);
    if (push_message(c, BN_CHAT_ASSISTANT, c->reply ? c->reply : "", c->reply_len)) return cli_fail("chat", "out of memory");
    c->n_done = c->n_msgs;
    return 0;
}

/* One user message and its reply. Returns 0 (also when the context was full: the message is
 * then dropped) or 1 on a runtime failure. */
static int chat_turn(chat_state *c, const char *text, size_t len) {
    if (push_message(c, BN_CHAT_USER, text, len)) return cli_fail("chat", "out of memory");
    int32_t *prompt;
    int n = turn_prompt(c, &prompt);
    if (n < 0) {
        pop_message(c);
        return 1;
    }
    int64_t n_past = bitnet_session_n_past(c->s);
    if (n_past + n >= bitnet_session_n_ctx(c->s)) {
        say_context_full(c);
        pop_message(c);
        free(prompt);
        return 0;
    }
    c->reply_len = 0; /* `interrupted` was cleared at the prompt: a Ctrl-C from now on stops this reply */
    c->go->gen.abort_flag = (volatile int *)&interrupted;
    c->go->gen.on_token = on_token;
    c->go->gen.user_data = c;
    bitnet_generate_result r = {.struct_size = sizeof r};
    int rc = bitnet_session_generate(c->s, prompt, n, &c->go->gen, c->gen, c->max_gen, &r);
    c->go->gen.abort_flag = NULL;
    bool was_interrupted = interrupted;
    interrupted = 0;
    if (rc == BITNET_ERR_CONTEXT_EXCEEDED) { /* nothing changed */
        say_context_full(c);
        pop_message(c);
        free(prompt);
        return 0;
    }
    if (rc != 0) {
        free(prompt);
        return cli_fail("chat", "%s", bitnet_get_last_error());
    }
    int n_gen = r.n_generated < c->max_gen ? r.n_generated : c->max_gen;
    if (c->print_ids) print_ids(c, prompt, n, n_gen);
    else printf("\n");
    fflush(stdout);
    rc = settle_reply(c, prompt, n, n_past, &r) ? 1 : 0;
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
        if (!strcmp(argv[i], "--print-ids")) c->print_ids = true;
        else return cli_usage_error("chat", "unknown argument '%s'", argv[i]);
    }
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
    if (rc) return rc < 0 ? 0 : rc;
    if ((rc = cli_open_model(&mo, "chat", &c.m, &c.s))) return rc;
    int format;
    if ((rc = cli_chat_format(&go, c.m, "chat", &format))) goto done;
    c.format = (bn_chat_format)format;
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
    bitnet_session_free(c.s);
    bitnet_model_close(c.m);
    return rc;
}
