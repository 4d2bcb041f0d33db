/* json_validate: an independent JSON Schema validator over the schema's own tree (formats/json),
 * for the keywords src/text/json_schema enforces, with JSON Schema's meanings and nothing of
 * that compiler's (no property order, no first bytes, no merging of alternatives): anyOf is at
 * least one match, oneOf exactly one, allOf every one; $ref follows any local JSON pointer.
 * test_json_schema and the fuzz target fuzz_json_schema check with it that every text the
 * compiler's state calls complete is valid. */
#ifndef BITNET_TEST_JSON_VALIDATE_H
#define BITNET_TEST_JSON_VALIDATE_H

#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json.h"

/* The value a local reference ("#", "#/a/b~1c/0") points at; NULL when none. */
static inline const bn_json *json_validate_ref(const bn_json *root, const char *ref) {
    return ref[0] == '#' ? bn_json_pointer(root, ref + 1) : NULL;
}

static inline bool json_validate_same(const bn_json *a, const bn_json *b) {
    if (a->type != b->type) return false;
    if (a->type == BN_JSON_STRING) return a->str_len == b->str_len && !memcmp(a->str, b->str, a->str_len);
    if (a->type == BN_JSON_NUMBER) return a->num == b->num;
    return a->type != BN_JSON_BOOL || a->b == b->b;
}

static inline bool json_validate_type(const bn_json *t, const bn_json *v) {
    static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
    size_t n = t->type == BN_JSON_ARRAY ? t->n : 1;
    for (size_t i = 0; i < n; i++) {
        const bn_json *one = t->type == BN_JSON_ARRAY ? &t->items[i] : t;
        if (one->type != BN_JSON_STRING) continue;
        if (!strcmp(one->str, names[v->type]) || (!strcmp(one->str, "integer") && v->type == BN_JSON_NUMBER && v->num == floor(v->num)))
            return true;
    }
    return false;
}

static inline bool json_validate_bounds(const bn_json *s, double x) {
    const bn_json *emin = bn_json_get(s, "exclusiveMinimum"), *emax = bn_json_get(s, "exclusiveMaximum");
    double lim;
    bool min_open = emin && emin->type == BN_JSON_BOOL && emin->b, max_open = emax && emax->type == BN_JSON_BOOL && emax->b;
    if (bn_json_get_num(s, "minimum", &lim) && (x < lim || (min_open && x == lim))) return false;
    if (bn_json_get_num(s, "maximum", &lim) && (x > lim || (max_open && x == lim))) return false;
    if (bn_json_get_num(s, "exclusiveMinimum", &lim) && x <= lim) return false;
    if (bn_json_get_num(s, "multipleOf", &lim)) { /* x / multipleOf whole, up to the rounding of decimals in binary */
        double q = x / lim;
        if (fabs(q - round(q)) > 1e-9 * fmax(1, fabs(q))) return false;
    }
    return !(bn_json_get_num(s, "exclusiveMaximum", &lim) && x >= lim);
}

static inline size_t json_validate_chars(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xc0) != 0x80;
    return k;
}

/* The formats json_schema enforces, checked here the plain way: a pattern of digits ('9'), hex
 * digits ('f') and literal bytes, then the ranges of the numbers in it. */
static inline bool json_validate_shape(const char *t, size_t n, const char *pattern) {
    if (n != strlen(pattern)) return false;
    for (size_t i = 0; i < n; i++) {
        char p = pattern[i], c = t[i];
        bool ok = p == '9' ? (c >= '0' && c <= '9') : p == 'f' ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) : c == p;
        if (!ok) return false;
    }
    return true;
}

