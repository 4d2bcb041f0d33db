/* api_generate: the generation loop of the public API: prefill, then sample / detokenize /
 * stop-check / feed back, one token per step. Allocates per call, never per token. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "sampler.h"
#include "stop.h"
#include "util.h"

BITNET_API bitnet_sampling_params bitnet_sampling_default_params(void) {
    bn_sampler_params d = bn_sampler_default_params();
    bitnet_sampling_params p = {
        .struct_size = sizeof p, .temperature = d.temperature, .top_k = d.top_k, .top_p = d.top_p, .min_p = d.min_p,
        .repeat_penalty = d.repeat_penalty, .presence_penalty = d.presence_penalty, .frequency_penalty = d.frequency_penalty,
        .penalty_last_n = d.penalty_last_n, .seed = d.seed};
    return p;
}

BITNET_API bitnet_generate_params bitnet_generate_default_params(void) {
    bitnet_generate_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.max_tokens = 128;
    p.sampling = bitnet_sampling_default_params();
    return p;
}

static bool env_is(const char *name, const char *value) {
    const char *v = getenv(name);
    return v && !strcmp(v, value);
}

static bn_sampler *make_sampler(const bitnet_sampling_params *sp, int64_t n_vocab) {
    if (sp->struct_size < sizeof *sp) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "sampling.struct_size is %zu; use bitnet_sampling_default_params()", sp->struct_size);
        return NULL;
    }
    bn_sampler_params p = {sp->temperature, sp->top_k, sp->top_p, sp->min_p, sp->repeat_penalty, sp->presence_penalty,
                           sp->frequency_penalty, sp->penalty_last_n, sp->seed};
    const char *seed = getenv("BITNET_SEED");
    if (seed && *seed) p.seed = strtoull(seed, NULL, 10);
    if (env_is("BITNET_DETERMINISTIC", "1")) p.temperature = 0.0f;
    return bn_sampler_create(&p, (int)n_vocab);
}

typedef struct {
    bitnet_session *s;
    const bitnet_generate_params *p;
    bn_sampler *sampler;
    bn_stop *stop;
    bn_detok_stream *detok;
    float *logits;
    int64_t n_vocab;
} gen_run;

static bool is_stop_id(const bitnet_generate_params *p, int32_t id) {
    for (int i = 0; i < p->n_stop_ids; i++)
        if (p->stop_ids[i] == id) return true;
    return false;
}

/* Emits the text of `tok` through the stop matcher; returns a stop reason or 0. */
static int emit_text(gen_run *g, int32_t tok) {
    const bitnet_generate_params *p = g->p;
    size_t len = 0;
    const char *bytes = "";
    if (g->detok && !(bytes = bn_detok_stream_push(g->detok, tok, &len))) return -1;
    bn_stop_result r = {0};
    if (g->stop) {
        if (bn_stop_feed(g->stop, bytes, len, &r) != 0) return -1;
    } else {
        r.emit = bytes;
        r.n_emit = len;
        r.stop_index = -1;
    }
    if (p->on_token && p->on_token(tok, r.emit, r.n_emit, p->user_data)) return BITNET_STOP_CALLBACK;
    return r.stop_index >= 0 ? BITNET_STOP_STRING : 0;
}

/* Emits what the detokenizer and the stop matcher still hold when generation ends. */
static void flush_text(gen_run *g) {
    size_t len = 0;
    const char *bytes = g->detok ? bn_detok_stream_flush(g->detok, &len) : NULL;
    bn_stop_result r = {0};
    if (g->stop) {
        if (bytes && len && bn_stop_feed(g->stop, bytes, len, &r) == 0 && r.n_emit && g->p->on_token)
            g->p->on_token(-1, r.emit, r.n_emit, g->p->user_data);
        if (r.stop_index >= 0) return;
        bn_stop_flush(g->stop, &r);
    } else {
        r.emit = bytes;
        r.n_emit = len;
    }
    if (r.n_emit && g->p->on_token) g->p->on_token(-1, r.emit, r.n_emit, g->p->user_data);
}

