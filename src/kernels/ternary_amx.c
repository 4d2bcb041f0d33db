/* ternary_amx: token-mode prefill with AMX-INT8. C tiles are 16 tokens x 16 weight rows
 * (int32); A = 16 tokens x 64 int8 activations straight from the activation rows (stride K);
 * B = 64 inputs x 16 rows of signed weights (c - 1) in the VNNI layout, which is byte for
 * byte the tile layout's chunk expanded from 2 bits to 8 (kernel_impl.h), so one chunk
 * expands with 16 shift/mask/subtract ops. tdpbssd sums exactly in int32 (|acc| <= 128 K), so
 * results are bit-identical to the reference. Register blocking is 2 x 2: two weight tiles
 * times two token tiles (four C tiles, two A, two B), so each A tile load (the activations
 * come from L2) and each expanded B tile serves two products; with one B per four C tiles
 * the A loads bound the loop (2560 x 2560 x 128 on one core: ~1.9 -> ~2.4 TOPS). Measured
 * and not kept: B expanded once per K segment and reused by all token pairs (C tiles saved and
 * reloaded between segments), two tile pairs sharing an L1-resident A segment, software
 * prefetch of A (all slower or equal); A tiles from a blocked copy of the activations
 * ([K/64][n][64], 1 KiB contiguous per tile) were 13-16% faster but need that layout from the
 * quantizer (bn_act has only [n][K]). Token
 * counts that are not a multiple of 16, non-uniform scales and q8k mode use the AVX-512 VNNI
 * kernels (this tier implies AVX-512). */
#include <immintrin.h>
#include <string.h>

#include "kernel_impl.h"

#define UNROLL _Pragma("GCC unroll 16") /* constant shift counts, no loop overhead */

typedef struct tile_config {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* tmm0..3: C (16 tokens x 16 rows int32), tmm4, 5: A (16 tokens x 64 int8), tmm6, 7: B. */
static void configure_tiles(void) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.colsb[i] = 64;
        cfg.rows[i] = 16;
    }
    _tile_loadconfig(&cfg);
}

/* One 256-byte chunk -> 1 KiB B tile: row 4s + p, byte l = ((chunk[64p + l] >> 2s) & 3) - 1. */
static inline void expand_chunk(const uint8_t *codes, int8_t *b) {
    const __m512i three = _mm512_set1_epi8(3), one = _mm512_set1_epi8(1);
    UNROLL for (int p = 0; p < 4; p++) {
        __m512i v = _mm512_load_si512((const void *)(codes + 64 * p));
        UNROLL for (int s = 0; s < 4; s++)
            _mm512_store_si512((void *)(b + (4 * s + p) * 64),
                               _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 2 * s), three), one));
    }
}

/* (float)acc / s_t without a float division: q = (double)(float)acc * rs_t, rs_t = 1 / (double)s_t,
 * rounded to float. That is exactly the float quotient: in double, rs_t and the product each
 * round by at most 2^-53 relative, so q is within ~2^-52 of the true quotient, while a quotient
 * of two floats is at least ~2^-49 (relative) away from every midpoint between floats that it
 * is not equal to, and never equal to one; so q rounds to the same float. (Checked against
 * vdivps for every |acc| < 2^20 at 8000 scales.) 64 divisions per 2 x 2 block become 4. */
static inline __m512 div_by_scale(__m512 f, __m512d rs) {
    __m256 lo = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(f)), rs));
    __m256 hi = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))), rs));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

/* y = (((float)acc / s_t) * S) * out_scale for the 16 tokens of one C tile (rs[r] = 1 / s_t of
 * its token r), written straight into y when the tile's 16 rows are all inside [m0, m1). */
static void store_c_tile(const bn_ternary_job *j, int64_t tile, int t, const int32_t c[16][16], const double *rs) {
    int64_t r0 = tile * BN_TILE_ROWS;
    bool whole = r0 >= j->m0 && r0 + BN_TILE_ROWS <= j->m1;
    for (int r = 0; r < 16; r++) {
        __m512 f = div_by_scale(_mm512_cvtepi32_ps(_mm512_load_si512((const void *)c[r])), _mm512_set1_pd(rs[r]));
        f = _mm512_mul_ps(_mm512_mul_ps(f, _mm512_set1_ps(j->scale)), _mm512_set1_ps(j->out_scale));
        if (whole) {
            _mm512_storeu_ps(j->y + (int64_t)(t + r) * j->ldy + r0, f);
        } else {
            float v[BN_TILE_ROWS];
            _mm512_storeu_ps(v, f);
            bn_store_tile_rows(j, tile, t + r, v);
        }
    }
}

