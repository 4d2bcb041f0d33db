/* tools: function calling over JSON Schema output (see tools.h). */
#include "tools.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai.h"
#include "util.h"

/* ===================================================================== reading the tools */

/* OpenAI's rule for function names: ^[a-zA-Z0-9_-]{1,64}$ */
static bool valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}


/* tools[i]: {"type": "function", "function": {"name", "description"?, "parameters"?, "strict"?}}.
 * Returns its "function" object (borrowed) or NULL with *err. */
static json_t *read_tool(json_t *tools, size_t i, api_error *err) {
    json_t *t = json_array_get(tools, i), *fn = json_object_get(t, "function");
    const char *type = json_string_value(json_object_get(t, "type"));
    if (!json_is_object(t) || !type || strcmp(type, "function") || !json_is_object(fn)) {
        api_errorf(err, 400, "'tools[%zu]' must be {\"type\": \"function\", \"function\": {...}}", i);
        return NULL;
    }
    json_t *name = json_object_get(fn, "name"), *desc = json_object_get(fn, "description"), *params = json_object_get(fn, "parameters");
    if (!json_is_string(name) || !valid_name(json_string_value(name)) || strlen(json_string_value(name)) != json_string_length(name))
        api_errorf(err, 400, "'tools[%zu].function.name' must be 1 to 64 letters, digits, '_' or '-'", i);
    else if (api_present(desc) && !json_is_string(desc)) api_errorf(err, 400, "'tools[%zu].function.description' must be a string", i);
    else if (api_present(params) && !json_is_object(params))
        api_errorf(err, 400, "'tools[%zu].function.parameters' must be a JSON Schema (an object)", i);
    else {
        for (size_t k = 0; k < i; k++)
            if (json_equal(json_object_get(json_object_get(json_array_get(tools, k), "function"), "name"), name)) {
                api_errorf(err, 400, "'tools[%zu].function.name': '%s' is also the name of tools[%zu]", i, json_string_value(name), k);
                return NULL;
            }
        return fn;
    }
    return NULL;
}

/* tool_choice: "none" | "auto" (also when absent) | "required" | {"type": "function",
 * "function": {"name"}} naming one of the tools; *named gets that function's index. */
static int read_choice(json_t *v, json_t *tools, tool_choice *out, size_t *named, api_error *err) {
    const char *s = json_string_value(v);
    if (!api_present(v) || (s && !strcmp(s, "auto"))) *out = TOOLS_AUTO;
    else if (s && !strcmp(s, "none")) *out = TOOLS_OFF;
    else if (s && !strcmp(s, "required")) *out = TOOLS_REQUIRED;
    else {
        const char *type = json_string_value(json_object_get(v, "type"));
        json_t *name = json_object_get(json_object_get(v, "function"), "name");
        if (!json_is_object(v) || !type || strcmp(type, "function") || !json_is_string(name))
            return api_errorf(err, 400, "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", "
                                        "\"function\": {\"name\": ...}}");
        for (*named = 0; *named < json_array_size(tools); ++*named)
            if (json_equal(json_object_get(json_object_get(json_array_get(tools, *named), "function"), "name"), name)) break;
        if (*named == json_array_size(tools))
            return api_errorf(err, 400, "'tool_choice' names the function '%.64s', which is not in 'tools'", json_string_value(name));
        *out = TOOLS_NAMED;
    }
    return 0;
}

/* ===================================================================== the reply's schema */

static bool is_data_keyword(const char *k) {
    return !strcmp(k, "const") || !strcmp(k, "enum") || !strcmp(k, "default") || !strcmp(k, "examples");
}
static bool is_schema_map(const char *k) {
    return !strcmp(k, "properties") || !strcmp(k, "$defs") || !strcmp(k, "definitions") || !strcmp(k, "patternProperties") ||
           !strcmp(k, "dependentSchemas");
}

static int rebase_schema(json_t *v, const char *prefix);

