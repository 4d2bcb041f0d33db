/* Tests of continuous batching (bitnet_batch_*): a request's tokens are identical whether it
 * runs alone in a session or beside others in a batch (greedy and seeded sampling, prompts
 * prefilled in chunks between decode steps, several thread counts), prefix reuse of an idle
 * slot, prompt prefixes shared between slots (copied from a busy, idle or cancelled slot, or
 * waited for; the same tokens as alone; prefix_share_min), cancellation, a full context, context
 * shifts, and the error paths; embeddings (bitnet_session_embed
 * and embedding slots beside generations) agree with one another at every pooling; slot files
 * (a restored slot continues exactly as the one saved; damaged, foreign and mismatched files
 * are refused and leave the slot empty); a prompt's own logits (on_prompt_logits) and its
 * processing progress (on_prompt_progress), in sessions and slots.
 * TSAN_RELEVANT (the pass is threaded). */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitnet.h"
#include "formats/genmodel.h"
#include "test.h"
#include "test_models.h"
#include "formats/types.h"

enum { N_REQ = 8, MAX_GEN = 24 };

static char g_path[512];
static bitnet_model *g_model;

/* What one request produced. */
typedef struct run_log {
    int32_t tokens[MAX_GEN + 8];
    int n;
    int finished, status;
    bitnet_generate_result res;
} run_log;

static int log_token(int32_t token, const char *text, size_t len, void *user) {
    run_log *l = user;
    (void)text, (void)len;
    if (token >= 0 && l->n < MAX_GEN + 8) l->tokens[l->n++] = token;
    return 0;
}

static void log_finish(int slot, int status, const bitnet_generate_result *r, void *user) {
    run_log *l = user;
    (void)slot;
    l->finished++;
    l->status = status;
    l->res = *r;
}

/* Request i: a prompt of 3 + 7 i tokens (a few longer than a step's row budget), greedy or
 * seeded sampling, a few token budgets. */
static int make_prompt(int i, int32_t *out) {
    int n = 3 + 7 * i;
    for (int k = 0; k < n; k++) out[k] = (int32_t)(1 + (k * 37 + i * 11) % 250);
    return n;
}

static bitnet_generate_params request_params(int i, run_log *log) {
    bitnet_generate_params gp = bitnet_generate_default_params();
    gp.max_tokens = MAX_GEN - (i % 3);
    gp.ignore_eog = 1;
    gp.sampling.temperature = i % 2 ? 0.9f : 0.0f;
    gp.sampling.seed = 100 + (uint64_t)i;
    gp.on_token = log_token;
    gp.user_data = log;
    return gp;
}

/* The KV cache type of the sessions and batches below (DEFAULT: f16). */
static bitnet_kv_type g_kv = BITNET_KV_DEFAULT;

/* prompt[0, n) with gp (whose user_data is log) in a session of its own. */
static void session_run(const int32_t *prompt, int n, bitnet_generate_params gp, int64_t n_ctx, run_log *log) {
    bitnet_session_params sp = bitnet_session_default_params();
    sp.kv_type_k = sp.kv_type_v = g_kv;
    sp.n_threads = 1;
    sp.n_ctx = n_ctx;
    bitnet_session *s = NULL;
    memset(log, 0, sizeof *log);
    if (bitnet_session_create(g_model, &sp, &s) != 0) return;
    log->res.struct_size = sizeof log->res;
    log->status = bitnet_session_generate(s, prompt, n, &gp, NULL, 0, &log->res);
    bitnet_session_free(s);
}

static void run_alone(int i, int64_t n_ctx, run_log *log) {
    int32_t prompt[128];
    int n = make_prompt(i, prompt);
    session_run(prompt, n, request_params(i, log), n_ctx, log);
}

static int g_share_min;          /* the batches' prefix_share_min */
static uint64_t g_prompt_cache;  /* and prompt_cache_bytes */

static bitnet_batch *new_batch(int n_slots, int n_batch, int n_threads, int64_t n_ctx) {
    bitnet_batch_params bp = bitnet_batch_default_params();
    bp.prefix_share_min = g_share_min;
    bp.prompt_cache_bytes = g_prompt_cache;
    bp.kv_type_k = bp.kv_type_v = g_kv;
    bp.n_slots = n_slots;
    bp.n_batch = n_batch;
    bp.n_threads = n_threads;
    bp.n_ctx = n_ctx;
    bitnet_batch *b = NULL;
    if (bitnet_batch_create(g_model, &bp, &b) != 0) fprintf(stderr, "batch: %s\n", bitnet_get_last_error());
    return b;
}

static int run_to_end(bitnet_batch *b) {
    int busy, steps = 0;
    while ((busy = bitnet_batch_step(b)) > 0 && steps < 10000) steps++;
    return busy;
}

/* prompt[0, n) as request 0 (max_tokens and n_cache_reuse of its own) in `slot` of b, run to its
 * end into log. */
