/* openai: the OpenAI wire format. Request bodies (JSON) become api_request values with the
 * sampling parameters checked (also the body of llama-server's /completion, whose replies
 * native.c builds); replies, stream chunks and error objects are built as jansson values.
 * Nothing here knows about HTTP or threads. */
#ifndef BITNET_SERVER_OPENAI_H
#define BITNET_SERVER_OPENAI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bitnet.h"
#include "text/chat.h"
#include "text/sampler_order.h"
#include "engine.h"
#include "tools.h"

#define API_MAX_STOPS 16
#define API_MAX_STOP_LEN 1024
#define API_MAX_CHOICES 16     /* OpenAI's "n": choices of one request (each takes a slot) */
#define API_MAX_JOBS 256       /* completions of one request: its prompts times n (run --parallel at a time) */
#define API_MAX_LOGIT_BIAS 4096 /* entries of logit_bias (tokens, once its strings are tokenized) */

/* A failed request: the HTTP status and the message of its error object. */
typedef struct api_error {
    int status;
    char message[512];
} api_error;

/* API_NATIVE: llama-server's own POST /completion (its defaults, fields and reply; native.h). */
typedef enum api_kind { API_CHAT, API_COMPLETION, API_NATIVE } api_kind;

/* A logit_bias entry given as a string (llama-server's): each of its tokens gets the bias. */
typedef struct api_bias_text {
    char *text;
    float bias;
} api_bias_text;

/* One part of a /completion prompt given as token ids and strings: text, or the token id when
 * text is NULL. */
typedef struct api_prompt_part {
    char *text;
    int32_t id;
} api_prompt_part;

/* One prompt as parts (a string is one part): see api_read_prompts. */
typedef struct api_prompt {
    api_prompt_part *parts;
    int n_parts;
} api_prompt;

/* llama-server's sampler fields beyond OpenAI's (typical_p ... dry_sequence_breakers, samplers), which
 * the Responses and Anthropic routes pass on to the chat request they build. */
extern const char *const api_extra_sampler_fields[];
/* llama-server's fields of a request's slot, length and stream (id_slot, n_cache_reuse, n_indent,
 * t_max_predict_ms, n_keep, n_discard, sse_ping_interval), which the Responses and Messages
 * conversions pass on too. */
extern const char *const api_llama_fields[];
extern const size_t api_n_llama_fields;
extern const size_t api_n_extra_sampler_fields;

typedef struct api_request {
    api_kind kind;
    bool stream, include_usage;
    bool return_progress;          /* llama-server's: a stream reports the prompt's processing progress */
    bool timings_per_token;        /* llama-server's: a stream's events carry the timings so far */
    long long sse_ping_interval;   /* llama-server's: seconds of silence before a stream sends an SSE comment
                                    * (<= 0: none); -2 when the request does not say (the server's --sse-ping-interval) */
    long long t_max_predict_ms;    /* llama-server's: generation ends at a newline after this long (<= 0: never) */
    long long n_indent;            /* llama-server's: a later line indented less ends the reply (0: never) */
    long long id_slot;             /* llama-server's: the slot every completion runs in; -1: any (completions.c checks the range) */
    long long n_cache_reuse;       /* llama-server's (bitnet_generate_params.n_cache_reuse); -1: the server's --cache-reuse */
    int n_top_logprobs;            /* -1: no log-probabilities */
    bitnet_generate_params gen;    /* sampling, max_tokens, ignore_eog */
    char **stops;                  /* [n_stops], malloc'd */
    int n_stops;
    bitnet_logit_bias *logit_bias; /* [n_logit_bias], malloc'd; gen.logit_bias points here */
    int n_logit_bias;
    api_bias_text *bias_texts;     /* [n_bias_texts] (texts malloc'd): request.c adds their tokens to logit_bias */
    int n_bias_texts;
    char *json_schema;             /* response_format's schema as compact JSON, malloc'd; gen.json_schema points here */
    const char *json_schema_field; /* where the request gave it (for messages) */
    api_tools tools;               /* function calling (chat); when on, json_schema is the reply's schema */
    char *grammar;                 /* llama-server's GBNF "grammar", malloc'd; gen.grammar points here */
    char **dry_breakers;           /* [gen.sampling_extra.n_dry_sequence_breakers], malloc'd; NULL: the defaults */
    /* API_CHAT: the conversation (contents malloc'd). */
    bn_chat_message *messages;
    size_t n_messages;
    bool last_has_calls;           /* the last message is an assistant's with tool_calls */
    bool no_generation_prompt;     /* llama-server's add_generation_prompt false: no assistant turn opened */
    bool continue_final;           /* llama-server's continue_final_message: the last message is continued */
    /* API_COMPLETION and API_NATIVE: the prompts (api_read_prompts; malloc'd); several_prompts:
     * the body gave an array of them (errors name prompt[i]). n_prompts * n_choices <= API_MAX_JOBS. */
    api_prompt *prompts;
    int n_prompts;
    bool several_prompts;
    int n_choices;                 /* OpenAI's "n" / llama-server's n_cmpl (1 for the Responses and Messages APIs) */
    bool echo;                     /* API_COMPLETION: each choice's text begins with its prompt */
    int best_of;                   /* API_COMPLETION: completions drawn per prompt (>= n_choices; 0 elsewhere) */
    /* API_NATIVE: n_predict 0 and return_tokens. */
    bool prompt_only;              /* n_predict / max_tokens 0: the prompt goes into the slot's cache; nothing is generated or returned */
    bool return_tokens;
    json_t *response_fields;       /* API_NATIVE: llama-server's "response_fields" (an array of strings; owned), or NULL */
    /* llama-server's "samplers": the chain as given (bn_sampler_kind; unknown names skipped),
     * or n_samplers -1 when not given; samplers_text, malloc'd: them in names (gen.samplers
     * points here) */
    unsigned char samplers[BN_SAMPLER_ORDER_MAX];
    int n_samplers;
    char *samplers_text;
    /* llama-server's post_sampling_probs: log-probabilities (n_top_logprobs) from the
     * distribution each token was drawn from (after the samplers), not from the logits */
    bool post_sampling_probs;
    /* OpenAI's Predicted Outputs: the prediction's text (malloc'd), NULL when none; request.c
     * tokenizes it into gen_request.prediction (gen.prediction points there) */
    char *prediction;
} api_request;

