/* ternary_lut_avx2: the AVX2 prefill of a uniform-scale ternary weight by tables of partial
 * sums, included by ternary_avx2.c before ternary_256.h (whose token kernel calls
 * lut_prefill first and takes the tokens it leaves).
 *
 * Why: AVX2 has no u8 x s8 dot into an accumulator, so the decoded-codes prefill needs a
 * pmaddubsw and a vpaddw for every 32 multiply-adds, about 1.6-1.8 such pairs per cycle at
 * best (docs/KERNELS.md). Here the products are not computed at all. A tile byte holds the
 * four codes of one row at k = 64 c + 16 s + 4 p + j, s = 0..3 (a "group" G = (c, p, j);
 * layout: kernel_impl.h). For 32 tokens at once, the table of G has one entry per possible
 * byte b: T_G[b][t] = sum_s (field_s(b) - 1) q_t[k_s], 32 int16 (two vectors). A row's dot
 * with the 32 tokens over G is then two vpaddw of T_G[byte] into the row's int16 sums: 128
 * multiply-adds for two vector load-and-adds, a byte load and a shift, against 4 pmaddubsw +
 * 4 vpaddw (+ broadcasts).
 *
 * Per block of 32 tokens: the activations are widened to int16 and transposed (qt[k][32]);
 * per chunk c, the 16 tables of its groups are built (81 entries each, from 9 + 9 pair sums;
 * entries 64 bytes at 64 b, so only the 81 lines of valid bytes are touched, ~83 KB in all),
 * then every tile of the call adds its 8 rows x 16 groups per half into int16 sums (two
 * vectors per row, all 16 registers), kept in acc16 between the chunks of a widening period
 * and added into int32 (acc32) from the registers at its end, every LUT_WIDEN chunks.
 * Building a chunk's tables costs about what 90 rows' lookups cost, so the path needs long
 * row ranges (LUT_MIN_ROWS; bn_kernel_prefill_units gives prefill calls such ranges at this
 * tier). Measured in docs/KERNELS.md ("AVX2 prefill by tables").
 *
 * Exact: an entry is in [-512, 512] (q in [-128, 127], weights -1..1), an int16 sum gets 16
 * entries per chunk, 32 over LUT_WIDEN = 2 chunks: within [-16384, 16384]. The int32 sum is
 * the exact dot sum_k (c - 1) q = sum_k c q - sum_k q, the same integer the other paths form
 * as acc - sumq, and the float epilogue is theirs: the same bits. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernel_impl.h"

#define LUT_TOKENS BN_LUT_TOKENS     /* tokens per block: two int16 vectors */
#define LUT_MIN_ROWS BN_LUT_MIN_ROWS /* fewer rows per call: the table building would not pay */
#define LUT_WIDEN 2          /* chunks between widenings of the int16 sums (bound above) */
#define LUT_TABLES 16        /* groups per chunk: 4 p x 4 j */
/* int16s from one table to the next: 256 entries of LUT_TOKENS, plus 11 entries so that the 16
 * tables do not start on the same cache sets */
#define LUT_TABLE_STRIDE (256 * LUT_TOKENS + 11 * LUT_TOKENS)
#define LUT_PREFETCH_TILES 2 /* the chunk's codes of the tile this far ahead are prefetched */

typedef struct lut_scratch {
    int16_t *tables; /* [LUT_TABLES][LUT_TABLE_STRIDE] */
    int16_t *qt;     /* [K][LUT_TOKENS] */
    int16_t *acc16;  /* [rows][LUT_TOKENS]: the int16 sums between chunks of a widening period */
    int32_t *acc32;  /* [rows][LUT_TOKENS] */
} lut_scratch;

static uint64_t lut_align(uint64_t n) { return (n + 63) & ~(uint64_t)63; }

/* The scratch's parts for K inputs and `rows` rows (a multiple of 16), each 64-byte aligned
 * from `base` rounded up (s NULL: none set); returns the bytes they need from base, the 64
 * bytes of rounding slack included. */
