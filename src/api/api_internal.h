/* api_internal: what the public handles hold, shared by the API modules (api.c and the
 * generation / compatibility layers built on it). */
#ifndef BITNET_API_INTERNAL_H
#define BITNET_API_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>

#include "bitnet.h"
#include "text/token_constraint.h"
#include "model/forward.h"
#include "model/model.h"
#include "text/tokenizer.h"
#include "debug/trace.h"

struct bitnet_model {
    bn_model *m;
    bn_tokenizer *tokenizer;   /* NULL when the file has none and none was given */
    atomic_int n_sessions;     /* sessions alive; the model cannot be closed before they are */
    pthread_mutex_t lazy_lock; /* guards what is made on first use: constraint_vocab, dry_default */
    bn_constraint_vocab *constraint_vocab; /* the pieces JSON constraints read; made on first use, then read-only */
    /* DRY's default sequence breakers ("\n", ":", "\"", "*") as token sequences
     * (bn_dry_breaker_sequences: ~12 ms over a 128k vocabulary, so made once, on first use,
     * then read-only): dry_default_count of them, dry_default_lens[i] ids each, one after another. */
    int32_t *dry_default_tokens;
    int *dry_default_lens;
    int dry_default_count;
    bool dry_default_made;
};

/* The model's vocabulary for constraints, made on the first call (any thread), with its byte
 * order (for grammars) the first time byte_order asks for it. NULL with the last error set. */
const bn_constraint_vocab *bn_model_constraint_vocab(bitnet_model *model, bool byte_order);

/* DRY's default breaker sequences over the model's vocabulary (see dry_default_tokens), made on
 * the first call (any thread). 0, or BITNET_ERR_OUT_OF_MEMORY. */
int bn_model_dry_default_breakers(bitnet_model *model, const int32_t **tokens, const int **lens, int *count);

struct bitnet_session {
    bitnet_model *model;
    bn_state *state;
    bn_tracer *tracer;         /* owned; NULL when tracing is off */
    pthread_mutex_t lock;      /* serializes the calls made on this session */
};

/* Generation in steps, so that a caller can pull tokens one at a time (the compatibility
 * layer's streams) as well as run the whole loop (bitnet_session_generate). The caller
 * serializes the calls of one run and holds session->lock during begin and each step. */
typedef struct bn_gen bn_gen;
/* Validates p (which must outlive the run), appends the prompt to the session and evaluates
 * it. full_logits: every logit of every draw is wanted (bn_gen_logits), so the screened head
 * is not used. Returns 0 and *out, or a negative status (nothing to free). */
int bn_gen_begin(bitnet_session *s, const int32_t *prompt, int n_prompt, const bitnet_generate_params *p, bool full_logits,
                 bn_gen **out);
/* Samples one token (evaluating the previous one first), hands its text to p->on_token and
 * checks the stop conditions. Returns 0 when generation goes on, a bitnet_stop_reason (> 0)
 * when it ended (the held-back text has then been flushed to on_token), or a negative
 * status. *token receives the id sampled (-1 when none was). After the end, further steps
 * return the same stop reason. */
int bn_gen_step(bn_gen *g, int32_t *token);
/* p's n_cache_reuse (0 when off or its struct_size predates the field). */
int bn_generate_cache_reuse(const bitnet_generate_params *p);
/* A run whose tokens someone else evaluates (a batch slot): validates p, creates the sampler
 * (which sees the prompt for its penalties), stop matcher and detokenizer; evaluates nothing. */
int bn_gen_create(const bitnet_model *model, int64_t n_ctx, const int32_t *prompt, int n_prompt, const bitnet_generate_params *p,
                  bn_gen **out);
/* Samples the next token from `logits` (the distribution after the last fed token) and does
 * what bn_gen_step does after its evaluation. Returns like bn_gen_step. */
