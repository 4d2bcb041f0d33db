/* ternary_dotprod: the 128-bit aarch64 ternary kernels (ternary_neon.h) with SDOT by element
 * (ARMv8.2-A dot product, compiled with -march=armv8.2-a+dotprod): 4 int8 x int8 products
 * added straight into each int32 lane, the activations taken from lane P of a plain load.
 * Bound: a lane gains at most 16 steps x 4 x 2 x 128 = 2^14 per chunk, |sum c q| <= 256 K
 * overall: exact in int32 for any K below 2^23, so the fold does nothing. Float weights use
 * the NEON kernels (float_neon.c). */
#include <arm_neon.h>

#include "kernels/kernel_impl.h"

typedef int32x4_t acc_t;
#define ACC_ZERO(a) ((a) = vdupq_n_s32(0))
#define ACC_STEP(a, f, qv, P) ((a) = vdotq_laneq_s32((a), (f), (qv), (P)))
#define ACC_FOLD(a) ((void)(a))
#define ACC_ROWS(a) (a)
#define FOLD_CHUNKS 4096
/* Tokens per register block: 8 accumulators + 16 activation vectors + the code vector and its
 * 4 fields slightly exceed the 32 registers (gcc 12 spills ~16 values per half chunk to L1;
 * 3 tokens would not: untimed, docs/KERNELS.md). */
#define GROUP_MAX 4
#define KFN(name) ternary_##name##_dotprod
#include "ternary_neon.h"

const bn_kernel_table bn_kernels_dotprod = {
    BN_TIER_DOTPROD, "dotprod", ternary_token_dotprod, ternary_q8k_dotprod, bn_float_rows_neon, NULL,
};
