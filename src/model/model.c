/* model: GGUF -> bn_model binding with shape checks (see model.h). */
#include "model/model.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/forward.h"
#include "model/head_screen.h"
#include "kernels/cpu.h"
#include "kernels/kernels.h"
#include "model/threadpool.h"
#include "formats/types.h"
#include "util.h"

const char *const bn_linear_names[BN_LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

bool bn_arch_supported(const char *arch) {
    return !strcmp(arch, "bitnet") || !strcmp(arch, "bitnet-b1.58") || !strcmp(arch, "bitnet-25") || !strcmp(arch, "llama");
}

/* Reads `<arch>.<suffix>` as an integer. Missing: *out = fallback, *was_default = true. */
static int arch_int(const gguf_file *f, const char *arch, const char *suffix, int64_t fallback,
                    bool required, int64_t *out, bool *was_default) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (gguf_get_int(f, key, out)) {
        if (*out <= 0 || *out > (1LL << 31))
            return bn_error(BITNET_ERR_LOAD_FAILED, "%s: key %s = %lld is out of range", f->path, key, (long long)*out);
        if (was_default) *was_default = false;
        return 0;
    }
    if (gguf_find_kv(f, key))
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: key %s has a non-integer type", f->path, key);
    if (required) return bn_error(BITNET_ERR_LOAD_FAILED, "%s: required key %s is missing", f->path, key);
    *out = fallback;
    if (was_default) *was_default = true;
    return 0;
}

static int arch_float(const gguf_file *f, const char *arch, const char *suffix, float fallback,
                      float *out, bool *was_default) {
    char key[128];
    double v;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (gguf_get_float(f, key, &v)) {
        if (!(v > 0) || v > 1e12)
            return bn_error(BITNET_ERR_LOAD_FAILED, "%s: key %s = %g is out of range", f->path, key, v);
        *out = (float)v;
        *was_default = false;
        return 0;
    }
    *out = fallback;
    *was_default = true;
    return 0;
}

/* RoPE scaling keys (llama.cpp reads them for every architecture): linear scaling (type
 * "linear" or "none", the default being linear) divides every angle by the factor; the
 * others (yarn, longrope) and an attention factor change the numbers in ways not implemented
 * here, so they are refused rather than ignored. */
static int read_rope_scaling(const gguf_file *f, bn_hparams *hp) {
    const char *a = hp->arch;
    char key[128], type[32] = "linear";
    double v;
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (gguf_find_kv(f, key) && !gguf_get_str_buf(f, key, type, sizeof type))
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: key %s is not a string", f->path, key);
    if (strcmp(type, "linear") && strcmp(type, "none"))
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s: key %s = '%s': only linear RoPE scaling is implemented (not yarn or longrope)",
                        f->path, key, type);
    hp->rope_freq_scale = 1.0f;
    const char *factor_keys[] = {"rope.scaling.factor", "rope.scale_linear"};
    for (int i = 0; i < 2; i++) {
        snprintf(key, sizeof key, "%s.%s", a, factor_keys[i]);
        if (!gguf_get_float(f, key, &v)) continue;
        if (!(v >= 0) || v > 1e6) return bn_error(BITNET_ERR_LOAD_FAILED, "%s: key %s = %g is out of range", f->path, key, v);
        if (v != 0) hp->rope_freq_scale = (float)(1.0 / v);
        break;
    }
    snprintf(key, sizeof key, "%s.rope.scaling.attn_factor", a);
    if (gguf_get_float(f, key, &v) && v != 1.0)
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s: key %s = %g: a RoPE attention factor is not implemented", f->path, key, v);
    return 0;
}

/* Keys that would change the graph in ways this engine does not implement: refused. */
static int refuse_unimplemented_keys(const gguf_file *f, const bn_hparams *hp) {
    const char *a = hp->arch;
    char key[128];
    int64_t n;
    double v;
    const char *lengths[] = {"attention.key_length", "attention.value_length"};
    for (int i = 0; i < 2; i++) {
        snprintf(key, sizeof key, "%s.%s", a, lengths[i]);
        if (gguf_get_int(f, key, &n) && n != hp->head_dim)
            return bn_error(BITNET_ERR_UNSUPPORTED, "%s: key %s = %lld differs from embedding_length / head_count = %lld (not implemented)",
                            f->path, key, (long long)n, (long long)hp->head_dim);
    }
    snprintf(key, sizeof key, "%s.expert_count", a);
    if (gguf_get_int(f, key, &n) && n > 0)
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s: key %s = %lld: mixture-of-experts models are not implemented", f->path, key, (long long)n);
    snprintf(key, sizeof key, "%s.attention.scale", a);
    if (gguf_get_float(f, key, &v) && v != 0)
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s: key %s = %g: an attention scale other than 1/sqrt(head_dim) is not implemented",
                        f->path, key, v);
    return 0;
}

