/* test_lm_head: the opt-in 8-bit LM head (bitnet_model_params.lm_head_q8). On small generated
 * models of the cross-validation kinds (both architectures, TQ2_0 and I2_S layers, an F16
 * tied head, and an F16 separate output.weight), the Q8_0 head quantized at load must give
 * the same top-1 token at every position and logits with cosine >= 0.9999 against the model's
 * own F16 head; it must refuse heads it cannot quantize, and report its type and bytes. */
#include <stdint.h>

#include "bitnet.h"
#include "genmodel.h"
#include "model.h"
#include "test.h"
#include "types.h"
#include "util.h"

static char tmpdir[512];

static const int32_t toks[] = {1, 17, 42, 299, 3, 150, 7, 7, 88, 200, 5, 260, 31, 64};
#define N_TOKS ((int)(sizeof toks / sizeof toks[0]))

static const char *gen(const char *name, const char *arch, uint32_t wtype, uint32_t etype, bool separate_head) {
    static char path[640];
    snprintf(path, sizeof path, "%s/test_lm_head_%s.gguf", tmpdir, name);
    bn_genmodel_params p;
    bn_genmodel_default_params(&p);
    p.arch = arch;
    p.hidden = 256;
    p.layers = 2;
    p.heads = 4;
    p.kv_heads = 2;
    p.ffn = 512;
    p.vocab_size = 300;
    p.wtype = wtype;
    p.etype = etype;
    p.output_weight = separate_head;
    p.seed = 5;
    int rc = bn_genmodel_write(&p, path);
    if (rc) fprintf(stderr, "gen %s: %s\n", name, bn_last_error_message());
    return rc ? NULL : path;
}

/* All-position logits [N_TOKS][vocab] of the model at path, with or without the q8 head. */
static float *logits_of(const char *path, int q8, int64_t *n_vocab, char *head_type) {
    bitnet_model_params mp = bitnet_model_default_params();
    mp.lm_head_q8 = q8;
    bitnet_model *m = NULL;
    if (bitnet_model_open(path, &mp, &m) != 0) {
        fprintf(stderr, "open %s (q8 %d): %s\n", path, q8, bitnet_get_last_error());
        return NULL;
    }
    bitnet_model_desc md = {.struct_size = sizeof md};
    bitnet_model_describe(m, &md);
    *n_vocab = md.n_vocab;
    snprintf(head_type, 16, "%s", md.lm_head_type);
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_ctx = 64;
    sp.n_threads = 2;
    bitnet_session *s = NULL;
    float *out = malloc(sizeof(float) * (size_t)(N_TOKS * md.n_vocab));
    if (!out || bitnet_session_create(m, &sp, &s) != 0 || bitnet_session_eval(s, toks, N_TOKS, out, 1) != 0) {
        free(out);
        out = NULL;
    }
    bitnet_session_free(s);
    bitnet_model_close(m);
    return out;
}

static int argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return (int)best;
}

static double cosine(const float *a, const float *b, int64_t n) {
    double dot = 0, na = 0, nb = 0;
    for (int64_t i = 0; i < n; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return dot / sqrt(na * nb);
}

static void check_model(const char *name, const char *arch, uint32_t wtype, bool separate_head) {
    const char *path = gen(name, arch, wtype, BN_TYPE_F16, separate_head);
    CHECK(path != NULL);
    if (!path) return;
    int64_t nv = 0, nv8 = 0;
    char t16[16] = "", t8[16] = "";
    float *ref = logits_of(path, 0, &nv, t16), *q8 = logits_of(path, 1, &nv8, t8);
    CHECK(ref && q8 && nv == nv8);
    CHECK_STR(t16, "f16");
    CHECK_STR(t8, "q8_0");
    double worst = 1.0;
    int mismatches = 0;
    for (int t = 0; ref && q8 && t < N_TOKS; t++) {
        const float *a = ref + (int64_t)t * nv, *b = q8 + (int64_t)t * nv;
        double c = cosine(a, b, nv);
        if (c < worst) worst = c;
        mismatches += argmax(a, nv) != argmax(b, nv);
    }
    CHECK_MSG(worst >= 0.9999, "%s: worst logits cosine %.7f", name, worst);
    CHECK_MSG(mismatches == 0, "%s: top-1 differs at %d of %d positions", name, mismatches, N_TOKS);
    free(ref);
    free(q8);
    remove(path);
}

TEST(q8_head_matches_f16_tq2_0_bitnet) { check_model("tq2", "bitnet", BN_TYPE_TQ2_0, false); }
TEST(q8_head_matches_f16_i2_s_b158) { check_model("i2s", "bitnet-b1.58", BN_TYPE_I2_S, false); }
TEST(q8_head_matches_f16_separate_output) { check_model("sep", "bitnet-b1.58", BN_TYPE_TQ2_0, true); }

/* A Q8_0 embedding is already 8-bit: the option says it cannot apply instead of guessing. */
TEST(q8_head_refuses_q8_0_head) {
    const char *path = gen("q8e", "bitnet", BN_TYPE_TQ2_0, BN_TYPE_Q8_0, false);
    CHECK(path != NULL);
    if (!path) return;
    bitnet_model_params mp = bitnet_model_default_params();
    mp.lm_head_q8 = 1;
    bitnet_model *m = NULL;
    CHECK_EQ_INT(bitnet_model_open(path, &mp, &m), BITNET_ERR_UNSUPPORTED);
    CHECK(m == NULL);
    CHECK(strstr(bitnet_get_last_error(), "lm-head") != NULL);
    remove(path);
}

/* The head the model reads per token shrinks from 2 to 34/32 bytes per weight. */
TEST(q8_head_read_bytes) {
    const char *path = gen("bytes", "bitnet", BN_TYPE_TQ2_0, BN_TYPE_F16, false);
    CHECK(path != NULL);
    if (!path) return;
    bn_model *m = NULL;
    CHECK_EQ_INT(bn_model_load(path, &m), 0);
    if (!m) return;
    uint64_t before = bn_model_token_read_bytes(m);
    CHECK_EQ_INT(bn_model_quantize_head_q8(m), 0);
    uint64_t after = bn_model_token_read_bytes(m);
    uint64_t head = (uint64_t)m->hp.n_vocab * (uint64_t)m->hp.n_embd;
    CHECK_EQ_INT(before - after, head * 2 - head / 32 * 34);
    CHECK(m->lm_head_q8 && m->output.type == BN_TYPE_Q8_0 && m->tok_embd.type == BN_TYPE_F16);
    bn_model_free(m);
    remove(path);
}

TEST_MAIN_BEGIN("test_lm_head")
const char *t = getenv("BITNET_TEST_TMP");
snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
RUN(q8_head_matches_f16_tq2_0_bitnet);
RUN(q8_head_matches_f16_i2_s_b158);
RUN(q8_head_matches_f16_separate_output);
RUN(q8_head_refuses_q8_0_head);
RUN(q8_head_read_bytes);
TEST_MAIN_END()
