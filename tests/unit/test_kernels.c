/* test_kernels: every kernel tier this CPU has (forced through bn_kernels_for_tier) against
 * the scalar reference bn_linear_apply_rows_ref: ternary weights (I2_S, TQ2_0, TQ1_0; uniform
 * and per-block scales) in token and q8k modes must be bit-identical; float weights (F32,
 * F16, BF16, Q8_0) within 1e-5 of sum |x w|. Awkward shapes (rows not a multiple of 16, row
 * ranges cutting tiles, 1..80 tokens), extreme codes and activations (+127 / -128). */
#include <stdint.h>

#include "kernels/cpu.h"
#include "formats/gguf.h"
#include "kernels/kernel_impl.h"
#include "kernels/kernels.h"
#include "model/linear.h"
#include "test.h"
#include "formats/types.h"
#include "util.h"

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float uniform01(void) { return (float)(next_u32() & 0xffffff) / 16777216.0f; }

enum pattern { RANDOM, ALL_PLUS, ALL_MINUS };

/* A weight of `type` [M][K] built through the type's quantizer, bound and packed. */
typedef struct test_weight {
    gguf_tensor t;
    void *bytes;
    bn_linear w;
} test_weight;

static int make_weight(test_weight *tw, uint32_t type, int64_t M, int64_t K, enum pattern pat, bool block_scales) {
    const bn_type_traits *tt = bn_type_get(type);
    uint64_t n = (uint64_t)M * (uint64_t)K, nbytes;
    if (!bn_type_nbytes(type, n, &nbytes)) return -1;
    if (type == BN_TYPE_I2_S) nbytes += BN_I2S_TRAILER;
    float *f = malloc(n * sizeof(float));
    tw->bytes = calloc(1, nbytes + 64);
    for (int64_t m = 0; m < M; m++)
        for (int64_t b = 0; b < K / 256 + 1; b++) {
            float mag = block_scales ? 0.25f + 2.0f * uniform01() : 0.75f;
            for (int64_t k = b * 256; k < K && k < (b + 1) * 256; k++) {
                float v = pat == ALL_PLUS ? 1.0f : pat == ALL_MINUS ? -1.0f : (float)((int)(next_u32() % 3) - 1);
                if (!tt->ternary) v = (uniform01() - 0.5f) * 4.0f;
                f[m * K + k] = v * mag;
            }
        }
    tt->quantize(f, n, tw->bytes);
    free(f);
    memset(&tw->t, 0, sizeof tw->t);
    tw->t.name = "test.weight";
    tw->t.n_dims = 2;
    tw->t.ne[0] = (uint64_t)K;
    tw->t.ne[1] = (uint64_t)M;
    tw->t.ne[2] = tw->t.ne[3] = 1;
    tw->t.type = type;
    tw->t.n_elements = n;
    tw->t.n_bytes = nbytes;
    tw->t.data = tw->bytes;
    if (bn_linear_init(&tw->w, &tw->t, NULL) != 0) return -1;
    tw->w.out_scale = 1.25f;
    if (tt->ternary) {
        tw->w.packed = bn_ternary_tiles_build(&tw->w);
        if (!tw->w.packed) return -1;
    }
    return 0;
}

static void free_weight(test_weight *tw) {
    bn_linear_release(&tw->w);
    free(tw->bytes);
}

typedef struct test_act {
    float *x;
    void *scratch;
    bn_act a;
} test_act;

/* Random activations; extreme != 0 then overwrites the int8 activations with +127 or -128. */
static void make_act(test_act *ta, bn_act_quant mode, int n, int64_t K, int extreme) {
    ta->x = malloc((size_t)n * (size_t)K * sizeof(float));
    for (int64_t i = 0; i < n * K; i++) ta->x[i] = (uniform01() - 0.5f) * (i % 97 == 0 ? 40.0f : 3.0f);
    uint64_t sb = bn_act_scratch_bytes(mode, n, K);
    ta->scratch = aligned_alloc(64, (size_t)((sb + 63) / 64 * 64 + 64));
    bn_act_prepare(&ta->a, mode, ta->x, n, K, ta->scratch);
    int8_t v = extreme > 0 ? 127 : -128;
    if (extreme && mode == BN_ACT_TOKEN) memset(ta->a.q, v, (size_t)n * (size_t)K);
    if (extreme && mode == BN_ACT_Q8K)
        for (int64_t b = 0; b < n * (K / 256); b++) {
            memset(ta->a.q8k[b].qs, v, 256);
            for (int i = 0; i < 16; i++) ta->a.q8k[b].bsums[i] = (int16_t)(16 * v);
        }
}

