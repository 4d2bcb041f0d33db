/* convert: Hugging Face checkpoint -> GGUF (see convert.h). One pass over the model's tensors
 * in GGUF order; each is read from the mapped safetensors, converted, and handed to the GGUF
 * writer, which writes the file atomically at the end. */
#include "convert/convert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/hf.h"
#include "convert/hf_tokenizer.h"
#include "convert/retype.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "util.h"

enum { CLS_LINEAR, CLS_NORM, CLS_IN_NORM, CLS_EMBED, CLS_HEAD, CLS_ROPE };
static const char *const class_names[BN_CONVERT_CLASSES] = {
    "ternary linears", "norms", "per-linear input norms", "token embedding", "output head", "RoPE frequency factors"};

void bn_convert_default_params(bn_convert_params *p) {
    memset(p, 0, sizeof *p);
    p->wtype = BN_CONVERT_AUTO_TYPE;
    p->head_type = BN_TYPE_F16;
}

uint32_t bn_file_type_for(uint32_t wtype) {
    switch (wtype) {
    case BN_TYPE_F16: return 1;
    case BN_TYPE_BF16: return 32;
    case BN_TYPE_TQ1_0: return 36;
    case BN_TYPE_TQ2_0: return 37;
    case BN_TYPE_I2_S: return 40;
    default: return 0;
    }
}

typedef struct {
    const bn_convert_params *p;
    hf_checkpoint *c;
    const hf_config *cfg;
    gguf_writer *w;
    bn_convert_report *rep;
    uint32_t wtype;
    int done, total;
    void **bufs;                /* tensor data the writer references until it writes */
    size_t n_bufs, cap_bufs;
} conv;

static void tally(conv *k, int cls, uint32_t type, uint64_t bytes, const char *source, double err) {
    bn_convert_class *c = &k->rep->classes[cls];
    c->name = class_names[cls];
    c->count++;
    c->type = type;
    c->bytes += bytes;
    if (source && !c->source[0]) snprintf(c->source, sizeof c->source, "%s", source);
    if (err > c->max_scale_err) c->max_scale_err = err;
}

/* Adds a 1-D (ne1 = 1) or 2-D tensor; takes ownership of data (kept, not copied, until the
 * file is written: the output's bytes are in memory once). */
static int add(conv *k, const char *name, uint64_t ne0, uint64_t ne1, uint32_t type, void *data, uint64_t bytes) {
    uint64_t ne[2] = {ne0, ne1};
    if (k->n_bufs == k->cap_bufs) {
        size_t cap = k->cap_bufs ? 2 * k->cap_bufs : 64;
        void **nb = realloc(k->bufs, cap * sizeof *nb);
        if (!nb) {
            free(data);
            return bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory");
        }
        k->bufs = nb, k->cap_bufs = cap;
    }
    k->bufs[k->n_bufs++] = data;
    int rc = gguf_writer_add_tensor(k->w, name, ne1 > 1 ? 2 : 1, ne, type, data, bytes, false);
    k->done++;
    if (!rc && k->p->progress) k->p->progress(k->done, k->total, name, k->p->user);
    return rc;
}

static const st_tensor *need(conv *k, const char *name) {
    const st_tensor *t = hf_tensor(k->c, name);
    if (!t) bn_error(BITNET_ERR_LOAD_FAILED, "%s: tensor %s is missing from the checkpoint", k->c->dir, name);
    return t;
}

static bool is_float(st_dtype d) { return d == ST_F32 || d == ST_F16 || d == ST_BF16; }

/* Shape must be [d0] (d1 = 0) or [d0, d1]. */
static int check_shape(const st_tensor *t, uint64_t d0, uint64_t d1) {
    uint32_t nd = d1 ? 2 : 1;
    if (t->n_dims != nd || t->shape[0] != d0 || (d1 && t->shape[1] != d1))
        return bn_error(BITNET_ERR_UNSUPPORTED, "tensor %s: shape [%llu%s%llu] (%u dims) where the config implies [%llu%s%llu]",
                        t->name, (unsigned long long)t->shape[0], t->n_dims > 1 ? ", " : "",
                        t->n_dims > 1 ? (unsigned long long)t->shape[1] : 0ull, t->n_dims, (unsigned long long)d0,
                        d1 ? ", " : "", d1 ? (unsigned long long)d1 : 0ull);
    return 0;
}

