/* trace_diff: reading trace.jsonl files back (trace.h writes them) and finding the first
 * tensor where two traces diverge. `bitnet trace-diff` (cli/cmd_trace_diff.c) prints the
 * result; docs/TRACING.md describes the rules.
 *
 * Pairing and order: records pair by (seq_id, seq, layer, stage) and are walked in execution
 * order: by seq, then seq_id, then layer -1 "embed", layers 0..N-1, layer -1 "output_norm" and
 * "logits"; within a layer by the canonical stage order of trace.h (other stage names after
 * those, alphabetically). A key written twice in one trace (appended runs) keeps its last
 * record; the count is reported.
 *
 * A pair diverges when the shapes differ, or
 *   - exact mode (default): the BLAKE3 hashes differ;
 *   - tolerance mode: some element has |a-b| > atol + rtol*|b| (raw dumps on both sides; NaN
 *     matches only NaN), else, without raw dumps on both sides, one of rms/min/max/mean fails
 *     that test (a weaker check, counted in stats_fallback).
 * Records on one side only are "missing": reported, and a failure unless allow_missing. */
#ifndef BITNET_TRACE_DIFF_H
#define BITNET_TRACE_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BN_TRACE_MAX_DIMS 8
#define BN_TRACE_MAX_FIRST 8
#define BN_TRACE_DIFF_LISTED 5 /* missing records listed per side */

/* One record of a trace.jsonl, as read back. */
typedef struct bn_trace_entry {
    char name[96];
    char stage[64];
    char blake3[65];
    char raw[160];                       /* relative path of the raw dump, "" when null */
    int64_t shape[BN_TRACE_MAX_DIMS];
    int n_dims;
    uint64_t num_elements;
    int seq, layer, seq_id, batch_pos;   /* seq_id is the record's "batch_id" */
    double rms, min, max, mean;
    double first[BN_TRACE_MAX_FIRST];
    int n_first;
    long line;                           /* 1-based line in the file */
} bn_trace_entry;

typedef struct bn_trace {
    char *dir;
    bn_trace_entry *entries; /* in file order */
    size_t n;
} bn_trace;

/* Reads DIR/trace.jsonl. Blank lines are skipped; anything else that is not a valid record
 * fails with BITNET_ERR_NOT_FOUND (no file) or BITNET_ERR_LOAD_FAILED and a message
 * "<file>:<line>: <what>". On failure *out is empty. */
int bn_trace_read(const char *dir, bn_trace *out);
void bn_trace_free(bn_trace *t);

typedef struct bn_trace_key {
    int seq_id, seq, layer;
    char stage[64];
} bn_trace_key;

typedef enum bn_trace_divergence_kind {
    BN_TRACE_SAME = 0,
    BN_TRACE_DIFF_SHAPE,  /* shapes differ */
    BN_TRACE_DIFF_HASH,   /* exact mode: hashes differ */
    BN_TRACE_DIFF_VALUES, /* tolerance mode, raw dumps: an element out of tolerance */
    BN_TRACE_DIFF_STATS,  /* tolerance mode, no raw dumps: a summary statistic out of tolerance */
} bn_trace_divergence_kind;

typedef struct bn_trace_diff_options {
    bool tolerance; /* false: exact hash equality */
    double rtol, atol;
    bool allow_missing;
} bn_trace_diff_options;

typedef struct bn_trace_diff_result {
    size_t records_a, records_b;       /* distinct keys on each side */
    size_t duplicates_a, duplicates_b; /* records superseded by a later one with the same key */
    size_t compared, matched, diverged;
    size_t stats_fallback;             /* tolerance mode: pairs judged by summary statistics */
    size_t only_a, only_b;
    bn_trace_key only_a_listed[BN_TRACE_DIFF_LISTED], only_b_listed[BN_TRACE_DIFF_LISTED];
    /* The first diverging pair in execution order (valid when diverged > 0). */
    struct {
        bn_trace_divergence_kind kind;
        bn_trace_entry a, b;
        bool has_raw;                  /* raw dumps on both sides: the two values below are set */
        double max_abs_diff, cosine;
    } first;
} bn_trace_diff_result;

/* Compares the traces in two folders. Returns 0 with *res filled, or a negative status on
 * unusable input (unreadable or malformed trace, raw dump missing, of the wrong size, or not
 * matching its record's hash), with the message naming the file. */
int bn_trace_diff(const char *dir_a, const char *dir_b, const bn_trace_diff_options *opt,
                  bn_trace_diff_result *res);
/* 0 when nothing diverged (and nothing is missing, unless allowed), else 1. */
int bn_trace_diff_exit_code(const bn_trace_diff_result *res, const bn_trace_diff_options *opt);
/* The record name of a key: "blk<L>/<stage>" or "<stage>" for layer -1. */
void bn_trace_key_name(const bn_trace_key *k, char *out, size_t cap);
/* "shape", "hash", "values", "stats" ("same" for BN_TRACE_SAME). */
const char *bn_trace_divergence_name(bn_trace_divergence_kind kind);

#endif
