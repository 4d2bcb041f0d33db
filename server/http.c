/* http: the libmicrohttpd glue. One thread per connection (handlers may block their own
 * connection while a job runs); a route table; the API keys (every path but /health and the
 * chat page; compared in constant time); CORS only when --cors asks for it; the body limit
 * (413 before the body is read when Content-Length says so); the slow-client watchdog
 * (watchdog.c); JSON replies and OpenAI error objects for every failure (Anthropic's on the
 * paths of its Messages API); and, when a request ends, its log line (accesslog.c) and its
 * count in the metrics by endpoint and status. Where it listens: a TCP address, or a Unix
 * domain socket (a --host ending in .sock); HTTPS with --ssl-key-file/--ssl-cert-file
 * (libmicrohttpd's TLS, GnuTLS); every path below --api-prefix when one is given. */
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "anthropic.h"
#include "openai.h"
#include "server.h"

/* 413 (libmicrohttpd renamed its constant between versions). */
#define HTTP_CONTENT_TOO_LARGE 413
/* What the log and the metrics say of a request whose client left before a reply (nginx's 499). */
#define HTTP_CLIENT_CLOSED 499

struct http_server {
    struct MHD_Daemon *daemon;
    server *srv;
    watchdog *watchdog;
    const char *unix_path;     /* the Unix domain socket's file, removed at the end; NULL: TCP */
};

/* --cors: "*", or the origins allowed (a comma-separated list; "localhost" stands for any origin
 * on this machine); NULL: CORS is off. Set once before the daemon starts. */
static const char *cors_origin;

typedef struct route {
    const char *path;
    const char *method;
    http_handler handler;
    bool open;                 /* no API key needed, answered while loading */
    bool prefix;               /* path is a prefix: "/slots/" also routes "/slots/3" */
} route;

static const route routes[] = {
    {"/", "GET", handle_page, true, false},
    {"/metrics", "GET", handle_metrics, false, false},
    {"/health", "GET", handle_health, true, false},
    {"/v1/health", "GET", handle_health, true, false},
    {"/v1/models", "GET", handle_models, false, false},
    {"/v1/embeddings", "POST", handle_embeddings_oai, false, false},
    {"/models", "GET", handle_models, false, false},
    {"/v1/chat/completions", "POST", handle_chat_completions, false, false},
    {"/chat/completions", "POST", handle_chat_completions, false, false},
    {"/v1/completions", "POST", handle_completions, false, false},
    {"/v1/responses", "POST", handle_responses, false, false},
    {"/responses", "POST", handle_responses, false, false},
    {"/v1/messages", "POST", handle_anthropic_messages, false, false},
    {"/v1/messages/count_tokens", "POST", handle_anthropic_count_tokens, false, false},
    {"/v1/responses/input_tokens", "POST", handle_responses_input_tokens, false, false},
    {"/responses/input_tokens", "POST", handle_responses_input_tokens, false, false},
    {"/v1/chat/completions/input_tokens", "POST", handle_chat_input_tokens, false, false},
    {"/chat/completions/input_tokens", "POST", handle_chat_input_tokens, false, false},
    {"/completion", "POST", handle_native_completion, false, false},  /* llama-server's own, as it routes them */
    {"/completions", "POST", handle_native_completion, false, false},
    {"/props", "GET", handle_props, false, false},
    {"/embedding", "POST", handle_embeddings_llama, false, false},  /* llama-server's own */
    {"/embeddings", "POST", handle_embeddings_llama, false, false},
    {"/apply-template", "POST", handle_apply_template, false, false},
    {"/slots/", "POST", handle_slot_action, false, true},  /* llama-server's /slots/{id}?action=... */
    {"/tokenize", "POST", handle_tokenize, false, false},
    {"/detokenize", "POST", handle_detokenize, false, false},
    {"/slots", "GET", handle_slots, false, false},
    /* llama-server's, for what this engine does not do: 501 and why (GET /lora-adapters: none) */
    {"/infill", "POST", handle_not_offered, false, false},
    {"/reranking", "POST", handle_not_offered, false, false},
    {"/rerank", "POST", handle_not_offered, false, false},
    {"/v1/rerank", "POST", handle_not_offered, false, false},
    {"/v1/reranking", "POST", handle_not_offered, false, false},
    {"/props", "POST", handle_not_offered, false, false},
    {"/lora-adapters", "POST", handle_not_offered, false, false},
    {"/lora-adapters", "GET", handle_lora_adapters, false, false},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])
/* The metrics label of each route (its path), then "other" for everything else. */
static const char *endpoint_labels[N_ROUTES + 1];

