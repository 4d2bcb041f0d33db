/* trace: capture of intermediate tensors of the forward pass, one JSON Lines record per
 * tensor per token position, for finding where two runs (two builds, two kernels, bitnet vs a
 * reference) first diverge. See docs/TRACING.md; `bitnet trace-diff` (trace_diff.h) reads
 * the files back.
 *
 * Switched on by a directory (the `dir` argument or $BITNET_TRACE_DIR). Off costs nothing:
 * bn_tracer_open() gives NULL and the forward pass tests the pointer before anything else.
 *
 * Output: DIR/trace.jsonl (appended to when it exists), one record per line:
 *   {"name":"blk3/ffn_out","shape":[2560],"dtype":"f32","blake3":"<64 hex>","rms":0.5,
 *    "num_elements":2560,"seq":7,"layer":3,"stage":"ffn_out","batch_id":0,"batch_pos":2,
 *    "min":-1.5,"max":2.25,"mean":0.01,"first":[...up to 8 values...],"raw":null}
 *   - name: "blk<L>/<stage>" for layer L >= 0, "<stage>" for layer -1;
 *   - blake3: BLAKE3 of the tensor's little-endian f32 bytes (= `b3sum` of its raw dump);
 *   - rms, min, max, mean: over all elements (computed in double, printed as f32 values);
 *   - numbers printed with %.9g (round-trips a float); NaN/Inf as the strings "nan", "inf",
 *     "-inf" because JSON has no such numbers; min/max are "nan" when any element is NaN;
 *   - batch_id is the sequence/session id (seq_id); batch_pos the index within the batch;
 *   - raw: "raw/<seq>_<layer>_<stage>.f32" (seq_id 0) or "raw/s<seq_id>_<seq>_<layer>_<stage>.f32"
 *     when $BITNET_TRACE_RAW=1, relative to DIR; else null.
 *
 * $BITNET_TRACE_FILTER selects records: "layers=0-3,29;stages=attn_out,ffn_out" (either part
 * optional, parts separated by ';', layers as N or N-M, stages from the list below). Layer -1
 * records (embed, output_norm, logits) always pass the layers part; only stages filters them.
 * A malformed filter makes bn_tracer_open() fail.
 *
 * Thread safety: bn_tracer_record() may be called from several threads (records are written
 * under a lock); open/close are not concurrent with anything else. */
#ifndef BITNET_TRACE_H
#define BITNET_TRACE_H

#include <stdbool.h>
#include <stdint.h>

/* The stages the forward pass emits, in execution order. Layer -1 emits "embed" before the
 * layers and "output_norm", "logits" after them; every layer L emits the others in between.
 *   attn_out: after Wo, before the residual add;  ffn_act: act(gate) * up;
 *   ffn_out: after Wdown, before the residual add; layer_out: residual stream after layer L. */
#define BN_TRACE_STAGES(X)                                                                  \
    X(EMBED, "embed") X(ATTN_NORM, "attn_norm") X(Q_PROJ, "q_proj") X(K_PROJ, "k_proj")       \
    X(V_PROJ, "v_proj") X(Q_ROPE, "q_rope") X(K_ROPE, "k_rope") X(ATTN, "attn")                \
    X(ATTN_SUB_NORM, "attn_sub_norm") X(ATTN_OUT, "attn_out") X(FFN_NORM, "ffn_norm")          \
    X(FFN_GATE, "ffn_gate") X(FFN_UP, "ffn_up") X(FFN_ACT, "ffn_act")                          \
    X(FFN_SUB_NORM, "ffn_sub_norm") X(FFN_OUT, "ffn_out") X(LAYER_OUT, "layer_out")           \
    X(OUTPUT_NORM, "output_norm") X(LOGITS, "logits")

enum bn_trace_stage {
#define BN_TRACE_STAGE_ENUM(id, str) BN_TRACE_##id,
    BN_TRACE_STAGES(BN_TRACE_STAGE_ENUM)
#undef BN_TRACE_STAGE_ENUM
    BN_TRACE_STAGE_COUNT
};

/* Name of a stage ("attn_out"); NULL when out of range. */
const char *bn_trace_stage_name(int stage);
/* Index of a stage name in the canonical order, or -1 when it is not one of them. */
int bn_trace_stage_index(const char *name);

typedef struct bn_tracer bn_tracer;

/* Opens a tracer writing into `dir` when dir is non-NULL, else into $BITNET_TRACE_DIR when set
 * (and non-empty). *out = NULL (and return 0) when tracing is off. Reads BITNET_TRACE_FILTER
 * and BITNET_TRACE_RAW ("1" on; unset, "" or "0" off; anything else is an error). Creates the
 * folder (and its parents). Returns a negative bitnet status on error (bn_error set). */
int bn_tracer_open(const char *dir, bn_tracer **out);
void bn_tracer_close(bn_tracer *t); /* NULL ok; flushes */
/* True when a record for (layer, stage) passes the filter. t may be NULL (-> false). Cheap. */
bool bn_tracer_wants(const bn_tracer *t, int layer, const char *stage);
/* Writes one record for one token position. layer = -1 for embeddings/final norm/logits.
 * data has prod(shape) floats. seq = token position in the sequence (prefill 0..n-1, then each
 * decode step), batch_pos = index within the current batch, seq_id = sequence/session id.
 * Records that the filter rejects are skipped (returns 0). stage must be 1..63 characters of
 * [a-z0-9_] (the canonical names above; others are accepted and ordered after them);
 * layer >= -1, seq >= 0, seq_id >= 0, 0 <= n_dims <= 8, every dim >= 1.
 * Returns 0 or a negative bitnet status (bn_error set). */
int bn_tracer_record(bn_tracer *t, int layer, const char *stage, int seq, int batch_pos, int seq_id,
                     const float *data, const int64_t *shape, int n_dims);

#endif
