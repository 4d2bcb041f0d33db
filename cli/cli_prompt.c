/* cli_prompt: prompt options and tokenization for the model-running commands. */
#include "cli_prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_prompt_opt(int argc, char **argv, int *i, cli_prompt *p, const char *cmd) {
    const char *v;
    int r;
    if ((r = cli_opt(argc, argv, i, "--tokens", NULL, &v))) {
        if (r < 0) return 2;
        p->tokens = v;
    } else if ((r = cli_opt(argc, argv, i, "--prompt", "-p", &v))) {
        if (r < 0) return 2;
        p->text = v;
    } else if ((r = cli_opt(argc, argv, i, "--prompt-file", "-f", &v))) {
        if (r < 0) return 2;
        p->file = v;
    } else if (!strcmp(argv[*i], "--no-bos")) {
        p->no_bos = true;
    } else if (!strcmp(argv[*i], "--parse-special")) {
        p->parse_special = true;
    } else {
        return 0;
    }
    (void)cmd;
    return 1;
}

char *cli_read_text_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

char *cli_prompt_text(const cli_prompt *p, const char *cmd, size_t *len) {
    char *text = p->file ? cli_read_text_file(p->file, len) : p->text ? strdup(p->text) : NULL;
    if (!text) {
        if (p->file) cli_fail(cmd, "cannot read prompt file %s", p->file);
        else cli_fail(cmd, p->text ? "out of memory" : "no prompt text");
        return NULL;
    }
    if (!p->file) *len = strlen(text);
    if (p->escape) text[*len = cli_unescape(text, *len)] = '\0';
    return text;
}

int cli_prompt_ids(const cli_prompt *p, const bitnet_model *m, const char *cmd, int32_t **ids) {
    *ids = NULL;
    int given = (p->tokens != NULL) + (p->text != NULL) + (p->file != NULL);
    if (given != 1) {
        cli_usage_error(cmd, "give exactly one of --tokens, --prompt and --prompt-file");
        return -1;
    }
    if (p->tokens) {
        int n = cli_parse_id_list(p->tokens, ids);
        if (n <= 0) {
            free(*ids);
            *ids = NULL;
            cli_usage_error(cmd, "--tokens needs a comma-separated list of non-negative ids");
            return -1;
        }
        return n;
    }
    size_t len;
    char *text = cli_prompt_text(p, cmd, &len);
    if (!text) return -1;
    int n = bitnet_model_tokenize(m, text, len, !p->no_bos, p->parse_special, NULL, 0);
    if (n >= 0) {
        *ids = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
        if (!*ids || bitnet_model_tokenize(m, text, len, !p->no_bos, p->parse_special, *ids, n) != n) n = -1;
    }
    free(text);
    if (n < 0) {
        cli_fail(cmd, "tokenization failed: %s", bitnet_get_last_error());
        free(*ids);
        *ids = NULL;
        return -1;
    }
    if (n == 0) {
        cli_fail(cmd, "the prompt has no tokens");
        free(*ids);
        *ids = NULL;
        return -1;
    }
    return n;
}
