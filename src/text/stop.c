/* stop: stop-string matching over streamed bytes. See stop.h. */
#include "text/stop.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct bn_stop {
    char **stops;          /* [n_stops] owned copies */
    size_t *lens;          /* [n_stops] */
    size_t n_stops;
    size_t max_len;        /* longest stop string */
    /* The pending text: buf[0, emitted) was handed out by the last call (kept until the next
     * call, which drops it), buf[emitted, len) is held back. */
    char *buf;
    size_t len, cap, emitted;
    uint64_t total_emitted; /* bytes handed out since the last reset */
    int stop_index;         /* -1 until a stop string completes */
    uint64_t stop_offset;
};

bn_stop *bn_stop_create(const char *const *stops, size_t n_stops) {
    for (size_t i = 0; i < n_stops; i++) {
        if (!stops || !stops[i] || !stops[i][0]) {
            bn_error(BITNET_ERR_INVALID_ARGUMENT, "stop string %zu is %s", i,
                     stops && stops[i] ? "empty" : "NULL");
            return NULL;
        }
    }
    bn_stop *m = bn_calloc(1, sizeof *m, "stop matcher");
    if (!m) return NULL;
    m->stop_index = -1;
    if (n_stops == 0) return m;
    m->stops = bn_calloc(n_stops, sizeof *m->stops, "stop strings");
    m->lens = bn_calloc(n_stops, sizeof *m->lens, "stop strings");
    if (!m->stops || !m->lens) goto fail;
    m->n_stops = n_stops;
    for (size_t i = 0; i < n_stops; i++) {
        if (!(m->stops[i] = bn_strdup(stops[i]))) goto fail;
        m->lens[i] = strlen(stops[i]);
        if (m->lens[i] > m->max_len) m->max_len = m->lens[i];
    }
    return m;
fail:
    bn_stop_free(m);
    return NULL;
}

void bn_stop_free(bn_stop *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_stops; i++) free(m->stops[i]);
    free(m->stops);
    free(m->lens);
    free(m->buf);
    free(m);
}

void bn_stop_reset(bn_stop *m) {
    m->len = m->emitted = 0;
    m->total_emitted = 0;
    m->stop_index = -1;
    m->stop_offset = 0;
}

/* The earliest complete stop string in buf[0, len): its start in *at and its index, or -1. */
static int find_stop(const bn_stop *m, size_t *at) {
    for (size_t pos = 0; pos < m->len; pos++) {
        for (size_t i = 0; i < m->n_stops; i++) {
            if (m->lens[i] <= m->len - pos && memcmp(m->buf + pos, m->stops[i], m->lens[i]) == 0) {
                *at = pos;
                return (int)i;
            }
        }
    }
    return -1;
}

/* Length of the longest tail of buf[0, len) that is a proper prefix of some stop string. */
static size_t stop_prefix_tail(const bn_stop *m) {
    size_t h = m->max_len > 0 ? m->max_len - 1 : 0;
    if (h > m->len) h = m->len;
    for (; h > 0; h--) {
        for (size_t i = 0; i < m->n_stops; i++)
            if (m->lens[i] > h && memcmp(m->buf + m->len - h, m->stops[i], h) == 0) return h;
    }
    return 0;
}

/* Bytes of a UTF-8 sequence announced by lead byte b (1 for ASCII and for invalid bytes,
 * which are passed through as they are). */
static size_t utf8_sequence_length(unsigned char b) {
    if (b >= 0xC0 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF7) return 4;
    return 1;
}

/* The largest end <= e such that buf[0, end) does not stop inside a UTF-8 sequence. */
static size_t whole_characters_end(const char *buf, size_t e) {
    for (size_t k = 1; k <= 3 && k <= e; k++) {
        unsigned char b = (unsigned char)buf[e - k];
        if ((b & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        return utf8_sequence_length(b) > k ? e - k : e;
    }
    return e;
}

static void hand_out(bn_stop *m, size_t n, bn_stop_result *out) {
    out->emit = m->buf ? m->buf : "";
    out->n_emit = n;
    out->stop_index = m->stop_index;
    out->stop_offset = m->stop_offset;
    m->emitted = n;
    m->total_emitted += n;
}

/* Drops the bytes handed out by the previous call. */
static void drop_emitted(bn_stop *m) {
    if (m->emitted == 0) return;
    memmove(m->buf, m->buf + m->emitted, m->len - m->emitted);
    m->len -= m->emitted;
    m->emitted = 0;
}

int bn_stop_feed(bn_stop *m, const char *bytes, size_t n, bn_stop_result *out) {
    if (m->stop_index >= 0) {
        hand_out(m, 0, out);
        return 0;
    }
    drop_emitted(m);
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 64;
        while (cap < m->len + n) cap *= 2;
        char *grown = realloc(m->buf, cap);
        if (!grown) return bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory (stop matcher buffer)");
        m->buf = grown;
        m->cap = cap;
    }
    if (n > 0) memcpy(m->buf + m->len, bytes, n);
    m->len += n;
    size_t at = 0;
    int found = find_stop(m, &at);
    if (found >= 0) {
        m->stop_index = found;
        m->stop_offset = m->total_emitted + at;
        hand_out(m, at, out);
        return 0;
    }
    hand_out(m, whole_characters_end(m->buf, m->len - stop_prefix_tail(m)), out);
    return 0;
}

void bn_stop_flush(bn_stop *m, bn_stop_result *out) {
    if (m->stop_index >= 0) {
        hand_out(m, 0, out);
        return;
    }
    drop_emitted(m);
    hand_out(m, m->len, out);
}
