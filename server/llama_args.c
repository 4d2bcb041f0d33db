/* llama_args: llama-server's command-line options beyond bitnet-server's own (see llama_args.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama_args.h"
#include "openai.h"

typedef enum arg_kind { ARG_FLOAT, ARG_INT, ARG_FLAG, ARG_NAMES, ARG_LETTERS } arg_kind;

/* llama-server's sampling options and the request field each sets for requests that give none. */
static const struct {
    const char *name, *alias, *field;
    arg_kind kind;
} sampling_args[] = {
    {"--temp", NULL, "temperature", ARG_FLOAT},
    {"--top-k", NULL, "top_k", ARG_INT},
    {"--top-p", NULL, "top_p", ARG_FLOAT},
    {"--min-p", NULL, "min_p", ARG_FLOAT},
    {"--typical", NULL, "typical_p", ARG_FLOAT},
    {"--top-nsigma", NULL, "top_n_sigma", ARG_FLOAT},
    {"--repeat-penalty", NULL, "repeat_penalty", ARG_FLOAT},
    {"--repeat-last-n", NULL, "repeat_last_n", ARG_INT},
    {"--presence-penalty", NULL, "presence_penalty", ARG_FLOAT},
    {"--frequency-penalty", NULL, "frequency_penalty", ARG_FLOAT},
    {"--dry-multiplier", NULL, "dry_multiplier", ARG_FLOAT},
    {"--dry-base", NULL, "dry_base", ARG_FLOAT},
    {"--dry-allowed-length", NULL, "dry_allowed_length", ARG_INT},
    {"--dry-penalty-last-n", NULL, "dry_penalty_last_n", ARG_INT},
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

/* Options taken and left without effect: `why` (NULL: what this server always does) is said on stderr. */
static const struct {
    const char *name, *alias;
    bool valued;
    const char *why;
} inert_args[] = {
    {"--n-gpu-layers", "-ngl", true, "this engine runs on the CPU (no GPU offload)"},
    {"--gpu-layers", NULL, true, "this engine runs on the CPU (no GPU offload)"},
    {"--device", "-dev", true, "this engine runs on the CPU"},
    {"--split-mode", "-sm", true, "this engine runs on the CPU"},
    {"--main-gpu", "-mg", true, "this engine runs on the CPU"},
    {"--tensor-split", "-ts", true, "this engine runs on the CPU"},
    {"--threads-batch", "-tb", true, "prompts run on the -t threads too"},
    {"--ubatch-size", "-ub", true, "a forward pass takes up to -b rows"},
    {"--threads-http", NULL, true, "libmicrohttpd runs one thread per connection"},
    {"--numa", NULL, true, "threads are not placed by NUMA node"},
    {"--mlock", NULL, false, "the model's pages are not locked in memory"},
    {"--no-mmap", NULL, false, "the model file is always memory-mapped"},
    {"--jinja", NULL, false, "chat prompts use the built-in chat formats (--chat-format), not the GGUF's Jinja template"},
    {"--log-disable", NULL, false, "the per-request log lines still go to stderr"},
    {"--mmap", NULL, false, NULL},
    {"--no-jinja", NULL, false, NULL},
    {"--no-warmup", NULL, false, NULL},
    {"--no-perf", NULL, false, NULL},
    {"--metrics", NULL, false, NULL},
    {"--slots", NULL, false, NULL},
    {"--cont-batching", "-cb", false, NULL},
};

/* Options for what this server does not have. */
static const struct {
    const char *name, *alias, *why;
} refused_args[] = {
    {"--no-cont-batching", "-nocb", "this server always batches requests continuously"},
    {"--no-slots", NULL, "GET /slots is always served"},
    {"--lora", NULL, "LoRA adapters are not supported"},
    {"--lora-scaled", NULL, "LoRA adapters are not supported"},
    {"--mmproj", NULL, "multimodal models are not supported"},
    {"--hf-repo", "-hf", "models are not downloaded at run time (make download, or huggingface-cli; see the README)"},
    {"--model-url", "-mu", "models are not downloaded at run time (make download, or huggingface-cli; see the README)"},
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
    if (kind == ARG_LETTERS) return json_string(v);
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
        if (!o->request_defaults && !(o->request_defaults = json_object())) {
            json_decref(x);
            return usage_error(arg, "(out of memory)");
        }
        if (json_is_null(x)) {
            json_decref(x);
            json_object_del(o->request_defaults, field);
        } else if (json_object_set_new(o->request_defaults, field, x)) {
            return usage_error(arg, "(out of memory)");
        }
        return 1;
    }
    return 0;
}

/* One of inert_args or refused_args at argv[*i]: 1 taken, 0 not one, 2 refused or usage error. */
static int take_inert(int argc, char **argv, int *i) {
    const char *arg = argv[*i];
    for (size_t k = 0; k < sizeof refused_args / sizeof refused_args[0]; k++)
        if (server_opt_is(arg, refused_args[k].name, refused_args[k].alias)) return usage_error(arg, refused_args[k].why);
    if (server_opt_is(arg, "--flash-attn", "-fa")) { /* a switch in older llama-server, on|off|auto in newer */
        if (*i + 1 < argc && (!strcmp(argv[*i + 1], "on") || !strcmp(argv[*i + 1], "off") || !strcmp(argv[*i + 1], "auto"))) ++*i;
        fprintf(stderr, "bitnet-server: %s ignored: attention has one implementation here\n", arg);
        return 1;
    }
    for (size_t k = 0; k < sizeof inert_args / sizeof inert_args[0]; k++) {
        if (!server_opt_is(arg, inert_args[k].name, inert_args[k].alias)) continue;
        if (inert_args[k].valued && !value_of(argc, argv, i)) return 2;
        if (inert_args[k].why) fprintf(stderr, "bitnet-server: %s ignored: %s\n", arg, inert_args[k].why);
        return 1;
    }
    return 0;
}

int llama_args_take(server_options *o, int argc, char **argv, int *i) {
    int rc = take_sampling(o, argc, argv, i);
    return rc ? rc : take_inert(argc, argv, i);
}

/* Each request kind with nothing but the defaults must parse: an out-of-range default would
 * otherwise turn every request away. */
int llama_args_check(const server_options *o) {
    static const char *const bodies[2] = {"{\"prompt\": \"\"}", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}"};
    static const api_kind kinds[2] = {API_NATIVE, API_CHAT};
    for (int k = 0; o->request_defaults && k < 2; k++) {
        api_request r;
        api_error err;
        if (api_parse_request(kinds[k], bodies[k], strlen(bodies[k]), 0, o->request_defaults, &r, &err)) {
            fprintf(stderr, "bitnet-server: a default sampling option is refused for %s requests: %s (--help for the options)\n",
                    kinds[k] == API_CHAT ? "OpenAI" : "/completion", err.message);
            return 2;
        }
        api_request_free(&r);
    }
    return 0;
}
