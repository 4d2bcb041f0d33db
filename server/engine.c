/* engine: the engine thread, its request queue and the jobs' outputs (see engine.h). */
#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/logprob.h"

typedef enum job_state { JOB_NEW, JOB_QUEUED, JOB_RUNNING, JOB_DONE } job_state;

struct job {
    /* Input, fixed once created. */
    int32_t *prompt;
    int n_prompt;
    bitnet_generate_params gen;
    char **stops;
    int n_stops;
    bitnet_logit_bias *logit_bias; /* a copy of the request's (gen.logit_bias points here) */
    char *json_schema;             /* a copy of the request's (gen.json_schema points here) */
    char *grammar;                 /* a copy of the request's (gen.grammar points here) */
    char *samplers;                /* a copy of the request's chain (gen.samplers points here) */
    char **dry_breakers;           /* a copy of the request's DRY breakers, one block (gen.sampling_extra points here) */
    int32_t *prediction;           /* a copy of the request's prediction (gen.prediction points here) */
    int n_top_logprobs;
    bool post_sampling;            /* ... of the distributions the tokens were drawn from (on_candidates) */
    bool score_prompt;             /* the prompt tokens' log-probabilities too (job_score_prompt) */
    bool report_progress;          /* the prompt processing progress (job_report_progress) */
    bool report_timings;           /* each token's timings in its piece (job_report_timings) */
    bool embed;                /* an embedding job: pooling, embedding [n_embedding] */
    bitnet_pooling pooling;
    float *embedding;
    engine *e;                 /* set by engine_enqueue */

    double t_start;            /* metrics_now() at creation */
    double time_limit;         /* seconds from t_start; 0: none */
    double predict_limit;      /* job_set_predict_limit: seconds from the first token; 0: none */
    int min_indent;            /* job_set_min_indent: a later line indented less ends the reply; 0: none */
    int want_slot;             /* job_want_slot: the slot it must run in; -1: any */

    /* Engine thread only (read by others after the end, through mu). */
    int slot;
    double t_slot;             /* metrics_now() when it got its slot */
    job_logprob pending;       /* computed by on_logits, published by on_token */
    bool has_pending;
    double t_last, ttft;       /* last token's time; first token's delay (-1: none yet) */
    bool at_limit;             /* on_token stopped it: predict_limit passed at a newline, or min_indent */
    bool line_start;           /* min_indent: the text since the last newline is spaces and tabs only ... */
    int indent;                /* ... this many */
    bool indent_cut;           /* min_indent ended the reply: text after the cut (a flush) is dropped */

    /* Guarded by e->mu. */
    job_state state;

    /* Guarded by mu: the output not yet taken, and the end. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text;
    size_t text_len, text_cap;
    job_logprob *logprobs;
    size_t n_logprobs, cap_logprobs;
    job_logprob *prompt_lp;    /* score_prompt: the prompt tokens' (job_output.prompt_logprobs) */
    size_t n_prompt_lp, cap_prompt_lp;
    job_piece *pieces;
    size_t n_pieces, cap_pieces;
    bool has_progress;         /* progress holds a report not yet taken */
    job_progress progress;
    bool done, out_of_memory;
    int status;
    char message[256];
    bitnet_generate_result result;

    job_waker *waker;          /* woken with cv (job_set_waker; guarded by mu) */

    atomic_int cancelled, timed_out;
    atomic_int n_tokens;       /* generated so far */
    atomic_int refs;
};

/* A slot action asked by an HTTP thread, done by the engine thread (engine_slot_action). */
typedef struct slot_action {
    int slot;
    engine_slot_op op;
    const char *path;
    int64_t result;
    uint64_t bytes;
    char message[256];         /* why it failed (the engine thread's last error) */
    bool taken, done;          /* the engine thread works on it / has finished it (under mu) */
} slot_action;

typedef struct slot_state {
    job *job;                  /* running job; NULL when idle */
    engine_slot_info info;
    int64_t kv_held;           /* positions the last finished request left in the slot */
} slot_state;

struct engine {
    bitnet_batch *batch;
    const bitnet_model *model;
    engine_params params;
    int64_t slot_ctx;
    uint64_t kv_cache_bytes;
    int32_t bos_id;            /* -1: none (a request's n_keep counts the tokens after it) */
    const bn_logprob_ops *logprob; /* the log-probabilities' row passes of the tier in use */
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;        /* guards everything below */
    pthread_cond_t cv;         /* work arrived, or stop */
    bool stopping;
    bitnet_batch_desc last_desc; /* the batch after the last step: its LM head counters (metrics_gauges) */
    job **queue;               /* FIFO of waiting jobs, [n_waiting] */
    int n_waiting;
    slot_state *slots;         /* [n_slots] */
    int n_running;
    slot_action *action;       /* the one asked and not yet done, or NULL */
    pthread_cond_t action_cv;  /* an action was done, or the engine stopped */
};

/* ===================================================================== jobs */

/* The fields every job starts with; returns j. */
static job *job_init(job *j) {
    j->slot = -1;
    j->want_slot = -1;
    j->t_start = metrics_now();
    j->ttft = -1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    atomic_init(&j->cancelled, 0);
    atomic_init(&j->timed_out, 0);
    atomic_init(&j->n_tokens, 0);
    atomic_init(&j->refs, 1);
    return j;
}

