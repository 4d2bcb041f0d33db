/* responses: the Responses API over chat completions (see responses.h). */
#include "responses.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ===================================================================== the request */


/* A text part's text ({"type": "input_text" | "output_text" | "text", "text": ...}), or NULL. */
static json_t *part_text(json_t *part) {
    const char *type = json_string_value(json_object_get(part, "type"));
    json_t *text = json_object_get(part, "text");
    bool ok = type && (!strcmp(type, "input_text") || !strcmp(type, "output_text") || !strcmp(type, "text"));
    return ok && json_is_string(text) ? text : NULL;
}

/* A message item's content in the chat form: a string, or text parts as {"type": "text"}. */
static json_t *message_content(json_t *content, size_t i, api_error *err) {
    if (json_is_string(content)) return json_incref(content);
    if (!json_is_array(content)) {
        api_errorf(err, 400, "'input[%zu].content' must be a string or an array of text parts", i);
        return NULL;
    }
    json_t *parts = json_array(), *part;
    size_t k;
    json_array_foreach(content, k, part) {
        json_t *text = part_text(part);
        if (!text) {
            api_errorf(err, 400, "'input[%zu].content[%zu]': only text parts (input_text, output_text) are supported", i, k);
            json_decref(parts);
            return NULL;
        }
        json_array_append_new(parts, json_pack("{s:s, s:O}", "type", "text", "text", text));
    }
    return parts;
}

static int message_item(json_t *item, size_t i, json_t *messages, api_error *err) {
    const char *role = json_string_value(json_object_get(item, "role"));
    if (!role || (strcmp(role, "user") && strcmp(role, "system") && strcmp(role, "developer") && strcmp(role, "assistant")))
        return api_errorf(err, 400, "'input[%zu].role' must be \"user\", \"system\", \"developer\" or \"assistant\"", i);
    json_t *content = message_content(json_object_get(item, "content"), i, err);
    if (!content) return -1;
    json_array_append_new(messages, json_pack("{s:s, s:o}", "role", role, "content", content));
    return 0;
}

/* A function_call item joins the assistant message of the calls just before it, or opens one. */
static int call_item(json_t *item, size_t i, json_t *messages, api_error *err) {
    json_t *call_id = json_object_get(item, "call_id"), *name = json_object_get(item, "name"),
           *args = json_object_get(item, "arguments");
    if (!json_is_string(call_id) || !json_is_string(name) || !json_is_string(args))
        return api_errorf(err, 400, "'input[%zu]': a function_call needs string 'call_id', 'name' and 'arguments'", i);
    json_t *last = json_array_get(messages, json_array_size(messages) - 1), *calls = json_object_get(last, "tool_calls");
    if (!json_is_array(calls)) {
        calls = json_array();
        json_array_append_new(messages, json_pack("{s:s, s:n, s:o}", "role", "assistant", "content", "tool_calls", calls));
    }
    json_array_append_new(calls, json_pack("{s:O, s:s, s:{s:O, s:O}}", "id", call_id, "type", "function", "function", "name", name,
                                           "arguments", args));
    return 0;
}

static int call_output_item(json_t *item, size_t i, json_t *messages, api_error *err) {
    json_t *call_id = json_object_get(item, "call_id"), *output = json_object_get(item, "output");
    if (!json_is_string(call_id) || !(json_is_string(output) || json_is_array(output)))
        return api_errorf(err, 400, "'input[%zu]': a function_call_output needs a string 'call_id' and an 'output' (text or text parts)", i);
    json_t *content = message_content(output, i, err);
    if (!content) return -1;
    json_array_append_new(messages, json_pack("{s:s, s:O, s:o}", "role", "tool", "tool_call_id", call_id, "content", content));
    return 0;
}

