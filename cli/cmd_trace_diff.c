/* cmd_trace_diff: `bitnet trace-diff DIR_A DIR_B`: finds the first tensor where two traces
 * (written with BITNET_TRACE_DIR, see docs/TRACING.md) diverge. The comparison lives in
 * src/debug/trace_diff.c; this file parses options and prints the result as text or one JSON object.
 * Exit: 0 nothing diverged, 1 a divergence (or missing records without --allow-missing),
 * 2 bad usage or unusable input. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "debug/trace_diff.h"
#include "util.h"

static const char *const usage_text =
    "usage: bitnet trace-diff DIR_A DIR_B [--rtol R] [--atol A] [--allow-missing] [--json]\n"
    "  Pairs the records of DIR_A/trace.jsonl and DIR_B/trace.jsonl by (seq_id, seq, layer,\n"
    "  stage), walks them in execution order and reports the first divergence.\n"
    "  default          exact BLAKE3 equality\n"
    "  --rtol, --atol   compare values: |a-b| <= atol + rtol*|b| (raw dumps on both sides;\n"
    "                   otherwise the summary statistics rms/min/max/mean, which is reported)\n"
    "  --allow-missing  records present on one side only are a warning, not a failure\n"
    "  --json           print one JSON object instead of text\n"
    "  exit: 0 no divergence, 1 divergence or missing records, 2 bad usage or unusable input\n";

/* A float for humans and for JSON: %.9g, or "nan"/"inf" (quoted in JSON). */
static void print_float(double v, bool json) {
    if (isnan(v)) printf(json ? "\"nan\"" : "nan");
    else if (isinf(v)) printf(json ? "\"%s\"" : "%s", v > 0 ? "inf" : "-inf");
    else printf("%.9g", v);
}

static void print_json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void print_missing_text(const char *side, size_t count, const bn_trace_key *listed) {
    if (!count) return;
    printf("warning: %zu record%s only in %s:", count, count == 1 ? "" : "s", side);
    for (size_t i = 0; i < count && i < BN_TRACE_DIFF_LISTED; i++)
        printf("%s seq %d, layer %d, stage %s%s", i ? ";" : "", listed[i].seq, listed[i].layer,
               listed[i].stage, listed[i].seq_id ? " (seq_id set)" : "");
    printf("%s\n", count > BN_TRACE_DIFF_LISTED ? "; ..." : "");
}

static void print_side_text(const char *side, const bn_trace_entry *e) {
    printf("  %s: blake3 %s  rms ", side, e->blake3);
    print_float(e->rms, false);
    printf("  shape [");
    for (int i = 0; i < e->n_dims; i++) printf("%s%lld", i ? "," : "", (long long)e->shape[i]);
    printf("]  (line %ld)\n", e->line);
}

static void print_text(const char *dir_a, const char *dir_b, const bn_trace_diff_options *o,
                       const bn_trace_diff_result *r) {
    printf("trace-diff: A = %s (%zu records), B = %s (%zu records), ", dir_a, r->records_a, dir_b, r->records_b);
    if (o->tolerance) printf("tolerance rtol %g atol %g\n", o->rtol, o->atol);
    else printf("exact (BLAKE3)\n");
    if (r->duplicates_a || r->duplicates_b)
        printf("warning: repeated records (appended runs?): %zu in A, %zu in B; the last of each is used\n",
               r->duplicates_a, r->duplicates_b);
    print_missing_text("A", r->only_a, r->only_a_listed);
    print_missing_text("B", r->only_b, r->only_b_listed);
    if (r->stats_fallback)
        printf("note: %zu pair%s without raw dumps on both sides compared by summary statistics "
               "(rms, min, max, mean) only\n", r->stats_fallback, r->stats_fallback == 1 ? "" : "s");
    if (r->diverged) {
        const bn_trace_entry *a = &r->first.a;
        printf("first divergence: seq %d, layer %d, stage %s (%s, seq_id %d): %s differ%s\n", a->seq, a->layer,
               a->stage, a->name[0] ? a->name : a->stage, a->seq_id, bn_trace_divergence_name(r->first.kind),
               r->first.kind == BN_TRACE_DIFF_HASH || r->first.kind == BN_TRACE_DIFF_SHAPE ? "s" : "");
        print_side_text("A", a);
        print_side_text("B", &r->first.b);
        if (r->first.has_raw) {
            printf("  raw: max |diff| ");
            print_float(r->first.max_abs_diff, false);
            printf(", cosine ");
            print_float(r->first.cosine, false);
            printf("\n");
        } else {
            printf("  raw: no raw dumps on both sides (trace with BITNET_TRACE_RAW=1 for max |diff| and cosine)\n");
        }
    }
    printf("summary: %zu compared, %zu matched, %zu diverged, %zu only in A, %zu only in B; first divergence: ",
           r->compared, r->matched, r->diverged, r->only_a, r->only_b);
    if (r->diverged) printf("seq %d, layer %d, stage %s\n", r->first.a.seq, r->first.a.layer, r->first.a.stage);
    else printf("none\n");
}

