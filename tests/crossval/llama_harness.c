/* llama_harness: the llama.cpp side of cross-validation. A small program over the reference
 * libllama (prebuilt, .cache/reference/lib) that does what our `bitnet` CLI does, so that the
 * two can be compared file for file:
 *
 *   logits   --model M --tokens 1,2,3 --out F.bin [--threads N]
 *            one llama_decode of all tokens, logits of every position written as raw
 *            little-endian float32 [n_tokens][n_vocab] (the layout of `bitnet logits`).
 *   embed    --model M --tokens 1,2,3 --pooling mean|last|cls|none --out F.bin [--threads N]
 *            one llama_decode with embeddings on: the pooled vector [n_embd] (none: every
 *            position's, [n_tokens][n_embd]) as raw float32, unnormalized (`bitnet embed
 *            --embd-normalize -1 --out`'s layout).
 *   greedy   --model M --tokens 1,2,3 [-n 32] [--threads N] [--stop-at-eos]
 *            argmax continuation, one token per decode; prints the ids separated by spaces.
 *   trace    --model M --tokens 1,2,3 --out-dir D [--threads N]
 *            captures intermediate tensors through the context's cb_eval callback and writes
 *            them with our tracer (src/debug/trace.h), under our stage names (docs/CROSSVAL.md).
 *   tokenize --model M --prompt TEXT [--no-bos]
 *   load     --model M      prints "ok" and the hyper-parameters llama.cpp read.
 *   perplexity --model M --file TEXT [-c 512] [--chunks N] [--kl-base FILE] [--threads N]
 *            llama-perplexity's method written here from its description (not its code):
 *            llama.cpp's tokens of the text (BOS added as the vocabulary asks), windows of -c
 *            tokens whose first token becomes BOS, the second half of each window scored
 *            against the next token, nll = log-sum-exp - logit in double. Prints
 *            "PPL = X +/- Y (N tokens)". --kl-base also writes llama.cpp's log-probability
 *            file for those positions (the base of `bitnet perplexity --kl-divergence`).
 *   samplers [--cases 1000] [--seed 1] [--show CASE]
 *            llama.cpp's sampler chain against ours (src/text/sampler.h) on N random cases
 *            (a fixed generator from S): logits over 2 .. 1000 tokens (some masked), a
 *            history the penalties and DRY see, up to 3 draws from one-token rows, the
 *            samplers in a random order (some named twice, some left out; a third of the
 *            cases a part of the default order, where our default chain is checked too) with
 *            random parameters, adaptive-p in a third. llama.cpp's chain of the same stages (no
 *            draw, or adaptive-p's) and bn_sampler_distribution must leave the same tokens
 *            with probabilities within 1e-4 + 1e-3 p. Prints each case that differs and
 *            "samplers: N cases, M differ (K not compared ...)"; exit status 1 when any
 *            differ. Not compared: cases where llama.cpp's logits overflow to +inf under a
 *            temperature near 0. Its sums are in float, ours in double, so a near-tie may
 *            fall either way (seeds 1-4 x 3000 cases find one, in seed 2: a logit 2e-7 from
 *            top-n-sigma's threshold); --show lists both sides' survivors of one case, by id. Needs
 *            our library (linked when build/libbitnet.a exists, as for trace).
 *   bench    --model M [-p 128] [-n 64] [-r 3] [--threads N]
 *            `bitnet bench`'s counterpart: per repetition, a fresh cache, prefill of p
 *            synthetic tokens (logits for the last only) and n greedy single-token decodes;
 *            prints one JSON line with medians and min/max of tokens/s, and the features of
 *            the CPU backend variant that was loaded (BITNET_REF_LIB names a directory to
 *            load the variants from: scripts/bench.sh points it at one holding only the
 *            AVX2 "haswell" variant to compare with our AVX2 tier).
 *
 * Every command takes --kv-type f32|f16|q8_0 (default f32), the KV cache's type, to compare
 * with ours at the same --kv-type. Numerics: f32 and f16 run without flash attention (the f16
 * path rounds Q and the softmax weights to f16 for its F16 x F32 products; llama.cpp's flash
 * attention would also accumulate V in f16), q8_0 with it (llama.cpp requires flash attention
 * for a quantized V cache; it quantizes Q to q8_0 for the K products). Our engine keeps Q and
 * the weights in f32 and decodes the cache exactly (src/model/attention.h). Built by scripts/build_harness.sh; not part of the library. Errors go to
 * stderr with exit status 1 (2 for bad usage). */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

#ifdef BN_HAVE_TRACER
#include "debug/trace.h"
#include "text/sampler.h"
#include "util.h"
#endif

#ifndef REF_LIB_DIR
#define REF_LIB_DIR ".cache/reference/lib"
#endif

/* ===================================================================== options & errors */

typedef struct {
    const char *model;
    const char *tokens_arg;
    const char *out;       /* logits file, or trace folder */
    const char *prompt;
    const char *file;      /* perplexity: the text */
    const char *kl_base;   /* perplexity: log-probability file to write */
    const char *pooling;   /* embed: mean, last, cls or none */
    int n_ctx;             /* perplexity: window */
    int chunks;            /* perplexity: at most this many windows (0: all) */
    int threads;
    int n_gen;
    int n_prompt;          /* bench: prompt length */
    int reps;              /* bench: repetitions */
    bool no_bos;
    bool stop_at_eos;
    enum ggml_type kv_type;  /* --kv-type */
} harness_opts;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("llama_harness: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int usage(void) {
    fputs("usage: llama_harness logits   --model M --tokens 1,2,3 --out F.bin [--threads N]\n"
          "       llama_harness embed    --model M --tokens 1,2,3 --pooling mean|last|cls|none --out F.bin [--threads N]\n"
          "       llama_harness greedy   --model M --tokens 1,2,3 [-n 32] [--threads N] [--stop-at-eos]\n"
          "       llama_harness trace    --model M --tokens 1,2,3 --out-dir D [--threads N]\n"
          "       llama_harness tokenize --model M --prompt TEXT [--no-bos]\n"
          "       llama_harness load     --model M\n"
          "       llama_harness bench    --model M [-p 128] [-n 64] [-r 3] [--threads N]\n"
          "       llama_harness perplexity --model M --file TEXT [-c 512] [--chunks N] [--kl-base FILE] [--threads N]\n"
          "       llama_harness samplers [--cases N] [--seed S] [--show CASE]\n"

          "every command: --kv-type f32|f16|q8_0   the KV cache's type [f32]\n",
          stderr);
    return 2;
}

static bool parse_int(const char *s, long min, long max, int *out) {
    char *end;
    if (!s || !*s) return false;
    long v = strtol(s, &end, 10);
    if (*end || v < min || v > max) return false;
    *out = (int)v;
    return true;
}

