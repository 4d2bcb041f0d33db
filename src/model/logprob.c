/* logprob: the portable reference of the log-probability passes (numerics in logprob.h), the
 * choice of the AVX2 or AVX-512 (x86-64) or NEON (aarch64) code by tier, and the top-n list. */
#include "model/logprob.h"

#include <math.h>

float bn_logprob_lse_nonfinite(const float *x, int64_t n, float m) {
    for (int64_t i = 0; i < n; i++)
        if (isnan(x[i])) return NAN;
    return m;
}

static float lse_portable(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > m) m = x[i]; /* NaN skipped: it reaches the sum below */
    if (!isfinite(m)) return bn_logprob_lse_nonfinite(x, n, m);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += exp((double)(x[i] - m));
    return m + (float)log(s);
}

static int64_t next_above_portable(const float *x, int64_t i, int64_t n, float t) {
    while (i < n && !(x[i] > t)) i++;
    return i;
}

const bn_logprob_ops bn_logprob_portable = {"portable", lse_portable, next_above_portable};

#if defined(__x86_64__)
static const bn_logprob_ops logprob_avx2 = {"avx2", bn_logprob_lse_avx2, bn_logprob_next_above_avx2};
static const bn_logprob_ops logprob_avx512 = {"avx512", bn_logprob_lse_avx512, bn_logprob_next_above_avx512};
#endif
#if defined(__aarch64__)
static const bn_logprob_ops logprob_neon = {"neon", bn_logprob_lse_neon, bn_logprob_next_above_neon};
#endif

const bn_logprob_ops *bn_logprob_for_tier(bn_cpu_tier t) {
    switch (bn_cpu_vec_isa(t)) {
#if defined(__x86_64__)
    case BN_VEC_AVX512: return &logprob_avx512;
    case BN_VEC_AVX2: return &logprob_avx2;
#endif
#if defined(__aarch64__)
    case BN_VEC_NEON: return &logprob_neon;
#endif
    default: return &bn_logprob_portable;
    }
}

int bn_logprob_top(const bn_logprob_ops *ops, const float *x, int64_t n, int k, int32_t *id, float *val) {
    int held = 0;
    for (int64_t i = 0; i < n && k > 0; i++) {
        /* full: only a value above the k-th can enter (an equal one ranks after it) */
        if (held == k && (i = ops->next_above(x, i, n, val[k - 1])) == n) break;
        float v = x[i];
        if (isnan(v)) continue;
        int j = held < k ? held++ : k - 1; /* full: the k-th drops out */
        for (; j > 0 && val[j - 1] < v; j--) {
            val[j] = val[j - 1];
            id[j] = id[j - 1];
        }
        val[j] = v;
        id[j] = (int32_t)i;
    }
    return held;
}
