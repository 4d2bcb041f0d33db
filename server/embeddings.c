/* embeddings: inputs -> prompt ids, vectors -> replies (see embeddings.h). */
#include "embeddings.h"

#include <stdlib.h>
#include <string.h>

/* The inputs (api_read_prompts' forms, at most EMBED_MAX_INPUTS) and their ids. */
static int read_inputs(const request_model *m, json_t *in, const char *name, embed_request *r, api_error *err) {
    api_prompt *inputs;
    int n;
    bool several;
    int rc = api_read_prompts(in, name, EMBED_MAX_INPUTS, &inputs, &n, &several, err);
    if (!rc) {
        r->n_inputs = n;
        rc = request_prompts_ids(m, inputs, n, name, several, &r->ids, &r->n_ids, err);
    }
    api_prompts_free(inputs, n);
    return rc;
}

static int read_options(json_t *body, embed_request *r, api_error *err) {
    json_t *f = json_object_get(body, "encoding_format"), *norm = json_object_get(body, "embd_normalize"),
           *model = json_object_get(body, "model"), *dims = json_object_get(body, "dimensions");
    if (api_present(f)) {
        const char *s = json_string_value(f);
        if (!s || (strcmp(s, "float") && strcmp(s, "base64")))
            return api_errorf(err, 400, "'encoding_format' must be \"float\" or \"base64\"");
        r->base64 = !strcmp(s, "base64");
    }
    if (api_present(norm)) {
        if (!json_is_integer(norm) || json_integer_value(norm) < -1 || json_integer_value(norm) > 64)
            return api_errorf(err, 400, "'embd_normalize' must be an integer in -1..64");
        r->normalize = (int)json_integer_value(norm);
    }
    if (api_present(dims)) {
        if (!json_is_integer(dims) || json_integer_value(dims) < 1) return api_errorf(err, 400, "'dimensions' must be a positive integer");
        r->dimensions = json_integer_value(dims);
    }
    if (json_is_string(model) && !(r->model = strdup(json_string_value(model)))) return api_errorf(err, 500, "out of memory");
    return 0;
}

int embed_request_parse(const request_model *m, const char *body, size_t len, bool oai, int normalize, embed_request *out,
                        api_error *err) {
    memset(out, 0, sizeof *out);
    out->oai = oai;
    out->normalize = normalize;
    json_t *root = api_load_object(body, len, err);
    if (!root) return -1;
    json_t *in = json_object_get(root, "input");
    const char *name = "input";
    if (!in && (in = json_object_get(root, "content"))) {
        name = "content";
        out->oai = false; /* llama-server answers "content" in its own shape */
    }
    int rc = !in ? api_errorf(err, 400, "\"input\" or \"content\" must be provided") : read_inputs(m, in, name, out, err);
    if (!rc) rc = read_options(root, out, err);
    json_decref(root);
    if (rc) embed_request_free(out);
    return rc;
}

void embed_request_free(embed_request *r) {
    for (int i = 0; r->ids && i < r->n_inputs; i++) free(r->ids[i]);
    free(r->ids);
    free(r->n_ids);
    free(r->model);
    memset(r, 0, sizeof *r);
}

/* n floats as a JSON array. */
static json_t *float_array(const float *v, int64_t n) {
    json_t *a = json_array();
    for (int64_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_real(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Standard base64 (RFC 4648, with padding) of n bytes; malloc'd. */
static char *base64(const unsigned char *p, size_t n) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; out && i < n; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = digits[w >> 18 & 63];
        *o++ = digits[w >> 12 & 63];
        *o++ = i + 1 < n ? digits[w >> 6 & 63] : '=';
        *o++ = i + 2 < n ? digits[w & 63] : '=';
    }
    if (out) *o = 0;
    return out;
}

/* OpenAI's embedding: floats, or the base64 of their little-endian float32 bytes (the x86 and
 * aarch64 targets are little-endian). */
static json_t *oai_vector(const embed_request *r, const float *v, int64_t n) {
    if (!r->base64) return float_array(v, n);
    char *text = base64((const unsigned char *)v, (size_t)n * sizeof *v);
    json_t *s = text ? json_string(text) : NULL;
    free(text);
    return s;
}

static json_t *oai_reply(const embed_request *r, const char *model_name, float *const *vectors, int64_t n_embd) {
    json_t *data = json_array();
    long long n_tokens = 0;
    for (int i = 0; data && i < r->n_inputs; i++) {
        json_t *item = json_pack("{s:o*, s:i, s:s}", "embedding", oai_vector(r, vectors[i], n_embd), "index", i, "object", "embedding");
        if (!item || !json_object_get(item, "embedding") || json_array_append_new(data, item)) {
            json_decref(item);
            json_decref(data);
            return NULL;
        }
        n_tokens += r->n_ids[i];
    }
    return data ? json_pack("{s:s, s:s, s:{s:I, s:I}, s:o}", "model", r->model ? r->model : model_name, "object", "list", "usage",
                            "prompt_tokens", n_tokens, "total_tokens", n_tokens, "data", data)
                : NULL;
}

/* llama-server's: per input its vectors, one when pooled, else one per token. */
static json_t *llama_reply(const embed_request *r, float *const *vectors, bitnet_pooling pooling, int64_t n_embd) {
    json_t *list = json_array();
    for (int i = 0; list && i < r->n_inputs; i++) {
        int rows = pooling == BITNET_POOLING_NONE ? r->n_ids[i] : 1;
        json_t *vecs = json_array();
        for (int k = 0; vecs && k < rows; k++)
            if (json_array_append_new(vecs, float_array(vectors[i] + (int64_t)k * n_embd, n_embd))) json_decref(vecs), vecs = NULL;
        json_t *item = vecs ? json_pack("{s:i, s:o}", "index", i, "embedding", vecs) : NULL;
        if (!item || json_array_append_new(list, item)) json_decref(list), list = NULL;
    }
    return list;
}

json_t *embed_reply(const embed_request *r, const char *model_name, float *const *vectors, bitnet_pooling pooling, int64_t n_embd) {
    if (pooling != BITNET_POOLING_NONE)
        for (int i = 0; i < r->n_inputs; i++) bitnet_embedding_normalize(vectors[i], n_embd, r->normalize);
    return r->oai ? oai_reply(r, model_name, vectors, n_embd) : llama_reply(r, vectors, pooling, n_embd);
}
