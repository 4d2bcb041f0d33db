/* ternary_amx: token-mode prefill with AMX-INT8. Batches of 16 tokens x 16 weight rows are
 * C tiles (int32); A = 16 tokens x 64 int8 activations straight from the activation rows
 * (stride K); B = 64 inputs x 16 rows of signed weights (c - 1) in the VNNI layout, which is
 * byte for byte the tile layout's chunk expanded from 2 bits to 8 (kernel_impl.h), so one
 * chunk expands with 16 shift/mask/subtract ops. tdpbssd sums exactly in int32
 * (|acc| <= 128 K), so results are bit-identical to the reference. Up to 4 C tiles (64 tokens)
 * share each expanded B tile. Token counts that are not a multiple of 16, non-uniform scales
 * and q8k mode use the AVX-512 VNNI kernels (this tier implies AVX-512). */
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

/* tmm0..3: C (16 tokens x 16 rows int32), tmm4: A (16 tokens x 64 int8), tmm5: B. */
static void configure_tiles(void) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 6; i++) {
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

/* y = (((float)acc / s_t) * S) * out_scale for the 16 tokens of one C tile. */
static void store_c_tile(const bn_ternary_job *j, int64_t tile, int t, const int32_t c[16][16]) {
    for (int r = 0; r < 16; r++) {
        __m512 f = _mm512_cvtepi32_ps(_mm512_load_si512((const void *)c[r]));
        f = _mm512_mul_ps(_mm512_div_ps(f, _mm512_set1_ps(j->a->s[t + r])), _mm512_set1_ps(j->scale));
        float v[BN_TILE_ROWS];
        _mm512_storeu_ps(v, _mm512_mul_ps(f, _mm512_set1_ps(j->out_scale)));
        bn_store_tile_rows(j, tile, t + r, v);
    }
}

#define EACH_C_TILE(ntt, X) do { X(0); if ((ntt) > 1) X(1); if ((ntt) > 2) X(2); if ((ntt) > 3) X(3); } while (0)
#define ZERO_C(i) _tile_zero(i)
#define DOT_C(i) do { _tile_loadd(4, qchunk + (int64_t)(16 * (i)) * K, K); _tile_dpbssd(i, 4, 5); } while (0)
#define STORE_C(i) do { _tile_stored(i, c, 64); store_c_tile(j, tile, tg + 16 * (i), c); } while (0)

static void amx_tokens(const bn_ternary_job *j, int t_end) {
    const bn_ternary_tiles *p = j->p;
    const int64_t K = p->K;
    _Alignas(64) int8_t bt[2][1024]; /* double buffer: chunk ch+1 is expanded while ch is used */
    _Alignas(64) int32_t c[16][16];
    configure_tiles();
    for (int64_t tile = j->m0 / BN_TILE_ROWS; tile * BN_TILE_ROWS < j->m1; tile++) {
        const uint8_t *codes = p->codes + (uint64_t)tile * (uint64_t)p->n_chunks * BN_CHUNK_BYTES;
        for (int tg = j->t0; tg < t_end; tg += 64) {
            int ntt = (t_end - tg) / 16 < 4 ? (t_end - tg) / 16 : 4;
            EACH_C_TILE(ntt, ZERO_C);
            expand_chunk(codes, bt[0]);
            for (int64_t ch = 0; ch < p->n_chunks; ch++) {
                /* Expanding the next chunk first gives this chunk's stores time to complete
                 * before the tile load reads them (a load right behind 1 KiB of stores stalled). */
                if (ch + 1 < p->n_chunks) expand_chunk(codes + (ch + 1) * BN_CHUNK_BYTES, bt[(ch + 1) & 1]);
                _tile_loadd(5, bt[ch & 1], 64);
                const int8_t *qchunk = j->a->q + (int64_t)tg * K + ch * BN_CHUNK_K;
                EACH_C_TILE(ntt, DOT_C);
            }
            EACH_C_TILE(ntt, STORE_C);
        }
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
    BN_TIER_AMX, "amx", ternary_token_amx, bn_ternary_q8k_avx512, bn_float_rows_avx512,
};
