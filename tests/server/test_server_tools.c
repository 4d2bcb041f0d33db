/* Tests of server/tools.c (function calling) through the request parser of server/openai.c:
 * refusals of malformed tools and choices (each naming its field), the reply's schema
 * (compiled by text/json_schema: calls of the right functions with valid arguments pass,
 * everything else is refused, local $refs of a function's parameters still resolve, parallel
 * and named choices), the rendering of tool calls and tool results in the conversation, the
 * reply reader (answer text decoded as it comes, byte by byte or whole; calls with ids and
 * arguments as JSON text; a cut reply as raw text) and the reply objects. */
#include <stdlib.h>
#include <string.h>

#include "openai.h"
#include "test.h"
#include "text/json_schema.h"
#include "tools.h"
#include "util.h"

#define USER "{\"role\":\"user\",\"content\":\"Hi\"}"
#define WEATHER                                                                                                         \
    "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather now\",\"parameters\":"    \
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":{\"$ref\":\"#/$defs/unit\"}},"       \
    "\"required\":[\"city\",\"unit\"],\"additionalProperties\":false,\"$defs\":{\"unit\":{\"enum\":[\"c\",\"f\"]}}}}}"
#define NOW "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}"

/* Parses a chat body; returns the status (0 accepted), *r filled when accepted. */
static int parse(const char *body, api_request *r, api_error *err) {
    int rc = api_parse_request(API_CHAT, body, strlen(body), 1, NULL, r, err);
    return rc ? err->status : 0;
}

static void check_refused(const char *body, const char *words) {
    api_request r;
    api_error err;
    CHECK_EQ_INT(parse(body, &r, &err), 400);
    CHECK_MSG(strstr(err.message, words) != NULL, "'%s' not in: %s", words, err.message);
}