/* One connection: its watchdog entry and the log fields of its current request. */
typedef struct conn {
    watched *watch;
    http_stats stats;
    bool anthropic_errors;     /* the current request's errors take Anthropic's shape */
    const char *path;          /* the current request's path (its request's copy) */
} conn;

/* One request being received: its route and its body so far. */
typedef struct request {
    const route *route;
    char *body;
    size_t len, cap;
    bool too_large, answered;
    char method[16], path[256];
    char client[64];           /* the peer's address:port, "unix" (the log's client) */
    double started;
} request;

/* ===================================================================== replies */

static conn *connection_conn(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

const char *http_request_path(struct MHD_Connection *c) {
    conn *k = connection_conn(c);
    return k && k->path ? k->path : "";
}

http_stats *http_request_stats(struct MHD_Connection *c) {
    conn *k = connection_conn(c);
    return k ? &k->stats : NULL;
}

/* An origin on this machine: http or https, host localhost, 127.0.0.1 or [::1], any port. */
static bool origin_is_local(const char *origin) {
    static const char *const hosts[] = {"localhost", "127.0.0.1", "[::1]"};
    const char *p = !strncmp(origin, "http://", 7) ? origin + 7 : !strncmp(origin, "https://", 8) ? origin + 8 : NULL;
    for (size_t i = 0; p && i < sizeof hosts / sizeof hosts[0]; i++) {
        size_t n = strlen(hosts[i]);
        if (strncmp(p, hosts[i], n)) continue;
        const char *port = p + n;
        if (!*port) return true;
        return *port == ':' && port[1] && strspn(port + 1, "0123456789") == strlen(port + 1);
    }
    return false;
}

const char *http_cors_item(const char *p, size_t *n) {
    p += strspn(p, " ,");
    *n = strcspn(p, ", ");
    return p;
}

bool http_cors_allows(const char *allowed, const char *origin) {
    if (!strcmp(allowed, "*")) return true;
    size_t len = origin ? strlen(origin) : 0, n;
    for (const char *p = http_cors_item(allowed, &n); len && n; p = http_cors_item(p + n, &n))
        if ((n == 9 && !strncmp(p, "localhost", 9) && origin_is_local(origin)) || (n == len && !strncmp(p, origin, n))) return true;
    return false;
}

/* Access-Control-Allow-Origin: "*", or the request's Origin when --cors lists it (then also
 * Vary: Origin, for caches); nothing for other origins (the browser refuses the reply). */
static void add_cors_headers(struct MHD_Connection *c, struct MHD_Response *r) {
    if (!cors_origin) return;
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    bool any = !strcmp(cors_origin, "*");
    if (!any) MHD_add_response_header(r, "Vary", "Origin");
    if (http_cors_allows(cors_origin, origin)) MHD_add_response_header(r, "Access-Control-Allow-Origin", any ? "*" : origin);
}

enum MHD_Result http_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r) {
    http_stats *st = http_request_stats(c);
    if (st) st->status = status;
    add_cors_headers(c, r);
    return MHD_queue_response(c, status, r);
}

enum MHD_Result http_send_body(struct MHD_Connection *c, unsigned status, const char *content_type, const void *data,
                               size_t len, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free((void *)data);
        return MHD_NO; /* out of memory: drop the connection */
    }
    MHD_add_response_header(r, "Content-Type", content_type);
    enum MHD_Result ret = http_queue(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result http_send_json(struct MHD_Connection *c, unsigned status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) return MHD_NO; /* out of memory: drop the connection */
    return http_send_body(c, status, "application/json; charset=utf-8", text, strlen(text), MHD_RESPMEM_MUST_FREE);
}

enum MHD_Result http_send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    conn *k = connection_conn(c);
    return http_send_json(c, status, k && k->anthropic_errors ? anthropic_error_json((int)status, message)
                                                              : api_error_json((int)status, message));
}

/* The answer to a CORS preflight (only with --cors). */
static enum MHD_Result send_preflight(struct MHD_Connection *c) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    enum MHD_Result ret = http_queue(c, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
}

int http_connection_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}

int http_client_gone(int fd) {
    if (fd < 0) return 0;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* ===================================================================== routing */

/* The route of a path and method; *status says 404 or 405 when there is none. */
static const route *find_route(const char *url, const char *method, unsigned *status) {
    *status = MHD_HTTP_NOT_FOUND;
    for (size_t i = 0; i < N_ROUTES; i++) {
        size_t n = strlen(routes[i].path);
        if (routes[i].prefix ? strncmp(url, routes[i].path, n) || !url[n] : strcmp(url, routes[i].path)) continue;
        if (!strcmp(method, routes[i].method)) return &routes[i];
        *status = MHD_HTTP_METHOD_NOT_ALLOWED;
    }
    return NULL;
}

/* Comparison of the token of an Authorization header with one key: its time depends on the
 * token's length only, never on where the bytes differ. */
static bool key_matches(const char *token, const char *key) {
    size_t n = strlen(token), m = strlen(key);
    unsigned diff = n != m;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)token[i] ^ (unsigned char)key[i % (m ? m : 1)];
    return diff == 0;
}

