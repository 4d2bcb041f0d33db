/* attention: causal (GQA) attention of a set of query rows that share one KV head, with a
 * blocked online softmax. This module owns the numerics and the scalar reference; the SIMD
 * kernels (src/kernels/attention_avx512.c, attention_avx2.c, attention_neon.c) are chosen by
 * CPU tier.
 *
 * Numerics (per query row r, attending to keys 0..pos[r]): keys are taken in blocks of
 * BN_ATTN_BLOCK = 16 at absolute positions [16 b, 16 b + 16) (cut at pos[r]). Per block:
 *   s_j   = dot(q_r, k_j) * scale
 *   m'    = max(m, max_j s_j),  alpha = exp(m - m')       (m starts at -inf, alpha then 0)
 *   e_j   = exp(s_j - m'),      l = l * alpha + sum_j e_j
 *   o     = o * alpha + sum_j e_j v_j                     (j in key order)
 * from m = -inf, l = 0, o = 0 over the blocks of each segment of BN_ATTN_SEG = 512 keys
 * (positions [512 s, 512 s + 512), cut at pos[r]); the segments' (m_s, l_s, o_s) are then
 * folded in order by bn_attn_merge (the first taken as it is; then M' = max(M, m_s),
 * a = expf(M - M'), b = expf(m_s - M'), L = L a + l_s b, O = O a + o_s b), and finally
 * out_r = O / L. Segments let one row's keys be computed in parts by several threads (a
 * decode step's few rows, forward.c) and give the same bits as one pass: every path folds the
 * same segments with the same function. Block and segment boundaries depend only on absolute positions and each
 * row's operations only on its own q, pos and the cache, so a row's result does not depend on
 * which other rows are computed with it (batch size, chunking, thread split): the SIMD kernels
 * keep that property (they differ from the reference only in the dot and sum orders and in
 * their exp, within ~1e-5 relative).
 *
 * KV cache types (bn_kv_type): the cache holds K and V as f32, f16 or q8_0, and attention
 * computes with the values they decode to, exactly (f16 -> f32 and a q8_0 scale times an int8
 * are exact in f32), so each type's numerics are the f32 numerics above on the decoded cache,
 * and bn_attention_ref is the reference for every type. Writing rounds: f16 to nearest even
 * (as llama.cpp's F16C conversion), q8_0 as llama.cpp's x86 quantize_row_q8_0 (per 32 values
 * d = amax / 127 stored as f16, q = round-to-nearest-even(x * 127 / amax)).
 *
 * Layouts, per sequence, layer and KV head (head_dim = hd):
 *   K: blocks of BN_ATTN_BLOCK = 16 positions, block b holding positions [16 b, 16 b + 16)
 *      transposed, K^T [hd][16], so that the kernels' per-key lanes load straight from the
 *      cache (no transpose per block and per job):
 *        f32  float    kt[hd][16]
 *        f16  uint16_t kt[hd][16]
 *        q8_0 per 32 dims c (hd % 32 == 0): uint16_t d[16] (f16 scale of key i's dims
 *             [32 c, 32 c + 32)), then int8_t q[32][16]: the 16 llama.cpp block_q8_0 of
 *             those dims (2 + 32 bytes each), interleaved by key
 *      Lanes of positions not written yet are zero (a block is cleared when its first
 *      position is written) or hold an older, finite value after a truncation; kernels mask
 *      them.
 *   V: rows by position, as llama.cpp stores them: f32 or f16 [hd], q8_0 block_q8_0[hd / 32]
 *      ({uint16_t d; int8_t qs[32]}, 34 bytes).
 * Within a span of positions (bn_attn_job.span_keys; forward.c keeps a sequence's cache in
 * position-major spans of all layers and heads) a head's K^T blocks and V rows are contiguous;
 * spans are further apart. */
#ifndef BITNET_ATTENTION_H
#define BITNET_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/cpu.h"

#define BN_ATTN_BLOCK 16
#define BN_ATTN_SEG 512 /* keys per segment (a multiple of 2 blocks: the kernels pair blocks) */

typedef enum bn_kv_type { BN_KV_F32 = 0, BN_KV_F16 = 1, BN_KV_Q8_0 = 2 } bn_kv_type;
#define BN_KV_TYPE_COUNT 3
#define BN_KV_QK 32 /* values per q8_0 block */

