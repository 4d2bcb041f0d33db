/* Tests for src/formats/gguf.c: writer -> reader round trips of every value type, hand-built v2/v3
 * files, alignment, big string arrays, a catalogue of malformed files (each must fail with an
 * "offset" message and never crash or leak; the ASan build runs these), random corruption,
 * and the reference vocabulary GGUFs. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "test.h"
#include "formats/types.h"
#include "util.h"

/* ======================================================================= building files */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_u8(buf *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_key(buf *b, const char *key, uint32_t type) {
    put_str(b, key);
    put_u32(b, type);
}
static void pad_to(buf *b, size_t alignment) {
    while (b->n % alignment) put_u8(b, 0);
}
static void patch_u32(buf *b, size_t at, uint32_t v) { memcpy(b->p + at, &v, 4); }
static void patch_u64(buf *b, size_t at, uint64_t v) { memcpy(b->p + at, &v, 8); }

/* Field offsets of the small file below, for patching. */
typedef struct {
    size_t n_tensors, n_kv, arch_len, align_type, align_value, arr_b_key_last, arr_a_etype,
        arr_a_count, nested_inner_count, t0_name, t0_ndims, t0_ne0, t0_ne1, t0_type, t1_name,
        t1_type, t1_offset, data;
} small_layout;

/* A small valid GGUF: 5 keys (arch string, alignment u32, two u32 arrays, a nested array),
 * tensor "a" F32 [32, 2] at 0 and "b" F16 [16] at 256. The last tensor ends exactly at the
 * end of the file, so every truncation must fail. */
static buf small_file(uint32_t version, uint32_t alignment, const char *arch, small_layout *L) {
    buf b = {0};
    small_layout l;
    put(&b, "GGUF", 4);
    put_u32(&b, version);
    l.n_tensors = b.n;
    put_u64(&b, 2);
    l.n_kv = b.n;
    put_u64(&b, 5);
    put_key(&b, "general.architecture", GGUF_VT_STRING);
    l.arch_len = b.n;
    put_str(&b, arch);
    put_str(&b, "general.alignment");
    l.align_type = b.n;
    put_u32(&b, GGUF_VT_UINT32);
    l.align_value = b.n;
    put_u32(&b, alignment);
    put_key(&b, "test.arr_a", GGUF_VT_ARRAY);
    l.arr_a_etype = b.n;
    put_u32(&b, GGUF_VT_UINT32);
    l.arr_a_count = b.n;
    put_u64(&b, 3);
    for (uint32_t i = 1; i <= 3; i++) put_u32(&b, i);
    put_u64(&b, strlen("test.arr_b"));
    put(&b, "test.arr_b", strlen("test.arr_b"));
    l.arr_b_key_last = b.n - 1;
    put_u32(&b, GGUF_VT_ARRAY);
    put_u32(&b, GGUF_VT_UINT32);
    put_u64(&b, 0);
    put_key(&b, "test.nested", GGUF_VT_ARRAY);
    put_u32(&b, GGUF_VT_ARRAY);
    put_u64(&b, 2);
    put_u32(&b, GGUF_VT_UINT8); /* [1, 2] */
    l.nested_inner_count = b.n;
    put_u64(&b, 2);
    put_u8(&b, 1);
    put_u8(&b, 2);
    put_u32(&b, GGUF_VT_STRING); /* ["x"] */
    put_u64(&b, 1);
    put_str(&b, "x");

    l.t0_name = b.n + 8;
    put_str(&b, "a");
    l.t0_ndims = b.n;
    put_u32(&b, 2);
    l.t0_ne0 = b.n;
    put_u64(&b, 32);
    l.t0_ne1 = b.n;
    put_u64(&b, 2);
    l.t0_type = b.n;
    put_u32(&b, BN_TYPE_F32);
    put_u64(&b, 0);
    l.t1_name = b.n + 8;
    put_str(&b, "b");
    put_u32(&b, 1);
    put_u64(&b, 16);
    l.t1_type = b.n;
    put_u32(&b, BN_TYPE_F16);
    l.t1_offset = b.n;
    put_u64(&b, 256);
    pad_to(&b, alignment);
    l.data = b.n;
    for (int i = 0; i < 64; i++) {
        float v = (float)i * 0.5f;
        put(&b, &v, 4);
    }
    for (int i = 0; i < 16; i++) { /* tensor b: 16 halves, 32 bytes, ending the file */
        uint16_t h = bn_f32_to_f16((float)-i);
        put(&b, &h, 2);
    }
    if (L) *L = l;
    return b;
}

/* Opens a malloc'd exact-size copy (so ASan sees any over-read). */
static gguf_file *open_copy(const void *p, size_t n) {
    void *copy = malloc(n ? n : 1);
    memcpy(copy, p, n);
    gguf_file *f = gguf_open_memory(copy, n, "t.gguf");
    if (!f) free(copy);
    return f;
}

static void close_copy(gguf_file *f) {
    if (!f) return;
    void *base = (void *)f->base;
    gguf_close(f);
    free(base);
}

static char tmp_dir[512];

static const char *tmp_path(const char *name) {
    static char path[1024];
    if (!tmp_dir[0]) {
        const char *env = getenv("BITNET_TEST_TMP");
        if (env && *env) snprintf(tmp_dir, sizeof tmp_dir, "%s", env);
        else {
            snprintf(tmp_dir, sizeof tmp_dir, "/tmp/test_gguf_XXXXXX");
            if (!mkdtemp(tmp_dir)) snprintf(tmp_dir, sizeof tmp_dir, "/tmp");
        }
    }
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    return path;
}

/* ======================================================================= valid files */

TEST(small_v3_and_v2) {
    for (uint32_t version = 2; version <= 3; version++) {
        buf b = small_file(version, 32, "llama", NULL);
        gguf_file *f = open_copy(b.p, b.n);
        CHECK_MSG(f != NULL, "v%u: %s", version, bn_last_error_message());
        if (f) {
            CHECK_EQ_INT(f->version, version);
            CHECK_EQ_INT(f->n_kv, 5);
            CHECK_EQ_INT(f->n_tensors, 2);
            CHECK_EQ_INT(f->alignment, 32);
            char arch[16];
            CHECK(gguf_get_str_buf(f, "general.architecture", arch, sizeof arch));
            CHECK_STR(arch, "llama");
            const gguf_kv *arr = gguf_find_kv(f, "test.arr_a");
            CHECK(arr && arr->arr_n == 3 && gguf_arr_int(arr, 2) == 3);
            const gguf_kv *nested = gguf_find_kv(f, "test.nested");
            CHECK(nested && nested->arr_type == GGUF_VT_ARRAY && nested->arr_n == 2);
            CHECK(nested && nested->arr_bytes == (4 + 8 + 2) + (4 + 8 + 8 + 1));
            CHECK(nested && gguf_arr_int(nested, 0) == 0 && gguf_arr_str(nested, 0, NULL, f) == NULL);
            const gguf_tensor *a = gguf_find_tensor(f, "a"), *t = gguf_find_tensor(f, "b");
            CHECK(a && a->n_dims == 2 && a->ne[0] == 32 && a->ne[1] == 2 && a->ne[2] == 1 && a->ne[3] == 1);
            CHECK(a && a->n_elements == 64 && a->n_bytes == 256 && a->type == BN_TYPE_F32);
            CHECK(a && (const uint8_t *)a->data == f->base + f->data_offset);
            if (a) {
                float v;
                memcpy(&v, (const uint8_t *)a->data + 4 * 63, 4);
                CHECK(v == 31.5f);
            }
            CHECK(t && t->n_bytes == 32 && t->offset == 256 && t->info_offset > 0);
            if (t) {
                uint16_t h;
                memcpy(&h, (const uint8_t *)t->data + 2 * 15, 2);
                CHECK(bn_f16_to_f32(h) == -15.0f);
            }
            CHECK(gguf_find_tensor(f, "c") == NULL && gguf_find_kv(f, "nope") == NULL);
        }
        close_copy(f);
        free(b.p);
    }
}

TEST(alignment_64_hand_built) {
    small_layout L;
    buf b = small_file(3, 64, "llama", &L);
    gguf_file *f = open_copy(b.p, b.n);
    CHECK_MSG(f != NULL, "%s", bn_last_error_message());
    if (f) {
        CHECK_EQ_INT(f->alignment, 64);
        CHECK_EQ_INT(f->data_offset, L.data);
        CHECK_EQ_INT(f->data_offset % 64, 0);
    }
    close_copy(f);
    /* offset 32 is fine at alignment 32 but not at 64 */
    patch_u64(&b, L.t1_offset, 288);
    f = open_copy(b.p, b.n);
    CHECK(f == NULL && strstr(bn_last_error_message(), "alignment 64"));
    close_copy(f);
    free(b.p);
}

/* Reads back a writer-made file with every value type: the 9 setters directly, and the
 * other types (and nested arrays) through gguf_writer_copy_kv from a hand-built file. */
TEST(writer_round_trip_every_type) {
    buf src = {0};
    put(&src, "GGUF", 4);
    put_u32(&src, 3);
    put_u64(&src, 0);
    put_u64(&src, 9);
    put_key(&src, "s.u8", GGUF_VT_UINT8); put_u8(&src, 200);
    put_key(&src, "s.i8", GGUF_VT_INT8); put_u8(&src, (uint8_t)-100);
    put_key(&src, "s.u16", GGUF_VT_UINT16); { uint16_t v = 60000; put(&src, &v, 2); }
    put_key(&src, "s.i16", GGUF_VT_INT16); { int16_t v = -30000; put(&src, &v, 2); }
    put_key(&src, "s.i64", GGUF_VT_INT64); { int64_t v = INT64_MIN + 5; put(&src, &v, 8); }
    put_key(&src, "s.f64", GGUF_VT_FLOAT64); { double v = -1.0 / 3.0; put(&src, &v, 8); }
    put_key(&src, "s.arr_bool", GGUF_VT_ARRAY); put_u32(&src, GGUF_VT_BOOL); put_u64(&src, 3);
    put_u8(&src, 1); put_u8(&src, 0); put_u8(&src, 1);
    put_key(&src, "s.arr_u64", GGUF_VT_ARRAY); put_u32(&src, GGUF_VT_UINT64); put_u64(&src, 2);
    put_u64(&src, UINT64_MAX); put_u64(&src, 7);
    put_key(&src, "s.nested", GGUF_VT_ARRAY); put_u32(&src, GGUF_VT_ARRAY); put_u64(&src, 2);
    put_u32(&src, GGUF_VT_STRING); put_u64(&src, 2); put_str(&src, "p"); put_str(&src, "qr");
    put_u32(&src, GGUF_VT_ARRAY); put_u64(&src, 1); put_u32(&src, GGUF_VT_INT16); put_u64(&src, 1);
    { int16_t v = -7; put(&src, &v, 2); }
    gguf_file *sf = open_copy(src.p, src.n);
    CHECK_MSG(sf != NULL, "%s", bn_last_error_message());
    if (!sf) { free(src.p); return; }

    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < sf->n_kv; i++) CHECK_EQ_INT(gguf_writer_copy_kv(w, sf, &sf->kv[i]), 0);
    CHECK_EQ_INT(gguf_writer_set_u32(w, "w.u32", 4000000000u), 0);
    CHECK_EQ_INT(gguf_writer_set_i32(w, "w.i32", -5), 0);
    CHECK_EQ_INT(gguf_writer_set_u64(w, "w.u64", UINT64_C(1) << 40), 0);
    CHECK_EQ_INT(gguf_writer_set_f32(w, "w.f32", 0.1f), 0);
    CHECK_EQ_INT(gguf_writer_set_bool(w, "w.bool", true), 0);
    CHECK_EQ_INT(gguf_writer_set_str(w, "w.str", "first"), 0);
    CHECK_EQ_INT(gguf_writer_set_str(w, "w.str", "h\xc3\xa9llo"), 0); /* replaces */
    const char *strs[] = {"", "a", "<|begin_of_text|>"};
    CHECK_EQ_INT(gguf_writer_set_arr_str(w, "w.arr_str", strs, 3), 0);
    const float fs[] = {1.5f, -2.25f};
    CHECK_EQ_INT(gguf_writer_set_arr_f32(w, "w.arr_f32", fs, 2), 0);
    const int32_t is[] = {-1, 0, INT32_MAX, INT32_MIN};
    CHECK_EQ_INT(gguf_writer_set_arr_i32(w, "w.arr_i32", is, 4), 0);
    CHECK_EQ_INT(gguf_writer_set_arr_i32(w, "w.empty", NULL, 0), 0);

    float f32[64];
    uint16_t f16[64];
    for (int i = 0; i < 64; i++) {
        f32[i] = (float)i - 10.0f;
        f16[i] = bn_f32_to_f16((float)i);
    }
    uint8_t q8[2 * 34];
    bn_type_get(BN_TYPE_Q8_0)->quantize(f32, 64, q8);
    uint64_t ne2[2] = {32, 2}, ne1[1] = {64};
    CHECK_EQ_INT(gguf_writer_add_tensor(w, "t.f32", 2, ne2, BN_TYPE_F32, f32, sizeof f32, true), 0);
    CHECK_EQ_INT(gguf_writer_add_tensor(w, "t.f16", 1, ne1, BN_TYPE_F16, f16, sizeof f16, false), 0);
    CHECK_EQ_INT(gguf_writer_add_tensor(w, "t.q8", 1, ne1, BN_TYPE_Q8_0, q8, sizeof q8, true), 0);
    f32[0] = 99.0f; /* copied: must not change the file */
    const char *path = tmp_path("round_trip.gguf");
    CHECK_EQ_INT(gguf_writer_write(w, path), 0);
    gguf_writer_free(w);
    close_copy(sf);
    free(src.p);

    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0); /* renamed away */

    gguf_file *f = gguf_open(path);
    CHECK_MSG(f != NULL, "%s", bn_last_error_message());
    if (!f) return;
    CHECK_EQ_INT(f->version, 3);
    CHECK_EQ_INT(f->n_kv, 9 + 10); /* copied + set (w.str twice) */
    int64_t iv;
    double dv;
    bool bv;
    CHECK(gguf_get_int(f, "s.u8", &iv) && iv == 200);
    CHECK(gguf_get_int(f, "s.i8", &iv) && iv == -100);
    CHECK(gguf_get_int(f, "s.u16", &iv) && iv == 60000);
    CHECK(gguf_get_int(f, "s.i16", &iv) && iv == -30000);
    CHECK(gguf_get_int(f, "s.i64", &iv) && iv == INT64_MIN + 5);
    CHECK(gguf_get_float(f, "s.f64", &dv) && dv == -1.0 / 3.0);
    CHECK(gguf_get_int(f, "w.u32", &iv) && iv == 4000000000LL);
    CHECK(gguf_get_int(f, "w.i32", &iv) && iv == -5);
    CHECK(gguf_get_int(f, "w.u64", &iv) && iv == (INT64_C(1) << 40));
    CHECK(gguf_get_float(f, "w.f32", &dv) && dv == (double)0.1f);
    CHECK(gguf_get_float(f, "w.i32", &dv) && dv == -5.0);
    CHECK(gguf_get_bool(f, "w.bool", &bv) && bv);
    CHECK(!gguf_get_bool(f, "w.u32", &bv));
    CHECK(!gguf_get_int(f, "w.f32", &iv));
    CHECK(!gguf_get_float(f, "w.str", &dv));
    const gguf_kv *kv = gguf_find_kv(f, "w.u32");
    CHECK(kv && kv->type == GGUF_VT_UINT32 && kv->u64 == 4000000000u && kv->f64 == 4e9);
    kv = gguf_find_kv(f, "s.i8");
    CHECK(kv && kv->type == GGUF_VT_INT8 && kv->i64 == -100 && kv->f64 == -100.0);
    CHECK(gguf_find_kv(f, "w.f32")->type == GGUF_VT_FLOAT32);
    const char *s;
    uint64_t len;
    CHECK(gguf_get_str(f, "w.str", &s, &len) && len == 6 && memcmp(s, "h\xc3\xa9llo", 6) == 0);
    char small[4];
    CHECK(gguf_get_str_buf(f, "w.str", small, sizeof small) && strcmp(small, "h\xc3\xa9") == 0);
    CHECK(!gguf_get_str_buf(f, "w.u32", small, sizeof small));

    kv = gguf_find_kv(f, "w.arr_str");
    CHECK(kv && kv->type == GGUF_VT_ARRAY && kv->arr_type == GGUF_VT_STRING && kv->arr_n == 3);
    for (uint64_t i = 0; kv && i < 3; i++) {
        s = gguf_arr_str(kv, i, &len, f);
        CHECK(s && len == strlen(strs[i]) && memcmp(s, strs[i], len) == 0);
    }
    CHECK(gguf_arr_str(kv, 3, &len, f) == NULL);
    kv = gguf_find_kv(f, "w.arr_f32");
    CHECK(kv && gguf_arr_f32(kv, 0) == 1.5f && gguf_arr_f32(kv, 1) == -2.25f && gguf_arr_f32(kv, 2) == 0.0f);
    CHECK(gguf_arr_int(kv, 0) == 0); /* not an integer array */
    kv = gguf_find_kv(f, "w.arr_i32");
    for (int i = 0; kv && i < 4; i++) CHECK(gguf_arr_int(kv, (uint64_t)i) == is[i]);
    CHECK(gguf_arr_f32(kv, 0) == 0.0f);
    kv = gguf_find_kv(f, "w.empty");
    CHECK(kv && kv->arr_n == 0 && kv->arr_bytes == 0);
    kv = gguf_find_kv(f, "s.arr_bool");
    CHECK(kv && kv->arr_type == GGUF_VT_BOOL && gguf_arr_int(kv, 0) == 1 && gguf_arr_int(kv, 1) == 0);
    kv = gguf_find_kv(f, "s.arr_u64");
    CHECK(kv && gguf_arr_int(kv, 0) == 0 && gguf_arr_int(kv, 1) == 7); /* UINT64_MAX: no int64 */
    kv = gguf_find_kv(f, "s.nested");
    CHECK(kv && kv->arr_type == GGUF_VT_ARRAY && kv->arr_n == 2);
    /* [["p","qr"], [[-7]]]: raw bytes of both elements */
    CHECK(kv && kv->arr_bytes == (4 + 8 + 9 + 10) + (4 + 8 + 4 + 8 + 2));

    const gguf_tensor *t = gguf_find_tensor(f, "t.f32");
    CHECK(t && t->type == BN_TYPE_F32 && t->n_dims == 2 && t->ne[1] == 2 && t->n_bytes == 256);
    CHECK(t && ((const float *)t->data)[0] == -10.0f && ((const float *)t->data)[63] == 53.0f);
    t = gguf_find_tensor(f, "t.f16");
    CHECK(t && t->offset == 256 && memcmp(t->data, f16, sizeof f16) == 0);
    t = gguf_find_tensor(f, "t.q8");
    CHECK(t && t->offset == 384 && t->n_bytes == 68 && memcmp(t->data, q8, sizeof q8) == 0);
    CHECK_EQ_INT(f->data_offset % 32, 0);
    CHECK_EQ_INT(f->size, f->data_offset + 384 + 96); /* 68 bytes padded to 96 */
    /* padding bytes are zeros */
    int nonzero = 0;
    for (uint64_t i = f->data_offset + 384 + 68; i < f->size; i++) nonzero += f->base[i] != 0;
    CHECK_EQ_INT(nonzero, 0);
    gguf_close(f);
}