int bn_read_hparams(const gguf_file *f, bn_hparams *hp) {
    memset(hp, 0, sizeof *hp);
    if (!gguf_get_str_buf(f, "general.architecture", hp->arch, sizeof hp->arch))
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: no general.architecture key", f->path);
    if (!bn_arch_supported(hp->arch))
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s: key general.architecture = '%s' is not supported (this engine runs bitnet, bitnet-b1.58, bitnet-25, llama)",
                        f->path, hp->arch);
    bool llama = !strcmp(hp->arch, "llama");
    hp->ffn_act = !strcmp(hp->arch, "bitnet") || llama ? BN_FFN_SILU : BN_FFN_RELU2;
    hp->rope_type = llama ? BN_ROPE_NORM : BN_ROPE_NEOX; /* llama.cpp's rope type per arch */
    hp->sub_norms = !llama;
    const char *a = hp->arch;
    int rc;
    if ((rc = arch_int(f, a, "embedding_length", 0, true, &hp->n_embd, NULL)) ||
        (rc = arch_int(f, a, "block_count", 0, true, &hp->n_layer, NULL)) ||
        (rc = arch_int(f, a, "feed_forward_length", 0, true, &hp->n_ff, NULL)) ||
        (rc = arch_int(f, a, "attention.head_count", 0, true, &hp->n_head, NULL)) ||
        (rc = arch_int(f, a, "context_length", 2048, false, &hp->n_ctx_train, &hp->default_ctx)) ||
        (rc = arch_int(f, a, "attention.head_count_kv", hp->n_head, false, &hp->n_head_kv, &hp->default_head_kv)) ||
        (rc = arch_float(f, a, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps, &hp->default_eps)) ||
        (rc = arch_float(f, a, "rope.freq_base", 10000.0f, &hp->rope_base, &hp->default_rope_base)))
        return rc;
    if (hp->n_embd % hp->n_head != 0)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: key %s.embedding_length = %lld is not a multiple of key %s.attention.head_count = %lld",
                        f->path, a, (long long)hp->n_embd, a, (long long)hp->n_head);
    if (hp->n_head % hp->n_head_kv != 0)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: key %s.attention.head_count = %lld is not a multiple of key %s.attention.head_count_kv = %lld",
                        f->path, a, (long long)hp->n_head, a, (long long)hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((rc = arch_int(f, a, "rope.dimension_count", hp->head_dim, false, &hp->n_rot, &hp->default_rot))) return rc;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: key %s.rope.dimension_count = %lld must be even and <= the head size %lld",
                        f->path, a, (long long)hp->n_rot, (long long)hp->head_dim);
    if ((rc = read_rope_scaling(f, hp))) return rc;
    return refuse_unimplemented_keys(f, hp);
}

uint64_t bn_kv_cache_bytes(const bn_hparams *hp, int64_t n_ctx) {
    return 2ull * (uint64_t)hp->n_layer * (uint64_t)n_ctx * (uint64_t)(hp->n_head_kv * hp->head_dim) * sizeof(float);
}

/* ---- tensors ---- */

static const gguf_tensor *find_layer_tensor(const gguf_file *f, int layer, const char *name, const char *suffix) {
    char full[128];
    snprintf(full, sizeof full, "blk.%d.%s.%s", layer, name, suffix);
    return gguf_find_tensor(f, full);
}

static int check_dims(const gguf_file *f, const gguf_tensor *t, int64_t ne0, int64_t ne1) {
    bool ok = (int64_t)t->ne[0] == ne0 && (int64_t)t->ne[1] == ne1 && t->ne[2] == 1 && t->ne[3] == 1;
    if (!ok)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: tensor '%s' has shape [%llu, %llu, %llu, %llu], expected [%lld, %lld] from the hyper-parameters",
                        f->path, t->name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                        (unsigned long long)t->ne[2], (unsigned long long)t->ne[3], (long long)ne0, (long long)ne1);
    return 0;
}

/* Binds blk.L.<name>.weight of shape [in, out] plus its optional blk.L.<name>.scale. */
static int bind_matrix(bn_model *m, int layer, const char *name, int64_t in, int64_t out, bn_linear *w) {
    const gguf_file *f = m->file;
    const gguf_tensor *t = find_layer_tensor(f, layer, name, "weight");
    if (!t) return bn_error(BITNET_ERR_LOAD_FAILED, "%s: missing tensor blk.%d.%s.weight", f->path, layer, name);
    int rc = check_dims(f, t, in, out);
    if (rc) return rc;
    if (!bn_type_get(t->type))
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s: tensor '%s' has unsupported type %u", f->path, t->name, t->type);
    rc = bn_linear_init(w, t, find_layer_tensor(f, layer, name, "scale"));
    if (rc) return bn_error(rc, "%s: %s", f->path, bn_last_error_message());
    return 0; /* packed later, all matrices in parallel (pack_all) */
}

