/* anthropic: Anthropic's Messages API (POST /v1/messages, POST /v1/messages/count_tokens) on top
 * of chat completions, as llama-server serves it. A Messages body becomes a Chat Completions
 * body (system as the system message; text, tool_use and tool_result blocks as text, the
 * assistant's tool_calls and tool messages; stop_sequences, tools with input_schema, tool_choice
 * auto / any / tool / none), which completions.c runs like any chat. The reply is a "message"
 * with text and tool_use content blocks and Anthropic's stop_reason, or, streamed, its events
 * (message_start, content_block_start / _delta / _stop, message_delta, message_stop). */
#ifndef BITNET_SERVER_ANTHROPIC_H
#define BITNET_SERVER_ANTHROPIC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "openai.h"
#include "tools.h"

typedef struct anthropic_reply {
    char id[48];               /* "msg_..." */
    const char *model;
    tool_choice tools;
    int n_prompt;              /* prompt tokens (message_start's usage) */
    /* a stream */
    int n_blocks;              /* content blocks opened so far */
    bool text_open;            /* the text block was started */
    tool_reader reader;        /* tools: the reply read as the tool call object */
    tool_call_cursor calls_sent; /* tools: what of the calls was streamed */
    int call_block;            /* the content block of the call being streamed */
} anthropic_reply;

/* Turns a Messages body into a Chat Completions body (*chat, compact JSON, malloc'd). counting:
 * for count_tokens (max_tokens is not required). 0, or -1 with *err (400 naming the field). */
int anthropic_to_chat(const char *body, size_t len, bool counting, char **chat, api_error *err);

void anthropic_reply_start(anthropic_reply *r, uint64_t serial, const char *model, tool_choice tools, int n_prompt);
void anthropic_reply_free(anthropic_reply *r);

/* The message of a finished request: its whole text, and the stop string that ended it (NULL
 * when none did). */
json_t *anthropic_message(anthropic_reply *r, const char *text, size_t len, const bitnet_generate_result *res,
                          const char *stop_word);

/* Anthropic's error object {"type": "error", "error": {"type", "message"}}, its type named by the
 * HTTP status as Anthropic's API names it (other 4xx: invalid_request_error, other 5xx: api_error). */
json_t *anthropic_error_json(int status, const char *message);

/* A stream: each function appends [type, event] pairs to *events (written as "event: TYPE" /
 * "data: EVENT"). */
void anthropic_stream_open(anthropic_reply *r, json_t *events);
void anthropic_stream_text(anthropic_reply *r, const char *text, size_t len, json_t *events);
/* The end: the blocks' stops, message_delta and message_stop, or an error event when the job
 * failed (status: the failure's HTTP status, 0 when it did not fail). */
void anthropic_stream_close(anthropic_reply *r, int status, const char *message, const bitnet_generate_result *res,
                            const char *stop_word, json_t *events);

#endif
