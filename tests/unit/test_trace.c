/* test_trace: the tracer (records, filter, raw dumps, env settings) and trace_diff (reader,
 * pairing, order, exact and tolerance modes, missing records, malformed files). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, nftw */
#endif
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bitnet.h"
#include "debug/blake3.h"
#include "test.h"
#include "debug/trace.h"
#include "debug/trace_diff.h"
#include "util.h"

static char tmp_root[512];

static void make_tmp_root(void) {
    const char *base = getenv("BITNET_TEST_TMP");
    snprintf(tmp_root, sizeof tmp_root, "%s/test_trace_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        exit(1);
    }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* A fresh folder path (not created) under the test's temporary root. */
static const char *tmp_dir(const char *name) {
    static char path[4][600];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 600, "%s/%s", tmp_root, name);
    return p;
}

static void clear_env(void) {
    unsetenv("BITNET_TRACE_DIR");
    unsetenv("BITNET_TRACE_FILTER");
    unsetenv("BITNET_TRACE_RAW");
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[700];
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* ---- synthetic traces ---- */

typedef struct trace_spec {
    int seqs, layers, dim;
    int change_seq, change_layer; /* element 0 of this record gets +delta */
    const char *change_stage;
    float delta;
    const char *skip_stage;       /* left out at every (seq, layer) */
} trace_spec;

static float value_at(int seq, int layer, int stage, int i) {
    return (float)(seq * 0.5 + layer * 0.25 + stage * 0.125) - (float)i * 0.0625f;
}

static int emit(bn_tracer *t, const trace_spec *s, int seq, int layer, int stage) {
    const char *name = bn_trace_stage_name(stage);
    if (s->skip_stage && strcmp(name, s->skip_stage) == 0) return 0;
    if (!bn_tracer_wants(t, layer, name)) return 0;
    float x[64];
    for (int i = 0; i < s->dim; i++) x[i] = value_at(seq, layer, stage, i);
    if (s->change_stage && seq == s->change_seq && layer == s->change_layer && !strcmp(name, s->change_stage))
        x[0] += s->delta;
    int64_t shape[1] = {s->dim};
    return bn_tracer_record(t, layer, name, seq, 0, 0, x, shape, 1);
}

/* Writes a trace like the forward pass would: per seq, embed, the layers, output_norm, logits. */
static int write_trace(const char *dir, const trace_spec *s) {
    bn_tracer *t;
    int rc = bn_tracer_open(dir, &t);
    if (rc) return rc;
    for (int seq = 0; seq < s->seqs && !rc; seq++) {
        rc = emit(t, s, seq, -1, BN_TRACE_EMBED);
        for (int l = 0; l < s->layers && !rc; l++)
            for (int st = BN_TRACE_ATTN_NORM; st <= BN_TRACE_LAYER_OUT && !rc; st++) rc = emit(t, s, seq, l, st);
        if (!rc) rc = emit(t, s, seq, -1, BN_TRACE_OUTPUT_NORM);
        if (!rc) rc = emit(t, s, seq, -1, BN_TRACE_LOGITS);
    }
    bn_tracer_close(t);
    return rc;
}

static trace_spec base_spec(void) {
    trace_spec s = {.seqs = 3, .layers = 2, .dim = 8, .change_stage = NULL, .skip_stage = NULL};
    return s;
}

/* ---- tracer ---- */

TEST(off_without_dir_or_env) {
    clear_env();
    bn_tracer *t = (bn_tracer *)1;
    CHECK_EQ_INT(bn_tracer_open(NULL, &t), 0);
    CHECK(t == NULL);
    CHECK(!bn_tracer_wants(NULL, 0, "attn_out"));
    setenv("BITNET_TRACE_DIR", "", 1);
    CHECK_EQ_INT(bn_tracer_open(NULL, &t), 0);
    CHECK(t == NULL);
    bn_tracer_close(NULL);
    clear_env();
}

TEST(env_dir_is_used_and_created) {
    clear_env();
    const char *dir = tmp_dir("env/nested/dir");
    setenv("BITNET_TRACE_DIR", dir, 1);
    bn_tracer *t = NULL;
    CHECK_EQ_INT(bn_tracer_open(NULL, &t), 0);
    CHECK(t != NULL);
    float x[2] = {1, 2};
    int64_t shape[1] = {2};
    CHECK_EQ_INT(bn_tracer_record(t, -1, "embed", 0, 0, 0, x, shape, 1), 0);
    bn_tracer_close(t);
    bn_trace tr;
    CHECK_EQ_INT(bn_trace_read(dir, &tr), 0);
    CHECK_EQ_INT(tr.n, 1);
    bn_trace_free(&tr);
    clear_env();
}

TEST(record_fields_round_trip) {
    clear_env();
    const char *dir = tmp_dir("fields");
    bn_tracer *t;
    CHECK_EQ_INT(bn_tracer_open(dir, &t), 0);
    float x[10] = {1.5f, -2.25f, 0.1f, 3, 0, 0, 0, 0, 0, 4};
    int64_t shape[2] = {5, 2};
    CHECK_EQ_INT(bn_tracer_record(t, 3, "ffn_out", 7, 2, 0, x, shape, 2), 0);
    float y[3] = {1.0f, NAN, INFINITY};
    int64_t shape_y[1] = {3};
    CHECK_EQ_INT(bn_tracer_record(t, -1, "logits", 7, 2, 4, y, shape_y, 1), 0);
    bn_tracer_close(t);

    bn_trace tr;
    CHECK_EQ_INT(bn_trace_read(dir, &tr), 0);
    CHECK_EQ_INT(tr.n, 2);
    if (tr.n == 2) {
        const bn_trace_entry *e = &tr.entries[0];
        CHECK_STR(e->name, "blk3/ffn_out");
        CHECK_STR(e->stage, "ffn_out");
        CHECK_EQ_INT(e->n_dims, 2);
        CHECK_EQ_INT(e->shape[0], 5);
        CHECK_EQ_INT(e->shape[1], 2);
        CHECK_EQ_INT(e->num_elements, 10);
        CHECK_EQ_INT(e->seq, 7);
        CHECK_EQ_INT(e->layer, 3);
        CHECK_EQ_INT(e->batch_pos, 2);
        CHECK_EQ_INT(e->seq_id, 0);
        CHECK_NEAR(e->min, -2.25, 0);
        CHECK_NEAR(e->max, 4, 0);
        CHECK_NEAR(e->mean, (1.5 - 2.25 + 0.1f + 3 + 4) / 10, 1e-7);
        double sumsq = 1.5 * 1.5 + 2.25 * 2.25 + (double)0.1f * 0.1f + 9 + 16;
        CHECK_NEAR(e->rms, sqrt(sumsq / 10), 1e-7);
        CHECK_EQ_INT(e->n_first, 8);
        CHECK(e->first[1] == -2.25 && (float)e->first[2] == 0.1f); /* %.9g round-trips f32 */
        CHECK_STR(e->raw, "");
        char hex[65];
        bn_blake3_hex(x, sizeof x, hex); /* x86 is little-endian: memory = the f32 LE bytes */
        CHECK_STR(e->blake3, hex);

        const bn_trace_entry *g = &tr.entries[1];
        CHECK_STR(g->name, "logits");
        CHECK_EQ_INT(g->layer, -1);
        CHECK_EQ_INT(g->seq_id, 4);
        CHECK_EQ_INT(g->n_first, 3);
        CHECK(isnan(g->first[1]) && isinf(g->first[2]) && g->first[2] > 0);
        CHECK(isnan(g->min) && isnan(g->max) && isnan(g->mean) && isnan(g->rms));
    }
    bn_trace_free(&tr);

    /* The text itself: NaN/Inf are strings, dtype and raw are present. */
    char path[700], line[4096] = "";
    snprintf(path, sizeof path, "%s/trace.jsonl", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (f) {
        CHECK(fgets(line, sizeof line, f) != NULL);
        CHECK(strstr(line, "\"dtype\":\"f32\"") && strstr(line, "\"raw\":null") && strstr(line, "\"batch_id\":0"));
        CHECK(fgets(line, sizeof line, f) != NULL);
        CHECK(strstr(line, "\"first\":[1,\"nan\",\"inf\"]") != NULL);
        CHECK(strstr(line, "\"min\":\"nan\"") != NULL);
        fclose(f);
    }
}

TEST(appends_to_existing_file) {
    clear_env();
    const char *dir = tmp_dir("append");
    trace_spec s = base_spec();
    CHECK_EQ_INT(write_trace(dir, &s), 0);
    CHECK_EQ_INT(write_trace(dir, &s), 0);
    bn_trace tr;
    CHECK_EQ_INT(bn_trace_read(dir, &tr), 0);
    size_t per_run = (size_t)s.seqs * (3 + 16 * (size_t)s.layers);
    CHECK_EQ_INT(tr.n, 2 * per_run);
    bn_trace_free(&tr);
}

TEST(raw_dumps_match_hash) {
    clear_env();
    setenv("BITNET_TRACE_RAW", "1", 1);
    const char *dir = tmp_dir("raw");
    bn_tracer *t;
    CHECK_EQ_INT(bn_tracer_open(dir, &t), 0);
    float x[3000]; /* several BLAKE3 chunks */
    for (int i = 0; i < 3000; i++) x[i] = (float)i * 0.01f - 7;
    int64_t shape[1] = {3000};
    CHECK_EQ_INT(bn_tracer_record(t, 12, "attn", 5, 0, 0, x, shape, 1), 0);
    CHECK_EQ_INT(bn_tracer_record(t, -1, "embed", 5, 0, 2, x, shape, 1), 0);
    bn_tracer_close(t);
    clear_env();
    bn_trace tr;
    CHECK_EQ_INT(bn_trace_read(dir, &tr), 0);
    CHECK_EQ_INT(tr.n, 2);
    if (tr.n == 2) {
        CHECK_STR(tr.entries[0].raw, "raw/5_12_attn.f32");
        CHECK_STR(tr.entries[1].raw, "raw/s2_5_-1_embed.f32");
        char path[800];
        snprintf(path, sizeof path, "%s/%s", dir, tr.entries[0].raw);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        if (f) {
            static float back[3001];
            size_t n = fread(back, 4, 3001, f);
            fclose(f);
            CHECK_EQ_INT(n, 3000);
            CHECK(memcmp(back, x, sizeof x) == 0);
            char hex[65];
            bn_blake3_hex(back, n * 4, hex);
            CHECK_STR(hex, tr.entries[0].blake3);
        }
    }
    bn_trace_free(&tr);
}

TEST(filter_selects_layers_and_stages) {
    clear_env();
    setenv("BITNET_TRACE_FILTER", "layers=0-3,29;stages=attn_out,ffn_out,logits", 1);
    bn_tracer *t;
    CHECK_EQ_INT(bn_tracer_open(tmp_dir("filter"), &t), 0);
    CHECK(bn_tracer_wants(t, 0, "attn_out"));
    CHECK(bn_tracer_wants(t, 3, "ffn_out"));
    CHECK(bn_tracer_wants(t, 29, "attn_out"));
    CHECK(!bn_tracer_wants(t, 4, "attn_out"));
    CHECK(!bn_tracer_wants(t, 28, "ffn_out"));
    CHECK(!bn_tracer_wants(t, 1, "ffn_norm"));
    CHECK(!bn_tracer_wants(t, 1, "not_a_stage"));
    CHECK(bn_tracer_wants(t, -1, "logits"));  /* layer -1 always passes the layers part */
    CHECK(!bn_tracer_wants(t, -1, "embed")); /* ... but not the stages part */
    float x[1] = {1};
    int64_t shape[1] = {1};
    CHECK_EQ_INT(bn_tracer_record(t, 5, "attn_out", 0, 0, 0, x, shape, 1), 0); /* filtered out */
    CHECK_EQ_INT(bn_tracer_record(t, 2, "attn_out", 0, 0, 0, x, shape, 1), 0);
    bn_tracer_close(t);
    bn_trace tr;
    CHECK_EQ_INT(bn_trace_read(tmp_dir("filter"), &tr), 0);
    CHECK_EQ_INT(tr.n, 1);
    bn_trace_free(&tr);

    setenv("BITNET_TRACE_FILTER", "layers=7", 1);
    CHECK_EQ_INT(bn_tracer_open(tmp_dir("filter"), &t), 0);
    CHECK(bn_tracer_wants(t, 7, "q_rope") && !bn_tracer_wants(t, 6, "q_rope") && bn_tracer_wants(t, -1, "embed"));
    bn_tracer_close(t);
    setenv("BITNET_TRACE_FILTER", "stages=embed;", 1);
    CHECK_EQ_INT(bn_tracer_open(tmp_dir("filter"), &t), 0);
    CHECK(bn_tracer_wants(t, -1, "embed") && !bn_tracer_wants(t, 0, "attn_norm"));
    bn_tracer_close(t);
    clear_env();
}

TEST(bad_filters_and_settings_fail_clearly) {
    static const struct { const char *filter; const char *says; } bad[] = {
        {"layers=3-1", "bad layer item"},    {"layers=x", "bad layer item"},
        {"layers=-1", "bad layer item"},     {"layers=", "bad layer item"},
        {"layers=1,", "bad layer item"},     {"layers=1;layers=2", "given twice"},
        {"stages=attn_outt", "unknown stage"}, {"stages=", "unknown stage"},
        {"stage=attn_out", "unknown key"},   {"layers", "not key=value"},
        {"layers=99999999999", "bad layer item"},
    };
    clear_env();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("BITNET_TRACE_FILTER", bad[i].filter, 1);
        bn_tracer *t = (bn_tracer *)1;
        int rc = bn_tracer_open(tmp_dir("badfilter"), &t);
        CHECK_MSG(rc == BITNET_ERR_INVALID_ARGUMENT && t == NULL, "filter '%s' gave %d", bad[i].filter, rc);
        CHECK_MSG(strstr(bn_last_error_message(), bad[i].says) != NULL, "filter '%s': message '%s'",
                  bad[i].filter, bn_last_error_message());
    }
    clear_env();
    setenv("BITNET_TRACE_RAW", "yes", 1);
    bn_tracer *t;
    CHECK_EQ_INT(bn_tracer_open(tmp_dir("badraw"), &t), BITNET_ERR_INVALID_ARGUMENT);
    CHECK(strstr(bn_last_error_message(), "BITNET_TRACE_RAW") != NULL);
    clear_env();
    /* A file where the folder should be. */
    write_file(tmp_dir("blocker"), "trace.jsonl", "");
    char blocked[700];
    snprintf(blocked, sizeof blocked, "%s/trace.jsonl/sub", tmp_dir("blocker"));
    CHECK(bn_tracer_open(blocked, &t) < 0);
}

TEST(bad_record_arguments_rejected) {
    clear_env();
    bn_tracer *t;
    CHECK_EQ_INT(bn_tracer_open(tmp_dir("badargs"), &t), 0);
    float x[4] = {0};
    int64_t shape[2] = {2, 2}, zero[1] = {0}, neg[1] = {-3};
    CHECK_EQ_INT(bn_tracer_record(t, 0, "Bad/Stage", 0, 0, 0, x, shape, 2), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_tracer_record(t, 0, "", 0, 0, 0, x, shape, 2), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_tracer_record(t, -2, "attn", 0, 0, 0, x, shape, 2), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_tracer_record(t, 0, "attn", -1, 0, 0, x, shape, 2), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_tracer_record(t, 0, "attn", 0, 0, 0, x, zero, 1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_tracer_record(t, 0, "attn", 0, 0, 0, x, neg, 1), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_tracer_record(t, 0, "attn", 0, 0, 0, NULL, shape, 2), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_tracer_record(t, 0, "attn", 0, 0, 0, x, shape, 9), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_tracer_record(NULL, 0, "attn", 0, 0, 0, x, shape, 2), BITNET_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(bn_tracer_record(t, 0, "my_extra_stage", 0, 0, 0, x, shape, 2), 0); /* non-canonical is ok */
    bn_tracer_close(t);
}

TEST(stage_table) {
    CHECK_EQ_INT(BN_TRACE_STAGE_COUNT, 19);
    CHECK_STR(bn_trace_stage_name(0), "embed");
    CHECK_STR(bn_trace_stage_name(BN_TRACE_ATTN_OUT), "attn_out");
    CHECK_STR(bn_trace_stage_name(BN_TRACE_STAGE_COUNT - 1), "logits");
    CHECK(bn_trace_stage_name(BN_TRACE_STAGE_COUNT) == NULL && bn_trace_stage_name(-1) == NULL);
    CHECK_EQ_INT(bn_trace_stage_index("ffn_act"), BN_TRACE_FFN_ACT);
    CHECK_EQ_INT(bn_trace_stage_index("nope"), -1);
}

/* ---- trace_diff ---- */

static const bn_trace_diff_options exact = {.tolerance = false, .rtol = 0, .atol = 0, .allow_missing = false};

TEST(diff_identical_traces) {
    clear_env();
    trace_spec s = base_spec();
    CHECK_EQ_INT(write_trace(tmp_dir("same_a"), &s), 0);
    CHECK_EQ_INT(write_trace(tmp_dir("same_b"), &s), 0);
    bn_trace_diff_result r;
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("same_a"), tmp_dir("same_b"), &exact, &r), 0);
    size_t total = (size_t)s.seqs * (3 + 16 * (size_t)s.layers);
    CHECK_EQ_INT(r.compared, total);
    CHECK_EQ_INT(r.matched, total);
    CHECK_EQ_INT(r.diverged + r.only_a + r.only_b, 0);
    CHECK_EQ_INT(bn_trace_diff_exit_code(&r, &exact), 0);
}

TEST(diff_names_first_changed_record) {
    clear_env();
    trace_spec s = base_spec();
    CHECK_EQ_INT(write_trace(tmp_dir("chg_a"), &s), 0);
    s.change_seq = 1, s.change_layer = 1, s.change_stage = "ffn_act", s.delta = 1e-3f;
    CHECK_EQ_INT(write_trace(tmp_dir("chg_b"), &s), 0);
    bn_trace_diff_result r;
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("chg_a"), tmp_dir("chg_b"), &exact, &r), 0);
    CHECK_EQ_INT(r.diverged, 1);
    CHECK_EQ_INT(r.first.kind, BN_TRACE_DIFF_HASH);
    CHECK_EQ_INT(r.first.a.seq, 1);
    CHECK_EQ_INT(r.first.a.layer, 1);
    CHECK_STR(r.first.a.stage, "ffn_act");
    CHECK(strcmp(r.first.a.blake3, r.first.b.blake3) != 0);
    CHECK(!r.first.has_raw);
    CHECK_EQ_INT(bn_trace_diff_exit_code(&r, &exact), 1);
}

