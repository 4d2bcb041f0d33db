/* cli_model: shared model options (see cli_model.h). */
#include "cli_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "llama_flags.h"

const char *const cli_model_opts_help =
    "  -m, --model FILE      GGUF model (required)\n"
    "  --tokenizer FILE      use the tokenizer of this vocabulary GGUF instead of the model's\n"
    "  --tokenizer-pre P     auto | default | llama3 pre-tokenizer (auto: LLaMA-3's for a LLaMA-3 vocabulary)\n"
    "  -t, --threads N       worker threads [all CPUs]; BITNET_DETERMINISTIC=1 forces 1\n"
    "  -c, --ctx N           context length [the model's, capped to a quarter of RAM]; also\n"
    "                        llama.cpp's --ctx-size\n"
    "  --batch N             tokens per prefill chunk [64]; also llama.cpp's -b/--batch-size\n"
    "  --act-quant M         token | q8k | none: numerics of the ternary matmuls [token for ternary\n"
    "                        weights, none for float weights]\n"
    "  --kv-type T           f32 | f16 | q8_0: element type of the KV cache, K and V [f16]. f16 is half\n"
    "                        of f32's memory, q8_0 (llama.cpp's 8-bit blocks; head size a multiple of\n"
    "                        32) 0.27x; README \"KV cache\" gives their effect on the logits\n"
    "  -ctk, --cache-type-k T  the K cache's type only\n"
    "  -ctv, --cache-type-v T  the V cache's type only\n"
    "  --lm-head H           auto | screen | model | q8: how generation computes the LM head [auto]\n"
    "                        screen: an 8-bit copy (~half the head's bytes, built at load) with an\n"
    "                        error bound per row finds the tokens that can be drawn; their logits are\n"
    "                        recomputed from the model's head, so the tokens are exactly model's\n"
    "                        (greedy, top-k up to 1024, and temperature sampling without top-k and\n"
    "                        top-p; top-p without top-k, and min-p with penalties, read the whole head)\n"
    "                        model (also f16, plain): the head as stored; q8: an 8-bit head\n"
    "                        (approximate logits, cosine >= 0.9999); auto: screen where the head\n"
    "                        allows it (F16/BF16/F32, hidden size a multiple of 32) and the CPU\n"
    "                        tier is an x86 one or scalar, else model (aarch64: a NEON screen pass exists,\n"
    "                        but its speed is unmeasured, so only --lm-head screen uses it)\n"
    "  --trace-dir DIR       write a per-layer trace (also: BITNET_TRACE_DIR)\n"
    "  --verbose             report kernel tier, threads, numerics and memory on stderr\n"
    "  llama.cpp's -ngl, -dev, -sm, -mg, -ts, -nkvo, --numa, -C, -fa, -tb, -ub, --mlock, --no-mmap,\n"
    "  --jinja, -co/--color are taken with a note that they change nothing here (a CPU engine), --mmap,\n"
    "  --warmup, --no-warmup, --no-display-prompt, --simple-io, --no-perf and --log-disable silently\n"
    "  (`run` then prints no timings line); --lora, -hf, -md, --mmproj, --rope-*, --override-kv are\n"
    "  refused saying why; run -cnv is `bitnet chat`, -no-cnv what run does anyway\n";

void cli_model_opts_init(cli_model_opts *o) {
    memset(o, 0, sizeof *o);
    o->act_quant = BITNET_ACT_QUANT_DEFAULT;
}

