/* cmd_convert: `bitnet convert HF_DIR OUT.gguf` converts a Hugging Face BitNet checkpoint
 * (src/convert/convert.h) and reports what became of each class of tensors. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "convert/convert.h"
#include "formats/types.h"
#include "util.h"

static const char *usage_text =
    "usage: bitnet convert HF_DIR OUT.gguf [--wtype T] [--head T] [--vocab-from VOCAB.gguf] [--tokenizer-pre default]\n"
    "Converts a Hugging Face checkpoint folder (config.json, model.safetensors or its shards with\n"
    "model.safetensors.index.json, tokenizer.json, tokenizer_config.json, generation_config.json)\n"
    "into one GGUF file. Families:\n"
    "  BitNetForCausalLM, relu2 (microsoft/bitnet-b1.58-2B-4T, packed or -bf16)  -> arch bitnet-b1.58\n"
    "  BitnetForCausalLM, silu (1bitLLM/bitnet_b1_58-large, -3B)                  -> arch bitnet\n"
    "  LlamaForCausalLM + bitnet quantization_config (HF1BitLLM/Llama3-8B-1.58-100B-tokens,\n"
    "    tiiuae/Falcon3-*-1.58bit, Falcon-E)                                      -> arch llama\n"
    "    (llama.cpp runs these too, except files with per-linear input norms)\n"
    "Packed weights keep their exact ternary values; float masters are ternarized with the absmean\n"
    "rule. Anything the converter does not understand is refused; OUT is written to OUT.tmp and\n"
    "renamed only when complete.\n"
    "  --wtype T            ternary linears: i2_s tq2_0 tq1_0 f16 bf16 f32\n"
    "                       [i2_s for bitnet-b1.58, tq2_0 otherwise; i2_s not for llama]\n"
    "  --head T             token embedding and untied output head: f16 q8_0 f32 [f16]\n"
    "  --vocab-from FILE    take the tokenizer.* keys from a GGUF instead of tokenizer.json /\n"
    "                       tokenizer.model (which are read when this is not given: byte-level BPE\n"
    "                       tokenizer.json, or a SentencePiece BPE tokenizer.model)\n"
    "  --tokenizer-pre default  write llama.cpp's default pre-tokenizer for a tokenizer.json whose\n"
    "                       pre-tokenizer is not the LLaMA-3 one (which becomes \"llama-bpe\")\n";

static void progress(int done, int total, const char *name, void *user) {
    (void)user;
    if (isatty(2)) {
        fprintf(stderr, "\r  [%4d/%4d] %-48.48s", done, total, name);
        if (done == total) fputc('\n', stderr);
    } else if (done == total || done % (total / 10 > 0 ? total / 10 : 1) == 0) {
        fprintf(stderr, "  [%d/%d] %s\n", done, total, name);
    }
}

static void print_report(const bn_convert_report *r, const char *out) {
    char b[32];
    fprintf(stderr, "bitnet convert: %s -> arch %s, %lld layers, vocab %lld\n", r->family, r->arch, (long long)r->n_layer, (long long)r->n_vocab);
    for (int i = 0; i < BN_CONVERT_CLASSES; i++) {
        const bn_convert_class *c = &r->classes[i];
        if (!c->count) continue;
        fprintf(stderr, "  %-24s %4d tensors  %-48s -> %-5s %10s", c->name, c->count, c->source, bn_type_get(c->type)->name,
                cli_human_bytes((double)c->bytes, b, sizeof b));
        if (c->max_scale_err > 0) fprintf(stderr, "  (scales rounded to f16: max relative error %.2g)", c->max_scale_err);
        else if (i == 0 && (bn_type_get(c->type)->ternary || c->type == BN_TYPE_F32)) fputs("  (exact)", stderr);
        fputc('\n', stderr);
    }
    fprintf(stderr, "  tokenizer: %s\nbitnet convert: wrote %s\n", r->tokenizer, out);
}

static int parse_type(const char *opt, const char *v, uint32_t *out) {
    const bn_type_traits *t = bn_type_by_name(v);
    if (!t) return cli_usage_error("convert", "%s: unknown type '%s'", opt, v);
    *out = t->id;
    return 0;
}

int cmd_convert(int argc, char **argv) {
    bn_convert_params p;
    bn_convert_default_params(&p);
    p.progress = progress;
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if ((r = cli_opt(argc, argv, &i, "--wtype", NULL, &v))) {
            if (r < 0 || parse_type("--wtype", v, &p.wtype)) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "--head", NULL, &v))) {
            if (r < 0 || parse_type("--head", v, &p.head_type)) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "--vocab-from", NULL, &v))) {
            if (r < 0) return 2;
            p.vocab_from = v;
        } else if ((r = cli_opt(argc, argv, &i, "--tokenizer-pre", NULL, &v))) {
            if (r < 0) return 2;
            if (strcmp(v, "default")) return cli_usage_error("convert", "--tokenizer-pre: only 'default' can be forced");
            p.tokenizer_pre = v;
        } else if (cli_positional("convert", argv[i], pos, &npos, 2)) {
            return 2;
        }
    }
    if (npos != 2) return cli_usage_error("convert", "need HF_DIR and OUT.gguf (see --help)");
    p.hf_dir = pos[0], p.out_path = pos[1];
    bn_convert_report rep;
    if (bn_convert(&p, &rep) != 0) {
        if (isatty(2)) fputc('\n', stderr);
        return cli_fail("convert", "%s", bn_last_error_message());
    }
    print_report(&rep, p.out_path);
    return 0;
}
