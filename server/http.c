/* http: the libmicrohttpd glue. One thread per connection (handlers may block their own
 * connection while a job runs); a route table; the API key (every path but /health); the body
 * limit (413 before the body is read when Content-Length says so); JSON replies with CORS
 * headers; OpenAI error objects for every failure. */
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "openai.h"
#include "server.h"

/* 413 (libmicrohttpd renamed its constant between versions). */
#define HTTP_CONTENT_TOO_LARGE 413

struct http_server {
    struct MHD_Daemon *daemon;
};

typedef struct route {
    const char *path;
    const char *method;
    http_handler handler;
    bool open;                 /* no API key needed, answered while loading */
} route;

static const route routes[] = {
    {"/health", "GET", handle_health, true},
    {"/v1/health", "GET", handle_health, true},
    {"/v1/models", "GET", handle_models, false},
    {"/models", "GET", handle_models, false},
    {"/v1/chat/completions", "POST", handle_chat_completions, false},
    {"/chat/completions", "POST", handle_chat_completions, false},
    {"/v1/completions", "POST", handle_completions, false},
    {"/completions", "POST", handle_completions, false},
    {"/tokenize", "POST", handle_tokenize, false},
    {"/detokenize", "POST", handle_detokenize, false},
    {"/slots", "GET", handle_slots, false},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* One request being received: its route and its body so far. */
typedef struct request {
    const route *route;
    char *body;
    size_t len, cap;
    bool too_large, answered;
} request;

/* ===================================================================== replies */

void http_add_common_headers(struct MHD_Response *r) {
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
}

enum MHD_Result http_send_json(struct MHD_Connection *c, unsigned status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) return MHD_NO; /* out of memory: drop the connection */
    size_t len = strlen(text);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    http_add_common_headers(r);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result http_send_error(struct MHD_Connection *c, unsigned status, const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return http_send_json(c, status, api_error_json((int)status, message));
}

static enum MHD_Result send_preflight(struct MHD_Connection *c) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    http_add_common_headers(r);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_NO_CONTENT, r);
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
        if (strcmp(url, routes[i].path)) continue;
        if (!strcmp(method, routes[i].method)) return &routes[i];
        *status = MHD_HTTP_METHOD_NOT_ALLOWED;
    }
    return NULL;
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static bool key_matches(const char *header, const char *key) {
    static const char prefix[] = "Bearer ";
    if (!header || strncmp(header, prefix, sizeof prefix - 1)) return false;
    header += sizeof prefix - 1;
    size_t n = strlen(header), m = strlen(key);
    unsigned diff = n != m;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)header[i] ^ (unsigned char)key[i % (m ? m : 1)];
    return diff == 0;
}

/* Checks done before the body is read; returns 0 or queues an error reply and returns 1. */
static int refuse_early(server *srv, struct MHD_Connection *c, const char *url, const char *method, request *rq,
                        enum MHD_Result *ret) {
    unsigned status;
    const char *len_header = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!strcmp(method, "OPTIONS")) *ret = send_preflight(c);
    else if (!(rq->route = find_route(url, method, &status)))
        *ret = status == MHD_HTTP_NOT_FOUND ? http_send_error(c, status, "no such endpoint: %s %s", method, url)
                                            : http_send_error(c, status, "%s is not allowed on %s", method, url);
    else if (srv->opt.api_key && !rq->route->open &&
             !key_matches(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION), srv->opt.api_key))
        *ret = http_send_error(c, MHD_HTTP_UNAUTHORIZED, "invalid or missing API key (Authorization: Bearer KEY)");
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ctx) {
    server *srv = cls;
    request *rq = *ctx;
    (void)version;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        *ctx = rq;
        if (srv->opt.verbose) fprintf(stderr, "bitnet-server: %s %s\n", method, url);
        enum MHD_Result ret = MHD_YES;
        if (refuse_early(srv, c, url, method, rq, &ret)) rq->answered = true;
        return ret;
    }
    if (*upload_size) {
        if (!rq->answered) append_body(srv, rq, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->answered) return MHD_YES;
    rq->answered = true;
    if (rq->too_large)
        return http_send_error(c, HTTP_CONTENT_TOO_LARGE, "the body is larger than %zu bytes (--max-body)", srv->opt.max_body);
    return rq->route->handler(srv, c, rq->body ? rq->body : "", rq->len);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode why) {
    (void)cls, (void)c, (void)why;
    request *rq = *ctx;
    if (!rq) return;
    free(rq->body);
    free(rq);
    *ctx = NULL;
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

http_server *http_start(server *srv, int *port) {
    struct sockaddr_storage addr;
    bool ipv6;
    if (resolve(srv->opt.host, srv->opt.port, &addr, &ipv6)) return NULL;
    http_server *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    h->daemon = MHD_start_daemon(flags, (uint16_t)srv->opt.port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                                 MHD_OPTION_END);
    if (!h->daemon) {
        fprintf(stderr, "bitnet-server: cannot listen on %s port %d (in use, or not an address of this machine?)\n",
                srv->opt.host, srv->opt.port);
        free(h);
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
    free(h);
}
