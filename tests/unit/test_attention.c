/* test_attention: the SIMD attention kernels of every tier this CPU has against the scalar
 * reference bn_attention_ref (attention.h): head_dim 64 and 128, GQA groups of 1 and 4 query
 * heads per KV head, batches of 1..9 tokens after 0..291 cached positions (keys up to 300,
 * so blocks of 16 are cut everywhere), large scores (the running max matters): within 1e-5 of
 * max |v|. And the property the forward pass relies on for bit-identical results across
 * batch sizes and threads: a row computed alone equals the same row computed in a job of
 * many rows, bit for bit, at every tier. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/attention.h"
#include "kernels/cpu.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float uniform_pm1(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

#define MAX_KEYS 320
#define MAX_ROWS 64

/* One KV head's cache and the query rows of `n_tok` tokens after `n_past` positions. */
typedef struct case_data {
    int64_t hd, group, n_rows;
    float *k, *v, *q, *out, *scratch;
    const float *qp[MAX_ROWS];
    float *op[MAX_ROWS];
    int64_t pos[MAX_ROWS];
    bn_attn_job job;
} case_data;

static void setup(case_data *c, int64_t hd, int64_t group, int64_t n_past, int64_t n_tok, float q_mag) {
    int64_t stride = hd * 2; /* two KV heads interleaved: the job must honour the stride */
    c->hd = hd;
    c->group = group;
    c->n_rows = n_tok * group;
    c->k = malloc(sizeof(float) * MAX_KEYS * (size_t)stride);
    c->v = malloc(sizeof(float) * MAX_KEYS * (size_t)stride);
    c->q = malloc(sizeof(float) * (size_t)(c->n_rows * hd));
    c->out = malloc(sizeof(float) * (size_t)(c->n_rows * hd));
    c->scratch = aligned_alloc(64, (bn_attention_scratch_floats(c->n_rows, hd) * sizeof(float) + 63) & ~(size_t)63);
    for (int64_t i = 0; i < MAX_KEYS * stride; i++) {
        c->k[i] = uniform_pm1();
        c->v[i] = uniform_pm1();
    }
    for (int64_t i = 0; i < c->n_rows * hd; i++) c->q[i] = uniform_pm1() * q_mag;
    for (int64_t r = 0; r < c->n_rows; r++) {
        c->qp[r] = c->q + r * hd;
        c->op[r] = c->out + r * hd;
        c->pos[r] = n_past + r / group;
    }
    c->job = (bn_attn_job){.n_rows = c->n_rows, .head_dim = hd, .q = c->qp, .out = c->op, .pos = c->pos,
                           .k = c->k + hd, .v = c->v + hd, .kv_stride = stride, .scale = 1.0f / sqrtf((float)hd),
                           .scratch = c->scratch};
}

static void teardown(case_data *c) {
    free(c->k);
    free(c->v);
    free(c->q);
    free(c->out);
    free(c->scratch);
}

