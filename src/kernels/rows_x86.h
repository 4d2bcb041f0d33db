/* rows_x86: the RMS norm pass shared by the avx2 and avx512 row passes (rows_avx2.c,
 * rows_avx512.c; both compiled with FMA): the sums of squares in 256-bit AVX + FMA double
 * arithmetic and the per-row driver, which takes each file's scale and quantization loops. */
#ifndef BITNET_ROWS_X86_H
#define BITNET_ROWS_X86_H

#include <math.h>

#include <immintrin.h>

#include "kernel_impl.h"
#include "model/rows.h"

/* Sums of squares of nr <= BN_ROWS_GROUP rows in the order of rows.h: lane j of a row's
 * 4-double accumulator is chain j. Always BN_ROWS_GROUP chains (missing rows repeat row 0 and
 * are dropped) so that the loop is fully unrolled with the accumulators in registers; 8
 * independent FMAs per step hide the add latency that bounds one row. */
static inline void sumsq_rows(const float *const *x, int nr, int64_t n, double *ss) {
    const float *p[BN_ROWS_GROUP];
    __m256d acc[BN_ROWS_GROUP];
    for (int r = 0; r < BN_ROWS_GROUP; r++) {
        p[r] = x[r < nr ? r : 0];
        acc[r] = _mm256_setzero_pd();
    }
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        _Pragma("GCC unroll 8") for (int r = 0; r < BN_ROWS_GROUP; r++) {
            __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(p[r] + i));
            acc[r] = _mm256_fmadd_pd(v, v, acc[r]); /* v * v is exact in double: same as mul + add */
        }
    for (int r = 0; r < nr; r++) {
        double c[4];
        _mm256_storeu_pd(c, acc[r]);
        double s = (c[0] + c[1]) + (c[2] + c[3]);
        for (int64_t k = i; k < n; k++) s += (double)p[r][k] * (double)p[r][k];
        ss[r] = s;
    }
}

/* rows.h's norm: y[r] = (x[r] * scale) * g, scale_row returning max |y[r]|, then token-mode
 * quantization by quant_row (other modes: bn_act_quantize_tokens). Inlined into each file's
 * entry point, so the two loops are direct calls. */
typedef float (*rows_scale_fn)(float *y, const float *x, const float *g, int64_t n, float scale);
typedef float (*rows_quant_fn)(const float *y, int64_t n, float amax, int8_t *q);
BN_INLINE void rows_norm_x86(rows_scale_fn scale_row, rows_quant_fn quant_row, float *const *y,
                             const float *const *x, int nr, const float *g, int64_t n,
                             float eps, bn_act *a, int t0) {
    double ss[BN_ROWS_GROUP];
    sumsq_rows(x, nr, n, ss);
    for (int r = 0; r < nr; r++) {
        float scale = 1.0f / sqrtf((float)(ss[r] / (double)n) + eps);
        float amax = scale_row(y[r], x[r], g, n, scale);
        int t = t0 + r;
        if (a && a->mode == BN_ACT_TOKEN) a->s[t] = quant_row(y[r], n, amax, a->q + (int64_t)t * a->K);
        else if (a) bn_act_quantize_tokens(a, t, t + 1);
    }
}

#endif
