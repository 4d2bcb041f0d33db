/* responses: OpenAI's Responses API (POST /v1/responses) on top of chat completions, as
 * llama-server serves it. A Responses body becomes a Chat Completions body (instructions as the
 * system message; input as text or message items, function calls and their outputs as the
 * assistant's tool_calls and tool messages; max_output_tokens, text.format and the flat
 * function tools in the chat forms), which completions.c runs like any chat. The reply is a
 * "response" object with "message" and "function_call" output items, or, streamed, the
 * Responses events (response.created ... response.completed, each with its sequence_number).
 *
 * Nothing is stored: previous_response_id, conversation and background are refused, and the
 * reply says "store": false. Only function tools and text parts exist here. */
#ifndef BITNET_SERVER_RESPONSES_H
#define BITNET_SERVER_RESPONSES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "openai.h"
#include "tools.h"

/* What one response's replies share: the echoed request fields, ids, and a stream's state. */
typedef struct responses_reply {
    json_t *echo;              /* the request fields a response object repeats (owned) */
    char id[48];               /* "resp_..." */
    char message_id[48];       /* "msg_..." */
    int64_t created;
    const char *model;
    tool_choice tools;
    /* a stream */
    int sequence;              /* the next event's sequence_number */
    int n_items;               /* output items opened so far */
    bool message_open;         /* the message item and its text part were announced */
    char *text;                /* the message's text so far (malloc'd) */
    size_t len, cap;
    tool_reader reader;        /* tools: the reply read as the tool call object */
    tool_call_cursor calls_sent; /* tools: what of the calls was streamed */
    int call_item;             /* the output index of the call being streamed */
} responses_reply;

/* Turns a Responses body into a Chat Completions body (*chat, compact JSON, malloc'd) and
 * fills *r's echo. 0, or -1 with *err (400 naming the Responses field; 500 out of memory). */
int responses_to_chat(const char *body, size_t len, char **chat, responses_reply *r, api_error *err);
/* The reply's ids and model; tools: the chat request's tool choice (its text is read as the
 * tool call object). */
void responses_reply_start(responses_reply *r, uint64_t serial, const char *model, tool_choice tools);
void responses_reply_free(responses_reply *r);

/* The response object of a finished request (its whole text). */
json_t *responses_object(responses_reply *r, const char *text, size_t len, const bitnet_generate_result *res);

/* A stream: each function appends events to *events (a JSON array of [type, event] pairs; the
 * caller writes them as "event: TYPE" / "data: EVENT"). */
void responses_stream_open(responses_reply *r, json_t *events);
void responses_stream_text(responses_reply *r, const char *text, size_t len, json_t *events);
/* The end: the items' done events and response.completed / response.incomplete, or, when the
 * job failed (status != 0), response.failed with the message. */
void responses_stream_close(responses_reply *r, int status, const char *message, const bitnet_generate_result *res,
                            json_t *events);

#endif
