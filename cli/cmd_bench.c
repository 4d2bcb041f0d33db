/* cmd_bench: `bitnet bench` measures prompt processing (prefill of p tokens, logits for the
 * last position only) and generation (n greedy single-token steps) in tokens/s, as the median
 * and min..max over REPS repetitions, each on a fresh sequence. It also reports the time to
 * the first generated token for a 16-token prompt, the kernel tier, the weight bytes one
 * generated token reads, the GB/s that implies, that figure as a % of the machine's streaming
 * read bandwidth (measured here before every repetition and after the last, in a child
 * process so that its buffer does not count in this process's peak RSS), and the peak RSS
 * (getrusage). With the screened head it also times the screened against the plain head,
 * their steps interleaved (head_ab). With --depth-ab D it also compares prompt processing and
 * generation at depth p against depth D, on two sequences whose prompts and steps alternate;
 * with --head-ab H, generation against a second copy of the model opened with --lm-head H, one
 * sequence on each, steps alternating (two_session_ab).
 * Prompt token i is (1000 + 37 i) mod n_vocab, the ids the llama.cpp harness's `bench` uses. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "cli.h"
#include "cli_model.h"
#include "kernels/cpu.h"

#define TTFT_PROMPT 16

static void usage(void) {
    printf("usage: bitnet bench --model M [-p 128] [-n 64] [-t N] [-r REPS] [--json] [options]\n"
           "Times prompt processing (p tokens, logits for the last one) and generation (n greedy\n"
           "steps) over REPS repetitions (median and min-max), the time to the first token of a\n"
           "%d-token prompt, bytes of weights read per generated token, the GB/s that is and its\n"
           "share of the streaming-read bandwidth measured around each repetition, and peak RSS.\n"
           "With the screened LM head it also times it against the plain head, their steps\n"
           "interleaved on one sequence (the 'screen ... generation' line).\n"
           "  -p, --prompt-len N    prompt tokens [128]; 0: none, generation from an empty sequence\n"
           "                        (llama-bench's -p 0). -p, -n and -d also take llama-bench's lists\n"
           "                        (-p 128,512): then a prompt test for each -p value and a generation\n"
           "                        test for each -n value at each -d, with -o text or md\n"
           "  -d, --n-depth D       llama-bench's depth: D tokens in the sequence (untimed) before each\n"
           "                        timed prompt and generation; -o md names the tests pp128 @ dD [0]\n"
           "  -n, --gen N           generated tokens [64]\n"
           "  -r, --reps N          repetitions [3]\n"
           "  --parallel N          also time batched generation: N sequences (p-token prompts)\n"
           "                        generating n tokens each in one batch; aggregate tok/s [off]\n"
           "  --depth-ab D          also compare depth p with depth D (1..p) in one loop: per rep,\n"
           "                        a D-token and a p-token prompt on two sequences (order swapped\n"
           "                        from rep to rep), then n steps alternating between them; the\n"
           "                        prompt rate and generation at p over those at D [off]\n"
           "  --head-ab H           also compare generation with a second copy of the model opened\n"
           "                        with --lm-head H (auto|screen|model|q8) in one loop: per rep,\n"
           "                        the p-token prompt on a sequence of each, then n steps\n"
           "                        alternating between them; this head's generation over H's [off]\n"
           "  --draw-temp T         the screened head computes, in the generation steps and the head\n"
           "                        comparison, the rows of a temperature-T draw without top-k (its\n"
           "                        Gumbel screen: what the server's default requests use) instead of\n"
           "                        greedy's best row; the sequence stays the greedy one [0: greedy]\n"
           "  --json                print one JSON object on the last line of stdout (also -o json)\n"
           "  -o md                 llama-bench's table instead (its default output: model, size, params,\n"
           "                        backend, threads, test ppP / tgN, t/s as mean +- deviation over the\n"
           "                        reps) on stdout, the lines above on stderr; -o text: the lines [text]\n"
           "%s",
           TTFT_PROMPT, cli_model_opts_help);
}

#define BENCH_LIST_MAX 16
#define BENCH_LIST_MAX_TEXT "16" /* for messages */
typedef struct {
    long long v[BENCH_LIST_MAX];
    int n;
} bench_list; /* llama-bench's value lists (-p 128,512) */

typedef struct {
    bench_list p_list, n_list, d_list; /* -p, -n, -d as given; p, n, depth are their first values */
    long long p, n, reps, parallel, depth_ab;
    long long depth;         /* -d / --n-depth (llama-bench's): tokens in the sequence before each timed prompt */
    bool json;
    bool md;                 /* -o md: llama-bench's table on stdout, the rest on stderr */
    double draw_temp; /* --draw-temp: > 0: the screened head's request is a temperature draw's */
    bool head_ab_set;        /* --head-ab H given */
    bitnet_lm_head head_ab;  /* its H */
} bench_opts;

typedef struct {
    double med, min, max;
} stat3;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static stat3 summarize(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    stat3 s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
    return s;
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int32_t)best;
}

/* Bytes of the streaming-read probe: 4x the last-level cache (sysfs), 256 MiB..2 GiB. */
static uint64_t probe_bytes(void) {
    uint64_t best = 0;
    for (int idx = 0; idx < 8; idx++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", idx);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        unsigned long long v = 0;
        char unit = 0;
        if (fscanf(f, "%llu%c", &v, &unit) >= 1) {
            uint64_t b = v * (unit == 'K' ? 1024ull : unit == 'M' ? 1048576ull : 1ull);
            if (b > best) best = b;
        }
        fclose(f);
    }
    uint64_t bytes = 4 * best;
    if (bytes < (256ull << 20)) bytes = 256ull << 20;
    if (bytes > (2048ull << 20)) bytes = 2048ull << 20;
    return bytes;
}

