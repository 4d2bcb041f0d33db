/* json_prefix: the recognizer of JSON text prefixes (see json_prefix.h). One mode per place in
 * the grammar; a number ends at the first byte that cannot extend it, which is then read in the
 * mode that follows the number. */
#include "text/json_prefix.h"

#include <string.h>

enum {
    M_TOP,        /* before the top-level value */
    M_VALUE,      /* a value must start (after ':' or an array's ',') */
    M_OBJ_FIRST,  /* after '{': a key or '}' */
    M_OBJ_KEY,    /* after an object's ',': a key */
    M_COLON,      /* after a key */
    M_ARR_FIRST,  /* after '[': a value or ']' */
    M_AFTER,      /* after a value in a container: ',' or the close */
    M_STRING,
    M_NUMBER,
    M_LITERAL,
    M_DONE,       /* the top-level value is complete */
};

/* String sub-states. */
enum { S_CHAR, S_ESCAPE, S_HEX, S_UTF8, S_LOW_BACKSLASH, S_LOW_U };
/* Number sub-states; the ones marked (end) may end the number. */
enum { N_MINUS, N_ZERO /* end */, N_INT /* end */, N_DOT, N_FRAC /* end */, N_E, N_E_SIGN, N_EXP /* end */ };

static const char *const literals[3] = {"true", "false", "null"};

void bn_json_prefix_init(bn_json_prefix *s, bool object_only) {
    memset(s, 0, sizeof *s);
    s->mode = M_TOP;
    s->object_only = object_only;
}

bool bn_json_prefix_complete(const bn_json_prefix *s) { return s->mode == M_DONE; }

bn_json_place bn_json_prefix_place(const bn_json_prefix *s) {
    switch (s->mode) {
    case M_TOP:
    case M_VALUE: return BN_JSON_AT_VALUE;
    case M_ARR_FIRST: return BN_JSON_AT_ARRAY_FIRST;
    case M_OBJ_FIRST: return BN_JSON_AT_OBJ_FIRST;
    case M_OBJ_KEY: return BN_JSON_AT_OBJ_KEY;
    case M_COLON: return BN_JSON_AT_COLON;
    case M_AFTER: return BN_JSON_AT_AFTER;
    case M_STRING: return s->in_key ? BN_JSON_IN_KEY : BN_JSON_IN_STRING;
    case M_NUMBER: return BN_JSON_IN_NUMBER;
    case M_LITERAL: return BN_JSON_IN_LITERAL;
    }
    return BN_JSON_AT_END;
}

bool bn_json_prefix_at_char(const bn_json_prefix *s) { return s->mode == M_STRING && s->sub == S_CHAR; }

static bool is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* A value has ended: the container's next place, or the end. */
static void end_value(bn_json_prefix *s) { s->mode = s->depth == 0 ? M_DONE : M_AFTER; }

/* The container's closing byte was read. */
static bool close_container(bn_json_prefix *s) {
    s->depth--;
    end_value(s);
    return true;
}

/* A '"' opened a string (an object key, or a value). */
static bool start_string(bn_json_prefix *s, bool key) {
    s->mode = M_STRING, s->sub = S_CHAR, s->in_key = key;
    return true;
}

/* 'u' of a \uXXXX escape: four hex digits follow. */
static bool start_hex(bn_json_prefix *s) {
    s->sub = S_HEX, s->count = 4, s->hex = 0;
    return true;
}

static bool push(bn_json_prefix *s, uint8_t open) {
    if (s->depth == BN_JSON_PREFIX_MAX_DEPTH) return false;
    s->stack[s->depth++] = open;
    s->mode = open == '{' ? M_OBJ_FIRST : M_ARR_FIRST;
    return true;
}

