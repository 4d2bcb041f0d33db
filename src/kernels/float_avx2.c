/* float_avx2: y = W x for float-type weights (F32, F16, BF16, Q8_0) with AVX2 + FMA + F16C
 * (the avx2 and avxvnni tiers). Float sums are reordered vs the reference. */
#include <immintrin.h>
#include <string.h>

#include "kernel_impl.h"
#include "util.h"

/* Q8_0 x Q8_0 on the q8 rows layout (q8_rows_256.h), without VNNI: per 32-byte half of a group
 * vector, the u8 codes back to s8 (w + 128, xor 0x80), then pmaddubsw(|w|, q with w's sign)
 * gives int16 pair sums (|pair| <= 2 * 128 * 127: no saturation, a -128 code included; |q| <=
 * 127, so negating q cannot overflow) and pmaddwd by ones the block's 4-weight sum in its lane:
 * eight steps leave block j's exact sum in lane j (< 2^21), so no + 128 correction. */
#define Q8_HALF_STEP(acc, codes, xq)                                                                              \
    do {                                                                                                            \
        __m256i w_ = _mm256_xor_si256((codes), _mm256_set1_epi8((char)0x80));                                       \
        __m256i p16_ = _mm256_maddubs_epi16(_mm256_sign_epi8(w_, w_), _mm256_sign_epi8((xq), w_));                 \
        (acc) = _mm256_add_epi32((acc), _mm256_madd_epi16(p16_, _mm256_set1_epi16(1)));                            \
    } while (0)
#define Q8_HALF_SUM(acc, corr) ((void)(corr), (acc))
#include "q8_rows_256.h"

/* 8 weights of `row` from element k (a multiple of 8). */
BN_INLINE BN_TSAN_UNCHECKED_READS __m256 load8(const uint8_t *row, uint32_t type, int64_t k) {
    switch (type) {
    case BN_TYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * k)));
    case BN_TYPE_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + 2 * k))), 16));
    case BN_TYPE_Q8_0: { /* K % 32 == 0: 8-groups never straddle blocks */
        const bn_block_q8_0 *b = (const bn_block_q8_0 *)row + k / 32;
        __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + k % 32))));
        return _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(b->d)), q);
    }
    default: return _mm256_loadu_ps((const float *)row + k);
    }
}

/* out[t] = sum_k row[k] x[t][k] for nt <= FLOAT_ROWS_TOKENS tokens: 4 FMA chains per token
 * (chain c takes k mod 32 in [8c, 8c + 8)), summed (c0 + c1) + (c2 + c3), then across lanes;
 * the same operations for any nt, so a token's result does not depend on the others in the
 * call. Why 4 chains: with 2 (16 weights a step) one token's loop was bound by the FMA
 * latency (4 cycles per 16 weights, ~24 GB/s of F16 at 3 GHz), too close to one core's share
 * of the memory rate for computing and waiting to overlap (docs/KERNELS.md). A tail of
 * K % 32 goes through zero-padded copies. */
#define FLOAT_ROWS_TOKENS 3 /* 12 accumulators + 4 weight vectors: the 16 registers */
BN_INLINE BN_TSAN_UNCHECKED_READS void dot_tokens(const uint8_t *row, uint32_t type, int64_t K, const float *const *x, int nt, float *out) {
    __m256 acc[FLOAT_ROWS_TOKENS][4];
BN_UNROLL
    for (int t = 0; t < nt; t++) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        /* the bytes of weight k: Q8_0 in 34-byte blocks of 32 weights */
        const uint8_t *at = row + (type == BN_TYPE_F32 ? 4 * k : type == BN_TYPE_Q8_0 ? k / 32 * 34 : 2 * k);
        BN_PREFETCH_AHEAD(at);
        if (type == BN_TYPE_F32) BN_PREFETCH_AHEAD(at + 64); /* 128 bytes a step */
        __m256 w[4];
BN_UNROLL
        for (int c = 0; c < 4; c++) w[c] = load8(row, type, k + 8 * c);
BN_UNROLL
        for (int t = 0; t < nt; t++)
BN_UNROLL
            for (int c = 0; c < 4; c++) acc[t][c] = _mm256_fmadd_ps(w[c], _mm256_loadu_ps(x[t] + k + 8 * c), acc[t][c]);
    }
    if (k < K) { /* F32/F16/BF16 only (Q8_0 rows are whole 32-blocks): pad to 32 with zeros */
        int64_t rest = K - k, elt = type == BN_TYPE_F32 ? 4 : 2;
        uint8_t wpad[128] = {0};
        memcpy(wpad, row + k * elt, (size_t)(rest * elt));
        __m256 w[4];
BN_UNROLL
        for (int c = 0; c < 4; c++) w[c] = load8(wpad, type, 8 * c);
BN_UNROLL
        for (int t = 0; t < nt; t++) {
            float xpad[32] = {0};
            memcpy(xpad, x[t] + k, (size_t)rest * sizeof(float));
BN_UNROLL
            for (int c = 0; c < 4; c++) acc[t][c] = _mm256_fmadd_ps(w[c], _mm256_loadu_ps(xpad + 8 * c), acc[t][c]);
        }
    }
