/* json: strict JSON reader into a tree of nodes (see json.h). Recursive descent, depth-limited;
 * every read is bounds-checked against the input length. */
#include "formats/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct {
    const char *s;
    size_t len, pos;
    const char *name;
    int depth;
} parser;

static int fail(parser *p, const char *what) {
    return bn_error(BITNET_ERR_LOAD_FAILED, "%s: offset %zu: %s", p->name, p->pos, what);
}

static void skip_ws(parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static bool take(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n)) return false;
    p->pos += n;
    return true;
}

/* ---- strings ---- */

typedef struct { char *b; size_t n, cap; } buf;

static int buf_put(buf *b, const char *src, size_t n) {
    if (b->cap - b->n <= n) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap - b->n <= n) {
            if (cap > SIZE_MAX / 2) return bn_error(BITNET_ERR_OUT_OF_MEMORY, "json string too long");
            cap *= 2;
        }
        char *nb = realloc(b->b, cap);
        if (!nb) return bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory reading a json string");
        b->b = nb, b->cap = cap;
    }
    memcpy(b->b + b->n, src, n);
    b->n += n;
    b->b[b->n] = 0;
    return 0;
}

static int hex4(parser *p, unsigned *out) {
    if (p->len - p->pos < 4) return fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
        if (d == 16) return fail(p, "bad hex digit in \\u escape");
        v = v * 16 + d;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static size_t utf8_encode(unsigned cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* \uXXXX (after the backslash-u), with a following low surrogate when it is a high one. */
static int unicode_escape(parser *p, buf *b) {
    unsigned cp, lo;
    if (hex4(p, &cp)) return -1;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p, "lone low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (!take(p, "\\u")) return fail(p, "high surrogate not followed by \\u");
        if (hex4(p, &lo)) return -1;
        if (lo < 0xDC00 || lo > 0xDFFF) return fail(p, "high surrogate not followed by a low surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    char u[4];
    return buf_put(b, u, utf8_encode(cp, u));
}

/* Parses a string (p->pos at the opening quote) into a new NUL-terminated buffer. */
static int parse_string(parser *p, char **out, size_t *out_len) {
    buf b = {0};
    p->pos++;
    int rc = buf_put(&b, "", 0);
    while (!rc) {
        size_t start = p->pos;
        while (p->pos < p->len && p->s[p->pos] != '"' && p->s[p->pos] != '\\' && (unsigned char)p->s[p->pos] >= 0x20) p->pos++;
        if ((rc = buf_put(&b, p->s + start, p->pos - start))) break;
        if (p->pos >= p->len) { rc = fail(p, "unterminated string"); break; }
        char c = p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c != '\\') { rc = fail(p, "control character in a string"); break; }
        if (++p->pos >= p->len) { rc = fail(p, "unterminated escape"); break; }
        char e = p->s[p->pos++];
        static const char esc[] = "\"\\/bfnrt", map[] = "\"\\/\b\f\n\r\t";
        const char *plain = e ? strchr(esc, e) : NULL;
        if (e == 'u') rc = unicode_escape(p, &b);
        else if (plain) rc = buf_put(&b, &map[plain - esc], 1);
        else { p->pos--; rc = fail(p, "unknown escape in a string"); }
    }
    if (rc) { free(b.b); return rc; }
    *out = b.b, *out_len = b.n;
    return 0;
}

/* ---- numbers ---- */

static int parse_number(parser *p, bn_json *v) {
    size_t start = p->pos, i = p->pos;
    bool neg = i < p->len && p->s[i] == '-', frac = false;
    if (neg) i++;
    size_t int_start = i;
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    if (i == int_start || (p->s[int_start] == '0' && i - int_start > 1)) return fail(p, "malformed number");
    size_t int_end = i;
    if (i < p->len && p->s[i] == '.') {
        size_t d = ++i;
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
        if (i == d) return fail(p, "malformed number (no digits after '.')");
        frac = true;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-')) i++;
        size_t d = i;
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
        if (i == d) return fail(p, "malformed number (no exponent digits)");
        frac = true;
    }
    char tmp[64];
    size_t n = i - start;
    if (n >= sizeof tmp) {
        /* Longer than any double needs; keep the value finite-or-refused via strtod on a copy. */
        char *big = bn_malloc(n + 1, "json number");
        if (!big) return BITNET_ERR_OUT_OF_MEMORY;
        memcpy(big, p->s + start, n);
        big[n] = 0;
        v->num = strtod(big, NULL);
        free(big);
    } else {
        memcpy(tmp, p->s + start, n);
        tmp[n] = 0;
        v->num = strtod(tmp, NULL);
    }
    if (!isfinite(v->num)) return fail(p, "number out of range");
    if (!neg && !frac && int_end - int_start <= 20) {
        uint64_t u = 0;
        bool ok = true;
        for (size_t k = int_start; k < int_end && ok; k++)
            ok = bn_mul_u64(u, 10, &u) && bn_add_u64(u, (uint64_t)(p->s[k] - '0'), &u);
        v->is_uint = ok, v->u = ok ? u : 0;
    }
    v->type = BN_JSON_NUMBER;
    p->pos = i;
    return 0;
}

/* ---- values ---- */

static int parse_value(parser *p, bn_json *v);

/* Appends a zeroed node to (*items, *n), growing the array; returns it or NULL. */
static bn_json *push(bn_json **items, size_t *n, size_t *cap) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        bn_json *ni = nc <= SIZE_MAX / sizeof *ni ? realloc(*items, nc * sizeof *ni) : NULL;
        if (!ni) {
            bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory reading json");
            return NULL;
        }
        *items = ni, *cap = nc;
    }
    bn_json *e = &(*items)[(*n)++];
    memset(e, 0, sizeof *e);
    return e;
}

