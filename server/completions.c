/* completions: POST /v1/chat/completions, /v1/completions, /v1/responses and /v1/messages
 * (responses.c and anthropic.c turn their bodies into chats) and llama-server's /completion.
 *
 * The request becomes prompt ids (request.c: a chat is rendered in the model's chat format, the
 * one `bitnet chat` uses, and tokenized with BOS and special tokens; a completion prompt is
 * text, tokenized the same way, or token ids), then a job for the engine (one per prompt and
 * choice with several prompts or "n": request_jobs, at most --parallel of them queued at a
 * time, read as they come: read_round). A plain request waits on
 * its connection's thread and gets one JSON reply; a streamed one gets Server-Sent Events from
 * a libmicrohttpd content reader that waits for its jobs' output. Both poll the client's
 * socket while they wait: a client that closed it has its job cancelled (the slot is free
 * again after the next step).
 *
 * Limits: --max-prompt-tokens (400 with how many tokens too many), --max-tokens-cap (a larger
 * or missing max_tokens is lowered to it: the reply ends with finish_reason "length"), and
 * --timeout-request (the waiting thread stops the job: the reply so far with finish_reason
 * "length", or 503 when it never got a slot).
 *
 * Embeddings (/v1/embeddings, /embedding, /embeddings): each input is a job of its own
 * (embeddings.c parses and replies), prefilled in a slot beside the generations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "embeddings.h"
#include "native.h"
#include "openai.h"
#include "request.h"
#include "responses.h"
#include "server.h"

#define WAIT_SLICE_MS 50 /* how often a waiting handler looks at its client's socket */

/* ===================================================================== the job */

static uint64_t next_serial(server *srv) { return atomic_fetch_add(&srv->serial, 1); }

/* A seed for requests that give none: different for every request; 32 bits, as llama-server's,
 * so that the seed a reply reports (/completion's generation_settings) survives a JavaScript
 * client's numbers and can be sent back. */
static uint64_t fresh_seed(server *srv, uint64_t serial) {
    uint64_t x = (uint64_t)srv->started * 0x9E3779B97F4A7C15ull + serial * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    return (x * 0x94D049BB133111EBull) >> 32;
}

request_model server_request_model(const server *srv) {
    return (request_model){.model = srv->model, .chat_format = srv->chat_format, .n_vocab = srv->n_vocab,
                           .slot_ctx = engine_slot_ctx(srv->engine), .max_prompt_tokens = srv->opt.max_prompt_tokens,
                           .max_tokens_cap = srv->opt.max_tokens_cap, .prefill_assistant = !srv->opt.no_prefill_assistant,
                           .defaults = srv->opt.request_defaults};
}

/* Why the engine refused a job (into buf). */
static const char *refusal(const server *srv, engine_enqueue_status st, char *buf, size_t cap) {
    if (st == ENGINE_QUEUE_FULL)
        snprintf(buf, cap, "the server is busy: %d requests already wait for a slot (--queue; one that asks for a busy slot with id_slot waits too)",
                 srv->opt.max_queue);
    else snprintf(buf, cap, "the server is shutting down");
    return buf;
}

/* The jobs of one request (a generation's, or an embedding request's inputs, one job each).
 * Several prompts and "n" (llama-server's n_cmpl):
 * completion i is prompt i / n_choices's choice i % n_choices, sampled with the seed + the
 * choice (llama-server's order and seeds; OpenAI's choice index). All are made at once (the
 * request's time limit runs from then), but at most `window` (--parallel) of them are queued
 * and not yet read to their end: the next one queues when any one has been (read as they come:
 * read_round), so that a long list neither fills the queue nor buffers outputs nobody reads yet. */
typedef struct request_jobs {
    job **jobs;                /* [n], owned */
    int n, n_choices;          /* n_choices: completions drawn per prompt (OpenAI's best_of, else "n") */
    int n_kept;                /* of those, the best ones replied (best_of: "n"; else n_choices) */
    bool logprobs_asked;       /* best_of: the request asked for logprobs (else they are dropped after the ranking) */
    int window;
    int n_queued;              /* jobs[0, n_queued) were handed to the engine */
    int n_read;                /* of those, the ones read to their end (in any order) */
    bool refused;              /* the engine refused jobs[n_queued - 1] (it ended failed, 503); no more are queued */
    char why[160];             /* the refusal's message */
} request_jobs;

/* The stop strings of a job, copied (for another job of the same request). NULL when out of memory. */
static char **copy_stops(const job *j, int *n) {
    for (*n = 0; job_stop_string(j, *n);) ++*n;
    char **s = calloc((size_t)*n + 1, sizeof *s);
    for (int k = 0; s && k < *n; k++)
        if (!(s[k] = strdup(job_stop_string(j, k)))) {
            while (k--) free(s[k]);
            free(s);
            s = NULL;
        }
    return s;
}

/* The alternatives each token's log-probability comes with: the request's; with best_of, at
 * least the chosen token's (the ranking reads them). */
static int top_logprobs(const request_jobs *rj, const api_request *rq) {
    return rj->n_kept < rj->n_choices && rq->n_top_logprobs < 0 ? 0 : rq->n_top_logprobs;
}

/* Makes rq's jobs into rj (n_choices of each prompt; none queued). false when out of memory. */
static bool make_jobs(const server *srv, gen_request *rq, request_jobs *rj) {
    rj->n = rq->n_prompts * rj->n_choices;
    if (!(rj->jobs = calloc((size_t)rj->n, sizeof *rj->jobs))) return false;
    int n_stops;
    char **stops = api_request_take_stops(&rq->api, &n_stops);
    for (int i = 0; i < rj->n; i++) {
        int prompt = i / rj->n_choices;
        bitnet_generate_params gen = rq->api.gen;
        gen.sampling.seed += (uint64_t)(i % rj->n_choices);
        gen.n_cache_reuse = rq->api.n_cache_reuse >= 0 ? (int)rq->api.n_cache_reuse : srv->opt.cache_reuse;
        char **mine = i ? copy_stops(rj->jobs[0], &n_stops) : stops; /* NULL: none for job 0, out of memory after */
        job *j = mine || !i ? job_create(rq->ids[prompt], rq->n_ids[prompt], &gen, mine, n_stops, top_logprobs(rj, &rq->api),
                                         rq->api.post_sampling_probs)
                            : NULL;
        if (!j) return false;
        job_set_time_limit(j, srv->opt.timeout_request);
        job_set_predict_limit(j, (double)rq->api.t_max_predict_ms / 1e3);
        job_set_min_indent(j, (int)rq->api.n_indent);
        job_want_slot(j, (int)rq->api.id_slot);
        if (rq->api.echo && rq->api.n_top_logprobs >= 0 && i % rj->n_choices == 0) job_score_prompt(j); /* echo with logprobs: the prompt's other choices reuse them */
        if (rq->api.stream && rq->api.return_progress) job_report_progress(j);
        if (rq->api.stream && rq->api.timings_per_token) job_report_timings(j);
        rj->jobs[i] = j;
    }
    return true;
}

