/* genmodel: random-weight model writer (see genmodel.h). */
#include "formats/genmodel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "model/model.h"
#include "formats/types.h"
#include "util.h"

void bn_genmodel_default_params(bn_genmodel_params *p) {
    memset(p, 0, sizeof *p);
    p->arch = "bitnet";
    p->hidden = 256;
    p->layers = 2;
    p->heads = 4;
    p->kv_heads = 2;
    p->ffn = 512;
    p->vocab_size = 512;
    p->wtype = BN_TYPE_TQ2_0;
    p->etype = BN_TYPE_F16;
    p->ctx = 4096;
    p->rope_base = 10000.0f;
    p->seed = 1;
}

/* splitmix64: a small, well-mixed generator; one stream per tensor. */
typedef struct { uint64_t s; } rng;

static uint64_t rng_next(rng *r) {
    return bn_mix64(r->s += 0x9e3779b97f4a7c15ull);
}

static float rng_uniform(rng *r) { return (float)(rng_next(r) >> 40) * (1.0f / 16777216.0f); } /* [0,1) */

static rng rng_for(uint64_t seed, const char *name) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the name, mixed with the seed */
    for (const char *c = name; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ull;
    rng r = {seed * 0x2545f4914f6cdd1dull ^ h};
    rng_next(&r);
    return r;
}

static float f16_round(float v) { return bn_f16_to_f32(bn_f32_to_f16(v)); }

/* ---- tensor writers ---- */

typedef struct {
    gguf_writer *w;
    const bn_genmodel_params *p;
} gen_ctx;

static int add_tensor(gen_ctx *g, const char *name, const float *values, uint64_t ne0, uint64_t ne1, uint32_t type) {
    uint64_t n = ne0 * ne1, bytes;
    if (!bn_type_nbytes(type, n, &bytes))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "tensor %s: %llu elements do not fit type %s", name,
                        (unsigned long long)n, bn_type_get(type) ? bn_type_get(type)->name : "?");
    void *data = bn_malloc(bytes, name);
    if (!data) return BITNET_ERR_OUT_OF_MEMORY;
    bn_type_get(type)->quantize(values, n, data);
    uint64_t ne[2] = {ne0, ne1};
    int rc = gguf_writer_add_tensor(g->w, name, ne1 > 1 ? 2 : 1, ne, type, data, bytes, true);
    free(data);
    return rc;
}

/* Ternary weight [in, out]: values in {-1,0,1} times one f16-exact scale ~ 1/sqrt(in). */
static int add_ternary(gen_ctx *g, const char *name, int64_t in, int64_t out) {
    rng r = rng_for(g->p->seed, name);
    float scale = f16_round((0.8f + 0.4f * rng_uniform(&r)) / sqrtf((float)in));
    uint64_t n = (uint64_t)in * (uint64_t)out;
    float *v = bn_malloc(n * sizeof(float), name);
    if (!v) return BITNET_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < n; i++) v[i] = (float)((int)(rng_next(&r) % 3) - 1) * scale;
    int rc = add_tensor(g, name, v, (uint64_t)in, (uint64_t)out, g->p->wtype);
    free(v);
    return rc;
}

static int add_norm(gen_ctx *g, const char *name, int64_t n) {
    rng r = rng_for(g->p->seed, name);
    float *v = bn_malloc((uint64_t)n * sizeof(float), name);
    if (!v) return BITNET_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < n; i++) v[i] = 0.9f + 0.2f * rng_uniform(&r);
    int rc = add_tensor(g, name, v, (uint64_t)n, 1, BN_TYPE_F32);
    free(v);
    return rc;
}

static int add_scalar(gen_ctx *g, const char *name, float value) {
    return add_tensor(g, name, &value, 1, 1, BN_TYPE_F32);
}

/* Embedding-like matrix [hidden, vocab] with entries of RMS 0.1 (uniform in +-0.1*sqrt(3)):
 * tied-head logits then have a spread of about 0.1*sqrt(hidden) (not flat), while the layers'
 * outputs, not the input embedding, dominate the residual stream (with unit-RMS embeddings a
 * random model just repeats its last input token). */
