/* Tests of src/text/gbnf: texts accepted, refused and complete for hand-written grammars
 * (literals, classes, negation, '.', repetitions of every form, groups, recursion, escapes,
 * comments and rules over several lines, a JSON grammar), UTF-8 sequences fed in parts,
 * ambiguity staying within the stack bound, nesting past the depth bound refused without a
 * crash, every error the compiler names (with its line and column), and random walks: after
 * every accepted prefix the text is complete or some byte goes on, and feeding it whole or
 * byte by byte on copies gives the same answers; token references (<[id]>, !<[id]>). */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "text/gbnf.h"
#include "util.h"

static bn_gbnf *compile(const char *text) {
    bn_gbnf *g = bn_gbnf_compile(text, strlen(text));
    CHECK_MSG(g != NULL, "%s: %s", text, bn_last_error_message());
    return g;
}

/* 1: accepted and complete, 0: accepted, not complete, -1: refused. */
static int read_text(const bn_gbnf *g, const char *text, size_t n) {
    bn_gbnf_state s;
    bn_gbnf_init(&s, g);
    if (!bn_gbnf_feed(&s, text, n)) return -1;
    return bn_gbnf_complete(&s) ? 1 : 0;
}

static void expect(const bn_gbnf *g, const char *text, int want) {
    int got = read_text(g, text, strlen(text));
    CHECK_MSG(got == want, "'%s': got %d, want %d", text, got, want);
}

TEST(literals_and_alternatives) {
    bn_gbnf *g = compile("root ::= \"yes\" | \"no\"\n");
    if (!g) return;
    expect(g, "yes", 1);
    expect(g, "no", 1);
    expect(g, "ye", 0);
    expect(g, "", 0);
    expect(g, "yes!", -1);
    expect(g, "nope", -1);
    bn_gbnf_state s;
    bn_gbnf_init(&s, g);
    CHECK(bn_gbnf_feed(&s, "yes", 3) && bn_gbnf_complete(&s) && !bn_gbnf_can_continue(&s));
    bn_gbnf_free(g);
}

TEST(classes_and_repetitions) {
    bn_gbnf *g = compile("root ::= [a-z]+ \"-\" [0-9]{2,3} suffix?\nsuffix ::= [^0-9a-z]\n");
    if (!g) return;
    expect(g, "ab-12", 1);
    expect(g, "ab-123", 1);
    expect(g, "ab-123!", 1);
    expect(g, "ab-1234", -1);
    expect(g, "ab-1", 0);
    expect(g, "-12", -1);
    expect(g, "ab-12\xc3\xa9", 1); /* the negated class takes any other character */
    bn_gbnf_free(g);
    g = compile("root ::= \"a\"{3} \"b\"{2,} \"c\"{0,2} .\n");
    if (!g) return;
    expect(g, "aabb", -1);
    expect(g, "aaabb", 0);
    expect(g, "aaabbb", 1); /* '.' takes the third b */
    expect(g, "aaabbcc\xe2\x82\xac", 1);
    expect(g, "aaabbccc", 1); /* '.' takes the third c */
    expect(g, "aaabbcccc", -1);
    bn_gbnf_free(g);
}

TEST(escapes_comments_and_lines) {
    bn_gbnf *g = compile("# a comment line\n"
                         "root ::= part (   # the rest\n"
                         "    \"x\" |\n"
                         "    \"\\x41\\u00e9\\U0001F600\\n\\t\\\"\\\\\\[\\]\" )\n"
                         "\n"
                         "part ::= [\\]a-]*   # an escape in a class, '-' last\n");
    if (!g) return;
    expect(g, "x", 1);
    expect(g, "]-a]x", 1);
    expect(g, "A\xc3\xa9\xf0\x9f\x98\x80\n\t\"\\[]", 1);
    expect(g, "b", -1);
    bn_gbnf_free(g);
}

