/* bitnet.h: the public C API of libbitnet, an inference engine for BitNet b1.58
 * ternary-weight language models. This is the only public header; docs/C_API.md has the
 * guide. Link with `pkg-config --cflags --libs bitnet` (C11; libc, libm and pthreads only).
 *
 * Two layers:
 *  - the core API (bitnet_model *, bitnet_session *, *_params structs filled by
 *    *_default_params()): sessions keep their own KV cache, tokens and logits are explicit;
 *  - the compatibility API (int ids, BitNetC* structs: BitNet-rs's C API names, backed by the
 *    real engine), built on the core API, with token-level and logits additions.
 *
 * Smallest complete program (compatibility API):
 *
 *     #include <bitnet.h>
 *     #include <stdio.h>
 *     int main(void) {
 *         int model = bitnet_model_load("model.gguf");
 *         if (model < 0) { fprintf(stderr, "%s\n", bitnet_get_last_error()); return 1; }
 *         BitNetCInferenceConfig cfg = bitnet_inference_config_default();
 *         cfg.do_sample = 0;                       // greedy
 *         cfg.max_new_tokens = 32;
 *         char out[4096];
 *         if (bitnet_inference_with_config(model, "The capital of France is", &cfg, out, sizeof out) >= 0)
 *             printf("%s\n", out);
 *         bitnet_model_free(model);
 *         return 0;
 *     }
 *
 * The same with the core API, keeping the KV cache for a next turn:
 *
 *     bitnet_model *m;  bitnet_session *s;  int32_t ids[256], out[32];
 *     bitnet_model_open("model.gguf", NULL, &m);
 *     bitnet_session_create(m, NULL, &s);
 *     int n = bitnet_model_tokenize(m, text, strlen(text), 1, 1, ids, 256);
 *     bitnet_generate_params gp = bitnet_generate_default_params();
 *     gp.on_token = print_piece;                   // int (*)(int32_t, const char *, size_t, void *)
 *     bitnet_session_generate(s, ids, n, &gp, out, 32, NULL);
 *     // next turn: the last generated token (not fed back yet), then the new text
 *     bitnet_session_generate(s, next_turn, n2, &gp, out, 32, NULL);  // only the new tokens are evaluated
 *     bitnet_session_free(s);  bitnet_model_close(m);
 *
 * Conventions: functions return 0 (or a count / positive id) on success and a negative
 * bitnet_status otherwise, and then bitnet_get_last_error() (per thread) says why. No call
 * crashes on NULL pointers, bad ids or short buffers. Structs with a struct_size field are
 * versioned by it (new fields are only added at the end); the BitNetC* structs have a fixed
 * layout per BITNET_ABI_VERSION.
 *
 * Threads: a bitnet_model is read-only after opening and may be shared by any number of
 * threads; each session has its own KV cache, scratch and thread pool, so sessions run in
 * parallel; calls on one session are serialized by its lock (they never overlap). The
 * compatibility API is thread-safe throughout (see its section). */
#ifndef BITNET_H
#define BITNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define BITNET_API __declspec(dllexport)
#elif defined(__GNUC__)
#define BITNET_API __attribute__((visibility("default")))
#else
#define BITNET_API
#endif

#define BITNET_VERSION_MAJOR 0
#define BITNET_VERSION_MINOR 1
#define BITNET_VERSION_PATCH 0
#define BITNET_VERSION_STRING "0.1.0"
/* Bumped whenever a public struct or signature changes incompatibly. */
#define BITNET_ABI_VERSION 1

/* Status codes: every function that can fail returns 0 (or a positive id / count) on success
 * and one of these negative values otherwise; bitnet_get_last_error() then says why. The
 * values are pinned and will not change. */
typedef enum bitnet_status {
    BITNET_OK = 0,
    BITNET_ERR_INVALID_ARGUMENT = -1,
    BITNET_ERR_NOT_FOUND = -2,
    BITNET_ERR_LOAD_FAILED = -3,
    BITNET_ERR_INFERENCE_FAILED = -4,
    BITNET_ERR_OUT_OF_MEMORY = -5,
    BITNET_ERR_INVALID_ID = -6,
    BITNET_ERR_CONTEXT_EXCEEDED = -7,
    BITNET_ERR_UNSUPPORTED = -8,
    BITNET_ERR_BUFFER_TOO_SMALL = -9,
    BITNET_ERR_INTERNAL = -10,
    BITNET_ERR_CANCELLED = -11,
    BITNET_ERR_IO = -12,
} bitnet_status;

/* A short constant name for a status ("BITNET_ERR_NOT_FOUND"); "unknown status" otherwise. */
BITNET_API const char *bitnet_status_name(int status);

/* ======================================================================================
 * Errors. Each thread has its own last error: the message of the most recent failure of a
 * call made on that thread ("" when none). The pointer stays valid until the next call that
 * fails or clears on the same thread.
 * ====================================================================================== */
BITNET_API const char *bitnet_get_last_error(void);
BITNET_API void bitnet_clear_last_error(void);

BITNET_API const char *bitnet_version(void);   /* "0.1.0" */
BITNET_API int bitnet_abi_version(void);       /* BITNET_ABI_VERSION of the library */

/* ======================================================================================
 * Core API: models and sessions.
 *
 * A bitnet_model is read-only once opened: any number of threads may use one model at once,
 * each through its own sessions, in parallel. A bitnet_session holds one sequence (its KV
 * cache, scratch and thread pool); calls on one session from several threads are serialized
 * by the session's lock (each runs whole; their order is the order they take the lock).
 * Freeing a session or closing a model while another thread uses it is the caller's error.
 * Structs with a struct_size field are versioned: fill them with the *_default_params()
 * functions, which set struct_size, then change the fields you need.
 * ====================================================================================== */
typedef struct bitnet_model bitnet_model;
typedef struct bitnet_session bitnet_session;

/* Numerics of the ternary matrix products (see README, "Numerics"). */
typedef enum bitnet_act_quant {
    BITNET_ACT_QUANT_DEFAULT = 0, /* token for ternary weights, none for float weights */
    BITNET_ACT_QUANT_TOKEN = 1,   /* per-token absmax int8 activations (BitNet, bitnet.cpp) */
    BITNET_ACT_QUANT_Q8K = 2,     /* per-256-block int8 activations (llama.cpp's Q8_K) */
    BITNET_ACT_QUANT_NONE = 3,    /* float activations */
} bitnet_act_quant;

/* "token", "q8k" or "none" (the --act-quant names) -> *out: 0, else BITNET_ERR_INVALID_ARGUMENT. */
BITNET_API int bitnet_act_quant_from_name(const char *name, bitnet_act_quant *out);

/* How the LM head computes logits during generation (bitnet_model_params.lm_head).
 * SCREEN: an 8-bit copy of the head (built at load, ~half the head's bytes) with an error
 * bound per row finds every token that can be sampled (greedy, or top-k with k <= 1024);
 * those logits are recomputed exactly from the model's head and the other tokens get -inf,
 * so the sampled tokens are exactly those of the plain head (README, "The screened LM
 * head"). Calls that want every logit (bitnet_session_eval, on_logits callbacks, sampling
 * without top-k) use the plain head. AUTO: SCREEN when the head allows it (F32/F16/BF16,
 * hidden size a multiple of 32) and the CPU tier has a kernel for it (x86 tiers and scalar;
 * not yet the aarch64 ones), else PLAIN. Q8 is lm_head_q8 (approximate logits). */
typedef enum bitnet_lm_head {
    BITNET_LM_HEAD_AUTO = 0,
    BITNET_LM_HEAD_PLAIN = 1,     /* the head as stored in the file */
    BITNET_LM_HEAD_SCREEN = 2,    /* fails to open when the head cannot be screened */
    BITNET_LM_HEAD_Q8 = 3,        /* the same as lm_head_q8 = 1 */
} bitnet_lm_head;

/* "auto", "screen", "model" (also "plain", "f16": the head as stored) or "q8" (the --lm-head
 * names) -> *out: 0, else BITNET_ERR_INVALID_ARGUMENT. bitnet_lm_head_name: the reverse
 * ("auto", "screen", "model", "q8"; "?" for other values). */
BITNET_API int bitnet_lm_head_from_name(const char *name, bitnet_lm_head *out);
BITNET_API const char *bitnet_lm_head_name(bitnet_lm_head h);

