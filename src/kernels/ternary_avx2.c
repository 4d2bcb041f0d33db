/* ternary_avx2: the 256-bit ternary kernels (ternary_256.h) with AVX2's pmaddubsw.
 * pmaddubsw adds two u8 x s8 products into a saturating int16. In tile_dot (short prompts)
 * and one_token_dot (decode) the code bytes it sees are <= 8 (fields scaled by 4) and
 * |q| <= 128, so a pair is at most 2 * 8 * 128 = 2048 in magnitude and DOT4_PAIR's int16
 * sum of two pairs at most 4096, far from 32767: nothing saturates and the int16 sums are
 * exact; pmaddwd by 1 then widens them into int32 lanes. The prefill's dec_dot (DOT_I16) sees unscaled codes <= 2:
 * a pair is in [-512, 508], and it adds 64 of them in int16 before widening (bound there). */
#include <immintrin.h>

#define DOT4(acc, c, q) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((c), (q)), _mm256_set1_epi16(1)))
#define DOT4_PAIR(acc, c1, q1, c2, q2) \
    _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16((c1), (q1)), _mm256_maddubs_epi16((c2), (q2))), \
                                              _mm256_set1_epi16(1)))
#define SUM_I8(acc, q) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), (q)), _mm256_set1_epi16(1)))
#define DOT_I16 1
/* One-token calls read two tiles side by side (ternary_256.h). AVX-VNNI keeps tile_dot for
 * them: this project's machines have no AVX-VNNI core to measure the change on. */
#define ONE_TOKEN_STREAMS 1
#define KFN(name) ternary_##name##_avx2
#include "ternary_256.h"

const bn_kernel_table bn_kernels_avx2 = {
    BN_TIER_AVX2, "avx2", ternary_token_avx2, ternary_q8k_avx2, bn_float_rows_avx2, bn_q8_rows_avx2,
};
