/* fuzz_kld_base: libFuzzer target for the reader of `perplexity --kl-divergence-base` files
 * (llama.cpp's layout; src/debug/perplexity.h), used the way cmd_perplexity.c uses it: the
 * header and size check, the token check, then every record of every window added against a
 * fixed logits row (bn_kld_add) and summarized. Built and run by scripts/fuzz_kld_base.sh with
 * -fsanitize=fuzzer,address,undefined.
 *
 * The vocabulary is the header's when it is in 1..4096 (so that inputs can be accepted), else
 * 16. A refused input must leave a non-empty error with status LOAD_FAILED. An accepted one must
 * be exactly the size its header gives, with every token inside the vocabulary; its records
 * (any bits: NaN and infinite scales included) must go through bn_kld_add and the summary
 * without a sanitizer report, and the accumulator must count every record. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug/perplexity.h"
#include "util.h"

#define MAX_RECORDS 4096 /* records added per input (bounded time) */

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_kld_base: contract broken: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void check_refusal(void) {
    const char *msg = bn_last_error_message();
    if (!msg || !*msg) fail("input refused without an error message", NULL);
    if (bn_last_error_status() != BITNET_ERR_LOAD_FAILED) fail("unexpected status", msg);
}

static int64_t input_vocab(const uint8_t *data, size_t size) {
    int32_t v = 0;
    if (size >= BN_KLD_HEADER_BYTES) memcpy(&v, data + 12, sizeof v);
    return v >= 1 && v <= 4096 ? v : 16;
}

/* Every record of the accepted file against a fixed logits row; the target of record j of a
 * window is the token after its position (the second half of the window is scored). */
static void add_records(const uint8_t *data, const int32_t *tokens, int n_ctx, int n_chunk, int64_t n_vocab) {
    int64_t per = n_ctx - 1 - n_ctx / 2, len = bn_kld_record_len(n_vocab);
    const uint8_t *recs = data + BN_KLD_HEADER_BYTES + (uint64_t)n_ctx * (uint64_t)n_chunk * 4;
    float *logits = malloc(sizeof *logits * (size_t)n_vocab);
    uint16_t *rec = malloc(sizeof *rec * (size_t)len); /* aligned copy, as fread gives the CLI */
    if (!logits || !rec) fail("out of memory", NULL);
    for (int64_t i = 0; i < n_vocab; i++) logits[i] = (float)((i * 37) % 23) * 0.5f - 4.0f;
    bn_kld_acc acc = {0};
    int64_t added = 0;
    for (int c = 0; c < n_chunk && added < MAX_RECORDS; c++)
        for (int64_t j = 0; j < per && added < MAX_RECORDS; j++, added++) {
            memcpy(rec, recs + (uint64_t)(c * per + j) * (uint64_t)len * 2, (size_t)len * sizeof *rec);
            int32_t tok = tokens[(int64_t)c * n_ctx + n_ctx / 2 + j + 1];
            float kld, p_diff;
            bn_kld_add(&acc, logits, n_vocab, rec, tok, &kld, &p_diff);
        }
    if (acc.count != added || acc.same_top > acc.count) fail("the accumulator lost records", NULL);
    bn_kld_summary s;
    bn_kld_summarize(&acc, &s);
    free(logits);
    free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int64_t n_vocab = input_vocab(data, size);
    int n_ctx = 0, n_chunk = 0;
    if (bn_kld_base_check(data, size, n_vocab, &n_ctx, &n_chunk) != 0) {
        check_refusal();
        return 0;
    }
    uint64_t nt = (uint64_t)n_ctx * (uint64_t)n_chunk;
    int64_t per = n_ctx - 1 - n_ctx / 2;
    if (size != BN_KLD_HEADER_BYTES + nt * 4 + (uint64_t)n_chunk * (uint64_t)per * (uint64_t)bn_kld_record_len(n_vocab) * 2)
        fail("accepted a file whose size is not the header's", NULL);
    int32_t *tokens = malloc(sizeof *tokens * (size_t)nt);
    if (!tokens) fail("out of memory", NULL);
    memcpy(tokens, data + BN_KLD_HEADER_BYTES, (size_t)nt * sizeof *tokens);
    if (bn_kld_base_check_tokens(tokens, nt, n_vocab) != 0) check_refusal();
    else add_records(data, tokens, n_ctx, n_chunk, n_vocab);
    free(tokens);
    return 0;
}
