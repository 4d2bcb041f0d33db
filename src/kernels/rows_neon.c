/* rows_neon: the per-token vector passes of rows.h at 4 lanes (both aarch64 tiers), with the
 * same agreement as the AVX-512 code: everything but SiLU's exp is the portable code's
 * arithmetic in the portable code's order (bit-identical); SiLU uses exp_neon.h's polynomial.
 * Tails (n % 4) run the portable code's scalar expressions, which round the same way. */
#include <arm_neon.h>
#include <math.h>

#include "exp_neon.h"
#include "kernel_impl.h"
#include "model/rows.h"
#include "util.h"

void bn_rows_add_neon(float *x, const float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vaddq_f32(vld1q_f32(x + i), vld1q_f32(d + i)));
    for (; i < n; i++) x[i] += d[i];
}

/* Products rounded, then the sum (no FMLA/FMLS), as rows.h specifies. */
void bn_rows_rope_neon(float *x, const float *c, const float *s, int64_t half) {
    int64_t i = 0;
    for (; i + 4 <= half; i += 4) {
        float32x4_t x0 = vld1q_f32(x + i), x1 = vld1q_f32(x + half + i), vc = vld1q_f32(c + i), vs = vld1q_f32(s + i);
        vst1q_f32(x + i, vsubq_f32(vmulq_f32(x0, vc), vmulq_f32(x1, vs)));
        vst1q_f32(x + half + i, vaddq_f32(vmulq_f32(x0, vs), vmulq_f32(x1, vc)));
    }
    for (; i < half; i++) {
        float x0 = x[i], x1 = x[i + half];
        x[i] = x0 * c[i] - x1 * s[i];
        x[i + half] = x0 * s[i] + x1 * c[i];
    }
}

/* act(g) * u: SiLU g / (1 + exp(-g)) with exp clamped to [-104, 89] (exp_neon.h), or ReLU^2
 * (g > 0 ? g * g : 0; NaN -> 0 as in C). */
static inline float32x4_t act4(bn_ffn_act act, float32x4_t g, float32x4_t u) {
    float32x4_t a;
    if (act == BN_FFN_SILU) {
        float32x4_t e = bn_exp4_poly(vminq_f32(vmaxq_f32(vnegq_f32(g), vdupq_n_f32(-104.0f)), vdupq_n_f32(89.0f)));
        a = vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e));
    } else {
        a = vbslq_f32(vcgtq_f32(g, vdupq_n_f32(0.0f)), vmulq_f32(g, g), vdupq_n_f32(0.0f));
    }
    return vmulq_f32(a, u);
}

/* Inlined once per activation, so that the loop has no per-vector branch on `act`. The tail
 * goes through a zero-padded vector (the lanes are independent). */
BN_INLINE void act_loop(bn_ffn_act act, float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(gate + i, act4(act, vld1q_f32(gate + i), vld1q_f32(up + i)));
    if (i < n) {
        float g[4] = {0}, u[4] = {0};
        for (int64_t k = i; k < n; k++) g[k - i] = gate[k], u[k - i] = up[k];
        vst1q_f32(g, act4(act, vld1q_f32(g), vld1q_f32(u)));
        for (int64_t k = i; k < n; k++) gate[k] = g[k - i];
    }
}

void bn_rows_ffn_act_neon(bn_ffn_act act, float *gate, const float *up, int64_t n) {
    if (act == BN_FFN_SILU) act_loop(BN_FFN_SILU, gate, up, n);
    else act_loop(BN_FFN_RELU2, gate, up, n);
}

/* Sum of squares in the order of rows.h: chains 0, 1 in the lanes of one double vector, 2, 3
 * in the other (each square of a float is exact in double, so FMLA adds exactly v * v). */