static int generate_loop(gen_run *g, int32_t *out, int max_out, bitnet_generate_result *res) {
    const bitnet_generate_params *p = g->p;
    bn_state *st = g->s->state;
    const bn_tokenizer *tok = g->s->model->tokenizer;
    double t_start = bn_time_now();
    for (;;) {
        if (p->abort_flag && *p->abort_flag) return BITNET_STOP_CALLBACK;
        int32_t id = bn_sampler_sample(g->sampler, g->logits);
        if (id < 0) return bn_error(BITNET_ERR_INFERENCE_FAILED, "sampling failed: %s", bn_last_error_message());
        bn_sampler_accept(g->sampler, id);
        if (res->n_generated == 0) res->time_to_first_token_seconds = res->prefill_seconds + (bn_time_now() - t_start);
        if (out && res->n_generated < max_out) out[res->n_generated] = id;
        res->n_generated++;
        if (p->on_logits && p->on_logits(g->logits, g->n_vocab, id, p->user_data)) return BITNET_STOP_CALLBACK;
        if (is_stop_id(p, id)) return BITNET_STOP_ID;
        if (!p->ignore_eog && tok && bn_tokenizer_is_eog(tok, id)) return BITNET_STOP_EOG;
        int why = emit_text(g, id);
        if (why < 0) return bn_error(BITNET_ERR_INFERENCE_FAILED, "detokenization failed: %s", bn_last_error_message());
        if (why) return why;
        if (p->max_tokens > 0 && res->n_generated >= p->max_tokens) return BITNET_STOP_MAX_TOKENS;
        if (bn_state_n_past(st) >= bn_state_n_ctx(st)) return BITNET_STOP_CONTEXT_FULL;
        int rc = bn_state_eval(st, &id, 1, g->logits, false);
        res->decode_seconds = bn_time_now() - t_start;
        if (rc) return rc;
    }
}

static void free_run(gen_run *g) {
    bn_sampler_free(g->sampler);
    bn_stop_free(g->stop);
    bn_detok_stream_free(g->detok);
    free(g->logits);
}

BITNET_API int bitnet_session_generate(bitnet_session *s, const int32_t *prompt, int n_prompt, const bitnet_generate_params *p,
                                       int32_t *out_tokens, int max_out, bitnet_generate_result *result) {
    if (!s || !p || n_prompt < 1 || !prompt || max_out < 0 || (max_out > 0 && !out_tokens))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_generate: NULL session/params/prompt, n_prompt < 1 or bad output buffer");
    if (p->struct_size < sizeof *p)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_generate_params.struct_size is %zu; use bitnet_generate_default_params()", p->struct_size);
    if ((p->n_stop_strings > 0 && !p->stop_strings) || (p->n_stop_ids > 0 && !p->stop_ids) || p->n_stop_strings < 0 || p->n_stop_ids < 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_generate: stop lists and counts disagree");
    for (int i = 0; i < p->n_stop_strings; i++)
        if (!p->stop_strings[i] || !p->stop_strings[i][0])
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_generate: stop string %d is NULL or empty", i);
    bitnet_generate_result local;
    bitnet_generate_result *res = result ? result : &local;
    size_t rsize = result ? result->struct_size : sizeof local;
    memset(res, 0, sizeof *res);
    res->struct_size = rsize;
    res->n_prompt = n_prompt;
    gen_run g = {.s = s, .p = p, .n_vocab = s->model->m->hp.n_vocab};
    const bn_tokenizer *tok = s->model->tokenizer;
    int rc = 0;
    if (!(g.logits = bn_malloc((size_t)g.n_vocab * sizeof(float), "logits")) || !(g.sampler = make_sampler(&p->sampling, g.n_vocab)))
        rc = bn_last_error_status() ? bn_last_error_status() : BITNET_ERR_INVALID_ARGUMENT;
    if (!rc && p->n_stop_strings && !(g.stop = bn_stop_create(p->stop_strings, (size_t)p->n_stop_strings))) rc = bn_last_error_status();
    if (!rc && tok && !(g.detok = bn_detok_stream_new(tok, false))) rc = bn_last_error_status();
    if (!rc && p->n_stop_strings && !tok)
        rc = bn_error(BITNET_ERR_UNSUPPORTED, "stop strings need a tokenizer; this model has none");
    if (!rc) {
        for (int i = 0; i < n_prompt; i++) bn_sampler_accept(g.sampler, prompt[i]); /* penalties see the prompt too */
        double t0 = bn_time_now();
        rc = bn_state_eval(s->state, prompt, n_prompt, g.logits, false);
        res->prefill_seconds = bn_time_now() - t0;
    }
    if (!rc) {
        int why = generate_loop(&g, out_tokens, max_out, res);
        if (why > 0) {
            res->stop_reason = (bitnet_stop_reason)why;
            if (why != BITNET_STOP_STRING) flush_text(&g);
        } else {
            rc = why;
        }
    }
    free_run(&g);
    return rc;
}
