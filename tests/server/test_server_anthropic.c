/* Tests of server/anthropic.c: a Messages API body becomes the chat body it stands for (system,
 * text blocks, tool_use blocks as the assistant's tool_calls, tool_result blocks as tool
 * messages in order, stop_sequences, tools with input_schema, tool_choice), which the chat
 * parser accepts; what the server cannot do is refused by field; the message object and the
 * stream's events for text, for tool calls and for a failure; error objects typed by status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "openai.h"
#include "test.h"

static void check_chat(const char *body, bool counting, const char *want) {
    api_error err;
    char *chat = NULL;
    int rc = anthropic_to_chat(body, strlen(body), counting, &chat, &err);
    json_t *got = rc ? NULL : json_loads(chat, 0, NULL), *expect = json_loads(want, 0, NULL);
    CHECK_MSG(got && expect && json_equal(got, expect), "%s -> %s", body, rc ? err.message : chat);
    api_request parsed;
    if (!rc) {
        CHECK_MSG(api_parse_request(API_CHAT, chat, strlen(chat), 1, NULL, &parsed, &err) == 0, "%s: %s", chat, err.message);
        api_request_free(&parsed);
    }
    free(chat);
    json_decref(got);
    json_decref(expect);
}

static void check_refused(const char *body, const char *words) {
    api_error err;
    char *chat = NULL;
    int rc = anthropic_to_chat(body, strlen(body), false, &chat, &err);
    CHECK_MSG(rc && !chat && err.status == 400 && strstr(err.message, words), "%s: %s", body, rc ? err.message : chat);
    free(chat);
}

TEST(bodies_become_chats) {
    check_chat("{\"max_tokens\":5,\"system\":[{\"type\":\"text\",\"text\":\"Be \"},{\"type\":\"text\",\"text\":\"brief\"}],"
               "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"stop_sequences\":[\"x\"],\"temperature\":0.2,\"top_k\":3}",
               false,
               "{\"max_tokens\":5,\"stop\":[\"x\"],\"temperature\":0.2,\"top_k\":3,\"messages\":[{\"role\":\"system\",\"content\":\"Be brief\"},"
               "{\"role\":\"user\",\"content\":\"Hi\"}]}");
    check_chat("{\"max_tokens\":9,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Go\"}]},"
               "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"...\"},{\"type\":\"text\",\"text\":\"On it\"},"
               "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{\"a\":1}}]},"
               "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]},"
               "{\"type\":\"text\",\"text\":\"Thanks\"}]}],"
               "\"tools\":[{\"name\":\"f\",\"description\":\"F\",\"input_schema\":{\"type\":\"object\"}}],"
               "\"tool_choice\":{\"type\":\"tool\",\"name\":\"f\",\"disable_parallel_tool_use\":true}}",
               false,
               "{\"max_tokens\":9,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Go\"}]},"
               "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"On it\"}],\"tool_calls\":[{\"id\":\"toolu_1\",\"type\":\"function\","
               "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]},"
               "{\"role\":\"tool\",\"tool_call_id\":\"toolu_1\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Thanks\"}]}],"
               "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":\"F\",\"parameters\":{\"type\":\"object\"}}}],"
               "\"parallel_tool_calls\":false,\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}}");
    check_chat("{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tools\":[{\"name\":\"f\"}],\"tool_choice\":{\"type\":\"any\"}}",
               false, "{\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tools\":[{\"type\":\"function\",\"function\":"
                      "{\"name\":\"f\"}}],\"tool_choice\":\"required\"}");
    /* llama-server's slot fields pass on */
    check_chat("{\"max_tokens\":3,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"id_slot\":0,\"t_max_predict_ms\":200,\"n_indent\":1}",
               false, "{\"max_tokens\":3,\"id_slot\":0,\"t_max_predict_ms\":200,\"n_indent\":1,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
    /* count_tokens: no max_tokens needed, and no sampling fields passed on */
    check_chat("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"temperature\":0.5}", true,
               "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
}

TEST(what_cannot_be_served_is_refused) {
    check_refused("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "'max_tokens' is required");
    check_refused("{\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "'max_tokens' must be a positive integer");
    check_refused("{\"max_tokens\":5,\"messages\":[]}", "'messages' must be a non-empty array");
    check_refused("{\"max_tokens\":5,\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", "'messages[0].role'");
    check_refused("{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{}}]}]}",
                  "'messages[0].content[0]': only text, tool_use and tool_result blocks");
    check_refused("{\"max_tokens\":5,\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"name\":\"f\"}]}]}",
                  "'messages[0].content[0]'");
    check_refused("{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\","
                  "\"content\":[{\"type\":\"image\"}]}]}]}", "'messages[0].content[0].content[0]': only text blocks");
    check_refused("{\"max_tokens\":5,\"system\":5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", "'system' must be");
    check_refused("{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"w\"}]}",
                  "'tools[0]': only client tools");
    check_refused("{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"tool_choice\":{\"type\":\"some\"}}", "'tool_choice' must be");
    check_refused("{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":100}}",
                  "'thinking' is not supported");
    check_refused("[]", "must be a JSON object");
}

static bitnet_generate_result result(bitnet_stop_reason why, int n_generated) {
    return (bitnet_generate_result){.struct_size = sizeof(bitnet_generate_result), .n_prompt = 10, .n_generated = n_generated,
                                    .stop_reason = why, .n_cached = 4, .stop_string_index = why == BITNET_STOP_STRING ? 0 : -1};
}

TEST(messages) {
    anthropic_reply r;
    anthropic_reply_start(&r, 1, "m", TOOLS_OFF, 10);
    bitnet_generate_result res = result(BITNET_STOP_STRING, 3);
    json_t *v = anthropic_message(&r, "abc", 3, &res, "###");
    json_t *block = json_array_get(json_object_get(v, "content"), 0), *usage = json_object_get(v, "usage");
    CHECK(!strncmp(json_string_value(json_object_get(v, "id")), "msg_", 4));
    CHECK_STR(json_string_value(json_object_get(v, "type")), "message");
    CHECK_STR(json_string_value(json_object_get(v, "stop_reason")), "stop_sequence");
    CHECK_STR(json_string_value(json_object_get(v, "stop_sequence")), "###");
    CHECK_STR(json_string_value(json_object_get(block, "text")), "abc");
    CHECK_EQ_INT(json_integer_value(json_object_get(usage, "input_tokens")), 6); /* uncached */
    CHECK_EQ_INT(json_integer_value(json_object_get(usage, "cache_read_input_tokens")), 4);
    json_decref(v);
    anthropic_reply_free(&r);
    anthropic_reply_start(&r, 2, "m", TOOLS_AUTO, 10);
    res = result(BITNET_STOP_JSON_COMPLETE, 9);
    const char *reply = "{\"tool_calls\":[{\"name\":\"f\",\"arguments\":{\"a\":[1]}}]}";
    v = anthropic_message(&r, reply, strlen(reply), &res, NULL);
    block = json_array_get(json_object_get(v, "content"), 0);
    CHECK_EQ_INT(json_array_size(json_object_get(v, "content")), 1);
    CHECK_STR(json_string_value(json_object_get(v, "stop_reason")), "tool_use");
    CHECK_STR(json_string_value(json_object_get(block, "type")), "tool_use");
    CHECK(!strncmp(json_string_value(json_object_get(block, "id")), "toolu_", 6));
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(json_object_get(block, "input"), "a"), 0)), 1);
    json_decref(v);
    anthropic_reply_free(&r);
}