/* Returns an F32 view of a 1-D norm weight of n elements, converting F16/BF16 into owned memory. */
static int bind_norm(bn_model *m, const char *tensor_name, int64_t n, float **cursor, const float **out) {
    const gguf_file *f = m->file;
    const gguf_tensor *t = gguf_find_tensor(f, tensor_name);
    if (!t) return bn_error(BITNET_ERR_LOAD_FAILED, "%s: missing tensor %s", f->path, tensor_name);
    if ((int64_t)t->n_elements != n || (int64_t)t->ne[0] != n)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: tensor '%s' has %llu elements, expected %lld",
                        f->path, tensor_name, (unsigned long long)t->n_elements, (long long)n);
    if (t->type == BN_TYPE_F32) {
        *out = t->data; /* data offsets are aligned to >= 32 bytes by the reader */
        return 0;
    }
    if (t->type != BN_TYPE_F16 && t->type != BN_TYPE_BF16)
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s: norm tensor '%s' must be F32, F16 or BF16", f->path, tensor_name);
    bn_type_get(t->type)->dequantize(t->data, (uint64_t)n, 0, (uint64_t)n, *cursor);
    *out = *cursor;
    *cursor += n;
    return 0;
}

static const char *const embd_names[] = {"token_embd.weight", "embed_tokens.weight", "tok_embeddings.weight",
                                         "model.embed_tokens.weight"};

static const gguf_tensor *find_embedding(const gguf_file *f) {
    for (size_t i = 0; i < sizeof embd_names / sizeof embd_names[0]; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, embd_names[i]);
        if (t) return t;
    }
    return NULL;
}

/* Materialises a transposed embedding ([n_vocab, n_embd] in GGUF terms) as F32 rows. */
static int transpose_embedding(bn_model *m, const gguf_tensor *t) {
    uint64_t vocab = t->ne[0], embd = t->ne[1];
    const bn_type_traits *tt = bn_type_get(t->type);
    float *col = bn_malloc(vocab * sizeof(float), "embedding transpose");
    float *rows = bn_malloc(vocab * embd * sizeof(float), "transposed embedding");
    if (!col || !rows) {
        free(col);
        free(rows);
        return BITNET_ERR_OUT_OF_MEMORY;
    }
    for (uint64_t e = 0; e < embd; e++) {
        tt->dequantize(t->data, vocab * embd, e * vocab, vocab, col);
        for (uint64_t v = 0; v < vocab; v++) rows[v * embd + e] = col[v];
    }
    free(col);
    bn_linear *w = &m->tok_embd;
    memset(w, 0, sizeof *w);
    w->name = t->name;
    w->type = BN_TYPE_F32;
    w->in = (int64_t)embd;
    w->out = (int64_t)vocab;
    w->data = (const uint8_t *)rows;
    w->owned_data = rows;
    w->row_bytes = embd * sizeof(float);
    w->out_scale = 1.0f;
    m->embd_transposed = true;
    return 0;
}

static bool transposed_flag(const gguf_file *f) {
    const gguf_tensor *t = gguf_find_tensor(f, "embed_tokens.transposed");
    if (!t || t->n_elements != 1) return false;
    float v = 0;
    if (t->type == BN_TYPE_F32) memcpy(&v, t->data, 4);
    else if (t->type == BN_TYPE_F16) v = bn_f16_to_f32(*(const uint16_t *)t->data);
    return v != 0.0f;
}

static int bind_embeddings(bn_model *m) {
    const gguf_file *f = m->file;
    bn_hparams *hp = &m->hp;
    const gguf_tensor *t = find_embedding(f);
    if (!t) return bn_error(BITNET_ERR_LOAD_FAILED, "%s: missing token embedding (token_embd.weight)", f->path);
    if (t->n_dims != 2 || (t->ne[0] != (uint64_t)hp->n_embd && t->ne[1] != (uint64_t)hp->n_embd))
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: token embedding '%s' has no dimension equal to embedding_length %lld",
                        f->path, t->name, (long long)hp->n_embd);
    bool transposed = t->ne[0] != (uint64_t)hp->n_embd || (t->ne[0] == t->ne[1] && transposed_flag(f));
    int rc;
    if (transposed) {
        rc = transpose_embedding(m, t);
    } else {
        rc = bn_linear_init(&m->tok_embd, t, NULL);
        if (rc) rc = bn_error(rc, "%s: %s", f->path, bn_last_error_message());
    }
    if (rc) return rc;
    hp->n_vocab = m->tok_embd.out;
    int64_t declared;
    char key[96];
    snprintf(key, sizeof key, "%s.vocab_size", hp->arch);
    if (gguf_get_int(f, key, &declared) && declared != hp->n_vocab)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: %s = %lld but the token embedding has %lld rows",
                        f->path, key, (long long)declared, (long long)hp->n_vocab);

    const gguf_tensor *out = gguf_find_tensor(f, "output.weight");
    if (out) {
        if ((rc = check_dims(f, out, hp->n_embd, hp->n_vocab))) return rc;
        rc = bn_linear_init(&m->output, out, NULL);
        if (rc) return bn_error(rc, "%s: %s", f->path, bn_last_error_message());
        return bn_kernel_linear_pack(&m->output);
    }
    m->tied_head = true;
    m->output = m->tok_embd;
    m->output.owned_data = NULL; /* owned by tok_embd */
    m->output.packed = NULL;
    return bn_kernel_linear_pack(&m->output);
}