static void run_reusing(bitnet_batch *b, int slot, const int32_t *prompt, int n, int max_tokens, int n_cache_reuse, run_log *log) {
    memset(log, 0, sizeof *log);
    bitnet_generate_params gp = request_params(0, log);
    gp.max_tokens = max_tokens;
    gp.n_cache_reuse = n_cache_reuse;
    CHECK_EQ_INT(bitnet_batch_submit(b, slot, prompt, n, &gp, log_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
}

static void run_request(bitnet_batch *b, int slot, const int32_t *prompt, int n, int max_tokens, run_log *log) {
    run_reusing(b, slot, prompt, n, max_tokens, 0, log);
}

static void same_tokens(const run_log *a, const run_log *b, int i) {
    CHECK_MSG(a->n == b->n, "request %d: %d tokens alone, %d batched", i, a->n, b->n);
    for (int k = 0; k < a->n && k < b->n; k++) CHECK_MSG(a->tokens[k] == b->tokens[k], "request %d token %d: %d vs %d", i, k, a->tokens[k], b->tokens[k]);
    CHECK_EQ_INT(a->res.stop_reason, b->res.stop_reason);
}

static int g_lookup; /* the batched requests' lookup_draft (the lone runs have none) */
static bool g_predict; /* the batched requests predict their lone runs' tokens, two of them wrong */

/* Request i's prediction: its lone run's tokens with the 6th and 7th replaced. */
static void make_prediction(const run_log *alone, int32_t *pred) {
    memcpy(pred, alone->tokens, sizeof *pred * (size_t)alone->n);
    for (int k = 5; k < 7 && k < alone->n; k++) pred[k] = (alone->tokens[k] + 1) % 256;
}

/* All requests submitted at once, some slots reused as others finish; n_batch 16 cuts the
 * longer prompts into chunks that share steps with decode rows. */
static void batched_equals_alone(int n_threads, int n_slots) {
    run_log alone[N_REQ], batched[N_REQ];
    for (int i = 0; i < N_REQ; i++) run_alone(i, 512, &alone[i]);
    bitnet_batch *b = new_batch(n_slots, 16, n_threads, 512);
    CHECK(b != NULL);
    if (!b) return;
    int32_t prompts[N_REQ][128], preds[N_REQ][MAX_GEN + 8];
    bitnet_generate_params gps[N_REQ];
    int next = 0, steps = 0;
    memset(batched, 0, sizeof batched);
    while (steps++ < 10000) {
        while (next < N_REQ) { /* fill every idle slot */
            int n = make_prompt(next, prompts[next]);
            int slot = bitnet_batch_pick_slot(b, prompts[next], n);
            if (slot < 0) break;
            gps[next] = request_params(next, &batched[next]);
            gps[next].lookup_draft = g_lookup;
            make_prediction(&alone[next], preds[next]);
            if (g_predict) gps[next].prediction = preds[next], gps[next].n_prediction = alone[next].n;
            CHECK_EQ_INT(bitnet_batch_submit(b, slot, prompts[next], n, &gps[next], log_finish), 0);
            next++;
        }
        int busy = bitnet_batch_step(b);
        CHECK(busy >= 0);
        if (busy <= 0 && next == N_REQ) break;
    }
    int drafted = 0, accepted = 0, predicted = 0, taken = 0;
    for (int i = 0; i < N_REQ; i++) {
        drafted += batched[i].res.n_drafted;
        accepted += batched[i].res.n_draft_accepted;
        predicted += batched[i].res.n_prediction_drafted;
        taken += batched[i].res.n_prediction_accepted;
        CHECK_EQ_INT(alone[i].status, 0);
        CHECK_EQ_INT(batched[i].finished, 1);
        CHECK_EQ_INT(batched[i].status, 0);
        CHECK(alone[i].n > 0);
        same_tokens(&alone[i], &batched[i], i);
    }
    bool drafts = g_lookup || g_predict;
    CHECK_MSG(drafts ? accepted > 0 && accepted <= drafted : drafted == 0, "lookup %d: %d drafted, %d taken", g_lookup, drafted, accepted);
    /* every request's prediction has two wrong tokens, after which its drafts are taken again */
    CHECK_MSG(g_predict ? taken > 7 * N_REQ && taken < predicted && predicted <= drafted : predicted == 0,
              "prediction %d: %d drafted, %d taken", g_predict, predicted, taken);
    bitnet_batch_free(b);
}

TEST(batched_equals_alone_1_thread) { batched_equals_alone(1, N_REQ); }

/* With lookup drafts in the steps (speculative rows beside prompt chunks and other slots'
 * rows): the same tokens as the lone runs without them, and drafts were taken. */
TEST(batched_equals_alone_lookup) {
    g_lookup = 6;
    batched_equals_alone(2, 4);
    g_lookup = 0;
}
/* With predictions (their lone runs' tokens, two of them wrong): the same tokens, the
 * predictions' drafts taken before and after the wrong ones. */
TEST(batched_equals_alone_prediction) {
    g_predict = true;
    batched_equals_alone(2, 4);
    g_predict = false;
}
TEST(batched_equals_alone_2_threads) { batched_equals_alone(2, N_REQ); }
TEST(batched_equals_alone_3_slots) { batched_equals_alone(2, 3); }

/* The same with --lm-head q8 (several tokens through the q8 rows head at once). */
TEST(batched_equals_alone_q8_head) {
    bitnet_model *f16 = g_model;
    bitnet_model_params mp = bitnet_model_default_params();
    mp.lm_head_q8 = 1;
    CHECK_EQ_INT(bitnet_model_open(g_path, &mp, &g_model), 0);
    if (g_model) {
        batched_equals_alone(2, 4);
        bitnet_model_close(g_model);
    }
    g_model = f16;
}

/* The same with an f32 and a q8_0 KV cache (the per-slot caches of every type). */
TEST(batched_equals_alone_kv_types) {
    static const bitnet_kv_type types[] = {BITNET_KV_F32, BITNET_KV_Q8_0};
    for (int i = 0; i < 2; i++) {
        g_kv = types[i];
        batched_equals_alone(2, 4);
        bitnet_batch *b = new_batch(2, 16, 1, 64);
        bitnet_batch_desc d = {.struct_size = sizeof d};
        CHECK(b && bitnet_batch_describe(b, &d) == 0 && d.kv_type_k == types[i] && d.kv_type_v == types[i]);
        bitnet_batch_free(b);
    }
    g_kv = BITNET_KV_DEFAULT;
}

/* The prompt of a next turn into p2: the first prompt p1, the reply to it, then n_new tokens
 * from `base` on. Returns its length. */
static int next_turn(const int32_t *p1, int n1, const run_log *reply, int n_new, int32_t base, int32_t *p2) {
    memcpy(p2, p1, (size_t)n1 * sizeof *p2);
    memcpy(p2 + n1, reply->tokens, (size_t)reply->n * sizeof *p2);
    int n2 = n1 + reply->n;
    for (int k = 0; k < n_new; k++) p2[n2++] = base + k;
    return n2;
}

/* A follow-up whose prompt extends the first request's prompt and reply reuses the slot's
 * cache and continues exactly as a fresh session fed the whole prompt. */
TEST(prefix_reuse) {
    bitnet_batch *b = new_batch(2, 32, 1, 512);
    if (!b) {
        CHECK(b != NULL);
        return;
    }
    run_log first, second, third, ref;
    int32_t p1[128], p2[256];
    int n1 = make_prompt(3, p1);
    run_request(b, 1, p1, n1, 10, &first);
    CHECK_EQ_INT(first.res.n_cached, 0);
    /* turn 2 = prompt 1 + reply (all but the last token were fed) + 5 new tokens */
    int n2 = next_turn(p1, n1, &first, 5, 40, p2);
    CHECK_EQ_INT(bitnet_batch_pick_slot(b, p2, n2), 1);
    run_request(b, 1, p2, n2, MAX_GEN, &second); /* request 0's own budget */
    CHECK_EQ_INT(second.res.n_cached, n1 + first.n - 1);
    session_run(p2, n2, request_params(0, &ref), 512, &ref);
    CHECK_EQ_INT(ref.status, 0);
    same_tokens(&ref, &second, 0);
    /* a cleared slot offers nothing */
    CHECK_EQ_INT(bitnet_batch_clear_slot(b, 1), 0);
    run_request(b, 1, p2, n2, MAX_GEN, &third);
    CHECK_EQ_INT(third.res.n_cached, 0);
    same_tokens(&ref, &third, 0);
    bitnet_batch_free(b);
}

/* Shared prompt prefixes: P is a 100-token prompt. Requests 0 (greedy) and 1 (seeded
 * sampling) with prompt P and request 2 with P's first 60 tokens and 20 others, submitted at
 * once in 16-row steps: request 0 prefills P, 1 takes all but P's last token from it, 2 takes
 * its 60; then request 3 (P's first 90 tokens and 10 others) takes 90 from an idle slot. Each
 * continues exactly as alone in a session. With prefix_share_min -1 every slot prefills itself. */
enum { SHARED_N = 100 };

static int shared_prompt(int i, int32_t *out) {
    int keep = i == 2 ? 60 : i == 3 ? 90 : SHARED_N, n = i == 2 ? 80 : SHARED_N;
    for (int k = 0; k < n; k++) out[k] = (int32_t)(k < keep ? 1 + (k * 13 + 5) % 250 : 200 + i + k % 7);
    return n;
}

static void run_shared(int share_min, const int *want_cached) {
    g_share_min = share_min;
    bitnet_batch *b = new_batch(4, 16, 1, 256);
    g_share_min = 0;
    CHECK(b != NULL);
    if (!b) return;
    int32_t prompts[4][SHARED_N];
    int n[4];
    run_log got[4], ref;
    bitnet_generate_params gps[4];
    memset(got, 0, sizeof got);
    for (int i = 0; i < 4; i++) {
        n[i] = shared_prompt(i, prompts[i]);
        gps[i] = request_params(i, &got[i]);
        if (i < 3) CHECK_EQ_INT(bitnet_batch_submit(b, i, prompts[i], n[i], &gps[i], log_finish), 0);
    }
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(bitnet_batch_submit(b, 3, prompts[3], n[3], &gps[3], log_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    for (int i = 0; i < 4; i++) {
        session_run(prompts[i], n[i], request_params(i, &ref), 256, &ref);
        CHECK_EQ_INT(got[i].finished, 1);
        CHECK_EQ_INT(got[i].status, 0);
        CHECK_MSG(got[i].res.n_cached == want_cached[i], "request %d: %d cached, want %d", i, got[i].res.n_cached, want_cached[i]);
        same_tokens(&ref, &got[i], i);
    }
    bitnet_batch_free(b);
}

TEST(shared_prefix) {
    run_shared(0, (const int[]){0, SHARED_N - 1, 60, 90});
    run_shared(-1, (const int[]){0, 0, 0, 0});
    run_shared(70, (const int[]){0, SHARED_N - 1, 0, 90}); /* 60 < 70: request 2 prefills alone */
}

/* A request waiting for an older one's prefill of the same prompt takes what it evaluated when
 * that one is cancelled, then prefills the rest itself. */
TEST(shared_prefix_cancelled) {
    bitnet_batch *b = new_batch(2, 16, 1, 256);
    CHECK(b != NULL);
    if (!b) return;
    int32_t p[SHARED_N];
    int n = shared_prompt(0, p);
    run_log x = {0}, y = {0}, ref;
    bitnet_generate_params gx = request_params(0, &x), gy = request_params(0, &y);
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, p, n, &gx, log_finish), 0);
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, p, n, &gy, log_finish), 0);
    CHECK_EQ_INT(bitnet_batch_step(b), 2); /* x: 16 rows; y waits */
    CHECK_EQ_INT(bitnet_batch_step(b), 2); /* y takes 16; x: 32 */
    CHECK_EQ_INT(bitnet_batch_cancel(b, 0), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(y.res.n_cached, 32);
    session_run(p, n, request_params(0, &ref), 256, &ref);
    same_tokens(&ref, &y, 0);
    bitnet_batch_free(b);
}

/* Many requests whose prompts start with one of three prefixes (or part of one), arriving at
 * random steps into 4 slots, some cancelled at random: copies from busy, idle, prefilling and
 * cancelled slots and waits in every order. Every request that ran to its end produced the
 * tokens it produces alone. */
enum { MIXED_REQ = 24 };

static bitnet_batch_desc describe(const bitnet_batch *b) {
    bitnet_batch_desc d = {.struct_size = sizeof d};
    CHECK_EQ_INT(bitnet_batch_describe(b, &d), 0);
    return d;
}

static uint64_t mix_next(uint64_t *x) {
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

static int mixed_prompt(uint64_t *rng, int32_t *out) {
    int base = (int)(mix_next(rng) % 3), keep = 20 + (int)(mix_next(rng) % 70), own = (int)(mix_next(rng) % 12);
    for (int k = 0; k < keep; k++) out[k] = (int32_t)(1 + (k * 31 + base * 57) % 250);
    for (int k = 0; k < own; k++) out[keep + k] = (int32_t)(1 + mix_next(rng) % 250);
    return keep + own;
}

static void mixed_requests(uint64_t prompt_cache) {
    g_prompt_cache = prompt_cache;
    bitnet_batch *b = new_batch(4, 16, 1, 256);
    g_prompt_cache = 0;
    CHECK(b != NULL);
    if (!b) return;
    static int32_t prompts[MIXED_REQ][128];
    int n[MIXED_REQ], slot_of[MIXED_REQ], cancelled[MIXED_REQ] = {0}, next = 0, shared = 0, ran = 0;
    run_log got[MIXED_REQ], ref;
    bitnet_generate_params gps[MIXED_REQ];
    memset(got, 0, sizeof got);
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (int step = 0; step < 20000 && (next < MIXED_REQ || bitnet_batch_step(b) > 0); step++) {
        for (int tries = (int)(mix_next(&rng) % 3); tries > 0 && next < MIXED_REQ; tries--) {
            n[next] = mixed_prompt(&rng, prompts[next]);
            int slot = bitnet_batch_pick_slot(b, prompts[next], n[next]);
            if (slot < 0) break;
            gps[next] = request_params(next, &got[next]);
            CHECK_EQ_INT(bitnet_batch_submit(b, slot, prompts[next], n[next], &gps[next], log_finish), 0);
            slot_of[next++] = slot;
        }
        if (next > 0 && mix_next(&rng) % 11 == 0) { /* cancel a running request */
            int victim = (int)(mix_next(&rng) % (uint64_t)next);
            if (!got[victim].finished && bitnet_batch_cancel(b, slot_of[victim]) == 0) cancelled[victim] = 1;
        }
        if (next < MIXED_REQ) CHECK(bitnet_batch_step(b) >= 0);
    }
    for (int i = 0; i < MIXED_REQ; i++) {
        CHECK_EQ_INT(got[i].finished, 1);
        if (cancelled[i]) continue;
        shared += got[i].res.n_cached > 0;
        ran++;
        session_run(prompts[i], n[i], request_params(i, &ref), 256, &ref);
        same_tokens(&ref, &got[i], i);
    }
    CHECK_MSG(ran >= MIXED_REQ / 2 && shared >= ran / 2, "%d requests ran to their end, %d of them took a cached prefix", ran, shared);
    if (prompt_cache) CHECK(describe(b).prompt_cache_tokens_restored > 0);
    bitnet_batch_free(b);
}

/* The prompt cache in host memory, one slot: conversations A, B, C (80-token first prompts,
 * 10 greedy tokens each) take turns in it. */
static int conversation(int k, int32_t *out) {
    for (int i = 0; i < 80; i++) out[i] = (int32_t)(1 + (i * 29 + k * 71) % 250);
    return 80;
}

/* prompt[0, n) in slot 0 of b, to its end, into log; its result checked against a session's. */
static void turn(bitnet_batch *b, const int32_t *prompt, int n, run_log *log) {
    run_log ref;
    bitnet_generate_params ref_gp = request_params(0, &ref);
    ref_gp.max_tokens = 10;
    run_request(b, 0, prompt, n, 10, log);
    session_run(prompt, n, ref_gp, 256, &ref);
    same_tokens(&ref, log, 0);
}

/* A's first turn, B's, then A's second turn (its first prompt, reply and 5 tokens): how many
 * prompt tokens the second turn found cached; *used: the cache's bytes after B's turn. */
static int second_turn_cached(uint64_t limit, uint64_t *used) {
    g_prompt_cache = limit;
    bitnet_batch *b = new_batch(1, 16, 1, 256);
    g_prompt_cache = 0;
    if (!b) return -1;
    int32_t pa[128], pb[128], pa2[256];
    int na = conversation(0, pa), nb = conversation(1, pb);
    run_log a, bb, a2;
    turn(b, pa, na, &a);
    turn(b, pb, nb, &bb);
    *used = describe(b).prompt_cache_used;
    turn(b, pa2, next_turn(pa, na, &a, 5, 40, pa2), &a2);
    bitnet_batch_free(b);
    return a2.res.n_cached;
}

TEST(prompt_cache) {
    uint64_t one = 0, none = 0;
    CHECK_EQ_INT(second_turn_cached(64u << 20, &one), 80 + 10 - 1); /* A's prompt and the 9 tokens fed back */
    CHECK(one > 0);
    CHECK_EQ_INT(second_turn_cached(0, &none), 0);
    CHECK(none == 0);
    /* Room for one image: B's turn keeps A; C's keeps B (A dropped, the least recently used);
     * B's second turn takes B's image back (C, which would need B's room, is not kept); A's
     * second turn finds nothing. */
    g_prompt_cache = one + one / 2;
    bitnet_batch *b = new_batch(1, 16, 1, 256);
    g_prompt_cache = 0;
    CHECK(b != NULL);
    if (!b) return;
    int32_t p[3][128], next[256];
    run_log first[3], again;
    for (int k = 0; k < 3; k++) turn(b, p[k], conversation(k, p[k]), &first[k]);
    CHECK_EQ_INT((int)describe(b).prompt_cache_entries, 1);
    turn(b, next, next_turn(p[1], 80, &first[1], 5, 40, next), &again);
    CHECK_EQ_INT(again.res.n_cached, 89);
    bitnet_batch_desc d = describe(b);
    CHECK(d.prompt_cache_entries == 1 && d.prompt_cache_tokens_restored == 89 && d.prompt_cache_used == one);
    turn(b, next, next_turn(p[0], 80, &first[0], 5, 40, next), &again);
    CHECK_EQ_INT(again.res.n_cached, 0);
    bitnet_batch_free(b);
}

TEST(shared_prefix_mixed) { mixed_requests(0); }
/* The same with a small prompt cache (~6 of these prompts at a time) */
TEST(shared_prefix_mixed_prompt_cache) { mixed_requests(1u << 20); }

/* A full slot context ends the run with CONTEXT_FULL after the same tokens as a session of
 * that context. */
TEST(context_full) {
    run_log alone, batched = {0};
    run_alone(2, 24, &alone);
    CHECK_EQ_INT(alone.res.stop_reason, BITNET_STOP_CONTEXT_FULL);
    bitnet_batch *b = new_batch(2, 8, 1, 24);
    if (!b) {
        CHECK(b != NULL);
        return;
    }
    int32_t p[128];
    int n = make_prompt(2, p);
    bitnet_generate_params gp = request_params(2, &batched);
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, p, n, &gp, log_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(batched.res.stop_reason, BITNET_STOP_CONTEXT_FULL);
    same_tokens(&alone, &batched, 2);
    int32_t big[24] = {0};
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, big, 24, &gp, log_finish), BITNET_ERR_CONTEXT_EXCEEDED);
    bitnet_batch_free(b);
}

