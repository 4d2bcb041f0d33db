/* Tests of server/embeddings.c: the inputs of /v1/embeddings and /embedding(s) (a string with
 * BOS, token ids as given, ids and strings mixed, {"prompt_string"}, several inputs; llama-server's
 * rule that an array holding a number is one prompt), the options (encoding_format,
 * embd_normalize, model), the refusals (empty, unknown ids, too long, wrong types), and both reply
 * shapes: OpenAI's list with floats or base64 of the float32 bytes, normalized; llama-server's
 * per-input vectors, per token with pooling none. A small model with the reference's LLaMA-3
 * vocabulary tokenizes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitnet.h"
#include "embeddings.h"
#include "formats/genmodel.h"
#include "test.h"
#include "test_models.h"

static bitnet_model *g_model;
static request_model g_m;

static int parse(const char *body, bool oai, embed_request *r, api_error *err) {
    return embed_request_parse(&g_m, body, strlen(body), oai, 2, r, err) ? err->status : 0;
}

static void check_refused(const char *body, const char *words) {
    embed_request r;
    api_error err;
    CHECK_EQ_INT(parse(body, true, &r, &err), 400);
    CHECK_MSG(strstr(err.message, words) != NULL, "'%s' not in: %s", words, err.message);
}

TEST(inputs) {
    embed_request r;
    api_error err;
    int32_t *hello;
    int n_hello = request_tokenize(g_model, "hello", 5, true, true, &hello);
    CHECK(n_hello == 2); /* BOS + "hello" */
    CHECK_EQ_INT(parse("{\"input\":\"hello\",\"model\":\"m\"}", true, &r, &err), 0);
    CHECK(r.n_inputs == 1 && r.n_ids[0] == n_hello && !memcmp(r.ids[0], hello, sizeof *hello * (size_t)n_hello));
    CHECK(r.oai && !r.base64 && r.normalize == 2);
    CHECK_STR(r.model, "m");
    embed_request_free(&r);
    /* ids as given (no BOS); an array holding a number is one prompt, mixed with strings too */
    CHECK_EQ_INT(parse("{\"input\":[5,6,7]}", true, &r, &err), 0);
    CHECK(r.n_inputs == 1 && r.n_ids[0] == 3 && r.ids[0][0] == 5 && r.ids[0][2] == 7);
    embed_request_free(&r);
    CHECK_EQ_INT(parse("{\"input\":[5,\"hello\"]}", true, &r, &err), 0);
    CHECK(r.n_inputs == 1 && r.n_ids[0] == 2 && r.ids[0][0] == 5 && r.ids[0][1] == hello[1]); /* no BOS after an id */
    embed_request_free(&r);
    /* several: strings, id arrays, {"prompt_string"} */
    CHECK_EQ_INT(parse("{\"input\":[\"hello\",[9,8],{\"prompt_string\":\"hello\"}],\"encoding_format\":\"base64\",\"embd_normalize\":-1}",
                       true, &r, &err), 0);
    CHECK(r.n_inputs == 3 && r.n_ids[0] == n_hello && r.n_ids[1] == 2 && r.ids[1][0] == 9 && r.n_ids[2] == n_hello);
    CHECK(r.base64 && r.normalize == -1 && !r.model);
    CHECK(r.dimensions == 0);
    embed_request_free(&r);
    /* llama-server's "content" asks for its own reply shape */
    CHECK_EQ_INT(parse("{\"content\":\"hello\"}", true, &r, &err), 0);
    CHECK(!r.oai && r.n_inputs == 1);
    embed_request_free(&r);
    free(hello);
}

TEST(refusals) {
    check_refused("{\"input\":[]}", "must not be empty");
    check_refused("{\"input\":[\"a\",[]]}", "'input[1]' has no tokens");
    check_refused("{\"model\":\"m\"}", "\"input\" or \"content\" must be provided");
    check_refused("{\"input\":[1,999999]}", "'input[1]' = 999999 is not a token id");
    check_refused("{\"input\":[\"a\",[1,-2]]}", "'input[1][1]' must be a token id");
    check_refused("{\"input\":7}", "must be a string");
    check_refused("{\"input\":[\"a\",{}]}", "'input[1]' must be a string");
    check_refused("{\"input\":\"a\",\"encoding_format\":\"int8\"}", "'encoding_format'");
    check_refused("{\"input\":\"a\",\"embd_normalize\":\"2\"}", "'embd_normalize'");
    check_refused("{\"input\":\"a\",\"dimensions\":0}", "'dimensions' must be a positive integer");
    check_refused("{\"input\":\"a\\u0000b\"}", "NUL");
    char big[200];
    int k = snprintf(big, sizeof big, "{\"input\":[");
    for (int i = 0; i < 40; i++) k += snprintf(big + k, sizeof big - (size_t)k, "%s1", i ? "," : "");
    snprintf(big + k, sizeof big - (size_t)k, "]}");
    check_refused(big, "more than a slot's context"); /* 40 >= the slot context of 32 */
    embed_request r;
    api_error err;
    CHECK_EQ_INT(parse("[1]", true, &r, &err), 400);
    CHECK_EQ_INT(parse("{\"input\":", true, &r, &err), 400);
}