/* A copy of bytes of src into *out (none when bytes is 0); false when out of memory. */
static bool copy_bytes(void **out, const void *src, size_t bytes) {
    if (!bytes) return true;
    if (!(*out = malloc(bytes))) return false;
    memcpy(*out, src, bytes);
    return true;
}

/* strings[0, n) and their pointers in one block (one free); NULL when out of memory. */
static char **copy_strings(const char *const *strings, int n) {
    size_t bytes = sizeof(char *) * (size_t)(n > 0 ? n : 1);
    for (int i = 0; i < n; i++) bytes += strlen(strings[i]) + 1;
    char **out = malloc(bytes), *at = out ? (char *)(out + (n > 0 ? n : 1)) : NULL;
    for (int i = 0; out && i < n; i++) {
        size_t len = strlen(strings[i]) + 1;
        out[i] = memcpy(at, strings[i], len);
        at += len;
    }
    return out;
}

/* A job holding a copy of prompt, its other fields zero (job_init starts it); NULL when out of memory. */
static job *job_new(const int32_t *prompt, int n_prompt) {
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    if (!(j->prompt = malloc(sizeof(int32_t) * (size_t)(n_prompt > 0 ? n_prompt : 1)))) {
        free(j);
        return NULL;
    }
    memcpy(j->prompt, prompt, sizeof(int32_t) * (size_t)n_prompt);
    j->n_prompt = n_prompt;
    return j;
}

job *job_create(const int32_t *prompt, int n_prompt, const bitnet_generate_params *gen, char **stops, int n_stops,
                int n_top_logprobs, bool post_sampling) {
    job *j = job_new(prompt, n_prompt);
    size_t bias_bytes = sizeof(bitnet_logit_bias) * (size_t)(gen->n_logit_bias > 0 ? gen->n_logit_bias : 0);
    size_t prediction_bytes = sizeof(int32_t) * (size_t)(gen->n_prediction > 0 ? gen->n_prediction : 0);
    const bitnet_sampling_extra *x = &gen->sampling_extra;
    if (!j || !copy_bytes((void **)&j->logit_bias, gen->logit_bias, bias_bytes) ||
        !copy_bytes((void **)&j->prediction, gen->prediction, prediction_bytes) || (gen->json_schema && !(j->json_schema = strdup(gen->json_schema))) ||
        (gen->grammar && !(j->grammar = strdup(gen->grammar))) || (gen->samplers && !(j->samplers = strdup(gen->samplers))) ||
        (x->dry_sequence_breakers && !(j->dry_breakers = copy_strings(x->dry_sequence_breakers, x->n_dry_sequence_breakers)))) {
        if (j) free(j->prompt), free(j->logit_bias), free(j->prediction), free(j->json_schema), free(j->grammar), free(j->samplers);
        free(j);
        for (int i = 0; i < n_stops; i++) free(stops[i]);
        free(stops);
        return NULL;
    }
    j->gen = *gen;
    j->stops = stops;
    j->n_stops = n_stops;
    j->gen.stop_strings = (const char *const *)stops;
    j->gen.n_stop_strings = n_stops;
    j->gen.logit_bias = j->logit_bias;
    j->gen.prediction = j->prediction;
    j->gen.json_schema = j->json_schema;
    j->gen.grammar = j->grammar;
    j->gen.samplers = j->samplers;
    if (j->dry_breakers) j->gen.sampling_extra.dry_sequence_breakers = (const char *const *)j->dry_breakers;
    j->n_top_logprobs = n_top_logprobs > JOB_MAX_TOP_LOGPROBS ? JOB_MAX_TOP_LOGPROBS : n_top_logprobs;
    j->post_sampling = post_sampling;
    return job_init(j);
}

job *job_create_embed(const int32_t *prompt, int n_prompt, bitnet_pooling pooling, int64_t n_embd) {
    job *j = job_new(prompt, n_prompt);
    size_t floats = (size_t)n_embd * (size_t)(pooling == BITNET_POOLING_NONE ? n_prompt : 1);
    if (!j || !(j->embedding = malloc(sizeof(float) * (floats ? floats : 1)))) {
        if (j) free(j->prompt);
        free(j);
        return NULL;
    }
    j->embed = true;
    j->pooling = pooling;
    j->n_top_logprobs = -1;
    return job_init(j);
}

float *job_embedding(job *j) { return j->embedding; }

static void job_retain(job *j) { atomic_fetch_add(&j->refs, 1); }

void job_release(job *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    for (int i = 0; i < j->n_stops; i++) free(j->stops[i]);
    free(j->stops);
    free(j->prompt);
    free(j->logit_bias);
    free(j->prediction);
    free(j->json_schema);
    free(j->grammar);
    free(j->samplers);
    free(j->dry_breakers);
    free(j->embedding);
    free(j->text);
    free(j->logprobs);
    free(j->prompt_lp);
    free(j->pieces);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

int job_n_prompt(const job *j) { return j->n_prompt; }
double job_ttft(const job *j) { return j->ttft; }
int job_slot(const job *j) { return j->slot; }
const char *job_stop_string(const job *j, int i) { return i >= 0 && i < j->n_stops ? j->stops[i] : NULL; }

static bool grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) cap2 *= 2;
    void *bigger = realloc(*buf, cap2 * elem);
    if (!bigger) return false;
    *buf = bigger;
    *cap = cap2;
    return true;
}