TEST(recursion_and_depth) {
    bn_gbnf *g = compile("root ::= expr\nexpr ::= term (\"+\" term)*\nterm ::= [0-9]+ | \"(\" expr \")\"\n");
    if (!g) return;
    expect(g, "(1+(2+3))+4", 1);
    expect(g, "(1+(2+3)", 0);
    expect(g, "(1+)", -1);
    char deep[200];
    memset(deep, '(', 100);
    int n = read_text(g, deep, 100);
    CHECK(n == -1); /* beyond the depth bound: refused, not a crash */
    bn_gbnf_state s;
    bn_gbnf_init(&s, g);
    CHECK(bn_gbnf_feed(&s, deep, 8) && !bn_gbnf_complete(&s) && bn_gbnf_can_continue(&s));
    bn_gbnf_free(g);
}

TEST(utf8_in_parts) {
    bn_gbnf *g = compile("root ::= \"\xc3\xa9\" | \"a\" | [\xce\xb1-\xcf\x89]\n"); /* é, a, α-ω */
    if (!g) return;
    expect(g, "\xc3", 0);
    expect(g, "\xc3\xa9", 1);
    expect(g, "\xc3\xa8", -1);
    expect(g, "\xe2", -1);       /* no three-byte character is allowed */
    expect(g, "\xce\xb1", 1);
    expect(g, "\xcf\x89", 1);
    expect(g, "\xcf\x8a", -1);   /* ϊ is past ω */
    expect(g, "\xce\x90", -1);   /* ΐ comes before α */
    expect(g, "\xc0\x80", -1);   /* overlong */
    expect(g, "\xff", -1);
    bn_gbnf_free(g);
    g = compile("root ::= [^\xe2\x82\xac]\n"); /* anything but € */
    if (!g) return;
    expect(g, "\xe2\x82", 0);    /* €'s first bytes: other characters (₭) share them */
    expect(g, "\xe2\x82\xac", -1);
    expect(g, "\xe2\x82\xad", 1);
    expect(g, "\xed\xa0\x80", -1); /* a surrogate is not UTF-8 */
    bn_gbnf_free(g);
}

TEST(ambiguity_stays_bounded) {
    bn_gbnf *g = compile("root ::= (\"a\" | \"a\" | [a-b])* \"b\" x?\nx ::= \"a\"*\n");
    if (!g) return;
    char text[2001];
    memset(text, 'a', 2000);
    text[2000] = 'b';
    bn_gbnf_state s;
    bn_gbnf_init(&s, g);
    CHECK(bn_gbnf_feed(&s, text, 2000) && s.n_stacks <= BN_GBNF_MAX_STACKS && !bn_gbnf_complete(&s));
    CHECK(bn_gbnf_feed(&s, "b", 1) && bn_gbnf_complete(&s)); /* either [a-b] again or the final b */
    bn_gbnf_free(g);
}

static const char JSON_GRAMMAR[] =
    "root   ::= object\n"
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"
    "array  ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}) )* \"\\\"\" ws\n"
    "number ::= \"-\"? ([0-9] | [1-9] [0-9]{1,15}) (\".\" [0-9]+)? ([eE] [-+]? [0-9]{1,3})? ws\n"
    "ws     ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";

TEST(a_json_grammar) {
    bn_gbnf *g = compile(JSON_GRAMMAR);
    if (!g) return;
    expect(g, "{\"a\": [1, 2.5e3, \"x\\u00e9\\n\", true], \"b\": {\"c\": null}}", 1);
    expect(g, "{\"a\":\n  [1,\n   2]}", 1);
    expect(g, "{\"a\": [1, 2.5e3", 0);
    expect(g, "{\"a\": 01}", -1);
    expect(g, "{\"a\" 1}", -1);
    expect(g, "[1]", -1);
    bn_gbnf_free(g);
}

/* Refused with words in the message. */
static void refused(const char *text, const char *words) {
    bn_gbnf *g = bn_gbnf_compile(text, strlen(text));
    CHECK_MSG(g == NULL, "accepted: %s", text);
    bn_gbnf_free(g);
    CHECK_MSG(strstr(bn_last_error_message(), words) != NULL, "'%s' not in: %s", words, bn_last_error_message());
    CHECK(bn_last_error_status() == BITNET_ERR_INVALID_ARGUMENT);
}

