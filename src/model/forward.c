/* forward: the transformer forward pass, KV cache and per-state scratch (see forward.h). */
#include "model/forward.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/attention.h"
#include "model/head_screen.h"
#include "kernels/cpu.h"
#include "kernels/kernels.h"
#include "model/rows.h"
#include "util.h"

/* One sequence: its KV cache (layouts in attention.h) and how much of it is filled. */
typedef struct bn_seq {
    char *k_cache;                 /* [n_spans][n_layer][n_head_kv][span_keys / 16] K^T blocks of 16 positions */
    char *v_cache;                 /* [n_spans][n_layer][n_head_kv][span_keys] V rows of one head:
                                    * a decode item streams its head's rows contiguously within a
                                    * span (with all heads in one row, it read 1 of every
                                    * n_head_kv pieces: at depth 2048 ~2.5x slower from DRAM,
                                    * docs/KERNELS.md) */
    int64_t n_past;
} bn_seq;

/* Tokens [t0, t1) of the chunk, all of sequence `seq`: one attention block (its rows share
 * each K/V block load). */
typedef struct bn_attn_block {
    int seq, t0, t1;
    int n_seg;  /* > 1: a one-token block computed by key segments (attn_plan_items) */
    int slot0;  /* its first part slot: KV head g, segment i at slot0 + g * n_seg + i */
} bn_attn_block;

/* An attention work item: KV head g of block `block`, all its keys (seg < 0) or one segment. */
typedef struct attn_item {
    int block, g, seg;
} attn_item;

struct bn_state {
    const bn_model *m;
    bn_state_params p;
    int64_t n_ctx;                 /* positions per sequence */
    int64_t q_dim, kv_dim, max_in;
    uint64_t k_block_bytes, v_head_bytes; /* per the cache types (attention.h) */
    /* The caches hold positions in spans of span_keys (bn_attn_job.span_keys), n_spans of
     * them: span i holds positions [i S, i S + S) of every layer and KV head, k_span_bytes of
     * K^T blocks and v_span_bytes of V rows. Position-major, so that the memory a sequence
     * touches grows with its length in 2 MiB pages too (kv_huge): with each head's positions
     * contiguous over the whole context, the first token would touch every huge page. */
    int64_t span_keys, n_spans;
    uint64_t k_span_bytes, v_span_bytes;
    bool kv_huge;                  /* the caches are bn_malloc_large mappings (KV_HUGE_MIN) */
    bn_seq *seqs;                  /* [n_seq] */
    float *rope_cos, *rope_sin;    /* [n_ctx][n_rot/2] */
    /* the chunk being evaluated, max_batch rows: row t is token t of sequence row_seq[t] at
     * position row_pos[t]; the rows of one sequence are consecutive, in position order */
    int32_t *row_tok;
    int *row_seq;
    int64_t *row_pos;
    int *logit_rows;               /* rows whose logits are wanted, increasing */
    int *hidden_rows;              /* rows whose hidden state is wanted, increasing */
    bn_attn_block *blocks;
    int n_blocks;
    attn_item *items;              /* the layer's attention work items (attn_plan_items): at most
                                    * B x n_head_kv whole ones + ATTN_PART_SLOTS segments */
    int n_items;
    float *attn_parts;             /* [ATTN_PART_SLOTS][group][head_dim + 2]: segments' m, l, o */
    float *k_new, *v_new;          /* [B][kv_dim]: the chunk's K and V before they go to the caches */
    /* batch buffers, max_batch rows each */
    float *x;                      /* [B][n_embd] residual stream */
    float *h;                      /* [B][max_in] normalised input of a matmul */
    float *h_in;                   /* [B][max_in] a matrix's own input norm of h (in-norms), else NULL */
    float *q;                      /* [B][q_dim] (K and V go straight into the cache) */
    float *attn;                   /* [B][q_dim] */
    float *proj;                   /* [B][n_embd] output of Wo / Wdown */
    float *gate, *up;              /* [B][n_ff] */
    void *act_scratch;
    bn_block_q8_0 *head_xq;        /* --lm-head q8: the head's input as Q8_0 blocks [B][n_embd/32], else NULL */
    bn_screen_ctx *screen;         /* the screened head's scratch when the model has one, else NULL */
    const bn_head_req **logit_req; /* [B]: how each logit row may be computed (NULL: every logit) */
    /* per thread */
    bn_threadpool *pool;
    const bn_rows_ops *rows;       /* row passes of the tier in use */
    int n_threads;
    void **row_tmp;
    float **scores;                /* attention scratch of one work item (attn_scratch_bytes) */
    uint64_t kv_bytes, scratch_bytes;
    bn_tracer *tracer;
    bool debug_logits;             /* BITNET_DEBUG_LOGITS=1: one check per state, then cleared */
    int32_t debug_token;           /* the token whose logits are checked */
};

bn_act_quant bn_default_act_quant(const bn_model *m) { return m->all_ternary ? BN_ACT_TOKEN : BN_ACT_NONE; }

void bn_state_default_params(bn_state_params *p) {
    memset(p, 0, sizeof *p);
    p->max_batch = 64;
    p->n_seq = 1;
    p->act_quant = BN_ACT_TOKEN;
    p->kv_type_k = p->kv_type_v = BN_KV_F16;
}

/* Cache bytes per position of one sequence (K blocks counted per position). */
uint64_t bn_kv_bytes_per_pos(const bn_hparams *hp, bn_kv_type k, bn_kv_type v) {
    uint64_t per_layer = (bn_kv_k_block_bytes(k, hp->head_dim) / BN_ATTN_BLOCK + bn_kv_v_row_bytes(v, hp->head_dim)) *
                         (uint64_t)hp->n_head_kv;
    return per_layer * (uint64_t)hp->n_layer;
}

/* ---- allocation ---- */

static uint64_t physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : (1ull << 32);
}

static int64_t choose_ctx(const bn_model *m, const bn_state_params *p) {
    if (p->n_ctx > 0) return p->n_ctx;
    uint64_t cap = p->max_kv_bytes ? p->max_kv_bytes : physical_memory() / 4;
    int64_t per_pos = (int64_t)bn_kv_bytes_per_pos(&m->hp, p->kv_type_k, p->kv_type_v);
    int64_t n = m->hp.n_ctx_train;
    per_pos *= p->n_seq; /* every sequence has a cache of n_ctx positions */
    if ((uint64_t)(n * per_pos) > cap) n = (int64_t)(cap / (uint64_t)per_pos);
    return n < 1 ? 1 : n;
}

/* Positions per cache span (bn_state.span_keys): a head's span is 64 KiB of f16 K^T blocks
 * and as much of V rows for head_dim 128; a span of 2B-4T's 30 layers x 5 KV heads, K and V,
 * is ~19 MB at f16. */
#define KV_SPAN_KEYS 256
/* Caches of this many bytes or more (K and V of one sequence) are mapped in 2 MiB pages where
 * the kernel has them: a decode step at depth 2048 reads ~157 MB of 2B-4T's f16 cache, a 4 KiB
 * page per K^T block and per 16 V rows, and its attention ran ~1.25x faster (avx2, Zen 5,
 * bench/attention_bench). Smaller caches stay in 4 KiB pages: a whole huge page for a tiny
 * context would be mostly untouched memory. */
#define KV_HUGE_MIN (32ull << 20)

static char *kv_alloc(const bn_state *s, uint64_t bytes, const char *what) {
    return s->kv_huge ? bn_malloc_large((size_t)bytes, what) : bn_malloc_lines((size_t)bytes, what);
}

static void kv_free(const bn_state *s, char *p, uint64_t bytes) {
    if (s->kv_huge) bn_free_large(p, (size_t)bytes);
    else free(p);
}

static void *state_alloc(bn_state *s, uint64_t bytes, const char *what) {
    void *ptr = bn_malloc_lines((size_t)bytes, what);
    if (ptr) s->scratch_bytes += (bytes + 63) & ~(uint64_t)63;
    return ptr;
}

static uint64_t max_row_scratch(const bn_model *m) {
    uint64_t best = bn_linear_row_scratch_bytes(&m->output);
    for (int l = 0; l < m->hp.n_layer; l++) {
        const bn_layer *L = &m->layers[l];
        const bn_linear *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
        for (int i = 0; i < 7; i++) {
            uint64_t b = bn_linear_row_scratch_bytes(mats[i]);
            if (b > best) best = b;
        }
    }
    return best;
}

/* q8k needs every ternary matrix's row length to be a multiple of 256. */
static int check_act_quant(const bn_model *m, bn_act_quant mode) {
    if (mode != BN_ACT_Q8K) return 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const bn_layer *L = &m->layers[l];
        const bn_linear *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
        for (int i = 0; i < 7; i++)
            if (mats[i]->ternary && mats[i]->in % BN_QK_K)
                return bn_error(BITNET_ERR_UNSUPPORTED, "--act-quant q8k needs row lengths that are multiples of 256; %s has %lld",
                                mats[i]->name, (long long)mats[i]->in);
    }
    return 0;
}

/* Angle of pair i at pos: pos * base^(-2i/n_rot) * freq_scale / rope_freqs[i] (the last two
 * 1 unless the model has linear scaling or Llama-3 frequency factors). */
static void fill_rope_tables(bn_state *s) {
    const bn_hparams *hp = &s->m->hp;
    const float *ff = s->m->rope_freqs;
    int64_t half = hp->n_rot / 2;
    for (int64_t pos = 0; pos < s->n_ctx; pos++)
        for (int64_t i = 0; i < half; i++) {
            double theta = (double)pos * pow((double)hp->rope_base, -2.0 * (double)i / (double)hp->n_rot);
            theta = theta * (double)hp->rope_freq_scale / (ff ? (double)ff[i] : 1.0);
            s->rope_cos[pos * half + i] = (float)cos(theta);
            s->rope_sin[pos * half + i] = (float)sin(theta);
        }
}

