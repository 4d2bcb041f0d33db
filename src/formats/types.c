/* types: the one table of tensor types (F32, F16, BF16, Q8_0, TQ1_0, TQ2_0, I2_S) with their
 * scalar reference dequantizers and quantizers, and llama.cpp's Q8_K activation quantizer.
 * Byte layouts are those of ../shared/docs/FORMATS.md and types.h; the quantizers make the
 * same choices as ggml's reference quantizers (scale = block absmax stored as f16, codes
 * rounded half away from zero), so their output is byte-identical for finite inputs. */
#include "formats/types.h"

#include <math.h>
#include <string.h>

#include "util.h"

/* ---- shared helpers ---- */

static uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void store_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }

/* Ternary code of r = x/d: round half away from zero, clamped to -1..1, plus 1 (so 0, 1, 2
 * mean -1, 0, +1). Same as lroundf(r)+1 for |r| <= 1.5; NaN gives the zero code. */
static uint8_t ternary_code(float r) {
    if (r >= 0.5f) return 2;
    if (r <= -0.5f) return 0;
    return 1;
}

/* Block absmax, as ggml's quantizers compute it (NaNs are skipped by the comparison). */
static float absmax(const float *x, uint64_t n) {
    float amax = 0.0f;
    for (uint64_t j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        if (a > amax) amax = a;
    }
    return amax;
}

/* Ternary codes of a 256-weight block scaled by its absmax d (returned as the f16 to store). */
static uint16_t ternary_block_codes(const float *x, uint8_t codes[BN_QK_K]) {
    float d = absmax(x, BN_QK_K);
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < BN_QK_K; j++) codes[j] = ternary_code(x[j] * id);
    return bn_f32_to_f16(d);
}

/* Runs a per-block decoder over blocks [first/bs, (first+count)/bs) of a tensor. */
typedef void (*block_decoder)(const uint8_t *block, float *dst);

static void decode_blocks(const void *tensor, uint64_t first, uint64_t count, uint32_t block_size,
                          uint32_t block_bytes, block_decoder decode, float *dst) {
    const uint8_t *src = (const uint8_t *)tensor + first / block_size * block_bytes;
    for (uint64_t b = 0; b < count / block_size; b++) {
        decode(src, dst);
        src += block_bytes;
        dst += block_size;
    }
}

/* ---- F32, F16, BF16 ---- */

static void dequantize_f32(const void *t, uint64_t n_total, uint64_t first, uint64_t count, float *dst) {
    memcpy(dst, (const float *)t + first, count * sizeof(float));
}

static void quantize_f32(const float *src, uint64_t n, void *dst) { memcpy(dst, src, n * sizeof(float)); }

static void dequantize_f16(const void *t, uint64_t n_total, uint64_t first, uint64_t count, float *dst) {
    const uint8_t *p = (const uint8_t *)t + first * 2;
    for (uint64_t i = 0; i < count; i++) dst[i] = bn_f16_to_f32(load_u16(p + 2 * i));
}

static void quantize_f16(const float *src, uint64_t n, void *dst) {
    for (uint64_t i = 0; i < n; i++) store_u16((uint8_t *)dst + 2 * i, bn_f32_to_f16(src[i]));
}

static void dequantize_bf16(const void *t, uint64_t n_total, uint64_t first, uint64_t count, float *dst) {
    const uint8_t *p = (const uint8_t *)t + first * 2;
    for (uint64_t i = 0; i < count; i++) dst[i] = bn_bf16_to_f32(load_u16(p + 2 * i));
}

static void quantize_bf16(const float *src, uint64_t n, void *dst) {
    for (uint64_t i = 0; i < n; i++) store_u16((uint8_t *)dst + 2 * i, bn_f32_to_bf16(src[i]));
}

/* ---- Q8_0: f16 d; int8 qs[32]; value = d*q ---- */

static void decode_q8_0(const uint8_t *block, float *dst) {
    bn_block_q8_0 b;
    memcpy(&b, block, sizeof b);
    float d = bn_f16_to_f32(b.d);
    for (int j = 0; j < 32; j++) dst[j] = d * (float)b.qs[j];
}

static void dequantize_q8_0(const void *t, uint64_t n_total, uint64_t first, uint64_t count, float *dst) {
    decode_blocks(t, first, count, 32, sizeof(bn_block_q8_0), decode_q8_0, dst);
}

/* d = absmax/127 (the f16 of it is stored, the f32 one used), q = roundf(x/d). */
static void quantize_q8_0(const float *src, uint64_t n, void *dst) {
    for (uint64_t i = 0; i < n / 32; i++) {
        const float *x = src + 32 * i;
        bn_block_q8_0 b;
        float d = absmax(x, 32) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b.d = bn_f32_to_f16(d);
        for (int j = 0; j < 32; j++) {
            float r = roundf(x[j] * id);
            /* |r| <= 127 for finite input; the guard keeps NaN/inf from a UB conversion. */
            b.qs[j] = (int8_t)(r > 127.0f ? 127 : r < -127.0f ? -127 : r == r ? r : 0);
        }
        memcpy((uint8_t *)dst + i * sizeof b, &b, sizeof b);
    }
}

