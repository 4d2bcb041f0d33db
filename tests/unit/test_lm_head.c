/* test_lm_head: the opt-in 8-bit LM head (bitnet_model_params.lm_head_q8). On small generated
 * models of the cross-validation kinds (both architectures, TQ2_0 and I2_S layers, an F16
 * tied head, and an F16 separate output.weight), the Q8_0 head quantized at load must give
 * the same top-1 token at every position and logits with cosine >= 0.9999 against the model's
 * own F16 head; it must refuse heads it cannot quantize, and report its type and bytes.
 * The head's int8-activation dot (Q8_0 x Q8_0, linear.h) of every kernel tier this CPU has
 * must agree with the scalar reference within 1e-5 of sum_b |d_w d_x isum_b|. */
#include <stdint.h>
#include <string.h>

#include "bitnet.h"
#include "kernels/cpu.h"
#include "kernels/kernel_impl.h"
#include "kernels/kernels.h"
#include "model/linear.h"
#include "formats/genmodel.h"
#include "model/model.h"
#include "test.h"
#include "test_models.h"
#include "formats/types.h"
#include "util.h"

static char tmpdir[512];

static const int32_t toks[] = {1, 17, 42, 299, 3, 150, 7, 7, 88, 200, 5, 260, 31, 64};
#define N_TOKS ((int)(sizeof toks / sizeof toks[0]))

/* hidden 256 (8 Q8_0 blocks per row: the head stays in Q8_0 blocks) unless the name starts
 * with "wide" (512: 16 blocks, the head also gets the q8 rows layout on avx512 / amx). */
static const char *gen(const char *name, const char *arch, uint32_t wtype, uint32_t etype, bool separate_head) {
    static char path[640];
    snprintf(path, sizeof path, "%s/test_lm_head_%s.gguf", tmpdir, name);
    bn_genmodel_params p;
    test_small_model_params(&p, arch, wtype, 5);
    if (strncmp(name, "wide", 4) == 0) p.hidden = 512;
    p.etype = etype;
    p.output_weight = separate_head;
    return test_write_model(&p, path);
}

/* All-position logits [N_TOKS][vocab] of the model at path, with or without the q8 head,
 * from one call (the head sees N_TOKS tokens) or one token per call (decode steps). */
static float *logits_of(const char *path, int q8, bool one_by_one, int64_t *n_vocab, char *head_type) {
    bitnet_model_params mp = bitnet_model_default_params();
    mp.lm_head_q8 = q8;
    bitnet_model *m = NULL;
    if (bitnet_model_open(path, &mp, &m) != 0) {
        fprintf(stderr, "open %s (q8 %d): %s\n", path, q8, bitnet_get_last_error());
        return NULL;
    }
    bitnet_model_desc md = {.struct_size = sizeof md};
    bitnet_model_describe(m, &md);
    *n_vocab = md.n_vocab;
    snprintf(head_type, 16, "%s", md.lm_head_type);
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_ctx = 64;
    sp.n_threads = 2;
    bitnet_session *s = NULL;
    float *out = malloc(sizeof(float) * (size_t)(N_TOKS * md.n_vocab));
    bool ok = out && bitnet_session_create(m, &sp, &s) == 0;
    if (ok && !one_by_one) ok = bitnet_session_eval(s, toks, N_TOKS, out, 1) == 0;
    for (int t = 0; ok && one_by_one && t < N_TOKS; t++) ok = bitnet_session_eval(s, toks + t, 1, out + (int64_t)t * md.n_vocab, 1) == 0;
    if (!ok) {
        free(out);
        out = NULL;
    }
    bitnet_session_free(s);
    bitnet_model_close(m);
    return out;
}

static int argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int)best;
}

