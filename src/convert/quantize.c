/* quantize: GGUF weight types -> other weight types (see quantize.h). */
#include "convert/quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/retype.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "util.h"

static bool is_layer_matrix(const char *name) {
    static const char *const linears[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    int l, end = 0;
    char what[32];
    if (sscanf(name, "blk.%d.%31[a-z_].weight%n", &l, what, &end) != 2 || name[end] != 0) return false;
    for (size_t i = 0; i < sizeof linears / sizeof linears[0]; i++)
        if (!strcmp(what, linears[i])) return true;
    return false;
}

static bool bitnet_arch(const gguf_file *f) {
    char arch[64] = "";
    gguf_get_str_buf(f, "general.architecture", arch, sizeof arch);
    return !strcmp(arch, "bitnet") || !strcmp(arch, "bitnet-b1.58") || !strcmp(arch, "bitnet-25");
}

static int check_rows(const gguf_tensor *t, uint32_t type) {
    const bn_type_traits *tr = bn_type_get(type);
    uint32_t block = type == BN_TYPE_I2_S ? BN_I2S_BLOCK : tr->block_size;
    if (t->ne[0] % block)
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s: rows of %llu values are not a whole number of %s blocks (%u)", t->name,
                        (unsigned long long)t->ne[0], tr->name, block);
    return 0;
}

static int dequantize_all(const gguf_tensor *t, float **out) {
    const bn_type_traits *tr = bn_type_get(t->type);
    float *v = bn_malloc((t->n_elements ? t->n_elements : 1) * sizeof *v, t->name);
    if (!v) return BITNET_ERR_OUT_OF_MEMORY;
    tr->dequantize(t->data, t->n_elements, 0, t->n_elements, v);
    *out = v;
    return 0;
}

/* A layer matrix as `type` in a new buffer. */
static int retype_matrix(const gguf_tensor *t, uint32_t type, bn_quantize_report *rep, void **data, uint64_t *bytes) {
    int rc = check_rows(t, type);
    if (rc) return rc;
    uint64_t n = t->n_elements;
    bool src_t = bn_type_is_ternary(t->type), dst_t = bn_type_is_ternary(type);
    if (src_t && dst_t) {
        int8_t *codes = bn_malloc(n ? n : 1, t->name);
        float s;
        double err = 0;
        if (!codes) return BITNET_ERR_OUT_OF_MEMORY;
        rc = bn_decode_ternary(t->data, t->type, n, t->name, codes, &s);
        if (!rc) rc = bn_encode_ternary(codes, n, s, type, data, bytes, &err);
        free(codes);
        if (!rc && err > 0) rep->n_rounded++;
        if (err > rep->max_scale_err) rep->max_scale_err = err;
        return rc;
    }
    float *v;
    if ((rc = dequantize_all(t, &v))) return rc;
    if (dst_t) {
        int8_t *codes = bn_malloc(n ? n : 1, t->name);
        if (!codes) rc = BITNET_ERR_OUT_OF_MEMORY;
        if (!rc) rc = bn_encode_ternary(codes, n, bn_absmean_ternarize(v, n, codes), type, data, bytes, NULL);
        free(codes);
        rep->n_absmean++;
    } else {
        rc = bn_encode_floats(v, n, type, data, bytes);
    }
    free(v);
    return rc;
}

static int retype_head(const gguf_tensor *t, uint32_t type, void **data, uint64_t *bytes) {
    float *v;
    int rc = check_rows(t, type);
    if (!rc) rc = dequantize_all(t, &v);
    if (rc) return rc;
    rc = bn_encode_floats(v, t->n_elements, type, data, bytes);
    free(v);
    return rc;
}

static int check_params(const bn_quantize_params *p, const gguf_file *f) {
    const bn_type_traits *w = bn_type_get(p->wtype);
    if (!w || !w->quantize || !(w->ternary || p->wtype == BN_TYPE_F32 || p->wtype == BN_TYPE_F16 || p->wtype == BN_TYPE_BF16))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "type must be i2_s, tq2_0, tq1_0, f16, bf16 or f32");
    if (p->wtype == BN_TYPE_I2_S && !bitnet_arch(f))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "%s: i2_s is only for the BitNet architectures (bitnet, bitnet-b1.58)", f->path);
    if (p->head_type != BN_CONVERT_AUTO_TYPE && p->head_type != BN_TYPE_F16 && p->head_type != BN_TYPE_Q8_0 && p->head_type != BN_TYPE_F32)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "head type must be f16, q8_0 or f32");
    if (!strcmp(p->in_path, p->out_path)) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "input and output are the same file");
    return 0;
}

static int run(const bn_quantize_params *p, gguf_file *f, gguf_writer *w, bn_quantize_report *rep) {
    int rc = check_params(p, f);
    for (uint64_t i = 0; !rc && i < f->n_kv; i++) rc = gguf_writer_copy_kv(w, f, &f->kv[i]);
    /* Updated where present (not added, so that round trips give byte-identical files). */
    if (!rc && gguf_find_kv(f, "general.file_type")) rc = gguf_writer_set_u32(w, "general.file_type", bn_file_type_for(p->wtype));
    for (uint64_t i = 0; !rc && i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        void *data = NULL;
        uint64_t bytes = t->n_bytes;
        uint32_t type = t->type;
        bool head = !strcmp(t->name, "token_embd.weight") || !strcmp(t->name, "output.weight");
        if (is_layer_matrix(t->name)) {
            type = p->wtype;
            rc = retype_matrix(t, type, rep, &data, &bytes);
            rep->n_linear++;
        } else if (head && p->head_type != BN_CONVERT_AUTO_TYPE) {
            type = p->head_type;
            rc = retype_head(t, type, &data, &bytes);
            rep->n_head++;
        } else {
            rep->n_copied++;
        }
        if (!rc) rc = gguf_writer_add_tensor(w, t->name, t->n_dims, t->ne, type, data ? data : t->data, bytes, data != NULL);
        free(data);
    }
    if (!rc) rc = gguf_writer_write(w, p->out_path);
    return rc;
}

int bn_quantize(const bn_quantize_params *p, bn_quantize_report *rep) {
    memset(rep, 0, sizeof *rep);
    if (!p || !p->in_path || !p->out_path) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "quantize: input and output paths are required");
    gguf_file *f = gguf_open(p->in_path);
    if (!f) return bn_last_error_status();
    gguf_writer *w = gguf_writer_new();
    int rc = w ? run(p, f, w, rep) : bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory");
    gguf_writer_free(w);
    gguf_close(f);
    return rc;
}
