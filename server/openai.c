/* openai: request parsing and reply building in the OpenAI wire format (see openai.h).
 *
 * Defaults when a request leaves a field out are OpenAI's: temperature 1, top_p 1, no top_k,
 * no min_p, no penalties (the penalties look at the last 64 tokens when set), a random seed
 * (also for seed -1) and no token limit (generation ends at an end-of-generation token, a stop
 * string or a full slot context). Unknown fields are ignored. */
#include "openai.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/unicode.h"

/* ===================================================================== errors */

int api_errorf(api_error *err, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    err->status = status;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *error_type(int status) {
    switch (status) {
    case 400: case 413: return "invalid_request_error";
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 405: return "not_supported_error";
    case 503: return "unavailable_error";
    default: return "server_error";
    }
}

json_t *api_error_json(int status, const char *message) {
    json_t *msg = api_text(message, strlen(message));
    return json_pack("{s:{s:o, s:s, s:i}}", "error", "message", msg, "type", error_type(status), "code", status);
}

/* ===================================================================== text */

json_t *api_text(const char *s, size_t len) {
    char *clean = malloc(len * 3 + 1); /* each bad byte becomes 3 bytes (U+FFFD) */
    if (!clean) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t k = bn_utf8_valid_len((const uint8_t *)s + i, len - i);
        if (k) {
            memcpy(clean + n, s + i, k);
            n += k;
            i += k;
        } else {
            memcpy(clean + n, "\xEF\xBF\xBD", 3);
            n += 3;
            i++;
        }
    }
    json_t *v = json_stringn(clean, n);
    free(clean);
    return v;
}

static char *copy_string(const char *s, size_t len) {
    char *c = malloc(len + 1);
    if (c) {
        memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

/* Strings with \u0000 cannot be rendered into a prompt (C strings). */
static bool has_nul(json_t *s) { return strlen(json_string_value(s)) != json_string_length(s); }

/* ===================================================================== field readers
 * Each returns 0 (absent or null fields leave *out unchanged) or -1 with *err naming the field. */

static int read_bool(json_t *obj, const char *name, bool *out, api_error *err) {
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return api_errorf(err, 400, "'%s' must be a boolean", name);
    *out = json_is_true(v);
    return 0;
}

static int read_number(json_t *obj, const char *name, double min, double max, double *out, api_error *err) {
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return api_errorf(err, 400, "'%s' must be a number", name);
    double x = json_number_value(v);
    if (!(x >= min && x <= max)) return api_errorf(err, 400, "'%s' must be between %g and %g (got %g)", name, min, max, x);
    *out = x;
    return 0;
}

static int read_float(json_t *obj, const char *name, double min, double max, float *out, api_error *err) {
    double x = *out;
    if (read_number(obj, name, min, max, &x, err)) return -1;
    *out = (float)x;
    return 0;
}

static int read_int(json_t *obj, const char *name, long long min, long long max, long long *out, api_error *err) {
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return api_errorf(err, 400, "'%s' must be an integer", name);
    long long x = json_integer_value(v);
    if (x < min || x > max) return api_errorf(err, 400, "'%s' must be between %lld and %lld (got %lld)", name, min, max, x);
    *out = x;
    return 0;
}

/* ===================================================================== sampling and stops */

static bitnet_generate_params default_generate_params(uint64_t seed) {
    bitnet_generate_params g = bitnet_generate_default_params();
    g.max_tokens = 0;
    g.sampling.temperature = 1.0f;
    g.sampling.top_k = 0;
    g.sampling.top_p = 1.0f;
    g.sampling.min_p = 0.0f;
    g.sampling.repeat_penalty = 1.0f;
    g.sampling.presence_penalty = 0.0f;
    g.sampling.frequency_penalty = 0.0f;
    g.sampling.penalty_last_n = 64;
    g.sampling.seed = seed;
    return g;
}

/* max_tokens (a chat's max_completion_tokens first); absent: no limit. /v1/completions takes 0
 * as OpenAI does: nothing is generated (prompt_only: one step runs, its token is dropped), so
 * that with echo the reply is the prompt. */
static int read_max_tokens(json_t *body, api_request *r, api_error *err) {
    long long n = 0;
    const char *name = r->kind == API_CHAT && api_present(json_object_get(body, "max_completion_tokens")) ? "max_completion_tokens"
                                                                                                         : "max_tokens";
    bool completion = r->kind == API_COMPLETION;
    if (read_int(body, name, completion ? 0 : 1, 1 << 30, &n, err)) return -1;
    r->prompt_only = completion && api_present(json_object_get(body, name)) && n == 0;
    r->gen.max_tokens = r->prompt_only ? 1 : (int)n;
    return 0;
}

static int read_sampling(json_t *body, api_kind kind, bitnet_sampling_params *s, api_error *err) {
    long long top_k = s->top_k, seed = 0;
    /* OpenAI's range is [0, 2]; llama-server takes any temperature (<= 0: greedy) */
    double t_min = kind == API_NATIVE ? -1e9 : 0, t_max = kind == API_NATIVE ? 1e9 : 2;
    if (read_float(body, "temperature", t_min, t_max, &s->temperature, err) || read_float(body, "top_p", 0, 1, &s->top_p, err) ||
        read_float(body, "min_p", 0, 1, &s->min_p, err) || read_int(body, "top_k", 0, 1 << 30, &top_k, err) ||
        read_float(body, "presence_penalty", -2, 2, &s->presence_penalty, err) ||
        read_float(body, "frequency_penalty", -2, 2, &s->frequency_penalty, err) ||
        read_float(body, "repeat_penalty", 0, 10, &s->repeat_penalty, err))
        return -1;
    s->top_k = (int)top_k;
    if (s->temperature < 0) s->temperature = 0;
    json_t *v = json_object_get(body, "seed");
    if (v && !json_is_null(v)) {
        if (read_int(body, "seed", INT64_MIN, INT64_MAX, &seed, err)) return -1;
        if (seed != -1) s->seed = (uint64_t)seed; /* -1: random, as llama-server reads it */
    }
    return 0;
}

/* One bias value: a number in [-100, 100] (OpenAI's range) or false, llama-server's ban.
 * entry: how messages name the entry. */
static int logit_bias_value(json_t *v, const char *entry, float *out, api_error *err) {
    if (json_is_false(v)) {
        *out = -INFINITY;
        return 0;
    }
    if (!json_is_number(v)) return api_errorf(err, 400, "%s must be a number (or false to ban it)", entry);
    double x = json_number_value(v);
    if (!(x >= -100.0 && x <= 100.0)) return api_errorf(err, 400, "%s must be between -100 and 100 (got %g)", entry, x);
    *out = (float)x;
    return 0;
}

/* An entry's bias for a token id, or (text not NULL) for each token of a string, as
 * llama-server reads it; request.c tokenizes the strings. */
static int add_logit_bias(api_request *r, int32_t id, const char *text, json_t *value, const char *entry, api_error *err) {
    float bias = 0;
    if (text && !text[0]) return api_errorf(err, 400, "%s: an empty string has no tokens to bias", entry);
    if (logit_bias_value(value, entry, &bias, err)) return -1;
    if (!text) {
        r->logit_bias[r->n_logit_bias++] = (bitnet_logit_bias){.token = id, .bias = bias};
        return 0;
    }
    api_bias_text *t = &r->bias_texts[r->n_bias_texts];
    if (!(t->text = copy_string(text, strlen(text)))) return api_errorf(err, 500, "out of memory");
    t->bias = bias;
    r->n_bias_texts++;
    return 0;
}

/* An object entry: its key is a token id when it reads whole as a number (llama-server's
 * strtol), else a string. */
static int logit_bias_key(api_request *r, const char *key, json_t *value, api_error *err) {
    char entry[96], *end;
    snprintf(entry, sizeof entry, "'logit_bias' key \"%.64s\"", key);
    long long id = strtoll(key, &end, 10);
    if (!key[0] || *end) return add_logit_bias(r, 0, key, value, entry, err);
    if (id < 0 || id > INT32_MAX) return api_errorf(err, 400, "%s is not a token id", entry);
    return add_logit_bias(r, (int32_t)id, NULL, value, entry, err);
}

/* An array entry: [token id or string, bias]. */
static int logit_bias_pair(api_request *r, json_t *pair, size_t i, api_error *err) {
    json_t *key = json_array_get(pair, 0);
    char entry[32];
    snprintf(entry, sizeof entry, "'logit_bias[%zu]'", i);
    bool is_id = json_is_integer(key) && json_integer_value(key) >= 0 && json_integer_value(key) <= INT32_MAX;
    if (!json_is_array(pair) || json_array_size(pair) != 2 || !(is_id || json_is_string(key)))
        return api_errorf(err, 400, "%s must be a pair [token id or string, bias]", entry);
    return add_logit_bias(r, is_id ? (int32_t)json_integer_value(key) : 0, is_id ? NULL : json_string_value(key),
                          json_array_get(pair, 1), entry, err);
}

/* logit_bias: OpenAI's {"token id": bias} object, or llama-server's [[token id, bias], ...];
 * llama-server's strings in place of ids too (a key that is not a number, or a string in a
 * pair). The ids are checked against the vocabulary and the strings tokenized by request.c. */
static int read_logit_bias(json_t *body, api_request *r, api_error *err) {
    json_t *v = json_object_get(body, "logit_bias");
    if (!v || json_is_null(v)) return 0;
    if (!json_is_object(v) && !json_is_array(v))
        return api_errorf(err, 400, "'logit_bias' must be an object of token ids and biases");
    size_t n = json_is_object(v) ? json_object_size(v) : json_array_size(v);
    if (n > API_MAX_LOGIT_BIAS) return api_errorf(err, 400, "'logit_bias' has %zu entries; at most %d are allowed", n, API_MAX_LOGIT_BIAS);
    r->logit_bias = calloc(n ? n : 1, sizeof *r->logit_bias);
    r->bias_texts = calloc(n ? n : 1, sizeof *r->bias_texts);
    if (!r->logit_bias || !r->bias_texts) return api_errorf(err, 500, "out of memory");
    if (json_is_object(v)) {
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val) if (logit_bias_key(r, key, val, err)) return -1;
    } else {
        for (size_t i = 0; i < n; i++)
            if (logit_bias_pair(r, json_array_get(v, i), i, err)) return -1;
    }
    r->gen.logit_bias = r->logit_bias;
    r->gen.n_logit_bias = r->n_logit_bias;
    return 0;
}

/* The schema of a json_schema response format into r (compact JSON text). */
static int take_schema(json_t *schema, const char *field, api_request *r, api_error *err) {
    if (!json_is_object(schema) && !json_is_boolean(schema)) return api_errorf(err, 400, "'%s' must be a JSON Schema (an object)", field);
    if (!(r->json_schema = json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY))) return api_errorf(err, 500, "out of memory");
    r->gen.json_schema = r->json_schema;
    r->json_schema_field = field;
    return 0;
}