static double cosine(const float *a, const float *b, int64_t n) {
    double dot = 0, na = 0, nb = 0;
    for (int64_t i = 0; i < n; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return dot / sqrt(na * nb);
}

static void check_model(const char *name, const char *arch, uint32_t wtype, bool separate_head, bool one_by_one) {
    const char *path = gen(name, arch, wtype, BN_TYPE_F16, separate_head);
    CHECK(path != NULL);
    if (!path) return;
    int64_t nv = 0, nv8 = 0;
    char t16[16] = "", t8[16] = "";
    float *ref = logits_of(path, 0, one_by_one, &nv, t16), *q8 = logits_of(path, 1, one_by_one, &nv8, t8);
    CHECK(ref && q8 && nv == nv8);
    CHECK_STR(t16, "f16");
    CHECK_STR(t8, "q8_0");
    double worst = 1.0;
    int mismatches = 0;
    for (int t = 0; ref && q8 && t < N_TOKS; t++) {
        const float *a = ref + (int64_t)t * nv, *b = q8 + (int64_t)t * nv;
        double c = cosine(a, b, nv);
        if (c < worst) worst = c;
        mismatches += argmax(a, nv) != argmax(b, nv);
    }
    CHECK_MSG(worst >= 0.9999, "%s: worst logits cosine %.7f", name, worst);
    CHECK_MSG(mismatches == 0, "%s: top-1 differs at %d of %d positions", name, mismatches, N_TOKS);
    free(ref);
    free(q8);
    remove(path);
}

TEST(q8_head_matches_f16_tq2_0_bitnet) { check_model("tq2", "bitnet", BN_TYPE_TQ2_0, false, false); }
TEST(q8_head_matches_f16_i2_s_b158) { check_model("i2s", "bitnet-b1.58", BN_TYPE_I2_S, false, false); }
TEST(q8_head_matches_f16_separate_output) { check_model("sep", "bitnet-b1.58", BN_TYPE_TQ2_0, true, false); }
/* Decode steps on a model wide enough for the q8 rows layout (where the tier has it). */
TEST(q8_head_matches_f16_decode_steps) {
    check_model("wide_tied", "bitnet", BN_TYPE_TQ2_0, false, true);
    check_model("wide_sep", "bitnet-b1.58", BN_TYPE_I2_S, true, true);
    check_model("wide_all", "bitnet", BN_TYPE_TQ2_0, false, false); /* all positions in one call */
}

/* A Q8_0 embedding is already 8-bit: the option says it cannot apply instead of guessing. */
TEST(q8_head_refuses_q8_0_head) {
    const char *path = gen("q8e", "bitnet", BN_TYPE_TQ2_0, BN_TYPE_Q8_0, false);
    CHECK(path != NULL);
    if (!path) return;
    bitnet_model_params mp = bitnet_model_default_params();
    mp.lm_head_q8 = 1;
    bitnet_model *m = NULL;
    CHECK_EQ_INT(bitnet_model_open(path, &mp, &m), BITNET_ERR_UNSUPPORTED);
    CHECK(m == NULL);
    CHECK(strstr(bitnet_get_last_error(), "lm-head") != NULL);
    remove(path);
}

/* The head the model reads per token shrinks from 2 to 34/32 bytes per weight (Q8_0 blocks)
 * or to 544/512 bytes plus row padding (q8 rows). */
static void check_read_bytes(const char *name) {
    const char *path = gen(name, "bitnet", BN_TYPE_TQ2_0, BN_TYPE_F16, false);
    CHECK(path != NULL);
    if (!path) return;
    bn_model *m = NULL;
    CHECK_EQ_INT(bn_model_load(path, &m), 0);
    if (!m) return;
    uint64_t before = bn_model_token_read_bytes(m);
    CHECK_EQ_INT(bn_model_quantize_head_q8(m), 0);
    uint64_t after = bn_model_token_read_bytes(m);
    uint64_t head = (uint64_t)m->hp.n_vocab * (uint64_t)m->hp.n_embd;
    /* Read per token: the q8 rows layout where the tier packs it (16-block groups of 544
     * bytes, rows padded to 64 bytes), else the Q8_0 rows themselves. */
    uint64_t groups = ((uint64_t)m->hp.n_embd / 32 + 15) / 16;
    uint64_t q8_bytes = m->output.packed ? (uint64_t)m->hp.n_vocab * ((groups * 544 + 63) / 64 * 64) : head / 32 * 34;
    CHECK_EQ_INT(before - after, head * 2 - q8_bytes);
    CHECK(m->lm_head_q8 && m->output.type == BN_TYPE_Q8_0 && m->tok_embd.type == BN_TYPE_F16);
    /* 512 wide: packed exactly where the tier has the kernel; 256 wide: never (padding) */
    bool wide = m->hp.n_embd == 512;
    CHECK_MSG((m->output.packed != NULL) == (wide && bn_kernels_have_q8_rows(bn_kernels_active())), "%s: packed %d", name,
              m->output.packed != NULL);
    bn_model_free(m);
    remove(path);
}

TEST(q8_head_read_bytes) {
    check_read_bytes("bytes");
    check_read_bytes("wide_bytes");
}

/* Q8_0 weights [M][K] and Q8_0 activations of n tokens: tiers vs bn_linear_apply_rows_ref. */
static void check_q8_0_q8_0(int64_t M, int64_t K, int n) {
    uint64_t seed = 0x2545f4914f6cdd1dull ^ (uint64_t)(M * 31 + K + n);
    const bn_type_traits *q8 = bn_type_get(BN_TYPE_Q8_0);
    float *wf = malloc(sizeof(float) * (size_t)(M * K)), *x = malloc(sizeof(float) * (size_t)(n * K));
    for (int64_t i = 0; i < M * K + n * K; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        float v = (float)((seed >> 40) & 0xffff) / 32768.0f - 1.0f;
        if (i % 53 == 0) v *= 30.0f; /* outliers: small blocks next to large ones */
        if (i < M * K) wf[i] = v;
        else x[i - M * K] = v;
    }
    uint64_t row_bytes = (uint64_t)(K / 32) * sizeof(bn_block_q8_0);
    uint8_t *wq = malloc(row_bytes * (uint64_t)M);
    q8->quantize(wf, (uint64_t)(M * K), wq);
    bn_linear w = {.name = "test.q8_0", .type = BN_TYPE_Q8_0, .in = K, .out = M, .data = wq, .row_bytes = row_bytes, .out_scale = 1.0f};
    bn_act a;
    bn_block_q8_0 *xq = malloc(bn_act_q8_0_bytes(n, K));
    CHECK_EQ_INT(bn_act_prepare(&a, BN_ACT_NONE, x, n, K, NULL), 0);
    bn_act_quantize_q8_0(&a, xq, 0, n);
    /* error bound per output: sum_b |d_w d_x isum_b| */
    float *ref = malloc(sizeof(float) * (size_t)(n * M)), *got = malloc(sizeof(float) * (size_t)(n * M));
    double *bound = malloc(sizeof(double) * (size_t)(n * M));
    void *tmp = malloc(bn_linear_row_scratch_bytes(&w));
    bn_linear_apply_rows_ref(&w, &a, ref, M, 0, M, tmp);
    for (int t = 0; t < n; t++)
        for (int64_t m = 0; m < M; m++) {
            const bn_block_q8_0 *wr = (const bn_block_q8_0 *)(wq + (uint64_t)m * row_bytes), *xr = xq + t * (K / 32);
            double b = 0;
            for (int64_t k = 0; k < K / 32; k++) {
                int32_t isum = 0;
                for (int i = 0; i < 32; i++) isum += wr[k].qs[i] * xr[k].qs[i];
                b += fabs((double)bn_f16_to_f32(wr[k].d) * bn_f16_to_f32(xr[k].d) * isum);
            }
            bound[t * M + m] = 1e-5 * b + 1e-30;
        }
    /* Every tier on the Q8_0 rows, then (where the tier has it) on the q8 rows layout, whose
     * kernels all give the first one's bits (float_avx2.c, float_avx512.c: the same operations). */
    float *first_rows = malloc(sizeof(float) * (size_t)(n * M));
    const char *first_name = NULL;
    for (int pass = 0; pass < 2; pass++)
    for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (!k || (pass == 1 && !bn_kernels_have_q8_rows(k))) continue;
        if (pass == 1 && !w.packed) CHECK((w.packed = bn_q8_rows_build(&w)) != NULL);
        for (int64_t i = 0; i < n * M; i++) got[i] = NAN;
        CHECK(bn_kernel_linear_apply_with(k, &w, &a, got, M, 3, M, NULL)); /* a row range that cuts the 4-row groups */
        int bad = 0, differ = 0;
        for (int t = 0; t < n; t++)
            for (int64_t m = 3; m < M; m++) bad += !(fabs((double)got[t * M + m] - ref[t * M + m]) <= bound[t * M + m]);
        CHECK_MSG(bad == 0, "tier %s%s, M %lld K %lld n %d: %d outputs outside 1e-5 of sum |d_w d_x isum|", k->name,
                  pass ? " (q8 rows)" : "", (long long)M, (long long)K, n, bad);
        if (pass == 0) continue;
        if (!first_name) {
            first_name = k->name;
            memcpy(first_rows, got, sizeof(float) * (size_t)(n * M));
            continue;
        }
        for (int t = 0; t < n; t++)
            for (int64_t m = 3; m < M; m++) differ += memcmp(&got[t * M + m], &first_rows[t * M + m], sizeof(float)) != 0;
        CHECK_MSG(differ == 0, "q8 rows, M %lld K %lld n %d: tier %s differs from tier %s in %d outputs", (long long)M,
                  (long long)K, n, k->name, first_name, differ);
    }
    free(first_rows);
    bn_kernel_linear_unpack(&w);
    free(wf), free(x), free(wq), free(xq), free(ref), free(got), free(bound), free(tmp);
}

