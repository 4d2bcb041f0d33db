/* fuzz_serve_request: libFuzzer target for what bitnet-server does with a request body before
 * any generation: server/request.c's request_build() (JSON parsing and field checks in
 * server/openai.c, chat rendering, tokenization with the real LLaMA-3 vocabulary, the checks
 * against the vocabulary and a slot's context). Built and run by scripts/fuzz_serve.sh with
 * -fsanitize=fuzzer,address,undefined; the model (a small generated one, see the script) is
 * loaded once, from $BITNET_FUZZ_MODEL, in LLVMFuzzerInitialize.
 *
 * Input: byte 0 picks the endpoint and chat format, the rest is the body. An odd byte 0 is
 * /v1/chat/completions with format (byte0 / 2) % 3 of {plain, bitnet, llama3} ('a', 'c', 'e'),
 * an even one /v1/completions ('p', byte0 % 8 == 0), llama-server's /completion ('n', byte0 % 8
 * == 6), /v1/responses ('r', byte0 % 8 == 2) or /v1/messages ('l', byte0 % 8 == 4): those two
 * bodies become chat bodies first, with the chat format of byte0 / 8 % 3. Bit 6 of byte 0 adds
 * the server's default sampling fields (llama-server's --temp, --top-k, -n, --seed: request_model
 * .defaults). The seeds are tests/corpus/serve/.
 *
 * Contract checked (a broken one aborts: libFuzzer saves the input):
 *   - refused: status 400, or 500 only for "out of memory"; a non-empty message that makes an
 *     OpenAI error object; nothing left allocated in the request;
 *   - accepted: 1 <= prompt ids < slot context and <= the prompt limit, every id a token of the
 *     model, max_tokens lowered to the cap (set in this target), the sampling
 *     fields in their documented ranges, at most API_MAX_STOPS non-empty stop strings, the
 *     log-probability count in -1..JOB_MAX_TOP_LOGPROBS, at most API_MAX_LOGIT_BIAS logit_bias
 *     entries, each a token of the model with a bias in [-100, 100] or -inf; building it again
 *     gives the same ids;
 *   - the JSON prefix recognizer (response_format json_object) and jansson agree on whether a
 *     body is a complete JSON object (within the recognizer's bounds and jansson's), and the
 *     schema recognizer with {"type": "object"} (what json_object generation runs) accepts and
 *     completes exactly the same bytes;
 *   - an accepted request's json_schema compiles, and its prompt text read against it (whole,
 *     and byte by byte on copies) gets the same answer both ways; a text it calls complete
 *     parses with jansson;
 *   - /completion: temperature >= 0 (any), a prompt-only request (n_predict 0) runs one step;
 *   - /v1/responses and /v1/messages: a refused body gets a 400 with a message (500 only out
 *     of memory) and leaves nothing; an accepted one is a JSON chat body, held to the chat
 *     contract above;
 *     a chat body renders for /apply-template when its messages parse (or is refused with a
 *     message: an assistant prefill it cannot continue), never when they do not;
 *   - with tools (server/tools.c), their schema is the constraint and their instructions are
 *     in the system message; the reply reader, given any body as a reply, agrees with itself
 *     whole and byte by byte (the answer, and the calls as they stream: names, arguments) and
 *     returns well-formed calls (check_tool_reader);
 *   - every body is also read as an embeddings body (server/embeddings.c; OpenAI's for an odd
 *     byte 0): refused as above and empty, or 1..EMBED_MAX_INPUTS inputs of 1 .. slot context - 1
 *     and <= the prompt limit tokens of the model each, whose reply (zero vectors, byte0's
 *     pooling) holds one item per input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "embeddings.h"
#include "request.h"
#include "responses.h"
#include "text/json_prefix.h"
#include "text/json_schema.h"
#include "util.h"

#define SLOT_CTX 256
#define MAX_PROMPT 200      /* --max-prompt-tokens */
#define MAX_TOKENS_CAP 64   /* --max-tokens-cap */

