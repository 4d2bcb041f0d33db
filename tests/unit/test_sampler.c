/* Tests of src/sampler: each filter alone on hand-made logits (exact), penalties and their
 * window, the generator (reproducible, seed-dependent) and the sampled frequencies against
 * the softmax (chi-square), the logit bias, the temperature, and the rejection of bad parameters and logits;
 * the Gumbel-max draw (gumbel.h): the same token as the argmax over every row, the filter
 * that skips rows never wrong, and selective; prompt-lookup drafts (text/lookup.h); llama.cpp's
 * other samplers (top-n-sigma, typical-p, XTC and its coin, the dynamic temperature, mirostat 1
 * and 2 with mu's updates, DRY against its definition on random repetitive histories with
 * breakers) against references, greedy with them, their bad values; the stages of another
 * order (llama.cpp's `samplers`) and sampler_order's lists. */
#include <float.h>
#include <stdint.h>

#include "gumbel.h"
#include "text/lookup.h"
#include "text/sampler.h"
#include "test.h"
#include "util.h"

/* Parameters with every filter off: temperature 1 draws from softmax(logits). */
static bn_sampler_params plain_params(void) {
    bn_sampler_params p = bn_sampler_default_params();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

/* The survivors of the chain, best first. */
static int distribution(const bn_sampler_params *p, const float *logits, int n_vocab,
                        bn_sampler_candidate *out, int cap) {
    bn_sampler *s = bn_sampler_create(p, n_vocab);
    if (!s) return -100;
    int n = bn_sampler_distribution(s, logits, out, cap);
    bn_sampler_free(s);
    return n;
}

static double softmax_of(const float *logits, int n, int i, double temperature) {
    double max = logits[0], sum = 0.0;
    for (int j = 1; j < n; j++) max = logits[j] > max ? logits[j] : max;
    for (int j = 0; j < n; j++) sum += exp((logits[j] - max) / temperature);
    return exp((logits[i] - max) / temperature) / sum;
}

TEST(greedy_is_argmax_lowest_id_on_ties) {
    float logits[6] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f, -INFINITY};
    bn_sampler_params p = bn_sampler_default_params();
    p.temperature = 0.0f;
    bn_sampler *s = bn_sampler_create(&p, 6);
    CHECK(s != NULL);
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(bn_sampler_sample(s, logits), 1);
    bn_sampler_free(s);
    p.temperature = -1.0f; /* negative is greedy too */
    s = bn_sampler_create(&p, 6);
    CHECK(s != NULL);
    CHECK_EQ_INT(bn_sampler_sample(s, logits), 1);
    bn_sampler_candidate c[6];
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 6), 1);
    CHECK_EQ_INT(c[0].id, 1);
    CHECK_NEAR(c[0].p, 1.0, 0.0);
    bn_sampler_free(s);
}

TEST(logits_are_not_modified) {
    float logits[5] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f}, copy[5];
    memcpy(copy, logits, sizeof logits);
    bn_sampler_params p = bn_sampler_default_params();
    p.repeat_penalty = 1.5f;
    p.presence_penalty = 0.5f;
    bn_sampler *s = bn_sampler_create(&p, 5);
    CHECK(s != NULL);
    bn_sampler_accept(s, 4);
    for (int i = 0; i < 10; i++) CHECK(bn_sampler_sample(s, logits) >= 0);
    CHECK(memcmp(copy, logits, sizeof logits) == 0);
    bn_sampler_free(s);
}

TEST(top_k_keeps_exactly_k) {
    float logits[8] = {1.0f, 5.0f, 3.0f, 4.0f, 2.0f, 0.0f, 4.0f, -3.0f};
    bn_sampler_params p = plain_params();
    p.top_k = 3;
    bn_sampler_candidate c[8];
    /* 5 (id 1), then the tie 4/4: both ids 3 and 6 fit in k = 3 */
    CHECK_EQ_INT(distribution(&p, logits, 8, c, 8), 3);
    CHECK_EQ_INT(c[0].id, 1);
    CHECK_EQ_INT(c[1].id, 3);
    CHECK_EQ_INT(c[2].id, 6);
    /* the probabilities are the softmax over the three survivors */
    float kept[3] = {5.0f, 4.0f, 4.0f};
    for (int i = 0; i < 3; i++) CHECK_NEAR(c[i].p, softmax_of(kept, 3, i, 1.0), 1e-6);
    /* k = 2 splits the tie: the lower id stays */
    p.top_k = 2;
    CHECK_EQ_INT(distribution(&p, logits, 8, c, 8), 2);
    CHECK_EQ_INT(c[0].id, 1);
    CHECK_EQ_INT(c[1].id, 3);
    /* k >= n_vocab is off */
    p.top_k = 8;
    CHECK_EQ_INT(distribution(&p, logits, 8, c, 8), 8);
}

TEST(top_k_on_a_large_vocabulary_matches_a_full_sort) {
    enum { N = 5000, K = 37 };
    static float logits[N];
    static bn_sampler_candidate c[N];
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1664525u + 1013904223u;
        logits[i] = (float)(x >> 20) / 256.0f; /* coarse values: many ties */
    }
    bn_sampler_params p = plain_params();
    p.top_k = K;
    CHECK_EQ_INT(distribution(&p, logits, N, c, N), K);
    /* every survivor beats (or ties with a higher id) every dropped token */
    int kept[N] = {0};
    for (int i = 0; i < K; i++) kept[c[i].id] = 1;
    float worst = c[K - 1].logit;
    int worst_id = c[K - 1].id;
    for (int i = 0; i < N; i++) {
        if (kept[i]) continue;
        CHECK(logits[i] < worst || (logits[i] == worst && i > worst_id));
    }
    for (int i = 1; i < K; i++) CHECK(c[i - 1].logit >= c[i].logit);
}

/* Logits whose softmax is exactly `probs` (up to float rounding). */
static void logits_from_probs(const double *probs, int n, float *logits) {
    for (int i = 0; i < n; i++) logits[i] = (float)log(probs[i]);
}

TEST(top_p_keeps_the_smallest_prefix_reaching_p) {
    const double probs[6] = {0.05, 0.5, 0.15, 0.2, 0.07, 0.03};
    float logits[6];
    logits_from_probs(probs, 6, logits);
    bn_sampler_params p = plain_params();
    bn_sampler_candidate c[6];
    p.top_p = 0.69f; /* 0.5 + 0.2 = 0.7 >= 0.69 */
    CHECK_EQ_INT(distribution(&p, logits, 6, c, 6), 2);
    CHECK_EQ_INT(c[0].id, 1);
    CHECK_EQ_INT(c[1].id, 3);
    CHECK_NEAR(c[0].p, 0.5 / 0.7, 1e-6);
    p.top_p = 0.71f; /* needs the 0.15 too */
    CHECK_EQ_INT(distribution(&p, logits, 6, c, 6), 3);
    CHECK_EQ_INT(c[2].id, 2);
    p.top_p = 0.3f; /* the best token alone reaches it */
    CHECK_EQ_INT(distribution(&p, logits, 6, c, 6), 1);
    CHECK_EQ_INT(c[0].id, 1);
    p.top_p = 0.999f; /* everything but nothing more */
    CHECK_EQ_INT(distribution(&p, logits, 6, c, 6), 6);
    /* after top-k the mass is renormalized over the k survivors: 0.5/0.7 >= 0.7 */
    p.top_k = 2;
    p.top_p = 0.7f;
    CHECK_EQ_INT(distribution(&p, logits, 6, c, 6), 1);
}

/* A reference of the whole chain (no penalties) in double precision with a full sort: the
 * ids that survive, best first, in ids[], their final probabilities in probs[]; returns the
 * count. Slow and plain on purpose. */
static const float *ref_logits;
static int ref_compare(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    if (ref_logits[x] != ref_logits[y]) return ref_logits[x] > ref_logits[y] ? -1 : 1;
    return x < y ? -1 : 1;
}

static int reference_chain(const float *logits, int n, const bn_sampler_params *p, int *ids,
                           double *probs) {
    for (int i = 0; i < n; i++) ids[i] = i;
    ref_logits = logits;
    qsort(ids, (size_t)n, sizeof *ids, ref_compare);
    int kept = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    double max = logits[ids[0]], sum = 0.0;
    for (int i = 0; i < kept; i++) sum += exp(logits[ids[i]] - max);
    if (p->top_p < 1.0f) {
        double mass = 0.0;
        int i = 0;
        while (i < kept && (mass < p->top_p || i < p->min_keep)) mass += exp(logits[ids[i++]] - max) / sum;
        kept = i;
    }
    if (p->min_p > 0.0f) {
        int i = 1;
        while (i < kept && (logits[ids[i]] >= max + log(p->min_p) || i < p->min_keep)) i++;
        kept = i;
    }
    sum = 0.0;
    for (int i = 0; i < kept; i++) sum += probs[i] = exp((logits[ids[i]] - max) / p->temperature);
    for (int i = 0; i < kept; i++) probs[i] /= sum;
    return kept;
}