/* C tiles of one 2 x 2 block: tmm(2 w + i) = weight tile `tile + w`, token tile tg + 16 i.
 * A lone last weight or token tile is computed twice (B1 = B0, A1 = A0) and stored once. */
typedef struct {
    int64_t tile;
    int tg;
    bool two_w, two_t;
} block_2x2;

static void store_block(const bn_ternary_job *j, const block_2x2 *b) {
    _Alignas(64) int32_t c[16][16];
    double rs[32];
    for (int i = 0; i < (b->two_t ? 32 : 16); i += 8)
        _mm512_storeu_pd(rs + i, _mm512_div_pd(_mm512_set1_pd(1.0), _mm512_cvtps_pd(_mm256_loadu_ps(j->a->s + b->tg + i))));
    _tile_stored(0, c, 64);
    store_c_tile(j, b->tile, b->tg, c, rs);
    if (b->two_t) {
        _tile_stored(1, c, 64);
        store_c_tile(j, b->tile, b->tg + 16, c, rs + 16);
    }
    if (!b->two_w) return;
    _tile_stored(2, c, 64);
    store_c_tile(j, b->tile + 1, b->tg, c, rs);
    if (b->two_t) {
        _tile_stored(3, c, 64);
        store_c_tile(j, b->tile + 1, b->tg + 16, c, rs + 16);
    }
}

/* The K loop of one block: per 64-input chunk, expand the next chunk's two B tiles (double
 * buffered: the stores have time to complete before the tile loads read them; a load right
 * behind 1 KiB of stores stalled), then 2 A loads, 2 B loads and 4 tdpbssd. */
static void block_k_loop(const bn_ternary_job *j, const block_2x2 *b) {
    const bn_ternary_tiles *p = j->p;
    const int64_t K = p->K, n_chunks = p->n_chunks;
    const uint8_t *codes0 = bn_tile_codes(p, b->tile);
    const uint8_t *codes1 = b->two_w ? bn_tile_codes(p, b->tile + 1) : codes0;
    const int64_t a1 = b->two_t ? 16 * K : 0;
    _Alignas(64) int8_t bt[2][2][1024];
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    expand_chunk(codes0, bt[0][0]);
    expand_chunk(codes1, bt[0][1]);
    for (int64_t ch = 0; ch < n_chunks; ch++) {
        if (ch + 1 < n_chunks) {
            expand_chunk(codes0 + (ch + 1) * BN_CHUNK_BYTES, bt[(ch + 1) & 1][0]);
            expand_chunk(codes1 + (ch + 1) * BN_CHUNK_BYTES, bt[(ch + 1) & 1][1]);
        }
        const int8_t *qchunk = j->a->q + (int64_t)b->tg * K + ch * BN_CHUNK_K;
        _tile_loadd(4, qchunk, K);
        _tile_loadd(6, bt[ch & 1][0], 64);
        _tile_dpbssd(0, 4, 6);
        _tile_loadd(5, qchunk + a1, K);
        _tile_dpbssd(1, 5, 6);
        _tile_loadd(7, bt[ch & 1][1], 64);
        _tile_dpbssd(2, 4, 7);
        _tile_dpbssd(3, 5, 7);
    }
}

/* Tokens [t0, t_end) (a multiple of 16 of them), rows [m0, m1): pairs of weight tiles outer
 * (their codes stay in L1/L2 while the token pairs stream the activations), pairs of token
 * tiles inner. */
static void amx_tokens(const bn_ternary_job *j, int t_end) {
    const int64_t tile_end = (j->m1 + BN_TILE_ROWS - 1) / BN_TILE_ROWS;
    configure_tiles();
    for (int64_t tile = j->m0 / BN_TILE_ROWS; tile < tile_end; tile += 2)
        for (int tg = j->t0; tg < t_end; tg += 32) {
            block_2x2 b = {tile, tg, tile + 1 < tile_end, tg + 16 < t_end};
            block_k_loop(j, &b);
            store_block(j, &b);
        }
    _tile_release();
}

static void ternary_token_amx(const bn_ternary_job *j) {
    int n16 = (j->t1 - j->t0) / 16 * 16;
    if (!j->uniform || n16 == 0) {
        bn_ternary_token_avx512(j);
        return;
    }
    amx_tokens(j, j->t0 + n16);
    if (j->t0 + n16 < j->t1) {
        bn_ternary_job rest = *j;
        rest.t0 = j->t0 + n16;
        bn_ternary_token_avx512(&rest);
    }
}

const bn_kernel_table bn_kernels_amx = {
    BN_TIER_AMX, "amx", ternary_token_amx, bn_ternary_q8k_avx512, bn_float_rows_avx512, bn_q8_rows_avx512,
};
