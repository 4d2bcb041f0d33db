/* attention_avx512: the blocked online-softmax attention (attention.h) at 16 lanes: one
 * vector per 16-key block, 8 query rows per register tile. The loops are attention_simd.h. */
#include <immintrin.h>

#include "exp_avx512.h"

#define V __m512
#define VL 16
#define TR 8
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_DIV(a, b) _mm512_div_ps((a), (b))
#define V_HMAX(v) _mm512_reduce_max_ps(v)
#define V_HSUM(v) _mm512_reduce_add_ps(v)
#define V_EXP(v) exp16(v)

/* exp(x) (exp_avx512.h) for x <= 0 (softmax arguments). Arguments below -87.3 give ~2^-126
 * (callers zero the lanes they mask). */
static inline __m512 exp16(__m512 x) { return bn_exp16_poly(_mm512_max_ps(x, _mm512_set1_ps(-87.3f))); }

/* kt[d][i] = k[i][d] for one full block of 16 keys (rows of k at `stride` floats), 16 dims at
 * a time: a 16 x 16 register transpose (pairs, then quads within 128-bit lanes, then the
 * 128-bit lanes), ~64 shuffles where the scalar copy spent 256 loads and stores. */
static inline void transpose_full_block(const float *k, int64_t stride, int64_t hd, float *kt) {
    for (int64_t d0 = 0; d0 < hd; d0 += 16) {
        __m512 r[16], t[16], u[16];
        for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(k + i * stride + d0);
        for (int i = 0; i < 16; i += 2) {
            t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
        }
        for (int g = 0; g < 4; g++) { /* u[4g + c]: rows 4g..4g+3 at dim 4L + c of each 128-bit lane L */
            u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
            u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
            u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
            u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
        }
        for (int c = 0; c < 4; c++) {
            __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
            __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44), v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
            _mm512_storeu_ps(kt + (d0 + c) * 16, _mm512_shuffle_f32x4(v0, v2, 0x88));
            _mm512_storeu_ps(kt + (d0 + 4 + c) * 16, _mm512_shuffle_f32x4(v0, v2, 0xDD));
            _mm512_storeu_ps(kt + (d0 + 8 + c) * 16, _mm512_shuffle_f32x4(v1, v3, 0x88));
            _mm512_storeu_ps(kt + (d0 + 12 + c) * 16, _mm512_shuffle_f32x4(v1, v3, 0xDD));
        }
    }
}
#define ATTN_TRANSPOSE_FULL(k, stride, hd, kt) transpose_full_block((k), (stride), (hd), (kt))

#include "attention_simd.h"

bool bn_attention_avx512(const bn_attn_job *job) { return attention_simd(job); }
