/* json_schema: the schema compiler and the byte-level check against it (see json_schema.h).
 *
 * A compiled schema is an array of nodes, one per subschema, referring to each other by index
 * (so "$ref" cycles are plain edges). Each node knows the bytes a value of it may start with;
 * a value's first byte picks the node's anyOf alternative, so the state never follows two
 * alternatives at once. Listed property keys and enum values are kept as the exact bytes of
 * their shortest JSON form (enum values sorted, so the values matching a prefix are a range). */
#include "text/json_schema.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json.h"
#include "text/json_format.h"
#include "text/json_regex.h"
#include "util.h"

#define NONE 0xffffu
#define MAX_REF_CHAIN 32
#define MAX_ALTS 64
#define MAX_NESTING 64

enum {
    T_OBJECT = 1, T_ARRAY = 2, T_STRING = 4, T_NUMBER = 8, T_INTEGER = 16, T_BOOL = 32, T_NULL = 64,
    T_ALL = 127,
};

typedef struct sc_span {
    uint32_t at, len;     /* bytes[at, at + len) */
    uint16_t tag;         /* an enum value of a union's discriminator: the alternative it picks; else NONE */
} sc_span;

typedef struct sc_prop {
    sc_span key;          /* the key as written between its quotes */
    uint16_t node;
} sc_prop;

typedef struct sc_node {
    uint32_t first[8];    /* bit c: a value may start with byte c */
    uint16_t types;       /* T_* */
    uint16_t items;       /* array elements' node; NONE: no element */
    uint16_t additional;  /* node of keys not listed; NONE: none */
    uint8_t n_props, first_state;
    uint8_t format;       /* strings: a bn_json_format enforced, or none */
    uint16_t pattern;     /* strings: regexes[pattern] they must contain a match of; NONE: none */
    bool filled;          /* compiled (a node still being compiled is only referred to) */
    bool unique;          /* uniqueItems: the elements (enum values) differ */
    uint64_t required;    /* bit i: properties[i] must come */
    uint32_t prop_first;  /* props[prop_first, + n_props) */
    uint32_t alt_first, n_alt;   /* alts[alt_first, + n_alt): anyOf alternatives */
    uint32_t prefix_first, n_prefix; /* alts[prefix_first, + n_prefix): prefixItems, the first elements' nodes */
    uint32_t enum_first, n_enum; /* enums[enum_first, + n_enum), sorted; 0: no enum */
    uint32_t min_items, max_items, min_len, max_len, min_props, max_props;
    double lo, hi;        /* numbers: the bounds (-inf / +inf: none) ... */
    bool lo_open, hi_open; /* ... each excluded or not */
    bool bounded;         /* lo or hi is finite, or a multipleOf: numbers are checked as they are read */
    uint32_t mult;        /* numbers: multipleOf, in units of 10^-mult_scale (0: none) */
    uint8_t mult_scale;   /* ... its decimals (0 .. MULT_MAX_SCALE) */
} sc_node;

struct bn_json_schema {
    sc_node *nodes;
    sc_prop *props;
    uint16_t *alts;        /* lists of nodes: anyOf alternatives, prefixItems */
    sc_span *enums;
    char *bytes;
    bn_regex *regexes;     /* the "pattern"s */
    uint32_t n_nodes, n_props, n_alts, n_enums, n_bytes, n_regexes;
    uint32_t cap_nodes, cap_props, cap_alts, cap_enums, cap_bytes, cap_regexes;
    uint16_t root;
};

/* ---------------------------------------------------------------------------------------- */
/* Compiling */

typedef struct memo_entry {
    const bn_json *schema;
    uint16_t node;
} memo_entry;

typedef struct compiler {
    bn_json_schema *s;
    const bn_json *doc;
    memo_entry *memo;
    uint32_t n_memo, cap_memo;
    uint16_t any, never;
    char path[512];       /* JSON pointer of the subschema being compiled (for messages) */
    int nesting;          /* compile() calls open (bounds the C stack on hostile schemas) */
    bool failed;
} compiler;

/* Makes room for `need` elements of `size` bytes in *p (capacity *cap). */
static bool grow(void **p, uint32_t *cap, uint64_t need, size_t size, const char *what) {
    if (need <= *cap) return true;
    uint64_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = n <= UINT32_MAX ? realloc(*p, (size_t)n * size) : NULL;
    if (!q) {
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "json_schema: %s (%" PRIu64 " entries)", what, n);
        return false;
    }
    *p = q;
    *cap = (uint32_t)n;
    return true;
}

/* Records the error (the first one) with where in the schema it is: -1. */
static int fail(compiler *c, const char *msg, const char *what) {
    if (!c->failed) bn_error(BITNET_ERR_INVALID_ARGUMENT, "json_schema at '%s': %s%s", c->path[0] ? c->path : "/", msg, what ? what : "");
    c->failed = true;
    return -1;
}

/* Appends one JSON pointer segment ('~' and '/' escaped as ~0 and ~1); returns the old length
 * to restore. */
static size_t path_push(compiler *c, const char *seg) {
    size_t n = strlen(c->path), at = n;
    if (at + 1 < sizeof c->path) c->path[at++] = '/';
    for (; *seg && at + 2 < sizeof c->path; seg++) {
        if (*seg == '~' || *seg == '/') c->path[at++] = '~', c->path[at++] = *seg == '~' ? '0' : '1';
        else c->path[at++] = *seg;
    }
    c->path[at] = '\0';
    return n;
}

static bool put_bytes(compiler *c, const char *b, size_t n) {
    if (!grow((void **)&c->s->bytes, &c->s->cap_bytes, (uint64_t)c->s->n_bytes + n, 1, "bytes")) return false;
    memcpy(c->s->bytes + c->s->n_bytes, b, n);
    c->s->n_bytes += (uint32_t)n;
    return true;
}

/* The shortest JSON form of string str[0, n) (UTF-8), quotes included or not. */
static bool put_string(compiler *c, const char *str, size_t n, bool quotes) {
    if (quotes && !put_bytes(c, "\"", 1)) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)str[i];
        char esc[8];
        if (ch == '"' || ch == '\\') snprintf(esc, sizeof esc, "\\%c", ch);
        else if (ch < 0x20) snprintf(esc, sizeof esc, "\\u%04x", ch);
        else esc[0] = (char)ch, esc[1] = '\0';
        if (!put_bytes(c, esc, strlen(esc))) return false;
    }
    return !quotes || put_bytes(c, "\"", 1);
}

/* Whether bytes[0, n) can be written as they are: a whole JSON value of the recognizer
 * (a string that is valid UTF-8, say), so that a key or enum value the output must spell can
 * be spelled. */
static bool writable(const char *bytes, size_t n) {
    bn_json_prefix p;
    bn_json_prefix_init(&p, false);
    return bn_json_prefix_feed(&p, bytes, n) && (bn_json_prefix_complete(&p) || bn_json_prefix_feed(&p, " ", 1)) &&
           bn_json_prefix_complete(&p);
}

static uint16_t new_node(compiler *c) {
    bn_json_schema *s = c->s;
    if (s->n_nodes >= BN_SCHEMA_MAX_NODES) {
        fail(c, "the schema has more than 4096 subschemas", NULL);
        return NONE;
    }
    if (!grow((void **)&s->nodes, &s->cap_nodes, s->n_nodes + 1ull, sizeof *s->nodes, "nodes")) {
        c->failed = true;
        return NONE;
    }
    sc_node *n = &s->nodes[s->n_nodes];
    memset(n, 0, sizeof *n);
    n->types = T_ALL;
    n->items = n->additional = NONE;
    n->max_items = n->max_len = n->max_props = UINT32_MAX;
    n->lo = -INFINITY, n->hi = INFINITY;
    n->filled = true;
    n->pattern = NONE;
    return (uint16_t)s->n_nodes++;
}

static bool is_one_of(const char *key, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(key, *list)) return true;
    return false;
}

/* Keywords that constrain values in ways this compiler does not enforce. */
static const char *const unsupported[] = {
    "patternProperties",
    "propertyNames", "contains", "minContains", "maxContains", "not", "if",
    "then", "else", "dependentRequired", "dependentSchemas", "dependencies", "additionalItems",
    "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef", "contentSchema", NULL};
/* The keywords this compiler reads. */
static const char *const supported[] = {"type", "enum", "const", "properties", "required", "additionalProperties", "items",
                                        "minItems", "maxItems", "minLength", "maxLength", "anyOf", "oneOf", "allOf",
                                        "$ref", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "prefixItems",
                                        "minProperties", "maxProperties", "pattern",
                                        "uniqueItems", "multipleOf", NULL};

/* Refuses keywords this compiler cannot enforce; *n_constraints counts the ones it reads
 * (to tell a bare "$ref" / "allOf" / "anyOf" from one with siblings), "format" among them
 * when it names a format json_format enforces. The rest ("title", "description", "default",
 * "examples", other formats, "$defs", unknown ones) are annotations. */
static int check_keywords(compiler *c, const bn_json *v, int *n_constraints) {
    *n_constraints = 0;
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->items[i].key;
        if (is_one_of(k, unsupported)) return fail(c, "this keyword is not supported (its constraint would not be enforced): ", k);
        bool enforced_format = !strcmp(k, "format") && v->items[i].type == BN_JSON_STRING && bn_json_format_from_name(v->items[i].str);
        if (is_one_of(k, supported) || enforced_format) ++*n_constraints; /* others, known or not, are annotations (2020-12) */
    }
    return 0;
}

