/* Tests of src/text/json_schema: what compiles and what is refused (with the place and the
 * keyword named), texts accepted and refused at the right byte for each supported keyword, and
 * random walks over the accepted bytes: they never reach a dead end, and every text they
 * complete is valid against the schema by an independent validator written here over the
 * schema's own tree (which knows nothing of property order or first bytes). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json.h"
#include "json_validate.h"
#include "test.h"
#include "text/json_schema.h"
#include "util.h"

/* The index of the first byte refused (len when all are accepted); *complete at the end. */
static size_t accepted(const char *schema, const char *text, bool *complete) {
    bn_json_schema *sc = bn_json_schema_compile(schema, strlen(schema));
    if (!sc) {
        fprintf(stderr, "  compile failed: %s\n", bn_last_error_message());
        *complete = false;
        return (size_t)-1;
    }
    bn_json_schema_state s;
    bn_json_schema_init(&s, sc);
    size_t n = strlen(text), i = 0;
    while (i < n && bn_json_schema_feed(&s, text + i, 1)) i++;
    *complete = i == n && bn_json_schema_complete(&s);
    bn_json_schema_free(sc);
    return i;
}

static bool valid(const char *schema, const char *text) {
    bool complete;
    return accepted(schema, text, &complete) == strlen(text) && complete;
}

/* Where the text is refused: the byte index, -1 when the whole text is accepted. */
static long refused_at(const char *schema, const char *text) {
    bool complete;
    size_t i = accepted(schema, text, &complete);
    return i == strlen(text) ? -1 : (long)i;
}

static bool compile_fails_with(const char *schema, const char *words) {
    bn_json_schema *sc = bn_json_schema_compile(schema, strlen(schema));
    if (sc) {
        bn_json_schema_free(sc);
        fprintf(stderr, "  compiled: %s\n", schema);
        return false;
    }
    bool named = bn_last_error_status() == BITNET_ERR_INVALID_ARGUMENT && strstr(bn_last_error_message(), words);
    if (!named) fprintf(stderr, "  message: %s (wanted '%s')\n", bn_last_error_message(), words);
    return named;
}

#define PERSON                                                                                                     \
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":8},"       \
    "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":150},\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"bb\",\"a\\\"c\"]},"  \
    "\"maxItems\":3},\"ok\":{\"type\":\"boolean\"}},\"required\":[\"name\",\"ok\"],\"additionalProperties\":false}"

/* oneOf: variants a and b told apart by their first key, two shapes by their kind */
#define KEYED                                                                                                            \
    "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"],\"additionalProperties\":false}," \
    "{\"type\":\"object\",\"properties\":{\"b\":{\"type\":\"string\",\"maxLength\":3},\"c\":{\"type\":\"boolean\"}},"            \
    "\"required\":[\"b\",\"c\"],\"additionalProperties\":false},"                                                          \
    "{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"circle\"},\"r\":{\"type\":\"number\"}},\"required\":[\"kind\",\"r\"],"  \
    "\"additionalProperties\":false},"                                                                                  \
    "{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"square\"},\"side\":{\"type\":\"integer\"}},"                       \
    "\"required\":[\"kind\",\"side\"],\"additionalProperties\":false}]}"
#define SHAPES                                                                                                           \
    "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"circle\"},\"r\":{\"type\":\"number\"}},"                 \
    "\"required\":[\"kind\",\"r\"],\"additionalProperties\":false},{\"type\":\"object\",\"properties\":{\"kind\":"              \
    "{\"const\":\"square\"},\"side\":{\"type\":\"integer\"}},\"required\":[\"kind\",\"side\"]},{\"type\":\"null\"}]}"