/* A float tensor of shape [d0] or [d0, d1] as a new f32 array. */
static int read_floats(const st_tensor *t, uint64_t d0, uint64_t d1, float **out) {
    *out = NULL;
    if (!is_float(t->dtype))
        return bn_error(BITNET_ERR_UNSUPPORTED, "tensor %s: dtype %s where F32, F16 or BF16 was expected", t->name, st_dtype_name(t->dtype));
    int rc = check_shape(t, d0, d1);
    if (rc) return rc;
    float *v = bn_malloc((t->n_elements ? t->n_elements : 1) * sizeof *v, t->name);
    if (!v) return BITNET_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < t->n_elements; i++) v[i] = st_get_f32(t, i);
    *out = v;
    return 0;
}

static int convert_norm(conv *k, const char *hf_name, const char *gguf_name, int64_t n, int cls) {
    const st_tensor *t = need(k, hf_name);
    float *v;
    int rc = t ? read_floats(t, (uint64_t)n, 0, &v) : bn_last_error_status();
    if (rc) return rc;
    char src[32];
    snprintf(src, sizeof src, "%s", st_dtype_name(t->dtype));
    tally(k, cls, BN_TYPE_F32, (uint64_t)n * 4, src, 0);
    return add(k, gguf_name, (uint64_t)n, 1, BN_TYPE_F32, v, (uint64_t)n * 4);
}

/* The first of two candidate names that the checkpoint has (NULL when neither). */
static const char *either(conv *k, char *a, char *b) {
    for (int i = 0; i < k->c->n_shards; i++) {
        if (st_find(k->c->shards[i], a)) return a;
        if (st_find(k->c->shards[i], b)) return b;
    }
    return a; /* reported missing under the first name */
}

/* ---- ternary linears ---- */

/* Packed U8 [out/4, in] -> codes t[out][in]. */
static int unpack(const st_tensor *w, int64_t out, int64_t in, int8_t *t) {
    if (out % 4) return bn_error(BITNET_ERR_UNSUPPORTED, "tensor %s: %lld output rows are not a multiple of 4 (packed layout)", w->name, (long long)out);
    int rc = check_shape(w, (uint64_t)(out / 4), (uint64_t)in);
    if (rc) return rc;
    const uint8_t *b = w->data;
    int64_t q = out / 4;
    for (int64_t r = 0; r < q; r++)
        for (int i = 0; i < 4; i++)
            for (int64_t c = 0; c < in; c++) {
                int code = (b[r * in + c] >> (2 * i)) & 3;
                if (code == 3) return bn_error(BITNET_ERR_UNSUPPORTED, "tensor %s: byte [%lld, %lld] holds code 3, not a ternary value", w->name, (long long)r, (long long)c);
                t[(r + i * q) * in + c] = (int8_t)(code - 1);
            }
    return 0;
}

/* Codes and per-tensor scale of linear `prefix` ([out, in]); *source describes the input. */
static int linear_codes(conv *k, const char *prefix, int64_t in, int64_t out, int8_t *t, float *scale, char *source, size_t cap) {
    char name[256];
    snprintf(name, sizeof name, "%s.weight", prefix);
    const st_tensor *w = need(k, name);
    if (!w) return bn_last_error_status();
    if (w->dtype == ST_U8) {
        snprintf(name, sizeof name, "%s.weight_scale", prefix);
        const st_tensor *ws = need(k, name);
        if (!ws) return bn_last_error_status();
        if (!is_float(ws->dtype) || ws->n_elements != 1)
            return bn_error(BITNET_ERR_UNSUPPORTED, "tensor %s: expected one F32/F16/BF16 value, got %s with %llu elements", name,
                            st_dtype_name(ws->dtype), (unsigned long long)ws->n_elements);
        float s = st_get_f32(ws, 0);
        if (!(s > 0.0f) || !isfinite(s)) return bn_error(BITNET_ERR_UNSUPPORTED, "tensor %s: %g is not a positive finite scale", name, (double)s);
        *scale = k->cfg->scale_divides ? 1.0f / s : s;
        snprintf(source, cap, "packed U8 %s weight_scale%s", k->cfg->scale_divides ? "/" : "x",
                 k->cfg->scale_divides ? " (1/weight_scale folded in)" : "");
        return unpack(w, out, in, t);
    }
    if (k->cfg->family == HF_LLAMA)
        return bn_error(BITNET_ERR_UNSUPPORTED, "tensor %s: %s; LLaMA-family ternary checkpoints must be packed U8", w->name, st_dtype_name(w->dtype));
    float *v;
    int rc = read_floats(w, (uint64_t)out, (uint64_t)in, &v);
    if (rc) return rc;
    *scale = bn_absmean_ternarize(v, (uint64_t)(out * in), t);
    free(v);
    snprintf(source, cap, "%s masters, absmean-ternarized", st_dtype_name(w->dtype));
    return 0;
}

