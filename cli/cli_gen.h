/* cli_gen: sampling, stop and chat options shared by `run` and `chat`. */
#ifndef BITNET_CLI_GEN_H
#define BITNET_CLI_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "bitnet.h"
#include "text/sampler_order.h"

#define CLI_MAX_STOPS 16
#define CLI_MAX_LOGIT_BIAS 64

typedef struct cli_gen_opts {
    bitnet_generate_params gen;
    const char *stops[CLI_MAX_STOPS];
    int32_t stop_ids[CLI_MAX_STOPS];
    const char *dry_breakers[CLI_MAX_STOPS]; /* --dry-sequence-breaker */
    int n_dry_breakers;
    bitnet_logit_bias logit_bias[CLI_MAX_LOGIT_BIAS]; /* -l / --logit-bias */
    const char *system;          /* --system TEXT */
    const char *chat_template;   /* --chat-template NAME|TEMPLATE, or --chat-template-file's text */
    char *chat_template_file_text; /* --chat-template-file: the file's text (chat_template points here) */
    char *schema_file_text;      /* --json-schema-file: the file's text (gen.json_schema points here) */
    char *grammar_file_text;     /* --grammar-file: the file's text (gen.grammar points here) */
    unsigned char samplers[BN_SAMPLER_ORDER_MAX]; /* --samplers / --sampling-seq (bn_sampler_kind) */
    int n_samplers;              /* -1: not given */
    int escape;                  /* -e/--escape 1, --no-escape 0, neither -1 (texts as written) */
    bool random_seed;            /* --seed -1: cli_gen_opts_finish draws one */
    bool noted_reverse_prompt;   /* -r/--reverse-prompt's note was printed */
    char samplers_text[BN_SAMPLER_ORDER_TEXT_MAX]; /* them in names (gen.samplers points here) */
} cli_gen_opts;

extern const char *const cli_gen_opts_help;

void cli_gen_opts_init(cli_gen_opts *o);
void cli_gen_opts_free(cli_gen_opts *o);
/* 1 consumed, 0 not ours, 2 usage error (printed). */
int cli_gen_opt(int argc, char **argv, int *i, cli_gen_opts *o, const char *cmd);
/* After the last option: what needs all of them (--samplers into gen.samplers; with -e the
 * escapes of --system, --stop and --dry-sequence-breaker, in place in argv). 0, or 2 after
 * printing a usage error. */
int cli_gen_opts_finish(cli_gen_opts *o, const char *cmd);
/* Without -e or --no-escape: a note on stderr when `text` (named `what`) holds a sequence that
 * llama-cli would have turned into a character. */
void cli_note_escapes(const cli_gen_opts *o, const char *what, const char *text);

/* Chat format name for a model: --chat-template if given, else detected from the GGUF's
 * tokenizer.chat_template (see chat.h). Returns 0 or prints an error and returns 2. */
int cli_chat_format(const cli_gen_opts *o, const bitnet_model *m, const char *cmd, int *format);

/* "max_tokens", "eog", "stop_string", "stop_id", "interrupted", "context_full", "json_complete", "grammar_complete". */
const char *cli_stop_reason_name(bitnet_stop_reason r);

#endif
