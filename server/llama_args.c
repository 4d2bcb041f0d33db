/* llama_args: llama-server's command-line options beyond bitnet-server's own (see llama_args.h). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama_args.h"
#include "llama_flags.h"
#include "openai.h"
#include "request.h"

/* ARG_APPEND: each use adds its string to the field's array ("none": an empty array). */
typedef enum arg_kind { ARG_FLOAT, ARG_INT, ARG_FLAG, ARG_NAMES, ARG_LETTERS, ARG_APPEND } arg_kind;

/* llama-server's sampling options and the request field each sets for requests that give none. */
static const struct {
    const char *name, *alias, *field;
    arg_kind kind;
} sampling_args[] = {
    {"--temp", "--temperature", "temperature", ARG_FLOAT},
    {"--top-k", NULL, "top_k", ARG_INT},
    {"--top-p", NULL, "top_p", ARG_FLOAT},
    {"--min-p", NULL, "min_p", ARG_FLOAT},
    {"--typical", "--typical-p", "typical_p", ARG_FLOAT},
    {"--top-nsigma", "--top-n-sigma", "top_n_sigma", ARG_FLOAT},
    {"--repeat-penalty", NULL, "repeat_penalty", ARG_FLOAT},
    {"--repeat-last-n", NULL, "repeat_last_n", ARG_INT},
    {"--presence-penalty", NULL, "presence_penalty", ARG_FLOAT},
    {"--frequency-penalty", NULL, "frequency_penalty", ARG_FLOAT},
    {"--dry-multiplier", NULL, "dry_multiplier", ARG_FLOAT},
    {"--dry-base", NULL, "dry_base", ARG_FLOAT},
    {"--dry-allowed-length", NULL, "dry_allowed_length", ARG_INT},
    {"--dry-penalty-last-n", NULL, "dry_penalty_last_n", ARG_INT},
    {"--dry-sequence-breaker", NULL, "dry_sequence_breakers", ARG_APPEND},
    {"--xtc-probability", NULL, "xtc_probability", ARG_FLOAT},
    {"--xtc-threshold", NULL, "xtc_threshold", ARG_FLOAT},
    {"--dynatemp-range", NULL, "dynatemp_range", ARG_FLOAT},
    {"--dynatemp-exp", NULL, "dynatemp_exponent", ARG_FLOAT},
    {"--mirostat", NULL, "mirostat", ARG_INT},
    {"--mirostat-lr", NULL, "mirostat_eta", ARG_FLOAT},
    {"--mirostat-ent", NULL, "mirostat_tau", ARG_FLOAT},
    {"--seed", "-s", "seed", ARG_INT},             /* -1: a new seed per request (the default) */
    {"--n-predict", "-n", "max_tokens", ARG_INT},  /* -1: no limit (the default) */
    {"--predict", NULL, "max_tokens", ARG_INT},
    {"--ignore-eos", NULL, "ignore_eos", ARG_FLAG},
    {"--samplers", NULL, "samplers", ARG_NAMES},   /* names separated by ';' */
    {"--sampling-seq", "--sampler-seq", "samplers", ARG_LETTERS},
};

/* Options taken and left without effect: `why` (NULL: what this server always does) is said on
 * stderr. The ones llama-cli shares (GPU offload, mmap, threads placement, ...) are
 * common/llama_flags.c's. */