TEST(refusals_name_the_place_and_keyword) {
    CHECK(compile_fails_with("{\"type\":\"object\",\"propertyNames\":{}}", "not supported (its constraint would not be enforced): propertyNames"));
    CHECK(compile_fails_with("{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", "'pattern' is not supported: an escape it does not support"));
    CHECK(compile_fails_with("{\"type\":\"string\",\"pattern\":\"a(?=b)\"}", "lookarounds"));
    CHECK(compile_fails_with("{\"type\":\"string\",\"pattern\":\"a**\"}", "a quantifier after a quantifier"));
    CHECK(compile_fails_with("{\"type\":\"string\",\"pattern\":\"^\\\"$\"}", "matches no string"));
    CHECK(compile_fails_with("{\"type\":\"string\",\"pattern\":\"^[a-z]{40}[0-9]{30}$\"}", "more than 63"));
    CHECK(compile_fails_with("{\"type\":\"string\",\"pattern\":\"a\",\"maxLength\":3}", "together with minLength"));
    CHECK(compile_fails_with("{\"properties\":{\"n\":{\"type\":\"integer\",\"not\":{\"const\":2}}}}", "at '/properties/n'"));
    CHECK(compile_fails_with("{\"properties\":{\"n\":{\"type\":\"integer\",\"not\":{\"const\":2}}}}", "would not be enforced): not"));
    CHECK(compile_fails_with("{\"properties\":{\"a/b~c\":{\"allOf\":[{\"uniqueItems\":true}]}}}", "at '/properties/a~1b~0c/allOf/0'"));
    CHECK(compile_fails_with("{\"type\":\"integer\",\"minimum\":0.5,\"maximum\":0.7}", "no number lies within"));
    CHECK(compile_fails_with("{\"type\":\"number\",\"minimum\":\"0\"}", "must be a number: minimum"));
    CHECK(compile_fails_with("{\"$ref\":\"https://example.com/s.json\"}", "only local references"));
    CHECK(compile_fails_with("{\"$ref\":\"#/$defs/missing\"}", "points at nothing"));
    CHECK(compile_fails_with("{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", "differ in their first byte"));
    CHECK(compile_fails_with("{\"anyOf\":[{\"type\":\"object\",\"required\":[\"a\"],\"properties\":{\"a\":{}}},{\"type\":\"object\"}]}",
                             "differ in their first byte"));
    CHECK(compile_fails_with("{\"anyOf\":[{\"type\":\"integer\"},{\"const\":1.5}]}", "differ in their first byte"));
    CHECK(compile_fails_with("{\"anyOf\":[{\"type\":\"string\"}],\"type\":\"string\"}", "only constraint"));
    CHECK(compile_fails_with("{\"properties\":{\"a\":{}},\"required\":[\"b\"]}", "does not list: b"));
    CHECK(compile_fails_with("false", "no value is valid"));
    CHECK(compile_fails_with("{\"properties\":{\"a\":false},\"required\":[\"a\"]}", "schema is false"));
    CHECK(compile_fails_with("{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}", "minLength is above maxLength"));
    CHECK(compile_fails_with("{\"type\":\"array\",\"minItems\":1,\"items\":false}", "minItems is above maxItems"));
    CHECK(compile_fails_with("{\"enum\":[{\"a\":1}]}", "must be strings, numbers"));
    CHECK(compile_fails_with("{\"type\":\"integer\",\"enum\":[\"x\",1.5]}", "no enum / const value fits"));
    CHECK(compile_fails_with("{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}", "cycle"));
    CHECK(compile_fails_with("{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"},{\"type\":\"null\"}]}},\"$ref\":\"#/$defs/a\"}",
                             "lead back to the same schema"));
    CHECK(compile_fails_with("{\"type\":\"strin\"}", "'type' must be one of"));
    CHECK(compile_fails_with("{\"type\":\"array\",\"items\":[{}]}", "array form"));
    CHECK(compile_fails_with("{\"allOf\":[{\"type\":\"string\"},{\"maxLength\":2}]}", "exactly one schema"));
    CHECK(compile_fails_with("{\"type\":\"object\",\"properties\":{\"a\":{},\"a\":{}}}", "listed twice"));
    CHECK(compile_fails_with("{\"type\":", "json_schema"));
    CHECK(compile_fails_with("[1]", "must be an object or a boolean"));
    CHECK(compile_fails_with("{\"properties\":{\"\x9e\":{}}}", "property name is not valid UTF-8"));
    CHECK(compile_fails_with("{\"enum\":[\"ok\",\"\xc3\"]}", "not valid UTF-8"));
    /* 65 properties */
    char big[2048] = "{\"properties\":{";
    for (int i = 0; i < 65; i++) snprintf(big + strlen(big), sizeof big - strlen(big), "%s\"p%d\":{}", i ? "," : "", i);
    strcat(big, "}}");
    CHECK(compile_fails_with(big, "more than 64 properties"));
    /* nesting through references deeper than the compiler's bound */
    char deep[4096] = "{\"$defs\":{";
    for (int i = 0; i < 70; i++)
        snprintf(deep + strlen(deep), sizeof deep - strlen(deep), "%s\"d%d\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/d%d\"}}",
                 i ? "," : "", i, i + 1);
    strcat(deep, ",\"d70\":{}},\"$ref\":\"#/$defs/d0\"}");
    CHECK(compile_fails_with(deep, "nested more than 64 deep"));
    /* annotations and unknown keywords compile */
    bool complete;
    CHECK(accepted("{\"title\":\"t\",\"description\":\"d\",\"format\":\"email\",\"type\":\"string\",\"x-custom\":1,\"default\":\"a\"}",
                   "\"x\"", &complete) == 3 && complete);
}

TEST(objects_keep_the_listed_order) {
    CHECK(valid(PERSON, "{\"name\":\"Ann\",\"age\":31,\"tags\":[\"a\",\"a\\\"c\"],\"ok\":true}"));
    CHECK(valid(PERSON, "{ \"name\" : \"Bo\" ,\n \"ok\" : false }"));         /* optional ones left out */
    CHECK_EQ_INT(refused_at(PERSON, "{\"ok\":true,\"name\":\"x\"}"), 2);        /* out of order */
    CHECK_EQ_INT(refused_at(PERSON, "{\"name\":\"x\"}"), 11);                   /* "ok" is required */
    CHECK_EQ_INT(refused_at(PERSON, "{\"name\":\"x\",\"age\":1.5"), 19);        /* integer */
    CHECK_EQ_INT(refused_at(PERSON, "{\"name\":\"x\",\"age\":1e3"), 19);
    CHECK_EQ_INT(refused_at(PERSON, "{\"name\":\"x\",\"ok\":true,"), 21);       /* nothing may follow "ok" */
    CHECK_EQ_INT(refused_at(PERSON, "{\"name\":\"x\",\"nope\""), 13);           /* not listed, none allowed */
    CHECK_EQ_INT(refused_at(PERSON, "{\"name\":\"x\",\"age\":1,\"age\""), 21);  /* passed */
    CHECK_EQ_INT(refused_at(PERSON, "{\"nam\":"), 5);                           /* a prefix of a name only */
    CHECK_EQ_INT(refused_at(PERSON, " {"), 0);                                  /* no leading whitespace */
    CHECK_EQ_INT(refused_at(PERSON, "[]"), 0);
    /* listed keys and others: others anywhere, never a listed name, never escaped */
    const char *mixed = "{\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"null\"}},\"required\":[\"b\"],"
                        "\"additionalProperties\":{\"type\":\"number\"}}";
    CHECK(valid(mixed, "{\"x\":1,\"a\":\"s\",\"y\":2.5,\"b\":null,\"z\":-3}"));
    CHECK(valid(mixed, "{\"b\":null}"));
    CHECK_EQ_INT(refused_at(mixed, "{\"b\":null,\"a\""), 12);    /* "a" was passed over */
    CHECK_EQ_INT(refused_at(mixed, "{\"x\":\"s\""), 5);         /* others are numbers */
    CHECK_EQ_INT(refused_at(mixed, "{\"\\u0061\":"), 2);        /* an escape could spell "a" */
    CHECK_EQ_INT(refused_at(mixed, "{\"a\":\"s\"}"), 8);        /* "b" is required */
    /* minProperties / maxProperties: counted, and never left out of reach */
    CHECK_EQ_INT(refused_at("{\"type\":\"object\",\"minProperties\":1}", "{}"), 1);
    CHECK(valid("{\"type\":\"object\",\"minProperties\":1}", "{\"a\":1}"));
    CHECK_EQ_INT(refused_at("{\"type\":\"object\",\"maxProperties\":1}", "{\"a\":1,"), 6);
    const char *two = "{\"properties\":{\"x\":{},\"y\":{}},\"additionalProperties\":false,\"minProperties\":2}";
    CHECK(valid(two, "{\"x\":1,\"y\":2}"));
    CHECK_EQ_INT(refused_at(two, "{\"y\""), 2);              /* y first leaves one property at most */
    CHECK_EQ_INT(refused_at("{\"properties\":{\"a\":{},\"b\":{}},\"required\":[\"b\"],\"maxProperties\":1}", "{\"a\""), 2);
    CHECK_EQ_INT(refused_at("{\"properties\":{\"b\":{}},\"required\":[\"b\"],\"maxProperties\":1}", "{\"z\""), 2);
    CHECK(compile_fails_with("{\"properties\":{\"a\":{}},\"additionalProperties\":false,\"minProperties\":2}", "cannot be met"));
    CHECK(compile_fails_with("{\"properties\":{\"a\":{},\"b\":{}},\"required\":[\"a\",\"b\"],\"maxProperties\":1}", "cannot be met"));
    /* {"type":"object"} alone: any members, escaped keys too (json_object) */
    CHECK(valid("{\"type\":\"object\"}", "{\"k\\n\":[1,{\"x\":null}],\"k\":{}}"));
    CHECK(valid("{\"type\":\"object\"}", "{}"));
    /* a key listed with characters that need escapes is matched in its shortest form */
    CHECK(valid("{\"properties\":{\"q\\\"t\":{\"const\":1}},\"additionalProperties\":false}", "{\"q\\\"t\":1}"));
}