TEST(malformed_tools_are_refused) {
    check_refused("{\"messages\":[" USER "],\"tools\":{}}", "'tools' must be an array");
    check_refused("{\"messages\":[" USER "],\"tools\":[{\"type\":\"retrieval\"}]}", "'tools[0]' must be");
    check_refused("{\"messages\":[" USER "],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]}",
                  "'tools[0].function.name'");
    check_refused("{\"messages\":[" USER "],\"tools\":[" NOW "," NOW "]}", "also the name of tools[0]");
    check_refused("{\"messages\":[" USER "],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"x\",\"parameters\":3}}]}",
                  "'tools[0].function.parameters' must be");
    check_refused("{\"messages\":[" USER "],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"x\",\"description\":1}}]}",
                  "'tools[0].function.description'");
    check_refused("{\"messages\":[" USER "],\"tools\":[" NOW "],\"tool_choice\":\"sometimes\"}", "'tool_choice' must be");
    check_refused("{\"messages\":[" USER "],\"tools\":[" NOW "],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"later\"}}}",
                  "'later', which is not in 'tools'");
    check_refused("{\"messages\":[" USER "],\"tool_choice\":\"required\"}", "needs a non-empty 'tools'");
    check_refused("{\"messages\":[" USER "],\"tools\":[" NOW "],\"parallel_tool_calls\":1}", "'parallel_tool_calls' must be");
    check_refused("{\"messages\":[" USER "],\"functions\":[{\"name\":\"x\"}]}", "'functions' (the deprecated form");
    check_refused("{\"messages\":[" USER "],\"tools\":[" NOW "],\"response_format\":{\"type\":\"json_object\"}}",
                  "'response_format' cannot be combined with 'tools'");
    check_refused("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"arguments\":\"{}\"}}]}]}",
                  "'messages[0].tool_calls[0]' must be");
    char many[8192] = "{\"messages\":[" USER "],\"tools\":[";
    for (int i = 0; i <= API_MAX_TOOLS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s{\"type\":\"function\",\"function\":{\"name\":\"f%d\"}}", i ? "," : "", i);
    strcat(many, "]}");
    check_refused(many, "at most 64");
    api_request r;
    api_error err;
    const char *completion = "{\"prompt\":\"x\",\"tools\":[" NOW "]}";
    CHECK_EQ_INT(api_parse_request(API_COMPLETION, completion, strlen(completion), 1, NULL, &r, &err), -1);
    CHECK(strstr(err.message, "only supported by /v1/chat/completions") != NULL);
    /* an empty list and "none" turn function calling off */
    CHECK_EQ_INT(parse("{\"messages\":[" USER "],\"tools\":[]}", &r, &err), 0);
    CHECK(r.tools.choice == TOOLS_OFF && !r.gen.json_schema);
    api_request_free(&r);
    CHECK_EQ_INT(parse("{\"messages\":[" USER "],\"tools\":[" NOW "],\"tool_choice\":\"none\"}", &r, &err), 0);
    CHECK(r.tools.choice == TOOLS_OFF && !r.gen.json_schema && r.n_messages == 1);
    api_request_free(&r);
}

/* Whether text is accepted whole by the schema and complete. */
static bool valid(const bn_json_schema *s, const char *text) {
    bn_json_schema_state st;
    bn_json_schema_init(&st, s);
    return bn_json_schema_feed(&st, text, strlen(text)) && bn_json_schema_complete(&st);
}

static bn_json_schema *reply_schema(const char *body, api_request *r) {
    api_error err;
    CHECK_EQ_INT(parse(body, r, &err), 0);
    CHECK(r->gen.json_schema != NULL && !strcmp(r->json_schema_field, "tools"));
    bn_json_schema *s = r->gen.json_schema ? bn_json_schema_compile(r->gen.json_schema, strlen(r->gen.json_schema)) : NULL;
    CHECK_MSG(s != NULL, "%s", bn_last_error_message());
    return s;
}

TEST(auto_schema_takes_calls_or_an_answer) {
    api_request r;
    bn_json_schema *s = reply_schema("{\"messages\":[" USER "],\"tools\":[" WEATHER "," NOW "]}", &r);
    if (!s) return;
    CHECK(r.tools.choice == TOOLS_AUTO);
    CHECK(valid(s, "{\"response\":\"Hello\"}"));
    CHECK(valid(s, "{\"tool_calls\":[{\"name\":\"now\",\"arguments\":{}}]}"));
    CHECK(valid(s, "{ \"tool_calls\" : [ {\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\",\"unit\":\"c\"}},"
                   "{\"name\":\"now\",\"arguments\":{}} ] }"));
    CHECK(!valid(s, "{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\",\"unit\":\"k\"}}]}")); /* $ref'd enum */
    CHECK(!valid(s, "{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}]}"));
    CHECK(!valid(s, "{\"tool_calls\":[{\"name\":\"now\",\"arguments\":{\"x\":1}}]}")); /* no parameters: {} only */
    CHECK(!valid(s, "{\"tool_calls\":[{\"name\":\"later\",\"arguments\":{}}]}"));
    CHECK(!valid(s, "{\"tool_calls\":[]}"));
    CHECK(!valid(s, "{\"response\":\"a\",\"tool_calls\":[{\"name\":\"now\",\"arguments\":{}}]}"));
    CHECK(!valid(s, "{\"tool_calls\":[{\"name\":\"now\",\"arguments\":{}}],\"response\":\"a\"}"));
    CHECK(!valid(s, "{}"));
    CHECK(!valid(s, "\"Hello\""));
    bn_json_schema_free(s);
    api_request_free(&r);
}

TEST(required_named_and_single_calls) {
    api_request r;
    bn_json_schema *s = reply_schema("{\"messages\":[" USER "],\"tools\":[" WEATHER "," NOW "],\"tool_choice\":\"required\","
                                     "\"parallel_tool_calls\":false}", &r);
    if (!s) return;
    CHECK(valid(s, "{\"tool_calls\":[{\"name\":\"now\",\"arguments\":{}}]}"));
    CHECK(!valid(s, "{\"tool_calls\":[{\"name\":\"now\",\"arguments\":{}},{\"name\":\"now\",\"arguments\":{}}]}"));
    CHECK(!valid(s, "{\"response\":\"Hello\"}"));
    bn_json_schema_free(s);
    api_request_free(&r);
    s = reply_schema("{\"messages\":[" USER "],\"tools\":[" NOW "," WEATHER "],\"tool_choice\":{\"type\":\"function\","
                     "\"function\":{\"name\":\"get_weather\"}}}", &r);
    if (!s) return;
    CHECK(r.tools.choice == TOOLS_NAMED);
    CHECK(valid(s, "{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"\",\"unit\":\"f\"}}]}"));
    CHECK(!valid(s, "{\"tool_calls\":[{\"name\":\"now\",\"arguments\":{}}]}"));
    /* only the named function is described */
    CHECK(strstr(r.messages[0].content, "get_weather") && !strstr(r.messages[0].content, "\"now\""));
    bn_json_schema_free(s);
    api_request_free(&r);
}

TEST(parameters_the_compiler_refuses_name_their_tool) {
    api_request r;
    api_error err;
    const char *body = "{\"messages\":[" USER "],\"tools\":[" NOW ",{\"type\":\"function\",\"function\":{\"name\":\"odd\","
                       "\"parameters\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"not\":{\"const\":2}}}}}}]}";
    CHECK_EQ_INT(parse(body, &r, &err), 0); /* the parser only checks the shape; request.c compiles each */
    CHECK(r.tools.n == 2 && r.tools.parameters[0] == NULL && strstr(r.tools.parameters[1], "\"not\""));
    api_request_free(&r);
}

TEST(conversation_renders_calls_and_results) {
    api_request r;
    api_error err;
    const char *body = "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"}," USER ","
                       "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
                       "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Oslo\\\", \\\"unit\\\": \\\"c\\\"}\"}},"
                       "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"now\",\"arguments\":\"not json\"}}]},"
                       "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"4 C\"},"
                       "{\"role\":\"assistant\",\"content\":\"It is 4 C.\"}," USER "],\"tools\":[" WEATHER "," NOW "]}";
    CHECK_EQ_INT(parse(body, &r, &err), 0);
    if (err.status) return;
    CHECK_EQ_INT((int)r.n_messages, 6);
    CHECK(r.messages[0].role == BN_CHAT_SYSTEM && strstr(r.messages[0].content, "Be brief.\n\nYou can call functions.") == r.messages[0].content);
    CHECK(strstr(r.messages[0].content, "{\"name\":\"get_weather\",\"description\":\"Weather now\",\"parameters\":{") != NULL);
    CHECK(strstr(r.messages[0].content, "{\"name\":\"now\"}\n") != NULL);
    CHECK_STR(r.messages[2].content, "{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\",\"unit\":\"c\"}},"
                                     "{\"name\":\"now\",\"arguments\":\"not json\"}]}");
    CHECK(r.messages[3].role == BN_CHAT_TOOL);
    CHECK_STR(r.messages[3].content, "4 C");
    CHECK_STR(r.messages[4].content, "{\"response\":\"It is 4 C.\"}"); /* auto: what the model writes */
    api_request_free(&r);
    /* no system message: one is added first; without tools, replies stay text */
    CHECK_EQ_INT(parse("{\"messages\":[" USER "],\"tools\":[" NOW "],\"tool_choice\":\"required\"}", &r, &err), 0);
    CHECK(r.n_messages == 2 && r.messages[0].role == BN_CHAT_SYSTEM && r.messages[1].role == BN_CHAT_USER);
    CHECK(strstr(r.messages[0].content, "calls the function now") != NULL);
    api_request_free(&r);
    CHECK_EQ_INT(parse("{\"messages\":[" USER ",{\"role\":\"assistant\",\"content\":\"Yes.\"}]}", &r, &err), 0);
    CHECK_STR(r.messages[1].content, "Yes.");
    api_request_free(&r);
}