/* A keyword's value: a schema, a list of schemas, or (maps) names to schemas. */
static int rebase_value(json_t *v, bool map, const char *prefix) {
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            if (rebase_schema(x, prefix)) return -1;
        }
    } else if (map && json_is_object(v)) {
        json_object_foreach(v, k, x) {
            if (rebase_schema(x, prefix)) return -1;
        }
    } else if (json_is_object(v)) {
        return rebase_schema(v, prefix);
    }
    return 0;
}

/* Local references ("#..." pointers into the function's parameters schema) are rewritten to
 * point into the reply's schema, where the parameters sit at prefix. Values that are data
 * (const, enum, default, examples) are left alone. */
static int rebase_schema(json_t *v, const char *prefix) {
    const char *k;
    json_t *x;
    if (!json_is_object(v)) return 0;
    json_object_foreach(v, k, x) {
        if (!strcmp(k, "$ref") && json_is_string(x) && json_string_value(x)[0] == '#') {
            size_t n = strlen(prefix) + json_string_length(x);
            char *ref = malloc(n + 1);
            if (!ref) return -1;
            snprintf(ref, n + 1, "%s%s", prefix, json_string_value(x) + 1);
            int rc = json_string_set(x, ref);
            free(ref);
            if (rc) return -1;
        } else if (!is_data_keyword(k) && rebase_value(x, is_schema_map(k), prefix))
            return -1;
    }
    return 0;
}

/* {"name": {"const": name}, "arguments": <parameters>}: one function's calls. at is the
 * call's place in the reply's schema (a JSON pointer). */
static json_t *call_schema(json_t *fn, const char *at) {
    json_t *params = json_object_get(fn, "parameters");
    json_t *args = params ? json_deep_copy(params)
                          : json_pack("{s:s, s:{}, s:b}", "type", "object", "properties", "additionalProperties", 0);
    char prefix[96];
    snprintf(prefix, sizeof prefix, "#%s/properties/arguments", at);
    if (!args || rebase_schema(args, prefix)) {
        json_decref(args);
        return NULL;
    }
    return json_pack("{s:s, s:{s:{s:O}, s:o}, s:[s, s], s:b}", "type", "object", "properties", "name", "const",
                     json_object_get(fn, "name"), "arguments", args, "required", "name", "arguments", "additionalProperties", 0);
}

/* The "tool_calls" array: items one call schema, or anyOf of them (told apart by the name). */
static json_t *calls_schema(json_t **fns, size_t n, bool parallel) {
    json_t *items = n == 1 ? NULL : json_array();
    for (size_t i = 0; i < n; i++) {
        char at[64];
        snprintf(at, sizeof at, n == 1 ? "/properties/tool_calls/items" : "/properties/tool_calls/items/anyOf/%zu", i);
        json_t *one = call_schema(fns[i], at);
        if (n == 1) items = one;
        else if (json_array_append_new(items, one)) one = NULL;
        if (!one) {
            json_decref(items);
            return NULL;
        }
    }
    json_t *calls = json_pack("{s:s, s:o, s:i}", "type", "array", "items", n == 1 ? items : json_pack("{s:o}", "anyOf", items),
                              "minItems", 1);
    if (calls && !parallel) json_object_set_new(calls, "maxItems", json_integer(1));
    return calls;
}

static json_t *reply_schema(tool_choice choice, json_t **fns, size_t n, bool parallel) {
    json_t *calls = calls_schema(fns, n, parallel);
    if (!calls) return NULL;
    if (choice == TOOLS_AUTO) /* exactly one of the two keys */
        return json_pack("{s:s, s:{s:o, s:{s:s}}, s:i, s:i, s:b}", "type", "object", "properties", "tool_calls", calls,
                         "response", "type", "string", "minProperties", 1, "maxProperties", 1, "additionalProperties", 0);
    return json_pack("{s:s, s:{s:o}, s:[s], s:b}", "type", "object", "properties", "tool_calls", calls, "required",
                     "tool_calls", "additionalProperties", 0);
}

