/* trace: the tracer (filter, record formatting, raw dumps). See trace.h for the format. */
#include "debug/trace.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "debug/blake3.h"
#include "util.h"

#define TRACE_MAX_DIMS 8
#define TRACE_FIRST_VALUES 8
#define TRACE_MAX_STAGE_LEN 63
#define TRACE_MAX_LAYER 1000000

static const char *const stage_names[BN_TRACE_STAGE_COUNT] = {
#define BN_TRACE_STAGE_NAME(id, str) str,
    BN_TRACE_STAGES(BN_TRACE_STAGE_NAME)
#undef BN_TRACE_STAGE_NAME
};

const char *bn_trace_stage_name(int stage) {
    return stage >= 0 && stage < BN_TRACE_STAGE_COUNT ? stage_names[stage] : NULL;
}

int bn_trace_stage_index(const char *name) {
    for (int i = 0; name && i < BN_TRACE_STAGE_COUNT; i++)
        if (strcmp(name, stage_names[i]) == 0) return i;
    return -1;
}

/* ---- filter ---- */

typedef struct layer_range { int lo, hi; } layer_range;

typedef struct trace_filter {
    layer_range *ranges; /* NULL: every layer passes */
    int n_ranges;
    bool has_stages;
    uint32_t stage_mask; /* bit i: canonical stage i passes */
} trace_filter;

_Static_assert(BN_TRACE_STAGE_COUNT <= 32, "stage mask is 32 bits");

static bool parse_layer_number(const char *s, const char *end, int *out) {
    if (s == end) return false;
    long v = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
        if (v > TRACE_MAX_LAYER) return false;
    }
    *out = (int)v;
    return true;
}

/* Calls item(ctx, start, end) for each comma-separated item of [s, end); stops at a failure. */
static int for_each_item(const char *s, const char *end, void *ctx,
                         int (*item)(void *ctx, const char *b, const char *e)) {
    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        int rc = item(ctx, s, e);
        if (rc) return rc;
        s = e + 1;
    }
    return 0;
}

static int add_layer_item(void *ctx, const char *b, const char *e) {
    trace_filter *f = ctx;
    const char *dash = memchr(b, '-', (size_t)(e - b));
    layer_range r;
    bool ok = dash ? parse_layer_number(b, dash, &r.lo) && parse_layer_number(dash + 1, e, &r.hi)
                   : parse_layer_number(b, e, &r.lo);
    if (!dash) r.hi = r.lo;
    if (!ok || r.lo > r.hi)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT,
                        "BITNET_TRACE_FILTER: bad layer item '%.*s' (expected N or N-M with "
                        "0 <= N <= M; layer -1 records always pass the layers filter)",
                        (int)(e - b), b);
    f->ranges[f->n_ranges++] = r;
    return 0;
}

static int add_stage_item(void *ctx, const char *b, const char *e) {
    trace_filter *f = ctx;
    for (int i = 0; i < BN_TRACE_STAGE_COUNT; i++) {
        if ((size_t)(e - b) == strlen(stage_names[i]) && memcmp(b, stage_names[i], (size_t)(e - b)) == 0) {
            f->stage_mask |= 1u << i;
            return 0;
        }
    }
    char valid[512] = "";
    for (int i = 0; i < BN_TRACE_STAGE_COUNT; i++) {
        strcat(valid, stage_names[i]);
        if (i + 1 < BN_TRACE_STAGE_COUNT) strcat(valid, ",");
    }
    return bn_error(BITNET_ERR_INVALID_ARGUMENT, "BITNET_TRACE_FILTER: unknown stage '%.*s' (stages: %s)",
                    (int)(e - b), b, valid);
}

