/* linear: weight binding, activation preparation and the scalar reference of Y = X W^T
 * (numerics documented in linear.h). Fast paths live in src/kernels/ and are tried first. */
#include "model/linear.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "model/ternary.h"
#include "util.h"

const char *bn_act_quant_name(bn_act_quant m) {
    switch (m) {
    case BN_ACT_TOKEN: return "token";
    case BN_ACT_Q8K: return "q8k";
    case BN_ACT_NONE: return "none";
    }
    return "?";
}

bool bn_act_quant_parse(const char *s, bn_act_quant *out) {
    static const bn_act_quant modes[] = {BN_ACT_TOKEN, BN_ACT_Q8K, BN_ACT_NONE};
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, bn_act_quant_name(modes[i])) == 0) {
            *out = modes[i];
            return true;
        }
    return false;
}

/* ---- binding ---- */

/* Ternary TQ tensors: one scale for the whole tensor when every block shares one d. */
static void detect_uniform_tq_scale(bn_linear *w, uint32_t block_bytes) {
    uint64_t n_blocks = (uint64_t)w->out * (uint64_t)(w->in / BN_QK_K);
    const uint8_t *d_at = w->data + block_bytes - 2; /* d is the block's last 2 bytes */
    uint16_t d0;
    memcpy(&d0, d_at, 2);
    for (uint64_t b = 1; b < n_blocks; b++) {
        uint16_t d;
        memcpy(&d, d_at + b * block_bytes, 2);
        if (d != d0) return;
    }
    w->uniform_scale = true;
    w->scale = bn_f16_to_f32(d0);
}

int bn_linear_init(bn_linear *w, const gguf_tensor *t, const gguf_tensor *scale_t) {
    memset(w, 0, sizeof *w);
    const bn_type_traits *tt = bn_type_get(t->type);
    if (!tt) return bn_error(BITNET_ERR_UNSUPPORTED, "tensor '%s': unsupported type id %u", t->name, t->type);
    if (t->n_dims != 2 && !(t->n_dims > 2 && t->ne[2] == 1 && t->ne[3] == 1))
        return bn_error(BITNET_ERR_LOAD_FAILED, "tensor '%s': expected a 2-D weight, got %u dims", t->name, t->n_dims);
    w->name = t->name;
    w->type = t->type;
    w->in = (int64_t)t->ne[0];
    w->out = (int64_t)t->ne[1];
    w->data = t->data;
    w->ternary = tt->ternary;
    w->out_scale = 1.0f;
    uint64_t need_multiple = tt->block_size;
    if (t->type == BN_TYPE_I2_S) need_multiple = BN_I2S_BLOCK;
    if (w->in % (int64_t)need_multiple != 0)
        return bn_error(BITNET_ERR_UNSUPPORTED, "tensor '%s': row length %lld is not a multiple of %llu, which type %s needs",
                        t->name, (long long)w->in, (unsigned long long)need_multiple, tt->name);
    if (t->type == BN_TYPE_I2_S) {
        w->row_bytes = (uint64_t)w->in / 4;
        w->uniform_scale = true;
        memcpy(&w->scale, w->data + (uint64_t)w->in * (uint64_t)w->out / 4, 4);
        if (!isfinite(w->scale))
            return bn_error(BITNET_ERR_LOAD_FAILED, "tensor '%s': I2_S scale is not finite", t->name);
    } else {
        w->row_bytes = (uint64_t)w->in / tt->block_size * tt->block_bytes;
        if (tt->ternary) detect_uniform_tq_scale(w, tt->block_bytes);
    }
    if (scale_t) {
        if (scale_t->type != BN_TYPE_F32 || scale_t->n_elements != 1)
            return bn_error(BITNET_ERR_LOAD_FAILED, "tensor '%s': expected one F32 value", scale_t->name);
        memcpy(&w->out_scale, scale_t->data, 4);
    }
    return 0;
}

