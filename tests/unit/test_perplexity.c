/* Perplexity and KL-divergence statistics (src/debug/perplexity.h) against direct float64
 * computations on synthetic logits: the per-token nll, the perplexity error estimate, the
 * 16-bit base record (decoding within half a step of the true log-probabilities, logits more
 * than 16 below the top clamped), KL divergence of a run against its own record (about 0) and
 * against a different distribution (the exact KL), top-token agreement, percentiles. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "debug/perplexity.h"
#include "test.h"
#include "util.h"

#define V 1001 /* odd: the record is padded to an even count */

static uint64_t rng_state = 12345;
static double uniform(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void random_logits(float *l, int n, double spread) {
    for (int i = 0; i < n; i++) l[i] = (float)(spread * (2.0 * uniform() - 1.0));
}

/* log softmax in double */
static void log_probs(const float *l, int n, double *lp) {
    double mx = l[0], s = 0;
    for (int i = 1; i < n; i++) mx = l[i] > mx ? l[i] : mx;
    for (int i = 0; i < n; i++) s += exp(l[i] - mx);
    for (int i = 0; i < n; i++) lp[i] = l[i] - mx - log(s);
}

TEST(token_nll_matches_float64) {
    float l[V];
    double lp[V];
    for (int r = 0; r < 20; r++) {
        random_logits(l, V, 1.0 + r);
        log_probs(l, V, lp);
        int tok = (int)(uniform() * V);
        CHECK_NEAR(bn_ppl_token_nll(l, V, tok), -lp[tok], 1e-5);
    }
}

TEST(perplexity_and_error_estimate) {
    bn_ppl_acc a = {0};
    double ppl, err;
    bn_ppl_result(&a, &ppl, &err);
    CHECK(ppl == 0 && err == 0);
    bn_ppl_add(&a, 1.0);
    bn_ppl_add(&a, 2.0);
    bn_ppl_add(&a, 3.0);
    bn_ppl_result(&a, &ppl, &err);
    /* mean 2, variance 14/3 - 4 = 2/3, error = e^2 sqrt((2/3) / 2) */
    CHECK_NEAR(ppl, exp(2.0), 1e-12);
    CHECK_NEAR(err, exp(2.0) * sqrt(1.0 / 3.0), 1e-12);
}

TEST(base_record_decodes_to_log_probs) {
    float l[V];
    double lp[V];
    uint16_t rec[2 * ((V + 1) / 2) + 4];
    CHECK_EQ_INT((int)bn_kld_record_len(V), (int)(sizeof rec / sizeof rec[0]));
    random_logits(l, V, 12.0); /* spread 24 > 16: some logits are clamped */
    log_probs(l, V, lp);
    double nll = bn_kld_encode(l, V, 7, rec);
    CHECK_NEAR(nll, -lp[7], 1e-4);
    float head[2];
    memcpy(head, rec, sizeof head);
    double top = lp[0];
    for (int i = 1; i < V; i++) top = lp[i] > top ? lp[i] : top;
    int clamped = 0;
    for (int i = 0; i < V; i++) {
        double dec = head[0] * rec[4 + i] + head[1];
        if (lp[i] < top - 16) {
            clamped++;
            CHECK_MSG(rec[4 + i] == 0, "token %d below the clamp has code %u", i, rec[4 + i]);
        } else {
            CHECK_MSG(fabs(dec - lp[i]) <= 0.51 * head[0] + 1e-5, "token %d: %g vs %g", i, dec, lp[i]);
        }
    }
    CHECK(clamped > 0);
    CHECK(rec[4 + V] == 0); /* padding */
}

TEST(kl_divergence_against_itself_and_another) {
    float base[V], run[V];
    double lb[V], lr[V];
    uint16_t rec[2 * ((V + 1) / 2) + 4];
    bn_kld_acc self = {0}, other = {0};
    double exact_sum = 0;
    int n = 50, same = 0;
    float *kld = malloc(sizeof(float) * (size_t)n), *dp = malloc(sizeof(float) * (size_t)n);
    for (int r = 0; r < n; r++) {
        random_logits(base, V, 4.0);
        for (int i = 0; i < V; i++) run[i] = base[i] + (float)(0.3 * (2.0 * uniform() - 1.0));
        int tok = (int)(uniform() * V);
        bn_kld_encode(base, V, tok, rec);
        bn_kld_add(&self, base, V, rec, tok, &kld[r], &dp[r]);
        CHECK_MSG(fabsf(kld[r]) < 1e-5f, "self KL %g", kld[r]);
        bn_kld_add(&other, run, V, rec, tok, &kld[r], &dp[r]);
        log_probs(base, V, lb);
        log_probs(run, V, lr);
        double exact = 0;
        int ib = 0, ir = 0;
        for (int i = 0; i < V; i++) {
            exact += exp(lb[i]) * (lb[i] - lr[i]);
            ib = lb[i] > lb[ib] ? i : ib;
            ir = lr[i] > lr[ir] ? i : ir;
        }
        same += ib == ir;
        exact_sum += exact;
        CHECK_MSG(fabs(kld[r] - exact) < 1e-3 * exact + 1e-5, "KL %g vs exact %g", kld[r], exact);
        CHECK_NEAR(dp[r], exp(lr[tok]) - exp(lb[tok]), 1e-4);
    }
    bn_kld_summary s;
    bn_kld_summarize(&self, &s);
    CHECK(s.same_top.value == 1.0 && fabs(s.kld.value) < 1e-5 && fabs(s.log_ratio.value) < 1e-4);
    bn_kld_summarize(&other, &s);
    CHECK_NEAR(s.kld.value, exact_sum / n, 1e-3 * exact_sum / n);
    CHECK_NEAR(s.same_top.value, (double)same / n, 1e-12);
    CHECK(s.kld.err > 0 && s.ppl.value > 0 && s.ppl_base.value > 0);
    free(kld);
    free(dp);
}

TEST(percentiles) {
    const float v[] = {0.0f, 1.0f, 2.0f, 3.0f};
    CHECK_NEAR(bn_percentile(v, 4, 0.5f), 1.5, 1e-6);
    CHECK_NEAR(bn_percentile(v, 4, 0.0f), 0.0, 0);
    CHECK_NEAR(bn_percentile(v, 4, 1.0f), 3.0, 0);
    CHECK_NEAR(bn_percentile(v, 4, 0.999f), 2.997, 1e-5);
    CHECK_NEAR(bn_percentile(v, 1, 0.3f), 0.0, 0);
}

/* A base file's first 20 bytes and the size of the whole file. */
static uint64_t base_header(uint8_t *h, int32_t n_ctx, int32_t n_vocab, int32_t n_chunk) {
    int32_t v[3] = {n_ctx, n_vocab, n_chunk};
    memcpy(h, "_logits_", 8);
    memcpy(h + 8, v, sizeof v);
    uint64_t per = (uint64_t)n_ctx * 4 + (uint64_t)(n_ctx - 1 - n_ctx / 2) * (uint64_t)bn_kld_record_len(n_vocab) * 2;
    return BN_KLD_HEADER_BYTES + per * (uint64_t)n_chunk;
}

/* Valid headers are read back; wrong magic, vocabulary, window, count or size are refused with
 * a message; 5000 random corruptions of header and size never crash and, when accepted,
 * describe a file of exactly that size. */
TEST(base_file_checks) {
    uint8_t h[BN_KLD_HEADER_BYTES];
    int n_ctx = 0, n_chunk = 0;
    uint64_t size = base_header(h, 128, V, 6);
    CHECK(bn_kld_base_check(h, size, V, &n_ctx, &n_chunk) == 0 && n_ctx == 128 && n_chunk == 6);
    CHECK(bn_kld_base_check(h, size + 2, V, &n_ctx, &n_chunk) != 0);
    CHECK(strstr(bn_last_error_message(), "size") != NULL);
    CHECK(bn_kld_base_check(h, size, V + 1, &n_ctx, &n_chunk) != 0);
    CHECK(strstr(bn_last_error_message(), "vocabulary of 1001") != NULL);
    CHECK(bn_kld_base_check(h, 19, V, &n_ctx, &n_chunk) != 0);
    size = base_header(h, 4, V, 6);
    CHECK(bn_kld_base_check(h, size, V, &n_ctx, &n_chunk) != 0);
    size = base_header(h, 128, V, 0);
    CHECK(bn_kld_base_check(h, size, V, &n_ctx, &n_chunk) != 0);
    size = base_header(h, 128, V, 6);
    h[0] = 'X';
    CHECK(bn_kld_base_check(h, size, V, &n_ctx, &n_chunk) != 0);
    CHECK(strstr(bn_last_error_message(), "_logits_") != NULL);
    int accepted = 0;
    for (int i = 0; i < 5000; i++) {
        uint64_t sz = base_header(h, 128, V, 6);
        int flips = 1 + (int)(uniform() * 4);
        for (int f = 0; f < flips; f++) h[8 + (int)(uniform() * 12)] ^= (uint8_t)(1 + uniform() * 255);
        if (uniform() < 0.3) sz = (uint64_t)(uniform() * 2.0 * (double)sz);
        if (bn_kld_base_check(h, sz, V, &n_ctx, &n_chunk) == 0) {
            accepted++;
            uint8_t again[BN_KLD_HEADER_BYTES];
            CHECK(n_ctx >= 8 && n_chunk >= 1 && base_header(again, n_ctx, V, n_chunk) == sz);
        }
    }
    CHECK(accepted < 5000);
    const int32_t toks[] = {0, 5, V - 1, V};
    CHECK(bn_kld_base_check_tokens(toks, 3, V) == 0);
    CHECK(bn_kld_base_check_tokens(toks, 4, V) != 0);
}

TEST_MAIN_BEGIN("test_perplexity")
RUN(token_nll_matches_float64);
RUN(perplexity_and_error_estimate);
RUN(base_record_decodes_to_log_probs);
RUN(kl_divergence_against_itself_and_another);
RUN(percentiles);
RUN(base_file_checks);
TEST_MAIN_END()
