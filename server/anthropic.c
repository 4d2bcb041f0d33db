/* anthropic: the Messages API over chat completions (see anthropic.h). */
#include "anthropic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===================================================================== the request */


/* The text of a string or of an array of text blocks (joined), as a new string; NULL with *err
 * (where names the field). */
static json_t *block_text(json_t *v, const char *where, api_error *err) {
    if (json_is_string(v)) return json_incref(v);
    if (!json_is_array(v)) {
        api_errorf(err, 400, "'%s' must be a string or an array of text blocks", where);
        return NULL;
    }
    json_t *out = json_string(""), *block;
    size_t i;
    json_array_foreach(v, i, block) {
        const char *type = json_string_value(json_object_get(block, "type"));
        json_t *text = json_object_get(block, "text");
        if (!type || strcmp(type, "text") || !json_is_string(text)) {
            api_errorf(err, 400, "'%s[%zu]': only text blocks are supported here", where, i);
            json_decref(out);
            return NULL;
        }
        size_t a = json_string_length(out), b = json_string_length(text);
        char *joined = malloc(a + b + 1);
        if (!joined) {
            json_decref(out);
            api_errorf(err, 500, "out of memory");
            return NULL;
        }
        memcpy(joined, json_string_value(out), a);
        memcpy(joined + a, json_string_value(text), b);
        json_string_setn_nocheck(out, joined, a + b);
        free(joined);
    }
    return out;
}

/* A user turn: text blocks become a user message, each tool_result a tool message (in order). */
static int user_turn(json_t *content, size_t m, json_t *messages, api_error *err) {
    char where[64];
    json_t *block, *text = NULL;
    size_t i;
    json_array_foreach(content, i, block) {
        const char *type = json_string_value(json_object_get(block, "type"));
        snprintf(where, sizeof where, "messages[%zu].content[%zu]", m, i);
        if (type && !strcmp(type, "text") && json_is_string(json_object_get(block, "text"))) {
            if (!text) json_array_append_new(messages, json_pack("{s:s, s:o}", "role", "user", "content", text = json_array()));
            json_array_append_new(text, json_pack("{s:s, s:O}", "type", "text", "text", json_object_get(block, "text")));
            continue;
        }
        if (!type || strcmp(type, "tool_result") || !json_is_string(json_object_get(block, "tool_use_id")))
            return api_errorf(err, 400, "'%s': only text, tool_use and tool_result blocks are supported", where);
        json_t *result = json_object_get(block, "content");
        strncat(where, ".content", sizeof where - strlen(where) - 1);
        json_t *out = api_present(result) ? block_text(result, where, err) : json_string("");
        if (!out) return -1;
        json_array_append_new(messages, json_pack("{s:s, s:O, s:o}", "role", "tool", "tool_call_id",
                                                  json_object_get(block, "tool_use_id"), "content", out));
        text = NULL; /* text after a result opens a new user message */
    }
    return 0;
}

/* An assistant turn: its text and its tool_use blocks as one message with tool_calls (thinking
 * blocks of another model's reply are left out). */
static int assistant_turn(json_t *content, size_t m, json_t *messages, api_error *err) {
    json_t *parts = json_array(), *calls = json_array(), *block;
    size_t i;
    json_array_foreach(content, i, block) {
        const char *type = json_string_value(json_object_get(block, "type"));
        json_t *input = json_object_get(block, "input"), *id = json_object_get(block, "id"), *name = json_object_get(block, "name");
        if (type && !strcmp(type, "text") && json_is_string(json_object_get(block, "text"))) {
            json_array_append_new(parts, json_pack("{s:s, s:O}", "type", "text", "text", json_object_get(block, "text")));
        } else if (type && !strcmp(type, "tool_use") && json_is_string(id) && json_is_string(name) && json_is_object(input)) {
            char *args = json_dumps(input, JSON_COMPACT);
            json_array_append_new(calls, json_pack("{s:O, s:s, s:{s:O, s:s}}", "id", id, "type", "function", "function", "name", name,
                                                   "arguments", args ? args : "{}"));
            free(args);
        } else if (!type || (strcmp(type, "thinking") && strcmp(type, "redacted_thinking"))) {
            json_decref(parts);
            json_decref(calls);
            return api_errorf(err, 400, "'messages[%zu].content[%zu]': only text, tool_use and tool_result blocks are supported "
                                        "(a tool_use needs a string 'id' and 'name' and an object 'input')", m, i);
        }
    }
    json_t *msg = json_pack("{s:s, s:o}", "role", "assistant", "content", parts);
    if (json_array_size(calls)) json_object_set(msg, "tool_calls", calls);
    json_decref(calls);
    json_array_append_new(messages, msg);
    return 0;
}

