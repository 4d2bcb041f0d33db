/* Tests of src/stop: stop strings split across pieces, overlapping and nested stop strings,
 * no stop strings, multi-byte UTF-8 held whole, flush, reset, bad input, and a randomized
 * comparison with a plain reference over many piece splits. */
#include <stdint.h>

#include "text/stop.h"
#include "test.h"
#include "util.h"

/* What a run printed (NUL-terminated) and how it stopped. */
typedef struct run_result {
    char text[512];
    size_t len;
    int stop_index;
    uint64_t stop_offset;
} run_result;

static void append(run_result *r, const bn_stop_result *res) {
    if (r->len + res->n_emit < sizeof r->text) {
        memcpy(r->text + r->len, res->emit, res->n_emit);
        r->len += res->n_emit;
        r->text[r->len] = '\0';
    }
}

/* Feeds the pieces (a NULL-terminated list) and collects the output, flushing at the end
 * when no stop completed. */
static run_result run_pieces(bn_stop *m, const char *const *pieces) {
    run_result r = {.stop_index = -1};
    bn_stop_result res;
    for (int i = 0; pieces[i]; i++) {
        CHECK_EQ_INT(bn_stop_feed(m, pieces[i], strlen(pieces[i]), &res), 0);
        append(&r, &res);
        if (res.stop_index >= 0) {
            r.stop_index = res.stop_index;
            r.stop_offset = res.stop_offset;
            return r;
        }
    }
    bn_stop_flush(m, &res);
    append(&r, &res);
    return r;
}

TEST(no_stop_strings_pass_everything) {
    bn_stop *m = bn_stop_create(NULL, 0);
    CHECK(m != NULL);
    bn_stop_result res;
    CHECK_EQ_INT(bn_stop_feed(m, "Hello", 5, &res), 0);
    CHECK_EQ_INT(res.n_emit, 5); /* nothing to hold back */
    CHECK(memcmp(res.emit, "Hello", 5) == 0);
    CHECK_EQ_INT(res.stop_index, -1);
    const char *pieces[] = {" wor", "ld", "", "!", NULL};
    run_result r = run_pieces(m, pieces);
    CHECK_STR(r.text, " world!");
    CHECK_EQ_INT(r.stop_index, -1);
    bn_stop_free(m);
}

TEST(stop_split_across_pieces) {
    const char *stops[] = {"\nUser:"};
    bn_stop *m = bn_stop_create(stops, 1);
    CHECK(m != NULL);
    bn_stop_result res;
    bn_stop_feed(m, "Hello", 5, &res);
    CHECK_EQ_INT(res.n_emit, 5);
    bn_stop_feed(m, "!\nUs", 4, &res); /* "\nUs" could be the stop's start: held */
    CHECK_EQ_INT(res.n_emit, 1);
    CHECK(memcmp(res.emit, "!", 1) == 0);
    bn_stop_feed(m, "er", 2, &res);
    CHECK_EQ_INT(res.n_emit, 0);
    bn_stop_feed(m, ": more", 6, &res);
    CHECK_EQ_INT(res.n_emit, 0);
    CHECK_EQ_INT(res.stop_index, 0);
    CHECK_EQ_INT(res.stop_offset, 6);
    bn_stop_feed(m, "ignored", 7, &res); /* after a stop nothing more comes out */
    CHECK_EQ_INT(res.n_emit, 0);
    CHECK_EQ_INT(res.stop_index, 0);
    bn_stop_flush(m, &res);
    CHECK_EQ_INT(res.n_emit, 0);

    bn_stop_reset(m); /* a false alarm: the held bytes come out once they cannot match */
    const char *pieces[] = {"a\nUs", "age", NULL};
    run_result r = run_pieces(m, pieces);
    CHECK_STR(r.text, "a\nUsage");
    CHECK_EQ_INT(r.stop_index, -1);
    bn_stop_free(m);
}

TEST(text_before_the_stop_in_the_same_piece) {
    const char *stops[] = {"###"};
    bn_stop *m = bn_stop_create(stops, 1);
    CHECK(m != NULL);
    const char *pieces[] = {"done.### next", NULL};
    run_result r = run_pieces(m, pieces);
    CHECK_STR(r.text, "done.");
    CHECK_EQ_INT(r.stop_index, 0);
    CHECK_EQ_INT(r.stop_offset, 5);
    bn_stop_free(m);
}

