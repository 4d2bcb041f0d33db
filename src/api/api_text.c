/* api_text: tokenization entry points of the public API (over tokenizer.c). */
#include <limits.h>
#include <string.h>

#include "api/api_internal.h"
#include "util.h"

static int need_tokenizer(const bitnet_model *model, const char *fn) {
    if (!model) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "%s: model is NULL", fn);
    if (!model->tokenizer)
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s: this model has no tokenizer (give one with --tokenizer / tokenizer_path)", fn);
    return 0;
}

BITNET_API int bitnet_model_tokenize(const bitnet_model *model, const char *text, size_t len, int add_special,
                                     int parse_special, int32_t *tokens, int max_tokens) {
    int rc = need_tokenizer(model, "bitnet_model_tokenize");
    if (rc) return rc;
    if ((!text && len) || max_tokens < 0 || (!tokens && max_tokens > 0) || len > INT_MAX)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_tokenize: invalid text or buffer");
    int n = bn_tokenize(model->tokenizer, text ? text : "", len, add_special != 0, parse_special != 0, tokens, max_tokens);
    if (n == BN_TOKENIZER_FAILED) return bn_last_error_status() ? bn_last_error_status() : BITNET_ERR_INTERNAL;
    if (n < 0) {
        if (!tokens && max_tokens == 0) return -n;
        return bn_error(BITNET_ERR_BUFFER_TOO_SMALL, "bitnet_model_tokenize: %d tokens needed, buffer holds %d", -n, max_tokens);
    }
    return n;
}

BITNET_API int bitnet_model_token_to_piece(const bitnet_model *model, int32_t token, int render_special, char *buf, size_t cap) {
    int rc = need_tokenizer(model, "bitnet_model_token_to_piece");
    if (rc) return rc;
    if ((!buf && cap) || cap > INT_MAX) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_token_to_piece: invalid buffer");
    int n = bn_token_to_piece(model->tokenizer, token, render_special != 0, buf, (int)cap);
    if (n == BN_TOKENIZER_FAILED) return bn_last_error_status() ? bn_last_error_status() : BITNET_ERR_INVALID_ARGUMENT;
    if (n < 0) {
        if (!buf && cap == 0) return -n;
        return bn_error(BITNET_ERR_BUFFER_TOO_SMALL, "bitnet_model_token_to_piece: %d bytes needed, buffer holds %zu", -n, cap);
    }
    return n;
}

BITNET_API int bitnet_model_token_is_eog(const bitnet_model *model, int32_t token) {
    return model && model->tokenizer && bn_tokenizer_is_eog(model->tokenizer, token) ? 1 : 0;
}

BITNET_API int bitnet_model_meta_str(const bitnet_model *model, const char *key, char *buf, size_t cap) {
    if (!model || !key || (!buf && cap)) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_meta_str: NULL argument");
    const char *s;
    uint64_t len;
    if (!gguf_get_str(model->m->file, key, &s, &len)) return bn_error(BITNET_ERR_NOT_FOUND, "no string key '%s' in the model", key);
    if (len > INT_MAX - 1) return bn_error(BITNET_ERR_UNSUPPORTED, "key '%s' is too long", key);
    if (!buf && cap == 0) return (int)len;
    if (cap <= len) return bn_error(BITNET_ERR_BUFFER_TOO_SMALL, "key '%s' needs %llu bytes + NUL", key, (unsigned long long)len);
    memcpy(buf, s, (size_t)len);
    buf[len] = '\0';
    return (int)len;
}