/* Two changes: the walk must report the one that executes first, not the one first in a file. */
static void check_first_of_two(const char *tag, int seq1, int layer1, const char *stage1, int seq2, int layer2,
                               const char *stage2, int want_seq, int want_layer, const char *want_stage) {
    trace_spec s = base_spec();
    char a[64], b[64];
    snprintf(a, sizeof a, "ord_%s_a", tag);
    snprintf(b, sizeof b, "ord_%s_b", tag);
    CHECK_EQ_INT(write_trace(tmp_dir(a), &s), 0);
    /* B = A with two records changed: write A's data, changing one; then append the other change. */
    s.change_seq = seq1, s.change_layer = layer1, s.change_stage = stage1, s.delta = 1;
    CHECK_EQ_INT(write_trace(tmp_dir(b), &s), 0);
    s.change_seq = seq2, s.change_layer = layer2, s.change_stage = stage2;
    CHECK_EQ_INT(write_trace(tmp_dir(b), &s), 0); /* appended: duplicates, the last wins */
    bn_trace_diff_result r;
    CHECK_EQ_INT(bn_trace_diff(tmp_dir(a), tmp_dir(b), &exact, &r), 0);
    CHECK_EQ_INT(r.duplicates_b, r.records_b);
    CHECK_EQ_INT(r.diverged, 1); /* only the second change survives deduplication */
    CHECK_MSG(r.first.a.seq == want_seq && r.first.a.layer == want_layer && !strcmp(r.first.a.stage, want_stage),
              "%s: got seq %d layer %d %s", tag, r.first.a.seq, r.first.a.layer, r.first.a.stage);
}

