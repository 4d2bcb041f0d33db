/* linear: one weight matrix of the model and Y = X W^T for a batch of tokens, with the three
 * activation numerics of BitNet inference. The scalar code in linear.c is the reference
 * ("the truth"); fast kernels (src/kernels/) must agree with it as documented per mode.
 *
 * Shapes: a GGUF weight of dims [K, M] (ne0 = K = in_features, contiguous) has M rows of K.
 * X is [n][K] float (row t = token t), Y is [n][M] float (row stride ldy >= M).
 *
 * Numerics (per token t, per output row m):
 *  BN_ACT_TOKEN (ternary weights only): s_t = 127 / max(max_k |x_tk|, 1e-5),
 *      q_tk = clamp(round_half_even(x_tk * s_t), -128, 127)   (int8)
 *      Ternary values w_mk in {-1,0,1} with scales: one scale per row group. For I2_S and for
 *      TQ1_0/TQ2_0 tensors whose blocks all share one d ("uniform"), there is one scale S:
 *          y = ((float)acc / s_t) * S            acc = sum_k w_mk q_tk (int32, exact)
 *      For non-uniform TQ tensors: y = (sum_b (float)acc_b * d_b) / s_t (b = 256-blocks, in order).
 *      Accumulator bound: |acc| <= 128 * K; K <= 2^24 keeps it inside int32.
 *  BN_ACT_Q8K (ternary weights only; llama.cpp's numerics): x quantized per 256-block to Q8_K
 *      (bn_quantize_row_q8_k), y = sum_b (d_w_b * d_x_b) * (float)isum_b, float accumulation in
 *      block order; d_w_b = the TQ block's d (I2_S: the tensor scale). Requires K % 256 == 0.
 *  BN_ACT_NONE: weights dequantized to float, y = sum_k x_tk * w_mk (float accumulation).
 * Float weights (F32, F16, BF16, Q8_0) use float activations, whatever the mode, except:
 *  Q8_0 weights with Q8_0 activations (bn_act.x_q8_0 set by bn_act_quantize_q8_0; the
 *      opt-in 8-bit LM head, llama.cpp's Q8_0 x Q8_0 numerics): x quantized per 32-block
 *      (d_x = amax / 127 stored as f16, q = round(x / d_x)), then
 *          y = sum_b (d_w_b * d_x_b) * (float)isum_b     isum_b = sum of 32 int8 products (exact)
 *      with float accumulation in block order.
 * After any mode, y is multiplied by the optional 1-element `*.scale` tensor value (out_scale). */
#ifndef BITNET_LINEAR_H
#define BITNET_LINEAR_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/gguf.h"
#include "formats/types.h"

typedef enum bn_act_quant {
    BN_ACT_TOKEN = 0,
    BN_ACT_Q8K = 1,
    BN_ACT_NONE = 2,
} bn_act_quant;

const char *bn_act_quant_name(bn_act_quant m);
/* "token" | "q8k" | "none" -> mode; false on unknown names. */
bool bn_act_quant_parse(const char *s, bn_act_quant *out);

typedef struct bn_linear {
    const char *name;        /* tensor name (owned by the gguf_file) */
    uint32_t type;           /* GGUF type id */
    int64_t in, out;         /* K, M */
    const uint8_t *data;     /* tensor data (mapped, or owned_data) */
    uint64_t row_bytes;      /* bytes per row of K (I2_S: K/4; the trailer follows all rows) */
    bool ternary;
    bool uniform_scale;      /* one scale for the whole tensor (I2_S always) */
    float scale;             /* that scale when uniform_scale */
    float out_scale;         /* 1-element *.scale tensor value, 1.0 when absent */
    void *owned_data;        /* non-NULL when data was materialised at load (freed with it) */
    void *packed;            /* fast-kernel repacked weights, owned by the kernels, or NULL */
} bn_linear;

/* Binds a weight tensor (2-D, any type of types.h) and its optional scale tensor (NULL when
 * absent; must be 1 element of F32). Checks K against the type's constraints (I2_S: K % 128,
 * TQ*: K % 256, block types: K % block). Returns 0 or a negative status with bn_error set. */
int bn_linear_init(bn_linear *w, const gguf_tensor *t, const gguf_tensor *scale_t);
void bn_linear_release(bn_linear *w);

/* Activations prepared once for a batch and shared by every matrix that reads the same input
 * (Q, K, V read one; gate and up read one). Buffers are caller-owned (allocated once). */
typedef struct bn_act {
    bn_act_quant mode;
    int n;                   /* tokens */
    int64_t K;
    const float *x;          /* [n][K] float input, always set */
    int8_t *q;               /* token mode: [n][K] */
    float *s;                /* token mode: [n] */
    bn_block_q8_k *q8k;      /* q8k mode: [n][K/256] */
    const bn_block_q8_0 *x_q8_0; /* NULL, or x as Q8_0 blocks [n][K/32] for Q8_0 weights */
} bn_act;

/* Bytes of scratch bn_act_prepare needs for n tokens of K inputs in `mode`. */
uint64_t bn_act_scratch_bytes(bn_act_quant mode, int n, int64_t K);
/* Quantizes x into `scratch` (bn_act_scratch_bytes large, 64-byte aligned) per `mode`.
 * For BN_ACT_Q8K, K must be a multiple of 256 (else BITNET_ERR_UNSUPPORTED). */
int bn_act_prepare(bn_act *a, bn_act_quant mode, const float *x, int n, int64_t K, void *scratch);
/* bn_act_prepare in two steps, so that callers can quantize tokens on several threads:
 * setup (pointers and checks, no work), then bn_act_quantize_tokens for disjoint ranges of
 * tokens [t0, t1) covering [0, n) (each token's result does not depend on the split). */
int bn_act_setup(bn_act *a, bn_act_quant mode, const float *x, int n, int64_t K, void *scratch);
void bn_act_quantize_tokens(bn_act *a, int t0, int t1);
/* Tokens [t0, t1) of a (0 <= t0 < t1 <= a->n) as activations of their own: the same buffers
 * from token t0 on, n = t1 - t0. */
bn_act bn_act_tokens(const bn_act *a, int t0, int t1);
/* Q8_0 activations for Q8_0 weights (numerics above): bytes of `buf` for n tokens, and the
 * quantization of tokens [t0, t1) of a->x into buf (K % 32 == 0), setting a->x_q8_0 = buf. */
uint64_t bn_act_q8_0_bytes(int n, int64_t K);
void bn_act_quantize_q8_0(bn_act *a, bn_block_q8_0 *buf, int t0, int t1);

/* Y rows [m0, m1) of every token: y[t*ldy + m]. `row_tmp` is scratch of at least
 * bn_linear_row_scratch_bytes(w) bytes (per calling thread). Uses the mode in `a` for ternary
 * weights, float for the others. */
uint64_t bn_linear_row_scratch_bytes(const bn_linear *w);
void bn_linear_apply_rows(const bn_linear *w, const bn_act *a, float *y, int64_t ldy,
                          int64_t m0, int64_t m1, void *row_tmp);

/* Scalar reference of the same (always the portable code path; tests compare fast kernels
 * against it). */
void bn_linear_apply_rows_ref(const bn_linear *w, const bn_act *a, float *y, int64_t ldy,
                              int64_t m0, int64_t m1, void *row_tmp);

/* Dequantizes row m (K floats) into dst. */
void bn_linear_dequant_row(const bn_linear *w, int64_t m, float *dst);

#endif