static bitnet_model *g_model;
static int64_t g_n_vocab;
static json_t *g_defaults; /* what `bitnet-server --temp 0.5 --top-k 20 -n 16 --seed 7` gives requests */

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_serve_request: contract broken: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *path = getenv("BITNET_FUZZ_MODEL");
    if (!path || !*path) fail("BITNET_FUZZ_MODEL is not set (scripts/fuzz_serve.sh sets it)", NULL);
    if (bitnet_model_open(path, NULL, &g_model)) fail("cannot open the model", bitnet_get_last_error());
    bitnet_model_desc d = {.struct_size = sizeof d};
    bitnet_model_describe(g_model, &d);
    g_n_vocab = d.n_vocab;
    g_defaults = json_pack("{s:f, s:i, s:i, s:i}", "temperature", 0.5, "top_k", 20, "max_tokens", 16, "seed", 7);
    if (!g_defaults) fail("out of memory", NULL);
    return 0;
}

/* r: the request left by a refusal (NULL: none to look at). */
static void check_refusal(const gen_request *r, const api_error *err) {
    if (err->status != 400 && !(err->status == 500 && strstr(err->message, "out of memory")))
        fail("refused with a status other than 400", err->message);
    if (!err->message[0]) fail("refused without a message", NULL);
    if (r && (r->ids || r->api.messages || r->api.stops || r->api.prompts || r->n_ids ||
              r->api.logit_bias || r->api.bias_texts || r->api.json_schema || r->api.tools.schema || r->api.tools.parameters ||
              r->api.tools.instructions || r->api.grammar))
        fail("a refused request still holds memory", err->message);
    json_t *obj = api_error_json(err->status, err->message);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (!text) fail("the error object cannot be built", err->message);
    free(text);
    json_decref(obj);
}

static void check_sampling(api_kind kind, const bitnet_generate_params *g) {
    const bitnet_sampling_params *s = &g->sampling;
    if (g->max_tokens < 0) fail("negative max_tokens accepted", NULL);
    if (!(s->temperature >= 0 && (kind == API_NATIVE || s->temperature <= 2))) fail("temperature out of range", NULL);
    if (!(s->top_p >= 0 && s->top_p <= 1) || !(s->min_p >= 0 && s->min_p <= 1)) fail("top_p/min_p out of range", NULL);
    if (s->top_k < 0) fail("negative top_k accepted", NULL);
    if (!(s->presence_penalty >= -2 && s->presence_penalty <= 2) || !(s->frequency_penalty >= -2 && s->frequency_penalty <= 2))
        fail("penalty out of range", NULL);
    if (!(s->repeat_penalty >= 0 && s->repeat_penalty <= 10)) fail("repeat_penalty out of range", NULL);
}

static void check_accepted(const request_model *m, api_kind kind, const gen_request *r) {
    if (r->api.kind != kind) fail("the request has the wrong kind", NULL);
    if (r->n_prompts < 1 || (kind == API_CHAT && r->n_prompts != 1) || r->n_prompts * r->api.n_choices > API_MAX_JOBS || !r->ids)
        fail("a count of prompts outside 1..API_MAX_JOBS / n (one for a chat)", NULL);
    for (int p = 0; p < r->n_prompts; p++) {
        if (r->n_ids[p] < 1 || r->n_ids[p] >= m->slot_ctx || r->n_ids[p] > m->max_prompt_tokens || !r->ids[p])
            fail("prompt length outside 1..slot context - 1 or over the limit", NULL);
        for (int i = 0; i < r->n_ids[p]; i++)
            if (r->ids[p][i] < 0 || r->ids[p][i] >= m->n_vocab) fail("a prompt id is not a token of the model", NULL);
    }
    if (r->api.gen.max_tokens < 1 || r->api.gen.max_tokens > m->max_tokens_cap) fail("max_tokens not capped", NULL);
    if (kind == API_COMPLETION ? r->api.best_of < r->api.n_choices || r->api.best_of > API_MAX_CHOICES ||
                                     r->n_prompts * r->api.best_of > API_MAX_JOBS || (r->api.best_of > r->api.n_choices && r->api.stream)
                               : r->api.best_of != 0)
        fail("best_of below n, over its limits, streamed, or outside /v1/completions", NULL);
    if (r->api.echo) { /* /v1/completions' echo: a text per prompt */
        if (kind != API_COMPLETION || (r->api.n_top_logprobs >= 0 && r->api.post_sampling_probs))
            fail("echo accepted outside /v1/completions, or with logprobs and post_sampling_probs", NULL);
        json_t *echo = request_echo_texts(m->model, r->api.prompts, r->api.n_prompts);
        if (!echo || json_array_size(echo) != (size_t)r->n_prompts) fail("echo texts missing or not one per prompt", NULL);
        json_decref(echo);
    }
    check_sampling(kind, &r->api.gen);
    if (r->api.prompt_only && (kind == API_CHAT || r->api.gen.max_tokens != 1)) /* n_predict / max_tokens 0 */
        fail("a prompt-only request that generates, or a prompt-only chat", NULL);
    if (r->api.n_stops < 0 || r->api.n_stops > API_MAX_STOPS) fail("too many stop strings accepted", NULL);
    for (int i = 0; i < r->api.n_stops; i++) {
        size_t len = strlen(r->api.stops[i]);
        if (len == 0 || len > API_MAX_STOP_LEN) fail("an empty or too long stop string accepted", NULL);
    }
    if (r->api.n_top_logprobs < -1 || r->api.n_top_logprobs > JOB_MAX_TOP_LOGPROBS) fail("top_logprobs out of range", NULL);
    if (r->api.gen.json_object != 0 && r->api.gen.json_object != 1) fail("json_object neither 0 nor 1", NULL);
    if (r->api.n_logit_bias < 0 || r->api.n_logit_bias > API_MAX_LOGIT_BIAS || r->api.gen.n_logit_bias != r->api.n_logit_bias ||
        (r->api.n_logit_bias > 0 && r->api.gen.logit_bias != r->api.logit_bias))
        fail("logit_bias count or list inconsistent", NULL);
    for (int i = 0; i < r->api.n_logit_bias; i++) {
        bitnet_logit_bias b = r->api.logit_bias[i];
        if (b.token < 0 || b.token >= m->n_vocab) fail("a logit_bias id is not a token of the model", NULL);
        if (!(b.bias == -INFINITY || (b.bias >= -100.0f && b.bias <= 100.0f))) fail("a logit_bias value out of range", NULL);
    }
}