/* The sampler's survivors equal the reference's, same order, same probabilities. */
static void check_against_reference(const float *logits, int n, const bn_sampler_params *p) {
    static bn_sampler_candidate c[140000];
    static int ids[140000];
    static double probs[140000];
    int expected = reference_chain(logits, n, p, ids, probs);
    int got = distribution(p, logits, n, c, n);
    CHECK_EQ_INT(got, expected);
    int bad = 0;
    for (int i = 0; i < got && i < expected; i++)
        bad += c[i].id != ids[i] || fabs(c[i].p - probs[i]) > 1e-5;
    CHECK_EQ_INT(bad, 0);
}

static void fill_uniform(float *logits, int n, uint32_t seed, float lo, float hi) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        logits[i] = lo + (float)(seed >> 8) / (float)(1u << 24) * (hi - lo);
    }
}

TEST(top_p_large_vocabulary_peaked_and_flat) {
    enum { N = 20000 };
    static float logits[N];
    bn_sampler_params p = plain_params();
    p.top_p = 0.9f;
    /* peaked: the pre-filter leaves a few hundred tokens */
    fill_uniform(logits, N, 777, 0.0f, 12.0f);
    check_against_reference(logits, N, &p);
    /* nearly flat: the nucleus holds thousands, the lazy sort must go beyond its 256 */
    p.top_p = 0.5f;
    fill_uniform(logits, N, 778, 0.0f, 0.01f);
    check_against_reference(logits, N, &p);
    /* the pre-filter's tight case: one token with p = 0.5 and 599 with q = 0.5/599 each,
     * top_p = 1 - 0.5/1.2, so that q is only 1.2x the cutoff (1 - top_p)/599 and the
     * nucleus needs about 100 of the small tokens: a cutoff any larger would lose them */
    enum { M = 600 };
    logits[0] = logf(0.5f);
    for (int i = 1; i < M; i++) logits[i] = logf(0.5f / (M - 1));
    p.top_p = 1.0f - 0.5f / 1.2f;
    check_against_reference(logits, M, &p);
    bn_sampler_candidate c[M];
    int n = distribution(&p, logits, M, c, M);
    CHECK(n > 90 && n < 110);
}

static const double five_probs[5] = {0.1, 0.5, 0.15, 0.2, 0.05};

TEST(min_p_threshold_is_relative_to_the_best) {
    float logits[5];
    logits_from_probs(five_probs, 5, logits);
    bn_sampler_params p = plain_params();
    bn_sampler_candidate c[5];
    p.min_p = 0.25f; /* keeps p >= 0.125: 0.5, 0.2, 0.15 */
    CHECK_EQ_INT(distribution(&p, logits, 5, c, 5), 3);
    CHECK_EQ_INT(c[0].id, 1);
    CHECK_EQ_INT(c[1].id, 3);
    CHECK_EQ_INT(c[2].id, 2);
    CHECK_NEAR(c[0].p, 0.5 / 0.85, 1e-6);
    p.min_p = 0.19f; /* 0.095: adds the 0.1 */
    CHECK_EQ_INT(distribution(&p, logits, 5, c, 5), 4);
    p.min_p = 1.0f; /* only the best */
    CHECK_EQ_INT(distribution(&p, logits, 5, c, 5), 1);
}

/* The logit a distribution reports for `id` (NAN when it did not survive). */
static float logit_of(const bn_sampler_candidate *c, int n, int id) {
    for (int i = 0; i < n; i++)
        if (c[i].id == id) return c[i].logit;
    return NAN;
}

TEST(repeat_penalty_divides_positive_and_multiplies_negative) {
    float logits[5] = {2.0f, -2.0f, 3.0f, 0.0f, 1.0f};
    bn_sampler_params p = plain_params();
    p.repeat_penalty = 2.0f;
    bn_sampler *s = bn_sampler_create(&p, 5);
    CHECK(s != NULL);
    bn_sampler_accept(s, 0);
    bn_sampler_accept(s, 1);
    bn_sampler_accept(s, 3);
    bn_sampler_accept(s, 0); /* a repeat counts once for the repeat penalty */
    bn_sampler_candidate c[5];
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 5), 5);
    CHECK_NEAR(logit_of(c, 5, 0), 1.0, 0.0);
    CHECK_NEAR(logit_of(c, 5, 1), -4.0, 0.0);
    CHECK_NEAR(logit_of(c, 5, 2), 3.0, 0.0); /* not in the history: untouched */
    CHECK_NEAR(logit_of(c, 5, 3), 0.0, 0.0);
    CHECK_NEAR(logit_of(c, 5, 4), 1.0, 0.0);
    bn_sampler_reset(s); /* history gone: nothing penalized */
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 5), 5);
    CHECK_NEAR(logit_of(c, 5, 0), 2.0, 0.0);
    bn_sampler_free(s);
}

TEST(presence_and_frequency_count_the_window_only) {
    float logits[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    bn_sampler_params p = plain_params();
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    p.penalty_last_n = 4;
    bn_sampler *s = bn_sampler_create(&p, 4);
    CHECK(s != NULL);
    const int32_t history[6] = {0, 0, 1, 2, 2, 2}; /* the window holds the last 4: 1,2,2,2 */
    for (int i = 0; i < 6; i++) bn_sampler_accept(s, history[i]);
    bn_sampler_candidate c[4];
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 4), 4);
    CHECK_NEAR(logit_of(c, 4, 0), 1.0, 0.0);                 /* left the window */
    CHECK_NEAR(logit_of(c, 4, 1), 1.0 - 0.5 - 0.25, 1e-7);   /* once */
    CHECK_NEAR(logit_of(c, 4, 2), 1.0 - 0.5 - 0.75, 1e-7);   /* three times */
    CHECK_NEAR(logit_of(c, 4, 3), 1.0, 0.0);                 /* never */
    bn_sampler_free(s);

    p.penalty_last_n = -1; /* whole history */
    s = bn_sampler_create(&p, 4);
    CHECK(s != NULL);
    for (int i = 0; i < 6; i++) bn_sampler_accept(s, history[i]);
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 4), 4);
    CHECK_NEAR(logit_of(c, 4, 0), 1.0 - 0.5 - 0.5, 1e-7);
    CHECK_NEAR(logit_of(c, 4, 2), 1.0 - 0.5 - 0.75, 1e-7);
    bn_sampler_free(s);

    p.penalty_last_n = 0; /* off */
    s = bn_sampler_create(&p, 4);
    CHECK(s != NULL);
    for (int i = 0; i < 6; i++) bn_sampler_accept(s, history[i]);
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 4), 4);
    for (int i = 0; i < 4; i++) CHECK_NEAR(c[i].logit, 1.0, 0.0);
    bn_sampler_free(s);
}

TEST(penalties_feed_greedy) {
    float logits[3] = {5.0f, 4.0f, 0.0f};
    bn_sampler_params p = bn_sampler_default_params();
    p.temperature = 0.0f;
    p.repeat_penalty = 1.5f; /* 5 / 1.5 = 3.33 < 4 */
    bn_sampler *s = bn_sampler_create(&p, 3);
    CHECK(s != NULL);
    CHECK_EQ_INT(bn_sampler_sample(s, logits), 0);
    bn_sampler_accept(s, 0);
    CHECK_EQ_INT(bn_sampler_sample(s, logits), 1);
    bn_sampler_free(s);
}

/* The logit bias: added before the penalties (llama.cpp's order), duplicates summed, -inf
 * bans; its ids are reported to the screened head; bad entries refused, the sampler kept. */
