/* ternary_256: the 256-bit (AVX2 / AVX-VNNI) ternary kernels on the tile layout
 * (kernel_impl.h), written once and included by ternary_avx2.c and ternary_avxvnni.c, which
 * differ only in the 4-way u8 x s8 dot step they define before including this file:
 *   DOT4(acc, codes_u8, q_s8)   acc (8 x int32) += sum of 4 products per lane
 *   DOT4_PAIR(acc, c1, q1, c2, q2)   the same for two (codes, q) pairs
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

/* Full unrolling keeps the per-token partial sums in registers (gcc -O2 does not unroll these
 * loops by itself and would keep the arrays in memory). */
#define UNROLL _Pragma("GCC unroll 16")
#define GROUP_MAX 4      /* tokens per register block: 16 YMM registers */
#define FOLD_CHUNKS 4096 /* chunks summed in partials before folding (bound below) */

/* acc[t] (8 rows of one half, lane = row) += codes . q[t] over n_chunks chunks, for nt <=
 * GROUP_MAX tokens (a constant after inlining); `codes` points at the half's first 32 bytes.
 * The code fields are not shifted down one by one: with v the 32 code bytes of (chunk, p)
 * and c_s the field at bits 2s..2s+1,
 *     v & 0x03 = c_0,   v & 0x0c = 4 c_1,   (v >> 4) & 0x03 = c_2,   (v >> 4) & 0x0c = 4 c_3,
 * so one shift serves four fields, and the decoded vectors are reused by the nt tokens. The
 * fields scaled by 4 go to their own partial sums, which are multiples of 4: the exact
 * arithmetic shift by 2 at the fold undoes the scale (the int32 dot is exact, as before).
 * nt <= 2: one partial per field (independent chains: with one token the dot latency is the
 * limit); more tokens: two partials (unscaled, scaled) fed by DOT4_PAIR, which adds two dot
 * steps at once (pmaddubsw: in int16 before widening, see ternary_avx2.c).
 * Bounds: a scaled code byte is <= 8, |q| <= 128, so a partial grows by <= 8 * 128 * 64 =
 * 2^16 per chunk and stays below 2^28 over FOLD_CHUNKS chunks. */
BN_INLINE void tile_dot(const uint8_t *codes, const int8_t *const *q, int nt, int64_t n_chunks, __m256i *acc) {
    const __m256i m03 = _mm256_set1_epi8(0x03), m0c = _mm256_set1_epi8(0x0c);
    const int np = nt <= 2 ? 4 : 2;
    for (int64_t c0 = 0; c0 < n_chunks; c0 += FOLD_CHUNKS) {
        int64_t c1 = c0 + FOLD_CHUNKS < n_chunks ? c0 + FOLD_CHUNKS : n_chunks;
        __m256i part[GROUP_MAX][4];
        UNROLL for (int t = 0; t < nt; t++)
            UNROLL for (int i = 0; i < np; i++) part[t][i] = _mm256_setzero_si256();
        for (int64_t c = c0; c < c1; c++) {
            const uint8_t *cc = codes + c * BN_CHUNK_BYTES;
            UNROLL for (int p = 0; p < 4; p++) {
                __m256i v = _mm256_load_si256((const __m256i *)(cc + 64 * p));
                __m256i v4 = _mm256_srli_epi16(v, 4);
                __m256i f[4] = {_mm256_and_si256(v, m03), _mm256_and_si256(v, m0c), _mm256_and_si256(v4, m03),
                                _mm256_and_si256(v4, m0c)};
                UNROLL for (int t = 0; t < nt; t++) {
                    const int8_t *qp = q[t] + c * BN_CHUNK_K + 4 * p; /* field s: qp + 16 s */
                    if (np == 4) {
                        UNROLL for (int s = 0; s < 4; s++) part[t][s] = DOT4(part[t][s], f[s], bcast4(qp + 16 * s));
                    } else {
                        part[t][0] = DOT4_PAIR(part[t][0], f[0], bcast4(qp), f[2], bcast4(qp + 32));
                        part[t][1] = DOT4_PAIR(part[t][1], f[1], bcast4(qp + 16), f[3], bcast4(qp + 48));
                    }
                }
            }
        }
        UNROLL for (int t = 0; t < nt; t++) {
            __m256i unscaled = np == 4 ? _mm256_add_epi32(part[t][0], part[t][2]) : part[t][0];
            __m256i scaled = np == 4 ? _mm256_add_epi32(part[t][1], part[t][3]) : part[t][1];
            acc[t] = _mm256_add_epi32(acc[t], _mm256_add_epi32(unscaled, _mm256_srai_epi32(scaled, 2)));
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

/* Uniform scale: y = (((float)acc / s_t) * S) * out_scale, as the reference. The two 8-row
 * halves of the tile are computed one after the other (registers). */
BN_INLINE void uniform_group(const bn_ternary_job *j, int64_t tile, int t, int nt, const int32_t *sumq) {
    const bn_ternary_tiles *p = j->p;
    const uint8_t *codes = p->codes + (uint64_t)tile * (uint64_t)p->n_chunks * BN_CHUNK_BYTES;
    const int8_t *q[GROUP_MAX];
    float v[GROUP_MAX][BN_TILE_ROWS];
    for (int i = 0; i < nt; i++) q[i] = j->a->q + (int64_t)(t + i) * p->K;
    const __m256 scale = _mm256_set1_ps(j->scale), out_scale = _mm256_set1_ps(j->out_scale);
    for (int h = 0; h < 2; h++) {
        __m256i acc[GROUP_MAX];
        for (int i = 0; i < nt; i++) acc[i] = _mm256_setzero_si256();
        tile_dot(codes + 32 * h, q, nt, p->n_chunks, acc);
        for (int i = 0; i < nt; i++) {
            const __m256 s = _mm256_set1_ps(j->a->s[t + i]);
            _mm256_storeu_ps(v[i] + 8 * h, _mm256_mul_ps(_mm256_mul_ps(_mm256_div_ps(isum_f(acc[i], sumq[i]), s), scale), out_scale));
        }
    }
    for (int i = 0; i < nt; i++) bn_store_tile_rows(j, tile, t + i, v[i]);
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
        for (int h = 0; h < 2; h++) tile_dot(codes + b * 4 * BN_CHUNK_BYTES + 32 * h, &qb, 1, 4, &acc[h]);
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
            for (int t = tb; t < te;) { /* groups of 4, then 2, 1: codes decoded once per group */
                const int32_t *sq = sumq + (t - tb);
                int left = te - t, nt = left >= 4 ? 4 : left >= 2 ? 2 : 1;
                switch (nt) {
                case 4: uniform_group(j, tile, t, 4, sq); break;
                case 2: uniform_group(j, tile, t, 2, sq); break;
                default: uniform_group(j, tile, t, 1, sq); break;
                }
                t += nt;
            }
    }
}

static void KFN(q8k)(const bn_ternary_job *j) { blocked(j, true); }