/* response_format: {"type": "text"}, {"type": "json_object"} (the output is one JSON object),
 * {"type": "json_schema", "json_schema": {"name", "schema", "strict"}} (OpenAI's: a value valid
 * against the schema; "strict" changes nothing, the schema is always enforced), or
 * llama-server's {"type": "json_object", "schema": {...}}; or llama-server's top-level
 * "json_schema": {...}. request.c compiles the schema. */
static int read_response_format(json_t *body, api_request *r, api_error *err) {
    json_t *v = json_object_get(body, "response_format"), *top = json_object_get(body, "json_schema");
    if (top && !json_is_null(top)) { /* llama-server's own field */
        if (v && !json_is_null(v)) return api_errorf(err, 400, "give 'response_format' or 'json_schema', not both");
        return take_schema(top, "json_schema", r, err);
    }
    if (!v || json_is_null(v)) return 0;
    const char *type = json_string_value(json_object_get(v, "type"));
    if (!json_is_object(v) || !type) return api_errorf(err, 400, "'response_format' must be an object with a string 'type'");
    if (!strcmp(type, "json_schema")) {
        json_t *js = json_object_get(v, "json_schema"), *name = json_object_get(js, "name");
        if (!json_is_object(js)) return api_errorf(err, 400, "'response_format.json_schema' must be an object with a 'schema'");
        if (name && !json_is_string(name)) return api_errorf(err, 400, "'response_format.json_schema.name' must be a string");
        json_t *schema = json_object_get(js, "schema");
        if (!schema) return api_errorf(err, 400, "'response_format.json_schema.schema' is missing");
        return take_schema(schema, "response_format.json_schema.schema", r, err);
    }
    if (!strcmp(type, "json_object")) {
        json_t *schema = json_object_get(v, "schema");
        if (schema && !json_is_null(schema)) return take_schema(schema, "response_format.schema", r, err);
        r->gen.json_object = 1;
    } else if (strcmp(type, "text")) return api_errorf(err, 400, "'response_format.type' must be 'text', 'json_object' or 'json_schema'");
    return 0;
}

/* llama-server's "grammar": a GBNF grammar the reply must follow (request.c compiles it); one
 * constraint at most, so not beside response_format, json_schema or tools. */
static int read_grammar(json_t *body, api_request *r, api_error *err) {
    json_t *v = json_object_get(body, "grammar");
    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) return 0;
    if (!json_is_string(v) || has_nul(v)) return api_errorf(err, 400, "'grammar' must be a GBNF grammar (a string without NUL)");
    if (r->json_schema || r->gen.json_object || r->tools.choice != TOOLS_OFF)
        return api_errorf(err, 400, "'grammar' cannot be combined with '%s'", r->tools.choice != TOOLS_OFF ? "tools" : r->json_schema ? r->json_schema_field : "response_format");
    if (!(r->grammar = copy_string(json_string_value(v), json_string_length(v)))) return api_errorf(err, 500, "out of memory");
    r->gen.grammar = r->grammar;
    return 0;
}

/* Function calling on: the reply's schema is the tools' one, which response_format cannot join;
 * the functions are described in a system message (the first one, or a new one before it). */
static int use_tools(api_request *r, api_error *err) {
    api_tools *t = &r->tools;
    if (t->choice == TOOLS_OFF) return 0;
    if (r->json_schema || r->gen.json_object)
        return api_errorf(err, 400, "'%s' cannot be combined with 'tools' (the reply's form is the tool call object) unless "
                                    "'tool_choice' is \"none\"", r->json_schema ? r->json_schema_field : "response_format");
    if (!(r->json_schema = copy_string(t->schema, strlen(t->schema)))) return api_errorf(err, 500, "out of memory");
    r->gen.json_schema = r->json_schema;
    r->json_schema_field = "tools";
    bool has_system = r->messages[0].role == BN_CHAT_SYSTEM;
    const char *old = has_system ? r->messages[0].content : "";
    size_t n = strlen(old) + strlen(t->instructions) + 3;
    char *text = malloc(n);
    bn_chat_message *m = has_system ? r->messages : realloc(r->messages, sizeof *m * (r->n_messages + 1));
    if (m) r->messages = m;
    if (!text || !m) {
        free(text);
        return api_errorf(err, 500, "out of memory");
    }
    snprintf(text, n, "%s%s%s", old, has_system ? "\n\n" : "", t->instructions);
    if (has_system) free((char *)m[0].content);
    else memmove(m + 1, m, sizeof *m * r->n_messages++);
    m[0] = (bn_chat_message){BN_CHAT_SYSTEM, text};
    return 0;
}

