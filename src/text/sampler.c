/* sampler: logit bias -> penalties -> DRY -> greedy | top-n-sigma -> top-k -> typical-p -> top-p -> min-p -> XTC
 * -> temperature (dynamic) -> draw (or adaptive-p), or mirostat, or the logit bias -> the stages of
 * another order -> draw (or adaptive-p). See sampler.h. */
#include "text/sampler.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gumbel.h"
#include "util.h"

/* The last `cap` accepted tokens (ids NULL: none kept), oldest at `head`. */
typedef struct token_ring {
    int32_t *ids;
    int cap, len, head;
} token_ring;

/* One surviving token: its id, its (penalized) logit, after a softmax its probability, and
 * typical-p's sort key. */
typedef struct candidate {
    int32_t id;
    float logit;
    float p;
    float key;
} candidate;

struct bn_sampler {
    bn_sampler_params params;
    int n_vocab;
    uint64_t rng;          /* xorshift64* state, never 0 */
    candidate *cands;      /* [n_vocab] scratch for one call of bn_sampler_sample */
    int32_t *counts;       /* [n_vocab] occurrences of each token in the penalty window */
    token_ring window;     /* the penalties' last penalty_last_n tokens (none for -1: counts only) */
    float *bias;           /* [n_vocab] logit bias (duplicates summed); NULL: none */
    int32_t *bias_ids;     /* [n_bias] the distinct ids with a bias, in the order given */
    int n_bias;
    float mu;              /* mirostat's running threshold in bits (2 tau after a reset) */
    /* DRY (NULL when off): the last dry_penalty_last_n accepted tokens, scratch, breakers */
    token_ring dry;        /* its last dry_penalty_last_n tokens */
    int *dry_repeat;       /* [dry_penalty_last_n] repeat length ending at each position */
    int32_t *dry_max;      /* [n_vocab] longest repeat the token would extend; -1: none */
    float *dry_pen;        /* [n_vocab] this draw's DRY penalty (0 for most) */
    int32_t *dry_touched;  /* [dry_penalty_last_n] the ids with a dry_max / dry_pen */
    int n_dry_touched;
    int32_t *brk_tokens;   /* breaker sequences, sorted by head token: [brk_off[e], + brk_len[e]) */
    int *brk_off, *brk_len, n_brk;
    int *brk_first;        /* [n_vocab] first sequence whose head is the id; -1: none */
    float draw_temperature; /* the temperature of the last chain's draw (dynamic temperature) */
    /* adaptive-p: sum(p_i decay^i) and sum(decay^i) over the tokens drawn (p_i: their probability
     * before the transform), and the last draw's token and probability until it is accepted */
    float adaptive_sum, adaptive_weight, drawn_p;
    int32_t drawn_id;
};

/* ---- random numbers ---------------------------------------------------------------------- */

/* splitmix64 spreads any seed (0 included) over the state space. */
static uint64_t seed_state(uint64_t seed) {
    uint64_t z = bn_mix64(seed + UINT64_C(0x9E3779B97F4A7C15));
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
        .typical_p = 1.0f,
        .top_n_sigma = -1.0f,
        .xtc_probability = 0.0f,
        .xtc_threshold = 0.1f,
        .dynatemp_range = 0.0f,
        .dynatemp_exponent = 1.0f,
        .mirostat = 0,
        .mirostat_tau = 5.0f,
        .mirostat_eta = 0.1f,
        .dry_multiplier = 0.0f,
        .dry_base = 1.75f,
        .dry_allowed_length = 2,
        .dry_penalty_last_n = 64,
        .adaptive_target = -1.0f,
        .adaptive_decay = 0.9f,
    };
    return p;
}

