/* Tests of continuous batching (bitnet_batch_*): a request's tokens are identical whether it
 * runs alone in a session or beside others in a batch (greedy and seeded sampling, prompts
 * prefilled in chunks between decode steps, several thread counts), prefix reuse of an idle
 * slot, cancellation, a full context, and the error paths. TSAN_RELEVANT (the pass is threaded). */
#include <stdbool.h>
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

static void run_alone(int i, int64_t n_ctx, run_log *log) {
    bitnet_session_params sp = bitnet_session_default_params();
    sp.kv_type_k = sp.kv_type_v = g_kv;
    sp.n_threads = 1;
    sp.n_ctx = n_ctx;
    bitnet_session *s = NULL;
    memset(log, 0, sizeof *log);
    if (bitnet_session_create(g_model, &sp, &s) != 0) return;
    int32_t prompt[128];
    int n = make_prompt(i, prompt);
    bitnet_generate_params gp = request_params(i, log);
    log->res.struct_size = sizeof log->res;
    log->status = bitnet_session_generate(s, prompt, n, &gp, NULL, 0, &log->res);
    bitnet_session_free(s);
}

static bitnet_batch *new_batch(int n_slots, int n_batch, int n_threads, int64_t n_ctx) {
    bitnet_batch_params bp = bitnet_batch_default_params();
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

static void same_tokens(const run_log *a, const run_log *b, int i) {
    CHECK_MSG(a->n == b->n, "request %d: %d tokens alone, %d batched", i, a->n, b->n);
    for (int k = 0; k < a->n && k < b->n; k++) CHECK_MSG(a->tokens[k] == b->tokens[k], "request %d token %d: %d vs %d", i, k, a->tokens[k], b->tokens[k]);
    CHECK_EQ_INT(a->res.stop_reason, b->res.stop_reason);
}

/* All requests submitted at once, some slots reused as others finish; n_batch 16 cuts the
 * longer prompts into chunks that share steps with decode rows. */
static void batched_equals_alone(int n_threads, int n_slots) {
    run_log alone[N_REQ], batched[N_REQ];
    for (int i = 0; i < N_REQ; i++) run_alone(i, 512, &alone[i]);
    bitnet_batch *b = new_batch(n_slots, 16, n_threads, 512);
    CHECK(b != NULL);
    if (!b) return;
    int32_t prompts[N_REQ][128];
    bitnet_generate_params gps[N_REQ];
    int next = 0, steps = 0;
    memset(batched, 0, sizeof batched);
    while (steps++ < 10000) {
        while (next < N_REQ) { /* fill every idle slot */
            int n = make_prompt(next, prompts[next]);
            int slot = bitnet_batch_pick_slot(b, prompts[next], n);
            if (slot < 0) break;
            gps[next] = request_params(next, &batched[next]);
            CHECK_EQ_INT(bitnet_batch_submit(b, slot, prompts[next], n, &gps[next], log_finish), 0);
            next++;
        }
        int busy = bitnet_batch_step(b);
        CHECK(busy >= 0);
        if (busy <= 0 && next == N_REQ) break;
    }
    for (int i = 0; i < N_REQ; i++) {
        CHECK_EQ_INT(alone[i].status, 0);
        CHECK_EQ_INT(batched[i].finished, 1);
        CHECK_EQ_INT(batched[i].status, 0);
        CHECK(alone[i].n > 0);
        same_tokens(&alone[i], &batched[i], i);
    }
    bitnet_batch_free(b);
}

TEST(batched_equals_alone_1_thread) { batched_equals_alone(1, N_REQ); }
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

/* A follow-up whose prompt extends the first request's prompt and reply reuses the slot's
 * cache and continues exactly as a fresh session fed the whole prompt. */
TEST(prefix_reuse) {
    bitnet_batch *b = new_batch(2, 32, 1, 512);
    if (!b) {
        CHECK(b != NULL);
        return;
    }
    run_log first = {0}, second = {0}, ref;
    int32_t p1[128], p2[256];
    int n1 = make_prompt(3, p1);
    bitnet_generate_params g1 = request_params(0, &first);
    g1.max_tokens = 10;
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, p1, n1, &g1, log_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(first.res.n_cached, 0);
    /* turn 2 = prompt 1 + reply (all but the last token were fed) + 5 new tokens */
    int n2 = 0;
    memcpy(p2, p1, (size_t)n1 * sizeof *p2), n2 = n1;
    memcpy(p2 + n2, first.tokens, (size_t)first.n * sizeof *p2), n2 += first.n;
    for (int k = 0; k < 5; k++) p2[n2++] = 40 + k;
    CHECK_EQ_INT(bitnet_batch_pick_slot(b, p2, n2), 1);
    bitnet_generate_params g2 = request_params(0, &second);
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, p2, n2, &g2, log_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(second.res.n_cached, n1 + first.n - 1);
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_threads = 1;
    sp.n_ctx = 512;
    bitnet_session *s = NULL;
    CHECK_EQ_INT(bitnet_session_create(g_model, &sp, &s), 0);
    memset(&ref, 0, sizeof ref);
    bitnet_generate_params g3 = request_params(0, &ref);
    ref.res.struct_size = sizeof ref.res;
    CHECK_EQ_INT(bitnet_session_generate(s, p2, n2, &g3, NULL, 0, &ref.res), 0);
    same_tokens(&ref, &second, 0);
    bitnet_session_free(s);
    /* a cleared slot offers nothing */
    CHECK_EQ_INT(bitnet_batch_clear_slot(b, 1), 0);
    run_log third = {0};
    bitnet_generate_params g4 = request_params(0, &third);
    CHECK_EQ_INT(bitnet_batch_submit(b, 1, p2, n2, &g4, log_finish), 0);
    CHECK_EQ_INT(run_to_end(b), 0);
    CHECK_EQ_INT(third.res.n_cached, 0);
    same_tokens(&ref, &third, 0);
    bitnet_batch_free(b);
}

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

TEST_MAIN_BEGIN("test_batch")
{
    const char *dir = getenv("BITNET_TEST_TMP");
    snprintf(g_path, sizeof g_path, "%s/batch_%d.gguf", dir ? dir : "/tmp", (int)getpid());
    bn_genmodel_params p;
    test_small_model_params(&p, "bitnet-b1.58", BN_TYPE_I2_S, 7);
    p.layers = 3;
    if (!test_write_model(&p, g_path) || bitnet_model_open(g_path, NULL, &g_model) != 0) {
        printf("not ok - test_batch/setup: %s\n", bitnet_get_last_error());
        return 1;
    }
}
RUN(batched_equals_alone_1_thread);
RUN(batched_equals_alone_2_threads);
RUN(batched_equals_alone_3_slots);
RUN(batched_equals_alone_q8_head);
RUN(batched_equals_alone_kv_types);
RUN(prefix_reuse);
RUN(context_full);
RUN(cancel);
RUN(callback_stops);
RUN(errors);
bitnet_model_close(g_model);
unlink(g_path);
TEST_MAIN_END()
