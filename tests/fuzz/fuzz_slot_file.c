/* fuzz_slot_file: libFuzzer target for the slot file reader (bitnet_batch_slot_restore,
 * src/api/api_slot.c) on a small generated model (2 layers, 2 KV heads of 64, f16 KV cache,
 * a 64-position slot). Built and run by scripts/fuzz_slot_file.sh with
 * -fsanitize=fuzzer,address,undefined.
 *
 * Input: byte 0 holds flags, the rest is the file. Flag 1: the target writes this model's
 * header fields (version, cache types, numerics, shapes, fingerprint; everything but
 * n_tokens) over the file's, so that mutations get past the header; flag 2: it appends the
 * right checksum of the file, so that they get past the checksum. Without them the fuzzer
 * works on the header and the checksum themselves.
 *
 * Contract (a broken one aborts): a refused file leaves the slot empty, with a message and a
 * status of NOT_FOUND's kin never (LOAD_FAILED or CONTEXT_EXCEEDED only); an accepted one is
 * exactly as long as its header says (tokens, cache memory, checksum), its tokens are what
 * the slot holds, and a request on them runs a step without a sanitizer report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitnet.h"
#include "debug/blake3.h"
#include "formats/genmodel.h"
#include "formats/types.h"
#include "util.h"

enum { HEADER_START = 8, N_TOKENS_AT = 88, BODY_AT = 96, CTX = 64 };

static bitnet_model *g_model;
static bitnet_batch *g_batch;
static uint8_t g_header[BODY_AT];           /* this model's header (from a saved empty slot) */
static char g_path[256], g_model_path[256];

_Noreturn static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_slot_file: contract broken: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void setup(void) {
    snprintf(g_model_path, sizeof g_model_path, "/tmp/fuzz_slot_model_%d.gguf", (int)getpid());
    snprintf(g_path, sizeof g_path, "/tmp/fuzz_slot_%d.bin", (int)getpid());
    bn_genmodel_params p;
    bn_genmodel_default_params(&p);
    p.arch = "bitnet-b1.58", p.hidden = 256, p.layers = 2, p.heads = 4, p.kv_heads = 2, p.ffn = 512, p.vocab_size = 300;
    p.wtype = BN_TYPE_I2_S, p.seed = 5;
    bitnet_batch_params bp = bitnet_batch_default_params();
    bp.n_slots = 1, bp.n_ctx = CTX, bp.n_threads = 1, bp.n_batch = 16;
    FILE *f = NULL;
    if (bn_genmodel_write(&p, g_model_path) || bitnet_model_open(g_model_path, NULL, &g_model) ||
        bitnet_batch_create(g_model, &bp, &g_batch) || bitnet_batch_slot_save(g_batch, 0, g_path, NULL) != 0 ||
        !(f = fopen(g_path, "rb")) || fread(g_header, 1, sizeof g_header, f) != sizeof g_header)
        fail("setup", bitnet_get_last_error());
    fclose(f);
    unlink(g_model_path); /* mapped: the model stays readable */
}

/* The file of this input: flags applied. */
static size_t make_file(const uint8_t *data, size_t size, uint8_t *out) {
    memcpy(out, data + 1, size - 1);
    size_t n = size - 1;
    if ((data[0] & 1) && n >= N_TOKENS_AT) memcpy(out + HEADER_START, g_header + HEADER_START, N_TOKENS_AT - HEADER_START);
    if (data[0] & 2) {
        bn_blake3_hasher h;
        bn_blake3_init(&h);
        bn_blake3_update(&h, out, n);
        bn_blake3_finalize(&h, out + n);
        n += BN_BLAKE3_OUT_LEN;
    }
    return n;
}

/* A request on the restored tokens (file's, at BODY_AT) and one more: the slot's cache is used. */
static void use_slot(const uint8_t *file, int64_t n) {
    int32_t prompt[CTX];
    bitnet_generate_params gp = bitnet_generate_default_params();
    gp.max_tokens = 1;
    if (n + 1 >= CTX) return;
    memcpy(prompt, file + BODY_AT, sizeof *prompt * (size_t)n);
    prompt[n] = 1;
    if (bitnet_batch_submit(g_batch, 0, prompt, (int)n + 1, &gp, NULL) != 0) fail("a request on a restored slot was refused", bitnet_get_last_error());
    while (bitnet_batch_step(g_batch) > 0) {
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_batch) setup();
    if (size < 1 || size > (1u << 20)) return 0;
    uint8_t *file = malloc(size + BN_BLAKE3_OUT_LEN);
    size_t n = file ? make_file(data, size, file) : 0;
    FILE *f = file ? fopen(g_path, "wb") : NULL;
    if (!f || fwrite(file, 1, n, f) != n || fclose(f) != 0) fail("cannot write the input file", NULL);
    uint64_t bytes = 0;
    int64_t r = bitnet_batch_slot_restore(g_batch, 0, g_path, &bytes);
    if (r < 0) {
        const char *msg = bitnet_get_last_error();
        if (!msg || !*msg) fail("refused without a message", NULL);
        if (r != BITNET_ERR_LOAD_FAILED && r != BITNET_ERR_CONTEXT_EXCEEDED) fail("refused with an unexpected status", msg);
        if (bitnet_batch_slot_tokens(g_batch, 0) != 0) fail("a refused file left tokens in the slot", msg);
        free(file);
        return 0;
    }
    if (r > CTX || bitnet_batch_slot_tokens(g_batch, 0) != r) fail("the slot does not hold the file's tokens", NULL);
    if (bytes != n) fail("an accepted file is not exactly as long as its header says", NULL);
    use_slot(file, r);
    free(file);
    bitnet_batch_clear_slot(g_batch, 0);
    return 0;
}
