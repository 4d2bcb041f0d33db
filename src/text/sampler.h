/* sampler: picks the next token from a row of logits. Owns its parameters, its random
 * generator (a seeded xorshift64*; never rand(), so the same seed gives the same tokens on
 * any thread count and any machine) and the history the penalties look at.
 *
 * The chain, in this order (llama.cpp's default order, less the samplers we do not offer):
 *   0. logit bias a constant added to chosen tokens' logits (-inf bans a token)
 *   1. penalties  (repeat, presence, frequency) over the last penalty_last_n accepted tokens
 *   2. greedy     temperature <= 0: argmax of the penalized logits (ties -> lowest id); stop
 *   3. top-k      keep the k largest logits (ties -> lower id kept)
 *   4. top-p      softmax of what is left (at temperature 1), keep the smallest prefix of
 *                 the tokens sorted by probability whose mass reaches top_p
 *   5. min-p      keep tokens with p >= min_p * p_max (that is, logit >= max + log(min_p))
 *   6. temperature  divide the remaining logits by it
 * llama.cpp's other samplers, each off by default, take their places in its chain:
 *   DRY (after the penalties, so before greedy too) lowers the logit of each token that would
 *     extend a repeat of the last dry_penalty_last_n tokens longer than dry_allowed_length, by
 *     dry_multiplier * dry_base ^ (repeat length - allowed length); a repeat does not reach back
 *     across a sequence breaker (bn_sampler_set_dry_breakers), and a one-token breaker is never
 *     penalized;
 *   top-n-sigma (before top-k) keep logits >= max - n * (their standard deviation);
 *   typical-p (after top-k) keep the tokens whose surprise -log p is closest to the entropy,
 *     the fewest whose mass exceeds typical_p;
 *   XTC (after min-p) with probability xtc_probability, drop every token with
 *     p >= xtc_threshold but the least likely of them (when two or more are);
 *   dynamic temperature (step 6) temperature +- dynatemp_range, by the normalized entropy of
 *     the survivors raised to dynatemp_exponent (0: the best survivor alone);
 *   mirostat 1 / 2 instead of steps 1 and 3-6 (llama.cpp's chain then has no penalties either):
 *     the logits over temperature, truncated to the k estimated from the top 100 (1) or to
 *     the tokens with surprise <= mu bits (2), drawn, and mu moved by eta * (tau - surprise);
 *     mu starts at 2 tau.
 *   adaptive-p (adaptive_target >= 0; llama.cpp's, when its `samplers` names it) instead of the
 *     draw's softmax: each survivor's logit becomes 5 - 10 d^2 / (1 + d), d = |p - t| / 0.3, p
 *     its probability at the draw's temperature and t = 2 adaptive_target - (the average of the
 *     probabilities the tokens drawn before had, weighted by adaptive_decay^age, started at
 *     adaptive_target), clamped to [0, 1]: tokens near the target probability are favoured and
 *     the average is steered to it. The draw is then from those at temperature 1.
 * XTC's coin is a function of the draw's key (below), so a draw still takes exactly one.
 *   7. a draw from their softmax: the token with the largest logit / T + G, G Gumbel noise of
 *      (key, token id) with one 64-bit key from the generator per draw (gumbel.h: the same
 *      distribution as a walk of the cumulative probabilities, and a function of the key and
 *      of the rows that can win only, which lets the screened LM head compute those alone).
 *      Every draw at temperature > 0 takes one key, even with a single survivor, so that the
 *      generator advances the same way whichever rows a head computed.
 * Filters 3-5 always keep at least the most likely token; with min_keep (llama.cpp's), top-p,
 * min-p and typical-p keep at least min_keep tokens (the best ones; for typical-p the most
 * typical) and XTC drops nothing when fewer than min_keep would be left. Like llama.cpp, top-p and min-p see
 * the untempered distribution; temperature only reshapes what survives them.
 *
 * Another order (n_order > 0: llama.cpp's `samplers` naming its chain in another order, or a
 * sampler twice): the logit bias, then the stages order[0, n_order) as given (those not named
 * do not run), then the draw, as llama.cpp's chain runs them. The temperature divides the
 * logits where it stands (a dynamic one by the entropy of what is left there), so the filters
 * after it see the tempered distribution, and the penalties and DRY after it subtract from the
 * tempered logits; a temperature <= 0 there keeps the best candidate alone (llama.cpp's) and
 * the draw takes no key. Without a temperature the draw is at 1. (In the default chain greedy
 * stops at step 2 instead: the argmax after the penalties and DRY, where llama.cpp's typical-p
 * or XTC may drop the likeliest first.) Mirostat ignores the order (llama.cpp's too).
 *
 * Logits: -inf masks a token out; NaN or +inf is an error (a broken forward pass should not
 * be turned silently into text). bn_sampler_sample() never modifies the logits and allocates
 * nothing: all scratch space is allocated by bn_sampler_create().
 *
 * A sampler is not thread-safe; use one per sequence. */
