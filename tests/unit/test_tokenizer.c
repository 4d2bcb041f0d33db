/* Tests for src/tokenizer*.c on hand-made vocabularies: BPE merges by rank, pre-tokenizer
 * splits, special tokens, BOS/EOS, SentencePiece scores and byte fallback, pieces, the
 * streaming detokenizer, buffer-too-small paths, and malformed GGUF metadata.
 * (Parity with llama.cpp on real vocabularies: tests/scripts/test_tokenizer_parity.sh.) */
#include <stdint.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "test.h"
#include "text/tokenizer.h"
#include "text/tokenizer_impl.h"
#include "util.h"

static bn_vocab_spec spec_init(bn_vocab_kind kind, const char *const *tokens, uint32_t *lens, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) lens[i] = (uint32_t)strlen(tokens[i]);
    bn_vocab_spec s = {0};
    s.kind = kind;
    s.n_tokens = n;
    s.tokens = tokens;
    s.token_lens = lens;
    s.bos_id = s.eos_id = s.unk_id = s.eot_id = s.eom_id = s.pad_id = -1;
    s.add_bos = s.add_eos = s.add_space_prefix = -1;
    return s;
}

/* A tiny byte-level BPE vocabulary ("Ġ" is GPT-2's character for the space byte). */
static const char *const bpe_tokens[] = {
    "a", "b", "c", "\xC4\xA0", "ab", "abc", "\xC4\xA0" "a", "<|eot|>", "<user>", "bc",
    "<s>", "1", "2", "3", "12", "\xC4\xA0" "ab",
};
enum { A, B, C, SP, AB, ABC, SPA, EOT, USER, BC, BOS, D1, D2, D3, D12, SPAB, N_BPE };
static const char *const bpe_merges[] = {"a b", "ab c", "\xC4\xA0 a", "b c", "1 2", "\xC4\xA0 ab"};
static const int32_t bpe_types[N_BPE] = {1, 1, 1, 1, 1, 1, 1, 3, 4, 1, 3, 1, 1, 1, 1, 1};

static bn_tokenizer *make_bpe(bn_pre_tokenizer pre, int add_bos) {
    static uint32_t lens[N_BPE], mlens[6];
    bn_vocab_spec s = spec_init(BN_VOCAB_BPE, bpe_tokens, lens, N_BPE);
    for (int i = 0; i < 6; i++) mlens[i] = (uint32_t)strlen(bpe_merges[i]);
    s.n_merges = 6;
    s.merges = bpe_merges;
    s.merge_lens = mlens;
    s.token_types = bpe_types;
    s.bos_id = BOS;
    s.eos_id = EOT;
    s.add_bos = add_bos;
    bn_tokenizer_options opt = {pre};
    return bn_tokenizer_build(&s, &opt);
}

static int tok(const bn_tokenizer *t, const char *text, bool add_special, bool parse_special, int32_t *out) {
    return bn_tokenize(t, text, strlen(text), add_special, parse_special, out, 64);
}

#define CHECK_IDS(t, text, add, parse, ...)                                             \
    do {                                                                               \
        int32_t got_[64], want_[] = {__VA_ARGS__};                                     \
        int n_ = tok(t, text, add, parse, got_);                                       \
        int nw_ = (int)(sizeof want_ / sizeof want_[0]);                               \
        CHECK_MSG(n_ == nw_ && memcmp(got_, want_, sizeof want_) == 0,                 \
                  "'%s': got %d ids (first %d), want %d", text, n_, n_ > 0 ? got_[0] : -1, nw_); \
    } while (0)

TEST(bpe_merges_by_rank) {
    bn_tokenizer *t = make_bpe(BN_PRE_DEFAULT, 0);
    CHECK(t != NULL);
    if (!t) return;
    CHECK_IDS(t, "abc", false, false, ABC);     /* a b (rank 0) before b c (rank 3), then ab c */
    CHECK_IDS(t, "bc", false, false, BC);
    CHECK_IDS(t, "ab ab", false, false, AB, SPAB); /* " ab": a b (rank 0) beats Ġ a (rank 2) */
    CHECK_IDS(t, "ba", false, false, B, A);     /* no merge for (b, a) */
    CHECK_IDS(t, "abd", false, false, AB);      /* 'd' is not in the vocabulary: dropped */
    int32_t out[4];
    CHECK_EQ_INT(bn_tokenize(t, "", 0, false, false, out, 4), 0);
    bn_tokenizer_free(t);
}

