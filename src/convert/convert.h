/* convert: Hugging Face checkpoint folder -> GGUF (`bitnet convert`).
 *
 * Reads the folder through hf.h (config.json, safetensors shards) and hf_tokenizer.h, and
 * writes a GGUF for the family's architecture (hf.h): bitnet-b1.58 / bitnet with NEOX RoPE and
 * Q/K as stored, or llama (normal RoPE: Q and K rows permuted per head, each head's first half
 * interleaved with its second, as llama.cpp's converter does).
 * Ternary linears: packed U8 [out/4, in] (ternary row r + i*out/4 in bits 2i..2i+1 of packed
 * row r, value = code - 1) times weight_scale (AutoBitLinear: multiplies; BitLinear of the
 * LLaMA family: divides, so 1/weight_scale is folded in), or float masters ternarized with the
 * absmean rule (retype.h). LLaMA-family per-linear input RMSNorms (<proj>.rms_norm.weight) are
 * written as blk.N.<linear>_in_norm.weight (F32 [in_features]; eps = the model's rms eps).
 * Norms become F32, the embedding and an untied head the head type (F16 by default).
 * Any checkpoint tensor the conversion did not use is refused, as is any config it does not
 * understand; the output is written to OUT.tmp and renamed, so OUT is never half-written. */
#ifndef BITNET_CONVERT_H
#define BITNET_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#define BN_CONVERT_AUTO_TYPE UINT32_MAX

typedef struct bn_convert_params {
    const char *hf_dir;
    const char *out_path;
    uint32_t wtype;             /* ternary linears: i2_s/tq2_0/tq1_0/f16/bf16/f32, or AUTO:
                                   i2_s for bitnet-b1.58, tq2_0 otherwise */
    uint32_t head_type;         /* embedding / untied head: f16 (default), q8_0, f32 */
    const char *vocab_from;     /* copy tokenizer.* keys from this GGUF instead of tokenizer.json */
    const char *tokenizer_pre;  /* NULL (detect) or "default" */
    void (*progress)(int done, int total, const char *name, void *user);
    void *user;
} bn_convert_params;

void bn_convert_default_params(bn_convert_params *p);

/* What one class of tensors became. */
typedef struct bn_convert_class {
    const char *name;           /* "ternary linears", "norms", ... */
    int count;
    char source[96];            /* e.g. "packed U8 x weight_scale (multiplies)" */
    uint32_t type;              /* output type */
    uint64_t bytes;
    double max_scale_err;       /* largest relative rounding of a ternary scale */
} bn_convert_class;

#define BN_CONVERT_CLASSES 6

typedef struct bn_convert_report {
    const char *family;         /* hf.h family name */
    const char *arch;           /* GGUF architecture written */
    int64_t n_vocab, n_layer;
    bn_convert_class classes[BN_CONVERT_CLASSES];
    char tokenizer[256];        /* one line about the tokenizer */
} bn_convert_report;

/* Converts; 0 or a negative status with bn_error set (nothing written then). */
int bn_convert(const bn_convert_params *p, bn_convert_report *rep);

/* GGUF general.file_type for a weight type (llama.cpp's numbering; 40 = bitnet.cpp's I2_S). */
uint32_t bn_file_type_for(uint32_t wtype);

#endif