static int add_stop(api_request *r, const char *s, size_t len, api_error *err) {
    if (len == 0) return 0; /* an empty stop string would end every reply at once: ignored */
    if (len > API_MAX_STOP_LEN) return api_errorf(err, 400, "'stop': a stop string is longer than %d bytes", API_MAX_STOP_LEN);
    if (!(r->stops[r->n_stops] = copy_string(s, len))) return api_errorf(err, 500, "out of memory");
    r->n_stops++;
    return 0;
}

static int read_stops(json_t *body, api_request *r, api_error *err) {
    json_t *v = json_object_get(body, "stop");
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v) && !json_is_array(v)) return api_errorf(err, 400, "'stop' must be a string or an array of strings");
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (n > API_MAX_STOPS) return api_errorf(err, 400, "'stop' has %zu strings; at most %d are allowed", n, API_MAX_STOPS);
    if (!(r->stops = calloc(n ? n : 1, sizeof *r->stops))) return api_errorf(err, 500, "out of memory");
    if (json_is_string(v)) return add_stop(r, json_string_value(v), json_string_length(v), err);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) return api_errorf(err, 400, "'stop[%zu]' must be a string", i);
        if (add_stop(r, json_string_value(s), json_string_length(s), err)) return -1;
    }
    return 0;
}

/* logprobs + top_logprobs (chat) or logprobs: N (completions). */
static int read_logprobs(json_t *body, api_request *r, api_error *err) {
    json_t *v = json_object_get(body, "logprobs");
    if (!v || json_is_null(v)) return 0;
    long long n = 0;
    if (r->kind == API_COMPLETION && json_is_integer(v)) {
        if (read_int(body, "logprobs", 0, JOB_MAX_TOP_LOGPROBS, &n, err)) return -1;
        r->n_top_logprobs = (int)n;
        return 0;
    }
    bool on = false;
    if (read_bool(body, "logprobs", &on, err)) return -1;
    if (on && read_int(body, "top_logprobs", 0, JOB_MAX_TOP_LOGPROBS, &n, err)) return -1;
    r->n_top_logprobs = on ? (int)n : -1;
    return 0;
}

static int read_stream(json_t *body, api_request *r, api_error *err) {
    if (read_bool(body, "stream", &r->stream, err) || read_bool(body, "return_progress", &r->return_progress, err) ||
        read_bool(body, "timings_per_token", &r->timings_per_token, err) ||
        read_int(body, "sse_ping_interval", -1, INT32_MAX, &r->sse_ping_interval, err))
        return -1;
    json_t *so = json_object_get(body, "stream_options");
    if (!so || json_is_null(so)) return 0;
    if (!json_is_object(so)) return api_errorf(err, 400, "'stream_options' must be an object");
    return read_bool(so, "include_usage", &r->include_usage, err);
}

/* ===================================================================== llama-server's /completion */

const char *const api_extra_sampler_fields[] = {
    "typical_p",      "top_n_sigma",  "xtc_probability", "xtc_threshold",      "dynatemp_range",     "dynatemp_exponent",
    "mirostat",       "mirostat_tau", "mirostat_eta",    "dry_multiplier",     "dry_base",           "dry_allowed_length",
    "dry_penalty_last_n", "dry_sequence_breakers", "repeat_penalty", "samplers", "min_keep", "adaptive_target", "adaptive_decay"};
const size_t api_n_extra_sampler_fields = sizeof api_extra_sampler_fields / sizeof api_extra_sampler_fields[0];
const char *const api_llama_fields[] = {"id_slot", "n_cache_reuse", "n_indent", "t_max_predict_ms", "n_keep", "n_discard",
                                        "sse_ping_interval"};
const size_t api_n_llama_fields = sizeof api_llama_fields / sizeof api_llama_fields[0];

/* llama-server's "samplers" (an array of names or a string of letters): the chain, in any
 * order, the samplers left out turned off (bitnet_generate_params.samplers); unknown names are
 * skipped, as llama-server does. Ignored with mirostat, as llama.cpp does. */
static int read_sampler_order(json_t *body, api_request *r, api_error *err) {
    json_t *v = json_object_get(body, "samplers");
    r->n_samplers = -1;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v) && !json_is_string(v)) return api_errorf(err, 400, "'samplers' must be an array of names or a string of letters");
    size_t n = json_is_array(v) ? json_array_size(v) : json_string_length(v);
    r->n_samplers = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_is_array(v) ? json_array_get(v, i) : NULL;
        if (e && !json_is_string(e)) return api_errorf(err, 400, "'samplers[%zu]' must be a string", i);
        const char *name = e ? json_string_value(e) : NULL;
        int kind = e ? bn_sampler_kind_of_name(name) : bn_sampler_kind_of_char(json_string_value(v)[i]);
        if (kind == BN_SAMPLER_NOT_OFFERED)
            return api_errorf(err, 400, "'samplers[%zu]': this server has no %s sampler", i, e ? name : "infill");
        if (kind == BN_SAMPLER_UNKNOWN) continue;
        if (bn_sampler_kinds_append(r->samplers, &r->n_samplers, kind))
            return api_errorf(err, 400, "'samplers': more than %d samplers", BN_SAMPLER_ORDER_MAX);
    }
    if (!(r->samplers_text = malloc(BN_SAMPLER_ORDER_TEXT_MAX))) return api_errorf(err, 500, "out of memory");
    bn_sampler_kinds_join(r->samplers, r->n_samplers, r->samplers_text);
    r->gen.samplers = r->samplers_text;
    return 0;
}

/* dry_sequence_breakers: an array of non-empty strings (llama-server's form; its default, "\n",
 * ":", "\"", "*", when absent). [] is none (llama-server refuses it in a request, but its
 * --dry-sequence-breaker none means that, and such options reach us as request defaults). */
static int read_dry_breakers(json_t *body, api_request *r, api_error *err) {
    static const char *const no_breakers[1] = {NULL};
    json_t *v = json_object_get(body, "dry_sequence_breakers");
    if (!v || json_is_null(v)) return 0;
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n > API_MAX_STOPS)
        return api_errorf(err, 400, "'dry_sequence_breakers' must be an array of 0 to %d strings", API_MAX_STOPS);
    if (!n) {
        r->gen.sampling_extra.dry_sequence_breakers = no_breakers;
        r->gen.sampling_extra.n_dry_sequence_breakers = 0;
        return 0;
    }
    if (!(r->dry_breakers = calloc(n, sizeof *r->dry_breakers))) return api_errorf(err, 500, "out of memory");
    r->gen.sampling_extra.n_dry_sequence_breakers = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s) || !json_string_length(s) || has_nul(s))
            return api_errorf(err, 400, "'dry_sequence_breakers[%zu]' must be a non-empty string", i);
        if (!(r->dry_breakers[i] = copy_string(json_string_value(s), json_string_length(s)))) return api_errorf(err, 500, "out of memory");
    }
    r->gen.sampling_extra.dry_sequence_breakers = (const char *const *)r->dry_breakers;
    return 0;
}

/* llama-server's other samplers (extensions on every route, as llama-server reads them; a
 * dry_base below 1 means its default, as there). */