TEST(logit_bias_before_penalties) {
    float logits[4] = {1.0f, 2.0f, 3.0f, 0.0f};
    bn_sampler_params p = plain_params();
    p.repeat_penalty = 1.5f;
    p.penalty_last_n = 8;
    bn_sampler *s = bn_sampler_create(&p, 4);
    CHECK(s != NULL);
    if (!s) return;
    const bitnet_logit_bias bias[] = {{0, 3.0f}, {3, -INFINITY}, {0, 0.5f}, {1, -1.0f}};
    CHECK_EQ_INT(bn_sampler_set_logit_bias(s, bias, 4), 0);
    bn_sampler_accept(s, 0);
    bn_sampler_candidate c[4];
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 4), 3); /* token 3 banned */
    CHECK_NEAR(logit_of(c, 3, 0), (1.0 + 3.5) / 1.5, 1e-6);  /* biased, then penalized: 3, not 4.17 */
    CHECK_NEAR(logit_of(c, 3, 1), 1.0, 0.0);
    CHECK_NEAR(logit_of(c, 3, 2), 3.0, 0.0);
    for (int i = 0; i < 3; i++) CHECK(c[i].id != 3);
    int32_t forced[8];
    CHECK_EQ_INT(bn_sampler_penalized(s, forced, 8), 4); /* the distinct biased ids, then the window */
    CHECK(forced[0] == 0 && forced[1] == 3 && forced[2] == 1 && forced[3] == 0);
    CHECK_EQ_INT(bn_sampler_penalized(s, forced, 2), -1);
    /* refused: the sampler keeps its bias */
    const bitnet_logit_bias bad_id[] = {{4, 3.0f}}, nan_bias[] = {{0, NAN}}, inf_bias[] = {{0, INFINITY}};
    CHECK_EQ_INT(bn_sampler_set_logit_bias(s, bad_id, 1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bn_last_error_message(), "token 4 is not in the vocabulary") != NULL);
    CHECK_EQ_INT(bn_sampler_set_logit_bias(s, nan_bias, 1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_sampler_set_logit_bias(s, inf_bias, 1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_sampler_set_logit_bias(s, NULL, 1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 4), 3);
    /* greedy follows the bias; banning every token is an error, not a pick */
    bn_sampler_params g = bn_sampler_default_params();
    g.temperature = 0.0f;
    bn_sampler *gs = bn_sampler_create(&g, 4);
    CHECK(gs != NULL);
    if (gs) {
        CHECK_EQ_INT(bn_sampler_sample(gs, logits), 2);
        const bitnet_logit_bias plus[] = {{3, 3.5f}};
        CHECK_EQ_INT(bn_sampler_set_logit_bias(gs, plus, 1), 0);
        CHECK_EQ_INT(bn_sampler_sample(gs, logits), 3);
        const bitnet_logit_bias ban[] = {{0, -INFINITY}, {1, -INFINITY}, {2, -INFINITY}, {3, -INFINITY}};
        CHECK_EQ_INT(bn_sampler_set_logit_bias(gs, ban, 4), 0);
        CHECK(bn_sampler_sample(gs, logits) < 0);
        CHECK_EQ_INT(bn_sampler_set_logit_bias(gs, NULL, 0), 0); /* cleared */
        CHECK_EQ_INT(bn_sampler_sample(gs, logits), 2);
        CHECK_EQ_INT(bn_sampler_penalized(gs, forced, 8), 0);
        bn_sampler_free(gs);
    }
    bn_sampler_free(s);
}

/* With temperature 1 and no filters, 200,000 draws over 8 tokens follow the softmax. The
 * Pearson statistic sum (O-E)^2/E has 7 degrees of freedom; 24.32 is its 99.9% quantile. The
 * seed is fixed, so the test is deterministic; a wrong sampler (off-by-one in the cumulative
 * walk, a temperature applied twice, a biased generator) gives values in the hundreds or more.
 * Each count is also within 5 standard deviations of n*p. */
TEST(frequencies_match_softmax_chi_square) {
    enum { V = 8, DRAWS = 200000 };
    const float logits[V] = {0.0f, 1.0f, -1.0f, 2.0f, 0.5f, -3.0f, 1.5f, -0.5f};
    bn_sampler_params p = plain_params();
    p.seed = 2024;
    bn_sampler *s = bn_sampler_create(&p, V);
    CHECK(s != NULL);
    long counts[V] = {0};
    for (int i = 0; i < DRAWS; i++) {
        int32_t t = bn_sampler_sample(s, logits);
        CHECK(t >= 0 && t < V);
        if (t >= 0 && t < V) counts[t]++;
    }
    double chi2 = 0.0;
    for (int i = 0; i < V; i++) {
        double pi = softmax_of(logits, V, i, 1.0), expected = DRAWS * pi;
        double sd = sqrt(DRAWS * pi * (1.0 - pi));
        CHECK_MSG(fabs(counts[i] - expected) <= 5.0 * sd, "token %d: %ld vs %.1f", i, counts[i], expected);
        chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
    }
    CHECK_MSG(chi2 < 24.32, "chi-square %.2f with 7 degrees of freedom", chi2);
    bn_sampler_free(s);
}

static void draw_sequence(uint64_t seed, int32_t *out, int n) {
    enum { V = 100 };
    float logits[V] = {0}; /* uniform: every draw carries ~6.6 bits */
    bn_sampler_params p = plain_params();
    p.seed = seed;
    bn_sampler *s = bn_sampler_create(&p, V);
    for (int i = 0; i < n; i++) out[i] = s ? bn_sampler_sample(s, logits) : -1;
    bn_sampler_free(s);
}

TEST(same_seed_same_sequence_different_seeds_differ) {
    int32_t a[64], b[64], c[64], d[64];
    draw_sequence(7, a, 64);
    draw_sequence(7, b, 64);
    draw_sequence(8, c, 64);
    draw_sequence(0, d, 64); /* seed 0 is a valid seed */
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    CHECK(memcmp(a, d, sizeof a) != 0);
    int distinct = 0, seen[100] = {0};
    for (int i = 0; i < 64; i++) distinct += !seen[a[i]]++;
    CHECK(distinct > 30); /* 64 uniform draws over 100 hit ~47 distinct ids */
}

TEST(reset_reseeds) {
    float logits[10] = {0};
    bn_sampler_params p = plain_params();
    bn_sampler *s = bn_sampler_create(&p, 10);
    CHECK(s != NULL);
    int32_t first[20], again[20];
    for (int i = 0; i < 20; i++) first[i] = bn_sampler_sample(s, logits);
    bn_sampler_reset(s);
    for (int i = 0; i < 20; i++) again[i] = bn_sampler_sample(s, logits);
    CHECK(memcmp(first, again, sizeof first) == 0);
    bn_sampler_free(s);
}

/* Two tokens with logits 0 and 1: P(token 1) = 1 / (1 + e^(-1/T)). */
TEST(temperature_reshapes_the_distribution) {
    const float logits[2] = {0.0f, 1.0f};
    const float temps[3] = {0.5f, 1.0f, 2.0f};
    double previous = 1.0;
    for (int t = 0; t < 3; t++) {
        bn_sampler_params p = plain_params();
        p.temperature = temps[t];
        bn_sampler_candidate c[2];
        CHECK_EQ_INT(distribution(&p, logits, 2, c, 2), 2);
        double expected = 1.0 / (1.0 + exp(-1.0 / temps[t]));
        CHECK_EQ_INT(c[0].id, 1);
        CHECK_NEAR(c[0].p, expected, 1e-6);
        CHECK(expected < previous); /* hotter = flatter */
        previous = expected;
        bn_sampler *s = bn_sampler_create(&p, 2);
        CHECK(s != NULL);
        int ones = 0;
        for (int i = 0; i < 20000; i++) ones += bn_sampler_sample(s, logits) == 1;
        double sd = sqrt(20000 * expected * (1 - expected));
        CHECK_MSG(fabs(ones - 20000 * expected) < 5 * sd, "T=%g: %d of 20000", temps[t], ones);
        bn_sampler_free(s);
    }
    /* temperature does not change what top-p / min-p keep (they see temperature 1) */
    const double probs[4] = {0.6, 0.25, 0.1, 0.05};
    float l4[4];
    logits_from_probs(probs, 4, l4);
    bn_sampler_params p = plain_params();
    p.top_p = 0.8f;
    bn_sampler_candidate c[4];
    p.temperature = 5.0f;
    CHECK_EQ_INT(distribution(&p, l4, 4, c, 4), 2);
    p.temperature = 0.2f;
    CHECK_EQ_INT(distribution(&p, l4, 4, c, 4), 2);
}

TEST(masked_tokens_are_never_drawn) {
    float logits[4] = {-INFINITY, 0.0f, -INFINITY, 0.0f};
    bn_sampler_params p = plain_params();
    bn_sampler *s = bn_sampler_create(&p, 4);
    CHECK(s != NULL);
    for (int i = 0; i < 1000; i++) {
        int32_t t = bn_sampler_sample(s, logits);
        CHECK(t == 1 || t == 3);
    }
    bn_sampler_free(s);
}

TEST(bad_logits_are_errors) {
    float logits[3] = {0.0f, NAN, 1.0f};
    bn_sampler_params p = bn_sampler_default_params();
    bn_sampler *s = bn_sampler_create(&p, 3);
    CHECK(s != NULL);
    CHECK_EQ_INT(bn_sampler_sample(s, logits), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bn_last_error_message(), "token 1") != NULL);
    logits[1] = INFINITY;
    CHECK_EQ_INT(bn_sampler_sample(s, logits), BITNET_ERR_INVALID_ARGUMENT);
    float masked[3] = {-INFINITY, -INFINITY, -INFINITY};
    CHECK_EQ_INT(bn_sampler_sample(s, masked), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bn_last_error_message(), "-inf") != NULL);
    bn_sampler_accept(s, -5); /* out-of-range history is ignored, not a crash */
    bn_sampler_accept(s, 3);
    bn_sampler_free(s);
    bn_sampler_free(NULL);
}

