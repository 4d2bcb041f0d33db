/* attention_bench: the decode attention items of one generation step alone, at the tier in
 * use (BITNET_FORCE_TIER), on the 2B-4T shapes: 30 layers x 5 KV heads of head size 128, an
 * f16 KV cache filled to `depth` keys, 4 query rows (one token's query heads) per item, items
 * cut by key segment as forward.c cuts a one-sequence decode step, shared by `threads`
 * threads. Prints the best and mean step time and the cache bytes read per second.
 *   bench/attention_bench [depth 2048] [threads 1] [heads 150] [dram 1] [tokens 1] [steps 8 | 50]
 * dram 1: 1 GiB is read between steps, so the cache comes from memory (as in a decode step,
 * where the weights stream through the caches between two layers' attention); dram 0 with few
 * heads times the kernel in L2. tokens > 1: prefill items instead, as forward.c cuts a prompt
 * chunk: per KV head one job of `tokens` consecutive tokens x 4 query heads (rows in token
 * order) at positions [depth - tokens, depth), all keys, not cut by segment. steps: how many
 * are timed (8 with dram 1, else 50; more for `perf record` of the kernel in cache). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/attention.h"
#include "util.h"

#define HEAD_DIM 128
#define GROUP 4 /* query heads per KV head (2B-4T: 20 / 5) */
#define PART_FLOATS (GROUP * (HEAD_DIM + 2))
#define MAX_TOKENS 64

typedef struct bench_cache {
    int n_heads, depth, n_seg, tokens;
    char *k, *v;              /* per head: K^T blocks, then V rows */
    uint64_t k_head, v_head;  /* bytes per head */
    float *q;                 /* [n_heads][GROUP][HEAD_DIM] */
    float *parts;             /* [n_heads * n_seg][PART_FLOATS]: m, l, o of each item */
    atomic_int next;
} bench_cache;

