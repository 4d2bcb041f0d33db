/* quantize: GGUF -> GGUF with other weight types (`bitnet quantize`).
 *
 * The layer matrices (blk.N.{attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down}.weight)
 * become `wtype`:
 *   ternary -> ternary (I2_S <-> TQ2_0 <-> TQ1_0): codes kept; the one scale moves between
 *     I2_S's per-tensor f32 and the TQ types' per-block f16 d. TQ1_0 <-> TQ2_0 is exact. I2_S ->
 *     TQ rounds a scale that is not an f16 value (reported); TQ -> I2_S needs every block to
 *     share one d (else refused: a per-tensor scale cannot hold them).
 *   float (F32/F16/BF16/Q8_0) -> ternary: the absmean rule (retype.h).
 *   anything -> F32/F16/BF16: dequantized and re-encoded.
 * token_embd.weight and output.weight become head_type when it is given. Every other tensor
 * and every key is copied (general.file_type updated when present). Written atomically. */
#ifndef BITNET_QUANTIZE_H
#define BITNET_QUANTIZE_H

#include <stdint.h>

#include "convert/convert.h"

typedef struct bn_quantize_params {
    const char *in_path, *out_path;
    uint32_t wtype;             /* layer matrices' type */
    uint32_t head_type;         /* BN_CONVERT_AUTO_TYPE: keep */
} bn_quantize_params;

typedef struct bn_quantize_report {
    int n_linear, n_head, n_copied;
    int n_absmean;              /* float matrices ternarized */
    int n_rounded;              /* ternary scales that did not fit the target exactly */
    double max_scale_err;
} bn_quantize_report;

int bn_quantize(const bn_quantize_params *p, bn_quantize_report *rep);

#endif