TEST(writer_alignment_and_i2_s) {
    gguf_writer *w = gguf_writer_new();
    CHECK_EQ_INT(gguf_writer_set_str(w, "general.architecture", "bitnet-b1.58"), 0);
    CHECK_EQ_INT(gguf_writer_set_u32(w, "general.alignment", 64), 0);
    float x[256];
    for (int i = 0; i < 256; i++) x[i] = (float)(i % 3 - 1) * 0.5f;
    uint8_t i2s[256 / 4 + 32];
    bn_type_get(BN_TYPE_I2_S)->quantize(x, 256, i2s);
    uint64_t ne[2] = {128, 2}, ne1[1] = {3};
    CHECK_EQ_INT(gguf_writer_add_tensor(w, "w", 2, ne, BN_TYPE_I2_S, i2s, sizeof i2s, false), 0);
    CHECK_EQ_INT(gguf_writer_add_tensor(w, "n", 1, ne1, BN_TYPE_F32, x, 12, false), 0);
    const char *path = tmp_path("aligned.gguf");
    CHECK_EQ_INT(gguf_writer_write(w, path), 0);
    gguf_writer_free(w);
    gguf_file *f = gguf_open(path);
    CHECK_MSG(f != NULL, "%s", bn_last_error_message());
    if (!f) return;
    CHECK_EQ_INT(f->alignment, 64);
    CHECK_EQ_INT(f->data_offset % 64, 0);
    const gguf_tensor *t = gguf_find_tensor(f, "w");
    CHECK(t && t->type == BN_TYPE_I2_S && t->n_bytes == 96 && memcmp(t->data, i2s, 96) == 0);
    t = gguf_find_tensor(f, "n");
    CHECK(t && t->offset == 128 && t->n_bytes == 12);
    CHECK_EQ_INT(f->size, f->data_offset + 192);
    if (t) {
        float y[256];
        bn_type_get(BN_TYPE_I2_S)->dequantize(gguf_find_tensor(f, "w")->data, 256, 0, 256, y);
        CHECK(memcmp(x, y, sizeof y) == 0);
    }
    gguf_close(f);
}

