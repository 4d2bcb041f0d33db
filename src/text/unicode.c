/* unicode: lookups over the generated tables, UTF-8 and the GPT-2 byte mapping. */
#include "text/unicode.h"

uint16_t bn_unicode_flags(uint32_t cp) {
    if (cp > BN_UNICODE_MAX) return BN_UFLAG_UNDEFINED;
    /* Binary search for the last range whose first codepoint is <= cp. */
    size_t lo = 0, hi = bn_unicode_ranges_count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (bn_unicode_ranges[mid].first <= cp) lo = mid;
        else hi = mid;
    }
    return bn_unicode_ranges[lo].flags;
}

uint32_t bn_unicode_tolower(uint32_t cp) {
    size_t lo = 0, hi = bn_unicode_lowercase_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bn_unicode_lowercase[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < bn_unicode_lowercase_count && bn_unicode_lowercase[lo].cp == cp)
        return bn_unicode_lowercase[lo].lower;
    return cp;
}

size_t bn_utf8_len_from_lead(uint8_t lead) {
    static const uint8_t len_by_high_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len_by_high_nibble[lead >> 4];
}

static bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

size_t bn_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t b0 = s[0];
    size_t len;
    uint32_t v;
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    if ((b0 & 0xE0) == 0xC0) len = 2, v = b0 & 0x1F;
    else if ((b0 & 0xF0) == 0xE0) len = 3, v = b0 & 0x0F;
    else if ((b0 & 0xF8) == 0xF0) len = 4, v = b0 & 0x07;
    else len = 0, v = 0; /* continuation byte or 0xF8..0xFF */
    if (len == 0 || len > n) goto malformed;
    for (size_t i = 1; i < len; i++) {
        if (!is_continuation(s[i])) goto malformed;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v > BN_UNICODE_MAX) goto malformed;
    *cp = v;
    return len;
malformed:
    *cp = BN_UNICODE_REPLACEMENT;
    return 1;
}

size_t bn_utf8_valid_len(const uint8_t *s, size_t n) {
    if (s[0] < 0x80) return 1;
    size_t len = s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    if (!len || len > n) return 0;
    uint8_t lo = s[0] == 0xE0 ? 0xA0 : s[0] == 0xF0 ? 0x90 : 0x80, hi = s[0] == 0xED ? 0x9F : s[0] == 0xF4 ? 0x8F : 0xBF;
    if (s[1] < lo || s[1] > hi) return 0; /* overlong, surrogate, beyond U+10FFFF */
    for (size_t k = 2; k < len; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return len;
}

size_t bn_utf8_encode(uint32_t cp, uint8_t out[4]) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | ((cp >> 18) & 0x07));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Bytes GPT-2 keeps as themselves: '!'..'~', 0xA1..0xAC, 0xAE..0xFF. */
static bool gpt2_byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t bn_gpt2_byte_to_cp(uint8_t byte) {
    if (gpt2_byte_is_printable(byte)) return byte;
    /* The n-th non-printable byte (in byte order) maps to U+0100 + n. */
    uint32_t n = 0;
    for (unsigned b = 0; b < byte; b++) n += !gpt2_byte_is_printable(b);
    return 0x100 + n;
}

int bn_gpt2_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return gpt2_byte_is_printable(cp) ? (int)cp : -1;
    uint32_t n = 0;
    for (unsigned b = 0; b < 256; b++) {
        if (gpt2_byte_is_printable(b)) continue;
        if (0x100 + n == cp) return (int)b;
        n++;
    }
    return -1;
}