/* The optional per-linear input norms of layer l (model.h): blk.l.<linear>_in_norm.weight. */
static int bind_in_norms(bn_model *m, int l, const int64_t *in, float **cursor) {
    bn_layer *L = &m->layers[l];
    char name[128];
    for (int i = 0; i < BN_LIN_COUNT; i++) {
        snprintf(name, sizeof name, "blk.%d.%s_in_norm.weight", l, bn_linear_names[i]);
        if (!gguf_find_tensor(m->file, name)) continue;
        int rc = bind_norm(m, name, in[i], cursor, &L->in_norm[i]);
        if (rc) return rc;
        L->has_in_norms = true;
    }
    return 0;
}

/* rope_freqs.weight [n_rot/2]: Llama-3's frequency factors (angle i divided by factor i). */
static int bind_rope_freqs(bn_model *m, float **cursor) {
    if (!gguf_find_tensor(m->file, "rope_freqs.weight")) return 0;
    int64_t half = m->hp.n_rot / 2;
    int rc = bind_norm(m, "rope_freqs.weight", half, cursor, &m->rope_freqs);
    for (int64_t i = 0; !rc && i < half; i++)
        if (!(m->rope_freqs[i] > 0.0f) || m->rope_freqs[i] > 1e6f)
            rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: rope_freqs.weight[%lld] = %g is not a positive factor", m->file->path,
                          (long long)i, m->rope_freqs[i]);
    return rc;
}

/* A llama file's tensors must all be ones this engine binds: biases, a fused attn_qkv, MoE
 * experts or longrope factors would change the numbers if they were ignored. */
static int check_llama_tensors(const bn_model *m) {
    const gguf_file *f = m->file;
    static const char *const top[] = {"output_norm.weight", "output.weight", "rope_freqs.weight", "embed_tokens.transposed"};
    static const char *const layer_norms[] = {"attn_norm.weight", "ffn_norm.weight"};
    for (uint64_t t = 0; t < f->n_tensors; t++) {
        const char *name = f->tensors[t].name;
        bool known = find_embedding(f) == &f->tensors[t];
        for (size_t i = 0; !known && i < sizeof top / sizeof top[0]; i++) known = !strcmp(name, top[i]);
        int layer, at = 0;
        if (!known && sscanf(name, "blk.%d.%n", &layer, &at) == 1 && at > 0 && layer >= 0 && layer < m->hp.n_layer) {
            const char *rest = name + at;
            for (size_t i = 0; !known && i < 2; i++) known = !strcmp(rest, layer_norms[i]);
            for (int i = 0; !known && i < BN_LIN_COUNT; i++) {
                size_t k = strlen(bn_linear_names[i]);
                known = !strncmp(rest, bn_linear_names[i], k) &&
                        (!strcmp(rest + k, ".weight") || !strcmp(rest + k, ".scale") || !strcmp(rest + k, "_in_norm.weight"));
            }
        }
        if (!known)
            return bn_error(BITNET_ERR_UNSUPPORTED, "%s: tensor '%s' is not part of the llama architecture as this engine runs it "
                            "(no biases, fused QKV, experts, sub-norms or longrope factors)", f->path, name);
    }
    return 0;
}