TEST(overlapping_prefixes) {
    const char *aab[] = {"aab"};
    bn_stop *m = bn_stop_create(aab, 1);
    CHECK(m != NULL);
    const char *pieces[] = {"a", "a", "a", "b", NULL}; /* the match starts at the 2nd a */
    run_result r = run_pieces(m, pieces);
    CHECK_STR(r.text, "a");
    CHECK_EQ_INT(r.stop_offset, 1);
    bn_stop_free(m);

    const char *abab[] = {"abab"};
    m = bn_stop_create(abab, 1);
    const char *pieces2[] = {"xab", "aba", "b", NULL}; /* "ababa" held, then "ababab" */
    r = run_pieces(m, pieces2);
    CHECK_STR(r.text, "x");
    CHECK_EQ_INT(r.stop_index, 0);
    bn_stop_free(m);

    /* one stop string a prefix of another: the shorter completes first when the text
     * arrives byte by byte; complete together, the same start goes to the first listed */
    const char *nested[] = {"abc", "ab"};
    m = bn_stop_create(nested, 2);
    const char *pieces3[] = {"xa", "b", "c", NULL};
    r = run_pieces(m, pieces3);
    CHECK_STR(r.text, "x");
    CHECK_EQ_INT(r.stop_index, 1);
    bn_stop_reset(m);
    const char *pieces3b[] = {"xa", "bc", NULL};
    r = run_pieces(m, pieces3b);
    CHECK_STR(r.text, "x");
    CHECK_EQ_INT(r.stop_index, 0);
    bn_stop_free(m);

    /* the earliest start wins when both are complete in one piece */
    const char *two[] = {"cd", "bcdx"};
    m = bn_stop_create(two, 2);
    const char *pieces4[] = {"abcdx", NULL};
    r = run_pieces(m, pieces4);
    CHECK_STR(r.text, "a");
    CHECK_EQ_INT(r.stop_index, 1);
    bn_stop_free(m);
}

TEST(flush_releases_a_held_prefix) {
    const char *stops[] = {"STOP"};
    bn_stop *m = bn_stop_create(stops, 1);
    CHECK(m != NULL);
    const char *pieces[] = {"abcS", "T", NULL};
    run_result r = run_pieces(m, pieces);
    CHECK_STR(r.text, "abcST");
    CHECK_EQ_INT(r.stop_index, -1);
    bn_stop_free(m);
}

TEST(multibyte_utf8_is_emitted_whole) {
    bn_stop *m = bn_stop_create(NULL, 0);
    CHECK(m != NULL);
    bn_stop_result res;
    bn_stop_feed(m, "caf\xc3", 4, &res); /* é = C3 A9, split */
    CHECK_EQ_INT(res.n_emit, 3);
    bn_stop_feed(m, "\xa9!", 2, &res);
    CHECK_EQ_INT(res.n_emit, 3);
    CHECK(memcmp(res.emit, "\xc3\xa9!", 3) == 0);
    /* a 4-byte character (U+1F600) fed one byte at a time */
    const char *emoji = "\xf0\x9f\x98\x80";
    for (int i = 0; i < 3; i++) {
        bn_stop_feed(m, emoji + i, 1, &res);
        CHECK_EQ_INT(res.n_emit, 0);
    }
    bn_stop_feed(m, emoji + 3, 1, &res);
    CHECK_EQ_INT(res.n_emit, 4);
    /* invalid bytes are not held */
    bn_stop_feed(m, "\xff\x80", 2, &res);
    CHECK_EQ_INT(res.n_emit, 2);
    /* an incomplete character at the very end comes out at flush */
    bn_stop_feed(m, "\xe6\x97", 2, &res);
    CHECK_EQ_INT(res.n_emit, 0);
    bn_stop_flush(m, &res);
    CHECK_EQ_INT(res.n_emit, 2);
    bn_stop_free(m);

    const char *stops[] = {"\xe6\x97\xa5\xe6\x9c\xac"}; /* 日本 */
    m = bn_stop_create(stops, 1);
    const char *text = "\xe4\xbb\x8a\xe6\x97\xa5\xe6\x9c\xac"; /* 今日本, byte by byte */
    char bytes[10][2] = {{0}};
    const char *pieces[10] = {0};
    for (int i = 0; i < 9; i++) {
        bytes[i][0] = text[i];
        pieces[i] = bytes[i];
    }
    run_result r = run_pieces(m, pieces);
    CHECK_STR(r.text, "\xe4\xbb\x8a");
    CHECK_EQ_INT(r.stop_index, 0);
    CHECK_EQ_INT(r.stop_offset, 3);
    bn_stop_free(m);
}