/* The same body again gives the same prompt (no uninitialized or shared state). */
static void check_repeatable(const request_model *m, api_kind kind, const char *body, size_t len, const gen_request *first) {
    gen_request again;
    api_error err;
    if (request_build(m, kind, body, len, 1, &again, &err)) fail("the same body refused the second time", err.message);
    if (again.n_prompts != first->n_prompts) fail("the same body gave another count of prompts the second time", NULL);
    for (int p = 0; p < first->n_prompts; p++)
        if (again.n_ids[p] != first->n_ids[p] || memcmp(again.ids[p], first->ids[p], sizeof(int32_t) * (size_t)first->n_ids[p]))
            fail("the same body gave other prompt ids the second time", NULL);
    gen_request_free(&again);
}

/* Whether a run of whitespace between tokens has json_prefix's shape: "", " ", or one or two
 * newlines and at most BN_JSON_PREFIX_MAX_INDENT spaces or tabs. */
static bool whitespace_run_ok(const char *w, size_t n) {
    if (n <= 1) return n == 0 || w[0] == ' ' || w[0] == '\n';
    size_t newlines = 0;
    while (newlines < n && w[newlines] == '\n') newlines++;
    if (newlines < 1 || newlines > 2 || n - newlines > BN_JSON_PREFIX_MAX_INDENT) return false;
    for (size_t i = newlines; i < n; i++)
        if (w[i] != ' ' && w[i] != '\t') return false;
    return true;
}

/* Whether a text stays within the recognizer's own bounds (json_prefix.h): no leading
 * whitespace, at most BN_JSON_PREFIX_MAX_DEPTH open containers, whitespace runs of its shape
 * outside strings; and no raw NUL byte outside strings (jansson skips one between tokens,
 * which JSON does not allow). */
static bool within_json_limits(const char *b, size_t n) {
    int depth = 0;
    size_t ws = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (i == 0 || !whitespace_run_ok(b + i - ws, ws + 1)) return false;
            ws++;
            continue;
        }
        ws = 0;
        if (c == '\0') return false;
        if (c == '"') in_string = true;
        else if ((c == '{' || c == '[') && ++depth > BN_JSON_PREFIX_MAX_DEPTH) return false;
        else if (c == '}' || c == ']') depth--;
    }
    return true;
}

/* The {"type": "object"} schema against json_prefix's object_only mode, byte by byte: the same
 * bytes accepted, the same completeness. */
