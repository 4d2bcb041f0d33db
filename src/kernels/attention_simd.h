/* attention_simd: the blocked online-softmax attention of attention.h written once over a
 * small vector vocabulary, included by attention_avx512.c (16 lanes) and attention_avx2.c
 * (8 lanes), which define before including it:
 *   V, VL                  vector type and lanes (16 % VL == 0)
 *   V_ZERO() V_LOAD(p) V_STORE(p, v) V_SET1(x) V_FMA(a, b, c) = a * b + c  V_MUL(a, b)
 *   V_SUB(a, b) V_HMAX(v) V_HSUM(v) V_EXP(v)
 *   V_KEEP(v, n, fill)     v in lanes < n, fill in lanes >= n (any int n)
 *   V_LOAD_F16(p)          VL halves (const uint16_t *p) as floats (exact)
 *   V_LOAD_I8(p)           VL int8 (const int8_t *p) as floats (exact)
 *   F16_1(h)               one half (uint16_t) as a float
 * and optionally V_DIV(a, b) (a / b per lane, used for the final 1 / l scaling) and V_ADD(a, b)
 * (a block's softmax adds its exp vectors lane-wise before one horizontal sum, instead of one
 * horizontal sum per vector).
 *   TR                     query rows per register tile (TR * 16 / VL accumulators; 4, 6 or 8)
 * and may define ATTN_PAIR_BLOCKS (where 2 * TR * 16 / VL accumulators fit the register file): the scores
 * of two key blocks in one pass, so each q broadcast feeds two FMAs and the tile has twice the
 * independent FMA chains (one block's 8 chains were FMA-latency bound), and V_EXP1(x) (scalar
 * exp for alpha, else expf) with ATTN_SUM_IN_KEY_ORDER (block sums in key order, else by
 * V_HSUM), which attention_avx512.c uses so this row path gives the bits of its group path;
 * and ATTN_WIDE_VALUES n (3 or 4: where 4 x n value accumulators + n V vectors fit): tiles of
 * at most 4 rows (a decode token's query heads) accumulate n value slices per pass over the
 * keys (4 rows x 2 slices are 8 FMA chains a key, just the 4-cycle latency x 2 pipes: any
 * stall showed);
 * and ATTN_PF_BLOCKS (x86): while a block is computed, the first row tile prefetches the
 * cache's K^T and V rows of the block that many blocks ahead (up to the job's last key).
 * Why: each 16-key block's K^T (4 KiB at f16) and V rows start new pages, where the hardware
 * prefetcher stops, so an item reading the cache from memory had computed and waited in
 * turn: a decode step's items at depth 2048 (2 threads, the 2B-4T KV cache from DRAM) ran at
 * ~1 / (1 / compute rate + 1 / read rate). Prefetching changes no arithmetic.
 *
 * Shapes per key block (16 keys at p0): kt = K^T [head_dim][16], read straight from the cache
 * in its type (attention.h: f32, f16 or q8_0, decoded in registers; the decoded values are
 * exact, so every type runs the f32 operations on them), sc[r][0..15] the row's scores then weights (rows
 * ATTN_SC_STRIDE floats apart: with ATTN_PAIR_BLOCKS, the next block's scores follow at
 * sc[r][16..31]). Scores: each lane (key) accumulates q[d] * k[d] over d in order with FMA, TR
 * rows at a time (TR * 16/VL chains per block, one K^T load shared by TR rows); pairing blocks
 * changes no lane's operations. Values: per VL-wide slice of head_dim (two slices per pass, so
 * each e broadcast feeds two FMAs), TR rows accumulate e_j * v_j over the keys in order, one V
 * load shared by TR rows (the AVX-512 group path reuses this with its weight layout). Each
 * row's operations depend only on its own q and pos, so results do not depend on the row set
 * (attention.h); lanes past a row's last key are skipped, never added as zeros. */
#include <math.h>
#include <string.h>

#include "kernel_impl.h"
#include "model/attention.h"

#define NVB (BN_ATTN_BLOCK / VL)
/* Score row stride in the scratch: room for a pair of blocks (attention.c sizes the scratch
 * with the same 2 * BN_ATTN_BLOCK). */
