/* Tests of src/chat: exact renderings of every format (bitnet, llama3, chatml, falcon3, plain;
 * one turn, several turns, no system message), incremental deltas that concatenate to the full
 * rendering, the last message left open (an assistant prefill), template detection, format
 * names, and the refusal of bad input. */
#include <stdlib.h>

#include "text/chat.h"
#include "test.h"
#include "util.h"

static const bn_chat_message CONVERSATION[] = {
    {BN_CHAT_SYSTEM, "You are terse."},
    {BN_CHAT_USER, "Hi"},
    {BN_CHAT_ASSISTANT, "Hello."},
    {BN_CHAT_USER, "2+2?"},
    {BN_CHAT_ASSISTANT, "4"},
};
#define N_CONVERSATION (sizeof CONVERSATION / sizeof CONVERSATION[0])

/* Renders and compares; frees the rendering. */
static void check_render(bn_chat_format f, const bn_chat_message *m, size_t n, bool prompt,
                         const char *expected) {
    char *got = bn_chat_render(f, m, n, prompt);
    CHECK_STR(got, expected);
    free(got);
}

TEST(bitnet_single_and_multi_turn) {
    check_render(BN_CHAT_BITNET, CONVERSATION, 2, true,
                 "System: You are terse.<|eot_id|>User: Hi<|eot_id|>Assistant: ");
    check_render(BN_CHAT_BITNET, CONVERSATION, 4, true,
                 "System: You are terse.<|eot_id|>User: Hi<|eot_id|>Assistant: Hello.<|eot_id|>"
                 "User: 2+2?<|eot_id|>Assistant: ");
    check_render(BN_CHAT_BITNET, CONVERSATION + 1, 1, true, "User: Hi<|eot_id|>Assistant: ");
    check_render(BN_CHAT_BITNET, CONVERSATION, 3, false,
                 "System: You are terse.<|eot_id|>User: Hi<|eot_id|>Assistant: Hello.<|eot_id|>");
}