/* Wakes whoever waits for the job's output: job_take's waiter and the job's waker (with mu held,
 * so that job_set_waker(j, NULL) returning means the waker is no longer touched). */
static void job_signal(job *j) {
    pthread_cond_broadcast(&j->cv);
    if (!j->waker) return;
    pthread_mutex_lock(&j->waker->mu);
    j->waker->news++;
    pthread_cond_broadcast(&j->waker->cv);
    pthread_mutex_unlock(&j->waker->mu);
}

/* Appends generated text (engine thread). */
static void job_push_text(job *j, int32_t token, const char *text, size_t len, const job_logprob *lp, const job_timing *tm) {
    pthread_mutex_lock(&j->mu);
    bool ok = grow((void **)&j->text, &j->text_cap, j->text_len + len, 1);
    if (ok && len) { /* a token whose text is held back comes with none (text may be NULL) */
        memcpy(j->text + j->text_len, text, len);
        j->text_len += len;
    }
    if (ok && lp && (ok = grow((void **)&j->logprobs, &j->cap_logprobs, j->n_logprobs + 1, sizeof *lp)))
        j->logprobs[j->n_logprobs++] = *lp;
    if (ok && (ok = grow((void **)&j->pieces, &j->cap_pieces, j->n_pieces + 1, sizeof *j->pieces)))
        j->pieces[j->n_pieces++] = (job_piece){.text_len = len, .logprob = lp != NULL, .timed = tm != NULL, .token = token, .timing = tm ? *tm : (job_timing){0}};
    if (!ok) j->out_of_memory = true;
    job_signal(j);
    pthread_mutex_unlock(&j->mu);
}

/* Appends a prompt token's log-probability (engine thread). */
static void job_push_prompt_logprob(job *j, const job_logprob *lp) {
    pthread_mutex_lock(&j->mu);
    if (grow((void **)&j->prompt_lp, &j->cap_prompt_lp, j->n_prompt_lp + 1, sizeof *lp)) j->prompt_lp[j->n_prompt_lp++] = *lp;
    else j->out_of_memory = true;
    pthread_mutex_unlock(&j->mu);
}

/* Marks the job ended (engine thread, or a thread that took it off the queue). */
static void job_finish(job *j, int status, const bitnet_generate_result *result, const char *message) {
    pthread_mutex_lock(&j->mu);
    j->done = true;
    j->status = status;
    if (result) j->result = *result;
    j->result.struct_size = sizeof j->result;
    if (!j->result.n_prompt) j->result.n_prompt = j->n_prompt;
    if (status == 0 && j->out_of_memory) {
        j->status = BITNET_ERR_OUT_OF_MEMORY;
        message = "out of memory while collecting the output";
    }
    if (status == 0 && j->embed && j->result.stop_reason == BITNET_STOP_CALLBACK) { /* half a vector is no answer */
        j->status = BITNET_ERR_CANCELLED;
        message = atomic_load(&j->timed_out) ? "the request's time limit (--timeout-request) ran out before its embedding was complete"
                                             : "the embedding was cancelled before it was complete (the server is shutting down)";
    } else if (atomic_load(&j->timed_out) || j->at_limit) { /* stopped by a limit: the reply so far, "length" */
        if (status == 0 && j->result.stop_reason == BITNET_STOP_CALLBACK) j->result.stop_reason = BITNET_STOP_MAX_TOKENS;
        if (status == BITNET_ERR_CANCELLED && atomic_load(&j->timed_out))
            message = "the request's time limit (--timeout-request) ran out while it waited for a slot";
    }
    snprintf(j->message, sizeof j->message, "%s", message ? message : "");
    job_signal(j);
    pthread_mutex_unlock(&j->mu);
}

/* The CLOCK_REALTIME time ms milliseconds from now (pthread_cond_timedwait's deadline). */
static struct timespec deadline_in(int ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

int job_take(job *j, job_output *out, int timeout_ms) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&j->mu);
    if (timeout_ms > 0 && !j->done && !j->n_pieces && !j->has_progress) {
        struct timespec until = deadline_in(timeout_ms);
        while (!j->done && !j->n_pieces && !j->has_progress)
            if (pthread_cond_timedwait(&j->cv, &j->mu, &until)) break;
    }
    out->text = j->text;
    out->text_len = j->text_len;
    out->logprobs = j->logprobs;
    out->n_logprobs = j->n_logprobs;
    out->pieces = j->pieces;
    out->n_pieces = j->n_pieces;
    out->done = j->done;
    out->has_progress = j->has_progress;
    out->progress = j->progress;
    j->has_progress = false;
    if (out->done || out->n_pieces) { /* the prompt's are all there before the first piece */
        out->prompt_logprobs = j->prompt_lp;
        out->n_prompt_logprobs = j->n_prompt_lp;
        j->prompt_lp = NULL;
        j->n_prompt_lp = j->cap_prompt_lp = 0;
    }
    j->text = NULL;
    j->text_len = j->text_cap = 0;
    j->logprobs = NULL;
    j->n_logprobs = j->cap_logprobs = 0;
    j->pieces = NULL;
    j->n_pieces = j->cap_pieces = 0;
    pthread_mutex_unlock(&j->mu);
    return out->done || out->n_pieces || out->has_progress;
}