/* Attention work item: the query heads sharing one KV head (n_head / n_head_kv of them) for
 * ATTN_TOKENS consecutive tokens, one bn_attn_job (its rows share each K/V block load). */
#define ATTN_TOKENS 16
static int64_t attn_group(const bn_hparams *hp) { return hp->n_head / hp->n_head_kv; }
/* Groups wider than 64 query heads per KV head: one token per item (bounded scratch). */
static int attn_tokens(const bn_hparams *hp) { return attn_group(hp) > 64 ? 1 : ATTN_TOKENS; }
static int64_t attn_rows(const bn_hparams *hp) { return attn_tokens(hp) * attn_group(hp); }
/* Per-thread attention scratch: the kernel's (bn_attention_scratch_floats), then per-row q
 * and out pointers and positions (8 + 8 + 8 bytes a row). */
static uint64_t attn_kernel_floats(const bn_hparams *hp) {
    return (bn_attention_scratch_floats(attn_rows(hp), hp->head_dim) + 15) & ~(uint64_t)15;
}
static uint64_t attn_scratch_bytes(const bn_hparams *hp) {
    return attn_kernel_floats(hp) * sizeof(float) + (uint64_t)attn_rows(hp) * 24;
}
/* Part slots for decode items split by key segments (attn_plan_items): one slot holds a
 * segment's m, l and o of one KV head's query rows; blocks that would need more than are
 * left are not split (the same bits either way). 2B-4T: 512 x 4 x 130 floats, 1 MB. */
#define ATTN_PART_SLOTS 512
static uint64_t attn_part_floats(const bn_hparams *hp) { return (uint64_t)attn_group(hp) * ((uint64_t)hp->head_dim + 2); }

static int alloc_buffers(bn_state *s) {
    const bn_hparams *hp = &s->m->hp;
    uint64_t B = (uint64_t)s->p.max_batch, fl = sizeof(float);
    uint64_t k_cache = (uint64_t)s->n_spans * s->k_span_bytes, v_cache = (uint64_t)s->n_spans * s->v_span_bytes;
    uint64_t half = (uint64_t)hp->n_rot / 2;
    uint64_t act = 0;
    for (int mode = 0; mode < 3; mode++) {
        uint64_t b = bn_act_scratch_bytes((bn_act_quant)mode, (int)B, s->max_in);
        if (b > act) act = b;
    }
    if (!(s->seqs = bn_calloc((size_t)s->p.n_seq, sizeof *s->seqs, "sequences"))) return BITNET_ERR_OUT_OF_MEMORY;
    s->kv_huge = k_cache + v_cache >= KV_HUGE_MIN;
    for (int i = 0; i < s->p.n_seq; i++) {
        s->seqs[i].k_cache = kv_alloc(s, k_cache, "K cache");
        s->seqs[i].v_cache = kv_alloc(s, v_cache, "V cache");
        s->kv_bytes += k_cache + v_cache;
        if (!s->seqs[i].k_cache || !s->seqs[i].v_cache) return BITNET_ERR_OUT_OF_MEMORY;
    }
    s->row_tok = state_alloc(s, B * sizeof(int32_t), "row tokens");
    s->row_seq = state_alloc(s, B * sizeof(int), "row sequences");
    s->row_pos = state_alloc(s, B * sizeof(int64_t), "row positions");
    s->logit_rows = state_alloc(s, B * sizeof(int), "logit rows");
    s->hidden_rows = state_alloc(s, B * sizeof(int), "hidden rows");
    s->blocks = state_alloc(s, B * sizeof(bn_attn_block), "attention blocks");
    s->items = state_alloc(s, (B * (uint64_t)hp->n_head_kv + ATTN_PART_SLOTS) * sizeof(attn_item), "attention items");
    s->attn_parts = state_alloc(s, ATTN_PART_SLOTS * attn_part_floats(hp) * fl, "attention parts");
    s->logit_req = state_alloc(s, B * sizeof *s->logit_req, "logit requests");
    if (!s->row_tok || !s->row_seq || !s->row_pos || !s->logit_rows || !s->hidden_rows || !s->blocks || !s->logit_req || !s->items || !s->attn_parts)
        return BITNET_ERR_OUT_OF_MEMORY;
    memset(s->logit_req, 0, B * sizeof *s->logit_req);
    uint64_t screen_bytes = 0;
    if (s->m->screen && !(s->screen = bn_screen_ctx_new(s->m->screen, &screen_bytes))) return BITNET_ERR_OUT_OF_MEMORY;
    s->scratch_bytes += screen_bytes;
    struct { float **dst; uint64_t n; const char *what; } bufs[] = {
        {&s->rope_cos, (uint64_t)s->n_ctx * half, "RoPE table"}, {&s->rope_sin, (uint64_t)s->n_ctx * half, "RoPE table"},
        {&s->x, B * (uint64_t)hp->n_embd, "residual"}, {&s->h, B * (uint64_t)s->max_in, "norm output"},
        {&s->q, B * (uint64_t)s->q_dim, "Q"}, {&s->k_new, B * (uint64_t)s->kv_dim, "new K"},
        {&s->v_new, B * (uint64_t)s->kv_dim, "new V"},
        {&s->attn, B * (uint64_t)s->q_dim, "attention output"}, {&s->proj, B * (uint64_t)hp->n_embd, "projection"},
        {&s->gate, B * (uint64_t)hp->n_ff, "FFN gate"}, {&s->up, B * (uint64_t)hp->n_ff, "FFN up"}};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (!(*bufs[i].dst = state_alloc(s, bufs[i].n * fl, bufs[i].what))) return BITNET_ERR_OUT_OF_MEMORY;
    if (!(s->act_scratch = state_alloc(s, act, "activation quantization"))) return BITNET_ERR_OUT_OF_MEMORY;
    bool in_norms = false;
    for (int l = 0; l < hp->n_layer; l++) in_norms |= s->m->layers[l].has_in_norms;
    if (in_norms && !(s->h_in = state_alloc(s, B * (uint64_t)s->max_in * fl, "input norm output"))) return BITNET_ERR_OUT_OF_MEMORY;
    if (s->m->lm_head_q8 && s->m->output.type == BN_TYPE_Q8_0 &&
        !(s->head_xq = state_alloc(s, bn_act_q8_0_bytes((int)B, hp->n_embd), "LM head input")))
        return BITNET_ERR_OUT_OF_MEMORY;
    s->row_tmp = bn_calloc((size_t)s->n_threads, sizeof *s->row_tmp, "thread scratch");
    s->scores = bn_calloc((size_t)s->n_threads, sizeof *s->scores, "thread scratch");
    if (!s->row_tmp || !s->scores) return BITNET_ERR_OUT_OF_MEMORY;
    uint64_t row_bytes = max_row_scratch(s->m);
    for (int i = 0; i < s->n_threads; i++) {
        if (!(s->row_tmp[i] = state_alloc(s, row_bytes, "row scratch"))) return BITNET_ERR_OUT_OF_MEMORY;
        if (!(s->scores[i] = state_alloc(s, attn_scratch_bytes(&s->m->hp), "attention scores")))
            return BITNET_ERR_OUT_OF_MEMORY;
    }
    fill_rope_tables(s);
    return 0;
}

