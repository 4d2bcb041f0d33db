/* attention_avx512: the blocked online-softmax attention (attention.h) at 16 lanes: one
 * vector per 16-key block, 8 query rows per register tile. The loops are attention_simd.h. */
#include <immintrin.h>

#include <stdint.h>

#include "exp_avx512.h"

#define V __m512
#define VL 16
#define TR 8
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_DIV(a, b) _mm512_div_ps((a), (b))
#define V_HMAX(v) _mm512_reduce_max_ps(v)
#define V_HSUM(v) _mm512_reduce_add_ps(v)
#define V_EXP(v) exp16(v)
#define V_KEEP(v, n, fill) _mm512_mask_mov_ps((fill), keep_mask16(n), (v))
#define V_LOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define V_LOAD_I8(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))))
#define F16_1(h) _cvtsh_ss(h)
/* The row path (jobs under 16 rows) computes alpha and the block sum exactly as the group path
 * below, so that a row's bits do not depend on which path its job takes. */
#define V_EXP1(x) _mm512_cvtss_f32(exp16(_mm512_set1_ps(x)))
#define ATTN_SUM_IN_KEY_ORDER

/* Lanes [0, n) of 16 (n clamped to [0, 16]). */
static inline __mmask16 keep_mask16(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1); }

/* exp(x) (exp_avx512.h) for x <= 0 (softmax arguments). Arguments below -87.3 give ~2^-126
 * (callers zero the lanes they mask). */
static inline __m512 exp16(__m512 x) { return bn_exp16_poly(_mm512_max_ps(x, _mm512_set1_ps(-87.3f))); }

#define ATTN_PAIR_BLOCKS /* 2 x 8 score accumulators + 2 K^T vectors of 32 registers */
/* 4 x 4 value accumulators + 4 V vectors: a depth-2048 decode step (2B-4T shapes, Zen 4, 2
 * threads, interleaved with the 2-slice passes in one process) 1.01-1.03x faster */
#define ATTN_WIDE_VALUES 4
/* f16 V rows decoded once per block for a job's value tiles (attention_simd.h, ATTN_DECODES) */
#define ATTN_DECODE_F16

#define ATTN_PF_BLOCKS 2 /* attention_simd.h; 1-4 measured, docs/KERNELS.md */
#include "attention_simd.h"

/* Jobs of 16 rows or more: rows in groups of 16, one row per lane, with Q^T [hd][16] built
 * once per job. Per block, a group's 16 keys are 16 accumulators (acc[i] lane r = dot(q_r, k_i),
 * d in order with FMA, as the row path): one Q^T load and 16 broadcasts of k_i[d] from the
 * block's K^T per d (the cache's own for f32, else decoded once per block for all groups). The softmax is then lane-wise
 * over 16 rows at once (vertical max, exp, sum; no horizontal reductions, no transposes), and
 * the weights are stored [16 keys][16 rows] for values_tile. Lanes of keys past a row's pos are
 * masked (-inf, then 0); a row with no key in the block (pos < p0, or a padding lane) keeps
 * m, l and o exactly (alpha = exp16(0) = 1, sum 0, no value FMAs). */
#define GROUP_MIN_ROWS 16

/* One group x one block: m, l, alpha of the 16 rows updated, weights e[i][r] written. */
static inline void group_block(const float *qt, const float *kt, int64_t hd, __m512i posv, int64_t p0, float scale,
                               float *e, float *m, float *l, float *alpha) {
    __m512 acc[16];
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t d = 0; d < hd; d++) {
        __m512 qv = _mm512_load_ps(qt + d * 16);
        _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(qv, _mm512_set1_ps(kt[d * 16 + i]), acc[i]);
    }
    __m512 vs = _mm512_set1_ps(scale), ninf = _mm512_set1_ps(-INFINITY), bmax = ninf;
    __mmask16 mk[16];
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) { /* key p0 + i is seen by rows with pos >= p0 + i */
        mk[i] = _mm512_cmp_epi32_mask(_mm512_set1_epi32((int)(p0 + i)), posv, _MM_CMPINT_LE);
        acc[i] = _mm512_mask_mul_ps(ninf, mk[i], acc[i], vs);
        bmax = _mm512_max_ps(bmax, acc[i]);
    }
    __m512 mo = _mm512_load_ps(m), mnew = _mm512_max_ps(mo, bmax), sum = _mm512_setzero_ps();
    __m512 al = exp16(_mm512_sub_ps(mo, mnew));
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) {
        __m512 ei = _mm512_maskz_mov_ps(mk[i], exp16(_mm512_sub_ps(acc[i], mnew)));
        _mm512_store_ps(e + i * 16, ei);
        sum = _mm512_add_ps(sum, ei);
    }
    _mm512_store_ps(l, _mm512_add_ps(_mm512_mul_ps(_mm512_load_ps(l), al), sum));
    _mm512_store_ps(m, mnew);
    _mm512_store_ps(alpha, al);
}

