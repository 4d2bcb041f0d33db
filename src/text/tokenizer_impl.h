/* tokenizer_impl: the tokenizer's internal state shared by tokenizer.c (loading, special
 * tokens, pieces), tokenizer_bpe.c (byte-level BPE) and tokenizer_spm.c (SentencePiece BPE). */
#ifndef BITNET_TOKENIZER_IMPL_H
#define BITNET_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text/tokenizer.h"

/* llama.cpp's token types (tokenizer.ggml.token_type). */
enum { BN_TT_UNDEFINED = 0, BN_TT_NORMAL = 1, BN_TT_UNKNOWN = 2, BN_TT_CONTROL = 3,
       BN_TT_USER_DEFINED = 4, BN_TT_UNUSED = 5, BN_TT_BYTE = 6 };

/* Open-addressing hash table of uint32 values keyed by byte strings that the owner stores;
 * slots hold value+1 (0 = empty). Capacity is a power of two, at least twice the entries. */
typedef struct bn_strmap {
    uint32_t *slots;
    uint32_t mask;
} bn_strmap;

struct bn_tokenizer {
    bn_vocab_kind kind;
    bn_pre_tokenizer pre;
    bool ignore_merges;      /* emit a pre-tokenized word whole when it is a token */
    bool add_bos, add_eos, add_space_prefix;
    int32_t bos, eos, eot, eom, unk, pad;
    int32_t eog[8];
    int n_eog;

    uint32_t n_tokens;
    char *text;              /* all token texts back to back */
    uint64_t *text_off;      /* n_tokens + 1 offsets into text */
    float *scores;
    uint8_t *types;          /* BN_TT_* */
    bn_strmap token_map;     /* text -> id */

    /* Byte-level BPE merges: merge i is "left right" stored in merge_text at merge_off[i],
     * left = its first merge_left_len[i] bytes, right = the rest after the space. */
    uint32_t n_merges;
    char *merge_text;
    uint64_t *merge_off;
    uint32_t *merge_left_len;
    bn_strmap merge_map;     /* (left, right) -> rank */

    /* Detokenized bytes of every token, rendered as with render_special = true. */
    char *piece;
    uint64_t *piece_off;

    /* Ids matched literally before tokenizing (control, user-defined, unknown), longest
     * text first. */
    int32_t *special;
    uint32_t n_special;
};

/* A growable array of token ids; `failed` is sticky after an allocation failure. */
typedef struct bn_ids {
    int32_t *v;
    size_t n, cap;
    bool failed;
} bn_ids;

void bn_ids_push(bn_ids *ids, int32_t id);

static inline const char *bn_tok_text(const bn_tokenizer *t, int32_t id, size_t *len) {
    *len = (size_t)(t->text_off[id + 1] - t->text_off[id]);
    return t->text + t->text_off[id];
}

/* Token id of the byte string s[0..n), or -1. */
int32_t bn_tok_lookup(const bn_tokenizer *t, const char *s, size_t n);
/* Rank of the merge (left, right), or -1. */
int32_t bn_merge_rank(const bn_tokenizer *t, const char *l, size_t ln, const char *r, size_t rn);

/* Tokenize one text fragment (no special tokens in it) and append the ids. Return false on
 * allocation failure. */
bool bn_bpe_tokenize_fragment(const bn_tokenizer *t, const char *text, size_t len, bn_ids *out);
bool bn_spm_tokenize_fragment(const bn_tokenizer *t, const char *text, size_t len, bn_ids *out);

/* Splits codepoints cps[0..n) into pre-tokenizer words; appends word lengths (in codepoints)
 * to *lens (growable, *cap). Exposed for unit tests. Returns false on allocation failure. */
bool bn_pretokenize(bn_pre_tokenizer pre, const uint32_t *cps, size_t n, size_t **lens,
                    size_t *n_lens, size_t *cap);

/* ---- the pair-merge loop shared by BPE and SentencePiece (tokenizer_merge.c) ----
 * The text is cut into UTF-8 characters (by lead byte alone) as symbols in a linked list;
 * then the adjacent pair with the smallest key is merged (ties: leftmost) until no adjacent
 * pair has a key. BPE's key is the merge rank, SentencePiece's the negated token score. */
typedef struct bn_symbol { size_t off, n; int prev, next; } bn_symbol;
typedef struct bn_bigram { double key; int left, right; size_t size; } bn_bigram;
typedef struct bn_bigram_heap { bn_bigram *v; size_t n, cap; bool failed; } bn_bigram_heap;

/* Whether text[l] + text[r] may merge, and with which key. */
typedef bool (*bn_pair_key_fn)(const void *ctx, const char *text, const bn_symbol *l, const bn_symbol *r, double *key);

/* Merges text[0, len) into sym (capacity >= len); returns the number of initial symbols (the
 * merged ones are reached from sym[0] through .next; merged-away ones have n == 0), or -1 when
 * the heap could not grow. The heap is reused across calls (free heap->v at the end). */
int bn_merge_symbols(const char *text, size_t len, bn_symbol *sym, bn_bigram_heap *heap, bn_pair_key_fn key_fn,
                     const void *ctx);

#endif