/* Array or object (p->pos at '[' or '{'). */
static int parse_container(parser *p, bn_json *v, bool object) {
    char close = object ? '}' : ']';
    size_t cap = 0;
    v->type = object ? BN_JSON_OBJECT : BN_JSON_ARRAY;
    if (++p->depth > BN_JSON_MAX_DEPTH) return fail(p, "nesting deeper than 64 levels");
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return 0;
    }
    for (;;) {
        skip_ws(p);
        bn_json *e = push(&v->items, &v->n, &cap);
        if (!e) return BITNET_ERR_OUT_OF_MEMORY;
        if (object) {
            if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "expected a member name");
            if (parse_string(p, &e->key, &e->key_len)) return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, "expected ':' after a member name");
            p->pos++;
        }
        if (parse_value(p, e)) return -1;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->len && p->s[p->pos] == close) { p->pos++; break; }
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    p->depth--;
    return 0;
}

static int parse_value(parser *p, bn_json *v) {
    skip_ws(p);
    v->offset = p->pos;
    if (p->pos >= p->len) return fail(p, "unexpected end of input");
    char c = p->s[p->pos];
    if (c == '{' || c == '[') return parse_container(p, v, c == '{');
    if (c == '"') {
        v->type = BN_JSON_STRING;
        return parse_string(p, &v->str, &v->str_len);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, v);
    if (take(p, "true")) { v->type = BN_JSON_BOOL; v->b = true; return 0; }
    if (take(p, "false")) { v->type = BN_JSON_BOOL; return 0; }
    if (take(p, "null")) { v->type = BN_JSON_NULL; return 0; }
    return fail(p, "unexpected character");
}

static void free_node(bn_json *v) {
    for (size_t i = 0; i < v->n; i++) free_node(&v->items[i]);
    free(v->items);
    free(v->key);
    free(v->str);
}

void bn_json_free(bn_json *v) {
    if (!v) return;
    free_node(v);
    free(v);
}

bn_json *bn_json_parse(const char *text, size_t len, const char *name) {
    parser p = {text, len, 0, name ? name : "(json)", 0};
    bn_json *root = calloc(1, sizeof *root);
    if (!root) {
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory reading json");
        return NULL;
    }
    if (!text && len) {
        free(root);
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "bn_json_parse: text is NULL");
        return NULL;
    }
    int rc = parse_value(&p, root);
    if (!rc) {
        skip_ws(&p);
        if (p.pos != p.len) rc = fail(&p, "trailing bytes after the JSON value");
    }
    if (rc) {
        bn_json_free(root);
        return NULL;
    }
    return root;
}

bn_json *bn_json_parse_file(const char *path, size_t max_bytes) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        bn_error(BITNET_ERR_LOAD_FAILED, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    buf b = {0};
    char chunk[65536];
    size_t got;
    int rc = buf_put(&b, "", 0);
    while (!rc && (got = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (b.n + got > max_bytes) rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: larger than %zu bytes", path, max_bytes);
        else rc = buf_put(&b, chunk, got);
    }
    if (!rc && ferror(fp)) rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: read error", path);
    fclose(fp);
    bn_json *v = rc ? NULL : bn_json_parse(b.b, b.n, path);
    free(b.b);
    return v;
}

/* ---- lookups ---- */

const bn_json *bn_json_get(const bn_json *v, const char *key) {
    if (!v || v->type != BN_JSON_OBJECT || !key) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i].key_len == kl && !memcmp(v->items[i].key, key, kl)) return &v->items[i];
    return NULL;
}

const char *bn_json_get_str(const bn_json *v, const char *key) {
    const bn_json *m = bn_json_get(v, key);
    return m && m->type == BN_JSON_STRING ? m->str : NULL;
}

bool bn_json_get_num(const bn_json *v, const char *key, double *out) {
    const bn_json *m = bn_json_get(v, key);
    if (!m || m->type != BN_JSON_NUMBER) return false;
    *out = m->num;
    return true;
}

bool bn_json_get_int(const bn_json *v, const char *key, int64_t min, int64_t max, int64_t *out) {
    double d;
    if (!bn_json_get_num(v, key, &d) || d != floor(d) || d < (double)min || d > (double)max) return false;
    *out = (int64_t)d;
    return true;
}

bool bn_json_get_bool(const bn_json *v, const char *key, bool *out) {
    const bn_json *m = bn_json_get(v, key);
    if (!m || m->type != BN_JSON_BOOL) return false;
    *out = m->b;
    return true;
}

const bn_json *bn_json_pointer(const bn_json *doc, const char *pointer) {
    const bn_json *at = doc;
    for (const char *p = pointer; at && *p == '/';) {
        char seg[256];
        size_t n = 0;
        for (p++; *p && *p != '/'; p++) {
            char ch = *p;
            if (ch == '~' && (p[1] == '0' || p[1] == '1')) ch = *++p == '0' ? '~' : '/';
            if (n + 1 < sizeof seg) seg[n++] = ch;
        }
        seg[n] = '\0';
        if (at->type == BN_JSON_ARRAY) {
            char *end;
            unsigned long i = strtoul(seg, &end, 10);
            at = *seg && !*end && i < at->n ? &at->items[i] : NULL;
        } else at = bn_json_get(at, seg);
    }
    return *pointer && *pointer != '/' ? NULL : at;
}