/* One "key=value" part of the filter, [b, e). */
static int parse_filter_part(trace_filter *f, const char *b, const char *e) {
    const char *eq = memchr(b, '=', (size_t)(e - b));
    if (!eq)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT,
                        "BITNET_TRACE_FILTER: '%.*s' is not key=value (keys: layers, stages)", (int)(e - b), b);
    size_t key_len = (size_t)(eq - b);
    if (key_len == 6 && memcmp(b, "layers", 6) == 0) {
        if (f->ranges)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "BITNET_TRACE_FILTER: 'layers' given twice");
        size_t items = 1;
        for (const char *p = eq + 1; p < e; p++) items += *p == ',';
        f->ranges = bn_calloc(items, sizeof *f->ranges, "trace filter");
        if (!f->ranges) return BITNET_ERR_OUT_OF_MEMORY;
        return for_each_item(eq + 1, e, f, add_layer_item);
    }
    if (key_len == 6 && memcmp(b, "stages", 6) == 0) {
        if (f->has_stages)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "BITNET_TRACE_FILTER: 'stages' given twice");
        f->has_stages = true;
        return for_each_item(eq + 1, e, f, add_stage_item);
    }
    return bn_error(BITNET_ERR_INVALID_ARGUMENT, "BITNET_TRACE_FILTER: unknown key '%.*s' (keys: layers, stages)",
                    (int)key_len, b);
}

/* spec: NULL or "" = no filter; else parts separated by ';' (empty parts ignored). */
static int parse_filter(const char *spec, trace_filter *f) {
    memset(f, 0, sizeof *f);
    if (!spec) return 0;
    const char *s = spec, *end = spec + strlen(spec);
    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *e = semi ? semi : end;
        if (e > s) {
            int rc = parse_filter_part(f, s, e);
            if (rc) {
                free(f->ranges);
                f->ranges = NULL;
                return rc;
            }
        }
        s = e + 1;
    }
    return 0;
}

static bool filter_passes(const trace_filter *f, int layer, const char *stage) {
    if (f->has_stages) {
        int i = bn_trace_stage_index(stage);
        if (i < 0 || !(f->stage_mask & (1u << i))) return false;
    }
    if (!f->ranges || layer < 0) return true;
    for (int i = 0; i < f->n_ranges; i++)
        if (layer >= f->ranges[i].lo && layer <= f->ranges[i].hi) return true;
    return false;
}

/* ---- tracer ---- */

struct bn_tracer {
    char *dir;
    FILE *jsonl;
    bool raw;
    trace_filter filter;
    pthread_mutex_t lock; /* serializes writes to jsonl */
};

/* mkdir -p: creates path and its missing parents; fine when it already is a directory. */
static int make_dirs(const char *path) {
    char *p = bn_strdup(path);
    if (!p) return BITNET_ERR_OUT_OF_MEMORY;
    int rc = 0;
    for (char *c = p + 1; ; c++) {
        if (*c != '/' && *c != '\0') continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            rc = bn_error(BITNET_ERR_IO, "trace: cannot create folder '%s': %s", p, strerror(errno));
            break;
        }
        *c = saved;
        if (saved == '\0') break;
    }
    struct stat st;
    if (rc == 0 && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
        rc = bn_error(BITNET_ERR_IO, "trace: '%s' is not a folder", path);
    free(p);
    return rc;
}

static int read_raw_setting(bool *raw) {
    const char *v = getenv("BITNET_TRACE_RAW");
    *raw = v && strcmp(v, "1") == 0;
    if (v && *v && strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "BITNET_TRACE_RAW must be 0 or 1, not '%s'", v);
    return 0;
}

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = bn_malloc(n, "trace path");
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