static const struct {
    const char *name, *alias;
    bool valued;
    const char *why;
} inert_args[] = {
    {"--ubatch-size", "-ub", true, "a forward pass takes up to -b rows"},
    {"--threads-http", NULL, true, "libmicrohttpd runs one thread per connection"},
    {"--jinja", NULL, false, "chat prompts use the built-in chat formats (--chat-format), not the GGUF's Jinja template"},
    {"--log-disable", NULL, false, "the per-request log lines still go to stderr"},
    {"--no-jinja", NULL, false, NULL},
    {"--no-perf", NULL, false, NULL},
    {"--metrics", NULL, false, NULL},
    {"--slots", NULL, false, NULL},
    {"--cont-batching", "-cb", false, NULL},
    {"--props", NULL, false, "POST /props is not served (GET /props is)"},
    {"--cors-methods", NULL, true, "preflights allow GET, POST and OPTIONS"},
    {"--cors-headers", NULL, true, "preflights allow the headers Authorization, Content-Type and X-Api-Key"},
    {"--cors-credentials", NULL, false, "no reply sets cookies; the API key travels in a header"},
    {"--no-cors-credentials", NULL, false, NULL},
    {"--perf", NULL, false, NULL},
    {"--cache-prompt", NULL, false, NULL},     /* prompts are always cached (a request's cache_prompt: false turns it off) */
    {"--prefill-assistant", NULL, false, NULL},
    {"--webui", "--ui", false, NULL},
    {"--no-cache-prompt", NULL, false, "a slot always reuses the prefix its KV cache holds (the same replies either way)"},
    {"--kv-unified", "-kvu", false, "each slot has its own KV cache of -c / -np positions"},
    {"--no-kv-unified", "-no-kvu", false, NULL},
    {"--swa-full", NULL, false, "no model of this engine uses sliding-window attention"},
    {"--ctx-checkpoints", "-ctxcp", true, "no model of this engine uses sliding-window attention"},
    {"--swa-checkpoints", NULL, true, "no model of this engine uses sliding-window attention"},
    {"--checkpoint-min-step", "-cms", true, "no model of this engine uses sliding-window attention"},
    {"--defrag-thold", "-dt", true, "each slot's KV cache is one contiguous range (nothing to defragment)"},
    {"--slot-prompt-similarity", "-sps", true, "an idle slot is picked by the longest prefix its cache holds"},
    {"--reasoning-format", NULL, true, "no chat format of this server has a reasoning part"},
    {"--reasoning", "-rea", true, "no chat format of this server has a reasoning part"},
    {"--reasoning-budget", NULL, true, "no chat format of this server has a reasoning part"},
    {"--chat-template-kwargs", NULL, true, "the built-in chat formats take no template arguments"},
    {"--special", "-sp", false, "special tokens are not written into replies' text"},
    {"--log-colors", NULL, true, "the log has no colours"},
    {"--log-timestamps", NULL, false, NULL},  /* the request lines have them */
    {"--log-prefix", NULL, false, NULL},
    {"--verbosity", "-lv", true, "--verbose adds the per-slot generation lines"},
    {"--log-verbosity", NULL, true, "--verbose adds the per-slot generation lines"},
};

/* Options for what this server does not have (besides common/llama_flags.c's: LoRA, multimodal,
 * draft models, downloads, RoPE and metadata overrides). */
static const struct {
    const char *name, *alias, *why;
} refused_args[] = {
    {"--no-cont-batching", "-nocb", "this server always batches requests continuously"},
    {"--no-slots", NULL, "GET /slots is always served"},
    {"--spec-draft-model", NULL, "draft models are not supported (--lookup N: speculative decoding by prompt lookup)"},
    {"--draft-max", "--draft", "draft models are not supported (--lookup N: up to N tokens drafted from the prompt)"},
    {"--draft-n", NULL, "draft models are not supported (--lookup N: up to N tokens drafted from the prompt)"},
    {"--draft-min", "--draft-n-min", "draft models are not supported (--lookup N: speculative decoding by prompt lookup)"},
    {"--spec-type", NULL, "speculative decoding here is by prompt lookup only (--lookup N)"},
    {"--lookup-cache-static", "-lcs", "lookup caches are not supported (--lookup N drafts from the request's own tokens)"},
    {"--lookup-cache-dynamic", "-lcd", "lookup caches are not supported (--lookup N drafts from the request's own tokens)"},
    {"--path", NULL, "static files are not served (the chat page at / is built in)"},
    {"--models-dir", NULL, "one server serves one model (-m)"},
    {"--models-preset", NULL, "one server serves one model (-m)"},
    {"--reranking", "--rerank", "reranking is not supported (no reranker model runs here)"},
    {"--sleep-idle-seconds", NULL, "the model stays loaded while the server runs"},
};

