/* rows_avx2: the per-token vector passes of rows.h at 8 lanes (avx2 and avxvnni tiers; its
 * F16C conversion of the KV stores serves the avx512 and amx tiers too). As
 * rows_avx512.c, the portable code's arithmetic in the portable code's order, so the results
 * are bit-identical (rows.h), except SiLU's exp: exp_avx2.h's polynomial (a few ulp from
 * libm's expf, as at the AVX-512 and NEON tiers; it was the portable loop, ~2.6% of a
 * 2048-token prefill of a SiLU model at this tier). Tails (n % 8) use masked loads and
 * stores, so a value's arithmetic does not depend on its place in the row. At the avx2 tier
 * these passes were the portable code, about 10% of a 128-token prefill on Zen 4 (perf, 2
 * threads); docs/KERNELS.md has the measurement. */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>

#include "exp_avx2.h"
#include "model/rows.h"
#include "rows_x86.h"
#include "util.h"

/* Lanes [0, left) set, left in 1..7. */
static inline __m256i tail_mask(int64_t left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Loads and stores of 8 floats, masked (m) only in a row's tail (full: plain, as masked
 * stores are slow on AMD cores); masked-off lanes load as 0. Inlined with `full` constant. */
BN_INLINE __m256 load8(const float *p, __m256i m, bool full) { return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m); }
BN_INLINE void store8(float *p, __m256i m, bool full, __m256 v) {
    if (full) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, m, v);
}

void bn_rows_add_avx2(float *x, const float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(d + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        store8(x + i, m, false, _mm256_add_ps(load8(x + i, m, false), load8(d + i, m, false)));
    }
}

BN_INLINE void rope8(float *x, const float *c, const float *s, int64_t half, int64_t i, __m256i m, bool full) {
    __m256 x0 = load8(x + i, m, full), x1 = load8(x + half + i, m, full), vc = load8(c + i, m, full), vs = load8(s + i, m, full);
    store8(x + i, m, full, _mm256_sub_ps(_mm256_mul_ps(x0, vc), _mm256_mul_ps(x1, vs)));
    store8(x + half + i, m, full, _mm256_add_ps(_mm256_mul_ps(x0, vs), _mm256_mul_ps(x1, vc)));
}

void bn_rows_rope_avx2(float *x, const float *c, const float *s, int64_t half) {
    int64_t i = 0;
    for (; i + 8 <= half; i += 8) rope8(x, c, s, half, i, _mm256_setzero_si256(), true);
    if (i < half) rope8(x, c, s, half, i, tail_mask(half - i), false);
}

/* act(g) * u: SiLU g / (1 + exp(-g)) with exp(-g) clamped to exp_avx2.h's range (below -87.3
 * it is ~1e-38 instead of smaller, and 1 + it is 1 either way; above 89 it is +inf, as expf's,
 * and g / inf is -0), or ReLU^2 (g > 0 ? g * g : 0, NaN -> 0 as in C). */
static inline __m256 act8(bn_ffn_act act, __m256 g, __m256 u) {
    __m256 a;
    if (act == BN_FFN_SILU) {
        __m256 x = _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), g), _mm256_set1_ps(-87.3f)), _mm256_set1_ps(89.0f));
        a = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), bn_exp8_poly(x)));
    } else {
        a = _mm256_and_ps(_mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_mul_ps(g, g));
    }
    return _mm256_mul_ps(a, u);
}

/* Inlined once per activation, so that the loop has no per-vector branch on `act`. */
BN_INLINE void act_loop(bn_ffn_act act, float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(gate + i, act8(act, _mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        store8(gate + i, m, false, act8(act, load8(gate + i, m, false), load8(up + i, m, false)));
    }
}

void bn_rows_ffn_act_avx2(bn_ffn_act act, float *gate, const float *up, int64_t n) {
    if (act == BN_FFN_SILU) act_loop(BN_FFN_SILU, gate, up, n);
    else act_loop(BN_FFN_RELU2, gate, up, n);
}

/* y = (x * scale) * g; returns max |y| (NaN skipped, as the quantizer's `v > m ? v : m`:
 * max_ps returns its second operand when either is NaN). Masked-off lanes load as 0. */
BN_INLINE __m256 scale8(float *y, const float *x, const float *g, __m256 sc, __m256 m, __m256i k, bool full) {
    __m256 v = _mm256_mul_ps(_mm256_mul_ps(load8(x, k, full), sc), load8(g, k, full));
    store8(y, k, full, v);
    return _mm256_max_ps(_mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))), m);
}

static float scale_row(float *y, const float *x, const float *g, int64_t n, float scale) {
    const __m256 sc = _mm256_set1_ps(scale);
    __m256 m = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = scale8(y + i, x + i, g + i, sc, m, _mm256_setzero_si256(), true);
    if (i < n) m = scale8(y + i, x + i, g + i, sc, m, tail_mask(n - i), false);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1)); /* max is exact: any order */
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

/* Token-mode quantization of y (linear.h) given amax = max |y|, as rows_avx512.c's quant_row:
 * cvtps rounds half to even (the default mode), as linear.c's 1.5 * 2^23 trick, and the two
 * saturating packs clamp to int8 as the reference does. 32 values per step (the packs work
 * within 128-bit lanes, hence the final dword permute); the n % 32 last ones in scalar code
 * with linear.c's arithmetic. Returns s. */
static float quant_row(const float *y, int64_t n, float amax, int8_t *q) {
    float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    const __m256 vs = _mm256_set1_ps(s);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i v[4];
        for (int j = 0; j < 4; j++) v[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(y + i + 8 * j), vs));
        __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(b, order));
    }
    for (; i < n; i++) {
        float v = (y[i] * s + 12582912.0f) - 12582912.0f; /* 1.5 * 2^23: round half to even */
        q[i] = (int8_t)(v > 127.0f ? 127 : v < -128.0f ? -128 : v);
    }
    return s;
}

void bn_rows_norm_avx2(float *const *y, const float *const *x, int nr, const float *g, int64_t n, float eps, bn_act *a, int t0) {
    rows_norm_x86(scale_row, quant_row, y, x, nr, g, n, eps, a, t0);
}

/* F16C converts with round-to-nearest-even, overflow to infinity and exact subnormals, as
 * bn_f32_to_f16 does (MXCSR's FTZ does not apply to it, and the f32 subnormals that DAZ would
 * zero become +-0 either way); only a NaN differs (F16C keeps the top payload bits), so NaN lanes are
 * set to the portable code's quiet NaN, sign | 0x7e00. A strided store (a K^T block's column)
 * goes through 8 scalar stores. The tail (n % 8) is the portable conversion. */
void bn_rows_to_f16_avx2(uint16_t *y, int64_t stride, const float *x, int64_t n) {
    const __m128i sign = _mm_set1_epi16((short)0x8000), quiet = _mm_set1_epi16(0x7e00);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256i nan32 = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        __m128i nan16 = _mm_packs_epi32(_mm256_castsi256_si128(nan32), _mm256_extracti128_si256(nan32, 1));
        h = _mm_blendv_epi8(h, _mm_or_si128(_mm_and_si128(h, sign), quiet), nan16);
        if (stride == 1) {
            _mm_storeu_si128((__m128i *)(y + i), h);
        } else {
            uint16_t t[8];
            _mm_storeu_si128((__m128i *)t, h);
            for (int j = 0; j < 8; j++) y[(i + j) * stride] = t[j];
        }
    }
    for (; i < n; i++) y[i * stride] = bn_f32_to_f16(x[i]);
}