/* The system text: the functions (one JSON line each) and the form of the reply. */
static char *instructions(tool_choice choice, json_t **fns, size_t n, bool parallel) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    fputs("You can call functions. Each line below describes one: its name, what it does and the JSON Schema of its "
          "arguments.\n", f);
    for (size_t i = 0; i < n; i++) {
        json_t *line = json_pack("{s:O}", "name", json_object_get(fns[i], "name"));
        json_t *desc = json_object_get(fns[i], "description"), *params = json_object_get(fns[i], "parameters");
        if (line && json_is_string(desc)) json_object_set(line, "description", desc);
        if (line && params) json_object_set(line, "parameters", params);
        char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;
        json_decref(line);
        if (s) fprintf(f, "%s\n", s);
        free(s);
    }
    const char *how_many = parallel ? "one or more calls" : "exactly one call";
    if (choice == TOOLS_AUTO)
        fprintf(f, "Reply with one JSON object: {\"tool_calls\": [{\"name\": <function name>, \"arguments\": {<arguments>}}]} "
                   "(%s) to call functions, or {\"response\": <your answer as a string>} to answer directly.", how_many);
    else
        fprintf(f, "Reply with one JSON object that calls %s%s: {\"tool_calls\": [{\"name\": <function name>, \"arguments\": "
                   "{<arguments>}}]} (%s).", n == 1 ? "the function " : "functions", n == 1 ? json_string_value(json_object_get(fns[0], "name")) : "",
                how_many);
    return fclose(f) ? (free(text), NULL) : text;
}

static int build(api_tools *out, json_t *tools, size_t named, bool parallel, api_error *err) {
    json_t *fns[API_MAX_TOOLS];
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(tools); i++)
        if (out->choice != TOOLS_NAMED || i == named) fns[n++] = json_object_get(json_array_get(tools, i), "function");
    out->n = (int)json_array_size(tools);
    if (!(out->parameters = calloc((size_t)out->n, sizeof *out->parameters))) return api_errorf(err, 500, "out of memory");
    for (int i = 0; i < out->n; i++) {
        json_t *p = json_object_get(json_object_get(json_array_get(tools, (size_t)i), "function"), "parameters");
        if (p && !(out->parameters[i] = json_dumps(p, JSON_COMPACT))) return api_errorf(err, 500, "out of memory");
    }
    json_t *schema = reply_schema(out->choice, fns, n, parallel);
    out->schema = schema ? json_dumps(schema, JSON_COMPACT) : NULL;
    json_decref(schema);
    out->instructions = instructions(out->choice, fns, n, parallel);
    return out->schema && out->instructions ? 0 : api_errorf(err, 500, "out of memory");
}

int tools_read(json_t *body, bool chat, api_tools *out, api_error *err) {
    memset(out, 0, sizeof *out);
    static const char *const legacy[] = {"functions", "function_call"};
    for (int i = 0; i < 2; i++)
        if (api_present(json_object_get(body, legacy[i])))
            return api_errorf(err, 400, "'%s' (the deprecated form of function calling) is not supported; give 'tools'", legacy[i]);
    json_t *tools = json_object_get(body, "tools"), *choice = json_object_get(body, "tool_choice");
    bool any = json_is_array(tools) ? json_array_size(tools) > 0 : api_present(tools);
    if (!chat) {
        if (any || api_present(choice)) return api_errorf(err, 400, "'tools' are only supported by /v1/chat/completions");
        return 0;
    }
    bool parallel = true;
    json_t *par = json_object_get(body, "parallel_tool_calls");
    if (api_present(par) && !json_is_boolean(par)) return api_errorf(err, 400, "'parallel_tool_calls' must be a boolean");
    if (api_present(par)) parallel = json_is_true(par);
    if (!any) {
        const char *s = json_string_value(choice);
        if (api_present(choice) && !(s && !strcmp(s, "none"))) return api_errorf(err, 400, "'tool_choice' needs a non-empty 'tools'");
        return 0;
    }
    if (!json_is_array(tools)) return api_errorf(err, 400, "'tools' must be an array of tools");
    if (json_array_size(tools) > API_MAX_TOOLS)
        return api_errorf(err, 400, "'tools' has %zu functions; at most %d are allowed", json_array_size(tools), API_MAX_TOOLS);
    for (size_t i = 0; i < json_array_size(tools); i++)
        if (!read_tool(tools, i, err)) return -1;
    size_t named = 0;
    if (read_choice(choice, tools, &out->choice, &named, err)) return -1;
    if (out->choice == TOOLS_OFF) return 0;
    if (build(out, tools, named, parallel, err)) {
        tools_free(out);
        return -1;
    }
    return 0;
}

