/* Tests of the compatibility surface (BitNet-rs's C API names): every function, its error
 * paths, and agreement between the text, token, streaming and logits paths on a random-weight
 * model with the real LLaMA-3 vocabulary. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_compat.h"
#include "formats/genmodel.h"
#include "test.h"
#include "test_models.h"

static char g_model_path[512];
static int g_id;

static void make_model(void) { test_write_vocab_model("api_compat", g_model_path, sizeof g_model_path); }

static BitNetCInferenceConfig greedy(unsigned max_new) {
    BitNetCInferenceConfig c = bitnet_inference_config_default();
    c.do_sample = 0;
    c.repetition_penalty = 1.0f; /* off: the greedy token is then the argmax of the raw logits */
    c.max_new_tokens = max_new;
    return c;
}

TEST(version_and_defaults) {
    CHECK_STR(bitnet_version(), BITNET_VERSION_STRING);
    CHECK_EQ_INT(bitnet_abi_version(), BITNET_ABI_VERSION);
    BitNetCInferenceConfig c = bitnet_inference_config_default();
    CHECK_EQ_INT(c.max_new_tokens, 512);
    CHECK_EQ_INT(c.top_k, 50);
    CHECK_EQ_INT(c.do_sample, 1);
    BitNetCStreamConfig s = bitnet_stream_config_default();
    CHECK(s.callback == NULL && s.logits_callback == NULL && s.yield_interval == 1);
    BitNetCConfig m = bitnet_config_default();
    CHECK_EQ_INT(m.model_format, BITNET_FORMAT_GGUF);
    CHECK_EQ_INT(m.use_gpu, 0);
    CHECK_EQ_INT(BITNET_SUCCESS, 0);
    CHECK_EQ_INT(BITNET_ERROR_INVALID_MODEL_ID, BITNET_ERR_INVALID_ID);
}

TEST(load_errors) {
    CHECK_EQ_INT(bitnet_model_load(NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strlen(bitnet_get_last_error()) > 0);
    bitnet_clear_last_error();
    CHECK_STR(bitnet_get_last_error(), "");
    int rc = bitnet_model_load("/nonexistent/model.gguf");
    CHECK_MSG(rc < 0, "rc %d", rc);
    CHECK(strstr(bitnet_get_last_error(), "/nonexistent/model.gguf") != NULL);
    char junk[600];
    snprintf(junk, sizeof junk, "%s.junk", g_model_path);
    FILE *f = fopen(junk, "wb");
    fputs("not a gguf file at all", f);
    fclose(f);
    rc = bitnet_model_load(junk);
    CHECK_MSG(rc < 0 && rc != BITNET_ERR_INTERNAL, "rc %d", rc);
    unlink(junk);
    BitNetCConfig c = bitnet_config_default();
    c.model_format = BITNET_FORMAT_SAFETENSORS;
    CHECK_EQ_INT(bitnet_model_load_with_config(g_model_path, &c), BITNET_ERR_UNSUPPORTED);
    c = bitnet_config_default();
    c.use_gpu = 1;
    CHECK_EQ_INT(bitnet_model_load_with_config(g_model_path, &c), BITNET_ERR_UNSUPPORTED);
    c = bitnet_config_default();
    c.hidden_size = 4096; /* the file has 256 */
    CHECK_EQ_INT(bitnet_model_load_with_config(g_model_path, &c), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "hidden_size") != NULL);
    c = bitnet_config_default();
    c.memory_limit = 1000;
    CHECK_EQ_INT(bitnet_model_load_with_config(g_model_path, &c), BITNET_ERR_OUT_OF_MEMORY);
    c = bitnet_config_default();
    c.num_threads = 5000;
    CHECK_EQ_INT(bitnet_model_load_with_config(g_model_path, &c), BITNET_ERR_INVALID_ARGUMENT);
}

