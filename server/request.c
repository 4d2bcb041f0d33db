/* request: a request body becomes a parsed request and its prompt ids (see request.h). */
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/gbnf.h"
#include "text/json_schema.h"
#include "util.h"

int request_tokenize(const bitnet_model *model, const char *text, size_t len, bool add_special, bool parse_special,
                     int32_t **out) {
    *out = NULL;
    int n = bitnet_model_tokenize(model, text, len, add_special, parse_special, NULL, 0);
    if (n < 0) return n;
    if (!(*out = malloc(sizeof(int32_t) * (size_t)(n ? n : 1)))) return BITNET_ERR_OUT_OF_MEMORY;
    if (n && bitnet_model_tokenize(model, text, len, add_special, parse_special, *out, n) != n) {
        free(*out);
        *out = NULL;
        return BITNET_ERR_INTERNAL;
    }
    return n;
}

char *request_detokenize(const bitnet_model *model, const int32_t *ids, size_t n, size_t *len) {
    size_t cap = 256;
    char *text = malloc(cap);
    *len = 0;
    for (size_t i = 0; text && i < n; i++) {
        int k = bitnet_model_token_to_piece(model, ids[i], 1, NULL, 0);
        while (text && k > 0 && *len + (size_t)k > cap) {
            char *bigger = realloc(text, cap *= 2);
            if (!bigger) free(text);
            text = bigger;
        }
        int got = text ? bitnet_model_token_to_piece(model, ids[i], 1, text + *len, cap - *len) : 0;
        *len += got > 0 ? (size_t)got : 0;
    }
    return text;
}

json_t *request_echo_texts(const bitnet_model *model, const api_prompt *prompts, int n) {
    json_t *all = json_array();
    for (int i = 0; all && i < n; i++) {
        char *text = strdup("");
        size_t len = 0;
        for (int k = 0; text && k < prompts[i].n_parts; k++) {
            const api_prompt_part *part = &prompts[i].parts[k];
            size_t n_piece = 0;
            char *piece = part->text ? strdup(part->text) : request_detokenize(model, &part->id, 1, &n_piece);
            if (part->text && piece) n_piece = strlen(piece);
            char *longer = piece ? realloc(text, len + n_piece + 1) : NULL;
            if (longer) memcpy(longer + len, piece, n_piece), len += n_piece;
            else free(text);
            text = longer;
            free(piece);
        }
        if (!text || json_array_append_new(all, api_text(text, len))) json_decref(all), all = NULL;
        free(text);
    }
    return all;
}

/* A chat's prompt text: a conversation that ends with an assistant message is continued from
 * that message (llama-server's assistant prefill, unless --no-prefill-assistant; or asked with
 * continue_final_message), any other gets the assistant's turn opened (unless
 * add_generation_prompt is false). NULL with *err. */
static char *render_conversation(const request_model *m, const api_request *rq, api_error *err) {
    size_t n = rq->n_messages;
    bool prefill = rq->continue_final || (m->prefill_assistant && n > 0 && rq->messages[n - 1].role == BN_CHAT_ASSISTANT);
    if (prefill && n >= 2 && rq->messages[n - 2].role == BN_CHAT_ASSISTANT) {
        api_errorf(err, 400, "the conversation ends with two assistant messages: the last one is continued (an assistant prefill) and "
                             "cannot follow another");
        return NULL;
    }
    if (prefill && (rq->last_has_calls || rq->tools.choice != TOOLS_OFF)) {
        api_errorf(err, 400, "the conversation ends with an assistant message, which the reply continues (an assistant prefill); "
                             "that cannot be done %s (end it with a user or tool message, or see --no-prefill-assistant)",
                   rq->last_has_calls ? "to a message with tool_calls" : "with tools");
        return NULL;
    }
    char *text = prefill ? bn_chat_render_continue(m->chat_format, rq->messages, n)
                         : bn_chat_render(m->chat_format, rq->messages, n, !rq->no_generation_prompt);
    if (!text) api_errorf(err, 400, "cannot render the conversation: %s", bitnet_get_last_error());
    return text;
}

