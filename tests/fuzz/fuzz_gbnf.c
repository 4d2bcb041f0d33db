/* fuzz_gbnf: libFuzzer target for the GBNF compiler and matcher (src/text/gbnf.c), which read
 * grammars from outside (llama-server's "grammar" field, bitnet run --grammar). Built and run
 * by scripts/fuzz_gbnf.sh with -fsanitize=fuzzer,address,undefined; seeds in tests/corpus/gbnf.
 *
 * Input: a grammar, a NUL byte, a text (without a NUL the whole input is the grammar and the
 * text is empty). In the text, 0xFF (never in UTF-8) and the byte after it are a token: id that
 * byte, an empty piece (bn_gbnf_feed_token; a token reference <[id]> or !<[id]> may take it).
 *
 * Contract checked (a broken one aborts: libFuzzer saves the input):
 *   - a refused grammar has a message starting with "grammar: " and the status
 *     BITNET_ERR_INVALID_ARGUMENT (or out of memory);
 *   - for a compiled one, the longest accepted prefix of the text is the same fed whole (its
 *     runs of bytes at once, its tokens between) and byte by byte on copies of the state, with
 *     the same completeness;
 *   - no dead end: after that prefix the text is complete, some byte goes on or a token
 *     reference comes next, unless the state says dead ends are possible (truncated: a parse
 *     dropped at a bound, or a stack deep enough that the next character may pass the depth
 *     bound; gbnf.h's documented limit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/gbnf.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN_MARK 0xFF

/* The length of the event at input[i]: a token (2 bytes) or a byte. */
static size_t event_len(const char *input, size_t i, size_t n) { return (uint8_t)input[i] == TOKEN_MARK && i + 1 < n ? 2 : 1; }

/* Feeds the event at input[i] (of length len) to s. */
static bool feed_event(bn_gbnf_state *s, const char *input, size_t i, size_t len) {
    return len == 2 ? bn_gbnf_feed_token(s, (uint8_t)input[i + 1], "", 0) : bn_gbnf_feed(s, input + i, 1);
}

/* input[0, end) fed with its runs of bytes whole and its tokens between. */
static bool feed_whole(bn_gbnf_state *s, const char *input, size_t end) {
    size_t i = 0;
    while (i < end) {
        size_t run = i;
        while (run < end && event_len(input, run, end) == 1) run++;
        if (run > i && !bn_gbnf_feed(s, input + i, run - i)) return false;
        if (run < end && !feed_event(s, input, run, 2)) return false;
        i = run < end ? run + 2 : run;
    }
    return true;
}

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_gbnf: contract broken: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t g_len = nul ? (size_t)(nul - text) : size;
    const char *input = nul ? nul + 1 : text + size;
    size_t n = nul ? size - g_len - 1 : 0;
    bn_gbnf *g = bn_gbnf_compile(text, g_len);
    if (!g) {
        int st = bn_last_error_status();
        if (st != BITNET_ERR_OUT_OF_MEMORY && (st != BITNET_ERR_INVALID_ARGUMENT || strncmp(bn_last_error_message(), "grammar: ", 9)))
            fail("a refusal without a grammar message", bn_last_error_message());
        return 0;
    }
    bn_gbnf_state step, trial;
    bn_gbnf_init(&step, g);
    size_t ok = 0, len = 0;
    for (; ok < n; ok += len) {
        len = event_len(input, ok, n);
        bn_gbnf_state_copy(&trial, &step);
        if (!feed_event(&trial, input, ok, len)) break;
        bn_gbnf_state_copy(&step, &trial);
    }
    bn_gbnf_state whole;
    bn_gbnf_init(&whole, g);
    if (!feed_whole(&whole, input, ok)) fail("the prefix accepted byte by byte is refused whole", NULL);
    if (bn_gbnf_complete(&whole) != bn_gbnf_complete(&step)) fail("whole and byte by byte disagree on completeness", NULL);
    if (ok < n) {
        bn_gbnf_init(&whole, g);
        if (feed_whole(&whole, input, ok + len)) fail("an event refused on a copy is accepted whole", NULL);
    }
    bool goes_on = bn_gbnf_complete(&step) || bn_gbnf_expects_token(&step);
    for (int c = 0; !goes_on && c < 256; c++) {
        uint8_t b = (uint8_t)c;
        bn_gbnf_state_copy(&trial, &step);
        goes_on = bn_gbnf_feed(&trial, (const char *)&b, 1);
    }
    if (!goes_on && !step.truncated) fail("a dead end: not complete and no byte goes on", NULL);
    bn_gbnf_free(g);
    return 0;
}
