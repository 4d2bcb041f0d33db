/* cmd_run: `bitnet run` generates text from a prompt and streams it to stdout (logs and
 * timings on stderr), or prints ids (--print-ids) or one JSON object (--json). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "text/chat.h"
#include "cli.h"
#include "cli_gen.h"
#include "cli_model.h"
#include "cli_prompt.h"

static void usage(void) {
    printf("usage: bitnet run --model M (--prompt TEXT | --prompt-file F | --tokens 1,2,3) [options]\n"
           "Generates text and streams it to stdout; logs and timings go to stderr.\n"
           "  -p, --prompt TEXT     prompt text (BOS added when the vocabulary asks for it)\n"
           "  -f, --prompt-file F   read the prompt from a file, every byte of it (llama-cli drops one\n"
           "                        final newline)\n"
           "  --tokens IDS          prompt as comma-separated token ids\n"
           "  --no-bos              do not add BOS\n"
           "  --parse-special       turn special-token text in the prompt into ids\n"
           "  --chat                wrap the prompt as one user turn of the model's chat format\n"
           "  --print-ids           print the generated token ids instead of text\n"
           "  --json                print one JSON object on the last line of stdout instead of streaming:\n"
           "                        prompt_ids, generated_ids, text, stop_reason, timings\n"
           "  --prompt-cache FILE   take back the prompt's KV cache from FILE when it holds the prompt's\n"
           "                        start (only the rest is evaluated; penalties then see only the rest),\n"
           "                        and write the prompt's to FILE afterwards (a file of another model,\n"
           "                        KV types or --act-quant is not used: stderr says why)\n"
           "  --prompt-cache-ro     read FILE but do not write it\n"
           "  --context-shift       when generation fills the context, drop the older half of what follows\n"
           "                        the kept start (--keep) and go on (llama.cpp's context shift; the text\n"
           "                        no longer sees what was dropped) [off: a full context stops generation]\n"
           "  --keep N              with --context-shift: prompt tokens kept at the start, after BOS\n"
           "                        (-1: the whole prompt) [0]\n"
           "  --prediction-file F   Predicted Outputs (OpenAI's prediction): the text of F is what the output\n"
           "                        is expected to repeat largely (a file being edited); its tokens are\n"
           "                        checked as drafts, up to --lookup N (else 8) a pass: the same tokens,\n"
           "                        faster where the output follows F (--json: \"prediction\" counts)\n"
           "%s%s",
           cli_gen_opts_help, cli_model_opts_help);
}

typedef struct {
    bool stream;          /* print text as it comes */
    char *text;           /* collected text (for --json) */
    size_t len, cap;
} run_output;

static int on_token(int32_t token, const char *text, size_t len, void *user) {
    (void)token;
    run_output *o = user;
    if (o->stream) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        return 0;
    }
    if (o->len + len + 1 > o->cap) {
        size_t cap = (o->cap + len + 1) * 2;
        char *bigger = realloc(o->text, cap);
        if (!bigger) return 1;
        o->text = bigger;
        o->cap = cap;
    }
    memcpy(o->text + o->len, text, len);
    o->len += len;
    return 0;
}

static void print_ids(const char *key, const int32_t *ids, int n) {
    printf("\"%s\":[", key);
    for (int i = 0; i < n; i++) printf("%s%d", i ? "," : "", ids[i]);
    printf("]");
}

/* lookup: --lookup was given (the "lookup" object with its counts); the "prediction" object
 * with --prediction-file */
static void print_json(const int32_t *prompt, int n_prompt, const int32_t *gen, int n_gen, const run_output *o,
                       const bitnet_generate_result *r, double load_s, bool lookup, bool predicted) {
    printf("{");
    print_ids("prompt_ids", prompt, n_prompt);
    printf(",");
    print_ids("generated_ids", gen, n_gen);
    printf(",\"text\":");
    cli_json_string(stdout, o->text ? o->text : "", o->len);
    double pre = r->prefill_seconds > 0 ? r->n_prompt / r->prefill_seconds : 0;
    double dec = r->decode_seconds > 0 && r->n_generated > 1 ? (r->n_generated - 1) / r->decode_seconds : 0;
    printf(",\"stop_reason\":\"%s\",\"timings\":{\"load_s\":%.4f,\"prefill_s\":%.4f,\"prefill_tok_s\":%.2f,\"decode_s\":%.4f,"
           "\"decode_tok_s\":%.2f,\"ttft_s\":%.4f}",
           cli_stop_reason_name(r->stop_reason), load_s, r->prefill_seconds, pre, r->decode_seconds, dec, r->time_to_first_token_seconds);
    if (lookup) {
        printf(",\"lookup\":{\"drafted\":%d,\"accepted\":%d,\"passes\":%d,\"accepted_at\":[", r->n_drafted, r->n_draft_accepted,
               r->n_draft_passes);
        for (int i = 0; i < r->n_draft_longest && i < BITNET_DRAFT_MAX; i++) printf("%s%d", i ? "," : "", r->n_draft_accepted_at[i]);
        printf("]}");
    }
    if (predicted) printf(",\"prediction\":{\"drafted\":%d,\"accepted\":%d}", r->n_prediction_drafted, r->n_prediction_accepted);
    if (r->n_discarded) printf(",\"context_shift\":{\"discarded\":%d}", r->n_discarded);
    if (r->n_mask_best || r->n_mask_all) printf(",\"constraint\":{\"masks_best\":%d,\"masks_all\":%d}", r->n_mask_best, r->n_mask_all);
    printf("}\n");
}