/* Returns 0, or 2 after a message on a bad option. */
static int parse_opts(int argc, char **argv, harness_opts *o) {
    memset(o, 0, sizeof *o);
    o->threads = 2;
    o->n_gen = 32;
    o->n_prompt = 128;
    o->reps = 3;
    o->n_ctx = 512;
    o->kv_type = GGML_TYPE_F32;
    const char *kv = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (!strcmp(a, "--no-bos")) { o->no_bos = true; continue; }
        if (!strcmp(a, "--stop-at-eos")) { o->stop_at_eos = true; continue; }
        if (!strcmp(a, "--model")) dst = &o->model;
        else if (!strcmp(a, "--tokens")) dst = &o->tokens_arg;
        else if (!strcmp(a, "--out") || !strcmp(a, "--out-dir")) dst = &o->out;
        else if (!strcmp(a, "--prompt")) dst = &o->prompt;
        else if (!strcmp(a, "--kv-type")) dst = &kv;
        else if (!strcmp(a, "--file")) dst = &o->file;
        else if (!strcmp(a, "--kl-base")) dst = &o->kl_base;
        else if (!strcmp(a, "--pooling")) dst = &o->pooling;
        else if (strcmp(a, "--threads") && strcmp(a, "-n") && strcmp(a, "-p") && strcmp(a, "-r") && strcmp(a, "-c") &&
                 strcmp(a, "--chunks")) {
            fprintf(stderr, "llama_harness: unknown option '%s'\n", a);
            return usage();
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "llama_harness: option '%s' needs a value\n", a);
            return usage();
        }
        const char *v = argv[++i];
        if (dst) {
            *dst = v;
        } else if (!parse_int(v, 1, 1 << 20, !strcmp(a, "-n") ? &o->n_gen : !strcmp(a, "-p") ? &o->n_prompt
                                             : !strcmp(a, "-r") ? &o->reps : !strcmp(a, "-c") ? &o->n_ctx
                                             : !strcmp(a, "--chunks") ? &o->chunks : &o->threads)) {
            fprintf(stderr, "llama_harness: bad value '%s' for %s\n", v, a);
            return 2;
        }
    }
    if (!o->model) {
        fputs("llama_harness: --model is required\n", stderr);
        return usage();
    }
    if (kv) {
        if (!strcmp(kv, "f32")) o->kv_type = GGML_TYPE_F32;
        else if (!strcmp(kv, "f16")) o->kv_type = GGML_TYPE_F16;
        else if (!strcmp(kv, "q8_0")) o->kv_type = GGML_TYPE_Q8_0;
        else {
            fprintf(stderr, "llama_harness: --kv-type must be f32, f16 or q8_0 (got '%s')\n", kv);
            return 2;
        }
    }
    return 0;
}

/* Parses "1,2,3" into a malloc'd array; returns the count, or -1 on a malformed list. */
static int parse_tokens(const char *s, llama_token **out) {
    int cap = 16, n = 0;
    llama_token *ids = malloc(sizeof *ids * (size_t)cap);
    if (!ids || !s || !*s) { free(ids); return -1; }
    for (const char *p = s;;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX) { free(ids); return -1; }
        if (n == cap) {
            llama_token *grown = realloc(ids, sizeof *ids * (size_t)(cap *= 2));
            if (!grown) { free(ids); return -1; }
            ids = grown;
        }
        ids[n++] = (llama_token)v;
        if (*end == '\0') break;
        if (*end != ',') { free(ids); return -1; }
        p = end + 1;
    }
    *out = ids;
    return n;
}

/* ===================================================================== llama.cpp setup */

/* llama.cpp logs a lot at INFO; keep warnings and errors unless BITNET_HARNESS_VERBOSE is set. */
static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    static enum ggml_log_level last = GGML_LOG_LEVEL_INFO; /* CONT lines follow their parent */
    (void)user;
    if (level != GGML_LOG_LEVEL_CONT) last = level;
    if (last >= GGML_LOG_LEVEL_WARN || getenv("BITNET_HARNESS_VERBOSE")) fputs(text, stderr);
}

static void backend_init(void) {
    const char *dir = getenv("BITNET_REF_LIB");
    llama_log_set(quiet_log, NULL);
    /* The CPU backends are separate libraries, one per x86 level: load the best one. */
    ggml_backend_load_all_from_path(dir && *dir ? dir : REF_LIB_DIR);
    llama_backend_init();
}

static struct llama_model *load_model(const char *path) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *m = llama_model_load_from_file(path, mp);
    if (!m) fail("%s: llama.cpp failed to load the model (see its messages above)", path);
    return m;
}

/* The parameters of a context for at most n_ctx positions whose first decode may hold
 * n_batch tokens. */
static struct llama_context_params context_params(int n_ctx, int n_batch, int threads, enum ggml_type kv_type) {
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = cp.n_ubatch = (uint32_t)n_batch;
    cp.n_seq_max = 1;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.type_k = cp.type_v = kv_type;  /* f32: attention in f32, like ours with --kv-type f32 */
    /* a quantized V cache needs flash attention; f16 without it keeps V sums in f32 */
    cp.flash_attn_type = kv_type == GGML_TYPE_Q8_0 ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    return cp;
}

static struct llama_context *init_context(struct llama_model *model, struct llama_context_params cp) {
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) fail("llama.cpp failed to create a context (n_ctx %u)", cp.n_ctx);
    return ctx;
}

static struct llama_context *make_context(struct llama_model *model, int n_ctx, int n_batch,
                                          int threads, enum ggml_type kv_type, ggml_backend_sched_eval_callback cb,
                                          void *cb_data) {
    struct llama_context_params cp = context_params(n_ctx, n_batch, threads, kv_type);
    cp.cb_eval = cb;
    cp.cb_eval_user_data = cb_data;
    return init_context(model, cp);
}

static int n_vocab_of(const struct llama_model *model) {
    return llama_vocab_n_tokens(llama_model_get_vocab(model));
}

static int check_token_ids(const llama_token *ids, int n, int n_vocab) {
    for (int i = 0; i < n; i++)
        if (ids[i] >= n_vocab) return fail("token %d (at %d) is not below the vocabulary size %d", ids[i], i, n_vocab);
    return 0;
}

/* Decodes ids[0..n) at positions pos0.. in sequence 0; logits for every position when
 * all_logits, else for the last only. */
static int decode(struct llama_context *ctx, const llama_token *ids, int n, int pos0, bool all_logits) {
    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = ids[i];
        b.pos[i] = pos0 + i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = (int8_t)(all_logits || i == n - 1);
    }
    b.n_tokens = n;
    int rc = llama_decode(ctx, b);
    llama_batch_free(b);
    if (rc != 0) return fail("llama_decode failed (status %d) on %d token(s) at position %d", rc, n, pos0);
    return 0;
}

/* Everything a subcommand needs: options, model, token ids. */
typedef struct {
    harness_opts o;
    struct llama_model *model;
    llama_token *ids;
    int n_ids;
    int n_vocab;
} session;

static void session_free(session *s) {
    if (s->model) llama_model_free(s->model);
    free(s->ids);
    llama_backend_free();
}

/* Parses options, loads the model and (when need_tokens) the token list. 0 or exit status. */
static int session_open(session *s, int argc, char **argv, bool need_tokens) {
    memset(s, 0, sizeof *s);
    int rc = parse_opts(argc, argv, &s->o);
    if (rc) return rc;
    if (need_tokens) {
        if (!s->o.tokens_arg) {
            fputs("llama_harness: --tokens is required\n", stderr);
            return usage();
        }
        s->n_ids = parse_tokens(s->o.tokens_arg, &s->ids);
        if (s->n_ids <= 0) return fail("--tokens: expected a comma-separated list of ids, got '%s'", s->o.tokens_arg);
    }
    backend_init();
    s->model = load_model(s->o.model);
    if (!s->model) return 1;
    s->n_vocab = n_vocab_of(s->model);
    return need_tokens ? check_token_ids(s->ids, s->n_ids, s->n_vocab) : 0;
}

