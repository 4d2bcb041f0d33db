/* attention_simd: the blocked online-softmax attention of attention.h written once over a
 * small vector vocabulary, included by attention_avx512.c (16 lanes) and attention_avx2.c
 * (8 lanes), which define before including it:
 *   V, VL                  vector type and lanes (16 % VL == 0)
 *   V_ZERO() V_LOAD(p) V_STORE(p, v) V_SET1(x) V_FMA(a, b, c) = a * b + c  V_MUL(a, b)
 *   V_SUB(a, b) V_HMAX(v) V_HSUM(v) V_EXP(v)
 * and optionally V_DIV(a, b) (a / b per lane, used for the final 1 / l scaling).
 *   TR                     query rows per register tile (TR * 16 / VL accumulators)
 * and may define ATTN_TRANSPOSE_FULL(k, stride, head_dim, kt), a vector transpose of a full
 * block of 16 keys (16 % VL, head_dim % 16 == 0 hold there), used instead of the scalar copy.
 *
 * Shapes per key block (16 keys at p0): kt = K^T [head_dim][16] (transposed once per block
 * and shared by every row of the job), sc[r][16] the row's scores then weights. Scores: each
 * lane (key) accumulates q[d] * k[d] over d in order with FMA, TR rows at a time (TR * 16/VL
 * independent chains, one K^T load shared by TR rows). Values: per VL-wide slice of head_dim,
 * TR rows accumulate e_j * v_j over the keys in order, one V load shared by TR rows. Each
 * row's operations depend only on its own q and pos, so results do not depend on the row set
 * (attention.h); lanes past a row's last key are skipped, never added as zeros. */
#include <math.h>
#include <string.h>

#include "attention.h"

#define NVB (BN_ATTN_BLOCK / VL)
#define ATTN_INLINE static inline __attribute__((always_inline))
/* Fully unrolled row / vector loops keep the accumulators in registers (nr is a constant in
 * every instance, see tiles_scores). */
#define ATTN_UNROLL _Pragma("GCC unroll 8")

/* kt[d][i] = k[p0 + i][d] for i < nv, 0 past nv. */
static void transpose_block(const bn_attn_job *j, int64_t p0, int nv, float *kt) {
    int64_t hd = j->head_dim;
#ifdef ATTN_TRANSPOSE_FULL
    if (nv == BN_ATTN_BLOCK) {
        ATTN_TRANSPOSE_FULL(j->k + p0 * j->kv_stride, j->kv_stride, hd, kt);
        return;
    }
#endif
    if (nv < BN_ATTN_BLOCK) memset(kt, 0, (size_t)hd * BN_ATTN_BLOCK * sizeof(float));
    for (int i = 0; i < nv; i++) {
        const float *k = j->k + (p0 + i) * j->kv_stride;
        for (int64_t d = 0; d < hd; d++) kt[d * BN_ATTN_BLOCK + i] = k[d];
    }
}

/* sc[r][0..15] = scale * dot(q[r0 + r], keys) for nr (<= TR) rows. */
ATTN_INLINE void scores_tile(const float *kt, const float *const *q, int64_t hd, int nr, float scale, float *sc) {
    V acc[TR][NVB];
    const float *qr[TR];
    ATTN_UNROLL for (int r = 0; r < nr; r++) {
        qr[r] = q[r];
        ATTN_UNROLL for (int i = 0; i < NVB; i++) acc[r][i] = V_ZERO();
    }
    for (int64_t d = 0; d < hd; d++) {
        V k[NVB];
        ATTN_UNROLL for (int i = 0; i < NVB; i++) k[i] = V_LOAD(kt + d * BN_ATTN_BLOCK + i * VL);
        ATTN_UNROLL for (int r = 0; r < nr; r++) {
            V qd = V_SET1(qr[r][d]);
            ATTN_UNROLL for (int i = 0; i < NVB; i++) acc[r][i] = V_FMA(qd, k[i], acc[r][i]);
        }
    }
    V vs = V_SET1(scale);
    ATTN_UNROLL for (int r = 0; r < nr; r++)
        ATTN_UNROLL for (int i = 0; i < NVB; i++) V_STORE(sc + r * BN_ATTN_BLOCK + i * VL, V_MUL(acc[r][i], vs));
}

