/* kernel_bench: per-tier speed of the kernels on the 2B-4T shapes, one thread, against the
 * scalar reference and the machine's streaming-read bandwidth:
 *   token-mode ternary GEMV (n = 1)      GB/s of packed weights read, % of read bandwidth
 *   F16 LM-head GEMV (n = 1)             GB/s of weights read
 *   token-mode ternary GEMM (n = 128)    GOPS (2 M K n / s)
 * Usage: bench/kernel_bench [vocab rows for the LM head, default 32768; 128256 = full] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/kernel_impl.h"
#include "kernels/kernels.h"
#include "model/head_screen.h"
#include "model/linear.h"
#include "util.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 20);
}

static void *make_tensor(gguf_tensor *t, uint32_t type, int64_t M, int64_t K) {
    uint64_t n = (uint64_t)M * (uint64_t)K, bytes;
    bn_type_nbytes(type, n, &bytes);
    if (type == BN_TYPE_I2_S) bytes += BN_I2S_TRAILER;
    uint8_t *d = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (type == BN_TYPE_I2_S) {
        for (uint64_t i = 0; i < n / 4; i++) { /* codes 0..2 in each 2-bit field */
            uint8_t b = 0;
            for (int f = 0; f < 4; f++) b |= (uint8_t)((rnd() % 3) << (2 * f));
            d[i] = b;
        }
        float s = 0.8f;
        memcpy(d + n / 4, &s, 4);
    } else {
        for (uint64_t i = 0; i < n; i++) ((uint16_t *)d)[i] = bn_f32_to_f16(((float)(rnd() % 2001) - 1000.0f) / 1000.0f);
    }
    memset(t, 0, sizeof *t);
    t->name = "bench";
    t->n_dims = 2;
    t->ne[0] = (uint64_t)K; t->ne[1] = (uint64_t)M; t->ne[2] = t->ne[3] = 1;
    t->type = type;
    t->n_elements = n;
    t->n_bytes = bytes;
    t->data = d;
    return d;
}

typedef struct bench_case {
    bn_linear *w;
    bn_act *a;
    float *y;
    void *tmp;
} bench_case;

/* Seconds per call (best of a few timed runs of `reps` calls). */
static double time_apply(const bn_kernel_table *k, const bench_case *c, int reps) {
    double best = 1e30;
    for (int run = 0; run < 3; run++) {
        double t0 = bn_time_now();
        for (int r = 0; r < reps; r++) {
            if (!k || !bn_kernel_linear_apply_with(k, c->w, c->a, c->y, c->w->out, 0, c->w->out, c->tmp))
                bn_linear_apply_rows_ref(c->w, c->a, c->y, c->w->out, 0, c->w->out, c->tmp);
        }
        double dt = (bn_time_now() - t0) / reps;
        if (dt < best) best = dt;
    }
    return best;
}

static bn_act make_act(bn_act_quant mode, int n, int64_t K, float **x_out) {
    float *x = malloc((size_t)n * (size_t)K * sizeof(float));
    for (int64_t i = 0; i < n * K; i++) x[i] = ((float)(rnd() % 2001) - 1000.0f) / 300.0f;
    void *scratch = aligned_alloc(64, (bn_act_scratch_bytes(mode, n, K) + 127) / 64 * 64);
    bn_act a;
    bn_act_prepare(&a, mode, x, n, K, scratch);
    *x_out = x;
    return a;
}

