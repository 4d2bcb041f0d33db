/* retype: ternary codes + scale <-> GGUF tensor types, and absmean ternarization (retype.h). */
#include "convert/retype.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/types.h"
#include "util.h"

bool bn_type_is_ternary(uint32_t type) {
    const bn_type_traits *tr = bn_type_get(type);
    return tr && tr->ternary;
}

float bn_absmean_ternarize(const float *w, uint64_t n, int8_t *t) {
    double sum = 0.0;
    for (uint64_t i = 0; i < n; i++) sum += fabs((double)w[i]);
    float beta = n ? (float)(sum / (double)n) : 0.0f;
    if (!(beta >= 1e-5f)) beta = 1e-5f; /* also catches NaN */
    float inv = 1.0f / beta;
    for (uint64_t i = 0; i < n; i++) {
        float r = nearbyintf(w[i] * inv); /* round half to even, as torch.round */
        t[i] = (int8_t)(r > 0.0f ? 1 : r < 0.0f ? -1 : 0);
    }
    return beta;
}

int bn_encode_floats(const float *v, uint64_t n, uint32_t type, void **out, uint64_t *bytes) {
    const bn_type_traits *tr = bn_type_get(type);
    if (!tr || !tr->quantize) return bn_error(BITNET_ERR_UNSUPPORTED, "no quantizer for tensor type %u", type);
    if (!bn_type_nbytes(type, n, bytes))
        return bn_error(BITNET_ERR_UNSUPPORTED, "%llu values are not a whole number of %s blocks (%u)",
                        (unsigned long long)n, tr->name, type == BN_TYPE_I2_S ? BN_I2S_BLOCK : tr->block_size);
    if (!(*out = bn_malloc(*bytes ? *bytes : 1, "tensor"))) return BITNET_ERR_OUT_OF_MEMORY;
    tr->quantize(v, n, *out);
    return 0;
}

/* The scale `type` stores for s (TQ types: f16 d; others: s itself). */
static float stored_scale(uint32_t type, float s) {
    return type == BN_TYPE_TQ1_0 || type == BN_TYPE_TQ2_0 ? bn_f16_to_f32(bn_f32_to_f16(s)) : s;
}

int bn_encode_ternary(const int8_t *t, uint64_t n, float s, uint32_t type, void **out, uint64_t *bytes,
                      double *scale_rel_err) {
    if (!(s > 0.0f) || !isfinite(s)) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "ternary scale %g is not a positive finite number", (double)s);
    /* The quantizers take the scale from each block's absmax (TQ) or the tensor's (I2_S):
     * s*t in float holds exactly s or -s or 0, so they store s (rounded to f16 for TQ). */
    float *v = bn_malloc((n ? n : 1) * sizeof *v, "ternary values");
    if (!v) return BITNET_ERR_OUT_OF_MEMORY;
    for (uint64_t i = 0; i < n; i++) v[i] = (float)t[i] * s;
    int rc = bn_encode_floats(v, n, type, out, bytes);
    free(v);
    if (scale_rel_err) *scale_rel_err = fabs((double)stored_scale(type, s) - (double)s) / (double)s;
    return rc;
}

int bn_decode_ternary(const void *data, uint32_t type, uint64_t n, const char *name, int8_t *t, float *s) {
    const bn_type_traits *tr = bn_type_get(type);
    if (!tr || !tr->ternary) return bn_error(BITNET_ERR_UNSUPPORTED, "%s: not a ternary tensor", name);
    uint32_t bs = type == BN_TYPE_I2_S ? BN_I2S_BLOCK : tr->block_size;
    float *v = bn_malloc(bs * sizeof *v, "block");
    if (!v) return BITNET_ERR_OUT_OF_MEMORY;
    float scale = 0.0f;
    int rc = 0;
    for (uint64_t b = 0; b < n / bs && !rc; b++) {
        tr->dequantize(data, n, b * bs, bs, v);
        for (uint32_t j = 0; j < bs && !rc; j++) {
            float a = fabsf(v[j]);
            int8_t c = 0;
            if (a != 0.0f) {
                if (scale == 0.0f) scale = a;
                if (a != scale)
                    rc = bn_error(BITNET_ERR_UNSUPPORTED, "%s: blocks have different scales (%g and %g); a per-tensor scale "
                                  "cannot hold them exactly", name, (double)scale, (double)a);
                c = v[j] > 0.0f ? 1 : -1;
            }
            t[b * bs + j] = c;
        }
    }
    free(v);
    *s = scale != 0.0f ? scale : 1.0f;
    return rc;
}
