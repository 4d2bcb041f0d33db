/* trace_diff: a strict reader for trace.jsonl records and the divergence walk (trace_diff.h). */
#include "debug/trace_diff.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug/blake3.h"
#include "debug/trace.h"
#include "util.h"

#define TRACE_MAX_LINE (1 << 16)
#define JSON_MAX_DEPTH 32

/* ==== a minimal JSON reader: one object per line, fields read straight into an entry ==== */

typedef struct json_cursor {
    const char *p, *start, *end;
    const char *err; /* first error, a constant string; NULL while fine */
    const char *err_at;
} json_cursor;

static bool json_fail(json_cursor *c, const char *what) {
    if (!c->err) {
        c->err = what;
        c->err_at = c->p;
    }
    return false;
}

static void json_skip_ws(json_cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n')) c->p++;
}

static bool json_peek(json_cursor *c, char ch) {
    json_skip_ws(c);
    return c->p < c->end && *c->p == ch;
}

static bool json_expect(json_cursor *c, char ch, const char *what) {
    if (!json_peek(c, ch)) return json_fail(c, what);
    c->p++;
    return true;
}

static int hex_value(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Appends the UTF-8 encoding of code point cp. */
static size_t utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12); out[1] = (char)(0x80 | ((cp >> 6) & 63));
        out[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18); out[1] = (char)(0x80 | ((cp >> 12) & 63));
    out[2] = (char)(0x80 | ((cp >> 6) & 63)); out[3] = (char)(0x80 | (cp & 63));
    return 4;
}

static bool json_hex4(json_cursor *c, uint32_t *v) {
    if (c->end - c->p < 4) return json_fail(c, "truncated \\u escape");
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(c->p[i]);
        if (h < 0) return json_fail(c, "bad \\u escape");
        *v = *v << 4 | (uint32_t)h;
    }
    c->p += 4;
    return true;
}

/* One escape sequence after the backslash, decoded into out (1..4 bytes). */
static bool json_escape(json_cursor *c, char out[4], size_t *len) {
    if (c->p >= c->end) return json_fail(c, "truncated string");
    char e = *c->p++;
    const char *simple = strchr("\"\\/bfnrt", e);
    if (e && simple) {
        static const char decoded[] = "\"\\/\b\f\n\r\t";
        out[0] = decoded[simple - "\"\\/bfnrt"];
        *len = 1;
        return true;
    }
    if (e != 'u') return json_fail(c, "bad escape in string");
    uint32_t cp;
    if (!json_hex4(c, &cp)) return false;
    if (cp >= 0xD800 && cp < 0xDC00) { /* high surrogate: a low one must follow */
        uint32_t lo;
        if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u') return json_fail(c, "lone surrogate");
        c->p += 2;
        if (!json_hex4(c, &lo)) return false;
        if (lo < 0xDC00 || lo >= 0xE000) return json_fail(c, "bad surrogate pair");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp < 0xE000) {
        return json_fail(c, "lone surrogate");
    }
    *len = utf8_encode(cp, out);
    return true;
}

/* A string into out (NUL-terminated, at most cap-1 bytes; longer is an error). out may be
 * NULL to skip the string. */
static bool json_string(json_cursor *c, char *out, size_t cap) {
    if (!json_expect(c, '"', "expected a string")) return false;
    size_t n = 0;
    for (;;) {
        if (c->p >= c->end) return json_fail(c, "unterminated string");
        char ch = *c->p++;
        if (ch == '"') break;
        if ((unsigned char)ch < 0x20) return json_fail(c, "control character in string");
        char buf[4];
        size_t len = 1;
        buf[0] = ch;
        if (ch == '\\' && !json_escape(c, buf, &len)) return false;
        if (out) {
            if (n + len >= cap) return json_fail(c, "string too long");
            memcpy(out + n, buf, len);
        }
        n += len;
    }
    if (out) out[n] = '\0';
    return true;
}

