/* api: the core public API (models, sessions, errors, version) over model.c, forward.c,
 * tokenizer.c and trace.c. Handles are opaque; every entry point validates its arguments and
 * reports failures through the thread-local last error. */
#include "api/api_internal.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/head_screen.h"
#include "formats/types.h"
#include "text/dry_breakers.h"
#include "util.h"

BITNET_API const char *bitnet_get_last_error(void) { return bn_last_error_message(); }
BITNET_API void bitnet_clear_last_error(void) { bn_clear_error(); }
BITNET_API const char *bitnet_version(void) { return BITNET_VERSION_STRING; }
BITNET_API int bitnet_abi_version(void) { return BITNET_ABI_VERSION; }

/* Accepts a versioned struct whose struct_size is at least the first version's size. */
static bool struct_ok(const void *p, size_t size, size_t min_size) { return p && size >= min_size; }

BITNET_API bitnet_model_params bitnet_model_default_params(void) {
    bitnet_model_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    return p;
}

static int parse_pre(const char *s, bn_pre_tokenizer *out) {
    if (!s || !strcmp(s, "auto")) *out = BN_PRE_AUTO;
    else if (!strcmp(s, "default")) *out = BN_PRE_DEFAULT;
    else if (!strcmp(s, "llama3")) *out = BN_PRE_LLAMA3;
    else return bn_error(BITNET_ERR_INVALID_ARGUMENT, "unknown tokenizer pre-tokenizer '%s' (auto, default, llama3)", s);
    return 0;
}

/* The model's own tokenizer, or the one of params->tokenizer_path. A model without tokenizer
 * keys is fine (token-level use only). */
static int load_tokenizer(bitnet_model *model, const bitnet_model_params *p) {
    bn_tokenizer_options opt = {BN_PRE_AUTO};
    int rc = parse_pre(p->tokenizer_pre, &opt.pre);
    if (rc) return rc;
    if (p->tokenizer_path) {
        gguf_file *vf = gguf_open(p->tokenizer_path);
        if (!vf) return bn_last_error_status();
        model->tokenizer = bn_tokenizer_load(vf, &opt);
        gguf_close(vf);
        return model->tokenizer ? 0 : bn_error(BITNET_ERR_LOAD_FAILED, "%s", bn_last_error_message());
    }
    if (!gguf_find_kv(model->m->file, "tokenizer.ggml.model")) return 0;
    model->tokenizer = bn_tokenizer_load(model->m->file, &opt);
    return model->tokenizer ? 0 : bn_error(BITNET_ERR_LOAD_FAILED, "%s: %s", model->m->file->path, bn_last_error_message());
}

static const struct {
    const char *name;
    bitnet_lm_head head;
} lm_head_names[] = {{"auto", BITNET_LM_HEAD_AUTO}, {"screen", BITNET_LM_HEAD_SCREEN}, {"model", BITNET_LM_HEAD_PLAIN},
                     {"plain", BITNET_LM_HEAD_PLAIN}, {"f16", BITNET_LM_HEAD_PLAIN}, {"q8", BITNET_LM_HEAD_Q8}};

BITNET_API int bitnet_lm_head_from_name(const char *name, bitnet_lm_head *out) {
    for (size_t i = 0; name && out && i < sizeof lm_head_names / sizeof lm_head_names[0]; i++)
        if (!strcmp(name, lm_head_names[i].name)) {
            *out = lm_head_names[i].head;
            return 0;
        }
    return bn_error(BITNET_ERR_INVALID_ARGUMENT, "LM head '%s': use auto, screen, model (plain, f16) or q8", name ? name : "(null)");
}

BITNET_API const char *bitnet_lm_head_name(bitnet_lm_head h) {
    for (size_t i = 0; i < sizeof lm_head_names / sizeof lm_head_names[0]; i++)
        if (lm_head_names[i].head == h) return lm_head_names[i].name;
    return "?";
}

