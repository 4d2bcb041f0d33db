/* gguf: the GGUF container (v2 and v3), read side and write side. See gguf.h for the contract.
 *
 * Reading: the whole file is validated up front through a bounds-checked cursor whose first
 * error sticks (later reads return zeros and change nothing), so parsing code reads straight
 * through and checks once per loop. Counts from the file are never used to size an allocation
 * before the bytes they claim are known to exist, and all offset arithmetic is overflow-checked.
 * Keys, tensor names and string-array offset tables are the only allocations; array elements
 * stay in the mapping.
 *
 * Writing: keys and tensors are kept in memory (values already serialized), then written as
 * GGUF v3 to path.tmp and renamed over path. */
#include "formats/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/mapfile.h"
#include "formats/types.h"
#include "util.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NESTING 8          /* arrays of arrays: deepest level accepted */
#define GGUF_MIN_KV_BYTES 13        /* u64 key length + u32 type + a 1-byte value */
#define GGUF_MIN_TENSOR_INFO_BYTES 32 /* u64 name length + u32 n_dims + u64 dim + u32 type + u64 offset */
#define GGUF_MIN_ARRAY_BYTES 12     /* u32 element type + u64 count */
#define GGUF_WRITER_MAX_NAME 64     /* llama.cpp (GGML_MAX_NAME) refuses tensor names this long */

typedef unsigned long long ull; /* for printf */

/* ======================================================================= value types */

static bool value_type_known(uint32_t t) { return t <= GGUF_VT_FLOAT64; }

/* Bytes of one scalar value; 0 for string, array and unknown types. */
static uint32_t scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_VT_UINT8: case GGUF_VT_INT8: case GGUF_VT_BOOL: return 1;
    case GGUF_VT_UINT16: case GGUF_VT_INT16: return 2;
    case GGUF_VT_UINT32: case GGUF_VT_INT32: case GGUF_VT_FLOAT32: return 4;
    case GGUF_VT_UINT64: case GGUF_VT_INT64: case GGUF_VT_FLOAT64: return 8;
    default: return 0;
    }
}

static bool is_unsigned_type(uint32_t t) {
    return t == GGUF_VT_UINT8 || t == GGUF_VT_UINT16 || t == GGUF_VT_UINT32 || t == GGUF_VT_UINT64;
}

static bool is_signed_type(uint32_t t) {
    return t == GGUF_VT_INT8 || t == GGUF_VT_INT16 || t == GGUF_VT_INT32 || t == GGUF_VT_INT64;
}

const char *gguf_value_type_name(uint32_t t) {
    static const char *const names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return value_type_known(t) ? names[t] : "unknown";
}

/* Decoded integer of a little-endian scalar of an integer or bool type. `is_negative` says
 * whether the value is a negative signed one (then the result is its two's complement). */
static uint64_t load_integer(uint32_t t, const uint8_t *p, bool *is_negative) {
    uint8_t u8 = 0; uint16_t u16 = 0; uint32_t u32 = 0; uint64_t u64 = 0;
    int64_t s = 0;
    *is_negative = false;
    switch (t) {
    case GGUF_VT_UINT8: case GGUF_VT_BOOL: return p[0];
    case GGUF_VT_UINT16: memcpy(&u16, p, 2); return u16;
    case GGUF_VT_UINT32: memcpy(&u32, p, 4); return u32;
    case GGUF_VT_UINT64: memcpy(&u64, p, 8); return u64;
    case GGUF_VT_INT8: memcpy(&u8, p, 1); s = (int8_t)u8; break;
    case GGUF_VT_INT16: memcpy(&u16, p, 2); s = (int16_t)u16; break;
    case GGUF_VT_INT32: memcpy(&u32, p, 4); s = (int32_t)u32; break;
    case GGUF_VT_INT64: memcpy(&u64, p, 8); s = (int64_t)u64; break;
    default: return 0;
    }
    *is_negative = s < 0;
    return (uint64_t)s;
}

/* Fills kv->u64 / i64 / f64 from a scalar's bytes (see gguf_kv). */
static void decode_scalar(gguf_kv *kv, uint32_t t, const uint8_t *p) {
    if (t == GGUF_VT_FLOAT32) {
        float f;
        memcpy(&f, p, 4);
        kv->f64 = f;
    } else if (t == GGUF_VT_FLOAT64) {
        memcpy(&kv->f64, p, 8);
    } else if (is_signed_type(t)) {
        bool neg;
        kv->i64 = (int64_t)load_integer(t, p, &neg);
        kv->f64 = (double)kv->i64;
    } else { /* unsigned or bool */
        bool neg;
        uint64_t u = load_integer(t, p, &neg);
        if (t == GGUF_VT_BOOL) u = u != 0;
        kv->u64 = u;
        kv->i64 = u <= INT64_MAX ? (int64_t)u : 0;
        kv->f64 = (double)u;
    }
}

/* ======================================================================= reader */

typedef struct reader {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const char *path;
    bool failed;
    char subject[160]; /* "key 'x': " or "tensor 'y': " while parsing one, else "" */
} reader;

