/* token_constraint: token masks for constrained generation (see token_constraint.h). */
#include "text/token_constraint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "text/gbnf.h"
#include "util.h"

struct bn_constraint_vocab {
    const bn_tokenizer *tok; /* the model's (a grammar's token references by text) */
    int32_t n_vocab;
    char *bytes;       /* every token's piece, back to back */
    uint32_t *at;      /* [n_vocab + 1]: token id's piece is bytes[at[id], at[id + 1]) */
    uint16_t *chars;   /* [n_vocab]: the characters of a piece that, read inside a string between
                        * characters, stays in it and ends between characters (an escape or a
                        * UTF-8 sequence whole); NOT_PLAIN otherwise */

    uint8_t *spaces;   /* [n_vocab]: the spaces a piece starts with (at most 255), when more bytes follow */
    uint8_t *eog;      /* [n_vocab]: 1 for the end-of-generation tokens (a grammar may let one end the text) */
    int32_t *sorted;   /* [n_vocab]: the ids in the byte order of their pieces (grammar masks share prefixes) */
    uint8_t *lcp;      /* [n_vocab]: bytes sorted[k]'s piece shares with sorted[k - 1]'s (at most 255; 0 for k = 0) */
};

/* The text read so far, against a JSON Schema or a grammar. */
typedef union constraint_state {
    bn_json_schema_state json;
    bn_gbnf_state grammar;
} constraint_state;

struct bn_constraint {
    const bn_constraint_vocab *v;
    bn_json_schema *schema; /* one of the two */
    bn_gbnf *grammar;
    constraint_state state;
};

#define NOT_PLAIN 0xffffu

/* Appends token id's piece to j->bytes (cap bytes allocated, grown as needed). */
static bool read_piece(bn_constraint_vocab *j, const bn_tokenizer *t, int32_t id, size_t *cap) {
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

/* The characters of piece[0, n) read inside a string, NOT_PLAIN unless it stays inside and
 * ends between characters. */
static uint16_t plain_chars(const char *piece, uint32_t n) {
    uint32_t ascii = 0;
    while (ascii < n && (uint8_t)piece[ascii] >= 0x20 && (uint8_t)piece[ascii] < 0x80 && piece[ascii] != '"' && piece[ascii] != '\\') ascii++;
    if (n && ascii == n) return n < NOT_PLAIN ? (uint16_t)n : NOT_PLAIN; /* the common case: printable ASCII, one character a byte */
    bn_json_prefix s;
    bn_json_prefix_init(&s, false);
    bn_json_prefix_feed(&s, "\"", 1);
    uint32_t chars = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!bn_json_prefix_feed(&s, piece + i, 1) || bn_json_prefix_place(&s) != BN_JSON_IN_STRING) return NOT_PLAIN;
        chars += bn_json_prefix_at_char(&s);
    }
    return n && bn_json_prefix_at_char(&s) && chars < NOT_PLAIN ? (uint16_t)chars : NOT_PLAIN;
}

