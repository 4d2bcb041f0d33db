/* Tests of server/responses.c: a Responses API body becomes the chat body it stands for
 * (instructions, input text and items, function calls merged into one assistant message and
 * their outputs as tool messages, flat function tools, tool_choice, text.format,
 * max_output_tokens), which the chat parser accepts; what the server cannot do is refused by
 * field; the response object and the stream's events for text and for function calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai.h"
#include "responses.h"
#include "test.h"

/* Converts a body; returns the chat body as a parsed object (NULL when refused: *status set). */
static json_t *convert(const char *body, int *status, char *message, size_t cap) {
    responses_reply r;
    api_error err;
    char *chat = NULL;
    *status = 0;
    if (responses_to_chat(body, strlen(body), &chat, &r, &err)) {
        *status = err.status;
        snprintf(message, cap, "%s", err.message);
        return NULL;
    }
    json_t *v = json_loads(chat, 0, NULL);
    api_request parsed; /* the chat parser takes what the conversion wrote */
    CHECK_MSG(api_parse_request(API_CHAT, chat, strlen(chat), 1, NULL, &parsed, &err) == 0, "%s: %s", chat, err.message);
    api_request_free(&parsed);
    free(chat);
    responses_reply_free(&r);
    return v;
}

static void check_chat(const char *body, const char *want) {
    int status;
    char message[512];
    json_t *got = convert(body, &status, message, sizeof message), *expect = json_loads(want, 0, NULL);
    CHECK_MSG(got && expect && json_equal(got, expect), "%s -> %s", body, got ? json_dumps(got, JSON_COMPACT) : message);
    json_decref(got);
    json_decref(expect);
}

static void check_refused(const char *body, const char *words) {
    int status;
    char message[512];
    json_t *got = convert(body, &status, message, sizeof message);
    CHECK_MSG(!got && status == 400 && strstr(message, words), "%s: status %d, %s", body, status, message);
    json_decref(got);
}

