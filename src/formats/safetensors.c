/* safetensors: validating reader of the safetensors container (see safetensors.h). */
#include "formats/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json.h"
#include "formats/mapfile.h"
#include "util.h"

typedef unsigned long long ull;

static const struct { const char *name; uint32_t size; } dtypes[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},   [ST_U16] = {"U16", 2},
    [ST_I16] = {"I16", 2},   [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_U32] = {"U32", 4},
    [ST_I32] = {"I32", 4},   [ST_F32] = {"F32", 4}, [ST_U64] = {"U64", 8}, [ST_I64] = {"I64", 8},
    [ST_F64] = {"F64", 8},
};

const char *st_dtype_name(st_dtype t) { return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].name : "?"; }
uint32_t st_dtype_size(st_dtype t) { return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].size : 0; }

/* The header JSON is at most this big (the reference implementation's limit is 100 MB). */
#define ST_MAX_HEADER (100u << 20)

static int bad(const st_file *f, const char *tensor, const char *what) {
    if (tensor)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: tensor '%.200s': %s", f->path, tensor, what);
    return bn_error(BITNET_ERR_LOAD_FAILED, "%s: %s", f->path, what);
}

static int parse_dtype(const st_file *f, const char *name, const bn_json *e, st_dtype *out) {
    const char *s = bn_json_get_str(e, "dtype");
    if (!s) return bad(f, name, "no \"dtype\" string");
    for (int t = 0; t < ST_DTYPE_COUNT; t++)
        if (!strcmp(s, dtypes[t].name)) {
            *out = (st_dtype)t;
            return 0;
        }
    char msg[96];
    snprintf(msg, sizeof msg, "unknown dtype \"%.40s\"", s);
    return bad(f, name, msg);
}

static int parse_shape(const st_file *f, st_tensor *t, const bn_json *e) {
    const bn_json *shape = bn_json_get(e, "shape");
    if (!shape || shape->type != BN_JSON_ARRAY) return bad(f, t->name, "no \"shape\" array");
    if (shape->n > ST_MAX_DIMS) return bad(f, t->name, "more than 8 dimensions");
    t->n_dims = (uint32_t)shape->n;
    t->n_elements = 1;
    for (size_t d = 0; d < shape->n; d++) {
        if (shape->items[d].type != BN_JSON_NUMBER || !shape->items[d].is_uint)
            return bad(f, t->name, "shape holds something other than a non-negative integer");
        t->shape[d] = shape->items[d].u;
        if (!bn_mul_u64(t->n_elements, t->shape[d], &t->n_elements)) return bad(f, t->name, "element count overflows");
    }
    if (!bn_mul_u64(t->n_elements, dtypes[t->dtype].size, &t->n_bytes)) return bad(f, t->name, "byte size overflows");
    return 0;
}

static int parse_offsets(const st_file *f, st_tensor *t, const bn_json *e, uint64_t data_size, uint64_t *begin) {
    const bn_json *off = bn_json_get(e, "data_offsets");
    if (!off || off->type != BN_JSON_ARRAY || off->n != 2 || off->items[0].type != BN_JSON_NUMBER ||
        off->items[1].type != BN_JSON_NUMBER || !off->items[0].is_uint || !off->items[1].is_uint)
        return bad(f, t->name, "\"data_offsets\" is not [begin, end] of non-negative integers");
    uint64_t b = off->items[0].u, en = off->items[1].u;
    char msg[160];
    if (b > en || en > data_size) {
        snprintf(msg, sizeof msg, "data_offsets [%llu, %llu] outside the %llu data bytes", (ull)b, (ull)en, (ull)data_size);
        return bad(f, t->name, msg);
    }
    if (en - b != t->n_bytes) {
        snprintf(msg, sizeof msg, "data_offsets span %llu bytes but the shape and dtype %s need %llu", (ull)(en - b),
                 dtypes[t->dtype].name, (ull)t->n_bytes);
        return bad(f, t->name, msg);
    }
    *begin = b;
    t->data = f->base + f->data_offset + b;
    return 0;
}

static int cmp_begin(const void *a, const void *b) {
    const st_tensor *x = a, *y = b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    return px < py ? -1 : px > py;
}

/* No two non-empty tensors may share bytes (sorted by start; each must end before the next). */
static int check_overlaps(st_file *f) {
    st_tensor *sorted = bn_malloc(f->n_tensors * sizeof *sorted + 1, "safetensors index");
    if (!sorted) return BITNET_ERR_OUT_OF_MEMORY;
    memcpy(sorted, f->tensors, f->n_tensors * sizeof *sorted);
    qsort(sorted, f->n_tensors, sizeof *sorted, cmp_begin);
    int rc = 0;
    const st_tensor *prev = NULL;
    for (size_t i = 0; i < f->n_tensors && !rc; i++) {
        const st_tensor *t = &sorted[i];
        if (!t->n_bytes) continue;
        if (prev && (const uint8_t *)prev->data + prev->n_bytes > (const uint8_t *)t->data) {
            char msg[300];
            snprintf(msg, sizeof msg, "overlaps tensor '%.200s'", prev->name);
            rc = bad(f, t->name, msg);
        }
        prev = t;
    }
    free(sorted);
    return rc;
}