/* Feeds text byte by byte (or whole) and returns the answer text (malloc'd). */
static char *read_reply(tool_reader *t, const char *text, bool bytewise) {
    char *answer = NULL;
    size_t len = 0, n = strlen(text);
    tool_reader_init(t);
    for (size_t i = 0; i < n; i += bytewise ? 1 : n) CHECK(tool_reader_feed(t, text + i, bytewise ? 1 : n, &answer, &len));
    if (!answer) answer = calloc(1, 1);
    return answer;
}

TEST(reader_decodes_the_answer_as_it_comes) {
    const char *reply = "{ \"response\" :\n \"a\\u00e9\\ud83d\\ude00\\\"\\n\\\\b\xc3\xa9\" }";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        tool_reader t;
        char *answer = read_reply(&t, reply, bytewise);
        CHECK_STR(answer, "a\xc3\xa9\xf0\x9f\x98\x80\"\n\\b\xc3\xa9");
        const char *raw;
        size_t raw_len;
        CHECK(tool_reader_finish(&t, "x", &raw, &raw_len) == NULL && raw == NULL);
        free(answer);
        tool_reader_free(&t);
    }
    /* cut inside the answer: the text so far, an unfinished escape held back */
    tool_reader t;
    char *answer = read_reply(&t, "{\"response\":\"ab\\u00", true);
    CHECK_STR(answer, "ab");
    free(answer);
    tool_reader_free(&t);
}

