/* attention_avx2: the blocked online-softmax attention (attention.h) at 8 lanes (avx2 and
 * avxvnni tiers): two vectors per 16-key block, 6 query rows per register tile. The loops
 * are attention_simd.h. */
#include <immintrin.h>

#include "exp_avx2.h"
#include "kernel_impl.h"

/* exp(x) for x <= 0 (softmax: scores minus their running max), exp_avx2.h's polynomial;
 * below -87.3 clamped (a weight of ~1e-38 instead of a subnormal or 0). */
static inline __m256 exp8(__m256 x) { return bn_exp8_poly(_mm256_max_ps(x, _mm256_set1_ps(-87.3f))); }

#define V __m256
#define VL 8
/* 6 rows: 12 score accumulators + 2 K^T vectors + a broadcast of the 16 registers; a 64-row
 * prefill item at positions 512-2000 (f16 cache, one thread, in cache) 1.06x faster than with
 * 4 (the K^T loads and conversions shared by more rows). Decode items (4 rows) unchanged. */
#define TR 6
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_SET1(x) _mm256_set1_ps(x)
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_MUL(a, b) _mm256_mul_ps((a), (b))
#define V_SUB(a, b) _mm256_sub_ps((a), (b))
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_HMAX(v) bn_hmax8(v)
#define V_MAX(a, b) _mm256_max_ps((a), (b))
#define V_HSUM(v) bn_hsum8(v)
#define V_EXP(v) exp8(v)
#define V_KEEP(v, n, fill) bn_keep8((v), (n), (fill))
#define V_LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define V_LOAD_I8(p) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p))))
#define F16_1(h) _cvtsh_ss(h)

/* 4 x 3 value accumulators + 3 V vectors + an e broadcast: decode tiles of 4 rows take 3
 * slices of head_dim per pass (attention_simd.h) */
#define ATTN_WIDE_VALUES 3
#define ATTN_PF_BLOCKS 2 /* attention_simd.h; 1-4 measured, docs/KERNELS.md */
#include "attention_simd.h"

bool bn_attention_avx2(const bn_attn_job *job) { return attention_simd(job); }