/* Queues jobs while fewer than `window` of the queued ones are still to be read to their end.
 * A job the engine refuses ends failed with the reason (503). */
static void queue_jobs(server *srv, request_jobs *rj) {
    while (!rj->refused && rj->n_queued < rj->n && rj->n_queued < rj->n_read + rj->window) {
        job *j = rj->jobs[rj->n_queued++];
        engine_enqueue_status st = engine_enqueue(srv->engine, j);
        if (st == ENGINE_QUEUED) continue;
        rj->refused = true;
        job_fail(j, BITNET_ERR_CANCELLED, refusal(srv, st, rj->why, sizeof rj->why));
    }
}

/* Cancels what is left of the jobs and drops them. */
static void free_jobs(request_jobs *rj) {
    for (int i = 0; rj->jobs && i < rj->n; i++) {
        if (rj->jobs[i]) job_cancel(rj->jobs[i]); /* no effect once it has ended */
        job_release(rj->jobs[i]);
    }
    free(rj->jobs);
    rj->jobs = NULL;
}

/* Builds the request and its jobs (choices: OpenAI's "n" applies) and queues the first ones.
 * true, or false after replying (*rq and *rj then hold what the caller frees). */
static bool start_jobs(server *srv, struct MHD_Connection *c, api_kind kind, const char *body, size_t len, uint64_t serial,
                       bool choices, gen_request *rq, request_jobs *rj, enum MHD_Result *ret) {
    api_error err;
    request_model m = server_request_model(srv);
    if (request_build(&m, kind, body, len, fresh_seed(srv, serial), rq, &err)) {
        *ret = http_send_error(c, (unsigned)err.status, "%s", err.message);
        return false;
    }
    int n = choices ? rq->api.n_choices : 1, drawn = choices && rq->api.best_of > n ? rq->api.best_of : n;
    *rj = (request_jobs){.n_choices = drawn, .n_kept = n, .logprobs_asked = rq->api.n_top_logprobs >= 0,
                         .window = engine_n_slots(srv->engine)};
    if (drawn > rj->window) {
        *ret = http_send_error(c, MHD_HTTP_BAD_REQUEST, "'%s' = %d is more than the server's %d slots (--parallel)",
                               drawn > n ? "best_of" : "n", drawn, rj->window);
        return false;
    }
    if (rq->api.id_slot >= rj->window) {
        *ret = http_send_error(c, MHD_HTTP_BAD_REQUEST, "'id_slot' = %lld: the server's slots are 0 to %d (--parallel)", rq->api.id_slot,
                               rj->window - 1);
        return false;
    }
    if (!make_jobs(srv, rq, rj)) {
        *ret = http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return false;
    }
    queue_jobs(srv, rj);
    if (rj->refused) *ret = http_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", rj->why); /* the first ones: a 503 as a whole */
    return !rj->refused;
}

