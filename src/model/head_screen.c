/* head_screen: the 8-bit screening copy of the LM head, its bound and the candidate selection
 * (head_screen.h; the derivation is in docs/KERNELS.md). */
#include "model/head_screen.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/types.h"
#include "gumbel.h"
#include "util.h"

bool bn_head_screen_supported(const bn_linear *w, const char **why) {
    const char *reason = NULL;
    if (w->type != BN_TYPE_F16 && w->type != BN_TYPE_BF16 && w->type != BN_TYPE_F32)
        reason = "the screened head needs an F32, F16 or BF16 LM head";
    else if (w->in % BN_SCREEN_BLOCK != 0)
        reason = "the screened head needs a hidden size that is a multiple of 32";
    else if (w->out_scale != 1.0f)
        reason = "the screened head does not support an LM head with an output scale";
    else if (!w->data)
        reason = "the LM head has no float data";
    if (why) *why = reason;
    return reason == NULL;
}

double bn_head_screen_factor(int64_t K) {
    const double u = ldexp(1.0, -24);
    double g = (double)K * u / (1.0 - (double)K * u);
    return (0.5 * (1.0 + ldexp(1.0, -14)) + 254.0 * g) / (1.0 - g) * (1.0 + ldexp(1.0, -40));
}

bn_head_screen *bn_head_screen_alloc(const bn_linear *w) {
    const char *why;
    if (!bn_head_screen_supported(w, &why)) {
        bn_error(BITNET_ERR_UNSUPPORTED, "%s", why);
        return NULL;
    }
    bn_head_screen *h = bn_calloc(1, sizeof *h, "screened LM head");
    if (!h) return NULL;
    h->M = w->out;
    h->K = w->in;
    h->nb = w->in / BN_SCREEN_BLOCK;
    h->n_groups = (h->nb + BN_SCREEN_GROUP - 1) / BN_SCREEN_GROUP;
    h->c = bn_head_screen_factor(w->in);
    uint64_t q_bytes = (uint64_t)h->M * (uint64_t)h->n_groups * BN_SCREEN_GROUP_BYTES;
    uint64_t d_bytes = (uint64_t)h->M * (uint64_t)h->n_groups * BN_SCREEN_GROUP * sizeof(uint16_t);
    h->q_bytes = q_bytes;
    h->q = bn_malloc_large((size_t)q_bytes, "the screened LM head");
    h->d = h->q ? bn_malloc_lines((size_t)d_bytes, "screened LM head scales") : NULL;
    if (!h->q || !h->d) {
        bn_head_screen_free(h);
        return NULL;
    }
    h->bytes = q_bytes + d_bytes;
    return h;
}

void bn_head_screen_free(bn_head_screen *h) {
    if (!h) return;
    bn_free_large(h->q, (size_t)h->q_bytes);
    free(h->d);
    free(h);
}

/* The smallest f16 >= v (v >= 0 finite), or 0x7c00 (inf) when v exceeds the f16 range. */
static uint16_t f16_round_up(double v) {
    uint16_t h = bn_f32_to_f16((float)v);
    while (h < 0x7c00 && (double)bn_f16_to_f32(h) < v) h++; /* positive f16 bit patterns order like their values */
    return h;
}

/* Round to nearest, ties to even, of |v| < 2^51 (adding and removing 1.5 * 2^52 leaves the
 * rounded value in the default rounding mode; no libm call in the per-element loops). */
static inline double round_even(double v) {
    const double magic = 6755399441055744.0;
    return (v + magic) - magic;
}

/* The largest |w| of a block, or -1 when a value is not finite. */
static float block_amax(const float *w) {
    float amax = 0;
    bool finite = true;
    for (int k = 0; k < BN_SCREEN_BLOCK; k++) {
        float a = fabsf(w[k]);
        finite &= a <= FLT_MAX; /* false for inf and NaN */
        amax = a > amax ? a : amax;
    }
    return finite ? amax : -1.0f;
}

