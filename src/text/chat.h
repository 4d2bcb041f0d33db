/* chat: turns a conversation into the text a model is fed, for the chat formats we know.
 * Only text: which tokens end a turn (<|eot_id|> = 128009 for LLaMA-3 vocabularies) is the
 * tokenizer's business (its end-of-generation set), not this module's.
 *
 * Formats (each message is OPEN(role) + content + CLOSE; the generation prompt is
 * OPEN(assistant), so that the model writes the reply):
 *   bitnet  OPEN = "System: " | "User: " | "Assistant: " | "Tool: "   CLOSE = "<|eot_id|>"
 *           (microsoft/bitnet-b1.58-2B-4T, from FORMATS.md:
 *            "System: {sys}<|eot_id|>User: {msg}<|eot_id|>Assistant: ")
 *   llama3  OPEN = "<|start_header_id|>{role}<|end_header_id|>\n\n"   CLOSE = "<|eot_id|>"
 *           (the tool role, a function's result, is Llama 3.1's "ipython")
 *   chatml  OPEN = "<|im_start|>{role}\n"   CLOSE = "<|im_end|>\n"   (llama.cpp's chatml)
 *   falcon3 OPEN = "<|{role}|>\n"   CLOSE = "\n"   (tiiuae/Falcon3-*-Instruct, as llama.cpp renders
 *           it: the end-of-text token the model ends a reply with is not written into history)
 *   plain   OPEN = "System: " | "User: " | "Assistant: " | "Tool: "   CLOSE = "\n"
 *           a fallback for models without a known format:
 *            "System: {sys}\nUser: {msg}\nAssistant: "
 * Content is inserted verbatim (no trimming, no escaping); special-token text such as
 * "<|eot_id|>" is meant to be tokenized as the special token.
 *
 * BOS: the rendering NEVER includes <|begin_of_text|>. The caller adds the BOS token id (when
 * the vocabulary wants one) at the start of a fresh session, and not before a delta.
 *
 * Incremental rendering, so that a chat keeps its KV cache across turns: after a reply was
 * generated, the cache holds everything up to the reply's last token; the end-of-turn token
 * that stopped generation was sampled but not fed. bn_chat_render_delta() returns exactly the
 * text still missing, beginning with the reply's CLOSE. In other words, for messages m[0, n):
 *   seen(n_done) + delta(n_done, n) == render(n)
 * where seen(n_done) = render(n_done) without the generation prompt, and without the final
 * CLOSE when m[n_done - 1] is an assistant message (a generated reply). */
#ifndef BITNET_CHAT_H
#define BITNET_CHAT_H

#include <stdbool.h>
#include <stddef.h>

typedef enum bn_chat_format {
    BN_CHAT_PLAIN = 0,
    BN_CHAT_BITNET = 1,
    BN_CHAT_LLAMA3 = 2,
    BN_CHAT_CHATML = 3,
    BN_CHAT_FALCON3 = 4,
} bn_chat_format;
#define BN_CHAT_FORMAT_COUNT 5

typedef enum bn_chat_role {
    BN_CHAT_SYSTEM = 0,
    BN_CHAT_USER = 1,
    BN_CHAT_ASSISTANT = 2,
    BN_CHAT_TOOL = 3, /* the result of a function call (the server's tool messages) */
} bn_chat_role;
#define BN_CHAT_ROLE_COUNT 4

typedef struct bn_chat_message {
    bn_chat_role role;
    const char *content; /* NUL-terminated UTF-8 */
} bn_chat_message;

/* Picks the format from a GGUF's tokenizer.chat_template (NULL or "" allowed): templates with
 * "<|start_header_id|>" are llama3; the 2B-4T placeholder (it contains "BITNET") and Jinja
 * templates that write "Assistant: " and "<|eot_id|>" are bitnet; "<|im_start|>" is chatml
 * (not with Phi-4's "<|im_sep|>"); "<|user|>" and "<|assistant|>" without Phi-3's "<|end|>"
 * are falcon3; anything else is plain. */
bn_chat_format bn_chat_detect(const char *chat_template);

/* "plain", "bitnet", "llama3", "chatml", "falcon3"; "unknown" for a value outside the enum. */
const char *bn_chat_format_name(bn_chat_format f);
/* The valid names, for help texts: "bitnet, llama3, chatml, falcon3, plain". */
const char *bn_chat_format_names(void);
/* Name -> format (exact, lower case). Returns 0, or BITNET_ERR_INVALID_ARGUMENT with a message
 * that lists the valid names. */
int bn_chat_format_from_name(const char *name, bn_chat_format *out);
/* llama.cpp's --chat-template value: a format's name, or a Jinja chat template that
 * bn_chat_detect recognizes as one of the formats (its text is not run: only the formats are
 * rendered, so a template of another format is refused rather than prompted wrongly).
 * Returns 0, or BITNET_ERR_INVALID_ARGUMENT with a message saying which. */
int bn_chat_format_from_template(const char *name_or_template, bn_chat_format *out);

/* "system", "user", "assistant", "tool"; NULL for a value outside the enum. */
const char *bn_chat_role_name(bn_chat_role r);

/* The whole conversation m[0, n), plus the generation prompt when add_generation_prompt.
 * Returns a malloc'd NUL-terminated string (free() it), or NULL with the last error set
 * (BITNET_ERR_INVALID_ARGUMENT for an unknown format or role or a NULL content). */
char *bn_chat_render(bn_chat_format f, const bn_chat_message *m, size_t n, bool add_generation_prompt);

/* The conversation m[0, n) with its last message left open (no CLOSE after it, no generation
 * prompt): the model continues that message (an assistant "prefill", as llama-server and
 * Anthropic's API do with a conversation that ends with the assistant). n >= 1. Same ownership
 * and errors as render. */
char *bn_chat_render_continue(bn_chat_format f, const bn_chat_message *m, size_t n);

/* The text to feed after the first n_done messages were fed (see above): the CLOSE of a
 * generated reply m[n_done - 1] if it is one, messages m[n_done, n), and the generation
 * prompt when add_generation_prompt. n_done <= n. Same ownership and errors as render. */
char *bn_chat_render_delta(bn_chat_format f, const bn_chat_message *m, size_t n_done, size_t n,
                           bool add_generation_prompt);

#endif
