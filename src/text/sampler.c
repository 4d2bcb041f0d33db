/* sampler: logit bias -> penalties -> greedy | top-k -> top-p -> min-p -> temperature -> draw. See sampler.h. */
#include "text/sampler.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gumbel.h"
#include "util.h"

/* One surviving token: its id, its (penalized) logit and, after a softmax, its probability. */
typedef struct candidate {
    int32_t id;
    float logit;
    float p;
} candidate;

struct bn_sampler {
    bn_sampler_params params;
    int n_vocab;
    uint64_t rng;          /* xorshift64* state, never 0 */
    candidate *cands;      /* [n_vocab] scratch for one call of bn_sampler_sample */
    int32_t *counts;       /* [n_vocab] occurrences of each token in the penalty window */
    int32_t *window;       /* [penalty_last_n] ring of the last accepted tokens (NULL if not a ring) */
    int window_len;        /* tokens in the ring */
    int window_head;       /* index of the oldest token in the ring */
    float *bias;           /* [n_vocab] logit bias (duplicates summed); NULL: none */
    int32_t *bias_ids;     /* [n_bias] the distinct ids with a bias, in the order given */
    int n_bias;
};

/* ---- random numbers ---------------------------------------------------------------------- */

/* splitmix64 spreads any seed (0 included) over the state space. */
static uint64_t seed_state(uint64_t seed) {
    uint64_t z = seed + UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    z ^= z >> 31;
    return z ? z : UINT64_C(0x2545F4914F6CDD1D); /* xorshift must not start at 0 */
}

static uint64_t next_u64(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

/* ---- parameters -------------------------------------------------------------------------- */

bn_sampler_params bn_sampler_default_params(void) {
    bn_sampler_params p = {
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .penalty_last_n = 64,
        .seed = BN_SAMPLER_DEFAULT_SEED,
    };
    return p;
}

static int check_params(const bn_sampler_params *p, int n_vocab) {
    const int bad = BITNET_ERR_INVALID_ARGUMENT;
    if (n_vocab < 1) return bn_error(bad, "sampler: vocabulary size %d must be at least 1", n_vocab);
    if (isnan(p->temperature) || isinf(p->temperature))
        return bn_error(bad, "sampler: temperature must be a finite number (<= 0 means greedy)");
    if (isnan(p->top_p) || p->top_p <= 0.0f)
        return bn_error(bad, "sampler: top_p %g must be in (0, 1] (>= 1 turns it off; for greedy use temperature 0)",
                        (double)p->top_p);
    if (isnan(p->min_p) || p->min_p > 1.0f)
        return bn_error(bad, "sampler: min_p %g must be in [0, 1] (0 turns it off)", (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f) || isinf(p->repeat_penalty))
        return bn_error(bad, "sampler: repeat_penalty %g must be a finite number > 0 (1 turns it off)",
                        (double)p->repeat_penalty);
    if (!isfinite(p->presence_penalty))
        return bn_error(bad, "sampler: presence_penalty must be a finite number");
    if (!isfinite(p->frequency_penalty))
        return bn_error(bad, "sampler: frequency_penalty must be a finite number");
    if (p->penalty_last_n < -1)
        return bn_error(bad, "sampler: penalty_last_n %d must be >= -1 (-1 = whole history, 0 = off)",
                        p->penalty_last_n);
    return 0;
}

bn_sampler *bn_sampler_create(const bn_sampler_params *p, int n_vocab) {
    if (!p) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "sampler: parameters are NULL");
        return NULL;
    }
    if (check_params(p, n_vocab) != 0) return NULL;
    bn_sampler *s = bn_calloc(1, sizeof *s, "sampler");
    if (!s) return NULL;
    s->params = *p;
    s->n_vocab = n_vocab;
    s->cands = bn_malloc((size_t)n_vocab * sizeof *s->cands, "sampler candidates");
    s->counts = bn_calloc((size_t)n_vocab, sizeof *s->counts, "sampler token counts");
    if (p->penalty_last_n > 0)
        s->window = bn_malloc((size_t)p->penalty_last_n * sizeof *s->window, "sampler penalty window");
    if (!s->cands || !s->counts || (p->penalty_last_n > 0 && !s->window)) {
        bn_sampler_free(s);
        return NULL;
    }
    bn_sampler_reset(s);
    return s;
}

void bn_sampler_free(bn_sampler *s) {
    if (!s) return;
    free(s->cands);
    free(s->counts);
    free(s->window);
    free(s->bias);
    free(s->bias_ids);
    free(s);
}