/* The --lm-head q8 head: Q8_0 weights (random codes, scale 1/64) times Q8_0 activations. */
static void bench_q8_0_head(int64_t vocab, double bw1) {
    int64_t K = 2560, nb = K / 32;
    bn_block_q8_0 *data = aligned_alloc(64, ((uint64_t)vocab * nb * sizeof(bn_block_q8_0) + 63) / 64 * 64);
    for (int64_t i = 0; i < vocab * nb; i++) {
        data[i].d = bn_f32_to_f16(1.0f / 64);
        for (int j = 0; j < 32; j++) data[i].qs[j] = (int8_t)(rnd() % 255 - 127);
    }
    gguf_tensor t;
    memset(&t, 0, sizeof t);
    t.name = "bench_q8";
    t.n_dims = 2;
    t.ne[0] = (uint64_t)K; t.ne[1] = (uint64_t)vocab; t.ne[2] = t.ne[3] = 1;
    t.type = BN_TYPE_Q8_0;
    t.n_elements = (uint64_t)vocab * (uint64_t)K;
    t.n_bytes = (uint64_t)vocab * nb * sizeof(bn_block_q8_0);
    t.data = data;
    bn_linear w;
    bn_linear_init(&w, &t, NULL);
    float *x1;
    bn_act a1 = make_act(BN_ACT_NONE, 1, K, &x1);
    bn_block_q8_0 *xq = aligned_alloc(64, (bn_act_q8_0_bytes(1, K) + 63) / 64 * 64);
    bn_act_quantize_q8_0(&a1, xq, 0, 1);
    float *y = bn_malloc_lines((size_t)vocab * sizeof(float), "bench");
    void *tmp = aligned_alloc(64, (bn_linear_row_scratch_bytes(&w) + 63) / 64 * 64);
    bench_case c1 = {&w, &a1, y, tmp};
    double bytes = (double)t.n_bytes;
    printf("\nQ8_0 LM head (Q8_0 activations) %lldx2560 (%.0f MB):\n", (long long)vocab, bytes / 1e6);
    for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
        const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
        if (!k || (tier == BN_TIER_AVXVNNI || tier == BN_TIER_AMX)) continue;
        double s = time_apply(k, &c1, 3);
        printf("  %-8s GEMV n=1 %8.2f ms (%6.2f GB/s, %3.0f%% of 1-thread read bw)\n", k->name, s * 1e3, bytes / s / 1e9,
               100 * bytes / s / 1e9 / bw1);
    }
    if (bn_kernel_linear_pack_q8_0(&w) == 0 && w.packed) { /* the q8 rows layout of the decode step */
        double packed = (double)bn_kernel_packed_bytes(&w);
        for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
            const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
            if (!k || !bn_kernels_have_q8_rows(k) || tier == BN_TIER_AVXVNNI || tier == BN_TIER_AMX) continue;
            double s = time_apply(k, &c1, 3);
            printf("  %-8s GEMV n=1 %8.2f ms (%6.2f GB/s, %3.0f%% of 1-thread read bw), q8 rows layout\n", k->name, s * 1e3,
                   packed / s / 1e9, 100 * packed / s / 1e9 / bw1);
        }
        bn_kernel_linear_unpack(&w);
    }
    free(data); free(x1); free(xq); free(y); free(tmp); free(a1.q);
}

/* The screened head's pass over its 8-bit copy (model/head_screen.h) of an F16 head, n = 1 and
 * n = 8 tokens, per tier: GB/s of the copy read. */