static int read_extra_samplers(json_t *body, api_request *r, api_error *err) {
    bitnet_sampling_extra *x = &r->gen.sampling_extra;
    long long mirostat = x->mirostat, allowed = x->dry_allowed_length, last_n = x->dry_penalty_last_n, min_keep = 0;
    float base = x->dry_base;
    if (read_float(body, "typical_p", 1e-9, 1e9, &x->typical_p, err) || read_float(body, "top_n_sigma", -1e9, 1e9, &x->top_n_sigma, err) ||
        read_float(body, "xtc_probability", 0, 1, &x->xtc_probability, err) ||
        read_float(body, "xtc_threshold", 0, 1, &x->xtc_threshold, err) ||
        read_float(body, "dynatemp_range", -1e9, 1e9, &x->dynatemp_range, err) ||
        read_float(body, "dynatemp_exponent", 0, 1e9, &x->dynatemp_exponent, err) || read_int(body, "mirostat", 0, 2, &mirostat, err) ||
        read_float(body, "mirostat_tau", 0, 1e9, &x->mirostat_tau, err) || read_float(body, "mirostat_eta", 0, 1e9, &x->mirostat_eta, err) ||
        read_float(body, "dry_multiplier", 0, 1e9, &x->dry_multiplier, err) || read_float(body, "dry_base", -1e9, 1e9, &base, err) ||
        read_int(body, "dry_allowed_length", 0, INT32_MAX, &allowed, err) ||
        read_int(body, "dry_penalty_last_n", -1, INT32_MAX, &last_n, err) || read_dry_breakers(body, r, err) ||
        read_int(body, "min_keep", 0, INT32_MAX, &min_keep, err) || read_float(body, "adaptive_target", -1e9, 1, &r->gen.adaptive_target, err) ||
        read_float(body, "adaptive_decay", 0, 0.99, &r->gen.adaptive_decay, err) ||
        read_bool(body, "post_sampling_probs", &r->post_sampling_probs, err))
        return -1;
    r->gen.min_keep = (int)min_keep;
    x->mirostat = (int)mirostat;
    if (base >= 1.0f) x->dry_base = base;
    x->dry_allowed_length = (int)allowed;
    x->dry_penalty_last_n = last_n < 0 ? INT32_MAX : (int)last_n; /* -1: all (the library keeps a context's worth) */
    return 0;
}

/* n_predict, or its aliases max_completion_tokens and max_tokens (n_predict wins): -1 no limit,
 * 0 the prompt only (generation runs one step, whose token is dropped), else the limit. */
static int read_n_predict(json_t *body, api_request *r, api_error *err) {
    static const char *const names[] = {"n_predict", "max_completion_tokens", "max_tokens"};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(body, names[i]);
        long long n = 0;
        if (!v || json_is_null(v)) continue;
        if (read_int(body, names[i], -1, 1 << 30, &n, err)) return -1;
        r->prompt_only = n == 0;
        r->gen.max_tokens = n == 0 ? 1 : n > 0 ? (int)n : 0;
        return 0;
    }
    return 0;
}

/* llama-server's "response_fields": an array of strings (paths into the final reply). */
static int read_response_fields(json_t *body, api_request *r, api_error *err) {
    json_t *v = json_object_get(body, "response_fields"), *item;
    if (!api_present(v)) return 0;
    size_t i;
    if (!json_is_array(v)) return api_errorf(err, 400, "'response_fields' must be an array of strings");
    json_array_foreach(v, i, item) if (!json_is_string(item)) return api_errorf(err, 400, "'response_fields[%zu]' must be a string", i);
    r->response_fields = json_incref(v);
    return 0;
}

/* What /completion adds to the shared fields: n_predict, n_probs (or "logprobs"), repeat_last_n,
 * return_tokens, response_fields, cache_prompt (a slot always reuses what it holds). */
static int read_native_fields(json_t *body, api_request *r, api_error *err) {
    long long n_probs = 0, last_n = r->gen.sampling.penalty_last_n;
    const char *probs = json_object_get(body, "n_probs") ? "n_probs" : "logprobs";
    bool cache_prompt = true;
    if (read_n_predict(body, r, err) || read_int(body, probs, 0, JOB_MAX_TOP_LOGPROBS, &n_probs, err) ||
        read_int(body, "repeat_last_n", -1, 1 << 30, &last_n, err) || read_bool(body, "return_tokens", &r->return_tokens, err) ||
        read_bool(body, "cache_prompt", &cache_prompt, err) || read_response_fields(body, r, err))
        return -1;
    r->n_top_logprobs = n_probs > 0 ? (int)n_probs : -1;
    r->gen.sampling.penalty_last_n = (int)last_n;
    return 0;
}

/* ===================================================================== prompts */

static int parse_role(const char *s, bn_chat_role *out) {
    if (!strcmp(s, "system") || !strcmp(s, "developer")) *out = BN_CHAT_SYSTEM;
    else if (!strcmp(s, "user")) *out = BN_CHAT_USER;
    else if (!strcmp(s, "assistant")) *out = BN_CHAT_ASSISTANT;
    else if (!strcmp(s, "tool")) *out = BN_CHAT_TOOL;
    else return -1;
    return 0;
}

/* The text of a content field (`field` names it in errors): a string, an array of
 * {"type":"text","text":...} parts (joined), or null (empty). Returns a malloc'd string, or
 * NULL with *err (also when out of memory). */
static char *content_text(json_t *content, const char *field, api_error *err) {
    if (!content || json_is_null(content)) return copy_string("", 0);
    if (json_is_string(content) && has_nul(content)) {
        api_errorf(err, 400, "'%s' contains a NUL character", field);
        return NULL;
    }
    if (json_is_string(content)) {
        char *text = copy_string(json_string_value(content), json_string_length(content));
        if (!text) api_errorf(err, 500, "out of memory");
        return text;
    }
    if (!json_is_array(content)) {
        api_errorf(err, 400, "'%s' must be a string or an array of text parts", field);
        return NULL;
    }
    size_t total = 0, k;
    json_t *part;
    json_array_foreach(content, k, part) {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") || !json_is_string(text) || has_nul(text)) {
            api_errorf(err, 400, "'%s[%zu]': only {\"type\": \"text\", \"text\": ...} parts are supported", field, k);
            return NULL;
        }
        total += json_string_length(text);
    }
    char *out = malloc(total + 1);
    if (!out) {
        api_errorf(err, 500, "out of memory");
        return NULL;
    }
    size_t n = 0;
    json_array_foreach(content, k, part) {
        json_t *text = json_object_get(part, "text");
        memcpy(out + n, json_string_value(text), json_string_length(text));
        n += json_string_length(text);
    }
    out[n] = '\0';
    return out;
}

/* Whether message m has tool_calls (present, not null, not an empty array). */
static bool has_tool_calls(json_t *m) {
    json_t *calls = json_object_get(m, "tool_calls");
    return calls && !json_is_null(calls) && !(json_is_array(calls) && json_array_size(calls) == 0);
}

/* An assistant message as the model would have written it: its tool_calls as the call object
 * (tools.h), with tool_choice "auto" its text as {"response": ...}, else the text. Takes text
 * over; NULL with *err. */
static char *assistant_text(json_t *m, char *text, size_t i, tool_choice choice, api_error *err) {
    char *out = text;
    if (has_tool_calls(m))
        out = tools_render_calls(json_object_get(m, "tool_calls"), i, err);
    else if (choice == TOOLS_AUTO && !(out = tools_render_response(text)))
        api_errorf(err, 500, "out of memory");
    if (out != text) free(text);
    return out;
}

static int read_messages(json_t *body, api_request *r, api_error *err) {
    json_t *msgs = json_object_get(body, "messages");
    if (!json_is_array(msgs)) return api_errorf(err, 400, "'messages' must be an array of messages");
    size_t n = json_array_size(msgs);
    if (n == 0) return api_errorf(err, 400, "'messages' is empty");
    if (!(r->messages = calloc(n, sizeof *r->messages))) return api_errorf(err, 500, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i), *role = json_object_get(m, "role");
        if (!json_is_object(m)) return api_errorf(err, 400, "'messages[%zu]' must be an object", i);
        if (!json_is_string(role) || parse_role(json_string_value(role), &r->messages[i].role))
            return api_errorf(err, 400, "'messages[%zu].role' must be \"system\", \"user\", \"assistant\" or \"tool\"", i);
        char field[48];
        snprintf(field, sizeof field, "messages[%zu].content", i);
        char *text = content_text(json_object_get(m, "content"), field, err);
        if (!text) return -1;
        if (r->messages[i].role == BN_CHAT_ASSISTANT && !(text = assistant_text(m, text, i, r->tools.choice, err))) return -1;
        r->messages[i].content = text;
        r->n_messages = i + 1;
        r->last_has_calls = r->messages[i].role == BN_CHAT_ASSISTANT && has_tool_calls(m);
    }
    return 0;
}