/* The head the caller asked for (bitnet.h, bitnet_lm_head). */
static int choose_lm_head(bn_model *m, const bitnet_model_params *p) {
    bitnet_lm_head mode = p->struct_size > offsetof(bitnet_model_params, lm_head) ? p->lm_head : BITNET_LM_HEAD_AUTO;
    if (p->lm_head_q8 && mode != BITNET_LM_HEAD_AUTO && mode != BITNET_LM_HEAD_Q8)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_open: lm_head_q8 = 1 contradicts lm_head = %d", (int)mode);
    if (p->lm_head_q8) mode = BITNET_LM_HEAD_Q8;
    switch (mode) {
    case BITNET_LM_HEAD_PLAIN: return 0;
    case BITNET_LM_HEAD_Q8: return bn_model_quantize_head_q8(m);
    case BITNET_LM_HEAD_SCREEN: return bn_model_screen_head(m);
    case BITNET_LM_HEAD_AUTO: {
        bool worth_it = bn_head_screen_supported(&m->output, NULL) && bn_head_screen_by_default(bn_cpu_active_tier());
        int rc = worth_it ? bn_model_screen_head(m) : 0;
        if (rc == BITNET_ERR_UNSUPPORTED) bn_clear_error(); /* a head the copy cannot hold: the plain head */
        return rc == BITNET_ERR_UNSUPPORTED ? 0 : rc;
    }
    }
    return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_open: lm_head %d is not a bitnet_lm_head", (int)mode);
}

BITNET_API int bitnet_model_open(const char *path, const bitnet_model_params *params, bitnet_model **out) {
    if (!out) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_open: out is NULL");
    *out = NULL;
    if (!path) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_open: path is NULL");
    bitnet_model_params defaults = bitnet_model_default_params();
    if (!params) params = &defaults;
    if (!struct_ok(params, params->struct_size, offsetof(bitnet_model_params, lm_head)))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_open: params.struct_size is %zu; use bitnet_model_default_params()",
                        params->struct_size);
    bitnet_model *model = bn_calloc(1, sizeof *model, "model handle");
    if (!model) return BITNET_ERR_OUT_OF_MEMORY;
    pthread_mutex_init(&model->lazy_lock, NULL);
    if (params->progress) params->progress(0.0f, params->progress_user_data);
    bn_progress progress = {params->progress, params->progress_user_data};
    int rc = bn_model_load_progress(path, &progress, &model->m);
    if (!rc) rc = choose_lm_head(model->m, params);
    if (!rc) rc = load_tokenizer(model, params);
    if (rc) {
        bn_model_free(model->m);
        pthread_mutex_destroy(&model->lazy_lock);
        free(model);
        return rc;
    }
    if (params->progress) params->progress(1.0f, params->progress_user_data);
    *out = model;
    return 0;
}

BITNET_API int bitnet_model_close(bitnet_model *model) {
    if (!model) return 0;
    if (atomic_load(&model->n_sessions) > 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_close: %d sessions of this model are still open; free them first",
                        atomic_load(&model->n_sessions));
    bn_constraint_vocab_free(model->constraint_vocab);
    free(model->dry_default_tokens);
    free(model->dry_default_lens);
    pthread_mutex_destroy(&model->lazy_lock);
    bn_tokenizer_free(model->tokenizer);
    bn_model_free(model->m);
    free(model);
    return 0;
}

const bn_constraint_vocab *bn_model_constraint_vocab(bitnet_model *model, bool byte_order) {
    pthread_mutex_lock(&model->lazy_lock);
    if (!model->constraint_vocab) model->constraint_vocab = bn_constraint_vocab_create(model->tokenizer);
    const bn_constraint_vocab *v = model->constraint_vocab;
    if (v && byte_order && !bn_constraint_vocab_sort(model->constraint_vocab)) v = NULL;
    pthread_mutex_unlock(&model->lazy_lock);
    return v;
}

int bn_model_dry_default_breakers(bitnet_model *model, const int32_t **tokens, const int **lens, int *count) {
    pthread_mutex_lock(&model->lazy_lock);
    int rc = 0;
    if (!model->dry_default_made) {
        rc = bn_dry_breaker_sequences(model->tokenizer, NULL, 0, &model->dry_default_tokens, &model->dry_default_lens,
                                      &model->dry_default_count);
        model->dry_default_made = rc == 0;
    }
    *tokens = model->dry_default_tokens, *lens = model->dry_default_lens, *count = model->dry_default_count;
    pthread_mutex_unlock(&model->lazy_lock);
    return rc;
}

