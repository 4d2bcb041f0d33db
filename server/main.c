/* main: bitnet-server's options, startup and shutdown.
 *
 * Startup: listen first (one line "listening on http://HOST:PORT" on stderr; /health answers
 * 503 while the model loads), then load the model, start the engine and answer requests.
 * Shutdown on SIGINT or SIGTERM: stop accepting connections, cancel what runs (streams get
 * their final chunk, plain requests their reply so far; queued requests fail with 503), wait
 * a few seconds for the replies to go out, exit 0. The signals are blocked in every thread
 * and taken by sigwait() on the main thread. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"
#include "llama_args.h"

#define DEFAULT_MAX_BODY (8u << 20)
#define DEFAULT_TIMEOUT_REQUEST 600
#define DEFAULT_TIMEOUT_IDLE 60
#define DEFAULT_SSE_PING 30     /* llama-server's default */
#define MAX_API_KEYS 1024
#define MAX_KEY_LEN 512
#define SHUTDOWN_GRACE_MS 5000

static void usage(FILE *out) {
    fprintf(out,
            "usage: bitnet serve -m MODEL [options]   (also: bitnet-server -m MODEL [options])\n"
            "An OpenAI-compatible HTTP server with continuous batching: POST /v1/chat/completions,\n"
            "POST /v1/completions, POST /v1/responses, POST /v1/messages (Anthropic's), GET /v1/models,\n"
            "GET /health, POST /tokenize, POST /detokenize, GET /slots, GET /metrics (Prometheus), a chat\n"
            "page at GET / (open it in a browser), and llama-server's own POST /completion (also\n"
            "/completions), GET /props and POST /apply-template; token counts at POST\n"
            "/v1/responses/input_tokens, /v1/chat/completions/input_tokens, /v1/messages/count_tokens;\n"
            "embeddings at POST /v1/embeddings and llama-server's /embedding, /embeddings.\n"
            "\n"
            "  -m, --model FILE        GGUF model (required)\n"
            "  --host HOST             address to listen on, or a Unix domain socket when HOST ends in .sock\n"
            "                          (its file is replaced when no server answers on it, removed at exit)\n"
            "                          [127.0.0.1]\n"
            "  --ssl-key-file FILE     with --ssl-cert-file FILE: serve HTTPS (PEM private key and certificate\n"
            "                          chain) [off: plain HTTP]\n"
            "  --api-prefix PATH       serve every path below PATH (/api: /api/v1/chat/completions, /api/health,\n"
            "                          the chat page at /api/); other paths get 404 [none]\n"
            "  --reuse-port            SO_REUSEPORT on the listening socket: several servers on one port, the\n"
            "                          kernel spreading connections over them\n"
            "  --port N                port [8080]; 0 picks a free one (the line 'listening on ...' says which)\n"
            "  -np, --parallel N       requests generated at once (slots) [4]\n"
            "  -c, --ctx-size N        total context, split evenly over the slots [0: per slot, the model's\n"
            "                          training context, capped so that all slots fit a quarter of RAM]\n"
            "  -t, --threads N         worker threads [all CPUs]\n"
            "  -b, --batch-size N      rows per forward pass (generating slots + prompt chunk) [64]\n"
            "  --act-quant M           token | q8k | none: numerics of the ternary matmuls [token for\n"
            "                          ternary weights, none for float weights]\n"
            "  --lm-head H             auto | screen | model | q8 [auto]: screen finds the tokens a request can\n"
            "                          draw from an 8-bit copy with error bounds and computes their logits\n"
            "                          exactly (same tokens as model, ~half the head's bytes; requests with\n"
            "                          logprobs, top_p < 1 without top_k, or min_p with penalties read the\n"
            "                          whole head); model (also f16): the head as stored; q8: an 8-bit\n"
            "                          head (approximate logits); auto: screen\n"
            "                          where the head and the CPU tier allow it (x86), else model\n"
            "  --kv-type T             f32 | f16 | q8_0: element type of every slot's KV cache, K and V [f16];\n"
            "                          q8_0 holds ~1.9x the slots of f16 in the same memory (README, \"KV cache\")\n"
            "  -ctk, --cache-type-k T  the K cache's type only; -ctv, --cache-type-v T  the V cache's only\n"
            "  --chat-format F         auto | bitnet | llama3 | chatml | falcon3 | plain: how chat messages\n"
            "                          become the prompt\n"
            "                          [auto: from the model's tokenizer.chat_template, as `bitnet chat` does]\n"
            "  --chat-template T       llama-server's: T a format name above, or a Jinja chat template whose\n"
            "                          format is one of them (it is recognized, not run); others are refused\n"
            "  --chat-template-file F  the same, the template read from file F\n"
            "  --pooling P             mean | last | cls | none: how the embedding endpoints pool the tokens' final\n"
            "                          hidden states [mean]; none (every token's vector) only at /embeddings\n"
            "  --embd-normalize N      -1 none, 0 max-abs to int16, 1 taxicab, 2 Euclidean, >2 p-norm: the scaling\n"
            "                          of pooled embeddings, a request's embd_normalize overrides it [2]\n"
            "  --embeddings            accepted for llama-server's command lines: the embedding endpoints are\n"
            "                          always served (generation too)\n"
            "  --prefix-share N        a prompt that starts with N or more of the tokens another slot holds or is\n"
            "                          evaluating (a system prompt, tools, the choices of n) takes their KV cache\n"
            "                          entries from it (a copy: the same reply) instead of evaluating them [16; 0: off]\n"
            "  --lookup N              speculative decoding by prompt lookup: when a reply's last 2-4 tokens occurred\n"
            "                          before, up to N (<= 16) tokens that followed are checked in the same pass;\n"
            "                          the same replies, faster where they repeat earlier text [0: off]; also the\n"
            "                          draft length of a request's prediction (OpenAI's Predicted Outputs) [else 8]\n"
            "  --context-shift         when a reply fills its slot's context, drop the oldest half of what follows\n"
            "                          the kept start (--keep; a request's n_keep, n_discard) and go on, as\n"
            "                          llama-server does; the reply no longer sees what was dropped\n"
            "                          [off: a full context ends the reply, finish_reason \"length\"]\n"
            "  --no-context-shift      the default\n"
            "  --no-prefill-assistant  a chat that ends with an assistant message gets a new assistant turn after it\n"
            "                          [default: the reply continues that message, as llama-server and Anthropic's\n"
            "                          API do (an assistant prefill)]\n"
            "  --keep N                with --context-shift: prompt tokens kept at the start, after BOS (-1: the\n"
            "                          whole prompt); a request's n_keep overrides it [0]\n"
            "  --cache-reuse N         after the prefix a prompt shares with its slot's cache, take runs of N or\n"
            "                          more of its tokens that the cache holds further on, moved into place by KV\n"
            "                          shifting, instead of evaluating them again (a chat whose client drops old\n"
            "                          messages); approximate, as llama-server's: the reply may differ from a\n"
            "                          fresh evaluation's. A request's n_cache_reuse overrides it [0: off]\n"
            "  -cram, --cache-ram N    MiB of host memory for a prompt cache: a slot's tokens and KV cache, when it is\n"
            "                          given to another prompt, are kept there and a later prompt starting with\n"
            "                          them (a chat's next turn) takes them back [8192, at most a quarter of RAM;\n"
            "                          0: none; -1: no limit; --prefix-share 0 turns it off too]\n"
            "  --slot-save-path DIR    allow POST /slots/{id}?action=save|restore {\"filename\"} (an idle slot's tokens and\n"
            "                          KV cache to and from DIR/filename) and action=erase [off: those are 501]\n"
            "  --alias NAME            model name in replies and /v1/models [the file's base name]\n"
            "  --api-key KEY           require 'Authorization: Bearer KEY' (all but /health and the page /)\n"
            "  --api-key-file FILE     keys, one per line (blank lines and lines starting with # skipped); with\n"
            "                          --api-key too, any of them is accepted\n"
            "  --cors ORIGINS          answer CORS preflights and let pages of ORIGINS read the replies: '*' for\n"
            "                          any, or a comma-separated list of origins (https://app.example:8443) and\n"
            "                          'localhost' (any origin on this machine); also --cors-origins\n"
            "                          [off: no CORS headers]\n"
            "  --queue N               requests that may wait for a free slot; more get 503 [64]\n"
            "  --max-body BYTES        largest request body; larger gets 413 [%u]\n"
            "  --max-prompt-tokens N   longest prompt in tokens; longer gets 400 [0: a slot's context]\n"
            "  --max-tokens-cap N      a larger (or no) max_tokens is lowered to N: the reply ends with\n"
            "                          finish_reason \"length\" [0: no cap]\n"
            "  --timeout-request S     a request running longer is stopped: its reply so far with\n"
            "                          finish_reason \"length\" (503 if it never got a slot) [%d; 0: none]\n"
            "  --timeout-idle S        a connection silent for S seconds, or not done sending a request\n"
            "                          within S seconds (slow clients), is closed [%d]\n"
            "  --sse-ping-interval S   a stream silent for S seconds (a long prompt, a wait for a slot) sends an SSE\n"
            "                          comment line, which clients skip, so that proxies and client read\n"
            "                          timeouts see it alive; a request's sse_ping_interval overrides it\n"
            "                          [%d; -1 or 0: never]\n"
            "  --log-format F          text | json: one line per request on stderr [text]\n"
            "  --log-file FILE         also append what stderr shows (the notes on the options included) to FILE\n"
            "  -v, --verbose           also log each finished generation per slot\n"
            "  -h, --help              this text\n"
            "\n"
            "llama-server's options run too: its sampling options (--temp, --top-k, --top-p, --min-p,\n"
            "--typical, --top-nsigma, --repeat-penalty, --repeat-last-n, --presence-penalty,\n"
            "--frequency-penalty, --dry-*, --xtc-*, --dynatemp-*, --mirostat*, -s/--seed, -n/--n-predict,\n"
            "--ignore-eos, --samplers, --sampling-seq) set what a request gets when it does not say (on\n"
            "every API; also --dry-sequence-breaker, --temperature, --typical-p, --top-n-sigma), and so do\n"
            "--grammar, --grammar-file, -j/--json-schema, -jf/--json-schema-file (a request with a grammar,\n"
            "json_schema, response_format or tools of its own does without them) and -l/--logit-bias;\n"
            "-a (--alias), -to/--timeout (--timeout-idle), --no-webui/--no-ui (no chat page at /);\n"
            "--metrics, --slots, -cb, --webui, --warmup, --no-warmup, --cache-prompt, --offline,\n"
            "--log-timestamps change nothing (always so here); -ngl, -fa, -dev, -sm, -mg, -ts, -tb, -ub,\n"
            "-nkvo, --threads-http, --numa, --mlock, --no-mmap, --jinja, --reasoning-format,\n"
            "--reasoning-budget, -rea, --chat-template-kwargs, -sps, -dt, -kvu, --swa-full, -ctxcp, -sp,\n"
            "--props, -C, --prio, --poll, --log-disable, --log-colors, -lv are taken and said to change\n"
            "nothing;\n"
            "--lora, --mmproj, -hf, -mu, -nocb, --no-slots, -md/--model-draft, --draft-max, --spec-type,\n"
            "-lcs, --rope-*, --override-kv, --path, --models-dir, --rerank and --sleep-idle-seconds are\n"
            "refused, saying why. llama-server's environment variables for these options (LLAMA_ARG_MODEL,\n"
            "LLAMA_ARG_PORT, LLAMA_ARG_CTX_SIZE, LLAMA_ARG_N_PARALLEL, LLAMA_API_KEY, ...; README) are read\n"
            "too, each said on stderr; the command line's options win over them.\n"
            "\n"
            "Sampling defaults (unless the options above set others) are OpenAI's on the OpenAI routes,\n"
            "llama.cpp's on /completion; OpenAI's: temperature 1, top_p 1, no top_k, no min_p, no penalties\n"
            "(when set, they look at the last 64 tokens), a random seed, and no token limit (a reply ends\n"
            "at an end-of-generation token, a stop string or a full slot context (see --context-shift);\n"
            "finish_reason \"length\" for max_tokens or a full context). Requests may also set top_k,\n"
            "min_p, repeat_penalty and ignore_eos. temperature 0 is greedy: the same reply alone or beside\n"
            "other requests.\n"
            "SIGINT/SIGTERM stop the server cleanly (exit 0).\n",
            DEFAULT_MAX_BODY, DEFAULT_TIMEOUT_REQUEST, DEFAULT_TIMEOUT_IDLE, DEFAULT_SSE_PING);
}