/* Group order (head_screen.h): block b of a row starts at block_base(b); its element r sits
 * block_offset[r] further. */
static inline int64_t block_base(int64_t b) { return (b / BN_SCREEN_GROUP) * BN_SCREEN_GROUP_BYTES + 2 * (b % BN_SCREEN_GROUP); }
static const int16_t block_offset[BN_SCREEN_BLOCK] = {
    0, 1, 32, 33, 64, 65, 96, 97, 128, 129, 160, 161, 192, 193, 224, 225,
    256, 257, 288, 289, 320, 321, 352, 353, 384, 385, 416, 417, 448, 449, 480, 481};

/* A block's scale d, rounded up from max|w| / 127 (amax < 0: a weight is not finite), and the
 * reciprocal the codes are multiplied by; 0, or the error. */
static int block_scale(float amax, uint16_t *d, float *inv) {
    if (amax < 0) return bn_error(BITNET_ERR_LOAD_FAILED, "the LM head has a weight that is not finite");
    *d = f16_round_up((double)amax / 127.0);
    if (*d >= 0x7c00) return bn_error(BITNET_ERR_UNSUPPORTED, "an LM head weight of %g is too large for the screened head", amax);
    *inv = *d ? 1.0f / bn_f16_to_f32(*d) : 0.0f;
    return 0;
}

/* One block of 32 weights at block index b of a row: d (block_scale), then q = round(w *
 * fl(1/d)) in float. The product is within 127 x 2^-23 of w / d, so |w - q d| <= (d / 2)(1 +
 * 2^-14) (the bound's factor c carries the 2^-14) and |q| <= 127. The tier fill kernels
 * (bn_screen_fill_f16) compute the same products and roundings: the same bytes. */
static int quantize_block(const float *w, int64_t b, int8_t *q_row, uint16_t *d) {
    float inv;
    int rc = block_scale(block_amax(w), d, &inv);
    if (rc) return rc;
    int8_t *dst = q_row + block_base(b);
    for (int k = 0; k < BN_SCREEN_BLOCK; k++) {
        float v = (w[k] * inv + 12582912.0f) - 12582912.0f; /* round to nearest even (|v| <= 127 << 2^22) */
        dst[block_offset[k]] = (int8_t)v;
    }
    return 0;
}

/* Row m of w as floats: F16 through `f16` (a 65536-entry table), else the generic dequant. */
static void head_row(const bn_linear *w, int64_t m, const float *f16, float *row) {
    if (!f16 || w->type != BN_TYPE_F16) {
        bn_linear_dequant_row(w, m, row);
        return;
    }
    const uint16_t *src = (const uint16_t *)(w->data + (uint64_t)m * w->row_bytes);
    for (int64_t k = 0; k < w->in; k++) row[k] = f16[src[k]];
}

float *bn_head_screen_f16_table(void) {
    float *t = bn_malloc(65536 * sizeof *t, "f16 table");
    for (uint32_t h = 0; t && h < 65536; h++) t[h] = bn_f16_to_f32((uint16_t)h);
    return t;
}

/* Row m of an F16 head with a tier's fill kernels k into q and d; false when a block needs the
 * portable code (a weight not finite, a scale beyond f16), which then says why. tmp: K floats
 * (2 nb used: the blocks' max|w|, then their reciprocal scales). */
static bool fill_row_f16(const bn_head_screen *h, const bn_linear *w, int64_t m, const bn_screen_fill_f16 *k, float *tmp,
                         int8_t *q, uint16_t *d) {
    const uint16_t *src = (const uint16_t *)(w->data + (uint64_t)m * w->row_bytes);
    float *amax = tmp, *inv = tmp + h->nb;
    if (!k->amax(src, h->nb, amax)) return false;
    for (int64_t b = 0; b < h->nb; b++)
        if (block_scale(amax[b], d + b, inv + b)) return false;
    memset(d + h->nb, 0, (size_t)(h->n_groups * BN_SCREEN_GROUP - h->nb) * sizeof *d);
    k->quantize(src, h->nb, h->n_groups, inv, q);
    return true;
}