int api_read_prompt_parts(json_t *arr, const char *field, api_prompt_part **parts, int *n_parts, api_error *err) {
    size_t n = json_array_size(arr);
    if (!(*parts = calloc(n ? n : 1, sizeof **parts))) return api_errorf(err, 500, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(arr, i);
        api_prompt_part *part = &(*parts)[i];
        *n_parts = (int)i + 1;
        if (json_is_string(t) && !has_nul(t)) {
            if (!(part->text = copy_string(json_string_value(t), json_string_length(t)))) return api_errorf(err, 500, "out of memory");
        } else if (json_is_integer(t) && json_integer_value(t) >= 0 && json_integer_value(t) <= INT32_MAX) {
            part->id = (int32_t)json_integer_value(t);
        } else {
            return api_errorf(err, 400, "'%s[%zu]' must be a token id or a string (without NUL)", field, i);
        }
    }
    return 0;
}

void api_prompt_parts_free(api_prompt_part *parts, int n) {
    for (int i = 0; i < n; i++) free(parts[i].text);
    free(parts);
}

/* One prompt: a string, an array of token ids and strings, or {"prompt_string": either}. */
static int read_one_prompt(json_t *v, const char *field, api_prompt *out, api_error *err) {
    json_t *inner = json_is_object(v) ? json_object_get(v, "prompt_string") : NULL;
    if (inner) v = inner;
    if (json_is_array(v)) return api_read_prompt_parts(v, field, &out->parts, &out->n_parts, err);
    if (!json_is_string(v)) return api_errorf(err, 400, "'%s' must be a string, or an array of token ids and strings", field);
    if (has_nul(v)) return api_errorf(err, 400, "'%s' contains a NUL character", field);
    if (!(out->parts = calloc(1, sizeof *out->parts))) return api_errorf(err, 500, "out of memory");
    out->n_parts = 1;
    if (!(out->parts[0].text = copy_string(json_string_value(v), json_string_length(v)))) return api_errorf(err, 500, "out of memory");
    return 0;
}

static bool holds_number(json_t *arr) {
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t) if (json_is_integer(t)) return true;
    return false;
}

int api_read_prompts(json_t *v, const char *name, int max, api_prompt **prompts, int *n, bool *several, api_error *err) {
    *prompts = NULL;
    *n = 0;
    *several = json_is_array(v) && !holds_number(v);
    size_t count = *several ? json_array_size(v) : 1;
    if (count == 0) return api_errorf(err, 400, "'%s' must not be empty", name);
    if (count > (size_t)max) return api_errorf(err, 400, "'%s' holds %zu prompts; at most %d are allowed", name, count, max);
    if (!(*prompts = calloc(count, sizeof **prompts))) return api_errorf(err, 500, "out of memory");
    for (size_t i = 0; i < count; i++) {
        char field[64];
        if (*several) snprintf(field, sizeof field, "%s[%zu]", name, i);
        else snprintf(field, sizeof field, "%s", name);
        *n = (int)i + 1;
        if (read_one_prompt(*several ? json_array_get(v, i) : v, field, &(*prompts)[i], err)) return -1;
    }
    return 0;
}

void api_prompts_free(api_prompt *prompts, int n) {
    for (int i = 0; prompts && i < n; i++) api_prompt_parts_free(prompts[i].parts, prompts[i].n_parts);
    free(prompts);
}

/* llama-server's (and vLLM's) chat rendering fields: add_generation_prompt (default true) and
 * continue_final_message (true or "content": the last message, an assistant's, is continued;
 * then add_generation_prompt must be false). */
static int read_rendering(json_t *root, api_request *r, api_error *err) {
    bool add = true;
    json_t *cont = json_object_get(root, "continue_final_message");
    if (read_bool(root, "add_generation_prompt", &add, err)) return -1;
    r->no_generation_prompt = !add;
    if (!api_present(cont) || json_is_false(cont)) return 0;
    if (json_is_string(cont) && !strcmp(json_string_value(cont), "reasoning_content"))
        return api_errorf(err, 400, "'continue_final_message' \"reasoning_content\": this server has no reasoning content");
    if (!json_is_true(cont) && !(json_is_string(cont) && !strcmp(json_string_value(cont), "content")))
        return api_errorf(err, 400, "'continue_final_message' must be true, false or \"content\"");
    if (add) return api_errorf(err, 400, "'continue_final_message' continues the last message: set 'add_generation_prompt' to false");
    if (r->messages[r->n_messages - 1].role != BN_CHAT_ASSISTANT)
        return api_errorf(err, 400, "'continue_final_message' needs a conversation that ends with an assistant message");
    r->continue_final = true;
    return 0;
}

/* The conversation of a chat (and its rendering fields), or the prompts of the others. */
static int read_prompt_of(api_kind kind, json_t *root, api_request *r, api_error *err) {
    if (kind == API_CHAT) return read_messages(root, r, err) || read_rendering(root, r, err) ? -1 : 0;
    return api_read_prompts(json_object_get(root, "prompt"), "prompt", API_MAX_JOBS, &r->prompts, &r->n_prompts, &r->several_prompts,
                            err);
}

/* Several prompts ask for n completions each (best_of when more): at most API_MAX_JOBS. */
static int check_job_count(const api_request *r, int n, api_error *err) {
    bool best_of = r->best_of > n;
    int per_prompt = best_of ? r->best_of : n;
    if (r->n_prompts * per_prompt <= API_MAX_JOBS) return 0;
    return api_errorf(err, 400, "%d prompts with '%s' = %d ask for %d completions; one request may ask for at most %d", r->n_prompts,
                      best_of ? "best_of" : "n", per_prompt, r->n_prompts * per_prompt, API_MAX_JOBS);
}

/* OpenAI's legacy completion fields beside n: echo (each choice's text begins with its prompt;
 * with logprobs, its logprobs with the prompt tokens'), best_of (>= n
 * completions drawn per prompt, the n with the highest log-probability per token returned; not
 * streamed, as OpenAI's), suffix (insertion; only empty). */
static int read_legacy_fields(json_t *root, api_request *r, int n, api_error *err) {
    long long best_of = n;
    json_t *suffix = json_object_get(root, "suffix");
    if (read_bool(root, "echo", &r->echo, err) || read_int(root, "best_of", 1, API_MAX_CHOICES, &best_of, err)) return -1;
    if (r->echo && r->n_top_logprobs >= 0 && json_is_true(json_object_get(root, "post_sampling_probs")))
        return api_errorf(err, 400, "'echo' with 'logprobs' gives the prompt's log-probabilities, and its tokens were not drawn: "
                                    "'post_sampling_probs' does not apply; leave it out");
    if (best_of < n) return api_errorf(err, 400, "'best_of' = %lld must be at least 'n' (%d)", best_of, n);
    if (best_of > n && json_is_true(json_object_get(root, "stream")))
        return api_errorf(err, 400, "'best_of' (%lld) more than 'n' (%d) cannot be streamed: the best are known only at the end", best_of, n);
    r->best_of = (int)best_of;
    if (api_present(suffix) && (!json_is_string(suffix) || json_string_length(suffix)))
        return api_errorf(err, 400, "'suffix' (text after the completion, for insertion) is not supported; leave it out or empty");
    return 0;
}