/* The prompt as one user turn of the chat format, tokenized with special tokens parsed. */
static int chat_prompt_ids(const cli_prompt *po, const cli_gen_opts *go, const bitnet_model *m, int32_t **ids) {
    int format;
    if (cli_chat_format(go, m, "run", &format)) return -1;
    size_t len;
    if (!po->text && !po->file) {
        cli_usage_error("run", "--chat needs --prompt or --prompt-file");
        return -1;
    }
    char *user = cli_prompt_text(po, "run", &len);
    if (!user) return -1;
    bn_chat_message msgs[2];
    size_t n = 0;
    if (go->system) msgs[n++] = (bn_chat_message){BN_CHAT_SYSTEM, go->system};
    msgs[n++] = (bn_chat_message){BN_CHAT_USER, user};
    char *text = bn_chat_render((bn_chat_format)format, msgs, n, true);
    free(user);
    if (!text) {
        cli_fail("run", "%s", bitnet_get_last_error());
        return -1;
    }
    cli_prompt rendered = {.text = text, .no_bos = po->no_bos, .parse_special = true};
    int count = cli_prompt_ids(&rendered, m, "run", ids);
    free(text);
    return count;
}

/* --prediction-file: the file's tokens (no BOS, no special tokens: the output's text) into
 * gen->prediction (*ids malloc'd). 0, or -1 after printing the error. */
static int prediction_ids(const char *path, const bitnet_model *m, bitnet_generate_params *gen, int32_t **ids) {
    size_t len;
    char *text = cli_read_text_file(path, &len);
    if (!text) return cli_fail("run", "cannot read prediction file %s", path), -1;
    int n = bitnet_model_tokenize(m, text, len, 0, 0, NULL, 0);
    if (n >= 0 && (*ids = malloc(sizeof(int32_t) * (size_t)(n ? n : 1))) && bitnet_model_tokenize(m, text, len, 0, 0, *ids, n) == n) {
        gen->prediction = *ids;
        gen->n_prediction = n;
    } else {
        n = -1;
    }
    free(text);
    if (n < 0) cli_fail("run", "cannot tokenize prediction file %s: %s", path, *ids ? bitnet_get_last_error() : "out of memory");
    return n < 0 ? -1 : 0;
}

/* --prompt-cache: the tokens of the file that the prompt starts with go back into the session
 * (at most n - 1: the prompt's last token is evaluated for the first draw). Returns how many
 * (0 without a usable file; stderr says why a file was not used). */
static int load_prompt_cache(bitnet_session *s, const char *path, const int32_t *ids, int n) {
    int64_t cap = bitnet_session_n_ctx(s);
    int32_t *cached = malloc(sizeof *cached * (size_t)(cap > 0 ? cap : 1));
    int64_t got = cached ? bitnet_session_load_file(s, path, cached, cap) : BITNET_ERR_OUT_OF_MEMORY;
    int k = 0;
    if (got < 0 && got != BITNET_ERR_NOT_FOUND) fprintf(stderr, "bitnet run: prompt cache %s not used: %s\n", path, bitnet_get_last_error());
    while (k < got && k < n - 1 && cached[k] == ids[k]) k++;
    if (got >= 0) {
        bitnet_session_truncate(s, k);
        fprintf(stderr, "bitnet run: prompt cache %s: %d of %d prompt tokens reused\n", path, k, n);
    }
    free(cached);
    return k;
}

/* The prompt's KV cache (the session truncated to it) to the --prompt-cache file. */
static void save_prompt_cache(bitnet_session *s, const char *path, const int32_t *ids, int n) {
    if (bitnet_session_truncate(s, n) || bitnet_session_save_file(s, ids, n, path))
        fprintf(stderr, "bitnet run: prompt cache %s not written: %s\n", path, bitnet_get_last_error());
}