static uint64_t lut_layout(int64_t K, int64_t rows, void *base, lut_scratch *s) {
    const uint64_t size[4] = {(uint64_t)LUT_TABLES * LUT_TABLE_STRIDE * 2, (uint64_t)K * LUT_TOKENS * 2,
                              (uint64_t)rows * LUT_TOKENS * 2, (uint64_t)rows * LUT_TOKENS * 4};
    uint64_t off[5] = {0};
    for (int i = 0; i < 4; i++) off[i + 1] = off[i] + lut_align(size[i]);
    if (s) {
        uint8_t *p = (uint8_t *)(((uintptr_t)base + 63) & ~(uintptr_t)63);
        s->tables = (int16_t *)(p + off[0]);
        s->qt = (int16_t *)(p + off[1]);
        s->acc16 = (int16_t *)(p + off[2]);
        s->acc32 = (int32_t *)(p + off[3]);
    }
    return 64 + off[4];
}

static uint64_t lut_scratch_bytes(int64_t K, int64_t rows) { return lut_layout(K, rows, NULL, NULL); }

/* Sets s's parts in the scratch at base when its `bytes` hold them (else s is not to be used). */
static bool lut_scratch_carve(void *base, uint64_t bytes, int64_t K, int64_t rows, lut_scratch *s) {
    return base && lut_layout(K, rows, base, s) <= bytes;
}

/* The 16 x 16 byte transpose: r[i] byte k -> r[k] byte i, by interleaving bytes, then pairs,
 * quads and halves of rows (4 x 16 unpacks). */
