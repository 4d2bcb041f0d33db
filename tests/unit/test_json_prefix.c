/* Tests of src/text/json_prefix: complete JSON texts are accepted byte by byte and at every
 * split into two feeds (every prefix is a prefix), reported complete only at their end;
 * invalid texts are refused at the first byte that no valid text can have there; the limits
 * (object_only, depth, whitespace runs), UTF-8 and escapes (surrogate pairs). */
#include <string.h>

#include "test.h"
#include "text/json_prefix.h"

/* The index of the first byte refused (len when every byte is accepted). */
static size_t accepted_bytes(const char *text, size_t len, bool object_only, bool *complete) {
    bn_json_prefix s;
    bn_json_prefix_init(&s, object_only);
    for (size_t i = 0; i < len; i++) {
        if (bn_json_prefix_complete(&s) && text[i] != ' ' && text[i] != '\n') *complete = false;
        if (!bn_json_prefix_feed(&s, text + i, 1)) return i;
    }
    *complete = bn_json_prefix_complete(&s);
    return len;
}

/* Every split of the text into two feeds, on a copy of the state after the first, gives the
 * byte-by-byte answer. */
static bool splits_agree(const char *text, size_t len, bool object_only, bool want_ok) {
    for (size_t cut = 0; cut <= len; cut++) {
        bn_json_prefix s, copy;
        bn_json_prefix_init(&s, object_only);
        bool ok = bn_json_prefix_feed(&s, text, cut);
        copy = s;
        ok = ok && bn_json_prefix_feed(&copy, text + cut, len - cut);
        if (ok != want_ok) return false;
    }
    return true;
}

TEST(complete_texts_are_accepted) {
    static const char *const texts[] = {
        "{}", "{\"a\": 1}\n", "{\"a\":[1,2.5,-0.25e+3,1E9,0,-0],\"b\":{\"c\":null,\"d\":true,\"e\":false}}",
        "{\"s\":\"tab\\t quote\\\" slash\\/ back\\\\ \\u00e9\\uD83D\\uDE00\"}", "{\"\xc3\xa9t\xc3\xa9\":\"\xf0\x9f\x98\x80 \xe2\x82\xac\"}",
        "{\"n\":[[],[{}],[[[0]]]]}", "{\"k\" : \"v\" , \"k2\":\n\n\t\"v\"\n}\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t len = strlen(texts[i]);
        bool complete = false;
        CHECK_MSG(accepted_bytes(texts[i], len, true, &complete) == len && complete, "text %zu: %s", i, texts[i]);
        CHECK_MSG(splits_agree(texts[i], len, true, true), "text %zu split", i);
        for (size_t cut = 0; cut < len; cut++) { /* a proper prefix that ends before the last '}' is not complete */
            bn_json_prefix s;
            bn_json_prefix_init(&s, true);
            CHECK(bn_json_prefix_feed(&s, texts[i], cut));
            const char *close = strrchr(texts[i], '}');
            if (texts[i] + cut <= close) CHECK_MSG(!bn_json_prefix_complete(&s), "text %zu complete at %zu", i, cut);
        }
    }
    /* any top-level value when not object_only */
    static const char *const values[] = {"[1, \"x\"]", "\"str\"", "true", "null", " -12.5e-3 "};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        size_t len = strlen(values[i]);
        bool complete = false;
        CHECK_MSG(accepted_bytes(values[i], len, false, &complete) == len, "value %zu: %s", i, values[i]);
        CHECK_MSG(complete == (i != 4 || values[i][len - 1] == ' '), "value %zu complete %d", i, complete);
        bool ignored;
        CHECK_MSG(accepted_bytes(values[i], len, true, &ignored) < len, "object_only accepted value %zu", i);
    }
}

TEST(invalid_texts_are_refused_at_the_right_byte) {
    static const struct {
        const char *text;
        size_t at; /* the first byte refused */
    } cases[] = {
        {"[1]", 0},           {"x", 0},               {"{,}", 1},           {"{\"a\" 1}", 5},      {"{\"a\":}", 5},
        {"{\"a\":1,}", 7},    {"{\"a\":1]", 6},       {"{\"a\":[1,]}", 8},  {"{\"a\":01}", 6},     {"{\"a\":1.}", 7},
        {"{\"a\":-}", 6},     {"{\"a\":1e}", 7},      {"{\"a\":.5}", 5},    {"{\"a\":+1}", 5},     {"{\"a\":tru}", 8},
        {"{\"a\":nul1}", 8},  {"{\"a\":\"\\x\"}", 7}, {"{\"a\":\"\\u12g4\"}", 10}, {"{\"a\":\"\t\"}", 6}, {"{} {}", 3},
        {"{}x", 2},           {"{\"a\":1}}", 7},      {"{a:1}", 1},         {"{\"a\":1 2}", 7},    {"{\"a\":\"\\uDE00\"}", 9},
        {"{\"a\":\"\\uD83Dx\"}", 12}, {"{\"a\":\"\\uD83D\\n\"}", 13}, {"{\"a\":\"\\uD83D\\uD83D\"}", 15},
        {"{\"\xc0\xaf\":1}", 2}, {"{\"\xe0\x80\x80\":1}", 3}, {"{\"\xed\xa0\x80\":1}", 3}, {"{\"\xf4\x90\x80\x80\":1}", 3},
        {"{\"\xf5\":1}", 2},  {"{\"\xc3\":1}", 3},    {"{\"\x80\":1}", 2},   {" {}", 0} /* object_only: '{' first */};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].text);
        bool complete;
        size_t at = accepted_bytes(cases[i].text, len, true, &complete);
        CHECK_MSG(at == cases[i].at, "case %zu '%s': refused at %zu, want %zu", i, cases[i].text, at, cases[i].at);
        CHECK_MSG(splits_agree(cases[i].text, len, true, false), "case %zu split", i);
    }
}