static int bind_layers(bn_model *m) {
    bn_hparams *hp = &m->hp;
    int64_t q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    /* room for every norm converted from F16/BF16: the fixed ones, the in-norms, rope_freqs */
    int64_t in[BN_LIN_COUNT] = {hp->n_embd, hp->n_embd, hp->n_embd, q_dim, hp->n_embd, hp->n_embd, hp->n_ff};
    uint64_t in_norm_floats = 0; /* bind_norm converts a tensor only when it has the expected count */
    for (uint64_t t = 0; t < m->file->n_tensors; t++)
        if (strstr(m->file->tensors[t].name, "_in_norm.weight")) in_norm_floats += m->file->tensors[t].n_elements;
    m->layers = bn_calloc((size_t)hp->n_layer, sizeof *m->layers, "layers");
    m->owned_f32 = bn_malloc((size_t)(hp->n_layer * (2 * hp->n_embd + q_dim + hp->n_ff) + hp->n_embd + hp->n_rot / 2 + (int64_t)in_norm_floats) *
                                 sizeof(float), "norm weights");
    if (!m->layers || !m->owned_f32) return BITNET_ERR_OUT_OF_MEMORY;
    float *cursor = m->owned_f32;
    char name[128];
    int rc;
    if ((rc = bind_norm(m, "output_norm.weight", hp->n_embd, &cursor, &m->output_norm))) return rc;
    if ((rc = bind_rope_freqs(m, &cursor))) return rc;
    int n_ternary = 0, n_total = 0;
    for (int l = 0; l < hp->n_layer; l++) {
        bn_layer *L = &m->layers[l];
        struct { const char *name; int64_t n; const float **dst; } norms[] = {
            {"attn_norm", hp->n_embd, &L->attn_norm}, {"ffn_norm", hp->n_embd, &L->ffn_norm},
            {"attn_sub_norm", q_dim, &L->attn_sub_norm}, {"ffn_sub_norm", hp->n_ff, &L->ffn_sub_norm}};
        for (int i = 0; i < (hp->sub_norms ? 4 : 2); i++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, norms[i].name);
            if ((rc = bind_norm(m, name, norms[i].n, &cursor, norms[i].dst))) return rc;
        }
        if ((rc = bind_in_norms(m, l, in, &cursor))) return rc;
        int64_t out[BN_LIN_COUNT] = {q_dim, kv_dim, kv_dim, hp->n_embd, hp->n_ff, hp->n_ff, hp->n_embd};
        bn_linear *w[BN_LIN_COUNT] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
        for (int i = 0; i < BN_LIN_COUNT; i++) {
            if ((rc = bind_matrix(m, l, bn_linear_names[i], in[i], out[i], w[i]))) return rc;
            n_ternary += w[i]->ternary;
            n_total++;
            m->weight_type = w[i]->type;
        }
    }
    m->all_ternary = n_total > 0 && n_ternary == n_total;
    return hp->sub_norms ? 0 : check_llama_tensors(m);
}

/* ---- repacking at load ---- */

typedef struct {
    const gguf_file *file;
    bn_linear **mats;
    uint8_t **codes;         /* [n_mats]: where mats[i]'s tiles go in the model's arena (NULL: not packed) */
    int n_mats;
    atomic_int next;         /* next matrix to pack */
    atomic_int done;         /* matrices packed so far */
    atomic_int failed;       /* first failing status (0: none) */
    const bn_progress *progress; /* reported by thread 0 (the loading thread), or NULL */
} pack_job;

/* madvise(advice) on the file mapping's pages that hold [data, data + bytes): with `inner`
 * only the pages wholly inside the range (dropping must not touch a neighbour's bytes), else
 * every page the range touches. Nothing for bytes outside the file mapping (heap copies such
 * as a transposed embedding, where MADV_DONTNEED would zero the data). */
static void advise_mapped(const gguf_file *f, const void *data, uint64_t bytes, bool inner, int advice) {
    const uint8_t *p = data;
    if (!f->owns_mapping || p < f->base || p + bytes > f->base + f->size) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), start = (uintptr_t)data, end = start + (uintptr_t)bytes;
    uintptr_t b = (inner ? start + page - 1 : start) & ~(page - 1), e = (inner ? end : end + page - 1) & ~(page - 1);
    if (e > b) madvise((void *)b, e - b, advice);
}

/* The mapped pages wholly inside [data, data + bytes) dropped: for a private read-only file
 * mapping MADV_DONTNEED just discards clean page-cache views (a later read faults them in
 * from the file again). */
static void drop_mapped_pages(const gguf_file *f, const void *data, uint64_t bytes) { advise_mapped(f, data, bytes, true, MADV_DONTNEED); }

/* Once a mapped ternary weight is repacked, the kernels never read its file pages again (only
 * the scalar reference would): dropping them keeps the resident size near the file size
 * instead of file + packed copy. */
static void release_source_pages(const gguf_file *f, const bn_linear *w) {
    if (w->packed && !w->owned_data) drop_mapped_pages(f, w->data, w->row_bytes * (uint64_t)w->out);
}

/* The mapped pages of a weight about to be repacked, faulted in by one call (the kernel maps
 * the page-cache pages in a batch) rather than one page fault per 4 KiB as the repacking
 * reads them: ~0.15-0.2 s of a 2B-4T load on the Zen 5 VM of 2026-12-07. A hint: kernels
 * before Linux 5.14 refuse it and the faults happen as before. */
static void populate_source_pages(const gguf_file *f, const bn_linear *w) {
#ifdef MADV_POPULATE_READ
    if (!w->owned_data) advise_mapped(f, w->data, w->row_bytes * (uint64_t)w->out, false, MADV_POPULATE_READ);
#else
    (void)f;
    (void)w;
#endif
}

/* Each thread takes whole matrices in turn (210 of them for 2B-4T, so the split is even). */
static void pack_job_run(void *ctx, int thread, int n_threads) {
    (void)n_threads;
    pack_job *job = ctx;
    for (int i; (i = atomic_fetch_add(&job->next, 1)) < job->n_mats && !atomic_load(&job->failed);) {
        populate_source_pages(job->file, job->mats[i]);
        int rc = bn_kernel_linear_pack_in(job->mats[i], job->codes[i]);
        if (rc) {
            int zero = 0;
            atomic_compare_exchange_strong(&job->failed, &zero, rc);
            return;
        }
        release_source_pages(job->file, job->mats[i]);
        int done = atomic_fetch_add(&job->done, 1) + 1;
        if (thread == 0 && job->progress && job->progress->fn) /* 5%..95%: repacking is most of a load */
            job->progress->fn(0.05f + 0.9f * (float)done / (float)job->n_mats, job->progress->user);
    }
}

