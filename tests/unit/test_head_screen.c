/* test_head_screen: the screened LM head (model/head_screen.h).
 *  - the copy: |w - q d| <= (d / 2)(1 + 2^-14) and |q| <= 127 for every weight, in the documented layout,
 *    for F16, BF16 and F32 heads with extreme values (huge, tiny, subnormal, zero blocks); the
 *    tier fill kernels of F16 heads give the portable code's bytes;
 *  - the bound: at every tier this CPU has (and the portable reference), for every row,
 *    |L - A| <= c R + 2^-40 |A| where L is the plain head's logit from that tier's float
 *    kernel, on awkward widths (one block, a padded last group, 2560) and extreme activations;
 *  - the kernels' token tiles and row blocks: a token's values are the same bits in any batch and row range;
 *  - the selection: ties, a row one ulp above the rest, rows built to sit on the boundary,
 *    NaN, the budget; with the pass's unit summaries the same ids as the full scan;
 *  - end to end: the logits of the candidates are bit-identical to the plain head's and the
 *    others are -inf; greedy and seeded top-k generation with penalties and a logit bias give the same tokens
 *    with --lm-head screen and model, through a session and through a batch of 4 slots. */
#include <float.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/api_internal.h"
#include "bitnet.h"
#include "kernels/cpu.h"
#include "kernels/kernel_impl.h"
#include "kernels/kernels.h"
#include "model/head_screen.h"
#include "model/linear.h"
#include "formats/types.h"
#include "test.h"
#include "test_models.h"
#include "util.h"

static char tmpdir[512];
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float gauss(void) { /* sum of uniforms: enough for test data */
    float s = 0;
    for (int i = 0; i < 6; i++) s += (float)(rnd() % 100000) / 100000.0f;
    return s - 3.0f;
}

/* A head tensor of M x K in `type` from float values w. */
typedef struct {
    gguf_tensor t;
    void *data;
    bn_linear w;
} head;

static void head_make(head *h, uint32_t type, int64_t M, int64_t K, const float *w) {
    size_t elt = type == BN_TYPE_F32 ? 4 : 2;
    h->data = malloc((size_t)(M * K) * elt);
    for (int64_t i = 0; i < M * K; i++) {
        if (type == BN_TYPE_F32) ((float *)h->data)[i] = w[i];
        else ((uint16_t *)h->data)[i] = type == BN_TYPE_F16 ? bn_f32_to_f16(w[i]) : bn_f32_to_bf16(w[i]);
    }
    memset(&h->t, 0, sizeof h->t);
    h->t.name = "output.weight";
    h->t.n_dims = 2;
    h->t.ne[0] = (uint64_t)K;
    h->t.ne[1] = (uint64_t)M;
    h->t.ne[2] = h->t.ne[3] = 1;
    h->t.type = type;
    h->t.n_elements = (uint64_t)(M * K);
    h->t.n_bytes = (uint64_t)(M * K) * elt;
    h->t.data = h->data;
    bn_linear_init(&h->w, &h->t, NULL);
}

static bn_head_screen *screen_of(const head *h) {
    bn_head_screen *s = bn_head_screen_alloc(&h->w);
    float *row = malloc((size_t)h->w.in * sizeof(float));
    if (s && bn_head_screen_fill(s, &h->w, 0, h->w.out, NULL, row) != 0) {
        bn_head_screen_free(s);
        s = NULL;
    }
    free(row);
    return s;
}

/* Weights of a row: Gaussian, with some extreme blocks. */
static void fill_weights(float *w, int64_t M, int64_t K, uint32_t type) {
    float big = type == BN_TYPE_F16 ? 60000.0f : 1e6f, tiny = type == BN_TYPE_F16 ? 6e-8f : 1e-30f;
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++) {
            float v = gauss() * 0.05f;
            int64_t b = k / 32;
            switch ((m + b) % 11) {
            case 3: v = 0.0f; break;                                  /* a zero block */
            case 5: v *= big / 0.2f; break;                           /* huge weights */
            case 7: v = (k % 2 ? 1.0f : -1.0f) * tiny * (float)(k % 5); break; /* subnormal range */
            default: break;
            }
            w[m * K + k] = v;
        }
}

/* Weight k of row m as the copy holds it (the group order of head_screen.h). */
static double copy_weight(const bn_head_screen *s, int64_t m, int64_t k, int *code) {
    int64_t b = k / 32, g = b / 16, j = b % 16, r = k % 32;
    const int8_t *q = s->q + m * s->n_groups * 512;
    *code = q[g * 512 + 32 * (r / 2) + 2 * j + r % 2];
    return (double)*code * bn_f16_to_f32(s->d[m * s->n_groups * 16 + b]);
}

TEST(copy_rounds_within_half_a_step) {
    const uint32_t types[] = {BN_TYPE_F16, BN_TYPE_BF16, BN_TYPE_F32};
    for (int ti = 0; ti < 3; ti++) {
        int64_t M = 23, K = 544; /* 17 blocks: the last group has 1 block and 15 of padding */
        float *w = malloc(sizeof(float) * (size_t)(M * K));
        fill_weights(w, M, K, types[ti]);
        head h;
        head_make(&h, types[ti], M, K, w);
        bn_head_screen *s = screen_of(&h);
        CHECK(s != NULL);
        float *row = malloc(sizeof(float) * (size_t)K);
        bool ok = s != NULL;
        for (int64_t m = 0; ok && m < M; m++) {
            bn_linear_dequant_row(&h.w, m, row);
            for (int64_t k = 0; k < K; k++) {
                int code;
                double v = copy_weight(s, m, k, &code), d = bn_f16_to_f32(s->d[m * s->n_groups * 16 + k / 32]);
                if (fabs((double)row[k] - v) > 0.5 * d * (1 + 0x1p-14) || code < -127 || code > 127) {
                    CHECK_MSG(false, "type %u row %lld k %lld: w %.9g copy %.9g d %.9g", types[ti], (long long)m, (long long)k,
                              row[k], v, d);
                    ok = false;
                    break;
                }
            }
            for (int64_t b = s->nb; b < s->n_groups * 16; b++) ok &= s->d[m * s->n_groups * 16 + b] == 0; /* padding */
        }
        CHECK(ok);
        free(row);
        free(w);
        free(h.data);
        bn_head_screen_free(s);
    }
}

TEST(copy_refuses_what_it_cannot_hold) {
    int64_t M = 2, K = 64;
    float w[128];
    for (int i = 0; i < 128; i++) w[i] = 1.0f;
    w[70] = 1e7f; /* beyond 127 * 65504 */
    head h;
    head_make(&h, BN_TYPE_F32, M, K, w);
    CHECK(screen_of(&h) == NULL && bn_last_error_status() == BITNET_ERR_UNSUPPORTED);
    free(h.data);
    w[70] = INFINITY;
    head_make(&h, BN_TYPE_F32, M, K, w);
    CHECK(screen_of(&h) == NULL);
    free(h.data);
    w[70] = 1.0f;
    head_make(&h, BN_TYPE_F16, M, 48, w); /* 48: not a multiple of 32 */
    const char *why = NULL;
    CHECK(!bn_head_screen_supported(&h.w, &why) && why && strstr(why, "multiple of 32"));
    free(h.data);
}

