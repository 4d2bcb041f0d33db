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

#include "tokenizer_impl.h"
#include "unicode.h"
#include "util.h"

typedef struct { size_t off, n; int prev, next; } symbol;
typedef struct { float score; int left, right; size_t size; } bigram;
typedef struct { bigram *v; size_t n, cap; bool failed; } bigram_heap;

/* Max-heap on score, then min on left. */
static bool bigram_before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(bigram_heap *h, bigram x) {
    if (h->failed) return;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        bigram *v = realloc(h->v, cap * sizeof *v);
        if (!v) {
            h->failed = true;
            return;
        }
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && bigram_before(&x, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = x;
}

static bigram heap_pop(bigram_heap *h) {
    bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && bigram_before(&h->v[c + 1], &h->v[c])) c++;
        if (!bigram_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static void try_pair(const bn_tokenizer *t, const char *text, const symbol *sym, int left,
                     int right, bigram_heap *h) {
    if (left < 0 || right < 0) return;
    size_t size = sym[left].n + sym[right].n;
    int32_t id = bn_tok_lookup(t, text + sym[left].off, size);
    if (id >= 0) heap_push(h, (bigram){t->scores[id], left, right, size});
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
    symbol *sym = bn_malloc((3 * raw_len + 1) * sizeof *sym, "tokenizer buffers");
    bigram_heap heap = {0};
    bool ok = text && sym;
    if (ok) {
        size_t len = escape_spaces(raw, raw_len, text);
        int n_sym = 0;
        for (size_t off = 0; off < len; n_sym++) {
            size_t n = bn_utf8_len_from_lead((uint8_t)text[off]);
            if (n > len - off) n = len - off;
            sym[n_sym] = (symbol){off, n, n_sym - 1, off + n == len ? -1 : n_sym + 1};
            off += n;
        }
        for (int i = 1; i < n_sym; i++) try_pair(t, text, sym, i - 1, i, &heap);
        while (heap.n && !heap.failed) {
            bigram b = heap_pop(&heap);
            symbol *l = &sym[b.left], *r = &sym[b.right];
            if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
            l->n += r->n;
            r->n = 0;
            l->next = r->next;
            if (r->next >= 0) sym[r->next].prev = b.left;
            try_pair(t, text, sym, l->prev, b.left, &heap);
            try_pair(t, text, sym, b.left, l->next, &heap);
        }
        ok = !heap.failed;
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
