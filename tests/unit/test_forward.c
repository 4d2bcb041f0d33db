/* Forward-pass tests on small generated models: identities that must hold exactly (weight
 * formats of the same ternary weights, batch sizes, thread counts, KV cache vs full prefill),
 * error paths (context overflow, bad ids, q8k on unsupported shapes), and model binding
 * variants (transposed embedding, scale tensors, separate output.weight). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/forward.h"
#include "formats/genmodel.h"
#include "formats/gguf.h"
#include "model/model.h"
#include "model/rows.h"
#include "test.h"
#include "test_models.h"
#include "formats/types.h"
#include "util.h"

static char tmpdir[512];

static const char *model_path(const char *name) {
    static char buf[8][640];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, 640, "%s/%s.gguf", tmpdir, name);
    return p;
}

/* Writes a small model; shapes work for every weight type (multiples of 256). */
static const char *gen(const char *name, const char *arch, uint32_t wtype, void (*tweak)(bn_genmodel_params *)) {
    bn_genmodel_params p;
    test_small_model_params(&p, arch, wtype, 11);
    if (tweak) tweak(&p);
    return test_write_model(&p, model_path(name));
}

static const int32_t toks[] = {1, 17, 42, 299, 3, 150, 7, 7, 88, 200, 5, 260};
#define N_TOKS ((int)(sizeof toks / sizeof toks[0]))

/* All-position logits [N_TOKS][vocab] of a model with KV cache type kv (K and V), or NULL. */
static float *run_logits_kv(const char *path, bn_act_quant mode, int threads, int batch, bn_kv_type kv, int64_t *vocab) {
    bn_model *m = NULL;
    if (!path || bn_model_load(path, &m)) {
        fprintf(stderr, "load %s: %s\n", path ? path : "(null)", bn_last_error_message());
        return NULL;
    }
    bn_state_params sp;
    bn_state_default_params(&sp);
    sp.n_ctx = 64;
    sp.n_threads = threads;
    sp.max_batch = batch;
    sp.act_quant = mode;
    sp.kv_type_k = sp.kv_type_v = kv;
    bn_state *s = NULL;
    float *out = NULL;
    if (bn_state_create(m, &sp, &s) == 0) {
        *vocab = m->hp.n_vocab;
        out = malloc(sizeof(float) * (size_t)N_TOKS * (size_t)*vocab);
        if (bn_state_eval(s, toks, N_TOKS, out, true) != 0) {
            fprintf(stderr, "eval: %s\n", bn_last_error_message());
            free(out);
            out = NULL;
        }
    } else {
        fprintf(stderr, "state: %s\n", bn_last_error_message());
    }
    bn_state_free(s);
    bn_model_free(m);
    return out;
}

/* The same with the default (f16) KV cache. */
static float *run_logits(const char *path, bn_act_quant mode, int threads, int batch, int64_t *vocab) {
    return run_logits_kv(path, mode, threads, batch, BN_KV_F16, vocab);
}

static bool same_bits(const float *a, const float *b, size_t n) { return a && b && memcmp(a, b, n * sizeof(float)) == 0; }

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double mx = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > mx) mx = d;
        if (fabs(a[i]) > scale) scale = fabs(a[i]);
    }
    return scale > 0 ? mx / scale : mx;
}

/* The same ternary weights as I2_S, TQ2_0 and TQ1_0 give bit-identical logits (token and q8k). */
TEST(ternary_formats_identical) {
    int64_t v = 0;
    const char *i2 = gen("b158_i2s", "bitnet-b1.58", BN_TYPE_I2_S, NULL);
    const char *t2 = gen("b158_tq2", "bitnet-b1.58", BN_TYPE_TQ2_0, NULL);
    const char *t1 = gen("b158_tq1", "bitnet-b1.58", BN_TYPE_TQ1_0, NULL);
    for (int mode = BN_ACT_TOKEN; mode <= BN_ACT_Q8K; mode++) {
        float *a = run_logits(i2, (bn_act_quant)mode, 1, 64, &v);
        float *b = run_logits(t2, (bn_act_quant)mode, 1, 64, &v);
        float *c = run_logits(t1, (bn_act_quant)mode, 1, 64, &v);
        CHECK_MSG(same_bits(a, b, (size_t)N_TOKS * (size_t)v), "I2_S vs TQ2_0, mode %d", mode);
        CHECK_MSG(same_bits(b, c, (size_t)N_TOKS * (size_t)v), "TQ2_0 vs TQ1_0, mode %d", mode);
        free(a);
        free(b);
        free(c);
    }
}

/* F32 and F16 hold ternary x f16-exact scales exactly, so do the ternary files: the same logits
 * with float numerics up to summation order. BF16 rounds the scale (8-bit mantissa): close only.
 * An f32 KV cache, so that only the weights differ (an f16 cache rounds K and V, which turns the
 * summation-order differences into occasional f16 steps: ~6e-5). */
TEST(float_formats_identical) {
    int64_t v = 0;
    const char *paths[] = {gen("f32", "bitnet", BN_TYPE_F32, NULL), gen("f16", "bitnet", BN_TYPE_F16, NULL),
                           gen("bf16", "bitnet", BN_TYPE_BF16, NULL), gen("tq2", "bitnet", BN_TYPE_TQ2_0, NULL)};
    float *ref = run_logits_kv(paths[0], BN_ACT_NONE, 1, 64, BN_KV_F32, &v);
    CHECK(ref != NULL);
    for (int i = 1; i < 4; i++) {
        float *x = run_logits_kv(paths[i], BN_ACT_NONE, 1, 64, BN_KV_F32, &v);
        double tol = i == 2 ? 3e-2 : 1e-5;
        CHECK_MSG(x && max_rel_diff(ref, x, (size_t)N_TOKS * (size_t)v) < tol, "format %d vs f32: %g", i,
                  x ? max_rel_diff(ref, x, (size_t)N_TOKS * (size_t)v) : -1.0);
        free(x);
    }
    free(ref);
}

/* Prefill in chunks of 1, 5 or 64 tokens and 1 or 2 threads: bit-identical logits (the KV
 * cache and per-row arithmetic do not depend on how the work is cut), with every KV cache type. */
