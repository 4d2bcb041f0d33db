/* chat: format table, detection and (incremental) rendering. See chat.h. */
#include "text/chat.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* One row per format: the text before each role's content (indexed by bn_chat_role) and the
 * text after every message. The generation prompt is open[BN_CHAT_ASSISTANT]. */
typedef struct chat_format_spec {
    const char *name;
    const char *open[BN_CHAT_ROLE_COUNT];
    const char *close;
} chat_format_spec;

static const chat_format_spec FORMATS[BN_CHAT_FORMAT_COUNT] = {
    [BN_CHAT_PLAIN] = {"plain", {"System: ", "User: ", "Assistant: ", "Tool: "}, "\n"},
    [BN_CHAT_BITNET] = {"bitnet", {"System: ", "User: ", "Assistant: ", "Tool: "}, "<|eot_id|>"},
    [BN_CHAT_LLAMA3] = {"llama3",
                        {"<|start_header_id|>system<|end_header_id|>\n\n",
                         "<|start_header_id|>user<|end_header_id|>\n\n",
                         "<|start_header_id|>assistant<|end_header_id|>\n\n",
                         "<|start_header_id|>ipython<|end_header_id|>\n\n"},
                        "<|eot_id|>"},
    [BN_CHAT_CHATML] = {"chatml",
                        {"<|im_start|>system\n", "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_start|>tool\n"},
                        "<|im_end|>\n"},
    [BN_CHAT_FALCON3] = {"falcon3", {"<|system|>\n", "<|user|>\n", "<|assistant|>\n", "<|tool|>\n"}, "\n"},
};

static const char *const ROLE_NAMES[BN_CHAT_ROLE_COUNT] = {"system", "user", "assistant", "tool"};

static bool valid_format(bn_chat_format f) { return (unsigned)f < BN_CHAT_FORMAT_COUNT; }
static bool valid_role(bn_chat_role r) { return (unsigned)r < BN_CHAT_ROLE_COUNT; }

const char *bn_chat_format_name(bn_chat_format f) { return valid_format(f) ? FORMATS[f].name : "unknown"; }

const char *bn_chat_format_names(void) { return "bitnet, llama3, chatml, falcon3, plain"; }

int bn_chat_format_from_name(const char *name, bn_chat_format *out) {
    for (int f = 0; name && f < BN_CHAT_FORMAT_COUNT; f++) {
        if (strcmp(name, FORMATS[f].name) == 0) {
            *out = (bn_chat_format)f;
            return 0;
        }
    }
    return bn_error(BITNET_ERR_INVALID_ARGUMENT, "unknown chat format '%s' (valid: %s)",
                    name ? name : "(null)", bn_chat_format_names());
}

int bn_chat_format_from_template(const char *t, bn_chat_format *out) {
    if (t && bn_chat_format_from_name(t, out) == 0) return 0;
    bn_chat_format f = bn_chat_detect(t);
    if (t && f != BN_CHAT_PLAIN) {
        *out = f;
        return 0;
    }
    if (t && (strstr(t, "{%") || strstr(t, "{{")))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "the template is not one of the chat formats (%s): templates are "
                        "recognized, not run", bn_chat_format_names());
    return bn_error(BITNET_ERR_INVALID_ARGUMENT, "'%.64s' is neither a chat format (%s) nor a Jinja chat template", t ? t : "(null)",
                    bn_chat_format_names());
}

const char *bn_chat_role_name(bn_chat_role r) { return valid_role(r) ? ROLE_NAMES[r] : NULL; }

static bool contains_ci(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = haystack; *p; p++)
        if (strncasecmp(p, needle, n) == 0) return true;
    return false;
}

bn_chat_format bn_chat_detect(const char *t) {
    if (!t || !*t) return BN_CHAT_PLAIN;
    if (strstr(t, "<|start_header_id|>")) return BN_CHAT_LLAMA3;
    if (contains_ci(t, "bitnet") || (strstr(t, "Assistant: ") && strstr(t, "<|eot_id|>")))
        return BN_CHAT_BITNET;
    if (strstr(t, "<|im_start|>")) return strstr(t, "<|im_sep|>") ? BN_CHAT_PLAIN : BN_CHAT_CHATML;
    if (strstr(t, "<|user|>") && strstr(t, "<|assistant|>") && !strstr(t, "<|end|>")) return BN_CHAT_FALCON3;
    return BN_CHAT_PLAIN;
}

/* Appends s to the output when out is not NULL; returns the new length either way. Rendering
 * runs twice: once to measure (out NULL), once to write. */
static size_t put(char *out, size_t len, const char *s) {
    size_t n = strlen(s);
    if (out) memcpy(out + len, s, n);
    return len + n;
}

/* What render_range writes besides the messages. */
typedef struct render_ends {
    bool close_reply;  /* first the CLOSE of m[from - 1] (a generated reply) */
    bool open_last;    /* the last message without its CLOSE (to be continued) */
    bool prompt;       /* the generation prompt at the end */
} render_ends;

/* The text of the messages m[from, to) and what `ends` adds. */
static size_t render_range(char *out, const chat_format_spec *fmt, const bn_chat_message *m, size_t from, size_t to, render_ends ends) {
    size_t len = 0;
    if (ends.close_reply) len = put(out, len, fmt->close);
    for (size_t i = from; i < to; i++) {
        len = put(out, len, fmt->open[m[i].role]);
        len = put(out, len, m[i].content);
        if (!(ends.open_last && i + 1 == to)) len = put(out, len, fmt->close);
    }
    if (ends.prompt) len = put(out, len, fmt->open[BN_CHAT_ASSISTANT]);
    return len;
}

/* render_range into a malloc'd string; NULL when out of memory. */
static char *render_text(const chat_format_spec *fmt, const bn_chat_message *m, size_t from, size_t to, render_ends ends) {
    size_t len = render_range(NULL, fmt, m, from, to, ends);
    char *out = bn_malloc(len + 1, "chat rendering");
    if (!out) return NULL;
    render_range(out, fmt, m, from, to, ends);
    out[len] = '\0';
    return out;
}

static int check_messages(bn_chat_format f, const bn_chat_message *m, size_t n) {
    if (!valid_format(f)) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "chat: unknown format %d", (int)f);
    if (n > 0 && !m) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "chat: messages are NULL");
    for (size_t i = 0; i < n; i++) {
        if (!valid_role(m[i].role))
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "chat: message %zu has unknown role %d", i,
                            (int)m[i].role);
        if (!m[i].content)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "chat: message %zu has no content", i);
    }
    return 0;
}

char *bn_chat_render_delta(bn_chat_format f, const bn_chat_message *m, size_t n_done, size_t n,
                           bool add_generation_prompt) {
    if (n_done > n) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "chat: %zu messages already fed but only %zu exist", n_done, n);
        return NULL;
    }
    if (check_messages(f, m, n) != 0) return NULL;
    render_ends ends = {.close_reply = n_done > 0 && m[n_done - 1].role == BN_CHAT_ASSISTANT, .prompt = add_generation_prompt};
    return render_text(&FORMATS[f], m, n_done, n, ends);
}

char *bn_chat_render_continue(bn_chat_format f, const bn_chat_message *m, size_t n) {
    if (n == 0) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "chat: no message to continue");
        return NULL;
    }
    if (check_messages(f, m, n) != 0) return NULL;
    return render_text(&FORMATS[f], m, 0, n, (render_ends){.open_last = true});
}

char *bn_chat_render(bn_chat_format f, const bn_chat_message *m, size_t n, bool add_generation_prompt) {
    return bn_chat_render_delta(f, m, 0, n, add_generation_prompt);
}