TEST(diff_dedupe_keeps_last_record) {
    clear_env();
    check_first_of_two("dup", 0, 0, "attn", 2, -1, "logits", 2, -1, "logits");
}

TEST(diff_walks_execution_order) {
    clear_env();
    /* B differs in embed (seq 1), layer 1 (seq 0), output_norm (seq 0) and blk0 (seq 0): the
     * first in execution order is seq 0, blk0/q_proj. Written by a hand-ordered file to make
     * file order differ from execution order. */
    trace_spec s = base_spec();
    CHECK_EQ_INT(write_trace(tmp_dir("exo_a"), &s), 0);
    bn_tracer *t;
    setenv("BITNET_TRACE_FILTER", "layers=0", 1);
    CHECK_EQ_INT(bn_tracer_open(tmp_dir("exo_b"), &t), 0);
    clear_env();
    float x[8];
    int64_t shape[1] = {8};
    static const struct { int seq, layer, stage; } order[] = {
        {0, -1, BN_TRACE_LOGITS}, {0, -1, BN_TRACE_OUTPUT_NORM}, {1, -1, BN_TRACE_EMBED},
        {0, 0, BN_TRACE_FFN_UP}, {0, 0, BN_TRACE_Q_PROJ}, {0, -1, BN_TRACE_EMBED},
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        for (int k = 0; k < 8; k++) x[k] = value_at(order[i].seq, order[i].layer, order[i].stage, k);
        if (order[i].stage != BN_TRACE_EMBED || order[i].seq == 1) x[3] += 1; /* seq 0 embed stays equal */
        CHECK_EQ_INT(bn_tracer_record(t, order[i].layer, bn_trace_stage_name(order[i].stage), order[i].seq, 0, 0,
                                      x, shape, 1), 0);
    }
    bn_tracer_close(t);
    bn_trace_diff_result r;
    bn_trace_diff_options allow = exact;
    allow.allow_missing = true;
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("exo_a"), tmp_dir("exo_b"), &allow, &r), 0);
    CHECK_EQ_INT(r.compared, 6);
    CHECK_EQ_INT(r.matched, 1);
    CHECK_EQ_INT(r.diverged, 5);
    CHECK_EQ_INT(r.first.a.seq, 0);
    CHECK_EQ_INT(r.first.a.layer, 0);
    CHECK_STR(r.first.a.stage, "q_proj");
    CHECK_EQ_INT(bn_trace_diff_exit_code(&r, &allow), 1);
}