/* instructions and input as chat messages. */
static int read_input(json_t *body, json_t *messages, api_error *err) {
    json_t *instructions = json_object_get(body, "instructions"), *input = json_object_get(body, "input");
    if (api_present(instructions) && !json_is_string(instructions)) return api_errorf(err, 400, "'instructions' must be a string");
    if (api_present(instructions)) json_array_append_new(messages, json_pack("{s:s, s:O}", "role", "system", "content", instructions));
    if (json_is_string(input)) {
        json_array_append_new(messages, json_pack("{s:s, s:O}", "role", "user", "content", input));
        return 0;
    }
    if (!json_is_array(input) || json_array_size(input) == 0)
        return api_errorf(err, 400, "'input' must be a string or a non-empty array of input items");
    size_t i;
    json_t *item;
    json_array_foreach(input, i, item) {
        const char *type = json_string_value(json_object_get(item, "type"));
        int rc;
        if (!json_is_object(item)) rc = api_errorf(err, 400, "'input[%zu]' must be an object", i);
        else if (!type || !strcmp(type, "message")) rc = message_item(item, i, messages, err);
        else if (!strcmp(type, "function_call")) rc = call_item(item, i, messages, err);
        else if (!strcmp(type, "function_call_output")) rc = call_output_item(item, i, messages, err);
        else rc = api_errorf(err, 400, "'input[%zu]': items of type '%.64s' are not supported (message, function_call and function_call_output are)", i, type);
        if (rc) return -1;
    }
    return 0;
}

/* tools (flat: {"type": "function", "name", "description", "parameters", "strict"}) and
 * tool_choice in the chat forms. */
static int read_tools(json_t *body, json_t *chat, api_error *err) {
    json_t *tools = json_object_get(body, "tools"), *choice = json_object_get(body, "tool_choice");
    if (api_present(tools)) {
        if (!json_is_array(tools)) return api_errorf(err, 400, "'tools' must be an array of tools");
        json_t *list = json_array(), *tool;
        size_t i;
        json_object_set_new(chat, "tools", list);
        json_array_foreach(tools, i, tool) {
            const char *type = json_string_value(json_object_get(tool, "type"));
            if (!type || strcmp(type, "function"))
                return api_errorf(err, 400, "'tools[%zu]': only function tools are supported (\"type\": \"function\")", i);
            json_t *function = json_object(), *v;
            static const char *const fields[] = {"name", "description", "parameters", "strict"};
            for (int k = 0; k < 4; k++)
                if ((v = json_object_get(tool, fields[k]))) json_object_set(function, fields[k], v);
            json_array_append_new(list, json_pack("{s:s, s:o}", "type", "function", "function", function));
        }
    }
    if (!api_present(choice) || json_is_string(choice)) {
        if (api_present(choice)) json_object_set(chat, "tool_choice", choice);
        return 0;
    }
    const char *type = json_string_value(json_object_get(choice, "type"));
    json_t *name = json_object_get(choice, "name");
    if (!type || strcmp(type, "function") || !json_is_string(name))
        return api_errorf(err, 400, "'tool_choice' must be \"auto\", \"required\", \"none\" or {\"type\": \"function\", \"name\": ...}");
    json_object_set_new(chat, "tool_choice", json_pack("{s:s, s:{s:O}}", "type", "function", "function", "name", name));
    return 0;
}

/* text.format as the chat's response_format. */
static int read_format(json_t *body, json_t *chat, api_error *err) {
    json_t *text = json_object_get(body, "text"), *format = json_object_get(text, "format");
    if (api_present(text) && !json_is_object(text)) return api_errorf(err, 400, "'text' must be an object");
    if (!api_present(format)) return 0;
    const char *type = json_string_value(json_object_get(format, "type"));
    if (!type) return api_errorf(err, 400, "'text.format' must be an object with a string 'type'");
    if (!strcmp(type, "text")) return 0;
    if (!strcmp(type, "json_object")) {
        json_object_set_new(chat, "response_format", json_pack("{s:s}", "type", "json_object"));
        return 0;
    }
    if (strcmp(type, "json_schema")) return api_errorf(err, 400, "'text.format.type' must be 'text', 'json_object' or 'json_schema'");
    json_t *schema = json_object_get(format, "schema");
    if (!schema) return api_errorf(err, 400, "'text.format.schema' is missing");
    json_t *js = json_pack("{s:O}", "schema", schema), *v;
    if ((v = json_object_get(format, "name"))) json_object_set(js, "name", v);
    if ((v = json_object_get(format, "strict"))) json_object_set(js, "strict", v);
    json_object_set_new(chat, "response_format", json_pack("{s:s, s:o}", "type", "json_schema", "json_schema", js));
    return 0;
}