static int read_messages(json_t *body, json_t *messages, api_error *err) {
    json_t *system = json_object_get(body, "system"), *list = json_object_get(body, "messages"), *m;
    if (api_present(system)) {
        json_t *text = block_text(system, "system", err);
        if (!text) return -1;
        json_array_append_new(messages, json_pack("{s:s, s:o}", "role", "system", "content", text));
    }
    if (!json_is_array(list) || json_array_size(list) == 0) return api_errorf(err, 400, "'messages' must be a non-empty array of messages");
    size_t i;
    json_array_foreach(list, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *content = json_object_get(m, "content");
        if (!role || (strcmp(role, "user") && strcmp(role, "assistant")))
            return api_errorf(err, 400, "'messages[%zu].role' must be \"user\" or \"assistant\"", i);
        if (json_is_string(content)) {
            json_array_append_new(messages, json_pack("{s:s, s:O}", "role", role, "content", content));
            continue;
        }
        if (!json_is_array(content)) return api_errorf(err, 400, "'messages[%zu].content' must be a string or an array of blocks", i);
        if ((!strcmp(role, "user") ? user_turn : assistant_turn)(content, i, messages, err)) return -1;
    }
    return 0;
}

/* tools ({"name", "description", "input_schema"}) and tool_choice in the chat forms. */
static int read_tools(json_t *body, json_t *chat, api_error *err) {
    json_t *tools = json_object_get(body, "tools"), *choice = json_object_get(body, "tool_choice"), *tool;
    size_t i;
    if (api_present(tools) && !json_is_array(tools)) return api_errorf(err, 400, "'tools' must be an array of tools");
    if (json_array_size(tools)) {
        json_t *list = json_array();
        json_object_set_new(chat, "tools", list);
        json_array_foreach(tools, i, tool) {
            const char *type = json_string_value(json_object_get(tool, "type"));
            if (type && strcmp(type, "custom"))
                return api_errorf(err, 400, "'tools[%zu]': only client tools (name, description, input_schema) are supported, not '%.64s'", i, type);
            json_t *function = json_object(), *v;
            if ((v = json_object_get(tool, "name"))) json_object_set(function, "name", v);
            if ((v = json_object_get(tool, "description"))) json_object_set(function, "description", v);
            if ((v = json_object_get(tool, "input_schema"))) json_object_set(function, "parameters", v);
            json_array_append_new(list, json_pack("{s:s, s:o}", "type", "function", "function", function));
        }
    }
    if (!api_present(choice)) return 0;
    const char *type = json_string_value(json_object_get(choice, "type"));
    json_t *name = json_object_get(choice, "name");
    if (json_is_true(json_object_get(choice, "disable_parallel_tool_use"))) json_object_set_new(chat, "parallel_tool_calls", json_false());
    if (type && !strcmp(type, "auto")) json_object_set_new(chat, "tool_choice", json_string("auto"));
    else if (type && !strcmp(type, "any")) json_object_set_new(chat, "tool_choice", json_string("required"));
    else if (type && !strcmp(type, "none")) json_object_set_new(chat, "tool_choice", json_string("none"));
    else if (type && !strcmp(type, "tool") && json_is_string(name))
        json_object_set_new(chat, "tool_choice", json_pack("{s:s, s:{s:O}}", "type", "function", "function", "name", name));
    else return api_errorf(err, 400, "'tool_choice' must be {\"type\": \"auto\" | \"any\" | \"none\"} or {\"type\": \"tool\", \"name\": ...}");
    return 0;
}

/* max_tokens (required but when counting), stop_sequences and the sampling fields. */
static int read_fields(json_t *body, bool counting, json_t *chat, api_error *err) {
    json_t *max = json_object_get(body, "max_tokens"), *stops = json_object_get(body, "stop_sequences"), *v;
    if (!counting && !api_present(max)) return api_errorf(err, 400, "'max_tokens' is required");
    if (api_present(max) && (!json_is_integer(max) || json_integer_value(max) < 1)) return api_errorf(err, 400, "'max_tokens' must be a positive integer");
    if (!counting) json_object_set(chat, "max_tokens", max);
    const char *thinking = json_string_value(json_object_get(json_object_get(body, "thinking"), "type"));
    if (thinking && strcmp(thinking, "disabled")) return api_errorf(err, 400, "'thinking' is not supported (this model does not reason in a separate block)");
    if (api_present(stops)) json_object_set(chat, "stop", stops);
    static const char *const same[] = {"temperature", "top_p", "top_k", "stream", "seed", "min_p", "grammar"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (!counting && (v = json_object_get(body, same[i]))) json_object_set(chat, same[i], v);
    for (size_t i = 0; i < api_n_extra_sampler_fields; i++) /* llama-server's extensions */
        if (!counting && (v = json_object_get(body, api_extra_sampler_fields[i]))) json_object_set(chat, api_extra_sampler_fields[i], v);
    for (size_t i = 0; i < api_n_llama_fields; i++)
        if (!counting && (v = json_object_get(body, api_llama_fields[i]))) json_object_set(chat, api_llama_fields[i], v);
    return 0;
}

int anthropic_to_chat(const char *body, size_t len, bool counting, char **chat, api_error *err) {
    memset(err, 0, sizeof *err);
    *chat = NULL;
    json_t *root = api_load_object(body, len, err), *out = json_object(), *messages = json_array();
    int rc = -1;
    if (!root) (void)0;
    else if (!out || !messages) api_errorf(err, 500, "out of memory");
    else if (!read_fields(root, counting, out, err) && !read_messages(root, messages, err) && !read_tools(root, out, err)) {
        json_object_set(out, "messages", messages);
        *chat = json_dumps(out, JSON_COMPACT);
        rc = *chat ? 0 : api_errorf(err, 500, "out of memory");
    }
    json_decref(messages);
    json_decref(out);
    json_decref(root);
    return rc;
}

/* ===================================================================== errors */

/* Anthropic's error types: 4xx it does not list are invalid_request_error, as its API reference says. */
static const char *error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: case 529: return "overloaded_error";
    default: return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
    }
}