TEST(diff_missing_records) {
    clear_env();
    trace_spec s = base_spec();
    CHECK_EQ_INT(write_trace(tmp_dir("miss_a"), &s), 0);
    s.skip_stage = "v_proj";
    CHECK_EQ_INT(write_trace(tmp_dir("miss_b"), &s), 0);
    bn_trace_diff_result r;
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("miss_a"), tmp_dir("miss_b"), &exact, &r), 0);
    CHECK_EQ_INT(r.diverged, 0);
    CHECK_EQ_INT(r.only_a, (size_t)s.seqs * s.layers);
    CHECK_EQ_INT(r.only_b, 0);
    CHECK_EQ_INT(r.only_a_listed[0].seq, 0);
    CHECK_EQ_INT(r.only_a_listed[0].layer, 0);
    CHECK_STR(r.only_a_listed[0].stage, "v_proj");
    CHECK_EQ_INT(bn_trace_diff_exit_code(&r, &exact), 1);
    bn_trace_diff_options allow = exact;
    allow.allow_missing = true;
    CHECK_EQ_INT(bn_trace_diff_exit_code(&r, &allow), 0);

    /* The same filter on both sides: nothing is missing. */
    setenv("BITNET_TRACE_FILTER", "stages=attn_out", 1);
    CHECK_EQ_INT(write_trace(tmp_dir("filt_a"), &s), 0);
    CHECK_EQ_INT(write_trace(tmp_dir("filt_b"), &s), 0);
    clear_env();
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("filt_a"), tmp_dir("filt_b"), &exact, &r), 0);
    CHECK_EQ_INT(r.compared, (size_t)s.seqs * s.layers);
    CHECK_EQ_INT(r.only_a + r.only_b + r.diverged, 0);
}

