/* screen_neon: the screened LM head's pass over its 8-bit copy (model/head_screen.h) with NEON
 * (both aarch64 tiers). In the group order, the 32 bytes of step i hold pair i of blocks 0-15
 * (byte 2 j + e: block j, element e); widened to int16 they are four int16x8 vectors of four
 * blocks each. SMLAL / SMLAL2 of each against the token's int16 activations accumulate the
 * products of each (block, element) in its own int32 lane (16 steps: at most 16 x 127 x 32767
 * < 2^31), and one pairwise add (ADDP) per four blocks at the group's end leaves the blocks'
 * exact sums in order. Then, as the x86 passes, one conversion and one FMA by d * e per four
 * blocks, one FMA for the radius. 8 multiply-accumulates of 4 products per 32 weights and
 * token, against 8 FMLA and 8 conversions of the plain F16 head's NEON rows: fewer operations
 * and about half the bytes. Speed on ARM hardware is not measured (this project's tests run it
 * under qemu): --lm-head auto keeps the plain head on aarch64 (head_screen.h). One row against
 * up to 2 tokens at a time; no software prefetch except the first tile of a call of 3 tokens
 * or more (the AVX-512 pass's rule; ARM cores' stream prefetchers are left to one token). */
#include <arm_neon.h>

#include "kernel_impl.h"
#include "model/head_screen.h"
#include "screen_tile.h"

#define SCREEN_PREFETCH_D 256 /* bytes ahead in its scales */

/* The four f16 scales at d as floats. */
static inline float32x4_t scales4(const uint16_t *d) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(d))); }

/* Row m times NT tokens (NT <= 2): approximate logits and radii into a[t], rad[t]. */
BN_INLINE BN_TSAN_UNCHECKED_READS void screen_tile(const bn_head_screen *h, const bn_screen_act *x, int64_t m, int t0, int NT, bool pf, float a[4],
                           float rad[4]) {
    bn_screen_tile tl = bn_screen_tile_at(h, x, m, t0, NT);
    float32x4_t acc[2], racc[2];
BN_UNROLL
    for (int t = 0; t < NT; t++) acc[t] = racc[t] = vdupq_n_f32(0.0f);
    for (int64_t g = 0; g < h->n_groups; g++) {
        int64_t base = g * BN_SCREEN_GROUP_BYTES;
        int32x4_t s[2][8]; /* token, (block quad v, half): lanes (block, element) */
        if (pf) BN_PREFETCH(tl.d + g * BN_SCREEN_GROUP, SCREEN_PREFETCH_D);
BN_UNROLL
        for (int t = 0; t < NT; t++)
BN_UNROLL
            for (int k = 0; k < 8; k++) s[t][k] = vdupq_n_s32(0);
        for (int i = 0; i < 16; i++) {
            const int8_t *p = tl.q + base + 32 * i;
            if (pf && i % 2 == 0) BN_PREFETCH(p, BN_PREFETCH_BYTES_HEAD_ROW); /* the group's 8 lines, spread */
            int8x16_t b0 = vld1q_s8(p), b1 = vld1q_s8(p + 16);
            int16x8_t w[4] = {vmovl_s8(vget_low_s8(b0)), vmovl_high_s8(b0), vmovl_s8(vget_low_s8(b1)), vmovl_high_s8(b1)};
BN_UNROLL
            for (int t = 0; t < NT; t++) {
                const int16_t *xp = tl.xq[t] + base + 32 * i;
BN_UNROLL
                for (int v = 0; v < 4; v++) {
                    int16x8_t xv = vld1q_s16(xp + 8 * v);
                    s[t][2 * v] = vmlal_s16(s[t][2 * v], vget_low_s16(w[v]), vget_low_s16(xv));
                    s[t][2 * v + 1] = vmlal_high_s16(s[t][2 * v + 1], w[v], xv);
                }
            }
        }
        const uint16_t *dg = tl.d + g * BN_SCREEN_GROUP;
BN_UNROLL
        for (int v = 0; v < 4; v++) {
            float32x4_t dv = scales4(dg + 4 * v);
BN_UNROLL
            for (int t = 0; t < NT; t++) {
                const float *eg = tl.e[t] + g * BN_SCREEN_GROUP + 4 * v, *xg = tl.xabs[t] + g * BN_SCREEN_GROUP + 4 * v;
                int32x4_t blocks = vpaddq_s32(s[t][2 * v], s[t][2 * v + 1]); /* blocks 4v .. 4v + 3 */
                acc[t] = vfmaq_f32(acc[t], vmulq_f32(dv, vld1q_f32(eg)), vcvtq_f32_s32(blocks));
                racc[t] = vfmaq_f32(racc[t], dv, vld1q_f32(xg));
            }
        }
    }
BN_UNROLL
    for (int t = 0; t < NT; t++) {
        a[t] = vaddvq_f32(acc[t]);
        rad[t] = vaddvq_f32(racc[t]);
    }
}

#define SCREEN_ROW_TOKENS 2
#define SCREEN_PREFETCH_WHEN(n, t0) ((n) >= 3 && (t0) == 0)
#include "screen_rows.h"

void bn_head_screen_rows_neon(const bn_head_screen *h, const bn_screen_act *x, float *approx, float *radius, int64_t ldy,
                              int64_t m0, int64_t m1) {
    screen_rows(h, x, approx, radius, ldy, m0, m1);
}