static void check_object_schema_agrees(const char *body, size_t len) {
    static bn_json_schema *object;
    if (!object && !(object = bn_json_schema_compile("{\"type\":\"object\"}", 17))) fail("{\"type\":\"object\"} does not compile", NULL);
    bn_json_prefix p;
    bn_json_schema_state s;
    bn_json_prefix_init(&p, true);
    bn_json_schema_init(&s, object);
    for (size_t i = 0; i < len; i++) {
        bool a = bn_json_prefix_feed(&p, body + i, 1), b = bn_json_schema_feed(&s, body + i, 1);
        if (a != b) fail("json_schema {\"type\":\"object\"} and json_prefix disagree on a byte", a ? "json_prefix took it" : "json_schema took it");
        if (!a) return;
        if (bn_json_prefix_complete(&p) != bn_json_schema_complete(&s)) fail("json_schema and json_prefix disagree on completeness", NULL);
    }
}

/* An accepted request's schema, and its prompt text read against it. */
static void check_schema_request(const gen_request *r) {
    if (!r->api.json_schema) return;
    if (r->api.gen.json_schema != r->api.json_schema || r->api.gen.json_object) fail("json_schema not wired into gen", NULL);
    bn_json_schema *sc = bn_json_schema_compile(r->api.json_schema, strlen(r->api.json_schema));
    if (!sc) fail("an accepted json_schema does not compile", bn_last_error_message());
    const api_prompt *first = r->api.n_prompts ? &r->api.prompts[0] : NULL;
    const char *text = first && first->n_parts == 1 && first->parts[0].text ? first->parts[0].text
                       : r->api.n_messages                                  ? r->api.messages[0].content
                                                                            : "";
    size_t len = strlen(text), n_ok = 0;
    bn_json_schema_state whole, step, copy;
    bn_json_schema_init(&whole, sc);
    bn_json_schema_init(&step, sc);
    bool all = bn_json_schema_feed(&whole, text, len);
    for (; n_ok < len; n_ok++) {
        bn_json_schema_state_copy(&copy, &step);
        if (!bn_json_schema_feed(&copy, text + n_ok, 1)) break;
        bn_json_schema_state_copy(&step, &copy);
    }
    if (all != (n_ok == len) || (all && bn_json_schema_complete(&whole) != bn_json_schema_complete(&step)))
        fail("json_schema: the whole text and its bytes on copies disagree", NULL);
    if (all && bn_json_schema_complete(&whole)) {
        json_error_t e;
        json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        bool jansson_limit = !v && (strstr(e.text, "too big") || strstr(e.text, "overflow") || strstr(e.text, "NUL byte in object key"));
        if (!v && !jansson_limit) fail("json_schema completed a text jansson does not parse", e.text);
        json_decref(v);
    }
    bn_json_schema_free(sc);
}

/* The JSON prefix recognizer of response_format json_object (src/text/json_prefix.c) against
 * jansson on the same bytes, both ways: a text it calls a complete object, jansson parses as
 * an object (jansson's own limits aside, which JSON does not have: numbers beyond its integer
 * and double ranges, \u0000 in an object key); an object jansson parses within the
 * recognizer's bounds, the recognizer accepts as complete. */
static void check_json_prefix(const char *body, size_t len) {
    bn_json_prefix s;
    bn_json_prefix_init(&s, true);
    bool complete = bn_json_prefix_feed(&s, body, len) && bn_json_prefix_complete(&s);
    check_object_schema_agrees(body, len);
    json_error_t e;
    json_t *v = json_loadb(body, len, JSON_ALLOW_NUL, &e);
    bool jansson_limit = !v && (strstr(e.text, "too big") || strstr(e.text, "overflow") || strstr(e.text, "NUL byte in object key"));
    if (complete && !jansson_limit && (!v || !json_is_object(v)))
        fail("json_prefix completed a text jansson does not parse as an object", v ? "not an object" : e.text);
    if (!complete && v && json_is_object(v) && within_json_limits(body, len))
        fail("json_prefix refused an object jansson parses", NULL);
    json_decref(v);
}

/* Function calling: an accepted request with tools has the tools' schema as its constraint and
 * its instructions in the first (system) message. */
static void check_tools(const gen_request *r) {
    const api_tools *t = &r->api.tools;
    if (t->choice == TOOLS_OFF) return;
    if (!r->api.json_schema || strcmp(r->api.json_schema, t->schema) || strcmp(r->api.json_schema_field, "tools"))
        fail("tools on without their schema as the constraint", NULL);
    if (!r->api.n_messages || r->api.messages[0].role != BN_CHAT_SYSTEM || !strstr(r->api.messages[0].content, t->instructions))
        fail("tools on without their instructions in the system message", NULL);
}

