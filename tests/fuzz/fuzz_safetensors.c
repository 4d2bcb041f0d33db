/* fuzz_safetensors: libFuzzer target for the readers of Hugging Face checkpoint files: the
 * safetensors reader (src/formats/safetensors.c), the JSON reader (src/formats/json.c) and the
 * SentencePiece tokenizer.model reader (src/convert/hf_spm.c). Built and run by
 * scripts/fuzz_safetensors.sh with -fsanitize=fuzzer,address,undefined.
 *
 * A refused input must leave a non-empty error naming the input with status LOAD_FAILED (or
 * OUT_OF_MEMORY). An accepted input must satisfy the reader's contract (safetensors.h): every
 * tensor findable by name, a known dtype, n_elements the product of the shape, n_bytes =
 * n_elements * dtype size, data inside the input after the header, and no two tensors
 * overlapping. Every data range is touched at its first and last byte so that ASan sees any
 * pointer outside the input. The raw input is also parsed as JSON on its own, and as a
 * SentencePiece tokenizer.model (src/convert/hf_spm.c: every accepted piece inside the input). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/hf_spm.h"
#include "formats/json.h"
#include "formats/safetensors.h"
#include "util.h"

#define INPUT_NAME "fuzz-input"

static volatile uint8_t sink;

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_safetensors: contract broken: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void check_refusal(void) {
    const char *msg = bn_last_error_message();
    int status = bn_last_error_status();
    if (!msg || !*msg) fail("input refused without an error message", NULL);
    if (status != BITNET_ERR_LOAD_FAILED && status != BITNET_ERR_OUT_OF_MEMORY) fail("unexpected status", msg);
    if (!strstr(msg, INPUT_NAME)) fail("error message does not name the input", msg);
}

static void check_tensor(const st_file *f, const st_tensor *t) {
    if (!t->name || st_find(f, t->name) != t) fail("tensor not findable by its name", t->name);
    if ((unsigned)t->dtype >= ST_DTYPE_COUNT) fail("unknown dtype accepted", t->name);
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++)
        if (!bn_mul_u64(n, t->shape[d], &n)) fail("element count overflows", t->name);
    if (n != t->n_elements || n * st_dtype_size(t->dtype) != t->n_bytes) fail("size disagrees with the shape", t->name);
    const uint8_t *p = t->data;
    if (t->n_bytes) {
        if (p < f->base + f->data_offset || (uint64_t)(p - f->base) > f->size || t->n_bytes > f->size - (uint64_t)(p - f->base))
            fail("tensor data outside the input", t->name);
        sink ^= p[0];
        sink ^= p[t->n_bytes - 1];
        if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16)
            sink ^= (uint8_t)(st_get_f32(t, t->n_elements - 1) == 0.0f);
    }
}

static void check_overlap(const st_file *f) {
    if (f->n_tensors > 256) return;
    for (size_t i = 0; i < f->n_tensors; i++)
        for (size_t j = i + 1; j < f->n_tensors; j++) {
            const st_tensor *a = &f->tensors[i], *b = &f->tensors[j];
            const uint8_t *pa = a->data, *pb = b->data;
            if (a->n_bytes && b->n_bytes && pa < pb + b->n_bytes && pb < pa + a->n_bytes) fail("overlap accepted", a->name);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bn_clear_error();
    st_file *f = st_open_memory(data, size, INPUT_NAME);
    if (!f) {
        check_refusal();
    } else {
        for (size_t i = 0; i < f->n_tensors; i++) check_tensor(f, &f->tensors[i]);
        check_overlap(f);
        st_close(f);
    }
    bn_clear_error();
    bn_json *j = bn_json_parse((const char *)data, size, INPUT_NAME);
    if (!j) check_refusal();
    bn_json_free(j);
    bn_clear_error();
    spm_model m;
    if (spm_parse(data, size, INPUT_NAME, &m) == 0) {
        for (size_t i = 0; i < m.n; i++) {
            const uint8_t *t = (const uint8_t *)m.pieces[i].text;
            if (t < data || m.pieces[i].len > size || (size_t)(t - data) > size - m.pieces[i].len)
                fail("piece outside the input", NULL);
            if (m.pieces[i].len) sink ^= t[m.pieces[i].len - 1];
            if (m.pieces[i].type < 1 || m.pieces[i].type > 6) fail("piece type outside 1..6 accepted", NULL);
        }
        spm_free(&m);
    } else {
        const char *msg = bn_last_error_message();
        if (!msg || !strstr(msg, INPUT_NAME)) fail("tokenizer.model refusal does not name the input", msg);
    }
    return 0;
}
