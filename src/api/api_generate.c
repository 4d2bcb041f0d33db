/* api_generate: the generation loop of the public API: prefill, then sample / detokenize /
 * stop-check / feed back, one token per step. The loop is exposed in steps (bn_gen_*, see
 * api_internal.h) so that streams can pull tokens without a thread; bitnet_session_generate
 * runs the steps to the end. Allocates per run, never per token.
 *
 * Speculative decoding (lookup_draft, prediction; sessions): feeding back token t, a step also
 * evaluates a draft d[0, k) (text/lookup.h: from the prediction, else by prompt lookup) in the
 * same pass, with logits for every row.
 * The next token is sampled from t's row as always; while each token sampled equals the
 * draft's next one, the following row's logits are already there and the step evaluates
 * nothing. At the first difference (or the end) the cache drops the rows past the last one
 * used, so it holds exactly what it would without the draft. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "gumbel.h"
#include "text/token_constraint.h"
#include "text/dry_breakers.h"
#include "text/lookup.h"
#include "text/sampler.h"
#include "text/stop.h"
#include "util.h"

BITNET_API bitnet_sampling_params bitnet_sampling_default_params(void) {
    bn_sampler_params d = bn_sampler_default_params();
    bitnet_sampling_params p = {
        .struct_size = sizeof p, .temperature = d.temperature, .top_k = d.top_k, .top_p = d.top_p, .min_p = d.min_p,
        .repeat_penalty = d.repeat_penalty, .presence_penalty = d.presence_penalty, .frequency_penalty = d.frequency_penalty,
        .penalty_last_n = d.penalty_last_n, .seed = d.seed};
    return p;
}

BITNET_API bitnet_sampling_extra bitnet_sampling_extra_default_params(void) {
    bn_sampler_params d = bn_sampler_default_params();
    return (bitnet_sampling_extra){.typical_p = d.typical_p, .top_n_sigma = d.top_n_sigma, .xtc_probability = d.xtc_probability,
                                   .xtc_threshold = d.xtc_threshold, .dynatemp_range = d.dynatemp_range,
                                   .dynatemp_exponent = d.dynatemp_exponent, .mirostat = d.mirostat, .mirostat_tau = d.mirostat_tau,
                                   .mirostat_eta = d.mirostat_eta, .dry_multiplier = d.dry_multiplier, .dry_base = d.dry_base,
                                   .dry_allowed_length = d.dry_allowed_length, .dry_penalty_last_n = d.dry_penalty_last_n};
}

BITNET_API bitnet_generate_params bitnet_generate_default_params(void) {
    bitnet_generate_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.max_tokens = 128;
    p.sampling = bitnet_sampling_default_params();
    p.sampling_extra = bitnet_sampling_extra_default_params();
    p.adaptive_target = -1.0f;
    p.adaptive_decay = 0.9f;
    return p;
}

static bool env_is(const char *name, const char *value) {
    const char *v = getenv(name);
    return v && !strcmp(v, value);
}

/* p's on_candidates: NULL when its struct_size predates the field. */
static bitnet_candidates_callback candidates_of(const bitnet_generate_params *p) {
    return BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, n_candidates) ? p->on_candidates : NULL;
}

/* p's on_prompt_logits: NULL when its struct_size predates the field. */
static bitnet_prompt_logits_callback prompt_logits_of(const bitnet_generate_params *p) {
    return BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, on_prompt_logits) ? p->on_prompt_logits : NULL;
}

/* p's on_prompt_progress: NULL when its struct_size predates the field. */
static bitnet_prompt_progress_callback prompt_progress_of(const bitnet_generate_params *p) {
    return BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, on_prompt_progress) ? p->on_prompt_progress : NULL;
}

/* The logit bias of p: none when its struct_size predates the fields. */
static int logit_bias_of(const bitnet_generate_params *p, const bitnet_logit_bias **bias) {
    bool has = BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, n_logit_bias);
    *bias = has ? p->logit_bias : NULL;
    return has ? p->n_logit_bias : 0;
}

/* Whether p asks for a JSON object (a field its struct_size may predate). */
static bool wants_json_object(const bitnet_generate_params *p) {
    return BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, json_object) && p->json_object;
}

/* p's JSON Schema text, NULL when none (or its struct_size predates the field). */
static const char *json_schema_of(const bitnet_generate_params *p) {
    return BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, json_schema) ? p->json_schema : NULL;
}

_Static_assert(BN_LOOKUP_DRAFT_MAX == BITNET_DRAFT_MAX, "the public draft bound is the lookup's");

/* p's lookup draft length (0: none, or a struct_size predating the field), at most BN_LOOKUP_DRAFT_MAX. */
static int lookup_of(const bitnet_generate_params *p) {
    int n = BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, lookup_draft) ? p->lookup_draft : 0;
    return n < 0 ? 0 : n > BN_LOOKUP_DRAFT_MAX ? BN_LOOKUP_DRAFT_MAX : n;
}

/* p's prediction (NULL when none, or its struct_size predates the fields) and its length. */
static const int32_t *prediction_of(const bitnet_generate_params *p, int *n) {
    bool has = BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, n_prediction);
    *n = has ? p->n_prediction : 0;
    return has ? p->prediction : NULL;
}

/* The run's draft length per pass: lookup_draft's, else BITNET_PREDICTION_DRAFT with a
 * prediction; 0: no drafts. */
static int draft_len_of(const bitnet_generate_params *p) {
    int n_pred;
    bool predicted = prediction_of(p, &n_pred) && n_pred > 0;
    return lookup_of(p) ? lookup_of(p) : predicted ? BITNET_PREDICTION_DRAFT : 0;
}

int bn_generate_cache_reuse(const bitnet_generate_params *p) {
    return p && BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, n_cache_reuse) && p->n_cache_reuse > 0 ? p->n_cache_reuse : 0;
}

/* Whether p asks for context shifts (its struct_size covers the fields and context_shift is set). */
static bool context_shift_of(const bitnet_generate_params *p) {
    return BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, n_discard) && p->context_shift;
}

/* p's GBNF grammar text, NULL when none (or its struct_size predates the field). */
static const char *grammar_of(const bitnet_generate_params *p) {
    return BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, grammar) ? p->grammar : NULL;
}

/* The name of p's constraint (for messages), NULL when none. */
static const char *constraint_name(const bitnet_generate_params *p) {
    return grammar_of(p) ? "grammar" : json_schema_of(p) ? "json_schema" : wants_json_object(p) ? "json_object" : NULL;
}

/* DRY's sequence breakers of gp (made from the strings over the model's vocabulary, the
 * defaults' once per model; none without a tokenizer); non-zero with the last error set. */
static int set_dry_breakers(bn_sampler *s, const bitnet_generate_params *gp, bitnet_model *model) {
    const bitnet_sampling_extra *x = &gp->sampling_extra;
    const bn_tokenizer *tok = model->tokenizer;
    if (!tok) return 0;
    const int bad = BITNET_ERR_INVALID_ARGUMENT;
    if ((x->dry_sequence_breakers == NULL && x->n_dry_sequence_breakers != 0) || x->n_dry_sequence_breakers < 0)
        return bn_error(bad, "sampling_extra: n_dry_sequence_breakers is %d%s", x->n_dry_sequence_breakers,
                        x->dry_sequence_breakers ? " (negative)" : " with no strings");
    for (int i = 0; x->dry_sequence_breakers && i < x->n_dry_sequence_breakers; i++)
        if (!x->dry_sequence_breakers[i]) return bn_error(bad, "sampling_extra: DRY sequence breaker %d is NULL", i);
    if (!x->dry_sequence_breakers) {
        const int32_t *tokens;
        const int *lens;
        int count, rc = bn_model_dry_default_breakers(model, &tokens, &lens, &count);
        return rc ? rc : bn_sampler_set_dry_breakers(s, tokens, lens, count);
    }
    int32_t *tokens = NULL;
    int *lens = NULL, count = 0;
    int rc = bn_dry_breaker_sequences(tok, x->dry_sequence_breakers, x->n_dry_sequence_breakers, &tokens, &lens, &count);
    if (!rc) rc = bn_sampler_set_dry_breakers(s, tokens, lens, count);
    free(tokens);
    free(lens);
    return rc;
}

