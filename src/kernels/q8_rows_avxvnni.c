/* q8_rows_avxvnni: the q8 rows kernel (`--lm-head q8`) at the avxvnni tier: q8_rows_256.h with
 * AVX-VNNI's vpdpbusd, which multiplies the stored u8 codes (w + 128) by the s8 activations
 * and adds 4 products into each int32 lane (at most 4 * 255 * 128 a step, eight steps < 2^21:
 * exact), so one instruction per 32 bytes where the AVX2 step needs five (xor, two vpsignb,
 * pmaddubsw, pmaddwd) plus an add; the + 128 comes off once per block (- 128 sum(q), exact).
 * Same block sums, so the same bits as bn_q8_rows_avx2 and bn_q8_rows_avx512. */
#include <immintrin.h>

#include "kernel_impl.h"

#define Q8_HALF_STEP(acc, codes, xq) ((acc) = _mm256_dpbusd_avx_epi32((acc), (codes), (xq)))
#define Q8_HALF_SUM(acc, corr) _mm256_sub_epi32((acc), (corr))
#include "q8_rows_256.h"
#include "q8_rows.h"

void bn_q8_rows_avxvnni(const bn_q8_rows *p, const bn_block_q8_0 *x, int n, float out_scale, float *y, int64_t ldy,
                        int64_t m0, int64_t m1) {
    q8_rows_apply(p, x, n, out_scale, y, ldy, m0, m1);
}
