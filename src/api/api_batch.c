/* api_batch: continuous batching (bitnet_batch_*, see include/bitnet.h). One bn_state with a
 * KV cache per slot; each step gathers one row per generating slot (the token it sampled last)
 * and then prompt rows of prefilling slots, oldest request first, up to n_batch rows, runs them
 * in one forward pass (bn_state_eval_rows) and hands every slot its logits row to sample from
 * (bn_gen_sample: the same sampling, text and stop logic as bitnet_session_generate).
 *
 * Per slot, tokens[0, n_tokens) mirrors its KV cache once a step ends: prompt rows are
 * appended as they are evaluated and a sampled token when it is fed back, so an idle slot
 * knows exactly which prefix it can offer the next request.
 *
 * An embedding request (bitnet_batch_submit_embed) prefills like a generation, but its rows
 * ask for hidden states instead of logits, which its pooler takes; it ends with its prompt.
 *
 * Shared prompt prefixes (share_prefix): a generation's prompt often starts as another slot's
 * did or does (a system prompt, tool descriptions, the choices of OpenAI's `n`). Before its
 * rows are added, a prefilling generation copies the KV entries of its next prompt positions
 * from any slot whose cache holds them (bn_state_kv_transfer: the entries of a position depend
 * only on the tokens up to it, so the result is the same bit for bit), and it waits while an
 * older prefilling request is still evaluating positions they share: one prefill, not one per
 * slot. The oldest prefilling request never waits, so every wait ends. With a prompt cache in
 * host memory (api_prompt_cache.c), what a slot held before a prompt it does not start with
 * took it is kept there and offered as another slot's cache would be.
 *
 * Speculative decoding (a generation's lookup_draft or prediction, as in a session,
 * api_generate.c): a generating slot's row may be followed by draft rows (text/lookup.h) while
 * the step has room, every one with logits; after the pass the slot samples row by row while
 * each token sampled equals the next draft token, and its cache then drops the rows past the
 * last one used.
 *
 * A generation that scores its prompt (on_prompt_logits) evaluates all of it with the whole LM
 * head on every row (none taken from caches: their rows would have no logits); the callback
 * gets each row's logits after the pass, before the sampling. Its rows per step are bounded by
 * the logits buffer (grown by SCORED_ROWS at its submit), less a row kept for every other slot. */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "text/lookup.h"
#include "util.h"

enum { DEFAULT_SLOTS = 4, DEFAULT_BATCH = 64, MAX_SLOTS = BN_MAX_SEQ, DEFAULT_SHARE_MIN = 16, SCORED_ROWS = 32 };

typedef enum { SLOT_IDLE, SLOT_PREFILL, SLOT_DECODE } slot_phase;

typedef struct batch_slot {
    slot_phase phase;
    int32_t *tokens;          /* [cap]: the KV cache's tokens, then the prompt rows still to evaluate */
    int64_t n_tokens, cap;
    int64_t n_prompt_end;     /* tokens[0, n_prompt_end) are the request's prompt */
    bn_gen *gen;              /* a generation's run; NULL for an embedding */
    const bitnet_generate_params *params;
    bn_pooler *pooler;        /* an embedding's pooling; NULL for a generation */
    bitnet_generate_result embed_result;
    void *user_data;          /* on_finish's */
    bitnet_batch_finish_callback on_finish;
    uint64_t order;           /* submit order (prefill goes oldest first) / last use (pick_slot) */
    double t_submit, t_last_step;
    int spec_rows, spec_used; /* this step's rows of a generating slot (1 + its draft), and those sampled from */
    int prompt_rows;          /* this step's prompt rows of a generation (its on_prompt_progress follows the pass) */
    int64_t spec_base;        /* the position of its first row */
    bool shifted;             /* a context shift or cache reuse moved the entries from n_exact on */
    int64_t n_exact;          /* (not what their tokens give from position 0: not shared) */
    bool reusing;             /* its run reuses moved entries (n_cache_reuse): they stay after it */
} batch_slot;

struct bitnet_batch {
    bitnet_model *model;
    bn_state *state;
    int n_slots, n_batch;
    int share_min;            /* prefix_share_min resolved; INT_MAX: never */
    int64_t n_vocab;
    uint64_t clock;           /* counts submits and finishes */
    batch_slot *slots;
    bn_batch_row *rows;       /* [n_batch] */
    bn_gen **row_gen;         /* [n_batch]: the run a logits row belongs to */
    int *row_index;           /* [n_batch]: an embedding row's token index in its prompt, a
                                 generation row's draft index (0: its fed token), or for a
                                 scored prompt row (on_prompt_logits) minus the position of
                                 the prompt token its logits score */
    float *logits;            /* [logits_cap][n_vocab]: the step's logits rows */
    int logits_cap;           /* n_slots, grown when drafts need more */
    float *hidden;            /* [n_batch][n_embd]: the hidden states of embedding rows */
    bn_gen **mask_gens;       /* [n_slots]: the runs sampled in a step (for their JSON masks) ... */
    const float **mask_logits; /* [n_slots]: ... and their logits rows */
    bn_prompt_cache prompt_cache; /* limit 0: none */
    uint8_t fingerprint[32];  /* the model's, for slot files (bn_slot_fingerprint), once fingerprinted */
    bool fingerprinted;
};

BITNET_API bitnet_batch_params bitnet_batch_default_params(void) {
    bitnet_batch_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    return p;
}