/* The copy of an F16 head built with fill kernels k (NULL: the portable code) into s; its
 * status. */
static int fill_copy(const head *h, bn_head_screen *s, const bn_screen_fill_f16 *k) {
    float *row = malloc((size_t)h->w.in * sizeof(float));
    memset(s->q, 0x5a, (size_t)(s->M * s->n_groups * 512)); /* every byte must be written */
    memset(s->d, 0x5a, (size_t)(s->M * s->n_groups * 16) * sizeof *s->d);
    int rc = bn_head_screen_fill_with(s, &h->w, 0, h->w.out, NULL, row, k);
    free(row);
    return rc;
}

/* The tier fill kernels give the portable code's bytes: F16 heads with extreme blocks (huge,
 * subnormal, zero), codes on exact ties (w / d = n + 1/2: round half to even), one block, a
 * padded last group, 2560; a non-finite weight is refused with the same status. */
TEST(fill_kernels_give_the_portable_bytes) {
    const int64_t widths[] = {32, 544, 2560};
    int tiers_with_kernels = 0;
    for (int t = BN_TIER_SCALAR + 1; t < BN_TIER_COUNT; t++) {
        if (!bn_cpu_has_tier((bn_cpu_tier)t)) continue;
        bn_screen_fill_f16 k = bn_head_screen_fill_kernels_for_tier((bn_cpu_tier)t);
#if defined(__x86_64__)
        CHECK_MSG(k.amax && k.quantize, "no fill kernels at %s", bn_cpu_tier_name((bn_cpu_tier)t));
#else
        CHECK(!k.amax && !k.quantize); /* none on aarch64 yet: the portable code fills */
#endif
        if (!k.amax || !k.quantize) continue;
        tiers_with_kernels++;
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
            int64_t M = 29, K = widths[wi];
            float *w = malloc(sizeof(float) * (size_t)(M * K));
            fill_weights(w, M, K, BN_TYPE_F16);
            for (int64_t k2 = 0; k2 < K; k2++) { /* row 1: d = 1 and halves: ties round to even */
                static const float ties[8] = {127.0f, 2.5f, -3.5f, 0.5f, -0.5f, 1.5f, 126.5f, -126.5f};
                w[K + k2] = ties[k2 % 8];
            }
            head h;
            head_make(&h, BN_TYPE_F16, M, K, w);
            bn_head_screen *ref = bn_head_screen_alloc(&h.w), *fast = bn_head_screen_alloc(&h.w);
            CHECK(ref && fast);
            if (ref && fast) {
                CHECK_EQ_INT(fill_copy(&h, ref, NULL), 0);
                CHECK_EQ_INT(fill_copy(&h, fast, &k), 0);
                CHECK_MSG(!memcmp(ref->q, fast->q, (size_t)(M * ref->n_groups * 512)), "codes differ at %s, K %lld",
                          bn_cpu_tier_name((bn_cpu_tier)t), (long long)K);
                CHECK_MSG(!memcmp(ref->d, fast->d, (size_t)(M * ref->n_groups * 16) * sizeof *ref->d), "scales differ at %s, K %lld",
                          bn_cpu_tier_name((bn_cpu_tier)t), (long long)K);
                int tie_code;
                copy_weight(fast, 1, 1, &tie_code);
                CHECK_EQ_INT(tie_code, 2); /* 2.5 -> 2 */
                copy_weight(fast, 1, 2, &tie_code);
                CHECK_EQ_INT(tie_code, -4); /* -3.5 -> -4 */
                ((uint16_t *)h.data)[5 * K + K - 1] = 0x7e00; /* a NaN in row 5 */
                int rc_ref = fill_copy(&h, ref, NULL), rc_fast = fill_copy(&h, fast, &k);
                CHECK(rc_ref != 0 && rc_fast == rc_ref);
                ((uint16_t *)h.data)[5 * K + K - 1] = 0x7c00; /* +inf */
                rc_fast = fill_copy(&h, fast, &k);
                CHECK(rc_fast == rc_ref && strstr(bn_last_error_message(), "not finite"));
            }
            bn_head_screen_free(ref);
            bn_head_screen_free(fast);
            free(w);
            free(h.data);
        }
    }
    printf("# fill kernels compared at %d tier(s)\n", tiers_with_kernels);
}

/* Activations with outliers, zeros and tiny values. */
static void fill_x(float *x, int64_t K, int variant) {
    for (int64_t k = 0; k < K; k++) {
        float v = gauss();
        if (variant == 1 && k % 97 == 5) v *= 300.0f;        /* outlier dimensions */
        if (variant == 2 && (k / 32) % 3 == 1) v = 0.0f;     /* zero blocks */
        if (variant == 3) v *= (k % 2) ? 1e-30f : 1e20f;     /* extreme magnitudes */
        x[k] = v;
    }
}

/* The plain head's logits at tier t (NULL table: the reference). */
static void plain_logits(const bn_linear *w, bn_cpu_tier t, const float *x, float *y) {
    bn_act a;
    bn_act_prepare(&a, BN_ACT_NONE, x, 1, w->in, NULL);
    const bn_kernel_table *k = t == BN_TIER_SCALAR ? NULL : bn_kernels_for_tier(t);
    void *tmp = malloc(bn_linear_row_scratch_bytes(w) + 64);
    if (!k || !bn_kernel_linear_apply_with(k, w, &a, y, w->out, 0, w->out, NULL)) bn_linear_apply_rows_ref(w, &a, y, w->out, 0, w->out, tmp);
    free(tmp);
}

/* Checks |L - A| <= c R + 2^-40 |A| for every row and tier; returns the number of violations. */
static int bound_violations(const head *h, const bn_head_screen *s, const float *x, int n_tok) {
    int64_t M = h->w.out, K = h->w.in, nq = s->n_groups * 512, ne = s->n_groups * 16;
    int16_t *xq = malloc(sizeof *xq * (size_t)(n_tok * nq));
    float *e = malloc(sizeof(float) * (size_t)(n_tok * ne)), *xa = malloc(sizeof(float) * (size_t)(n_tok * ne));
    float *approx = malloc(sizeof(float) * (size_t)(n_tok * M)), *radius = malloc(sizeof(float) * (size_t)(n_tok * M));
    float *L = malloc(sizeof(float) * (size_t)M);
    int bad = 0;
    for (int t = 0; t < n_tok; t++) bn_head_screen_prepare(s, x + t * K, xq + t * nq, e + t * ne, xa + t * ne);
    bn_screen_act a = {n_tok, xq, e, xa};
    for (int tier = BN_TIER_SCALAR; tier < BN_TIER_COUNT; tier++) {
        if (tier != BN_TIER_SCALAR && !bn_cpu_has_tier((bn_cpu_tier)tier)) continue;
        bn_head_screen_kernel_for_tier((bn_cpu_tier)tier)(s, &a, approx, radius, M, 0, M);
        for (int t = 0; t < n_tok; t++) {
            plain_logits(&h->w, (bn_cpu_tier)tier, x + t * K, L);
            for (int64_t m = 0; m < M; m++) {
                double A = approx[t * M + m], r = s->c * radius[t * M + m] + ldexp(fabs(A), -40);
                if (!(fabs((double)L[m] - A) <= r)) {
                    if (bad++ < 3)
                        fprintf(stderr, "  tier %s token %d row %lld: L %.9g A %.9g bound %.9g\n", bn_cpu_tier_name((bn_cpu_tier)tier), t,
                                (long long)m, L[m], A, r);
                }
            }
        }
    }
    free(xq); free(e); free(xa); free(approx); free(radius); free(L);
    return bad;
}

