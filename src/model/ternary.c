/* ternary: block decoders (see ternary.h). */
#include "model/ternary.h"

void bn_tq2_0_decode(const bn_block_tq2_0 *b, int8_t t[BN_QK_K]) {
    for (int h = 0; h < 2; h++)
        for (int m = 0; m < 32; m++) {
            uint8_t byte = b->qs[32 * h + m];
            for (int n = 0; n < 4; n++) t[128 * h + m + 32 * n] = (int8_t)(((byte >> (2 * n)) & 3) - 1);
        }
}

/* Trit n (0 = most significant) of a byte holding ceil(v * 256 / 243): multiplying by 3^n
 * shifts the wanted trit to the top of the byte's fixed-point fraction. */
static int8_t trit(uint8_t byte, int n) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t shifted = (uint8_t)(byte * pow3[n]);
    return (int8_t)(((shifted * 3) >> 8) - 1);
}

void bn_tq1_0_decode(const bn_block_tq1_0 *b, int8_t t[BN_QK_K]) {
    for (int m = 0; m < 32; m++)
        for (int n = 0; n < 5; n++) t[m + 32 * n] = trit(b->qs[m], n);
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 5; n++) t[160 + m + 16 * n] = trit(b->qs[32 + m], n);
    for (int j = 0; j < 4; j++)
        for (int n = 0; n < 4; n++) t[240 + j + 4 * n] = trit(b->qh[j], n);
}

void bn_i2s_decode(const uint8_t block[32], int8_t t[BN_I2S_BLOCK]) {
    for (int j = 0; j < BN_I2S_BLOCK; j++)
        t[j] = (int8_t)(((block[j % 32] >> (6 - 2 * (j / 32))) & 3) - 1);
}