/* Element type of the KV cache (K and V are chosen separately). f16 halves the cache of f32
 * and is rounded to nearest even (as llama.cpp's F16 cache); q8_0 is llama.cpp's block of 32
 * int8 with an f16 scale (~0.27x of f32; needs a head size that is a multiple of 32). README,
 * "KV cache", gives the effect of each on the logits. */
typedef enum bitnet_kv_type {
    BITNET_KV_DEFAULT = 0,        /* f16 */
    BITNET_KV_F32 = 1,
    BITNET_KV_F16 = 2,
    BITNET_KV_Q8_0 = 3,
} bitnet_kv_type;

/* "f32", "f16" or "q8_0" (the --kv-type names) -> *out: 0, else BITNET_ERR_INVALID_ARGUMENT. */
BITNET_API int bitnet_kv_type_from_name(const char *name, bitnet_kv_type *out);

typedef struct bitnet_model_params {
    size_t struct_size;
    const char *tokenizer_path;   /* vocabulary GGUF to use instead of the model's own; NULL */
    const char *tokenizer_pre;    /* "auto" (NULL), "default" or "llama3" (see README) */
    int lm_head_q8;               /* 1: quantize the LM head to Q8_0 at load (F32/F16/BF16 heads) */
    /* Called during load on the calling thread, may be NULL: 0 first, then increasing fractions
     * while the weights are repacked, 1 when the model is ready. */
    void (*progress)(float fraction, void *user_data);
    void *progress_user_data;
    bitnet_lm_head lm_head;       /* [AUTO]; callers built before this field are AUTO too */
} bitnet_model_params;

BITNET_API bitnet_model_params bitnet_model_default_params(void);
/* Opens a GGUF model. Returns 0 and *out, or a negative status. */
BITNET_API int bitnet_model_open(const char *path, const bitnet_model_params *params, bitnet_model **out);
/* Frees the model. NULL is accepted. Every session of the model must be freed first;
 * closing a model with live sessions returns BITNET_ERR_INVALID_ARGUMENT and frees nothing. */
BITNET_API int bitnet_model_close(bitnet_model *model);

typedef struct bitnet_model_desc {
    size_t struct_size;
    char architecture[32];
    int64_t n_vocab, n_ctx_train, n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim;
    char weight_type[16];         /* type of the layer matrices ("i2_s", "tq2_0", ...) */
    char lm_head_type[16];
    int tied_lm_head;
    uint64_t weight_bytes;        /* bytes of tensor data (mapped, not copied) */
    int has_tokenizer;
    int32_t bos_id, eos_id, eot_id; /* -1 when absent */
    bitnet_lm_head lm_head;       /* the head in use: PLAIN, SCREEN or Q8 (callers built before
                                     these two fields get the fields above only) */
    uint64_t lm_head_copy_bytes;  /* SCREEN: bytes of the head's 8-bit copy (held in memory) */
} bitnet_model_desc;

BITNET_API int bitnet_model_describe(const bitnet_model *model, bitnet_model_desc *out);

/* Copies the string value of a metadata key (e.g. "tokenizer.chat_template") into buf
 * (NUL-terminated) and returns its full length; BITNET_ERR_NOT_FOUND when the key is absent or
 * not a string; BITNET_ERR_BUFFER_TOO_SMALL when cap <= length (buf == NULL, cap == 0 measures). */
BITNET_API int bitnet_model_meta_str(const bitnet_model *model, const char *key, char *buf, size_t cap);

/* ---- text ----
 * Tokenizes len bytes of text with the model's tokenizer (or the one given at open).
 * add_special adds BOS/EOS as the vocabulary asks; parse_special turns special-token text
 * such as "<|eot_id|>" into its id. Returns the number of tokens. With tokens == NULL and
 * max_tokens == 0 it only counts. When max_tokens is too small it returns
 * BITNET_ERR_BUFFER_TOO_SMALL (the message gives the count needed) and writes nothing useful.
 * BITNET_ERR_UNSUPPORTED when the model has no tokenizer. Thread-safe on one model. */
BITNET_API int bitnet_model_tokenize(const bitnet_model *model, const char *text, size_t len, int add_special,
                                     int parse_special, int32_t *tokens, int max_tokens);
/* Writes the bytes of one token (possibly part of a UTF-8 character) into buf and returns
 * their count; buf == NULL with cap == 0 only measures; BITNET_ERR_BUFFER_TOO_SMALL when cap
 * is too small. render_special: also render control tokens such as <|eot_id|>. */
BITNET_API int bitnet_model_token_to_piece(const bitnet_model *model, int32_t token, int render_special,
                                           char *buf, size_t cap);
/* 1 when the token ends generation (EOS, EOT, ...), 0 otherwise. */
BITNET_API int bitnet_model_token_is_eog(const bitnet_model *model, int32_t token);

typedef struct bitnet_session_params {
    size_t struct_size;
    int64_t n_ctx;                /* context length; 0: the model's, capped to 1/4 of RAM */
    int n_threads;                /* 0: all online CPUs */
    int n_batch;                  /* tokens per prefill chunk; 0: 64 */
    bitnet_act_quant act_quant;
    const char *trace_dir;        /* tracing folder; NULL: $BITNET_TRACE_DIR (unset: off) */
    int seq_id;                   /* recorded in trace records */
    /* later fields: read only when struct_size covers them (older callers get the defaults) */
    bitnet_kv_type kv_type_k, kv_type_v; /* KV cache element types; DEFAULT: f16 */
} bitnet_session_params;

BITNET_API bitnet_session_params bitnet_session_default_params(void);
BITNET_API int bitnet_session_create(bitnet_model *model, const bitnet_session_params *params,
                                     bitnet_session **out);
BITNET_API void bitnet_session_free(bitnet_session *session); /* NULL is accepted */
/* Appends n tokens to the session's sequence and evaluates them. logits may be NULL; with
 * all_logits it receives [n][n_vocab] floats, else [n_vocab] for the last token. Fails with
 * BITNET_ERR_CONTEXT_EXCEEDED (changing nothing) when the tokens do not fit. */
BITNET_API int bitnet_session_eval(bitnet_session *session, const int32_t *tokens, int n,
                                   float *logits, int all_logits);
BITNET_API int bitnet_session_reset(bitnet_session *session);
/* Keeps the first n_keep positions of the session's sequence and forgets the rest (their KV
 * entries are dropped; the kept ones stay valid, nothing is evaluated). 0 <= n_keep <= n_past,
 * else BITNET_ERR_INVALID_ARGUMENT (nothing changed). n_keep 0 is bitnet_session_reset. To
 * take back generated tokens, or to shift a context (see bitnet_context_turns_to_drop). */
BITNET_API int bitnet_session_truncate(bitnet_session *session, int64_t n_keep);
/* Context shift in place (llama.cpp's seq_rm + seq_add, what bitnet_generate_params.context_shift
 * does inside a generation): drops positions [n_keep, n_keep + n_discard) of the session's
 * sequence; the later positions move down by n_discard, their keys rotated to the new
 * positions (RoPE is relative), their values unchanged; nothing is evaluated. The caller drops
 * the same tokens from its own copy of the text. The moved entries saw the dropped tokens, so
 * the continuation is not what a fresh evaluation of the kept tokens would give. n_discard >= 1
 * and n_keep + n_discard <= n_past, else BITNET_ERR_INVALID_ARGUMENT (nothing changed). */
BITNET_API int bitnet_session_shift(bitnet_session *session, int64_t n_keep, int64_t n_discard);
/* Context shift by whole turns: what `bitnet chat` does when a conversation outgrows its
 * context (llama.cpp's context shift, without RoPE shifting: the kept later turns are
 * evaluated again at their new positions). The sequence [0, n_past) is a prefix that is
 * always kept, [0, turn_starts[0]) (BOS and the system prompt), then n_turns turns: turn i
 * spans [turn_starts[i], turn_starts[i + 1]), the last one ends at n_past. Returns k, how many
 * of the oldest turns to drop so that n_need more tokens fit in n_ctx: the smallest k >= 0
 * with n_past - D(k) + n_need <= n_ctx, where D(k) = turn_starts[k] - turn_starts[0] (n_past
 * - turn_starts[0] when k == n_turns) is the number of tokens dropped; 0 when they fit
 * already. BITNET_ERR_CONTEXT_EXCEEDED when even dropping every turn is not enough;
 * BITNET_ERR_INVALID_ARGUMENT when the starts are not ascending within [0, n_past] (n_turns
 * 0 is valid: nothing can be dropped). A pure function: it looks at no session.
 * Applying it to a session that holds tokens[0, n_past), with keep = turn_starts[0]:
 *     bitnet_session_truncate(s, keep);
 *     then evaluate tokens[keep + D(k), n_past) again, followed by the new tokens (one
 *     bitnet_session_eval, or as the first part of the next bitnet_session_generate prompt).
 * The kept prefix's KV is reused as it is; only the kept turns after the dropped ones are
 * evaluated again. */