/* The token limit and the log-probabilities: OpenAI's fields, or /completion's. */
static int read_limits(json_t *root, api_request *r, api_error *err) {
    /* llama-server's t_max_predict_ms, n_indent, id_slot and n_cache_reuse, on every route as there */
    if (read_int(root, "t_max_predict_ms", LLONG_MIN, LLONG_MAX, &r->t_max_predict_ms, err) || read_int(root, "n_indent", 0, INT32_MAX, &r->n_indent, err) ||
        read_int(root, "id_slot", -1, INT32_MAX, &r->id_slot, err) || read_int(root, "n_cache_reuse", 0, INT32_MAX, &r->n_cache_reuse, err))
        return -1;
    if (r->kind == API_NATIVE) return read_native_fields(root, r, err);
    return read_max_tokens(root, r, err) || read_logprobs(root, r, err) ? -1 : 0;
}

/* OpenAI's Predicted Outputs: "prediction": {"type": "content", "content": text or text parts}
 * (absent or null: none); the text into r->prediction (request.c tokenizes it). */
static int read_prediction(json_t *body, api_request *r, api_error *err) {
    json_t *v = json_object_get(body, "prediction");
    if (!api_present(v)) return 0;
    json_t *type = json_object_get(v, "type");
    if (!json_is_object(v)) return api_errorf(err, 400, "'prediction' must be an object {\"type\": \"content\", \"content\": ...}");
    if (!json_is_string(type) || strcmp(json_string_value(type), "content"))
        return api_errorf(err, 400, "'prediction.type' must be \"content\" (the only kind of prediction)");
    json_t *content = json_object_get(v, "content");
    if (!api_present(content)) return api_errorf(err, 400, "'prediction.content' is missing");
    return (r->prediction = content_text(content, "prediction.content", err)) ? 0 : -1;
}

json_t *api_load_object(const char *body, size_t len, api_error *err) {
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root) api_errorf(err, 400, "the body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
    else if (!json_is_object(root)) api_errorf(err, 400, "the body must be a JSON object");
    if (json_is_object(root)) return root;
    json_decref(root);
    return NULL;
}

/* Whether root brings a constraint of its own (a default grammar or schema then stays out). */
static bool has_constraint(json_t *root) {
    static const char *const fields[] = {"grammar", "json_schema", "response_format", "tools"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (api_present(json_object_get(root, fields[i]))) return true;
    return false;
}

/* The fields of `defaults` that root lacks (max_tokens only when root gives no token limit, a
 * grammar or schema only when root has no constraint). */
static int apply_defaults(json_t *root, const json_t *defaults, api_error *err) {
    const char *key;
    json_t *v;
    bool constrained = has_constraint(root);
    json_object_foreach((json_t *)defaults, key, v) {
        if (json_object_get(root, key)) continue;
        if (!strcmp(key, "max_tokens") && (json_object_get(root, "n_predict") || json_object_get(root, "max_completion_tokens"))) continue;
        if ((!strcmp(key, "grammar") || !strcmp(key, "json_schema")) && constrained) continue;
        if (json_object_set(root, key, v)) return api_errorf(err, 500, "out of memory");
    }
    return 0;
}

int api_parse_request(api_kind kind, const char *body, size_t len, uint64_t default_seed, const json_t *defaults, api_request *out,
                      api_error *err) {
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    out->kind = kind;
    out->n_samplers = -1;
    out->n_top_logprobs = -1;
    out->id_slot = -1;
    out->n_cache_reuse = -1;
    out->sse_ping_interval = -2;
    out->gen = default_generate_params(default_seed);
    if (kind == API_NATIVE) { /* llama-server's defaults: the library's (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05) */
        out->gen = bitnet_generate_default_params();
        out->gen.sampling.seed = default_seed;
        out->gen.max_tokens = 0; /* n_predict -1 */
    }
    json_t *root = api_load_object(body, len, err);
    if (!root) return -1;
    long long n = 1;
    int rc = -1;
    if (defaults && apply_defaults(root, defaults, err)) (void)0;
    else if (read_int(root, json_object_get(root, "n_cmpl") ? "n_cmpl" : "n", 1, API_MAX_CHOICES, &n, err)) (void)0; /* llama-server's name, and OpenAI's */
    else if (tools_read(root, kind == API_CHAT, &out->tools, err)) (void)0;
    else if (read_prompt_of(kind, root, out, err)) (void)0;
    else if (read_limits(root, out, err) || (kind == API_COMPLETION && read_legacy_fields(root, out, (int)n, err)) ||
             check_job_count(out, (int)n, err) ||
             read_sampling(root, kind, &out->gen.sampling, err) ||
             read_extra_samplers(root, out, err) || read_sampler_order(root, out, err) ||
             read_logit_bias(root, out, err) ||
             read_response_format(root, out, err) || use_tools(out, err) || read_grammar(root, out, err) ||
             read_stops(root, out, err) || read_stream(root, out, err) || read_prediction(root, out, err))
        (void)0;
    else {
        bool ignore_eos = false;
        long long keep = JOB_N_KEEP_UNSET, discard = 0; /* llama-server's context shift (--context-shift) */
        rc = read_bool(root, "ignore_eos", &ignore_eos, err) || read_int(root, "n_keep", -1, 1 << 30, &keep, err) ||
                     read_int(root, "n_discard", 0, 1 << 30, &discard, err)
                 ? -1
                 : 0;
        out->gen.ignore_eog = ignore_eos;
        out->gen.n_keep = (int)keep;
        out->gen.n_discard = (int)discard;
        out->n_choices = (int)n;
    }
    json_decref(root);
    if (rc) api_request_free(out);
    return rc;
}

void api_request_free(api_request *r) {
    free(r->prediction);
    for (int i = 0; i < r->n_stops; i++) free(r->stops[i]);
    free(r->stops);
    for (size_t i = 0; i < r->n_messages; i++) free((char *)r->messages[i].content);
    free(r->messages);
    api_prompts_free(r->prompts, r->n_prompts);
    free(r->logit_bias);
    for (int i = 0; i < r->n_bias_texts; i++) free(r->bias_texts[i].text);
    free(r->bias_texts);
    free(r->json_schema);
    free(r->grammar);
    free(r->samplers_text);
    for (int i = 0; r->dry_breakers && i < r->gen.sampling_extra.n_dry_sequence_breakers; i++) free(r->dry_breakers[i]);
    free(r->dry_breakers);
    tools_free(&r->tools);
    json_decref(r->response_fields);
    memset(r, 0, sizeof *r);
}

char **api_request_take_stops(api_request *r, int *n) {
    char **s = r->stops;
    *n = r->n_stops;
    r->stops = NULL;
    r->n_stops = 0;
    return s;
}

/* ===================================================================== replies */

void api_reply_init(api_reply *r, api_kind kind, uint64_t serial, const char *model, const bitnet_model *vocab,
                    int n_top_logprobs) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->created = (int64_t)time(NULL);
    uint64_t mixed = (serial + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)r->created;
    snprintf(r->id, sizeof r->id, "%s-%016llx", kind == API_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)mixed);
    r->model = model;
    r->vocab = vocab;
    r->n_top_logprobs = n_top_logprobs;
    r->n_choices = 1;
}

void api_reply_free(api_reply *r) {
    json_decref(r->echo);
    r->echo = NULL;
    api_reply_set_prompt_lp(r, NULL, 0);
}

void api_reply_begin_choice(api_reply *r, int i) {
    r->choice = i;
    r->text_offset = 0;
    if (i % r->n_choices == 0) api_reply_set_prompt_lp(r, NULL, 0);
}

void api_reply_set_prompt_lp(api_reply *r, job_logprob *lp, size_t n) {
    free(r->prompt_lp);
    r->prompt_lp = lp;
    r->n_prompt_lp = n;
}

/* A completion choice's text: with echo, its first piece begins with the choice's prompt. NULL
 * when out of memory. */
static json_t *completion_text(const api_reply *r, const char *text, size_t len, bool first) {
    json_t *prompt = first && r->echo ? json_array_get(r->echo, (size_t)(r->choice / r->n_choices)) : NULL;
    if (!prompt) return api_text(text, len);
    size_t n = json_string_length(prompt);
    char *both = malloc(n + len + 1);
    if (!both) return NULL;
    memcpy(both, json_string_value(prompt), n);
    if (len) memcpy(both + n, text, len);
    json_t *v = api_text(both, n + len);
    free(both);
    return v;
}