/* llama.cpp's other samplers (see sampler.h). */
static int check_more_params(const bn_sampler_params *p) {
    const int bad = BITNET_ERR_INVALID_ARGUMENT;
    if (isnan(p->typical_p) || p->typical_p <= 0.0f)
        return bn_error(bad, "sampler: typical_p %g must be in (0, 1] (>= 1 turns it off)", (double)p->typical_p);
    if (!isfinite(p->top_n_sigma)) return bn_error(bad, "sampler: top_n_sigma must be a finite number (<= 0 turns it off)");
    if (!(p->xtc_probability <= 1.0f) || isinf(p->xtc_probability))
        return bn_error(bad, "sampler: xtc_probability %g must be at most 1 (<= 0 turns it off)", (double)p->xtc_probability);
    if (!isfinite(p->xtc_threshold)) return bn_error(bad, "sampler: xtc_threshold must be a finite number (> 0.5 turns XTC off)");
    if (!isfinite(p->dynatemp_range)) return bn_error(bad, "sampler: dynatemp_range must be a finite number (<= 0 turns it off)");
    if (!(p->dynatemp_exponent >= 0.0f) || isinf(p->dynatemp_exponent))
        return bn_error(bad, "sampler: dynatemp_exponent %g must be a finite number >= 0", (double)p->dynatemp_exponent);
    if (p->mirostat < 0 || p->mirostat > 2) return bn_error(bad, "sampler: mirostat %d must be 0 (off), 1 or 2", p->mirostat);
    if (!(p->mirostat_tau >= 0.0f) || isinf(p->mirostat_tau))
        return bn_error(bad, "sampler: mirostat_tau %g must be a finite number >= 0", (double)p->mirostat_tau);
    if (!(p->mirostat_eta >= 0.0f) || isinf(p->mirostat_eta))
        return bn_error(bad, "sampler: mirostat_eta %g must be a finite number >= 0", (double)p->mirostat_eta);
    if (!(p->dry_multiplier >= 0.0f) || isinf(p->dry_multiplier))
        return bn_error(bad, "sampler: dry_multiplier %g must be a finite number >= 0 (0 turns DRY off)", (double)p->dry_multiplier);
    if (!isfinite(p->dry_base)) return bn_error(bad, "sampler: dry_base must be a finite number (below 1 turns DRY off)");
    if (p->dry_allowed_length < 0) return bn_error(bad, "sampler: dry_allowed_length %d must be >= 0", p->dry_allowed_length);
    if (p->dry_penalty_last_n < 0)
        return bn_error(bad, "sampler: dry_penalty_last_n %d must be >= 0 (0 turns DRY off)", p->dry_penalty_last_n);
    if (p->min_keep < 0) return bn_error(bad, "sampler: min_keep %d must be >= 0", p->min_keep);
    if (!(p->adaptive_target <= 1.0f))
        return bn_error(bad, "sampler: adaptive_target %g must be at most 1 (negative turns adaptive-p off)", (double)p->adaptive_target);
    if (!(p->adaptive_decay >= 0.0f && p->adaptive_decay <= 0.99f))
        return bn_error(bad, "sampler: adaptive_decay %g must be in [0, 0.99]", (double)p->adaptive_decay);
    if (p->n_order < 0 || p->n_order > BN_SAMPLER_ORDER_MAX)
        return bn_error(bad, "sampler: n_order %d must be in [0, %d]", p->n_order, BN_SAMPLER_ORDER_MAX);
    for (int i = 0; i < p->n_order; i++)
        if (p->order[i] >= BN_N_SAMPLER_KINDS) return bn_error(bad, "sampler: order[%d] %d is not a sampler", i, p->order[i]);
    return 0;
}

/* Whether the stages of another order run (mirostat has its own chain). */
static bool runs_order(const bn_sampler_params *p) { return p->n_order > 0 && !p->mirostat; }

/* Whether a draw takes no key: greedy (temperature <= 0), or in another order a temperature
 * <= 0 (not dynamic) among its stages, which leaves one candidate. */
static bool draws_greedy(const bn_sampler_params *p) {
    if (!runs_order(p)) return p->temperature <= 0.0f;
    if (p->temperature > 0.0f || p->dynatemp_range > 0.0f) return false;
    for (int i = 0; i < p->n_order; i++)
        if (p->order[i] == BN_SAMPLER_TEMPERATURE) return true;
    return false;
}

static bool dry_active(const bn_sampler_params *p) {
    return p->dry_multiplier > 0.0f && p->dry_base >= 1.0f && p->dry_penalty_last_n > 0;
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
    return check_more_params(p);
}

