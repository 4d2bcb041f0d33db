/* stop: finds user stop strings (--stop STR, several) in streamed output, so that generation
 * ends at them and they are never printed.
 *
 * Text arrives in pieces (one token's bytes at a time) and a stop string may straddle
 * pieces, so the matcher holds back the longest tail of the text that could still become
 * the start of a stop string, and emits the rest. It also holds back an incomplete UTF-8
 * sequence at the end (at most 3 bytes), so that what it emits never ends in the middle of a
 * character: tokens of a byte-level vocabulary often split characters.
 *
 * Usage per generation: feed each piece; print result.emit[0, n_emit); stop when
 * result.stop_index >= 0; at the end without a stop call bn_stop_flush() and print what it
 * returns. Matching is on raw bytes (exact, case-sensitive). When two stop strings complete,
 * the one that starts first wins (then the one listed first). */
#ifndef BITNET_STOP_H
#define BITNET_STOP_H

#include <stddef.h>
#include <stdint.h>

typedef struct bn_stop bn_stop;

typedef struct bn_stop_result {
    const char *emit;       /* bytes safe to print now; owned by the matcher, valid until the
                               next call on it */
    size_t n_emit;
    int stop_index;         /* -1, or the index of the stop string that completed */
    uint64_t stop_offset;   /* when stop_index >= 0: the stop string's byte offset in the
                               whole stream (= everything emitted before it) */
} bn_stop_result;

/* Copies the n_stops strings (stops may be NULL when n_stops is 0, for a matcher that only
 * keeps characters whole). NULL and BITNET_ERR_INVALID_ARGUMENT for a NULL or empty stop
 * string. */
bn_stop *bn_stop_create(const char *const *stops, size_t n_stops);
void bn_stop_free(bn_stop *m); /* NULL is accepted */
/* Forgets the held bytes and a completed stop, for the next generation. */
void bn_stop_reset(bn_stop *m);

/* Feeds the next n bytes. After a stop string completed, further feeds emit nothing and
 * report the same stop again. Returns 0, or BITNET_ERR_OUT_OF_MEMORY. */
int bn_stop_feed(bn_stop *m, const char *bytes, size_t n, bn_stop_result *out);
/* End of the stream: emits every held byte (nothing after a stop). */
void bn_stop_flush(bn_stop *m, bn_stop_result *out);

#endif
