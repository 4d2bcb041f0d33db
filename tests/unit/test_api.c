/* Tests of the core public API (include/bitnet.h: models, sessions, tokenization,
 * generation): contracts, error paths, and multi-turn sessions that keep their KV cache. */
#include <pthread.h>
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
#include "text/dry_breakers.h"
#include "text/json_prefix.h"
#include "text/gbnf.h"
#include "text/json_schema.h"
#include "text/token_constraint.h"
#include "api/api_internal.h"
#include "model/threadpool.h"

static char g_path[512];
static bitnet_model *g_model;

static void make_model(void) { test_write_vocab_model("api_core", g_path, sizeof g_path); }

static bitnet_session *new_session(int64_t n_ctx) {
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_threads = 1;
    sp.n_ctx = n_ctx;
    bitnet_session *s = NULL;
    if (bitnet_session_create(g_model, &sp, &s) != 0) fprintf(stderr, "session: %s\n", bitnet_get_last_error());
    return s;
}

static bitnet_generate_params greedy(int max_tokens) {
    bitnet_generate_params gp = bitnet_generate_default_params();
    gp.sampling.temperature = 0.0f;
    gp.max_tokens = max_tokens;
    return gp;
}

/* Load progress: fractions from 0 to 1, never decreasing, all on the loading thread. */
typedef struct progress_log {
    float seen[256];
    int n;
    bool other_thread;
    pthread_t caller;
} progress_log;

static void on_progress(float fraction, void *user) {
    progress_log *log = user;
    if (!pthread_equal(pthread_self(), log->caller)) log->other_thread = true;
    if (log->n < 256) log->seen[log->n++] = fraction;
}

TEST(load_progress) {
    progress_log log = {.caller = pthread_self()};
    bitnet_model_params mp = bitnet_model_default_params();
    mp.progress = on_progress;
    mp.progress_user_data = &log;
    bitnet_model *m = NULL;
    CHECK_EQ_INT(bitnet_model_open(g_path, &mp, &m), 0);
    CHECK(log.n >= 2 && !log.other_thread);
    CHECK(log.n >= 2 && log.seen[0] == 0.0f && log.seen[log.n - 1] == 1.0f);
    for (int i = 1; i < log.n; i++) CHECK_MSG(log.seen[i] >= log.seen[i - 1], "step %d: %g after %g", i, log.seen[i], log.seen[i - 1]);
    printf("# load progress: %d reports\n", log.n);
    bitnet_model_close(m);
}

TEST(open_and_describe) {
    bitnet_model *m = (bitnet_model *)0x1;
    CHECK_EQ_INT(bitnet_model_open(NULL, NULL, &m), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(m == NULL);
    CHECK_EQ_INT(bitnet_model_open(g_path, NULL, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(bitnet_model_open("/nonexistent.gguf", NULL, &m) < 0);
    bitnet_model_params mp = bitnet_model_default_params();
    mp.struct_size = 4;
    CHECK_EQ_INT(bitnet_model_open(g_path, &mp, &m), BITNET_ERR_INVALID_ARGUMENT);
    mp = bitnet_model_default_params();
    mp.tokenizer_pre = "nonsense";
    CHECK_EQ_INT(bitnet_model_open(g_path, &mp, &m), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_model_open(g_path, NULL, &g_model), 0);
    bitnet_model_desc d = {.struct_size = sizeof d};
    CHECK_EQ_INT(bitnet_model_describe(g_model, &d), 0);
    CHECK_STR(d.architecture, "bitnet");
    CHECK_EQ_INT(d.n_vocab, 128256);
    CHECK_EQ_INT(d.n_embd, 256);
    CHECK_EQ_INT(d.has_tokenizer, 1);
    CHECK_EQ_INT(d.bos_id, 128000);
    bitnet_model_desc small = {.struct_size = 8};
    CHECK_EQ_INT(bitnet_model_describe(g_model, &small), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_model_describe(NULL, &d), BITNET_ERR_INVALID_ARGUMENT);
    char buf[64];
    CHECK(bitnet_model_meta_str(g_model, "general.architecture", buf, sizeof buf) == 6);
    CHECK_STR(buf, "bitnet");
    CHECK_EQ_INT(bitnet_model_meta_str(g_model, "general.architecture", NULL, 0), 6);
    CHECK_EQ_INT(bitnet_model_meta_str(g_model, "general.architecture", buf, 3), BITNET_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_INT(bitnet_model_meta_str(g_model, "no.such.key", buf, sizeof buf), BITNET_ERR_NOT_FOUND);
    CHECK_EQ_INT(bitnet_model_close(NULL), 0);
    CHECK_STR(bitnet_status_name(BITNET_ERR_INVALID_ID), "BITNET_ERR_INVALID_ID");
    bitnet_act_quant q = BITNET_ACT_QUANT_DEFAULT;
    CHECK(bitnet_act_quant_from_name("q8k", &q) == 0 && q == BITNET_ACT_QUANT_Q8K);
    CHECK(bitnet_act_quant_from_name("none", &q) == 0 && q == BITNET_ACT_QUANT_NONE);
    CHECK_EQ_INT(bitnet_act_quant_from_name("Token", &q), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_act_quant_from_name(NULL, &q), BITNET_ERR_INVALID_ARGUMENT);
}

TEST(text) {
    int32_t t[32];
    int n = bitnet_model_tokenize(g_model, "Hello world", 11, 0, 0, t, 32);
    CHECK(n >= 2);
    CHECK_EQ_INT(bitnet_model_tokenize(g_model, "Hello world", 11, 0, 0, NULL, 0), n);
    CHECK_EQ_INT(bitnet_model_tokenize(g_model, "Hello world", 11, 0, 0, t, 1), BITNET_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ_INT(bitnet_model_tokenize(g_model, "<|eot_id|>", 10, 0, 1, t, 32), 1);
    CHECK_EQ_INT(bitnet_model_token_is_eog(g_model, t[0]), 1);
    CHECK_EQ_INT(bitnet_model_token_is_eog(g_model, 100), 0);
    CHECK_EQ_INT(bitnet_model_token_is_eog(NULL, t[0]), 0);
    n = bitnet_model_tokenize(g_model, "Hello world", 11, 0, 0, t, 32);
    char all[64] = "", piece[32];
    for (int i = 0; i < n; i++) {
        int k = bitnet_model_token_to_piece(g_model, t[i], 0, piece, sizeof piece);
        CHECK(k > 0);
        strncat(all, piece, (size_t)k);
    }
    CHECK_STR(all, "Hello world");
    CHECK_EQ_INT(bitnet_model_token_to_piece(g_model, t[0], 0, piece, 1), BITNET_ERR_BUFFER_TOO_SMALL);
    CHECK(bitnet_model_token_to_piece(g_model, 1 << 30, 0, piece, sizeof piece) < 0);
    CHECK_EQ_INT(bitnet_model_tokenize(NULL, "x", 1, 0, 0, t, 32), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_model_tokenize(g_model, NULL, 3, 0, 0, t, 32), BITNET_ERR_INVALID_ARGUMENT);
}

TEST(session_errors) {
    bitnet_session *s = (bitnet_session *)0x1;
    CHECK_EQ_INT(bitnet_session_create(NULL, NULL, &s), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_threads = -1;
    CHECK_EQ_INT(bitnet_session_create(g_model, &sp, &s), BITNET_ERR_INVALID_ARGUMENT);
    s = new_session(32);
    CHECK(s != NULL);
    CHECK_EQ_INT(bitnet_session_n_ctx(s), 32);
    CHECK_EQ_INT(bitnet_session_n_past(s), 0);
    CHECK_EQ_INT(bitnet_model_close(g_model), BITNET_ERR_INVALID_ARGUMENT); /* a session is alive */
    int32_t many[40] = {0};
    CHECK_EQ_INT(bitnet_session_eval(s, many, 40, NULL, 0), BITNET_ERR_CONTEXT_EXCEEDED);
    CHECK_EQ_INT(bitnet_session_n_past(s), 0); /* nothing changed */
    CHECK_EQ_INT(bitnet_session_eval(s, NULL, 3, NULL, 0), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_eval(NULL, many, 3, NULL, 0), BITNET_ERR_INVALID_ARGUMENT);
    int32_t bad = 1 << 30;
    CHECK(bitnet_session_eval(s, &bad, 1, NULL, 0) < 0);
    bitnet_generate_params gp = greedy(4);
    int32_t p[2] = {128000, 9906};
    CHECK_EQ_INT(bitnet_session_generate(s, p, 0, &gp, NULL, 0, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_generate(s, p, 2, NULL, NULL, 0, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_generate(NULL, p, 2, &gp, NULL, 0, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_generate(s, p, 2, &gp, NULL, 4, NULL), BITNET_ERR_INVALID_ARGUMENT);
    bitnet_generate_params old = gp;
    old.struct_size = 8;
    CHECK_EQ_INT(bitnet_session_generate(s, p, 2, &old, NULL, 0, NULL), BITNET_ERR_INVALID_ARGUMENT);
    gp.n_stop_strings = 1; /* and stop_strings NULL */
    CHECK_EQ_INT(bitnet_session_generate(s, p, 2, &gp, NULL, 0, NULL), BITNET_ERR_INVALID_ARGUMENT);
    bitnet_session_desc d = {.struct_size = sizeof d};
    CHECK_EQ_INT(bitnet_session_describe(s, &d), 0);
    CHECK(d.kv_cache_bytes > 0 && d.n_threads == 1 && d.n_ctx == 32);
    CHECK_EQ_INT(bitnet_session_reset(NULL), BITNET_ERR_INVALID_ARGUMENT);
    bitnet_session_free(s);
    bitnet_session_free(NULL);
}

typedef struct { char text[2048]; int calls; } sink;
static int on_token(int32_t token, const char *text, size_t len, void *user_data) {
    sink *k = user_data;
    strncat(k->text, text, len);
    k->calls++;
    return 0;
}

/* The callback's text equals the detokenized ids; the result reports measured times. */
TEST(generate_text_and_result) {
    bitnet_session *s = new_session(128);
    int32_t p[32], out[16];
    int n = bitnet_model_tokenize(g_model, "The weather today", 17, 1, 0, p, 32);
    sink k = {0};
    bitnet_generate_params gp = greedy(12);
    gp.ignore_eog = 1;
    gp.on_token = on_token;
    gp.user_data = &k;
    bitnet_generate_result r = {.struct_size = sizeof r};
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, out, 16, &r), 0);
    CHECK_EQ_INT(r.n_prompt, n);
    CHECK_EQ_INT(r.n_generated, 12);
    CHECK_EQ_INT(r.stop_reason, BITNET_STOP_MAX_TOKENS);
    CHECK(r.prefill_seconds > 0 && r.decode_seconds > 0 && r.time_to_first_token_seconds >= r.prefill_seconds);
    CHECK_EQ_INT(bitnet_session_n_past(s), n + 11); /* the last token is not fed back */
    char expect[2048] = "", piece[256];
    for (int i = 0; i < 12; i++) {
        int len = bitnet_model_token_to_piece(g_model, out[i], 0, piece, sizeof piece);
        if (len > 0) strncat(expect, piece, (size_t)len);
    }
    CHECK_STR(k.text, expect);
    /* a stop id ends generation at the first match */
    bitnet_session_reset(s);
    gp = greedy(12);
    gp.ignore_eog = 1;
    gp.stop_ids = &out[3];
    gp.n_stop_ids = 1;
    int32_t out2[16];
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, out2, 16, &r), 0);
    CHECK_EQ_INT(r.stop_reason, BITNET_STOP_ID);
    CHECK(r.n_generated <= 4 && out2[r.n_generated - 1] == out[3]);
    CHECK_EQ_INT(r.stop_string_index, -1);
    /* a stop string: the result says which one appeared (the second of two here) */
    size_t len = strlen(expect);
    CHECK(len >= 4);
    char tail[4] = {expect[len - 3], expect[len - 2], expect[len - 1], '\0'};
    const char *stops[] = {"\x01never", tail};
    bitnet_session_reset(s);
    gp = greedy(12);
    gp.ignore_eog = 1;
    gp.stop_strings = stops;
    gp.n_stop_strings = 2;
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, out2, 16, &r), 0);
    CHECK_EQ_INT(r.stop_reason, BITNET_STOP_STRING);
    CHECK_EQ_INT(r.stop_string_index, 1);
    /* a caller built before stop_string_index: accepted, nothing written past its struct */
    bitnet_generate_result before[2];
    memset(before, 0x5A, sizeof before);
    before[0].struct_size = offsetof(bitnet_generate_result, stop_string_index);
    bitnet_session_reset(s);
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, out2, 16, &before[0]), 0);
    CHECK_EQ_INT(before[0].stop_reason, BITNET_STOP_STRING);
    CHECK_EQ_INT(before[0].stop_string_index, 0x5A5A5A5A);
    before[0].struct_size = offsetof(bitnet_generate_result, n_cached);
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, out2, 16, &before[0]), BITNET_ERR_INVALID_ARGUMENT);
    bitnet_session_free(s);
}