TEST(writer_refuses_bad_input) {
    gguf_writer *w = gguf_writer_new();
    float x[64] = {0};
    uint64_t ne[2] = {64, 1}, zero[1] = {0}, big[2] = {UINT64_C(1) << 32, UINT64_C(1) << 32};
    CHECK(gguf_writer_add_tensor(w, "a", 1, ne, BN_TYPE_F32, x, 100, false) < 0); /* wrong size */
    CHECK(strstr(bn_last_error_message(), "256") != NULL);
    CHECK(gguf_writer_add_tensor(w, "a", 0, ne, BN_TYPE_F32, x, 256, false) < 0);
    CHECK(gguf_writer_add_tensor(w, "a", 5, ne, BN_TYPE_F32, x, 256, false) < 0);
    CHECK(gguf_writer_add_tensor(w, "a", 1, zero, BN_TYPE_F32, x, 0, false) < 0);
    CHECK(gguf_writer_add_tensor(w, "a", 2, big, BN_TYPE_F32, x, 256, false) < 0);
    CHECK(gguf_writer_add_tensor(w, "a", 1, ne, 77, x, 256, false) < 0);
    char long_name[80];
    memset(long_name, 'n', 64);
    long_name[64] = '\0';
    CHECK(gguf_writer_add_tensor(w, long_name, 1, ne, BN_TYPE_F32, x, 256, false) < 0);
    long_name[63] = '\0';
    CHECK(gguf_writer_add_tensor(w, long_name, 1, ne, BN_TYPE_F32, x, 256, false) == 0);
    CHECK(gguf_writer_add_tensor(w, "a", 1, ne, BN_TYPE_Q8_0, x, 68, false) == 0);
    CHECK(gguf_writer_add_tensor(w, "a", 1, ne, BN_TYPE_Q8_0, x, 68, false) < 0); /* twice */
    CHECK(strstr(bn_last_error_message(), "twice") != NULL);
    CHECK(gguf_writer_set_str(w, "k", NULL) < 0);
    CHECK(gguf_writer_set_u32(w, NULL, 1) < 0);
    CHECK_EQ_INT(gguf_writer_set_u32(w, "general.alignment", 48), 0);
    const char *path = tmp_path("bad_alignment.gguf");
    CHECK(gguf_writer_write(w, path) < 0);
    CHECK(access(path, F_OK) != 0);
    CHECK_EQ_INT(gguf_writer_set_u32(w, "general.alignment", 16), 0);
    CHECK(gguf_writer_write(w, "/nonexistent-dir/x.gguf") == BITNET_ERR_IO);
    CHECK_EQ_INT(gguf_writer_write(w, path), 0);
    gguf_writer_free(w);
    gguf_writer_free(NULL);
    gguf_file *f = gguf_open(path);
    CHECK(f && f->alignment == 16);
    gguf_close(f);
    /* copy_kv refuses a kv of another file */
    gguf_kv stray = {0};
    w = gguf_writer_new();
    buf b = small_file(3, 32, "llama", NULL);
    f = open_copy(b.p, b.n);
    CHECK(f && gguf_writer_copy_kv(w, f, &stray) < 0);
    gguf_writer_free(w);
    close_copy(f);
    free(b.p);
}