BN_INLINE void lut_transpose16(__m128i r[16]) {
    __m128i t[16], u[16];
    for (int i = 0; i < 8; i++) { /* t[i]: k 0..7 of rows 2i, 2i+1 interleaved; t[i + 8]: k 8..15 */
        t[i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
        t[i + 8] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 4; i++) { /* u[8h + i]: k 8h..8h+3 of rows 4i..4i+3; u[8h + i + 4]: k 8h+4..8h+7 */
            u[8 * h + i] = _mm_unpacklo_epi16(t[8 * h + 2 * i], t[8 * h + 2 * i + 1]);
            u[8 * h + i + 4] = _mm_unpackhi_epi16(t[8 * h + 2 * i], t[8 * h + 2 * i + 1]);
        }
    for (int g = 0; g < 4; g++) { /* u[4g..4g+3]: k 4g..4g+3 of rows 0-3, 4-7, 8-11, 12-15 */
        const __m128i *a = u + 4 * g;
        int k0 = 4 * g;
        __m128i v0 = _mm_unpacklo_epi32(a[0], a[1]), v1 = _mm_unpackhi_epi32(a[0], a[1]); /* k0, k0+1 / k0+2, k0+3: rows 0..7 */
        __m128i v2 = _mm_unpacklo_epi32(a[2], a[3]), v3 = _mm_unpackhi_epi32(a[2], a[3]); /* the same, rows 8..15 */
        r[k0] = _mm_unpacklo_epi64(v0, v2);
        r[k0 + 1] = _mm_unpackhi_epi64(v0, v2);
        r[k0 + 2] = _mm_unpacklo_epi64(v1, v3);
        r[k0 + 3] = _mm_unpackhi_epi64(v1, v3);
    }
}

/* qt[k][i] = q of token i (rows K apart) at k, widened to int16: 16 x 16 byte blocks
 * transposed, then sign-extended (K is a multiple of 64). */
static BN_TSAN_UNCHECKED_READS void lut_transpose(const int8_t *q, int64_t K, int16_t *qt) {
    for (int i0 = 0; i0 < LUT_TOKENS; i0 += 16)
        for (int64_t k0 = 0; k0 < K; k0 += 16) {
            __m128i r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm_loadu_si128((const __m128i *)(q + (int64_t)(i0 + i) * K + k0));
            lut_transpose16(r);
            for (int k = 0; k < 16; k++) _mm256_store_si256((__m256i *)(qt + (k0 + k) * LUT_TOKENS + i0), _mm256_cvtepi8_epi16(r[k]));
        }
}

/* The weight -1, 0 or +1 (code 0, 1, 2) times a. */
BN_INLINE __m256i lut_term(int code, __m256i a) {
    return code == 0 ? _mm256_sub_epi16(_mm256_setzero_si256(), a) : code == 1 ? _mm256_setzero_si256() : a;
}

/* The 16 tables of chunk c: table 4 p + j, entry b (fields c_s in 0..2) = sum_s (c_s - 1) a_s
 * with a_s the tokens' activations at k = 64 c + 16 s + 4 p + j. Bytes with a field 3 are left
 * as they were: lut_prefill declines weights that have one (bn_ternary_tiles.code3). */
static void lut_build_tables(const int16_t *qt, int64_t c, int16_t *tables) {
    for (int p = 0; p < 4; p++)
        for (int j = 0; j < 4; j++) {
            for (int v = 0; v < LUT_TOKENS / 16; v++) { /* one vector of 16 tokens at a time */
                __m256i a[4], lo[9], hi[9];
                for (int s = 0; s < 4; s++) a[s] = _mm256_load_si256((const __m256i *)(qt + (64 * c + 16 * s + 4 * p + j) * LUT_TOKENS + 16 * v));
                BN_UNROLL for (int c1 = 0; c1 < 3; c1++)
                    BN_UNROLL for (int c0 = 0; c0 < 3; c0++) {
                        lo[c0 + 3 * c1] = _mm256_add_epi16(lut_term(c0, a[0]), lut_term(c1, a[1]));
                        hi[c0 + 3 * c1] = _mm256_add_epi16(lut_term(c0, a[2]), lut_term(c1, a[3]));
                    }
                int16_t *t = tables + (4 * p + j) * LUT_TABLE_STRIDE + 16 * v;
                BN_UNROLL for (int h = 0; h < 9; h++) /* h = c2 + 3 c3 */
                    BN_UNROLL for (int l = 0; l < 9; l++) {
                        int b = l % 3 | (l / 3) << 2 | (h % 3) << 4 | (h / 3) << 6;
                        _mm256_store_si256((__m256i *)(t + b * LUT_TOKENS), _mm256_add_epi16(lo[l], hi[h]));
                    }
            }
        }
}

/* How lut_half starts and ends the int16 sums of a chunk: a widening period is LUT_WIDEN
 * chunks; its first chunk starts from zero instead of loading acc16, its last adds the sums
 * into acc32 (sign-extended) instead of storing them, so acc16 lives in memory only between
 * the chunks of a period, and the first period stores into acc32 rather than adds (no
 * memsets, no separate widening pass). */
enum { LUT_FROM_ZERO = 1, LUT_TO_ACC32 = 2, LUT_FIRST_ACC32 = 4 };

/* The 8 rows' int16 sums r (two vectors a row) into acc32 (8 rows x LUT_TOKENS int32). */
BN_INLINE void lut_widen_rows(__m256i r[8][2], int32_t *acc32, bool first) {
    BN_UNROLL for (int m = 0; m < 8; m++)
        BN_UNROLL for (int v = 0; v < 2; v++) {
            __m256i *d = (__m256i *)(acc32 + m * LUT_TOKENS + 16 * v);
            __m256i lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(r[m][v]));
            __m256i hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(r[m][v], 1));
            _mm256_store_si256(d, first ? lo : _mm256_add_epi32(_mm256_load_si256(d), lo));
            _mm256_store_si256(d + 1, first ? hi : _mm256_add_epi32(_mm256_load_si256(d + 1), hi));
        }
}

/* The int16 sums of the 8 rows of half h of a tile += their 16 groups of chunk c (codes: the
 * tile's chunk), started and ended as `mode` says (a constant at each call, so that each
 * combination compiles to its own loop). Each row's sum is pinned in a register (BN_PIN):
 * gcc would otherwise reassociate the lookups into trees and spill. */
