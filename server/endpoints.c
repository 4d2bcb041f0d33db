/* endpoints: the plain endpoints. / (the chat page, chat_page.html built into the binary),
 * /metrics (Prometheus text format), /health (200 when ready, 503 while loading or draining), /v1/models,
 * /slots (what each slot is doing: llama-server's shape, trimmed), and llama-server's
 * /tokenize {"content", "add_special" (false), "parse_special" (true), "with_pieces" (false)}
 * -> {"tokens": [...]} and /detokenize {"tokens": [...]} -> {"content": "..."}. */
#include <stdlib.h>
#include <string.h>

#include "openai.h"
#include "request.h"
#include "server.h"

/* server/chat_page.html, embedded by the Makefile (build/gen/chat_page.c). */
extern const unsigned char chat_page_html[];
extern const size_t chat_page_html_len;

enum MHD_Result handle_page(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    (void)body, (void)len;
    if (srv->opt.no_webui) return http_send_error(c, MHD_HTTP_NOT_FOUND, "the chat page is off (--no-webui)");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(chat_page_html_len, (void *)chat_page_html, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* Everything the page needs is inline; it talks to this server only. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
                            "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    enum MHD_Result ret = http_queue(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result handle_metrics(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    (void)body, (void)len;
    metrics_gauges g;
    engine_gauges(srv->engine, &g);
    size_t n = 0;
    char *text = metrics_render(&srv->metrics, &g, &n);
    if (!text) return http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    return http_send_body(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, n, MHD_RESPMEM_MUST_FREE);
}

enum MHD_Result handle_health(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    (void)body, (void)len;
    switch (atomic_load(&srv->state)) {
    case SERVER_READY: return http_send_json(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
    case SERVER_LOADING: return http_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the model is loading");
    default: return http_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "draining: the server is shutting down");
    }
}

enum MHD_Result handle_models(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    (void)body, (void)len;
    bitnet_model_desc d = {.struct_size = sizeof d};
    bitnet_model_describe(srv->model, &d);
    json_t *meta = json_pack("{s:I, s:I, s:I, s:i, s:s}", "n_vocab", (json_int_t)d.n_vocab, "n_ctx_train",
                             (json_int_t)d.n_ctx_train, "n_ctx_slot", (json_int_t)engine_slot_ctx(srv->engine), "n_slots",
                             engine_n_slots(srv->engine), "chat_format", bn_chat_format_name(srv->chat_format));
    return http_send_json(c, MHD_HTTP_OK,
                          json_pack("{s:s, s:[{s:s, s:s, s:I, s:s, s:o}]}", "object", "list", "data", "id", srv->model_name,
                                    "object", "model", "created", (json_int_t)srv->started, "owned_by", "bitnet", "meta", meta));
}

enum MHD_Result handle_slots(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    (void)body, (void)len;
    int n = engine_n_slots(srv->engine);
    engine_slot_info *info = calloc((size_t)n, sizeof *info);
    if (!info) return http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    engine_slots(srv->engine, info);
    const char *fail = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fail_on_no_slot");
    int idle = 0;
    for (int i = 0; i < n; i++) idle += !info[i].busy;
    if (fail && (!strcmp(fail, "1") || !strcmp(fail, "true")) && !idle) { /* llama-server's: load balancers route by it */
        free(info);
        return http_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no slot available: all %d are busy (fail_on_no_slot)", n);
    }
    json_t *slots = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(slots, json_pack("{s:i, s:I, s:b, s:I, s:{s:i, s:i, s:i}}", "id", i, "n_ctx",
                                               (json_int_t)engine_slot_ctx(srv->engine), "is_processing", info[i].busy,
                                               "n_requests", (json_int_t)info[i].n_requests, "last", "n_prompt",
                                               info[i].n_prompt, "n_cached", info[i].n_cached, "n_generated",
                                               info[i].n_generated));
    free(info);
    return http_send_json(c, MHD_HTTP_OK, slots);
}

/* The body as a JSON object, or NULL after replying 400. */
static json_t *parse_object(struct MHD_Connection *c, const char *body, size_t len, enum MHD_Result *ret) {
    api_error err;
    json_t *root = api_load_object(body, len, &err);
    if (!root) *ret = http_send_error(c, (unsigned)err.status, "%s", err.message);
    return root;
}

/* ===================================================================== /slots/{id}?action= */

/* A slot file's name as llama-server accepts one: 1..255 bytes, no path separator, no control
 * character, not "." or ".." nor any name starting with a dot. */
static bool valid_filename(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 255 || name[0] == '.') return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || name[i] == '\\' || (unsigned char)name[i] < 0x20 || name[i] == 0x7f) return false;
    return true;
}

