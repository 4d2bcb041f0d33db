/* test_attention: the SIMD attention kernels of every tier this CPU has against the scalar
 * reference bn_attention_ref (attention.h): head_dim 64 and 128, GQA groups of 1 and 4 query
 * heads per KV head, batches of 1..9 tokens after 0..291 cached positions (keys up to 300,
 * so blocks of 16 are cut everywhere; the keys past a job's are NaN bytes, so reading one
 * shows), large scores (the running max matters): within 1e-5 of max |v|. And the property
 * the forward pass relies on for bit-identical results across batch sizes and threads: a row
 * computed alone equals the same row computed in a job of many rows, bit for bit, at every
 * tier (tiers that share a kernel function run it once). Every KV cache type (f32, f16, q8_0,
 * for K and V independently; head_dim 96 and 40 too): the kernels read the cache in its type
 * and must match the reference on the decoded values within the same 1e-5. And the cache
 * conversions (f16 round-to-nearest-even, llama.cpp's q8_0). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/attention.h"
#include "kernels/cpu.h"
#include "test.h"
#include "util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float uniform_pm1(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

#define MAX_ROWS 64

/* One KV head's cache in the types kt / vt (attention.h layouts; V rows hold two heads, the
 * job reads the second: it must honour the stride) and the query rows of `n_tok` tokens after
 * `n_past` positions. */
typedef struct case_data {
    int64_t hd, group, n_rows;
    bn_kv_type kt, vt;
    char *k, *v;
    float *q, *out, *scratch;
    const float *qp[MAX_ROWS];
    float *op[MAX_ROWS];
    int64_t pos[MAX_ROWS];
    bn_attn_job job;
} case_data;

static void setup_types(case_data *c, bn_kv_type kt, bn_kv_type vt, int64_t hd, int64_t group, int64_t n_past, int64_t n_tok,
                        float q_mag) {
    uint64_t kb = bn_kv_k_block_bytes(kt, hd), vr = bn_kv_v_row_bytes(vt, hd);
    float *x = malloc(sizeof(float) * (size_t)hd);
    c->hd = hd;
    c->group = group;
    c->kt = kt;
    c->vt = vt;
    c->n_rows = n_tok * group;
    /* The blocks holding the job's keys and one more (an over-read lands in it or, under ASan,
     * past the allocation). */
    int64_t n_blocks = (n_past + n_tok + BN_ATTN_BLOCK - 1) / BN_ATTN_BLOCK + 1;
    size_t k_bytes = (size_t)(kb * n_blocks), v_bytes = (size_t)(2 * vr * n_blocks * BN_ATTN_BLOCK);
    c->k = malloc(k_bytes);
    c->v = malloc(v_bytes);
    c->q = malloc(sizeof(float) * (size_t)(c->n_rows * hd));
    c->out = malloc(sizeof(float) * (size_t)(c->n_rows * hd));
    c->scratch = aligned_alloc(64, (bn_attention_scratch_floats(c->n_rows, hd) * sizeof(float) + 63) & ~(size_t)63);
    /* Only the keys the job reaches (positions 0 .. n_past + n_tok - 1) are written, as the
     * engine's cache holds them (a block's first position clears its other lanes); everything
     * past them is NaN bytes, so a kernel that reads a key it must not poisons its output. */
    memset(c->k, 0xff, k_bytes);
    memset(c->v, 0xff, v_bytes);
    for (int64_t p = 0; p < n_past + n_tok; p++) {
        for (int64_t d = 0; d < hd; d++) x[d] = uniform_pm1();
        bn_kv_store_k(kt, c->k + (p / BN_ATTN_BLOCK) * kb, (int)(p % BN_ATTN_BLOCK), x, hd);
        for (int h = 0; h < 2; h++) {
            for (int64_t d = 0; d < hd; d++) x[d] = uniform_pm1();
            bn_kv_store_v(vt, c->v + (2 * p + h) * vr, x, hd);
        }
    }
    for (int64_t i = 0; i < c->n_rows * hd; i++) c->q[i] = uniform_pm1() * q_mag;
    for (int64_t r = 0; r < c->n_rows; r++) {
        c->qp[r] = c->q + r * hd;
        c->op[r] = c->out + r * hd;
        c->pos[r] = n_past + r / group;
    }
    c->job = (bn_attn_job){.n_rows = c->n_rows, .head_dim = hd, .q = c->qp, .out = c->op, .pos = c->pos,
                           .k_type = kt, .v_type = vt, .k = c->k, .v = c->v + vr, .v_stride = (int64_t)(2 * vr),
                           .scale = 1.0f / sqrtf((float)hd), .scratch = c->scratch};
    free(x);
}

