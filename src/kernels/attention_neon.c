/* attention_neon: the blocked online-softmax attention (attention.h) at 4 lanes (both aarch64
 * tiers): four vectors per 16-key block, 4 query rows per register tile (16 score chains; two
 * blocks at once would need all 32 vector registers for accumulators). The loops are
 * attention_simd.h; the exp is exp_neon.h's (exp_avx512.h's constants). */
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "exp_neon.h"
#include "kernel_impl.h"

/* exp(x) for x <= 0 (softmax arguments); below -87.3 gives ~2^-126 (callers zero the lanes
 * they mask). */
static inline float32x4_t exp4(float32x4_t x) { return bn_exp4_poly(vmaxq_f32(x, vdupq_n_f32(-87.3f))); }

#define V float32x4_t
#define VL 4
#define TR 4
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_LOAD(p) vld1q_f32(p)
#define V_STORE(p, v) vst1q_f32((p), (v))
#define V_SET1(x) vdupq_n_f32(x)
#define V_FMA(a, b, c) vfmaq_f32((c), (a), (b))
#define V_MUL(a, b) vmulq_f32((a), (b))
#define V_SUB(a, b) vsubq_f32((a), (b))
#define V_DIV(a, b) vdivq_f32((a), (b))
#define V_HMAX(v) vmaxvq_f32(v)
#define V_HSUM(v) vaddvq_f32(v)
#define V_EXP(v) exp4(v)
#define V_KEEP(v, n, fill) bn_keep4((v), (n), (fill))
#define V_LOAD_F16(p) vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)(const void *)(p))))
#define V_LOAD_I8(p) load_i8x4((const int8_t *)(const void *)(p))
#define F16_1(h) vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0)

/* 4 int8 (a q8_0 cache's values) as floats, exactly. */
static inline float32x4_t load_i8x4(const int8_t *p) {
    int32_t w;
    memcpy(&w, p, 4);
    return vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(w))))));
}

#include "attention_simd.h"

bool bn_attention_neon(const bn_attn_job *job) { return attention_simd(job); }