/* The HTTP status of a job that failed. */
static unsigned failure_status(int status) {
    return status == BITNET_ERR_CANCELLED ? MHD_HTTP_SERVICE_UNAVAILABLE
           : status == BITNET_ERR_CONTEXT_EXCEEDED || status == BITNET_ERR_INVALID_ARGUMENT ? MHD_HTTP_BAD_REQUEST
                                                                                              : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* The log fields of a job that has ended. */
static void note_job(http_stats *st, const job *j) {
    if (!st) return;
    bitnet_generate_result res;
    int status = job_status(j, &res, NULL);
    double ttft = job_ttft(j);
    st->generation = true;
    st->n_prompt = res.n_prompt;
    st->n_cached = status ? 0 : res.n_cached;
    st->n_generated = status ? 0 : res.n_generated;
    st->ttft_ms = ttft < 0 ? -1 : ttft * 1e3;
    st->finish = status ? NULL : api_finish_reason(res.stop_reason);
}

/* Makes every job of rj wake w (job_set_waker), or, with NULL, none: once that returns the engine
 * no longer touches the waker, which may then be destroyed. */
static void wake_on_jobs(request_jobs *rj, job_waker *w) {
    for (int i = 0; i < rj->n; i++) job_set_waker(rj->jobs[i], w);
}

/* One round over the queued jobs of rj that wants(ctx, i) accepts, in index order: each one's
 * output so far, when it has some, handed to take(ctx, i, &output); when none had any, a wait
 * of up to WAIT_SLICE_MS for the waker (set on the jobs). Returns how many outputs were handed
 * over, or -1 when the client went away (the queued jobs are then cancelled). The socket is
 * looked at before every round, and the jobs' time limits on the way. */
static int read_round(request_jobs *rj, job_waker *w, int fd, bool (*wants)(void *, int), void (*take)(void *, int, job_output *),
                      void *ctx) {
    unsigned long seen = job_waker_news(w);
    if (http_client_gone(fd)) {
        for (int i = 0; i < rj->n_queued; i++) job_cancel(rj->jobs[i]);
        return -1;
    }
    int n = 0;
    for (int i = 0; i < rj->n_queued; i++) {
        job_output o;
        if (!wants(ctx, i)) continue;
        job_check_time_limit(rj->jobs[i]);
        if (!job_take(rj->jobs[i], &o, 0)) continue;
        take(ctx, i, &o);
        job_output_free(&o);
        n++;
    }
    if (!n) job_waker_wait(w, seen, WAIT_SLICE_MS);
    return n;
}

/* ===================================================================== a plain reply */

typedef struct collected {
    char *text;
    size_t len;
    job_logprob *lp;
    size_t n_lp;
    int32_t *tokens;           /* the generated ids (llama-server's return_tokens) */
    size_t n_tokens;
    job_logprob *prompt_lp;    /* echo with logprobs: the prompt's, which its first choice brings */
    size_t n_prompt_lp;
    bool ended;
} collected;

static bool collect(collected *all, job_output *o) {
    if (o->prompt_logprobs) {
        free(all->prompt_lp);
        all->prompt_lp = o->prompt_logprobs, all->n_prompt_lp = o->n_prompt_logprobs;
        o->prompt_logprobs = NULL;
    }
    char *text = realloc(all->text, all->len + o->text_len + 1);
    job_logprob *lp = realloc(all->lp, sizeof *lp * (all->n_lp + o->n_logprobs + 1));
    int32_t *tokens = realloc(all->tokens, sizeof *tokens * (all->n_tokens + o->n_pieces + 1));
    if (text) all->text = text;
    if (lp) all->lp = lp;
    if (tokens) all->tokens = tokens;
    if (!text || !lp || !tokens) return false;
    if (o->text_len) memcpy(all->text + all->len, o->text, o->text_len);
    if (o->n_logprobs) memcpy(all->lp + all->n_lp, o->logprobs, sizeof *lp * o->n_logprobs);
    for (size_t i = 0; i < o->n_pieces; i++)
        if (o->pieces[i].token >= 0) all->tokens[all->n_tokens++] = o->pieces[i].token;
    all->len += o->text_len;
    all->n_lp += o->n_logprobs;
    return true;
}

/* The outputs of a plain request's jobs, read as they come (read_round): the window of queued
 * jobs moves on as soon as any one ends, not only the earliest. */
typedef struct plain_read {
    server *srv;
    request_jobs *rj;
    collected *all;            /* [rj->n] */
    int failed;                /* the first job seen to fail, or -1 */
    bool oom;
} plain_read;

static bool plain_wants(void *ctx, int i) {
    plain_read *r = ctx;
    return r->failed < 0 && !r->all[i].ended;
}

static void plain_take(void *ctx, int i, job_output *o) {
    plain_read *r = ctx;
    if (!collect(&r->all[i], o)) r->oom = true;
    if (!o->done) return;
    r->all[i].ended = true;
    r->rj->n_read++;
    if (job_status(r->rj->jobs[i], NULL, NULL)) r->failed = i;
    else queue_jobs(r->srv, r->rj);
}

/* Waits until every job of r->rj has ended, or one failed (r->failed), reading their outputs as
 * they come into r->all. false when the client went away (the queued jobs are cancelled). */
static bool read_all(struct MHD_Connection *c, plain_read *r) {
    job_waker waker;
    job_waker_init(&waker);
    wake_on_jobs(r->rj, &waker);
    bool gone = false;
    while (!gone && r->rj->n_read < r->rj->n && r->failed < 0) gone = read_round(r->rj, &waker, http_connection_fd(c), plain_wants, plain_take, r) < 0;
    wake_on_jobs(r->rj, NULL);
    job_waker_destroy(&waker);
    return !gone;
}

static void collected_free(collected *all, int n) {
    for (int i = 0; all && i < n; i++) free(all[i].text), free(all[i].lp), free(all[i].tokens), free(all[i].prompt_lp);
    free(all);
}

/* How a request's replies are written besides OpenAI's chat and completions shapes: llama-server's
 * /completion ones, the Responses API's or Anthropic's Messages API's (at most one not NULL). */
typedef struct reply_style {
    native_reply *native;
    responses_reply *responses;
    anthropic_reply *anthropic;
} reply_style;

static void style_free(const reply_style *style) {
    if (style->native) native_reply_free(style->native);
    if (style->responses) responses_reply_free(style->responses);
    if (style->anthropic) anthropic_reply_free(style->anthropic);
}

/* The stop string that ended a job, or NULL. */
static const char *stop_word(const job *j, const bitnet_generate_result *res) {
    return res->stop_reason == BITNET_STOP_STRING ? job_stop_string(j, res->stop_string_index) : NULL;
}

/* The reply of a finished job in its style. */
static json_t *whole_reply(api_reply *reply, const reply_style *style, const job *j, const collected *all,
                           const bitnet_generate_result *res) {
    if (style->native)
        return native_response(style->native, &(native_cursor){.index = reply->choice}, j, all->text, all->len, all->tokens,
                               all->n_tokens, all->lp, all->n_lp, res);
    if (style->responses) return responses_object(style->responses, all->text, all->len, res);
    if (style->anthropic) return anthropic_message(style->anthropic, all->text, all->len, res, stop_word(j, res));
    return api_response(reply, all->text, all->len, all->lp, all->n_lp, res);
}

/* best_of: the best of each prompt's choices (with echo, their logprobs begin with the prompt's). */
static void keep_best(json_t *whole, const request_jobs *rj, const api_reply *reply) {
    int n_prompts = rj->n / rj->n_choices, *prompt_tokens = reply->echo && rj->logprobs_asked ? calloc((size_t)n_prompts, sizeof(int)) : NULL;
    for (int p = 0; prompt_tokens && p < n_prompts; p++) prompt_tokens[p] = job_n_prompt(rj->jobs[p * rj->n_choices]);
    api_response_keep_best(whole, rj->n_choices, rj->n_kept, rj->logprobs_asked, prompt_tokens);
    free(prompt_tokens);
}

/* The replies of the request's ended jobs, in order: one, or every choice in one reply (OpenAI's),
 * or an array of the replies (llama-server's /completion, as there). NULL when out of memory. */
static json_t *whole_replies(const request_jobs *rj, collected *all, api_reply *reply, const reply_style *style) {
    json_t *whole = NULL;
    for (int i = 0; i < rj->n; i++) {
        bitnet_generate_result res;
        job_status(rj->jobs[i], &res, NULL);
        api_reply_begin_choice(reply, i);
        if (all[i].prompt_lp) api_reply_set_prompt_lp(reply, all[i].prompt_lp, all[i].n_prompt_lp); /* the prompt's other choices reuse them */
        all[i].prompt_lp = NULL;
        json_t *more = whole_reply(reply, style, rj->jobs[i], &all[i], &res);
        if (!more) {
            json_decref(whole);
            return NULL;
        }
        if (i == 0) whole = rj->n > 1 && style->native ? json_pack("[o]", more) : more;
        else if (style->native) json_array_append_new(whole, more);
        else api_response_add_choice(whole, more, i, i % rj->n_choices == 0);
        if (!whole) return NULL;
    }
    if (rj->n_kept < rj->n_choices) keep_best(whole, rj, reply);
    return whole;
}

/* Waits for the request's jobs (read as they come) and replies with their replies, or with the
 * first failure seen; MHD_NO without a reply when the client went away. */
static enum MHD_Result reply_whole(server *srv, struct MHD_Connection *c, request_jobs *rj, api_reply *reply, const reply_style *style) {
    plain_read r = {.srv = srv, .rj = rj, .all = calloc((size_t)rj->n, sizeof(collected)), .failed = -1};
    if (!r.all) return http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    enum MHD_Result ret = MHD_NO; /* the client went away: the caller cancels the jobs */
    if (read_all(c, &r)) {
        const char *message;
        int first = r.failed >= 0 ? r.failed : 0, status = job_status(rj->jobs[first], NULL, &message);
        note_job(http_request_stats(c), rj->jobs[first]);
        json_t *whole = status || r.oom ? NULL : whole_replies(rj, r.all, reply, style);
        if (whole) ret = http_send_json(c, MHD_HTTP_OK, whole);
        else if (status) ret = http_send_error(c, failure_status(status), "%s", message);
        else ret = http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    collected_free(r.all, rj->n);
    return ret;
}

/* ===================================================================== a stream */

/* One completion of a stream. Several prompts and "n" make several, streamed side by side: a
 * chunk (each with its choice's index) as soon as its tokens come, whichever choice they are
 * of, as OpenAI and llama-server stream them. */
typedef struct choice_stream {
    job *job;                  /* rj.jobs[index] */
    int index;
    bool started;              /* its first chunk was sent (chat's role, completions' echo) */
    bool called;               /* the reply was function calls (finish_reason "tool_calls") */
    bool ended;                /* read to its end */
    size_t text_offset;        /* reply.text_offset while it is not the choice replied */
    tool_reader tools;         /* reply.tools on: the reply read as the tool call object */
    tool_call_cursor calls_sent; /* chat with tools: what of the calls was sent */
    native_cursor native;      /* llama-server's /completion: where this completion is */
} choice_stream;

/* Echo with logprobs: a prompt's tokens' log-probabilities, which its first choice brings with
 * its first output (job_score_prompt) and its other choices list too. */
typedef struct prompt_scores {
    job_logprob *lp;           /* owned */
    size_t n;
    bool ready;                /* the first choice's first output was read: its other choices may begin */
} prompt_scores;

typedef struct stream {
    server *srv;
    request_jobs rj;           /* the jobs, one per choice (owned) */
    choice_stream *choices;    /* [rj.n] */
    choice_stream *cur;        /* the choice whose output is turned into events now */
    prompt_scores *scores;     /* [rj.n / rj.n_choices] */
    job_waker waker;           /* woken by the output of any of the jobs */
    api_reply reply;           /* reply.choice, text_offset and prompt_lp: cur's while it is read */
    bool include_usage, ended;
    int fd;
    http_stats *stats;         /* the log fields of the connection's request */
    native_reply *native;      /* llama-server's /completion: its events instead of OpenAI's (owned) */
    responses_reply *responses; /* the Responses API: its events instead (owned) */
    anthropic_reply *anthropic; /* Anthropic's Messages API: its events instead (owned) */
    const job_timing *timing;  /* timings_per_token: the timings of the piece whose events are being made */
    char *buf;                 /* SSE bytes not yet handed to libmicrohttpd: [pos, len) */
    size_t len, pos, cap;
    double ping_seconds;       /* silence before an SSE comment is sent (sse_ping_interval; <= 0: never) */
    double last_out;           /* when bytes last went out (metrics_now) */
} stream;

static void stream_append(stream *s, const char *data, size_t n) {
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2;
        char *bigger = realloc(s->buf, cap);
        if (!bigger) return; /* the event is lost; the stream goes on */
        s->buf = bigger;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

/* The Responses and Messages APIs' events: "event: <type>\ndata: <json>\n\n" for each [type, event] of
 * the array (taken over). */
static void stream_typed_events(stream *s, json_t *events) {
    size_t i;
    json_t *pair;
    json_array_foreach(events, i, pair) {
        const char *type = json_string_value(json_array_get(pair, 0));
        char *text = json_dumps(json_array_get(pair, 1), JSON_COMPACT);
        if (type && text) {
            stream_append(s, "event: ", 7);
            stream_append(s, type, strlen(type));
            stream_append(s, "\ndata: ", 7);
            stream_append(s, text, strlen(text));
            stream_append(s, "\n\n", 2);
        }
        free(text);
    }
    json_decref(events);
}

/* "data: <json>\n\n" (takes over v). */
static void stream_event(stream *s, json_t *v) {
    const job_timing *t = s->timing;
    if (t && json_is_object(v)) /* llama-server's timings_per_token, in each event of the token's */
        json_object_set_new(v, "timings", native_timings(t->cache_n, t->prompt_n, t->prompt_ms, t->predicted_n, t->predicted_ms));
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!text) return;
    stream_append(s, "data: ", 6);
    stream_append(s, text, strlen(text));
    stream_append(s, "\n\n", 2);
    free(text);
}

/* Completions' max_tokens 0: the step that ran generated nothing the client asked for. */
static void prompt_only_result(const stream *s, bitnet_generate_result *res) {
    if (!s->reply.prompt_only) return;
    res->n_generated = 0;
    res->stop_reason = BITNET_STOP_MAX_TOKENS;
}

/* The usage of all the choices: their completion tokens, and the prompt tokens of each prompt
 * once, its first choice's (as the plain reply counts them: api_response_add_choice). */
static bitnet_generate_result usage_of_all(const stream *s) {
    bitnet_generate_result sum;
    job_status(s->rj.jobs[0], &sum, NULL);
    sum.n_generated = sum.n_prompt = sum.n_cached = sum.n_prediction_drafted = sum.n_prediction_accepted = 0;
    for (int i = 0; i < s->rj.n; i++) {
        bitnet_generate_result res;
        job_status(s->rj.jobs[i], &res, NULL);
        prompt_only_result(s, &res);
        sum.n_generated += res.n_generated;
        sum.n_prediction_drafted += res.n_prediction_drafted;
        sum.n_prediction_accepted += res.n_prediction_accepted;
        if (i % s->rj.n_choices) continue;
        sum.n_prompt += res.n_prompt;
        sum.n_cached += res.n_cached;
    }
    return sum;
}

/* The Responses API's or Anthropic's last events (the choice is their only one): the items'
 * or blocks' ends and response.completed / message_stop, or the failure's. */
static void typed_close(stream *s, int status, const char *message, const bitnet_generate_result *res) {
    json_t *events = json_array();
    if (s->anthropic)
        anthropic_stream_close(s->anthropic, status ? (int)failure_status(status) : 0, message, res,
                               status ? NULL : stop_word(s->cur->job, res), events);
    else responses_stream_close(s->responses, status, message, res, events);
    stream_typed_events(s, events);
}

/* The current choice's job has ended: its last events (OpenAI's finish chunk, /completion's whole
 * reply with stop true); after the last choice, the usage chunk and [DONE] (OpenAI's); the next
 * jobs of a long list queued. A job that failed ends the stream with an error event (the other
 * choices are cancelled with it). */
static void choice_end(stream *s) {
    choice_stream *c = s->cur;
    bitnet_generate_result res;
    const char *message;
    int status = job_status(c->job, &res, &message);
    note_job(s->stats, c->job);
    c->ended = true;
    s->rj.n_read++;
    if (s->anthropic || s->responses) {
        typed_close(s, status, message, &res);
        s->ended = true;
        return;
    }
    if (status) {
        stream_event(s, api_error_json((int)failure_status(status), message));
        if (!s->native) stream_append(s, "data: [DONE]\n\n", 14);
        s->ended = true;
        return;
    }
    prompt_only_result(s, &res);
    if (s->native) stream_event(s, native_response(s->native, &c->native, c->job, "", 0, NULL, 0, NULL, 0, &res));
    else stream_event(s, api_chunk(&s->reply, "", 0, NULL, 0, !c->started, c->called ? "tool_calls" : api_finish_reason(res.stop_reason)));
    if (s->rj.n_read < s->rj.n) {
        queue_jobs(s->srv, &s->rj);
        return;
    }
    if (!s->native) {
        bitnet_generate_result all = usage_of_all(s);
        if (s->include_usage) stream_event(s, api_usage_chunk(&s->reply, &all));
        stream_append(s, "data: [DONE]\n\n", 14);
    }
    s->ended = true;
}

/* Chat with tools: the calls' deltas that the text read so far made known, in order (a call's
 * id, type and name once its name is whole, then its arguments' text as it grows; the next
 * call once its arguments are whole), as OpenAI streams them. */
static void stream_call_deltas(stream *s) {
    choice_stream *c = s->cur;
    size_t index, len;
    const char *name, *text;
    for (tool_call_step step; (step = tool_call_next(&c->tools, &c->calls_sent, &index, &name, &text, &len));) {
        if (step == CALL_END) continue;
        stream_event(s, api_tool_call_delta_chunk(&s->reply, index, step == CALL_BEGIN ? name : NULL, text, len, !c->started));
        c->started = true;
    }
}

/* One piece's event: its text (with tools, the answer's text that became whole, or the calls'
 * deltas) and its log-probabilities; nothing when both are empty. */
static void stream_piece(stream *s, const char *text, size_t len, const job_logprob *lp, size_t n_lp) {
    choice_stream *c = s->cur;
    char *answer = NULL;
    size_t answer_len = 0;
    if (s->reply.tools != TOOLS_OFF) {
        if (!tool_reader_feed(&c->tools, text, len, &answer, &answer_len)) answer_len = 0; /* out of memory: text lost */
        text = answer, len = answer_len;
        stream_call_deltas(s);
    }
    if (len || n_lp) {
        stream_event(s, api_chunk(&s->reply, len ? text : "", len, lp, n_lp, !c->started, NULL));
        c->started = true;
    }
    free(answer);
}

/* The Responses API's or Anthropic's events of one piece. */
static void typed_piece(stream *s, const char *text, size_t len) {
    json_t *events = json_array();
    if (s->responses) responses_stream_text(s->responses, text, len, events);
    else anthropic_stream_text(s->anthropic, text, len, events);
    stream_typed_events(s, events);
}

/* With tools, at the end: the calls were streamed as they came (stream_call_deltas); a reply
 * that was neither calls nor the answer form and streamed no call (cut short before a call's
 * name was whole) is sent as text. A reply cut short inside a streamed call keeps what was
 * sent (the calls' arguments incomplete) and ends with the stop's finish_reason, as OpenAI's. */
static void stream_tool_calls(stream *s) {
    choice_stream *c = s->cur;
    const char *raw;
    size_t raw_len;
    stream_call_deltas(s);
    json_t *calls = tool_reader_finish(&c->tools, s->reply.id, &raw, &raw_len);
    bool streamed = tool_call_sent(&c->calls_sent);
    if (calls && !streamed) stream_event(s, api_tool_calls_chunk(&s->reply, calls, !c->started));
    else if (!calls && !streamed && raw_len) stream_event(s, api_chunk(&s->reply, raw, raw_len, NULL, 0, !c->started, NULL));
    c->started |= calls || raw_len;
    c->called = calls != NULL;
    json_decref(calls);
}

/* llama-server's return_progress: the prompt's progress as an event of its own (/completion's
 * without content, OpenAI's chunk without text), the prompt_progress object beside its fields;
 * the Responses and Messages APIs have no such event. */
static void stream_progress(stream *s, const job_progress *p) {
    json_t *v = s->native                      ? native_empty_piece(s->native, &s->cur->native, s->cur->job)
                : s->responses || s->anthropic ? NULL
                                               : api_progress_chunk(&s->reply);
    if (!v) return;
    json_object_set_new(v, "prompt_progress", json_pack("{s:i, s:i, s:i, s:f}", "total", p->total, "cache", p->cache, "processed",
                                                        p->processed, "time_ms", p->time_ms));
    stream_event(s, v);
}

/* Whether choice c may be read now: a prompt's other choices wait until its first brought the
 * prompt's log-probabilities (echo with logprobs), which their first chunks list too. */
static bool may_read(const stream *s, const choice_stream *c) {
    bool scored = s->reply.echo && s->rj.logprobs_asked;
    return !c->ended && (!scored || c->index % s->rj.n_choices == 0 || s->scores[c->index / s->rj.n_choices].ready);
}

/* Makes c the choice replied (the reply's per-choice fields its) and keeps what its output
 * brings of its prompt's log-probabilities. */
static void enter_choice(stream *s, choice_stream *c, job_output *o) {
    prompt_scores *p = &s->scores[c->index / s->rj.n_choices];
    if (o->prompt_logprobs) {
        free(p->lp);
        p->lp = o->prompt_logprobs, p->n = o->n_prompt_logprobs;
        o->prompt_logprobs = NULL;
    }
    if (c->index % s->rj.n_choices == 0 && (o->n_pieces || o->done)) p->ready = true;
    s->cur = c;
    s->reply.choice = c->index;
    s->reply.text_offset = c->text_offset;
    s->reply.prompt_lp = p->lp, s->reply.n_prompt_lp = p->n; /* lent: taken back in leave_choice */
}

static void leave_choice(stream *s) {
    s->cur->text_offset = s->reply.text_offset;
    s->reply.prompt_lp = NULL, s->reply.n_prompt_lp = 0;
}

/* Turns one output of choice c into events, one per piece (a token's text and its
 * log-probabilities), so that a client sees the same chunks however fast it reads (the output
 * taken at once may hold many tokens when generation outruns the connection). */
static void choice_events(stream *s, choice_stream *c, job_output *o) {
    enter_choice(s, c, o);
    if (o->has_progress) stream_progress(s, &o->progress);
    size_t at = 0, lp = 0; /* the pieces cut the text and the log-probabilities in order (job_push_text) */
    for (size_t i = 0; i < o->n_pieces; i++) {
        size_t len = o->pieces[i].text_len, n_lp = o->pieces[i].logprob ? 1 : 0;
        const char *text = o->text ? o->text + at : ""; /* no text at all when every token's was held back */
        s->timing = o->pieces[i].timed && !s->responses && !s->anthropic ? &o->pieces[i].timing : NULL;
        if (s->native) stream_event(s, native_piece(s->native, &c->native, c->job, text, len, o->pieces[i].token, n_lp ? o->logprobs + lp : NULL));
        else if (s->reply.prompt_only) (void)0; /* completions' max_tokens 0: nothing to send */
        else if (s->responses || s->anthropic) typed_piece(s, text, len);
        else stream_piece(s, text, len, n_lp ? o->logprobs + lp : NULL, n_lp);
        s->timing = NULL;
        at += len;
        lp += n_lp;
    }
    if (o->done && s->reply.tools != TOOLS_OFF && job_status(c->job, NULL, NULL) == 0) stream_tool_calls(s);
    if (o->done) choice_end(s);
    leave_choice(s);
}

static bool stream_wants(void *ctx, int i) {
    stream *s = ctx;
    return !s->ended && may_read(s, &s->choices[i]);
}

static void stream_take(void *ctx, int i, job_output *o) {
    stream *s = ctx;
    choice_events(s, &s->choices[i], o);
}

/* Waits for output of any of the choices being generated and turns what there is into events,
 * the choices in index order (read_round); false when the client went away (the jobs are then
 * cancelled). */
static bool stream_fill(stream *s) {
    for (;;) {
        int n = read_round(&s->rj, &s->waker, s->fd, stream_wants, stream_take, s);
        if (n < 0) return false;
        if (n > 0 || s->ended) return true;
        /* llama-server's SSE ping: a comment line, which SSE clients skip, so that a proxy or a
         * client with a read timeout sees bytes while a long prompt (or a queue) delays the first token */
        if (s->ping_seconds > 0 && metrics_now() - s->last_out >= s->ping_seconds) {
            stream_append(s, ":\n\n", 3);
            return true;
        }
    }
}

static ssize_t stream_read(void *cls, uint64_t offset, char *out, size_t max) {
    stream *s = cls;
    (void)offset;
    while (s->pos == s->len) {
        if (s->ended) return MHD_CONTENT_READER_END_OF_STREAM;
        s->pos = s->len = 0;
        if (!stream_fill(s)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = s->len - s->pos < max ? s->len - s->pos : max;
    memcpy(out, s->buf + s->pos, n);
    s->pos += n;
    s->last_out = metrics_now();
    return (ssize_t)n;
}

static void stream_memory_free(stream *s) {
    free(s->choices), free(s->scores), free(s->native), free(s->responses), free(s->anthropic);
}

static void stream_free(void *cls) {
    stream *s = cls;
    wake_on_jobs(&s->rj, NULL);
    job_waker_destroy(&s->waker);
    for (int i = 0; i < s->rj.n; i++) {
        tool_reader_free(&s->choices[i].tools);
        native_cursor_free(&s->choices[i].native);
    }
    for (int p = 0; p < s->rj.n / s->rj.n_choices; p++) free(s->scores[p].lp);
    free_jobs(&s->rj);
    api_reply_free(&s->reply);
    atomic_fetch_sub(&s->srv->n_generating, 1);
    if (s->native) native_reply_free(s->native);
    if (s->responses) responses_reply_free(s->responses);
    if (s->anthropic) anthropic_reply_free(s->anthropic);
    stream_memory_free(s);
    free(s->buf);
    free(s);
}

/* The stream's memory (choices, scores, the style's replies' copies) into *s; false when out of
 * memory (nothing kept). */
static bool stream_alloc(stream *s, const request_jobs *rj, const reply_style *style) {
    s->choices = calloc((size_t)rj->n, sizeof *s->choices);
    s->scores = calloc((size_t)(rj->n / rj->n_choices), sizeof *s->scores);
    s->native = style->native ? malloc(sizeof *s->native) : NULL;
    s->responses = style->responses ? malloc(sizeof *s->responses) : NULL;
    s->anthropic = style->anthropic ? malloc(sizeof *s->anthropic) : NULL;
    if (s->choices && s->scores && (s->native || !style->native) && (s->responses || !style->responses) && (s->anthropic || !style->anthropic))
        return true;
    stream_memory_free(s);
    return false;
}

/* Streams the output of the request's jobs, side by side (takes over the jobs, the count of
 * generating requests, the reply's echo and the style's replies). */
static enum MHD_Result reply_stream(server *srv, struct MHD_Connection *c, request_jobs *rj, api_reply *reply, const api_request *rq,
                                    const reply_style *style) {
    stream *s = calloc(1, sizeof *s);
    bool allocated = s && stream_alloc(s, rj, style);
    struct MHD_Response *r = allocated ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s, stream_free) : NULL;
    if (!r) {
        if (allocated) stream_memory_free(s);
        style_free(style);
        free(s);
        free_jobs(rj);
        api_reply_free(reply);
        atomic_fetch_sub(&srv->n_generating, 1);
        return http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    if (s->native) *s->native = *style->native;
    if (s->responses) *s->responses = *style->responses;
    if (s->anthropic) *s->anthropic = *style->anthropic;
    s->srv = srv, s->rj = *rj, s->reply = *reply, s->include_usage = rq->include_usage;
    s->ping_seconds = (double)(rq->sse_ping_interval == -2 ? srv->opt.sse_ping_interval : rq->sse_ping_interval);
    s->last_out = metrics_now();
    s->fd = http_connection_fd(c), s->stats = http_request_stats(c);
    for (int i = 0; i < rj->n; i++) s->choices[i] = (choice_stream){.job = rj->jobs[i], .index = i, .native = {.index = i}};
    job_waker_init(&s->waker);
    wake_on_jobs(&s->rj, &s->waker);
    s->cur = &s->choices[0];
    if (s->responses || s->anthropic) {
        json_t *events = json_array();
        if (s->responses) responses_stream_open(s->responses, events);
        else anthropic_stream_open(s->anthropic, events);
        stream_typed_events(s, events);
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result ret = http_queue(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r); /* the stream is freed with the response */
    return ret;
}

/* ===================================================================== handlers */

/* What the replies need besides the jobs: /completion's native reply (style->native), the
 * prompts' texts for /v1/completions' echo (*echo). false when out of memory (nothing kept). */
static bool prepare_replies(const server *srv, const gen_request *rq, const request_jobs *rj, const reply_style *style, json_t **echo) {
    if (style->native && native_reply_init(style->native, &rq->api, rj->jobs[0], srv->opt.n_keep, rq->ids, rq->n_ids, rq->n_prompts,
                                           srv->model_name, srv->model))
        return false;
    if (!rq->api.echo) return true;
    *echo = request_echo_texts(srv->model, rq->api.prompts, rq->api.n_prompts);
    if (!*echo && style->native) native_reply_free(style->native);
    return *echo != NULL;
}

/* Runs one generation request of the endpoint kind. style: the Responses API's reply (made by
 * responses_to_chat, whose chat body this is) or Anthropic's (started here), taken over; NULL
 * for the other endpoints (llama-server's /completion gets its native reply here). */
static enum MHD_Result handle(server *srv, struct MHD_Connection *c, api_kind kind, const char *body, size_t len,
                              reply_style *style) {
    gen_request rq;
    request_jobs rj = {0};
    enum MHD_Result ret = MHD_YES;
    uint64_t serial = next_serial(srv);
    atomic_fetch_add(&srv->n_generating, 1);
    native_reply native;
    reply_style plain = {.native = kind == API_NATIVE ? &native : NULL};
    json_t *echo = NULL;
    bool ok = start_jobs(srv, c, kind, body, len, serial, !style, &rq, &rj, &ret); /* "n": not for the Responses or Messages APIs */
    if (!style) style = &plain;
    if (ok && !prepare_replies(srv, &rq, &rj, style, &echo)) {
        ret = http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        ok = false;
    }
    if (!ok) {
        free_jobs(&rj);
        atomic_fetch_sub(&srv->n_generating, 1);
        gen_request_free(&rq);
        if (style->responses) responses_reply_free(style->responses);
        return ret;
    }
    api_reply reply;
    api_reply_init(&reply, kind, serial, srv->model_name, srv->model, top_logprobs(&rj, &rq.api));
    reply.tools = rq.api.tools.choice;
    reply.post_sampling_probs = rq.api.post_sampling_probs;
    reply.n_choices = rj.n_choices;
    reply.echo = echo;
    reply.prompt_only = kind == API_COMPLETION && rq.api.prompt_only;
    if (style->responses) responses_reply_start(style->responses, serial, srv->model_name, rq.api.tools.choice);
    if (style->anthropic) anthropic_reply_start(style->anthropic, serial, srv->model_name, rq.api.tools.choice, rq.n_ids[0]);
    if (rq.api.stream) {
        ret = reply_stream(srv, c, &rj, &reply, &rq.api, style); /* the stream owns the jobs, the count and the style's replies */
    } else {
        ret = reply_whole(srv, c, &rj, &reply, style);
        api_reply_free(&reply);
        style_free(style);
        free_jobs(&rj);
        atomic_fetch_sub(&srv->n_generating, 1);
    }
    gen_request_free(&rq);
    return ret;
}

enum MHD_Result handle_chat_completions(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    return handle(srv, c, API_CHAT, body, len, NULL);
}

enum MHD_Result handle_completions(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    return handle(srv, c, API_COMPLETION, body, len, NULL);
}

enum MHD_Result handle_native_completion(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    return handle(srv, c, API_NATIVE, body, len, NULL);
}

enum MHD_Result handle_responses(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    responses_reply responses;
    api_error err;
    char *chat;
    if (responses_to_chat(body, len, &chat, &responses, &err)) return http_send_error(c, (unsigned)err.status, "%s", err.message);
    reply_style style = {.responses = &responses};
    enum MHD_Result ret = handle(srv, c, API_CHAT, chat, strlen(chat), &style);
    free(chat);
    return ret;
}

enum MHD_Result handle_anthropic_messages(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    anthropic_reply anthropic;
    api_error err;
    char *chat;
    if (anthropic_to_chat(body, len, false, &chat, &err)) return http_send_error(c, (unsigned)err.status, "%s", err.message);
    reply_style style = {.anthropic = &anthropic};
    enum MHD_Result ret = handle(srv, c, API_CHAT, chat, strlen(chat), &style);
    free(chat);
    return ret;
}

/* ===================================================================== token counting
 * The prompt tokens a body would give, with a request's checks (a conversation longer than a
 * slot's context is a 400): Anthropic's count_tokens, and llama-server's input_tokens endpoints
 * of the Responses API (the openai client's responses.inputTokens.count) and of chats. */

/* The prompt tokens of a chat body (freed here); -1 after replying with the error. */
static int count_chat(server *srv, struct MHD_Connection *c, char *chat, enum MHD_Result *ret) {
    api_error err;
    gen_request rq;
    request_model m = server_request_model(srv);
    int rc = request_build(&m, API_CHAT, chat, strlen(chat), 0, &rq, &err);
    free(chat);
    if (rc) {
        *ret = http_send_error(c, (unsigned)err.status, "%s", err.message);
        return -1;
    }
    int n = rq.n_ids[0];
    gen_request_free(&rq);
    return n;
}

/* {"object": "response.input_tokens", "input_tokens": n} (OpenAI's shape) or {"input_tokens": n}. */
static enum MHD_Result send_count(struct MHD_Connection *c, bool openai, int n) {
    json_t *v = json_pack("{s:i}", "input_tokens", n);
    if (v && openai) json_object_set_new(v, "object", json_string("response.input_tokens"));
    return http_send_json(c, MHD_HTTP_OK, v);
}

enum MHD_Result handle_anthropic_count_tokens(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    api_error err;
    char *chat;
    enum MHD_Result ret = MHD_YES;
    if (anthropic_to_chat(body, len, true, &chat, &err)) return http_send_error(c, (unsigned)err.status, "%s", err.message);
    int n = count_chat(srv, c, chat, &ret);
    return n < 0 ? ret : send_count(c, false, n);
}

enum MHD_Result handle_responses_input_tokens(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    api_error err;
    char *chat;
    responses_reply unused;
    enum MHD_Result ret = MHD_YES;
    if (responses_to_chat(body, len, &chat, &unused, &err)) return http_send_error(c, (unsigned)err.status, "%s", err.message);
    responses_reply_free(&unused);
    int n = count_chat(srv, c, chat, &ret);
    return n < 0 ? ret : send_count(c, true, n);
}

enum MHD_Result handle_chat_input_tokens(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    enum MHD_Result ret = MHD_YES;
    char *chat = malloc(len + 1);
    if (!chat) return http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    memcpy(chat, body, len);
    chat[len] = '\0';
    int n = count_chat(srv, c, chat, &ret);
    return n < 0 ? ret : send_count(c, true, n);
}

/* ===================================================================== embeddings */

/* Waits for the job's end. 0 when it succeeded; -1 when the client went away (the job is
 * cancelled) or after replying with its failure. */
/* Runs the inputs as the request's jobs (request_jobs: at most --parallel of them queued at a
 * time, the next once any one has ended, so a long list does not fill the queue; the
 * request's time limit for them all);
 * rj->jobs[i] holds input i's vector afterwards. 0, or -1 after replying or when the client
 * went away (the caller's free_jobs cancels the rest). */
static int run_embed_jobs(server *srv, struct MHD_Connection *c, const embed_request *r, request_jobs *rj, enum MHD_Result *ret) {
    *rj = (request_jobs){.n = r->n_inputs, .n_choices = 1, .n_kept = 1, .window = engine_n_slots(srv->engine)};
    bool made = (rj->jobs = calloc((size_t)rj->n, sizeof *rj->jobs)) != NULL;
    for (int i = 0; made && i < rj->n; i++)
        if ((made = (rj->jobs[i] = job_create_embed(r->ids[i], r->n_ids[i], srv->opt.pooling, srv->n_embd)) != NULL))
            job_set_time_limit(rj->jobs[i], srv->opt.timeout_request);
    if (!made) {
        *ret = http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return -1;
    }
    plain_read rd = {.srv = srv, .rj = rj, .all = calloc((size_t)rj->n, sizeof(collected)), .failed = -1};
    if (!rd.all) {
        *ret = http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return -1;
    }
    queue_jobs(srv, rj);
    bool here = read_all(c, &rd); /* the inputs' jobs read as they end (no text to collect) */
    collected_free(rd.all, rj->n);
    const char *message;
    int status = here && rd.failed >= 0 ? job_status(rj->jobs[rd.failed], NULL, &message) : 0;
    if (status) *ret = http_send_error(c, failure_status(status), "%s", message);
    return here && !status ? 0 : -1;
}

/* POST /v1/embeddings (oai) and llama-server's /embedding, /embeddings. */
static enum MHD_Result handle_embed(server *srv, struct MHD_Connection *c, const char *body, size_t len, bool oai) {
    if (oai && srv->opt.pooling == BITNET_POOLING_NONE)
        return http_send_error(c, MHD_HTTP_BAD_REQUEST,
                               "pooling 'none' (--pooling) is not OpenAI-compatible: /v1/embeddings needs mean, last or cls "
                               "(/embeddings gives every token's vector)");
    api_error err;
    embed_request r;
    request_model m = server_request_model(srv);
    if (embed_request_parse(&m, body, len, oai, srv->opt.embd_normalize, &r, &err))
        return http_send_error(c, (unsigned)err.status, "%s", err.message);
    if (r.dimensions && r.dimensions != srv->n_embd) { /* shortening is a property of models trained for it, not of these */
        long long asked = (long long)r.dimensions;
        embed_request_free(&r);
        return http_send_error(c, MHD_HTTP_BAD_REQUEST, "'dimensions' must be this model's embedding size, %lld (got %lld)",
                               (long long)srv->n_embd, asked);
    }
    enum MHD_Result ret = MHD_NO;
    request_jobs rj = {0};
    float **vectors = calloc((size_t)r.n_inputs, sizeof *vectors);
    if (!vectors) ret = http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    else if (!run_embed_jobs(srv, c, &r, &rj, &ret)) {
        for (int i = 0; i < r.n_inputs; i++) vectors[i] = job_embedding(rj.jobs[i]);
        json_t *reply = embed_reply(&r, srv->model_name, vectors, srv->opt.pooling, srv->n_embd);
        ret = reply ? http_send_json(c, MHD_HTTP_OK, reply) : http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    free_jobs(&rj);
    free(vectors);
    embed_request_free(&r);
    return ret;
}

enum MHD_Result handle_embeddings_oai(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    return handle_embed(srv, c, body, len, true);
}

enum MHD_Result handle_embeddings_llama(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    return handle_embed(srv, c, body, len, false);
}