TEST(load_and_info) {
    BitNetCConfig c = bitnet_config_default();
    c.hidden_size = 256; /* matches: accepted */
    c.num_threads = 1;
    g_id = bitnet_model_load_with_config(g_model_path, &c);
    CHECK_MSG(g_id > 0, "%d: %s", g_id, bitnet_get_last_error());
    CHECK_EQ_INT(bitnet_model_is_loaded(g_id), 1);
    CHECK_EQ_INT(bitnet_model_is_loaded(0), 0);
    CHECK_EQ_INT(bitnet_model_is_loaded(-5), 0);
    CHECK_EQ_INT(bitnet_model_is_loaded(INT_MAX), 0);
    BitNetCModel info;
    CHECK_EQ_INT(bitnet_model_get_info(g_id, &info), 0);
    CHECK_STR(info.architecture, "bitnet");
    CHECK_EQ_INT(info.vocab_size, 128256);
    CHECK_EQ_INT(info.hidden_size, 256);
    CHECK_EQ_INT(info.num_layers, 2);
    CHECK_EQ_INT(info.num_heads, 4);
    CHECK_EQ_INT(info.intermediate_size, 512);
    CHECK_EQ_INT(info.context_length, 256);
    CHECK_EQ_INT(info.quantization_type, BITNET_QUANT_OTHER); /* tq2_0 */
    CHECK_EQ_INT(info.is_gpu_loaded, 0);
    CHECK(info.name && info.version);
    FILE *f = fopen(g_model_path, "rb");
    fseek(f, 0, SEEK_END);
    CHECK_EQ_INT(info.file_size, ftell(f));
    fclose(f);
    CHECK(info.memory_usage > 0 && info.memory_usage <= info.file_size);
    CHECK_EQ_INT(bitnet_model_n_vocab(g_id), 128256);
    CHECK_EQ_INT(bitnet_model_get_info(g_id, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_model_get_info(12345678, &info), BITNET_ERR_INVALID_ID);
    CHECK_EQ_INT(bitnet_model_n_vocab(-1), BITNET_ERR_INVALID_ID);
}

TEST(tokenize_detokenize) {
    const char *text = "Hello world, caf\xc3\xa9!";
    int32_t toks[64];
    int n = bitnet_tokenize(g_id, text, 0, toks, 64);
    CHECK_MSG(n > 2, "%d %s", n, bitnet_get_last_error());
    CHECK_EQ_INT(bitnet_tokenize(g_id, text, 0, NULL, 0), n);
    int nb = bitnet_tokenize(g_id, text, 1, toks, 64);
    CHECK_EQ_INT(nb, n + 1); /* BOS */
    CHECK_EQ_INT(toks[0], 128000);
    CHECK_EQ_INT(bitnet_tokenize(g_id, text, 0, toks, 1), BITNET_ERR_BUFFER_TOO_SMALL);
    n = bitnet_tokenize(g_id, text, 0, toks, 64);
    char buf[128];
    CHECK_EQ_INT(bitnet_detokenize(g_id, toks, n, buf, sizeof buf), (int)strlen(text));
    CHECK_STR(buf, text);
    CHECK_EQ_INT(bitnet_detokenize(g_id, toks, n, NULL, 0), (int)strlen(text));
    CHECK_STR(bitnet_get_last_error(), ""); /* the whole text fitted */
    /* "café!" cut after "caf": never inside the 2-byte é; a cut text is a success (its
     * length) and the last error notes the cut */
    size_t cut = strlen(text) - 2;
    char small[64];
    CHECK_EQ_INT(bitnet_detokenize(g_id, toks, n, small, cut + 1), (int)cut - 1);
    CHECK_EQ_INT(strlen(small), cut - 1);
    CHECK(strstr(bitnet_get_last_error(), "truncated") != NULL);
    CHECK_EQ_INT(bitnet_detokenize(g_id, toks, n, small, 1), 0);
    CHECK_STR(small, "");
    CHECK(strstr(bitnet_get_last_error(), "truncated") != NULL);
    CHECK_EQ_INT(bitnet_detokenize(g_id, toks, n, small, 0), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_detokenize(g_id, toks, 0, buf, sizeof buf), 0);
    int32_t bad = 999999;
    CHECK(bitnet_detokenize(g_id, &bad, 1, buf, sizeof buf) < 0);
    CHECK_EQ_INT(bitnet_tokenize(g_id, NULL, 0, toks, 64), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_tokenize(9999, "x", 0, toks, 64), BITNET_ERR_INVALID_ID);
    CHECK_EQ_INT(bitnet_detokenize(g_id, NULL, 3, buf, sizeof buf), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_detokenize(g_id, toks, -1, buf, sizeof buf), BITNET_ERR_INVALID_ARGUMENT);
}

TEST(utf8_truncation_helpers) {
    const char *s = "a\xc3\xa9\xe2\x82\xac"; /* a é € : 1 + 2 + 3 bytes */
    CHECK_EQ_INT(bn_compat_utf8_prefix(s, 6, 6), 6);
    CHECK_EQ_INT(bn_compat_utf8_prefix(s, 6, 5), 3);
    CHECK_EQ_INT(bn_compat_utf8_prefix(s, 6, 4), 3);
    CHECK_EQ_INT(bn_compat_utf8_prefix(s, 6, 2), 1);
    CHECK_EQ_INT(bn_compat_utf8_prefix(s, 6, 0), 0);
    char out[8];
    CHECK_EQ_INT(bn_compat_copy_text(s, 6, out, 7, "t"), 6);
    CHECK_STR(out, s);
    CHECK(!bn_compat_truncated());
    CHECK_EQ_INT(bn_compat_copy_text(s, 6, out, 6, "t"), 3);
    CHECK_STR(out, "a\xc3\xa9");
    CHECK(bn_compat_truncated());
    CHECK(strstr(bitnet_get_last_error(), "t: output truncated to 3 bytes") != NULL);
    /* the sink stops generation once the text no longer fits */
    compat_text t = {.limit = 4};
    CHECK_EQ_INT(bn_compat_collect_text(1, "abc", 3, &t), 0);
    CHECK_EQ_INT(bn_compat_collect_text(2, "", 0, &t), 0);
    CHECK_EQ_INT(bn_compat_collect_text(3, "d", 1, &t), 1);
    free(t.data);
}

/* Text inference, token inference and detokenization agree under greedy decoding. */
TEST(inference_paths_agree) {
    const char *prompt = "The capital of France is";
    BitNetCInferenceConfig c = greedy(12);
    char out1[1024], out2[1024];
    int n1 = bitnet_inference_with_config(g_id, prompt, &c, out1, sizeof out1);
    CHECK_MSG(n1 >= 0, "%d %s", n1, bitnet_get_last_error());
    CHECK_EQ_INT(n1, (int)strlen(out1));
    CHECK_EQ_INT(bitnet_inference_with_config(g_id, prompt, &c, out2, sizeof out2), n1);
    CHECK_STR(out1, out2);
    int32_t in[64], gen[64];
    int n_in = bitnet_tokenize(g_id, prompt, 1, in, 64);
    int n_out = -1;
    int rc = bitnet_inference_tokens(g_id, in, n_in, &c, gen, 64, &n_out);
    CHECK_EQ_INT(rc, n_out);
    CHECK_MSG(n_out >= 1 && n_out <= 12, "n_out %d", n_out);
    char detok[1024];
    /* text inference stops before an end-of-generation token and renders no special text */
    int nd = n_out;
    while (nd > 0 && gen[nd - 1] >= 128000) nd--;
    CHECK(bitnet_detokenize(g_id, gen, nd, detok, sizeof detok) >= 0);
    CHECK_STR(detok, out1);
    /* max_out caps generation */
    CHECK_EQ_INT(bitnet_inference_tokens(g_id, in, n_in, &c, gen, 3, &n_out), 3);
    CHECK_EQ_INT(n_out, 3);
    /* bitnet_inference: default (sampling) config, still real output */
    /* (on a model loaded with a 24-token context, which also bounds the default 512 tokens) */
    BitNetCConfig small = bitnet_config_default();
    small.max_position_embeddings = 24;
    int id24 = bitnet_model_load_with_config(g_model_path, &small);
    CHECK(id24 > 0);
    int rc_default = bitnet_inference(id24, prompt, out2, sizeof out2);
    CHECK_MSG(rc_default >= 0, "%d %s", rc_default, bitnet_get_last_error());
    BitNetCPerformanceMetrics m;
    CHECK_EQ_INT(bitnet_get_performance_metrics(id24, &m), 0);
    CHECK(m.prompt_tokens + m.tokens_generated <= 24 && m.tokens_generated >= 1);
    CHECK_EQ_INT(bitnet_model_free(id24), 0);
    /* sampling with a fixed seed is reproducible */
    BitNetCInferenceConfig s = bitnet_inference_config_default();
    s.max_new_tokens = 8;
    s.seed = 7;
    CHECK(bitnet_inference_with_config(g_id, prompt, &s, out1, sizeof out1) >= 0);
    CHECK(bitnet_inference_with_config(g_id, prompt, &s, out2, sizeof out2) >= 0);
    CHECK_STR(out1, out2);
}

TEST(inference_truncation_and_errors) {
    const char *prompt = "Once upon a time";
    BitNetCInferenceConfig c = greedy(16);
    char full[1024], part[8];
    int n = bitnet_inference_with_config(g_id, prompt, &c, full, sizeof full);
    CHECK(n >= 0);
    CHECK_STR(bitnet_get_last_error(), "");
    if (n >= (int)sizeof part) { /* cut to fit: a success returning the bytes written */
        int k = bitnet_inference_with_config(g_id, prompt, &c, part, sizeof part);
        CHECK_EQ_INT(k, (int)strlen(part));
        CHECK(k < (int)sizeof part && strncmp(part, full, (size_t)k) == 0);
        CHECK(((unsigned char)full[k] & 0xC0) != 0x80); /* the cut is at a character boundary */
        CHECK(strstr(bitnet_get_last_error(), "output truncated") != NULL);
    }
    char one[1] = {'x'};
    int rc = bitnet_inference_with_config(g_id, prompt, &c, one, 1);
    CHECK(rc == 0 && one[0] == '\0');
    CHECK(n == 0 || strstr(bitnet_get_last_error(), "output truncated") != NULL);
    CHECK_EQ_INT(bitnet_inference_with_config(g_id, prompt, &c, full, 0), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_inference_with_config(g_id, NULL, &c, full, sizeof full), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_inference_with_config(g_id, prompt, &c, NULL, 10), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_inference(0, prompt, full, sizeof full), BITNET_ERR_INVALID_ID);
    BitNetCInferenceConfig bad = c;
    bad.top_p = 1.5f;
    CHECK_EQ_INT(bitnet_inference_with_config(g_id, prompt, &bad, full, sizeof full), BITNET_ERR_INVALID_ARGUMENT);
    bad = c;
    bad.backend_preference = BITNET_BACKEND_GPU;
    CHECK_EQ_INT(bitnet_inference_with_config(g_id, prompt, &bad, full, sizeof full), BITNET_ERR_UNSUPPORTED);
    bad = c;
    bad.max_length = 3; /* the prompt alone is longer */
    CHECK_EQ_INT(bitnet_inference_with_config(g_id, prompt, &bad, full, sizeof full), BITNET_ERR_CONTEXT_EXCEEDED);
    /* a prompt longer than the context (256) */
    size_t big = 4000;
    char *long_prompt = malloc(big + 1);
    for (size_t i = 0; i < big; i += 4) memcpy(long_prompt + i, " cat", 4);
    long_prompt[big] = '\0';
    CHECK_EQ_INT(bitnet_inference_with_config(g_id, long_prompt, &c, full, sizeof full), BITNET_ERR_CONTEXT_EXCEEDED);
    CHECK(strstr(bitnet_get_last_error(), "context") != NULL);
    free(long_prompt);
    /* max_length leaves room for 2 new tokens */
    int32_t in[32], gen[32];
    int n_in = bitnet_tokenize(g_id, prompt, 1, in, 32), n_out = 0;
    bad = c;
    bad.max_length = (uint32_t)n_in + 2;
    bad.max_new_tokens = 0;
    CHECK(bitnet_inference_tokens(g_id, in, n_in, &bad, gen, 32, &n_out) >= 0);
    CHECK_MSG(n_out >= 1 && n_out <= 2, "%d", n_out);
    CHECK_EQ_INT(bitnet_inference_tokens(g_id, NULL, 3, &c, gen, 32, &n_out), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_inference_tokens(g_id, in, n_in, &c, gen, 0, &n_out), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_inference_tokens(-3, in, n_in, &c, gen, 32, &n_out), BITNET_ERR_INVALID_ID);
}

TEST(batch) {
    const char *prompts[3] = {"Hello", NULL, "The sky is"};
    char a[256], b[256], c3[256], ref[256];
    char *outs[3] = {a, b, c3};
    size_t lens[3] = {sizeof a, sizeof b, sizeof c3};
    BitNetCInferenceConfig c = greedy(6);
    CHECK_EQ_INT(bitnet_batch_inference(g_id, prompts, 3, &c, outs, lens), 2);
    CHECK(strstr(bitnet_get_last_error(), "prompt 1") != NULL);
    CHECK_STR(b, "");
    CHECK(bitnet_inference_with_config(g_id, "Hello", &c, ref, sizeof ref) >= 0);
    CHECK_STR(a, ref);
    CHECK(bitnet_inference_with_config(g_id, "The sky is", &c, ref, sizeof ref) >= 0);
    CHECK_STR(c3, ref);
    /* cut outputs are successes; the last error lists them */
    char t1[4], t2[4];
    char *small_outs[2] = {t1, t2};
    size_t small_lens[2] = {sizeof t1, sizeof t2};
    const char *two[2] = {"Hello", "The sky is"};
    CHECK_EQ_INT(bitnet_batch_inference(g_id, two, 2, &c, small_outs, small_lens), 2);
    CHECK(strlen(t1) < sizeof t1 && strncmp(t1, a, strlen(t1)) == 0);
    CHECK(strlen(t2) < sizeof t2 && strncmp(t2, c3, strlen(t2)) == 0);
    if (strlen(a) >= sizeof t1) CHECK(strstr(bitnet_get_last_error(), "truncated") != NULL);
    CHECK_EQ_INT(bitnet_batch_inference(g_id, prompts, 0, &c, outs, lens), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_inference(g_id, NULL, 3, &c, outs, lens), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_inference(g_id, prompts, 3, &c, NULL, lens), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_batch_inference(77777, prompts, 3, &c, outs, lens), BITNET_ERR_INVALID_ID);
}

/* Pulled pieces concatenate to the one-shot output. */
TEST(stream_pull) {
    BitNetCInferenceConfig c = greedy(10);
    char ref[1024];
    CHECK(bitnet_inference_with_config(g_id, "Knock knock", &c, ref, sizeof ref) >= 0);
    int sid = bitnet_start_streaming(g_id, "Knock knock", &c, NULL);
    CHECK_MSG(sid > 0 && sid != g_id, "%d %s", sid, bitnet_get_last_error());
    char all[1024] = "", piece[64];
    int n, pieces = 0;
    while ((n = bitnet_stream_next_token(sid, piece, sizeof piece)) > 0) {
        CHECK_EQ_INT(n, (int)strlen(piece));
        strcat(all, piece);
        pieces++;
    }
    CHECK_EQ_INT(n, 0);
    CHECK_STR(all, ref);
    CHECK(pieces >= 1 || ref[0] == '\0');
    CHECK_EQ_INT(bitnet_stream_next_token(sid, piece, sizeof piece), 0); /* stays finished */
    CHECK_EQ_INT(bitnet_stream_next_token(sid, NULL, 8), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_stream_next_token(sid, piece, 0), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_stop_streaming(sid), 0);
    CHECK_EQ_INT(bitnet_stop_streaming(sid), BITNET_ERR_INVALID_ID);
    CHECK(strstr(bitnet_get_last_error(), "already freed") != NULL);
    CHECK_EQ_INT(bitnet_stream_next_token(sid, piece, sizeof piece), BITNET_ERR_INVALID_ID);
    CHECK_EQ_INT(bitnet_stream_next_token(g_id, piece, sizeof piece), BITNET_ERR_INVALID_ID); /* a model id */
    CHECK_EQ_INT(bitnet_model_free(sid), BITNET_ERR_INVALID_ID);
    /* tiny buffers: 2 bytes hold one ASCII character at a time; the pieces still add up */
    sid = bitnet_start_streaming(g_id, "Knock knock", &c, NULL);
    CHECK(sid > 0);
    all[0] = '\0';
    char two[2];
    while ((n = bitnet_stream_next_token(sid, two, sizeof two)) > 0) strcat(all, two);
    if (n == BITNET_ERR_BUFFER_TOO_SMALL) { /* a multi-byte character: take it with more room */
        while ((n = bitnet_stream_next_token(sid, piece, sizeof piece)) > 0) strcat(all, piece);
    }
    CHECK_EQ_INT(n, 0);
    CHECK_STR(all, ref);
    CHECK_EQ_INT(bitnet_stop_streaming(sid), 0);
    CHECK_EQ_INT(bitnet_start_streaming(g_id, NULL, &c, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_start_streaming(424242, "x", &c, NULL), BITNET_ERR_INVALID_ID);
    CHECK_EQ_INT(bitnet_stop_streaming(0), BITNET_ERR_INVALID_ID);
}

typedef struct { char text[1024]; int calls, stop_after; } push_sink;

static int on_piece(const char *token, void *user_data) {
    push_sink *s = user_data;
    strncat(s->text, token, sizeof s->text - strlen(s->text) - 1);
    return ++s->calls == s->stop_after;
}

TEST(stream_push) {
    BitNetCInferenceConfig c = greedy(10);
    char ref[1024];
    CHECK(bitnet_inference_with_config(g_id, "Knock knock", &c, ref, sizeof ref) >= 0);
    push_sink sink = {.stop_after = -1};
    BitNetCStreamConfig sc = bitnet_stream_config_default();
    sc.callback = on_piece;
    sc.user_data = &sink;
    int sid = bitnet_start_streaming(g_id, "Knock knock", &c, &sc);
    CHECK(sid > 0);
    CHECK_STR(sink.text, ref);
    char piece[16];
    CHECK_EQ_INT(bitnet_stream_next_token(sid, piece, sizeof piece), 0); /* already finished */
    CHECK_EQ_INT(bitnet_stop_streaming(sid), 0);
    push_sink first = {.stop_after = 1};
    sc.user_data = &first;
    sid = bitnet_start_streaming(g_id, "Knock knock", &c, &sc);
    CHECK(sid > 0);
    CHECK_EQ_INT(first.calls, ref[0] ? 1 : 0);
    CHECK_EQ_INT(bitnet_stop_streaming(sid), 0);
}

typedef struct { int calls, bad_order, argmax_mismatch; int k; float first_logits[8]; int32_t first_ids[8]; } logit_sink;

static int on_logits(int32_t token, const char *text, size_t len, const float *logits, const int32_t *ids, int n, void *user_data) {
    logit_sink *s = user_data;
    if (s->k) {
        if (n != s->k) s->bad_order++;
        for (int i = 1; i < n; i++)
            if (logits[i] > logits[i - 1]) s->bad_order++;
        if (ids[0] != token) s->argmax_mismatch++; /* greedy: the token is the top one */
        if (s->calls == 0)
            for (int i = 0; i < n && i < 8; i++) s->first_logits[i] = logits[i], s->first_ids[i] = ids[i];
    } else {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (logits[i] > logits[best]) best = i;
        if (best != token || n != 128256) s->argmax_mismatch++;
    }
    if (len && !text) s->bad_order++;
    s->calls++;
    return 0;
}

TEST(stream_logits) {
    BitNetCInferenceConfig c = greedy(5);
    for (int k = 0; k <= 5; k += 5) {
        logit_sink sink = {.k = k};
        BitNetCStreamConfig sc = bitnet_stream_config_default();
        sc.logits_callback = on_logits;
        sc.logits_top_k = (uint32_t)k;
        sc.user_data = &sink;
        int sid = bitnet_start_streaming(g_id, "One two three", &c, &sc);
        CHECK(sid > 0);
        char piece[64];
        while (bitnet_stream_next_token(sid, piece, sizeof piece) > 0) {
        }
        CHECK_EQ_INT(bitnet_stop_streaming(sid), 0);
        CHECK(sink.calls >= 1 && sink.calls <= 5);
        CHECK_EQ_INT(sink.bad_order, 0);
        CHECK_EQ_INT(sink.argmax_mismatch, 0);
        if (k) { /* the first step's logits are those of the prompt's last position */
            int32_t in[32];
            int n = bitnet_tokenize(g_id, "One two three", 1, in, 32);
            float *all = malloc((size_t)n * 128256 * sizeof(float));
            CHECK_EQ_INT(bitnet_eval_logits(g_id, in, n, all), 0);
            const float *last = all + (size_t)(n - 1) * 128256;
            for (int i = 0; i < k; i++) CHECK_NEAR(last[sink.first_ids[i]], sink.first_logits[i], 1e-4);
            free(all);
        }
    }
}

static int stop_on_second(int32_t token, const char *text, size_t len, const float *logits, const int32_t *ids, int n,
                          void *user_data) {
    return ++*(int *)user_data == 2;
}

TEST(stream_logits_callback_stops) {
    BitNetCInferenceConfig c = greedy(10);
    int calls = 0;
    BitNetCStreamConfig sc = bitnet_stream_config_default();
    sc.logits_callback = stop_on_second;
    sc.logits_top_k = 1;
    sc.user_data = &calls;
    int sid = bitnet_start_streaming(g_id, "Stop early", &c, &sc);
    CHECK(sid > 0);
    char piece[64];
    int n;
    while ((n = bitnet_stream_next_token(sid, piece, sizeof piece)) > 0) {
    }
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(calls, 2);
    CHECK_EQ_INT(bitnet_stop_streaming(sid), 0);
    sc.logits_top_k = 1u << 30;
    CHECK_EQ_INT(bitnet_start_streaming(g_id, "x", &c, &sc), BITNET_ERR_INVALID_ARGUMENT);
}

TEST(eval_logits) {
    int32_t in[32], gen[4];
    int n = bitnet_tokenize(g_id, "Paris is a city", 1, in, 32), n_out = 0;
    float *all = malloc((size_t)n * 128256 * sizeof(float));
    CHECK_EQ_INT(bitnet_eval_logits(g_id, in, n, all), 0);
    /* greedy's first token is the argmax of the last row */
    BitNetCInferenceConfig c = greedy(1);
    CHECK_EQ_INT(bitnet_inference_tokens(g_id, in, n, &c, gen, 4, &n_out), 1);
    const float *last = all + (size_t)(n - 1) * 128256;
    int best = 0;
    for (int i = 1; i < 128256; i++)
        if (last[i] > last[best]) best = i;
    CHECK_EQ_INT(gen[0], best);
    /* row i only depends on the prefix: evaluating the first 2 tokens gives the same rows */
    float *two = malloc(2 * 128256 * sizeof(float));
    CHECK_EQ_INT(bitnet_eval_logits(g_id, in, 2, two), 0);
    for (int i = 0; i < 128256; i += 997) CHECK_NEAR(two[128256 + i], all[128256 + i], 1e-3);
    free(two);
    free(all);
    float one[4];
    int32_t bad = -7;
    CHECK(bitnet_eval_logits(g_id, &bad, 1, one) < 0);
    CHECK_EQ_INT(bitnet_eval_logits(g_id, NULL, 1, one), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_eval_logits(g_id, in, 0, one), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_eval_logits(g_id, in, 1, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_eval_logits(0, in, 1, one), BITNET_ERR_INVALID_ID);
    int32_t *many = calloc(300, sizeof *many); /* context is 256 */
    float *big = malloc((size_t)300 * 128256 * sizeof(float));
    CHECK_EQ_INT(bitnet_eval_logits(g_id, many, 300, big), BITNET_ERR_CONTEXT_EXCEEDED);
    free(big);
    free(many);
}

TEST(metrics) {
    CHECK_EQ_INT(bitnet_reset_performance_metrics(g_id), 0);
    BitNetCPerformanceMetrics m;
    CHECK_EQ_INT(bitnet_get_performance_metrics(g_id, &m), 0);
    CHECK_EQ_INT(m.tokens_generated, 0);
    CHECK_EQ_INT(m.prompt_tokens, 0);
    CHECK(m.tokens_per_second == 0 && m.latency_ms == 0 && m.gpu_utilization == -1.0f);
    CHECK(m.memory_usage_mb > 0);
    int32_t in[32], gen[8];
    int n = bitnet_tokenize(g_id, "Metrics are measured", 1, in, 32), n_out = 0;
    BitNetCInferenceConfig c = greedy(8);
    c.max_new_tokens = 8;
    CHECK(bitnet_inference_tokens(g_id, in, n, &c, gen, 8, &n_out) > 0);
    CHECK(bitnet_inference_tokens(g_id, in, n, &c, gen, 8, &n_out) > 0);
    CHECK_EQ_INT(bitnet_get_performance_metrics(g_id, &m), 0);
    CHECK_EQ_INT(m.prompt_tokens, 2 * n);
    CHECK_EQ_INT(m.tokens_generated, 2 * n_out);
    CHECK(m.tokens_per_second > 0);
    CHECK(m.latency_ms > 0 && m.time_to_first_token_ms > 0 && m.time_to_first_token_ms <= m.latency_ms);
    CHECK_NEAR(m.total_inference_time_ms, 2 * m.latency_ms, 1e-3 * m.total_inference_time_ms + 1e-6);
    BitNetCModel info;
    CHECK_EQ_INT(bitnet_model_get_info(g_id, &info), 0);
    CHECK_NEAR(m.memory_usage_mb, info.memory_usage / 1048576.0, 0.01);
    /* memory: the weights plus the pooled session's KV cache and scratch */
    CHECK(info.memory_usage > bitnet_model_n_vocab(g_id) * 256u * 2u);
    CHECK_EQ_INT(bitnet_get_performance_metrics(g_id, NULL), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_get_performance_metrics(-2, &m), BITNET_ERR_INVALID_ID);
    CHECK_EQ_INT(bitnet_reset_performance_metrics(-2), BITNET_ERR_INVALID_ID);
}

TEST(devices_and_threads) {
    CHECK_EQ_INT(bitnet_is_gpu_available(), 0);
    CHECK_EQ_INT(bitnet_set_gpu_enabled(1), BITNET_ERR_UNSUPPORTED);
    CHECK(strstr(bitnet_get_last_error(), "GPU") != NULL);
    CHECK_EQ_INT(bitnet_set_gpu_enabled(0), 0);
    CHECK_EQ_INT(bitnet_switch_model_backend(g_id, BITNET_BACKEND_CPU), 0);
    CHECK_EQ_INT(bitnet_switch_model_backend(g_id, BITNET_BACKEND_AUTO), 0);
    CHECK_EQ_INT(bitnet_switch_model_backend(g_id, BITNET_BACKEND_GPU), BITNET_ERR_UNSUPPORTED);
    CHECK_EQ_INT(bitnet_switch_model_backend(g_id, 9), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_switch_model_backend(-1, BITNET_BACKEND_CPU), BITNET_ERR_INVALID_ID);
    CHECK_EQ_INT(bitnet_set_num_threads(2), 0);
    CHECK_EQ_INT(bitnet_get_num_threads(), 2);
    CHECK_EQ_INT(bitnet_set_num_threads(5000), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bitnet_get_num_threads(), 2);
    CHECK_EQ_INT(bitnet_set_num_threads(0), 0);
    CHECK(bitnet_get_num_threads() >= 1);
    CHECK_EQ_INT(bitnet_set_num_threads(1), 0);
}

/* Freeing: refused while a stream is open; ids are never reused; use after free is caught. */
TEST(free_rules) {
    int id = bitnet_model_load(g_model_path);
    CHECK(id > g_id);
    BitNetCInferenceConfig c = greedy(4);
    int sid = bitnet_start_streaming(id, "Hi", &c, NULL);
    CHECK(sid > id);
    CHECK_EQ_INT(bitnet_model_free(id), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bitnet_get_last_error(), "stream") != NULL);
    CHECK_EQ_INT(bitnet_model_is_loaded(id), 1);
    char piece[64];
    CHECK(bitnet_stream_next_token(sid, piece, sizeof piece) >= 0); /* the stream still works */
    CHECK_EQ_INT(bitnet_stop_streaming(sid), 0);
    CHECK_EQ_INT(bitnet_model_free(id), 0);
    CHECK_EQ_INT(bitnet_model_is_loaded(id), 0);
    CHECK_EQ_INT(bitnet_model_free(id), BITNET_ERR_INVALID_ID);
    CHECK(strstr(bitnet_get_last_error(), "already freed") != NULL);
    char out[64];
    CHECK_EQ_INT(bitnet_inference(id, "x", out, sizeof out), BITNET_ERR_INVALID_ID);
    int again = bitnet_model_load(g_model_path);
    CHECK(again > sid); /* a fresh id, not a reused one */
    CHECK_EQ_INT(bitnet_model_free(again), 0);
    CHECK_EQ_INT(bitnet_model_free(0), BITNET_ERR_INVALID_ID);
    CHECK_EQ_INT(bitnet_model_free(-1), BITNET_ERR_INVALID_ID);
    /* a stream left open keeps its model; stopping it releases both */
    id = bitnet_model_load(g_model_path);
    sid = bitnet_start_streaming(id, "Hi", &c, NULL);
    CHECK_EQ_INT(bitnet_stop_streaming(sid), 0);
    CHECK_EQ_INT(bitnet_model_free(id), 0);
}

TEST(unload) {
    CHECK_EQ_INT(bitnet_model_free(g_id), 0);
    CHECK_EQ_INT(bitnet_model_is_loaded(g_id), 0);
}

TEST_MAIN_BEGIN("test_api_compat")
make_model();
RUN(version_and_defaults);
RUN(load_errors);
RUN(load_and_info);
RUN(tokenize_detokenize);
RUN(utf8_truncation_helpers);
RUN(inference_paths_agree);
RUN(inference_truncation_and_errors);
RUN(batch);
RUN(stream_pull);
RUN(stream_push);
RUN(stream_logits);
RUN(stream_logits_callback_stops);
RUN(eval_logits);
RUN(metrics);
RUN(devices_and_threads);
RUN(free_rules);
RUN(unload);
unlink(g_model_path);
TEST_MAIN_END()