void tools_free(api_tools *t) {
    for (int i = 0; t->parameters && i < t->n; i++) free(t->parameters[i]);
    free(t->parameters);
    free(t->schema);
    free(t->instructions);
    memset(t, 0, sizeof *t);
}

/* ===================================================================== the conversation */

char *tools_render_calls(json_t *calls, size_t i, api_error *err) {
    json_t *list = json_array();
    size_t k;
    json_t *call;
    if (!json_is_array(calls)) {
        json_decref(list);
        api_errorf(err, 400, "'messages[%zu].tool_calls' must be an array", i);
        return NULL;
    }
    json_array_foreach(calls, k, call) {
        json_t *fn = json_object_get(call, "function"), *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
        if (!json_is_string(name) || (api_present(args) && !json_is_string(args) && !json_is_object(args))) {
            json_decref(list);
            api_errorf(err, 400, "'messages[%zu].tool_calls[%zu]' must be {\"function\": {\"name\": string, \"arguments\": JSON text}}",
                       i, k);
            return NULL;
        }
        /* arguments are a JSON text (OpenAI's form); one that does not parse stays a string */
        json_t *parsed = json_is_string(args) ? json_loadb(json_string_value(args), json_string_length(args), JSON_DECODE_ANY, NULL)
                                              : NULL;
        json_t *value = parsed ? parsed : api_present(args) ? json_incref(args) : json_object();
        json_array_append_new(list, json_pack("{s:O, s:o}", "name", name, "arguments", value));
    }
    json_t *obj = json_pack("{s:o}", "tool_calls", list);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text) api_errorf(err, 500, "out of memory");
    return text;
}

char *tools_render_response(const char *text) {
    json_t *obj = json_pack("{s:s}", "response", text);
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    return s;
}

/* ===================================================================== the reply */

enum { TR_OPEN, TR_TEXT, TR_AFTER, TR_OTHER };

static const char OPENING[] = "{\"response\":\""; /* whitespace may come before '"response"', ':' and '"' */

void tool_reader_init(tool_reader *t) { memset(t, 0, sizeof *t); }
void tool_reader_free(tool_reader *t) {
    free(t->raw);
    free(t->scan.name_raw);
    for (size_t i = 0; i < t->n_calls; i++) free(t->calls[i].name), free(t->calls[i].args);
    free(t->calls);
    memset(t, 0, sizeof *t);
}

static bool append(char **buf, size_t *len, const char *bytes, size_t n) {
    char *bigger = realloc(*buf, *len + n + 1);
    if (!bigger) return false;
    memcpy(bigger + *len, bytes, n);
    *len += n;
    bigger[*len] = '\0';
    *buf = bigger;
    return true;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void read_opening(tool_reader *t) {
    while (t->state == TR_OPEN && t->at < t->len) {
        char c = t->raw[t->at];
        bool ws_ok = t->matched == 1 || t->matched == 11 || t->matched == 12;
        if (ws_ok && is_ws(c)) t->at++;
        else if (c == OPENING[t->matched]) t->at++, t->matched++;
        else t->state = TR_OTHER;
        if (t->matched == sizeof OPENING - 1) t->state = TR_TEXT;
    }
}

static int hex4(const char *s) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) return out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return out[0] = (char)(0xE0 | cp >> 12), out[1] = (char)(0x80 | (cp >> 6 & 0x3F)), out[2] = (char)(0x80 | (cp & 0x3F)), 3;
    out[0] = (char)(0xF0 | cp >> 18), out[1] = (char)(0x80 | (cp >> 12 & 0x3F)), out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The escape at s[0, n) (s[0] is '\\'): its bytes into out, *used its length; 0 when it is not
 * whole yet. A lone surrogate (the constraint never writes one) becomes U+FFFD. */