json_t *anthropic_error_json(int status, const char *message) {
    return json_pack("{s:s, s:{s:s, s:o}}", "type", "error", "error", "type", error_type(status), "message",
                     api_text(message, strlen(message)));
}

/* ===================================================================== replies */

void anthropic_reply_start(anthropic_reply *r, uint64_t serial, const char *model, tool_choice tools, int n_prompt) {
    memset(r, 0, sizeof *r);
    uint64_t mixed = (serial + 1) * 0x9E3779B97F4A7C15ull ^ 0x5bd1e995ull;
    snprintf(r->id, sizeof r->id, "msg_%016llx", (unsigned long long)mixed);
    r->model = model;
    r->tools = tools;
    r->n_prompt = n_prompt;
    tool_reader_init(&r->reader);
}

void anthropic_reply_free(anthropic_reply *r) { tool_reader_free(&r->reader); }

/* Anthropic's stop_reason of a finished reply. */
static const char *stop_reason(const bitnet_generate_result *res, bool called) {
    if (called) return "tool_use";
    switch (res->stop_reason) {
    case BITNET_STOP_STRING: return "stop_sequence";
    case BITNET_STOP_MAX_TOKENS: case BITNET_STOP_CONTEXT_FULL: return "max_tokens";
    default: return "end_turn";
    }
}

static json_t *usage_json(const bitnet_generate_result *res) {
    return json_pack("{s:i, s:i, s:i, s:i}", "input_tokens", res->n_prompt - res->n_cached, "output_tokens", res->n_generated,
                     "cache_creation_input_tokens", 0, "cache_read_input_tokens", res->n_cached);
}

/* The Messages API's id of a tool use from the chat's call id ("call_<hex>" -> "toolu_<hex>"). */
static void toolu_id(const char *call_id, char out[64]) {
    snprintf(out, 64, "toolu_%s", call_id && !strncmp(call_id, "call_", 5) ? call_id + 5 : "0");
}

/* A chat tool call ({"id": "call_...", "function": {"name", "arguments"}}) as a tool_use block. */
static json_t *tool_use_json(json_t *call) {
    json_t *f = json_object_get(call, "function");
    char toolu[64];
    toolu_id(json_string_value(json_object_get(call, "id")), toolu);
    json_t *input = json_loads(json_string_value(json_object_get(f, "arguments")), 0, NULL);
    return json_pack("{s:s, s:s, s:O, s:o}", "type", "tool_use", "id", toolu, "name", json_object_get(f, "name"), "input",
                     json_is_object(input) ? input : (json_decref(input), json_object()));
}

json_t *anthropic_message(anthropic_reply *r, const char *text, size_t len, const bitnet_generate_result *res,
                          const char *stop_word) {
    char *answer = NULL;
    size_t answer_len = 0;
    json_t *calls = r->tools == TOOLS_OFF ? NULL : tool_reader_read(&r->reader, text, len, r->id, &answer, &answer_len);
    json_t *content = json_array(), *call;
    size_t i;
    if (r->tools == TOOLS_OFF || answer_len || !calls)
        json_array_append_new(content, json_pack("{s:s, s:o}", "type", "text", "text",
                                                 r->tools == TOOLS_OFF ? api_text(text, len) : api_text(answer ? answer : "", answer_len)));
    json_array_foreach(calls, i, call) json_array_append_new(content, tool_use_json(call));
    json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o}", "id", r->id, "type", "message", "role", "assistant", "model",
                          r->model, "content", content, "stop_reason", stop_reason(res, calls != NULL), "stop_sequence",
                          stop_word && !calls ? api_text(stop_word, strlen(stop_word)) : json_null(), "usage", usage_json(res));
    json_decref(calls);
    free(answer);
    return v;
}

