/* main: `bitnet <command> [options]` dispatch and the top-level help. */
#include <stdio.h>
#include <string.h>

#include "bitnet.h"
#include "cli.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "interactive multi-turn chat"},
    {"compat-check", cmd_compat_check, "inspect a GGUF file and say whether this build can run it"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"logits", cmd_logits, "write the logits of every position to a file"},
    {"embed", cmd_embed, "print a text's embedding (pooled final hidden states)"},
    {"logits-diff", cmd_logits_diff, "compare two logits files position by position"},
    {"perplexity", cmd_perplexity, "perplexity of a text (llama.cpp's method), KL divergence against a saved run"},
    {"trace-diff", cmd_trace_diff, "find the first tensor where two traces diverge"},
    {"serve", cmd_serve, "OpenAI-compatible HTTP server (runs bitnet-server)"},
    {"bench", cmd_bench, "measure prompt processing and generation speed"},
    {"gen-model", cmd_gen_model, "write a random-weight test model"},
    {"convert", cmd_convert, "convert a Hugging Face BitNet checkpoint to GGUF"},
    {"quantize", cmd_quantize, "change a GGUF's weight types (ternary types, absmean, head)"},
};

static void usage(FILE *out) {
    fprintf(out, "bitnet %s: inference for BitNet b1.58 ternary-weight models\n\n", BITNET_VERSION_STRING);
    fprintf(out, "usage: bitnet <command> [options]   (bitnet <command> --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("bitnet %s\n", BITNET_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "bitnet: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