BITNET_API int bitnet_context_turns_to_drop(int64_t n_ctx, int64_t n_past, const int64_t *turn_starts, int n_turns,
                                            int64_t n_need);
/* Session files (llama.cpp's prompt cache): what the session holds, its KV cache entries for
 * the n = bitnet_session_n_past tokens it evaluated (tokens[0, n) as the caller knows them),
 * written to path in the slot file format (bitnet_batch_slot_save: a fingerprint of the
 * weights, the cache types and numerics are checked when reading, and a checksum). load
 * replaces what the session holds by the file's tokens (written to tokens[cap]; the session's
 * n_past becomes their count, which it returns): continue with the rest of a prompt that starts
 * with them, after bitnet_session_truncate to the common prefix. On failure the session holds
 * nothing: BITNET_ERR_NOT_FOUND, BITNET_ERR_LOAD_FAILED (not a session file of this model, its
 * cache types and numerics, or damaged), BITNET_ERR_CONTEXT_EXCEEDED, BITNET_ERR_BUFFER_TOO_SMALL
 * (cap). save: BITNET_ERR_INVALID_ARGUMENT when n is not the session's n_past, BITNET_ERR_IO. */
BITNET_API int bitnet_session_save_file(bitnet_session *session, const int32_t *tokens, int64_t n, const char *path);
BITNET_API int64_t bitnet_session_load_file(bitnet_session *session, const char *path, int32_t *tokens, int64_t cap);
BITNET_API int64_t bitnet_session_n_past(const bitnet_session *session);  /* < 0 on error */
BITNET_API int64_t bitnet_session_n_ctx(const bitnet_session *session);   /* < 0 on error */

typedef struct bitnet_session_desc {
    size_t struct_size;
    int64_t n_ctx, n_past;
    int n_threads;
    bitnet_act_quant act_quant;   /* resolved (never DEFAULT) */
    uint64_t kv_cache_bytes, scratch_bytes;
    char kernel_tier[16];
    bitnet_kv_type kv_type_k, kv_type_v; /* resolved (never DEFAULT); filled when struct_size covers them */
} bitnet_session_desc;
BITNET_API int bitnet_session_describe(const bitnet_session *session, bitnet_session_desc *out);

/* ======================================================================================
 * Generation: sampling, streaming, stop conditions.
 * ====================================================================================== */
typedef struct bitnet_sampling_params {
    size_t struct_size;
    float temperature;        /* <= 0: greedy (argmax, ties to the lowest id) */
    int top_k;                /* <= 0: off */
    float top_p;              /* >= 1: off */
    float min_p;              /* <= 0: off */
    float repeat_penalty;     /* 1: off */
    float presence_penalty;   /* 0: off */
    float frequency_penalty;  /* 0: off */
    int penalty_last_n;       /* window of recent tokens the penalties see; -1: all */
    uint64_t seed;            /* the sampler's own generator: same seed, same output */
} bitnet_sampling_params;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, penalties off, window 64, seed 42. */
BITNET_API bitnet_sampling_params bitnet_sampling_default_params(void);

/* llama.cpp's other samplers (llama-server's field names), each off by default, in llama.cpp's
 * chain order (bitnet_generate_params.samplers may name another): top_n_sigma before top-k;
 * typical_p after it; XTC after min-p; the dynamic temperature at the temperature's place. Mirostat replaces the chain (no top-k, top-p,
 * min-p, penalties or the others: llama.cpp's chain with mirostat) and keeps its state (mu)
 * across a generation's tokens. Temperature <= 0 stays greedy with any of them. With
 * mirostat, top_n_sigma, or typical_p / XTC / a dynamic temperature without top-k, every
 * logit is computed (the screened LM head needs the draw to depend on a few rows only); DRY
 * has the tokens of its window computed exactly, like the penalties. */
typedef struct bitnet_sampling_extra {
    float typical_p;         /* locally typical sampling; >= 1: off */
    float top_n_sigma;       /* keep logits >= max - n * their standard deviation; <= 0: off */
    float xtc_probability;   /* XTC: the chance of dropping the likeliest tokens; 0: off */
    float xtc_threshold;     /* XTC: tokens with p >= this are dropped, but the least likely; > 0.5: off */
    float dynatemp_range;    /* dynamic temperature: temperature +- range by the entropy; 0: off */
    float dynatemp_exponent; /* its exponent (>= 0) */
    int mirostat;            /* 0: off; 1: Mirostat; 2: Mirostat 2.0 */
    float mirostat_tau;      /* target surprise in bits */
    float mirostat_eta;      /* learning rate */
    /* DRY (after the penalties): a token that would extend a repeat of the last
     * dry_penalty_last_n tokens longer than dry_allowed_length loses dry_multiplier *
     * dry_base ^ (length - allowed) from its logit; repeats stop at sequence breakers. */
    float dry_multiplier;    /* 0: off */
    float dry_base;          /* below 1: off */
    int dry_allowed_length;
    int dry_penalty_last_n;  /* tokens scanned (0: off; at most the context's) */
    const char *const *dry_sequence_breakers; /* NULL: "\n", ":", "\"", "*"; else n of them (0: none) */
    int n_dry_sequence_breakers;
} bitnet_sampling_extra;

/* typical_p 1, top_n_sigma -1, xtc 0 / 0.1, dynatemp 0 / 1, mirostat 0, tau 5, eta 0.1, DRY
 * 0 / 1.75 / 2 / 64 with the default breakers (llama.cpp's). */
BITNET_API bitnet_sampling_extra bitnet_sampling_extra_default_params(void);

typedef enum bitnet_stop_reason {
    BITNET_STOP_MAX_TOKENS = 1,   /* max_tokens generated */
    BITNET_STOP_EOG = 2,          /* an end-of-generation token (EOS, EOT, ...) */
    BITNET_STOP_STRING = 3,       /* one of stop_strings appeared (it is not emitted) */
    BITNET_STOP_ID = 4,           /* one of stop_ids was sampled */
    BITNET_STOP_CALLBACK = 5,     /* a callback returned non-zero, or abort_flag was set */
    BITNET_STOP_CONTEXT_FULL = 6, /* the session's context is full */
    BITNET_STOP_JSON_COMPLETE = 7, /* json_object / json_schema: the value is complete */
    BITNET_STOP_GRAMMAR_COMPLETE = 8, /* grammar: the text is complete and no character may follow */
} bitnet_stop_reason;

/* text: the bytes that became printable with this token: never half a UTF-8 character and
 * never part of a stop string (held back until decided). Return non-zero to stop. */
typedef int (*bitnet_token_callback)(int32_t token, const char *text, size_t len, void *user_data);
/* The logits [n_vocab] the token was sampled from. Return non-zero to stop. */
typedef int (*bitnet_logits_callback)(const float *logits, int64_t n_vocab, int32_t token, void *user_data);

/* One token of the distribution a token was drawn from: its id and its probability there
 * (after every sampler of the chain). */
typedef struct bitnet_token_prob {
    int32_t token;
    float p;
} bitnet_token_prob;
/* After each draw (llama-server's post_sampling_probs): the token drawn, its probability in the
 * distribution it was drawn from (after every sampler; 1 for greedy), and that distribution's
 * n_top likeliest tokens, most likely first (n_top: at most n_candidates, and only tokens with
 * p > 0). The array is valid during the call. Return non-zero to stop. */
typedef int (*bitnet_candidates_callback)(int32_t token, float p, const bitnet_token_prob *top, int n_top, void *user_data);
/* A prompt position's distribution (bitnet_generate_params.on_prompt_logits): the logits
 * [n_vocab] the model gives after the prompt's tokens before `position`, against which the
 * prompt's token there, `token`, is scored. Return non-zero to stop. */
typedef int (*bitnet_prompt_logits_callback)(int position, int32_t token, const float *logits, int64_t n_vocab, void *user_data);
/* Prompt processing progress (bitnet_generate_params.on_prompt_progress): n_done of the
 * prompt's n_prompt tokens are in the cache, n_cached of them taken from caches (not evaluated).
 * Return non-zero to stop. */
