/* Tests for src/text/unicode.c: the generated category tables, lowercase mapping, UTF-8 with
 * llama.cpp's malformed-input rules, and GPT-2's byte mapping. */
#include <string.h>

#include "test.h"
#include "text/unicode.h"

TEST(categories) {
    CHECK_EQ_INT(bn_unicode_flags('a'), BN_UFLAG_LETTER);
    CHECK_EQ_INT(bn_unicode_flags('5'), BN_UFLAG_NUMBER);
    CHECK_EQ_INT(bn_unicode_flags(' '), BN_UFLAG_SEPARATOR | BN_UFLAG_WHITESPACE);
    CHECK_EQ_INT(bn_unicode_flags('\n'), BN_UFLAG_CONTROL | BN_UFLAG_WHITESPACE);
    CHECK_EQ_INT(bn_unicode_flags(0x85), BN_UFLAG_CONTROL | BN_UFLAG_WHITESPACE);
    CHECK_EQ_INT(bn_unicode_flags(0xA0), BN_UFLAG_SEPARATOR | BN_UFLAG_WHITESPACE);
    CHECK_EQ_INT(bn_unicode_flags(0x3000), BN_UFLAG_SEPARATOR | BN_UFLAG_WHITESPACE);
    CHECK_EQ_INT(bn_unicode_flags(0x200B), BN_UFLAG_CONTROL); /* zero width space is Cf */
    CHECK_EQ_INT(bn_unicode_flags('!'), BN_UFLAG_PUNCTUATION);
    CHECK_EQ_INT(bn_unicode_flags('$'), BN_UFLAG_SYMBOL);
    CHECK_EQ_INT(bn_unicode_flags('`'), BN_UFLAG_SYMBOL);
    CHECK_EQ_INT(bn_unicode_flags(0x4E00), BN_UFLAG_LETTER);   /* CJK, inside a First/Last range */
    CHECK_EQ_INT(bn_unicode_flags(0xAC01), BN_UFLAG_LETTER);   /* Hangul syllable range */
    CHECK_EQ_INT(bn_unicode_flags(0x0301), BN_UFLAG_MARK);
    CHECK_EQ_INT(bn_unicode_flags(0x0661), BN_UFLAG_NUMBER);   /* Arabic-Indic one */
    CHECK_EQ_INT(bn_unicode_flags(0x216B), BN_UFLAG_NUMBER);   /* Roman numeral (Nl) */
    CHECK_EQ_INT(bn_unicode_flags(0x20AC), BN_UFLAG_SYMBOL);
    CHECK_EQ_INT(bn_unicode_flags(0x1F600), BN_UFLAG_SYMBOL);  /* emoji (So) */
    CHECK_EQ_INT(bn_unicode_flags(0x200D), BN_UFLAG_CONTROL);  /* ZWJ (Cf) */
    CHECK_EQ_INT(bn_unicode_flags(0xFFFF), BN_UFLAG_UNDEFINED);
    CHECK_EQ_INT(bn_unicode_flags(0xE000), BN_UFLAG_CONTROL);  /* private use */
    CHECK_EQ_INT(bn_unicode_flags(0x10FFFF), BN_UFLAG_UNDEFINED);
    CHECK_EQ_INT(bn_unicode_flags(0x110000), BN_UFLAG_UNDEFINED);
}

TEST(tables_are_well_formed) {
    CHECK(bn_unicode_ranges_count > 1000);
    CHECK_EQ_INT(bn_unicode_ranges[0].first, 0);
    int sorted = 1, one_category = 1;
    for (size_t i = 0; i < bn_unicode_ranges_count; i++) {
        if (i && bn_unicode_ranges[i].first <= bn_unicode_ranges[i - 1].first) sorted = 0;
        unsigned cat = bn_unicode_ranges[i].flags & BN_UFLAG_CATEGORIES;
        if (cat == 0 || (cat & (cat - 1))) one_category = 0;
    }
    CHECK(sorted);
    CHECK(one_category);
    for (size_t i = 1; i < bn_unicode_lowercase_count; i++)
        CHECK(bn_unicode_lowercase[i].cp > bn_unicode_lowercase[i - 1].cp);
}

TEST(lowercase) {
    CHECK_EQ_INT(bn_unicode_tolower('A'), 'a');
    CHECK_EQ_INT(bn_unicode_tolower('S'), 's');
    CHECK_EQ_INT(bn_unicode_tolower('a'), 'a');
    CHECK_EQ_INT(bn_unicode_tolower('1'), '1');
    CHECK_EQ_INT(bn_unicode_tolower(0x0130), 'i');   /* I with dot above */
    CHECK_EQ_INT(bn_unicode_tolower(0x212A), 'k');   /* Kelvin sign */
    CHECK_EQ_INT(bn_unicode_tolower(0x0416), 0x0436); /* Cyrillic Zhe */
    CHECK_EQ_INT(bn_unicode_tolower(0x017F), 0x017F); /* long s has no lowercase mapping */
}

static size_t dec(const char *s, size_t n, uint32_t *cp) { return bn_utf8_decode((const uint8_t *)s, n, cp); }

