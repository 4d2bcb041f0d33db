/* ternary_256: the 256-bit (AVX2 / AVX-VNNI) ternary kernels on the tile layout
 * (kernel_impl.h), written once and included by ternary_avx2.c and ternary_avxvnni.c, which
 * differ only in the 4-way u8 x s8 dot step they define before including this file:
 *   SUM_I8(acc, q_s8)           acc (8 x int32) += sum of 4 int8 per lane
 *   KFN(name)                   the tier's function name for `name`
 *   ONE_TOKEN_PAIR(part, c1, q1, c2, q2), ONE_TOKEN_FOLD(acc, un, sc), ONE_TOKEN_CHUNKS
 *                               one_token_dot's step (a partial += two dot steps), its fold
 *                               into int32 (acc += un + sc / 4) and the chunks between folds
 *                               (one-token calls: two tiles side by side, both halves per pass)
 *   DOT_I16 (AVX2)              the dot step is pmaddubsw into int16: tile_dot sums as
 *                               one_token_dot does (ONE_TOKEN_PAIR), the prefill's dec_dot in
 *                               int16 (bound there), both halves of a tile per broadcast
 *   PREFILL_LUT(job) (optional)  a prefill path the token kernel tries first: returns the
 *                               tokens it did from job->t0 (ternary_lut_avx2.h at AVX2)
 *   DOT4(acc, codes_u8, q_s8), DOT4_PAIR(acc, c1, q1, c2, q2)   (without DOT_I16: vpdpbusd)
 *                               acc (8 x int32) += sum of 4 products per lane, for one and for
 *                               two (codes, q) pairs: tile_dot's and dec_dot's step
 * A tile's 16 rows are two halves: bytes [64p, 64p+32) hold rows 0..7, [64p+32, 64p+64)
 * rows 8..15; each 32-bit lane is one row. Codes c in {0,1,2} multiply the activations and
 * sum(q) is subtracted at the end (weights are c - 1). Bound: |sum c q| <= 256 K in int32. */
#include <immintrin.h>
#include <string.h>

#include "kernel_impl.h"

#define TOKEN_BLOCK 64

BN_INLINE BN_TSAN_UNCHECKED_READS __m256i bcast4(const int8_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm256_set1_epi32(v);
}

#define UNROLL BN_UNROLL /* kernel_impl.h: per-token partial sums stay in registers */
#define GROUP_MAX 4      /* tokens per register block: 4 x 2 int32 partials + decode */
#define FOLD_CHUNKS 4096 /* chunks an int32 partial sums before folding (bound: ternary_avxvnni.c) */

/* acc[t] (8 rows of one half, lane = row) += codes . q[t] over n_chunks chunks, for nt <=
 * GROUP_MAX tokens (a constant after inlining); `codes` points at the half's first 32 bytes.
 * The code fields are not shifted down one by one: with v the 32 code bytes of (chunk, p)
 * and c_s the field at bits 2s..2s+1,
 *     v & 0x03 = c_0,   v & 0x0c = 4 c_1,   (v >> 4) & 0x03 = c_2,   (v >> 4) & 0x0c = 4 c_3,
 * so one shift serves four fields, and the decoded vectors are reused by the nt tokens. Each
 * token sums as one_token_dot does: two partials, the unscaled fields' products in one and the
 * fields scaled by 4 in the other (ONE_TOKEN_PAIR), folded into acc every ONE_TOKEN_CHUNKS
 * chunks (ONE_TOKEN_FOLD: the exact arithmetic shift by 2 undoes the scale; bounds where the
 * tier defines them). At avx2 (DOT_I16) the partials are int16: 2 pmaddubsw + 2 vpaddw per
 * token and 64 MACs instead of an int32 widening at every step (1.16-1.39x at 2-7 tokens,
 * docs/KERNELS.md). Without DOT_I16 (vpdpbusd into int32) one or two tokens take one partial
 * per field instead (TILE_FOUR_CHAINS: 4 independent chains, as the step's latency is then
 * the limit). The sums are exact integers either way. */
