/* kernel_impl: what the tier files and the dispatcher share (internal to src/kernels and the
 * tests): the packed ternary layout, the job a kernel receives, and the per-tier tables.
 *
 * Packed ternary layout ("tiles"): rows are grouped 16 at a time (the last tile padded with
 * zero weights); K is cut into 64-weight chunks. One chunk of one tile is 256 bytes holding
 * 16 rows x 64 codes c in {0,1,2} (weight c - 1), 2 bits each:
 *     byte b (0..255), bits 2s..2s+1 (s = 0..3)  <->  row  (b % 64) / 4,
 *                                                     k    16 s + 4 (b / 64) + b % 4
 * so that ((bytes[64p .. 64p+63] >> 2s) & 3) is a vector whose 32-bit lane m holds row m's
 * codes for the 4 consecutive inputs k = 16s + 4p .. +3. That is the operand shape of the
 * int8 dot instructions (vpdpbusd / pmaddubsw: lane = output row, one broadcast 4-byte group
 * of activations) and, byte for byte, the VNNI "B" tile layout of AMX: no horizontal sums.
 * Tiles follow each other: codes[(tile * n_chunks + chunk) * 256]. */
#ifndef BITNET_KERNEL_IMPL_H
#define BITNET_KERNEL_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/cpu.h"
#include "model/linear.h"

/* The kernels' vector helpers are inlined into their loops by force: it keeps accumulator
 * arrays in registers, where gcc's heuristics gave up on the larger helpers. Under the
 * sanitizers (gcc's __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__, clang's __has_feature) the
 * compiler decides instead: those builds check the same operations, not their speed, and the
 * instrumented attention kernel inlined whole took gcc -O1 two minutes to compile
 * (attention_avx512.c with ASan+UBSan: 126 s, 1.6 s without the forcing). */
#if defined(__SANITIZE_THREAD__)
#define BN_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BN_TSAN_BUILD 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(BN_TSAN_BUILD)
#define BN_SANITIZED_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BN_SANITIZED_BUILD 1
#endif
#endif
#ifdef BN_SANITIZED_BUILD
#define BN_INLINE static inline
#else
#define BN_INLINE static inline __attribute__((always_inline))
#endif

/* Full unrolling of short loops over vector accumulators (tokens, rows, fields), so that the
 * arrays stay in registers: gcc -O2 does not unroll them by itself and keeps the arrays in
 * memory; clang, told "GCC unroll 16", unrolls by 16 with a run-time count before inlining
 * makes the count a constant (2-3x slower), while unroll(full) waits for the constant. */
#if defined(__clang__) && defined(BN_SANITIZED_BUILD)
/* no forced inlining there (above), so the counts stay run-time values in the helpers and
 * unroll(full) fails: clang -Werror stopped at -Wpass-failed ("loop not unrolled") */
#define BN_UNROLL
#elif defined(__clang__)
#define BN_UNROLL _Pragma("clang loop unroll(full)")
#else
#define BN_UNROLL _Pragma("GCC unroll 16")
#endif

/* BN_TSAN_UNCHECKED_READS marks a function that only reads memory no thread writes while it
 * runs (a model's weights, written once at load before any worker exists; a pass's input,
 * written before the threadpool's fork, whose synchronisation TSan does check) and writes only
 * its own thread's stack: under ThreadSanitizer its loads are not instrumented. Each vector load is
 * otherwise a shadow-range check: the screened head's pass over the 128k-row copy was 75-85%
 * of the TSan server's time (perf, 2026-12-06), for accesses TSan can find no race in. The
 * callers' writes of the results stay instrumented. Other builds: no effect. */
#ifdef BN_TSAN_BUILD
#define BN_TSAN_UNCHECKED_READS __attribute__((no_sanitize("thread")))
#else
#define BN_TSAN_UNCHECKED_READS
#endif