typedef int (*bitnet_prompt_progress_callback)(int n_done, int n_prompt, int n_cached, void *user_data);

/* One entry of a logit bias: `bias` is added to the logit of `token` (an id given twice gets
 * the sum); -INFINITY bans the token; NaN, +inf or an id outside the vocabulary is
 * BITNET_ERR_INVALID_ARGUMENT. */
typedef struct bitnet_logit_bias {
    int32_t token;
    float bias;
} bitnet_logit_bias;

typedef struct bitnet_generate_params {
    size_t struct_size;
    int max_tokens;                      /* <= 0: until a stop condition or a full context */
    bitnet_sampling_params sampling;
    const char *const *stop_strings;
    int n_stop_strings;
    const int32_t *stop_ids;
    int n_stop_ids;
    int ignore_eog;                      /* keep going past end-of-generation tokens */
    bitnet_token_callback on_token;
    bitnet_logits_callback on_logits;
    void *user_data;
    volatile int *abort_flag;            /* set non-zero (e.g. from a signal handler) to stop */
    /* later fields: read only when struct_size covers them (older callers get none). A logit
     * bias is added to chosen tokens' logits before the penalties and every filter (OpenAI's
     * and llama.cpp's logit_bias); the screened LM head computes the biased rows exactly. */
    const bitnet_logit_bias *logit_bias; /* [n_logit_bias]; may be NULL when n_logit_bias is 0 */
    int n_logit_bias;
    /* 1: the output is one JSON object (OpenAI's response_format json_object): before each
     * draw, tokens that would leave the prefixes of a valid object are masked (so every logit
     * is computed), and generation ends with BITNET_STOP_JSON_COMPLETE when it closes; at
     * max_tokens it may be cut short like any reply. Needs a tokenizer. */
    int json_object;
    /* A JSON Schema (NUL-terminated JSON text; NULL: none): the output is a value valid against
     * it (OpenAI's response_format json_schema), masked and ended like json_object. Properties
     * come in the order the schema lists them; keywords whose constraint is not enforced
     * (not, if, ...) make the call fail with BITNET_ERR_INVALID_ARGUMENT naming them
     * (the README lists what is supported). Not with json_object. */
    const char *json_schema;
    /* A GBNF grammar (llama.cpp's notation, NUL-terminated; NULL: none): the output is a text of
     * its "root" rule, masked like json_object; end-of-generation tokens are allowed once the
     * text is complete, and generation ends with BITNET_STOP_GRAMMAR_COMPLETE when no
     * character may follow. A grammar that does not compile makes the call fail with
     * BITNET_ERR_INVALID_ARGUMENT naming its line and column. Not with json_object or
     * json_schema. */
    const char *grammar;
    /* Speculative decoding by prompt lookup (llama.cpp's lookup decoding), in sessions and
     * batch slots: when the text's last 2-4 tokens occurred before, the tokens that followed
     * them (up to lookup_draft, at most 16) are evaluated in the same forward pass as the
     * token sampled last (in a batch, in at most half of a step's spare rows), and each token
     * then sampled that equals the draft's next one needs no pass of its own. The tokens are the same as without it, for every sampling
     * (each is drawn from its own position's logits, with the same random numbers); text that
     * repeats earlier text comes faster. 0: off. Not with full_logits callers (the
     * compatibility layer's logits callback) or tracing. */
    int lookup_draft;
    /* llama.cpp's other samplers (see bitnet_sampling_extra); all off by default. */
    bitnet_sampling_extra sampling_extra;
    /* Context shift (llama.cpp's --context-shift): 1: when generation fills the context, the
     * positions [n_keep, n_keep + n_discard) are dropped from the KV cache and the later ones
     * moved down (their keys rotated to their new positions: RoPE is relative), and generation
     * goes on; 0 (default): a full context ends the run with BITNET_STOP_CONTEXT_FULL. The text
     * after a shift no longer sees the dropped tokens. n_keep: positions kept at the start
     * (-1: everything before this call's generation, i.e. the prompt), at most n_ctx - 4;
     * n_discard: positions dropped per shift (0: half of those after n_keep), at least one and
     * never all of them. A session's sequence stays shifted after the call (bitnet_session_n_past
     * is its length); in a batch slot, the moved entries are not shared with other requests and
     * are forgotten when the run ends (its first n_keep positions stay). With max_tokens <= 0
     * and ignore_eog, a shifting run ends only by a stop condition or a callback. */
    int context_shift;
    int n_keep;
    int n_discard;
    /* llama.cpp's min_keep: top_p, min_p and typical_p keep at least this many tokens, and XTC
     * drops nothing when fewer would be left; 0 (default): at least one. With min_p and no
     * top_k, min_keep > 1 has every logit computed. */
    int min_keep;
    /* llama.cpp's `samplers` (--samplers): the chain, as names separated by ';' ("penalties",
     * "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature", or
     * llama.cpp's other spellings: "top-k", "nucleus", "temp", ...); NULL (default): the
     * default order, which is that list's. The samplers it leaves out are off (without
     * temperature, draws at 1; "" leaves the logit bias and a draw at 1). In the default order
     * or a part of it, the chain is the one above; in another order, or with a sampler named
     * twice, the stages run as given, as llama.cpp runs them (a temperature divides the logits
     * where it stands, so the filters after it see the tempered distribution; at <= 0 it keeps
     * the likeliest token left there), and every logit is computed unless its first filter is
     * top-k. "adaptive_p" anywhere in it turns adaptive-p on (below). Mirostat ignores it
     * (llama.cpp's too). An unknown name, more than 32, or "infill" (not offered):
     * BITNET_ERR_INVALID_ARGUMENT naming it. */
    const char *samplers;
    /* adaptive-p (llama.cpp's), on when `samplers` names "adaptive_p" (as in llama.cpp; else
     * these are not read) and adaptive_target >= 0: the draw favours tokens whose probability
     * is near a target, t = 2 adaptive_target - (the average probability of the tokens drawn
     * so far, each weighted by adaptive_decay^age), so that the average is steered to
     * adaptive_target (each survivor's logit becomes 5 - 10 d^2 / (1 + d), d = |p - t| / 0.3).
     * Every logit is computed unless top-k comes first. adaptive_target: at most 1 (default -1:
     * off); adaptive_decay: in [0, 0.99] (default 0.9); else BITNET_ERR_INVALID_ARGUMENT. */
    float adaptive_target;
    float adaptive_decay;
    /* The distribution each token was drawn from (see bitnet_candidates_callback; NULL: none),
     * with at most n_candidates (>= 0) of its likeliest tokens. It costs the chain a second
     * run per token, and a temperature draw without top-k then has every logit computed. */
    bitnet_candidates_callback on_candidates;
    int n_candidates;
    /* The prompt's own log-probabilities (OpenAI's echo with logprobs, lm-eval-harness's
     * loglikelihood; NULL: none): called for every position i in [1, n_prompt) of this call's
     * prompt, in order, with the logits that follow prompt[0, i) (after what a session held
     * before) and prompt[i]. Every prompt row then gets the whole LM head, and a batch slot
     * evaluates the whole prompt (no KV entries from its cache, other slots or the prompt
     * cache: n_cached 0). A non-zero return stops the run before it generates anything
     * (BITNET_STOP_CALLBACK; a session keeps the prompt rows evaluated so far). */
    bitnet_prompt_logits_callback on_prompt_logits;
    /* Prompt processing progress (llama-server's return_progress; NULL: none): called after each
     * pass that evaluated rows of this call's prompt, the last time with n_done == n_prompt,
     * before the first token is drawn. A session then evaluates the prompt in passes of 64 rows.
     * A non-zero return stops the run before it generates anything (BITNET_STOP_CALLBACK). */
    bitnet_prompt_progress_callback on_prompt_progress;
    /* Predicted Outputs (OpenAI's `prediction`): tokens the reply is expected to repeat largely
     * (a file being edited, say), [n_prediction]; NULL / 0: none. Drafts for speculative
     * decoding come from it (exactly as lookup_draft's: the tokens are the same as without it,
     * for every sampling; text that follows the prediction comes several tokens a pass): while
     * the reply gives the prediction's next tokens, the draft is what follows them; after the
     * reply leaves it, drafts start again where its last 2-4 tokens occur in the prediction
     * (searched from where it left, then from the start). Up to lookup_draft tokens a pass, or
     * BITNET_PREDICTION_DRAFT when lookup_draft is 0 (which leaves prompt lookup off); where the
     * prediction offers none, prompt lookup's draft when lookup_draft is set. Ids outside the
     * vocabulary: BITNET_ERR_INVALID_ARGUMENT. Not for full_logits callers or tracing (as
     * lookup_draft). */
    const int32_t *prediction;
    int n_prediction;
    /* Batch slots only (bitnet_batch_submit; a session's cache is the caller's, and a session
     * run with it set is BITNET_ERR_INVALID_ARGUMENT): llama-server's cache reuse
     * (--cache-reuse / n_cache_reuse). 0: off (the default). N > 0: after the prefix the prompt
     * shares with the slot's cache, every run of at least N prompt tokens that the cache holds
     * further on is moved into place (the cache positions in between dropped, the keys rotated
     * to their new positions as a context shift does; n_cached counts them) instead of being
     * evaluated again: a chat whose client drops its oldest messages re-evaluates only what is
     * new. Approximate: a moved entry attended to tokens that the prompt no longer holds, so the
     * tokens may differ from a fresh evaluation's. Moved entries stay in the slot for later runs
     * that set it; runs without it, other slots, the prompt cache and slot files take only the
     * entries before the first moved one. */
    int n_cache_reuse;
} bitnet_generate_params;