TEST(reader_turns_calls_into_openai_calls) {
    tool_reader t;
    char *answer = read_reply(&t, "{\"tool_calls\":[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\",\"unit\":\"c\"}},"
                                  "{\"name\":\"now\",\"arguments\":{}}]}", true);
    CHECK_STR(answer, "");
    const char *raw;
    size_t raw_len;
    json_t *calls = tool_reader_finish(&t, "chatcmpl-1", &raw, &raw_len);
    CHECK(calls && json_array_size(calls) == 2 && !raw);
    char *text = calls ? json_dumps(calls, JSON_COMPACT) : NULL;
    CHECK(text && strstr(text, "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
                               "\"{\\\"city\\\":\\\"Oslo\\\",\\\"unit\\\":\\\"c\\\"}\"}") != NULL);
    const char *id0 = json_string_value(json_object_get(json_array_get(calls, 0), "id"));
    const char *id1 = json_string_value(json_object_get(json_array_get(calls, 1), "id"));
    CHECK(id0 && id1 && !strncmp(id0, "call_", 5) && strlen(id0) == 21 && strcmp(id0, id1));
    free(text);
    json_decref(calls);
    free(answer);
    tool_reader_free(&t);
    /* cut short inside a call: the whole reply is the text */
    answer = read_reply(&t, "{\"tool_calls\":[{\"name\":\"now\"", false);
    CHECK(tool_reader_finish(&t, "chatcmpl-1", &raw, &raw_len) == NULL);
    CHECK(raw && raw_len == 28 && !memcmp(raw, "{\"tool_calls\":[{\"name\":\"now\"", 28));
    free(answer);
    tool_reader_free(&t);
}

/* The calls as they stream (tool_reader_calls): names decoded once whole, arguments as written
 * less the whitespace between tokens (inside strings kept), whole when their value closes;
 * byte by byte the same as at once; keys named "name" and "arguments" inside the arguments do
 * not start calls; finish's "arguments" are the streamed text. */
TEST(reader_streams_calls) {
    const char *reply = "{ \"tool_calls\" : [ { \"name\" : \"get_\\u0077eather\" , \"arguments\" : { \"city\" : \"Oslo  \\\"x\\\\\" ,\n"
                        "  \"n\" : [1, 2.50, true, null] } } , {\"name\":\"nest\",\"arguments\":{\"name\":\"inner\",\"arguments\":{\"x\":{}}}},"
                        " {\"name\":\"five\", \"arguments\": 5 }, {\"name\":\"s\",\"arguments\":\"a b\"} ] }";
    const char *names[] = {"get_weather", "nest", "five", "s"};
    const char *args[] = {"{\"city\":\"Oslo  \\\"x\\\\\",\"n\":[1,2.50,true,null]}", "{\"name\":\"inner\",\"arguments\":{\"x\":{}}}", "5", "\"a b\""};
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        tool_reader t;
        char *answer = read_reply(&t, reply, bytewise);
        size_t n;
        const tool_call_text *calls = tool_reader_calls(&t, &n);
        CHECK_EQ_INT((int)n, 4);
        for (size_t i = 0; i < n && i < 4; i++) {
            CHECK_MSG(calls[i].name && !strcmp(calls[i].name, names[i]), "call %zu: name %s", i, calls[i].name ? calls[i].name : "(none)");
            CHECK_MSG(calls[i].args && !strcmp(calls[i].args, args[i]) && calls[i].args_done, "call %zu: args %s", i, calls[i].args ? calls[i].args : "(none)");
        }
        const char *raw;
        size_t raw_len;
        json_t *openai = tool_reader_finish(&t, "chatcmpl-2", &raw, &raw_len);
        CHECK(openai && json_array_size(openai) == 4);
        for (size_t i = 0; openai && i < 4; i++) {
            json_t *fn = json_object_get(json_array_get(openai, i), "function");
            CHECK_STR(json_string_value(json_object_get(fn, "arguments")), args[i]);
            char id[32];
            tools_call_id("chatcmpl-2", i, id);
            CHECK_STR(json_string_value(json_object_get(json_array_get(openai, i), "id")), id);
        }
        json_decref(openai);
        free(answer);
        tool_reader_free(&t);
    }
    /* part way: the first call named, its arguments so far, not whole; the answer form makes none */
    tool_reader t;
    char *answer = read_reply(&t, "{\"tool_calls\":[{\"name\":\"f\",\"arguments\":{\"a\": [1 ,", true);
    size_t n;
    const tool_call_text *calls = tool_reader_calls(&t, &n);
    CHECK(n == 1 && calls[0].name && !strcmp(calls[0].name, "f") && !strcmp(calls[0].args, "{\"a\":[1,") && !calls[0].args_done);
    free(answer);
    tool_reader_free(&t);
    answer = read_reply(&t, "{\"response\":\"{\\\"tool_calls\\\":[{\\\"name\\\":\\\"x\\\"}]}\"}", true);
    tool_reader_calls(&t, &n);
    CHECK_EQ_INT((int)n, 0);
    free(answer);
    tool_reader_free(&t);
    /* not JSON: closing more than was opened leaves the scan at depth 0 (fuzz_serve_request) */
    answer = read_reply(&t, "}}]]{\"tool_calls\":[{\"name\":\"f\",\"arguments\":{}}]}", true);
    tool_reader_calls(&t, &n);
    CHECK_EQ_INT((int)n, 1);
    free(answer);
    tool_reader_free(&t);
    /* a key twice (never generated): the parse's value (the last), not the scan's text of both */
    answer = read_reply(&t, "{\"tool_calls\":[{\"name\":\"a\",\"arguments\":{\"x\":1},\"arguments\":{\"y\":2}}]}", true);
    const char *raw;
    size_t raw_len;
    json_t *twice = tool_reader_finish(&t, "c", &raw, &raw_len);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(twice, 0), "function"), "arguments")), "{\"y\":2}");
    json_decref(twice);
    free(answer);
    tool_reader_free(&t);
}