/* --verbose: how the screened LM head served the generated tokens (model/head_screen.h). */
static void print_head_stats(const bitnet_session *s) {
    bn_head_stats hs = bn_state_head_stats(s->state);
    uint64_t heads = hs.screened + hs.fallbacks + hs.plain;
    if (heads == 0) return; /* no screened head */
    fprintf(stderr, "lm head: %llu of %llu logits rows screened (mean %.1f candidate rows), %llu fell back to the whole head "
            "(too many candidates), %llu read the whole head (the sampling needs every logit)\n",
            (unsigned long long)hs.screened, (unsigned long long)heads, hs.screened ? (double)hs.candidates / (double)hs.screened : 0.0,
            (unsigned long long)hs.fallbacks, (unsigned long long)hs.plain);
}

typedef struct {
    cli_model_opts mo;
    cli_gen_opts go;
    cli_prompt po;
    bool json, print_ids_only, chat, cache_ro;
    bool no_perf; /* --no-perf, --log-disable: no timings line */
    const char *cache, *prediction_file;
} run_opts;

enum { RUN_GO = 0, RUN_USAGE = 2, RUN_HELP = 3, RUN_CONVERSATION = 4 };

/* run's own options (those of every model-running command are cli_*_opt's): 1 taken, 0 not,
 * 2 after a usage error. */
static int run_opt(int argc, char **argv, int *i, run_opts *o) {
    const char *v;
    int r;
    if ((r = cli_opt(argc, argv, i, "--prompt-cache", NULL, &v))) {
        if (r < 0) return 2;
        o->cache = v;
    } else if ((r = cli_opt(argc, argv, i, "--prediction-file", NULL, &v))) {
        if (r < 0) return 2;
        o->prediction_file = v;
    } else if ((r = cli_opt(argc, argv, i, "--keep", NULL, &v))) {
        long long k;
        if (r < 0 || !cli_parse_int(v, -1, 1 << 24, &k)) return cli_usage_error("run", "--keep needs an integer >= -1");
        o->go.gen.n_keep = (int)k;
    } else if (!strcmp(argv[*i], "--context-shift")) o->go.gen.context_shift = 1;
    else if (!strcmp(argv[*i], "--prompt-cache-ro")) o->cache_ro = true;
    else if (!strcmp(argv[*i], "--json")) o->json = true;
    else if (!strcmp(argv[*i], "--print-ids")) o->print_ids_only = true;
    else if (!strcmp(argv[*i], "--chat")) o->chat = true;
    else if (!strcmp(argv[*i], "--no-perf") || !strcmp(argv[*i], "--log-disable")) o->no_perf = true; /* llama-cli's */
    else return 0;
    return 1;
}

/* All of argv into o (o->go initialized: the caller frees it). RUN_GO, RUN_USAGE (printed),
 * RUN_HELP (printed) or RUN_CONVERSATION (-cnv: `bitnet chat` takes the same argv). */
static int parse_run_args(int argc, char **argv, run_opts *o) {
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return RUN_HELP;
        }
        if (cli_flag(argv, i, "--conversation", "-cnv")) return RUN_CONVERSATION; /* llama-cli's: -p is then the system message */
        /* run's own first: the model options' last branch takes llama-cli's flags that do nothing
         * (for `chat`), --no-perf among them */
        if ((r = run_opt(argc, argv, &i, o)) || (r = cli_model_opt(argc, argv, &i, &o->mo, "run")) ||
            (r = cli_prompt_opt(argc, argv, &i, &o->po, "run")) || (r = cli_gen_opt(argc, argv, &i, &o->go, "run"))) {
            if (r == 2) return RUN_USAGE;
            continue;
        }
        return cli_usage_error("run", "unknown argument '%s'", argv[i]);
    }
    if (cli_gen_opts_finish(&o->go, "run")) return RUN_USAGE;
    if (o->go.system && !o->chat)
        fprintf(stderr, "note: the system message (--system, -sys) is used with --chat (the prompt as a user turn of the "
                        "model's chat format) or -cnv; without them the prompt is completed as written\n");
    o->po.escape = o->go.escape == 1;
    cli_note_escapes(&o->go, "-p", o->po.text);
    return RUN_GO;
}

/* The generated tokens on stdout (--json's object, --print-ids' ids, or the end of the streamed text). */
static void print_result(const run_opts *o, const int32_t *ids, int n, const int32_t *gen, int n_gen, const run_output *out,
                         const bitnet_generate_result *res, double load_s) {
    if (o->json) {
        print_json(ids, n, gen, n_gen, out, res, load_s, o->go.gen.lookup_draft > 0, o->prediction_file != NULL);
    } else if (o->print_ids_only) {
        for (int i = 0; i < n_gen; i++) printf(i ? " %d" : "%d", gen[i]);
        printf("\n");
    } else {
        printf("\n");
    }
}

