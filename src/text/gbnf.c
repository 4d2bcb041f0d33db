/* gbnf: the GBNF parser (text -> rules of alternatives of elements) and the matcher (a set of
 * parse stacks read one code point at a time). See gbnf.h.
 *
 * Layout of a compiled grammar: elems holds every alternative's elements back to back, each
 * alternative ending with an E_END; a rule's alternatives are the positions
 * alts[alt_first, alt_first + n_alts). An E_CHAR element matches one code point against its
 * ranges (pairs [lo, hi] in ranges[]; negated: any code point outside them, so '.' is a
 * negated empty class); an E_TOKEN element matches one whole token by id (negated: any other
 * token); an E_RULE element stands for any alternative of its rule. Groups and
 * repetitions become rules without names: x* is R ::= x R | (empty), x{m,n} m copies of x and
 * n - m nested optional ones. */
#include "text/gbnf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum { E_END, E_CHAR, E_RULE, E_TOKEN };

typedef struct gbnf_elem {
    uint8_t kind;
    uint8_t negated;    /* E_CHAR: matches code points outside the ranges; E_TOKEN: tokens other than arg */
    uint16_t n_ranges;  /* E_CHAR */
    uint32_t arg;       /* E_CHAR: the first range; E_RULE: the rule; E_TOKEN: the token id */
} gbnf_elem;

typedef struct gbnf_rule {
    char *name;          /* NULL for a group or a repetition */
    uint32_t owner;      /* the named rule it was written in (for messages) */
    uint32_t alt_first, n_alts;
    bool defined;
    const char *first_use; /* where an undefined rule was first named */
} gbnf_rule;

struct bn_gbnf {
    gbnf_elem *elems;
    uint32_t n_elems, cap_elems;
    uint32_t *ranges;    /* [2 * n]: lo, hi */
    uint32_t n_ranges, cap_ranges;
    uint32_t *alts;
    uint32_t n_alts, cap_alts;
    gbnf_rule *rules;
    uint32_t n_rules, cap_rules;
    uint32_t root;
    uint32_t max_growth; /* how much deeper a stack can get before it reads its next character (rule_growth) */
    int64_t max_token;   /* the largest id of a token reference; -1: none */
};

static bool class_meets(const bn_gbnf *g, const gbnf_elem *e, uint32_t a, uint32_t b);

#define MAX_ELEMS 65535u   /* positions are uint16 (E_END included) */
#define MAX_RULES 4096u
#define MAX_REPEAT 1000u
#define MAX_NESTING 64     /* parentheses */
#define NORMALIZE_BUDGET 4096 /* expansions per character (pathological grammars keep what they reached) */

/* ===================================================================== building */

typedef struct evec {
    gbnf_elem *e;
    uint32_t n, cap;
} evec;

typedef struct parser {
    bn_gbnf *g;
    bn_gbnf_token_lookup lookup; /* the text form of token references (NULL: refused) */
    void *lookup_ctx;
    const char *start, *end, *p;
    uint32_t rule;      /* the named rule being parsed */
    int nesting;
    bool failed;
} parser;

static bool grow(void **p, uint32_t *cap, uint64_t need, size_t size) {
    if (need <= *cap) return true;
    uint64_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *q = n * size <= SIZE_MAX / 2 ? realloc(*p, (size_t)(n * size)) : NULL;
    if (!q) {
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "grammar: out of memory");
        return false;
    }
    *p = q;
    *cap = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n);
    return true;
}

/* Fails at text position at ("grammar: line L, column C: msg"); returns false. */
static bool fail_at(parser *ps, const char *at, const char *msg) {
    if (ps->failed) return false;
    int line = 1, col = 1;
    for (const char *q = ps->start; q < at && q < ps->end; q++) {
        if (*q == '\n') line++, col = 1;
        else col++;
    }
    bn_error(BITNET_ERR_INVALID_ARGUMENT, "grammar: line %d, column %d: %s", line, col, msg);
    ps->failed = true;
    return false;
}

static bool push_elem(parser *ps, evec *v, gbnf_elem e) {
    if (v->n >= MAX_ELEMS) return fail_at(ps, ps->p, "the grammar has more than 65535 elements once repetitions are expanded");
    if (!grow((void **)&v->e, &v->cap, v->n + 1ull, sizeof *v->e)) return ps->failed = true, false;
    v->e[v->n++] = e;
    return true;
}

static uint32_t new_rule(parser *ps, char *name) {
    bn_gbnf *g = ps->g;
    if (g->n_rules >= MAX_RULES) {
        free(name);
        fail_at(ps, ps->p, "more than 4096 rules once groups and repetitions are counted");
        return UINT32_MAX;
    }
    if (!grow((void **)&g->rules, &g->cap_rules, g->n_rules + 1ull, sizeof *g->rules)) {
        free(name);
        ps->failed = true;
        return UINT32_MAX;
    }
    g->rules[g->n_rules] = (gbnf_rule){.name = name, .owner = name ? g->n_rules : ps->rule, .defined = !name};
    return g->n_rules++;
}