static int check_batch_params(const bitnet_batch_params *p) {
    if (p->struct_size < offsetof(bitnet_batch_params, kv_type_k))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_create: params.struct_size is %zu; use bitnet_batch_default_params()",
                        p->struct_size);
    if (p->n_slots < 0 || p->n_slots > MAX_SLOTS)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_create: n_slots %d is outside 0..%d", p->n_slots, MAX_SLOTS);
    if (p->n_threads < 0 || p->n_threads > 1024 || p->n_batch < 0 || p->n_batch > 65536 || p->n_ctx < 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_create: negative or huge n_ctx, n_threads or n_batch");
    if ((int)p->act_quant < 0 || (int)p->act_quant > BITNET_ACT_QUANT_NONE)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_create: unknown act_quant %d", (int)p->act_quant);
    return 0;
}

static int alloc_batch(bitnet_batch *b) {
    size_t nb = (size_t)b->n_batch;
    b->slots = bn_calloc((size_t)b->n_slots, sizeof *b->slots, "batch slots");
    b->rows = bn_calloc(nb, sizeof *b->rows, "batch rows");
    b->row_gen = bn_calloc(nb, sizeof *b->row_gen, "batch rows");
    b->row_index = bn_calloc(nb, sizeof *b->row_index, "batch rows");
    b->logits = bn_malloc((size_t)b->n_slots * (size_t)b->n_vocab * sizeof(float), "batch logits");
    b->logits_cap = b->n_slots;
    b->hidden = bn_malloc(nb * (size_t)b->model->m->hp.n_embd * sizeof(float), "batch hidden states");
    b->mask_gens = bn_calloc((size_t)b->n_slots + 1, sizeof *b->mask_gens, "batch masks");
    b->mask_logits = bn_calloc((size_t)b->n_slots + 1, sizeof *b->mask_logits, "batch masks");
    return b->slots && b->rows && b->row_gen && b->row_index && b->logits && b->hidden && b->mask_gens && b->mask_logits ? 0 : BITNET_ERR_OUT_OF_MEMORY;
}

BITNET_API int bitnet_batch_create(bitnet_model *model, const bitnet_batch_params *params, bitnet_batch **out) {
    if (!out) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_create: out is NULL");
    *out = NULL;
    if (!model) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_create: model is NULL");
    bitnet_batch_params defaults = bitnet_batch_default_params();
    if (!params) params = &defaults;
    int rc = check_batch_params(params);
    if (rc) return rc;
    bitnet_batch *b = bn_calloc(1, sizeof *b, "batch");
    if (!b) return BITNET_ERR_OUT_OF_MEMORY;
    b->model = model;
    b->n_slots = params->n_slots ? params->n_slots : DEFAULT_SLOTS;
    b->n_batch = params->n_batch ? params->n_batch : DEFAULT_BATCH;
    if (b->n_batch < b->n_slots) b->n_batch = b->n_slots;
    int share_min = BN_API_HAS_FIELD(params->struct_size, bitnet_batch_params, prefix_share_min) ? params->prefix_share_min : 0;
    b->share_min = share_min < 0 ? INT_MAX : share_min == 0 ? DEFAULT_SHARE_MIN : share_min;
    if (BN_API_HAS_FIELD(params->struct_size, bitnet_batch_params, prompt_cache_bytes)) b->prompt_cache.limit = params->prompt_cache_bytes;
    b->n_vocab = model->m->hp.n_vocab;
    bn_state_params sp;
    bn_state_default_params(&sp);
    sp.n_ctx = params->n_ctx;
    sp.n_threads = params->n_threads;
    sp.max_batch = b->n_batch;
    sp.n_seq = b->n_slots;
    sp.act_quant = bn_api_resolve_act_quant(model->m, params->act_quant);
    rc = bn_api_kv_types(params, params->struct_size, offsetof(bitnet_batch_params, kv_type_k), "bitnet_batch_create", &sp.kv_type_k,
                         &sp.kv_type_v);
    if (!rc) rc = alloc_batch(b);
    if (!rc) rc = bn_state_create(model->m, &sp, &b->state);
    if (rc) {
        bitnet_batch_free(b);
        return rc;
    }
    atomic_fetch_add(&model->n_sessions, 1);
    *out = b;
    return 0;
}

/* The result of the slot's run as it ends with `status` (a stop reason > 0, or < 0), which
 * releases the run. */
static bitnet_generate_result end_run(batch_slot *s, int status) {
    bitnet_generate_result res;
    if (s->pooler) { /* an embedding */
        if (status == BITNET_STOP_MAX_TOKENS) bn_pooler_finish(s->pooler);
        else bn_pooler_free(s->pooler);
        free(s->pooler);
        s->pooler = NULL;
        res = s->embed_result;
        if (status > 0) res.stop_reason = (bitnet_stop_reason)status;
        return res;
    }
    if (status > 0) bn_gen_finish(s->gen, status);
    res = *bn_gen_result_ptr(s->gen);
    bn_gen_end(s->gen);
    s->gen = NULL;
    return res;
}

/* Ends the slot's run: the slot turns idle (its cached tokens kept) before on_finish runs, so
 * that the callback may submit into it. */
static void finish_slot(bitnet_batch *b, int i, int status) {
    batch_slot *s = &b->slots[i];
    if (s->phase == SLOT_IDLE) return;
    bitnet_generate_result res = end_run(s, status);
    s->phase = SLOT_IDLE;
    s->n_tokens = bn_state_seq_n_past(b->state, i); /* what the cache holds */
    if (s->shifted && !s->reusing) { /* a later prompt must not reuse moved entries */
        if (s->n_exact < s->n_tokens) {
            bn_state_seq_truncate(b->state, i, s->n_exact);
            s->n_tokens = s->n_exact;
        }
        s->shifted = false;
    }
    s->reusing = false;
    s->order = ++b->clock;
    if (s->on_finish) s->on_finish(i, status < 0 ? status : 0, &res, s->user_data);
}