TEST(batching_and_threads_identical) {
    int64_t v = 0;
    const char *path = gen("tq2_b", "bitnet", BN_TYPE_TQ2_0, NULL);
    for (int kv = 0; kv < BN_KV_TYPE_COUNT; kv++)
        for (int mode = BN_ACT_TOKEN; mode <= BN_ACT_NONE; mode++) {
            float *ref = run_logits_kv(path, (bn_act_quant)mode, 1, 64, (bn_kv_type)kv, &v);
            int configs[][2] = {{1, 1}, {1, 5}, {2, 64}, {2, 3}};
            for (int c = 0; c < 4; c++) {
                float *x = run_logits_kv(path, (bn_act_quant)mode, configs[c][0], configs[c][1], (bn_kv_type)kv, &v);
                CHECK_MSG(same_bits(ref, x, (size_t)N_TOKS * (size_t)v), "kv %s mode %d threads %d batch %d",
                          bn_kv_type_name((bn_kv_type)kv), mode, configs[c][0], configs[c][1]);
                free(x);
            }
            free(ref);
        }
}

/* A 48-token prompt (three 16-token tiles: the AMX kernel's 2 x 2 block and a lone token
 * tile, plus the per-token paths) in one chunk on 2 threads, in chunks of 20 and token by
 * token: bit-identical logits in token and q8k modes, for ReLU^2 and SiLU models. */
TEST(long_prefill_identical) {
    const char *paths[] = {gen("b158_long", "bitnet-b1.58", BN_TYPE_TQ2_0, NULL), gen("silu_long", "bitnet", BN_TYPE_I2_S, NULL)};
    enum { N = 48 };
    int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (int32_t)((7 + 31 * i) % 300);
    for (int pi = 0; pi < 2; pi++)
        for (int mode = BN_ACT_TOKEN; mode <= BN_ACT_Q8K; mode++) {
            bn_model *m = NULL;
            CHECK(paths[pi] && bn_model_load(paths[pi], &m) == 0);
            if (!m) continue;
            int64_t v = m->hp.n_vocab;
            float *out[3];
            const int cfg[3][2] = {{2, N}, {2, 20}, {1, 1}}; /* threads, batch */
            for (int c = 0; c < 3; c++) {
                bn_state_params sp;
                bn_state_default_params(&sp);
                sp.n_ctx = 64;
                sp.n_threads = cfg[c][0];
                sp.max_batch = cfg[c][1];
                sp.act_quant = (bn_act_quant)mode;
                bn_state *s = NULL;
                out[c] = malloc(sizeof(float) * (size_t)N * (size_t)v);
                CHECK(bn_state_create(m, &sp, &s) == 0);
                CHECK(s && bn_state_eval(s, ids, N, out[c], true) == 0);
                bn_state_free(s);
            }
            CHECK_MSG(same_bits(out[0], out[1], (size_t)N * (size_t)v), "model %d mode %d: batch 48 vs 20", pi, mode);
            CHECK_MSG(same_bits(out[0], out[2], (size_t)N * (size_t)v), "model %d mode %d: batch 48 vs 1", pi, mode);
            for (int c = 0; c < 3; c++) free(out[c]);
            bn_model_free(m);
        }
}

/* ---- row passes (rows.h): the tier code against the portable reference ---- */

static uint32_t rng_state = 12345;
static float rnd(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 8388608.0f - 1.0f;
}

/* Row contents: random of scale `mag`, or all equal, or with one huge value. */
static void fill_row(float *x, int64_t n, int kind, float mag) {
    for (int64_t i = 0; i < n; i++) x[i] = kind == 1 ? mag : rnd() * mag;
    if (kind == 2) x[n / 2] = 3e4f;
}

static const int64_t row_lens[] = {1, 3, 4, 15, 16, 17, 34, 100, 128, 256, 2565};

/* The SIMD row passes of every tier this CPU has (BITNET_FORCE_TIER caps them): fills ops[],
 * returns how many. Tiers sharing code (avx2 / avxvnni, avx512 / amx) are listed once. */
static int simd_rows_ops(const bn_rows_ops *ops[BN_TIER_COUNT]) {
    int n = 0;
    for (int t = BN_TIER_AVX2; t < BN_TIER_COUNT; t++) {
        const bn_rows_ops *o = bn_rows_for_tier((bn_cpu_tier)t);
        if (t > (int)bn_cpu_best_tier() || o == &bn_rows_portable || (n > 0 && ops[n - 1] == o)) continue;
        ops[n++] = o;
    }
    if (n == 0) printf("# rows: no SIMD row passes on this CPU\n");
    return n;
}

static void rows_elementwise_check(const bn_rows_ops *fast);

/* add and ReLU^2: bit-identical; SiLU: a polynomial exp, |diff| <= 4e-7 |x| + 1e-30. */
TEST(rows_elementwise_match_portable) {
    const bn_rows_ops *ops[BN_TIER_COUNT];
    int n = simd_rows_ops(ops);
    for (int i = 0; i < n; i++) {
        printf("# rows elementwise: %s\n", ops[i]->name);
        rows_elementwise_check(ops[i]);
    }
}

static void rows_elementwise_check(const bn_rows_ops *fast) {
    const bn_rows_ops *ref = &bn_rows_portable;
    for (size_t li = 0; li < sizeof row_lens / sizeof row_lens[0]; li++) {
        int64_t n = row_lens[li];
        float *g = malloc(sizeof(float) * (size_t)n), *u = malloc(sizeof(float) * (size_t)n);
        float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
        for (int kind = 0; kind < 3; kind++)
            for (int act = BN_FFN_SILU; act <= BN_FFN_RELU2; act++) {
                fill_row(g, n, kind, kind == 1 ? -2.5f : 30.0f); /* SiLU over [-30, 30): exp overflow side too */
                fill_row(u, n, 0, 2.0f);
                if (n > 4) g[1] = -200.0f, g[2] = 200.0f, g[3] = 0.0f;
                memcpy(a, g, sizeof(float) * (size_t)n);
                memcpy(b, g, sizeof(float) * (size_t)n);
                fast->ffn_act((bn_ffn_act)act, a, u, n);
                ref->ffn_act((bn_ffn_act)act, b, u, n);
                for (int64_t i = 0; i < n; i++) {
                    double tol = act == BN_FFN_RELU2 ? 0.0 : 4e-7 * fabs((double)b[i]) + 1e-30;
                    CHECK_MSG(fabs((double)a[i] - b[i]) <= tol, "act %d n %lld i %lld: %.9g vs %.9g (g %.9g)", act, (long long)n,
                              (long long)i, a[i], b[i], g[i]);
                }
            }
        fill_row(a, n, 0, 5.0f);
        memcpy(b, a, sizeof(float) * (size_t)n);
        fill_row(u, n, 0, 1e3f);
        fast->add(a, u, n);
        ref->add(b, u, n);
        CHECK_MSG(same_bits(a, b, (size_t)n), "add n %lld", (long long)n);
        if (n % 2 == 0) { /* RoPE: one head of n values, cos / sin tables of n / 2 */
            fill_row(a, n, 0, 50.0f);
            memcpy(b, a, sizeof(float) * (size_t)n);
            fill_row(g, n / 2, 0, 1.0f);
            fill_row(u, n / 2, 0, 1.0f);
            fast->rope(a, g, u, n / 2);
            ref->rope(b, g, u, n / 2);
            CHECK_MSG(same_bits(a, b, (size_t)n), "rope n %lld", (long long)n);
        }
        free(g);
        free(u);
        free(a);
        free(b);
    }
}