/* ---- TQ2_0: u8 qs[64]; f16 d. Byte qs[32h+m] holds weights 128h+m+32n at bits 2n (n=0..3). ---- */

static void decode_tq2_0(const uint8_t *block, float *dst) {
    const uint8_t *qs = block;
    float d = bn_f16_to_f32(load_u16(block + 64));
    for (int h = 0; h < 2; h++)
        for (int n = 0; n < 4; n++)
            for (int m = 0; m < 32; m++)
                dst[128 * h + 32 * n + m] = (float)(((qs[32 * h + m] >> (2 * n)) & 3) - 1) * d;
}

static void dequantize_tq2_0(const void *t, uint64_t n_total, uint64_t first, uint64_t count, float *dst) {
    decode_blocks(t, first, count, BN_QK_K, sizeof(bn_block_tq2_0), decode_tq2_0, dst);
}

static void quantize_tq2_0(const float *src, uint64_t n, void *dst) {
    for (uint64_t i = 0; i < n / BN_QK_K; i++) {
        uint8_t codes[BN_QK_K];
        uint8_t *out = (uint8_t *)dst + i * sizeof(bn_block_tq2_0);
        uint16_t d = ternary_block_codes(src + i * BN_QK_K, codes);
        for (int h = 0; h < 2; h++)
            for (int m = 0; m < 32; m++) {
                uint8_t byte = 0;
                for (int k = 0; k < 4; k++) byte |= (uint8_t)(codes[128 * h + m + 32 * k] << (2 * k));
                out[32 * h + m] = byte;
            }
        store_u16(out + 64, d);
    }
}

/* ---- TQ1_0: u8 qs[48]; u8 qh[4]; f16 d. Five trits per byte, first trit most significant,
 * stored as ceil(v*256/243) so that trit n = ((uint8_t)(b*3^n) * 3) >> 8.
 *   qs[m],    m < 32: weights m + 32n        (n = 0..4)
 *   qs[32+m], m < 16: weights 160 + m + 16n  (n = 0..4)
 *   qh[j],    j < 4:  weights 240 + j + 4n   (n = 0..3), then a zero trit ---- */

static const uint8_t pow3[5] = {1, 3, 9, 27, 81};

/* Byte group g of a TQ1_0 block: bytes [byte0, byte0+n_bytes) hold weights
 * weight0 + m + stride*n for trits n < n_trits. */
typedef struct { int byte0, n_bytes, weight0, stride, n_trits; } tq1_group;
static const tq1_group tq1_groups[3] = {
    {0, 32, 0, 32, 5},
    {32, 16, 160, 16, 5},
    {48, 4, 240, 4, 4},
};

static uint8_t tq1_trit(uint8_t byte, int n) {
    uint8_t shifted = (uint8_t)(byte * pow3[n]); /* drops the n leading trits (mod 256) */
    return (uint8_t)(((unsigned)shifted * 3) >> 8);
}

static void decode_tq1_0(const uint8_t *block, float *dst) {
    float d = bn_f16_to_f32(load_u16(block + 52));
    for (int g = 0; g < 3; g++) {
        const tq1_group *grp = &tq1_groups[g];
        for (int m = 0; m < grp->n_bytes; m++)
            for (int n = 0; n < grp->n_trits; n++)
                dst[grp->weight0 + m + grp->stride * n] =
                    (float)((int)tq1_trit(block[grp->byte0 + m], n) - 1) * d;
    }
}

static void dequantize_tq1_0(const void *t, uint64_t n_total, uint64_t first, uint64_t count, float *dst) {
    decode_blocks(t, first, count, BN_QK_K, sizeof(bn_block_tq1_0), decode_tq1_0, dst);
}

static void quantize_tq1_0(const float *src, uint64_t n, void *dst) {
    for (uint64_t i = 0; i < n / BN_QK_K; i++) {
        uint8_t codes[BN_QK_K];
        uint8_t *out = (uint8_t *)dst + i * sizeof(bn_block_tq1_0);
        uint16_t d = ternary_block_codes(src + i * BN_QK_K, codes);
        for (int g = 0; g < 3; g++) {
            const tq1_group *grp = &tq1_groups[g];
            for (int m = 0; m < grp->n_bytes; m++) {
                unsigned v = 0; /* base-3 number, first weight most significant; < 243 */
                for (int k = 0; k < 5; k++)
                    v = v * 3 + (k < grp->n_trits ? codes[grp->weight0 + m + grp->stride * k] : 0);
                out[grp->byte0 + m] = (uint8_t)((v * 256 + 242) / 243);
            }
        }
        store_u16(out + 52, d);
    }
}

/* ---- I2_S (x86 layout): 128-weight blocks of 32 bytes; weight j of a block is in byte j%32
 * at shift 6 - 2*(j/32); then a 32-byte trailer whose first 4 bytes are the f32 scale. ---- */