TEST(llama3_single_and_multi_turn) {
    check_render(BN_CHAT_LLAMA3, CONVERSATION, 2, true,
                 "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
    check_render(BN_CHAT_LLAMA3, CONVERSATION + 1, 3, true,
                 "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(plain_single_and_multi_turn) {
    check_render(BN_CHAT_PLAIN, CONVERSATION, 2, true, "System: You are terse.\nUser: Hi\nAssistant: ");
    check_render(BN_CHAT_PLAIN, CONVERSATION, 4, true,
                 "System: You are terse.\nUser: Hi\nAssistant: Hello.\nUser: 2+2?\nAssistant: ");
    check_render(BN_CHAT_PLAIN, CONVERSATION, 0, true, "Assistant: ");
    check_render(BN_CHAT_PLAIN, CONVERSATION, 0, false, "");
}

/* llama.cpp's chatml and falcon3 renderings. */
TEST(chatml_and_falcon3) {
    check_render(BN_CHAT_CHATML, CONVERSATION, 4, true,
                 "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                 "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n");
    check_render(BN_CHAT_FALCON3, CONVERSATION, 4, true,
                 "<|system|>\nYou are terse.\n<|user|>\nHi\n<|assistant|>\nHello.\n<|user|>\n2+2?\n<|assistant|>\n");
    check_render(BN_CHAT_FALCON3, CONVERSATION + 1, 1, false, "<|user|>\nHi\n");
}

/* A function's result (the server's tool messages): "Tool: " in the bitnet and plain formats,
 * Llama 3.1's ipython role in llama3. */
TEST(tool_role) {
    const bn_chat_message m[2] = {{BN_CHAT_USER, "Weather?"}, {BN_CHAT_TOOL, "{\"t\":3}"}};
    check_render(BN_CHAT_BITNET, m, 2, true, "User: Weather?<|eot_id|>Tool: {\"t\":3}<|eot_id|>Assistant: ");
    check_render(BN_CHAT_PLAIN, m + 1, 1, false, "Tool: {\"t\":3}\n");
    check_render(BN_CHAT_LLAMA3, m + 1, 1, false, "<|start_header_id|>ipython<|end_header_id|>\n\n{\"t\":3}<|eot_id|>");
    check_render(BN_CHAT_CHATML, m + 1, 1, false, "<|im_start|>tool\n{\"t\":3}<|im_end|>\n");
    check_render(BN_CHAT_FALCON3, m + 1, 1, false, "<|tool|>\n{\"t\":3}\n");
}

TEST(content_is_verbatim_and_never_has_bos) {
    const bn_chat_message m[1] = {{BN_CHAT_USER, "  spaced \n\xc3\xa9t\xc3\xa9  "}};
    check_render(BN_CHAT_BITNET, m, 1, false, "User:   spaced \n\xc3\xa9t\xc3\xa9  <|eot_id|>");
    for (int f = 0; f < BN_CHAT_FORMAT_COUNT; f++) {
        char *s = bn_chat_render((bn_chat_format)f, CONVERSATION, N_CONVERSATION, true);
        CHECK(s != NULL);
        CHECK(s && strstr(s, "<|begin_of_text|>") == NULL);
        free(s);
    }
}

/* What a chat session has fed after n_done messages: the full rendering without the
 * generation prompt, and without the CLOSE of a generated reply. */
static char *seen_text(bn_chat_format f, size_t n_done) {
    char *full = bn_chat_render(f, CONVERSATION, n_done, false);
    if (full && n_done > 0 && CONVERSATION[n_done - 1].role == BN_CHAT_ASSISTANT) {
        static const char *const closes[BN_CHAT_FORMAT_COUNT] = {
            [BN_CHAT_PLAIN] = "\n", [BN_CHAT_BITNET] = "<|eot_id|>", [BN_CHAT_LLAMA3] = "<|eot_id|>",
            [BN_CHAT_CHATML] = "<|im_end|>\n", [BN_CHAT_FALCON3] = "\n"};
        const char *close = closes[f];
        size_t len = strlen(full), cl = strlen(close);
        CHECK(len >= cl && strcmp(full + len - cl, close) == 0);
        full[len - cl] = '\0';
    }
    return full;
}

TEST(deltas_concatenate_to_the_full_rendering) {
    for (int f = 0; f < BN_CHAT_FORMAT_COUNT; f++) {
        for (size_t n = 0; n <= N_CONVERSATION; n++) {
            for (size_t done = 0; done <= n; done++) {
                for (int prompt = 0; prompt < 2; prompt++) {
                    char *seen = seen_text((bn_chat_format)f, done);
                    char *delta = bn_chat_render_delta((bn_chat_format)f, CONVERSATION, done, n, prompt);
                    char *full = bn_chat_render((bn_chat_format)f, CONVERSATION, n, prompt);
                    CHECK(seen && delta && full);
                    if (seen && delta && full) {
                        size_t ls = strlen(seen);
                        CHECK_MSG(strncmp(full, seen, ls) == 0 && strcmp(full + ls, delta) == 0,
                                  "format %d, done %zu of %zu, prompt %d", f, done, n, prompt);
                    }
                    free(seen);
                    free(delta);
                    free(full);
                }
            }
        }
    }
}

/* The turn-by-turn use: the first turn, then after the reply "Hello." the second. */
TEST(delta_of_a_new_user_turn) {
    char *first = bn_chat_render_delta(BN_CHAT_BITNET, CONVERSATION, 0, 2, true);
    CHECK_STR(first, "System: You are terse.<|eot_id|>User: Hi<|eot_id|>Assistant: ");
    char *second = bn_chat_render_delta(BN_CHAT_BITNET, CONVERSATION, 3, 4, true);
    CHECK_STR(second, "<|eot_id|>User: 2+2?<|eot_id|>Assistant: ");
    char *third = bn_chat_render_delta(BN_CHAT_LLAMA3, CONVERSATION, 3, 4, true);
    CHECK_STR(third, "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|>"
                     "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(first);
    free(second);
    free(third);
}

/* An assistant "prefill": the conversation with its last message left open is the full
 * rendering without that message's CLOSE, in every format (what a chat session has fed after a
 * generated reply, seen_text); no message to continue is refused. */
TEST(continue_the_last_message) {
    const bn_chat_message m[3] = {{BN_CHAT_SYSTEM, "Be brief."}, {BN_CHAT_USER, "Count:"}, {BN_CHAT_ASSISTANT, "1, 2,"}};
    char *t = bn_chat_render_continue(BN_CHAT_LLAMA3, m, 3);
    CHECK_STR(t, "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
                 "Count:<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n1, 2,");
    free(t);
    for (int f = 0; f < BN_CHAT_FORMAT_COUNT; f++) {
        char *open = bn_chat_render_continue((bn_chat_format)f, CONVERSATION, 3), *seen = seen_text((bn_chat_format)f, 3);
        CHECK_MSG(open && seen && strcmp(open, seen) == 0, "format %d: %s vs %s", f, open ? open : "(null)", seen ? seen : "(null)");
        free(open);
        free(seen);
    }
    CHECK(bn_chat_render_continue(BN_CHAT_BITNET, m, 0) == NULL);
}

TEST(detection_from_templates) {
    CHECK_EQ_INT(bn_chat_detect(NULL), BN_CHAT_PLAIN);
    CHECK_EQ_INT(bn_chat_detect(""), BN_CHAT_PLAIN);
    /* the 2B-4T GGUF's placeholder */
    CHECK_EQ_INT(bn_chat_detect("{{ BITNET_CHAT_TEMPLATE }}"), BN_CHAT_BITNET);
    /* a Jinja template in the 2B-4T style */
    CHECK_EQ_INT(bn_chat_detect("{% for message in messages %}{{ message['role'] | capitalize + ': ' + "
                                "message['content'] + '<|eot_id|>' }}{% endfor %}"
                                "{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}"),
                 BN_CHAT_BITNET);
    /* LLaMA-3 instruct */
    CHECK_EQ_INT(bn_chat_detect("{% set loop_messages = messages %}{% for message in loop_messages %}"
                                "{% set content = '<|start_header_id|>' + message['role'] + "
                                "'<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
                                "{{ content }}{% endfor %}"),
                 BN_CHAT_LLAMA3);
    /* ChatML; Phi-4's variant of it is not */
    CHECK_EQ_INT(bn_chat_detect("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
                                "<|im_end|>{% endfor %}"),
                 BN_CHAT_CHATML);
    CHECK_EQ_INT(bn_chat_detect("<|im_start|>{{ m.role }}<|im_sep|>{{ m.content }}<|im_end|>"), BN_CHAT_PLAIN);
    /* Falcon3 instruct (its template's core); Phi-3's, with <|end|>, is not */
    CHECK_EQ_INT(bn_chat_detect("{%- for message in messages %}{%- if message['role'] == 'system' %}{{- '<|system|>\n' + "
                                "message['content'] + '\n' }}{%- elif message['role'] == 'user' %}{{- '<|user|>\n' + "
                                "message['content'] + '\n' }}{%- elif message['role'] == 'assistant' %}{{- '<|assistant|>\n' + "
                                "message['content'] + eos_token }}{%- endif %}{%- endfor %}"),
                 BN_CHAT_FALCON3);
    CHECK_EQ_INT(bn_chat_detect("{{'<|user|>\n' + message['content'] + '<|end|>\n<|assistant|>\n'}}"), BN_CHAT_PLAIN);
    /* others fall back to plain */
    CHECK_EQ_INT(bn_chat_detect("{{ bos_token }}[INST] {{ m.content }} [/INST]"), BN_CHAT_PLAIN);
}

/* llama.cpp's --chat-template value: a name, or a template recognized as a format; not plain's
 * fallback for what is neither (that would prompt a model in the wrong format silently). */
TEST(format_from_template_argument) {
    bn_chat_format f = BN_CHAT_PLAIN;
    CHECK_EQ_INT(bn_chat_format_from_template("plain", &f), 0);
    CHECK_EQ_INT(f, BN_CHAT_PLAIN);
    CHECK_EQ_INT(bn_chat_format_from_template("falcon3", &f), 0);
    CHECK_EQ_INT(f, BN_CHAT_FALCON3);
    CHECK_EQ_INT(bn_chat_format_from_template("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>{% endfor %}", &f), 0);
    CHECK_EQ_INT(f, BN_CHAT_CHATML);
    CHECK_EQ_INT(bn_chat_format_from_template("{{ bos_token }}[INST] {{ m.content }} [/INST]", &f), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bn_last_error_message(), "the template is not one of the chat formats") != NULL);
    CHECK_EQ_INT(bn_chat_format_from_template("llama2", &f), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bn_last_error_message(), "'llama2' is neither a chat format") != NULL);
    CHECK_EQ_INT(bn_chat_format_from_template(NULL, &f), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(f, BN_CHAT_CHATML); /* untouched by the refusals */
}

TEST(format_names) {
    bn_chat_format f = BN_CHAT_PLAIN;
    for (int i = 0; i < BN_CHAT_FORMAT_COUNT; i++) {
        const char *name = bn_chat_format_name((bn_chat_format)i);
        CHECK_EQ_INT(bn_chat_format_from_name(name, &f), 0);
        CHECK_EQ_INT(f, i);
        CHECK(strstr(bn_chat_format_names(), name) != NULL);
    }
    CHECK_STR(bn_chat_format_name(BN_CHAT_LLAMA3), "llama3");
    CHECK_STR(bn_chat_format_name((bn_chat_format)7), "unknown");
    f = BN_CHAT_LLAMA3;
    CHECK_EQ_INT(bn_chat_format_from_name("mistral", &f), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(f, BN_CHAT_LLAMA3); /* untouched on error */
    CHECK(strstr(bn_last_error_message(), "mistral") != NULL);
    CHECK(strstr(bn_last_error_message(), "bitnet, llama3, chatml, falcon3, plain") != NULL);
    CHECK_EQ_INT(bn_chat_format_from_name(NULL, &f), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_STR(bn_chat_role_name(BN_CHAT_ASSISTANT), "assistant");
    CHECK_STR(bn_chat_role_name(BN_CHAT_TOOL), "tool");
    CHECK(bn_chat_role_name((bn_chat_role)BN_CHAT_ROLE_COUNT) == NULL);
}

TEST(bad_input_is_refused) {
    const bn_chat_message bad_role[1] = {{(bn_chat_role)5, "x"}};
    const bn_chat_message no_content[2] = {{BN_CHAT_USER, "ok"}, {BN_CHAT_ASSISTANT, NULL}};
    CHECK(bn_chat_render(BN_CHAT_BITNET, bad_role, 1, true) == NULL);
    CHECK(strstr(bn_last_error_message(), "role") != NULL);
    CHECK(bn_chat_render(BN_CHAT_BITNET, no_content, 2, true) == NULL);
    CHECK(strstr(bn_last_error_message(), "message 1") != NULL);
    CHECK(bn_chat_render((bn_chat_format)9, CONVERSATION, 1, true) == NULL);
    CHECK(bn_chat_render_delta(BN_CHAT_BITNET, CONVERSATION, 3, 2, true) == NULL);
    CHECK_EQ_INT(bn_last_error_status(), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(bn_chat_render(BN_CHAT_BITNET, NULL, 1, true) == NULL);
}

TEST_MAIN_BEGIN("test_chat")
    RUN(bitnet_single_and_multi_turn);
    RUN(llama3_single_and_multi_turn);
    RUN(plain_single_and_multi_turn);
    RUN(chatml_and_falcon3);
    RUN(tool_role);
    RUN(content_is_verbatim_and_never_has_bos);
    RUN(deltas_concatenate_to_the_full_rendering);
    RUN(delta_of_a_new_user_turn);
    RUN(continue_the_last_message);
    RUN(detection_from_templates);
    RUN(format_from_template_argument);
    RUN(format_names);
    RUN(bad_input_is_refused);
TEST_MAIN_END()