int bn_state_create(const bn_model *m, const bn_state_params *p, bn_state **out) {
    *out = NULL;
    if (!m || !p) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "model and params must not be NULL");
    int rc = check_act_quant(m, p->act_quant);
    if (rc) return rc;
    if (p->n_ctx < 0 || p->n_ctx > (1 << 24))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "context length %lld is outside 1..%d", (long long)p->n_ctx, 1 << 24);
    if (p->n_seq < 1 || p->n_seq > BN_MAX_SEQ)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "%d sequences: must be 1..%d", p->n_seq, BN_MAX_SEQ);
    if ((unsigned)p->kv_type_k >= BN_KV_TYPE_COUNT || (unsigned)p->kv_type_v >= BN_KV_TYPE_COUNT)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "unknown KV cache type (K %d, V %d)", (int)p->kv_type_k, (int)p->kv_type_v);
    if ((rc = bn_kv_check_head_dim(p->kv_type_k, m->hp.head_dim)) || (rc = bn_kv_check_head_dim(p->kv_type_v, m->hp.head_dim)))
        return rc;
    if (p->kv_span_keys < 0 || p->kv_span_keys % (2 * BN_ATTN_BLOCK) || p->kv_span_keys > (1 << 24))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "KV cache span of %lld positions: must be a multiple of %d", (long long)p->kv_span_keys,
                        2 * BN_ATTN_BLOCK);
    bn_state *s = bn_calloc(1, sizeof *s, "state");
    if (!s) return BITNET_ERR_OUT_OF_MEMORY;
    s->m = m;
    s->p = *p;
    if (s->p.max_batch <= 0) s->p.max_batch = 64;
    s->n_threads = p->n_threads > 0 ? p->n_threads : bn_cpu_count();
    s->n_ctx = choose_ctx(m, p);
    s->q_dim = m->hp.n_head * m->hp.head_dim;
    s->kv_dim = m->hp.n_head_kv * m->hp.head_dim;
    s->k_block_bytes = bn_kv_k_block_bytes(p->kv_type_k, m->hp.head_dim);
    s->v_head_bytes = bn_kv_v_row_bytes(p->kv_type_v, m->hp.head_dim);
    /* a short context is one span of its own length (whole pairs of blocks: attention.h) */
    int64_t span = p->kv_span_keys ? p->kv_span_keys : KV_SPAN_KEYS;
    s->span_keys = s->n_ctx < span ? (s->n_ctx + 2 * BN_ATTN_BLOCK - 1) / (2 * BN_ATTN_BLOCK) * 2 * BN_ATTN_BLOCK : span;
    s->n_spans = (s->n_ctx + s->span_keys - 1) / s->span_keys;
    uint64_t heads = (uint64_t)m->hp.n_layer * (uint64_t)m->hp.n_head_kv;
    s->k_span_bytes = heads * (uint64_t)(s->span_keys / BN_ATTN_BLOCK) * s->k_block_bytes;
    s->v_span_bytes = heads * (uint64_t)s->span_keys * s->v_head_bytes;
    s->max_in = m->hp.n_embd > s->q_dim ? m->hp.n_embd : s->q_dim;
    if (m->hp.n_ff > s->max_in) s->max_in = m->hp.n_ff;
    s->tracer = p->tracer;
    s->rows = bn_rows_for_tier(bn_cpu_active_tier());
    const char *dbg = getenv("BITNET_DEBUG_LOGITS");
    s->debug_logits = dbg && !strcmp(dbg, "1");
    rc = alloc_buffers(s);
    if (!rc && s->n_threads > 1 && !(s->pool = bn_threadpool_create(s->n_threads))) rc = bn_last_error_status();
    if (rc) {
        bn_state_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void bn_state_free(bn_state *s) {
    if (!s) return;
    bn_threadpool_free(s->pool);
    float **bufs[] = {&s->rope_cos, &s->rope_sin, &s->x, &s->h, &s->h_in, &s->q, &s->k_new, &s->v_new,
                      &s->attn, &s->proj, &s->gate, &s->up};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(*bufs[i]);
    for (int i = 0; s->seqs && i < s->p.n_seq; i++) {
        kv_free(s, s->seqs[i].k_cache, (uint64_t)s->n_spans * s->k_span_bytes);
        kv_free(s, s->seqs[i].v_cache, (uint64_t)s->n_spans * s->v_span_bytes);
    }
    free(s->seqs);
    free(s->row_tok);
    free(s->row_seq);
    free(s->row_pos);
    free(s->logit_rows);
    free(s->hidden_rows);
    free(s->logit_req);
    bn_screen_ctx_free(s->screen);
    free(s->blocks);
    free(s->items);
    free(s->attn_parts);
    free(s->act_scratch);
    free(s->head_xq);
    for (int i = 0; s->row_tmp && i < s->n_threads; i++) free(s->row_tmp[i]);
    for (int i = 0; s->scores && i < s->n_threads; i++) free(s->scores[i]);
    free(s->row_tmp);
    free(s->scores);
    free(s);
}

void bn_state_reset(bn_state *s) {
    for (int i = 0; i < s->p.n_seq; i++) s->seqs[i].n_past = 0;
}

int bn_state_truncate(bn_state *s, int64_t n_keep) { return bn_state_seq_truncate(s, 0, n_keep); }

int bn_state_seq_truncate(bn_state *s, int seq, int64_t n_keep) {
    if (seq < 0 || seq >= s->p.n_seq) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "sequence %d of %d", seq, s->p.n_seq);
    if (n_keep < 0 || n_keep > s->seqs[seq].n_past)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "cannot keep %lld positions of %lld", (long long)n_keep,
                        (long long)s->seqs[seq].n_past);
    s->seqs[seq].n_past = n_keep;
    return 0;
}

int64_t bn_state_n_past(const bn_state *s) { return s->seqs[0].n_past; }
int64_t bn_state_seq_n_past(const bn_state *s, int seq) { return seq >= 0 && seq < s->p.n_seq ? s->seqs[seq].n_past : -1; }
int bn_state_n_seq(const bn_state *s) { return s->p.n_seq; }
int bn_state_max_batch(const bn_state *s) { return s->p.max_batch; }
int64_t bn_state_n_ctx(const bn_state *s) { return s->n_ctx; }
int bn_state_n_threads(const bn_state *s) { return s->n_threads; }
bn_threadpool *bn_state_pool(bn_state *s) { return s->pool; }
bn_act_quant bn_state_act_quant(const bn_state *s) { return s->p.act_quant; }
bn_kv_type bn_state_kv_type_k(const bn_state *s) { return s->p.kv_type_k; }
bn_kv_type bn_state_kv_type_v(const bn_state *s) { return s->p.kv_type_v; }
uint64_t bn_state_kv_bytes(const bn_state *s) { return s->kv_bytes; }
uint64_t bn_state_scratch_bytes(const bn_state *s) { return s->scratch_bytes; }
void bn_state_set_tracer(bn_state *s, bn_tracer *t, int seq_id) {
    s->tracer = t;
    s->p.seq_id = seq_id;
}

/* ---- per-token row passes (rows.h) ---- */

/* RoPE of one head vector at position pos: NEOX (dimension i pairs with i + n_rot/2) or
 * NORMAL (2i with 2i + 1), the first n_rot dimensions. */
static void rope_head(const bn_state *s, float *x, int64_t pos) {
    int64_t half = s->m->hp.n_rot / 2;
    if (s->m->hp.rope_type == BN_ROPE_NORM) s->rows->rope_norm(x, s->rope_cos + pos * half, s->rope_sin + pos * half, half);
    else s->rows->rope(x, s->rope_cos + pos * half, s->rope_sin + pos * half, half);
}

/* One pass over token rows between two products (rows.h): first x += d (ROWS_ADD) or
 * x = act(x) * d (ROWS_ACT) when asked, then, when g is set, h = RMSNorm(x) * g and the
 * quantization of h into `a` (the next product's input; NULL: none); without g (no sub-norm:
 * the llama architecture) the rows x themselves are quantized (h is x). Rows are independent:
 * the threads take groups of BN_ROWS_GROUP tokens as they go. */
typedef enum { ROWS_NORM, ROWS_ADD, ROWS_ACT } rows_pre;

typedef struct {
    const bn_rows_ops *ops;
    rows_pre pre;
    bn_ffn_act act;
    float *x;          /* [n_rows][n] */
    const float *d;    /* [n_rows][n]: the addend or the FFN up rows */
    float *h;          /* [n_rows][n] */
    const float *g;    /* norm weights, or NULL: no norm */
    bn_act *a;
    int n_rows;
    int64_t n;
    float eps;
    bn_work work;      /* groups of BN_ROWS_GROUP rows, shared out dynamically */
} rows_job;

static void rows_range(const rows_job *j, int b, int e) {
    for (int t0 = b; t0 < e; t0 += BN_ROWS_GROUP) {
        int nr = e - t0 < BN_ROWS_GROUP ? e - t0 : BN_ROWS_GROUP;
        float *y[BN_ROWS_GROUP];
        const float *x[BN_ROWS_GROUP];
        for (int r = 0; r < nr; r++) {
            int64_t off = (int64_t)(t0 + r) * j->n;
            if (j->pre == ROWS_ADD) j->ops->add(j->x + off, j->d + off, j->n);
            else if (j->pre == ROWS_ACT) j->ops->ffn_act(j->act, j->x + off, j->d + off, j->n);
            x[r] = j->x + off;
            y[r] = j->h ? j->h + off : NULL; /* a pass without a norm has no output rows (NULL + 0 is undefined) */
        }
        if (j->g) j->ops->norm(y, x, nr, j->g, j->n, j->eps, j->a, t0);
        else if (j->a) bn_act_quantize_tokens(j->a, t0, t0 + nr);
    }
}

static void rows_job_run(void *ctx, int i, int n) {
    rows_job *j = ctx;
    (void)i, (void)n;
    for (long g; (g = bn_work_next(&j->work)) >= 0;) {
        int b = (int)g * BN_ROWS_GROUP;
        rows_range(j, b, b + BN_ROWS_GROUP < j->n_rows ? b + BN_ROWS_GROUP : j->n_rows);
    }
}

static void run_rows(bn_state *s, rows_job *j) {
    j->ops = s->rows;
    j->eps = s->m->hp.rms_eps;
    bn_work_init(&j->work, (j->n_rows + BN_ROWS_GROUP - 1) / BN_ROWS_GROUP);
    if (j->n_rows > 1) bn_threadpool_run(s->pool, rows_job_run, j);
    else rows_range(j, 0, j->n_rows); /* one token: not worth a fork */
}

/* h = RMSNorm(x) * g for n_rows rows on the calling thread, no quantization. */
static void norm_rows(bn_state *s, float *h, const float *x, const float *g, int n_rows, int64_t n) {
    rows_job j = {.pre = ROWS_NORM, .x = (float *)x, .h = h, .g = g, .n_rows = n_rows, .n = n};
    j.ops = s->rows;
    j.eps = s->m->hp.rms_eps;
    rows_range(&j, 0, n_rows);
}

/* Records rows of the chunk: data row i is chunk row rows[i] (rows NULL: row i). */
static void trace_rows(bn_state *s, int layer, int stage, const float *data, int n_rows, int64_t dim, const int *rows) {
    if (!s->tracer) return;
    const char *name = bn_trace_stage_name(stage);
    if (!bn_tracer_wants(s->tracer, layer, name)) return;
    for (int i = 0; i < n_rows; i++) {
        int t = rows ? rows[i] : i;
        bn_tracer_record(s->tracer, layer, name, (int)s->row_pos[t], t, s->p.seq_id + s->row_seq[t], data + i * dim, &dim, 1);
    }
}

static void trace(bn_state *s, int layer, int stage, const float *data, int n_rows, int64_t dim) {
    trace_rows(s, layer, stage, data, n_rows, dim, NULL);
}

/* ---- parallel matmuls ---- */

/* Y_j = X W_j^T for up to three matrices reading the same activations: their rows, cut into
 * units of `unit` rows (a multiple of 32: whole 16-row tiles, pairs of them for AMX's 2 x 2
 * blocks) and the tokens into tok_units units of tok_unit (the last takes the rest;
 * bn_kernel_prefill_units), are shared out dynamically (bn_work): every row's and token's
 * result is the same whichever thread computes it. */