/* RMS norm + quantization of 1..BN_ROWS_GROUP rows: bit-identical h, q, s (token mode) and
 * q8k blocks, for random rows of very different scales, all-equal rows (every code 127 or
 * -127), rows with one huge value (most codes 0) and all-zero rows (s from the 1e-5 floor). */
static void rows_norm_check(const bn_rows_ops *fast);

/* to_f16 (the F16 KV stores): the same 16 bits as bn_f32_to_f16 for every float: crafted ends
 * (ties between neighbours, the subnormal and overflow edges, NaN payloads and signs) and
 * random bit patterns, at strides 1 and 16 (a K^T block's column) and lengths 1..40 (tails). */
static uint32_t f16_test_state = 2463534242u;
static uint32_t next_bits(void) {
    f16_test_state ^= f16_test_state << 13, f16_test_state ^= f16_test_state >> 17, f16_test_state ^= f16_test_state << 5;
    return f16_test_state;
}

TEST(rows_to_f16_match_portable) {
    static const uint32_t ends[] = {0x00000000u, 0x80000000u, 0x3f800000u, 0xbf800000u, 0x477fe000u, 0xc77fe000u, 0x477fefffu,
                                    0x477ff000u, 0xc77ff000u, 0x47800000u, 0x7149f2cau, 0x7f800000u, 0xff800000u, 0x00800000u,
                                    0x00000001u, 0x807fffffu, 0x33800000u, 0x33000000u, 0x33000001u, 0x33400000u, 0xb3c00000u,
                                    0x38800000u, 0x387fc000u, 0x387fe000u, 0x3f801000u, 0x3f803000u, 0xbf801001u, 0x7fc00000u,
                                    0xffc00000u, 0x7f800001u, 0x7fffffffu, 0xff812345u, 0x7fbfffffu};
    enum { N = 4096 + 64 };
    float *x = malloc(sizeof(float) * N);
    uint16_t *want = malloc(sizeof(uint16_t) * N * 16), *got = malloc(sizeof(uint16_t) * N * 16);
    int n_ends = (int)(sizeof ends / sizeof ends[0]);
    for (int i = 0; i < N; i++) {
        uint32_t b = i < n_ends ? ends[i] : next_bits();
        memcpy(&x[i], &b, 4);
    }
    const bn_rows_ops *ops[BN_TIER_COUNT];
    int n_ops = simd_rows_ops(ops);
    for (int o = 0; o < n_ops; o++) {
        printf("# rows to_f16: %s\n", ops[o]->name);
        for (int stride = 1; stride <= 16; stride += 15)
            for (int len = 1; len <= 40; len++)
                for (int at = 0; at + len <= N; at += len == 40 ? len : N) { /* length 40: the whole array in pieces */
                    memset(want, 0xa5, sizeof(uint16_t) * (size_t)len * (size_t)stride);
                    memset(got, 0xa5, sizeof(uint16_t) * (size_t)len * (size_t)stride);
                    bn_rows_portable.to_f16(want, stride, x + at, len);
                    ops[o]->to_f16(got, stride, x + at, len);
                    if (memcmp(want, got, sizeof(uint16_t) * (size_t)len * (size_t)stride) == 0) continue;
                    int wrong = 0;
                    for (int i = 0; i < len; i++) {
                        if (want[i * stride] == got[i * stride]) continue;
                        uint32_t bits;
                        memcpy(&bits, &x[at + i], 4);
                        wrong++;
                        CHECK_MSG(false, "%s stride %d len %d at %d: x = 0x%08x -> 0x%04x, portable 0x%04x", ops[o]->name, stride,
                                  len, at + i, bits, got[i * stride], want[i * stride]);
                    }
                    CHECK_MSG(wrong > 0, "%s stride %d len %d at %d: the values between the strided ones were touched", ops[o]->name,
                              stride, len, at);
                }
    }
    for (int i = 0; i < n_ends; i++) { /* the portable conversion itself on the ends: spot values */
        uint16_t h = bn_f32_to_f16(x[i]);
        if (i == 7 || i == 9) CHECK_MSG(h == 0x7c00, "65520 and 65536 round to inf, got 0x%04x", h);
        if (i == 6) CHECK_MSG(h == 0x7bff, "just below 65520 stays 65504, got 0x%04x", h);
        if (i == 17) CHECK_MSG(h == 0x0000, "2^-25 ties to 0, got 0x%04x", h);
        if (i == 19) CHECK_MSG(h == 0x0001, "0.75 x 2^-24 rounds to 2^-24, got 0x%04x", h);
        if (i == 27 || i == 29) CHECK_MSG(h == 0x7e00, "NaN 0x%08x -> 0x%04x", ends[i], h);
        if (i == 28) CHECK_MSG(h == 0xfe00, "-NaN -> 0x%04x", h);
    }
    free(x);
    free(want);
    free(got);
}

TEST(rows_norm_match_portable) {
    const bn_rows_ops *ops[BN_TIER_COUNT];
    int n = simd_rows_ops(ops);
    for (int i = 0; i < n; i++) {
        printf("# rows norm: %s\n", ops[i]->name);
        rows_norm_check(ops[i]);
    }
}