static void print_keys_json(const char *field, size_t count, const bn_trace_key *listed) {
    printf(",\"%s\":[", field);
    for (size_t i = 0; i < count && i < BN_TRACE_DIFF_LISTED; i++)
        printf("%s{\"seq_id\":%d,\"seq\":%d,\"layer\":%d,\"stage\":\"%s\"}", i ? "," : "", listed[i].seq_id,
               listed[i].seq, listed[i].layer, listed[i].stage);
    printf("]");
}

static void print_side_json(const char *side, const bn_trace_entry *e) {
    printf(",\"%s\":{\"blake3\":\"%s\",\"rms\":", side, e->blake3);
    print_float(e->rms, true);
    printf(",\"shape\":[");
    for (int i = 0; i < e->n_dims; i++) printf("%s%lld", i ? "," : "", (long long)e->shape[i]);
    printf("],\"line\":%ld}", e->line);
}

static void print_json(const char *dir_a, const char *dir_b, const bn_trace_diff_options *o,
                       const bn_trace_diff_result *r, int exit_code) {
    printf("{\"dir_a\":");
    print_json_string(dir_a);
    printf(",\"dir_b\":");
    print_json_string(dir_b);
    printf(",\"mode\":\"%s\"", o->tolerance ? "tolerance" : "exact");
    if (o->tolerance) printf(",\"rtol\":%.9g,\"atol\":%.9g", o->rtol, o->atol);
    printf(",\"records_a\":%zu,\"records_b\":%zu,\"duplicates_a\":%zu,\"duplicates_b\":%zu,\"compared\":%zu,"
           "\"matched\":%zu,\"diverged\":%zu,\"stats_fallback\":%zu,\"only_a\":%zu,\"only_b\":%zu",
           r->records_a, r->records_b, r->duplicates_a, r->duplicates_b, r->compared, r->matched, r->diverged,
           r->stats_fallback, r->only_a, r->only_b);
    print_keys_json("only_a_first", r->only_a, r->only_a_listed);
    print_keys_json("only_b_first", r->only_b, r->only_b_listed);
    printf(",\"first_divergence\":");
    if (!r->diverged) {
        printf("null");
    } else {
        const bn_trace_entry *a = &r->first.a;
        printf("{\"seq_id\":%d,\"seq\":%d,\"layer\":%d,\"stage\":\"%s\",\"reason\":\"%s\"", a->seq_id, a->seq,
               a->layer, a->stage, bn_trace_divergence_name(r->first.kind));
        print_side_json("a", a);
        print_side_json("b", &r->first.b);
        printf(",\"max_abs_diff\":");
        if (r->first.has_raw) print_float(r->first.max_abs_diff, true);
        else printf("null");
        printf(",\"cosine\":");
        if (r->first.has_raw) print_float(r->first.cosine, true);
        else printf("null");
        printf("}");
    }
    printf(",\"exit\":%d}\n", exit_code);
}

int cmd_trace_diff(int argc, char **argv) {
    const char *dirs[2] = {NULL, NULL};
    int n_dirs = 0;
    bn_trace_diff_options opt = {.tolerance = false, .rtol = 0, .atol = 0, .allow_missing = false};
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *value;
        int m;
        if (cli_flag(argv, i, "--help", "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (cli_flag(argv, i, "--json", NULL)) {
            json = true;
        } else if (cli_flag(argv, i, "--allow-missing", NULL)) {
            opt.allow_missing = true;
        } else if ((m = cli_opt(argc, argv, &i, "--rtol", NULL, &value)) != 0 ||
                   (m = cli_opt(argc, argv, &i, "--atol", NULL, &value)) != 0) {
            if (m < 0) return 2;
            double *target = strcmp(argv[i - 1], "--rtol") == 0 ? &opt.rtol : &opt.atol;
            if (!cli_parse_float(value, target) || *target < 0)
                return cli_usage_error("trace-diff", "%s needs a number >= 0, not '%s'", argv[i - 1], value);
            opt.tolerance = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_usage_error("trace-diff", "unknown option '%s'", argv[i]);
        } else if (n_dirs < 2) {
            dirs[n_dirs++] = argv[i];
        } else {
            return cli_usage_error("trace-diff", "too many arguments ('%s'); expected DIR_A DIR_B", argv[i]);
        }
    }
    if (n_dirs != 2) return cli_usage_error("trace-diff", "expected two trace folders DIR_A DIR_B");

    bn_trace_diff_result res;
    if (bn_trace_diff(dirs[0], dirs[1], &opt, &res) != 0) {
        fprintf(stderr, "bitnet trace-diff: %s\n", bn_last_error_message());
        if (json) {
            printf("{\"error\":");
            print_json_string(bn_last_error_message());
            printf(",\"exit\":2}\n");
        }
        return 2;
    }
    int code = bn_trace_diff_exit_code(&res, &opt);
    if (json) print_json(dirs[0], dirs[1], &opt, &res, code);
    else print_text(dirs[0], dirs[1], &opt, &res);
    return code;
}
