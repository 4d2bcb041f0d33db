/* lookup: prompt-lookup and prediction drafts (lookup.h). A scan per n-gram size: the history
 * and the prediction are at most a context long, and a draft is asked for once per verified
 * batch of tokens (a prediction is searched only after the reply left it). */
#include "text/lookup.h"

#include <stdbool.h>
#include <string.h>

/* The latest start j < n - g of tokens[n - g, n) earlier in tokens, or -1. */
static int64_t latest_match(const int32_t *tokens, int64_t n, int g) {
    const int32_t *tail = tokens + n - g;
    for (int64_t j = n - g - 1; j >= 0; j--)
        if (tokens[j] == tail[0] && memcmp(tokens + j, tail, (size_t)g * sizeof *tokens) == 0) return j;
    return -1;
}

int bn_lookup_draft(const int32_t *tokens, int64_t n, int32_t *draft, int max) {
    if (max > BN_LOOKUP_DRAFT_MAX) max = BN_LOOKUP_DRAFT_MAX;
    for (int g = BN_LOOKUP_NGRAM_MAX; g >= BN_LOOKUP_NGRAM_MIN && max > 0; g--) {
        if (n <= g) continue;
        int64_t j = latest_match(tokens, n, g);
        if (j < 0) continue;
        /* what followed it, continued with the period the repeat shows (a loop of one token
         * drafts max tokens, not one) */
        int64_t period = n - g - j;
        for (int k = 0; k < max; k++) {
            int64_t at = j + g + k;
            while (at >= n) at -= period;
            draft[k] = tokens[at];
        }
        return max;
    }
    return 0;
}

bn_prediction bn_prediction_start(const int32_t *tokens, int64_t n) {
    return (bn_prediction){.tokens = tokens, .n = n > 0 ? n : 0, .next = 0, .from = 0};
}

/* The first start j in [lo, hi) of tail[0, g) in the prediction, or -1. */
static int64_t first_match(const bn_prediction *p, const int32_t *tail, int g, int64_t lo, int64_t hi) {
    for (int64_t j = lo; j < hi; j++)
        if (p->tokens[j] == tail[0] && memcmp(p->tokens + j, tail, (size_t)g * sizeof *tail) == 0) return j;
    return -1;
}

/* Where the prediction goes on after the text's last BN_LOOKUP_NGRAM_MAX .. BN_LOOKUP_NGRAM_MIN
 * tokens (the longest that occurs in it; its first occurrence from `from` on, else before it),
 * or -1. */
static int64_t realign(const bn_prediction *p, const int32_t *text, int64_t n) {
    for (int g = BN_LOOKUP_NGRAM_MAX; g >= BN_LOOKUP_NGRAM_MIN; g--) {
        if (n < g || p->n < g) continue;
        const int32_t *tail = text + n - g;
        int64_t last = p->n - g + 1, from = p->from < last ? p->from : last;
        int64_t j = first_match(p, tail, g, from, last);
        if (j < 0) j = first_match(p, tail, g, 0, from);
        if (j >= 0) return j + g;
    }
    return -1;
}

int bn_prediction_draft(bn_prediction *p, const int32_t *text, int64_t n, int64_t n_new, int32_t *draft, int max) {
    if (max > BN_LOOKUP_DRAFT_MAX) max = BN_LOOKUP_DRAFT_MAX;
    if (n_new > n) n_new = n;
    bool left = p->next < 0;
    for (int64_t i = n - n_new; i < n && !left; i++) {
        if (p->next < p->n && p->tokens[p->next] == text[i]) p->from = ++p->next;
        else left = true;
    }
    if (left) p->next = realign(p, text, n);
    if (p->next >= 0) p->from = p->next;
    int64_t k = p->next < 0 ? 0 : p->n - p->next;
    if (k > max) k = max;
    if (k > 0) memcpy(draft, p->tokens + p->next, (size_t)k * sizeof *draft);
    return (int)k;
}