/* Request i with context shifts (n_keep, n_discard) and 30 tokens to generate. */
static bitnet_generate_params shift_params(int i, run_log *log, int keep, int discard) {
    bitnet_generate_params gp = request_params(i, log);
    gp.max_tokens = 30;
    gp.context_shift = 1;
    gp.n_keep = keep;
    gp.n_discard = discard;
    return gp;
}

/* Context shifts: a run goes on past its context of 20 positions (to max_tokens, not
 * CONTEXT_FULL) with the same tokens in a session, in a batch slot beside another shifting
 * request and a plain one, and with lookup drafts; without the shift it stops where the
 * context fills, with the same first tokens; afterwards a slot holds only the positions kept. */
TEST(context_shift) {
    const int cases[][3] = {{-1, 0, 0}, {3, 2, 4}, {0, 7, 0}}; /* n_keep, n_discard, lookup_draft */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t p1[128], p2[128], p0[128];
        int n1 = make_prompt(1, p1), n2 = make_prompt(2, p2), n0 = make_prompt(0, p0);
        run_log alone1, alone2, plain, batched[3];
        session_run(p1, n1, shift_params(1, &alone1, cases[c][0], cases[c][1]), 20, &alone1);
        session_run(p2, n2, shift_params(2, &alone2, 1, 0), 20, &alone2);
        bitnet_generate_params gp = shift_params(1, &plain, cases[c][0], cases[c][1]);
        gp.context_shift = 0;
        session_run(p1, n1, gp, 20, &plain);
        CHECK_MSG(alone1.status == 0 && alone1.res.stop_reason == BITNET_STOP_MAX_TOKENS && alone1.n == 30 && alone1.res.n_discarded > 0,
                  "case %zu: status %d, stop %d, %d tokens, %d discarded", c, alone1.status, alone1.res.stop_reason, alone1.n, alone1.res.n_discarded);
        CHECK(alone2.res.stop_reason == BITNET_STOP_MAX_TOKENS && alone2.n == 30);
        CHECK_EQ_INT(plain.res.stop_reason, BITNET_STOP_CONTEXT_FULL);
        CHECK_EQ_INT(plain.n, 20 - n1 + 1); /* the last token sampled is not fed */
        CHECK(memcmp(plain.tokens, alone1.tokens, (size_t)plain.n * sizeof(int32_t)) == 0);
        bitnet_batch *b = new_batch(3, 8, 2, 20);
        CHECK(b != NULL);
        if (!b) return;
        memset(batched, 0, sizeof batched);
        bitnet_generate_params g1 = shift_params(1, &batched[0], cases[c][0], cases[c][1]), g2 = shift_params(2, &batched[1], 1, 0);
        bitnet_generate_params g0 = request_params(0, &batched[2]);
        g1.lookup_draft = cases[c][2];
        CHECK_EQ_INT(bitnet_batch_submit(b, 0, p1, n1, &g1, log_finish), 0);
        CHECK_EQ_INT(bitnet_batch_submit(b, 1, p2, n2, &g2, log_finish), 0);
        CHECK_EQ_INT(bitnet_batch_submit(b, 2, p0, n0, &g0, log_finish), 0);
        CHECK_EQ_INT(run_to_end(b), 0);
        same_tokens(&alone1, &batched[0], 1);
        same_tokens(&alone2, &batched[1], 2);
        CHECK_EQ_INT(batched[0].res.n_discarded, alone1.res.n_discarded);
        CHECK_EQ_INT(batched[2].res.n_discarded, 0);
        CHECK_EQ_INT(bitnet_batch_slot_tokens(b, 0), cases[c][0] < 0 ? n1 : cases[c][0]);
        CHECK_EQ_INT(bitnet_batch_slot_tokens(b, 1), 1);
        bitnet_batch_free(b);
    }
    run_log bad;
    int32_t p[128];
    int n = make_prompt(1, p);
    session_run(p, n, shift_params(1, &bad, -2, 0), 20, &bad);
    CHECK_EQ_INT(bad.status, BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "n_keep") != NULL);
    session_run(p, n, shift_params(1, &bad, 0, -1), 20, &bad);
    CHECK_EQ_INT(bad.status, BITNET_ERR_INVALID_ARGUMENT);
}

/* A shifted slot shares only its kept start: request 1 (prompt of 10, n_keep -1) in slot 0 of
 * a 20-position batch shifts after 10 fed tokens g0..g9 to prompt + g5..g9 (+ g10); a prompt of
 * those 15 tokens and one more, submitted then to slot 1, takes the 10 exact positions from
 * slot 0 (not the 5 moved ones) and gives the tokens it gives alone. */