/* The logit bias of bitnet_generate_params: a banned token never comes, a boost wins greedy
 * decoding; a caller whose struct_size predates the fields gets no bias (whatever the bytes
 * beyond it hold); bad entries are refused with a message. */
TEST(generate_logit_bias) {
    bitnet_session *s = new_session(64);
    bitnet_model_desc md = {.struct_size = sizeof md};
    CHECK_EQ_INT(bitnet_model_describe(g_model, &md), 0);
    const int32_t p[] = {1, 5, 9, 2};
    int32_t base[8], out[8];
    bitnet_generate_params gp = greedy(8);
    gp.ignore_eog = 1;
    bitnet_generate_result r = {.struct_size = sizeof r};
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, base, 8, &r), 0);
    bitnet_logit_bias ban[] = {{base[0], -INFINITY}, {base[1], -INFINITY}};
    gp.logit_bias = ban;
    gp.n_logit_bias = 2;
    bitnet_session_reset(s);
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, out, 8, &r), 0);
    for (int i = 0; i < r.n_generated; i++) CHECK(out[i] != base[0] && out[i] != base[1]);
    int32_t boosted = (int32_t)(md.n_vocab - 1) == base[0] ? 0 : (int32_t)(md.n_vocab - 1);
    bitnet_logit_bias boost[] = {{boosted, 1e6f}};
    gp.logit_bias = boost;
    gp.n_logit_bias = 1;
    bitnet_session_reset(s);
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, out, 8, &r), 0);
    for (int i = 0; i < r.n_generated; i++) CHECK_EQ_INT(out[i], boosted);
    /* an older caller: the fields are not read */
    gp.struct_size = offsetof(bitnet_generate_params, logit_bias);
    gp.logit_bias = (const bitnet_logit_bias *)(uintptr_t)1;
    gp.n_logit_bias = 12345;
    bitnet_session_reset(s);
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, out, 8, &r), 0);
    CHECK(memcmp(out, base, sizeof out) == 0);
    /* refused */
    gp = greedy(8);
    bitnet_logit_bias outside[] = {{(int32_t)md.n_vocab, 1.0f}};
    gp.logit_bias = outside;
    gp.n_logit_bias = 1;
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, out, 8, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "not in the vocabulary") != NULL);
    bitnet_logit_bias nan_bias[] = {{3, NAN}};
    gp.logit_bias = nan_bias;
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, out, 8, &r), BITNET_ERR_INVALID_ARGUMENT);
    gp.logit_bias = NULL;
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, out, 8, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "logit_bias") != NULL);
    gp.n_logit_bias = -1;
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, out, 8, &r), BITNET_ERR_INVALID_ARGUMENT);
    bitnet_session_free(s);
}

/* json_object: the generated text is a prefix of one JSON object, checked by the recognizer
 * the constraint is built on and by hand (it starts with '{'); when it ends with
 * BITNET_STOP_JSON_COMPLETE the text ends with its '}'. A bias towards '}' closes the object
 * at once ("{}" with whitespace); an older struct_size does not read the field. */
typedef struct text_sink {
    char text[4096];
    size_t len;
} text_sink;

static int collect_text(int32_t token, const char *text, size_t len, void *user_data) {
    text_sink *t = user_data;
    if (t->len + len < sizeof t->text) memcpy(t->text + t->len, text, len), t->len += len;
    return 0;
}

TEST(generate_json_object) {
    bitnet_session *s = new_session(256);
    const int32_t p[] = {1, 5, 9, 2};
    int completed = 0;
    for (int seed = 1; seed <= 6; seed++) {
        text_sink t = {.len = 0};
        bitnet_generate_params gp = bitnet_generate_default_params();
        gp.max_tokens = 40;
        gp.sampling.temperature = 1.0f;
        gp.sampling.seed = (uint64_t)seed;
        gp.json_object = 1;
        gp.on_token = collect_text;
        gp.user_data = &t;
        bitnet_generate_result r = {.struct_size = sizeof r};
        bitnet_session_reset(s);
        CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), 0);
        bn_json_prefix js;
        bn_json_prefix_init(&js, true);
        CHECK_MSG(t.len > 0 && t.text[0] == '{' && bn_json_prefix_feed(&js, t.text, t.len), "seed %d: %.*s", seed, (int)t.len, t.text);
        CHECK(r.stop_reason == BITNET_STOP_JSON_COMPLETE || r.stop_reason == BITNET_STOP_MAX_TOKENS);
        if (r.stop_reason == BITNET_STOP_JSON_COMPLETE) {
            completed++;
            CHECK(bn_json_prefix_complete(&js) && strchr(t.text, '}') != NULL);
        }
    }
    int32_t close_id;
    CHECK_EQ_INT(bitnet_model_tokenize(g_model, "}", 1, 0, 0, &close_id, 1), 1);
    bitnet_logit_bias favour_close = {close_id, 50.0f};
    text_sink t = {.len = 0};
    bitnet_generate_params gp = greedy(40);
    gp.json_object = 1, gp.logit_bias = &favour_close, gp.n_logit_bias = 1, gp.on_token = collect_text, gp.user_data = &t;
    bitnet_generate_result r = {.struct_size = sizeof r};
    bitnet_session_reset(s);
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), 0);
    char bare[8];
    size_t nb = 0;
    for (size_t i = 0; i < t.len && nb < sizeof bare; i++)
        if (!strchr(" \t\r\n", t.text[i])) bare[nb++] = t.text[i];
    CHECK_MSG(r.stop_reason == BITNET_STOP_JSON_COMPLETE && r.n_generated <= 3 && nb == 2 && !memcmp(bare, "{}", 2),
              "%d tokens, reason %d: '%.*s'", r.n_generated, (int)r.stop_reason, (int)t.len, t.text);
    gp.struct_size = offsetof(bitnet_generate_params, json_object); /* an older caller: not read */
    gp.logit_bias = NULL, gp.n_logit_bias = 0, gp.max_tokens = 4;
    bitnet_session_reset(s);
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), 0);
    CHECK_EQ_INT(r.stop_reason, BITNET_STOP_MAX_TOKENS);
    /* a logit bias that bans every token starting with '{': nothing may start the object */
    bitnet_model_desc md = {.struct_size = sizeof md};
    bitnet_model_describe(g_model, &md);
    bitnet_logit_bias *ban = calloc((size_t)md.n_vocab, sizeof *ban);
    int n_ban = 0;
    for (int32_t id = 0; ban && id < (int32_t)md.n_vocab; id++) {
        char piece[256];
        if (bitnet_model_token_to_piece(g_model, id, 0, piece, sizeof piece) > 0 && piece[0] == '{')
            ban[n_ban++] = (bitnet_logit_bias){id, -INFINITY};
    }
    gp = greedy(8);
    gp.json_object = 1, gp.logit_bias = ban, gp.n_logit_bias = n_ban;
    bitnet_session_reset(s);
    CHECK(n_ban > 0);
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "json_object: no token may continue") != NULL);
    free(ban);
    printf("# json_object: %d of 6 sampled runs closed their object within 40 tokens\n", completed);
    bitnet_session_free(s);
}

/* json_schema: sampled outputs are prefixes of valid instances, and the ones that end with
 * BITNET_STOP_JSON_COMPLETE are whole (a schema left with few choices: most runs close); a
 * schema with a keyword that is not enforced, or both JSON constraints at once, is refused. */