/* What this server cannot do, refused rather than ignored: stored responses, background runs,
 * prompt templates, log-probabilities, truncation "auto". */
static int refuse_unsupported(json_t *body, api_error *err) {
    static const char *const stored[] = {"previous_response_id", "conversation", "prompt"};
    for (int i = 0; i < 3; i++)
        if (api_present(json_object_get(body, stored[i])))
            return api_errorf(err, 400, "'%s' is not supported: this server stores no responses, conversations or prompts; send the whole conversation in 'input'", stored[i]);
    if (json_is_true(json_object_get(body, "background"))) return api_errorf(err, 400, "'background' is not supported");
    json_t *top = json_object_get(body, "top_logprobs"), *include = json_object_get(body, "include"), *v;
    size_t i;
    if (json_is_integer(top) && json_integer_value(top) > 0)
        return api_errorf(err, 400, "'top_logprobs' is not supported on /v1/responses (/v1/chat/completions has logprobs)");
    json_array_foreach(include, i, v)
        if (json_is_string(v) && !strcmp(json_string_value(v), "message.output_text.logprobs"))
            return api_errorf(err, 400, "'include[%zu]': log-probabilities are not supported on /v1/responses (/v1/chat/completions has logprobs)", i);
    const char *truncation = json_string_value(json_object_get(body, "truncation"));
    if (truncation && strcmp(truncation, "disabled"))
        return api_errorf(err, 400, "'truncation' \"%.32s\" is not supported: a conversation longer than a slot's context is refused (\"disabled\")", truncation);
    return 0;
}

/* max_output_tokens, the sampling fields and stream; llama-server's extensions pass through. */
static int copy_fields(json_t *body, json_t *chat, api_error *err) {
    json_t *max = json_object_get(body, "max_output_tokens"), *v;
    if (api_present(max) && (!json_is_integer(max) || json_integer_value(max) < 1))
        return api_errorf(err, 400, "'max_output_tokens' must be a positive integer");
    if (api_present(max)) json_object_set(chat, "max_tokens", max);
    static const char *const same[] = {"temperature", "top_p", "stream", "parallel_tool_calls", "seed", "top_k", "min_p",
                                       "stop", "presence_penalty", "frequency_penalty", "repeat_penalty", "ignore_eos",
                                       "logit_bias", "grammar"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if ((v = json_object_get(body, same[i]))) json_object_set(chat, same[i], v);
    for (size_t i = 0; i < api_n_extra_sampler_fields; i++)
        if ((v = json_object_get(body, api_extra_sampler_fields[i]))) json_object_set(chat, api_extra_sampler_fields[i], v);
    for (size_t i = 0; i < api_n_llama_fields; i++) /* llama-server passes every field of a Responses body on */
        if ((v = json_object_get(body, api_llama_fields[i]))) json_object_set(chat, api_llama_fields[i], v);
    return 0;
}

/* The request's field (a new reference), or dflt (taken over) when it is absent or null. */
static json_t *field_or(json_t *body, const char *name, json_t *dflt) {
    json_t *v = json_object_get(body, name);
    if (!api_present(v)) return dflt;
    json_decref(dflt);
    return json_incref(v);
}

/* The fields a response object repeats, with OpenAI's defaults. */
static json_t *echo_fields(json_t *body) {
    json_t *text = json_object_get(body, "text"), *format = json_object_get(text, "format");
    json_t *metadata = json_object_get(body, "metadata");
    json_t *echo = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:b, s:n, s:o}", "instructions",
                             field_or(body, "instructions", json_null()), "max_output_tokens",
                             field_or(body, "max_output_tokens", json_null()), "temperature", field_or(body, "temperature", json_real(1)),
                             "top_p", field_or(body, "top_p", json_real(1)), "tools", field_or(body, "tools", json_array()),
                             "tool_choice", field_or(body, "tool_choice", json_string("auto")), "metadata",
                             json_is_object(metadata) ? json_incref(metadata) : json_object(), "truncation", "disabled", "store", 0,
                             "previous_response_id", "text",
                             api_present(format) ? json_pack("{s:O}", "format", format) : json_pack("{s:{s:s}}", "format", "type", "text"));
    json_t *parallel = json_object_get(body, "parallel_tool_calls");
    if (echo) json_object_set_new(echo, "parallel_tool_calls", json_boolean(!json_is_false(parallel)));
    return echo;
}