/* The rule named s[0, n): found, or a new undefined one. */
static uint32_t rule_named(parser *ps, const char *s, size_t n) {
    for (uint32_t i = 0; i < ps->g->n_rules; i++)
        if (ps->g->rules[i].name && strlen(ps->g->rules[i].name) == n && !memcmp(ps->g->rules[i].name, s, n)) return i;
    char *name = malloc(n + 1);
    if (!name) {
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "grammar: out of memory");
        ps->failed = true;
        return UINT32_MAX;
    }
    memcpy(name, s, n);
    name[n] = '\0';
    uint32_t r = new_rule(ps, name);
    if (r != UINT32_MAX) ps->g->rules[r].first_use = s;
    return r;
}

/* Appends the alternatives (each followed by E_END) as rule r's. */
static bool set_alternatives(parser *ps, uint32_t r, evec *alts, uint32_t n) {
    bn_gbnf *g = ps->g;
    if (!grow((void **)&g->alts, &g->cap_alts, g->n_alts + (uint64_t)n, sizeof *g->alts)) return ps->failed = true, false;
    uint32_t first = g->n_alts;
    for (uint32_t a = 0; a < n; a++) {
        if (g->n_elems + (uint64_t)alts[a].n + 1 > MAX_ELEMS)
            return fail_at(ps, ps->p, "the grammar has more than 65535 elements once repetitions are expanded");
        if (!grow((void **)&g->elems, &g->cap_elems, g->n_elems + alts[a].n + 1ull, sizeof *g->elems)) return ps->failed = true, false;
        g->alts[g->n_alts++] = g->n_elems;
        if (alts[a].n) memcpy(g->elems + g->n_elems, alts[a].e, alts[a].n * sizeof *alts[a].e);
        g->n_elems += alts[a].n;
        g->elems[g->n_elems++] = (gbnf_elem){.kind = E_END};
    }
    g->rules[r].alt_first = first;
    g->rules[r].n_alts = n;
    return true;
}

/* ===================================================================== parsing */

static bool is_word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* Skips spaces, tabs and comments, and newlines when newline_ok. */
static const char *skip_space(const parser *ps, const char *p, bool newline_ok) {
    while (p < ps->end) {
        if (*p == '#') {
            while (p < ps->end && *p != '\n' && *p != '\r') p++;
        } else if (*p == ' ' || *p == '\t' || (newline_ok && (*p == '\n' || *p == '\r'))) {
            p++;
        } else {
            break;
        }
    }
    return p;
}

static int hex_value(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One UTF-8 character of the grammar text at ps->p (validated) into *cp. */
static bool read_utf8(parser *ps, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)ps->p;
    size_t left = (size_t)(ps->end - ps->p), n = s[0] < 0x80 ? 1 : s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
                                                                  : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    if (!n || n > left) return fail_at(ps, ps->p, "invalid UTF-8 in the grammar");
    uint32_t v = n == 1 ? s[0] : s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return fail_at(ps, ps->p, "invalid UTF-8 in the grammar");
        v = v << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[n] || v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) return fail_at(ps, ps->p, "invalid UTF-8 in the grammar");
    *cp = v;
    ps->p += n;
    return true;
}

/* One character of a literal or class: an escape or a UTF-8 character. */
static bool read_char(parser *ps, uint32_t *cp) {
    if (ps->p >= ps->end) return fail_at(ps, ps->p, "unexpected end of the grammar");
    if (*ps->p != '\\') return read_utf8(ps, cp);
    const char *at = ps->p++;
    if (ps->p >= ps->end) return fail_at(ps, at, "unfinished escape");
    char c = *ps->p++;
    int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (digits) {
        uint32_t v = 0;
        for (int i = 0; i < digits; i++) {
            int d = ps->p < ps->end ? hex_value(*ps->p) : -1;
            if (d < 0) return fail_at(ps, at, "an escape \\x, \\u or \\U needs 2, 4 or 8 hex digits");
            v = v * 16 + (uint32_t)d;
            ps->p++;
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) return fail_at(ps, at, "the escape is not a Unicode scalar value");
        *cp = v;
        return true;
    }
    const char *from = "nrt\\\"[]", *to = "\n\r\t\\\"[]";
    const char *k = strchr(from, c);
    if (!k || !c) return fail_at(ps, at, "unknown escape (known: \\n \\r \\t \\\\ \\\" \\[ \\] \\x \\u \\U)");
    *cp = (unsigned char)to[k - from];
    return true;
}

static bool add_range(parser *ps, uint32_t lo, uint32_t hi) {
    bn_gbnf *g = ps->g;
    if (!grow((void **)&g->ranges, &g->cap_ranges, 2ull * (g->n_ranges + 1), sizeof *g->ranges)) return ps->failed = true, false;
    g->ranges[2 * g->n_ranges] = lo;
    g->ranges[2 * g->n_ranges + 1] = hi;
    g->n_ranges++;
    return true;
}

