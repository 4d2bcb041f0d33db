/* pack: builds the kernels' layouts of kernel_impl.h once per weight at load time: the 16-row
 * tiles of I2_S, TQ2_0 and TQ1_0 weights, and the q8 rows of a Q8_0 LM head. Portable C;
 * ~1 ns per weight is the budget (the 2B-4T model's 2.1e9 ternary weights): the 2-bit
 * formats take ~0.06 ns (pack_row_2bit), TQ1_0 ~0.65 (decoded to bytes, then pack_tile). */
#include <stdlib.h>
#include <string.h>

#include "kernel_impl.h"
#include "model/ternary.h"
#include "util.h"

/* Codes 0..2 of row m (K of them) into c; block scales (TQ types) into d[K/256]. */
static void decode_row_codes(const bn_linear *w, int64_t m, uint8_t *c, float *d) {
    const uint8_t *row = w->data + (uint64_t)m * w->row_bytes;
    int64_t K = w->in;
    if (w->type == BN_TYPE_I2_S) { /* weight j of a 128-block: byte j % 32, shift 6 - 2 (j / 32) */
        for (int64_t blk = 0; blk < K / BN_I2S_BLOCK; blk++, row += 32, c += BN_I2S_BLOCK)
            for (int g = 0; g < 4; g++)
                for (int j = 0; j < 32; j++) c[32 * g + j] = (uint8_t)((row[j] >> (6 - 2 * g)) & 3);
        return;
    }
    for (int64_t blk = 0; blk < K / BN_QK_K; blk++, c += BN_QK_K) {
        if (w->type == BN_TYPE_TQ2_0) { /* qs[32h + j] holds weights 128h + j + 32n at bits 2n */
            const bn_block_tq2_0 *b = (const bn_block_tq2_0 *)row + blk;
            for (int h = 0; h < 2; h++)
                for (int n = 0; n < 4; n++)
                    for (int j = 0; j < 32; j++) c[128 * h + 32 * n + j] = (uint8_t)((b->qs[32 * h + j] >> (2 * n)) & 3);
            d[blk] = bn_f16_to_f32(b->d);
        } else {
            const bn_block_tq1_0 *b = (const bn_block_tq1_0 *)row + blk;
            int8_t t[BN_QK_K];
            bn_tq1_0_decode(b, t);
            for (int k = 0; k < BN_QK_K; k++) c[k] = (uint8_t)(t[k] + 1);
            d[blk] = bn_f16_to_f32(b->d);
        }
    }
}

/* Interleaves 16 decoded rows (rc[m * K + k]) into the tile's chunks (layout: kernel_impl.h). */
static void pack_tile(const uint8_t *rc, int64_t K, uint8_t *dst) {
    for (int64_t ch = 0; ch < K / BN_CHUNK_K; ch++, dst += BN_CHUNK_BYTES)
        for (int m = 0; m < BN_TILE_ROWS; m++) {
            const uint8_t *src = rc + (int64_t)m * K + ch * BN_CHUNK_K;
            for (int p = 0; p < 4; p++) /* byte 64p + 4m + j holds k = 16s + 4p + j, s = 0..3 */
                for (int j = 0; j < 4; j++) {
                    const uint8_t *e = src + 4 * p + j;
                    dst[64 * p + 4 * m + j] = (uint8_t)(e[0] | e[16] << 2 | e[32] << 4 | e[48] << 6);
                }
        }
}

/* The 2-bit formats (I2_S, TQ2_0) straight into tile bytes, 8 at a time in a uint64 (byte
 * lanes: every shift is undone by a per-byte mask, so bits never cross lanes and the result
 * does not depend on byte order), instead of one byte per weight and back: ~14 operations per
 * 32 weights. Tile byte (p, j) of row r in a chunk holds k = 16 s + 4 p + j at bits 2s (layout:
 * kernel_impl.h). In both formats the chunk's weights 16 s + 4 p + j sit in source byte
 * L[4p + j] (s even) or H[4p + j] = L[16 + 4p + j] (s odd), at bit a (s = 0, 1) or b (s = 2, 3):
 *   I2_S  128-weight block of 32 bytes, weight w at byte w % 32, bit 6 - 2 (w / 32): chunk ch
 *         is half ch % 2 of block ch / 2: L = block, a = 6 - 4 (ch % 2), b = a - 2;
 *   TQ2_0 256-weight block, weight 128 h + 32 n + i at qs[32 h + i], bit 2n: chunk ch is
 *         quarter q = ch % 4 of block ch / 4: L = qs + 32 (q / 2), a = 4 (q % 2), b = a + 2. */