int responses_to_chat(const char *body, size_t len, char **chat, responses_reply *r, api_error *err) {
    memset(r, 0, sizeof *r);
    memset(err, 0, sizeof *err);
    *chat = NULL;
    json_t *root = api_load_object(body, len, err), *out = json_object(), *messages = json_array();
    int rc = -1;
    if (!root) (void)0;
    else if (!out || !messages) api_errorf(err, 500, "out of memory");
    else if (!refuse_unsupported(root, err) && !read_input(root, messages, err) && !read_tools(root, out, err) &&
             !read_format(root, out, err) && !copy_fields(root, out, err)) {
        json_object_set(out, "messages", messages);
        *chat = json_dumps(out, JSON_COMPACT);
        r->echo = echo_fields(root);
        rc = *chat && r->echo ? 0 : api_errorf(err, 500, "out of memory");
    }
    json_decref(messages);
    json_decref(out);
    json_decref(root);
    if (rc) {
        free(*chat);
        *chat = NULL;
        responses_reply_free(r);
    }
    return rc;
}

/* ===================================================================== replies */

void responses_reply_start(responses_reply *r, uint64_t serial, const char *model, tool_choice tools) {
    r->created = (int64_t)time(NULL);
    uint64_t mixed = (serial + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)r->created;
    snprintf(r->id, sizeof r->id, "resp_%016llx", (unsigned long long)mixed);
    snprintf(r->message_id, sizeof r->message_id, "msg_%016llx", (unsigned long long)mixed);
    r->model = model;
    r->tools = tools;
    tool_reader_init(&r->reader);
}

void responses_reply_free(responses_reply *r) {
    json_decref(r->echo);
    free(r->text);
    tool_reader_free(&r->reader);
    r->echo = NULL;
    r->text = NULL;
}

/* The response object around its output items (taken over); usage when res is not NULL. */
static json_t *response_json(const responses_reply *r, const char *status, json_t *output, const bitnet_generate_result *res) {
    json_t *v = json_deep_copy(r->echo);
    if (!v) {
        json_decref(output);
        return NULL;
    }
    bool cut = res && !strcmp(status, "incomplete");
    json_object_update_new(
        v, json_pack("{s:s, s:s, s:I, s:s, s:s, s:n, s:o, s:o, s:o}", "id", r->id, "object", "response", "created_at",
                     (json_int_t)r->created, "status", status, "model", r->model, "error", "incomplete_details",
                     cut ? json_pack("{s:s}", "reason", "max_output_tokens") : json_null(), "output", output, "usage",
                     res ? json_pack("{s:i, s:{s:i}, s:i, s:{s:i}, s:i}", "input_tokens", res->n_prompt, "input_tokens_details",
                                     "cached_tokens", res->n_cached, "output_tokens", res->n_generated, "output_tokens_details",
                                     "reasoning_tokens", 0, "total_tokens", res->n_prompt + res->n_generated)
                         : json_null()));
    return v;
}

static json_t *text_part(const char *text, size_t len) {
    return json_pack("{s:s, s:o, s:[], s:[]}", "type", "output_text", "text", api_text(text, len), "annotations", "logprobs");
}

static json_t *message_json(const responses_reply *r, const char *status, const char *text, size_t len, bool with_part) {
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", r->message_id, "type", "message", "status", status, "role", "assistant",
                     "content", with_part ? json_pack("[o]", text_part(text, len)) : json_array());
}

/* The item id of call i of the reply. */
static void call_item_id(const responses_reply *r, size_t i, char out[64]) { snprintf(out, 64, "fc_%.40s_%zu", r->id + 5, i); }

/* Call i of the reply as a function_call item (its call_id the chat's call id). */
static json_t *call_item_json(const responses_reply *r, size_t i, const char *name, const char *args, size_t args_len, const char *status) {
    char id[64], call_id[32];
    call_item_id(r, i, id);
    tools_call_id(r->id, i, call_id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "id", id, "type", "function_call", "status", status, "call_id", call_id, "name",
                     name ? name : "", "arguments", api_text(args, args_len));
}

