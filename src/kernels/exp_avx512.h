/* exp_avx512: the 16-lane exp polynomial shared by the AVX-512 attention (softmax) and the
 * fused row passes (SiLU), included by files compiled with AVX-512 flags. Each caller clamps
 * its argument first (its own range: see there). */
#ifndef BITNET_EXP_AVX512_H
#define BITNET_EXP_AVX512_H

#include <immintrin.h>

#include "exp_coeffs.h"

/* exp(x) within a few ulp for x in [-104, 89]: x = n ln2 + r, |r| <= ln2 / 2 (ln2 split in two
 * constants so that r is exact), a degree-6 polynomial for exp(r), times 2^n by scalef, which
 * gives +inf above ~88.7 and (sub)normal or zero results below -87.3 like expf. */
static inline __m512 bn_exp16_poly(__m512 x) {
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(BN_EXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(BN_EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(BN_EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(BN_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(BN_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(BN_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(BN_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(BN_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(BN_EXP_P5));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

#endif