static int add_embedding(gen_ctx *g, const char *name, int64_t hidden, int64_t vocab, bool transpose) {
    rng r = rng_for(g->p->seed, name);
    uint64_t n = (uint64_t)hidden * (uint64_t)vocab;
    float *v = bn_malloc(n * sizeof(float), name);
    if (!v) return BITNET_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < n; i++) v[i] = (2.0f * rng_uniform(&r) - 1.0f) * 0.17320508f;
    int rc;
    if (transpose) {
        float *t = bn_malloc(n * sizeof(float), name);
        if (!t) {
            free(v);
            return BITNET_ERR_OUT_OF_MEMORY;
        }
        for (int64_t tok = 0; tok < vocab; tok++)
            for (int64_t e = 0; e < hidden; e++) t[e * vocab + tok] = v[tok * hidden + e];
        rc = add_tensor(g, name, t, (uint64_t)vocab, (uint64_t)hidden, g->p->etype);
        free(t);
    } else {
        rc = add_tensor(g, name, v, (uint64_t)hidden, (uint64_t)vocab, g->p->etype);
    }
    free(v);
    return rc;
}

/* ---- vocabulary ---- */

/* A SentencePiece-style vocabulary llama.cpp accepts: <unk>, <s>, </s>, 256 byte tokens, then
 * filler pieces. */
static int add_synthetic_vocab(gen_ctx *g, int64_t n) {
    char **tokens = bn_calloc((size_t)n, sizeof *tokens, "vocab");
    float *scores = bn_calloc((size_t)n, sizeof *scores, "vocab scores");
    int32_t *types = bn_calloc((size_t)n, sizeof *types, "vocab types");
    int rc = (!tokens || !scores || !types) ? BITNET_ERR_OUT_OF_MEMORY : 0;
    for (int64_t i = 0; !rc && i < n; i++) {
        char buf[32];
        if (i == 0) snprintf(buf, sizeof buf, "<unk>");
        else if (i == 1) snprintf(buf, sizeof buf, "<s>");
        else if (i == 2) snprintf(buf, sizeof buf, "</s>");
        else if (i < 259) snprintf(buf, sizeof buf, "<0x%02X>", (unsigned)(i - 3));
        else snprintf(buf, sizeof buf, "\xe2\x96\x81w%lld", (long long)(i - 259));
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
        scores[i] = i < 259 ? 0.0f : -(float)(i - 259);
        if (!(tokens[i] = bn_strdup(buf))) rc = BITNET_ERR_OUT_OF_MEMORY;
    }
    if (!rc) rc = gguf_writer_set_str(g->w, "tokenizer.ggml.model", "llama");
    if (!rc) rc = gguf_writer_set_arr_str(g->w, "tokenizer.ggml.tokens", (const char *const *)tokens, (uint64_t)n);
    if (!rc) rc = gguf_writer_set_arr_f32(g->w, "tokenizer.ggml.scores", scores, (uint64_t)n);
    if (!rc) rc = gguf_writer_set_arr_i32(g->w, "tokenizer.ggml.token_type", types, (uint64_t)n);
    if (!rc) rc = gguf_writer_set_u32(g->w, "tokenizer.ggml.unknown_token_id", 0);
    if (!rc) rc = gguf_writer_set_u32(g->w, "tokenizer.ggml.bos_token_id", 1);
    if (!rc) rc = gguf_writer_set_u32(g->w, "tokenizer.ggml.eos_token_id", 2);
    for (int64_t i = 0; tokens && i < n; i++) free(tokens[i]);
    free(tokens);
    free(scores);
    free(types);
    return rc;
}