TEST(diff_shape_mismatch_diverges) {
    clear_env();
    const char *a = tmp_dir("shape_a"), *b = tmp_dir("shape_b");
    bn_tracer *ta, *tb;
    CHECK_EQ_INT(bn_tracer_open(a, &ta), 0);
    CHECK_EQ_INT(bn_tracer_open(b, &tb), 0);
    float x[4] = {1, 2, 3, 4};
    int64_t s1[1] = {4}, s2[2] = {2, 2};
    CHECK_EQ_INT(bn_tracer_record(ta, 0, "attn", 0, 0, 0, x, s1, 1), 0);
    CHECK_EQ_INT(bn_tracer_record(tb, 0, "attn", 0, 0, 0, x, s2, 2), 0);
    bn_tracer_close(ta);
    bn_tracer_close(tb);
    bn_trace_diff_result r;
    CHECK_EQ_INT(bn_trace_diff(a, b, &exact, &r), 0);
    CHECK_EQ_INT(r.diverged, 1);
    CHECK_EQ_INT(r.first.kind, BN_TRACE_DIFF_SHAPE);
    CHECK_STR(r.first.a.blake3, r.first.b.blake3); /* same bytes, different shape */
}

TEST(diff_tolerance_with_raw_dumps) {
    clear_env();
    setenv("BITNET_TRACE_RAW", "1", 1);
    trace_spec s = base_spec();
    CHECK_EQ_INT(write_trace(tmp_dir("tol_a"), &s), 0);
    s.change_seq = 2, s.change_layer = 0, s.change_stage = "attn_out", s.delta = 1e-3f;
    CHECK_EQ_INT(write_trace(tmp_dir("tol_b"), &s), 0);
    clear_env();
    bn_trace_diff_result r;
    /* Exact: diverges, and with raw dumps on both sides reports max |diff| and cosine. */
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("tol_a"), tmp_dir("tol_b"), &exact, &r), 0);
    CHECK_EQ_INT(r.diverged, 1);
    CHECK(r.first.has_raw);
    CHECK_NEAR(r.first.max_abs_diff, 1e-3, 1e-6);
    CHECK(r.first.cosine > 0.99999 && r.first.cosine < 1.0);
    /* Loose enough: everything matches, judged by values (no fallback). */
    bn_trace_diff_options tol = {.tolerance = true, .rtol = 0, .atol = 2e-3, .allow_missing = false};
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("tol_a"), tmp_dir("tol_b"), &tol, &r), 0);
    CHECK_EQ_INT(r.diverged, 0);
    CHECK_EQ_INT(r.matched, r.compared);
    CHECK_EQ_INT(r.stats_fallback, 0);
    /* Too tight: diverges on values at the changed record. */
    tol.atol = 5e-4;
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("tol_a"), tmp_dir("tol_b"), &tol, &r), 0);
    CHECK_EQ_INT(r.diverged, 1);
    CHECK_EQ_INT(r.first.kind, BN_TRACE_DIFF_VALUES);
    CHECK_EQ_INT(r.first.a.seq, 2);
    CHECK_STR(r.first.a.stage, "attn_out");
    /* rtol alone: element 0 of that record is about 1.5 in size, so 1e-3 relative covers it. */
    tol.atol = 0, tol.rtol = 1e-3;
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("tol_a"), tmp_dir("tol_b"), &tol, &r), 0);
    CHECK_EQ_INT(r.diverged, 0);
}