static void rows_norm_check(const bn_rows_ops *fast) {
    const bn_rows_ops *ref = &bn_rows_portable;
    const int64_t lens[] = {1, 17, 256, 2565, 6912};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (int mode = BN_ACT_TOKEN; mode <= BN_ACT_NONE; mode++) {
            int64_t n = lens[li];
            if (mode == BN_ACT_Q8K && n % 256) continue;
            int rows = BN_ROWS_GROUP + 3;
            float *x = malloc(sizeof(float) * (size_t)(rows * n)), *g = malloc(sizeof(float) * (size_t)n);
            float *h[2] = {malloc(sizeof(float) * (size_t)(rows * n)), malloc(sizeof(float) * (size_t)(rows * n))};
            void *scr[2] = {aligned_alloc(64, (bn_act_scratch_bytes((bn_act_quant)mode, rows, n) + 127) / 64 * 64),
                            aligned_alloc(64, (bn_act_scratch_bytes((bn_act_quant)mode, rows, n) + 127) / 64 * 64)};
            fill_row(g, n, 0, 1.5f);
            for (int r = 0; r < rows; r++) {
                int kind = r % 4 == 3 ? 1 : r % 4;
                fill_row(x + r * n, n, kind, r == 5 ? 0.0f : (kind == 1 ? (r & 8 ? -0.75f : 0.75f) : 1e-3f * (float)(1 << r)));
            }
            bn_act act[2];
            for (int k = 0; k < 2; k++) {
                const bn_rows_ops *ops = k ? ref : fast;
                CHECK(bn_act_setup(&act[k], (bn_act_quant)mode, h[k], rows, n, scr[k]) == 0);
                for (int t0 = 0; t0 < rows;) { /* groups of every size 1..BN_ROWS_GROUP */
                    int nr = t0 == 0 ? BN_ROWS_GROUP : t0 == BN_ROWS_GROUP ? 1 : rows - t0;
                    float *y[BN_ROWS_GROUP];
                    const float *xs[BN_ROWS_GROUP];
                    for (int r = 0; r < nr; r++) {
                        y[r] = h[k] + (t0 + r) * n;
                        xs[r] = x + (t0 + r) * n;
                    }
                    ops->norm(y, xs, nr, g, n, 1e-6f, &act[k], t0);
                    t0 += nr;
                }
            }
            CHECK_MSG(same_bits(h[0], h[1], (size_t)(rows * n)), "norm n %lld mode %d", (long long)n, mode);
            if (mode == BN_ACT_TOKEN) {
                CHECK_MSG(memcmp(act[0].q, act[1].q, (size_t)(rows * n)) == 0, "q n %lld", (long long)n);
                CHECK_MSG(same_bits(act[0].s, act[1].s, (size_t)rows), "s n %lld", (long long)n);
            } else if (mode == BN_ACT_Q8K) {
                CHECK(memcmp(act[0].q8k, act[1].q8k, (size_t)(rows * (n / 256)) * sizeof(bn_block_q8_k)) == 0);
            }
            free(x);
            free(g);
            for (int k = 0; k < 2; k++) {
                free(h[k]);
                free(scr[k]);
            }
        }
}

/* Decoding one token at a time after a prefill reproduces the full prefill's logits. */
TEST(incremental_decode_matches_prefill) {
    int64_t v = 0;
    const char *path = gen("tq2_inc", "bitnet", BN_TYPE_TQ2_0, NULL);
    float *ref = run_logits(path, BN_ACT_TOKEN, 1, 64, &v);
    bn_model *m = NULL;
    CHECK(bn_model_load(path, &m) == 0);
    bn_state_params sp;
    bn_state_default_params(&sp);
    sp.n_ctx = 32;
    sp.n_threads = 1;
    bn_state *s = NULL;
    CHECK(bn_state_create(m, &sp, &s) == 0);
    float *last = malloc(sizeof(float) * (size_t)v);
    CHECK(bn_state_eval(s, toks, 4, last, false) == 0);
    CHECK(same_bits(last, ref + 3 * v, (size_t)v));
    for (int i = 4; i < N_TOKS; i++) {
        CHECK(bn_state_eval(s, toks + i, 1, last, false) == 0);
        CHECK_MSG(same_bits(last, ref + (size_t)i * (size_t)v, (size_t)v), "position %d", i);
    }
    CHECK_EQ_INT(bn_state_n_past(s), N_TOKS);
    /* truncate + re-evaluate reproduces too */
    CHECK(bn_state_truncate(s, 6) == 0);
    CHECK(bn_state_eval(s, toks + 6, 1, last, false) == 0);
    CHECK(same_bits(last, ref + 6 * v, (size_t)v));
    free(last);
    free(ref);
    bn_state_free(s);
    bn_model_free(m);
}

TEST(context_overflow_and_bad_ids) {
    const char *path = gen("tq2_ctx", "bitnet", BN_TYPE_TQ2_0, NULL);
    bn_model *m = NULL;
    CHECK(bn_model_load(path, &m) == 0);
    bn_state_params sp;
    bn_state_default_params(&sp);
    sp.n_ctx = 8;
    bn_state *s = NULL;
    CHECK(bn_state_create(m, &sp, &s) == 0);
    CHECK_EQ_INT(bn_state_eval(s, toks, 9, NULL, false), BITNET_ERR_CONTEXT_EXCEEDED);
    CHECK(strstr(bn_last_error_message(), "context") != NULL);
    CHECK_EQ_INT(bn_state_n_past(s), 0);
    CHECK(bn_state_eval(s, toks, 8, NULL, false) == 0);
    CHECK_EQ_INT(bn_state_eval(s, toks, 1, NULL, false), BITNET_ERR_CONTEXT_EXCEEDED);
    bn_state_reset(s);
    int32_t bad[2] = {1, 300};
    CHECK_EQ_INT(bn_state_eval(s, bad, 2, NULL, false), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bn_last_error_message(), "300") != NULL);
    bad[1] = -1;
    CHECK_EQ_INT(bn_state_eval(s, bad, 2, NULL, false), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_state_n_past(s), 0);
    CHECK_EQ_INT(bn_state_truncate(s, 1), BITNET_ERR_INVALID_ARGUMENT);
    bn_state_free(s);
    bn_model_free(m);
}

static void transposed(bn_genmodel_params *p) { p->transposed_embedding = true; }
static void scales(bn_genmodel_params *p) { p->scale_tensors = true; }
static void separate_head(bn_genmodel_params *p) { p->output_weight = true; }
static void q8_embedding(bn_genmodel_params *p) { p->etype = BN_TYPE_Q8_0; }
static void f32_embedding(bn_genmodel_params *p) { p->etype = BN_TYPE_F32; }

/* A transposed F32 embedding is the same model as the plain F32 one. */
TEST(transposed_embedding) {
    int64_t v = 0;
    float *a = run_logits(gen("emb_plain", "bitnet", BN_TYPE_TQ2_0, f32_embedding), BN_ACT_TOKEN, 1, 64, &v);
    const char *tp = gen("emb_t", "bitnet", BN_TYPE_TQ2_0, transposed);
    /* gen() tweaks only one field at a time: regenerate with both */
    bn_genmodel_params p;
    test_small_model_params(&p, "bitnet", BN_TYPE_TQ2_0, 11);
    p.transposed_embedding = true;
    p.etype = BN_TYPE_F32;
    CHECK(bn_genmodel_write(&p, tp) == 0);
    bn_model *m = NULL;
    CHECK(bn_model_load(tp, &m) == 0);
    CHECK(m && m->embd_transposed && m->tied_head);
    bn_model_free(m);
    float *b = run_logits(tp, BN_ACT_TOKEN, 1, 64, &v);
    CHECK(same_bits(a, b, (size_t)N_TOKS * (size_t)v));
    free(a);
    free(b);
}

