/* test_convert: the JSON reader, the safetensors reader over memory, and the ternary
 * retyping helpers used by `bitnet convert` / `bitnet quantize` (src/formats/json.c,
 * src/formats/safetensors.c, src/convert/retype.c). */
#include <stdint.h>
#include <string.h>

#include "convert/hf_spm.h"
#include "convert/retype.h"
#include "formats/json.h"
#include "formats/safetensors.h"
#include "formats/types.h"
#include "test.h"
#include "util.h"

static bn_json *parse(const char *s) { return bn_json_parse(s, strlen(s), "t"); }

TEST(json_values) {
    bn_json *j = parse(" {\"a\": [1, -2.5e1, true, null, \"x\\u00e9\\ud83d\\ude00\\n\"], \"b\": {\"c\": 18446744073709551615}} ");
    CHECK(j && j->type == BN_JSON_OBJECT && j->n == 2);
    const bn_json *a = bn_json_get(j, "a");
    CHECK(a && a->type == BN_JSON_ARRAY && a->n == 5);
    if (a && a->n == 5) {
        CHECK(a->items[0].is_uint && a->items[0].u == 1);
        CHECK(a->items[1].num == -25.0 && !a->items[1].is_uint);
        CHECK(a->items[2].type == BN_JSON_BOOL && a->items[2].b);
        CHECK(a->items[3].type == BN_JSON_NULL);
        CHECK_STR(a->items[4].str, "x\xc3\xa9\xf0\x9f\x98\x80\n");
        CHECK_EQ_INT(a->items[4].str_len, 8);
    }
    const bn_json *c = bn_json_get(bn_json_get(j, "b"), "c");
    CHECK(c && c->is_uint && c->u == UINT64_MAX);
    int64_t i;
    CHECK(!bn_json_get_int(j, "a", 0, 10, &i));
    bn_json_free(j);
    j = parse("{\"n\": 18446744073709551616}");
    CHECK(j && !bn_json_get(j, "n")->is_uint); /* too big for u64: a double only */
    bn_json_free(j);
    /* JSON pointers (RFC 6901) */
    j = parse("{\"a\": [10, {\"x/y\": 1, \"m~n\": 2}], \"\": 3}");
    CHECK(j && bn_json_pointer(j, "") == j);
    CHECK(j && bn_json_pointer(j, "/a/0") && bn_json_pointer(j, "/a/0")->u == 10);
    CHECK(j && bn_json_pointer(j, "/a/1/x~1y") && bn_json_pointer(j, "/a/1/x~1y")->u == 1);
    CHECK(j && bn_json_pointer(j, "/a/1/m~0n") && bn_json_pointer(j, "/a/1/m~0n")->u == 2);
    CHECK(j && bn_json_pointer(j, "/") && bn_json_pointer(j, "/")->u == 3); /* the key "" */
    CHECK(j && !bn_json_pointer(j, "/a/2") && !bn_json_pointer(j, "/a/x") && !bn_json_pointer(j, "/b") && !bn_json_pointer(j, "a"));
    bn_json_free(j);
}

TEST(json_refusals) {
    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "1e", "-", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
                         "\"a\nb\"", "tru", "{} {}", "[1] x", "\"\\u12g4\"", "nul", "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bn_clear_error();
        bn_json *j = parse(bad[i]);
        CHECK_MSG(!j, "accepted '%s'", bad[i]);
        CHECK_MSG(strstr(bn_last_error_message(), "t: offset") != NULL, "message '%s'", bn_last_error_message());
        bn_json_free(j);
    }
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    CHECK(bn_json_parse(deep, 200, "t") == NULL);
    CHECK(strstr(bn_last_error_message(), "nesting") != NULL);
}

TEST(safetensors_memory) {
    const char hdr[] = "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                       "\"u\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[4,5]}}";
    uint8_t buf[8 + sizeof hdr - 1 + 5];
    uint64_t n = sizeof hdr - 1;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, hdr, n);
    uint16_t one = bn_f32_to_bf16(1.0f), mhalf = bn_f32_to_bf16(-0.5f);
    memcpy(buf + 8 + n, &one, 2);
    memcpy(buf + 8 + n + 2, &mhalf, 2);
    buf[8 + n + 4] = 7;
    st_file *f = st_open_memory(buf, sizeof buf, "mem");
    CHECK(f && f->n_tensors == 2);
    const st_tensor *w = st_find(f, "w"), *u = st_find(f, "u");
    CHECK(w && w->dtype == ST_BF16 && w->n_elements == 2 && st_get_f32(w, 0) == 1.0f && st_get_f32(w, 1) == -0.5f);
    CHECK(u && u->n_dims == 0 && u->n_elements == 1 && *(const uint8_t *)u->data == 7);
    st_close(f);
    CHECK(st_open_memory(buf, sizeof buf - 1, "mem") == NULL); /* data one byte short */
    CHECK(strstr(bn_last_error_message(), "mem: tensor 'u'") != NULL);
}

TEST(absmean_rule) {
    float w[8] = {0.9f, -0.1f, 0.3f, -1.2f, 0.0f, 0.25f, -0.26f, 2.0f};
    int8_t t[8];
    float beta = bn_absmean_ternarize(w, 8, t); /* mean |w| = 5.01 / 8 */
    CHECK_NEAR(beta, 5.01 / 8, 1e-6);
    const int8_t expect[8] = {1, 0, 0, -1, 0, 0, 0, 1}; /* |w|/beta >= 0.5 -> +-1 */
    CHECK(memcmp(t, expect, 8) == 0);
    float z[4] = {0, 0, 0, 0};
    CHECK(bn_absmean_ternarize(z, 4, t) == 1e-5f); /* clamped, all zero codes */
}

