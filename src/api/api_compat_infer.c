/* api_compat_infer: the compatibility surface's one-shot calls: text inference (single and
 * batch), tokenization, token-level generation and all-position logits. Each call borrows a
 * session from the model's pool, so calls on one model run in parallel.
 *
 * Text outputs follow BitNet-rs: a text cut to fit max_len is a success that returns the
 * bytes written; the thread's last error then notes the cut (bn_compat_copy_text). The text
 * is collected with a limit of max_len bytes, so generation (or detokenization) stops as
 * soon as the output cannot take more: at most the one token whose text did not fit is
 * generated beyond what is written. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_compat.h"
#include "util.h"

enum { DEFAULT_SEED = 42, PENALTY_WINDOW = 64 };

int bn_compat_generate_params(const BitNetCInferenceConfig *config, bitnet_generate_params *out) {
    BitNetCInferenceConfig defaults = bitnet_inference_config_default();
    const BitNetCInferenceConfig *c = config ? config : &defaults;
    if (isnan(c->temperature) || isnan(c->top_p) || c->top_p < 0 || c->top_p > 1 || !(c->repetition_penalty >= 0) ||
        isnan(c->frequency_penalty) || isnan(c->presence_penalty) || c->top_k > INT_MAX)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT,
                        "BitNetCInferenceConfig: top_p must be in [0, 1], repetition_penalty >= 0, no NaN (top_p %g, repetition_penalty %g)",
                        (double)c->top_p, (double)c->repetition_penalty);
    if (c->backend_preference == BITNET_BACKEND_GPU)
        return bn_error(BITNET_ERR_UNSUPPORTED, "BitNetCInferenceConfig.backend_preference: this build has no GPU backend");
    if (c->backend_preference > BITNET_BACKEND_GPU)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "BitNetCInferenceConfig.backend_preference %u (0 auto, 1 cpu, 2 gpu)", c->backend_preference);
    bitnet_generate_params p = bitnet_generate_default_params();
    p.max_tokens = c->max_new_tokens > INT_MAX ? INT_MAX : (int)c->max_new_tokens;
    bitnet_sampling_params *s = &p.sampling;
    s->temperature = c->do_sample ? c->temperature : 0.0f;
    s->top_k = (int)c->top_k;
    s->top_p = c->top_p > 0 ? c->top_p : 1.0f;
    s->min_p = 0.0f;
    s->repeat_penalty = c->repetition_penalty > 0 ? c->repetition_penalty : 1.0f;
    s->frequency_penalty = c->frequency_penalty;
    s->presence_penalty = c->presence_penalty;
    s->penalty_last_n = PENALTY_WINDOW;
    s->seed = c->seed ? c->seed : DEFAULT_SEED;
    *out = p;
    return 0;
}

int bn_compat_fit(const BitNetCInferenceConfig *c, bitnet_session *s, int n_prompt, bitnet_generate_params *gp) {
    int64_t room = bitnet_session_n_ctx(s) - bitnet_session_n_past(s);
    if (c && c->max_length && (int64_t)c->max_length < room) room = c->max_length;
    if (n_prompt >= room)
        return bn_error(BITNET_ERR_CONTEXT_EXCEEDED, "the prompt has %d tokens; the context (or max_length) leaves room for %lld, so nothing can be generated",
                        n_prompt, (long long)room);
    int64_t left = room - n_prompt;
    if (gp->max_tokens <= 0 || gp->max_tokens > left) gp->max_tokens = left > INT_MAX ? INT_MAX : (int)left;
    return 0;
}

int bn_compat_tokenize_prompt(compat_model *cm, const char *prompt, int32_t **out) {
    *out = NULL;
    size_t len = strlen(prompt);
    int n = bitnet_model_tokenize(cm->model, prompt, len, 1, 1, NULL, 0);
    if (n < 0) return n;
    if (n == 0) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "the prompt gives no tokens (empty prompt and no BOS in the vocabulary)");
    int32_t *ids = bn_malloc((size_t)n * sizeof *ids, "prompt tokens");
    if (!ids) return BITNET_ERR_OUT_OF_MEMORY;
    int rc = bitnet_model_tokenize(cm->model, prompt, len, 1, 1, ids, n);
    if (rc < 0) {
        free(ids);
        return rc;
    }
    *out = ids;
    return n;
}

/* Generates from prompt ids on a borrowed session; text (may be NULL) collects the output
 * text, ids (may be NULL) the first max_ids generated ids. Returns the count generated. */