/* A prediction's draft length per pass when lookup_draft is 0. */
#define BITNET_PREDICTION_DRAFT 8
/* The longest draft a pass checks (lookup_draft above it counts as this). */
#define BITNET_DRAFT_MAX 16

BITNET_API bitnet_generate_params bitnet_generate_default_params(void); /* max_tokens 128 */

typedef struct bitnet_generate_result {
    size_t struct_size;
    int n_prompt, n_generated;
    bitnet_stop_reason stop_reason;
    double prefill_seconds, decode_seconds, time_to_first_token_seconds;
    int n_cached;             /* prompt tokens whose KV a batch slot already held (not evaluated) */
    /* later fields: written only when struct_size covers them */
    int stop_string_index;    /* BITNET_STOP_STRING: which of stop_strings appeared; else -1 */
    int n_drafted, n_draft_accepted; /* lookup_draft: draft tokens evaluated, and those sampled as drafted */
    int n_discarded;          /* context_shift: positions dropped by shifts (0: none happened) */
    /* json_object / json_schema / grammar: draws whose mask was settled by checking only the
     * likeliest tokens (a greedy or top-k draw whose best tokens are allowed), and draws that
     * checked every token of the vocabulary */
    int n_mask_best, n_mask_all;
    /* prediction: of n_drafted and n_draft_accepted, the prediction's draft tokens (OpenAI's
     * accepted_prediction_tokens; rejected_prediction_tokens is the difference) */
    int n_prediction_drafted, n_prediction_accepted;
    int n_draft_passes;       /* passes that checked a draft (lookup or prediction): llama-server's spec_decode_num_drafts_total */
    /* of n_draft_accepted, those at each position of their draft (0: a draft's first token; a
     * draft's tokens are taken in order, so [i] counts the passes that took at least i + 1):
     * llama-server's spec_decode_num_accepted_tokens_per_pos_total; n_draft_longest: the
     * longest draft a pass checked (positions from it on stay 0) */
    int n_draft_accepted_at[BITNET_DRAFT_MAX];
    int n_draft_longest;
} bitnet_generate_result;

/* Appends prompt[0, n_prompt) to the session's sequence, then samples up to max_tokens
 * tokens, feeding each back except the last one sampled (the stop token is not fed, so a
 * chat can close the turn itself). n_prompt must be >= 1. out_tokens (may be NULL) receives the first max_out generated ids; result may be
 * NULL. BITNET_DETERMINISTIC=1 forces greedy sampling; BITNET_SEED=N overrides the seed. */
BITNET_API int bitnet_session_generate(bitnet_session *session, const int32_t *prompt, int n_prompt,
                                       const bitnet_generate_params *params, int32_t *out_tokens, int max_out,
                                       bitnet_generate_result *result);


/* ======================================================================================
 * Continuous batching: many requests, one pass over the weights per step.
 *
 * A bitnet_batch holds n_slots sequences over one model, each with its own KV cache of n_ctx
 * positions, and one scratch and thread pool. Each bitnet_batch_step evaluates, in one forward
 * pass, the next token of every slot that is generating plus up to n_batch minus that many
 * prompt tokens of slots still prefilling (a long prompt is taken in chunks across steps, so
 * the others keep generating). Every row of a step is computed independently of the others
 * (per-token activation quantization, exact integer kernels, per-row attention), so a request
 * produces exactly the same tokens alone or beside others.
 *
 * A slot keeps the tokens of its KV cache after its request ends: a later request whose
 * prompt starts with them (the next turn of a chat) evaluates only the rest
 * (bitnet_generate_result.n_cached says how many were reused).
 *
 * Threads: one thread drives a batch: submit, step, cancel and every callback run on it.
 * A batch is not thread-safe; the model may be shared with other batches and sessions.
 * ====================================================================================== */
typedef struct bitnet_batch bitnet_batch;

typedef struct bitnet_batch_params {
    size_t struct_size;
    int n_slots;                  /* concurrent requests; 0: 4 (at most 256) */
    int64_t n_ctx;                /* positions per slot; 0: the model's training context,
                                     capped so that all slots' KV fits in 1/4 of RAM */
    int n_threads;                /* 0: all online CPUs */
    int n_batch;                  /* rows per step at most (decode rows + prompt chunk);
                                     0: 64; raised to n_slots when smaller */
    bitnet_act_quant act_quant;
    /* later fields: read only when struct_size covers them (older callers get the defaults) */
    bitnet_kv_type kv_type_k, kv_type_v; /* KV cache element types of every slot; DEFAULT: f16 */
    int prefix_share_min;         /* shared prompt prefixes: a prefilling request takes the KV
                                     entries of its prompt's next positions from another slot
                                     that holds them, and waits for an older prefilling request
                                     that is evaluating them, when that saves at least this many
                                     tokens; 0: 16; negative: never (every slot prefills alone) */
    uint64_t prompt_cache_bytes;  /* host memory for a prompt cache (llama-server's --cache-ram):
                                     when a slot is given to a prompt it does not start with, the
                                     tokens it held and their KV entries are kept here (least
                                     recently used dropped first), and a later prompt that starts
                                     with them takes them back as from another slot (needs prefix
                                     sharing on); 0: none */
} bitnet_batch_params;

BITNET_API bitnet_batch_params bitnet_batch_default_params(void);
BITNET_API int bitnet_batch_create(bitnet_model *model, const bitnet_batch_params *params, bitnet_batch **out);
BITNET_API void bitnet_batch_free(bitnet_batch *batch); /* NULL is accepted */

/* Called once when a request ends, on the thread that called step or cancel: status 0 and
 * result->stop_reason, or a negative status (the request failed; the slot is usable again). */
typedef void (*bitnet_batch_finish_callback)(int slot, int status, const bitnet_generate_result *result, void *user_data);

/* An idle slot for a prompt: the one whose cached tokens share the longest prefix with it
 * (ties: the least recently used). BITNET_ERR_NOT_FOUND when every slot is busy. */
BITNET_API int bitnet_batch_pick_slot(const bitnet_batch *batch, const int32_t *prompt, int n_prompt);
/* The same for a run with cache reuse (bitnet_generate_params.n_cache_reuse; 0: as
 * bitnet_batch_pick_slot): the idle slot that would hold the most of the prompt after its
 * common prefix and the runs moved into place (a chat whose client dropped old messages goes
 * back to its own slot, not to the least recently used one that shares only the system prompt). */
BITNET_API int bitnet_batch_pick_slot_reuse(const bitnet_batch *batch, const int32_t *prompt, int n_prompt, int n_cache_reuse);
/* Starts a request in an idle slot: prompt[0, n_prompt) is prefilled by the next steps (less
 * the prefix the slot already holds, and what it can copy from other slots: prefix_share_min), then tokens are sampled as bitnet_session_generate does
 * (same params, callbacks, stop conditions; user_data is params->user_data). params and
 * everything it points to must stay valid until on_finish (may be NULL) has been called.
 * BITNET_ERR_CONTEXT_EXCEEDED when the prompt does not fit the slot's context (n_prompt >=
 * n_ctx; the message gives both); BITNET_ERR_INVALID_ARGUMENT for a busy or unknown slot. */