char *request_render_chat(const request_model *m, const char *body, size_t len, api_error *err) {
    api_request rq;
    if (api_parse_request(API_CHAT, body, len, 0, m->defaults, &rq, err)) return NULL;
    char *text = render_conversation(m, &rq, err);
    api_request_free(&rq);
    return text;
}

/* Tokenizes a rendered prompt (BOS and special tokens); the count or -1 with *err. */
static int tokenize_prompt(const request_model *m, const char *text, int32_t **ids, api_error *err) {
    int n = request_tokenize(m->model, text, strlen(text), true, true, ids);
    if (n == BITNET_ERR_OUT_OF_MEMORY) return api_errorf(err, 500, "out of memory");
    if (n < 0) return api_errorf(err, 500, "tokenization failed: %s", bitnet_get_last_error());
    return n;
}

static int chat_prompt(const request_model *m, const api_request *rq, int32_t **ids, api_error *err) {
    char *text = render_conversation(m, rq, err);
    if (!text) return -1;
    int n = tokenize_prompt(m, text, ids, err);
    free(text);
    return n;
}

int request_parts_ids(const request_model *m, const api_prompt_part *parts, int n_parts, const char *field, int32_t **ids,
                      api_error *err) {
    size_t cap = 64, n = 0;
    int32_t *all = malloc(sizeof *all * cap);
    for (int i = 0; all && i < n_parts; i++) {
        const api_prompt_part *part = &parts[i];
        int32_t *piece = NULL, one = part->id;
        int k = 1;
        if (part->text && (k = request_tokenize(m->model, part->text, strlen(part->text), i == 0, true, &piece)) < 0) {
            free(all);
            return k == BITNET_ERR_OUT_OF_MEMORY ? api_errorf(err, 500, "out of memory")
                                                 : api_errorf(err, 500, "tokenization failed: %s", bitnet_get_last_error());
        }
        if (!part->text && one >= m->n_vocab) {
            free(all);
            return api_errorf(err, 400, "'%s[%d]' = %d is not a token id of this model (0..%lld)", field, i, one, (long long)m->n_vocab - 1);
        }
        while (all && n + (size_t)k > cap) {
            int32_t *bigger = realloc(all, sizeof *all * (cap *= 2));
            if (!bigger) free(all);
            all = bigger;
        }
        if (all) memcpy(all + n, part->text ? piece : &one, sizeof *all * (size_t)k);
        n += (size_t)k;
        free(piece);
        if (n > INT32_MAX / 2) break; /* the limits below refuse it */
    }
    if (!all) return api_errorf(err, 500, "out of memory");
    *ids = all;
    return (int)n;
}

/* The limits of one prompt of n tokens (`what` names it in errors): --max-prompt-tokens and a
 * slot's context, which must leave a position for the reply. */
static int check_prompt_length(const request_model *m, const char *what, int n, api_error *err) {
    int cap = m->max_prompt_tokens;
    if (n == 0) return api_errorf(err, 400, "%s has no tokens", what);
    if (cap && n > cap)
        return api_errorf(err, 400, "%s has %d tokens, %d more than the server's limit of %d (--max-prompt-tokens)", what, n, n - cap, cap);
    if (n >= m->slot_ctx)
        return api_errorf(err, 400,
                          "%s has %d tokens, %lld more than a slot's context of %lld tokens allows (at most %lld prompt tokens, "
                          "leaving room for one generated token)",
                          what, n, (long long)(n - m->slot_ctx + 1), (long long)m->slot_ctx, (long long)m->slot_ctx - 1);
    return 0;
}