void job_output_free(job_output *out) {
    free(out->text);
    free(out->logprobs);
    free(out->prompt_logprobs);
    free(out->pieces);
    memset(out, 0, sizeof *out);
}

void job_set_waker(job *j, job_waker *w) {
    pthread_mutex_lock(&j->mu);
    j->waker = w;
    pthread_mutex_unlock(&j->mu);
}

void job_waker_init(job_waker *w) {
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->news = 0;
}

void job_waker_destroy(job_waker *w) {
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

unsigned long job_waker_news(job_waker *w) {
    pthread_mutex_lock(&w->mu);
    unsigned long n = w->news;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void job_waker_wait(job_waker *w, unsigned long seen, int timeout_ms) {
    struct timespec until = deadline_in(timeout_ms);
    pthread_mutex_lock(&w->mu);
    while (w->news == seen)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until)) break;
    pthread_mutex_unlock(&w->mu);
}

int job_status(const job *j, bitnet_generate_result *result, const char **message) {
    if (result) *result = j->result;
    if (message) *message = j->message;
    return j->status;
}

/* ===================================================================== callbacks (engine thread) */

/* log-softmax of the chosen token and the n_top most likely ones: the log-sum-exp and the top
 * list of the library's SIMD passes (model/logprob.h: within its bound of the libm sum in double;
 * for a 128256-token vocabulary ~25 us instead of ~0.6 ms on the engine thread). */
static void compute_logprob(const bn_logprob_ops *ops, const float *logits, int64_t n_vocab, int32_t token, int n_top,
                            job_logprob *out) {
    float log_z = ops->lse(logits, n_vocab);
    out->token = token;
    out->logprob = token >= 0 && token < n_vocab ? logits[token] - log_z : -INFINITY;
    out->n_top = bn_logprob_top(ops, logits, n_vocab, n_top, out->top_token, out->top_logprob);
    for (int k = 0; k < out->n_top; k++) out->top_logprob[k] -= log_z;
}

/* post_sampling_probs: the log of the draw's probabilities (the library's on_candidates). */
static int on_candidates(int32_t token, float p, const bitnet_token_prob *top, int n_top, void *user) {
    job *j = user;
    job_logprob *out = &j->pending;
    out->token = token;
    out->logprob = logf(p);
    out->n_top = n_top < j->n_top_logprobs ? n_top : j->n_top_logprobs;
    for (int k = 0; k < out->n_top; k++) out->top_token[k] = top[k].token, out->top_logprob[k] = logf(top[k].p);
    j->has_pending = true;
    return atomic_load(&j->cancelled);
}

static int on_logits(const float *logits, int64_t n_vocab, int32_t token, void *user) {
    job *j = user;
    if (j->n_top_logprobs >= 0) {
        compute_logprob(j->e->logprob, logits, n_vocab, token, j->n_top_logprobs, &j->pending);
        j->has_pending = true;
    }
    return atomic_load(&j->cancelled);
}

/* job_score_prompt: a prompt token's log-probability (the library's on_prompt_logits). */
static int on_prompt_logits(int position, int32_t token, const float *logits, int64_t n_vocab, void *user) {
    job *j = user;
    (void)position;
    job_logprob lp;
    compute_logprob(j->e->logprob, logits, n_vocab, token, j->n_top_logprobs, &lp);
    job_push_prompt_logprob(j, &lp);
    return atomic_load(&j->cancelled);
}

/* job_report_progress: the latest report replaces one not yet taken (the library's on_prompt_progress). */
static int on_prompt_progress(int n_done, int n_prompt, int n_cached, void *user) {
    job *j = user;
    pthread_mutex_lock(&j->mu);
    j->progress = (job_progress){.total = n_prompt, .cache = n_cached, .processed = n_done, .time_ms = (metrics_now() - j->t_slot) * 1e3};
    j->has_progress = true;
    job_signal(j);
    pthread_mutex_unlock(&j->mu);
    return atomic_load(&j->cancelled);
}

/* job_score_prompt: the first prompt token, which nothing before it scores. */
static void push_first_prompt_token(job *j) {
    job_logprob first = {.token = j->prompt[0], .logprob = NAN};
    job_push_prompt_logprob(j, &first);
}

/* The time to first token or since the previous token, into the metrics. */
static void time_token(job *j) {
    double now = metrics_now();
    metrics *m = j->e->params.metrics;
    if (j->ttft < 0) {
        j->ttft = now - j->t_start;
        if (m) metrics_observe(&m->ttft, j->ttft);
    } else if (m) {
        metrics_observe(&m->itl, now - j->t_last);
    }
    j->t_last = now;
    atomic_fetch_add(&j->n_tokens, 1);
}

/* job_report_timings: token's timings from the library's result so far (engine thread, in the
 * slot's token callback); false when there is none. */
