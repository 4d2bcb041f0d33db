/* server: what the modules of bitnet-server share.
 *
 *   main.c         options, startup (listen first, then load the model), signals, shutdown
 *   llama_args.c   llama-server's options beyond ours: its sampling defaults, inert and refused ones
 *   http.c         libmicrohttpd glue: routing, API keys, CORS, body limit, replies, errors,
 *                  one log line and one metrics count per request
 *   watchdog.c     drops clients too slow to send a request (--timeout-idle)
 *   accesslog.c    the per-request log line (--log-format text|json)
 *   metrics.c      counters and histograms, the Prometheus text format (metrics.h)
 *   endpoints.c    /, /health, /metrics, /v1/models, /slots (and /slots/{id}'s actions), /tokenize,
 *                  /detokenize
 *   native.c       llama-server's own API: /completion's replies, /props, /apply-template
 *   chat_page.html the chat page served at / (embedded by the Makefile as build/gen/chat_page.c)
 *   completions.c  /v1/chat/completions, /v1/completions, /v1/responses, /v1/messages, /completion:
 *                  prompt, job, reply or SSE stream; the token-counting endpoints; the embedding
 *                  endpoints' jobs
 *   embeddings.c   the embedding endpoints' inputs and replies
 *   responses.c    the Responses API as chat completions: the body, the response object, its events
 *   anthropic.c    Anthropic's Messages API as chat completions: the body, the message, its events
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
#include <string.h>

#include "bitnet.h"
#include "text/chat.h"
#include "engine.h"
#include "metrics.h"
#include "request.h"

typedef enum log_format { LOG_TEXT, LOG_JSON } log_format;

/* Whether a command-line argument is the option `name` or its `alias` (NULL: none). */
static inline bool server_opt_is(const char *arg, const char *name, const char *alias) {
    return !strcmp(arg, name) || (alias && !strcmp(arg, alias));
}

/* A --host that ends with ".sock" is the path of a Unix domain socket (llama-server's rule). */
static inline bool server_host_is_unix(const char *host) {
    size_t n = strlen(host);
    return n > 5 && !strcmp(host + n - 5, ".sock");
}

typedef struct server_options {
    const char *model_path;
    const char *host;
    int port;
    int n_parallel;
    long long ctx_total;       /* split evenly over the slots; 0: the library's default per slot */
    int n_threads, n_batch;
    char **api_keys;           /* [n_api_keys] (--api-key, --api-key-file); none: no key needed */
    int n_api_keys;
    const char *cors_origin;   /* NULL: no CORS headers, no preflight answers */
    bitnet_act_quant act_quant;
    bitnet_kv_type kv_type_k, kv_type_v; /* --kv-type, -ctk, -ctv */
    int prefix_share;          /* --prefix-share: shortest prompt prefix shared between slots; 0: off */
    long long cache_ram_mib;   /* --cache-ram: the prompt cache in host memory; 0: none, -1: no limit */
    int lookup_draft;          /* --lookup: speculative decoding by prompt lookup; 0: off */
    bool context_shift;        /* --context-shift: a full context drops older positions and goes on */
    bool no_prefill_assistant; /* --no-prefill-assistant: a chat's last assistant message is closed, not continued */
    int n_keep;                /* --keep: a request's n_keep when it gives none */
    int cache_reuse;           /* --cache-reuse: a request's n_cache_reuse when it gives none; 0: off */
    int sse_ping_interval;     /* --sse-ping-interval: seconds of silence before a stream sends an SSE comment; <= 0: never */
    bitnet_lm_head lm_head;
    int max_queue;
    size_t max_body;
    int max_prompt_tokens;     /* 0: a slot's context is the limit */
    int max_tokens_cap;        /* 0: none */
    double timeout_request;    /* seconds; 0: none */
    double timeout_idle;       /* seconds */
    log_format log_format;
    const char *alias;         /* model name reported; NULL: the file's base name */
    const char *chat_format;   /* "auto" or a format name */
    char *chat_template;       /* --chat-template(-file)'s template text (/props shows it); NULL: the model's */
    bool verbose;
    const char *slot_save_path; /* --slot-save-path: the folder of slot files; NULL: no slot actions */
    bitnet_pooling pooling;    /* of the embedding endpoints (--pooling) */
    int embd_normalize;        /* --embd-normalize */
    json_t *request_defaults;  /* llama-server's sampling options as request fields (llama_args.h); NULL: none */
    bool no_webui;             /* --no-webui: no chat page at / */
    const char *api_prefix;    /* --api-prefix: every path is served below it (llama-server's); NULL: none */
    bool reuse_port;           /* --reuse-port: SO_REUSEPORT on the listening socket */
    char *tls_key, *tls_cert;  /* --ssl-key-file, --ssl-cert-file: their PEM text; NULL: plain HTTP */
    const char *log_file;      /* --log-file: stderr also appended there (logfile.c); NULL: none */
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
    int64_t n_vocab, n_embd;
    atomic_uint_fast64_t serial;   /* request counter: ids and default seeds */
    atomic_int n_generating;       /* generation requests being answered */
    metrics metrics;
} server;

