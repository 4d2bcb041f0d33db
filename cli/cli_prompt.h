/* cli_prompt: turning --tokens / --prompt / --prompt-file into token ids. */
#ifndef BITNET_CLI_PROMPT_H
#define BITNET_CLI_PROMPT_H

#include <stdbool.h>
#include <stdint.h>

#include "bitnet.h"

typedef struct cli_prompt {
    const char *tokens;       /* "1,2,3" */
    const char *text;         /* --prompt */
    const char *file;         /* --prompt-file */
    bool no_bos;              /* do not add BOS/EOS the vocabulary asks for */
    bool parse_special;       /* turn "<|eot_id|>" text into its id */
    bool escape;              /* -e: llama-cli's escapes in the text or file become bytes */
} cli_prompt;

/* Consumes --tokens/--prompt(-p)/--prompt-file/--no-bos/--parse-special: 1 consumed, 0 not, 2 error. */
int cli_prompt_opt(int argc, char **argv, int *i, cli_prompt *p, const char *cmd);
/* Reads a whole file into a NUL-terminated malloc'd buffer (length in *len); NULL on error. */
char *cli_read_text_file(const char *path, size_t *len);
/* The text of --prompt or --prompt-file (-e's escapes made bytes), malloc'd and NUL-terminated
 * (its length in *len: \x00 may put NULs inside). NULL after printing the error. */
char *cli_prompt_text(const cli_prompt *p, const char *cmd, size_t *len);
/* Produces the ids (malloc'd) of the prompt. Returns the count (>= 1) or -1 after printing an error. */
int cli_prompt_ids(const cli_prompt *p, const bitnet_model *m, const char *cmd, int32_t **ids);

#endif