/* DRY's history and scratch; -1 when out of memory. */
static int dry_alloc(bn_sampler *s) {
    size_t last_n = (size_t)s->params.dry_penalty_last_n, v = (size_t)s->n_vocab;
    s->dry = (token_ring){.ids = bn_malloc(last_n * sizeof *s->dry.ids, "DRY history"), .cap = (int)last_n};
    s->dry_repeat = bn_malloc(last_n * sizeof *s->dry_repeat, "DRY repeats");
    s->dry_touched = bn_malloc(last_n * sizeof *s->dry_touched, "DRY ids");
    s->dry_max = bn_malloc(v * sizeof *s->dry_max, "DRY lengths");
    s->dry_pen = bn_calloc(v, sizeof *s->dry_pen, "DRY penalties");
    s->brk_first = bn_malloc(v * sizeof *s->brk_first, "DRY breaker index");
    if (!s->dry.ids || !s->dry_repeat || !s->dry_touched || !s->dry_max || !s->dry_pen || !s->brk_first) return -1;
    for (size_t i = 0; i < v; i++) s->dry_max[i] = -1, s->brk_first[i] = -1;
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
        s->window = (token_ring){.ids = bn_malloc((size_t)p->penalty_last_n * sizeof *s->window.ids, "sampler penalty window"),
                                 .cap = p->penalty_last_n};
    if (!s->cands || !s->counts || (p->penalty_last_n > 0 && !s->window.ids) || (dry_active(p) && dry_alloc(s))) {
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
    free(s->window.ids);
    free(s->bias);
    free(s->bias_ids);
    free(s->dry.ids);
    free(s->dry_repeat);
    free(s->dry_touched);
    free(s->dry_max);
    free(s->dry_pen);
    free(s->brk_first);
    free(s->brk_tokens);
    free(s->brk_off);
    free(s->brk_len);
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
    s->window.len = s->window.head = 0;
    s->rng = seed_state(s->params.seed);
    s->mu = 2.0f * s->params.mirostat_tau;
    s->dry.len = s->dry.head = 0;
    s->adaptive_sum = s->params.adaptive_target / (1.0f - s->params.adaptive_decay); /* as if it had been met forever */
    s->adaptive_weight = 1.0f / (1.0f - s->params.adaptive_decay);
    s->drawn_id = -1;
}

const bn_sampler_params *bn_sampler_get_params(const bn_sampler *s) { return &s->params; }

/* ---- history ----------------------------------------------------------------------------- */

/* Appends token to r; returns the token that left it (r was full), or -1. */
static int32_t ring_push(token_ring *r, int32_t token) {
    if (r->len < r->cap) {
        r->ids[(r->head + r->len++) % r->cap] = token;
        return -1;
    }
    int32_t oldest = r->ids[r->head];
    r->ids[r->head] = token;
    r->head = (r->head + 1) % r->cap;
    return oldest;
}

/* The i-th token of r, oldest first (i < len). */
static int32_t ring_at(const token_ring *r, int i) { return r->ids[(r->head + i) % r->cap]; }

/* Whether adaptive-p replaces the draw's softmax (mirostat has its own draw). */
static bool adaptive_on(const bn_sampler_params *p) { return p->adaptive_target >= 0.0f && !p->mirostat; }

void bn_sampler_accept(bn_sampler *s, int32_t token) {
    int last_n = s->params.penalty_last_n;
    if (adaptive_on(&s->params) && token == s->drawn_id) { /* only what the draw gave (not prompt tokens) */
        s->adaptive_sum = s->drawn_p + s->params.adaptive_decay * s->adaptive_sum;
        s->adaptive_weight = 1.0f + s->params.adaptive_decay * s->adaptive_weight;
    }
    s->drawn_id = -1;
    if (token < 0 || token >= s->n_vocab) return;
    if (s->dry.ids) ring_push(&s->dry, token);
    if (last_n == 0) return;
    if (last_n < 0) { /* whole history: counts only grow */
        if (s->counts[token] < INT32_MAX) s->counts[token]++;
        return;
    }
    int32_t left = ring_push(&s->window, token);
    if (left >= 0) s->counts[left]--; /* the oldest token left the window */
    s->counts[token]++;
}

/* (mirostat's chain in llama.cpp has no penalties) */
static bool penalties_active(const bn_sampler_params *p) {
    return p->penalty_last_n != 0 && !p->mirostat &&
           (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
}

static float penalize(const bn_sampler_params *p, float logit, int32_t count) {
    logit = logit > 0.0f ? logit / p->repeat_penalty : logit * p->repeat_penalty;
    logit -= (float)count * p->frequency_penalty + p->presence_penalty;
    return fminf(logit, FLT_MAX); /* absurd penalties must not create +inf */
}

int bn_sampler_penalized(const bn_sampler *s, int32_t *ids, int cap) {
    if (s->n_bias + s->dry.len > cap) return -1;
    if (s->n_bias) memcpy(ids, s->bias_ids, (size_t)s->n_bias * sizeof *ids);
    int n = s->n_bias;
    for (int i = 0; i < s->dry.len; i++) ids[n++] = ring_at(&s->dry, i); /* DRY lowers only tokens of its history */
    if (!penalties_active(&s->params)) return n;
    if (s->params.penalty_last_n > 0) {
        if (n + s->window.len > cap) return -1;
        for (int i = 0; i < s->window.len; i++) ids[n++] = ring_at(&s->window, i);
        return n;
    }
    for (int32_t id = 0; id < s->n_vocab; id++) /* whole history: every token counted so far */
        if (s->counts[id] > 0) {
            if (n == cap) return -1;
            ids[n++] = id;
        }
    return n;
}

/* ---- DRY ("don't repeat yourself", llama.cpp's dry sampler) --------------------------------- */

/* A breaker sequence while sorting: its head token, where it is in the caller's list. */
typedef struct breaker_ref {
    int32_t head;
    int index, src, len;
} breaker_ref;

static int compare_breaker_refs(const void *a, const void *b) {
    const breaker_ref *x = a, *y = b;
    return x->head != y->head ? (x->head < y->head ? -1 : 1) : (x->index > y->index) - (x->index < y->index);
}

int bn_sampler_set_dry_breakers(bn_sampler *s, const int32_t *tokens, const int *lens, int n) {
    const int bad = BITNET_ERR_INVALID_ARGUMENT;
    if (n < 0 || (n > 0 && (!tokens || !lens))) return bn_error(bad, "sampler: DRY breakers: NULL sequences or a negative count");
    size_t total = 0;
    for (int e = 0; e < n; e++) {
        if (lens[e] < 1 || lens[e] > BN_DRY_MAX_BREAKER)
            return bn_error(bad, "sampler: DRY breaker %d has %d tokens (1 .. %d)", e, lens[e], BN_DRY_MAX_BREAKER);
        for (int k = 0; k < lens[e]; k++)
            if (tokens[total + (size_t)k] < 0 || tokens[total + (size_t)k] >= s->n_vocab)
                return bn_error(bad, "sampler: DRY breaker %d: token %d is not in the vocabulary", e, (int)tokens[total + (size_t)k]);
        total += (size_t)lens[e];
    }
    if (!s->dry.ids) return 0; /* DRY is off: nothing reads them */
    size_t cap = n ? (size_t)n : 1;
    int32_t *t = bn_malloc(total ? total * sizeof *t : 1, "DRY breakers");
    int *off = bn_malloc(cap * sizeof *off, "DRY breakers"), *len = bn_malloc(cap * sizeof *len, "DRY breakers");
    breaker_ref *refs = bn_malloc(cap * sizeof *refs, "DRY breakers");
    if (!t || !off || !len || !refs) {
        free(t), free(off), free(len), free(refs);
        return BITNET_ERR_OUT_OF_MEMORY;
    }
    for (int e = 0, src = 0; e < n; src += lens[e], e++) refs[e] = (breaker_ref){tokens[src], e, src, lens[e]};
    qsort(refs, (size_t)n, sizeof *refs, compare_breaker_refs); /* grouped by head, in the given order */
    for (int i = 0; i < s->n_vocab; i++) s->brk_first[i] = -1;
    for (int e = 0, at = 0; e < n; at += refs[e].len, e++) {
        memcpy(t + at, tokens + refs[e].src, (size_t)refs[e].len * sizeof *t);
        off[e] = at, len[e] = refs[e].len;
        if (s->brk_first[refs[e].head] < 0) s->brk_first[refs[e].head] = e;
    }
    free(refs);
    free(s->brk_tokens), free(s->brk_off), free(s->brk_len);
    s->brk_tokens = t, s->brk_off = off, s->brk_len = len, s->n_brk = n;
    return 0;
}

bool bn_sampler_dry_on(const bn_sampler *s) { return s->dry.ids != NULL; }

/* The i-th most recent token of DRY's history (i < its length). */
static int32_t dry_at(const bn_sampler *s, int i) { return ring_at(&s->dry, s->dry.len - 1 - i); }

/* The longest repeat DRY may see: up to the most recent breaker sequence in the last n tokens
 * (its tail must follow its head there), else n. */
static int dry_rep_limit(const bn_sampler *s, int n) {
    for (int i = 0; i < n; i++) {
        int32_t head = dry_at(s, i);
        int longest = -1;
        for (int e = s->brk_first[head]; e >= 0 && e < s->n_brk && s->brk_tokens[s->brk_off[e]] == head; e++) {
            int tail = s->brk_len[e] - 1;
            bool match = tail > longest && tail <= i;
            for (int o = 0; match && o < tail; o++) match = s->brk_tokens[s->brk_off[e] + 1 + o] == dry_at(s, i - o - 1);
            if (match) longest = tail;
        }
        if (longest >= 0) return i - longest;
    }
    return n;
}

/* rep[last - k] = the length (capped at limit) of the longest match between the history's
 * suffix and the tokens ending k positions earlier: the Z-algorithm run backwards from the
 * most recent token (linear in n). */
static void dry_repeats(const bn_sampler *s, int n, int limit, int *rep) {
    int last = n - 1, lt = 0, rt = 0;
    for (int i = 0; i < n; i++) rep[i] = 0;
    for (int k = 1; k < n; k++) {
        if (k > rt) { /* outside the current Z-box: compare directly */
            int m = 0;
            while (m + k < n && dry_at(s, m) == dry_at(s, m + k)) m++;
            rep[last - k] = m < limit ? m : limit;
            if (m > 0) lt = k, rt = k + m - 1;
        } else if (rep[last - (k - lt)] < rt - k + 1) { /* inside, and its pair ends inside */
            rep[last - k] = rep[last - (k - lt)] < limit ? rep[last - (k - lt)] : limit;
        } else { /* inside, and it may reach past the box: extend */
            int j = rt + 1;
            while (j < n && dry_at(s, j) == dry_at(s, j - k)) j++;
            rep[last - k] = j - k < limit ? j - k : limit;
            lt = k, rt = j - 1;
        }
    }
}

/* Whether `id` is a breaker on its own (such tokens are never penalized). */
static bool dry_single_breaker(const bn_sampler *s, int32_t id) {
    for (int e = s->brk_first[id]; e >= 0 && e < s->n_brk && s->brk_tokens[s->brk_off[e]] == id; e++)
        if (s->brk_len[e] == 1) return true;
    return false;
}

/* This draw's penalties into dry_pen (the ids in dry_touched): each token that would extend a
 * repeat of dry_allowed_length or more tokens, by multiplier * base ^ (length - allowed),
 * the exponent capped so that the power stays finite. */
static void dry_prepare(bn_sampler *s) {
    const bn_sampler_params *p = &s->params;
    int n = s->dry.len, allowed = p->dry_allowed_length;
    s->n_dry_touched = 0;
    if (!s->dry.ids || p->mirostat || n <= allowed) return; /* (llama.cpp's mirostat chain has no DRY) */
    int limit = dry_rep_limit(s, n);
    if (limit < allowed) return;
    dry_repeats(s, n, limit, s->dry_repeat);
    for (int i = 0; i + 1 < n; i++) {
        if (s->dry_repeat[i] < allowed) continue;
        int32_t next = dry_at(s, n - 2 - i); /* what followed the repeat's earlier occurrence */
        if (s->dry_max[next] < 0) s->dry_touched[s->n_dry_touched++] = next;
        if (s->dry_max[next] < s->dry_repeat[i]) s->dry_max[next] = s->dry_repeat[i];
    }
    int max_exponent = p->dry_base > 1.000001f ? (int)(88.7228391f / logf(p->dry_base)) : 0; /* log(FLT_MAX) */
    for (int i = 0; i < s->n_dry_touched; i++) {
        int32_t id = s->dry_touched[i];
        int exponent = s->dry_max[id] - allowed;
        if (max_exponent > 0 && exponent > max_exponent) exponent = max_exponent;
        s->dry_pen[id] = dry_single_breaker(s, id) ? 0.0f : p->dry_multiplier * powf(p->dry_base, (float)exponent);
        s->dry_max[id] = -1;
    }
}

/* Clears what dry_prepare set. */
static void dry_clear(bn_sampler *s) {
    for (int i = 0; i < s->n_dry_touched; i++) s->dry_pen[s->dry_touched[i]] = 0.0f;
    s->n_dry_touched = 0;
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

/* Copies the logits into candidates, applies the bias, the penalties and DRY (in another order,
 * the bias alone: the others are stages) and drops -inf (masked) tokens. Returns the count (0
 * when all are masked) and the best candidate's index in *best, or -1 when a logit is NaN or
 * +inf. */
static long gather(bn_sampler *s, const float *logits, size_t *best) {
    const bn_sampler_params *p = &s->params;
    bool penalize_on = penalties_active(p) && !runs_order(p);
    if (!runs_order(p)) dry_prepare(s);
    const float *dry = s->n_dry_touched ? s->dry_pen : NULL;
    size_t n = 0;
    for (int32_t id = 0; id < s->n_vocab; id++) {
        float l = logits[id];
        if (!(l < INFINITY)) {
            bn_error(BITNET_ERR_INVALID_ARGUMENT, "sampler: logit of token %d is %s", (int)id,
                     isnan(l) ? "NaN" : "+inf");
            dry_clear(s);
            return -1;
        }
        if (s->bias) l = fminf(l + s->bias[id], FLT_MAX); /* a bias must not create +inf */
        if (penalize_on && s->counts[id] > 0) l = penalize(p, l, s->counts[id]);
        if (dry) l -= dry[id];
        if (l == -INFINITY) continue;
        s->cands[n] = (candidate){id, l, 0.0f, 0.0f};
        if (n == 0 || better(&s->cands[n], &s->cands[*best])) *best = n;
        n++;
    }
    dry_clear(s);
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
static size_t apply_top_p(candidate *c, size_t n, int32_t best_id, bool sorted, float top_p, size_t min_keep) {
    softmax(c, n, 1.0f);
    if (!sorted && min_keep <= 1) { /* with min_keep the best few count whatever their p */
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
        if (mass >= top_p && i + 1 >= min_keep) return i + 1;
    }
    return n; /* rounding kept the mass just under top_p (or min_keep >= n): keep everything */
}

/* Keeps tokens with p >= min_p * p_max, i.e. logit >= max_logit + log(min_p), order preserved;
 * when fewer than min_keep pass, the min_keep best instead (sorted). */
static size_t apply_min_p(candidate *c, size_t n, float max_logit, float min_p, size_t min_keep) {
    float threshold = max_logit + logf(min_p);
    size_t above = 0;
    for (size_t i = 0; i < n; i++) above += c[i].logit >= threshold;
    if (above < min_keep) return apply_top_k(c, n, min_keep < n ? min_keep : n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].logit >= threshold) c[m++] = c[i];
    return m;
}

/* The index of the best candidate of c[0, n), n >= 1. */
static size_t best_of(const candidate *c, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (better(&c[i], &c[best])) best = i;
    return best;
}

/* The entropy (nats) of c[0, n)'s probabilities. */
static double entropy_of(const candidate *c, size_t n) {
    double h = 0.0;
    for (size_t i = 0; i < n; i++)
        if (c[i].p > 0.0f) h -= (double)c[i].p * log((double)c[i].p);
    return h;
}

/* Top-n-sigma: keeps logits >= max_logit - n_sigma * (the population standard deviation of
 * c[0, n)'s logits). Preserves order. */
static size_t apply_top_n_sigma(candidate *c, size_t n, float max_logit, float n_sigma) {
    double mean = 0.0, acc = 0.0;
    for (size_t i = 0; i < n; i++) mean += c[i].logit;
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) acc += ((double)c[i].logit - mean) * ((double)c[i].logit - mean);
    double threshold = (double)max_logit - (double)n_sigma * sqrt(acc / (double)n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if ((double)c[i].logit >= threshold) c[m++] = c[i];
    return m;
}

static int compare_typical(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key ? 1 : compare_candidates(a, b);
}

/* Typical-p: the candidates sorted by |surprise - entropy| (at temperature 1), the shortest
 * prefix whose mass exceeds typical_p. Leaves them in that order. */
static size_t apply_typical(candidate *c, size_t n, float typical_p, size_t min_keep) {
    softmax(c, n, 1.0f);
    double h = entropy_of(c, n);
    for (size_t i = 0; i < n; i++) c[i].key = c[i].p > 0.0f ? (float)fabs(-log((double)c[i].p) - h) : INFINITY;
    qsort(c, n, sizeof *c, compare_typical);
    double mass = 0.0;
    for (size_t i = 0; i < n; i++) {
        mass += c[i].p;
        if (mass > typical_p && i + 1 >= min_keep) return i + 1;
    }
    return n;
}

/* XTC: when its coin (a function of the draw's key, uniform in [0, 1)) falls at or under
 * xtc_probability and two or more candidates have p >= xtc_threshold (temperature 1), drops
 * all of those but the least likely, unless fewer than min_keep would be left. */
static size_t apply_xtc(candidate *c, size_t n, const bn_sampler_params *p, uint64_t key) {
    double coin = (double)(bn_mix64(key ^ UINT64_C(0x58544321584D4958)) >> 11) * 0x1.0p-53;
    if (n < 2 || coin > p->xtc_probability) return n;
    softmax(c, n, 1.0f);
    size_t above = 0, last = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].p >= p->xtc_threshold && (above++ == 0 || better(&c[last], &c[i]))) last = i;
    if (above < 2 || n - (above - 1) < (size_t)p->min_keep) return n;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (i == last || c[i].p < p->xtc_threshold) c[m++] = c[i];
    return m;
}

/* The draw's temperature: with a dynamic range, temperature -+ range by the survivors'
 * entropy over its maximum, raised to the exponent (llama.cpp's temp_ext). */
static float draw_temperature(candidate *c, size_t n, const bn_sampler_params *p) {
    if (p->dynatemp_range <= 0.0f || n <= 1) return p->temperature;
    float lo = fmaxf(0.0f, p->temperature - p->dynatemp_range), hi = p->temperature + p->dynatemp_range;
    softmax(c, n, 1.0f);
    double normalized = entropy_of(c, n) / log((double)n);
    return lo + (hi - lo) * (float)pow(normalized, (double)p->dynatemp_exponent);
}

/* Mirostat 1: the k best, k from the Zipf exponent s estimated on the (up to) 100 best at
 * temperature T (log(p_i / p_i+1) = (l_i - l_i+1) / T, exact even where p underflows) and
 * the target surprise mu: k = (e 2^mu / (1 - V^-e))^(1/s), e = s - 1, V the vocabulary. */
static size_t mirostat_1(candidate *c, size_t n, float T, float mu, int n_vocab) {
    size_t m = n < 100 ? n : 100;
    select_best(c, n, m);
    qsort(c, m, sizeof *c, compare_candidates);
    double sum_tb = 0.0, sum_tt = 0.0;
    for (size_t i = 0; i + 1 < m; i++) {
        double t = log((double)(i + 2) / (double)(i + 1));
        sum_tb += t * ((double)c[i].logit - (double)c[i + 1].logit) / T;
        sum_tt += t * t;
    }
    double s_hat = sum_tb / sum_tt, e = s_hat - 1.0;
    double k = pow(e * exp2((double)mu) / (1.0 - pow((double)n_vocab, -e)), 1.0 / s_hat);
    size_t keep = !(k >= 1.0) ? 1 : k >= (double)n ? n : (size_t)k; /* NaN -> 1 */
    if (keep > m) select_best(c + m, n - m, keep - m); /* the tail ranks below the head */
    return keep;
}

/* Mirostat 2: the candidates whose surprise at temperature T is at most mu bits (the best at least). */
static size_t mirostat_2(candidate *c, size_t n, float T, float mu) {
    softmax(c, n, T);
    size_t best = best_of(c, n), m = 0;
    float floor_p = (float)exp2(-(double)mu);
    for (size_t i = 0; i < n; i++)
        if (i == best || c[i].p >= floor_p) c[m++] = c[i];
    return m;
}

/* ---- another order (llama.cpp's `samplers`; see sampler.h) ------------------------------ */

/* The penalties (or DRY) as a stage: on the candidates left, dropping those that reach -inf. */
static size_t stage_penalties(bn_sampler *s, candidate *c, size_t n, bool dry) {
    const bn_sampler_params *p = &s->params;
    if (dry) dry_prepare(s);
    if (dry ? !s->n_dry_touched : !penalties_active(p)) return n;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = c[i].id;
        float l = dry ? c[i].logit - s->dry_pen[id] : s->counts[id] > 0 ? penalize(p, c[i].logit, s->counts[id]) : c[i].logit;
        if (l == -INFINITY) continue;
        c[m] = c[i];
        c[m++].logit = l;
    }
    if (dry) dry_clear(s);
    return m;
}