TEST(strings_enums_and_numbers) {
    const char *len = "{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}";
    CHECK(valid(len, "\"ab\""));
    CHECK(valid(len, "\"\xc3\xa9\\n\xf0\x9f\x98\x80\""));            /* é, \n, 😀: 3 characters */
    CHECK(valid(len, "\"\\ud83d\\ude00\\u0041\""));                   /* a surrogate pair is one */
    CHECK_EQ_INT(refused_at(len, "\"a\""), 2);
    CHECK_EQ_INT(refused_at(len, "\"abcd\""), 4);
    CHECK_EQ_INT(refused_at(len, "\"ab\xc3\xa9\xc3"), 5);              /* a lead byte at the maximum */
    CHECK_EQ_INT(refused_at(len, "\"abc\\n"), 4);
    const char *en = "{\"enum\":[\"red\",\"green\",12,1,true,null,-0.5,\"a\\u0000b\"]}";
    CHECK(valid(en, "\"red\"") && valid(en, "\"green\"") && valid(en, "true") && valid(en, "null"));
    CHECK(valid(en, "12 ") && valid(en, "1 ") && valid(en, "-0.5 ") && valid(en, "\"a\\u0000b\""));
    CHECK_EQ_INT(refused_at(en, "\"gree\""), 5);
    CHECK_EQ_INT(refused_at(en, "\"blue\""), 1);
    CHECK_EQ_INT(refused_at(en, "13"), 1);
    CHECK_EQ_INT(refused_at(en, "false"), 0);
    CHECK_EQ_INT(refused_at(en, "1.0"), 1);                            /* the shortest form only */
    CHECK(valid("{\"type\":\"array\",\"items\":{\"enum\":[1,12]}}", "[1,12,1]"));
    CHECK_EQ_INT(refused_at("{\"type\":\"array\",\"items\":{\"enum\":[10,12]}}", "[1,"), 2);
    CHECK(valid("{\"const\":\"x\"}", "\"x\""));
    CHECK(valid("{\"type\":\"integer\",\"enum\":[\"x\",2]}", "2 "));   /* values of another type dropped */
    CHECK_EQ_INT(refused_at("{\"type\":\"integer\",\"enum\":[\"x\",2]}", "\"x\""), 0);
    CHECK(valid("{\"type\":\"number\"}", "-1.5e+3 ") && valid("{\"type\":\"integer\"}", "-0 "));
    CHECK(!valid("{\"type\":\"number\"}", "-1.5e+3"));                 /* a number ends at the byte after it */
    CHECK(valid("{\"type\":\"boolean\"}", "false") && refused_at("{\"type\":\"boolean\"}", "null") == 0);
}

TEST(numbers_within_bounds) {
    const char *pct = "{\"type\":\"integer\",\"minimum\":0,\"maximum\":100}";
    CHECK(valid(pct, "0 ") && valid(pct, "100 ") && valid(pct, "42 ") && valid(pct, "-0 "));
    CHECK_EQ_INT(refused_at(pct, "-1"), 1);
    CHECK_EQ_INT(refused_at(pct, "101"), 2);
    CHECK_EQ_INT(refused_at(pct, "1000"), 3);
    CHECK_EQ_INT(refused_at(pct, "5.0"), 1);
    const char *unit = "{\"type\":\"number\",\"minimum\":0,\"maximum\":1}";
    CHECK(valid(unit, "1.0 ") && valid(unit, "0.999 ") && valid(unit, "0 ") && valid(unit, "1 "));
    CHECK_EQ_INT(refused_at(unit, "1.5"), 2);
    CHECK_EQ_INT(refused_at(unit, "2"), 0);
    CHECK_EQ_INT(refused_at(unit, "1e0"), 1);                        /* no exponent with bounds */
    CHECK_EQ_INT(refused_at(unit, "10"), 1);
    const char *positive = "{\"type\":\"number\",\"exclusiveMinimum\":0}";
    CHECK(valid(positive, "0.5 ") && valid(positive, "7 "));
    CHECK_EQ_INT(refused_at(positive, "0 "), 1);                     /* 0 itself is excluded */
    CHECK_EQ_INT(refused_at(positive, "0.0 "), 3);
    CHECK_EQ_INT(refused_at(positive, "-"), 0);
    const char *draft4 = "{\"type\":\"integer\",\"maximum\":10,\"exclusiveMaximum\":true,\"minimum\":-20}";
    CHECK(valid(draft4, "9 ") && valid(draft4, "-20 "));
    CHECK_EQ_INT(refused_at(draft4, "10"), 1);   /* 10 is excluded, 100 is above */
    CHECK_EQ_INT(refused_at(draft4, "-21"), 2);
    CHECK_EQ_INT(refused_at(draft4, "-3"), -1);
    CHECK(valid("{\"type\":\"number\",\"minimum\":1.5}", "8888888888888811.5288 ")); /* beyond 2^53 (fuzz_json_schema) */
    CHECK(valid("{\"type\":\"integer\",\"maximum\":1e300}", "123456789012345678901234567890 "));
    CHECK(valid("{\"type\":\"integer\",\"minimum\":1000}", "1000 "));
    CHECK_EQ_INT(refused_at("{\"type\":\"integer\",\"minimum\":1000}", "999 "), 3);
    CHECK(valid("{\"enum\":[1,5,50],\"maximum\":10}", "5 "));
    CHECK_EQ_INT(refused_at("{\"enum\":[1,5,50],\"maximum\":10}", "50"), 1); /* an enum value beyond the bounds is dropped */
    /* bounds apply to numbers only: a string or null still passes */
    CHECK(valid("{\"type\":[\"integer\",\"null\"],\"minimum\":3}", "null"));
}

