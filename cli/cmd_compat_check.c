/* cmd_compat_check: `bitnet compat-check MODEL [--show-kv] [--json] [--verbose]` inspects a
 * GGUF file and says whether this build can run it (exit 0) or why not (exit 1); --verbose adds
 * the kernel tier this CPU gets (kernels/cpu.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "formats/gguf.h"
#include "model/forward.h"
#include "kernels/cpu.h"
#include "model/model.h"
#include "formats/types.h"
#include "util.h"

static const char *usage_text =
    "usage: bitnet compat-check MODEL.gguf [--show-kv] [--json] [--verbose]\n"
    "Reads and validates a GGUF file and reports its model family, architecture, hyper-parameters, tensor\n"
    "count and bytes per type, tokenizer, LM head (tied or separate), the memory a run needs,\n"
    "and whether this build can run it. Architectures this build runs: bitnet, bitnet-b1.58\n"
    "(also named bitnet-25) and llama (ternary Llama-3 / Falcon3 / Falcon-E layouts).\n"
    "  --show-kv   print every metadata key with its value (long arrays summarized)\n"
    "  --json      print one JSON object instead of text\n"
    "  --verbose   also report this CPU: the kernel tier in use (after BITNET_FORCE_TIER), the\n"
    "              best tier here and the CPU features seen\n"
    "Exit status: 0 when the model can run here (or the file is a valid vocabulary-only GGUF,\n"
    "usable as a tokenizer); 1 when it cannot, with the reason; 2 on usage errors.\n";

typedef struct {
    uint64_t count, bytes;
} type_usage;

#define MAX_TYPE_ID 64

static void collect_types(const gguf_file *f, type_usage *u) {
    memset(u, 0, sizeof(type_usage) * MAX_TYPE_ID);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].type < MAX_TYPE_ID) {
            u[f->tensors[i].type].count++;
            u[f->tensors[i].type].bytes += f->tensors[i].n_bytes;
        }
}

static void print_value(FILE *out, const gguf_file *f, const gguf_kv *kv) {
    switch (kv->type) {
    case GGUF_VT_STRING: cli_json_string(out, kv->str, (size_t)kv->str_len); break;
    case GGUF_VT_FLOAT32: case GGUF_VT_FLOAT64: fprintf(out, "%.9g", kv->f64); break;
    case GGUF_VT_BOOL: fputs(kv->u64 ? "true" : "false", out); break;
    case GGUF_VT_INT8: case GGUF_VT_INT16: case GGUF_VT_INT32: case GGUF_VT_INT64: fprintf(out, "%lld", (long long)kv->i64); break;
    case GGUF_VT_ARRAY: {
        fprintf(out, "[%s x %llu]", gguf_value_type_name(kv->arr_type), (unsigned long long)kv->arr_n);
        uint64_t show = kv->arr_n < 6 ? kv->arr_n : 6;
        for (uint64_t i = 0; i < show; i++) {
            fputs(i ? ", " : " ", out);
            if (kv->arr_type == GGUF_VT_STRING) {
                uint64_t len;
                const char *s = gguf_arr_str(kv, i, &len, f);
                cli_json_string(out, s ? s : "", s ? (size_t)(len < 60 ? len : 60) : 0);
            } else if (kv->arr_type == GGUF_VT_FLOAT32) {
                fprintf(out, "%g", gguf_arr_f32(kv, i));
            } else if (kv->arr_type != GGUF_VT_ARRAY && kv->arr_type != GGUF_VT_FLOAT64) {
                fprintf(out, "%lld", (long long)gguf_arr_int(kv, i));
            } else {
                fputs("...", out);
                break;
            }
        }
        if (show < kv->arr_n) fputs(", ...", out);
        break;
    }
    default: fprintf(out, "%llu", (unsigned long long)kv->u64); break;
    }
}

static void show_kv(const gguf_file *f) {
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        printf("  %s (%s) = ", kv->key, gguf_value_type_name(kv->type));
        print_value(stdout, f, kv);
        putchar('\n');
    }
}

typedef struct {
    const char *path;
    uint64_t file_size;
    const gguf_file *f;
    const bn_model *m;         /* NULL when the model could not be bound */
    const char *reason;        /* why it cannot run, or NULL */
    bool vocab_only;
    bool verbose;              /* report the CPU tier too */
    char tok_model[32], tok_pre[64];
    int64_t tok_count;
    type_usage types[MAX_TYPE_ID];
} report;