TEST(generate_json_schema) {
    static const char schema[] = "{\"type\":\"object\",\"properties\":{\"colour\":{\"enum\":[\"red\",\"blue\"]},"
                                 "\"ok\":{\"type\":\"boolean\"},\"note\":{\"type\":\"null\"}},"
                                 "\"required\":[\"colour\",\"ok\"],\"additionalProperties\":false}";
    bitnet_session *s = new_session(256);
    const int32_t p[] = {1, 5, 9, 2};
    bn_json_schema *sc = bn_json_schema_compile(schema, strlen(schema));
    CHECK(sc != NULL);
    int completed = 0;
    for (int seed = 1; sc && seed <= 6; seed++) {
        text_sink t = {.len = 0};
        bitnet_generate_params gp = bitnet_generate_default_params();
        gp.max_tokens = 64;
        gp.sampling.temperature = 1.0f;
        gp.sampling.seed = (uint64_t)seed;
        gp.json_schema = schema;
        gp.on_token = collect_text;
        gp.user_data = &t;
        bitnet_generate_result r = {.struct_size = sizeof r};
        bitnet_session_reset(s);
        CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), 0);
        bn_json_schema_state js;
        bn_json_schema_init(&js, sc);
        CHECK_MSG(bn_json_schema_feed(&js, t.text, t.len), "seed %d: %.*s", seed, (int)t.len, t.text);
        CHECK(r.stop_reason == BITNET_STOP_JSON_COMPLETE || r.stop_reason == BITNET_STOP_MAX_TOKENS);
        if (r.stop_reason == BITNET_STOP_JSON_COMPLETE) {
            completed++;
            CHECK(bn_json_schema_complete(&js) && (strstr(t.text, "\"red\"") || strstr(t.text, "\"blue\"")));
        }
    }
    CHECK_MSG(completed >= 1, "%d of 6 sampled runs completed", completed);
    bn_json_schema_free(sc);
    bitnet_generate_params gp = greedy(8);
    bitnet_generate_result r = {.struct_size = sizeof r};
    gp.json_schema = "{\"type\":\"array\",\"uniqueItems\":true}";
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "uniqueItems") != NULL);
    gp.json_schema = schema, gp.json_object = 1;
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "more than one of json_object, json_schema and grammar") != NULL);
    gp.json_object = 0, gp.max_tokens = 4;
    gp.struct_size = offsetof(bitnet_generate_params, json_schema); /* an older caller: not read */
    bitnet_session_reset(s);
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), 0);
    CHECK_EQ_INT(r.stop_reason, BITNET_STOP_MAX_TOKENS);
    printf("# json_schema: %d of 6 sampled runs closed their object within 64 tokens\n", completed);
    bitnet_session_free(s);
}

/* A reference reader of the text: the JSON Schema state, or the grammar's. */
typedef struct ref_reader {
    bn_json_schema *schema;
    bn_gbnf *grammar;
    bn_json_schema_state js;
    bn_gbnf_state gs;
} ref_reader;

static bool ref_init(ref_reader *r, const char *schema, const char *grammar) {
    memset(r, 0, sizeof *r);
    if (grammar && (r->grammar = bn_gbnf_compile(grammar, strlen(grammar)))) bn_gbnf_init(&r->gs, r->grammar);
    if (!grammar && (r->schema = bn_json_schema_compile(schema ? schema : "{\"type\":\"object\"}", schema ? strlen(schema) : 17)))
        bn_json_schema_init(&r->js, r->schema);
    return r->schema || r->grammar;
}

/* Feeds bytes to a copy of r (r itself when commit). */
static bool ref_feed(ref_reader *r, const char *b, size_t n, bool commit) {
    if (r->grammar) {
        bn_gbnf_state trial;
        bn_gbnf_state_copy(&trial, &r->gs);
        bool ok = bn_gbnf_feed(&trial, b, n);
        if (ok && commit) bn_gbnf_state_copy(&r->gs, &trial);
        return ok;
    }
    bn_json_schema_state trial;
    bn_json_schema_state_copy(&trial, &r->js);
    bool ok = bn_json_schema_feed(&trial, b, n);
    if (ok && commit) bn_json_schema_state_copy(&r->js, &trial);
    return ok;
}

static bool ref_complete(const ref_reader *r) { return r->grammar ? bn_gbnf_complete(&r->gs) : bn_json_schema_complete(&r->js); }

static void ref_free(ref_reader *r) {
    bn_json_schema_free(r->schema);
    bn_gbnf_free(r->grammar);
}

/* The token mask (with its shortcuts: first bytes, bytes after leading spaces, plain pieces
 * inside strings) and bn_constraint_allows equal feeding every piece to a copy of the state, at each state a text
 * passes through, for json_object, a schema with lengths, an enum and a nested array, and
 * grammars (where end-of-generation tokens are allowed exactly when the text is complete). */
static void check_mask_states(const char *schema, const char *grammar, const char *text) {
    const bn_tokenizer *tok = g_model->tokenizer;
    int64_t n_vocab = bn_tokenizer_n_vocab(tok);
    const bn_constraint_vocab *vocab = bn_model_constraint_vocab(g_model, grammar != NULL);
    bn_constraint *j = grammar ? bn_constraint_create_grammar(vocab, grammar, strlen(grammar))
                               : bn_constraint_create(vocab, schema, schema ? strlen(schema) : 0);
    ref_reader ref;
    bool have_ref = ref_init(&ref, schema, grammar);
    float *logits = malloc((size_t)n_vocab * sizeof *logits), *masked = malloc((size_t)n_vocab * sizeof *masked);
    int32_t ids[256];
    int n_ids = bitnet_model_tokenize(g_model, text, strlen(text), 0, 0, ids, 256);
    CHECK(j && have_ref && logits && masked && n_ids > 0);
    if (!j || !have_ref || !logits || !masked || n_ids <= 0) goto out;
    for (int64_t i = 0; i < n_vocab; i++) logits[i] = (float)(i % 13);
    int states = 0, mismatches = 0;
    for (int k = 0; k <= n_ids; k++, states++) {
        bn_constraint_mask(j, logits, n_vocab, masked);
        for (int32_t id = 0; id < n_vocab; id++) {
            char piece[256];
            int n = bitnet_model_token_to_piece(g_model, id, 0, piece, sizeof piece);
            bool ok = n > 0 ? ref_feed(&ref, piece, (size_t)n, false) : grammar && bn_tokenizer_is_eog(tok, id) && ref_complete(&ref);
            if (ok != (masked[id] != -INFINITY) && mismatches++ < 3)
                fprintf(stderr, "  state %d, token %d '%.*s': brute force %d, mask %d\n", k, id, n > 0 ? n : 0, piece, ok, !ok);
            if (ok != bn_constraint_allows(j, id) && mismatches++ < 3) /* the one-token check the best-token masks use */
                fprintf(stderr, "  state %d, token %d '%.*s': brute force %d, bn_constraint_allows %d\n", k, id, n > 0 ? n : 0, piece, ok, !ok);
        }
        if (k == n_ids) break;
        char piece[256];
        int n = bitnet_model_token_to_piece(g_model, ids[k], 0, piece, sizeof piece);
        CHECK_MSG(bn_constraint_accept(j, ids[k]) && ref_feed(&ref, piece, (size_t)n, true), "token %d of %s", k, text);
    }
    CHECK_MSG(mismatches == 0, "%d mismatches over %d states", mismatches, states);
    CHECK(ref_complete(&ref) && (grammar || bn_constraint_complete(j)));
out:
    free(logits);
    free(masked);
    ref_free(&ref);
    bn_constraint_free(j);
}

/* bn_gen_constraint_masks on a pool of 3 threads (runs with and without a constraint, one NULL
 * entry): each run then samples from exactly the mask one thread computes alone (the logits
 * its on_logits sees), step after step. */
typedef struct mask_capture {
    float *row;
    int64_t n;
} mask_capture;

static int capture_logits(const float *logits, int64_t n_vocab, int32_t token, void *user) {
    (void)token;
    mask_capture *c = user;
    memcpy(c->row, logits, (size_t)n_vocab * sizeof *logits);
    c->n = n_vocab;
    return 0;
}

/* The constraint of run i of the threads test: json_object, none, a schema, a grammar. */
static bn_constraint *thread_test_constraint(const bn_constraint_vocab *vocab, int i, const char *schema, const char *grammar) {
    if (i == 3) return bn_constraint_create_grammar(vocab, grammar, strlen(grammar));
    return i == 0 || i == 2 ? bn_constraint_create(vocab, i == 2 ? schema : NULL, i == 2 ? strlen(schema) : 0) : NULL;
}

TEST(constraint_masks_on_threads_equal_one_thread) {
    static const char schema[] = "{\"type\":\"object\",\"properties\":{\"w\":{\"type\":\"string\",\"maxLength\":5},"
                                 "\"n\":{\"type\":\"integer\",\"maximum\":70}},\"required\":[\"w\",\"n\"],\"additionalProperties\":false}";
    static const char grammar[] = "root ::= [a-z ]{1,6} (\"!\" | [0-9]+)\n";
    const bn_constraint_vocab *vocab = bn_model_constraint_vocab(g_model, true);
    int64_t nv = bn_tokenizer_n_vocab(g_model->tokenizer);
    bn_threadpool *pool = bn_threadpool_create(3);
    bn_gen *gens[5] = {NULL, NULL, NULL, NULL, NULL};
    bn_constraint *ref[5] = {NULL, NULL, NULL, NULL, NULL};
    mask_capture cap[5];
    bitnet_generate_params gp[5];
    float *rows = malloc((size_t)nv * 5 * sizeof *rows), *want = malloc((size_t)nv * sizeof *want);
    const int32_t prompt[] = {1, 2};
    CHECK(pool && vocab && rows && want);
    for (int i = 0; i < 5 && pool && rows && want; i++) {
        cap[i] = (mask_capture){malloc((size_t)nv * sizeof(float)), 0};
        gp[i] = greedy(0);
        gp[i].on_logits = capture_logits, gp[i].user_data = &cap[i];
        if (i == 0) gp[i].json_object = 1;
        if (i == 2) gp[i].json_schema = schema;
        if (i == 3) gp[i].grammar = grammar;
        if (i != 4) CHECK_EQ_INT(bn_gen_create(g_model, 64, prompt, 2, &gp[i], &gens[i]), 0);
        ref[i] = thread_test_constraint(vocab, i, schema, grammar);
    }
    int compared = 0;
    for (int step = 0; step < 12 && pool && rows && want; step++) {
        const float *row_ptr[5];
        for (int i = 0; i < 5; i++) {
            for (int64_t t = 0; t < nv; t++) rows[i * nv + t] = (float)((t * 2654435761u + (uint32_t)(step * 97 + i * 13)) % 1000u) / 100.0f;
            row_ptr[i] = rows + i * nv;
        }
        bn_gen_constraint_masks(gens, row_ptr, 5, pool);
        for (int i = 0; i < 4; i++) {
            int32_t tok;
            int why = bn_gen_sample(gens[i], row_ptr[i], &tok);
            CHECK_MSG(why >= 0, "run %d step %d: %s", i, step, bitnet_get_last_error());
            if (!ref[i] || why < 0) continue;
            bn_constraint_mask(ref[i], row_ptr[i], nv, want);
            CHECK_MSG(cap[i].n == nv && !memcmp(cap[i].row, want, (size_t)nv * sizeof *want), "run %d step %d: the masks differ", i, step);
            CHECK(bn_constraint_accept(ref[i], tok));
            compared++;
            if (why > 0) { /* the value closed: start over */
                bn_gen_end(gens[i]);
                bn_constraint_free(ref[i]);
                CHECK_EQ_INT(bn_gen_create(g_model, 64, prompt, 2, &gp[i], &gens[i]), 0);
                ref[i] = thread_test_constraint(vocab, i, schema, grammar);
            }
        }
    }
    CHECK(compared == 36);
    for (int i = 0; i < 5; i++) {
        bn_gen_end(gens[i]);
        bn_constraint_free(ref[i]);
        if (pool && rows && want) free(cap[i].row);
    }
    free(rows);
    free(want);
    bn_threadpool_free(pool);
}