static double sumsq_row(const float *x, int64_t n) {
    float64x2_t a01 = vdupq_n_f64(0.0), a23 = vdupq_n_f64(0.0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        float64x2_t lo = vcvt_f64_f32(vget_low_f32(v)), hi = vcvt_high_f64_f32(v);
        a01 = vfmaq_f64(a01, lo, lo);
        a23 = vfmaq_f64(a23, hi, hi);
    }
    double s = (vgetq_lane_f64(a01, 0) + vgetq_lane_f64(a01, 1)) + (vgetq_lane_f64(a23, 0) + vgetq_lane_f64(a23, 1));
    for (; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

/* y = (x * scale) * g; returns max |y| with NaN skipped (FMAXNM returns the number, as the
 * quantizer's `v > m ? v : m` keeps m). */
static float scale_row(float *y, const float *x, const float *g, int64_t n, float scale) {
    float32x4_t m = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vld1q_f32(g + i));
        vst1q_f32(y + i, v);
        m = vmaxnmq_f32(m, vabsq_f32(v));
    }
    float amax = vmaxnmvq_f32(m);
    for (; i < n; i++) {
        y[i] = x[i] * scale * g[i];
        float v = fabsf(y[i]);
        amax = v > amax ? v : amax;
    }
    return amax;
}

/* Token-mode quantization (linear.h) given amax = max |y|: s = 127 / max(amax, 1e-5),
 * q = round half even (FCVTNS, as linear.c's 1.5 * 2^23 trick) saturated to int8 (SQXTN
 * twice; |y * s| <= 127 up to one rounding, so saturation never changes a value the reference
 * keeps). Returns s. */
static float quant_row(const float *y, int64_t n, float amax, int8_t *q) {
    float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(y + i), s)), b = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(y + i + 4), s));
        vst1_s8(q + i, vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b))));
    }
    for (; i < n; i++) {
        float v = nearbyintf(y[i] * s);
        q[i] = (int8_t)(v > 127.0f ? 127 : v < -128.0f ? -128 : v);
    }
    return s;
}

void bn_rows_norm_neon(float *const *y, const float *const *x, int nr, const float *g, int64_t n, float eps, bn_act *a, int t0) {
    for (int r = 0; r < nr; r++) {
        float scale = 1.0f / sqrtf((float)(sumsq_row(x[r], n) / (double)n) + eps);
        float amax = scale_row(y[r], x[r], g, n, scale);
        int t = t0 + r;
        if (a && a->mode == BN_ACT_TOKEN) a->s[t] = quant_row(y[r], n, amax, a->q + (int64_t)t * a->K);
        else if (a) bn_act_quantize_tokens(a, t, t + 1);
    }
}

/* FCVTN rounds by FPCR's mode: nearest even, the Linux default, which the library never
 * changes; overflow goes to infinity and f16 subnormals are exact (FPCR.FZ16 does not apply
 * to conversions, and an f32 subnormal, which FPCR.FZ would flush, is +-0 in f16 either way),
 * as bn_f32_to_f16 does. Only a NaN differs (FCVTN keeps the top payload bits), so NaN lanes
 * are set to the portable code's quiet NaN, sign | 0x7e00. A strided store (a K^T block's
 * column) goes through 4 lane stores; the tail (n % 4) is the portable conversion. */
void bn_rows_to_f16_neon(uint16_t *y, int64_t stride, const float *x, int64_t n) {
    const uint16x4_t sign = vdup_n_u16(0x8000), quiet = vdup_n_u16(0x7e00);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        uint16x4_t h = vreinterpret_u16_f16(vcvt_f16_f32(v));
        uint16x4_t nan = vmovn_u32(vmvnq_u32(vceqq_f32(v, v)));
        h = vbsl_u16(nan, vorr_u16(vand_u16(h, sign), quiet), h);
        if (stride == 1) {
            vst1_u16(y + i, h);
        } else {
            vst1_lane_u16(y + (i + 0) * stride, h, 0);
            vst1_lane_u16(y + (i + 1) * stride, h, 1);
            vst1_lane_u16(y + (i + 2) * stride, h, 2);
            vst1_lane_u16(y + (i + 3) * stride, h, 3);
        }
    }
    for (; i < n; i++) y[i * stride] = bn_f32_to_f16(x[i]);
}
