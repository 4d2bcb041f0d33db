/* rows: the per-token vector passes of the forward pass (forward.c) between two matrix
 * products: residual add, RMS norm, the FFN activation, and the activation quantization of the
 * next product's input, done together while a token's row is in cache (one pass and one
 * fork/join instead of three); and the f32 -> f16 conversion of the F16 KV cache's stores. The portable code (rows.c) is the reference; the AVX2 code
 * (src/kernels/rows_avx2.c, avx2 and avxvnni tiers), the
 * AVX-512 code (src/kernels/rows_avx512.c, avx512 and amx tiers) and the NEON code (rows_neon.c, neon and
 * dotprod tiers) agree with it as follows:
 *   add, RoPE, norm, quantization (any act-quant)    bit-identical
 *   NORMAL RoPE                                      the portable code on every tier
 *   f32 -> f16 (to_f16)                              bit-identical (F16C on x86, FCVTN on
 *                                                    aarch64)
 *   ReLU^2 activation                                bit-identical
 *   SiLU activation                                  g / (1 + e) with e a polynomial exp(-g)
 *                                                    (a few ulp) instead of libm's expf
 * RMS norm numerics (forward.h): y = (x * scale) * g with
 *   scale = 1 / sqrtf((float)(ss / n) + eps), ss = sum of x^2 in double, in 4 chains
 *   (chain j sums x[4i + j] in order), combined as (c0 + c1) + (c2 + c3), then the n % 4
 *   last squares in order. Each square of a float is exact in double, so a fused multiply-add
 *   gives the same sums.
 * Each row's result depends only on that row, so the split of rows over threads or batches
 * changes nothing. */
#ifndef BITNET_ROWS_H
#define BITNET_ROWS_H

#include <stdint.h>

#include "kernels/cpu.h"
#include "model/linear.h"
#include "model/model.h"

/* y[i * stride] = bn_f32_to_f16(x[i]), i < n (the F16 KV cache's stores). */
typedef void (*bn_to_f16_fn)(uint16_t *y, int64_t stride, const float *x, int64_t n);

/* Rows handled together by one norm call (independent sum chains hide the add latency). */
#define BN_ROWS_GROUP 8

typedef struct bn_rows_ops {
    const char *name;
    /* x[i] += d[i] */
    void (*add)(float *x, const float *d, int64_t n);
    /* NEOX RoPE of one head: x[i], x[i + half] = x[i] c[i] - x[i + half] s[i], x[i] s[i] + x[i + half] c[i]
     * (products rounded, then the sum: no fused multiply-add) */
    void (*rope)(float *x, const float *c, const float *s, int64_t half);
    /* NORMAL RoPE (the llama architecture): x[2i], x[2i + 1] rotated the same way, i < half */
    void (*rope_norm)(float *x, const float *c, const float *s, int64_t half);
    /* gate[i] = act(gate[i]) * up[i]; act = SiLU g / (1 + exp(-g)) or ReLU^2 */
    void (*ffn_act)(bn_ffn_act act, float *gate, const float *up, int64_t n);
    /* nr <= BN_ROWS_GROUP rows of n: y[r] = RMSNorm(x[r]) * g (y[r] may be x[r]); then, when
     * a != NULL, tokens t0 .. t0 + nr - 1 of a (a->x being the y rows) are quantized as
     * bn_act_quantize_tokens does. */
    void (*norm)(float *const *y, const float *const *x, int nr, const float *g, int64_t n, float eps, bn_act *a, int t0);
    /* bn_to_f16_fn: bit-identical to bn_f32_to_f16 on every tier, NaN included (sign | 0x7e00) */
    bn_to_f16_fn to_f16;
} bn_rows_ops;

extern const bn_rows_ops bn_rows_portable;
/* The ops of tier t when the CPU has it: AVX2 code at avx2 and avxvnni, AVX-512 code at
 * avx512 and amx, NEON code at the aarch64 tiers; else the portable code. */
const bn_rows_ops *bn_rows_for_tier(bn_cpu_tier t);

/* The AVX2 entry points (src/kernels/rows_avx2.c; same agreement, SiLU bit-identical). */
void bn_rows_add_avx2(float *x, const float *d, int64_t n);
void bn_rows_rope_avx2(float *x, const float *c, const float *s, int64_t half);
void bn_rows_ffn_act_avx2(bn_ffn_act act, float *gate, const float *up, int64_t n);
void bn_rows_norm_avx2(float *const *y, const float *const *x, int nr, const float *g, int64_t n, float eps, bn_act *a, int t0);
/* F16C, 8 values a step; also the avx512 and amx tiers' to_f16 (a K store is 128 values). */
void bn_rows_to_f16_avx2(uint16_t *y, int64_t stride, const float *x, int64_t n);
/* The AVX-512 entry points (src/kernels/rows_avx512.c). */
void bn_rows_add_avx512(float *x, const float *d, int64_t n);
void bn_rows_rope_avx512(float *x, const float *c, const float *s, int64_t half);
void bn_rows_ffn_act_avx512(bn_ffn_act act, float *gate, const float *up, int64_t n);
void bn_rows_norm_avx512(float *const *y, const float *const *x, int nr, const float *g, int64_t n, float eps, bn_act *a, int t0);
/* The NEON entry points (src/kernels/rows_neon.c, neon and dotprod tiers; same agreement). */
void bn_rows_add_neon(float *x, const float *d, int64_t n);
void bn_rows_rope_neon(float *x, const float *c, const float *s, int64_t half);
void bn_rows_ffn_act_neon(bn_ffn_act act, float *gate, const float *up, int64_t n);
void bn_rows_norm_neon(float *const *y, const float *const *x, int nr, const float *g, int64_t n, float eps, bn_act *a, int t0);
/* FCVTN, 4 values a step. */
void bn_rows_to_f16_neon(uint16_t *y, int64_t stride, const float *x, int64_t n);

#endif