TEST(vocab_sized_string_array) {
    const uint64_t n = 100000;
    char **strs = malloc(n * sizeof *strs);
    for (uint64_t i = 0; i < n; i++) {
        strs[i] = malloc(24);
        snprintf(strs[i], 24, "tok%llu", (unsigned long long)i * 7);
    }
    gguf_writer *w = gguf_writer_new();
    CHECK_EQ_INT(gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)strs, n), 0);
    const char *path = tmp_path("vocab.gguf");
    CHECK_EQ_INT(gguf_writer_write(w, path), 0);
    gguf_writer_free(w);
    double t0 = bn_time_now();
    gguf_file *f = gguf_open(path);
    double ms = (bn_time_now() - t0) * 1e3;
    CHECK_MSG(f != NULL, "%s", bn_last_error_message());
    printf("# opened a 100k-string GGUF in %.2f ms\n", ms);
    const gguf_kv *kv = f ? gguf_find_kv(f, "tokenizer.ggml.tokens") : NULL;
    CHECK(kv && kv->arr_n == n);
    int bad = 0;
    for (uint64_t i = 0; kv && i < n; i += 997) {
        uint64_t len;
        const char *s = gguf_arr_str(kv, i, &len, f);
        bad += !s || len != strlen(strs[i]) || memcmp(s, strs[i], len) != 0;
    }
    uint64_t len;
    const char *last = kv ? gguf_arr_str(kv, n - 1, &len, f) : NULL;
    CHECK(last && len == strlen(strs[n - 1]) && memcmp(last, strs[n - 1], len) == 0);
    CHECK_EQ_INT(bad, 0);
    gguf_close(f);
    for (uint64_t i = 0; i < n; i++) free(strs[i]);
    free(strs);
}

