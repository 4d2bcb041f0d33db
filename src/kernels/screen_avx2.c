/* screen_avx2: the screened LM head's pass over its 8-bit copy (model/head_screen.h) with
 * AVX2 + FMA + F16C (the avx2 and avxvnni tiers). The loop of screen_avx512.c at 8 lanes: a
 * 512-weight group is two halves of 8 blocks (bytes 32 i .. 32 i + 15 hold blocks 0-7, the
 * next 16 bytes blocks 8-15); per half, sixteen vpmaddwd + vpaddd of the widened codes and the
 * int16 activations leave block j's exact sum in lane j, then one conversion and one FMA by
 * d * e, one FMA for the radius; both halves are read in the same pass, so that every cache
 * line of a group is used once. One token: one row at a time, one memory stream per thread
 * (2 threads, I2_S 2B-4T shapes, Zen 4 forced to avx2: 2 rows per tile generated at 0.95-1.0x
 * the F16 head's speed, 1 row at 0.91-1.19x, median 1.10x; 5 alternating rounds each); several tokens: one
 * row against 2 tokens at a time (the row stays in L1 for the next pair). */
#include <immintrin.h>

#include "kernel_impl.h"
#include "model/head_screen.h"

#define BN_INLINE static inline __attribute__((always_inline))
#define SCREEN_PREFETCH_D 256  /* bytes ahead in its scales */

/* Row m times NT tokens (NT <= 2): approximate logits and radii into a[t], rad[t]; pf:
 * prefetch the copy ahead (always here, SCREEN_PREFETCH_WHEN below). */
BN_INLINE void screen_tile(const bn_head_screen *h, const bn_screen_act *x, int64_t m, int t0, int NT, bool pf, float a[4],
                           float rad[4]) {
    int64_t row = h->n_groups * BN_SCREEN_GROUP_BYTES, nbp = h->n_groups * BN_SCREEN_GROUP;
    const int8_t *q = h->q + (uint64_t)m * (uint64_t)row;
    const uint16_t *d = h->d + (uint64_t)m * (uint64_t)nbp;
    const int16_t *xq[2];
    const float *e[2], *xabs[2];
    __m256 acc[2], racc[2];
BN_UNROLL
    for (int t = 0; t < NT; t++) {
        xq[t] = x->q + (int64_t)(t0 + t) * row;
        e[t] = x->e + (int64_t)(t0 + t) * nbp;
        xabs[t] = x->xabs + (int64_t)(t0 + t) * nbp;
        acc[t] = racc[t] = _mm256_setzero_ps();
    }
    for (int64_t g = 0; g < h->n_groups; g++) {
        int64_t base = g * BN_SCREEN_GROUP_BYTES;
        __m256i lo[2], hi[2]; /* blocks 0-7 and 8-15 of the group */
        if (pf) BN_PREFETCH(d + g * BN_SCREEN_GROUP, SCREEN_PREFETCH_D);
BN_UNROLL
        for (int t = 0; t < NT; t++) lo[t] = hi[t] = _mm256_setzero_si256();
        /* not unrolled: gcc reassociates 16 unrolled vpaddd chains into a tree of products
         * that no longer fits 16 registers (measured: ~500 spills in the function) */
        for (int i = 0; i < 16; i++) {
            /* the group's 8 lines, prefetched one per two steps (spread, not a burst) */
            if (pf && i % 2 == 0) BN_PREFETCH(q + base + 32 * i, BN_PREFETCH_BYTES_HEAD_ROW);
            const int8_t *p = q + base + 32 * i;
            __m256i wl = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
            __m256i wh = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p + 16)));
BN_UNROLL
            for (int t = 0; t < NT; t++) {
                const int16_t *xp = xq[t] + base + 32 * i;
                lo[t] = _mm256_add_epi32(lo[t], _mm256_madd_epi16(wl, _mm256_loadu_si256((const __m256i *)xp)));
                hi[t] = _mm256_add_epi32(hi[t], _mm256_madd_epi16(wh, _mm256_loadu_si256((const __m256i *)(xp + 16))));
            }
        }
        const uint16_t *dg = d + g * BN_SCREEN_GROUP;
        __m256 dl = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dg)), dh = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(dg + 8)));
BN_UNROLL
        for (int t = 0; t < NT; t++) {
            const float *eg = e[t] + g * BN_SCREEN_GROUP, *xg = xabs[t] + g * BN_SCREEN_GROUP;
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dl, _mm256_loadu_ps(eg)), _mm256_cvtepi32_ps(lo[t]), acc[t]);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dh, _mm256_loadu_ps(eg + 8)), _mm256_cvtepi32_ps(hi[t]), acc[t]);
            racc[t] = _mm256_fmadd_ps(dl, _mm256_loadu_ps(xg), racc[t]);
            racc[t] = _mm256_fmadd_ps(dh, _mm256_loadu_ps(xg + 8), racc[t]);
        }
    }
BN_UNROLL
    for (int t = 0; t < NT; t++) {
        a[t] = bn_hsum8(acc[t]);
        rad[t] = bn_hsum8(racc[t]);
    }
}

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