/* Codes + scale -> each ternary type -> codes + scale again. */
TEST(ternary_encode_decode) {
    enum { N = 512 };
    int8_t t[N], back[N];
    for (int i = 0; i < N; i++) t[i] = (int8_t)((i * 7 + i / 3) % 3 - 1);
    const uint32_t types[] = {BN_TYPE_I2_S, BN_TYPE_TQ2_0, BN_TYPE_TQ1_0};
    for (int k = 0; k < 3; k++) {
        for (int exact = 0; exact < 2; exact++) {
            float s = exact ? 0.0625f : 0.0123456f, s2 = 0;
            void *data = NULL;
            uint64_t bytes = 0;
            double err = -1;
            CHECK(bn_encode_ternary(t, N, s, types[k], &data, &bytes, &err) == 0);
            CHECK(bn_decode_ternary(data, types[k], N, "x", back, &s2) == 0);
            CHECK(memcmp(t, back, N) == 0);
            bool rounds = !exact && types[k] != BN_TYPE_I2_S;
            CHECK_MSG(rounds ? err > 0 && err < 1.0 / 2048 : err == 0, "type %u err %g", types[k], err);
            CHECK(rounds ? s2 == bn_f16_to_f32(bn_f32_to_f16(s)) : s2 == s);
            free(data);
        }
    }
    void *data = NULL;
    uint64_t bytes;
    CHECK(bn_encode_ternary(t, N, -1.0f, BN_TYPE_TQ2_0, &data, &bytes, NULL) != 0);
    CHECK(bn_encode_ternary(t, 300, 1.0f, BN_TYPE_TQ2_0, &data, &bytes, NULL) != 0); /* not whole blocks */
}

/* A TQ2_0 tensor whose blocks have different d has no single per-tensor scale: refused. */
TEST(decode_refuses_mixed_scales) {
    float v[512];
    for (int i = 0; i < 512; i++) v[i] = (i % 3 == 0) ? (i < 256 ? 0.5f : 0.25f) : 0.0f;
    uint8_t data[2 * 66];
    bn_type_get(BN_TYPE_TQ2_0)->quantize(v, 512, data);
    int8_t t[512];
    float s;
    CHECK(bn_decode_ternary(data, BN_TYPE_TQ2_0, 512, "blk.0.attn_q.weight", t, &s) == BITNET_ERR_UNSUPPORTED);
    CHECK(strstr(bn_last_error_message(), "blk.0.attn_q.weight: blocks have different scales") != NULL);
}

/* A hand-assembled tokenizer.model: trainer_spec {model_type 2, vocab_size 2, bos_id 1,
 * pad_id -1}, pieces "<s>" (score -1.5, CONTROL) and "\xe2\x96\x81a" (score 0, NORMAL by
 * default), normalizer_spec {add_dummy_prefix 0}. */
TEST(spm_protobuf) {
    static const uint8_t model[] = {
        0x12, 0x13, 0x18, 0x02, 0x20, 0x02, 0xc8, 0x02, 0x01,                       /* trainer: 3=2, 4=2, 41=1 */
        0xd8, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,     /* 43 = -1 */
        0x0a, 0x0c, 0x0a, 0x03, '<', 's', '>', 0x15, 0x00, 0x00, 0xc0, 0xbf, 0x18, 0x03,
        0x0a, 0x05, 0x0a, 0x03, 0xe2, 0x96, 0x81,
        0x1a, 0x02, 0x18, 0x00};
    spm_model m;
    CHECK(spm_parse(model, sizeof model, "m", &m) == 0);
    CHECK(m.n == 2 && m.model_type == 2 && m.vocab_size == 2 && m.bos_id == 1 && m.eos_id == 2 && m.pad_id == -1);
    CHECK(!m.add_dummy_prefix);
    if (m.n == 2) {
        CHECK(m.pieces[0].len == 3 && !memcmp(m.pieces[0].text, "<s>", 3) && m.pieces[0].score == -1.5f && m.pieces[0].type == 3);
        CHECK(m.pieces[1].len == 3 && m.pieces[1].type == 1 && m.pieces[1].score == 0.0f);
    }
    spm_free(&m);
    uint8_t bad[sizeof model];
    memcpy(bad, model, sizeof model);
    bad[3] = 1; /* unigram */
    CHECK(spm_parse(bad, sizeof bad, "m", &m) == BITNET_ERR_UNSUPPORTED);
    CHECK(spm_parse(model, sizeof model - 5, "m", &m) != 0); /* cut inside the last piece */
    CHECK(strstr(bn_last_error_message(), "m: offset") != NULL);
    const uint8_t group[] = {0x0b};
    CHECK(spm_parse(group, 1, "m", &m) != 0 && strstr(bn_last_error_message(), "wire type") != NULL);
}

TEST_MAIN_BEGIN("test_convert")
    RUN(json_values);
    RUN(json_refusals);
    RUN(safetensors_memory);
    RUN(absmean_rule);
    RUN(ternary_encode_decode);
    RUN(decode_refuses_mixed_scales);
    RUN(spm_protobuf);
TEST_MAIN_END()