BITNET_API void bitnet_batch_free(bitnet_batch *b) {
    if (!b) return;
    for (int i = 0; b->slots && i < b->n_slots; i++) {
        bn_gen_end(b->slots[i].gen);
        if (b->slots[i].pooler) bn_pooler_free(b->slots[i].pooler);
        free(b->slots[i].pooler);
        free(b->slots[i].tokens);
    }
    if (b->state) {
        bn_state_free(b->state);
        atomic_fetch_sub(&b->model->n_sessions, 1);
    }
    free(b->slots);
    free(b->rows);
    free(b->row_gen);
    free(b->row_index);
    free(b->logits);
    free(b->hidden);
    free(b->mask_gens);
    free(b->mask_logits);
    bn_prompt_cache_free(&b->prompt_cache);
    free(b);
}

/* The positions of slot j's cache another request may take as a prompt prefix. */
static int64_t shareable(const bitnet_batch *b, int j) {
    int64_t n = bn_state_seq_n_past(b->state, j);
    return b->slots[j].shifted && b->slots[j].n_exact < n ? b->slots[j].n_exact : n;
}

static int64_t common_prefix(const batch_slot *s, const int32_t *prompt, int n_prompt) {
    return bn_tokens_same_prefix(s->tokens, s->n_tokens, prompt, n_prompt);
}

/* Cache reuse (bitnet_generate_params.n_cache_reuse, llama-server's algorithm): a cache of
 * tokens[0, n) holding prompt[0, keep); from there, each run of at least `min` cache tokens
 * that continues the prompt moves down to where the prompt has it, the cache scanned one
 * position at a time between runs; the prompt's last token is never taken (always evaluated).
 * Calls take(ctx, dst, src, len) for each run that has to move (cache positions [src, src + len)
 * to [dst, dst + len), src > dst; once one moves, every later one does, each destination right
 * after the one before) unless take is NULL; a non-zero return stops there. Returns the prompt
 * tokens the cache then holds. */
static int64_t reuse_runs(const int32_t *tokens, int64_t n, const int32_t *prompt, int n_prompt, int64_t keep, int min,
                          int (*take)(void *ctx, int64_t dst, int64_t src, int64_t len), void *ctx) {
    int64_t c = keep, last = n_prompt - 1; /* c: a position of the cache */
    while (c < n && keep < last) {
        int64_t m = 0;
        while (c + m < n && keep + m < last && tokens[c + m] == prompt[keep + m]) m++;
        if (m < min) {
            c++;
            continue;
        }
        if (c > keep && take && take(ctx, keep, c, m)) break;
        keep += m;
        c += m;
    }
    return keep;
}

/* The prompt tokens idle slot s would hold for a run: the common prefix of its cache, only the
 * exact part without cache reuse (n_cache_reuse 0), with it the runs reuse_runs would move. */
static int64_t slot_offer(const batch_slot *s, const int32_t *prompt, int n_prompt, int n_cache_reuse) {
    int64_t k = common_prefix(s, prompt, n_prompt);
    if (!n_cache_reuse) return s->shifted && k > s->n_exact ? s->n_exact : k;
    if (k > n_prompt - 1) k = n_prompt - 1;
    return n_prompt > 0 ? reuse_runs(s->tokens, s->n_tokens, prompt, n_prompt, k, n_cache_reuse, NULL, NULL) : 0;
}

BITNET_API int bitnet_batch_pick_slot_reuse(const bitnet_batch *b, const int32_t *prompt, int n_prompt, int n_cache_reuse) {
    if (!b || n_prompt < 0 || (n_prompt > 0 && !prompt) || n_cache_reuse < 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_pick_slot: NULL batch/prompt or negative count");
    int best = -1;
    int64_t best_held = -1;
    for (int i = 0; i < b->n_slots; i++) {
        const batch_slot *s = &b->slots[i];
        if (s->phase != SLOT_IDLE) continue;
        int64_t k = slot_offer(s, prompt, n_prompt, n_cache_reuse);
        if (k > best_held || (k == best_held && s->order < b->slots[best].order)) {
            best = i;
            best_held = k;
        }
    }
    return best >= 0 ? best : bn_error(BITNET_ERR_NOT_FOUND, "every one of the %d slots is busy", b->n_slots);
}

BITNET_API int bitnet_batch_pick_slot(const bitnet_batch *b, const int32_t *prompt, int n_prompt) {
    return bitnet_batch_pick_slot_reuse(b, prompt, n_prompt, 0);
}

static int reserve_tokens(batch_slot *s, int64_t n) {
    if (n <= s->cap) return 0;
    int64_t cap = s->cap ? s->cap : 256;
    while (cap < n) cap *= 2;
    int32_t *t = realloc(s->tokens, (size_t)cap * sizeof *t);
    if (!t) return bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory for a slot's %lld tokens", (long long)n);
    s->tokens = t;
    s->cap = cap;
    return 0;
}

static int check_submit(const bitnet_batch *b, int slot, const int32_t *prompt, int n_prompt) {
    if (!b || !prompt || n_prompt < 1)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_submit: NULL batch/prompt or n_prompt < 1");
    if (slot < 0 || slot >= b->n_slots || b->slots[slot].phase != SLOT_IDLE)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_submit: slot %d is %s", slot,
                        slot < 0 || slot >= b->n_slots ? "not a slot of this batch" : "busy");
    int64_t n_ctx = bn_state_n_ctx(b->state);
    if (n_prompt >= n_ctx)
        return bn_error(BITNET_ERR_CONTEXT_EXCEEDED, "the prompt has %d tokens and the slot's context %lld positions: %lld too many",
                        n_prompt, (long long)n_ctx, (long long)(n_prompt - n_ctx + 1));
    return 0;
}

/* Before the slot's cache drops the tokens it holds after `keep` for prompt[0, n_prompt): into
 * the prompt cache, unless it is off or another slot's cache holds them all too. */