/* The first byte of a value. */
static bool start_value(bn_json_prefix *s, uint8_t c) {
    if (c == '{' || c == '[') return push(s, c);
    if (c == '"') return start_string(s, false);
    if (c == '-' || is_digit(c)) {
        s->mode = M_NUMBER, s->sub = c == '-' ? N_MINUS : c == '0' ? N_ZERO : N_INT;
        return true;
    }
    for (uint8_t i = 0; i < 3; i++)
        if (c == (uint8_t)literals[i][0]) {
            s->mode = M_LITERAL, s->sub = i, s->count = 1;
            return true;
        }
    return false;
}

/* The first byte of a UTF-8 sequence of 2-4 bytes: the continuation count and the range of
 * the first continuation byte (which excludes overlong forms, surrogates and > U+10FFFF). */
static bool utf8_lead(bn_json_prefix *s, uint8_t c) {
    s->lo = 0x80, s->hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) s->count = 1;
    else if (c >= 0xe0 && c <= 0xef) s->count = 2, s->lo = c == 0xe0 ? 0xa0 : 0x80, s->hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) s->count = 3, s->lo = c == 0xf0 ? 0x90 : 0x80, s->hi = c == 0xf4 ? 0x8f : 0xbf;
    else return false;
    s->sub = S_UTF8;
    return true;
}

/* The hex digits of a \uXXXX escape read so far (s->count still counts the current one)
 * can still make a valid escape: a low surrogate (DC00-DFFF) shows at its second digit and
 * must be the awaited half of a pair, which nothing else may be; refusing it there, not at
 * the fourth digit, leaves no prefix without a way on. */
static bool surrogate_digits_ok(const bn_json_prefix *s) {
    int digits = 5 - s->count;
    if (digits == 1) return !s->want_low || s->hex == 0xd;
    if (digits != 2) return true;
    bool low = s->hex >= 0xdc && s->hex <= 0xdf;
    return low == s->want_low;
}

/* A \uXXXX escape is complete: a high surrogate wants its low half next, a low one must
 * follow a high one. */
static bool end_escape(bn_json_prefix *s) {
    bool high = s->hex >= 0xd800 && s->hex <= 0xdbff, low = s->hex >= 0xdc00 && s->hex <= 0xdfff;
    if (low != s->want_low) return false;
    s->want_low = high;
    s->sub = high ? S_LOW_BACKSLASH : S_CHAR;
    return true;
}

static bool string_byte(bn_json_prefix *s, uint8_t c) {
    switch (s->sub) {
    case S_ESCAPE:
        if (c == 'u') return start_hex(s);
        if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' && c != 't') return false;
        s->sub = S_CHAR;
        return true;
    case S_HEX:
        if (!is_hex(c)) return false;
        s->hex = (uint16_t)(s->hex << 4 | (uint16_t)(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10));
        if (!surrogate_digits_ok(s)) return false;
        if (--s->count == 0) return end_escape(s);
        return true;
    case S_LOW_BACKSLASH:
        if (c != '\\') return false;
        s->sub = S_LOW_U;
        return true;
    case S_LOW_U:
        return c == 'u' && start_hex(s);
    case S_UTF8:
        if (c < s->lo || c > s->hi) return false;
        s->lo = 0x80, s->hi = 0xbf;
        if (--s->count == 0) s->sub = S_CHAR;
        return true;
    }
    if (c == '"') {
        if (s->in_key) s->mode = M_COLON;
        else end_value(s);
        return true;
    }
    if (c == '\\') {
        s->sub = S_ESCAPE;
        return true;
    }
    if (c < 0x20) return false;
    return c < 0x80 || utf8_lead(s, c);
}

/* A byte that may extend the number: true when it did; *ended when the number ended before
 * it (the byte is then read in the next mode); false with *ended false when it is invalid. */