/* piece(a) - piece(b) in byte order (a shorter prefix first). */
static int cmp_pieces(const bn_constraint_vocab *v, int32_t a, int32_t b) {
    uint32_t na = v->at[a + 1] - v->at[a], nb = v->at[b + 1] - v->at[b];
    int c = memcmp(v->bytes + v->at[a], v->bytes + v->at[b], na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

/* Merge sort of ids[0, n) by piece (tmp: n entries of scratch). */
static void sort_ids(const bn_constraint_vocab *v, int32_t *ids, int32_t *tmp, int32_t n) {
    if (n < 2) return;
    int32_t h = n / 2, i = 0, j = h, k = 0;
    sort_ids(v, ids, tmp, h);
    sort_ids(v, ids + h, tmp, n - h);
    while (i < h && j < n) tmp[k++] = cmp_pieces(v, ids[j], ids[i]) < 0 ? ids[j++] : ids[i++];
    while (i < h) tmp[k++] = ids[i++];
    while (j < n) tmp[k++] = ids[j++];
    memcpy(ids, tmp, (size_t)n * sizeof *ids);
}

bool bn_constraint_vocab_sort(bn_constraint_vocab *v) {
    if (v->sorted) return true;
    int32_t *tmp = bn_malloc((size_t)v->n_vocab * sizeof *tmp, "token order");
    v->sorted = bn_malloc((size_t)v->n_vocab * sizeof *v->sorted, "token order");
    v->lcp = bn_malloc((size_t)v->n_vocab, "token prefixes");
    bool ok = tmp && v->sorted && v->lcp;
    for (int32_t id = 0; ok && id < v->n_vocab; id++) v->sorted[id] = id;
    if (ok) sort_ids(v, v->sorted, tmp, v->n_vocab);
    for (int32_t k = 0; ok && k < v->n_vocab; k++) {
        uint32_t n = 0;
        if (k) {
            int32_t a = v->sorted[k - 1], b = v->sorted[k];
            uint32_t na = v->at[a + 1] - v->at[a], nb = v->at[b + 1] - v->at[b];
            while (n < na && n < nb && n < 255 && v->bytes[v->at[a] + n] == v->bytes[v->at[b] + n]) n++;
        }
        v->lcp[k] = (uint8_t)n;
    }
    free(tmp);
    if (!ok) {
        free(v->sorted), free(v->lcp);
        v->sorted = NULL, v->lcp = NULL;
    }
    return ok;
}

bn_constraint_vocab *bn_constraint_vocab_create(const bn_tokenizer *t) {
    bn_constraint_vocab *j = bn_calloc(1, sizeof *j, "json vocabulary");
    if (!j) return NULL;
    j->tok = t;
    j->n_vocab = bn_tokenizer_n_vocab(t);
    size_t cap = (size_t)j->n_vocab * 8 + 64;
    j->at = bn_calloc((size_t)j->n_vocab + 1, sizeof *j->at, "json token offsets");
    j->bytes = bn_malloc(cap, "json token pieces");
    j->chars = bn_malloc((size_t)j->n_vocab * sizeof *j->chars, "json token characters");
    j->spaces = bn_malloc((size_t)j->n_vocab, "json token spaces");
    j->eog = bn_malloc((size_t)j->n_vocab, "end-of-generation tokens");
    bool ok = j->at && j->bytes && j->chars && j->spaces && j->eog;
    for (int32_t id = 0; ok && id < j->n_vocab; id++) ok = read_piece(j, t, id, &cap);
    for (int32_t id = 0; ok && id < j->n_vocab; id++) {
        const char *piece = j->bytes + j->at[id];
        uint32_t n = j->at[id + 1] - j->at[id], k = 0;
        j->chars[id] = plain_chars(piece, n);
        while (k < n && k < 255 && piece[k] == ' ') k++;
        j->spaces[id] = k < n ? (uint8_t)k : 0;
        j->eog[id] = bn_tokenizer_is_eog(t, id);
    }
    if (!ok) {
        bn_constraint_vocab_free(j);
        return NULL;
    }
    return j;
}

void bn_constraint_vocab_free(bn_constraint_vocab *v) {
    if (!v) return;
    free(v->bytes);
    free(v->at);
    free(v->chars);
    free(v->spaces);
    free(v->eog);
    free(v->sorted);
    free(v->lcp);
    free(v);
}

bn_constraint *bn_constraint_create(const bn_constraint_vocab *v, const char *schema, size_t len) {
    static const char any_object[] = "{\"type\": \"object\"}";
    bn_constraint *j = bn_calloc(1, sizeof *j, "json constraint");
    if (!j) return NULL;
    j->v = v;
    if (!(j->schema = schema ? bn_json_schema_compile(schema, len) : bn_json_schema_compile(any_object, sizeof any_object - 1))) {
        free(j);
        return NULL;
    }
    bn_json_schema_init(&j->state.json, j->schema);
    return j;
}

/* bn_gbnf_token_lookup over a tokenizer: the id of the one token text is (special tokens
 * parsed), or -1. */
static int64_t one_token(void *tokenizer, const char *text, size_t len) {
    int32_t ids[2];
    return bn_tokenize(tokenizer, text, len, false, true, ids, 2) == 1 ? ids[0] : -1;
}

bn_constraint *bn_constraint_create_grammar(const bn_constraint_vocab *v, const char *grammar, size_t len) {
    if (!v->sorted) {
        bn_error(BITNET_ERR_INTERNAL, "grammar constraint: the vocabulary was not sorted (bn_constraint_vocab_sort)");
        return NULL;
    }
    bn_constraint *j = bn_calloc(1, sizeof *j, "grammar constraint");
    if (!j) return NULL;
    j->v = v;
    if (!(j->grammar = bn_gbnf_compile_tokens(grammar, len, one_token, (void *)v->tok))) {
        free(j);
        return NULL;
    }
    if (bn_gbnf_max_token(j->grammar) >= v->n_vocab) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "grammar: the token reference <[%lld]> is not a token of this model (0..%d)",
                 (long long)bn_gbnf_max_token(j->grammar), (int)v->n_vocab - 1);
        bn_constraint_free(j);
        return NULL;
    }
    bn_gbnf_init(&j->state.grammar, j->grammar);
    return j;
}