/* ===================================================================== subcommands */

static int write_logits(struct llama_context *ctx, int n_tokens, int n_vocab, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return fail("%s: cannot open for writing", path);
    for (int i = 0; i < n_tokens; i++) {
        const float *row = llama_get_logits_ith(ctx, i);
        if (!row || fwrite(row, sizeof(float), (size_t)n_vocab, f) != (size_t)n_vocab) {
            fclose(f);
            return fail("%s: could not write the logits of position %d", path, i);
        }
    }
    if (fclose(f) != 0) return fail("%s: write failed", path);
    return 0;
}

static int cmd_logits(int argc, char **argv) {
    session s;
    int rc = session_open(&s, argc, argv, true);
    if (!rc && !s.o.out) rc = fail("logits: --out is required");
    struct llama_context *ctx = NULL;
    if (!rc) {
        ctx = make_context(s.model, s.n_ids, s.n_ids, s.o.threads, s.o.kv_type, NULL, NULL);
        rc = ctx ? decode(ctx, s.ids, s.n_ids, 0, true) : 1;
    }
    if (!rc) rc = write_logits(ctx, s.n_ids, s.n_vocab, s.o.out);
    if (ctx) llama_free(ctx);
    session_free(&s);
    return rc;
}

static int pooling_type(const char *name, enum llama_pooling_type *out) {
    static const struct { const char *name; enum llama_pooling_type type; } types[] = {
        {"mean", LLAMA_POOLING_TYPE_MEAN}, {"last", LLAMA_POOLING_TYPE_LAST},
        {"cls", LLAMA_POOLING_TYPE_CLS}, {"none", LLAMA_POOLING_TYPE_NONE}};
    for (size_t i = 0; name && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(name, types[i].name)) {
            *out = types[i].type;
            return 0;
        }
    return fail("embed: --pooling must be mean, last, cls or none (got '%s')", name ? name : "");
}

/* The pooled vector, or every position's with pooling none, to path. */
static int write_embeddings(struct llama_context *ctx, enum llama_pooling_type pooling, int n_tokens, int n_embd, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return fail("%s: cannot open for writing", path);
    int n_rows = pooling == LLAMA_POOLING_TYPE_NONE ? n_tokens : 1;
    for (int i = 0; i < n_rows; i++) {
        const float *row = pooling == LLAMA_POOLING_TYPE_NONE ? llama_get_embeddings_ith(ctx, i) : llama_get_embeddings_seq(ctx, 0);
        if (!row || fwrite(row, sizeof(float), (size_t)n_embd, f) != (size_t)n_embd) {
            fclose(f);
            return fail("%s: could not write embedding row %d", path, i);
        }
    }
    if (fclose(f) != 0) return fail("%s: write failed", path);
    return 0;
}

static int cmd_embed(int argc, char **argv) {
    session s;
    enum llama_pooling_type pooling = LLAMA_POOLING_TYPE_MEAN;
    int rc = session_open(&s, argc, argv, true);
    if (!rc && !s.o.out) rc = fail("embed: --out is required");
    if (!rc) rc = pooling_type(s.o.pooling, &pooling);
    struct llama_context *ctx = NULL;
    if (!rc) {
        struct llama_context_params cp = context_params(s.n_ids, s.n_ids, s.o.threads, s.o.kv_type);
        cp.embeddings = true;
        cp.pooling_type = pooling;
        ctx = init_context(s.model, cp);
        rc = ctx ? decode(ctx, s.ids, s.n_ids, 0, true) : 1;
    }
    if (!rc) rc = write_embeddings(ctx, pooling, s.n_ids, llama_model_n_embd(s.model), s.o.out);
    if (ctx) llama_free(ctx);
    session_free(&s);
    return rc;
}

/* Index of the largest value; the first one on ties (as our sampler does). */
static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int cmd_greedy(int argc, char **argv) {
    session s;
    int rc = session_open(&s, argc, argv, true);
    struct llama_context *ctx = NULL;
    if (!rc) {
        ctx = make_context(s.model, s.n_ids + s.o.n_gen, s.n_ids, s.o.threads, s.o.kv_type, NULL, NULL);
        rc = ctx ? decode(ctx, s.ids, s.n_ids, 0, false) : 1;
    }
    const llama_token eos = rc ? -1 : llama_vocab_eos(llama_model_get_vocab(s.model));
    for (int i = 0; !rc && i < s.o.n_gen; i++) {
        llama_token next = argmax(llama_get_logits_ith(ctx, -1), s.n_vocab);
        printf(i ? " %d" : "%d", next);
        if (s.o.stop_at_eos && next == eos) break;
        if (i + 1 < s.o.n_gen) rc = decode(ctx, &next, 1, s.n_ids + i, false);
    }
    if (!rc) printf("\n");
    if (ctx) llama_free(ctx);
    session_free(&s);
    return rc;
}