TEST(bound_holds_at_every_tier) {
    const int64_t widths[] = {32, 544, 2560};
    const uint32_t types[] = {BN_TYPE_F16, BN_TYPE_BF16, BN_TYPE_F32};
    for (int wi = 0; wi < 3; wi++)
        for (int ti = 0; ti < 3; ti++) {
            int64_t M = 37, K = widths[wi];
            float *w = malloc(sizeof(float) * (size_t)(M * K)), *x = malloc(sizeof(float) * (size_t)(5 * K));
            fill_weights(w, M, K, types[ti]);
            for (int v = 0; v < 4; v++) fill_x(x + v * K, K, v);
            for (int64_t k = 0; k < K; k++) x[4 * K + k] = 0.0f; /* all zero: every bound 0, every logit 0 */
            head h;
            head_make(&h, types[ti], M, K, w);
            bn_head_screen *s = screen_of(&h);
            CHECK(s != NULL);
            if (s) CHECK_EQ_INT(bound_violations(&h, s, x, 5), 0);
            bn_head_screen_free(s);
            free(h.data); free(w); free(x);
        }
}

/* The kernels' row blocks and token tiles (screen_rows.h): a token's approximate logits and
 * radii from a call with n tokens, over any row range, are the bits of the token alone over
 * all rows, at every tier (n = 1..8: partial tiles; 53 rows: 3 blocks of 16 and a partial one;
 * ranges starting inside a block). */
TEST(tokens_and_rows_batch_to_the_same_bits) {
    const int64_t M = 53, K = 544;
    const int N = 8;
    float *w = malloc(sizeof(float) * (size_t)(M * K)), *x = malloc(sizeof(float) * (size_t)(N * K));
    fill_weights(w, M, K, BN_TYPE_F16);
    for (int t = 0; t < N; t++) fill_x(x + t * K, K, t % 4);
    head h;
    head_make(&h, BN_TYPE_F16, M, K, w);
    bn_head_screen *s = screen_of(&h);
    CHECK(s != NULL);
    int64_t nq = s ? s->n_groups * 512 : 0, ne = s ? s->n_groups * 16 : 0;
    int16_t *xq = malloc(sizeof *xq * (size_t)(N * nq));
    float *e = malloc(sizeof(float) * (size_t)(N * ne)), *xa = malloc(sizeof(float) * (size_t)(N * ne));
    float *a1 = malloc(sizeof(float) * (size_t)(N * M)), *r1 = malloc(sizeof(float) * (size_t)(N * M));
    float *an = malloc(sizeof(float) * (size_t)(N * M)), *rn = malloc(sizeof(float) * (size_t)(N * M));
    const int64_t splits[][2] = {{0, 53}, {5, 40}, {17, 18}, {31, 53}};
    for (int tier = BN_TIER_SCALAR; s && tier < BN_TIER_COUNT; tier++) {
        if (tier != BN_TIER_SCALAR && !bn_cpu_has_tier((bn_cpu_tier)tier)) continue;
        bn_screen_kernel kern = bn_head_screen_kernel_for_tier((bn_cpu_tier)tier);
        for (int t = 0; t < N; t++) {
            bn_head_screen_prepare(s, x + t * K, xq + t * nq, e + t * ne, xa + t * ne);
            bn_screen_act one = {1, xq + t * nq, e + t * ne, xa + t * ne};
            kern(s, &one, a1 + t * M, r1 + t * M, M, 0, M);
        }
        int bad = 0;
        for (int n = 1; n <= N; n++)
            for (int sp = 0; sp < 4; sp++) {
                int64_t m0 = splits[sp][0], m1 = splits[sp][1];
                bn_screen_act all = {n, xq, e, xa};
                kern(s, &all, an, rn, M, m0, m1);
                for (int t = 0; t < n; t++)
                    for (int64_t m = m0; m < m1; m++)
                        bad += memcmp(&an[t * M + m], &a1[t * M + m], sizeof(float)) != 0 ||
                               memcmp(&rn[t * M + m], &r1[t * M + m], sizeof(float)) != 0;
            }
        if (bad) fprintf(stderr, "  tier %s: %d values differ from the token alone\n", bn_cpu_tier_name((bn_cpu_tier)tier), bad);
        CHECK_EQ_INT(bad, 0);
    }
    bn_head_screen_free(s);
    free(h.data); free(w); free(x); free(xq); free(e); free(xa); free(a1); free(r1); free(an); free(rn);
}

/* Candidates of one token through the whole path (prepare, the active tier's kernel, select). */
static int candidates(const head *h, const bn_head_screen *s, const float *x, int k, int32_t *cand, int cap) {
    int64_t M = h->w.out, nq = s->n_groups * 512, ne = s->n_groups * 16;
    int16_t *xq = malloc(sizeof *xq * (size_t)nq);
    float *e = malloc(sizeof(float) * (size_t)ne), *xa = malloc(sizeof(float) * (size_t)ne);
    float *approx = malloc(sizeof(float) * (size_t)M), *radius = malloc(sizeof(float) * (size_t)M);
    int n = -1;
    if (bn_head_screen_prepare(s, x, xq, e, xa)) {
        bn_screen_act a = {1, xq, e, xa};
        bn_head_screen_kernel_for_tier(bn_cpu_active_tier())(s, &a, approx, radius, M, 0, M);
        n = bn_head_screen_select(s, approx, radius, NULL, k, cand, cap);
    }
    free(xq); free(e); free(xa); free(approx); free(radius);
    return n;
}

static bool contains(const int32_t *c, int n, int32_t id) {
    for (int i = 0; i < n; i++)
        if (c[i] == id) return true;
    return false;
}