int bn_gen_sample(bn_gen *g, const float *logits, int32_t *token);
/* The constraint masks of the runs gens[0, n) (NULL entries and runs without a constraint
 * are skipped) for the logits each will sample from next: from the likeliest tokens where
 * they settle the draw (api_generate.c), else over the whole vocabulary, those computed
 * together on pool (NULL: the calling thread); the next bn_gen_sample of each with those
 * logits uses its mask. */
void bn_gen_constraint_masks(bn_gen *const *gens, const float *const *logits, int n, bn_threadpool *pool);
/* The token sampled last that must be fed before the next sample (-1: none / finished). */
/* context_shift: the span [*keep, *keep + *drop) a run's full context of n_past positions drops
 * (llama.cpp's choice: n_keep, -1 meaning prompt_end, capped at n_ctx - 4; n_discard, 0
 * meaning half of the rest; at least one position and never all of the rest); false when
 * the run does not shift. bn_gen_note_shift records a shift of `drop` positions. */
bool bn_gen_shift_span(const bn_gen *g, int64_t n_past, int64_t n_ctx, int64_t prompt_end, int64_t *keep, int64_t *drop);
void bn_gen_note_shift(bn_gen *g, int64_t drop);
int32_t bn_gen_pending(const bn_gen *g);
/* Whether the run wants its prompt's log-probabilities (on_prompt_logits), and the call that
 * hands it position's logits: 0, or BITNET_STOP_CALLBACK when the callback stopped the run. */
bool bn_gen_scores_prompt(const bn_gen *g);
int bn_gen_prompt_logits(bn_gen *g, int position, int32_t token, const float *logits);
/* on_prompt_progress with n_done of the prompt's tokens in the cache: 0 (also without the
 * callback), or BITNET_STOP_CALLBACK when it stopped the run. */
int bn_gen_prompt_progress(bn_gen *g, int n_done);
/* Ends the run with stop reason `why` (> 0) unless it has ended, flushing the held text. */
void bn_gen_finish(bn_gen *g, int why);
/* The run's result, for an engine that keeps its timings. */
bitnet_generate_result *bn_gen_result_ptr(bn_gen *g);
/* How the logits of this run's next draw may be computed (model/head_screen.h; NULL: all of
 * them); valid until the next call. */
const bn_head_req *bn_gen_head_req(bn_gen *g);
/* lookup_draft / prediction (speculative decoding): the run's draft length (0: off); its draft
 * for text[0, n) (everything so far, the last token being the one fed back next): from the
 * prediction, else by prompt lookup (text/lookup.h), at most max tokens into draft (fewer
 * after drafts refused whole, api_generate.c's adapt_draft), counted in the result; a token of the last draft sampled as drafted (counted); and the head request of
 * a draft row: the step's request when it does not depend on the step (a Gumbel draw's key
 * does, and so do penalized ids, which follow the tokens before), else NULL (whole rows). */
int bn_gen_draft_len(const bn_gen *g);
int bn_gen_draft(bn_gen *g, const int32_t *text, int64_t n, int32_t *draft, int max);
void bn_gen_draft_taken(bn_gen *g);
const bn_head_req *bn_gen_draft_head_req(bn_gen *g);
/* The logits [n_vocab] the last token was sampled from; valid until the next step. With the
 * screened head, tokens that could not be drawn are -inf (unless full_logits was asked for). */
const float *bn_gen_logits(const bn_gen *g);
int64_t bn_gen_n_vocab(const bn_gen *g);
/* Timings and counts so far (stop_reason 0 while running). */
void bn_gen_result(const bn_gen *g, bitnet_generate_result *out);
void bn_gen_end(bn_gen *g); /* NULL is accepted */

/* Pools the hidden-state rows of one embedding request (api_embed.c). Row `index` is the
 * request's token index (0 .. n_tokens-1); rows may come in chunks, in order. */
