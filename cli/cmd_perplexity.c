/* cmd_perplexity: `bitnet perplexity` measures a model on a text as llama.cpp's
 * llama-perplexity does (method and numerics in src/debug/perplexity.h), so that the figures
 * compare; --kl-divergence-base saves the run's log-probabilities and --kl-divergence measures
 * another run (a quantization, a kernel change, the other engine) against them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_model.h"
#include "cli_prompt.h"
#include "debug/perplexity.h"
#include "util.h"

static void usage(void) {
    printf("usage: bitnet perplexity -m M -f TEXT [-c 512] [--chunks N] [--kl-divergence-base FILE] [options]\n"
           "       bitnet perplexity -m M --kl-divergence --kl-divergence-base FILE [--chunks N] [options]\n"
           "Perplexity as llama.cpp's llama-perplexity computes it: the text's tokens in non-overlapping\n"
           "windows of -c tokens, the first of each replaced by BOS (when the vocabulary adds one), the\n"
           "second half of each window scored. Progress on stderr; on stdout the final figure with its\n"
           "error estimate: 'Final estimate: PPL = X +/- Y'.\n"
           "  -f, --file TEXT            the text (needs at least 2 x -c tokens)\n"
           "  --chunks N                 score at most N windows [all; also -1, as llama-perplexity]\n"
           "  --kl-divergence-base FILE  without --kl-divergence: also save every scored position's\n"
           "                             log-probabilities (and the tokens) to FILE, in llama.cpp's layout\n"
           "  --kl-divergence            read FILE instead of a text, run the same windows and report\n"
           "                             the KL divergence, perplexity ratio, token-probability change and\n"
           "                             top-token agreement of this run against the saved one\n"
           "  (-c, --ctx N is the window [512]; with --kl-divergence it comes from FILE)\n%s",
           cli_model_opts_help);
}

typedef struct {
    cli_model_opts mo;
    const char *text_file, *kl_base;
    bool kl;
    long long chunks;           /* 0: all */
    bitnet_model *m;
    bitnet_session *s;
    int64_t n_vocab;
    int32_t bos;                /* BOS put at the start of each window, or -1 */
    float *logits;              /* [n_ctx - n_ctx/2][n_vocab] */
} ppl_run;

/* The BOS id when the vocabulary adds one (an empty text then tokenizes to it), else -1.
 * A vocabulary that adds EOS is refused, as llama-perplexity does. */
static int bos_policy(ppl_run *r, int32_t bos_id) {
    int32_t t[4];
    int n = bitnet_model_tokenize(r->m, "", 0, 1, 0, t, 4);
    if (n < 0) return cli_fail("perplexity", "%s", bitnet_get_last_error());
    if (n > 1 || (n == 1 && t[0] != bos_id))
        return cli_fail("perplexity", "the vocabulary adds an EOS token; perplexity windows assume it does not");
    r->bos = n == 1 ? t[0] : -1;
    return 0;
}

/* Evaluates one window (the BOS already in place): positions [0, first) without logits, then
 * the rest with every logit into r->logits. */
static int eval_window(ppl_run *r, const int32_t *win, int n_ctx) {
    int first = n_ctx / 2;
    if (bitnet_session_reset(r->s) || bitnet_session_eval(r->s, win, first, NULL, 0) ||
        bitnet_session_eval(r->s, win + first, n_ctx - first, r->logits, 1))
        return cli_fail("perplexity", "%s", bitnet_get_last_error());
    return 0;
}

/* Copies window c of tokens into win with the BOS substituted. */
static void window_tokens(const ppl_run *r, const int32_t *tokens, int n_ctx, int c, int32_t *win) {
    memcpy(win, tokens + (size_t)c * (size_t)n_ctx, sizeof *win * (size_t)n_ctx);
    if (r->bos >= 0) win[0] = r->bos;
}

/* ---- the base file (layout in perplexity.h) ---- */

static int write_base_header(FILE *f, int n_ctx, int64_t n_vocab, int n_chunk, const int32_t *tokens) {
    int32_t h[3] = {n_ctx, (int32_t)n_vocab, n_chunk};
    size_t nt = (size_t)n_chunk * (size_t)n_ctx;
    return fwrite("_logits_", 1, 8, f) == 8 && fwrite(h, sizeof h, 1, f) == 1 && fwrite(tokens, sizeof *tokens, nt, f) == nt ? 0 : -1;
}

typedef struct {
    FILE *f;
    int n_ctx, n_chunk;
    int32_t *tokens;            /* [n_chunk][n_ctx] */
} base_file;

