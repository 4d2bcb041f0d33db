/* dry_breakers: DRY's sequence breakers as token sequences (see dry_breakers.h). */
#include "text/dry_breakers.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "text/sampler.h"
#include "util.h"

typedef struct seq_list {
    int32_t *tokens;
    int *lens;
    size_t n_tokens, cap_tokens;
    int n, cap;
} seq_list;

/* Whether the sequences from first_of_head on (those of the token being added) already have
 * tail[0, n_tail) (a token may end with the start of a breaker at places that leave the same rest). */
static bool has_sequence(const seq_list *l, int first_of_head, size_t first_token, const int32_t *tail, int n_tail) {
    size_t at = first_token;
    for (int e = first_of_head; e < l->n; at += (size_t)l->lens[e], e++)
        if (l->lens[e] == n_tail + 1 && memcmp(l->tokens + at + 1, tail, (size_t)n_tail * sizeof *tail) == 0) return true;
    return false;
}

static int append(seq_list *l, int32_t head, const int32_t *tail, int n_tail) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        int *lens = realloc(l->lens, (size_t)cap * sizeof *lens);
        if (!lens) return BITNET_ERR_OUT_OF_MEMORY;
        l->lens = lens, l->cap = cap;
    }
    if (l->n_tokens + (size_t)n_tail + 1 > l->cap_tokens) {
        size_t cap = 2 * l->cap_tokens + BN_DRY_MAX_BREAKER;
        int32_t *t = realloc(l->tokens, cap * sizeof *t);
        if (!t) return BITNET_ERR_OUT_OF_MEMORY;
        l->tokens = t, l->cap_tokens = cap;
    }
    l->tokens[l->n_tokens] = head;
    if (n_tail) memcpy(l->tokens + l->n_tokens + 1, tail, (size_t)n_tail * sizeof *tail);
    l->n_tokens += (size_t)n_tail + 1;
    l->lens[l->n++] = n_tail + 1;
    return 0;
}

/* Every place where the piece ends with the start of `str` (the rest of str after the
 * overlap): a sequence of the token and the rest's tokens. */
static int add_overlaps(seq_list *l, const bn_tokenizer *tok, int32_t id, const char *piece, size_t plen, const char *str, size_t slen) {
    int first = l->n;
    size_t first_token = l->n_tokens;
    for (size_t pos = 0; pos < plen; pos++) {
        size_t k = plen - pos; /* the piece's remaining bytes: shorter than str (else contained) */
        if (k >= slen || memcmp(piece + pos, str, k) != 0) continue;
        int32_t tail[BN_DRY_BREAKER_MAX_BYTES]; /* a token covers a byte or more */
        int n = bn_tokenize(tok, str + k, slen - k, false, false, tail, BN_DRY_BREAKER_MAX_BYTES);
        if (n < 0) continue; /* cannot happen for a rest this short; skipped rather than cut */
        if (n > BN_DRY_MAX_BREAKER - 1) n = BN_DRY_MAX_BREAKER - 1;
        if (has_sequence(l, first, first_token, tail, n)) continue;
        int rc = append(l, id, tail, n);
        if (rc) return rc;
    }
    return 0;
}

/* Whether needle[0, n) occurs in hay[0, len) (memmem is not C11). */
static bool contains(const char *hay, size_t len, const char *needle, size_t n) {
    for (size_t i = 0; i + n <= len; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0) return true;
    return false;
}

/* The text of token id (special tokens written out) in *buf (grown as needed); its length, or
 * -1 with the last error set. */
static int piece_of(const bn_tokenizer *tok, int32_t id, char **buf, int *cap) {
    int n = bn_token_to_piece(tok, id, true, *buf, *cap);
    if (n >= 0) return n;
    char *bigger = realloc(*buf, (size_t)-n);
    if (!bigger) return bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory (DRY breakers)"), -1;
    *buf = bigger, *cap = -n;
    return bn_token_to_piece(tok, id, true, *buf, *cap);
}

static const char *const default_breakers[] = {"\n", ":", "\"", "*"};

int bn_dry_breaker_sequences(const bn_tokenizer *tok, const char *const *strings, int n, int32_t **tokens, int **lens,
                             int *count) {
    if (!strings) strings = default_breakers, n = (int)(sizeof default_breakers / sizeof default_breakers[0]);
    seq_list l = {0};
    int cap = 256, rc = 0;
    char *piece = malloc((size_t)cap);
    if (!piece) return BITNET_ERR_OUT_OF_MEMORY;
    for (int b = 0; b < n && !rc; b++) {
        size_t slen = strlen(strings[b]);
        if (slen > BN_DRY_BREAKER_MAX_BYTES) slen = BN_DRY_BREAKER_MAX_BYTES;
        if (!slen) continue;
        for (int32_t id = 0; id < bn_tokenizer_n_vocab(tok) && !rc; id++) {
            int plen = piece_of(tok, id, &piece, &cap);
            if (plen < 0) rc = BITNET_ERR_OUT_OF_MEMORY;
            else if (plen == 0) continue;
            else if (contains(piece, (size_t)plen, strings[b], slen)) rc = append(&l, id, NULL, 0);
            else rc = add_overlaps(&l, tok, id, piece, (size_t)plen, strings[b], slen);
        }
    }
    free(piece);
    if (rc) {
        free(l.tokens), free(l.lens);
        return rc;
    }
    *tokens = l.tokens, *lens = l.lens, *count = l.n;
    return 0;
}
