/* api_prompt_cache: a batch's prompt cache in host memory (bitnet_batch_params.
 * prompt_cache_bytes, llama-server's --cache-ram). When a slot is given to a prompt it does
 * not start with, the batch hands the tokens the slot held here first (bn_prompt_cache_keep):
 * they and their KV entries are copied into an image (bn_state_kv_transfer's layout), the
 * least recently used images dropped to stay within the limit; a later prompt that starts
 * with an image's tokens copies them back into its slot (bn_prompt_cache_restore), as it would
 * from another slot. An image whose tokens another image extends is never kept twice. */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "util.h"

struct bn_prompt_image {
    int32_t *tokens;   /* [n] */
    int64_t n;
    void *kv;          /* kv_bytes = bn_state_kv_image_bytes(n) bytes (bn_malloc_large) */
    uint64_t kv_bytes;
    uint64_t bytes;    /* tokens and kv together: what counts against the limit */
    uint64_t last_use;
    bool pinned;       /* the image the next prompt takes: not dropped to make room for another */
};

int64_t bn_tokens_same_prefix(const int32_t *a, int64_t n_a, const int32_t *b, int64_t n_b) {
    int64_t k = 0;
    while (k < n_a && k < n_b && a[k] == b[k]) k++;
    return k;
}

static void drop(bn_prompt_cache *c, int k) {
    bn_prompt_image *im = &c->images[k];
    c->used -= im->bytes;
    free(im->tokens);
    bn_free_large(im->kv, (size_t)im->kv_bytes);
    c->images[k] = c->images[--c->n];
}

void bn_prompt_cache_free(bn_prompt_cache *c) {
    while (c->n) drop(c, c->n - 1);
    free(c->images);
    memset(c, 0, sizeof *c);
}

/* Drops least recently used images (not the pinned one) until `bytes` more fit the limit;
 * false when they cannot. */
static bool make_room(bn_prompt_cache *c, uint64_t bytes) {
    while (c->used + bytes > c->limit) {
        int oldest = -1;
        for (int k = 0; k < c->n; k++)
            if (!c->images[k].pinned && (oldest < 0 || c->images[k].last_use < c->images[oldest].last_use)) oldest = k;
        if (oldest < 0) return false;
        drop(c, oldest);
    }
    return true;
}

static bool grow(bn_prompt_cache *c) {
    if (c->n < c->cap) return true;
    int cap = c->cap ? 2 * c->cap : 8;
    bn_prompt_image *bigger = realloc(c->images, (size_t)cap * sizeof *bigger);
    if (!bigger) return false;
    c->images = bigger;
    c->cap = cap;
    return true;
}

/* Copies sequence seq's [0, n) into a new image (the caller made sure none holds them). */
static void add_image(bn_prompt_cache *c, bn_state *s, int seq, const int32_t *tokens, int64_t n) {
    uint64_t kv_bytes = bn_state_kv_image_bytes(s, n), bytes = kv_bytes + (uint64_t)n * sizeof *tokens;
    if (bytes > c->limit || !make_room(c, bytes) || !grow(c)) return;
    bn_prompt_image im = {.tokens = malloc((size_t)n * sizeof *tokens), .n = n, .kv = bn_malloc_large((size_t)kv_bytes, "a kept prompt"),
                          .kv_bytes = kv_bytes, .bytes = bytes, .last_use = ++c->clock};
    if (!im.tokens || !im.kv ||
        bn_state_kv_transfer(s, (bn_kv_ref){.image = im.kv, .n_image = n}, (bn_kv_ref){.seq = seq}, 0, n) != 0) {
        free(im.tokens); /* without memory the prompt is simply not kept */
        bn_free_large(im.kv, (size_t)kv_bytes);
        bn_clear_error(); /* not an error of the request's */
        return;
    }
    memcpy(im.tokens, tokens, (size_t)n * sizeof *tokens);
    c->images[c->n++] = im;
    c->used += bytes;
}

void bn_prompt_cache_keep(bn_prompt_cache *c, bn_state *s, int seq, const int32_t *tokens, int64_t n, const int32_t *next,
                          int64_t n_next) {
    if (n <= 0) return;
    int pin;
    if (bn_prompt_cache_match(c, next, n_next, &pin) > 0) c->images[pin].pinned = true;
    bool held = false;
    for (int k = c->n - 1; k >= 0 && !held; k--) {
        int64_t same = bn_tokens_same_prefix(c->images[k].tokens, c->images[k].n, tokens, n);
        if (same == n) { /* held already (an image with these tokens, or more) */
            c->images[k].last_use = ++c->clock;
            held = true;
        } else if (same == c->images[k].n && !c->images[k].pinned) {
            drop(c, k); /* these tokens extend it: it is of no more use */
        }
    }
    if (!held) add_image(c, s, seq, tokens, n);
    for (int k = 0; k < c->n; k++) c->images[k].pinned = false;
}

int64_t bn_prompt_cache_match(const bn_prompt_cache *c, const int32_t *prompt, int64_t n, int *image) {
    int64_t best = 0;
    *image = -1;
    for (int k = 0; k < c->n; k++) {
        int64_t same = bn_tokens_same_prefix(c->images[k].tokens, c->images[k].n, prompt, n);
        if (same > best) best = same, *image = k;
    }
    return best;
}

int bn_prompt_cache_restore(bn_prompt_cache *c, bn_state *s, int image, int seq, int64_t from, int64_t to) {
    bn_prompt_image *im = &c->images[image];
    int rc = bn_state_kv_transfer(s, (bn_kv_ref){.seq = seq}, (bn_kv_ref){.image = im->kv, .n_image = im->n}, from, to);
    if (rc == 0) {
        im->last_use = ++c->clock;
        c->restored += (uint64_t)(to - from);
    }
    return rc;
}
