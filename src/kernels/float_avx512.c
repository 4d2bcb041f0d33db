/* float_avx512: y = W x for float-type weights (F32, F16, BF16, Q8_0) with AVX-512, the
 * generation-time LM head being the case that matters (F16 [2560 x 128256], 657 MB: the
 * loop streams each row once per group of 4 tokens and keeps 2 FMA chains per token).
 * The float sums are reordered against the reference (16 lanes x 2 chains). */
#include <immintrin.h>

#include "kernel_impl.h"
#include "util.h"

/* 16 weights of `row` from element k (a multiple of 16), masked for the tail. */
BN_INLINE BN_TSAN_UNCHECKED_READS __m512 load16(const uint8_t *row, uint32_t type, int64_t k, __mmask16 m) {
    switch (type) {
    case BN_TYPE_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * k));
    case BN_TYPE_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, row + 2 * k)), 16));
    case BN_TYPE_Q8_0: { /* K % 32 == 0, so a 16-group never straddles blocks and m is full */
        const bn_block_q8_0 *b = (const bn_block_q8_0 *)row + k / 32;
        __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + k % 32))));
        return _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(b->d)), q);
    }
    default: return _mm512_maskz_loadu_ps(m, (const float *)row + k);
    }
}

/* out[t] = sum_k row[k] x[t][k] for nt tokens. */
BN_INLINE BN_TSAN_UNCHECKED_READS void dot_tokens(const uint8_t *row, uint32_t type, int64_t K, const float *const *x, int nt, float *out) {
    __m512 acc[4][2];
    for (int t = 0; t < nt; t++) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        __m512 w0 = load16(row, type, k, 0xffff), w1 = load16(row, type, k + 16, 0xffff);
        for (int t = 0; t < nt; t++) {
            acc[t][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x[t] + k), acc[t][0]);
            acc[t][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x[t] + k + 16), acc[t][1]);
        }
    }
    for (; k < K; k += 16) {
        __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512 w0 = load16(row, type, k, m);
        for (int t = 0; t < nt; t++) acc[t][0] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x[t] + k), acc[t][0]);
    }
    for (int t = 0; t < nt; t++) out[t] = _mm512_reduce_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]));
}

/* Four rows x two tokens, K a multiple of 32: each (row, token) sum runs exactly as in
 * dot_tokens / dot_4rows (same lanes, same 2 chains, same order, same reduction), so results
 * do not depend on the grouping or on how many tokens a call has (a batch's rows equal a
 * lone token's). 16 accumulators + 2 weight + 4 x vectors fit the 32 registers, and the two
 * tokens' x (20 KB at K = 2560) stay in L1. Measured on Zen 4 against 2 rows x 4 tokens and a
 * convert-once-to-L1 variant: ~20% and ~40% faster for 8 tokens. Without a tail loop gcc
 * keeps the accumulators in registers (with one it stored them to the stack every step). */
BN_INLINE BN_TSAN_UNCHECKED_READS void dot_4rows_2tokens(const uint8_t *const *rows, uint32_t type, int64_t K, const float *const *x, float out[4][2]) {
    __m512 acc[4][2][2];
BN_UNROLL
    for (int r = 0; r < 4; r++) acc[r][0][0] = acc[r][0][1] = acc[r][1][0] = acc[r][1][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 32) {
        __m512 p0 = _mm512_loadu_ps(x[0] + k), p1 = _mm512_loadu_ps(x[0] + k + 16);
        __m512 q0 = _mm512_loadu_ps(x[1] + k), q1 = _mm512_loadu_ps(x[1] + k + 16);
BN_UNROLL
        for (int r = 0; r < 4; r++) {
            __m512 w0 = load16(rows[r], type, k, 0xffff), w1 = load16(rows[r], type, k + 16, 0xffff);
            acc[r][0][0] = _mm512_fmadd_ps(w0, p0, acc[r][0][0]);
            acc[r][0][1] = _mm512_fmadd_ps(w1, p1, acc[r][0][1]);
            acc[r][1][0] = _mm512_fmadd_ps(w0, q0, acc[r][1][0]);
            acc[r][1][1] = _mm512_fmadd_ps(w1, q1, acc[r][1][1]);
        }
    }
BN_UNROLL
    for (int r = 0; r < 4; r++) {
        out[r][0] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0][0], acc[r][0][1]));
        out[r][1] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][1][0], acc[r][1][1]));
    }
}

/* One token, 4 rows at once (rows_by_4 and the odd token of rows_tokens_by_4). Each row's sum runs exactly
 * as in dot_tokens with nt = 1 (same lanes, same 2 chains, same reduction), so results do not
 * depend on the grouping; 4 rows give 8 independent FMA chains and 4 memory streams. */