#ifndef BITNET_SAMPLER_H
#define BITNET_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "bitnet.h"
#include "text/sampler_order.h"

#define BN_SAMPLER_DEFAULT_SEED UINT64_C(42) /* the value include/bitnet.h documents */

typedef struct bn_sampler_params {
    float temperature;       /* <= 0 means greedy (argmax; ties -> lowest id); must not be NaN/inf */
    int top_k;               /* <= 0 or >= n_vocab: off */
    float top_p;             /* >= 1: off; must be > 0 (use temperature 0 for greedy) */
    float min_p;             /* <= 0: off; must be <= 1 */
    float repeat_penalty;    /* 1: off; must be > 0. llama.cpp semantics: logit > 0 ? logit/p : logit*p */
    float presence_penalty;  /* 0: off; subtracted once from every token in the window */
    float frequency_penalty; /* 0: off; subtracted once per occurrence in the window */
    int penalty_last_n;      /* window of recent tokens the penalties look at; 0 = off, -1 = whole history */
    uint64_t seed;
    float typical_p;         /* >= 1: off; must be > 0 */
    float top_n_sigma;       /* <= 0: off */
    float xtc_probability;   /* <= 0: off; must be <= 1 */
    float xtc_threshold;     /* > 0.5: off */
    float dynatemp_range;    /* <= 0: off */
    float dynatemp_exponent; /* >= 0 */
    int mirostat;            /* 0: off, 1 or 2 */
    float mirostat_tau;      /* target surprise in bits, >= 0 */
    float mirostat_eta;      /* learning rate, >= 0 */
    float dry_multiplier;    /* 0: off; >= 0 */
    float dry_base;          /* >= 1 (below 1: off) */
    int dry_allowed_length;  /* >= 0 */
    int dry_penalty_last_n;  /* tokens DRY scans; 0: off; >= 0 (callers resolve "the context") */
    int min_keep;            /* top-p, min-p, typical-p keep at least this many (of what they are
                                given) and XTC leaves at least this many; 0: llama.cpp's default */
    unsigned char order[BN_SAMPLER_ORDER_MAX]; /* bn_sampler_kind: the stages of another order (above) */
    int n_order;             /* 0: the default chain; 1 .. BN_SAMPLER_ORDER_MAX: order[] */
    float adaptive_target;   /* adaptive-p's target probability, <= 1; < 0: off */
    float adaptive_decay;    /* its average's decay, in [0, 0.99] */
} bn_sampler_params;

