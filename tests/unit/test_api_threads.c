/* TSAN_RELEVANT: concurrency of the public API, run under ThreadSanitizer by `make test`.
 * Several threads share one model: each with its own session (core API), all on one model
 * id (compatibility API), two threads on one session (calls serialized), and streams on
 * one model id pulled from different threads. Every result must equal the single-threaded
 * one. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitnet.h"
#include "formats/genmodel.h"
#include "test.h"

enum { N_THREADS = 4, N_GEN = 6 };
static char g_path[512];
static bitnet_model *g_model;
static int g_id;
static int32_t g_prompt[8] = {1, 17, 42, 99, 230, 311};
static const int g_n_prompt = 6;

static void make_model(void) {
    const char *dir = getenv("BITNET_TEST_TMP");
    snprintf(g_path, sizeof g_path, "%s/api_threads_%d.gguf", dir ? dir : "/tmp", (int)getpid());
    bn_genmodel_params p;
    bn_genmodel_default_params(&p); /* synthetic 512-token vocabulary: small and fast */
    p.ctx = 128;
    if (bn_genmodel_write(&p, g_path) != 0) {
        fprintf(stderr, "cannot write the test model: %s\n", bitnet_get_last_error());
        exit(1);
    }
}

static int generate_dry(bitnet_session *s, int32_t *out, float dry_multiplier) {
    bitnet_generate_params gp = bitnet_generate_default_params();
    gp.sampling.temperature = 0.0f;
    gp.sampling_extra.dry_multiplier = dry_multiplier; /* > 0: the model's default DRY breakers */
    gp.max_tokens = N_GEN;
    gp.ignore_eog = 1;
    bitnet_session_reset(s);
    return bitnet_session_generate(s, g_prompt, g_n_prompt, &gp, out, N_GEN, NULL);
}

static int generate_on(bitnet_session *s, int32_t *out) { return generate_dry(s, out, 0.0f); }

typedef struct { int32_t out[N_GEN]; int rc; char text[256]; } result;

static void *core_worker(void *arg) {
    result *r = arg;
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_threads = 2; /* each session has its own pool too */
    bitnet_session *s = NULL;
    r->rc = bitnet_session_create(g_model, &sp, &s);
    for (int round = 0; !r->rc && round < 2; round++) r->rc = generate_on(s, r->out);
    bitnet_session_free(s);
    return NULL;
}

TEST(sessions_in_parallel) {
    bitnet_session *s = NULL;
    CHECK_EQ_INT(bitnet_session_create(g_model, NULL, &s), 0);
    int32_t ref[N_GEN];
    CHECK_EQ_INT(generate_on(s, ref), 0);
    bitnet_session_free(s);
    pthread_t th[N_THREADS];
    result res[N_THREADS];
    memset(res, 0, sizeof res);
    for (int i = 0; i < N_THREADS; i++) pthread_create(&th[i], NULL, core_worker, &res[i]);
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        CHECK_EQ_INT(res[i].rc, 0);
        for (int j = 0; j < N_GEN; j++) CHECK_EQ_INT(res[i].out[j], ref[j]);
    }
}

/* Sessions of a model opened just now, in parallel, with DRY on: the first ones make the
 * model's default breaker sequences (once, under its lock) while the others wait for them;
 * every result equals a lone run's on another handle. */
typedef struct { bitnet_model *model; result r; } dry_arg;
static void *dry_worker(void *arg) {
    dry_arg *a = arg;
    bitnet_session *s = NULL;
    a->r.rc = bitnet_session_create(a->model, NULL, &s);
    if (!a->r.rc) a->r.rc = generate_dry(s, a->r.out, 1.5f);
    bitnet_session_free(s);
    return NULL;
}

TEST(dry_defaults_made_once_in_parallel) {
    bitnet_session *s = NULL;
    int32_t ref[N_GEN];
    CHECK_EQ_INT(bitnet_session_create(g_model, NULL, &s), 0);
    CHECK_EQ_INT(generate_dry(s, ref, 1.5f), 0);
    bitnet_session_free(s);
    bitnet_model *fresh = NULL;
    CHECK_EQ_INT(bitnet_model_open(g_path, NULL, &fresh), 0);
    if (!fresh) return;
    pthread_t th[N_THREADS];
    dry_arg args[N_THREADS];
    memset(args, 0, sizeof args);
    for (int i = 0; i < N_THREADS; i++) args[i].model = fresh, pthread_create(&th[i], NULL, dry_worker, &args[i]);
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        CHECK_EQ_INT(args[i].r.rc, 0);
        CHECK(memcmp(args[i].r.out, ref, sizeof ref) == 0);
    }
    CHECK_EQ_INT(bitnet_model_close(fresh), 0);
}

