/* attention: scratch sizing, the scalar reference of the blocked online-softmax attention and
 * the tier dispatch (numerics in attention.h). */
#include "model/attention.h"

#include <math.h>
#include <string.h>

/* Scratch, the larger of two layouts (each part starting at a multiple of 16 floats). Rows
 * (attention_simd.h): per-row scores of a pair of blocks [n_rows][32], then m, l, alpha per
 * row; K^T of two blocks [2][head_dim][16]; the rows' running outputs [n_rows][head_dim]. */
uint64_t bn_attention_scratch_floats(int64_t n_rows, int64_t head_dim) {
    uint64_t rows = (uint64_t)n_rows * (2 * BN_ATTN_BLOCK + 3), kt = (uint64_t)head_dim * 2 * BN_ATTN_BLOCK;
    uint64_t by_rows = ((rows + 15) & ~(uint64_t)15) + ((kt + 15) & ~(uint64_t)15) + (uint64_t)n_rows * (uint64_t)head_dim;
    /* AVX-512 groups of 16 rows (attention_avx512.c): Q^T, weights [16][16], m, l, alpha, pos
     * per padded row, the K block [16][head_dim], the outputs */
    uint64_t padded = ((uint64_t)n_rows + 15) & ~(uint64_t)15;
    uint64_t by_groups = padded * ((uint64_t)head_dim + BN_ATTN_BLOCK + 4) + BN_ATTN_BLOCK * (uint64_t)head_dim +
                         (uint64_t)n_rows * (uint64_t)head_dim;
    return by_rows > by_groups ? by_rows : by_groups;
}

/* One row, keys [p0, p0 + nv): the block step of attention.h, in scalar order. */
static void ref_block(const bn_attn_job *j, int64_t r, int64_t p0, int64_t nv, float *m, float *l) {
    int64_t hd = j->head_dim;
    float s[BN_ATTN_BLOCK], bmax = -INFINITY, bsum = 0.0f;
    for (int64_t i = 0; i < nv; i++) {
        const float *k = j->k + (p0 + i) * j->kv_stride;
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
    float *o = j->out[r];
    for (int64_t d = 0; d < hd; d++) o[d] *= alpha;
    for (int64_t i = 0; i < nv; i++) {
        const float *v = j->v + (p0 + i) * j->kv_stride;
        for (int64_t d = 0; d < hd; d++) o[d] += s[i] * v[d];
    }
}

void bn_attention_ref(const bn_attn_job *j) {
    for (int64_t r = 0; r < j->n_rows; r++) {
        float m = -INFINITY, l = 0.0f;
        memset(j->out[r], 0, (size_t)j->head_dim * sizeof(float));
        for (int64_t p0 = 0; p0 <= j->pos[r]; p0 += BN_ATTN_BLOCK) {
            int64_t nv = j->pos[r] + 1 - p0 < BN_ATTN_BLOCK ? j->pos[r] + 1 - p0 : BN_ATTN_BLOCK;
            ref_block(j, r, p0, nv, &m, &l);
        }
        for (int64_t d = 0; d < j->head_dim; d++) j->out[r][d] /= l;
    }
}

void bn_attention_run(const bn_attn_job *j) {
    bn_attention_kernel k = bn_attention_kernel_for_tier(bn_cpu_active_tier());
    if (!k || !k(j)) bn_attention_ref(j);
}