/* Scratch (floats, ng = ceil(n / 16) groups, every part 64-byte aligned; attention.c sizes it):
 * the fold (bn_attn_fold_floats), Q^T [ng][hd][16], weights [ng][16][16], m, l, alpha [ng * 16],
 * pos as int32 [ng * 16] (-1 in padding lanes), the decoded K^T block [hd][16] and V rows
 * [16][hd] (f16, q8_0), the outputs [n][hd]. m and l of row r are m[r], l[r], as in the row
 * path, so segment_end and finish_job serve both. */
BN_INLINE void attention_groups(const bn_attn_job *j, int64_t hd) {
    int64_t n = j->n_rows, ng = (n + 15) >> 4;
    float *fold = j->scratch, *qt = fold + bn_attn_fold_floats(n, hd), *e = qt + ng * hd * 16, *m = e + ng * 256, *l = m + ng * 16,
          *alpha = l + ng * 16;
    int32_t *posg = (int32_t *)(alpha + ng * 16);
    float *kdec = (float *)(posg + ng * 16), *vdec = kdec + 16 * hd, *ob = vdec + 16 * hd;
    int64_t kbytes = (int64_t)bn_kv_k_block_bytes(j->k_type, hd);
    int nv[ATTN_MAX_STACK_ROWS];
    for (int64_t r = 0; r < ng * 16; r++) {
        posg[r] = r < n ? (int32_t)j->pos[r] : -1;
        m[r] = -INFINITY;
        l[r] = 0.0f;
        for (int64_t d = 0; d < hd; d++) qt[((r >> 4) * hd + d) * 16 + (r & 15)] = r < n ? j->q[r][d] : 0.0f;
    }
    memset(ob, 0, (size_t)(n * hd) * sizeof(float));
    int64_t r0 = 0, begin = job_begin(j), last = job_last(j);
    for (int64_t p0 = begin; p0 <= last; p0 += BN_ATTN_BLOCK) {
        if (p0 > begin && p0 % BN_ATTN_SEG == 0) segment_end(j, hd, p0 - BN_ATTN_SEG, m, l, ob, fold);
        while (j->pos[r0] < p0) r0++;
        const float *kt = k_block_f32(bn_attn_k_block(j, p0, (uint64_t)kbytes), hd, j->k_type, kdec);
        for (int64_t g = r0 >> 4; g < ng; g++)
            group_block(qt + g * hd * 16, kt, hd, _mm512_load_si512(posg + g * 16), p0, j->scale, e + g * 256, m + g * 16,
                        l + g * 16, alpha + g * 16);
        int64_t t0 = r0 & ~(int64_t)(TR - 1); /* value tiles of TR rows stay inside one group */
        for (int64_t r = t0; r < n; r++) {
            int64_t c = j->pos[r] + 1 - p0;
            nv[r - t0] = c < 0 ? 0 : c > BN_ATTN_BLOCK ? BN_ATTN_BLOCK : (int)c;
        }
        attn_vrows vr = v_block_rows(j, hd, p0, nv[n - 1 - t0], t0, last, vdec);
        tiles_values(j, vr, hd, t0, e, 1, alpha, nv, ob);
    }
    finish_job(j, hd, last, m, l, ob, fold);
}

bool bn_attention_avx512(const bn_attn_job *j) {
    int64_t n = j->n_rows, hd = j->head_dim;
    if (n < GROUP_MIN_ROWS || !attention_covers(j, 16)) return attention_simd(j);
    if (hd == 128) attention_groups(j, 128);
    else attention_groups(j, hd);
    return true;
}