/* Scale tensors change the output; a separate output.weight is used when present; a Q8_0
 * embedding runs and stays close to the F16 one. */
TEST(binding_variants) {
    int64_t v = 0;
    float *base = run_logits(gen("base", "bitnet", BN_TYPE_TQ2_0, NULL), BN_ACT_TOKEN, 1, 64, &v);
    float *sc = run_logits(gen("scales", "bitnet", BN_TYPE_TQ2_0, scales), BN_ACT_TOKEN, 1, 64, &v);
    CHECK(base && sc && !same_bits(base, sc, (size_t)N_TOKS * (size_t)v));
    bn_model *m = NULL;
    CHECK(bn_model_load(model_path("scales"), &m) == 0);
    CHECK(m && m->layers[0].wq.out_scale != 1.0f);
    bn_model_free(m);
    CHECK(bn_model_load(gen("sep", "bitnet", BN_TYPE_TQ2_0, separate_head), &m) == 0);
    CHECK(m && !m->tied_head);
    bn_model_free(m);
    float *sep = run_logits(model_path("sep"), BN_ACT_TOKEN, 1, 64, &v);
    CHECK(sep && !same_bits(base, sep, (size_t)N_TOKS * (size_t)v));
    float *q8 = run_logits(gen("q8emb", "bitnet", BN_TYPE_TQ2_0, q8_embedding), BN_ACT_TOKEN, 1, 64, &v);
    CHECK(q8 && max_rel_diff(base, q8, (size_t)N_TOKS * (size_t)v) < 0.05);
    free(base);
    free(sc);
    free(sep);
    free(q8);
}

/* Shape mismatches and missing tensors are load errors naming the tensor. */
TEST(binding_errors) {
    bn_model *m = NULL;
    CHECK(bn_model_load(model_path("does_not_exist"), &m) != 0);
    CHECK(m == NULL);
    /* a vocabulary-only file is not a model */
    const char *vocab = ".cache/reference/llama.cpp/models/ggml-vocab-llama-spm.gguf";
    FILE *f = fopen(vocab, "rb");
    if (f) {
        fclose(f);
        CHECK(bn_model_load(vocab, &m) != 0);
        CHECK(strstr(bn_last_error_message(), "architecture") != NULL || strstr(bn_last_error_message(), "missing") != NULL);
    }
}

/* Copies a GGUF, renaming one tensor and, when key is set, setting that string key (every
 * other key and tensor unchanged). */
static int copy_edited(const char *src, const char *dst, const char *from, const char *to, const char *key, const char *value) {
    gguf_file *f = gguf_open(src);
    if (!f) return -1;
    gguf_writer *w = gguf_writer_new();
    int rc = w ? 0 : -1;
    for (uint64_t i = 0; !rc && i < f->n_kv; i++) rc = gguf_writer_copy_kv(w, f, &f->kv[i]);
    if (!rc && key) rc = gguf_writer_set_str(w, key, value);
    for (uint64_t i = 0; !rc && i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        rc = gguf_writer_add_tensor(w, strcmp(t->name, from) ? t->name : to, t->n_dims, t->ne, t->type, t->data, t->n_bytes, true);
    }
    if (!rc) rc = gguf_writer_write(w, dst);
    gguf_writer_free(w);
    gguf_close(f);
    return rc;
}

static int copy_renamed(const char *src, const char *dst, const char *from, const char *to) {
    return copy_edited(src, dst, from, to, NULL, NULL);
}

/* The HF-style embedding names the seed tools accept bind like token_embd.weight. */
TEST(hf_embedding_names) {
    int64_t v = 0;
    const char *base = gen("names_base", "bitnet", BN_TYPE_TQ2_0, NULL);
    float *ref = run_logits(base, BN_ACT_TOKEN, 1, 64, &v);
    const char *names[] = {"embed_tokens.weight", "tok_embeddings.weight", "model.embed_tokens.weight"};
    for (int i = 0; i < 3; i++) {
        const char *path = model_path(names[i]);
        CHECK(copy_renamed(base, path, "token_embd.weight", names[i]) == 0);
        float *x = run_logits(path, BN_ACT_TOKEN, 1, 64, &v);
        CHECK_MSG(same_bits(ref, x, (size_t)N_TOKS * (size_t)v), "%s", names[i]);
        free(x);
    }
    /* and without any embedding the load fails, naming it */
    const char *none = model_path("no_embedding");
    CHECK(copy_renamed(base, none, "token_embd.weight", "something_else.weight") == 0);
    bn_model *m = NULL;
    CHECK(bn_model_load(none, &m) != 0);
    CHECK(strstr(bn_last_error_message(), "token_embd") != NULL);
    free(ref);
}


/* ---- context shift (bn_state_seq_shift) ---- */

typedef struct kv_image {
    uint8_t *data;
    size_t len, cap;
} kv_image;

static int image_append(void *ctx, void *data, size_t len) {
    kv_image *im = ctx;
    if (im->len + len > im->cap) return -1;
    memcpy(im->data + im->len, data, len);
    im->len += len;
    return 0;
}

/* Sequence 0's entries of positions [0, n): per layer and KV head its K^T blocks, then its V rows. */
static uint8_t *snapshot(bn_state *s, int64_t n) {
    kv_image im = {malloc(bn_state_kv_image_bytes(s, n)), 0, bn_state_kv_image_bytes(s, n)};
    if (im.data && bn_state_seq_kv_regions(s, 0, n, image_append, &im) == 0 && im.len == im.cap) return im.data;
    free(im.data);
    return NULL;
}

typedef struct kv_view {
    const bn_hparams *hp;
    bn_kv_type t;
    int64_t n;
} kv_view;

static const uint8_t *view_head(kv_view v, const uint8_t *im, int64_t l, int64_t h) {
    uint64_t kb = bn_kv_k_block_bytes(v.t, v.hp->head_dim), vb = bn_kv_v_row_bytes(v.t, v.hp->head_dim);
    uint64_t per_head = (uint64_t)((v.n + 15) / 16) * kb + (uint64_t)v.n * vb;
    return im + (uint64_t)(l * v.hp->n_head_kv + h) * per_head;
}
static void view_k(kv_view v, const uint8_t *im, int64_t l, int64_t h, int64_t p, float *k) {
    bn_kv_load_k(v.t, view_head(v, im, l, h) + (uint64_t)(p / 16) * bn_kv_k_block_bytes(v.t, v.hp->head_dim), (int)(p % 16), k, v.hp->head_dim);
}
static const uint8_t *view_v(kv_view v, const uint8_t *im, int64_t l, int64_t h, int64_t p) {
    uint64_t kb = bn_kv_k_block_bytes(v.t, v.hp->head_dim), vb = bn_kv_v_row_bytes(v.t, v.hp->head_dim);
    return view_head(v, im, l, h) + (uint64_t)((v.n + 15) / 16) * kb + (uint64_t)p * vb;
}