static void keep_in_prompt_cache(bitnet_batch *b, int slot, int64_t keep, const int32_t *prompt, int n_prompt) {
    const batch_slot *s = &b->slots[slot];
    int64_t n = shareable(b, slot); /* moved entries are no prompt's */
    if (!b->prompt_cache.limit || b->share_min == INT_MAX || n - keep < b->share_min) return;
    for (int j = 0; j < b->n_slots; j++)
        if (j != slot && bn_tokens_same_prefix(b->slots[j].tokens, shareable(b, j), s->tokens, n) == n) return;
    bn_prompt_cache_keep(&b->prompt_cache, b->state, slot, s->tokens, n, prompt, n_prompt - 1);
}

/* The runs reuse_runs finds to move, for one bn_state_seq_move. */
typedef struct reuse_plan {
    bn_kv_run *runs;
    int n, cap;
} reuse_plan;

static int plan_run(void *ctx, int64_t dst, int64_t src, int64_t len) {
    reuse_plan *p = ctx;
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        bn_kv_run *more = realloc(p->runs, sizeof *more * (size_t)cap);
        if (!more) return BITNET_ERR_OUT_OF_MEMORY; /* the runs so far still move */
        p->runs = more, p->cap = cap;
    }
    p->runs[p->n++] = (bn_kv_run){.dst = dst, .src = src, .n = len};
    return 0;
}

/* The slot's cache after reuse_runs' moves, made in one pass over its KV entries (its token
 * list is read as it was; the prompt replaces it afterwards, and the moved tokens are the
 * prompt's); *exact drops to the first moved position. When the move fails nothing moved: the
 * cache holds the prefix before the first run, the rest is evaluated. */
static int64_t reuse_moved_runs(bitnet_batch *b, int slot, int64_t keep, const int32_t *prompt, int n_prompt, int min, int64_t *exact) {
    batch_slot *s = &b->slots[slot];
    reuse_plan plan = {0};
    int64_t held = reuse_runs(s->tokens, s->n_tokens, prompt, n_prompt, keep, min, plan_run, &plan);
    if (plan.n && bn_state_seq_move(b->state, slot, plan.runs, plan.n)) held = plan.runs[0].dst;
    else if (plan.n && plan.runs[0].dst < *exact) *exact = plan.runs[0].dst;
    free(plan.runs);
    return held;
}

/* Puts the slot into prefill for the prompt and returns how many of its tokens the slot's
 * cache already holds: the common prefix when keep_prefix, else none; at least the prompt's
 * last token is evaluated (its logits or hidden state ends the prefill). */
static int64_t start_prefill(bitnet_batch *b, int slot, const int32_t *prompt, int n_prompt, bool keep_prefix) {
    batch_slot *s = &b->slots[slot];
    int reuse = keep_prefix && s->params ? bn_generate_cache_reuse(s->params) : 0;
    int64_t exact = s->shifted ? s->n_exact : INT64_MAX;
    int64_t keep = keep_prefix ? common_prefix(s, prompt, n_prompt) : 0;
    if (!reuse && keep > exact) keep = exact; /* moved entries only for a run that reuses them */
    if (keep > n_prompt - 1) keep = n_prompt - 1;
    keep_in_prompt_cache(b, slot, keep, prompt, n_prompt);
    if (keep <= exact) exact = INT64_MAX; /* all it keeps is exact; what follows is evaluated */
    if (reuse) keep = reuse_moved_runs(b, slot, keep, prompt, n_prompt, reuse, &exact);
    s->shifted = exact != INT64_MAX;
    s->n_exact = exact;
    s->reusing = reuse > 0;
    bn_state_seq_truncate(b->state, slot, keep);
    memcpy(s->tokens, prompt, (size_t)n_prompt * sizeof *prompt);
    s->n_tokens = keep;
    s->n_prompt_end = n_prompt;
    s->spec_rows = s->spec_used = 0;
    s->phase = SLOT_PREFILL;
    s->order = ++b->clock;
    s->t_submit = s->t_last_step = bn_time_now();
    return keep;
}

/* Room in the logits buffer for `rows` rows (false: none; the drafts are then left out). */
static bool logits_room(bitnet_batch *b, int rows) {
    if (rows <= b->logits_cap) return true;
    float *bigger = realloc(b->logits, (size_t)rows * (size_t)b->n_vocab * sizeof(float));
    if (!bigger) return false;
    b->logits = bigger;
    b->logits_cap = rows;
    return true;
}

BITNET_API int bitnet_batch_submit(bitnet_batch *b, int slot, const int32_t *prompt, int n_prompt, const bitnet_generate_params *params,
                                   bitnet_batch_finish_callback on_finish) {
    int rc = check_submit(b, slot, prompt, n_prompt);
    if (rc) return rc;
    batch_slot *s = &b->slots[slot];
    bn_gen *g;
    if ((rc = reserve_tokens(s, n_prompt)) || (rc = bn_gen_create(b->model, bn_state_n_ctx(b->state), prompt, n_prompt, params, &g))) return rc;
    bool scored = bn_gen_scores_prompt(g);
    if (scored && !logits_room(b, b->n_slots + SCORED_ROWS)) {
        bn_gen_end(g);
        return bn_error(BITNET_ERR_OUT_OF_MEMORY, "bitnet_batch_submit: no memory for the prompt's logits rows");
    }
    s->gen = g;
    s->params = params;
    bn_gen_result_ptr(g)->n_cached = (int)start_prefill(b, slot, prompt, n_prompt, !scored);
    s->user_data = params->user_data;
    s->on_finish = on_finish;
    return 0;
}