static void free_act(test_act *ta) {
    free(ta->x);
    free(ta->scratch);
}

/* Largest |y - ref| / (sum_k |x w| + tiny) over the computed rows; also checks rows outside
 * [m0, m1) were left alone. Returns -1 when the kernel declined. */
static double compare(const bn_kernel_table *k, const test_weight *tw, const test_act *ta, int64_t m0, int64_t m1, bool *untouched) {
    const bn_linear *w = &tw->w;
    int n = ta->a.n;
    int64_t M = w->out, K = w->in, ldy = M + 3;
    float *y = malloc((size_t)n * (size_t)ldy * sizeof(float));
    float *r = malloc((size_t)n * (size_t)ldy * sizeof(float));
    void *tmp = aligned_alloc(64, (size_t)((bn_linear_row_scratch_bytes(w) + 63) / 64 * 64));
    float *row = malloc((size_t)K * sizeof(float));
    for (int64_t i = 0; i < n * ldy; i++) y[i] = r[i] = -7.0f;
    double worst = 0;
    if (!bn_kernel_linear_apply_with(k, w, &ta->a, y, ldy, m0, m1, tmp)) {
        worst = -1;
    } else {
        bn_linear_apply_rows_ref(w, &ta->a, r, ldy, m0, m1, tmp);
        *untouched = true;
        for (int t = 0; t < n; t++)
            for (int64_t m = 0; m < ldy; m++) {
                float a = y[t * ldy + m], b = r[t * ldy + m];
                if (m < m0 || m >= m1) {
                    if (a != -7.0f) *untouched = false;
                    continue;
                }
                double mag = 1e-30;
                if (!w->ternary) {
                    bn_linear_dequant_row(w, m, row);
                    for (int64_t kk = 0; kk < K; kk++) mag += fabs((double)row[kk] * ta->x[t * K + kk]);
                    mag *= fabs(w->out_scale);
                }
                double e = a == b ? 0.0 : (w->ternary ? INFINITY : fabs((double)a - b) / mag);
                if (e > worst) worst = e;
            }
    }
    free(y);
    free(r);
    free(tmp);
    free(row);
    return worst;
}

static int tiers_tested;

typedef struct shape { int64_t M, K; } shape;

static void ternary_case(const bn_kernel_table *k, uint32_t type, bool block_scales, shape s, int n, bn_act_quant mode,
                         enum pattern pat, int extreme) {
    test_weight tw;
    CHECK_MSG(make_weight(&tw, type, s.M, s.K, pat, block_scales) == 0, "make_weight: %s", bn_last_error_message());
    if (!block_scales) CHECK(tw.w.uniform_scale);
    test_act ta;
    make_act(&ta, mode, n, s.K, extreme);
    int64_t ranges[2][2] = {{0, s.M}, {s.M > 4 ? 3 : 0, s.M > 4 ? s.M - 2 : s.M}};
    for (int r = 0; r < 2; r++) {
        bool untouched = false;
        double e = compare(k, &tw, &ta, ranges[r][0], ranges[r][1], &untouched);
        CHECK_MSG(e == 0.0 && untouched, "tier %s type %s %s M=%lld K=%lld n=%d mode=%s pat=%d extreme=%d rows [%lld,%lld): %s",
                  k->name, bn_type_get(type)->name, block_scales ? "block-scales" : "uniform", (long long)s.M, (long long)s.K, n,
                  bn_act_quant_name(mode), (int)pat, extreme, (long long)ranges[r][0], (long long)ranges[r][1],
                  e < 0 ? "kernel declined" : !untouched ? "wrote outside its rows" : "differs from the reference");
    }
    free_act(&ta);
    free_weight(&tw);
}

static const uint32_t ternary_types[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0};

