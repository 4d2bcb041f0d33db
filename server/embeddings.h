/* embeddings: the pure part of POST /v1/embeddings (OpenAI's) and /embedding, /embeddings
 * (llama-server's): a body's inputs -> prompt ids, and the replies. An input is a string
 * (tokenized with BOS and special tokens, as llama-server does), token ids, token ids and strings
 * mixed, or {"prompt_string": ...}; "input" may hold several (an array of them), "content"
 * (llama-server's) asks for its reply shape. The vectors come from the engine (completions.c
 * runs the jobs): pooled ones are normalized here (embd_normalize), per-token ones are not.
 *
 * No HTTP, no engine: the unit tests and the libFuzzer target call it directly. */
#ifndef BITNET_SERVER_EMBEDDINGS_H
#define BITNET_SERVER_EMBEDDINGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bitnet.h"
#include "request.h"

#define EMBED_MAX_INPUTS 2048 /* OpenAI's limit of inputs per request */

typedef struct embed_request {
    int32_t **ids;             /* [n_inputs][n_ids[i]], malloc'd */
    int *n_ids;
    int n_inputs;
    bool oai;                  /* OpenAI's reply (false: llama-server's list, also for a "content" body) */
    bool base64;               /* encoding_format "base64": little-endian float32 bytes */
    int normalize;             /* embd_normalize (bitnet_embedding_normalize's) */
    char *model;               /* the body's "model", echoed; NULL when absent */
    int64_t dimensions;        /* OpenAI's "dimensions"; 0 when absent (the handler refuses any but n_embd) */
} embed_request;

/* Parses body[0, len) of /v1/embeddings (oai) or /embedding(s). normalize: the server's
 * --embd-normalize. Returns 0, or -1 with *err (400 for what the client sent) and *out empty. */
int embed_request_parse(const request_model *m, const char *body, size_t len, bool oai, int normalize, embed_request *out,
                        api_error *err);
void embed_request_free(embed_request *r);

/* The reply for vectors[i], input i's embedding as the batch wrote it ([n_embd], or
 * [n_ids[i]][n_embd] with pooling none); pooled vectors are normalized in place. OpenAI's
 * list object, or llama-server's [{"index", "embedding": [[...], ...]}]. NULL when out of memory. */
json_t *embed_reply(const embed_request *r, const char *model_name, float *const *vectors, bitnet_pooling pooling,
                    int64_t n_embd);

#endif
