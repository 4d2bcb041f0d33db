/* ternary_avx512: token-mode and q8k-mode ternary kernels on the base-3 tile layout
 * (kernel_impl.h) with AVX-512 VNNI + VBMI. Each 64-byte vector is decoded once
 * (base3_avx512.h) into five digit vectors c in {0,1,2}; vpdpbusd multiplies them (unsigned)
 * by the signed int8 activations and adds 4 products per 32-bit lane (lane = output row). The
 * weights are c - 1, so the dot is sum(c q) - sum(q) (the "unsigned-offset trick").
 * Bound: a vpdpbusd adds at most 4 * 2 * 128 = 1024 per lane, so |sum c q| <= 256 K and
 * |sum q| <= 128 K: far inside int32 for K <= 2^22, without intermediate folds. */
#include <immintrin.h>
#include <string.h>

#include "base3_avx512.h"
#include "kernel_impl.h"

#define BN_INLINE static inline __attribute__((always_inline))
#define TOKEN_BLOCK 64   /* tokens whose activation sums are computed together */
#define UNROLL BN_UNROLL /* kernel_impl.h: per-token partial sums stay in registers */

BN_INLINE __m512i bcast4(const int8_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm512_set1_epi32(v);
}

/* acc[t] (lane m) += sum over n_blocks blocks of codes[m][k] * q[t][k], for nt <= GROUP_MAX
 * tokens (nt is a constant after inlining). Each decoded digit vector is reused by nt
 * vpdpbusd (one per token, its 4 activations broadcast from memory); each code vector load
 * comes with a software prefetch (BN_PREFETCH_BYTES). Independent partial sums per token:
 * 4 / nt for nt < 4 (with one token the vpdpbusd chain latency, not the loads, would be the
 * limit), 1 from 4 tokens on (8 x 1 partials, the decoder's 9 constants and the digits fit
 * the 32 ZMM registers). Measured and not kept: two tiles at a time for one token (two memory
 * streams instead of one; no faster with the prefetch). */
#define GROUP_MAX 8
BN_INLINE void tile_dot(const uint8_t *codes, const int8_t *const *q, int nt, int64_t n_blocks, __m512i *acc) {
    const int np = nt >= 4 ? 1 : 4 / nt;
    b3_decoder dec;
    b3_decoder_init(&dec);
    __m512i part[GROUP_MAX][4];
    UNROLL for (int t = 0; t < nt; t++)
        UNROLL for (int i = 0; i < np; i++) part[t][i] = _mm512_setzero_si512();
    for (int64_t b = 0; b < n_blocks; b++) {
        const uint8_t *cb = codes + b * BN_B3_BLOCK_BYTES;
        UNROLL for (int v = 0; v < BN_B3_VECTORS; v++) {
            __m512i d[5];
            BN_PREFETCH_AHEAD(cb + 64 * v);
            b3_decode(&dec, _mm512_load_si512((const void *)(cb + 64 * v)), d);
            UNROLL for (int s = 0; s < 5; s++) {
                int g = 5 * v + s; /* k-group in the block */
                if (s < B3_DIGITS(v))
                    UNROLL for (int t = 0; t < nt; t++)
                        part[t][g % np] = _mm512_dpbusd_epi32(part[t][g % np], d[s], bcast4(q[t] + b * BN_QK_K + 4 * g));
            }
        }
    }
    UNROLL for (int t = 0; t < nt; t++)
        UNROLL for (int i = 0; i < np; i++) acc[t] = _mm512_add_epi32(acc[t], part[t][i]);
}

/* sum of n int8 (n a multiple of 64). */
static int32_t sum_i8(const int8_t *q, int64_t n) {
    __m512i acc = _mm512_setzero_si512();
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t k = 0; k < n; k += 64) acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512((const void *)(q + k)));
    return _mm512_reduce_add_epi32(acc);
}

