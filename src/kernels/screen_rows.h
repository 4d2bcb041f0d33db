/* screen_rows: the row and token driver of the screened head's tier kernels (screen_avx2.c,
 * screen_avx512.c; model/head_screen.h). Each includes it after defining, with its own
 * instructions:
 *   screen_tile(h, x, m, t0, NT, pf, a, rad)  row m times tokens t0 .. t0 + NT - 1: approximate
 *                                         logits a[t], radii rad[t]; pf: prefetch the copy ahead
 *                                         (or, the x86 tiers, screen_tile_rows below)
 *   SCREEN_ROW_TOKENS                     tokens per tile (<= 4)
 *   SCREEN_PREFETCH_WHEN(n, t0)           whether the tile at token t0 of an n-token call
 *                                         prefetches (the tier's measured choice)
 * One row at a time (one memory stream per thread: on Zen 4 faster than several adjacent rows
 * side by side, see the tier files), except one token where the tier defines
 *   screen_tile_rows(h, x, m[], NR, t0, NT, pf, a, rad)  rows m[0..NR) times NT tokens in one
 *                                         pass (NR <= 2, NR * NT <= 4): a[r * NT + t]; this file
 *                                         then makes screen_tile of it, and rows m and m2 of one
 *                                         token in one pass
 *   SCREEN_PAIR_WHEN                      whether this CPU takes that (the tier's measured
 *                                         choice: AMD at avx2, Zen 5 at avx512)
 * (the two halves of the thread's rows side by side: two streams); tiles of constant shapes, so
 * that the compiler keeps their accumulators in registers.
 * With more tokens than one tile holds (batched decoding), rows go in blocks of
 * SCREEN_ROW_BLOCK: each tile of tokens runs over the whole block, so that its activations
 * (4 tokens x 5 KB on 2B-4T shapes, most of L1) stay in L1 across the block's rows and the
 * rows come from L2 for the later tiles; one row against every tile in turn re-read all the
 * tokens' activations (8 x 5 KB) from L2 for every row. And with several tokens a row takes
 * long enough for the copy to be prefetched ahead of it (on AVX-512 the first tile only: the
 * others find the rows in L2). Zen 4, 2 threads, the 2B-4T copy, both drivers alternating
 * (median time ratios): 8 tokens 0.64x (avx512) and 0.89x (avx2), 4 tokens 0.75x and 0.77x,
 * 2 tokens the same (avx512) and 0.80-0.83x (avx2), 1 token the same. Each (row, token) still
 * sums its groups in the same order: the same bits. */
#ifndef BITNET_SCREEN_ROWS_H
#define BITNET_SCREEN_ROWS_H

#define SCREEN_ROW_BLOCK 16 /* rows per block (2B-4T: 16 x 2720 bytes, in L2; 8-64 measured the same) */

#ifdef SCREEN_PAIR_WHEN
/* Row m times NT tokens: the tier's tile of one row. */
BN_INLINE BN_TSAN_UNCHECKED_READS void screen_tile(const bn_head_screen *h, const bn_screen_act *x, int64_t m, int t0, int NT, bool pf, float a[4],
                                                   float rad[4]) {
    screen_tile_rows(h, x, &m, 1, t0, NT, pf, a, rad);
}
#endif

/* Row m against tokens [t0, t0 + nt), nt <= SCREEN_ROW_TOKENS (<= 4), into the caller's a, rad.
 * Reads only the copy and the tokens' activations (kernel_impl.h, BN_TSAN_UNCHECKED_READS). */
static BN_TSAN_UNCHECKED_READS void row_tokens(const bn_head_screen *h, const bn_screen_act *x, int64_t m, int t0, int nt, bool pf, float a[4],
                       float rad[4]) {
    switch (nt) {
    case 1: screen_tile(h, x, m, t0, 1, pf, a, rad); break;
    case 2: screen_tile(h, x, m, t0, 2, pf, a, rad); break;
    case 3: screen_tile(h, x, m, t0, SCREEN_ROW_TOKENS >= 3 ? 3 : 1, pf, a, rad); break;
    default: screen_tile(h, x, m, t0, SCREEN_ROW_TOKENS, pf, a, rad); break;
    }
}

#ifdef SCREEN_PAIR_WHEN
/* One token, rows [m0, m1) as two halves read side by side: row m0 + i and row m0 + half + i
 * in one pass (screen_tile_rows; each row's sums as screen_tile's), the odd count's last row
 * alone. */
static void screen_rows_in_pairs(const bn_head_screen *h, const bn_screen_act *x, float *approx, float *radius, int64_t m0, int64_t m1) {
    int64_t half = bn_halves_first(m0, m1);
    float a[4], rad[4];
    for (int64_t i = 0; i < half; i++) {
        int64_t m = m0 + i, m2 = m0 + half + i;
        if (m2 < m1) {
            screen_tile_rows(h, x, (const int64_t[2]){m, m2}, 2, 0, 1, SCREEN_PREFETCH_WHEN(1, 0), a, rad);
            approx[m2] = a[1], radius[m2] = rad[1];
        } else {
            screen_tile(h, x, m, 0, 1, SCREEN_PREFETCH_WHEN(1, 0), a, rad);
        }
        approx[m] = a[0], radius[m] = rad[0];
    }
}
#endif

static void screen_rows(const bn_head_screen *h, const bn_screen_act *x, float *approx, float *radius, int64_t ldy,
                        int64_t m0, int64_t m1) {
    float a[4], rad[4];
#ifdef SCREEN_PAIR_WHEN
    if (x->n == 1 && SCREEN_PAIR_WHEN) { /* one token: two streams */
        screen_rows_in_pairs(h, x, approx, radius, m0, m1);
        return;
    }
#endif
    for (int64_t b0 = m0; b0 < m1; b0 += SCREEN_ROW_BLOCK) {
        int64_t b1 = b0 + SCREEN_ROW_BLOCK < m1 ? b0 + SCREEN_ROW_BLOCK : m1;
        for (int t = 0; t < x->n; t += SCREEN_ROW_TOKENS) {
            int nt = x->n - t < SCREEN_ROW_TOKENS ? x->n - t : SCREEN_ROW_TOKENS;
            bool pf = SCREEN_PREFETCH_WHEN(x->n, t);
            for (int64_t m = b0; m < b1; m++) {
                row_tokens(h, x, m, t, nt, pf, a, rad);
                for (int i = 0; i < nt; i++) {
                    approx[(int64_t)(t + i) * ldy + m] = a[i];
                    radius[(int64_t)(t + i) * ldy + m] = rad[i];
                }
            }
        }
    }
}

#endif