/* multipleOf: the numbers every digit leads to are multiples (within the bounds) */
TEST(multiples) {
    const char *five = "{\"type\":\"integer\",\"multipleOf\":5}";
    CHECK(valid(five, "0 ") && valid(five, "35 ") && valid(five, "-10 ") && valid(five, "123456789012345678901234567890 "));
    CHECK_EQ_INT(refused_at(five, "12 "), 2); /* 12 could still grow into 120 */
    CHECK_EQ_INT(refused_at(five, "5.0"), 1);
    const char *cents = "{\"type\":\"number\",\"multipleOf\":0.01,\"minimum\":0}";
    CHECK(valid(cents, "19.99 ") && valid(cents, "3 ") && valid(cents, "0.5 ") && valid(cents, "0.07 "));
    CHECK_EQ_INT(refused_at(cents, "1.234"), 4);
    CHECK_EQ_INT(refused_at(cents, "-1"), 1);
    CHECK_EQ_INT(refused_at(cents, "1e2"), 1);
    const char *quarter = "{\"type\":\"number\",\"multipleOf\":2.5,\"exclusiveMinimum\":-5,\"maximum\":12}";
    CHECK(valid(quarter, "-2.5 ") && valid(quarter, "10 ") && valid(quarter, "7.5 ") && valid(quarter, "0 "));
    CHECK_EQ_INT(refused_at(quarter, "-5"), 1);   /* -5 is excluded, -50 beyond */
    CHECK_EQ_INT(refused_at(quarter, "12"), 1);   /* 12 is no multiple, 12.5 and 120 beyond */
    CHECK_EQ_INT(refused_at(quarter, "7.2"), 2);
    CHECK_EQ_INT(refused_at(quarter, "1 "), 1);
    /* an integer multiple of 2.5: a multiple of 5 */
    CHECK(valid("{\"type\":\"integer\",\"multipleOf\":2.5}", "15 "));
    CHECK_EQ_INT(refused_at("{\"type\":\"integer\",\"multipleOf\":2.5}", "12 "), 2);
    /* a bound that leaves one multiple: 7 in [6, 13] */
    CHECK(valid("{\"type\":\"integer\",\"multipleOf\":7,\"minimum\":6,\"maximum\":13}", "7 "));
    CHECK_EQ_INT(refused_at("{\"type\":\"integer\",\"multipleOf\":7,\"minimum\":6,\"maximum\":13}", "1"), 0);
    CHECK(valid("{\"enum\":[3,10,15],\"multipleOf\":5}", "15 "));
    CHECK_EQ_INT(refused_at("{\"enum\":[3,10,15],\"multipleOf\":5}", "3"), 0);
    CHECK(compile_fails_with("{\"type\":\"integer\",\"multipleOf\":7,\"minimum\":1,\"maximum\":6}", "no number lies within"));
    CHECK(compile_fails_with("{\"type\":\"number\",\"multipleOf\":0}", "greater than 0: multipleOf"));
    CHECK(compile_fails_with("{\"type\":\"number\",\"multipleOf\":0.0000001}", "at most 6 decimals"));
    CHECK(compile_fails_with("{\"type\":\"number\",\"multipleOf\":0.5,\"maximum\":1e300}", "beyond 2^52"));
}

/* The valid spellings of multiple-of schemas, and the constraint walked over every text of
 * "-0123456789." up to MULT_DEPTH bytes (a refused byte ends that branch: its texts all
 * start with a refused one). */
#define MULT_DEPTH 6
#define MULT_MAX_TEXTS 4096
typedef struct {
    char texts[MULT_MAX_TEXTS][24];
    int n;
    int wrong;
} spellings;

static bool starts_some(const spellings *v, const char *t, size_t len, bool whole) {
    for (int i = 0; i < v->n; i++)
        if (!strncmp(v->texts[i], t, len) && (!whole || v->texts[i][len] == '\0')) return true;
    return false;
}

static void walk_multiples(const char *schema, const bn_json_schema_state *s, char *t, size_t len, spellings *v) {
    static const char alphabet[] = "-0123456789.";
    bn_json_schema_state next, ended;
    for (int a = 0; alphabet[a]; a++) {
        t[len] = alphabet[a];
        bn_json_schema_state_copy(&next, s);
        bool taken = bn_json_schema_feed(&next, t + len, 1);
        bool whole = false;
        if (taken) {
            bn_json_schema_state_copy(&ended, &next);
            whole = bn_json_schema_feed(&ended, " ", 1) && bn_json_schema_complete(&ended);
        }
        if ((taken != starts_some(v, t, len + 1, false) || whole != starts_some(v, t, len + 1, true)) && v->wrong++ < 5)
            fprintf(stderr, "  %s: '%.*s' taken %d, a whole number %d (valid spellings: %d, %d)\n", schema, (int)len + 1, t, taken, whole,
                    starts_some(v, t, len + 1, false), starts_some(v, t, len + 1, true));
        if (taken && len + 1 < MULT_DEPTH) walk_multiples(schema, &next, t, len + 1, v);
    }
}