/* Software prefetch of the streaming kernels (the one-token GEMVs of generation): each load
 * of a weight stream is paired with a prefetch `dist` bytes ahead. On this project's 2-core VM
 * a one-stream-per-thread sequential read ran at ~14.5 GB/s, the same read with a 2 KiB-ahead
 * prefetch at ~21 GB/s, and 2-8 interleaved streams with it at 23-25 GB/s: the hardware
 * prefetcher alone keeps too few misses in flight. Distances measured (2 threads, 2B-4T
 * shapes): one or two streams per thread (ternary tiles) 2 KiB (1 and 4 KiB slower or
 * equal); four streams (the F16 head's 4 rows) 1 KiB (22.6-25.2 GB/s against 17.8-21.2 at
 * 2 KiB). x86 prefetches do not fault, so running past the end of a buffer is harmless. */
#define BN_PREFETCH_BYTES 2048
#define BN_PREFETCH_BYTES_4STREAMS 1024
/* One row of an 8-bit head copy per thread (the screen pass, the q8 rows head for one token):
 * 4 KiB ahead. Intel Xeon VM, 2 threads, 2B-4T shapes, decode steps interleaved with the F16
 * head's: the screened head 1.31-1.33x over it at avx2 against 1.28-1.32x at 2 KiB, 1.30-1.31x
 * against 1.29-1.30x at avx512; the q8 head 1.30-1.34x at avx2 against 1.28-1.30x (8 KiB:
 * 1.30-1.31x, 1 KiB: 1.22-1.23x). */
#define BN_PREFETCH_BYTES_HEAD_ROW 4096
#if defined(__aarch64__) /* PRFM PLDL1KEEP: a hint that never faults either (distances not tuned on ARM) */
#define BN_PREFETCH(p, dist) __builtin_prefetch((const char *)(p) + (dist), 0, 3)
#else
#define BN_PREFETCH(p, dist) _mm_prefetch((const char *)(p) + (dist), _MM_HINT_T0)
#endif
#define BN_PREFETCH_AHEAD(p) BN_PREFETCH(p, BN_PREFETCH_BYTES)
/* The j-th row (0 <= j < m1 - m0) a one-token float head pass reads when it reads its rows one
 * at a time: with `halves`, rows [m0, m0 + h) and [m0 + h, m1), h = ceil((m1 - m0) / 2), taken
 * alternately (even j from the first half, odd j from the second), so that each thread keeps
 * two sequential memory streams going instead of one; else m0 + j. (Rows side by side at a
 * row's distance, dot_4rows, are not that: the hardware prefetcher sees one stream striding
 * between them.) AMD EPYC Zen 5 VM (2026-12-05), the 2B-4T F16 head, one thread
 * (bench/kernel_bench): 31.5-33.8 -> 38.2-41.2 GB/s at avx2 and avx512, where 4 adjacent rows
 * side by side ran at 20 GB/s (14 without their prefetch); whole decode steps with the F16
 * head, 2 threads, the two orders alternating step by step in one process: 1.02-1.03x
 * (medians; separate runs 1.05-1.10x). The 8-bit heads (q8 rows, the screen pass) measured
 * 0.95-0.97x that way and keep one stream. Each row's sum is computed as before: same bits.
 * (The avx2 float rows and, on AMD, the avx2 screen pass read the two rows of a step side by
 * side in one pass instead: float_rows.h rows_in_pairs, screen_rows.h screen_rows_in_pairs.) */
static inline int64_t bn_halves_first(int64_t m0, int64_t m1) { return (m1 - m0 + 1) / 2; } /* h above */
static inline int64_t bn_halves_row(int64_t m0, int64_t m1, int64_t j, bool halves) {
    if (!halves) return m0 + j;
    int64_t h = bn_halves_first(m0, m1);
    return (j & 1) ? m0 + h + j / 2 : m0 + j / 2;
}
#if defined(__AVX__)
#include <immintrin.h>
/* The 8 lanes' sum in a fixed order, ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7)): the 256-bit
 * kernels' reduction (float_avx512.c's sum16_in_halves ends with it, so the q8 rows kernels of
 * every x86 tier give the same bits). */
