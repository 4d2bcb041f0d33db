/* request: the pure part of a generation request. The body of POST /v1/chat/completions,
 * /v1/completions or /completion becomes the parsed request (openai.c) plus each prompt's ids
 * (a chat has one; a completion may have several): a chat rendered in the model's chat format,
 * text tokenized with BOS and special tokens, or token ids checked against the vocabulary, and
 * each count checked against a slot's context and the server's limits (max_tokens lowered to
 * the server's cap); the embeddings' inputs are read the same way. Or an error: the
 * HTTP status (400 for anything the client sent, 500 only when out of memory or the tokenizer
 * fails) and the message of the error object.
 *
 * No HTTP, no engine, no threads: completions.c calls it for every request, and the libFuzzer
 * target tests/fuzz/fuzz_serve_request.c calls it with a real small model. */
#ifndef BITNET_SERVER_REQUEST_H
#define BITNET_SERVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "bitnet.h"
#include "text/chat.h"
#include "openai.h"

/* What turning a body into a request needs to know about the model being served. */
typedef struct request_model {
    const bitnet_model *model;     /* tokenizer (read-only, shared by threads) */
    bn_chat_format chat_format;
    int64_t n_vocab;
    int64_t slot_ctx;              /* positions per slot: a prompt must leave one for the reply */
    int max_prompt_tokens;         /* --max-prompt-tokens; 0: the slot context is the limit */
    int max_tokens_cap;            /* --max-tokens-cap: a larger or missing max_tokens is lowered to it; 0: none */
    bool prefill_assistant;        /* a chat's last assistant message is continued (not --no-prefill-assistant) */
    const json_t *defaults;        /* fields a request that lacks them gets (llama-server's sampling options); NULL: none */
} request_model;

/* A request ready for job_create(): the parsed fields and each prompt's ids (a chat has one). */
typedef struct gen_request {
    api_request api;
    int32_t **ids;                 /* [n_prompts][n_ids[i]], malloc'd */
    int *n_ids;                    /* each 1 .. slot_ctx - 1 (and max_prompt_tokens) */
    int n_prompts;
    int32_t *prediction;           /* api.prediction's tokens (no BOS, no special tokens; at most slot_ctx), malloc'd; api.gen points here */
    int n_prediction;
} gen_request;

/* Parses body[0, len) for the endpoint kind and builds the prompt. default_seed is the seed of
 * a request that gives none. Returns 0, or -1 with *err filled and *out empty (freed). */
int request_build(const request_model *m, api_kind kind, const char *body, size_t len, uint64_t default_seed,
                  gen_request *out, api_error *err);
void gen_request_free(gen_request *r);

/* The ids of a prompt of token ids and strings (llama-server's mixed form): each string
 * tokenized with special tokens, BOS only before a first part that is text; ids checked
 * against the vocabulary (`field` names the array in errors). The count, or -1 with *err. */
int request_parts_ids(const request_model *m, const api_prompt_part *parts, int n_parts, const char *field, int32_t **ids,
                      api_error *err);

/* The ids of prompts[0, n) into (*ids)[i], (*n_ids)[i] (arrays of n, malloc'd, calloc'd so that
 * the caller frees all n entries also after a failure; *ids NULL when out of memory): each
 * tokenized as request_parts_ids does and checked: not empty, within --max-prompt-tokens and a
 * slot's context. Errors name `name`, or name[i] when several. 0, or -1 with *err. */
int request_prompts_ids(const request_model *m, const api_prompt *prompts, int n, const char *name, bool several, int32_t ***ids,
                        int **n_ids, api_error *err);

/* The prompts as the client gave them (OpenAI's echo): each text part as it is, token ids as
 * their text (special tokens rendered). A JSON array of strings, or NULL when out of memory. */
json_t *request_echo_texts(const bitnet_model *model, const api_prompt *prompts, int n);

/* Tokenizes text into *out (malloc'd, also for 0 tokens); returns the count or a negative status. */
int request_tokenize(const bitnet_model *model, const char *text, size_t len, bool add_special, bool parse_special,
                     int32_t **out);

/* The text of token ids (special tokens rendered), malloc'd, its length in *len; NULL when out
 * of memory. The ids must be tokens of the model. */
char *request_detokenize(const bitnet_model *model, const int32_t *ids, size_t n, size_t *len);

/* The prompt a chat request's body renders to (llama-server's /apply-template): malloc'd, or
 * NULL with *err. */
char *request_render_chat(const request_model *m, const char *body, size_t len, api_error *err);

#endif