#define ATTN_SC_STRIDE (2 * BN_ATTN_BLOCK)
#ifdef ATTN_PAIR_BLOCKS
#define ATTN_NB_MAX 2
#else
#define ATTN_NB_MAX 1
#endif
/* Fully unrolled row / vector loops keep the accumulators in registers (nr is a constant in
 * every instance, see tiles_scores). */
#define ATTN_UNROLL _Pragma("GCC unroll 8")

#define ATTN_Q8_CHUNK (BN_ATTN_BLOCK * (2 + BN_KV_QK)) /* q8_0 K^T: 16 scales + int8 [32][16] */
#define ATTN_Q8_ROW (2 + BN_KV_QK)                      /* q8_0 V: llama.cpp's block_q8_0 */

#ifndef ATTN_PF_BLOCKS
#define ATTN_PF_BLOCKS 0
#endif

/* The share [c0 / hd, c1 / hd) of the `bytes` bytes at pf prefetched, a line at a time (pf
 * NULL: nothing). The loops over dims (scores) and over value slices call it once per step,
 * so a block's prefetches are spread over its work: all at the block's start, they slowed
 * the kernel in cache (avx2, one thread, 2 heads at depth 2048: 0.15 -> 0.17-0.23 ms), and one
 * per dim inside the FMA loop cost its unrolling (0.29 ms). */
BN_INLINE void prefetch_share(const char *pf, int64_t bytes, int64_t c0, int64_t c1, int64_t hd) {
    if (!pf) return;
    for (int64_t o = (c0 * bytes / hd + 63) & ~(int64_t)63; o < c1 * bytes / hd; o += 64) BN_PREFETCH(pf, o);
}

/* The keys to prefetch while the block at p0 is computed: those from the block ATTN_PF_BLOCKS
 * ahead up to the job's last key (<= 0: none, or no prefetch at this tier). */
BN_INLINE int64_t keys_ahead(int64_t p0, int64_t last) {
    return ATTN_PF_BLOCKS ? last + 1 - (p0 + ATTN_PF_BLOCKS * BN_ATTN_BLOCK) : 0;
}

/* Lanes [i VL, i VL + VL) of dim d of the K^T block kb of type t (a constant in every
 * instance); qs: the q8_0 scales of those lanes for d's chunk of 32 dims. */
BN_INLINE V k_lanes(const char *kb, int64_t d, int i, int t, V qs) {
    if (t == BN_KV_F32) return V_LOAD((const float *)kb + d * BN_ATTN_BLOCK + i * VL);
    if (t == BN_KV_F16) return V_LOAD_F16((const uint16_t *)kb + d * BN_ATTN_BLOCK + i * VL);
    const int8_t *q = (const int8_t *)(kb + (d / BN_KV_QK) * ATTN_Q8_CHUNK + 2 * BN_ATTN_BLOCK);
    return V_MUL(V_LOAD_I8(q + (d % BN_KV_QK) * BN_ATTN_BLOCK + i * VL), qs);
}

/* The q8_0 scales of lanes [i VL, i VL + VL) for the chunk of dims from c0 (else unused). */
BN_INLINE V k_scales(const char *kb, int64_t c0, int i, int t) {
    if (t != BN_KV_Q8_0) return V_ZERO();
    return V_LOAD_F16((const uint16_t *)(kb + (c0 / BN_KV_QK) * ATTN_Q8_CHUNK) + i * VL);
}

/* Dims [c, c + VL) of the V row `row` of type t (c % VL == 0, so a q8_0 slice is in one block). */
BN_INLINE V v_lanes(const char *row, int64_t c, int t) {
    if (t == BN_KV_F32) return V_LOAD((const float *)row + c);
    if (t == BN_KV_F16) return V_LOAD_F16((const uint16_t *)row + c);
    const char *blk = row + (c / BN_KV_QK) * ATTN_Q8_ROW;
    uint16_t h;
    memcpy(&h, blk, 2);
    return V_MUL(V_LOAD_I8((const int8_t *)(blk + 2) + c % BN_KV_QK), V_SET1(F16_1(h)));
}