static int cmd_tokenize(int argc, char **argv) {
    session s;
    int rc = session_open(&s, argc, argv, false);
    if (!rc && !s.o.prompt) rc = fail("tokenize: --prompt is required");
    if (!rc) {
        const struct llama_vocab *vocab = llama_model_get_vocab(s.model);
        int32_t len = (int32_t)strlen(s.o.prompt), cap = len + 8;
        llama_token *ids = malloc(sizeof *ids * (size_t)cap);
        int32_t n = ids ? llama_tokenize(vocab, s.o.prompt, len, ids, cap, !s.o.no_bos, false) : -1;
        if (n < 0) rc = fail("tokenize: llama_tokenize failed (%d)", n);
        for (int32_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        if (!rc) printf("\n");
        free(ids);
    }
    session_free(&s);
    return rc;
}

static void print_meta(const struct llama_model *m, const char *key_suffix) {
    char arch[64], key[128], val[256];
    if (llama_model_meta_val_str(m, "general.architecture", arch, sizeof arch) < 0) return;
    snprintf(key, sizeof key, "%s.%s", arch, key_suffix);
    if (llama_model_meta_val_str(m, key, val, sizeof val) >= 0) printf("%s: %s\n", key_suffix, val);
}

static int cmd_load(int argc, char **argv) {
    session s;
    int rc = session_open(&s, argc, argv, false);
    if (!rc) {
        const struct llama_model *m = s.model;
        char desc[256], arch[64] = "?";
        llama_model_desc(m, desc, sizeof desc);
        llama_model_meta_val_str(m, "general.architecture", arch, sizeof arch);
        printf("ok\narch: %s\ndesc: %s\nn_vocab: %d\nn_embd: %d\nn_layer: %d\nn_head: %d\n"
               "n_head_kv: %d\nn_ctx_train: %d\nn_params: %llu\nvocab_type: %d\n",
               arch, desc, s.n_vocab, llama_model_n_embd(m), llama_model_n_layer(m),
               llama_model_n_head(m), llama_model_n_head_kv(m), llama_model_n_ctx_train(m),
               (unsigned long long)llama_model_n_params(m), (int)llama_vocab_type(llama_model_get_vocab(m)));
        print_meta(m, "feed_forward_length");
        print_meta(m, "rope.freq_base");
        print_meta(m, "attention.layer_norm_rms_epsilon");
    }
    session_free(&s);
    return rc;
}

/* ===================================================================== trace */

/* llama.cpp's graph names (cb() in src/models/bitnet.cpp, src/models/llama.cpp and src/llama-graph.cpp, formatted
 * "<name>-<layer>") mapped to our stage names. ("inp_embd" is the unused vector-input path.) Qcur/Kcur carry one name on three tensors:
 * the projection (MUL_MAT), its 3-D reshape (a view: skipped) and the RoPE output (ROPE). */
typedef struct {
    const char *llama_name;
    const char *stage;          /* for any op except the ones below */
    const char *stage_if_rope;  /* for a GGML_OP_ROPE tensor of that name (NULL: skip) */
} stage_map;

static const stage_map STAGES[] = {
    {"embd", "embed", NULL},           /* token rows of token_embd (get_rows), after the input select */
    {"attn_norm", "attn_norm", NULL},
    {"Qcur", "q_proj", "q_rope"},
    {"Kcur", "k_proj", "k_rope"},
    {"Vcur", "v_proj", NULL},
    {"kqv_out", "attn", NULL},
    {"attn_sub_norm", "attn_sub_norm", NULL},
    {"attn_out", "attn_out", NULL},
    {"ffn_norm", "ffn_norm", NULL},
    {"ffn_gate", "ffn_gate", NULL},
    {"ffn_up", "ffn_up", NULL},
    {"ffn_sub_out", "ffn_act", NULL},   /* act(gate) * up, named ffn_swiglu then ffn_sub_out */
    {"ffn_swiglu", "ffn_act", NULL},    /* the same in the llama graph (not renamed there) */
    {"ffn_sub_norm", "ffn_sub_norm", NULL},
    {"ffn_down", "ffn_out", NULL},
    {"ffn_out", "ffn_out", NULL},       /* llama graph: Wdown's output renamed ffn_out (the residual sum becomes l_out) */
    {"l_out", "layer_out", NULL},
    {"result_norm", "output_norm", NULL},
    {"result_output", "logits", NULL},
};

/* Splits "attn_norm-3" into base "attn_norm" and layer 3 (-1 when there is no "-<digits>"). */
static void split_name(const char *name, char *base, size_t cap, int *layer) {
    const char *dash = strrchr(name, '-');
    char *end = NULL;
    long l = dash ? strtol(dash + 1, &end, 10) : -1;
    size_t n = (dash && end && *end == '\0' && end != dash + 1) ? (size_t)(dash - name) : strlen(name);
    if (n >= cap) n = cap - 1;
    memcpy(base, name, n);
    base[n] = '\0';
    *layer = (dash && end && *end == '\0' && end != dash + 1) ? (int)l : -1;
}

/* The stage for a tensor, or NULL when it does not map (views and reshapes never do). */
static const char *stage_of(const struct ggml_tensor *t, int *layer) {
    char base[64];
    if (t->op == GGML_OP_RESHAPE || t->op == GGML_OP_VIEW || t->op == GGML_OP_PERMUTE ||
        t->op == GGML_OP_TRANSPOSE || t->type != GGML_TYPE_F32)
        return NULL;
    split_name(ggml_get_name(t), base, sizeof base, layer);
    for (size_t i = 0; i < sizeof STAGES / sizeof STAGES[0]; i++) {
        if (strcmp(base, STAGES[i].llama_name)) continue;
        return t->op == GGML_OP_ROPE ? STAGES[i].stage_if_rope : STAGES[i].stage;
    }
    return NULL;
}

#ifdef BN_HAVE_TRACER
typedef struct {
    bn_tracer *tracer;
    int n_tokens;
    int status;       /* first failure, 0 while fine */
    int n_records;
    float *buf;
    size_t buf_cap;
} trace_state;

/* Writes one record per token position of t (columns of [per_token, n_tokens]). */
static int record_tensor(trace_state *st, const struct ggml_tensor *t, const char *stage, int layer) {
    int64_t n = ggml_nelements(t);
    if (!ggml_is_contiguous(t) || n % st->n_tokens) {
        fprintf(stderr, "llama_harness: trace: %s is not a contiguous [*, %d] tensor; skipped\n",
                ggml_get_name(t), st->n_tokens);
        return 0;
    }
    if ((size_t)n > st->buf_cap) {
        float *grown = realloc(st->buf, sizeof(float) * (size_t)n);
        if (!grown) return fail("trace: out of memory");
        st->buf = grown;
        st->buf_cap = (size_t)n;
    }
    ggml_backend_tensor_get(t, st->buf, 0, ggml_nbytes(t));
    int64_t per_token = n / st->n_tokens;
    /* Recorded flat ([per_token] floats), whatever the tensor's head layout. */
    for (int pos = 0; pos < st->n_tokens; pos++) {
        if (bn_tracer_record(st->tracer, layer, stage, pos, pos, 0, st->buf + pos * per_token, &per_token, 1) != 0)
            return fail("trace: could not record %s: %s", stage, bn_last_error_message());
        st->n_records++;
    }
    return 0;
}

static bool trace_cb(struct ggml_tensor *t, bool ask, void *user) {
    trace_state *st = user;
    int layer;
    const char *stage = stage_of(t, &layer);
    if (ask) return stage != NULL;
    if (stage && !st->status) st->status = record_tensor(st, t, stage, layer);
    return st->status == 0;
}

static int cmd_trace(int argc, char **argv) {
    session s;
    trace_state st = {0};
    int rc = session_open(&s, argc, argv, true);
    if (!rc && !s.o.out) rc = fail("trace: --out-dir is required");
    if (!rc) {
        if (bn_tracer_open(s.o.out, &st.tracer) != 0 || !st.tracer) rc = fail("trace: %s: %s", s.o.out, bn_last_error_message());
    }
    struct llama_context *ctx = NULL;
    if (!rc) {
        st.n_tokens = s.n_ids;
        ctx = make_context(s.model, s.n_ids, s.n_ids, s.o.threads, s.o.kv_type, trace_cb, &st);
        rc = ctx ? decode(ctx, s.ids, s.n_ids, 0, true) : 1;
        if (st.status) rc = st.status;
    }
    bn_tracer_close(st.tracer);
    if (!rc) fprintf(stderr, "llama_harness: trace: %d records in %s\n", st.n_records, s.o.out);
    if (ctx) llama_free(ctx);
    free(st.buf);
    session_free(&s);
    return rc;
}
#else
static int cmd_trace(int argc, char **argv) {
    (void)argc;
    (void)argv;
    (void)stage_of;
    return fail("trace: this harness was built without our tracer (src/debug/trace.h was missing when "
                "scripts/build_harness.sh ran); rebuild it once the tracer exists");
}
#endif

/* ===================================================================== bench */

/* Prompt token i of the benchmark: the same ids `bitnet bench` uses (cli/cmd_bench.c). */
static llama_token bench_token(int i, int n_vocab) { return (llama_token)((1000 + 37 * (long)i) % n_vocab); }

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v[0..n) and returns its median. */
static double median_of(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One repetition: clear the cache, prefill, n greedy decodes. Rates in tokens/s. */
static int bench_once(struct llama_context *ctx, const llama_token *prompt, int p, int n, int n_vocab,
                      double *prefill_rate, double *decode_rate) {
    llama_memory_clear(llama_get_memory(ctx), true);
    double t0 = now_seconds();
    if (decode(ctx, prompt, p, 0, false)) return 1;
    double t1 = now_seconds();
    for (int i = 0; i < n; i++) {
        llama_token next = argmax(llama_get_logits_ith(ctx, -1), n_vocab);
        if (decode(ctx, &next, 1, p + i, false)) return 1;
    }
    double t2 = now_seconds();
    *prefill_rate = p / (t1 - t0);
    *decode_rate = n / (t2 - t1);
    return 0;
}

/* The loaded CPU backend's features joined by '+' ("SSE3+SSSE3+AVX+AVX2+F16C+FMA+BMI2" for
 * the haswell variant): which of the per-ISA libraries ggml chose. */
static void cpu_backend_features(char *buf, size_t cap) {
    snprintf(buf, cap, "unknown");
    ggml_backend_reg_t reg = ggml_backend_reg_by_name("CPU");
    ggml_backend_get_features_t get = reg ? (ggml_backend_get_features_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features") : NULL;
    if (!get) return;
    size_t len = 0;
    buf[0] = '\0';
    for (struct ggml_backend_feature *f = get(reg); f && f->name && len + 1 < cap; f++) {
        int w = snprintf(buf + len, cap - len, "%s%s", len ? "+" : "", f->name);
        if (w < 0) break;
        len += (size_t)w;
    }
}

static int cmd_bench(int argc, char **argv) {
    session s;
    int rc = session_open(&s, argc, argv, false);
    int p = s.o.n_prompt, n = s.o.n_gen, reps = s.o.reps;
    struct llama_context *ctx = NULL;
    llama_token *prompt = NULL;
    double *pre = NULL, *dec = NULL;
    if (!rc) {
        ctx = make_context(s.model, p + n + 8, p, s.o.threads, s.o.kv_type, NULL, NULL);
        prompt = malloc(sizeof *prompt * (size_t)p);
        pre = malloc(sizeof *pre * (size_t)reps);
        dec = malloc(sizeof *dec * (size_t)reps);
        if (!ctx || !prompt || !pre || !dec) rc = fail("bench: out of memory");
    }
    for (int i = 0; !rc && i < p; i++) prompt[i] = bench_token(i, s.n_vocab);
    double warm_pre, warm_dec;
    if (!rc) rc = bench_once(ctx, prompt, p < 16 ? p : 16, 2, s.n_vocab, &warm_pre, &warm_dec); /* untimed warm-up */
    for (int r = 0; !rc && r < reps; r++) rc = bench_once(ctx, prompt, p, n, s.n_vocab, &pre[r], &dec[r]);
    if (!rc) {
        double pmed = median_of(pre, reps), dmed = median_of(dec, reps);
        char features[256];
        cpu_backend_features(features, sizeof features);
        printf("{\"engine\":\"llama.cpp\",\"kv_type\":\"%s\",\"threads\":%d,\"p\":%d,\"n\":%d,\"reps\":%d,\"prefill_tok_s\":%.3f,"
               "\"prefill_min\":%.3f,\"prefill_max\":%.3f,\"decode_tok_s\":%.3f,\"decode_min\":%.3f,\"decode_max\":%.3f,"
               "\"cpu_features\":\"%s\"}\n",
               s.o.kv_type == GGML_TYPE_F32 ? "f32" : s.o.kv_type == GGML_TYPE_F16 ? "f16" : "q8_0", s.o.threads, p, n, reps, pmed,
               pre[0], pre[reps - 1], dmed, dec[0], dec[reps - 1], features);
    }
    free(prompt);
    free(pre);
    free(dec);
    if (ctx) llama_free(ctx);
    session_free(&s);
    return rc;
}

/* ===================================================================== perplexity */

/* The whole file as a NUL-terminated string; NULL on error. */
static char *read_file(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0 && (*len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)*len + 1)) && fread(buf, 1, (size_t)*len, f) == (size_t)*len) {
        buf[*len] = '\0';
    } else {
        free(buf);
        buf = NULL;
    }
    if (f) fclose(f);
    return buf;
}