TEST(i2_s_only_for_bitnet_architectures) {
    /* llama: bitnet.cpp's ternary Llama-3 / Falcon3 files; qwen2 stands for any other */
    static const char *const ok_archs[] = {"bitnet-b1.58", "bitnet-25", "bitnet", "llama"};
    for (int a = 0; a < 5; a++) {
        small_layout L;
        buf b = small_file(3, 32, a < 4 ? ok_archs[a] : "qwen2", &L);
        /* tensor a: F32 [32, 2] at 0 becomes I2_S [128, 2]: 64 + 32 bytes, inside its slot */
        patch_u64(&b, L.t0_ne0, 128);
        patch_u64(&b, L.t0_ne1, 2);
        patch_u32(&b, L.t0_type, BN_TYPE_I2_S);
        gguf_file *f = open_copy(b.p, b.n);
        if (a < 4) {
            CHECK_MSG(f != NULL, "%s: %s", ok_archs[a], bn_last_error_message());
            const gguf_tensor *t = f ? gguf_find_tensor(f, "a") : NULL;
            CHECK(t && t->n_bytes == 96 && t->n_elements == 256);
        } else {
            CHECK(f == NULL);
            CHECK(strstr(bn_last_error_message(), "type id 36 which is I2_S only") != NULL);
            CHECK(strstr(bn_last_error_message(), "tensor 'a'") != NULL);
        }
        close_copy(f);
        free(b.p);
    }
}