TEST(bad_parameters_are_refused) {
    struct { const char *what; bn_sampler_params p; } cases[8];
    for (int i = 0; i < 8; i++) cases[i].p = bn_sampler_default_params();
    cases[0].what = "temperature"; cases[0].p.temperature = NAN;
    cases[1].what = "top_p";       cases[1].p.top_p = 0.0f;
    cases[2].what = "top_p";       cases[2].p.top_p = NAN;
    cases[3].what = "min_p";       cases[3].p.min_p = 1.5f;
    cases[4].what = "repeat_penalty"; cases[4].p.repeat_penalty = 0.0f;
    cases[5].what = "penalty_last_n"; cases[5].p.penalty_last_n = -2;
    cases[6].what = "presence_penalty"; cases[6].p.presence_penalty = INFINITY;
    cases[7].what = "temperature"; cases[7].p.temperature = INFINITY;
    for (int i = 0; i < 8; i++) {
        bn_clear_error();
        bn_sampler *s = bn_sampler_create(&cases[i].p, 10);
        CHECK_MSG(s == NULL, "case %d", i);
        bn_sampler_free(s);
        CHECK_EQ_INT(bn_last_error_status(), BITNET_ERR_INVALID_ARGUMENT);
        CHECK_MSG(strstr(bn_last_error_message(), cases[i].what) != NULL, "case %d: %s", i,
                  bn_last_error_message());
    }
    bn_sampler_params p = bn_sampler_default_params();
    CHECK(bn_sampler_create(&p, 0) == NULL);
    CHECK(bn_sampler_create(NULL, 10) == NULL);
    p.top_p = 1.5f; /* above 1 is "off", accepted */
    p.top_k = -3;   /* negative is "off" */
    bn_sampler *s = bn_sampler_create(&p, 10);
    CHECK(s != NULL);
    bn_sampler_free(s);
}

/* The defaults on a LLaMA-3-sized vocabulary (the path the CLI takes on every token): the
 * survivors match the reference chain, and draws pick the favourite as often as it says.
 * Logits uniform in [-10, 10] with one token at 12.5: top-k keeps 40, top-p trims a few,
 * min-p keeps the rest, and the favourite ends near p = 0.35 after temperature 0.8. */
TEST(default_chain_on_128k_vocabulary) {
    enum { N = 128256, FAV = 4242, DRAWS = 500 };
    static float logits[N];
    fill_uniform(logits, N, 99, -10.0f, 10.0f);
    logits[FAV] = 12.5f;
    bn_sampler_params p = bn_sampler_default_params();
    check_against_reference(logits, N, &p);
    bn_sampler_candidate c[64];
    int n = distribution(&p, logits, N, c, 64);
    CHECK(n > 10 && n <= 40);
    CHECK_EQ_INT(c[0].id, FAV);
    bn_sampler *s = bn_sampler_create(&p, N);
    CHECK(s != NULL);
    int favourite = 0;
    for (int i = 0; i < DRAWS; i++) favourite += bn_sampler_sample(s, logits) == FAV;
    double expected = DRAWS * c[0].p, sd = sqrt(DRAWS * c[0].p * (1.0 - c[0].p));
    CHECK_MSG(fabs(favourite - expected) < 5 * sd, "%d vs %.1f", favourite, expected);
    bn_sampler_free(s);
}

/* The draw is argmax_i L_i / T + G(key, i) over the survivors, ties to the lower id: the
 * sampler (which computes G for few rows) against every row's value, 5000 tokens, near-greedy
 * to flat temperatures, many keys; ties planted among the top logits. */
