/* head_screen: the screened LM head. Generation reads the whole head for every token (the
 * 2B-4T tied F16 head is 128256 x 2560 x 2 bytes = 657 MB, more than all ternary weights),
 * yet sampling only needs the few rows that can win. The screen keeps an 8-bit copy of the
 * head with a rigorous error bound per row, and:
 *   1. computes every row's approximate logit A_i and bound radius R_i from the copy
 *      (1.0625 bytes per weight instead of 2);
 *   2. keeps the candidates: rows whose upper bound A_i + r_i reaches the k-th largest lower
 *      bound A_j - r_j (r = c * R, c below); no other row can be among the k largest logits;
 *   3. recomputes the candidates from the original head with the kernel the plain head uses
 *      (bit-identical logits) and masks every other row with -inf.
 * Greedy decoding and top-k sampling then pick exactly what the plain head picks.
 *
 * The copy: per row m and 32-block b, codes q_mb[32] (int8) and a scale d_mb (f16) rounded UP
 * from max|w|/127, so that |w/d| <= 127 and round-to-nearest gives |w - q d| <= d / 2 with no
 * clipping (computed in float: <= (d / 2)(1 + 2^-14)). The activations of a token are quantized too, to int16 per 32-block (scale
 * e_b = max|x| / 32767, |x - e q| <= e / 2), so that a block's dot product is exact integer
 * work (int8 x int16 pairs: vpdpwssd / vpmaddwd) and the float work is one scale per block.
 *
 * Layout ("screen groups"): blocks are taken 16 at a time (a 512-weight group; the last group
 * of a row padded with zero blocks, scale 0). Within group g, byte 32 i + 2 j + e holds weight
 * 32 (16 g + j) + 2 i + e (pair i = 0..15 of block j = 0..15, element e = 0..1), so that
 * 32-bit lane j of the i-th 64-byte vector (after widening to int16) holds a pair of block j:
 * sixteen multiply-adds leave every block's exact sum in its own lane, with no horizontal
 * sums. The activations use the same order (int16). Rows: q [M][n_groups * 512] int8,
 * d [M][n_groups * 16] f16.
 *
 * The bound (docs/KERNELS.md, "The screened LM head", derives it): with X_b = sum over block b
 * of |x_k|, X'_b = X_b + 4064 (1 + 2^-10) e_b (the activation rounding: 32 weights of at most
 * 127 d_b, each times at most e_b / 2) and R_m = sum_b d_mb X'_b, the plain head's float logit
 * L_m and the screened float logit A_m satisfy |L_m - A_m| <= c * R_m with
 *     c = ((1 + 2^-14) / 2 + 254 g) / (1 - g) * (1 + 2^-40),   g = K u / (1 - K u),  u = 2^-24:
 * (1 + 2^-14) / 2 from the rounding of the weights, 127 g for each of the two float dot products (any
 * summation order with at most K roundings per term; |w| <= 127 d), 1 - g for the float
 * rounding of R itself. The selection adds 2^-40 |A_m| to cover its own double arithmetic. */
#ifndef BITNET_HEAD_SCREEN_H
#define BITNET_HEAD_SCREEN_H

#include <stdint.h>

#include "kernels/cpu.h"
#include "model/linear.h"
#include "model/threadpool.h"

#define BN_SCREEN_BLOCK 32
/* The largest k a screened row serves (top-k sampling beyond it uses the whole head). */
#define BN_SCREEN_MAX_K 1024

#define BN_SCREEN_GROUP 16        /* blocks per group */
#define BN_SCREEN_GROUP_BYTES 512 /* codes per group */

typedef struct bn_head_screen {
    int64_t M, K, nb;         /* rows (vocabulary), inputs, 32-blocks per row (K / 32) */
    int64_t n_groups;         /* ceil(nb / 16) */
    int8_t *q;                /* [M][n_groups * 512] codes in the group order, 64-byte aligned */
    uint16_t *d;              /* [M][n_groups * 16] f16 block scales (0 for padding) */
    uint64_t bytes;           /* q + d: what the screening pass reads per token */
    uint64_t q_bytes;         /* q's size (its huge-page mapping, bn_malloc_large) */
    double c;                 /* the bound factor above, for this K */
} bn_head_screen;

/* n tokens' activations as the kernels read them (bn_head_screen_prepare). */
typedef struct bn_screen_act {
    int n;
    const int16_t *q;         /* [n][n_groups * 512] in the group order */
    const float *e;           /* [n][n_groups * 16] block scales (0 for padding) */
    const float *xabs;        /* [n][n_groups * 16] X'_b */
} bn_screen_act;

