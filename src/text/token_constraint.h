/* token_constraint: generation constrained to JSON, one object (OpenAI's response_format
 * {"type": "json_object"}) or a value valid against a JSON Schema ({"type": "json_schema"}),
 * or to a GBNF grammar (text/gbnf.h; llama.cpp's "grammar").
 * A vocabulary (one per model) holds every token's bytes (control tokens have none and are
 * never allowed); a constraint holds the compiled schema and the json_schema state of the
 * text generated so far. Before each draw, the logit of every token whose bytes would leave
 * the prefixes of a valid text becomes -inf, so whatever the sampler picks keeps the output a
 * prefix of one, and generation can end as soon as the value closes. Checking a token feeds
 * its bytes to a copy of the state, after cheaper checks that settle most tokens (its first
 * byte, the byte after its leading spaces, plain text inside a string): 0.2-1.5 ms of one
 * thread per generated token on a LLaMA-3 vocabulary, and ranges of ids can be masked on
 * several threads. A draw that reads only the few best tokens checks those alone
 * (bn_constraint_allows; api_generate.c says when that settles the draw). */
#ifndef BITNET_TOKEN_CONSTRAINT_H
#define BITNET_TOKEN_CONSTRAINT_H

#include <stdbool.h>
#include <stdint.h>

#include "text/json_schema.h"
#include "text/tokenizer.h"

typedef struct bn_constraint_vocab bn_constraint_vocab;
typedef struct bn_constraint bn_constraint;

/* Every token's piece (render_special off) and what the mask's shortcuts need of it: made once
 * per model (~6-11 ms and ~1.6 MB on a LLaMA-3 vocabulary) and shared read-only. NULL with the
 * last error set (out of memory, a piece that cannot be read). */
bn_constraint_vocab *bn_constraint_vocab_create(const bn_tokenizer *t);
/* Adds the ids in their pieces' byte order, which grammar masks need (~26-30 ms and ~0.6 MB more
 * on a LLaMA-3 vocabulary; once: later calls return at once). Not while other threads read v
 * for a grammar (the model's lock guards it). false (v unchanged) when out of memory. */
bool bn_constraint_vocab_sort(bn_constraint_vocab *v);
void bn_constraint_vocab_free(bn_constraint_vocab *v); /* NULL is accepted */

/* Compiles schema[0, len) (NULL: any JSON object) over v (borrowed: it must outlive the
 * result). NULL with the last error set (the schema's error, out of memory). */
bn_constraint *bn_constraint_create(const bn_constraint_vocab *v, const char *schema, size_t len);
/* The same for a GBNF grammar (text/gbnf.h); v must have been sorted. */
bn_constraint *bn_constraint_create_grammar(const bn_constraint_vocab *v, const char *grammar, size_t len);
void bn_constraint_free(bn_constraint *j); /* NULL is accepted */
/* out[id] = logits[id] where token id may come next, else -inf, for id < n_logits (ids beyond
 * the tokenizer's vocabulary: -inf; out may be logits). */
void bn_constraint_mask(const bn_constraint *j, const float *logits, int64_t n_logits, float *out);

/* The same in parts (threads may mask disjoint ranges at once): a plan of the current state,
 * then any ranges [begin, end) of ids with it. */
typedef struct bn_constraint_mask_plan {
    bool first_ok[256];       /* a piece may start with this byte */
    bool after_space_ok[256]; /* ... or with spaces, then this byte */
    bool in_free_string;      /* bn_json_schema_free_chars of the state ... */
    uint32_t room;            /* ... and its room */
    bool eog_ok;              /* a grammar's text is complete: end-of-generation tokens may come */
} bn_constraint_mask_plan;
void bn_constraint_plan(const bn_constraint *j, bn_constraint_mask_plan *plan);
void bn_constraint_mask_range(const bn_constraint *j, const bn_constraint_mask_plan *plan, const float *logits, int64_t begin,
                               int64_t end, float *out);
/* Whether token id may come next (what the mask keeps), the state unchanged: ids outside the
 * tokenizer's vocabulary and control tokens never, an end-of-generation token once a grammar's
 * text is complete. */
bool bn_constraint_allows(const bn_constraint *j, int32_t id);
/* Moves the state past token id; false when the token was not allowed (the state is then
 * unchanged). An end-of-generation token is allowed (and changes nothing) once a grammar's
 * text is complete. */
bool bn_constraint_accept(bn_constraint *j, int32_t id);
/* True when generation must stop: the JSON value is complete, or the grammar's text is
 * complete and no character may follow it. */
bool bn_constraint_complete(const bn_constraint *j);
bool bn_constraint_is_grammar(const bn_constraint *j);

#endif
