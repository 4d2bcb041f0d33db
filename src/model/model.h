/* model: binds a GGUF file to a BitNet model: architecture, hyper-parameters (from
 * `<arch>.*` keys with llama.cpp's defaults where absent), every weight with its shape checked,
 * the tied or separate LM head, and the (possibly transposed) token embedding.
 *
 * Architectures (FORMATS.md): "bitnet-b1.58" and its first name "bitnet-25" use the
 * ReLU-squared FFN gate (Microsoft's 2B-4T); "bitnet" uses SiLU (upstream llama.cpp); all three
 * have sub-norms and NEOX RoPE. "llama" (ternary Llama-3 / Falcon3 / Falcon-E conversions):
 * SiLU, no sub-norms, NORMAL RoPE (adjacent pairs, llama.cpp's rope type for it), optional
 * rope_freqs.weight (Llama-3 frequency factors) and optional per-linear input norms
 * blk.N.<linear>_in_norm.weight [in] (F32: h = RMSNorm(x) * w before that linear's
 * activation quantization; the Falcon-E layout, written by `bitnet convert`). */
#ifndef BITNET_MODEL_H
#define BITNET_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/gguf.h"
#include "model/linear.h"

typedef enum bn_ffn_act { BN_FFN_SILU, BN_FFN_RELU2 } bn_ffn_act;
/* NEOX: dimension i pairs with i + n_rot/2; NORM: dimension 2i pairs with 2i + 1. */
typedef enum bn_rope_type { BN_ROPE_NEOX, BN_ROPE_NORM } bn_rope_type;

/* The seven matrices of a layer, in this order wherever they are listed. */
enum { BN_LIN_Q, BN_LIN_K, BN_LIN_V, BN_LIN_O, BN_LIN_GATE, BN_LIN_UP, BN_LIN_DOWN, BN_LIN_COUNT };
extern const char *const bn_linear_names[BN_LIN_COUNT]; /* "attn_q", ..., "ffn_down" */

typedef struct bn_hparams {
    char arch[32];           /* general.architecture */
    bn_ffn_act ffn_act;
    int64_t n_vocab;         /* rows of the token embedding */
    int64_t n_ctx_train;     /* <arch>.context_length */
    int64_t n_embd;          /* hidden size */
    int64_t n_layer;
    int64_t n_ff;
    int64_t n_head, n_head_kv, head_dim;
    int64_t n_rot;           /* rotated dims per head (<arch>.rope.dimension_count) */
    float rms_eps;
    float rope_base;
    float rope_freq_scale;   /* 1 / <arch>.rope.scaling.factor (linear scaling), 1 when absent */
    bn_rope_type rope_type;
    bool sub_norms;          /* attn_sub_norm / ffn_sub_norm in every layer (bitnet archs) */
    /* Which values came from defaults rather than keys (for compat-check). */
    bool default_ctx, default_eps, default_rope_base, default_head_kv, default_rot;
} bn_hparams;

typedef struct bn_layer {
    const float *attn_norm;      /* [n_embd] */
    const float *attn_sub_norm;  /* [n_head * head_dim] */
    const float *ffn_norm;       /* [n_embd] */
    const float *ffn_sub_norm;   /* [n_ff] */
    const float *in_norm[BN_LIN_COUNT]; /* [in of that matrix] each, NULL when absent */
    bool has_in_norms;           /* any of in_norm is set */
    bn_linear wq;                /* [n_embd] -> [n_head * head_dim] */
    bn_linear wk, wv;            /* [n_embd] -> [n_head_kv * head_dim] */
    bn_linear wo;                /* [n_head * head_dim] -> [n_embd] */
    bn_linear ffn_gate, ffn_up;  /* [n_embd] -> [n_ff] */
    bn_linear ffn_down;          /* [n_ff] -> [n_embd] */
} bn_layer;

typedef struct bn_model {
    gguf_file *file;
    bn_hparams hp;
    bn_linear tok_embd;          /* n_vocab rows of n_embd (materialised as F32 when stored transposed) */
    bool embd_transposed;
    bn_linear output;            /* LM head: output.weight, or a copy of tok_embd's binding when tied */
    bool tied_head;
    const float *output_norm;    /* [n_embd] */
    const float *rope_freqs;     /* [n_rot/2] frequency factors (theta_i / f_i), or NULL */
    bn_layer *layers;            /* [n_layer] */
    uint32_t weight_type;        /* type of the layer matrices (the most common one) */
    bool all_ternary;            /* every layer matrix is ternary */
    float *owned_f32;            /* norms converted from F16/BF16, freed with the model */
    uint64_t weight_bytes;       /* bytes of tensor data in the file */
    double load_seconds;
    double pack_seconds;         /* part of load_seconds spent repacking ternary weights */
    uint64_t packed_bytes;       /* bytes of repacked ternary weights (kernels' tiles) */
    uint8_t *tiles_arena;        /* the tiles' codes of every packed matrix (huge pages; pack_all), or NULL */
    uint64_t tiles_arena_bytes;
    bool lm_head_q8;             /* output is an 8-bit (Q8_0) copy made at load */
    struct bn_head_screen *screen; /* the screened head's 8-bit copy of output (head_screen.h), or NULL */
} bn_model;

/* Load progress: fn(fraction, user) on the loading thread, fractions increasing in [0, 1),
 * while the weights are repacked (most of a load). */
typedef struct bn_progress {
    void (*fn)(float fraction, void *user);
    void *user;
} bn_progress;

/* Opens and binds `path`. Returns 0 and *out, or a negative status with bn_error set
 * ("<path>: <what>"). `progress` may be NULL. */
int bn_model_load(const char *path, bn_model **out);
int bn_model_load_progress(const char *path, const bn_progress *progress, bn_model **out);
/* Binds an already opened file (takes ownership of f, also on failure). */
int bn_model_bind(gguf_file *f, bn_model **out);
void bn_model_free(bn_model *m); /* NULL ok */

/* Replaces the LM head by a Q8_0 copy quantized from its F32/F16/BF16 weights (the tied
 * embedding stays as it is for the input side). n_embd must be a multiple of 32. Returns 0
 * or a negative status with bn_error set. */
int bn_model_quantize_head_q8(bn_model *m);

/* Builds the screened head's 8-bit copy of the LM head (head_screen.h) in parallel; the plain
 * head stays for the candidate rows. Returns 0 or a negative status with bn_error set
 * (BITNET_ERR_UNSUPPORTED when the head cannot be screened: its type, its width, an output
 * scale). */
int bn_model_screen_head(bn_model *m);

/* Bytes of weights one generated token reads: every layer matrix (its repacked tiles when
 * packed, else its tensor bytes), the LM head (the screened head's copy when there is one: the
 * candidate rows come on top), and one embedding row. */
uint64_t bn_model_token_read_bytes(const bn_model *m);
/* The same matrices at their size in the file (the bytes an engine that reads the file's
 * layout in place, like llama.cpp, reads per token for the same head). */
uint64_t bn_model_token_file_bytes(const bn_model *m);

/* True when the architecture string is one this engine runs. */
bool bn_arch_supported(const char *arch);

/* Reads the hyper-parameters only (used by compat-check for a clear report even when tensors
 * are missing). Returns 0 or a negative status. */
int bn_read_hparams(const gguf_file *f, bn_hparams *hp);

/* Bytes of an f32 KV cache of n_ctx positions. */
uint64_t bn_kv_cache_bytes(const bn_hparams *hp, int64_t n_ctx);

#endif