/* The sampler of p->sampling with p's logit bias and DRY's breakers, for a context of n_ctx tokens. */
static bn_sampler *make_sampler(const bitnet_generate_params *gp, int64_t n_vocab, int64_t n_ctx, bitnet_model *model) {
    const bitnet_sampling_params *sp = &gp->sampling;
    if (sp->struct_size < sizeof *sp) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "sampling.struct_size is %zu; use bitnet_sampling_default_params()", sp->struct_size);
        return NULL;
    }
    unsigned char kinds[BN_SAMPLER_ORDER_MAX];
    int n_kinds = -1;
    bool adaptive = false;
    bitnet_generate_params named; /* gp with the samplers its `samplers` leaves out turned off */
    if (BN_API_HAS_FIELD(gp->struct_size, bitnet_generate_params, samplers) && gp->samplers) {
        if (bn_sampler_kinds_parse(gp->samplers, kinds, &n_kinds)) return NULL;
        adaptive = bn_sampler_kinds_take_adaptive(kinds, &n_kinds);
        memset(&named, 0, sizeof named); /* the caller's struct may end before our last field */
        memcpy(&named, gp, gp->struct_size < sizeof named ? gp->struct_size : sizeof named);
        bn_sampler_keep_only(&named, kinds, n_kinds);
        gp = &named, sp = &named.sampling;
    }
    bn_sampler_params p = bn_sampler_default_params();
    p.temperature = sp->temperature, p.top_k = sp->top_k, p.top_p = sp->top_p, p.min_p = sp->min_p;
    p.repeat_penalty = sp->repeat_penalty, p.presence_penalty = sp->presence_penalty;
    p.frequency_penalty = sp->frequency_penalty, p.penalty_last_n = sp->penalty_last_n, p.seed = sp->seed;
    if (BN_API_HAS_FIELD(gp->struct_size, bitnet_generate_params, sampling_extra)) { /* older callers: all off */
        const bitnet_sampling_extra *x = &gp->sampling_extra;
        p.typical_p = x->typical_p, p.top_n_sigma = x->top_n_sigma;
        p.xtc_probability = x->xtc_probability, p.xtc_threshold = x->xtc_threshold;
        p.dynatemp_range = x->dynatemp_range, p.dynatemp_exponent = x->dynatemp_exponent;
        p.mirostat = x->mirostat, p.mirostat_tau = x->mirostat_tau, p.mirostat_eta = x->mirostat_eta;
        p.dry_multiplier = x->dry_multiplier, p.dry_base = x->dry_base, p.dry_allowed_length = x->dry_allowed_length;
        p.dry_penalty_last_n = x->dry_penalty_last_n > n_ctx ? (int)n_ctx : x->dry_penalty_last_n; /* the text is no longer */
    }
    if (BN_API_HAS_FIELD(gp->struct_size, bitnet_generate_params, min_keep)) p.min_keep = gp->min_keep;
    if (n_kinds > 0 && !bn_sampler_kinds_in_default_order(kinds, n_kinds)) { /* another order: its stages as given */
        memcpy(p.order, kinds, (size_t)n_kinds);
        p.n_order = n_kinds;
    }
    if (adaptive && BN_API_HAS_FIELD(gp->struct_size, bitnet_generate_params, adaptive_decay))
        p.adaptive_target = gp->adaptive_target, p.adaptive_decay = gp->adaptive_decay;
    const char *seed = getenv("BITNET_SEED");
    if (seed && *seed) p.seed = strtoull(seed, NULL, 10);
    if (env_is("BITNET_DETERMINISTIC", "1")) p.temperature = 0.0f, p.n_order = 0;
    bn_sampler *s = bn_sampler_create(&p, (int)n_vocab);
    const bitnet_logit_bias *lb;
    int n = logit_bias_of(gp, &lb);
    bool failed = s && n && bn_sampler_set_logit_bias(s, lb, n);
    if (s && !failed && bn_sampler_dry_on(s)) failed = set_dry_breakers(s, gp, model) != 0;
    if (failed) {
        bn_sampler_free(s);
        return NULL;
    }
    return s;
}

typedef struct bn_best bn_best; /* a logit and its token (mask_best) */

struct bn_gen {
    const bitnet_model *model;
    bitnet_session *s;         /* NULL for a batch slot (its engine evaluates the tokens) */
    const bitnet_generate_params *p;
    bn_sampler *sampler;
    bn_stop *stop;
    bn_detok_stream *detok;
    float *logits;             /* [n_vocab]: the session's logits the next token is sampled from */
    const float *last_logits;  /* the logits the last token was sampled from */
    int64_t n_vocab;
    int32_t pending;           /* sampled but not yet fed back (-1: none) */
    bool full_logits;          /* every logit is wanted (the caller looks at them) */
    bn_head_req req;           /* what the screened head computes for the next draw */
    int32_t *force;            /* [FORCE_CAP]: req.force */
    bn_constraint *constraint; /* json_object / json_schema / grammar; NULL otherwise */
    float *masked;             /* [n_vocab] with a constraint: the logits it leaves */
    const float *masked_for;   /* the logits `masked` was made from ahead of the draw (in the head, bn_gen_constraint_masks) */
    bool masked_best;          /* ... by mask_best, else by checking every token */
    int head_skip, head_backoff; /* draws left to take the whole head after the head refused a row; the next such run */
    bn_constraint_mask_plan plan;
    bool mask_all;             /* bn_gen_constraint_masks: every token of this run is to be checked */
    bn_best *best;             /* [BN_SCREEN_MAX_K + BEST_EXTRA_MAX] with a constraint: best_tokens' heap */
    int best_extra;            /* mask_best checks the k + best_extra largest logits */
    int finished;              /* the stop reason once generation ended, else 0 */
    bitnet_generate_result res;
    /* lookup_draft / prediction (see the top): the text so far, and the rows of the last speculative pass */
    bn_prediction prediction;  /* the prediction's cursor (an empty one without) */
    int prediction_seen;       /* res.n_generated when the cursor last followed the reply */
    bool draft_predicted;      /* the last draft came from the prediction */
    int draft_k, draft_taken;  /* the last draft's length and its tokens sampled as drafted */
    int draft_cap;             /* the next draft's length at most (0: not set yet; adapt_draft) */
    int lookup;                /* session: draft length; 0: off */
    int32_t *history;          /* [n_history of cap_history]: this call's prompt, then each token sampled */
    int64_t n_history, cap_history;
    float *spec_logits;        /* [lookup + 1][n_vocab]: the pass's rows */
    int32_t spec_draft[BN_LOOKUP_DRAFT_MAX];
    int spec_rows, spec_next;  /* rows evaluated; the next row to sample from (rows before it were used) */
    int64_t spec_base;         /* the position of the pass's first row */
    int64_t prompt_end;        /* a session's positions before generation (context_shift's n_keep -1) */
    /* on_candidates: the distribution of the next draw [n_vocab] and its likeliest [n_candidates] */
    bn_sampler_candidate *dist;
    bitnet_token_prob *dist_top;
};