int request_prompts_ids(const request_model *m, const api_prompt *prompts, int n, const char *name, bool several, int32_t ***ids,
                        int **n_ids, api_error *err) {
    *n_ids = calloc((size_t)n, sizeof **n_ids);
    if (!(*ids = calloc((size_t)n, sizeof **ids)) || !*n_ids) return api_errorf(err, 500, "out of memory");
    for (int i = 0; i < n; i++) {
        char field[64], what[80];
        if (several) snprintf(field, sizeof field, "%s[%d]", name, i);
        else snprintf(field, sizeof field, "%s", name);
        snprintf(what, sizeof what, "'%s'", field);
        int k = request_parts_ids(m, prompts[i].parts, prompts[i].n_parts, field, &(*ids)[i], err);
        if (k < 0 || check_prompt_length(m, what, k, err)) return -1;
        (*n_ids)[i] = k;
    }
    return 0;
}

/* The prompt ids of a parsed request: a chat's rendered conversation, or each prompt's. 0 or -1. */
static int request_prompts(const request_model *m, api_request *rq, gen_request *out, api_error *err) {
    if (rq->kind != API_CHAT) {
        out->n_prompts = rq->n_prompts;
        return request_prompts_ids(m, rq->prompts, rq->n_prompts, "prompt", rq->several_prompts, &out->ids, &out->n_ids, err);
    }
    out->n_ids = calloc(1, sizeof *out->n_ids);
    if (!(out->ids = calloc(1, sizeof *out->ids)) || !out->n_ids) return api_errorf(err, 500, "out of memory");
    out->n_prompts = 1;
    int n = chat_prompt(m, rq, &out->ids[0], err);
    if (n < 0 || check_prompt_length(m, "the prompt", n, err)) return -1;
    out->n_ids[0] = n;
    return 0;
}

/* bn_gbnf_token_lookup over the model served: the id of the one token text is (special
 * tokens parsed), or -1. */
static int64_t one_token(void *model, const char *text, size_t len) {
    int32_t ids[2];
    return bitnet_model_tokenize(model, text, len, 0, 1, ids, 2) == 1 ? ids[0] : -1;
}

/* Compiles a JSON Schema, or a grammar (its token references found in and checked against
 * the model's vocabulary), only to check it (a 400 before the job queues; generation compiles
 * its own). 0, or -1 with *err naming the field. */
static int check_constraint(const request_model *m, const char *text, bool grammar, const char *field, api_error *err) {
    int64_t n_vocab = m->n_vocab;
    bn_json_schema *schema = grammar ? NULL : bn_json_schema_compile(text, strlen(text));
    bn_gbnf *g = grammar ? bn_gbnf_compile_tokens(text, strlen(text), one_token, (void *)m->model) : NULL;
    int64_t token = g ? bn_gbnf_max_token(g) : -1;
    bool compiled = schema || g;
    bn_json_schema_free(schema);
    bn_gbnf_free(g);
    if (token >= n_vocab)
        return api_errorf(err, 400, "'%s': the token reference <[%lld]> is not a token of this model (0..%lld)", field, (long long)token,
                          (long long)n_vocab - 1);
    if (compiled) return 0;
    return api_errorf(err, bn_last_error_status() == BITNET_ERR_OUT_OF_MEMORY ? 500 : 400, "'%s': %s", field, bn_last_error_message());
}

/* The response format's schema, or with tools each function's parameters and then the reply's
 * schema that holds them all; or the grammar. */
static int check_constraints(const request_model *m, const api_request *rq, api_error *err) {
    char field[64];
    for (int i = 0; rq->tools.choice != TOOLS_OFF && i < rq->tools.n; i++) {
        snprintf(field, sizeof field, "tools[%d].function.parameters", i);
        if (rq->tools.parameters[i] && check_constraint(m, rq->tools.parameters[i], false, field, err)) return -1;
    }
    if (rq->grammar && check_constraint(m, rq->grammar, true, "grammar", err)) return -1;
    return rq->json_schema ? check_constraint(m, rq->json_schema, false, rq->json_schema_field, err) : 0;
}

/* Appends the tokens of one of logit_bias's strings (no BOS, no special tokens, as llama-server
 * tokenizes them) with its bias, at most API_MAX_LOGIT_BIAS entries in all. 0, or -1 with *err. */
