/* native: llama-server's own API beside the OpenAI one. The replies of POST /completion (one
 * JSON object, or a stream of Server-Sent Events with one object per piece of text and a final
 * one with stop true; no [DONE]), its generation_settings, and the handlers of GET /props and
 * POST /apply-template. The request body is parsed by openai.c (API_NATIVE: llama-server's
 * defaults and fields); the job and the stream are completions.c's. */
#ifndef BITNET_SERVER_NATIVE_H
#define BITNET_SERVER_NATIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "openai.h"

/* What the replies of one /completion request need besides the job's output. */
typedef struct native_reply {
    json_t *settings;          /* generation_settings (owned) */
    json_t *prompts;           /* each prompt's text, special tokens rendered (an array, owned) */
    const char *model;
    const bitnet_model *vocab;
    int n_choices;             /* n_cmpl: completions of each prompt */
    bool prompt_only;          /* n_predict 0: the output is dropped */
    bool return_tokens, stream;
    bool post_sampling_probs;  /* completion_probabilities in probabilities ("prob", "top_probs") */
    json_t *response_fields;   /* the request's (a reference), or NULL: the final reply keeps only those paths */
} native_reply;

/* Where one completion of the request is (several prompts or n_cmpl: one each; a stream's
 * completions advance side by side). */
typedef struct native_cursor {
    int index;                 /* the completion: prompt index / n_choices, its seed the request's + index % n_choices */
    int n_predicted;           /* a stream's tokens so far */
    int32_t *held;             /* a stream's tokens whose text is still held back (malloc'd) */
    size_t n_held, cap_held;
} native_cursor;

/* Before the jobs run: the settings of rq (job j holds the stop strings; default_n_keep is
 * the server's --keep, for a request without n_keep) and the prompts' texts from their ids
 * (ids[i][0, n_ids[i]) for i < n_prompts). Returns 0, or -1 when out of memory. */
int native_reply_init(native_reply *r, const api_request *rq, const job *j, int default_n_keep, int32_t *const *ids,
                      const int *n_ids, int n_prompts, const char *model, const bitnet_model *vocab);
void native_reply_free(native_reply *r);
void native_cursor_free(native_cursor *c);

/* A request's sampling and limits as llama-server names them (generation_settings). */
json_t *native_settings(const api_request *rq, const job *j, int default_n_keep);

/* The reply of completion c->index, a finished job: its whole text (empty for a stream), its
 * token ids and log-probabilities, stop_type and stopping_word, timings. */
json_t *native_response(const native_reply *r, const native_cursor *c, const job *j, const char *text, size_t len, const int32_t *tokens,
                        size_t n_tokens, const job_logprob *lp, size_t n_lp, const bitnet_generate_result *res);
/* A stream's piece of completion c (its text, its token, -1 for text flushed at the end, and the token's
 * log-probabilities): the event with the text and the tokens since the last event, or NULL
 * when there is nothing to send (the text held back, or a prompt-only request); the token
 * then waits for the next event. */
json_t *native_piece(const native_reply *r, native_cursor *c, const job *j, const char *text, size_t len, int32_t token, const job_logprob *lp);
/* A stream's event without content (llama-server's return_progress events carry the
 * prompt_progress object beside its fields); NULL for a prompt-only request. */
json_t *native_empty_piece(const native_reply *r, const native_cursor *c, const job *j);
/* llama-server's timings object (the final reply's, and timings_per_token's in stream events). */
json_t *native_timings(int cache_n, int prompt_n, double prompt_ms, int predicted_n, double predicted_ms);

#endif