/* A greedy, top-k or temperature draw checks only its best tokens when they settle it
 * (api_generate.c, "the constraint's mask"): step after step on made-up logits, the same tokens as the draw
 * from the whole mask (a run that looks at its logits gets the whole mask), for grammars that
 * let many or few tokens through (one with token references), json_object and a schema, greedy, top-k and temperature draws (with min_p and without), with a
 * logit bias and penalties (forced ids: a banned token that is the likeliest allowed one
 * settles nothing); both ways of masking are taken. */
static int ignore_logits(const float *logits, int64_t n_vocab, int32_t token, void *user) {
    (void)logits, (void)n_vocab, (void)token, (void)user;
    return 0;
}

static bitnet_generate_params best_mask_params(int c, int sampling) {
    static const char *grammars[] = {"root ::= [a-z ]+\n", "root ::= (\"yes\" | \"no\" | [0-9]+) \" \" [a-z]{1,40}\n",
                                     "root ::= (\" the\" | [0-9]+)+\n", "root ::= (<[1820]> | !<[264]> [a-z ]{0,3})+\n"};
    static const bitnet_logit_bias bias[] = {{1820, 3.0f}, {279, -INFINITY}, {264, 2.5f}};
    bitnet_generate_params gp = greedy(0);
    if (c < 2 || c >= 4) gp.grammar = grammars[c < 2 ? c : c - 2];
    if (c == 2) gp.json_object = 1;
    if (c == 3) gp.json_schema = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":60}},\"required\":[\"name\"]}";
    if (sampling >= 1 && sampling <= 3) gp.logit_bias = bias, gp.n_logit_bias = 3, gp.sampling.repeat_penalty = 1.3f;
    if (sampling >= 2 && sampling <= 3) gp.sampling.temperature = 0.9f, gp.sampling.top_k = sampling == 2 ? 5 : 40, gp.sampling.seed = 7;
    if (sampling >= 4) { /* temperature draws without top-k and top-p: with min_p, without */
        gp.sampling.temperature = sampling == 4 ? 0.9f : 1.3f, gp.sampling.top_k = 0, gp.sampling.top_p = 1.0f;
        gp.sampling.min_p = sampling == 4 ? 0.05f : 0.0f, gp.sampling.seed = 8;
    }
    return gp;
}

TEST(constraint_best_tokens_draw_as_the_whole_mask) {
    int64_t nv = bn_tokenizer_n_vocab(g_model->tokenizer);
    float *row = malloc((size_t)nv * sizeof *row);
    const int32_t prompt[] = {1, 2};
    int best = 0, all = 0, compared = 0;
    CHECK(row != NULL);
    for (int c = 0; c < 6 && row; c++) /* 5: token references */
        for (int sampling = 0; sampling < 6; sampling++) {
            bitnet_generate_params gp[2] = {best_mask_params(c, sampling), best_mask_params(c, sampling)};
            gp[1].on_logits = ignore_logits;
            bn_gen *g[2] = {NULL, NULL};
            for (int i = 0; i < 2; i++) CHECK_EQ_INT(bn_gen_create(g_model, 256, prompt, 2, &gp[i], &g[i]), 0);
            for (int step = 0; step < 40 && g[0] && g[1]; step++) {
                /* logits in [0, 10), the ASCII words' a little higher (so that greedy runs go on) */
                for (int64_t t = 0; t < nv; t++)
                    row[t] = (float)((t * 2654435761u + (uint32_t)(step * 7919 + c * 31 + sampling)) % 1000u) / 100.0f + (t < 20000 ? 2.0f : 0.0f) +
                             (c == 4 && t == 279 ? 20.0f : 0.0f); /* case 4: " the", allowed, the likeliest, banned by the bias */
                int32_t tok[2];
                int why[2];
                for (int i = 0; i < 2; i++) why[i] = bn_gen_sample(g[i], row, &tok[i]);
                CHECK_MSG(why[0] == why[1] && tok[0] == tok[1], "case %d sampling %d step %d: %d (%d) vs the whole mask's %d (%d): %s", c,
                          sampling, step, tok[0], why[0], tok[1], why[1], bitnet_get_last_error());
                compared++;
                if (why[0] != 0 || why[1] != 0 || tok[0] != tok[1]) break;
            }
            bitnet_generate_result r[2] = {{.struct_size = sizeof r[0]}, {.struct_size = sizeof r[1]}};
            for (int i = 0; i < 2 && g[i]; i++) bn_gen_result(g[i], &r[i]);
            CHECK_MSG(r[1].n_mask_best == 0 && r[1].n_mask_all == r[1].n_generated, "case %d: the whole mask %d of %d", c, r[1].n_mask_all,
                      r[1].n_generated);
            CHECK(r[0].n_mask_best + r[0].n_mask_all == r[0].n_generated);
            best += r[0].n_mask_best, all += r[0].n_mask_all;
            for (int i = 0; i < 2; i++) bn_gen_end(g[i]);
        }
    printf("# constraint masks: %d draws settled by their best tokens, %d by the whole mask, %d compared\n", best, all, compared);
    CHECK_MSG(best > 100 && all > 20 && compared > 300, "best tokens %d, whole mask %d, compared %d", best, all, compared);
    free(row);
}

TEST(json_mask_equals_brute_force) {
    check_mask_states(NULL, NULL, "{\"k\\n\u00e9\": [1, -2.5e3, \"two  words\", {\"x\": null}], \"t\":true}");
    check_mask_states("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":9},"
                      "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"red\",\"green\"]}},\"n\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":99},"
                      "\"id\":{\"type\":\"string\",\"pattern\":\"^[a-z]{2}\\\\d+$\"},\"at\":{\"type\":\"string\",\"format\":\"date\"}},"
                      "\"required\":[\"name\"],\"additionalProperties\":false}", NULL,
                      "{\"name\": \"Ann Lee\", \"tags\": [\"red\",\"green\"], \"n\": 42, \"id\": \"ab12\", \"at\": \"2024-05-06\" }");
}

TEST(grammar_mask_equals_brute_force) {
    check_mask_states(NULL, "root ::= greeting \" \" [0-9]{2,4} (\"!\" | \"?\")?\ngreeting ::= \"Hello\" | \"Hi there\" | [A-Z] [a-z]*\n",
                      "Hello 2024!");
    check_mask_states(NULL, "root ::= ([^\\x00-\\x1F] | \"\\n\")+\n", "Caf\u00e9 na\u00efve \xe2\x82\xac\n  spaced  ");
}

/* A grammar's token references (<[id]>, !<[id]>, <text>): the referenced tokens come where the
 * grammar has them (a control token with an empty piece too, named by its text), a negated one
 * never, the text between them is the grammar's, and the run ends complete; an id outside the
 * vocabulary, and a text that is not one token, are refused. */
TEST(generate_grammar_token_refs) {
    bitnet_session *s = new_session(256);
    const int32_t p[] = {1, 5, 9, 2};
    bitnet_generate_params gp = greedy(40);
    gp.ignore_eog = 1;
    gp.grammar = "root ::= <|start_header_id|> [a-z ]{2,8} !<[128007]> <[128007]>\n"; /* 128006 by its text */
    int32_t out[40];
    bitnet_generate_result r = {.struct_size = sizeof r};
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, out, 40, &r), 0);
    CHECK_EQ_INT(r.stop_reason, BITNET_STOP_GRAMMAR_COMPLETE);
    CHECK(r.n_generated >= 3 && r.n_generated <= 40);
    if (r.n_generated >= 3 && r.n_generated <= 40) {
        CHECK_EQ_INT(out[0], 128006);
        CHECK_EQ_INT(out[r.n_generated - 1], 128007);
        CHECK(out[r.n_generated - 2] != 128007);
        for (int i = 1; i < r.n_generated - 2; i++) {
            char piece[64];
            int n = bitnet_model_token_to_piece(g_model, out[i], 0, piece, sizeof piece);
            for (int k = 0; k < n; k++) CHECK_MSG((piece[k] >= 'a' && piece[k] <= 'z') || piece[k] == ' ', "token %d: '%.*s'", i, n, piece);
        }
    }
    gp.grammar = "root ::= \"a\" <[128256]>\n"; /* one past the vocabulary */
    bitnet_session_reset(s);
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "<[128256]> is not a token of this model") != NULL);
    gp.grammar = "root ::= <hello world>\n"; /* text that is several tokens */
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "<hello world> is not one token of this model") != NULL);
    bitnet_session_free(s);
}

/* grammar: sampled outputs are texts of the grammar so far; a run that ends with
 * BITNET_STOP_GRAMMAR_COMPLETE is complete with nothing to follow, one that ends with an
 * end-of-generation token is complete; a grammar that does not compile, or two constraints,
 * are refused; an older caller's struct does not have the field. */