/* A JSON number (strict grammar), converted with strtod. */
static bool json_number(json_cursor *c, double *out) {
    json_skip_ws(c);
    const char *s = c->p, *p = s;
    if (p < c->end && *p == '-') p++;
    const char *int_start = p;
    while (p < c->end && *p >= '0' && *p <= '9') p++;
    if (p == int_start || (*int_start == '0' && p - int_start > 1)) return json_fail(c, "expected a number");
    if (p < c->end && *p == '.') {
        const char *f = ++p;
        while (p < c->end && *p >= '0' && *p <= '9') p++;
        if (p == f) return json_fail(c, "bad number");
    }
    if (p < c->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < c->end && (*p == '+' || *p == '-')) p++;
        const char *d = p;
        while (p < c->end && *p >= '0' && *p <= '9') p++;
        if (p == d) return json_fail(c, "bad number");
    }
    char buf[64];
    if ((size_t)(p - s) >= sizeof buf) return json_fail(c, "number too long");
    memcpy(buf, s, (size_t)(p - s));
    buf[p - s] = '\0';
    *out = strtod(buf, NULL); /* overflow gives +-HUGE_VAL, which is what the text says */
    c->p = p;
    return true;
}

static bool json_literal(json_cursor *c, const char *word) {
    json_skip_ws(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return json_fail(c, "unexpected value");
    c->p += n;
    return true;
}

/* Skips any value (for fields this reader does not know). */
static bool json_skip_value(json_cursor *c, int depth) {
    if (depth > JSON_MAX_DEPTH) return json_fail(c, "nesting too deep");
    json_skip_ws(c);
    if (c->p >= c->end) return json_fail(c, "expected a value");
    char ch = *c->p;
    if (ch == '"') return json_string(c, NULL, 0);
    if (ch == 't') return json_literal(c, "true");
    if (ch == 'f') return json_literal(c, "false");
    if (ch == 'n') return json_literal(c, "null");
    if (ch != '{' && ch != '[') {
        double ignored;
        return json_number(c, &ignored);
    }
    char close = ch == '{' ? '}' : ']';
    c->p++;
    if (json_peek(c, close)) return c->p++, true;
    do {
        if (close == '}' && !(json_string(c, NULL, 0) && json_expect(c, ':', "expected ':'"))) return false;
        if (!json_skip_value(c, depth + 1)) return false;
    } while (json_peek(c, ',') && c->p++);
    return json_expect(c, close, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* A float field: a number or one of the strings "nan", "inf", "-inf" (JSON has no NaN). */
static bool json_float(json_cursor *c, double *out) {
    if (!json_peek(c, '"')) return json_number(c, out);
    char s[8];
    if (!json_string(c, s, sizeof s)) return false;
    if (strcmp(s, "nan") == 0) *out = NAN;
    else if (strcmp(s, "inf") == 0) *out = INFINITY;
    else if (strcmp(s, "-inf") == 0) *out = -INFINITY;
    else return json_fail(c, "expected a number, \"nan\", \"inf\" or \"-inf\"");
    return true;
}

static bool json_int(json_cursor *c, double lo, double hi, int64_t *out) {
    double v;
    if (!json_number(c, &v)) return false;
    if (v != floor(v) || v < lo || v > hi) return json_fail(c, "integer out of range");
    *out = (int64_t)v;
    return true;
}

/* An array of at most `max` elements, each read by `elem(c, i)`. */
static bool json_array(json_cursor *c, int max, int *count, void *ctx, bool (*elem)(json_cursor *, void *, int)) {
    *count = 0;
    if (!json_expect(c, '[', "expected an array")) return false;
    if (json_peek(c, ']')) return c->p++, true;
    do {
        if (*count >= max) return json_fail(c, "array too long");
        if (!elem(c, ctx, (*count)++)) return false;
    } while (json_peek(c, ',') && c->p++);
    return json_expect(c, ']', "expected ',' or ']'");
}

/* ==== trace records ==== */

static bool shape_elem(json_cursor *c, void *ctx, int i) {
    int64_t v;
    if (!json_int(c, 1, 9007199254740992.0, &v)) return false;
    ((bn_trace_entry *)ctx)->shape[i] = v;
    return true;
}

static bool first_elem(json_cursor *c, void *ctx, int i) {
    return json_float(c, &((bn_trace_entry *)ctx)->first[i]);
}

static bool int_field(json_cursor *c, int lo, int *out) {
    int64_t v;
    if (!json_int(c, lo, 2147483647.0, &v)) return false;
    *out = (int)v;
    return true;
}

static bool is_hash(const char *s) {
    if (strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (hex_value(s[i]) < 0 || (s[i] >= 'A' && s[i] <= 'F')) return false;
    return true;
}

enum {
    F_SHAPE = 1 << 0, F_BLAKE3 = 1 << 1, F_NUM = 1 << 2, F_SEQ = 1 << 3, F_LAYER = 1 << 4,
    F_STAGE = 1 << 5, F_BATCH_ID = 1 << 6, F_RMS = 1 << 7, F_MIN = 1 << 8, F_MAX = 1 << 9,
    F_MEAN = 1 << 10,
    F_REQUIRED = (1 << 11) - 1,
    F_NAME = 1 << 11, F_DTYPE = 1 << 12, F_BATCH_POS = 1 << 13, F_FIRST = 1 << 14, F_RAW = 1 << 15,
};

/* Reads the value of field `key` into e; returns its F_ bit (0 for an unknown, skipped field). */
static int read_field(json_cursor *c, const char *key, bn_trace_entry *e) {
    int64_t num = 0;
    bool ok;
    int bit;
    if (!strcmp(key, "shape")) bit = F_SHAPE, ok = json_array(c, BN_TRACE_MAX_DIMS, &e->n_dims, e, shape_elem);
    else if (!strcmp(key, "first")) bit = F_FIRST, ok = json_array(c, BN_TRACE_MAX_FIRST, &e->n_first, e, first_elem);
    else if (!strcmp(key, "blake3")) {
        bit = F_BLAKE3, ok = json_string(c, e->blake3, sizeof e->blake3);
        if (ok && !is_hash(e->blake3)) ok = json_fail(c, "blake3 is not 64 lowercase hex digits");
    } else if (!strcmp(key, "num_elements")) {
        bit = F_NUM, ok = json_int(c, 1, 9007199254740992.0, &num);
        e->num_elements = (uint64_t)num;
    } else if (!strcmp(key, "seq")) bit = F_SEQ, ok = int_field(c, 0, &e->seq);
    else if (!strcmp(key, "layer")) bit = F_LAYER, ok = int_field(c, -1, &e->layer);
    else if (!strcmp(key, "batch_id")) bit = F_BATCH_ID, ok = int_field(c, 0, &e->seq_id);
    else if (!strcmp(key, "batch_pos")) bit = F_BATCH_POS, ok = int_field(c, 0, &e->batch_pos);
    else if (!strcmp(key, "stage")) {
        bit = F_STAGE, ok = json_string(c, e->stage, sizeof e->stage);
        size_t n = strlen(e->stage);
        if (ok && (n == 0 || strspn(e->stage, "abcdefghijklmnopqrstuvwxyz0123456789_") != n))
            ok = json_fail(c, "stage must be [a-z0-9_]+");
    } else if (!strcmp(key, "rms")) bit = F_RMS, ok = json_float(c, &e->rms);
    else if (!strcmp(key, "min")) bit = F_MIN, ok = json_float(c, &e->min);
    else if (!strcmp(key, "max")) bit = F_MAX, ok = json_float(c, &e->max);
    else if (!strcmp(key, "mean")) bit = F_MEAN, ok = json_float(c, &e->mean);
    else if (!strcmp(key, "name")) bit = F_NAME, ok = json_string(c, e->name, sizeof e->name);
    else if (!strcmp(key, "dtype")) {
        char dtype[8];
        bit = F_DTYPE, ok = json_string(c, dtype, sizeof dtype);
        if (ok && strcmp(dtype, "f32") != 0) ok = json_fail(c, "dtype must be \"f32\"");
    } else if (!strcmp(key, "raw")) {
        bit = F_RAW;
        if (json_peek(c, 'n')) ok = json_literal(c, "null"), e->raw[0] = '\0';
        else ok = json_string(c, e->raw, sizeof e->raw);
        if (ok && (e->raw[0] == '/' || strstr(e->raw, "..")))
            ok = json_fail(c, "raw must be a path inside the trace folder");
    } else bit = 0, ok = json_skip_value(c, 1);
    return ok ? bit : -1;
}

static const char *check_entry(const bn_trace_entry *e, int seen) {
    if ((seen & F_REQUIRED) != F_REQUIRED) return "record lacks a required field";
    uint64_t n = 1;
    for (int i = 0; i < e->n_dims; i++)
        if (!bn_mul_u64(n, (uint64_t)e->shape[i], &n)) return "shape too large";
    if (n != e->num_elements) return "num_elements is not the product of shape";
    return NULL;
}

/* Parses one line into e; on failure returns a message and sets *column (1-based). */
static const char *parse_record(const char *line, size_t len, bn_trace_entry *e, long *column) {
    json_cursor c = {line, line, line + len, NULL, NULL};
    memset(e, 0, sizeof *e);
    int seen = 0;
    char key[64];
    if (json_expect(&c, '{', "expected '{'") && !json_peek(&c, '}')) {
        do {
            if (!json_string(&c, key, sizeof key) || !json_expect(&c, ':', "expected ':'")) break;
            int bit = read_field(&c, key, e);
            if (bit < 0) break;
            if (seen & bit) {
                json_fail(&c, "field given twice");
                break;
            }
            seen |= bit;
        } while (json_peek(&c, ',') && c.p++);
    }
    if (!c.err) json_expect(&c, '}', "expected ',' or '}'");
    if (!c.err && (json_skip_ws(&c), c.p != c.end)) json_fail(&c, "text after the record");
    const char *err = c.err ? c.err : check_entry(e, seen);
    *column = (long)((c.err ? c.err_at : c.p) - line) + 1;
    return err;
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = bn_malloc(n, "trace path");
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static int read_lines(FILE *f, const char *path, bn_trace *t) {
    char *line = NULL;
    size_t line_cap = 0, cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        if (len > TRACE_MAX_LINE) {
            rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s:%ld: line too long", path, lineno);
        } else if (memchr(line, '\0', (size_t)len)) {
            rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s:%ld: NUL byte in line", path, lineno);
        } else if (!blank(line, (size_t)len)) {
            if (t->n == cap) {
                cap = cap ? 2 * cap : 256;
                bn_trace_entry *grown = realloc(t->entries, cap * sizeof *grown);
                if (!grown) {
                    rc = bn_error(BITNET_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
                    break;
                }
                t->entries = grown;
            }
            long column;
            const char *err = parse_record(line, (size_t)len, &t->entries[t->n], &column);
            if (err) rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s:%ld: column %ld: %s", path, lineno, column, err);
            else t->entries[t->n++].line = lineno;
        }
    }
    if (rc == 0 && ferror(f)) rc = bn_error(BITNET_ERR_IO, "%s: read error", path);
    free(line);
    return rc;
}

int bn_trace_read(const char *dir, bn_trace *out) {
    memset(out, 0, sizeof *out);
    char *path = join_path(dir, "trace.jsonl");
    if (!path) return BITNET_ERR_OUT_OF_MEMORY;
    FILE *f = fopen(path, "rb");
    int rc;
    if (!f) {
        rc = bn_error(errno == ENOENT ? BITNET_ERR_NOT_FOUND : BITNET_ERR_IO, "%s: %s", path, strerror(errno));
    } else {
        out->dir = bn_strdup(dir);
        rc = out->dir ? read_lines(f, path, out) : BITNET_ERR_OUT_OF_MEMORY;
        fclose(f);
    }
    free(path);
    if (rc) bn_trace_free(out);
    return rc;
}

void bn_trace_free(bn_trace *t) {
    free(t->entries);
    free(t->dir);
    memset(t, 0, sizeof *t);
}

/* ==== execution order ==== */

/* 0: layer -1 "embed"; 1: the layers; 2: layer -1 after the layers (output_norm, logits). */
static int layer_phase(int layer, const char *stage) {
    if (layer >= 0) return 1;
    return strcmp(stage, "embed") == 0 ? 0 : 2;
}

static int stage_rank(const char *stage) {
    int i = bn_trace_stage_index(stage);
    return i >= 0 ? i : BN_TRACE_STAGE_COUNT;
}

#define CMP_FIELD(x, y) if ((x) != (y)) return (x) < (y) ? -1 : 1

static int key_cmp(int seq_id_a, int seq_a, int layer_a, const char *stage_a,
                   int seq_id_b, int seq_b, int layer_b, const char *stage_b) {
    CMP_FIELD(seq_a, seq_b);
    CMP_FIELD(seq_id_a, seq_id_b);
    CMP_FIELD(layer_phase(layer_a, stage_a), layer_phase(layer_b, stage_b));
    CMP_FIELD(layer_a, layer_b);
    CMP_FIELD(stage_rank(stage_a), stage_rank(stage_b));
    return strcmp(stage_a, stage_b);
}

static int entry_key_cmp(const bn_trace_entry *a, const bn_trace_entry *b) {
    return key_cmp(a->seq_id, a->seq, a->layer, a->stage, b->seq_id, b->seq, b->layer, b->stage);
}

/* qsort comparator: execution order, then file order (so the last duplicate comes last). */
static int entry_sort_cmp(const void *pa, const void *pb) {
    const bn_trace_entry *a = pa, *b = pb;
    int c = entry_key_cmp(a, b);
    if (c) return c;
    return a->line < b->line ? -1 : a->line > b->line;
}

/* Sorts into execution order and keeps the last record of each key; returns how many went. */
static size_t sort_and_dedupe(bn_trace *t) {
    if (t->n == 0) return 0;
    qsort(t->entries, t->n, sizeof *t->entries, entry_sort_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (kept > 0 && entry_key_cmp(&t->entries[kept - 1], &t->entries[i]) == 0) t->entries[kept - 1] = t->entries[i];
        else t->entries[kept++] = t->entries[i];
    }
    size_t dropped = t->n - kept;
    t->n = kept;
    return dropped;
}

/* ==== comparing one pair ==== */

static bool within(double a, double b, const bn_trace_diff_options *o) {
    if (a == b || (isnan(a) && isnan(b))) return true;
    return fabs(a - b) <= o->atol + o->rtol * fabs(b); /* false for NaN vs number, inf vs other */
}

static bool same_shape(const bn_trace_entry *a, const bn_trace_entry *b) {
    if (a->n_dims != b->n_dims) return false;
    for (int i = 0; i < a->n_dims; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* Loads a record's raw dump (num_elements little-endian f32) and checks it against the
 * record's hash, so that a dump overwritten by a later run is not silently compared. */
static int load_raw(const char *dir, const bn_trace_entry *e, float **out) {
    *out = NULL;
    char *path = join_path(dir, e->raw);
    if (!path) return BITNET_ERR_OUT_OF_MEMORY;
    int rc = 0;
    uint64_t bytes = e->num_elements * 4;
    uint8_t *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: %s (raw dump of %s, line %ld)", path, strerror(errno), e->name, e->line);
    } else if (bytes > SIZE_MAX || !(buf = bn_malloc((size_t)bytes + 1, "raw dump"))) {
        rc = BITNET_ERR_OUT_OF_MEMORY;
    } else if (fread(buf, 1, (size_t)bytes + 1, f) != bytes) {
        rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: size is not %llu bytes (%llu f32 values of its record)",
                      path, (unsigned long long)bytes, (unsigned long long)e->num_elements);
    } else {
        char hex[65];
        bn_blake3_hex(buf, (size_t)bytes, hex);
        if (strcmp(hex, e->blake3) != 0)
            rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: contents do not match the record's blake3 (stale dump?)", path);
    }
    if (f) fclose(f);
    free(path);
    float *v = rc ? NULL : bn_malloc((size_t)e->num_elements * sizeof *v, "raw dump");
    if (!rc && !v) rc = BITNET_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; !rc && i < e->num_elements; i++) {
        const uint8_t *p = buf + 4 * i;
        uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        memcpy(&v[i], &u, 4);
    }
    free(buf);
    *out = v;
    return rc;
}

typedef struct pair_verdict {
    bn_trace_divergence_kind kind;
    bool has_raw;
    double max_abs_diff, cosine;
} pair_verdict;

static void raw_difference(const float *a, const float *b, uint64_t n, pair_verdict *v) {
    double dot = 0, na = 0, nb = 0, worst = 0;
    for (uint64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) worst = NAN; /* stays NaN: NaN > x is false */
        else if (d > worst) worst = d;
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    v->has_raw = true;
    v->max_abs_diff = worst;
    v->cosine = na == 0 && nb == 0 ? 1.0 : (na == 0 || nb == 0) ? 0.0 : dot / (sqrt(na) * sqrt(nb));
}

static bool raw_within(const float *a, const float *b, uint64_t n, const bn_trace_diff_options *o) {
    for (uint64_t i = 0; i < n; i++)
        if (!within(a[i], b[i], o)) return false;
    return true;
}

static bool stats_within(const bn_trace_entry *a, const bn_trace_entry *b, const bn_trace_diff_options *o) {
    return within(a->rms, b->rms, o) && within(a->min, b->min, o) && within(a->max, b->max, o) &&
           within(a->mean, b->mean, o);
}

/* Judges one pair. Raw dumps are read when the tolerance test needs them, or (want_detail)
 * to give max |diff| and cosine for a divergence. */
static int compare_pair(const char *dir_a, const bn_trace_entry *a, const char *dir_b, const bn_trace_entry *b,
                        const bn_trace_diff_options *o, bool want_detail, pair_verdict *v, bool *by_stats) {
    memset(v, 0, sizeof *v);
    *by_stats = false;
    bool both_raw = a->raw[0] && b->raw[0];
    if (!same_shape(a, b)) v->kind = BN_TRACE_DIFF_SHAPE;
    else if (!o->tolerance) v->kind = strcmp(a->blake3, b->blake3) ? BN_TRACE_DIFF_HASH : BN_TRACE_SAME;
    else if (!both_raw) {
        *by_stats = true;
        v->kind = stats_within(a, b, o) ? BN_TRACE_SAME : BN_TRACE_DIFF_STATS;
    }
    bool need_raw = both_raw && v->kind != BN_TRACE_DIFF_SHAPE && (o->tolerance || (want_detail && v->kind != BN_TRACE_SAME));
    if (!need_raw) return 0;
    float *ra, *rb = NULL;
    int rc = load_raw(dir_a, a, &ra);
    if (!rc) rc = load_raw(dir_b, b, &rb);
    if (!rc) {
        if (o->tolerance) v->kind = raw_within(ra, rb, a->num_elements, o) ? BN_TRACE_SAME : BN_TRACE_DIFF_VALUES;
        if (v->kind != BN_TRACE_SAME) raw_difference(ra, rb, a->num_elements, v);
    }
    free(ra);
    free(rb);
    return rc;
}

/* ==== the walk ==== */

static void entry_key(const bn_trace_entry *e, bn_trace_key *k) {
    k->seq_id = e->seq_id;
    k->seq = e->seq;
    k->layer = e->layer;
    snprintf(k->stage, sizeof k->stage, "%s", e->stage);
}

static void note_missing(const bn_trace_entry *e, size_t *count, bn_trace_key *listed) {
    if (*count < BN_TRACE_DIFF_LISTED) entry_key(e, &listed[*count]);
    (*count)++;
}

static int walk(const bn_trace *ta, const bn_trace *tb, const bn_trace_diff_options *o, bn_trace_diff_result *r) {
    size_t i = 0, j = 0;
    while (i < ta->n || j < tb->n) {
        int c = i == ta->n ? 1 : j == tb->n ? -1 : entry_key_cmp(&ta->entries[i], &tb->entries[j]);
        if (c < 0) {
            note_missing(&ta->entries[i++], &r->only_a, r->only_a_listed);
            continue;
        }
        if (c > 0) {
            note_missing(&tb->entries[j++], &r->only_b, r->only_b_listed);
            continue;
        }
        const bn_trace_entry *a = &ta->entries[i++], *b = &tb->entries[j++];
        pair_verdict v;
        bool by_stats;
        int rc = compare_pair(ta->dir, a, tb->dir, b, o, r->diverged == 0, &v, &by_stats);
        if (rc) return rc;
        r->compared++;
        r->stats_fallback += by_stats;
        if (v.kind == BN_TRACE_SAME) {
            r->matched++;
            continue;
        }
        if (r->diverged++ == 0) {
            r->first.kind = v.kind;
            r->first.a = *a;
            r->first.b = *b;
            r->first.has_raw = v.has_raw;
            r->first.max_abs_diff = v.max_abs_diff;
            r->first.cosine = v.cosine;
        }
    }
    return 0;
}

int bn_trace_diff(const char *dir_a, const char *dir_b, const bn_trace_diff_options *opt,
                  bn_trace_diff_result *res) {
    memset(res, 0, sizeof *res);
    if (opt->tolerance && !(opt->rtol >= 0 && opt->atol >= 0))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "trace-diff: tolerances must be >= 0");
    bn_trace ta, tb;
    int rc = bn_trace_read(dir_a, &ta);
    if (rc) return rc;
    rc = bn_trace_read(dir_b, &tb);
    if (rc) {
        bn_trace_free(&ta);
        return rc;
    }
    res->duplicates_a = sort_and_dedupe(&ta);
    res->duplicates_b = sort_and_dedupe(&tb);
    res->records_a = ta.n;
    res->records_b = tb.n;
    rc = walk(&ta, &tb, opt, res);
    bn_trace_free(&ta);
    bn_trace_free(&tb);
    return rc;
}

int bn_trace_diff_exit_code(const bn_trace_diff_result *res, const bn_trace_diff_options *opt) {
    if (res->diverged) return 1;
    if ((res->only_a || res->only_b) && !opt->allow_missing) return 1;
    return 0;
}

void bn_trace_key_name(const bn_trace_key *k, char *out, size_t cap) {
    if (k->layer >= 0) snprintf(out, cap, "blk%d/%s", k->layer, k->stage);
    else snprintf(out, cap, "%s", k->stage);
}

const char *bn_trace_divergence_name(bn_trace_divergence_kind kind) {
    switch (kind) {
    case BN_TRACE_SAME: return "same";
    case BN_TRACE_DIFF_SHAPE: return "shape";
    case BN_TRACE_DIFF_HASH: return "hash";
    case BN_TRACE_DIFF_VALUES: return "values";
    case BN_TRACE_DIFF_STATS: return "stats";
    }
    return "?";
}
