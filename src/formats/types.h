/* types: the table of tensor types, one row each, and their scalar reference conversions.
 *
 * Layouts (see ../shared/docs/FORMATS.md):
 *   F32, F16, BF16       plain little-endian values
 *   Q8_0  (id 8)         blocks of 32:  f16 d; int8 qs[32]            value = d*q
 *   TQ1_0 (id 34)        blocks of 256: u8 qs[48]; u8 qh[4]; f16 d    base-3 packed codes
 *   TQ2_0 (id 35)        blocks of 256: u8 qs[64]; f16 d               2-bit codes, low bits first
 *   I2_S  (id 36)        Microsoft's x86 layout: n/4 bytes of 2-bit codes in 128-weight
 *                        blocks (high bits first) + a 32-byte trailer whose first 4 bytes are
 *                        ONE f32 scale for the whole tensor. Only for BitNet architectures.
 * Ternary codes are c in {0,1,2} meaning -1, 0, +1.
 * Q8_K is internal (activations in llama.cpp's q8k mode), never stored in files. */
#ifndef BITNET_TYPES_H
#define BITNET_TYPES_H

#include <stdbool.h>
#include <stdint.h>

enum bn_type {
    BN_TYPE_F32 = 0,
    BN_TYPE_F16 = 1,
    BN_TYPE_Q8_0 = 8,
    BN_TYPE_BF16 = 30,
    BN_TYPE_TQ1_0 = 34,
    BN_TYPE_TQ2_0 = 35,
    BN_TYPE_I2_S = 36,
};

#define BN_QK_K 256
#define BN_I2S_BLOCK 128      /* weights per I2_S block (x86 layout) */
#define BN_I2S_TRAILER 32     /* bytes after the codes; the first 4 are the f32 scale */

typedef struct { uint16_t d; int8_t qs[32]; } bn_block_q8_0;
typedef struct { uint8_t qs[48]; uint8_t qh[4]; uint16_t d; } bn_block_tq1_0;
typedef struct { uint8_t qs[64]; uint16_t d; } bn_block_tq2_0;
typedef struct { float d; int8_t qs[BN_QK_K]; int16_t bsums[BN_QK_K / 16]; } bn_block_q8_k;

_Static_assert(sizeof(bn_block_q8_0) == 34, "Q8_0 block must be 34 bytes");
_Static_assert(sizeof(bn_block_tq1_0) == 54, "TQ1_0 block must be 54 bytes");
_Static_assert(sizeof(bn_block_tq2_0) == 66, "TQ2_0 block must be 66 bytes");
_Static_assert(sizeof(bn_block_q8_k) == 292, "Q8_K block must be 292 bytes");

typedef struct bn_type_traits {
    const char *name;        /* "f32", "f16", "bf16", "q8_0", "tq1_0", "tq2_0", "i2_s" */
    uint32_t id;             /* GGUF type id */
    uint32_t block_size;     /* elements per block */
    uint32_t block_bytes;    /* bytes per block (I2_S: 32 bytes per 128 codes, trailer extra) */
    bool ternary;
    /* Dequantizes elements [first, first+count) of a tensor of n_total elements whose data
     * starts at `tensor`. first and count are multiples of block_size (I2_S reads its scale
     * from the trailer at tensor + n_total/4). */
    void (*dequantize)(const void *tensor, uint64_t n_total, uint64_t first, uint64_t count,
                       float *dst);
    /* Quantizes a whole tensor of n elements (a multiple of block_size) into dst, which
     * holds bn_type_nbytes(id, n) bytes. NULL where quantization is not offered. */
    void (*quantize)(const float *src, uint64_t n, void *dst);
} bn_type_traits;

/* The row for a GGUF type id, or NULL when this build does not know it. Id 36 is I2_S:
 * callers must only accept it for BitNet architectures (see FORMATS.md). */
const bn_type_traits *bn_type_get(uint32_t id);
/* Looks up by name ("tq2_0"); NULL when unknown. */
const bn_type_traits *bn_type_by_name(const char *name);
/* Bytes of a tensor of n elements of this type; false if n is not a multiple of the
 * block size (for I2_S: of 128) or on overflow. */
bool bn_type_nbytes(uint32_t id, uint64_t n, uint64_t *bytes);

/* llama.cpp's Q8_K activation quantization of n (multiple of 256) floats, bit for bit:
 * per block, iscale = -127/x_maxabs (sign of the largest-magnitude value), q = nearest
 * (half to even) clamped to <= 127, d = 1/iscale, bsums = sums of 16. */
void bn_quantize_row_q8_k(const float *x, bn_block_q8_k *y, uint64_t n);

#endif