/* One arena for the tiles of all n matrices, in transparent huge pages (bn_malloc_large):
 * written whole at load, it takes ~0.5 GB of fresh memory for 2B-4T, and its 4 KiB page
 * faults were ~0.4-0.9 s of a 2-thread load on the Zen 5 VM of 2026-12-07 (one arena, not
 * one mapping per matrix: each would round up to 2 MiB). codes[i]: matrix i's place, NULL
 * when it is not packed (or, under AddressSanitizer, packed into its own allocation, so that
 * a kernel reading past a matrix meets a redzone, not the next matrix). */
static int alloc_tiles_arena(bn_model *m, bn_linear *const *mats, int n, uint8_t **codes) {
    uint64_t total = 0;
    for (int i = 0; i < n; i++) total += bn_kernel_linear_pack_bytes(mats[i]); /* multiples of 256: aligned */
#ifdef BN_ASAN_BUILD
    total = 0;
#endif
    if (total == 0 || total > SIZE_MAX) {
        memset(codes, 0, (size_t)n * sizeof *codes);
        return 0;
    }
    if (!(m->tiles_arena = bn_malloc_large((size_t)total, "packed ternary codes"))) return BITNET_ERR_OUT_OF_MEMORY;
    m->tiles_arena_bytes = total;
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        uint64_t bytes = bn_kernel_linear_pack_bytes(mats[i]);
        codes[i] = bytes ? m->tiles_arena + at : NULL;
        at += bytes;
    }
    return 0;
}

/* Repacks every layer matrix and the LM head for the kernels, on all CPUs. */
static int pack_all(bn_model *m, const bn_progress *progress) {
    double t0 = bn_time_now();
    int n = (int)m->hp.n_layer * 7 + 1;
    bn_linear **mats = bn_malloc((size_t)n * sizeof *mats, "matrix list");
    uint8_t **codes = bn_malloc((size_t)n * sizeof *codes, "matrix tile places");
    if (!mats || !codes) {
        free(mats);
        free(codes);
        return BITNET_ERR_OUT_OF_MEMORY;
    }
    int k = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        bn_layer *L = &m->layers[l];
        bn_linear *lm[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
        for (int i = 0; i < 7; i++) mats[k++] = lm[i];
    }
    mats[k++] = &m->output;
    int rc = alloc_tiles_arena(m, mats, k, codes);
    if (rc) {
        free(mats);
        free(codes);
        return bn_error(rc, "%s: repacking weights failed: %s", m->file->path, bn_last_error_message());
    }
    pack_job job = {.file = m->file, .mats = mats, .codes = codes, .n_mats = k, .progress = progress};
    atomic_init(&job.next, 0);
    atomic_init(&job.done, 0);
    atomic_init(&job.failed, 0);
    int n_threads = bn_cpu_count();
    bn_threadpool *pool = n_threads > 1 ? bn_threadpool_create(n_threads) : NULL;
    bn_threadpool_run(pool, pack_job_run, &job); /* NULL pool (one CPU, or no threads): runs here */
    bn_threadpool_free(pool);
    rc = atomic_load(&job.failed);
    if (rc) bn_error(rc, "%s: repacking weights failed: %s", m->file->path, bn_last_error_message());
    for (int i = 0; i < k; i++) m->packed_bytes += bn_kernel_packed_bytes(mats[i]);
    free(mats);
    free(codes);
    m->pack_seconds = bn_time_now() - t0;
    return rc;
}

/* ---- 8-bit LM head ---- */

typedef struct {
    const gguf_file *file;
    const bn_linear *src;
    bn_linear *dst;          /* the Q8_0 head being built: its q8 rows, or its Q8_0 blocks */
    uint8_t *q8_0;           /* the Q8_0 blocks [M][row_bytes] when not packed, else NULL */
    float **row;             /* [thread] K floats of scratch */
    uint8_t **step;          /* packed: [thread] Q8_JOB_ROWS rows of Q8_0 blocks, else NULL */
} q8_job;

#define Q8_JOB_ROWS 1024 /* rows per step; the step's source pages are dropped after it */

