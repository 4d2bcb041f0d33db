/* lookup: drafts for speculative decoding (api_generate.c verifies a draft's tokens in the
 * same forward pass as the token fed back). Two sources:
 *   - prompt lookup (as llama.cpp's lookup decoding): the tokens that followed the latest
 *     earlier occurrence of the text's last few tokens. Text that repeats what came before
 *     (code being edited, quotes, lists, a model's own loops) then comes several tokens a pass.
 *   - a prediction (OpenAI's Predicted Outputs): a text the reply is expected to repeat largely
 *     (a file with a few lines changed), followed by a cursor: while the reply's tokens are the
 *     prediction's next ones the draft is what comes after them; once the reply leaves it, the
 *     cursor waits until the reply's last few tokens occur in it again (searched from where the
 *     reply left it, then from its start: an insertion or a deletion), and goes on from there. */
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

/* A prediction's cursor. tokens are the caller's (valid while it is used). */
typedef struct bn_prediction {
    const int32_t *tokens;
    int64_t n;
    int64_t next;  /* the index of the token the reply is expected to give next; -1: it left the
                      prediction and has not come back */
    int64_t from;  /* where the reply last followed it to: a new alignment is searched from here */
} bn_prediction;

/* A cursor at the start of tokens[0, n) (n >= 0). */
bn_prediction bn_prediction_start(const int32_t *tokens, int64_t n);

/* Follows the reply's n_new latest tokens, text[n - n_new, n) (text: everything so far, the
 * prompt then the reply; the reply's tokens since the last call), then drafts what the
 * prediction has after them: at most max (<= BN_LOOKUP_DRAFT_MAX) tokens into draft. Returns
 * their count (0: the reply is not following the prediction, or it is at its end). */
int bn_prediction_draft(bn_prediction *p, const int32_t *text, int64_t n, int64_t n_new, int32_t *draft, int max);

#endif