/* o[r] = o[r] * alpha[r] + sum_{i < nv[r]} e[r][i] v_i for nr (<= TR) rows of the output
 * buffer o (row r at o + r * hd: one base pointer, where TR row pointers were spilled to
 * registers and reloaded); nv non-decreasing. */
ATTN_INLINE void values_tile(const bn_attn_job *j, int64_t hd, int64_t p0, float *o, int nr, const float *e,
                             const float *alpha, const int *nv) {
    for (int64_t c = 0; c < hd; c += VL) {
        V acc[TR];
        ATTN_UNROLL for (int r = 0; r < nr; r++) acc[r] = V_MUL(V_LOAD(o + r * hd + c), V_SET1(alpha[r]));
        const float *v = j->v + p0 * j->kv_stride + c;
        int i = 0;
        for (; i < nv[0]; i++, v += j->kv_stride) {
            V vv = V_LOAD(v);
            ATTN_UNROLL for (int r = 0; r < nr; r++) acc[r] = V_FMA(V_SET1(e[r * BN_ATTN_BLOCK + i]), vv, acc[r]);
        }
        for (; i < nv[nr - 1]; i++, v += j->kv_stride) {
            V vv = V_LOAD(v);
            ATTN_UNROLL for (int r = 0; r < nr; r++)
                if (i < nv[r]) acc[r] = V_FMA(V_SET1(e[r * BN_ATTN_BLOCK + i]), vv, acc[r]);
        }
        ATTN_UNROLL for (int r = 0; r < nr; r++) V_STORE(o + r * hd + c, acc[r]);
    }
}

/* Softmax step of one row: scores -> weights in place (0 past nv), updates m and l, gives alpha. */
ATTN_INLINE float softmax_row(float *sc, int nv, float *m, float *l) {
    for (int i = nv; i < BN_ATTN_BLOCK; i++) sc[i] = -INFINITY;
    V s[NVB];
    float bmax = -INFINITY;
    for (int i = 0; i < NVB; i++) {
        s[i] = V_LOAD(sc + i * VL);
        float h = V_HMAX(s[i]);
        bmax = h > bmax ? h : bmax;
    }
    float mnew = bmax > *m ? bmax : *m, bsum = 0.0f;
    float alpha = expf(*m - mnew);
    V vm = V_SET1(mnew);
    for (int i = 0; i < NVB; i++) {
        V e = V_EXP(V_SUB(s[i], vm));
        V_STORE(sc + i * VL, e);
    }
    for (int i = nv; i < BN_ATTN_BLOCK; i++) sc[i] = 0.0f;
    for (int i = 0; i < NVB; i++) bsum += V_HSUM(V_LOAD(sc + i * VL));
    *l = *l * alpha + bsum;
    *m = mnew;
    return alpha;
}

static void tiles_scores(const bn_attn_job *j, const float *kt, int64_t r0, float *sc) {
    for (int64_t r = r0; r < j->n_rows; r += TR) {
        int nr = j->n_rows - r < TR ? (int)(j->n_rows - r) : TR;
        float *out = sc + r * BN_ATTN_BLOCK;
        switch (nr) { /* constant row counts, so the accumulators stay in registers */
#define ATTN_CASE(n) case n: scores_tile(kt, j->q + r, j->head_dim, n, j->scale, out); break;
            ATTN_CASE(1) ATTN_CASE(2) ATTN_CASE(3)
#if TR > 4
            ATTN_CASE(4) ATTN_CASE(5) ATTN_CASE(6) ATTN_CASE(7)
#endif
        default: scores_tile(kt, j->q + r, j->head_dim, TR, j->scale, out); break;
#undef ATTN_CASE
        }
    }
}