/* Surrogate escapes are refused at the first digit that leaves no valid escape, so that no
 * accepted prefix is a dead end: a lone low half shows at its second digit, and after a high
 * half only "\\ud" then c-f may follow. */
TEST(surrogates_refused_early) {
    bool complete;
    CHECK_EQ_INT((int)accepted_bytes("{\"a\":\"\\udc00\"}", 14, true, &complete), 9);  /* lone low half: at "c" */
    CHECK_EQ_INT((int)accepted_bytes("{\"a\":\"\\uDF", 10, true, &complete), 9);
    CHECK_EQ_INT((int)accepted_bytes("{\"a\":\"\\ud83d\\ue000\"}", 20, true, &complete), 14); /* after a high half */
    CHECK_EQ_INT((int)accepted_bytes("{\"a\":\"\\ud83d\\ud83d\"}", 20, true, &complete), 15);
    CHECK_EQ_INT((int)accepted_bytes("{\"a\":\"\\ud66d\\ude0", 17, true, &complete), 15);
    const char *pair = "{\"a\":\"\\uD83D\\uDE00 \\u00e9\\uffff\"}";
    CHECK_EQ_INT((int)accepted_bytes(pair, strlen(pair), true, &complete), (int)strlen(pair));
    CHECK(complete);
}

TEST(limits) {
    char deep[2 * BN_JSON_PREFIX_MAX_DEPTH + 8];
    size_t n = 0;
    deep[n++] = '{', deep[n++] = '"', deep[n++] = 'a', deep[n++] = '"', deep[n++] = ':';
    for (int d = 1; d < BN_JSON_PREFIX_MAX_DEPTH; d++) deep[n++] = '[';
    bool complete;
    CHECK_EQ_INT((int)accepted_bytes(deep, n, true, &complete), (int)n); /* 32 open containers */
    deep[n++] = '[';
    CHECK_EQ_INT((int)accepted_bytes(deep, n, true, &complete), (int)n - 1); /* the 33rd */
    /* whitespace between tokens: nothing, one space, or one or two newlines and at most 20
     * spaces or tabs */
    CHECK_EQ_INT((int)accepted_bytes("{  ", 3, true, &complete), 2);
    CHECK_EQ_INT((int)accepted_bytes("{ \n", 3, true, &complete), 2);
    CHECK_EQ_INT((int)accepted_bytes("{\t", 2, true, &complete), 1);
    CHECK_EQ_INT((int)accepted_bytes("{\r\n", 3, true, &complete), 1);
    CHECK_EQ_INT((int)accepted_bytes("{\n\n\n", 4, true, &complete), 3);
    CHECK_EQ_INT((int)accepted_bytes("{\n\t \n", 5, true, &complete), 4);
    char ws[BN_JSON_PREFIX_MAX_INDENT + 16] = "{\n\n";
    memset(ws + 3, ' ', BN_JSON_PREFIX_MAX_INDENT);
    strcpy(ws + 3 + BN_JSON_PREFIX_MAX_INDENT, "\"a\":\n\t1 }");
    CHECK_EQ_INT((int)accepted_bytes(ws, strlen(ws), true, &complete), (int)strlen(ws));
    CHECK(complete);
    ws[3 + BN_JSON_PREFIX_MAX_INDENT] = '\t'; /* one more */
    CHECK_EQ_INT((int)accepted_bytes(ws, strlen(ws), true, &complete), 3 + BN_JSON_PREFIX_MAX_INDENT);
    const char *spaced = "{\"a b  c\": \"d  e\" }"; /* spaces inside strings do not count */
    CHECK_EQ_INT((int)accepted_bytes(spaced, strlen(spaced), true, &complete), (int)strlen(spaced));
    CHECK(complete);
    /* a refused feed leaves the caller's copy untouched: try, then go on */
    bn_json_prefix s, trial;
    bn_json_prefix_init(&s, true);
    CHECK(bn_json_prefix_feed(&s, "{\"k\":", 5));
    trial = s;
    CHECK(!bn_json_prefix_feed(&trial, "}", 1));
    trial = s;
    CHECK(bn_json_prefix_feed(&trial, "[]}", 3) && bn_json_prefix_complete(&trial));
    CHECK(!bn_json_prefix_complete(&s));
}

TEST_MAIN_BEGIN("test_json_prefix")
    RUN(complete_texts_are_accepted);
    RUN(invalid_texts_are_refused_at_the_right_byte);
    RUN(surrogates_refused_early);
    RUN(limits);
TEST_MAIN_END()