static void fail_status_at(reader *r, int status, uint64_t offset, const char *fmt, va_list ap) {
    if (r->failed) return;
    r->failed = true;
    char what[512];
    vsnprintf(what, sizeof what, fmt, ap);
    bn_error(status, "%s: offset %llu: %s%s", r->path, (ull)offset, r->subject, what);
}

static void fail_at(reader *r, uint64_t offset, const char *fmt, ...) BN_PRINTF(3, 4);
static void fail_at(reader *r, uint64_t offset, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_status_at(r, BITNET_ERR_LOAD_FAILED, offset, fmt, ap);
    va_end(ap);
}

static void fail_oom(reader *r, uint64_t offset, const char *fmt, ...) BN_PRINTF(3, 4);
static void fail_oom(reader *r, uint64_t offset, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_status_at(r, BITNET_ERR_OUT_OF_MEMORY, offset, fmt, ap);
    va_end(ap);
}

static void set_subject(reader *r, const char *kind, const char *name) {
    if (!kind) r->subject[0] = '\0';
    else snprintf(r->subject, sizeof r->subject, "%s '%.100s%s': ", kind, name,
                  strlen(name) > 100 ? "..." : "");
}

static uint64_t bytes_left(const reader *r) { return r->size - r->pos; }

/* Advances over n bytes and returns where they start; NULL (and the sticky error) when fewer
 * than n bytes are left. `what` names the field for the message. */
static const uint8_t *take(reader *r, uint64_t n, const char *what) {
    if (r->failed) return NULL;
    if (n > bytes_left(r)) {
        fail_at(r, r->pos, "not enough bytes for %s: need %llu, %llu left (file is %llu bytes)",
                what, (ull)n, (ull)bytes_left(r), (ull)r->size);
        return NULL;
    }
    const uint8_t *p = r->base + r->pos;
    r->pos += n;
    return p;
}

static uint32_t read_u32(reader *r, const char *what) {
    uint32_t v = 0;
    const uint8_t *p = take(r, 4, what);
    if (p) memcpy(&v, p, 4);
    return v;
}

static uint64_t read_u64(reader *r, const char *what) {
    uint64_t v = 0;
    const uint8_t *p = take(r, 8, what);
    if (p) memcpy(&v, p, 8);
    return v;
}

/* A GGUF string (u64 length + bytes, not NUL-terminated). */
static const char *read_string(reader *r, uint64_t *len, const char *what) {
    *len = read_u64(r, what);
    if (r->failed) return NULL;
    if (*len > bytes_left(r)) {
        fail_at(r, r->pos - 8, "%s has length %llu but only %llu bytes are left (file is %llu bytes)",
                what, (ull)*len, (ull)bytes_left(r), (ull)r->size);
        return NULL;
    }
    return (const char *)take(r, *len, what);
}