BITNET_API int bitnet_batch_submit_embed(bitnet_batch *b, int slot, const int32_t *prompt, int n_prompt, bitnet_pooling pooling,
                                         float *out, bitnet_batch_finish_callback on_finish, void *user_data) {
    int rc = check_submit(b, slot, prompt, n_prompt);
    if (!rc && !out) rc = bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_submit_embed: out is NULL");
    if (rc) return rc;
    batch_slot *s = &b->slots[slot];
    bn_pooler *pool = bn_calloc(1, sizeof *pool, "pooling");
    if (!pool) return BITNET_ERR_OUT_OF_MEMORY;
    if ((rc = reserve_tokens(s, n_prompt)) || (rc = bn_pooler_init(pool, pooling, b->model->m->hp.n_embd, n_prompt, out))) {
        free(pool);
        return rc;
    }
    s->pooler = pool;
    s->params = NULL;
    memset(&s->embed_result, 0, sizeof s->embed_result);
    s->embed_result.struct_size = sizeof s->embed_result;
    s->embed_result.n_prompt = n_prompt;
    s->embed_result.n_cached = (int)start_prefill(b, slot, prompt, n_prompt, pooling == BITNET_POOLING_LAST);
    s->user_data = user_data;
    s->on_finish = on_finish;
    return 0;
}

static void add_row(bitnet_batch *b, int *n, int slot, int32_t token, bool logits) {
    b->rows[*n] = (bn_batch_row){.token = token, .seq = slot, .logits = logits,
                                 .head = logits ? bn_gen_head_req(b->slots[slot].gen) : NULL};
    b->row_gen[*n] = b->slots[slot].gen;
    b->row_index[*n] = 0;
    (*n)++;
}

/* After generating slot i's row (its fed token, the last of its tokens): draft rows from its
 * text, while the step (`room` rows left), the context and the logits buffer (every slot's
 * row and a full step of drafts) allow. */
static void add_draft_rows(bitnet_batch *b, int *n, int i, int *room) {
    batch_slot *s = &b->slots[i];
    int max = bn_gen_draft_len(s->gen);
    int64_t ctx_left = bn_state_n_ctx(b->state) - s->n_tokens;
    if (max > *room) max = *room;
    if (max > ctx_left) max = (int)ctx_left;
    if (max <= 0 || reserve_tokens(s, s->n_tokens + max + 1) || !logits_room(b, b->n_slots + b->n_batch)) return;
    int32_t draft[BN_LOOKUP_DRAFT_MAX];
    int k = bn_gen_draft(s->gen, s->tokens, s->n_tokens, draft, max);
    const bn_head_req *req = bn_gen_draft_head_req(s->gen);
    for (int j = 0; j < k; j++) {
        s->tokens[s->n_tokens++] = draft[j];
        b->rows[*n] = (bn_batch_row){.token = draft[j], .seq = i, .logits = true, .head = req};
        b->row_gen[*n] = s->gen;
        b->row_index[(*n)++] = j + 1;
    }
    s->spec_rows += k;
    *room -= k;
}

/* Prompt row `pos` of a generation that scores its prompt: every logit, for the token after it. */
static void add_scored_row(bitnet_batch *b, int *n, int slot, int64_t pos) {
    b->rows[*n] = (bn_batch_row){.token = b->slots[slot].tokens[pos], .seq = slot, .logits = true};
    b->row_gen[*n] = b->slots[slot].gen;
    b->row_index[*n] = -(int)(pos + 1);
    (*n)++;
}

/* A prompt row of an embedding: its hidden state when the pooling reads it. */
static void add_embed_row(bitnet_batch *b, int *n, int slot, int32_t token, int index) {
    b->rows[*n] = (bn_batch_row){.token = token, .seq = slot, .hidden = bn_pooler_wants(b->slots[slot].pooler, index)};
    b->row_gen[*n] = NULL;
    b->row_index[*n] = index;
    (*n)++;
}

/* Generating slot i's full context: shifted when its run asks for it (0), else the stop
 * reason or error that ends the run. */
static int shift_slot(bitnet_batch *b, int i) {
    batch_slot *s = &b->slots[i];
    int64_t keep, drop;
    if (!bn_gen_shift_span(s->gen, s->n_tokens, bn_state_n_ctx(b->state), s->n_prompt_end, &keep, &drop)) return BITNET_STOP_CONTEXT_FULL;
    int rc = bn_state_seq_shift(b->state, i, keep, drop);
    if (rc) return rc;
    memmove(s->tokens + keep, s->tokens + keep + drop, (size_t)(s->n_tokens - keep - drop) * sizeof *s->tokens);
    s->n_tokens -= drop;
    if (!s->shifted || keep < s->n_exact) s->n_exact = keep;
    s->shifted = true;
    bn_gen_note_shift(s->gen, drop);
    return 0;
}

/* One row per generating slot: the token it sampled last (a full context ends the run), and
 * draft rows after it (lookup_draft) in at most half the step's room beyond those (the rest
 * stays for prompt rows). */
static int add_decode_rows(bitnet_batch *b) {
    int n = 0, generating = 0;
    int64_t n_ctx = bn_state_n_ctx(b->state);
    for (int i = 0; i < b->n_slots; i++) generating += b->slots[i].phase == SLOT_DECODE;
    int room = (b->n_batch - generating) / 2;
    for (int i = 0; i < b->n_slots; i++) {
        batch_slot *s = &b->slots[i];
        if (s->phase != SLOT_DECODE) continue;
        int full = s->n_tokens >= n_ctx ? shift_slot(b, i) : 0;
        if (full) {
            finish_slot(b, i, full);
            continue;
        }
        int32_t tok = bn_gen_pending(s->gen);
        s->spec_base = s->n_tokens;
        s->spec_rows = 1;
        s->spec_used = 0;
        s->tokens[s->n_tokens++] = tok; /* room: reserved when it was sampled */
        add_row(b, &n, i, tok, true);
        if (room > 0) add_draft_rows(b, &n, i, &room);
    }
    return n;
}