/* Two threads on one session: each call runs whole (serialized by the session's lock), so
 * every eval of one token advances n_past by exactly one. */
typedef struct { bitnet_session *s; int rc; } shared_arg;
static void *shared_worker(void *arg) {
    shared_arg *a = arg;
    for (int i = 0; i < 10 && !a->rc; i++) {
        int32_t t = 5 + i;
        a->rc = bitnet_session_eval(a->s, &t, 1, NULL, 0);
        if (bitnet_session_n_past(a->s) < 1) a->rc = -100;
    }
    return NULL;
}

TEST(one_session_two_threads) {
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_threads = 1;
    bitnet_session *s = NULL;
    CHECK_EQ_INT(bitnet_session_create(g_model, &sp, &s), 0);
    shared_arg a = {s, 0}, b = {s, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, shared_worker, &a);
    pthread_create(&tb, NULL, shared_worker, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_EQ_INT(a.rc, 0);
    CHECK_EQ_INT(b.rc, 0);
    CHECK_EQ_INT(bitnet_session_n_past(s), 20);
    bitnet_session_free(s);
}

static BitNetCInferenceConfig greedy(void) {
    BitNetCInferenceConfig c = bitnet_inference_config_default();
    c.do_sample = 0;
    c.max_new_tokens = N_GEN;
    return c;
}

static void *compat_worker(void *arg) {
    result *r = arg;
    BitNetCInferenceConfig c = greedy();
    int n = 0;
    r->rc = bitnet_inference_tokens(g_id, g_prompt, g_n_prompt, &c, r->out, N_GEN, &n);
    if (r->rc >= 0) r->rc = bitnet_inference_with_config(g_id, "a b c", &c, r->text, sizeof r->text);
    BitNetCPerformanceMetrics m;
    if (r->rc >= 0 && bitnet_get_performance_metrics(g_id, &m) != 0) r->rc = -100;
    return NULL;
}

TEST(one_model_id_many_threads) {
    BitNetCInferenceConfig c = greedy();
    result ref = {0};
    int n = 0;
    CHECK(bitnet_inference_tokens(g_id, g_prompt, g_n_prompt, &c, ref.out, N_GEN, &n) >= 0);
    CHECK(bitnet_inference_with_config(g_id, "a b c", &c, ref.text, sizeof ref.text) >= 0);
    CHECK_EQ_INT(bitnet_reset_performance_metrics(g_id), 0);
    pthread_t th[N_THREADS];
    result res[N_THREADS];
    memset(res, 0, sizeof res);
    for (int i = 0; i < N_THREADS; i++) pthread_create(&th[i], NULL, compat_worker, &res[i]);
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        CHECK_MSG(res[i].rc >= 0, "thread %d: %d", i, res[i].rc);
        for (int j = 0; j < n; j++) CHECK_EQ_INT(res[i].out[j], ref.out[j]);
        CHECK_STR(res[i].text, ref.text);
    }
    BitNetCPerformanceMetrics m;
    CHECK_EQ_INT(bitnet_get_performance_metrics(g_id, &m), 0);
    CHECK_EQ_INT(m.prompt_tokens % (unsigned)N_THREADS, 0); /* every call was counted */
    CHECK(m.tokens_generated >= (unsigned)(N_THREADS * n));
}

/* Streams opened on one thread and pulled on others. */
typedef struct { int sid; char text[256]; int rc; } stream_arg;
static void *stream_worker(void *arg) {
    stream_arg *a = arg;
    char piece[32];
    int n;
    while ((n = bitnet_stream_next_token(a->sid, piece, sizeof piece)) > 0) strncat(a->text, piece, sizeof a->text - strlen(a->text) - 1);
    a->rc = n;
    return NULL;
}

