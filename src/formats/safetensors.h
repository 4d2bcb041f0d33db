/* safetensors: the read side of Hugging Face's safetensors container.
 *
 * Layout: u64 little-endian N, then N bytes of JSON: an object mapping each tensor name to
 * {"dtype": "F32"|"F16"|"BF16"|"U8"|..., "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 * (offsets relative to the byte after the header, row-major data, d0 outermost), plus an
 * optional "__metadata__" object of strings. Then the data.
 *
 * Reader contract (as gguf.h): st_open() maps the file read-only and validates all of it before
 * returning: header length inside the file, the JSON, every entry's dtype (known), shape
 * (non-negative integers, at most ST_MAX_DIMS), offsets (begin <= end <= data size), size
 * (= elements * dtype size, overflow-checked) and that no two tensors overlap. On error NULL
 * with the last error (BITNET_ERR_LOAD_FAILED) "<path>: <what was wrong>" naming the tensor.
 * Pointers handed out stay valid until st_close(). */
#ifndef BITNET_SAFETENSORS_H
#define BITNET_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef enum st_dtype {
    ST_BOOL, ST_U8, ST_I8, ST_U16, ST_I16, ST_F16, ST_BF16, ST_U32, ST_I32, ST_F32, ST_U64, ST_I64, ST_F64,
    ST_DTYPE_COUNT
} st_dtype;

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    uint32_t n_dims;
    uint64_t shape[ST_MAX_DIMS]; /* shape[0] outermost (rows), as written */
    uint64_t n_elements;
    uint64_t n_bytes;
    const void *data;            /* into the mapping */
} st_tensor;

typedef struct st_file {
    char *path;
    st_tensor *tensors;
    size_t n_tensors;
    const uint8_t *base;
    uint64_t size;
    uint64_t data_offset;        /* 8 + N */
    int owns_mapping;
} st_file;

st_file *st_open(const char *path);
/* Over a caller-owned buffer (not copied); `name` is used in messages (fuzzer, tests). */
st_file *st_open_memory(const void *data, size_t size, const char *name);
void st_close(st_file *f); /* NULL is accepted */

const st_tensor *st_find(const st_file *f, const char *name);
/* "F32", "BF16", ... */
const char *st_dtype_name(st_dtype t);
/* Bytes per element. */
uint32_t st_dtype_size(st_dtype t);

/* Converts element i of a float tensor (F32, F16, BF16, F64) to float; 0 for other dtypes. */
float st_get_f32(const st_tensor *t, uint64_t i);

#endif