static void bench_screen(int64_t vocab, double bw1) {
    gguf_tensor t;
    void *data = make_tensor(&t, BN_TYPE_F16, vocab, 2560);
    bn_linear w;
    bn_linear_init(&w, &t, NULL);
    bn_head_screen *h = bn_head_screen_alloc(&w);
    float *row = malloc(2560 * sizeof(float)), *x8;
    bn_head_screen_fill(h, &w, 0, vocab, NULL, row);
    make_act(BN_ACT_NONE, 8, 2560, &x8);
    int64_t nq = h->n_groups * BN_SCREEN_GROUP_BYTES, ne = h->n_groups * BN_SCREEN_GROUP;
    /* line-aligned, as the engine's scratch (bn_malloc_lines): a 64-byte load that straddles two
     * lines made this pass ~1.4x slower in cache (Zen 5) */
    int16_t *xq = bn_malloc_lines((size_t)(8 * nq) * sizeof *xq, "bench");
    float *e = bn_malloc_lines((size_t)(8 * ne) * sizeof *e, "bench"), *xabs = bn_malloc_lines((size_t)(8 * ne) * sizeof *xabs, "bench");
    float *approx = malloc((size_t)vocab * 8 * sizeof(float)), *radius = malloc((size_t)vocab * 8 * sizeof(float));
    for (int i = 0; i < 8; i++) bn_head_screen_prepare(h, x8 + i * 2560, xq + i * nq, e + i * ne, xabs + i * ne);
    bn_screen_act a1 = {1, xq, e, xabs}, a8 = {8, xq, e, xabs};
    double bytes = (double)h->bytes;
    printf("\nscreened head copy of %lldx2560 (%.0f MB):\n", (long long)vocab, bytes / 1e6);
    for (int tier = BN_TIER_SCALAR; tier < BN_TIER_COUNT; tier++) {
        if (tier == BN_TIER_AVXVNNI || tier == BN_TIER_AMX || (tier != BN_TIER_SCALAR && !bn_cpu_has_tier((bn_cpu_tier)tier))) continue;
        bn_screen_kernel k = bn_head_screen_kernel_for_tier((bn_cpu_tier)tier);
        double best1 = 1e30, best8 = 1e30;
        for (int run = 0; run < 3; run++) {
            double t0 = bn_time_now();
            k(h, &a1, approx, radius, vocab, 0, vocab);
            double t1 = bn_time_now();
            k(h, &a8, approx, radius, vocab, 0, vocab);
            double t2 = bn_time_now();
            if (t1 - t0 < best1) best1 = t1 - t0;
            if (t2 - t1 < best8) best8 = t2 - t1;
        }
        printf("  %-8s n=1 %8.2f ms (%6.2f GB/s, %3.0f%% of 1-thread read bw)   n=8 %8.2f ms (%.2fx n=1)\n",
               bn_cpu_tier_name((bn_cpu_tier)tier), best1 * 1e3, bytes / best1 / 1e9, 100 * bytes / best1 / 1e9 / bw1, best8 * 1e3,
               best8 / best1);
    }
    bn_head_screen_free(h);
    free(data); free(row); free(x8); free(xq); free(e); free(xabs); free(approx); free(radius);
}