TEST(bad_stop_strings_are_refused) {
    const char *empty[] = {"ok", ""};
    CHECK(bn_stop_create(empty, 2) == NULL);
    CHECK(strstr(bn_last_error_message(), "stop string 1 is empty") != NULL);
    const char *null[] = {NULL};
    CHECK(bn_stop_create(null, 1) == NULL);
    CHECK(bn_stop_create(NULL, 1) == NULL);
    CHECK_EQ_INT(bn_last_error_status(), BITNET_ERR_INVALID_ARGUMENT);
    bn_stop_free(NULL);
}

/* The expected output for a split: the first piece end by which some stop string is
 * complete; among the occurrences complete by then, the earliest start (then the first
 * listed) is where the output ends. */
static void reference(const char *text, const size_t *ends, int n_pieces, const char *const *stops,
                      int n_stops, size_t *out_len, int *out_stop) {
    *out_len = strlen(text);
    *out_stop = -1;
    for (int p = 0; p < n_pieces; p++) {
        for (size_t start = 0; start < ends[p]; start++) {
            for (int i = 0; i < n_stops; i++) {
                size_t l = strlen(stops[i]);
                if (start + l <= ends[p] && memcmp(text + start, stops[i], l) == 0) {
                    *out_len = start;
                    *out_stop = i;
                    return;
                }
            }
        }
    }
}

TEST(random_splits_match_the_reference) {
    uint32_t x = 4321;
#define NEXT() (x = x * 1664525u + 1013904223u, x >> 16)
    int mismatches = 0, stopped = 0;
    for (int trial = 0; trial < 3000; trial++) {
        char text[41], stop_buf[3][6];
        const char *stops[3];
        size_t len = 1 + NEXT() % 40;
        for (size_t i = 0; i < len; i++) text[i] = (char)('a' + NEXT() % 3);
        text[len] = '\0';
        int n_stops = (int)(NEXT() % 4);
        for (int i = 0; i < n_stops; i++) {
            size_t l = 1 + NEXT() % 5;
            for (size_t j = 0; j < l; j++) stop_buf[i][j] = (char)('a' + NEXT() % 3);
            stop_buf[i][l] = '\0';
            stops[i] = stop_buf[i];
        }
        /* random piece ends */
        size_t ends[41];
        char piece_buf[41][41];
        const char *pieces[42];
        int n_pieces = 0;
        for (size_t at = 0; at < len;) {
            size_t l = 1 + NEXT() % 4;
            if (at + l > len) l = len - at;
            memcpy(piece_buf[n_pieces], text + at, l);
            piece_buf[n_pieces][l] = '\0';
            pieces[n_pieces] = piece_buf[n_pieces];
            at += l;
            ends[n_pieces++] = at;
        }
        pieces[n_pieces] = NULL;
        size_t want_len;
        int want_stop;
        reference(text, ends, n_pieces, stops, n_stops, &want_len, &want_stop);
        bn_stop *m = bn_stop_create(stops, (size_t)n_stops);
        run_result r = run_pieces(m, pieces);
        bn_stop_free(m);
        bool same = r.len == want_len && memcmp(r.text, text, want_len) == 0 && r.stop_index == want_stop &&
                    (want_stop < 0 || r.stop_offset == want_len);
        if (!same && mismatches++ < 3)
            fprintf(stderr, "  text %s: got \"%s\" stop %d, want %zu bytes stop %d\n", text, r.text,
                    r.stop_index, want_len, want_stop);
        stopped += want_stop >= 0;
    }
#undef NEXT
    CHECK_EQ_INT(mismatches, 0);
    CHECK(stopped > 1000); /* the cases exercise stops, not only pass-through */
}

TEST_MAIN_BEGIN("test_stop")
    RUN(no_stop_strings_pass_everything);
    RUN(stop_split_across_pieces);
    RUN(text_before_the_stop_in_the_same_piece);
    RUN(overlapping_prefixes);
    RUN(flush_releases_a_held_prefix);
    RUN(multibyte_utf8_is_emitted_whole);
    RUN(bad_stop_strings_are_refused);
    RUN(random_splits_match_the_reference);
TEST_MAIN_END()
