/* attention: the KV cache types' layouts and conversions, scratch sizing, the scalar reference
 * of the blocked online-softmax attention and the tier dispatch (numerics in attention.h). */
#include "model/attention.h"

#include <math.h>
#include <string.h>

#include "kernels/cpu.h"
#include "model/rows.h"
#include "util.h"

/* ---- KV cache types ---- */

static const char *const kv_names[BN_KV_TYPE_COUNT] = {"f32", "f16", "q8_0"};

const char *bn_kv_type_name(bn_kv_type t) { return (unsigned)t < BN_KV_TYPE_COUNT ? kv_names[t] : "?"; }

int bn_kv_type_from_name(const char *name, bn_kv_type *out) {
    for (int t = 0; name && t < BN_KV_TYPE_COUNT; t++)
        if (!strcmp(name, kv_names[t])) {
            *out = (bn_kv_type)t;
            return 0;
        }
    return -1;
}

int bn_kv_check_head_dim(bn_kv_type t, int64_t hd) {
    if (t == BN_KV_Q8_0 && hd % BN_KV_QK)
        return bn_error(BITNET_ERR_UNSUPPORTED, "a q8_0 KV cache needs a head size that is a multiple of %d; this model's is %lld",
                        BN_KV_QK, (long long)hd);
    return 0;
}

/* q8_0 chunk of a K^T block: 16 f16 scales, then int8 [32][16]. */
#define Q8_CHUNK_BYTES (BN_ATTN_BLOCK * (2 + BN_KV_QK))
#define Q8_ROW_BLOCK_BYTES (2 + BN_KV_QK) /* llama.cpp's block_q8_0 */

uint64_t bn_kv_k_block_bytes(bn_kv_type t, int64_t hd) {
    if (t == BN_KV_Q8_0) return (uint64_t)(hd / BN_KV_QK) * Q8_CHUNK_BYTES;
    return (uint64_t)hd * BN_ATTN_BLOCK * (t == BN_KV_F16 ? 2u : 4u);
}

uint64_t bn_kv_v_row_bytes(bn_kv_type t, int64_t hd) {
    if (t == BN_KV_Q8_0) return (uint64_t)(hd / BN_KV_QK) * Q8_ROW_BLOCK_BYTES;
    return (uint64_t)hd * (t == BN_KV_F16 ? 2u : 4u);
}

/* 32 values x -> f16 scale *d and int8 q[i * step], as llama.cpp's x86 quantize_row_q8_0. */
static void quantize_q8_0(const float *x, uint8_t *d, int8_t *q, int64_t step) {
    float amax = 0.0f;
    for (int i = 0; i < BN_KV_QK; i++) amax = fmaxf(amax, fabsf(x[i]));
    uint16_t h = bn_f32_to_f16(amax / 127.0f);
    memcpy(d, &h, 2);
    float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < BN_KV_QK; i++) q[i * step] = (int8_t)nearbyintf(x[i] * id);
}

static float load_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return bn_f16_to_f32(h);
}

/* The tier's f32 -> f16 conversion (rows.h: the same bits as bn_f32_to_f16). */
static bn_to_f16_fn to_f16(void) { return bn_rows_for_tier(bn_cpu_active_tier())->to_f16; }

void bn_kv_store_k(bn_kv_type t, void *block, int i, const float *k, int64_t hd) {
    if (i == 0) memset(block, 0, (size_t)bn_kv_k_block_bytes(t, hd));
    uint8_t *b = block;
    for (int64_t c = 0; t == BN_KV_Q8_0 && c < hd / BN_KV_QK; c++) {
        uint8_t *chunk = b + c * Q8_CHUNK_BYTES;
        quantize_q8_0(k + c * BN_KV_QK, chunk + 2 * i, (int8_t *)(chunk + 2 * BN_ATTN_BLOCK) + i, BN_ATTN_BLOCK);
    }
    if (t == BN_KV_F16) to_f16()((uint16_t *)block + i, BN_ATTN_BLOCK, k, hd);
    for (int64_t d = 0; t == BN_KV_F32 && d < hd; d++) ((float *)block)[d * BN_ATTN_BLOCK + i] = k[d];
}