static int parse_entries(st_file *f, const bn_json *root, uint64_t data_size) {
    if (root->type != BN_JSON_OBJECT) return bad(f, NULL, "header is not a JSON object");
    f->tensors = bn_calloc(root->n + 1, sizeof *f->tensors, "safetensors tensors");
    if (!f->tensors) return BITNET_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < root->n; i++) {
        const bn_json *e = &root->items[i];
        if (!strcmp(e->key, "__metadata__")) {
            if (e->type != BN_JSON_OBJECT) return bad(f, NULL, "__metadata__ is not an object");
            continue;
        }
        if (strlen(e->key) != e->key_len || !e->key_len) return bad(f, NULL, "a tensor name is empty or holds a NUL");
        if (st_find(f, e->key)) return bad(f, e->key, "named twice in the header");
        st_tensor *t = &f->tensors[f->n_tensors];
        if (!(t->name = bn_strdup(e->key))) return BITNET_ERR_OUT_OF_MEMORY;
        f->n_tensors++;
        uint64_t begin;
        if (e->type != BN_JSON_OBJECT) return bad(f, t->name, "entry is not an object");
        if (parse_dtype(f, t->name, e, &t->dtype) || parse_shape(f, t, e) || parse_offsets(f, t, e, data_size, &begin))
            return -1;
    }
    return check_overlaps(f);
}

static st_file *parse(const uint8_t *base, uint64_t size, const char *path, bool owns) {
    st_file *f = calloc(1, sizeof *f);
    char *p = bn_strdup(path);
    if (!f || !p) {
        free(f), free(p);
        if (owns) bn_unmap_file(base, size);
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory opening %s", path);
        return NULL;
    }
    f->path = p, f->base = base, f->size = size, f->owns_mapping = owns;
    uint64_t n = 0;
    int rc = 0;
    if (size < 8) {
        rc = bad(f, NULL, "shorter than the 8-byte header length");
    } else {
        for (int i = 7; i >= 0; i--) n = n << 8 | base[i];
        char msg[160];
        if (n > size - 8 || n > ST_MAX_HEADER) {
            snprintf(msg, sizeof msg, "header length %llu does not fit in the %llu-byte file (or exceeds 100 MiB)", (ull)n, (ull)size);
            rc = bad(f, NULL, msg);
        }
    }
    bn_json *root = NULL;
    if (!rc) {
        f->data_offset = 8 + n;
        /* JSON offsets count from the header's first byte (file offset 8). */
        char *jname = bn_malloc(strlen(path) + 32, "safetensors header name");
        if (jname) sprintf(jname, "%s: JSON header", path);
        if (!jname || !(root = bn_json_parse((const char *)base + 8, (size_t)n, jname))) rc = -1;
        free(jname);
    }
    if (!rc) rc = parse_entries(f, root, size - f->data_offset);
    bn_json_free(root);
    if (rc) {
        st_close(f);
        return NULL;
    }
    return f;
}

st_file *st_open(const char *path) {
    if (!path) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "st_open: path is NULL");
        return NULL;
    }
    const uint8_t *base;
    uint64_t size;
    if (bn_map_file(path, &base, &size)) return NULL;
    return parse(base, size, path, base != NULL);
}

st_file *st_open_memory(const void *data, size_t size, const char *name) {
    if (!data && size) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "st_open_memory: data is NULL");
        return NULL;
    }
    static const uint8_t empty[1];
    return parse(data ? data : empty, size, name ? name : "(memory)", false);
}

void st_close(st_file *f) {
    if (!f) return;
    for (size_t i = 0; f->tensors && i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    if (f->owns_mapping) bn_unmap_file(f->base, f->size);
    free(f->path);
    free(f);
}

const st_tensor *st_find(const st_file *f, const char *name) {
    if (!f || !name) return NULL;
    for (size_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

float st_get_f32(const st_tensor *t, uint64_t i) {
    const uint8_t *p = (const uint8_t *)t->data + i * dtypes[t->dtype].size;
    uint16_t h;
    float f;
    double d;
    switch (t->dtype) {
    case ST_F32: memcpy(&f, p, 4); return f;
    case ST_F16: memcpy(&h, p, 2); return bn_f16_to_f32(h);
    case ST_BF16: memcpy(&h, p, 2); return bn_bf16_to_f32(h);
    case ST_F64: memcpy(&d, p, 8); return (float)d;
    default: return 0.0f;
    }
}
