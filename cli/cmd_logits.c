/* cmd_logits: `bitnet logits` evaluates every position of a token sequence and writes the
 * logits as raw little-endian float32 [n_tokens][n_vocab]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_model.h"
#include "cli_prompt.h"

static void usage(void) {
    printf("usage: bitnet logits --model M (--tokens 1,2,3 | --prompt TEXT | --prompt-file F) --out F.bin [options]\n"
           "Evaluates all positions in one prefill and writes raw little-endian float32 logits\n"
           "[n_tokens][n_vocab] to F.bin; prints 'tokens: <ids>' on stdout.\n"
           "  --out FILE            output file (required)\n"
           "  --no-bos              with --prompt: do not add the BOS token\n"
           "  --parse-special       with --prompt: turn special-token text into ids\n%s",
           cli_model_opts_help);
}

int cmd_logits(int argc, char **argv) {
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    cli_prompt po = {0};
    const char *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        int r;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        }
        if ((r = cli_model_opt(argc, argv, &i, &mo, "logits")) || (r = cli_prompt_opt(argc, argv, &i, &po, "logits"))) {
            if (r == 2) return 2;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--out", "-o", &v))) {
            if (r < 0) return 2;
            out_path = v;
        } else {
            return cli_usage_error("logits", "unknown argument '%s'", argv[i]);
        }
    }
    if (!out_path) return cli_usage_error("logits", "missing --out FILE");
    bitnet_model *m;
    bitnet_session *s;
    int rc = cli_open_model(&mo, "logits", &m, &s);
    if (rc) return rc;
    int32_t *ids = NULL;
    float *logits = NULL;
    int n = cli_prompt_ids(&po, m, "logits", &ids);
    rc = 1;
    if (n > 0) {
        bitnet_model_desc md = {.struct_size = sizeof md};
        bitnet_model_describe(m, &md);
        logits = malloc(sizeof(float) * (size_t)n * (size_t)md.n_vocab);
        if (!logits) {
            cli_fail("logits", "out of memory for %d x %lld logits", n, (long long)md.n_vocab);
        } else if (bitnet_session_eval(s, ids, n, logits, 1) != 0) {
            cli_fail("logits", "%s", bitnet_get_last_error());
        } else {
            FILE *f = fopen(out_path, "wb");
            size_t count = (size_t)n * (size_t)md.n_vocab;
            if (!f || fwrite(logits, sizeof(float), count, f) != count || fclose(f) != 0) {
                cli_fail("logits", "cannot write %s", out_path);
            } else {
                printf("tokens:");
                for (int i = 0; i < n; i++) printf(" %d", ids[i]);
                printf("\n");
                rc = 0;
            }
        }
    } else if (n < 0) {
        rc = 2;
    }
    free(logits);
    free(ids);
    bitnet_session_free(s);
    bitnet_model_close(m);
    return rc;
}