BN_INLINE BN_TSAN_UNCHECKED_READS void dot_4rows(const uint8_t *const *rows, uint32_t type, int64_t K, const float *x, float *out) {
    __m512 acc[4][2];
    for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        __m512 x0 = _mm512_loadu_ps(x + k), x1 = _mm512_loadu_ps(x + k + 16);
        for (int r = 0; r < 4; r++) {
            BN_PREFETCH(rows[r] + k * (type == BN_TYPE_F32 ? 4 : 2), BN_PREFETCH_BYTES_4STREAMS);
            acc[r][0] = _mm512_fmadd_ps(load16(rows[r], type, k, 0xffff), x0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(load16(rows[r], type, k + 16, 0xffff), x1, acc[r][1]);
        }
    }
    for (; k < K; k += 16) {
        __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512 x0 = _mm512_maskz_loadu_ps(m, x + k);
        for (int r = 0; r < 4; r++) acc[r][0] = _mm512_fmadd_ps(load16(rows[r], type, k, m), x0, acc[r][0]);
    }
    for (int r = 0; r < 4; r++) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
}

/* One token, 4 Q8_0 rows (the opt-in 8-bit LM head): per 32-block, the int8 weights times x
 * in float (2 products, one FMA), then one FMA by the block scale d. That is ~10 vector ops
 * per 34 bytes where the generic load16 path spent ~14 (a scale multiply per 16 weights);
 * the sum order differs from the reference's, within the float-weight tolerance. */
BN_INLINE BN_TSAN_UNCHECKED_READS void dot_4rows_q8_0(const uint8_t *const *rows, int64_t K, const float *x, float *out) {
    __m512 acc[4];
    for (int r = 0; r < 4; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < K / 32; b++) {
        __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
        for (int r = 0; r < 4; r++) {
            const bn_block_q8_0 *blk = (const bn_block_q8_0 *)rows[r] + b;
            __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)blk->qs)));
            __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk->qs + 16))));
            __m512 part = _mm512_fmadd_ps(q1, x1, _mm512_mul_ps(q0, x0));
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(blk->d)), part, acc[r]);
        }
    }
    for (int r = 0; r < 4; r++) out[r] = _mm512_reduce_add_ps(acc[r]);
}

/* Q8_0 x Q8_0 (linear.h; the --lm-head q8 head with int8 activations), two 32-blocks per
 * step: |w| (u8) times x with w's sign (s8) by vpdpbusd gives each block's products in 8
 * exact int32 lanes (|x| <= 127, so negating x cannot overflow; w = -128 gives |w| = 128 as
 * u8, still exact); lanes -> float, times d_w * d_x, summed in float (reordered vs the
 * reference's block order, within the float-weight tolerance). Streams 34 bytes per 32
 * weights with ~12 vector ops per 64 weights: memory-bound, not conversion-bound. */
BN_INLINE BN_TSAN_UNCHECKED_READS __m512i load_2blocks(const bn_block_q8_0 *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].qs)),
                              _mm256_loadu_si256((const __m256i *)b[1].qs), 1);
}

/* The two blocks' scales d[0] (lanes 0-7) and d[1] (lanes 8-15). */
BN_INLINE BN_TSAN_UNCHECKED_READS __m512 scales_2blocks(const bn_block_q8_0 *b) {
    return _mm512_insertf32x8(_mm512_set1_ps(_cvtsh_ss(b[0].d)), _mm256_set1_ps(_cvtsh_ss(b[1].d)), 1);
}

BN_INLINE BN_TSAN_UNCHECKED_READS __m512 q8_0_2blocks(const bn_block_q8_0 *w, __m512i xq, __m512 dx, __m512 acc) {
    __m512i wq = load_2blocks(w);
    __m512i sx = _mm512_mask_sub_epi8(xq, _mm512_movepi8_mask(wq), _mm512_setzero_si512(), xq);
    __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(wq), sx);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(scales_2blocks(w), dx), acc);
}

/* The last block of an odd block count, in 8 lanes. */
BN_INLINE BN_TSAN_UNCHECKED_READS float q8_0_1block(const bn_block_q8_0 *w, const bn_block_q8_0 *x) {
    __m256i wq = _mm256_loadu_si256((const __m256i *)w->qs), xq = _mm256_loadu_si256((const __m256i *)x->qs);
    __m256i sx = _mm256_mask_sub_epi8(xq, _mm256_movepi8_mask(wq), _mm256_setzero_si256(), xq);
    __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wq), sx);
    int32_t lanes[8], isum = 0;
    _mm256_storeu_si256((__m256i *)lanes, dot);
    for (int i = 0; i < 8; i++) isum += lanes[i];
    return (_cvtsh_ss(w->d) * _cvtsh_ss(x->d)) * (float)isum;
}

