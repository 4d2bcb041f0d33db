/* tokenizer_merge: the pair-merge loop shared by byte-level BPE and SentencePiece BPE
 * (see tokenizer_impl.h): a binary heap of candidate pairs ordered by key, then leftmost. */
#include <stdlib.h>

#include "text/tokenizer_impl.h"
#include "text/unicode.h"

static bool bigram_before(const bn_bigram *a, const bn_bigram *b) {
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static void heap_push(bn_bigram_heap *h, bn_bigram x) {
    if (h->failed) return;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        bn_bigram *v = realloc(h->v, cap * sizeof *v);
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

static bn_bigram heap_pop(bn_bigram_heap *h) {
    bn_bigram top = h->v[0], last = h->v[--h->n];
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

typedef struct {
    const char *text;
    bn_symbol *sym;
    bn_bigram_heap *heap;
    bn_pair_key_fn key_fn;
    const void *ctx;
} merge_run;

static void try_pair(merge_run *m, int left, int right) {
    if (left < 0 || right < 0) return;
    const bn_symbol *l = &m->sym[left], *r = &m->sym[right];
    double key;
    if (m->key_fn(m->ctx, m->text, l, r, &key)) heap_push(m->heap, (bn_bigram){key, left, right, l->n + r->n});
}

int bn_merge_symbols(const char *text, size_t len, bn_symbol *sym, bn_bigram_heap *heap, bn_pair_key_fn key_fn,
                     const void *ctx) {
    int n_sym = 0;
    for (size_t off = 0; off < len; n_sym++) {
        size_t n = bn_utf8_len_from_lead((uint8_t)text[off]);
        if (n > len - off) n = len - off;
        sym[n_sym] = (bn_symbol){off, n, n_sym - 1, off + n == len ? -1 : n_sym + 1};
        off += n;
    }
    merge_run m = {text, sym, heap, key_fn, ctx};
    heap->n = 0;
    for (int i = 1; i < n_sym; i++) try_pair(&m, i - 1, i);
    while (heap->n && !heap->failed) {
        bn_bigram b = heap_pop(heap);
        bn_symbol *l = &sym[b.left], *r = &sym[b.right];
        /* Stale when either side changed since the pair was queued (sizes only grow). */
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        try_pair(&m, l->prev, b.left);
        try_pair(&m, b.left, l->next);
    }
    return heap->failed ? -1 : n_sym;
}