typedef struct {
    const bn_linear *w[3];
    float *y[3];
    int n_w;
    int64_t unit;
    int tok_unit, tok_units;
    long units[3];     /* units of matrix j: row units x token units, the token units of a row unit in a row */
    const bn_act *a;
    void **row_tmp;
    bn_work work;
} linear_job;

static void linear_job_run(void *ctx, int i, int n) {
    linear_job *job = ctx;
    (void)n;
    for (long u; (u = bn_work_next(&job->work)) >= 0;) {
        int j = 0;
        while (u >= job->units[j]) u -= job->units[j++];
        const bn_linear *w = job->w[j];
        long r = u / job->tok_units, tu = u % job->tok_units;
        int64_t m0 = r * job->unit, m1 = m0 + job->unit < w->out ? m0 + job->unit : w->out;
        int t0 = (int)tu * job->tok_unit, t1 = tu == job->tok_units - 1 ? job->a->n : t0 + job->tok_unit;
        bn_act part = bn_act_tokens(job->a, t0, t1);
        bn_linear_apply_rows(w, &part, job->y[j] + (int64_t)t0 * w->out, w->out, m0, m1, job->row_tmp[i]);
    }
}

static void quant_job_run(void *ctx, int i, int n) {
    bn_act *a = ctx;
    long long b, e;
    bn_split_range(a->n, i, n, 1, &b, &e);
    bn_act_quantize_tokens(a, (int)b, (int)e);
}

/* Y_j = X W_j^T for up to three matrices reading the same activations `a` (one fork/join). */
static void gemm(bn_state *s, const bn_linear *const *w, float *const *y, int n_w, const bn_act *a) {
    /* prefill: 64-row units (~20 us of AMX work at K = 2560), or at the avx2 tier an even
     * share of the rows by blocks of 32 tokens (its table prefill, bn_kernel_prefill_units);
     * one token: 256 rows, so that a unit streams enough weights to amortize taking it */
    int64_t max_rows = 0;
    for (int j = 0; j < n_w; j++) max_rows = w[j]->out > max_rows ? w[j]->out : max_rows;
    bn_prefill_units pu = a->n >= 16 ? bn_kernel_prefill_units(max_rows, s->n_threads, a->n) : (bn_prefill_units){256, a->n};
    int tok_units = pu.tokens < a->n ? a->n / pu.tokens : 1;
    linear_job job = {.n_w = n_w, .unit = pu.rows, .tok_unit = pu.tokens, .tok_units = tok_units, .a = a, .row_tmp = s->row_tmp};
    long total = 0;
    for (int j = 0; j < n_w; j++) {
        job.w[j] = w[j];
        job.y[j] = y[j];
        job.units[j] = (long)((w[j]->out + job.unit - 1) / job.unit) * tok_units;
        total += job.units[j];
    }
    bn_work_init(&job.work, total);
    bn_threadpool_run(s->pool, linear_job_run, &job);
}

/* Points `a` at the scratch for the input [n][w->in] of w in the state's numerics; the row
 * pass before the product (rows_job) fills it. */
static int act_for(bn_state *s, bn_act *a, const bn_linear *w, const float *x, int n) {
    return bn_act_setup(a, w->ternary ? s->p.act_quant : BN_ACT_NONE, x, n, w->in, s->act_scratch);
}

/* The plain LM head: quantizes x [n][K] (float activations; the Q8_0 copy for --lm-head q8)
 * and multiplies. */
static int plain_head(bn_state *s, float *y, const float *x, int n) {
    const bn_linear *w = &s->m->output;
    bn_act a;
    int rc = bn_act_setup(&a, BN_ACT_NONE, x, n, w->in, s->act_scratch);
    if (rc) return rc;
    if (n > 1) bn_threadpool_run(s->pool, quant_job_run, &a);
    else bn_act_quantize_tokens(&a, 0, n);
    /* --lm-head q8: int8 activations for the Q8_0 head (linear.h), so that its dot is VNNI
     * integer work and the head streams at memory speed */
    if (s->head_xq) bn_act_quantize_q8_0(&a, s->head_xq, 0, n);
    gemm(s, &w, &y, 1, &a);
    return 0;
}

/* The screened head (head_screen.h) for the logit rows that allow it, the plain head for the
 * others (one by one) and for tokens with more candidates than the budget. Traces and the
 * BITNET_DEBUG_LOGITS check compare whole rows: they get the plain head. Returns false when
 * the plain head is to compute every row (no screen, or no row allows it). */
static bool screened_head(bn_state *s, float *y, const float *x, int n) {
    if (!s->screen) return false;
    bn_head_stats *stats = bn_screen_ctx_stats(s->screen);
    int n_screen = 0;
    for (int i = 0; i < n && !s->tracer && !s->debug_logits; i++) n_screen += s->logit_req[i] && s->logit_req[i]->k >= 1;
    stats->plain += (uint64_t)(n - n_screen);
    if (n_screen == 0) return false;
    int64_t K = s->m->hp.n_embd, V = s->m->hp.n_vocab;
    for (int t0 = 0; t0 < n;) { /* runs of screened rows, up to BN_SCREEN_ROWS at a time */
        if (!s->logit_req[t0] || s->logit_req[t0]->k < 1 || s->tracer || s->debug_logits) {
            plain_head(s, y + t0 * V, x + t0 * K, 1);
            t0++;
            continue;
        }
        int nt = 1;
        while (nt < BN_SCREEN_ROWS && t0 + nt < n && s->logit_req[t0 + nt] && s->logit_req[t0 + nt]->k >= 1) nt++;
        bool fallback[BN_SCREEN_ROWS];
        bn_head_screen_eval(s->screen, &s->m->output, s->pool, s->row_tmp[0], x + t0 * K, nt, s->logit_req + t0, y + t0 * V, fallback);
        for (int t = 0; t < nt; t++)
            if (fallback[t]) plain_head(s, y + (t0 + t) * V, x + (t0 + t) * K, 1);
        t0 += nt;
    }
    return true;
}

static int linear_head(bn_state *s, float *y, const float *x, int n) {
    return screened_head(s, y, x, n) ? 0 : plain_head(s, y, x, n);
}

/* ---- attention ---- */

typedef struct {
    bn_state *s;
    int layer, n;
    bn_work work;
} attn_job;

/* One KV head's K^T blocks and V rows: in a sequence's caches, spans of span_keys positions
 * (bn_state's layout above; k and v: the head's part of span 0, the next span's span bytes
 * further on), or in an image, contiguous (span_keys 0). */
typedef struct kv_head_at {
    char *k, *v;
    int64_t span_keys;
    uint64_t k_span, v_span;
} kv_head_at;

/* KV head h of layer l in a sequence's caches. */
static kv_head_at seq_head(const bn_state *s, const bn_seq *seq, int64_t l, int64_t h) {
    uint64_t i = (uint64_t)l * (uint64_t)s->m->hp.n_head_kv + (uint64_t)h, keys = (uint64_t)s->span_keys;
    return (kv_head_at){seq->k_cache + i * (keys / BN_ATTN_BLOCK) * s->k_block_bytes, seq->v_cache + i * keys * s->v_head_bytes,
                        s->span_keys, s->k_span_bytes, s->v_span_bytes};
}

/* A head's units are its K^T blocks (rows false) or its V rows (rows true): per span (0: one
 * span), their bytes, and unit i's address. */
static int64_t units_per_span(const kv_head_at *a, bool rows) { return rows ? a->span_keys : a->span_keys / BN_ATTN_BLOCK; }
static uint64_t unit_bytes(const bn_state *s, bool rows) { return rows ? s->v_head_bytes : s->k_block_bytes; }
static char *unit_at(const bn_state *s, const kv_head_at *a, bool rows, int64_t i) {
    int64_t per = units_per_span(a, rows), sp = per ? i / per : 0;
    return (rows ? a->v : a->k) + (uint64_t)sp * (rows ? a->v_span : a->k_span) + (uint64_t)(i - sp * per) * unit_bytes(s, rows);
}
static char *k_block_at(const bn_state *s, const kv_head_at *a, int64_t b) { return unit_at(s, a, false, b); }
static char *v_row_at(const bn_state *s, const kv_head_at *a, int64_t p) { return unit_at(s, a, true, p); }

/* The end of the units from i on (before end) that lie in i's span (per units a span, 0: one
 * span): contiguous bytes. */
static int64_t span_run_end(int64_t per, int64_t i, int64_t end) {
    int64_t e = per ? (i / per + 1) * per : end;
    return e < end ? e : end;
}

/* The end of the units from i on (before end) contiguous both in a and in b. */
static int64_t run_end(const kv_head_at *a, const kv_head_at *b, bool rows, int64_t i, int64_t end) {
    int64_t ea = span_run_end(units_per_span(a, rows), i, end), eb = span_run_end(units_per_span(b, rows), i, end);
    return ea < eb ? ea : eb;
}

/* Sequence seq exists and n positions fit its context. */
static int check_seq_positions(const bn_state *s, int seq, int64_t n) {
    if (seq < 0 || seq >= s->p.n_seq || n < 0 || n > s->n_ctx)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "sequence %d of %d, %lld positions of %lld", seq, s->p.n_seq, (long long)n,
                        (long long)s->n_ctx);
    return 0;
}

/* The bytes of one KV head's K^T blocks holding positions [0, n) (whole blocks). */
static uint64_t k_blocks_bytes(const bn_state *s, int64_t n) {
    return (uint64_t)((n + BN_ATTN_BLOCK - 1) / BN_ATTN_BLOCK) * s->k_block_bytes;
}

