/* fuzz_json_schema: libFuzzer target for src/text/json_schema (the JSON Schema compiler and the
 * byte-level state that constrains generation). Built and run by scripts/fuzz_json_schema.sh
 * with -fsanitize=fuzzer,address,undefined; the seeds are tests/corpus/json_schema/.
 *
 * Input: a schema, a NUL byte, then a text (no NUL: the whole input is a schema).
 * Contract checked (a broken one aborts: libFuzzer saves the input):
 *   - a schema that does not compile is refused with BITNET_ERR_INVALID_ARGUMENT (or out of
 *     memory) and a message naming the place ("json_schema at '...'") or the JSON error;
 *   - the text fed whole and fed byte by byte on copies of the state is accepted alike;
 *   - a text the state calls complete parses (formats/json) and is valid against the schema by
 *     the independent validator of tests/unit/json_validate.h (soundness);
 *   - a text accepted in full and not complete can go on: some byte is accepted next (no dead
 *     end), outside the documented limits (32 nested containers, 40 bytes of a bounded
 *     number). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/json_validate.h"
#include "text/json_schema.h"
#include "util.h"

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_json_schema: contract broken: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether some byte may follow the text read into s. */
static bool can_go_on(const bn_json_schema_state *s) {
    bn_json_schema_state trial;
    for (int c = 0; c < 256; c++) {
        char b = (char)c;
        bn_json_schema_state_copy(&trial, s);
        if (bn_json_schema_feed(&trial, &b, 1)) return true;
    }
    return false;
}

static void check_complete(const char *schema, size_t schema_len, const char *text, size_t len) {
    bn_json *doc = bn_json_parse(schema, schema_len, "schema"), *v = bn_json_parse(text, len, "text");
    if (!doc) fail("a schema that compiled does not parse", bn_last_error_message());
    if (!v && !strstr(bn_last_error_message(), "number out of range")) fail("a complete text does not parse", bn_last_error_message());
    if (v && !json_validates(doc, doc, v)) fail("a complete text is not valid against the schema", NULL);
    bn_json_free(v);
    bn_json_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t schema_len = nul ? (size_t)(nul - data) : size;
    const char *schema = (const char *)data, *text = nul ? (const char *)nul + 1 : "";
    size_t len = nul ? size - schema_len - 1 : 0;
    bn_json_schema *sc = bn_json_schema_compile(schema, schema_len);
    if (!sc) {
        int st = bn_last_error_status();
        const char *msg = bn_last_error_message();
        if ((st != BITNET_ERR_INVALID_ARGUMENT && st != BITNET_ERR_OUT_OF_MEMORY) || !strstr(msg, "json_schema"))
            fail("a refusal without the status or the name", msg);
        return 0;
    }
    bn_json_schema_state whole, step, copy;
    bn_json_schema_init(&whole, sc);
    bn_json_schema_init(&step, sc);
    bool all = bn_json_schema_feed(&whole, text, len);
    size_t k = 0;
    for (; k < len; k++) {
        bn_json_schema_state_copy(&copy, &step);
        if (!bn_json_schema_feed(&copy, text + k, 1)) break;
        bn_json_schema_state_copy(&step, &copy);
    }
    if (all != (k == len) || (all && bn_json_schema_complete(&whole) != bn_json_schema_complete(&step)))
        fail("the whole text and its bytes on copies disagree", NULL);
    /* the longest accepted prefix */
    if (bn_json_schema_complete(&step)) check_complete(schema, schema_len, text, k);
    else if (step.depth < BN_JSON_PREFIX_MAX_DEPTH - 1 && step.num_len < BN_SCHEMA_MAX_NUMBER - 1 && !can_go_on(&step))
        fail("a dead end: no byte may follow an accepted text", NULL);
    bn_json_schema_free(sc);
    return 0;
}