int bn_head_screen_fill(bn_head_screen *h, const bn_linear *w, int64_t m0, int64_t m1, const float *f16, float *row_tmp) {
    bn_screen_fill_f16 k = bn_head_screen_fill_kernels_for_tier(bn_cpu_active_tier());
    return bn_head_screen_fill_with(h, w, m0, m1, f16, row_tmp, &k);
}

int bn_head_screen_fill_with(bn_head_screen *h, const bn_linear *w, int64_t m0, int64_t m1, const float *f16, float *row_tmp,
                             const bn_screen_fill_f16 *k) {
    int64_t nbp = h->n_groups * BN_SCREEN_GROUP;
    bool fast = k && k->amax && k->quantize && w->type == BN_TYPE_F16;
    for (int64_t m = m0; m < m1; m++) {
        int8_t *q = h->q + (uint64_t)m * (uint64_t)h->n_groups * BN_SCREEN_GROUP_BYTES;
        uint16_t *d = h->d + (uint64_t)m * (uint64_t)nbp;
        if (fast && fill_row_f16(h, w, m, k, row_tmp, q, d)) continue;
        head_row(w, m, f16, row_tmp);
        memset(q, 0, (size_t)h->n_groups * BN_SCREEN_GROUP_BYTES);
        memset(d, 0, (size_t)nbp * sizeof *d);
        for (int64_t b = 0; b < h->nb; b++) {
            int rc = quantize_block(row_tmp + b * BN_SCREEN_BLOCK, b, q, d + b);
            if (rc) return rc;
        }
    }
    return 0;
}

bool bn_head_screen_prepare(const bn_head_screen *h, const float *x, int16_t *q, float *e, float *xabs) {
    int64_t nbp = h->n_groups * BN_SCREEN_GROUP;
    memset(q, 0, (size_t)h->n_groups * BN_SCREEN_GROUP_BYTES * sizeof *q);
    memset(e, 0, (size_t)nbp * sizeof *e);
    memset(xabs, 0, (size_t)nbp * sizeof *xabs);
    for (int64_t b = 0; b < h->nb; b++) {
        const float *xb = x + b * BN_SCREEN_BLOCK;
        float amax = block_amax(xb);
        if (amax < 0) return false;
        /* e >= amax / 32767, so that |x / e| <= 32767: q fits int16 without clipping */
        float eb = amax / 32767.0f;
        while ((double)eb * 32767.0 < (double)amax) eb = nextafterf(eb, INFINITY);
        double inv = eb > 0 ? 1.0 / (double)eb : 0.0;
        float sum = 0;
        int16_t *dst = q + block_base(b);
        for (int k = 0; k < BN_SCREEN_BLOCK; k++) {
            /* |x - q e| <= e / 2 up to the double rounding of x / e (covered by the bound's slack) */
            dst[block_offset[k]] = (int16_t)round_even((double)xb[k] * inv);
            sum += fabsf(xb[k]);
        }
        e[b] = eb;
        xabs[b] = sum + 4064.0f * (1.0f + 0x1p-10f) * eb;
    }
    return true;
}

/* Block b's exact integer dot product of a row's codes and a token's. */
static int32_t block_isum(const int8_t *qw, const int16_t *qx, int64_t b) {
    int64_t base = block_base(b);
    int32_t s = 0;
    for (int i = 0; i < 16; i++)
        for (int e = 0; e < 2; e++) s += (int32_t)qw[base + 32 * i + e] * (int32_t)qx[base + 32 * i + e];
    return s;
}