/* Copies every tokenizer.* key of a vocabulary GGUF; returns its token count in *n_vocab. */
static int copy_vocab(gen_ctx *g, const char *path, int64_t *n_vocab) {
    gguf_file *f = gguf_open(path);
    if (!f) return bn_last_error_status();
    int rc = 0;
    const gguf_kv *tokens = gguf_find_kv(f, "tokenizer.ggml.tokens");
    if (!tokens || tokens->type != GGUF_VT_ARRAY || tokens->arr_type != GGUF_VT_STRING)
        rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: no tokenizer.ggml.tokens string array", path);
    else
        *n_vocab = (int64_t)tokens->arr_n;
    for (uint64_t i = 0; !rc && i < f->n_kv; i++)
        if (!strncmp(f->kv[i].key, "tokenizer.", 10)) rc = gguf_writer_copy_kv(g->w, f, &f->kv[i]);
    gguf_close(f);
    return rc;
}

/* ---- the model ---- */

static int check_params(const bn_genmodel_params *p) {
    if (!p->arch || !bn_arch_supported(p->arch))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "architecture must be bitnet, bitnet-b1.58, bitnet-25 or llama");
    if (p->rope_scale < 0) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "the RoPE scaling factor must be positive");
    if (p->hidden <= 0 || p->layers <= 0 || p->heads <= 0 || p->kv_heads <= 0 || p->ffn <= 0 || p->ctx <= 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "hidden, layers, heads, kv-heads, ffn and ctx must be positive");
    if (p->hidden % p->heads || p->heads % p->kv_heads || (p->hidden / p->heads) % 2)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "hidden must be a multiple of heads (even head size), heads a multiple of kv-heads");
    const bn_type_traits *wt = bn_type_get(p->wtype), *et = bn_type_get(p->etype);
    if (!wt || !et || !wt->quantize || !et->quantize)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "unsupported weight or embedding type");
    uint64_t need = p->wtype == BN_TYPE_I2_S ? BN_I2S_BLOCK : wt->block_size;
    if (p->hidden % (int64_t)need || p->ffn % (int64_t)need)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "type %s needs hidden and ffn to be multiples of %llu", wt->name, (unsigned long long)need);
    if (p->hidden % (int64_t)et->block_size)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "embedding type %s needs hidden to be a multiple of %u", et->name, et->block_size);
    if (!p->vocab_from && p->vocab_size < 260)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "vocab size must be >= 260 (3 specials + 256 bytes + 1)");
    return 0;
}