static bool is_stop_id(const bitnet_generate_params *p, int32_t id) {
    for (int i = 0; i < p->n_stop_ids; i++)
        if (p->stop_ids[i] == id) return true;
    return false;
}

/* Emits the text of `tok` through the stop matcher; returns a stop reason or 0. */
static int emit_text(bn_gen *g, int32_t tok) {
    const bitnet_generate_params *p = g->p;
    size_t len = 0;
    const char *bytes = "";
    if (g->detok && !(bytes = bn_detok_stream_push(g->detok, tok, &len))) return -1;
    bn_stop_result r = {0};
    if (g->stop) {
        if (bn_stop_feed(g->stop, bytes, len, &r) != 0) return -1;
    } else {
        r.emit = bytes;
        r.n_emit = len;
        r.stop_index = -1;
    }
    if (p->on_token && p->on_token(tok, r.emit, r.n_emit, p->user_data)) return BITNET_STOP_CALLBACK;
    if (r.stop_index < 0) return 0;
    g->res.stop_string_index = r.stop_index;
    return BITNET_STOP_STRING;
}

/* Emits what the detokenizer and the stop matcher still hold when generation ends. */
static void flush_text(bn_gen *g) {
    size_t len = 0;
    const char *bytes = g->detok ? bn_detok_stream_flush(g->detok, &len) : NULL;
    bn_stop_result r = {0};
    if (g->stop) {
        if (bytes && len && bn_stop_feed(g->stop, bytes, len, &r) == 0 && r.n_emit && g->p->on_token)
            g->p->on_token(-1, r.emit, r.n_emit, g->p->user_data);
        if (r.stop_index >= 0) return;
        bn_stop_flush(g->stop, &r);
    } else {
        r.emit = bytes;
        r.n_emit = len;
    }
    if (r.n_emit && g->p->on_token) g->p->on_token(-1, r.emit, r.n_emit, g->p->user_data);
}

/* Ids the bias and the penalties may change beyond which the head computes every logit. */
#define FORCE_CAP 4096

/* Whether llama.cpp's other samplers read the whole distribution: mirostat and top-n-sigma
 * always; typical-p, XTC, the dynamic temperature and adaptive-p unless top-k leaves them its
 * k best. */
static bool needs_every_logit(const bn_sampler_params *sp, bool top_k_on) {
    bool after_top_k = sp->typical_p < 1.0f || (sp->xtc_probability > 0.0f && sp->xtc_threshold <= 0.5f) || sp->dynatemp_range > 0.0f ||
                       sp->adaptive_target >= 0.0f;
    bool min_p_keeps = sp->min_p > 0.0f && sp->min_keep > 1; /* the min_keep best, below the threshold the draw screens by */
    return sp->mirostat || sp->top_n_sigma > 0.0f || ((after_top_k || min_p_keeps) && !top_k_on);
}

/* How many of the best tokens (after the bias and penalties: their logits changed only for
 * the n_force ids of bn_sampler_penalized) the next draw reads: 1 for greedy, top_k for top-k
 * sampling, 1 with *draw for a temperature draw without top-k and top-p (the rows that can
 * win it are read too, head_screen.h); 0 when it reads every logit (n_force < 0: too many ids
 * to name; llama.cpp's other samplers as needs_every_logit says; top-k beyond BN_SCREEN_MAX_K;
 * another order unless its first filter is top-k: bn_sampler_order_best). */
static int best_read(const bn_gen *g, int n_force, bool *draw) {
    const bn_sampler_params *sp = bn_sampler_get_params(g->sampler);
    bool top_k_on = sp->top_k > 0 && sp->top_k < g->n_vocab;
    *draw = false;
    if (sp->n_order > 0) { /* another order: its best tokens, when its first filter is top-k */
        int k = n_force < 0 ? 0 : bn_sampler_order_best(sp, g->n_vocab);
        return k <= BN_SCREEN_MAX_K ? k : 0;
    }
    if (n_force < 0 || (sp->temperature > 0.0f && needs_every_logit(sp, top_k_on))) return 0;
    *draw = sp->temperature > 0.0f && !top_k_on && sp->top_p >= 1.0f && (sp->min_p <= 0.0f || n_force == 0);
    if (*draw && g->dist) return 0; /* the rows that can win it do not make its distribution */
    int k = sp->temperature <= 0.0f || *draw ? 1 : sp->top_k;
    return k >= 1 && k <= BN_SCREEN_MAX_K ? k : 0;
}

#define BEST_EXTRA 32       /* tokens mask_best checks beyond the k a draw reads, at first ... */
#define BEST_EXTRA_MAX 1024 /* ... and at most */
static bool settles_in_head(void *ctx, const float *row);

/* What the screened head (model/head_screen.h) must compute for the next draw: the k best
 * (1 for greedy, top_k for top-k sampling) and the biased and penalized ids exactly; for
 * temperature sampling without top-k and top-p, the rows that can win the draw with the
 * sampler's next key (min_p too, unless a bias or penalties are on). With a constraint, a
 * greedy or top-k draw: the k + best_extra best; either way the constraint checks the row in
 * the head (settles_in_head). A row refused there costs the screen's pass and the whole head,
 * so after one the next 1, 2, 4 ... 64 draws (doubling while refusals follow) take the whole
 * head. NULL, i.e. every logit, when the draw or the caller needs them all: top-p without top-k, top-k beyond
 * BN_SCREEN_MAX_K, min_p with a bias, penalties or min_keep > 1, an on_logits callback, more biased and
 * penalized ids than FORCE_CAP, llama.cpp's other samplers as needs_every_logit says, a
 * temperature draw with a bias or penalties and a constraint. */
const bn_head_req *bn_gen_head_req(bn_gen *g) {
    const bn_sampler_params *sp = bn_sampler_get_params(g->sampler);
    g->masked_for = NULL; /* nothing is made ahead of this row's draw yet */
    if (g->full_logits || g->p->on_logits) return NULL;
    int n_force = bn_sampler_penalized(g->sampler, g->force, FORCE_CAP);
    bool draw;
    int k = best_read(g, n_force, &draw);
    if (!k) return NULL;
    if (g->constraint && (g->head_skip > 0 || (draw ? n_force != 0 : k + g->best_extra > BN_SCREEN_MAX_K))) {
        g->head_skip -= g->head_skip > 0;
        return NULL;
    }
    g->req = (bn_head_req){.k = g->constraint && !draw ? k + g->best_extra : k, .force = g->force, .n_force = n_force, .gumbel = draw};
    if (draw) {
        g->req.key = bn_sampler_next_key(g->sampler);
        g->req.temperature = sp->temperature;
        g->req.min_p = sp->min_p;
    }
    if (g->constraint) g->req.settles = settles_in_head, g->req.settles_ctx = g;
    return &g->req;
}

const bn_head_req *bn_gen_draft_head_req(bn_gen *g) {
    if (g->constraint) return NULL; /* a draft row's mask follows the draft tokens before it */
    const bn_head_req *req = bn_gen_head_req(g);
    return req && !req->gumbel && !req->n_force ? req : NULL;
}

int bn_gen_draft_len(const bn_gen *g) { return draft_len_of(g->p); }

/* The next draft's length, at most max: halved (down to 2) after a draft of which no token was
 * taken, doubled (up to the run's draft length) after one taken whole. An edited prediction's drafts are refused
 * at the edit, where long ones cost rows for nothing (Zen 5, 2 threads, the 2B-4T-shaped file,
 * 128 greedy tokens, a tenth of the prediction replaced, 3 rounds alternating: 73.0-82.5 ->
 * 77.9-85.4 tok/s, 148 -> 132 draft tokens for 95 -> 94 taken; a whole prediction's drafts
 * unchanged). */