TEST(ternary_random_bit_exact) {
    const shape shapes[] = {{16, 256}, {37, 512}, {5, 256}, {70, 2560}};
    const int ns[] = {1, 2, 3, 17, 35};
    for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (!k) continue;
        tiers_tested++;
        for (size_t ti = 0; ti < 3; ti++)
            for (int bs = 0; bs < (ternary_types[ti] == BN_TYPE_I2_S ? 1 : 2); bs++)
                for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
                    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                        if (shapes[si].K == 2560 && ns[ni] > 3) continue; /* keep the ASan run short */
                        ternary_case(k, ternary_types[ti], bs, shapes[si], ns[ni], BN_ACT_TOKEN, RANDOM, 0);
                        ternary_case(k, ternary_types[ti], bs, shapes[si], ns[ni], BN_ACT_Q8K, RANDOM, 0);
                    }
    }
    int available = 0;
    for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) available += bn_cpu_has_tier((bn_cpu_tier)tier);
    CHECK_EQ_INT(tiers_tested, available);
}

TEST(ternary_prefill_batches) { /* 80 tokens: one full group of 4 AMX C tiles + 1 tile */
    const shape s = {37, 512};
    for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (!k) continue;
        ternary_case(k, BN_TYPE_I2_S, false, s, 80, BN_ACT_TOKEN, RANDOM, 0);
        ternary_case(k, BN_TYPE_TQ2_0, false, s, 83, BN_ACT_TOKEN, RANDOM, 0);
        ternary_case(k, BN_TYPE_TQ2_0, true, s, 33, BN_ACT_TOKEN, RANDOM, 0);
    }
}

TEST(ternary_extremes) { /* all codes +1 / -1 against activations all +127 / -128, K up to 6912 */
    const shape shapes[] = {{20, 6912}, {17, 2560}};
    for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (!k) continue;
        for (size_t si = 0; si < 2; si++)
            for (int pat = ALL_PLUS; pat <= ALL_MINUS; pat++)
                for (int ex = -1; ex <= 1; ex += 2)
                    for (size_t ti = 0; ti < 3; ti++) {
                        ternary_case(k, ternary_types[ti], false, shapes[si], 2, BN_ACT_TOKEN, (enum pattern)pat, ex);
                        /* one token: the two-tiles-at-once generation path on AVX-512 */
                        ternary_case(k, ternary_types[ti], false, shapes[si], 1, BN_ACT_TOKEN, (enum pattern)pat, ex);
                        ternary_case(k, ternary_types[ti], false, shapes[si], 1, BN_ACT_Q8K, (enum pattern)pat, ex);
                    }
        ternary_case(k, BN_TYPE_I2_S, false, shapes[1], 16, BN_ACT_TOKEN, ALL_MINUS, -1);
    }
}

/* Token counts that use every register-block size of the GEMM kernels (groups of 8 / 4 tokens,
 * then 2 and 1: 15 = 8 + 4 + 2 + 1, 7 = 4 + 2 + 1), with extreme codes and activations at the
 * largest K of the 2B-4T shapes, and random ones across several tiles. */
TEST(ternary_register_blocks) {
    const shape big = {20, 6912}, wide = {50, 1024};
    const int ns[] = {7, 8, 15};
    for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (!k) continue;
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            for (int pat = ALL_PLUS; pat <= ALL_MINUS; pat++)
                for (int ex = -1; ex <= 1; ex += 2) ternary_case(k, BN_TYPE_I2_S, false, big, ns[ni], BN_ACT_TOKEN, (enum pattern)pat, ex);
            ternary_case(k, BN_TYPE_TQ2_0, false, wide, ns[ni], BN_ACT_TOKEN, RANDOM, 0);
        }
    }
}

/* The prefill path of the 256-bit tiers (8+ tokens on AVX2, 12+ on AVX-VNNI, uniform scale:
 * codes decoded once per K block of 16 chunks, ternary_256.h) and the per-group path below
 * it: K blocks cut short (K = 2560: 16 + 16 + 8 chunks, 4352: 4 x 16 + 4, 256: one block of
 * 4), every group size (AVX2 5 tokens, AVX-VNNI 6, then 4, 2, 1: 15 = 5 + 5 + 4 + 1 =
 * 6 + 6 + 2 + 1, 13 = 5 + 5 + 2 + 1, 66 = 64 (5 x 12 + 4 = 6 x 10 + 4) + 2)
 * and a 64-token block followed by a 2- or 3-token block (per-group path).
 * Extremes: all codes 2 against q = -128 puts exactly -32768 in each of AVX2's int16 sums
 * (64 pairs of -512 per 4 chunks) and all codes 2 against +127 puts 32512: the limits of
 * its bound; all codes 0 against either gives 0 products. */
