/* logprob_avx2: the log-probability passes of logprob.h at 8 lanes (avx2 and avxvnni tiers):
 * 32 values a step, masked loads for the tails. The loops are logprob_simd.h. */
#include <immintrin.h>

#include "exp_avx2.h"
#include "kernel_impl.h"

static inline __m256i lanes8(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }

/* exp(x) for x <= 0, clamped below at -87.3 (exp_avx2.h's range: ~1e-38 instead of a smaller
 * term); the clamp's operands in this order keep a NaN x (max_ps returns its second one then). */
static inline __m256 exp8(__m256 x) { return bn_exp8_poly(_mm256_max_ps(_mm256_set1_ps(-87.3f), x)); }

/* The 8 lanes' sum in double: the two halves converted and added, then the 4 doubles. */
static inline double sum8_d(__m256 v) {
    __m256d d = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

#define V __m256
#define VL 8
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_SUB(a, b) _mm256_sub_ps((a), (b))
#define V_KEEP(v, n, fill) bn_keep8((v), (n), (fill))
#define V_LOAD_PART(p, n, fill) bn_keep8(_mm256_maskload_ps((p), lanes8(n)), (n), _mm256_set1_ps(fill))
#define V_MAX_NUM(x, m) _mm256_max_ps((x), (m))
#define V_HMAX(v) bn_hmax8(v)
#define V_EXP(v) exp8(v)
#define V_SUM_D(v) sum8_d(v)
#define V_GT_BITS(v, t) ((unsigned)_mm256_movemask_ps(_mm256_cmp_ps((v), (t), _CMP_GT_OQ)))
#include "logprob_simd.h"

float bn_logprob_lse_avx2(const float *x, int64_t n) { return lp_lse(x, n); }
int64_t bn_logprob_next_above_avx2(const float *x, int64_t i, int64_t n, float t) { return lp_next_above(x, i, n, t); }
