/* cmd_tokenize: `bitnet tokenize`: prints the token ids of a text using a GGUF's vocabulary
 * (a full model or a vocabulary-only file; no weights are needed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/gguf.h"
#include "text/tokenizer.h"
#include "util.h"

#define CASE_SEPARATOR "\n__ggml_vocab_test__\n"

static void usage(FILE *out) {
    fprintf(out,
            "usage: bitnet tokenize --model M (--prompt TEXT | --prompt-file F | --batch-file F)\n"
            "                       [--no-bos] [--parse-special] [--json]\n"
            "                       [--tokenizer-pre auto|default|llama3]\n\n"
            "Prints the token ids of the text on one line, separated by spaces.\n\n"
            "  -m, --model M          GGUF with tokenizer.* keys (a vocabulary-only file works)\n"
            "  -p, --prompt TEXT      the text to tokenize\n"
            "  --prompt-file F        read the text from F (bytes as they are; no newline stripped)\n"
            "  --batch-file F         tokenize every case of F (cases separated by a line\n"
            "                         __ggml_vocab_test__, llama.cpp's .inp format); one line of\n"
            "                         ids per case\n"
            "  --no-bos               do not add BOS/EOS even when the vocabulary asks for them\n"
            "  --parse-special        turn control-token texts such as <|eot_id|> into their ids\n"
            "  --json                 print {\"ids\":[...],\"pieces\":[...]} instead (pieces are the\n"
            "                         bytes of each token, special tokens rendered; invalid UTF-8\n"
            "                         bytes are written as \\u00XX of the byte value)\n"
            "  --tokenizer-pre P      pre-tokenizer for byte-level BPE vocabularies: auto (default:\n"
            "                         the file's tokenizer.ggml.pre, or LLaMA-3's when the key is\n"
            "                         absent and the vocabulary is LLaMA-3's), default (what\n"
            "                         llama.cpp does when the key is absent), llama3\n");
}

static char *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool failed = ferror(fp);
    fclose(fp);
    if (failed) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Writes bytes as the inside of a JSON string. */
static void json_bytes(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20 || c == 0x7F) printf("\\u%04x", c);
        else if (c < 0x80) putchar(c);
        else {
            /* Copy a valid UTF-8 sequence; escape a byte that does not start one. */
            size_t k = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
            bool valid = k && i + k <= n;
            for (size_t j = 1; valid && j < k; j++) valid = ((unsigned char)s[i + j] & 0xC0) == 0x80;
            if (valid) {
                fwrite(s + i, 1, k, stdout);
                i += k - 1;
            } else {
                printf("\\u%04x", c);
            }
        }
    }
}

static int print_ids(const bn_tokenizer *t, const int32_t *ids, int n, bool json) {
    if (!json) {
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
        return 0;
    }
    fputs("{\"ids\":[", stdout);
    for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)ids[i]);
    fputs("],\"pieces\":[", stdout);
    char small[256];
    for (int i = 0; i < n; i++) {
        int len = bn_token_to_piece(t, ids[i], true, small, sizeof small);
        char *buf = small;
        if (len < 0 && len != BN_TOKENIZER_FAILED) {
            buf = malloc((size_t)-len);
            if (!buf) return cli_fail("tokenize", "out of memory");
            len = bn_token_to_piece(t, ids[i], true, buf, -len);
        }
        if (len < 0) return cli_fail("tokenize", "%s", bn_last_error_message());
        fputs(i ? ",\"" : "\"", stdout);
        json_bytes(buf, (size_t)len);
        putchar('"');
        if (buf != small) free(buf);
    }
    fputs("]}\n", stdout);
    return 0;
}