TEST(generate_grammar) {
    static const char grammar[] = "root ::= (\"yes\" | \"no\") \"!\" | [0-9]{1,3} | \"say \" [a-z ]+\n";
    bitnet_session *s = new_session(256);
    const int32_t p[] = {1, 5, 9, 2};
    bn_gbnf *g = bn_gbnf_compile(grammar, strlen(grammar));
    CHECK(g != NULL);
    int ended = 0;
    for (int seed = 1; g && seed <= 8; seed++) {
        text_sink t = {.len = 0};
        bitnet_generate_params gp = bitnet_generate_default_params();
        gp.max_tokens = 24;
        gp.sampling.temperature = 1.0f;
        gp.sampling.seed = (uint64_t)seed;
        gp.grammar = grammar;
        gp.on_token = collect_text;
        gp.user_data = &t;
        bitnet_generate_result r = {.struct_size = sizeof r};
        bitnet_session_reset(s);
        CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), 0);
        bn_gbnf_state st;
        bn_gbnf_init(&st, g);
        CHECK_MSG(bn_gbnf_feed(&st, t.text, t.len), "seed %d: %.*s", seed, (int)t.len, t.text);
        CHECK(r.stop_reason == BITNET_STOP_GRAMMAR_COMPLETE || r.stop_reason == BITNET_STOP_EOG || r.stop_reason == BITNET_STOP_MAX_TOKENS);
        if (r.stop_reason == BITNET_STOP_GRAMMAR_COMPLETE) CHECK(bn_gbnf_complete(&st) && !bn_gbnf_can_continue(&st));
        if (r.stop_reason == BITNET_STOP_EOG) CHECK(bn_gbnf_complete(&st));
        ended += r.stop_reason != BITNET_STOP_MAX_TOKENS;
    }
    CHECK_MSG(ended >= 1, "%d of 8 sampled runs ended", ended);
    bn_gbnf_free(g);
    bitnet_generate_params gp = greedy(8);
    bitnet_generate_result r = {.struct_size = sizeof r};
    gp.grammar = "root ::= \"a\" b\n";
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "line 1, column 14: the rule 'b' is used but never defined") != NULL);
    gp.grammar = grammar, gp.json_object = 1;
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "more than one") != NULL);
    gp.json_object = 0, gp.max_tokens = 4;
    gp.struct_size = offsetof(bitnet_generate_params, grammar); /* an older caller: not read */
    bitnet_session_reset(s);
    CHECK_EQ_INT(bitnet_session_generate(s, p, 4, &gp, NULL, 0, &r), 0);
    CHECK(r.stop_reason == BITNET_STOP_MAX_TOKENS || r.stop_reason == BITNET_STOP_EOG);
    printf("# grammar: %d of 8 sampled runs ended within 24 tokens\n", ended);
    bitnet_session_free(s);
}

/* Multi-turn: a session that keeps its KV cache continues exactly like a fresh session fed
 * the whole history. */
TEST(multi_turn_keeps_cache) {
    bitnet_session *chat = new_session(200), *fresh = new_session(200);
    int32_t turn1[32], turn2[32], a1[8], a2[8], hist[96], b2[8];
    int n1 = bitnet_model_tokenize(g_model, "User: hi", 8, 1, 0, turn1, 32);
    int n2 = bitnet_model_tokenize(g_model, " User: more", 11, 0, 0, turn2, 32);
    bitnet_generate_params gp = greedy(6);
    gp.ignore_eog = 1;
    bitnet_generate_result r = {.struct_size = sizeof r};
    CHECK_EQ_INT(bitnet_session_generate(chat, turn1, n1, &gp, a1, 8, &r), 0);
    int g1 = r.n_generated;
    /* turn 2 starts with the last sampled token (not fed back yet) */
    int32_t t2[40];
    t2[0] = a1[g1 - 1];
    memcpy(t2 + 1, turn2, (size_t)n2 * sizeof *t2);
    int64_t before = bitnet_session_n_past(chat);
    CHECK_EQ_INT(bitnet_session_generate(chat, t2, n2 + 1, &gp, a2, 8, &r), 0);
    CHECK_EQ_INT(r.n_prompt, n2 + 1); /* only the new turn was evaluated */
    CHECK(bitnet_session_n_past(chat) > before);
    int nh = 0;
    memcpy(hist, turn1, (size_t)n1 * sizeof *hist), nh = n1;
    memcpy(hist + nh, a1, (size_t)g1 * sizeof *hist), nh += g1;
    memcpy(hist + nh, turn2, (size_t)n2 * sizeof *hist), nh += n2;
    CHECK_EQ_INT(bitnet_session_generate(fresh, hist, nh, &gp, b2, 8, &r), 0);
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(a2[i], b2[i]);
    bitnet_session_free(chat);
    bitnet_session_free(fresh);
}