int cli_model_opt(int argc, char **argv, int *i, cli_model_opts *o, const char *cmd) {
    const char *v;
    int r;
    if ((r = cli_opt(argc, argv, i, "--model", "-m", &v))) {
        if (r < 0) return 2;
        o->model = v;
    } else if ((r = cli_opt(argc, argv, i, "--tokenizer", NULL, &v))) {
        if (r < 0) return 2;
        o->tokenizer = v;
    } else if ((r = cli_opt(argc, argv, i, "--tokenizer-pre", NULL, &v))) {
        if (r < 0) return 2;
        if (strcmp(v, "auto") && strcmp(v, "default") && strcmp(v, "llama3"))
            return cli_usage_error(cmd, "--tokenizer-pre must be auto, default or llama3");
        o->tokenizer_pre = v;
    } else if ((r = cli_opt(argc, argv, i, "--threads", "-t", &v))) {
        if (r < 0 || !cli_parse_int(v, 1, 1024, &o->threads)) return cli_usage_error(cmd, "--threads needs an integer in 1..1024");
    } else if ((r = cli_opt(argc, argv, i, "--ctx", "-c", &v)) || (r = cli_opt(argc, argv, i, "--ctx-size", NULL, &v))) {
        if (r < 0 || !cli_parse_int(v, 1, 1 << 24, &o->ctx)) return cli_usage_error(cmd, "--ctx needs an integer in 1..16777216");
    } else if ((r = cli_opt(argc, argv, i, "--batch", "-b", &v)) || (r = cli_opt(argc, argv, i, "--batch-size", NULL, &v))) {
        if (r < 0 || !cli_parse_int(v, 1, 4096, &o->batch)) return cli_usage_error(cmd, "--batch needs an integer in 1..4096");
    } else if ((r = cli_opt(argc, argv, i, "--act-quant", NULL, &v))) {
        if (r < 0 || bitnet_act_quant_from_name(v, &o->act_quant)) return cli_usage_error(cmd, "--act-quant must be token, q8k or none");
    } else if ((r = cli_opt(argc, argv, i, "--kv-type", NULL, &v))) {
        if (r < 0 || bitnet_kv_type_from_name(v, &o->kv_type_k)) return cli_usage_error(cmd, "--kv-type must be f32, f16 or q8_0");
        o->kv_type_v = o->kv_type_k;
    } else if ((r = cli_opt(argc, argv, i, "--cache-type-k", "-ctk", &v))) {
        if (r < 0 || bitnet_kv_type_from_name(v, &o->kv_type_k)) return cli_usage_error(cmd, "--cache-type-k must be f32, f16 or q8_0");
    } else if ((r = cli_opt(argc, argv, i, "--cache-type-v", "-ctv", &v))) {
        if (r < 0 || bitnet_kv_type_from_name(v, &o->kv_type_v)) return cli_usage_error(cmd, "--cache-type-v must be f32, f16 or q8_0");
    } else if ((r = cli_opt(argc, argv, i, "--lm-head", NULL, &v))) {
        if (r < 0 || bitnet_lm_head_from_name(v, &o->lm_head)) return cli_usage_error(cmd, "--lm-head must be auto, screen, model or q8");
    } else if ((r = cli_opt(argc, argv, i, "--trace-dir", NULL, &v))) {
        if (r < 0) return 2;
        o->trace_dir = v;
    } else if (!strcmp(argv[*i], "--verbose")) {
        o->verbose = true;
    } else {
        return cli_llama_opt(argc, argv, i, cmd);
    }
    return 1;
}

