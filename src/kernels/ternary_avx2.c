/* ternary_avx2: the 256-bit ternary kernels (ternary_256.h) with AVX2's pmaddubsw.
 * pmaddubsw adds two u8 x s8 products into a saturating int16: with codes <= 2 and
 * |q| <= 128 a pair is at most 2 * 2 * 128 = 512 in magnitude, far from 32767, so it never
 * saturates; pmaddwd by 1 then widens the pairs into int32 lanes. */
#include <immintrin.h>

#define DOT4(acc, c, q) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((c), (q)), _mm256_set1_epi16(1)))
#define SUM_I8(acc, q) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), (q)), _mm256_set1_epi16(1)))
#define KFN(name) ternary_##name##_avx2
#include "ternary_256.h"

const bn_kernel_table bn_kernels_avx2 = {
    BN_TIER_AVX2, "avx2", ternary_token_avx2, ternary_q8k_avx2, bn_float_rows_avx2,
};