/* K^T of one block as floats: the cache itself for f32, else decoded into kt [hd][16]. */
BN_INLINE const float *k_block_f32(const char *kb, int64_t hd, int t, float *kt) {
    if (t == BN_KV_F32) return (const float *)kb;
    for (int64_t c0 = 0; c0 < hd; c0 += BN_KV_QK) {
        int64_t c1 = c0 + BN_KV_QK < hd ? c0 + BN_KV_QK : hd;
        V qs[NVB];
        for (int i = 0; i < NVB; i++) qs[i] = k_scales(kb, c0, i, t);
        for (int64_t d = c0; d < c1; d++)
            for (int i = 0; i < NVB; i++) V_STORE(kt + d * BN_ATTN_BLOCK + i * VL, k_lanes(kb, d, i, t, qs[i]));
    }
    return kt;
}

/* sc[r][16 b + i] = scale * dot(q[r0 + r], key i of block b) for nr (<= TR) rows and nb
 * (<= ATTN_NB_MAX) blocks, block b's K^T (type t) at kt + b * kbytes. The dims go in chunks
 * of 32 (a q8_0 chunk shares its scales); each lane still accumulates d in order. */
BN_INLINE void scores_tile(const char *kt, int64_t kbytes, int t, const float *const *q, int64_t hd, int nr, int nb,
                           float scale, float *sc, const char *pf, int64_t pf_bytes) {
    V acc[TR][ATTN_NB_MAX][NVB];
    const float *qr[TR];
    ATTN_UNROLL for (int r = 0; r < nr; r++) {
        qr[r] = q[r];
        ATTN_UNROLL for (int b = 0; b < nb; b++)
            ATTN_UNROLL for (int i = 0; i < NVB; i++) acc[r][b][i] = V_ZERO();
    }
    for (int64_t c0 = 0; c0 < hd; c0 += BN_KV_QK) {
        int64_t c1 = c0 + BN_KV_QK < hd ? c0 + BN_KV_QK : hd;
        prefetch_share(pf, pf_bytes, c0, c1, hd);
        V qs[ATTN_NB_MAX][NVB];
        ATTN_UNROLL for (int b = 0; b < nb; b++)
            ATTN_UNROLL for (int i = 0; i < NVB; i++) qs[b][i] = k_scales(kt + b * kbytes, c0, i, t);
        for (int64_t d = c0; d < c1; d++) {
            V k[ATTN_NB_MAX][NVB];
            ATTN_UNROLL for (int b = 0; b < nb; b++)
                ATTN_UNROLL for (int i = 0; i < NVB; i++) k[b][i] = k_lanes(kt + b * kbytes, d, i, t, qs[b][i]);
            ATTN_UNROLL for (int r = 0; r < nr; r++) {
                V qd = V_SET1(qr[r][d]);
                ATTN_UNROLL for (int b = 0; b < nb; b++)
                    ATTN_UNROLL for (int i = 0; i < NVB; i++) acc[r][b][i] = V_FMA(qd, k[b][i], acc[r][b][i]);
            }
        }
    }
    V vs = V_SET1(scale);
    ATTN_UNROLL for (int r = 0; r < nr; r++)
        ATTN_UNROLL for (int b = 0; b < nb; b++)
            ATTN_UNROLL for (int i = 0; i < NVB; i++)
                V_STORE(sc + r * ATTN_SC_STRIDE + b * BN_ATTN_BLOCK + i * VL, V_MUL(acc[r][b][i], vs));
}

/* Slices [c, c + ns * VL) of o[r] = o[r] * alpha[r] + sum_{i < nv[r]} e[r][i] v_i for nr
 * (<= TR) rows of the output buffer o (row r at o + r * hd: one base pointer, where TR row
 * pointers were spilled to registers and reloaded; e rows ATTN_SC_STRIDE apart); nv
 * non-decreasing. unit_alpha: every alpha[r] is 1 (the running maxima held, as in most
 * blocks of a long row), so the multiplies are left out (x * 1 = x: the same bits). ns <= 4
 * slices per pass: each e broadcast feeds ns FMAs; 4 (with ATTN_WIDE_VALUES, tiles of <= 4
 * rows) halves the passes over a block's V rows. Each slice lane adds the keys in order
 * whatever ns is: the same bits. */