/* ======================================================================= malformed files */

static int expect_failure(const buf *b, const char *want, const char *label) {
    gguf_file *f = open_copy(b->p, b->n);
    const char *msg = bn_last_error_message();
    int good = f == NULL && strstr(msg, "offset ") != NULL && strstr(msg, "t.gguf: ") == msg &&
               (!want || strstr(msg, want) != NULL) && bn_last_error_status() != 0;
    if (getenv("GGUF_TEST_VERBOSE")) fprintf(stderr, "  case %s: %s\n", label, msg);
    if (!good)
        fprintf(stderr, "  case %s: %s (message: \"%s\", wanted \"%s\")\n", label,
                f ? "opened" : "wrong message", msg, want ? want : "");
    close_copy(f);
    return good;
}

typedef enum { P_U32, P_U64, P_U8 } patch_kind;

TEST(malformed_catalogue) {
    small_layout L;
    buf base = small_file(3, 32, "qwen2", &L); /* an architecture where id 36 is not I2_S */
    struct {
        const char *label;
        size_t at;
        patch_kind kind;
        uint64_t value;
        const char *want;
    } cases[] = {
        {"bad magic", 0, P_U8, 'X', "not a GGUF file"},
        {"version 1", 4, P_U32, 1, "version 1 is obsolete"},
        {"version 99", 4, P_U32, 99, "unsupported GGUF version 99"},
        {"big-endian", 4, P_U32, 0x03000000, "big-endian"},
        {"huge key count", L.n_kv, P_U64, UINT64_C(1) << 60, "key/value pairs"},
        {"huge tensor count", L.n_tensors, P_U64, UINT64_C(1) << 60, "tensors"},
        {"huge key length", 24, P_U64, UINT64_C(1) << 60, "key has length"},
        {"huge string length", L.arch_len, P_U64, UINT64_MAX, "string value has length"},
        {"unknown value type", L.align_type, P_U32, 13, "value type 13 is unknown"},
        {"alignment type", L.align_type, P_U32, GGUF_VT_INT32, "expected u32"},
        {"alignment 0", L.align_value, P_U32, 0, "not a nonzero power of two"},
        {"alignment 48", L.align_value, P_U32, 48, "not a nonzero power of two"},
        {"unknown element type", L.arr_a_etype, P_U32, 13, "array element type 13"},
        {"huge array count", L.arr_a_count, P_U64, UINT64_C(1) << 60, "array of"},
        {"array bytes overflow", L.arr_a_count, P_U64, UINT64_C(1) << 63, "array of"},
        {"huge nested count", L.nested_inner_count, P_U64, UINT64_C(1) << 61, "array of"},
        {"duplicate key", L.arr_b_key_last, P_U8, 'a', "duplicate key 'test.arr_a'"},
        {"NUL in key", L.arr_b_key_last, P_U8, 0, "NUL"},
        {"n_dims 0", L.t0_ndims, P_U32, 0, "has 0 dimensions"},
        {"n_dims 5", L.t0_ndims, P_U32, 5, "has 5 dimensions"},
        {"dimension 0", L.t0_ne1, P_U64, 0, "dimension 1 is 0"},
        {"dims overflow", L.t0_ne0, P_U64, UINT64_C(1) << 62, "overflow"}, /* 2^62 * 2 > INT64_MAX */
        {"unknown tensor type", L.t0_type, P_U32, 99, "unknown tensor type id 99"},
        {"I2_S outside bitnet", L.t0_type, P_U32, 36, "I2_S only in Microsoft's BitNet fork"},
        {"not a block multiple", L.t1_type, P_U32, BN_TYPE_Q8_0, "not a multiple of the q8_0 block size"},
        {"misaligned offset", L.t1_offset, P_U64, 264, "not a multiple of the alignment"},
        {"overlapping tensors", L.t1_offset, P_U64, 224, "overlaps tensor 'a'"},
        {"data past end", L.t1_offset, P_U64, 288, "extends past end of file"},
        {"offset overflow", L.t1_offset, P_U64, UINT64_MAX - 31, "overflows"},
        {"duplicate tensor name", L.t1_name, P_U8, 'a', "duplicate tensor name 'a'"},
        {"huge tensor name", L.t1_name - 8, P_U64, UINT64_C(1) << 60, "tensor name has length"},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf b = {0};
        put(&b, base.p, base.n);
        if (cases[i].kind == P_U8) b.p[cases[i].at] = (uint8_t)cases[i].value;
        else if (cases[i].kind == P_U32) patch_u32(&b, cases[i].at, (uint32_t)cases[i].value);
        else patch_u64(&b, cases[i].at, cases[i].value);
        failed += !expect_failure(&b, cases[i].want, cases[i].label);
        free(b.p);
    }
    CHECK_EQ_INT(failed, 0);
    /* tensor a as Q8_0 [16, 4]: 64 elements (two blocks) but rows of half a block */
    buf rows = {0};
    put(&rows, base.p, base.n);
    patch_u32(&rows, L.t0_type, BN_TYPE_Q8_0);
    patch_u64(&rows, L.t0_ne0, 16);
    patch_u64(&rows, L.t0_ne1, 4);
    CHECK(expect_failure(&rows, "row of 16 elements (ne[0]) is not a multiple of the q8_0 block size 32", "rows"));
    patch_u64(&rows, L.t0_ne0, 32); /* [32, 2]: valid */
    patch_u64(&rows, L.t0_ne1, 2);
    gguf_file *ok_rows = open_copy(rows.p, rows.n);
    CHECK_MSG(ok_rows != NULL, "%s", bn_last_error_message());
    close_copy(ok_rows);
    free(rows.p);
    /* the example message shape from the contract */
    buf b = {0};
    put(&b, base.p, base.n);
    patch_u64(&b, L.t1_offset, 288);
    gguf_file *f = open_copy(b.p, b.n);
    CHECK(f == NULL);
    char want[200];
    snprintf(want, sizeof want, "t.gguf: offset %zu: tensor 'b': data [%zu, %zu) extends past end of file (%zu bytes)",
             L.t1_name - 8, L.data + 288, L.data + 320, base.n);
    CHECK_STR(bn_last_error_message(), want);
    CHECK_EQ_INT(bn_last_error_status(), BITNET_ERR_LOAD_FAILED);
    close_copy(f);
    free(b.p);
    free(base.p);
}