/* Streaming-read GB/s with n_threads, measured in a child process; < 0 when it failed. */
static double measure_bandwidth(int n_threads) {
    int fd[2];
    if (pipe(fd) != 0) return -1.0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1.0;
    }
    if (pid == 0) {
        close(fd[0]);
        double gbps = bn_measure_read_bandwidth(probe_bytes(), n_threads);
        ssize_t w = write(fd[1], &gbps, sizeof gbps);
        _exit(w == (ssize_t)sizeof gbps ? 0 : 1);
    }
    close(fd[1]);
    double gbps = -1.0;
    if (read(fd[0], &gbps, sizeof gbps) != (ssize_t)sizeof gbps) gbps = -1.0;
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    return gbps;
}

/* Greedy decoding's head: the screened head needs the best logit only (the plain head and the
 * 8-bit head compute every logit whatever the request). */
static const bn_head_req greedy = {.k = 1};

/* The benchmark prompt: token i is (1000 + 37 i + shift) mod n_vocab (shift 0: the harness's
 * ids; --parallel gives sequence k the shift k). */
static void fill_prompt(int32_t *prompt, int n, int64_t n_vocab, int shift) {
    for (int i = 0; i < n; i++) prompt[i] = (int32_t)((1000 + 37 * (int64_t)i + shift) % n_vocab);
}

/* Evaluates tokens and the last one's logits as greedy generation does. */
static int eval_greedy(bitnet_session *s, const int32_t *tokens, int n, float *logits) {
    return bn_state_eval_head(s->state, tokens, n, logits, &greedy);
}

/* One generation step: greedy's head request, or (draw_temp > 0) that of a temperature draw
 * without top-k with a key per step (head_screen.h). The screened row holds the best logit
 * exactly either way, so the next token, its argmax, is the greedy sequence's. */
static int eval_step(bitnet_session *s, int32_t token, float *logits, double draw_temp, int step) {
    bn_head_req req = greedy;
    if (draw_temp > 0) {
        req.gumbel = true;
        req.key = UINT64_C(0x9E3779B97F4A7C15) * (uint64_t)(step + 1);
        req.temperature = (float)draw_temp;
    }
    return bn_state_eval_head(s->state, &token, 1, logits, &req);
}

/* One repetition on a fresh sequence: `depth` tokens untimed (llama-bench's -d), then p prompt
 * tokens, then n greedy steps. p = 0 (llama-bench's -p 0, generation only): the steps follow the
 * depth's tokens, or start an empty sequence from the prompt's first token. */
static int run_once(bitnet_session *s, const int32_t *prompt, int depth, int p, int n, float *logits, int64_t n_vocab,
                    double draw_temp, double *prefill_rate, double *decode_rate) {
    if (bitnet_session_reset(s) || (depth > 0 && eval_greedy(s, prompt, depth, logits))) return -1;
    double t0 = cli_seconds();
    if (p > 0 && eval_greedy(s, prompt + depth, p, logits)) return -1;
    double t1 = cli_seconds();
    for (int i = 0; i < n; i++)
        if (eval_step(s, depth + p > 0 || i > 0 ? argmax(logits, n_vocab) : prompt[0], logits, draw_temp, i)) return -1;
    double t2 = cli_seconds();
    *prefill_rate = p > 0 ? p / (t1 - t0) : 0.0;
    *decode_rate = n > 0 ? n / (t2 - t1) : 0.0;
    return 0;
}

/* The screened head against the plain head in one loop: on a fresh sequence, after the prompt,
 * n steps in pairs, one screened (greedy) and one asking for every logit (the plain head, what
 * --lm-head model computes), the order swapped from pair to pair. Both pick the same token, so
 * the sequence is the greedy one. Interleaving lets the host's drift (on a shared VM the
 * bandwidth probe moves by 20% from run to run) hit both alike, where two separate runs
 * compare different minutes. *speedup = plain seconds / screened seconds. */
static int head_ab(bitnet_session *s, const int32_t *prompt, int p, int n, float *logits, int64_t n_vocab, double draw_temp,
                   double *speedup) {
    if (bitnet_session_reset(s) || eval_greedy(s, prompt, p > 0 ? p : 1, logits)) return -1; /* -p 0: from one token */
    double secs[2] = {0.0, 0.0}; /* [screened, plain] */
    for (int i = 0; i < n / 2 * 2; i++) {
        int plain = (i ^ (i >> 1)) & 1; /* pairs: screened first, then plain first */
        int32_t next = argmax(logits, n_vocab);
        double t0 = cli_seconds();
        if (plain ? bn_state_eval_head(s->state, &next, 1, logits, NULL) : eval_step(s, next, logits, draw_temp, i)) return -1;
        secs[plain] += cli_seconds() - t0;
    }
    *speedup = secs[0] > 0 ? secs[1] / secs[0] : 0.0;
    return 0;
}

/* Two sessions in one loop: fresh sequences on both, prompts of len[0] and len[1] tokens
 * (which first alternates with `rep`), then n steps in pairs, one on each sequence, the order
 * swapped from pair to pair. As head_ab: the host's drift hits both alike, where separate runs
 * compare different minutes (on this project's shared VM, by up to 40%). pp = prompt tok/s of
 * session 0 over session 1's; tg = generation tok/s of session 0 over session 1's.
 * --depth-ab: one model, depth p (session 0) against depth D; --head-ab: the same prompt on
 * this model (session 0) and on a copy opened with another LM head. */
