/* hf: a Hugging Face checkpoint folder as the converter reads it: config.json, the weights
 * (model.safetensors, or the shards listed by model.safetensors.index.json's weight_map) with a
 * record of which tensors the conversion used (so that anything it did not understand is
 * refused rather than dropped), and the family the config describes.
 *
 * Families (see ../shared/docs/FORMATS.md "Hugging Face checkpoints"):
 *   HF_B158    BitNetForCausalLM, hidden_act relu2 (microsoft/bitnet-b1.58-2B-4T, packed or bf16)
 *              -> GGUF arch bitnet-b1.58
 *   HF_BITNET  Bitnet(ForCausalLM), hidden_act silu (1bitLLM/bitnet_b1_58-large, -3B, FP16 masters)
 *              -> GGUF arch bitnet
 *   HF_LLAMA   LlamaForCausalLM with quantization_config.quant_method "bitnet" (HF1BitLLM
 *              Llama3-8B-1.58, tiiuae Falcon3-*-1.58bit, Falcon-E) -> GGUF arch llama */
#ifndef BITNET_HF_H
#define BITNET_HF_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/json.h"
#include "formats/safetensors.h"

typedef enum hf_family { HF_B158, HF_BITNET, HF_LLAMA } hf_family;

typedef struct hf_config {
    hf_family family;
    const char *gguf_arch;       /* "bitnet-b1.58" | "bitnet" | "llama" */
    const char *family_name;     /* for messages */
    int64_t vocab, hidden, layers, heads, kv_heads, ffn, ctx, head_dim;
    double rms_eps, rope_base;
    bool tied;                   /* tie_word_embeddings */
    bool scale_divides;          /* transformers' BitLinear: y = W_t x / weight_scale */
    bool packed_expected;        /* quantization_mode offline / BitLinear: U8 weights */
    bool linear_norms;           /* quantization_config.use_rms_norm */
    /* RoPE scaling (rope_scaling / rope_parameters): linear divides the positions by
     * rope_linear (0: none); llama3 (Llama 3.1's) divides each frequency by a factor from
     * these four, written as rope_freqs.weight (hf_llama3_rope_factors) */
    double rope_linear;
    bool rope_llama3;
    double llama3_factor, llama3_low_freq, llama3_high_freq, llama3_orig_ctx;
} hf_config;

typedef struct hf_checkpoint {
    char *dir;
    bn_json *config_json;
    hf_config cfg;
    st_file **shards;
    bool **used;                 /* per shard, per tensor */
    int n_shards;
} hf_checkpoint;

/* Opens DIR: reads config.json (family and hyper-parameters; refuses what it does not
 * recognise) and maps every safetensors shard. 0 or a negative status with bn_error set. */
int hf_open(const char *dir, hf_checkpoint **out);
void hf_close(hf_checkpoint *c);

/* Llama 3.1's RoPE frequency factors for c (rope_llama3): out[head_dim / 2], frequency i of
 * base^(-2i / head_dim) divided by out[i]: 1 above the high-frequency band, llama3_factor
 * below the low one, a smooth blend between (transformers' rope_type "llama3"). */
void hf_llama3_rope_factors(const hf_config *c, float *out);

/* The tensor `name` in any shard (marked used), or NULL. */
const st_tensor *hf_tensor(hf_checkpoint *c, const char *name);
/* Fails naming the first tensor no lookup used (checkpoint content the converter would drop). */
int hf_check_all_used(const hf_checkpoint *c);
/* Path DIR/name in a new string. */
char *hf_path(const char *dir, const char *name);
bool hf_file_exists(const char *dir, const char *name);

#endif
