/* hf_tokenizer: Hugging Face tokenizer files -> GGUF tokenizer.* keys.
 *
 * Supported: byte-level BPE tokenizer.json (model.type "BPE", no normalizer, pre-tokenizer
 * Split(LLaMA-3 regex) + ByteLevel(use_regex false), which becomes tokenizer.ggml.pre
 * "llama-bpe" as llama.cpp names it; another pre-tokenizer is refused unless the caller forces
 * "default", llama.cpp's default regex cascade). Vocabulary ids may leave gaps up to the model's
 * vocab size: they become "[PAD<id>]" tokens of type UNUSED, as llama.cpp's converter writes.
 * Merges in either the "a b" string or the ["a", "b"] pair form. Added tokens: special ->
 * CONTROL (3), others USER_DEFINED (4); vocabulary tokens NORMAL (1).
 * tokenizer_config.json: bos/eos/pad token names, add_bos_token, chat_template.
 * generation_config.json: eos_token_id (one id or a list): the first end-of-generation id that
 * is not the EOS becomes tokenizer.ggml.eot_token_id.
 * SentencePiece: tokenizer.model (BPE models, hf_spm.h) when there is no tokenizer.json or it
 * is the byte-fallback BPE transformers derives from it: llama.cpp's "llama" vocabulary
 * (pieces, scores, types; unk/bos/eos/pad from the trainer spec unless tokenizer_config.json
 * names others; add_space_prefix from add_dummy_prefix), plus tokenizer.json's added tokens. */
#ifndef BITNET_HF_TOKENIZER_H
#define BITNET_HF_TOKENIZER_H

#include <stdint.h>

#include "formats/gguf.h"

typedef struct hf_tokenizer_report {
    int64_t n_vocab, n_merges, n_added, n_pad;
    const char *pre;            /* what tokenizer.ggml.pre was set to */
    int32_t bos, eos, eot, unk, pad; /* -1 when not set */
    int chat_template;          /* 1 when a chat template was carried over */
} hf_tokenizer_report;

/* Reads DIR's tokenizer files and sets the tokenizer.* keys on w for a model of n_vocab
 * tokens. force_pre: NULL (detect) or "default". 0 or a negative status with bn_error set. */
int hf_tokenizer_write(const char *dir, int64_t n_vocab, const char *force_pre, gguf_writer *w,
                       hf_tokenizer_report *rep);

#endif