static int bad_usage(const char *fmt, const char *arg) {
    fprintf(stderr, "bitnet-server: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (--help for the options)\n");
    return 2;
}

static bool parse_ll(const char *s, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

/* An API key (copied); returns 0, or 2 after printing why not. */
static int add_key(server_options *o, const char *key, size_t len) {
    if (len == 0 || len > MAX_KEY_LEN) return bad_usage("an API key must have 1 to 512 characters%s", "");
    if (o->n_api_keys == MAX_API_KEYS) return bad_usage("more than %s API keys", "1024");
    char **keys = realloc(o->api_keys, sizeof *keys * (size_t)(o->n_api_keys + 1));
    char *copy = keys ? strndup(key, len) : NULL;
    if (keys) o->api_keys = keys;
    if (!copy) return bad_usage("%s", "out of memory");
    o->api_keys[o->n_api_keys++] = copy;
    return 0;
}

/* The keys of a file, one per line (surrounding blanks and a CR dropped; blank lines and lines
 * starting with # skipped). Returns 0, or 2 after printing why not. */
static int read_key_file(server_options *o, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return bad_usage("cannot read --api-key-file %s", path);
    char line[MAX_KEY_LEN + 8];
    int rc = 0, before = o->n_api_keys;
    while (!rc && fgets(line, sizeof line, f)) {
        char *k = line, *end = line + strlen(line);
        if (end == line + sizeof line - 1 && end[-1] != '\n') {
            rc = bad_usage("--api-key-file %s has a line longer than an API key may be (512 characters)", path);
            break;
        }
        while (*k == ' ' || *k == '\t') k++;
        while (end > k && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) end--;
        if (end > k && *k != '#') rc = add_key(o, k, (size_t)(end - k));
    }
    fclose(f);
    if (!rc && o->n_api_keys == before) return bad_usage("--api-key-file %s holds no key", path);
    return rc;
}

/* The numeric limits and timeouts (integers; seconds for the timeouts). Returns 0, or 2 after
 * printing a usage error. */
static int parse_limit(server_options *o, const char *arg, const char *v) {
    const struct {
        const char *name;
        long long min, max;
        int *count;            /* or */
        double *seconds;       /* or */
        long long *value;
    } limits[] = {
        {"--max-prompt-tokens", 0, 1 << 30, &o->max_prompt_tokens, NULL, NULL},
        {"--max-tokens-cap", 0, 1 << 30, &o->max_tokens_cap, NULL, NULL},
        {"--timeout-request", 0, 1 << 24, NULL, &o->timeout_request, NULL},
        {"--timeout-idle", 1, 1 << 24, NULL, &o->timeout_idle, NULL},
        {"--timeout", 1, 1 << 24, NULL, &o->timeout_idle, NULL}, /* llama-server's name and alias */
        {"-to", 1, 1 << 24, NULL, &o->timeout_idle, NULL},
        {"--embd-normalize", -1, 64, &o->embd_normalize, NULL, NULL},
        {"--prefix-share", 0, 1 << 30, &o->prefix_share, NULL, NULL},
        {"--lookup", 0, 16, &o->lookup_draft, NULL, NULL},
        {"--keep", -1, 1 << 30, &o->n_keep, NULL, NULL},
        {"--cache-reuse", 0, 1 << 30, &o->cache_reuse, NULL, NULL},
        {"--sse-ping-interval", -1, INT32_MAX, &o->sse_ping_interval, NULL, NULL},
        {"--cache-ram", -1, 1LL << 30, NULL, NULL, &o->cache_ram_mib},
        {"-cram", -1, 1LL << 30, NULL, NULL, &o->cache_ram_mib},
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        long long n;
        if (strcmp(arg, limits[i].name)) continue;
        if (!parse_ll(v, limits[i].min, limits[i].max, &n)) {
            char why[160];
            snprintf(why, sizeof why, "%s needs an integer in %lld..%lld (got '%.40s')", arg, limits[i].min, limits[i].max, v);
            return bad_usage("%s", why);
        }
        if (limits[i].count) *limits[i].count = (int)n;
        else if (limits[i].seconds) *limits[i].seconds = (double)n;
        else *limits[i].value = n;
        return 0;
    }
    return bad_usage("unknown option '%s'", arg);
}

/* --cors's value: "*", or a list of "localhost" and origins (http:// or https://, a host, no
 * path: what a browser sends as Origin, which must match exactly). */
static bool cors_list_ok(const char *v) {
    if (!strcmp(v, "*")) return true;
    size_t n;
    const char *p = http_cors_item(v, &n);
    if (!n) return false;
    for (; n; p = http_cors_item(p + n, &n)) {
        const char *rest = !strncmp(p, "http://", 7) ? p + 7 : !strncmp(p, "https://", 8) ? p + 8 : NULL;
        bool local = n == 9 && !strncmp(p, "localhost", 9);
        if (!local && (!rest || rest >= p + n || memchr(rest, '/', (size_t)(p + n - rest)))) return false;
    }
    return true;
}

/* The operator's options: keys, CORS, logs, limits and timeouts. Returns 0, or 2 after
 * printing a usage error. */
static int parse_operator_option(server_options *o, const char *arg, const char *v) {
    if (server_opt_is(arg, "--api-key", NULL)) return add_key(o, v, strlen(v));
    else if (server_opt_is(arg, "--slot-save-path", NULL)) {
        struct stat st;
        if (stat(v, &st) != 0 || !S_ISDIR(st.st_mode)) return bad_usage("--slot-save-path %s is not a folder", v);
        o->slot_save_path = v;
    }
    else if (server_opt_is(arg, "--api-key-file", NULL)) return read_key_file(o, v);
    else if (server_opt_is(arg, "--log-file", NULL)) o->log_file = v;
    else if (server_opt_is(arg, "--cors", "--cors-origins")) {
        if (!cors_list_ok(v))
            return bad_usage("--cors takes '*' or a comma-separated list of origins (scheme://host[:port], no path or "
                             "trailing '/') and 'localhost' (got '%s')", v);
        o->cors_origin = v;
    }
    else if (server_opt_is(arg, "--ssl-key-file", NULL) || server_opt_is(arg, "--ssl-cert-file", NULL)) {
        char **pem = !strcmp(arg, "--ssl-key-file") ? &o->tls_key : &o->tls_cert;
        free(*pem);
        if (!(*pem = llama_args_read_file(arg, v))) return 2;
    } else if (server_opt_is(arg, "--api-prefix", NULL)) {
        size_t n = strlen(v);
        if (n && (v[0] != '/' || v[n - 1] == '/' || n > 128 || strpbrk(v, "?#")))
            return bad_usage("--api-prefix must start with '/', not end with one, have at most 128 characters and no '?' or '#' (got '%s')", v);
        o->api_prefix = n ? v : NULL;
    }
    else if (server_opt_is(arg, "--log-format", NULL)) {
        if (strcmp(v, "text") && strcmp(v, "json")) return bad_usage("--log-format must be text or json (got '%s')", v);
        o->log_format = strcmp(v, "json") ? LOG_TEXT : LOG_JSON;
    } else {
        return parse_limit(o, arg, v);
    }
    return 0;
}

/* One option with a value; returns 0, or 2 after printing a usage error. */
static int parse_valued(server_options *o, const char *arg, const char *v) {
    long long n;
    if (server_opt_is(arg, "--model", "-m")) o->model_path = v;
    else if (server_opt_is(arg, "--host", NULL)) o->host = v;
    else if (server_opt_is(arg, "--alias", "-a")) o->alias = v;
    else if (server_opt_is(arg, "--chat-format", NULL)) {
        bn_chat_format f;
        if (strcmp(v, "auto") && bn_chat_format_from_name(v, &f)) return bad_usage("--chat-format must be auto, bitnet, llama3, chatml, falcon3 or plain (got '%s')", v);
        o->chat_format = v;
    } else if (server_opt_is(arg, "--act-quant", NULL)) {
        if (bitnet_act_quant_from_name(v, &o->act_quant)) return bad_usage("--act-quant must be token, q8k or none (got '%s')", v);
    } else if (server_opt_is(arg, "--kv-type", NULL)) {
        if (bitnet_kv_type_from_name(v, &o->kv_type_k)) return bad_usage("--kv-type must be f32, f16 or q8_0 (got '%s')", v);
        o->kv_type_v = o->kv_type_k;
    } else if (server_opt_is(arg, "--cache-type-k", "-ctk")) {
        if (bitnet_kv_type_from_name(v, &o->kv_type_k)) return bad_usage("--cache-type-k must be f32, f16 or q8_0 (got '%s')", v);
    } else if (server_opt_is(arg, "--cache-type-v", "-ctv")) {
        if (bitnet_kv_type_from_name(v, &o->kv_type_v)) return bad_usage("--cache-type-v must be f32, f16 or q8_0 (got '%s')", v);
    } else if (server_opt_is(arg, "--pooling", NULL)) {
        if (bitnet_pooling_from_name(v, &o->pooling)) return bad_usage("--pooling must be mean, last, cls or none (got '%s')", v);
    } else if (server_opt_is(arg, "--lm-head", NULL)) {
        if (bitnet_lm_head_from_name(v, &o->lm_head)) return bad_usage("--lm-head must be auto, screen, model or q8 (got '%s')", v);
    } else if (server_opt_is(arg, "--port", NULL)) {
        if (!parse_ll(v, 0, 65535, &n)) return bad_usage("--port needs an integer in 0..65535 (got '%s')", v);
        o->port = (int)n;
    } else if (server_opt_is(arg, "--parallel", "-np")) {
        if (!parse_ll(v, 1, 256, &n)) return bad_usage("--parallel needs an integer in 1..256 (got '%s')", v);
        o->n_parallel = (int)n;
    } else if (server_opt_is(arg, "--ctx-size", "-c")) {
        if (!parse_ll(v, 0, 1LL << 30, &n)) return bad_usage("--ctx-size needs an integer in 0..1073741824 (got '%s')", v);
        o->ctx_total = n;
    } else if (server_opt_is(arg, "--threads", "-t")) {
        if (!parse_ll(v, 1, 1024, &n)) return bad_usage("--threads needs an integer in 1..1024 (got '%s')", v);
        o->n_threads = (int)n;
    } else if (server_opt_is(arg, "--batch-size", "-b")) {
        if (!parse_ll(v, 1, 4096, &n)) return bad_usage("--batch-size needs an integer in 1..4096 (got '%s')", v);
        o->n_batch = (int)n;
    } else if (server_opt_is(arg, "--queue", NULL)) {
        if (!parse_ll(v, 0, 100000, &n)) return bad_usage("--queue needs an integer in 0..100000 (got '%s')", v);
        o->max_queue = (int)n;
    } else if (server_opt_is(arg, "--max-body", NULL)) {
        if (!parse_ll(v, 1024, 1LL << 32, &n)) return bad_usage("--max-body needs a byte count in 1024..4294967296 (got '%s')", v);
        o->max_body = (size_t)n;
    } else {
        return parse_operator_option(o, arg, v);
    }
    return 0;
}

/* Returns 0, -1 after printing the help, or 2 on a usage error. */
static int parse_args(int argc, char **argv, server_options *o) {
    *o = (server_options){.host = "127.0.0.1", .port = 8080, .n_parallel = 4, .max_queue = 64,
                          .max_body = DEFAULT_MAX_BODY, .chat_format = "auto", .embd_normalize = 2, .prefix_share = 16, .cache_ram_mib = 8192,
                          .timeout_request = DEFAULT_TIMEOUT_REQUEST, .timeout_idle = DEFAULT_TIMEOUT_IDLE,
                          .sse_ping_interval = DEFAULT_SSE_PING};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (server_opt_is(arg, "--help", "-h")) {
            usage(stdout);
            return -1;
        }
        if (server_opt_is(arg, "--verbose", "-v") || !strcmp(arg, "--log-verbose")) { /* llama-server's names */
            o->verbose = true;
            continue;
        }
        if (server_opt_is(arg, "--embeddings", "--embedding")) continue; /* llama-server's switch: ours serves them always */
        if (!strcmp(arg, "--context-shift") || !strcmp(arg, "--no-context-shift")) {
            o->context_shift = !strcmp(arg, "--context-shift");
            continue;
        }
        if (!strcmp(arg, "--no-prefill-assistant")) {
            o->no_prefill_assistant = true;
            continue;
        }
        if (server_opt_is(arg, "--no-webui", "--no-ui")) { /* llama-server's: no chat page at / */
            o->no_webui = true;
            continue;
        }
        if (!strcmp(arg, "--reuse-port")) {
            o->reuse_port = true;
            continue;
        }
        int took = llama_args_take(o, argc, argv, &i); /* llama-server's options beyond ours */
        if (took) {
            if (took == 2) return 2;
            continue;
        }
        if (arg[0] != '-') return bad_usage("unexpected argument '%s'", arg);
        if (i + 1 >= argc) return bad_usage("%s needs a value, or is not an option of this server", arg);
        int rc = parse_valued(o, arg, argv[++i]);
        if (rc) return rc;
    }
    if (!o->model_path) return bad_usage("%s", "missing -m/--model FILE");
    if (!o->tls_key != !o->tls_cert) return bad_usage("%s", o->tls_key ? "--ssl-key-file needs --ssl-cert-file too" : "--ssl-cert-file needs --ssl-key-file too");
    if (o->reuse_port && server_host_is_unix(o->host)) return bad_usage("%s", "--reuse-port is for TCP addresses, not a Unix socket (--host ending in .sock)");
    if (llama_args_check(o, NULL)) return 2;
    if (o->ctx_total && o->ctx_total < 2LL * o->n_parallel)
        return bad_usage("--ctx-size is split over the slots: give at least 2 positions per slot (%s)", "see --parallel");
    return 0;
}

