/* forward: the transformer forward pass over one sequence, with its KV cache.
 *
 * Per layer (FORMATS.md), x being the residual stream [n_embd] per token:
 *   h = RMSNorm(x, attn_norm); Q = Wq h, K = Wk h, V = Wv h; NEOX RoPE on Q and K;
 *   a = causal GQA attention (scale 1/sqrt(head_dim)); a = RMSNorm(a, attn_sub_norm); x += Wo a
 *   h = RMSNorm(x, ffn_norm); f = act(Wgate h) * (Wup h); f = RMSNorm(f, ffn_sub_norm); x += Wdown f
 * then logits = LMhead(RMSNorm(x, output_norm)).
 * The llama architecture (model.h): no sub-norms, NORMAL RoPE (angles scaled by the model's
 * linear factor and rope_freqs), and where a matrix W has an input norm, W reads
 * RMSNorm(in, in_norm_W) instead of its input `in` (quantized after that norm).
 *
 * A state owns everything its sequences need (one by default; several for continuous batching):
 * a KV cache per sequence (f32, f16 or q8_0 for K and for V; layouts in attention.h), scratch
 * for a batch of up to max_batch tokens, per-thread scratch and the
 * thread pool. All of it is allocated by bn_state_create; evaluation allocates nothing.
 * One state must not be used from two threads at once; states over one model are independent. */
#ifndef BITNET_FORWARD_H
#define BITNET_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "model/attention.h"
#include "model/head_screen.h"
#include "model/linear.h"
#include "model/model.h"
#include "model/threadpool.h"
#include "debug/trace.h"

typedef struct bn_state_params {
    int64_t n_ctx;            /* <= 0: the model's context, capped by max_kv_bytes */
    int max_batch;            /* tokens per forward chunk (prefill is split into chunks); <= 0: 64 */
    int n_seq;                /* sequences, each with its own KV cache of n_ctx positions; 1..BN_MAX_SEQ */
    int n_threads;            /* <= 0: number of online CPUs */
    bn_act_quant act_quant;   /* numerics for ternary weights */
    uint64_t max_kv_bytes;    /* cap for the default context; 0: a quarter of physical memory */
    bn_kv_type kv_type_k, kv_type_v; /* KV cache types (attention.h); default f16 */
    bn_tracer *tracer;        /* optional, not owned */
    int seq_id;               /* recorded in traces */
    int64_t kv_span_keys;     /* positions per KV cache span (forward.c's layout): 0 the default,
                               * else a multiple of 32 (the tests' small contexts use several) */
} bn_state_params;

typedef struct bn_state bn_state;

#define BN_MAX_SEQ 256

/* One row of a multi-sequence chunk: `token` appended to sequence `seq`; its logits wanted or
 * not, its hidden state (the LM head's input: RMSNorm(x, output_norm), [n_embd]) wanted or not. */
typedef struct bn_batch_row {
    int32_t token;
    int seq;
    bool logits, hidden;
    const bn_head_req *head;  /* NULL: every logit; else what the screened head may skip (head_screen.h) */
} bn_batch_row;

void bn_state_default_params(bn_state_params *p);
int bn_state_create(const bn_model *m, const bn_state_params *p, bn_state **out);
void bn_state_free(bn_state *s); /* NULL ok */

/* Evaluates tokens at positions n_past .. n_past+n-1 of sequence 0 and appends them to its cache.
 * logits: NULL (none wanted), or [n][n_vocab] when all_logits, else [n_vocab] for the last
 * token only. Fails with BITNET_ERR_CONTEXT_EXCEEDED (and changes nothing) when the tokens
 * do not fit, BITNET_ERR_INVALID_ARGUMENT for ids outside the vocabulary. */
int bn_state_eval(bn_state *s, const int32_t *tokens, int n, float *logits, bool all_logits);
/* bn_state_eval with the last token's logits only, computed as `req` allows (NULL: every logit;
 * with the screened head, head_screen.h: -inf for tokens that cannot be among the req->k
 * largest, the others exact). */
int bn_state_eval_head(bn_state *s, const int32_t *tokens, int n, float *logits, const bn_head_req *req);
/* bn_state_eval without the LM head: hidden receives [n][n_embd], every token's hidden state
 * after the final norm (what the head reads; llama.cpp's embeddings). */
int bn_state_eval_hidden(bn_state *s, const int32_t *tokens, int n, float *hidden);
/* The screened head's counters (all zero without one). */
bn_head_stats bn_state_head_stats(const bn_state *s);
/* Several sequences in one pass (continuous batching): rows[0, n) with n <= max_batch, the
 * rows of one sequence consecutive; each appends its token to its sequence. logits receives
 * [k][n_vocab] for the k rows that want them, hidden [j][n_embd] for the j rows that want
 * their hidden state (may be NULL when none does), in row order. Each row's results are the
 * same as if its sequence were evaluated alone (rows are independent in every kernel).
 * On failure nothing is appended. */