TEST(default_pretokenizer_digits) {
    bn_tokenizer *t = make_bpe(BN_PRE_DEFAULT, 0);
    if (!t) return;
    /* default: "123" is a digit triple word; 12 merges inside "12" */
    CHECK_IDS(t, "12", false, false, D12);
    CHECK_IDS(t, "1231", false, false, D12, D3, D1);
    bn_tokenizer_free(t);
}

TEST(pretokenizer_splits) {
    /* LLaMA-3: numbers in groups of 3, letters with one leading non-letter, case-insensitive
     * contractions, newline runs. */
    uint32_t cps[32];
    const char *text = "I'LL pay 12345 now\n\n  ok";
    size_t n = 0;
    for (const char *p = text; *p; p++) cps[n++] = (uint8_t)*p;
    size_t *lens = NULL, n_lens = 0, cap = 0;
    CHECK(bn_pretokenize(BN_PRE_LLAMA3, cps, n, &lens, &n_lens, &cap));
    /* I | 'LL | " pay" | " " | 123 | 45 | " now" | "\n\n" | " " | " ok" */
    size_t want_llama3[] = {1, 3, 4, 1, 3, 2, 4, 2, 1, 3};
    CHECK_EQ_INT(n_lens, sizeof want_llama3 / sizeof want_llama3[0]);
    if (n_lens == sizeof want_llama3 / sizeof want_llama3[0])
        CHECK(memcmp(lens, want_llama3, sizeof want_llama3) == 0);
    /* default: "'LL" is not a contraction (case-sensitive); digits: 123 | 45 */
    CHECK(bn_pretokenize(BN_PRE_DEFAULT, cps, n, &lens, &n_lens, &cap));
    size_t total = 0;
    for (size_t i = 0; i < n_lens; i++) total += lens[i];
    CHECK_EQ_INT(total, n);
    CHECK(n_lens >= 10);
    free(lens);
}

TEST(special_tokens) {
    bn_tokenizer *t = make_bpe(BN_PRE_DEFAULT, 1);
    if (!t) return;
    CHECK_IDS(t, "a<|eot|>b", false, true, A, EOT, B);
    /* without parse_special a control token's text is ordinary text ('<' '|' are not tokens) */
    int32_t out[64];
    int n = tok(t, "a<|eot|>b", false, false, out);
    int has_eot = 0;
    for (int i = 0; i < n; i++) has_eot |= out[i] == EOT;
    CHECK(n >= 2 && !has_eot);
    /* user-defined tokens are split out even without parse_special */
    CHECK_IDS(t, "a<user>abc", false, false, A, USER, ABC);
    /* add_special adds BOS (add_bos_token = 1); no EOS (add_eos absent -> false) */
    CHECK_IDS(t, "abc", true, false, BOS, ABC);
    CHECK_IDS(t, "", true, false, BOS);
    CHECK(bn_tokenizer_is_eog(t, EOT));
    CHECK(!bn_tokenizer_is_eog(t, A));
    CHECK_EQ_INT(bn_tokenizer_bos(t), BOS);
    CHECK_EQ_INT(bn_tokenizer_eos(t), EOT);
    CHECK_EQ_INT(bn_tokenizer_n_vocab(t), N_BPE);
    bn_tokenizer_free(t);
}

TEST(buffer_too_small) {
    bn_tokenizer *t = make_bpe(BN_PRE_DEFAULT, 1);
    if (!t) return;
    int32_t out[2] = {-7, -7};
    /* <s> ab | Ġ b a (no merges for Ġb or ba): 5 ids needed */
    CHECK_EQ_INT(bn_tokenize(t, "ab ba", 5, true, false, out, 2), -5);
    CHECK_EQ_INT(bn_tokenize(t, "ab ba", 5, true, false, NULL, 0), -5);
    CHECK_EQ_INT(out[0], -7); /* nothing written */
    CHECK_EQ_INT(bn_tokenize(t, NULL, 3, true, false, out, 2), BN_TOKENIZER_FAILED);
    char buf[8];
    CHECK_EQ_INT(bn_token_to_piece(t, SPAB, true, buf, 2), -3);
    CHECK_EQ_INT(bn_token_to_piece(t, SPAB, true, buf, 3), 3);
    CHECK(memcmp(buf, " ab", 3) == 0);
    CHECK_EQ_INT(bn_token_to_piece(t, EOT, false, buf, 8), 0);
    CHECK_EQ_INT(bn_token_to_piece(t, EOT, true, buf, 8), 7);
    CHECK_EQ_INT(bn_token_to_piece(t, N_BPE, true, buf, 8), BN_TOKENIZER_FAILED);
    CHECK_EQ_INT(bn_token_to_piece(t, -1, true, buf, 8), BN_TOKENIZER_FAILED);
    bn_tokenizer_free(t);
}

