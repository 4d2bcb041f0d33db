/* native: llama-server's /completion replies, /props and /apply-template (see native.h).
 *
 * Field names and shapes follow llama-server's README; what this engine does not have is left
 * out rather than faked (no speculative decoding, no multimodal data). */
#include "native.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "server.h"

/* The sampler chain of the library (sampler.c), in llama-server's names where one exists. */
/* The chain in llama-server's names: the request's "samplers", else the default order (mirostat
 * replaces it: only the temperature is left). */
static json_t *sampler_names(const api_request *rq) {
    if (rq->gen.sampling_extra.mirostat) return json_pack("[s]", "temperature");
    json_t *list = json_array();
    for (int k = 0; k < (rq->n_samplers < 0 ? BN_N_SAMPLER_KINDS : rq->n_samplers); k++)
        json_array_append_new(list, json_string(bn_sampler_kind_names[rq->n_samplers < 0 ? k : rq->samplers[k]]));
    return list;
}

static json_t *stop_list(const job *j) {
    json_t *stops = json_array();
    const char *s;
    for (int i = 0; (s = job_stop_string(j, i)); i++) json_array_append_new(stops, api_text(s, strlen(s)));
    return stops;
}

/* The DRY breakers in force (llama.cpp's defaults when the request gave none). */
static json_t *dry_breaker_list(const bitnet_sampling_extra *x) {
    if (!x->dry_sequence_breakers) return json_pack("[s, s, s, s]", "\n", ":", "\"", "*");
    json_t *list = json_array();
    for (int i = 0; i < x->n_dry_sequence_breakers; i++)
        json_array_append_new(list, api_text(x->dry_sequence_breakers[i], strlen(x->dry_sequence_breakers[i])));
    return list;
}

/* llama-server's form: [{"bias", "token"}], a ban's bias null (its JSON of -inf). */
static json_t *bias_list(const api_request *rq) {
    json_t *list = json_array();
    for (int i = 0; list && i < rq->n_logit_bias; i++) {
        float b = rq->logit_bias[i].bias;
        json_array_append_new(list, json_pack("{s:o, s:i}", "bias", isinf(b) ? json_null() : json_real(b), "token", rq->logit_bias[i].token));
    }
    return list;
}

json_t *native_settings(const api_request *rq, const job *j, int default_n_keep) {
    const bitnet_sampling_params *s = &rq->gen.sampling;
    json_int_t n_predict = rq->prompt_only ? 0 : rq->gen.max_tokens > 0 ? rq->gen.max_tokens : -1;
    json_t *v = json_pack("{s:I, s:I, s:f, s:i, s:f, s:f, s:i, s:f, s:f, s:f, s:I, s:b, s:b, s:i, s:s, s:o}", "n_predict",
                          n_predict, "seed", (json_int_t)s->seed, "temperature", (double)s->temperature, "top_k", s->top_k,
                          "top_p", (double)s->top_p, "min_p", (double)s->min_p, "repeat_last_n", s->penalty_last_n,
                          "repeat_penalty", (double)s->repeat_penalty, "presence_penalty", (double)s->presence_penalty,
                          "frequency_penalty", (double)s->frequency_penalty, "max_tokens", n_predict, "ignore_eos",
                          rq->gen.ignore_eog != 0, "stream", rq->stream, "n_probs",
                          rq->n_top_logprobs > 0 ? rq->n_top_logprobs : 0, "grammar", rq->grammar ? rq->grammar : "",
                          "samplers", sampler_names(rq));
    const bitnet_sampling_extra *x = &rq->gen.sampling_extra;
    json_t *more = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:f, s:f, s:f, s:f, s:i, s:i, s:o, s:i, s:f, s:f, s:b}", "typical_p", (double)x->typical_p,
                             "top_n_sigma", (double)x->top_n_sigma, "xtc_probability", (double)x->xtc_probability, "xtc_threshold",
                             (double)x->xtc_threshold, "dynatemp_range", (double)x->dynatemp_range, "dynatemp_exponent",
                             (double)x->dynatemp_exponent, "mirostat", x->mirostat, "mirostat_tau", (double)x->mirostat_tau,
                             "mirostat_eta", (double)x->mirostat_eta, "dry_multiplier", (double)x->dry_multiplier, "dry_base",
                             (double)x->dry_base, "dry_allowed_length", x->dry_allowed_length, "dry_penalty_last_n",
                             x->dry_penalty_last_n, "dry_sequence_breakers", dry_breaker_list(x), "min_keep", rq->gen.min_keep,
                             "adaptive_target", (double)rq->gen.adaptive_target, "adaptive_decay", (double)rq->gen.adaptive_decay,
                             "post_sampling_probs", rq->post_sampling_probs);
    if (more) { /* context shift (--context-shift): the request's, else the server's */
        json_object_set_new(more, "n_keep", json_integer(rq->gen.n_keep == JOB_N_KEEP_UNSET ? default_n_keep : rq->gen.n_keep));
        json_object_set_new(more, "n_discard", json_integer(rq->gen.n_discard));
        json_object_set_new(more, "t_max_predict_ms", json_integer(rq->t_max_predict_ms > 0 ? rq->t_max_predict_ms : -1));
        json_object_set_new(more, "n_indent", json_integer(rq->n_indent));
    }
    if (v && more) json_object_update(v, more);
    json_decref(more);
    if (v) json_object_set_new(v, "stop", j ? stop_list(j) : json_array());
    if (v) json_object_set_new(v, "logit_bias", bias_list(rq));
    return v;
}