#ifdef DOT_I16
#define TILE_FOUR_CHAINS(nt) false
#define TILE_PIN(x) BN_PIN(x) /* as in one_token_dot: gcc would reassociate the int16 sums */
#else
#define TILE_FOUR_CHAINS(nt) ((nt) <= 2)
#define TILE_PIN(x) ((void)0)
#endif
BN_INLINE BN_TSAN_UNCHECKED_READS void tile_dot(const uint8_t *codes, const int8_t *const *q, int nt, int64_t n_chunks, __m256i *acc) {
    const __m256i m03 = _mm256_set1_epi8(0x03), m0c = _mm256_set1_epi8(0x0c);
    const bool four = TILE_FOUR_CHAINS(nt);
    for (int64_t c0 = 0; c0 < n_chunks; c0 += ONE_TOKEN_CHUNKS) {
        int64_t c1 = c0 + ONE_TOKEN_CHUNKS < n_chunks ? c0 + ONE_TOKEN_CHUNKS : n_chunks;
        __m256i part[GROUP_MAX][4];
        UNROLL for (int t = 0; t < nt; t++)
            UNROLL for (int i = 0; i < 4; i++) part[t][i] = _mm256_setzero_si256();
        for (int64_t c = c0; c < c1; c++) {
            const uint8_t *cc = codes + c * BN_CHUNK_BYTES;
            UNROLL for (int p = 0; p < 4; p++) {
                BN_PREFETCH_AHEAD(cc + 64 * p);
                __m256i v = _mm256_load_si256((const __m256i *)(cc + 64 * p)), v4 = _mm256_srli_epi16(v, 4);
                __m256i f[4] = {_mm256_and_si256(v, m03), _mm256_and_si256(v, m0c), _mm256_and_si256(v4, m03),
                                _mm256_and_si256(v4, m0c)};
                UNROLL for (int t = 0; t < nt; t++) {
                    const int8_t *qp = q[t] + c * BN_CHUNK_K + 4 * p; /* field s: qp + 16 s */
#ifndef DOT_I16
                    if (four) {
                        UNROLL for (int s = 0; s < 4; s++) part[t][s] = DOT4(part[t][s], f[s], bcast4(qp + 16 * s));
                        continue;
                    }
#endif
                    part[t][0] = ONE_TOKEN_PAIR(part[t][0], f[0], bcast4(qp), f[2], bcast4(qp + 32));
                    TILE_PIN(part[t][0]);
                    part[t][1] = ONE_TOKEN_PAIR(part[t][1], f[1], bcast4(qp + 16), f[3], bcast4(qp + 48));
                    TILE_PIN(part[t][1]);
                }
            }
        }
        UNROLL for (int t = 0; t < nt; t++) {
            __m256i unscaled = four ? _mm256_add_epi32(part[t][0], part[t][2]) : part[t][0];
            __m256i scaled = four ? _mm256_add_epi32(part[t][1], part[t][3]) : part[t][1];
            acc[t] = ONE_TOKEN_FOLD(acc[t], unscaled, scaled);
        }
    }
}

/* Prefill (DEC_MIN_TOKENS or more tokens, uniform scale): a tile's codes are decoded once per
 * K block of KB_CHUNKS chunks into bytes (decode_codes) and reused by every token of the
 * call, so the inner loop (dec_dot) is only loads and dot steps; sums per token and row go to
 * an int32 array between blocks. */
#define KB_CHUNKS 16 /* chunks per decoded K block: 16 KB of code bytes, L1-resident */

/* Decoded block layout: dec[((c * 4 + p) * 4 + s) * 64 + 32 h + b] = field s (bits 2s..2s+1)
 * of packed byte 64 p + 32 h + b of chunk c: for half h, a vector whose lane m holds row
 * 8h + m's codes (0..2) for k = 16 s + 4 p .. +3, as tile_dot's f[s] but unscaled. */