/* ===================================================================== startup */

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int load_model(server *srv) {
    bitnet_model_params mp = bitnet_model_default_params();
    mp.lm_head = srv->opt.lm_head;
    if (bitnet_model_open(srv->opt.model_path, &mp, &srv->model)) {
        fprintf(stderr, "bitnet-server: %s\n", bitnet_get_last_error());
        return -1;
    }
    bitnet_model_desc d = {.struct_size = sizeof d};
    bitnet_model_describe(srv->model, &d);
    srv->n_vocab = d.n_vocab;
    srv->n_embd = d.n_embd;
    if (!d.has_tokenizer) {
        fprintf(stderr, "bitnet-server: %s has no tokenizer; the server needs one\n", srv->opt.model_path);
        return -1;
    }
    if (strcmp(srv->opt.chat_format, "auto")) {
        bn_chat_format_from_name(srv->opt.chat_format, &srv->chat_format);
        return 0;
    }
    int len = bitnet_model_meta_str(srv->model, "tokenizer.chat_template", NULL, 0);
    char *tmpl = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (tmpl && bitnet_model_meta_str(srv->model, "tokenizer.chat_template", tmpl, (size_t)len + 1) < 0) {
        free(tmpl);
        tmpl = NULL;
    }
    srv->chat_format = bn_chat_detect(tmpl);
    free(tmpl);
    return 0;
}