BITNET_API int bitnet_batch_submit(bitnet_batch *batch, int slot, const int32_t *prompt, int n_prompt,
                                   const bitnet_generate_params *params, bitnet_batch_finish_callback on_finish);
/* One forward pass for every busy slot (see above). Returns the number of busy slots after
 * the step (0: idle, nothing was done), or a negative status when the pass itself failed (then
 * every busy request has been finished with that status). */
BITNET_API int bitnet_batch_step(bitnet_batch *batch);
/* Ends the request in `slot` now (stop_reason BITNET_STOP_CALLBACK; on_finish is called
 * before this returns). BITNET_ERR_INVALID_ARGUMENT when the slot is not busy. */
BITNET_API int bitnet_batch_cancel(bitnet_batch *batch, int slot);
/* Forgets the tokens cached in an idle slot. */
BITNET_API int bitnet_batch_clear_slot(bitnet_batch *batch, int slot);
/* The number of tokens an idle slot holds in its KV cache; BITNET_ERR_INVALID_ARGUMENT for a
 * busy or unknown slot. */
BITNET_API int64_t bitnet_batch_slot_tokens(const bitnet_batch *batch, int slot);
/* The result so far of the generation in `slot` (counts and timings: n_prompt, n_cached,
 * prefill_seconds once its first token was drawn, decode_seconds and n_generated up to the last
 * token drawn; stop_reason 0): progress reports such as llama-server's timings_per_token. May be
 * called from the slot's callbacks. out->struct_size as for bitnet_session_generate's result;
 * BITNET_ERR_INVALID_ARGUMENT for a slot that is not generating (idle, unknown, an embedding). */
BITNET_API int bitnet_batch_slot_result(const bitnet_batch *batch, int slot, bitnet_generate_result *out);
/* Slot files: the tokens an idle slot holds and their KV cache entries, written to path so
 * that a batch of the same model, KV cache types and activation numerics can take them back
 * later (a long system prompt kept across restarts; llama-server's slot save / restore). The
 * format is this library's (versioned, with a fingerprint of the weights and a checksum).
 * save returns the number of tokens written (0 for an empty slot; entries moved by cache reuse,
 * bitnet_generate_params.n_cache_reuse, and those after them are left out) and the file's size in
 * *bytes (may be NULL); BITNET_ERR_IO when the file cannot be written (none is left behind).
 * restore replaces what the idle slot holds by the file's tokens (the next request that
 * starts with them reuses them, as after a request) and returns their number; on failure the
 * slot holds nothing: BITNET_ERR_NOT_FOUND (no such file), BITNET_ERR_LOAD_FAILED (not a slot
 * file, another model, other cache types or numerics, damaged), BITNET_ERR_CONTEXT_EXCEEDED
 * (more tokens than the slot's context). Both: BITNET_ERR_INVALID_ARGUMENT for a busy or
 * unknown slot. */
BITNET_API int64_t bitnet_batch_slot_save(bitnet_batch *batch, int slot, const char *path, uint64_t *bytes);
BITNET_API int64_t bitnet_batch_slot_restore(bitnet_batch *batch, int slot, const char *path, uint64_t *bytes);

typedef struct bitnet_batch_desc {
    size_t struct_size;
    int n_slots, n_busy, n_batch, n_threads;
    int64_t n_ctx;                /* per slot */
    uint64_t kv_cache_bytes, scratch_bytes;   /* all slots together */
    bitnet_kv_type kv_type_k, kv_type_v; /* resolved; filled when struct_size covers them */
    /* How the LM head served the logits rows of the batch's steps so far, all zero without the
     * screened head (BITNET_LM_HEAD_SCREEN): rows screened, the candidate rows they computed
     * exactly (summed), rows that fell back to the whole head (too many candidates), rows the
     * plain head computed because the sampling needs every logit (top-p without top-k,
     * logprobs, ...). Filled when struct_size covers them. */
    uint64_t head_rows_screened, head_candidate_rows, head_rows_fallback, head_rows_plain;
    /* The prompt cache in host memory (prompt_cache_bytes): bytes held, prompts held, and the
     * prompt tokens taken back from it so far. Filled when struct_size covers them. */
    uint64_t prompt_cache_used, prompt_cache_entries, prompt_cache_tokens_restored;
} bitnet_batch_desc;
BITNET_API int bitnet_batch_describe(const bitnet_batch *batch, bitnet_batch_desc *out);

/* ======================================================================================
 * Embeddings: a text's vector from the model's last hidden states, taken after the final
 * norm (RMSNorm(x, output_norm): what the LM head reads, [n_embd] per token), as llama.cpp's
 * embeddings of a causal model. The tokens are evaluated like a prompt (the same numerics),
 * then pooled.
 * ====================================================================================== */
typedef enum bitnet_pooling {
    BITNET_POOLING_MEAN = 0,      /* the mean of the tokens' states */
    BITNET_POOLING_LAST = 1,      /* the last token's state (the only one that saw every token) */
    BITNET_POOLING_CLS = 2,       /* the first token's state */
    BITNET_POOLING_NONE = 3,      /* every token's state: [n][n_embd] */
} bitnet_pooling;

/* "mean", "last", "cls" or "none" (llama.cpp's --pooling names) -> *out: 0, else
 * BITNET_ERR_INVALID_ARGUMENT. bitnet_pooling_name: the reverse ("?" for other values). */
BITNET_API int bitnet_pooling_from_name(const char *name, bitnet_pooling *out);
BITNET_API const char *bitnet_pooling_name(bitnet_pooling pooling);

/* Scales v[0, n) in place as llama.cpp's --embd-normalize does: -1 leaves it, 0 scales the
 * largest magnitude to 32760 (an int16 range), 1 to a sum of magnitudes of 1 (taxicab), 2 to
 * a Euclidean length of 1, p > 2 to a p-norm of 1. A zero vector stays zero.
 * BITNET_ERR_INVALID_ARGUMENT for NULL, n < 0 or norm < -1. */
BITNET_API int bitnet_embedding_normalize(float *v, int64_t n, int norm);

/* Appends tokens[0, n) to the session's sequence like bitnet_session_eval (reset the session
 * first for a text's own embedding: the states of earlier positions are not kept) and writes
 * their pooled state to out: [n_embd] floats, or [n][n_embd] with BITNET_POOLING_NONE
 * (bitnet_model_desc.n_embd). Not normalized. n >= 1; BITNET_ERR_CONTEXT_EXCEEDED (nothing
 * changed) when the tokens do not fit. */
BITNET_API int bitnet_session_embed(bitnet_session *session, const int32_t *tokens, int n, bitnet_pooling pooling,
                                    float *out);

/* An embedding request in an idle batch slot: prompt[0, n_prompt) is evaluated by the next
 * steps in chunks beside the other slots' rows (from position 0; with BITNET_POOLING_LAST the
 * prefix the slot already holds is kept, as for a generation), and its pooled state goes to
 * out as bitnet_session_embed writes it; out must stay valid until on_finish. on_finish gets
 * status 0 and a result with n_prompt, n_cached, prefill_seconds, n_generated 0 and
 * stop_reason BITNET_STOP_MAX_TOKENS (nothing was to be generated), or stop_reason
 * BITNET_STOP_CALLBACK after bitnet_batch_cancel (out is then incomplete), or a negative
 * status. The slot keeps the prompt's tokens cached afterwards, like a generation's.
 * Errors as bitnet_batch_submit (n_prompt must be below the slot's context). */
BITNET_API int bitnet_batch_submit_embed(bitnet_batch *batch, int slot, const int32_t *prompt, int n_prompt,
                                         bitnet_pooling pooling, float *out, bitnet_batch_finish_callback on_finish,
                                         void *user_data);