/* "literal": one E_CHAR per character. */
static bool parse_literal(parser *ps, evec *seq) {
    const char *open = ps->p++;
    while (ps->p < ps->end && *ps->p != '"') {
        uint32_t cp;
        if (!read_char(ps, &cp) || !add_range(ps, cp, cp)) return false;
        if (!push_elem(ps, seq, (gbnf_elem){.kind = E_CHAR, .n_ranges = 1, .arg = ps->g->n_ranges - 1})) return false;
    }
    if (ps->p >= ps->end) return fail_at(ps, open, "unterminated literal (a '\"' is missing)");
    ps->p++;
    return true;
}

/* [class]: one E_CHAR. */
static bool parse_class(parser *ps, evec *seq) {
    const char *open = ps->p++;
    gbnf_elem e = {.kind = E_CHAR, .arg = ps->g->n_ranges};
    if (ps->p < ps->end && *ps->p == '^') e.negated = 1, ps->p++;
    while (ps->p < ps->end && *ps->p != ']') {
        uint32_t lo, hi;
        const char *at = ps->p;
        if (!read_char(ps, &lo)) return false;
        hi = lo;
        if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
            ps->p++;
            if (!read_char(ps, &hi)) return false;
            if (hi < lo) return fail_at(ps, at, "a range's end comes before its start");
        }
        if (e.n_ranges == UINT16_MAX) return fail_at(ps, at, "more than 65535 ranges in one class");
        if (!add_range(ps, lo, hi)) return false;
        e.n_ranges++;
    }
    if (ps->p >= ps->end) return fail_at(ps, open, "unterminated character class (a ']' is missing)");
    ps->p++;
    if (!class_meets(ps->g, &e, 0, 0xD7FF) && !class_meets(ps->g, &e, 0xE000, 0x10FFFF))
        return fail_at(ps, open, "this character class matches no character");
    return push_elem(ps, seq, e);
}

static bool parse_alternatives(parser *ps, uint32_t rule, bool nested);

/* The text form of a token reference at ps->p, "<think>" (the brackets are the token's text
 * too, to the first '>' on the line): its id by the parser's lookup, or -1 after failing. */
static int64_t token_by_text(parser *ps, const char *open) {
    const char *gt = ps->p;
    while (gt < ps->end && *gt != '>' && *gt != '\n' && *gt != '\r') gt++;
    if (gt >= ps->end || *gt != '>') return fail_at(ps, open, "a token reference is <[id]> or <text>, and this '<' has no '>'"), -1;
    size_t len = (size_t)(gt + 1 - ps->p);
    if (!ps->lookup)
        return fail_at(ps, open, "a token reference by its text (<...>) needs the model's vocabulary; give the token's id, <[id]>"), -1;
    int64_t id = ps->lookup(ps->lookup_ctx, ps->p, len);
    if (id < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "%.*s is not one token of this model (a token reference by text names a single token)",
                 len > 64 ? 64 : (int)len, ps->p);
        return fail_at(ps, open, msg), -1;
    }
    ps->p = gt + 1;
    return id;
}

/* <[id]>, <text> or their negations !<[id]>, !<text> (a token reference, llama.cpp's): one
 * E_TOKEN. */
