/* q8_rows: the token and row driver of the q8 rows kernels (the `--lm-head q8` head on the
 * q8 rows layout, kernel_impl.h), shared by float_avx512.c, float_avx2.c and q8_rows_avxvnni.c.
 * Each includes it after defining, with its own instructions (q8_rows_256.h for the last two):
 *   q8_rows_dot(p, row, nr, pf, t, out)   out[r] for nr (1 or 4, a constant after inlining)
 *                                     rows starting at `row`, one token's reordered activations
 *                                     t; pf (one row): prefetch the row's codes and scales ahead
 *   Q8_ROWS_PREFETCH_ONE              whether a one-token call's one-row passes prefetch
 * and then calls q8_rows_apply from its bn_q8_rows_kernel. */
#ifndef BITNET_Q8_ROWS_H
#define BITNET_Q8_ROWS_H

/* A token's Q8_0 blocks x (nb of them) in the group order of the weights' codes, padded with
 * zero blocks to n_groups whole groups. */
static void q8_token_reorder(const bn_block_q8_0 *x, int64_t nb, int64_t n_groups, q8_token_x *t) {
    for (int64_t b = 0; b < n_groups * BN_Q8_GROUP_BLOCKS; b++) {
        int8_t *g = t->q + (b / BN_Q8_GROUP_BLOCKS) * BN_Q8_GROUP_BYTES + 4 * (b % BN_Q8_GROUP_BLOCKS);
        int32_t sum = 0;
        for (int k = 0; k < 32; k++) {
            int8_t q = b < nb ? x[b].qs[k] : 0;
            g[64 * (k / 4) + k % 4] = q;
            sum += q;
        }
        t->d[b] = b < nb ? _cvtsh_ss(x[b].d) : 0.0f;
        t->corr[b] = 128 * sum;
    }
}

/* Rows [m0, m1) of one token whose activations are already reordered (one of n tokens). One
 * token: one row at a time, its codes prefetched ahead where the tier says so (q8_rows_dot,
 * Q8_ROWS_PREFETCH_ONE), one memory stream per
 * thread: on the Intel Xeon VM (2 threads, 2B-4T shapes, steps interleaved with the F16 head),
 * q8 over F16 generation 1.30-1.34x against 1.23-1.27x with 4 rows side by side at avx2,
 * 1.32-1.34x against 1.30-1.31x at avx512; on Zen 4 one row without a prefetch was already
 * 1.09-1.10x faster at avx512. Several tokens (the rows then come from L2 after the first):
 * 4 rows side by side, or one at a time on AMD (bn_cpu_head_rows). A row's sum is the same
 * either way. */
static void q8_rows_token(const bn_q8_rows *p, const q8_token_x *t, int n, float out_scale, float *y, int64_t m0, int64_t m1) {
    int64_t m = m0;
    float out[4];
    bool four = n > 1 && bn_cpu_head_rows() == 4, pf = n == 1 && (Q8_ROWS_PREFETCH_ONE);
    for (; four && m + 4 <= m1; m += 4) {
        q8_rows_dot(p, p->data + (uint64_t)m * p->row_stride, 4, false, t, out);
        for (int r = 0; r < 4; r++) y[m + r] = out[r] * out_scale;
    }
    for (; m < m1; m++) {
        q8_rows_dot(p, p->data + (uint64_t)m * p->row_stride, 1, pf, t, out);
        y[m] = out[0] * out_scale;
    }
}

/* Several tokens (all-position logits): rows in blocks that stay in L2 (64 x 2752 bytes for
 * 2B-4T) while each token's reordered activations are rebuilt on the stack, so the weights
 * are read from memory once per call instead of once per token. */
#define Q8_ROWS_BLOCK 64

static void q8_rows_apply(const bn_q8_rows *p, const bn_block_q8_0 *x, int n, float out_scale, float *y, int64_t ldy,
                          int64_t m0, int64_t m1) {
    _Alignas(64) q8_token_x t;
    int64_t nb = p->K / 32;
    if (n == 1) {
        q8_token_reorder(x, nb, p->n_groups, &t);
        q8_rows_token(p, &t, 1, out_scale, y, m0, m1);
        return;
    }
    for (int64_t b0 = m0; b0 < m1; b0 += Q8_ROWS_BLOCK) {
        int64_t b1 = b0 + Q8_ROWS_BLOCK < m1 ? b0 + Q8_ROWS_BLOCK : m1;
        for (int i = 0; i < n; i++) {
            q8_token_reorder(x + (int64_t)i * nb, nb, p->n_groups, &t);
            q8_rows_token(p, &t, n, out_scale, y + (int64_t)i * ldy, b0, b1);
        }
    }
}

#endif