static void q8_job_run(void *ctx, int i, int n) {
    const q8_job *job = ctx;
    const bn_type_traits *q8 = bn_type_get(BN_TYPE_Q8_0);
    const bn_linear *src = job->src;
    uint64_t rb = job->dst->row_bytes;
    long long r0, r1;
    bn_split_range(src->out, i, n, 1, &r0, &r1);
    for (long long s0 = r0; s0 < r1; s0 += Q8_JOB_ROWS) {
        long long s1 = s0 + Q8_JOB_ROWS < r1 ? s0 + Q8_JOB_ROWS : r1;
        uint8_t *blocks = job->step ? job->step[i] : job->q8_0 + (uint64_t)s0 * rb; /* row s0 first */
        for (long long r = s0; r < s1; r++) {
            bn_linear_dequant_row(src, r, job->row[i]);
            q8->quantize(job->row[i], (uint64_t)src->in, blocks + (uint64_t)(r - s0) * rb);
        }
        if (job->step) bn_kernel_q8_0_pack_rows(job->dst, blocks, s0, s1);
        /* Those source rows were read once; a tied embedding is read a row per token from now
         * on, so its mapped pages need not stay resident (as for repacking): dropping them
         * step by step keeps the peak RSS near the file size instead of file + both copies. */
        if (!src->owned_data) drop_mapped_pages(job->file, src->data + (uint64_t)s0 * src->row_bytes, (uint64_t)(s1 - s0) * src->row_bytes);
    }
}

/* Quantizes rows in parallel (the 2B-4T head is 128256 x 2560: seconds on one thread). Where
 * the tier has a kernel layout for it (kernels.h), the rows go straight into that layout and
 * the Q8_0 blocks are not kept (w->data becomes NULL): 349 MB less for 2B-4T. */
int bn_model_quantize_head_q8(bn_model *m) {
    bn_linear *w = &m->output;
    if (w->type != BN_TYPE_F16 && w->type != BN_TYPE_BF16 && w->type != BN_TYPE_F32)
        return bn_error(BITNET_ERR_UNSUPPORTED, "--lm-head q8 needs an F32, F16 or BF16 LM head; this one is %s",
                        bn_type_get(w->type) ? bn_type_get(w->type)->name : "?");
    if (w->in % 32 != 0)
        return bn_error(BITNET_ERR_UNSUPPORTED, "--lm-head q8 needs a hidden size that is a multiple of 32, not %lld", (long long)w->in);
    int n_threads = bn_cpu_count();
    bn_linear q = *w; /* the Q8_0 head: same shape, scale and name */
    q.type = BN_TYPE_Q8_0;
    q.row_bytes = (uint64_t)(w->in / 32) * sizeof(bn_block_q8_0);
    q.packed = NULL;
    q.owned_data = NULL;
    q.data = NULL;
    q8_job job = {.file = m->file, .src = w, .dst = &q};
    int rc = bn_kernel_q8_0_pack_alloc(&q);
    bool ok = rc == 0 && (job.row = bn_calloc((size_t)n_threads, sizeof *job.row, "LM head rows")) != NULL;
    if (ok && q.packed) ok = (job.step = bn_calloc((size_t)n_threads, sizeof *job.step, "LM head steps")) != NULL;
    else if (ok) ok = (job.q8_0 = bn_malloc((size_t)(q.row_bytes * (uint64_t)w->out), "8-bit LM head")) != NULL;
    for (int i = 0; ok && i < n_threads; i++) {
        ok = (job.row[i] = bn_malloc((size_t)w->in * sizeof(float), "LM head row")) != NULL;
        if (ok && job.step) ok = (job.step[i] = bn_malloc((size_t)(q.row_bytes * Q8_JOB_ROWS), "LM head step")) != NULL;
    }
    bn_threadpool *pool = ok && n_threads > 1 ? bn_threadpool_create(n_threads) : NULL;
    if (ok) bn_threadpool_run(pool, q8_job_run, &job); /* NULL pool: all rows on this thread */
    bn_threadpool_free(pool);
    for (int i = 0; i < n_threads; i++) {
        if (job.row) free(job.row[i]);
        if (job.step) free(job.step[i]);
    }
    free(job.row);
    free(job.step);
    if (!ok) {
        bn_kernel_linear_unpack(&q);
        free(job.q8_0);
        return rc ? rc : BITNET_ERR_OUT_OF_MEMORY;
    }
    q.owned_data = job.q8_0;
    q.data = job.q8_0;
    if (!m->tied_head) bn_linear_release(w); /* a tied head is a view of tok_embd: nothing to free */
    *w = q;
    m->lm_head_q8 = true;
    return 0;
}

/* ---- screened LM head ---- */

typedef struct {
    const gguf_file *file;
    const bn_linear *src;
    bn_head_screen *h;
    float **row;             /* [thread] K floats of scratch */
    const float *f16;        /* every f16 as a float */
    atomic_int failed;       /* the first failure's status */
} screen_job;

static void screen_job_run(void *ctx, int i, int n) {
    screen_job *job = ctx;
    const bn_linear *src = job->src;
    long long r0, r1;
    bn_split_range(src->out, i, n, 1, &r0, &r1);
    for (long long s0 = r0; s0 < r1 && !atomic_load(&job->failed); s0 += Q8_JOB_ROWS) {
        long long s1 = s0 + Q8_JOB_ROWS < r1 ? s0 + Q8_JOB_ROWS : r1;
        int rc = bn_head_screen_fill(job->h, src, s0, s1, job->f16, job->row[i]);
        if (rc) {
            int zero = 0;
            atomic_compare_exchange_strong(&job->failed, &zero, rc);
        }
        /* as for the 8-bit head: the rows were read once; from now on only candidate rows are */
        if (!src->owned_data) drop_mapped_pages(job->file, src->data + (uint64_t)s0 * src->row_bytes, (uint64_t)(s1 - s0) * src->row_bytes);
    }
}