BN_INLINE void decode_codes(const uint8_t *codes, int64_t nc, uint8_t *dec) {
    const __m256i m03 = _mm256_set1_epi8(0x03);
    for (int64_t i = 0; i < nc * 8; i++) { /* i = 8 c + 2 p + h: 32 packed bytes */
        __m256i v = _mm256_load_si256((const __m256i *)(codes + 32 * i));
        uint8_t *d = dec + 256 * (i >> 1) + 32 * (i & 1);
        /* the 16-bit shift pulls the next byte's bits into the top, the mask drops them */
        UNROLL for (int s = 0; s < 4; s++) _mm256_store_si256((__m256i *)(d + 64 * s), _mm256_and_si256(_mm256_srli_epi16(v, 2 * s), m03));
    }
}

#ifdef DOT_I16
/* dec_dot with pmaddubsw (AVX2 has no u8 x s8 dot into int32): each pmaddubsw result goes
 * into a per-token int16 sum with one vpaddw, and only every I16_CHUNKS chunks one vpmaddwd
 * by ones widens the sums into the int32 array. Both halves of the tile are done at once:
 * each broadcast of 4 activations serves the two code vectors (rows 0..7 and 8..15), so per
 * token and 64 MACs it is 1 broadcast + 2 pmaddubsw + 2 vpaddw instead of 2 + 2 + 2 (3.63 ->
 * 3.13 instructions per 32 MACs). On Zen 4 that is only 3-10% faster in this kernel (an
 * isolated loop of the same steps gained 1.3x; docs/KERNELS.md has the measurements).
 * int16 bound: codes c <= 2 (unscaled), q in [-128, 127], so one pmaddubsw pair
 * c1 q1 + c2 q2 is in [-512, 508]; an int16 lane (one row, one pair position) receives
 * 4 fields x 4 p = 16 pairs per chunk, 64 over I16_CHUNKS = 4 chunks: in [-32768, 32512],
 * exact in int16 (-32768 is all codes 2 against all q = -128; vpaddw wraps but never needs
 * to). Each widening adds two such lanes, at most 2^16, to an int32 lane. */
#define I16_CHUNKS 4
#define DEC_GROUP 5      /* tokens per register block: 5 x 2 int16 sums + 2 code vectors, q, product (6 spilled more) */
#define DEC_MIN_TOKENS 8 /* fewer: tile_dot (the decode buffer costs more than it saves) */

/* acc32[t][row] += codes . q[t] over nc decoded chunks, all 16 rows, for nt <= DEC_GROUP
 * tokens (a constant after inlining); `dec` points at the decoded block. */
BN_INLINE BN_TSAN_UNCHECKED_READS void dec_dot(const uint8_t *dec, const int8_t *const *q, int nt, int64_t nc, int32_t (*acc32)[BN_TILE_ROWS]) {
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t c0 = 0; c0 < nc; c0 += I16_CHUNKS) {
        int64_t c1 = c0 + I16_CHUNKS < nc ? c0 + I16_CHUNKS : nc;
        __m256i s16[DEC_GROUP][2];
        UNROLL for (int t = 0; t < nt; t++) s16[t][0] = s16[t][1] = _mm256_setzero_si256();
        for (int64_t c = c0; c < c1; c++)
            UNROLL for (int p = 0; p < 4; p++)
                UNROLL for (int s = 0; s < 4; s++) {
                    const uint8_t *d = dec + 256 * (4 * c + p) + 64 * s;
                    __m256i f0 = _mm256_load_si256((const __m256i *)d), f1 = _mm256_load_si256((const __m256i *)(d + 32));
                    UNROLL for (int t = 0; t < nt; t++) {
                        __m256i x = bcast4(q[t] + c * BN_CHUNK_K + 16 * s + 4 * p);
                        s16[t][0] = _mm256_add_epi16(s16[t][0], _mm256_maddubs_epi16(f0, x));
                        BN_PIN(s16[t][0]);
                        s16[t][1] = _mm256_add_epi16(s16[t][1], _mm256_maddubs_epi16(f1, x));
                        BN_PIN(s16[t][1]);
                    }
                }
        UNROLL for (int t = 0; t < nt; t++)
            UNROLL for (int h = 0; h < 2; h++) {
                __m256i *a = (__m256i *)(acc32[t] + 8 * h);
                _mm256_storeu_si256(a, _mm256_add_epi32(_mm256_loadu_si256(a), _mm256_madd_epi16(s16[t][h], ones)));
            }
    }
}
#else
/* dec_dot with a dot step into int32 (DOT4, vpdpbusd), one half of the tile at a time: two
 * partials per token (even and odd fields), so each chain has 2 dependent steps per 32 code
 * bytes and 6 tokens give 12 independent chains (the step's latency is ~5 cycles, two issue
 * per cycle); 12 partials + codes + q fill the 16 YMM registers. One or two tokens: 4
 * partials each. Bound: a partial grows by <= 2 * 128 * 32 = 2^13 per chunk, < 2^17 over a
 * K block. */
