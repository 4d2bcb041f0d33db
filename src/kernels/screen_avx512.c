/* screen_avx512: the screened LM head's pass over its 8-bit copy (model/head_screen.h) with
 * AVX-512 VNNI (the avx512 and amx tiers): approximate logits and bound radii of a row range.
 * Per 512-weight group: sixteen vpdpwssd of the row's codes (widened to int16) and the token's
 * int16 activations leave block j's exact sum in lane j (the group order of head_screen.h);
 * then one conversion and one FMA by the 16 blocks' d * e, and one FMA for the radius. That is
 * ~2.5 vector instructions per 32 weights, so the pass runs at memory speed. A row at a time,
 * against up to 4 tokens. */
#include <immintrin.h>

#include "kernel_impl.h"
#include "model/head_screen.h"
#include "screen_tile.h"

#define SCREEN_PREFETCH_D 256  /* bytes ahead in its scales */

/* NR rows m[0..NR) times NT tokens (NR * NT <= 4; NR <= 2): approximate logits and radii into
 * a[r * NT + t], rad[r * NT + t]. Each (row, token) sums its groups in the same order whatever
 * NR and NT: the same bits. One row at a time and, with one token on Zen 4, no software
 * prefetch: there (one thread, 2B-4T copy) that read the copy in 14-17 ms against 28-35 ms for
 * 4 rows side by side with a 2 KiB prefetch, and, whole decode steps interleaved in one
 * process, 1-5% faster than the same single row with the prefetch. Zen 5 wants the prefetch
 * (SCREEN_PREFETCH_WHEN). With several tokens (pf) a row takes several times longer, and the
 * hardware prefetcher alone then left the pass stalled on memory. */
BN_INLINE BN_TSAN_UNCHECKED_READS void screen_tile_rows(const bn_head_screen *h, const bn_screen_act *x, const int64_t *m, int NR, int t0,
                                                        int NT, bool pf, float a[4], float rad[4]) {
    /* Accumulators for NR * NT <= 4 used, declared for r * NT + t with r < 2 and t < 4: where
     * this is not inlined (sanitizer builds, kernel_impl.h), gcc's unrolled copies of the loops
     * see run-time NR and NT and warned of indices up to 7 (-Warray-bounds, an error in CI).
     * Inlined with constant shapes, the arrays live in registers whatever their length. */
    enum { SLOTS = 2 * 4 };
    bn_screen_tile tl[2];
BN_UNROLL
    for (int r = 0; r < NR; r++) tl[r] = bn_screen_tile_at(h, x, m[r], t0, NT);
    __m512 acc[SLOTS], racc[SLOTS];
BN_UNROLL
    for (int u = 0; u < NR * NT; u++) acc[u] = racc[u] = _mm512_setzero_ps();
    for (int64_t g = 0; g < h->n_groups; g++) {
        __m512i isum[SLOTS];
BN_UNROLL
        for (int u = 0; u < NR * NT; u++) isum[u] = _mm512_setzero_si512();
        int64_t base = g * BN_SCREEN_GROUP_BYTES;
BN_UNROLL
        for (int r = 0; r < NR; r++)
            if (pf) BN_PREFETCH(tl[r].d + g * BN_SCREEN_GROUP, SCREEN_PREFETCH_D);
BN_UNROLL
        for (int i = 0; i < 16; i++) {
BN_UNROLL
            for (int r = 0; r < NR; r++) {
                if (pf && i % 2 == 0) BN_PREFETCH(tl[r].q + base + 32 * i, BN_PREFETCH_BYTES_HEAD_ROW); /* 8 lines per group, spread */
                __m512i w = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(tl[r].q + base + 32 * i)));
BN_UNROLL
                for (int t = 0; t < NT; t++)
                    isum[r * NT + t] = _mm512_dpwssd_epi32(isum[r * NT + t], w, _mm512_loadu_si512((const void *)(tl[0].xq[t] + base + 32 * i)));
            }
        }
BN_UNROLL
        for (int r = 0; r < NR; r++) {
            __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(tl[r].d + g * BN_SCREEN_GROUP)));
BN_UNROLL
            for (int t = 0; t < NT; t++) {
                int u = r * NT + t;
                __m512 scale = _mm512_mul_ps(dv, _mm512_loadu_ps(tl[r].e[t] + g * BN_SCREEN_GROUP));
                acc[u] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(isum[u]), acc[u]);
                racc[u] = _mm512_fmadd_ps(dv, _mm512_loadu_ps(tl[r].xabs[t] + g * BN_SCREEN_GROUP), racc[u]);
            }
        }
    }
BN_UNROLL
    for (int u = 0; u < NR * NT; u++) {
        a[u] = _mm512_reduce_add_ps(acc[u]);
        rad[u] = _mm512_reduce_add_ps(racc[u]);
    }
}

/* A thread's two row halves side by side for one token (screen_rows.h): two memory streams per
 * thread, on Zen 5 (AMD family 0x1A) only. There (2026-12-07 VM, the 2B-4T copy, one thread, kernel_bench, old
 * and new builds alternating, 3 rounds) the one-token pass took 10.6-11.5 ms against 13.1-14.5 ms
 * one row at a time, and whole generation (bitnet run, 2 threads, 192 greedy tokens, 6 rounds
 * alternating, the same text) ran 1.02-1.11x faster, median 1.07x. Zen 4 not measured: it keeps
 * one row at a time (see screen_tile). */
#define SCREEN_PAIR_WHEN (bn_cpu_amd_family() >= 0x1a)

#define SCREEN_ROW_TOKENS 4
/* Calls of 3 tokens or more, first tile (the other tiles find the rows in L2). One or two
 * tokens stream faster without on Zen 4 (see screen_tile), but one token faster with it on
 * the Intel Xeon VM (avx512, no AMX; one thread, the 2B-4T copy, the avx2 pass timed in the
 * same run as the reference: 1.13-1.14x the avx2 pass's time without, 0.93-1.03x with): so
 * one token prefetches where the heads read 4 rows side by side (bn_cpu_head_rows, the
 * vendor's streaming choice: 1 on AMD). And one or two tokens prefetch on Zen 5 (AMD family
 * 0x1A; 2026-12-05 VM, the 2B-4T copy, with and without alternating call by call in one
 * process, medians of 11-21): one token 0.81-0.85x the time on 2 threads, 0.88-0.91x on one;
 * two tokens 0.87x on 2 threads; whole decode steps interleaved 0.93-0.97x. */
#define SCREEN_PREFETCH_WHEN(n, t0) \
    (((n) >= 3 && (t0) == 0) || ((n) == 1 && bn_cpu_head_rows() == 4) || ((n) <= 2 && bn_cpu_amd_family() >= 0x1a))
#include "screen_rows.h"

void bn_head_screen_rows_avx512(const bn_head_screen *h, const bn_screen_act *x, float *approx, float *radius, int64_t ldy,
                                int64_t m0, int64_t m1) {
    screen_rows(h, x, approx, radius, ldy, m0, m1);
}