int bn_state_seq_kv_regions(bn_state *s, int seq, int64_t n, int (*io)(void *ctx, void *data, size_t len), void *ctx) {
    int rc = check_seq_positions(s, seq, n);
    const bn_hparams *hp = &s->m->hp;
    for (int64_t l = 0; l < hp->n_layer && !rc; l++)
        for (int64_t h = 0; h < hp->n_head_kv && !rc; h++) { /* span by span: the bytes of a contiguous head, in order */
            kv_head_at a = seq_head(s, &s->seqs[seq], l, h);
            for (int rows = 0; rows < 2; rows++) { /* its K^T blocks, then its V rows */
                int64_t end = rows ? n : (n + BN_ATTN_BLOCK - 1) / BN_ATTN_BLOCK;
                for (int64_t i = 0, e; i < end && !rc; i = e) {
                    e = run_end(&a, &a, rows, i, end);
                    rc = io(ctx, unit_at(s, &a, rows, i), (size_t)((uint64_t)(e - i) * unit_bytes(s, rows)));
                }
            }
        }
    return rc;
}

uint64_t bn_state_kv_image_bytes(const bn_state *s, int64_t n) {
    uint64_t per_head = k_blocks_bytes(s, n) + (uint64_t)n * s->v_head_bytes;
    return per_head * (uint64_t)s->m->hp.n_layer * (uint64_t)s->m->hp.n_head_kv;
}

/* KV head (l, h) of one end of a transfer. */
static kv_head_at head_at(const bn_state *s, bn_kv_ref r, int64_t l, int64_t h) {
    if (!r.image) return seq_head(s, &s->seqs[r.seq], l, h);
    uint64_t k_bytes = k_blocks_bytes(s, r.n_image);
    char *k = (char *)r.image + (uint64_t)(l * s->m->hp.n_head_kv + h) * (k_bytes + (uint64_t)r.n_image * s->v_head_bytes);
    return (kv_head_at){k, k + k_bytes, 0, 0, 0};
}

/* Units [i0, i1) (K^T blocks, or V rows: `rows`) from f to d, a contiguous run at a time. */
static void copy_units(const bn_state *s, const kv_head_at *d, const kv_head_at *f, bool rows, int64_t i0, int64_t i1) {
    for (int64_t i = i0, e; i < i1; i = e) {
        e = run_end(d, f, rows, i, i1);
        memcpy(unit_at(s, d, rows, i), unit_at(s, f, rows, i), (size_t)((uint64_t)(e - i) * unit_bytes(s, rows)));
    }
}

/* The positions r holds (a sequence's n_past, an image's n_image), or -1 after setting the
 * error for a bad reference. */
static int64_t ref_positions(const bn_state *s, bn_kv_ref r) {
    if (r.image) return r.n_image >= 0 && r.n_image <= s->n_ctx ? r.n_image : bn_error(BITNET_ERR_INVALID_ARGUMENT, "a KV image of %lld positions", (long long)r.n_image);
    return check_seq_positions(s, r.seq, 0) ? -1 : s->seqs[r.seq].n_past;
}

int bn_state_kv_transfer(bn_state *s, bn_kv_ref dst, bn_kv_ref src, int64_t from, int64_t n) {
    int64_t have = ref_positions(s, src), room = ref_positions(s, dst);
    if (have < 0 || room < 0) return BITNET_ERR_INVALID_ARGUMENT;
    if ((!dst.image && !src.image && dst.seq == src.seq) || from < 0 || from > n || n > have || from > room ||
        n > (dst.image ? dst.n_image : s->n_ctx))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "cannot copy KV positions [%lld, %lld) from %lld held into %lld held",
                        (long long)from, (long long)n, (long long)have, (long long)room);
    /* whole K^T blocks: the first one's positions before `from` are the same entries at both ends */
    int64_t b0 = from / BN_ATTN_BLOCK, b1 = (n + BN_ATTN_BLOCK - 1) / BN_ATTN_BLOCK;
    for (int64_t l = 0; l < s->m->hp.n_layer; l++)
        for (int64_t h = 0; h < s->m->hp.n_head_kv; h++) {
            kv_head_at d = head_at(s, dst, l, h), f = head_at(s, src, l, h);
            copy_units(s, &d, &f, false, (int64_t)b0, (int64_t)b1);
            copy_units(s, &d, &f, true, from, n);
        }
    if (!dst.image) s->seqs[dst.seq].n_past = n;
    return 0;
}

/* A KV move's work (context shift, cache reuse): every (layer, KV head) of one sequence is an
 * item; each thread has one K^T block and one head vector of scratch. */
typedef struct shift_job {
    bn_state *s;
    bn_seq *seq;
    const bn_kv_run *runs;      /* [n_runs]: contiguous destinations from runs[0].dst to end */
    int n_runs;
    int64_t end;
    const float *const *cos;    /* per run: RoPE by -(src - dst), [n_rot/2] each */
    float *neg_sin;             /* per run: [n_runs][n_rot/2] */
    char *scratch;              /* per thread: a K^T block, then head_dim floats */
    uint64_t scratch_stride;
    bn_work work;
} shift_job;

/* Moves KV head (l, h): each K^T block from the one holding runs[0].dst on is rebuilt in
 * scratch (its kept lanes as they are, the others decoded from their source position, rotated
 * back by their run's distance and encoded) before it is written back, so a block is only
 * overwritten once the positions it held have been read (a source is never before its
 * destination, and later blocks' sources lie further on); V rows are moved as bytes, run by run
 * in order (a run's source lies beyond what the runs before it wrote). */
static void shift_head(const shift_job *j, int64_t l, int64_t h, char *block, float *k) {
    bn_state *s = j->s;
    int64_t hd = s->m->hp.head_dim, half = s->m->hp.n_rot / 2, first = j->runs[0].dst;
    kv_head_at a = seq_head(s, j->seq, l, h);
    int r = 0;
    for (int64_t b = first / BN_ATTN_BLOCK; b * BN_ATTN_BLOCK < j->end; b++) {
        char *dst = k_block_at(s, &a, b);
        memcpy(block, dst, (size_t)s->k_block_bytes);
        int64_t p0 = b * BN_ATTN_BLOCK > first ? b * BN_ATTN_BLOCK : first;
        int64_t p1 = (b + 1) * BN_ATTN_BLOCK < j->end ? (b + 1) * BN_ATTN_BLOCK : j->end;
        for (int64_t p = p0; p < p1; p++) {
            while (p >= j->runs[r].dst + j->runs[r].n) r++;
            int64_t src = p + j->runs[r].src - j->runs[r].dst;
            bn_kv_load_k(s->p.kv_type_k, k_block_at(s, &a, src / BN_ATTN_BLOCK), (int)(src % BN_ATTN_BLOCK), k, hd);
            const float *neg_sin = j->neg_sin + (uint64_t)r * (uint64_t)half;
            if (s->m->hp.rope_type == BN_ROPE_NORM) s->rows->rope_norm(k, j->cos[r], neg_sin, half);
            else s->rows->rope(k, j->cos[r], neg_sin, half);
            bn_kv_store_k(s->p.kv_type_k, block, (int)(p % BN_ATTN_BLOCK), k, hd);
        }
        memcpy(dst, block, (size_t)s->k_block_bytes);
    }
    for (int i = 0; i < j->n_runs; i++) /* in order, a piece within one span at each end at a time */
        for (int64_t o = 0, e; o < j->runs[i].n; o = e) {
            int64_t dst = j->runs[i].dst + o, src = j->runs[i].src + o, n = j->runs[i].n - o;
            int64_t ed = span_run_end(a.span_keys, dst, dst + n) - dst, es = span_run_end(a.span_keys, src, src + n) - src;
            e = o + (ed < es ? ed : es);
            memmove(v_row_at(s, &a, dst), v_row_at(s, &a, src), (size_t)((uint64_t)(e - o) * s->v_head_bytes));
        }
}

static void shift_run(void *ctx, int thread_index, int n_threads) {
    (void)n_threads;
    shift_job *j = ctx;
    char *block = j->scratch + (uint64_t)thread_index * j->scratch_stride;
    float *k = (float *)(block + j->s->k_block_bytes);
    int64_t n_head_kv = j->s->m->hp.n_head_kv;
    for (long i; (i = bn_work_next(&j->work)) >= 0;) shift_head(j, i / n_head_kv, i % n_head_kv, block, k);
}

/* The runs' shape bn_state_seq_move needs (bn_kv_run's comment). */
static int check_runs(const bn_kv_run *runs, int n_runs, int64_t n_past) {
    for (int i = 0; i < n_runs; i++) {
        const bn_kv_run *r = &runs[i];
        bool fits = r->n >= 1 && r->dst >= 0 && r->src > r->dst && r->src + r->n <= n_past &&
                    (i == 0 || (r->dst == runs[i - 1].dst + runs[i - 1].n && r->src >= runs[i - 1].src + runs[i - 1].n));
        if (!fits)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "KV move: run %d (positions [%lld, %lld) from %lld) does not follow the one "
                            "before it or is not held (%lld positions)", i, (long long)r->dst, (long long)(r->dst + r->n),
                            (long long)r->src, (long long)n_past);
    }
    return 0;
}

int bn_state_seq_move(bn_state *s, int seq, const bn_kv_run *runs, int n_runs) {
    int rc = check_seq_positions(s, seq, 0);
    if (rc) return rc;
    if (n_runs < 1 || !runs) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "KV move: no runs");
    if ((rc = check_runs(runs, n_runs, s->seqs[seq].n_past))) return rc;
    const bn_hparams *hp = &s->m->hp;
    int64_t half = hp->n_rot / 2;
    uint64_t stride = (s->k_block_bytes + (uint64_t)hp->head_dim * sizeof(float) + 63) & ~(uint64_t)63;
    uint64_t tables = (uint64_t)n_runs * ((uint64_t)half * sizeof(float) + sizeof(float *));
    char *scratch = bn_malloc_lines((size_t)(stride * (uint64_t)s->n_threads + tables), "KV move");
    if (!scratch) return BITNET_ERR_OUT_OF_MEMORY;
    float *neg_sin = (float *)(scratch + stride * (uint64_t)s->n_threads);
    const float **cos = (const float **)(neg_sin + (uint64_t)n_runs * (uint64_t)half);
    for (int r = 0; r < n_runs; r++) {
        int64_t d = runs[r].src - runs[r].dst;
        cos[r] = s->rope_cos + d * half;
        for (int64_t i = 0; i < half; i++) neg_sin[(uint64_t)r * (uint64_t)half + (uint64_t)i] = -s->rope_sin[d * half + i];
    }
    int64_t end = runs[n_runs - 1].dst + runs[n_runs - 1].n;
    shift_job j = {.s = s, .seq = &s->seqs[seq], .runs = runs, .n_runs = n_runs, .end = end, .cos = cos, .neg_sin = neg_sin,
                   .scratch = scratch, .scratch_stride = stride};
    bn_work_init(&j.work, (long)(hp->n_layer * hp->n_head_kv));
    bn_threadpool_run(s->pool, shift_run, &j);
    free(scratch);
    s->seqs[seq].n_past = end;
    return 0;
}

