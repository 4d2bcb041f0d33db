/* json_format: the string formats of JSON Schema that json_schema enforces, byte by byte:
 * "date" (RFC 3339 full-date, YYYY-MM-DD, the day within its month, leap years counted),
 * "time" (RFC 3339 full-time: HH:MM:SS, an optional fraction of 1-9 digits, then Z or +HH:MM /
 * -HH:MM; seconds up to 59), "date-time" (a date, 'T', a time) and "uuid" (8-4-4-4-12 hex
 * digits). What is written is a subset of each (upper-case T and Z, no leap second), so that
 * validators that check formats accept it. Other formats are not enforced (annotations). */
#ifndef BITNET_JSON_FORMAT_H
#define BITNET_JSON_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

typedef enum bn_json_format {
    BN_JSON_FORMAT_NONE = 0,
    BN_JSON_FORMAT_DATE,
    BN_JSON_FORMAT_TIME,
    BN_JSON_FORMAT_DATE_TIME,
    BN_JSON_FORMAT_UUID,
} bn_json_format;

#define BN_JSON_FORMAT_MAX_LEN 35 /* bytes of the longest string of a format (date-time) */

/* The format of a "format" name; BN_JSON_FORMAT_NONE for the ones not enforced. */
bn_json_format bn_json_format_from_name(const char *name);
/* Whether t[0, n) (the characters of the string so far) starts a string of format f; *whole:
 * it is one. */
bool bn_json_format_prefix(bn_json_format f, const char *t, size_t n, bool *whole);

#endif
