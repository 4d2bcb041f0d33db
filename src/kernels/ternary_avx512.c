/* ternary_avx512: token-mode and q8k-mode ternary kernels on the tile layout (kernel_impl.h)
 * with AVX-512 VNNI. vpdpbusd multiplies the unsigned codes c in {0,1,2} by the signed int8
 * activations and adds 4 products per 32-bit lane (lane = output row); the weights are c - 1,
 * so the dot is sum(c q) - sum(q) (the "unsigned-offset trick").
 * Bound: |sum c q| <= 2 * 128 * K and |sum q| <= 128 * K, far inside int32 for K <= 2^22. */
#include <immintrin.h>
#include <string.h>

#include "kernel_impl.h"

#define TOKEN_BLOCK 64   /* tokens whose activation sums are computed together */
#define UNROLL BN_UNROLL /* kernel_impl.h: per-token partial sums stay in registers */

BN_INLINE BN_TSAN_UNCHECKED_READS __m512i bcast4(const int8_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm512_set1_epi32(v);
}

/* tile_dot: acc[t] (lane m) += sum over n_chunks chunks of codes[m][k] * q[t][k], for nt <=
 * GROUP_MAX tokens (nt is a constant after inlining). The code fields are not shifted down one by one:
 * with v the 64 code bytes of (chunk, p) and c_s the field at bits 2s..2s+1,
 *     v & 0x03 = c_0,   v & 0x0c = 4 c_1,   (v >> 4) & 0x03 = c_2,   (v >> 4) & 0x0c = 4 c_3,
 * so one shift serves four fields (the shifts compete with vpdpbusd for the same port on
 * Intel cores; the masks do not have to). Each decoded vector is reused by nt vpdpbusd (one
 * per token, its 4 activations broadcast from memory).
 * The fields scaled by 4 go to their own partial sums, which are multiples of 4: the exact
 * arithmetic shift by 2 at the fold undoes the scale, so the int32 result is the same exact
 * dot as before, bit for bit. Partials per token: 4 for nt <= 4 (independent vpdpbusd chains:
 * with one token the chain latency, not the loads, is the limit), 2 for more tokens (32 ZMM
 * registers hold 2 x 8 partials, the codes and the masks).
 * Bounds: a scaled code byte is <= 8 (vpdpbusd's unsigned operand), |q| <= 128, so a partial
 * grows by <= 8 * 128 * 64 = 2^16 per chunk and stays below 2^28 over FOLD_CHUNKS chunks. */
#define GROUP_MAX 8
#define FOLD_CHUNKS 4096

/* The four fields of the 64 code bytes at cv (c_0, 4 c_1, c_2, 4 c_3; see above), with the
 * stream's software prefetch. */
BN_INLINE BN_TSAN_UNCHECKED_READS void chunk_fields(const uint8_t *cv, __m512i f[4]) {
    const __m512i m03 = _mm512_set1_epi8(0x03), m0c = _mm512_set1_epi8(0x0c);
    BN_PREFETCH_AHEAD(cv);
    __m512i v = _mm512_load_si512((const void *)cv), v4 = _mm512_srli_epi16(v, 4);
    f[0] = _mm512_and_si512(v, m03);
    f[1] = _mm512_and_si512(v, m0c);
    f[2] = _mm512_and_si512(v4, m03);
    f[3] = _mm512_and_si512(v4, m0c);
}

/* The exact dot from 2 partials (unscaled, scaled) or 4 (fields 0..3 in turn). */
BN_INLINE BN_TSAN_UNCHECKED_READS __m512i fold_partials(const __m512i *part, int np) {
    __m512i unscaled = np == 4 ? _mm512_add_epi32(part[0], part[2]) : part[0];
    __m512i scaled = np == 4 ? _mm512_add_epi32(part[1], part[3]) : part[1];
    return _mm512_add_epi32(unscaled, _mm512_srai_epi32(scaled, 2));
}

BN_INLINE BN_TSAN_UNCHECKED_READS void tile_dot(const uint8_t *codes, const int8_t *const *q, int nt, int64_t n_chunks, __m512i *acc) {
    const int np = nt <= 4 ? 4 : 2; /* partials per token; field s goes to partial s % np */
    for (int64_t c0 = 0; c0 < n_chunks; c0 += FOLD_CHUNKS) {
        int64_t c1 = c0 + FOLD_CHUNKS < n_chunks ? c0 + FOLD_CHUNKS : n_chunks;
        __m512i part[GROUP_MAX][4];
        UNROLL for (int t = 0; t < nt; t++)
            UNROLL for (int i = 0; i < np; i++) part[t][i] = _mm512_setzero_si512();
        for (int64_t c = c0; c < c1; c++)
            UNROLL for (int p = 0; p < 4; p++) {
                __m512i f[4];
                chunk_fields(codes + c * BN_CHUNK_BYTES + 64 * p, f);
                UNROLL for (int s = 0; s < 4; s++)
                    UNROLL for (int t = 0; t < nt; t++)
                        part[t][s % np] = _mm512_dpbusd_epi32(part[t][s % np], f[s], bcast4(q[t] + c * BN_CHUNK_K + 16 * s + 4 * p));
            }
        UNROLL for (int t = 0; t < nt; t++) acc[t] = _mm512_add_epi32(acc[t], fold_partials(part[t], np));
    }
}

/* One token, two tiles side by side (generation): two memory streams per thread keep more
 * misses in flight than one (see BN_PREFETCH_BYTES). acc[w] += tile w's dot, as tile_dot
 * with nt = 1 computes it (4 partials per tile). */