/* Uniform scale: y = (((float)acc / s_t) * S) * out_scale, as the reference. */
BN_INLINE void uniform_group(const bn_ternary_job *j, int64_t tile, int t, int nt, const int32_t *sumq) {
    const bn_ternary_tiles *p = j->p;
    const int8_t *q[GROUP_MAX];
    __m512i acc[GROUP_MAX];
    for (int i = 0; i < nt; i++) {
        q[i] = j->a->q + (int64_t)(t + i) * p->K;
        acc[i] = _mm512_setzero_si512();
    }
    tile_dot(p->codes + (uint64_t)tile * p->tile_bytes, q, nt, p->n_blocks, acc);
    for (int i = 0; i < nt; i++) {
        __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i], _mm512_set1_epi32(sumq[i])));
        f = _mm512_mul_ps(_mm512_div_ps(f, _mm512_set1_ps(j->a->s[t + i])), _mm512_set1_ps(j->scale));
        f = _mm512_mul_ps(f, _mm512_set1_ps(j->out_scale));
        float v[BN_TILE_ROWS];
        _mm512_storeu_ps(v, f);
        bn_store_tile_rows(j, tile, t + i, v);
    }
}

/* Per-256-block path for one token: non-uniform token mode (q8k == false) or q8k mode. */
static void blocked_token(const bn_ternary_job *j, int64_t tile, int t, bool q8k) {
    const bn_ternary_tiles *p = j->p;
    const uint8_t *codes = p->codes + (uint64_t)tile * p->tile_bytes;
    const float *bd = p->block_d ? p->block_d + tile * p->n_blocks * BN_TILE_ROWS : NULL;
    const bn_block_q8_k *xq = q8k ? j->a->q8k + (int64_t)t * p->n_blocks : NULL;
    const int8_t *qt = q8k ? NULL : j->a->q + (int64_t)t * p->K;
    __m512 sum = _mm512_setzero_ps();
    for (int64_t b = 0; b < p->n_blocks; b++) {
        const int8_t *qb = q8k ? xq[b].qs : qt + b * BN_QK_K;
        __m512i acc = _mm512_setzero_si512();
        tile_dot(codes + b * BN_B3_BLOCK_BYTES, &qb, 1, 1, &acc);
        int32_t sq = 0;
        if (q8k)
            for (int i = 0; i < BN_QK_K / 16; i++) sq += xq[b].bsums[i];
        else
            sq = sum_i8(qb, BN_QK_K);
        __m512 isum = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, _mm512_set1_epi32(sq)));
        __m512 dw = bd ? _mm512_loadu_ps(bd + b * BN_TILE_ROWS) : _mm512_set1_ps(j->scale);
        if (q8k) dw = _mm512_mul_ps(dw, _mm512_set1_ps(xq[b].d));
        sum = _mm512_add_ps(sum, _mm512_mul_ps(q8k ? dw : isum, q8k ? isum : dw));
    }
    if (!q8k) sum = _mm512_div_ps(sum, _mm512_set1_ps(j->a->s[t]));
    float v[BN_TILE_ROWS];
    _mm512_storeu_ps(v, _mm512_mul_ps(sum, _mm512_set1_ps(j->out_scale)));
    bn_store_tile_rows(j, tile, t, v);
}

static void blocked(const bn_ternary_job *j, bool q8k) {
    for (int64_t tile = j->m0 / BN_TILE_ROWS; tile * BN_TILE_ROWS < j->m1; tile++)
        for (int t = j->t0; t < j->t1; t++) blocked_token(j, tile, t, q8k);
}

void bn_ternary_token_avx512(const bn_ternary_job *j) {
    if (!j->uniform) {
        blocked(j, false);
        return;
    }
    int32_t sumq[TOKEN_BLOCK];
    for (int tb = j->t0; tb < j->t1; tb += TOKEN_BLOCK) {
        int te = tb + TOKEN_BLOCK < j->t1 ? tb + TOKEN_BLOCK : j->t1;
        for (int t = tb; t < te; t++) sumq[t - tb] = sum_i8(j->a->q + (int64_t)t * j->p->K, j->p->K);
        for (int64_t tile = j->m0 / BN_TILE_ROWS; tile * BN_TILE_ROWS < j->m1; tile++)
            for (int t = tb; t < te;) { /* groups of 8, then 4, 2, 1: the codes are decoded once per group */
                const int32_t *sq = sumq + (t - tb);
                int left = te - t, nt = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
                switch (nt) {
                case 8: uniform_group(j, tile, t, 8, sq); break;
                case 4: uniform_group(j, tile, t, 4, sq); break;
                case 2: uniform_group(j, tile, t, 2, sq); break;
                default: uniform_group(j, tile, t, 1, sq); break;
                }
                t += nt;
            }
    }
}

void bn_ternary_q8k_avx512(const bn_ternary_job *j) { blocked(j, true); }