TEST(streams_across_threads) {
    BitNetCInferenceConfig c = greedy();
    char ref[256];
    CHECK(bitnet_inference_with_config(g_id, "x y", &c, ref, sizeof ref) >= 0);
    pthread_t th[N_THREADS];
    stream_arg a[N_THREADS];
    memset(a, 0, sizeof a);
    for (int i = 0; i < N_THREADS; i++) {
        a[i].sid = bitnet_start_streaming(g_id, "x y", &c, NULL);
        CHECK(a[i].sid > 0);
    }
    CHECK_EQ_INT(bitnet_model_free(g_id), BITNET_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < N_THREADS; i++) pthread_create(&th[i], NULL, stream_worker, &a[i]);
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        CHECK_EQ_INT(a[i].rc, 0);
        CHECK_STR(a[i].text, ref);
        CHECK_EQ_INT(bitnet_stop_streaming(a[i].sid), 0);
    }
}

/* Two threads pulling one stream: calls are serialized, no piece is lost or repeated, so
 * the byte counts add up to the one-shot output. */
typedef struct { int sid; size_t bytes; int rc; } pull_arg;
static void *pull_worker(void *arg) {
    pull_arg *a = arg;
    char piece[4];
    int n;
    while ((n = bitnet_stream_next_token(a->sid, piece, sizeof piece)) > 0) a->bytes += (size_t)n;
    a->rc = n == BITNET_ERR_BUFFER_TOO_SMALL ? 0 : n; /* a 4-byte character: the main thread takes it */
    return NULL;
}

TEST(one_stream_two_threads) {
    BitNetCInferenceConfig c = greedy();
    c.max_new_tokens = 16;
    char ref[512];
    int len = bitnet_inference_with_config(g_id, "p q r", &c, ref, sizeof ref);
    CHECK(len >= 0);
    int sid = bitnet_start_streaming(g_id, "p q r", &c, NULL);
    CHECK(sid > 0);
    pull_arg a = {sid, 0, 0}, b = {sid, 0, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, pull_worker, &a);
    pthread_create(&tb, NULL, pull_worker, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_EQ_INT(a.rc, 0);
    CHECK_EQ_INT(b.rc, 0);
    char rest[512];
    int n, tail = 0;
    while ((n = bitnet_stream_next_token(sid, rest, sizeof rest)) > 0) tail += n; /* anything left after a long character */
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(a.bytes + b.bytes + (size_t)tail, (size_t)len);
    CHECK_EQ_INT(bitnet_stop_streaming(sid), 0);
}

/* Freeing a model while other threads are inside calls on it: the id dies at once, the
 * calls in flight finish (or see INVALID_ID), nothing crashes. */
static void *racing_worker(void *arg) {
    result *r = arg;
    BitNetCInferenceConfig c = greedy();
    for (int i = 0; i < 3; i++) {
        int n = 0;
        int rc = bitnet_inference_tokens(g_id, g_prompt, g_n_prompt, &c, r->out, N_GEN, &n);
        if (rc < 0 && rc != BITNET_ERR_INVALID_ID) r->rc = rc;
    }
    return NULL;
}

TEST(free_while_in_use) {
    pthread_t th[N_THREADS];
    result res[N_THREADS];
    memset(res, 0, sizeof res);
    for (int i = 0; i < N_THREADS; i++) pthread_create(&th[i], NULL, racing_worker, &res[i]);
    CHECK_EQ_INT(bitnet_model_free(g_id), 0);
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++) CHECK_EQ_INT(res[i].rc, 0);
    CHECK_EQ_INT(bitnet_model_is_loaded(g_id), 0);
}

TEST_MAIN_BEGIN("test_api_threads")
make_model();
if (bitnet_model_open(g_path, NULL, &g_model) != 0 || (g_id = bitnet_model_load(g_path)) <= 0) {
    fprintf(stderr, "load: %s\n", bitnet_get_last_error());
    return 1;
}
bitnet_set_num_threads(1);
RUN(sessions_in_parallel);
RUN(dry_defaults_made_once_in_parallel);
RUN(one_session_two_threads);
RUN(one_model_id_many_threads);
RUN(streams_across_threads);
RUN(one_stream_two_threads);
RUN(free_while_in_use);
bitnet_model_close(g_model);
unlink(g_path);
TEST_MAIN_END()