/* ===================================================================== a stream */

/* Appends [type, event] with the event's type set (takes over ev). */
static void emit(json_t *events, const char *type, json_t *ev) {
    if (!ev) return;
    json_object_set_new(ev, "type", json_string(type));
    json_array_append_new(events, json_pack("[s, o]", type, ev));
}

void anthropic_stream_open(anthropic_reply *r, json_t *events) {
    emit(events, "message_start",
         json_pack("{s:{s:s, s:s, s:s, s:s, s:[], s:n, s:n, s:{s:i, s:i}}}", "message", "id", r->id, "type", "message", "role",
                   "assistant", "model", r->model, "content", "stop_reason", "stop_sequence", "usage", "input_tokens", r->n_prompt,
                   "output_tokens", 0));
}

static void text_delta(anthropic_reply *r, const char *text, size_t len, json_t *events) {
    if (!r->text_open) {
        r->text_open = true;
        emit(events, "content_block_start",
             json_pack("{s:i, s:{s:s, s:s}}", "index", r->n_blocks++, "content_block", "type", "text", "text", ""));
    }
    if (len)
        emit(events, "content_block_delta",
             json_pack("{s:i, s:{s:s, s:o}}", "index", 0, "delta", "type", "text_delta", "text", api_text(text, len)));
}

/* The calls' events that the reply read so far made known: a tool_use block opens once a call's
 * name is whole, its input comes as input_json_delta pieces as it grows, and the block stops
 * when the input closes (the Messages API's streaming of tool use). */
static void call_events(anthropic_reply *r, json_t *events) {
    size_t index, len;
    const char *name, *text;
    for (tool_call_step step; (step = tool_call_next(&r->reader, &r->calls_sent, &index, &name, &text, &len));) {
        if (step == CALL_BEGIN) {
            char id[32], toolu[64];
            tools_call_id(r->id, index, id);
            toolu_id(id, toolu);
            r->call_block = r->n_blocks++;
            emit(events, "content_block_start", json_pack("{s:i, s:{s:s, s:s, s:s, s:{}}}", "index", r->call_block, "content_block", "type",
                                                          "tool_use", "id", toolu, "name", name, "input"));
        } else if (step == CALL_ARGS) {
            emit(events, "content_block_delta", json_pack("{s:i, s:{s:s, s:o}}", "index", r->call_block, "delta", "type",
                                                          "input_json_delta", "partial_json", api_text(text, len)));
        } else {
            emit(events, "content_block_stop", json_pack("{s:i}", "index", r->call_block));
        }
    }
}

void anthropic_stream_text(anthropic_reply *r, const char *text, size_t len, json_t *events) {
    if (r->tools == TOOLS_OFF) {
        if (len) text_delta(r, text, len, events);
        return;
    }
    char *answer = NULL;
    size_t answer_len = 0;
    if (tool_reader_feed(&r->reader, text, len, &answer, &answer_len) && answer_len) text_delta(r, answer, answer_len, events);
    free(answer);
    call_events(r, events);
}

void anthropic_stream_close(anthropic_reply *r, int status, const char *message, const bitnet_generate_result *res,
                            const char *stop_word, json_t *events) {
    if (status) {
        emit(events, "error", anthropic_error_json(status, message));
        return;
    }
    json_t *calls = NULL;
    bool streamed = false; /* tool_use blocks were sent as the calls came (call_events) */
    if (r->tools != TOOLS_OFF) {
        const char *raw;
        size_t raw_len;
        call_events(r, events);
        streamed = tool_call_sent(&r->calls_sent);
        if (r->calls_sent.begun) emit(events, "content_block_stop", json_pack("{s:i}", "index", r->call_block)); /* cut short inside it */
        if (!(calls = tool_reader_finish(&r->reader, r->id, &raw, &raw_len)) && raw && raw_len && !streamed)
            text_delta(r, raw, raw_len, events); /* neither calls nor the answer form: the raw text */
    }
    if (!r->text_open && !calls && !streamed) text_delta(r, "", 0, events);
    if (r->text_open) emit(events, "content_block_stop", json_pack("{s:i}", "index", 0));
    json_t *usage = usage_json(res);
    emit(events, "message_delta",
         json_pack("{s:{s:s, s:o}, s:o}", "delta", "stop_reason", stop_reason(res, calls != NULL), "stop_sequence",
                   stop_word && !calls ? api_text(stop_word, strlen(stop_word)) : json_null(), "usage", usage));
    emit(events, "message_stop", json_object());
    json_decref(calls);
}