#define DEC_GROUP 6
#define DEC_MIN_TOKENS 12 /* fewer: tile_dot (the decode buffer costs more than it saves) */
BN_INLINE BN_TSAN_UNCHECKED_READS void dec_dot_half(const uint8_t *dec, const int8_t *const *q, int nt, int64_t nc, __m256i *acc) {
    const int np = nt <= 2 ? 4 : 2; /* partials per token; field s goes to partial s % np */
    __m256i part[DEC_GROUP][4];
    UNROLL for (int t = 0; t < nt; t++)
        UNROLL for (int i = 0; i < np; i++) part[t][i] = _mm256_setzero_si256();
    for (int64_t c = 0; c < nc; c++)
        UNROLL for (int p = 0; p < 4; p++)
            UNROLL for (int s = 0; s < 4; s++) {
                __m256i f = _mm256_load_si256((const __m256i *)(dec + 256 * (4 * c + p) + 64 * s));
                UNROLL for (int t = 0; t < nt; t++) part[t][s % np] = DOT4(part[t][s % np], f, bcast4(q[t] + c * BN_CHUNK_K + 16 * s + 4 * p));
            }
    UNROLL for (int t = 0; t < nt; t++)
        UNROLL for (int i = 0; i < np; i++) acc[t] = _mm256_add_epi32(acc[t], part[t][i]);
}

/* acc32[t][row] += codes . q[t] over nc decoded chunks, the two halves in turn. */
BN_INLINE BN_TSAN_UNCHECKED_READS void dec_dot(const uint8_t *dec, const int8_t *const *q, int nt, int64_t nc, int32_t (*acc32)[BN_TILE_ROWS]) {
    for (int h = 0; h < 2; h++) {
        __m256i acc[DEC_GROUP];
        for (int i = 0; i < nt; i++) acc[i] = _mm256_loadu_si256((const __m256i *)(acc32[i] + 8 * h));
        dec_dot_half(dec + 32 * h, q, nt, nc, acc);
        for (int i = 0; i < nt; i++) _mm256_storeu_si256((__m256i *)(acc32[i] + 8 * h), acc[i]);
    }
}
#endif

/* acc32[i][row] += the decoded K block [kb, kb + nc) . q for tokens t .. t + nt - 1. */
BN_INLINE void dec_group(const bn_ternary_job *j, const uint8_t *dec, int64_t kb, int64_t nc, int t, int nt, int32_t (*acc32)[BN_TILE_ROWS]) {
    const int8_t *q[DEC_GROUP];
    for (int i = 0; i < nt; i++) q[i] = j->a->q + (int64_t)(t + i) * j->p->K + kb * BN_CHUNK_K;
    dec_dot(dec, q, nt, nc, acc32);
}