TEST(reply_objects) {
    api_reply reply;
    api_reply_init(&reply, API_CHAT, 7, "m", NULL, -1);
    reply.tools = TOOLS_AUTO;
    bitnet_generate_result res = {.struct_size = sizeof res, .stop_reason = BITNET_STOP_JSON_COMPLETE};
    const char *calls_text = "{\"tool_calls\":[{\"name\":\"now\",\"arguments\":{}}]}";
    json_t *v = api_response(&reply, calls_text, strlen(calls_text), NULL, 0, &res);
    json_t *choice = json_array_get(json_object_get(v, "choices"), 0), *msg = json_object_get(choice, "message");
    CHECK_STR(json_string_value(json_object_get(choice, "finish_reason")), "tool_calls");
    CHECK(json_is_null(json_object_get(msg, "content")) && json_array_size(json_object_get(msg, "tool_calls")) == 1);
    json_decref(v);
    v = api_response(&reply, "{\"response\":\"Hi!\"}", 18, NULL, 0, &res);
    choice = json_array_get(json_object_get(v, "choices"), 0), msg = json_object_get(choice, "message");
    CHECK_STR(json_string_value(json_object_get(choice, "finish_reason")), "stop");
    CHECK_STR(json_string_value(json_object_get(msg, "content")), "Hi!");
    CHECK(!json_object_get(msg, "tool_calls"));
    json_decref(v);
    json_t *calls = json_pack("[{s:s, s:s, s:{s:s, s:s}}]", "id", "call_1", "type", "function", "function", "name", "now",
                              "arguments", "{}");
    v = api_tool_calls_chunk(&reply, calls, true);
    json_t *delta = json_object_get(json_array_get(json_object_get(v, "choices"), 0), "delta");
    json_t *call = json_array_get(json_object_get(delta, "tool_calls"), 0);
    CHECK_STR(json_string_value(json_object_get(delta, "role")), "assistant");
    CHECK(json_integer_value(json_object_get(call, "index")) == 0);
    CHECK_STR(json_string_value(json_object_get(call, "id")), "call_1");
    json_decref(v);
    json_decref(calls);
}

TEST_MAIN_BEGIN("test_server_tools")
    RUN(malformed_tools_are_refused);
    RUN(auto_schema_takes_calls_or_an_answer);
    RUN(required_named_and_single_calls);
    RUN(parameters_the_compiler_refuses_name_their_tool);
    RUN(conversation_renders_calls_and_results);
    RUN(reader_decodes_the_answer_as_it_comes);
    RUN(reader_turns_calls_into_openai_calls);
    RUN(reader_streams_calls);
    RUN(reply_objects);
TEST_MAIN_END()