TEST(selection_keeps_ties_and_near_ties) {
    int64_t M = 64, K = 64;
    float *w = malloc(sizeof(float) * (size_t)(M * K)), x[64];
    for (int64_t k = 0; k < K; k++) x[k] = gauss();
    /* every row the same: all tie, all are candidates for k = 1 */
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++) w[m * K + k] = (float)((k * 7) % 13) / 13.0f - 0.5f;
    head h;
    head_make(&h, BN_TYPE_F16, M, K, w);
    bn_head_screen *s = screen_of(&h);
    int32_t cand[64];
    CHECK_EQ_INT(candidates(&h, s, x, 1, cand, 64), 64);
    CHECK_EQ_INT(candidates(&h, s, x, 1, cand, 63), -1); /* over the budget: the caller uses the plain head */
    bn_head_screen_free(s);
    free(h.data);
    /* row 40 = the shared row plus one f16 ulp on one weight: still within every bound of the
     * others, so they all stay; row 40 must be among them */
    float base = w[40 * K + 3];
    w[40 * K + 3] = bn_f16_to_f32((uint16_t)(bn_f32_to_f16(base) + 1));
    head_make(&h, BN_TYPE_F16, M, K, w);
    s = screen_of(&h);
    int n = candidates(&h, s, x, 1, cand, 64);
    CHECK(n == 64 && contains(cand, n, 40));
    bn_head_screen_free(s);
    free(h.data);
    /* rows 0..62 far below, row 63 far above: one candidate */
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < K; k++) w[m * K + k] = (m == 63 ? 1.0f : -1.0f) * (x[k] > 0 ? 1.0f : -1.0f) * 0.5f;
    head_make(&h, BN_TYPE_F16, M, K, w);
    s = screen_of(&h);
    n = candidates(&h, s, x, 1, cand, 64);
    CHECK(n == 1 && cand[0] == 63);
    CHECK_EQ_INT(candidates(&h, s, x, 2, cand, 64), 64); /* the second best ties with 62 others */
    float bad[64];
    memcpy(bad, x, sizeof bad);
    bad[9] = NAN;
    CHECK_EQ_INT(candidates(&h, s, bad, 1, cand, 64), -1);
    bn_head_screen_free(s);
    free(h.data);
    free(w);
}

/* Rows built to sit exactly on the decision boundary: row 1's upper bound equals row 0's lower
 * bound when the error is as large as the bound allows; whatever the kernel rounds, the
 * candidates must contain the best row of the plain head. Many random trials of near-equal
 * rows (differences of a fraction of a quantization step). */
TEST(selection_is_exact_on_near_boundary_rows) {
    int64_t M = 16, K = 96;
    float *w = malloc(sizeof(float) * (size_t)(M * K)), x[96], L[16];
    int misses = 0;
    for (int trial = 0; trial < 300; trial++) {
        for (int64_t k = 0; k < K; k++) x[k] = gauss() * (trial % 3 == 0 && k == 17 ? 50.0f : 1.0f);
        for (int64_t k = 0; k < K; k++) w[k] = gauss() * 0.1f;
        for (int64_t m = 1; m < M; m++) /* row m: row 0 moved by up to half a step on a few weights */
            for (int64_t k = 0; k < K; k++) w[m * K + k] = w[k] + (rnd() % 4 == 0 ? (gauss() * 0.0004f) : 0.0f);
        head h;
        head_make(&h, BN_TYPE_F16, M, K, w);
        bn_head_screen *s = screen_of(&h);
        plain_logits(&h.w, bn_cpu_active_tier(), x, L);
        int best = 0;
        for (int m = 1; m < M; m++)
            if (L[m] > L[best]) best = m;
        int32_t cand[16];
        for (int k = 1; k <= 3; k++) {
            int n = candidates(&h, s, x, k, cand, 16);
            if (n < 0 || !contains(cand, n, best)) misses++;
        }
        bn_head_screen_free(s);
        free(h.data);
    }
    CHECK_EQ_INT(misses, 0);
    free(w);
}

/* ---- end to end through the API ---- */

static bitnet_model *open_with(const char *path, bitnet_lm_head mode) {
    bitnet_model_params mp = bitnet_model_default_params();
    mp.lm_head = mode;
    bitnet_model *m = NULL;
    if (bitnet_model_open(path, &mp, &m) != 0) fprintf(stderr, "open %s: %s\n", path, bitnet_get_last_error());
    return m;
}

/* How one run samples (greedy when temperature is 0). */
typedef struct {
    float temp;
    int top_k;
    float repeat, top_p, min_p;
    bool bias; /* with test_bias */
} sampling;

/* A logit bias: boosts, a ban, a duplicate (summed) and a lowering. */
static const bitnet_logit_bias test_bias[] = {{5, 2.0f}, {77, 1.5f}, {200, -INFINITY}, {13, -3.0f}, {5, 0.5f}};
#define BANNED_TOKEN 200

/* Generated ids of one run with llama.cpp's other samplers as in `extra` (NULL: off);
 * *screened: tokens the screened head served (not the whole head). */
static int g_min_keep; /* every run's bitnet_generate_params.min_keep */
static const char *g_grammar; /* every run's bitnet_generate_params.grammar */
static int g_json_object;     /* ... and json_object */
static const char *g_samplers; /* ... and samplers */
static float g_adaptive_target = -1.0f; /* ... and adaptive_target */
static bool g_candidates;               /* ... with on_candidates: hash_candidates */
static uint64_t g_candidates_hash;      /* what it saw: every call's token, p and top list */

static uint64_t hash_mix(uint64_t h, uint64_t v) { return (h ^ v) * UINT64_C(0x100000001B3); }

static int hash_candidates(int32_t token, float p, const bitnet_token_prob *top, int n_top, void *user) {
    (void)user;
    uint32_t bits;
    memcpy(&bits, &p, sizeof bits);
    g_candidates_hash = hash_mix(hash_mix(g_candidates_hash, (uint64_t)token), bits);
    for (int i = 0; i < n_top; i++) {
        memcpy(&bits, &top[i].p, sizeof bits);
        g_candidates_hash = hash_mix(hash_mix(g_candidates_hash, (uint64_t)top[i].token), bits);
    }
    return 0;
}
static uint64_t g_fallbacks;  /* the screened head's fallbacks, summed over runs */

static int generate_extra(bitnet_model *m, sampling sa, const bitnet_sampling_extra *extra, int32_t *out, int max_out,
                          uint64_t *screened) {
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_ctx = 96;
    sp.n_threads = 2;
    bitnet_session *s = NULL;
    if (bitnet_session_create(m, &sp, &s) != 0) return -1;
    bitnet_generate_params gp = bitnet_generate_default_params();
    gp.max_tokens = max_out;
    gp.ignore_eog = 1;
    gp.sampling.temperature = sa.temp;
    gp.sampling.top_k = sa.top_k;
    gp.sampling.repeat_penalty = sa.repeat;
    gp.sampling.top_p = sa.top_p;
    gp.sampling.min_p = sa.min_p;
    gp.sampling.seed = 11;
    if (sa.bias) gp.logit_bias = test_bias, gp.n_logit_bias = (int)(sizeof test_bias / sizeof test_bias[0]);
    if (extra) gp.sampling_extra = *extra;
    gp.min_keep = g_min_keep;
    gp.grammar = g_grammar;
    gp.json_object = g_json_object;
    gp.samplers = g_samplers;
    gp.adaptive_target = g_adaptive_target;
    if (g_candidates) gp.on_candidates = hash_candidates, gp.n_candidates = 20;
    const int32_t prompt[] = {1, 17, 42, 99, 3};
    bitnet_generate_result r = {.struct_size = sizeof r};
    int rc = bitnet_session_generate(s, prompt, 5, &gp, out, max_out, &r);
    *screened = bn_state_head_stats(s->state).screened;
    g_fallbacks += bn_state_head_stats(s->state).fallbacks;
    bitnet_session_free(s);
    return rc ? -1 : r.n_generated;
}