BN_INLINE void values_slices(const char *vrow, int64_t vstride, int t, int64_t hd, int64_t c, int ns, float *o, int nr,
                             const float *e, int ers, int eks, const float *alpha, bool unit_alpha, const int *nv) {
    V acc[TR][4];
    ATTN_UNROLL for (int r = 0; r < nr; r++)
        ATTN_UNROLL for (int s = 0; s < ns; s++) {
            acc[r][s] = V_LOAD(o + r * hd + c + s * VL);
            if (!unit_alpha) acc[r][s] = V_MUL(acc[r][s], V_SET1(alpha[r]));
        }
    const char *v = vrow;
    int i = 0;
    for (; i < nv[0]; i++, v += vstride) {
        V vv[4];
        ATTN_UNROLL for (int s = 0; s < ns; s++) vv[s] = v_lanes(v, c + s * VL, t);
        ATTN_UNROLL for (int r = 0; r < nr; r++) {
            V er = V_SET1(e[r * ers + i * eks]);
            ATTN_UNROLL for (int s = 0; s < ns; s++) acc[r][s] = V_FMA(er, vv[s], acc[r][s]);
        }
    }
    for (; i < nv[nr - 1]; i++, v += vstride) {
        V vv[4];
        ATTN_UNROLL for (int s = 0; s < ns; s++) vv[s] = v_lanes(v, c + s * VL, t);
        ATTN_UNROLL for (int r = 0; r < nr; r++) {
            if (i >= nv[r]) continue;
            V er = V_SET1(e[r * ers + i * eks]);
            ATTN_UNROLL for (int s = 0; s < ns; s++) acc[r][s] = V_FMA(er, vv[s], acc[r][s]);
        }
    }
    ATTN_UNROLL for (int r = 0; r < nr; r++)
        ATTN_UNROLL for (int s = 0; s < ns; s++) V_STORE(o + r * hd + c + s * VL, acc[r][s]);
}

/* A block's V rows as values_tile reads them: the row of key p0 + i at v + i * stride, of
 * type t (the cache's rows, or the block decoded to f32 by v_block_rows). */
typedef struct {
    const char *v;
    int64_t stride;
    int t;
    const char *pf; /* cache bytes to prefetch meanwhile, spread over the passes (NULL: none) */
    int64_t pf_bytes;
} attn_vrows;

/* o[r] = o[r] * alpha[r] + sum_{i < nv[r]} e[r][i] v_i over all of head_dim (a multiple of VL),
 * V of type t (a constant in every instance). */
BN_INLINE void values_tile_t(attn_vrows vr, int t, int64_t hd, float *o, int nr, const float *e, int ers, int eks,
                             const float *alpha, const int *nv) {
    bool unit = true;
    for (int r = 0; r < nr; r++) unit &= alpha[r] == 1.0f;
    int64_t c = 0;
#ifdef ATTN_WIDE_VALUES
    if (nr <= 4) /* decode: a token's group of query heads */
        for (; c + ATTN_WIDE_VALUES * VL <= hd; c += ATTN_WIDE_VALUES * VL) {
            prefetch_share(vr.pf, vr.pf_bytes, c, c + ATTN_WIDE_VALUES * VL, hd);
            values_slices(vr.v, vr.stride, t, hd, c, ATTN_WIDE_VALUES, o, nr, e, ers, eks, alpha, unit, nv);
        }
#endif
    for (; c + 2 * VL <= hd; c += 2 * VL) {
        prefetch_share(vr.pf, vr.pf_bytes, c, c + 2 * VL, hd);
        values_slices(vr.v, vr.stride, t, hd, c, 2, o, nr, e, ers, eks, alpha, unit, nv);
    }
    if (c < hd) {
        prefetch_share(vr.pf, vr.pf_bytes, c, hd, hd);
        values_slices(vr.v, vr.stride, t, hd, c, 1, o, nr, e, ers, eks, alpha, unit, nv);
    }
}

BN_INLINE void values_tile(attn_vrows vr, int64_t hd, float *o, int nr, const float *e, int ers, int eks,
                           const float *alpha, const int *nv) {
    switch (vr.t) {
    case BN_KV_F16: values_tile_t(vr, BN_KV_F16, hd, o, nr, e, ers, eks, alpha, nv); break;
    case BN_KV_Q8_0: values_tile_t(vr, BN_KV_Q8_0, hd, o, nr, e, ers, eks, alpha, nv); break;
    default: values_tile_t(vr, BN_KV_F32, hd, o, nr, e, ers, eks, alpha, nv); break;
    }
}