/* bitnet_context_turns_to_drop: the smallest number of whole old turns to drop. */
TEST(context_turns_to_drop) {
    const int64_t starts[3] = {10, 30, 60}; /* prefix [0, 10); turns of 20, 30 and 40 tokens */
    CHECK_EQ_INT(bitnet_context_turns_to_drop(128, 100, starts, 3, 28), 0);  /* fits: 100 + 28 */
    CHECK_EQ_INT(bitnet_context_turns_to_drop(128, 100, starts, 3, 29), 1);  /* drop 20 */
    CHECK_EQ_INT(bitnet_context_turns_to_drop(128, 100, starts, 3, 78), 2);  /* drop 50 */
    CHECK_EQ_INT(bitnet_context_turns_to_drop(128, 100, starts, 3, 118), 3); /* only the prefix stays */
    CHECK_EQ_INT(bitnet_context_turns_to_drop(128, 100, starts, 3, 119), BITNET_ERR_CONTEXT_EXCEEDED);
    CHECK_EQ_INT(bitnet_context_turns_to_drop(128, 100, NULL, 0, 28), 0);
    CHECK_EQ_INT(bitnet_context_turns_to_drop(128, 100, NULL, 0, 29), BITNET_ERR_CONTEXT_EXCEEDED);
    const int64_t bad[2] = {30, 20};
    CHECK_EQ_INT(bitnet_context_turns_to_drop(128, 100, bad, 2, 1), BITNET_ERR_INVALID_ARGUMENT);
    const int64_t past_end[1] = {101};
    CHECK_EQ_INT(bitnet_context_turns_to_drop(128, 100, past_end, 1, 1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_context_turns_to_drop(128, 100, NULL, 2, 1), BITNET_ERR_INVALID_ARGUMENT);
}

/* Truncating a session and evaluating the kept later tokens again (a context shift) gives
 * the session a fresh one fed the spliced sequence would have: same generated ids. */
TEST(truncate_and_shift) {
    bitnet_session *s = new_session(64), *fresh = new_session(64);
    int32_t seq[64], out1[6], out2[6];
    int n = bitnet_model_tokenize(g_model, "System rules. Turn one text here. Turn two is this.", 51, 1, 0, seq, 64);
    CHECK(n > 8);
    CHECK_EQ_INT(bitnet_session_eval(s, seq, n, NULL, 0), 0);
    CHECK_EQ_INT(bitnet_session_truncate(s, n + 1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_truncate(s, -1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_truncate(NULL, 0), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_n_past(s), n);
    int keep = 3, drop = 4; /* keep [0, 3), drop [3, 7), re-evaluate [7, n) */
    CHECK_EQ_INT(bitnet_session_truncate(s, keep), 0);
    CHECK_EQ_INT(bitnet_session_n_past(s), keep);
    bitnet_generate_params gp = greedy(6);
    gp.ignore_eog = 1;
    CHECK_EQ_INT(bitnet_session_generate(s, seq + keep + drop, n - keep - drop, &gp, out1, 6, NULL), 0);
    int32_t spliced[64];
    memcpy(spliced, seq, (size_t)keep * sizeof *seq);
    memcpy(spliced + keep, seq + keep + drop, (size_t)(n - keep - drop) * sizeof *seq);
    CHECK_EQ_INT(bitnet_session_generate(fresh, spliced, n - drop, &gp, out2, 6, NULL), 0);
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(out1[i], out2[i]);
    bitnet_session_free(s);
    bitnet_session_free(fresh);
}

/* bitnet_session_shift by hand, as llama.cpp shifts (keep 3, drop half of the rest when the
 * context is full), gives the tokens of a generation with context_shift on; a caller built
 * before those fields (its struct_size) gets no shift; refusals change nothing. */
TEST(session_shift) {
    bitnet_session *a = new_session(32), *b = new_session(32), *old = new_session(32);
    bitnet_model_desc md = {.struct_size = sizeof md};
    CHECK(a && b && old && bitnet_model_describe(g_model, &md) == 0);
    if (!a || !b || !old) return;
    int32_t p[32], out[60], tok;
    int n = bitnet_model_tokenize(g_model, "Once upon a time there was", 26, 1, 0, p, 32);
    bitnet_generate_params gp = greedy(60);
    gp.ignore_eog = 1, gp.context_shift = 1, gp.n_keep = 3;
    bitnet_generate_result r = {.struct_size = sizeof r};
    CHECK(bitnet_session_generate(a, p, n, &gp, out, 60, &r) == 0 && r.n_generated == 60 && r.n_discarded > 0);
    float *logits = malloc(sizeof(float) * (size_t)md.n_vocab);
    CHECK(logits && bitnet_session_eval(b, p, n, logits, 0) == 0);
    int same = 0, shifts = 0;
    for (int i = 0; logits && i < 60; i++) {
        tok = 0;
        for (int64_t v = 1; v < md.n_vocab; v++) tok = logits[v] > logits[tok] ? (int32_t)v : tok;
        same += tok == out[i];
        if (i == 59) break;
        if (bitnet_session_n_past(b) >= 32) {
            int64_t left = bitnet_session_n_past(b) - 3;
            CHECK_EQ_INT(bitnet_session_shift(b, 3, left / 2), 0);
            shifts++;
        }
        CHECK_EQ_INT(bitnet_session_eval(b, &tok, 1, logits, 0), 0);
    }
    CHECK_MSG(same == 60 && shifts > 1 && r.n_discarded == 14 * shifts, "%d of 60 the same, %d shifts, %d discarded", same, shifts, r.n_discarded);
    gp.struct_size = offsetof(bitnet_generate_params, context_shift); /* built before the fields */
    r = (bitnet_generate_result){.struct_size = sizeof r};
    CHECK(bitnet_session_generate(old, p, n, &gp, out, 60, &r) == 0 && r.stop_reason == BITNET_STOP_CONTEXT_FULL && r.n_discarded == 0);
    int64_t held = bitnet_session_n_past(b);
    CHECK_EQ_INT(bitnet_session_shift(NULL, 0, 1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_shift(b, 3, 0), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_session_shift(b, held - 2, 3), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "bitnet_session_shift") != NULL);
    CHECK_EQ_INT(bitnet_session_n_past(b), held);
    free(logits);
    bitnet_session_free(a);
    bitnet_session_free(b);
    bitnet_session_free(old);
}

/* KV cache types: each one reported back and sizing the cache; a caller built against the
 * header before the kv fields (a smaller struct_size) gets the f16 default; unknown values and
 * names fail. */
TEST(kv_types) {
    static const bitnet_kv_type types[] = {BITNET_KV_F32, BITNET_KV_F16, BITNET_KV_Q8_0, BITNET_KV_DEFAULT};
    uint64_t bytes[4] = {0};
    for (int i = 0; i < 4; i++) {
        bitnet_session_params sp = bitnet_session_default_params();
        sp.n_threads = 1;
        sp.n_ctx = 64;
        sp.kv_type_k = sp.kv_type_v = types[i];
        bitnet_session *s = NULL;
        CHECK_EQ_INT(bitnet_session_create(g_model, &sp, &s), 0);
        if (!s) continue;
        bitnet_session_desc d = {.struct_size = sizeof d};
        CHECK_EQ_INT(bitnet_session_describe(s, &d), 0);
        CHECK_EQ_INT(d.kv_type_k, types[i] == BITNET_KV_DEFAULT ? BITNET_KV_F16 : types[i]);
        CHECK_EQ_INT(d.kv_type_v, d.kv_type_k);
        bytes[i] = d.kv_cache_bytes;
        int32_t p[2] = {128000, 9906};
        CHECK_EQ_INT(bitnet_session_eval(s, p, 2, NULL, 0), 0);
        bitnet_session_free(s);
    }
    CHECK(bytes[0] == 2 * bytes[1] && bytes[3] == bytes[1] && bytes[2] * 128 == bytes[0] * 34);
    /* separately: K f32, V q8_0 */
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_ctx = 64;
    sp.kv_type_k = BITNET_KV_F32;
    sp.kv_type_v = BITNET_KV_Q8_0;
    bitnet_session *s = NULL;
    CHECK_EQ_INT(bitnet_session_create(g_model, &sp, &s), 0);
    bitnet_session_desc d = {.struct_size = sizeof d};
    CHECK(s && bitnet_session_describe(s, &d) == 0 && d.kv_type_k == BITNET_KV_F32 && d.kv_type_v == BITNET_KV_Q8_0);
    CHECK(d.kv_cache_bytes == bytes[0] / 2 + bytes[2] / 2);
    /* an older, shorter desc: filled up to its size, nothing written past it */
    unsigned char buf[sizeof(bitnet_session_desc) + 8];
    memset(buf, 0xAB, sizeof buf);
    bitnet_session_desc *old = (bitnet_session_desc *)(void *)buf;
    old->struct_size = offsetof(bitnet_session_desc, kv_type_k);
    CHECK_EQ_INT(bitnet_session_describe(s, old), 0);
    CHECK(old->n_ctx == 64 && buf[offsetof(bitnet_session_desc, kv_type_k)] == 0xAB);
    bitnet_session_free(s);
    s = NULL;
    sp = bitnet_session_default_params();
    sp.struct_size = offsetof(bitnet_session_params, kv_type_k); /* the fields are ignored: f16 */
    sp.kv_type_k = sp.kv_type_v = (bitnet_kv_type)77;
    CHECK_EQ_INT(bitnet_session_create(g_model, &sp, &s), 0);
    d.struct_size = sizeof d;
    CHECK(s && bitnet_session_describe(s, &d) == 0 && d.kv_type_k == BITNET_KV_F16 && d.kv_type_v == BITNET_KV_F16);
    bitnet_session_free(s);
    sp.struct_size = sizeof sp; /* now read: unknown */
    s = (bitnet_session *)0x1;
    CHECK_EQ_INT(bitnet_session_create(g_model, &sp, &s), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    bitnet_kv_type t;
    CHECK(bitnet_kv_type_from_name("q8_0", &t) == 0 && t == BITNET_KV_Q8_0);
    CHECK(bitnet_kv_type_from_name("f16", &t) == 0 && t == BITNET_KV_F16);
    CHECK_EQ_INT(bitnet_kv_type_from_name("q4_0", &t), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_kv_type_from_name(NULL, &t), BITNET_ERR_INVALID_ARGUMENT);
}

/* lookup_draft: the same tokens as without it (greedy, seeded sampling with penalties, a
 * grammar, a context that fills up), drafts accepted on a repetitive text, and the session's
 * cache left as without it (the next turn continues the same). */
static int lookup_run(bitnet_session *s, const char *text, bitnet_generate_params gp, int32_t *out, bitnet_generate_result *res) {
    int32_t p[64];
    int n = bitnet_model_tokenize(g_model, text, strlen(text), 1, 0, p, 64);
    memset(res, 0, sizeof *res);
    res->struct_size = sizeof *res;
    return n < 1 ? -1 : bitnet_session_generate(s, p, n, &gp, out, 96, res);
}

/* The taken draft tokens by position: they sum to n_draft_accepted, none beyond the longest
 * draft (at most max), none above the passes, each position at most the one before it (a
 * draft's tokens are taken in order). */
static void check_accepted_at(const bitnet_generate_result *r, int max) {
    CHECK(r->n_draft_longest >= 0 && r->n_draft_longest <= max && (r->n_draft_longest > 0) == (r->n_drafted > 0));
    int sum = 0;
    for (int i = 0; i < BITNET_DRAFT_MAX; i++) {
        sum += r->n_draft_accepted_at[i];
        CHECK(r->n_draft_accepted_at[i] >= 0 && r->n_draft_accepted_at[i] <= r->n_draft_passes);
        if (i > 0) CHECK(r->n_draft_accepted_at[i] <= r->n_draft_accepted_at[i - 1]);
        if (i >= r->n_draft_longest) CHECK_EQ_INT(r->n_draft_accepted_at[i], 0);
    }
    CHECK_EQ_INT(sum, r->n_draft_accepted);
}

static void lookup_same(bitnet_generate_params gp, int64_t n_ctx, int *accepted) {
    int32_t a[96], b[96];
    bitnet_generate_result ra, rb;
    bitnet_session *plain = new_session(n_ctx), *spec = new_session(n_ctx);
    CHECK(plain && spec);
    if (!plain || !spec) return;
    int drafted = 0, taken = 0;
    for (int turn = 0; turn < 2; turn++) {
        const char *text = turn ? " and then the same again and again and again" : "one two three one two three one two";
        gp.lookup_draft = 0;
        int rc_a = lookup_run(plain, text, gp, a, &ra);
        gp.lookup_draft = 8;
        int rc_b = lookup_run(spec, text, gp, b, &rb);
        CHECK_EQ_INT(rc_a, rc_b);
        CHECK_EQ_INT(ra.n_generated, rb.n_generated);
        CHECK_EQ_INT(ra.stop_reason, rb.stop_reason);
        CHECK(ra.n_generated <= 96 && memcmp(a, b, sizeof a[0] * (size_t)(ra.n_generated < 96 ? ra.n_generated : 96)) == 0);
        CHECK(ra.n_drafted == 0 && rb.n_draft_accepted <= rb.n_drafted);
        check_accepted_at(&ra, 0);
        check_accepted_at(&rb, 8);
        *accepted += rb.n_draft_accepted;
        drafted += rb.n_drafted, taken += rb.n_draft_accepted;
    }
    printf("# lookup: %d draft tokens, %d taken\n", drafted, taken);
    CHECK_MSG(drafted > 0, "no draft was offered: the case tests nothing of lookup decoding");
    bitnet_session_free(plain);
    bitnet_session_free(spec);
}

TEST(generate_lookup) {
    /* Short runs: every draft is checked token by token, and these lengths already see drafts
     * taken and refused (this case was ~40 s of make test under ASan with 64-token runs). */
    int accepted = 0;
    bitnet_generate_params gp = greedy(32);
    gp.ignore_eog = 1;
    lookup_same(gp, 512, &accepted);
    CHECK_MSG(accepted > 0, "no draft token was accepted on a repetitive greedy text");
    gp.max_tokens = 24;
    gp.sampling = bitnet_sampling_default_params();
    /* sampled with penalties: cool enough that the random model still repeats itself (at 0.9
     * no draft was ever offered), so drafts are taken and refused with the penalties on */
    gp.sampling.temperature = 0.05f, gp.sampling.seed = 7, gp.sampling.top_k = 0;
    gp.sampling.repeat_penalty = 1.1f, gp.sampling.penalty_last_n = 64;
    lookup_same(gp, 512, &accepted);
    gp.sampling.repeat_penalty = 1.0f, gp.sampling.top_k = 20;
    lookup_same(gp, 512, &accepted);
    bitnet_generate_params gg = greedy(24);
    gg.grammar = "root ::= [a-z ]+\n";
    lookup_same(gg, 512, &accepted);
    gp = greedy(0); /* until the context is full */
    gp.ignore_eog = 1;
    lookup_same(gp, 48, &accepted);
}

/* prediction (Predicted Outputs): the same tokens as without it (greedy and sampled), its
 * drafts taken where the reply follows it, refused at an edit and taken again after it (the
 * cursor finds its way back); ids outside the vocabulary refused. */
static void prediction_same(bitnet_generate_params gp) {
    int32_t plain_out[96], pred[96], out[96];
    bitnet_generate_result rp, rr;
    bitnet_session *plain = new_session(512), *spec = new_session(512);
    CHECK(plain && spec);
    if (!plain || !spec) return;
    int rc = lookup_run(plain, "one two three four", gp, plain_out, &rp);
    CHECK_EQ_INT(rc, 0);
    CHECK(rp.n_generated >= 24 && rp.n_generated <= 96);
    int n = rp.n_generated < 96 ? rp.n_generated : 96, edit = 10;
    memcpy(pred, plain_out, sizeof pred[0] * (size_t)n);
    for (int i = edit; i < edit + 2; i++) pred[i] = (plain_out[i] + 1) % 256; /* two tokens the reply will not give */
    gp.prediction = pred, gp.n_prediction = n;
    rc = lookup_run(spec, "one two three four", gp, out, &rr);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(rr.n_generated, rp.n_generated);
    CHECK(memcmp(plain_out, out, sizeof out[0] * (size_t)n) == 0);
    printf("# prediction: %d drafted, %d taken (%d, %d of the prediction)\n", rr.n_drafted, rr.n_draft_accepted, rr.n_prediction_drafted,
           rr.n_prediction_accepted);
    CHECK_MSG(rr.n_prediction_accepted > edit, "%d prediction tokens taken: none after the edit at %d", rr.n_prediction_accepted, edit);
    CHECK(rr.n_prediction_accepted < rr.n_prediction_drafted && rr.n_prediction_drafted <= rr.n_drafted);
    CHECK(rr.n_prediction_accepted <= rr.n_draft_accepted && rp.n_prediction_drafted == 0);
    bitnet_session_free(plain);
    bitnet_session_free(spec);
}

TEST(generate_prediction) {
    bitnet_generate_params gp = greedy(32);
    gp.ignore_eog = 1;
    prediction_same(gp);
    gp.sampling = bitnet_sampling_default_params();
    gp.sampling.temperature = 0.7f, gp.sampling.seed = 11, gp.sampling.top_k = 0; /* a draw from every token */
    prediction_same(gp);
    bitnet_session *s = new_session(64);
    CHECK(s != NULL);
    bitnet_model_desc md = {.struct_size = sizeof md};
    CHECK_EQ_INT(bitnet_model_describe(g_model, &md), 0);
    int32_t prompt[1] = {1}, bad[2] = {3, (int32_t)md.n_vocab};
    gp.prediction = bad, gp.n_prediction = 2;
    CHECK_EQ_INT(bitnet_session_generate(s, prompt, 1, &gp, NULL, 0, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "prediction[1]") != NULL);
    gp.prediction = NULL;
    CHECK_EQ_INT(bitnet_session_generate(s, prompt, 1, &gp, NULL, 0, NULL), BITNET_ERR_INVALID_ARGUMENT);
    bitnet_session_free(s);
}

/* bitnet_sampling_extra: a bad value fails the call naming the field; a caller whose
 * struct_size predates the field gets every sampler off (the bad value is never read). */
TEST(sampling_extra_checked_and_versioned) {
    bitnet_session *s = new_session(64);
    CHECK(s != NULL);
    if (!s) return;
    int32_t p[8], out[4];
    int n = bitnet_model_tokenize(g_model, "one two", 7, 1, 0, p, 8);
    bitnet_generate_params gp = greedy(4);
    gp.sampling.temperature = 0.8f;
    gp.sampling_extra.mirostat = 3;
    bitnet_generate_result r = {.struct_size = sizeof r};
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, out, 4, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "mirostat") != NULL);
    bitnet_session_reset(s);
    gp.struct_size = offsetof(bitnet_generate_params, sampling_extra);
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, out, 4, &r), 0);
    CHECK_EQ_INT(r.n_generated, 4);
    bitnet_session_free(s);
}