void bn_linear_release(bn_linear *w) {
    if (!w) return;
    bn_kernel_linear_unpack(w);
    free(w->owned_data);
    w->owned_data = NULL;
}

/* ---- activations ---- */

static uint64_t align64(uint64_t n) { return (n + 63) & ~(uint64_t)63; }

uint64_t bn_act_scratch_bytes(bn_act_quant mode, int n, int64_t K) {
    switch (mode) {
    case BN_ACT_TOKEN: return align64((uint64_t)n * (uint64_t)K) + align64((uint64_t)n * sizeof(float));
    case BN_ACT_Q8K: return align64((uint64_t)n * (uint64_t)(K / BN_QK_K) * sizeof(bn_block_q8_k));
    case BN_ACT_NONE: return 0;
    }
    return 0;
}

/* Per-token absmax quantization (linear.h, BN_ACT_TOKEN), written so that the compiler emits
 * no library calls (it runs once per matrix input, on the calling thread, for every token of
 * a prefill chunk):
 *  - the max of |x| in 4 interleaved running maxima: max is exact, so the order does not
 *    matter; `v > m ? v : m` skips NaN exactly like fmaxf;
 *  - round half to even by adding and subtracting 1.5 * 2^23 (exact for |v| < 2^22, and here
 *    |v| <= 127 * |x_k| / amax <= 127 up to one rounding), which is what nearbyintf does in
 *    the default rounding mode. */
#define BN_ROUND_MAGIC 12582912.0f /* 1.5 * 2^23 */