static int usage_error(const char *arg, const char *what) {
    fprintf(stderr, "bitnet-server: %s %s (--help for the options)\n", arg, what);
    return 2;
}

/* The value after argv[*i] (advancing *i), or NULL after printing that it is missing. */
static const char *value_of(int argc, char **argv, int *i) {
    if (*i + 1 < argc) return argv[++*i];
    usage_error(argv[*i], "needs a value");
    return NULL;
}

/* "a;b;c" as a JSON array of the names; NULL when out of memory. */
static json_t *name_list(const char *v) {
    json_t *a = json_array();
    for (const char *p = v; a && *p;) {
        size_t n = strcspn(p, ";");
        if (n && json_array_append_new(a, json_stringn(p, n))) {
            json_decref(a);
            return NULL;
        }
        p += n + (p[n] == ';');
    }
    return a;
}

/* The JSON value of one sampling option's text v; NULL after printing why not. -1 for the seed
 * and the token limit gives json_null(): the field is then left to the request. */
static json_t *sampling_value(const char *arg, arg_kind kind, const char *v, bool unset_at_minus_one) {
    char *end;
    errno = 0;
    if (kind == ARG_NAMES) return name_list(v);
    if (kind == ARG_LETTERS || kind == ARG_APPEND) {
        json_t *x = json_string(v);
        if (!x) usage_error(arg, "needs UTF-8 text");
        return x;
    }
    if (kind == ARG_FLOAT) {
        double x = strtod(v, &end);
        if (!errno && end != v && !*end) return json_real(x);
        usage_error(arg, "needs a number");
        return NULL;
    }
    long long n = strtoll(v, &end, 10);
    if (!errno && end != v && !*end) return unset_at_minus_one && n == -1 ? json_null() : json_integer(n);
    usage_error(arg, "needs an integer");
    return NULL;
}

/* The request defaults, made when the first option sets one; NULL when out of memory. */
static json_t *defaults_of(server_options *o) {
    if (!o->request_defaults) o->request_defaults = json_object();
    return o->request_defaults;
}

/* The array `field` of the defaults (made empty when absent); NULL when out of memory. */
static json_t *default_list(server_options *o, const char *field) {
    json_t *d = defaults_of(o), *list = d ? json_object_get(d, field) : NULL;
    if (d && !list && json_object_set_new(d, field, list = json_array())) list = NULL;
    return list;
}

/* Sets defaults[field] to v (taken over); 1, or 2 when out of memory. */
static int set_default(server_options *o, const char *arg, const char *field, json_t *v) {
    json_t *d = defaults_of(o);
    if (v && d && !json_object_set_new(d, field, v)) return 1;
    if (!d) json_decref(v);
    return usage_error(arg, "(out of memory)");
}

/* Adds x (a string, taken over) to the array `field` of the defaults, made empty by "none": 1,
 * or 2 when out of memory. */
static int append_default(server_options *o, const char *arg, const char *field, json_t *x) {
    json_t *list = default_list(o, field);
    bool none = !strcmp(json_string_value(x), "none");
    if (list && none) json_array_clear(list);
    int rc = !list || (!none && json_array_append(list, x)) ? usage_error(arg, "(out of memory)") : 1;
    json_decref(x);
    return rc;
}

/* One of sampling_args at argv[*i]: 1 taken, 0 not one, 2 usage error. */
static int take_sampling(server_options *o, int argc, char **argv, int *i) {
    const char *arg = argv[*i];
    for (size_t k = 0; k < sizeof sampling_args / sizeof sampling_args[0]; k++) {
        if (!server_opt_is(arg, sampling_args[k].name, sampling_args[k].alias)) continue;
        const char *field = sampling_args[k].field, *v = NULL;
        if (sampling_args[k].kind != ARG_FLAG && !(v = value_of(argc, argv, i))) return 2;
        bool unset = !strcmp(field, "seed") || !strcmp(field, "max_tokens");
        json_t *x = v ? sampling_value(arg, sampling_args[k].kind, v, unset) : json_true();
        if (!x) return 2;
        if (sampling_args[k].kind == ARG_APPEND) return append_default(o, arg, field, x);
        if (!json_is_null(x)) return set_default(o, arg, field, x);
        json_decref(x);
        if (o->request_defaults) json_object_del(o->request_defaults, field);
        return 1;
    }
    return 0;
}