static void setup(case_data *c, int64_t hd, int64_t group, int64_t n_past, int64_t n_tok, float q_mag) {
    setup_types(c, BN_KV_F32, BN_KV_F32, hd, group, n_past, n_tok, q_mag);
}

static void teardown(case_data *c) {
    free(c->k);
    free(c->v);
    free(c->q);
    free(c->out);
    free(c->scratch);
}

/* Tier t's kernel, or NULL when this CPU lacks the tier or an earlier tier has the same
 * function (avx2 and avxvnni share one, avx512 and amx one, neon and dotprod one): the same
 * code on the same inputs gives the same bits, so each kernel runs the sweeps once. */
static bn_attention_kernel distinct_kernel(int t) {
    bn_attention_kernel k = bn_attention_kernel_for_tier((bn_cpu_tier)t);
    for (int u = BN_TIER_AVX2; k && u < t; u++)
        if (bn_attention_kernel_for_tier((bn_cpu_tier)u) == k) return NULL;
    return k;
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

/* The tier kernels against the reference for one pair of cache types: level 2 the whole sweep
 * (head_dim 64, 128, 96 and 40, ten pasts, 1..16 tokens, three q scales), level 1 a part of it
 * with an awkward head_dim, level 0 a few cases (the reference decodes the cache per row and
 * key, which is slow under the sanitizers). */
static void sweep_types(bn_kv_type kt, bn_kv_type vt, int level) {
    static const int64_t hds[] = {64, 128, 96, 40}, groups[] = {1, 4};
    static const int64_t pasts[] = {0, 1, 14, 15, 16, 17, 31, 100, 255, 291};
    /* x group 1 and 4: 1 to 64 rows; from 16 rows, AVX-512 takes rows in groups of 16 (full,
     * partial, a job's first active row inside a group) */
    static const int64_t n_toks[] = {1, 5, 9, 16};
    /* q x1; x40: peaked weights; x0: all scores equal (uniform weights) */
    static const float mags[] = {1.0f, 40.0f, 0.0f};
    size_t h0 = level == 2 ? 0 : 1, h1 = level == 2 ? 4 : level == 1 ? 4 : 2, pstep = level == 2 ? 1 : level == 1 ? 2 : 4;
    size_t tstep = level == 2 ? 1 : 3, nmag = level == 2 ? 3 : level == 1 ? 2 : 1, g0 = level ? 0 : 1;
    for (int t = BN_TIER_AVX2; t < BN_TIER_COUNT; t++) {
        bn_attention_kernel kern = distinct_kernel(t);
        if (!kern) continue;
        for (size_t h = h0; h < h1; h++) {
            int64_t hd = hds[h];
            if ((kt == BN_KV_Q8_0 || vt == BN_KV_Q8_0) && hd % BN_KV_QK) continue; /* not a q8_0 shape */
            for (size_t g = g0; g < 2; g++)
                for (size_t p = 0; p < sizeof pasts / sizeof pasts[0]; p += pstep)
                    for (size_t nt = 0; nt < sizeof n_toks / sizeof n_toks[0]; nt += tstep)
                        for (size_t big = 0; big < nmag; big++) {
                            int64_t n_tok = n_toks[nt];
                            case_data c;
                            setup_types(&c, kt, vt, hd, groups[g], pasts[p], n_tok, mags[big]);
                            double worst = compare_tier(&c, kern);
                            /* outputs are convex combinations of the decoded v (|v| <= 1); -1: the
                             * kernel declined (a head_dim its width does not divide), then the
                             * reference runs */
                            bool declined = worst == -1.0 && hd % (t >= BN_TIER_AVX512 ? 16 : 8);
                            CHECK_MSG(declined || (worst >= 0 && worst <= 1e-5),
                                      "tier %s K %s V %s hd %lld group %lld past %lld tokens %lld q x%d: max |diff| %g",
                                      bn_cpu_tier_name((bn_cpu_tier)t), bn_kv_type_name(kt), bn_kv_type_name(vt), (long long)hd,
                                      (long long)groups[g], (long long)pasts[p], (long long)n_tok, (int)mags[big], worst);
                            teardown(&c);
                        }
        }
    }
}

/* f32 over the whole sweep, f16 and q8_0 (K and V alike) over a part, the mixed pairs on a few
 * cases. */
TEST(simd_matches_reference) {
    int n_tiers = 0;
    for (int t = BN_TIER_AVX2; t < BN_TIER_COUNT; t++) n_tiers += distinct_kernel(t) != NULL;
    for (int kt = 0; kt < BN_KV_TYPE_COUNT; kt++)
        for (int vt = 0; vt < BN_KV_TYPE_COUNT; vt++)
            sweep_types((bn_kv_type)kt, (bn_kv_type)vt, kt != vt ? 0 : kt == BN_KV_F32 ? 2 : 1);
    if (!n_tiers) printf("  (no SIMD attention tier on this CPU: only the reference runs)\n");
}

/* Row r computed in the full job vs alone (a job of that one row): identical bits. On
 * AVX-512 the full jobs take the 16-row group path and the single rows the row path. */
TEST(rows_independent_of_job) {
    /* {head_dim, group, first position, tokens}: 36 rows at 37..45; 20 rows at 15..34 (a block
     * boundary inside a group); 64 rows at 0..15; 64 rows at 250..265 and 40 at 240..279 */
    static const int64_t cases[][4] = {{128, 4, 37, 9}, {64, 1, 15, 20}, {128, 4, 0, 16}, {128, 4, 250, 16}, {64, 1, 240, 40}};
    for (int ty = 0; ty < BN_KV_TYPE_COUNT; ty++)
    for (int t = BN_TIER_SCALAR; t < BN_TIER_COUNT; t++) {
        bn_attention_kernel kern = t == BN_TIER_SCALAR ? NULL : distinct_kernel(t);
        if (t != BN_TIER_SCALAR && !kern) continue;
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            case_data c;
            setup_types(&c, (bn_kv_type)ty, (bn_kv_type)ty, cases[k][0], cases[k][1], cases[k][2], cases[k][3], 3.0f);
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
            CHECK_MSG(mismatches == 0, "tier %s cache %s case %zu: %d rows differ when computed alone",
                      bn_cpu_tier_name((bn_cpu_tier)t), bn_kv_type_name((bn_kv_type)ty), k, mismatches);
            teardown(&c);
        }
    }
}