TEST(utf8_decode) {
    uint32_t cp;
    CHECK_EQ_INT(dec("A", 1, &cp), 1); CHECK_EQ_INT(cp, 'A');
    CHECK_EQ_INT(dec("\xC3\xA9", 2, &cp), 2); CHECK_EQ_INT(cp, 0xE9);
    CHECK_EQ_INT(dec("\xE4\xBD\xA0", 3, &cp), 3); CHECK_EQ_INT(cp, 0x4F60);
    CHECK_EQ_INT(dec("\xF0\x9F\x98\x80", 4, &cp), 4); CHECK_EQ_INT(cp, 0x1F600);
    /* malformed: one byte, U+FFFD */
    CHECK_EQ_INT(dec("\x80", 1, &cp), 1); CHECK_EQ_INT(cp, 0xFFFD);
    CHECK_EQ_INT(dec("\xE4\xBD", 2, &cp), 1); CHECK_EQ_INT(cp, 0xFFFD);      /* truncated */
    CHECK_EQ_INT(dec("\xE4\x41\x41", 3, &cp), 1); CHECK_EQ_INT(cp, 0xFFFD);  /* bad continuation */
    CHECK_EQ_INT(dec("\xF8\x88\x80\x80", 4, &cp), 1); CHECK_EQ_INT(cp, 0xFFFD);
    CHECK_EQ_INT(dec("\xF4\x90\x80\x80", 4, &cp), 1); CHECK_EQ_INT(cp, 0xFFFD); /* > U+10FFFF */
    /* accepted as llama.cpp does: overlong and surrogate forms */
    CHECK_EQ_INT(dec("\xC0\xAF", 2, &cp), 2); CHECK_EQ_INT(cp, 0x2F);
    CHECK_EQ_INT(dec("\xED\xA0\x80", 3, &cp), 3); CHECK_EQ_INT(cp, 0xD800);
    CHECK_EQ_INT(bn_utf8_len_from_lead(0x41), 1);
    CHECK_EQ_INT(bn_utf8_len_from_lead(0x80), 1);
    CHECK_EQ_INT(bn_utf8_len_from_lead(0xC3), 2);
    CHECK_EQ_INT(bn_utf8_len_from_lead(0xE4), 3);
    CHECK_EQ_INT(bn_utf8_len_from_lead(0xF0), 4);
}

/* The strict check: well-formed sequences take their length, the rest 0 (overlong forms,
 * surrogates, beyond U+10FFFF, stray continuation bytes, truncated sequences). */
TEST(utf8_valid_len) {
    const struct { const char *s; size_t n, want; } cases[] = {
        {"a", 1, 1}, {"\xc3\xa9", 2, 2}, {"\xe2\x82\xac", 3, 3}, {"\xf0\x9f\x98\x80", 4, 4}, {"\xf4\x8f\xbf\xbf", 4, 4},
        {"\xc0\x80", 2, 0}, {"\xc1\xbf", 2, 0}, {"\xe0\x80\x80", 3, 0}, {"\xed\xa0\x80", 3, 0}, {"\xf0\x80\x80\x80", 4, 0},
        {"\xf4\x90\x80\x80", 4, 0}, {"\xf5\x80\x80\x80", 4, 0}, {"\x80", 1, 0}, {"\xe2\x82", 2, 0}, {"\xe2\x28\xac", 3, 0},
        {"\xed\x9f\xbf", 3, 3}, {"\xee\x80\x80", 3, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(bn_utf8_valid_len((const uint8_t *)cases[i].s, cases[i].n) == cases[i].want, "case %zu", i);
    /* every 2-byte pattern: valid exactly when bn_utf8_decode reads the same code point back
     * from a minimal, non-surrogate encoding */
    int wrong = 0;
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++) {
            uint8_t s[2] = {(uint8_t)a, (uint8_t)b}, out[4];
            uint32_t cp;
            size_t used = bn_utf8_decode(s, 2, &cp), len = bn_utf8_valid_len(s, 2);
            bool strict = cp != 0xFFFD && bn_utf8_encode(cp, out) == used && !memcmp(out, s, used);
            wrong += (len != 0) != strict || (len && len != used);
        }
    CHECK_EQ_INT(wrong, 0);
}

TEST(utf8_round_trip) {
    int bad = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x20000 ? 1 : 97)) {
        uint8_t buf[4];
        size_t n = bn_utf8_encode(cp, buf);
        uint32_t back;
        if (bn_utf8_decode(buf, n, &back) != n || back != cp) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

TEST(gpt2_byte_mapping) {
    CHECK_EQ_INT(bn_gpt2_byte_to_cp('A'), 'A');
    CHECK_EQ_INT(bn_gpt2_byte_to_cp(' '), 0x120);  /* 'Ġ' */
    CHECK_EQ_INT(bn_gpt2_byte_to_cp('\n'), 0x10A); /* 'Ċ' */
    CHECK_EQ_INT(bn_gpt2_byte_to_cp(0), 0x100);
    CHECK_EQ_INT(bn_gpt2_byte_to_cp(0xAD), 0x143); /* the last non-printable byte */
    int bijective = 1;
    for (int b = 0; b < 256; b++)
        if (bn_gpt2_cp_to_byte(bn_gpt2_byte_to_cp((uint8_t)b)) != b) bijective = 0;
    CHECK(bijective);
    CHECK_EQ_INT(bn_gpt2_cp_to_byte(0x20), -1);
    CHECK_EQ_INT(bn_gpt2_cp_to_byte(0x144), -1);
}

TEST_MAIN_BEGIN("test_unicode")
RUN(categories);
RUN(tables_are_well_formed);
RUN(lowercase);
RUN(utf8_decode);
RUN(utf8_round_trip);
RUN(utf8_valid_len);
RUN(gpt2_byte_mapping);
TEST_MAIN_END()