int native_reply_init(native_reply *r, const api_request *rq, const job *j, int default_n_keep, int32_t *const *ids,
                      const int *n_ids, int n_prompts, const char *model, const bitnet_model *vocab) {
    *r = (native_reply){.settings = native_settings(rq, j, default_n_keep), .prompts = json_array(), .model = model, .vocab = vocab,
                        .n_choices = rq->n_choices > 0 ? rq->n_choices : 1, .prompt_only = rq->prompt_only,
                        .return_tokens = rq->return_tokens, .stream = rq->stream, .post_sampling_probs = rq->post_sampling_probs,
                        .response_fields = rq->response_fields ? json_incref(rq->response_fields) : NULL};
    bool ok = r->settings && r->prompts;
    for (int i = 0; ok && i < n_prompts; i++) {
        size_t len = 0;
        char *text = request_detokenize(vocab, ids[i], (size_t)n_ids[i], &len);
        ok = text && !json_array_append_new(r->prompts, api_text(text, len));
        free(text);
    }
    if (ok) return 0;
    native_reply_free(r);
    return -1;
}

void native_reply_free(native_reply *r) {
    json_decref(r->settings);
    json_decref(r->prompts);
    json_decref(r->response_fields);
    r->response_fields = NULL;
    r->settings = r->prompts = NULL;
}

void native_cursor_free(native_cursor *c) {
    free(c->held);
    c->held = NULL;
    c->n_held = c->cap_held = 0;
}

/* llama-server's "completion_probabilities" entries: {id, token, bytes, logprob, top_logprobs},
 * or with post_sampling_probs {id, token, bytes, prob, top_probs}. */
static json_t *probabilities(const native_reply *r, const job_logprob *lp, size_t n_lp) {
    return api_token_list(r->vocab, lp, n_lp, r->post_sampling_probs, true);
}

static json_t *id_list(const int32_t *ids, size_t n) {
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(list, json_integer(ids[i]));
    return list;
}

/* eos: an end-of-generation token, a stop id or a complete constrained value; word: a stop
 * string; limit: n_predict or the slot's context; none: cut short (a time limit). */
static const char *stop_type(const bitnet_generate_result *res) {
    switch (res->stop_reason) {
    case BITNET_STOP_EOG: case BITNET_STOP_ID: case BITNET_STOP_JSON_COMPLETE: case BITNET_STOP_GRAMMAR_COMPLETE: return "eos";
    case BITNET_STOP_STRING: return "word";
    case BITNET_STOP_MAX_TOKENS: case BITNET_STOP_CONTEXT_FULL: return "limit";
    default: return "none";
    }
}

static double per(double x, double n) { return n > 0 ? x / n : 0; }

/* llama-server's timings; with speculative decoding (--lookup, a prediction) its draft_n and
 * draft_n_accepted too. */