/* n tokens of "one two three" with gp in a fresh session (64 positions); the call's status. */
static int run_order(bitnet_generate_params gp, int32_t *out, int n, bitnet_generate_result *r) {
    bitnet_session *s = new_session(64);
    int32_t p[8];
    int n_prompt = bitnet_model_tokenize(g_model, "one two three", 13, 1, 0, p, 8);
    gp.max_tokens = n, gp.ignore_eog = 1;
    *r = (bitnet_generate_result){.struct_size = sizeof *r};
    int rc = s ? bitnet_session_generate(s, p, n_prompt, &gp, out, n, r) : -1;
    bitnet_session_free(s);
    return rc;
}

/* bitnet_generate_params.samplers: a part of the default order is that chain with the others
 * off; another order runs its stages as given (at temperature 1, where the temperature changes
 * nothing, the same tokens as the default order: the stages and the draws' keys agree), a
 * temperature <= 0 there keeps the argmax, a constraint checks every token; bad lists fail the
 * call naming the name; a caller whose struct_size predates the field gets the default. */
TEST(generate_samplers_order) {
    enum { N = 16 };
    int32_t a[N], b[N];
    bitnet_generate_result ra, rb;
    bitnet_generate_params gp = bitnet_generate_default_params(), off = gp;
    gp.sampling.temperature = 1.0f, gp.sampling.seed = 9, gp.sampling.top_k = 20;
    off = gp, off.sampling.top_p = 1.0f, off.sampling.min_p = 0.0f;
    gp.samplers = "top-k;temp";
    CHECK(run_order(off, a, N, &ra) == 0 && run_order(gp, b, N, &rb) == 0 && memcmp(a, b, sizeof a) == 0);
    gp.sampling.repeat_penalty = 1.3f, gp.sampling.top_p = 0.9f;
    gp.samplers = NULL;
    CHECK(run_order(gp, a, N, &ra) == 0);
    gp.samplers = "penalties;temperature;top_k;top_p;min_p"; /* temperature 1 first: the same draws */
    CHECK(run_order(gp, b, N, &rb) == 0 && memcmp(a, b, sizeof a) == 0);
    gp.sampling.temperature = 2.5f, gp.sampling.top_p = 0.5f, gp.sampling.min_p = 0.3f; /* at 2.5 the filters see another distribution */
    gp.samplers = NULL;
    CHECK(run_order(gp, a, N, &ra) == 0);
    gp.samplers = "penalties;temperature;top_k;top_p;min_p";
    CHECK(run_order(gp, b, N, &rb) == 0 && memcmp(a, b, sizeof a) != 0);
    int32_t c[N];
    CHECK(run_order(gp, c, N, &rb) == 0 && memcmp(b, c, sizeof b) == 0); /* seeded: repeats itself */
    gp.sampling.temperature = 0.0f, gp.sampling.repeat_penalty = 1.0f;
    gp.samplers = "min_p;temperature;top_p"; /* the argmax where the temperature stands */
    bitnet_generate_params g = greedy(N);
    CHECK(run_order(g, a, N, &ra) == 0 && run_order(gp, b, N, &rb) == 0 && memcmp(a, b, sizeof a) == 0);
    gp.sampling.temperature = 1.5f, gp.grammar = "root ::= [a-z ]+\n"; /* a constraint: the whole mask each draw */
    CHECK(run_order(gp, a, N, &ra) == 0 && ra.n_mask_best == 0 && ra.n_mask_all == ra.n_generated);
    gp.grammar = NULL;
    static const char *const bad[][2] = {{"top_k;bogus", "'bogus' is not a sampler"}, {"top_k;;temperature", "'' is not a sampler"},
                                         {"infill", "no 'infill' sampler"}, {"top_k;Infill", "no 'Infill' sampler"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gp.samplers = bad[i][0];
        CHECK_EQ_INT(run_order(gp, a, N, &ra), BITNET_ERR_INVALID_ARGUMENT);
        CHECK_MSG(strstr(bitnet_get_last_error(), bad[i][1]) != NULL, "%s: %s", bad[i][0], bitnet_get_last_error());
    }
    char many[40 * 6] = "";
    for (int i = 0; i < 33; i++) strcat(many, i ? ";top_k" : "top_k");
    gp.samplers = many;
    CHECK_EQ_INT(run_order(gp, a, N, &ra), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "more than 32") != NULL);
    gp.struct_size = offsetof(bitnet_generate_params, samplers); /* an older caller: never read */
    CHECK_EQ_INT(run_order(gp, a, N, &ra), 0);
    /* a caller whose struct ends right after `samplers` (on the heap, so that a read past it is
     * an ASan error): the list is read, nothing beyond */
    size_t upto = offsetof(bitnet_generate_params, adaptive_target);
    void *small = malloc(upto);
    bitnet_session *s = new_session(64);
    int32_t p[8];
    int n_prompt = bitnet_model_tokenize(g_model, "one two three", 13, 1, 0, p, 8);
    CHECK(small && s);
    if (small && s) {
        gp = bitnet_generate_default_params();
        gp.max_tokens = N, gp.ignore_eog = 1, gp.samplers = "temperature;top_k", gp.struct_size = upto;
        memcpy(small, &gp, upto);
        ra = (bitnet_generate_result){.struct_size = sizeof ra};
        CHECK_EQ_INT(bitnet_session_generate(s, p, n_prompt, small, a, N, &ra), 0);
        CHECK_EQ_INT(ra.n_generated, N);
    }
    free(small);
    bitnet_session_free(s);
}

/* adaptive-p (bitnet_generate_params.adaptive_target / adaptive_decay): on with adaptive_p in
 * `samplers` (other tokens than without it, repeated by the seed), not read without it (as in
 * llama.cpp); a bad value fails the call naming it. */
TEST(generate_adaptive_p) {
    enum { N = 24 };
    int32_t a[N], b[N], c[N];
    bitnet_generate_result r;
    bitnet_generate_params gp = bitnet_generate_default_params();
    gp.sampling.temperature = 1.0f, gp.sampling.seed = 5, gp.sampling.top_k = 0, gp.sampling.top_p = 1.0f;
    gp.samplers = "min_p;temperature";
    CHECK(run_order(gp, a, N, &r) == 0);
    gp.adaptive_target = 0.05f; /* not named: not read */
    CHECK(run_order(gp, b, N, &r) == 0 && memcmp(a, b, sizeof a) == 0);
    gp.samplers = "min_p;temperature;adaptive_p";
    CHECK(run_order(gp, b, N, &r) == 0 && run_order(gp, c, N, &r) == 0);
    CHECK(memcmp(a, b, sizeof a) != 0 && memcmp(b, c, sizeof b) == 0);
    gp.adaptive_decay = 1.0f;
    CHECK_EQ_INT(run_order(gp, b, N, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "adaptive_decay") != NULL);
    gp.adaptive_decay = 0.9f, gp.adaptive_target = 2.0f;
    CHECK_EQ_INT(run_order(gp, b, N, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "adaptive_target") != NULL);
}

/* What on_candidates and on_logits saw of a run. */
typedef struct cand_log {
    int calls, bad;      /* calls; those breaking a rule (below) */
    int stop_after;      /* return non-zero at this call (0: never) */
    double worst_sum;    /* the largest |sum of top p - 1| where every survivor was listed */
    double worst_vs_logits; /* the largest |p - softmax(logits)[token]| (plain sampling) */
    double softmax_p;    /* on_logits: the token's softmax probability, for the next on_candidates */
    int32_t expect;      /* on_logits's token, -1 without it */
} cand_log;