/* "Authorization: Bearer KEY", or Anthropic's "X-Api-Key: KEY" when there is no Authorization
 * header, with KEY one of the keys; every key is compared (no early exit). */
static bool authorized(const server *srv, struct MHD_Connection *c) {
    static const char prefix[] = "Bearer ";
    const char *header = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *token = header && !strncmp(header, prefix, sizeof prefix - 1) ? header + sizeof prefix - 1 : NULL;
    if (!header) token = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Api-Key");
    if (!token) return false;
    bool ok = false;
    for (int i = 0; i < srv->opt.n_api_keys; i++) ok |= key_matches(token, srv->opt.api_keys[i]);
    return ok;
}

/* Checks done before the body is read; returns 0 or queues an error reply and returns 1. */
static int refuse_early(server *srv, struct MHD_Connection *c, const char *url, const char *method, request *rq,
                        enum MHD_Result *ret) {
    unsigned status;
    const char *len_header = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cors_origin && !strcmp(method, "OPTIONS")) *ret = send_preflight(c);
    else if (!(rq->route = find_route(url, method, &status)))
        *ret = status == MHD_HTTP_NOT_FOUND ? http_send_error(c, status, "no such endpoint: %s %s", method, url)
                                            : http_send_error(c, status, "%s is not allowed on %s", method, url);
    else if (srv->opt.n_api_keys && !rq->route->open && !authorized(srv, c))
        *ret = http_send_error(c, MHD_HTTP_UNAUTHORIZED, "invalid or missing API key (Authorization: Bearer KEY, or X-Api-Key: KEY)");
    else if (len_header && strtoull(len_header, NULL, 10) > srv->opt.max_body)
        *ret = http_send_error(c, HTTP_CONTENT_TOO_LARGE, "the body has %s bytes; at most %zu are accepted (--max-body)",
                               len_header, srv->opt.max_body);
    else if (!rq->route->open && atomic_load(&srv->state) != SERVER_READY)
        *ret = http_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                               atomic_load(&srv->state) == SERVER_LOADING ? "the model is loading" : "the server is shutting down");
    else return 0;
    return 1;
}

static void append_body(server *srv, request *rq, const char *data, size_t n) {
    if (rq->too_large || rq->len + n > srv->opt.max_body) {
        rq->too_large = true;
        return;
    }
    if (rq->len + n + 1 > rq->cap) {
        size_t cap = (rq->len + n + 1) * 2;
        if (cap > srv->opt.max_body + 1) cap = srv->opt.max_body + 1;
        char *bigger = realloc(rq->body, cap);
        if (!bigger) {
            rq->too_large = true;
            return;
        }
        rq->body = bigger;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = '\0';
}

/* A copy of what the log line shows (control bytes of a decoded path become '?'). */
static void copy_printable(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
    dst[i] = '\0';
}

/* /v1/messages and the paths below it: the Anthropic SDK reads their errors in Anthropic's shape,
 * also those sent before the handler runs (401, 404, 405, 413). */
static bool anthropic_path(const char *url) {
    static const char prefix[] = "/v1/messages";
    size_t n = sizeof prefix - 1;
    return !strncmp(url, prefix, n) && (url[n] == '\0' || url[n] == '/');
}

/* The length of --api-prefix when url is below it (the prefix, then '/'); 0 when there is no
 * prefix; -1 when url is outside it. */
static int prefix_length(const char *prefix, const char *url) {
    size_t n = prefix ? strlen(prefix) : 0;
    if (!n) return 0;
    return !strncmp(url, prefix, n) && url[n] == '/' ? (int)n : -1;
}

/* The connection's peer for the log: "host:port" ("[host]:port" for IPv6), "unix", or "?". */
static void client_address(struct MHD_Connection *c, char *out, size_t cap) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;
    char host[INET6_ADDRSTRLEN], port[8];
    socklen_t len = sa && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (sa && sa->sa_family == AF_UNIX) snprintf(out, cap, "unix");
    else if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) &&
             !getnameinfo(sa, len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV))
        snprintf(out, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    else snprintf(out, cap, "?");
}

/* The first call of a request: its headers are in. The log shows the whole path; routes and
 * handlers see the part below --api-prefix. */