static int compile(compiler *c, const bn_json *v, int ref_chain);

/* Follows a local reference "#" or "#/a/b~1c" into the document. */
static const bn_json *resolve_ref(compiler *c, const char *ref) {
    if (ref[0] != '#' || (ref[1] && ref[1] != '/')) {
        fail(c, "only local references ('#' or '#/...') are supported, not ", ref);
        return NULL;
    }
    const bn_json *at = bn_json_pointer(c->doc, ref + 1);
    if (!at) fail(c, "the reference points at nothing: ", ref);
    return at;
}

static int memo_find(const compiler *c, const bn_json *v) {
    for (uint32_t i = 0; i < c->n_memo; i++)
        if (c->memo[i].schema == v) return c->memo[i].node;
    return -1;
}

/* A non-negative integer keyword into *out (absent: unchanged). */
static int read_count(compiler *c, const bn_json *v, const char *key, uint32_t *out) {
    const bn_json *x = bn_json_get(v, key);
    if (!x) return 0;
    if (x->type != BN_JSON_NUMBER || !x->is_uint) return fail(c, "must be a non-negative integer: ", key);
    *out = x->u > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)x->u;
    return 0;
}

static int read_types(compiler *c, const bn_json *v, uint16_t *types) {
    static const char *const names[] = {"object", "array", "string", "number", "integer", "boolean", "null"};
    const bn_json *t = bn_json_get(v, "type");
    if (!t) return 0;
    size_t n = t->type == BN_JSON_ARRAY ? t->n : 1;
    *types = 0;
    for (size_t i = 0; i < n; i++) {
        const bn_json *one = t->type == BN_JSON_ARRAY ? &t->items[i] : t;
        int bit = -1;
        for (int k = 0; one->type == BN_JSON_STRING && k < 7; k++)
            if (!strcmp(one->str, names[k])) bit = k;
        if (bit < 0) return fail(c, "'type' must be one of object, array, string, number, integer, boolean, null (or a list of them)", NULL);
        *types |= (uint16_t)(1u << bit);
    }
    if (*types & T_NUMBER) *types |= T_INTEGER;
    return *types ? 0 : fail(c, "'type' is an empty list: no value is valid", NULL);
}

/* A subschema that must be given as a boolean or an object: its node, NONE for false. */
static int compile_child(compiler *c, const bn_json *v, const char *seg) {
    size_t at = path_push(c, seg);
    int node = compile(c, v, 0);
    c->path[at] = '\0';
    return node == c->never ? (int)NONE : node;
}

static uint32_t code_points(const char *s, size_t n) {
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xc0) != 0x80;
    return k;
}

/* Whether some value in [a, b] (a_open / b_open: that end excluded) lies within n's bounds. */
static bool meets_bounds(const sc_node *n, double a, bool a_open, double b, bool b_open) {
    double lo = a > n->lo ? a : n->lo, hi = b < n->hi ? b : n->hi;
    bool lo_open = a > n->lo ? a_open : a < n->lo ? n->lo_open : (a_open || n->lo_open);
    bool hi_open = b < n->hi ? b_open : b > n->hi ? n->hi_open : (b_open || n->hi_open);
    return lo < hi || (lo == hi && !lo_open && !hi_open);
}

/* The same for the magnitudes [a, b] (b_open: b excluded) of numbers with sign neg. */
static bool magnitudes_meet(const sc_node *n, bool neg, double a, double b, bool b_open) {
    if (!(b > a)) b = a, b_open = false; /* past 2^53 a digit more can vanish in the rounding: keep the point */
    return neg ? meets_bounds(n, -b, b_open, -a, false) : meets_bounds(n, a, false, b, b_open);
}

#define MULT_MAX_SCALE 6           /* decimals of a multipleOf */
#define MULT_MAX 1000000000.0      /* its units of 10^-decimals */
#define MULT_EXACT 4503599627370496.0 /* 2^52: scaled bounds beyond this are refused with a multipleOf */

static double pow10_of(int j) {
    double x = 1;
    while (j-- > 0) x *= 10;
    return x;
}

/* 10^j mod p. */
static uint64_t pow10_mod(int j, uint64_t p) {
    uint64_t x = 1 % p;
    while (j-- > 0) x = x * 10 % p;
    return x;
}

/* n's bounds over the magnitudes of numbers of sign neg, scaled by 10^mult_scale and made
 * whole: [*lo, *hi] (either infinite), lo >= 0. */
static void scaled_magnitudes(const sc_node *n, bool neg, double *lo, double *hi) {
    double scale = pow10_of(n->mult_scale);
    double l = neg ? -n->hi * scale : n->lo * scale, h = neg ? -n->lo * scale : n->hi * scale;
    bool l_open = neg ? n->hi_open : n->lo_open, h_open = neg ? n->lo_open : n->hi_open;
    *lo = isfinite(l) ? (l_open ? floor(l) + 1 : ceil(l)) : l;
    *hi = isfinite(h) ? (h_open ? ceil(h) - 1 : floor(h)) : h;
    if (*lo < 0) *lo = 0;
}

/* Whether a multiple of n->mult lies among the scaled magnitudes [a, a + span) of sign neg
 * within n's bounds, a's residue being r: 1 yes, 0 no, -1 no and none beyond (a is past the
 * bounds). Where a bound cuts the range it is at most MULT_EXACT (compile_multiple), so the
 * cut range is exact in doubles; an uncut one needs only the residue. */
static int multiple_among(const sc_node *n, bool neg, double a, double span, uint64_t r) {
    double lo, hi, b = a + span - 1;
    scaled_magnitudes(n, neg, &lo, &hi);
    if (a > hi) return -1;
    double from = a > lo ? a : lo, to = b < hi ? b : hi;
    if (from > to) return 0;
    double p = n->mult;
    if (from == a && to == b) return (double)((n->mult - r) % n->mult) < span;
    if (to - from + 1 >= p) return 1;
    return from + fmod(p - fmod(from, p), p) <= to;
}

/* The digits of the number t[0, len) (its sign and '.' skipped) as one integer: its residue
 * mod n->mult (exact), its value in *mag (a double), and the digits after the '.' in *decimals
 * (-1: no '.'). */
static uint64_t digits_residue(const sc_node *n, const char *t, size_t len, double *mag, int *decimals) {
    uint64_t r = 0;
    *mag = 0, *decimals = -1;
    for (size_t i = t[0] == '-'; i < len; i++) {
        if (t[i] == '.') {
            *decimals = 0;
            continue;
        }
        *decimals += *decimals >= 0;
        r = (r * 10 + (uint64_t)(t[i] - '0')) % n->mult;
        *mag = *mag * 10 + (t[i] - '0');
    }
    return r;
}

/* number_prefix_viable with a multipleOf: some number that starts with t[0, len) is a multiple
 * within the bounds (at most mult_scale decimals, no exponent). */
static bool multiple_prefix_viable(const sc_node *n, const char *t, size_t len) {
    bool neg = t[0] == '-';
    if (len == (size_t)neg) { /* "-": some first digit */
        char two[2] = {'-', '0'};
        for (; two[1] <= '9'; two[1]++)
            if (multiple_prefix_viable(n, two, 2)) return true;
        return false;
    }
    double mag;
    int decimals;
    uint64_t r = digits_residue(n, t, len, &mag, &decimals);
    if (decimals > n->mult_scale) return false;
    /* more whole digits k (none after a '.' or a leading 0), then the decimals up to mult_scale,
     * all within the BN_SCHEMA_MAX_NUMBER bytes a number may take (bounded_number_byte) */
    int max_k = decimals >= 0 || t[neg] == '0' ? 0 : BN_SCHEMA_MAX_NUMBER;
    size_t point_and_decimals = decimals < 0 && n->mult_scale ? 1 + (size_t)n->mult_scale : 0;
    for (int k = 0; k <= max_k; k++) {
        int j = decimals >= 0 ? n->mult_scale - decimals : k + n->mult_scale; /* digits still to come, scaled */
        if (len + (decimals >= 0 ? (size_t)j : (size_t)k + point_and_decimals) > BN_SCHEMA_MAX_NUMBER) break;
        double span = pow10_of(j);
        int found = multiple_among(n, neg, mag * span, span, r * pow10_mod(j, n->mult) % n->mult);
        if (found) return found > 0;
    }
    return false;
}

/* Whether the number t[0, len) (at most mult_scale decimals) is a multiple of n->mult, exactly. */
static bool is_multiple(const sc_node *n, const char *t, size_t len) {
    double mag;
    int decimals;
    uint64_t r = digits_residue(n, t, len, &mag, &decimals);
    for (int d = decimals < 0 ? 0 : decimals; d < n->mult_scale; d++) r = r * 10 % n->mult;
    return r == 0;
}

/* Whether some number that starts with t[0, len) (len >= 1, JSON syntax without an exponent;
 * integer: no fraction either) lies within n's bounds (and is a multiple of its multipleOf). */
