/* logits_compare: see logits_compare.h. Sums in double. */
#include "debug/logits_compare.h"

#include <math.h>
#include <stdlib.h>

#include "util.h"

int64_t bn_argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static bn_logits_pos_stats compare_row(const float *a, const float *b, int64_t n) {
    double dot = 0, na = 0, nb = 0, l2 = 0, mx = 0;
    bool finite = true;
    for (int64_t i = 0; i < n; i++) {
        double x = a[i], y = b[i], d = x - y;
        if (!isfinite(x) || !isfinite(y)) finite = false;
        dot += x * y;
        na += x * x;
        nb += y * y;
        l2 += d * d;
        if (fabs(d) > mx) mx = fabs(d);
    }
    bn_logits_pos_stats s;
    s.cosine = finite && na > 0 && nb > 0 ? dot / (sqrt(na) * sqrt(nb)) : NAN;
    s.l2 = sqrt(l2);
    s.max_abs_diff = mx;
    s.top1_a = bn_argmax(a, n);
    s.top1_b = bn_argmax(b, n);
    return s;
}

int bn_logits_compare(const float *a, const float *b, int n_pos, int64_t n_vocab, double threshold, bn_logits_report *out) {
    out->pos = NULL;
    if (!a || !b || n_pos < 0 || n_vocab <= 0) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "logits compare: bad arguments");
    out->pos = bn_calloc((size_t)(n_pos ? n_pos : 1), sizeof *out->pos, "logits comparison");
    if (!out->pos) return BITNET_ERR_OUT_OF_MEMORY;
    out->n_pos = n_pos;
    out->min_cosine = 1.0;
    out->top1_agree_all = true;
    out->n_top1_agree = 0;
    out->first_divergence = -1;
    for (int p = 0; p < n_pos; p++) {
        bn_logits_pos_stats s = compare_row(a + (int64_t)p * n_vocab, b + (int64_t)p * n_vocab, n_vocab);
        out->pos[p] = s;
        if (isnan(s.cosine) || s.cosine < out->min_cosine) out->min_cosine = s.cosine;
        if (s.top1_a == s.top1_b) out->n_top1_agree++;
        else out->top1_agree_all = false;
        if (out->first_divergence < 0 && (isnan(s.cosine) || s.cosine < threshold)) out->first_divergence = p;
    }
    return 0;
}

void bn_logits_report_free(bn_logits_report *r) {
    if (!r) return;
    free(r->pos);
    r->pos = NULL;
}