/* llama.cpp's Q/K permutation for normal RoPE: within each of n_head heads of hd rows, row
 * s*hd/2 + j moves to 2*j + s (s = 0, 1; j < hd/2). */
static int permute_rows(int8_t *t, int64_t rows, int64_t in, int64_t n_head) {
    int64_t hd = rows / n_head;
    int8_t *tmp = bn_malloc((size_t)(rows * in), "permute");
    if (!tmp) return BITNET_ERR_OUT_OF_MEMORY;
    for (int64_t h = 0; h < n_head; h++)
        for (int s = 0; s < 2; s++)
            for (int64_t j = 0; j < hd / 2; j++)
                memcpy(tmp + (h * hd + 2 * j + s) * in, t + (h * hd + s * hd / 2 + j) * in, (size_t)in);
    memcpy(t, tmp, (size_t)(rows * in));
    free(tmp);
    return 0;
}

static int check_row(const char *name, int64_t in, uint32_t type) {
    const bn_type_traits *tr = bn_type_get(type);
    uint32_t block = type == BN_TYPE_I2_S ? BN_I2S_BLOCK : tr->block_size;
    if (in % block)
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s: rows of %lld weights are not a whole number of %s blocks (%u); choose another --wtype "
                        "(i2_s needs multiples of 128, tq1_0/tq2_0 of 256; f16 always works)", name, (long long)in, tr->name, block);
    return 0;
}

typedef struct { const char *hf, *gguf; int64_t in, out, heads; } linear_spec;

static int convert_linear(conv *k, int l, const char *hf_prefix, const linear_spec *ls) {
    char prefix[200], gname[128];
    snprintf(prefix, sizeof prefix, "%s.%s", hf_prefix, ls->hf);
    snprintf(gname, sizeof gname, "blk.%d.%s.weight", l, ls->gguf);
    int rc = check_row(gname, ls->in, k->wtype);
    if (rc) return rc;
    int8_t *t = bn_malloc((size_t)(ls->in * ls->out), gname);
    if (!t) return BITNET_ERR_OUT_OF_MEMORY;
    float scale = 0.0f;
    char source[96];
    rc = linear_codes(k, prefix, ls->in, ls->out, t, &scale, source, sizeof source);
    if (!rc && k->cfg->family == HF_LLAMA && ls->heads) rc = permute_rows(t, ls->out, ls->in, ls->heads);
    void *data = NULL;
    uint64_t bytes = 0;
    double err = 0;
    if (!rc) rc = bn_encode_ternary(t, (uint64_t)(ls->in * ls->out), scale, k->wtype, &data, &bytes, &err);
    free(t);
    if (rc) return rc;
    tally(k, CLS_LINEAR, k->wtype, bytes, source, err);
    return add(k, gname, (uint64_t)ls->in, (uint64_t)ls->out, k->wtype, data, bytes);
}