int bn_state_seq_shift(bn_state *s, int seq, int64_t n_keep, int64_t n_discard) {
    int rc = check_seq_positions(s, seq, 0);
    if (rc) return rc;
    int64_t n_past = s->seqs[seq].n_past;
    if (n_keep < 0 || n_discard < 1 || n_keep > n_past || n_discard > n_past - n_keep)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "cannot drop positions [%lld, %lld) of %lld held", (long long)n_keep,
                        (long long)(n_keep + n_discard), (long long)n_past);
    bn_kv_run run = {.dst = n_keep, .src = n_keep + n_discard, .n = n_past - n_keep - n_discard};
    if (run.n == 0) { /* nothing after the dropped positions */
        s->seqs[seq].n_past = n_keep;
        return 0;
    }
    return bn_state_seq_move(s, seq, &run, 1);
}

int bn_state_seq_set_n_past(bn_state *s, int seq, int64_t n) {
    int rc = check_seq_positions(s, seq, n);
    if (rc) return rc;
    s->seqs[seq].n_past = n;
    return 0;
}

/* Causal GQA attention for one work item: KV head g, tokens [t0, t1) of the batch, and the
 * query heads h = g * group + j, as one bn_attn_job (attention.h) of rows in token order;
 * seg >= 0: only that key segment, its part into the block's slot (Q already rotated).
 * The kernel's per-row arithmetic does not depend on the other rows of the job, so results
 * do not depend on the grouping, the batch size or the thread count; the grouping lets the
 * rows share each K/V block load (at a 2048-token prompt, streaming K/V again for every
 * (token, head) spent ~80% of the time waiting on memory). */
static void attend_item(bn_state *s, int layer, const attn_item *it, float *scratch) {
    const bn_hparams *hp = &s->m->hp;
    const bn_attn_block *b = &s->blocks[it->block];
    int t0 = b->t0;
    int64_t g = it->g, hd = hp->head_dim, group = attn_group(hp), n_rows = (b->t1 - t0) * group;
    const float **q = (const float **)(scratch + attn_kernel_floats(hp)); /* 64-byte aligned */
    float **out = (float **)(q + n_rows);
    int64_t *pos = (int64_t *)(out + n_rows);
    for (int64_t r = 0; r < n_rows; r++) {
        int t = t0 + (int)(r / group);
        int64_t off = (int64_t)t * s->q_dim + (g * group + r % group) * hd;
        if (it->seg < 0) rope_head(s, s->q + off, s->row_pos[t]); /* each Q head vector belongs to one item */
        q[r] = s->q + off;
        out[r] = s->attn + off;
        pos[r] = s->row_pos[t];
    }
    kv_head_at kv = seq_head(s, &s->seqs[b->seq], layer, g);
    bn_attn_job job = {
        .n_rows = n_rows, .head_dim = hd, .q = q, .out = out, .pos = pos,
        .k_type = s->p.kv_type_k, .v_type = s->p.kv_type_v, .k = kv.k, .v = kv.v, .v_stride = (int64_t)s->v_head_bytes,
        .span_keys = kv.span_keys, .k_span_bytes = (int64_t)kv.k_span, .v_span_bytes = (int64_t)kv.v_span,
        .scale = 1.0f / sqrtf((float)hd), .scratch = scratch,
    };
    if (it->seg >= 0) { /* the part slot: m [group], l [group], o [group][hd]; out[] now points into it */
        float *slot = s->attn_parts + (uint64_t)(b->slot0 + g * b->n_seg + it->seg) * attn_part_floats(hp);
        for (int64_t r = 0; r < n_rows; r++) out[r] = slot + 2 * group + r * hd;
        job.seg0 = (int64_t)it->seg * BN_ATTN_SEG;
        job.part_m = slot;
        job.part_l = slot + group;
        job.part_o = out;
    }
    bn_attention_run(&job);
}

/* Work items are shared out dynamically, the last token blocks first: under the causal mask
 * later tokens cost more, and taking the big items first leaves small ones to even out the end. */
static void attn_job_run(void *ctx, int i, int n) {
    attn_job *job = ctx;
    (void)n;
    for (long w; (w = bn_work_next(&job->work)) >= 0;) attend_item(job->s, job->layer, &job->s->items[w], job->s->scores[i]);
}

/* The layer's work items: per block (last first) and KV head, the whole job; or, with fewer
 * such items than 4 per thread (a decode step of few sequences: 2B-4T has 5 KV heads, which 2
 * threads share 3:2), a one-token block whose keys span several segments becomes one item
 * per segment (while part slots last), so that the threads share them evenly; its Q heads are
 * rotated here, once, and attn_fold_parts folds the parts afterwards. */
static void attn_plan_items(bn_state *s) {
    const bn_hparams *hp = &s->m->hp;
    int n_kv = (int)hp->n_head_kv, slots = 0;
    bool split = s->n_threads > 1 && s->n_blocks * n_kv < 4 * s->n_threads;
    s->n_items = 0;
    for (int bi = s->n_blocks - 1; bi >= 0; bi--) {
        bn_attn_block *b = &s->blocks[bi];
        int n_seg = (int)(s->row_pos[b->t0] / BN_ATTN_SEG) + 1;
        b->n_seg = split && b->t1 - b->t0 == 1 && n_seg > 1 && slots + n_kv * n_seg <= ATTN_PART_SLOTS ? n_seg : 1;
        b->slot0 = slots;
        if (b->n_seg > 1) {
            slots += n_kv * n_seg;
            for (int64_t h = 0; h < hp->n_head; h++)
                rope_head(s, s->q + (int64_t)b->t0 * s->q_dim + h * hp->head_dim, s->row_pos[b->t0]);
        }
        for (int g = n_kv - 1; g >= 0; g--)
            for (int i = 0; i < b->n_seg; i++) s->items[s->n_items++] = (attn_item){bi, g, b->n_seg > 1 ? i : -1};
    }
}

/* The split blocks' outputs: each query row's segment parts folded in order, then O / L, the
 * operations of a one-pass kernel (attention.h). */
static void attn_fold_parts(bn_state *s) {
    const bn_hparams *hp = &s->m->hp;
    int64_t hd = hp->head_dim, group = attn_group(hp);
    for (int bi = 0; bi < s->n_blocks; bi++) {
        const bn_attn_block *b = &s->blocks[bi];
        for (int64_t g = 0; b->n_seg > 1 && g < hp->n_head_kv; g++)
            for (int64_t r = 0; r < group; r++) {
                float M = -INFINITY, L = 0.0f, *o = s->attn + (int64_t)b->t0 * s->q_dim + (g * group + r) * hd;
                for (int i = 0; i < b->n_seg; i++) {
                    const float *slot = s->attn_parts + (uint64_t)(b->slot0 + g * b->n_seg + i) * attn_part_floats(hp);
                    bn_attn_merge(&M, &L, o, slot[r], slot[group + r], slot + 2 * group + r * hd, hd, i == 0);
                }
                for (int64_t d = 0; d < hd; d++) o[d] /= L;
            }
    }
}

/* Cuts the chunk's rows into attention blocks: runs of one sequence, at most attn_tokens rows. */
static void plan_attention_blocks(bn_state *s, int n) {
    int bt = attn_tokens(&s->m->hp);
    s->n_blocks = 0;
    for (int t = 0; t < n; t++) {
        bn_attn_block *last = s->n_blocks ? &s->blocks[s->n_blocks - 1] : NULL;
        if (last && last->seq == s->row_seq[t] && last->t1 - last->t0 < bt) last->t1 = t + 1;
        else s->blocks[s->n_blocks++] = (bn_attn_block){s->row_seq[t], t, t + 1, 1, 0};
    }
}

/* Rotates the chunk's new K rows and writes K and V into their sequences' caches, converted
 * to the cache types (attention.h: K into its position's K^T block, V as a row). */
static void store_kv(bn_state *s, int l, int n) {
    const bn_hparams *hp = &s->m->hp;
    int64_t hd = hp->head_dim;
    for (int t = 0; t < n; t++) {
        float *k = s->k_new + (int64_t)t * s->kv_dim;
        const float *v = s->v_new + (int64_t)t * s->kv_dim;
        const bn_seq *seq = &s->seqs[s->row_seq[t]];
        int64_t pos = s->row_pos[t];
        for (int64_t h = 0; h < hp->n_head_kv; h++) {
            rope_head(s, k + h * hd, pos);
            kv_head_at a = seq_head(s, seq, l, h);
            bn_kv_store_k(s->p.kv_type_k, k_block_at(s, &a, pos / BN_ATTN_BLOCK), (int)(pos % BN_ATTN_BLOCK), k + h * hd, hd);
            bn_kv_store_v(s->p.kv_type_v, v_row_at(s, &a, pos), v + h * hd, hd);
        }
    }
}

/* ---- the layer ---- */

/* Per layer: four row passes (rows_job), each feeding the product after it, and the
 * attention. The residual add of the previous layer's FFN output is the first pass's
 * (eval_chunk); the last layer's is done on its own. */