/* The HTTP status of a failed slot action. */
static unsigned slot_failure(int64_t status) {
    return status == BITNET_ERR_NOT_FOUND           ? MHD_HTTP_NOT_FOUND
           : status == BITNET_ERR_INVALID_ARGUMENT  ? MHD_HTTP_CONFLICT /* busy (the id was checked) */
           : status == BITNET_ERR_LOAD_FAILED || status == BITNET_ERR_CONTEXT_EXCEEDED ? MHD_HTTP_BAD_REQUEST
           : status == BITNET_ERR_CANCELLED         ? MHD_HTTP_SERVICE_UNAVAILABLE
                                                    : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* save / restore: the file named by the body's "filename" in --slot-save-path. */
static enum MHD_Result slot_file_action(server *srv, struct MHD_Connection *c, int slot, bool save, const char *body, size_t len) {
    enum MHD_Result ret = MHD_YES;
    json_t *root = parse_object(c, body, len, &ret);
    if (!root) return ret;
    const char *name = json_string_value(json_object_get(root, "filename"));
    char path[4096], message[256];
    if (!name || !valid_filename(name) || snprintf(path, sizeof path, "%s/%s", srv->opt.slot_save_path, name) >= (int)sizeof path) {
        json_decref(root);
        return http_send_error(c, MHD_HTTP_BAD_REQUEST, "'filename' must be a file name (no path, no leading dot, 1-255 bytes)");
    }
    uint64_t bytes = 0;
    double t0 = metrics_now();
    int64_t n = engine_slot_action(srv->engine, slot, save ? ENGINE_SLOT_SAVE : ENGINE_SLOT_RESTORE, path, &bytes, message, sizeof message);
    double ms = (metrics_now() - t0) * 1e3;
    size_t at = strncmp(message, path, strlen(path)) ? 0 : strlen(path); /* the client sees the file's name, not the folder */
    ret = n < 0 ? http_send_error(c, slot_failure(n), "%s%s", at ? name : "", message + at)
                : http_send_json(c, MHD_HTTP_OK, json_pack("{s:i, s:s, s:I, s:I, s:{s:f}}", "id_slot", slot, "filename", name,
                                                           save ? "n_saved" : "n_restored", (json_int_t)n, save ? "n_written" : "n_read",
                                                           (json_int_t)bytes, "timings", save ? "save_ms" : "restore_ms", ms));
    json_decref(root);
    return ret;
}

enum MHD_Result handle_slot_action(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    if (!srv->opt.slot_save_path)
        return http_send_error(c, MHD_HTTP_NOT_IMPLEMENTED, "this server does not do slot actions: start it with --slot-save-path DIR");
    const char *id = http_request_path(c) + strlen("/slots/"), *action = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "action");
    char *end;
    long slot = strtol(id, &end, 10);
    if (*id < '0' || *id > '9' || *end || slot >= engine_n_slots(srv->engine))
        return http_send_error(c, MHD_HTTP_BAD_REQUEST, "invalid slot id '%.32s' (0..%d)", id, engine_n_slots(srv->engine) - 1);
    if (action && (!strcmp(action, "save") || !strcmp(action, "restore"))) return slot_file_action(srv, c, (int)slot, !strcmp(action, "save"), body, len);
    if (!action || strcmp(action, "erase"))
        return http_send_error(c, MHD_HTTP_BAD_REQUEST, "'action' must be save, restore or erase (got '%.32s')", action ? action : "");
    char message[256];
    int64_t n = engine_slot_action(srv->engine, (int)slot, ENGINE_SLOT_ERASE, NULL, NULL, message, sizeof message);
    return n < 0 ? http_send_error(c, slot_failure(n), "%s", message)
                 : http_send_json(c, MHD_HTTP_OK, json_pack("{s:i, s:I}", "id_slot", (int)slot, "n_erased", (json_int_t)n));
}

/* A boolean field, default when absent; -1 when it is not a boolean. */
static int bool_field(json_t *obj, const char *name, int dflt) {
    json_t *v = json_object_get(obj, name);
    return !v || json_is_null(v) ? dflt : json_is_boolean(v) ? json_is_true(v) : -1;
}