static int base_fail(base_file *b, const char *path, const char *what) {
    if (b->f) fclose(b->f);
    free(b->tokens);
    memset(b, 0, sizeof *b);
    return cli_fail("perplexity", "%s: %s", path, what);
}

/* Opens a base file and checks its header, size and tokens against the model. */
static int open_base(base_file *b, const char *path, int64_t n_vocab) {
    memset(b, 0, sizeof *b);
    struct stat st;
    uint8_t head[BN_KLD_HEADER_BYTES] = {0};
    if (!(b->f = fopen(path, "rb")) || fstat(fileno(b->f), &st) != 0) return base_fail(b, path, "cannot open");
    size_t got = fread(head, 1, sizeof head, b->f);
    if (bn_kld_base_check(head, got < sizeof head ? got : (uint64_t)st.st_size, n_vocab, &b->n_ctx, &b->n_chunk))
        return base_fail(b, path, bn_last_error_message());
    size_t nt = (size_t)b->n_ctx * (size_t)b->n_chunk;
    if (!(b->tokens = malloc(nt * sizeof *b->tokens)) || fread(b->tokens, sizeof *b->tokens, nt, b->f) != nt)
        return base_fail(b, path, "cannot read its tokens");
    if (bn_kld_base_check_tokens(b->tokens, nt, n_vocab)) return base_fail(b, path, bn_last_error_message());
    return 0;
}

/* ---- perplexity ---- */

static int read_text_tokens(ppl_run *r, int32_t **tokens) {
    size_t len;
    char *text = cli_read_text_file(r->text_file, &len);
    if (!text) return cli_fail("perplexity", "cannot read %s", r->text_file);
    int n = bitnet_model_tokenize(r->m, text, len, 1, 0, NULL, 0);
    *tokens = n > 0 ? malloc(sizeof **tokens * (size_t)n) : NULL;
    if (n > 0 && (!*tokens || bitnet_model_tokenize(r->m, text, len, 1, 0, *tokens, n) != n)) n = -1;
    free(text);
    if (n < 0) return cli_fail("perplexity", "tokenization failed: %s", bitnet_get_last_error());
    return n;
}

static int run_perplexity(ppl_run *r) {
    int n_ctx = (int)r->mo.ctx, first = n_ctx / 2, per = n_ctx - 1 - first;
    int32_t *tokens = NULL;
    int n = read_text_tokens(r, &tokens);
    if (n < 0) return 1;
    if (n < 2 * n_ctx) {
        free(tokens);
        return cli_fail("perplexity", "%s tokenizes to %d tokens; a window of %d needs at least %d", r->text_file, n, n_ctx, 2 * n_ctx);
    }
    int n_chunk = n / n_ctx;
    if (r->chunks > 0 && r->chunks < n_chunk) n_chunk = (int)r->chunks;
    FILE *base = NULL;
    uint16_t *rec = NULL;
    int32_t *win = malloc(sizeof *win * (size_t)n_ctx);
    int rc = win ? 0 : cli_fail("perplexity", "out of memory");
    if (!rc && r->kl_base) {
        rec = malloc(sizeof *rec * (size_t)bn_kld_record_len(r->n_vocab));
        if (!rec || !(base = fopen(r->kl_base, "wb")) || write_base_header(base, n_ctx, r->n_vocab, n_chunk, tokens))
            rc = cli_fail("perplexity", "cannot write %s", r->kl_base);
    }
    fprintf(stderr, "perplexity: %d tokens, %d windows of %d, %d scored per window\n", n, n_chunk, n_ctx, per);
    bn_ppl_acc acc = {0};
    double t0 = cli_seconds();
    for (int c = 0; !rc && c < n_chunk; c++) {
        window_tokens(r, tokens, n_ctx, c, win);
        if ((rc = eval_window(r, win, n_ctx))) break;
        const int32_t *target = tokens + (size_t)c * (size_t)n_ctx + first + 1;
        for (int j = 0; j < per && !rc; j++) {
            const float *l = r->logits + (size_t)j * (size_t)r->n_vocab;
            bn_ppl_add(&acc, rec ? bn_kld_encode(l, r->n_vocab, target[j], rec) : bn_ppl_token_nll(l, r->n_vocab, target[j]));
            size_t nr = (size_t)bn_kld_record_len(r->n_vocab);
            if (rec && fwrite(rec, sizeof *rec, nr, base) != nr) rc = cli_fail("perplexity", "cannot write %s", r->kl_base);
        }
        if (c == 0) fprintf(stderr, "perplexity: %.2f seconds per window\n", cli_seconds() - t0);
        double ppl, err;
        bn_ppl_result(&acc, &ppl, &err);
        fprintf(stderr, "[%d]%.4f,", c + 1, ppl);
    }
    fprintf(stderr, "\n");
    if (base && fclose(base) != 0 && !rc) rc = cli_fail("perplexity", "cannot write %s", r->kl_base);
    if (!rc) {
        double ppl, err;
        bn_ppl_result(&acc, &ppl, &err);
        printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, err);
        printf("(%lld tokens scored in %d windows of %d)\n", (long long)acc.count, n_chunk, n_ctx);
    }
    free(rec);
    free(win);
    free(tokens);
    return rc;
}