static int generate(bitnet_model *m, sampling sa, int32_t *out, int max_out, uint64_t *screened) {
    return generate_extra(m, sa, NULL, out, max_out, screened);
}

static const char *small_model(const char *name, bool separate_head) {
    static char path[640];
    snprintf(path, sizeof path, "%s/test_head_screen_%s.gguf", tmpdir, name);
    bn_genmodel_params p;
    test_small_model_params(&p, "bitnet-b1.58", BN_TYPE_I2_S, 3);
    p.output_weight = separate_head;
    return test_write_model(&p, path);
}

/* The small model `name` opened with the screened LM head and with the plain one; false (a
 * failed check) when either does not open. */
static bool open_both(const char *name, bitnet_model **scr, bitnet_model **pla) {
    const char *path = small_model(name, false);
    *scr = open_with(path, BITNET_LM_HEAD_SCREEN), *pla = open_with(path, BITNET_LM_HEAD_PLAIN);
    CHECK(*scr && *pla);
    return *scr && *pla;
}

/* Unit summaries change no selection: bn_head_screen_select with the summaries of every unit
 * of BN_SCREEN_UNIT rows (as the pass computes them, then some rows lowered as forced ids
 * are, or summaries inflated) gives the count and ids of the full scan, on rows of many
 * shapes: random, all tied, all zero with zero radius (every upper bound equals the k-th
 * lower bound), the best rows in the last partial unit, a NaN. */
static int select_both(const bn_head_screen *s, const float *a, const float *r, const bn_screen_unit *u, int k, int cap) {
    int32_t c1[1024], c2[1024];
    int n1 = bn_head_screen_select(s, a, r, NULL, k, c1, cap), n2 = bn_head_screen_select(s, a, r, u, k, c2, cap);
    if (n1 != n2 || (n1 > 0 && memcmp(c1, c2, sizeof c1[0] * (size_t)n1) != 0)) return -2;
    return n1;
}

TEST(selection_with_unit_summaries_is_the_full_scans) {
    const int64_t sizes[] = {100, 768, 1000};
    const int ks[] = {1, 2, 5, 37, 200};
    float *a = malloc(sizeof(float) * 1000), *r = malloc(sizeof(float) * 1000);
    bn_screen_unit u[4];
    int bad = 0, found = 0;
    for (int si = 0; si < 3; si++)
        for (int shape = 0; shape < 5; shape++)
            for (int trial = 0; trial < 8; trial++) {
                bn_head_screen s = {.M = sizes[si], .c = 0.5 + 0.1 * trial};
                for (int64_t m = 0; m < s.M; m++) {
                    a[m] = shape == 1 ? 1.25f : shape == 2 ? 0.0f : gauss() * (trial % 2 ? 10.0f : 0.01f);
                    r[m] = shape == 2 ? 0.0f : fabsf(gauss()) * 0.05f;
                    if (shape == 3 && m >= s.M - 7) a[m] += 100.0f; /* the best at the end */
                }
                if (shape == 4) a[rnd() % s.M] = NAN;
                int64_t nu = (s.M + BN_SCREEN_UNIT - 1) / BN_SCREEN_UNIT;
                for (int64_t i = 0; i < nu; i++)
                    bn_head_screen_unit(&s, a, r, i * BN_SCREEN_UNIT, (i + 1) * BN_SCREEN_UNIT < s.M ? (i + 1) * BN_SCREEN_UNIT : s.M, &u[i]);
                if (trial % 4 == 3 && shape != 2 && shape != 4) /* rows lowered after the pass (forced ids) */
                    for (int i = 0; i < 5; i++) {
                        int64_t m = rnd() % s.M;
                        a[m] = -FLT_MAX, r[m] = 0.0f;
                    }
                if (trial % 4 == 2) /* summaries larger than what they summarize */
                    for (int64_t i = 0; i < nu; i++) u[i].lo += 1.0, u[i].hi += 1.0;
                for (int ki = 0; ki < 5; ki++)
                    for (int cap = 3; cap <= 1024; cap += 1021) {
                        int n = select_both(&s, a, r, u, ks[ki], cap);
                        bad += n == -2;
                        found += n > 0;
                        if (shape == 4 && n != -1) bad++; /* a NaN: the whole head */
                        if (shape == 2 && cap == 1024 && ks[ki] <= s.M && n != s.M) bad++; /* all zero: every row */
                    }
            }
    CHECK_EQ_INT(bad, 0);
    CHECK(found > 100);
    free(a);
    free(r);
}

TEST(generation_identical_to_the_plain_head) {
    const char *paths[2] = {small_model("tied", false), NULL};
    char p2[640];
    snprintf(p2, sizeof p2, "%s", paths[0] ? paths[0] : "");
    paths[0] = p2;
    paths[1] = small_model("separate", true);
    for (int i = 0; i < 2; i++) {
        bitnet_model *scr = open_with(paths[i], BITNET_LM_HEAD_SCREEN), *pla = open_with(paths[i], BITNET_LM_HEAD_PLAIN);
        CHECK(scr && pla);
        if (!scr || !pla) break;
        bitnet_model_desc md = {.struct_size = sizeof md};
        bitnet_model_describe(scr, &md);
        CHECK(md.lm_head == BITNET_LM_HEAD_SCREEN);
        /* screened: whether the screened head serves every token (else the whole head does) */
        const struct { sampling sa; bool screened; } cases[] = {
            {{0.0f, 40, 1.0f, 0.95f, 0.05f, false}, true}, {{0.0f, 40, 1.3f, 0.95f, 0.05f, false}, true},
            {{0.9f, 40, 1.0f, 0.95f, 0.05f, false}, true}, {{1.5f, 5, 1.2f, 0.95f, 0.05f, false}, true},
            {{0.7f, 1024, 0.8f, 0.95f, 0.05f, false}, false} /* k > vocabulary */, {{0.8f, 0, 1.0f, 0.95f, 0.05f, false}, false}, /* top-p alone */
            /* temperature draws without top-k (the Gumbel screen): plain, min_p, penalties,
             * penalties with min_p (the whole head), near-greedy and flat temperatures */
            {{1.0f, 0, 1.0f, 1.0f, 0.0f, false}, true}, {{0.7f, 0, 1.0f, 1.0f, 0.05f, false}, true},
            {{1.3f, 0, 1.2f, 1.0f, 0.0f, false}, true}, {{0.9f, 0, 1.2f, 1.0f, 0.1f, false}, false},
            {{0.02f, 0, 1.0f, 1.0f, 0.0f, false}, true}, {{25.0f, 0, 1.0f, 1.0f, 0.0f, false}, true},
            /* a logit bias (forced rows, as the penalized ones): greedy, top-k with penalties,
             * the Gumbel screen, and with min_p (the whole head) */
            {{0.0f, 40, 1.0f, 0.95f, 0.05f, true}, true}, {{1.5f, 5, 1.2f, 0.95f, 0.05f, true}, true},
            {{1.0f, 0, 1.0f, 1.0f, 0.0f, true}, true}, {{0.7f, 0, 1.0f, 1.0f, 0.05f, true}, false}};
        int32_t unbiased[48] = {0};
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            int32_t a[48], b[48];
            uint64_t sa = 0, sb = 0;
            int na = generate(scr, cases[c].sa, a, 48, &sa);
            int nb = generate(pla, cases[c].sa, b, 48, &sb);
            CHECK_MSG(na == 48 && nb == 48 && memcmp(a, b, sizeof a) == 0, "model %d case %zu: %d/%d tokens differ", i, c, na, nb);
            if (c == 0) memcpy(unbiased, a, sizeof a);
            for (int t = 0; cases[c].sa.bias && t < 48; t++) CHECK_MSG(a[t] != BANNED_TOKEN, "model %d case %zu: a banned token", i, c);
            if (cases[c].sa.bias && cases[c].sa.temp == 0.0f) /* the bias is not a no-op on this model */
                CHECK_MSG(memcmp(a, unbiased, sizeof a) != 0, "model %d: the biased greedy run is the unbiased one", i);
            /* every generated token but the last is drawn from a screened row (or none is) */
            CHECK_MSG(sb == 0 && (cases[c].screened ? sa >= 47 : sa == 0), "model %d case %zu: %llu tokens screened", i, c,
                      (unsigned long long)sa);
        }
        bitnet_model_close(scr);
        bitnet_model_close(pla);
    }
}