static int adapt_draft(bn_gen *g, int max) {
    int full = draft_len_of(g->p); /* the run's draft length; max may be less (room in a step or the context) */
    if (!g->draft_cap) g->draft_cap = full;
    if (g->draft_k && g->draft_taken == g->draft_k) g->draft_cap = g->draft_cap * 2 > full ? full : g->draft_cap * 2;
    else if (g->draft_k && g->draft_taken == 0) g->draft_cap = g->draft_cap / 2 < 2 ? 2 : g->draft_cap / 2;
    g->draft_k = 0;
    return g->draft_cap < max ? g->draft_cap : max;
}

int bn_gen_draft(bn_gen *g, const int32_t *text, int64_t n, int32_t *draft, int max) {
    int k = 0, useful = g->p->max_tokens - g->res.n_generated - 1; /* draft rows whose logits max_tokens may still use */
    max = adapt_draft(g, max);
    if (g->p->max_tokens > 0 && max > useful) max = useful;
    if (max <= 0) return 0;
    if (g->prediction.n) {
        k = bn_prediction_draft(&g->prediction, text, n, g->res.n_generated - g->prediction_seen, draft, max);
        g->prediction_seen = g->res.n_generated;
        g->res.n_prediction_drafted += k;
    }
    g->draft_predicted = k > 0;
    if (!k && lookup_of(g->p)) k = bn_lookup_draft(text, n, draft, max);
    g->res.n_drafted += k;
    g->res.n_draft_passes += k > 0;
    if (k > g->res.n_draft_longest) g->res.n_draft_longest = k;
    g->draft_k = k;
    g->draft_taken = 0;
    return k;
}

void bn_gen_draft_taken(bn_gen *g) {
    if (g->draft_taken < BITNET_DRAFT_MAX) g->res.n_draft_accepted_at[g->draft_taken]++;
    g->draft_taken++;
    g->res.n_draft_accepted++;
    g->res.n_prediction_accepted += g->draft_predicted;
}

/* ---- the constraint's mask ----
 * A draw that reads only its k best tokens (best_read) needs the mask of those alone. The
 * r = k + best_extra largest logits and the forced ids are checked one by one
 * (bn_constraint_allows). Every token not checked has a logit at most the smallest of those
 * largest, B, and the sampler changes none of them; so when at least k checked tokens are
 * allowed, not forced and above B, the k best allowed tokens after the sampler's changes are
 * among the checked ones, and the draw from the row that keeps only the allowed checked tokens
 * is the draw from the whole mask. Otherwise r doubles, up to k + BEST_EXTRA_MAX (after a
 * draw it settled, r shrinks to about twice the rank it needed), and when that does not settle
 * it either (the likeliest tokens mostly refused, or fewer than k allowed in all) every token is
 * checked (bn_constraint_mask_range, on the threads): a grammar that lets most tokens through
 * cost ~6 ms a token that way (README). A temperature draw without top-k: mask_draw. */

struct bn_best {
    float logit;
    int32_t id;
};

static void best_sift_down(bn_best *h, int n, int i) {
    for (int c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && h[c + 1].logit < h[c].logit) c++;
        if (!(h[c].logit < h[i].logit)) return;
        bn_best t = h[i];
        h[i] = h[c];
        h[c] = t;
    }
}

/* The r largest logits of [0, n) into the min-heap h (fewer when n < r); -1 when a logit is NaN. */
static int best_tokens(const float *logits, int64_t n, int r, bn_best *h) {
    int have = 0;
    for (int64_t id = 0; id < n; id++) {
        float v = logits[id];
        if (have == r) {
            if (v > h[0].logit) h[0] = (bn_best){v, (int32_t)id}, best_sift_down(h, r, 0);
            else if (v != v) return -1;
            continue;
        }
        if (v != v) return -1;
        h[have++] = (bn_best){v, (int32_t)id};
        if (have == r)
            for (int i = r / 2 - 1; i >= 0; i--) best_sift_down(h, r, i);
    }
    return have;
}

static bool is_forced(const bn_gen *g, int n_force, int32_t id) {
    for (int i = 0; i < n_force; i++)
        if (g->force[i] == id) return true;
    return false;
}

static int best_descending(const void *a, const void *b) {
    const bn_best *x = a, *y = b;
    return x->logit > y->logit ? -1 : x->logit < y->logit ? 1 : (x->id > y->id) - (x->id < y->id);
}

/* After a draw that its `have` best tokens settled: the next draws check about twice as many
 * as it needed (the rank of the k-th allowed unforced one), never more than now. */
static void shrink_best_extra(bn_gen *g, int k, int have, float bound, int n_force) {
    qsort(g->best, (size_t)have, sizeof *g->best, best_descending);
    int needed = have;
    for (int i = 0, found = 0; i < have; i++)
        if (g->masked[g->best[i].id] > bound && !is_forced(g, n_force, g->best[i].id) && ++found == k) {
            needed = i + 1;
            break;
        }
    int extra = 2 * needed - k > BEST_EXTRA ? 2 * needed - k : BEST_EXTRA;
    if (extra < g->best_extra) g->best_extra = extra;
}

/* One try of mask_best with the r largest logits: 1 when they settle the draw, 0 when they do
 * not, -1 when a logit is NaN (no number of them would: the sampler reports it). */
static int mask_best_of(bn_gen *g, const float *logits, int k, int r, int n_force) {
    int have = best_tokens(logits, g->n_vocab, r, g->best);
    if (have < 0) return -1;
    float bound = have == r && have < g->n_vocab ? g->best[0].logit : -INFINITY; /* B; none when every token is checked */
    int above = 0;
    for (int64_t id = 0; id < g->n_vocab; id++) g->masked[id] = -INFINITY;
    for (int i = 0; i < have; i++) {
        int32_t id = g->best[i].id;
        if (!bn_constraint_allows(g->constraint, id)) continue;
        g->masked[id] = logits[id];
        above += logits[id] > bound && !is_forced(g, n_force, id);
    }
    for (int i = 0; i < n_force; i++)
        if (bn_constraint_allows(g->constraint, g->force[i])) g->masked[g->force[i]] = logits[g->force[i]];
    if (above >= k) shrink_best_extra(g, k, have, bound, n_force);
    return above >= k || bound == -INFINITY;
}

/* The pieces of the sampler's temperature draw (text/sampler.c) that mask_draw and settle_draw
 * repeat, with its float steps: min_p's threshold for a largest logit lmax, a token's value
 * logit / T + G(key, id), and whether a value beats the best so far (ties: the lower id). */
static float min_p_threshold(const bn_sampler_params *sp, float lmax) {
    return sp->min_p > 0.0f ? lmax + logf(sp->min_p) : -INFINITY;
}
static double draw_value(float logit, double T, uint64_t key, int32_t id) { return (double)logit / T + bn_gumbel(key, id); }
static bool draw_beats(double v, int32_t id, double top, int32_t win) { return v > top || (v == top && id < win); }

/* A temperature draw without top-k (best_read's *draw; no forced ids): the Gumbel-max over the
 * allowed tokens that min_p keeps (text/sampler.h, gumbel.h). mask_best_of for k = 1 finds the
 * largest allowed logit (min_p's threshold); then every token that passes the threshold and
 * whose noise can lift it past the best value found so far (bn_gumbel_may_reach, the test the
 * sampler's own draw uses) is computed, and checked when it would win: the winner and the
 * allowed tokens checked are then all the draw reads (a token left out cannot reach the
 * winner's value; the winner's logit is at most the largest allowed one, so min_p's threshold
 * is unchanged). */
