/* rows_sumsq: the RMS norm's sums of squares in 256-bit AVX + FMA double arithmetic, shared by
 * the avx2 and avx512 row passes (rows_avx2.c, rows_avx512.c; both compiled with FMA). */
#ifndef BITNET_ROWS_SUMSQ_H
#define BITNET_ROWS_SUMSQ_H

#include <immintrin.h>

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

#endif
