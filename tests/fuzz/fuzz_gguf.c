/* fuzz_gguf: libFuzzer target for the GGUF reader (src/formats/gguf.c). Built and run by
 * scripts/fuzz_gguf.sh with -fsanitize=fuzzer,address,undefined.
 *
 * Each input goes through gguf_open_memory(). A refused input must leave a non-empty error
 * message that names the input and a status of BITNET_ERR_LOAD_FAILED (or OUT_OF_MEMORY). An
 * accepted input must satisfy the reader's contract (gguf.h): every key and tensor findable by
 * name, scalar and string values readable, array elements readable, tensor types known with
 * n_bytes matching types.h, tensor data aligned, inside the input and not overlapping. Every
 * pointer handed out is dereferenced at its first and last byte so that ASan sees any that
 * points outside the input. A broken invariant aborts with a message: libFuzzer reports it as
 * a crash and saves the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "formats/types.h"
#include "util.h"

#define INPUT_NAME "fuzz-input"
/* Bounds the work per input: a valid file may hold millions of array elements. */
#define MAX_ELEMENTS_CHECKED 4096
#define MAX_TENSORS_PAIRWISE 256

static volatile uint8_t sink;

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_gguf: contract broken: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void touch(const void *p, uint64_t n) {
    if (n == 0) return;
    if (!p) fail("NULL pointer for non-empty bytes", NULL);
    const uint8_t *b = p;
    sink ^= b[0];
    sink ^= b[n - 1];
}

/* True when [p, p+n) lies in the input (empty ranges are not dereferenced: always true). */
static bool inside_input(const gguf_file *f, const void *p, uint64_t n) {
    if (n == 0) return true;
    const uint8_t *b = p;
    return b >= f->base && (uint64_t)(b - f->base) <= f->size && n <= f->size - (uint64_t)(b - f->base);
}

static void check_refusal(void) {
    const char *msg = bn_last_error_message();
    int status = bn_last_error_status();
    if (!msg || !*msg) fail("input refused without an error message", NULL);
    if (status != BITNET_ERR_LOAD_FAILED && status != BITNET_ERR_OUT_OF_MEMORY)
        fail("input refused with an unexpected status", msg);
    if (!strstr(msg, INPUT_NAME)) fail("error message does not name the input", msg);
}

static void check_array(const gguf_file *f, const gguf_kv *kv) {
    if (!inside_input(f, kv->arr_data, kv->arr_bytes)) fail("array bytes outside the input", kv->key);
    touch(kv->arr_data, kv->arr_bytes);
    uint64_t n = kv->arr_n < MAX_ELEMENTS_CHECKED ? kv->arr_n : MAX_ELEMENTS_CHECKED;
    for (uint64_t i = 0; i < n; i++) {
        if (kv->arr_type == GGUF_VT_STRING) {
            uint64_t len = UINT64_MAX;
            const char *s = gguf_arr_str(kv, i, &len, f);
            if (!s) fail("string element not readable", kv->key);
            if (!inside_input(f, s, len)) fail("string element outside the input", kv->key);
            touch(s, len);
        } else if (kv->arr_type == GGUF_VT_FLOAT32) {
            float v = gguf_arr_f32(kv, i);
            sink ^= (uint8_t)(v == v);
        } else if (kv->arr_type != GGUF_VT_ARRAY && kv->arr_type != GGUF_VT_FLOAT64) {
            sink ^= (uint8_t)gguf_arr_int(kv, i);
        }
    }
    /* Out of range and mismatched accesses must be refused, not read. */
    uint64_t len = 0;
    if (gguf_arr_str(kv, kv->arr_n, &len, f)) fail("string element past the end returned", kv->key);
    if (kv->arr_type != GGUF_VT_STRING && gguf_arr_str(kv, 0, &len, f))
        fail("string element returned from a non-string array", kv->key);
}