/* A name (key or tensor name) as a NUL-terminated copy; NUL bytes inside are refused. */
static char *read_name(reader *r, const char *what) {
    uint64_t start = r->pos, len;
    const char *s = read_string(r, &len, what);
    if (!s) return NULL;
    if (memchr(s, '\0', len)) {
        fail_at(r, start, "%s contains a NUL byte", what);
        return NULL;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        fail_oom(r, start, "out of memory copying a %s of %llu bytes", what, (ull)len);
        return NULL;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

/* ---- arrays ---- */

static void skip_array_body(reader *r, uint32_t et, uint64_t n, int depth, uint64_t **str_offsets);

/* Reads an array header (element type, count) at the cursor and validates its elements. */
static void read_array_header(reader *r, uint32_t *et, uint64_t *n) {
    uint64_t at = r->pos;
    *et = read_u32(r, "array element type");
    *n = read_u64(r, "array element count");
    if (!r->failed && !value_type_known(*et))
        fail_at(r, at, "array element type %u is unknown", *et);
}

/* Validates n elements of type et at the cursor and moves past them. For a top-level array
 * of strings, str_offsets (non-NULL) receives a table of each element's file offset. */
static void skip_array_body(reader *r, uint32_t et, uint64_t n, int depth, uint64_t **str_offsets) {
    uint64_t at = r->pos, bytes;
    if (scalar_size(et)) {
        if (!bn_mul_u64(n, scalar_size(et), &bytes) || bytes > bytes_left(r)) {
            fail_at(r, at, "array of %llu %s elements needs more than the %llu bytes left",
                    (ull)n, gguf_value_type_name(et), (ull)bytes_left(r));
            return;
        }
        take(r, bytes, "array elements");
    } else if (et == GGUF_VT_STRING) {
        if (n > bytes_left(r) / 8) { /* each string takes at least its 8-byte length */
            fail_at(r, at, "array of %llu strings needs more than the %llu bytes left",
                    (ull)n, (ull)bytes_left(r));
            return;
        }
        uint64_t *offsets = NULL;
        if (str_offsets) {
            offsets = malloc((n ? n : 1) * sizeof *offsets);
            if (!offsets) {
                fail_oom(r, at, "out of memory for the offsets of %llu strings", (ull)n);
                return;
            }
            *str_offsets = offsets;
        }
        for (uint64_t i = 0; i < n && !r->failed; i++) {
            if (offsets) offsets[i] = r->pos;
            uint64_t len;
            read_string(r, &len, "array string");
        }
    } else { /* nested arrays */
        if (depth >= GGUF_MAX_NESTING) {
            fail_at(r, at, "arrays nested deeper than %d levels", GGUF_MAX_NESTING);
            return;
        }
        if (n > bytes_left(r) / GGUF_MIN_ARRAY_BYTES) {
            fail_at(r, at, "array of %llu arrays needs more than the %llu bytes left",
                    (ull)n, (ull)bytes_left(r));
            return;
        }
        for (uint64_t i = 0; i < n && !r->failed; i++) {
            uint32_t inner_et;
            uint64_t inner_n;
            read_array_header(r, &inner_et, &inner_n);
            if (!r->failed) skip_array_body(r, inner_et, inner_n, depth + 1, NULL);
        }
    }
}

/* ---- key/value pairs ---- */

static void read_kv(reader *r, gguf_kv *kv) {
    kv->file_offset = r->pos;
    kv->key = read_name(r, "key");
    if (!kv->key) return;
    set_subject(r, "key", kv->key);
    uint64_t at = r->pos;
    kv->type = read_u32(r, "value type");
    if (r->failed) return;
    if (!value_type_known(kv->type)) {
        fail_at(r, at, "value type %u is unknown", kv->type);
    } else if (scalar_size(kv->type)) {
        const uint8_t *p = take(r, scalar_size(kv->type), "value");
        if (p) decode_scalar(kv, kv->type, p);
    } else if (kv->type == GGUF_VT_STRING) {
        kv->str = read_string(r, &kv->str_len, "string value");
    } else {
        read_array_header(r, &kv->arr_type, &kv->arr_n);
        if (r->failed) return;
        uint64_t start = r->pos;
        kv->arr_data = r->base + start;
        skip_array_body(r, kv->arr_type, kv->arr_n, 1, &kv->arr_str_offsets);
        kv->arr_bytes = r->pos - start;
    }
    if (!r->failed) set_subject(r, NULL, NULL);
}

/* ---- sorting helpers for duplicate and overlap checks (O(n log n), files may be hostile) ---- */

static int cmp_kv_key(const void *a, const void *b) {
    const gguf_kv *x = *(const gguf_kv *const *)a, *y = *(const gguf_kv *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->file_offset > y->file_offset) - (x->file_offset < y->file_offset);
}

static int cmp_tensor_name(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->info_offset > y->info_offset) - (x->info_offset < y->info_offset);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static void check_duplicate_keys(reader *r, gguf_file *f) {
    if (f->n_kv < 2) return;
    const gguf_kv **sorted = malloc(f->n_kv * sizeof *sorted);
    if (!sorted) {
        fail_oom(r, 0, "out of memory checking %llu keys for duplicates", (ull)f->n_kv);
        return;
    }
    for (uint64_t i = 0; i < f->n_kv; i++) sorted[i] = &f->kv[i];
    qsort(sorted, f->n_kv, sizeof *sorted, cmp_kv_key);
    for (uint64_t i = 1; i < f->n_kv; i++)
        if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0) {
            fail_at(r, sorted[i]->file_offset, "duplicate key '%.100s' (first at offset %llu)",
                    sorted[i]->key, (ull)sorted[i - 1]->file_offset);
            break;
        }
    free(sorted);
}

static void check_duplicate_names(reader *r, gguf_file *f) {
    if (f->n_tensors < 2) return;
    const gguf_tensor **sorted = malloc(f->n_tensors * sizeof *sorted);
    if (!sorted) {
        fail_oom(r, 0, "out of memory checking %llu tensor names", (ull)f->n_tensors);
        return;
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) sorted[i] = &f->tensors[i];
    qsort(sorted, f->n_tensors, sizeof *sorted, cmp_tensor_name);
    for (uint64_t i = 1; i < f->n_tensors; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            fail_at(r, sorted[i]->info_offset, "duplicate tensor name '%.100s' (first at offset %llu)",
                    sorted[i]->name, (ull)sorted[i - 1]->info_offset);
            break;
        }
    free(sorted);
}

static void check_overlaps(reader *r, gguf_file *f) {
    if (f->n_tensors < 2) return;
    const gguf_tensor **sorted = malloc(f->n_tensors * sizeof *sorted);
    if (!sorted) {
        fail_oom(r, 0, "out of memory checking %llu tensors for overlaps", (ull)f->n_tensors);
        return;
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) sorted[i] = &f->tensors[i];
    qsort(sorted, f->n_tensors, sizeof *sorted, cmp_tensor_offset);
    for (uint64_t i = 1; i < f->n_tensors; i++) {
        const gguf_tensor *a = sorted[i - 1], *b = sorted[i];
        if (a->offset + a->n_bytes > b->offset) { /* both ends were checked to fit the file */
            set_subject(r, "tensor", b->name);
            fail_at(r, b->info_offset, "data [%llu, %llu) overlaps tensor '%.100s' [%llu, %llu)",
                    (ull)(f->data_offset + b->offset), (ull)(f->data_offset + b->offset + b->n_bytes),
                    a->name, (ull)(f->data_offset + a->offset),
                    (ull)(f->data_offset + a->offset + a->n_bytes));
            break;
        }
    }
    free(sorted);
}

/* ---- header-level keys ---- */

static void read_alignment(reader *r, gguf_file *f) {
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find_kv(f, "general.alignment");
    if (!kv) return;
    set_subject(r, "key", kv->key);
    /* llama.cpp requires u32 here; accepting more would write files it refuses. */
    if (kv->type != GGUF_VT_UINT32)
        fail_at(r, kv->file_offset, "alignment has type %s; expected u32", gguf_value_type_name(kv->type));
    else if (kv->u64 == 0 || (kv->u64 & (kv->u64 - 1)) != 0)
        fail_at(r, kv->file_offset, "alignment %llu is not a nonzero power of two", (ull)kv->u64);
    else
        f->alignment = kv->u64;
    if (!r->failed) set_subject(r, NULL, NULL);
}

/* True when general.architecture names an architecture whose files use type id 36 as I2_S:
 * the BitNet ones, and "llama", which bitnet.cpp writes with I2_S for its ternary Llama-3-8B
 * and Falcon3 conversions (upstream's 36 was IQ4_NL_4_4, a load-time repacking layout that is
 * no longer defined; the I2_S byte size is still checked). */
static bool arch_has_i2_s(const gguf_file *f, char *arch, size_t cap) {
    static const char *const bitnet_archs[] = {"bitnet-b1.58", "bitnet-25", "bitnet", "llama"};
    snprintf(arch, cap, "(none)");
    const char *s;
    uint64_t len;
    if (!gguf_get_str(f, "general.architecture", &s, &len)) return false;
    snprintf(arch, cap, "'%.*s'", (int)(len < 64 ? len : 64), s);
    for (size_t i = 0; i < sizeof bitnet_archs / sizeof bitnet_archs[0]; i++)
        if (len == strlen(bitnet_archs[i]) && memcmp(s, bitnet_archs[i], len) == 0) return true;
    return false;
}

/* ---- tensor infos ---- */

static void read_tensor_info(reader *r, gguf_file *f, gguf_tensor *t, bool i2_s_ok, const char *arch) {
    t->info_offset = r->pos;
    t->name = read_name(r, "tensor name");
    if (!t->name) return;
    set_subject(r, "tensor", t->name);

    uint64_t at = r->pos;
    t->n_dims = read_u32(r, "n_dims");
    if (r->failed) return;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS) {
        fail_at(r, at, "has %u dimensions; expected 1 to %d", t->n_dims, GGUF_MAX_DIMS);
        return;
    }
    uint64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        at = r->pos;
        t->ne[d] = d < t->n_dims ? read_u64(r, "dimension") : 1;
        if (r->failed) return;
        if (t->ne[d] == 0) {
            fail_at(r, at, "dimension %u is 0", d);
            return;
        }
        if (!bn_mul_u64(n, t->ne[d], &n) || n > (uint64_t)INT64_MAX) {
            char dims[128] = "";
            for (uint32_t k = 0; k <= d; k++)
                snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%s%llu", k ? ", " : "", (ull)t->ne[k]);
            fail_at(r, at, "dimensions [%s] overflow the element count", dims);
            return;
        }
    }
    t->n_elements = n;

    at = r->pos;
    t->type = read_u32(r, "tensor type");
    uint64_t offset_at = r->pos;
    t->offset = read_u64(r, "tensor data offset");
    if (r->failed) return;

    const bn_type_traits *traits = bn_type_get(t->type);
    if (t->type == BN_TYPE_I2_S && !i2_s_ok) {
        set_subject(r, NULL, NULL);
        fail_at(r, at, "tensor '%.100s' has type id 36 which is I2_S only in Microsoft's BitNet fork "
                "and something else upstream; refusing (general.architecture is %s)", t->name, arch);
    } else if (!traits) {
        fail_at(r, at, "unknown tensor type id %u", t->type);
    } else if (n % traits->block_size != 0) {
        fail_at(r, at, "%llu elements is not a multiple of the %s block size %u",
                (ull)n, traits->name, traits->block_size);
    } else if (t->type != BN_TYPE_I2_S && t->ne[0] % traits->block_size != 0) {
        /* as in ggml: rows are whole blocks (I2_S rows are the model binder's check) */
        fail_at(r, at, "row of %llu elements (ne[0]) is not a multiple of the %s block size %u",
                (ull)t->ne[0], traits->name, traits->block_size);
    } else if (!bn_type_nbytes(t->type, n, &t->n_bytes)) {
        fail_at(r, at, "size of %llu %s elements overflows", (ull)n, traits->name);
    } else if (t->offset % f->alignment != 0) {
        fail_at(r, offset_at, "data offset %llu is not a multiple of the alignment %llu",
                (ull)t->offset, (ull)f->alignment);
    }
    if (!r->failed) set_subject(r, NULL, NULL);
}