/* A chat tool call ({"id", "function": {"name", "arguments"}}) as a function_call item. */
static json_t *call_json(const responses_reply *r, json_t *call, size_t i, const char *status) {
    json_t *f = json_object_get(call, "function");
    const char *args = json_string_value(json_object_get(f, "arguments"));
    return call_item_json(r, i, json_string_value(json_object_get(f, "name")), args ? args : "", args ? strlen(args) : 0, status);
}

static bool cut_short(const bitnet_generate_result *res) {
    return res->stop_reason == BITNET_STOP_MAX_TOKENS || res->stop_reason == BITNET_STOP_CONTEXT_FULL;
}

json_t *responses_object(responses_reply *r, const char *text, size_t len, const bitnet_generate_result *res) {
    char *answer = NULL;
    size_t answer_len = 0;
    json_t *calls = r->tools == TOOLS_OFF ? NULL : tool_reader_read(&r->reader, text, len, r->id, &answer, &answer_len);
    json_t *output = json_array(), *call;
    const char *status = !calls && cut_short(res) ? "incomplete" : "completed";
    size_t i;
    if (!calls)
        json_array_append_new(output, message_json(r, status, r->tools == TOOLS_OFF ? text : answer,
                                                   r->tools == TOOLS_OFF ? len : answer_len, true));
    json_array_foreach(calls, i, call) json_array_append_new(output, call_json(r, call, i, "completed"));
    json_decref(calls);
    free(answer);
    return response_json(r, status, output, res);
}

/* ===================================================================== a stream */

/* Appends [type, event] with the event's type and sequence_number set (takes over ev). */
static void emit(responses_reply *r, json_t *events, const char *type, json_t *ev) {
    if (!ev) return;
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "sequence_number", json_integer(r->sequence++));
    json_array_append_new(events, json_pack("[s, o]", type, ev));
}

void responses_stream_open(responses_reply *r, json_t *events) {
    emit(r, events, "response.created", json_pack("{s:o}", "response", response_json(r, "in_progress", json_array(), NULL)));
    emit(r, events, "response.in_progress", json_pack("{s:o}", "response", response_json(r, "in_progress", json_array(), NULL)));
}

/* The message item and its text part, announced once. */
static void open_message(responses_reply *r, json_t *events) {
    if (r->message_open) return;
    r->message_open = true;
    emit(r, events, "response.output_item.added",
         json_pack("{s:i, s:o}", "output_index", r->n_items++, "item", message_json(r, "in_progress", "", 0, false)));
    emit(r, events, "response.content_part.added",
         json_pack("{s:s, s:i, s:i, s:o}", "item_id", r->message_id, "output_index", 0, "content_index", 0, "part", text_part("", 0)));
}

static void message_delta(responses_reply *r, const char *text, size_t len, json_t *events) {
    if (!len) return;
    if (r->len + len > r->cap) {
        size_t cap = (r->len + len) * 2;
        char *bigger = realloc(r->text, cap);
        if (!bigger) return; /* out of memory: the delta is lost */
        r->text = bigger;
        r->cap = cap;
    }
    memcpy(r->text + r->len, text, len);
    r->len += len;
    open_message(r, events);
    emit(r, events, "response.output_text.delta",
         json_pack("{s:s, s:i, s:i, s:o, s:[]}", "item_id", r->message_id, "output_index", 0, "content_index", 0, "delta",
                   api_text(text, len), "logprobs"));
}

/* A streamed call's last events: its whole arguments and its item (status completed, or
 * incomplete when the reply was cut short inside it). */
static void end_call(responses_reply *r, size_t i, const char *name, const char *args, size_t len, const char *status, json_t *events) {
    json_t *item = call_item_json(r, i, name, args, len, status);
    emit(r, events, "response.function_call_arguments.done", json_pack("{s:O, s:i, s:O, s:O}", "item_id", json_object_get(item, "id"),
                                                                      "output_index", r->call_item, "name", json_object_get(item, "name"),
                                                                      "arguments", json_object_get(item, "arguments")));
    emit(r, events, "response.output_item.done", json_pack("{s:i, s:o}", "output_index", r->call_item, "item", item));
}

/* The calls' events that the reply read so far made known: a function_call item is added once
 * a call's name is whole, its arguments come as function_call_arguments.delta events as they
 * grow, and the item is done when they close. */