TEST(bodies_become_chats) {
    check_chat("{\"input\":\"Hi\",\"instructions\":\"Be brief\",\"max_output_tokens\":5,\"temperature\":0.5}",
               "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief\"},{\"role\":\"user\",\"content\":\"Hi\"}],"
               "\"max_tokens\":5,\"temperature\":0.5}");
    check_chat("{\"input\":[{\"role\":\"developer\",\"content\":\"Rules\"},{\"type\":\"message\",\"role\":\"user\",\"content\":"
               "[{\"type\":\"input_text\",\"text\":\"a\"},{\"type\":\"input_text\",\"text\":\"b\"}]},{\"role\":\"assistant\",\"content\":"
               "[{\"type\":\"output_text\",\"text\":\"c\"}]}],\"stream\":true}",
               "{\"messages\":[{\"role\":\"developer\",\"content\":\"Rules\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
               "{\"type\":\"text\",\"text\":\"b\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"c\"}]}],\"stream\":true}");
    /* two calls in a row are one assistant message; their outputs are tool messages */
    check_chat("{\"input\":[{\"role\":\"user\",\"content\":\"Go\"},"
               "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"},"
               "{\"type\":\"function_call\",\"call_id\":\"c2\",\"name\":\"g\",\"arguments\":\"{\\\"x\\\":1}\"},"
               "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"one\"},"
               "{\"type\":\"function_call_output\",\"call_id\":\"c2\",\"output\":[{\"type\":\"input_text\",\"text\":\"two\"}]}],"
               "\"tools\":[{\"type\":\"function\",\"name\":\"f\"},{\"type\":\"function\",\"name\":\"g\",\"description\":\"G\","
               "\"parameters\":{\"type\":\"object\"},\"strict\":true}],\"tool_choice\":{\"type\":\"function\",\"name\":\"g\"},"
               "\"parallel_tool_calls\":false}",
               "{\"messages\":[{\"role\":\"user\",\"content\":\"Go\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
               "{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},"
               "{\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"x\\\":1}\"}}]},"
               "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"one\"},"
               "{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":[{\"type\":\"text\",\"text\":\"two\"}]}],"
               "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}},{\"type\":\"function\",\"function\":{\"name\":\"g\","
               "\"description\":\"G\",\"parameters\":{\"type\":\"object\"},\"strict\":true}}],"
               "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}},\"parallel_tool_calls\":false}");
    check_chat("{\"input\":\"Hi\",\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"n\",\"strict\":true,\"schema\":{\"enum\":[1,2]}}}}",
               "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
               "{\"schema\":{\"enum\":[1,2]},\"name\":\"n\",\"strict\":true}}}");
    check_chat("{\"input\":\"Hi\",\"text\":{\"format\":{\"type\":\"json_object\"}},\"tool_choice\":\"none\",\"store\":true,\"seed\":4}",
               "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"response_format\":{\"type\":\"json_object\"},"
               "\"tool_choice\":\"none\",\"seed\":4}");
    /* llama-server's slot fields pass on (its Responses conversion keeps every field) */
    check_chat("{\"input\":\"Hi\",\"id_slot\":1,\"n_cache_reuse\":4,\"n_indent\":2,\"t_max_predict_ms\":500,\"n_keep\":-1,\"n_discard\":8}",
               "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"id_slot\":1,\"n_cache_reuse\":4,\"n_indent\":2,"
               "\"t_max_predict_ms\":500,\"n_keep\":-1,\"n_discard\":8}");
}

TEST(what_cannot_be_served_is_refused) {
    check_refused("{\"input\":\"Hi\",\"previous_response_id\":\"resp_1\"}", "'previous_response_id' is not supported");
    check_refused("{\"input\":\"Hi\",\"conversation\":\"c\"}", "'conversation' is not supported");
    check_refused("{\"input\":\"Hi\",\"background\":true}", "'background'");
    check_refused("{\"input\":\"Hi\",\"truncation\":\"auto\"}", "'truncation'");
    check_refused("{\"input\":\"Hi\",\"include\":[\"message.output_text.logprobs\"]}", "'include[0]'");
    check_refused("{\"input\":\"Hi\",\"top_logprobs\":3}", "'top_logprobs'");
    check_refused("{\"input\":\"Hi\",\"max_output_tokens\":0}", "'max_output_tokens' must be a positive integer");
    check_refused("{\"input\":[]}", "'input' must be");
    check_refused("{}", "'input' must be");
    check_refused("{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"x\"}]}]}", "'input[0].content[0]'");
    check_refused("{\"input\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "'input[0].role'");
    check_refused("{\"input\":[{\"type\":\"reasoning\"}]}", "items of type 'reasoning' are not supported");
    check_refused("{\"input\":[{\"type\":\"function_call\",\"name\":\"f\"}]}", "'input[0]': a function_call needs");
    check_refused("{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\"}]}", "'input[0]': a function_call_output needs");
    check_refused("{\"input\":\"Hi\",\"tools\":[{\"type\":\"web_search\"}]}", "'tools[0]': only function tools");
    check_refused("{\"input\":\"Hi\",\"tool_choice\":{\"type\":\"file_search\"}}", "'tool_choice' must be");
    check_refused("{\"input\":\"Hi\",\"text\":{\"format\":{\"type\":\"xml\"}}}", "'text.format.type'");
    check_refused("{\"input\":\"Hi\",\"text\":{\"format\":{\"type\":\"json_schema\"}}}", "'text.format.schema' is missing");
    check_refused("{\"input\":\"Hi\",\"instructions\":5}", "'instructions' must be a string");
    check_refused("[1]", "must be a JSON object");
    check_refused("{\"input\":", "not valid JSON");
}

static bitnet_generate_result result(bitnet_stop_reason why, int n_generated) {
    return (bitnet_generate_result){.struct_size = sizeof(bitnet_generate_result), .n_prompt = 10, .n_generated = n_generated,
                                    .stop_reason = why, .n_cached = 4, .stop_string_index = -1};
}

static responses_reply started(const char *body, tool_choice tools) {
    responses_reply r;
    api_error err;
    char *chat = NULL;
    CHECK_EQ_INT(responses_to_chat(body, strlen(body), &chat, &r, &err), 0);
    free(chat);
    responses_reply_start(&r, 3, "m", tools);
    return r;
}

TEST(response_objects) {
    responses_reply r = started("{\"input\":\"Hi\",\"max_output_tokens\":4,\"metadata\":{\"k\":\"v\"}}", TOOLS_OFF);
    bitnet_generate_result res = result(BITNET_STOP_MAX_TOKENS, 4);
    json_t *v = responses_object(&r, "abc", 3, &res);
    json_t *item = json_array_get(json_object_get(v, "output"), 0), *usage = json_object_get(v, "usage");
    CHECK_STR(json_string_value(json_object_get(v, "object")), "response");
    CHECK(!strncmp(json_string_value(json_object_get(v, "id")), "resp_", 5));
    CHECK_STR(json_string_value(json_object_get(v, "status")), "incomplete");
    CHECK_STR(json_string_value(json_object_get(json_object_get(v, "incomplete_details"), "reason")), "max_output_tokens");
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(item, "content"), 0), "text")), "abc");
    CHECK_EQ_INT(json_integer_value(json_object_get(usage, "total_tokens")), 14);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(usage, "input_tokens_details"), "cached_tokens")), 4);
    CHECK_STR(json_string_value(json_object_get(json_object_get(v, "metadata"), "k")), "v");
    CHECK(json_is_false(json_object_get(v, "store")));
    json_decref(v);
    responses_reply_free(&r);
    /* tools: the call object becomes function_call items */
    r = started("{\"input\":\"Hi\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}]}", TOOLS_AUTO);
    res = result(BITNET_STOP_JSON_COMPLETE, 9);
    const char *reply = "{\"tool_calls\":[{\"name\":\"f\",\"arguments\":{\"a\":1}}]}";
    v = responses_object(&r, reply, strlen(reply), &res);
    item = json_array_get(json_object_get(v, "output"), 0);
    CHECK_STR(json_string_value(json_object_get(v, "status")), "completed");
    CHECK_STR(json_string_value(json_object_get(item, "type")), "function_call");
    CHECK_STR(json_string_value(json_object_get(item, "name")), "f");
    CHECK_STR(json_string_value(json_object_get(item, "arguments")), "{\"a\":1}");
    CHECK(!strncmp(json_string_value(json_object_get(item, "call_id")), "call_", 5));
    json_decref(v);
    responses_reply_free(&r);
}