static float quantize_token(const float *x, int64_t K, int8_t *q) {
    float m4[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int64_t k = 0;
    for (; k + 4 <= K; k += 4)
        for (int j = 0; j < 4; j++) {
            float v = fabsf(x[k + j]);
            m4[j] = v > m4[j] ? v : m4[j];
        }
    float amax = 0.0f;
    for (; k < K; k++) amax = fabsf(x[k]) > amax ? fabsf(x[k]) : amax;
    for (int j = 0; j < 4; j++) amax = m4[j] > amax ? m4[j] : amax;
    float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    for (k = 0; k < K; k++) {
        float v = (x[k] * s + BN_ROUND_MAGIC) - BN_ROUND_MAGIC; /* not folded: no -ffast-math */
        q[k] = (int8_t)(v > 127.0f ? 127 : v < -128.0f ? -128 : v);
    }
    return s;
}

int bn_act_setup(bn_act *a, bn_act_quant mode, const float *x, int n, int64_t K, void *scratch) {
    memset(a, 0, sizeof *a);
    a->mode = mode;
    a->n = n;
    a->K = K;
    a->x = x;
    if (mode == BN_ACT_TOKEN) {
        a->q = scratch;
        a->s = (float *)((uint8_t *)scratch + align64((uint64_t)n * (uint64_t)K));
    } else if (mode == BN_ACT_Q8K) {
        if (K % BN_QK_K != 0)
            return bn_error(BITNET_ERR_UNSUPPORTED, "q8k activations need a multiple of 256 inputs, got %lld", (long long)K);
        a->q8k = scratch;
    }
    return 0;
}

void bn_act_quantize_tokens(bn_act *a, int t0, int t1) {
    int64_t K = a->K;
    for (int t = t0; t < t1; t++) {
        if (a->mode == BN_ACT_TOKEN) a->s[t] = quantize_token(a->x + (int64_t)t * K, K, a->q + (int64_t)t * K);
        else if (a->mode == BN_ACT_Q8K) bn_quantize_row_q8_k(a->x + (int64_t)t * K, a->q8k + (int64_t)t * (K / BN_QK_K), (uint64_t)K);
    }
}

uint64_t bn_act_q8_0_bytes(int n, int64_t K) { return align64((uint64_t)n * (uint64_t)(K / 32) * sizeof(bn_block_q8_0)); }

void bn_act_quantize_q8_0(bn_act *a, bn_block_q8_0 *buf, int t0, int t1) {
    const bn_type_traits *q8 = bn_type_get(BN_TYPE_Q8_0);
    int64_t nb = a->K / 32;
    for (int t = t0; t < t1; t++) q8->quantize(a->x + (int64_t)t * a->K, (uint64_t)a->K, buf + (int64_t)t * nb);
    a->x_q8_0 = buf;
}

bn_act bn_act_tokens(const bn_act *a, int t0, int t1) {
    bn_act v = *a;
    v.n = t1 - t0;
    v.x = a->x + (int64_t)t0 * a->K;
    if (a->q) v.q = a->q + (int64_t)t0 * a->K;
    if (a->s) v.s = a->s + t0;
    if (a->q8k) v.q8k = a->q8k + (int64_t)t0 * (a->K / BN_QK_K);
    if (a->x_q8_0) v.x_q8_0 = a->x_q8_0 + (int64_t)t0 * (a->K / 32);
    return v;
}

int bn_act_prepare(bn_act *a, bn_act_quant mode, const float *x, int n, int64_t K, void *scratch) {
    int rc = bn_act_setup(a, mode, x, n, K, scratch);
    if (!rc) bn_act_quantize_tokens(a, 0, n);
    return rc;
}

/* ---- reference kernels ---- */

/* Row scratch: the reference's K int8 ternary values + K/256 block scales + K floats, or the
 * kernels' scratch when that is larger (a call uses one or the other). */
uint64_t bn_linear_row_scratch_bytes(const bn_linear *w) {
    uint64_t K = (uint64_t)w->in;
    uint64_t ref = align64(K) + align64(K / BN_QK_K * sizeof(float) + sizeof(float)) + align64(K * sizeof(float));
    uint64_t kernel = bn_kernel_row_scratch_bytes(w); /* the kernels use the same memory: it is theirs or the reference's */
    return kernel > ref ? kernel : ref;
}

/* Decodes row m of a ternary weight into t[K] and, for TQ types, block scales d[K/256]. */
static void decode_ternary_row(const bn_linear *w, int64_t m, int8_t *t, float *d) {
    const uint8_t *row = w->data + (uint64_t)m * w->row_bytes;
    int64_t K = w->in;
    if (w->type == BN_TYPE_I2_S) {
        for (int64_t b = 0; b < K / BN_I2S_BLOCK; b++) bn_i2s_decode(row + 32 * b, t + b * BN_I2S_BLOCK);
        return;
    }
    for (int64_t b = 0; b < K / BN_QK_K; b++) {
        if (w->type == BN_TYPE_TQ2_0) {
            const bn_block_tq2_0 *blk = (const bn_block_tq2_0 *)row + b;
            bn_tq2_0_decode(blk, t + b * BN_QK_K);
            d[b] = bn_f16_to_f32(blk->d);
        } else {
            const bn_block_tq1_0 *blk = (const bn_block_tq1_0 *)row + b;
            bn_tq1_0_decode(blk, t + b * BN_QK_K);
            d[b] = bn_f16_to_f32(blk->d);
        }
    }
}

static int32_t dot_i8(const int8_t *t, const int8_t *q, int64_t n) {
    int32_t acc = 0; /* |acc| <= 128 * n */
    for (int64_t k = 0; k < n; k++) acc += (int32_t)t[k] * (int32_t)q[k];
    return acc;
}

static float ternary_token_row(const bn_linear *w, const int8_t *t, const float *d, const int8_t *q, float s) {
    if (w->uniform_scale) return ((float)dot_i8(t, q, w->in) / s) * w->scale;
    float sum = 0.0f;
    for (int64_t b = 0; b < w->in / BN_QK_K; b++)
        sum += (float)dot_i8(t + b * BN_QK_K, q + b * BN_QK_K, BN_QK_K) * d[b];
    return sum / s;
}

static float ternary_q8k_row(const bn_linear *w, const int8_t *t, const float *d, const bn_block_q8_k *xq) {
    float sum = 0.0f;
    for (int64_t b = 0; b < w->in / BN_QK_K; b++) {
        float dw = w->type == BN_TYPE_I2_S ? w->scale : d[b];
        sum += (dw * xq[b].d) * (float)dot_i8(t + b * BN_QK_K, xq[b].qs, BN_QK_K);
    }
    return sum;
}

/* Q8_0 x Q8_0 (linear.h): exact int32 per block, float sum in block order. */
static float q8_0_row(const bn_block_q8_0 *w, const bn_block_q8_0 *x, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int i = 0; i < 32; i++) isum += (int32_t)w[b].qs[i] * (int32_t)x[b].qs[i];
        sum += (bn_f16_to_f32(w[b].d) * bn_f16_to_f32(x[b].d)) * (float)isum;
    }
    return sum;
}