static size_t unescape(const char *s, size_t n, char *out, size_t *used) {
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (n < 2) return 0;
    const char *p = memchr(from, s[1], sizeof from - 1);
    if (p) return *used = 2, out[0] = to[p - from], 1;
    if (s[1] != 'u' || n < 6) return 0;
    int cp = hex4(s + 2);
    *used = 6;
    if (cp >= 0xD800 && cp < 0xDC00) {
        if (n < 12) return 0;
        int lo = s[6] == '\\' && s[7] == 'u' ? hex4(s + 8) : -1;
        if (lo >= 0xDC00 && lo < 0xE000) return *used = 12, put_utf8(out, 0x10000 + ((uint32_t)(cp - 0xD800) << 10) + (uint32_t)(lo - 0xDC00));
    }
    return put_utf8(out, cp < 0 || (cp >= 0xD800 && cp < 0xE000) ? 0xFFFD : (uint32_t)cp);
}

static bool read_text(tool_reader *t, char **text, size_t *text_len) {
    while (t->state == TR_TEXT && t->at < t->len) {
        const char *s = t->raw + t->at;
        size_t n = t->len - t->at, run = 0;
        while (run < n && s[run] != '"' && s[run] != '\\') run++;
        if (run && !append(text, text_len, s, run)) return false;
        t->at += run;
        if (run == n) break;
        if (s[run] == '"') {
            t->at++;
            t->state = TR_AFTER;
            break;
        }
        char out[4];
        size_t used = 0, m = unescape(s + run, n - run, out, &used);
        if (!m) break; /* the rest of the escape comes with the next bytes */
        if (!append(text, text_len, out, m)) return false;
        t->at += used;
    }
    return true;
}

/* ---- the calls of a {"tool_calls": [...]} reply as they stream: a JSON scan that follows the
 * depth, strings and the keys at depth 1 ("tool_calls") and 3 (a call's "name" and
 * "arguments"); each object opened at depth 3 in the tool_calls array begins a call. */

enum { CAPTURE_NONE, CAPTURE_NAME, CAPTURE_ARGS };
enum { ARGS_NONE, ARGS_CONTAINER, ARGS_STRING, ARGS_BARE };

static bool in_array(const tool_scan *sc) { return sc->depth >= 1 && sc->depth <= 64 && (sc->arrays >> (sc->depth - 1) & 1); }

static tool_call_text *current_call(tool_reader *t) { return t->n_calls ? &t->calls[t->n_calls - 1] : NULL; }

static bool begin_call(tool_reader *t) {
    tool_call_text *bigger = realloc(t->calls, (t->n_calls + 1) * sizeof *bigger);
    if (!bigger) return false;
    t->calls = bigger;
    memset(&t->calls[t->n_calls++], 0, sizeof *t->calls);
    return true;
}

/* The current call's name from its JSON string (name_raw, quotes included). */
static bool name_done(tool_reader *t) {
    tool_scan *sc = &t->scan;
    json_t *v = json_loadb(sc->name_raw, sc->name_len, JSON_DECODE_ANY, NULL);
    tool_call_text *call = current_call(t);
    bool ok = !call || call->name || !json_is_string(v) || (call->name = strdup(json_string_value(v))) != NULL;
    json_decref(v);
    free(sc->name_raw);
    sc->name_raw = NULL;
    sc->name_len = 0;
    sc->capture = CAPTURE_NONE;
    return ok;
}

static void args_done(tool_reader *t) {
    tool_call_text *call = current_call(t);
    if (call) call->args_done = true;
    t->scan.capture = CAPTURE_NONE;
}

/* A byte inside a string: kept for the key, the name or the arguments it belongs to. */
static bool scan_string_byte(tool_reader *t, char c, bool *key_string) {
    tool_scan *sc = &t->scan;
    bool closes = !sc->escape && c == '"';
    sc->escape = !sc->escape && c == '\\';
    if (sc->capture == CAPTURE_ARGS) {
        tool_call_text *call = current_call(t);
        if (call && !append(&call->args, &call->args_len, &c, 1)) return false;
    }
    if (*key_string && !closes && sc->key_len < sizeof sc->key - 1) sc->key[sc->key_len++] = c;
    if (sc->capture == CAPTURE_NAME && !*key_string && !append(&sc->name_raw, &sc->name_len, &c, 1)) return false;
    if (!closes) return true;
    sc->in_string = false;
    if (*key_string) sc->key[sc->key_len] = '\0', *key_string = false;
    else if (sc->capture == CAPTURE_NAME && sc->depth == 3) return name_done(t);
    else if (sc->capture == CAPTURE_ARGS && sc->args_kind == ARGS_STRING && sc->depth == 3) args_done(t);
    return true;
}

