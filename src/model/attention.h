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
 * and finally out_r = o / l. Block boundaries depend only on absolute positions and each
 * row's operations only on its own q, pos and the cache, so a row's result does not depend on
 * which other rows are computed with it (batch size, chunking, thread split): the SIMD kernels
 * keep that property (they differ from the reference only in the dot and sum orders and in
 * their exp, within ~1e-5 relative). */
#ifndef BITNET_ATTENTION_H
#define BITNET_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/cpu.h"

#define BN_ATTN_BLOCK 16

typedef struct bn_attn_job {
    int64_t n_rows, head_dim;
    const float *const *q;   /* [n_rows] -> head_dim floats */
    float *const *out;       /* [n_rows] -> head_dim floats (written) */
    const int64_t *pos;      /* [n_rows], non-decreasing: row r sees keys 0..pos[r] */
    const float *k, *v;      /* key / value of position p at k + p * kv_stride (head_dim floats) */
    int64_t kv_stride;
    float scale;             /* usually 1 / sqrt(head_dim) */
    float *scratch;          /* bn_attention_scratch_floats(n_rows, head_dim) floats, 64-byte aligned */
} bn_attn_job;

/* A kernel computes the job and returns true, or returns false when it does not cover it
 * (e.g. a head_dim that is not a multiple of its vector width). */
typedef bool (*bn_attention_kernel)(const bn_attn_job *job);

uint64_t bn_attention_scratch_floats(int64_t n_rows, int64_t head_dim);
/* The scalar reference ("the truth"). */
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