/* Why arg is refused (this server's refused_args, then llama_flags.h's), or NULL. */
static const char *refusal_of(const char *arg) {
    for (size_t k = 0; k < sizeof refused_args / sizeof refused_args[0]; k++)
        if (server_opt_is(arg, refused_args[k].name, refused_args[k].alias)) return refused_args[k].why;
    const llama_flag *f = llama_flag_find(arg);
    return f && f->refused ? f->why : NULL;
}

/* Whether arg is an inert option (this server's inert_args, then llama_flags.h's): whether it
 * takes a value and its note (NULL: none) into *valued and *why. */
static bool inert_of(const char *arg, bool *valued, const char **why) {
    for (size_t k = 0; k < sizeof inert_args / sizeof inert_args[0]; k++)
        if (server_opt_is(arg, inert_args[k].name, inert_args[k].alias)) {
            *valued = inert_args[k].valued;
            *why = inert_args[k].why;
            return true;
        }
    const llama_flag *f = llama_flag_find(arg);
    if (!f || f->refused) return false;
    *valued = f->valued;
    *why = f->why;
    return true;
}

/* A refused or inert option at argv[*i]: 1 taken, 0 not one, 2 refused or usage error. */
static int take_inert(int argc, char **argv, int *i) {
    const char *arg = argv[*i], *why = refusal_of(arg);
    if (why) {
        fprintf(stderr, "bitnet-server: %s is refused: %s (--help for the options)\n", arg, why);
        return 2;
    }
    if (server_opt_is(arg, "--flash-attn", "-fa")) { /* a switch in older llama-server, on|off|auto in newer */
        if (*i + 1 < argc && llama_switch_word(argv[*i + 1])) ++*i;
        fprintf(stderr, "bitnet-server: %s ignored: attention has one implementation here\n", arg);
        return 1;
    }
    bool valued;
    if (!inert_of(arg, &valued, &why)) return 0;
    if (valued && !value_of(argc, argv, i)) return 2;
    if (why) fprintf(stderr, "bitnet-server: %s ignored: %s\n", arg, why);
    return 1;
}

#define MAX_OPTION_FILE (1 << 20)

char *llama_args_read_file(const char *arg, const char *path) {
    FILE *f = fopen(path, "rb");
    char *text = f ? malloc(MAX_OPTION_FILE + 1) : NULL;
    size_t n = text ? fread(text, 1, MAX_OPTION_FILE + 1, f) : 0;
    bool bad = !text || ferror(f) || n > MAX_OPTION_FILE || memchr(text, 0, n);
    if (f) fclose(f);
    if (!bad) {
        text[n] = 0;
        return text;
    }
    free(text);
    fprintf(stderr, "bitnet-server: %s %s: %s (--help for the options)\n", arg, path,
            !f ? strerror(errno) : !text ? "out of memory" : n > MAX_OPTION_FILE ? "larger than 1 MiB" : "not a text file");
    return NULL;
}

/* --chat-template NAME|TEMPLATE and --chat-template-file FILE (llama-server's): a built-in format's
 * name, or a Jinja chat template of one (bn_chat_format_from_template); /props shows a template
 * given. 1 taken, 0 not one, 2 refused. */
static int take_chat_template(server_options *o, int argc, char **argv, int *i) {
    const char *arg = argv[*i];
    bool from_file = !strcmp(arg, "--chat-template-file");
    if (!from_file && strcmp(arg, "--chat-template")) return 0;
    const char *v = value_of(argc, argv, i);
    if (!v) return 2;
    bn_chat_format f;
    bool is_name = !from_file && bn_chat_format_from_name(v, &f) == 0;
    char *text = is_name ? NULL : from_file ? llama_args_read_file(arg, v) : strdup(v); /* a template's text: /props shows it */
    if (!is_name && !text) return from_file ? 2 : usage_error(arg, "(out of memory)");
    if (!is_name && bn_chat_format_from_template(text, &f)) {
        fprintf(stderr, "bitnet-server: %s: %s; --chat-format plain sends messages as plain text (--help for the options)\n", arg,
                bitnet_get_last_error());
        free(text);
        return 2;
    }
    free(o->chat_template);
    o->chat_template = text;
    o->chat_format = bn_chat_format_name(f);
    return 1;
}