void bn_constraint_free(bn_constraint *j) {
    if (!j) return;
    bn_json_schema_free(j->schema);
    bn_gbnf_free(j->grammar);
    free(j);
}

/* bytes[0, n) fed to a copy of the state into *after: whether they keep the text a prefix. */
static bool try_bytes(const bn_constraint *j, const char *bytes, size_t n, constraint_state *after) {
    if (j->grammar) {
        bn_gbnf_state_copy(&after->grammar, &j->state.grammar);
        return bn_gbnf_feed(&after->grammar, bytes, n);
    }
    bn_json_schema_state_copy(&after->json, &j->state.json);
    return bn_json_schema_feed(&after->json, bytes, n);
}

/* Whether token id keeps the text a prefix (its bytes; a grammar's token references too);
 * *after: the state past it. */
static bool try_token(const bn_constraint *j, int32_t id, constraint_state *after) {
    const bn_constraint_vocab *v = j->v;
    uint32_t n = v->at[id + 1] - v->at[id];
    if (j->grammar) {
        bn_gbnf_state_copy(&after->grammar, &j->state.grammar);
        return bn_gbnf_feed_token(&after->grammar, id, v->bytes + v->at[id], n);
    }
    return n && try_bytes(j, v->bytes + v->at[id], n, after);
}

/* JSON: most tokens fail on their first byte where the syntax allows few, or on the first
 * byte after their leading spaces: each byte is tried once (both ways), and a token passing
 * these checks is then fed whole. Inside a string that only counts characters, a plain piece
 * is settled by its count (within the room left or not) without feeding. A GBNF grammar needs
 * only whether its text is complete (its end-of-generation tokens are allowed then). */
void bn_constraint_plan(const bn_constraint *j, bn_constraint_mask_plan *plan) {
    memset(plan, 0, sizeof *plan);
    if (j->grammar) { /* grammar_mask_range shares prefixes instead of these checks */
        plan->eog_ok = bn_gbnf_complete(&j->state.grammar);
        return;
    }
    constraint_state after;
    for (int c = 0; c < 256; c++) {
        char b[2] = {' ', (char)c};
        plan->first_ok[c] = try_bytes(j, b + 1, 1, &after);
        plan->after_space_ok[c] = try_bytes(j, b, 2, &after);
    }
    plan->in_free_string = bn_json_schema_free_chars(&j->state.json, &plan->room);
}

/* A grammar's mask over positions [begin, end) of the sorted ids: a token's piece shares its
 * first bytes with the previous one's, so the states after each of those bytes are kept
 * (states[d]: after d bytes) and only the bytes past the shared prefix are fed; a token that
 * shares a refused byte is refused without feeding. Where a token reference may come next
 * (<[id]>, !<[id]>), a token it takes is allowed whatever its bytes. */