static int two_session_ab(bitnet_session *const sess[2], const int32_t *prompt, const int len[2], int n, int rep, float *logits,
                          int64_t n_vocab, double *pp, double *tg) {
    double pre[2], dec[2] = {0.0, 0.0}; /* [session 0, session 1] */
    int32_t next[2];
    for (int j = 0; j < 2; j++) {
        int k = j ^ (rep & 1);
        if (bitnet_session_reset(sess[k])) return -1;
        double t0 = cli_seconds();
        if (eval_greedy(sess[k], prompt, len[k], logits)) return -1;
        pre[k] = cli_seconds() - t0;
        next[k] = argmax(logits, n_vocab);
    }
    for (int i = 0; i < n / 2 * 2; i++) {
        int k = (i ^ (i >> 1)) & 1;
        double t0 = cli_seconds();
        if (eval_greedy(sess[k], &next[k], 1, logits)) return -1;
        dec[k] += cli_seconds() - t0;
        next[k] = argmax(logits, n_vocab);
    }
    *pp = (len[0] / pre[0]) / (len[1] / pre[1]);
    *tg = dec[0] > 0 ? dec[1] / dec[0] : 0.0;
    return 0;
}

/* Seconds from a fresh sequence to the first generated token of a TTFT_PROMPT-token prompt. */
static int time_to_first_token(bitnet_session *s, const int32_t *prompt, float *logits, int64_t n_vocab, double *out) {
    if (bitnet_session_reset(s)) return -1;
    double t0 = cli_seconds();
    if (eval_greedy(s, prompt, TTFT_PROMPT, logits)) return -1;
    volatile int32_t first = argmax(logits, n_vocab);
    (void)first;
    *out = cli_seconds() - t0;
    return 0;
}

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* "a,b,c" (at most BENCH_LIST_MAX integers in [min, max]) into *list and its first value into
 * *first; false when malformed. */
static bool parse_list(const char *v, long long min, long long max, bench_list *list, long long *first) {
    char buf[256];
    if (strlen(v) >= sizeof buf) return false;
    strcpy(buf, v);
    list->n = 0;
    for (char *tok = buf, *comma; tok; tok = comma ? comma + 1 : NULL) {
        if ((comma = strchr(tok, ','))) *comma = 0;
        if (list->n == BENCH_LIST_MAX || !cli_parse_int(tok, min, max, &list->v[list->n])) return false;
        list->n++;
    }
    *first = list->v[0];
    return true;
}

static int parse_bench_opt(int argc, char **argv, int *i, bench_opts *b) {
    struct { const char *name, *alias; long long *dst; long long min, max; bench_list *list; } ints[] = {
        {"--prompt-len", "-p", &b->p, 0, 1 << 20, &b->p_list}, {"--gen", "-n", &b->n, 0, 1 << 20, &b->n_list},
        {"--n-depth", "-d", &b->depth, 0, 1 << 20, &b->d_list}, {"--reps", "-r", &b->reps, 1, 1000, NULL},
        {"--parallel", NULL, &b->parallel, 0, 256, NULL}, {"--depth-ab", NULL, &b->depth_ab, 1, 1 << 20, NULL}};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        const char *v;
        int r = cli_opt(argc, argv, i, ints[k].name, ints[k].alias, &v);
        if (r < 0) return 2;
        if (r == 0) continue;
        bench_list one, *list = ints[k].list ? ints[k].list : &one;
        if (!parse_list(v, ints[k].min, ints[k].max, list, ints[k].dst))
            return cli_usage_error("bench", "%s needs an integer in %lld..%lld%s", ints[k].name, ints[k].min, ints[k].max,
                                   ints[k].list ? ", or a list of up to " BENCH_LIST_MAX_TEXT " of them (128,512)" : "");
        if (!ints[k].list && one.n > 1) return cli_usage_error("bench", "%s takes one value, not a list '%s'", ints[k].name, v);
        return 1;
    }
    if (!strcmp(argv[*i], "--json")) {
        b->json = true;
        return 1;
    }
    const char *v;
    int r = cli_opt(argc, argv, i, "--output", "-o", &v);
    if (r < 0) return 2;
    if (r > 0) {
        if (strcmp(v, "md") && strcmp(v, "json") && strcmp(v, "text"))
            return cli_usage_error("bench", "-o must be text, md (llama-bench's table) or json, not '%s'", v);
        b->md = !strcmp(v, "md");
        b->json = !strcmp(v, "json");
        return 1;
    }
    r = cli_opt(argc, argv, i, "--head-ab", NULL, &v);
    if (r < 0) return 2;
    if (r > 0) {
        if (bitnet_lm_head_from_name(v, &b->head_ab)) return cli_usage_error("bench", "--head-ab must be auto, screen, model or q8, not '%s'", v);
        b->head_ab_set = true;
        return 1;
    }
    r = cli_opt(argc, argv, i, "--draw-temp", NULL, &v);
    if (r < 0) return 2;
    if (r > 0) {
        char *end;
        b->draw_temp = strtod(v, &end);
        if (end == v || *end || !(b->draw_temp >= 0 && b->draw_temp <= 1e6))
            return cli_usage_error("bench", "--draw-temp needs a temperature in 0..1e6 (0: greedy), not '%s'", v);
        return 1;
    }
    return 0;
}

typedef struct {
    double mean, sd; /* over the repetitions; sd the sample standard deviation (llama-bench's), 0 for one */
} mean_sd;

static mean_sd mean_and_sd(const double *v, int n) {
    mean_sd r = {0, 0};
    for (int i = 0; i < n; i++) r.mean += v[i] / n;
    for (int i = 0; n > 1 && i < n; i++) r.sd += (v[i] - r.mean) * (v[i] - r.mean) / (n - 1);
    r.sd = sqrt(r.sd);
    return r;
}