TEST(errors_name_what_and_where) {
    refused("start ::= \"a\"\n", "there is no 'root' rule");
    refused("root ::= a b\na ::= \"x\"\n", "line 1, column 12: the rule 'b' is used but never defined");
    refused("root ::= \"a\"\nroot ::= \"b\"\n", "line 2, column 1: this rule is defined twice");
    refused("root ::= root \"a\" | \"a\"\n", "the rule 'root' is left-recursive");
    refused("root ::= a \"x\"\na ::= b? root\nb ::= \"b\"\n", "left-recursive");
    refused("root ::= (\"a\"?)*\n", "a group or repetition in the rule 'root' can repeat without reading a character");
    refused("root ::= \"abc\n", "unterminated literal");
    refused("root ::= [abc\n", "unterminated character class");
    refused("root ::= \"\\q\"\n", "unknown escape");
    refused("root ::= \"\\x4\"\n", "needs 2, 4 or 8 hex digits");
    refused("root ::= \"\\uD800\"\n", "not a Unicode scalar value");
    refused("root ::= <think>\n", "a token reference by its text (<...>) needs the model's vocabulary");
    refused("root ::= \"a\" <think\n", "line 1, column 14: a token reference is <[id]> or <text>, and this '<' has no '>'");
    refused("root ::= <[12\n", "a token reference is <[id]>");
    refused("root ::= <[]>\n", "a token reference is <[id]>");
    refused("root ::= <[2147483648]>\n", "a token reference is <[id]>");
    refused("root ::= <[99999999999999999999]>\n", "a token reference is <[id]>");
    refused("root ::= !\"a\"\n", "a '!' is followed by a token reference");
    refused("root ::= !\n", "a '!' is followed by a token reference");
    refused("root ::= \"a\"{3,2}\n", "maximum is below its minimum");
    refused("root ::= \"a\"{1001}\n", "above 1000");
    refused("root ::= \"a\"{1,x}\n", "{m}, {m,} or {m,n}");
    refused("root ::= * \"a\"\n", "a repetition with no item before it");
    refused("root ::= \"\"*\n", "a repetition of nothing");
    refused("root ::= \"a\" @\n", "line 1, column 14: expected the end of the line");
    refused("root = \"a\"\n", "expected '::=' after the rule's name");
    refused("root ::= (\"a\"\n", "a '(' without its ')'");
    refused("root ::= [b-a]\n", "a range's end comes before its start");
    refused("root ::= \"a\" [^\\x00-\\U0010FFFF]\n", "line 1, column 14: this character class matches no character");
    refused("root ::= \"\xc3\"\n", "invalid UTF-8 in the grammar");
    char big[1200] = "root ::= \"";
    memset(big + 10, 'a', 70);
    strcpy(big + 80, "\"{1000}\n");
    refused(big, "more than 65535 elements");
    strcpy(big, "root ::= ");
    for (int i = 0; i < 70; i++) strcat(big, i ? " | \"a\"" : "\"a\"");
    strcat(big, "\n");
    refused(big, "more than 64 alternatives");
    CHECK(bn_gbnf_compile(NULL, 0) == NULL);
}

/* Token references (llama.cpp's <[id]> and !<[id]>): a token is taken whole by a reference,
 * whatever its text; its text is read as characters where characters come next; the two ways
 * join; a token's text alone never stands in for a reference. */