static const char *kv_name(bitnet_kv_type t) { return t == BITNET_KV_F32 ? "f32" : t == BITNET_KV_Q8_0 ? "q8_0" : "f16"; }

/* --cache-ram's MiB in bytes: -1 no limit, else at most a quarter of the physical memory. */
static uint64_t ram_bytes(long long mib) {
    if (mib < 0) return UINT64_MAX;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    uint64_t bytes = (uint64_t)mib << 20, quarter = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 4 : bytes;
    return bytes < quarter ? bytes : quarter;
}

/* The prompt cache's bytes: --cache-ram's, none without prefix sharing (it works through it). */
static uint64_t prompt_cache_bytes(const server_options *o) { return o->prefix_share ? ram_bytes(o->cache_ram_mib) : 0; }

static int start_engine(server *srv) {
    engine_params ep = {.n_slots = srv->opt.n_parallel,
                        .n_ctx = srv->opt.ctx_total / srv->opt.n_parallel,
                        .n_threads = srv->opt.n_threads,
                        .n_batch = srv->opt.n_batch,
                        .act_quant = srv->opt.act_quant,
                        .kv_type_k = srv->opt.kv_type_k,
                        .kv_type_v = srv->opt.kv_type_v,
                        .prefix_share_min = srv->opt.prefix_share ? srv->opt.prefix_share : -1,
                        .lookup_draft = srv->opt.lookup_draft,
                        .context_shift = srv->opt.context_shift,
                        .n_keep = srv->opt.n_keep,
                        .prompt_cache_bytes = prompt_cache_bytes(&srv->opt),
                        .max_queue = srv->opt.max_queue,
                        .verbose = srv->opt.verbose,
                        .metrics = &srv->metrics};
    if (engine_start(srv->model, &ep, &srv->engine)) {
        fprintf(stderr, "bitnet-server: cannot start the engine: %s\n", bitnet_get_last_error());
        return -1;
    }
    return 0;
}