int bn_state_eval_rows(bn_state *s, const bn_batch_row *rows, int n, float *logits, float *hidden);
/* Forgets every sequence (n_past = 0); the cache memory is kept. */
void bn_state_reset(bn_state *s);
/* Drops the positions from n_keep on (n_keep <= n_past) of sequence 0 / of `seq`. */
int bn_state_truncate(bn_state *s, int64_t n_keep);
int bn_state_seq_truncate(bn_state *s, int seq, int64_t n_keep);
/* The cache memory holding positions [0, n) of sequence `seq` (n <= n_ctx), handed to io in a
 * fixed order (per layer and KV head: its K^T blocks, then its V rows) to be saved or filled
 * (slot files, api_slot.c); io returns 0 or a negative status, which stops the walk and is
 * returned. The sequence's n_past is not changed: see bn_state_seq_set_n_past. */
int bn_state_seq_kv_regions(bn_state *s, int seq, int64_t n, int (*io)(void *ctx, void *data, size_t len), void *ctx);
/* One end of a KV transfer: sequence `seq` of the state's caches (image NULL), or an image
 * in host memory of n_image positions (bn_state_kv_image_bytes(n_image) bytes, laid out as
 * bn_state_seq_kv_regions hands out a sequence's [0, n_image)). */
typedef struct bn_kv_ref {
    int seq;
    void *image;
    int64_t n_image;
} bn_kv_ref;
uint64_t bn_state_kv_image_bytes(const bn_state *s, int64_t n);
/* Copies the KV entries of positions [from, n) from src to dst, whose [0, from) must hold the
 * same tokens' entries (src holds at least n positions, dst at least from); a sequence dst
 * then holds n. The entries of a position depend only on the tokens up to it, so a sequence
 * continues exactly as if it had evaluated them (the batch's shared prompt prefixes and its
 * prompt cache in host memory, api_batch.c). */
int bn_state_kv_transfer(bn_state *s, bn_kv_ref dst, bn_kv_ref src, int64_t from, int64_t n);
/* Context shift: drops positions [n_keep, n_keep + n_discard) of sequence `seq` (n_discard >= 1,
 * n_keep + n_discard <= n_past); the entries of the later positions move down by n_discard,
 * their keys rotated back by n_discard positions (RoPE's angle is position x frequency, so
 * this is the key at its new position, up to the rounding of the rotation and the cache type),
 * their values as they are. The moved entries are not what evaluating their tokens at the new
 * positions would give (they attended to the dropped tokens): not a prompt prefix to share. */
int bn_state_seq_shift(bn_state *s, int seq, int64_t n_keep, int64_t n_discard);
/* One run of a KV move: positions [dst, dst + n) take the entries of [src, src + n), src > dst,
 * their keys rotated back by src - dst (as bn_state_seq_shift's). */
typedef struct bn_kv_run {
    int64_t dst, src, n;
} bn_kv_run;
/* Moves runs[0, n_runs) of sequence `seq` in one pass (cache reuse: several runs of a cache
 * move down to where a new prompt has their tokens, each by its own distance): each run's
 * destination follows the one before it (runs[i].dst == runs[i-1].dst + runs[i-1].n), its
 * source lies after the one before it, every source is held (n >= 1). Positions before
 * runs[0].dst stay; the sequence then holds the positions up to the last run's end. One pass
 * rotates each key once by its whole distance (moving run by run rotated the entries after a
 * run again for each later run, and moved every later position each time). */
int bn_state_seq_move(bn_state *s, int seq, const bn_kv_run *runs, int n_runs);
/* Declares positions [0, n) of sequence `seq` filled (after bn_state_seq_kv_regions restored them). */
int bn_state_seq_set_n_past(bn_state *s, int seq, int64_t n);
int64_t bn_state_seq_n_past(const bn_state *s, int seq); /* -1 for a bad seq */
int bn_state_n_seq(const bn_state *s);
int bn_state_max_batch(const bn_state *s);

int64_t bn_state_n_past(const bn_state *s);
int64_t bn_state_n_ctx(const bn_state *s);
int bn_state_n_threads(const bn_state *s);
/* The state's thread pool (NULL with one thread), for work between evaluations (the JSON
 * masks of sampling); not while an evaluation runs. */
bn_threadpool *bn_state_pool(bn_state *s);
bn_act_quant bn_state_act_quant(const bn_state *s);
bn_kv_type bn_state_kv_type_k(const bn_state *s);
bn_kv_type bn_state_kv_type_v(const bn_state *s);
/* KV cache bytes per position of one sequence for these types (all layers, K and V). */
uint64_t bn_kv_bytes_per_pos(const bn_hparams *hp, bn_kv_type k, bn_kv_type v);
uint64_t bn_state_kv_bytes(const bn_state *s);
uint64_t bn_state_scratch_bytes(const bn_state *s);
void bn_state_set_tracer(bn_state *s, bn_tracer *t, int seq_id);

/* Default numerics for a model: token for ternary weights, none for float weights. */
bn_act_quant bn_default_act_quant(const bn_model *m);

#endif