static bool number_prefix_viable(const sc_node *n, const char *t, size_t len, bool integer) {
    if (n->mult) return multiple_prefix_viable(n, t, len);
    bool neg = t[0] == '-';
    size_t i = neg;
    if (i == len) return magnitudes_meet(n, neg, 0, INFINITY, false); /* "-": any magnitude */
    double whole = 0;
    for (; i < len && t[i] >= '0' && t[i] <= '9'; i++) whole = whole * 10 + (t[i] - '0');
    if (i < len) { /* "W." and fraction digits F: [W.F, W.F + 10^-|F|) */
        double x = whole, unit = 1;
        for (i++; i < len; i++) unit /= 10, x += (t[i] - '0') * unit;
        return magnitudes_meet(n, neg, x, x + unit, true);
    }
    if (t[neg] == '0') return magnitudes_meet(n, neg, 0, integer ? 0 : 1, !integer); /* 0, or 0.F */
    /* W followed by k more digits (and a fraction): [W 10^k, (W + 1) 10^k) for some k >= 0 */
    double limit = neg ? -n->lo : n->hi;
    for (double w = 1; whole * w <= limit && whole * w < 1e308; w *= 10)
        if (magnitudes_meet(n, neg, whole * w, integer ? (whole + 1) * w - 1 : (whole + 1) * w, !integer)) return true;
    return false;
}

static bool within_bounds(const sc_node *n, double v) {
    return (v > n->lo || (v == n->lo && !n->lo_open)) && (v < n->hi || (v == n->hi && !n->hi_open));
}

static bool integer_only(const sc_node *n) { return (n->types & T_INTEGER) && !(n->types & T_NUMBER); }

/* Whether any number at all is valid for n (some first byte is viable). */
static bool some_number_viable(const sc_node *n) {
    static const char starts[] = "-0123456789";
    for (int i = 0; starts[i]; i++)
        if (number_prefix_viable(n, starts + i, 1, integer_only(n))) return true;
    return false;
}

static uint64_t gcd(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b, b = t;
    }
    return a;
}

/* "multipleOf" x (NULL: none) into n->mult, n->mult_scale: x = mult x 10^-mult_scale with at
 * most MULT_MAX_SCALE decimals (0.01, 2.5, 7; the decimal the JSON text gives). An integer
 * node takes the integers among x's multiples: those of mult / gcd(mult, 10^mult_scale). */
static int compile_multiple(compiler *c, sc_node *n, const bn_json *x) {
    if (!x) return 0;
    if (x->type != BN_JSON_NUMBER || !(x->num > 0)) return fail(c, "must be a number greater than 0: ", "multipleOf");
    for (int q = 0; q <= MULT_MAX_SCALE && !n->mult; q++) {
        double units = round(x->num * pow10_of(q));
        if (units >= 1 && units <= MULT_MAX && units / pow10_of(q) == x->num) n->mult = (uint32_t)units, n->mult_scale = (uint8_t)q;
    }
    if (!n->mult)
        return fail(c, "supported with at most 6 decimals and up to 10^9 units of them: ", "multipleOf");
    if (integer_only(n)) {
        n->mult = (uint32_t)(n->mult / gcd(n->mult, (uint64_t)pow10_of(n->mult_scale)));
        n->mult_scale = 0;
    }
    double scale = pow10_of(n->mult_scale);
    if ((isfinite(n->lo) && fabs(n->lo) * scale > MULT_EXACT) || (isfinite(n->hi) && fabs(n->hi) * scale > MULT_EXACT))
        return fail(c, "multipleOf with a bound beyond 2^52 (in units of its decimals) is not supported: ", "multipleOf");
    return 0;
}

/* "minimum" / "maximum" / "exclusiveMinimum" / "exclusiveMaximum" (numbers; draft 4's booleans
 * make minimum / maximum exclusive) and "multipleOf". */