/* The model family the file's architecture (and tensors) stands for: what `bitnet convert`
 * writes for each supported Hugging Face family, and the official 2B-4T GGUF. */
static const char *family_of(const gguf_file *f) {
    char arch[64] = "";
    gguf_get_str_buf(f, "general.architecture", arch, sizeof arch);
    if (!strcmp(arch, "bitnet-b1.58") || !strcmp(arch, "bitnet-25"))
        return "BitNet b1.58 2B-4T (microsoft/bitnet-b1.58-2B-4T: ReLU-squared FFN, sub-norms)";
    if (!strcmp(arch, "bitnet")) return "BitNet b1.58 with SiLU (1bitLLM/bitnet_b1_58-large, -3B; llama.cpp's bitnet)";
    if (!strcmp(arch, "llama")) {
        const gguf_tensor *q = gguf_find_tensor(f, "blk.0.attn_q.weight");
        const bn_type_traits *t = q ? bn_type_get(q->type) : NULL;
        if (gguf_find_tensor(f, "blk.0.attn_q_in_norm.weight"))
            return "LLaMA-architecture ternary with per-linear input norms (BitLinear with use_rms_norm)";
        if (t && t->ternary)
            return "LLaMA-architecture ternary (HF1BitLLM/Llama3-8B-1.58-100B-tokens, tiiuae/Falcon3-*-1.58bit)";
        return "LLaMA (layer weights not in a ternary type)";
    }
    return arch[0] ? "unknown" : "(no general.architecture)";
}

static void tokenizer_info(report *r) {
    snprintf(r->tok_model, sizeof r->tok_model, "(none)");
    snprintf(r->tok_pre, sizeof r->tok_pre, "(absent)");
    gguf_get_str_buf(r->f, "tokenizer.ggml.model", r->tok_model, sizeof r->tok_model);
    gguf_get_str_buf(r->f, "tokenizer.ggml.pre", r->tok_pre, sizeof r->tok_pre);
    const gguf_kv *kv = gguf_find_kv(r->f, "tokenizer.ggml.tokens");
    r->tok_count = kv && kv->type == GGUF_VT_ARRAY ? (int64_t)kv->arr_n : 0;
}

static bool any_in_norms(const bn_model *m) {
    for (int l = 0; l < m->hp.n_layer; l++)
        if (m->layers[l].has_in_norms) return true;
    return false;
}

/* "SiLU FFN gate, NEOX RoPE, sub-norms" and the like: how the architecture will be run. */
static void describe_arch(const bn_model *m, char *buf, size_t cap) {
    const bn_hparams *hp = &m->hp;
    int n = snprintf(buf, cap, "%s FFN gate, %s RoPE, %s", hp->ffn_act == BN_FFN_SILU ? "SiLU" : "ReLU-squared",
                     hp->rope_type == BN_ROPE_NORM ? "NORMAL" : "NEOX", hp->sub_norms ? "sub-norms" : "no sub-norms");
    if (n > 0 && (size_t)n < cap && any_in_norms(m)) n += snprintf(buf + n, cap - (size_t)n, ", per-linear input norms");
    if (n > 0 && (size_t)n < cap && m->rope_freqs) n += snprintf(buf + n, cap - (size_t)n, ", rope_freqs factors");
    if (n > 0 && (size_t)n < cap && hp->rope_freq_scale != 1.0f)
        snprintf(buf + n, cap - (size_t)n, ", linear RoPE scaling x%g", (double)hp->rope_freq_scale);
}