static inline bool json_validate_date(const char *t, size_t n) {
    int y, m, d;
    if (!json_validate_shape(t, n, "9999-99-99") || sscanf(t, "%4d-%2d-%2d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1) return false;
    int dim = m == 2 ? ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28) : (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31;
    return d <= dim;
}

static inline bool json_validate_time(const char *t, size_t n) {
    int h, m, sec;
    if (n < 9 || !json_validate_shape(t, 8, "99:99:99") || sscanf(t, "%2d:%2d:%2d", &h, &m, &sec) != 3 || h > 23 || m > 59 || sec > 59)
        return false;
    size_t p = 8;
    if (t[p] == '.') {
        size_t f = ++p;
        while (p < n && t[p] >= '0' && t[p] <= '9') p++;
        if (p == f) return false;
    }
    if (p < n && t[p] == 'Z') return p + 1 == n;
    if (p >= n || (t[p] != '+' && t[p] != '-') || !json_validate_shape(t + p + 1, n - p - 1, "99:99")) return false;
    return sscanf(t + p + 1, "%2d:%2d", &h, &m) == 2 && h <= 23 && m <= 59;
}

static inline bool json_validate_put(char *out, size_t *n, size_t cap, const char *s) {
    size_t l = strlen(s);
    if (*n + l + 1 > cap) return false;
    memcpy(out + *n, s, l);
    *n += l;
    return true;
}

/* ECMA-262 pattern -> POSIX extended regex (regcomp), for the subset json_regex reads; false
 * when it cannot translate (the check is then skipped). */
static inline bool json_validate_ere(const char *p, char *out, size_t cap) {
    size_t n = 0;
    bool in_class = false, ok = true, quantified = false; /* quantified: the last thing out was a quantifier */
    for (; *p && ok; p++) {
        char one[3] = {*p, 0, 0};
        bool was_quantified = quantified;
        quantified = false;
        if (*p == '\\' && p[1]) {
            char e = *++p;
            const char *out_class = e == 'd' ? "0-9" : e == 'w' ? "A-Za-z0-9_" : e == 's' ? "[:space:]" : NULL;
            const char *out_plain = e == 'd' ? "[0-9]" : e == 'D' ? "[^0-9]" : e == 'w' ? "[A-Za-z0-9_]" : e == 'W' ? "[^A-Za-z0-9_]"
                                    : e == 's' ? "[[:space:]]" : e == 'S' ? "[^[:space:]]" : NULL;
            if (e == 'x' || e == 'u') {
                int digits = e == 'x' ? 2 : 4, v = 0;
                for (int k = 0; k < digits && p[1]; k++) {
                    char h = *++p;
                    v = v * 16 + (h >= '0' && h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
                }
                if (v < 0x20 || v > 0x7e || in_class) return false;
                one[0] = '\\', one[1] = (char)v;
                ok = json_validate_put(out, &n, cap, one);
            } else if (in_class) {
                if (!out_class) return false;
                ok = json_validate_put(out, &n, cap, out_class);
            } else if (out_plain) {
                ok = json_validate_put(out, &n, cap, out_plain);
            } else {
                if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) return false;
                one[0] = '\\', one[1] = e;
                ok = json_validate_put(out, &n, cap, one);
            }
            continue;
        }
        if (!in_class && *p == '(' && p[1] == '?' && p[2] == ':') {
            ok = json_validate_put(out, &n, cap, "(");
            p += 2;
            continue;
        }
        if (!in_class && *p == '?' && was_quantified) continue; /* lazy */
        if (!in_class && strchr("*+?}", *p)) quantified = true;
        if (!in_class && *p == '[') {
            in_class = true;
            ok = json_validate_put(out, &n, cap, "[");
            if (p[1] == '^') ok = ok && json_validate_put(out, &n, cap, "^"), p++;
            if (p[1] == ']') return false;
            continue;
        }
        if (in_class && *p == ']') in_class = false;
        ok = json_validate_put(out, &n, cap, one);
    }
    out[n] = '\0';
    return ok && !in_class;
}

static inline bool json_validate_pattern(const char *pattern, const char *str) {
    char ere[4096];
    regex_t re;
    int quantifiers = 0;
    for (const char *q = pattern; *q; q++) quantifiers += *q == '\\' ? (q[1] ? (q++, 0) : 0) : strchr("*+?{", *q) != NULL;
    if (quantifiers > 6) return true; /* not checked: glibc's matcher can take seconds on nested closures */
    if (!json_validate_ere(pattern, ere, sizeof ere) || regcomp(&re, ere, REG_EXTENDED | REG_NOSUB)) return true; /* not checked */
    bool ok = regexec(&re, str, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static inline bool json_validate_format(const char *format, const char *t, size_t n) {
    if (!strcmp(format, "date")) return json_validate_date(t, n);
    if (!strcmp(format, "time")) return json_validate_time(t, n);
    if (!strcmp(format, "date-time")) return n > 11 && t[10] == 'T' && json_validate_date(t, 10) && json_validate_time(t + 11, n - 11);
    if (!strcmp(format, "uuid")) return json_validate_shape(t, n, "ffffffff-ffff-ffff-ffff-ffffffffffff");
    return true;
}

static inline bool json_validates_at(const bn_json *root, const bn_json *s, const bn_json *v, int depth);

static inline bool json_validate_members(const bn_json *root, const bn_json *s, const bn_json *v, int depth) {
    const bn_json *props = bn_json_get(s, "properties"), *req = bn_json_get(s, "required"), *add = bn_json_get(s, "additionalProperties");
    for (size_t i = 0; req && i < req->n; i++)
        if (req->items[i].type == BN_JSON_STRING && !bn_json_get(v, req->items[i].str)) return false;
    double lim;
    if ((bn_json_get_num(s, "minProperties", &lim) && v->n < lim) || (bn_json_get_num(s, "maxProperties", &lim) && v->n > lim)) return false;
    for (size_t i = 0; i < v->n; i++) {
        const bn_json *m = &v->items[i], *ps = props ? bn_json_get(props, m->key) : NULL;
        if (ps ? !json_validates_at(root, ps, m, depth + 1) : add && !json_validates_at(root, add, m, depth + 1)) return false;
    }
    return true;
}

static inline bool json_validates_at(const bn_json *root, const bn_json *s, const bn_json *v, int depth) {
    if (depth > 200 || !s) return false;
    if (s->type == BN_JSON_BOOL) return s->b;
    if (s->type != BN_JSON_OBJECT) return false;
    const char *ref = bn_json_get_str(s, "$ref");
    if (ref && !json_validates_at(root, json_validate_ref(root, ref), v, depth + 1)) return false;
    const bn_json *all = bn_json_get(s, "allOf"), *any = bn_json_get(s, "anyOf"), *one = bn_json_get(s, "oneOf");
    for (size_t i = 0; all && i < all->n; i++)
        if (!json_validates_at(root, &all->items[i], v, depth + 1)) return false;
    int matches = 0;
    for (size_t i = 0; any && i < any->n; i++) matches += json_validates_at(root, &any->items[i], v, depth + 1);
    if (any && !matches) return false;
    matches = 0;
    for (size_t i = 0; one && i < one->n; i++) matches += json_validates_at(root, &one->items[i], v, depth + 1);
    if (one && matches != 1) return false;
    const bn_json *t = bn_json_get(s, "type"), *en = bn_json_get(s, "enum"), *cn = bn_json_get(s, "const");
    if (t && !json_validate_type(t, v)) return false;
    bool in_enum = !en;
    for (size_t i = 0; en && i < en->n; i++) in_enum |= json_validate_same(&en->items[i], v);
    if (!in_enum || (cn && !json_validate_same(cn, v))) return false;
    double lim;
    if (v->type == BN_JSON_NUMBER && !json_validate_bounds(s, v->num)) return false;
    if (v->type == BN_JSON_STRING) {
        size_t n = json_validate_chars(v->str, v->str_len);
        const char *format = bn_json_get_str(s, "format");
        if (format && !json_validate_format(format, v->str, v->str_len)) return false;
        const char *pattern = bn_json_get_str(s, "pattern");
        if (pattern && !json_validate_pattern(pattern, v->str)) return false;
        if ((bn_json_get_num(s, "minLength", &lim) && n < lim) || (bn_json_get_num(s, "maxLength", &lim) && n > lim)) return false;
    }
    if (v->type == BN_JSON_ARRAY) {
        if ((bn_json_get_num(s, "minItems", &lim) && v->n < lim) || (bn_json_get_num(s, "maxItems", &lim) && v->n > lim)) return false;
        bool unique;
        if (bn_json_get_bool(s, "uniqueItems", &unique) && unique)
            for (size_t i = 0; i < v->n; i++)
                for (size_t j = i + 1; j < v->n; j++)
                    if (v->items[i].type != BN_JSON_ARRAY && v->items[i].type != BN_JSON_OBJECT && json_validate_same(&v->items[i], &v->items[j]))
                        return false;
        const bn_json *items = bn_json_get(s, "items"), *prefix = bn_json_get(s, "prefixItems");
        size_t n_prefix = prefix && prefix->type == BN_JSON_ARRAY ? prefix->n : 0;
        for (size_t i = 0; i < v->n; i++) {
            const bn_json *schema = i < n_prefix ? &prefix->items[i] : items;
            if (schema && !json_validates_at(root, schema, &v->items[i], depth + 1)) return false;
        }
    }
    return v->type != BN_JSON_OBJECT || json_validate_members(root, s, v, depth);
}

/* Whether value v is valid against schema s, whose document is root. */
static inline bool json_validates(const bn_json *root, const bn_json *s, const bn_json *v) { return json_validates_at(root, s, v, 0); }

#endif
