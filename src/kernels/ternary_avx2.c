/* ternary_avx2: the 256-bit ternary kernels (ternary_256.h) with AVX2's pmaddubsw.
 * pmaddubsw adds two u8 x s8 products into a saturating int16, so every AVX2 dot sums in int16
 * (DOT_I16) and widens into int32 only now and then, with pmaddwd by ones: tile_dot (2-7
 * tokens, and the per-block paths) and one_token_dot (decode) through ONE_TOKEN_PAIR /
 * ONE_TOKEN_FOLD below, the prefill's dec_dot through its own steps (bound there); nothing
 * saturates and the int16 sums are exact. */
#include <immintrin.h>

#define SUM_I8(acc, q) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), (q)), _mm256_set1_epi16(1)))
#define DOT_I16 1
/* one_token_dot and tile_dot (ternary_256.h) sum in int16: a pmaddubsw lane of unscaled codes is in
 * [-512, 508], of codes scaled by 4 in [-2048, 2032], so a step adds [-1024, 1016] to the
 * unscaled partial and [-4096, 4064] to the scaled one; over 2 chunks (8 steps) the scaled
 * partial stays in [-32768, 32512], exact in int16 (vpaddw wraps but never needs to). The
 * fold adds un + sc / 4 (in [-16384, 16256], still int16) into int32 with one vpmaddwd by
 * ones. Per 32 code bytes the steps are 4 pmaddubsw + 4 vpaddw; the int32 widening per
 * (chunk, p) that this replaced cost 3 more (vpsraw, vpmaddwd, vpaddd): 1.07-1.10x in cache
 * (one thread, 2B-4T shapes, bench/kernel_bench). */
#define ONE_TOKEN_PAIR(part, c1, q1, c2, q2) _mm256_add_epi16((part), _mm256_add_epi16(_mm256_maddubs_epi16((c1), (q1)), _mm256_maddubs_epi16((c2), (q2))))
#define ONE_TOKEN_FOLD(acc, un, sc) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_add_epi16((un), _mm256_srai_epi16((sc), 2)), _mm256_set1_epi16(1)))
#define ONE_TOKEN_CHUNKS 2
#define KFN(name) ternary_##name##_avx2
#include "ternary_lut_avx2.h"
#define PREFILL_LUT(j) lut_prefill(j) /* KFN(token) offers its calls to the table path first */
#include "ternary_256.h"

uint64_t bn_ternary_lut_scratch_bytes(int64_t K, int64_t rows) { return lut_scratch_bytes(K, rows); }

const bn_kernel_table bn_kernels_avx2 = {
    BN_TIER_AVX2, "avx2", ternary_token_avx2, ternary_q8k_avx2, bn_float_rows_avx2, bn_q8_rows_avx2,
};