TEST(token_references) {
    bn_gbnf *g = compile("root ::= <[7]> body <[8]>\nbody ::= [a-z]* | !<[8]>+\n");
    if (!g) return;
    CHECK(bn_gbnf_max_token(g) == 8); /* it has references, the largest 8 */
    bn_gbnf_state s, t, u;
    bn_gbnf_init(&s, g);
    CHECK(bn_gbnf_expects_token(&s) && bn_gbnf_token_ref_takes(&s, 7) && !bn_gbnf_token_ref_takes(&s, 8));
    bn_gbnf_state_copy(&t, &s);
    CHECK(!bn_gbnf_feed(&t, "a", 1));                 /* characters cannot stand in for <[7]> */
    bn_gbnf_state_copy(&t, &s);
    CHECK(!bn_gbnf_feed_token(&t, 9, "<think>", 7));  /* another token, whatever its text */
    CHECK(bn_gbnf_feed_token(&s, 7, "", 0));          /* an empty piece (a control token) taken by id */
    CHECK(!bn_gbnf_complete(&s) && bn_gbnf_expects_token(&s));
    bn_gbnf_state_copy(&t, &s);
    CHECK(bn_gbnf_feed_token(&t, 20, "abc", 3));      /* both ways: "abc" as characters and !<[8]> */
    bn_gbnf_state_copy(&u, &t);
    CHECK(bn_gbnf_feed(&u, "d", 1));                  /* the characters' way is still there */
    CHECK(bn_gbnf_feed_token(&t, 22, "1", 1));        /* only !<[8]> takes "1" */
    bn_gbnf_state_copy(&u, &t);
    CHECK(!bn_gbnf_feed(&u, "x", 1));                 /* and then no characters */
    CHECK(bn_gbnf_feed_token(&t, 8, "", 0) && bn_gbnf_complete(&t) && !bn_gbnf_can_continue(&t));
    bn_gbnf_state_copy(&t, &s);
    CHECK(bn_gbnf_feed(&t, "xyz", 3) && !bn_gbnf_complete(&t));
    CHECK(bn_gbnf_feed_token(&t, 8, "</x>", 4) && bn_gbnf_complete(&t)); /* the closing token by id */
    bn_gbnf_free(g);
    g = compile("root ::= \"a\" <[3]>? \"b\"\n"); /* an optional reference between characters */
    if (!g) return;
    expect(g, "ab", 1);
    bn_gbnf_init(&s, g);
    CHECK(bn_gbnf_feed(&s, "a", 1) && bn_gbnf_feed_token(&s, 3, "", 0) && bn_gbnf_feed(&s, "b", 1) && bn_gbnf_complete(&s));
    bn_gbnf_init(&s, g);
    CHECK(bn_gbnf_feed(&s, "a", 1) && !bn_gbnf_feed_token(&s, 4, "", 0));
    bn_gbnf_free(g);
    g = compile("root ::= \"x\"\n");
    if (!g) return;
    CHECK(bn_gbnf_max_token(g) == -1); /* no references */
    bn_gbnf_free(g);
}

/* A vocabulary of two named tokens for the text form. */
static int64_t two_tokens(void *ctx, const char *text, size_t len) {
    (void)ctx;
    if (len == 7 && !memcmp(text, "<think>", 7)) return 5;
    if (len == 8 && !memcmp(text, "</think>", 8)) return 6;
    return -1;
}

/* The text form <think> / !<think>: the token the lookup names (the brackets are its text);
 * a text that is not one token is refused naming it, at its line and column. */