static BN_TSAN_UNCHECKED_READS int32_t sum_i8(const int8_t *q, int64_t n) { /* n a multiple of 32 */
    __m256i acc = _mm256_setzero_si256();
    for (int64_t k = 0; k < n; k += 32) acc = SUM_I8(acc, _mm256_loadu_si256((const __m256i *)(q + k)));
    int32_t lane[8], s = 0;
    _mm256_storeu_si256((__m256i *)lane, acc);
    for (int i = 0; i < 8; i++) s += lane[i];
    return s;
}

BN_INLINE __m256 isum_f(__m256i acc, int32_t sq) { return _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_set1_epi32(sq))); }

/* bn_store_tile_rows for 16 values in two vectors; a tile inside [m0, m1) (all but at most
 * two per call) is two vector stores (the byte loop there becomes a memcpy call per token). */
BN_INLINE void store_tile(const bn_ternary_job *j, int64_t tile, int t, const __m256 v[2]) {
    int64_t r0 = tile * BN_TILE_ROWS;
    if (r0 >= j->m0 && r0 + BN_TILE_ROWS <= j->m1) {
        float *yt = j->y + (int64_t)t * j->ldy + r0;
        _mm256_storeu_ps(yt, v[0]);
        _mm256_storeu_ps(yt + 8, v[1]);
        return;
    }
    float f[BN_TILE_ROWS];
    _mm256_storeu_ps(f, v[0]);
    _mm256_storeu_ps(f + 8, v[1]);
    bn_store_tile_rows(j, tile, t, f);
}

/* Uniform scale: y = (((float)acc / s_t) * S) * out_scale, as the reference. The two 8-row
 * halves of the tile are computed one after the other (registers). */
BN_INLINE void uniform_group(const bn_ternary_job *j, int64_t tile, int t, int nt, const int32_t *sumq) {
    const bn_ternary_tiles *p = j->p;
    const uint8_t *codes = bn_tile_codes(p, tile);
    const int8_t *q[GROUP_MAX];
    __m256 v[GROUP_MAX][2];
    for (int i = 0; i < nt; i++) q[i] = j->a->q + (int64_t)(t + i) * p->K;
    const __m256 scale = _mm256_set1_ps(j->scale), out_scale = _mm256_set1_ps(j->out_scale);
    for (int h = 0; h < 2; h++) {
        __m256i acc[GROUP_MAX];
        for (int i = 0; i < nt; i++) acc[i] = _mm256_setzero_si256();
        tile_dot(codes + 32 * h, q, nt, p->n_chunks, acc);
        for (int i = 0; i < nt; i++) {
            const __m256 s = _mm256_set1_ps(j->a->s[t + i]);
            v[i][h] = _mm256_mul_ps(_mm256_mul_ps(_mm256_div_ps(isum_f(acc[i], sumq[i]), s), scale), out_scale);
        }
    }
    for (int i = 0; i < nt; i++) store_tile(j, tile, t + i, v[i]);
}

/* One token (generation), nw (1 or 2, a constant after inlining) tiles read side by side:
 * acc[w][h] (rows 8h..8h+7 of tile w) += codes . q, the exact dot tile_dot computes. Two
 * tiles are two memory streams per thread (more misses in flight than one, as on AVX-512),
 * and both halves of a tile are done in the same pass, so the 4 activation broadcasts of a
 * (chunk, p) serve 2 nw code vectors. Per 32 code bytes: 1 load, 1 shift, 4 masks, then the
 * tier's two ONE_TOKEN_PAIR steps: the unscaled fields' products (c0, c2) go to one partial
 * sum per tile half, the fields scaled by 4 (c1, c3) to another; every ONE_TOKEN_CHUNKS
 * chunks ONE_TOKEN_FOLD adds the unscaled partial and the scaled one shifted down by 2
 * (exact: a sum of multiples of 4) into acc. The partials are pinned (BN_PIN): without it
 * gcc reassociates the sums across the unrolled chunks and spills most of them. */