/* llama.cpp's other samplers (bitnet_sampling_extra), screened vs plain head: the same tokens.
 * Typical-p, XTC and the dynamic temperature after top-k read its k best only, so the screened
 * head serves them; without top-k, and mirostat and top-n-sigma always, read every logit; DRY
 * is served (its window's tokens computed exactly). */
TEST(other_samplers_identical_to_the_plain_head) {
    bitnet_model *scr, *pla;
    if (!open_both("extra", &scr, &pla)) return;
    const sampling top_k = {0.9f, 40, 1.0f, 0.95f, 0.05f, false}, no_top_k = {0.9f, 0, 1.0f, 1.0f, 0.0f, false};
    for (int c = 0; c < 14; c++) {
        bitnet_sampling_extra x = bitnet_sampling_extra_default_params();
        int kind = c % 7;
        if (kind == 0) x.typical_p = 0.3f;
        if (kind == 1) x.xtc_probability = 1.0f, x.xtc_threshold = 0.02f;
        if (kind == 2) x.dynatemp_range = 0.6f, x.dynatemp_exponent = 1.5f;
        if (kind == 3) x.mirostat = 1, x.mirostat_tau = 4.0f;
        if (kind == 4) x.mirostat = 2, x.mirostat_tau = 3.0f;
        if (kind == 5) x.top_n_sigma = 1.5f;
        if (kind == 6) x.dry_multiplier = 3.0f, x.dry_allowed_length = 1, x.dry_penalty_last_n = 48;
        /* DRY lowers tokens of its window only: they are computed exactly, like the penalized */
        bool with_top_k = c < 7, screened = (with_top_k && kind <= 2) || kind == 6;
        int32_t a[40], b[40];
        uint64_t sa = 0, sb = 0;
        int na = generate_extra(scr, with_top_k ? top_k : no_top_k, &x, a, 40, &sa);
        int nb = generate_extra(pla, with_top_k ? top_k : no_top_k, &x, b, 40, &sb);
        CHECK_MSG(na == 40 && nb == 40 && memcmp(a, b, sizeof a) == 0, "case %d: %d/%d tokens differ", c, na, nb);
        CHECK_MSG(sb == 0 && (screened ? sa >= 39 : sa == 0), "case %d: %llu tokens screened", c, (unsigned long long)sa);
        int32_t off[40]; /* the sampler is not a no-op here */
        CHECK_MSG(generate(pla, with_top_k ? top_k : no_top_k, off, 40, &sb) == 40 && memcmp(a, off, sizeof a) != 0,
                  "case %d: the same tokens as without the sampler", c);
    }
    bitnet_model_close(scr);
    bitnet_model_close(pla);
}

/* min_keep, screened vs plain head: the same tokens. With top-k the screened head serves it
 * (min_keep counts within the k best); min_p without top-k reads every logit with min_keep > 1
 * (the min_keep best may lie below the threshold the draw screens by), and min_keep changes
 * the tokens there. */
TEST(min_keep_identical_to_the_plain_head) {
    bitnet_model *scr, *pla;
    if (!open_both("min_keep", &scr, &pla)) return;
    const sampling cases[] = {{1.3f, 0, 1.0f, 1.0f, 0.9f, false}, {1.0f, 40, 1.0f, 0.3f, 0.0f, false}, {1.0f, 40, 1.0f, 1.0f, 0.8f, false}};
    for (int c = 0; c < 3; c++) {
        int32_t a[40], b[40], off[40];
        uint64_t sa = 0, sb = 0, so = 0;
        g_min_keep = 12;
        int na = generate(scr, cases[c], a, 40, &sa), nb = generate(pla, cases[c], b, 40, &sb);
        g_min_keep = 0;
        int no = generate(pla, cases[c], off, 40, &so);
        CHECK_MSG(na == 40 && nb == 40 && memcmp(a, b, sizeof a) == 0, "case %d: %d/%d tokens differ", c, na, nb);
        CHECK_MSG(sb == 0 && (c == 0 ? sa == 0 : sa >= 39), "case %d: %llu tokens screened", c, (unsigned long long)sa);
        CHECK_MSG(no == 40 && memcmp(a, off, sizeof a) != 0, "case %d: min_keep changed nothing", c);
    }
    bitnet_model_close(scr);
    bitnet_model_close(pla);
}

/* The samplers in another order (bitnet_generate_params.samplers), screened vs plain head: the
 * same tokens. An order whose first filter is top-k (after the penalties, DRY, a fixed
 * temperature) reads its k best, so the screened head serves it, a constraint too; one that
 * filters the whole distribution first (min-p, top-p) reads every logit. Adaptive-p likewise:
 * after top-k served, without it every logit. */