static bool parse_token(parser *ps, evec *seq) {
    const char *open = ps->p;
    gbnf_elem e = {.kind = E_TOKEN};
    if (*ps->p == '!') e.negated = 1, ps->p++;
    if (ps->p >= ps->end || *ps->p != '<') return fail_at(ps, open, "a '!' is followed by a token reference, <[id]> or <text>");
    int64_t id;
    if (ps->end - ps->p >= 2 && ps->p[1] == '[') {
        ps->p += 2;
        const char *digits = ps->p;
        for (id = 0; ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9' && id <= INT32_MAX; ps->p++) id = id * 10 + (*ps->p - '0');
        if (ps->p == digits || id > INT32_MAX || ps->end - ps->p < 2 || memcmp(ps->p, "]>", 2))
            return fail_at(ps, open, "a token reference is <[id]>, id a token id (decimal digits, at most 2147483647)");
        ps->p += 2;
    } else if ((id = token_by_text(ps, open)) < 0) {
        return false;
    }
    e.arg = (uint32_t)id;
    if (id > ps->g->max_token) ps->g->max_token = id;
    return push_elem(ps, seq, e);
}

/* A count of a repetition: decimal digits, at most MAX_REPEAT. */
static bool read_count(parser *ps, const char *open, uint32_t *out) {
    ps->p = skip_space(ps, ps->p, false);
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return fail_at(ps, open, "a repetition is {m}, {m,} or {m,n}");
    for (*out = 0; ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9'; ps->p++)
        if ((*out = *out * 10 + (uint32_t)(*ps->p - '0')) > MAX_REPEAT) return fail_at(ps, open, "a repetition count above 1000");
    ps->p = skip_space(ps, ps->p, false);
    return true;
}

/* x{m}, x{m,}, x{m,n}, x*, x+, x? -> *min, *max (UINT32_MAX: no bound). */
static bool parse_counts(parser *ps, uint32_t *min, uint32_t *max) {
    const char *open = ps->p;
    char c = *ps->p++;
    if (c != '{') {
        *min = c == '+' ? 1 : 0;
        *max = c == '?' ? 1 : UINT32_MAX;
        return true;
    }
    if (!read_count(ps, open, min)) return false;
    *max = *min;
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p = skip_space(ps, ps->p + 1, false);
        if (ps->p < ps->end && *ps->p == '}') *max = UINT32_MAX;
        else if (!read_count(ps, open, max)) return false;
    }
    if (ps->p >= ps->end || *ps->p != '}') return fail_at(ps, open, "a repetition is {m}, {m,} or {m,n}");
    ps->p++;
    if (*max < *min) return fail_at(ps, open, "a repetition's maximum is below its minimum");
    return true;
}

/* Replaces the item seq[from, n) by its repetition (see the top of the file). */
static bool repeat_item(parser *ps, evec *seq, uint32_t from, uint32_t min, uint32_t max) {
    evec item = {0};
    bool ok = true;
    uint32_t n_item = seq->n - from;
    if (!n_item) return fail_at(ps, ps->p, "a repetition of nothing (an empty literal)");
    if (!grow((void **)&item.e, &item.cap, n_item, sizeof *item.e)) return ps->failed = true, false;
    memcpy(item.e, seq->e + from, n_item * sizeof *item.e);
    item.n = n_item;
    seq->n = from;
    for (uint32_t i = 0; ok && i < min; i++)
        for (uint32_t k = 0; ok && k < n_item; k++) ok = push_elem(ps, seq, item.e[k]);
    uint32_t layers = max == UINT32_MAX ? 1 : max - min, inner = UINT32_MAX;
    for (uint32_t i = 0; ok && i < layers; i++) { /* R ::= item R | (empty), or item inner | (empty) */
        uint32_t r = new_rule(ps, NULL);
        evec alts[2] = {{0}, {0}};
        ok = r != UINT32_MAX;
        for (uint32_t k = 0; ok && k < n_item; k++) ok = push_elem(ps, &alts[0], item.e[k]);
        uint32_t tail = max == UINT32_MAX ? r : inner;
        if (ok && tail != UINT32_MAX) ok = push_elem(ps, &alts[0], (gbnf_elem){.kind = E_RULE, .arg = tail});
        ok = ok && set_alternatives(ps, r, alts, 2);
        free(alts[0].e);
        inner = r;
    }
    if (ok && inner != UINT32_MAX) ok = push_elem(ps, seq, (gbnf_elem){.kind = E_RULE, .arg = inner});
    free(item.e);
    return ok;
}

/* A group "( alternatives )" as a rule of its own. */
static bool parse_group(parser *ps, evec *seq) {
    const char *open = ps->p;
    if (++ps->nesting > MAX_NESTING) return fail_at(ps, open, "parentheses nested more than 64 deep");
    ps->p = skip_space(ps, ps->p + 1, true);
    uint32_t r = new_rule(ps, NULL);
    if (r == UINT32_MAX || !parse_alternatives(ps, r, true)) return false;
    if (ps->p >= ps->end || *ps->p != ')') return fail_at(ps, open, "a '(' without its ')'");
    ps->p++;
    ps->nesting--;
    return push_elem(ps, seq, (gbnf_elem){.kind = E_RULE, .arg = r});
}

/* Items up to the end of the alternative ('|', ')', a newline outside parentheses, the end). */
static bool parse_sequence(parser *ps, evec *seq, bool nested) {
    uint32_t last = UINT32_MAX; /* where the last item starts in seq */
    while (ps->p < ps->end && !ps->failed) {
        char c = *ps->p;
        uint32_t here = seq->n;
        if (c == '"') {
            if (!parse_literal(ps, seq)) return false;
        } else if (c == '[') {
            if (!parse_class(ps, seq)) return false;
        } else if (c == '.') {
            ps->p++;
            if (!push_elem(ps, seq, (gbnf_elem){.kind = E_CHAR, .negated = 1, .arg = ps->g->n_ranges})) return false;
        } else if (is_word_char(c)) {
            const char *name = ps->p;
            while (ps->p < ps->end && is_word_char(*ps->p)) ps->p++;
            uint32_t r = rule_named(ps, name, (size_t)(ps->p - name));
            if (r == UINT32_MAX || !push_elem(ps, seq, (gbnf_elem){.kind = E_RULE, .arg = r})) return false;
        } else if (c == '(') {
            if (!parse_group(ps, seq)) return false;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            const char *at = ps->p;
            uint32_t min, max;
            if (last == UINT32_MAX) return fail_at(ps, at, "a repetition with no item before it");
            if (!parse_counts(ps, &min, &max) || !repeat_item(ps, seq, last, min, max)) return false;
            here = UINT32_MAX; /* x** is refused: the repetition is not an item */
        } else if (c == '<' || c == '!') {
            if (!parse_token(ps, seq)) return false;
        } else {
            break;
        }
        last = here;
        ps->p = skip_space(ps, ps->p, nested);
    }
    return !ps->failed;
}

static bool parse_alternatives(parser *ps, uint32_t rule, bool nested) {
    evec alts[64];
    uint32_t n = 0;
    bool ok = true;
    for (;;) {
        if (n == 64) {
            ok = fail_at(ps, ps->p, "more than 64 alternatives in one rule or group");
            break;
        }
        alts[n] = (evec){0};
        ok = parse_sequence(ps, &alts[n++], nested);
        if (!ok || ps->p >= ps->end || *ps->p != '|') break;
        ps->p = skip_space(ps, ps->p + 1, true);
    }
    ok = ok && set_alternatives(ps, rule, alts, n);
    for (uint32_t i = 0; i < n; i++) free(alts[i].e);
    return ok;
}

static bool parse_rule(parser *ps) {
    const char *name = ps->p;
    while (ps->p < ps->end && is_word_char(*ps->p)) ps->p++;
    if (ps->p == name) return fail_at(ps, name, "a rule starts with its name (letters, digits, '-')");
    uint32_t r = rule_named(ps, name, (size_t)(ps->p - name));
    if (r == UINT32_MAX) return false;
    if (ps->g->rules[r].defined) return fail_at(ps, name, "this rule is defined twice");
    ps->p = skip_space(ps, ps->p, false);
    if (ps->end - ps->p < 3 || memcmp(ps->p, "::=", 3)) return fail_at(ps, ps->p, "expected '::=' after the rule's name");
    ps->p = skip_space(ps, ps->p + 3, true);
    ps->rule = r;
    ps->g->rules[r].defined = true;
    if (!parse_alternatives(ps, r, false)) return false;
    if (ps->p < ps->end && *ps->p != '\n' && *ps->p != '\r')
        return fail_at(ps, ps->p, "expected the end of the line (a rule per line; parentheses or a '|' continue it)");
    return true;
}

/* ===================================================================== checks */

/* Whether rule r can match the empty text, for every rule (a fixpoint). */
static bool *nullable_rules(const bn_gbnf *g) {
    bool *nullable = calloc(g->n_rules ? g->n_rules : 1, sizeof *nullable), changed = true;
    while (nullable && changed) {
        changed = false;
        for (uint32_t r = 0; r < g->n_rules; r++) {
            for (uint32_t a = 0; !nullable[r] && a < g->rules[r].n_alts; a++) {
                const gbnf_elem *e = &g->elems[g->alts[g->rules[r].alt_first + a]];
                while (e->kind == E_RULE && nullable[e->arg]) e++;
                if (e->kind == E_END) nullable[r] = changed = true;
            }
        }
    }
    return nullable;
}

/* Depth-first over the rules each rule can start with (through nullable ones): a rule met
 * again on the way is left recursion. color: 0 new, 1 on the path, 2 done. */
static int left_recursive(const bn_gbnf *g, const bool *nullable, uint8_t *color, uint32_t r) {
    color[r] = 1;
    for (uint32_t a = 0; a < g->rules[r].n_alts; a++) {
        for (const gbnf_elem *e = &g->elems[g->alts[g->rules[r].alt_first + a]]; e->kind == E_RULE; e++) {
            if (color[e->arg] == 1) return (int)e->arg;
            int found = color[e->arg] ? -1 : left_recursive(g, nullable, color, e->arg);
            if (found >= 0) return found;
            if (!nullable[e->arg]) break;
        }
    }
    color[r] = 2;
    return -1;
}

/* How much deeper than the reference to rule r a stack can get while r is expanded, before a
 * character is read (normalize: each rule an alternative starts with, through nullable ones,
 * adds a level). Left recursion is refused first, so the recursion ends. memo: UINT32_MAX unknown. */
static uint32_t rule_growth(const bn_gbnf *g, const bool *nullable, uint32_t *memo, uint32_t r) {
    if (memo[r] != UINT32_MAX) return memo[r];
    uint32_t best = 0;
    for (uint32_t a = 0; a < g->rules[r].n_alts; a++)
        for (const gbnf_elem *e = &g->elems[g->alts[g->rules[r].alt_first + a]]; e->kind != E_END; e++) {
            uint32_t grow = e->kind != E_RULE ? 1 : 1 + rule_growth(g, nullable, memo, e->arg);
            best = grow > best ? grow : best;
            if (e->kind != E_RULE || !nullable[e->arg]) break;
        }
    return memo[r] = best;
}

/* The largest rule_growth of the grammar (after the left-recursion check); false when out of memory. */
static bool set_max_growth(bn_gbnf *g, const bool *nullable) {
    uint32_t *memo = malloc((g->n_rules ? g->n_rules : 1) * sizeof *memo);
    if (!memo) return false;
    memset(memo, 0xff, (g->n_rules ? g->n_rules : 1) * sizeof *memo);
    g->max_growth = 0;
    for (uint32_t r = 0; r < g->n_rules; r++) {
        uint32_t grow = rule_growth(g, nullable, memo, r);
        g->max_growth = grow > g->max_growth ? grow : g->max_growth;
    }
    free(memo);
    return true;
}

static bool check_rules(parser *ps) {
    bn_gbnf *g = ps->g;
    for (uint32_t r = 0; r < g->n_rules; r++)
        if (!g->rules[r].defined) {
            char msg[160];
            snprintf(msg, sizeof msg, "the rule '%.64s' is used but never defined", g->rules[r].name);
            return fail_at(ps, g->rules[r].first_use, msg);
        }
    g->root = UINT32_MAX;
    for (uint32_t r = 0; r < g->n_rules; r++)
        if (g->rules[r].name && !strcmp(g->rules[r].name, "root")) g->root = r;
    if (g->root == UINT32_MAX) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "grammar: there is no 'root' rule"), false;
    bool *nullable = nullable_rules(g);
    uint8_t *color = calloc(g->n_rules, 1);
    int found = -1;
    for (uint32_t r = 0; nullable && color && found < 0 && r < g->n_rules; r++)
        if (!color[r]) found = left_recursive(g, nullable, color, r);
    bool ok = nullable && color && found < 0, grown = ok && set_max_growth(g, nullable);
    if (!nullable || !color || (ok && !grown)) ok = false, bn_error(BITNET_ERR_OUT_OF_MEMORY, "grammar: out of memory");
    else if (found >= 0 && g->rules[found].name)
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "grammar: the rule '%.64s' is left-recursive (it can reach itself before reading a character)",
                 g->rules[found].name);
    else if (found >= 0)
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "grammar: a group or repetition in the rule '%.64s' can repeat without reading a "
                 "character (left recursion)", g->rules[g->rules[found].owner].name);
    free(nullable);
    free(color);
    return ok;
}

