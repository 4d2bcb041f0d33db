/* logprob_neon: the log-probability passes of logprob.h at 4 lanes (both aarch64 tiers): 16
 * values a step, the tails through a filled vector. The loops are logprob_simd.h. */
#include <arm_neon.h>
#include <string.h>

#include "exp_neon.h"
#include "kernel_impl.h"

/* p[0 .. n) in lanes < n (n < 4), fill in the others. */
static inline float32x4_t load_part4(const float *p, int n, float fill) {
    float t[4] = {fill, fill, fill, fill};
    memcpy(t, p, sizeof(float) * (size_t)n);
    return vld1q_f32(t);
}

/* exp(x) for x <= 0, clamped below at -104 (exp_neon.h's range: 0 or a subnormal there);
 * FMAX keeps a NaN x. */
static inline float32x4_t exp4(float32x4_t x) { return bn_exp4_poly(vmaxq_f32(x, vdupq_n_f32(-104.0f))); }

/* The 4 lanes' sum in double: (0 + 1) + (2 + 3). */
static inline double sum4_d(float32x4_t v) { return vaddvq_f64(vcvt_f64_f32(vget_low_f32(v))) + vaddvq_f64(vcvt_high_f64_f32(v)); }

/* Bit j for lane j of v > t (FCMGT: false for NaN). */
static inline unsigned gt_bits4(float32x4_t v, float32x4_t t) {
    static const uint32_t bit[4] = {1, 2, 4, 8};
    return vaddvq_u32(vandq_u32(vcgtq_f32(v, t), vld1q_u32(bit)));
}

#define V float32x4_t
#define VL 4
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_SET1(x) vdupq_n_f32(x)
#define V_LOAD(p) vld1q_f32(p)
#define V_ADD(a, b) vaddq_f32((a), (b))
#define V_SUB(a, b) vsubq_f32((a), (b))
#define V_KEEP(v, n, fill) bn_keep4((v), (n), (fill))
#define V_LOAD_PART(p, n, fill) load_part4((p), (n), (fill))
#define V_MAX_NUM(x, m) vmaxnmq_f32((x), (m))
#define V_HMAX(v) vmaxnmvq_f32(v)
#define V_EXP(v) exp4(v)
#define V_SUM_D(v) sum4_d(v)
#define V_GT_BITS(v, t) gt_bits4((v), (t))
#include "logprob_simd.h"

float bn_logprob_lse_neon(const float *x, int64_t n) { return lp_lse(x, n); }
int64_t bn_logprob_next_above_neon(const float *x, int64_t i, int64_t n, float t) { return lp_next_above(x, i, n, t); }