/* The temperature as a stage: divides the logits by it (a dynamic one by the entropy of
 * c[0, n)), or keeps the best candidate alone when it is <= 0 (llama.cpp's temp_ext). */
static size_t stage_temperature(candidate *c, size_t n, const bn_sampler_params *p) {
    float T = draw_temperature(c, n, p);
    if (T <= 0.0f) {
        c[0] = c[best_of(c, n)];
        return 1;
    }
    for (size_t i = 0; i < n; i++) c[i].logit = fmaxf(fminf(c[i].logit / T, FLT_MAX), -FLT_MAX); /* a tiny T must not make +inf */
    return n;
}

/* Whether p's parameters turn the stage on (the penalties and DRY: whether they may change a
 * logit; the temperature always divides or keeps the best). */
static bool stage_on(const bn_sampler_params *p, int kind) {
    switch (kind) {
    case BN_SAMPLER_PENALTIES: return penalties_active(p);
    case BN_SAMPLER_DRY: return dry_active(p);
    case BN_SAMPLER_TOP_N_SIGMA: return p->top_n_sigma > 0.0f;
    case BN_SAMPLER_TOP_K: return p->top_k > 0;
    case BN_SAMPLER_TYP_P: return p->typical_p < 1.0f;
    case BN_SAMPLER_TOP_P: return p->top_p < 1.0f;
    case BN_SAMPLER_MIN_P: return p->min_p > 0.0f;
    case BN_SAMPLER_XTC: return p->xtc_probability > 0.0f && p->xtc_threshold <= 0.5f;
    default: return true;
    }
}