static int mask_draw(bn_gen *g, const float *logits) {
    const bn_sampler_params *sp = bn_sampler_get_params(g->sampler);
    int settled = mask_best_of(g, logits, 1, 1 + g->best_extra, 0);
    if (settled <= 0) return settled;
    float lmax = -INFINITY; /* the largest allowed logit: among those checked (they hold every larger one) */
    for (int64_t id = 0; id < g->n_vocab; id++) lmax = fmaxf(lmax, g->masked[id]);
    float threshold = min_p_threshold(sp, lmax);
    double T = (double)sp->temperature, top = -INFINITY;
    uint64_t key = bn_sampler_next_key(g->sampler);
    int32_t win = -1;
    for (int pass = 0; pass < 2; pass++) /* the allowed tokens checked first (a high value to beat), then all */
        for (int32_t id = 0; id < g->n_vocab; id++) {
            float l = logits[id];
            bool known = g->masked[id] != -INFINITY;
            if ((pass == 0 && !known) || !(l >= threshold) || !bn_gumbel_may_reach(key, id, bn_gumbel_gap(top, (double)l / T)))
                continue;
            double v = draw_value(l, T, key, id);
            if (!draw_beats(v, id, top, win) || (!known && !bn_constraint_allows(g->constraint, id))) continue;
            g->masked[id] = l;
            top = v, win = id;
        }
    return win >= 0;
}

/* g->masked from `logits` by checking the best tokens (above); false when that does not
 * settle the draw (or the caller looks at every logit: it gets the whole mask). A try that
 * does not settle it doubles the tokens checked beyond k (up to BEST_EXTRA_MAX; a settled one
 * lowers them again, shrink_best_extra), and with `grow` (every logit there) tries again. */
static bool mask_best(bn_gen *g, const float *logits, bool grow) {
    if (g->full_logits || g->p->on_logits) return false;
    int n_force = bn_sampler_penalized(g->sampler, g->force, FORCE_CAP);
    bool draw;
    int k = best_read(g, n_force, &draw);
    if (!k || (draw && n_force)) return false;
    for (;;) {
        int settled = draw ? mask_draw(g, logits) : mask_best_of(g, logits, k, k + g->best_extra, n_force);
        if (settled) return settled > 0;
        if (g->best_extra >= BEST_EXTRA_MAX || k + g->best_extra >= g->n_vocab) return false;
        g->best_extra *= 2;
        if (!grow) return false;
    }
}

/* Whether the draw from `logits` needs every token checked: false when g->masked was made
 * from them ahead of the draw, or mask_best makes it now. */
static bool needs_whole_mask(bn_gen *g, const float *logits) {
    if (g->masked_for == logits) return false;
    g->masked_for = logits;
    g->masked_best = mask_best(g, logits, true);
    return !g->masked_best;
}

/* A temperature draw's screened row (head_screen.h: exact for the largest logit and for every
 * token that can win the draw over the whole vocabulary, -inf elsewhere; no forced ids): it
 * settles the draw when the largest logit's token and the winner are both allowed. min_p's
 * threshold is then the constraint's too, and the winner beats every allowed token; the row
 * keeps the two. */
static bool settle_draw(bn_gen *g, const float *row) {
    const bn_sampler_params *sp = bn_sampler_get_params(g->sampler);
    int32_t top_id = -1, win = -1;
    float lmax = -INFINITY;
    for (int32_t id = 0; id < g->n_vocab; id++)
        if (row[id] > lmax) lmax = row[id], top_id = id;
    if (top_id < 0 || !bn_constraint_allows(g->constraint, top_id)) return false;
    float threshold = min_p_threshold(sp, lmax);
    double T = (double)sp->temperature, top = -INFINITY;
    uint64_t key = bn_sampler_next_key(g->sampler);
    for (int32_t id = 0; id < g->n_vocab; id++) {
        if (!(row[id] >= threshold) || row[id] == -INFINITY) continue;
        double v = draw_value(row[id], T, key, id);
        if (draw_beats(v, id, top, win)) top = v, win = id;
    }
    if (win < 0 || !bn_constraint_allows(g->constraint, win)) return false;
    for (int64_t id = 0; id < g->n_vocab; id++) g->masked[id] = -INFINITY;
    g->masked[top_id] = row[top_id];
    g->masked[win] = row[win];
    return true;
}

/* The screened head's check of a finished row (bn_head_req.settles): whether its best tokens
 * settle the draw. They are the k + best_extra largest of the row (the head computed the
 * k + best_extra best exactly, and the forced ids), and every token it did not compute lies
 * below the smallest of them, so mask_best reads the row as it would the whole one; when
 * they do not, the head computes the whole row, where mask_best tries more of them. A
 * temperature draw's row: settle_draw. */
static bool settles_in_head(void *ctx, const float *row) {
    bn_gen *g = ctx;
    g->masked_best = g->req.gumbel ? settle_draw(g, row) : mask_best(g, row, false);
    g->masked_for = g->masked_best ? row : NULL;
    if (g->masked_best) g->head_backoff = 0;
    else g->head_skip = g->head_backoff = g->head_backoff ? (g->head_backoff < 64 ? 2 * g->head_backoff : 64) : 1;
    return g->masked_best;
}

/* on_candidates: the drawn token's probability and the likeliest of the n_dist in g->dist
 * (the distribution it was drawn from, its n_candidates best first); the callback's answer. */
static int report_candidates(bn_gen *g, int32_t id, int n_dist) {
    const bitnet_generate_params *p = g->p;
    float p_id = 0.0f;
    int n_top = 0;
    for (int i = 0; i < n_dist; i++) {
        if (g->dist[i].id == id) p_id = g->dist[i].p;
        if (n_top < p->n_candidates && g->dist[i].p > 0.0f) g->dist_top[n_top++] = (bitnet_token_prob){g->dist[i].id, g->dist[i].p};
    }
    return p->on_candidates(id, p_id, g->dist_top, n_top, p->user_data);
}

/* Samples from `logits`, accounts, emits, checks stops. Returns 0, a stop reason or a
 * negative status. */