#define BYTES_03 0x0303030303030303ull
static uint64_t tile_bytes8(uint64_t l, uint64_t h, int a, int b) {
    return ((l >> a) & BYTES_03) | ((h >> a) & BYTES_03) << 2 | ((l >> b) & BYTES_03) << 4 | ((h >> b) & BYTES_03) << 6;
}

/* Row r of a tile, all chunks, from row m of a 2-bit weight; block scales (TQ2_0) into d.
 * Returns nonzero when a code 3 occurs in the row. */
static uint64_t pack_row_2bit(const bn_linear *w, int64_t m, int r, int64_t n_chunks, uint8_t *tile, float *d) {
    const uint8_t *row = w->data + (uint64_t)m * w->row_bytes;
    bool i2s = w->type == BN_TYPE_I2_S;
    uint64_t code3 = 0;
    for (int64_t ch = 0; ch < n_chunks; ch++) {
        const uint8_t *lo;
        int a;
        if (i2s) {
            lo = row + 32 * (ch / 2);
            a = 6 - 4 * (int)(ch % 2);
        } else {
            const bn_block_tq2_0 *blk = (const bn_block_tq2_0 *)row + ch / 4;
            lo = blk->qs + 32 * ((ch % 4) / 2);
            a = 4 * (int)(ch % 2);
            if (ch % 4 == 0) d[ch / 4] = bn_f16_to_f32(blk->d);
        }
        int b = i2s ? a - 2 : a + 2;
        uint64_t l[2], h[2], t[2];
        memcpy(l, lo, 16);
        memcpy(h, lo + 16, 16);
        for (int i = 0; i < 2; i++) {
            t[i] = tile_bytes8(l[i], h[i], a, b);
            code3 |= t[i] & t[i] >> 1 & 0x5555555555555555ull; /* both bits of a field set */
        }
        const uint8_t *tb = (const uint8_t *)t; /* tb[4p + j] */
        for (int p = 0; p < 4; p++) memcpy(tile + ch * BN_CHUNK_BYTES + 64 * p + 4 * r, tb + 4 * p, 4);
    }
    return code3;
}

void bn_ternary_tiles_free(bn_ternary_tiles *p) {
    if (!p) return;
    if (!p->borrowed_codes) free(p->codes);
    free(p->block_d);
    free(p);
}

uint64_t bn_ternary_tiles_code_bytes(const bn_linear *w) {
    int64_t n_tiles = (w->out + BN_TILE_ROWS - 1) / BN_TILE_ROWS;
    return (uint64_t)n_tiles * (uint64_t)(w->in / BN_CHUNK_K) * BN_CHUNK_BYTES;
}

bn_ternary_tiles *bn_ternary_tiles_build(const bn_linear *w) { return bn_ternary_tiles_build_in(w, NULL); }

bn_ternary_tiles *bn_ternary_tiles_build_in(const bn_linear *w, uint8_t *codes) {
    int64_t K = w->in, M = w->out;
    if (K % BN_QK_K != 0 || M <= 0) {
        bn_error(BITNET_ERR_UNSUPPORTED, "tensor '%s': cannot tile K=%lld", w->name ? w->name : "?", (long long)K);
        return NULL;
    }
    bn_ternary_tiles *p = bn_calloc(1, sizeof *p, "packed ternary weight");
    if (!p) return NULL;
    p->M = M;
    p->K = K;
    p->n_tiles = (M + BN_TILE_ROWS - 1) / BN_TILE_ROWS;
    p->n_chunks = K / BN_CHUNK_K;
    p->n_blocks = K / BN_QK_K;
    uint64_t code_bytes = bn_ternary_tiles_code_bytes(w);
    uint64_t d_count = w->uniform_scale ? 0 : (uint64_t)p->n_tiles * (uint64_t)p->n_blocks * BN_TILE_ROWS;
    uint8_t *rows = bn_malloc_lines((size_t)((uint64_t)BN_TILE_ROWS * (uint64_t)K), "tile decode buffer");
    float *row_d = bn_malloc((size_t)p->n_blocks * sizeof(float), "tile block scales");
    p->codes = codes ? codes : bn_malloc_lines((size_t)code_bytes, "packed ternary codes");
    p->borrowed_codes = codes != NULL;
    p->block_d = d_count ? bn_malloc_lines((size_t)(d_count * sizeof(float)), "packed block scales") : NULL;
    p->bytes = code_bytes + d_count * sizeof(float);
    if (!rows || !row_d || !p->codes || (d_count && !p->block_d)) {
        free(rows);
        free(row_d);
        bn_ternary_tiles_free(p);
        return NULL;
    }
    bool two_bit = w->type == BN_TYPE_I2_S || w->type == BN_TYPE_TQ2_0;
    for (int64_t tile = 0; tile < p->n_tiles; tile++) {
        float *bd = p->block_d ? p->block_d + tile * p->n_blocks * BN_TILE_ROWS : NULL;
        uint8_t *dst = p->codes + (uint64_t)tile * (uint64_t)p->n_chunks * BN_CHUNK_BYTES;
        for (int r = 0; r < BN_TILE_ROWS; r++) {
            int64_t m = tile * BN_TILE_ROWS + r;
            if (m < M && two_bit) p->code3 |= pack_row_2bit(w, m, r, p->n_chunks, dst, row_d) != 0;
            else if (m < M) decode_row_codes(w, m, rows + (int64_t)r * K, row_d);
            else { /* padding rows: weight 0 (code 1 in every field: bytes 0x55), scale 0 */
                memset(row_d, 0, (size_t)p->n_blocks * sizeof(float));
                if (!two_bit) memset(rows + (int64_t)r * K, 1, (size_t)K);
                else
                    for (int64_t ch = 0; ch < p->n_chunks; ch++)
                        for (int q = 0; q < 4; q++) memset(dst + ch * BN_CHUNK_BYTES + 64 * q + 4 * r, 0x55, 4);
            }
            if (bd)
                for (int64_t b = 0; b < p->n_blocks; b++) bd[b * BN_TILE_ROWS + r] = row_d[b];
        }
        if (!two_bit) pack_tile(rows, K, dst);
    }
    free(rows);
    free(row_d);
    return p;
}