static bool number_byte(bn_json_prefix *s, uint8_t c, bool *ended) {
    static const uint8_t can_end = 1u << N_ZERO | 1u << N_INT | 1u << N_FRAC | 1u << N_EXP;
    uint8_t n = s->sub;
    *ended = false;
    if (is_digit(c) && n != N_ZERO) {
        s->sub = n == N_MINUS ? (c == '0' ? N_ZERO : N_INT) : n == N_DOT ? N_FRAC : n == N_E || n == N_E_SIGN ? N_EXP : n;
        return true;
    }
    uint8_t next = c == '.' && (n == N_ZERO || n == N_INT)                           ? N_DOT
                   : (c == 'e' || c == 'E') && (n == N_ZERO || n == N_INT || n == N_FRAC) ? N_E
                   : (c == '+' || c == '-') && n == N_E                                   ? N_E_SIGN
                                                                                          : n;
    if (next != n) {
        s->sub = next;
        return true;
    }
    if (can_end & (1u << n)) {
        end_value(s);
        *ended = true;
    }
    return false;
}

/* One byte outside strings, numbers and literals. */
static bool structural_byte(bn_json_prefix *s, uint8_t c) {
    uint8_t top = s->depth ? s->stack[s->depth - 1] : 0;
    switch (s->mode) {
    case M_TOP: return s->object_only ? c == '{' && push(s, c) : start_value(s, c);
    case M_VALUE: return start_value(s, c);
    case M_ARR_FIRST: return c == ']' ? close_container(s) : start_value(s, c);
    case M_OBJ_FIRST:
    case M_OBJ_KEY:
        if (c == '"') return start_string(s, true);
        return c == '}' && s->mode == M_OBJ_FIRST && close_container(s);
    case M_COLON:
        if (c != ':') return false;
        s->mode = M_VALUE;
        return true;
    case M_AFTER:
        if (c == ',') {
            s->mode = top == '{' ? M_OBJ_KEY : M_VALUE;
            return true;
        }
        return c == (top == '{' ? '}' : ']') && close_container(s);
    }
    return false; /* M_DONE: whitespace only */
}

/* The run of whitespace between two tokens (bn_json_prefix.ws): none yet, one space (the run
 * is over), one or two newlines, then WS_INDENT + k after k spaces or tabs of indentation. */
enum { WS_NONE, WS_SPACE, WS_NEWLINE, WS_NEWLINES, WS_INDENT };

static bool whitespace_byte(bn_json_prefix *s, uint8_t c) {
    if (s->mode == M_TOP && s->object_only) return false;
    bool indent = c == ' ' || c == '\t';
    switch (s->ws) {
    case WS_NONE:
        if (c == '\r' || c == '\t') return false;
        s->ws = c == ' ' ? WS_SPACE : WS_NEWLINE;
        return true;
    case WS_SPACE: return false;
    case WS_NEWLINE:
        if (c == '\n') return s->ws = WS_NEWLINES, true;
        /* fall through */
    case WS_NEWLINES: return indent && (s->ws = WS_INDENT + 1, true);
    default: return indent && s->ws < WS_INDENT + BN_JSON_PREFIX_MAX_INDENT && (s->ws++, true);
    }
}

static bool feed_byte(bn_json_prefix *s, uint8_t c) {
    if (!is_ws(c) || s->mode == M_STRING) s->ws = 0; /* the run of whitespace between tokens ends */
    if (s->mode == M_STRING) return string_byte(s, c);
    if (s->mode == M_LITERAL) {
        const char *lit = literals[s->sub];
        if (c != (uint8_t)lit[s->count]) return false;
        if (lit[++s->count] == '\0') end_value(s);
        return true;
    }
    if (s->mode == M_NUMBER) {
        bool ended;
        if (number_byte(s, c, &ended)) return true;
        if (!ended) return false;
    }
    if (is_ws(c)) return whitespace_byte(s, c);
    return structural_byte(s, c);
}

bool bn_json_prefix_feed(bn_json_prefix *s, const char *bytes, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!feed_byte(s, (uint8_t)bytes[i])) return false;
    return true;
}

size_t bn_json_prefix_feed_string(bn_json_prefix *s, const char *bytes, size_t n, bool *refused) {
    *refused = false;
    s->ws = 0;
    for (size_t i = 0; i < n; i++) {
        if (!string_byte(s, (uint8_t)bytes[i])) {
            *refused = true;
            return i;
        }
        if (s->mode != M_STRING) return i + 1;
    }
    return n;
}