static void print_text(const report *r, bool with_kv) {
    char b1[32], b2[32];
    const gguf_file *f = r->f;
    printf("file:         %s (%s, GGUF v%u, alignment %llu)\n", r->path, cli_human_bytes((double)r->file_size, b1, sizeof b1),
           f->version, (unsigned long long)f->alignment);
    if (r->vocab_only) printf("kind:         vocabulary-only GGUF (a tokenizer, no weights)\n");
    else printf("family:       %s\n", family_of(f));
    if (r->m) {
        const bn_hparams *hp = &r->m->hp;
        char how[160];
        describe_arch(r->m, how, sizeof how);
        printf("architecture: %s (%s)\n", hp->arch, how);
        printf("hparams:      vocab %lld, context %lld%s, hidden %lld, layers %lld, ffn %lld, heads %lld, kv heads %lld%s,\n"
               "              head dim %lld, rope dims %lld, rope base %g%s, rms eps %g%s\n",
               (long long)hp->n_vocab, (long long)hp->n_ctx_train, hp->default_ctx ? " (default)" : "", (long long)hp->n_embd,
               (long long)hp->n_layer, (long long)hp->n_ff, (long long)hp->n_head, (long long)hp->n_head_kv,
               hp->default_head_kv ? " (default)" : "", (long long)hp->head_dim, (long long)hp->n_rot, hp->rope_base,
               hp->default_rope_base ? " (default)" : "", hp->rms_eps, hp->default_eps ? " (default)" : "");
    }
    printf("tensors:      %llu", (unsigned long long)f->n_tensors);
    const char *sep = " (";
    for (int t = 0; t < MAX_TYPE_ID; t++)
        if (r->types[t].count) {
            const bn_type_traits *tt = bn_type_get((uint32_t)t);
            printf("%s%s: %llu, %s", sep, tt ? tt->name : "?", (unsigned long long)r->types[t].count,
                   cli_human_bytes((double)r->types[t].bytes, b1, sizeof b1));
            sep = "; ";
        }
    printf("%s\n", f->n_tensors ? ")" : "");
    printf("tokenizer:    %s, %lld tokens, pre-tokenizer %s\n", r->tok_model, (long long)r->tok_count, r->tok_pre);
    if (r->m) {
        const bn_model *m = r->m;
        printf("lm head:      %s (%s)%s\n", m->tied_head ? "tied to token_embd" : "separate output.weight",
               bn_type_get(m->output.type) ? bn_type_get(m->output.type)->name : "?",
               m->embd_transposed ? ", embedding stored transposed" : "");
        uint64_t kv = bn_kv_bytes_per_pos(&m->hp, BN_KV_F16, BN_KV_F16) * (uint64_t)m->hp.n_ctx_train;
        printf("memory:       %s of mapped weights + %s f16 KV cache (the default; f32 twice that) at context %lld\n",
               cli_human_bytes((double)m->weight_bytes, b1, sizeof b1), cli_human_bytes((double)kv, b2, sizeof b2),
               (long long)m->hp.n_ctx_train);
    }
    if (r->types[BN_TYPE_I2_S].count)
        printf("note:         I2_S is read in the x86 layout (128-weight blocks), the layout of Microsoft's\n"
               "              official GGUF. Files quantized by ARM builds of bitnet.cpp after November 2025\n"
               "              use 64-weight blocks, which nothing in the file distinguishes: such a file\n"
               "              loads but its output is wrong. Re-quantize it on x86.\n");
    if (with_kv) {
        printf("metadata:     %llu keys\n", (unsigned long long)f->n_kv);
        show_kv(f);
    }
    if (r->verbose) {
        const char *note = bn_cpu_tier_note();
        printf("cpu:          kernel tier %s (best here: %s), features: %s\n", bn_cpu_tier_name(bn_cpu_active_tier()),
               bn_cpu_tier_name(bn_cpu_best_tier()), *bn_cpu_features() ? bn_cpu_features() : "(none)");
        if (*note) printf("              %s\n", note);
    }
    if (r->vocab_only) printf("runnable:     no weights to run; usable as a tokenizer (bitnet tokenize, --tokenizer)\n");
    else if (r->reason) printf("runnable:     NO: %s\n", r->reason);
    else printf("runnable:     yes\n");
}