/* LLaMA family: the optional RMSNorm on a linear's input (<prefix>.rms_norm.weight). */
static int convert_in_norm(conv *k, int l, const char *hf_prefix, const linear_spec *ls) {
    char hf[256], gname[128];
    snprintf(hf, sizeof hf, "%s.%s.rms_norm.weight", hf_prefix, ls->hf);
    bool present = false;
    for (int i = 0; i < k->c->n_shards && !present; i++) present = st_find(k->c->shards[i], hf) != NULL;
    if (!present) {
        if (k->cfg->linear_norms)
            return bn_error(BITNET_ERR_LOAD_FAILED, "%s: quantization_config.use_rms_norm is set but %s is missing", k->c->dir, hf);
        return 0;
    }
    snprintf(gname, sizeof gname, "blk.%d.%s_in_norm.weight", l, ls->gguf);
    return convert_norm(k, hf, gname, ls->in, CLS_IN_NORM);
}

static int convert_layer(conv *k, int l) {
    const hf_config *c = k->cfg;
    int64_t hd = c->head_dim, q = c->heads * hd, kv = c->kv_heads * hd;
    char pre[64], a[160], b[160], g[96];
    snprintf(pre, sizeof pre, "model.layers.%d", l);
    struct { const char *hf, *alt, *gguf; int64_t n; bool bitnet_only; } norms[] = {
        {"input_layernorm", NULL, "attn_norm", c->hidden, false},
        {"self_attn.attn_sub_norm", "self_attn.inner_attn_ln", "attn_sub_norm", q, true},
        {"post_attention_layernorm", NULL, "ffn_norm", c->hidden, false},
        {"mlp.ffn_sub_norm", "mlp.ffn_layernorm", "ffn_sub_norm", c->ffn, true}};
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof norms / sizeof norms[0]; i++) {
        if (norms[i].bitnet_only && c->family == HF_LLAMA) continue;
        snprintf(a, sizeof a, "%s.%s.weight", pre, norms[i].hf);
        snprintf(b, sizeof b, "%s.%s.weight", pre, norms[i].alt ? norms[i].alt : norms[i].hf);
        snprintf(g, sizeof g, "blk.%d.%s.weight", l, norms[i].gguf);
        rc = convert_norm(k, either(k, a, b), g, norms[i].n, CLS_NORM);
    }
    const linear_spec lin[] = {
        {"self_attn.q_proj", "attn_q", c->hidden, q, c->heads}, {"self_attn.k_proj", "attn_k", c->hidden, kv, c->kv_heads},
        {"self_attn.v_proj", "attn_v", c->hidden, kv, 0}, {"self_attn.o_proj", "attn_output", q, c->hidden, 0},
        {"mlp.gate_proj", "ffn_gate", c->hidden, c->ffn, 0}, {"mlp.up_proj", "ffn_up", c->hidden, c->ffn, 0},
        {"mlp.down_proj", "ffn_down", c->ffn, c->hidden, 0}};
    for (size_t i = 0; !rc && i < sizeof lin / sizeof lin[0]; i++) {
        rc = convert_linear(k, l, pre, &lin[i]);
        if (!rc && c->family == HF_LLAMA) rc = convert_in_norm(k, l, pre, &lin[i]);
    }
    return rc;
}

/* ---- embedding, head, metadata ---- */

static int convert_matrix(conv *k, const char *hf_name, const char *gguf_name, int cls) {
    const st_tensor *t = need(k, hf_name);
    if (!t) return bn_last_error_status();
    uint32_t type = k->p->head_type;
    const bn_type_traits *tr = bn_type_get(type);
    if (k->cfg->hidden % tr->block_size)
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s: hidden size %lld is not a whole number of %s blocks", gguf_name, (long long)k->cfg->hidden, tr->name);
    float *v;
    int rc = read_floats(t, (uint64_t)k->rep->n_vocab, (uint64_t)k->cfg->hidden, &v);
    void *data = NULL;
    uint64_t bytes = 0;
    if (!rc) rc = bn_encode_floats(v, t->n_elements, type, &data, &bytes);
    free(v);
    if (rc) return rc;
    tally(k, cls, type, bytes, st_dtype_name(t->dtype), 0);
    return add(k, gguf_name, (uint64_t)k->cfg->hidden, (uint64_t)k->rep->n_vocab, type, data, bytes);
}