/* Places every tensor's data in the file once the data section's start is known. */
static void locate_tensor_data(reader *r, gguf_file *f) {
    for (uint64_t i = 0; i < f->n_tensors && !r->failed; i++) {
        gguf_tensor *t = &f->tensors[i];
        uint64_t start = 0, end = 0;
        bool fits = bn_add_u64(f->data_offset, t->offset, &start) && bn_add_u64(start, t->n_bytes, &end);
        if (!fits || end > f->size) {
            set_subject(r, "tensor", t->name);
            if (!fits)
                fail_at(r, t->info_offset, "data offset %llu + %llu bytes overflows",
                        (ull)t->offset, (ull)t->n_bytes);
            else
                fail_at(r, t->info_offset, "data [%llu, %llu) extends past end of file (%llu bytes)",
                        (ull)start, (ull)end, (ull)f->size);
            return;
        }
        t->data = f->base + start;
    }
}

/* ---- the whole file ---- */

static void read_header(reader *r, gguf_file *f) {
    const uint8_t *magic = take(r, 4, "magic");
    if (!magic) return;
    if (memcmp(magic, "GGUF", 4) != 0) {
        fail_at(r, 0, "not a GGUF file (magic bytes %02x %02x %02x %02x, expected \"GGUF\")",
                magic[0], magic[1], magic[2], magic[3]);
        return;
    }
    f->version = read_u32(r, "version");
    if (r->failed) return;
    uint32_t swapped = __builtin_bswap32(f->version);
    if (f->version == 1)
        fail_at(r, 4, "GGUF version 1 is obsolete (32-bit counts) and not supported; "
                "re-convert the model with a current llama.cpp");
    else if (swapped == 2 || swapped == 3)
        fail_at(r, 4, "big-endian GGUF (version %u byte-swapped) is not supported", swapped);
    else if (f->version != 2 && f->version != 3)
        fail_at(r, 4, "unsupported GGUF version %u (this reader knows versions 2 and 3)", f->version);
    f->n_tensors = read_u64(r, "tensor count");
    f->n_kv = read_u64(r, "key/value count");
}