/* A tiny SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens, then pieces. */
enum { UNK, SBOS, SEOS, BYTE0, WB = BYTE0 + 256, H, I, WH, HI, WHI, N_SPM };

static bn_tokenizer *make_spm(void) {
    static char names[256][7];
    static const char *tokens[N_SPM];
    static uint32_t lens[N_SPM];
    static float scores[N_SPM];
    static int32_t types[N_SPM];
    tokens[UNK] = "<unk>", tokens[SBOS] = "<s>", tokens[SEOS] = "</s>";
    types[UNK] = 2, types[SBOS] = 3, types[SEOS] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(names[b], sizeof names[b], "<0x%02X>", b);
        tokens[BYTE0 + b] = names[b];
        types[BYTE0 + b] = 6;
    }
    const char *pieces[] = {"\xE2\x96\x81", "h", "i", "\xE2\x96\x81h", "hi", "\xE2\x96\x81hi"};
    const float piece_scores[] = {-5, -6, -7, -1, -2, -3};
    for (int i = 0; i < 6; i++) {
        tokens[WB + i] = pieces[i];
        scores[WB + i] = piece_scores[i];
        types[WB + i] = 1;
    }
    bn_vocab_spec s = spec_init(BN_VOCAB_SPM, tokens, lens, N_SPM);
    s.scores = scores;
    s.token_types = types;
    return bn_tokenizer_build(&s, NULL);
}

TEST(spm_scores_and_byte_fallback) {
    bn_tokenizer *t = make_spm();
    CHECK(t != NULL);
    if (!t) return;
    CHECK_EQ_INT(bn_tokenizer_bos(t), SBOS); /* SPM defaults: bos 1, eos 2, add_bos */
    CHECK_EQ_INT(bn_tokenizer_eos(t), SEOS);
    CHECK_IDS(t, "hi", true, false, SBOS, WHI);       /* ▁h (-1) first, then ▁hi */
    CHECK_IDS(t, "h\xC3\xA9", false, false, WH, BYTE0 + 0xC3, BYTE0 + 0xA9);
    CHECK_IDS(t, "hi hi", false, false, WHI, WHI);
    CHECK_IDS(t, "<s>hi", false, true, SBOS, WHI);    /* space prefix after a special token */
    char buf[8];
    CHECK_EQ_INT(bn_token_to_piece(t, WHI, false, buf, 8), 3);
    CHECK(memcmp(buf, " hi", 3) == 0);
    CHECK_EQ_INT(bn_token_to_piece(t, BYTE0 + 'A', false, buf, 8), 1);
    CHECK_EQ_INT(buf[0], 'A');
    bn_tokenizer_free(t);
}

TEST(streaming_detokenizer) {
    bn_tokenizer *t = make_spm();
    if (!t) return;
    bn_detok_stream *s = bn_detok_stream_new(t, false);
    size_t n;
    const char *p = bn_detok_stream_push(s, WH, &n);
    CHECK(p && n == 2 && memcmp(p, " h", 2) == 0);
    p = bn_detok_stream_push(s, BYTE0 + 0xE2, &n); /* first byte of a 3-byte character */
    CHECK(p && n == 0);
    p = bn_detok_stream_push(s, BYTE0 + 0x82, &n);
    CHECK(p && n == 0);
    p = bn_detok_stream_push(s, BYTE0 + 0xAC, &n); /* € complete */
    CHECK(p && n == 3 && memcmp(p, "\xE2\x82\xAC", 3) == 0);
    p = bn_detok_stream_push(s, BYTE0 + 0x80, &n); /* stray continuation: passed through */
    CHECK(p && n == 1);
    p = bn_detok_stream_push(s, BYTE0 + 0xF0, &n);
    CHECK(p && n == 0);
    p = bn_detok_stream_push(s, SBOS, &n);         /* control, not rendered */
    CHECK(p && n == 0);
    p = bn_detok_stream_push(s, N_SPM + 5, &n);    /* invalid id */
    CHECK(p == NULL);
    p = bn_detok_stream_flush(s, &n);              /* the held lead byte comes out at the end */
    CHECK(p && n == 1 && (uint8_t)p[0] == 0xF0);
    p = bn_detok_stream_flush(s, &n);
    CHECK(p && n == 0);
    bn_detok_stream_free(s);
    bn_tokenizer_free(t);
}