/* A JSON array of token ids and strings (llama-server's prompt form) into *parts [*n_parts]
 * (malloc'd, also on failure: free with api_prompt_parts_free); `field` names it in errors.
 * 0, or -1 with *err. */
int api_read_prompt_parts(json_t *arr, const char *field, api_prompt_part **parts, int *n_parts, api_error *err);
void api_prompt_parts_free(api_prompt_part *parts, int n);
/* The prompts of v (a body's "prompt", or "input" of the embeddings), llama-server's rule: an
 * array that holds a number is one prompt (token ids, or ids and strings mixed); another array
 * holds several prompts (at most max), each a string, an array of ids and strings, or
 * {"prompt_string": either}; anything else is one such prompt. Into *prompts [*n] (malloc'd,
 * also on failure: free with api_prompts_free); *several: v held several. 0, or -1 with *err
 * naming `name` or name[i]. */
int api_read_prompts(json_t *v, const char *name, int max, api_prompt **prompts, int *n, bool *several, api_error *err);
void api_prompts_free(api_prompt *prompts, int n);

/* A field that is there and not null (an absent field and null mean the same in these APIs). */
static inline bool api_present(json_t *v) { return v && !json_is_null(v); }

/* The body as a JSON object (a new reference), or NULL with *err (400: not JSON, or not an object). */
json_t *api_load_object(const char *body, size_t len, api_error *err);

/* Parses a request body; the fields of `defaults` (NULL: none; the server's sampling options)
 * count where the body lacks them. Returns 0, or -1 with *err filled (status 400 and which field). */
int api_parse_request(api_kind kind, const char *body, size_t len, uint64_t default_seed, const json_t *defaults, api_request *out,
                      api_error *err);
void api_request_free(api_request *r);
/* Moves the stop strings out of r (for job_create, which takes them over). */
char **api_request_take_stops(api_request *r, int *n);

