/* ternary_avxvnni: the 256-bit ternary kernels (ternary_256.h) with AVX-VNNI's vpdpbusd
 * (4 u8 x s8 products added straight into int32 lanes, no int16 stage). Float weights use
 * the AVX2 kernels, the q8 rows head q8_rows_avxvnni.c. */
#include <immintrin.h>

#define DOT4(acc, c, q) _mm256_dpbusd_avx_epi32((acc), (c), (q))
#define DOT4_PAIR(acc, c1, q1, c2, q2) DOT4(DOT4((acc), (c1), (q1)), (c2), (q2))
#define SUM_I8(acc, q) _mm256_dpbusd_avx_epi32((acc), _mm256_set1_epi8(1), (q))
#define KFN(name) ternary_##name##_avxvnni
#include "ternary_256.h"

const bn_kernel_table bn_kernels_avxvnni = {
    BN_TIER_AVXVNNI, "avxvnni", ternary_token_avxvnni, ternary_q8k_avxvnni, bn_float_rows_avx2, bn_q8_rows_avxvnni,
};