TEST(gumbel_draw_is_the_argmax_over_every_row) {
    enum { V = 5000 };
    static float logits[V];
    fill_uniform(logits, V, 77, -8.0f, 8.0f);
    for (int i = 0; i < 40; i++) logits[i * 97] = 8.0f; /* ties at the top */
    logits[11] = -INFINITY;
    const float temps[] = {0.01f, 0.3f, 1.0f, 2.5f, 40.0f};
    int mismatches = 0;
    for (int ti = 0; ti < 5; ti++) {
        bn_sampler_params p = plain_params();
        p.temperature = temps[ti];
        p.seed = 1000 + (uint64_t)ti;
        bn_sampler *s = bn_sampler_create(&p, V);
        CHECK(s != NULL);
        for (int draw = 0; s && draw < 60; draw++) {
            uint64_t key = bn_sampler_next_key(s);
            int32_t want = -1;
            double best = -INFINITY;
            for (int32_t i = 0; i < V; i++) {
                if (logits[i] == -INFINITY) continue;
                double v = (double)logits[i] / (double)temps[ti] + bn_gumbel(key, i);
                if (v > best) best = v, want = i; /* strict: the lower id keeps a tie */
            }
            mismatches += bn_sampler_sample(s, logits) != want;
        }
        bn_sampler_free(s);
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* bn_gumbel_may_reach says false only when G < gap: random keys and ids at gaps spread over
 * the range and at G itself give no wrong "false"; and at a gap of 8 it rules out all but a
 * small share of rows (2^-11: 2^-floor(8 / ln 2)), so that a draw over 128k rows computes few
 * logarithms. */
TEST(gumbel_filter_is_never_wrong_and_selective) {
    uint64_t state = 99;
    int wrong = 0, passed = 0;
    for (int i = 0; i < 400000; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t key = state;
        int32_t id = (int32_t)(state >> 45);
        double g = bn_gumbel(key, id), gap;
        switch (i % 4) {
        case 0: gap = g; break;                       /* at the boundary */
        case 1: gap = g + 1e-12; break;
        case 2: gap = (double)(state >> 58) - 2.0; break; /* -2 .. 61 */
        default: gap = 8.0; break;
        }
        bool may = bn_gumbel_may_reach(key, id, gap);
        if (!may && !(g < gap)) wrong++;
        if (i % 4 == 3) passed += may;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_MSG(passed > 0 && passed < 100, "%d of 100000 rows pass at a gap of 8 (expected ~49: 2^-11)", passed);
    for (int32_t id = 0; id < 1000; id++) CHECK(bn_gumbel(12345, id) > -3.7 && bn_gumbel(12345, id) < 36.8);
}

/* Prompt-lookup drafts (text/lookup.h): the longest repeated n-gram's continuation, the
 * latest occurrence, continued with the repeat's period; none without a repeat. */
TEST(lookup_draft) {
    int32_t d[BN_LOOKUP_DRAFT_MAX];
    const int32_t text[] = {5, 6, 7, 8, 9, 1, 5, 6, 7, 2, 3, 5, 6, 7};
    CHECK_EQ_INT(bn_lookup_draft(text, 14, d, 3), 3); /* 5 6 7 last seen at 6, followed by 2 3 5 */
    CHECK(d[0] == 2 && d[1] == 3 && d[2] == 5);
    const int32_t loop[] = {4, 9, 9, 9};
    CHECK_EQ_INT(bn_lookup_draft(loop, 4, d, 5), 5); /* 9 9 repeats with period 1 */
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(d[i], 9);
    const int32_t two[] = {1, 2, 3, 1, 2};
    CHECK_EQ_INT(bn_lookup_draft(two, 5, d, 4), 4); /* 1 2 at 0, period 3: 3 1 2 3 */
    CHECK(d[0] == 3 && d[1] == 1 && d[2] == 2 && d[3] == 3);
    const int32_t none[] = {1, 2, 3, 4, 5, 1};
    CHECK_EQ_INT(bn_lookup_draft(none, 6, d, 4), 0);
    CHECK_EQ_INT(bn_lookup_draft(text, 14, d, 0), 0);
    CHECK_EQ_INT(bn_lookup_draft(text, 1, d, 4), 0);
    CHECK_EQ_INT(bn_lookup_draft(text, 14, d, 99), BN_LOOKUP_DRAFT_MAX); /* capped */
}

/* Prediction drafts (text/lookup.h): the prediction's next tokens while the reply follows it;
 * after the reply leaves it, nothing until its last 2-4 tokens occur in it again (the first
 * occurrence from where it left, else from the start); nothing at its end. */
TEST(prediction_draft) {
    int32_t d[BN_LOOKUP_DRAFT_MAX];
    const int32_t pred[] = {10, 11, 12, 13, 14, 15, 16, 17, 18, 11, 12, 19};
    bn_prediction c = bn_prediction_start(pred, 12);
    int32_t text[32] = {1, 2, 3, 10}; /* a prompt of 3, then the reply's first token */
    CHECK_EQ_INT(bn_prediction_draft(&c, text, 4, 1, d, 4), 4);
    CHECK(d[0] == 11 && d[1] == 12 && d[2] == 13 && d[3] == 14);
    text[4] = 11, text[5] = 12; /* two drafted tokens taken, then a third sampled as drafted */
    text[6] = 13;
    CHECK_EQ_INT(bn_prediction_draft(&c, text, 7, 3, d, 16), 8); /* up to the end: 14 .. 19 */
    CHECK(d[0] == 14 && d[7] == 19);
    text[7] = 99; /* the reply leaves it: no draft until it comes back */
    CHECK_EQ_INT(bn_prediction_draft(&c, text, 8, 1, d, 4), 0);
    CHECK_EQ_INT(c.next, -1);
    text[8] = 15; /* one token alone is not enough to come back */
    CHECK_EQ_INT(bn_prediction_draft(&c, text, 9, 1, d, 4), 0);
    text[9] = 16; /* "15 16": back after a replaced token */
    CHECK_EQ_INT(bn_prediction_draft(&c, text, 10, 1, d, 2), 2);
    CHECK(d[0] == 17 && d[1] == 18);
    text[10] = 11, text[11] = 12; /* the reply skipped 17 18: "11 12" from where it left (9), not at 1 */
    CHECK_EQ_INT(bn_prediction_draft(&c, text, 12, 2, d, 4), 1);
    CHECK_EQ_INT(d[0], 19);
    text[12] = 19; /* at the end: nothing left */
    CHECK_EQ_INT(bn_prediction_draft(&c, text, 13, 1, d, 4), 0);
    text[13] = 10, text[14] = 11; /* the reply starts over: found before where it left */
    CHECK_EQ_INT(bn_prediction_draft(&c, text, 15, 2, d, 3), 3);
    CHECK(d[0] == 12 && d[1] == 13 && d[2] == 14);
    /* a reply that does not start with the prediction: drafts once it meets it */
    c = bn_prediction_start(pred, 12);
    const int32_t late[] = {1, 2, 7, 8, 13, 14};
    CHECK_EQ_INT(bn_prediction_draft(&c, late, 3, 1, d, 4), 0);
    CHECK_EQ_INT(bn_prediction_draft(&c, late, 6, 3, d, 99), 7); /* "13 14" at 3: 15 16 17 18 11 12 19 */
    CHECK(d[0] == 15 && d[3] == 18);
    c = bn_prediction_start(pred, 12);
    CHECK_EQ_INT(bn_prediction_draft(&c, text, 4, 1, d, 99), 11); /* capped by the prediction */
    c = bn_prediction_start(NULL, 0);
    CHECK_EQ_INT(bn_prediction_draft(&c, text, 4, 1, d, 4), 0);
    const int32_t long_pred[40] = {10};
    c = bn_prediction_start(long_pred, 40);
    CHECK_EQ_INT(bn_prediction_draft(&c, text, 4, 1, d, 99), BN_LOOKUP_DRAFT_MAX); /* capped */
}

/* ---- llama.cpp's other samplers: each against a plain double-precision reference ---------- */

/* Whether the chain's survivors are exactly the ids with keep[id] set. */
static bool survivors_are(const bn_sampler_params *p, const float *logits, int n, const bool *keep) {
    bn_sampler_candidate c[64];
    int m = distribution(p, logits, n, c, 64);
    int want = 0;
    for (int i = 0; i < n; i++) want += keep[i];
    if (m != want) return false;
    for (int i = 0; i < m; i++)
        if (!keep[c[i].id]) return false;
    return true;
}

static const float other_logits[12] = {2.0f, 1.7f, 1.5f, 0.3f, -0.2f, 1.1f, -2.0f, 0.9f, 0.0f, -1.0f, 2.4f, 0.6f};

TEST(top_n_sigma_keeps_within_n_deviations) {
    const int V = 12;
    double mean = 0, acc = 0, max = -1e9;
    for (int i = 0; i < V; i++) mean += other_logits[i] / (double)V, max = fmax(max, other_logits[i]);
    for (int i = 0; i < V; i++) acc += (other_logits[i] - mean) * (other_logits[i] - mean);
    double sd = sqrt(acc / V);
    const float ns[] = {0.3f, 1.0f, 2.0f};
    for (int k = 0; k < 3; k++) {
        bn_sampler_params p = plain_params();
        p.top_n_sigma = ns[k];
        bool keep[12];
        for (int i = 0; i < V; i++) keep[i] = other_logits[i] >= max - ns[k] * sd;
        CHECK_MSG(survivors_are(&p, other_logits, V, keep), "n = %g", (double)ns[k]);
    }
}

/* typical-p's reference: sorted by |-log p - H|, the shortest prefix with mass > tp. */
static void typical_reference_keep(const float *logits, int n, double tp, int min_keep, bool *keep);
static void typical_reference(const float *logits, int n, double tp, bool *keep) { typical_reference_keep(logits, n, tp, 0, keep); }
static void typical_reference_keep(const float *logits, int n, double tp, int min_keep, bool *keep) {
    double p[64], score[64], h = 0;
    int order[64];
    for (int i = 0; i < n; i++) p[i] = softmax_of(logits, n, i, 1.0), h -= p[i] * log(p[i]), order[i] = i;
    for (int i = 0; i < n; i++) score[i] = fabs(-log(p[i]) - h);
    for (int i = 1; i < n; i++) /* insertion sort by score, then larger logit, then lower id */
        for (int j = i; j > 0; j--) {
            int a = order[j - 1], b = order[j];
            bool swap = score[b] < score[a] || (score[b] == score[a] && (logits[b] > logits[a] || (logits[b] == logits[a] && b < a)));
            if (!swap) break;
            order[j - 1] = b, order[j] = a;
        }
    double mass = 0;
    for (int i = 0; i < n; i++) keep[i] = false;
    for (int i = 0; i < n; i++) {
        keep[order[i]] = true;
        mass += p[order[i]];
        if (mass > tp && i + 1 >= min_keep) break;
    }
}

TEST(typical_p_keeps_the_most_typical_mass) {
    const int V = 12;
    const float tps[] = {0.05f, 0.3f, 0.6f, 0.95f};
    for (int k = 0; k < 4; k++) {
        bn_sampler_params p = plain_params();
        p.typical_p = tps[k];
        bool keep[12];
        typical_reference(other_logits, V, tps[k], keep);
        CHECK_MSG(survivors_are(&p, other_logits, V, keep), "typical_p %g", (double)tps[k]);
    }
    /* after top-k, on its k best only (llama.cpp's order), then min_p relative to what is left */
    bn_sampler_params p = plain_params();
    p.top_k = 5, p.typical_p = 0.4f;
    float top5[5];
    int ids[5] = {10, 0, 1, 2, 5}; /* the five largest logits */
    for (int i = 0; i < 5; i++) top5[i] = other_logits[ids[i]];
    bool keep5[5], keep[12] = {false};
    typical_reference(top5, 5, 0.4, keep5);
    for (int i = 0; i < 5; i++) keep[ids[i]] = keep5[i];
    CHECK(survivors_are(&p, other_logits, V, keep));
}

TEST(xtc_drops_all_likely_tokens_but_the_least) {
    const int V = 12;
    bn_sampler_params p = plain_params();
    p.xtc_probability = 1.0f;
    const float thresholds[] = {0.05f, 0.1f, 0.2f, 0.3f};
    for (int k = 0; k < 4; k++) {
        p.xtc_threshold = thresholds[k];
        bool keep[12];
        int above = 0, last = -1;
        for (int i = 0; i < V; i++)
            if (softmax_of(other_logits, V, i, 1.0) >= thresholds[k] && (above++ == 0 || other_logits[i] < other_logits[last])) last = i;
        for (int i = 0; i < V; i++) keep[i] = above < 2 || i == last || softmax_of(other_logits, V, i, 1.0) < thresholds[k];
        CHECK_MSG(survivors_are(&p, other_logits, V, keep), "threshold %g (%d above)", (double)thresholds[k], above);
    }
    /* its coin: probability 0.5 applies it to about half of the draws, and a draw is always
     * one of the survivors distribution() showed before it (the same key) */
    p.xtc_probability = 0.5f, p.xtc_threshold = 0.1f, p.seed = 99;
    bn_sampler *s = bn_sampler_create(&p, V);
    CHECK(s != NULL);
    int applied = 0, outside = 0;
    for (int d = 0; s && d < 2000; d++) {
        bn_sampler_candidate c[12];
        int m = bn_sampler_distribution(s, other_logits, c, 12);
        applied += m < V;
        int32_t t = bn_sampler_sample(s, other_logits);
        bool in = false;
        for (int i = 0; i < m; i++) in |= c[i].id == t;
        outside += !in;
    }
    CHECK_MSG(applied > 880 && applied < 1120, "applied to %d of 2000 draws", applied);
    CHECK_EQ_INT(outside, 0);
    bn_sampler_free(s);
}

/* min_keep (llama.cpp's): top-p, min-p and typical-p keep at least that many, XTC leaves at
 * least that many; the reference chain with it on large vocabularies (top-p's pre-filter and
 * lazy sort must not lose the best few; more than the lazy sort's 256). */
TEST(min_keep_keeps_at_least_that_many) {
    float logits[5];
    logits_from_probs(five_probs, 5, logits); /* p: 0.1, 0.5, 0.15, 0.2, 0.05 */
    bn_sampler_params p = plain_params();
    bn_sampler_candidate c[5];
    p.top_p = 0.4f, p.min_keep = 3; /* 0.5 alone reaches it; 0.2 and 0.15 join */
    CHECK_EQ_INT(distribution(&p, logits, 5, c, 5), 3);
    CHECK(c[0].id == 1 && c[1].id == 3 && c[2].id == 2);
    p.min_keep = 9; /* more than there are */
    CHECK_EQ_INT(distribution(&p, logits, 5, c, 5), 5);
    p = plain_params();
    p.min_p = 0.5f, p.min_keep = 2; /* p >= 0.25 is 0.5 alone; min_keep adds 0.2 */
    CHECK_EQ_INT(distribution(&p, logits, 5, c, 5), 2);
    CHECK(c[0].id == 1 && c[1].id == 3);
    p.min_keep = 1;
    CHECK_EQ_INT(distribution(&p, logits, 5, c, 5), 1);
    enum { N = 20000 };
    static float big[N];
    const struct { float top_p, min_p; int min_keep; float lo, hi; } cases[] = {
        {0.5f, 0.0f, 300, 0.0f, 2000.0f}, {0.9f, 0.0f, 40, 0.0f, 3000.0f}, {1.0f, 0.5f, 700, 0.0f, 2000.0f}, {0.9f, 0.3f, 64, 0.0f, 2000.0f}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        p = plain_params();
        p.top_p = cases[k].top_p, p.min_p = cases[k].min_p, p.min_keep = cases[k].min_keep;
        fill_uniform(big, N, 900 + (uint32_t)k, cases[k].lo, cases[k].hi);
        check_against_reference(big, N, &p);
        p.min_keep = 0;
        bn_sampler_candidate one[8];
        CHECK_MSG(distribution(&p, big, N, one, 8) < cases[k].min_keep, "case %zu: min_keep is not what keeps them", k);
    }
    /* typical-p: the most typical min_keep at least */
    const int V = 12;
    for (int keep_n = 1; keep_n <= 12; keep_n += 3) {
        p = plain_params();
        p.typical_p = 0.2f, p.min_keep = keep_n;
        bool keep[12];
        typical_reference_keep(other_logits, V, 0.2, keep_n, keep);
        CHECK_MSG(survivors_are(&p, other_logits, V, keep), "typical_p min_keep %d", keep_n);
    }
    /* XTC: with threshold 0.05, 9 of the 12 are above it: 8 go when at least min_keep stay */
    p = plain_params();
    p.xtc_probability = 1.0f, p.xtc_threshold = 0.05f;
    bn_sampler_candidate d[12];
    int dropped = V - distribution(&p, other_logits, V, d, V);
    p.min_keep = V - dropped;
    CHECK_EQ_INT(distribution(&p, other_logits, V, d, V), V - dropped);
    p.min_keep = V - dropped + 1;
    CHECK_EQ_INT(distribution(&p, other_logits, V, d, V), V);
    CHECK(dropped >= 2);
    p.min_keep = -1;
    CHECK(bn_sampler_create(&p, V) == NULL && strstr(bn_last_error_message(), "min_keep") != NULL);
}

TEST(dynamic_temperature_follows_the_entropy) {
    const int V = 12;
    const float exps[] = {1.0f, 0.5f, 2.0f};
    for (int k = 0; k < 3; k++) {
        bn_sampler_params p = plain_params();
        p.temperature = 0.8f, p.dynatemp_range = 0.5f, p.dynatemp_exponent = exps[k];
        double h = 0;
        for (int i = 0; i < V; i++) {
            double q = softmax_of(other_logits, V, i, 1.0);
            h -= q * log(q);
        }
        double t = 0.3 + 1.0 * pow(h / log((double)V), exps[k]);
        bn_sampler_candidate c[12];
        CHECK_EQ_INT(distribution(&p, other_logits, V, c, 12), V);
        for (int i = 0; i < V; i++) CHECK_NEAR(c[i].p, softmax_of(other_logits, V, c[i].id, t), 1e-5);
    }
    /* a near-certain distribution with the range reaching 0: the best token alone */
    float peaked[3] = {0.0f, 200.0f, 0.0f};
    bn_sampler_params p = plain_params();
    p.temperature = 0.5f, p.dynatemp_range = 1.0f;
    bn_sampler_candidate c[3];
    CHECK_EQ_INT(distribution(&p, peaked, 3, c, 3), 1);
    CHECK_EQ_INT(c[0].id, 1);
}

/* Mirostat 2: the tokens with p >= 2^-mu (mu = 2 tau at first), then mu moves by eta * (tau -
 * the surprise of the draw under the truncated distribution). No penalties, no top-k. */
TEST(mirostat_2_truncates_by_surprise_and_learns) {
    const int V = 12;
    bn_sampler_params p = plain_params();
    p.mirostat = 2, p.mirostat_tau = 1.5f, p.mirostat_eta = 0.3f, p.top_k = 1, p.repeat_penalty = 3.0f, p.temperature = 0.7f;
    bn_sampler *s = bn_sampler_create(&p, V);
    CHECK(s != NULL);
    if (!s) return;
    for (int i = 0; i < 5; i++) bn_sampler_accept(s, 10); /* penalties would matter without mirostat */
    double mu = 3.0;
    for (int step = 0; step < 6; step++) {
        bool keep[12];
        double mass = 0;
        for (int i = 0; i < V; i++) keep[i] = softmax_of(other_logits, V, i, 0.7) >= exp2(-mu) || i == 10;
        for (int i = 0; i < V; i++) mass += keep[i] ? softmax_of(other_logits, V, i, 0.7) : 0;
        bn_sampler_candidate c[12];
        int m = bn_sampler_distribution(s, other_logits, c, 12);
        int match = 0;
        for (int i = 0; i < m; i++) match += keep[c[i].id];
        int want = 0;
        for (int i = 0; i < V; i++) want += keep[i];
        CHECK_MSG(m == want && match == want, "step %d: %d survivors, %d expected", step, m, want);
        int32_t t = bn_sampler_sample(s, other_logits);
        CHECK(t >= 0 && keep[t]);
        if (t < 0 || !keep[t]) break;
        mu -= 0.3 * (-log2(softmax_of(other_logits, V, t, 0.7) / mass) - 1.5);
    }
    bn_sampler_free(s);
}

/* Mirostat 1: k = (e 2^mu / (1 - V^-e))^(1/s) best tokens, s fitted on the best 100. */
TEST(mirostat_1_keeps_the_estimated_k) {
    enum { V = 300 };
    float logits[V];
    for (int i = 0; i < V; i++) logits[(i * 7) % V] = -1.1f * logf((float)i + 1.0f); /* Zipf-like, shuffled */
    const float taus[] = {2.0f, 3.0f, 5.0f};
    for (int k = 0; k < 3; k++) {
        bn_sampler_params p = plain_params();
        p.mirostat = 1, p.mirostat_tau = taus[k];
        double tb = 0, tt = 0;
        for (int i = 0; i < 99; i++) {
            double t = log((i + 2.0) / (i + 1.0));
            tb += t * (-1.1 * log(i + 1.0) + 1.1 * log(i + 2.0));
            tt += t * t;
        }
        double sh = tb / tt, e = sh - 1, kk = pow(e * exp2(2.0 * taus[k]) / (1 - pow(V, -e)), 1 / sh);
        int want = kk < 1 ? 1 : kk >= V ? V : (int)kk;
        bn_sampler_candidate c[V];
        int m = distribution(&p, logits, V, c, V);
        CHECK_MSG(m == want, "tau %g: %d kept, %d expected (k = %g)", (double)taus[k], m, want, kk);
        for (int i = 0; i < m && i < V; i++) CHECK(c[i].id == ((i * 7) % V)); /* the best, in order */
    }
}

/* Greedy is greedy whatever else is on; the bad values of the new parameters are refused. */
TEST(other_samplers_greedy_and_bad_parameters) {
    bn_sampler_params p = bn_sampler_default_params();
    p.temperature = 0.0f, p.typical_p = 0.2f, p.xtc_probability = 1.0f, p.top_n_sigma = 0.1f, p.dynatemp_range = 2.0f;
    bn_sampler *s = bn_sampler_create(&p, 12);
    CHECK(s && bn_sampler_sample(s, other_logits) == 10);
    bn_sampler_free(s);
    p.mirostat = 2;
    s = bn_sampler_create(&p, 12);
    CHECK(s && bn_sampler_sample(s, other_logits) == 10);
    bn_sampler_free(s);
    const char *bad[] = {"typical_p", "top_n_sigma", "xtc_probability", "xtc_threshold", "dynatemp_range",
                         "dynatemp_exponent", "mirostat", "mirostat_tau", "mirostat_eta", "dry_multiplier", "dry_base",
                         "dry_allowed_length", "dry_penalty_last_n"}; /* the message names it */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bn_sampler_params q = bn_sampler_default_params();
        switch (i) {
        case 0: q.typical_p = 0.0f; break;
        case 1: q.top_n_sigma = INFINITY; break;
        case 2: q.xtc_probability = 1.5f; break;
        case 3: q.xtc_threshold = NAN; break;
        case 4: q.dynatemp_range = INFINITY; break;
        case 5: q.dynatemp_exponent = -1.0f; break;
        case 6: q.mirostat = 3; break;
        case 7: q.mirostat_tau = -1.0f; break;
        case 8: q.mirostat_eta = NAN; break;
        case 9: q.dry_multiplier = -1.0f; break;
        case 10: q.dry_base = NAN; break;
        case 11: q.dry_allowed_length = -1; break;
        default: q.dry_penalty_last_n = -1; break;
        }
        bn_sampler *b = bn_sampler_create(&q, 12);
        CHECK_MSG(b == NULL && strstr(bitnet_get_last_error(), bad[i]), "%s: %s", bad[i], bitnet_get_last_error());
        bn_sampler_free(b);
    }
}

/* DRY's reference, straight from its definition: for every shift k of the last n tokens h
 * (h[0] the most recent), the common suffix m (capped by the breaker limit) makes the token
 * after the earlier copy, h[k - 1], extend a repeat of m; with m >= allowed its penalty is
 * mult * base^(longest m - allowed), unless it is a one-token breaker. */
static void dry_reference(const int32_t *h, int n, const int32_t *brk, const int *blen, int nb, const bn_sampler_params *p,
                          float *pen, int V) {
    for (int t = 0; t < V; t++) pen[t] = 0.0f;
    if (n <= p->dry_allowed_length) return;
    int limit = n;
    for (int i = 0; i < n && limit == n; i++) {
        int longest = -1;
        for (int e = 0, o = 0; e < nb; o += blen[e], e++) {
            int tail = blen[e] - 1;
            bool match = brk[o] == h[i] && tail > longest && tail <= i;
            for (int q = 0; match && q < tail; q++) match = brk[o + 1 + q] == h[i - q - 1];
            if (match) longest = tail;
        }
        if (longest >= 0) limit = i - longest;
    }
    if (limit < p->dry_allowed_length) return;
    int best[16];
    for (int t = 0; t < V; t++) best[t] = -1;
    for (int k = 1; k < n; k++) {
        int m = 0;
        while (m + k < n && h[m] == h[m + k]) m++;
        if (m > limit) m = limit;
        if (m >= p->dry_allowed_length && m > best[h[k - 1]]) best[h[k - 1]] = m;
    }
    for (int t = 0; t < V; t++) {
        bool single = false;
        for (int e = 0, o = 0; e < nb; o += blen[e], e++) single |= blen[e] == 1 && brk[o] == t;
        if (best[t] >= 0 && !single) pen[t] = p->dry_multiplier * powf(p->dry_base, (float)(best[t] - p->dry_allowed_length));
    }
}

TEST(dry_penalties_match_the_definition) {
    enum { V = 6 };
    uint64_t r = 12345;
    int bad = 0, penalized = 0;
    for (int trial = 0; trial < 300; trial++) {
        bn_sampler_params p = plain_params();
        p.dry_multiplier = 0.5f, p.dry_base = 1.5f, p.dry_allowed_length = trial % 3, p.dry_penalty_last_n = 8 + trial % 25;
        int32_t brk[9];
        int blen[3], nb = (int)(trial % 4 == 0 ? 0 : 1 + trial % 3), nt = 0;
        for (int e = 0; e < nb; e++) {
            blen[e] = 1 + (int)((r = r * 6364136223846793005ULL + 1442695040888963407ULL) >> 62) % 3;
            for (int q = 0; q < blen[e]; q++) brk[nt++] = (int32_t)(((r = r * 6364136223846793005ULL + 1) >> 33) % V);
        }
        bn_sampler *s = bn_sampler_create(&p, V);
        if (!s || bn_sampler_set_dry_breakers(s, brk, blen, nb)) {
            bad++;
            bn_sampler_free(s);
            continue;
        }
        int total = 10 + trial % 40; /* more than the window often: the ring wraps */
        int32_t hist[64];
        for (int i = 0; i < total; i++) {
            /* repetitive text: copy an earlier stretch most of the time */
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            hist[i] = i > 3 && (r >> 60) < 12 ? hist[i - 1 - (int)((r >> 40) % 3)] : (int32_t)((r >> 33) % V);
            bn_sampler_accept(s, hist[i]);
        }
        int n = total < p.dry_penalty_last_n ? total : p.dry_penalty_last_n;
        int32_t recent[64];
        for (int i = 0; i < n; i++) recent[i] = hist[total - 1 - i];
        float pen[V], zeros[V] = {0};
        dry_reference(recent, n, brk, blen, nb, &p, pen, V);
        bn_sampler_candidate c[V];
        int m = bn_sampler_distribution(s, zeros, c, V);
        if (m != V) bad++;
        for (int i = 0; i < m && i < V; i++) {
            penalized += pen[c[i].id] > 0;
            if (fabsf(c[i].logit + pen[c[i].id]) > 1e-5f * (1 + pen[c[i].id])) bad++;
        }
        bn_sampler_free(s);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_MSG(penalized > 300, "only %d penalized tokens: the histories do not repeat", penalized);
}

/* DRY happens before greedy (as the penalties do), is off with mirostat (llama.cpp's chain), and
 * its window's tokens are among the ids the screened head computes exactly. */
TEST(dry_feeds_greedy_and_the_forced_ids) {
    enum { V = 6 };
    bn_sampler_params p = bn_sampler_default_params();
    p.temperature = 0.0f, p.dry_multiplier = 5.0f, p.dry_allowed_length = 1, p.dry_penalty_last_n = 16;
    const float logits[V] = {0.0f, 3.0f, 2.0f, 0.0f, 0.0f, 0.0f};
    bn_sampler *s = bn_sampler_create(&p, V);
    CHECK(s != NULL);
    if (!s) return;
    const int32_t text[] = {1, 4, 1, 1, 4}; /* "1 4" occurred before: 1 now extends it to "1 4 1" */
    for (int i = 0; i < 5; i++) bn_sampler_accept(s, text[i]);
    CHECK_EQ_INT(bn_sampler_sample(s, logits), 2); /* 1 (3.0) loses 5 * 1.75: 2 wins */
    int32_t ids[32];
    CHECK_EQ_INT(bn_sampler_penalized(s, ids, 32), 5);
    bn_sampler_free(s);
    p.mirostat = 2;
    s = bn_sampler_create(&p, V);
    for (int i = 0; s && i < 5; i++) bn_sampler_accept(s, text[i]);
    CHECK(s && bn_sampler_sample(s, logits) == 1);
    bn_sampler_free(s);
}

/* p with the stages of another order (bn_sampler_kind, n of them). */
static bn_sampler_params in_order(bn_sampler_params p, const unsigned char *kinds, int n) {
    p.n_order = n;
    memcpy(p.order, kinds, (size_t)n);
    return p;
}

/* Another order (sampler.h): the temperature divides the logits where it stands, so top-p and
 * min-p after it see the tempered distribution, presence after it subtracts from the tempered
 * logit, two temperatures divide twice, a temperature <= 0 keeps the argmax there and the draw
 * takes no key (and with none named the draw is at 1); bad orders are refused. */
TEST(another_order_runs_its_stages_as_given) {
    const float logits[4] = {2.0f, 1.0f, 0.0f, -1.0f};
    bn_sampler_candidate c[4];
    bn_sampler_params p = plain_params();
    p.temperature = 3.0f, p.top_p = 0.6f;
    const unsigned char temp_first[] = {BN_SAMPLER_TEMPERATURE, BN_SAMPLER_TOP_P}, temp_last[] = {BN_SAMPLER_TOP_P, BN_SAMPLER_TEMPERATURE};
    /* softmax at 1: 0.64, 0.24 ...: top-p 0.6 keeps one; at 3: 0.36, 0.26, 0.21: it keeps two */
    bn_sampler_params q = in_order(p, temp_last, 2);
    CHECK_EQ_INT(distribution(&q, logits, 4, c, 4), 1);
    q = in_order(p, temp_first, 2);
    CHECK_EQ_INT(distribution(&q, logits, 4, c, 4), 2);
    CHECK_NEAR(c[0].p, softmax_of(logits, 2, 0, 3.0), 1e-6);
    CHECK_NEAR(c[0].logit, 2.0f / 3.0f, 1e-6); /* the logit as the draw sees it */
    p.top_p = 1.0f, p.min_p = 0.5f; /* min-p 0.5: logit >= max - 0.69 at 1, max - 2.08 at 3 */
    const unsigned char min_p_after[] = {BN_SAMPLER_TEMPERATURE, BN_SAMPLER_MIN_P}, min_p_before[] = {BN_SAMPLER_MIN_P, BN_SAMPLER_TEMPERATURE};
    q = in_order(p, min_p_before, 2);
    CHECK_EQ_INT(distribution(&q, logits, 4, c, 4), 1);
    q = in_order(p, min_p_after, 2);
    CHECK_EQ_INT(distribution(&q, logits, 4, c, 4), 3);
    p.min_p = 0.0f, p.presence_penalty = 0.5f, p.penalty_last_n = 8;
    const unsigned char pen_after[] = {BN_SAMPLER_TEMPERATURE, BN_SAMPLER_PENALTIES, BN_SAMPLER_TEMPERATURE};
    q = in_order(p, pen_after, 3);
    bn_sampler *s = bn_sampler_create(&q, 4);
    CHECK(s != NULL);
    if (!s) return;
    bn_sampler_accept(s, 0);
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 4), 4);
    /* token 0: (2/3 - 0.5) / 3 = 0.0556 now below token 1's 1/9 */
    CHECK(c[0].id == 1 && c[1].id == 0);
    CHECK_NEAR(c[1].logit, (2.0f / 3.0f - 0.5f) / 3.0f, 1e-6);
    bn_sampler_free(s);
    p.presence_penalty = 0.0f, p.temperature = 0.0f;
    const unsigned char greedy_mid[] = {BN_SAMPLER_TOP_K, BN_SAMPLER_TEMPERATURE, BN_SAMPLER_TOP_P};
    q = in_order(p, greedy_mid, 3);
    s = bn_sampler_create(&q, 4);
    CHECK(s != NULL);
    if (!s) return;
    uint64_t key = bn_sampler_next_key(s);
    CHECK_EQ_INT(bn_sampler_sample(s, logits), 0);
    CHECK(bn_sampler_next_key(s) == key); /* no key taken */
    bn_sampler_free(s);
    const unsigned char no_temperature[] = {BN_SAMPLER_TOP_K};
    q = in_order(p, no_temperature, 1); /* temperature 0 but not named: drawn at 1 */
    CHECK_EQ_INT(distribution(&q, logits, 4, c, 4), 4);
    CHECK_NEAR(c[0].p, softmax_of(logits, 4, 0, 1.0), 1e-6);
    q.n_order = BN_SAMPLER_ORDER_MAX + 1;
    CHECK(bn_sampler_create(&q, 4) == NULL && strstr(bn_last_error_message(), "n_order") != NULL);
    q.n_order = 1, q.order[0] = BN_N_SAMPLER_KINDS;
    CHECK(bn_sampler_create(&q, 4) == NULL && strstr(bn_last_error_message(), "not a sampler") != NULL);
}

/* Adaptive-p's distribution from its definition (sampler.h): survivors' probabilities p at
 * temperature 1, target t, logits 5 - 10 d^2 / (1 + d) with d = |p - t| / 0.3, softmax. */
static void adaptive_reference(const float *logits, int n, double t, double *out) {
    double z[16], max = -1e300, sum = 0.0;
    for (int i = 0; i < n; i++) {
        double d = fabs(softmax_of(logits, n, i, 1.0) - t) / 0.3;
        z[i] = 5.0 - 10.0 * d * d / (1.0 + d);
        max = z[i] > max ? z[i] : max;
    }
    for (int i = 0; i < n; i++) sum += exp(z[i] - max);
    for (int i = 0; i < n; i++) out[i] = exp(z[i] - max) / sum;
}

/* Adaptive-p: the transform against its definition; the average moves by the probability of
 * the token drawn once it is accepted (not for a token the draw did not give), reset restores
 * it; off below 0 and under mirostat; bad target and decay refused. */
TEST(adaptive_p_follows_its_definition) {
    const float logits[6] = {3.0f, 2.2f, 1.5f, 1.0f, 0.2f, -0.5f};
    bn_sampler_params p = plain_params();
    p.adaptive_target = 0.3f, p.adaptive_decay = 0.9f;
    bn_sampler *s = bn_sampler_create(&p, 6);
    CHECK(s != NULL);
    if (!s) return;
    bn_sampler_candidate c[6];
    double ref[6];
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 6), 6);
    adaptive_reference(logits, 6, 0.3, ref); /* at first the average is the target: t = target */
    for (int i = 0; i < 6; i++) CHECK_NEAR(c[i].p, ref[c[i].id], 1e-5);
    int32_t first = bn_sampler_sample(s, logits);
    bn_sampler_accept(s, (first + 1) % 6); /* not the token drawn: the average does not move */
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 6), 6);
    for (int i = 0; i < 6; i++) CHECK_NEAR(c[i].p, ref[c[i].id], 1e-5);
    int32_t drawn = bn_sampler_sample(s, logits);
    CHECK(drawn >= 0 && drawn < 6);
    bn_sampler_accept(s, drawn);
    /* sum 0.3 / 0.1 = 3 and weight 10 at the start; then p + 0.9 * 3 over 1 + 0.9 * 10 */
    double p_drawn = softmax_of(logits, 6, drawn, 1.0), t = 2 * 0.3 - (p_drawn + 2.7) / 10.0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 6), 6);
    adaptive_reference(logits, 6, t, ref);
    for (int i = 0; i < 6; i++) CHECK_NEAR(c[i].p, ref[c[i].id], 1e-5);
    bn_sampler_reset(s);
    CHECK_EQ_INT(bn_sampler_distribution(s, logits, c, 6), 6);
    adaptive_reference(logits, 6, 0.3, ref);
    for (int i = 0; i < 6; i++) CHECK_NEAR(c[i].p, ref[c[i].id], 1e-5);
    bn_sampler_free(s);
    p.adaptive_target = -1.0f; /* off: the plain softmax */
    CHECK_EQ_INT(distribution(&p, logits, 6, c, 6), 6);
    CHECK_NEAR(c[0].p, softmax_of(logits, 6, 0, 1.0), 1e-6);
    static const float bad[][2] = {{1.5f, 0.9f}, {NAN, 0.9f}, {0.3f, 1.0f}, {0.3f, -0.1f}, {0.3f, NAN}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.adaptive_target = bad[i][0], p.adaptive_decay = bad[i][1];
        CHECK(bn_sampler_create(&p, 6) == NULL && strstr(bn_last_error_message(), "adaptive_") != NULL);
    }
}

