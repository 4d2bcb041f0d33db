/* hf: Hugging Face checkpoint folder: config.json, safetensors shards, family (see hf.h). */
#include "convert/hf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util.h"

#define MAX_CONFIG_BYTES (64u << 20)     /* config.json, index json */

char *hf_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = bn_malloc(n, "path");
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

bool hf_file_exists(const char *dir, const char *name) {
    char *p = hf_path(dir, name);
    struct stat st;
    bool ok = p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

/* ---- config.json ---- */

static int need_int(const bn_json *j, const char *key, int64_t min, int64_t max, int64_t *out) {
    if (!bn_json_get_int(j, key, min, max, out))
        return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: \"%s\" is missing or not an integer in %lld..%lld", key,
                        (long long)min, (long long)max);
    return 0;
}

static int classify(const bn_json *j, hf_config *c) {
    const bn_json *archs = bn_json_get(j, "architectures");
    const char *arch = archs && archs->type == BN_JSON_ARRAY && archs->n == 1 && archs->items[0].type == BN_JSON_STRING
                           ? archs->items[0].str : NULL;
    const char *act = bn_json_get_str(j, "hidden_act");
    const bn_json *q = bn_json_get(j, "quantization_config");
    const char *qmethod = bn_json_get_str(q, "quant_method");
    if (!arch) return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: \"architectures\" is not a list of one name");
    if (!act) return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: \"hidden_act\" is missing");
    if (q && (!qmethod || strcmp(qmethod, "bitnet")))
        return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: quantization_config.quant_method \"%s\" is not supported (only bitnet)",
                        qmethod ? qmethod : "(none)");
    const char *lclass = bn_json_get_str(q, "linear_class"), *mode = bn_json_get_str(q, "quantization_mode");
    if (!strcasecmp(arch, "BitNetForCausalLM") || !strcmp(arch, "BitnetForCausalLM")) {
        if (!strcmp(act, "relu2")) {
            c->family = HF_B158, c->gguf_arch = "bitnet-b1.58", c->family_name = "BitNet b1.58 2B-4T (BitNetForCausalLM, relu2)";
        } else if (!strcmp(act, "silu")) {
            c->family = HF_BITNET, c->gguf_arch = "bitnet", c->family_name = "1bitLLM BitNet b1.58 (BitnetForCausalLM, silu)";
        } else {
            return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: %s with hidden_act \"%s\" is not supported (relu2 or silu)", arch, act);
        }
        if (lclass && strcmp(lclass, "autobitlinear"))
            return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: quantization_config.linear_class \"%s\" is not supported here (autobitlinear)", lclass);
        if (mode && strcmp(mode, "offline") && strcmp(mode, "online"))
            return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: quantization_mode \"%s\" is not supported (offline or online)", mode);
        c->packed_expected = mode && !strcmp(mode, "offline");
        c->scale_divides = false;
    } else if (!strcmp(arch, "LlamaForCausalLM")) {
        if (!q) return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: LlamaForCausalLM without a bitnet quantization_config is not a ternary model");
        if (strcmp(act, "silu")) return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: LlamaForCausalLM with hidden_act \"%s\" (silu expected)", act);
        if (lclass && strcmp(lclass, "bitlinear"))
            return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: quantization_config.linear_class \"%s\" is not supported for LLaMA (bitlinear)", lclass);
        if (mode && strcmp(mode, "offline"))
            return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: LLaMA ternary checkpoints must be packed (quantization_mode offline), not \"%s\"", mode);
        c->family = HF_LLAMA, c->gguf_arch = "llama", c->family_name = "LLaMA-architecture ternary (BitLinear)";
        c->packed_expected = true, c->scale_divides = true;
        bool norms = false;
        bn_json_get_bool(q, "use_rms_norm", &norms);
        c->linear_norms = norms;
        double qeps;
        if (norms && bn_json_get_num(q, "rms_norm_eps", &qeps) && bn_json_get_num(j, "rms_norm_eps", &c->rms_eps) && qeps != c->rms_eps)
            return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: the per-linear norms' eps %g differs from rms_norm_eps %g "
                            "(a GGUF holds one eps)", qeps, c->rms_eps);
    } else {
        return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: architecture %s is not supported (BitNetForCausalLM, "
                        "BitnetForCausalLM, or LlamaForCausalLM with a bitnet quantization_config)", arch);
    }
    return 0;
}