static volatile unsigned flush_sink; /* keeps the reads between steps */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Item w. Decode (tokens 1): KV head w / n_seg, its segment w % n_seg, its GROUP rows (one
 * token's query heads at the last position) into their part slot. Prefill: KV head w, tokens
 * x GROUP rows (token t's query heads at rows t GROUP ..; every token reuses the head's GROUP
 * query vectors) over all their keys, into parts. */
static void run_item(bench_cache *c, int w, float *scratch) {
    const float *q[MAX_TOKENS * GROUP];
    float *out[MAX_TOKENS * GROUP];
    int64_t pos[MAX_TOKENS * GROUP];
    bool decode = c->tokens == 1;
    int h = decode ? w / c->n_seg : w, n = c->tokens * GROUP;
    float *slot = decode ? c->parts + (size_t)w * PART_FLOATS : NULL;
    for (int r = 0; r < n; r++) {
        q[r] = c->q + ((size_t)h * GROUP + (size_t)(r % GROUP)) * HEAD_DIM;
        out[r] = decode ? slot + 2 * GROUP + r * HEAD_DIM : c->parts + ((size_t)w * (size_t)n + (size_t)r) * HEAD_DIM;
        pos[r] = c->depth - c->tokens + r / GROUP;
    }
    bn_attn_job j = {
        .n_rows = n, .head_dim = HEAD_DIM, .q = q, .out = out, .pos = pos,
        .k_type = BN_KV_F16, .v_type = BN_KV_F16, .k = c->k + (size_t)h * c->k_head, .v = c->v + (size_t)h * c->v_head,
        .v_stride = (int64_t)bn_kv_v_row_bytes(BN_KV_F16, HEAD_DIM), .scale = 0.0884f, .scratch = scratch,
    };
    if (decode) {
        j.seg0 = (int64_t)(w % c->n_seg) * BN_ATTN_SEG;
        j.part_m = slot;
        j.part_l = slot + GROUP;
        j.part_o = out;
    }
    bn_attention_run(&j);
}

static int n_items(const bench_cache *c) { return c->tokens > 1 ? c->n_heads : c->n_heads * c->n_seg; }

static void *worker(void *arg) {
    bench_cache *c = arg;
    float *scratch = aligned_alloc(64, (bn_attention_scratch_floats(c->tokens * GROUP, HEAD_DIM) * sizeof(float) + 63) / 64 * 64);
    if (!scratch) return NULL;
    for (int w; (w = atomic_fetch_add(&c->next, 1)) < n_items(c);) run_item(c, w, scratch);
    free(scratch);
    return NULL;
}

static void fill_f16(char *p, uint64_t bytes, uint32_t mul) {
    for (uint64_t i = 0; i < bytes / 2; i++) {
        uint16_t h = bn_f32_to_f16((float)((i * mul) % 2001) / 1000.0f - 1.0f);
        memcpy(p + 2 * i, &h, 2);
    }
}

/* Floating-point operations of the prefill items' scores and values: 2 x 2 hd per (row, key). */
static double prefill_flops(const bench_cache *c) {
    double keys = 0;
    for (int t = 0; t < c->tokens; t++) keys += c->depth - c->tokens + t + 1;
    return keys * GROUP * c->n_heads * 4.0 * HEAD_DIM;
}

int main(int argc, char **argv) {
    int depth = argc > 1 ? atoi(argv[1]) : 2048, threads = argc > 2 ? atoi(argv[2]) : 1;
    int heads = argc > 3 ? atoi(argv[3]) : 150, dram = argc > 4 ? atoi(argv[4]) : 1;
    int tokens = argc > 5 ? atoi(argv[5]) : 1, reps = argc > 6 ? atoi(argv[6]) : dram ? 8 : 50;
    if (depth < 1 || threads < 1 || threads > 64 || heads < 1 || tokens < 1 || tokens > MAX_TOKENS || tokens > depth || reps < 1) {
        fprintf(stderr, "usage: attention_bench [depth >= 1] [threads 1-64] [heads >= 1] [dram 0|1] [tokens 1-64, <= depth] [steps >= 1]\n");
        return 2;
    }
    bench_cache c = {.n_heads = heads, .depth = depth, .n_seg = (depth - 1) / BN_ATTN_SEG + 1, .tokens = tokens};
    c.k_head = (uint64_t)((depth + BN_ATTN_BLOCK - 1) / BN_ATTN_BLOCK) * bn_kv_k_block_bytes(BN_KV_F16, HEAD_DIM);
    c.v_head = (uint64_t)depth * bn_kv_v_row_bytes(BN_KV_F16, HEAD_DIM);
    /* in 2 MiB pages where the kernel has them, as forward.c maps the caches of a long context */
    c.k = bn_malloc_large(c.k_head * (uint64_t)heads, "K cache");
    c.v = bn_malloc_large(c.v_head * (uint64_t)heads, "V cache");
    c.q = malloc((size_t)heads * GROUP * HEAD_DIM * sizeof(float));
    size_t part_floats = tokens > 1 ? (size_t)tokens * GROUP * HEAD_DIM : (size_t)c.n_seg * PART_FLOATS;
    c.parts = malloc((size_t)heads * part_floats * sizeof(float));
    size_t flush_bytes = dram ? (size_t)1 << 30 : 64;
    char *flush = malloc(flush_bytes);
    if (!c.k || !c.v || !c.q || !c.parts || !flush) {
        fprintf(stderr, "attention_bench: out of memory\n");
        return 1;
    }
    fill_f16(c.k, c.k_head * (uint64_t)heads, 2654435761u);
    fill_f16(c.v, c.v_head * (uint64_t)heads, 40503u);
    for (size_t i = 0; i < (size_t)heads * GROUP * HEAD_DIM; i++) c.q[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    memset(flush, 1, flush_bytes);
    double bytes = (double)(c.k_head + c.v_head) * heads, best = 1e30, total = 0;
    for (int rep = 0; rep < reps; rep++) {
        unsigned sum = 0;
        for (size_t i = 0; dram && i < flush_bytes; i += 64) sum += (unsigned char)flush[i];
        flush_sink = sum;
        atomic_store(&c.next, 0);
        pthread_t th[64];
        double t0 = now();
        int started = 1;
        while (started < threads && pthread_create(&th[started], NULL, worker, &c) == 0) started++;
        worker(&c);
        for (int i = 1; i < started; i++) pthread_join(th[i], NULL);
        double t = now() - t0;
        best = t < best ? t : best;
        total += t;
    }
    if (tokens > 1)
        printf("attention prefill items: %d tokens x %d query heads at positions %d-%d, %d KV heads, %d thread(s), "
               "cache %.1f MB from %s: best %.3f ms (%.1f GFLOP/s), mean %.3f ms\n",
               tokens, GROUP, depth - tokens, depth - 1, heads, threads, bytes / 1e6, dram ? "memory" : "cache", best * 1e3,
               prefill_flops(&c) / best / 1e9, total / reps * 1e3);
    else
        printf("attention decode items: depth %d, %d KV heads x %d segments, %d thread(s), cache %.1f MB from %s: "
               "best %.3f ms (%.1f GB/s), mean %.3f ms\n",
               depth, heads, c.n_seg, threads, bytes / 1e6, dram ? "memory" : "cache", best * 1e3, bytes / best / 1e9,
               total / reps * 1e3);
    bn_free_large(c.k, c.k_head * (uint64_t)heads);
    bn_free_large(c.v, c.v_head * (uint64_t)heads);
    free(c.q), free(c.parts), free(flush);
    return 0;
}