/* The line that says the server is ready, and how it serves. */
static void announce_ready(const server *srv) {
    uint64_t cache_bytes = prompt_cache_bytes(&srv->opt);
    char cache[48] = "none";
    if (!srv->opt.prefix_share) snprintf(cache, sizeof cache, "none (--prefix-share 0)");
    if (cache_bytes == UINT64_MAX) snprintf(cache, sizeof cache, "no limit");
    else if (cache_bytes) snprintf(cache, sizeof cache, "%llu MiB", (unsigned long long)(cache_bytes >> 20));
    char reuse[32] = "off";
    if (srv->opt.cache_reuse) snprintf(reuse, sizeof reuse, "runs of %d+", srv->opt.cache_reuse);
    fprintf(stderr, "bitnet-server: model %s loaded: %d slots of %lld positions (KV cache K %s V %s), prompt cache %s, chat format %s, "
            "cache reuse %s, context shift %s; ready\n",
            srv->model_name, engine_n_slots(srv->engine), (long long)engine_slot_ctx(srv->engine), kv_name(srv->opt.kv_type_k),
            kv_name(srv->opt.kv_type_v), cache, bn_chat_format_name(srv->chat_format), reuse, srv->opt.context_shift ? "on" : "off");
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void shut_down(server *srv, http_server *http) {
    atomic_store(&srv->state, SERVER_STOPPING);
    http_stop_accepting(http);
    engine_stop(srv->engine); /* running jobs end now, queued ones fail */
    for (int waited = 0; atomic_load(&srv->n_generating) > 0 && waited < SHUTDOWN_GRACE_MS; waited += 20) sleep_ms(20);
    http_stop(http);
    engine_free(srv->engine);
    bitnet_model_close(srv->model);
}

/* Listens, loads the model, serves until SIGINT/SIGTERM (blocked in every thread; stop_signals). */
static int serve(server *srv, sigset_t *stop_signals) {
    int port;
    http_server *http = http_start(srv, &port);
    if (!http) return 1;
    bool v6 = strchr(srv->opt.host, ':') != NULL;
    const char *scheme = srv->opt.tls_key ? "https" : "http", *prefix = srv->opt.api_prefix ? srv->opt.api_prefix : "";
    if (server_host_is_unix(srv->opt.host))
        fprintf(stderr, "bitnet-server: listening on unix:%s%s%s%s\n", srv->opt.host, srv->opt.tls_key ? " (TLS)" : "",
                *prefix ? ", paths below " : "", prefix);
    else fprintf(stderr, "bitnet-server: listening on %s://%s%s%s:%d%s\n", scheme, v6 ? "[" : "", srv->opt.host, v6 ? "]" : "", port, prefix);
    if (load_model(srv) || start_engine(srv)) {
        atomic_store(&srv->state, SERVER_STOPPING);
        http_stop(http);
        bitnet_model_close(srv->model);
        return 1;
    }
    request_model requests = server_request_model(srv);
    if (llama_args_check(&srv->opt, &requests)) { /* a default grammar's tokens, a logit bias's ids: against the model */
        shut_down(srv, http);
        return 2;
    }
    announce_ready(srv);
    atomic_store(&srv->state, SERVER_READY);

    int sig = 0;
    sigwait(stop_signals, &sig);
    fprintf(stderr, "bitnet-server: %s received; shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    shut_down(srv, http);
    return 0;
}

/* Whether --log-file may be among the options (then their notes are held for it). */
static bool may_log_to_file(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--log-file")) return true;
    return getenv("LLAMA_ARG_LOG_FILE") != NULL;
}

int main(int argc, char **argv) {
    static server srv;
    static char **args; /* the options' strings stay in use while the server runs */
    if (may_log_to_file(argc, argv)) logfile_hold();
    int n_args, rc = llama_args_with_env(argc, argv, &n_args, &args);
    if (!rc) rc = parse_args(n_args, args, &srv.opt);
    if (rc || !srv.opt.log_file) logfile_release();
    if (rc) return rc < 0 ? 0 : rc;
    srv.model_name = srv.opt.alias ? srv.opt.alias : base_name(srv.opt.model_path);
    srv.started = (int64_t)time(NULL);
    atomic_init(&srv.state, SERVER_LOADING);

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL); /* inherited by every thread started below */
    signal(SIGPIPE, SIG_IGN);
    if (srv.opt.log_file && logfile_start(srv.opt.log_file)) return 1;
    rc = serve(&srv, &stop_signals);
    logfile_stop();
    return rc;
}
