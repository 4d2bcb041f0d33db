/* ref_tokenize: the reference side of tests/scripts/test_tokenizer_parity.sh. Tokenizes every
 * case of a llama.cpp-style .inp file (cases separated by "\n__ggml_vocab_test__\n") with the
 * prebuilt reference libllama (vocab_only load) and prints one line of ids per case, in the
 * same format as `bitnet tokenize --batch-file`.
 *
 * usage: ref_tokenize LIBDIR VOCAB.gguf CASES [--no-bos] [--parse-special] [--pre NAME]
 *   --pre NAME overrides tokenizer.ggml.pre (a llama.cpp kv override), e.g. "default" to get
 *   what llama.cpp does for a file without the key.
 * Built by the test script with cc against .cache/reference/llama.cpp/{include,ggml/include}. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "llama.h"

static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static char *read_all(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: ref_tokenize LIBDIR VOCAB.gguf CASES [--no-bos] [--parse-special] [--pre NAME]\n");
        return 2;
    }
    bool add_special = true, parse_special = false;
    const char *pre = NULL;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--no-bos")) add_special = false;
        else if (!strcmp(argv[i], "--parse-special")) parse_special = true;
        else if (!strcmp(argv[i], "--pre") && i + 1 < argc) pre = argv[++i];
        else {
            fprintf(stderr, "ref_tokenize: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    llama_log_set(quiet_log, NULL);
    ggml_backend_load_all_from_path(argv[1]);
    llama_backend_init();

    struct llama_model_kv_override ov[2];
    memset(ov, 0, sizeof ov);
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    if (pre) {
        ov[0].tag = LLAMA_KV_OVERRIDE_TYPE_STR;
        snprintf(ov[0].key, sizeof ov[0].key, "tokenizer.ggml.pre");
        snprintf(ov[0].val_str, sizeof ov[0].val_str, "%s", pre);
        mp.kv_overrides = ov;
    }
    struct llama_model *model = llama_model_load_from_file(argv[2], mp);
    if (!model) {
        fprintf(stderr, "ref_tokenize: cannot load %s\n", argv[2]);
        return 1;
    }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    size_t len;
    char *data = read_all(argv[3], &len);
    if (!data) {
        fprintf(stderr, "ref_tokenize: cannot read %s\n", argv[3]);
        return 1;
    }
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sep_len = strlen(sep), pos = 0;
    int cap = 1 << 16;
    llama_token *ids = malloc(sizeof *ids * (size_t)cap);
    while (ids && pos < len) {
        const char *next = memmem(data + pos, len - pos, sep, sep_len);
        size_t end = next ? (size_t)(next - data) : len;
        int n = llama_tokenize(vocab, data + pos, (int32_t)(end - pos), ids, cap, add_special, parse_special);
        if (n < 0) {
            fprintf(stderr, "ref_tokenize: case too long\n");
            return 1;
        }
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
        pos = next ? end + sep_len : len;
    }
    free(ids);
    free(data);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