/* Kernel of tier t against the reference on one case; returns the worst |diff|. */
static double compare_tier(case_data *c, bn_attention_kernel kern) {
    size_t bytes = sizeof(float) * (size_t)(c->n_rows * c->hd);
    float *ref = malloc(bytes);
    bn_attention_ref(&c->job);
    memcpy(ref, c->out, bytes);
    memset(c->out, 0xff, bytes); /* NaN: every output must be written */
    bool covered = kern(&c->job);
    double worst = 0;
    for (int64_t i = 0; covered && i < c->n_rows * c->hd; i++) {
        double d = fabs((double)c->out[i] - ref[i]);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    free(ref);
    return covered ? worst : -1.0;
}

TEST(simd_matches_reference) {
    static const int64_t hds[] = {64, 128}, groups[] = {1, 4};
    static const int64_t pasts[] = {0, 1, 14, 15, 16, 17, 31, 100, 255, 291};
    /* x group 1 and 4: 1 to 64 rows; from 16 rows, AVX-512 takes rows in groups of 16 (full,
     * partial, a job's first active row inside a group) */
    static const int64_t n_toks[] = {1, 5, 9, 16};
    int n_tiers = 0;
    for (int t = BN_TIER_AVX2; t < BN_TIER_COUNT; t++) {
        bn_attention_kernel kern = bn_attention_kernel_for_tier((bn_cpu_tier)t);
        if (!kern) continue;
        n_tiers++;
        for (size_t h = 0; h < 2; h++)
            for (size_t g = 0; g < 2; g++)
                for (size_t p = 0; p < sizeof pasts / sizeof pasts[0]; p++)
                    for (size_t nt = 0; nt < sizeof n_toks / sizeof n_toks[0]; nt++)
                        for (int big = 0; big < 3; big++) {
                            /* q x0: all scores equal (uniform weights); x40: peaked weights */
                            static const float mags[] = {1.0f, 40.0f, 0.0f};
                            int64_t n_tok = n_toks[nt];
                            case_data c;
                            setup(&c, hds[h], groups[g], pasts[p], n_tok, mags[big]);
                            double worst = compare_tier(&c, kern);
                            /* outputs are convex combinations of v (|v| <= 1) */
                            CHECK_MSG(worst >= 0 && worst <= 1e-5, "tier %s hd %lld group %lld past %lld tokens %lld q x%d: max |diff| %g",
                                      bn_cpu_tier_name((bn_cpu_tier)t), (long long)hds[h], (long long)groups[g], (long long)pasts[p],
                                      (long long)n_tok, (int)mags[big], worst);
                            teardown(&c);
                        }
    }
    if (!n_tiers) printf("  (no SIMD attention tier on this CPU: only the reference runs)\n");
}

/* Row r computed in the full job vs alone (a job of that one row): identical bits. On
 * AVX-512 the full jobs take the 16-row group path and the single rows the row path. */
TEST(rows_independent_of_job) {
    /* {head_dim, group, first position, tokens}: 36 rows at 37..45; 20 rows at 15..34 (a block
     * boundary inside a group); 64 rows at 0..15 */
    static const int64_t cases[][4] = {{128, 4, 37, 9}, {64, 1, 15, 20}, {128, 4, 0, 16}};
    for (int t = BN_TIER_SCALAR; t < BN_TIER_COUNT; t++) {
        bn_attention_kernel kern = t == BN_TIER_SCALAR ? NULL : bn_attention_kernel_for_tier((bn_cpu_tier)t);
        if (t != BN_TIER_SCALAR && !kern) continue;
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            case_data c;
            setup(&c, cases[k][0], cases[k][1], cases[k][2], cases[k][3], 3.0f);
            if (kern) CHECK(kern(&c.job));
            else bn_attention_ref(&c.job);
            float alone[128];
            int mismatches = 0;
            for (int64_t r = 0; r < c.n_rows; r += 5) {
                float *op = alone;
                bn_attn_job one = c.job;
                one.n_rows = 1;
                one.q = &c.qp[r];
                one.out = &op;
                one.pos = &c.pos[r];
                if (kern) CHECK(kern(&one));
                else bn_attention_ref(&one);
                mismatches += memcmp(alone, c.op[r], (size_t)c.hd * sizeof(float)) != 0;
            }
            CHECK_MSG(mismatches == 0, "tier %s case %zu: %d rows differ when computed alone", bn_cpu_tier_name((bn_cpu_tier)t),
                      k, mismatches);
            teardown(&c);
        }
    }
}

/* A head_dim no vector width divides (34: not a multiple of 4, 8 or 16): the kernel of the
 * best tier declines, the reference runs. */
TEST(uncovered_head_dim_falls_back) {
    case_data c;
    setup(&c, 34, 1, 20, 3, 1.0f);
    bn_attention_kernel kern = bn_attention_kernel_for_tier(bn_cpu_best_tier());
    if (kern) CHECK(!kern(&c.job));
    bn_attention_run(&c.job);
    float *got = malloc(sizeof(float) * (size_t)(c.n_rows * c.hd));
    memcpy(got, c.out, sizeof(float) * (size_t)(c.n_rows * c.hd));
    bn_attention_ref(&c.job);
    CHECK(memcmp(got, c.out, sizeof(float) * (size_t)(c.n_rows * c.hd)) == 0);
    free(got);
    teardown(&c);
}

/* One key: the output is that key's value row exactly (weight exp(0) / 1). */
TEST(single_key_returns_value) {
    case_data c;
    setup(&c, 64, 4, 0, 1, 5.0f);
    bn_attention_run(&c.job);
    for (int64_t r = 0; r < c.n_rows; r++) CHECK(memcmp(c.op[r], c.v + c.hd, 64 * sizeof(float)) == 0);
    teardown(&c);
}

TEST_MAIN_BEGIN("test_attention")
RUN(simd_matches_reference);
RUN(rows_independent_of_job);
RUN(uncovered_head_dim_falls_back);
RUN(single_key_returns_value);
TEST_MAIN_END()