static float dot_f32(const float *a, const float *b, int64_t n) {
    float acc = 0.0f;
    for (int64_t k = 0; k < n; k++) acc += a[k] * b[k];
    return acc;
}

void bn_linear_dequant_row(const bn_linear *w, int64_t m, float *dst) {
    const bn_type_traits *tt = bn_type_get(w->type);
    uint64_t K = (uint64_t)w->in;
    if (w->type == BN_TYPE_I2_S) {
        /* I2_S's scale lives after all rows; dequantize through the whole-tensor view. */
        tt->dequantize(w->data, K * (uint64_t)w->out, (uint64_t)m * K, K, dst);
    } else {
        tt->dequantize(w->data + (uint64_t)m * w->row_bytes, K, 0, K, dst);
    }
}

void bn_linear_apply_rows_ref(const bn_linear *w, const bn_act *a, float *y, int64_t ldy,
                              int64_t m0, int64_t m1, void *row_tmp) {
    int64_t K = w->in;
    int8_t *t = row_tmp;
    float *d = (float *)((uint8_t *)row_tmp + align64((uint64_t)K));
    float *wf = (float *)((uint8_t *)d + align64((uint64_t)K / BN_QK_K * sizeof(float) + sizeof(float)));
    bn_act_quant mode = w->ternary ? a->mode : BN_ACT_NONE;
    if (!w->data) { /* kept only in a kernel layout (kernels.h); callers check before: NaN, not a crash */
        for (int tok = 0; tok < a->n; tok++)
            for (int64_t m = m0; m < m1; m++) y[(int64_t)tok * ldy + m] = NAN;
        return;
    }
    if (w->type == BN_TYPE_Q8_0 && a->x_q8_0) {
        for (int64_t m = m0; m < m1; m++)
            for (int tok = 0; tok < a->n; tok++)
                y[(int64_t)tok * ldy + m] = q8_0_row((const bn_block_q8_0 *)(w->data + (uint64_t)m * w->row_bytes),
                                                     a->x_q8_0 + (int64_t)tok * (K / 32), K / 32) * w->out_scale;
        return;
    }
    for (int64_t m = m0; m < m1; m++) {
        if (mode == BN_ACT_NONE) bn_linear_dequant_row(w, m, wf);
        else decode_ternary_row(w, m, t, d);
        for (int tok = 0; tok < a->n; tok++) {
            float v;
            if (mode == BN_ACT_TOKEN) v = ternary_token_row(w, t, d, a->q + (int64_t)tok * K, a->s[tok]);
            else if (mode == BN_ACT_Q8K) v = ternary_q8k_row(w, t, d, a->q8k + (int64_t)tok * (K / BN_QK_K));
            else v = dot_f32(wf, a->x + (int64_t)tok * K, K);
            y[(int64_t)tok * ldy + m] = v * w->out_scale;
        }
    }
}

void bn_linear_apply_rows(const bn_linear *w, const bn_act *a, float *y, int64_t ldy,
                          int64_t m0, int64_t m1, void *row_tmp) {
    if (bn_kernel_linear_apply(w, a, y, ldy, m0, m1, row_tmp)) return;
    bn_linear_apply_rows_ref(w, a, y, ldy, m0, m1, row_tmp);
}
