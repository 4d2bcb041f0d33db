/* screen_rows: the row and token driver of the screened head's tier kernels (screen_avx2.c,
 * screen_avx512.c; model/head_screen.h). Each includes it after defining, with its own
 * instructions:
 *   screen_tile(h, x, m, t0, NT, a, rad)  row m times tokens t0 .. t0 + NT - 1: approximate
 *                                         logits a[t], radii rad[t]
 *   SCREEN_ROW_TOKENS                     tokens per tile (<= 4)
 * One row at a time (one memory stream per thread: on Zen 4 faster than several rows side by
 * side, see the tier files); tiles of constant shapes, so that the compiler keeps their
 * accumulators in registers. */
#ifndef BITNET_SCREEN_ROWS_H
#define BITNET_SCREEN_ROWS_H

/* Row m against tokens [t0, t0 + nt), nt <= SCREEN_ROW_TOKENS (<= 4). */
static void row_tokens(const bn_head_screen *h, const bn_screen_act *x, int64_t m, int t0, int nt, float a[4], float rad[4]) {
    switch (nt) {
    case 1: screen_tile(h, x, m, t0, 1, a, rad); break;
    case 2: screen_tile(h, x, m, t0, 2, a, rad); break;
    case 3: screen_tile(h, x, m, t0, SCREEN_ROW_TOKENS >= 3 ? 3 : 1, a, rad); break;
    default: screen_tile(h, x, m, t0, SCREEN_ROW_TOKENS, a, rad); break;
    }
}

static void screen_rows(const bn_head_screen *h, const bn_screen_act *x, float *approx, float *radius, int64_t ldy, int64_t m0,
                        int64_t m1) {
    float a[4], rad[4];
    for (int64_t m = m0; m < m1; m++)
        for (int t = 0; t < x->n; t += SCREEN_ROW_TOKENS) {
            int nt = x->n - t < SCREEN_ROW_TOKENS ? x->n - t : SCREEN_ROW_TOKENS;
            row_tokens(h, x, m, t, nt, a, rad);
            for (int i = 0; i < nt; i++) {
                approx[(int64_t)(t + i) * ldy + m] = a[i];
                radius[(int64_t)(t + i) * ldy + m] = rad[i];
            }
        }
}

#endif