BN_INLINE BN_TSAN_UNCHECKED_READS void lut_half(const uint8_t *codes, int h, const int16_t *tables, int16_t *acc16,
                                                int32_t *acc32, int mode) {
    __m256i r[8][2];
    BN_UNROLL for (int m = 0; m < 8; m++)
        BN_UNROLL for (int v = 0; v < 2; v++)
            r[m][v] = mode & LUT_FROM_ZERO ? _mm256_setzero_si256() : _mm256_load_si256((const __m256i *)(acc16 + m * LUT_TOKENS + 16 * v));
    BN_UNROLL for (int p = 0; p < 4; p++)
        BN_UNROLL for (int j = 0; j < 4; j++) {
            const int16_t *t = tables + (4 * p + j) * LUT_TABLE_STRIDE;
            const uint8_t *b = codes + 64 * p + 32 * h + j; /* row m's byte: b[4 m] */
            BN_UNROLL for (int m = 0; m < 8; m++) {
                const int16_t *e = t + (size_t)b[4 * m] * LUT_TOKENS;
                BN_UNROLL for (int v = 0; v < 2; v++) {
                    r[m][v] = _mm256_add_epi16(r[m][v], _mm256_load_si256((const __m256i *)(e + 16 * v)));
                    BN_PIN(r[m][v]);
                }
            }
        }
    if (mode & LUT_TO_ACC32) {
        lut_widen_rows(r, acc32, mode & LUT_FIRST_ACC32);
        return;
    }
    BN_UNROLL for (int m = 0; m < 8; m++)
        BN_UNROLL for (int v = 0; v < 2; v++) _mm256_store_si256((__m256i *)(acc16 + m * LUT_TOKENS + 16 * v), r[m][v]);
}

/* Both halves of a tile over one chunk (tables: the chunk's), in `mode`; acc16 and acc32: the
 * tile's 16 rows. */
BN_INLINE void lut_tile_chunk(const uint8_t *codes, const int16_t *tables, int16_t *acc16, int32_t *acc32, int mode) {
    for (int h = 0; h < 2; h++) lut_half(codes, h, tables, acc16 + 8 * h * LUT_TOKENS, acc32 + 8 * h * LUT_TOKENS, mode);
}

/* The 8 x 8 transpose of v (v[r] lane i -> v[i] lane r). */
BN_INLINE void lut_transpose8(__m256 v[8]) {
    __m256 a[8], b[8];
    for (int i = 0; i < 4; i++) {
        a[2 * i] = _mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        a[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        b[4 * i] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
        b[4 * i + 1] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0xee);
        b[4 * i + 2] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
        b[4 * i + 3] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x20);
        v[i + 4] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x31);
    }
}

/* y of tokens [t, t + LUT_TOKENS) for rows [m0, m1) (row r0 is acc32's first): the float
 * epilogue of uniform_group, (((float)dot / s_t) * scale) * out_scale, for 8 tokens of a row
 * per vector; runs of 8 rows are transposed so that each token's 8 rows are one store. */
static void lut_store(const bn_ternary_job *j, int t, int64_t r0, const int32_t *acc32) {
    const __m256 scale = _mm256_set1_ps(j->scale), out_scale = _mm256_set1_ps(j->out_scale);
    __m256 s[LUT_TOKENS / 8];
    for (int h = 0; h < LUT_TOKENS / 8; h++) s[h] = _mm256_loadu_ps(j->a->s + t + 8 * h);
    for (int64_t m = j->m0; m < j->m1;) {
        int n = j->m1 - m >= 8 ? 8 : 1;
        for (int h = 0; h < LUT_TOKENS / 8; h++) {
            __m256 v[8];
            for (int r = 0; r < n; r++) {
                __m256 f = _mm256_cvtepi32_ps(_mm256_load_si256((const __m256i *)(acc32 + (m + r - r0) * LUT_TOKENS + 8 * h)));
                v[r] = _mm256_mul_ps(_mm256_mul_ps(_mm256_div_ps(f, s[h]), scale), out_scale);
            }
            float *y = j->y + (int64_t)(t + 8 * h) * j->ldy + m;
            if (n == 8) {
                lut_transpose8(v);
                for (int i = 0; i < 8; i++) _mm256_storeu_ps(y + i * j->ldy, v[i]);
            } else {
                float one[8];
                _mm256_storeu_ps(one, v[0]);
                for (int i = 0; i < 8; i++) y[i * j->ldy] = one[i];
            }
        }
        m += n;
    }
}

/* A weight's K is a multiple of BN_QK_K (bn_ternary_tiles_build_in), so its chunks are whole
 * widening periods. */
