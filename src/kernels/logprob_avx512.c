/* logprob_avx512: the log-probability passes of logprob.h at 16 lanes (avx512 and amx tiers):
 * 64 values a step, masked loads for the tails. The loops are logprob_simd.h. */
#include <immintrin.h>

#include "exp_avx512.h"
#include "kernel_impl.h"

static inline __mmask16 lanes16(int n) { return (__mmask16)((1u << n) - 1u); }

/* exp(x) for x <= 0, clamped below at -104 (exp_avx512.h's range: 0 or a subnormal there);
 * the clamp's operands in this order keep a NaN x (max_ps returns its second one then). */
static inline __m512 exp16(__m512 x) { return bn_exp16_poly(_mm512_max_ps(_mm512_set1_ps(-104.0f), x)); }

/* The 16 lanes' sum in double: the two halves converted and added, then the 8 doubles. */
static inline double sum16_d(__m512 v) {
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

#define V __m512
#define VL 16
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_KEEP(v, n, fill) _mm512_mask_mov_ps((fill), lanes16(n), (v))
#define V_LOAD_PART(p, n, fill) _mm512_mask_loadu_ps(_mm512_set1_ps(fill), lanes16(n), (p))
#define V_MAX_NUM(x, m) _mm512_max_ps((x), (m))
#define V_HMAX(v) _mm512_reduce_max_ps(v)
#define V_EXP(v) exp16(v)
#define V_SUM_D(v) sum16_d(v)
#define V_GT_BITS(v, t) ((unsigned)_mm512_cmp_ps_mask((v), (t), _CMP_GT_OQ))
#include "logprob_simd.h"

float bn_logprob_lse_avx512(const float *x, int64_t n) { return lp_lse(x, n); }
int64_t bn_logprob_next_above_avx512(const float *x, int64_t i, int64_t n, float t) { return lp_next_above(x, i, n, t); }
