/* gbnf: grammars in llama.cpp's GBNF notation, for generation constrained to a grammar
 * (llama-server's "grammar" field, llama-cli's --grammar / --grammar-file).
 *
 * The notation (llama.cpp's grammars/README.md):
 *   name ::= alternatives        one rule per line; "root" is where the text starts; names
 *                                are letters, digits and '-'; a rule may go on over several
 *                                lines inside parentheses or after a '|'
 *   "literal"                    escapes \n \r \t \\ \" \[ \] \xHH \uHHHH \UHHHHHHHH
 *   [a-z0-9_] [^"\\]             character classes (ranges, negation); '.' any character
 *   ( ... )  a | b               grouping, alternatives
 *   x* x+ x? x{m} x{m,} x{m,n}   repetition (m, n at most 1000)
 *   # comment                    to the end of the line
 * Refused with the line and column: syntax errors, undefined rules, a rule defined twice, no
 * root rule, left recursion (a rule that can reach itself before reading a character, which a
 * top-down reader would loop on; llama.cpp refuses it too), a token reference by text that is
 * not one token (or without a lookup), grammars of more than 65535 elements once repetitions
 * are expanded, character classes that match no character.
 *   <[id]>  !<[id]>              a token reference (llama.cpp's): the whole token id, or any
 *   <think> !<think>             token but id, read as one (bn_gbnf_feed_token; its text is
 *                                not read as characters there); the text form (brackets
 *                                included) names the one token that text is, found by the
 *                                compiler's lookup; ids are not checked against a vocabulary
 *                                here (bn_gbnf_max_token)
 *
 * The state is a set of parse stacks (positions in the rules still to match), read one
 * character (code point) at a time; a text is accepted while some stack can go on, and
 * complete when some stack is empty. A UTF-8 sequence may arrive in parts (a token that ends
 * inside a character): its bytes are accepted while some character the grammar allows next
 * starts with them, so no accepted text is a dead end. Bounds: at most BN_GBNF_MAX_STACKS
 * stacks of BN_GBNF_MAX_DEPTH positions (ambiguous grammars keep the first ones; a text that
 * needs deeper nesting is refused at that depth), so a grammar that requires more than 32
 * levels of nesting can dead-end there; the state says so (truncated) from the character
 * before, where a stack gets that deep (also in the middle of a UTF-8 sequence). */
#ifndef BITNET_GBNF_H
#define BITNET_GBNF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BN_GBNF_MAX_STACKS 64
#define BN_GBNF_MAX_DEPTH 32

typedef struct bn_gbnf bn_gbnf;

/* Compiles the grammar in text[0, len). NULL with the last error set: BITNET_ERR_INVALID_ARGUMENT
 * "grammar: line L, column C: what" (or naming the rule), or out of memory. Token references
 * by text are refused (no vocabulary). */
bn_gbnf *bn_gbnf_compile(const char *text, size_t len);
/* The id of the one token whose text is text[0, len) (a token reference's text form), or -1
 * when the text is not one token. */
typedef int64_t (*bn_gbnf_token_lookup)(void *ctx, const char *text, size_t len);
/* The same with token references by text found by lookup(ctx, ...). */
bn_gbnf *bn_gbnf_compile_tokens(const char *text, size_t len, bn_gbnf_token_lookup lookup, void *ctx);
void bn_gbnf_free(bn_gbnf *g); /* NULL is accepted */

/* The state of a text read against a grammar: a plain struct (the grammar is borrowed); copy
 * it with bn_gbnf_state_copy (only the live stacks) to try bytes without committing them. */
typedef struct bn_gbnf_state {
    const bn_gbnf *g;
    uint16_t n_stacks;
    uint8_t need;     /* continuation bytes of a UTF-8 sequence still to come */
    uint8_t lo, hi;   /* the range of the next continuation byte */
    uint32_t cp;      /* that sequence's bits so far */
    bool truncated;   /* some parse was dropped at a bound (stacks, depth), or a stack is deep enough
                         that the next character may need more than BN_GBNF_MAX_DEPTH: dead ends are possible */
    uint8_t depth[BN_GBNF_MAX_STACKS];
    uint16_t pos[BN_GBNF_MAX_STACKS][BN_GBNF_MAX_DEPTH]; /* element positions, the top last */
} bn_gbnf_state;

void bn_gbnf_init(bn_gbnf_state *s, const bn_gbnf *g);
void bn_gbnf_state_copy(bn_gbnf_state *dst, const bn_gbnf_state *src);
/* Reads bytes[0, n). false when they cannot continue a text of the grammar (the state is then
 * unusable: feed a copy to try). */
bool bn_gbnf_feed(bn_gbnf_state *s, const char *bytes, size_t n);
/* Reads token id whose text is bytes[0, n): where a stack's next element is a reference that
 * takes id, past it; and (joined) where characters come next, its text as bn_gbnf_feed reads
 * it (not when that ends inside a character while a reference took it). false when neither
 * way goes on (the state is then unusable). */
bool bn_gbnf_feed_token(bn_gbnf_state *s, int32_t id, const char *bytes, size_t n);
/* The largest token id a reference of the grammar names (-1: it has none). */
int64_t bn_gbnf_max_token(const bn_gbnf *g);
/* Whether some stack's next element is a token reference; whether one takes token id. */
bool bn_gbnf_expects_token(const bn_gbnf_state *s);
bool bn_gbnf_token_ref_takes(const bn_gbnf_state *s, int32_t id);
/* The text read so far is a whole text of the grammar (no character pending). */
bool bn_gbnf_complete(const bn_gbnf_state *s);
/* More characters could follow (some stack is not empty). */
bool bn_gbnf_can_continue(const bn_gbnf_state *s);

#endif
