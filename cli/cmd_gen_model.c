/* cmd_gen_model: `bitnet gen-model OUT.gguf ...` writes a random-weight test model. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "formats/genmodel.h"
#include "formats/types.h"
#include "util.h"

static const char *usage_text =
    "usage: bitnet gen-model OUT.gguf [options]\n"
    "Writes a random-weight BitNet model: ternary weights times a per-tensor scale ~1/sqrt(fan_in),\n"
    "norms near 1, unit-RMS embeddings. The same --seed and shapes give the same model for every\n"
    "--wtype, so files of different weight types can be compared.\n\n"
    "  --arch A           bitnet (SiLU, llama.cpp) | bitnet-b1.58 (ReLU^2, Microsoft 2B-4T) | bitnet-25\n"
    "                     | llama (SiLU, no sub-norms, NORMAL RoPE: ternary Llama-3 / Falcon3)  [bitnet]\n"
    "  --hidden H         embedding length [256]\n"
    "  --layers L         [2]\n"
    "  --heads N          attention heads [4]\n"
    "  --kv-heads K       key/value heads [2]\n"
    "  --ffn F            feed-forward length [512]\n"
    "  --vocab-size V     synthetic SentencePiece-style vocabulary of V tokens (>= 260) [512]\n"
    "  --vocab-from FILE  copy the tokenizer of a vocabulary GGUF instead (e.g. ggml-vocab-llama-bpe.gguf)\n"
    "  --wtype T          layer weights: f32 f16 bf16 tq1_0 tq2_0 i2_s [tq2_0]\n"
    "  --etype T          token embedding / LM head: f32 f16 bf16 q8_0 [f16]\n"
    "  --ctx N            context_length key [4096]\n"
    "  --rope-base B      rope.freq_base [10000]\n"
    "  --seed S           [1]\n"
    "  --output-weight    write a separate output.weight (llama.cpp's bitnet loader rejects it)\n"
    "  --scale-tensors    write 1-element blk.N.<name>.scale tensors\n"
    "  --transposed-embedding  store token_embd as [vocab, hidden] with an embed_tokens.transposed flag\n"
    "  --in-norms         write per-linear input norms blk.N.<linear>_in_norm.weight (the Falcon-E layout)\n"
    "  --rope-freqs       write rope_freqs.weight (Llama-3-style frequency factors in [1, 4])\n"
    "  --rope-scale F     write linear RoPE scaling keys (rope.scaling.type linear, factor F)\n";

static int parse_type(const char *name, const char *value, bool ternary_ok, uint32_t *out) {
    const bn_type_traits *t = bn_type_by_name(value);
    if (!t || !t->quantize || (t->ternary && !ternary_ok))
        return cli_usage_error("gen-model", "unsupported %s '%s'", name, value);
    *out = t->id;
    return 0;
}

int cmd_gen_model(int argc, char **argv) {
    bn_genmodel_params p;
    bn_genmodel_default_params(&p);
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        long long n;
        struct { const char *name; int64_t *dst; long long min, max; } ints[] = {
            {"--hidden", &p.hidden, 2, 1 << 20}, {"--layers", &p.layers, 1, 1024}, {"--heads", &p.heads, 1, 4096},
            {"--kv-heads", &p.kv_heads, 1, 4096}, {"--ffn", &p.ffn, 1, 1 << 22}, {"--vocab-size", &p.vocab_size, 1, 1 << 24},
            {"--ctx", &p.ctx, 1, 1 << 24}};
        bool matched = false;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
            if ((r = cli_opt(argc, argv, &i, ints[k].name, NULL, &v)) < 0) return 2;
            if (r == 0) continue;
            if (!cli_parse_int(v, ints[k].min, ints[k].max, &n))
                return cli_usage_error("gen-model", "%s needs an integer in %lld..%lld, got '%s'", ints[k].name, ints[k].min, ints[k].max, v);
            *ints[k].dst = n;
            matched = true;
            break;
        }
        if (matched) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if ((r = cli_opt(argc, argv, &i, "--arch", NULL, &v))) {
            if (r < 0) return 2;
            p.arch = v;
        } else if ((r = cli_opt(argc, argv, &i, "--vocab-from", NULL, &v))) {
            if (r < 0) return 2;
            p.vocab_from = v;
        } else if ((r = cli_opt(argc, argv, &i, "--wtype", NULL, &v))) {
            if (r < 0 || parse_type("--wtype", v, true, &p.wtype)) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "--etype", NULL, &v))) {
            if (r < 0 || parse_type("--etype", v, false, &p.etype)) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "--seed", NULL, &v))) {
            if (r < 0 || !cli_parse_int(v, 0, INT64_MAX, &n)) return cli_usage_error("gen-model", "--seed needs a non-negative integer");
            p.seed = (uint64_t)n;
        } else if ((r = cli_opt(argc, argv, &i, "--rope-base", NULL, &v))) {
            double d;
            if (r < 0 || !cli_parse_float(v, &d) || d <= 0) return cli_usage_error("gen-model", "--rope-base needs a positive number");
            p.rope_base = (float)d;
        } else if (!strcmp(argv[i], "--output-weight")) {
            p.output_weight = true;
        } else if (!strcmp(argv[i], "--scale-tensors")) {
            p.scale_tensors = true;
        } else if (!strcmp(argv[i], "--transposed-embedding")) {
            p.transposed_embedding = true;
        } else if (!strcmp(argv[i], "--in-norms")) {
            p.in_norms = true;
        } else if (!strcmp(argv[i], "--rope-freqs")) {
            p.rope_freqs = true;
        } else if ((r = cli_opt(argc, argv, &i, "--rope-scale", NULL, &v))) {
            double d;
            if (r < 0 || !cli_parse_float(v, &d) || !(d > 0) || d > 1e6)
                return cli_usage_error("gen-model", "--rope-scale needs a positive number");
            p.rope_scale = (float)d;
        } else if (argv[i][0] == '-') {
            return cli_usage_error("gen-model", "unknown option '%s'", argv[i]);
        } else if (!out) {
            out = argv[i];
        } else {
            return cli_usage_error("gen-model", "more than one output file given ('%s' and '%s')", out, argv[i]);
        }
    }
    if (!out) return cli_usage_error("gen-model", "missing OUT.gguf");
    if (bn_genmodel_write(&p, out) != 0) return cli_fail("gen-model", "%s", bn_last_error_message());
    fprintf(stderr, "bitnet gen-model: wrote %s\n", out);
    return 0;
}
