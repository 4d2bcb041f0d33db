/* ternary_avxvnni: the 256-bit ternary kernels (ternary_256.h) with AVX-VNNI's vpdpbusd
 * (4 u8 x s8 products added straight into int32 lanes, no int16 stage). Float weights use
 * the AVX2 kernels, the q8 rows head q8_rows_avxvnni.c. */
#include <immintrin.h>

#define DOT4(acc, c, q) _mm256_dpbusd_avx_epi32((acc), (c), (q))
#define DOT4_PAIR(acc, c1, q1, c2, q2) DOT4(DOT4((acc), (c1), (q1)), (c2), (q2))
#define SUM_I8(acc, q) _mm256_dpbusd_avx_epi32((acc), _mm256_set1_epi8(1), (q))
/* one_token_dot and tile_dot (ternary_256.h): the partials are int32 (vpdpbusd), so a fold is
 * needed only for the bound: a step adds at most 2 * 4 * 8 * 128 = 2^13 to a partial (half that
 * to tile_dot's one-per-field partials), 2^15 per chunk, below 2^28 over FOLD_CHUNKS chunks. */
#define ONE_TOKEN_PAIR(part, c1, q1, c2, q2) DOT4_PAIR((part), (c1), (q1), (c2), (q2))
#define ONE_TOKEN_FOLD(acc, un, sc) _mm256_add_epi32((acc), _mm256_add_epi32((un), _mm256_srai_epi32((sc), 2)))
#define ONE_TOKEN_CHUNKS FOLD_CHUNKS
#define KFN(name) ternary_##name##_avxvnni
#include "ternary_256.h"

const bn_kernel_table bn_kernels_avxvnni = {
    BN_TIER_AVXVNNI, "avxvnni", ternary_token_avxvnni, ternary_q8k_avxvnni, bn_float_rows_avx2, bn_q8_rows_avxvnni,
};
