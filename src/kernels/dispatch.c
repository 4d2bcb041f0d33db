/* dispatch: the only place that maps the CPU tier (cpu.h) to kernel tables, resolved once,
 * and the routing of bn_kernel_linear_apply to a table's kernels. */
#include <pthread.h>

#include "model/attention.h"
#include "model/head_screen.h"
#include "kernel_impl.h"
#include "kernels.h"
#include "util.h"

static const bn_kernel_table scalar_table = {BN_TIER_SCALAR, "scalar", NULL, NULL, NULL, NULL};

const bn_kernel_table *bn_kernels_for_tier(bn_cpu_tier t) {
    if (t == BN_TIER_SCALAR) return &scalar_table;
    if (!bn_cpu_has_tier(t)) return NULL;
#if defined(__x86_64__)
    switch (t) {
    case BN_TIER_AVX2: return &bn_kernels_avx2;
    case BN_TIER_AVXVNNI: return &bn_kernels_avxvnni;
    case BN_TIER_AVX512: return &bn_kernels_avx512;
    case BN_TIER_AMX: return &bn_kernels_amx;
    default: break;
    }
#endif
#if defined(__aarch64__)
    if (t == BN_TIER_NEON) return &bn_kernels_neon;
    if (t == BN_TIER_DOTPROD) return &bn_kernels_dotprod;
#endif
    return NULL;
}

static const bn_kernel_table *g_active;
static pthread_once_t g_active_once = PTHREAD_ONCE_INIT;

static void choose_active(void) {
    const bn_kernel_table *k = bn_kernels_for_tier(bn_cpu_active_tier());
    g_active = k ? k : &scalar_table;
}

const bn_kernel_table *bn_kernels_active(void) {
    pthread_once(&g_active_once, choose_active);
    return g_active;
}

const char *bn_kernel_tier_name(void) { return bn_kernels_active()->name; }

int64_t bn_kernel_row_align(void) { return BN_TILE_ROWS; }

/* rows rounded up to whole tiles */
static int64_t whole_tiles(int64_t rows) { return (rows + BN_TILE_ROWS - 1) / BN_TILE_ROWS * BN_TILE_ROWS; }

/* The AVX2 table prefill's scratch for the whole weight, on every x86-64 machine whatever
 * its tier, so that tests which force the avx2 tier find it (~1.2-1.8 MB per thread for the
 * 2B-4T shapes, of which a call touches its share). */
uint64_t bn_kernel_row_scratch_bytes(const bn_linear *w) {
#if defined(__x86_64__)
    if (w && w->ternary && w->in % BN_CHUNK_K == 0 && bn_cpu_has_tier(BN_TIER_AVX2))
        return bn_ternary_lut_scratch_bytes(w->in, whole_tiles(w->out));
#endif
    (void)w;
    return 0;
}

bn_prefill_units bn_kernel_prefill_units(int64_t max_rows, int n_threads, int n_tokens) {
    bn_prefill_units all = {64, n_tokens};
    if (bn_kernels_active()->tier != BN_TIER_AVX2 || n_tokens < BN_LUT_TOKENS || n_threads < 1) return all;
    int64_t per = whole_tiles((max_rows + n_threads - 1) / n_threads);
    return per >= BN_LUT_MIN_ROWS ? (bn_prefill_units){per, BN_LUT_TOKENS} : all; /* shorter ranges: the other path, in its units */
}

static bool packable(const bn_linear *w) {
    if (w->type == BN_TYPE_TQ1_0 || w->type == BN_TYPE_TQ2_0) return w->in % BN_QK_K == 0;
    return w->type == BN_TYPE_I2_S && w->in % BN_QK_K == 0; /* tiles pair I2_S blocks */
}

static bool will_pack(const bn_linear *w) { return !w->packed && w->ternary && packable(w) && bn_kernels_active()->ternary_token; }

int bn_kernel_linear_pack(bn_linear *w) { return bn_kernel_linear_pack_in(w, NULL); }

uint64_t bn_kernel_linear_pack_bytes(const bn_linear *w) { return will_pack(w) ? bn_ternary_tiles_code_bytes(w) : 0; }

int bn_kernel_linear_pack_in(bn_linear *w, uint8_t *codes) {
    if (!will_pack(w)) return 0;
    bn_ternary_tiles *p = bn_ternary_tiles_build_in(w, codes);
    if (!p) return bn_last_error_status();
    w->packed = p;
    return 0;
}

bool bn_kernels_have_q8_rows(const bn_kernel_table *k) { return k && k->q8_rows; }

/* The q8 rows pad each row to whole 16-block groups: worth it only while the padding stays
 * small (2B-4T: 80 blocks, none; a 256-wide test model: 8 blocks, as many again). */
static bool q8_rows_worth_it(const bn_linear *w) {
    int64_t nb = w->in / 32, padded = (nb + BN_Q8_GROUP_BLOCKS - 1) / BN_Q8_GROUP_BLOCKS * BN_Q8_GROUP_BLOCKS;
    return (padded - nb) * 8 <= nb;
}

int bn_kernel_q8_0_pack_alloc(bn_linear *w) {
    if (w->packed || w->type != BN_TYPE_Q8_0 || w->in % 32 != 0 || w->in > BN_Q8_ROWS_MAX_K ||
        !q8_rows_worth_it(w) || !bn_kernels_have_q8_rows(bn_kernels_active()))
        return 0;
    bn_q8_rows *p = bn_q8_rows_new(w);
    if (!p) return bn_last_error_status();
    w->packed = p;
    return 0;
}

void bn_kernel_q8_0_pack_rows(bn_linear *w, const void *rows_q8_0, int64_t m0, int64_t m1) {
    if (w->packed && w->type == BN_TYPE_Q8_0) bn_q8_rows_fill(w->packed, rows_q8_0, m0, m1);
}

