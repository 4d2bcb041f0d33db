/* trace_write: writes a synthetic trace through the real tracer (src/debug/trace.h), for the
 * trace tests until the forward pass emits real ones.
 *
 *   trace_write DIR [--seqs N] [--layers L] [--dim D] [--seq-id S]
 *               [--change SEQ:LAYER:STAGE:DELTA] [--skip SEQ:LAYER:STAGE]
 *               [--reshape SEQ:LAYER:STAGE] [--nan SEQ:LAYER:STAGE]
 *
 * For each seq 0..N-1 it records, in execution order, "embed", then every layer stage for
 * layers 0..L-1, then "output_norm" and "logits" (layer -1). Each tensor has shape [D]
 * (logits: [2D]) and deterministic values from (seq, layer, stage). --change adds DELTA to
 * element 0 of one record, --skip leaves one record out, --reshape records it as [D/2, 2],
 * --nan makes element 1 NaN (each option at most once). BITNET_TRACE_FILTER and
 * BITNET_TRACE_RAW apply as usual.
 * Exit 0 on success, 1 on a tracer error (printed), 2 on bad usage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug/trace.h"
#include "util.h"

typedef struct target { bool set; int seq, layer; char stage[64]; double delta; } target;

static bool parse_target(const char *s, bool with_delta, target *t) {
    int used = 0;
    if (t->set) return false; /* one target per kind */
    t->delta = 0;
    int n = with_delta ? sscanf(s, "%d:%d:%63[a-z0-9_]:%lf%n", &t->seq, &t->layer, t->stage, &t->delta, &used)
                       : sscanf(s, "%d:%d:%63[a-z0-9_]%n", &t->seq, &t->layer, t->stage, &used);
    t->set = n == (with_delta ? 4 : 3) && s[used] == '\0';
    return t->set;
}

static bool hits(const target *t, int seq, int layer, const char *stage) {
    return t->set && t->seq == seq && t->layer == layer && strcmp(t->stage, stage) == 0;
}

/* Deterministic pseudo-random values in [-1, 1) from (seq, layer, stage index, element). */
static void fill(float *x, int n, int seq, int layer, int stage) {
    uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(seq + 1) ^ 0xBF58476D1CE4E5B9ull * (uint64_t)(layer + 2) ^
                 0x94D049BB133111EBull * (uint64_t)(stage + 3);
    for (int i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / 4503599627370496.0 - 1.0);
    }
}

typedef struct writer {
    bn_tracer *tracer;
    int dim, seq_id;
    target change, skip, reshape, nan_at;
    float *buf;
} writer;

static int emit(writer *w, int seq, int layer, int stage) {
    const char *name = bn_trace_stage_name(stage);
    if (hits(&w->skip, seq, layer, name) || !bn_tracer_wants(w->tracer, layer, name)) return 0;
    int n = stage == BN_TRACE_LOGITS ? 2 * w->dim : w->dim;
    fill(w->buf, n, seq, layer, stage);
    if (hits(&w->change, seq, layer, name)) w->buf[0] += (float)w->change.delta;
    if (hits(&w->nan_at, seq, layer, name) && n > 1) w->buf[1] = NAN;
    int64_t shape[2] = {n, 1};
    int n_dims = 1;
    if (hits(&w->reshape, seq, layer, name)) shape[0] = n / 2, shape[1] = 2, n_dims = 2;
    return bn_tracer_record(w->tracer, layer, name, seq, seq, w->seq_id, w->buf, shape, n_dims);
}

static int emit_all(writer *w, int seqs, int layers) {
    int rc = 0;
    for (int seq = 0; seq < seqs && !rc; seq++) {
        rc = emit(w, seq, -1, BN_TRACE_EMBED);
        for (int layer = 0; layer < layers && !rc; layer++)
            for (int st = BN_TRACE_ATTN_NORM; st <= BN_TRACE_LAYER_OUT && !rc; st++) rc = emit(w, seq, layer, st);
        if (!rc) rc = emit(w, seq, -1, BN_TRACE_OUTPUT_NORM);
        if (!rc) rc = emit(w, seq, -1, BN_TRACE_LOGITS);
    }
    return rc;
}

static bool int_arg(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: trace_write DIR [--seqs N] [--layers L] [--dim D] [--seq-id S] "
                        "[--change S:L:STAGE:DELTA] [--skip S:L:STAGE] [--reshape S:L:STAGE] [--nan S:L:STAGE]\n");
        return 2;
    }
    writer w = {.dim = 16};
    int seqs = 2, layers = 2;
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[++i] : NULL;
        bool ok = val != NULL;
        if (ok && !strcmp(opt, "--seqs")) ok = int_arg(val, 1, 100000, &seqs);
        else if (ok && !strcmp(opt, "--layers")) ok = int_arg(val, 0, 1000, &layers);
        else if (ok && !strcmp(opt, "--dim")) ok = int_arg(val, 2, 1 << 20, &w.dim);
        else if (ok && !strcmp(opt, "--seq-id")) ok = int_arg(val, 0, 1 << 20, &w.seq_id);
        else if (ok && !strcmp(opt, "--change")) ok = parse_target(val, true, &w.change);
        else if (ok && !strcmp(opt, "--skip")) ok = parse_target(val, false, &w.skip);
        else if (ok && !strcmp(opt, "--reshape")) ok = parse_target(val, false, &w.reshape);
        else if (ok && !strcmp(opt, "--nan")) ok = parse_target(val, false, &w.nan_at);
        else ok = false;
        if (!ok) {
            fprintf(stderr, "trace_write: bad option '%s'\n", opt);
            return 2;
        }
    }
    if (bn_tracer_open(argv[1], &w.tracer) != 0) {
        fprintf(stderr, "trace_write: %s\n", bn_last_error_message());
        return 1;
    }
    w.buf = malloc(2 * (size_t)w.dim * sizeof *w.buf);
    int rc = w.buf ? emit_all(&w, seqs, layers) : -1;
    if (rc) fprintf(stderr, "trace_write: %s\n", w.buf ? bn_last_error_message() : "out of memory");
    free(w.buf);
    bn_tracer_close(w.tracer);
    return rc ? 1 : 0;
}