TEST(ternary_prefill_decoded) {
    const shape k_shapes[] = {{33, 2560}, {18, 4352}, {40, 256}};
    const int ns[] = {3, 9, 13, 15, 66, 67};
    const shape big = {17, 6912};
    const int ext_ns[] = {8, 13, 15};
    for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (!k) continue;
        for (size_t si = 0; si < sizeof k_shapes / sizeof k_shapes[0]; si++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                if (ns[ni] > 15 && k_shapes[si].K > 256) continue; /* keep the ASan run short */
                ternary_case(k, si == 1 ? BN_TYPE_TQ2_0 : BN_TYPE_I2_S, false, k_shapes[si], ns[ni], BN_ACT_TOKEN, RANDOM, 0);
            }
        for (size_t ni = 0; ni < sizeof ext_ns / sizeof ext_ns[0]; ni++)
            for (int pat = ALL_PLUS; pat <= ALL_MINUS; pat++)
                for (int ex = -1; ex <= 1; ex += 2) ternary_case(k, BN_TYPE_I2_S, false, big, ext_ns[ni], BN_ACT_TOKEN, (enum pattern)pat, ex);
    }
}

/* The avx2 tier's prefill by tables (ternary_lut_avx2.h: whole blocks of 32 tokens, calls of
 * 256 rows or more, the rest of the tokens on the other paths): row counts that cut the last
 * tile, row ranges starting inside a tile (compare's second range), K of 4 chunks (widened
 * after 2 and 4), 40 and 108 (an even count, the last widening at the end), token counts of
 * one block, one block and one token, two blocks and 3 tokens. Extremes: all weights +1 or
 * -1 against q all -128 or +127 put the largest table entries (+-512, +-508) into every
 * int16 sum, 32 of them between widenings: +-16384 at most. */
TEST(ternary_prefill_tables) {
    const shape shapes[] = {{300, 256}, {263, 2560}};
    const int ns[] = {32, 33, 67};
    const shape big = {270, 6912};
    const bn_kernel_table *k = bn_kernels_for_tier(BN_TIER_AVX2);
    if (!k) return;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            ternary_case(k, BN_TYPE_I2_S, false, shapes[si], ns[ni], BN_ACT_TOKEN, RANDOM, 0);
            ternary_case(k, BN_TYPE_TQ2_0, false, shapes[si], ns[ni], BN_ACT_TOKEN, RANDOM, 0);
        }
    for (int pat = ALL_PLUS; pat <= ALL_MINUS; pat++)
        for (int ex = -1; ex <= 1; ex += 2) ternary_case(k, BN_TYPE_I2_S, false, big, 32, BN_ACT_TOKEN, (enum pattern)pat, ex);
    /* block scales: not uniform, so the tables are not used; the other paths still exact */
    ternary_case(k, BN_TYPE_TQ2_0, true, shapes[1], 32, BN_ACT_TOKEN, RANDOM, 0);
}

/* A 2-bit code 3 (weight +2: only a damaged or foreign file has one; the reference takes it as
 * 3 - 1) is not in the tables: the packing flags the weight and the table path leaves it to
 * the others, which match the reference for it too. Rows 0..4 get all-3 bytes in I2_S and TQ2_0. */
TEST(ternary_prefill_code3) {
    const uint32_t types[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0};
    for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (!k) continue;
        for (size_t ti = 0; ti < 2; ti++) {
            test_weight tw;
            CHECK(make_weight(&tw, types[ti], 300, 512, RANDOM, false) == 0);
            CHECK(!((bn_ternary_tiles *)tw.w.packed)->code3);
            bn_ternary_tiles_free(tw.w.packed);
            for (int64_t m = 0; m < 5; m++) /* I2_S: a row's 128 bytes; TQ2_0: the first block's 64 code bytes */
                memset((uint8_t *)tw.bytes + (uint64_t)m * tw.w.row_bytes, 0xff, types[ti] == BN_TYPE_I2_S ? 128 : 64);
            tw.w.packed = bn_ternary_tiles_build(&tw.w);
            CHECK(tw.w.packed && ((bn_ternary_tiles *)tw.w.packed)->code3);
            test_act ta;
            make_act(&ta, BN_ACT_TOKEN, 33, 512, 0);
            bool untouched = false;
            double e = compare(k, &tw, &ta, 0, 300, &untouched);
            CHECK_MSG(e == 0.0 && untouched, "tier %s type %s with code 3: %s", k->name, bn_type_get(types[ti])->name,
                      e < 0 ? "kernel declined" : "differs from the reference");
            free_act(&ta);
            free_weight(&tw);
        }
    }
}