typedef struct {
    stat3 prefill, decode;
    mean_sd prefill_ms, decode_ms; /* the same repetitions' mean and deviation (-o md) */
    uint64_t n_params;             /* elements of every tensor in the file (-o md) */
    double ttft, load_s, bandwidth, gbps, pct;
    uint64_t bytes_per_token, file_bytes_per_token, peak_rss, file_bytes;
    bitnet_session_desc sd;
    bitnet_model_desc md;
    double pack_s;
    uint64_t packed_bytes;
    double parallel_tok_s;    /* --parallel: aggregate generated tok/s of the batch */
    double candidates;        /* screened head: mean candidate rows per screened token */
    double fallback_rate;     /* screened head: share of tokens computed with the whole head */
    double screen_speedup;    /* screened head: plain-head step time / screened step time, interleaved (head_ab) */
    double depth_pp_ratio;    /* --depth-ab: prompt tok/s at p over at D (medians of per-rep ratios) */
    double depth_tg_ratio;    /* --depth-ab: generation tok/s after p over after D */
    double head_ab_tg_ratio;  /* --head-ab: generation tok/s of this head over H's (median of per-rep ratios) */
} bench_result;

static void print_human(FILE *out, const bench_opts *b, const cli_model_opts *mo, const bench_result *r) {
    char b1[32], b2[32], b3[32], b4[32];
    fprintf(out, "model        %s (%s, head %s%s, LM head %s)\n", mo->model, r->md.weight_type, r->md.lm_head_type,
           r->md.tied_lm_head ? ", tied" : "", bitnet_lm_head_name(r->md.lm_head));
    if (r->md.lm_head == BITNET_LM_HEAD_SCREEN)
        fprintf(out, "screen       %.1f candidate rows per token (exact logits from the model's head), %.2f%% of tokens read the whole head%s\n",
               r->candidates, 100.0 * r->fallback_rate, b->draw_temp > 0 ? " (rows of temperature draws, --draw-temp)" : "");
    if (r->md.lm_head == BITNET_LM_HEAD_SCREEN && r->screen_speedup > 0)
        fprintf(out, "screen       generation %.3fx the plain head's (steps of both interleaved on one sequence, median of %lld reps)\n",
               r->screen_speedup, b->reps);
    fprintf(out, "tier         %s, %d threads, act-quant token, KV cache K %s V %s\n", r->sd.kernel_tier, r->sd.n_threads,
           cli_kv_type_name(r->sd.kv_type_k), cli_kv_type_name(r->sd.kv_type_v));
    fprintf(out, "load         %.2f s (repacking %s of ternary weights: %.2f s)\n", r->load_s,
           cli_human_bytes((double)r->packed_bytes, b1, sizeof b1), r->pack_s);
    char after[48] = "";
    if (b->depth) snprintf(after, sizeof after, " after %lld (-d)", b->depth);
    if (b->p > 0)
        fprintf(out, "prefill      %lld tokens%s: %.2f tok/s (min %.2f, max %.2f) over %lld reps\n", b->p, after, r->prefill.med,
                r->prefill.min, r->prefill.max, b->reps);
    else
        fprintf(out, "prefill      none (-p 0: generation %s), %lld reps\n", b->depth ? "after the -d tokens" : "from an empty sequence",
                b->reps);
    if (b->depth) snprintf(after, sizeof after, " after %lld + %lld", b->depth, b->p);
    if (b->n > 0)
        fprintf(out, "decode       %lld tokens%s: %.2f tok/s (min %.2f, max %.2f)\n", b->n, after, r->decode.med, r->decode.min,
                r->decode.max);
    else
        fprintf(out, "decode       none (-n 0)\n");
    fprintf(out, "ttft         %.4f s for a %d-token prompt (after load)\n", r->ttft, TTFT_PROMPT);
    if (b->n > 0) /* of generation's steps */
        fprintf(out, "bandwidth    %s weights/token -> %.2f GB/s = %.1f%% of the measured %.2f GB/s streaming read\n",
                cli_human_bytes((double)r->bytes_per_token, b2, sizeof b2), r->gbps, r->pct, r->bandwidth);
    if (b->parallel)
        fprintf(out, "parallel     %lld sequences x %lld tokens in one batch: %.2f tok/s aggregate (%.2fx one sequence)\n", b->parallel,
               b->n, r->parallel_tok_s, r->decode.med > 0 ? r->parallel_tok_s / r->decode.med : 0.0);
    if (b->depth_ab)
        fprintf(out, "depth        prompt of %lld tokens at %.3fx the rate of %lld; generation after it %.3fx after %lld (both depths\n"
               "             interleaved on two sequences, median of %lld reps)\n",
               b->p, r->depth_pp_ratio, b->depth_ab, r->depth_tg_ratio, b->depth_ab, b->reps);
    if (b->head_ab_set)
        fprintf(out, "head-ab      generation %.3fx that of a copy of the model with --lm-head %s (steps interleaved on\n"
               "             two sequences, one per copy, median of %lld reps)\n",
               r->head_ab_tg_ratio, bitnet_lm_head_name(b->head_ab), b->reps);
    fprintf(out, "memory       peak RSS %s (file %s, KV cache %s)\n", cli_human_bytes((double)r->peak_rss, b3, sizeof b3),
           cli_human_bytes((double)r->file_bytes, b4, sizeof b4), cli_human_bytes((double)r->sd.kv_cache_bytes, b1, sizeof b1));
}

