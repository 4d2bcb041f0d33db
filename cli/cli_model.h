/* cli_model: the options every model-running command shares (model, tokenizer, threads,
 * context, numerics, KV cache types, tracing, verbosity) and opening a model + session from them. */
#ifndef BITNET_CLI_MODEL_H
#define BITNET_CLI_MODEL_H

#include <stdbool.h>

#include "bitnet.h"

typedef struct cli_model_opts {
    const char *model;
    const char *tokenizer;      /* external vocabulary GGUF */
    const char *tokenizer_pre;  /* auto | default | llama3 */
    long long threads, ctx, batch;
    bitnet_act_quant act_quant;
    bitnet_kv_type kv_type_k, kv_type_v; /* --kv-type, --cache-type-k/-v */
    const char *trace_dir;
    bool verbose;
    bitnet_lm_head lm_head;     /* --lm-head */
} cli_model_opts;

/* Help text for these options, to embed in each command's usage. */
extern const char *const cli_model_opts_help;

void cli_model_opts_init(cli_model_opts *o);
const char *cli_kv_type_name(bitnet_kv_type t); /* "f32", "f16" (also DEFAULT), "q8_0" */
/* Consumes argv[*i] (and its value) when it is one of the shared options: returns 1; 0 when
 * it is not; 2 (after printing a usage error) on a bad value. */
int cli_model_opt(int argc, char **argv, int *i, cli_model_opts *o, const char *cmd);
/* llama-cli's options with no meaning here (GPU offload, memory locking, ...), taken with a note
 * on stderr, and -cnv (chat: taken; elsewhere refused, pointing at `bitnet chat`): 1 taken, 0
 * not one, 2 after a usage error. cli_model_opt ends with it. */
int cli_llama_opt(int argc, char **argv, int *i, const char *cmd);
/* Opens the model and, when s is non-NULL, a session. Prints errors; returns 0 or 1. With
 * --verbose reports tier, threads, numerics and memory on stderr. */
int cli_open_model(const cli_model_opts *o, const char *cmd, bitnet_model **m, bitnet_session **s);
/* A session of an open model from the options (context, threads, batch, numerics, tracing).
 * Prints errors; returns 0 or 1. */
int cli_open_session(const cli_model_opts *o, const char *cmd, bitnet_model *m, bitnet_session **s);

#endif
