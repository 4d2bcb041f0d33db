/* Small generated models shared by the model-level unit tests (test_forward, test_lm_head):
 * shapes valid for every weight type (hidden and ffn multiples of 256), written with
 * bn_genmodel_write into the test's temp folder. */
#ifndef BITNET_TEST_MODELS_H
#define BITNET_TEST_MODELS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/genmodel.h"
#include "util.h"

/* 2 layers, hidden 256, 4 heads / 2 KV heads, ffn 512, vocab 300. */
static inline void test_small_model_params(bn_genmodel_params *p, const char *arch, uint32_t wtype, uint64_t seed) {
    bn_genmodel_default_params(p);
    p->arch = arch;
    p->hidden = 256;
    p->layers = 2;
    p->heads = 4;
    p->kv_heads = 2;
    p->ffn = 512;
    p->vocab_size = 300;
    p->wtype = wtype;
    p->seed = seed;
}

/* Writes the model; returns path, or NULL after printing why. */
static inline const char *test_write_model(const bn_genmodel_params *p, const char *path) {
    int rc = bn_genmodel_write(p, path);
    if (rc) fprintf(stderr, "gen %s: %s\n", path, bn_last_error_message());
    return rc ? NULL : path;
}

/* The default gen-model shapes with the reference's real LLaMA-3 vocabulary and context 256,
 * written to $BITNET_TEST_TMP/<tag>_<pid>.gguf (path into buf); exits the test program when
 * it cannot be written (every case of the API tests needs it). When the reference is not
 * fetched: a skipped `ok` line outside CI, a failure in CI. */
#define TEST_LLAMA3_VOCAB ".cache/reference/llama.cpp/models/ggml-vocab-llama-bpe.gguf"
static inline void test_write_vocab_model(const char *tag, char *buf, size_t cap) {
    if (access(TEST_LLAMA3_VOCAB, R_OK) != 0) {
        /* Same policy as the scripts: skipped outside CI, a failure in CI. */
        const char *ci = getenv("CI");
        bool in_ci = ci && !strcmp(ci, "true");
        printf("%s - %s: reference vocabulary %s not fetched (scripts/fetch_reference.sh)%s\n",
               in_ci ? "not ok" : "ok", test_program_, TEST_LLAMA3_VOCAB,
               in_ci ? "; CI=true: a missing reference is a failure" : " # SKIP");
        exit(in_ci ? 1 : 0);
    }
    const char *dir = getenv("BITNET_TEST_TMP");
    snprintf(buf, cap, "%s/%s_%d.gguf", dir ? dir : "/tmp", tag, (int)getpid());
    bn_genmodel_params p;
    bn_genmodel_default_params(&p);
    p.vocab_size = 0;
    p.vocab_from = TEST_LLAMA3_VOCAB;
    p.ctx = 256;
    if (!test_write_model(&p, buf)) exit(1);
}

#endif