static bool token_timing(const job *j, job_timing *out) {
    bitnet_generate_result r = {.struct_size = sizeof r};
    if (!j->report_timings || bitnet_batch_slot_result(j->e->batch, j->slot, &r)) return false;
    *out = (job_timing){.cache_n = r.n_cached, .prompt_n = r.n_prompt - r.n_cached, .predicted_n = r.n_generated,
                        .prompt_ms = r.prefill_seconds * 1e3, .predicted_ms = r.decode_seconds * 1e3};
    return true;
}

/* job_set_min_indent: how much of text[0, len) the reply keeps (all of it, or up to the first
 * character of a line after the first newline whose spaces and tabs before it are fewer than
 * min_indent: then at_limit, the line's indentation kept and the rest dropped, as
 * llama-server's n_indent; a newline there counts as such a character). */
static size_t kept_by_indent(job *j, const char *text, size_t len) {
    if (j->indent_cut) return 0;
    for (size_t i = 0; j->min_indent > 0 && i < len; i++) {
        char c = text[i];
        if (!j->line_start) {
            j->line_start = c == '\n';
            j->indent = 0;
        } else if (c == ' ' || c == '\t') {
            j->indent++;
        } else if (j->indent < j->min_indent) {
            j->at_limit = j->indent_cut = true;
            return i;
        } else {
            j->line_start = c == '\n';
            j->indent = 0;
        }
    }
    return len;
}

/* token is -1 for text flushed at the end (it belongs to tokens already reported). */
static int on_token(int32_t token, const char *text, size_t len, void *user) {
    job *j = user;
    const job_logprob *lp = NULL;
    job_timing tm;
    if (token >= 0) time_token(j);
    if (token >= 0 && j->has_pending && j->pending.token == token) {
        lp = &j->pending;
        j->has_pending = false;
    }
    len = kept_by_indent(j, text, len);
    if (len || lp || token >= 0) job_push_text(j, token, text, len, lp, token >= 0 && token_timing(j, &tm) ? &tm : NULL);
    if (token >= 0 && j->predict_limit > 0 && len && memchr(text, '\n', len) && metrics_now() - (j->t_start + j->ttft) > j->predict_limit)
        j->at_limit = true;
    return atomic_load(&j->cancelled) || j->at_limit;
}

static const char *stop_name(bitnet_stop_reason r) {
    switch (r) {
    case BITNET_STOP_MAX_TOKENS: return "max_tokens";
    case BITNET_STOP_EOG: return "eog";
    case BITNET_STOP_STRING: return "stop_string";
    case BITNET_STOP_ID: return "stop_id";
    case BITNET_STOP_CALLBACK: return "cancelled";
    case BITNET_STOP_CONTEXT_FULL: return "context_full";
    case BITNET_STOP_JSON_COMPLETE: return "json_complete";
    case BITNET_STOP_GRAMMAR_COMPLETE: return "grammar_complete";
    }
    return "?";
}

static void on_finish(int slot, int status, const bitnet_generate_result *result, void *user) {
    job *j = user;
    engine *e = j->e;
    if (e->params.verbose) {
        if (status == 0 && j->embed)
            fprintf(stderr, "bitnet-server: slot %d: embedding of %d prompt tokens (%d cached), %s pooling, %.3f s\n", slot,
                    result->n_prompt, result->n_cached, bitnet_pooling_name(j->pooling), result->prefill_seconds);
        else if (status == 0)
            fprintf(stderr, "bitnet-server: slot %d: %d prompt tokens (%d cached), %d generated, stop %s, %.3f s to first token\n",
                    slot, result->n_prompt, result->n_cached, result->n_generated, stop_name(result->stop_reason),
                    result->time_to_first_token_seconds);
        else
            fprintf(stderr, "bitnet-server: slot %d: failed: %s\n", slot, bitnet_get_last_error());
    }
    if (status == 0 && e->params.metrics) {
        metrics_tokens(e->params.metrics, result->n_prompt, result->n_cached, result->n_generated);
        metrics_times(e->params.metrics, result->prefill_seconds, result->decode_seconds, result->n_prompt + result->n_generated);
        metrics_lookup(e->params.metrics, result);
        metrics_constraint(e->params.metrics, result->n_mask_best, result->n_mask_all);
    }
    pthread_mutex_lock(&e->mu);
    slot_state *s = &e->slots[slot];
    s->job = NULL;
    s->info.busy = false;
    s->kv_held = j->n_prompt + atomic_load(&j->n_tokens);
    if (status == 0) {
        s->info.n_prompt = result->n_prompt;
        s->info.n_generated = result->n_generated;
        s->info.n_cached = result->n_cached;
    }
    j->state = JOB_DONE;
    e->n_running--;
    pthread_mutex_unlock(&e->mu);
    job_finish(j, status, status == 0 ? result : NULL, status == 0 ? NULL : bitnet_get_last_error());
    job_release(j); /* the engine's reference */
}

/* ===================================================================== the engine thread */

/* The idle slot for job j (under e->mu): the one it asked for (job_want_slot) when that is idle,
 * else the library's choice; -1 when none. */
static int slot_for(engine *e, const job *j) {
    if (j->want_slot >= 0) return e->slots[j->want_slot].job ? -1 : j->want_slot;
    return bitnet_batch_pick_slot_reuse(e->batch, j->prompt, j->n_prompt, j->embed ? 0 : j->gen.n_cache_reuse);
}