/* Whether a block of cache type t is decoded to f32 once for all the row tiles of a job (with
 * more than one tile) instead of converted by every tile: q8_0 always (an int8 conversion
 * and a multiply per vector; a 64-row prefill item at depth 2000 1.34x faster at avx2, 1.14x
 * at avx512); f16 where the tier defines ATTN_DECODE_F16 (vcvtph2ps alone: 1.01-1.04x at
 * avx512, 0.97-0.99x at avx2, which keeps converting in the tiles). */
#ifdef ATTN_DECODE_F16
#define ATTN_DECODES(t) ((t) != BN_KV_F32)
#else
#define ATTN_DECODES(t) ((t) == BN_KV_Q8_0)
#endif

/* The V rows of keys [p0, p0 + nk) for value tiles of the rows [r0, n_rows): decoded once into
 * vdec [nk][hd] where ATTN_DECODES says so (exact values, so the tiles' FMAs see the same
 * operands and give the same bits); else the cache's rows. Their prefetch: the V rows of the
 * block ATTN_PF_BLOCKS ahead, up to the job's last key. */
BN_INLINE attn_vrows v_block_rows(const bn_attn_job *j, int64_t hd, int64_t p0, int nk, int64_t r0, int64_t last,
                                  float *vdec) {
    const char *v = bn_attn_v_row(j, p0); /* a block's rows are in one span */
    int64_t ahead = keys_ahead(p0, last);
    attn_vrows vr = {v, j->v_stride, j->v_type, ahead > 0 ? bn_attn_v_row(j, p0 + ATTN_PF_BLOCKS * BN_ATTN_BLOCK) : NULL,
                     (ahead < BN_ATTN_BLOCK ? ahead : BN_ATTN_BLOCK) * j->v_stride};
    if (!ATTN_DECODES(j->v_type) || j->n_rows - r0 <= TR) return vr;
    for (int i = 0; i < nk; i++, v += j->v_stride)
        for (int64_t c = 0; c < hd; c += VL)
            V_STORE(vdec + i * hd + c, j->v_type == BN_KV_F16 ? v_lanes(v, c, BN_KV_F16) : v_lanes(v, c, BN_KV_Q8_0));
    vr.v = (const char *)vdec;
    vr.stride = hd * (int64_t)sizeof(float);
    vr.t = BN_KV_F32;
    return vr;
}

/* Softmax step of one row: scores -> weights in place (0 past nv), updates m and l, gives
 * alpha. Lanes past nv are masked in registers (-inf for the max, 0 for the sum): scalar fills
 * followed by vector reloads stalled on store forwarding. A full block (nv = 16, every block
 * but a row's last) skips the masks; with V_MAX the block's max is one horizontal max of the
 * lanes' maxima (the same value: max is exact in any order). */
BN_INLINE float softmax_row(float *sc, int nv, float *m, float *l) {
    const bool full = nv >= BN_ATTN_BLOCK;
    V s[NVB];
    ATTN_UNROLL for (int i = 0; i < NVB; i++) {
        s[i] = V_LOAD(sc + i * VL);
        if (!full) s[i] = V_KEEP(s[i], nv - i * VL, V_SET1(-INFINITY));
    }
#if defined(V_MAX) && NVB > 1
    V smax = s[0];
    ATTN_UNROLL for (int i = 1; i < NVB; i++) smax = V_MAX(smax, s[i]);
    float bmax = V_HMAX(smax);
#else
    float bmax = -INFINITY;
    ATTN_UNROLL for (int i = 0; i < NVB; i++) {
        float h = V_HMAX(s[i]);
        bmax = h > bmax ? h : bmax;
    }
#endif
    float mnew = bmax > *m ? bmax : *m, bsum = 0.0f;
    float dm = *m - mnew;
#ifdef V_EXP1 /* the tier's own exp, as its 16-row group path (attention_avx512.c) computes it */
    float alpha = V_EXP1(dm);
#else /* 0 once the running max settles: expf(0) = 1 exactly, no call */
    float alpha = dm == 0.0f ? 1.0f : expf(dm);
#endif
    V vm = V_SET1(mnew);
#ifdef V_ADD
    V esum = V_ZERO();
#endif
    ATTN_UNROLL for (int i = 0; i < NVB; i++) {
        V e = V_EXP(V_SUB(s[i], vm));
        if (!full) e = V_KEEP(e, nv - i * VL, V_ZERO());
        V_STORE(sc + i * VL, e);
#if defined(V_ADD)
        esum = i ? V_ADD(esum, e) : e;
#elif !defined(ATTN_SUM_IN_KEY_ORDER)
        bsum += V_HSUM(e);
#endif
    }
#ifdef V_ADD /* the lanes' vectors added, then one horizontal sum */
    bsum = V_HSUM(esum);
#endif
#ifdef ATTN_SUM_IN_KEY_ORDER /* ((e_0 + e_1) + e_2) + ..., as the group path's vertical adds */
    for (int i = 0; i < BN_ATTN_BLOCK; i++) bsum += sc[i];
#endif
    float la = *l * alpha; /* two statements: no contraction to an FMA under any compiler */
    *l = la + bsum;
    *m = mnew;
    return alpha;
}

