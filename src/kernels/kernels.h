/* kernels: the fast paths behind linear.h, chosen once at start-up by CPU tier (cpu.h).
 * linear.c calls bn_kernel_linear_apply() first and falls back to its scalar reference when
 * it returns false. bn_kernel_linear_pack() builds w->packed at load time.
 *
 * Agreement with bn_linear_apply_rows_ref (docs/KERNELS.md):
 *   ternary, token mode   bit-identical (exact int32 dot, then the reference's float ops)
 *   ternary, q8k mode     bit-identical (exact per-block int sums; each SIMD lane is one row,
 *                         so the float sum runs in the reference's block order)
 *   ternary, none mode    not covered (returns false: the reference computes it)
 *   float weights         within ~1e-5 relative to sum_k |x_k w_k| (reordered float sums)
 * Threading is the caller's: a call computes rows [m0, m1) of every token and allocates
 * nothing. Row ranges that start at multiples of bn_kernel_row_align() avoid recomputing
 * the 16-row tiles two threads share. */
#ifndef BITNET_KERNELS_H
#define BITNET_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "model/linear.h"

/* Repacks a ternary weight (I2_S with K % 256 == 0, TQ1_0, TQ2_0) into 16-row tiles and sets
 * w->packed, when the tier in use has ternary kernels; other weights are left alone. Returns
 * 0 (also when it chose not to pack) or a negative status with bn_error set. */
int bn_kernel_linear_pack(bn_linear *w);
/* The same with the tiles' codes written to the caller's memory (64-byte aligned, at least
 * bn_kernel_linear_pack_bytes(w) bytes, kept while w is packed): a model puts all of its
 * matrices in one arena of huge pages. pack_bytes is 0 when w would not be packed. */
int bn_kernel_linear_pack_in(bn_linear *w, uint8_t *codes);
uint64_t bn_kernel_linear_pack_bytes(const bn_linear *w);
/* Repacks a Q8_0 weight that will be applied to Q8_0 activations (the --lm-head q8 head)
 * into the q8 rows layout, when the tier in use has its kernel (avx512, amx) and the row
 * padding is small. The kernels then compute it from the q8 rows alone: the caller may free
 * the Q8_0 data and set w->data = NULL (bn_kernel_linear_apply then never needs it; the
 * scalar reference does). Same returns. */
int bn_kernel_linear_pack_q8_0(bn_linear *w);
/* The same in two steps, so that rows can be filled on several threads: alloc (sets
 * w->packed from w's shape, or leaves it NULL when it would not be used; same returns), then
 * pack_rows of rows [m0, m1) from their Q8_0 blocks (rows_q8_0 holds row m0 first), for
 * disjoint ranges covering [0, M) (a no-op when nothing was allocated). */
int bn_kernel_q8_0_pack_alloc(bn_linear *w);
void bn_kernel_q8_0_pack_rows(bn_linear *w, const void *rows_q8_0, int64_t m0, int64_t m1);
/* Frees w->packed (either kind). */
void bn_kernel_linear_unpack(bn_linear *w);
/* Bytes held by w->packed (0 when not packed). */
uint64_t bn_kernel_packed_bytes(const bn_linear *w);
/* Per-thread scratch the kernels need for w, part of bn_linear_row_scratch_bytes (the AVX2
 * prefill by tables; 0 elsewhere). */
uint64_t bn_kernel_row_scratch_bytes(const bn_linear *w);
/* The units a prefill GEMM of n_tokens tokens is cut into (shared out to the threads one by
 * one), for matrices of up to max_rows rows on n_threads threads: 64 rows and all the tokens,
 * or at the avx2 tier (32 tokens or more) an even share of the rows when that is 256 or more,
 * which its table prefill needs to pay for the tables, and blocks of 32 tokens (the last unit
 * takes the tokens left over): tables are built per block of 32 tokens anyway, so units of one
 * block cost no more tables than units of all, and a thread on a slower core (a co-tenant's,
 * an efficiency core) takes fewer of them instead of holding up its even share. */
typedef struct bn_prefill_units {
    int64_t rows;
    int tokens;
} bn_prefill_units;
bn_prefill_units bn_kernel_prefill_units(int64_t max_rows, int n_threads, int n_tokens);
/* Row-split granularity that keeps tiles whole (16). */
int64_t bn_kernel_row_align(void);
/* Computes what bn_linear_apply_rows_ref computes (within the documented tolerance) and
 * returns true, or returns false when no fast kernel covers this case. */
bool bn_kernel_linear_apply(const bn_linear *w, const bn_act *a, float *y, long long ldy,
                            long long m0, long long m1, void *row_tmp);
/* Name of the tier in use ("scalar", "avx2", "avxvnni", "avx512", "amx", "neon", "dotprod"). */
const char *bn_kernel_tier_name(void);

#endif