static int add_bias_text(const request_model *m, api_request *rq, const api_bias_text *t, api_error *err) {
    int32_t *ids;
    int n = request_tokenize(m->model, t->text, strlen(t->text), false, false, &ids);
    if (n == BITNET_ERR_OUT_OF_MEMORY) return api_errorf(err, 500, "out of memory");
    if (n < 0) return api_errorf(err, 500, "tokenization failed: %s", bitnet_get_last_error());
    int total = rq->n_logit_bias + n;
    bitnet_logit_bias *all = total <= API_MAX_LOGIT_BIAS ? realloc(rq->logit_bias, sizeof *all * (size_t)(total ? total : 1)) : NULL;
    if (all) {
        for (int i = 0; i < n; i++) all[rq->n_logit_bias + i] = (bitnet_logit_bias){.token = ids[i], .bias = t->bias};
        rq->logit_bias = all;
        rq->n_logit_bias = total;
    }
    free(ids);
    if (total > API_MAX_LOGIT_BIAS)
        return api_errorf(err, 400, "'logit_bias' biases more than %d tokens once its strings are tokenized", API_MAX_LOGIT_BIAS);
    return all ? 0 : api_errorf(err, 500, "out of memory");
}

/* The logit bias: its ids checked against the vocabulary, then its strings' tokens added. */
static int logit_bias_tokens(const request_model *m, api_request *rq, api_error *err) {
    for (int i = 0; i < rq->n_logit_bias; i++)
        if (rq->logit_bias[i].token >= m->n_vocab)
            return api_errorf(err, 400, "'logit_bias': %d is not a token id of this model (0..%lld)", rq->logit_bias[i].token,
                              (long long)m->n_vocab - 1);
    for (int i = 0; i < rq->n_bias_texts; i++)
        if (add_bias_text(m, rq, &rq->bias_texts[i], err)) return -1;
    rq->gen.logit_bias = rq->logit_bias;
    rq->gen.n_logit_bias = rq->n_logit_bias;
    return 0;
}

/* The prediction's tokens (as the reply's text: no BOS, no special tokens), the first slot_ctx
 * of them (a reply never gets further). 0, or -1 with *err. */
static int prediction_tokens(const request_model *m, gen_request *out, api_error *err) {
    const char *text = out->api.prediction;
    if (!text) return 0;
    int n = request_tokenize(m->model, text, strlen(text), false, false, &out->prediction);
    if (n == BITNET_ERR_OUT_OF_MEMORY) return api_errorf(err, 500, "out of memory");
    if (n < 0) return api_errorf(err, 500, "tokenization failed: %s", bitnet_get_last_error());
    out->n_prediction = n < m->slot_ctx ? n : (int)m->slot_ctx;
    out->api.gen.prediction = out->prediction;
    out->api.gen.n_prediction = out->n_prediction;
    return 0;
}

int request_build(const request_model *m, api_kind kind, const char *body, size_t len, uint64_t default_seed,
                  gen_request *out, api_error *err) {
    memset(out, 0, sizeof *out);
    if (api_parse_request(kind, body, len, default_seed, m->defaults, &out->api, err)) return -1;
    if (logit_bias_tokens(m, &out->api, err) || check_constraints(m, &out->api, err) || prediction_tokens(m, out, err)) {
        gen_request_free(out);
        return -1;
    }
    if (request_prompts(m, &out->api, out, err)) {
        gen_request_free(out);
        return -1;
    }
    int cap = m->max_tokens_cap;
    if (cap && (out->api.gen.max_tokens <= 0 || out->api.gen.max_tokens > cap)) out->api.gen.max_tokens = cap;
    return 0;
}

void gen_request_free(gen_request *r) {
    api_request_free(&r->api);
    for (int i = 0; r->ids && i < r->n_prompts; i++) free(r->ids[i]);
    free(r->ids);
    free(r->n_ids);
    free(r->prediction);
    r->prediction = NULL;
    r->n_prediction = 0;
    r->ids = NULL;
    r->n_ids = NULL;
    r->n_prompts = 0;
}