/* -log p(tok) of one row of logits, all in double. */
static double row_nll(const float *l, int n_vocab, int tok, double *log_sum_out, double *max_out) {
    double mx = l[0], sum = 0.0;
    for (int i = 1; i < n_vocab; i++) mx = l[i] > mx ? l[i] : mx;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)l[i] - mx);
    *log_sum_out = log(sum);
    *max_out = mx;
    return mx + *log_sum_out - (double)l[tok];
}

/* One position of llama.cpp's log-probability file: two floats (scale, min log-prob) in four
 * uint16 slots, then a 16-bit code per token of (logit - min) / scale, the minimum being
 * clamped to max - 16 (codes of logits at or below it are 0); padded to an even count. */
static int write_base_row(FILE *f, const float *l, int n_vocab, double mx, double log_sum, uint16_t *buf) {
    double mn = l[0];
    for (int i = 1; i < n_vocab; i++) mn = l[i] < mn ? l[i] : mn;
    if (mn < mx - 16) mn = mx - 16;
    float head[2] = {(float)((mx - mn) / 65535.0), (float)(mn - mx - log_sum)};
    int nv = 2 * ((n_vocab + 1) / 2) + 4;
    memset(buf, 0, sizeof *buf * (size_t)nv);
    memcpy(buf, head, sizeof head);
    for (int i = 0; head[0] > 0 && i < n_vocab; i++)
        if (l[i] > mn) buf[4 + i] = (uint16_t)fmin(65535.0, nearbyint(((double)l[i] - mn) / head[0]));
    return fwrite(buf, sizeof *buf, (size_t)nv, f) == (size_t)nv ? 0 : -1;
}