/* ---- malformed GGUF metadata ---- */

static const char *tmp_gguf(void) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/test_tokenizer_%d.gguf", (int)getpid());
    return path;
}

/* Writes a GGUF with the given tokenizer keys and tries to load it. */
static bn_tokenizer *load_with(const char *model, bool merges, int n_types, const char *pre) {
    static const char *const tokens[] = {"a", "b", "ab"};
    static const char *const merge_list[] = {"a b"};
    static const int32_t types[] = {1, 1, 1, 1};
    gguf_writer *w = gguf_writer_new();
    if (model) gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 3);
    if (merges) gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merge_list, 1);
    if (n_types >= 0) gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n_types);
    if (pre) gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    int rc = gguf_writer_write(w, tmp_gguf());
    gguf_writer_free(w);
    if (rc) return NULL;
    gguf_file *f = gguf_open(tmp_gguf());
    bn_tokenizer *t = f ? bn_tokenizer_load(f, NULL) : NULL;
    gguf_close(f);
    unlink(tmp_gguf());
    return t;
}

TEST(malformed_metadata_fails_cleanly) {
    bn_tokenizer *t = load_with("gpt2", true, 3, NULL);
    CHECK(t != NULL); /* the well-formed baseline loads and works, with no pointer into the file */
    if (t) {
        int32_t out[4];
        CHECK_EQ_INT(bn_tokenize(t, "ab", 2, false, false, out, 4), 1);
        CHECK_EQ_INT(out[0], 2);
        CHECK_EQ_INT(bn_tokenizer_pre(t), BN_PRE_DEFAULT);
    }
    bn_tokenizer_free(t);

    CHECK(load_with("gpt2", false, 3, NULL) == NULL);
    CHECK(strstr(bn_last_error_message(), "merges") != NULL);
    CHECK(load_with("gpt2", true, 2, NULL) == NULL);
    CHECK(strstr(bn_last_error_message(), "token_type") != NULL);
    CHECK(load_with(NULL, true, 3, NULL) == NULL);
    CHECK(strstr(bn_last_error_message(), "tokenizer.ggml.model") != NULL);
    CHECK(load_with("bert", true, 3, NULL) == NULL);
    CHECK(strstr(bn_last_error_message(), "bert") != NULL);
    CHECK(load_with("gpt2", true, 3, "qwen2") == NULL);
    CHECK(strstr(bn_last_error_message(), "qwen2") != NULL);
    bn_tokenizer *l3 = load_with("gpt2", true, 3, "llama-bpe");
    CHECK(l3 && bn_tokenizer_pre(l3) == BN_PRE_LLAMA3 && bn_tokenizer_add_bos(l3));
    bn_tokenizer_free(l3);
}

TEST(duplicate_tokens_rejected) {
    const char *const tokens[] = {"a", "a"};
    uint32_t lens[2];
    bn_vocab_spec s = spec_init(BN_VOCAB_SPM, tokens, lens, 2);
    CHECK(bn_tokenizer_build(&s, NULL) == NULL);
    CHECK(strstr(bn_last_error_message(), "same text") != NULL);
}

TEST_MAIN_BEGIN("test_tokenizer")
RUN(bpe_merges_by_rank);
RUN(default_pretokenizer_digits);
RUN(pretokenizer_splits);
RUN(special_tokens);
RUN(buffer_too_small);
RUN(spm_scores_and_byte_fallback);
RUN(streaming_detokenizer);
RUN(malformed_metadata_fails_cleanly);
RUN(duplicate_tokens_rejected);
TEST_MAIN_END()