static int write_hparams(conv *k) {
    const hf_config *c = k->cfg;
    const char *arch = c->gguf_arch;
    char key[96];
    const char *base = strrchr(k->p->hf_dir, '/');
    int rc = gguf_writer_set_str(k->w, "general.architecture", arch);
    if (!rc) rc = gguf_writer_set_str(k->w, "general.name", base && base[1] ? base + 1 : k->p->hf_dir);
    if (!rc) rc = gguf_writer_set_u32(k->w, "general.file_type", bn_file_type_for(k->wtype));
    if (!rc && bn_type_is_ternary(k->wtype)) rc = gguf_writer_set_u32(k->w, "general.quantization_version", 2);
    struct { const char *suffix; int64_t v; } ints[] = {
        {"context_length", c->ctx}, {"embedding_length", c->hidden}, {"block_count", c->layers},
        {"feed_forward_length", c->ffn}, {"attention.head_count", c->heads}, {"attention.head_count_kv", c->kv_heads},
        {"rope.dimension_count", c->head_dim}, {"vocab_size", k->rep->n_vocab}};
    for (size_t i = 0; !rc && i < sizeof ints / sizeof ints[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, ints[i].suffix);
        rc = gguf_writer_set_u32(k->w, key, (uint32_t)ints[i].v);
    }
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    if (!rc) rc = gguf_writer_set_f32(k->w, key, (float)c->rms_eps);
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    if (!rc) rc = gguf_writer_set_f32(k->w, key, (float)c->rope_base);
    if (c->rope_linear > 0) { /* positions divided by the factor (llama.cpp's freq_scale = 1 / factor) */
        snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
        if (!rc) rc = gguf_writer_set_str(k->w, key, "linear");
        snprintf(key, sizeof key, "%s.rope.scaling.factor", arch);
        if (!rc) rc = gguf_writer_set_f32(k->w, key, (float)c->rope_linear);
    }
    return rc;
}

/* rope_freqs.weight [head_dim / 2] F32: llama3 RoPE scaling's factors (llama.cpp's tensor). */
static int write_rope_freqs(conv *k) {
    int64_t half = k->cfg->head_dim / 2;
    float *f = malloc((size_t)half * sizeof *f);
    if (!f) return bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory");
    hf_llama3_rope_factors(k->cfg, f);
    tally(k, CLS_ROPE, BN_TYPE_F32, (uint64_t)half * sizeof *f, "config.json rope_scaling (llama3)", 0);
    return add(k, "rope_freqs.weight", (uint64_t)half, 1, BN_TYPE_F32, f, (uint64_t)half * sizeof *f);
}

static int copy_vocab(conv *k) {
    gguf_file *f = gguf_open(k->p->vocab_from);
    if (!f) return bn_last_error_status();
    const gguf_kv *tokens = gguf_find_kv(f, "tokenizer.ggml.tokens");
    int rc = 0;
    if (!tokens || tokens->type != GGUF_VT_ARRAY || tokens->arr_type != GGUF_VT_STRING)
        rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: no tokenizer.ggml.tokens string array", f->path);
    else if ((int64_t)tokens->arr_n != k->rep->n_vocab)
        rc = bn_error(BITNET_ERR_UNSUPPORTED, "%s: %llu tokens, but the model's embedding has %lld rows", f->path,
                      (unsigned long long)tokens->arr_n, (long long)k->rep->n_vocab);
    for (uint64_t i = 0; !rc && i < f->n_kv; i++)
        if (!strncmp(f->kv[i].key, "tokenizer.", 10)) rc = gguf_writer_copy_kv(k->w, f, &f->kv[i]);
    if (!rc) snprintf(k->rep->tokenizer, sizeof k->rep->tokenizer, "tokenizer.* keys copied from %s", k->p->vocab_from);
    gguf_close(f);
    return rc;
}

static int write_tokenizer(conv *k) {
    if (k->p->vocab_from) return copy_vocab(k);
    hf_tokenizer_report tr;
    int rc = hf_tokenizer_write(k->c->dir, k->rep->n_vocab, k->p->tokenizer_pre, k->w, &tr);
    if (!rc)
        snprintf(k->rep->tokenizer, sizeof k->rep->tokenizer,
                 "%s, %lld tokens (%lld added, %lld padding), %lld merges, pre %s, bos %d, eos %d, eot %d%s",
                 tr.n_merges ? "byte-level BPE" : "SentencePiece BPE (tokenizer.model)", (long long)tr.n_vocab, (long long)tr.n_added, (long long)tr.n_pad, (long long)tr.n_merges, tr.pre, tr.bos,
                 tr.eos, tr.eot, tr.chat_template ? ", chat template" : "");
    return rc;
}