static void print_json(const bench_opts *b, const cli_model_opts *mo, const bench_result *r) {
    printf("{\"engine\":\"bitnet\",\"model\":");
    cli_json_string(stdout, mo->model, strlen(mo->model));
    printf(",\"kv_type_k\":\"%s\",\"kv_type_v\":\"%s\",\"depth\":%lld", cli_kv_type_name(r->sd.kv_type_k),
           cli_kv_type_name(r->sd.kv_type_v), b->depth);
    printf(",\"weight_type\":\"%s\",\"lm_head\":\"%s\",\"tier\":\"%s\",\"threads\":%d,\"p\":%lld,\"n\":%lld,\"reps\":%lld,"
           "\"prefill_tok_s\":%.3f,\"prefill_min\":%.3f,\"prefill_max\":%.3f,"
           "\"decode_tok_s\":%.3f,\"decode_min\":%.3f,\"decode_max\":%.3f,\"ttft_s\":%.5f,\"load_s\":%.3f,"
           "\"pack_s\":%.3f,\"packed_bytes\":%llu,\"bytes_per_token\":%llu,\"file_bytes_per_token\":%llu,\"gbps\":%.3f,\"read_bandwidth_gbps\":%.3f,"
           "\"bandwidth_pct\":%.2f,\"peak_rss_bytes\":%llu,\"file_bytes\":%llu,\"kv_cache_bytes\":%llu,"
           "\"parallel\":%lld,\"parallel_tok_s\":%.3f,\"lm_head_mode\":\"%s\",\"screen_candidates\":%.2f,\"screen_fallback_rate\":%.5f,\"screen_speedup_interleaved\":%.4f,\"screen_draw_temp\":%g,"
           "\"depth_ab\":%lld,\"depth_ab_pp_ratio\":%.4f,\"depth_ab_tg_ratio\":%.4f,\"head_ab\":\"%s\",\"head_ab_tg_ratio\":%.4f}\n",
           r->md.weight_type, r->md.lm_head == BITNET_LM_HEAD_Q8 ? "q8_0" : r->md.lm_head_type, r->sd.kernel_tier, r->sd.n_threads, b->p, b->n,
           b->reps, r->prefill.med, r->prefill.min, r->prefill.max, r->decode.med, r->decode.min, r->decode.max, r->ttft,
           r->load_s, r->pack_s, (unsigned long long)r->packed_bytes, (unsigned long long)r->bytes_per_token,
           (unsigned long long)r->file_bytes_per_token, r->gbps, r->bandwidth, r->pct, (unsigned long long)r->peak_rss, (unsigned long long)r->file_bytes,
           (unsigned long long)r->sd.kv_cache_bytes, b->parallel, r->parallel_tok_s, bitnet_lm_head_name(r->md.lm_head), r->candidates,
           r->fallback_rate, r->screen_speedup, b->draw_temp, b->depth_ab, r->depth_pp_ratio, r->depth_tg_ratio,
           b->head_ab_set ? bitnet_lm_head_name(b->head_ab) : "", r->head_ab_tg_ratio);
}

/* -o md: llama-bench's markdown table (its default output, and the one bitnet.cpp's
 * e2e_benchmark.py shows), so that the two tools' lines can be read side by side: model, size
 * (tensor bytes), params, backend, threads, n_batch (when -b was given), test (ppP, tgN) and
 * t/s as mean +- sample deviation over the repetitions. The model column is this file's
 * architecture and weight type (llama-bench's also names a size class and the file type). */
static void print_md_header(bool batch_given) {
    printf("| %-30s | %10s | %10s | %-10s | %7s |%s %15s | %20s |\n", "model", "size", "params", "backend", "threads",
           batch_given ? " n_batch |" : "", "test", "t/s");
    printf("| ------------------------------ | ---------: | ---------: | ---------- | ------: |%s --------------: | "
           "-------------------: |\n", batch_given ? " ------: |" : "");
}

/* The rows of one measurement: its prompt test (p > 0) and its generation test (n > 0). */
static void print_md_rows(const bench_opts *b, const cli_model_opts *mo, const bench_result *r, bool batch_given) {
    char model[64], size[32], params[32], test[32], ts[48];
    double gib = (double)r->md.weight_bytes / (1024.0 * 1024.0 * 1024.0);
    snprintf(model, sizeof model, "%s %s", r->md.architecture, r->md.weight_type);
    for (char *c = model + strlen(r->md.architecture) + 1; *c; c++) *c = (char)toupper((unsigned char)*c);
    if (gib < 1.0) snprintf(size, sizeof size, "%.2f MiB", gib * 1024.0);
    else snprintf(size, sizeof size, "%.2f GiB", gib);
    if (r->n_params < 1000000000u) snprintf(params, sizeof params, "%.2f M", (double)r->n_params / 1e6);
    else snprintf(params, sizeof params, "%.2f B", (double)r->n_params / 1e9);
    for (int row = 0; row < 2; row++) {
        const mean_sd *v = row ? &r->decode_ms : &r->prefill_ms;
        if (row ? b->n == 0 : b->p == 0) continue;
        int len = snprintf(test, sizeof test, row ? "tg%lld" : "pp%lld", row ? b->n : b->p);
        if (b->depth) snprintf(test + len, sizeof test - (size_t)len, " @ d%lld", b->depth); /* llama-bench's "pp512 @ d4096" */
        snprintf(ts, sizeof ts, "%.2f \xc2\xb1 %.2f", v->mean, v->sd);
        char batch[24] = "";
        if (batch_given) snprintf(batch, sizeof batch, " %7lld |", mo->batch);
        printf("| %-30s | %10s | %10s | %-10s | %7d |%s %15s | %21s |\n", model, size, params, "CPU", r->sd.n_threads, batch, test, ts);
    }
}

/* Tokens generated by one sequence of the --parallel batch. */
static int count_token(int32_t token, const char *text, size_t len, void *user) {
    (void)token, (void)text, (void)len;
    (*(long long *)user)++;
    return 0;
}

static int submit_parallel(bitnet_batch *batch, const bench_opts *b, int32_t *prompts, int64_t n_vocab, bitnet_generate_params *gp,
                           long long *counts) {
    for (int k = 0; k < (int)b->parallel; k++) {
        int32_t *pr = prompts + (int64_t)k * b->p;
        fill_prompt(pr, (int)b->p, n_vocab, k);
        gp[k] = gp[0];
        gp[k].user_data = &counts[k];
        if (bitnet_batch_submit(batch, k, pr, (int)b->p, &gp[k], NULL)) return -1;
    }
    return 0;
}