int main(int argc, char **argv) {
    int64_t vocab = argc > 1 ? atoll(argv[1]) : 32768;
    double bw1 = bn_measure_read_bandwidth(512u << 20, 1), bw2 = bn_measure_read_bandwidth(512u << 20, 2);
    printf("cpu: best tier %s (in use: %s); read bandwidth 1 thread %.1f GB/s, 2 threads %.1f GB/s\n",
           bn_cpu_tier_name(bn_cpu_best_tier()), bn_kernel_tier_name(), bw1, bw2);
    printf("all numbers below: 1 thread\n");
    const struct { int64_t M, K; const char *what; } shapes[] = {
        {6912, 2560, "gate/up 6912x2560"}, {2560, 6912, "down 2560x6912"}, {2560, 2560, "q/o 2560x2560"}};
    for (size_t si = 0; si < 3; si++) {
        gguf_tensor t;
        void *data = make_tensor(&t, BN_TYPE_I2_S, shapes[si].M, shapes[si].K);
        bn_linear w;
        bn_linear_init(&w, &t, NULL);
        double t0 = bn_time_now();
        w.packed = bn_ternary_tiles_build(&w);
        double pack_s = bn_time_now() - t0;
        float *x1, *x8, *x128;
        bn_act a1 = make_act(BN_ACT_TOKEN, 1, w.in, &x1), a8 = make_act(BN_ACT_TOKEN, 8, w.in, &x8),
               a128 = make_act(BN_ACT_TOKEN, 128, w.in, &x128);
        float *y = bn_malloc_lines((size_t)128 * (size_t)w.out * sizeof(float), "bench"); /* line-aligned as the engine's outputs */
        void *tmp = aligned_alloc(64, (bn_linear_row_scratch_bytes(&w) + 63) / 64 * 64);
        bench_case c1 = {&w, &a1, y, tmp}, c8 = {&w, &a8, y, tmp}, c128 = {&w, &a128, y, tmp};
        double bytes = (double)bn_kernel_packed_bytes(&w), ops = 2.0 * (double)w.out * (double)w.in * 128;
        printf("\nternary I2_S %s: packed %.1f MB in %.1f ms (%.2f ns/weight)\n", shapes[si].what, bytes / 1e6, pack_s * 1e3,
               pack_s * 1e9 / ((double)w.out * (double)w.in));
        double ref1 = time_apply(NULL, &c1, 2), ref128 = time_apply(NULL, &c128, 1);
        printf("  %-8s GEMV n=1 %8.3f ms (%6.2f GB/s)   GEMM n=128 %9.2f ms (%7.1f GOPS)\n", "scalar", ref1 * 1e3,
               bytes / ref1 / 1e9, ref128 * 1e3, ops / ref128 / 1e9);
        for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
            const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
            if (!k) continue;
            double s1 = time_apply(k, &c1, 20), s8 = time_apply(k, &c8, 5), s128 = time_apply(k, &c128, 3);
            printf("  %-8s GEMV n=1 %8.3f ms (%6.2f GB/s, %3.0f%% of 1-thread read bw, %5.1fx scalar)   n=8 %8.3f ms (%.2fx n=1)   GEMM n=128 %9.2f ms (%7.1f GOPS, %6.1fx scalar)\n",
                   k->name, s1 * 1e3, bytes / s1 / 1e9, 100 * bytes / s1 / 1e9 / bw1, ref1 / s1, s8 * 1e3, s8 / s1, s128 * 1e3, ops / s128 / 1e9, ref128 / s128);
        }
        bn_kernel_linear_unpack(&w);
        free(data); free(x1); free(x8); free(x128); free(a1.q); free(a8.q); free(a128.q); free(y); free(tmp);
    }
    {
        gguf_tensor t;
        void *data = make_tensor(&t, BN_TYPE_F16, vocab, 2560);
        bn_linear w;
        bn_linear_init(&w, &t, NULL);
        float *x1, *x8;
        bn_act a1 = make_act(BN_ACT_NONE, 1, 2560, &x1), a8 = make_act(BN_ACT_NONE, 8, 2560, &x8);
        float *y = bn_malloc_lines((size_t)vocab * 8 * sizeof(float), "bench");
        void *tmp = aligned_alloc(64, (bn_linear_row_scratch_bytes(&w) + 63) / 64 * 64);
        bench_case c1 = {&w, &a1, y, tmp}, c8 = {&w, &a8, y, tmp};
        double bytes = (double)vocab * 2560 * 2;
        printf("\nF16 LM head %lldx2560 (%.0f MB):\n", (long long)vocab, bytes / 1e6);
        double ref = time_apply(NULL, &c1, 1);
        printf("  %-8s GEMV n=1 %8.2f ms (%6.2f GB/s)\n", "scalar", ref * 1e3, bytes / ref / 1e9);
        for (int tier = BN_TIER_AVX2; tier < BN_TIER_COUNT; tier++) {
            const bn_kernel_table *k = bn_kernels_for_tier((bn_cpu_tier)tier);
            if (!k || (tier == BN_TIER_AVXVNNI || tier == BN_TIER_AMX)) continue; /* same float code as avx2 / avx512 */
            double s = time_apply(k, &c1, 3), s8 = time_apply(k, &c8, 1);
            printf("  %-8s GEMV n=1 %8.2f ms (%6.2f GB/s, %3.0f%% of 1-thread read bw, %5.1fx scalar)   n=8 (a batch's decode rows) %8.2f ms (%.2fx n=1)\n",
                   k->name, s * 1e3, bytes / s / 1e9, 100 * bytes / s / 1e9 / bw1, ref / s, s8 * 1e3, s8 / s);
        }
        free(data); free(x1); free(x8); free(y); free(tmp);
    }
    bench_q8_0_head(vocab, bw1);
    bench_screen(vocab, bw1);
    return 0;
}
