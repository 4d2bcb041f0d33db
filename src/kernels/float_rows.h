/* float_rows: the row and token driver of the float-weight kernels (F32, F16, BF16, Q8_0
 * weights x float activations, and Q8_0 x Q8_0 for `--lm-head q8`), shared by the tier files
 * float_avx2.c and float_avx512.c. Each includes it after defining, with its own instructions:
 *   dot_tokens(row, type, K, x[], nt, out[])   one row against nt <= FLOAT_ROWS_TOKENS tokens
 *                                              (the tier's define, else 4)
 *   dot_rows_q8_0_q8_0(rows[], nr, nb, x, out[])  nr <= 4 Q8_0 rows against one token's
 *                                                 Q8_0 activations (nb blocks)
 * and FLOAT_ROWS_FAST_PATH(w, type, a, y, ldy, m0, m1), a statement that may handle a prefix of
 * the rows (advancing m0), or nothing. */
#ifndef BITNET_FLOAT_ROWS_H
#define BITNET_FLOAT_ROWS_H

#ifndef FLOAT_ROWS_TOKENS
#define FLOAT_ROWS_TOKENS 4
#endif

#ifdef FLOAT_ROWS_PAIR
/* One token, rows [m0, m1) as bn_halves_row's two halves read side by side: row m0 + i and row
 * m0 + h + i in one pass (FLOAT_ROWS_PAIR, the tier's, each row's sum dot_tokens' own), the
 * odd count's last row alone. AMD EPYC Zen 3 VM (2026-12-06), the 2B-4T-shaped model with the
 * F16 head, avx2, 2 threads, old and new binaries alternating over 5 rounds: generation
 * 1.02-1.15x (median 1.09x) faster than with the rows taken in turn; docs/KERNELS.md. */
BN_INLINE void rows_in_pairs(const bn_linear *w, uint32_t type, const float *x, float *y, int64_t m0, int64_t m1) {
    int64_t h = bn_halves_first(m0, m1);
    for (int64_t i = 0; i < h; i++) {
        const uint8_t *r0 = w->data + (uint64_t)(m0 + i) * w->row_bytes;
        float out[2];
        if (m0 + h + i < m1) {
            FLOAT_ROWS_PAIR(r0, w->data + (uint64_t)(m0 + h + i) * w->row_bytes, type, w->in, x, out);
            y[m0 + h + i] = out[1] * w->out_scale;
        } else {
            dot_tokens(r0, type, w->in, &x, 1, out);
        }
        y[m0 + i] = out[0] * w->out_scale;
    }
}
#endif

/* Rows [m0, m1) of every token, FLOAT_ROWS_TOKENS tokens per pass over a row; one token on AMD
 * (bn_cpu_head_rows 1) takes the rows from two halves alternately (bn_halves_row), or side by
 * side where the tier has FLOAT_ROWS_PAIR (K a multiple of 32). */
BN_INLINE void rows_of_type(const bn_linear *w, uint32_t type, const bn_act *a, float *y, int64_t ldy, int64_t m0, int64_t m1) {
    int64_t K = w->in;
    FLOAT_ROWS_FAST_PATH(w, type, a, y, ldy, m0, m1);
    bool halves = a->n == 1 && bn_cpu_head_rows() == 1; /* one token on AMD: two streams */
#ifdef FLOAT_ROWS_PAIR
    if (halves && K % 32 == 0) {
        rows_in_pairs(w, type, a->x, y, m0, m1);
        return;
    }
#endif
    for (int64_t j = 0; j < m1 - m0; j++) {
        int64_t m = bn_halves_row(m0, m1, j, halves);
        const uint8_t *row = w->data + (uint64_t)m * w->row_bytes;
        for (int t = 0; t < a->n; t += FLOAT_ROWS_TOKENS) {
            const float *x[FLOAT_ROWS_TOKENS];
            float out[FLOAT_ROWS_TOKENS];
            int nt = a->n - t < FLOAT_ROWS_TOKENS ? a->n - t : FLOAT_ROWS_TOKENS;
            for (int i = 0; i < nt; i++) x[i] = a->x + (int64_t)(t + i) * K;
            switch (nt) { /* constant token counts let the compiler unroll dot_tokens */
            case 1: dot_tokens(row, type, K, x, 1, out); break;
            case 2: dot_tokens(row, type, K, x, 2, out); break;
#if FLOAT_ROWS_TOKENS > 3
            case 3: dot_tokens(row, type, K, x, 3, out); break;
#endif
            default: dot_tokens(row, type, K, x, FLOAT_ROWS_TOKENS, out); break;
            }
            for (int i = 0; i < nt; i++) y[(int64_t)(t + i) * ldy + m] = out[i] * w->out_scale;
        }
    }
}

/* Q8_0 weights with Q8_0 activations: rows [m0, m1) of every token, 4 rows at a time (their
 * 4 x K bytes stay in L1 across the tokens), except one token on AMD (bn_cpu_head_rows): one row
 * at a time, one memory stream per thread (on Zen 4 at the avx2 tier, whole decode steps
 * interleaved in one process, 2 threads: 1.20-1.24x faster than 4 rows side by side). A row's
 * sum is the same in both (dot_rows_q8_0_q8_0 keeps one accumulator per row). */
static void rows_q8_0_q8_0(const bn_linear *w, const bn_act *a, float *y, int64_t ldy, int64_t m0, int64_t m1) {
    int64_t nb = w->in / 32;
    int step = a->n == 1 && bn_cpu_head_rows() == 1 ? 1 : 4; /* rows per pass */
    for (int64_t m = m0; m < m1; m += step) {
        int nr = m1 - m < step ? (int)(m1 - m) : step;
        const bn_block_q8_0 *rows[4];
        for (int r = 0; r < nr; r++) rows[r] = (const bn_block_q8_0 *)(w->data + (uint64_t)(m + r) * w->row_bytes);
        for (int t = 0; t < a->n; t++) {
            float out[4];
            const bn_block_q8_0 *x = a->x_q8_0 + (int64_t)t * nb;
            if (nr == 4) dot_rows_q8_0_q8_0(rows, 4, nb, x, out); /* constant nr: unrolled */
            else /* one row per pass, or the last rows one by one: every call has a constant row count */
                for (int r = 0; r < nr; r++) dot_rows_q8_0_q8_0(rows + r, 1, nb, x, out + r);
            for (int r = 0; r < nr; r++) y[(int64_t)t * ldy + m + r] = out[r] * w->out_scale;
        }
    }
}

/* The tier's entry point body: one call per weight type, so that `type` is a constant. */
BN_INLINE bool float_rows_by_type(const bn_linear *w, const bn_act *a, float *y, int64_t ldy, int64_t m0, int64_t m1) {
    switch (w->type) {
    case BN_TYPE_F32: rows_of_type(w, BN_TYPE_F32, a, y, ldy, m0, m1); return true;
    case BN_TYPE_F16: rows_of_type(w, BN_TYPE_F16, a, y, ldy, m0, m1); return true;
    case BN_TYPE_BF16: rows_of_type(w, BN_TYPE_BF16, a, y, ldy, m0, m1); return true;
    case BN_TYPE_Q8_0:
        if (a->x_q8_0) rows_q8_0_q8_0(w, a, y, ldy, m0, m1);
        else rows_of_type(w, BN_TYPE_Q8_0, a, y, ldy, m0, m1);
        return true;
    default: return false;
    }
}

#endif