/* Approximate logits and bound radii of rows [m0, m1) for the tokens of a:
 *   approx[t * ldy + m] = sum_b (d_mb e_tb) isum_tmb,  isum = sum over the block of q_m q_t
 *   radius[t * ldy + m] = sum_b d_mb xabs_tb
 * (exact integer block sums; float combination in any order). */
typedef void (*bn_screen_kernel)(const bn_head_screen *h, const bn_screen_act *a, float *approx, float *radius, int64_t ldy,
                                 int64_t m0, int64_t m1);

/* True when `w` can be screened: F32/F16/BF16, K a multiple of 32, no output scale. */
bool bn_head_screen_supported(const bn_linear *w, const char **why);
/* Builds the copy of `w`'s rows [m0, m1) into h (allocated by bn_head_screen_alloc for w's
 * shape); callable on disjoint ranges from several threads. f16: NULL, or the table of
 * bn_head_screen_f16_table (every f16 as a float; F16 heads convert through it). row_tmp: K
 * floats. Returns 0, or a negative status when a block's scale does not fit an f16
 * (|w| > 8.3e6) or a weight is not finite. */
bn_head_screen *bn_head_screen_alloc(const bn_linear *w);
float *bn_head_screen_f16_table(void); /* 65536 floats (free()), or NULL when out of memory */
int bn_head_screen_fill(bn_head_screen *h, const bn_linear *w, int64_t m0, int64_t m1, const float *f16, float *row_tmp);
void bn_head_screen_free(bn_head_screen *h); /* NULL ok */

/* The fill of an F16 head's rows in a tier's instructions (src/kernels/screen_<isa>.c), giving
 * the bytes of the portable code:
 *   amax(w, nb, amax)                 amax[b] = max |w| over block b of the row's nb blocks;
 *                                     false when a weight is not finite
 *   quantize(w, nb, n_groups, inv, q) q [n_groups * 512] in the group order: block b's codes
 *                                     round-to-nearest-even(w * inv[b]) in float, padding 0
 * bn_head_screen_fill uses the active tier's (where they are NULL, and for F32/BF16 heads, the
 * portable code); bn_head_screen_fill_with takes them as given (NULL: the portable code). */
typedef struct bn_screen_fill_f16 {
    bool (*amax)(const uint16_t *w, int64_t nb, float *amax);
    void (*quantize)(const uint16_t *w, int64_t nb, int64_t n_groups, const float *inv, int8_t *q);
} bn_screen_fill_f16;
int bn_head_screen_fill_with(bn_head_screen *h, const bn_linear *w, int64_t m0, int64_t m1, const float *f16, float *row_tmp,
                             const bn_screen_fill_f16 *k);
bn_screen_fill_f16 bn_head_screen_fill_kernels_for_tier(bn_cpu_tier t); /* {NULL, NULL} where the tier has none */
bool bn_head_screen_amax_f16_avx2(const uint16_t *w, int64_t nb, float *amax);
void bn_head_screen_quantize_f16_avx2(const uint16_t *w, int64_t nb, int64_t n_groups, const float *inv, int8_t *q);

/* The bound factor c for K inputs (see above). */
double bn_head_screen_factor(int64_t K);
/* Quantizes one token's x [K] into q [n_groups * 512], e and xabs [n_groups * 16] (layouts
 * above). False when a value of x is not finite (nothing can be bounded: use the plain head). */
bool bn_head_screen_prepare(const bn_head_screen *h, const float *x, int16_t *q, float *e, float *xabs);

/* The portable reference kernel; the tier kernels (src/kernels/screen_<isa>.c); the kernel
 * of tier `t` (cpu.h; kernels/dispatch.c: the portable one where a tier has none). */
void bn_head_screen_rows_ref(const bn_head_screen *h, const bn_screen_act *a, float *approx, float *radius, int64_t ldy,
                             int64_t m0, int64_t m1);
void bn_head_screen_rows_avx2(const bn_head_screen *h, const bn_screen_act *a, float *approx, float *radius, int64_t ldy,
                              int64_t m0, int64_t m1);
void bn_head_screen_rows_avx512(const bn_head_screen *h, const bn_screen_act *a, float *approx, float *radius, int64_t ldy,
                                int64_t m0, int64_t m1);
void bn_head_screen_rows_neon(const bn_head_screen *h, const bn_screen_act *a, float *approx, float *radius, int64_t ldy,
                              int64_t m0, int64_t m1);
bn_screen_kernel bn_head_screen_kernel_for_tier(bn_cpu_tier t);
/* True when --lm-head auto screens at tier t: an x86 tier with a kernel of its own for the
 * pass (measured faster than the plain head on every x86 CPU this project ran), or the scalar
 * tier (where the portable pass reads half the bytes of the portable plain head). The aarch64
 * tiers have a NEON pass (screen_neon.c: fewer operations and half the bytes of the NEON plain
 * head, tested under emulation), but its speed has not been measured on ARM hardware, so auto
 * keeps the plain head there; --lm-head screen uses it. */
