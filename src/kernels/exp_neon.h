/* exp_neon: the 4-lane exp polynomial shared by the NEON attention (softmax) and the NEON row
 * passes (SiLU); the constants of exp_coeffs.h, as exp_avx2.h and exp_avx512.h. Each caller
 * clamps its argument first. */
#ifndef BITNET_EXP_NEON_H
#define BITNET_EXP_NEON_H

#include <arm_neon.h>

#include "exp_coeffs.h"

/* exp(x) within a few ulp for x in [-104, 89]: x = n ln2 + r, |r| <= ln2 / 2 (ln2 split in two
 * constants so that r is exact), a degree-6 polynomial for exp(r), times 2^n as 2^(n - n/2)
 * 2^(n/2) (each factor a normal float for n in [-150, 129], where AVX-512 has scalef): +inf
 * above ~88.7, (sub)normal or zero results below -87.3, like expf. */
static inline float32x4_t bn_exp4_poly(float32x4_t x) {
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(BN_EXP_LOG2E)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(BN_EXP_LN2_HI));
    r = vfmsq_f32(r, n, vdupq_n_f32(BN_EXP_LN2_LO));
    float32x4_t p = vdupq_n_f32(BN_EXP_P0);
    p = vfmaq_f32(vdupq_n_f32(BN_EXP_P1), p, r);
    p = vfmaq_f32(vdupq_n_f32(BN_EXP_P2), p, r);
    p = vfmaq_f32(vdupq_n_f32(BN_EXP_P3), p, r);
    p = vfmaq_f32(vdupq_n_f32(BN_EXP_P4), p, r);
    p = vfmaq_f32(vdupq_n_f32(BN_EXP_P5), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), vmulq_f32(p, r), r);
    int32x4_t ni = vcvtq_s32_f32(n), n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1); /* n integral: exact */
    const int32x4_t bias = vdupq_n_s32(127);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

#endif