static void check_kv(const gguf_file *f, const gguf_kv *kv) {
    if (!kv->key) fail("key without a name", NULL);
    const gguf_kv *found = gguf_find_kv(f, kv->key);
    if (!found) fail("key not findable by its name", kv->key);
    if (!gguf_value_type_name(kv->type)) fail("no name for a value type", kv->key);
    if (kv->file_offset >= f->size) fail("key offset outside the input", kv->key);

    int64_t i64;
    double f64;
    bool b;
    const char *s;
    uint64_t len;
    char buf[16];
    sink ^= (uint8_t)gguf_get_int(f, kv->key, &i64);
    sink ^= (uint8_t)gguf_get_float(f, kv->key, &f64);
    sink ^= (uint8_t)gguf_get_bool(f, kv->key, &b);
    if (kv->type == GGUF_VT_STRING) {
        if (!gguf_get_str(f, kv->key, &s, &len)) fail("string value not readable", kv->key);
        if (!inside_input(f, s, len)) fail("string value outside the input", kv->key);
        touch(s, len);
        if (!gguf_get_str_buf(f, kv->key, buf, sizeof buf)) fail("string not copied", kv->key);
        if (strlen(buf) >= sizeof buf) fail("copied string not terminated", kv->key);
    } else if (kv->type == GGUF_VT_ARRAY) {
        check_array(f, kv);
    }
}

static void check_tensor(const gguf_file *f, const gguf_tensor *t) {
    if (!t->name) fail("tensor without a name", NULL);
    if (!gguf_find_tensor(f, t->name)) fail("tensor not findable by its name", t->name);
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS) fail("tensor n_dims out of range", t->name);
    uint64_t n = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        if (!bn_mul_u64(n, t->ne[d], &n)) fail("tensor element count overflows", t->name);
    if (n != t->n_elements) fail("n_elements is not the product of ne", t->name);
    const bn_type_traits *traits = bn_type_get(t->type);
    if (!traits) fail("tensor of an unknown type accepted", t->name);
    /* Kernels walk rows of whole blocks (ggml refuses files that break this, too). I2_S is
     * laid out over the flattened tensor; its row width is the model binder's check. */
    if (t->type != BN_TYPE_I2_S && t->ne[0] % traits->block_size)
        fail("row (ne[0]) not a whole number of blocks", t->name);
    uint64_t bytes;
    if (!bn_type_nbytes(t->type, t->n_elements, &bytes) || bytes != t->n_bytes)
        fail("n_bytes disagrees with types.h", t->name);
    if (t->offset % f->alignment) fail("tensor offset not aligned", t->name);
    if ((const uint8_t *)t->data != f->base + f->data_offset + t->offset)
        fail("tensor data pointer is not base + data_offset + offset", t->name);
    if (!inside_input(f, t->data, t->n_bytes)) fail("tensor data outside the input", t->name);
    touch(t->data, t->n_bytes);
}

static void check_no_overlap(const gguf_file *f) {
    if (f->n_tensors > MAX_TENSORS_PAIRWISE) return;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        for (uint64_t j = i + 1; j < f->n_tensors; j++) {
            const gguf_tensor *a = &f->tensors[i], *b = &f->tensors[j];
            if (a->n_bytes && b->n_bytes && a->offset < b->offset + b->n_bytes &&
                b->offset < a->offset + a->n_bytes)
                fail("overlapping tensors accepted", a->name);
        }
}

static void check_file(const gguf_file *f) {
    if (f->version != 2 && f->version != 3) fail("version other than 2 or 3 accepted", NULL);
    if (f->alignment == 0 || (f->alignment & (f->alignment - 1)))
        fail("alignment not a power of two", NULL);
    /* A file without tensors may end before the padding (vocab-only files do): then the data
     * section starts at the end of the file. */
    bool at_end_without_tensors = f->n_tensors == 0 && f->data_offset == f->size;
    if (f->data_offset > f->size || (f->data_offset % f->alignment && !at_end_without_tensors))
        fail("data section misplaced", NULL);
    if (f->base == NULL || f->path == NULL || strcmp(f->path, INPUT_NAME) != 0)
        fail("file fields not set", NULL);
    for (uint64_t i = 0; i < f->n_kv; i++) check_kv(f, &f->kv[i]);
    for (uint64_t i = 0; i < f->n_tensors; i++) check_tensor(f, &f->tensors[i]);
    check_no_overlap(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bn_clear_error();
    gguf_file *f = gguf_open_memory(data, size, INPUT_NAME);
    if (!f) {
        check_refusal();
        return 0;
    }
    check_file(f);
    gguf_close(f);
    return 0;
}