int bn_tracer_open(const char *dir, bn_tracer **out) {
    *out = NULL;
    if (!dir) dir = getenv("BITNET_TRACE_DIR");
    if (!dir || !*dir) return 0;
    bn_tracer *t = bn_calloc(1, sizeof *t, "tracer");
    if (!t) return BITNET_ERR_OUT_OF_MEMORY;
    pthread_mutex_init(&t->lock, NULL);
    int rc = read_raw_setting(&t->raw);
    if (!rc) rc = parse_filter(getenv("BITNET_TRACE_FILTER"), &t->filter);
    if (!rc) rc = make_dirs(dir);
    char *raw_dir = NULL, *jsonl_path = NULL;
    if (!rc && t->raw) rc = (raw_dir = path_join(dir, "raw")) ? make_dirs(raw_dir) : BITNET_ERR_OUT_OF_MEMORY;
    if (!rc) rc = (t->dir = bn_strdup(dir)) && (jsonl_path = path_join(dir, "trace.jsonl")) ? 0 : BITNET_ERR_OUT_OF_MEMORY;
    if (!rc && !(t->jsonl = fopen(jsonl_path, "a")))
        rc = bn_error(BITNET_ERR_IO, "trace: cannot open '%s': %s", jsonl_path, strerror(errno));
    free(raw_dir);
    free(jsonl_path);
    if (rc) {
        bn_tracer_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

void bn_tracer_close(bn_tracer *t) {
    if (!t) return;
    if (t->jsonl) fclose(t->jsonl);
    pthread_mutex_destroy(&t->lock);
    free(t->filter.ranges);
    free(t->dir);
    free(t);
}

bool bn_tracer_wants(const bn_tracer *t, int layer, const char *stage) {
    return t && stage && filter_passes(&t->filter, layer, stage);
}

/* ---- record ---- */

typedef struct tensor_summary {
    double min, max, mean, rms;
    char blake3[65];
} tensor_summary;

static void put_le_f32(uint8_t *p, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(u >> (8 * i));
}

/* One pass over the data: statistics, BLAKE3 of the little-endian bytes, and the raw dump
 * (when raw_file is non-NULL) from the same little-endian buffer. */
static int summarize(const float *data, uint64_t n, FILE *raw_file, tensor_summary *s) {
    enum { CHUNK = 1024 };
    uint8_t le[CHUNK * 4];
    bn_blake3_hasher h;
    bn_blake3_init(&h);
    double sum = 0, sumsq = 0, lo = INFINITY, hi = -INFINITY;
    bool any_nan = false;
    for (uint64_t i = 0; i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? (size_t)(n - i) : CHUNK;
        for (size_t j = 0; j < m; j++) {
            double v = data[i + j];
            any_nan |= isnan(v);
            sum += v;
            sumsq += v * v;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            put_le_f32(le + 4 * j, data[i + j]);
        }
        bn_blake3_update(&h, le, 4 * m);
        if (raw_file && fwrite(le, 4, m, raw_file) != m) return BITNET_ERR_IO;
    }
    uint8_t digest[BN_BLAKE3_OUT_LEN];
    bn_blake3_finalize(&h, digest);
    bn_blake3_to_hex(digest, s->blake3);
    s->min = any_nan ? NAN : lo;
    s->max = any_nan ? NAN : hi;
    s->mean = sum / (double)n;
    s->rms = sqrt(sumsq / (double)n);
    return 0;
}

/* Appends printf output to a fixed line buffer; overflow is impossible by construction of the
 * record (bounded fields) but is still detected. */
typedef struct line_buf { char s[2048]; size_t len; bool overflow; } line_buf;

BN_PRINTF(2, 3) static void lb_printf(line_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s + b->len, sizeof b->s - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof b->s - b->len) b->overflow = true;
    else b->len += (size_t)n;
}

/* A float value as JSON: %.9g, or "nan"/"inf"/"-inf" as strings. */
static void lb_float(line_buf *b, double v) {
    float f = (float)v;
    if (isnan(f)) lb_printf(b, "\"nan\"");
    else if (isinf(f)) lb_printf(b, f > 0 ? "\"inf\"" : "\"-inf\"");
    else lb_printf(b, "%.9g", (double)f);
}

static int check_record_args(int layer, const char *stage, int seq, int batch_pos, int seq_id,
                             const float *data, const int64_t *shape, int n_dims, uint64_t *n) {
    size_t len = stage ? strlen(stage) : 0;
    if (len == 0 || len > TRACE_MAX_STAGE_LEN || strspn(stage, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "trace: bad stage name (need 1..63 of [a-z0-9_])");
    if (layer < -1 || layer > TRACE_MAX_LAYER || seq < 0 || batch_pos < 0 || seq_id < 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "trace: bad position (layer %d, seq %d, batch_pos %d, seq_id %d)",
                        layer, seq, batch_pos, seq_id);
    if (!data || n_dims < 0 || n_dims > TRACE_MAX_DIMS || (n_dims > 0 && !shape))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "trace: bad tensor for '%s' (%d dims)", stage, n_dims);
    *n = 1;
    for (int i = 0; i < n_dims; i++)
        if (shape[i] < 1 || !bn_mul_u64(*n, (uint64_t)shape[i], n) || *n > SIZE_MAX / 4)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "trace: bad shape for '%s' (dim %d)", stage, i);
    return 0;
}

