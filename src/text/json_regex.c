/* json_regex: patterns as Glushkov automata (see json_regex.h). The pattern is parsed into a
 * tree whose leaves are character sets (counted repetitions copied out), each leaf becomes a
 * position, and the first / last / follow sets of the positions are the automaton. Character
 * sets hold the 128 ASCII codes and are cut to what can be written (printable, no '"' or '\'). */
#include "text/json_regex.h"

#include <stdlib.h>
#include <string.h>

enum { R_EMPTY, R_SET, R_CAT, R_ALT, R_STAR, R_OPT };

#define MAX_TREE 2048
#define MAX_DEPTH 64

typedef struct rnode {
    uint8_t kind;
    int a, b;
    uint64_t set[2];   /* R_SET: bit c of the 128 ASCII codes */
} rnode;

typedef struct parser {
    const char *p, *end;
    rnode nodes[MAX_TREE];
    int n, depth;
    const char *why;
} parser;

static int node(parser *ps, uint8_t kind, int a, int b) {
    if (ps->n == MAX_TREE) {
        ps->why = "the pattern is too large";
        return -1;
    }
    ps->nodes[ps->n] = (rnode){kind, a, b, {0, 0}};
    return ps->n++;
}

static void set_add(uint64_t *set, int lo, int hi) {
    for (int c = lo; c <= hi && c < 128; c++) set[c >> 6] |= 1ull << (c & 63);
}

/* What may be written: printable ASCII but '"' and '\\'. */
static void writable(uint64_t *set) {
    uint64_t w[2] = {0, 0};
    set_add(w, 0x20, 0x7e);
    w['"' >> 6] &= ~(1ull << ('"' & 63));
    w['\\' >> 6] &= ~(1ull << ('\\' & 63));
    set[0] &= w[0], set[1] &= w[1];
}

static void complement(uint64_t *set) { set[0] = ~set[0], set[1] = ~set[1]; }

