/* screen_avx2: the screened LM head's pass over its 8-bit copy (model/head_screen.h) with
 * AVX2 + FMA + F16C (the avx2 and avxvnni tiers). The loop of screen_avx512.c at 8 lanes: a
 * 512-weight group is two halves of 8 blocks (bytes 32 i .. 32 i + 15 hold blocks 0-7, the
 * next 16 bytes blocks 8-15); per half, sixteen vpmaddwd + vpaddd of the widened codes and the
 * int16 activations leave block j's exact sum in lane j, then one conversion and one FMA by
 * d * e, one FMA for the radius; both halves are read in the same pass, so that every cache
 * line of a group is used once. One token: one row at a time, one memory stream per thread
 * (2 threads, I2_S 2B-4T shapes, Zen 4 forced to avx2: 2 adjacent rows per tile generated at
 * 0.95-1.0x the F16 head's speed, 1 row at 0.91-1.19x, median 1.10x; 5 alternating rounds
 * each), except on AMD (bn_cpu_head_rows 1), where the two halves of a thread's rows are read
 * side by side (screen_rows.h's screen_rows_in_pairs: two streams; Zen 3 VM, 2026-12-07, old and new binaries
 * alternating over 8 rounds, whole decode steps interleaved with the F16 head's: the screened
 * head 1.17-1.25x -> 1.28-1.40x the F16 head, medians 1.24x -> 1.32x). Several tokens: one row
 * against 2 tokens at a time (the row stays in L1 for the next pair).
 * Also the copy's fill from an F16 head (bn_screen_fill_f16, every x86 tier) at the end. */
#include <float.h>
#include <immintrin.h>
#include <string.h>

#include "kernel_impl.h"
#include "model/head_screen.h"
#include "screen_tile.h"

#define SCREEN_PREFETCH_D 256  /* bytes ahead in its scales */

/* NR rows m[0..NR) times NT tokens (NR * NT <= 2): approximate logits and radii into
 * a[r * NT + t], rad[r * NT + t]; pf: prefetch the copy ahead (always here,
 * SCREEN_PREFETCH_WHEN below). Each (row, token) sums its groups in the same order whatever NR
 * and NT: the same bits. */
BN_INLINE BN_TSAN_UNCHECKED_READS void screen_tile_rows(const bn_head_screen *h, const bn_screen_act *x, const int64_t *m, int NR, int t0,
                                                        int NT, bool pf, float a[4], float rad[4]) {
    bn_screen_tile tl[2];
BN_UNROLL
    for (int r = 0; r < NR; r++) tl[r] = bn_screen_tile_at(h, x, m[r], t0, NT);
    /* 4 slots for NR * NT <= 2: gcc's -Warray-bounds under ASan sees r * NT + t up to 3 */
    __m256 acc[4], racc[4];
BN_UNROLL
    for (int u = 0; u < NR * NT; u++) acc[u] = racc[u] = _mm256_setzero_ps();
    for (int64_t g = 0; g < h->n_groups; g++) {
        int64_t base = g * BN_SCREEN_GROUP_BYTES;
        __m256i lo[4], hi[4]; /* blocks 0-7 and 8-15 of the group, per (row, token) */
BN_UNROLL
        for (int r = 0; r < NR; r++)
            if (pf) BN_PREFETCH(tl[r].d + g * BN_SCREEN_GROUP, SCREEN_PREFETCH_D);
BN_UNROLL
        for (int u = 0; u < NR * NT; u++) lo[u] = hi[u] = _mm256_setzero_si256();
        /* not unrolled: gcc reassociates 16 unrolled vpaddd chains into a tree of products
         * that no longer fits 16 registers (measured: ~500 spills in the function) */
        for (int i = 0; i < 16; i++) {
            __m256i wl[2], wh[2];
BN_UNROLL
            for (int r = 0; r < NR; r++) {
                /* the group's 8 lines, prefetched one per two steps (spread, not a burst) */
                if (pf && i % 2 == 0) BN_PREFETCH(tl[r].q + base + 32 * i, BN_PREFETCH_BYTES_HEAD_ROW);
                const int8_t *p = tl[r].q + base + 32 * i;
                wl[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
                wh[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 16)));
            }
BN_UNROLL
            for (int t = 0; t < NT; t++) {
                const int16_t *xp = tl[0].xq[t] + base + 32 * i;
                __m256i xl = _mm256_loadu_si256((const __m256i *)xp), xh = _mm256_loadu_si256((const __m256i *)(xp + 16));
BN_UNROLL
                for (int r = 0; r < NR; r++) {
                    lo[r * NT + t] = _mm256_add_epi32(lo[r * NT + t], _mm256_madd_epi16(wl[r], xl));
                    hi[r * NT + t] = _mm256_add_epi32(hi[r * NT + t], _mm256_madd_epi16(wh[r], xh));
                }
            }
        }
BN_UNROLL
        for (int r = 0; r < NR; r++) {
            const uint16_t *dg = tl[r].d + g * BN_SCREEN_GROUP;
            __m256 dl = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dg)), dh = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(dg + 8)));
BN_UNROLL
            for (int t = 0; t < NT; t++) {
                int u = r * NT + t;
                const float *eg = tl[r].e[t] + g * BN_SCREEN_GROUP, *xg = tl[r].xabs[t] + g * BN_SCREEN_GROUP;
                acc[u] = _mm256_fmadd_ps(_mm256_mul_ps(dl, _mm256_loadu_ps(eg)), _mm256_cvtepi32_ps(lo[u]), acc[u]);
                acc[u] = _mm256_fmadd_ps(_mm256_mul_ps(dh, _mm256_loadu_ps(eg + 8)), _mm256_cvtepi32_ps(hi[u]), acc[u]);
                racc[u] = _mm256_fmadd_ps(dl, _mm256_loadu_ps(xg), racc[u]);
                racc[u] = _mm256_fmadd_ps(dh, _mm256_loadu_ps(xg + 8), racc[u]);
            }
        }
    }