static json_t *token_list(const server *srv, const int32_t *ids, int n, bool with_pieces) {
    json_t *tokens = json_array();
    char piece[256];
    for (int i = 0; i < n; i++) {
        if (!with_pieces) {
            json_array_append_new(tokens, json_integer(ids[i]));
            continue;
        }
        int m = bitnet_model_token_to_piece(srv->model, ids[i], 1, piece, sizeof piece);
        json_array_append_new(tokens, json_pack("{s:i, s:o}", "id", ids[i], "piece", api_text(piece, m > 0 ? (size_t)m : 0)));
    }
    return tokens;
}

enum MHD_Result handle_tokenize(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    enum MHD_Result ret = MHD_YES;
    json_t *root = parse_object(c, body, len, &ret), *content = root ? json_object_get(root, "content") : NULL;
    if (!root) return ret;
    int add_special = bool_field(root, "add_special", 0), parse_special = bool_field(root, "parse_special", 1),
        with_pieces = bool_field(root, "with_pieces", 0);
    int32_t *ids = NULL;
    int n = 0;
    if (!json_is_string(content)) ret = http_send_error(c, MHD_HTTP_BAD_REQUEST, "'content' must be a string");
    else if (add_special < 0 || parse_special < 0 || with_pieces < 0)
        ret = http_send_error(c, MHD_HTTP_BAD_REQUEST, "'add_special', 'parse_special' and 'with_pieces' must be booleans");
    else if ((n = request_tokenize(srv->model, json_string_value(content), json_string_length(content), add_special,
                                   parse_special, &ids)) < 0)
        ret = http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "tokenization failed: %s", bitnet_get_last_error());
    else ret = http_send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "tokens", token_list(srv, ids, n, with_pieces)));
    free(ids);
    json_decref(root);
    return ret;
}

/* The ids of a JSON array into *ids (malloc'd; NULL when out of memory). Returns 0, or the
 * index of the first entry that is not a token id of the model plus one. */
static size_t token_ids(const server *srv, json_t *tokens, int32_t **ids) {
    size_t i;
    json_t *t;
    if (!(*ids = malloc(sizeof **ids * (json_array_size(tokens) + 1)))) return 0;
    json_array_foreach(tokens, i, t) {
        json_int_t id = json_is_integer(t) ? json_integer_value(t) : -1;
        if (id < 0 || id >= srv->n_vocab) return i + 1;
        (*ids)[i] = (int32_t)id;
    }
    return 0;
}

enum MHD_Result handle_detokenize(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    enum MHD_Result ret = MHD_YES;
    json_t *root = parse_object(c, body, len, &ret), *tokens = root ? json_object_get(root, "tokens") : NULL;
    if (!root) return ret;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n = 0, bad = 0;
    if (!json_is_array(tokens)) ret = http_send_error(c, MHD_HTTP_BAD_REQUEST, "'tokens' must be an array of token ids");
    else if ((bad = token_ids(srv, tokens, &ids)))
        ret = http_send_error(c, MHD_HTTP_BAD_REQUEST, "'tokens[%zu]' is not a token id of this model (0..%lld)", bad - 1,
                              (long long)srv->n_vocab - 1);
    else if (!ids || !(text = request_detokenize(srv->model, ids, json_array_size(tokens), &n)))
        ret = http_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    else ret = http_send_json(c, MHD_HTTP_OK, json_pack("{s:o}", "content", api_text(text, n)));
    free(ids);
    free(text);
    json_decref(root);
    return ret;
}

/* llama-server's endpoints for what this engine does not do: 501 with the reason, rather than
 * a 404 that reads like a wrong URL. */
enum MHD_Result handle_not_offered(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    (void)srv, (void)body, (void)len;
    const char *path = http_request_path(c);
    const char *why = !strcmp(path, "/infill") ? "fill-in-the-middle (/infill) is not implemented by this server"
                      : !strcmp(path, "/lora-adapters") ? "LoRA adapters are not implemented by this server (none is loaded)"
                      : !strcmp(path, "/props") ? "this server does not change its properties (GET /props reads them)"
                                                : "reranking is not implemented by this server (it runs generative models, not rerankers)";
    return http_send_error(c, MHD_HTTP_NOT_IMPLEMENTED, "%s", why);
}

/* GET /lora-adapters: the adapters loaded, none. */
enum MHD_Result handle_lora_adapters(server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    (void)srv, (void)body, (void)len;
    return http_send_json(c, MHD_HTTP_OK, json_array());
}