static long long sum_counts(const long long *counts, int n) {
    long long sum = 0;
    for (int k = 0; k < n; k++) sum += counts[k];
    return sum;
}

static bool every_count_positive(const long long *counts, int n) {
    for (int k = 0; k < n; k++)
        if (counts[k] < 1) return false;
    return true;
}

/* --parallel: every sequence prefills and samples its first token, then the steps that
 * generate the rest are timed: aggregate tokens per second of the whole batch. */
static int measure_parallel(bitnet_model *m, const cli_model_opts *mo, const bench_opts *b, bench_result *r) {
    bitnet_batch_params bp = bitnet_batch_default_params();
    bp.n_slots = (int)b->parallel;
    bp.n_ctx = b->p + b->n + 8;
    bp.n_threads = (int)mo->threads;
    bp.n_batch = (int)(mo->batch > b->parallel ? mo->batch : b->parallel);
    bp.kv_type_k = mo->kv_type_k;
    bp.kv_type_v = mo->kv_type_v;
    bitnet_batch *batch;
    if (bitnet_batch_create(m, &bp, &batch)) return cli_fail("bench", "%s", bitnet_get_last_error());
    int np = (int)b->parallel;
    long long *counts = calloc((size_t)np, sizeof *counts);
    bitnet_generate_params *gp = malloc(sizeof *gp * (size_t)np);
    int32_t *prompts = malloc(sizeof *prompts * (size_t)(b->parallel * b->p));
    int rc = counts && gp && prompts ? 0 : cli_fail("bench", "out of memory");
    if (!rc) {
        gp[0] = bitnet_generate_default_params();
        gp[0].sampling.temperature = 0.0f;
        gp[0].max_tokens = (int)b->n;
        gp[0].ignore_eog = 1;
        gp[0].on_token = count_token;
        if (submit_parallel(batch, b, prompts, r->md.n_vocab, gp, counts)) rc = cli_fail("bench", "%s", bitnet_get_last_error());
    }
    int busy = 1;
    while (!rc && busy > 0 && !every_count_positive(counts, np)) busy = bitnet_batch_step(batch); /* every prompt in */
    long long first = rc ? 0 : sum_counts(counts, np);
    double t0 = cli_seconds();
    while (!rc && busy > 0) busy = bitnet_batch_step(batch);
    if (busy < 0) rc = cli_fail("bench", "%s", bitnet_get_last_error());
    double dt = cli_seconds() - t0;
    if (!rc) r->parallel_tok_s = dt > 0 ? (double)(sum_counts(counts, np) - first) / dt : 0.0;
    free(counts);
    free(gp);
    free(prompts);
    bitnet_batch_free(batch);
    return rc;
}

/* The screened head's reads beyond its copy: the candidate rows of the model's head, and the
 * whole head for the tokens that fell back to it (means over the session's tokens). Fills
 * r->candidates and r->fallback_rate. */
static uint64_t screen_extra_bytes(const bn_model *m, const bitnet_session *s, bench_result *r) {
    bn_head_stats hs = bn_state_head_stats(s->state);
    uint64_t tokens = hs.screened + hs.fallbacks;
    if (!m->screen || tokens == 0) return 0;
    r->candidates = hs.screened ? (double)hs.candidates / (double)hs.screened : 0.0;
    r->fallback_rate = (double)hs.fallbacks / (double)tokens;
    double row = (double)m->output.row_bytes, head = row * (double)m->output.out;
    return (uint64_t)(r->candidates * row * (1.0 - r->fallback_rate) + r->fallback_rate * head);
}

/* pct[i] = repetition i's decode GB/s (bytes per token x dec[i]) as a % of the mean of the
 * probes taken just before and just after it (bw[i], bw[i + 1]): on a shared VM the
 * bandwidth drifts by tens of % within minutes, and a probe taken once before the model load
 * compared the decode rate with another minute's machine. False when a probe failed. */
static bool bandwidth_shares(const double *dec, const double *bw, int reps, uint64_t bytes, double *pct) {
    for (int i = 0; i <= reps; i++)
        if (bw[i] <= 0) return false;
    for (int i = 0; i < reps; i++) pct[i] = 100.0 * (double)bytes * dec[i] / 1e9 / (0.5 * (bw[i] + bw[i + 1]));
    return true;
}

/* two_session_ab over the reps on sess[0] and sess[1] (prompts of len[0] and len[1] <= p
 * tokens): the medians of the per-rep ratios into *pp_med (unless NULL) and *tg_med (0 with
 * fewer than 2 steps). */
static int two_session_reps(bitnet_session *const sess[2], const int len[2], const bench_opts *b, int64_t n_vocab, double *pp_med,
                            double *tg_med) {
    int reps = (int)b->reps;
    int32_t *prompt = malloc(sizeof *prompt * (size_t)b->p);
    float *logits = malloc(sizeof *logits * (size_t)n_vocab);
    double *pp = malloc(sizeof *pp * 2 * (size_t)reps), *tg = pp ? pp + reps : NULL;
    int rc = prompt && logits && pp ? 0 : cli_fail("bench", "out of memory");
    if (!rc) fill_prompt(prompt, (int)b->p, n_vocab, 0);
    for (int i = 0; !rc && i < reps; i++)
        if (two_session_ab(sess, prompt, len, (int)b->n, i, logits, n_vocab, &pp[i], &tg[i])) rc = cli_fail("bench", "%s", bitnet_get_last_error());
    if (!rc) {
        if (pp_med) *pp_med = summarize(pp, reps).med;
        *tg_med = b->n >= 2 ? summarize(tg, reps).med : 0.0;
    }
    free(prompt);
    free(logits);
    free(pp);
    return rc;
}

