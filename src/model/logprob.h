/* logprob: the passes over one row of logits that log-probabilities need (the server's
 * OpenAI `logprobs` / `top_logprobs` and echo's prompt scores: one row of n_vocab floats per
 * token, on the engine thread that runs every slot): the log-sum-exp, log-softmax's
 * normalizer, and the scan behind the top-n list. The portable code (logprob.c) is the
 * reference; the AVX2 code (src/kernels/logprob_avx2.c, avx2 and avxvnni tiers), the AVX-512
 * code (logprob_avx512.c, avx512 and amx) and the NEON code (logprob_neon.c, neon and dotprod)
 * are one template, src/kernels/logprob_simd.h. Why: the server's scalar pass over a
 * 128256-float row (the LLaMA-3 vocabulary) took ~0.6 ms a token, 0.44 of it libm's exp
 * (docs/KERNELS.md has the measurements).
 *
 * lse(x, n) = log(sum_i exp(x_i)), i < n, computed as m + log(s) with m = max_i x_i and
 * s = sum_i exp(x_i - m) (each term in [0, 1], one of them 1: no overflow, s in [1, n]):
 *   reference   exp((double)(x_i - m)) summed in double in index order, then
 *               m + (float)log(s) (the server's formula before this module)
 *   SIMD tiers  exp_<isa>.h's float polynomial (a few ulp; its argument clamped below at
 *               -87.3 (avx2) or -104, so a term below ~1e-38 may be that instead of 0),
 *               summed in float in blocks of BN_LOGPROB_BLOCK values: value i of a block goes
 *               to lane i % VL of accumulator (i / VL) % 4, so a float chain adds at most
 *               256 / (4 VL) terms (16 at NEON, 8 at AVX2, 4 at AVX-512); the accumulators are
 *               added as (a0 + a1) + (a2 + a3) and the block's lanes, converted exactly, go
 *               to a double total (its roundings are 2^-53: nothing at these sizes). A block's
 *               relative error is then at most about (16 + 2 + 3) 2^-24 ~ 1.3e-6 (chain,
 *               combine, polynomial), and so is s's: log(s) is within ~1.3e-6 of the
 *               reference's. Both then round log(s) to float (apart by at most an ulp of
 *               log(s) <= log(n): 9.5e-7 for n < 8.8 million) and m + log(s) (an ulp of the
 *               result, 1.2e-7 |result|).
 *   tested      |simd - reference| <= 4e-6 + 2.5e-7 |reference| (tests/unit/test_logprob.c at
 *               every tier this CPU has, lengths 1 .. 128256, extreme rows; worst seen:
 *               9.5e-7 avx2, 1.0e-7 avx512, 1.9e-7 neon under qemu)
 * Non-finite values, the same on every tier: -inf terms count 0; a NaN anywhere gives NaN; else
 * +inf anywhere gives +inf, and a row of only -inf (or n == 0) gives -inf (the reference's
 * formula alone would give NaN for both). The result depends only on the row and the tier.
 *
 * next_above(x, i, n, t): the least j in [i, n) with x[j] > t (NaN never is), else n; exact
 * on every tier. bn_logprob_top builds the top-n list on it. */
#ifndef BITNET_LOGPROB_H
#define BITNET_LOGPROB_H

#include <stdint.h>

#include "kernels/cpu.h"

/* Values per block of the SIMD sum of exps (above): a multiple of 4 VL for VL <= 16. */
#define BN_LOGPROB_BLOCK 256

typedef struct bn_logprob_ops {
    const char *name;
    /* log(sum_i exp(x[i])), i < n, n >= 0 (numerics and non-finite values above) */
    float (*lse)(const float *x, int64_t n);
    /* the least j in [i, n) with x[j] > t, else n (0 <= i <= n) */
    int64_t (*next_above)(const float *x, int64_t i, int64_t n, float t);
} bn_logprob_ops;

extern const bn_logprob_ops bn_logprob_portable;
/* The ops of tier t when the CPU has it: AVX2 code at avx2 and avxvnni, AVX-512 code at
 * avx512 and amx, NEON code at the aarch64 tiers; else the portable code. */
const bn_logprob_ops *bn_logprob_for_tier(bn_cpu_tier t);

/* The k (>= 0) greatest values of x[0 .. n) in decreasing order, ties to the lower index,
 * NaN never taken: their indices in id[], values in val[] (room for k each); returns how many
 * (min(k, the non-NaN values)). Once k values are held it moves on by ops->next_above with
 * the k-th as the threshold, so a row in random order costs about one scan plus
 * ~k log(n / k) insertions. */
int bn_logprob_top(const bn_logprob_ops *ops, const float *x, int64_t n, int k, int32_t *id, float *val);

/* The SIMD tiers' lse for a row whose max m (NaN skipped) is not finite: NaN when x has one,
 * else m (+inf, or -inf for a row of -inf or an empty one). The reference's too. */
float bn_logprob_lse_nonfinite(const float *x, int64_t n, float m);

/* The tier entry points (src/kernels/logprob_<isa>.c, through logprob_simd.h). */
float bn_logprob_lse_avx2(const float *x, int64_t n);
int64_t bn_logprob_next_above_avx2(const float *x, int64_t i, int64_t n, float t);
float bn_logprob_lse_avx512(const float *x, int64_t n);
int64_t bn_logprob_next_above_avx512(const float *x, int64_t i, int64_t n, float t);
float bn_logprob_lse_neon(const float *x, int64_t n);
int64_t bn_logprob_next_above_neon(const float *x, int64_t i, int64_t n, float t);

#endif