static request *begin_request(http_server *h, struct MHD_Connection *c, const char *url, const char *method,
                              enum MHD_Result *ret) {
    request *rq = calloc(1, sizeof *rq);
    if (!rq) return NULL;
    rq->started = metrics_now();
    copy_printable(rq->method, sizeof rq->method, method);
    copy_printable(rq->path, sizeof rq->path, url);
    client_address(c, rq->client, sizeof rq->client);
    int skip = prefix_length(h->srv->opt.api_prefix, url);
    conn *k = connection_conn(c);
    if (k) {
        k->stats = (http_stats){.ttft_ms = -1};
        k->anthropic_errors = skip >= 0 && anthropic_path(url + skip);
        k->path = rq->path + (skip > 0 ? skip : 0); /* the prefix is shorter than rq->path (main.c) */
    }
    if (skip < 0) {
        *ret = http_send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %s %s (this server's paths are below %s/)", method, url,
                               h->srv->opt.api_prefix);
        rq->answered = true;
    } else if (refuse_early(h->srv, c, url + skip, method, rq, ret)) {
        rq->answered = true;
    }
    return rq;
}

/* The request is whole (or refused): the watchdog no longer times it. */
static void mark_answered(http_server *h, struct MHD_Connection *c, request *rq) {
    rq->answered = true;
    conn *k = connection_conn(c);
    if (k) watchdog_receiving(h->watchdog, k->watch, false);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ctx) {
    http_server *h = cls;
    server *srv = h->srv;
    request *rq = *ctx;
    (void)version;
    if (!rq) {
        enum MHD_Result ret = MHD_YES;
        if (!(rq = *ctx = begin_request(h, c, url, method, &ret))) return MHD_NO;
        if (rq->answered) mark_answered(h, c, rq);
        return ret;
    }
    if (*upload_size) {
        if (!rq->answered) append_body(srv, rq, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->answered) return MHD_YES;
    mark_answered(h, c, rq);
    if (rq->too_large)
        return http_send_error(c, HTTP_CONTENT_TOO_LARGE, "the body is larger than %zu bytes (--max-body)", srv->opt.max_body);
    return rq->route->handler(srv, c, rq->body ? rq->body : "", rq->len);
}

/* A route's metrics label: the first route of its path (one label per path, whatever the method). */
static int endpoint_of(const route *r) {
    int i = 0;
    while (strcmp(routes[i].path, r->path)) i++;
    return i;
}

/* The request has ended (its reply is out, or the connection failed): its log line and count. */
static void on_completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode why) {
    http_server *h = cls;
    request *rq = *ctx;
    (void)why;
    if (!rq) return;
    conn *k = connection_conn(c);
    http_stats st = k ? k->stats : (http_stats){.ttft_ms = -1};
    if (!st.status) st.status = HTTP_CLIENT_CLOSED; /* no reply was queued: the client went away first */
    metrics_request(&h->srv->metrics, rq->route ? endpoint_of(rq->route) : (int)N_ROUTES, st.status);
    access_log(h->srv->opt.log_format, rq->method, rq->path, rq->client, &st, (metrics_now() - rq->started) * 1e3);
    if (k) watchdog_receiving(h->watchdog, k->watch, true); /* the next request of a kept-alive connection */
    if (k) k->path = NULL;                                  /* it pointed into rq */
    free(rq->body);
    free(rq);
    *ctx = NULL;
}

/* A connection opens or closes: its watchdog entry. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx, enum MHD_ConnectionNotificationCode what) {
    http_server *h = cls;
    conn *k = *socket_ctx;
    if (what == MHD_CONNECTION_NOTIFY_STARTED) {
        if (!(k = calloc(1, sizeof *k))) return;
        k->watch = watchdog_add(h->watchdog, http_connection_fd(c));
        *socket_ctx = k;
        return;
    }
    if (!k) return;
    watchdog_remove(h->watchdog, k->watch);
    free(k);
    *socket_ctx = NULL;
}

/* ===================================================================== the daemon */