bn_gbnf *bn_gbnf_compile(const char *text, size_t len) { return bn_gbnf_compile_tokens(text, len, NULL, NULL); }

bn_gbnf *bn_gbnf_compile_tokens(const char *text, size_t len, bn_gbnf_token_lookup lookup, void *ctx) {
    bn_gbnf *g = calloc(1, sizeof *g);
    if (!g) {
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "grammar: out of memory");
        return NULL;
    }
    g->max_token = -1;
    parser ps = {.g = g, .lookup = lookup, .lookup_ctx = ctx, .start = text, .end = text + len, .p = text};
    if (!text) {
        bn_gbnf_free(g);
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "grammar: the text is NULL");
        return NULL;
    }
    for (ps.p = skip_space(&ps, ps.p, true); ps.p < ps.end; ps.p = skip_space(&ps, ps.p, true))
        if (!parse_rule(&ps)) break;
    if (ps.failed || !check_rules(&ps)) {
        bn_gbnf_free(g);
        return NULL;
    }
    return g;
}

void bn_gbnf_free(bn_gbnf *g) {
    if (!g) return;
    for (uint32_t r = 0; r < g->n_rules; r++) free(g->rules[r].name);
    free(g->rules);
    free(g->elems);
    free(g->ranges);
    free(g->alts);
    free(g);
}