BN_INLINE BN_TSAN_UNCHECKED_READS void one_token_dot(const uint8_t *const *codes, int nw, const int8_t *q, int64_t n_chunks, __m256i (*acc)[2]) {
    const __m256i m03 = _mm256_set1_epi8(0x03), m0c = _mm256_set1_epi8(0x0c);
    for (int64_t c0 = 0; c0 < n_chunks; c0 += ONE_TOKEN_CHUNKS) {
        int64_t c1 = c0 + ONE_TOKEN_CHUNKS < n_chunks ? c0 + ONE_TOKEN_CHUNKS : n_chunks;
        __m256i un[2][2], sc[2][2];
        UNROLL for (int w = 0; w < nw; w++)
            UNROLL for (int h = 0; h < 2; h++) un[w][h] = sc[w][h] = _mm256_setzero_si256();
        for (int64_t c = c0; c < c1; c++)
            UNROLL for (int p = 0; p < 4; p++) {
                const int8_t *qp = q + c * BN_CHUNK_K + 4 * p; /* field s: qp + 16 s */
                __m256i x0 = bcast4(qp), x1 = bcast4(qp + 16), x2 = bcast4(qp + 32), x3 = bcast4(qp + 48);
                UNROLL for (int w = 0; w < nw; w++) {
                    const uint8_t *cc = codes[w] + c * BN_CHUNK_BYTES + 64 * p;
                    BN_PREFETCH_AHEAD(cc);
                    UNROLL for (int h = 0; h < 2; h++) {
                        __m256i v = _mm256_load_si256((const __m256i *)(cc + 32 * h)), v4 = _mm256_srli_epi16(v, 4);
                        un[w][h] = ONE_TOKEN_PAIR(un[w][h], _mm256_and_si256(v, m03), x0, _mm256_and_si256(v4, m03), x2);
                        BN_PIN(un[w][h]);
                        sc[w][h] = ONE_TOKEN_PAIR(sc[w][h], _mm256_and_si256(v, m0c), x1, _mm256_and_si256(v4, m0c), x3);
                        BN_PIN(sc[w][h]);
                    }
                }
            }
        UNROLL for (int w = 0; w < nw; w++)
            UNROLL for (int h = 0; h < 2; h++) acc[w][h] = ONE_TOKEN_FOLD(acc[w][h], un[w][h], sc[w][h]);
    }
}

/* The float epilogue of one tile for one token (uniform_group's). */
BN_INLINE void store_one_token(const bn_ternary_job *j, int64_t tile, int t, const __m256i acc[2], int32_t sumq) {
    const __m256 s = _mm256_set1_ps(j->a->s[t]), scale = _mm256_set1_ps(j->scale), out_scale = _mm256_set1_ps(j->out_scale);
    __m256 v[2];
    for (int h = 0; h < 2; h++) v[h] = _mm256_mul_ps(_mm256_mul_ps(_mm256_div_ps(isum_f(acc[h], sumq), s), scale), out_scale);
    store_tile(j, tile, t, v);
}

/* One token: the tiles of [m0, m1) as two halves read side by side, a pair of tiles per
 * step, the odd one out alone (as ternary_avx512.c's uniform_one_token). */
static void uniform_one_token(const bn_ternary_job *j, int t, int32_t sumq) {
    const bn_ternary_tiles *p = j->p;
    const int8_t *q = j->a->q + (int64_t)t * p->K;
    int64_t first = j->m0 / BN_TILE_ROWS, n = (j->m1 + BN_TILE_ROWS - 1) / BN_TILE_ROWS - first, half = (n + 1) / 2;
    for (int64_t i = 0; i < n - half; i++) {
        int64_t tiles[2] = {first + i, first + half + i};
        const uint8_t *codes[2] = {bn_tile_codes(p, tiles[0]), bn_tile_codes(p, tiles[1])};
        __m256i acc[2][2] = {{_mm256_setzero_si256(), _mm256_setzero_si256()}, {_mm256_setzero_si256(), _mm256_setzero_si256()}};
        one_token_dot(codes, 2, q, p->n_chunks, acc);
        for (int w = 0; w < 2; w++) store_one_token(j, tiles[w], t, acc[w], sumq);
    }
    if (half > n - half) {
        int64_t tile = first + half - 1;
        const uint8_t *codes[1] = {bn_tile_codes(p, tile)};
        __m256i acc[1][2] = {{_mm256_setzero_si256(), _mm256_setzero_si256()}};
        one_token_dot(codes, 1, q, p->n_chunks, acc);
        store_one_token(j, tile, t, acc[0], sumq);
    }
}