/* out[r] = dot of nr (<= 4) Q8_0 rows with one token's Q8_0 x (nb blocks), x loaded once. */
BN_INLINE BN_TSAN_UNCHECKED_READS void dot_rows_q8_0_q8_0(const bn_block_q8_0 *const *rows, int nr, int64_t nb, const bn_block_q8_0 *x, float *out) {
    __m512 acc[4];
    for (int r = 0; r < nr; r++) acc[r] = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m512i xq = load_2blocks(x + b);
        __m512 dx = scales_2blocks(x + b); /* shared by the nr rows */
        /* Unrolled so that acc[] stays in registers: rolled, gcc -O2 kept it on the stack and
         * the head ran at ~6 GB/s instead of the ~10 GB/s a core can read. */
BN_UNROLL
        for (int r = 0; r < nr; r++) acc[r] = q8_0_2blocks(rows[r] + b, xq, dx, acc[r]);
    }
    for (int r = 0; r < nr; r++) out[r] = _mm512_reduce_add_ps(acc[r]) + (b < nb ? q8_0_1block(rows[r] + b, x + b) : 0.0f);
}

/* Four rows per pass, x loaded once for the four: every token of a Q8_0 weight (whose 4-row
 * sums are not dot_tokens', so that a token gets the same bits alone or among others), and
 * the one-token (decode) path of the other types except on AMD (rows_fast_path). */
BN_INLINE void rows_by_4(const bn_linear *w, uint32_t type, const bn_act *a, float *y, int64_t ldy, int64_t *m0p, int64_t m1) {
    int64_t K = w->in, m0 = *m0p;
    for (; m0 + 4 <= m1; m0 += 4) {
        const uint8_t *rows[4];
        float out[4];
        for (int r = 0; r < 4; r++) rows[r] = w->data + (uint64_t)(m0 + r) * w->row_bytes;
        for (int t = 0; t < a->n; t++) {
            const float *x = a->x + (int64_t)t * K;
            if (type == BN_TYPE_Q8_0) dot_4rows_q8_0(rows, K, x, out); /* K % 32 == 0 for Q8_0 */
            else dot_4rows(rows, type, K, x, out);
            for (int r = 0; r < 4; r++) y[(int64_t)t * ldy + m0 + r] = out[r] * w->out_scale;
        }
    }
    *m0p = m0;
}

/* The 16 lanes' sum in a fixed order: lanes j + (j + 8), then bn_hsum8 of those (as the
 * 256-bit q8 rows kernels, which so give the same bits; _mm512_reduce_add_ps leaves its
 * order to the compiler). */
BN_INLINE BN_TSAN_UNCHECKED_READS float sum16_in_halves(__m512 v) {
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return bn_hsum8(_mm256_add_ps(hi, _mm512_castps512_ps256(v)));
}

/* Q8_0 x Q8_0 on the q8 rows layout (kernel_impl.h; the driver is q8_rows.h). Per row and
 * 512-weight group: eight vpdpbusd (u8 w + 128, s8 q) leave block j's sum in lane j, then
 * isum_j = lane_j - 128 sum_j(q) exactly; y = sum_j ((float)isum_j * d_w_j) * d_x_j, summed
 * in 16 lanes (reordered vs the reference's block order, within the float tolerance) and
 * added by sum16_in_halves. Bounds: a vpdpbusd lane adds 4 products of at most 255 * 128,
 * eight of them < 2^21. */
BN_INLINE BN_TSAN_UNCHECKED_READS void q8_rows_dot(const bn_q8_rows *p, const uint8_t *row, int nr, bool pf, const q8_token_x *t, float *out) {
    const uint64_t scales_at = (uint64_t)p->n_groups * BN_Q8_GROUP_BYTES;
    __m512 total[4];
BN_UNROLL
    for (int r = 0; r < nr; r++) total[r] = _mm512_setzero_ps();
    for (int64_t g = 0; g < p->n_groups; g++) {
        __m512i acc[4];
        const uint8_t *codes = row + g * BN_Q8_GROUP_BYTES;
        if (pf) BN_PREFETCH(row + scales_at + 32 * g, 256);
BN_UNROLL
        for (int r = 0; r < nr; r++) acc[r] = _mm512_setzero_si512();
BN_UNROLL
        for (int i = 0; i < 8; i++) {
            __m512i xq = _mm512_load_si512(t->q + g * BN_Q8_GROUP_BYTES + 64 * i);
            if (pf) BN_PREFETCH(codes + 64 * i, BN_PREFETCH_BYTES_HEAD_ROW);
BN_UNROLL
            for (int r = 0; r < nr; r++)
                acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_load_si512(codes + (uint64_t)r * p->row_stride + 64 * i), xq);
        }
        __m512i corr = _mm512_loadu_si512(t->corr + 16 * g);
        __m512 dx = _mm512_loadu_ps(t->d + 16 * g);
BN_UNROLL
        for (int r = 0; r < nr; r++) {
            const uint8_t *sc = row + (uint64_t)r * p->row_stride + scales_at + 32 * g;
            __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc));
            __m512 part = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r], corr)), dw);
            total[r] = _mm512_fmadd_ps(part, dx, total[r]);
        }
    }