/* ===================================================================== matching */

typedef struct gstack {
    uint8_t depth;
    uint16_t pos[BN_GBNF_MAX_DEPTH];
} gstack;

static void add_stack(bn_gbnf_state *out, const gstack *st) {
    for (uint16_t i = 0; i < out->n_stacks; i++)
        if (out->depth[i] == st->depth && !memcmp(out->pos[i], st->pos, st->depth * sizeof *st->pos)) return;
    if (out->n_stacks == BN_GBNF_MAX_STACKS) { /* ambiguity beyond the bound: the first stacks are kept */
        out->truncated = true;
        return;
    }
    out->depth[out->n_stacks] = st->depth;
    memcpy(out->pos[out->n_stacks++], st->pos, st->depth * sizeof *st->pos);
}

static void expand(const bn_gbnf *g, bn_gbnf_state *out, const gstack *base, uint32_t rule, int *budget);

/* Adds stack st to out with an E_CHAR or E_TOKEN on top (or empty: the text may end),
 * expanding rule references on top into their alternatives. */
static void normalize(const bn_gbnf *g, bn_gbnf_state *out, const gstack *st, int *budget) {
    if (--*budget < 0) {
        out->truncated = true;
        return;
    }
    if (st->depth == 0 || g->elems[st->pos[st->depth - 1]].kind != E_RULE) {
        add_stack(out, st);
        return;
    }
    uint16_t top = st->pos[st->depth - 1];
    gstack base = *st;
    base.depth--;
    if (g->elems[top + 1].kind != E_END) base.pos[base.depth++] = (uint16_t)(top + 1); /* room: one was popped */
    expand(g, out, &base, g->elems[top].arg, budget);
}