json_t *native_timings(int cache_n, int prompt_n, double prompt_ms, int predicted_n, double predicted_ms) {
    return json_pack("{s:i, s:i, s:f, s:f, s:f, s:i, s:f, s:f, s:f}", "cache_n", cache_n, "prompt_n", prompt_n, "prompt_ms", prompt_ms,
                     "prompt_per_token_ms", per(prompt_ms, prompt_n), "prompt_per_second", per(prompt_n * 1e3, prompt_ms), "predicted_n",
                     predicted_n, "predicted_ms", predicted_ms, "predicted_per_token_ms", per(predicted_ms, predicted_n),
                     "predicted_per_second", per(predicted_n * 1e3, predicted_ms));
}

static json_t *timings(const bitnet_generate_result *res, int n_generated) {
    json_t *t = native_timings(res->n_cached, res->n_prompt - res->n_cached, res->prefill_seconds * 1e3, n_generated, res->decode_seconds * 1e3);
    if (t && res->n_drafted > 0) {
        json_object_set_new(t, "draft_n", json_integer(res->n_drafted));
        json_object_set_new(t, "draft_n_accepted", json_integer(res->n_draft_accepted));
    }
    return t;
}

/* llama-server's response_fields: the values the paths lead to ("a/b" goes into object a),
 * each under its whole path; paths that lead nowhere are left out. Takes over `whole`. */
static json_t *pick_fields(json_t *whole, json_t *paths) {
    json_t *out = json_object(), *p;
    size_t i;
    json_array_foreach(paths, i, p) {
        const char *path = json_string_value(p), *seg = path;
        json_t *at = whole;
        for (const char *slash; at; seg = slash + 1) {
            slash = strchr(seg, '/');
            at = json_is_object(at) ? json_object_getn(at, seg, slash ? (size_t)(slash - seg) : strlen(seg)) : NULL;
            if (!slash) break;
        }
        if (at && out) json_object_set(out, path, at);
    }
    json_decref(whole);
    return out;
}

/* generation_settings of completion `index`: the request's, with its seed (the request's + index). */
static json_t *settings_of(const native_reply *r, int index) {
    if (!(index % r->n_choices)) return json_incref(r->settings);
    json_t *v = json_deep_copy(r->settings);
    json_t *seed = json_object_get(v, "seed");
    if (seed) json_integer_set(seed, json_integer_value(seed) + index % r->n_choices);
    return v;
}

json_t *native_response(const native_reply *r, const native_cursor *c, const job *j, const char *text, size_t len, const int32_t *tokens,
                        size_t n_tokens, const job_logprob *lp, size_t n_lp, const bitnet_generate_result *res) {
    if (r->prompt_only) len = n_tokens = n_lp = 0;
    int n_generated = r->prompt_only ? 0 : res->n_generated;
    const char *word = res->stop_reason == BITNET_STOP_STRING ? job_stop_string(j, res->stop_string_index) : NULL;
    json_t *prompt = json_array_get(r->prompts, (size_t)(c->index / r->n_choices)); /* one text per prompt (native_reply_init) */
    json_t *v = json_pack("{s:i, s:o, s:o, s:i, s:b, s:s, s:i, s:i, s:o, s:O, s:b, s:b, s:s, s:o, s:i, s:o}", "index", c->index,
                          "content", api_text(text, len), "tokens", id_list(tokens, r->return_tokens ? n_tokens : 0), "id_slot",
                          job_slot(j), "stop", 1, "model", r->model, "tokens_predicted", n_generated, "tokens_evaluated",
                          res->n_prompt, "generation_settings", settings_of(r, c->index), "prompt", prompt, "has_new_line",
                          len && memchr(text, '\n', len) != NULL, "truncated", res->stop_reason == BITNET_STOP_CONTEXT_FULL || res->n_discarded > 0,
                          "stop_type", r->prompt_only ? "limit" : stop_type(res), "stopping_word",
                          api_text(word ? word : "", word ? strlen(word) : 0), "tokens_cached", res->n_cached, "timings",
                          timings(res, n_generated));
    if (v && n_lp && !r->stream) json_object_set_new(v, "completion_probabilities", probabilities(r, lp, n_lp));
    return v && r->response_fields ? pick_fields(v, r->response_fields) : v;
}