static float i2s_scale(const void *tensor, uint64_t n_total) {
    float s;
    memcpy(&s, (const uint8_t *)tensor + n_total / 4, sizeof s);
    return s;
}

static void dequantize_i2_s(const void *t, uint64_t n_total, uint64_t first, uint64_t count, float *dst) {
    float scale = i2s_scale(t, n_total);
    const uint8_t *codes = (const uint8_t *)t + first / 4;
    for (uint64_t b = 0; b < count / BN_I2S_BLOCK; b++, codes += 32, dst += BN_I2S_BLOCK)
        for (int j = 0; j < BN_I2S_BLOCK; j++)
            dst[j] = (float)(((codes[j % 32] >> (6 - 2 * (j / 32))) & 3) - 1) * scale;
}

/* One scale for the whole tensor: its absmax; codes round(x/scale) clamped to -1..1. */
static void quantize_i2_s(const float *src, uint64_t n, void *dst) {
    float scale = absmax(src, n);
    uint8_t *out = dst;
    memset(out, 0, n / 4 + BN_I2S_TRAILER);
    for (uint64_t b = 0; b < n / BN_I2S_BLOCK; b++) {
        const float *x = src + b * BN_I2S_BLOCK;
        uint8_t *block = out + b * 32;
        for (int j = 0; j < BN_I2S_BLOCK; j++) {
            uint8_t c = ternary_code(scale != 0.0f ? x[j] / scale : 0.0f);
            block[j % 32] |= (uint8_t)(c << (6 - 2 * (j / 32)));
        }
    }
    memcpy(out + n / 4, &scale, sizeof scale);
}

/* ---- the table ---- */

static const bn_type_traits type_table[] = {
    {"f32", BN_TYPE_F32, 1, 4, false, dequantize_f32, quantize_f32},
    {"f16", BN_TYPE_F16, 1, 2, false, dequantize_f16, quantize_f16},
    {"bf16", BN_TYPE_BF16, 1, 2, false, dequantize_bf16, quantize_bf16},
    {"q8_0", BN_TYPE_Q8_0, 32, sizeof(bn_block_q8_0), false, dequantize_q8_0, quantize_q8_0},
    {"tq1_0", BN_TYPE_TQ1_0, BN_QK_K, sizeof(bn_block_tq1_0), true, dequantize_tq1_0, quantize_tq1_0},
    {"tq2_0", BN_TYPE_TQ2_0, BN_QK_K, sizeof(bn_block_tq2_0), true, dequantize_tq2_0, quantize_tq2_0},
    {"i2_s", BN_TYPE_I2_S, BN_I2S_BLOCK, BN_I2S_BLOCK / 4, true, dequantize_i2_s, quantize_i2_s},
};

#define TYPE_COUNT (sizeof type_table / sizeof type_table[0])

const bn_type_traits *bn_type_get(uint32_t id) {
    for (size_t i = 0; i < TYPE_COUNT; i++)
        if (type_table[i].id == id) return &type_table[i];
    return NULL;
}

const bn_type_traits *bn_type_by_name(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < TYPE_COUNT; i++)
        if (strcmp(type_table[i].name, name) == 0) return &type_table[i];
    return NULL;
}

bool bn_type_nbytes(uint32_t id, uint64_t n, uint64_t *bytes) {
    const bn_type_traits *t = bn_type_get(id);
    if (!t || n % t->block_size != 0) return false;
    uint64_t body;
    if (!bn_mul_u64(n / t->block_size, t->block_bytes, &body)) return false;
    if (id == BN_TYPE_I2_S) return bn_add_u64(body, BN_I2S_TRAILER, bytes);
    *bytes = body;
    return true;
}

/* ---- Q8_K (llama.cpp's quantize_row_q8_K_ref, bit for bit) ---- */

/* Round to nearest, ties to even, for |f| <= 2^22: adding 1.5*2^23 puts the integer in the
 * low mantissa bits (the FPU's default rounding does the tie-breaking). */
static int nearest_int(float f) {
    float shifted = f + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

void bn_quantize_row_q8_k(const float *x, bn_block_q8_k *y, uint64_t n) {
    for (uint64_t i = 0; i < n / BN_QK_K; i++, x += BN_QK_K) {
        bn_block_q8_k *b = &y[i];
        float amax = 0.0f, max = 0.0f; /* max: the signed value of largest magnitude (first one) */
        for (int j = 0; j < BN_QK_K; j++) {
            float a = fabsf(x[j]);
            if (a > amax) {
                amax = a;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(b, 0, sizeof *b);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < BN_QK_K; j++) {
            float scaled = iscale * x[j]; /* own statement: must not fuse with the add below */
            int v = nearest_int(scaled);
            b->qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < BN_QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += b->qs[16 * g + j];
            b->bsums[g] = (int16_t)sum;
        }
        b->d = 1.0f / iscale;
    }
}