_Static_assert(BN_QK_K / BN_CHUNK_K % LUT_WIDEN == 0, "a 256-input block holds whole widening periods");

/* The mode (lut_half) of chunk c: its place in its widening period. */
static int lut_chunk_mode(int64_t c) {
    return (c % LUT_WIDEN == 0 ? LUT_FROM_ZERO : 0) | (c % LUT_WIDEN == LUT_WIDEN - 1 ? LUT_TO_ACC32 : 0) |
           (c < LUT_WIDEN ? LUT_FIRST_ACC32 : 0);
}

/* Chunk c of tiles [first, first + n_tiles) in `mode` (constant where inlined). */
BN_INLINE void lut_chunk(const bn_ternary_tiles *p, int64_t c, int64_t first, int64_t n_tiles, const lut_scratch *s, int mode) {
    int64_t tile_bytes = p->n_chunks * BN_CHUNK_BYTES;
    for (int64_t i = 0; i < n_tiles; i++) {
        const uint8_t *codes = bn_tile_codes(p, first + i) + c * BN_CHUNK_BYTES;
        /* tiles are tile_bytes apart, too far for the hardware prefetcher to follow */
        if (i + LUT_PREFETCH_TILES < n_tiles)
            BN_UNROLL for (int l = 0; l < BN_CHUNK_BYTES; l += 64) BN_PREFETCH(codes + LUT_PREFETCH_TILES * tile_bytes, l);
        lut_tile_chunk(codes, s->tables, s->acc16 + i * BN_TILE_ROWS * LUT_TOKENS, s->acc32 + i * BN_TILE_ROWS * LUT_TOKENS, mode);
    }
}

/* Tokens [t, t + LUT_TOKENS) over tiles [first, first + n_tiles), those of [m0, m1). */
static void lut_block(const bn_ternary_job *j, int t, int64_t first, int64_t n_tiles, const lut_scratch *s) {
    const bn_ternary_tiles *p = j->p;
    lut_transpose(j->a->q + (int64_t)t * p->K, p->K, s->qt);
    for (int64_t c = 0; c < p->n_chunks; c++) {
        lut_build_tables(s->qt, c, s->tables);
        int mode = lut_chunk_mode(c);
        switch (mode) { /* LUT_WIDEN 2's four modes as constants: a specialized loop each */
        case LUT_FROM_ZERO | LUT_FIRST_ACC32: lut_chunk(p, c, first, n_tiles, s, LUT_FROM_ZERO | LUT_FIRST_ACC32); break;
        case LUT_TO_ACC32 | LUT_FIRST_ACC32: lut_chunk(p, c, first, n_tiles, s, LUT_TO_ACC32 | LUT_FIRST_ACC32); break;
        case LUT_FROM_ZERO: lut_chunk(p, c, first, n_tiles, s, LUT_FROM_ZERO); break;
        case LUT_TO_ACC32: lut_chunk(p, c, first, n_tiles, s, LUT_TO_ACC32); break;
        default: lut_chunk(p, c, first, n_tiles, s, mode); break; /* another LUT_WIDEN's: the same, with branches */
        }
    }
    lut_store(j, t, first * BN_TILE_ROWS, s->acc32);
}

/* The whole blocks of LUT_TOKENS tokens of a uniform-scale call, when it has LUT_MIN_ROWS rows and
 * scratch for them; returns the tokens done (from j->t0), 0 when the path does not apply. */
static int lut_prefill(const bn_ternary_job *j) {
    int blocks = (j->t1 - j->t0) / LUT_TOKENS;
    int64_t first = j->m0 / BN_TILE_ROWS, n_tiles = (j->m1 + BN_TILE_ROWS - 1) / BN_TILE_ROWS - first;
    lut_scratch s;
    if (!j->uniform || j->p->code3 || blocks < 1 || j->m1 - j->m0 < LUT_MIN_ROWS ||
        !lut_scratch_carve(j->scratch, j->scratch_bytes, j->p->K, n_tiles * BN_TILE_ROWS, &s))
        return 0;
    for (int b = 0; b < blocks; b++) lut_block(j, j->t0 + b * LUT_TOKENS, first, n_tiles, &s);
    return blocks * LUT_TOKENS;
}