static int cmd_perplexity(int argc, char **argv) {
    session s;
    int rc = session_open(&s, argc, argv, false);
    long len = 0;
    char *text = NULL;
    llama_token *ids = NULL;
    int n = 0, n_ctx = s.o.n_ctx, first = n_ctx / 2;
    if (!rc && !s.o.file) rc = fail("perplexity: --file is required");
    if (!rc && !(text = read_file(s.o.file, &len))) rc = fail("perplexity: cannot read %s", s.o.file);
    const struct llama_vocab *vocab = rc ? NULL : llama_model_get_vocab(s.model);
    if (!rc && (!(ids = malloc(sizeof *ids * (size_t)(len + 8))) ||
                (n = llama_tokenize(vocab, text, (int32_t)len, ids, (int32_t)len + 8, true, false)) < 0))
        rc = fail("perplexity: tokenization failed");
    if (!rc && n < 2 * n_ctx) rc = fail("perplexity: %d tokens; a window of %d needs %d", n, n_ctx, 2 * n_ctx);
    int n_chunk = rc ? 0 : n / n_ctx;
    if (s.o.chunks > 0 && s.o.chunks < n_chunk) n_chunk = s.o.chunks;
    struct llama_context *ctx = rc ? NULL : make_context(s.model, n_ctx, n_ctx, s.o.threads, s.o.kv_type, NULL, NULL);
    if (!rc && !ctx) rc = 1;
    FILE *base = NULL;
    uint16_t *row = NULL;
    if (!rc && s.o.kl_base) {
        int32_t head[3] = {n_ctx, s.n_vocab, n_chunk};
        row = malloc(sizeof *row * (size_t)(s.n_vocab + 6));
        if (!row || !(base = fopen(s.o.kl_base, "wb")) || fwrite("_logits_", 1, 8, base) != 8 || fwrite(head, sizeof head, 1, base) != 1 ||
            fwrite(ids, sizeof *ids, (size_t)n_chunk * (size_t)n_ctx, base) != (size_t)n_chunk * (size_t)n_ctx)
            rc = fail("perplexity: cannot write %s", s.o.kl_base);
    }
    double sum = 0.0, sum2 = 0.0;
    long count = 0;
    for (int c = 0; !rc && c < n_chunk; c++) {
        llama_token *win = ids + (size_t)c * (size_t)n_ctx, saved = win[0];
        if (llama_vocab_get_add_bos(vocab)) win[0] = llama_vocab_bos(vocab);
        llama_memory_clear(llama_get_memory(ctx), true);
        rc = decode(ctx, win, n_ctx, 0, true);
        win[0] = saved;
        for (int j = first; !rc && j < n_ctx - 1; j++) {
            const float *l = llama_get_logits_ith(ctx, j);
            double log_sum, mx, v = row_nll(l, s.n_vocab, win[j + 1], &log_sum, &mx);
            sum += v;
            sum2 += v * v;
            count++;
            if (base && write_base_row(base, l, s.n_vocab, mx, log_sum, row)) rc = fail("perplexity: cannot write %s", s.o.kl_base);
        }
    }
    if (base && fclose(base) != 0 && !rc) rc = fail("perplexity: cannot write %s", s.o.kl_base);
    if (!rc && count > 1) {
        double mean = sum / (double)count, var = sum2 / (double)count - mean * mean, ppl = exp(mean);
        printf("PPL = %.6f +/- %.6f (%ld tokens, %d windows of %d)\n", ppl, var > 0 ? ppl * sqrt(var / (double)(count - 1)) : 0.0,
               count, n_chunk, n_ctx);
    }
    free(row);
    free(text);
    free(ids);
    if (ctx) llama_free(ctx);
    session_free(&s);
    return rc;
}

/* ===================================================================== samplers */

#ifdef BN_HAVE_TRACER /* (our library is linked) */
/* A fixed generator for the cases (xorshift64*). */
static uint64_t case_next(uint64_t *s) {
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * UINT64_C(0x2545F4914F6CDD1D);
}
static int case_pick(uint64_t *s, int n) { return (int)(case_next(s) % (uint64_t)n); }
static float case_of(uint64_t *s, const float *values, int n) { return values[case_pick(s, n)]; }
/* uniform in [-1, 1) */
static float case_unit(uint64_t *s) { return (float)((double)(case_next(s) >> 11) * 0x1.0p-52 - 1.0); }

/* One case: a random chain (kinds in any order, some repeated, some left out) and parameters,
 * less what llama.cpp's chain gets wrong: top-n-sigma and a temperature <= 0 leave the tokens
 * they drop in its array at -inf, where its dynamic temperature and min_keep count them, and
 * its typical-p's entropy becomes NaN (-p log p with p = 0) once a probability is 0 (those
 * tokens, or float underflow after temperatures below 1). So with top-n-sigma on there is no
 * dynamic temperature or min_keep, and with typical-p on no top-n-sigma and a fixed
 * temperature of 1 or more. Vocabularies stay at 1000 tokens or fewer: its sums are in float,
 * ours in double, and over more tokens a token at a threshold gets likelier to fall on
 * different sides of it. */
static void sampler_case(uint64_t *s, bn_sampler_params *p, int *n_vocab) {
    static const int vocabs[] = {2, 3, 17, 200, 1000};
    static const float temps[] = {0.0f, 0.3f, 0.7f, 1.0f, 1.6f}, tops_p[] = {1.0f, 0.95f, 0.7f, 0.3f};
    static const float mins_p[] = {0.0f, 0.05f, 0.3f}, typicals[] = {1.0f, 0.9f, 0.5f}, sigmas[] = {-1.0f, 1.0f, 2.5f};
    *n_vocab = vocabs[case_pick(s, 5)];
    *p = bn_sampler_default_params();
    p->seed = case_next(s);
    p->temperature = case_of(s, temps, 5);
    p->dynatemp_range = case_pick(s, 3) ? 0.0f : 0.5f, p->dynatemp_exponent = case_pick(s, 2) ? 1.0f : 2.0f;
    p->top_k = (int[]){0, 1, 5, 40}[case_pick(s, 4)];
    p->top_p = case_of(s, tops_p, 4), p->min_p = case_of(s, mins_p, 3), p->typical_p = case_of(s, typicals, 3);
    p->top_n_sigma = case_of(s, sigmas, 3);
    p->xtc_probability = case_pick(s, 3) ? 0.0f : 1.0f, p->xtc_threshold = case_pick(s, 2) ? 0.1f : 0.25f;
    p->repeat_penalty = case_pick(s, 2) ? 1.0f : 1.3f, p->presence_penalty = case_pick(s, 2) ? 0.0f : 0.7f;
    p->frequency_penalty = case_pick(s, 2) ? 0.0f : 0.4f, p->penalty_last_n = (int[]){0, 8, 64}[case_pick(s, 3)];
    p->dry_multiplier = case_pick(s, 3) ? 0.0f : 0.8f, p->dry_allowed_length = 1 + case_pick(s, 2), p->dry_penalty_last_n = 32;
    p->min_keep = (int[]){0, 1, 3}[case_pick(s, 3)];
    if (case_pick(s, 3) == 0) p->adaptive_target = (float[]){0.1f, 0.3f, 0.6f}[case_pick(s, 3)], p->adaptive_decay = case_pick(s, 2) ? 0.9f : 0.5f;
    p->n_order = 1 + case_pick(s, 12);
    for (int i = 0; i < p->n_order; i++) p->order[i] = (unsigned char)case_pick(s, BN_N_SAMPLER_KINDS);
    if (case_pick(s, 3) == 0) { /* a part of the default order: the default chain is compared too */
        bool named[BN_N_SAMPLER_KINDS] = {false};
        for (int i = 0; i < p->n_order; i++) named[p->order[i]] = true;
        p->n_order = 0;
        for (int k = 0; k < BN_N_SAMPLER_KINDS; k++)
            if (named[k]) p->order[p->n_order++] = (unsigned char)k;
    }
    for (int i = 0; i < p->n_order; i++)
        if (p->order[i] == BN_SAMPLER_TYP_P && p->typical_p < 1.0f)
            p->top_n_sigma = -1.0f, p->temperature = p->temperature < 1.0f ? 1.0f : p->temperature, p->dynatemp_range = 0.0f;
    for (int i = 0; i < p->n_order; i++)
        if (p->order[i] == BN_SAMPLER_TOP_N_SIGMA && p->top_n_sigma > 0.0f) p->dynatemp_range = 0.0f, p->min_keep = 0;
}

/* llama.cpp's chain of p's stages, in p's order (llama_sampler_chain, without its draw; with
 * adaptive-p last, whose transform stays in the logits after it draws). */
