/* llama_flags: llama.cpp's command-line options that llama-cli, llama-bench and llama-server
 * share and that mean nothing on this CPU engine (GPU offload, memory mapping and locking,
 * thread placement) or name what it does not have (LoRA, multimodal, draft models, models
 * downloaded at run time, RoPE and metadata overrides), each with the reason. The CLI
 * (cli/cli_model.c) and the server (server/llama_args.c) ask this one table, after their own
 * options, so that a llama.cpp command line runs on both with the same notes and refusals. */
#ifndef BITNET_COMMON_LLAMA_FLAGS_H
#define BITNET_COMMON_LLAMA_FLAGS_H

#include <stdbool.h>

typedef struct llama_flag {
    const char *name, *alias; /* alias NULL: none */
    bool valued;              /* takes the next argument as its value */
    bool refused;             /* names something this engine does not have: a usage error */
    const char *why;          /* said on stderr; NULL for an inert option this engine's behaviour is anyway */
} llama_flag;

/* The entry for arg (its name or alias), or NULL. */
const llama_flag *llama_flag_find(const char *arg);

/* Whether s is one of llama.cpp's words for a switch's on, off or auto (common/arg.cpp's
 * is_truthy, is_falsey, is_autoy: on enabled true 1, off disabled false 0, auto -1), which
 * -fa, -co and --log-colors take as an optional value. */
bool llama_switch_word(const char *s);

#endif
