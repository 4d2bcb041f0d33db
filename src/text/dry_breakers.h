/* dry_breakers: the token sequences of DRY's sequence breakers (text/sampler.h), as llama.cpp
 * builds them from strings: every token whose text contains a breaker is a breaker on its own;
 * a token whose text ends with the start of a breaker is one when the tokens of the breaker's
 * rest (at most 20) follow it. */
#ifndef BITNET_DRY_BREAKERS_H
#define BITNET_DRY_BREAKERS_H

#include <stddef.h>
#include <stdint.h>

#include "text/tokenizer.h"

#define BN_DRY_BREAKER_MAX_BYTES 40 /* longer breakers are cut, as llama.cpp does */

/* The breaker sequences of strings[0, n) (empty strings skipped) over tok's vocabulary:
 * *tokens holds them one after another (*lens[i] ids each, head first), *count of them; the
 * caller frees both. llama.cpp's defaults when strings is NULL: "\n", ":", "\"", "*".
 * Returns 0 or BITNET_ERR_OUT_OF_MEMORY (nothing to free then). */
int bn_dry_breaker_sequences(const bn_tokenizer *tok, const char *const *strings, int n, int32_t **tokens, int **lens,
                             int *count);

#endif