/* Scores of nb (constant in each instance) blocks for the rows [r0, n_rows); the first row
 * tile prefetches pf_bytes of the cache's K^T blocks from pf. */
BN_INLINE void tiles_scores_nb(const bn_attn_job *j, const char *kt, int64_t kbytes, int t, int64_t r0, float *sc, int nb,
                               const char *pf, int64_t pf_bytes) {
    for (int64_t r = r0; r < j->n_rows; r += TR, pf = NULL) {
        int nr = j->n_rows - r < TR ? (int)(j->n_rows - r) : TR;
        float *out = sc + r * ATTN_SC_STRIDE;
        switch (nr) { /* constant row counts, so the accumulators stay in registers */
#define ATTN_CASE(n) case n: scores_tile(kt, kbytes, t, j->q + r, j->head_dim, n, nb, j->scale, out, pf, pf_bytes); break;
            ATTN_CASE(1) ATTN_CASE(2) ATTN_CASE(3)
#if TR > 4
            ATTN_CASE(4) ATTN_CASE(5)
#endif
#if TR > 6
            ATTN_CASE(6) ATTN_CASE(7)
#endif
        default: scores_tile(kt, kbytes, t, j->q + r, j->head_dim, TR, nb, j->scale, out, pf, pf_bytes); break;
#undef ATTN_CASE
        }
    }
}

/* K type t (a constant in every instance). */
BN_INLINE void tiles_scores_t(const bn_attn_job *j, const char *kt, int64_t kbytes, int t, int64_t r0, float *sc, int nb,
                              const char *pf, int64_t pf_bytes) {
#ifdef ATTN_PAIR_BLOCKS
    if (nb == 2) {
        tiles_scores_nb(j, kt, kbytes, t, r0, sc, 2, pf, pf_bytes);
        return;
    }
#endif
    (void)nb;
    tiles_scores_nb(j, kt, kbytes, t, r0, sc, 1, pf, pf_bytes);
}

/* Scores of the rows [r0, n_rows) against nb blocks from the K^T block kt (the cache's, or
 * decoded), prefetching pf_bytes of the cache from pf (NULL: none). */
static void tiles_scores(const bn_attn_job *j, const char *kt, int64_t kbytes, int kt_type, int64_t r0, float *sc, int nb,
                         const char *pf, int64_t pf_bytes) {
    switch (kt_type) {
    case BN_KV_F16: tiles_scores_t(j, kt, kbytes, BN_KV_F16, r0, sc, nb, pf, pf_bytes); break;
    case BN_KV_Q8_0: tiles_scores_t(j, kt, kbytes, BN_KV_Q8_0, r0, sc, nb, pf, pf_bytes); break;
    default: tiles_scores_t(j, kt, kbytes, BN_KV_F32, r0, sc, nb, pf, pf_bytes); break;
    }
}

/* grp (a constant): weights in groups of 16 rows, e[r][i] at sc[(r / 16) * 256 + i * 16 + r % 16]
 * (tiles must then not straddle a group); else at sc[r * ATTN_SC_STRIDE + i]. */