BN_UNROLL
    for (int t = 0; t < nt; t++)
        out[t] = bn_hsum8(_mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3])));
}

/* out[0], out[1] = dot_tokens(r0 / r1, ..., 1 token) for two rows in one pass, K a multiple of
 * 32: each row's 4 chains and their sum are dot_tokens', so its bits are too; the token's 4
 * vectors are loaded once for both rows. Why (float_rows.h, FLOAT_ROWS_PAIR): the one-token
 * pass on AMD reads rows from two halves of its range, and reading the two rows side by side
 * keeps both memory streams in flight at once instead of taking them in turn. */
BN_INLINE BN_TSAN_UNCHECKED_READS void dot_row_pair(const uint8_t *r0, const uint8_t *r1, uint32_t type, int64_t K, const float *x, float *out) {
    __m256 acc[2][4];
BN_UNROLL
    for (int c = 0; c < 4; c++) acc[0][c] = acc[1][c] = _mm256_setzero_ps();
    const int64_t elt = type == BN_TYPE_F32 ? 4 : 2; /* bytes per weight; Q8_0: 34 per 32-block */
    for (int64_t k = 0; k < K; k += 32) {
        int64_t off = type == BN_TYPE_Q8_0 ? k / 32 * 34 : elt * k;
        BN_PREFETCH_AHEAD(r0 + off);
        BN_PREFETCH_AHEAD(r1 + off);
        if (type == BN_TYPE_F32) {
            BN_PREFETCH_AHEAD(r0 + off + 64);
            BN_PREFETCH_AHEAD(r1 + off + 64);
        }
BN_UNROLL
        for (int c = 0; c < 4; c++) {
            __m256 xv = _mm256_loadu_ps(x + k + 8 * c);
            acc[0][c] = _mm256_fmadd_ps(load8(r0, type, k + 8 * c), xv, acc[0][c]);
            acc[1][c] = _mm256_fmadd_ps(load8(r1, type, k + 8 * c), xv, acc[1][c]);
        }
    }
BN_UNROLL
    for (int r = 0; r < 2; r++) out[r] = bn_hsum8(_mm256_add_ps(_mm256_add_ps(acc[r][0], acc[r][1]), _mm256_add_ps(acc[r][2], acc[r][3])));
}
#define FLOAT_ROWS_PAIR(r0, r1, type, K, x, out) dot_row_pair((r0), (r1), (type), (K), (x), (out))

/* Q8_0 x Q8_0 (linear.h; the --lm-head q8 head with int8 activations), one 32-block per
 * step: pmaddubsw(|w|, x with w's sign) gives int16 pair sums (|pair| <= 2 * 128 * 127, no
 * saturation; |x| <= 127 so negating x cannot overflow), pmaddwd by ones gives 8 exact int32
 * lanes; lanes -> float, times d_w * d_x, summed in float (reordered vs the reference). */
BN_INLINE BN_TSAN_UNCHECKED_READS __m256 q8_0_block(const bn_block_q8_0 *w, __m256i xq, float dx, __m256 acc) {
    __m256i wq = _mm256_loadu_si256((const __m256i *)w->qs);
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq));
    __m256i p32 = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), _mm256_set1_ps(_cvtsh_ss(w->d) * dx), acc);
}

/* out[r] = dot of nr (<= 4) Q8_0 rows with one token's Q8_0 x (nb blocks), x loaded once per
 * block for the nr rows; the row loop is unrolled so that acc[] stays in registers. */
BN_INLINE BN_TSAN_UNCHECKED_READS void dot_rows_q8_0_q8_0(const bn_block_q8_0 *const *rows, int nr, int64_t nb, const bn_block_q8_0 *x, float *out) {
    __m256 acc[4];
    for (int r = 0; r < nr; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i xq = _mm256_loadu_si256((const __m256i *)x[b].qs);
        float dx = _cvtsh_ss(x[b].d);
BN_UNROLL
        for (int r = 0; r < nr; r++) acc[r] = q8_0_block(rows[r] + b, xq, dx, acc[r]);
    }
    for (int r = 0; r < nr; r++) out[r] = bn_hsum8(acc[r]);
}

#define FLOAT_ROWS_FAST_PATH(w, type, a, y, ldy, m0, m1) ((void)0) /* none on this tier */
#include "float_rows.h"

#include "q8_rows.h"

void bn_q8_rows_avx2(const bn_q8_rows *p, const bn_block_q8_0 *x, int n, float out_scale, float *y, int64_t ldy,
                     int64_t m0, int64_t m1) {
    q8_rows_apply(p, x, n, out_scale, y, ldy, m0, m1);
}

bool bn_float_rows_avx2(const bn_linear *w, const bn_act *a, float *y, int64_t ldy, int64_t m0, int64_t m1) {
    return float_rows_by_type(w, a, y, ldy, m0, m1);
}