/* sampler_order's lists: names in llama.cpp's spellings, joined back in canonical names; a part
 * of the default order is told from another order. */
TEST(sampler_kinds_parse_and_join) {
    unsigned char k[BN_SAMPLER_ORDER_MAX];
    int n = -1;
    char text[BN_SAMPLER_ORDER_TEXT_MAX];
    CHECK_EQ_INT(bn_sampler_kinds_parse("Top-K;nucleus;temp;typ;top_n_sigma", k, &n), 0);
    bn_sampler_kinds_join(k, n, text);
    CHECK_STR(text, "top_k;top_p;temperature;typ_p;top_n_sigma");
    CHECK(!bn_sampler_kinds_in_default_order(k, n));
    CHECK_EQ_INT(bn_sampler_kinds_parse("", k, &n), 0);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(bn_sampler_kinds_parse("penalties;top_k;temperature;", k, &n), 0);
    CHECK(n == 3 && bn_sampler_kinds_in_default_order(k, n));
    CHECK_EQ_INT(bn_sampler_kinds_parse("top_k;top_k", k, &n), 0);
    CHECK(!bn_sampler_kinds_in_default_order(k, n)); /* named twice: another order */
    for (int i = 0; i < BN_SAMPLER_ORDER_MAX; i++) k[i] = (unsigned char)(i % BN_N_SAMPLER_KINDS);
    bn_sampler_kinds_join(k, BN_SAMPLER_ORDER_MAX, text); /* the longest: fits */
    CHECK(strlen(text) < sizeof text);
    CHECK_EQ_INT(bn_sampler_kinds_parse("typ_p;xtc;x", k, &n), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_sampler_kinds_parse("infill", k, &n), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_sampler_kinds_parse("min_p;adaptive-p;temperature", k, &n), 0); /* the draw: aside */
    CHECK(n == 3 && k[1] == BN_SAMPLER_ADAPTIVE_P && bn_sampler_kinds_in_default_order(k, n));
    CHECK(bn_sampler_kinds_take_adaptive(k, &n) && n == 2 && k[1] == BN_SAMPLER_TEMPERATURE);
    CHECK(!bn_sampler_kinds_take_adaptive(k, &n) && n == 2);
}