int bn_sampler_set_logit_bias(bn_sampler *s, const bitnet_logit_bias *lb, int n) {
    if (n < 0 || (n > 0 && !lb))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "sampler: logit bias: NULL list or negative count %d", n);
    for (int i = 0; i < n; i++) {
        if (lb[i].token < 0 || lb[i].token >= s->n_vocab)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "sampler: logit bias %d: token %d is not in the vocabulary (0 .. %d)", i,
                            (int)lb[i].token, s->n_vocab - 1);
        if (isnan(lb[i].bias) || lb[i].bias == INFINITY)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "sampler: logit bias %d (token %d) is %s; use a finite number, or -inf to ban",
                            i, (int)lb[i].token, isnan(lb[i].bias) ? "NaN" : "+inf");
    }
    free(s->bias);
    free(s->bias_ids);
    s->bias = NULL;
    s->bias_ids = NULL;
    s->n_bias = 0;
    if (n == 0) return 0;
    s->bias = bn_calloc((size_t)s->n_vocab, sizeof *s->bias, "sampler logit bias");
    s->bias_ids = bn_malloc((size_t)n * sizeof *s->bias_ids, "sampler logit bias ids");
    if (!s->bias || !s->bias_ids) {
        free(s->bias);
        free(s->bias_ids);
        s->bias = NULL;
        s->bias_ids = NULL;
        return BITNET_ERR_OUT_OF_MEMORY;
    }
    /* NaN marks the ids not seen yet (no bias is NaN): one pass keeps each id once, in order,
     * and sums its biases; a ban is final (neither a finite bias nor a sum overflowed to +inf
     * undoes it, and -inf + inf never makes a NaN) */
    for (int i = 0; i < n; i++) s->bias[lb[i].token] = NAN;
    for (int i = 0; i < n; i++) {
        float *b = &s->bias[lb[i].token];
        if (isnan(*b)) *b = 0.0f, s->bias_ids[s->n_bias++] = lb[i].token;
        if (*b != -INFINITY) *b = lb[i].bias == -INFINITY ? -INFINITY : *b + lb[i].bias;
    }
    return 0;
}

void bn_sampler_reset(bn_sampler *s) {
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    s->window_len = 0;
    s->window_head = 0;
    s->rng = seed_state(s->params.seed);
}

const bn_sampler_params *bn_sampler_get_params(const bn_sampler *s) { return &s->params; }

/* ---- history ----------------------------------------------------------------------------- */

void bn_sampler_accept(bn_sampler *s, int32_t token) {
    int last_n = s->params.penalty_last_n;
    if (token < 0 || token >= s->n_vocab || last_n == 0) return;
    if (last_n < 0) { /* whole history: counts only grow */
        if (s->counts[token] < INT32_MAX) s->counts[token]++;
        return;
    }
    if (s->window_len == last_n) { /* full: the oldest token leaves the window */
        s->counts[s->window[s->window_head]]--;
        s->window[s->window_head] = token;
        s->window_head = (s->window_head + 1) % last_n;
    } else {
        s->window[(s->window_head + s->window_len) % last_n] = token;
        s->window_len++;
    }
    s->counts[token]++;
}

