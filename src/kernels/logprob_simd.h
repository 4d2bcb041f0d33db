/* logprob_simd: the log-probability passes of logprob.h (log-sum-exp of a row, the scan for a
 * value above a threshold) written once over a small vector vocabulary, included by
 * logprob_avx512.c (16 lanes), logprob_avx2.c (8) and logprob_neon.c (4), which define first:
 *   V, VL                   vector type and lanes (4 VL divides BN_LOGPROB_BLOCK)
 *   V_ZERO() V_SET1(x) V_LOAD(p) V_ADD(a, b) V_SUB(a, b)
 *   V_KEEP(v, n, fill)      v in lanes < n, fill in lanes >= n (0 < n < VL)
 *   V_LOAD_PART(p, n, fill) p[0 .. n) in lanes < n, fill in the others, reading only those n
 *   V_MAX_NUM(x, m)         per lane max(x, m), m where x is NaN (m never is)
 *   V_HMAX(v)               the greatest lane (no NaN lanes)
 *   V_EXP(v)                exp(v) for v <= 0 by exp_<isa>.h's polynomial (its argument
 *                           clamped below), NaN lanes NaN
 *   V_SUM_D(v)              the lanes' sum in double (each lane converted exactly; a fixed order)
 *   V_GT_BITS(v, t)         bit j set when lane j of v > lane j of t (NaN: clear), as unsigned
 * Each function reads the row once; a value's arithmetic does not depend on its place in the
 * row (the tails go through whole vectors with their extra lanes filled, then dropped). */
#include <math.h>
#include <stdint.h>

#include "kernel_impl.h"
#include "model/logprob.h"

/* The greatest value of x[0 .. n), NaN skipped (-inf when there is none): 4 accumulators, as
 * the max's latency is a few cycles. */
BN_INLINE float lp_row_max(const float *x, int64_t n) {
    V m[4];
    BN_UNROLL for (int j = 0; j < 4; j++) m[j] = V_SET1(-INFINITY);
    int64_t i = 0;
    for (; i + 4 * VL <= n; i += 4 * VL) BN_UNROLL for (int j = 0; j < 4; j++) m[j] = V_MAX_NUM(V_LOAD(x + i + j * VL), m[j]);
    for (; i + VL <= n; i += VL) m[0] = V_MAX_NUM(V_LOAD(x + i), m[0]);
    if (i < n) m[1] = V_MAX_NUM(V_LOAD_PART(x + i, (int)(n - i), -INFINITY), m[1]);
    return V_HMAX(V_MAX_NUM(V_MAX_NUM(m[0], m[1]), V_MAX_NUM(m[2], m[3])));
}

/* sum_i exp(x[i] - m), in the blocks of logprob.h: value i of a block goes to accumulator
 * (i / VL) % 4, lane i % VL (the last block's partial vector too, its extra lanes 0), so a
 * chain adds at most BN_LOGPROB_BLOCK / (4 VL) terms in float before the block's lanes go to
 * the double total. */
BN_INLINE double lp_sum_exp(const float *x, int64_t n, float m) {
    const V vm = V_SET1(m);
    double total = 0.0;
    for (int64_t i = 0; i < n;) {
        int64_t end = n - i < BN_LOGPROB_BLOCK ? n : i + BN_LOGPROB_BLOCK;
        V a[4];
        BN_UNROLL for (int j = 0; j < 4; j++) a[j] = V_ZERO();
        for (; i + 4 * VL <= end; i += 4 * VL)
            BN_UNROLL for (int j = 0; j < 4; j++) a[j] = V_ADD(a[j], V_EXP(V_SUB(V_LOAD(x + i + j * VL), vm)));
        BN_UNROLL for (int j = 0; j < 4; j++) { /* the row's last < 4 VL values */
            int64_t left = end - (i + j * VL);
            if (left <= 0) break;
            const float *p = x + i + j * VL;
            a[j] = V_ADD(a[j], left >= VL ? V_EXP(V_SUB(V_LOAD(p), vm))
                                          : V_KEEP(V_EXP(V_SUB(V_LOAD_PART(p, (int)left, m), vm)), (int)left, V_ZERO()));
        }
        i = end;
        total += V_SUM_D(V_ADD(V_ADD(a[0], a[1]), V_ADD(a[2], a[3])));
    }
    return total;
}

/* logprob.h's lse: the max, then m + log(sum), NaN carried by the sum; a row whose max is not
 * finite is decided by bn_logprob_lse_nonfinite. */
BN_INLINE float lp_lse(const float *x, int64_t n) {
    float m = lp_row_max(x, n);
    if (!isfinite(m)) return bn_logprob_lse_nonfinite(x, n, m);
    return m + (float)log(lp_sum_exp(x, n, m));
}

/* logprob.h's next_above: 4 VL values a step (4 VL <= 64 bits of lane flags). */
BN_INLINE int64_t lp_next_above(const float *x, int64_t i, int64_t n, float t) {
    const V vt = V_SET1(t);
    for (; i + 4 * VL <= n; i += 4 * VL) {
        uint64_t b = 0;
        BN_UNROLL for (int j = 0; j < 4; j++) b |= (uint64_t)V_GT_BITS(V_LOAD(x + i + j * VL), vt) << (j * VL);
        if (b) return i + __builtin_ctzll(b);
    }
    for (; i < n; i += VL) {
        int left = n - i < VL ? (int)(n - i) : VL;
        unsigned b = V_GT_BITS(left == VL ? V_LOAD(x + i) : V_LOAD_PART(x + i, left, -INFINITY), vt);
        if (b) return i + __builtin_ctz(b); /* a filled lane is never above t */
    }
    return n;
}