void bn_kv_store_v(bn_kv_type t, void *row, const float *v, int64_t hd) {
    uint8_t *b = row;
    for (int64_t c = 0; t == BN_KV_Q8_0 && c < hd / BN_KV_QK; c++)
        quantize_q8_0(v + c * BN_KV_QK, b + c * Q8_ROW_BLOCK_BYTES, (int8_t *)(b + c * Q8_ROW_BLOCK_BYTES + 2), 1);
    if (t == BN_KV_F16) to_f16()((uint16_t *)row, 1, v, hd);
    if (t == BN_KV_F32) memcpy(row, v, (size_t)hd * sizeof(float));
}

void bn_kv_load_k(bn_kv_type t, const void *block, int i, float *k, int64_t hd) {
    const uint8_t *b = block;
    for (int64_t d = 0; t == BN_KV_Q8_0 && d < hd; d++) {
        const uint8_t *chunk = b + (d / BN_KV_QK) * Q8_CHUNK_BYTES;
        k[d] = load_f16(chunk + 2 * i) * (float)((const int8_t *)(chunk + 2 * BN_ATTN_BLOCK))[(d % BN_KV_QK) * BN_ATTN_BLOCK + i];
    }
    for (int64_t d = 0; t == BN_KV_F16 && d < hd; d++) k[d] = bn_f16_to_f32(((const uint16_t *)block)[d * BN_ATTN_BLOCK + i]);
    for (int64_t d = 0; t == BN_KV_F32 && d < hd; d++) k[d] = ((const float *)block)[d * BN_ATTN_BLOCK + i];
}

void bn_kv_load_v(bn_kv_type t, const void *row, float *v, int64_t hd) {
    const uint8_t *b = row;
    for (int64_t d = 0; t == BN_KV_Q8_0 && d < hd; d++) {
        const uint8_t *blk = b + (d / BN_KV_QK) * Q8_ROW_BLOCK_BYTES;
        v[d] = load_f16(blk) * (float)((const int8_t *)(blk + 2))[d % BN_KV_QK];
    }
    for (int64_t d = 0; t == BN_KV_F16 && d < hd; d++) v[d] = bn_f16_to_f32(((const uint16_t *)row)[d]);
    if (t == BN_KV_F32) memcpy(v, row, (size_t)hd * sizeof(float));
}

/* ---- attention ---- */

/* Scratch: the folded outputs (bn_attn_fold_floats), then the larger of two layouts (each
 * part starting at a multiple of 16 floats). Rows
 * (attention_simd.h): per-row scores of a pair of blocks [n_rows][32], then m, l, alpha per
 * row; K^T of two blocks [2][head_dim][16] and V of one block [16][head_dim], decoded; the
 * rows' running outputs [n_rows][head_dim]. */
uint64_t bn_attention_scratch_floats(int64_t n_rows, int64_t head_dim) {
    uint64_t rows = (uint64_t)n_rows * (2 * BN_ATTN_BLOCK + 3), kt = (uint64_t)head_dim * 2 * BN_ATTN_BLOCK;
    uint64_t by_rows = ((rows + 15) & ~(uint64_t)15) + ((kt + 15) & ~(uint64_t)15) + BN_ATTN_BLOCK * (uint64_t)head_dim +
                       (uint64_t)n_rows * (uint64_t)head_dim;
    /* AVX-512 groups of 16 rows (attention_avx512.c): Q^T, weights [16][16], m, l, alpha, pos
     * per padded row, the K block [16][head_dim] and V block [16][head_dim], the outputs */
    uint64_t padded = ((uint64_t)n_rows + 15) & ~(uint64_t)15;
    uint64_t by_groups = padded * ((uint64_t)head_dim + BN_ATTN_BLOCK + 4) + 2 * BN_ATTN_BLOCK * (uint64_t)head_dim +
                         (uint64_t)n_rows * (uint64_t)head_dim;
    return bn_attn_fold_floats(n_rows, head_dim) + (by_rows > by_groups ? by_rows : by_groups);
}

void bn_attn_merge(float *M, float *L, float *restrict O, float m, float l, const float *restrict o, int64_t hd, bool first) {
    if (first) {
        *M = m;
        *L = l;
        memcpy(O, o, (size_t)hd * sizeof(float));
        return;
    }
    float mn = m > *M ? m : *M;
    float a = expf(*M - mn), b = expf(m - mn);
    float la = *L * a, lb = l * b; /* separate statements: no contraction to an FMA */
    *L = la + lb;
    *M = mn;
    int64_t d = 0;
    typedef float v4f __attribute__((vector_size(16))); /* 4 lanes at a time: the same per-element operations */
    for (; d + 4 <= hd; d += 4) {
        v4f x, y;
        memcpy(&x, O + d, sizeof x);
        memcpy(&y, o + d, sizeof y);
        x = x * a + y * b;
        memcpy(O + d, &x, sizeof x);
    }
    for (; d < hd; d++) O[d] = O[d] * a + o[d] * b;
}