static int check_types(conv *k) {
    const bn_type_traits *w = bn_type_get(k->wtype), *h = bn_type_get(k->p->head_type);
    if (!w || !w->quantize || !(w->ternary || k->wtype == BN_TYPE_F32 || k->wtype == BN_TYPE_F16 || k->wtype == BN_TYPE_BF16))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "weight type must be i2_s, tq2_0, tq1_0, f16, bf16 or f32");
    if (k->wtype == BN_TYPE_I2_S && k->cfg->family == HF_LLAMA)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "i2_s is a BitNet-architecture type (its GGUF id means something else to "
                        "llama.cpp); use tq2_0 or tq1_0 for the llama architecture");
    if (!h || !(k->p->head_type == BN_TYPE_F16 || k->p->head_type == BN_TYPE_Q8_0 || k->p->head_type == BN_TYPE_F32))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "head type must be f16, q8_0 or f32");
    return 0;
}

static int run(conv *k) {
    const hf_config *c = k->cfg;
    const st_tensor *emb = need(k, "model.embed_tokens.weight");
    if (!emb) return bn_last_error_status();
    k->rep->n_vocab = emb->n_dims == 2 ? (int64_t)emb->shape[0] : 0;
    if (k->rep->n_vocab != c->vocab)
        return bn_error(BITNET_ERR_UNSUPPORTED, "model.embed_tokens.weight has %lld rows but config.json says vocab_size %lld",
                        (long long)k->rep->n_vocab, (long long)c->vocab);
    int rc = check_types(k);
    int per_layer = c->family == HF_LLAMA ? 9 : 11;
    k->total = 2 + (c->tied ? 0 : 1) + (c->rope_llama3 ? 1 : 0) + (int)c->layers * per_layer;
    if (!rc) rc = write_hparams(k);
    if (!rc) rc = write_tokenizer(k);
    if (!rc) rc = convert_matrix(k, "model.embed_tokens.weight", "token_embd.weight", CLS_EMBED);
    if (!rc) rc = convert_norm(k, "model.norm.weight", "output_norm.weight", c->hidden, CLS_NORM);
    if (!rc && !c->tied) rc = convert_matrix(k, "lm_head.weight", "output.weight", CLS_HEAD);
    if (!rc && c->rope_llama3) rc = write_rope_freqs(k);
    if (!rc && c->tied) hf_tensor(k->c, "lm_head.weight"); /* a tied copy some exports carry: the embedding is used */
    for (int l = 0; !rc && l < c->layers; l++) rc = convert_layer(k, l);
    if (!rc) rc = hf_check_all_used(k->c);
    if (!rc) rc = gguf_writer_write(k->w, k->p->out_path);
    return rc;
}

int bn_convert(const bn_convert_params *p, bn_convert_report *rep) {
    memset(rep, 0, sizeof *rep);
    if (!p || !p->hf_dir || !p->out_path) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "convert: input folder and output path are required");
    hf_checkpoint *c;
    int rc = hf_open(p->hf_dir, &c);
    if (rc) return rc;
    conv k = {p, c, &c->cfg, gguf_writer_new(), rep, p->wtype, 0, 0, NULL, 0, 0};
    if (k.wtype == BN_CONVERT_AUTO_TYPE) k.wtype = c->cfg.family == HF_B158 ? BN_TYPE_I2_S : BN_TYPE_TQ2_0;
    rep->family = c->cfg.family_name;
    rep->arch = c->cfg.gguf_arch;
    rep->n_layer = c->cfg.layers;
    rc = k.w ? run(&k) : bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory");
    gguf_writer_free(k.w);
    for (size_t i = 0; i < k.n_bufs; i++) free(k.bufs[i]);
    free(k.bufs);
    hf_close(c);
    return rc;
}