static void event_types(json_t *events, char *out, size_t cap) {
    size_t i, n = 0;
    json_t *pair;
    out[0] = '\0';
    json_array_foreach(events, i, pair) n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? " " : "", json_string_value(json_array_get(pair, 0)));
}

TEST(stream_events) {
    char types[1024];
    anthropic_reply r;
    anthropic_reply_start(&r, 1, "m", TOOLS_OFF, 10);
    json_t *events = json_array();
    bitnet_generate_result res = result(BITNET_STOP_MAX_TOKENS, 2);
    anthropic_stream_open(&r, events);
    anthropic_stream_text(&r, "He", 2, events);
    anthropic_stream_text(&r, "", 0, events);
    anthropic_stream_text(&r, "y", 1, events);
    anthropic_stream_close(&r, 0, NULL, &res, NULL, events);
    event_types(events, types, sizeof types);
    CHECK_STR(types, "message_start content_block_start content_block_delta content_block_delta content_block_stop message_delta message_stop");
    json_t *delta = json_object_get(json_array_get(json_array_get(events, 5), 1), "delta");
    CHECK_STR(json_string_value(json_object_get(delta, "stop_reason")), "max_tokens");
    json_decref(events);
    anthropic_reply_free(&r);
    /* an empty reply still has its (empty) text block */
    anthropic_reply_start(&r, 1, "m", TOOLS_OFF, 10);
    events = json_array();
    res = result(BITNET_STOP_EOG, 1);
    anthropic_stream_open(&r, events);
    anthropic_stream_close(&r, 0, NULL, &res, NULL, events);
    event_types(events, types, sizeof types);
    CHECK_STR(types, "message_start content_block_start content_block_stop message_delta message_stop");
    json_decref(events);
    anthropic_reply_free(&r);
    /* calls: a tool_use block each, its input as one input_json_delta */
    anthropic_reply_start(&r, 1, "m", TOOLS_REQUIRED, 10);
    events = json_array();
    const char *reply = "{\"tool_calls\":[{\"name\":\"f\",\"arguments\":{}},{\"name\":\"g\",\"arguments\":{\"b\":2}}]}";
    anthropic_stream_open(&r, events);
    anthropic_stream_text(&r, reply, strlen(reply), events);
    res = result(BITNET_STOP_JSON_COMPLETE, 20);
    anthropic_stream_close(&r, 0, NULL, &res, NULL, events);
    event_types(events, types, sizeof types);
    CHECK_STR(types, "message_start content_block_start content_block_delta content_block_stop content_block_start content_block_delta "
                     "content_block_stop message_delta message_stop");
    json_t *second = json_array_get(json_array_get(events, 5), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(second, "index")), 1);
    CHECK_STR(json_string_value(json_object_get(json_object_get(second, "delta"), "partial_json")), "{\"b\":2}");
    json_decref(events);
    anthropic_reply_free(&r);
    /* a failed job */
    anthropic_reply_start(&r, 1, "m", TOOLS_OFF, 10);
    events = json_array();
    anthropic_stream_open(&r, events);
    anthropic_stream_close(&r, 503, "boom", NULL, NULL, events);
    event_types(events, types, sizeof types);
    CHECK_STR(types, "message_start error");
    json_t *error = json_array_get(json_array_get(events, 1), 1);
    CHECK_STR(json_string_value(json_object_get(error, "type")), "error");
    CHECK_STR(json_string_value(json_object_get(json_object_get(error, "error"), "type")), "overloaded_error");
    CHECK_STR(json_string_value(json_object_get(json_object_get(error, "error"), "message")), "boom");
    json_decref(events);
    anthropic_reply_free(&r);
}