typedef struct bn_attn_job {
    int64_t n_rows, head_dim;
    const float *const *q;   /* [n_rows] -> head_dim floats */
    float *const *out;       /* [n_rows] -> head_dim floats (written) */
    const int64_t *pos;      /* [n_rows], non-decreasing: row r sees keys 0..pos[r] */
    bn_kv_type k_type, v_type;
    const void *k;           /* K^T block b at (const char *)k + b * bn_kv_k_block_bytes(k_type, head_dim) */
    const void *v;           /* V row of position p at (const char *)v + p * v_stride */
    int64_t v_stride;        /* bytes */
    /* The cache in spans of span_keys positions (a multiple of 2 * BN_ATTN_BLOCK, so that a
     * pair of blocks never straddles two): span i's K^T blocks start at k + i * k_span_bytes
     * and its V rows at v + i * v_span_bytes (the addresses above, within a span). Zero: one
     * span, the head's blocks and rows contiguous. bn_attn_k_block / bn_attn_v_row. */
    int64_t span_keys;
    int64_t k_span_bytes, v_span_bytes;
    float scale;             /* usually 1 / sqrt(head_dim) */
    float *scratch;          /* bn_attention_scratch_floats(n_rows, head_dim) floats, 64-byte aligned */
    /* One segment only, when part_m is set: the keys [seg0, min(pos[r] + 1, seg0 + BN_ATTN_SEG))
     * of every row (seg0 a multiple of BN_ATTN_SEG, every pos[r] >= seg0), and the segment's
     * m, l and o (not divided) go to part_m[r], part_l[r], part_o[r][head_dim] instead of out,
     * for the caller to fold with bn_attn_merge. Zero / NULL: all keys, into out. */
    int64_t seg0;
    float *part_m, *part_l;
    float *const *part_o;
} bn_attn_job;

/* The span of the job's cache holding key p, and where in it (bn_attn_job.span_keys). */
static inline int64_t bn_attn_span_of(const bn_attn_job *j, int64_t p) { return j->span_keys ? p / j->span_keys : 0; }
/* The K^T block holding key p (kbytes: bn_kv_k_block_bytes of the job's type). */
static inline const char *bn_attn_k_block(const bn_attn_job *j, int64_t p, uint64_t kbytes) {
    int64_t sp = bn_attn_span_of(j, p);
    return (const char *)j->k + sp * j->k_span_bytes + (uint64_t)((p - sp * j->span_keys) / BN_ATTN_BLOCK) * kbytes;
}
/* The V row of key p. */
static inline const char *bn_attn_v_row(const bn_attn_job *j, int64_t p) {
    int64_t sp = bn_attn_span_of(j, p);
    return (const char *)j->v + sp * j->v_span_bytes + (p - sp * j->span_keys) * j->v_stride;
}

/* A kernel computes the job and returns true, or returns false when it does not cover it
 * (e.g. a head_dim that is not a multiple of its vector width). */
typedef bool (*bn_attention_kernel)(const bn_attn_job *job);

/* ---- KV cache types ---- */
const char *bn_kv_type_name(bn_kv_type t);          /* "f32", "f16", "q8_0" */
int bn_kv_type_from_name(const char *name, bn_kv_type *out); /* 0, or -1 for an unknown name */
/* 0, or BITNET_ERR_UNSUPPORTED (bn_error set) when type t cannot hold heads of hd values. */
int bn_kv_check_head_dim(bn_kv_type t, int64_t hd);
/* Bytes of one K^T block of 16 positions of one head; of one V row of hd values. */
uint64_t bn_kv_k_block_bytes(bn_kv_type t, int64_t hd);
uint64_t bn_kv_v_row_bytes(bn_kv_type t, int64_t hd);
/* Writes key vector k[hd] as position i (0..15) of a K^T block; `block` is cleared first when
 * i == 0. Writes v[hd] as one V row. */
void bn_kv_store_k(bn_kv_type t, void *block, int i, const float *k, int64_t hd);
void bn_kv_store_v(bn_kv_type t, void *row, const float *v, int64_t hd);
/* The values attention computes with: key i of a K^T block, one V row (decoded, exact). */
void bn_kv_load_k(bn_kv_type t, const void *block, int i, float *k, int64_t hd);
void bn_kv_load_v(bn_kv_type t, const void *row, float *v, int64_t hd);

uint64_t bn_attention_scratch_floats(int64_t n_rows, int64_t head_dim);
/* The first part of that scratch, the same in every kernel: the rows' folded outputs
 * O [n_rows][head_dim], then M and L [n_rows] (rounded up to 16 floats). */
static inline uint64_t bn_attn_fold_floats(int64_t n_rows, int64_t head_dim) {
    return ((uint64_t)n_rows * ((uint64_t)head_dim + 2) + 15) & ~(uint64_t)15;
}
/* Folds one segment's m, l, o[hd] of a row into its running M, L, O[hd] (numerics above); the
 * first segment (first) is copied. Every path calls this one function, so the bits agree. */
void bn_attn_merge(float *M, float *L, float *restrict O, float m, float l, const float *restrict o, int64_t hd, bool first);
/* The scalar reference ("the truth"), for every KV type (it decodes the cache with
 * bn_kv_load_k / bn_kv_load_v). */
void bn_attention_ref(const bn_attn_job *job);
/* The kernel of the tier in use, falling back to the reference. */
void bn_attention_run(const bn_attn_job *job);

/* Tier kernels (NULL for tiers without one, or that this CPU lacks); defined in
 * src/kernels/dispatch.c. */
bn_attention_kernel bn_attention_kernel_for_tier(bn_cpu_tier t);
bool bn_attention_avx512(const bn_attn_job *job);
bool bn_attention_avx2(const bn_attn_job *job);
bool bn_attention_neon(const bn_attn_job *job); /* aarch64 */

#endif