static void read_kvs(reader *r, gguf_file *f) {
    if (r->failed) return;
    if (f->n_kv > bytes_left(r) / GGUF_MIN_KV_BYTES) {
        fail_at(r, 16, "header claims %llu key/value pairs but only %llu bytes follow",
                (ull)f->n_kv, (ull)bytes_left(r));
        return;
    }
    f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
    if (!f->kv) {
        fail_oom(r, 16, "out of memory for %llu key/value pairs", (ull)f->n_kv);
        return;
    }
    for (uint64_t i = 0; i < f->n_kv && !r->failed; i++) read_kv(r, &f->kv[i]);
    if (!r->failed) check_duplicate_keys(r, f);
}

static void read_tensor_infos(reader *r, gguf_file *f) {
    if (r->failed) return;
    if (f->n_tensors > bytes_left(r) / GGUF_MIN_TENSOR_INFO_BYTES) {
        fail_at(r, 8, "header claims %llu tensors but only %llu bytes follow the keys",
                (ull)f->n_tensors, (ull)bytes_left(r));
        return;
    }
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    if (!f->tensors) {
        fail_oom(r, 8, "out of memory for %llu tensor infos", (ull)f->n_tensors);
        return;
    }
    char arch[80];
    bool i2_s_ok = arch_has_i2_s(f, arch, sizeof arch);
    for (uint64_t i = 0; i < f->n_tensors && !r->failed; i++)
        read_tensor_info(r, f, &f->tensors[i], i2_s_ok, arch);
    if (!r->failed) check_duplicate_names(r, f);
}

static void place_data_section(reader *r, gguf_file *f) {
    if (r->failed) return;
    uint64_t end_of_infos = r->pos, padded;
    if (!bn_add_u64(end_of_infos, f->alignment - 1, &padded)) padded = UINT64_MAX;
    else padded -= padded % f->alignment;
    if (f->n_tensors == 0) { /* vocab-only files may end without the final padding */
        f->data_offset = padded < f->size ? padded : f->size;
        return;
    }
    if (padded > f->size) {
        fail_at(r, end_of_infos, "padding to the data section (alignment %llu) runs past end of file (%llu bytes)",
                (ull)f->alignment, (ull)f->size);
        return;
    }
    f->data_offset = padded;
    locate_tensor_data(r, f);
    if (!r->failed) check_overlaps(r, f);
}

/* Validates base[0..size) as a GGUF file; takes over the mapping when owns_mapping. */
static gguf_file *parse(const uint8_t *base, uint64_t size, const char *path, bool owns_mapping) {
    gguf_file *f = calloc(1, sizeof *f);
    char *path_copy = bn_strdup(path ? path : "(memory)");
    if (!f || !path_copy) {
        free(f);
        free(path_copy);
        if (owns_mapping && base) munmap((void *)base, size);
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "%s: out of memory opening a GGUF file", path ? path : "(memory)");
        return NULL;
    }
    f->path = path_copy;
    f->base = base;
    f->size = size;
    f->owns_mapping = owns_mapping;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;

    reader r = {.base = base, .size = size, .path = f->path};
    read_header(&r, f);
    read_kvs(&r, f);
    if (!r.failed) read_alignment(&r, f);
    read_tensor_infos(&r, f);
    place_data_section(&r, f);
    if (r.failed) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open(const char *path) {
    if (!path) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "gguf_open: path is NULL");
        return NULL;
    }
    const uint8_t *base;
    uint64_t size;
    if (bn_map_file(path, &base, &size)) return NULL;
    return parse(base, size, path, base != NULL);
}