TEST(context_shift_not_shared) {
    int32_t p1[128], p2[32];
    int n1 = make_prompt(1, p1);
    run_log a, b2, alone;
    g_share_min = 4;
    bitnet_batch *b = new_batch(2, 8, 1, 20);
    g_share_min = 0;
    CHECK(b != NULL);
    if (!b) return;
    memset(&a, 0, sizeof a);
    memset(&b2, 0, sizeof b2);
    bitnet_generate_params g1 = shift_params(1, &a, -1, 0);
    g1.sampling.temperature = 0;
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, p1, n1, &g1, log_finish), 0);
    /* g11 is sampled in the step that starts with the shift (10 fed tokens fill the context) */
    for (int steps = 0; steps < 100 && a.n < 12 && bitnet_batch_step(b) > 0; steps++) continue;
    CHECK_EQ_INT(a.n, 12);
    memcpy(p2, p1, (size_t)n1 * sizeof *p2);
    memcpy(p2 + n1, a.tokens + 5, 5 * sizeof *p2);
    p2[15] = 3;
    bitnet_generate_params g2 = request_params(0, &b2);
    g2.max_tokens = 3;
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, p2, 16, &g2, log_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(b2.res.n_cached, n1);
    CHECK(a.res.n_discarded > 0);
    session_run(p2, 16, request_params(0, &alone), 20, &alone);
    alone.res.stop_reason = b2.res.stop_reason; /* max_tokens 3 against the request's own */
    alone.n = alone.n < 3 ? alone.n : 3;
    same_tokens(&alone, &b2, 0);
    bitnet_batch_free(b);
}

/* Cache reuse (n_cache_reuse) moves a slot's entries exactly as a context shift does: with
 * contexts of N positions, request A (a prompt C of N - 1 tokens, greedy, context shift keeping
 * K and dropping D) generates g1..g6, the shift coming after g1 was fed (the cache then holds
 * C[0, K) + C[K + D, N - 1) + g1 moved down by D). In slot 1, C with 2 tokens gives g1 g2 (its
 * cache: C + g1); then the prompt C[0, K) + C[K + D, N - 1) + g1 g2 with reuse takes K tokens as
 * the prefix and the rest of the cache moved by D (n_cached N - D), which is A's state: it
 * generates g3..g6. The moved entries stay for a later run with reuse (its whole prompt
 * cached) and are kept from one without it (K cached, the tokens a fresh session gives) and
 * from slot files (K tokens written). A session refuses the field; a negative value is refused. */
TEST(cache_reuse) {
    enum { N = 20, K = 4, D = 6 };
    int32_t c[N], p[N + 8];
    for (int k = 0; k < N - 1; k++) c[k] = (int32_t)(1 + (k * 37 + 5) % 250);
    bitnet_batch *b = new_batch(2, 8, 1, N);
    CHECK(b != NULL);
    if (!b) return;
    run_log a, b1, b2, b3, b4, fresh;
    memset(&a, 0, sizeof a);
    bitnet_generate_params ga = shift_params(0, &a, K, D);
    ga.max_tokens = 6;
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, c, N - 1, &ga, log_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_MSG(a.n == 6 && a.res.n_discarded == D, "A: %d tokens, %d discarded", a.n, a.res.n_discarded);
    run_request(b, 1, c, N - 1, 2, &b1);
    CHECK(b1.n == 2 && b1.tokens[0] == a.tokens[0] && b1.tokens[1] == a.tokens[1]);
    int n = 0;
    for (int k = 0; k < N - 1; k++)
        if (k < K || k >= K + D) p[n++] = c[k];
    p[n++] = a.tokens[0];
    p[n++] = a.tokens[1];
    run_reusing(b, 1, p, n, 4, 3, &b2);
    CHECK_EQ_INT(b2.res.n_cached, N - D);
    CHECK_MSG(b2.n == 4 && memcmp(b2.tokens, a.tokens + 2, 4 * sizeof(int32_t)) == 0, "reuse: %d tokens, first %d (A's g3 %d)", b2.n,
              b2.tokens[0], a.tokens[2]);
    char path[600];
    snprintf(path, sizeof path, "%s.reuse.slot", g_path);
    CHECK_EQ_INT(bitnet_batch_slot_save(b, 1, path, NULL), K);
    remove(path);
    /* a later run with reuse takes the moved entries as they are; one without, only the first K */
    memcpy(p + n, b2.tokens, 3 * sizeof *p);
    p[n + 3] = 7;
    run_reusing(b, 1, p, n + 4, 1, 3, &b3);
    CHECK_EQ_INT(b3.res.n_cached, n + 3);
    run_request(b, 1, p, n + 4, 2, &b4);
    CHECK_EQ_INT(b4.res.n_cached, K);
    session_run(p, n + 4, request_params(0, &fresh), N, &fresh);
    fresh.n = fresh.n < 2 ? fresh.n : 2;
    fresh.res.stop_reason = b4.res.stop_reason;
    same_tokens(&fresh, &b4, 0);
    bitnet_batch_free(b);
    bitnet_generate_params bad = request_params(0, &fresh);
    bad.n_cache_reuse = 2;
    session_run(p, n, bad, N, &fresh);
    CHECK_EQ_INT(fresh.status, BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "n_cache_reuse") != NULL);
    bad.n_cache_reuse = -1;
    b = new_batch(1, 8, 1, N);
    CHECK(b && bitnet_batch_submit(b, 0, p, n, &bad, log_finish) == BITNET_ERR_INVALID_ARGUMENT);
    bitnet_batch_free(b);
}

/* Picking a slot for a run with cache reuse: slot 0 holds conversation B, slot 1 (used later)
 * conversation A, both after the same 4-token system prompt; A's next prompt without its first
 * 6 history tokens shares only the system prompt with either: bitnet_batch_pick_slot takes the
 * least recently used (B's), bitnet_batch_pick_slot_reuse A's, where the run then reuses 18. */
TEST(pick_slot_reuse) {
    int32_t a[24], b2[24], p[24];
    for (int k = 0; k < 24; k++) a[k] = b2[k] = k < 4 ? 5 + k : 0;
    for (int k = 4; k < 24; k++) a[k] = 100 + k, b2[k] = 200 + k;
    bitnet_batch *b = new_batch(2, 8, 1, 64);
    CHECK(b != NULL);
    if (!b) return;
    run_log l;
    run_request(b, 0, b2, 24, 1, &l);
    run_request(b, 1, a, 24, 1, &l);
    int n = 0;
    for (int k = 0; k < 24; k++)
        if (k < 4 || k >= 10) p[n++] = a[k];
    p[n++] = 7;
    p[n++] = 9;
    CHECK_EQ_INT(bitnet_batch_pick_slot(b, p, n), 0);
    CHECK_EQ_INT(bitnet_batch_pick_slot_reuse(b, p, n, 0), 0);
    CHECK_EQ_INT(bitnet_batch_pick_slot_reuse(b, p, n, 3), 1);
    CHECK_EQ_INT(bitnet_batch_pick_slot_reuse(b, p, n, -1), BITNET_ERR_INVALID_ARGUMENT);
    run_reusing(b, 1, p, n, 1, 3, &l);
    CHECK_EQ_INT(l.res.n_cached, 18);
    bitnet_batch_free(b);
}

/* Cancel mid-prefill and mid-generation: on_finish once with STOP_CALLBACK, the slot is
 * reusable and the other request is unaffected. */
TEST(cancel) {
    run_log ref;
    run_alone(5, 512, &ref);
    bitnet_batch *b = new_batch(2, 8, 1, 512);
    if (!b) {
        CHECK(b != NULL);
        return;
    }
    run_log a = {0}, c = {0};
    int32_t pa[128], pc[128];
    int na = make_prompt(5, pa), nc = make_prompt(6, pc);
    bitnet_generate_params ga = request_params(5, &a), gc = request_params(6, &c);
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, pa, na, &ga, log_finish), 0);
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, pc, nc, &gc, log_finish), 0);
    CHECK_EQ_INT(bitnet_batch_step(b), 2); /* 8 rows: both still prefilling */
    CHECK_EQ_INT(bitnet_batch_cancel(b, 1), 0);
    CHECK_EQ_INT(c.finished, 1);
    CHECK_EQ_INT(c.res.stop_reason, BITNET_STOP_CALLBACK);
    CHECK_EQ_INT(c.n, 0);
    CHECK_EQ_INT(bitnet_batch_cancel(b, 1), BITNET_ERR_INVALID_ARGUMENT);
    run_log d = {0};
    bitnet_generate_params gd = request_params(6, &d);
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, pc, nc, &gd, log_finish), 0);
    for (int k = 0; k < 12; k++) bitnet_batch_step(b);
    CHECK(d.n > 0 && d.finished == 0);
    CHECK_EQ_INT(bitnet_batch_cancel(b, 1), 0);
    CHECK_EQ_INT(d.res.stop_reason, BITNET_STOP_CALLBACK);
    CHECK_EQ_INT(run_to_end(b), 0);
    same_tokens(&ref, &a, 5);
    bitnet_batch_free(b);
}

static int stop_after_three(int32_t token, const char *text, size_t len, void *user) {
    run_log *l = user;
    log_token(token, text, len, user);
    return l->n >= 3;
}

/* A callback that returns non-zero ends its request within the step. */
TEST(callback_stops) {
    bitnet_batch *b = new_batch(1, 8, 1, 128);
    if (!b) {
        CHECK(b != NULL);
        return;
    }
    run_log l = {0};
    int32_t p[8] = {1, 2, 3};
    bitnet_generate_params gp = request_params(0, &l);
    gp.on_token = stop_after_three;
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, p, 3, &gp, log_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(l.n, 3);
    CHECK_EQ_INT(l.res.stop_reason, BITNET_STOP_CALLBACK);
    CHECK_EQ_INT(l.res.n_generated, 3);
    bitnet_batch_free(b);
}

/* ---- on_prompt_logits: a prompt's own distributions ---- */

enum { SCORED_PROMPT = 45 }; /* more rows than a session's pass (16) and a step below (16) */

/* What on_prompt_logits saw: each position's logits (n_vocab of them) and token, in order. */
typedef struct scored_log {
    run_log run;
    float *logits;              /* [SCORED_PROMPT][n_vocab], row i: position i's */
    int64_t n_vocab;
    int positions[SCORED_PROMPT], n;
    int32_t tokens[SCORED_PROMPT];
    int stop_at;                /* return non-zero at this position (0: never) */
} scored_log;