static inline float bn_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
/* The greatest of the 8 lanes (max is exact: any order; a NaN lane gives an unspecified lane). */
static inline float bn_hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif
#if defined(__AVX2__)
/* v in lanes [0, n) of 8, fill in the others (any n): the 256-bit kernels' row tails. */
static inline __m256 bn_keep8(__m256 v, int n, __m256 fill) {
    __m256i in = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_blendv_ps(fill, v, _mm256_castsi256_ps(in));
}
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
/* v in lanes [0, n) of 4, fill in the others (any n): the NEON kernels' row tails. */
static inline float32x4_t bn_keep4(float32x4_t v, int n, float32x4_t fill) {
    static const int32_t idx[4] = {0, 1, 2, 3};
    return vbslq_f32(vcltq_s32(vld1q_s32(idx), vdupq_n_s32(n)), v, fill);
}
#endif
/* An empty asm that "changes" the vector v: an integer sum chain stays a chain. gcc otherwise
 * reassociates a vpaddw/vpaddd chain into a tree, computing all the products first and
 * spilling them (ternary_256.h's dec_dot, q8_rows_256.h's q8_rows_dot: slower than the chain). */
#define BN_PIN(v) __asm__("" : "+x"(v))

#define BN_TILE_ROWS 16
#define BN_CHUNK_K 64
#define BN_CHUNK_BYTES 256

typedef struct bn_ternary_tiles {
    int64_t M, K;
    int64_t n_tiles;      /* ceil(M / 16) */
    int64_t n_chunks;     /* K / 64 */
    int64_t n_blocks;     /* K / 256 */
    uint8_t *codes;       /* [n_tiles][n_chunks][256], 64-byte aligned */
    bool borrowed_codes;  /* codes lie in the caller's memory (a model's arena): not freed here */
    bool code3;           /* a 2-bit code 3 occurs (weight +2: not ternary, only a damaged or foreign
                           * file has it; the reference takes it as 3 - 1): the AVX2 table prefill,
                           * built for codes 0..2, declines such a weight */
    float *block_d;       /* non-uniform TQ only: [n_tiles][n_blocks][16] block scales, else NULL */
    uint64_t bytes;       /* codes + block_d */
} bn_ternary_tiles;

/* The codes of tile `tile` (its n_chunks chunks of 256 bytes). */
static inline const uint8_t *bn_tile_codes(const bn_ternary_tiles *p, int64_t tile) {
    return p->codes + (uint64_t)tile * (uint64_t)p->n_chunks * BN_CHUNK_BYTES;
}

/* One ternary call: rows [m0, m1) of tokens [t0, t1). */
typedef struct bn_ternary_job {
    const bn_ternary_tiles *p;
    const bn_act *a;
    float *y;
    int64_t ldy, m0, m1;
    int t0, t1;
    bool uniform;         /* one scale: `scale` (I2_S, uniform TQ) */
    float scale;
    float out_scale;
    void *scratch;          /* per-thread scratch of scratch_bytes (bn_kernel_row_scratch_bytes), or NULL */
    uint64_t scratch_bytes;
} bn_ternary_job;

typedef void (*bn_ternary_kernel)(const bn_ternary_job *job);
/* Float-weight rows [m0, m1) of every token (F32, F16, BF16, Q8_0); false for other types. */
typedef bool (*bn_float_kernel)(const bn_linear *w, const bn_act *a, float *y, int64_t ldy,
                                int64_t m0, int64_t m1);

/* Rows [m0, m1) of n tokens with Q8_0 activations x ([n][K/32] blocks) on the q8 rows layout
 * of a Q8_0 weight (bn_q8_rows, below), into y[t * ldy + m] * out_scale. */
struct bn_q8_rows;
typedef void (*bn_q8_rows_kernel)(const struct bn_q8_rows *p, const bn_block_q8_0 *x, int n, float out_scale, float *y,
                                  int64_t ldy, int64_t m0, int64_t m1);

