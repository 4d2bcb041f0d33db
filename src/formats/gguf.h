/* gguf: the GGUF container, read side and write side.
 *
 * Reader contract: gguf_open() maps the file read-only and validates ALL of it before
 * returning: header, every key/value (nested arrays included), every tensor info, tensor
 * types and sizes (via types.h), alignment of offsets, tensor data inside the file and not
 * overlapping. Nothing in the file is trusted; all arithmetic is overflow-checked. On error it
 * returns NULL and sets the last error (BITNET_ERR_LOAD_FAILED) with a message of the form
 *   "<path>: offset <N>: <what was wrong>".
 * After a successful open every pointer handed out points into the mapping (or into small
 * NUL-terminated copies owned by the gguf_file) and stays valid until gguf_close().
 *
 * Writer contract: build a file in memory (keys, then tensors), then gguf_writer_write()
 * emits GGUF v3 with general.alignment (default 32) honoured, readable by llama.cpp. */
#ifndef BITNET_GGUF_H
#define BITNET_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gguf_value_type {
    GGUF_VT_UINT8 = 0, GGUF_VT_INT8 = 1, GGUF_VT_UINT16 = 2, GGUF_VT_INT16 = 3,
    GGUF_VT_UINT32 = 4, GGUF_VT_INT32 = 5, GGUF_VT_FLOAT32 = 6, GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8, GGUF_VT_ARRAY = 9, GGUF_VT_UINT64 = 10, GGUF_VT_INT64 = 11,
    GGUF_VT_FLOAT64 = 12,
};

#define GGUF_MAX_DIMS 4

typedef struct gguf_kv {
    char *key;             /* NUL-terminated copy */
    uint32_t type;         /* enum gguf_value_type */
    uint64_t file_offset;  /* offset of the key's length field in the file */
    /* Scalars (integers, floats, bool) are decoded into these: */
    uint64_t u64;          /* unsigned types, bool */
    int64_t i64;           /* signed types (also set for unsigned types that fit) */
    double f64;            /* float types (also set for integer types) */
    /* GGUF_VT_STRING: points into the mapping, NOT NUL-terminated. */
    const char *str;
    uint64_t str_len;
    /* GGUF_VT_ARRAY: element type, count, and the first element's bytes in the mapping.
     * For arrays of strings, arr_str_offsets[i] is the file offset of element i's u64 length
     * field (built at open time, so element access is O(1)). Nested arrays are validated
     * but only exposed as raw bytes (arr_data, arr_bytes). */
    uint32_t arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data;
    uint64_t arr_bytes;
    uint64_t *arr_str_offsets;
} gguf_kv;

typedef struct gguf_tensor {
    char *name;            /* NUL-terminated copy */
    uint32_t n_dims;       /* 1..GGUF_MAX_DIMS */
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] innermost; unused dims are 1 */
    uint32_t type;         /* GGUF tensor type id (see types.h) */
    uint64_t offset;       /* relative to the data section */
    uint64_t n_elements;
    uint64_t n_bytes;      /* true size (I2_S: n/4 + 32) */
    const void *data;      /* into the mapping */
    uint64_t info_offset;  /* file offset of this tensor's info record (for messages) */
} gguf_tensor;

typedef struct gguf_file {
    char *path;            /* as given (or the name given to gguf_open_memory) */
    uint32_t version;      /* 2 or 3 */
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint64_t alignment;    /* general.alignment or 32 */
    uint64_t data_offset;  /* start of the data section */
    const uint8_t *base;   /* whole file */
    uint64_t size;
    int owns_mapping;      /* internal */
} gguf_file;

/* Opens and validates `path`. NULL on error (last error set). */
gguf_file *gguf_open(const char *path);
/* Same over a caller-owned buffer (not copied; must outlive the result). `name` is used in
 * messages. Used by the fuzzer and tests. */
gguf_file *gguf_open_memory(const void *data, size_t size, const char *name);
/* NULL is accepted. */
void gguf_close(gguf_file *f);

/* Lookups: NULL when absent. */
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters. Each returns true and stores the value when `key` exists with a compatible
 * type: gguf_get_int accepts any integer type (and bool) whose value fits in int64;
 * gguf_get_float accepts float32/float64 and integer types; gguf_get_str returns a
 * pointer+length into the mapping. Returns false when absent or of another type. */
bool gguf_get_int(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_float(const gguf_file *f, const char *key, double *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
bool gguf_get_str(const gguf_file *f, const char *key, const char **s, uint64_t *len);
/* Convenience: copies a string value into buf (NUL-terminated, truncated to cap-1). */
bool gguf_get_str_buf(const gguf_file *f, const char *key, char *buf, size_t cap);

/* Array element access (kv->type must be GGUF_VT_ARRAY with the matching arr_type, and
 * i < arr_n; otherwise they return 0 / NULL). */
const char *gguf_arr_str(const gguf_kv *kv, uint64_t i, uint64_t *len, const gguf_file *f);
float gguf_arr_f32(const gguf_kv *kv, uint64_t i);
int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i); /* any integer element type */

/* Name of a value type ("u32", "string", ...) for messages and --show-kv. */
const char *gguf_value_type_name(uint32_t t);

/* ---- writer ---- */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w); /* NULL is accepted */
/* Setting a key that already exists replaces it. All return 0 or a negative status. */
int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
int gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n);
int gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n);
int gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* Copies a key/value (any type, nested arrays included) from an open file, e.g. to carry
 * a vocabulary's tokenizer.* keys into a generated model. */
int gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, const gguf_kv *kv);
/* Adds a tensor. `data` (n_bytes, which must equal the type's size for these dims) is copied
 * when copy is true, otherwise referenced and must stay valid until gguf_writer_write(). */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims,
                           const uint64_t *ne, uint32_t type, const void *data,
                           uint64_t n_bytes, bool copy);
/* Writes the file (atomically: to path.tmp, then rename). */
int gguf_writer_write(gguf_writer *w, const char *path);

#endif