static void copy_name(char *dst, size_t cap, const char *src) {
    snprintf(dst, cap, "%s", src ? src : "?");
}

BITNET_API int bitnet_model_describe(const bitnet_model *model, bitnet_model_desc *out) {
    if (!model || !out) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_describe: NULL argument");
    if (out->struct_size < offsetof(bitnet_model_desc, lm_head))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_describe: set out->struct_size = sizeof(bitnet_model_desc)");
    const bn_model *m = model->m;
    const bn_hparams *hp = &m->hp;
    size_t size = out->struct_size;
    memset(out, 0, size < sizeof *out ? size : sizeof *out);
    out->struct_size = size;
    copy_name(out->architecture, sizeof out->architecture, hp->arch);
    out->n_vocab = hp->n_vocab;
    out->n_ctx_train = hp->n_ctx_train;
    out->n_embd = hp->n_embd;
    out->n_layer = hp->n_layer;
    out->n_ff = hp->n_ff;
    out->n_head = hp->n_head;
    out->n_head_kv = hp->n_head_kv;
    out->head_dim = hp->head_dim;
    const bn_type_traits *wt = bn_type_get(m->weight_type), *ht = bn_type_get(m->output.type);
    copy_name(out->weight_type, sizeof out->weight_type, wt ? wt->name : NULL);
    copy_name(out->lm_head_type, sizeof out->lm_head_type, ht ? ht->name : NULL);
    out->tied_lm_head = m->tied_head;
    out->weight_bytes = m->weight_bytes;
    out->has_tokenizer = model->tokenizer != NULL;
    out->bos_id = model->tokenizer ? bn_tokenizer_bos(model->tokenizer) : -1;
    out->eos_id = model->tokenizer ? bn_tokenizer_eos(model->tokenizer) : -1;
    out->eot_id = model->tokenizer ? bn_tokenizer_eot(model->tokenizer) : -1;
    if (size >= sizeof *out) {
        out->lm_head = m->screen ? BITNET_LM_HEAD_SCREEN : m->lm_head_q8 ? BITNET_LM_HEAD_Q8 : BITNET_LM_HEAD_PLAIN;
        out->lm_head_copy_bytes = m->screen ? m->screen->bytes : 0;
    }
    return 0;
}

/* ---- sessions ---- */

BITNET_API bitnet_session_params bitnet_session_default_params(void) {
    bitnet_session_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    return p;
}

BITNET_API int bitnet_act_quant_from_name(const char *name, bitnet_act_quant *out) {
    static const struct { const char *name; bitnet_act_quant q; } names[] = {
        {"token", BITNET_ACT_QUANT_TOKEN}, {"q8k", BITNET_ACT_QUANT_Q8K}, {"none", BITNET_ACT_QUANT_NONE}};
    for (size_t i = 0; name && out && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].q;
            return 0;
        }
    return bn_error(BITNET_ERR_INVALID_ARGUMENT, "act_quant '%s': must be token, q8k or none", name ? name : "(null)");
}

BITNET_API int bitnet_kv_type_from_name(const char *name, bitnet_kv_type *out) {
    bn_kv_type t;
    if (!out || bn_kv_type_from_name(name, &t))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "KV cache type '%s': must be f32, f16 or q8_0", name ? name : "(null)");
    *out = bn_api_kv_type_public(t);
    return 0;
}

bitnet_kv_type bn_api_kv_type_public(bn_kv_type t) {
    return t == BN_KV_F32 ? BITNET_KV_F32 : t == BN_KV_Q8_0 ? BITNET_KV_Q8_0 : BITNET_KV_F16;
}

static int resolve_kv(bitnet_kv_type t, const char *who, bn_kv_type *out) {
    switch (t) {
    case BITNET_KV_DEFAULT:
    case BITNET_KV_F16: *out = BN_KV_F16; return 0;
    case BITNET_KV_F32: *out = BN_KV_F32; return 0;
    case BITNET_KV_Q8_0: *out = BN_KV_Q8_0; return 0;
    default: return bn_error(BITNET_ERR_INVALID_ARGUMENT, "%s: unknown KV cache type %d", who, (int)t);
    }
}