/* The run's figures on stderr: speeds, drafts, context shifts, constraint masks. */
static void report_run(const run_opts *o, int n_evaluated, const bitnet_generate_result *res) {
    if (o->no_perf) return;
    double dec = res->decode_seconds > 0 && res->n_generated > 1 ? (res->n_generated - 1) / res->decode_seconds : 0;
    fprintf(stderr, "bitnet run: %d prompt tokens in %.3f s (%.1f tok/s), %d generated (%.1f tok/s), stop: %s\n", n_evaluated,
            res->prefill_seconds, res->prefill_seconds > 0 ? n_evaluated / res->prefill_seconds : 0.0, res->n_generated, dec,
            cli_stop_reason_name(res->stop_reason));
    if (o->go.gen.lookup_draft > 0)
        fprintf(stderr, "bitnet run: lookup: %d draft tokens evaluated in %d passes, %d sampled as drafted\n", res->n_drafted,
                res->n_draft_passes, res->n_draft_accepted);
    if (o->prediction_file)
        fprintf(stderr, "bitnet run: prediction (%d tokens): %d draft tokens evaluated, %d sampled as drafted\n",
                o->go.gen.n_prediction, res->n_prediction_drafted, res->n_prediction_accepted);
    if (res->n_discarded) fprintf(stderr, "bitnet run: context shift: %d positions dropped in all\n", res->n_discarded);
    if (res->n_mask_best || res->n_mask_all)
        fprintf(stderr, "bitnet run: constraint: %d draws settled by their likeliest tokens, %d checked every token\n",
                res->n_mask_best, res->n_mask_all);
}

/* Generates from prompt ids[0, n) (the --prompt-cache file's start taken back first), prints
 * and reports; writes the cache after. 0, or 1 after printing the error. */
static int generate(run_opts *o, bitnet_session *s, const int32_t *ids, int n, double load_s) {
    run_output out = {.stream = !o->json && !o->print_ids_only};
    int max_out = o->go.gen.max_tokens > 0 ? o->go.gen.max_tokens : (int)bitnet_session_n_ctx(s);
    int32_t *gen = malloc(sizeof(int32_t) * (size_t)max_out);
    if (!gen) return cli_fail("run", "out of memory");
    o->go.gen.on_token = on_token;
    o->go.gen.user_data = &out;
    bitnet_generate_result res = {.struct_size = sizeof res};
    int reused = o->cache ? load_prompt_cache(s, o->cache, ids, n) : 0, rc = 0;
    if (bitnet_session_generate(s, ids + reused, n - reused, &o->go.gen, gen, max_out, &res) != 0) {
        rc = cli_fail("run", "%s", bitnet_get_last_error());
    } else {
        print_result(o, ids, n, gen, res.n_generated < max_out ? res.n_generated : max_out, &out, &res, load_s);
        report_run(o, n - reused, &res);
        if (o->cache && !o->cache_ro && res.n_discarded)
            fprintf(stderr, "bitnet run: prompt cache %s not written: the context shifted, the cache no longer holds the prompt as evaluated\n", o->cache);
        else if (o->cache && !o->cache_ro) save_prompt_cache(s, o->cache, ids, n);
        if (o->mo.verbose) print_head_stats(s);
    }
    free(out.text);
    free(gen);
    return rc;
}

int cmd_run(int argc, char **argv) {
    run_opts o = {0};
    cli_model_opts_init(&o.mo);
    cli_gen_opts_init(&o.go);
    int rc = parse_run_args(argc, argv, &o);
    if (rc == RUN_HELP || rc == RUN_CONVERSATION) {
        cli_gen_opts_free(&o.go);
        return rc == RUN_HELP ? 0 : cmd_chat(argc, argv);
    }
    if (rc == RUN_GO) {
        bitnet_model *m;
        bitnet_session *s;
        double t0 = cli_seconds();
        if ((rc = cli_open_model(&o.mo, "run", &m, &s)) == 0) {
            double load_s = cli_seconds() - t0;
            int32_t *ids = NULL, *predicted = NULL;
            int n = o.chat ? chat_prompt_ids(&o.po, &o.go, m, &ids) : cli_prompt_ids(&o.po, m, "run", &ids);
            bitnet_model_desc md = {.struct_size = sizeof md};
            if (n > 0 && o.go.gen.n_keep >= 0 && bitnet_model_describe(m, &md) == 0 && ids[0] == md.bos_id) o.go.gen.n_keep++; /* --keep follows BOS */
            if (n < 0) rc = 2;
            else if (o.prediction_file && prediction_ids(o.prediction_file, m, &o.go.gen, &predicted)) rc = 1; /* printed */
            else rc = generate(&o, s, ids, n, load_s);
            free(ids);
            free(predicted);
            bitnet_session_free(s);
            bitnet_model_close(m);
        }
    }
    cli_gen_opts_free(&o.go);
    return rc;
}