static struct llama_sampler *llama_chain_of(const bn_sampler_params *p, int n_vocab) {
    struct llama_sampler *chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
    size_t keep = (size_t)p->min_keep;
    for (int i = 0; i < p->n_order; i++) {
        struct llama_sampler *stage = NULL;
        switch (p->order[i]) {
        case BN_SAMPLER_PENALTIES:
            stage = llama_sampler_init_penalties(n_vocab, p->penalty_last_n, p->repeat_penalty, p->frequency_penalty, p->presence_penalty);
            break;
        case BN_SAMPLER_DRY: /* no sequence breakers: the vocabulary is not read */
            stage = llama_sampler_init_dry(NULL, p->dry_multiplier, p->dry_base, p->dry_allowed_length, p->dry_penalty_last_n, NULL, 0);
            break;
        case BN_SAMPLER_TOP_N_SIGMA: stage = llama_sampler_init_top_n_sigma(p->top_n_sigma); break;
        case BN_SAMPLER_TOP_K: stage = llama_sampler_init_top_k(p->top_k); break;
        case BN_SAMPLER_TYP_P: stage = llama_sampler_init_typical(p->typical_p, keep); break;
        case BN_SAMPLER_TOP_P: stage = llama_sampler_init_top_p(p->top_p, keep); break;
        case BN_SAMPLER_MIN_P: stage = llama_sampler_init_min_p(p->min_p, keep); break;
        case BN_SAMPLER_XTC: stage = llama_sampler_init_xtc(p->xtc_probability, p->xtc_threshold, keep, 1); break;
        default: stage = llama_sampler_init_temp_ext(p->temperature, p->dynatemp_range, p->dynatemp_exponent); break;
        }
        llama_sampler_chain_add(chain, stage);
    }
    if (p->adaptive_target >= 0.0f) llama_sampler_chain_add(chain, llama_sampler_init_adaptive_p(p->adaptive_target, p->adaptive_decay, 1));
    return chain;
}

/* What survived llama.cpp's chain (finite logits) with their softmax, into out; their count,
 * or -2 when a logit overflowed to +inf or NaN there (a temperature near 0 divides by it; ours
 * keeps the logits finite), which leaves nothing to compare. Its array holds the unmasked
 * tokens only (ours drops the masked ones first; -inf entries would upset its typical-p and
 * dynamic temperature, above). */
static int llama_survivors(struct llama_sampler *chain, const float *logits, int n_vocab, llama_token_data *data,
                           bn_sampler_candidate *out) {
    size_t size = 0;
    for (int i = 0; i < n_vocab; i++)
        if (logits[i] > -INFINITY) data[size++] = (llama_token_data){i, logits[i], 0.0f};
    llama_token_data_array arr = {data, size, -1, false};
    llama_sampler_apply(chain, &arr);
    int n = 0;
    double max = -INFINITY, sum = 0.0;
    for (size_t i = 0; i < arr.size; i++)
        if (!(arr.data[i].logit < INFINITY)) return -2;
    for (size_t i = 0; i < arr.size; i++)
        if (arr.data[i].logit > -INFINITY) out[n++] = (bn_sampler_candidate){arr.data[i].id, arr.data[i].logit, 0.0f}, max = fmax(max, arr.data[i].logit);
    for (int i = 0; i < n; i++) sum += exp((double)out[i].logit - max);
    for (int i = 0; i < n; i++) out[i].p = (float)(exp((double)out[i].logit - max) / sum);
    return n;
}

