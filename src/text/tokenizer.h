/* tokenizer: text <-> token ids for the two vocabulary kinds a BitNet GGUF can carry, with
 * llama.cpp's behaviour (ids identical to llama_tokenize; tests/scripts/test_tokenizer_parity.sh
 * checks it against the reference library):
 *
 *   tokenizer.ggml.model = "gpt2"   byte-level BPE: pre-tokenizer regex split, GPT-2 byte to
 *                                   unicode mapping, merges applied by rank
 *                                   (tokenizer.ggml.merges, "left right" strings).
 *   tokenizer.ggml.model = "llama"  SentencePiece-style BPE: spaces escaped as U+2581, pairs
 *                                   merged by token score, byte fallback to <0xNN> tokens.
 *
 * Pre-tokenizer (byte-level BPE only). llama.cpp picks it from tokenizer.ggml.pre: "llama3",
 * "llama-v3" and "llama-bpe" select the LLaMA-3 regex; a missing key or "default" selects
 * llama.cpp's default regex cascade. The official BitNet 2B-4T GGUF has NO pre key although its
 * vocabulary is LLaMA-3's and the model was trained with LLaMA-3's pre-tokenizer, so
 * BN_PRE_AUTO (the default) chooses:
 *   - the key's value when the key is present ("default", or a LLaMA-3 name; other names are
 *     refused as unsupported rather than tokenized wrongly);
 *   - when the key is absent: LLaMA-3 if the vocabulary is LLaMA-3's (it contains
 *     "<|begin_of_text|>" and has at least 128000 tokens), otherwise "default".
 * BN_PRE_DEFAULT reproduces llama.cpp/bitnet.cpp on such a file (what they do without the key);
 * BN_PRE_LLAMA3 forces the LLaMA-3 regex. As in llama.cpp, the LLaMA-3 pre-tokenizer also turns
 * on "ignore merges" (a pre-tokenized word that is itself a token is emitted whole) and makes
 * add_bos default to true; tokenizer.ggml.add_bos_token / add_eos_token override the defaults.
 * add_bos defaults: SPM true, BPE false (true with LLaMA-3); add_eos defaults to false.
 *
 * Special tokens: token_type 3 (control), 4 (user-defined) and 2 (unknown) are matched
 * literally in the text before anything else, longest first; with parse_special false only
 * user-defined ones are. Ids: bos/eos/unk/eot/eom/pad from tokenizer.ggml.*_token_id when in
 * range; otherwise SPM defaults bos 1, eos 2, unk 0 (llama.cpp's), BPE none (llama.cpp's BPE
 * default of 11 is not reproduced). eot, when no key names it, is the first of "<|eot_id|>",
 * "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>" present. End-of-generation ids:
 * eos, eot, eom and tokens whose text is one of those plus "<|eom_id|>".
 *
 * Malformed UTF-8 in the input is tokenized as U+FFFD per bad byte (BPE, like llama.cpp); SPM
 * works on raw bytes and falls back to byte tokens. Detokenization of BPE pieces maps the
 * GPT-2 characters back to bytes; a character outside that mapping is copied as its UTF-8.
 *
 * The tokenizer copies everything it needs at load: it keeps no pointer into the gguf_file.
 * A loaded tokenizer is immutable: concurrent bn_tokenize / bn_token_to_piece calls on one
 * tokenizer from several threads are safe. */
#ifndef BITNET_TOKENIZER_H
#define BITNET_TOKENIZER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"

typedef struct bn_tokenizer bn_tokenizer;

typedef enum bn_pre_tokenizer {
    BN_PRE_AUTO = 0,     /* see above */
    BN_PRE_DEFAULT = 1,  /* llama.cpp's default BPE regexes */
    BN_PRE_LLAMA3 = 2,   /* LLaMA-3's regex */
} bn_pre_tokenizer;

typedef struct bn_tokenizer_options {
    bn_pre_tokenizer pre;
} bn_tokenizer_options;

typedef enum bn_vocab_kind { BN_VOCAB_BPE = 1, BN_VOCAB_SPM = 2 } bn_vocab_kind;

/* Returned by bn_tokenize / bn_token_to_piece on a failure other than "buffer too small"
 * (invalid id or argument, out of memory); the last error says which. */
#define BN_TOKENIZER_FAILED INT_MIN

