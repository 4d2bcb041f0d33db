/* perplexity: per-token log-likelihoods, perplexity and KL-divergence statistics (numerics
 * and record layout in perplexity.h). */
#include "debug/perplexity.h"

#include <math.h>
#include <string.h>

#include "util.h"

/* m = max logit (float), *sum = sum of expf(l - m) in double; *imax = first index of m. */
static float max_and_sum(const float *l, int64_t n, double *sum, int64_t *imax) {
    float m = l[0];
    int64_t im = 0;
    for (int64_t i = 1; i < n; i++)
        if (l[i] > m) {
            m = l[i];
            im = i;
        }
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += expf(l[i] - m);
    *sum = s;
    if (imax) *imax = im;
    return m;
}

double bn_ppl_token_nll(const float *logits, int64_t n_vocab, int32_t tok) {
    double sum;
    float m = max_and_sum(logits, n_vocab, &sum, NULL);
    return log(sum) - (double)(logits[tok] - m);
}

void bn_ppl_add(bn_ppl_acc *a, double nll) {
    a->nll += nll;
    a->nll2 += nll * nll;
    a->count++;
}

void bn_ppl_result(const bn_ppl_acc *a, double *ppl, double *err) {
    *ppl = *err = 0.0;
    if (a->count < 1) return;
    double mean = a->nll / (double)a->count, var = a->nll2 / (double)a->count - mean * mean;
    *ppl = exp(mean);
    if (a->count > 1 && var > 0) *err = *ppl * sqrt(var / (double)(a->count - 1));
}

/* ---- KL divergence ---- */

int64_t bn_kld_record_len(int64_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }

/* Round to nearest, ties to even (llama.cpp's magic-number rounding; rintf in the default
 * rounding mode), within the 16 bits. */
static uint16_t code_of(float v) {
    float r = rintf(v);
    return r <= 0.0f ? 0 : r >= 65535.0f ? 65535 : (uint16_t)r;
}

double bn_kld_encode(const float *logits, int64_t n_vocab, int32_t tok, uint16_t *rec) {
    double sum;
    float m = max_and_sum(logits, n_vocab, &sum, NULL), mn = logits[0];
    for (int64_t i = 1; i < n_vocab; i++) mn = logits[i] < mn ? logits[i] : mn;
    if (mn < m - 16) mn = m - 16;
    float log_sum = (float)log(sum);
    float head[2] = {(m - mn) / 65535.0f, mn - m - log_sum}; /* scale, min_log_prob */
    memcpy(rec, head, sizeof head);
    uint16_t *codes = rec + 4;
    memset(codes, 0, (size_t)(bn_kld_record_len(n_vocab) - 4) * sizeof *codes);
    if (head[0] != 0.0f) {
        float inv = 1.0f / head[0];
        for (int64_t i = 0; i < n_vocab; i++) codes[i] = logits[i] > mn ? code_of(inv * (logits[i] - mn)) : 0;
    }
    return (double)(m + log_sum - logits[tok]);
}

void bn_kld_add(bn_kld_acc *a, const float *logits, int64_t n_vocab, const uint16_t *base_rec, int32_t tok, float *kld,
                float *p_diff) {
    double sum_exp;
    int64_t imax;
    float m = max_and_sum(logits, n_vocab, &sum_exp, &imax);
    float log_sum = (float)log(sum_exp), head[2];
    memcpy(head, base_rec, sizeof head);
    const float scale = head[0], min_log_prob = head[1];
    const uint16_t *codes = base_rec + 4;
    float nll = m + log_sum - logits[tok], nll_base = -(scale * codes[tok] + min_log_prob);
    a->nll += nll;
    a->nll2 += (double)nll * nll;
    a->nll_base += nll_base;
    a->nll_base2 += (double)nll_base * nll_base;
    a->nll_nll_base += (double)nll * nll_base;
    float norm = m + log_sum; /* log p_i = l_i - norm */
    double sum = 0.0;
    int64_t imax_base = 0;
    float best_base = 0.0f;
    for (int64_t i = 0; i < n_vocab; i++) {
        float lp_base = scale * codes[i] + min_log_prob;
        if (i == 0 || lp_base > best_base) {
            best_base = lp_base;
            imax_base = i;
        }
        if (lp_base > -16.0f) sum += expf(lp_base) * (lp_base - logits[i] + norm);
    }
    a->kld += sum;
    a->kld2 += sum * sum;
    a->count++;
    a->same_top += imax == imax_base;
    float d = expf(-nll) - expf(-nll_base);
    double d2 = (double)d * d;
    a->p_diff += d;
    a->p_diff2 += d2;
    a->p_diff4 += d2 * d2;
    if (fabs(d) > a->max_p_diff) a->max_p_diff = fabs(d);
    *kld = (float)sum;
    *p_diff = d;
}

/* ---- the base file ---- */