BN_INLINE void tiles_values(const bn_attn_job *j, attn_vrows vr, int64_t hd, int64_t r0, const float *sc, int grp,
                            const float *alpha, const int *nv, float *ob) {
    int ers = grp ? 1 : ATTN_SC_STRIDE, eks = grp ? 16 : 1;
    for (int64_t r = r0; r < j->n_rows; r += TR, vr.pf = NULL) { /* the first tile prefetches */
        int nr = j->n_rows - r < TR ? (int)(j->n_rows - r) : TR;
        const float *e = grp ? sc + (r >> 4) * 256 + (r & 15) : sc + r * ATTN_SC_STRIDE;
        switch (nr) {
#define ATTN_CASE(n) case n: values_tile(vr, hd, ob + r * hd, n, e, ers, eks, alpha + r, nv + (r - r0)); break;
            ATTN_CASE(1) ATTN_CASE(2) ATTN_CASE(3)
#if TR > 4
            ATTN_CASE(4) ATTN_CASE(5)
#endif
#if TR > 6
            ATTN_CASE(6) ATTN_CASE(7)
#endif
        default: values_tile(vr, hd, ob + r * hd, TR, e, ers, eks, alpha + r, nv + (r - r0)); break;
#undef ATTN_CASE
        }
    }
}

BN_INLINE void finish_rows(const bn_attn_job *j, int64_t hd, const float *ob, const float *l);

/* nv: per-row key counts of the current block, for the active rows [r0, n_rows). */
#define ATTN_MAX_STACK_ROWS 1024

/* The first key and the last key of the job: all of them, or its one segment (attention.h). */
BN_INLINE int64_t job_begin(const bn_attn_job *j) { return j->part_m ? j->seg0 : 0; }
BN_INLINE int64_t job_last(const bn_attn_job *j) {
    int64_t last = j->pos[j->n_rows - 1];
    return j->part_m && last >= j->seg0 + BN_ATTN_SEG ? j->seg0 + BN_ATTN_SEG - 1 : last;
}

/* The segment from key s0 is done: the rows that saw it fold their m, l, o (the running state,
 * ob rows hd apart) into the scratch's fold (bn_attn_fold_floats: O, M, L); those that go on
 * into the next segment start it afresh. */
BN_INLINE void segment_end(const bn_attn_job *j, int64_t hd, int64_t s0, float *m, float *l, float *ob, float *fold) {
    int64_t n = j->n_rows;
    float *M = fold + n * hd, *L = M + n;
    for (int64_t r = 0; r < n; r++) {
        if (j->pos[r] < s0) continue;
        bn_attn_merge(&M[r], &L[r], fold + r * hd, m[r], l[r], ob + r * hd, hd, s0 == 0);
        if (j->pos[r] < s0 + BN_ATTN_SEG) continue;
        m[r] = -INFINITY;
        l[r] = 0.0f;
        memset(ob + r * hd, 0, (size_t)hd * sizeof(float));
    }
}

/* After the last block: the job's one segment handed back as parts, or the last segments
 * folded and out[r] = O[r] / L[r]. */
BN_INLINE void finish_job(const bn_attn_job *j, int64_t hd, int64_t last, float *m, float *l, float *ob, float *fold) {
    int64_t n = j->n_rows;
    if (j->part_m) {
        for (int64_t r = 0; r < n; r++) {
            j->part_m[r] = m[r];
            j->part_l[r] = l[r];
            memcpy(j->part_o[r], ob + r * hd, (size_t)hd * sizeof(float));
        }
        return;
    }
    segment_end(j, hd, last / BN_ATTN_SEG * BN_ATTN_SEG, m, l, ob, fold);
    finish_rows(j, hd, fold, fold + n * hd + n);
}

/* The job with head_dim hd (a constant where the caller passes one: then every row offset in
 * values_tile is a constant displacement). The rows accumulate in the scratch buffer ob
 * [n_rows][hd], one segment at a time (segment_end folds them). */