/* Runs the row pass `j` (its x, h, g, pre set; g NULL: h is x) with h quantized for w, or
 * not quantized when w is NULL (a layer with in-norms: products() gives each matrix its own
 * pass). */
static int rows_then_act(bn_state *s, rows_job *j, const bn_linear *w, bn_act *a, int n) {
    if (!j->g) j->h = j->x;
    j->a = NULL;
    if (w) {
        int rc = act_for(s, a, w, j->h, n);
        if (rc) return rc;
        j->a = a;
    }
    if (!j->a && !j->g && j->pre == ROWS_NORM) return 0; /* nothing to do */
    j->n_rows = n;
    run_rows(s, j);
    return 0;
}

static const bn_linear *layer_linear(const bn_layer *L, int i) {
    const bn_linear *w[BN_LIN_COUNT] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
    return w[i];
}

/* The matrix `first` of layer L, or NULL when L has in-norms (its pass is then not quantized). */
static const bn_linear *shared_input(const bn_layer *L, int first) { return L->has_in_norms ? NULL : layer_linear(L, first); }

/* y_i = W_i in_i for the n_w matrices idx[i] of layer L reading the rows h [n][dim]. Without
 * in-norms in_i = h, which the pass before quantized into `a` for them: one gemm. With them
 * each matrix has its own pass in_i = RMSNorm(h) * in_norm_i (h when it has none), quantized
 * for it, then its gemm. */
static int products(bn_state *s, const bn_layer *L, const int *idx, float *const *y, int n_w, bn_act *a, const float *h,
                    int64_t dim, int n) {
    const bn_linear *w[3];
    for (int i = 0; i < n_w; i++) w[i] = layer_linear(L, idx[i]);
    if (!L->has_in_norms) {
        gemm(s, w, y, n_w, a);
        return 0;
    }
    for (int i = 0; i < n_w; i++) {
        rows_job j = {.pre = ROWS_NORM, .x = (float *)h, .h = s->h_in, .g = L->in_norm[idx[i]], .n = dim};
        int rc = rows_then_act(s, &j, w[i], a, n);
        if (rc) return rc;
        gemm(s, &w[i], &y[i], 1, a);
    }
    return 0;
}

/* x += proj (when add), h = RMSNorm(x, attn_norm), then Q, K, V, RoPE (K into the caches),
 * the attention, its sub-norm and Wo into proj. */
static int attention_block(bn_state *s, int l, int n, bool add) {
    const bn_model *m = s->m;
    const bn_layer *L = &m->layers[l];
    const bn_hparams *hp = &m->hp;
    bn_act a;
    rows_job pre = {.pre = add ? ROWS_ADD : ROWS_NORM, .x = s->x, .d = s->proj, .h = s->h, .g = L->attn_norm, .n = hp->n_embd};
    int rc = rows_then_act(s, &pre, shared_input(L, BN_LIN_Q), &a, n);
    if (rc) return rc;
    if (add) trace(s, l - 1, BN_TRACE_LAYER_OUT, s->x, n, hp->n_embd);
    trace(s, l, BN_TRACE_ATTN_NORM, s->h, n, hp->n_embd);
    rc = products(s, L, (const int[]){BN_LIN_Q, BN_LIN_K, BN_LIN_V}, (float *const[]){s->q, s->k_new, s->v_new}, 3, &a, s->h,
                  hp->n_embd, n);
    if (rc) return rc;
    trace(s, l, BN_TRACE_Q_PROJ, s->q, n, s->q_dim);
    trace(s, l, BN_TRACE_K_PROJ, s->k_new, n, s->kv_dim);
    trace(s, l, BN_TRACE_V_PROJ, s->v_new, n, s->kv_dim);
    store_kv(s, l, n); /* K's RoPE here; Q's inside the attention items, on all threads */
    attn_job job = {.s = s, .layer = l, .n = n};
    attn_plan_items(s);
    bn_work_init(&job.work, s->n_items);
    bn_threadpool_run(s->pool, attn_job_run, &job);
    attn_fold_parts(s);
    trace(s, l, BN_TRACE_Q_ROPE, s->q, n, s->q_dim);
    trace(s, l, BN_TRACE_K_ROPE, s->k_new, n, s->kv_dim);
    trace(s, l, BN_TRACE_ATTN, s->attn, n, s->q_dim);
    rows_job sub = {.pre = ROWS_NORM, .x = s->attn, .h = s->h, .g = L->attn_sub_norm, .n = s->q_dim};
    if ((rc = rows_then_act(s, &sub, shared_input(L, BN_LIN_O), &a, n))) return rc;
    if (sub.g) trace(s, l, BN_TRACE_ATTN_SUB_NORM, s->h, n, s->q_dim);
    if ((rc = products(s, L, (const int[]){BN_LIN_O}, (float *const[]){s->proj}, 1, &a, sub.h, s->q_dim, n))) return rc;
    trace(s, l, BN_TRACE_ATTN_OUT, s->proj, n, hp->n_embd);
    return 0;
}

/* x += proj, h = RMSNorm(x, ffn_norm), gate and up, act(gate) * up, its sub-norm and Wdown
 * into proj (added to x by the next pass). */
static int ffn_block(bn_state *s, int l, int n) {
    const bn_model *m = s->m;
    const bn_layer *L = &m->layers[l];
    const bn_hparams *hp = &m->hp;
    bn_act a;
    rows_job pre = {.pre = ROWS_ADD, .x = s->x, .d = s->proj, .h = s->h, .g = L->ffn_norm, .n = hp->n_embd};
    int rc = rows_then_act(s, &pre, shared_input(L, BN_LIN_GATE), &a, n);
    if (rc) return rc;
    trace(s, l, BN_TRACE_FFN_NORM, s->h, n, hp->n_embd);
    rc = products(s, L, (const int[]){BN_LIN_GATE, BN_LIN_UP}, (float *const[]){s->gate, s->up}, 2, &a, s->h, hp->n_embd, n);
    if (rc) return rc;
    trace(s, l, BN_TRACE_FFN_GATE, s->gate, n, hp->n_ff);
    trace(s, l, BN_TRACE_FFN_UP, s->up, n, hp->n_ff);
    rows_job act = {.pre = ROWS_ACT, .act = hp->ffn_act, .x = s->gate, .d = s->up, .h = s->h, .g = L->ffn_sub_norm, .n = hp->n_ff};
    if ((rc = rows_then_act(s, &act, shared_input(L, BN_LIN_DOWN), &a, n))) return rc;
    trace(s, l, BN_TRACE_FFN_ACT, s->gate, n, hp->n_ff);
    if (act.g) trace(s, l, BN_TRACE_FFN_SUB_NORM, s->h, n, hp->n_ff);
    if ((rc = products(s, L, (const int[]){BN_LIN_DOWN}, (float *const[]){s->proj}, 1, &a, act.h, hp->n_ff, n))) return rc;
    trace(s, l, BN_TRACE_FFN_OUT, s->proj, n, hp->n_embd);
    return 0;
}

/* ---- BITNET_DEBUG_LOGITS ---- */

/* Cosine and max |a-b| of two vectors, in double. */
static void compare_vectors(const float *a, const float *b, int64_t n, double *cosine, double *max_diff) {
    double dot = 0, na = 0, nb = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
        mx = fmax(mx, fabs((double)a[i] - b[i]));
    }
    *cosine = na > 0 && nb > 0 ? dot / sqrt(na * nb) : NAN;
    *max_diff = mx;
}

/* Recomputes y = W x for one token with the scalar reference and float activations, into
 * `ref` [w->out], and logs its agreement with `fast` (what the run computed). */
static void debug_compare_linear(bn_state *s, const char *what, const bn_linear *w, const float *x, const float *fast, float *ref) {
    if (!w->data) { /* the --lm-head q8 head kept only in the kernels' layout */
        fprintf(stderr, "bitnet debug-logits: %s (%s): no float reference (the 8-bit head is kept only in the kernels' layout)\n",
                what, w->name);
        return;
    }
    bn_act a;
    bn_act_prepare(&a, BN_ACT_NONE, x, 1, w->in, NULL);
    bn_linear_apply_rows_ref(w, &a, ref, w->out, 0, w->out, s->row_tmp[0]);
    double cosine, max_diff;
    compare_vectors(fast, ref, w->out, &cosine, &max_diff);
    fprintf(stderr, "bitnet debug-logits: %s (%s, act-quant %s, tier %s) vs float reference: cosine %.9f, max |diff| %.6g\n", what,
            w->name, bn_act_quant_name(w->ternary ? s->p.act_quant : BN_ACT_NONE), bn_kernel_tier_name(), cosine, max_diff);
}

/* Once per state: the LM head on the last hidden state, and layer 0's Wq (the ternary path)
 * on the last token's normalised input, each against a float reference. */
static void debug_logits_check(bn_state *s, const float *normed_last, const float *logits_last) {
    s->debug_logits = false;
    const bn_model *m = s->m;
    float *ref = malloc(sizeof(float) * (size_t)(m->hp.n_vocab > s->q_dim ? m->hp.n_vocab : s->q_dim));
    float *h = malloc(sizeof(float) * (size_t)m->hp.n_embd);
    float *q = malloc(sizeof(float) * (size_t)s->q_dim);
    if (ref && h && q) {
        debug_compare_linear(s, "LM head", &m->output, normed_last, logits_last, ref);
        const bn_layer *L = &m->layers[0];
        /* layer 0 input of the last row is its embedding: recompute attn_norm and Wq both ways */
        bn_linear_dequant_row(&m->tok_embd, s->debug_token, h);
        norm_rows(s, h, h, L->attn_norm, 1, m->hp.n_embd);
        bn_act a;
        if (bn_act_prepare(&a, L->wq.ternary ? s->p.act_quant : BN_ACT_NONE, h, 1, m->hp.n_embd, s->act_scratch) == 0) {
            bn_linear_apply_rows(&L->wq, &a, q, L->wq.out, 0, L->wq.out, s->row_tmp[0]);
            debug_compare_linear(s, "layer 0 Wq", &L->wq, h, q, ref);
        }
    }
    free(ref);
    free(h);
    free(q);
}