void bn_head_screen_rows_ref(const bn_head_screen *h, const bn_screen_act *a, float *approx, float *radius, int64_t ldy,
                             int64_t m0, int64_t m1) {
    int64_t nbp = h->n_groups * BN_SCREEN_GROUP, row = h->n_groups * BN_SCREEN_GROUP_BYTES;
    for (int64_t m = m0; m < m1; m++) {
        const int8_t *q = h->q + (uint64_t)m * (uint64_t)row;
        const uint16_t *d = h->d + (uint64_t)m * (uint64_t)nbp;
        for (int t = 0; t < a->n; t++) {
            const int16_t *qx = a->q + (int64_t)t * row;
            const float *e = a->e + (int64_t)t * nbp, *xabs = a->xabs + (int64_t)t * nbp;
            float acc = 0, rad = 0;
            for (int64_t b = 0; b < h->nb; b++) {
                float db = bn_f16_to_f32(d[b]);
                acc += db * e[b] * (float)block_isum(q, qx, b);
                rad += db * xabs[b];
            }
            approx[(int64_t)t * ldy + m] = acc;
            radius[(int64_t)t * ldy + m] = rad;
        }
    }
}

/* ---- selection ---- */

/* Min-heap of the k largest lower bounds seen so far (heap[0] is the k-th largest). */
static void heap_sift_down(double *heap, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, s = i;
        if (l < k && heap[l] < heap[s]) s = l;
        if (r < k && heap[r] < heap[s]) s = r;
        if (s == i) return;
        double t = heap[i];
        heap[i] = heap[s];
        heap[s] = t;
        i = s;
    }
}

/* The half-width of row m's interval: c R_m plus 2^-40 |A_m| for the double arithmetic. */
static inline double half_width(double c, float a, float r) { return c * (double)r + fabs((double)a) * 0x1p-40; }
static inline double lower_bound(double c, float a, float r) { return (double)a - half_width(c, a, r); }
static inline double upper_bound(double c, float a, float r) { return (double)a + half_width(c, a, r); }

static int64_t unit_count(const bn_head_screen *h) { return (h->M + BN_SCREEN_UNIT - 1) / BN_SCREEN_UNIT; }
static int64_t unit_end(const bn_head_screen *h, int64_t u) {
    return (u + 1) * BN_SCREEN_UNIT < h->M ? (u + 1) * BN_SCREEN_UNIT : h->M;
}

void bn_head_screen_unit(const bn_head_screen *h, const float *approx, const float *radius, int64_t m0, int64_t m1,
                         bn_screen_unit *u) {
    double lo = -INFINITY, hi = -INFINITY;
    for (int64_t m = m0; m < m1; m++) {
        if (!isfinite(approx[m]) || !isfinite(radius[m])) {
            u->lo = u->hi = NAN;
            return;
        }
        double w = half_width(h->c, approx[m], radius[m]), l = (double)approx[m] - w, r = (double)approx[m] + w;
        lo = l > lo ? l : lo; /* the operations of lower_bound and upper_bound: the same doubles */
        hi = r > hi ? r : hi;
    }
    u->lo = lo;
    u->hi = hi;
}

/* Rows [m0, m1) into the min-heap of the k largest lower bounds, *have of them so far; false
 * when a value is not finite. */
static bool heap_rows(const bn_head_screen *h, const float *approx, const float *radius, int64_t m0, int64_t m1, int k,
                      double *heap, int *have) {
    for (int64_t m = m0; m < m1; m++) {
        if (!isfinite(approx[m]) || !isfinite(radius[m])) return false;
        double lo = lower_bound(h->c, approx[m], radius[m]);
        if (*have < k) {
            heap[(*have)++] = lo;
            if (*have == k)
                for (int i = k / 2 - 1; i >= 0; i--) heap_sift_down(heap, k, i);
        } else if (lo > heap[0]) {
            heap[0] = lo;
            heap_sift_down(heap, k, 0);
        }
    }
    return true;
}

/* The k-th largest lower bound over all rows, or NAN when a value is not finite. With unit
 * summaries, a unit whose largest lower bound does not exceed the heap's smallest once the
 * heap is full is skipped: none of its rows would enter it (the heap's smallest only grows). */