static void call_events(responses_reply *r, json_t *events) {
    size_t index, len;
    const char *name, *text;
    for (tool_call_step step; (step = tool_call_next(&r->reader, &r->calls_sent, &index, &name, &text, &len));) {
        if (step == CALL_BEGIN) {
            r->call_item = r->n_items++;
            emit(r, events, "response.output_item.added",
                 json_pack("{s:i, s:o}", "output_index", r->call_item, "item", call_item_json(r, index, name, "", 0, "in_progress")));
        } else if (step == CALL_ARGS) {
            char id[64];
            call_item_id(r, index, id);
            emit(r, events, "response.function_call_arguments.delta",
                 json_pack("{s:s, s:i, s:o}", "item_id", id, "output_index", r->call_item, "delta", api_text(text, len)));
        } else {
            end_call(r, index, name, text, len, "completed", events);
        }
    }
}

void responses_stream_text(responses_reply *r, const char *text, size_t len, json_t *events) {
    if (r->tools == TOOLS_OFF) {
        message_delta(r, text, len, events);
        return;
    }
    char *answer = NULL;
    size_t answer_len = 0;
    if (tool_reader_feed(&r->reader, text, len, &answer, &answer_len)) message_delta(r, answer, answer_len, events);
    free(answer);
    call_events(r, events);
}

static json_t *close_message(responses_reply *r, const char *status, json_t *events) {
    json_t *part = text_part(r->text ? r->text : "", r->len);
    emit(r, events, "response.output_text.done",
         json_pack("{s:s, s:i, s:i, s:O, s:[]}", "item_id", r->message_id, "output_index", 0, "content_index", 0, "text",
                   json_object_get(part, "text"), "logprobs"));
    emit(r, events, "response.content_part.done",
         json_pack("{s:s, s:i, s:i, s:O}", "item_id", r->message_id, "output_index", 0, "content_index", 0, "part", part));
    json_decref(part);
    json_t *item = message_json(r, status, r->text ? r->text : "", r->len, true);
    emit(r, events, "response.output_item.done", json_pack("{s:i, s:O}", "output_index", 0, "item", item));
    return item;
}

void responses_stream_close(responses_reply *r, int status, const char *message, const bitnet_generate_result *res,
                            json_t *events) {
    if (status) {
        json_t *failed = response_json(r, "failed", json_array(), NULL);
        if (failed) json_object_set_new(failed, "error", json_pack("{s:s, s:s}", "code", "server_error", "message", message));
        emit(r, events, "response.failed", json_pack("{s:o}", "response", failed));
        return;
    }
    json_t *calls = NULL, *output = json_array();
    size_t n_calls = 0;
    const tool_call_text *texts = tool_reader_calls(&r->reader, &n_calls);
    bool streamed = false; /* function_call items were sent as the calls came (call_events) */
    if (r->tools != TOOLS_OFF) {
        const char *raw;
        size_t raw_len;
        call_events(r, events);
        streamed = tool_call_sent(&r->calls_sent);
        if (r->calls_sent.begun) { /* cut short inside a call */
            const tool_call_text *c = &texts[r->calls_sent.call];
            end_call(r, r->calls_sent.call, c->name, c->args ? c->args : "", c->args_len, "incomplete", events);
        }
        if ((calls = tool_reader_finish(&r->reader, r->id, &raw, &raw_len)) == NULL && raw && raw_len && !streamed)
            message_delta(r, raw, raw_len, events); /* neither calls nor the answer form: the raw text */
    }
    const char *state = !calls && cut_short(res) ? "incomplete" : "completed";
    if (r->message_open || (!calls && !streamed)) {
        open_message(r, events);
        json_array_append_new(output, close_message(r, state, events));
    }
    for (size_t i = 0; streamed && i < n_calls && texts[i].name; i++)
        json_array_append_new(output, call_item_json(r, i, texts[i].name, texts[i].args ? texts[i].args : "", texts[i].args_len,
                                                     texts[i].args_done ? "completed" : "incomplete"));
    json_decref(calls);
    const char *type = !strcmp(state, "incomplete") ? "response.incomplete" : "response.completed";
    emit(r, events, type, json_pack("{s:o}", "response", response_json(r, state, output, res)));
}
