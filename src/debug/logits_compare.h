/* logits_compare: position-by-position comparison of two logits arrays [n_pos][n_vocab]
 * (cross-validation against a reference, or two runs of this engine). */
#ifndef BITNET_LOGITS_COMPARE_H
#define BITNET_LOGITS_COMPARE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct bn_logits_pos_stats {
    double cosine;          /* NaN when either row holds a NaN/Inf or is all zero */
    double l2;              /* ||a - b||_2 */
    double max_abs_diff;
    int64_t top1_a, top1_b; /* argmax (lowest id on ties) */
} bn_logits_pos_stats;

typedef struct bn_logits_report {
    int n_pos;
    bn_logits_pos_stats *pos;   /* [n_pos], owned */
    double min_cosine;
    bool top1_agree_all;
    int n_top1_agree;
    int first_divergence;       /* first position with cosine < threshold (or NaN); -1: none */
} bn_logits_report;

/* Fills *out (free with bn_logits_report_free). Returns 0 or a negative status. */
int bn_logits_compare(const float *a, const float *b, int n_pos, int64_t n_vocab, double threshold,
                      bn_logits_report *out);
void bn_logits_report_free(bn_logits_report *r);
int64_t bn_argmax(const float *x, int64_t n);

#endif