static bool penalties_active(const bn_sampler_params *p) {
    return p->penalty_last_n != 0 &&
           (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
}

static float penalize(const bn_sampler_params *p, float logit, int32_t count) {
    logit = logit > 0.0f ? logit / p->repeat_penalty : logit * p->repeat_penalty;
    logit -= (float)count * p->frequency_penalty + p->presence_penalty;
    return fminf(logit, FLT_MAX); /* absurd penalties must not create +inf */
}

int bn_sampler_penalized(const bn_sampler *s, int32_t *ids, int cap) {
    if (s->n_bias > cap) return -1;
    if (s->n_bias) memcpy(ids, s->bias_ids, (size_t)s->n_bias * sizeof *ids);
    int n = s->n_bias, last_n = s->params.penalty_last_n;
    if (!penalties_active(&s->params)) return n;
    if (last_n > 0) {
        if (n + s->window_len > cap) return -1;
        for (int i = 0; i < s->window_len; i++) ids[n++] = s->window[(s->window_head + i) % last_n];
        return n;
    }
    for (int32_t id = 0; id < s->n_vocab; id++) /* whole history: every token counted so far */
        if (s->counts[id] > 0) {
            if (n == cap) return -1;
            ids[n++] = id;
        }
    return n;
}

/* ---- ordering and selection -------------------------------------------------------------- */

/* The total order every filter uses: larger logit first, then lower id. With it, "the k best"
 * is one well-defined set whatever the selection algorithm. */
static bool better(const candidate *a, const candidate *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int compare_candidates(const void *a, const void *b) {
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

static void swap_candidates(candidate *a, candidate *b) {
    candidate t = *a;
    *a = *b;
    *b = t;
}

/* Restores the heap property below `root` in the heap c[0, k) whose root is its WORST member. */
static void sift_down(candidate *c, size_t k, size_t root) {
    for (;;) {
        size_t worst = root, l = 2 * root + 1, r = l + 1;
        if (l < k && better(&c[worst], &c[l])) worst = l;
        if (r < k && better(&c[worst], &c[r])) worst = r;
        if (worst == root) return;
        swap_candidates(&c[root], &c[worst]);
        root = worst;
    }
}

/* Rearranges c[0, n) so that c[0, k) holds the k best candidates (in no particular order) and
 * c[k, n) the others: a heap of the k best so far, rooted at its worst member, so that most
 * of a 128k vocabulary costs one comparison each. O(n log k) worst case; no full sort. */
static void select_best(candidate *c, size_t n, size_t k) {
    if (k == 0 || k >= n) return;
    for (size_t i = k / 2; i-- > 0;) sift_down(c, k, i);
    for (size_t i = k; i < n; i++) {
        if (!better(&c[i], &c[0])) continue;
        swap_candidates(&c[0], &c[i]); /* the evicted one stays in the tail */
        sift_down(c, k, 0);
    }
}

/* Probabilities c[i].p = softmax(logit / temperature) over c[0, n). */
static void softmax(candidate *c, size_t n, float temperature) {
    float max = c[0].logit;
    for (size_t i = 1; i < n; i++) max = fmaxf(max, c[i].logit);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        c[i].p = expf((c[i].logit - max) / temperature); /* <= 1: cannot overflow */
        sum += c[i].p;
    }
    for (size_t i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

/* ---- the filters ------------------------------------------------------------------------- */

/* Copies the logits into candidates, applies the penalties and drops -inf (masked) tokens.
 * Returns the count (0 when all are masked) and the best candidate's index in *best, or -1
 * when a logit is NaN or +inf. */
static long gather(bn_sampler *s, const float *logits, size_t *best) {
    const bn_sampler_params *p = &s->params;
    bool penalize_on = penalties_active(p);
    size_t n = 0;
    for (int32_t id = 0; id < s->n_vocab; id++) {
        float l = logits[id];
        if (!(l < INFINITY)) {
            bn_error(BITNET_ERR_INVALID_ARGUMENT, "sampler: logit of token %d is %s", (int)id,
                     isnan(l) ? "NaN" : "+inf");
            return -1;
        }
        if (s->bias) l = fminf(l + s->bias[id], FLT_MAX); /* a bias must not create +inf */
        if (penalize_on && s->counts[id] > 0) l = penalize(p, l, s->counts[id]);
        if (l == -INFINITY) continue;
        s->cands[n] = (candidate){id, l, 0.0f};
        if (n == 0 || better(&s->cands[n], &s->cands[*best])) *best = n;
        n++;
    }
    return (long)n;
}

/* Keeps the k best candidates, sorted. */
static size_t apply_top_k(candidate *c, size_t n, size_t k) {
    select_best(c, n, k);
    qsort(c, k, sizeof *c, compare_candidates);
    return k;
}

/* Keeps the smallest best-first prefix whose probability (at temperature 1) reaches top_p.
 * Leaves c[0, result) sorted best first.
 *
 * Pre-filter (when the candidates are not sorted yet, i.e. top-k is off): a token with
 * p < (1 - top_p) / (n - 1) is never in that prefix unless it is the best token. Proof: if
 * such a token t (not the first) were needed, the mass before t would be < top_p, so t and
 * every token after it (at most n - 1 tokens, each with p <= p_t) would carry > 1 - top_p;
 * but together they carry < (n - 1) * (1 - top_p) / (n - 1). Dropping those tokens first
 * usually leaves a few hundred of a 128k vocabulary, so the sort below is cheap. The sort is
 * itself lazy: the best 256 first, the rest only if their mass falls short of top_p. */
static size_t apply_top_p(candidate *c, size_t n, int32_t best_id, bool sorted, float top_p) {
    softmax(c, n, 1.0f);
    if (!sorted) {
        float cutoff = (1.0f - top_p) / (float)(n - 1);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].p >= cutoff || c[i].id == best_id) c[m++] = c[i];
        n = m;
    }
    size_t head = n;
    if (!sorted && n > 1024) {
        head = 256;
        select_best(c, n, head);
    }
    if (!sorted) qsort(c, head, sizeof *c, compare_candidates);
    double mass = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (i == head) { /* the head fell short: sort the rest too (all of it ranks below) */
            qsort(c + head, n - head, sizeof *c, compare_candidates);
            head = n;
        }
        mass += c[i].p;
        if (mass >= top_p) return i + 1;
    }
    return n; /* rounding kept the mass just under top_p: keep everything */
}

/* Keeps tokens with p >= min_p * p_max, i.e. logit >= max_logit + log(min_p). Preserves order. */
static size_t apply_min_p(candidate *c, size_t n, float max_logit, float min_p) {
    float threshold = max_logit + logf(min_p);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].logit >= threshold) c[m++] = c[i];
    return m;
}

