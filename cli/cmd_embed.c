/* cmd_embed: `bitnet embed` prints (or writes) a text's embedding: the hidden states after the
 * final norm, pooled and normalized as llama.cpp's llama-embedding does (--pooling,
 * --embd-normalize); bitnet_session_embed does the work. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_model.h"
#include "cli_prompt.h"

static void usage(void) {
    printf("usage: bitnet embed --model M (--prompt TEXT | --prompt-file F | --tokens 1,2,3) [options]\n"
           "Evaluates the text and prints its embedding, the model's hidden states after the final\n"
           "norm (what the LM head reads; llama.cpp's embeddings of a causal model), pooled and\n"
           "normalized: one line of n_embd numbers per vector on stdout.\n"
           "  --pooling P           mean (default), last, cls or none (every token's vector)\n"
           "  --embd-normalize N    -1 none, 0 max-abs to int16, 1 taxicab, 2 Euclidean (default),\n"
           "                        >2 p-norm; not applied with --pooling none (as llama.cpp)\n"
           "  --out FILE            write raw little-endian float32 [n_vectors][n_embd] to FILE\n"
           "                        instead, and print 'tokens: <ids>'\n"
           "  --no-bos              with --prompt: do not add the BOS token\n"
           "  --parse-special       with --prompt: turn special-token text into ids\n%s",
           cli_model_opts_help);
}

typedef struct embed_opts {
    bitnet_pooling pooling;
    int normalize;
    const char *out_path;
} embed_opts;

/* Options of this command: 1 consumed, 0 not one, 2 usage error. */
static int embed_opt(int argc, char **argv, int *i, embed_opts *o) {
    const char *v;
    int r;
    if ((r = cli_opt(argc, argv, i, "--pooling", NULL, &v))) {
        if (r < 0) return 2;
        if (bitnet_pooling_from_name(v, &o->pooling)) return cli_usage_error("embed", "%s", bitnet_get_last_error());
        return 1;
    }
    if ((r = cli_opt(argc, argv, i, "--embd-normalize", NULL, &v))) {
        long long n;
        if (r < 0) return 2;
        if (!cli_parse_int(v, -1, 64, &n)) return cli_usage_error("embed", "--embd-normalize must be -1..64 (got '%s')", v);
        o->normalize = (int)n;
        return 1;
    }
    if ((r = cli_opt(argc, argv, i, "--out", "-o", &v))) {
        if (r < 0) return 2;
        o->out_path = v;
        return 1;
    }
    return 0;
}

/* The vectors [n_vec][n_embd] to out_path, or as text lines on stdout. */
static int write_vectors(const embed_opts *o, const float *v, int n_vec, int64_t n_embd, const int32_t *ids, int n) {
    size_t count = (size_t)n_vec * (size_t)n_embd;
    if (o->out_path) {
        FILE *f = fopen(o->out_path, "wb");
        if (!f || fwrite(v, sizeof *v, count, f) != count || fclose(f) != 0) return cli_fail("embed", "cannot write %s", o->out_path);
        printf("tokens:");
        for (int i = 0; i < n; i++) printf(" %d", ids[i]);
        printf("\n");
        return 0;
    }
    for (int r = 0; r < n_vec; r++)
        for (int64_t k = 0; k < n_embd; k++) printf("%.7g%c", v[(int64_t)r * n_embd + k], k + 1 < n_embd ? ' ' : '\n');
    return 0;
}

static int embed_ids(const embed_opts *o, bitnet_model *m, bitnet_session *s, const int32_t *ids, int n) {
    bitnet_model_desc md = {.struct_size = sizeof md};
    bitnet_model_describe(m, &md);
    int n_vec = o->pooling == BITNET_POOLING_NONE ? n : 1;
    float *v = malloc(sizeof(float) * (size_t)n_vec * (size_t)md.n_embd);
    int rc;
    if (!v) rc = cli_fail("embed", "out of memory for %d x %lld floats", n_vec, (long long)md.n_embd);
    else if (bitnet_session_embed(s, ids, n, o->pooling, v) != 0) rc = cli_fail("embed", "%s", bitnet_get_last_error());
    else {
        if (o->pooling != BITNET_POOLING_NONE) bitnet_embedding_normalize(v, md.n_embd, o->normalize);
        rc = write_vectors(o, v, n_vec, md.n_embd, ids, n);
    }
    free(v);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    cli_prompt po = {0};
    embed_opts eo = {.pooling = BITNET_POOLING_MEAN, .normalize = 2};
    for (int i = 1; i < argc; i++) {
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        }
        if ((r = cli_model_opt(argc, argv, &i, &mo, "embed")) || (r = cli_prompt_opt(argc, argv, &i, &po, "embed")) ||
            (r = embed_opt(argc, argv, &i, &eo))) {
            if (r == 2) return 2;
            continue;
        }
        return cli_usage_error("embed", "unknown argument '%s'", argv[i]);
    }
    bitnet_model *m;
    bitnet_session *s;
    int rc = cli_open_model(&mo, "embed", &m, &s);
    if (rc) return rc;
    int32_t *ids = NULL;
    int n = cli_prompt_ids(&po, m, "embed", &ids);
    rc = n > 0 ? embed_ids(&eo, m, s, ids, n) : 2;
    free(ids);
    bitnet_session_free(s);
    bitnet_model_close(m);
    return rc;
}