/* One stage of another order on c[0, n) (*sorted: whether they are best first); returns how
 * many are left. */
static size_t run_stage(bn_sampler *s, int kind, candidate *c, size_t n, bool *sorted, uint64_t key) {
    const bn_sampler_params *p = &s->params;
    size_t min_keep = (size_t)p->min_keep;
    if (!stage_on(p, kind)) return n;
    switch (kind) {
    case BN_SAMPLER_PENALTIES:
    case BN_SAMPLER_DRY: *sorted = false; return stage_penalties(s, c, n, kind == BN_SAMPLER_DRY);
    case BN_SAMPLER_TOP_N_SIGMA: return n > 1 ? apply_top_n_sigma(c, n, c[best_of(c, n)].logit, p->top_n_sigma) : n;
    case BN_SAMPLER_TOP_K:
        if ((size_t)p->top_k >= n) return n;
        *sorted = true;
        return apply_top_k(c, n, (size_t)p->top_k);
    case BN_SAMPLER_TYP_P:
        if (n <= 1) return n;
        *sorted = false;
        return apply_typical(c, n, p->typical_p, min_keep);
    case BN_SAMPLER_TOP_P:
        if (n <= 1) return n;
        n = apply_top_p(c, n, c[best_of(c, n)].id, *sorted, p->top_p, min_keep);
        *sorted = true;
        return n;
    case BN_SAMPLER_MIN_P: return apply_min_p(c, n, c[best_of(c, n)].logit, p->min_p, min_keep);
    case BN_SAMPLER_XTC: return apply_xtc(c, n, p, key);
    default: return stage_temperature(c, n, p);
    }
}