/* -l/--logit-bias TOKEN_ID(+|-)BIAS (llama.cpp's form; -inf bans the token): one more [id, bias]
 * pair of the default logit_bias ([id, false] for a ban). 1, or 2 after printing why not. */
static int take_logit_bias(server_options *o, const char *arg, const char *v) {
    char *end;
    errno = 0;
    long long id = strtoll(v, &end, 10);
    bool signed_bias = end != v && (*end == '+' || *end == '-');
    bool ban = signed_bias && (!strcmp(end, "-inf") || !strcmp(end, "-INF"));
    double bias = signed_bias && !ban ? strtod(end, &end) : 0;
    if (errno || id < 0 || id > INT32_MAX || !signed_bias || (!ban && (*end || isinf(bias) || isnan(bias))))
        return usage_error(arg, "needs TOKEN_ID+BIAS or TOKEN_ID-BIAS (-inf bans the token), e.g. 15043+1 or 128009-inf");
    json_t *list = default_list(o, "logit_bias");
    if (!list || json_array_append_new(list, json_pack("[I, o]", (json_int_t)id, ban ? json_false() : json_real(bias))))
        return usage_error(arg, "(out of memory)");
    return 1;
}

/* --grammar, --grammar-file, -j/--json-schema, -jf/--json-schema-file: llama-server's default
 * constraint, as the request fields grammar or json_schema (one of them: the last given wins);
 * apply_defaults leaves it out of a request that brings a constraint of its own. -l too.
 * 1 taken, 0 not one, 2 refused. */
static int take_constraint(server_options *o, int argc, char **argv, int *i) {
    const char *arg = argv[*i], *v;
    bool grammar = server_opt_is(arg, "--grammar", NULL), grammar_file = server_opt_is(arg, "--grammar-file", NULL);
    bool schema = server_opt_is(arg, "--json-schema", "-j"), schema_file = server_opt_is(arg, "--json-schema-file", "-jf");
    bool bias = server_opt_is(arg, "--logit-bias", "-l");
    if (!grammar && !grammar_file && !schema && !schema_file && !bias) return 0;
    if (!(v = value_of(argc, argv, i))) return 2;
    if (bias) return take_logit_bias(o, arg, v);
    char *file = grammar_file || schema_file ? llama_args_read_file(arg, v) : NULL;
    if ((grammar_file || schema_file) && !file) return 2;
    const char *text = file ? file : v;
    json_t *x = NULL;
    if (grammar || grammar_file) {
        x = json_string(text);
    } else {
        json_error_t jerr;
        x = json_loads(text, JSON_DECODE_ANY, &jerr);
        if (x && !json_is_object(x) && !json_is_boolean(x)) json_decref(x), x = NULL;
        if (!x) {
            fprintf(stderr, "bitnet-server: %s: not a JSON Schema (a JSON object): %s (line %d, column %d) (--help for the options)\n", arg,
                    jerr.text[0] ? jerr.text : "not an object", jerr.line, jerr.column);
            free(file);
            return 2;
        }
    }
    free(file);
    if (!x) return usage_error(arg, "needs UTF-8 text");
    if (o->request_defaults) json_object_del(o->request_defaults, grammar || grammar_file ? "json_schema" : "grammar");
    return set_default(o, arg, grammar || grammar_file ? "grammar" : "json_schema", x);
}

int llama_args_take(server_options *o, int argc, char **argv, int *i) {
    int rc = take_sampling(o, argc, argv, i);
    if (!rc) rc = take_chat_template(o, argc, argv, i);
    if (!rc) rc = take_constraint(o, argc, argv, i);
    return rc ? rc : take_inert(argc, argv, i);
}

/* Each request kind with nothing but the defaults must parse (and with the model, build: a
 * default grammar's token references, a logit bias's ids): a bad default would otherwise turn
 * every request away. */
