/* sampler_order: llama.cpp's names of the samplers in its chain, and the chain a caller names
 * (its `samplers` / --samplers / --sampling-seq; bitnet_generate_params.samplers): a part of
 * the default order, in that order, is the default chain with the samplers left out turned
 * off; any other order (or a sampler named twice) runs as given (text/sampler.h). */
#ifndef BITNET_SAMPLER_ORDER_H
#define BITNET_SAMPLER_ORDER_H

#include <stdbool.h>

#include "bitnet.h"

/* The samplers of the chain, in llama.cpp's default order (BN_N_SAMPLER_KINDS of them), then
 * adaptive-p: not a stage but the draw (llama.cpp puts it last, wherever it is named). */
typedef enum bn_sampler_kind {
    BN_SAMPLER_PENALTIES, BN_SAMPLER_DRY, BN_SAMPLER_TOP_N_SIGMA, BN_SAMPLER_TOP_K, BN_SAMPLER_TYP_P,
    BN_SAMPLER_TOP_P, BN_SAMPLER_MIN_P, BN_SAMPLER_XTC, BN_SAMPLER_TEMPERATURE, BN_SAMPLER_ADAPTIVE_P
} bn_sampler_kind;
#define BN_N_SAMPLER_KINDS BN_SAMPLER_ADAPTIVE_P /* the stages */

#define BN_SAMPLER_NOT_OFFERED (-1) /* a name llama.cpp has and this engine does not (infill) */
#define BN_SAMPLER_UNKNOWN (-2)     /* a name neither has (skipped, as llama.cpp does) */

/* "penalties", "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature",
 * "adaptive_p". */
extern const char *const bn_sampler_kind_names[BN_N_SAMPLER_KINDS + 1];

/* A kind from one of llama.cpp's spellings (case-insensitive: canonical, kebab-case, without the
 * underscore, "nucleus", "temp", "typ"), or BN_SAMPLER_NOT_OFFERED / BN_SAMPLER_UNKNOWN. */
int bn_sampler_kind_of_name(const char *name);
/* A kind from llama.cpp's letters ("edskypmxta"), or BN_SAMPLER_NOT_OFFERED ('i') / BN_SAMPLER_UNKNOWN. */
int bn_sampler_kind_of_char(char c);
#define BN_SAMPLER_ORDER_MAX 32 /* stages of a named chain (llama.cpp sets no limit; a kind may repeat) */
/* Bytes of the longest chain in names: BN_SAMPLER_ORDER_MAX names of at most 11 characters,
 * each followed by ';' or the terminating NUL. */
#define BN_SAMPLER_ORDER_TEXT_MAX (BN_SAMPLER_ORDER_MAX * 12)

/* Appends kind to kinds[0, *n); 1 (nothing appended) when there are BN_SAMPLER_ORDER_MAX. */
int bn_sampler_kinds_append(unsigned char *kinds, int *n, int kind);
/* kinds[0, n) as their names separated by ';' into out[BN_SAMPLER_ORDER_TEXT_MAX] ("" for none). */
void bn_sampler_kinds_join(const unsigned char *kinds, int n, char *out);
/* `list` (names separated by ';', in any of llama.cpp's spellings; "" names none) into
 * kinds[0, *n): 0, or BITNET_ERR_INVALID_ARGUMENT naming a name that is not one of this
 * engine's samplers, or more than BN_SAMPLER_ORDER_MAX names. */
int bn_sampler_kinds_parse(const char *list, unsigned char *kinds, int *n);
/* Whether kinds[0, n) is the default order or a part of it in that order (each kind once; an
 * adaptive_p anywhere aside). */
bool bn_sampler_kinds_in_default_order(const unsigned char *kinds, int n);
/* Takes adaptive_p out of kinds[0, *n) (it is the draw, not a stage); whether it was there. */
bool bn_sampler_kinds_take_adaptive(unsigned char *kinds, int *n);
/* Turns off in gp every stage that kinds[0, n) does not name (in any order); leaving out the
 * temperature draws at 1. Nothing changes with mirostat (its own chain). */
void bn_sampler_keep_only(bitnet_generate_params *gp, const unsigned char *kinds, int n);

#endif