TEST_MAIN_BEGIN("test_sampler")
    RUN(greedy_is_argmax_lowest_id_on_ties);
    RUN(logits_are_not_modified);
    RUN(top_k_keeps_exactly_k);
    RUN(top_k_on_a_large_vocabulary_matches_a_full_sort);
    RUN(top_p_keeps_the_smallest_prefix_reaching_p);
    RUN(top_p_large_vocabulary_peaked_and_flat);
    RUN(min_p_threshold_is_relative_to_the_best);
    RUN(min_keep_keeps_at_least_that_many);
    RUN(repeat_penalty_divides_positive_and_multiplies_negative);
    RUN(presence_and_frequency_count_the_window_only);
    RUN(penalties_feed_greedy);
RUN(logit_bias_before_penalties);
RUN(lookup_draft);
RUN(prediction_draft);
    RUN(frequencies_match_softmax_chi_square);
    RUN(same_seed_same_sequence_different_seeds_differ);
    RUN(reset_reseeds);
    RUN(temperature_reshapes_the_distribution);
    RUN(masked_tokens_are_never_drawn);
    RUN(bad_logits_are_errors);
    RUN(bad_parameters_are_refused);
    RUN(default_chain_on_128k_vocabulary);
    RUN(gumbel_draw_is_the_argmax_over_every_row);
    RUN(gumbel_filter_is_never_wrong_and_selective);
    RUN(top_n_sigma_keeps_within_n_deviations);
    RUN(typical_p_keeps_the_most_typical_mass);
    RUN(xtc_drops_all_likely_tokens_but_the_least);
    RUN(dynamic_temperature_follows_the_entropy);
    RUN(mirostat_2_truncates_by_surprise_and_learns);
    RUN(mirostat_1_keeps_the_estimated_k);
    RUN(other_samplers_greedy_and_bad_parameters);
    RUN(dry_penalties_match_the_definition);
    RUN(dry_feeds_greedy_and_the_forced_ids);
    RUN(another_order_runs_its_stages_as_given);
    RUN(sampler_kinds_parse_and_join);
    RUN(adaptive_p_follows_its_definition);
TEST_MAIN_END()
