/* exp_avx2: the 8-lane exp polynomial shared by the AVX2 attention (softmax) and the AVX2 row
 * passes (SiLU), included by files compiled with AVX2 + FMA flags. The 16-lane version of the
 * same arithmetic is exp_avx512.h; here 2^n is built in the exponent bits, so each caller
 * clamps its argument to [-87.3, 89] first (see there). */
#ifndef BITNET_EXP_AVX2_H
#define BITNET_EXP_AVX2_H

#include <immintrin.h>

#include "exp_coeffs.h"

/* exp(x) within a few ulp for x in [-87.3, 89]: x = n ln2 + r, |r| <= ln2 / 2 (ln2 split in
 * two constants so that r is exact), a degree-6 polynomial for exp(r), times 2^n with n + 127
 * put in the exponent bits: n in [-126, 128], where n = 128 (x above ~88.7) gives +inf, as
 * expf does. */
static inline __m256 bn_exp8_poly(__m256 x) {
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(BN_EXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(BN_EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(BN_EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(BN_EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(BN_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(BN_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(BN_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(BN_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(BN_EXP_P5));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

#endif