/* Takes the first waiting job that a free slot suits off the queue (engine thread): in queue
 * order, a job that asked for a busy slot passing its turn to those behind it. Returns the
 * job and its slot, or NULL. */
static job *next_job(engine *e, int *slot) {
    pthread_mutex_lock(&e->mu);
    job *j = NULL;
    for (int i = 0; !j && i < e->n_waiting && !e->stopping; i++) {
        int s = slot_for(e, e->queue[i]);
        if (s < 0 && e->queue[i]->want_slot < 0) break; /* every slot is busy */
        if (s >= 0) {
            j = e->queue[i];
            memmove(e->queue + i, e->queue + i + 1, sizeof *e->queue * (size_t)(--e->n_waiting - i));
            j->state = JOB_RUNNING;
            j->slot = *slot = s;
            e->slots[s].job = j;
            e->slots[s].info.busy = true;
            e->slots[s].info.n_requests++;
            e->n_running++;
        }
    }
    pthread_mutex_unlock(&e->mu);
    return j;
}

static void start_waiting_jobs(engine *e) {
    int slot;
    job *j;
    while ((j = next_job(e, &slot))) {
        j->gen.user_data = j;
        j->gen.on_token = on_token;
        /* only a logprobs request looks at the logits: the others let the screened head skip
         * tokens that cannot be drawn (cancellation is also seen by on_token) */
        j->gen.on_logits = j->n_top_logprobs >= 0 && !j->post_sampling ? on_logits : NULL;
        j->gen.on_candidates = j->n_top_logprobs >= 0 && j->post_sampling ? on_candidates : NULL;
        j->gen.n_candidates = j->n_top_logprobs;
        j->gen.on_prompt_logits = j->score_prompt ? on_prompt_logits : NULL;
        j->gen.on_prompt_progress = j->report_progress ? on_prompt_progress : NULL;
        j->t_slot = metrics_now();
        if (j->score_prompt) push_first_prompt_token(j);
        j->gen.lookup_draft = e->params.lookup_draft;
        j->gen.context_shift = e->params.context_shift;
        if (j->gen.n_keep == JOB_N_KEEP_UNSET) j->gen.n_keep = e->params.n_keep;
        if (j->gen.n_keep >= 0 && j->n_prompt > 0 && j->prompt[0] == e->bos_id) j->gen.n_keep++; /* llama-server's n_keep follows BOS */
        int status = j->embed ? bitnet_batch_submit_embed(e->batch, slot, j->prompt, j->n_prompt, j->pooling, j->embedding, on_finish, j)
                              : bitnet_batch_submit(e->batch, slot, j->prompt, j->n_prompt, &j->gen, on_finish);
        if (status == 0) continue;
        char message[256];
        snprintf(message, sizeof message, "%s", bitnet_get_last_error());
        pthread_mutex_lock(&e->mu);
        e->slots[slot].job = NULL;
        e->slots[slot].info.busy = false;
        j->state = JOB_DONE;
        e->n_running--;
        pthread_mutex_unlock(&e->mu);
        job_finish(j, status, NULL, message);
        job_release(j);
    }
}

/* Running jobs whose client went away: cancelled before the next step. */
static void cancel_abandoned_jobs(engine *e) {
    for (int s = 0; s < e->params.n_slots; s++) {
        pthread_mutex_lock(&e->mu);
        job *j = e->slots[s].job;
        bool cancel = j && atomic_load(&j->cancelled);
        pthread_mutex_unlock(&e->mu);
        if (cancel) bitnet_batch_cancel(e->batch, s);
    }
}