/* A decode token's rows computed as one job vs as one-segment jobs (part_m: what forward.c
 * gives to several threads) folded in order by bn_attn_merge and divided: identical bits, for
 * every tier (the reference too), cache type, head size and group (16 rows: AVX-512's group
 * path), at positions around segment boundaries. */
TEST(segments_fold_to_whole_job) {
    static const int64_t positions[] = {0, 511, 512, 513, 1090};
    static const int64_t shapes[][2] = {{128, 4}, {64, 16}, {32, 1}};
    int checked = 0;
    for (int ty = 0; ty < BN_KV_TYPE_COUNT; ty++)
    for (int t = BN_TIER_SCALAR; t < BN_TIER_COUNT; t++) {
        bn_attention_kernel kern = t == BN_TIER_SCALAR ? NULL : distinct_kernel(t);
        if (t != BN_TIER_SCALAR && !kern) continue;
        for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
            for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
                int64_t hd = shapes[sh][0], group = shapes[sh][1];
                if (ty == BN_KV_Q8_0 && hd % BN_KV_QK) continue;
                case_data c;
                setup_types(&c, (bn_kv_type)ty, (bn_kv_type)ty, hd, group, positions[p], 1, 3.0f);
                if (kern) CHECK(kern(&c.job));
                else bn_attention_ref(&c.job);
                float pm[MAX_ROWS], pl[MAX_ROWS], M[MAX_ROWS], L[MAX_ROWS];
                float *po_rows[MAX_ROWS], *O = malloc(sizeof(float) * (size_t)(c.n_rows * hd));
                float *po = malloc(sizeof(float) * (size_t)(c.n_rows * hd));
                for (int64_t r = 0; r < c.n_rows; r++) po_rows[r] = po + r * hd;
                for (int64_t s0 = 0; s0 <= positions[p]; s0 += BN_ATTN_SEG) {
                    bn_attn_job part = c.job;
                    part.seg0 = s0;
                    part.part_m = pm;
                    part.part_l = pl;
                    part.part_o = po_rows;
                    for (int64_t i = 0; i < c.n_rows * hd; i++) po[i] = NAN;
                    if (kern) CHECK(kern(&part));
                    else bn_attention_ref(&part);
                    for (int64_t r = 0; r < c.n_rows; r++) bn_attn_merge(&M[r], &L[r], O + r * hd, pm[r], pl[r], po_rows[r], hd, s0 == 0);
                }
                int mismatches = 0;
                for (int64_t r = 0; r < c.n_rows; r++)
                    for (int64_t d = 0; d < hd; d++) {
                        float v = O[r * hd + d] / L[r];
                        mismatches += memcmp(&v, &c.op[r][d], sizeof v) != 0;
                    }
                CHECK_MSG(mismatches == 0, "tier %s cache %s hd %lld group %lld pos %lld: %d outputs differ when folded from segments",
                          bn_cpu_tier_name((bn_cpu_tier)t), bn_kv_type_name((bn_kv_type)ty), (long long)hd, (long long)group,
                          (long long)positions[p], mismatches);
                checked++;
                free(O);
                free(po);
                teardown(&c);
            }
    }
    CHECK(checked > 0);
}