static int log_scored(int position, int32_t token, const float *logits, int64_t n_vocab, void *user) {
    scored_log *l = user;
    if (l->n < SCORED_PROMPT && position > 0 && position < SCORED_PROMPT && n_vocab == l->n_vocab) {
        memcpy(l->logits + (int64_t)position * n_vocab, logits, sizeof(float) * (size_t)n_vocab);
        l->tokens[position] = token;
        l->positions[l->n++] = position;
    }
    return position == l->stop_at;
}

static int scored_token(int32_t token, const char *text, size_t len, void *user) { return log_token(token, text, len, &((scored_log *)user)->run); }
static void scored_finish(int slot, int status, const bitnet_generate_result *r, void *user) { log_finish(slot, status, r, &((scored_log *)user)->run); }

static bitnet_generate_params scored_params(scored_log *l, int64_t n_vocab, int stop_at) {
    memset(l, 0, sizeof *l);
    l->n_vocab = n_vocab;
    l->stop_at = stop_at;
    l->logits = calloc((size_t)(SCORED_PROMPT * n_vocab), sizeof(float));
    bitnet_generate_params gp = request_params(1, NULL); /* seeded sampling */
    gp.max_tokens = 6;
    gp.on_token = scored_token;
    gp.on_prompt_logits = log_scored;
    gp.user_data = l;
    return gp;
}

/* l saw positions 1..n_prompt-1 in order, each with the prompt's token and the logits a lone
 * pass over the prompt gives there (ref: [n][n_vocab], row i - 1 for position i). */
static void scored_as_reference(const scored_log *l, const int32_t *prompt, int n_prompt, const float *ref, const char *who) {
    CHECK_MSG(l->n == n_prompt - 1, "%s: %d positions scored, want %d", who, l->n, n_prompt - 1);
    float worst = 0;
    for (int i = 0; i < l->n; i++) {
        int pos = l->positions[i];
        CHECK_MSG(pos == i + 1 && l->tokens[pos] == prompt[pos], "%s: call %d is position %d token %d", who, i, pos, l->tokens[pos]);
        for (int64_t v = 0; v < l->n_vocab; v++) {
            float d = fabsf(l->logits[(int64_t)pos * l->n_vocab + v] - ref[(int64_t)(pos - 1) * l->n_vocab + v]);
            if (!(d <= worst)) worst = d;
        }
    }
    CHECK_MSG(worst <= 1e-4f, "%s: logits differ from a lone pass by up to %g", who, (double)worst);
}

/* A session and a batch slot (beside a generating one, prefix-sharing on, a slot that holds the
 * prompt) hand over every prompt position's logits, equal to bitnet_session_eval's rows, and
 * then generate the tokens they generate without the callback. */
TEST(prompt_logits) {
    int32_t prompt[SCORED_PROMPT], other[128];
    for (int k = 0; k < SCORED_PROMPT; k++) prompt[k] = (int32_t)(1 + (k * 53) % 240);
    bitnet_model_desc md = {.struct_size = sizeof md};
    bitnet_model_describe(g_model, &md);
    int64_t n_vocab = md.n_vocab;
    float *ref = malloc(sizeof(float) * (size_t)(SCORED_PROMPT * n_vocab));
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_threads = 1, sp.n_ctx = 256;
    bitnet_session *s = NULL;
    CHECK_EQ_INT(bitnet_session_create(g_model, &sp, &s), 0);
    CHECK_EQ_INT(bitnet_session_eval(s, prompt, SCORED_PROMPT, ref, 1), 0);
    bitnet_session_free(s);
    run_log plain;
    session_run(prompt, SCORED_PROMPT, request_params(1, &plain), 256, &plain);
    plain.n = plain.n < 6 ? plain.n : 6;

    scored_log l;
    bitnet_generate_params gp = scored_params(&l, n_vocab, 0);
    session_run(prompt, SCORED_PROMPT, gp, 256, &l.run);
    CHECK_EQ_INT(l.run.status, 0);
    scored_as_reference(&l, prompt, SCORED_PROMPT, ref, "session");
    same_tokens(&plain, &l.run, 0);
    free(l.logits);

    g_share_min = 4;
    bitnet_batch *b = new_batch(3, 16, 2, 256);
    g_share_min = 0;
    CHECK(b != NULL);
    if (b) {
        run_log held, busy;
        run_request(b, 2, prompt, SCORED_PROMPT, 1, &held); /* slot 2 holds the prompt: not to be shared */
        int n_other = make_prompt(4, other);
        bitnet_generate_params go = request_params(4, &busy);
        memset(&busy, 0, sizeof busy);
        CHECK_EQ_INT(bitnet_batch_submit(b, 0, other, n_other, &go, log_finish), 0);
        bitnet_batch_step(b);
        gp = scored_params(&l, n_vocab, 0);
        CHECK_EQ_INT(bitnet_batch_submit(b, 1, prompt, SCORED_PROMPT, &gp, scored_finish), 0);
        CHECK_EQ_INT(run_to_end(b), 0);
        CHECK_EQ_INT(l.run.status, 0);
        CHECK_EQ_INT(l.run.res.n_cached, 0);
        scored_as_reference(&l, prompt, SCORED_PROMPT, ref, "batch");
        same_tokens(&plain, &l.run, 1);
        free(l.logits);
        bitnet_batch_free(b);
    }
    free(ref);
}

/* A prompt-logits callback that returns non-zero ends the run before it generates: in a session
 * and in a batch slot (whose next request is served). */
TEST(prompt_logits_stop) {
    int32_t prompt[SCORED_PROMPT];
    for (int k = 0; k < SCORED_PROMPT; k++) prompt[k] = (int32_t)(1 + (k * 29) % 240);
    bitnet_model_desc md = {.struct_size = sizeof md};
    bitnet_model_describe(g_model, &md);
    scored_log l;
    bitnet_generate_params gp = scored_params(&l, md.n_vocab, 20);
    session_run(prompt, SCORED_PROMPT, gp, 256, &l.run);
    CHECK_EQ_INT(l.run.status, 0);
    CHECK_EQ_INT(l.run.res.stop_reason, BITNET_STOP_CALLBACK);
    CHECK_EQ_INT(l.run.res.n_generated, 0);
    CHECK_EQ_INT(l.n, 20);
    free(l.logits);
    bitnet_batch *b = new_batch(1, 8, 1, 256);
    CHECK(b != NULL);
    if (!b) return;
    gp = scored_params(&l, md.n_vocab, 20);
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, prompt, SCORED_PROMPT, &gp, scored_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(l.run.finished, 1);
    CHECK_EQ_INT(l.run.res.stop_reason, BITNET_STOP_CALLBACK);
    CHECK_EQ_INT(l.run.n, 0);
    CHECK_EQ_INT(l.n, 20);
    free(l.logits);
    run_log next;
    run_request(b, 0, prompt, 5, 3, &next);
    CHECK_EQ_INT(next.status, 0);
    CHECK_EQ_INT(next.n, 3);
    bitnet_batch_free(b);
}

/* ---- on_prompt_progress ---- */

typedef struct progress_log {
    run_log run;
    int done[64], total[64], cached[64], n;
    int tokens_at_last;         /* tokens generated when the last report came */
    int stop_at;                /* return non-zero when n_done reaches it (0: never) */
} progress_log;

static int log_progress(int n_done, int n_prompt, int n_cached, void *user) {
    progress_log *l = user;
    if (l->n < 64) l->done[l->n] = n_done, l->total[l->n] = n_prompt, l->cached[l->n] = n_cached, l->n++;
    l->tokens_at_last = l->run.n;
    return l->stop_at && n_done >= l->stop_at;
}
static int progress_token(int32_t token, const char *text, size_t len, void *user) { return log_token(token, text, len, &((progress_log *)user)->run); }
static void progress_finish(int slot, int status, const bitnet_generate_result *r, void *user) { log_finish(slot, status, r, &((progress_log *)user)->run); }

static bitnet_generate_params progress_params(progress_log *l, int stop_at) {
    memset(l, 0, sizeof *l);
    l->stop_at = stop_at;
    bitnet_generate_params gp = request_params(0, NULL);
    gp.max_tokens = 4;
    gp.on_token = progress_token;
    gp.on_prompt_progress = log_progress;
    gp.user_data = l;
    return gp;
}

/* Reports rise to n_prompt (the last before the first token), each with the prompt's length
 * and what came from caches; at least `passes` of them. */
static void progress_rises(const progress_log *l, int n_prompt, int n_cached, int passes, const char *who) {
    CHECK_MSG(l->n >= passes, "%s: %d reports, want at least %d", who, l->n, passes);
    for (int i = 0; i < l->n; i++) {
        CHECK_MSG(l->total[i] == n_prompt && l->cached[i] == n_cached && l->done[i] > (i ? l->done[i - 1] : n_cached - 1),
                  "%s: report %d: %d of %d (%d cached)", who, i, l->done[i], l->total[i], l->cached[i]);
    }
    CHECK_MSG(l->n > 0 && l->done[l->n - 1] == n_prompt && l->tokens_at_last == 0, "%s: last report %d of %d after %d tokens", who,
              l->n ? l->done[l->n - 1] : -1, n_prompt, l->tokens_at_last);
}

static int g_scored_calls;
static int count_scored(int position, int32_t token, const float *logits, int64_t n_vocab, void *user) {
    (void)position, (void)token, (void)logits, (void)n_vocab, (void)user;
    g_scored_calls++;
    return 0;
}

/* A session reports after each pass of 64 prompt rows and at the end; a batch slot after each
 * step with its rows (n_batch 16, beside a generating slot), counting the prefix it took from
 * another slot; the tokens are those of the run without the callback; a non-zero return stops;
 * a caller whose struct_size predates the fields gets neither callback. */