static float max_abs(const float *x, int64_t n) {
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    return m;
}

#define SHIFT_LEN 40
static int32_t shift_tok(int i) { return (int32_t)((i * 37 + 5) % 300); }

/* A state over m with sequence 0 holding the shift_tok tokens of positions pos[0, n). Two
 * threads come with KV cache spans of 32 positions (one span of 64 otherwise), so that the
 * moves below also cross spans, and their results are compared with one thread's. */
static bn_state *tokens_state(const bn_model *m, bn_kv_type t, int threads, const int64_t *pos, int n) {
    bn_state_params sp;
    bn_state_default_params(&sp);
    sp.n_ctx = 64;
    sp.n_threads = threads;
    sp.kv_type_k = sp.kv_type_v = t;
    sp.kv_span_keys = threads > 1 ? 32 : 0;
    bn_state *s = NULL;
    if (bn_state_create(m, &sp, &s)) return NULL;
    int32_t tk[SHIFT_LEN];
    for (int i = 0; i < n; i++) tk[i] = shift_tok((int)pos[i]);
    if (bn_state_eval(s, tk, n, NULL, false)) {
        bn_state_free(s);
        return NULL;
    }
    return s;
}

/* Where position p's entries come from after the runs (p itself before the first). */
static int64_t moved_from(const bn_kv_run *runs, int n_runs, int64_t p) {
    for (int r = 0; r < n_runs; r++)
        if (p >= runs[r].dst && p < runs[r].dst + runs[r].n) return p + runs[r].src - runs[r].dst;
    return p;
}

/* A move of 40 positions (bn_state_seq_shift's one run when `shift`, else bn_state_seq_move's
 * runs) checked against the entries before it and a fresh evaluation of the tokens left (layer
 * 0's keys and values depend on their own token and position only). */
static void check_moved(const bn_model *m, bn_kv_type t, const bn_kv_run *runs, int n_runs, bool shift) {
    const bn_hparams *hp = &m->hp;
    int64_t hd = hp->head_dim, half = hp->n_rot / 2, n_new = runs[n_runs - 1].dst + runs[n_runs - 1].n, keep = runs[0].dst;
    int64_t all[SHIFT_LEN], left[SHIFT_LEN];
    for (int64_t p = 0; p < SHIFT_LEN; p++) all[p] = p;
    for (int64_t p = 0; p < n_new; p++) left[p] = moved_from(runs, n_runs, p);
    float tol = t == BN_KV_F32 ? 1e-5f : t == BN_KV_F16 ? 2e-3f : 2.5e-2f;
    bn_state *s = tokens_state(m, t, 1, all, SHIFT_LEN), *s2 = tokens_state(m, t, 2, all, SHIFT_LEN), *fresh = tokens_state(m, t, 1, left, (int)n_new);
    CHECK(s && s2 && fresh);
    if (!s || !s2 || !fresh) goto out;
    uint8_t *before = snapshot(s, SHIFT_LEN);
    int64_t d = runs[0].src - runs[0].dst;
    if (shift) CHECK(bn_state_seq_shift(s, 0, keep, d) == 0 && bn_state_seq_shift(s2, 0, keep, d) == 0);
    else CHECK(bn_state_seq_move(s, 0, runs, n_runs) == 0 && bn_state_seq_move(s2, 0, runs, n_runs) == 0);
    CHECK_EQ_INT(bn_state_n_past(s), n_new);
    uint8_t *after = snapshot(s, n_new), *after2 = snapshot(s2, n_new), *ref = snapshot(fresh, n_new);
    CHECK(before && after && after2 && ref);
    CHECK_MSG(after && after2 && memcmp(after, after2, bn_state_kv_image_bytes(s, n_new)) == 0, "threads and spans change the shift (%s)",
              bn_kv_type_name(t));
    kv_view vb = {hp, t, SHIFT_LEN}, va = {hp, t, n_new};
    float k0[256], k1[256], kf[256];
    size_t vrow = (size_t)bn_kv_v_row_bytes(t, hd);
    int bad_keep = 0, bad_v = 0, bad_norm = 0, bad_fresh = 0;
    for (int64_t l = 0; after && before && ref && l < hp->n_layer; l++)
        for (int64_t h = 0; h < hp->n_head_kv; h++)
            for (int64_t p = 0; p < n_new; p++) {
                int64_t src = left[p];
                view_k(vb, before, l, h, src, k0);
                view_k(va, after, l, h, p, k1);
                bad_v += memcmp(view_v(va, after, l, h, p), view_v(vb, before, l, h, src), vrow) != 0;
                float scale = max_abs(k0, hd);
                if (p < keep) {
                    bad_keep += memcmp(k0, k1, (size_t)hd * sizeof(float)) != 0;
                    continue;
                }
                /* a rotation keeps each pair's length (NEOX pairs i with i + half, NORMAL 2i with 2i + 1) */
                for (int64_t i = 0; i < half; i++) {
                    int64_t a = hp->rope_type == BN_ROPE_NORM ? 2 * i : i, b = hp->rope_type == BN_ROPE_NORM ? 2 * i + 1 : i + half;
                    bad_norm += fabsf(hypotf(k0[a], k0[b]) - hypotf(k1[a], k1[b])) > 2 * tol * scale + 1e-6f;
                }
                if (l == 0) {
                    view_k(va, ref, l, h, p, kf);
                    for (int64_t i = 0; i < hd; i++) bad_fresh += fabsf(kf[i] - k1[i]) > 2 * tol * scale + 1e-6f;
                    bad_v += memcmp(view_v(va, ref, l, h, p), view_v(va, after, l, h, p), vrow) != 0;
                }
            }
    CHECK_MSG(!bad_keep && !bad_v && !bad_norm && !bad_fresh, "%s keep %lld, %d runs, first drop %lld: %d kept keys, %d values, %d pair lengths, "
              "%d fresh keys differ", bn_kv_type_name(t), (long long)keep, n_runs, (long long)d, bad_keep, bad_v, bad_norm, bad_fresh);
    /* the sequence goes on from there */
    int32_t next = 9;
    CHECK(bn_state_eval(s, &next, 1, NULL, false) == 0);
    CHECK_EQ_INT(bn_state_n_past(s), n_new + 1);
    free(before);
    free(after);
    free(after2);
    free(ref);
out:
    bn_state_free(s);
    bn_state_free(s2);
    bn_state_free(fresh);
}

static void check_shift(const bn_model *m, bn_kv_type t, int64_t keep, int64_t d) {
    bn_kv_run run = {.dst = keep, .src = keep + d, .n = SHIFT_LEN - keep - d};
    check_moved(m, t, &run, 1, true);
}