/* A one-segment job whose rows do not reach its segment is not the kernels' to take: they
 * decline it (the reference then hands back empty parts). */
TEST(segment_job_rows_must_reach_it) {
    case_data c;
    setup(&c, 64, 4, 100, 1, 1.0f);
    float pm[4], pl[4], po[4 * 64], *po_rows[4] = {po, po + 64, po + 128, po + 192};
    c.job.seg0 = BN_ATTN_SEG;
    c.job.part_m = pm;
    c.job.part_l = pl;
    c.job.part_o = po_rows;
    for (int t = BN_TIER_AVX2; t < BN_TIER_COUNT; t++) {
        bn_attention_kernel kern = bn_attention_kernel_for_tier((bn_cpu_tier)t);
        if (kern) CHECK(!kern(&c.job));
    }
    bn_attention_ref(&c.job);
    for (int r = 0; r < 4; r++) CHECK(pm[r] == -INFINITY && pl[r] == 0.0f && po_rows[r][0] == 0.0f);
    teardown(&c);
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

/* One key: the output is that key's decoded value row exactly (weight exp(0) / 1), every type. */
TEST(single_key_returns_value) {
    for (int ty = 0; ty < BN_KV_TYPE_COUNT; ty++) {
        case_data c;
        float v[64];
        setup_types(&c, (bn_kv_type)ty, (bn_kv_type)ty, 64, 4, 0, 1, 5.0f);
        bn_attention_run(&c.job);
        bn_kv_load_v(c.vt, c.job.v, v, 64);
        for (int64_t r = 0; r < c.n_rows; r++) CHECK(memcmp(c.op[r], v, 64 * sizeof(float)) == 0);
        teardown(&c);
    }
}

static uint16_t f16_bits_rne(float f) { return bn_f32_to_f16(f); }

/* The cache conversions: f16 rounds to nearest even (ties included) and q8_0 is llama.cpp's
 * x86 quantize_row_q8_0 (scale f16(amax / 127), q = rne(x * 127 / amax)), in both layouts. */
TEST(kv_store_conversions) {
    enum { HD = 64 };
    float x[HD], y[HD];
    for (int d = 0; d < HD; d++) x[d] = uniform_pm1() * 3.0f;
    x[0] = 1.0f + 1.0f / 2048.0f;            /* a tie between two halves: even mantissa wins (1.0) */
    x[1] = 1.0f + 3.0f / 2048.0f;            /* a tie: rounds up to the even 1 + 2/1024 */
    x[2] = 0.0f;
    x[40] = -5.0f;                           /* the amax of the second q8_0 block: q = -127 */
    x[41] = 2.5f * 5.0f / 127.0f;            /* 2.5 steps: a tie, to the even 2 */
    for (int t = 0; t < BN_KV_TYPE_COUNT; t++) {
        char *kb = calloc(1, (size_t)bn_kv_k_block_bytes((bn_kv_type)t, HD)), *vr = calloc(1, (size_t)bn_kv_v_row_bytes((bn_kv_type)t, HD));
        bn_kv_store_k((bn_kv_type)t, kb, 0, y, HD); /* position 0 clears the block */
        bn_kv_store_k((bn_kv_type)t, kb, 5, x, HD);
        bn_kv_store_v((bn_kv_type)t, vr, x, HD);
        float k5[HD], v[HD];
        bn_kv_load_k((bn_kv_type)t, kb, 5, k5, HD);
        bn_kv_load_v((bn_kv_type)t, vr, v, HD);
        CHECK(memcmp(k5, v, sizeof v) == 0); /* K and V decode to the same values */
        for (int d = 0; d < HD; d++) {
            if (t == BN_KV_F32) CHECK(v[d] == x[d]);
            if (t == BN_KV_F16) CHECK(v[d] == bn_f16_to_f32(f16_bits_rne(x[d])));
        }
        if (t == BN_KV_F16) CHECK(v[0] == 1.0f && v[1] == 1.0f + 2.0f / 1024.0f);
        if (t == BN_KV_Q8_0) {
            float d1 = bn_f16_to_f32(bn_f32_to_f16(5.0f / 127.0f));
            CHECK(v[40] == -127.0f * d1 && v[41] == 2.0f * d1 && v[2] == 0.0f);
            for (int b = 0; b < HD / BN_KV_QK; b++) {
                float amax = 0.0f;
                for (int d = 0; d < BN_KV_QK; d++) amax = fmaxf(amax, fabsf(x[b * BN_KV_QK + d]));
                float dd = bn_f16_to_f32(bn_f32_to_f16(amax / 127.0f));
                /* q rounds x / (amax / 127) and the value is q times the f16 scale dd, so the error is
                 * half a step of amax / 127 plus |q| <= 127 times the scale's own rounding (up to
                 * ~6% of a step: a bound of half a step of dd was too tight for some inputs) */
                double step = amax / 127.0, tol = 0.5 * step + 127.0 * fabs((double)dd - step) + 1e-6 * amax;
                for (int d = 0; d < BN_KV_QK; d++) {
                    float q = v[b * BN_KV_QK + d] / dd;
                    CHECK(q == nearbyintf(q) && fabsf(q) <= 127.0f);
                    CHECK_MSG(fabs((double)v[b * BN_KV_QK + d] - x[b * BN_KV_QK + d]) <= tol, "block %d value %d: %g for %g (step %g)", b,
                              d, v[b * BN_KV_QK + d], x[b * BN_KV_QK + d], step);
                }
            }
        }
        float k0[HD];
        bn_kv_load_k((bn_kv_type)t, kb, 3, k0, HD); /* a lane never written: zero */
        for (int d = 0; d < HD; d++) CHECK(k0[d] == 0.0f);
        free(kb);
        free(vr);
    }
    CHECK(bn_kv_check_head_dim(BN_KV_Q8_0, 48) != 0 && bn_kv_check_head_dim(BN_KV_F16, 48) == 0);
    bn_kv_type ty;
    CHECK(bn_kv_type_from_name("q8_0", &ty) == 0 && ty == BN_KV_Q8_0 && bn_kv_type_from_name("q4_0", &ty) != 0);
}

TEST_MAIN_BEGIN("test_attention")
RUN(simd_matches_reference);
RUN(rows_independent_of_job);
RUN(segments_fold_to_whole_job);
RUN(segment_job_rows_must_reach_it);
RUN(uncovered_head_dim_falls_back);
RUN(single_key_returns_value);
RUN(kv_store_conversions);
TEST_MAIN_END()