int llama_args_check(const server_options *o, const request_model *m) {
    static const char *const bodies[2] = {"{\"prompt\": \"a\"}", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}"};
    static const api_kind kinds[2] = {API_NATIVE, API_CHAT};
    for (int k = 0; o->request_defaults && k < 2; k++) {
        api_request r;
        gen_request built;
        api_error err;
        int rc = m ? request_build(m, kinds[k], bodies[k], strlen(bodies[k]), 0, &built, &err)
                   : api_parse_request(kinds[k], bodies[k], strlen(bodies[k]), 0, o->request_defaults, &r, &err);
        if (rc) {
            fprintf(stderr, "bitnet-server: a default option (sampling, grammar, JSON schema or logit bias) is refused for %s requests: %s "
                            "(--help for the options)\n", kinds[k] == API_CHAT ? "OpenAI" : "/completion", err.message);
            return 2;
        }
        if (m) gen_request_free(&built);
        else api_request_free(&r);
    }
    return 0;
}

/* llama-server's environment variables (LLAMA_ARG_*, LLAMA_API_KEY; a container's usual way to
 * configure it) for the options this server takes: valued ones give the option and the value;
 * switches (`on`) the option when the value is true (on, enabled, true, 1) and `off` (NULL:
 * nothing) when it is false (off, disabled, false, 0); any other value of a switch with an `off`
 * form is refused, as llama-server refuses it. */
static const struct {
    const char *env, *on, *off;
    bool valued;
} env_args[] = {
    {"LLAMA_ARG_MODEL", "-m", NULL, true},
    {"LLAMA_ARG_HOST", "--host", NULL, true},
    {"LLAMA_ARG_PORT", "--port", NULL, true},
    {"LLAMA_ARG_N_PARALLEL", "-np", NULL, true},
    {"LLAMA_ARG_CTX_SIZE", "-c", NULL, true},
    {"LLAMA_ARG_THREADS", "-t", NULL, true},
    {"LLAMA_ARG_BATCH", "-b", NULL, true},
    {"LLAMA_ARG_ALIAS", "--alias", NULL, true},
    {"LLAMA_API_KEY", "--api-key", NULL, true},
    {"LLAMA_ARG_API_KEY_FILE", "--api-key-file", NULL, true},
    {"LLAMA_ARG_API_PREFIX", "--api-prefix", NULL, true},
    {"LLAMA_ARG_SSL_KEY_FILE", "--ssl-key-file", NULL, true},
    {"LLAMA_ARG_SSL_CERT_FILE", "--ssl-cert-file", NULL, true},
    {"LLAMA_ARG_CORS_ORIGINS", "--cors", NULL, true},
    {"LLAMA_ARG_TIMEOUT", "--timeout", NULL, true},
    {"LLAMA_ARG_SSE_PING_INTERVAL", "--sse-ping-interval", NULL, true},
    {"LLAMA_ARG_LOG_FILE", "--log-file", NULL, true},
    {"LLAMA_ARG_CACHE_RAM", "--cache-ram", NULL, true},
    {"LLAMA_ARG_CACHE_REUSE", "--cache-reuse", NULL, true},
    {"LLAMA_ARG_CACHE_TYPE_K", "-ctk", NULL, true},
    {"LLAMA_ARG_CACHE_TYPE_V", "-ctv", NULL, true},
    {"LLAMA_ARG_CHAT_TEMPLATE", "--chat-template", NULL, true},
    {"LLAMA_ARG_CHAT_TEMPLATE_FILE", "--chat-template-file", NULL, true},
    {"LLAMA_ARG_CHAT_TEMPLATE_KWARGS", "--chat-template-kwargs", NULL, true},
    {"LLAMA_ARG_POOLING", "--pooling", NULL, true},
    {"LLAMA_ARG_N_PREDICT", "-n", NULL, true},
    {"LLAMA_ARG_TOP_K", "--top-k", NULL, true},
    {"LLAMA_ARG_N_GPU_LAYERS", "-ngl", NULL, true},
    {"LLAMA_ARG_FLASH_ATTN", "-fa", NULL, true},
    {"LLAMA_ARG_UBATCH", "-ub", NULL, true},
    {"LLAMA_ARG_THREADS_HTTP", "--threads-http", NULL, true},
    {"LLAMA_ARG_DEFRAG_THOLD", "-dt", NULL, true},
    {"LLAMA_ARG_REASONING", "-rea", NULL, true},
    {"LLAMA_ARG_HF_REPO", "-hf", NULL, true},
    {"LLAMA_ARG_MODEL_URL", "-mu", NULL, true},
    {"LLAMA_ARG_MMPROJ", "--mmproj", NULL, true},
    {"LLAMA_ARG_SPEC_DRAFT_MODEL", "-md", NULL, true},
    {"LLAMA_ARG_CONTEXT_SHIFT", "--context-shift", "--no-context-shift", false},
    {"LLAMA_ARG_CONT_BATCHING", "-cb", "-nocb", false},
    {"LLAMA_ARG_ENDPOINT_SLOTS", "--slots", "--no-slots", false},
    {"LLAMA_ARG_UI", "--webui", "--no-webui", false},
    {"LLAMA_ARG_JINJA", "--jinja", "--no-jinja", false},
    {"LLAMA_ARG_MMAP", "--mmap", "--no-mmap", false},
    {"LLAMA_ARG_CACHE_PROMPT", "--cache-prompt", "--no-cache-prompt", false},
    {"LLAMA_ARG_PREFILL_ASSISTANT", "--prefill-assistant", "--no-prefill-assistant", false},
    {"LLAMA_ARG_KV_UNIFIED", "-kvu", "-no-kvu", false},
    {"LLAMA_ARG_EMBEDDINGS", "--embeddings", NULL, false},
    {"LLAMA_ARG_ENDPOINT_METRICS", "--metrics", NULL, false},
    {"LLAMA_ARG_ENDPOINT_PROPS", "--props", NULL, false},
    {"LLAMA_ARG_REUSE_PORT", "--reuse-port", NULL, false},
    {"LLAMA_ARG_MLOCK", "--mlock", NULL, false},
    {"LLAMA_ARG_OFFLINE", "--offline", NULL, false},
};