int bn_kld_base_check(const uint8_t *header, uint64_t file_size, int64_t n_vocab, int *n_ctx, int *n_chunk) {
    int32_t h[3];
    if (file_size < BN_KLD_HEADER_BYTES || memcmp(header, "_logits_", 8))
        return bn_error(BITNET_ERR_LOAD_FAILED, "not a log-probability file (no _logits_ header)");
    memcpy(h, header + 8, sizeof h);
    if (h[1] != n_vocab)
        return bn_error(BITNET_ERR_LOAD_FAILED, "written for a vocabulary of %d tokens; this model has %lld", h[1], (long long)n_vocab);
    if (h[0] < 8 || h[0] > (1 << 24) || h[2] < 1)
        return bn_error(BITNET_ERR_LOAD_FAILED, "window length %d (8..%d) or window count %d (>= 1) out of range", h[0], 1 << 24, h[2]);
    /* per window: its tokens and its records (< 2^24 * 4 + 2^23 * 2^32: no overflow) */
    uint64_t per = (uint64_t)h[0] * 4 + (uint64_t)(h[0] - 1 - h[0] / 2) * (uint64_t)bn_kld_record_len(n_vocab) * 2;
    uint64_t body = file_size - BN_KLD_HEADER_BYTES;
    if (body % per != 0 || body / per != (uint64_t)h[2])
        return bn_error(BITNET_ERR_LOAD_FAILED, "its size (%llu bytes) does not match the window length %d, vocabulary %d and "
                        "window count %d in its header", (unsigned long long)file_size, h[0], h[1], h[2]);
    *n_ctx = h[0];
    *n_chunk = h[2];
    return 0;
}

int bn_kld_base_check_tokens(const int32_t *tokens, uint64_t n, int64_t n_vocab) {
    for (uint64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return bn_error(BITNET_ERR_LOAD_FAILED, "token %llu of the file, %d, is outside the vocabulary", (unsigned long long)i, tokens[i]);
    return 0;
}

static bn_stat mean_and_uncertainty(double sum, double sum2, int64_t count) {
    bn_stat s = {0.0, 0.0};
    if (count < 1) return s;
    s.value = sum / (double)count;
    double var = sum2 / (double)count - s.value * s.value;
    s.err = var > 0 && count > 10 ? sqrt(var / (double)(count - 1)) : 0.0;
    return s;
}

static double covariance(double sa, double sb, double sab, int64_t count) {
    if (count < 10) return 0.0;
    double n = (double)count;
    return (sab / n - (sa / n) * (sb / n)) / (n - 1);
}

static double sqrt0(double v) { return v > 0 ? sqrt(v) : 0.0; }

void bn_kld_summarize(const bn_kld_acc *a, bn_kld_summary *s) {
    memset(s, 0, sizeof *s);
    if (a->count < 1) return;
    bn_stat lp = mean_and_uncertainty(a->nll, a->nll2, a->count), lb = mean_and_uncertainty(a->nll_base, a->nll_base2, a->count);
    double cov = covariance(a->nll, a->nll_base, a->nll_nll_base, a->count);
    s->ppl = (bn_stat){exp(lp.value), exp(lp.value) * lp.err};
    s->ppl_base = (bn_stat){exp(lb.value), exp(lb.value) * lb.err};
    s->cor = lp.err > 0 && lb.err > 0 ? cov / (lp.err * lb.err) : 0.0;
    s->log_ratio = (bn_stat){lp.value - lb.value, sqrt0(lp.err * lp.err + lb.err * lb.err - 2.0 * cov)};
    s->ratio = (bn_stat){exp(s->log_ratio.value), exp(s->log_ratio.value) * s->log_ratio.err};
    double ppl_cov = s->ppl.value * s->ppl_base.value * cov;
    s->diff = (bn_stat){s->ppl.value - s->ppl_base.value,
                        sqrt0(s->ppl.err * s->ppl.err + s->ppl_base.err * s->ppl_base.err - 2.0 * ppl_cov)};
    s->kld = mean_and_uncertainty(a->kld, a->kld2, a->count);
    s->p_diff = mean_and_uncertainty(a->p_diff, a->p_diff2, a->count);
    bn_stat mse = mean_and_uncertainty(a->p_diff2, a->p_diff4, a->count);
    s->rms_p_diff.value = sqrt0(mse.value);
    s->rms_p_diff.err = s->rms_p_diff.value > 0 ? 0.5 / s->rms_p_diff.value * mse.err : 0.0;
    double top = (double)a->same_top / (double)a->count;
    s->same_top = (bn_stat){top, a->count > 1 ? sqrt0(top * (1.0 - top) / (double)(a->count - 1)) : 0.0};
}

float bn_percentile(const float *sorted, size_t n, float fraction) {
    if (n == 0) return 0.0f;
    if (fraction <= 0) return sorted[0];
    if (fraction >= 1) return sorted[n - 1];
    float p = fraction * (float)(n - 1);
    size_t ip = (size_t)p;
    p -= (float)ip;
    return (1 - p) * sorted[ip] + p * sorted[ip + 1 < n ? ip + 1 : n - 1];
}
