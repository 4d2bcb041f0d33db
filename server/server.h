/* server: what the modules of bitnet-server share.
 *
 *   main.c         options, startup (listen first, then load the model), signals, shutdown
 *   http.c         libmicrohttpd glue: routing, API key, body limit, JSON replies, errors
 *   endpoints.c    /health, /v1/models, /slots, /tokenize, /detokenize
 *   completions.c  /v1/chat/completions and /v1/completions: prompt, job, reply or SSE stream
 *   openai.c       the OpenAI wire format (request parsing, replies, chunks, error objects)
 *   request.c      a request body -> parsed request + prompt ids (pure; fuzzed by tests/fuzz)
 *   engine.c       the engine thread that drives the bitnet_batch
 *
 * Threads: libmicrohttpd runs one thread per connection; each handler blocks its own
 * connection's thread while it waits for a job. The engine thread owns the batch. The model
 * is read-only and shared by all of them. */
#ifndef BITNET_SERVER_H
#define BITNET_SERVER_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bitnet.h"
#include "chat.h"
#include "engine.h"

typedef struct server_options {
    const char *model_path;
    const char *host;
    int port;
    int n_parallel;
    long long ctx_total;       /* split evenly over the slots; 0: the library's default per slot */
    int n_threads, n_batch;
    const char *api_key;       /* NULL: no key needed */
    bitnet_act_quant act_quant;
    bool lm_head_q8;
    int max_queue;
    size_t max_body;
    const char *alias;         /* model name reported; NULL: the file's base name */
    const char *chat_format;   /* "auto" or a format name */
    bool verbose;
} server_options;

typedef enum server_state { SERVER_LOADING = 0, SERVER_READY = 1, SERVER_STOPPING = 2 } server_state;

typedef struct server {
    server_options opt;
    const char *model_name;
    int64_t started;           /* unix time */
    atomic_int state;          /* server_state; model and engine are set before SERVER_READY */
    bitnet_model *model;
    engine *engine;
    bn_chat_format chat_format;
    int64_t n_vocab;
    atomic_uint_fast64_t serial;   /* request counter: ids and default seeds */
    atomic_int n_generating;       /* generation requests being answered */
} server;

/* ---- http.c */
typedef struct http_server http_server;
/* Starts listening (opt->host, opt->port; port 0 picks a free one). Returns NULL after printing
 * why; *port receives the port bound. */
http_server *http_start(server *srv, int *port);
void http_stop_accepting(http_server *h);
void http_stop(http_server *h);

/* Replies (they take over `body`); the return value is the access handler's. */
enum MHD_Result http_send_json(struct MHD_Connection *c, unsigned status, json_t *body);
enum MHD_Result http_send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds the headers every reply carries (CORS). */
void http_add_common_headers(struct MHD_Response *r);
/* 1 when the client of the connection has closed its side (it no longer waits for a reply). */
int http_client_gone(int fd);
int http_connection_fd(struct MHD_Connection *c);

/* ---- endpoints.c and completions.c: handlers, called once the whole body is in */
typedef enum MHD_Result (*http_handler)(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_health(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_models(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_slots(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_tokenize(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_detokenize(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_chat_completions(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_completions(server *srv, struct MHD_Connection *c, const char *body, size_t len);

#endif
