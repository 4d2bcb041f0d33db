/* gguf_write_sample: writes a GGUF with one key of each of the 13 value types (a nested array,
 * a string array and a bool among them) and tensors of F32, F16, BF16, Q8_0, TQ1_0 and TQ2_0
 * with known contents, through src/formats/gguf.c's writer. tests/scripts/test_gguf_writer_gguf_py.sh
 * reads it back with llama.cpp's gguf-py and checks every key, value, shape, type and byte.
 *
 *   gguf_write_sample OUT.gguf [ALIGNMENT]
 *
 * The writer has setters for the common types; u8, i8, u16, i16, i64, f64, the bool array and
 * the nested array go through gguf_writer_copy_kv from a small GGUF built here in memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "formats/types.h"
#include "util.h"

typedef struct {
    uint8_t p[512];
    size_t n;
} smallbuf;

static void put(smallbuf *b, const void *src, size_t n) {
    memcpy(b->p + b->n, src, n); /* the fixed contents below fit in 512 bytes */
    b->n += n;
}
static void put_u32(smallbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(smallbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_key(smallbuf *b, const char *key, uint32_t type) {
    put_u64(b, strlen(key));
    put(b, key, strlen(key));
    put_u32(b, type);
}

/* The keys the writer has no setter for, as a GGUF in memory. */
static void build_extra_keys(smallbuf *b) {
    uint8_t u8 = 200, bools[3] = {1, 0, 1};
    int8_t i8 = -100;
    uint16_t u16 = 60000, nested[3] = {1, 2, 3};
    int16_t i16 = -30000;
    int64_t i64 = -(INT64_C(1) << 40) - 5;
    double f64 = -2.5e-300;
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, 0); /* tensors */
    put_u64(b, 8); /* keys */
    put_key(b, "sample.u8", GGUF_VT_UINT8); put(b, &u8, 1);
    put_key(b, "sample.i8", GGUF_VT_INT8); put(b, &i8, 1);
    put_key(b, "sample.u16", GGUF_VT_UINT16); put(b, &u16, 2);
    put_key(b, "sample.i16", GGUF_VT_INT16); put(b, &i16, 2);
    put_key(b, "sample.i64", GGUF_VT_INT64); put(b, &i64, 8);
    put_key(b, "sample.f64", GGUF_VT_FLOAT64); put(b, &f64, 8);
    put_key(b, "sample.arr_bool", GGUF_VT_ARRAY); put_u32(b, GGUF_VT_BOOL); put_u64(b, 3); put(b, bools, 3);
    /* [[1, 2], [3]] of u16 */
    put_key(b, "sample.nested", GGUF_VT_ARRAY); put_u32(b, GGUF_VT_ARRAY); put_u64(b, 2);
    put_u32(b, GGUF_VT_UINT16); put_u64(b, 2); put(b, nested, 4);
    put_u32(b, GGUF_VT_UINT16); put_u64(b, 1); put(b, nested + 2, 2);
}

/* Known tensor contents, recomputed by the Python side. */
static float ramp(int i) { return (float)((i * 37) % 101 - 50) / 8.0f; }           /* exact in f16/bf16 */
static float ternary(int i, float d) { return (float)((i * 7) % 3 - 1) * d; }

static int add_tensors(gguf_writer *w) {
    static float f32[32], q8_src[128], t1[512], t2[512];
    static uint16_t f16[16], bf16[16];
    static uint8_t q8[4 * 34], tq1[2 * 54], tq2[2 * 66];
    for (int i = 0; i < 32; i++) f32[i] = ramp(i);
    for (int i = 0; i < 16; i++) f16[i] = bn_f32_to_f16(ramp(i));
    for (int i = 0; i < 16; i++) bf16[i] = bn_f32_to_bf16(ramp(i));
    for (int i = 0; i < 128; i++) q8_src[i] = ramp(i) * 1.37f; /* not exact: Q8_0 rounds */
    for (int i = 0; i < 512; i++) {
        t1[i] = ternary(i, 0.25f);
        t2[i] = ternary(i, 0.5f);
    }
    bn_type_get(BN_TYPE_Q8_0)->quantize(q8_src, 128, q8);
    bn_type_get(BN_TYPE_TQ1_0)->quantize(t1, 512, tq1);
    bn_type_get(BN_TYPE_TQ2_0)->quantize(t2, 512, tq2);
    const uint64_t ne_f32[2] = {8, 4}, ne_f16[1] = {16}, ne_bf16[3] = {4, 2, 2}, ne_q8[2] = {64, 2},
                   ne_tq1[2] = {256, 2}, ne_tq2[4] = {256, 1, 1, 2};
    int rc = 0;
    rc |= gguf_writer_add_tensor(w, "t.f32", 2, ne_f32, BN_TYPE_F32, f32, sizeof f32, false);
    rc |= gguf_writer_add_tensor(w, "t.f16", 1, ne_f16, BN_TYPE_F16, f16, sizeof f16, false);
    rc |= gguf_writer_add_tensor(w, "t.bf16", 3, ne_bf16, BN_TYPE_BF16, bf16, sizeof bf16, false);
    rc |= gguf_writer_add_tensor(w, "t.q8_0", 2, ne_q8, BN_TYPE_Q8_0, q8, sizeof q8, true);
    rc |= gguf_writer_add_tensor(w, "t.tq1_0", 2, ne_tq1, BN_TYPE_TQ1_0, tq1, sizeof tq1, false);
    rc |= gguf_writer_add_tensor(w, "t.tq2_0", 4, ne_tq2, BN_TYPE_TQ2_0, tq2, sizeof tq2, false);
    return rc;
}

static int set_keys(gguf_writer *w, const gguf_file *extra) {
    static const char *const strs[] = {"", "a", "<|begin_of_text|>", "\xc3\xbc"};
    static const float fs[] = {1.5f, -2.25f, 0.125f};
    static const int32_t is[] = {-1, 0, 2147483647, -2147483647 - 1};
    int rc = 0;
    rc |= gguf_writer_set_str(w, "general.name", "sample");
    for (uint64_t i = 0; i < extra->n_kv; i++) rc |= gguf_writer_copy_kv(w, extra, &extra->kv[i]);
    rc |= gguf_writer_set_u32(w, "sample.u32", 4000000000u);
    rc |= gguf_writer_set_i32(w, "sample.i32", -2000000000);
    rc |= gguf_writer_set_f32(w, "sample.f32", 0.15625f);
    rc |= gguf_writer_set_bool(w, "sample.bool", true);
    rc |= gguf_writer_set_str(w, "sample.str", "h\xc3\xa9llo w\xc3\xb6rld");
    rc |= gguf_writer_set_u64(w, "sample.u64", (UINT64_C(1) << 40) + 3);
    rc |= gguf_writer_set_arr_str(w, "sample.arr_str", strs, 4);
    rc |= gguf_writer_set_arr_f32(w, "sample.arr_f32", fs, 3);
    rc |= gguf_writer_set_arr_i32(w, "sample.arr_i32", is, 4);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gguf_write_sample OUT.gguf [ALIGNMENT]\n");
        return 2;
    }
    smallbuf extra_bytes = {{0}, 0};
    build_extra_keys(&extra_bytes);
    gguf_file *extra = gguf_open_memory(extra_bytes.p, extra_bytes.n, "extra keys");
    gguf_writer *w = gguf_writer_new();
    int rc = !extra || !w;
    if (!rc) rc = set_keys(w, extra);
    if (!rc && argc == 3) rc = gguf_writer_set_u32(w, "general.alignment", (uint32_t)strtoul(argv[2], NULL, 10));
    if (!rc) rc = add_tensors(w);
    if (!rc) rc = gguf_writer_write(w, argv[1]);
    if (rc) fprintf(stderr, "gguf_write_sample: %s\n", bn_last_error_message());
    gguf_writer_free(w);
    gguf_close(extra);
    return rc ? 1 : 0;
}