/* bn_state_seq_move with several runs (cache reuse's), each by its own distance, across and
 * inside K^T blocks (16 positions); refusals of runs out of shape change nothing. */
static void check_runs(const bn_model *m) {
    const bn_kv_run runs[3] = {{.dst = 3, .src = 7, .n = 5}, {.dst = 8, .src = 15, .n = 9}, {.dst = 17, .src = 30, .n = 6}};
    const bn_kv_run tail[2] = {{.dst = 16, .src = 18, .n = 4}, {.dst = 20, .src = 39, .n = 1}};
    for (int t = 0; t < BN_KV_TYPE_COUNT; t++) {
        check_moved(m, (bn_kv_type)t, runs, 3, false);
        check_moved(m, (bn_kv_type)t, tail, 2, false);
    }
    bn_state *s = tokens_state(m, BN_KV_F16, 1, (const int64_t[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10);
    CHECK(s != NULL);
    const bn_kv_run gap[2] = {{.dst = 1, .src = 3, .n = 2}, {.dst = 4, .src = 6, .n = 1}};     /* destinations not contiguous */
    const bn_kv_run back[2] = {{.dst = 1, .src = 5, .n = 2}, {.dst = 3, .src = 4, .n = 1}};    /* a source before the last one's end */
    const bn_kv_run beyond[1] = {{.dst = 2, .src = 8, .n = 3}};                                /* past the positions held */
    const bn_kv_run still[1] = {{.dst = 2, .src = 2, .n = 3}};                                 /* no move */
    CHECK_EQ_INT(bn_state_seq_move(s, 0, gap, 2), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_state_seq_move(s, 0, back, 2), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_state_seq_move(s, 0, beyond, 1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_state_seq_move(s, 0, still, 1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_state_seq_move(s, 0, runs, 0), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_state_n_past(s), 10);
    bn_state_free(s);
}

/* bn_state_seq_shift at both RoPE kinds, every KV type, drops shorter and longer than a K^T
 * block and starting inside one; refusals change nothing. bn_state_seq_move's runs too. */
TEST(context_shift) {
    const char *paths[2] = {gen("tq2_shift", "bitnet", BN_TYPE_TQ2_0, NULL), NULL};
    bn_genmodel_params gp;
    test_small_model_params(&gp, "llama", BN_TYPE_TQ2_0, 11);
    gp.rope_freqs = true;
    paths[1] = test_write_model(&gp, model_path("llama_shift"));
    const int64_t cases[][2] = {{5, 13}, {16, 16}, {0, 20}, {3, 1}, {20, 19}, {1, 38}};
    for (int mi = 0; mi < 2; mi++) {
        bn_model *m = NULL;
        CHECK(paths[mi] && bn_model_load(paths[mi], &m) == 0);
        if (!m) continue;
        for (int t = 0; t < BN_KV_TYPE_COUNT; t++)
            for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) check_shift(m, (bn_kv_type)t, cases[c][0], cases[c][1]);
        check_runs(m);
        int64_t all[SHIFT_LEN];
        for (int64_t p = 0; p < SHIFT_LEN; p++) all[p] = p;
        bn_state *s = tokens_state(m, BN_KV_F16, 1, all, SHIFT_LEN);
        CHECK(s != NULL);
        CHECK_EQ_INT(bn_state_seq_shift(s, 0, 5, 0), BITNET_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(bn_state_seq_shift(s, 0, 30, 11), BITNET_ERR_INVALID_ARGUMENT);
        CHECK(strstr(bn_last_error_message(), "[30, 41)") != NULL);
        CHECK_EQ_INT(bn_state_seq_shift(s, 0, -1, 3), BITNET_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(bn_state_seq_shift(s, 1, 0, 3), BITNET_ERR_INVALID_ARGUMENT);
        CHECK_EQ_INT(bn_state_n_past(s), SHIFT_LEN);
        bn_state_free(s);
        bn_model_free(m);
    }
}

static const char *gen_llama(const char *name, uint32_t wtype, bool in_norms) {
    bn_genmodel_params p;
    test_small_model_params(&p, "llama", wtype, 11);
    p.in_norms = in_norms;
    p.rope_freqs = true;
    return test_write_model(&p, model_path(name));
}

/* The llama architecture (no sub-norms, NORMAL RoPE) with per-linear input norms: the same
 * ternary weights as I2_S, TQ2_0 and TQ1_0 give bit-identical logits (token and q8k); the
 * batch split and thread count change nothing (every mode); the in-norms change the output. */
TEST(llama_identities) {
    int64_t v = 0;
    const char *i2 = gen_llama("llama_i2s", BN_TYPE_I2_S, true), *t2 = gen_llama("llama_tq2", BN_TYPE_TQ2_0, true);
    const char *t1 = gen_llama("llama_tq1", BN_TYPE_TQ1_0, true);
    bn_model *m = NULL;
    CHECK(bn_model_load(t2, &m) == 0);
    CHECK(m && m->layers[1].has_in_norms && m->layers[1].in_norm[BN_LIN_DOWN] && !m->layers[1].attn_sub_norm && m->rope_freqs &&
          m->hp.rope_type == BN_ROPE_NORM && m->hp.ffn_act == BN_FFN_SILU);
    bn_model_free(m);
    for (int mode = BN_ACT_TOKEN; mode <= BN_ACT_NONE; mode++) {
        float *a = run_logits(t2, (bn_act_quant)mode, 1, 64, &v);
        if (mode != BN_ACT_NONE) {
            float *b = run_logits(i2, (bn_act_quant)mode, 1, 64, &v), *c = run_logits(t1, (bn_act_quant)mode, 1, 64, &v);
            CHECK_MSG(same_bits(a, b, (size_t)N_TOKS * (size_t)v), "I2_S vs TQ2_0, mode %d", mode);
            CHECK_MSG(same_bits(a, c, (size_t)N_TOKS * (size_t)v), "TQ1_0 vs TQ2_0, mode %d", mode);
            free(b);
            free(c);
        }
        float *x = run_logits(t2, (bn_act_quant)mode, 2, 5, &v);
        CHECK_MSG(same_bits(a, x, (size_t)N_TOKS * (size_t)v), "threads 2 batch 5, mode %d", mode);
        free(x);
        free(a);
    }
    float *with = run_logits(t2, BN_ACT_TOKEN, 1, 64, &v);
    float *without = run_logits(gen_llama("llama_plain", BN_TYPE_TQ2_0, false), BN_ACT_TOKEN, 1, 64, &v);
    CHECK(with && without && !same_bits(with, without, (size_t)N_TOKS * (size_t)v));
    free(with);
    free(without);
}

/* What the llama architecture does not implement is refused with a message naming it, not
 * run with wrong numbers: a bias tensor, yarn RoPE scaling, sub-norms under llama. */
TEST(llama_refusals) {
    const char *base = gen_llama("llama_refuse", BN_TYPE_TQ2_0, true);
    const char *bias = model_path("llama_bias"), *yarn = model_path("llama_yarn");
    bn_model *m = NULL;
    CHECK(copy_renamed(base, bias, "blk.1.attn_q_in_norm.weight", "blk.1.attn_q.bias") == 0);
    CHECK(bn_model_load(bias, &m) == BITNET_ERR_UNSUPPORTED && m == NULL);
    CHECK(strstr(bn_last_error_message(), "blk.1.attn_q.bias") != NULL);
    CHECK(copy_edited(base, yarn, "", "", "llama.rope.scaling.type", "yarn") == 0);
    CHECK(bn_model_load(yarn, &m) == BITNET_ERR_UNSUPPORTED && m == NULL);
    CHECK(strstr(bn_last_error_message(), "rope.scaling.type") != NULL);
    const char *sub = model_path("llama_subnorm");
    CHECK(copy_renamed(base, sub, "blk.0.attn_q_in_norm.weight", "blk.0.attn_sub_norm.weight") == 0);
    CHECK(bn_model_load(sub, &m) == BITNET_ERR_UNSUPPORTED && m == NULL);
    CHECK(strstr(bn_last_error_message(), "attn_sub_norm") != NULL);
}

/* A state of n_ctx 64 over m, KV type t, cache spans of `span` positions (0: one span). */
static bn_state *span_state(const bn_model *m, bn_kv_type t, int64_t span, int threads, int batch) {
    bn_state_params sp;
    bn_state_default_params(&sp);
    sp.n_ctx = 64;
    sp.n_threads = threads;
    sp.max_batch = batch;
    sp.kv_type_k = sp.kv_type_v = t;
    sp.kv_span_keys = span;
    bn_state *s = NULL;
    return bn_state_create(m, &sp, &s) ? NULL : s;
}

/* The KV cache in spans of 32 positions (forward.c's position-major layout; 64 positions are
 * one span by default): the same logits bits as one span for a 48-token prompt in one chunk,
 * in chunks of 20 and token by token (attention across span boundaries, with the kernels'
 * block pairs and prefetches), at every KV type; the same cache bytes handed out by
 * bn_state_seq_kv_regions and copied to an image; an image restored into spans continues as
 * the one-span state does. A span that is not a multiple of 32 is refused. */
TEST(kv_spans_identical) {
    bn_model *m = NULL;
    const char *path = gen("b158_spans", "bitnet-b1.58", BN_TYPE_TQ2_0, NULL);
    CHECK(path && bn_model_load(path, &m) == 0);
    if (!m) return;
    enum { N = 48 };
    int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (int32_t)((11 + 29 * i) % 300);
    int64_t v = m->hp.n_vocab;
    size_t n_logits = (size_t)N * (size_t)v;
    for (int t = 0; t < BN_KV_TYPE_COUNT; t++) {
        const struct { int64_t span; int threads, batch; } cfg[4] = {{0, 2, N}, {32, 2, N}, {32, 2, 20}, {32, 1, 1}};
        float *out[4];
        bn_state *st[4];
        for (int c = 0; c < 4; c++) {
            st[c] = span_state(m, (bn_kv_type)t, cfg[c].span, cfg[c].threads, cfg[c].batch);
            out[c] = malloc(sizeof(float) * n_logits);
            CHECK(st[c] && out[c] && bn_state_eval(st[c], ids, N, out[c], true) == 0);
        }
        for (int c = 1; c < 4; c++)
            CHECK_MSG(same_bits(out[0], out[c], n_logits), "%s: spans of %lld, batch %d, %d threads vs one span",
                      bn_kv_type_name((bn_kv_type)t), (long long)cfg[c].span, cfg[c].batch, cfg[c].threads);
        /* the cache bytes: regions of both layouts, and an image copied out of the spans */
        uint64_t bytes = bn_state_kv_image_bytes(st[0], N);
        uint8_t *one = snapshot(st[0], N), *spans = snapshot(st[1], N), *image = malloc(bytes);
        CHECK(one && spans && image && memcmp(one, spans, bytes) == 0);
        CHECK(image && bn_state_kv_transfer(st[1], (bn_kv_ref){.image = image, .n_image = N}, (bn_kv_ref){.seq = 0}, 0, N) == 0);
        CHECK(one && image && memcmp(one, image, bytes) == 0);
        /* the image into a fresh state of spans, then one more token on it and on the one-span state */
        bn_state *back = span_state(m, (bn_kv_type)t, 32, 2, N);
        float *next[2] = {malloc(sizeof(float) * (size_t)v), malloc(sizeof(float) * (size_t)v)};
        int32_t tok = 77;
        CHECK(back && bn_state_kv_transfer(back, (bn_kv_ref){.seq = 0}, (bn_kv_ref){.image = image, .n_image = N}, 0, N) == 0);
        CHECK(back && bn_state_eval(back, &tok, 1, next[0], false) == 0 && bn_state_eval(st[0], &tok, 1, next[1], false) == 0);
        CHECK_MSG(same_bits(next[0], next[1], (size_t)v), "%s: an image restored into spans", bn_kv_type_name((bn_kv_type)t));
        free(next[0]);
        free(next[1]);
        bn_state_free(back);
        free(one);
        free(spans);
        free(image);
        for (int c = 0; c < 4; c++) {
            free(out[c]);
            bn_state_free(st[c]);
        }
    }
    CHECK(span_state(m, BN_KV_F16, 48, 1, 8) == NULL && strstr(bn_last_error_message(), "multiple of 32") != NULL);
    CHECK(span_state(m, BN_KV_F16, -32, 1, 8) == NULL);
    bn_model_free(m);
}

TEST_MAIN_BEGIN("test_forward")
const char *t = getenv("BITNET_TEST_TMP");
snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
RUN(ternary_formats_identical);
RUN(float_formats_identical);
RUN(batching_and_threads_identical);
RUN(long_prefill_identical);
RUN(rows_elementwise_match_portable);
RUN(rows_to_f16_match_portable);
RUN(rows_norm_match_portable);
RUN(incremental_decode_matches_prefill);
RUN(context_overflow_and_bad_ids);
RUN(transposed_embedding);
RUN(binding_variants);
RUN(binding_errors);
RUN(hf_embedding_names);
RUN(llama_identities);
RUN(llama_refusals);
RUN(context_shift);
RUN(kv_spans_identical);
TEST_MAIN_END()