gguf_file *gguf_open_memory(const void *data, size_t size, const char *name) {
    if (!data && size) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "gguf_open_memory: data is NULL");
        return NULL;
    }
    return parse(data, size, name ? name : "(memory)", false);
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->kv)
        for (uint64_t i = 0; i < f->n_kv; i++) {
            free(f->kv[i].key);
            free(f->kv[i].arr_str_offsets);
        }
    if (f->tensors)
        for (uint64_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->kv);
    free(f->tensors);
    if (f->owns_mapping && f->base) munmap((void *)f->base, f->size);
    free(f->path);
    free(f);
}

/* ======================================================================= lookups */

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    if (!f || !key || !f->kv) return NULL;
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (f->kv[i].key && strcmp(f->kv[i].key, key) == 0) return &f->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!f || !name || !f->tensors) return NULL;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].name && strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

bool gguf_get_int(const gguf_file *f, const char *key, int64_t *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return false;
    if (is_signed_type(kv->type)) {
        *out = kv->i64;
        return true;
    }
    if ((is_unsigned_type(kv->type) || kv->type == GGUF_VT_BOOL) && kv->u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)kv->u64;
        return true;
    }
    return false;
}

bool gguf_get_float(const gguf_file *f, const char *key, double *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return false;
    if (kv->type == GGUF_VT_FLOAT32 || kv->type == GGUF_VT_FLOAT64 || is_signed_type(kv->type) ||
        is_unsigned_type(kv->type)) {
        *out = kv->f64;
        return true;
    }
    return false;
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_BOOL) return false;
    *out = kv->u64 != 0;
    return true;
}

bool gguf_get_str(const gguf_file *f, const char *key, const char **s, uint64_t *len) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv || kv->type != GGUF_VT_STRING) return false;
    *s = kv->str;
    *len = kv->str_len;
    return true;
}

bool gguf_get_str_buf(const gguf_file *f, const char *key, char *buf, size_t cap) {
    const char *s;
    uint64_t len;
    if (!buf || cap == 0 || !gguf_get_str(f, key, &s, &len)) return false;
    size_t n = len < cap - 1 ? (size_t)len : cap - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

static bool array_element_ok(const gguf_kv *kv, uint64_t i) {
    return kv && kv->type == GGUF_VT_ARRAY && i < kv->arr_n;
}

const char *gguf_arr_str(const gguf_kv *kv, uint64_t i, uint64_t *len, const gguf_file *f) {
    if (!array_element_ok(kv, i) || kv->arr_type != GGUF_VT_STRING || !kv->arr_str_offsets || !f)
        return NULL;
    uint64_t off = kv->arr_str_offsets[i], n;
    memcpy(&n, f->base + off, 8);
    if (len) *len = n;
    return (const char *)f->base + off + 8;
}

float gguf_arr_f32(const gguf_kv *kv, uint64_t i) {
    if (!array_element_ok(kv, i) || kv->arr_type != GGUF_VT_FLOAT32) return 0.0f;
    float v;
    memcpy(&v, kv->arr_data + 4 * i, 4);
    return v;
}

int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i) {
    if (!array_element_ok(kv, i)) return 0;
    uint32_t t = kv->arr_type;
    if (!is_signed_type(t) && !is_unsigned_type(t) && t != GGUF_VT_BOOL) return 0;
    bool neg;
    uint64_t v = load_integer(t, kv->arr_data + (uint64_t)scalar_size(t) * i, &neg);
    if (!neg && v > (uint64_t)INT64_MAX) return 0; /* u64 beyond int64: not representable */
    return (int64_t)v;
}

/* ======================================================================= writer */

typedef struct bytebuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} bytebuf;

static void buf_put(bytebuf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) { b->oom = true; return; }
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void buf_u32(bytebuf *b, uint32_t v) { buf_put(b, &v, 4); }
static void buf_u64(bytebuf *b, uint64_t v) { buf_put(b, &v, 8); }
static void buf_str(bytebuf *b, const char *s, uint64_t len) {
    buf_u64(b, len);
    buf_put(b, s, len);
}

typedef struct writer_kv {
    char *key;
    uint32_t type;
    bytebuf value; /* serialized value, the bytes after the type field */
} writer_kv;

typedef struct writer_tensor {
    char *name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint32_t type;
    const void *data;
    void *owned; /* the copy, when data was copied */
    uint64_t n_bytes;
} writer_tensor;

struct gguf_writer {
    writer_kv *kv;
    size_t n_kv, cap_kv;
    writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
};