/* {"error": {"message", "type", "code"}}: the type follows the status as llama-server names it. */
json_t *api_error_json(int status, const char *message);
int api_errorf(api_error *err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A JSON string of arbitrary bytes: invalid UTF-8 sequences become U+FFFD. */
json_t *api_text(const char *s, size_t len);

/* Tokens with their log-probabilities and their likeliest alternatives: each entry {"token",
 * "logprob", "bytes"} (-inf as -9999; with `with_id` also "id") and its alternatives, alike,
 * under "top_logprobs"; `post` (llama-server's post_sampling_probs): "prob" (the probability,
 * e^logprob) instead of "logprob" and "top_probs" instead of "top_logprobs". */
json_t *api_token_list(const bitnet_model *vocab, const job_logprob *lp, size_t n_lp, bool post, bool with_id);

/* What every reply of one request shares. */
typedef struct api_reply {
    api_kind kind;
    char id[48];                   /* "chatcmpl-..." / "cmpl-..." */
    int64_t created;
    const char *model;
    const bitnet_model *vocab;     /* for the tokens of log-probabilities */
    int n_top_logprobs;
    bool post_sampling_probs;      /* the probabilities are the draws' distributions' (api_request's) */
    size_t text_offset;            /* completions' logprobs.text_offset: bytes sent so far */
    tool_choice tools;             /* function calling: the reply is read by a tool_reader */
    int choice;                    /* the index of the choice replied now (several prompts, OpenAI's "n"); 0 */
    int n_choices;                 /* choices of each prompt: choice's prompt is choice / n_choices (1) */
    json_t *echo;                  /* completions' echo: each prompt's text (an array, owned: api_reply_free), or NULL */
    bool prompt_only;              /* completions' max_tokens 0: the output is dropped (finish_reason "length") */
    /* echo with logprobs: the prompt tokens' of the choice replied now, listed before its first
     * token's (owned: api_reply_set_prompt_lp); the first choice of each prompt brings them
     * (job_output's prompt_logprobs), the prompt's other choices reuse them */
    job_logprob *prompt_lp;
    size_t n_prompt_lp;
} api_reply;

void api_reply_init(api_reply *r, api_kind kind, uint64_t serial, const char *model, const bitnet_model *vocab,
                    int n_top_logprobs);
void api_reply_free(api_reply *r);
/* Makes choice i the one replied: its text offsets from its own start, and at a prompt's first
 * choice (i % n_choices == 0) no prompt log-probabilities until its job brings them. */
void api_reply_begin_choice(api_reply *r, int i);
/* Replaces the reply's prompt_lp with lp[0, n) (taken over; NULL: none). */
void api_reply_set_prompt_lp(api_reply *r, job_logprob *lp, size_t n);

/* "stop" or "length" for a finished request. */
const char *api_finish_reason(bitnet_stop_reason r);

/* The whole reply of a non-streamed request (with tools: the answer's text or the calls,
 * finish_reason "tool_calls"). */
json_t *api_response(api_reply *r, const char *text, size_t len, const job_logprob *lp, size_t n_lp,
                     const bitnet_generate_result *res);
/* Adds choice `index` of the same request (`more`, a reply of api_response, taken over) to
 * `reply`: its choice with that index, its completion tokens to the usage, and its prompt
 * tokens when it is the first choice of another prompt (new_prompt). */
void api_response_add_choice(json_t *reply, json_t *more, int index, bool new_prompt);
/* OpenAI's best_of: of each prompt's per_prompt choices (consecutive in `reply`, their
 * logprobs present), the `keep` with the highest mean token log-probability, best first,
 * re-indexed; their logprobs set to null unless the request asked for them. The usage stays
 * that of every choice drawn. prompt_tokens (NULL: none): for echo with logprobs, how many
 * entries of prompt p's choices' logprobs are its prompt's (not counted in the mean). */
void api_response_keep_best(json_t *reply, int per_prompt, int keep, bool logprobs, const int *prompt_tokens);
/* One stream chunk: text (may be empty), its log-probabilities, the role on the first chunk
 * of a chat, finish_reason when not NULL. */
json_t *api_chunk(api_reply *r, const char *text, size_t len, const job_logprob *lp, size_t n_lp, bool first,
                  const char *finish_reason);
/* A chunk without text (a chat's: the role and null content), for llama-server's
 * return_progress: the caller adds the prompt_progress object. */
json_t *api_progress_chunk(const api_reply *r);
/* The chunk of a stream's function calls (tools.h; calls borrowed): every call whole. */
json_t *api_tool_calls_chunk(const api_reply *r, json_t *calls, bool first);
/* A streamed call's delta: with name, its first one (index, id, type, name and the arguments so
 * far, maybe none), else more of its arguments' text. */
json_t *api_tool_call_delta_chunk(const api_reply *r, size_t index, const char *name, const char *args, size_t args_len, bool first);
/* The usage chunk of stream_options.include_usage (choices empty). */
json_t *api_usage_chunk(const api_reply *r, const bitnet_generate_result *res);

#endif