/* The oldest prefilling slot not yet in this step, or -1. */
static int next_prefill(const bitnet_batch *b, const bool *taken) {
    int best = -1;
    for (int i = 0; i < b->n_slots; i++)
        if (b->slots[i].phase == SLOT_PREFILL && !taken[i] && (best < 0 || b->slots[i].order < b->slots[best].order)) best = i;
    return best;
}

/* Copies into prefilling generation i the longest continuation of its prompt held by another
 * slot's cache (rows added to this step are not in yet: up to n_past) or the prompt cache,
 * when the prefix shared is at least share_min tokens (not a chat template's first few). The
 * prompt's last token is always i's own (its logits). */
static void take_shared_prefix(bitnet_batch *b, int i) {
    batch_slot *s = &b->slots[i];
    int64_t last = s->n_prompt_end - 1, best = s->n_tokens;
    int donor = -1, image;
    for (int j = 0; j < b->n_slots; j++) {
        int64_t held = j == i ? 0 : bn_tokens_same_prefix(b->slots[j].tokens, shareable(b, j), s->tokens, last);
        if (held > best) best = held, donor = j;
    }
    int64_t kept = bn_prompt_cache_match(&b->prompt_cache, s->tokens, last, &image);
    int rc = -1;
    if (kept > best && kept >= b->share_min) {
        rc = bn_prompt_cache_restore(&b->prompt_cache, b->state, image, i, s->n_tokens, kept);
        best = kept;
    } else if (donor >= 0 && best >= b->share_min) {
        rc = bn_state_kv_transfer(b->state, (bn_kv_ref){.seq = i}, (bn_kv_ref){.seq = donor}, s->n_tokens, best);
    }
    if (rc == 0) {
        bn_gen_result_ptr(s->gen)->n_cached += (int)(best - s->n_tokens);
        s->n_tokens = best;
    }
}

/* Whether prefilling slot i is to wait: an older prefilling request will evaluate positions of
 * a prefix (of share_min tokens or more) they share that i does not hold yet. */
static bool wait_for_older(const bitnet_batch *b, int i) {
    const batch_slot *s = &b->slots[i];
    for (int j = 0; j < b->n_slots; j++) {
        const batch_slot *t = &b->slots[j];
        if (j == i || t->phase != SLOT_PREFILL || t->order > s->order) continue;
        int64_t shared = bn_tokens_same_prefix(t->tokens, t->n_prompt_end, s->tokens, s->n_prompt_end - 1);
        if (shared >= b->share_min && shared > s->n_tokens) return true;
    }
    return false;
}

/* Shared prompt prefixes (see the top) for a prefilling slot: true when it is to add no rows
 * to this step. Generations only (an embedding needs every token's hidden state). */
static bool share_prefix(bitnet_batch *b, int i) {
    if (!b->slots[i].gen || b->share_min == INT_MAX || bn_gen_scores_prompt(b->slots[i].gen)) return false;
    take_shared_prefix(b, i);
    return wait_for_older(b, i);
}

/* How many of `take` rows a generation scoring its prompt may add to the step's n rows: as
 * many as the logits buffer holds besides those rows' logits and one row for every other slot. */
static int scored_take(const bitnet_batch *b, int n, int take) {
    int spare = b->logits_cap - (b->n_slots - 1);
    for (int r = 0; r < n; r++) spare -= b->rows[r].logits;
    return take < spare ? take : spare > 0 ? spare : 0;
}

/* Prompt rows, oldest request first, while the step has room. */
static int add_prefill_rows(bitnet_batch *b, int n) {
    bool taken[MAX_SLOTS] = {false};
    for (int i; n < b->n_batch && (i = next_prefill(b, taken)) >= 0;) {
        batch_slot *s = &b->slots[i];
        taken[i] = true;
        if (share_prefix(b, i)) continue;
        int64_t left = s->n_prompt_end - s->n_tokens, last = s->n_prompt_end - 1;
        int take = left < b->n_batch - n ? (int)left : b->n_batch - n;
        bool scored = s->gen && bn_gen_scores_prompt(s->gen);
        if (scored) take = scored_take(b, n, take);
        if (s->gen) s->prompt_rows = take;
        for (int k = 0; k < take; k++, s->n_tokens++)
            if (s->pooler) add_embed_row(b, &n, i, s->tokens[s->n_tokens], (int)s->n_tokens);
            else if (scored && s->n_tokens < last) add_scored_row(b, &n, i, s->n_tokens);
            else add_row(b, &n, i, s->tokens[s->n_tokens], s->n_tokens == last);
    }
    return n;
}

/* Puts the slot's tokens back to what its cache holds after a failed pass. */
static void rewind_slots(bitnet_batch *b) {
    for (int i = 0; i < b->n_slots; i++) {
        if (b->slots[i].phase != SLOT_IDLE) b->slots[i].n_tokens = bn_state_seq_n_past(b->state, i);
        b->slots[i].spec_rows = b->slots[i].spec_used = b->slots[i].prompt_rows = 0;
    }
}

/* Timings of a slot whose row got logits in this step. */
static void account_step(batch_slot *s, double now) {
    bitnet_generate_result *r = bn_gen_result_ptr(s->gen);
    if (s->phase == SLOT_PREFILL) {
        r->prefill_seconds = now - s->t_submit;
        s->phase = SLOT_DECODE;
    } else {
        r->decode_seconds += now - s->t_last_step;
    }
    if (r->n_generated == 0) r->time_to_first_token_seconds = now - s->t_submit;
    s->t_last_step = now;
}