/* ---- KL divergence ---- */

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void print_distribution(const char *what, float *v, size_t n, double mul, const char *unit) {
    static const float fr[] = {0.999f, 0.99f, 0.95f, 0.90f, 0.75f, 0.50f, 0.25f, 0.10f, 0.05f, 0.01f, 0.001f};
    qsort(v, n, sizeof *v, cmp_float);
    printf("Maximum %s: %10.6f%s\n", what, mul * v[n - 1], unit);
    for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++)
        printf("%5.1f%%  %s: %10.6f%s\n", 100.0 * fr[i], what, mul * bn_percentile(v, n, fr[i]), unit);
    printf("Minimum %s: %10.6f%s\n", what, mul * v[0], unit);
}

static void print_kld(const bn_kld_acc *a, float *kld, float *p_diff) {
    bn_kld_summary s;
    bn_kld_summarize(a, &s);
    size_t n = (size_t)a->count;
    printf("====== Perplexity statistics (%zu positions) ======\n", n);
    printf("Mean PPL(Q)                   : %10.6f +/- %10.6f\n", s.ppl.value, s.ppl.err);
    printf("Mean PPL(base)                : %10.6f +/- %10.6f\n", s.ppl_base.value, s.ppl_base.err);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * s.cor);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f +/- %10.6f\n", s.log_ratio.value, s.log_ratio.err);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f +/- %10.6f\n", s.ratio.value, s.ratio.err);
    printf("Mean PPL(Q)-PPL(base)         : %10.6f +/- %10.6f\n\n", s.diff.value, s.diff.err);
    printf("====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f +/- %10.6f\n", s.kld.value, s.kld.err);
    print_distribution("KLD", kld, n, 1.0, "");
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    dp: %6.3f +/- %5.3f %%\n", 100.0 * s.p_diff.value, 100.0 * s.p_diff.err);
    print_distribution("dp", p_diff, n, 100.0, "%");
    printf("RMS dp    : %6.3f +/- %5.3f %%\n", 100.0 * s.rms_p_diff.value, 100.0 * s.rms_p_diff.err);
    printf("Same top p: %6.3f +/- %5.3f %%\n", 100.0 * s.same_top.value, 100.0 * s.same_top.err);
}

static int run_kl(ppl_run *r, base_file *b) {
    int n_ctx = b->n_ctx, first = n_ctx / 2, per = n_ctx - 1 - first;
    int n_chunk = r->chunks > 0 && r->chunks < b->n_chunk ? (int)r->chunks : b->n_chunk;
    size_t nr = (size_t)bn_kld_record_len(r->n_vocab);
    uint16_t *recs = malloc(sizeof *recs * nr * (size_t)per);
    int32_t *win = malloc(sizeof *win * (size_t)n_ctx);
    float *kld = malloc(sizeof *kld * (size_t)per * (size_t)n_chunk), *p_diff = malloc(sizeof *p_diff * (size_t)per * (size_t)n_chunk);
    int rc = recs && win && kld && p_diff ? 0 : cli_fail("perplexity", "out of memory");
    bn_kld_acc acc = {0};
    if (!rc) fprintf(stderr, "kl-divergence: %d windows of %d, %d scored per window\nchunk   PPL   ln(PPL(Q)/PPL(base))   KLD   RMS dp   same top\n", n_chunk, n_ctx, per);
    for (int c = 0; !rc && c < n_chunk; c++) {
        window_tokens(r, b->tokens, n_ctx, c, win);
        if ((rc = eval_window(r, win, n_ctx))) break;
        if (fread(recs, sizeof *recs * nr, (size_t)per, b->f) != (size_t)per) {
            rc = cli_fail("perplexity", "%s: cannot read the records of window %d", r->kl_base, c + 1);
            break;
        }
        const int32_t *target = b->tokens + (size_t)c * (size_t)n_ctx + first + 1;
        for (int j = 0; j < per; j++) {
            size_t k = (size_t)c * (size_t)per + (size_t)j;
            bn_kld_add(&acc, r->logits + (size_t)j * (size_t)r->n_vocab, r->n_vocab, recs + (size_t)j * nr, target[j], &kld[k], &p_diff[k]);
        }
        bn_kld_summary s;
        bn_kld_summarize(&acc, &s);
        fprintf(stderr, "%4d  %10.4f  %10.5f  %10.5f  %6.3f%%  %6.3f%%\n", c + 1, s.ppl.value, s.log_ratio.value, s.kld.value,
                100.0 * s.rms_p_diff.value, 100.0 * s.same_top.value);
    }
    if (!rc) print_kld(&acc, kld, p_diff);
    free(recs);
    free(win);
    free(kld);
    free(p_diff);
    return rc;
}