const char *api_finish_reason(bitnet_stop_reason r) {
    return r == BITNET_STOP_MAX_TOKENS || r == BITNET_STOP_CONTEXT_FULL ? "length" : "stop";
}

/* OpenAI's usage. Predicted Outputs: accepted are the prediction's draft tokens sampled as
 * drafted, rejected the ones evaluated and not (OpenAI bills those as completion tokens; here
 * completion_tokens counts the tokens generated, no more). */
static json_t *usage_json(const bitnet_generate_result *res) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}, s:{s:i, s:i}}", "prompt_tokens", res->n_prompt, "completion_tokens", res->n_generated,
                     "total_tokens", res->n_prompt + res->n_generated, "prompt_tokens_details", "cached_tokens", res->n_cached,
                     "completion_tokens_details", "accepted_prediction_tokens", res->n_prediction_accepted,
                     "rejected_prediction_tokens", res->n_prediction_drafted - res->n_prediction_accepted);
}

/* The text of a token (special tokens rendered), as bytes. */
static size_t token_piece(const bitnet_model *vocab, int32_t token, char *buf, size_t cap) {
    int n = bitnet_model_token_to_piece(vocab, token, 1, buf, cap);
    return n > 0 ? (size_t)n : 0;
}

static double finite_logprob(float lp) { return isfinite(lp) ? (double)lp : -9999.0; }

/* One entry of api_token_list. */
static json_t *token_json(const bitnet_model *vocab, int32_t token, float logprob, bool post, bool with_id) {
    char piece[256];
    size_t n = token_piece(vocab, token, piece, sizeof piece);
    json_t *bytes = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(bytes, json_integer((unsigned char)piece[i]));
    json_t *v = json_pack("{s:o, s:f, s:o}", "token", api_text(piece, n), post ? "prob" : "logprob",
                          post ? exp((double)logprob) : finite_logprob(logprob), "bytes", bytes);
    if (v && with_id) json_object_set_new(v, "id", json_integer(token));
    return v;
}

json_t *api_token_list(const bitnet_model *vocab, const job_logprob *lp, size_t n_lp, bool post, bool with_id) {
    json_t *list = json_array();
    for (size_t i = 0; i < n_lp; i++) {
        json_t *entry = token_json(vocab, lp[i].token, lp[i].logprob, post, with_id), *top = json_array();
        for (int k = 0; k < lp[i].n_top; k++) json_array_append_new(top, token_json(vocab, lp[i].top_token[k], lp[i].top_logprob[k], post, with_id));
        json_object_set_new(entry, post ? "top_probs" : "top_logprobs", top);
        json_array_append_new(list, entry);
    }
    return list;
}

static json_t *chat_logprobs_json(const api_reply *r, const job_logprob *lp, size_t n_lp) {
    return json_pack("{s:o}", "content", api_token_list(r->vocab, lp, n_lp, r->post_sampling_probs, false));
}

/* The legacy completions shape's arrays: tokens, token_logprobs, top_logprobs, text_offset. */
typedef struct legacy_logprobs {
    json_t *tokens, *values, *tops, *offsets;
} legacy_logprobs;

/* One token's entries, its text starting at `offset`; a NaN log-probability (the prompt's first
 * token: nothing before it) is null, with null alternatives, as OpenAI's. Returns its text's length. */
static size_t legacy_entry(const api_reply *r, legacy_logprobs *out, const job_logprob *lp, size_t offset) {
    char piece[256], other[256];
    size_t n = token_piece(r->vocab, lp->token, piece, sizeof piece);
    bool none = isnan(lp->logprob);
    json_t *top = none ? json_null() : json_object();
    for (int k = 0; !none && k < lp->n_top; k++) {
        json_t *key = api_text(other, token_piece(r->vocab, lp->top_token[k], other, sizeof other));
        if (key) json_object_set_new(top, json_string_value(key), json_real(finite_logprob(lp->top_logprob[k])));
        json_decref(key);
    }
    json_array_append_new(out->tokens, api_text(piece, n));
    json_array_append_new(out->values, none ? json_null() : json_real(finite_logprob(lp->logprob)));
    json_array_append_new(out->offsets, json_integer((json_int_t)offset));
    json_array_append_new(out->tops, top);
    return n;
}

/* Echo with logprobs: the prompt tokens' entries before the choice's first token's. A token's
 * text_offset is where its text starts in the echoed prompt: the tokens' texts end with the
 * prompt's (a BOS the tokenizer added has text the prompt has not), so they count from that
 * much before its start (at least 0). The generated tokens' then count from the prompt's end. */
static void legacy_prompt_entries(api_reply *r, legacy_logprobs *out) {
    size_t echo_len = json_string_length(json_array_get(r->echo, (size_t)(r->choice / r->n_choices))), total = 0, at = 0;
    char piece[256];
    for (size_t i = 0; i < r->n_prompt_lp; i++) total += token_piece(r->vocab, r->prompt_lp[i].token, piece, sizeof piece);
    size_t before = total > echo_len ? total - echo_len : 0;
    for (size_t i = 0; i < r->n_prompt_lp; i++) at += legacy_entry(r, out, &r->prompt_lp[i], at > before ? at - before : 0);
    r->text_offset = echo_len;
}

static json_t *completion_logprobs_json(api_reply *r, const job_logprob *lp, size_t n_lp, bool first) {
    legacy_logprobs out = {json_array(), json_array(), json_array(), json_array()};
    if (first && r->echo) legacy_prompt_entries(r, &out);
    for (size_t i = 0; i < n_lp; i++) r->text_offset += legacy_entry(r, &out, &lp[i], r->text_offset);
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", out.tokens, "token_logprobs", out.values, "top_logprobs", out.tops,
                     "text_offset", out.offsets);
}

/* A choice's or chunk's logprobs (first: the choice's first; with echo, the prompt's come first). */
static json_t *logprobs_json(api_reply *r, const job_logprob *lp, size_t n_lp, bool first) {
    if (r->n_top_logprobs < 0) return json_null();
    return r->kind == API_CHAT ? chat_logprobs_json(r, lp, n_lp) : completion_logprobs_json(r, lp, n_lp, first);
}

static json_t *envelope(const api_reply *r, const char *object, json_t *choice) {
    return json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", r->id, "object", object, "created", (json_int_t)r->created, "model",
                     r->model, "choices", choice);
}

/* A chat reply's message and finish reason; with tools, the text is read as the tool call
 * object (tools.h). */
static json_t *chat_message(const api_reply *r, const char *text, size_t len, const char **finish) {
    if (r->tools == TOOLS_OFF) return json_pack("{s:s, s:o}", "role", "assistant", "content", api_text(text, len));
    tool_reader tr;
    tool_reader_init(&tr);
    char *answer = NULL;
    size_t answer_len = 0;
    json_t *calls = tool_reader_read(&tr, text, len, r->id, &answer, &answer_len);
    if (calls) *finish = "tool_calls";
    json_t *msg = calls ? json_pack("{s:s, s:n, s:o}", "role", "assistant", "content", "tool_calls", calls)
                        : json_pack("{s:s, s:o}", "role", "assistant", "content", api_text(answer ? answer : "", answer_len));
    free(answer);
    tool_reader_free(&tr);
    return msg;
}