static void expand(const bn_gbnf *g, bn_gbnf_state *out, const gstack *base, uint32_t rule, int *budget) {
    const gbnf_rule *r = &g->rules[rule];
    for (uint32_t a = 0; a < r->n_alts; a++) {
        uint32_t start = g->alts[r->alt_first + a];
        gstack next = *base;
        if (g->elems[start].kind != E_END) {
            if (next.depth == BN_GBNF_MAX_DEPTH) { /* deeper than the bound: not followed */
                out->truncated = true;
                continue;
            }
            next.pos[next.depth++] = (uint16_t)start;
        }
        normalize(g, out, &next, budget);
    }
}

/* A stack whose next character may take it past the depth bound (rule_growth) makes dead ends
 * possible: the state says so (truncated) before the character that would find it. */
static void flag_deep_stacks(bn_gbnf_state *s) {
    for (uint16_t i = 0; !s->truncated && i < s->n_stacks; i++)
        if (s->depth[i] + s->g->max_growth > BN_GBNF_MAX_DEPTH) s->truncated = true;
}

void bn_gbnf_init(bn_gbnf_state *s, const bn_gbnf *g) {
    s->g = g;
    s->n_stacks = 0;
    s->need = 0;
    s->cp = 0;
    s->truncated = false;
    gstack empty = {0};
    int budget = NORMALIZE_BUDGET;
    expand(g, s, &empty, g->root, &budget);
    flag_deep_stacks(s);
}

void bn_gbnf_state_copy(bn_gbnf_state *dst, const bn_gbnf_state *src) {
    dst->g = src->g;
    dst->n_stacks = src->n_stacks;
    dst->need = src->need, dst->lo = src->lo, dst->hi = src->hi, dst->cp = src->cp, dst->truncated = src->truncated;
    memcpy(dst->depth, src->depth, src->n_stacks);
    for (uint16_t i = 0; i < src->n_stacks; i++) memcpy(dst->pos[i], src->pos[i], src->depth[i] * sizeof *src->pos[i]);
}

/* Whether E_CHAR e takes code point cp (an E_TOKEN takes no character). */
static bool class_has(const bn_gbnf *g, const gbnf_elem *e, uint32_t cp) {
    if (e->kind != E_CHAR) return false;
    bool in = false;
    for (uint32_t i = 0; !in && i < e->n_ranges; i++) in = cp >= g->ranges[2 * (e->arg + i)] && cp <= g->ranges[2 * (e->arg + i) + 1];
    return in != (e->negated != 0);
}

/* Whether the class takes some code point in [a, b] (an E_TOKEN takes none). */
static bool class_meets(const bn_gbnf *g, const gbnf_elem *e, uint32_t a, uint32_t b) {
    if (e->kind != E_CHAR) return false;
    if (!e->negated) {
        for (uint32_t i = 0; i < e->n_ranges; i++)
            if (g->ranges[2 * (e->arg + i)] <= b && g->ranges[2 * (e->arg + i) + 1] >= a) return true;
        return false;
    }
    for (uint32_t x = a;;) { /* walk [a, b] through the excluded ranges: a gap is a taker */
        uint32_t i = 0;
        while (i < e->n_ranges && !(x >= g->ranges[2 * (e->arg + i)] && x <= g->ranges[2 * (e->arg + i) + 1])) i++;
        if (i == e->n_ranges) return true;
        uint32_t hi = g->ranges[2 * (e->arg + i) + 1];
        if (hi >= b) return false;
        x = hi + 1;
    }
}

/* Stack i of s past its top element (which matched) into next, normalized. */
static void advance_stack(const bn_gbnf_state *s, uint16_t i, bn_gbnf_state *next, int *budget) {
    const bn_gbnf *g = s->g;
    uint16_t top = s->pos[i][s->depth[i] - 1];
    gstack st = {.depth = (uint8_t)(s->depth[i] - 1)};
    memcpy(st.pos, s->pos[i], st.depth * sizeof *st.pos);
    if (g->elems[top + 1].kind != E_END) st.pos[st.depth++] = (uint16_t)(top + 1);
    normalize(g, next, &st, budget);
}