/* ======================================================================================
 * Compatibility surface: the id-based C API of BitNet-rs's bitnet-ffi (same function and
 * struct names, same semantics), backed by the real engine. Models and streams are named by
 * positive int ids from one process-wide registry; an id is never reused within a process,
 * so a freed id stays invalid (BITNET_ERR_INVALID_ID) instead of naming another object.
 *
 * Threads: every function here may be called from any thread. Calls on one model id run in
 * parallel (each call borrows its own session, a KV cache over the shared read-only model);
 * calls on one stream id are serialized. bitnet_model_free while another thread is inside a
 * call on the same model removes the id at once and frees the model when that call returns.
 *
 * The structs below carry no size field: their layout is fixed for a BITNET_ABI_VERSION.
 * Fill them with the bitnet_*_default() functions, then change the fields you need; fields
 * after those of BitNet-rs are our additions.
 *
 * Text outputs (bitnet_inference*, bitnet_detokenize, bitnet_stream_next_token) are always
 * NUL-terminated and never cut inside a UTF-8 character. When the text does not fit, the
 * inference and detokenize calls write the longest prefix that fits and SUCCEED, returning
 * the bytes written (as BitNet-rs does); generation (detokenization) stops as soon as the
 * buffer cannot take more text, so no tokens are generated for nothing. To learn whether
 * the text was cut: after a successful call the thread's last error is "" when the whole
 * text was written, and starts with "<function>: output truncated to K bytes" when it was
 * cut. The core API
 * (bitnet_model_token_to_piece, bitnet_model_meta_str, bitnet_model_tokenize) and
 * bitnet_tokenize still return BITNET_ERR_BUFFER_TOO_SMALL: there a short buffer is a sizing
 * question answered by measuring first, not a reply worth keeping (docs/C_API.md).
 * ====================================================================================== */

/* BitNet-rs's names for the status codes (our values; see bitnet_status). */
#define BITNET_SUCCESS BITNET_OK
#define BITNET_ERROR_INVALID_ARGUMENT BITNET_ERR_INVALID_ARGUMENT
#define BITNET_ERROR_MODEL_NOT_FOUND BITNET_ERR_NOT_FOUND
#define BITNET_ERROR_MODEL_LOAD_FAILED BITNET_ERR_LOAD_FAILED
#define BITNET_ERROR_INFERENCE_FAILED BITNET_ERR_INFERENCE_FAILED
#define BITNET_ERROR_OUT_OF_MEMORY BITNET_ERR_OUT_OF_MEMORY
#define BITNET_ERROR_INVALID_MODEL_ID BITNET_ERR_INVALID_ID
#define BITNET_ERROR_CONTEXT_LENGTH_EXCEEDED BITNET_ERR_CONTEXT_EXCEEDED
#define BITNET_ERROR_UNSUPPORTED_OPERATION BITNET_ERR_UNSUPPORTED
#define BITNET_ERROR_INTERNAL BITNET_ERR_INTERNAL

enum { BITNET_FORMAT_GGUF = 0, BITNET_FORMAT_SAFETENSORS = 1, BITNET_FORMAT_HUGGINGFACE = 2 };
/* Weight types as BitNet-rs numbers them; BITNET_QUANT_OTHER for every other type (the
 * exact one is in bitnet_model_describe's weight_type). */
enum { BITNET_QUANT_I2S = 0, BITNET_QUANT_TL1 = 1, BITNET_QUANT_TL2 = 2, BITNET_QUANT_OTHER = 3 };
enum { BITNET_BACKEND_AUTO = 0, BITNET_BACKEND_CPU = 1, BITNET_BACKEND_GPU = 2 };

/* Load options. The shape fields describe the model: 0 means "take the file's"; a non-zero
 * value that disagrees with the file fails the load (BITNET_ERR_INVALID_ARGUMENT), so a
 * config written for another model is caught. The weight type always comes from the file. */
typedef struct BitNetCConfig {
    const char *model_path;           /* ignored: the path argument names the file */
    uint32_t model_format;            /* BITNET_FORMAT_GGUF only (others: UNSUPPORTED) */
    uint32_t vocab_size, hidden_size, num_layers, num_heads, intermediate_size;
    uint32_t max_position_embeddings; /* 0: the model's context (capped to 1/4 of RAM);
                                         else the context of this model's sessions */
    uint32_t quantization_type;       /* ignored (the file decides); see BitNetCModel */
    uint32_t block_size;              /* ignored */
    float precision;                  /* ignored */
    uint32_t num_threads;             /* threads per call; 0: bitnet_get_num_threads() */
    uint32_t use_gpu;                 /* must be 0: no GPU backend (else UNSUPPORTED) */
    uint32_t batch_size;              /* prompt tokens per forward chunk; 0: 64 */
    uint64_t memory_limit;            /* bytes; 0: none. Weights + KV caches + scratch above
                                         it fail with BITNET_ERR_OUT_OF_MEMORY */
} BitNetCConfig;

/* Generation options. Greedy decoding: do_sample = 0 or temperature = 0. */
typedef struct BitNetCInferenceConfig {
    uint32_t max_length;              /* prompt + generated tokens at most; 0: the context */
    uint32_t max_new_tokens;          /* 0: until end of generation or a full context */
    float temperature;                /* <= 0: greedy */
    uint32_t top_k;                   /* 0: off */
    float top_p;                      /* 0 or >= 1: off */
    float repetition_penalty;         /* 1 (or 0): off */
    float frequency_penalty, presence_penalty; /* 0: off */
    uint64_t seed;                    /* 0: a fixed default seed (42); runs are reproducible */
    uint32_t do_sample;               /* 0: greedy whatever the temperature */
    uint32_t backend_preference;      /* BITNET_BACKEND_*: GPU is UNSUPPORTED */
    uint32_t enable_streaming;        /* informational (streams are started explicitly) */
    uint32_t stream_buffer_size;      /* informational */
} BitNetCInferenceConfig;

/* Filled by bitnet_model_get_info. The strings belong to the model and stay valid until it
 * is freed. */
typedef struct BitNetCModel {
    const char *name;                 /* general.name, else the file name */
    const char *version;              /* general.version, else "" */
    const char *architecture;         /* general.architecture ("bitnet", "bitnet-b1.58", ...) */
    uint32_t vocab_size, context_length, hidden_size, num_layers, num_heads, intermediate_size;
    uint32_t quantization_type;       /* BITNET_QUANT_* */
    uint64_t file_size;               /* bytes of the GGUF file */
    uint64_t memory_usage;            /* mapped weight bytes + KV caches + scratch now */
    uint32_t is_gpu_loaded;           /* 0 */
} BitNetCModel;

/* Measured over the calls on one model since load or bitnet_reset_performance_metrics
 * (streams count when they end or are stopped). */
typedef struct BitNetCPerformanceMetrics {
    float tokens_per_second;          /* generated tokens / decoding seconds */
    float latency_ms;                 /* mean wall time of one call (prefill + decoding) */
    float memory_usage_mb;            /* as BitNetCModel.memory_usage, in MiB */
    float gpu_utilization;            /* -1: no GPU */
    float total_inference_time_ms;    /* sum of the calls' wall times */
    float time_to_first_token_ms;     /* mean time from call start to the first token */
    uint32_t tokens_generated;        /* sum over the calls */
    uint32_t prompt_tokens;           /* sum over the calls */
} BitNetCPerformanceMetrics;

/* Push-style streaming: called with each piece of text (NUL-terminated, whole UTF-8
 * characters). Return non-zero to stop. */
typedef int (*BitNetCStreamCallback)(const char *token, void *user_data);
/* Logits streaming: called once per generated token with its id, the text that became
 * printable with it (may be empty: part of a UTF-8 character or of a stop string) and the
 * logits it was sampled from: all n_vocab of them (ids NULL, n = n_vocab) when
 * logits_top_k is 0, else the n = min(top_k, n_vocab) largest, in descending order, with their
 * ids. Pointers are valid during the call only. Return non-zero to stop. */
typedef int (*BitNetCLogitsCallback)(int32_t token, const char *text, size_t text_len, const float *logits,
                                     const int32_t *ids, int n, void *user_data);

typedef struct BitNetCStreamConfig {
    BitNetCStreamCallback callback;   /* non-NULL: push style (see bitnet_start_streaming) */
    void *user_data;
    uint32_t buffer_size;             /* informational */
    uint32_t yield_interval;          /* informational */
    uint32_t enable_backpressure;     /* informational (pull style is backpressure) */
    uint32_t timeout_ms;              /* informational */
    /* our additions */
    BitNetCLogitsCallback logits_callback; /* may be NULL */
    uint32_t logits_top_k;            /* 0: all logits */
} BitNetCStreamConfig;

/* BitNet-rs's C header names for the same structs. */
typedef BitNetCConfig bitnet_config_t;
typedef BitNetCInferenceConfig bitnet_inference_config_t;
typedef BitNetCModel bitnet_model_t;
typedef BitNetCPerformanceMetrics bitnet_performance_metrics_t;
typedef BitNetCStreamConfig bitnet_stream_config_t;
typedef BitNetCStreamCallback bitnet_stream_callback_t;