static void cancel_everything(engine *e) {
    for (int s = 0; s < e->params.n_slots; s++) {
        pthread_mutex_lock(&e->mu);
        bool busy = e->slots[s].job != NULL;
        pthread_mutex_unlock(&e->mu);
        if (busy) bitnet_batch_cancel(e->batch, s);
    }
    pthread_mutex_lock(&e->mu);
    while (e->n_waiting) {
        job *j = e->queue[--e->n_waiting];
        j->state = JOB_DONE;
        pthread_mutex_unlock(&e->mu);
        job_finish(j, BITNET_ERR_CANCELLED, NULL, "the server is shutting down");
        job_release(j);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
}

/* The batch's LM head counters for /metrics (read here, on the engine thread that owns the batch). */
static void publish_head_counters(engine *e) {
    bitnet_batch_desc d = {.struct_size = sizeof d};
    if (bitnet_batch_describe(e->batch, &d) != 0) return;
    pthread_mutex_lock(&e->mu);
    e->last_desc = d;
    pthread_mutex_unlock(&e->mu);
}

/* The slot action asked, if any: done before the waiting jobs take the slots. */
static void run_slot_action(engine *e) {
    pthread_mutex_lock(&e->mu);
    slot_action *a = e->action;
    bool busy = a && a->slot >= 0 && a->slot < e->params.n_slots && e->slots[a->slot].job;
    if (a) a->taken = true; /* its thread now waits for done, even when the engine stops */
    pthread_mutex_unlock(&e->mu);
    if (!a) return;
    int64_t r = busy ? BITNET_ERR_INVALID_ARGUMENT : bitnet_batch_slot_tokens(e->batch, a->slot);
    if (busy) snprintf(a->message, sizeof a->message, "slot %d is processing a request (GET /slots says when it is idle)", a->slot);
    if (r >= 0 && a->op == ENGINE_SLOT_SAVE) r = bitnet_batch_slot_save(e->batch, a->slot, a->path, &a->bytes);
    if (r >= 0 && a->op == ENGINE_SLOT_RESTORE) r = bitnet_batch_slot_restore(e->batch, a->slot, a->path, &a->bytes);
    if (r >= 0 && a->op == ENGINE_SLOT_ERASE) bitnet_batch_clear_slot(e->batch, a->slot);
    if (r < 0 && !busy) snprintf(a->message, sizeof a->message, "%s", bitnet_get_last_error());
    pthread_mutex_lock(&e->mu);
    if (r >= 0) e->slots[a->slot].kv_held = a->op == ENGINE_SLOT_ERASE ? 0 : r;
    a->result = r;
    a->done = true;
    e->action = NULL;
    pthread_cond_broadcast(&e->action_cv);
    pthread_mutex_unlock(&e->mu);
}

int64_t engine_slot_action(engine *e, int slot, engine_slot_op op, const char *path, uint64_t *bytes, char *message,
                           size_t cap) {
    slot_action a = {.slot = slot, .op = op, .path = path};
    pthread_mutex_lock(&e->mu);
    while (e->action && !e->stopping) pthread_cond_wait(&e->action_cv, &e->mu); /* one at a time */
    if (!e->stopping) {
        e->action = &a;
        pthread_cond_signal(&e->cv);
        while (!a.done && !(e->stopping && !a.taken)) pthread_cond_wait(&e->action_cv, &e->mu);
    }
    if (!a.done && e->action == &a) e->action = NULL;
    pthread_mutex_unlock(&e->mu);
    if (!a.done) {
        snprintf(message, cap, "the server is shutting down");
        return BITNET_ERR_CANCELLED;
    }
    if (bytes) *bytes = a.bytes;
    if (a.result < 0) snprintf(message, cap, "%s", a.message);
    return a.result;
}

static void *engine_main(void *arg) {
    engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->stopping && !e->n_running && !e->n_waiting && !e->action) pthread_cond_wait(&e->cv, &e->mu);
        bool stop = e->stopping;
        pthread_mutex_unlock(&e->mu);
        if (stop) break;
        run_slot_action(e);
        start_waiting_jobs(e);
        cancel_abandoned_jobs(e);
        pthread_mutex_lock(&e->mu);
        int n_busy = e->n_running;
        pthread_mutex_unlock(&e->mu);
        if (n_busy > 0 && e->params.metrics) metrics_decode(e->params.metrics, n_busy);
        int rc = bitnet_batch_step(e->batch);
        if (rc < 0) fprintf(stderr, "bitnet-server: a batch step failed: %s\n", bitnet_get_last_error());
        publish_head_counters(e);
    }
    cancel_everything(e);
    return NULL;
}

/* ===================================================================== engine */