/* llama3 scaling's parameters (transformers' defaults where absent); 0 or an error. */
static int read_llama3(const bn_json *rs, hf_config *c) {
    if (c->family != HF_LLAMA)
        return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: llama3 rope_scaling on the %s architecture: llama.cpp's graph for it "
                        "has no RoPE frequency factors (only the llama architecture does)", c->gguf_arch);
    c->rope_llama3 = true;
    c->llama3_factor = 8.0, c->llama3_low_freq = 1.0, c->llama3_high_freq = 4.0, c->llama3_orig_ctx = 8192.0;
    bn_json_get_num(rs, "factor", &c->llama3_factor);
    bn_json_get_num(rs, "low_freq_factor", &c->llama3_low_freq);
    bn_json_get_num(rs, "high_freq_factor", &c->llama3_high_freq);
    bn_json_get_num(rs, "original_max_position_embeddings", &c->llama3_orig_ctx);
    if (!(c->llama3_factor > 0 && c->llama3_factor <= 1e6 && c->llama3_low_freq > 0 && c->llama3_high_freq > c->llama3_low_freq &&
          c->llama3_high_freq <= 1e6 && c->llama3_orig_ctx >= 1 && c->llama3_orig_ctx <= 1e9))
        return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: llama3 rope_scaling needs factor > 0, 0 < low_freq_factor < "
                        "high_freq_factor and original_max_position_embeddings >= 1 (got %g, %g, %g, %g)", c->llama3_factor,
                        c->llama3_low_freq, c->llama3_high_freq, c->llama3_orig_ctx);
    return 0;
}

/* RoPE: rope_theta, and beyond plain RoPE transformers' rope_scaling (or, in newer exports,
 * rope_parameters, which also holds rope_theta): "linear" (positions divided by the factor)
 * and "llama3"; "default" or none is plain; the others (yarn, longrope, dynamic) are refused. */
static int read_rope(const bn_json *j, hf_config *c) {
    const bn_json *rs = bn_json_get(j, "rope_parameters");
    if (!rs || rs->type == BN_JSON_NULL) rs = bn_json_get(j, "rope_scaling");
    if (rs && rs->type != BN_JSON_NULL && rs->type != BN_JSON_OBJECT)
        return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: rope_scaling is not an object");
    bool object = rs && rs->type == BN_JSON_OBJECT;
    if (!bn_json_get_num(j, "rope_theta", &c->rope_base) && !(object && bn_json_get_num(rs, "rope_theta", &c->rope_base))) c->rope_base = 10000.0;
    if (!(c->rope_base > 1.0 && c->rope_base <= 1e12)) return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: rope_theta %g is out of range", c->rope_base);
    const char *type = object ? bn_json_get_str(rs, "rope_type") : NULL;
    if (object && !type) type = bn_json_get_str(rs, "type");
    if (!type || !strcmp(type, "default")) return 0;
    if (!strcasecmp(type, "llama3")) return read_llama3(rs, c);
    if (strcmp(type, "linear"))
        return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: rope_scaling type \"%s\" is not supported (linear and llama3 are)", type);
    if (!bn_json_get_num(rs, "factor", &c->rope_linear) || !(c->rope_linear > 0 && c->rope_linear <= 1e6))
        return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: linear rope_scaling needs a factor > 0");
    return 0;
}

void hf_llama3_rope_factors(const hf_config *c, float *out) {
    double low_wavelen = c->llama3_orig_ctx / c->llama3_low_freq, high_wavelen = c->llama3_orig_ctx / c->llama3_high_freq;
    for (int64_t i = 0; i < c->head_dim / 2; i++) {
        double wavelen = 2.0 * M_PI * pow(c->rope_base, (double)(2 * i) / (double)c->head_dim); /* 2 pi / frequency */
        double smooth = (c->llama3_orig_ctx / wavelen - c->llama3_low_freq) / (c->llama3_high_freq - c->llama3_low_freq);
        out[i] = wavelen < high_wavelen ? 1.0f
               : wavelen > low_wavelen  ? (float)c->llama3_factor
                                        : (float)(1.0 / ((1.0 - smooth) / c->llama3_factor + smooth));
    }
}