/* Bounded schemas with multipleOf: a byte is taken exactly when some multiple within the
 * bounds starts with the text, and a number ends exactly when it is one (every spelling the
 * constraint allows: no exponent, 0 .. the multiple's decimals, "-0" for 0). */
TEST(multiples_equal_brute_force) {
    static const struct {
        const char *schema;
        double mult, lo, hi;
        bool lo_open, hi_open;
        int decimals;
    } cases[] = {
        {"{\"type\":\"number\",\"multipleOf\":0.25,\"minimum\":-3,\"exclusiveMaximum\":7.5}", 0.25, -3, 7.5, false, true, 2},
        {"{\"type\":\"integer\",\"multipleOf\":6,\"exclusiveMinimum\":-40,\"maximum\":55}", 6, -40, 55, true, false, 0},
        {"{\"type\":\"number\",\"multipleOf\":1.5,\"minimum\":-9,\"maximum\":9}", 1.5, -9, 9, false, false, 1},
        {"{\"type\":\"number\",\"multipleOf\":0.01,\"minimum\":0.99,\"maximum\":1.01}", 0.01, 0.99, 1.01, false, false, 2},
        {"{\"type\":\"integer\",\"multipleOf\":7,\"minimum\":-1000,\"exclusiveMaximum\":10000}", 7, -1000, 10000, false, true, 0},
    };
    static spellings v;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        v.n = v.wrong = 0;
        for (long units = -100000; units <= 100000; units++) { /* a grid of 0.01 over [-1000, 1000], and 1 beyond */
            double x = k == 4 ? (double)units / 10 : units / 100.0, q = x / cases[k].mult;
            if (k == 4 && units % 10) continue;
            if (fabs(q - round(q)) > 1e-9 || x < cases[k].lo || (cases[k].lo_open && x == cases[k].lo) || x > cases[k].hi ||
                (cases[k].hi_open && x == cases[k].hi))
                continue;
            for (int d = 0; d <= cases[k].decimals; d++)
                for (int neg_zero = 0; neg_zero <= (x == 0); neg_zero++) {
                    char one[24];
                    snprintf(one, sizeof one, "%s%.*f", neg_zero ? "-" : "", d, x);
                    if (fabs(strtod(one, NULL) - x) > 1e-9) continue; /* x has more decimals than d */
                    if (v.n < MULT_MAX_TEXTS && strlen(one) <= MULT_DEPTH) snprintf(v.texts[v.n++], sizeof v.texts[0], "%s", one);
                }
        }
        if (k == 4) /* and beyond the grid: the multiples of 7 in [1001, 9999] */
            for (int m = 1001; m < 10000; m++)
                if (m % 7 == 0 && v.n < MULT_MAX_TEXTS) snprintf(v.texts[v.n++], sizeof v.texts[0], "%d", m);
        bn_json_schema *sc = bn_json_schema_compile(cases[k].schema, strlen(cases[k].schema));
        CHECK_MSG(sc != NULL && v.n > 3 && v.n < MULT_MAX_TEXTS, "case %zu: %d texts (%s)", k, v.n, sc ? "compiled" : bn_last_error_message());
        if (!sc) continue;
        bn_json_schema_state s;
        bn_json_schema_init(&s, sc);
        char t[MULT_DEPTH + 1];
        walk_multiples(cases[k].schema, &s, t, 0, &v);
        CHECK_MSG(v.wrong == 0, "case %zu: %d texts judged wrongly", k, v.wrong);
        bn_json_schema_free(sc);
    }
}

TEST(string_formats) {
    const char *date = "{\"type\":\"string\",\"format\":\"date\"}";
    CHECK(valid(date, "\"2024-02-29\"") && valid(date, "\"1999-12-31\""));
    CHECK_EQ_INT(refused_at(date, "\"2023-02-29\""), 10);  /* not a leap year */
    CHECK_EQ_INT(refused_at(date, "\"2024-13"), 7);
    CHECK_EQ_INT(refused_at(date, "\"2024-1-"), 7);
    CHECK_EQ_INT(refused_at(date, "\"2024-04-31\""), 10);
    CHECK_EQ_INT(refused_at(date, "\"2024-01-01x"), 11);
    CHECK_EQ_INT(refused_at(date, "\"\\u0032"), 1);        /* no escapes */
    const char *time = "{\"type\":\"string\",\"format\":\"time\"}";
    CHECK(valid(time, "\"12:30:00Z\"") && valid(time, "\"23:59:59.123+05:30\"") && valid(time, "\"00:00:00-12:00\""));
    CHECK_EQ_INT(refused_at(time, "\"24"), 2);
    CHECK_EQ_INT(refused_at(time, "\"12:30:00\""), 9);      /* the offset is required */
    CHECK_EQ_INT(refused_at(time, "\"12:30:00.Z"), 10);
    CHECK_EQ_INT(refused_at(time, "\"12:30:00.1234567890"), 19); /* at most 9 fraction digits */
    const char *dt = "{\"type\":\"string\",\"format\":\"date-time\"}";
    CHECK(valid(dt, "\"2024-06-01T08:00:00Z\"") && valid(dt, "\"2024-06-01T08:00:00.5-03:00\""));
    CHECK_EQ_INT(refused_at(dt, "\"2024-06-01 08"), 11);
    const char *uuid = "{\"type\":\"string\",\"format\":\"uuid\"}";
    CHECK(valid(uuid, "\"123e4567-e89b-12d3-A456-426614174000\""));
    CHECK_EQ_INT(refused_at(uuid, "\"123g"), 4);
    CHECK_EQ_INT(refused_at(uuid, "\"123e4567e"), 9);
    CHECK(valid("{\"type\":\"string\",\"format\":\"date\",\"enum\":[\"2024-01-01\",\"soon\"]}", "\"2024-01-01\""));
    CHECK_EQ_INT(refused_at("{\"type\":\"string\",\"format\":\"date\",\"enum\":[\"2024-01-01\",\"soon\"]}", "\"s"), 1);
    CHECK(valid("{\"type\":\"string\",\"format\":\"email\"}", "\"not checked\"")); /* an annotation */
    CHECK_EQ_INT(refused_at("{\"format\":\"date\"}", "\"2000-42"), 6); /* a format applies to strings with no type given too */
    CHECK(valid("{\"format\":\"date\"}", "17 "));
}

