/* cmd_quantize: `bitnet quantize IN.gguf OUT.gguf TYPE [--head TYPE]` changes a GGUF's layer
 * weight types (src/convert/quantize.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "convert/quantize.h"
#include "formats/types.h"
#include "util.h"

static const char *usage_text =
    "usage: bitnet quantize IN.gguf OUT.gguf TYPE [--head T]\n"
    "Rewrites the layer matrices (blk.N.attn_q/k/v/output, ffn_gate/up/down) as TYPE and copies\n"
    "everything else:\n"
    "  TYPE i2_s | tq2_0 | tq1_0   from a ternary type: the codes are kept; TQ1_0 <-> TQ2_0 is exact;\n"
    "                              I2_S's one f32 scale becomes every block's f16 d (exact when it is\n"
    "                              an f16 value, else rounded: reported); TQ -> I2_S needs one shared d.\n"
    "                              From F32/F16/BF16/Q8_0: ternarized by the absmean rule\n"
    "                              (beta = mean|W|, t = clamp(round(W/beta), -1, 1)).\n"
    "                              i2_s only for the bitnet architectures.\n"
    "  TYPE f16 | bf16 | f32       dequantized and re-encoded.\n"
    "  --head T                    token_embd/output weights as f16, q8_0 or f32 [kept as they are]\n";

int cmd_quantize(int argc, char **argv) {
    bn_quantize_params p = {NULL, NULL, 0, BN_CONVERT_AUTO_TYPE};
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if ((r = cli_opt(argc, argv, &i, "--head", NULL, &v))) {
            const bn_type_traits *t = r < 0 ? NULL : bn_type_by_name(v);
            if (!t) return r < 0 ? 2 : cli_usage_error("quantize", "--head: unknown type '%s'", v);
            p.head_type = t->id;
        } else if (cli_positional("quantize", argv[i], pos, &npos, 3)) {
            return 2;
        }
    }
    if (npos != 3) return cli_usage_error("quantize", "need IN.gguf OUT.gguf TYPE (see --help)");
    const bn_type_traits *t = bn_type_by_name(pos[2]);
    if (!t) return cli_usage_error("quantize", "unknown type '%s'", pos[2]);
    p.in_path = pos[0], p.out_path = pos[1], p.wtype = t->id;
    bn_quantize_report r;
    if (bn_quantize(&p, &r) != 0) return cli_fail("quantize", "%s", bn_last_error_message());
    fprintf(stderr, "bitnet quantize: %d layer matrices -> %s", r.n_linear, t->name);
    if (r.n_absmean) fprintf(stderr, " (%d ternarized from float by absmean)", r.n_absmean);
    if (r.n_rounded) fprintf(stderr, " (%d per-tensor scales rounded to per-block f16: max relative error %.2g)", r.n_rounded, r.max_scale_err);
    else if (t->ternary && !r.n_absmean) fprintf(stderr, " (exact)");
    fprintf(stderr, "; %d head tensors re-encoded; %d tensors copied\nbitnet quantize: wrote %s\n", r.n_head, r.n_copied, p.out_path);
    return 0;
}