/* The scratch the table prefill needs is part of the row scratch of a ternary weight (on
 * x86-64 machines with AVX2), and the prefill row unit is an even share at the avx2 tier. */
TEST(prefill_scratch_and_rows) {
    test_weight tw;
    CHECK(make_weight(&tw, BN_TYPE_I2_S, 300, 2560, RANDOM, false) == 0);
    uint64_t kernel = bn_kernel_row_scratch_bytes(&tw.w);
    CHECK(bn_linear_row_scratch_bytes(&tw.w) >= kernel);
#if defined(__x86_64__) /* the table prefill is x86 code; elsewhere the kernels need no scratch */
    if (bn_kernels_for_tier(BN_TIER_AVX2)) CHECK(kernel >= bn_ternary_lut_scratch_bytes(2560, 304));
#else
    CHECK(kernel == 0);
#endif
    bn_prefill_units pu = bn_kernel_prefill_units(2560, 2, 128);
    CHECK((pu.rows == 64 && pu.tokens == 128) || (pu.rows == 1280 && pu.tokens == 32)); /* blocks of 32 with the tables */
    pu = bn_kernel_prefill_units(2560, 2, 8); /* fewer than 32 tokens: the usual units */
    CHECK(pu.rows == 64 && pu.tokens == 8);
    free_weight(&tw);
}

TEST(float_weights_within_tolerance) {
    const uint32_t types[] = {BN_TYPE_F32, BN_TYPE_F16, BN_TYPE_BF16, BN_TYPE_Q8_0};
    const shape shapes[] = {{7, 33}, {19, 64}, {3, 1}, {40, 2560}, {5, 96}};
    const int ns[] = {1, 2, 3, 5};
    for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (!k) continue;
        for (size_t ti = 0; ti < 4; ti++)
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                if (types[ti] == BN_TYPE_Q8_0 && shapes[si].K % 32) continue;
                for (size_t ni = 0; ni < 4; ni++) {
                    test_weight tw;
                    CHECK(make_weight(&tw, types[ti], shapes[si].M, shapes[si].K, RANDOM, false) == 0);
                    test_act ta;
                    make_act(&ta, BN_ACT_NONE, ns[ni], shapes[si].K, 0);
                    bool untouched = false;
                    double e = compare(k, &tw, &ta, shapes[si].M > 4 ? 1 : 0, shapes[si].M, &untouched);
                    CHECK_MSG(e >= 0 && e <= 1e-5 && untouched, "tier %s type %s M=%lld K=%lld n=%d: relative error %g",
                              k->name, bn_type_get(types[ti])->name, (long long)shapes[si].M, (long long)shapes[si].K, ns[ni], e);
                    free_act(&ta);
                    free_weight(&tw);
                }
            }
    }
}

/* Continuous batching relies on it: at every tier, a token's float-weight products are the
 * same bits whether the token is alone in the call or one of n (odd rows, a K tail). */
TEST(float_rows_independent_of_token_count) {
    const uint32_t types[] = {BN_TYPE_F32, BN_TYPE_F16, BN_TYPE_BF16, BN_TYPE_Q8_0};
    const shape shapes[] = {{7, 48}, {9, 2560}, {6, 96}, {5, 272}, {4, 17}};
    for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (!k) continue;
        for (size_t ti = 0; ti < 4; ti++)
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                shape sh = shapes[si];
                if (types[ti] == BN_TYPE_Q8_0 && sh.K % 32) continue;
                test_weight tw;
                CHECK(make_weight(&tw, types[ti], sh.M, sh.K, RANDOM, false) == 0);
                enum { N = 9 };
                test_act all, one;
                make_act(&all, BN_ACT_NONE, N, sh.K, 0);
                float y_all[N * 9], y_one[9];
                CHECK(bn_kernel_linear_apply_with(k, &tw.w, &all.a, y_all, sh.M, 0, sh.M, NULL));
                for (int t = 0; t < N; t++) {
                    bn_act_prepare(&one.a, BN_ACT_NONE, all.x + (int64_t)t * sh.K, 1, sh.K, NULL);
                    CHECK(bn_kernel_linear_apply_with(k, &tw.w, &one.a, y_one, sh.M, 0, sh.M, NULL));
                    CHECK_MSG(memcmp(y_one, y_all + t * sh.M, (size_t)sh.M * sizeof(float)) == 0,
                              "tier %s type %s M=%lld K=%lld token %d of %d: not the lone token's bits", k->name,
                              bn_type_get(types[ti])->name, (long long)sh.M, (long long)sh.K, t, N);
                }
                free_act(&all);
                free_weight(&tw);
            }
    }
}