TEST(q8_0_q8_0_kernels_match_reference) {
    check_q8_0_q8_0(37, 96, 1);   /* odd block count, rows not a multiple of 4 */
    check_q8_0_q8_0(64, 2560, 1); /* the 2B-4T hidden size: 5 full 16-block groups */
    check_q8_0_q8_0(21, 256, 3);  /* several tokens (prefill with all logits) */
    check_q8_0_q8_0(9, 32, 1);    /* one block: a group of 15 padding blocks */
    check_q8_0_q8_0(6, 544, 1);   /* 17 blocks: a full group and a padded one */
    check_q8_0_q8_0(5, 8192, 1);  /* the largest K of the q8 rows layout */
    check_q8_0_q8_0(150, 512, 3); /* several tokens over rows in more than one 64-row block */
}

/* Extreme codes through the q8 rows layout: weights all -128 or all 127, activations +-127,
 * scales 1: every block sum and their total are exact in float (|total| < 2^24), so the
 * layout's result must equal the reference exactly. A weight of -128 is code 0 after the
 * + 128, the edge of the u8 operand. */
TEST(q8_rows_extreme_codes) {
    enum { M = 7, K = 544, NB = K / 32 };
    static bn_block_q8_0 wq[M * NB], xq[NB];
    for (int m = 0; m < M; m++)
        for (int b = 0; b < NB; b++) {
            wq[m * NB + b].d = bn_f32_to_f16(1.0f);
            for (int i = 0; i < 32; i++) wq[m * NB + b].qs[i] = (int8_t)(m % 2 ? 127 : -128);
        }
    for (int b = 0; b < NB; b++) {
        xq[b].d = bn_f32_to_f16(1.0f);
        for (int i = 0; i < 32; i++) xq[b].qs[i] = (int8_t)((b + i) % 3 ? 127 : -127);
    }
    bn_linear w = {.name = "test.q8_rows", .type = BN_TYPE_Q8_0, .in = K, .out = M, .data = (uint8_t *)wq,
                   .row_bytes = NB * sizeof(bn_block_q8_0), .out_scale = 1.0f};
    float x[K] = {0}, ref[M], got[M];
    bn_act a;
    CHECK_EQ_INT(bn_act_prepare(&a, BN_ACT_NONE, x, 1, K, NULL), 0);
    a.x_q8_0 = xq;
    void *tmp = malloc(bn_linear_row_scratch_bytes(&w));
    bn_linear_apply_rows_ref(&w, &a, ref, M, 0, M, tmp);
    CHECK((w.packed = bn_q8_rows_build(&w)) != NULL);
    for (int tier = BN_TIER_AVX2; w.packed && tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (!k || !bn_kernels_have_q8_rows(k)) continue;
        CHECK(bn_kernel_linear_apply_with(k, &w, &a, got, M, 0, M, NULL));
        for (int m = 0; m < M; m++) CHECK_MSG(got[m] == ref[m], "tier %s row %d: %g vs %g", k->name, m, got[m], ref[m]);
    }
    bn_kernel_linear_unpack(&w);
    free(tmp);
}

