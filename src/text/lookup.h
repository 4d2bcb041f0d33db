/* lookup: drafts for speculative decoding by prompt lookup (as llama.cpp's lookup decoding):
 * the tokens that followed the latest earlier occurrence of the text's last few tokens. Text
 * that repeats what came before (code being edited, quotes, lists, a model's own loops) is
 * then verified several tokens per forward pass (api_generate.c). */
#ifndef BITNET_LOOKUP_H
#define BITNET_LOOKUP_H

#include <stdint.h>

enum { BN_LOOKUP_NGRAM_MAX = 4, BN_LOOKUP_NGRAM_MIN = 2, BN_LOOKUP_DRAFT_MAX = 16 };

/* The draft for tokens[0, n): for the longest n-gram of the last BN_LOOKUP_NGRAM_MAX ..
 * BN_LOOKUP_NGRAM_MIN tokens that occurred before, the tokens after its latest earlier
 * occurrence, continued periodically past the end (the text repeats with the distance
 * between the two occurrences): max (<= BN_LOOKUP_DRAFT_MAX) tokens into draft. Returns their
 * count (0: no n-gram repeats). */
int bn_lookup_draft(const int32_t *tokens, int64_t n, int32_t *draft, int max);

#endif