BN_INLINE void attention_rows(const bn_attn_job *j, int64_t hd) {
    int64_t n = j->n_rows;
    float *fold = j->scratch, *sc = fold + bn_attn_fold_floats(n, hd), *m = sc + n * ATTN_SC_STRIDE, *l = m + n, *alpha = l + n;
    float *kdec = sc + ((n * (ATTN_SC_STRIDE + 3) + 15) & ~(int64_t)15);
    float *vdec = kdec + ((2 * hd * BN_ATTN_BLOCK + 15) & ~(int64_t)15), *ob = vdec + BN_ATTN_BLOCK * hd;
    int64_t kbytes = (int64_t)bn_kv_k_block_bytes(j->k_type, hd);
    int nv[ATTN_MAX_STACK_ROWS];
    memset(ob, 0, (size_t)(n * hd) * sizeof(float));
    for (int64_t r = 0; r < n; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
    }
    int64_t r0 = 0, begin = job_begin(j), last = job_last(j);
    for (int64_t p0 = begin, nb = 1; p0 <= last; p0 += nb * BN_ATTN_BLOCK) {
        if (p0 > begin && p0 % BN_ATTN_SEG == 0) segment_end(j, hd, p0 - BN_ATTN_SEG, m, l, ob, fold);
        while (j->pos[r0] < p0) r0++;
        const char *kt = bn_attn_k_block(j, p0, (uint64_t)kbytes); /* a pair starts at a multiple of 32: one span */
        nb = 1;
#ifdef ATTN_PAIR_BLOCKS
        /* the next block too: rows [r0, n) score both (the rows ending in the first skip the
         * second's); lanes past a row's last key are masked in softmax_row */
        if (last + 1 - p0 > BN_ATTN_BLOCK) nb = 2;
#endif
        int64_t ahead = keys_ahead(p0, last), pf_blocks = (ahead + BN_ATTN_BLOCK - 1) / BN_ATTN_BLOCK;
        const char *pf = ahead > 0 ? bn_attn_k_block(j, p0 + ATTN_PF_BLOCKS * BN_ATTN_BLOCK, (uint64_t)kbytes) : NULL;
        int64_t pf_bytes = (pf_blocks < nb ? pf_blocks : nb) * kbytes;
        if (ATTN_DECODES(j->k_type) && n - r0 > TR) { /* several tiles: decode the K^T block(s) once, as values */
            for (int b = 0; b < nb; b++) k_block_f32(kt + b * kbytes, hd, j->k_type, kdec + b * hd * BN_ATTN_BLOCK);
            tiles_scores(j, (const char *)kdec, hd * BN_ATTN_BLOCK * (int64_t)sizeof(float), BN_KV_F32, r0, sc, (int)nb, pf,
                         pf_bytes);
        } else {
            tiles_scores(j, kt, kbytes, j->k_type, r0, sc, (int)nb, pf, pf_bytes);
        }
        for (int b = 0; b < nb; b++) {
            int64_t pb = p0 + b * BN_ATTN_BLOCK;
            float *scb = sc + b * BN_ATTN_BLOCK;
            while (j->pos[r0] < pb) r0++;
            for (int64_t r = r0; r < n; r++) {
                int c = j->pos[r] + 1 - pb < BN_ATTN_BLOCK ? (int)(j->pos[r] + 1 - pb) : BN_ATTN_BLOCK;
                nv[r - r0] = c;
                alpha[r] = softmax_row(scb + r * ATTN_SC_STRIDE, c, &m[r], &l[r]);
            }
            attn_vrows vr = v_block_rows(j, hd, pb, nv[n - 1 - r0], r0, last, vdec);
            tiles_values(j, vr, hd, r0, scb, 0, alpha, nv, ob);
        }
    }
    finish_job(j, hd, last, m, l, ob, fold);
}

/* out[r] = ob[r] / l[r]. */
BN_INLINE void finish_rows(const bn_attn_job *j, int64_t hd, const float *ob, const float *l) {
    for (int64_t r = 0; r < j->n_rows; r++) {
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

/* Jobs the kernels take: head_dim a multiple of the vector, rows within the stack arrays, and
 * for a one-segment job a segment start on a segment boundary that every row reaches. */
BN_INLINE bool attention_covers(const bn_attn_job *j, int64_t vl) {
    if (j->head_dim % vl || j->n_rows <= 0 || j->n_rows > ATTN_MAX_STACK_ROWS || j->span_keys % (2 * BN_ATTN_BLOCK)) return false;
    return !j->part_m || (j->seg0 >= 0 && j->seg0 % BN_ATTN_SEG == 0 && j->pos[0] >= j->seg0);
}

static bool attention_simd(const bn_attn_job *j) {
    int64_t hd = j->head_dim;
    if (!attention_covers(j, VL)) return false;
    if (hd == 128) attention_rows(j, 128); /* BitNet b1.58 2B-4T, LLaMA shapes */
    else attention_rows(j, hd);
    return true;
}