/* Runs the chain up to (not including) the draw. Leaves the survivors in s->cands[0, n) (with
 * their final probabilities when `probabilities`) and returns n, or a negative status. */
static long run_chain(bn_sampler *s, const float *logits, bool probabilities) {
    const bn_sampler_params *p = &s->params;
    candidate *c = s->cands;
    size_t best = 0;
    long gathered = gather(s, logits, &best);
    if (gathered < 0) return BITNET_ERR_INVALID_ARGUMENT;
    if (gathered == 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "sampler: every logit is -inf (all tokens masked)");
    size_t n = (size_t)gathered;
    if (p->temperature <= 0.0f || n == 1) { /* greedy: the chain stops at the argmax */
        c[0] = c[best];
        c[0].p = 1.0f;
        return 1;
    }
    float max_logit = c[best].logit;
    int32_t best_id = c[best].id;
    bool sorted = false;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        n = apply_top_k(c, n, (size_t)p->top_k);
        sorted = true;
    }
    if (p->top_p < 1.0f && n > 1) {
        n = apply_top_p(c, n, best_id, sorted, p->top_p);
        sorted = true;
    }
    if (p->min_p > 0.0f) n = apply_min_p(c, n, max_logit, p->min_p);
    if (probabilities) softmax(c, n, p->temperature);
    return (long)n;
}

/* The draw (gumbel.h): the candidate with the largest logit / T + G(key, id), ties to the
 * lower id. Starts from the best logit, so that only the few candidates within reach of it
 * get their noise computed; the order of c does not matter. */
static long gumbel_draw(const candidate *c, long n, double T, uint64_t key) {
    long best = 0;
    for (long i = 1; i < n; i++)
        if (better(&c[i], &c[best])) best = i;
    long win = best;
    double top = (double)c[best].logit / T + bn_gumbel(key, c[best].id);
    for (long i = 0; i < n; i++) {
        if (i == best) continue;
        double l = (double)c[i].logit / T;
        if (!bn_gumbel_may_reach(key, c[i].id, bn_gumbel_gap(top, l))) continue;
        double v = l + bn_gumbel(key, c[i].id);
        if (v > top || (v == top && c[i].id < c[win].id)) {
            top = v;
            win = i;
        }
    }
    return win;
}

int32_t bn_sampler_sample(bn_sampler *s, const float *logits) {
    long n = run_chain(s, logits, false);
    if (n < 0) return (int32_t)n;
    if (s->params.temperature <= 0.0f) return s->cands[0].id; /* greedy takes no random number */
    /* every other draw takes one key, however many candidates survived: the screened head's
     * rows hold fewer survivors than the whole head's, and the two must stay in step */
    uint64_t key = next_u64(&s->rng);
    return n == 1 ? s->cands[0].id : s->cands[gumbel_draw(s->cands, n, (double)s->params.temperature, key)].id;
}

uint64_t bn_sampler_next_key(const bn_sampler *s) {
    uint64_t state = s->rng;
    return next_u64(&state);
}

int bn_sampler_distribution(bn_sampler *s, const float *logits, bn_sampler_candidate *out, int cap) {
    long n = run_chain(s, logits, true);
    if (n < 0) return (int)n;
    qsort(s->cands, (size_t)n, sizeof *s->cands, compare_candidates);
    long copied = n < cap ? n : cap;
    for (long i = 0; i < copied; i++)
        out[i] = (bn_sampler_candidate){s->cands[i].id, s->cands[i].logit, s->cands[i].p};
    return (int)n;
}