static int sample_once(bn_gen *g, const float *logits, int32_t *token) {
    const bitnet_generate_params *p = g->p;
    const bn_tokenizer *tok = g->model->tokenizer;
    bitnet_generate_result *res = &g->res;
    if (p->abort_flag && *p->abort_flag) return BITNET_STOP_CALLBACK;
    if (g->constraint) {
        if (needs_whole_mask(g, logits)) bn_constraint_mask(g->constraint, logits, g->n_vocab, g->masked);
        if (g->masked_best) g->res.n_mask_best++;
        else g->res.n_mask_all++;
        g->masked_for = NULL;
        logits = g->masked;
    }
    int n_dist = g->dist ? bn_sampler_distribution_top(g->sampler, logits, g->dist, (int)g->n_vocab, p->n_candidates) : 0; /* (before the draw moves its state) */
    int32_t id = bn_sampler_sample(g->sampler, logits);
    if (id < 0 && g->constraint) /* the mask left nothing the logit bias did not ban */
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "%s: no token may continue the text: %s", constraint_name(p), bn_last_error_message());
    if (id < 0) return bn_error(BITNET_ERR_INFERENCE_FAILED, "sampling failed: %s", bn_last_error_message());
    bn_sampler_accept(g->sampler, id);
    if (g->lookup && g->n_history < g->cap_history) g->history[g->n_history++] = id;
    if (g->constraint && !bn_constraint_accept(g->constraint, id))
        return bn_error(BITNET_ERR_INTERNAL, "%s: token %d was drawn although masked", constraint_name(p), (int)id);
    g->last_logits = logits;
    *token = id;
    res->n_generated++;
    if (p->on_logits && p->on_logits(logits, g->n_vocab, id, p->user_data)) return BITNET_STOP_CALLBACK;
    if (g->dist && report_candidates(g, id, n_dist)) return BITNET_STOP_CALLBACK;
    if (is_stop_id(p, id)) return BITNET_STOP_ID;
    if (!p->ignore_eog && tok && bn_tokenizer_is_eog(tok, id)) return BITNET_STOP_EOG;
    int why = emit_text(g, id);
    if (why < 0) return bn_error(BITNET_ERR_INFERENCE_FAILED, "detokenization failed: %s", bn_last_error_message());
    if (why) return why;
    if (g->constraint && bn_constraint_complete(g->constraint))
        return bn_constraint_is_grammar(g->constraint) ? BITNET_STOP_GRAMMAR_COMPLETE : BITNET_STOP_JSON_COMPLETE;
    if (p->max_tokens > 0 && res->n_generated >= p->max_tokens) return BITNET_STOP_MAX_TOKENS;
    g->pending = id;
    return 0;
}

#define MASK_CHUNK 8192 /* token ids per work item of the constraint masks */

typedef struct mask_job {
    bn_gen *const *gens;
    const float *const *logits;
    int n;
    long chunks;               /* per run */
    bn_work work;              /* run r, chunk c: item r * chunks + c */
} mask_job;

static void mask_job_run(void *ctx, int thread_index, int n_threads) {
    (void)thread_index, (void)n_threads;
    mask_job *m = ctx;
    for (long item; (item = bn_work_next(&m->work)) >= 0;) {
        bn_gen *g = m->gens[item / m->chunks];
        if (!g || !g->constraint || !g->mask_all) continue;
        int64_t begin = item % m->chunks * MASK_CHUNK, end = begin + MASK_CHUNK < g->n_vocab ? begin + MASK_CHUNK : g->n_vocab;
        if (begin < end) bn_constraint_mask_range(g->constraint, &g->plan, m->logits[item / m->chunks], begin, end, g->masked);
    }
}

void bn_gen_constraint_masks(bn_gen *const *gens, const float *const *logits, int n, bn_threadpool *pool) {
    int64_t most = 0;
    for (int i = 0; i < n; i++) {
        bn_gen *g = gens[i];
        if (!g || !g->constraint || !(g->mask_all = needs_whole_mask(g, logits[i]))) continue;
        bn_constraint_plan(g->constraint, &g->plan);
        if (g->n_vocab > most) most = g->n_vocab;
    }
    if (!most) return;
    mask_job m = {gens, logits, n, (long)((most + MASK_CHUNK - 1) / MASK_CHUNK), {0}};
    bn_work_init(&m.work, m.chunks * n);
    bn_threadpool_run(pool, mask_job_run, &m);
}

/* Ends a speculative pass: the cache keeps the rows whose logits were used (the others hold
 * draft tokens that were not sampled). */
static void spec_end(bn_gen *g) {
    if (!g->spec_rows) return;
    bn_state_truncate(g->s->state, g->spec_base + g->spec_next);
    g->spec_rows = g->spec_next = 0;
}

/* Feeds back `prev` with a draft after it when the text offers one: the rows' logits go to
 * spec_logits (row 0's are sampled next). Without a draft, the plain one-token evaluation. */
static int eval_with_draft(bn_gen *g, int32_t prev, const float **logits) {
    bn_state *st = g->s->state;
    int64_t n_past = bn_state_n_past(st), room = bn_state_n_ctx(st) - n_past - 1;
    int max = g->lookup < room ? g->lookup : (int)room;
    if (max > bn_state_max_batch(st) - 1) max = bn_state_max_batch(st) - 1;
    int k = max > 0 ? bn_gen_draft(g, g->history, g->n_history, g->spec_draft, max) : 0;
    if (k == 0) {
        *logits = g->logits;
        return bn_state_eval_head(st, &prev, 1, g->logits, bn_gen_head_req(g));
    }
    const bn_head_req *req = bn_gen_draft_head_req(g);
    bn_batch_row rows[BN_LOOKUP_DRAFT_MAX + 1];
    for (int i = 0; i <= k; i++) rows[i] = (bn_batch_row){.token = i ? g->spec_draft[i - 1] : prev, .seq = 0, .logits = true, .head = req};
    int rc = bn_state_eval_rows(st, rows, k + 1, g->spec_logits, NULL);
    if (rc) return rc;
    g->spec_base = n_past;
    g->spec_rows = k + 1;
    g->spec_next = 1;
    *logits = g->spec_logits;
    return 0;
}

bool bn_gen_shift_span(const bn_gen *g, int64_t n_past, int64_t n_ctx, int64_t prompt_end, int64_t *keep, int64_t *drop) {
    const bitnet_generate_params *p = g->p;
    if (!context_shift_of(p)) return false;
    int64_t k = p->n_keep < 0 ? prompt_end : p->n_keep;
    if (k > n_ctx - 4) k = n_ctx - 4;
    if (k < 0) k = 0;
    if (k > n_past) k = n_past;
    int64_t left = n_past - k, d = p->n_discard ? p->n_discard : left / 2;
    if (d > left - 1) d = left - 1;
    if (d < 1) return false;
    *keep = k;
    *drop = d;
    return true;
}

void bn_gen_note_shift(bn_gen *g, int64_t drop) {
    g->res.n_discarded += (int)drop;
    /* lookup_draft's text keeps room for the `drop` tokens the run may now add: its oldest go */
    int64_t cut = g->n_history + drop - g->cap_history;
    if (!g->history || cut <= 0) return;
    if (cut > g->n_history) cut = g->n_history;
    memmove(g->history, g->history + cut, (size_t)(g->n_history - cut) * sizeof *g->history);
    g->n_history -= cut;
}

/* A session's full context: shifted when the run asks for it, else the run ends. */
static int shift_session(bn_gen *g) {
    bn_state *st = g->s->state;
    int64_t keep, drop;
    if (!bn_gen_shift_span(g, bn_state_n_past(st), bn_state_n_ctx(st), g->prompt_end, &keep, &drop)) return BITNET_STOP_CONTEXT_FULL;
    int rc = bn_state_seq_shift(st, 0, keep, drop);
    if (!rc) bn_gen_note_shift(g, drop);
    return rc;
}

/* A session step: feed back the previous token (or find its row in the last speculative
 * pass), then sample. */
static int step_once(bn_gen *g, int32_t *token) {
    bn_state *st = g->s->state;
    const float *logits = g->logits;
    if (g->pending >= 0) {
        int32_t prev = g->pending;
        g->pending = -1;
        if (g->spec_next < g->spec_rows && prev == g->spec_draft[g->spec_next - 1]) {
            logits = g->spec_logits + (int64_t)g->spec_next++ * g->n_vocab;
            bn_gen_draft_taken(g);
        } else {
            spec_end(g);
            if (bn_state_n_past(st) >= bn_state_n_ctx(st)) {
                int rc = shift_session(g);
                if (rc) return rc;
            }
            int rc = g->lookup ? eval_with_draft(g, prev, &logits) : bn_state_eval_head(st, &prev, 1, g->logits, bn_gen_head_req(g));
            if (rc) return rc;
        }
    }
    bn_gen_constraint_masks(&g, &logits, 1, bn_state_pool(st));
    return sample_once(g, logits, token);
}