int bn_sampler_order_best(const bn_sampler_params *p, int n_vocab) {
    for (int i = 0; runs_order(p) && i < p->n_order; i++) {
        int kind = p->order[i];
        if (kind == BN_SAMPLER_PENALTIES || kind == BN_SAMPLER_DRY || !stage_on(p, kind)) continue; /* forced ids only, or nothing */
        if (kind == BN_SAMPLER_TEMPERATURE && p->dynatemp_range > 0.0f) return 0; /* the entropy of everything */
        if (kind == BN_SAMPLER_TEMPERATURE && p->temperature <= 0.0f) return 1;
        if (kind == BN_SAMPLER_TEMPERATURE) continue; /* dividing keeps the order */
        return kind == BN_SAMPLER_TOP_K && p->top_k < n_vocab ? p->top_k : 0;
    }
    return 0;
}

/* The stages kinds[0, k) in turn on the n candidates in s->cands; how many are left (0 when the
 * penalties or DRY masked every one). */
static size_t run_stages(bn_sampler *s, const unsigned char *kinds, int k, size_t n, uint64_t key) {
    bool sorted = false;
    for (int i = 0; i < k && n > 0; i++) n = run_stage(s, kinds[i], s->cands, n, &sorted, key);
    return n;
}

/* The default chain's filters between greedy and the temperature, in llama.cpp's order. */
static const unsigned char default_filters[] = {BN_SAMPLER_TOP_N_SIGMA, BN_SAMPLER_TOP_K, BN_SAMPLER_TYP_P,
                                                BN_SAMPLER_TOP_P,       BN_SAMPLER_MIN_P, BN_SAMPLER_XTC};

