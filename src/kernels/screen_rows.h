/* screen_rows: the row and token driver of the screened head's tier kernels (screen_avx2.c,
 * screen_avx512.c; model/head_screen.h). Each includes it after defining, with its own
 * instructions:
 *   screen_tile(h, x, m, NR, t0, NT, a, rad)  rows m .. m + NR - 1 times tokens t0 .. t0 + NT - 1:
 *                                             approximate logits a[r][t], radii rad[r][t]
 *   SCREEN_ONE_TOKEN_ROWS                     rows per tile when there is one token
 *   SCREEN_ROW_TOKENS                         tokens per tile (one row) when there are several
 * Tiles of constant shapes, so that the compiler keeps their accumulators in registers. */
#ifndef BITNET_SCREEN_ROWS_H
#define BITNET_SCREEN_ROWS_H

static void store_tile(int NR, int NT, int64_t m, int t0, float a[4][4], float rad[4][4], float *approx, float *radius,
                       int64_t ldy) {
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) {
            approx[(int64_t)(t0 + t) * ldy + m + r] = a[r][t];
            radius[(int64_t)(t0 + t) * ldy + m + r] = rad[r][t];
        }
}

/* Row m against tokens [t0, t0 + nt), nt <= SCREEN_ROW_TOKENS (<= 4). */
static void row_tokens(const bn_head_screen *h, const bn_screen_act *x, int64_t m, int t0, int nt, float a[4][4], float rad[4][4]) {
    switch (nt) {
    case 1: screen_tile(h, x, m, 1, t0, 1, a, rad); break;
    case 2: screen_tile(h, x, m, 1, t0, 2, a, rad); break;
    case 3: screen_tile(h, x, m, 1, t0, SCREEN_ROW_TOKENS >= 3 ? 3 : 1, a, rad); break;
    default: screen_tile(h, x, m, 1, t0, SCREEN_ROW_TOKENS, a, rad); break;
    }
}

static void screen_rows(const bn_head_screen *h, const bn_screen_act *x, float *approx, float *radius, int64_t ldy, int64_t m0,
                        int64_t m1) {
    float a[4][4], rad[4][4];
    int64_t m = m0;
    if (x->n == 1)
        for (; m + SCREEN_ONE_TOKEN_ROWS <= m1; m += SCREEN_ONE_TOKEN_ROWS) {
            screen_tile(h, x, m, SCREEN_ONE_TOKEN_ROWS, 0, 1, a, rad);
            store_tile(SCREEN_ONE_TOKEN_ROWS, 1, m, 0, a, rad, approx, radius, ldy);
        }
    for (; m < m1; m++)
        for (int t = 0; t < x->n; t += SCREEN_ROW_TOKENS) {
            int nt = x->n - t < SCREEN_ROW_TOKENS ? x->n - t : SCREEN_ROW_TOKENS;
            row_tokens(h, x, m, t, nt, a, rad);
            store_tile(1, nt, m, t, a, rad, approx, radius, ldy);
        }
}

#endif