static void print_json(const report *r, bool with_kv) {
    const gguf_file *f = r->f;
    printf("{\"file\":");
    cli_json_string(stdout, r->path, strlen(r->path));
    printf(",\"size\":%llu,\"gguf_version\":%u,\"alignment\":%llu,\"kind\":\"%s\",\"tensor_count\":%llu,",
           (unsigned long long)r->file_size, f->version, (unsigned long long)f->alignment, r->vocab_only ? "vocab-only" : "model",
           (unsigned long long)f->n_tensors);
    printf("\"family\":");
    cli_json_string(stdout, family_of(f), strlen(family_of(f)));
    printf(",\"types\":{");
    const char *sep = "";
    for (int t = 0; t < MAX_TYPE_ID; t++)
        if (r->types[t].count) {
            const bn_type_traits *tt = bn_type_get((uint32_t)t);
            printf("%s\"%s\":{\"count\":%llu,\"bytes\":%llu}", sep, tt ? tt->name : "unknown", (unsigned long long)r->types[t].count,
                   (unsigned long long)r->types[t].bytes);
            sep = ",";
        }
    printf("},\"tokenizer\":{\"model\":\"%s\",\"vocab_size\":%lld,\"pre\":", r->tok_model, (long long)r->tok_count);
    cli_json_string(stdout, r->tok_pre, strlen(r->tok_pre));
    printf("}");
    if (r->m) {
        const bn_model *m = r->m;
        const bn_hparams *hp = &m->hp;
        printf(",\"architecture\":\"%s\",\"ffn_act\":\"%s\",\"hparams\":{\"n_vocab\":%lld,\"n_ctx_train\":%lld,\"n_embd\":%lld,"
               "\"n_layer\":%lld,\"n_ff\":%lld,\"n_head\":%lld,\"n_head_kv\":%lld,\"head_dim\":%lld,\"n_rot\":%lld,"
               "\"rope_base\":%.9g,\"rms_eps\":%.9g}",
               hp->arch, hp->ffn_act == BN_FFN_SILU ? "silu" : "relu2", (long long)hp->n_vocab, (long long)hp->n_ctx_train,
               (long long)hp->n_embd, (long long)hp->n_layer, (long long)hp->n_ff, (long long)hp->n_head, (long long)hp->n_head_kv,
               (long long)hp->head_dim, (long long)hp->n_rot, hp->rope_base, hp->rms_eps);
        printf(",\"rope_type\":\"%s\",\"rope_freq_scale\":%.9g,\"rope_freqs\":%s,\"sub_norms\":%s,\"in_norms\":%s",
               hp->rope_type == BN_ROPE_NORM ? "norm" : "neox", (double)hp->rope_freq_scale, m->rope_freqs ? "true" : "false",
               hp->sub_norms ? "true" : "false", any_in_norms(m) ? "true" : "false");
        printf(",\"lm_head\":\"%s\",\"lm_head_type\":\"%s\",\"embedding_transposed\":%s,\"memory\":{\"weights\":%llu,\"kv_cache\":%llu,\"kv_type\":\"f16\",\"kv_ctx\":%lld}",
               m->tied_head ? "tied" : "separate", bn_type_get(m->output.type) ? bn_type_get(m->output.type)->name : "?",
               m->embd_transposed ? "true" : "false", (unsigned long long)m->weight_bytes,
               (unsigned long long)(bn_kv_bytes_per_pos(hp, BN_KV_F16, BN_KV_F16) * (uint64_t)hp->n_ctx_train), (long long)hp->n_ctx_train);
    }
    if (with_kv) {
        printf(",\"kv\":{");
        for (uint64_t i = 0; i < f->n_kv; i++) {
            printf(i ? "," : "");
            cli_json_string(stdout, f->kv[i].key, strlen(f->kv[i].key));
            putchar(':');
            FILE *mem;
            char *text = NULL;
            size_t len = 0;
            if ((mem = open_memstream(&text, &len))) {
                print_value(mem, f, &f->kv[i]);
                fclose(mem);
                if (f->kv[i].type == GGUF_VT_STRING) fputs(text, stdout);
                else cli_json_string(stdout, text, len);
                free(text);
            }
        }
        printf("}");
    }
    if (r->types[BN_TYPE_I2_S].count) printf(",\"i2s_layout\":\"x86-128\"");
    if (r->verbose) {
        printf(",\"cpu\":{\"kernel_tier\":\"%s\",\"best_tier\":\"%s\",\"features\":", bn_cpu_tier_name(bn_cpu_active_tier()),
               bn_cpu_tier_name(bn_cpu_best_tier()));
        cli_json_string(stdout, bn_cpu_features(), strlen(bn_cpu_features()));
        printf(",\"note\":");
        cli_json_string(stdout, bn_cpu_tier_note(), strlen(bn_cpu_tier_note()));
        printf("}");
    }
    printf(",\"can_run\":%s,\"reason\":", !r->reason && !r->vocab_only ? "true" : "false");
    const char *why = r->vocab_only ? "vocabulary-only file: no weights" : r->reason ? r->reason : "";
    cli_json_string(stdout, why, strlen(why));
    printf("}\n");
}

