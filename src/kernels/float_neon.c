/* float_neon: y = W x for float-type weights (F32, F16, BF16, Q8_0) with baseline Advanced
 * SIMD (both aarch64 tiers; FCVTL converts F16, FMLA accumulates). The loop shape of
 * float_avx2.c at 4 lanes, 16 weights per step in four chains per token; a tail of K % 16
 * weights goes through zero-padded copies. Float sums are reordered vs the reference (within
 * its tolerance). Q8_0 x Q8_0 (the --lm-head q8 head) computes each block's exact int32 sum
 * and adds the blocks in the reference's order and float ops: the reference's bits. */
#include <arm_neon.h>
#include <string.h>

#include "kernel_impl.h"
#include "util.h"

/* 16 weights of `row` from element k (a multiple of 16) into w[0..3]. */
BN_INLINE void load16(const uint8_t *row, uint32_t type, int64_t k, float32x4_t w[4]) {
    switch (type) {
    case BN_TYPE_F16:
        for (int i = 0; i < 4; i++) w[i] = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(row + 2 * (k + 4 * i))));
        return;
    case BN_TYPE_BF16:
        for (int i = 0; i < 4; i++) w[i] = vreinterpretq_f32_u32(vshll_n_u16(vreinterpret_u16_u8(vld1_u8(row + 2 * (k + 4 * i))), 16));
        return;
    case BN_TYPE_Q8_0: { /* K % 32 == 0: 16-groups never straddle blocks */
        const bn_block_q8_0 *b = (const bn_block_q8_0 *)row + k / 32;
        int8x16_t q = vld1q_s8(b->qs + k % 32);
        int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
        float d = bn_f16_to_f32(b->d);
        w[0] = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d);
        w[1] = vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d);
        w[2] = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d);
        w[3] = vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d);
        return;
    }
    default:
        for (int i = 0; i < 4; i++) w[i] = vld1q_f32((const float *)row + k + 4 * i);
        return;
    }
}

BN_INLINE void dot_tokens(const uint8_t *row, uint32_t type, int64_t K, const float *const *x, int nt, float *out) {
    float32x4_t acc[4][4];
    BN_UNROLL for (int t = 0; t < nt; t++)
        BN_UNROLL for (int i = 0; i < 4; i++) acc[t][i] = vdupq_n_f32(0.0f);
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        BN_PREFETCH_AHEAD(row + k * (type == BN_TYPE_F32 ? 4 : 2));
        float32x4_t w[4];
        load16(row, type, k, w);
        BN_UNROLL for (int t = 0; t < nt; t++)
            BN_UNROLL for (int i = 0; i < 4; i++) acc[t][i] = vfmaq_f32(acc[t][i], w[i], vld1q_f32(x[t] + k + 4 * i));
    }
    if (k < K) { /* F32/F16/BF16 only (Q8_0 rows are whole 32-blocks): pad to 16 with zeros */
        int64_t rest = K - k, elt = type == BN_TYPE_F32 ? 4 : 2;
        uint8_t wpad[64] = {0};
        memcpy(wpad, row + k * elt, (size_t)(rest * elt));
        float32x4_t w[4];
        load16(wpad, type, 0, w);
        BN_UNROLL for (int t = 0; t < nt; t++) {
            float xpad[16] = {0};
            memcpy(xpad, x[t] + k, (size_t)rest * sizeof(float));
            BN_UNROLL for (int i = 0; i < 4; i++) acc[t][i] = vfmaq_f32(acc[t][i], w[i], vld1q_f32(xpad + 4 * i));
        }
    }
    BN_UNROLL for (int t = 0; t < nt; t++) out[t] = vaddvq_f32(vaddq_f32(vaddq_f32(acc[t][0], acc[t][1]), vaddq_f32(acc[t][2], acc[t][3])));
}

/* Exact int32 sum of one Q8_0 block pair: SMULL (|product| <= 2^14 fits int16) + SADALP. */
BN_INLINE int32_t q8_0_isum(const int8_t *w, int8x16_t x0, int8x16_t x1) {
    int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16);
    int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
    s = vpadalq_s16(s, vmull_high_s8(w0, x0));
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
    s = vpadalq_s16(s, vmull_high_s8(w1, x1));
    return vaddvq_s32(s);
}

/* out[r] = dot of nr (<= 4) Q8_0 rows with one token's Q8_0 x (nb blocks): per block
 * sum += (d_w * d_x) * (float)isum, as the reference. */
BN_INLINE void dot_rows_q8_0_q8_0(const bn_block_q8_0 *const *rows, int nr, int64_t nb, const bn_block_q8_0 *x, float *out) {
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t x0 = vld1q_s8(x[b].qs), x1 = vld1q_s8(x[b].qs + 16);
        float dx = bn_f16_to_f32(x[b].d);
        BN_UNROLL for (int r = 0; r < nr; r++) {
            float dd = bn_f16_to_f32(rows[r][b].d) * dx; /* two statements: never fused */
            acc[r] += dd * (float)q8_0_isum(rows[r][b].qs, x0, x1);
        }
    }
    for (int r = 0; r < nr; r++) out[r] = acc[r];
}

#define FLOAT_ROWS_FAST_PATH(w, type, a, y, ldy, m0, m1) ((void)0) /* none on this tier */
#include "float_rows.h"

bool bn_float_rows_neon(const bn_linear *w, const bn_act *a, float *y, int64_t ldy, int64_t m0, int64_t m1) {
    return float_rows_by_type(w, a, y, ldy, m0, m1);
}