gguf_writer *gguf_writer_new(void) { return bn_calloc(1, sizeof(gguf_writer), "GGUF writer"); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].value.p);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].owned);
    }
    free(w->kv);
    free(w->tensors);
    free(w);
}

/* Makes room for one more element in a growable array of elem-sized items. */
static bool grow(void **items, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t new_cap = *cap ? *cap * 2 : 16;
    void *p = realloc(*items, new_cap * elem);
    if (!p) return false;
    *items = p;
    *cap = new_cap;
    return true;
}

/* Stores key = value (taking over `value`), replacing an existing value of that key. */
static int writer_set(gguf_writer *w, const char *key, uint32_t type, bytebuf value) {
    if (!w || !key || value.oom) {
        free(value.p);
        return !w || !key ? bn_error(BITNET_ERR_INVALID_ARGUMENT, "gguf writer: NULL writer or key")
                          : bn_error(BITNET_ERR_OUT_OF_MEMORY, "gguf writer: out of memory for key '%s'", key);
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].value.p);
            w->kv[i].type = type;
            w->kv[i].value = value;
            return 0;
        }
    char *copy = bn_strdup(key);
    if (!copy || !grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
        free(copy);
        free(value.p);
        return bn_error(BITNET_ERR_OUT_OF_MEMORY, "gguf writer: out of memory for key '%s'", key);
    }
    w->kv[w->n_kv++] = (writer_kv){.key = copy, .type = type, .value = value};
    return 0;
}

static int set_scalar(gguf_writer *w, const char *key, uint32_t type, const void *v) {
    bytebuf b = {0};
    buf_put(&b, v, scalar_size(type));
    return writer_set(w, key, type, b);
}

int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) { return set_scalar(w, key, GGUF_VT_UINT32, &v); }
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) { return set_scalar(w, key, GGUF_VT_INT32, &v); }
int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) { return set_scalar(w, key, GGUF_VT_UINT64, &v); }
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v) { return set_scalar(w, key, GGUF_VT_FLOAT32, &v); }

int gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    uint8_t byte = v ? 1 : 0;
    return set_scalar(w, key, GGUF_VT_BOOL, &byte);
}

int gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    if (!v) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "gguf writer: NULL string for key '%s'", key ? key : "");
    bytebuf b = {0};
    buf_str(&b, v, strlen(v));
    return writer_set(w, key, GGUF_VT_STRING, b);
}

int gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    if (!v && n) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "gguf writer: NULL array for key '%s'", key ? key : "");
    bytebuf b = {0};
    buf_u32(&b, GGUF_VT_STRING);
    buf_u64(&b, n);
    for (uint64_t i = 0; i < n; i++) {
        if (!v[i]) {
            free(b.p);
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "gguf writer: NULL string %llu in key '%s'",
                            (ull)i, key ? key : "");
        }
        buf_str(&b, v[i], strlen(v[i]));
    }
    return writer_set(w, key, GGUF_VT_ARRAY, b);
}

static int set_scalar_array(gguf_writer *w, const char *key, uint32_t et, const void *v, uint64_t n) {
    uint64_t bytes;
    if ((!v && n) || !bn_mul_u64(n, scalar_size(et), &bytes) || bytes > SIZE_MAX)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "gguf writer: bad array for key '%s'", key ? key : "");
    bytebuf b = {0};
    buf_u32(&b, et);
    buf_u64(&b, n);
    buf_put(&b, v, (size_t)bytes);
    return writer_set(w, key, GGUF_VT_ARRAY, b);
}

int gguf_writer_set_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n) {
    return set_scalar_array(w, key, GGUF_VT_FLOAT32, v, n);
}

int gguf_writer_set_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    return set_scalar_array(w, key, GGUF_VT_INT32, v, n);
}

int gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, const gguf_kv *kv) {
    if (!w || !src || !kv || kv < src->kv || kv >= src->kv + src->n_kv)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "gguf_writer_copy_kv: kv does not belong to the file");
    /* The value's bytes follow the key (u64 length + bytes) and the u32 type in the file. */
    uint64_t value_at = kv->file_offset + 8 + strlen(kv->key) + 4, len;
    if (scalar_size(kv->type)) len = scalar_size(kv->type);
    else if (kv->type == GGUF_VT_STRING) len = 8 + kv->str_len;
    else len = GGUF_MIN_ARRAY_BYTES + kv->arr_bytes;
    bytebuf b = {0};
    buf_put(&b, src->base + value_at, (size_t)len); /* validated at open: inside the file */
    return writer_set(w, kv->key, kv->type, b);
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                           uint32_t type, const void *data, uint64_t n_bytes, bool copy) {
    if (!w || !name || !ne || (!data && n_bytes))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "gguf_writer_add_tensor: NULL argument");
    if (strlen(name) >= GGUF_WRITER_MAX_NAME)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "tensor '%s': name longer than llama.cpp's limit of %d bytes",
                        name, GGUF_WRITER_MAX_NAME - 1);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "tensor '%s': %u dimensions; expected 1 to %d",
                        name, n_dims, GGUF_MAX_DIMS);
    uint64_t n = 1, expected;
    for (uint32_t d = 0; d < n_dims; d++)
        if (ne[d] == 0 || !bn_mul_u64(n, ne[d], &n))
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "tensor '%s': dimension %u is 0 or overflows", name, d);
    const bn_type_traits *traits = bn_type_get(type);
    if (!traits) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "tensor '%s': unknown type id %u", name, type);
    if (!bn_type_nbytes(type, n, &expected) || expected != n_bytes)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT,
                        "tensor '%s': %llu bytes given; %llu %s elements need %llu", name,
                        (ull)n_bytes, (ull)n, traits->name, (ull)expected);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "tensor '%s' added twice", name);

    writer_tensor t = {.n_dims = n_dims, .type = type, .data = data, .n_bytes = n_bytes};
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t.ne[d] = d < n_dims ? ne[d] : 1;
    t.name = bn_strdup(name);
    if (t.name && copy) {
        t.owned = bn_malloc((size_t)n_bytes, "tensor copy");
        if (t.owned) memcpy(t.owned, data, (size_t)n_bytes);
        t.data = t.owned;
    }
    if (!t.name || (copy && !t.owned) ||
        !grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof *w->tensors)) {
        free(t.name);
        free(t.owned);
        return bn_error(BITNET_ERR_OUT_OF_MEMORY, "tensor '%s': out of memory", name);
    }
    w->tensors[w->n_tensors++] = t;
    return 0;
}

/* ---- emitting the file ---- */

typedef struct file_out {
    FILE *fp;
    uint64_t pos;
    bool err;
} file_out;

static void out_put(file_out *o, const void *p, uint64_t n) {
    if (o->err || n == 0) return;
    if (fwrite(p, 1, (size_t)n, o->fp) != n) o->err = true;
    o->pos += n;
}

static void out_u32(file_out *o, uint32_t v) { out_put(o, &v, 4); }
static void out_u64(file_out *o, uint64_t v) { out_put(o, &v, 8); }

static void out_pad(file_out *o, uint64_t alignment) {
    static const uint8_t zeros[64];
    while (o->pos % alignment) {
        uint64_t gap = alignment - o->pos % alignment;
        out_put(o, zeros, gap < sizeof zeros ? gap : sizeof zeros);
        if (o->err) return;
    }
}

/* The alignment the file will use: general.alignment when the caller set it (u32, a power of
 * two: what readers require), else 32. */
static int writer_alignment(const gguf_writer *w, uint64_t *alignment) {
    *alignment = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0) continue;
        uint32_t a = 0;
        if (w->kv[i].type == GGUF_VT_UINT32) memcpy(&a, w->kv[i].value.p, 4);
        if (a == 0 || (a & (a - 1)) != 0)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT,
                            "gguf writer: general.alignment must be a u32 power of two");
        *alignment = a;
    }
    return 0;
}

static void write_contents(file_out *o, const gguf_writer *w, uint64_t alignment) {
    out_put(o, "GGUF", 4);
    out_u32(o, 3);
    out_u64(o, w->n_tensors);
    out_u64(o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        out_u64(o, strlen(w->kv[i].key));
        out_put(o, w->kv[i].key, strlen(w->kv[i].key));
        out_u32(o, w->kv[i].type);
        out_put(o, w->kv[i].value.p, w->kv[i].value.n);
    }
    uint64_t offset = 0; /* tensor sizes were checked at add time; sums of them fit memory */
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        out_u64(o, strlen(t->name));
        out_put(o, t->name, strlen(t->name));
        out_u32(o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) out_u64(o, t->ne[d]);
        out_u32(o, t->type);
        out_u64(o, offset);
        offset += (t->n_bytes + alignment - 1) / alignment * alignment;
    }
    out_pad(o, alignment);
    for (size_t i = 0; i < w->n_tensors; i++) {
        out_put(o, w->tensors[i].data, w->tensors[i].n_bytes);
        out_pad(o, alignment);
    }
}

int gguf_writer_write(gguf_writer *w, const char *path) {
    if (!w || !path) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "gguf_writer_write: NULL argument");
    uint64_t alignment;
    int rc = writer_alignment(w, &alignment);
    if (rc) return rc;
    size_t plen = strlen(path);
    char *tmp = bn_malloc(plen + 5, "temporary path");
    if (!tmp) return BITNET_ERR_OUT_OF_MEMORY;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    file_out o = {.fp = fopen(tmp, "wb")};
    if (!o.fp) {
        rc = bn_error(BITNET_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    write_contents(&o, w, alignment);
    /* Flushed and synced before the rename, so that path never names a partial file. */
    bool failed = o.err || fflush(o.fp) != 0 || fsync(fileno(o.fp)) != 0;
    int saved_errno = errno;
    if (fclose(o.fp) != 0 && !failed) {
        failed = true;
        saved_errno = errno;
    }
    if (failed) rc = bn_error(BITNET_ERR_IO, "%s: write failed: %s", tmp, strerror(saved_errno));
    else if (rename(tmp, path) != 0)
        rc = bn_error(BITNET_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}
