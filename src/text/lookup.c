/* lookup: prompt-lookup drafts (lookup.h). A backwards scan per n-gram size: the history is at
 * most a context long and a draft is asked for once per verified batch of tokens. */
#include "text/lookup.h"

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