TEST(diff_tolerance_without_raw_uses_stats) {
    clear_env();
    trace_spec s = base_spec();
    CHECK_EQ_INT(write_trace(tmp_dir("st_a"), &s), 0);
    s.change_seq = 0, s.change_layer = 1, s.change_stage = "ffn_gate", s.delta = 0.01f;
    CHECK_EQ_INT(write_trace(tmp_dir("st_b"), &s), 0);
    bn_trace_diff_options tol = {.tolerance = true, .rtol = 0, .atol = 0.1, .allow_missing = false};
    bn_trace_diff_result r;
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("st_a"), tmp_dir("st_b"), &tol, &r), 0);
    CHECK_EQ_INT(r.diverged, 0);
    CHECK_EQ_INT(r.stats_fallback, r.compared);
    tol.atol = 1e-4;
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("st_a"), tmp_dir("st_b"), &tol, &r), 0);
    CHECK_EQ_INT(r.diverged, 1);
    CHECK_EQ_INT(r.first.kind, BN_TRACE_DIFF_STATS);
    CHECK_STR(r.first.a.stage, "ffn_gate");
}

TEST(diff_stale_or_missing_raw_is_unusable) {
    clear_env();
    setenv("BITNET_TRACE_RAW", "1", 1);
    trace_spec s = base_spec();
    s.seqs = 1;
    CHECK_EQ_INT(write_trace(tmp_dir("stale_a"), &s), 0);
    CHECK_EQ_INT(write_trace(tmp_dir("stale_b"), &s), 0);
    clear_env();
    bn_trace_diff_options tol = {.tolerance = true, .rtol = 0, .atol = 0, .allow_missing = false};
    char path[800];
    snprintf(path, sizeof path, "%s/raw/0_1_attn.f32", tmp_dir("stale_b"));
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f) {
        fputc(0x55, f); /* the dump no longer matches its record */
        fclose(f);
    }
    bn_trace_diff_result r;
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("stale_a"), tmp_dir("stale_b"), &tol, &r), BITNET_ERR_LOAD_FAILED);
    CHECK(strstr(bn_last_error_message(), "0_1_attn.f32") && strstr(bn_last_error_message(), "blake3"));
    remove(path);
    CHECK_EQ_INT(bn_trace_diff(tmp_dir("stale_a"), tmp_dir("stale_b"), &tol, &r), BITNET_ERR_LOAD_FAILED);
    CHECK(strstr(bn_last_error_message(), "0_1_attn.f32") != NULL);
}