TEST(prompt_progress) {
    int32_t prompt[150];
    for (int k = 0; k < 150; k++) prompt[k] = (int32_t)(1 + (k * 41) % 240);
    run_log plain;
    session_run(prompt, 150, request_params(0, &plain), 256, &plain);
    plain.n = plain.n < 4 ? plain.n : 4;
    progress_log l;
    bitnet_generate_params gp = progress_params(&l, 0);
    session_run(prompt, 150, gp, 256, &l.run);
    CHECK_EQ_INT(l.run.status, 0);
    progress_rises(&l, 150, 0, 3, "session");
    same_tokens(&plain, &l.run, 0);
    gp = progress_params(&l, 100);
    session_run(prompt, 150, gp, 256, &l.run);
    CHECK(l.run.status == 0 && l.run.res.stop_reason == BITNET_STOP_CALLBACK && l.run.res.n_generated == 0 && l.n == 2);
    gp = progress_params(&l, 100);
    gp.struct_size = offsetof(bitnet_generate_params, on_prompt_logits); /* an older caller: neither field is read */
    gp.on_prompt_logits = count_scored;
    g_scored_calls = 0;
    session_run(prompt, 150, gp, 256, &l.run);
    CHECK(l.run.status == 0 && l.n == 0 && g_scored_calls == 0 && l.run.n == 4);

    g_share_min = 4;
    bitnet_batch *b = new_batch(3, 16, 1, 256);
    g_share_min = 0;
    CHECK(b != NULL);
    if (!b) return;
    run_log held, busy;
    run_request(b, 2, prompt, 40, 1, &held); /* slot 2 holds the first 40 tokens: shared */
    int32_t other[128];
    int n_other = make_prompt(4, other);
    bitnet_generate_params go = request_params(4, &busy);
    memset(&busy, 0, sizeof busy);
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, other, n_other, &go, log_finish), 0);
    bitnet_batch_step(b);
    gp = progress_params(&l, 0);
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, prompt, 150, &gp, progress_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(l.run.status, 0);
    CHECK(l.run.res.n_cached >= 39);
    progress_rises(&l, 150, l.run.res.n_cached, (150 - l.run.res.n_cached) / 16, "batch");
    same_tokens(&plain, &l.run, 1);
    gp = progress_params(&l, 100);
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, prompt + 1, 149, &gp, progress_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK(l.run.finished == 1 && l.run.res.stop_reason == BITNET_STOP_CALLBACK && l.run.n == 0 && l.done[l.n - 1] >= 100);
    bitnet_batch_free(b);
}

/* bitnet_batch_slot_result: a generating slot's counts and timings so far, step by step (the
 * tokens drawn, the prompt's time once the first was drawn, the decode time growing), equal to
 * its final result's counts; refused for an idle slot, an unknown one and an older struct. */
