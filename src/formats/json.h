/* json: a small strict JSON (RFC 8259) reader for the files around a model that are not GGUF:
 * safetensors headers, and Hugging Face's config.json / tokenizer.json / tokenizer_config.json
 * / generation_config.json (read by the converter).
 *
 * bn_json_parse() builds a tree of nodes from a byte buffer. Nothing in the input is trusted:
 * nesting is limited (BN_JSON_MAX_DEPTH), strings must be valid escapes (\uXXXX surrogate pairs
 * become UTF-8; lone surrogates are refused), numbers follow the JSON grammar, and trailing
 * bytes after the value are refused. On error it returns NULL with the last error set
 * (BITNET_ERR_LOAD_FAILED) to "<name>: offset <N>: <what was wrong>". */
#ifndef BITNET_JSON_H
#define BITNET_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BN_JSON_MAX_DEPTH 64

typedef enum bn_json_type {
    BN_JSON_NULL, BN_JSON_BOOL, BN_JSON_NUMBER, BN_JSON_STRING, BN_JSON_ARRAY, BN_JSON_OBJECT,
} bn_json_type;

typedef struct bn_json bn_json;
struct bn_json {
    bn_json_type type;
    char *key;          /* member name when this node is an object member (NUL-terminated) */
    size_t key_len;     /* its length (names may hold \u0000) */
    bool b;             /* BN_JSON_BOOL */
    double num;         /* BN_JSON_NUMBER */
    bool is_uint;       /* the number is a plain non-negative integer that fits in u64 ... */
    uint64_t u;         /* ... with this exact value */
    char *str;          /* BN_JSON_STRING: decoded UTF-8, NUL-terminated */
    size_t str_len;
    bn_json *items;     /* BN_JSON_ARRAY elements / BN_JSON_OBJECT members, in file order */
    size_t n;
    size_t offset;      /* byte offset of the value in the input (for messages) */
};

/* Parses `len` bytes. `name` names the input in messages. NULL on error (last error set). */
bn_json *bn_json_parse(const char *text, size_t len, const char *name);
/* Reads and parses a whole file (at most max_bytes). NULL on error. */
bn_json *bn_json_parse_file(const char *path, size_t max_bytes);
void bn_json_free(bn_json *v); /* NULL is accepted */

/* Member `key` of an object (the first one when repeated); NULL when v is not an object or
 * has no such member. */
const bn_json *bn_json_get(const bn_json *v, const char *key);
/* Typed member access: NULL / false when absent or of another type. */
const char *bn_json_get_str(const bn_json *v, const char *key);
bool bn_json_get_num(const bn_json *v, const char *key, double *out);
/* An integer member (a number with no fraction in [min, max]). */
bool bn_json_get_int(const bn_json *v, const char *key, int64_t min, int64_t max, int64_t *out);
bool bn_json_get_bool(const bn_json *v, const char *key, bool *out);
/* The value a JSON pointer (RFC 6901: "" is the whole document, "/a/b~1c/0" a member of a
 * member, "~1" a '/', "~0" a '~', a number an array index) points at in doc; NULL when none.
 * Segments longer than 255 bytes are cut. */
const bn_json *bn_json_pointer(const bn_json *doc, const char *pointer);

#endif