/* s becomes next (false, s unchanged but for truncated, when next has no stack). */
static bool take_stacks(bn_gbnf_state *s, const bn_gbnf_state *next) {
    s->truncated |= next->truncated;
    if (!next->n_stacks) return false;
    s->n_stacks = next->n_stacks;
    memcpy(s->depth, next->depth, next->n_stacks);
    for (uint16_t i = 0; i < next->n_stacks; i++) memcpy(s->pos[i], next->pos[i], next->depth[i] * sizeof *next->pos[i]);
    flag_deep_stacks(s);
    return true;
}

static bool accept_cp(bn_gbnf_state *s, uint32_t cp) {
    bn_gbnf_state next = {.g = s->g};
    int budget = NORMALIZE_BUDGET;
    for (uint16_t i = 0; i < s->n_stacks; i++)
        if (s->depth[i] && class_has(s->g, &s->g->elems[s->pos[i][s->depth[i] - 1]], cp)) advance_stack(s, i, &next, &budget);
    return take_stacks(s, &next);
}

/* Whether stack i's top is a token reference that takes token id. */
static bool token_takes(const bn_gbnf_state *s, uint16_t i, int32_t id) {
    const gbnf_elem *e = s->depth[i] ? &s->g->elems[s->pos[i][s->depth[i] - 1]] : NULL;
    return e && e->kind == E_TOKEN && (e->arg == (uint32_t)id) != (e->negated != 0);
}

int64_t bn_gbnf_max_token(const bn_gbnf *g) { return g->max_token; }

bool bn_gbnf_expects_token(const bn_gbnf_state *s) {
    for (uint16_t i = 0; !s->need && i < s->n_stacks; i++)
        if (s->depth[i] && s->g->elems[s->pos[i][s->depth[i] - 1]].kind == E_TOKEN) return true;
    return false;
}

bool bn_gbnf_token_ref_takes(const bn_gbnf_state *s, int32_t id) {
    for (uint16_t i = 0; !s->need && i < s->n_stacks; i++)
        if (token_takes(s, i, id)) return true;
    return false;
}

bool bn_gbnf_feed_token(bn_gbnf_state *s, int32_t id, const char *bytes, size_t n) {
    bn_gbnf_state by_ref = {.g = s->g};
    int budget = NORMALIZE_BUDGET;
    for (uint16_t i = 0; !s->need && i < s->n_stacks; i++)
        if (token_takes(s, i, id)) advance_stack(s, i, &by_ref, &budget);
    if (!by_ref.n_stacks) return n && bn_gbnf_feed(s, bytes, n); /* the common case: characters only */
    /* both ways: the stacks its text leads to join those of the reference, unless the text
     * ends inside a character (one pending sequence per state: the reference's are kept) */
    bn_gbnf_state by_text;
    bn_gbnf_state_copy(&by_text, s);
    if (n && bn_gbnf_feed(&by_text, bytes, n) && !by_text.need) {
        by_ref.truncated |= by_text.truncated;
        for (uint16_t i = 0; i < by_text.n_stacks; i++) {
            gstack st = {.depth = by_text.depth[i]};
            memcpy(st.pos, by_text.pos[i], st.depth * sizeof *st.pos);
            add_stack(&by_ref, &st);
        }
    }
    return take_stacks(s, &by_ref);
}

/* A UTF-8 sequence in parts: some character the grammar allows next starts with its bytes. */
static bool pending_ok(const bn_gbnf_state *s) {
    unsigned rest = 6u * (s->need - 1u);
    uint32_t a = ((s->cp << 6) | (s->lo & 0x3Fu)) << rest, b = (((s->cp << 6) | (s->hi & 0x3Fu)) << rest) | ((1u << rest) - 1u);
    for (uint16_t i = 0; i < s->n_stacks; i++)
        if (s->depth[i] && class_meets(s->g, &s->g->elems[s->pos[i][s->depth[i] - 1]], a, b)) return true;
    return false;
}

static bool feed_byte(bn_gbnf_state *s, uint8_t c) {
    if (s->need) {
        if (c < s->lo || c > s->hi) return false;
        s->cp = s->cp << 6 | (c & 0x3Fu);
        s->lo = 0x80, s->hi = 0xBF;
        return --s->need ? pending_ok(s) : accept_cp(s, s->cp);
    }
    if (c < 0x80) return accept_cp(s, c);
    if (c < 0xC2 || c > 0xF4) return false;
    s->need = c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    s->cp = c & (0x3Fu >> s->need);
    s->lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    s->hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    return pending_ok(s);
}

bool bn_gbnf_feed(bn_gbnf_state *s, const char *bytes, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!feed_byte(s, (uint8_t)bytes[i])) return false;
    return true;
}

bool bn_gbnf_complete(const bn_gbnf_state *s) {
    for (uint16_t i = 0; !s->need && i < s->n_stacks; i++)
        if (!s->depth[i]) return true;
    return false;
}

bool bn_gbnf_can_continue(const bn_gbnf_state *s) {
    for (uint16_t i = 0; i < s->n_stacks; i++)
        if (s->depth[i]) return true;
    return false;
}