/* A piece's fields (held: the tokens since the last event). */
static json_t *piece_json(const native_cursor *c, const job *j, const char *text, size_t len, const int32_t *held, size_t n_held) {
    return json_pack("{s:i, s:o, s:o, s:b, s:i, s:i, s:i}", "index", c->index, "content", api_text(text, len), "tokens", id_list(held, n_held),
                     "stop", 0, "id_slot", job_slot(j), "tokens_predicted", c->n_predicted, "tokens_evaluated", job_n_prompt(j));
}

json_t *native_empty_piece(const native_reply *r, const native_cursor *c, const job *j) {
    return r->prompt_only ? NULL : piece_json(c, j, "", 0, NULL, 0);
}

json_t *native_piece(const native_reply *r, native_cursor *c, const job *j, const char *text, size_t len, int32_t token, const job_logprob *lp) {
    if (r->prompt_only) return NULL;
    if (token >= 0 && c->n_held == c->cap_held) {
        size_t cap = c->cap_held ? c->cap_held * 2 : 16;
        int32_t *bigger = realloc(c->held, sizeof *bigger * cap);
        if (bigger) c->held = bigger, c->cap_held = cap;
    }
    if (token >= 0 && c->n_held < c->cap_held) c->held[c->n_held++] = token; /* out of memory: left out of the list */
    if (!len && !lp) return NULL;
    c->n_predicted += (int)c->n_held;
    json_t *v = piece_json(c, j, text, len, c->held, c->n_held);
    if (v && lp) json_object_set_new(v, "completion_probabilities", probabilities(r, lp, 1));
    c->n_held = 0;
    return v;
}

/* ===================================================================== /props, /apply-template */

enum MHD_Result handle_props(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    (void)body, (void)len;
    api_request defaults;
    api_error err;
    static const char no_fields[] = "{\"prompt\": \"\"}";
    if (api_parse_request(API_NATIVE, no_fields, sizeof no_fields - 1, 0, srv->opt.request_defaults, &defaults, &err))
        return http_send_error(c, (unsigned)err.status, "%s", err.message);
    json_t *params = native_settings(&defaults, NULL, srv->opt.n_keep);
    api_request_free(&defaults);
    if (params) json_object_set_new(params, "seed", json_integer(-1)); /* a new one for every request */
    int n = srv->opt.chat_template ? (int)strlen(srv->opt.chat_template) : bitnet_model_meta_str(srv->model, "tokenizer.chat_template", NULL, 0);
    char *template_text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (template_text && srv->opt.chat_template) memcpy(template_text, srv->opt.chat_template, (size_t)n + 1);
    else if (!template_text || bitnet_model_meta_str(srv->model, "tokenizer.chat_template", template_text, (size_t)n + 1) < 0) n = 0;
    json_t *settings = json_pack("{s:i, s:i, s:I, s:b, s:b, s:o}", "id", 0, "id_task", -1, "n_ctx",
                                 (json_int_t)engine_slot_ctx(srv->engine), "speculative", 0, "is_processing",
                                 atomic_load(&srv->n_generating) > 0, "params", params);
    json_t *props = json_pack("{s:o, s:i, s:s, s:o, s:s, s:{s:b, s:b}, s:s, s:b}", "default_generation_settings", settings,
                              "total_slots", engine_n_slots(srv->engine), "model_path", srv->opt.model_path, "chat_template",
                              api_text(n > 0 ? template_text : "", n > 0 ? (size_t)n : 0), "chat_format",
                              bn_chat_format_name(srv->chat_format), "modalities", "vision", 0, "audio", 0, "build_info",
                              bitnet_version(), "is_sleeping", 0);
    free(template_text);
    return http_send_json(c, MHD_HTTP_OK, props);
}

enum MHD_Result handle_apply_template(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    request_model m = server_request_model(srv);
    api_error err;
    char *prompt = request_render_chat(&m, body, len, &err);
    if (!prompt) return http_send_error(c, (unsigned)err.status, "%s", err.message);
    enum MHD_Result ret = http_send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "prompt", api_text(prompt, strlen(prompt))));
    free(prompt);
    return ret;
}