/* --depth-ab: s at depth p against a second session of the same options at depth D. Fills
 * r->depth_pp_ratio and r->depth_tg_ratio. */
static int measure_depth_ab(bitnet_model *m, bitnet_session *s, const cli_model_opts *mo, const bench_opts *b, bench_result *r) {
    int len[2] = {(int)b->p, (int)b->depth_ab};
    bitnet_session *sess[2] = {s, NULL};
    if (cli_open_session(mo, "bench", m, &sess[1])) return 1;
    int rc = two_session_reps(sess, len, b, r->md.n_vocab, &r->depth_pp_ratio, &r->depth_tg_ratio);
    bitnet_session_free(sess[1]);
    return rc;
}

/* --head-ab H: s against a session on a second copy of the model opened with --lm-head H (the
 * same file and session options), both after the p-token prompt. Fills r->head_ab_tg_ratio. */
static int measure_head_ab(bitnet_session *s, const cli_model_opts *mo, const bench_opts *b, bench_result *r) {
    cli_model_opts other = *mo;
    other.lm_head = b->head_ab;
    bitnet_model *m2;
    bitnet_session *sess[2] = {s, NULL};
    int rc = cli_open_model(&other, "bench", &m2, &sess[1]);
    if (rc) return rc;
    int len[2] = {(int)b->p, (int)b->p};
    rc = two_session_reps(sess, len, b, r->md.n_vocab, NULL, &r->head_ab_tg_ratio);
    bitnet_session_free(sess[1]);
    bitnet_model_close(m2);
    return rc;
}

/* The measurements themselves, on an open session. */
static int measure(bitnet_model *m, bitnet_session *s, const bench_opts *b, bench_result *r) {
    int64_t n_vocab = r->md.n_vocab;
    int p = (int)b->p, n = (int)b->n, reps = (int)b->reps, depth = (int)b->depth;
    int plen = depth + (p > TTFT_PROMPT ? p : TTFT_PROMPT); /* the depth's tokens, then the prompt's */
    int32_t *prompt = malloc(sizeof *prompt * (size_t)plen);
    float *logits = malloc(sizeof *logits * (size_t)n_vocab);
    double *pre = malloc(sizeof *pre * (size_t)reps * 6 + sizeof *pre), *dec = pre + reps, *ttft = dec + reps, *ab = ttft + reps;
    double *pct = ab + reps, *bw = pct + reps; /* bw: reps + 1 probes, one before each repetition and one after the last */
    int rc = prompt && logits && pre ? 0 : cli_fail("bench", "out of memory");
    if (!rc) fill_prompt(prompt, plen, n_vocab, 0);
    double warm_p, warm_d;
    if (!rc && run_once(s, prompt, 0, p < TTFT_PROMPT ? p : TTFT_PROMPT, 2, logits, n_vocab, b->draw_temp, &warm_p, &warm_d)) /* warm-up */
        rc = cli_fail("bench", "%s", bitnet_get_last_error());
    for (int i = 0; !rc && i < reps; i++) {
        bw[i] = measure_bandwidth(r->sd.n_threads);
        if (run_once(s, prompt, depth, p, n, logits, n_vocab, b->draw_temp, &pre[i], &dec[i]) ||
            time_to_first_token(s, prompt, logits, n_vocab, &ttft[i]))
            rc = cli_fail("bench", "%s", bitnet_get_last_error());
    }
    if (!rc) bw[reps] = measure_bandwidth(r->sd.n_threads);
    /* the peak RSS of loading and generating, before head_ab maps the plain head's pages in */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r->peak_rss = (uint64_t)ru.ru_maxrss * 1024u;
    bool screened = r->md.lm_head == BITNET_LM_HEAD_SCREEN && n >= 2;
    for (int i = 0; !rc && screened && i < reps; i++)
        if (head_ab(s, prompt, depth + p, n, logits, n_vocab, b->draw_temp, &ab[i])) rc = cli_fail("bench", "%s", bitnet_get_last_error());
    if (!rc) {
        const bn_model *bm = m->m;
        r->bytes_per_token = bn_model_token_read_bytes(bm) + screen_extra_bytes(bm, s, r);
        bool probed = bandwidth_shares(dec, bw, reps, r->bytes_per_token, pct);
        r->screen_speedup = screened ? summarize(ab, reps).med : 0.0;
        r->prefill_ms = mean_and_sd(pre, reps);
        r->decode_ms = mean_and_sd(dec, reps);
        r->n_params = 0; /* measure_lists measures again into the same result */
        for (uint64_t t = 0; t < bm->file->n_tensors; t++) r->n_params += bm->file->tensors[t].n_elements;
        r->prefill = summarize(pre, reps);
        r->decode = summarize(dec, reps);
        r->ttft = summarize(ttft, reps).med;
        r->file_bytes_per_token = bn_model_token_file_bytes(bm);
        r->pack_s = bm->pack_seconds;
        r->packed_bytes = bm->packed_bytes;
        r->gbps = (double)r->bytes_per_token * r->decode.med / 1e9;
        r->pct = probed ? summarize(pct, reps).med : 0.0;
        r->bandwidth = probed ? summarize(bw, reps + 1).med : -1.0;
    }
    free(prompt);
    free(logits);
    free(pre);
    return rc;
}

/* Value lists (llama-bench's): at each -d depth, a prompt test for each -p value and a
 * generation test for each -n value (0s skipped), on one session; each test's lines, and with
 * -o md one table of all their rows. */