/* Loads the tokenizer.* keys of an open GGUF. NULL (last error set) when keys are missing or
 * malformed, the model kind is unknown, or the pre-tokenizer is not supported. opt may be NULL. */
bn_tokenizer *bn_tokenizer_load(const gguf_file *f, const bn_tokenizer_options *opt);
void bn_tokenizer_free(bn_tokenizer *t); /* NULL is accepted */

/* Tokenizes text[0..len). add_special adds BOS/EOS as the vocabulary asks; parse_special
 * turns control-token texts in the input into their ids. Returns the number of ids written;
 * when max_out is too small, writes nothing useful and returns -(ids needed) (like
 * llama_tokenize); BN_TOKENIZER_FAILED on failure. out may be NULL when max_out is 0. */
int bn_tokenize(const bn_tokenizer *t, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t *out, int max_out);

/* The bytes of one token (not NUL-terminated). Control/unknown tokens give "" unless
 * render_special. Returns bytes written, -(bytes needed) when cap is too small, or
 * BN_TOKENIZER_FAILED for an id out of range. */
int bn_token_to_piece(const bn_tokenizer *t, int32_t id, bool render_special, char *buf, int cap);

int32_t bn_tokenizer_n_vocab(const bn_tokenizer *t);
int32_t bn_tokenizer_bos(const bn_tokenizer *t); /* -1 when absent */
int32_t bn_tokenizer_eos(const bn_tokenizer *t);
int32_t bn_tokenizer_eot(const bn_tokenizer *t);
bool bn_tokenizer_is_eog(const bn_tokenizer *t, int32_t id);
bool bn_tokenizer_add_bos(const bn_tokenizer *t);
bool bn_tokenizer_add_eos(const bn_tokenizer *t);
bn_vocab_kind bn_tokenizer_kind(const bn_tokenizer *t);
/* The pre-tokenizer in force (BN_PRE_DEFAULT or BN_PRE_LLAMA3; BN_PRE_DEFAULT for SPM). */
bn_pre_tokenizer bn_tokenizer_pre(const bn_tokenizer *t);
/* The raw vocabulary text of a token (as stored: GPT-2 characters, U+2581 for spaces) and
 * its length; NULL for an id out of range. */
const char *bn_tokenizer_token_text(const bn_tokenizer *t, int32_t id, size_t *len);

/* Streaming detokenizer: push ids one at a time and get the bytes that are now complete
 * UTF-8; bytes of a character split across tokens are held back until its last byte
 * arrives. Bytes that can never complete (stray continuation bytes, a lead byte followed by a
 * non-continuation) are passed through, so the concatenation of everything returned by push
 * and flush equals the concatenation of the pieces exactly. */
typedef struct bn_detok_stream bn_detok_stream;

bn_detok_stream *bn_detok_stream_new(const bn_tokenizer *t, bool render_special);
void bn_detok_stream_free(bn_detok_stream *s); /* NULL is accepted */
/* Returns a pointer to the bytes now complete (valid until the next call on s) and stores
 * their count in *len (possibly 0); NULL on an invalid id or out of memory. */
const char *bn_detok_stream_push(bn_detok_stream *s, int32_t id, size_t *len);
/* Returns whatever is still held (an incomplete character at the end of the stream). */
const char *bn_detok_stream_flush(bn_detok_stream *s, size_t *len);

/* ---- building from arrays (what the GGUF loader does; also used by unit tests) ---- */

/* Everything a tokenizer is built from. Strings are pointer + length, need not be
 * NUL-terminated and are copied. Optional ids: -1 when absent from the file. Optional flags:
 * -1 when absent, else 0/1. */
typedef struct bn_vocab_spec {
    bn_vocab_kind kind;
    uint32_t n_tokens;
    const char *const *tokens;
    const uint32_t *token_lens;
    const float *scores;        /* NULL: all 0 */
    const int32_t *token_types; /* NULL: all normal (1) */
    uint32_t n_merges;          /* BPE only */
    const char *const *merges;
    const uint32_t *merge_lens;
    const char *pre;            /* tokenizer.ggml.pre; NULL when absent */
    size_t pre_len;
    int64_t bos_id, eos_id, unk_id, eot_id, eom_id, pad_id;
    int add_bos, add_eos, add_space_prefix;
} bn_vocab_spec;

bn_tokenizer *bn_tokenizer_build(const bn_vocab_spec *spec, const bn_tokenizer_options *opt);

#endif