json_t *api_response(api_reply *r, const char *text, size_t len, const job_logprob *lp, size_t n_lp,
                     const bitnet_generate_result *res) {
    json_t *choice;
    bitnet_generate_result kept = *res;
    if (r->prompt_only) len = n_lp = 0, kept.n_generated = 0, kept.stop_reason = BITNET_STOP_MAX_TOKENS, res = &kept;
    const char *finish = api_finish_reason(res->stop_reason);
    if (r->kind == API_CHAT) {
        json_t *message = chat_message(r, text, len, &finish);
        choice = message ? json_pack("{s:i, s:o, s:o, s:s}", "index", 0, "message", message, "logprobs", logprobs_json(r, lp, n_lp, true),
                                     "finish_reason", finish)
                         : NULL;
    } else
        choice = json_pack("{s:i, s:o, s:o, s:s}", "index", 0, "text", completion_text(r, text, len, true), "logprobs",
                           logprobs_json(r, lp, n_lp, true), "finish_reason", finish);
    json_t *reply = choice ? envelope(r, r->kind == API_CHAT ? "chat.completion" : "text_completion", choice) : NULL;
    if (reply) json_object_set_new(reply, "usage", usage_json(res));
    return reply;
}

/* The mean log-probability of a completion choice's tokens after the first `skip` (its
 * prompt's); -inf for one without tokens. */
static double mean_logprob(json_t *choice, int skip) {
    json_t *values = json_object_get(json_object_get(choice, "logprobs"), "token_logprobs");
    size_t n = json_array_size(values), from = skip > 0 ? (size_t)skip : 0;
    double sum = 0;
    for (size_t i = from; i < n; i++) sum += json_number_value(json_array_get(values, i));
    return n > from ? sum / (double)(n - from) : -INFINITY;
}

void api_response_keep_best(json_t *reply, int per_prompt, int keep, bool logprobs, const int *prompt_tokens) {
    json_t *all = json_object_get(reply, "choices"), *kept = json_array();
    for (size_t first = 0; kept && first < json_array_size(all); first += (size_t)per_prompt) {
        bool taken[API_MAX_CHOICES] = {false};
        int skip = prompt_tokens ? prompt_tokens[first / (size_t)per_prompt] : 0;
        for (int k = 0; k < keep; k++) { /* the best not yet taken; a tie keeps the earlier choice */
            int best = -1;
            for (int c = 0; c < per_prompt; c++)
                if (!taken[c] && (best < 0 || mean_logprob(json_array_get(all, first + (size_t)c), skip) >
                                                  mean_logprob(json_array_get(all, first + (size_t)best), skip)))
                    best = c;
            json_t *choice = json_array_get(all, first + (size_t)best);
            taken[best] = true;
            json_object_set_new(choice, "index", json_integer((json_int_t)json_array_size(kept)));
            if (!logprobs) json_object_set_new(choice, "logprobs", json_null());
            json_array_append(kept, choice);
        }
    }
    if (kept) json_object_set_new(reply, "choices", kept);
}

/* usage[key] += more_usage[key] */
static void add_usage(json_t *usage, json_t *more_usage, const char *key) {
    json_int_t sum = json_integer_value(json_object_get(usage, key)) + json_integer_value(json_object_get(more_usage, key));
    json_object_set_new(usage, key, json_integer(sum));
}

void api_response_add_choice(json_t *reply, json_t *more, int index, bool new_prompt) {
    json_t *choice = json_array_get(json_object_get(more, "choices"), 0), *usage = json_object_get(reply, "usage"),
           *more_usage = json_object_get(more, "usage");
    if (choice) {
        json_object_set_new(choice, "index", json_integer(index));
        json_array_append(json_object_get(reply, "choices"), choice);
    }
    add_usage(usage, more_usage, "completion_tokens");
    json_t *details = json_object_get(usage, "completion_tokens_details"), *more_details = json_object_get(more_usage, "completion_tokens_details");
    add_usage(details, more_details, "accepted_prediction_tokens");
    add_usage(details, more_details, "rejected_prediction_tokens");
    if (new_prompt) {
        add_usage(usage, more_usage, "prompt_tokens");
        add_usage(json_object_get(usage, "prompt_tokens_details"), json_object_get(more_usage, "prompt_tokens_details"), "cached_tokens");
    }
    json_int_t prompt = json_integer_value(json_object_get(usage, "prompt_tokens"));
    json_object_set_new(usage, "total_tokens", json_integer(prompt + json_integer_value(json_object_get(usage, "completion_tokens"))));
    json_decref(more);
}

json_t *api_chunk(api_reply *r, const char *text, size_t len, const job_logprob *lp, size_t n_lp, bool first,
                  const char *finish_reason) {
    json_t *choice;
    json_t *finish = finish_reason ? json_string(finish_reason) : json_null();
    if (r->kind == API_CHAT) {
        json_t *delta = json_object();
        if (first) json_object_set_new(delta, "role", json_string("assistant"));
        if (len || !finish_reason) json_object_set_new(delta, "content", api_text(text, len));
        choice = json_pack("{s:i, s:o, s:o, s:o}", "index", r->choice, "delta", delta, "logprobs", logprobs_json(r, lp, n_lp, first),
                           "finish_reason", finish);
    } else {
        choice = json_pack("{s:i, s:o, s:o, s:o}", "index", r->choice, "text", completion_text(r, text, len, first), "logprobs",
                           logprobs_json(r, lp, n_lp, first), "finish_reason", finish);
    }
    return envelope(r, r->kind == API_CHAT ? "chat.completion.chunk" : "text_completion", choice);
}

json_t *api_progress_chunk(const api_reply *r) {
    json_t *choice = r->kind == API_CHAT ? json_pack("{s:i, s:{s:s, s:n}, s:n, s:n}", "index", r->choice, "delta", "role", "assistant",
                                                     "content", "logprobs", "finish_reason")
                                         : json_pack("{s:i, s:s, s:n, s:n}", "index", r->choice, "text", "", "logprobs", "finish_reason");
    return envelope(r, r->kind == API_CHAT ? "chat.completion.chunk" : "text_completion", choice);
}

json_t *api_tool_calls_chunk(const api_reply *r, json_t *calls, bool first) {
    json_t *list = json_array(), *call;
    size_t i;
    json_array_foreach(calls, i, call) {
        json_t *one = json_deep_copy(call);
        if (one) json_object_set_new(one, "index", json_integer((json_int_t)i));
        json_array_append_new(list, one);
    }
    json_t *delta = json_pack("{s:n, s:o}", "content", "tool_calls", list);
    if (delta && first) json_object_set_new(delta, "role", json_string("assistant"));
    json_t *choice = json_pack("{s:i, s:o, s:n, s:n}", "index", r->choice, "delta", delta, "logprobs", "finish_reason");
    return envelope(r, "chat.completion.chunk", choice);
}

json_t *api_tool_call_delta_chunk(const api_reply *r, size_t index, const char *name, const char *args, size_t args_len, bool first) {
    json_t *fn = json_pack("{s:o}", "arguments", api_text(args, args_len)), *call = json_pack("{s:I}", "index", (json_int_t)index);
    if (name) { /* the call's first delta: its id, type and name */
        char id[32];
        tools_call_id(r->id, index, id);
        json_object_set_new(fn, "name", json_string(name));
        json_object_set_new(call, "id", json_string(id));
        json_object_set_new(call, "type", json_string("function"));
    }
    json_object_set_new(call, "function", fn);
    json_t *delta = json_pack("{s:[o]}", "tool_calls", call);
    if (delta && first) json_object_set_new(delta, "role", json_string("assistant")), json_object_set_new(delta, "content", json_null());
    json_t *choice = json_pack("{s:i, s:o, s:n, s:n}", "index", r->choice, "delta", delta, "logprobs", "finish_reason");
    return envelope(r, "chat.completion.chunk", choice);
}

json_t *api_usage_chunk(const api_reply *r, const bitnet_generate_result *res) {
    return json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", r->id, "object",
                     r->kind == API_CHAT ? "chat.completion.chunk" : "text_completion", "created", (json_int_t)r->created,
                     "model", r->model, "choices", "usage", usage_json(res));
}