static int log_logits(const float *logits, int64_t n_vocab, int32_t token, void *user) {
    cand_log *c = user;
    double max = -INFINITY, sum = 0.0;
    for (int64_t i = 0; i < n_vocab; i++) max = logits[i] > max ? logits[i] : max;
    for (int64_t i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - max);
    c->softmax_p = exp((double)logits[token] - max) / sum, c->expect = token;
    return 0;
}

/* Rules: the top list best first, p in (0, 1], the token's p > 0 and equal to its entry when
 * listed; with on_logits (plain sampling at temperature 1) the token's p is its softmax. */
static int log_candidates(int32_t token, float p, const bitnet_token_prob *top, int n_top, void *user) {
    cand_log *c = user;
    double sum = 0.0;
    bool listed = false;
    for (int i = 0; i < n_top; i++) {
        sum += top[i].p;
        c->bad += !(top[i].p > 0.0f && top[i].p <= 1.0f) || (i && top[i].p > top[i - 1].p);
        if (top[i].token == token) listed = true, c->bad += top[i].p != p;
    }
    c->bad += !(p > 0.0f && p <= 1.0f) || (c->expect >= 0 && c->expect != token);
    if (n_top < 8 && listed) c->worst_sum = fmax(c->worst_sum, fabs(sum - 1.0)); /* (fewer than asked: all of them) */
    if (c->expect >= 0) c->worst_vs_logits = fmax(c->worst_vs_logits, fabs(p - c->softmax_p));
    return ++c->calls == c->stop_after;
}

/* on_candidates (llama-server's post_sampling_probs): one call per token with the draw's
 * distribution; the tokens are those of the run without it; top-k 5: at most 5 listed,
 * summing to 1; greedy: the token with p 1; plain sampling: the token's softmax probability;
 * non-zero stops the run; a negative n_candidates fails. */
TEST(generate_candidates) {
    enum { N = 16 };
    int32_t a[N], b[N];
    bitnet_generate_result ra, rb;
    bitnet_generate_params gp = bitnet_generate_default_params();
    gp.sampling.temperature = 1.0f, gp.sampling.seed = 3, gp.sampling.top_k = 5;
    for (int v = 0; v < 3; v++) {
        if (v == 1) gp.sampling.temperature = 0.0f;
        if (v == 2) gp.sampling.temperature = 1.0f, gp.sampling.top_k = 0, gp.sampling.top_p = 1.0f, gp.sampling.min_p = 0.0f;
        gp.on_candidates = NULL;
        CHECK(run_order(gp, a, N, &ra) == 0);
        cand_log log = {.expect = -1};
        gp.on_candidates = log_candidates, gp.n_candidates = 8, gp.user_data = &log;
        if (v == 2) gp.on_logits = log_logits;
        CHECK(run_order(gp, b, N, &rb) == 0 && memcmp(a, b, sizeof a) == 0);
        CHECK_MSG(log.calls == N && log.bad == 0 && log.worst_sum < 1e-4, "case %d: %d calls, %d bad, sum off by %g", v, log.calls, log.bad,
                  log.worst_sum);
        if (v == 2) CHECK_MSG(log.worst_vs_logits < 1e-5, "p off the softmax by %g", log.worst_vs_logits);
        gp.on_logits = NULL;
    }
    cand_log stop = {.expect = -1, .stop_after = 3};
    gp.user_data = &stop;
    CHECK(run_order(gp, b, N, &rb) == 0 && rb.stop_reason == BITNET_STOP_CALLBACK && rb.n_generated == 3);
    gp.n_candidates = -1;
    CHECK_EQ_INT(run_order(gp, b, N, &rb), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "n_candidates") != NULL);
}

/* DRY's breaker sequences over the LLaMA-3 vocabulary: "\n" makes every token whose text has
 * a newline a breaker on its own and nothing else; "ab!" adds, for a token ending with "a" (or
 * "ab"), the token and the tokens of the rest ("b!" or "!"); none are duplicated per token. */
TEST(dry_breaker_sequences) {
    const bn_tokenizer *tok = g_model->tokenizer;
    int32_t *t = NULL;
    int *lens = NULL, n = 0;
    const char *nl[] = {"\n"};
    CHECK_EQ_INT(bn_dry_breaker_sequences(tok, nl, 1, &t, &lens, &n), 0);
    char piece[512];
    int with_newline = 0, wrong = 0;
    for (int32_t id = 0; id < bn_tokenizer_n_vocab(tok); id++) {
        int len = bn_token_to_piece(tok, id, true, piece, (int)sizeof piece);
        with_newline += len > 0 && memchr(piece, '\n', (size_t)len) != NULL;
    }
    for (int e = 0; e < n; e++) {
        int len = bn_token_to_piece(tok, t[e], true, piece, (int)sizeof piece);
        wrong += lens[e] != 1 || len <= 0 || !memchr(piece, '\n', (size_t)len);
    }
    CHECK_MSG(n == with_newline && n > 100 && wrong == 0, "%d sequences, %d tokens with a newline, %d wrong", n, with_newline, wrong);
    free(t), free(lens);
    const char *ab[] = {"ab!"};
    CHECK_EQ_INT(bn_dry_breaker_sequences(tok, ab, 1, &t, &lens, &n), 0);
    int32_t a = -1, rest[8];
    CHECK_EQ_INT(bn_tokenize(tok, "a", 1, false, false, &a, 1), 1);
    int n_rest = bn_tokenize(tok, "b!", 2, false, false, rest, 8), found = 0;
    for (int e = 0, o = 0; e < n; o += lens[e], e++)
        found += t[o] == a && lens[e] == n_rest + 1 && memcmp(t + o + 1, rest, sizeof rest[0] * (size_t)n_rest) == 0;
    CHECK_MSG(found == 1 && n > 10, "%d sequences, 'a' + 'b!' found %d times", n, found);
    free(t), free(lens);
    CHECK_EQ_INT(bn_dry_breaker_sequences(tok, NULL, 0, &t, &lens, &n), 0); /* llama.cpp's defaults */
    CHECK(n > with_newline);
    /* the model's copy of the defaults (what a session with NULL breakers uses): the same
     * sequences, made once (the second call gives the same arrays back) */
    const int32_t *mt, *mt2;
    const int *ml, *ml2;
    int mn = -1, mn2 = -1, total = 0;
    CHECK_EQ_INT(bn_model_dry_default_breakers(g_model, &mt, &ml, &mn), 0);
    CHECK_EQ_INT(bn_model_dry_default_breakers(g_model, &mt2, &ml2, &mn2), 0);
    for (int e = 0; e < n; e++) total += lens[e];
    CHECK_MSG(mn == n && memcmp(ml, lens, sizeof *lens * (size_t)n) == 0 && memcmp(mt, t, sizeof *t * (size_t)total) == 0,
              "the model's defaults: %d sequences, computed now: %d", mn, n);
    CHECK(mt2 == mt && ml2 == ml && mn2 == mn);
    free(t), free(lens);
}

/* The longest stretch of t[0, n) that occurs again later in it. */
static int longest_repeat(const int32_t *t, int n) {
    int longest = 0;
    for (int k = 1; k < n; k++)
        for (int i = 0; i + k < n; i++) {
            int m = 0;
            while (i + k + m < n && t[i + m] == t[i + k + m]) m++;
            longest = m > longest ? m : longest;
        }
    return longest;
}

/* DRY through a session: breaks a greedy loop; with "none" for breakers and with the defaults,
 * a bad value fails the call naming it. */
TEST(generate_dry) {
    bitnet_session *s = new_session(256);
    CHECK(s != NULL);
    if (!s) return;
    int32_t p[16], plain[32], dry[32], none[32];
    int n = bitnet_model_tokenize(g_model, "one two three one two three", 27, 1, 0, p, 16);
    bitnet_generate_params gp = greedy(32);
    gp.ignore_eog = 1;
    bitnet_generate_result r = {.struct_size = sizeof r};
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, plain, 32, &r), 0);
    bitnet_session_reset(s);
    gp.sampling_extra.dry_multiplier = 2.0f;
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, dry, 32, &r), 0);
    CHECK(memcmp(plain, dry, sizeof plain) != 0);
    /* greedy loops on this model; DRY keeps the text from repeating its own 8-token stretches */
    CHECK_MSG(longest_repeat(plain, 32) >= 8 && longest_repeat(dry, 32) < 8, "repeats of %d tokens without DRY, %d with",
              longest_repeat(plain, 32), longest_repeat(dry, 32));
    bitnet_session_reset(s);
    const char *no_breakers[1] = {NULL};
    gp.sampling_extra.dry_sequence_breakers = no_breakers, gp.sampling_extra.n_dry_sequence_breakers = 0;
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, none, 32, &r), 0);
    bitnet_session_reset(s);
    gp.sampling_extra.n_dry_sequence_breakers = 1; /* a NULL string */
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, none, 32, &r), BITNET_ERR_INVALID_ARGUMENT);
    bitnet_session_reset(s);
    gp.sampling_extra.dry_sequence_breakers = NULL, gp.sampling_extra.dry_allowed_length = -1;
    CHECK_EQ_INT(bitnet_session_generate(s, p, n, &gp, none, 32, &r), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "dry_allowed_length") != NULL);
    bitnet_session_free(s);
}

TEST(close_model) {
    CHECK_EQ_INT(bitnet_model_close(g_model), 0);
}

TEST_MAIN_BEGIN("test_api")
make_model();
RUN(open_and_describe);
RUN(load_progress);
RUN(text);
RUN(session_errors);
RUN(generate_text_and_result);
RUN(generate_logit_bias);
RUN(generate_json_object);
RUN(generate_json_schema);
RUN(json_mask_equals_brute_force);
RUN(grammar_mask_equals_brute_force);
RUN(generate_grammar);
RUN(generate_grammar_token_refs);
RUN(constraint_masks_on_threads_equal_one_thread);
RUN(constraint_best_tokens_draw_as_the_whole_mask);
RUN(generate_lookup);
RUN(generate_prediction);
RUN(multi_turn_keeps_cache);
RUN(context_turns_to_drop);
RUN(truncate_and_shift);
RUN(session_shift);
RUN(kv_types);
RUN(sampling_extra_checked_and_versioned);
RUN(generate_samplers_order);
RUN(generate_adaptive_p);
RUN(generate_candidates);
RUN(dry_breaker_sequences);
RUN(generate_dry);
RUN(close_model);
unlink(g_path);
TEST_MAIN_END()