#define PREFIX_DEPTH 32
static void grammar_mask_range(const bn_constraint *j, const bn_constraint_mask_plan *plan, const float *logits, int64_t begin,
                               int64_t end, float *out) {
    const bn_constraint_vocab *v = j->v;
    bn_gbnf_state *states = bn_malloc((PREFIX_DEPTH + 2) * sizeof *states, "grammar mask states");
    int64_t n_tok = end < v->n_vocab ? end : v->n_vocab;
    for (int64_t k = n_tok > begin ? n_tok : begin; k < end; k++) out[k] = -INFINITY; /* ids past the tokenizer's */
    if (!states) { /* out of memory: nothing may come (the draw then fails with a message) */
        for (int64_t k = begin; k < n_tok; k++) out[v->sorted[k]] = -INFINITY;
        return;
    }
    bn_gbnf_state_copy(&states[0], &j->state.grammar);
    bool refs = bn_gbnf_expects_token(&j->state.grammar);
    uint32_t good = 0, run = 0; /* states[0, good] hold the last fed piece's prefixes; run: bytes shared with it */
    int64_t dead = -1;          /* that piece was refused at this byte (-1: it was not) */
    for (int64_t k = begin; k < n_tok; k++) {
        int32_t id = v->sorted[k];
        uint32_t n = v->at[id + 1] - v->at[id], lcp = k == begin ? 0 : v->lcp[k];
        run = run < lcp ? run : lcp;
        bool eog = plan->eog_ok && v->eog[id], by_ref = refs && bn_gbnf_token_ref_takes(&j->state.grammar, id);
        if (!n || eog || logits[id] == -INFINITY) { /* not fed: the next piece is compared with the last fed one */
            out[id] = eog || by_ref ? logits[id] : -INFINITY;
            continue;
        }
        const char *p = v->bytes + v->at[id];
        if (dead >= 0 && dead < (int64_t)run) { /* shares the refused byte (and so will the next if they share more) */
            out[id] = by_ref ? logits[id] : -INFINITY;
            run = UINT32_MAX;
            continue;
        }
        bool ok;
        uint32_t d = run < good ? run : good;
        dead = -1;
        for (ok = true; ok && d < n && d < PREFIX_DEPTH; d++) {
            bn_gbnf_state_copy(&states[d + 1], &states[d]);
            if (!bn_gbnf_feed(&states[d + 1], p + d, 1)) ok = false, dead = d;
        }
        good = ok ? d : (uint32_t)dead;
        if (ok && d < n) { /* past the kept depth: the rest on a copy */
            bn_gbnf_state_copy(&states[PREFIX_DEPTH + 1], &states[d]);
            ok = bn_gbnf_feed(&states[PREFIX_DEPTH + 1], p + d, n - d);
        }
        out[id] = ok || by_ref ? logits[id] : -INFINITY;
        run = UINT32_MAX;
    }
    free(states);
}

void bn_constraint_mask_range(const bn_constraint *j, const bn_constraint_mask_plan *plan, const float *logits, int64_t begin,
                              int64_t end, float *out) {
    if (j->grammar) {
        grammar_mask_range(j, plan, logits, begin, end, out);
        return;
    }
    constraint_state after;
    const bn_constraint_vocab *v = j->v;
    for (int64_t id = begin; id < end; id++) {
        bool plain = plan->in_free_string && v->chars[id] != NOT_PLAIN; /* settled by its count alone */
        bool ok = id < v->n_vocab && logits[id] != -INFINITY &&
                  (plain ? v->chars[id] <= plan->room
                         : (plan->eog_ok && v->eog[id]) ||
                               (v->at[id + 1] > v->at[id] && plan->first_ok[(uint8_t)v->bytes[v->at[id]]] &&
                                (!v->spaces[id] || plan->after_space_ok[(uint8_t)v->bytes[v->at[id] + v->spaces[id]]]) &&
                                try_token(j, (int32_t)id, &after)));
        out[id] = ok ? logits[id] : -INFINITY;
    }
}

void bn_constraint_mask(const bn_constraint *j, const float *logits, int64_t n_logits, float *out) {
    bn_constraint_mask_plan plan;
    bn_constraint_plan(j, &plan);
    bn_constraint_mask_range(j, &plan, logits, 0, n_logits, out);
}

/* Whether id is an end-of-generation token that ends a complete grammar's text here. */
static bool ends_text(const bn_constraint *j, int32_t id) {
    return j->grammar && j->v->eog[id] && bn_gbnf_complete(&j->state.grammar);
}

bool bn_constraint_allows(const bn_constraint *j, int32_t id) {
    constraint_state after;
    return id >= 0 && id < j->v->n_vocab && (ends_text(j, id) || try_token(j, id, &after));
}

bool bn_constraint_accept(bn_constraint *j, int32_t id) {
    if (id < 0 || id >= j->v->n_vocab) return false;
    if (ends_text(j, id)) return true; /* the end of the text */
    constraint_state after;
    if (!try_token(j, id, &after)) return false;
    if (j->grammar) bn_gbnf_state_copy(&j->state.grammar, &after.grammar);
    else bn_json_schema_state_copy(&j->state.json, &after.json);
    return true;
}

bool bn_constraint_complete(const bn_constraint *j) {
    if (j->grammar) return bn_gbnf_complete(&j->state.grammar) && !bn_gbnf_can_continue(&j->state.grammar);
    return bn_json_schema_complete(&j->state.json);
}

bool bn_constraint_is_grammar(const bn_constraint *j) { return j->grammar != NULL; }