typedef struct bn_sampler bn_sampler;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat 1.0, presence 0, frequency 0,
 * last_n 64, seed BN_SAMPLER_DEFAULT_SEED; the others off (xtc_threshold 0.1,
 * dynatemp_exponent 1, mirostat_tau 5, mirostat_eta 0.1, adaptive_target -1 / decay 0.9:
 * llama.cpp's defaults). */
bn_sampler_params bn_sampler_default_params(void);

/* NULL and BITNET_ERR_INVALID_ARGUMENT (naming the parameter) when a parameter is NaN or out
 * of the ranges documented above, or n_vocab < 1; BITNET_ERR_OUT_OF_MEMORY when scratch
 * cannot be allocated (20 bytes per vocabulary entry, plus 4 per window slot). */
bn_sampler *bn_sampler_create(const bn_sampler_params *p, int n_vocab);
void bn_sampler_free(bn_sampler *s); /* NULL is accepted */

/* Samples from `logits` (n_vocab floats, not modified). Returns a token id in [0, n_vocab),
 * or BITNET_ERR_INVALID_ARGUMENT (negative) when a logit is NaN or +inf or all are -inf. */
int32_t bn_sampler_sample(bn_sampler *s, const float *logits);
/* Sets the logit bias (replacing any earlier one): lb[i].bias is added to the logit of
 * lb[i].token before the penalties; an id given twice gets the sum; -inf bans the token. n = 0
 * clears it. BITNET_ERR_INVALID_ARGUMENT (the sampler unchanged) for an id outside
 * [0, n_vocab), a NaN or +inf bias, or a NULL list with n > 0. */
int bn_sampler_set_logit_bias(bn_sampler *s, const bitnet_logit_bias *lb, int n);
/* DRY's sequence breakers, replacing any earlier ones: n sequences, sequence i the lens[i]
 * (1 .. BN_DRY_MAX_BREAKER) ids at tokens[offset of i]: a head token then the tail that must
 * follow it (bn_dry_breaker_sequences builds them from strings). n = 0: none. NULL sequences
 * or a bad id or length: BITNET_ERR_INVALID_ARGUMENT, the sampler unchanged. */
#define BN_DRY_MAX_BREAKER 21 /* a head and at most 20 tail tokens, as llama.cpp cuts them */
int bn_sampler_set_dry_breakers(bn_sampler *s, const int32_t *tokens, const int *lens, int n);
/* Whether DRY is on (its multiplier, base and window ask for it): whether breakers matter. */
bool bn_sampler_dry_on(const bn_sampler *s);
/* One token that survived the filters: its id, its logit after the bias and the penalties (before the
 * temperature; with another order, as the draw sees it: after the temperatures; with adaptive-p,
 * the transform's) and its final probability. */
typedef struct bn_sampler_candidate {
    int32_t id;
    float logit;
    float p;
} bn_sampler_candidate;

/* The key the next draw at temperature > 0 will use (the generator is not advanced): for the
 * screened LM head, which computes the rows that can win that draw. */
uint64_t bn_sampler_next_key(const bn_sampler *s);

/* Runs the chain on `logits` without drawing (the generator is not advanced): stores up to
 * `cap` survivors in `out`, best first (larger logit, then lower id), and returns how many
 * survived (which may exceed cap), or a negative status like bn_sampler_sample(). Greedy
 * gives one candidate with p = 1. For tests and for showing the candidates (--verbose). */
int bn_sampler_distribution(bn_sampler *s, const float *logits, bn_sampler_candidate *out, int cap);
/* The same with only the n_best best sorted (best first) and the other survivors after them in
 * no order: what reporting the likeliest few of a large distribution needs (no full sort). */
int bn_sampler_distribution_top(bn_sampler *s, const float *logits, bn_sampler_candidate *out, int cap, int n_best);
/* The ids whose logits the bias or the penalties change in the next draw (the biased ids, then
 * the window's tokens, possibly repeated), into ids[0 .. cap): their count, 0 when neither is
 * on, -1 when there are more than cap. For the screened LM head, which must compute them
 * exactly. */
int bn_sampler_penalized(const bn_sampler *s, int32_t *ids, int cap);
/* For the screened LM head, with another order (p->n_order > 0): how many of the best tokens
 * (after the bias, penalties and DRY, which change the ids of bn_sampler_penalized only) its
 * chain reads: top_k when every stage before its top-k keeps the logits' order or is off (the
 * penalties, DRY, a fixed temperature > 0), 1 when a fixed temperature <= 0 comes first that
 * way; 0 when a stage before them reads every logit, or for the default chain. */
int bn_sampler_order_best(const bn_sampler_params *p, int n_vocab);
/* Appends `token` to the penalty and DRY histories (ids outside [0, n_vocab) are ignored); when
 * it is the token the last draw gave, adaptive-p's average takes in its probability. */
void bn_sampler_accept(bn_sampler *s, int32_t token);
/* Clears the history and re-seeds the generator with the seed given at creation. */
void bn_sampler_reset(bn_sampler *s);
/* The parameters in force. */
const bn_sampler_params *bn_sampler_get_params(const bn_sampler *s);

#endif
