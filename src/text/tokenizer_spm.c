/* tokenizer_spm: SentencePiece-style BPE (tokenizer.ggml.model = "llama"), as llama.cpp's
 * llm_tokenizer_spm does it:
 *   - spaces become U+2581 (the caller has already added the leading space when asked);
 *   - the text is cut into characters by the UTF-8 lead byte alone (no validation);
 *   - repeatedly merge the adjacent pair whose concatenation is a token with the highest
 *     score (ties: leftmost);
 *   - each final symbol becomes its token, or else one <0xNN> token per byte (or, failing
 *     that, the token whose text is the byte itself; bytes with neither are dropped). */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_impl.h"
#include "text/unicode.h"
#include "util.h"

/* SentencePiece merges the pair whose concatenation is the token with the highest score:
 * the key is the negated score (smallest first). */
static bool spm_pair_key(const void *ctx, const char *text, const bn_symbol *l, const bn_symbol *r, double *key) {
    const bn_tokenizer *t = ctx;
    int32_t id = bn_tok_lookup(t, text + l->off, l->n + r->n);
    if (id < 0) return false;
    *key = -(double)t->scores[id];
    return true;
}

static void emit_bytes(const bn_tokenizer *t, const char *s, size_t n, bn_ids *out) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        char name[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        int32_t id = bn_tok_lookup(t, name, sizeof name);
        if (id < 0) id = bn_tok_lookup(t, s + i, 1);
        if (id >= 0) bn_ids_push(out, id);
    }
}

/* Copies text with ' ' replaced by U+2581; returns the new length. */
static size_t escape_spaces(const char *text, size_t len, char *dst) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(dst + o, "\xE2\x96\x81", 3);
            o += 3;
        } else {
            dst[o++] = text[i];
        }
    }
    return o;
}

bool bn_spm_tokenize_fragment(const bn_tokenizer *t, const char *raw, size_t raw_len, bn_ids *out) {
    char *text = bn_malloc(3 * raw_len + 1, "tokenizer buffers");
    bn_symbol *sym = bn_malloc((3 * raw_len + 1) * sizeof *sym, "tokenizer buffers");
    bn_bigram_heap heap = {0};
    bool ok = text && sym;
    if (ok) {
        size_t len = escape_spaces(raw, raw_len, text);
        int n_sym = bn_merge_symbols(text, len, sym, &heap, spm_pair_key, t);
        ok = n_sym >= 0;
        for (int i = 0; ok && n_sym > 0 && i != -1; i = sym[i].next) {
            int32_t id = bn_tok_lookup(t, text + sym[i].off, sym[i].n);
            if (id >= 0) bn_ids_push(out, id);
            else emit_bytes(t, text + sym[i].off, sym[i].n, out);
        }
    }
    if (!ok) bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
    free(text);
    free(sym);
    free(heap.v);
    return ok && !out->failed;
}