/* The constraint masks of the rows about to be sampled, all at once on the batch's threads (the
 * threads are idle between passes; the masks are the costly part of sampling). */
static void mask_rows(bitnet_batch *b, int n) {
    int k = 0, m = 0;
    for (int r = 0; r < n; r++) {
        if (!b->rows[r].logits) continue;
        const float *logits = b->logits + (int64_t)k++ * b->n_vocab;
        batch_slot *s = &b->slots[b->rows[r].seq];
        if (s->phase == SLOT_IDLE || s->gen != b->row_gen[r] || b->row_index[r] != 0) continue; /* a draft row's mask follows the tokens before; a scored prompt row has none */
        b->mask_gens[m] = s->gen;
        b->mask_logits[m++] = logits;
    }
    bn_gen_constraint_masks(b->mask_gens, b->mask_logits, m, bn_state_pool(b->state));
}

/* A draft row is sampled from only when the token sampled from the row before it was its
 * draft token (it is the row's token; the slot's pending one). */
static bool draft_row_live(const bitnet_batch *b, int r) {
    const batch_slot *s = &b->slots[b->rows[r].seq];
    return s->spec_used == b->row_index[r] && s->phase == SLOT_DECODE && bn_gen_pending(s->gen) == b->rows[r].token;
}

/* A generating slot whose step had draft rows: its cache and tokens drop the rows past the
 * last one sampled from (those held draft tokens that were not drawn). */
static void drop_unused_drafts(bitnet_batch *b) {
    for (int i = 0; i < b->n_slots; i++) {
        batch_slot *s = &b->slots[i];
        if (s->phase == SLOT_DECODE && s->spec_rows > s->spec_used && s->spec_used > 0) {
            bn_state_seq_truncate(b->state, i, s->spec_base + s->spec_used);
            s->n_tokens = s->spec_base + s->spec_used;
        }
        s->spec_rows = s->spec_used = 0;
    }
}

/* Samples for every logits row of the pass (rows whose run ended meanwhile are skipped). */
static void sample_rows(bitnet_batch *b, int n) {
    double now = bn_time_now();
    int k = 0;
    mask_rows(b, n);
    for (int r = 0; r < n; r++) {
        if (!b->rows[r].logits) continue;
        const float *logits = b->logits + (int64_t)k++ * b->n_vocab;
        int i = b->rows[r].seq;
        batch_slot *s = &b->slots[i];
        if (s->phase == SLOT_IDLE || s->gen != b->row_gen[r]) continue; /* cancelled by a callback */
        if (b->row_index[r] < 0) { /* a scored prompt row */
            int pos = -b->row_index[r], why = bn_gen_prompt_logits(s->gen, pos, s->tokens[pos], logits);
            if (why) finish_slot(b, i, why);
            continue;
        }
        if (b->row_index[r] > 0 && !draft_row_live(b, r)) continue;
        if (b->row_index[r] > 0) bn_gen_draft_taken(s->gen);
        s->spec_used++;
        account_step(s, now);
        int32_t tok;
        int why = reserve_tokens(s, s->n_tokens + 1);
        if (!why) why = bn_gen_sample(s->gen, logits, &tok);
        if (why) finish_slot(b, i, why);
    }
}

/* on_prompt_progress of the generations whose prompt rows the pass evaluated (before the
 * sampling: the last report comes before the first token). */
static void report_progress(bitnet_batch *b) {
    for (int i = 0; i < b->n_slots; i++) {
        batch_slot *s = &b->slots[i];
        if (!s->prompt_rows) continue;
        s->prompt_rows = 0;
        int why = s->phase != SLOT_IDLE ? bn_gen_prompt_progress(s->gen, (int)s->n_tokens) : 0;
        if (why) finish_slot(b, i, why);
    }
}

/* Hands every hidden-state row of the pass to its embedding's pooler; an embedding whose
 * prompt is all evaluated ends (before the sampling: its callback may submit into the slot). */
static void pool_rows(bitnet_batch *b, int n) {
    int k = 0;
    int64_t n_embd = b->model->m->hp.n_embd;
    for (int r = 0; r < n; r++) {
        if (!b->rows[r].hidden) continue;
        bn_pooler_add(b->slots[b->rows[r].seq].pooler, b->row_index[r], b->hidden + k++ * n_embd);
    }
    double now = bn_time_now();
    for (int i = 0; i < b->n_slots; i++) {
        batch_slot *s = &b->slots[i];
        if (!s->pooler || s->n_tokens < s->n_prompt_end) continue;
        s->embed_result.prefill_seconds = now - s->t_submit;
        finish_slot(b, i, BITNET_STOP_MAX_TOKENS);
    }
}

BITNET_API int bitnet_batch_step(bitnet_batch *b) {
    if (!b) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_step: batch is NULL");
    int n = add_prefill_rows(b, add_decode_rows(b));
    if (n > 0) {
        int rc = bn_state_eval_rows(b->state, b->rows, n, b->logits, b->hidden);
        if (rc) {
            rewind_slots(b);
            for (int i = 0; i < b->n_slots; i++) finish_slot(b, i, rc);
            return rc;
        }
        pool_rows(b, n);
        report_progress(b);
        sample_rows(b, n);
        drop_unused_drafts(b);
    }
    int busy = 0;
    for (int i = 0; i < b->n_slots; i++) busy += b->slots[i].phase != SLOT_IDLE;
    return busy;
}

BITNET_API int bitnet_batch_cancel(bitnet_batch *b, int slot) {
    if (!b || slot < 0 || slot >= b->n_slots || b->slots[slot].phase == SLOT_IDLE)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_cancel: slot %d is not busy", slot);
    finish_slot(b, slot, BITNET_STOP_CALLBACK);
    return 0;
}

