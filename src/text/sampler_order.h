/* sampler_order: llama.cpp's names of the samplers in its chain and the parts of its default
 * order this engine runs (its `samplers` / --samplers / --sampling-seq): a subset of the
 * default order, in that order, is the chain with the samplers left out turned off; the
 * chain itself has one order (text/sampler.h). */
#ifndef BITNET_SAMPLER_ORDER_H
#define BITNET_SAMPLER_ORDER_H

#include "bitnet.h"

/* The samplers of the chain, in llama.cpp's default order. */
typedef enum bn_sampler_kind {
    BN_SAMPLER_PENALTIES, BN_SAMPLER_DRY, BN_SAMPLER_TOP_N_SIGMA, BN_SAMPLER_TOP_K, BN_SAMPLER_TYP_P,
    BN_SAMPLER_TOP_P, BN_SAMPLER_MIN_P, BN_SAMPLER_XTC, BN_SAMPLER_TEMPERATURE, BN_N_SAMPLER_KINDS
} bn_sampler_kind;

#define BN_SAMPLER_NOT_OFFERED (-1) /* a name llama.cpp has and this engine does not (infill, adaptive_p) */
#define BN_SAMPLER_UNKNOWN (-2)     /* a name neither has (skipped, as llama.cpp does) */

/* "penalties", "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature". */
extern const char *const bn_sampler_kind_names[BN_N_SAMPLER_KINDS];

/* A kind from one of llama.cpp's spellings (case-insensitive: canonical, kebab-case, without the
 * underscore, "nucleus", "temp", "typ"), or BN_SAMPLER_NOT_OFFERED / BN_SAMPLER_UNKNOWN. */
int bn_sampler_kind_of_name(const char *name);
/* A kind from llama.cpp's letters ("edskypmxt"), or BN_SAMPLER_NOT_OFFERED ('i', 'a') / BN_SAMPLER_UNKNOWN. */
int bn_sampler_kind_of_char(char c);
/* Appends kind to kinds[0, *n) when it comes after the last one in the default order (0);
 * else returns 1 and leaves them (the caller names kinds[*n - 1] and kind). */
int bn_sampler_kinds_append(unsigned char *kinds, int *n, int kind);
/* Turns off in gp every kind not in kinds[0, n) (strictly increasing: the default order);
 * leaving out the temperature draws at 1. Nothing changes with mirostat (its own chain). */
void bn_sampler_keep_only(bitnet_generate_params *gp, const unsigned char *kinds, int n);

#endif
