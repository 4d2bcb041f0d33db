/* json_regex: the "pattern" keyword of JSON Schema (an ECMA-262 regular expression that a
 * string must contain a match of), compiled for generation: a Glushkov automaton of at most 63
 * character positions whose state is a bit set, so that each byte of the string is checked as
 * it comes and refused when no string of the pattern could still be written.
 *
 * Supported: literals, '.', classes ([a-z0-9_], [^...]), \d \w \s and their negations, escaped
 * punctuation, \xHH and \uHHHH, groups ( ) and (?: ), alternation |, quantifiers * + ? {n}
 * {n,} {n,m} (a lazy '?' after them changes nothing here), '^' at the start and '$' at the end
 * (anchoring the whole pattern: "^a|b" is read as "^(a|b)", which matches fewer strings).
 * Refused (a message naming it): backreferences, lookarounds, \b, anchors elsewhere, more than
 * 63 positions after counted repetitions are expanded. The strings written are printable ASCII
 * without '"' and '\\' (no escapes): a subset of what the pattern matches, chosen so that
 * every string written is one some validator in any language reads the same way. */
#ifndef BITNET_JSON_REGEX_H
#define BITNET_JSON_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BN_REGEX_MAX_POSITIONS 63

typedef struct bn_regex {
    uint64_t first, last;       /* positions that may match the first / the last character */
    uint64_t alive;             /* positions from which a match can still be completed */
    uint64_t follow[BN_REGEX_MAX_POSITIONS];
    uint64_t by_char[128];      /* positions whose character set holds the character */
    bool nullable;              /* the empty string matches */
    bool anchored_start, anchored_end;
} bn_regex;

/* The state of a string read so far: positions just matched, and flags. */
typedef struct bn_regex_state {
    uint64_t at;
    uint8_t fresh, done;        /* nothing read yet / a match was found and nothing more is needed */
} bn_regex_state;

/* Compiles pattern[0, len). 0, or -1 with *why set to a static message. */
int bn_regex_compile(bn_regex *re, const char *pattern, size_t len, const char **why);
void bn_regex_start(const bn_regex *re, bn_regex_state *st);
/* Reads character c; false when no string of the pattern starts with what was read. */
bool bn_regex_step(const bn_regex *re, bn_regex_state *st, uint8_t c);
/* Whether the string read so far is one the pattern accepts (contains a match). */
bool bn_regex_accepts(const bn_regex *re, const bn_regex_state *st);
/* Whether the whole of s[0, n) is accepted (for enum values). */
bool bn_regex_matches(const bn_regex *re, const char *s, size_t n);

#endif