/* The stages of another order on the n gathered candidates; the draw is then at temperature 1
 * (the stages divided the logits). Returns how many are left, or a negative status. */
static long run_order(bn_sampler *s, size_t n, bool probabilities, uint64_t key) {
    if ((n = run_stages(s, s->params.order, s->params.n_order, n, key)) == 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "sampler: the penalties masked every token left");
    s->draw_temperature = 1.0f;
    if (probabilities) softmax(s->cands, n, 1.0f);
    return (long)n;
}

/* Runs the chain up to (not including) the draw, whose key XTC reads. Leaves the survivors in
 * s->cands[0, n) (with their final probabilities when `probabilities`) and the draw's
 * temperature in s->draw_temperature; returns n, or a negative status. */
static long run_chain(bn_sampler *s, const float *logits, bool probabilities, uint64_t key) {
    const bn_sampler_params *p = &s->params;
    candidate *c = s->cands;
    size_t best = 0;
    long gathered = gather(s, logits, &best);
    if (gathered < 0) return BITNET_ERR_INVALID_ARGUMENT;
    if (gathered == 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "sampler: every logit is -inf (all tokens masked)");
    size_t n = (size_t)gathered;
    if (runs_order(p)) return run_order(s, n, probabilities, key);
    s->draw_temperature = p->temperature;
    if (p->temperature > 0.0f && n > 1) {
        if (p->mirostat == 1) n = mirostat_1(c, n, p->temperature, s->mu, s->n_vocab);
        else if (p->mirostat == 2) n = mirostat_2(c, n, p->temperature, s->mu);
        else n = run_stages(s, default_filters, (int)sizeof default_filters, n, key);
        if (!p->mirostat) s->draw_temperature = draw_temperature(c, n, p);
        if (s->draw_temperature > 0.0f) {
            if (probabilities) softmax(c, n, s->draw_temperature);
            return (long)n;
        }
        best = best_of(c, n); /* a dynamic temperature of 0: the best survivor */
    }
    c[0] = c[best]; /* greedy: the chain stops at the argmax */
    c[0].p = 1.0f;
    return 1;
}