/* The reply reader of function calling, given the body as a reply: the same answer text fed
 * whole and byte by byte, and either that text, calls (each with an id, a name and arguments
 * that parse) or the raw reply. */
static void check_tool_reader(const char *body, size_t len) {
    tool_reader whole, bytes;
    char *a = NULL, *b = NULL;
    size_t a_len = 0, b_len = 0;
    tool_reader_init(&whole);
    tool_reader_init(&bytes);
    bool ok = tool_reader_feed(&whole, body, len, &a, &a_len);
    for (size_t i = 0; ok && i < len; i++) ok = tool_reader_feed(&bytes, body + i, 1, &b, &b_len);
    if (ok && (a_len != b_len || (a_len && memcmp(a, b, a_len)))) fail("tool_reader: whole and byte-by-byte answers differ", NULL);
    size_t n_whole, n_bytes;
    const tool_call_text *cw = tool_reader_calls(&whole, &n_whole), *cb = tool_reader_calls(&bytes, &n_bytes);
    if (ok && n_whole != n_bytes) fail("tool_reader: whole and byte-by-byte calls differ", NULL);
    for (size_t k = 0; ok && k < n_whole; k++)
        if ((cw[k].name == NULL) != (cb[k].name == NULL) || (cw[k].name && strcmp(cw[k].name, cb[k].name)) || cw[k].args_len != cb[k].args_len ||
            (cw[k].args_len && memcmp(cw[k].args, cb[k].args, cw[k].args_len)) || cw[k].args_done != cb[k].args_done)
            fail("tool_reader: a call streamed whole and byte by byte differs", NULL);
    const char *raw;
    size_t raw_len;
    json_t *calls = ok ? tool_reader_finish(&whole, "chatcmpl-x", &raw, &raw_len) : NULL;
    if (ok && calls && (raw || a_len)) fail("tool_reader: calls beside text", NULL);
    if (ok && !calls && raw && (a_len || raw_len != len)) fail("tool_reader: raw text that is not the whole reply", NULL);
    size_t i;
    json_t *call;
    json_array_foreach(calls, i, call) {
        json_t *fn = json_object_get(call, "function"), *args = json_object_get(fn, "arguments");
        json_t *parsed = json_is_string(args) ? json_loads(json_string_value(args), JSON_DECODE_ANY, NULL) : NULL;
        if (!json_is_string(json_object_get(call, "id")) || !json_is_string(json_object_get(fn, "name")) || !parsed)
            fail("tool_reader: a call without id, name or parsable arguments", NULL);
        json_decref(parsed);
    }
    json_decref(calls);
    free(a);
    free(b);
    tool_reader_free(&whole);
    tool_reader_free(&bytes);
}

/* A Responses API body as the chat body it stands for (malloc'd), or NULL when it is refused
 * (checked: a 400 or out of memory, with a message, and nothing held). */
static char *responses_body(const char *body, size_t len) {
    responses_reply r;
    api_error err;
    char *chat = NULL;
    if (responses_to_chat(body, len, &chat, &r, &err)) {
        if (chat || r.echo) fail("a refused Responses body still holds memory", err.message);
        check_refusal(NULL, &err);
        return NULL;
    }
    json_t *parsed = json_loads(chat, 0, NULL);
    if (!json_is_object(parsed) || !r.echo) fail("the chat body of a Responses body is not a JSON object", chat);
    json_decref(parsed);
    responses_reply_free(&r);
    return chat;
}

/* A Messages API body as the chat body it stands for (malloc'd), or NULL when it is refused
 * (checked like a Responses body's refusal). */
static char *anthropic_body(const char *body, size_t len) {
    api_error err;
    char *chat = NULL;
    if (anthropic_to_chat(body, len, false, &chat, &err)) {
        if (chat) fail("a refused Messages body still holds memory", err.message);
        check_refusal(NULL, &err);
        return NULL;
    }
    json_t *parsed = json_loads(chat, 0, NULL);
    if (!json_is_object(parsed)) fail("the chat body of a Messages body is not a JSON object", chat);
    json_decref(parsed);
    return chat;
}

/* /apply-template's rendering: a body whose request parses renders (or is refused with a
 * message); a body that does not parse is refused the same way. */