TEST(another_order_identical_to_the_plain_head) {
    bitnet_model *scr, *pla;
    if (!open_both("order", &scr, &pla)) return;
    const struct { sampling sa; const char *order, *grammar; bool screened; } cases[] = {
        {{1.5f, 40, 1.0f, 0.5f, 0.05f, false}, "temperature;top_k;top_p;min_p", NULL, true},
        {{1.5f, 5, 1.2f, 0.95f, 0.05f, true}, "penalties;temperature;top_k;min_p;top_p;temperature", NULL, true},
        {{0.0f, 40, 1.2f, 0.95f, 0.05f, false}, "temperature;penalties;top_k", NULL, true},
        {{1.5f, 40, 1.0f, 0.95f, 0.3f, false}, "temperature;min_p;top_k", NULL, false},
        {{0.0f, 40, 1.0f, 0.95f, 0.05f, false}, "top_p;temperature;top_k", NULL, false},
        {{1.2f, 5, 1.0f, 0.9f, 0.05f, false}, "temperature;top_k;top_p", "root ::= [a-z ]+\n", true},
        /* adaptive-p: after top-k in the default order or another, served; without top-k not */
        {{1.0f, 40, 1.0f, 0.95f, 0.05f, false}, "top_k;min_p;temperature;adaptive_p", NULL, true},
        {{1.0f, 40, 1.0f, 0.95f, 0.05f, false}, "temperature;top_k;adaptive_p", NULL, true},
        {{1.0f, 0, 1.0f, 1.0f, 0.05f, false}, "min_p;temperature;adaptive_p", NULL, false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t a[40], b[40];
        uint64_t sa = 0, sb = 0;
        g_samplers = cases[c].order, g_grammar = cases[c].grammar;
        g_adaptive_target = strstr(cases[c].order, "adaptive_p") ? 0.2f : -1.0f;
        int na = generate(scr, cases[c].sa, a, 40, &sa), nb = generate(pla, cases[c].sa, b, 40, &sb);
        CHECK_MSG(na > 0 && na == nb && memcmp(a, b, sizeof a[0] * (size_t)na) == 0, "case %zu: %d/%d tokens differ", c, na, nb);
        CHECK_MSG(sb == 0 && (cases[c].screened ? sa >= (uint64_t)na / 2 : sa == 0), "case %zu: %llu of %d tokens screened", c,
                  (unsigned long long)sa, na);
    }
    g_samplers = NULL, g_grammar = NULL, g_adaptive_target = -1.0f;
    bitnet_model_close(scr);
    bitnet_model_close(pla);
}

/* on_candidates, screened vs plain head: the same tokens and the same distributions, bit for
 * bit (the survivors of greedy and top-k are among the rows the head computes exactly); a
 * temperature draw without top-k has every logit computed (the rows that can win it do not
 * make its distribution). */
TEST(candidates_identical_to_the_plain_head) {
    bitnet_model *scr, *pla;
    if (!open_both("candidates", &scr, &pla)) return;
    const struct { sampling sa; bool screened; } cases[] = {
        {{0.0f, 40, 1.0f, 0.95f, 0.05f, false}, true}, {{0.9f, 40, 1.2f, 0.8f, 0.05f, true}, true}, {{1.0f, 0, 1.0f, 1.0f, 0.05f, false}, false}};
    g_candidates = true;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t a[32], b[32];
        uint64_t sa = 0, sb = 0, ha, hb;
        g_candidates_hash = 1;
        int na = generate(scr, cases[c].sa, a, 32, &sa);
        ha = g_candidates_hash, g_candidates_hash = 1;
        int nb = generate(pla, cases[c].sa, b, 32, &sb);
        hb = g_candidates_hash;
        CHECK_MSG(na == 32 && nb == 32 && memcmp(a, b, sizeof a) == 0 && ha == hb && ha != 1, "case %zu: tokens or distributions differ", c);
        CHECK_MSG(sb == 0 && (cases[c].screened ? sa >= 31 : sa == 0), "case %zu: %llu tokens screened", c, (unsigned long long)sa);
    }
    g_candidates = false;
    bitnet_model_close(scr);
    bitnet_model_close(pla);
}

/* Constrained generation (a grammar, json_object), screened vs plain head: the same tokens.
 * A greedy or top-k draw is screened with more rows than it reads, a temperature draw without
 * top-k as without a constraint, and the constraint checks the row in the head: rows whose
 * best tokens it mostly refuses (or whose draw it refuses) fall back to the plain head (both
 * happen here, the draws too). */
TEST(constraint_identical_to_the_plain_head) {
    bitnet_model *scr, *pla;
    if (!open_both("constraint", &scr, &pla)) return;
    const sampling cases[] = {{0.0f, 40, 1.0f, 0.95f, 0.05f, false}, {0.0f, 40, 1.3f, 0.95f, 0.05f, true},
                              {0.9f, 5, 1.0f, 0.95f, 0.05f, false},  {1.2f, 40, 1.2f, 0.9f, 0.0f, true},
                              {1.0f, 0, 1.0f, 1.0f, 0.0f, false}};
    const char *grammars[] = {"root ::= [a-z ]+\n", "root ::= ([0-9]+ \",\" | \"ok\")+\n", NULL};
    uint64_t screened = 0, draws_screened = 0;
    g_fallbacks = 0;
    for (int gi = 0; gi < 3; gi++)
        for (int c = 0; c < 5; c++) {
            g_grammar = grammars[gi];
            g_json_object = gi == 2;
            int32_t a[32], b[32];
            uint64_t sa = 0, sb = 0;
            int na = generate(scr, cases[c], a, 32, &sa), nb = generate(pla, cases[c], b, 32, &sb);
            CHECK_MSG(na > 0 && na == nb && memcmp(a, b, sizeof a[0] * (size_t)na) == 0, "grammar %d case %d: %d/%d tokens differ", gi, c, na,
                      nb);
            CHECK_MSG(sb == 0, "grammar %d case %d: %llu tokens screened by the plain head", gi, c, (unsigned long long)sb);
            screened += sa;
            if (c == 4) draws_screened += sa;
        }
    g_grammar = NULL;
    g_json_object = 0;
    printf("# constraint: %llu rows screened, %llu fell back to the plain head\n", (unsigned long long)screened, (unsigned long long)g_fallbacks);
    CHECK(screened >= 40 && g_fallbacks >= 10 && draws_screened >= 1);
    bitnet_model_close(scr);
    bitnet_model_close(pla);
}

/* The screened logits row through bn_state_eval_head: candidates bit-identical to the plain
 * head's logits, every other entry -inf. */
TEST(screened_row_is_exact_where_not_masked) {
    bitnet_model *scr, *pla;
    if (!open_both("rows", &scr, &pla)) return;
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_ctx = 32;
    bitnet_session *s1 = NULL, *s2 = NULL;
    CHECK(bitnet_session_create(scr, &sp, &s1) == 0 && bitnet_session_create(pla, &sp, &s2) == 0);
    float a[300], b[300];
    const int32_t toks[] = {5, 6, 7, 8};
    int32_t force[] = {123, 7};
    bn_head_req req = {.k = 3, .force = force, .n_force = 2};
    CHECK(bn_state_eval_head(s1->state, toks, 4, a, &req) == 0);
    CHECK(bitnet_session_eval(s2, toks, 4, b, 0) == 0);
    int exact = 0, masked = 0, wrong = 0;
    for (int i = 0; i < 300; i++) {
        if (a[i] == -INFINITY) masked++;
        else if (memcmp(&a[i], &b[i], sizeof a[i]) == 0) exact++;
        else wrong++;
    }
    CHECK(wrong == 0 && exact >= 3 && exact + masked == 300 && a[123] == b[123] && a[7] == b[7]);
    bn_head_stats st = bn_state_head_stats(s1->state);
    CHECK(st.screened == 1 && st.candidates >= 3 && st.fallbacks == 0);
    bitnet_session_free(s1);
    bitnet_session_free(s2);
    bitnet_model_close(scr);
    bitnet_model_close(pla);
}

/* Four slots of a batch, greedy and sampled, screened vs plain: the same tokens (slot 3 with
 * an on_logits callback, so steps mix screened and plain rows). */
