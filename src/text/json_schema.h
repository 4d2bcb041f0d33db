/* json_schema: generation constrained to a JSON Schema (OpenAI's response_format
 * {"type": "json_schema"}). A schema is compiled once into a graph of nodes; a state then reads
 * the output byte by byte beside json_prefix (which owns the syntax) and refuses every byte
 * after which no text valid against the schema could follow, so masking the tokens whose
 * bytes it refuses keeps the output a prefix of a valid instance, and generation can end as
 * soon as the top-level value closes.
 *
 * What is enforced (JSON Schema 2020-12 meanings): "type", "enum", "const"; "properties",
 * "required", "additionalProperties", "minProperties", "maxProperties"; "items",
 * "prefixItems", "minItems", "maxItems", "uniqueItems" (items one enum / const of at most 64
 * values); "minLength", "maxLength", "pattern" (text/json_regex.h; not with lengths or a
 * format), "format" (below); "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"
 * (numbers, or draft 4's booleans); "anyOf", "oneOf", "allOf" of one schema; "$ref" to "#",
 * "#/$defs/..." or any "#/..." pointer, recursion included; booleans as schemas. And:
 *   - an object's properties come in the order "properties" lists them (a demanding reader
 *     of the output can rely on it, as with OpenAI's and llama.cpp's); optional ones may be
 *     left out; keys not listed (where additionalProperties allows them) may come anywhere but
 *     never repeat a listed name and are written without escapes; at most 64 properties;
 *   - enum and const values are scalars (strings, numbers, booleans, null), written in their
 *     shortest form (strings with only '"', '\\' and control characters escaped);
 *   - a number with bounds or a multipleOf is written without an exponent, in at most 40
 *     bytes, and every byte keeps some number within the bounds reachable (a multiple: at
 *     most the multiple's decimals, up to 6; its residue is tracked exactly, digit by digit);
 *   - anyOf / oneOf alternatives must differ in their first byte ({"type": ["string",
 *     "null"]}, an object or null, ...), so the first byte of a value decides which applies;
 *     anyOf alternatives given by their types alone are merged first, and so are enums and
 *     consts ({"anyOf": [{"type": "integer"}, {"type": "number"}]}, several consts); object
 *     alternatives (anyOf or oneOf) whose first listed property is required are one object
 *     until their first key is read, then the alternative it names (a key union: the first
 *     key must be one of theirs; under oneOf no alternative may allow another's first key),
 *     and those that start with the same key, until its value (a const or enum) is read (a
 *     discriminated union);
 *   - "format" "date", "time", "date-time" and "uuid" are enforced (text/json_format.h);
 *     other formats are annotations, as in 2020-12's default vocabulary; titles,
 *     descriptions, defaults, examples, "$defs" and unknown keywords are ignored.
 * Everything else that constrains a value ("not", "if", "contains", remote "$ref"s, ...)
 * is refused at compile time rather than silently not enforced. The syntax limits of
 * json_prefix apply (32 nested containers, whitespace between tokens one space or one or two
 * newlines and at most 20 spaces or tabs), and the text starts with the value (no leading
 * whitespace). */
#ifndef BITNET_JSON_SCHEMA_H
#define BITNET_JSON_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text/json_prefix.h"
#include "text/json_regex.h"

#define BN_SCHEMA_MAX_PROPS 64    /* properties of one object schema */
#define BN_SCHEMA_MAX_NODES 4096  /* compiled subschemas */
#define BN_SCHEMA_MAX_ENUM 4096   /* enum values of one schema */
#define BN_SCHEMA_MAX_NUMBER 40   /* bytes of a number with bounds (minimum, maximum, ...) */

typedef struct bn_json_schema bn_json_schema;

/* Compiles the schema in text[0, len). NULL with the last error set: BITNET_ERR_INVALID_ARGUMENT
 * naming where in the schema (a JSON pointer) and what is wrong or not supported, or out of
 * memory. */
bn_json_schema *bn_json_schema_compile(const char *text, size_t len);
void bn_json_schema_free(bn_json_schema *s); /* NULL is accepted */

typedef struct bn_json_schema_frame {
    uint16_t node;      /* the subschema of this open container */
    uint8_t next_prop;  /* object: listed properties before this index are passed */
    uint8_t is_array;
    uint32_t count;     /* array: elements started so far; object: keys */
    uint64_t used;      /* uniqueItems array: the enum values its elements took */
} bn_json_schema_frame;

/* The state of a text read against a schema: a plain struct (the schema is borrowed); copy it
 * with bn_json_schema_state_copy to try bytes without committing them. */
typedef struct bn_json_schema_state {
    const bn_json_schema *schema;
    bn_json_prefix syn;
    uint64_t key_match;   /* listed properties whose key starts with the key bytes read */
    uint32_t chars;       /* characters of the string value, or bytes of the key, read so far */
    uint32_t enum_lo, enum_hi, enum_pos; /* enum values that start with the bytes read */
    uint16_t want;        /* the subschema the next value must match */
    uint16_t value;       /* the subschema of the scalar being read */
    uint8_t first;        /* the first byte of that scalar */
    uint8_t num_len;      /* a number with bounds, or a string with a format: its bytes so far */
    char num[BN_SCHEMA_MAX_NUMBER];
    bn_regex_state re;    /* a string with a pattern: the automaton's state */
    bool started, key_escaped;
    uint8_t depth;
    bn_json_schema_frame frames[BN_JSON_PREFIX_MAX_DEPTH]; /* [depth]: the open containers */
} bn_json_schema_state;

void bn_json_schema_init(bn_json_schema_state *s, const bn_json_schema *schema);
/* Copies the live part of src (the open containers' frames, not all BN_JSON_PREFIX_MAX_DEPTH). */
void bn_json_schema_state_copy(bn_json_schema_state *dst, const bn_json_schema_state *src);
/* Feeds bytes; false when no text valid against the schema starts with the text so far plus
 * these bytes (s is then unusable: feed a copy to try). */
bool bn_json_schema_feed(bn_json_schema_state *s, const char *bytes, size_t n);
/* True inside a string, between characters, where further characters change nothing but the
 * count (a value string without enum, a key of an object that lists no properties); *room:
 * how many more may come (UINT32_MAX: no limit). Lets token_constraint settle tokens of plain
 * string characters without feeding them. */
bool bn_json_schema_free_chars(const bn_json_schema_state *s, uint32_t *room);
/* True when the top-level value is complete (and valid). */
bool bn_json_schema_complete(const bn_json_schema_state *s);

#endif