static int resolve(const char *host, int port, struct sockaddr_storage *addr, bool *ipv6) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc) {
        fprintf(stderr, "bitnet-server: cannot resolve --host %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *ipv6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

static void init_metrics(server *srv) {
    _Static_assert(N_ROUTES + 1 <= METRICS_MAX_ENDPOINTS, "METRICS_MAX_ENDPOINTS is below the routes");
    for (size_t i = 0; i < N_ROUTES; i++) endpoint_labels[i] = routes[i].path; /* only first ones of a path are counted */
    endpoint_labels[N_ROUTES] = "other";
    metrics_init(&srv->metrics, endpoint_labels, (int)N_ROUTES + 1);
}

static void free_http(http_server *h) {
    watchdog_stop(h->watchdog);
    free(h);
}

/* libmicrohttpd's own messages, on stderr with our prefix; not the one it prints when a
 * handler returns MHD_NO ("Application reported internal error"): ours do that to drop a
 * request whose client went away, which the access log already records (499), and the
 * message would send an operator looking for an internal error that did not happen. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    if (strstr(text, "Application reported internal error")) return;
    fprintf(stderr, "bitnet-server: libmicrohttpd: %s%s", text, strchr(text, '\n') ? "" : "\n");
}

/* A listening Unix domain socket at path, or -1 after printing why not. A file left there by a
 * server that is gone (nothing accepts on it) is replaced; one in use, or not a socket, is not. */
static int listen_unix(const char *path) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct stat st;
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "bitnet-server: --host %s: a Unix socket path has at most %zu bytes\n", path, sizeof addr.sun_path - 1);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && lstat(path, &st) == 0) {
        bool in_use = S_ISSOCK(st.st_mode) && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
        const char *why = !S_ISSOCK(st.st_mode) ? "exists and is not a socket" : in_use ? "is in use by another server" : NULL;
        if (why || unlink(path)) {
            fprintf(stderr, "bitnet-server: --host %s %s\n", path, why ? why : strerror(errno));
            close(fd);
            return -1;
        }
        close(fd);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) || listen(fd, 128)) {
        fprintf(stderr, "bitnet-server: cannot listen on the Unix socket %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* What http_start gives libmicrohttpd beyond its fixed options: the address or socket, port
 * reuse, TLS. items has room for 5 and the end. Returns 0, or -1 after printing why not. */
static int listen_options(server *srv, http_server *h, struct sockaddr_storage *addr, struct MHD_OptionItem *items,
                          unsigned *flags) {
    int n = 0;
    bool ipv6 = false;
    if (server_host_is_unix(srv->opt.host)) {
        int fd = listen_unix(srv->opt.host);
        if (fd < 0) return -1;
        h->unix_path = srv->opt.host;
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    } else {
        if (resolve(srv->opt.host, srv->opt.port, addr, &ipv6)) return -1;
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, addr};
        if (srv->opt.reuse_port) items[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
    }
    if (srv->opt.tls_key) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            fprintf(stderr, "bitnet-server: --ssl-key-file: this libmicrohttpd was built without TLS\n");
            return -1;
        }
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->opt.tls_key};
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->opt.tls_cert};
        *flags |= MHD_USE_TLS;
    }
    items[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (ipv6) *flags |= MHD_USE_IPv6;
    return 0;
}

static void stop_unix(http_server *h) {
    if (h->unix_path) unlink(h->unix_path);
    h->unix_path = NULL;
}

http_server *http_start(server *srv, int *port) {
    struct sockaddr_storage addr;
    struct MHD_OptionItem listening[6];
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    http_server *h = calloc(1, sizeof *h);
    if (!h || listen_options(srv, h, &addr, listening, &flags) || !(h->watchdog = watchdog_start(srv->opt.timeout_idle))) {
        if (h && h->unix_path) close((int)listening[0].value);
        if (h) stop_unix(h);
        free(h);
        return NULL;
    }
    h->srv = srv;
    cors_origin = srv->opt.cors_origin;
    init_metrics(srv);
    h->daemon = MHD_start_daemon(flags, (uint16_t)srv->opt.port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                                 NULL, MHD_OPTION_ARRAY, listening, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)(srv->opt.timeout_idle + 0.999), MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                                 MHD_OPTION_END);
    if (!h->daemon) {
        if (srv->opt.tls_key)
            fprintf(stderr, "bitnet-server: cannot serve HTTPS on %s: the TLS key or certificate was refused (--ssl-key-file, "
                            "--ssl-cert-file; libmicrohttpd's message above says which), or the address cannot be used\n", srv->opt.host);
        else if (h->unix_path) fprintf(stderr, "bitnet-server: cannot serve on the Unix socket %s\n", srv->opt.host);
        else fprintf(stderr, "bitnet-server: cannot listen on %s port %d (in use, or not an address of this machine?)\n",
                     srv->opt.host, srv->opt.port);
        stop_unix(h);
        free_http(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : srv->opt.port;
    return h;
}

void http_stop_accepting(http_server *h) {
    if (!h) return;
    MHD_socket fd = MHD_quiesce_daemon(h->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void http_stop(http_server *h) {
    if (!h) return;
    MHD_stop_daemon(h->daemon);
    stop_unix(h);
    free_http(h);
}