void bn_q8_rows_free(bn_q8_rows *p) {
    if (!p) return;
    bn_free_large(p->data, (size_t)p->bytes);
    free(p);
}

/* One row: Q8_0 blocks -> u8 codes (w + 128) in group order, then the f16 scales. */
static void pack_q8_row(const bn_block_q8_0 *src, int64_t nb, int64_t n_groups, uint8_t *dst) {
    uint16_t *scales = (uint16_t *)(dst + n_groups * BN_Q8_GROUP_BYTES);
    for (int64_t b = 0; b < n_groups * BN_Q8_GROUP_BLOCKS; b++) {
        uint8_t *g = dst + (b / BN_Q8_GROUP_BLOCKS) * BN_Q8_GROUP_BYTES + 4 * (b % BN_Q8_GROUP_BLOCKS);
        for (int k = 0; k < 32; k++) /* weight k of the block: vector k / 4, byte k % 4 of lane j */
            g[64 * (k / 4) + k % 4] = (uint8_t)((b < nb ? src[b].qs[k] : 0) + 128);
        scales[b] = b < nb ? src[b].d : 0;
    }
}

bn_q8_rows *bn_q8_rows_new(const bn_linear *w) {
    if (w->type != BN_TYPE_Q8_0 || w->in % 32 != 0 || w->in > BN_Q8_ROWS_MAX_K || w->out <= 0) {
        bn_error(BITNET_ERR_UNSUPPORTED, "tensor '%s': no q8 rows layout for this shape", w->name ? w->name : "?");
        return NULL;
    }
    bn_q8_rows *p = bn_calloc(1, sizeof *p, "packed Q8_0 weight");
    if (!p) return NULL;
    p->M = w->out;
    p->K = w->in;
    p->n_groups = (w->in / 32 + BN_Q8_GROUP_BLOCKS - 1) / BN_Q8_GROUP_BLOCKS;
    p->row_stride = ((uint64_t)p->n_groups * (BN_Q8_GROUP_BYTES + 2 * BN_Q8_GROUP_BLOCKS) + 63) & ~(uint64_t)63;
    p->bytes = p->row_stride * (uint64_t)p->M;
    p->data = bn_malloc_large((size_t)p->bytes, "packed Q8_0 rows"); /* written whole at load: huge pages (util.h) */
    if (!p->data) {
        bn_q8_rows_free(p);
        return NULL;
    }
    return p;
}

void bn_q8_rows_fill(bn_q8_rows *p, const bn_block_q8_0 *rows, int64_t m0, int64_t m1) {
    int64_t nb = p->K / 32;
    for (int64_t m = m0; m < m1; m++) {
        uint8_t *dst = p->data + (uint64_t)m * p->row_stride;
        memset(dst, 0, p->row_stride);
        pack_q8_row(rows + (m - m0) * nb, nb, p->n_groups, dst);
    }
}

bn_q8_rows *bn_q8_rows_build(const bn_linear *w) {
    bn_q8_rows *p = bn_q8_rows_new(w);
    if (p) bn_q8_rows_fill(p, (const bn_block_q8_0 *)w->data, 0, p->M);
    return p;
}