static void format_record(line_buf *b, int layer, const char *stage, int seq, int batch_pos, int seq_id,
                          const float *data, const int64_t *shape, int n_dims, uint64_t n,
                          const tensor_summary *s, const char *raw_rel) {
    if (layer >= 0) lb_printf(b, "{\"name\":\"blk%d/%s\",\"shape\":[", layer, stage);
    else lb_printf(b, "{\"name\":\"%s\",\"shape\":[", stage);
    for (int i = 0; i < n_dims; i++) lb_printf(b, "%s%lld", i ? "," : "", (long long)shape[i]);
    lb_printf(b, "],\"dtype\":\"f32\",\"blake3\":\"%s\",\"rms\":", s->blake3);
    lb_float(b, s->rms);
    lb_printf(b, ",\"num_elements\":%llu,\"seq\":%d,\"layer\":%d,\"stage\":\"%s\",\"batch_id\":%d,"
                 "\"batch_pos\":%d,\"min\":", (unsigned long long)n, seq, layer, stage, seq_id, batch_pos);
    lb_float(b, s->min);
    lb_printf(b, ",\"max\":");
    lb_float(b, s->max);
    lb_printf(b, ",\"mean\":");
    lb_float(b, s->mean);
    lb_printf(b, ",\"first\":[");
    for (uint64_t i = 0; i < n && i < TRACE_FIRST_VALUES; i++) {
        if (i) lb_printf(b, ",");
        lb_float(b, data[i]);
    }
    if (raw_rel) lb_printf(b, "],\"raw\":\"%s\"}\n", raw_rel);
    else lb_printf(b, "],\"raw\":null}\n");
}

int bn_tracer_record(bn_tracer *t, int layer, const char *stage, int seq, int batch_pos, int seq_id,
                     const float *data, const int64_t *shape, int n_dims) {
    if (!t) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "trace: no tracer");
    uint64_t n = 0;
    int rc = check_record_args(layer, stage, seq, batch_pos, seq_id, data, shape, n_dims, &n);
    if (rc) return rc;
    if (!filter_passes(&t->filter, layer, stage)) return 0;

    char raw_rel[128];
    if (seq_id == 0) snprintf(raw_rel, sizeof raw_rel, "raw/%d_%d_%s.f32", seq, layer, stage);
    else snprintf(raw_rel, sizeof raw_rel, "raw/s%d_%d_%d_%s.f32", seq_id, seq, layer, stage);
    FILE *raw_file = NULL;
    char *raw_path = NULL;
    if (t->raw) {
        if (!(raw_path = path_join(t->dir, raw_rel))) return BITNET_ERR_OUT_OF_MEMORY;
        if (!(raw_file = fopen(raw_path, "wb"))) {
            rc = bn_error(BITNET_ERR_IO, "trace: cannot create '%s': %s", raw_path, strerror(errno));
            free(raw_path);
            return rc;
        }
    }
    tensor_summary s;
    rc = summarize(data, n, raw_file, &s);
    if (raw_file && fclose(raw_file) != 0) rc = BITNET_ERR_IO;
    if (rc) rc = bn_error(BITNET_ERR_IO, "trace: cannot write '%s'", raw_path);
    free(raw_path);
    if (rc) return rc;

    line_buf b = {.len = 0, .overflow = false};
    format_record(&b, layer, stage, seq, batch_pos, seq_id, data, shape, n_dims, n, &s, t->raw ? raw_rel : NULL);
    if (b.overflow) return bn_error(BITNET_ERR_INTERNAL, "trace: record for '%s' too long", stage);
    pthread_mutex_lock(&t->lock);
    bool ok = fputs(b.s, t->jsonl) >= 0 && fflush(t->jsonl) == 0;
    pthread_mutex_unlock(&t->lock);
    return ok ? 0 : bn_error(BITNET_ERR_IO, "trace: cannot write %s/trace.jsonl", t->dir);
}