int cmd_compat_check(int argc, char **argv) {
    const char *path = NULL;
    bool json = false, with_kv = false, verbose = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--show-kv")) with_kv = true;
        else if (!strcmp(argv[i], "--verbose")) verbose = true;
        else if (!strcmp(argv[i], "--model") || !strcmp(argv[i], "-m")) {
            if (i + 1 >= argc) return cli_usage_error("compat-check", "%s needs a value", argv[i]);
            path = argv[++i];
        } else if (argv[i][0] == '-') return cli_usage_error("compat-check", "unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage_error("compat-check", "more than one file given");
    }
    if (!path) return cli_usage_error("compat-check", "missing MODEL.gguf");
    gguf_file *f = gguf_open(path);
    if (!f) {
        if (json) {
            printf("{\"file\":");
            cli_json_string(stdout, path, strlen(path));
            printf(",\"can_run\":false,\"reason\":");
            cli_json_string(stdout, bn_last_error_message(), strlen(bn_last_error_message()));
            printf("}\n");
        }
        return cli_fail("compat-check", "%s", bn_last_error_message());
    }
    report r = {.path = path, .f = f, .verbose = verbose};
    struct stat st;
    r.file_size = stat(path, &st) == 0 ? (uint64_t)st.st_size : f->size;
    collect_types(f, r.types);
    tokenizer_info(&r);
    r.vocab_only = f->n_tensors == 0 && r.tok_count > 0;
    bn_model *m = NULL;
    char reason[1024] = "";
    if (f->n_tensors == 0 && !r.vocab_only) {
        snprintf(reason, sizeof reason, "the file holds no tensors and no tokenizer");
    } else if (!r.vocab_only) {
        /* Bind a second, independent open so that the report can still use `f` on failure. */
        if (bn_model_load(path, &m) != 0) snprintf(reason, sizeof reason, "%s", bn_last_error_message());
    }
    r.m = m;
    r.reason = reason[0] ? reason : NULL;
    if (json) print_json(&r, with_kv);
    else print_text(&r, with_kv);
    int rc = r.reason ? 1 : 0;
    if (r.reason) fprintf(stderr, "bitnet compat-check: cannot run this model: %s\n", r.reason);
    bn_model_free(m);
    gguf_close(f);
    return rc;
}