static BN_TSAN_UNCHECKED_READS void tile_pair_dot(const uint8_t *codes0, const uint8_t *codes1, const int8_t *q, int64_t n_chunks, __m512i acc[2]) {
    for (int64_t c0 = 0; c0 < n_chunks; c0 += FOLD_CHUNKS) {
        int64_t c1 = c0 + FOLD_CHUNKS < n_chunks ? c0 + FOLD_CHUNKS : n_chunks;
        __m512i part[2][4];
        UNROLL for (int i = 0; i < 4; i++) part[0][i] = part[1][i] = _mm512_setzero_si512();
        for (int64_t c = c0; c < c1; c++)
            UNROLL for (int p = 0; p < 4; p++) {
                __m512i f0[4], f1[4];
                chunk_fields(codes0 + c * BN_CHUNK_BYTES + 64 * p, f0);
                chunk_fields(codes1 + c * BN_CHUNK_BYTES + 64 * p, f1);
                UNROLL for (int s = 0; s < 4; s++) {
                    __m512i x = bcast4(q + c * BN_CHUNK_K + 16 * s + 4 * p);
                    part[0][s] = _mm512_dpbusd_epi32(part[0][s], f0[s], x);
                    part[1][s] = _mm512_dpbusd_epi32(part[1][s], f1[s], x);
                }
            }
        acc[0] = _mm512_add_epi32(acc[0], fold_partials(part[0], 4));
        acc[1] = _mm512_add_epi32(acc[1], fold_partials(part[1], 4));
    }
}

/* sum of n int8 (n a multiple of 64). */
static BN_TSAN_UNCHECKED_READS int32_t sum_i8(const int8_t *q, int64_t n) {
    __m512i acc = _mm512_setzero_si512();
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t k = 0; k < n; k += 64) acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512((const void *)(q + k)));
    return _mm512_reduce_add_epi32(acc);
}

/* Uniform scale: y = (((float)acc / s_t) * S) * out_scale, as the reference, for tile `tile`
 * and token t whose activations sum to sumq. */
BN_INLINE void store_uniform(const bn_ternary_job *j, int64_t tile, int t, __m512i acc, int32_t sumq) {
    __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc, _mm512_set1_epi32(sumq)));
    f = _mm512_mul_ps(_mm512_div_ps(f, _mm512_set1_ps(j->a->s[t])), _mm512_set1_ps(j->scale));
    f = _mm512_mul_ps(f, _mm512_set1_ps(j->out_scale));
    float v[BN_TILE_ROWS];
    _mm512_storeu_ps(v, f);
    bn_store_tile_rows(j, tile, t, v);
}

BN_INLINE void uniform_group(const bn_ternary_job *j, int64_t tile, int t, int nt, const int32_t *sumq) {
    const bn_ternary_tiles *p = j->p;
    const int8_t *q[GROUP_MAX];
    __m512i acc[GROUP_MAX];
    for (int i = 0; i < nt; i++) {
        q[i] = j->a->q + (int64_t)(t + i) * p->K;
        acc[i] = _mm512_setzero_si512();
    }
    tile_dot(bn_tile_codes(p, tile), q, nt, p->n_chunks, acc);
    for (int i = 0; i < nt; i++) store_uniform(j, tile, t + i, acc[i], sumq[i]);
}

/* One token (generation): the tiles of [m0, m1) as two halves read side by side, a pair of
 * tiles per step, the odd one out alone. */
static void uniform_one_token(const bn_ternary_job *j, int t, int32_t sumq) {
    const bn_ternary_tiles *p = j->p;
    int64_t first = j->m0 / BN_TILE_ROWS, n = (j->m1 + BN_TILE_ROWS - 1) / BN_TILE_ROWS - first, half = (n + 1) / 2;
    for (int64_t i = 0; i < n - half; i++) {
        int64_t a = first + i, b = first + half + i;
        __m512i acc[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
        tile_pair_dot(bn_tile_codes(p, a), bn_tile_codes(p, b), j->a->q + (int64_t)t * p->K, p->n_chunks, acc);
        store_uniform(j, a, t, acc[0], sumq);
        store_uniform(j, b, t, acc[1], sumq);
    }
    if (half > n - half) uniform_group(j, first + half - 1, t, 1, &sumq);
}

/* Per-256-block path for one token: non-uniform token mode (q8k == false) or q8k mode. */
static void blocked_token(const bn_ternary_job *j, int64_t tile, int t, bool q8k) {
    const bn_ternary_tiles *p = j->p;
    const uint8_t *codes = bn_tile_codes(p, tile);
    const float *bd = p->block_d ? p->block_d + tile * p->n_blocks * BN_TILE_ROWS : NULL;
    const bn_block_q8_k *xq = q8k ? j->a->q8k + (int64_t)t * p->n_blocks : NULL;
    const int8_t *qt = q8k ? NULL : j->a->q + (int64_t)t * p->K;
    __m512 sum = _mm512_setzero_ps();
    for (int64_t b = 0; b < p->n_blocks; b++) {
        const int8_t *qb = q8k ? xq[b].qs : qt + b * BN_QK_K;
        __m512i acc = _mm512_setzero_si512();
        tile_dot(codes + b * 4 * BN_CHUNK_BYTES, &qb, 1, 4, &acc);
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
        if (te - tb == 1) {
            uniform_one_token(j, tb, sumq[0]);
            continue;
        }
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
