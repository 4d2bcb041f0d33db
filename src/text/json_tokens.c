/* json_tokens: token masks for JSON-constrained generation (see json_tokens.h). */
#include "text/json_tokens.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct bn_json_tokens {
    bn_json_prefix state;
    int32_t n_vocab;
    char *bytes;       /* every token's piece, back to back */
    uint32_t *at;      /* [n_vocab + 1]: token id's piece is bytes[at[id], at[id + 1]) */
};

/* Appends token id's piece to j->bytes (cap bytes allocated, grown as needed). */
static bool read_piece(bn_json_tokens *j, const bn_tokenizer *t, int32_t id, size_t *cap) {
    uint32_t used = j->at[id];
    for (;;) {
        int room = *cap - used > INT32_MAX ? INT32_MAX : (int)(*cap - used);
        int n = bn_token_to_piece(t, id, false, j->bytes + used, room);
        if (n == BN_TOKENIZER_FAILED) return false;
        if (n >= 0) {
            j->at[id + 1] = used + (uint32_t)n; /* < cap, itself < 2^32 (checked below) */
            return true;
        }
        size_t bigger = *cap * 2 + (size_t)-n;
        char *p = bigger <= UINT32_MAX ? realloc(j->bytes, bigger) : NULL;
        if (!p) {
            bn_error(BITNET_ERR_OUT_OF_MEMORY, "json constraint: token pieces (%zu bytes)", bigger);
            return false;
        }
        j->bytes = p;
        *cap = bigger;
    }
}

bn_json_tokens *bn_json_tokens_create(const bn_tokenizer *t) {
    bn_json_tokens *j = bn_calloc(1, sizeof *j, "json constraint");
    if (!j) return NULL;
    j->n_vocab = bn_tokenizer_n_vocab(t);
    size_t cap = (size_t)j->n_vocab * 8 + 64;
    j->at = bn_calloc((size_t)j->n_vocab + 1, sizeof *j->at, "json token offsets");
    j->bytes = bn_malloc(cap, "json token pieces");
    bool ok = j->at && j->bytes;
    for (int32_t id = 0; ok && id < j->n_vocab; id++) ok = read_piece(j, t, id, &cap);
    if (!ok) {
        bn_json_tokens_free(j);
        return NULL;
    }
    bn_json_prefix_init(&j->state, true);
    return j;
}

void bn_json_tokens_free(bn_json_tokens *j) {
    if (!j) return;
    free(j->bytes);
    free(j->at);
    free(j);
}

/* Whether token id's bytes keep the text a prefix; *after: the state past them. */
static bool try_token(const bn_json_tokens *j, int32_t id, bn_json_prefix *after) {
    uint32_t n = j->at[id + 1] - j->at[id];
    *after = j->state;
    return n > 0 && bn_json_prefix_feed(after, j->bytes + j->at[id], n);
}

void bn_json_tokens_mask(const bn_json_tokens *j, const float *logits, int64_t n_logits, float *out) {
    bn_json_prefix after;
    for (int64_t id = 0; id < n_logits; id++)
        out[id] = id < j->n_vocab && logits[id] != -INFINITY && try_token(j, (int32_t)id, &after) ? logits[id] : -INFINITY;
}

bool bn_json_tokens_accept(bn_json_tokens *j, int32_t id) {
    bn_json_prefix after;
    if (id < 0 || id >= j->n_vocab || !try_token(j, id, &after)) return false;
    j->state = after;
    return true;
}

bool bn_json_tokens_complete(const bn_json_tokens *j) { return bn_json_prefix_complete(&j->state); }