static int measure_lists(bitnet_model *m, bitnet_session *s, const bench_opts *b, const cli_model_opts *mo, bench_result *r,
                         bool batch_given) {
    int rc = 0, tests = 0;
    for (int di = 0; !rc && di < b->d_list.n; di++)
        for (int k = 0; !rc && k < b->p_list.n + b->n_list.n; k++) {
            bench_opts t = *b;
            bool pp = k < b->p_list.n;
            t.depth = b->d_list.v[di];
            t.p = pp ? b->p_list.v[k] : 0;
            t.n = pp ? 0 : b->n_list.v[k - b->p_list.n];
            if (t.p == 0 && t.n == 0) continue;
            if ((rc = measure(m, s, &t, r))) break;
            print_human(b->md ? stderr : stdout, &t, mo, r);
            if (b->md && !tests++) print_md_header(batch_given);
            if (b->md) print_md_rows(&t, mo, r, batch_given);
        }
    return rc;
}

static long long list_max(const bench_list *l) {
    long long v = 0;
    for (int i = 0; i < l->n; i++) v = l->v[i] > v ? l->v[i] : v;
    return v;
}

/* One value each: the measurement with its extras (--parallel, --depth-ab, --head-ab), its lines,
 * and -o md's table or --json's object. */
static int measure_single(bitnet_model *m, bitnet_session *s, const bench_opts *b, const cli_model_opts *mo, bench_result *r,
                          bool batch_given) {
    int rc = measure(m, s, b, r);
    if (!rc && b->parallel) rc = measure_parallel(m, mo, b, r);
    if (!rc && b->depth_ab) rc = measure_depth_ab(m, s, mo, b, r);
    if (!rc && b->head_ab_set) rc = measure_head_ab(s, mo, b, r);
    if (rc) return rc;
    print_human(b->md ? stderr : stdout, b, mo, r); /* -o md: the table alone on stdout */
    if (b->md) {
        print_md_header(batch_given);
        print_md_rows(b, mo, r, batch_given);
    }
    if (b->json) print_json(b, mo, r);
    return 0;
}

/* One value each: what the options exclude. 0 or 2. */
static int check_single(const bench_opts *b) {
    if (b->depth_ab > b->p) return cli_usage_error("bench", "--depth-ab %lld is above the prompt length %lld", b->depth_ab, b->p);
    if (b->p == 0 && b->n == 0) return cli_usage_error("bench", "-p 0 and -n 0 leave nothing to time");
    if (b->depth && (b->depth_ab || b->parallel))
        return cli_usage_error("bench", "-d is not taken with %s (which times its own prompts)", b->depth_ab ? "--depth-ab" : "--parallel");
    if (b->p == 0 && (b->parallel || b->head_ab_set))
        return cli_usage_error("bench", "%s needs a prompt (-p >= 1)", b->parallel ? "--parallel" : "--head-ab");
    return 0;
}

/* With value lists: what they exclude. 0 or 2. */
static int check_lists(const bench_opts *b) {
    if (b->json || b->parallel || b->depth_ab || b->head_ab_set)
        return cli_usage_error("bench", "value lists (-p, -n, -d with commas) are taken with -o text or md, without %s",
                               b->json ? "--json" : b->parallel ? "--parallel" : b->depth_ab ? "--depth-ab" : "--head-ab");
    if (list_max(&b->p_list) == 0 && list_max(&b->n_list) == 0) return cli_usage_error("bench", "the lists leave nothing to time");
    return 0;
}

/* Unless given, the session's context and prefill chunk for the largest test (one value each:
 * that test): the depth, the prompt (at least the TTFT prompt), the steps and a margin. */
static void size_session(const bench_opts *b, cli_model_opts *mo) {
    long long p = list_max(&b->p_list) > TTFT_PROMPT ? list_max(&b->p_list) : TTFT_PROMPT;
    if (!mo->ctx) mo->ctx = list_max(&b->d_list) + p + list_max(&b->n_list) + 8;
    if (!mo->batch) mo->batch = p < 512 ? p : 512;
}

int cmd_bench(int argc, char **argv) {
    cli_model_opts mo;
    bench_opts b = {.p = 128, .n = 64, .reps = 3, .head_ab = BITNET_LM_HEAD_AUTO, .p_list = {{128}, 1}, .n_list = {{64}, 1}, .d_list = {{0}, 1}};
    cli_model_opts_init(&mo);
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        }
        if ((r = parse_bench_opt(argc, argv, &i, &b)) || (r = cli_model_opt(argc, argv, &i, &mo, "bench"))) {
            if (r == 2) return 2;
            continue;
        }
        return cli_usage_error("bench", "unknown argument '%s'", argv[i]);
    }
    if (!mo.model) return cli_usage_error("bench", "missing --model FILE");
    bool lists = b.p_list.n > 1 || b.n_list.n > 1 || b.d_list.n > 1, batch_given = mo.batch != 0;
    if (lists ? check_lists(&b) : check_single(&b)) return 2;
    size_session(&b, &mo);
    bench_result r;
    memset(&r, 0, sizeof r);
    r.file_bytes = file_size(mo.model);
    bitnet_model *m;
    bitnet_session *s;
    double t0 = cli_seconds();
    int rc = cli_open_model(&mo, "bench", &m, &s);
    if (rc) return rc;
    r.load_s = cli_seconds() - t0;
    r.sd.struct_size = sizeof r.sd;
    r.md.struct_size = sizeof r.md;
    if (bitnet_session_describe(s, &r.sd) || bitnet_model_describe(m, &r.md)) rc = cli_fail("bench", "%s", bitnet_get_last_error());
    if (!rc) rc = lists ? measure_lists(m, s, &b, &mo, &r, batch_given) : measure_single(m, s, &b, &mo, &r, batch_given);
    bitnet_session_free(s);
    bitnet_model_close(m);
    return rc;
}