int bn_model_screen_head(bn_model *m) {
    if (m->screen || m->lm_head_q8) return m->screen ? 0 : bn_error(BITNET_ERR_INVALID_ARGUMENT, "the LM head is already 8-bit");
    bn_head_screen *h = bn_head_screen_alloc(&m->output);
    if (!h) return bn_last_error_status();
    int n_threads = bn_cpu_count();
    screen_job job = {.file = m->file, .src = &m->output, .h = h};
    atomic_init(&job.failed, 0);
    float *f16 = bn_head_screen_f16_table();
    job.f16 = f16;
    bool ok = f16 && (job.row = bn_calloc((size_t)n_threads, sizeof *job.row, "LM head rows")) != NULL;
    for (int i = 0; ok && i < n_threads; i++) ok = (job.row[i] = bn_malloc((size_t)m->output.in * sizeof(float), "LM head row")) != NULL;
    bn_threadpool *pool = ok && n_threads > 1 ? bn_threadpool_create(n_threads) : NULL;
    if (ok) bn_threadpool_run(pool, screen_job_run, &job); /* NULL pool: all rows on this thread */
    bn_threadpool_free(pool);
    for (int i = 0; job.row && i < n_threads; i++) free(job.row[i]);
    free(job.row);
    free(f16);
    int rc = !ok ? BITNET_ERR_OUT_OF_MEMORY : atomic_load(&job.failed);
    if (rc) {
        bn_head_screen_free(h);
        return rc;
    }
    m->screen = h;
    return 0;
}

static uint64_t linear_read_bytes(const bn_linear *w) {
    uint64_t packed = bn_kernel_packed_bytes(w);
    return packed ? packed : w->row_bytes * (uint64_t)w->out;
}

static uint64_t file_layout_bytes(const bn_linear *w) { return w->row_bytes * (uint64_t)w->out; }

static uint64_t token_bytes(const bn_model *m, uint64_t (*bytes_of)(const bn_linear *)) {
    uint64_t total = bytes_of(&m->output) + m->tok_embd.row_bytes;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const bn_layer *L = &m->layers[l];
        const bn_linear *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
        for (int i = 0; i < 7; i++) total += bytes_of(mats[i]);
    }
    return total;
}

uint64_t bn_model_token_read_bytes(const bn_model *m) {
    uint64_t total = token_bytes(m, linear_read_bytes);
    return m->screen ? total - linear_read_bytes(&m->output) + m->screen->bytes : total;
}

uint64_t bn_model_token_file_bytes(const bn_model *m) { return token_bytes(m, file_layout_bytes); }

static int bind_file(gguf_file *f, const bn_progress *progress, bn_model **out) {
    *out = NULL;
    double t0 = bn_time_now();
    bn_model *m = bn_calloc(1, sizeof *m, "model");
    if (!m) {
        gguf_close(f);
        return BITNET_ERR_OUT_OF_MEMORY;
    }
    m->file = f;
    int rc = bn_read_hparams(f, &m->hp);
    if (!rc) rc = bind_embeddings(m);
    if (!rc) rc = bind_layers(m);
    if (!rc) rc = pack_all(m, progress);
    if (rc) {
        bn_model_free(m);
        return rc;
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) m->weight_bytes += f->tensors[i].n_bytes;
    m->load_seconds = bn_time_now() - t0;
    *out = m;
    return 0;
}

int bn_model_bind(gguf_file *f, bn_model **out) { return bind_file(f, NULL, out); }

int bn_model_load_progress(const char *path, const bn_progress *progress, bn_model **out) {
    *out = NULL;
    if (!path) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "model path is NULL");
    gguf_file *f = gguf_open(path);
    if (!f) return bn_last_error_status() ? bn_last_error_status() : BITNET_ERR_LOAD_FAILED;
    return bind_file(f, progress, out);
}

int bn_model_load(const char *path, bn_model **out) { return bn_model_load_progress(path, NULL, out); }

void bn_model_free(bn_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int l = 0; l < m->hp.n_layer; l++) {
            bn_layer *L = &m->layers[l];
            bn_linear *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
            for (int i = 0; i < 7; i++) bn_linear_release(mats[i]);
        }
    }
    bn_head_screen_free(m->screen);
    bn_linear_release(&m->output);
    bn_linear_release(&m->tok_embd);
    bn_free_large(m->tiles_arena, (size_t)m->tiles_arena_bytes); /* after the matrices that borrow it */
    free(m->layers);
    free(m->owned_f32);
    gguf_close(m->file);
    free(m);
}