void bn_gen_finish(bn_gen *g, int why) {
    if (why == 0) return;
    if (g->s) spec_end(g); /* also after an error: the cache holds what was used */
    if (g->finished || why < 0) return;
    g->finished = why;
    g->pending = -1;
    g->res.stop_reason = (bitnet_stop_reason)why;
    if (why != BITNET_STOP_STRING) flush_text(g);
}

int bn_gen_step(bn_gen *g, int32_t *token) {
    *token = -1;
    if (g->finished) return g->finished;
    double t0 = bn_time_now();
    int why = step_once(g, token);
    double dt = bn_time_now() - t0;
    g->res.decode_seconds += dt;
    if (g->res.n_generated == 1 && *token >= 0 && g->res.time_to_first_token_seconds == 0)
        g->res.time_to_first_token_seconds = g->res.prefill_seconds + dt;
    bn_gen_finish(g, why);
    return why;
}

int bn_gen_sample(bn_gen *g, const float *logits, int32_t *token) {
    *token = -1;
    if (g->finished) return g->finished;
    int why = sample_once(g, logits, token);
    bn_gen_finish(g, why);
    return why;
}

int32_t bn_gen_pending(const bn_gen *g) { return g->pending; }
bitnet_generate_result *bn_gen_result_ptr(bn_gen *g) { return &g->res; }

const float *bn_gen_logits(const bn_gen *g) { return g->last_logits ? g->last_logits : g->logits; }
int64_t bn_gen_n_vocab(const bn_gen *g) { return g->n_vocab; }

/* Copies the fields that out->struct_size covers (a caller built before later fields). */
void bn_gen_result(const bn_gen *g, bitnet_generate_result *out) {
    size_t size = out->struct_size < sizeof *out ? out->struct_size : sizeof *out;
    memcpy(out, &g->res, size);
    out->struct_size = size;
}

void bn_gen_end(bn_gen *g) {
    if (!g) return;
    if (g->s) spec_end(g);
    free(g->history);
    free(g->spec_logits);
    bn_sampler_free(g->sampler);
    bn_stop_free(g->stop);
    bn_detok_stream_free(g->detok);
    free(g->logits);
    free(g->force);
    bn_constraint_free(g->constraint);
    free(g->masked);
    free(g->best);
    free(g->dist);
    free(g->dist_top);
    free(g);
}

/* The prediction's count and ids (a NULL model: the vocabulary is not checked). */
static int check_prediction(const bitnet_model *model, const bitnet_generate_params *p) {
    int n;
    const int32_t *ids = prediction_of(p, &n);
    if (n < 0 || (n > 0 && !ids))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "generate: prediction and n_prediction (%d) disagree", n);
    int64_t n_vocab = model ? model->m->hp.n_vocab : INT32_MAX;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "generate: prediction[%d] is %d, outside the vocabulary [0, %lld)", i, (int)ids[i],
                            (long long)n_vocab);
    return 0;
}

static int check_params(const bitnet_model *model, const int32_t *prompt, int n_prompt, const bitnet_generate_params *p) {
    if (!model || !p || n_prompt < 1 || !prompt)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "generate: NULL session/params/prompt or n_prompt < 1");
    if (p->struct_size < offsetof(bitnet_generate_params, logit_bias))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_generate_params.struct_size is %zu; use bitnet_generate_default_params()", p->struct_size);
    const bitnet_logit_bias *lb;
    int n_bias = logit_bias_of(p, &lb);
    if (n_bias < 0 || (n_bias > 0 && !lb))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "generate: logit_bias and n_logit_bias (%d) disagree", n_bias);
    if ((p->n_stop_strings > 0 && !p->stop_strings) || (p->n_stop_ids > 0 && !p->stop_ids) || p->n_stop_strings < 0 || p->n_stop_ids < 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "generate: stop lists and counts disagree");
    for (int i = 0; i < p->n_stop_strings; i++)
        if (!p->stop_strings[i] || !p->stop_strings[i][0])
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "generate: stop string %d is NULL or empty", i);
    if (p->n_stop_strings && !model->tokenizer)
        return bn_error(BITNET_ERR_UNSUPPORTED, "stop strings need a tokenizer; this model has none");
    if ((wants_json_object(p) != 0) + (json_schema_of(p) != NULL) + (grammar_of(p) != NULL) > 1)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "generate: more than one of json_object, json_schema and grammar is set; give one");
    if (context_shift_of(p) && (p->n_keep < -1 || p->n_discard < 0))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "generate: n_keep %d / n_discard %d: n_keep is -1 (the prompt) or more, n_discard 0 (half) or more",
                        p->n_keep, p->n_discard);
    if (constraint_name(p) && !model->tokenizer)
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s needs a tokenizer; this model has none", constraint_name(p));
    if (candidates_of(p) && p->n_candidates < 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "generate: n_candidates %d must be >= 0", p->n_candidates);
    if (BN_API_HAS_FIELD(p->struct_size, bitnet_generate_params, n_cache_reuse) && p->n_cache_reuse < 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "generate: n_cache_reuse %d must be >= 0 (0: off)", p->n_cache_reuse);
    return check_prediction(model, p);
}

/* g's buffers for on_candidates; -1 when out of memory. */
static int make_candidates(bn_gen *g) {
    int64_t top = g->p->n_candidates < g->n_vocab ? g->p->n_candidates : g->n_vocab;
    g->dist = bn_malloc((size_t)g->n_vocab * sizeof *g->dist, "candidates");
    g->dist_top = bn_malloc((size_t)(top > 0 ? top : 1) * sizeof *g->dist_top, "candidates");
    return g->dist && g->dist_top ? 0 : -1;
}

/* g's constraint (a JSON object, a JSON Schema or a grammar) and its logits buffer; -1 with
 * the last error set. */
static int make_constraint(bn_gen *g) {
    const char *schema = json_schema_of(g->p), *grammar = grammar_of(g->p);
    const bn_constraint_vocab *vocab = bn_model_constraint_vocab((bitnet_model *)g->model, grammar != NULL); /* made on first use, under its lock */
    if (!vocab) return -1;
    g->constraint = grammar ? bn_constraint_create_grammar(vocab, grammar, strlen(grammar))
                            : bn_constraint_create(vocab, schema, schema ? strlen(schema) : 0);
    if (!g->constraint || !(g->masked = bn_malloc((size_t)g->n_vocab * sizeof(float), "constrained logits")) ||
        !(g->best = bn_malloc((BN_SCREEN_MAX_K + BEST_EXTRA_MAX) * sizeof *g->best, "constraint's best tokens")))
        return -1;
    g->best_extra = BEST_EXTRA;
    return 0;
}