/* Per-256-block path for one token: non-uniform token mode or q8k mode (see ternary_avx512.c). */
static void blocked_token(const bn_ternary_job *j, int64_t tile, int t, bool q8k) {
    const bn_ternary_tiles *p = j->p;
    const uint8_t *codes = bn_tile_codes(p, tile);
    const float *bd = p->block_d ? p->block_d + tile * p->n_blocks * BN_TILE_ROWS : NULL;
    const bn_block_q8_k *xq = q8k ? j->a->q8k + (int64_t)t * p->n_blocks : NULL;
    const int8_t *qt = q8k ? NULL : j->a->q + (int64_t)t * p->K;
    __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < p->n_blocks; b++) {
        const int8_t *qb = q8k ? xq[b].qs : qt + b * BN_QK_K;
        __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int h = 0; h < 2; h++) tile_dot(codes + b * 4 * BN_CHUNK_BYTES + 32 * h, &qb, 1, 4, &acc[h]);
        int32_t sq = 0;
        if (q8k)
            for (int i = 0; i < BN_QK_K / 16; i++) sq += xq[b].bsums[i];
        else
            sq = sum_i8(qb, BN_QK_K);
        for (int h = 0; h < 2; h++) {
            __m256 dw = bd ? _mm256_loadu_ps(bd + b * BN_TILE_ROWS + 8 * h) : _mm256_set1_ps(j->scale);
            if (q8k) dw = _mm256_mul_ps(dw, _mm256_set1_ps(xq[b].d));
            sum[h] = _mm256_add_ps(sum[h], _mm256_mul_ps(dw, isum_f(acc[h], sq)));
        }
    }
    __m256 v[2];
    for (int h = 0; h < 2; h++) {
        __m256 r = q8k ? sum[h] : _mm256_div_ps(sum[h], _mm256_set1_ps(j->a->s[t]));
        v[h] = _mm256_mul_ps(r, _mm256_set1_ps(j->out_scale));
    }
    store_tile(j, tile, t, v);
}

static void blocked(const bn_ternary_job *j, bool q8k) {
    for (int64_t tile = j->m0 / BN_TILE_ROWS; tile * BN_TILE_ROWS < j->m1; tile++)
        for (int t = j->t0; t < j->t1; t++) blocked_token(j, tile, t, q8k);
}

/* Uniform scale, tokens [tb, te) of one tile: K blocks decoded once (dec, 32-byte aligned),
 * int32 sums per token and row in acc32 (stack), then uniform_group's float epilogue. */
