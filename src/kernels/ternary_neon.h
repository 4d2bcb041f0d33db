/* ternary_neon: the 128-bit aarch64 ternary kernels on the tile layout (kernel_impl.h),
 * written once and included by ternary_neon.c (baseline Advanced SIMD) and ternary_dotprod.c
 * (SDOT, ARMv8.2-A), which differ only in how a 4-way int8 dot step accumulates. Each
 * defines before including this file:
 *   acc_t                       one accumulator for 4 rows (one int32 per row, possibly
 *                               held in wider partial form)
 *   ACC_ZERO(a)                 a = 0
 *   ACC_STEP(a, f, qv, P)       row i of a += sum_j f[4i + j] * qv[4P + j] (f: 16 codes
 *                               0..2 as int8, qv: 16 int8 activations, P a constant 0..3)
 *   ACC_FOLD(a)                 called every FOLD_CHUNKS chunks (bounded partial sums)
 *   ACC_ROWS(a)                 the 4 row sums as int32x4_t (after a final ACC_FOLD)
 *   FOLD_CHUNKS, GROUP_MAX      fold period (chunks), tokens per register block
 *   KFN(name)                   the tier's function name for `name`
 * Layout seen from 128-bit vectors: the 16 bytes at 64 p + 16 g of a chunk are 4 rows
 * (4g .. 4g+3, one 32-bit lane each) x 4 codes per field s (bits 2s..2s+1) for the inputs
 * k = 16 s + 4 p .. +3; the 16 activations q[16 s .. 16 s + 15] of the chunk hold, in their
 * 32-bit lane p, the 4 matching inputs. So SDOT's by-element form multiplies a field vector
 * by lane p of one activation load: no broadcast and no horizontal sum. A tile is handled
 * as two halves of 8 rows (g = 2h, 2h + 1: bytes 64 p + 32 h .. +31), as on x86.
 * Codes c in {0,1,2} multiply the activations; sum(q) is subtracted at the end (weights are
 * c - 1); every integer sum is exact, so the results are the reference's bits. */
#include <arm_neon.h>
#include <string.h>

#include "kernel_impl.h"

#define TOKEN_BLOCK 64
#define UNROLL BN_UNROLL

/* The four fields of 16 code bytes, unscaled: c_s = (v >> 2s) & 3 (6 instructions). */
BN_INLINE void decode4(uint8x16_t v, int8x16_t f[4]) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    f[0] = vreinterpretq_s8_u8(vandq_u8(v, m3));
    f[1] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v, 2), m3));
    f[2] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(v, 4), m3));
    f[3] = vreinterpretq_s8_u8(vshrq_n_u8(v, 6));
}

/* Inputs 4P .. 4P+3 of every field (one 16-byte group p = P of the chunk) for the 2 quads of
 * the half and nt tokens: each code vector is decoded once and used by the nt tokens. The
 * 64-byte line of group P is prefetched BN_PREFETCH_BYTES ahead, as on x86. */
#define HALF_STEP(P)                                                                  \
    BN_PREFETCH_AHEAD(cc + 64 * (P));                                                 \
    UNROLL for (int g = 0; g < 2; g++) {                                              \
        int8x16_t f[4];                                                               \
        decode4(vld1q_u8(cc + 64 * (P) + 16 * g), f);                                 \
        UNROLL for (int t = 0; t < nt; t++)                                           \
            UNROLL for (int s = 0; s < 4; s++) ACC_STEP(acc[t][g], f[s], qv[t][s], P); \
    }

/* rows[t][g] (rows 4g .. 4g+3 of one half, lane = row) = codes . q[t] over n_chunks chunks,
 * for nt <= GROUP_MAX tokens (a constant after inlining); `codes` points at the half's
 * first 32 bytes of its first chunk. */
BN_INLINE void half_dot(const uint8_t *codes, const int8_t *const *q, int nt, int64_t n_chunks, int32x4_t rows[][2]) {
    acc_t acc[GROUP_MAX][2];
    UNROLL for (int t = 0; t < nt; t++) {
        ACC_ZERO(acc[t][0]);
        ACC_ZERO(acc[t][1]);
    }
    for (int64_t c0 = 0; c0 < n_chunks; c0 += FOLD_CHUNKS) {
        int64_t c1 = c0 + FOLD_CHUNKS < n_chunks ? c0 + FOLD_CHUNKS : n_chunks;
        for (int64_t c = c0; c < c1; c++) {
            const uint8_t *cc = codes + c * BN_CHUNK_BYTES;
            int8x16_t qv[GROUP_MAX][4];
            UNROLL for (int t = 0; t < nt; t++)
                UNROLL for (int s = 0; s < 4; s++) qv[t][s] = vld1q_s8(q[t] + c * BN_CHUNK_K + 16 * s);
            HALF_STEP(0)
            HALF_STEP(1)
            HALF_STEP(2)
            HALF_STEP(3)
        }
        UNROLL for (int t = 0; t < nt; t++) {
            ACC_FOLD(acc[t][0]);
            ACC_FOLD(acc[t][1]);
        }
    }
    UNROLL for (int t = 0; t < nt; t++) {
        rows[t][0] = ACC_ROWS(acc[t][0]);
        rows[t][1] = ACC_ROWS(acc[t][1]);
    }
}

static int32_t sum_i8(const int8_t *q, int64_t n) { /* n a multiple of 16 */
    int32_t s = 0;
    for (int64_t k = 0; k < n; k += 16) s += vaddlvq_s8(vld1q_s8(q + k)); /* |16 x int8| < 2^15 */
    return s;
}

BN_INLINE float32x4_t isum_f(int32x4_t acc, int32_t sq) { return vcvtq_f32_s32(vsubq_s32(acc, vdupq_n_s32(sq))); }