static void check_render(const request_model *m, const char *body, size_t len) {
    api_request parsed;
    api_error err, err2;
    bool parses = api_parse_request(API_CHAT, body, len, 1, NULL, &parsed, &err) == 0;
    if (parses) api_request_free(&parsed);
    char *text = request_render_chat(m, body, len, &err2);
    if (!text) check_refusal(NULL, &err2);
    if (!parses && text) fail("/apply-template rendered a body the parser refuses", NULL);
    if (!parses && (err.status != err2.status || strcmp(err.message, err2.message))) fail("/apply-template refused it otherwise", err2.message);
    free(text);
}

/* The body as /v1/embeddings (oai) or /embedding(s) reads it. */
static void check_embeddings(const request_model *m, const char *body, size_t len, bool oai, bitnet_pooling pooling) {
    embed_request r;
    api_error err;
    if (embed_request_parse(m, body, len, oai, 2, &r, &err)) {
        check_refusal(NULL, &err);
        if (r.ids || r.n_ids || r.model || r.n_inputs) fail("a refused embeddings body still holds memory", err.message);
        return;
    }
    if (r.n_inputs < 1 || r.n_inputs > EMBED_MAX_INPUTS) fail("an accepted embeddings body has no or too many inputs", NULL);
    enum { N_EMBD = 4 };
    float **vectors = calloc((size_t)r.n_inputs, sizeof *vectors);
    for (int i = 0; vectors && i < r.n_inputs; i++) {
        if (r.n_ids[i] < 1 || r.n_ids[i] >= m->slot_ctx || r.n_ids[i] > m->max_prompt_tokens)
            fail("an embedding input's length is out of bounds", NULL);
        for (int k = 0; k < r.n_ids[i]; k++)
            if (r.ids[i][k] < 0 || r.ids[i][k] >= m->n_vocab) fail("an embedding input holds a token outside the vocabulary", NULL);
        if (!(vectors[i] = calloc((size_t)N_EMBD * (size_t)r.n_ids[i], sizeof **vectors))) fail("out of memory", NULL);
    }
    json_t *reply = vectors ? embed_reply(&r, "model", vectors, pooling, N_EMBD) : NULL;
    if (!reply) fail("the embeddings reply cannot be built", NULL);
    size_t items = r.oai ? json_array_size(json_object_get(reply, "data")) : json_array_size(reply);
    if (items != (size_t)r.n_inputs) fail("the embeddings reply does not hold one item per input", NULL);
    json_decref(reply);
    for (int i = 0; i < r.n_inputs; i++) free(vectors[i]);
    free(vectors);
    embed_request_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *formats[] = {"plain", "bitnet", "llama3"};
    if (size < 1) return 0;
    bool responses = data[0] % 8 == 2, anthropic = data[0] % 8 == 4, converted = responses || anthropic;
    api_kind kind = data[0] % 2 || converted ? API_CHAT : data[0] % 8 == 6 ? API_NATIVE : API_COMPLETION;
    request_model m = {.model = g_model, .n_vocab = g_n_vocab, .slot_ctx = SLOT_CTX, .max_prompt_tokens = MAX_PROMPT,
                       .max_tokens_cap = MAX_TOKENS_CAP, .prefill_assistant = true, /* the server's default */
                       .defaults = data[0] & 64 ? g_defaults : NULL};
    if (bn_chat_format_from_name(formats[(data[0] / (converted ? 8 : 2)) % 3], &m.chat_format)) fail("unknown chat format name", NULL);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char *chat = NULL;
    if (responses && !(chat = responses_body(body, len))) return 0;
    if (anthropic && !(chat = anthropic_body(body, len))) return 0;
    if (chat) body = chat, len = strlen(chat);
    check_json_prefix(body, len);
    check_tool_reader(body, len);
    if (!chat) check_embeddings(&m, body, len, data[0] % 2, (bitnet_pooling)(data[0] / 2 % 4));
    gen_request r;
    api_error err;
    if (kind == API_CHAT) check_render(&m, body, len);
    if (request_build(&m, kind, body, len, 1, &r, &err)) {
        check_refusal(&r, &err);
        free(chat);
        return 0;
    }
    check_accepted(&m, kind, &r);
    check_schema_request(&r);
    check_tools(&r);
    check_repeatable(&m, kind, body, len, &r);
    gen_request_free(&r);
    free(chat);
    return 0;
}