typedef struct bn_pooler {
    bitnet_pooling pooling;
    int64_t n_embd;
    int n_tokens;
    float *out;                /* the caller's: [n_embd], or [n_tokens][n_embd] for NONE */
    double *sum;               /* [n_embd]: MEAN's running sum */
} bn_pooler;
/* BITNET_ERR_INVALID_ARGUMENT for an unknown pooling, OUT_OF_MEMORY. */
int bn_pooler_init(bn_pooler *p, bitnet_pooling pooling, int64_t n_embd, int n_tokens, float *out);
bool bn_pooler_wants(const bn_pooler *p, int index); /* does the pooling read this row? */
void bn_pooler_add(bn_pooler *p, int index, const float *row);
void bn_pooler_finish(bn_pooler *p); /* writes MEAN's mean, then frees what init allocated */
void bn_pooler_free(bn_pooler *p);   /* without a result (a cancelled request) */
/* Slot files (api_slot.c): sequence seq's tokens[0, n) and their KV entries to path (removed
 * again on failure; *bytes: the file's size), and back: the tokens (malloc'd) and the KV
 * entries of a file saved from the same model (fp: bn_slot_fingerprint's, computed once by
 * the caller), cache types and numerics. On a read failure the sequence's cache memory may be
 * overwritten: the caller resets the sequence. */
void bn_slot_fingerprint(const bn_model *m, uint8_t out[32]);
int bn_slot_file_write(const bn_model *m, const uint8_t *fp, bn_state *s, int seq, const int32_t *tokens, int64_t n_tokens,
                       const char *path, uint64_t *bytes);
int bn_slot_file_read(const bn_model *m, const uint8_t *fp, bn_state *s, int seq, const char *path, int32_t **tokens,
                      int64_t *n_tokens, uint64_t *bytes);
/* A batch's prompt cache in host memory (api_prompt_cache.c): images of sequences' tokens
 * and KV entries, at most `limit` bytes. */
typedef struct bn_prompt_image bn_prompt_image;
typedef struct bn_prompt_cache {
    bn_prompt_image *images;
    int n, cap;
    uint64_t limit, used, clock, restored;
} bn_prompt_cache;
int64_t bn_tokens_same_prefix(const int32_t *a, int64_t n_a, const int32_t *b, int64_t n_b);
void bn_prompt_cache_free(bn_prompt_cache *c);
/* Keeps sequence seq's positions [0, n) (tokens[0, n)) unless an image holds them already;
 * images they extend are dropped. The image that next[0, n_next) (the prompt about to take
 * the sequence) matches best is not dropped for room. Without room (or memory) nothing is kept. */
void bn_prompt_cache_keep(bn_prompt_cache *c, bn_state *s, int seq, const int32_t *tokens, int64_t n, const int32_t *next,
                          int64_t n_next);
/* The image sharing the longest prefix with prompt[0, n): that length, and *image (-1: none). */
int64_t bn_prompt_cache_match(const bn_prompt_cache *c, const int32_t *prompt, int64_t n, int *image);
/* Copies positions [from, to) of an image into sequence seq (which holds [0, from) of the
 * same tokens); it then holds `to`. */
int bn_prompt_cache_restore(bn_prompt_cache *c, bn_state *s, int image, int seq, int64_t from, int64_t to);
bn_act_quant bn_api_resolve_act_quant(const bn_model *m, bitnet_act_quant q);
/* The KV cache types of a versioned params struct: its kv_type_k / kv_type_v when struct_size
 * covers them (else DEFAULT), resolved into *k, *v. BITNET_ERR_INVALID_ARGUMENT for an
 * unknown value ("who" names the call). */
int bn_api_kv_types(const void *params, size_t struct_size, size_t offset_k, const char *who, bn_kv_type *k, bn_kv_type *v);
bitnet_kv_type bn_api_kv_type_public(bn_kv_type t);
/* Versioned structs: the size of the first version ends where the KV type fields begin. */
#define BN_API_HAS_FIELD(size, type, field) ((size) >= offsetof(type, field) + sizeof(((type *)0)->field))

#endif