/* A byte outside strings. */
static bool scan_token_byte(tool_reader *t, char c, bool *key_string) {
    tool_scan *sc = &t->scan;
    if (sc->capture == CAPTURE_ARGS && sc->args_kind == ARGS_BARE && sc->depth == 3 && (is_ws(c) || c == ',' || c == '}'))
        args_done(t); /* a number or literal ends before this byte */
    if (is_ws(c)) return true;
    if (sc->capture == CAPTURE_ARGS) {
        if (sc->args_kind == ARGS_NONE) sc->args_kind = c == '{' || c == '[' ? ARGS_CONTAINER : c == '"' ? ARGS_STRING : ARGS_BARE;
        tool_call_text *call = current_call(t);
        if (call && !append(&call->args, &call->args_len, &c, 1)) return false;
    }
    switch (c) {
    case '"':
        sc->in_string = true;
        *key_string = sc->key_next && !in_array(sc);
        if (*key_string) sc->key_len = 0, sc->key_next = false;
        else if (sc->capture == CAPTURE_NAME && sc->depth == 3 && !append(&sc->name_raw, &sc->name_len, &c, 1)) return false;
        return true;
    case '{':
    case '[':
        sc->depth++;
        if (sc->depth <= 64) sc->arrays = (sc->arrays & ~(1ull << (sc->depth - 1))) | (uint64_t)(c == '[') << (sc->depth - 1);
        sc->key_next = c == '{';
        if (c == '{' && sc->depth == 3 && sc->calls_form && sc->capture == CAPTURE_NONE && (sc->arrays >> 1 & 1)) return begin_call(t);
        return true;
    case '}':
    case ']':
        if (sc->depth > 0) sc->depth--; /* not JSON: a reply that closes more than it opened */
        sc->key_next = false;
        if (sc->capture == CAPTURE_ARGS && sc->args_kind == ARGS_CONTAINER && sc->depth == 3) args_done(t);
        return true;
    case ',':
        sc->key_next = sc->depth >= 1 && !in_array(sc);
        return true;
    case ':':
        if (sc->depth == 1) sc->calls_form = !strcmp(sc->key, "tool_calls");
        if (sc->depth == 3 && sc->calls_form && t->n_calls) {
            sc->capture = !strcmp(sc->key, "name") ? CAPTURE_NAME : !strcmp(sc->key, "arguments") ? CAPTURE_ARGS : CAPTURE_NONE;
            sc->args_kind = ARGS_NONE;
        }
        return true;
    default:
        return true;
    }
}

/* Scans raw[scan.at, len). */
static bool scan_calls(tool_reader *t) {
    tool_scan *sc = &t->scan;
    for (; sc->at < t->len; sc->at++) {
        char c = t->raw[sc->at];
        bool ok = sc->in_string ? scan_string_byte(t, c, &sc->in_key) : scan_token_byte(t, c, &sc->in_key);
        if (!ok) return false;
    }
    return true;
}

tool_call_step tool_call_next(const tool_reader *t, tool_call_cursor *cur, size_t *index, const char **name, const char **text,
                              size_t *len) {
    if (cur->call >= t->n_calls) return CALL_NOTHING;
    const tool_call_text *c = &t->calls[cur->call];
    *index = cur->call, *name = c->name, *text = c->args ? c->args : "", *len = 0;
    if (!cur->begun) {
        if (!c->name) return CALL_NOTHING;
        cur->begun = true;
        return CALL_BEGIN;
    }
    if (c->args_len > cur->args) {
        *text += cur->args, *len = c->args_len - cur->args;
        cur->args = c->args_len;
        return CALL_ARGS;
    }
    if (!c->args_done) return CALL_NOTHING;
    *len = c->args_len;
    cur->call++, cur->args = 0, cur->begun = false;
    return CALL_END;
}