TEST(slot_result_so_far) {
    bitnet_batch *b = new_batch(2, 16, 1, 256);
    CHECK(b != NULL);
    if (!b) return;
    int32_t prompt[128];
    int n = make_prompt(3, prompt);
    run_log log;
    memset(&log, 0, sizeof log);
    bitnet_generate_params gp = request_params(0, &log);
    bitnet_generate_result r = {.struct_size = sizeof r};
    CHECK_EQ_INT(bitnet_batch_slot_result(b, 1, &r), BITNET_ERR_INVALID_ARGUMENT); /* idle */
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, prompt, n, &gp, log_finish), 0);
    int last = -1, steps = 0;
    double last_decode = -1;
    while (!log.finished && steps++ < 1000) {
        CHECK_EQ_INT(bitnet_batch_slot_result(b, 1, &r), 0);
        CHECK(r.n_prompt == n && r.stop_reason == 0 && r.n_generated == log.n && r.n_generated >= last);
        if (r.n_generated > 0) CHECK(r.prefill_seconds > 0 && r.decode_seconds >= last_decode);
        last = r.n_generated, last_decode = r.decode_seconds;
        CHECK(bitnet_batch_step(b) >= 0);
    }
    CHECK(log.finished == 1 && last == log.res.n_generated - 1 && log.res.n_generated == MAX_GEN);
    CHECK_EQ_INT(bitnet_batch_slot_result(b, 1, &r), BITNET_ERR_INVALID_ARGUMENT); /* idle again */
    CHECK_EQ_INT(bitnet_batch_slot_result(b, 5, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_slot_result(NULL, 0, &r), BITNET_ERR_INVALID_ARGUMENT);
    memset(&log, 0, sizeof log);
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, prompt, n, &gp, log_finish), 0);
    r.struct_size = 8; /* an older struct than any this call fills */
    CHECK_EQ_INT(bitnet_batch_slot_result(b, 0, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(run_to_end(b), 0);
    bitnet_batch_free(b);
}

TEST(errors) {
    bitnet_batch *b = NULL;
    bitnet_batch_params bp = bitnet_batch_default_params();
    CHECK_EQ_INT(bitnet_batch_create(NULL, &bp, &b), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_create(g_model, &bp, NULL), BITNET_ERR_INVALID_ARGUMENT);
    bp.n_slots = 100000;
    CHECK_EQ_INT(bitnet_batch_create(g_model, &bp, &b), BITNET_ERR_INVALID_ARGUMENT);
    bp = bitnet_batch_default_params();
    bp.struct_size = 8;
    CHECK_EQ_INT(bitnet_batch_create(g_model, &bp, &b), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(b == NULL);
    b = new_batch(1, 0, 1, 64);
    if (!b) {
        CHECK(b != NULL);
        return;
    }
    bitnet_batch_desc d = {.struct_size = sizeof d};
    CHECK_EQ_INT(bitnet_batch_describe(b, &d), 0);
    CHECK_EQ_INT(d.n_slots, 1);
    CHECK_EQ_INT(d.n_ctx, 64);
    CHECK_EQ_INT(d.n_batch, 64);
    CHECK(d.kv_cache_bytes > 0);
    run_log l = {0};
    int32_t p[4] = {1, 2, 3, 4}, bad[2] = {1, 999999};
    bitnet_generate_params gp = request_params(0, &l);
    CHECK_EQ_INT(bitnet_batch_step(b), 0); /* idle */
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, p, 4, &gp, log_finish), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, p, 0, &gp, log_finish), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, p, 4, NULL, log_finish), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, p, 4, &gp, log_finish), 0);
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, p, 4, &gp, log_finish), BITNET_ERR_INVALID_ARGUMENT); /* busy */
    CHECK_EQ_INT(bitnet_batch_pick_slot(b, p, 4), BITNET_ERR_NOT_FOUND);
    CHECK_EQ_INT(bitnet_batch_clear_slot(b, 0), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_cancel(b, 0), 0);
    /* a token outside the vocabulary fails the pass, and the request with it */
    CHECK_EQ_INT(bitnet_batch_submit(b, 0, bad, 2, &gp, log_finish), 0);
    CHECK_EQ_INT(bitnet_batch_step(b), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(l.status, BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_step(b), 0);
    CHECK_EQ_INT(bitnet_batch_step(NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_model_close(g_model), BITNET_ERR_INVALID_ARGUMENT); /* a batch is alive */
    bitnet_batch_free(b);
    bitnet_batch_free(NULL);
}


/* ============================================================ embeddings */

static int64_t g_n_embd;

static bitnet_session *new_session(int n_batch) {
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_threads = 1;
    sp.n_ctx = 512;
    sp.n_batch = n_batch;
    bitnet_session *s = NULL;
    if (bitnet_session_create(g_model, &sp, &s) != 0) fprintf(stderr, "session: %s\n", bitnet_get_last_error());
    return s;
}

/* The session's embedding of prompt i with `pooling` (a fresh sequence), into out. */
static int session_embed(int n_batch, int i, bitnet_pooling pooling, float *out) {
    bitnet_session *s = new_session(n_batch);
    int32_t p[128];
    int n = make_prompt(i, p);
    int rc = s ? bitnet_session_embed(s, p, n, pooling, out) : -1;
    bitnet_session_free(s);
    return rc;
}

static bool same_floats(const float *a, const float *b, int64_t n) { return memcmp(a, b, (size_t)n * sizeof *a) == 0; }

/* Pooling as defined on the per-token states (NONE): the mean, the first and the last row;
 * a prompt cut into chunks of 4 gives the same bits as one chunk. */
TEST(embed_poolings) {
    enum { I = 6 }; /* 45 tokens */
    int32_t p[128];
    int n = make_prompt(I, p);
    float *rows = malloc((size_t)n * (size_t)g_n_embd * sizeof *rows), *chunked = malloc((size_t)n * (size_t)g_n_embd * sizeof *rows);
    float *v = malloc((size_t)g_n_embd * sizeof *v), *want = malloc((size_t)g_n_embd * sizeof *want);
    CHECK_EQ_INT(session_embed(64, I, BITNET_POOLING_NONE, rows), 0);
    CHECK_EQ_INT(session_embed(4, I, BITNET_POOLING_NONE, chunked), 0);
    CHECK(same_floats(rows, chunked, n * g_n_embd));
    double norm = 0;
    for (int64_t k = 0; k < g_n_embd; k++) norm += (double)rows[k] * rows[k];
    CHECK(norm > 1e-3); /* a real state, not zeros */
    CHECK_EQ_INT(session_embed(4, I, BITNET_POOLING_CLS, v), 0);
    CHECK(same_floats(v, rows, g_n_embd));
    CHECK_EQ_INT(session_embed(4, I, BITNET_POOLING_LAST, v), 0);
    CHECK(same_floats(v, rows + (int64_t)(n - 1) * g_n_embd, g_n_embd));
    for (int64_t k = 0; k < g_n_embd; k++) {
        double sum = 0;
        for (int t = 0; t < n; t++) sum += rows[(int64_t)t * g_n_embd + k];
        want[k] = (float)(sum / n);
    }
    CHECK_EQ_INT(session_embed(4, I, BITNET_POOLING_MEAN, v), 0);
    CHECK(same_floats(v, want, g_n_embd));
    free(rows), free(chunked), free(v), free(want);
}


/* Embeddings of every pooling in slots beside generating ones (n_batch 16: prompts in chunks
 * sharing steps with decode rows): each the same bits as the session's, and the generations
 * the same tokens as alone. */
TEST(embed_in_batch) {
    enum { N_GEN = 3, N_EMB = 4 };
    run_log alone[N_GEN], gen[N_GEN];
    memset(gen, 0, sizeof gen);
    for (int i = 0; i < N_GEN; i++) run_alone(i + 4, 512, &alone[i]);
    bitnet_batch *b = new_batch(N_GEN + N_EMB, 16, 2, 512);
    if (!b) {
        CHECK(b != NULL);
        return;
    }
    int32_t prompts[N_GEN + N_EMB][128];
    bitnet_generate_params gps[N_GEN];
    for (int i = 0; i < N_GEN; i++) {
        int n = make_prompt(i + 4, prompts[i]);
        gps[i] = request_params(i + 4, &gen[i]);
        CHECK_EQ_INT(bitnet_batch_submit(b, i, prompts[i], n, &gps[i], log_finish), 0);
    }
    float *got = calloc((size_t)N_EMB * 64 * (size_t)g_n_embd, sizeof *got), *want = malloc(64 * (size_t)g_n_embd * sizeof *want);
    run_log logs[N_EMB];
    memset(logs, 0, sizeof logs);
    int n_emb[N_EMB];
    for (int e = 0; e < N_EMB; e++) {
        n_emb[e] = make_prompt(e + 2, prompts[N_GEN + e]);
        CHECK_EQ_INT(bitnet_batch_submit_embed(b, N_GEN + e, prompts[N_GEN + e], n_emb[e], (bitnet_pooling)e,
                                               got + (int64_t)e * 64 * g_n_embd, log_finish, &logs[e]), 0);
    }
    CHECK_EQ_INT(run_to_end(b), 0);
    for (int i = 0; i < N_GEN; i++) {
        CHECK_EQ_INT(gen[i].status, 0);
        same_tokens(&alone[i], &gen[i], i);
    }
    for (int e = 0; e < N_EMB; e++) {
        CHECK_EQ_INT(logs[e].finished, 1);
        CHECK_EQ_INT(logs[e].status, 0);
        CHECK_EQ_INT(logs[e].res.stop_reason, BITNET_STOP_MAX_TOKENS);
        CHECK_EQ_INT(logs[e].res.n_prompt, n_emb[e]);
        CHECK_EQ_INT(logs[e].res.n_generated, 0);
        CHECK_EQ_INT(session_embed(64, e + 2, (bitnet_pooling)e, want), 0);
        int64_t len = e == BITNET_POOLING_NONE ? n_emb[e] * g_n_embd : g_n_embd;
        CHECK_MSG(same_floats(got + (int64_t)e * 64 * g_n_embd, want, len), "pooling %s", bitnet_pooling_name((bitnet_pooling)e));
    }
    /* LAST keeps the slot's cached prefix (here the whole prompt but its last token) */
    run_log again = {0};
    float *v = malloc((size_t)g_n_embd * sizeof *v);
    int slot = bitnet_batch_pick_slot(b, prompts[N_GEN + 1], n_emb[1]);
    CHECK_EQ_INT(slot, N_GEN + 1);
    CHECK_EQ_INT(bitnet_batch_submit_embed(b, slot, prompts[N_GEN + 1], n_emb[1], BITNET_POOLING_LAST, v, log_finish, &again), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(again.res.n_cached, n_emb[1] - 1);
    CHECK(same_floats(v, got + (int64_t)1 * 64 * g_n_embd, g_n_embd));
    /* MEAN evaluates the whole prompt again */
    CHECK_EQ_INT(bitnet_batch_submit_embed(b, slot, prompts[N_GEN + 1], n_emb[1], BITNET_POOLING_MEAN, v, log_finish, &again), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(again.res.n_cached, 0);
    CHECK_EQ_INT(session_embed(64, 3, BITNET_POOLING_MEAN, want), 0);
    CHECK(same_floats(v, want, g_n_embd));
    free(got), free(want), free(v);
    bitnet_batch_free(b);
}

/* Cancelled mid-prefill, unknown pooling, NULL out, a prompt beyond the context. */
TEST(embed_errors) {
    bitnet_batch *b = new_batch(2, 8, 1, 64);
    bitnet_session *s = new_session(8);
    if (!b || !s) {
        CHECK(b && s);
        bitnet_batch_free(b), bitnet_session_free(s);
        return;
    }
    int32_t p[128];
    int n = make_prompt(5, p); /* 38 tokens: 5 steps of 8 */
    float *v = malloc((size_t)n * (size_t)g_n_embd * sizeof *v);
    run_log l = {0};
    CHECK_EQ_INT(bitnet_batch_submit_embed(b, 0, p, n, BITNET_POOLING_MEAN, v, log_finish, &l), 0);
    CHECK_EQ_INT(bitnet_batch_step(b), 1);
    CHECK_EQ_INT(bitnet_batch_cancel(b, 0), 0);
    CHECK_EQ_INT(l.finished, 1);
    CHECK_EQ_INT(l.res.stop_reason, BITNET_STOP_CALLBACK);
    CHECK_EQ_INT(bitnet_batch_submit_embed(b, 0, p, n, (bitnet_pooling)9, v, log_finish, &l), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_submit_embed(b, 0, p, n, BITNET_POOLING_LAST, NULL, log_finish, &l), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_submit_embed(b, 0, p, 0, BITNET_POOLING_LAST, v, log_finish, &l), BITNET_ERR_INVALID_ARGUMENT);
    int32_t big[64] = {0};
    CHECK_EQ_INT(bitnet_batch_submit_embed(b, 0, big, 64, BITNET_POOLING_LAST, v, log_finish, &l), BITNET_ERR_CONTEXT_EXCEEDED);
    CHECK_EQ_INT(bitnet_session_embed(s, p, n, (bitnet_pooling)-1, v), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_embed(s, p, 0, BITNET_POOLING_MEAN, v), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_embed(NULL, p, n, BITNET_POOLING_MEAN, v), BITNET_ERR_INVALID_ARGUMENT);
    int32_t bad[40];
    memcpy(bad, p, sizeof bad);
    bad[30] = 999999; /* in the fourth chunk: the first three are taken back */
    CHECK_EQ_INT(bitnet_session_embed(s, bad, 40, BITNET_POOLING_MEAN, v), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_n_past(s), 0);
    bitnet_pooling pl;
    CHECK_EQ_INT(bitnet_pooling_from_name("last", &pl), 0);
    CHECK_EQ_INT(pl, BITNET_POOLING_LAST);
    CHECK_EQ_INT(bitnet_pooling_from_name("max", &pl), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strcmp(bitnet_pooling_name(BITNET_POOLING_CLS), "cls") == 0 && strcmp(bitnet_pooling_name((bitnet_pooling)7), "?") == 0);
    free(v);
    bitnet_batch_free(b);
    bitnet_session_free(s);
}

/* llama.cpp's --embd-normalize scalings on a vector with known norms. */
TEST(embed_normalize) {
    float v[4] = {3, -4, 0, 0}, z[3] = {0, 0, 0};
    CHECK_EQ_INT(bitnet_embedding_normalize(v, 4, 2), 0);
    CHECK(v[0] == 0.6f && v[1] == -0.8f && v[2] == 0);
    float t[2] = {1, -3};
    CHECK_EQ_INT(bitnet_embedding_normalize(t, 2, 1), 0);
    CHECK(t[0] == 0.25f && t[1] == -0.75f);
    float m[2] = {2, -4};
    CHECK_EQ_INT(bitnet_embedding_normalize(m, 2, 0), 0);
    CHECK(m[0] == 16380.0f && m[1] == -32760.0f);
    float q[2] = {1, 1};
    CHECK_EQ_INT(bitnet_embedding_normalize(q, 2, 4), 0);
    CHECK(q[0] > 0.8408f && q[0] < 0.8409f); /* 2^(-1/4) */
    float u[2] = {5, 7};
    CHECK_EQ_INT(bitnet_embedding_normalize(u, 2, -1), 0);
    CHECK(u[0] == 5 && u[1] == 7);
    CHECK_EQ_INT(bitnet_embedding_normalize(z, 3, 2), 0);
    CHECK(z[0] == 0 && z[1] == 0 && z[2] == 0);
    CHECK_EQ_INT(bitnet_embedding_normalize(z, 3, -2), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_embedding_normalize(NULL, 3, 2), BITNET_ERR_INVALID_ARGUMENT);
}

/* ============================================================ slot files */

static char g_slot_path[600];

/* What slot files give back: a follow-up in a batch whose slot was restored from a file reuses
 * every saved token and continues exactly as the batch that saved them and as a fresh one. */
TEST(slot_save_restore) {
    bitnet_batch *a = new_batch(2, 16, 1, 512), *b = new_batch(2, 16, 1, 512), *fresh = new_batch(1, 16, 1, 512);
    if (!a || !b || !fresh) {
        CHECK(a && b && fresh);
        bitnet_batch_free(a), bitnet_batch_free(b), bitnet_batch_free(fresh);
        return;
    }
    run_log first, ra = {0}, rb = {0}, rf = {0};
    int32_t p1[128], p2[256];
    int n1 = make_prompt(4, p1);
    run_request(a, 0, p1, n1, 6, &first);
    uint64_t written = 0, read = 0;
    int64_t saved = bitnet_batch_slot_save(a, 0, g_slot_path, &written);
    CHECK_EQ_INT(saved, n1 + first.n - 1); /* the prompt and the reply but its last token (not fed back) */
    CHECK(written > 0);
    CHECK_EQ_INT(bitnet_batch_slot_restore(b, 1, g_slot_path, &read), saved);
    CHECK(read == written);
    int n2 = next_turn(p1, n1, &first, 4, 60, p2);
    CHECK_EQ_INT(bitnet_batch_pick_slot(b, p2, n2), 1);
    bitnet_generate_params ga = request_params(0, &ra), gb = request_params(0, &rb), gf = request_params(0, &rf);
    CHECK_EQ_INT(bitnet_batch_submit(a, 0, p2, n2, &ga, log_finish), 0);
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, p2, n2, &gb, log_finish), 0);
    CHECK_EQ_INT(bitnet_batch_submit(fresh, 0, p2, n2, &gf, log_finish), 0);
    CHECK_EQ_INT(run_to_end(a), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(run_to_end(fresh), 0);
    CHECK_EQ_INT(rb.res.n_cached, saved);
    CHECK_EQ_INT(ra.res.n_cached, saved);
    CHECK_EQ_INT(rf.res.n_cached, 0);
    same_tokens(&rf, &rb, 0);
    same_tokens(&rf, &ra, 0);
    /* an empty slot saves and restores as empty */
    CHECK_EQ_INT(bitnet_batch_clear_slot(b, 0), 0);
    CHECK_EQ_INT(bitnet_batch_slot_save(b, 0, g_slot_path, NULL), 0);
    CHECK_EQ_INT(bitnet_batch_slot_restore(a, 1, g_slot_path, NULL), 0);
    bitnet_batch_free(a), bitnet_batch_free(b), bitnet_batch_free(fresh);
}

/* Copies the first `keep` bytes of src to dst, with byte `flip` (< keep) changed (-1: none). */
static void copy_file(const char *src, const char *dst, long keep, long flip) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    for (long i = 0; in && out && i < keep; i++) {
        int c = fgetc(in);
        if (c == EOF) break;
        fputc(i == flip ? c ^ 0x40 : c, out);
    }
    if (in) fclose(in);
    if (out) fclose(out);
}

/* Every refusal leaves the slot empty and names the problem; no call crashes. */
TEST(slot_file_refusals) {
    bitnet_batch *a = new_batch(1, 16, 1, 512), *small = new_batch(1, 16, 1, 16), *b = new_batch(1, 16, 1, 512);
    g_kv = BITNET_KV_F32;
    bitnet_batch *f32 = new_batch(1, 16, 1, 512);
    g_kv = BITNET_KV_DEFAULT;
    if (!a || !small || !b || !f32) {
        CHECK(a && small && b && f32);
        bitnet_batch_free(a), bitnet_batch_free(small), bitnet_batch_free(b), bitnet_batch_free(f32);
        return;
    }
    run_log l = {0};
    int32_t p[128];
    int n = make_prompt(3, p); /* 24 tokens */
    bitnet_generate_params g = request_params(0, &l);
    g.max_tokens = 2;
    CHECK_EQ_INT(bitnet_batch_submit(a, 0, p, n, &g, log_finish), 0);
    CHECK_EQ_INT(bitnet_batch_step(a), 1); /* busy */
    CHECK_EQ_INT(bitnet_batch_slot_save(a, 0, g_slot_path, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(run_to_end(a), 0);
    uint64_t size = 0;
    CHECK(bitnet_batch_slot_save(a, 0, g_slot_path, &size) > 0);
    CHECK_EQ_INT(bitnet_batch_slot_save(a, 0, "/nonexistent-dir/slot.bin", NULL), BITNET_ERR_IO);
    CHECK_EQ_INT(bitnet_batch_slot_save(a, 3, g_slot_path, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_slot_restore(f32, 0, g_slot_path, NULL), BITNET_ERR_LOAD_FAILED);
    CHECK(strstr(bitnet_get_last_error(), "KV cache types") != NULL);
    CHECK_EQ_INT(bitnet_batch_slot_restore(small, 0, g_slot_path, NULL), BITNET_ERR_CONTEXT_EXCEEDED);
    char bad[620];
    snprintf(bad, sizeof bad, "%s.bad", g_slot_path);
    CHECK_EQ_INT(bitnet_batch_slot_restore(b, 0, bad, NULL), BITNET_ERR_NOT_FOUND);
    const long cuts[][2] = {{(long)size - 1, -1}, {100, -1}, {4, -1}, {(long)size, (long)size / 2}, {(long)size, 3}, {(long)size, 200}};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        copy_file(g_slot_path, bad, cuts[i][0], cuts[i][1]);
        CHECK_EQ_INT(bitnet_batch_slot_restore(b, 0, bad, NULL), BITNET_ERR_LOAD_FAILED);
        CHECK_EQ_INT(bitnet_batch_pick_slot(b, p, n), 0);
        run_log r = {0};
        bitnet_generate_params gr = request_params(0, &r);
        gr.max_tokens = 1;
        CHECK_EQ_INT(bitnet_batch_submit(b, 0, p, n, &gr, log_finish), 0);
        CHECK_EQ_INT(run_to_end(b), 0);
        CHECK_EQ_INT(r.res.n_cached, 0); /* the slot held nothing */
        CHECK_EQ_INT(bitnet_batch_clear_slot(b, 0), 0);
    }
    /* another model of the same shapes (another seed) */
    bn_genmodel_params gp;
    test_small_model_params(&gp, "bitnet-b1.58", BN_TYPE_I2_S, 8);
    gp.layers = 3;
    bitnet_model *other = NULL;
    bitnet_batch *ob = NULL;
    if (test_write_model(&gp, bad) && bitnet_model_open(bad, NULL, &other) == 0) {
        bitnet_batch_params bp = bitnet_batch_default_params();
        bp.n_slots = 1, bp.n_ctx = 512, bp.n_threads = 1;
        CHECK_EQ_INT(bitnet_batch_create(other, &bp, &ob), 0);
        CHECK_EQ_INT(bitnet_batch_slot_restore(ob, 0, g_slot_path, NULL), BITNET_ERR_LOAD_FAILED);
        CHECK(strstr(bitnet_get_last_error(), "another model") != NULL);
    } else {
        CHECK(!"the second model could not be written");
    }
    bitnet_batch_free(ob);
    bitnet_model_close(other);
    unlink(bad);
    unlink(g_slot_path);
    bitnet_batch_free(a), bitnet_batch_free(small), bitnet_batch_free(b), bitnet_batch_free(f32);
}

/* Session files (the prompt cache of `bitnet run`): a session loaded from a file continues as
 * the one saved; save wants the session's own token count, load room for the tokens. */
TEST(session_files) {
    bitnet_session *a = new_session(16), *b = new_session(16);
    if (!a || !b) {
        CHECK(a && b);
        bitnet_session_free(a), bitnet_session_free(b);
        return;
    }
    int32_t p[128], back[64];
    int n = make_prompt(4, p); /* 31 tokens */
    float *la = malloc(sizeof(float) * 300), *lb = malloc(sizeof(float) * 300);
    CHECK_EQ_INT(bitnet_session_eval(a, p, n - 1, NULL, 0), 0);
    CHECK_EQ_INT(bitnet_session_save_file(a, p, n - 2, g_slot_path), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_save_file(a, p, n - 1, g_slot_path), 0);
    CHECK_EQ_INT(bitnet_session_load_file(b, g_slot_path, back, 4), BITNET_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_INT(bitnet_session_n_past(b), 0);
    CHECK_EQ_INT(bitnet_session_load_file(b, g_slot_path, back, 64), n - 1);
    CHECK(memcmp(back, p, sizeof *p * (size_t)(n - 1)) == 0);
    CHECK_EQ_INT(bitnet_session_n_past(b), n - 1);
    CHECK_EQ_INT(bitnet_session_eval(a, p + n - 1, 1, la, 0), 0);
    CHECK_EQ_INT(bitnet_session_eval(b, p + n - 1, 1, lb, 0), 0);
    CHECK(memcmp(la, lb, sizeof(float) * 300) == 0);
    CHECK_EQ_INT(bitnet_session_load_file(b, "/nonexistent-dir/x", back, 64), BITNET_ERR_NOT_FOUND);
    CHECK_EQ_INT(bitnet_session_n_past(b), 0);
    unlink(g_slot_path);
    free(la), free(lb);
    bitnet_session_free(a), bitnet_session_free(b);
}

TEST_MAIN_BEGIN("test_batch")
{
    const char *dir = getenv("BITNET_TEST_TMP");
    snprintf(g_path, sizeof g_path, "%s/batch_%d.gguf", dir ? dir : "/tmp", (int)getpid());
    snprintf(g_slot_path, sizeof g_slot_path, "%s.slot", g_path);
    bn_genmodel_params p;
    test_small_model_params(&p, "bitnet-b1.58", BN_TYPE_I2_S, 7);
    p.layers = 3;
    if (!test_write_model(&p, g_path) || bitnet_model_open(g_path, NULL, &g_model) != 0) {
        printf("not ok - test_batch/setup: %s\n", bitnet_get_last_error());
        return 1;
    }
    bitnet_model_desc md = {.struct_size = sizeof md};
    bitnet_model_describe(g_model, &md);
    g_n_embd = md.n_embd;
}
RUN(batched_equals_alone_1_thread);
RUN(batched_equals_alone_lookup);
RUN(batched_equals_alone_prediction);
RUN(batched_equals_alone_2_threads);
RUN(batched_equals_alone_3_slots);
RUN(batched_equals_alone_q8_head);
RUN(batched_equals_alone_kv_types);
RUN(prefix_reuse);
RUN(shared_prefix);
RUN(shared_prefix_cancelled);
RUN(shared_prefix_mixed);
RUN(shared_prefix_mixed_prompt_cache);
RUN(prompt_cache);
RUN(context_full);
RUN(context_shift);
RUN(context_shift_not_shared);
RUN(cache_reuse);
RUN(pick_slot_reuse);
RUN(cancel);
RUN(callback_stops);
RUN(prompt_logits);
RUN(prompt_logits_stop);
RUN(prompt_progress);
RUN(slot_result_so_far);
RUN(errors);
RUN(embed_poolings);
RUN(embed_in_batch);
RUN(embed_errors);
RUN(embed_normalize);
RUN(slot_save_restore);
RUN(slot_file_refusals);
RUN(session_files);
bitnet_model_close(g_model);
unlink(g_path);
TEST_MAIN_END()