/* The draw (gumbel.h): the candidate with the largest logit / T + G(key, id), ties to the
 * lower id. Starts from the best logit, so that only the few candidates within reach of it
 * get their noise computed; the order of c does not matter. */
static long gumbel_draw(const candidate *c, long n, double T, uint64_t key) {
    long best = (long)best_of(c, (size_t)n);
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

/* Adaptive-p (sampler.h) on the n survivors at the draw's temperature T: their probabilities
 * into c[i].key, their logits replaced by the transform's (the draw is then at 1). */
static void adaptive_transform(const bn_sampler *s, candidate *c, size_t n, float T) {
    if (n == 1) { /* (T may be 0: a dynamic temperature's best survivor) */
        c[0].key = 1.0f;
        return;
    }
    softmax(c, n, T);
    float target = s->params.adaptive_target;
    float t = fminf(fmaxf(2.0f * target - s->adaptive_sum / s->adaptive_weight, 0.0f), 1.0f); /* (weight >= 1) */
    for (size_t i = 0; i < n; i++) {
        float d = fabsf((c[i].p - t) * (1.0f / 0.3f));
        c[i].key = c[i].p;
        c[i].logit = 5.0f - 10.0f * d * d / (1.0f + d);
    }
}

/* Mirostat's update after drawing c[win] from c[0, n) at temperature T: mu moves by eta times
 * (tau - the draw's surprise in bits, under the truncated distribution). */
static void mirostat_update(bn_sampler *s, candidate *c, long n, long win, float T) {
    softmax(c, (size_t)n, T);
    double surprise = -log2((double)c[win].p);
    s->mu -= s->params.mirostat_eta * (float)(surprise - (double)s->params.mirostat_tau);
}

int32_t bn_sampler_sample(bn_sampler *s, const float *logits) {
    uint64_t key = bn_sampler_next_key(s);
    long n = run_chain(s, logits, false, key);
    if (n < 0) return (int32_t)n;
    if (draws_greedy(&s->params)) return s->cands[0].id; /* greedy takes no random number (one candidate is left) */
    /* every other draw takes one key, however many candidates survived: the screened head's
     * rows hold fewer survivors than the whole head's, and the two must stay in step */
    next_u64(&s->rng);
    bool adaptive = adaptive_on(&s->params);
    if (adaptive) adaptive_transform(s, s->cands, (size_t)n, s->draw_temperature);
    long win = n == 1 ? 0 : gumbel_draw(s->cands, n, adaptive ? 1.0 : (double)s->draw_temperature, key);
    if (adaptive) s->drawn_id = s->cands[win].id, s->drawn_p = s->cands[win].key;
    if (s->params.mirostat) mirostat_update(s, s->cands, n, win, s->draw_temperature);
    return s->cands[win].id;
}

uint64_t bn_sampler_next_key(const bn_sampler *s) {
    uint64_t state = s->rng;
    return next_u64(&state);
}

int bn_sampler_distribution(bn_sampler *s, const float *logits, bn_sampler_candidate *out, int cap) {
    return bn_sampler_distribution_top(s, logits, out, cap, cap);
}

int bn_sampler_distribution_top(bn_sampler *s, const float *logits, bn_sampler_candidate *out, int cap, int n_best) {
    long n = run_chain(s, logits, true, bn_sampler_next_key(s));
    if (n < 0) return (int)n;
    if (adaptive_on(&s->params) && n > 1) {
        adaptive_transform(s, s->cands, (size_t)n, s->draw_temperature);
        softmax(s->cands, (size_t)n, 1.0f);
    }
    size_t sorted = n_best >= 0 && n_best < n ? (size_t)n_best : (size_t)n; /* the n_best best, the others after them */
    select_best(s->cands, (size_t)n, sorted);
    qsort(s->cands, sorted, sizeof *s->cands, compare_candidates);
    long copied = n < cap ? n : cap;
    for (long i = 0; i < copied; i++)
        out[i] = (bn_sampler_candidate){s->cands[i].id, s->cands[i].logit, s->cands[i].p};
    return (int)n;
}