static double kth_lower_bound(const bn_head_screen *h, const float *approx, const float *radius, const bn_screen_unit *units,
                              int k, double *heap) {
    int have = 0;
    if (!units) return heap_rows(h, approx, radius, 0, h->M, k, heap, &have) && have == k ? heap[0] : NAN;
    int64_t n_units = unit_count(h);
    for (int64_t u = 0; u < n_units; u++)
        if (isnan(units[u].lo)) return NAN;
    for (int64_t u = 0; u < n_units; u++) {
        if (have == k && !(units[u].lo > heap[0])) continue;
        if (!heap_rows(h, approx, radius, u * BN_SCREEN_UNIT, unit_end(h, u), k, heap, &have)) return NAN;
    }
    return have == k ? heap[0] : NAN;
}

/* Rows of [m0, m1) whose upper bound reaches T appended to cand (*n so far); false past cap. */
static bool collect_rows(const bn_head_screen *h, const float *approx, const float *radius, int64_t m0, int64_t m1, double T,
                         int32_t *cand, int *n, int cap) {
    for (int64_t m = m0; m < m1; m++) {
        if (upper_bound(h->c, approx[m], radius[m]) < T) continue;
        if (*n == cap) return false;
        cand[(*n)++] = (int32_t)m;
    }
    return true;
}

int bn_head_screen_select(const bn_head_screen *h, const float *approx, const float *radius, const bn_screen_unit *units, int k,
                          int32_t *cand, int cap) {
    if (k < 1 || k > BN_SCREEN_MAX_K || k > h->M || k > cap) return -1;
    double heap[BN_SCREEN_MAX_K];
    double T = kth_lower_bound(h, approx, radius, units, k, heap);
    if (isnan(T)) return -1;
    int n = 0;
    if (!units) return collect_rows(h, approx, radius, 0, h->M, T, cand, &n, cap) ? n : -1;
    for (int64_t u = 0, n_units = unit_count(h); u < n_units; u++) {
        if (units[u].hi < T) continue; /* no row of the unit reaches T */
        if (!collect_rows(h, approx, radius, u * BN_SCREEN_UNIT, unit_end(h, u), T, cand, &n, cap)) return -1;
    }
    return n;
}

/* ---- evaluation ---- */

#define DRAW_UNIT 8192 /* rows per unit of the draw's scan (gumbel_candidates) */

struct bn_screen_ctx {
    const bn_head_screen *h;
    bn_screen_kernel kernel;
    float *radius;           /* [BN_SCREEN_ROWS][M] */
    int16_t *xq;             /* [BN_SCREEN_ROWS][n_groups * 512]: the tokens' activations */
    float *e, *xabs;         /* [BN_SCREEN_ROWS][n_groups * 16] */
    bn_screen_unit *units;   /* [BN_SCREEN_ROWS][n_units]: the pass's summaries (bn_head_screen_unit) */
    int32_t *cand;           /* [cap] */
    int32_t *draw_rows;      /* [draw_units][cap]: the rows each unit of the draw's scan keeps */
    int *draw_counts;        /* [draw_units] */
    int cap;                 /* the candidate budget of a row (beyond it: the plain head) */
    bn_head_stats stats;
};

/* The budget: a sixteenth of the rows (their exact recomputation then reads an eighth of what
 * the copy holds), at least BN_SCREEN_MAX_K. */
static int candidate_cap(const bn_head_screen *h) {
    int64_t cap = h->M / 16 > BN_SCREEN_MAX_K ? h->M / 16 : BN_SCREEN_MAX_K;
    return (int)(cap < h->M ? cap : h->M);
}