/* bn_store_tile_rows for 16 values in four vectors (v[i] = rows 4i .. 4i+3). */
BN_INLINE void store_tile(const bn_ternary_job *j, int64_t tile, int t, const float32x4_t v[4]) {
    int64_t r0 = tile * BN_TILE_ROWS;
    float f[BN_TILE_ROWS];
    bool whole = r0 >= j->m0 && r0 + BN_TILE_ROWS <= j->m1;
    float *dst = whole ? j->y + (int64_t)t * j->ldy + r0 : f;
    for (int i = 0; i < 4; i++) vst1q_f32(dst + 4 * i, v[i]);
    if (!whole) bn_store_tile_rows(j, tile, t, f);
}

/* Uniform scale: y = (((float)acc / s_t) * S) * out_scale, as the reference. */
BN_INLINE void uniform_group(const bn_ternary_job *j, int64_t tile, int t, int nt, const int32_t *sumq) {
    const bn_ternary_tiles *p = j->p;
    const uint8_t *codes = bn_tile_codes(p, tile);
    const int8_t *q[GROUP_MAX];
    float32x4_t v[GROUP_MAX][4];
    for (int i = 0; i < nt; i++) q[i] = j->a->q + (int64_t)(t + i) * p->K;
    const float32x4_t scale = vdupq_n_f32(j->scale), out_scale = vdupq_n_f32(j->out_scale);
    for (int h = 0; h < 2; h++) {
        int32x4_t rows[GROUP_MAX][2];
        half_dot(codes + 32 * h, q, nt, p->n_chunks, rows);
        for (int i = 0; i < nt; i++) {
            const float32x4_t s = vdupq_n_f32(j->a->s[t + i]);
            for (int g = 0; g < 2; g++)
                v[i][2 * h + g] = vmulq_f32(vmulq_f32(vdivq_f32(isum_f(rows[i][g], sumq[i]), s), scale), out_scale);
        }
    }
    for (int i = 0; i < nt; i++) store_tile(j, tile, t + i, v[i]);
}

/* Per-256-block path for one token: non-uniform token mode (sum_b (isum_b * d_b), then / s)
 * or q8k mode (sum_b ((d_b * xd_b) * isum_b)), in the reference's block order and float ops. */
static void blocked_token(const bn_ternary_job *j, int64_t tile, int t, bool q8k) {
    const bn_ternary_tiles *p = j->p;
    const uint8_t *codes = bn_tile_codes(p, tile);
    const float *bd = p->block_d ? p->block_d + tile * p->n_blocks * BN_TILE_ROWS : NULL;
    const bn_block_q8_k *xq = q8k ? j->a->q8k + (int64_t)t * p->n_blocks : NULL;
    const int8_t *qt = q8k ? NULL : j->a->q + (int64_t)t * p->K;
    float32x4_t sum[4];
    for (int i = 0; i < 4; i++) sum[i] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < p->n_blocks; b++) {
        const int8_t *qb = q8k ? xq[b].qs : qt + b * BN_QK_K;
        int32x4_t rows[2][2]; /* [half][quad]: rows 8h + 4g .. +3 */
        for (int h = 0; h < 2; h++) half_dot(codes + b * 4 * BN_CHUNK_BYTES + 32 * h, &qb, 1, 4, &rows[h]);
        int32_t sq = 0;
        if (q8k)
            for (int i = 0; i < BN_QK_K / 16; i++) sq += xq[b].bsums[i];
        else
            sq = sum_i8(qb, BN_QK_K);
        for (int i = 0; i < 4; i++) {
            float32x4_t dw = bd ? vld1q_f32(bd + b * BN_TILE_ROWS + 4 * i) : vdupq_n_f32(j->scale);
            if (q8k) dw = vmulq_f32(dw, vdupq_n_f32(xq[b].d));
            sum[i] = vaddq_f32(sum[i], vmulq_f32(dw, isum_f(rows[i >> 1][i & 1], sq)));
        }
    }
    float32x4_t v[4];
    for (int i = 0; i < 4; i++) {
        float32x4_t r = q8k ? sum[i] : vdivq_f32(sum[i], vdupq_n_f32(j->a->s[t]));
        v[i] = vmulq_f32(r, vdupq_n_f32(j->out_scale));
    }
    store_tile(j, tile, t, v);
}

static void blocked(const bn_ternary_job *j, bool q8k) {
    for (int64_t tile = j->m0 / BN_TILE_ROWS; tile * BN_TILE_ROWS < j->m1; tile++)
        for (int t = j->t0; t < j->t1; t++) blocked_token(j, tile, t, q8k);
}

/* Token mode. Uniform scale: per tile, tokens in register blocks of GROUP_MAX (then 2, 1), the
 * codes decoded once per block; prompts take the same path (no decoded-codes prefill as on
 * x86, and no i8mm SMMLA: neither can be measured without ARM hardware, docs/KERNELS.md). */
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
            for (int t = tb; t < te;) {
                const int32_t *sq = sumq + (t - tb);
                int left = te - t, nt = left >= GROUP_MAX ? GROUP_MAX : left >= 2 ? 2 : 1;
                switch (nt) { /* constant token counts: the accumulators stay in registers */
                case GROUP_MAX: uniform_group(j, tile, t, GROUP_MAX, sq); break;
#if GROUP_MAX > 2
                case 2: uniform_group(j, tile, t, 2, sq); break;
#endif
                default: uniform_group(j, tile, t, 1, sq); break;
                }
                t += nt;
            }
    }
}

static void KFN(q8k)(const bn_ternary_job *j) { blocked(j, true); }