static int hex_value(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* \xHH or \uHHHH after the letter: the code (>= 128: no writable character). -1: malformed. */
static int hex_escape(parser *ps, int digits) {
    int v = 0;
    for (int i = 0; i < digits; i++, ps->p++) {
        int h = ps->p < ps->end ? hex_value(*ps->p) : -1;
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* An escape after '\' into set (in_class: inside [ ]). 0 or -1. */
static int escape(parser *ps, uint64_t *set) {
    if (ps->p == ps->end) return ps->why = "the pattern ends with '\\'", -1;
    char c = *ps->p++;
    int code;
    switch (c) {
    case 'd': case 'D': set_add(set, '0', '9'); break;
    case 'w': case 'W': set_add(set, '0', '9'), set_add(set, 'A', 'Z'), set_add(set, 'a', 'z'), set_add(set, '_', '_'); break;
    case 's': case 'S': set_add(set, ' ', ' '), set_add(set, '\t', '\r'); break;
    case 'n': set_add(set, '\n', '\n'); return 0;
    case 'r': set_add(set, '\r', '\r'); return 0;
    case 't': set_add(set, '\t', '\t'); return 0;
    case 'f': set_add(set, '\f', '\f'); return 0;
    case 'v': set_add(set, '\v', '\v'); return 0;
    case '0': return 0; /* NUL: never written */
    case 'x': case 'u':
        if ((code = hex_escape(ps, c == 'x' ? 2 : 4)) < 0) return ps->why = "a malformed \\x or \\u escape", -1;
        set_add(set, code, code);
        return 0;
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9'))
            return ps->why = "an escape it does not support (backreferences, \\b, \\p, ...)", -1;
        set_add(set, (uint8_t)c, (uint8_t)c);
        return 0;
    }
    if (c == 'D' || c == 'W' || c == 'S') complement(set);
    return 0;
}

/* [...] after '['. */
static int parse_class(parser *ps) {
    uint64_t set[2] = {0, 0};
    bool negate = ps->p < ps->end && *ps->p == '^';
    if (negate) ps->p++;
    while (ps->p < ps->end && *ps->p != ']') {
        uint64_t item[2] = {0, 0};
        int lo = -1;
        if (*ps->p == '\\') {
            ps->p++;
            if (escape(ps, item)) return -1;
        } else {
            lo = (uint8_t)*ps->p++;
            if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
                int hi = (uint8_t)ps->p[1];
                if (hi == '\\') return ps->why = "a class range ending in an escape", -1;
                if (hi < lo) return ps->why = "a class range out of order", -1;
                ps->p += 2;
                set_add(item, lo, hi);
            } else set_add(item, lo, lo);
        }
        set[0] |= item[0], set[1] |= item[1];
    }
    if (ps->p == ps->end) return ps->why = "an unclosed '['", -1;
    ps->p++;
    if (negate) complement(set);
    writable(set);
    int i = node(ps, R_SET, 0, 0);
    if (i >= 0) memcpy(ps->nodes[i].set, set, sizeof set);
    return i;
}

static int parse_alt(parser *ps);

static int set_node(parser *ps, const uint64_t *set) {
    int i = node(ps, R_SET, 0, 0);
    if (i >= 0) memcpy(ps->nodes[i].set, set, 2 * sizeof *set), writable(ps->nodes[i].set);
    return i;
}

static int parse_atom(parser *ps) {
    char c = *ps->p++;
    uint64_t set[2] = {0, 0};
    switch (c) {
    case '(': {
        if (ps->p < ps->end && *ps->p == '?') {
            if (ps->p + 1 < ps->end && ps->p[1] == ':') ps->p += 2;
            else return ps->why = "lookarounds and named groups are not supported", -1;
        }
        if (++ps->depth > MAX_DEPTH) return ps->why = "groups nested too deep", -1;
        int inner = parse_alt(ps);
        ps->depth--;
        if (inner < 0) return -1;
        if (ps->p == ps->end || *ps->p != ')') return ps->why = "an unclosed '('", -1;
        ps->p++;
        return inner;
    }
    case '[': return parse_class(ps);
    case '.': set_add(set, 0, 127), set[0] &= ~(1ull << '\n' | 1ull << '\r'); return set_node(ps, set);
    case '\\': return escape(ps, set) ? -1 : set_node(ps, set);
    case '^': case '$': return ps->why = "'^' and '$' are supported only at the start and the end", -1;
    case ')': return ps->why = "an unmatched ')'", -1;
    case '*': case '+': case '?': case '{': return ps->why = "a quantifier with nothing to repeat", -1;
    default: set_add(set, (uint8_t)c, (uint8_t)c); return set_node(ps, set);
    }
}

/* A copy of the subtree at i (each copy gets its own positions). */
static int clone(parser *ps, int i) {
    rnode t = ps->nodes[i];
    int a = t.kind >= R_CAT ? clone(ps, t.a) : 0, b = t.kind == R_CAT || t.kind == R_ALT ? clone(ps, t.b) : 0;
    if (a < 0 || b < 0) return -1;
    int j = node(ps, t.kind, a, b);
    if (j >= 0) memcpy(ps->nodes[j].set, t.set, sizeof t.set);
    return j;
}

static int read_int(parser *ps) {
    int v = -1;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        v = (v < 0 ? 0 : v) * 10 + (*ps->p++ - '0');
        if (v > BN_REGEX_MAX_POSITIONS) v = BN_REGEX_MAX_POSITIONS + 1;
    }
    return v;
}

/* x{n,m} (m < 0: no upper bound) as n copies, then m - n nested optional ones (or a star). */
static int counted(parser *ps, int x, int n, int m) {
    int result = node(ps, R_EMPTY, 0, 0), tail = -1;
    for (int i = 0; i < n && result >= 0; i++) result = node(ps, R_CAT, result, clone(ps, x));
    if (m < 0) tail = node(ps, R_STAR, clone(ps, x), 0);
    else {
        tail = node(ps, R_EMPTY, 0, 0);
        for (int i = n; i < m && tail >= 0; i++) tail = node(ps, R_OPT, node(ps, R_CAT, clone(ps, x), tail), 0);
    }
    return result < 0 || tail < 0 ? -1 : node(ps, R_CAT, result, tail);
}

static int parse_repeat(parser *ps) {
    int x = parse_atom(ps);
    if (x >= 0 && ps->p < ps->end && strchr("*+?{", *ps->p)) {
        char q = *ps->p++;
        if (q == '*') x = node(ps, R_STAR, x, 0);
        else if (q == '+') x = node(ps, R_CAT, x, node(ps, R_STAR, clone(ps, x), 0));
        else if (q == '?') x = node(ps, R_OPT, x, 0);
        else {
            int n = read_int(ps), m = n;
            if (ps->p < ps->end && *ps->p == ',') ps->p++, m = read_int(ps);
            if (n < 0 || ps->p == ps->end || *ps->p != '}' || (m >= 0 && m < n)) return ps->why = "a malformed {n,m}", -1;
            if (n > BN_REGEX_MAX_POSITIONS || m > BN_REGEX_MAX_POSITIONS) return ps->why = "a repetition count above 63", -1;
            ps->p++;
            x = counted(ps, x, n, m);
        }
        if (ps->p < ps->end && *ps->p == '?') ps->p++; /* lazy: the same strings */
        if (x >= 0 && ps->p < ps->end && strchr("*+?{", *ps->p)) return ps->why = "a quantifier after a quantifier", -1;
    }
    return x;
}

static int parse_cat(parser *ps) {
    int x = node(ps, R_EMPTY, 0, 0);
    while (x >= 0 && ps->p < ps->end && *ps->p != '|' && *ps->p != ')') {
        int y = parse_repeat(ps);
        x = y < 0 ? -1 : node(ps, R_CAT, x, y);
    }
    return x;
}

static int parse_alt(parser *ps) {
    int x = parse_cat(ps);
    while (x >= 0 && ps->p < ps->end && *ps->p == '|') {
        ps->p++;
        int y = parse_cat(ps);
        x = y < 0 ? -1 : node(ps, R_ALT, x, y);
    }
    return x;
}

typedef struct glushkov {
    uint64_t first, last;
    bool nullable;
} glushkov;

/* The automaton's sets for the subtree at i; positions numbered in *n_pos. */
static glushkov build(parser *ps, bn_regex *re, int i, int *n_pos) {
    const rnode *t = &ps->nodes[i];
    glushkov x = {0, 0, true}, y = {0, 0, true};
    if (ps->why) return x;
    switch (t->kind) {
    case R_SET: {
        if (*n_pos == BN_REGEX_MAX_POSITIONS) {
            ps->why = "more than 63 character positions (after counted repetitions are copied out)";
            return x;
        }
        int p = (*n_pos)++;
        for (int c = 0; c < 128; c++)
            if (t->set[c >> 6] >> (c & 63) & 1) re->by_char[c] |= 1ull << p;
        return (glushkov){1ull << p, 1ull << p, false};
    }
    case R_CAT:
    case R_ALT:
        x = build(ps, re, t->a, n_pos), y = build(ps, re, t->b, n_pos);
        if (t->kind == R_ALT) return (glushkov){x.first | y.first, x.last | y.last, x.nullable || y.nullable};
        for (uint64_t m = x.last; m; m &= m - 1) re->follow[__builtin_ctzll(m)] |= y.first;
        return (glushkov){x.first | (x.nullable ? y.first : 0), y.last | (y.nullable ? x.last : 0), x.nullable && y.nullable};
    case R_STAR:
    case R_OPT:
        x = build(ps, re, t->a, n_pos);
        if (t->kind == R_STAR)
            for (uint64_t m = x.last; m; m &= m - 1) re->follow[__builtin_ctzll(m)] |= x.first;
        x.nullable = true;
        return x;
    }
    return x; /* R_EMPTY */
}

int bn_regex_compile(bn_regex *re, const char *pattern, size_t len, const char **why) {
    parser *ps = calloc(1, sizeof *ps);
    if (!ps) return *why = "out of memory", -1;
    memset(re, 0, sizeof *re);
    re->anchored_start = len && pattern[0] == '^';
    size_t end = len, backslashes = 0;
    if (len && pattern[len - 1] == '$') {
        for (size_t i = len - 1; i > 0 && pattern[i - 1] == '\\'; i--) backslashes++;
        if (backslashes % 2 == 0) re->anchored_end = true, end = len - 1;
    }
    ps->p = pattern + re->anchored_start, ps->end = pattern + end;
    int root = ps->p <= ps->end ? parse_alt(ps) : node(ps, R_EMPTY, 0, 0);
    if (root >= 0 && ps->p != ps->end) ps->why = "an unmatched ')'";
    int n_pos = 0;
    glushkov g = root >= 0 && !ps->why ? build(ps, re, root, &n_pos) : (glushkov){0, 0, false};
    *why = ps->why;
    free(ps);
    if (*why || root < 0) return -1;
    re->first = g.first, re->last = g.last, re->nullable = g.nullable;
    uint64_t some = 0;
    for (int c = 0; c < 128; c++) some |= re->by_char[c];
    re->alive = re->last & some;
    for (bool grew = true; grew;) {
        grew = false;
        for (int p = 0; p < n_pos; p++)
            if (!(re->alive >> p & 1) && (some >> p & 1) && (re->follow[p] & re->alive)) re->alive |= 1ull << p, grew = true;
    }
    if (!re->nullable && !(re->first & re->alive)) return *why = "it matches no string of printable ASCII without '\"' or '\\'", -1;
    return 0;
}

void bn_regex_start(const bn_regex *re, bn_regex_state *st) {
    st->at = 0, st->fresh = 1;
    st->done = !re->anchored_end && re->nullable; /* an empty match is in every string */
}

bool bn_regex_step(const bn_regex *re, bn_regex_state *st, uint8_t c) {
    if (c >= 128 || c < 0x20 || c == 0x7f || c == '"' || c == '\\') return false;
    if (st->done) return true;
    uint64_t next = (st->fresh || !re->anchored_start) ? re->first & re->by_char[c] : 0;
    for (uint64_t m = st->at; m; m &= m - 1) next |= re->follow[__builtin_ctzll(m)] & re->by_char[c];
    st->at = next & re->alive, st->fresh = 0;
    if (!re->anchored_end && (st->at & re->last)) st->done = 1;
    return st->done || st->at || !re->anchored_start;
}

bool bn_regex_accepts(const bn_regex *re, const bn_regex_state *st) {
    return st->done || (st->at & re->last) || (re->nullable && (st->fresh || !re->anchored_start));
}

bool bn_regex_matches(const bn_regex *re, const char *s, size_t n) {
    bn_regex_state st;
    bn_regex_start(re, &st);
    for (size_t i = 0; i < n; i++)
        if (!bn_regex_step(re, &st, (uint8_t)s[i])) return false;
    return bn_regex_accepts(re, &st);
}