typedef struct bn_kernel_table {
    bn_cpu_tier tier;
    const char *name;
    bn_ternary_kernel ternary_token; /* NULL: not covered at this tier */
    bn_ternary_kernel ternary_q8k;
    bn_float_kernel float_rows;
    bn_q8_rows_kernel q8_rows; /* NULL: no q8 rows kernel (the Q8_0 head then stays in Q8_0 blocks) */
} bn_kernel_table;

/* The AVX2 prefill by tables (ternary_lut_avx2.h): tokens per block, the fewest rows per call
 * it takes, and the scratch it needs for K inputs and `rows` rows. */
#define BN_LUT_TOKENS 32
#define BN_LUT_MIN_ROWS 256
uint64_t bn_ternary_lut_scratch_bytes(int64_t K, int64_t rows);

/* The table of tier t, or NULL when this CPU lacks it (or this build has no code for it). */
const bn_kernel_table *bn_kernels_for_tier(bn_cpu_tier t);
/* The table in use (bn_cpu_active_tier), resolved once. */
const bn_kernel_table *bn_kernels_active(void);
/* bn_kernel_linear_apply with an explicit table (tests force tiers through this); row_tmp as
 * there (NULL: kernels that need scratch take their other paths). */
bool bn_kernel_linear_apply_with(const bn_kernel_table *k, const bn_linear *w, const bn_act *a,
                                 float *y, int64_t ldy, int64_t m0, int64_t m1, void *row_tmp);

/* Builds / frees the tile layout of a ternary weight (pack.c). _in writes the codes to the
 * caller's `codes` (bn_ternary_tiles_code_bytes(w) bytes, 64-byte aligned), which the tiles
 * then borrow; bn_ternary_tiles_build allocates them. */
bn_ternary_tiles *bn_ternary_tiles_build(const bn_linear *w);
bn_ternary_tiles *bn_ternary_tiles_build_in(const bn_linear *w, uint8_t *codes);
uint64_t bn_ternary_tiles_code_bytes(const bn_linear *w);
void bn_ternary_tiles_free(bn_ternary_tiles *p);

/* Packed Q8_0 layout ("q8 rows") for Q8_0 weights times Q8_0 activations, one token at a
 * time: the `--lm-head q8` head in the decode step, on the x86 tiers. A row's Q8_0 blocks
 * are taken 16 at a time (a 512-weight group; the last group padded with zero blocks). A
 * group's 512 codes are stored as u8 w + 128, so that they can be vpdpbusd's unsigned operand
 * against the activations' s8 codes (the + 128 is removed with the activations' block sums;
 * AVX2, without vpdpbusd, flips the codes back to s8 in registers, float_avx2.c),
 * and interleaved so that 32-bit lane j of the group's 64-byte vector i holds block j's
 * weights 4i..4i+3: eight vpdpbusd leave block j's exact sum in lane j, with no horizontal
 * sums and no per-block scale shuffling. The row's block scales (f16, zero for padding) follow
 * its codes:
 *     codes   row m, byte g * 512 + 64 i + 4 j + e  <->  weight 32 (16 g + j) + 4 i + e
 *     scales  row m, f16 at byte n_groups * 512 + 2 (16 g + j)  <->  block 16 g + j
 *     row stride n_groups * 544 rounded up to 64 bytes (2B-4T: 2752 for 2720 bytes of Q8_0).
 * Same codes and scales as the Q8_0 source (lossless). */
#define BN_Q8_GROUP_BLOCKS 16
#define BN_Q8_GROUP_BYTES 512
#define BN_Q8_ROWS_MAX_K 8192 /* the kernel keeps one token's reordered activations on the stack */

typedef struct bn_q8_rows {
    int64_t M, K, n_groups;
    uint64_t row_stride;
    uint8_t *data;        /* [M][row_stride], 64-byte aligned */
    uint64_t bytes;
} bn_q8_rows;

/* One token's Q8_0 activations in the q8 rows' group order (q8_rows.h builds it): codes q as
 * s8 (padding blocks 0), per block d_x (f32) and corr = 128 * sum(q) (the + 128 of the u8
 * weight codes, for kernels that multiply them as they are stored). */