TEST(patterns) {
    const char *code = "{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-\\\\d{3}$\"}";
    CHECK(valid(code, "\"AB-123\""));
    CHECK_EQ_INT(refused_at(code, "\"a"), 1);
    CHECK_EQ_INT(refused_at(code, "\"AB-12\""), 6);               /* a match needs three digits */
    CHECK_EQ_INT(refused_at(code, "\"AB-1234"), 7);
    const char *contains = "{\"type\":\"string\",\"pattern\":\"cat|dog\"}"; /* unanchored: contains a match */
    CHECK(valid(contains, "\"hot dog stand\"") && valid(contains, "\"cat\""));
    CHECK_EQ_INT(refused_at(contains, "\"bird\""), 5);
    CHECK_EQ_INT(refused_at(contains, "\"\\n"), 1);                /* no escapes */
    const char *tail = "{\"type\":\"string\",\"pattern\":\"(?:ab)+c?$\"}";
    CHECK(valid(tail, "\"xxabab\"") && valid(tail, "\"abc\""));
    CHECK_EQ_INT(refused_at(tail, "\"abx\""), 4);
    const char *opt = "{\"type\":\"string\",\"pattern\":\"^\\\\w+@[a-z]+\\\\.(com|org)$\"}";
    CHECK(valid(opt, "\"a_1@site.org\""));
    CHECK_EQ_INT(refused_at(opt, "\"a@b.net"), 5);
    CHECK(valid("{\"type\":\"string\",\"pattern\":\"^[^0-9]*$\"}", "\"no digits\""));
    CHECK_EQ_INT(refused_at("{\"type\":\"string\",\"pattern\":\"^[^0-9]*$\"}", "\"a1"), 2);
    CHECK(valid("{\"type\":\"string\",\"pattern\":\"\"}", "\"anything\""));
    CHECK(valid("{\"enum\":[\"ab\",\"zz\"],\"pattern\":\"^a\"}", "\"ab\""));  /* enum values without a match dropped */
    CHECK_EQ_INT(refused_at("{\"enum\":[\"ab\",\"zz\"],\"pattern\":\"^a\"}", "\"z"), 1);
}