int cli_llama_opt(int argc, char **argv, int *i, const char *cmd) {
    /* the CLI's own; llama_flags.h holds those llama-server shares */
    static const llama_flag taken[] = {
        {"--jinja", NULL, false, false, "chat prompts use the built-in chat formats (--chat-template), not the GGUF's Jinja template"},
        {"--ubatch-size", "-ub", true, false, "a prefill chunk is --batch tokens"},
        {"-mmp", NULL, true, false, "the model file is always memory-mapped"}, /* llama-bench's 0|1 */
        {"--progress", NULL, false, false, NULL},                               /* llama-bench's */
        {"--no-display-prompt", NULL, false, false, NULL}, /* the prompt is never echoed */
        {"--simple-io", NULL, false, false, NULL},         /* plain reads and writes always */
        /* `run` takes these itself (no timings line); `chat` prints timings only with --verbose */
        {"--no-perf", NULL, false, false, NULL},
        {"--log-disable", NULL, false, false, NULL},
    };
    const char *a = argv[*i];
    bool chat = !strcmp(cmd, "chat");
    if (!strcmp(a, "-cnv") || !strcmp(a, "--conversation")) {
        if (chat) return 1;
        return cli_usage_error(cmd, "%s: llama-cli's conversation mode is `bitnet chat` (or `bitnet run ... -cnv`)", a);
    }
    if (!strcmp(a, "-no-cnv") || !strcmp(a, "--no-conversation")) { /* newer llama-cli converses by default */
        if (!chat) return 1;
        return cli_usage_error(cmd, "%s: `bitnet chat` is the conversation; `bitnet run` completes a prompt", a);
    }
    if (!strcmp(a, "-i") || !strcmp(a, "--interactive") || !strcmp(a, "--interactive-first"))
        return cli_usage_error(cmd, "%s: llama-cli's interactive mode is not offered; `bitnet chat` holds a conversation in the "
                                    "model's chat format", a);
    /* switches in older llama.cpp, with on|off|auto in newer (llama-bench: -fa 0|1) */
    bool fa = !strcmp(a, "--flash-attn") || !strcmp(a, "-fa"), color = !strcmp(a, "--color") || !strcmp(a, "-co");
    if (fa || color) {
        if (*i + 1 < argc && llama_switch_word(argv[*i + 1])) ++*i;
        fprintf(stderr, "note: %s ignored: %s\n", a, fa ? "attention has one implementation here" : "the output is not coloured");
        return 1;
    }
    const llama_flag *f = llama_flag_find(a);
    for (size_t k = 0; !f && k < sizeof taken / sizeof taken[0]; k++)
        if (!strcmp(a, taken[k].name) || (taken[k].alias && !strcmp(a, taken[k].alias))) f = &taken[k];
    if (!f) return 0;
    if (f->refused) return cli_usage_error(cmd, "%s is refused: %s", a, f->why);
    if (f->valued && *i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", a);
    if (f->valued) ++*i;
    if (f->why) fprintf(stderr, "note: %s ignored: %s\n", a, f->why);
    return 1;
}

static const char *act_name(bitnet_act_quant q) {
    return q == BITNET_ACT_QUANT_TOKEN ? "token" : q == BITNET_ACT_QUANT_Q8K ? "q8k" : "none";
}

const char *cli_kv_type_name(bitnet_kv_type t) {
    return t == BITNET_KV_F32 ? "f32" : t == BITNET_KV_Q8_0 ? "q8_0" : "f16";
}

static void report(const bitnet_model *m, const bitnet_session *s, double seconds) {
    bitnet_model_desc md = {.struct_size = sizeof md};
    bitnet_session_desc sd = {.struct_size = sizeof sd};
    char b1[32], b2[32], b3[32];
    if (bitnet_model_describe(m, &md) || (s && bitnet_session_describe(s, &sd))) return;
    fprintf(stderr, "model: %s, %lld layers, hidden %lld, vocab %lld, weights %s, LM head %s%s (%s); loaded in %.2f s\n",
            md.architecture, (long long)md.n_layer, (long long)md.n_embd, (long long)md.n_vocab, md.weight_type,
            md.lm_head_type, md.tied_lm_head ? " (tied)" : "", bitnet_lm_head_name(md.lm_head), seconds);
    if (!s) return;
    fprintf(stderr, "session: kernel tier %s, %d threads, act-quant %s, context %lld, KV cache K %s V %s\n", sd.kernel_tier,
            sd.n_threads, act_name(sd.act_quant), (long long)sd.n_ctx, cli_kv_type_name(sd.kv_type_k), cli_kv_type_name(sd.kv_type_v));
    char b4[32];
    fprintf(stderr, "memory: %s mapped weights + %s KV cache + %s scratch%s%s%s\n", cli_human_bytes((double)md.weight_bytes, b1, sizeof b1),
            cli_human_bytes((double)sd.kv_cache_bytes, b2, sizeof b2), cli_human_bytes((double)sd.scratch_bytes, b3, sizeof b3),
            md.lm_head_copy_bytes ? " + " : "", md.lm_head_copy_bytes ? cli_human_bytes((double)md.lm_head_copy_bytes, b4, sizeof b4) : "",
            md.lm_head_copy_bytes ? " screened-head copy" : "");
}

static void progress(float fraction, void *user) {
    const char *path = user;
    fprintf(stderr, "\rloading %s ... %3.0f%%%s", path, fraction * 100.0f, fraction >= 1.0f ? "\n" : "");
}

int cli_open_model(const cli_model_opts *o, const char *cmd, bitnet_model **m, bitnet_session **s) {
    *m = NULL;
    if (s) *s = NULL;
    if (!o->model) {
        cli_usage_error(cmd, "missing --model FILE");
        return 2;
    }
    bitnet_model_params mp = bitnet_model_default_params();
    mp.tokenizer_path = o->tokenizer;
    mp.tokenizer_pre = o->tokenizer_pre;
    mp.lm_head = o->lm_head;
    if (isatty(STDERR_FILENO)) {
        mp.progress = progress;
        mp.progress_user_data = (void *)o->model;
    }
    double t0 = cli_seconds();
    if (bitnet_model_open(o->model, &mp, m) != 0) return cli_fail(cmd, "%s", bitnet_get_last_error());
    double t1 = cli_seconds();
    if (s && cli_open_session(o, cmd, *m, s)) {
        bitnet_model_close(*m);
        *m = NULL;
        return 1;
    }
    if (o->verbose) report(*m, s ? *s : NULL, t1 - t0);
    return 0;
}

int cli_open_session(const cli_model_opts *o, const char *cmd, bitnet_model *m, bitnet_session **s) {
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_ctx = o->ctx;
    sp.n_threads = (int)o->threads;
    const char *det = getenv("BITNET_DETERMINISTIC");
    if (det && !strcmp(det, "1")) sp.n_threads = 1;
    sp.n_batch = (int)o->batch;
    sp.act_quant = o->act_quant;
    sp.kv_type_k = o->kv_type_k;
    sp.kv_type_v = o->kv_type_v;
    sp.trace_dir = o->trace_dir;
    *s = NULL;
    if (bitnet_session_create(m, &sp, s) != 0) return cli_fail(cmd, "%s", bitnet_get_last_error());
    return 0;
}
