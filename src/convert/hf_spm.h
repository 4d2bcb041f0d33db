/* hf_spm: SentencePiece tokenizer.model (a protobuf ModelProto) -> GGUF tokenizer.* keys of
 * llama.cpp's "llama" (SentencePiece BPE) vocabulary.
 *
 * ModelProto fields read (sentencepiece_model.proto): 1 pieces (repeated message: 1 piece
 * string, 2 score float, 3 type enum NORMAL 1 / UNKNOWN 2 / CONTROL 3 / USER_DEFINED 4 /
 * UNUSED 5 / BYTE 6, the same numbers as GGUF token types), 2 trainer_spec (3 model_type:
 * UNIGRAM 1 (the default) / BPE 2 / WORD 3 / CHAR 4; 4 vocab_size, checked against the
 * piece count; 40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id),
 * 3 normalizer_spec (3 add_dummy_prefix, default true). Other fields are skipped by wire type.
 * Only BPE models are accepted (this engine's SentencePiece tokenizer is llama.cpp's BPE one). */
#ifndef BITNET_HF_SPM_H
#define BITNET_HF_SPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct spm_piece {
    const char *text;   /* into the input, not NUL-terminated */
    uint32_t len;
    float score;
    int32_t type;
} spm_piece;

typedef struct spm_model {
    spm_piece *pieces;
    size_t n;
    int32_t model_type;
    int64_t vocab_size;     /* trainer_spec field 4; 0 when absent */
    int32_t unk_id, bos_id, eos_id, pad_id;
    bool add_dummy_prefix;
} spm_model;

/* Parses a tokenizer.model held in data[0, size). 0 or BITNET_ERR_LOAD_FAILED /
 * UNSUPPORTED with "<name>: offset N: what". Pieces point into data. */
int spm_parse(const uint8_t *data, size_t size, const char *name, spm_model *out);
void spm_free(spm_model *m);

#endif