#define GOOD_LINE                                                                                            \
    "{\"name\":\"blk0/attn\",\"shape\":[2],\"dtype\":\"f32\",\"blake3\":"                                  \
    "\"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262\",\"rms\":1,\"num_elements\":2,"   \
    "\"seq\":0,\"layer\":0,\"stage\":\"attn\",\"batch_id\":0,\"batch_pos\":0,\"min\":\"-inf\",\"max\":2e3," \
    "\"mean\":-0.5,\"first\":[1,\"nan\"],\"raw\":null}\n"

TEST(reader_accepts_valid_variants) {
    const char *dir = tmp_dir("variants");
    write_file(dir, "trace.jsonl",
               GOOD_LINE "\n   \n"
               "  { \"stage\" : \"at\\u0074n\", \"shape\":[1,2], \"blake3\":"
               "\"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262\", \"num_elements\":2,"
               "\"seq\":1,\"layer\":-1,\"batch_id\":3,\"rms\":0,\"min\":0,\"max\":0,\"mean\":0,"
               "\"extra\":{\"nested\":[1,2,{\"x\":null}],\"t\":true}}  \r\n");
    bn_trace tr;
    CHECK_EQ_INT(bn_trace_read(dir, &tr), 0);
    CHECK_EQ_INT(tr.n, 2);
    if (tr.n == 2) {
        CHECK(isinf(tr.entries[0].min) && tr.entries[0].min < 0);
        CHECK_NEAR(tr.entries[0].max, 2000, 0);
        CHECK_STR(tr.entries[1].stage, "attn");
        CHECK_EQ_INT(tr.entries[1].line, 4); /* blank lines count */
        CHECK_EQ_INT(tr.entries[1].seq_id, 3);
    }
    bn_trace_free(&tr);
}

