/* perplexity: the statistics of `bitnet perplexity`, computed as llama.cpp's llama-perplexity
 * computes them so that the figures compare: the negative log-likelihood of each scored token,
 * perplexity with its error estimate, and the KL-divergence comparison of a run against saved
 * base log-probabilities (llama.cpp's --kl-divergence-base file layout, so that a base written
 * by either program can be read by the other).
 *
 * Method (tools/perplexity in llama.cpp): the text's tokens are cut into non-overlapping
 * windows of n_ctx; the first token of each window is replaced by BOS when the vocabulary adds
 * one; the logits at positions first = n_ctx/2 .. n_ctx-2 are scored against the next token
 * (n_ctx - 1 - first tokens per window).
 *
 * Numerics, per scored position (logits l[0..V), target t):
 *   m = max_i l_i (float), S = sum_i expf(l_i - m) (summed in double), nll = m + log S - l_t.
 *   PPL = exp(mean nll); error = PPL * sqrt((mean(nll^2) - mean(nll)^2) / (count - 1)).
 * Base record of one position (V' = 2 * ((V + 1) / 2) + 4 uint16 values): floats scale and
 *   min_log_prob in the first 4 uint16, then V codes: mn = max(min_i l_i, m - 16),
 *   scale = (m - mn) / 65535, min_log_prob = mn - m - log S,
 *   code_i = l_i > mn ? round((l_i - mn) / scale) : 0; log p_base_i = scale * code_i + min_log_prob.
 * KL divergence of a position: sum over i with log p_base_i > -16 of
 *   p_base_i * (log p_base_i - log p_i), log p_i = l_i - m - log S of the run being measured. */
#ifndef BITNET_PERPLEXITY_H
#define BITNET_PERPLEXITY_H

#include <stddef.h>
#include <stdint.h>

/* -log softmax(logits)[tok] (numerics above). */
double bn_ppl_token_nll(const float *logits, int64_t n_vocab, int32_t tok);

typedef struct bn_ppl_acc {
    double nll, nll2;
    int64_t count;
} bn_ppl_acc;

void bn_ppl_add(bn_ppl_acc *a, double nll);
/* PPL and its error estimate (0 when count < 2 or the variance is not positive). */
void bn_ppl_result(const bn_ppl_acc *a, double *ppl, double *err);

/* ---- KL divergence against a base ---- */

/* uint16 values in one position's base record. */
int64_t bn_kld_record_len(int64_t n_vocab);
/* Writes the base record of one position into rec (bn_kld_record_len values); returns its nll
 * for tok. */
double bn_kld_encode(const float *logits, int64_t n_vocab, int32_t tok, uint16_t *rec);

typedef struct bn_kld_acc {
    double nll, nll2, nll_base, nll_base2, nll_nll_base;
    double kld, kld2;
    double p_diff, p_diff2, p_diff4;
    double max_p_diff;
    int64_t same_top, count;
} bn_kld_acc;

/* Adds one position: the run's logits against the base record for target tok. Stores the
 * position's KL divergence and p - p_base of the target in *kld and *p_diff. */
void bn_kld_add(bn_kld_acc *a, const float *logits, int64_t n_vocab, const uint16_t *base_rec, int32_t tok, float *kld,
                float *p_diff);

/* The base file (llama.cpp's --kl-divergence-base layout, little-endian): "_logits_", int32
 * n_ctx, n_vocab, n_chunk, int32 tokens[n_chunk][n_ctx], then per window
 * (n_ctx - 1 - n_ctx/2) records of bn_kld_record_len(n_vocab) uint16. */
#define BN_KLD_HEADER_BYTES 20

/* Checks a base file's header (its first BN_KLD_HEADER_BYTES bytes) against the file's size and
 * the model's vocabulary: n_ctx in 8..2^24, n_chunk >= 1, the size exactly that of the tokens
 * and records. Returns 0 with *n_ctx and *n_chunk, or a negative status with bn_error saying
 * what is wrong. */
int bn_kld_base_check(const uint8_t *header, uint64_t file_size, int64_t n_vocab, int *n_ctx, int *n_chunk);
/* 0 when every token id is inside the vocabulary, else a negative status naming the first. */
int bn_kld_base_check_tokens(const int32_t *tokens, uint64_t n, int64_t n_vocab);

/* A value with its uncertainty. */
typedef struct bn_stat {
    double value, err;
} bn_stat;

typedef struct bn_kld_summary {
    bn_stat ppl, ppl_base;      /* perplexity of the run, of the base */
    double cor;                 /* correlation of ln PPL and ln PPL(base) */
    bn_stat log_ratio, ratio;   /* ln(PPL/PPL(base)), PPL/PPL(base) */
    bn_stat diff;               /* PPL - PPL(base) */
    bn_stat kld;                /* mean KL divergence */
    bn_stat p_diff;             /* mean p - p_base of the target token */
    bn_stat rms_p_diff;         /* RMS of it */
    bn_stat same_top;           /* fraction of positions with the same top token */
} bn_kld_summary;

/* llama.cpp's summary figures: mean_and_uncertainty (uncertainty 0 for 10 or fewer positions)
 * and covariance (0 below 10 positions). */
void bn_kld_summarize(const bn_kld_acc *a, bn_kld_summary *s);

/* Linear-interpolated percentile of n sorted values (fraction in [0, 1]). */
float bn_percentile(const float *sorted, size_t n, float fraction);

#endif
