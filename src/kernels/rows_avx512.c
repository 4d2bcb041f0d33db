/* rows_avx512: the per-token vector passes of rows.h at 16 lanes (avx512 and amx tiers).
 * Everything but SiLU's exp is the portable code's arithmetic in the portable code's order,
 * so the results are bit-identical (rows.h). Tails (n % 16) use masked loads and stores, so a
 * value's arithmetic does not depend on its place in the row. */
#include <immintrin.h>
#include <math.h>

#include "exp_avx512.h"
#include "rows_x86.h"
#include "model/rows.h"

static inline __mmask16 tail_mask(int64_t left) { return (__mmask16)((1u << left) - 1u); }

void bn_rows_add_avx512(float *x, const float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_add_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(d + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, d + i)));
    }
}

static inline void rope16(float *x, const float *c, const float *s, int64_t half, int64_t i, __mmask16 m) {
    __m512 x0 = _mm512_maskz_loadu_ps(m, x + i), x1 = _mm512_maskz_loadu_ps(m, x + half + i);
    __m512 vc = _mm512_maskz_loadu_ps(m, c + i), vs = _mm512_maskz_loadu_ps(m, s + i);
    _mm512_mask_storeu_ps(x + i, m, _mm512_sub_ps(_mm512_mul_ps(x0, vc), _mm512_mul_ps(x1, vs)));
    _mm512_mask_storeu_ps(x + half + i, m, _mm512_add_ps(_mm512_mul_ps(x0, vs), _mm512_mul_ps(x1, vc)));
}

void bn_rows_rope_avx512(float *x, const float *c, const float *s, int64_t half) {
    int64_t i = 0;
    for (; i + 16 <= half; i += 16) rope16(x, c, s, half, i, 0xFFFF);
    if (i < half) rope16(x, c, s, half, i, tail_mask(half - i));
}

/* exp(x) (exp_avx512.h) for any x: clamped to [-104, 89], so +inf above ~88.7 and (sub)normal
 * or zero results below -87.3, like expf. */
static inline __m512 exp16(__m512 x) {
    return bn_exp16_poly(_mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f)));
}

/* act(g) * u: SiLU g / (1 + exp(-g)), or ReLU^2 (g > 0 ? g * g : 0, NaN -> 0 as in C). */
static inline __m512 act16(bn_ffn_act act, __m512 g, __m512 u) {
    __m512 a;
    if (act == BN_FFN_SILU)
        a = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    else
        a = _mm512_maskz_mul_ps(_mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_GT_OQ), g, g);
    return _mm512_mul_ps(a, u);
}

/* Inlined once per activation, so that the loop has no per-vector branch on `act`. */
BN_INLINE void act_loop(bn_ffn_act act, float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(gate + i, act16(act, _mm512_loadu_ps(gate + i), _mm512_loadu_ps(up + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(gate + i, m, act16(act, _mm512_maskz_loadu_ps(m, gate + i), _mm512_maskz_loadu_ps(m, up + i)));
    }
}

void bn_rows_ffn_act_avx512(bn_ffn_act act, float *gate, const float *up, int64_t n) {
    if (act == BN_FFN_SILU) act_loop(BN_FFN_SILU, gate, up, n);
    else act_loop(BN_FFN_RELU2, gate, up, n);
}

/* y = (x * scale) * g; returns max |y| (NaN skipped, as the quantizer's `v > m ? v : m`:
 * max_ps returns its second operand when either is NaN). */
static float scale_row(float *y, const float *x, const float *g, int64_t n, float scale) {
    const __m512 sc = _mm512_set1_ps(scale);
    __m512 m = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), sc), _mm512_loadu_ps(g + i));
        _mm512_storeu_ps(y + i, v);
        m = _mm512_max_ps(_mm512_abs_ps(v), m);
    }
    if (i < n) {
        __mmask16 k = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), sc), _mm512_maskz_loadu_ps(k, g + i));
        _mm512_mask_storeu_ps(y + i, k, v);
        m = _mm512_max_ps(_mm512_abs_ps(v), m); /* masked-off lanes are 0 */
    }
    return _mm512_reduce_max_ps(m);
}

/* Token-mode quantization of y (linear.h) given amax = max |y|: s = 127 / max(amax, 1e-5),
 * q = round half even (cvtps under the default rounding mode, as linear.c's 1.5 * 2^23 trick)
 * saturated to int8 (|y * s| <= 127 up to one rounding, so saturation never changes a value
 * the reference keeps). Returns s. */
static float quant_row(const float *y, int64_t n, float amax, int8_t *q) {
    float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    const __m512 vs = _mm512_set1_ps(s);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(y + i), vs))));
    if (i < n) {
        __mmask16 k = tail_mask(n - i);
        _mm512_mask_cvtsepi32_storeu_epi8(q + i, k, _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, y + i), vs)));
    }
    return s;
}

void bn_rows_norm_avx512(float *const *y, const float *const *x, int nr, const float *g, int64_t n, float eps, bn_act *a, int t0) {
    rows_norm_x86(scale_row, quant_row, y, x, nr, g, n, eps, a, t0);
}