BN_UNROLL
    for (int u = 0; u < NR * NT; u++) {
        a[u] = bn_hsum8(acc[u]);
        rad[u] = bn_hsum8(racc[u]);
    }
}

/* A thread's two row halves side by side for one token (screen_rows.h): two memory streams per
 * thread, on AMD. */
#define SCREEN_PAIR_WHEN (bn_cpu_head_rows() == 1)

#define SCREEN_ROW_TOKENS 2
/* Always: with one token a single row streams faster with the prefetch here, and with several
 * (both drivers alternating, 2 threads, the 2B-4T copy) 2 tokens took 0.84-0.96x the time, 4
 * tokens 0.73-0.80x, 8 tokens 0.75-0.90x with it (and the row blocks of screen_rows.h). */
#define SCREEN_PREFETCH_WHEN(n, t0) true
#include "screen_rows.h"

void bn_head_screen_rows_avx2(const bn_head_screen *h, const bn_screen_act *x, float *approx, float *radius, int64_t ldy,
                              int64_t m0, int64_t m1) {
    screen_rows(h, x, approx, radius, ldy, m0, m1);
}

/* ---- the copy's fill from an F16 head (head_screen.h, bn_screen_fill_f16) ---- */

BN_INLINE __m256 load8_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

bool bn_head_screen_amax_f16_avx2(const uint16_t *w, int64_t nb, float *amax) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), finite_max = _mm256_set1_ps(FLT_MAX);
    __m256 bad = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            __m256 a = _mm256_and_ps(load8_f16(w + 32 * b + 8 * i), abs_mask);
            bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, finite_max, _CMP_NLE_UQ)); /* inf, or NaN (unordered) */
            m = _mm256_max_ps(m, a);
        }
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        amax[b] = _mm_cvtss_f32(h); /* the largest |w|: the same whatever the order */
    }
    return _mm256_movemask_ps(bad) == 0;
}

/* The 8 x 8 transpose of 16-bit units in each 128-bit lane of rows r[0..7]: c[k] lane 0 holds
 * unit k of every row, lane 1 unit k + 8. */
BN_INLINE void transpose8_lanes(const __m256i r[8], __m256i c[8]) {
    __m256i a[8], b[8];
    for (int i = 0; i < 4; i++) {
        a[2 * i] = _mm256_unpacklo_epi16(r[2 * i], r[2 * i + 1]);     /* units 0-3 of rows 2i, 2i+1 */
        a[2 * i + 1] = _mm256_unpackhi_epi16(r[2 * i], r[2 * i + 1]); /* units 4-7 */
    }
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 2; i++) { /* rows 4h .. 4h+3: units 4i, 4i+1 and 4i+2, 4i+3 */
            b[4 * h + 2 * i] = _mm256_unpacklo_epi32(a[4 * h + i], a[4 * h + i + 2]);
            b[4 * h + 2 * i + 1] = _mm256_unpackhi_epi32(a[4 * h + i], a[4 * h + i + 2]);
        }
    for (int k = 0; k < 4; k++) { /* b[k]: units 2k, 2k+1 of rows 0-3; b[k + 4] of rows 4-7 */
        c[2 * k] = _mm256_unpacklo_epi64(b[k], b[k + 4]);
        c[2 * k + 1] = _mm256_unpackhi_epi64(b[k], b[k + 4]);
    }
}

/* Per group: each block's 32 codes as one vector of 16 pairs (int16 units), then the 16 x 16
 * transpose into the group order (unit 16 i + j of the group = pair i of block j). The codes:
 * w * inv[b] in float, rounded to nearest even by vcvtps2dq (the default rounding mode, as the
 * portable code's add-and-subtract of 1.5 x 2^23), |code| <= 127 so the packs never saturate. */
void bn_head_screen_quantize_f16_avx2(const uint16_t *w, int64_t nb, int64_t n_groups, const float *inv, int8_t *q) {
    const __m256i pack_order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7); /* undoes the packs' lane interleave */
    for (int64_t g = 0; g < n_groups; g++) {
        __m256i blk[BN_SCREEN_GROUP], lo[8], hi[8];
        for (int j = 0; j < BN_SCREEN_GROUP; j++) {
            int64_t b = g * BN_SCREEN_GROUP + j;
            if (b >= nb) {
                blk[j] = _mm256_setzero_si256();
                continue;
            }
            __m256 s = _mm256_set1_ps(inv[b]);
            __m256i c[4];
            for (int i = 0; i < 4; i++) c[i] = _mm256_cvtps_epi32(_mm256_mul_ps(load8_f16(w + 32 * b + 8 * i), s));
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
            blk[j] = _mm256_permutevar8x32_epi32(p, pack_order);
        }
        transpose8_lanes(blk, lo);     /* blocks 0-7 */
        transpose8_lanes(blk + 8, hi); /* blocks 8-15 */
        __m256i *dst = (__m256i *)(q + g * BN_SCREEN_GROUP_BYTES);
        for (int i = 0; i < 8; i++) {
            _mm256_storeu_si256(dst + i, _mm256_permute2x128_si256(lo[i], hi[i], 0x20));     /* pair i of blocks 0-15 */
            _mm256_storeu_si256(dst + i + 8, _mm256_permute2x128_si256(lo[i], hi[i], 0x31)); /* pair i + 8 */
        }
    }
}
