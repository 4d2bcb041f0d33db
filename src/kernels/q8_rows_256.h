/* q8_rows_256: the q8 rows kernel (`--lm-head q8`: Q8_0 x Q8_0 on the q8 rows layout of
 * kernel_impl.h, driven by q8_rows.h) at 256 bits, shared by the avx2 tier (float_avx2.c:
 * pmaddubsw) and the avxvnni tier (q8_rows_avxvnni.c: vpdpbusd). The includer
 * defines, with its own instructions:
 *   Q8_HALF_STEP(acc, codes, xq)  statement: lane j of acc += the products of the 4 u8 codes
 *                                 (w + 128) and the 4 s8 activations in lane j
 *   Q8_HALF_SUM(acc, corr)        lane j's exact block sum sum(w q) from acc after eight
 *                                 steps (corr: lane j = 128 * sum(q) of the block)
 * A group's 64-byte vector i is taken as two halves: blocks 0-7 and 8-15, one block per 32-bit
 * lane; eight steps leave each half's 8 block sums (< 2^21 in magnitude). Then y = sum_j
 * ((float)isum_j * d_w_j) * d_x_j with the halves in two 8-lane totals added at the end (lane
 * j + lane j + 8, then bn_hsum8, as float_avx512.c's sum16_in_halves): the operations, and so the
 * bits, of bn_q8_rows_avx512, whatever the step's instructions, since the block sums are exact
 * integers. */
#ifndef BITNET_Q8_ROWS_256_H
#define BITNET_Q8_ROWS_256_H

/* One-token one-row passes prefetch on every vendor: the AVX2 screen pass (the same row
 * shape) measured faster with its prefetch on Zen 4 as well as on the Intel VM. */
#define Q8_ROWS_PREFETCH_ONE true

/* out[r] for nr (1 or 4, a constant after inlining) rows from `row`, one token's reordered
 * activations t. BN_PIN keeps the 8 accumulator chains of a 4-row pass chains (gcc made the
 * AVX2 step's adds a tree of stored products). */
BN_INLINE BN_TSAN_UNCHECKED_READS void q8_rows_dot(const bn_q8_rows *p, const uint8_t *row, int nr, bool pf, const q8_token_x *t, float *out) {
    const uint64_t scales_at = (uint64_t)p->n_groups * BN_Q8_GROUP_BYTES;
    __m256 total[4][2];
BN_UNROLL
    for (int r = 0; r < nr; r++) total[r][0] = total[r][1] = _mm256_setzero_ps();
    for (int64_t g = 0; g < p->n_groups; g++) {
        const uint8_t *codes = row + g * BN_Q8_GROUP_BYTES;
        if (pf) BN_PREFETCH(row + scales_at + 32 * g, 256);
BN_UNROLL
        for (int h = 0; h < 2; h++) {
            __m256i acc[4];
BN_UNROLL
            for (int r = 0; r < nr; r++) acc[r] = _mm256_setzero_si256();
BN_UNROLL
            for (int i = 0; i < 8; i++) {
                __m256i xq = _mm256_load_si256((const __m256i *)(t->q + g * BN_Q8_GROUP_BYTES + 64 * i + 32 * h));
BN_UNROLL
                for (int r = 0; r < nr; r++) {
                    if (h == 0 && nr == 4) BN_PREFETCH(codes + (uint64_t)r * p->row_stride + 64 * i, BN_PREFETCH_BYTES_4STREAMS);
                    if (h == 0 && pf) BN_PREFETCH(codes + 64 * i, BN_PREFETCH_BYTES_HEAD_ROW);
                    Q8_HALF_STEP(acc[r], _mm256_load_si256((const __m256i *)(codes + (uint64_t)r * p->row_stride + 64 * i + 32 * h)), xq);
                    BN_PIN(acc[r]);
                }
            }
            __m256i corr = _mm256_loadu_si256((const __m256i *)(t->corr + 16 * g + 8 * h));
            __m256 dx = _mm256_loadu_ps(t->d + 16 * g + 8 * h);
BN_UNROLL
            for (int r = 0; r < nr; r++) {
                const uint8_t *sc = row + (uint64_t)r * p->row_stride + scales_at + 32 * g + 16 * h;
                __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)sc));
                __m256 part = _mm256_mul_ps(_mm256_cvtepi32_ps(Q8_HALF_SUM(acc[r], corr)), dw);
                total[r][h] = _mm256_fmadd_ps(part, dx, total[r][h]);
            }
        }
    }
BN_UNROLL
    for (int r = 0; r < nr; r++) out[r] = bn_hsum8(_mm256_add_ps(total[r][1], total[r][0]));
}

#endif