int bn_api_kv_types(const void *params, size_t struct_size, size_t offset_k, const char *who, bn_kv_type *k, bn_kv_type *v) {
    bitnet_kv_type pk = BITNET_KV_DEFAULT, pv = BITNET_KV_DEFAULT;
    if (struct_size >= offset_k + 2 * sizeof(bitnet_kv_type)) { /* kv_type_k, kv_type_v are adjacent */
        memcpy(&pk, (const char *)params + offset_k, sizeof pk);
        memcpy(&pv, (const char *)params + offset_k + sizeof pk, sizeof pv);
    }
    int rc = resolve_kv(pk, who, k);
    return rc ? rc : resolve_kv(pv, who, v);
}

bn_act_quant bn_api_resolve_act_quant(const bn_model *m, bitnet_act_quant q) {
    switch (q) {
    case BITNET_ACT_QUANT_TOKEN: return BN_ACT_TOKEN;
    case BITNET_ACT_QUANT_Q8K: return BN_ACT_Q8K;
    case BITNET_ACT_QUANT_NONE: return BN_ACT_NONE;
    default: return bn_default_act_quant(m);
    }
}

BITNET_API int bitnet_session_create(bitnet_model *model, const bitnet_session_params *params, bitnet_session **out) {
    if (!out) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_create: out is NULL");
    *out = NULL;
    if (!model) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_create: model is NULL");
    bitnet_session_params defaults = bitnet_session_default_params();
    if (!params) params = &defaults;
    if (!struct_ok(params, params->struct_size, offsetof(bitnet_session_params, kv_type_k)))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_create: params.struct_size is %zu; use bitnet_session_default_params()",
                        params->struct_size);
    if ((int)params->act_quant < 0 || (int)params->act_quant > BITNET_ACT_QUANT_NONE)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_create: unknown act_quant %d", (int)params->act_quant);
    if (params->n_threads < 0 || params->n_threads > 1024 || params->n_batch < 0 || params->n_ctx < 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_create: negative or huge n_ctx, n_threads or n_batch");
    bn_state_params sp;
    bn_state_default_params(&sp);
    int rc = bn_api_kv_types(params, params->struct_size, offsetof(bitnet_session_params, kv_type_k), "bitnet_session_create",
                             &sp.kv_type_k, &sp.kv_type_v);
    if (rc) return rc;
    bitnet_session *s = bn_calloc(1, sizeof *s, "session");
    if (!s) return BITNET_ERR_OUT_OF_MEMORY;
    s->model = model;
    rc = bn_tracer_open(params->trace_dir, &s->tracer);
    sp.n_ctx = params->n_ctx;
    sp.n_threads = params->n_threads;
    if (params->n_batch) sp.max_batch = params->n_batch;
    sp.act_quant = bn_api_resolve_act_quant(model->m, params->act_quant);
    sp.tracer = s->tracer;
    sp.seq_id = params->seq_id;
    if (!rc) rc = bn_state_create(model->m, &sp, &s->state);
    if (rc) {
        bn_tracer_close(s->tracer);
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->lock, NULL);
    atomic_fetch_add(&model->n_sessions, 1);
    *out = s;
    return 0;
}

BITNET_API void bitnet_session_free(bitnet_session *s) {
    if (!s) return;
    bn_state_free(s->state);
    bn_tracer_close(s->tracer);
    pthread_mutex_destroy(&s->lock);
    atomic_fetch_sub(&s->model->n_sessions, 1);
    free(s);
}

