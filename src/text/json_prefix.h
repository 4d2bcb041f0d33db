/* json_prefix: a byte-at-a-time recognizer of the prefixes of one JSON text (RFC 8259), for
 * generation constrained to JSON (OpenAI's response_format {"type": "json_object"}): before a
 * token is drawn, every token whose bytes would leave the prefix set is masked out, so the
 * output is always a prefix of a valid JSON text, and generation ends when the value closes.
 *
 * What it accepts, beyond RFC 8259's grammar, is narrower on purpose:
 *   - object_only: the top-level value must be an object, and the text starts with its '{'
 *     (OpenAI's json_object; llama.cpp's JSON grammar has no leading whitespace either);
 *   - at most BN_JSON_PREFIX_MAX_DEPTH nested containers;
 *   - whitespace between tokens is nothing, one space, or one or two newlines followed by at
 *     most BN_JSON_PREFIX_MAX_INDENT spaces or tabs (no '\r'): the shapes of compact and of
 *     pretty-printed JSON, and the same bound as llama.cpp's JSON Schema grammars (their
 *     space rule), so that a model cannot stall the reply on whitespace; after the value
 *     closes, whitespace only;
 *   - strings are valid UTF-8 (no overlong forms, no UTF-16 surrogates, nothing past U+10FFFF)
 *     with no control bytes; escapes are RFC 8259's (\uXXXX with 4 hex digits), and a surrogate
 *     escape must be half of a pair (\ud83d\ude00), as strict parsers such as jansson require;
 *   - a top-level number is complete only at the byte after it (never with object_only).
 * The state is a small plain struct: copy it to try bytes without committing them. */
#ifndef BITNET_JSON_PREFIX_H
#define BITNET_JSON_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BN_JSON_PREFIX_MAX_DEPTH 32
#define BN_JSON_PREFIX_MAX_INDENT 20

typedef struct bn_json_prefix {
    uint8_t stack[BN_JSON_PREFIX_MAX_DEPTH]; /* '{' or '[' of each open container */
    uint8_t depth;
    uint8_t mode;      /* what the next byte may be (json_prefix.c) */
    uint8_t sub;       /* within a mode: number state, literal, escape */
    uint8_t count;     /* literal bytes matched, hex digits or UTF-8 continuation bytes left */
    uint8_t lo, hi;    /* the range of the next UTF-8 continuation byte */
    uint8_t ws;        /* the run of whitespace between tokens so far (json_prefix.c: WS_*) */
    uint16_t hex;      /* the \uXXXX escape read so far */
    bool want_low;     /* a high surrogate escape was read: its low half must follow */
    bool in_key;       /* the string being read is an object key */
    bool object_only;
} bn_json_prefix;

void bn_json_prefix_init(bn_json_prefix *s, bool object_only);
/* Feeds bytes; false when they leave the prefixes of valid JSON text (s is then unusable:
 * feed a copy to try). */
bool bn_json_prefix_feed(bn_json_prefix *s, const char *bytes, size_t n);
/* True when the top-level value is complete (only whitespace may follow). */
bool bn_json_prefix_complete(const bn_json_prefix *s);

/* Where in the grammar the next byte falls: what json_schema needs to check a text against a
 * schema beside the syntax. */
typedef enum bn_json_place {
    BN_JSON_AT_VALUE,       /* a value (or whitespace) must come: the top, after ':' or an array's ',' */
    BN_JSON_AT_ARRAY_FIRST, /* after '[': a value or ']' */
    BN_JSON_AT_OBJ_FIRST,   /* after '{': a key or '}' */
    BN_JSON_AT_OBJ_KEY,     /* after an object's ',': a key */
    BN_JSON_AT_COLON,       /* after a key */
    BN_JSON_AT_AFTER,       /* after a value in a container: ',' or the close */
    BN_JSON_IN_KEY,         /* inside an object key */
    BN_JSON_IN_STRING,      /* inside a string value */
    BN_JSON_IN_NUMBER,      /* inside a number (the next byte may also end it) */
    BN_JSON_IN_LITERAL,     /* inside true, false or null */
    BN_JSON_AT_END,         /* the top-level value is complete */
} bn_json_place;
bn_json_place bn_json_prefix_place(const bn_json_prefix *s);
/* Inside a string (key or value), between two characters: the next byte starts a character
 * or closes the string. An escape sequence or a UTF-8 sequence counts as one character, a
 * surrogate pair of escapes as one. */
bool bn_json_prefix_at_char(const bn_json_prefix *s);
/* Inside a string (key or value): feeds bytes while the string lasts, its closing quote
 * included, and returns how many it took (n, or fewer when the string closed); *refused when
 * a byte was refused (s is then unusable). The fast path of json_schema for strings it does
 * not constrain. */
size_t bn_json_prefix_feed_string(bn_json_prefix *s, const char *bytes, size_t n, bool *refused);

#endif