/* One row, keys [p0, p0 + nv): the block step of attention.h, in scalar order, on the decoded
 * cache (kv: 2 x head_dim floats of scratch), o the segment's running output. */
static void ref_block(const bn_attn_job *j, int64_t r, int64_t p0, int64_t nv, float *m, float *l, float *o, float *kv) {
    int64_t hd = j->head_dim;
    float s[BN_ATTN_BLOCK], bmax = -INFINITY, bsum = 0.0f, *k = kv, *v = kv + hd;
    const char *kb = bn_attn_k_block(j, p0, bn_kv_k_block_bytes(j->k_type, hd));
    for (int64_t i = 0; i < nv; i++) {
        bn_kv_load_k(j->k_type, kb, (int)(p0 % BN_ATTN_BLOCK + i), k, hd);
        float dot = 0.0f;
        for (int64_t d = 0; d < hd; d++) dot += j->q[r][d] * k[d];
        s[i] = dot * j->scale;
        bmax = s[i] > bmax ? s[i] : bmax;
    }
    float mnew = bmax > *m ? bmax : *m;
    float alpha = expf(*m - mnew);
    for (int64_t i = 0; i < nv; i++) {
        s[i] = expf(s[i] - mnew);
        bsum += s[i];
    }
    *l = *l * alpha + bsum;
    *m = mnew;
    for (int64_t d = 0; d < hd; d++) o[d] *= alpha;
    for (int64_t i = 0; i < nv; i++) {
        bn_kv_load_v(j->v_type, bn_attn_v_row(j, p0 + i), v, hd);
        for (int64_t d = 0; d < hd; d++) o[d] += s[i] * v[d];
    }
}

/* Per row: each segment from a fresh state, then folded (or, for a one-segment job, handed
 * back as its part). Scratch: K and V rows, the segment's output (3 x head_dim floats). */
void bn_attention_ref(const bn_attn_job *j) {
    int64_t hd = j->head_dim;
    float *kv = j->scratch, *o = j->scratch + 2 * hd;
    for (int64_t r = 0; r < j->n_rows; r++) {
        int64_t begin = j->part_m ? j->seg0 : 0, end = j->pos[r] + 1;
        if (j->part_m && end > begin + BN_ATTN_SEG) end = begin + BN_ATTN_SEG;
        float M = -INFINITY, L = 0.0f;
        if (j->part_m && end <= begin) { /* no key in the segment: the empty state */
            j->part_m[r] = -INFINITY;
            j->part_l[r] = 0.0f;
            memset(j->part_o[r], 0, (size_t)hd * sizeof(float));
        }
        for (int64_t s0 = begin; s0 < end; s0 += BN_ATTN_SEG) {
            float m = -INFINITY, l = 0.0f;
            int64_t s1 = end < s0 + BN_ATTN_SEG ? end : s0 + BN_ATTN_SEG;
            memset(o, 0, (size_t)hd * sizeof(float));
            for (int64_t p0 = s0; p0 < s1; p0 += BN_ATTN_BLOCK)
                ref_block(j, r, p0, s1 - p0 < BN_ATTN_BLOCK ? s1 - p0 : BN_ATTN_BLOCK, &m, &l, o, kv);
            if (j->part_m) {
                j->part_m[r] = m;
                j->part_l[r] = l;
                memcpy(j->part_o[r], o, (size_t)hd * sizeof(float));
            } else {
                bn_attn_merge(&M, &L, j->out[r], m, l, o, hd, s0 == 0);
            }
        }
        if (!j->part_m)
            for (int64_t d = 0; d < hd; d++) j->out[r][d] /= L;
    }
}

void bn_attention_run(const bn_attn_job *j) {
    bn_attention_kernel k = bn_attention_kernel_for_tier(bn_cpu_active_tier());
    if (!k || !k(j)) bn_attention_ref(j);
}