bn_screen_ctx *bn_screen_ctx_new(const bn_head_screen *h, uint64_t *bytes) {
    bn_screen_ctx *c = bn_calloc(1, sizeof *c, "screened head scratch");
    if (!c) return NULL;
    c->h = h;
    c->kernel = bn_head_screen_kernel_for_tier(bn_cpu_active_tier());
    c->cap = candidate_cap(h);
    uint64_t nr = (uint64_t)BN_SCREEN_ROWS * (uint64_t)h->M * sizeof(float);
    uint64_t nq = (uint64_t)BN_SCREEN_ROWS * (uint64_t)h->n_groups * BN_SCREEN_GROUP_BYTES * sizeof(int16_t);
    uint64_t nx = (uint64_t)BN_SCREEN_ROWS * (uint64_t)h->n_groups * BN_SCREEN_GROUP * sizeof(float);
    uint64_t nc = (uint64_t)c->cap * sizeof(int32_t);
    uint64_t nu = (uint64_t)BN_SCREEN_ROWS * (uint64_t)unit_count(h) * sizeof(bn_screen_unit);
    c->radius = bn_malloc((size_t)nr, "screened head radii");
    c->xq = bn_malloc_lines((size_t)nq, "screened head activations");
    c->e = bn_malloc_lines((size_t)nx, "screened head activation scales");
    c->xabs = bn_malloc_lines((size_t)nx, "screened head block sums");
    c->cand = bn_malloc((size_t)nc, "screened head candidates");
    c->units = bn_malloc((size_t)nu, "screened head unit bounds");
    uint64_t units = (uint64_t)((h->M + DRAW_UNIT - 1) / DRAW_UNIT);
    c->draw_rows = bn_malloc((size_t)(units * nc), "screened head draw rows");
    c->draw_counts = bn_malloc((size_t)units * sizeof(int), "screened head draw counts");
    if (!c->radius || !c->xq || !c->e || !c->xabs || !c->cand || !c->units || !c->draw_rows || !c->draw_counts) {
        bn_screen_ctx_free(c);
        return NULL;
    }
    if (bytes) *bytes = nr + nq + 2 * nx + nc + nu + units * (nc + sizeof(int));
    return c;
}

void bn_screen_ctx_free(bn_screen_ctx *c) {
    if (!c) return;
    free(c->radius);
    free(c->xq);
    free(c->e);
    free(c->xabs);
    free(c->cand);
    free(c->units);
    free(c->draw_rows);
    free(c->draw_counts);
    free(c);
}

bn_head_stats *bn_screen_ctx_stats(bn_screen_ctx *c) { return &c->stats; }

/* The pass over the copy: units of BN_SCREEN_UNIT rows shared out dynamically (rows are
 * independent), each summarized for the selection while its values are in cache. */
typedef struct {
    const bn_screen_ctx *c;
    bn_screen_act a;
    float *approx;
    bn_work work;
} screen_pass;

static void screen_pass_run(void *ctx, int i, int n_threads) {
    screen_pass *p = ctx;
    const bn_head_screen *h = p->c->h;
    int64_t n_units = unit_count(h);
    (void)i, (void)n_threads;
    for (long u; (u = bn_work_next(&p->work)) >= 0;) {
        int64_t m0 = u * BN_SCREEN_UNIT, m1 = unit_end(h, u);
        p->c->kernel(h, &p->a, p->approx, p->c->radius, h->M, m0, m1);
        for (int t = 0; t < p->a.n; t++)
            bn_head_screen_unit(h, p->approx + t * h->M, p->c->radius + t * h->M, m0, m1, &p->c->units[t * n_units + u]);
    }
}

/* Exact logits of rows ids[0 .. n) of one token into y, from the plain head (one row per call:
 * the kernels give every row the same bits whatever the range or the token count, kernels.h). */
static void exact_rows(const bn_linear *plain, const bn_act *a, int64_t M, const int32_t *ids, int n, float *y, void *row_tmp) {
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < M) bn_linear_apply_rows(plain, a, y, M, ids[i], ids[i] + 1, row_tmp);
}

/* -inf in y outside two increasing lists of rows: the gaps between kept rows filled in runs
 * (a loop with two list tests per row took ~0.1 ms of a 2B-4T decode step). */
