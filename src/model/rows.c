/* rows: portable reference of the per-token vector passes (numerics in rows.h) and the
 * choice of the AVX2 or AVX-512 (x86-64) or NEON (aarch64) code by tier. */
#include "model/rows.h"

#include <math.h>

#include "util.h"

static void add_portable(float *x, const float *d, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += d[i];
}

static void rope_portable(float *x, const float *c, const float *s, int64_t half) {
    for (int64_t i = 0; i < half; i++) {
        float x0 = x[i], x1 = x[i + half];
        x[i] = x0 * c[i] - x1 * s[i];
        x[i + half] = x0 * s[i] + x1 * c[i];
    }
}

static void rope_norm_portable(float *x, const float *c, const float *s, int64_t half) {
    for (int64_t i = 0; i < half; i++) {
        float x0 = x[2 * i], x1 = x[2 * i + 1];
        x[2 * i] = x0 * c[i] - x1 * s[i];
        x[2 * i + 1] = x0 * s[i] + x1 * c[i];
    }
}

static void ffn_act_portable(bn_ffn_act act, float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        float a = act == BN_FFN_SILU ? g / (1.0f + expf(-g)) : (g > 0.0f ? g * g : 0.0f);
        gate[i] = a * up[i];
    }
}

/* y = x / sqrt(mean(x^2) + eps) * g, the sum of squares in double (rows.h). */
static void rmsnorm(float *y, const float *x, const float *g, int64_t n, float eps) {
    double s4[4] = {0.0, 0.0, 0.0, 0.0}; /* 4 chains in a fixed order: deterministic, 4x shorter */
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) s4[j] += (double)x[i + j] * (double)x[i + j];
    double ss = (s4[0] + s4[1]) + (s4[2] + s4[3]);
    for (; i < n; i++) ss += (double)x[i] * (double)x[i];
    float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (i = 0; i < n; i++) y[i] = x[i] * scale * g[i];
}

static void norm_portable(float *const *y, const float *const *x, int nr, const float *g, int64_t n, float eps, bn_act *a,
                          int t0) {
    for (int r = 0; r < nr; r++) {
        rmsnorm(y[r], x[r], g, n, eps);
        if (a) bn_act_quantize_tokens(a, t0 + r, t0 + r + 1);
    }
}

static void to_f16_portable(uint16_t *y, int64_t stride, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i * stride] = bn_f32_to_f16(x[i]);
}

const bn_rows_ops bn_rows_portable = {"portable", add_portable, rope_portable, rope_norm_portable, ffn_act_portable, norm_portable,
                                      to_f16_portable};

#if defined(__x86_64__)
static const bn_rows_ops rows_avx2 = {"avx2", bn_rows_add_avx2, bn_rows_rope_avx2, rope_norm_portable, bn_rows_ffn_act_avx2, bn_rows_norm_avx2,
                                     bn_rows_to_f16_avx2};
static const bn_rows_ops rows_avx512 = {"avx512", bn_rows_add_avx512, bn_rows_rope_avx512, rope_norm_portable, bn_rows_ffn_act_avx512,
                                       bn_rows_norm_avx512, bn_rows_to_f16_avx2};
#endif

#if defined(__aarch64__)
static const bn_rows_ops rows_neon = {"neon", bn_rows_add_neon, bn_rows_rope_neon, rope_norm_portable, bn_rows_ffn_act_neon,
                                      bn_rows_norm_neon, bn_rows_to_f16_neon};
#endif

const bn_rows_ops *bn_rows_for_tier(bn_cpu_tier t) {
    switch (bn_cpu_vec_isa(t)) {
#if defined(__x86_64__)
    case BN_VEC_AVX512: return &rows_avx512;
    case BN_VEC_AVX2: return &rows_avx2;
#endif
#if defined(__aarch64__)
    case BN_VEC_NEON: return &rows_neon;
#endif
    default: return &bn_rows_portable;
    }
}
