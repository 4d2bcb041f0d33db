/* ternary_256: the 256-bit (AVX2 / AVX-VNNI) ternary kernels on the tile layout
 * (kernel_impl.h), written once and included by ternary_avx2.c and ternary_avxvnni.c, which
 * differ only in the 4-way u8 x s8 dot step they define before including this file:
 *   DOT4(acc, codes_u8, q_s8)   acc (8 x int32) += sum of 4 products per lane
 *   SUM_I8(acc, q_s8)           acc (8 x int32) += sum of 4 int8 per lane
 *   KFN(name)                   the tier's function name for `name`
 * A tile's 16 rows are two halves: bytes [64p, 64p+32) hold rows 0..7, [64p+32, 64p+64)
 * rows 8..15; each 32-bit lane is one row. Codes c in {0,1,2} multiply the activations and
 * sum(q) is subtracted at the end (weights are c - 1). Bound: |sum c q| <= 256 K in int32. */
#include <immintrin.h>
#include <string.h>

#include "kernel_impl.h"

#define BN_INLINE static inline __attribute__((always_inline))
#define TOKEN_BLOCK 64

BN_INLINE __m256i bcast4(const int8_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm256_set1_epi32(v);
}

/* lo[t] / hi[t] (rows 0..7 / 8..15) += codes . q[t] over n_chunks chunks, nt tokens. */
BN_INLINE void tile_dot(const uint8_t *codes, const int8_t *const *q, int nt, int64_t n_chunks, __m256i *lo, __m256i *hi) {
    const __m256i three = _mm256_set1_epi8(3);
    for (int64_t c = 0; c < n_chunks; c++, codes += BN_CHUNK_BYTES) {
        for (int p = 0; p < 4; p++) {
            __m256i vlo = _mm256_load_si256((const __m256i *)(codes + 64 * p));
            __m256i vhi = _mm256_load_si256((const __m256i *)(codes + 64 * p + 32));
            for (int s = 0; s < 4; s++) {
                __m256i clo = _mm256_and_si256(_mm256_srli_epi16(vlo, 2 * s), three);
                __m256i chi = _mm256_and_si256(_mm256_srli_epi16(vhi, 2 * s), three);
                for (int t = 0; t < nt; t++) {
                    __m256i bq = bcast4(q[t] + c * BN_CHUNK_K + 16 * s + 4 * p);
                    lo[t] = DOT4(lo[t], clo, bq);
                    hi[t] = DOT4(hi[t], chi, bq);
                }
            }
        }
    }
}

static int32_t sum_i8(const int8_t *q, int64_t n) { /* n a multiple of 32 */
    __m256i acc = _mm256_setzero_si256();
    for (int64_t k = 0; k < n; k += 32) acc = SUM_I8(acc, _mm256_loadu_si256((const __m256i *)(q + k)));
    int32_t lane[8], s = 0;
    _mm256_storeu_si256((__m256i *)lane, acc);
    for (int i = 0; i < 8; i++) s += lane[i];
    return s;
}

BN_INLINE __m256 isum_f(__m256i acc, int32_t sq) { return _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_set1_epi32(sq))); }

/* Uniform scale: y = (((float)acc / s_t) * S) * out_scale, as the reference. */
BN_INLINE void uniform_group(const bn_ternary_job *j, int64_t tile, int t, int nt, const int32_t *sumq) {
    const bn_ternary_tiles *p = j->p;
    const int8_t *q[4];
    __m256i lo[4], hi[4];
    for (int i = 0; i < nt; i++) {
        q[i] = j->a->q + (int64_t)(t + i) * p->K;
        lo[i] = hi[i] = _mm256_setzero_si256();
    }
    tile_dot(p->codes + (uint64_t)tile * (uint64_t)p->n_chunks * BN_CHUNK_BYTES, q, nt, p->n_chunks, lo, hi);
    const __m256 scale = _mm256_set1_ps(j->scale), out_scale = _mm256_set1_ps(j->out_scale);
    for (int i = 0; i < nt; i++) {
        const __m256 s = _mm256_set1_ps(j->a->s[t + i]);
        float v[BN_TILE_ROWS];
        _mm256_storeu_ps(v, _mm256_mul_ps(_mm256_mul_ps(_mm256_div_ps(isum_f(lo[i], sumq[i]), s), scale), out_scale));
        _mm256_storeu_ps(v + 8, _mm256_mul_ps(_mm256_mul_ps(_mm256_div_ps(isum_f(hi[i], sumq[i]), s), scale), out_scale));
        bn_store_tile_rows(j, tile, t + i, v);
    }
}