/* What the log line of a request says beyond its method and path (set by the handlers). */
typedef struct http_stats {
    unsigned status;           /* of the reply queued; 0 when none was */
    bool generation;           /* a completion that ran: the fields below are set */
    int n_prompt, n_cached, n_generated;
    double ttft_ms;            /* < 0: no token */
    const char *finish;        /* finish_reason; NULL when the job failed */
} http_stats;

/* ---- logfile.c: --log-file. Hold stderr while the options are read (their notes go to the file
 * too); release it when no file is asked for. Start after the stop signals are blocked (its
 * thread inherits the mask): the held text goes out, to the file as well; returns 0, or -1 after
 * printing why not. Stop puts stderr back once all is copied. */
void logfile_hold(void);
void logfile_release(void);
int logfile_start(const char *path);
void logfile_stop(void);

/* ---- http.c */
typedef struct http_server http_server;
/* Starts listening (opt->host, opt->port; port 0 picks a free one). Returns NULL after printing
 * why; *port receives the port bound. */
http_server *http_start(server *srv, int *port);
void http_stop_accepting(http_server *h);
void http_stop(http_server *h);

/* Replies (they take over `body`); the return value is the access handler's. */
enum MHD_Result http_send_json(struct MHD_Connection *c, unsigned status, json_t *body);
/* A reply of len bytes of data (mode: whether libmicrohttpd copies, frees or keeps them). */
enum MHD_Result http_send_body(struct MHD_Connection *c, unsigned status, const char *content_type, const void *data,
                               size_t len, enum MHD_ResponseMemoryMode mode);
/* Queues a response with the common headers and notes its status for the log line. */
enum MHD_Result http_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r);
/* An error reply: OpenAI's error object, or Anthropic's on the paths of its Messages API. */
enum MHD_Result http_send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The path of the connection's current request (printable characters only; "" when unknown). */
const char *http_request_path(struct MHD_Connection *c);
/* The log fields of the connection's current request; NULL when unknown. */
http_stats *http_request_stats(struct MHD_Connection *c);
/* 1 when the client of the connection has closed its side (it no longer waits for a reply). */
int http_client_gone(int fd);
/* The next item of --cors's list from p (commas and blanks between items): its start, its
 * length in *n (0 at the end). */
const char *http_cors_item(const char *p, size_t *n);
/* Whether --cors's value `allowed` ("*", or a comma-separated list of origins and "localhost")
 * lets a page of `origin` (a request's Origin header; NULL: none) read the replies. */
bool http_cors_allows(const char *allowed, const char *origin);
int http_connection_fd(struct MHD_Connection *c);

/* ---- watchdog.c */
typedef struct watchdog watchdog;
typedef struct watched watched;
watchdog *watchdog_start(double seconds); /* NULL when out of memory */
void watchdog_stop(watchdog *w);
/* A new connection, waiting for its request from now on. NULL when out of memory. */
watched *watchdog_add(watchdog *w, int fd);
/* receiving: the connection waits for a request (the clock starts now); false: it is answered. */
void watchdog_receiving(watchdog *w, watched *c, bool receiving);
void watchdog_remove(watchdog *w, watched *c);

/* ---- accesslog.c: one line on stderr */
void access_log(log_format format, const char *method, const char *path, const char *client, const http_stats *st, double duration_ms);

/* ---- endpoints.c, native.c and completions.c: handlers, called once the whole body is in */
typedef enum MHD_Result (*http_handler)(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_page(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_metrics(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_health(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_models(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_slots(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_slot_action(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_tokenize(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_detokenize(server *srv, struct MHD_Connection *c, const char *body, size_t len);
/* What request_build and the chat rendering need to know about the served model and options. */
request_model server_request_model(const server *srv);
enum MHD_Result handle_chat_completions(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_completions(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_embeddings_oai(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_embeddings_llama(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_native_completion(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_responses(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_anthropic_messages(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_anthropic_count_tokens(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_responses_input_tokens(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_chat_input_tokens(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_props(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_apply_template(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_not_offered(server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result handle_lora_adapters(server *srv, struct MHD_Connection *c, const char *body, size_t len);

#endif