int bn_kernel_linear_pack_q8_0(bn_linear *w) {
    int rc = bn_kernel_q8_0_pack_alloc(w);
    if (!rc) bn_kernel_q8_0_pack_rows(w, w->data, 0, w->out);
    return rc;
}

/* w->packed is bn_ternary_tiles for ternary weights, bn_q8_rows for Q8_0 ones. */
void bn_kernel_linear_unpack(bn_linear *w) {
    if (!w || !w->packed) return;
    if (w->ternary) bn_ternary_tiles_free(w->packed);
    else bn_q8_rows_free(w->packed);
    w->packed = NULL;
}

uint64_t bn_kernel_packed_bytes(const bn_linear *w) {
    if (!w || !w->packed) return 0;
    return w->ternary ? ((const bn_ternary_tiles *)w->packed)->bytes : ((const bn_q8_rows *)w->packed)->bytes;
}

/* Float-type weights: the q8 rows kernel for Q8_0 activations on a packed Q8_0 weight (the
 * --lm-head q8 head), else the tier's float rows. */
static bool float_apply(const bn_kernel_table *k, const bn_linear *w, const bn_act *a, float *y, int64_t ldy,
                        int64_t m0, int64_t m1) {
    const bn_q8_rows *p = w->packed;
    if (p && w->type == BN_TYPE_Q8_0 && a->x_q8_0 && bn_kernels_have_q8_rows(k) && p->M == w->out && p->K == w->in) {
        if (m0 < m1 && a->n > 0) k->q8_rows(p, a->x_q8_0, a->n, w->out_scale, y, ldy, m0, m1);
        return true;
    }
    if (!w->data) return false; /* kept only as q8 rows, and this table has no kernel for them */
    return k->float_rows && k->float_rows(w, a, y, ldy, m0, m1);
}

bool bn_kernel_linear_apply_with(const bn_kernel_table *k, const bn_linear *w, const bn_act *a,
                                 float *y, int64_t ldy, int64_t m0, int64_t m1, void *row_tmp) {
    if (!k || a->K != w->in || m0 < 0 || m1 > w->out || m0 > m1) return false;
    if (!w->ternary) return float_apply(k, w, a, y, ldy, m0, m1);
    const bn_ternary_tiles *p = w->packed;
    bn_ternary_kernel fn = a->mode == BN_ACT_TOKEN ? k->ternary_token
                         : a->mode == BN_ACT_Q8K   ? k->ternary_q8k
                                                   : NULL;
    if (!p || !fn || p->M != w->out || p->K != w->in) return false;
    /* the scratch is the table prefill's, for calls of a block of tokens or more: its size is
     * not worked out for the decode steps' calls */
    bool prefill = row_tmp && a->n >= BN_LUT_TOKENS;
    bn_ternary_job job = {p, a, y, ldy, m0, m1, 0, a->n, w->uniform_scale, w->scale, w->out_scale,
                          prefill ? row_tmp : NULL, prefill ? bn_kernel_row_scratch_bytes(w) : 0};
    if (m0 < m1 && a->n > 0) fn(&job);
    return true;
}

bool bn_kernel_linear_apply(const bn_linear *w, const bn_act *a, float *y, long long ldy,
                            long long m0, long long m1, void *row_tmp) {
    return bn_kernel_linear_apply_with(bn_kernels_active(), w, a, y, ldy, m0, m1, row_tmp);
}

/* Attention kernels (attention.h): avx2 code for the avx2 and avxvnni tiers, avx512 code for
 * avx512 and amx; NEON code for both aarch64 tiers. */
bn_attention_kernel bn_attention_kernel_for_tier(bn_cpu_tier t) {
    if (t == BN_TIER_SCALAR || !bn_cpu_has_tier(t)) return NULL;
#if defined(__aarch64__)
    return bn_attention_neon;
#elif defined(__x86_64__)
    return t >= BN_TIER_AVX512 ? bn_attention_avx512 : bn_attention_avx2;
#else
    return NULL;
#endif
}

/* The screened LM head's pass (model/head_screen.h): avx2 code for the avx2 and avxvnni tiers,
 * avx512 code for avx512 and amx, NEON code for neon and dotprod; the portable reference elsewhere. */
bn_screen_kernel bn_head_screen_kernel_for_tier(bn_cpu_tier t) {
    if (t == BN_TIER_SCALAR || !bn_cpu_has_tier(t)) return bn_head_screen_rows_ref;
#if defined(__x86_64__)
    return t >= BN_TIER_AVX512 ? bn_head_screen_rows_avx512 : bn_head_screen_rows_avx2;
#elif defined(__aarch64__)
    return bn_head_screen_rows_neon;
#else
    return bn_head_screen_rows_ref;
#endif
}

/* The copy's F16 fill: avx2 code for every x86 tier (it streams the head once at load). */
bn_screen_fill_f16 bn_head_screen_fill_kernels_for_tier(bn_cpu_tier t) {
    bn_screen_fill_f16 k = {NULL, NULL};
#if defined(__x86_64__)
    if (t != BN_TIER_SCALAR && bn_cpu_has_tier(t)) k = (bn_screen_fill_f16){bn_head_screen_amax_f16_avx2, bn_head_screen_quantize_f16_avx2};
#else
    (void)t;
#endif
    return k;
}

bool bn_head_screen_by_default(bn_cpu_tier t) {
#if defined(__x86_64__)
    return t == BN_TIER_SCALAR || bn_head_screen_kernel_for_tier(t) != bn_head_screen_rows_ref;
#else
    return t == BN_TIER_SCALAR;
#endif
}