static int generate(compat_model *cm, const int32_t *prompt, int n_prompt, const BitNetCInferenceConfig *c, compat_text *text,
                    int32_t *ids, int max_ids) {
    bitnet_generate_params gp;
    int rc = bn_compat_generate_params(c, &gp);
    if (rc) return rc;
    if (ids && (gp.max_tokens <= 0 || gp.max_tokens > max_ids)) gp.max_tokens = max_ids;
    if (text) {
        gp.on_token = bn_compat_collect_text;
        gp.user_data = text;
    }
    double t0 = bn_time_now();
    bitnet_session *s;
    if ((rc = bn_compat_borrow(cm, &s))) return rc;
    rc = bn_compat_fit(c, s, n_prompt, &gp);
    bitnet_generate_result res = {.struct_size = sizeof res};
    if (!rc) rc = bitnet_session_generate(s, prompt, n_prompt, &gp, ids, ids ? max_ids : 0, &res);
    bn_compat_return(cm, s);
    if (!rc && text && text->oom) rc = bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory collecting the output text");
    if (rc) return rc;
    bn_compat_record(cm, &res, bn_time_now() - t0);
    return res.n_generated;
}

static int infer_text(compat_model *cm, const char *prompt, const BitNetCInferenceConfig *c, char *output, size_t max_len) {
    int32_t *ids;
    int n = bn_compat_tokenize_prompt(cm, prompt, &ids);
    if (n < 0) return n;
    compat_text text = {.limit = max_len};
    int rc = generate(cm, ids, n, c, &text, NULL, 0);
    free(ids);
    if (rc >= 0) rc = bn_compat_copy_text(text.data ? text.data : "", text.len, output, max_len, "bitnet_inference");
    free(text.data);
    return rc;
}

BITNET_API int bitnet_inference_with_config(int model_id, const char *prompt, const BitNetCInferenceConfig *config, char *output,
                                            size_t max_len) {
    if (!output || max_len == 0) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_inference: output is NULL or max_len is 0");
    output[0] = '\0';
    if (!prompt) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_inference: prompt is NULL");
    compat_model *cm = bn_compat_model(model_id, "bitnet_inference");
    if (!cm) return BITNET_ERR_INVALID_ID;
    int rc = infer_text(cm, prompt, config, output, max_len);
    bn_compat_release(&cm->obj);
    return rc;
}

BITNET_API int bitnet_inference(int model_id, const char *prompt, char *output, size_t max_len) {
    return bitnet_inference_with_config(model_id, prompt, NULL, output, max_len);
}

BITNET_API int bitnet_batch_inference(int model_id, const char **prompts, size_t num_prompts, const BitNetCInferenceConfig *config,
                                      char **outputs, const size_t *max_lens) {
    if (!prompts || !outputs || !max_lens || num_prompts == 0 || num_prompts > INT_MAX)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_inference: NULL array or num_prompts 0");
    int ok = 0, last_rc = 0;
    char last_msg[512] = "", cut[256] = "";
    size_t n_cut = 0;
    for (size_t i = 0; i < num_prompts; i++) {
        int rc = outputs[i] ? bitnet_inference_with_config(model_id, prompts[i], config, outputs[i], max_lens[i])
                            : bn_error(BITNET_ERR_INVALID_ARGUMENT, "outputs[%zu] is NULL", i);
        if (rc >= 0) {
            ok++;
            if (bn_compat_truncated() && n_cut++ < 16) snprintf(cut + strlen(cut), sizeof cut - strlen(cut), " %zu", i);
            continue;
        }
        if (rc == BITNET_ERR_INVALID_ID) return rc; /* no model: nothing can succeed */
        last_rc = rc;
        snprintf(last_msg, sizeof last_msg, "prompt %zu: %s", i, bitnet_get_last_error());
    }
    if (last_rc) bn_error(last_rc, "bitnet_batch_inference: %d of %zu succeeded; %s", ok, num_prompts, last_msg);
    else if (n_cut) bn_error(BITNET_ERR_BUFFER_TOO_SMALL, "bitnet_batch_inference: output truncated for %zu prompt(s) (to fit max_lens):%s%s", n_cut, cut, n_cut > 16 ? " ..." : "");
    else bitnet_clear_last_error();
    return ok;
}