TEST(truncated_at_every_byte) {
    buf base = small_file(3, 32, "llama", NULL);
    int opened = 0, bad_msg = 0;
    for (size_t n = 0; n < base.n; n++) {
        gguf_file *f = open_copy(base.p, n);
        opened += f != NULL;
        bad_msg += f == NULL && strstr(bn_last_error_message(), "offset ") == NULL;
        close_copy(f);
    }
    CHECK_EQ_INT(opened, 0);
    CHECK_EQ_INT(bad_msg, 0);
    gguf_file *f = open_copy(base.p, base.n);
    CHECK(f != NULL);
    close_copy(f);
    CHECK(gguf_open_memory(NULL, 0, "empty") == NULL && strstr(bn_last_error_message(), "offset 0"));
    free(base.p);
}

/* Arrays nested `levels` deep: [[[...[u8 7]...]]]. */
static buf nested_file(int levels) {
    buf b = {0};
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0);
    put_u64(&b, 1);
    put_key(&b, "deep", GGUF_VT_ARRAY);
    for (int i = 1; i < levels; i++) {
        put_u32(&b, GGUF_VT_ARRAY);
        put_u64(&b, 1);
    }
    put_u32(&b, GGUF_VT_UINT8);
    put_u64(&b, 1);
    put_u8(&b, 7);
    return b;
}

TEST(nesting_depth) {
    buf ok8 = nested_file(8), bad9 = nested_file(9), bad100 = nested_file(100);
    gguf_file *f = open_copy(ok8.p, ok8.n);
    CHECK_MSG(f != NULL, "%s", bn_last_error_message());
    close_copy(f);
    CHECK(expect_failure(&bad9, "nested deeper than 8", "9 levels"));
    CHECK(expect_failure(&bad100, "nested deeper than 8", "100 levels"));
    free(ok8.p);
    free(bad9.p);
    free(bad100.p);
}