/* ---- options ---- */

static int parse_args(int argc, char **argv, ppl_run *r) {
    for (int i = 1; i < argc; i++) {
        int k;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return -1;
        }
        if ((k = cli_model_opt(argc, argv, &i, &r->mo, "perplexity"))) {
            if (k == 2) return 2;
        } else if ((k = cli_opt(argc, argv, &i, "--file", "-f", &v))) {
            if (k < 0) return 2;
            r->text_file = v;
        } else if ((k = cli_opt(argc, argv, &i, "--kl-divergence-base", NULL, &v))) {
            if (k < 0) return 2;
            r->kl_base = v;
        } else if ((k = cli_opt(argc, argv, &i, "--chunks", NULL, &v))) {
            if (k < 0 || !cli_parse_int(v, -1, 1 << 30, &r->chunks) || r->chunks == 0) /* -1: all, llama-perplexity's default */
                return cli_usage_error("perplexity", "--chunks needs a positive integer, or -1 for all");
            if (r->chunks < 0) r->chunks = 0;
        } else if (!strcmp(argv[i], "--kl-divergence")) {
            r->kl = true;
        } else {
            return cli_usage_error("perplexity", "unknown argument '%s'", argv[i]);
        }
    }
    if (r->kl && !r->kl_base) return cli_usage_error("perplexity", "--kl-divergence needs --kl-divergence-base FILE");
    if (r->kl && r->text_file) return cli_usage_error("perplexity", "--kl-divergence reads its tokens from the base file, not from -f");
    if (!r->kl && !r->text_file) return cli_usage_error("perplexity", "missing -f TEXT");
    if (r->kl && r->mo.ctx) return cli_usage_error("perplexity", "with --kl-divergence the window length comes from the base file; drop -c");
    if (!r->kl && !r->mo.ctx) r->mo.ctx = 512;
    if (!r->kl && r->mo.ctx < 8) return cli_usage_error("perplexity", "-c must be at least 8");
    return 0;
}

int cmd_perplexity(int argc, char **argv) {
    ppl_run r = {0};
    cli_model_opts_init(&r.mo);
    int rc = parse_args(argc, argv, &r);
    if (rc) return rc < 0 ? 0 : rc;
    base_file b = {0};
    if ((rc = cli_open_model(&r.mo, "perplexity", &r.m, NULL))) return rc;
    bitnet_model_desc md = {.struct_size = sizeof md};
    bitnet_model_describe(r.m, &md);
    r.n_vocab = md.n_vocab;
    if (r.kl && !(rc = open_base(&b, r.kl_base, r.n_vocab))) r.mo.ctx = b.n_ctx; /* the window comes from the file */
    if (!rc && r.mo.ctx > md.n_ctx_train)
        fprintf(stderr, "bitnet perplexity: warning: the model was trained on %lld positions; windows of %lld go past them\n",
                (long long)md.n_ctx_train, r.mo.ctx);
    if (!rc) rc = cli_open_session(&r.mo, "perplexity", r.m, &r.s);
    if (!rc) {
        if (!(r.logits = malloc(sizeof(float) * (size_t)(r.mo.ctx - r.mo.ctx / 2) * (size_t)r.n_vocab)))
            rc = cli_fail("perplexity", "out of memory for %lld x %lld logits", r.mo.ctx - r.mo.ctx / 2, (long long)r.n_vocab);
    }
    if (!rc) rc = bos_policy(&r, md.bos_id);
    if (!rc) rc = r.kl ? run_kl(&r, &b) : run_perplexity(&r);
    if (b.f) fclose(b.f);
    free(b.tokens);
    free(r.logits);
    bitnet_session_free(r.s);
    bitnet_model_close(r.m);
    return rc;
}
