/* bitnet.h: the public C API of libbitnet, an inference engine for BitNet b1.58
 * ternary-weight language models. This is the only public header.
 * (The full API with its usage example is documented below as it grows.) */
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
 * each through its own sessions. A bitnet_session holds one sequence (its KV cache, scratch
 * and thread pool); calls on one session must not overlap (serialize them yourself).
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

typedef struct bitnet_model_params {
    size_t struct_size;
    const char *tokenizer_path;   /* vocabulary GGUF to use instead of the model's own; NULL */
    const char *tokenizer_pre;    /* "auto" (NULL), "default" or "llama3" (see README) */
    int lm_head_q8;               /* reserved: 8-bit LM head (not implemented yet: must be 0) */
    void (*progress)(float fraction, void *user_data); /* called during load; may be NULL */
    void *progress_user_data;
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
BITNET_API int64_t bitnet_session_n_past(const bitnet_session *session);  /* < 0 on error */
BITNET_API int64_t bitnet_session_n_ctx(const bitnet_session *session);   /* < 0 on error */

typedef struct bitnet_session_desc {
    size_t struct_size;
    int64_t n_ctx, n_past;
    int n_threads;
    bitnet_act_quant act_quant;   /* resolved (never DEFAULT) */
    uint64_t kv_cache_bytes, scratch_bytes;
    char kernel_tier[16];
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

typedef enum bitnet_stop_reason {
    BITNET_STOP_MAX_TOKENS = 1,   /* max_tokens generated */
    BITNET_STOP_EOG = 2,          /* an end-of-generation token (EOS, EOT, ...) */
    BITNET_STOP_STRING = 3,       /* one of stop_strings appeared (it is not emitted) */
    BITNET_STOP_ID = 4,           /* one of stop_ids was sampled */
    BITNET_STOP_CALLBACK = 5,     /* a callback returned non-zero, or abort_flag was set */
    BITNET_STOP_CONTEXT_FULL = 6, /* the session's context is full */
} bitnet_stop_reason;

/* text: the bytes that became printable with this token: never half a UTF-8 character and
 * never part of a stop string (held back until decided). Return non-zero to stop. */
typedef int (*bitnet_token_callback)(int32_t token, const char *text, size_t len, void *user_data);
/* The logits [n_vocab] the token was sampled from. Return non-zero to stop. */
typedef int (*bitnet_logits_callback)(const float *logits, int64_t n_vocab, int32_t token, void *user_data);

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
} bitnet_generate_params;

BITNET_API bitnet_generate_params bitnet_generate_default_params(void); /* max_tokens 128 */

typedef struct bitnet_generate_result {
    size_t struct_size;
    int n_prompt, n_generated;
    bitnet_stop_reason stop_reason;
    double prefill_seconds, decode_seconds, time_to_first_token_seconds;
} bitnet_generate_result;

/* Appends prompt[0, n_prompt) to the session's sequence, then samples up to max_tokens
 * tokens, feeding each back except the last one sampled (the stop token is not fed, so a
 * chat can close the turn itself). n_prompt must be >= 1. out_tokens (may be NULL) receives the first max_out generated ids; result may be
 * NULL. BITNET_DETERMINISTIC=1 forces greedy sampling; BITNET_SEED=N overrides the seed. */
BITNET_API int bitnet_session_generate(bitnet_session *session, const int32_t *prompt, int n_prompt,
                                       const bitnet_generate_params *params, int32_t *out_tokens, int max_out,
                                       bitnet_generate_result *result);

#ifdef __cplusplus
}
#endif
#endif
