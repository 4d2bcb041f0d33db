/* unicode: the Unicode facts the tokenizers need: UTF-8 decoding/encoding with llama.cpp's
 * handling of malformed input, per-codepoint category flags (the \p{..} classes and \s of the
 * pre-tokenizer regexes), simple lowercase mapping, and GPT-2's byte <-> unicode mapping.
 * The tables live in unicode_tables.c, generated from the Unicode Character Database by
 * scripts/gen_unicode_tables.py (see its header for the version). */
#ifndef BITNET_UNICODE_H
#define BITNET_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Category flags: exactly one of the first eight bits is set for every codepoint in
 * 0..0x10FFFF (UNDEFINED for unassigned ones and for values above 0x10FFFF), plus WHITESPACE
 * for the White_Space property. A flags value of 0 means "no codepoint" (past the end of a
 * chunk), which the pre-tokenizers rely on. */
enum {
    BN_UFLAG_UNDEFINED = 0x01,   /* Cn */
    BN_UFLAG_NUMBER = 0x02,      /* \p{N} */
    BN_UFLAG_LETTER = 0x04,      /* \p{L} */
    BN_UFLAG_SEPARATOR = 0x08,   /* \p{Z} */
    BN_UFLAG_MARK = 0x10,        /* \p{M} */
    BN_UFLAG_PUNCTUATION = 0x20, /* \p{P} */
    BN_UFLAG_SYMBOL = 0x40,      /* \p{S} */
    BN_UFLAG_CONTROL = 0x80,     /* \p{C} except Cn */
    BN_UFLAG_CATEGORIES = 0xFF,
    BN_UFLAG_WHITESPACE = 0x100, /* \s (White_Space) */
};

#define BN_UNICODE_MAX 0x10FFFFu
#define BN_UNICODE_REPLACEMENT 0xFFFDu

typedef struct { uint32_t first; uint16_t flags; } bn_unicode_range;
typedef struct { uint32_t cp; uint32_t lower; } bn_unicode_case_pair;

/* Generated tables: ranges sorted by first codepoint, starting at 0, each covering up to the
 * next one's first (the last one up to 0x10FFFF); lowercase pairs sorted by cp. */
extern const bn_unicode_range bn_unicode_ranges[];
extern const size_t bn_unicode_ranges_count;
extern const bn_unicode_case_pair bn_unicode_lowercase[];
extern const size_t bn_unicode_lowercase_count;

/* Flags of a codepoint (BN_UFLAG_UNDEFINED above 0x10FFFF). */
uint16_t bn_unicode_flags(uint32_t cp);
/* Simple lowercase mapping (UnicodeData field 13); cp itself when it has none. */
uint32_t bn_unicode_tolower(uint32_t cp);

/* Length of a UTF-8 sequence judged by its first byte alone, as llama.cpp does when it cuts
 * text into characters: 1 for ASCII and for stray continuation bytes, 2/3/4 by the high bits. */
size_t bn_utf8_len_from_lead(uint8_t lead);

/* Decodes one codepoint from s[0..n) (n >= 1) into *cp and returns the bytes consumed.
 * Malformed input (a continuation byte first, a truncated sequence, a lead byte 0xF8..0xFF)
 * yields U+FFFD and consumes 1 byte. Like llama.cpp, overlong forms and surrogates are
 * accepted as decoded; 4-byte forms above 0x10FFFF are treated as malformed. */
size_t bn_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
/* The length (1..4) of the well-formed UTF-8 sequence at s[0, n) (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF; n >= 1), or 0 when it is not one: a strict
 * check for output that must be UTF-8 (JSON), unlike bn_utf8_decode. */
size_t bn_utf8_valid_len(const uint8_t *s, size_t n);
/* Encodes cp (<= 0x10FFFF) into out; returns 1..4. */
size_t bn_utf8_encode(uint32_t cp, uint8_t out[4]);

/* GPT-2's reversible byte -> codepoint mapping: printable Latin-1 bytes map to themselves,
 * the other 68 bytes to U+0100.. in byte order. */
uint32_t bn_gpt2_byte_to_cp(uint8_t byte);
/* The inverse: the byte for cp, or -1 when cp is not in the image of the mapping. */
int bn_gpt2_cp_to_byte(uint32_t cp);

#endif
