/* test_logprob: the log-probability passes (model/logprob.h) of every tier this CPU has
 * (bn_logprob_for_tier; BITNET_FORCE_TIER only caps the tier in use, which is checked apart)
 * against the portable reference: the log-sum-exp within logprob.h's bound on awkward lengths
 * (1 .. 128256, every tail and block edge) and extreme rows (all equal, one value and the rest
 * -inf, values near expf's overflow, terms far below the max, descending and ascending rows);
 * non-finite values by the documented policy on every tier; next_above and the top-n list
 * exactly, ties and NaN included. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "model/logprob.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)(next_u32() & 0xffffff) / 16777216.0f; }

/* Every tier's ops this CPU has, the portable code first; tiers sharing code listed once. */
static int all_ops(const bn_logprob_ops *ops[BN_TIER_COUNT + 1]) {
    int n = 0;
    ops[n++] = &bn_logprob_portable;
    for (int t = BN_TIER_AVX2; t < BN_TIER_COUNT; t++) {
        const bn_logprob_ops *o = bn_logprob_for_tier((bn_cpu_tier)t);
        if (!bn_cpu_has_tier((bn_cpu_tier)t) || o == ops[n - 1] || o == &bn_logprob_portable) continue;
        ops[n++] = o;
    }
    if (n == 1) printf("# logprob: no SIMD code on this CPU\n");
    return n;
}

/* logprob.h's tested bound between a SIMD tier and the reference. */
static double lse_tol(float ref) { return 4e-6 + 2.5e-7 * fabs((double)ref); }

static const int64_t lens[] = {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129, 255, 256, 257, 300, 1000, 4099, 128256};

enum { ROW_RANDOM, ROW_WIDE, ROW_EQUAL, ROW_ONE_AND_NEG_INF, ROW_NEAR_OVERFLOW, ROW_FAR_BELOW, ROW_NEG_INF_SPRINKLED,
       ROW_HUGE_RANGE, ROW_DESCENDING, ROW_ASCENDING, ROW_HALF_AT_MAX, ROW_SMALL_RESULT, ROW_KINDS };

/* Row kinds: logits-like (spread 3), a wide spread (60), all equal, one value and -inf
 * elsewhere, values in [80, 88.7] (exp overflows there without the max shift), one at 0 and the
 * rest around -100 (terms below expf's range), random with -inf entries, +-3e38 (x - max
 * overflows to -inf), sorted both ways (the float chains add small terms to large sums, and
 * the reverse), half the values at the max (s = n / 2), one at 0 and the rest in [-17, -12]
 * (a result of 1e-5 .. 0.2, whose ulp shows the sum's own error). */
static void fill(float *x, int64_t n, int kind) {
    for (int64_t i = 0; i < n; i++) {
        switch (kind) {
        case ROW_RANDOM: x[i] = uniform(-3.0f, 3.0f) + uniform(-3.0f, 3.0f); break;
        case ROW_WIDE: x[i] = uniform(-30.0f, 30.0f); break;
        case ROW_EQUAL: x[i] = 5.25f; break;
        case ROW_ONE_AND_NEG_INF: x[i] = -INFINITY; break;
        case ROW_NEAR_OVERFLOW: x[i] = uniform(80.0f, 88.7f); break;
        case ROW_FAR_BELOW: x[i] = uniform(-105.0f, -95.0f); break;
        case ROW_NEG_INF_SPRINKLED: x[i] = next_u32() % 3 == 0 ? -INFINITY : uniform(-10.0f, 10.0f); break;
        case ROW_HUGE_RANGE: x[i] = next_u32() % 2 ? 3e38f : -3e38f; break;
        case ROW_DESCENDING: x[i] = 20.0f - 40.0f * (float)i / (float)n; break;
        case ROW_ASCENDING: x[i] = -20.0f + 40.0f * (float)i / (float)n; break;
        case ROW_HALF_AT_MAX: x[i] = i % 2 ? 7.0f : uniform(-20.0f, 7.0f); break;
        case ROW_SMALL_RESULT: x[i] = uniform(-17.0f, -12.0f); break;
        }
    }
    if (kind == ROW_ONE_AND_NEG_INF) x[(n * 2) / 3] = 12.5f;
    if (kind == ROW_FAR_BELOW || kind == ROW_SMALL_RESULT) x[n / 2] = 0.0f;
    if (kind == ROW_NEG_INF_SPRINKLED) x[n - 1] = 1.0f; /* at least one finite value */
}

