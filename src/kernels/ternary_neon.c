/* ternary_neon: the 128-bit aarch64 ternary kernels (ternary_neon.h) with baseline Advanced
 * SIMD (ARMv8.0-A, no dot-product instructions). A 4-way dot step is SMLAL + SMLAL2 of the 16
 * codes against lane P of the activations broadcast (DUP): 16 int16 products added into two
 * int16x8 partial sums, lane = (row, input position). Every FOLD_CHUNKS chunks SADALP folds
 * adjacent int16 lanes into int32 partials (2 per row); ACC_ROWS adds each row's pair (ADDP).
 * int16 bound: codes c <= 2, q in [-128, 127], so a product is in [-256, 254]; a lane gains
 * 16 products per chunk (4 groups p x 4 fields s), 64 over FOLD_CHUNKS = 4 chunks:
 * |partial| <= 16384, exact in int16. The int32 partials hold at most 256 K / 2. */
#include <arm_neon.h>

#include "kernels/kernel_impl.h"

typedef struct acc_t {
    int16x8_t lo, hi; /* rows 4g, 4g+1 (lo) and 4g+2, 4g+3 (hi), 4 input positions each */
    int32x4_t wlo, whi;
} acc_t;

#define ACC_ZERO(a) ((a).lo = (a).hi = vdupq_n_s16(0), (a).wlo = (a).whi = vdupq_n_s32(0))
#define ACC_STEP(a, f, qv, P)                                                                    \
    do {                                                                                         \
        int8x16_t qb_ = vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(qv), (P))); \
        (a).lo = vmlal_s8((a).lo, vget_low_s8(f), vget_low_s8(qb_));                             \
        (a).hi = vmlal_high_s8((a).hi, (f), qb_);                                                \
    } while (0)
#define ACC_FOLD(a) ((a).wlo = vpadalq_s16((a).wlo, (a).lo), (a).whi = vpadalq_s16((a).whi, (a).hi), \
                     (a).lo = (a).hi = vdupq_n_s16(0))
#define ACC_ROWS(a) vpaddq_s32((a).wlo, (a).whi)
#define FOLD_CHUNKS 4
#define GROUP_MAX 2 /* 2 tokens x 2 quads x 4 partials + 8 activation vectors + codes (some spills) */
#define KFN(name) ternary_##name##_neon
#include "ternary_neon.h"

const bn_kernel_table bn_kernels_neon = {
    BN_TIER_NEON, "neon", ternary_token_neon, ternary_q8k_neon, bn_float_rows_neon, NULL,
};