int bn_gen_create(const bitnet_model *model, int64_t n_ctx, const int32_t *prompt, int n_prompt, const bitnet_generate_params *p,
                  bn_gen **out) {
    *out = NULL;
    int rc = check_params(model, prompt, n_prompt, p);
    if (rc) return rc;
    bn_gen *g = bn_calloc(1, sizeof *g, "generation state");
    if (!g) return BITNET_ERR_OUT_OF_MEMORY;
    g->model = model;
    g->p = p;
    g->n_vocab = model->m->hp.n_vocab;
    g->pending = -1;
    g->res.struct_size = sizeof g->res;
    g->res.n_prompt = n_prompt;
    g->res.stop_string_index = -1;
    int n_pred;
    const int32_t *pred = prediction_of(p, &n_pred);
    g->prediction = bn_prediction_start(pred, pred ? n_pred : 0);
    const bn_tokenizer *tok = model->tokenizer;
    if (!(g->logits = bn_malloc((size_t)g->n_vocab * sizeof(float), "logits")) || !(g->force = bn_malloc(FORCE_CAP * sizeof(int32_t), "penalized ids")) ||
        !(g->sampler = make_sampler(p, g->n_vocab, n_ctx, (bitnet_model *)model))) /* DRY's defaults: made on first use, under its lock */
        rc = bn_last_error_status() ? bn_last_error_status() : BITNET_ERR_INVALID_ARGUMENT;
    if (!rc && p->n_stop_strings && !(g->stop = bn_stop_create(p->stop_strings, (size_t)p->n_stop_strings))) rc = bn_last_error_status();
    if (!rc && tok && !(g->detok = bn_detok_stream_new(tok, false))) rc = bn_last_error_status();
    if (!rc && constraint_name(p) && make_constraint(g)) rc = bn_last_error_status() ? bn_last_error_status() : BITNET_ERR_OUT_OF_MEMORY;
    if (!rc && candidates_of(p) && make_candidates(g)) rc = BITNET_ERR_OUT_OF_MEMORY;
    if (rc) {
        bn_gen_end(g);
        return rc;
    }
    for (int i = 0; i < n_prompt; i++) bn_sampler_accept(g->sampler, prompt[i]); /* penalties see the prompt too */
    *out = g;
    return 0;
}

/* lookup_draft's and the prediction's buffers for a session run (none when off, for
 * full_logits callers, or while tracing: the trace records one pass per token). */
static int start_lookup(bn_gen *g, const int32_t *prompt, int n_prompt) {
    g->lookup = g->full_logits || g->s->tracer ? 0 : draft_len_of(g->p);
    if (!g->lookup) return 0;
    g->cap_history = bn_state_n_ctx(g->s->state) + 1;
    g->history = bn_malloc((size_t)g->cap_history * sizeof *g->history, "lookup history");
    g->spec_logits = bn_malloc((size_t)(g->lookup + 1) * (size_t)g->n_vocab * sizeof(float), "draft logits");
    if (!g->history || !g->spec_logits) return BITNET_ERR_OUT_OF_MEMORY;
    g->n_history = n_prompt < g->cap_history ? n_prompt : g->cap_history;
    memcpy(g->history, prompt, (size_t)g->n_history * sizeof *prompt);
    return 0;
}

bool bn_gen_scores_prompt(const bn_gen *g) { return prompt_logits_of(g->p) != NULL; }

int bn_gen_prompt_logits(bn_gen *g, int position, int32_t token, const float *logits) {
    return g->p->on_prompt_logits(position, token, logits, g->n_vocab, g->p->user_data) ? BITNET_STOP_CALLBACK : 0;
}

int bn_gen_prompt_progress(bn_gen *g, int n_done) {
    bitnet_prompt_progress_callback cb = prompt_progress_of(g->p);
    return cb && cb(n_done, g->res.n_prompt, g->res.n_cached, g->p->user_data) ? BITNET_STOP_CALLBACK : 0;
}

/* A session's prompt rows per pass when their logits are wanted ([16][n_vocab] floats), and when
 * their progress is reported. */
enum { SCORED_ROWS = 16, PROGRESS_ROWS = 64 };

/* prompt[at, at + k) into the session's cache; with rows ([k][n_vocab]), every row's logits to
 * on_prompt_logits as the distribution of the token after it. */
static int eval_prompt_rows(bn_gen *g, const int32_t *prompt, int at, int k, float *rows) {
    int rc = bn_state_eval(g->s->state, prompt + at, k, rows, rows != NULL);
    for (int r = 0; !rc && rows && r < k; r++) rc = bn_gen_prompt_logits(g, at + r + 1, prompt[at + r + 1], rows + (int64_t)r * g->n_vocab);
    return rc;
}

/* The prompt's evaluation in a session run: its last token's logits into g->logits (the first
 * draw's). With on_prompt_logits or on_prompt_progress, the tokens before it go in passes of
 * their own (every row's logits handed over; the progress after each). 0, a negative status,
 * or BITNET_STOP_CALLBACK when a callback stopped the run. */
static int eval_prompt(bn_gen *g, const int32_t *prompt, int n_prompt) {
    bool scored = bn_gen_scores_prompt(g);
    int step = scored ? SCORED_ROWS : PROGRESS_ROWS, last = scored || prompt_progress_of(g->p) ? n_prompt - 1 : 0, rc = 0;
    float *rows = scored && last > 0 ? bn_malloc((size_t)SCORED_ROWS * (size_t)g->n_vocab * sizeof(float), "prompt logits") : NULL;
    if (scored && last > 0 && !rows) return BITNET_ERR_OUT_OF_MEMORY;
    for (int at = 0; !rc && at < last; at += step) {
        int k = last - at < step ? last - at : step;
        rc = eval_prompt_rows(g, prompt, at, k, rows);
        if (!rc) rc = bn_gen_prompt_progress(g, at + k);
    }
    free(rows);
    if (!rc) rc = bn_state_eval_head(g->s->state, prompt + last, n_prompt - last, g->logits, bn_gen_head_req(g));
    return rc ? rc : bn_gen_prompt_progress(g, n_prompt);
}

int bn_gen_begin(bitnet_session *s, const int32_t *prompt, int n_prompt, const bitnet_generate_params *p, bool full_logits,
                 bn_gen **out) {
    *out = NULL;
    if (!s) return check_params(NULL, prompt, n_prompt, p);
    if (bn_generate_cache_reuse(p))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "generate: n_cache_reuse applies to batch slots; a session's cache is the caller's "
                                                     "(bitnet_session_truncate, bitnet_session_n_past)");
    bn_gen *g;
    int rc = bn_gen_create(s->model, bn_state_n_ctx(s->state), prompt, n_prompt, p, &g);
    if (rc) return rc;
    g->s = s;
    g->full_logits = full_logits;
    rc = start_lookup(g, prompt, n_prompt);
    if (rc) {
        bn_gen_end(g);
        return rc;
    }
    double t0 = bn_time_now();
    rc = eval_prompt(g, prompt, n_prompt);
    g->res.prefill_seconds = bn_time_now() - t0;
    g->prompt_end = bn_state_n_past(s->state);
    if (rc < 0) {
        bn_gen_end(g);
        return rc;
    }
    bn_gen_finish(g, rc); /* BITNET_STOP_CALLBACK: on_prompt_logits stopped it */
    *out = g;
    return 0;
}

BITNET_API int bitnet_session_generate(bitnet_session *s, const int32_t *prompt, int n_prompt, const bitnet_generate_params *p,
                                       int32_t *out_tokens, int max_out, bitnet_generate_result *result) {
    if (max_out < 0 || (max_out > 0 && !out_tokens))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_generate: bad output buffer");
    if (result && result->struct_size < offsetof(bitnet_generate_result, stop_string_index))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_generate_result.struct_size is %zu; set it to sizeof(bitnet_generate_result)",
                        result->struct_size);
    if (!s) return check_params(NULL, prompt, n_prompt, p);
    pthread_mutex_lock(&s->lock);
    bn_gen *g;
    int rc = bn_gen_begin(s, prompt, n_prompt, p, false, &g);
    while (!rc) {
        int32_t id;
        int why = bn_gen_step(g, &id);
        if (id >= 0 && g->res.n_generated <= max_out) out_tokens[g->res.n_generated - 1] = id;
        if (why < 0) rc = why;
        if (why) break;
    }
    if (g && result) bn_gen_result(g, result);
    bn_gen_end(g);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