TEST(lse_within_bound_at_every_tier) {
    const bn_logprob_ops *ops[BN_TIER_COUNT + 1];
    int n_ops = all_ops(ops);
    float *x = malloc(sizeof(float) * 128256);
    for (int o = 1; o < n_ops; o++) {
        double worst = 0.0;
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
            for (int kind = 0; kind < ROW_KINDS; kind++) {
                int64_t n = lens[li];
                fill(x, n, kind);
                float ref = bn_logprob_portable.lse(x, n), got = ops[o]->lse(x, n);
                CHECK_MSG(isfinite(ref), "reference n %lld kind %d: %g", (long long)n, kind, ref);
                double d = fabs((double)got - (double)ref);
                CHECK_MSG(d <= lse_tol(ref), "%s n %lld kind %d: %.9g, reference %.9g", ops[o]->name, (long long)n, kind, got, ref);
                if (d > worst) worst = d;
            }
        printf("# lse %s: worst |diff| %.3g\n", ops[o]->name, worst);
    }
    /* Exact values: all equal gives c + log(n) (every term exactly 1); one finite value gives it. */
    for (int o = 0; o < n_ops; o++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            int64_t n = lens[li];
            fill(x, n, ROW_EQUAL);
            CHECK_NEAR(ops[o]->lse(x, n), 5.25 + log((double)n), 1e-6 * (5.25 + log((double)n)));
            fill(x, n, ROW_ONE_AND_NEG_INF);
            CHECK_MSG(ops[o]->lse(x, n) == 12.5f, "%s n %lld: %.9g", ops[o]->name, (long long)n, ops[o]->lse(x, n));
        }
    free(x);
}

/* Non-finite values, the same on every tier: NaN anywhere (a full vector, the tail, the first
 * value) gives NaN, +inf gives +inf, all -inf or n == 0 gives -inf, and -inf entries add 0. */
TEST(lse_nonfinite_policy_at_every_tier) {
    const bn_logprob_ops *ops[BN_TIER_COUNT + 1];
    int n_ops = all_ops(ops);
    const int64_t ns[] = {1, 5, 17, 64, 257, 1000};
    float *x = malloc(sizeof(float) * 1000), *y = malloc(sizeof(float) * 1000);
    for (int o = 0; o < n_ops; o++) {
        const bn_logprob_ops *p = ops[o];
        CHECK_MSG(p->lse(x, 0) == -INFINITY, "%s: empty row", p->name);
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            int64_t n = ns[k];
            int64_t at[3] = {0, n / 2, n - 1};
            for (int a = 0; a < 3; a++) {
                fill(x, n, ROW_RANDOM);
                x[at[a]] = NAN;
                CHECK_MSG(isnan(p->lse(x, n)), "%s n %lld: NaN at %lld", p->name, (long long)n, (long long)at[a]);
                fill(x, n, ROW_RANDOM);
                x[at[a]] = INFINITY;
                CHECK_MSG(p->lse(x, n) == INFINITY, "%s n %lld: +inf at %lld", p->name, (long long)n, (long long)at[a]);
                x[at[(a + 1) % 3]] = NAN;
                CHECK_MSG(n == 1 || isnan(p->lse(x, n)), "%s n %lld: +inf and NaN", p->name, (long long)n);
                for (int64_t i = 0; i < n; i++) x[i] = -INFINITY;
                CHECK_MSG(p->lse(x, n) == -INFINITY, "%s n %lld: all -inf", p->name, (long long)n);
                x[at[a]] = NAN;
                CHECK_MSG(isnan(p->lse(x, n)), "%s n %lld: -inf and NaN", p->name, (long long)n);
            }
            /* -inf entries add nothing: the row without them gives the same within the bound */
            fill(x, n, ROW_NEG_INF_SPRINKLED);
            int64_t m = 0;
            for (int64_t i = 0; i < n; i++)
                if (x[i] > -INFINITY) y[m++] = x[i];
            float ref = bn_logprob_portable.lse(y, m);
            CHECK_MSG(fabs((double)p->lse(x, n) - ref) <= lse_tol(ref), "%s n %lld: -inf entries", p->name, (long long)n);
        }
    }
    free(x);
    free(y);
}

/* next_above: the same index as the reference for every start, thresholds below, inside and
 * above the row's values, NaN and -inf entries. */