/* The event types of a stream, joined by spaces, and whether the sequence numbers count up. */
static void event_types(json_t *events, char *out, size_t cap, bool *counted) {
    size_t i, n = 0;
    json_t *pair;
    *counted = true;
    out[0] = '\0';
    json_array_foreach(events, i, pair) {
        json_t *ev = json_array_get(pair, 1);
        *counted &= json_integer_value(json_object_get(ev, "sequence_number")) == (json_int_t)i &&
                    !strcmp(json_string_value(json_object_get(ev, "type")), json_string_value(json_array_get(pair, 0)));
        n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", json_string_value(json_array_get(pair, 0)) + 9);
    }
}

TEST(stream_events) {
    char types[1024];
    bool counted;
    responses_reply r = started("{\"input\":\"Hi\"}", TOOLS_OFF);
    json_t *events = json_array();
    bitnet_generate_result res = result(BITNET_STOP_EOG, 2);
    responses_stream_open(&r, events);
    responses_stream_text(&r, "He", 2, events);
    responses_stream_text(&r, "", 0, events);
    responses_stream_text(&r, "y", 1, events);
    responses_stream_close(&r, 0, NULL, &res, events);
    event_types(events, types, sizeof types, &counted);
    CHECK(counted);
    CHECK_STR(types, "created in_progress output_item.added content_part.added output_text.delta output_text.delta "
                     "output_text.done content_part.done output_item.done completed");
    json_t *done = json_array_get(json_array_get(events, 6), 1);
    CHECK_STR(json_string_value(json_object_get(done, "text")), "Hey");
    json_decref(events);
    responses_reply_free(&r);
    /* calls: one function_call item each; an answer before them would be the message item */
    r = started("{\"input\":\"Hi\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}]}", TOOLS_REQUIRED);
    events = json_array();
    const char *reply = "{\"tool_calls\":[{\"name\":\"f\",\"arguments\":{}},{\"name\":\"f\",\"arguments\":{\"b\":[]}}]}";
    responses_stream_open(&r, events);
    responses_stream_text(&r, reply, strlen(reply), events);
    res = result(BITNET_STOP_JSON_COMPLETE, 20);
    responses_stream_close(&r, 0, NULL, &res, events);
    event_types(events, types, sizeof types, &counted);
    CHECK(counted);
    CHECK_STR(types, "created in_progress output_item.added function_call_arguments.delta function_call_arguments.done output_item.done "
                     "output_item.added function_call_arguments.delta function_call_arguments.done output_item.done completed");
    json_t *second = json_array_get(json_array_get(events, 8), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(second, "output_index")), 1);
    CHECK_STR(json_string_value(json_object_get(second, "arguments")), "{\"b\":[]}");
    json_decref(events);
    responses_reply_free(&r);
    /* a failed job */
    r = started("{\"input\":\"Hi\"}", TOOLS_OFF);
    events = json_array();
    responses_stream_open(&r, events);
    responses_stream_close(&r, -5, "boom", NULL, events);
    event_types(events, types, sizeof types, &counted);
    CHECK_STR(types, "created in_progress failed");
    json_t *failed = json_object_get(json_array_get(json_array_get(events, 2), 1), "response");
    CHECK_STR(json_string_value(json_object_get(json_object_get(failed, "error"), "message")), "boom");
    json_decref(events);
    responses_reply_free(&r);
}

TEST_MAIN_BEGIN("test_server_responses")
    RUN(bodies_become_chats);
    RUN(what_cannot_be_served_is_refused);
    RUN(response_objects);
    RUN(stream_events);
TEST_MAIN_END()