TEST(arrays_alternatives_and_references) {
    const char *arr = "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":2}";
    CHECK(valid(arr, "[1]") && valid(arr, "[ 1 , 2 ]"));
    CHECK_EQ_INT(refused_at(arr, "[]"), 1);
    CHECK_EQ_INT(refused_at(arr, "[1,2,"), 4);
    CHECK_EQ_INT(refused_at(arr, "[1,2]"), -1);
    CHECK_EQ_INT(refused_at("{\"type\":\"array\",\"items\":false}", "[1"), 1);
    CHECK(valid("{\"type\":\"array\",\"items\":false}", "[]"));
    /* prefixItems: a tuple, then items for the rest */
    const char *pair = "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"number\"},{\"type\":\"number\"}],\"items\":false}";
    CHECK(valid(pair, "[1.5,2]") && valid(pair, "[1]") && valid(pair, "[]"));
    CHECK_EQ_INT(refused_at(pair, "[1,2,3"), 4);
    CHECK_EQ_INT(refused_at(pair, "[\"a\""), 1);
    const char *head = "{\"prefixItems\":[{\"const\":\"x\"}],\"items\":{\"type\":\"integer\"},\"minItems\":2}";
    CHECK(valid(head, "[\"x\",1,2]"));
    CHECK_EQ_INT(refused_at(head, "[1"), 1);
    CHECK_EQ_INT(refused_at(head, "[\"x\"]"), 4);
    CHECK_EQ_INT(refused_at("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"null\"},false]}", "[null,"), 5);
    CHECK(compile_fails_with("{\"type\":\"array\",\"prefixItems\":[{}],\"items\":false,\"minItems\":2}", "minItems is above maxItems"));
    /* uniqueItems over an enum: each element takes a value no other took */
    const char *tags = "{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"ab\",1,12]},\"uniqueItems\":true}";
    CHECK(valid(tags, "[\"ab\",\"a\",12,1]") && valid(tags, "[]"));
    CHECK_EQ_INT(refused_at(tags, "[\"a\",\"a\""), 7);            /* "a" again: only "ab" may follow */
    CHECK_EQ_INT(refused_at(tags, "[1,1,"), 4);                      /* 1 again: only 12 */
    CHECK_EQ_INT(refused_at(tags, "[\"a\",\"ab\",1,12,"), 14);    /* every value taken */
    CHECK(compile_fails_with("{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"uniqueItems\":true}", "uniqueItems is supported for"));
    CHECK(compile_fails_with("{\"type\":\"array\",\"items\":{\"const\":1},\"uniqueItems\":true,\"minItems\":2}", "minItems is above"));
    CHECK(valid("{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"uniqueItems\":false}", "[\"x\",\"x\"]"));
    const char *nullable = "{\"anyOf\":[{\"type\":\"string\",\"maxLength\":1},{\"type\":\"null\"}]}";
    CHECK(valid(nullable, "\"x\"") && valid(nullable, "null"));
    CHECK_EQ_INT(refused_at(nullable, "1"), 0);
    CHECK_EQ_INT(refused_at(nullable, "\"xy\""), 2);
    CHECK(valid("{\"type\":[\"integer\",\"null\"]}", "null") && valid("{\"type\":[\"integer\",\"null\"]}", "7 "));
    /* anyOf alternatives described by their types alone, and enums, are merged */
    const char *num = "{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}";
    CHECK(valid(num, "1.5 ") && valid(num, "2 ") && refused_at(num, "\"") == 0);
    const char *consts = "{\"anyOf\":[{\"const\":\"a\"},{\"const\":\"b\"},{\"type\":\"null\"},{\"enum\":[\"c\",\"a\"]}]}";
    CHECK(valid(consts, "\"a\"") && valid(consts, "\"b\"") && valid(consts, "\"c\"") && valid(consts, "null"));
    CHECK_EQ_INT(refused_at(consts, "\"d\""), 1);
    const char *mixed = "{\"anyOf\":[{\"type\":\"string\"},{\"const\":\"x\"},{\"const\":1},{\"type\":\"object\",\"properties\":"
                        "{\"k\":{\"type\":\"boolean\"}},\"additionalProperties\":false}]}";
    CHECK(valid(mixed, "\"anything\"") && valid(mixed, "1 ") && valid(mixed, "{\"k\":true}"));
    CHECK_EQ_INT(refused_at(mixed, "2"), 0);
    CHECK_EQ_INT(refused_at(mixed, "{\"j\""), 2);
    /* object alternatives told apart by their first property's const: a discriminated union */
    CHECK(valid(SHAPES, "{\"kind\":\"circle\",\"r\":1.5}") && valid(SHAPES, "{\"kind\":\"square\",\"side\":2}") && valid(SHAPES, "null"));
    CHECK(valid(SHAPES, "{ \"kind\" : \"square\" , \"side\" : 2 , \"label\" : \"x\" }"));
    CHECK_EQ_INT(refused_at(SHAPES, "{\"kind\":\"circle\",\"side\""), 18); /* the circle has no side */
    CHECK_EQ_INT(refused_at(SHAPES, "{\"kind\":\"triangle\""), 9);
    CHECK_EQ_INT(refused_at(SHAPES, "{\"r\":1}"), 2);                         /* the kind comes first */
    CHECK_EQ_INT(refused_at(SHAPES, "{\"kind\":\"circle\"}"), 16);         /* r is required */
    CHECK_EQ_INT(refused_at(SHAPES, "{\"kind\":\"square\",\"side\":2.5"), 25);
    /* object alternatives told apart by their first key (a key union), with a discriminated
     * group among them */
    CHECK(valid(KEYED, "{\"a\":1}") && valid(KEYED, "{\"b\":\"x\",\"c\":true}") && valid(KEYED, "{\"kind\":\"circle\",\"r\":1}"));
    CHECK(valid(KEYED, "{\"kind\":\"square\",\"side\":2}"));
    CHECK_EQ_INT(refused_at(KEYED, "{}"), 1);                   /* one of the keys must come */
    CHECK_EQ_INT(refused_at(KEYED, "{\"c\""), 2);               /* not a first key */
    CHECK_EQ_INT(refused_at(KEYED, "{\"a\":1,\"b\""), 6);        /* variant a allows no other key: no comma */
    CHECK_EQ_INT(refused_at(KEYED, "{\"b\":\"x\"}"), 8);           /* c is required in variant b */
    CHECK_EQ_INT(refused_at(KEYED, "{\"kind\":\"circle\",\"side\""), 18);
    CHECK(compile_fails_with("{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"const\":1}},\"required\":[\"a\"]},"
                             "{\"type\":\"object\",\"properties\":{\"b\":{\"const\":2}},\"required\":[\"b\"]}]}", "a value could match two"));
    CHECK(compile_fails_with("{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]},"
                             "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}]}",
                             "tell them apart by its value"));
    CHECK(compile_fails_with("{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"enum\":[1,2]}},\"required\":[\"a\"]},"
                             "{\"type\":\"object\",\"properties\":{\"a\":{\"const\":2}},\"required\":[\"a\"]}]}", "share a value"));
    CHECK(valid("{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"const\":1}},\"required\":[\"a\"]},{\"type\":\"array\"}]}",
                "{\"a\":1}"));
    const char *tree = "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
                       "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"v\"],"
                       "\"additionalProperties\":false}},\"allOf\":[{\"$ref\":\"#/$defs/node\"}]}";
    CHECK(valid(tree, "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]},{\"v\":3}]}"));
    CHECK_EQ_INT(refused_at(tree, "{\"v\":1,\"kids\":[{\"kids\""), 17);
    CHECK(valid("{\"type\":\"object\",\"properties\":{\"next\":{\"anyOf\":[{\"$ref\":\"#\"},{\"type\":\"null\"}]}}}",
                "{\"next\":{\"next\":{\"next\":null}}}"));
    CHECK(valid("true", "[{\"a\":[]},\"x\",-1]") && valid("{}", "\"s\"") && valid("{\"description\":\"any\"}", "null"));
}

/* Random walks: at each step every byte is tried and one of those accepted is taken
 * (structural bytes weighted up so that walks end). Every prefix must leave a byte to take,
 * and every completed text must validate. */
static void walk_schema(const char *schema, int walks, unsigned seed) {
    bn_json_schema *sc = bn_json_schema_compile(schema, strlen(schema));
    bn_json *tree = bn_json_parse(schema, strlen(schema), "schema");
    CHECK_MSG(sc && tree, "%s", bn_last_error_message());
    if (!sc || !tree) return;
    int completed = 0;
    static char text[4096];
    for (int w = 0; w < walks; w++) {
        bn_json_schema_state s, trial;
        bn_json_schema_init(&s, sc);
        size_t n = 0;
        while (n < sizeof text - 1 && !bn_json_schema_complete(&s)) {
            int ok[256], n_ok = 0, weight = 0;
            for (int c = 0; c < 256; c++) {
                bn_json_schema_state_copy(&trial, &s);
                char ch = (char)c;
                if (!bn_json_schema_feed(&trial, &ch, 1)) continue;
                ok[n_ok++] = c;
                weight += strchr("\"]}", c) && c ? 40 : c < 0x80 && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ? 4 : 1;
            }
            CHECK_MSG(n_ok > 0, "dead end after %.*s (%s)", (int)n, text, schema);
            if (!n_ok) break;
            seed = seed * 1103515245u + 12345u;
            int pick = (int)((seed >> 8) % (unsigned)weight), c = 0;
            for (int i = 0; i < n_ok; i++) {
                c = ok[i];
                pick -= strchr("\"]}", c) && c ? 40 : c < 0x80 && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ? 4 : 1;
                if (pick < 0) break;
            }
            text[n++] = (char)c;
            char ch = (char)c;
            CHECK(bn_json_schema_feed(&s, &ch, 1));
        }
        if (!bn_json_schema_complete(&s)) continue;
        completed++;
        bn_json *v = bn_json_parse(text, n, "walk");
        if (!v && strstr(bn_last_error_message(), "number out of range")) continue; /* valid JSON, beyond a double */
        CHECK_MSG(v && json_validates(tree, tree, v), "invalid: %.*s (%s)", (int)n, text, schema);
        bn_json_free(v);
    }
    CHECK_MSG(completed >= walks / 2, "only %d of %d walks completed (%s)", completed, walks, schema);
    bn_json_free(tree);
    bn_json_schema_free(sc);
}