BITNET_API int bitnet_session_eval(bitnet_session *s, const int32_t *tokens, int n, float *logits, int all_logits) {
    if (!s || (n > 0 && !tokens) || n < 0) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_eval: invalid arguments");
    pthread_mutex_lock(&s->lock);
    int rc = bn_state_eval(s->state, tokens, n, logits, all_logits != 0);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

BITNET_API int bitnet_session_reset(bitnet_session *s) {
    if (!s) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_reset: session is NULL");
    pthread_mutex_lock(&s->lock);
    bn_state_reset(s->state);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

BITNET_API int bitnet_session_truncate(bitnet_session *s, int64_t n_keep) {
    if (!s) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_truncate: session is NULL");
    pthread_mutex_lock(&s->lock);
    int rc = bn_state_truncate(s->state, n_keep);
    pthread_mutex_unlock(&s->lock);
    return rc ? bn_error(rc, "bitnet_session_truncate: %s", bn_last_error_message()) : 0;
}

BITNET_API int bitnet_session_shift(bitnet_session *s, int64_t n_keep, int64_t n_discard) {
    if (!s) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_shift: session is NULL");
    pthread_mutex_lock(&s->lock);
    int rc = bn_state_seq_shift(s->state, 0, n_keep, n_discard);
    pthread_mutex_unlock(&s->lock);
    return rc ? bn_error(rc, "bitnet_session_shift: %s", bn_last_error_message()) : 0;
}

BITNET_API int bitnet_context_turns_to_drop(int64_t n_ctx, int64_t n_past, const int64_t *turn_starts, int n_turns,
                                            int64_t n_need) {
    if (n_turns < 0 || (n_turns > 0 && !turn_starts) || n_past < 0 || n_need < 0 || n_ctx < 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_context_turns_to_drop: negative count or NULL turn_starts");
    for (int i = 0; i < n_turns; i++)
        if (turn_starts[i] < (i ? turn_starts[i - 1] : 0) || turn_starts[i] > n_past)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_context_turns_to_drop: turn_starts[%d] = %lld is not ascending within [0, %lld]",
                            i, (long long)turn_starts[i], (long long)n_past);
    for (int k = 0; k <= n_turns; k++) {
        int64_t dropped = n_turns ? (k < n_turns ? turn_starts[k] : n_past) - turn_starts[0] : 0;
        if (n_past - dropped + n_need <= n_ctx) return k;
    }
    int64_t kept = n_turns ? turn_starts[0] : n_past;
    return bn_error(BITNET_ERR_CONTEXT_EXCEEDED, "%lld more tokens do not fit a context of %lld even after dropping every turn (%lld tokens kept)",
                    (long long)n_need, (long long)n_ctx, (long long)kept);
}

/* The const accessors lock too: n_past changes under a concurrent eval. */
static pthread_mutex_t *session_lock(const bitnet_session *s) { return (pthread_mutex_t *)&s->lock; }

BITNET_API int64_t bitnet_session_n_past(const bitnet_session *s) {
    if (!s) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "session is NULL");
    pthread_mutex_lock(session_lock(s));
    int64_t n = bn_state_n_past(s->state);
    pthread_mutex_unlock(session_lock(s));
    return n;
}

BITNET_API int64_t bitnet_session_n_ctx(const bitnet_session *s) {
    return s ? bn_state_n_ctx(s->state) : bn_error(BITNET_ERR_INVALID_ARGUMENT, "session is NULL");
}

BITNET_API int bitnet_session_describe(const bitnet_session *s, bitnet_session_desc *out) {
    if (!s || !out) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_describe: NULL argument");
    if (out->struct_size < offsetof(bitnet_session_desc, kv_type_k))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_describe: set out->struct_size = sizeof(bitnet_session_desc)");
    size_t size = out->struct_size < sizeof *out ? out->struct_size : sizeof *out;
    memset(out, 0, size);
    out->struct_size = size;
    pthread_mutex_lock(session_lock(s));
    out->n_ctx = bn_state_n_ctx(s->state);
    out->n_past = bn_state_n_past(s->state);
    out->n_threads = bn_state_n_threads(s->state);
    bn_act_quant q = bn_state_act_quant(s->state);
    out->act_quant = q == BN_ACT_TOKEN ? BITNET_ACT_QUANT_TOKEN : q == BN_ACT_Q8K ? BITNET_ACT_QUANT_Q8K : BITNET_ACT_QUANT_NONE;
    out->kv_cache_bytes = bn_state_kv_bytes(s->state);
    out->scratch_bytes = bn_state_scratch_bytes(s->state);
    if (BN_API_HAS_FIELD(size, bitnet_session_desc, kv_type_v)) {
        out->kv_type_k = bn_api_kv_type_public(bn_state_kv_type_k(s->state));
        out->kv_type_v = bn_api_kv_type_public(bn_state_kv_type_v(s->state));
    }
    pthread_mutex_unlock(session_lock(s));
    copy_name(out->kernel_tier, sizeof out->kernel_tier, bn_kernel_tier_name());
    return 0;
}