TEST(token_references_by_text) {
    const char *text = "root ::= <think> (!</think>)* </think> [a-z]+\n";
    bn_gbnf *g = bn_gbnf_compile_tokens(text, strlen(text), two_tokens, NULL);
    CHECK_MSG(g != NULL, "%s", bn_last_error_message());
    if (!g) return;
    CHECK(bn_gbnf_max_token(g) == 6);
    bn_gbnf_state s;
    bn_gbnf_init(&s, g);
    CHECK(bn_gbnf_feed_token(&s, 5, "", 0) && bn_gbnf_feed_token(&s, 9, "zz", 2) && bn_gbnf_feed_token(&s, 6, "", 0));
    CHECK(!bn_gbnf_complete(&s) && bn_gbnf_feed(&s, "ok", 2) && bn_gbnf_complete(&s));
    bn_gbnf_free(g);
    const char *bad = "root ::= \"a\"\nx ::= <tool>\n";
    CHECK(bn_gbnf_compile_tokens(bad, strlen(bad), two_tokens, NULL) == NULL);
    CHECK_MSG(strstr(bn_last_error_message(), "line 2, column 7: <tool> is not one token of this model") != NULL, "%s", bn_last_error_message());
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t next_random(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

/* Random walks: every accepted prefix is complete or goes on with some byte; the text read
 * whole and byte by byte on copies gets the same answers. */
static void walk(const bn_gbnf *g, int steps) {
    bn_gbnf_state s, trial;
    bn_gbnf_init(&s, g);
    char text[512];
    int n = 0;
    for (; n < steps && n < (int)sizeof text; n++) {
        uint8_t ok[256];
        int n_ok = 0;
        for (int c = 0; c < 256; c++) {
            bn_gbnf_state_copy(&trial, &s);
            if (bn_gbnf_feed(&trial, (const char *)&(uint8_t){(uint8_t)c}, 1)) ok[n_ok++] = (uint8_t)c;
        }
        if (!n_ok) {
            CHECK_MSG(bn_gbnf_complete(&s), "a dead end after %d bytes: %.*s", n, n, text);
            break;
        }
        text[n] = (char)ok[next_random() % (uint32_t)n_ok];
        CHECK(bn_gbnf_feed(&s, text + n, 1));
    }
    bn_gbnf_state whole;
    bn_gbnf_init(&whole, g);
    CHECK(bn_gbnf_feed(&whole, text, (size_t)n) && bn_gbnf_complete(&whole) == bn_gbnf_complete(&s));
}

/* Every state a text leads to is complete, lets some byte go on, or says that dead ends are
 * possible (truncated): here grammars that nest one level per character (not a tail call) read
 * in 1-byte and 2-byte characters until the depth bound stops it, which the state says before
 * the character that finds it (a 2-byte character's first byte was once accepted into a dead
 * end with the flag still clear: fuzz_gbnf). */
TEST(depth_bound_is_flagged_before_a_dead_end) {
    const char *grammars[] = {"root ::= . root \"z\"\n", "root ::= . \"xy\"? root [\xce\xb1-\xcf\x89]*\n",
                              "root ::= a\na ::= (b | \"-\") a \";\" | \"#\"\nb ::= [a-z\xce\xb1]\n"};
    const char *units[] = {"a", "\xce\xb1"};
    for (size_t k = 0; k < sizeof grammars / sizeof grammars[0]; k++)
        for (size_t u = 0; u < 2; u++) {
            bn_gbnf *g = compile(grammars[k]);
            if (!g) continue;
            bn_gbnf_state s, trial;
            bn_gbnf_init(&s, g);
            int bytes = 0, broken = 0;
            bool flagged = false;
            for (; bytes < 200; bytes++) {
                const char *b = units[u] + bytes % strlen(units[u]);
                bn_gbnf_state_copy(&trial, &s);
                if (!bn_gbnf_feed(&trial, b, 1)) break;
                bn_gbnf_state_copy(&s, &trial);
                flagged |= s.truncated;
                bool goes_on = bn_gbnf_complete(&s);
                for (int c = 0; !goes_on && c < 256; c++) {
                    bn_gbnf_state_copy(&trial, &s);
                    goes_on = bn_gbnf_feed(&trial, (const char *)&(uint8_t){(uint8_t)c}, 1);
                }
                broken += !goes_on && !s.truncated;
            }
            CHECK_MSG(!broken && flagged && bytes < 200, "grammar %zu, %s: %d unflagged dead ends, flagged %d, %d bytes", k,
                      u ? "2-byte" : "1-byte", broken, flagged, bytes);
            bn_gbnf_free(g);
        }
}

TEST(random_walks_never_dead_end) {
    const char *grammars[] = {JSON_GRAMMAR, "root ::= expr\nexpr ::= term (\"+\" term)*\nterm ::= [0-9]+ | \"(\" expr \")\"\n",
                              "root ::= ([^a-z\\x00-\\x1F] | \"\xce\xb1\" [\xce\xb2-\xce\xb4]?){1,40}\n",
                              "root ::= \"a\" | (\"a\" | \"ab\")+ \"c\"\n"};
    for (size_t i = 0; i < sizeof grammars / sizeof grammars[0]; i++) {
        bn_gbnf *g = compile(grammars[i]);
        if (!g) continue;
        for (int w = 0; w < 30; w++) walk(g, 200);
        bn_gbnf_free(g);
    }
}

TEST_MAIN_BEGIN("test_gbnf")
    RUN(literals_and_alternatives);
    RUN(classes_and_repetitions);
    RUN(escapes_comments_and_lines);
    RUN(recursion_and_depth);
    RUN(utf8_in_parts);
    RUN(ambiguity_stays_bounded);
    RUN(a_json_grammar);
    RUN(errors_name_what_and_where);
RUN(token_references);
RUN(token_references_by_text);
    RUN(random_walks_never_dead_end);
RUN(depth_bound_is_flagged_before_a_dead_end);
TEST_MAIN_END()