TEST(next_above_exact_at_every_tier) {
    const bn_logprob_ops *ops[BN_TIER_COUNT + 1];
    int n_ops = all_ops(ops);
    float *x = malloc(sizeof(float) * 300);
    const float ts[] = {-INFINITY, -5.0f, 0.0f, 4.0f, 5.9f, 6.0f, INFINITY, NAN};
    for (int o = 1; o < n_ops; o++)
        for (int64_t n = 0; n <= 300; n += n < 70 ? 1 : 23) {
            for (int64_t i = 0; i < n; i++) {
                uint32_t r = next_u32() % 16;
                x[i] = r == 0 ? NAN : r == 1 ? -INFINITY : uniform(-6.0f, 6.0f);
            }
            for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++)
                for (int64_t i = 0; i <= n; i++) {
                    int64_t want = bn_logprob_portable.next_above(x, i, n, ts[k]), got = ops[o]->next_above(x, i, n, ts[k]);
                    CHECK_MSG(got == want, "%s n %lld from %lld t %g: %lld, reference %lld", ops[o]->name, (long long)n, (long long)i,
                              ts[k], (long long)got, (long long)want);
                }
        }
    free(x);
}

/* The top-n list against a plain selection (largest first, ties to the lower index, NaN never
 * taken), on every tier: random rows with many ties (values on a grid), NaN and -inf entries,
 * rows shorter than k, ascending rows (every value enters the list). */
static int plain_top(const float *x, int64_t n, int k, int32_t *id) {
    int held = 0;
    for (; held < k; held++) {
        int64_t best = -1;
        for (int64_t i = 0; i < n; i++) {
            if (isnan(x[i])) continue;
            int taken = 0;
            for (int j = 0; j < held; j++) taken |= id[j] == i;
            if (!taken && (best < 0 || x[i] > x[best])) best = i;
        }
        if (best < 0) break;
        id[held] = (int32_t)best;
    }
    return held;
}

TEST(top_matches_plain_selection_at_every_tier) {
    const bn_logprob_ops *ops[BN_TIER_COUNT + 1];
    int n_ops = all_ops(ops);
    enum { N = 2000 };
    float *x = malloc(sizeof(float) * N);
    const int ks[] = {0, 1, 2, 5, 20};
    const int64_t ns[] = {1, 3, 19, 20, 21, 100, 777, N};
    for (int row = 0; row < 4; row++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            int64_t n = ns[ni];
            for (int64_t i = 0; i < n; i++) {
                uint32_t r = next_u32() % 32;
                x[i] = row == 3 ? (float)i : r == 0 ? NAN : r == 1 ? -INFINITY : (float)(int)uniform(-40.0f, 40.0f) * 0.25f;
            }
            if (row == 1)
                for (int64_t i = 0; i < n; i++) x[i] = -INFINITY; /* only -inf: still ranked */
            if (row == 2)
                for (int64_t i = 0; i < n; i += 2) x[i] = NAN;
            for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
                int k = ks[ki];
                int32_t want[20], id[20];
                float val[20];
                int n_want = plain_top(x, n, k, want);
                for (int o = 0; o < n_ops; o++) {
                    int got = bn_logprob_top(ops[o], x, n, k, id, val);
                    CHECK_MSG(got == n_want, "%s row %d n %lld k %d: %d values, want %d", ops[o]->name, row, (long long)n, k, got, n_want);
                    for (int j = 0; j < got && j < n_want; j++)
                        CHECK_MSG(id[j] == want[j] && (val[j] == x[want[j]]), "%s row %d n %lld k %d: [%d] = %d (%g), want %d (%g)",
                                  ops[o]->name, row, (long long)n, k, j, id[j], val[j], want[j], x[want[j]]);
                }
            }
        }
    free(x);
}

/* The tier in use (what the server takes): BITNET_FORCE_TIER's cap applies. */
TEST(active_tier_ops) {
    bn_cpu_tier t = bn_cpu_active_tier();
    const bn_logprob_ops *o = bn_logprob_for_tier(t);
    printf("# logprob: tier %s uses the %s code\n", bn_cpu_tier_name(t), o->name);
    float x[37];
    fill(x, 37, ROW_RANDOM);
    float ref = bn_logprob_portable.lse(x, 37);
    CHECK_NEAR(o->lse(x, 37), ref, lse_tol(ref));
    if (t == BN_TIER_SCALAR) CHECK(o == &bn_logprob_portable);
}

TEST_MAIN_BEGIN("test_logprob")
RUN(lse_within_bound_at_every_tier);
RUN(lse_nonfinite_policy_at_every_tier);
RUN(next_above_exact_at_every_tier);
RUN(top_matches_plain_selection_at_every_tier);
RUN(active_tier_ops);
TEST_MAIN_END()