TEST(declines_what_it_does_not_cover) {
    test_weight tw;
    CHECK(make_weight(&tw, BN_TYPE_TQ2_0, 16, 256, RANDOM, false) == 0);
    test_act ta;
    make_act(&ta, BN_ACT_NONE, 1, 256, 0);
    float y[16];
    for (int tier = 0; tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (k) CHECK(!bn_kernel_linear_apply_with(k, &tw.w, &ta.a, y, 16, 0, 16, NULL)); /* ternary x float: reference only */
    }
    const bn_kernel_table *scalar = bn_kernels_for_tier(BN_TIER_SCALAR);
    CHECK(scalar && !scalar->ternary_token && !scalar->float_rows);
    free_act(&ta);
    free_weight(&tw);
}

TEST(packing_reports_bytes) {
    test_weight tw;
    CHECK(make_weight(&tw, BN_TYPE_I2_S, 33, 512, RANDOM, false) == 0);
    /* 3 tiles x 8 chunks x 256 bytes; I2_S has one scale, so no block scales */
    CHECK_EQ_INT(bn_kernel_packed_bytes(&tw.w), 3 * 8 * 256);
    free_weight(&tw);
    CHECK(make_weight(&tw, BN_TYPE_TQ1_0, 16, 512, RANDOM, true) == 0);
    CHECK(!tw.w.uniform_scale);
    CHECK_EQ_INT(bn_kernel_packed_bytes(&tw.w), 1 * 8 * 256 + 1 * 2 * 16 * 4);
    free_weight(&tw);
    bn_linear none;
    memset(&none, 0, sizeof none);
    CHECK_EQ_INT(bn_kernel_packed_bytes(&none), 0);
}

/* The one-token head passes' row order (bn_halves_row): every row of [m0, m1) exactly once,
 * the first half's rows in order at even j and the second half's at odd j. */
TEST(halves_row_order_covers_every_row) {
    for (int64_t n = 0; n <= 9; n++)
        for (int halves = 0; halves < 2; halves++) {
            int seen[9] = {0};
            int64_t m0 = 5, h = (n + 1) / 2;
            for (int64_t j = 0; j < n; j++) {
                int64_t m = bn_halves_row(m0, m0 + n, j, halves);
                CHECK(m >= m0 && m < m0 + n);
                if (m >= m0 && m < m0 + n) seen[m - m0]++;
                CHECK_EQ_INT(m, !halves ? m0 + j : (j & 1) ? m0 + h + j / 2 : m0 + j / 2);
            }
            for (int64_t i = 0; i < n; i++) CHECK_EQ_INT(seen[i], 1);
        }
}

TEST(active_table_matches_tier) {
    CHECK(bn_kernels_active() == bn_kernels_for_tier(bn_cpu_active_tier()));
    CHECK_STR(bn_kernel_tier_name(), bn_cpu_tier_name(bn_cpu_active_tier()));
    CHECK_EQ_INT(bn_kernel_row_scratch_bytes(NULL), 0);
    printf("# kernel tiers tested: %d (best here: %s)\n", tiers_tested, bn_cpu_tier_name(bn_cpu_best_tier()));
}

TEST_MAIN_BEGIN("test_kernels")
RUN(ternary_random_bit_exact);
RUN(ternary_prefill_batches);
RUN(ternary_extremes);
RUN(ternary_register_blocks);
RUN(ternary_prefill_decoded);
RUN(ternary_prefill_tables);
RUN(ternary_prefill_code3);
RUN(prefill_scratch_and_rows);
RUN(float_weights_within_tolerance);
RUN(float_rows_independent_of_token_count);
RUN(declines_what_it_does_not_cover);
RUN(packing_reports_bytes);
RUN(halves_row_order_covers_every_row);
RUN(active_table_matches_tier);
TEST_MAIN_END()
