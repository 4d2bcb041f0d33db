/* gumbel: the noise of the sampler's draw, shared by the sampler (text/sampler.c) and the
 * screened LM head (model/head_screen.c), which must agree on it bit for bit.
 *
 * A draw from softmax(L / T) over a set of tokens is the token with the largest
 *     v_i = L_i / T + G_i     (in double; ties -> the lower id)
 * where the G_i are independent Gumbel(0, 1) numbers (the Gumbel-max trick: exact, not an
 * approximation). G_i here is a function of the draw's 64-bit key and the token id alone
 * (counter-based, no state), so that a draw over the whole vocabulary and a draw over the few
 * rows that can win give the same token. Most rows cannot win: with u_i the row's uniform
 * number, G_i <= -ln(1 - u_i) (as -ln u >= 1 - u), so a row whose gap tau - L_i / T to the
 * best value so far is g can only reach it when 1 - u_i <= e^-g: a hash and an integer
 * comparison rule out all but ~2 e^-g of the rows, without a logarithm (bn_gumbel_may_reach). */
#ifndef BITNET_GUMBEL_H
#define BITNET_GUMBEL_H

#include <stdbool.h>
#include <stdint.h>

/* The top 52 bits of splitmix64's finalizer over key + (id + 1) x the golden ratio:
 * consecutive ids give unrelated outputs. */
static inline uint64_t bn_gumbel_bits(uint64_t key, int32_t id) {
    uint64_t z = key + (uint64_t)((int64_t)id + 1) * UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return (z ^ (z >> 31)) >> 12;
}

/* G(key, id) = -ln(-ln u), u = (2 h + 1) / 2^53 with h = bn_gumbel_bits(key, id) (exact in
 * double, in (0, 1)); -3.6 < G < 36.8. */
double bn_gumbel(uint64_t key, int32_t id);

/* The gap a row with value l (= logit / T, or an upper bound of it) must close to reach the
 * best value `top`, less a slack of 1e-9 (1 + |top| + |l|) far above the rounding of these
 * doubles, so that a row ruled out by it stays out whatever that rounding. */
static inline double bn_gumbel_gap(double top, double l) {
    double slack = 1e-9 * (1.0 + (top < 0 ? -top : top) + (l < 0 ? -l : l));
    return top - l - slack;
}

/* False when G(key, id) < gap for certain; true when it may not be (the caller then computes
 * bn_gumbel). One hash, no logarithm: with n = floor(gap / ln 2) (a little low), 2^-n >=
 * e^-gap, and G <= -ln(1 - u) < gap whenever 1 - u > 2^-n, which compares integers. */
static inline bool bn_gumbel_may_reach(uint64_t key, int32_t id, double gap) {
    if (!(gap > 0.0)) return true; /* NaN too */
    double n = gap * 1.4426950408889634 * (1.0 - 1e-12); /* truncated below: floor, as n > 0 */
    if (n >= 54.0) return false;                          /* 1 - u >= 2^-53 > 2^-n */
    uint64_t one_minus_u = (UINT64_C(1) << 53) - 2 * bn_gumbel_bits(key, id) - 1; /* (1 - u) 2^53, exact */
    return one_minus_u <= (UINT64_C(1) << (53 - (int)n));
}

#endif