static bool env_true(const char *v) { return !strcmp(v, "on") || !strcmp(v, "enabled") || !strcmp(v, "true") || !strcmp(v, "1"); }
static bool env_false(const char *v) { return !strcmp(v, "off") || !strcmp(v, "disabled") || !strcmp(v, "false") || !strcmp(v, "0"); }

int llama_args_with_env(int argc, char **argv, int *out_argc, char ***out_argv) {
    size_t n_env = sizeof env_args / sizeof env_args[0];
    char **all = malloc(sizeof *all * ((size_t)argc + 2 * n_env + 1));
    if (!all) return usage_error("the environment's options:", "(out of memory)");
    int n = 0;
    all[n++] = argv[0];
    for (size_t k = 0; k < n_env; k++) {
        const char *v = getenv(env_args[k].env);
        if (!v) continue;
        const char *opt = env_args[k].valued || env_true(v) ? env_args[k].on : env_false(v) ? env_args[k].off : NULL;
        if (!env_args[k].valued && env_args[k].off && !env_true(v) && !env_false(v)) {
            fprintf(stderr, "bitnet-server: %s=%s: a switch takes on, enabled, true, 1, off, disabled, false or 0\n", env_args[k].env, v);
            free(all);
            return 2;
        }
        if (!opt) continue;
        fprintf(stderr, "bitnet-server: from the environment, %s: %s%s%s\n", env_args[k].env, opt, env_args[k].valued ? " " : "",
                env_args[k].valued ? (!strcmp(env_args[k].on, "--api-key") ? "(a key)" : v) : ""); /* keys are not logged */
        all[n++] = (char *)opt;
        if (env_args[k].valued) all[n++] = (char *)v;
    }
    for (int i = 1; i < argc; i++) all[n++] = argv[i]; /* the command line's, after: they win */
    all[n] = NULL;
    *out_argc = n;
    *out_argv = all;
    return 0;
}