static int read_config(const bn_json *j, hf_config *c) {
    if (j->type != BN_JSON_OBJECT) return bn_error(BITNET_ERR_UNSUPPORTED, "config.json is not a JSON object");
    int rc = classify(j, c);
    const int64_t big = (int64_t)1 << 31;
    if (!rc) rc = need_int(j, "vocab_size", 1, big, &c->vocab);
    if (!rc) rc = need_int(j, "hidden_size", 1, big, &c->hidden);
    if (!rc) rc = need_int(j, "num_hidden_layers", 1, 100000, &c->layers);
    if (!rc) rc = need_int(j, "num_attention_heads", 1, big, &c->heads);
    if (!rc) rc = need_int(j, "intermediate_size", 1, big, &c->ffn);
    if (!rc) rc = need_int(j, "max_position_embeddings", 1, big, &c->ctx);
    if (rc) return rc;
    if (!bn_json_get(j, "num_key_value_heads")) c->kv_heads = c->heads;
    else if ((rc = need_int(j, "num_key_value_heads", 1, c->heads, &c->kv_heads))) return rc;
    if (c->hidden % c->heads || c->heads % c->kv_heads || (c->hidden / c->heads) % 2)
        return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: hidden_size %lld, %lld heads, %lld KV heads do not split into even heads",
                        (long long)c->hidden, (long long)c->heads, (long long)c->kv_heads);
    c->head_dim = c->hidden / c->heads;
    int64_t hd;
    const bn_json *hdj = bn_json_get(j, "head_dim");
    if (hdj && hdj->type != BN_JSON_NULL && (!bn_json_get_int(j, "head_dim", 1, big, &hd) || hd != c->head_dim))
        return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: head_dim other than hidden_size / num_attention_heads is not supported");
    if (!bn_json_get_num(j, "rms_norm_eps", &c->rms_eps)) c->rms_eps = 1e-6;
    if ((rc = read_rope(j, c))) return rc;
    c->tied = true; /* transformers' default when the key is absent */
    bn_json_get_bool(j, "tie_word_embeddings", &c->tied);
    bool bias = false;
    if ((bn_json_get_bool(j, "attention_bias", &bias) && bias) || (bn_json_get_bool(j, "mlp_bias", &bias) && bias))
        return bn_error(BITNET_ERR_UNSUPPORTED, "config.json: linear biases are not supported");
    return 0;
}

/* ---- shards ---- */

/* Shard names from model.safetensors.index.json's weight_map (unique, plain file names). */
static int shard_names(const char *dir, char ***names, int *n) {
    char *p = hf_path(dir, "model.safetensors.index.json");
    bn_json *idx = p ? bn_json_parse_file(p, MAX_CONFIG_BYTES) : NULL;
    free(p);
    if (!idx) return bn_last_error_status();
    const bn_json *map = bn_json_get(idx, "weight_map");
    int rc = 0;
    if (!map || map->type != BN_JSON_OBJECT || !map->n)
        rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s/model.safetensors.index.json: no weight_map object", dir);
    *names = rc ? NULL : bn_calloc(map->n, sizeof **names, "shard names");
    *n = 0;
    for (size_t i = 0; !rc && i < map->n; i++) {
        const bn_json *v = &map->items[i];
        if (!*names) { rc = BITNET_ERR_OUT_OF_MEMORY; break; }
        if (v->type != BN_JSON_STRING || !v->str_len || strchr(v->str, '/') || !strcmp(v->str, "..") || strlen(v->str) != v->str_len) {
            rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s/model.safetensors.index.json: weight_map[\"%.100s\"] is not a file name in the folder", dir, v->key);
            break;
        }
        bool seen = false;
        for (int k = 0; k < *n && !seen; k++) seen = !strcmp((*names)[k], v->str);
        if (!seen && !((*names)[(*n)++] = bn_strdup(v->str))) rc = BITNET_ERR_OUT_OF_MEMORY;
    }
    bn_json_free(idx);
    return rc;
}