static void mask_others(int64_t M, const int32_t *c1, int n1, const int32_t *c2, int n2, float *y) {
    int i = 0, j = 0;
    for (int64_t m = 0;;) {
        int64_t keep = M; /* the next kept row */
        if (i < n1 && c1[i] < keep) keep = c1[i];
        if (j < n2 && c2[j] < keep) keep = c2[j];
        for (; m < keep; m++) y[m] = -INFINITY;
        if (keep == M) return;
        if (m <= keep) m = keep + 1;
        if (i < n1 && c1[i] == keep) i++;
        if (j < n2 && c2[j] == keep) j++;
    }
}

static bool in_list(const int32_t *ids, int n, int32_t id) {
    for (int i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

/* The draw's scan (gumbel_candidates) over units of DRAW_UNIT rows, shared out dynamically
 * like the pass (~6 ns a row: a hash and some double arithmetic; 0.8 ms of 2B-4T's 128k rows
 * on one thread). Each unit keeps its rows in order in its own slot; -1: more than cap. */
typedef struct {
    const bn_screen_ctx *c;
    const bn_head_req *req;
    const float *y, *radius;
    const int32_t *c1; /* the k = 1 candidates, increasing: computed already, skipped */
    int n1;
    double threshold, top, inv_t;
    bn_work work;
} draw_scan;

static void draw_scan_unit(const draw_scan *d, long u) {
    const bn_head_screen *h = d->c->h;
    int cap = d->c->cap, n = 0, j = 0;
    int32_t *out = d->c->draw_rows + u * cap;
    int64_t m0 = u * DRAW_UNIT, m1 = m0 + DRAW_UNIT < h->M ? m0 + DRAW_UNIT : h->M;
    while (j < d->n1 && d->c1[j] < m0) j++;
    for (int64_t m = m0; m < m1; m++) {
        if (j < d->n1 && d->c1[j] == m) {
            j++;
            continue;
        }
        double upper = (double)d->y[m] + half_width(h->c, d->y[m], d->radius[m]); /* >= the exact logit */
        if (upper < d->threshold) continue;
        double gap = bn_gumbel_gap(d->top, upper * d->inv_t); /* 1 / T's rounding: far inside the slack */
        if (!bn_gumbel_may_reach(d->req->key, (int32_t)m, gap) || bn_gumbel(d->req->key, (int32_t)m) < gap) continue;
        if (n == cap) {
            n = -1;
            break;
        }
        out[n++] = (int32_t)m;
    }
    d->c->draw_counts[u] = n;
}

static void draw_scan_run(void *ctx, int i, int n_threads) {
    draw_scan *d = ctx;
    (void)i, (void)n_threads;
    for (long u; (u = bn_work_next(&d->work)) >= 0;) draw_scan_unit(d, u);
}

/* The rows beyond the k = 1 candidates cand[0 .. n1) (exact in y already) that can win the
 * sampler's draw (head_screen.h, bn_head_req.gumbel): appended, increasing, at cand + n1.
 * y holds the other rows' approximate logits, radius their radii. Returns how many, or -1
 * beyond `cap` in all. */
static int gumbel_candidates(const bn_screen_ctx *c, bn_threadpool *pool, const bn_head_req *req, const float *y,
                             const float *radius, int32_t *cand, int n1, int cap) {
    draw_scan d = {.c = c, .req = req, .y = y, .radius = radius, .c1 = cand, .n1 = n1};
    d.inv_t = 1.0 / (double)req->temperature;
    float lmax = -INFINITY;
    for (int i = 0; i < n1; i++)
        if (!in_list(req->force, req->n_force, cand[i])) lmax = fmaxf(lmax, y[cand[i]]);
    /* the sampler's min_p threshold (the same float steps; no forced ids here) */
    float threshold = req->min_p > 0.0f ? lmax + logf(req->min_p) : -INFINITY;
    d.threshold = threshold;
    d.top = -INFINITY;
    for (int i = 0; i < n1; i++) {
        int32_t id = cand[i];
        if (in_list(req->force, req->n_force, id) || !(y[id] >= threshold)) continue;
        d.top = fmax(d.top, (double)y[id] / (double)req->temperature + bn_gumbel(req->key, id));
    }
    long units = (long)((c->h->M + DRAW_UNIT - 1) / DRAW_UNIT);
    bn_work_init(&d.work, units);
    bn_threadpool_run(pool, draw_scan_run, &d);
    int n = 0;
    for (long u = 0; u < units; u++) {
        int k = c->draw_counts[u];
        if (k < 0 || n1 + n + k > cap) return -1;
        memcpy(cand + n1 + n, c->draw_rows + u * cap, (size_t)k * sizeof *cand);
        n += k;
    }
    return n;
}

void bn_head_screen_eval(bn_screen_ctx *c, const bn_linear *plain, bn_threadpool *pool, void *row_tmp, const float *x,
                         int n, const bn_head_req *const *reqs, float *y, bool *fallback) {
    const bn_head_screen *h = c->h;
    int64_t row = h->n_groups * BN_SCREEN_GROUP_BYTES, nbp = h->n_groups * BN_SCREEN_GROUP;
    bool finite = true;
    for (int t = 0; t < n; t++)
        finite &= bn_head_screen_prepare(h, x + (int64_t)t * h->K, c->xq + t * row, c->e + t * nbp, c->xabs + t * nbp);
    if (!finite) { /* a broken forward pass: the plain head's logits show it to the sampler */
        for (int t = 0; t < n; t++) fallback[t] = true;
        c->stats.fallbacks += (uint64_t)n;
        return;
    }
    screen_pass p = {.c = c, .a = {.n = n, .q = c->xq, .e = c->e, .xabs = c->xabs}, .approx = y};
    int64_t n_units = unit_count(h);
    bn_work_init(&p.work, (long)n_units);
    bn_threadpool_run(pool, screen_pass_run, &p);
    for (int t = 0; t < n; t++) {
        float *yt = y + (int64_t)t * h->M, *rt = c->radius + (int64_t)t * h->M;
        /* the forced ids are recomputed anyway, and their bounds say nothing of their logits
         * after the sampler's bias and penalties: keep them out of the k-th lower bound (lowered after
         * the pass, so their units' summaries stay at least what they summarize) */
        for (int i = 0; i < reqs[t]->n_force; i++) {
            int32_t id = reqs[t]->force[i];
            if (id >= 0 && id < h->M) yt[id] = -FLT_MAX, rt[id] = 0.0f;
        }
        const bn_head_req *req = reqs[t];
        int n_cand = bn_head_screen_select(h, yt, rt, c->units + t * n_units, req->k, c->cand, c->cap), n_more = 0;
        bn_act a;
        bn_act_prepare(&a, BN_ACT_NONE, x + (int64_t)t * h->K, 1, h->K, NULL);
        if (n_cand >= 0 && req->gumbel) {
            exact_rows(plain, &a, h->M, c->cand, n_cand, yt, row_tmp); /* the largest logit, exact */
            n_more = gumbel_candidates(c, pool, req, yt, rt, c->cand, n_cand, c->cap);
        }
        fallback[t] = n_cand < 0 || n_more < 0;
        if (!fallback[t]) {
            if (!req->gumbel) exact_rows(plain, &a, h->M, c->cand, n_cand, yt, row_tmp);
            exact_rows(plain, &a, h->M, c->cand + n_cand, n_more, yt, row_tmp);
            mask_others(h->M, c->cand, n_cand, c->cand + n_cand, n_more, yt);
            /* the forced ids: their bounds say nothing after the bias and penalties; exact, whatever the masks */
            exact_rows(plain, &a, h->M, req->force, req->n_force, yt, row_tmp);
            fallback[t] = req->settles && !req->settles(req->settles_ctx, yt);
        }
        if (fallback[t]) {
            c->stats.fallbacks++;
            continue;
        }
        c->stats.screened++;
        c->stats.candidates += (uint64_t)(n_cand + n_more);
    }
}