static int compile_bounds(compiler *c, uint16_t node, const bn_json *v) {
    static const char *const keys[4] = {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"};
    sc_node *n = &c->s->nodes[node];
    bool draft4_open[2] = {false, false};
    for (int k = 0; k < 4; k++) {
        const bn_json *x = bn_json_get(v, keys[k]);
        if (!x) continue;
        if (x->type == BN_JSON_BOOL && (k & 1)) {
            draft4_open[k / 2] = x->b;
            continue;
        }
        if (x->type != BN_JSON_NUMBER) return fail(c, "must be a number: ", keys[k]);
        bool open = k & 1;
        if (k < 2 && (x->num > n->lo || (x->num == n->lo && open))) n->lo = x->num, n->lo_open = open;
        if (k >= 2 && (x->num < n->hi || (x->num == n->hi && open))) n->hi = x->num, n->hi_open = open;
    }
    if (draft4_open[0] && bn_json_get(v, "minimum") && n->lo == bn_json_get(v, "minimum")->num) n->lo_open = true;
    if (draft4_open[1] && bn_json_get(v, "maximum") && n->hi == bn_json_get(v, "maximum")->num) n->hi_open = true;
    if (compile_multiple(c, n, bn_json_get(v, "multipleOf"))) return -1;
    n->bounded = isfinite(n->lo) || isfinite(n->hi) || n->mult;
    if (!n->bounded || !(n->types & (T_NUMBER | T_INTEGER)) || some_number_viable(n)) return 0;
    if (!(n->types & ~(T_NUMBER | T_INTEGER)))
        return fail(c, n->mult ? "no number lies within minimum / maximum that is a multiple of multipleOf: no value is valid"
                               : "no number lies within minimum / maximum: no value is valid", NULL);
    n->types &= (uint16_t)~(T_NUMBER | T_INTEGER);
    return 0;
}

/* Whether x is a multiple of n's multipleOf (as a decimal of at most mult_scale places). */
static bool multiple_fits(const sc_node *n, double x) {
    if (!n->mult) return true;
    double units = x * pow10_of(n->mult_scale), whole = round(units);
    return fabs(units - whole) <= 1e-9 * fmax(1, fabs(units)) && fabs(whole) <= MULT_EXACT && fmod(whole, n->mult) == 0;
}

/* Whether enum value x may be a value of node n (its types, string lengths, bounds, multipleOf). */
static bool enum_value_fits(const bn_json_schema *sc, const sc_node *n, const bn_json *x) {
    switch (x->type) {
    case BN_JSON_NULL: return n->types & T_NULL;
    case BN_JSON_BOOL: return n->types & T_BOOL;
    case BN_JSON_NUMBER:
        return ((n->types & T_NUMBER) || ((n->types & T_INTEGER) && x->num == floor(x->num))) && within_bounds(n, x->num) &&
               multiple_fits(n, x->num);
    case BN_JSON_STRING: {
        uint32_t len = code_points(x->str, x->str_len);
        bool whole = true;
        if (n->format) (void)bn_json_format_prefix((bn_json_format)n->format, x->str, x->str_len, &whole);
        if (n->pattern != NONE) whole = whole && bn_regex_matches(&sc->regexes[n->pattern], x->str, x->str_len);
        return (n->types & T_STRING) && len >= n->min_len && len <= n->max_len && whole;
    }
    default: return false;
    }
}

static bool put_enum_value(compiler *c, const bn_json *x) {
    char num[40];
    switch (x->type) {
    case BN_JSON_NULL: return put_bytes(c, "null", 4);
    case BN_JSON_BOOL: return x->b ? put_bytes(c, "true", 4) : put_bytes(c, "false", 5);
    case BN_JSON_STRING: return put_string(c, x->str, x->str_len, true);
    default:
        if (x->is_uint) snprintf(num, sizeof num, "%" PRIu64, x->u);
        else if (x->num == floor(x->num) && fabs(x->num) < 1e15) snprintf(num, sizeof num, "%.0f", x->num);
        else snprintf(num, sizeof num, "%.17g", x->num);
        return put_bytes(c, num, strlen(num));
    }
}

/* Orders enum values by their bytes (a prefix first). */
static int cmp_span(const char *bytes, const sc_span *x, const sc_span *y) {
    uint32_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(bytes + x->at, bytes + y->at, n);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

/* Merge sort of a[0, n) with scratch tmp[n] (qsort has no context argument in C11). */
static void sort_spans(const char *bytes, sc_span *a, sc_span *tmp, uint32_t n) {
    if (n < 2) return;
    uint32_t h = n / 2, i = 0, j = h, k = 0;
    sort_spans(bytes, a, tmp, h);
    sort_spans(bytes, a + h, tmp, n - h);
    while (i < h && j < n) tmp[k++] = cmp_span(bytes, &a[j], &a[i]) < 0 ? a[j++] : a[i++];
    while (i < h) tmp[k++] = a[i++];
    while (j < n) tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

/* The enum values appended since node's enum_first become its values, sorted, duplicates
 * dropped. */
static int end_enum(compiler *c, uint16_t node) {
    bn_json_schema *s = c->s;
    sc_node *n = &s->nodes[node];
    n->n_enum = s->n_enums - n->enum_first;
    sc_span *tmp = bn_malloc(n->n_enum * sizeof *tmp, "json_schema enum sort");
    if (!tmp) return -1;
    sort_spans(s->bytes, s->enums + n->enum_first, tmp, n->n_enum);
    free(tmp);
    uint32_t kept = 1;
    for (uint32_t i = 1; i < n->n_enum; i++)
        if (cmp_span(s->bytes, &s->enums[n->enum_first + i], &s->enums[n->enum_first + kept - 1]))
            s->enums[n->enum_first + kept++] = s->enums[n->enum_first + i];
    s->n_enums = n->enum_first + kept;
    n->n_enum = kept;
    return 0;
}

/* "enum" / "const": the node's values, sorted, duplicates dropped. */
static int compile_enum(compiler *c, uint16_t node, const bn_json *list, size_t n_list) {
    bn_json_schema *s = c->s;
    sc_node *n = &s->nodes[node];
    n->enum_first = s->n_enums;
    if (n_list > BN_SCHEMA_MAX_ENUM) return fail(c, "more than 4096 enum values", NULL);
    for (size_t i = 0; i < n_list; i++) {
        const bn_json *x = &list[i];
        if (x->type == BN_JSON_OBJECT || x->type == BN_JSON_ARRAY) return fail(c, "enum and const values must be strings, numbers, booleans or null", NULL);
        if (!enum_value_fits(s, &s->nodes[node], x)) continue; /* no valid instance has it */
        if (!grow((void **)&s->enums, &s->cap_enums, s->n_enums + 1ull, sizeof *s->enums, "enum values")) return -1;
        uint32_t at = s->n_bytes;
        if (!put_enum_value(c, x)) return -1;
        if (!writable(s->bytes + at, s->n_bytes - at)) return fail(c, "an enum / const string is not valid UTF-8: it could never be written", NULL);
        s->enums[s->n_enums++] = (sc_span){at, s->n_bytes - at, NONE};
    }
    if (s->n_enums == s->nodes[node].enum_first) return fail(c, "no enum / const value fits the schema's type and length: no value is valid", NULL);
    return end_enum(c, node);
}

/* "properties" / "required" / "additionalProperties". */
static int compile_object(compiler *c, uint16_t node, const bn_json *v) {
    bn_json_schema *s = c->s;
    const bn_json *props = bn_json_get(v, "properties"), *req = bn_json_get(v, "required"), *add = bn_json_get(v, "additionalProperties");
    sc_prop list[BN_SCHEMA_MAX_PROPS];
    uint32_t n = 0;
    uint64_t required = 0;
    if (props && props->type != BN_JSON_OBJECT) return fail(c, "'properties' must be an object", NULL);
    if (req && req->type != BN_JSON_ARRAY) return fail(c, "'required' must be an array of names", NULL);
    size_t at = path_push(c, "properties");
    for (size_t i = 0; props && i < props->n; i++) {
        const bn_json *p = &props->items[i];
        if (bn_json_get(props, p->key) != p) return fail(c, "a property is listed twice: ", p->key);
        bool required_p = false;
        for (size_t r = 0; req && r < req->n; r++) required_p |= req->items[r].type == BN_JSON_STRING && !strcmp(req->items[r].str, p->key);
        if (n == BN_SCHEMA_MAX_PROPS) return fail(c, "more than 64 properties in one object schema", NULL);
        int child = compile_child(c, p, p->key);
        if (child < 0) return -1;
        if (child == NONE) {
            if (required_p) return fail(c, "a required property's schema is false: no value is valid: ", p->key);
            continue; /* never present */
        }
        uint32_t quoted = s->n_bytes;
        if (!put_string(c, p->key, p->key_len, true)) return -1;
        if (!writable(s->bytes + quoted, s->n_bytes - quoted)) return fail(c, "a property name is not valid UTF-8: it could never be written", NULL);
        if (required_p) required |= 1ull << n;
        list[n++] = (sc_prop){{quoted + 1, s->n_bytes - quoted - 2, NONE}, (uint16_t)child}; /* the name between its quotes */
    }
    c->path[at] = '\0';
    for (size_t r = 0; req && r < req->n; r++) {
        const bn_json *name = &req->items[r];
        if (name->type != BN_JSON_STRING) return fail(c, "'required' must be an array of names", NULL);
        const bn_json *p = props ? bn_json_get(props, name->str) : NULL;
        if (!p) return fail(c, "'required' names a property that 'properties' does not list: ", name->str);
    }
    int additional = add ? compile_child(c, add, "additionalProperties") : c->any;
    if (additional < 0) return -1;
    uint32_t min_props = 0, max_props = UINT32_MAX;
    if (read_count(c, v, "minProperties", &min_props) || read_count(c, v, "maxProperties", &max_props)) return -1;
    if (min_props > max_props || (uint32_t)__builtin_popcountll(required) > max_props || (additional == NONE && n < min_props))
        return fail(c, "minProperties / maxProperties cannot be met with the properties allowed and required: no object is valid", NULL);
    if (!grow((void **)&s->props, &s->cap_props, (uint64_t)s->n_props + n, sizeof *s->props, "properties")) return -1;
    if (n) memcpy(s->props + s->n_props, list, n * sizeof *list); /* list may hold none */
    sc_node *node_p = &s->nodes[node];
    node_p->prop_first = s->n_props;
    node_p->n_props = (uint8_t)n;
    node_p->required = required;
    node_p->additional = (uint16_t)additional;
    node_p->min_props = min_props, node_p->max_props = max_props;
    s->n_props += n;
    return 0;
}

/* The schemas of array `list` (its path segment already pushed) into nodes[*n]: a false one
 * is dropped, or ends the list where stop_at_false (*stopped then says so). 0 or -1. */
static int compile_list(compiler *c, const bn_json *list, uint16_t *nodes, uint32_t *n, bool stop_at_false, bool *stopped) {
    *n = 0, *stopped = false;
    for (size_t i = 0; i < list->n; i++) {
        char seg[24];
        snprintf(seg, sizeof seg, "%zu", i);
        int child = compile_child(c, &list->items[i], seg);
        if (child < 0) return -1;
        if (child == NONE && stop_at_false) return *stopped = true, 0;
        if (child != NONE) nodes[(*n)++] = (uint16_t)child;
    }
    return 0;
}

/* Appends nodes[0, n) to the schema's node lists (alts); *first: where they start. */
static int append_list(compiler *c, const uint16_t *nodes, uint32_t n, uint32_t *first) {
    bn_json_schema *s = c->s;
    if (!grow((void **)&s->alts, &s->cap_alts, (uint64_t)s->n_alts + n, sizeof *s->alts, "node lists")) return -1;
    if (n) memcpy(s->alts + s->n_alts, nodes, n * sizeof *nodes);
    *first = s->n_alts;
    s->n_alts += n;
    return 0;
}

/* "prefixItems": the nodes of the first elements (a false one ends the array before it). */
static int compile_prefix_items(compiler *c, uint16_t node, const bn_json *list, uint32_t *max_elements) {
    if (list->type != BN_JSON_ARRAY) return fail(c, "'prefixItems' must be an array of schemas", NULL);
    if (list->n > MAX_ALTS) return fail(c, "more than 64 prefixItems", NULL);
    uint16_t nodes[MAX_ALTS];
    uint32_t n;
    bool stopped;
    size_t at = path_push(c, "prefixItems");
    if (compile_list(c, list, nodes, &n, true, &stopped)) return -1;
    c->path[at] = '\0';
    if (stopped) *max_elements = n; /* no valid element there: the array ends before */
    c->s->nodes[node].n_prefix = n;
    return append_list(c, nodes, n, &c->s->nodes[node].prefix_first);
}

/* "prefixItems" / "items" (the elements after the prefix) / "minItems" / "maxItems". */
static int compile_array(compiler *c, uint16_t node, const bn_json *v) {
    const bn_json *items = bn_json_get(v, "items"), *prefix = bn_json_get(v, "prefixItems");
    if (items && items->type != BN_JSON_OBJECT && items->type != BN_JSON_BOOL)
        return fail(c, "'items' must be a schema (the array form of older drafts is not supported; use prefixItems)", NULL);
    uint32_t max_elements = UINT32_MAX;
    if (prefix && compile_prefix_items(c, node, prefix, &max_elements)) return -1;
    int child = items ? compile_child(c, items, "items") : c->any;
    if (child < 0) return -1;
    sc_node *n = &c->s->nodes[node];
    n->items = (uint16_t)child;
    if (read_count(c, v, "minItems", &n->min_items) || read_count(c, v, "maxItems", &n->max_items)) return -1;
    if (child == NONE && max_elements == UINT32_MAX) max_elements = n->n_prefix;
    const bn_json *unique = bn_json_get(v, "uniqueItems");
    if (unique && unique->type != BN_JSON_BOOL) return fail(c, "'uniqueItems' must be a boolean", NULL);
    if (unique && unique->b) {
        const sc_node *e = child == NONE ? NULL : &c->s->nodes[child];
        if (n->n_prefix || !e || !e->n_enum || e->n_alt || e->n_enum > 64)
            return fail(c, "uniqueItems is supported for arrays whose items are one enum / const of at most 64 values", NULL);
        n->unique = true;
        if (e->n_enum < max_elements) max_elements = e->n_enum; /* each element takes another value */
    }
    if (max_elements < n->max_items) n->max_items = max_elements;
    if (n->min_items > n->max_items && (n->types & T_ARRAY)) {
        if (n->types == T_ARRAY) return fail(c, "minItems is above maxItems (or the elements items / prefixItems allow): no array is valid", NULL);
        n->types &= (uint16_t)~T_ARRAY;
    }
    return 0;
}

/* "pattern": alone among the string keywords (with lengths or a format, a string could be
 * started that no length or format lets end). */
static int compile_pattern(compiler *c, uint16_t node, const bn_json *pattern) {
    bn_json_schema *s = c->s;
    sc_node *n = &s->nodes[node];
    if (pattern->type != BN_JSON_STRING) return fail(c, "'pattern' must be a string", NULL);
    if (n->min_len || n->max_len != UINT32_MAX || n->format)
        return fail(c, "'pattern' together with minLength / maxLength / format is not supported", NULL);
    if (!grow((void **)&s->regexes, &s->cap_regexes, s->n_regexes + 1ull, sizeof *s->regexes, "patterns")) return -1;
    const char *why;
    if (bn_regex_compile(&s->regexes[s->n_regexes], pattern->str, pattern->str_len, &why)) return fail(c, "'pattern' is not supported: ", why);
    if (s->n_regexes >= NONE) return fail(c, "too many patterns", NULL);
    s->nodes[node].pattern = (uint16_t)s->n_regexes++;
    return 0;
}

static int compile_string(compiler *c, uint16_t node, const bn_json *v) {
    if (read_count(c, v, "minLength", &c->s->nodes[node].min_len) || read_count(c, v, "maxLength", &c->s->nodes[node].max_len)) return -1;
    sc_node *n = &c->s->nodes[node];
    const char *format = bn_json_get_str(v, "format");
    if (format) n->format = (uint8_t)bn_json_format_from_name(format); /* others stay annotations */
    const bn_json *pattern = bn_json_get(v, "pattern");
    if (pattern && compile_pattern(c, node, pattern)) return -1;
    n = &c->s->nodes[node];
    if (n->min_len > n->max_len && (n->types & T_STRING)) {
        if (n->types == T_STRING) return fail(c, "minLength is above maxLength: no string is valid", NULL);
        n->types &= (uint16_t)~T_STRING;
    }
    return 0;
}

/* Whether node i is described by its types alone (no constraint on any value of them). */
static bool is_plain(const compiler *c, uint16_t i) {
    const sc_node *n = &c->s->nodes[i];
    if (n->n_alt || n->n_enum) return false;
    return (!(n->types & T_OBJECT) || (!n->n_props && n->additional == c->any)) &&
           (!(n->types & T_ARRAY) || (n->items == c->any && !n->n_prefix && !n->min_items && n->max_items == UINT32_MAX)) &&
           (!(n->types & T_STRING) || (!n->min_len && n->max_len == UINT32_MAX && !n->format && n->pattern == NONE)) &&
           !((n->types & (T_NUMBER | T_INTEGER)) && n->bounded);
}

/* The types of the value an enum entry writes. */
static uint16_t enum_entry_type(const bn_json_schema *s, const sc_span *e) {
    const char *b = s->bytes + e->at;
    if (b[0] == '"') return T_STRING;
    if (b[0] == 't' || b[0] == 'f') return T_BOOL;
    if (b[0] == 'n') return T_NULL;
    return memchr(b, '.', e->len) || memchr(b, 'e', e->len) || memchr(b, 'E', e->len) ? T_NUMBER : T_NUMBER | T_INTEGER;
}

/* anyOf: alternatives described by their types alone become one node of all their types, and
 * enums one enum of all their values (less those such types already allow), so that
 * {"anyOf": [{"type": "integer"}, {"type": "number"}]} or several consts need no choice by
 * the first byte. Not for oneOf, where a value matching two alternatives is invalid. */
static int merge_alternatives(compiler *c, uint16_t *alts, uint32_t *n) {
    bn_json_schema *s = c->s;
    uint16_t types = 0;
    uint32_t n_plain = 0, n_enums = 0, kept = 0;
    for (uint32_t i = 0; i < *n; i++) {
        if (is_plain(c, alts[i])) types |= s->nodes[alts[i]].types, n_plain++;
        else if (s->nodes[alts[i]].n_enum) n_enums++;
    }
    if (n_plain + n_enums < 2) return 0;
    uint16_t plain = NONE, en = NONE;
    if (n_plain && (plain = new_node(c)) == NONE) return -1;
    if (n_plain) s->nodes[plain].types = types, s->nodes[plain].items = s->nodes[plain].additional = c->any;
    if (n_enums && (en = new_node(c)) == NONE) return -1;
    if (n_enums) s->nodes[en].enum_first = s->n_enums;
    for (uint32_t i = 0; i < *n; i++) {
        const sc_node *a = &s->nodes[alts[i]];
        if (is_plain(c, alts[i])) continue;
        if (!a->n_enum) {
            alts[kept++] = alts[i];
            continue;
        }
        for (uint32_t e = 0; e < a->n_enum; e++) {
            sc_span entry = s->enums[a->enum_first + e];
            uint16_t t = enum_entry_type(s, &entry);
            if ((t & types) == t || ((t & T_INTEGER) && (types & T_INTEGER))) continue; /* the plain node allows it */
            if (s->n_enums - s->nodes[en].enum_first >= BN_SCHEMA_MAX_ENUM) return fail(c, "more than 4096 enum values", NULL);
            if (!grow((void **)&s->enums, &s->cap_enums, s->n_enums + 1ull, sizeof *s->enums, "enum values")) return -1;
            s->enums[s->n_enums++] = entry;
        }
    }
    if (n_plain) alts[kept++] = plain;
    if (n_enums && s->n_enums > s->nodes[en].enum_first) {
        if (end_enum(c, en)) return -1;
        alts[kept++] = en;
    }
    *n = kept;
    return 0;
}

/* Whether node i is an object alternative a union can take: objects only, compiled, whose
 * first listed property is required. */
static bool is_variant(const compiler *c, uint16_t i) {
    const sc_node *n = &c->s->nodes[i];
    return n->types == T_OBJECT && !n->n_alt && !n->n_enum && n->filled && n->n_props && (n->required & 1);
}

/* The schema of variant i's first property. */
static const sc_node *first_prop_node(const bn_json_schema *s, uint16_t i) { return &s->nodes[s->props[s->nodes[i].prop_first].node]; }

static bool same_key(const bn_json_schema *s, const sc_prop *a, const sc_prop *b) {
    return a->key.len == b->key.len && !memcmp(s->bytes + a->key.at, s->bytes + b->key.at, a->key.len);
}

/* Variants that start with the same key, told apart by its values (enums or consts: a
 * discriminated union, {"kind": "circle", ...} | {"kind": "square", ...}), become one object
 * node: its only property is that key, with every variant's values, each tagged with its
 * variant; when the value has been read, the object goes on as that variant (end_scalar).
 * The node into *out. */
static int discriminate(compiler *c, const uint16_t *members, uint32_t m, uint16_t *out) {
    bn_json_schema *s = c->s;
    for (uint32_t i = 0; i < m; i++) {
        const sc_node *d = first_prop_node(s, members[i]);
        if (!d->n_enum || d->n_alt)
            return fail(c, "object alternatives that start with the same required property must tell them apart by its value (an enum or const)", NULL);
    }
    uint16_t d = new_node(c), u = d == NONE ? NONE : new_node(c);
    if (u == NONE || !grow((void **)&s->props, &s->cap_props, s->n_props + 1ull, sizeof *s->props, "properties")) return -1;
    s->nodes[d].enum_first = s->n_enums;
    for (uint32_t i = 0; i < m; i++) {
        const sc_node *values = first_prop_node(s, members[i]);
        if (s->n_enums - s->nodes[d].enum_first + values->n_enum > BN_SCHEMA_MAX_ENUM) return fail(c, "more than 4096 enum values", NULL);
        if (!grow((void **)&s->enums, &s->cap_enums, (uint64_t)s->n_enums + values->n_enum, sizeof *s->enums, "enum values")) return -1;
        values = first_prop_node(s, members[i]);
        for (uint32_t e = 0; e < values->n_enum; e++) {
            s->enums[s->n_enums] = s->enums[values->enum_first + e];
            s->enums[s->n_enums++].tag = members[i];
        }
    }
    uint32_t all = s->n_enums - s->nodes[d].enum_first;
    if (end_enum(c, d)) return -1;
    if (s->nodes[d].n_enum != all) return fail(c, "two object alternatives share a value of the property that tells them apart", NULL);
    s->props[s->n_props] = (sc_prop){s->props[s->nodes[members[0]].prop_first].key, d};
    sc_node *un = &s->nodes[u];
    un->types = T_OBJECT, un->prop_first = s->n_props++, un->n_props = 1, un->required = 1;
    *out = u;
    return 0;
}

/* Whether variant b allows the key of property p (listed, or as an unlisted one). */
static bool allows_key(const bn_json_schema *s, uint16_t b, const sc_prop *p) {
    const sc_node *n = &s->nodes[b];
    for (uint32_t i = 0; i < n->n_props; i++)
        if (same_key(s, &s->props[n->prop_first + i], p)) return true;
    return n->additional != NONE;
}

/* For oneOf: some variant starts with a key (not shared with b: those are told apart by
 * value) that another variant b also allows, so a value could match both. */
static bool key_union_ambiguous(const bn_json_schema *s, const uint16_t *variants, uint32_t n) {
    for (uint32_t a = 0; a < n; a++)
        for (uint32_t b = 0; b < n; b++) {
            const sc_prop *key = &s->props[s->nodes[variants[a]].prop_first];
            if (a != b && !same_key(s, key, &s->props[s->nodes[variants[b]].prop_first]) && allows_key(s, variants[b], key)) return true;
        }
    return false;
}

/* Object alternatives (anyOf or oneOf) become one object node, told apart by their first
 * property: its key (a key union: one property per distinct first key, tagged with the
 * variant the object goes on as once the key is read, key_byte; at least one key, no key
 * that is not one of them first) and, for variants that share that key, its value
 * (discriminate). */
static int unite_objects(compiler *c, uint16_t *alts, uint32_t *n, bool one_of) {
    bn_json_schema *s = c->s;
    uint16_t variants[MAX_ALTS], targets[MAX_ALTS], members[MAX_ALTS];
    uint32_t n_var = 0, n_groups = 0, kept = 0;
    for (uint32_t i = 0; i < *n; i++)
        if (is_variant(c, alts[i])) variants[n_var++] = alts[i];
    if (n_var < 2) return 0;
    for (uint32_t i = 0; i < *n; i++)
        if (!is_variant(c, alts[i])) alts[kept++] = alts[i];
    if (one_of && key_union_ambiguous(s, variants, n_var))
        return fail(c, "oneOf object alternatives told apart by their first key must not allow each other's first keys "
                       "(additionalProperties false): a value could match two of them", NULL);
    bool grouped[MAX_ALTS] = {false};
    for (uint32_t i = 0; i < n_var; i++) { /* the variants with variant i's first key */
        if (grouped[i]) continue;
        uint32_t m = 0;
        for (uint32_t j = i; j < n_var; j++)
            if (!grouped[j] && same_key(s, &s->props[s->nodes[variants[j]].prop_first], &s->props[s->nodes[variants[i]].prop_first]))
                grouped[j] = true, members[m++] = variants[j];
        if (m == 1) targets[n_groups++] = members[0];
        else if (discriminate(c, members, m, &targets[n_groups++])) return -1;
    }
    uint16_t u = targets[0];
    if (n_groups > 1) {
        if ((u = new_node(c)) == NONE || !grow((void **)&s->props, &s->cap_props, (uint64_t)s->n_props + n_groups, sizeof *s->props, "properties"))
            return -1;
        sc_node *un = &s->nodes[u];
        un->types = T_OBJECT, un->prop_first = s->n_props, un->n_props = (uint8_t)n_groups, un->min_props = 1;
        for (uint32_t g = 0; g < n_groups; g++) {
            sc_prop first = s->props[s->nodes[targets[g]].prop_first];
            first.key.tag = targets[g];
            s->props[s->n_props++] = first;
        }
    }
    alts[kept++] = u;
    *n = kept;
    return 0;
}

/* "anyOf" / "oneOf": the alternatives (false ones dropped), which must be alone in their
 * schema (beside annotations). */
static int compile_alternatives(compiler *c, uint16_t node, const bn_json *list, const char *key) {
    if (list->type != BN_JSON_ARRAY || !list->n) return fail(c, "must be a non-empty array of schemas: ", key);
    if (list->n > MAX_ALTS) return fail(c, "more than 64 alternatives: ", key);
    uint16_t alts[MAX_ALTS];
    uint32_t n;
    bool stopped;
    size_t at = path_push(c, key);
    if (compile_list(c, list, alts, &n, false, &stopped)) return -1;
    if (!n) return fail(c, "every alternative is false: no value is valid: ", key);
    bool any_of = !strcmp(key, "anyOf");
    if ((any_of && merge_alternatives(c, alts, &n)) || unite_objects(c, alts, &n, !any_of)) return -1;
    c->path[at] = '\0';
    c->s->nodes[node].n_alt = n;
    return append_list(c, alts, n, &c->s->nodes[node].alt_first);
}

/* The constraints of schema v into node. 0 or -1. */
static int fill_node(compiler *c, uint16_t node, const bn_json *v, int n_constraints) {
    const bn_json *any_of = bn_json_get(v, "anyOf"), *one_of = bn_json_get(v, "oneOf");
    if (any_of || one_of) {
        if (n_constraints > 1) return fail(c, "anyOf / oneOf must be the only constraint of their schema (beside descriptions)", NULL);
        /* alternatives that differ in their first byte never both match: oneOf = anyOf here */
        return compile_alternatives(c, node, any_of ? any_of : one_of, any_of ? "anyOf" : "oneOf");
    }
    if (read_types(c, v, &c->s->nodes[node].types) || compile_string(c, node, v) || compile_bounds(c, node, v)) return -1;
    if ((c->s->nodes[node].types & T_OBJECT) && compile_object(c, node, v)) return -1;
    if ((c->s->nodes[node].types & T_ARRAY) && compile_array(c, node, v)) return -1;
    const bn_json *en = bn_json_get(v, "enum"), *cn = bn_json_get(v, "const");
    if (en && en->type != BN_JSON_ARRAY) return fail(c, "'enum' must be an array", NULL);
    if (en && cn) return fail(c, "'enum' and 'const' together are not supported", NULL);
    if (en || cn) return compile_enum(c, node, en ? en->items : cn, en ? en->n : 1);
    return 0;
}

/* A new node for schema v (remembered before its body, so references back to v reach it). */
static int compile_node(compiler *c, const bn_json *v, int n_constraints) {
    uint16_t node = new_node(c);
    if (node == NONE) return -1;
    if (!grow((void **)&c->memo, &c->cap_memo, c->n_memo + 1ull, sizeof *c->memo, "memo")) return -1;
    c->memo[c->n_memo++] = (memo_entry){v, node};
    c->s->nodes[node].filled = false;
    if (fill_node(c, node, v, n_constraints)) return -1;
    c->s->nodes[node].filled = true;
    return node;
}

/* The node of schema v (new, or the one already made for the same schema object). */
static int compile_schema(compiler *c, const bn_json *v, int ref_chain);

static int compile(compiler *c, const bn_json *v, int ref_chain) {
    if (c->failed) return -1;
    if (c->nesting >= MAX_NESTING) return fail(c, "subschemas nested more than 64 deep (through properties, items, alternatives and references)", NULL);
    c->nesting++;
    int node = compile_schema(c, v, ref_chain);
    c->nesting--;
    return node;
}

static int compile_schema(compiler *c, const bn_json *v, int ref_chain) {
    if (v->type == BN_JSON_BOOL) return v->b ? c->any : c->never;
    if (v->type != BN_JSON_OBJECT) return fail(c, "a schema must be an object or a boolean", NULL);
    int known = memo_find(c, v);
    if (known >= 0) return known;
    int n_constraints;
    if (check_keywords(c, v, &n_constraints)) return -1;
    const bn_json *ref = bn_json_get(v, "$ref"), *all_of = bn_json_get(v, "allOf");
    if (ref || all_of) {
        if (n_constraints > 1) return fail(c, "$ref and allOf must be the only constraint of their schema (beside descriptions)", NULL);
        if (ref_chain >= MAX_REF_CHAIN) return fail(c, "$ref / allOf refer to each other in a cycle that never reaches a schema", NULL);
        if (all_of && (all_of->type != BN_JSON_ARRAY || all_of->n != 1))
            return fail(c, "'allOf' is supported with exactly one schema (an intersection of several is not)", NULL);
        if (ref && ref->type != BN_JSON_STRING) return fail(c, "'$ref' must be a string", NULL);
        const bn_json *target = ref ? resolve_ref(c, ref->str) : &all_of->items[0];
        if (!target) return -1;
        char saved[sizeof c->path];
        memcpy(saved, c->path, sizeof saved);
        if (ref) snprintf(c->path, sizeof c->path, "%s", ref->str + 1);
        else path_push(c, "allOf"), path_push(c, "0");
        int node = compile(c, target, ref_chain + 1);
        memcpy(c->path, saved, sizeof saved);
        return node;
    }
    if (!n_constraints) return c->any; /* {} or annotations only */
    return compile_node(c, v, n_constraints);
}

static void set_first(sc_node *n, uint8_t ch) { n->first[ch >> 5] |= 1u << (ch & 31); }
static bool has_first(const sc_node *n, uint8_t ch) { return n->first[ch >> 5] >> (ch & 31) & 1; }

/* Fills node i's first-byte set (its alternatives' first). Alternatives that share a first byte,
 * or that lead back to node i before any byte, are refused. */
static int first_bytes(compiler *c, uint16_t i) {
    bn_json_schema *s = c->s;
    sc_node *n = &s->nodes[i];
    if (n->first_state == 2) return 0;
    if (n->first_state == 1) return fail(c, "anyOf / oneOf alternatives lead back to the same schema before any byte", NULL);
    n->first_state = 1;
    if (n->n_alt) {
        for (uint32_t a = 0; a < n->n_alt; a++) {
            uint16_t alt = s->alts[n->alt_first + a];
            if (first_bytes(c, alt)) return -1;
            n = &s->nodes[i];
            for (int w = 0; w < 8; w++) {
                if (n->first[w] & s->nodes[alt].first[w]) {
                    char ch[2] = {(char)(w * 32 + __builtin_ctz(n->first[w] & s->nodes[alt].first[w])), 0};
                    return fail(c, "anyOf / oneOf alternatives must differ in their first byte (two can start with): ", ch);
                }
                n->first[w] |= s->nodes[alt].first[w];
            }
        }
    } else if (n->n_enum) {
        for (uint32_t e = 0; e < n->n_enum; e++) set_first(n, (uint8_t)s->bytes[s->enums[n->enum_first + e].at]);
    } else {
        if (n->types & T_OBJECT) set_first(n, '{');
        if (n->types & T_ARRAY) set_first(n, '[');
        if (n->types & T_STRING) set_first(n, '"');
        if (n->types & (T_NUMBER | T_INTEGER)) {
            set_first(n, '-');
            for (uint8_t d = '0'; d <= '9'; d++) set_first(n, d);
        }
        if (n->types & T_BOOL) set_first(n, 't'), set_first(n, 'f');
        if (n->types & T_NULL) set_first(n, 'n');
    }
    n->first_state = 2;
    return 0;
}

bn_json_schema *bn_json_schema_compile(const char *text, size_t len) {
    bn_json *doc = bn_json_parse(text, len, "json_schema");
    if (!doc) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "%s", bn_last_error_message());
        return NULL;
    }
    compiler c = {.doc = doc};
    c.s = bn_calloc(1, sizeof *c.s, "json schema");
    int root = -1;
    bn_json_schema *sc = c.s;
    /* every array allocated (a schema without properties or enums still has them): no
     * arithmetic on NULL pointers later */
    bool arrays = sc && grow((void **)&sc->props, &sc->cap_props, 1, sizeof *sc->props, "properties") &&
                  grow((void **)&sc->alts, &sc->cap_alts, 1, sizeof *sc->alts, "alternatives") &&
                  grow((void **)&sc->enums, &sc->cap_enums, 1, sizeof *sc->enums, "enum values") &&
                  grow((void **)&sc->bytes, &sc->cap_bytes, 1, 1, "bytes");
    if (arrays && (c.any = new_node(&c)) != NONE && (c.never = new_node(&c)) != NONE) {
        sc_node *any = &c.s->nodes[c.any];
        any->items = any->additional = c.any;
        c.s->nodes[c.never].types = 0;
        root = compile(&c, doc, 0);
        if (root == c.never) root = fail(&c, "the schema is false: no value is valid", NULL);
    }
    for (uint32_t i = 0; root >= 0 && i < c.s->n_nodes; i++)
        if (first_bytes(&c, (uint16_t)i)) root = -1;
    free(c.memo);
    bn_json_free(doc);
    if (root < 0) {
        bn_json_schema_free(c.s);
        return NULL;
    }
    c.s->root = (uint16_t)root;
    return c.s;
}

void bn_json_schema_free(bn_json_schema *s) {
    if (!s) return;
    free(s->nodes);
    free(s->props);
    free(s->alts);
    free(s->enums);
    free(s->bytes);
    free(s->regexes);
    free(s);
}

/* ---------------------------------------------------------------------------------------- */
/* Reading a text against the schema */

void bn_json_schema_init(bn_json_schema_state *s, const bn_json_schema *schema) {
    memset(s, 0, sizeof *s);
    s->schema = schema;
    bn_json_prefix_init(&s->syn, false);
    s->want = schema->root;
    s->value = NONE;
}

void bn_json_schema_state_copy(bn_json_schema_state *dst, const bn_json_schema_state *src) {
    memcpy(dst, src, offsetof(bn_json_schema_state, frames) + src->depth * sizeof src->frames[0]);
}

bool bn_json_schema_complete(const bn_json_schema_state *s) { return bn_json_prefix_complete(&s->syn); }

static const sc_node *node_at(const bn_json_schema_state *s, uint16_t i) { return &s->schema->nodes[i]; }
static bn_json_schema_frame *top(bn_json_schema_state *s) { return &s->frames[s->depth - 1]; }
static bool is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static uint64_t low_bits(unsigned n) { return n >= 64 ? ~0ull : (1ull << n) - 1; }

/* The listed properties that may come next in an object of node n whose properties before
 * `from` are passed: up to and including the first required one. */
static uint64_t key_window(const sc_node *n, unsigned from) {
    uint64_t open = low_bits(n->n_props) & ~low_bits(from);
    uint64_t req = n->required & open;
    return req ? open & low_bits((unsigned)__builtin_ctzll(req) + 1) : open;
}

/* The listed properties that may come next in object frame f of node n: those of the window
 * after which minProperties can still be reached and the required ones still fit within
 * maxProperties (none once maxProperties keys came). */
static uint64_t key_choices(const sc_node *n, const bn_json_schema_frame *f) {
    uint64_t w = key_window(n, f->next_prop);
    if (!n->min_props && n->max_props == UINT32_MAX) return w;
    if (f->count >= n->max_props) return 0;
    uint64_t ok = 0;
    for (uint64_t m = w; m; m &= m - 1) {
        unsigned i = (unsigned)__builtin_ctzll(m);
        uint64_t after = n->required & ~low_bits(i + 1);
        bool fits = f->count + 1 + (uint32_t)__builtin_popcountll(after) <= n->max_props;
        bool reaches = n->additional != NONE || f->count + 1 + (n->n_props - i - 1) >= n->min_props;
        if (fits && reaches) ok |= 1ull << i;
    }
    return ok;
}

/* Whether a key not listed may come next in object frame f of node n. */
static bool other_key_ok(const sc_node *n, const bn_json_schema_frame *f) {
    uint64_t required_left = n->required & ~low_bits(f->next_prop);
    return n->additional != NONE && f->count + 1 + (uint32_t)__builtin_popcountll(required_left) <= n->max_props;
}

/* The alternative of node i that a value starting with byte c takes; NONE when none. */
static uint16_t dispatch(const bn_json_schema *sc, uint16_t i, uint8_t c) {
    while (i != NONE && has_first(&sc->nodes[i], c) && sc->nodes[i].n_alt) {
        const sc_node *n = &sc->nodes[i];
        uint16_t next = NONE;
        for (uint32_t a = 0; a < n->n_alt && next == NONE; a++)
            if (has_first(&sc->nodes[sc->alts[n->alt_first + a]], c)) next = sc->alts[n->alt_first + a];
        i = next;
    }
    return i != NONE && has_first(&sc->nodes[i], c) ? i : NONE;
}

/* The byte at pos of enum value e, -1 past its end. */
static int enum_byte(const bn_json_schema *sc, uint32_t e, uint32_t pos) {
    return pos < sc->enums[e].len ? (uint8_t)sc->bytes[sc->enums[e].at + pos] : -1;
}

/* The values the elements of the array on top took, when the scalar being read is one of its
 * elements and the array has uniqueItems; else NULL. */
static uint64_t *unique_used(bn_json_schema_state *s) {
    if (!s->depth || !top(s)->is_array) return NULL;
    const sc_node *a = node_at(s, top(s)->node);
    return a->unique && a->items == s->value ? &top(s)->used : NULL;
}

/* Keeps the enum values (a sorted range sharing the bytes read) whose next byte is c. */
static bool enum_narrow(bn_json_schema_state *s, uint8_t c) {
    const bn_json_schema *sc = s->schema;
    uint32_t lo = s->enum_lo, hi = s->enum_hi, pos = s->enum_pos;
    uint32_t a = lo, b = hi;
    while (a < b) { /* first with byte >= c */
        uint32_t m = a + (b - a) / 2;
        if (enum_byte(sc, m, pos) < c) a = m + 1;
        else b = m;
    }
    uint32_t first = a;
    b = hi;
    while (a < b) { /* first with byte > c */
        uint32_t m = a + (b - a) / 2;
        if (enum_byte(sc, m, pos) <= c) a = m + 1;
        else b = m;
    }
    s->enum_lo = first, s->enum_hi = a, s->enum_pos = pos + 1;
    const uint64_t *used = unique_used(s);
    if (!used) return first < a;
    uint32_t base = node_at(s, s->value)->enum_first; /* a value no other element took must remain */
    return (low_bits(a - base) & ~low_bits(first - base) & ~*used) != 0;
}

static bool is_number_start(uint8_t c) { return c == '-' || (c >= '0' && c <= '9'); }

/* A byte of a number with bounds: kept, and some number within them must still be reachable. */
static bool bounded_number_byte(bn_json_schema_state *s, const sc_node *n, uint8_t c) {
    if (s->num_len == BN_SCHEMA_MAX_NUMBER) return false;
    s->num[s->num_len++] = (char)c;
    return number_prefix_viable(n, s->num, s->num_len, integer_only(n));
}

/* The scalar being read has ended: it must be whole. */
static bool end_scalar(bn_json_schema_state *s) {
    const sc_node *n = node_at(s, s->value);
    if (n->n_enum) {
        const sc_span *e = &s->schema->enums[s->enum_lo];
        if (s->enum_lo >= s->enum_hi || e->len != s->enum_pos) return false;
        uint64_t *used = unique_used(s);
        if (used) {
            uint64_t bit = 1ull << (s->enum_lo - n->enum_first);
            if (*used & bit) return false;
            *used |= bit;
        }
        if (e->tag != NONE) top(s)->node = e->tag, top(s)->next_prop = 1; /* a union's discriminator: go on as its alternative */
        return true;
    }
    if (n->bounded && is_number_start(s->first)) {
        char text[BN_SCHEMA_MAX_NUMBER + 1];
        memcpy(text, s->num, s->num_len);
        text[s->num_len] = '\0';
        return within_bounds(n, strtod(text, NULL)) && (!n->mult || is_multiple(n, s->num, s->num_len));
    }
    return s->first != '"' || s->chars >= n->min_len;
}

/* The node of element `index` of an array of node n (prefixItems, then items). */
static uint16_t element_node(const bn_json_schema *sc, const sc_node *n, uint32_t index) {
    return index < n->n_prefix ? sc->alts[n->prefix_first + index] : n->items;
}

/* The first byte c of a value (not whitespace). */
static bool start_value(bn_json_schema_state *s, uint8_t c) {
    if (s->depth && top(s)->is_array) {
        bn_json_schema_frame *f = top(s);
        if (f->count >= node_at(s, f->node)->max_items) return false;
        f->count++;
    }
    uint16_t i = dispatch(s->schema, s->want, c);
    if (i == NONE) return false;
    const sc_node *n = node_at(s, i);
    if (c == '{' || c == '[') {
        if (s->depth == BN_JSON_PREFIX_MAX_DEPTH) return false;
        s->frames[s->depth++] = (bn_json_schema_frame){.node = i, .is_array = c == '['};
        if (c == '[') s->want = element_node(s->schema, n, 0);
        return true;
    }
    s->value = i, s->first = c, s->chars = 0, s->num_len = 0;
    if (c == '"' && n->pattern != NONE) bn_regex_start(&s->schema->regexes[n->pattern], &s->re);
    if (!n->n_enum) return !n->bounded || !is_number_start(c) || bounded_number_byte(s, n, c);
    s->enum_lo = n->enum_first, s->enum_hi = n->enum_first + n->n_enum, s->enum_pos = 0;
    return enum_narrow(s, c);
}

static bool close_container(bn_json_schema_state *s) {
    bn_json_schema_frame *f = top(s);
    const sc_node *n = node_at(s, f->node);
    bool whole = f->is_array ? f->count >= n->min_items : !(n->required & ~low_bits(f->next_prop)) && f->count >= n->min_props;
    s->depth--;
    return whole;
}

/* Whether another key may come in the object on top. */
static bool key_may_come(bn_json_schema_state *s) {
    const sc_node *n = node_at(s, top(s)->node);
    return key_choices(n, top(s)) || other_key_ok(n, top(s));
}

static bool comma(bn_json_schema_state *s) {
    bn_json_schema_frame *f = top(s);
    const sc_node *n = node_at(s, f->node);
    if (!f->is_array) return key_may_come(s);
    s->want = element_node(s->schema, n, f->count);
    return f->count < n->max_items;
}

/* A byte of an object key (c closes it when the key is over). */
static bool key_byte(bn_json_schema_state *s, uint8_t c, bool over) {
    bn_json_schema_frame *f = top(s);
    const sc_node *n = node_at(s, f->node);
    const sc_prop *props = s->schema->props + n->prop_first;
    uint64_t window = key_choices(n, f);
    bool other_ok = other_key_ok(n, f);
    if (over) {
        uint64_t exact = 0;
        for (uint64_t m = s->key_match; m; m &= m - 1) {
            unsigned i = (unsigned)__builtin_ctzll(m);
            if (props[i].key.len == s->chars) exact |= 1ull << i;
        }
        if (exact & window) {
            unsigned i = (unsigned)__builtin_ctzll(exact & window);
            f->next_prop = (uint8_t)(i + 1);
            f->count++;
            s->want = props[i].node;
            if (props[i].key.tag != NONE) f->node = props[i].key.tag, f->next_prop = 1; /* a key union: go on as that variant */
            return true;
        }
        /* a listed name out of turn; an escaped key might spell a listed name otherwise */
        if (exact || !other_ok || (s->key_escaped && n->n_props)) return false;
        f->count++;
        s->want = n->additional;
        return true;
    }
    for (uint64_t m = s->key_match; m; m &= m - 1) {
        unsigned i = (unsigned)__builtin_ctzll(m);
        if (props[i].key.len <= s->chars || (uint8_t)s->schema->bytes[props[i].key.at + s->chars] != c) s->key_match &= ~(1ull << i);
    }
    s->chars++;
    s->key_escaped |= c == '\\';
    return (s->key_match & window) || (other_ok && (!s->key_escaped || !n->n_props));
}

/* A byte outside strings, numbers and literals, the syntax already checked (place: before it). */
static bool structural(bn_json_schema_state *s, bn_json_place place, uint8_t c) {
    if (is_ws(c)) return true;
    switch (place) {
    case BN_JSON_AT_VALUE:
    case BN_JSON_AT_ARRAY_FIRST: return c == ']' ? close_container(s) : start_value(s, c);
    case BN_JSON_AT_OBJ_FIRST:
    case BN_JSON_AT_OBJ_KEY:
        if (c == '}') return close_container(s);
        s->key_match = low_bits(node_at(s, top(s)->node)->n_props), s->chars = 0, s->key_escaped = false;
        return key_may_come(s);
    case BN_JSON_AT_AFTER: return c == ',' ? comma(s) : close_container(s);
    default: return true; /* ':' (the value's node was set by the key) */
    }
}

/* A byte inside a string value, a number or a literal; `over`: the scalar ended with it. */
static bool scalar_byte(bn_json_schema_state *s, uint8_t c, bool over) {
    const sc_node *n = node_at(s, s->value);
    if (n->n_enum && !enum_narrow(s, c)) return false;
    if (!n->n_enum && n->bounded && is_number_start(s->first) && !bounded_number_byte(s, n, c)) return false;
    if (!over && bn_json_prefix_at_char(&s->syn) && s->first == '"') s->chars++;
    return !over || end_scalar(s);
}

/* A byte of a string with a pattern: the automaton's step; the closing quote only once the
 * string contains a match. */
static bool pattern_byte(bn_json_schema_state *s, const sc_node *n, uint8_t c) {
    const bn_regex *re = &s->schema->regexes[n->pattern];
    return c == '"' ? bn_regex_accepts(re, &s->re) : bn_regex_step(re, &s->re, c);
}

/* A byte of a string with a format: printable ASCII without escapes, each keeping the text a
 * prefix of the format; the closing quote only once it is whole. */
static bool format_byte(bn_json_schema_state *s, const sc_node *n, uint8_t c) {
    bool whole;
    if (c == '"') return bn_json_format_prefix((bn_json_format)n->format, s->num, s->num_len, &whole) && whole;
    if (c < 0x20 || c >= 0x7f || c == '\\' || s->num_len == BN_SCHEMA_MAX_NUMBER) return false;
    s->num[s->num_len++] = (char)c;
    return bn_json_format_prefix((bn_json_format)n->format, s->num, s->num_len, &whole);
}

static bool feed_byte(bn_json_schema_state *s, uint8_t c) {
    bn_json_place before = bn_json_prefix_place(&s->syn);
    if (!s->started && is_ws(c)) return false; /* the text starts with the value */
    s->started = true;
    if (before == BN_JSON_IN_NUMBER || before == BN_JSON_IN_STRING) {
        const sc_node *n = node_at(s, s->value);
        /* integers have no fraction or exponent; numbers with bounds no exponent */
        if (!n->n_enum && before == BN_JSON_IN_NUMBER &&
            (c == '.' || c == 'e' || c == 'E') && (integer_only(n) || (n->bounded && c != '.') || (n->mult && !n->mult_scale)))
            return false;
        /* at maxLength only the closing quote may come (a byte that starts a character would
         * leave no way out) */
        if (!n->n_enum && before == BN_JSON_IN_STRING && bn_json_prefix_at_char(&s->syn) && c != '"' && s->chars >= n->max_len)
            return false;
        if (!n->n_enum && before == BN_JSON_IN_STRING && n->format && !format_byte(s, n, c)) return false;
        if (!n->n_enum && before == BN_JSON_IN_STRING && n->pattern != NONE && !pattern_byte(s, n, c)) return false;
    }
    uint8_t depth = s->syn.depth;
    if (!bn_json_prefix_feed(&s->syn, (const char *)&c, 1)) return false;
    bn_json_place after = bn_json_prefix_place(&s->syn);
    switch (before) {
    case BN_JSON_IN_KEY: return key_byte(s, c, after != BN_JSON_IN_KEY);
    case BN_JSON_IN_STRING:
    case BN_JSON_IN_LITERAL: return scalar_byte(s, c, after != before);
    case BN_JSON_IN_NUMBER:
        if (after == BN_JSON_IN_NUMBER) return scalar_byte(s, c, false);
        if (!end_scalar(s)) return false;
        return structural(s, depth ? BN_JSON_AT_AFTER : BN_JSON_AT_END, c); /* c came after the number */
    default: return structural(s, before, c);
    }
}

bool bn_json_schema_free_chars(const bn_json_schema_state *s, uint32_t *room) {
    bn_json_place place = bn_json_prefix_place(&s->syn);
    *room = UINT32_MAX;
    if (!bn_json_prefix_at_char(&s->syn)) return false;
    if (place == BN_JSON_IN_KEY) return node_at(s, s->frames[s->depth - 1].node)->n_props == 0;
    const sc_node *v = node_at(s, s->value);
    if (v->n_enum || v->format || v->pattern != NONE) return false;
    if (v->max_len != UINT32_MAX) *room = v->max_len - s->chars;
    return true;
}

/* Inside a string the schema does not constrain (a value string with no enum or length, a key
 * of an object with no listed properties): feeds json_prefix directly while the string lasts.
 * Returns the bytes taken (0: not in such a string), SIZE_MAX when one was refused. */
static size_t free_string_run(bn_json_schema_state *s, const char *bytes, size_t n) {
    bn_json_place place = bn_json_prefix_place(&s->syn);
    bool in_key = place == BN_JSON_IN_KEY;
    if (in_key ? node_at(s, top(s)->node)->n_props != 0 : place != BN_JSON_IN_STRING) return 0;
    if (!in_key) {
        const sc_node *v = node_at(s, s->value);
        if (v->n_enum || v->format || v->pattern != NONE || v->min_len || v->max_len != UINT32_MAX) return 0;
    }
    bool refused;
    size_t k = bn_json_prefix_feed_string(&s->syn, bytes, n, &refused);
    if (refused) return SIZE_MAX;
    if (in_key && bn_json_prefix_place(&s->syn) != BN_JSON_IN_KEY) { /* an object with no listed properties: its key came */
        s->want = node_at(s, top(s)->node)->additional;
        top(s)->count++;
    }
    return k;
}

bool bn_json_schema_feed(bn_json_schema_state *s, const char *bytes, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t k = free_string_run(s, bytes + i, n - i);
        if (k == SIZE_MAX) return false;
        if (k) {
            i += k;
            continue;
        }
        if (!feed_byte(s, (uint8_t)bytes[i++])) return false;
    }
    return true;
}