typedef struct {
    int32_t ids[24];
    int n;
} sink;

static int collect(int32_t token, const char *text, size_t len, void *user) {
    sink *k = user;
    (void)text, (void)len;
    if (token >= 0 && k->n < 24) k->ids[k->n++] = token;
    return 0;
}

/* Slot 3 looks at its logits (as a logprobs request does): its rows take the plain head while
 * the other slots of the same steps are screened. */
static int look_at_logits(const float *logits, int64_t n_vocab, int32_t token, void *user) {
    (void)user;
    return token < 0 || token >= n_vocab || logits[token] == -INFINITY; /* a drawn token was computed */
}

/* d: the batch's description after the run (its LM head counters). */
static int batch_run(bitnet_model *m, sink out[4], bitnet_batch_desc *d) {
    bitnet_batch_params bp = bitnet_batch_default_params();
    bp.n_slots = 4;
    bp.n_ctx = 64;
    bp.n_threads = 2;
    bitnet_batch *b = NULL;
    if (bitnet_batch_create(m, &bp, &b)) return -1;
    bitnet_generate_params gp[4];
    int32_t prompts[4][3];
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++) {
        gp[i] = bitnet_generate_default_params();
        gp[i].max_tokens = 24;
        gp[i].ignore_eog = 1;
        gp[i].sampling.temperature = i % 2 ? 0.8f : 0.0f;
        gp[i].sampling.top_k = i == 1 ? 0 : 20; /* slot 1: a temperature draw without top-k or top-p */
        if (i == 1) gp[i].sampling.top_p = 1.0f;
        gp[i].sampling.seed = (uint64_t)i;
        gp[i].on_token = collect;
        gp[i].user_data = &out[i];
        if (i == 3) gp[i].on_logits = look_at_logits;
        if (i == 2) gp[i].grammar = "root ::= [a-z ]+\n"; /* checked in the head, or refused there (the plain head) */
        out[i].n = 0;
        for (int k = 0; k < 3; k++) prompts[i][k] = 10 * i + k + 1;
        rc = bitnet_batch_submit(b, i, prompts[i], 3, &gp[i], NULL);
    }
    int busy = 1;
    while (!rc && (busy = bitnet_batch_step(b)) > 0) {}
    *d = (bitnet_batch_desc){.struct_size = sizeof *d};
    if (!rc) rc = bitnet_batch_describe(b, d);
    bitnet_batch_free(b);
    return rc || busy < 0 ? -1 : 0;
}

TEST(batch_identical_to_the_plain_head) {
    bitnet_model *scr, *pla;
    if (!open_both("batch", &scr, &pla)) return;
    sink a[4], b[4];
    bitnet_batch_desc da, db;
    CHECK(batch_run(scr, a, &da) == 0 && batch_run(pla, b, &db) == 0);
    for (int i = 0; i < 4; i++) CHECK(a[i].n == 24 && b[i].n == 24 && memcmp(a[i].ids, b[i].ids, sizeof a[i].ids) == 0);
    /* the counters the server's /metrics shows: slots 0-1 screened (24 rows each), slot 2's
     * screened, fallen back (its grammar refused the row) or plain (after such a row), slot
     * 3's rows by the plain head (it looks at the logits); nothing counted without the
     * screened head */
    CHECK_MSG(da.head_rows_screened + da.head_rows_fallback + da.head_rows_plain == 96 && da.head_rows_screened >= 48 &&
                  da.head_rows_plain >= 24 &&
                  da.head_candidate_rows >= da.head_rows_screened,
              "screened %llu fallback %llu plain %llu candidates %llu", (unsigned long long)da.head_rows_screened,
              (unsigned long long)da.head_rows_fallback, (unsigned long long)da.head_rows_plain,
              (unsigned long long)da.head_candidate_rows);
    CHECK(db.head_rows_screened == 0 && db.head_rows_fallback == 0 && db.head_rows_plain == 0 && db.head_candidate_rows == 0);
    bitnet_model_close(scr);
    bitnet_model_close(pla);
}

TEST(api_names_and_modes) {
    bitnet_lm_head h;
    CHECK(bitnet_lm_head_from_name("screen", &h) == 0 && h == BITNET_LM_HEAD_SCREEN);
    CHECK(bitnet_lm_head_from_name("f16", &h) == 0 && h == BITNET_LM_HEAD_PLAIN);
    CHECK(bitnet_lm_head_from_name("bogus", &h) == BITNET_ERR_INVALID_ARGUMENT && strstr(bitnet_get_last_error(), "bogus"));
    CHECK_STR(bitnet_lm_head_name(BITNET_LM_HEAD_Q8), "q8");
    const char *path = small_model("modes", false);
    bitnet_model_params mp = bitnet_model_default_params();
    mp.lm_head_q8 = 1;
    mp.lm_head = BITNET_LM_HEAD_SCREEN;
    bitnet_model *m = NULL;
    CHECK(bitnet_model_open(path, &mp, &m) == BITNET_ERR_INVALID_ARGUMENT);
    mp.lm_head_q8 = 0;
    mp.lm_head = (bitnet_lm_head)99;
    CHECK(bitnet_model_open(path, &mp, &m) == BITNET_ERR_INVALID_ARGUMENT);
    /* a caller built before the field existed: its smaller struct opens with the default (auto) */
    mp = bitnet_model_default_params();
    mp.struct_size = offsetof(bitnet_model_params, lm_head);
    CHECK(bitnet_model_open(path, &mp, &m) == 0);
    bitnet_model_desc md = {.struct_size = sizeof md};
    if (m) {
        bitnet_model_describe(m, &md);
        /* auto: the screened head where it is the default (x86 and the scalar tier) */
        CHECK(md.lm_head == (bn_head_screen_by_default(bn_cpu_active_tier()) ? BITNET_LM_HEAD_SCREEN : BITNET_LM_HEAD_PLAIN));
        bitnet_model_close(m);
    }
}

TEST_MAIN_BEGIN("test_head_screen")
    const char *dir = getenv("BITNET_TEST_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s", dir ? dir : "/tmp");
    RUN(copy_rounds_within_half_a_step);
    RUN(copy_refuses_what_it_cannot_hold);
    RUN(fill_kernels_give_the_portable_bytes);
    RUN(bound_holds_at_every_tier);
    RUN(tokens_and_rows_batch_to_the_same_bits);
    RUN(selection_keeps_ties_and_near_ties);
    RUN(selection_is_exact_on_near_boundary_rows);
    RUN(selection_with_unit_summaries_is_the_full_scans);
    RUN(generation_identical_to_the_plain_head);
    RUN(other_samplers_identical_to_the_plain_head);
RUN(min_keep_identical_to_the_plain_head);
    RUN(constraint_identical_to_the_plain_head);
    RUN(another_order_identical_to_the_plain_head);
    RUN(candidates_identical_to_the_plain_head);
    RUN(screened_row_is_exact_where_not_masked);
    RUN(batch_identical_to_the_plain_head);
    RUN(api_names_and_modes);
TEST_MAIN_END()