int engine_start(bitnet_model *model, const engine_params *params, engine **out) {
    *out = NULL;
    engine *e = calloc(1, sizeof *e);
    if (!e) return BITNET_ERR_OUT_OF_MEMORY;
    e->params = *params;
    e->model = model;
    bitnet_model_desc md = {.struct_size = sizeof md};
    e->bos_id = bitnet_model_describe(model, &md) == 0 ? md.bos_id : -1;
    e->logprob = bn_logprob_for_tier(bn_cpu_active_tier());
    bitnet_batch_params bp = bitnet_batch_default_params();
    bp.n_slots = params->n_slots;
    bp.n_ctx = params->n_ctx;
    bp.n_threads = params->n_threads;
    bp.n_batch = params->n_batch;
    bp.act_quant = params->act_quant;
    bp.kv_type_k = params->kv_type_k;
    bp.kv_type_v = params->kv_type_v;
    bp.prefix_share_min = params->prefix_share_min;
    bp.prompt_cache_bytes = params->prompt_cache_bytes;
    int rc = bitnet_batch_create(model, &bp, &e->batch);
    bitnet_batch_desc d = {.struct_size = sizeof d};
    if (rc == 0) rc = bitnet_batch_describe(e->batch, &d);
    if (rc == 0) {
        e->params.n_slots = d.n_slots;
        e->slot_ctx = d.n_ctx;
        e->kv_cache_bytes = d.kv_cache_bytes;
        e->queue = calloc((size_t)(params->max_queue + d.n_slots), sizeof *e->queue);
        e->slots = calloc((size_t)d.n_slots, sizeof *e->slots);
        if (!e->queue || !e->slots) rc = BITNET_ERR_OUT_OF_MEMORY;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    pthread_cond_init(&e->action_cv, NULL);
    if (rc == 0 && pthread_create(&e->thread, NULL, engine_main, e) != 0) rc = BITNET_ERR_INTERNAL;
    if (rc != 0) {
        engine_free(e);
        return rc;
    }
    e->thread_started = true;
    *out = e;
    return 0;
}

void engine_stop(engine *e) {
    if (!e || !e->thread_started) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_signal(&e->cv);
    pthread_cond_broadcast(&e->action_cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    e->thread_started = false;
}

void engine_free(engine *e) {
    if (!e) return;
    engine_stop(e);
    bitnet_batch_free(e->batch);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    pthread_cond_destroy(&e->action_cv);
    free(e->queue);
    free(e->slots);
    free(e);
}

int64_t engine_slot_ctx(const engine *e) { return e->slot_ctx; }
int engine_n_slots(const engine *e) { return e->params.n_slots; }

void engine_slots(engine *e, engine_slot_info *out) {
    pthread_mutex_lock(&e->mu);
    for (int s = 0; s < e->params.n_slots; s++) out[s] = e->slots[s].info;
    pthread_mutex_unlock(&e->mu);
}

int engine_n_waiting(engine *e) {
    pthread_mutex_lock(&e->mu);
    int n = e->n_waiting;
    pthread_mutex_unlock(&e->mu);
    return n;
}

void engine_gauges(engine *e, metrics_gauges *out) {
    *out = (metrics_gauges){0};
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    out->requests_active = e->n_running;
    out->requests_queued = e->n_waiting;
    out->slots = e->params.n_slots;
    for (int s = 0; s < e->params.n_slots; s++) {
        const job *j = e->slots[s].job; /* the engine's reference keeps it alive while it is here */
        int64_t held = j ? j->n_prompt + atomic_load(&j->n_tokens) : e->slots[s].kv_held;
        out->kv_positions_used += held < e->slot_ctx ? held : e->slot_ctx;
    }
    out->kv_positions_total = e->slot_ctx * e->params.n_slots;
    out->kv_cache_bytes = e->kv_cache_bytes;
    out->head_rows_screened = e->last_desc.head_rows_screened;
    out->head_candidate_rows = e->last_desc.head_candidate_rows;
    out->head_rows_fallback = e->last_desc.head_rows_fallback;
    out->head_rows_plain = e->last_desc.head_rows_plain;
    out->prompt_cache_bytes = e->last_desc.prompt_cache_used;
    out->prompt_cache_prompts = e->last_desc.prompt_cache_entries;
    out->prompt_cache_tokens_restored = e->last_desc.prompt_cache_tokens_restored;
    pthread_mutex_unlock(&e->mu);
}

/* Whether queued job j asked for a slot that is busy now (under e->mu). */
static bool wants_busy_slot(const engine *e, const job *j) { return j->want_slot >= 0 && e->slots[j->want_slot].job; }

/* The queued jobs that wait for a slot, j included (under e->mu): those that asked for a busy
 * slot, and of the others those beyond the free slots (the rest start at the next step). */
static int n_would_wait(const engine *e, const job *j) {
    int blocked = wants_busy_slot(e, j), others = !blocked, free_slots = e->params.n_slots - e->n_running;
    for (int i = 0; i < e->n_waiting; i++) {
        bool b = wants_busy_slot(e, e->queue[i]);
        blocked += b;
        others += !b;
    }
    return blocked + (others > free_slots ? others - free_slots : 0);
}

engine_enqueue_status engine_enqueue(engine *e, job *j) {
    pthread_mutex_lock(&e->mu);
    engine_enqueue_status st = e->stopping ? ENGINE_STOPPING : n_would_wait(e, j) > e->params.max_queue ? ENGINE_QUEUE_FULL : ENGINE_QUEUED;
    if (st == ENGINE_QUEUED) {
        job_retain(j); /* the engine's reference, dropped when the job ends */
        j->e = e;
        j->state = JOB_QUEUED;
        e->queue[e->n_waiting++] = j;
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    return st;
}

void job_cancel(job *j) {
    atomic_store(&j->cancelled, 1);
    engine *e = j->e;
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    bool was_queued = j->state == JOB_QUEUED;
    if (was_queued) {
        int i = 0;
        while (i < e->n_waiting && e->queue[i] != j) i++;
        if (i < e->n_waiting) memmove(e->queue + i, e->queue + i + 1, sizeof *e->queue * (size_t)(e->n_waiting - i - 1));
        e->n_waiting--;
        j->state = JOB_DONE;
    }
    pthread_mutex_unlock(&e->mu);
    if (!was_queued) return;
    job_finish(j, BITNET_ERR_CANCELLED, NULL, "cancelled");
    job_release(j); /* the engine's reference */
}

void job_fail(job *j, int status, const char *message) { job_finish(j, status, NULL, message); }

void job_score_prompt(job *j) { j->score_prompt = !j->embed && j->n_top_logprobs >= 0; }

void job_report_progress(job *j) { j->report_progress = !j->embed; }
void job_report_timings(job *j) { j->report_timings = !j->embed; }

void job_set_time_limit(job *j, double seconds) { j->time_limit = seconds > 0 ? seconds : 0; }
void job_set_predict_limit(job *j, double seconds) { j->predict_limit = seconds > 0 ? seconds : 0; }
void job_set_min_indent(job *j, int n) { j->min_indent = n > 0 ? n : 0; }
void job_want_slot(job *j, int slot) { j->want_slot = slot >= 0 ? slot : -1; }

void job_check_time_limit(job *j) {
    if (j->time_limit <= 0 || atomic_load(&j->timed_out) || metrics_now() - j->t_start < j->time_limit) return;
    atomic_store(&j->timed_out, 1);
    job_cancel(j);
}