const tool_call_text *tool_reader_calls(const tool_reader *t, size_t *n) {
    *n = t->n_calls;
    return t->calls;
}

bool tool_reader_feed(tool_reader *t, const char *bytes, size_t n, char **text, size_t *text_len) {
    if (!append(&t->raw, &t->len, bytes, n) || !scan_calls(t)) return false;
    read_opening(t);
    return read_text(t, text, text_len);
}

/* OpenAI's call id: "call_" and 16 hex digits of FNV-1a over the seed, mixed with the call's
 * index (splitmix64's finalizer, so that neighbouring calls' ids look unrelated). */
void tools_call_id(const char *seed, size_t index, char out[32]) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = seed; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    h = bn_mix64(h + (index + 1) * 0x9E3779B97F4A7C15ull);
    snprintf(out, 32, "call_%016llx", (unsigned long long)h);
}

/* A call's "arguments" text: as written less the whitespace between tokens (what a stream
 * sent), when the scan read the value the parse did (a reply with a key twice may differ),
 * else jansson's compact form. malloc'd; NULL when out of memory. */
static char *scanned_args(json_t *args, const tool_call_text *scanned) {
    json_t *back = scanned && scanned->args_done ? json_loads(scanned->args, JSON_DECODE_ANY, NULL) : NULL;
    char *text = back && json_equal(back, args) ? strdup(scanned->args) : json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(back);
    return text;
}

/* {"tool_calls": [{"name", "arguments"}, ...]} -> OpenAI's tool_calls, or NULL. */
static json_t *openai_calls(json_t *reply, const char *id_seed, const tool_call_text *scanned_calls, size_t n_scanned) {
    json_t *calls = json_object_get(reply, "tool_calls"), *out = json_array(), *call;
    size_t i;
    if (!json_is_array(calls) || !json_array_size(calls)) calls = NULL;
    json_array_foreach(calls, i, call) {
        json_t *name = json_object_get(call, "name"), *args = json_object_get(call, "arguments");
        char *args_text = args ? scanned_args(args, i < n_scanned ? &scanned_calls[i] : NULL) : NULL, id[32];
        tools_call_id(id_seed, i, id);
        json_t *one = json_is_string(name) && args_text
                          ? json_pack("{s:s, s:s, s:{s:O, s:s}}", "id", id, "type", "function", "function", "name", name,
                                      "arguments", args_text)
                          : NULL;
        free(args_text);
        if (!one || json_array_append_new(out, one)) calls = NULL;
        if (!calls) break;
    }
    if (calls) return out;
    json_decref(out);
    return NULL;
}

json_t *tool_reader_finish(tool_reader *t, const char *id_seed, const char **raw, size_t *raw_len) {
    *raw = NULL;
    *raw_len = 0;
    if (t->state == TR_TEXT || t->state == TR_AFTER) return NULL;
    json_t *reply = t->len ? json_loadb(t->raw, t->len, 0, NULL) : NULL;
    json_t *calls = json_is_object(reply) ? openai_calls(reply, id_seed, t->calls, t->n_calls) : NULL;
    json_decref(reply);
    if (!calls) *raw = t->raw ? t->raw : "", *raw_len = t->len;
    return calls;
}

json_t *tool_reader_read(tool_reader *t, const char *reply, size_t len, const char *id_seed, char **text, size_t *text_len) {
    const char *raw = NULL;
    size_t raw_len = 0;
    *text = NULL;
    *text_len = 0;
    json_t *calls = tool_reader_feed(t, reply, len, text, text_len) ? tool_reader_finish(t, id_seed, &raw, &raw_len) : NULL;
    if (!calls && raw && raw_len) { /* neither calls nor the answer form: the whole reply */
        free(*text);
        *text = malloc(raw_len);
        if (*text) memcpy(*text, raw, raw_len);
        *text_len = *text ? raw_len : 0;
    }
    return calls;
}