/* Defaults: all zero except num_threads 0 / batch_size 1 (config); max_length 2048,
 * max_new_tokens 512, temperature 1, top_k 50, top_p 0.9, repetition_penalty 1.1,
 * do_sample 1, stream_buffer_size 64 (inference, as BitNet-rs); buffer_size 64,
 * yield_interval 1, enable_backpressure 1, timeout_ms 5000 (stream). */
BITNET_API BitNetCConfig bitnet_config_default(void);
BITNET_API BitNetCInferenceConfig bitnet_inference_config_default(void);
BITNET_API BitNetCStreamConfig bitnet_stream_config_default(void);

/* ---- models ---- */
/* Loads a GGUF model; returns its id (> 0). BITNET_ERR_INVALID_ARGUMENT (NULL path),
 * BITNET_ERR_NOT_FOUND / BITNET_ERR_LOAD_FAILED / BITNET_ERR_IO (bad file). */
BITNET_API int bitnet_model_load(const char *path);
/* As bitnet_model_load with options (config may be NULL: defaults). */
BITNET_API int bitnet_model_load_with_config(const char *path, const BitNetCConfig *config);
/* Frees the model: 0. BITNET_ERR_INVALID_ID for an unknown or already freed id;
 * BITNET_ERR_INVALID_ARGUMENT, freeing nothing, while a stream on the model is open. */
BITNET_API int bitnet_model_free(int model_id);
/* 1 when model_id names a loaded model, 0 otherwise (never an error). */
BITNET_API int bitnet_model_is_loaded(int model_id);
/* Fills *info: 0; BITNET_ERR_INVALID_ARGUMENT (info NULL), BITNET_ERR_INVALID_ID. */
BITNET_API int bitnet_model_get_info(int model_id, BitNetCModel *info);

/* ---- text inference ----
 * Tokenizes the prompt (BOS as the vocabulary asks; special-token text such as <|eot_id|>
 * becomes its id), generates, and writes the generated text (not the prompt) to output.
 * Returns the number of bytes written (without the NUL). A reply longer than max_len - 1
 * bytes is cut to fit (at a UTF-8 character boundary) and still succeeds: generation stops
 * at the first token whose text does not fit, and the last error notes the cut ("... output
 * truncated to K bytes ..."; "" when nothing was cut). Errors: BITNET_ERR_INVALID_ID,
 * BITNET_ERR_INVALID_ARGUMENT (NULL prompt/output, max_len 0, bad config),
 * BITNET_ERR_CONTEXT_EXCEEDED (the prompt does not fit the context or max_length),
 * BITNET_ERR_UNSUPPORTED (model without tokenizer, GPU backend). bitnet_inference uses
 * bitnet_inference_config_default(). */
BITNET_API int bitnet_inference(int model_id, const char *prompt, char *output, size_t max_len);
BITNET_API int bitnet_inference_with_config(int model_id, const char *prompt, const BitNetCInferenceConfig *config,
                                            char *output, size_t max_len);
/* Runs bitnet_inference_with_config for each prompt into outputs[i] (capacity max_lens[i]).
 * Returns the number of prompts that succeeded (a cut output is a success); the last error
 * describes the last failure, else lists the cut outputs ("... output truncated for N
 * prompt(s) ...: i j"), else is "". An output that failed holds "". Argument errors (NULL
 * arrays, num_prompts 0) return a negative status. config may be NULL. */
BITNET_API int bitnet_batch_inference(int model_id, const char **prompts, size_t num_prompts,
                                      const BitNetCInferenceConfig *config, char **outputs, const size_t *max_lens);

/* ---- streaming ----
 * Tokenizes and evaluates the prompt and returns a stream id (> 0); config and
 * stream_config may be NULL. Pull style (stream_config->callback NULL): each
 * bitnet_stream_next_token call generates until it has text. Push style (callback set):
 * this call generates to the end, handing each piece to the callback, and returns a stream
 * id that is already finished. Either way, release the stream with bitnet_stop_streaming;
 * the model cannot be freed while a stream on it is open. The logits callback works in
 * both styles. */
BITNET_API int bitnet_start_streaming(int model_id, const char *prompt, const BitNetCInferenceConfig *config,
                                      const BitNetCStreamConfig *stream_config);
/* Writes the next piece of generated text into token (NUL-terminated) and returns its
 * length (> 0); 0 when the stream has finished. A piece longer than max_len - 1 is split
 * at a UTF-8 character boundary and the rest comes with the next call; when not even one
 * character fits, BITNET_ERR_BUFFER_TOO_SMALL (nothing consumed). BITNET_ERR_INVALID_ID for
 * an unknown or stopped stream. */
BITNET_API int bitnet_stream_next_token(int stream_id, char *token, size_t max_len);
/* Ends the stream, records its metrics and frees it: 0, or BITNET_ERR_INVALID_ID. */
BITNET_API int bitnet_stop_streaming(int stream_id);

/* ---- metrics ----
 * get: fills *metrics (see BitNetCPerformanceMetrics): 0; BITNET_ERR_INVALID_ARGUMENT (NULL),
 * BITNET_ERR_INVALID_ID. reset: zeroes the accumulated counts and times: 0 or INVALID_ID. */
BITNET_API int bitnet_get_performance_metrics(int model_id, BitNetCPerformanceMetrics *metrics);
BITNET_API int bitnet_reset_performance_metrics(int model_id);

/* ---- devices and threads ---- */
/* 0: this build has no GPU backend. */
BITNET_API int bitnet_is_gpu_available(void);
/* 0 disables the GPU (a no-op: returns 0); 1 returns BITNET_ERR_UNSUPPORTED. */
BITNET_API int bitnet_set_gpu_enabled(int enable);
/* BITNET_BACKEND_AUTO or _CPU: 0 (the model runs on the CPU); _GPU: BITNET_ERR_UNSUPPORTED;
 * other values: BITNET_ERR_INVALID_ARGUMENT; BITNET_ERR_INVALID_ID for a bad id. */
BITNET_API int bitnet_switch_model_backend(int model_id, uint32_t backend_preference);
/* Threads for the compatibility calls that start after it (0: all online CPUs, at most 1024).
 * BITNET_ERR_INVALID_ARGUMENT above 1024. */
BITNET_API int bitnet_set_num_threads(uint32_t num_threads);
/* The threads a call uses now (the online CPUs when set to 0). */
BITNET_API uint32_t bitnet_get_num_threads(void);

/* ---- token level (not in BitNet-rs) ---- */
/* Tokenizes text (special-token text becomes its id; add_special adds BOS/EOS as the
 * vocabulary asks). Returns the token count; tokens == NULL with max_tokens == 0 counts
 * only; BITNET_ERR_BUFFER_TOO_SMALL when max_tokens is too small. */
BITNET_API int bitnet_tokenize(int model_id, const char *text, int add_special, int32_t *tokens, int max_tokens);
/* Writes the text of tokens (special tokens rendered) NUL-terminated; returns its length.
 * text == NULL with max_len == 0 measures (the full length). As bitnet_inference: a text
 * longer than max_len - 1 is cut at a UTF-8 character boundary and the call succeeds with
 * the bytes written (the tokens past the cut are not decoded); the last error notes the cut
 * ("" when nothing was cut). text with max_len 0 (or NULL with max_len > 0):
 * BITNET_ERR_INVALID_ARGUMENT. */
BITNET_API int bitnet_detokenize(int model_id, const int32_t *tokens, int n_tokens, char *text, size_t max_len);
/* Generates from a token prompt. Writes at most max_out ids (generation stops there),
 * sets *n_out (may be NULL) and returns the count. config may be NULL (defaults). */
BITNET_API int bitnet_inference_tokens(int model_id, const int32_t *tokens_in, int n_in, const BitNetCInferenceConfig *config,
                                       int32_t *tokens_out, int max_out, int *n_out);
/* Evaluates tokens from an empty context and writes the logits of every position,
 * logits_out[n][n_vocab] (row i: the distribution of token i + 1). Returns 0. */
BITNET_API int bitnet_eval_logits(int model_id, const int32_t *tokens, int n_tokens, float *logits_out);
/* n_vocab of the model (> 0), for sizing bitnet_eval_logits' buffer. */
BITNET_API int bitnet_model_n_vocab(int model_id);

#ifdef __cplusplus
}
#endif
#endif