static void prefill_tile(const bn_ternary_job *j, int64_t tile, int tb, int te, const int32_t *sumq, uint8_t *dec,
                         int32_t (*acc32)[BN_TILE_ROWS]) {
    const bn_ternary_tiles *p = j->p;
    const uint8_t *codes = bn_tile_codes(p, tile);
    memset(acc32, 0, (size_t)(te - tb) * sizeof *acc32);
    for (int64_t kb = 0; kb < p->n_chunks; kb += KB_CHUNKS) {
        int64_t nc = kb + KB_CHUNKS < p->n_chunks ? KB_CHUNKS : p->n_chunks - kb;
        decode_codes(codes + kb * BN_CHUNK_BYTES, nc, dec);
        /* the next K block's codes (the next tile's first block after the last: tiles are
         * contiguous) are fetched during this block's dots, 8 lines per token group: decode
         * reads them in one burst after a long pause, which the hardware prefetcher does not
         * cover (the decode loop held ~8% of the kernel's samples, stalled on those loads;
         * prefetching made the avx2 kernel 1.02-1.04x faster, interleaved, single thread) */
        const uint8_t *pf = codes + (kb + nc) * BN_CHUNK_BYTES, *pf_end = pf + KB_CHUNKS * BN_CHUNK_BYTES;
        for (int t = tb; t < te;) { /* groups of DEC_GROUP, then 4, 2, 1 */
            int left = te - t, nt = left >= DEC_GROUP ? DEC_GROUP : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            for (int i = 0; i < 8 && pf < pf_end; i++, pf += 64) BN_PREFETCH(pf, 0);
            switch (nt) {
            case DEC_GROUP: dec_group(j, dec, kb, nc, t, DEC_GROUP, acc32 + (t - tb)); break;
            case 4: dec_group(j, dec, kb, nc, t, 4, acc32 + (t - tb)); break;
            case 2: dec_group(j, dec, kb, nc, t, 2, acc32 + (t - tb)); break;
            default: dec_group(j, dec, kb, nc, t, 1, acc32 + (t - tb)); break;
            }
            t += nt;
        }
    }
    const __m256 scale = _mm256_set1_ps(j->scale), out_scale = _mm256_set1_ps(j->out_scale);
    for (int t = tb; t < te; t++) {
        const __m256 st = _mm256_set1_ps(j->a->s[t]);
        __m256 v[2];
        for (int h = 0; h < 2; h++) {
            __m256i acc = _mm256_loadu_si256((const __m256i *)(acc32[t - tb] + 8 * h));
            v[h] = _mm256_mul_ps(_mm256_mul_ps(_mm256_div_ps(isum_f(acc, sumq[t - tb]), st), scale), out_scale);
        }
        store_tile(j, tile, t, v);
    }
}

static void KFN(token)(const bn_ternary_job *j) {
#ifdef PREFILL_LUT
    bn_ternary_job rest;
    int done = PREFILL_LUT(j);
    if (done == j->t1 - j->t0) return;
    if (done) {
        rest = *j;
        rest.t0 += done;
        j = &rest;
    }
#endif
    if (!j->uniform) {
        blocked(j, false);
        return;
    }
    int32_t sumq[TOKEN_BLOCK];
    _Alignas(32) uint8_t dec[KB_CHUNKS * BN_CHUNK_BYTES * 4]; /* 16 KB */
    int32_t acc32[TOKEN_BLOCK][BN_TILE_ROWS];                  /* 4 KB */
    for (int tb = j->t0; tb < j->t1; tb += TOKEN_BLOCK) {
        int te = tb + TOKEN_BLOCK < j->t1 ? tb + TOKEN_BLOCK : j->t1;
        for (int t = tb; t < te; t++) sumq[t - tb] = sum_i8(j->a->q + (int64_t)t * j->p->K, j->p->K);
        if (te - tb >= DEC_MIN_TOKENS) {
            for (int64_t tile = j->m0 / BN_TILE_ROWS; tile * BN_TILE_ROWS < j->m1; tile++) prefill_tile(j, tile, tb, te, sumq, dec, acc32);
            continue;
        }
        if (te - tb == 1) {
            uniform_one_token(j, tb, sumq[0]);
            continue;
        }
        for (int64_t tile = j->m0 / BN_TILE_ROWS; tile * BN_TILE_ROWS < j->m1; tile++)
            for (int t = tb; t < te;) { /* groups of 4, then 2, 1: codes decoded once per group */
                const int32_t *sq = sumq + (t - tb);
                int left = te - t, nt = left >= 4 ? 4 : left >= 2 ? 2 : 1;
                switch (nt) {
                case 4: uniform_group(j, tile, t, 4, sq); break;
                case 2: uniform_group(j, tile, t, 2, sq); break;
                default: uniform_group(j, tile, t, 1, sq); break;
                }
                t += nt;
            }
    }
}

static void KFN(q8k)(const bn_ternary_job *j) { blocked(j, true); }