/* ---- token level ---- */

BITNET_API int bitnet_tokenize(int model_id, const char *text, int add_special, int32_t *tokens, int max_tokens) {
    if (!text) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_tokenize: text is NULL");
    compat_model *cm = bn_compat_model(model_id, "bitnet_tokenize");
    if (!cm) return BITNET_ERR_INVALID_ID;
    int rc = bitnet_model_tokenize(cm->model, text, strlen(text), add_special, 1, tokens, max_tokens);
    bn_compat_release(&cm->obj);
    return rc;
}

/* The text of tokens into out; stops early once out->limit is reached (the rest cannot fit). */
static int detok(compat_model *cm, const int32_t *tokens, int n, compat_text *out) {
    char piece[256];
    for (int i = 0; i < n && !(out->limit && out->len >= out->limit); i++) {
        int len = bitnet_model_token_to_piece(cm->model, tokens[i], 1, piece, sizeof piece);
        char *big = NULL;
        if (len == BITNET_ERR_BUFFER_TOO_SMALL) { /* a very long token */
            int need = bitnet_model_token_to_piece(cm->model, tokens[i], 1, NULL, 0);
            if (need < 0 || !(big = bn_malloc((size_t)need, "token text"))) return need < 0 ? need : BITNET_ERR_OUT_OF_MEMORY;
            len = bitnet_model_token_to_piece(cm->model, tokens[i], 1, big, (size_t)need);
        }
        bool ok = len >= 0 && bn_compat_text_append(out, big ? big : piece, (size_t)len);
        free(big);
        if (len < 0) return len;
        if (!ok) return bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory detokenizing");
    }
    return 0;
}

BITNET_API int bitnet_detokenize(int model_id, const int32_t *tokens, int n_tokens, char *text, size_t max_len) {
    if (n_tokens < 0 || (n_tokens > 0 && !tokens) || (!text != !max_len))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_detokenize: NULL tokens, negative count, or only one of text and max_len given");
    compat_model *cm = bn_compat_model(model_id, "bitnet_detokenize");
    if (!cm) return BITNET_ERR_INVALID_ID;
    compat_text out = {.limit = text ? max_len : 0};
    int rc = detok(cm, tokens, n_tokens, &out);
    bn_compat_release(&cm->obj);
    if (!rc && out.len > INT_MAX) rc = bn_error(BITNET_ERR_UNSUPPORTED, "bitnet_detokenize: text over 2 GiB");
    if (!rc && !text) rc = (int)out.len;
    else if (!rc) rc = bn_compat_copy_text(out.data ? out.data : "", out.len, text, max_len, "bitnet_detokenize");
    free(out.data);
    return rc;
}

BITNET_API int bitnet_inference_tokens(int model_id, const int32_t *tokens_in, int n_in, const BitNetCInferenceConfig *config,
                                       int32_t *tokens_out, int max_out, int *n_out) {
    if (n_out) *n_out = 0;
    if (!tokens_in || n_in < 1 || !tokens_out || max_out < 1)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_inference_tokens: NULL tokens, n_in < 1 or max_out < 1");
    compat_model *cm = bn_compat_model(model_id, "bitnet_inference_tokens");
    if (!cm) return BITNET_ERR_INVALID_ID;
    int rc = generate(cm, tokens_in, n_in, config, NULL, tokens_out, max_out);
    bn_compat_release(&cm->obj);
    if (rc >= 0 && n_out) *n_out = rc;
    return rc;
}

BITNET_API int bitnet_eval_logits(int model_id, const int32_t *tokens, int n_tokens, float *logits_out) {
    if (!tokens || n_tokens < 1 || !logits_out)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_eval_logits: NULL tokens/logits or n_tokens < 1");
    compat_model *cm = bn_compat_model(model_id, "bitnet_eval_logits");
    if (!cm) return BITNET_ERR_INVALID_ID;
    bitnet_session *s;
    int rc = bn_compat_borrow(cm, &s);
    if (!rc) {
        rc = bitnet_session_eval(s, tokens, n_tokens, logits_out, 1);
        bn_compat_return(cm, s);
    }
    bn_compat_release(&cm->obj);
    return rc;
}
