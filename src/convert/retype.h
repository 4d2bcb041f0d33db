/* retype: turning weights into the tensor types of a GGUF, shared by `bitnet convert` and
 * `bitnet quantize`.
 *
 * Ternary weights travel as int8 codes t in {-1, 0, +1} ([rows][cols], row-major, cols =
 * ne0 = in_features) plus ONE per-tensor scale s (value = s * t). Written as:
 *   I2_S          the scale as its f32 trailer: exact;
 *   TQ1_0/TQ2_0   the scale as every block's f16 d: exact when s is an f16 value, otherwise
 *                 rounded (relative error <= 2^-11; reported through *scale_rel_err);
 *   F32           exact; F16/BF16: s*t rounded once to the type.
 * BitNet b1.58's absmean rule makes ternary weights from float masters:
 *   beta = max(mean |W|, 1e-5) over the whole tensor, t = clamp(round(W / beta), -1, 1). */
#ifndef BITNET_RETYPE_H
#define BITNET_RETYPE_H

#include <stdbool.h>
#include <stdint.h>

/* Absmean ternarization of n floats into t; returns beta. */
float bn_absmean_ternarize(const float *w, uint64_t n, int8_t *t);

/* Encodes s * t (n values) as GGUF `type` into a new buffer (*out, *bytes; free() it).
 * *scale_rel_err (may be NULL) receives |stored scale - s| / s. Returns 0 or a negative status
 * with bn_error set (n not a whole number of blocks, out of memory). */
int bn_encode_ternary(const int8_t *t, uint64_t n, float s, uint32_t type, void **out, uint64_t *bytes,
                      double *scale_rel_err);

/* Encodes n floats as `type` (any type with a quantizer) into a new buffer. */
int bn_encode_floats(const float *v, uint64_t n, uint32_t type, void **out, uint64_t *bytes);

/* Decodes a ternary tensor (TQ1_0, TQ2_0, I2_S) of n values into codes t and its one scale
 * *s. When the blocks' scales differ (TQ types hold a d per block) it fails with
 * BITNET_ERR_UNSUPPORTED naming `name`: one per-tensor scale cannot hold them. Blocks whose
 * codes are all 0 do not count. */
int bn_decode_ternary(const void *data, uint32_t type, uint64_t n, const char *name, int8_t *t, float *s);

/* True when the GGUF tensor type is one of the ternary types. */
bool bn_type_is_ternary(uint32_t type);

#endif
