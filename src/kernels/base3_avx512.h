/* base3_avx512: the decoder of the base-3 tile layout (kernel_impl.h) for the AVX-512 and AMX
 * tiers (AVX-512 BW + VBMI). A packed byte x = c_0 + 3 c_1 + 9 c_2 + 27 c_3 + 81 c_4 becomes
 * its five digits with two 256-entry byte lookups, "lo" (c_0 | c_1 << 2 | c_2 << 4) and "hi"
 * (c_3 | c_4 << 2), then shifts and masks. A 256-entry lookup is two vpermi2b over 128-byte
 * halves (index bits 0..6), blended on bit 7 of x. Per 64 packed bytes (320 weights): 4
 * permutes, 2 blends, 3 shifts, 5 ands; enough to keep the one-token GEMV at memory speed. */
#ifndef BITNET_BASE3_AVX512_H
#define BITNET_BASE3_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#include "kernel_impl.h"

#define B3_LO(x) ((x) % 3 | (x) / 3 % 3 << 2 | (x) / 9 % 3 << 4)
#define B3_HI(x) ((x) / 27 % 3 | (x) / 81 % 3 << 2)
#define B3_R4(F, x) F(x), F((x) + 1), F((x) + 2), F((x) + 3)
#define B3_R16(F, x) B3_R4(F, x), B3_R4(F, (x) + 4), B3_R4(F, (x) + 8), B3_R4(F, (x) + 12)
#define B3_R64(F, x) B3_R16(F, x), B3_R16(F, (x) + 16), B3_R16(F, (x) + 32), B3_R16(F, (x) + 48)
#define B3_R256(F) B3_R64(F, 0), B3_R64(F, 64), B3_R64(F, 128), B3_R64(F, 192)

static _Alignas(64) const uint8_t b3_lo_table[256] = {B3_R256(B3_LO)};
static _Alignas(64) const uint8_t b3_hi_table[256] = {B3_R256(B3_HI)};

typedef struct b3_decoder {
    __m512i lo[4], hi[4], three;
} b3_decoder;

static inline __attribute__((always_inline)) void b3_decoder_init(b3_decoder *d) {
    for (int i = 0; i < 4; i++) {
        d->lo[i] = _mm512_load_si512((const void *)(b3_lo_table + 64 * i));
        d->hi[i] = _mm512_load_si512((const void *)(b3_hi_table + 64 * i));
    }
    d->three = _mm512_set1_epi8(3);
}

/* digit[s] byte i = digit s of x's byte i (0..2). The 16-bit shifts move bits of the next
 * byte into bits 6..7 (by 2) or 4..7 (by 4) of each byte; the masks drop them. */
static inline __attribute__((always_inline)) void b3_decode(const b3_decoder *d, __m512i x, __m512i digit[5]) {
    __mmask64 top = _mm512_movepi8_mask(x); /* x >= 128: the upper half of the tables */
    __m512i lo = _mm512_mask_blend_epi8(top, _mm512_permutex2var_epi8(d->lo[0], x, d->lo[1]),
                                        _mm512_permutex2var_epi8(d->lo[2], x, d->lo[3]));
    __m512i hi = _mm512_mask_blend_epi8(top, _mm512_permutex2var_epi8(d->hi[0], x, d->hi[1]),
                                        _mm512_permutex2var_epi8(d->hi[2], x, d->hi[3]));
    digit[0] = _mm512_and_si512(lo, d->three);
    digit[1] = _mm512_and_si512(_mm512_srli_epi16(lo, 2), d->three);
    digit[2] = _mm512_and_si512(_mm512_srli_epi16(lo, 4), d->three);
    digit[3] = _mm512_and_si512(hi, d->three);
    digit[4] = _mm512_and_si512(_mm512_srli_epi16(hi, 2), d->three);
}

/* Digits in vector v of a block: 5, and 4 in the last (64 k-groups = 12 x 5 + 4). */
#define B3_DIGITS(v) ((v) < BN_B3_VECTORS - 1 ? 5 : 4)

#endif
