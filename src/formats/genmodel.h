/* genmodel: random-weight BitNet models for tests and benchmarks.
 *
 * Weights are ternary values times a per-tensor scale of about 1/sqrt(fan_in) (rounded to
 * f16 so that every weight type represents it exactly), norms near 1, embeddings of RMS 0.1 so
 * that logits are not flat yet the layers drive the output. Each tensor's values come from its own stream seeded by
 * (seed, tensor name): the same seed and shapes give the same model whatever the weight type,
 * so files of different types can be compared. The scale matters: with O(1) scales attention
 * turns one-hot and two correct implementations part ways on rounding alone. */
#ifndef BITNET_GENMODEL_H
#define BITNET_GENMODEL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct bn_genmodel_params {
    const char *arch;          /* "bitnet" | "bitnet-b1.58" | "bitnet-25" | "llama" (no sub-norms) */
    int64_t hidden, layers, heads, kv_heads, ffn;
    int64_t vocab_size;        /* synthetic SentencePiece-style vocabulary (>= 260), or 0 with vocab_from */
    const char *vocab_from;    /* copy tokenizer.* keys from this GGUF (its token count = vocab) */
    uint32_t wtype;            /* GGUF type of the layer matrices */
    uint32_t etype;            /* GGUF type of the token embedding (and output.weight) */
    int64_t ctx;               /* context_length key */
    float rope_base;
    uint64_t seed;
    bool output_weight;        /* write a separate output.weight (else the head is tied) */
    bool scale_tensors;        /* write 1-element blk.N.<name>.scale tensors (architecture bitnet) */
    bool transposed_embedding; /* store token_embd as [vocab, hidden] */
    bool in_norms;             /* write blk.N.<linear>_in_norm.weight [in] (model.h; llama layout) */
    bool rope_freqs;           /* write rope_freqs.weight [head_dim/2], factors in [1, 4] (Llama-3 style) */
    float rope_scale;          /* > 0: rope.scaling.type "linear" with this rope.scaling.factor; 0: no keys */
} bn_genmodel_params;

void bn_genmodel_default_params(bn_genmodel_params *p);
/* Writes the model to path. Returns 0 or a negative status with bn_error set. */
int bn_genmodel_write(const bn_genmodel_params *p, const char *path);

#endif
