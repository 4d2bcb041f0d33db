/* ternary: decoding of the packed ternary codes of TQ1_0, TQ2_0 and I2_S blocks into signed
 * values -1/0/+1 (code c means c - 1). Bit layouts in types.h and FORMATS.md. These are the
 * scalar references every fast kernel is tested against. */
#ifndef BITNET_TERNARY_H
#define BITNET_TERNARY_H

#include <stdint.h>

#include "formats/types.h"

/* One TQ2_0 block: qs[32h + m] holds weights 128h + m + 32n at bits 2n..2n+1. */
void bn_tq2_0_decode(const bn_block_tq2_0 *b, int8_t t[BN_QK_K]);
/* One TQ1_0 block: five base-3 trits per byte (first weight most significant). */
void bn_tq1_0_decode(const bn_block_tq1_0 *b, int8_t t[BN_QK_K]);
/* One I2_S block of 128 weights in 32 bytes: weight j at byte j % 32, shift 6 - 2*(j / 32). */
void bn_i2s_decode(const uint8_t block[32], int8_t t[BN_I2S_BLOCK]);

#endif