BN_UNROLL
    for (int r = 0; r < nr; r++) out[r] = sum16_in_halves(total[r]);
}

/* One-token one-row passes prefetch where the heads read 4 rows otherwise (Intel), as the
 * AVX-512 screen pass does (SCREEN_PREFETCH_WHEN): on Zen 4 its one row streamed 1-5% faster
 * without a prefetch. */
#define Q8_ROWS_PREFETCH_ONE (bn_cpu_head_rows() == 4)
#include "q8_rows.h"

void bn_q8_rows_avx512(const bn_q8_rows *p, const bn_block_q8_0 *x, int n, float out_scale, float *y, int64_t ldy,
                       int64_t m0, int64_t m1) {
    q8_rows_apply(p, x, n, out_scale, y, ldy, m0, m1);
}

/* Several tokens (a batch's decode rows, prompt logits), K a multiple of 32: groups of 4 rows
 * against pairs of tokens, an odd last token through dot_4rows; the last rows (fewer than 4)
 * go to rows_of_type. */
BN_INLINE void rows_tokens_by_4(const bn_linear *w, uint32_t type, const bn_act *a, float *y, int64_t ldy, int64_t *m0p, int64_t m1) {
    int64_t K = w->in, m0 = *m0p;
    for (; m0 + 4 <= m1; m0 += 4) {
        const uint8_t *rows[4];
        for (int r = 0; r < 4; r++) rows[r] = w->data + (uint64_t)(m0 + r) * w->row_bytes;
        int t = 0;
        for (; t + 2 <= a->n; t += 2) {
            const float *x[2] = {a->x + (int64_t)t * K, a->x + (int64_t)(t + 1) * K};
            float out[4][2];
            dot_4rows_2tokens(rows, type, K, x, out);
            for (int r = 0; r < 4; r++) {
                y[(int64_t)t * ldy + m0 + r] = out[r][0] * w->out_scale;
                y[(int64_t)(t + 1) * ldy + m0 + r] = out[r][1] * w->out_scale;
            }
        }
        if (t < a->n) {
            float out[4];
            dot_4rows(rows, type, K, a->x + (int64_t)t * K, out);
            for (int r = 0; r < 4; r++) y[(int64_t)t * ldy + m0 + r] = out[r] * w->out_scale;
        }
    }
    *m0p = m0;
}

/* One token of an F32/F16/BF16 head (generation): 4 rows side by side with a 1 KiB prefetch
 * each (dot_4rows; this project's Intel VM: 1 thread 7.9 -> 10.8 GB/s over one row, docs/
 * KERNELS.md), except on AMD, where rows_of_type reads one row at a time, no software
 * prefetch (since 2026-12-05 alternating between two halves of the rows, two streams per
 * thread: kernel_impl.h's bn_halves_row): on Zen 4 (2 threads, 2B-4T shapes, whole decode steps
 * interleaved in one process) that generated 1.2-1.3x faster than the 4 rows, and a 2 KiB
 * prefetch on the one stream was slower again (one thread: the head in 25-35 ms against
 * 48-59 ms with 4 rows, 38-43 ms with the prefetch). Each row's sum is the same either way. */
BN_INLINE void rows_fast_path(const bn_linear *w, uint32_t type, const bn_act *a, float *y, int64_t ldy, int64_t *m0p, int64_t m1) {
    if (type == BN_TYPE_Q8_0 || (a->n == 1 && bn_cpu_head_rows() == 4)) rows_by_4(w, type, a, y, ldy, m0p, m1);
    else if (a->n > 1 && w->in % 32 == 0) rows_tokens_by_4(w, type, a, y, ldy, m0p, m1); /* other K: rows_of_type */
}

#define FLOAT_ROWS_FAST_PATH(w, type, a, y, ldy, m0, m1) rows_fast_path(w, type, a, y, ldy, &(m0), m1)
#include "float_rows.h"

bool bn_float_rows_avx512(const bn_linear *w, const bn_act *a, float *y, int64_t ldy, int64_t m0, int64_t m1) {
    return float_rows_by_type(w, a, y, ldy, m0, m1);
}

const bn_kernel_table bn_kernels_avx512 = {
    BN_TIER_AVX512, "avx512", bn_ternary_token_avx512, bn_ternary_q8k_avx512, bn_float_rows_avx512, bn_q8_rows_avx512,
};