static int tokenize_one(const bn_tokenizer *t, const char *text, size_t len, bool add_special,
                        bool parse_special, bool json) {
    int n = bn_tokenize(t, text, len, add_special, parse_special, NULL, 0);
    if (n == BN_TOKENIZER_FAILED) return cli_fail("tokenize", "%s", bn_last_error_message());
    int need = n < 0 ? -n : n;
    int32_t *ids = malloc(((size_t)need + 1) * sizeof *ids);
    if (!ids) return cli_fail("tokenize", "out of memory");
    n = bn_tokenize(t, text, len, add_special, parse_special, ids, need);
    int rc = n < 0 ? cli_fail("tokenize", "%s", bn_last_error_message())
                   : print_ids(t, ids, n, json);
    free(ids);
    return rc;
}

/* Tokenizes each case of a llama.cpp-style .inp file. */
static int tokenize_batch(const bn_tokenizer *t, const char *data, size_t len, bool add_special,
                          bool parse_special, bool json) {
    const size_t sep_len = strlen(CASE_SEPARATOR);
    size_t pos = 0;
    while (pos < len) {
        const char *next = memmem(data + pos, len - pos, CASE_SEPARATOR, sep_len);
        size_t end = next ? (size_t)(next - data) : len;
        int rc = tokenize_one(t, data + pos, end - pos, add_special, parse_special, json);
        if (rc) return rc;
        pos = next ? end + sep_len : len;
    }
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *prompt_file = NULL, *batch_file = NULL;
    const char *pre = "auto";
    bool no_bos = false, parse_special = false, json = false;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt(argc, argv, &i, "--model", "-m", &model)) ||
            (r = cli_opt(argc, argv, &i, "--prompt", "-p", &prompt)) ||
            (r = cli_opt(argc, argv, &i, "--prompt-file", NULL, &prompt_file)) ||
            (r = cli_opt(argc, argv, &i, "--batch-file", NULL, &batch_file)) ||
            (r = cli_opt(argc, argv, &i, "--tokenizer-pre", NULL, &pre))) {
            if (r < 0) return 2;
        } else if (cli_flag(argv, i, "--no-bos", NULL)) no_bos = true;
        else if (cli_flag(argv, i, "--parse-special", NULL)) parse_special = true;
        else if (cli_flag(argv, i, "--json", NULL)) json = true;
        else if (cli_flag(argv, i, "--help", "-h")) {
            usage(stdout);
            return 0;
        } else return cli_usage_error("tokenize", "unknown option '%s'", argv[i]);
    }
    if (!model) return cli_usage_error("tokenize", "--model is required");
    if ((prompt != NULL) + (prompt_file != NULL) + (batch_file != NULL) != 1)
        return cli_usage_error("tokenize", "give exactly one of --prompt, --prompt-file, --batch-file");
    bn_tokenizer_options opt = {BN_PRE_AUTO};
    if (!strcmp(pre, "auto")) opt.pre = BN_PRE_AUTO;
    else if (!strcmp(pre, "default")) opt.pre = BN_PRE_DEFAULT;
    else if (!strcmp(pre, "llama3")) opt.pre = BN_PRE_LLAMA3;
    else return cli_usage_error("tokenize", "--tokenizer-pre must be auto, default or llama3, not '%s'", pre);

    size_t text_len = prompt ? strlen(prompt) : 0;
    char *text = NULL;
    const char *file = prompt_file ? prompt_file : batch_file;
    if (file && !(text = read_file(file, &text_len)))
        return cli_fail("tokenize", "cannot read %s", file);
    gguf_file *f = gguf_open(model);
    if (!f) {
        free(text);
        return cli_fail("tokenize", "%s", bn_last_error_message());
    }
    bn_tokenizer *t = bn_tokenizer_load(f, &opt);
    gguf_close(f);
    int rc;
    if (!t) rc = cli_fail("tokenize", "%s", bn_last_error_message());
    else if (batch_file) rc = tokenize_batch(t, text, text_len, !no_bos, parse_special, json);
    else rc = tokenize_one(t, prompt ? prompt : text, text_len, !no_bos, parse_special, json);
    bn_tokenizer_free(t);
    free(text);
    return rc;
}
