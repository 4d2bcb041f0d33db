/* cmd_logits_diff: `bitnet logits-diff A.bin B.bin --vocab N [--threshold T] [--json]`
 * compares two raw float32 [n][vocab] logits files position by position. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "debug/logits_compare.h"

static const char *usage_text =
    "usage: bitnet logits-diff A.bin B.bin --vocab N [--threshold T] [--json]\n"
    "Compares two logits files (raw little-endian float32 [n_positions][N], as written by\n"
    "`bitnet logits`) position by position: cosine similarity, L2 distance, max |diff| and\n"
    "top-1 agreement. A position diverges when its cosine is below T (default 0.9999) or not\n"
    "finite.\n"
    "Exit status: 0 when no position diverges, 1 when one does, 2 on usage or file errors.\n";

static float *read_file(const char *path, long *n_floats) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 && size % 4 == 0) {
        buf = malloc(size ? (size_t)size : 1);
        if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    *n_floats = size / 4;
    return buf;
}

static void print_json(const bn_logits_report *r, double threshold) {
    printf("{\"threshold\":%.9g,\"n_positions\":%d,\"positions\":[", threshold, r->n_pos);
    for (int p = 0; p < r->n_pos; p++) {
        const bn_logits_pos_stats *s = &r->pos[p];
        printf("%s{\"pos\":%d,\"cosine\":", p ? "," : "", p);
        if (isnan(s->cosine)) printf("null");
        else printf("%.12g", s->cosine);
        printf(",\"l2\":%.9g,\"max_abs_diff\":%.9g,\"top1_a\":%lld,\"top1_b\":%lld}", s->l2, s->max_abs_diff,
               (long long)s->top1_a, (long long)s->top1_b);
    }
    printf("],\"min_cosine\":");
    if (isnan(r->min_cosine)) printf("null");
    else printf("%.12g", r->min_cosine);
    printf(",\"top1_agree\":%d,\"top1_agree_all\":%s,\"first_divergence\":%d}\n", r->n_top1_agree,
           r->top1_agree_all ? "true" : "false", r->first_divergence);
}

static void print_table(const bn_logits_report *r, double threshold) {
    printf("%5s  %14s  %12s  %12s  %8s  %8s\n", "pos", "cosine", "l2", "max|diff|", "top1 A", "top1 B");
    for (int p = 0; p < r->n_pos; p++) {
        const bn_logits_pos_stats *s = &r->pos[p];
        bool bad = isnan(s->cosine) || s->cosine < threshold;
        printf("%5d  %14.10f  %12.6g  %12.6g  %8lld  %8lld%s%s\n", p, s->cosine, s->l2, s->max_abs_diff, (long long)s->top1_a,
               (long long)s->top1_b, s->top1_a != s->top1_b ? "  top1 differs" : "", bad ? "  DIVERGES" : "");
    }
    printf("min cosine %.10f, top-1 agreement %d/%d, ", r->min_cosine, r->n_top1_agree, r->n_pos);
    if (r->first_divergence >= 0) printf("first divergence at position %d (threshold %g)\n", r->first_divergence, threshold);
    else printf("no divergence (threshold %g)\n", threshold);
}

int cmd_logits_diff(int argc, char **argv) {
    const char *files[2] = {NULL, NULL};
    long long vocab = 0;
    double threshold = 1.0 - 1e-4;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if ((r = cli_opt(argc, argv, &i, "--vocab", NULL, &v))) {
            if (r < 0 || !cli_parse_int(v, 1, 1LL << 30, &vocab)) return cli_usage_error("logits-diff", "--vocab needs a positive integer");
        } else if ((r = cli_opt(argc, argv, &i, "--threshold", NULL, &v))) {
            if (r < 0 || !cli_parse_float(v, &threshold) || threshold < -1 || threshold > 1)
                return cli_usage_error("logits-diff", "--threshold needs a number in [-1, 1]");
        } else if (argv[i][0] == '-') {
            return cli_usage_error("logits-diff", "unknown option '%s'", argv[i]);
        } else if (!files[0]) files[0] = argv[i];
        else if (!files[1]) files[1] = argv[i];
        else return cli_usage_error("logits-diff", "more than two files given");
    }
    if (!files[1]) return cli_usage_error("logits-diff", "need two logits files");
    if (!vocab) return cli_usage_error("logits-diff", "--vocab N is required");
    long n[2];
    float *data[2];
    for (int k = 0; k < 2; k++) {
        data[k] = read_file(files[k], &n[k]);
        if (!data[k] || n[k] % vocab != 0) {
            free(data[0]);
            if (k) free(data[1]);
            fprintf(stderr, "bitnet logits-diff: %s: %s\n", files[k],
                    data[k] ? "size is not a whole number of rows of --vocab float32 values" : "cannot read the file");
            return 2;
        }
    }
    int rc = 2;
    if (n[0] != n[1]) {
        fprintf(stderr, "bitnet logits-diff: %s has %ld positions but %s has %ld\n", files[0], n[0] / (long)vocab, files[1],
                n[1] / (long)vocab);
    } else {
        bn_logits_report rep;
        if (bn_logits_compare(data[0], data[1], (int)(n[0] / vocab), vocab, threshold, &rep) == 0) {
            if (json) print_json(&rep, threshold);
            else print_table(&rep, threshold);
            rc = rep.first_divergence >= 0 ? 1 : 0;
            bn_logits_report_free(&rep);
        }
    }
    free(data[0]);
    free(data[1]);
    return rc;
}