/* Random byte corruption: whatever happens, no crash, no leak, and an opened file's pointers
 * stay inside it. */
TEST(random_corruption) {
    buf base = small_file(3, 32, "llama", NULL);
    uint64_t state = 12345;
    int opened = 0, out_of_bounds = 0;
    for (int iter = 0; iter < 3000; iter++) {
        buf b = {0};
        put(&b, base.p, base.n);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            b.p[(state >> 33) % b.n] = (uint8_t)(state >> 20);
        }
        gguf_file *f = open_copy(b.p, b.n);
        if (f) {
            opened++;
            for (uint64_t i = 0; i < f->n_tensors; i++) {
                const gguf_tensor *t = &f->tensors[i];
                const uint8_t *d = t->data;
                out_of_bounds += d < f->base || d + t->n_bytes > f->base + f->size;
            }
            for (uint64_t i = 0; i < f->n_kv; i++) {
                const gguf_kv *kv = &f->kv[i];
                for (uint64_t j = 0; kv->type == GGUF_VT_ARRAY && j < kv->arr_n; j++) {
                    uint64_t len = 0;
                    const char *s = gguf_arr_str(kv, j, &len, f);
                    if (s) out_of_bounds += (const uint8_t *)s + len > f->base + f->size;
                    (void)gguf_arr_int(kv, j);
                }
            }
        } else {
            out_of_bounds += strstr(bn_last_error_message(), "offset ") == NULL;
        }
        close_copy(f);
        free(b.p);
    }
    printf("# %d of 3000 corrupted files still valid\n", opened);
    CHECK_EQ_INT(out_of_bounds, 0);
    free(base.p);
}

TEST(open_errors) {
    CHECK(gguf_open("/nonexistent/model.gguf") == NULL);
    CHECK(strstr(bn_last_error_message(), "/nonexistent/model.gguf: cannot open") != NULL);
    CHECK(gguf_open("/") == NULL && strstr(bn_last_error_message(), "not a regular file"));
    const char *empty = tmp_path("empty.gguf");
    FILE *fp = fopen(empty, "wb");
    if (fp) fclose(fp);
    CHECK(gguf_open(empty) == NULL && strstr(bn_last_error_message(), "offset 0"));
    CHECK(gguf_open(NULL) == NULL);
    gguf_close(NULL);
    CHECK_STR(gguf_value_type_name(GGUF_VT_FLOAT64), "f64");
    CHECK_STR(gguf_value_type_name(GGUF_VT_STRING), "string");
    CHECK_STR(gguf_value_type_name(13), "unknown");
}

/* ======================================================================= reference files */

#define REF_MODELS ".cache/reference/llama.cpp/models/"

static void check_reference_vocab(const char *path, uint64_t n_tokens, uint64_t id, const char *token) {
    double t0 = bn_time_now();
    gguf_file *f = gguf_open(path);
    double ms = (bn_time_now() - t0) * 1e3;
    CHECK_MSG(f != NULL, "%s", bn_last_error_message());
    if (!f) return;
    printf("# %s opened in %.2f ms\n", path, ms);
    const gguf_kv *tokens = gguf_find_kv(f, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->arr_type == GGUF_VT_STRING && tokens->arr_n == n_tokens);
    uint64_t len = 0;
    const char *s = tokens ? gguf_arr_str(tokens, id, &len, f) : NULL;
    CHECK(s && len == strlen(token) && memcmp(s, token, len) == 0);
    char model[32];
    CHECK(gguf_get_str_buf(f, "tokenizer.ggml.model", model, sizeof model));
    gguf_close(f);
}

TEST(reference_vocab_llama_bpe) {
    check_reference_vocab(REF_MODELS "ggml-vocab-llama-bpe.gguf", 128256, 128000, "<|begin_of_text|>");
}

TEST(reference_vocab_llama_spm) {
    check_reference_vocab(REF_MODELS "ggml-vocab-llama-spm.gguf", 32000, 1, "<s>");
}

/* Skips only outside CI and only when the reference is not fetched. */
#define RUN_REFERENCE(name, file)                                                             \
    do {                                                                                      \
        const char *ci = getenv("CI");                                                        \
        if (access(REF_MODELS file, R_OK) != 0 && !(ci && strcmp(ci, "true") == 0))           \
            printf("ok - %s/%s # skipped: reference not fetched\n", test_program_, #name);    \
        else                                                                                  \
            RUN(name);                                                                        \
    } while (0)

TEST_MAIN_BEGIN("test_gguf")
    RUN(small_v3_and_v2);
    RUN(alignment_64_hand_built);
    RUN(writer_round_trip_every_type);
    RUN(writer_alignment_and_i2_s);
    RUN(writer_refuses_bad_input);
    RUN(vocab_sized_string_array);
    RUN(i2_s_only_for_bitnet_architectures);
    RUN(malformed_catalogue);
    RUN(truncated_at_every_byte);
    RUN(nesting_depth);
    RUN(random_corruption);
    RUN(open_errors);
    RUN_REFERENCE(reference_vocab_llama_bpe, "ggml-vocab-llama-bpe.gguf");
    RUN_REFERENCE(reference_vocab_llama_spm, "ggml-vocab-llama-spm.gguf");
TEST_MAIN_END()