TEST(random_walks_reach_no_dead_end_and_validate) {
    walk_schema(PERSON, 200, 1);
    walk_schema("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"null\"}},"
                "\"additionalProperties\":{\"type\":\"number\"}}", 200, 2);
    walk_schema("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"enum\":[1,12,-3,\"x\"]},\"kids\":{\"type\":\"array\","
                "\"items\":{\"$ref\":\"#/$defs/node\"},\"maxItems\":2}},\"required\":[\"v\"],\"additionalProperties\":false}},"
                "\"$ref\":\"#/$defs/node\"}", 200, 3);
    walk_schema("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"string\",\"minLength\":2,\"maxLength\":2},{\"type\":\"null\"},"
                "{\"type\":\"integer\"}]},\"minItems\":2,\"maxItems\":4}", 200, 4);
    walk_schema("{\"type\":\"object\"}", 200, 5);
    walk_schema("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"number\",\"exclusiveMinimum\":-1.5,\"maximum\":2.25},"
                "{\"type\":\"string\"}]},\"maxItems\":3}", 200, 6);
    walk_schema("{\"type\":\"integer\",\"minimum\":-35,\"exclusiveMaximum\":1200}", 200, 7);
    walk_schema("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"number\",\"multipleOf\":0.05},{\"type\":\"null\"}]},"
                "\"maxItems\":4}", 200, 18);
    walk_schema("{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"multipleOf\":13,\"minimum\":100},\"maxItems\":3}", 200, 20);
    walk_schema("{\"type\":\"object\",\"properties\":{\"price\":{\"type\":\"number\",\"multipleOf\":0.01,\"exclusiveMinimum\":0,"
                "\"maximum\":999.99},\"qty\":{\"type\":\"integer\",\"multipleOf\":12,\"maximum\":-24}},\"required\":[\"price\",\"qty\"],"
                "\"additionalProperties\":false}", 200, 19);
    walk_schema("{\"type\":\"array\",\"items\":" SHAPES ",\"maxItems\":3}", 200, 9);
    walk_schema("{\"type\":\"array\",\"items\":" KEYED ",\"maxItems\":3}", 200, 17);
    walk_schema("{\"type\":\"array\",\"items\":{\"enum\":[\"x\",\"xy\",3,30,true,null]},\"uniqueItems\":true,\"minItems\":3}", 200, 16);
    walk_schema("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"string\",\"pattern\":\"^([A-Z]{2}-\\\\d{2,3}(x|yz)?|q+)$\"},"
                "{\"type\":\"null\"}]},\"maxItems\":3}", 200, 14);
    walk_schema("{\"type\":\"string\",\"pattern\":\"a.c|[^a-y]{2}\"}", 200, 15);
    walk_schema("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"null\"},\"b\":{\"type\":\"null\"},\"c\":{\"type\":\"null\"}},"
                "\"required\":[\"c\"],\"minProperties\":2,\"maxProperties\":2,\"additionalProperties\":{\"const\":1}}", 200, 13);
    walk_schema("{\"type\":\"array\",\"prefixItems\":[{\"enum\":[\"a\",\"b\"]},{\"type\":\"integer\",\"minimum\":0,\"maximum\":9},"
                "{\"type\":\"boolean\"}],\"items\":{\"type\":\"null\"},\"minItems\":2,\"maxItems\":5}", 200, 12);
    walk_schema("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"string\",\"format\":\"date-time\"},{\"type\":\"null\"}]},"
                "\"maxItems\":2}", 200, 10);
    walk_schema("{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\",\"format\":\"date\"},\"t\":{\"type\":\"string\","
                "\"format\":\"time\"},\"u\":{\"type\":\"string\",\"format\":\"uuid\"}},\"required\":[\"d\",\"t\",\"u\"],\"additionalProperties\":false}", 200, 11);
    walk_schema("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"number\"},{\"const\":\"a\"},"
                "{\"enum\":[\"b\",true]},{\"type\":\"null\"}]},\"minItems\":1}", 200, 8);
}

TEST(copies_try_without_committing) {
    bn_json_schema *sc = bn_json_schema_compile(PERSON, strlen(PERSON));
    CHECK(sc != NULL);
    if (!sc) return;
    bn_json_schema_state s, trial;
    bn_json_schema_init(&s, sc);
    CHECK(bn_json_schema_feed(&s, "{\"name\":\"x\",\"tags\":[", 20));
    bn_json_schema_state_copy(&trial, &s);
    CHECK(!bn_json_schema_feed(&trial, "1", 1));
    bn_json_schema_state_copy(&trial, &s);
    CHECK(bn_json_schema_feed(&trial, "\"bb\"],\"ok\":true}", 16) && bn_json_schema_complete(&trial));
    CHECK(!bn_json_schema_complete(&s));
    bn_json_schema_free(sc);
}

TEST_MAIN_BEGIN("test_json_schema")
    RUN(refusals_name_the_place_and_keyword);
    RUN(objects_keep_the_listed_order);
    RUN(strings_enums_and_numbers);
    RUN(numbers_within_bounds);
RUN(multiples);
RUN(multiples_equal_brute_force);
    RUN(string_formats);
    RUN(patterns);
    RUN(arrays_alternatives_and_references);
    RUN(random_walks_reach_no_dead_end_and_validate);
    RUN(copies_try_without_committing);
TEST_MAIN_END()