static int check_idle_slot(const bitnet_batch *b, int slot, const char *who) {
    if (!b || slot < 0 || slot >= b->n_slots || b->slots[slot].phase != SLOT_IDLE)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "%s: slot %d is not an idle slot of this batch", who, slot);
    return 0;
}

BITNET_API int bitnet_batch_slot_result(const bitnet_batch *b, int slot, bitnet_generate_result *out) {
    if (!b || slot < 0 || slot >= b->n_slots || b->slots[slot].phase == SLOT_IDLE || !b->slots[slot].gen)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_slot_result: slot %d is not generating in this batch", slot);
    if (!out || out->struct_size < offsetof(bitnet_generate_result, stop_string_index))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_slot_result: set out->struct_size to sizeof(bitnet_generate_result)");
    bn_gen_result(b->slots[slot].gen, out);
    return 0;
}

/* check_idle_slot, and a path given. */
static int check_slot_file(const bitnet_batch *b, int slot, const char *path, const char *who) {
    int rc = check_idle_slot(b, slot, who);
    return rc || path ? rc : bn_error(BITNET_ERR_INVALID_ARGUMENT, "%s: path is NULL", who);
}

BITNET_API int bitnet_batch_clear_slot(bitnet_batch *b, int slot) {
    int rc = check_idle_slot(b, slot, "bitnet_batch_clear_slot");
    if (rc) return rc;
    bn_state_seq_truncate(b->state, slot, 0);
    b->slots[slot].n_tokens = 0;
    b->slots[slot].shifted = false;
    return 0;
}

/* The model's fingerprint for slot files, computed on first use (it hashes samples of every matrix). */
static const uint8_t *fingerprint(bitnet_batch *b) {
    if (!b->fingerprinted) bn_slot_fingerprint(b->model->m, b->fingerprint);
    b->fingerprinted = true;
    return b->fingerprint;
}

BITNET_API int64_t bitnet_batch_slot_tokens(const bitnet_batch *b, int slot) {
    int rc = check_idle_slot(b, slot, "bitnet_batch_slot_tokens");
    return rc ? rc : b->slots[slot].n_tokens;
}

BITNET_API int64_t bitnet_batch_slot_save(bitnet_batch *b, int slot, const char *path, uint64_t *bytes) {
    int rc = check_slot_file(b, slot, path, "bitnet_batch_slot_save");
    int64_t n = rc ? 0 : shareable(b, slot); /* a file's entries are taken as exact: none moved (n_cache_reuse) */
    if (!rc) rc = bn_slot_file_write(b->model->m, fingerprint(b), b->state, slot, b->slots[slot].tokens, n, path, bytes);
    return rc ? rc : n;
}

BITNET_API int64_t bitnet_batch_slot_restore(bitnet_batch *b, int slot, const char *path, uint64_t *bytes) {
    int rc = check_slot_file(b, slot, path, "bitnet_batch_slot_restore");
    if (rc) return rc;
    batch_slot *s = &b->slots[slot];
    int32_t *tokens;
    int64_t n;
    bn_state_seq_truncate(b->state, slot, 0); /* the file's entries overwrite the cache: nothing of it stays valid */
    s->n_tokens = 0;
    s->shifted = false; /* a file holds no moved entries */
    if ((rc = bn_slot_file_read(b->model->m, fingerprint(b), b->state, slot, path, &tokens, &n, bytes)) || (rc = reserve_tokens(s, n))) {
        free(tokens);
        return rc;
    }
    if (n) memcpy(s->tokens, tokens, sizeof *tokens * (size_t)n); /* an empty slot may have no token buffer yet */
    free(tokens);
    s->n_tokens = n;
    s->order = ++b->clock;
    bn_state_seq_set_n_past(b->state, slot, n);
    return n;
}

BITNET_API int bitnet_batch_describe(const bitnet_batch *b, bitnet_batch_desc *out) {
    if (!b || !out || out->struct_size < offsetof(bitnet_batch_desc, kv_type_k))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_batch_describe: NULL or struct_size < sizeof(bitnet_batch_desc)");
    size_t size = out->struct_size < sizeof *out ? out->struct_size : sizeof *out;
    memset(out, 0, size);
    out->struct_size = size;
    if (BN_API_HAS_FIELD(size, bitnet_batch_desc, kv_type_v)) {
        out->kv_type_k = bn_api_kv_type_public(bn_state_kv_type_k(b->state));
        out->kv_type_v = bn_api_kv_type_public(bn_state_kv_type_v(b->state));
    }
    if (BN_API_HAS_FIELD(size, bitnet_batch_desc, head_rows_plain)) {
        bn_head_stats hs = bn_state_head_stats(b->state);
        out->head_rows_screened = hs.screened;
        out->head_candidate_rows = hs.candidates;
        out->head_rows_fallback = hs.fallbacks;
        out->head_rows_plain = hs.plain;
    }
    if (BN_API_HAS_FIELD(size, bitnet_batch_desc, prompt_cache_tokens_restored)) {
        out->prompt_cache_used = b->prompt_cache.used;
        out->prompt_cache_entries = (uint64_t)b->prompt_cache.n;
        out->prompt_cache_tokens_restored = b->prompt_cache.restored;
    }
    out->n_slots = b->n_slots;
    out->n_batch = b->n_batch;
    out->n_threads = bn_state_n_threads(b->state);
    out->n_ctx = bn_state_n_ctx(b->state);
    out->kv_cache_bytes = bn_state_kv_bytes(b->state);
    out->scratch_bytes = bn_state_scratch_bytes(b->state);
    for (int i = 0; i < b->n_slots; i++) out->n_busy += b->slots[i].phase != SLOT_IDLE;
    return 0;
}
