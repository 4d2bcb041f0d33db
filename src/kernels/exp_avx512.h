/* exp_avx512: the 16-lane exp polynomial shared by the AVX-512 attention (softmax) and the
 * fused row passes (SiLU), included by files compiled with AVX-512 flags. Each caller clamps
 * its argument first (its own range: see there). */
#ifndef BITNET_EXP_AVX512_H
#define BITNET_EXP_AVX512_H

#include <immintrin.h>

/* exp(x) within a few ulp for x in [-104, 89]: x = n ln2 + r, |r| <= ln2 / 2 (ln2 split in two
 * constants so that r is exact), a degree-6 polynomial for exp(r), times 2^n by scalef, which
 * gives +inf above ~88.7 and (sub)normal or zero results below -87.3 like expf. */
static inline __m512 bn_exp16_poly(__m512 x) {
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

#endif