static int compare_candidate_ids(const void *a, const void *b) {
    const bn_sampler_candidate *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* Whether two survivor lists hold the same ids with probabilities within 1e-4 + 1e-3 p; says
 * how they differ when not. */
static bool same_survivors(bn_sampler_candidate *ours, int n_ours, bn_sampler_candidate *ref, int n_ref, char *why, size_t cap) {
    qsort(ours, (size_t)n_ours, sizeof *ours, compare_candidate_ids);
    qsort(ref, (size_t)n_ref, sizeof *ref, compare_candidate_ids);
    if (n_ours != n_ref) return snprintf(why, cap, "%d survivors, llama.cpp %d", n_ours, n_ref), false;
    for (int i = 0; i < n_ours; i++) {
        if (ours[i].id != ref[i].id) return snprintf(why, cap, "token %d survived, llama.cpp's %d", ours[i].id, ref[i].id), false;
        if (fabsf(ours[i].p - ref[i].p) > 1e-4f + 1e-3f * ref[i].p)
            return snprintf(why, cap, "token %d: p %.6g, llama.cpp %.6g", ours[i].id, ours[i].p, ref[i].p), false;
    }
    return true;
}

/* p's chain in the default order as the library runs a part of it (api_generate.c): n_order 0
 * and the samplers it does not name off; false when that chain is not llama.cpp's: greedy
 * (temperature <= 0) stops at the argmax after the penalties and DRY, where llama.cpp's XTC
 * may drop the likeliest first and its dynamic temperature may not be 0. */
static bool default_chain_of(const bn_sampler_params *p, bn_sampler_params *q) {
    bool named[BN_N_SAMPLER_KINDS] = {false};
    for (int i = 0; i < p->n_order; i++) named[p->order[i]] = true;
    if (!bn_sampler_kinds_in_default_order(p->order, p->n_order)) return false;
    *q = *p;
    q->n_order = 0;
    if (!named[BN_SAMPLER_PENALTIES]) q->repeat_penalty = 1.0f, q->presence_penalty = q->frequency_penalty = 0.0f;
    if (!named[BN_SAMPLER_DRY]) q->dry_multiplier = 0.0f;
    if (!named[BN_SAMPLER_TOP_N_SIGMA]) q->top_n_sigma = -1.0f;
    if (!named[BN_SAMPLER_TOP_K]) q->top_k = 0;
    if (!named[BN_SAMPLER_TYP_P]) q->typical_p = 1.0f;
    if (!named[BN_SAMPLER_TOP_P]) q->top_p = 1.0f;
    if (!named[BN_SAMPLER_MIN_P]) q->min_p = 0.0f;
    if (!named[BN_SAMPLER_XTC]) q->xtc_probability = 0.0f;
    if (!named[BN_SAMPLER_TEMPERATURE]) q->temperature = 1.0f, q->dynatemp_range = 0.0f;
    return q->temperature > 0.0f || (q->dynatemp_range <= 0.0f && q->xtc_probability <= 0.0f);
}

/* What a case feeds both chains: tokens accepted as a prompt's (the penalties and DRY see them),
 * then draws from rows where one token alone is finite (accepted as drawn: adaptive-p's
 * average takes them in), then the compared row. */
typedef struct chain_case {
    int n_vocab;
    int32_t history[40], drawn[4];
    int n_history, n_drawn;
    float *logits, *one; /* [n_vocab]: the compared row; scratch for the one-token rows */
} chain_case;

/* Our survivors of p's chain on the case, into out: their count, or -1. */
static int our_survivors(const bn_sampler_params *p, chain_case *cc, bn_sampler_candidate *out) {
    bn_sampler *s = bn_sampler_create(p, cc->n_vocab);
    if (!s) return -1;
    for (int i = 0; i < cc->n_history; i++) bn_sampler_accept(s, cc->history[i]);
    for (int i = 0; i < cc->n_drawn; i++) {
        for (int v = 0; v < cc->n_vocab; v++) cc->one[v] = v == cc->drawn[i] ? 0.0f : -INFINITY;
        bn_sampler_accept(s, bn_sampler_sample(s, cc->one));
    }
    int n = bn_sampler_distribution(s, cc->logits, out, cc->n_vocab);
    bn_sampler_free(s);
    return n;
}

/* llama.cpp's survivors of p's chain on the case, as llama_survivors: their count, -2 as there,
 * or -1. */
static int llama_chain_survivors(const bn_sampler_params *p, const chain_case *cc, llama_token_data *data, bn_sampler_candidate *out) {
    struct llama_sampler *chain = llama_chain_of(p, cc->n_vocab);
    if (!chain) return -1;
    for (int i = 0; i < cc->n_history; i++) llama_sampler_accept(chain, cc->history[i]);
    for (int i = 0; i < cc->n_drawn; i++) {
        data[0] = (llama_token_data){cc->drawn[i], 0.0f, 0.0f};
        llama_token_data_array one = {data, 1, -1, false};
        llama_sampler_apply(chain, &one); /* adaptive-p draws it (selected), else nothing does */
        llama_sampler_accept(chain, one.selected >= 0 ? one.data[one.selected].id : cc->drawn[i]);
    }
    int n = llama_survivors(chain, cc->logits, cc->n_vocab, data, out);
    llama_sampler_free(chain);
    return n;
}

/* Whether our chain p (`what`) leaves llama.cpp's survivors ref[0, n_ref); prints case i when
 * not (with both lists when `show`). -1 when ours failed. */
static int check_case(int index, const char *what, const bn_sampler_params *p, chain_case *cc, bn_sampler_candidate *ours,
                      bn_sampler_candidate *ref, int n_ref, bool show) {
    char why[160], order[BN_SAMPLER_ORDER_TEXT_MAX];
    int n_ours = our_survivors(p, cc, ours);
    if (n_ours < 0) return -1;
    bool same = same_survivors(ours, n_ours, ref, n_ref, why, sizeof why);
    for (int i = 0; show && i < (n_ours > n_ref ? n_ours : n_ref); i++)
        printf("  %5d %-12.6g  %5d %-12.6g\n", i < n_ours ? ours[i].id : -1, i < n_ours ? ours[i].p : 0.0, i < n_ref ? ref[i].id : -1,
               i < n_ref ? ref[i].p : 0.0);
    if (same) return 0;
    bn_sampler_kinds_join(p->order, p->n_order, order);
    printf("case %d, %s (vocabulary %d, %s; T %g dyn %g, k %d, top_p %g, min_p %g, typ %g, sigma %g, xtc %g/%g, min_keep %d, "
           "adaptive %g/%g after %d draws): %s\n",
           index, what, cc->n_vocab, order, p->temperature, p->dynatemp_range, p->top_k, p->top_p, p->min_p, p->typical_p, p->top_n_sigma,
           p->xtc_probability, p->xtc_threshold, p->min_keep, p->adaptive_target, p->adaptive_decay, cc->n_drawn, why);
    return 1;
}

/* Case i: a random chain, logits, history and draws (sampler_case); our chain in that order,
 * and the default chain where it applies, against llama.cpp's. 0 same, 1 differ (printed), 2
 * not comparable (llama.cpp's logits overflowed), -1 error. */
static int sampler_crossval_case(uint64_t *rng, int index, bool show) {
    bn_sampler_params p, q;
    chain_case cc = {0};
    sampler_case(rng, &p, &cc.n_vocab);
    cc.logits = malloc(sizeof(float) * (size_t)cc.n_vocab), cc.one = malloc(sizeof(float) * (size_t)cc.n_vocab);
    llama_token_data *data = malloc(sizeof *data * (size_t)cc.n_vocab);
    bn_sampler_candidate *ours = malloc(sizeof *ours * (size_t)cc.n_vocab), *ref = malloc(sizeof *ref * (size_t)cc.n_vocab);
    float scale = 0.5f + 6.0f * (case_unit(rng) + 1.0f);
    bool ready = cc.logits && cc.one && data && ours && ref;
    for (int i = 0; ready && i < cc.n_vocab; i++) cc.logits[i] = case_pick(rng, 50) ? scale * case_unit(rng) : -INFINITY;
    if (ready) cc.logits[case_pick(rng, cc.n_vocab)] = scale; /* never all masked */
    cc.n_history = case_pick(rng, 40), cc.n_drawn = case_pick(rng, 4);
    for (int i = 0; i < cc.n_history; i++) cc.history[i] = case_pick(rng, cc.n_vocab < 12 ? cc.n_vocab : 12); /* few distinct ids: repeats */
    for (int i = 0; i < cc.n_drawn; i++) cc.drawn[i] = case_pick(rng, cc.n_vocab);
    int rc = -1, n_ref = ready ? llama_chain_survivors(&p, &cc, data, ref) : -1;
    if (n_ref == -2) rc = 2;
    if (n_ref >= 0) rc = check_case(index, "in its order", &p, &cc, ours, ref, n_ref, show);
    if (rc == 0 && default_chain_of(&p, &q)) rc = check_case(index, "the default chain", &q, &cc, ours, ref, n_ref, show);
    free(cc.logits), free(cc.one), free(data), free(ours), free(ref);
    return rc;
}

static int cmd_samplers(int argc, char **argv) {
    int cases = 1000, seed = 1, show = -1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc && parse_int(argv[i + 1], 1, 1000000, &cases)) i++;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc && parse_int(argv[i + 1], 0, INT32_MAX, &seed)) i++;
        else if (!strcmp(argv[i], "--show") && i + 1 < argc && parse_int(argv[i + 1], 0, INT32_MAX, &show)) i++;
        else return fail("samplers: bad option '%s' (--cases N, --seed S, --show CASE)", argv[i]) + 1;
    }
    uint64_t rng = (uint64_t)seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
    int differ = 0, overflowed = 0;
    for (int i = 0; i < cases; i++) {
        int rc = sampler_crossval_case(&rng, i, i == show);
        if (rc < 0) return fail("samplers: case %d: out of memory or a bad case: %s", i, bn_last_error_message());
        differ += rc == 1, overflowed += rc == 2;
    }
    printf("samplers: %d cases, %d differ (%d not compared: llama.cpp's logits overflowed)\n", cases, differ, overflowed);
    return differ ? 1 : 0;
}
#else
static int cmd_samplers(int argc, char **argv) {
    (void)argc;
    (void)argv;
    return fail("samplers: this harness was built without our library (build/libbitnet.a was missing when "
                "scripts/build_harness.sh ran); rebuild it once the library is built");
}
#endif

/* ===================================================================== main */

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    const char *cmd = argv[1];
    if (!strcmp(cmd, "logits")) return cmd_logits(argc - 2, argv + 2);
    if (!strcmp(cmd, "greedy")) return cmd_greedy(argc - 2, argv + 2);
    if (!strcmp(cmd, "embed")) return cmd_embed(argc - 2, argv + 2);
    if (!strcmp(cmd, "trace")) return cmd_trace(argc - 2, argv + 2);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "load")) return cmd_load(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "perplexity")) return cmd_perplexity(argc - 2, argv + 2);
    if (!strcmp(cmd, "samplers")) return cmd_samplers(argc - 2, argv + 2);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage();
        return 0;
    }
    fprintf(stderr, "llama_harness: unknown command '%s'\n", cmd);
    return usage();
}