ATTN_INLINE void tiles_values(const bn_attn_job *j, int64_t hd, int64_t p0, int64_t r0, const float *sc, const float *alpha,
                              const int *nv, float *ob) {
    for (int64_t r = r0; r < j->n_rows; r += TR) {
        int nr = j->n_rows - r < TR ? (int)(j->n_rows - r) : TR;
        const float *e = sc + r * BN_ATTN_BLOCK;
        switch (nr) {
#define ATTN_CASE(n) case n: values_tile(j, hd, p0, ob + r * hd, n, e, alpha + r, nv + (r - r0)); break;
            ATTN_CASE(1) ATTN_CASE(2) ATTN_CASE(3)
#if TR > 4
            ATTN_CASE(4) ATTN_CASE(5) ATTN_CASE(6) ATTN_CASE(7)
#endif
        default: values_tile(j, hd, p0, ob + r * hd, TR, e, alpha + r, nv + (r - r0)); break;
#undef ATTN_CASE
        }
    }
}

/* nv: per-row key counts of the current block, for the active rows [r0, n_rows). */
#define ATTN_MAX_STACK_ROWS 1024

/* The job with head_dim hd (a constant where the caller passes one: then every row offset in
 * values_tile is a constant displacement). The rows accumulate in the scratch buffer ob
 * [n_rows][hd]; out[r] = ob[r] / l[r] at the end. */
ATTN_INLINE void attention_rows(const bn_attn_job *j, int64_t hd) {
    int64_t n = j->n_rows;
    float *sc = j->scratch, *m = sc + n * BN_ATTN_BLOCK, *l = m + n, *alpha = l + n;
    float *kt = j->scratch + ((n * (BN_ATTN_BLOCK + 3) + 15) & ~(int64_t)15);
    float *ob = kt + ((hd * BN_ATTN_BLOCK + 15) & ~(int64_t)15);
    int nv[ATTN_MAX_STACK_ROWS];
    memset(ob, 0, (size_t)(n * hd) * sizeof(float));
    for (int64_t r = 0; r < n; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
    }
    int64_t r0 = 0, last = j->pos[n - 1];
    for (int64_t p0 = 0; p0 <= last; p0 += BN_ATTN_BLOCK) {
        while (j->pos[r0] < p0) r0++;
        int nblk = last + 1 - p0 < BN_ATTN_BLOCK ? (int)(last + 1 - p0) : BN_ATTN_BLOCK;
        transpose_block(j, p0, nblk, kt);
        tiles_scores(j, kt, r0, sc);
        for (int64_t r = r0; r < n; r++) {
            int c = j->pos[r] + 1 - p0 < BN_ATTN_BLOCK ? (int)(j->pos[r] + 1 - p0) : BN_ATTN_BLOCK;
            nv[r - r0] = c;
            alpha[r] = softmax_row(sc + r * BN_ATTN_BLOCK, c, &m[r], &l[r]);
        }
        tiles_values(j, hd, p0, r0, sc, alpha, nv, ob);
    }
    for (int64_t r = 0; r < n; r++) {
        const float *o = ob + r * hd;
#ifdef V_DIV /* the same correctly rounded quotients, VL at a time (the scalar loop was ~15% of
              * a 128-token prompt's attention) */
        V vl = V_SET1(l[r]);
        for (int64_t d = 0; d < hd; d += VL) V_STORE(j->out[r] + d, V_DIV(V_LOAD(o + d), vl));
#else
        for (int64_t d = 0; d < hd; d++) j->out[r][d] = o[d] / l[r];
#endif
    }
}

static bool attention_simd(const bn_attn_job *j) {
    int64_t n = j->n_rows, hd = j->head_dim;
    if (hd % VL || n <= 0 || n > ATTN_MAX_STACK_ROWS) return false;
    if (hd == 128) attention_rows(j, 128); /* BitNet b1.58 2B-4T, LLaMA shapes */
    else attention_rows(j, hd);
    return true;
}