static int write_hparams(gen_ctx *g, int64_t n_vocab) {
    const bn_genmodel_params *p = g->p;
    char key[96];
    int rc = gguf_writer_set_str(g->w, "general.architecture", p->arch);
    if (!rc) rc = gguf_writer_set_str(g->w, "general.name", "bitnet random-weight test model");
    struct { const char *suffix; uint32_t v; } ints[] = {
        {"context_length", (uint32_t)p->ctx}, {"embedding_length", (uint32_t)p->hidden},
        {"block_count", (uint32_t)p->layers}, {"feed_forward_length", (uint32_t)p->ffn},
        {"attention.head_count", (uint32_t)p->heads}, {"attention.head_count_kv", (uint32_t)p->kv_heads},
        {"rope.dimension_count", (uint32_t)(p->hidden / p->heads)}, {"vocab_size", (uint32_t)n_vocab}};
    for (size_t i = 0; !rc && i < sizeof ints / sizeof ints[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", p->arch, ints[i].suffix);
        rc = gguf_writer_set_u32(g->w, key, ints[i].v);
    }
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", p->arch);
    if (!rc) rc = gguf_writer_set_f32(g->w, key, 1e-5f);
    snprintf(key, sizeof key, "%s.rope.freq_base", p->arch);
    if (!rc) rc = gguf_writer_set_f32(g->w, key, p->rope_base);
    if (p->rope_scale > 0) {
        snprintf(key, sizeof key, "%s.rope.scaling.type", p->arch);
        if (!rc) rc = gguf_writer_set_str(g->w, key, "linear");
        snprintf(key, sizeof key, "%s.rope.scaling.factor", p->arch);
        if (!rc) rc = gguf_writer_set_f32(g->w, key, p->rope_scale);
    }
    return rc;
}

/* Llama-3-like frequency factors: 1 for the fast pairs, up to 4 for the slow ones (the
 * exact values matter little; that every pair's angle is divided by its own factor does). */
static int add_rope_freqs(gen_ctx *g, int64_t half) {
    rng r = rng_for(g->p->seed, "rope_freqs.weight");
    float *v = bn_malloc((uint64_t)half * sizeof(float), "rope_freqs");
    if (!v) return BITNET_ERR_OUT_OF_MEMORY;
    for (int64_t i = 0; i < half; i++) v[i] = i < half / 4 ? 1.0f : 1.0f + 3.0f * rng_uniform(&r);
    int rc = add_tensor(g, "rope_freqs.weight", v, (uint64_t)half, 1, BN_TYPE_F32);
    free(v);
    return rc;
}

static int write_layer(gen_ctx *g, int l) {
    const bn_genmodel_params *p = g->p;
    int64_t hd = p->hidden / p->heads, kv = p->kv_heads * hd;
    struct { const char *name; int64_t in, out; } mats[] = {
        {"attn_q", p->hidden, p->hidden}, {"attn_k", p->hidden, kv}, {"attn_v", p->hidden, kv},
        {"attn_output", p->hidden, p->hidden}, {"ffn_gate", p->hidden, p->ffn}, {"ffn_up", p->hidden, p->ffn},
        {"ffn_down", p->ffn, p->hidden}};
    struct { const char *name; int64_t n; } norms[] = {
        {"attn_norm", p->hidden}, {"attn_sub_norm", p->hidden}, {"ffn_norm", p->hidden}, {"ffn_sub_norm", p->ffn}};
    bool sub_norms = strcmp(p->arch, "llama") != 0;
    char name[96];
    int rc = 0;
    for (int i = 0; !rc && i < 4; i++) {
        if (!sub_norms && (i == 1 || i == 3)) continue;
        snprintf(name, sizeof name, "blk.%d.%s.weight", l, norms[i].name);
        rc = add_norm(g, name, norms[i].n);
    }
    for (int i = 0; !rc && i < 7; i++) {
        if (p->in_norms) {
            snprintf(name, sizeof name, "blk.%d.%s_in_norm.weight", l, mats[i].name);
            rc = add_norm(g, name, mats[i].in);
        }
        snprintf(name, sizeof name, "blk.%d.%s.weight", l, mats[i].name);
        if (!rc) rc = add_ternary(g, name, mats[i].in, mats[i].out);
        if (!rc && p->scale_tensors) {
            snprintf(name, sizeof name, "blk.%d.%s.scale", l, mats[i].name);
            rng r = rng_for(p->seed, name);
            rc = add_scalar(g, name, 0.5f + rng_uniform(&r));
        }
    }
    return rc;
}

int bn_genmodel_write(const bn_genmodel_params *p, const char *path) {
    int rc = check_params(p);
    if (rc) return rc;
    gen_ctx g = {gguf_writer_new(), p};
    if (!g.w) return BITNET_ERR_OUT_OF_MEMORY;
    int64_t n_vocab = p->vocab_size;
    rc = p->vocab_from ? copy_vocab(&g, p->vocab_from, &n_vocab) : add_synthetic_vocab(&g, n_vocab);
    if (!rc) rc = write_hparams(&g, n_vocab);
    if (!rc) rc = add_embedding(&g, "token_embd.weight", p->hidden, n_vocab, p->transposed_embedding);
    if (!rc) rc = add_norm(&g, "output_norm.weight", p->hidden);
    if (!rc && p->output_weight) rc = add_embedding(&g, "output.weight", p->hidden, n_vocab, false);
    if (!rc && p->transposed_embedding) rc = add_scalar(&g, "embed_tokens.transposed", 1.0f);
    if (!rc && p->rope_freqs) rc = add_rope_freqs(&g, p->hidden / p->heads / 2);
    for (int l = 0; !rc && l < p->layers; l++) rc = write_layer(&g, l);
    if (!rc) rc = gguf_writer_write(g.w, path);
    gguf_writer_free(g.w);
    return rc;
}