TEST(reader_rejects_malformed_lines) {
    static const char *bad[] = {
        "{\"name\":\"x\"",                              /* truncated */
        "not json",
        "{\"shape\":[2],\"seq\":0}",                    /* lacks required fields */
        "[1,2]",
        "{}",
        "{\"stage\":\"a\",\"stage\":\"b\"}",            /* duplicate field */
        "{\"rms\":NaN}",                                /* bare NaN is not JSON */
        "{\"rms\":01}",
        "{\"rms\":1.}",
        "{\"rms\":\"big\"}",
        "{\"seq\":1.5}",
        "{\"seq\":-1}",
        "{\"layer\":-2}",
        "{\"shape\":[0]}",
        "{\"shape\":[1,1,1,1,1,1,1,1,1]}",
        "{\"blake3\":\"xyz\"}",
        "{\"dtype\":\"f16\"}",
        "{\"stage\":\"Bad/Name\"}",
        "{\"raw\":\"/etc/passwd\"}",
        "{\"raw\":\"../x\"}",
        "{\"name\":\"\\ud800\"}",
        "{\"name\":\"\\q\"}",
        "{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
        "{\"x\":1} trailing",
        "{\"x\":\"unterminated}",
    };
    char text[4096];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, GOOD_LINE GOOD_LINE "%s\n" GOOD_LINE, bad[i]);
        write_file(tmp_dir("bad"), "trace.jsonl", text);
        bn_trace tr;
        int rc = bn_trace_read(tmp_dir("bad"), &tr);
        CHECK_MSG(rc == BITNET_ERR_LOAD_FAILED, "line '%s' gave %d", bad[i], rc);
        CHECK_MSG(strstr(bn_last_error_message(), "trace.jsonl:3:") != NULL, "line '%s': message '%s'", bad[i],
                  bn_last_error_message());
        CHECK(tr.n == 0 && tr.entries == NULL);
    }
    /* num_elements inconsistent with shape */
    write_file(tmp_dir("bad2"), "trace.jsonl",
               "{\"shape\":[3],\"blake3\":\"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262\","
               "\"num_elements\":2,\"seq\":0,\"layer\":0,\"stage\":\"attn\",\"batch_id\":0,\"rms\":1,\"min\":1,"
               "\"max\":1,\"mean\":1}\n");
    bn_trace tr;
    CHECK_EQ_INT(bn_trace_read(tmp_dir("bad2"), &tr), BITNET_ERR_LOAD_FAILED);
    CHECK(strstr(bn_last_error_message(), "trace.jsonl:1:") && strstr(bn_last_error_message(), "num_elements"));
    /* A NUL byte in a line. */
    FILE *f = fopen(tmp_dir("bad2/trace.jsonl"), "wb");
    if (f) {
        fwrite("{\"a\":\0}\n", 1, 8, f);
        fclose(f);
    }
    CHECK_EQ_INT(bn_trace_read(tmp_dir("bad2"), &tr), BITNET_ERR_LOAD_FAILED);
    /* No file at all. */
    CHECK_EQ_INT(bn_trace_read(tmp_dir("does_not_exist"), &tr), BITNET_ERR_NOT_FOUND);
    bn_trace_diff_result r;
    CHECK(bn_trace_diff(tmp_dir("variants"), tmp_dir("does_not_exist"), &exact, &r) < 0);
    CHECK(strstr(bn_last_error_message(), "does_not_exist") != NULL);
}

TEST_MAIN_BEGIN("test_trace")
make_tmp_root();
RUN(off_without_dir_or_env);
RUN(env_dir_is_used_and_created);
RUN(record_fields_round_trip);
RUN(appends_to_existing_file);
RUN(raw_dumps_match_hash);
RUN(filter_selects_layers_and_stages);
RUN(bad_filters_and_settings_fail_clearly);
RUN(bad_record_arguments_rejected);
RUN(stage_table);
RUN(diff_identical_traces);
RUN(diff_names_first_changed_record);
RUN(diff_dedupe_keeps_last_record);
RUN(diff_walks_execution_order);
RUN(diff_missing_records);
RUN(diff_shape_mismatch_diverges);
RUN(diff_tolerance_with_raw_dumps);
RUN(diff_tolerance_without_raw_uses_stats);
RUN(diff_stale_or_missing_raw_is_unusable);
RUN(reader_accepts_valid_variants);
RUN(reader_rejects_malformed_lines);
nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
TEST_MAIN_END()