static int open_shards(hf_checkpoint *c) {
    char **names = NULL;
    int n = 0, rc = 0;
    if (hf_file_exists(c->dir, "model.safetensors.index.json")) {
        rc = shard_names(c->dir, &names, &n);
    } else if (hf_file_exists(c->dir, "model.safetensors")) {
        names = bn_calloc(1, sizeof *names, "shard names");
        rc = names && (names[0] = bn_strdup("model.safetensors")) ? 0 : BITNET_ERR_OUT_OF_MEMORY;
        n = 1;
    } else if (hf_file_exists(c->dir, "pytorch_model.bin")) {
        rc = bn_error(BITNET_ERR_UNSUPPORTED, "%s: pytorch_model.bin (pickle) is not supported; convert it to safetensors first", c->dir);
    } else {
        rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: no model.safetensors or model.safetensors.index.json", c->dir);
    }
    if (!rc) {
        c->shards = bn_calloc((size_t)n, sizeof *c->shards, "shards");
        c->used = bn_calloc((size_t)n, sizeof *c->used, "shards");
        if (!c->shards || !c->used) rc = BITNET_ERR_OUT_OF_MEMORY;
    }
    for (int i = 0; !rc && i < n; i++) {
        char *p = hf_path(c->dir, names[i]);
        if (!p || !(c->shards[i] = st_open(p))) rc = p ? bn_last_error_status() : BITNET_ERR_OUT_OF_MEMORY;
        free(p);
        if (!rc) c->n_shards++;
        if (!rc && !(c->used[i] = bn_calloc(c->shards[i]->n_tensors + 1, sizeof(bool), "used"))) rc = BITNET_ERR_OUT_OF_MEMORY;
    }
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
    return rc;
}

int hf_open(const char *dir, hf_checkpoint **out) {
    *out = NULL;
    hf_checkpoint *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = bn_strdup(dir))) {
        free(c);
        return bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory");
    }
    char *p = hf_path(dir, "config.json");
    int rc = 0;
    if (!p || !(c->config_json = bn_json_parse_file(p, MAX_CONFIG_BYTES))) rc = p ? bn_last_error_status() : BITNET_ERR_OUT_OF_MEMORY;
    free(p);
    if (!rc) rc = read_config(c->config_json, &c->cfg);
    if (!rc) rc = open_shards(c);
    if (rc) {
        hf_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void hf_close(hf_checkpoint *c) {
    if (!c) return;
    for (int i = 0; i < c->n_shards; i++) st_close(c->shards[i]);
    for (int i = 0; c->used && i < c->n_shards; i++) free(c->used[i]);
    free(c->shards);
    free(c->used);
    bn_json_free(c->config_json);
    free(c->dir);
    free(c);
}

const st_tensor *hf_tensor(hf_checkpoint *c, const char *name) {
    for (int i = 0; i < c->n_shards; i++) {
        const st_tensor *t = st_find(c->shards[i], name);
        if (t) {
            c->used[i][t - c->shards[i]->tensors] = true;
            return t;
        }
    }
    return NULL;
}

int hf_check_all_used(const hf_checkpoint *c) {
    for (int i = 0; i < c->n_shards; i++)
        for (size_t k = 0; k < c->shards[i]->n_tensors; k++) {
            const char *name = c->shards[i]->tensors[k].name;
            /* Precomputed RoPE frequencies some exports carry: derived from rope_theta. */
            static const char inv_freq[] = "rotary_emb.inv_freq";
            size_t len = strlen(name), sl = sizeof inv_freq - 1;
            if (len >= sl && !strcmp(name + len - sl, inv_freq)) continue;
            if (!c->used[i][k])
                return bn_error(BITNET_ERR_UNSUPPORTED, "%s: tensor %s (%s) is not understood by the converter; refusing "
                                "rather than dropping it", c->shards[i]->path, name, st_dtype_name(c->shards[i]->tensors[k].dtype));
        }
    return 0;
}