/* One token through the q8 rows layout gives the bits that token gets in a call of several
 * (one token reads the rows differently: one row per pass with a prefetch, where several tokens
 * take 4 rows side by side except on AMD, q8_rows.h; test_head_rows.sh runs this under both
 * BITNET_HEAD_ROWS settings). Odd and even row counts. */
TEST(q8_rows_one_token_same_bits_as_several) {
    enum { K = 2560, NB = K / 32, N = 3 };
    const int64_t counts[] = {9, 8};
    for (size_t ci = 0; ci < 2; ci++) {
        int64_t M = counts[ci];
        bn_block_q8_0 *wq = malloc(sizeof *wq * (size_t)(M * NB)), xq[N * NB];
        uint64_t seed = 12345 + ci;
        for (int64_t b = 0; b < M * NB; b++) {
            wq[b].d = bn_f32_to_f16(0.01f + (float)(b % 7) * 0.003f);
            for (int i = 0; i < 32; i++) wq[b].qs[i] = (int8_t)((seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 56);
        }
        for (int b = 0; b < N * NB; b++) {
            xq[b].d = bn_f32_to_f16(0.02f + (float)(b % 5) * 0.001f);
            for (int i = 0; i < 32; i++) xq[b].qs[i] = (int8_t)((seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 57);
        }
        bn_linear w = {.name = "test.q8_rows", .type = BN_TYPE_Q8_0, .in = K, .out = M, .data = (uint8_t *)wq,
                       .row_bytes = NB * sizeof(bn_block_q8_0), .out_scale = 1.0f};
        static float x[N * K];
        float all[N * 9], one[9];
        bn_act a_all, a_one;
        CHECK_EQ_INT(bn_act_prepare(&a_all, BN_ACT_NONE, x, N, K, NULL), 0);
        a_all.x_q8_0 = xq;
        CHECK((w.packed = bn_q8_rows_build(&w)) != NULL);
        for (int tier = BN_TIER_AVX2; w.packed && tier < BN_TIER_COUNT; tier++) {
            const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
            if (!k || !bn_kernels_have_q8_rows(k)) continue;
            CHECK(bn_kernel_linear_apply_with(k, &w, &a_all, all, M, 0, M, NULL));
            for (int t = 0; t < N; t++) {
                CHECK_EQ_INT(bn_act_prepare(&a_one, BN_ACT_NONE, x + t * K, 1, K, NULL), 0);
                a_one.x_q8_0 = xq + t * NB;
                CHECK(bn_kernel_linear_apply_with(k, &w, &a_one, one, M, 0, M, NULL));
                CHECK_MSG(memcmp(one, all + t * M, sizeof(float) * (size_t)M) == 0, "tier %s M %lld token %d: not the bits of the %d-token call",
                          k->name, (long long)M, t, N);
            }
        }
        bn_kernel_linear_unpack(&w);
        free(wq);
    }
}

TEST_MAIN_BEGIN("test_lm_head")
const char *t = getenv("BITNET_TEST_TMP");
snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
RUN(q8_head_matches_f16_tq2_0_bitnet);
RUN(q8_head_matches_f16_i2_s_b158);
RUN(q8_head_matches_f16_separate_output);
RUN(q8_head_matches_f16_decode_steps);
RUN(q8_head_refuses_q8_0_head);
RUN(q8_head_read_bytes);
RUN(q8_0_q8_0_kernels_match_reference);
RUN(q8_rows_extreme_codes);
RUN(q8_rows_one_token_same_bits_as_several);
TEST_MAIN_END()