/* Decodes standard base64 (enough for these tests). */
static size_t unbase64(const char *s, unsigned char *out) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        acc = acc << 6 | (uint32_t)(strchr(digits, *s) - digits);
        if ((bits += 6) >= 8) out[n++] = (unsigned char)(acc >> (bits -= 8));
    }
    return n;
}

TEST(replies) {
    embed_request r;
    api_error err;
    CHECK_EQ_INT(parse("{\"input\":[[1,2],[3]],\"model\":\"asked\"}", true, &r, &err), 0);
    float a[3] = {3, 4, 0}, b[3] = {0, 0, 2}, *vec[2] = {a, b};
    json_t *j = embed_reply(&r, "served", vec, BITNET_POOLING_MEAN, 3);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "object")), "list");
    CHECK_STR(json_string_value(json_object_get(j, "model")), "asked");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")), 3);
    json_t *d1 = json_array_get(json_object_get(j, "data"), 1), *e0 = json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding");
    CHECK_EQ_INT(json_integer_value(json_object_get(d1, "index")), 1);
    CHECK_STR(json_string_value(json_object_get(d1, "object")), "embedding");
    CHECK(fabs(json_real_value(json_array_get(e0, 0)) - 0.6) < 1e-6 && fabs(json_real_value(json_array_get(e0, 1)) - 0.8) < 1e-6);
    CHECK(json_real_value(json_array_get(json_object_get(d1, "embedding"), 2)) == 1.0);
    json_decref(j);
    embed_request_free(&r);
    /* base64: the little-endian float32 bytes */
    CHECK_EQ_INT(parse("{\"input\":[1,2],\"encoding_format\":\"base64\",\"embd_normalize\":-1}", true, &r, &err), 0);
    float c[3] = {1.5f, -2.25f, 1e-3f}, *vc[1] = {c}, back[4];
    j = embed_reply(&r, "served", vc, BITNET_POOLING_LAST, 3);
    const char *text = json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding"));
    CHECK(text && strlen(text) == 16);
    CHECK(text && unbase64(text, (unsigned char *)back) == 12 && !memcmp(back, c, sizeof c));
    CHECK_STR(json_string_value(json_object_get(j, "model")), "served");
    json_decref(j);
    embed_request_free(&r);
    /* llama-server's shape: pooled, one vector per input; none, one per token, unnormalized */
    CHECK_EQ_INT(parse("{\"content\":[[1,2],[3]]}", false, &r, &err), 0);
    float t[6] = {1, 0, 0, 0, 2, 0}, u[3] = {0, 0, 5}, *vt[2] = {t, u};
    j = embed_reply(&r, "served", vt, BITNET_POOLING_NONE, 3);
    CHECK(json_is_array(j) && json_array_size(j) == 2);
    json_t *rows0 = json_object_get(json_array_get(j, 0), "embedding");
    CHECK_EQ_INT(json_array_size(rows0), 2);
    CHECK(json_real_value(json_array_get(json_array_get(rows0, 1), 1)) == 2.0);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(j, 1), "index")), 1);
    json_decref(j);
    j = embed_reply(&r, "served", vt, BITNET_POOLING_CLS, 3);
    CHECK_EQ_INT(json_array_size(json_object_get(json_array_get(j, 0), "embedding")), 1);
    CHECK(json_real_value(json_array_get(json_array_get(json_object_get(json_array_get(j, 1), "embedding"), 0), 2)) == 1.0);
    json_decref(j);
    embed_request_free(&r);
}

static char g_path[512];

TEST_MAIN_BEGIN("test_server_embeddings")
{
    test_write_vocab_model("server_embeddings", g_path, sizeof g_path);
    if (bitnet_model_open(g_path, NULL, &g_model) != 0) {
        printf("not ok - test_server_embeddings/setup: %s\n", bitnet_get_last_error());
        return 1;
    }
    g_m = (request_model){.model = g_model, .n_vocab = 128256, .slot_ctx = 32};
}
RUN(inputs);
RUN(refusals);
RUN(replies);
bitnet_model_close(g_model);
unlink(g_path);
TEST_MAIN_END()