/* RMSNorm(x, output_norm) of the n listed rows (increasing) into out [n][n_embd], one call
 * per run of consecutive rows. */
static void norm_listed_rows(bn_state *s, float *out, const int *rows, int n) {
    int64_t dim = s->m->hp.n_embd;
    for (int i = 0; i < n;) {
        int run = 1;
        while (i + run < n && rows[i + run] == rows[i] + run) run++;
        norm_rows(s, out + i * dim, s->x + (int64_t)rows[i] * dim, s->m->output_norm, run, dim);
        i += run;
    }
}

/* What a chunk hands back: the logits of the n_logits rows listed in logit_rows
 * [n_logits][n_vocab], the hidden states of the n_hidden rows in hidden_rows [n_hidden][n_embd]. */
typedef struct chunk_out {
    float *logits, *hidden;
    int n_logits, n_hidden;
} chunk_out;

static int chunk_logits(bn_state *s, const int32_t *tokens, const chunk_out *o) {
    const bn_hparams *hp = &s->m->hp;
    float *normed = s->h;
    norm_listed_rows(s, normed, s->logit_rows, o->n_logits);
    trace_rows(s, -1, BN_TRACE_OUTPUT_NORM, normed, o->n_logits, hp->n_embd, s->logit_rows);
    int rc = linear_head(s, o->logits, normed, o->n_logits);
    if (rc) return rc;
    trace_rows(s, -1, BN_TRACE_LOGITS, o->logits, o->n_logits, hp->n_vocab, s->logit_rows);
    if (s->debug_logits) {
        s->debug_token = tokens[s->logit_rows[o->n_logits - 1]];
        debug_logits_check(s, normed + (int64_t)(o->n_logits - 1) * hp->n_embd, o->logits + (int64_t)(o->n_logits - 1) * hp->n_vocab);
    }
    return 0;
}

/* Runs the chunk of n <= max_batch rows set out in row_seq / row_pos (row t's token is
 * tokens[t]) and fills `o`. On success every sequence's n_past moves past its last row. */
static int eval_chunk(bn_state *s, const int32_t *tokens, int n, const chunk_out *o) {
    const bn_model *m = s->m;
    const bn_hparams *hp = &m->hp;
    plan_attention_blocks(s, n);
    for (int t = 0; t < n; t++) bn_linear_dequant_row(&m->tok_embd, tokens[t], s->x + t * hp->n_embd);
    trace(s, -1, BN_TRACE_EMBED, s->x, n, hp->n_embd);
    int rc;
    for (int l = 0; l < hp->n_layer; l++)
        if ((rc = attention_block(s, l, n, l > 0)) || (rc = ffn_block(s, l, n))) return rc;
    if (hp->n_layer > 0) { /* the last layer's residual add (the others are the next layer's first pass) */
        rows_job last = {.pre = ROWS_ADD, .x = s->x, .d = s->proj, .n_rows = n, .n = hp->n_embd};
        run_rows(s, &last);
        trace(s, hp->n_layer - 1, BN_TRACE_LAYER_OUT, s->x, n, hp->n_embd);
    }
    if (o->hidden && o->n_hidden > 0) {
        norm_listed_rows(s, o->hidden, s->hidden_rows, o->n_hidden);
        trace_rows(s, -1, BN_TRACE_OUTPUT_NORM, o->hidden, o->n_hidden, hp->n_embd, s->hidden_rows);
    }
    if (o->logits && o->n_logits > 0 && (rc = chunk_logits(s, tokens, o))) return rc;
    for (int t = 0; t < n; t++) s->seqs[s->row_seq[t]].n_past = s->row_pos[t] + 1;
    return 0;
}

static int check_tokens(const bn_state *s, const int32_t *tokens, int n) {
    for (int i = 0; i < n; i++) {
        int32_t id = tokens[i];
        if (id < 0 || id >= s->m->hp.n_vocab)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "token id %d at index %d is outside the vocabulary (0..%lld)", id, i,
                            (long long)s->m->hp.n_vocab - 1);
    }
    return 0;
}

/* Sequence 0's rows of one eval: `out` receives the logits (or with `hidden` the hidden
 * states) of every row when all_rows, else of the last token only. */
typedef struct seq0_eval {
    float *out;
    bool all_rows, hidden;
    const bn_head_req *req;
} seq0_eval;

/* The chunk's rows that produce output, and where it goes; done tokens precede the chunk. */
static chunk_out plan_seq0_chunk(bn_state *s, const seq0_eval *e, int done, int chunk, bool last_chunk) {
    chunk_out o = {0};
    if (!e->out || (!e->all_rows && !last_chunk)) return o;
    int first = e->all_rows ? 0 : chunk - 1;
    int64_t width = e->hidden ? s->m->hp.n_embd : s->m->hp.n_vocab;
    float *dst = e->out + (e->all_rows ? (int64_t)done * width : 0);
    int *list = e->hidden ? s->hidden_rows : s->logit_rows;
    for (int t = first; t < chunk; t++) {
        list[t - first] = t;
        s->logit_req[t - first] = e->all_rows ? NULL : e->req;
    }
    if (e->hidden) o.hidden = dst, o.n_hidden = chunk - first;
    else o.logits = dst, o.n_logits = chunk - first;
    return o;
}

static int eval_seq0(bn_state *s, const int32_t *tokens, int n, const seq0_eval *e) {
    if (!s || (!tokens && n > 0) || n < 0) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "invalid arguments to eval");
    if (n == 0) return 0;
    bn_seq *seq = &s->seqs[0];
    if (seq->n_past + n > s->n_ctx)
        return bn_error(BITNET_ERR_CONTEXT_EXCEEDED, "context overflow: %lld positions used + %d new tokens > context length %lld",
                        (long long)seq->n_past, n, (long long)s->n_ctx);
    int rc = check_tokens(s, tokens, n);
    if (rc) return rc;
    int64_t start = seq->n_past;
    for (int done = 0; done < n;) {
        int chunk = n - done < s->p.max_batch ? n - done : s->p.max_batch;
        chunk_out o = plan_seq0_chunk(s, e, done, chunk, done + chunk == n);
        for (int t = 0; t < chunk; t++) {
            s->row_seq[t] = 0;
            s->row_pos[t] = seq->n_past + t;
        }
        rc = eval_chunk(s, tokens + done, chunk, &o);
        if (rc) {
            seq->n_past = start; /* a failed eval leaves the sequence as it was */
            return rc;
        }
        done += chunk;
    }
    return 0;
}

int bn_state_eval(bn_state *s, const int32_t *tokens, int n, float *logits, bool all_logits) {
    return eval_seq0(s, tokens, n, &(seq0_eval){.out = logits, .all_rows = all_logits});
}

int bn_state_eval_head(bn_state *s, const int32_t *tokens, int n, float *logits, const bn_head_req *req) {
    return eval_seq0(s, tokens, n, &(seq0_eval){.out = logits, .req = req});
}

int bn_state_eval_hidden(bn_state *s, const int32_t *tokens, int n, float *hidden) {
    if (!hidden) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "eval_hidden: hidden is NULL");
    return eval_seq0(s, tokens, n, &(seq0_eval){.out = hidden, .all_rows = true, .hidden = true});
}

bn_head_stats bn_state_head_stats(const bn_state *s) {
    bn_head_stats none = {0};
    return s->screen ? *bn_screen_ctx_stats(s->screen) : none;
}

/* Rows of one sequence must be consecutive and fit its context. */
static int plan_rows(bn_state *s, const bn_batch_row *rows, int n, chunk_out *o) {
    int64_t next_pos[BN_MAX_SEQ];
    bool done_seq[BN_MAX_SEQ] = {false};
    for (int t = 0; t < n; t++) {
        int q = rows[t].seq;
        if (q < 0 || q >= s->p.n_seq) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "row %d: sequence %d of %d", t, q, s->p.n_seq);
        bool starts = t == 0 || rows[t - 1].seq != q;
        if (starts && done_seq[q]) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "row %d: the rows of sequence %d are not consecutive", t, q);
        if (starts) {
            if (t > 0) done_seq[rows[t - 1].seq] = true;
            next_pos[q] = s->seqs[q].n_past;
        }
        if (next_pos[q] >= s->n_ctx)
            return bn_error(BITNET_ERR_CONTEXT_EXCEEDED, "sequence %d: context of %lld positions is full", q, (long long)s->n_ctx);
        s->row_seq[t] = q;
        s->row_pos[t] = next_pos[q]++;
        if (rows[t].logits) {
            s->logit_req[o->n_logits] = rows[t].head;
            s->logit_rows[o->n_logits++] = t;
        }
        if (rows[t].hidden) s->hidden_rows[o->n_hidden++] = t;
    }
    return 0;
}

int bn_state_eval_rows(bn_state *s, const bn_batch_row *rows, int n, float *logits, float *hidden) {
    if (!s || !rows || n < 1 || n > s->p.max_batch)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "eval_rows: %d rows (1..%d)", n, s ? s->p.max_batch : 0);
    for (int t = 0; t < n; t++) s->row_tok[t] = rows[t].token;
    chunk_out o = {.logits = logits, .hidden = hidden};
    int rc = check_tokens(s, s->row_tok, n);
    if (!rc) rc = plan_rows(s, rows, n, &o);
    if (!rc && o.n_hidden > 0 && !hidden) rc = bn_error(BITNET_ERR_INVALID_ARGUMENT, "eval_rows: rows want hidden states but hidden is NULL");
    if (rc) return rc;
    return eval_chunk(s, s->row_tok, n, &o);
}