typedef struct q8_token_x {
    int8_t q[BN_Q8_ROWS_MAX_K];
    float d[BN_Q8_ROWS_MAX_K / 32];
    int32_t corr[BN_Q8_ROWS_MAX_K / 32];
} q8_token_x;

/* The q8 rows of a Q8_0 weight (pack.c; K % 32 == 0, K <= BN_Q8_ROWS_MAX_K): allocated
 * (new, from w's shape), rows [m0, m1) filled from their Q8_0 blocks `rows` (K/32 per row,
 * starting with row m0; callable on disjoint ranges from several threads), both at once
 * from w->data (build), freed. */
bn_q8_rows *bn_q8_rows_new(const bn_linear *w);
void bn_q8_rows_fill(bn_q8_rows *p, const bn_block_q8_0 *rows, int64_t m0, int64_t m1);
bn_q8_rows *bn_q8_rows_build(const bn_linear *w);
void bn_q8_rows_free(bn_q8_rows *p);
/* The q8 rows kernels (bn_q8_rows_kernel): float_avx512.c (avx512, amx), float_avx2.c (avx2),
 * q8_rows_avxvnni.c (avxvnni). */
void bn_q8_rows_avx512(const bn_q8_rows *p, const bn_block_q8_0 *x, int n, float out_scale, float *y, int64_t ldy,
                       int64_t m0, int64_t m1);
void bn_q8_rows_avx2(const bn_q8_rows *p, const bn_block_q8_0 *x, int n, float out_scale, float *y, int64_t ldy,
                     int64_t m0, int64_t m1);
void bn_q8_rows_avxvnni(const bn_q8_rows *p, const bn_block_q8_0 *x, int n, float out_scale, float *y, int64_t ldy,
                        int64_t m0, int64_t m1);

/* Shared epilogue: writes the tile's 16 row values v[] for token t into y, keeping only rows
 * inside [m0, m1). */
static inline void bn_store_tile_rows(const bn_ternary_job *j, int64_t tile, int t, const float v[BN_TILE_ROWS]) {
    int64_t r0 = tile * BN_TILE_ROWS;
    int64_t lo = j->m0 > r0 ? j->m0 : r0, hi = j->m1 < r0 + BN_TILE_ROWS ? j->m1 : r0 + BN_TILE_ROWS;
    float *yt = j->y + (int64_t)t * j->ldy;
    for (int64_t m = lo; m < hi; m++) yt[m] = v[m - r0];
}

/* Per-tier tables (defined in the tier files on x86-64; neon and dotprod on aarch64). */
extern const bn_kernel_table bn_kernels_avx2;
extern const bn_kernel_table bn_kernels_avxvnni;
extern const bn_kernel_table bn_kernels_avx512;
extern const bn_kernel_table bn_kernels_amx;
extern const bn_kernel_table bn_kernels_neon;
extern const bn_kernel_table bn_kernels_dotprod;
/* True when table k has a q8 rows kernel (k->q8_rows). */
bool bn_kernels_have_q8_rows(const bn_kernel_table *k);
/* Shared between tiers: AVX2 float rows (avxvnni reuses them), AVX-512 ternary kernels
 * (amx uses them for token tails and q8k). */
bool bn_float_rows_avx2(const bn_linear *w, const bn_act *a, float *y, int64_t ldy, int64_t m0, int64_t m1);
bool bn_float_rows_avx512(const bn_linear *w, const bn_act *a, float *y, int64_t ldy, int64_t m0, int64_t m1);
/* aarch64: the NEON float rows (both ARM tiers; float_neon.c). */
bool bn_float_rows_neon(const bn_linear *w, const bn_act *a, float *y, int64_t ldy, int64_t m0, int64_t m1);
void bn_ternary_token_avx512(const bn_ternary_job *j);
void bn_ternary_q8k_avx512(const bn_ternary_job *j);

#endif