bool bn_head_screen_by_default(bn_cpu_tier t);

/* The largest lower and upper bound of rows [m0, m1) of one token's approx and radius, computed
 * as bn_head_screen_select computes them (both NAN when a value is not finite). The pass
 * summarizes each unit of BN_SCREEN_UNIT rows while its values are in cache, so that the
 * selection, which runs on one thread, skips the units that cannot change its result (on
 * 2B-4T shapes its two scans over all rows took ~0.4 ms of a ~36 ms decode step). */
#define BN_SCREEN_UNIT 256
typedef struct bn_screen_unit {
    double lo, hi;
} bn_screen_unit;
void bn_head_screen_unit(const bn_head_screen *h, const float *approx, const float *radius, int64_t m0, int64_t m1,
                         bn_screen_unit *u);

/* Candidates of one token from its approx[M] and radius[M]: the ids of the rows whose upper
 * bound reaches the k-th largest lower bound, in increasing order, into cand[0 .. cap).
 * Returns their count (>= k), or -1 when there are more than cap, k is outside
 * [1, min(M, cap, BN_SCREEN_MAX_K)], or a value is not finite (the caller then computes the whole head).
 * units: NULL, or summaries of rows [u BN_SCREEN_UNIT, (u + 1) BN_SCREEN_UNIT) for every u
 * (bn_head_screen_unit, or anything at least as large: rows lowered after their unit was
 * summarized are fine); the result is the same, found without reading the rows of units whose
 * bounds lie below the ones that decide it. A NAN summary makes it -1. */
int bn_head_screen_select(const bn_head_screen *h, const float *approx, const float *radius, const bn_screen_unit *units, int k,
                          int32_t *cand, int cap);

/* ---- evaluation (used by forward.c) ---- */

/* How a logits row may be computed. k >= 1: exact logits for every token that can be among the
 * k largest, and for the `force` ids (tokens whose logits the sampler changes before it
 * selects: the biased and penalized ones), -inf for every other token. The k-th largest lower
 * bound is taken over the other tokens only, so that whatever the bias and penalties do to the forced ones,
 * the top k after them is among what is computed.
 * gumbel (with k = 1): also every token that can win the sampler's draw with this key at this
 * temperature (text/sampler.h, gumbel.h) among the tokens min_p keeps (min_p <= 0: all):
 * the candidates of k = 1 hold the largest logit, which fixes min_p's threshold and a first
 * value to beat; every other row whose upper bound passes the threshold and whose noise can
 * lift its upper bound / T to that value is computed too. min_p with forced ids is not
 * screened (their biased or penalized logits, unknown here, move the threshold). */
typedef struct bn_head_req {
    int k;
    const int32_t *force;
    int n_force;
    bool gumbel;
    uint64_t key;
    float temperature, min_p;
    /* NULL, or a check of the finished row y [M] (computed as above): false makes the plain
     * head compute the whole row (a constraint whose mask the row's best tokens do not
     * settle, api_generate.c) */
    bool (*settles)(void *ctx, const float *y);
    void *settles_ctx;
} bn_head_req;

/* Counters since the state was created: rows screened, their candidates (summed), rows that
 * fell back to the plain head (too many candidates, or refused by req->settles), rows
 * computed by the plain head because the caller wanted every logit. */
typedef struct bn_head_stats {
    uint64_t screened, candidates, fallbacks, plain;
} bn_head_stats;

/* Scratch of one state: up to BN_SCREEN_ROWS tokens per pass. */
#define BN_SCREEN_ROWS 8
typedef struct bn_screen_ctx bn_screen_ctx;
bn_screen_ctx *bn_screen_ctx_new(const bn_head_screen *h, uint64_t *bytes);
void bn_screen_ctx_free(bn_screen_ctx *c); /* NULL ok */
bn_head_stats *bn_screen_ctx_stats(bn_screen_ctx *c);

/* Logits rows y[i * M ..] of n <= BN_SCREEN_ROWS tokens x [n][K] as reqs[i] asks, with the
 * plain head `plain` for the exact rows (row_tmp: bn_linear_row_scratch_bytes of it). The pass
 * over the copy runs on `pool` (NULL: this thread). Rows whose candidates exceed the budget
 * and rows req->settles refuses are left to the caller: fallback[i] is set, and their y row
 * is unspecified. */
void bn_head_screen_eval(bn_screen_ctx *c, const bn_linear *plain, bn_threadpool *pool, void *row_tmp, const float *x,
                         int n, const bn_head_req *const *reqs, float *y, bool *fallback);

#endif