/* Per-256-block path for one token: non-uniform token mode or q8k mode (see ternary_avx512.c). */
static void blocked_token(const bn_ternary_job *j, int64_t tile, int t, bool q8k) {
    const bn_ternary_tiles *p = j->p;
    const uint8_t *codes = p->codes + (uint64_t)tile * (uint64_t)p->n_chunks * BN_CHUNK_BYTES;
    const float *bd = p->block_d ? p->block_d + tile * p->n_blocks * BN_TILE_ROWS : NULL;
    const bn_block_q8_k *xq = q8k ? j->a->q8k + (int64_t)t * p->n_blocks : NULL;
    const int8_t *qt = q8k ? NULL : j->a->q + (int64_t)t * p->K;
    __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < p->n_blocks; b++) {
        const int8_t *qb = q8k ? xq[b].qs : qt + b * BN_QK_K;
        __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        tile_dot(codes + b * 4 * BN_CHUNK_BYTES, &qb, 1, 4, &acc[0], &acc[1]);
        int32_t sq = 0;
        if (q8k)
            for (int i = 0; i < BN_QK_K / 16; i++) sq += xq[b].bsums[i];
        else
            sq = sum_i8(qb, BN_QK_K);
        for (int h = 0; h < 2; h++) {
            __m256 dw = bd ? _mm256_loadu_ps(bd + b * BN_TILE_ROWS + 8 * h) : _mm256_set1_ps(j->scale);
            if (q8k) dw = _mm256_mul_ps(dw, _mm256_set1_ps(xq[b].d));
            sum[h] = _mm256_add_ps(sum[h], _mm256_mul_ps(dw, isum_f(acc[h], sq)));
        }
    }
    float v[BN_TILE_ROWS];
    for (int h = 0; h < 2; h++) {
        __m256 r = q8k ? sum[h] : _mm256_div_ps(sum[h], _mm256_set1_ps(j->a->s[t]));
        _mm256_storeu_ps(v + 8 * h, _mm256_mul_ps(r, _mm256_set1_ps(j->out_scale)));
    }
    bn_store_tile_rows(j, tile, t, v);
}

static void blocked(const bn_ternary_job *j, bool q8k) {
    for (int64_t tile = j->m0 / BN_TILE_ROWS; tile * BN_TILE_ROWS < j->m1; tile++)
        for (int t = j->t0; t < j->t1; t++) blocked_token(j, tile, t, q8k);
}

static void KFN(token)(const bn_ternary_job *j) {
    if (!j->uniform) {
        blocked(j, false);
        return;
    }
    int32_t sumq[TOKEN_BLOCK];
    for (int tb = j->t0; tb < j->t1; tb += TOKEN_BLOCK) {
        int te = tb + TOKEN_BLOCK < j->t1 ? tb + TOKEN_BLOCK : j->t1;
        for (int t = tb; t < te; t++) sumq[t - tb] = sum_i8(j->a->q + (int64_t)t * j->p->K, j->p->K);
        for (int64_t tile = j->m0 / BN_TILE_ROWS; tile * BN_TILE_ROWS < j->m1; tile++)
            for (int t = tb; t < te; t += 4) {
                const int32_t *sq = sumq + (t - tb);
                switch (te - t) {
                case 1: uniform_group(j, tile, t, 1, sq); break;
                case 2: uniform_group(j, tile, t, 2, sq); break;
                case 3: uniform_group(j, tile, t, 3, sq); break;
                default: uniform_group(j, tile, t, 4, sq); break;
                }
            }
    }
}

static void KFN(q8k)(const bn_ternary_job *j) { blocked(j, true); }