/* {"type": "error", "error": {"type", "message"}} and nothing else, the type by status. */
static void check_error(int status, const char *type) {
    json_t *v = anthropic_error_json(status, "bad \xff");
    json_t *error = json_object_get(v, "error");
    CHECK_MSG(v && json_object_size(v) == 2 && json_object_size(error) == 2, "%d", status);
    CHECK_STR(json_string_value(json_object_get(v, "type")), "error");
    CHECK_STR(json_string_value(json_object_get(error, "type")), type);
    CHECK_STR(json_string_value(json_object_get(error, "message")), "bad \xef\xbf\xbd"); /* invalid UTF-8 replaced */
    json_decref(v);
}

TEST(error_objects) {
    check_error(400, "invalid_request_error");
    check_error(401, "authentication_error");
    check_error(403, "permission_error");
    check_error(404, "not_found_error");
    check_error(405, "invalid_request_error");
    check_error(413, "request_too_large");
    check_error(429, "rate_limit_error");
    check_error(500, "api_error");
    check_error(503, "overloaded_error");
    check_error(529, "overloaded_error");
}

TEST_MAIN_BEGIN("test_server_anthropic")
    RUN(bodies_become_chats);
    RUN(what_cannot_be_served_is_refused);
    RUN(messages);
    RUN(stream_events);
    RUN(error_objects);
TEST_MAIN_END()
