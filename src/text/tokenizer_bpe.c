/* tokenizer_bpe: byte-level BPE (tokenizer.ggml.model = "gpt2").
 *
 * 1. Decode the fragment to codepoints (a malformed byte becomes U+FFFD).
 * 2. Pre-tokenize into words with hand-written matchers equivalent to llama.cpp's regexes:
 *    LLaMA-3:  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 *              | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *    default:  four passes, each splitting every chunk of the previous one (matches and the
 *              gaps between them both become chunks):
 *              [\p{P}\$\+<=>\^~\|]+   then   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+
 *              | ?[^\s\p{L}\p{N}]+|\s+(?!\S)   then   \p{N}+   then   [0-9][0-9][0-9]
 *    llama.cpp runs the first and third with std::regex over a "collapsed" text in which an
 *    ASCII character is itself and any other codepoint a category placeholder, so for them
 *    \p{P} means: ASCII punctuation !"#%&'()*,-./:;?@[\]_{} or a non-ASCII, non-space
 *    codepoint of category P; \p{N}: ASCII 0-9 or a non-ASCII, non-space codepoint of
 *    category N. The matchers below reproduce exactly that.
 * 3. Each word: its UTF-8 bytes, each mapped to GPT-2's byte character; with "ignore merges"
 *    (LLaMA-3) a word that is itself a token is emitted whole; otherwise start from one symbol
 *    per byte character and repeatedly merge the adjacent pair of lowest merge rank (ties:
 *    leftmost), as llama.cpp's priority queue does.
 * 4. Each final symbol becomes its token; a symbol that is not a token falls back to the
 *    tokens of its single bytes (skipping bytes that are not tokens either). */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_impl.h"
#include "text/unicode.h"
#include "util.h"

/* ---------------------------------------------------------------- growable size_t list */

typedef struct { size_t *v; size_t n, cap; bool failed; } sizes;

static void sizes_push(sizes *s, size_t x) {
    if (s->failed || x == 0) return; /* empty chunks are never emitted */
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        size_t *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->failed = true;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

/* ---------------------------------------------------------------- the regex matchers */

#define NO_CP 0xFFFFFFFFu

/* One chunk of codepoints [ini, end): lookups past either end see "no codepoint", which
 * makes lookaheads stop at chunk boundaries, as in llama.cpp. */
typedef struct { const uint32_t *cps; size_t ini, end; } chunk;

static uint32_t cp_at(const chunk *c, size_t pos) {
    return (pos >= c->ini && pos < c->end) ? c->cps[pos] : NO_CP;
}

static uint16_t flags_at(const chunk *c, size_t pos) {
    return (pos >= c->ini && pos < c->end) ? bn_unicode_flags(c->cps[pos]) : 0;
}

#define IS(f, what) (((f) & BN_UFLAG_##what) != 0)

static bool is_cr_lf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

/* Length of the contraction 's 't 're 've 'm 'll 'd at pos (0 when none); case-insensitive
 * when `any_case`. */
static size_t contraction_len(const chunk *c, size_t pos, bool any_case) {
    if (cp_at(c, pos) != '\'' || pos + 1 >= c->end) return 0;
    uint32_t a = cp_at(c, pos + 1);
    if (any_case) a = bn_unicode_tolower(a);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 >= c->end) return 0;
    uint32_t b = cp_at(c, pos + 2);
    if (any_case) b = bn_unicode_tolower(b);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* Whitespace at the end of a run: `\s+(?!\S)` leaves the last one for the next word when
 * something follows; plain `\s+` takes all. Returns the length to take (>= 1). */
static size_t whitespace_run_len(const chunk *c, size_t pos, size_t n_ws) {
    if (n_ws > 1 && cp_at(c, pos + n_ws) != NO_CP) return n_ws - 1;
    return n_ws;
}

static size_t count_whitespace(const chunk *c, size_t pos) {
    size_t n = 0;
    while (IS(flags_at(c, pos + n), WHITESPACE)) n++;
    return n;
}

/* Length of the word starting at pos under the LLaMA-3 regex. */
static size_t llama3_word(const chunk *c, size_t pos) {
    uint32_t cp = cp_at(c, pos);
    uint16_t f = flags_at(c, pos);
    size_t n = contraction_len(c, pos, true);
    if (n) return n;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (!is_cr_lf(cp) && !IS(f, NUMBER) && (IS(f, LETTER) || IS(flags_at(c, pos + 1), LETTER))) {
        size_t p = pos + 1;
        while (IS(flags_at(c, p), LETTER)) p++;
        return p - pos;
    }
    /* \p{N}{1,3} */
    if (IS(f, NUMBER)) {
        size_t p = pos;
        while (p - pos < 3 && IS(flags_at(c, p), NUMBER)) p++;
        return p - pos;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]*  (llama.cpp tests the first codepoint's flags as non-zero) */
    uint16_t f2 = cp == ' ' ? flags_at(c, pos + 1) : f;
    if (!(f2 & (BN_UFLAG_WHITESPACE | BN_UFLAG_LETTER | BN_UFLAG_NUMBER)) && f) {
        size_t p = pos + (cp == ' ');
        while (!(f2 & (BN_UFLAG_WHITESPACE | BN_UFLAG_LETTER | BN_UFLAG_NUMBER)) && f2)
            f2 = flags_at(c, ++p);
        while (is_cr_lf(cp_at(c, p))) p++;
        return p - pos;
    }
    /* \s*[\r\n]+ : whitespace up to and including the last CR/LF of the run */
    size_t n_ws = 0, last_crlf_end = 0;
    while (IS(flags_at(c, pos + n_ws), WHITESPACE)) {
        if (is_cr_lf(cp_at(c, pos + n_ws))) last_crlf_end = n_ws + 1;
        n_ws++;
    }
    if (last_crlf_end) return last_crlf_end;
    if (n_ws) return whitespace_run_len(c, pos, n_ws);
    return 1; /* nothing matched: the codepoint alone */
}

/* Length of the word starting at pos under GPT-2's regex (used by the default cascade). */
static size_t gpt2_word(const chunk *c, size_t pos) {
    uint32_t cp = cp_at(c, pos);
    size_t n = contraction_len(c, pos, false);
    if (n) return n;
    uint16_t f2 = cp == ' ' ? flags_at(c, pos + 1) : flags_at(c, pos);
    size_t p = pos + (cp == ' ');
    /*  ?\p{L}+  |  ?\p{N}+  */
    if (IS(f2, LETTER) || IS(f2, NUMBER)) {
        uint16_t cls = IS(f2, LETTER) ? BN_UFLAG_LETTER : BN_UFLAG_NUMBER;
        while (flags_at(c, p) & cls) p++;
        return p - pos;
    }
    /*  ?[^\s\p{L}\p{N}]+  */
    if (!(f2 & (BN_UFLAG_WHITESPACE | BN_UFLAG_LETTER | BN_UFLAG_NUMBER)) && f2) {
        while (!(f2 & (BN_UFLAG_WHITESPACE | BN_UFLAG_LETTER | BN_UFLAG_NUMBER)) && f2)
            f2 = flags_at(c, ++p);
        return p - pos;
    }
    size_t n_ws = count_whitespace(c, pos);
    if (n_ws) return whitespace_run_len(c, pos, n_ws);
    return 1;
}

typedef size_t (*word_fn)(const chunk *c, size_t pos);

static void split_words(const uint32_t *cps, size_t ini, size_t end, word_fn fn, sizes *out) {
    chunk c = {cps, ini, end};
    for (size_t pos = ini; pos < end;) {
        size_t n = fn(&c, pos);
        sizes_push(out, n);
        pos += n;
    }
}

/* \p{P} or $+<=>^~| in llama.cpp's collapsed-text sense (see the file comment). */
static bool default_punct(uint32_t cp) {
    if (cp < 0x80) return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
                          (cp >= 0x5B && cp <= 0x5F) || (cp >= 0x7B && cp <= 0x7E);
    uint16_t f = bn_unicode_flags(cp);
    return !IS(f, WHITESPACE) && (f & BN_UFLAG_CATEGORIES) == BN_UFLAG_PUNCTUATION;
}

/* \p{N} in the collapsed-text sense. */
static bool default_number(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    uint16_t f = bn_unicode_flags(cp);
    return !IS(f, WHITESPACE) && (f & BN_UFLAG_CATEGORIES) == BN_UFLAG_NUMBER;
}

/* `[class]+` as a splitting pass: maximal runs inside and outside the class alternate. */
static void split_runs(const uint32_t *cps, size_t ini, size_t end, bool (*in_class)(uint32_t),
                       sizes *out) {
    size_t start = ini;
    for (size_t p = ini + 1; p <= end; p++) {
        if (p == end || in_class(cps[p]) != in_class(cps[start])) {
            sizes_push(out, p - start);
            start = p;
        }
    }
}

static bool ascii_digit(uint32_t cp) { return cp >= '0' && cp <= '9'; }

/* `[0-9][0-9][0-9]` as a splitting pass: leftmost non-overlapping triples of ASCII digits. */
static void split_digit_triples(const uint32_t *cps, size_t ini, size_t end, sizes *out) {
    size_t gap = ini;
    for (size_t p = ini; p + 3 <= end;) {
        if (ascii_digit(cps[p]) && ascii_digit(cps[p + 1]) && ascii_digit(cps[p + 2])) {
            sizes_push(out, p - gap);
            sizes_push(out, 3);
            p += 3;
            gap = p;
        } else {
            p++;
        }
    }
    sizes_push(out, end - gap);
}

enum { PASS_PUNCT, PASS_GPT2, PASS_NUMBERS, PASS_DIGIT_TRIPLES, PASS_LLAMA3 };

/* Applies one pass to every chunk of *in, writing the refined chunks to *out. */
static void run_pass(int pass, const uint32_t *cps, const sizes *in, sizes *out) {
    out->n = 0;
    size_t start = 0;
    for (size_t i = 0; i < in->n; i++) {
        size_t end = start + in->v[i];
        switch (pass) {
        case PASS_PUNCT: split_runs(cps, start, end, default_punct, out); break;
        case PASS_GPT2: split_words(cps, start, end, gpt2_word, out); break;
        case PASS_NUMBERS: split_runs(cps, start, end, default_number, out); break;
        case PASS_DIGIT_TRIPLES: split_digit_triples(cps, start, end, out); break;
        default: split_words(cps, start, end, llama3_word, out); break;
        }
        start = end;
    }
}

bool bn_pretokenize(bn_pre_tokenizer pre, const uint32_t *cps, size_t n, size_t **lens,
                    size_t *n_lens, size_t *cap) {
    static const int llama3_passes[] = {PASS_LLAMA3};
    static const int default_passes[] = {PASS_PUNCT, PASS_GPT2, PASS_NUMBERS, PASS_DIGIT_TRIPLES};
    const int *passes = pre == BN_PRE_LLAMA3 ? llama3_passes : default_passes;
    size_t n_passes = pre == BN_PRE_LLAMA3 ? 1 : 4;
    sizes a = {*lens, 0, *cap, false}, b = {0};
    sizes_push(&a, n);
    for (size_t i = 0; i < n_passes; i++) {
        run_pass(passes[i], cps, &a, &b);
        sizes swap = a;
        a = b;
        b = swap;
    }
    free(b.v);
    *lens = a.v;
    *n_lens = a.n;
    *cap = a.cap;
    return !a.failed && !b.failed;
}

/* ---------------------------------------------------------------- merging */

/* BPE merges by rank: the pair's key is its rank in tokenizer.ggml.merges. */
static bool bpe_pair_key(const void *ctx, const char *word, const bn_symbol *l, const bn_symbol *r, double *key) {
    int32_t rank = bn_merge_rank((const bn_tokenizer *)ctx, word + l->off, l->n, word + r->off, r->n);
    *key = rank;
    return rank >= 0;
}

static void emit_symbol(const bn_tokenizer *t, const char *s, size_t n, bn_ids *out) {
    int32_t id = bn_tok_lookup(t, s, n);
    if (id >= 0) {
        bn_ids_push(out, id);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t b = bn_tok_lookup(t, s + i, 1);
        if (b >= 0) bn_ids_push(out, b);
    }
}

/* Merges the byte characters of one encoded word and appends its tokens. */
static bool merge_word(const bn_tokenizer *t, const char *word, size_t len, bn_symbol *sym,
                       bn_bigram_heap *heap, bn_ids *out) {
    if (t->ignore_merges) {
        int32_t id = bn_tok_lookup(t, word, len);
        if (id >= 0) {
            bn_ids_push(out, id);
            return true;
        }
    }
    int n_sym = bn_merge_symbols(word, len, sym, heap, bpe_pair_key, t);
    if (n_sym < 0) return false;
    for (int i = 0; i != -1 && n_sym > 0; i = sym[i].next) emit_symbol(t, word + sym[i].off, sym[i].n, out);
    return true;
}

/* Appends the GPT-2 byte characters of the UTF-8 of cps[0..n) to enc; returns its length. */
static size_t encode_word(const uint32_t *cps, size_t n, char *enc) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t utf8[4];
        size_t k = bn_utf8_encode(cps[i], utf8);
        for (size_t j = 0; j < k; j++) o += bn_utf8_encode(bn_gpt2_byte_to_cp(utf8[j]), (uint8_t *)enc + o);
    }
    return o;
}

bool bn_bpe_tokenize_fragment(const bn_tokenizer *t, const char *text, size_t len, bn_ids *out) {
    /* Each input byte yields at most one codepoint, each codepoint at most 4 bytes, each byte
     * a GPT-2 character of at most 2 bytes: 8 bytes of encoded word per input byte. */
    uint32_t *cps = bn_malloc((len + 1) * sizeof *cps, "tokenizer buffers");
    char *enc = bn_malloc(8 * len + 1, "tokenizer buffers");
    bn_symbol *sym = bn_malloc((8 * len + 1) * sizeof *sym, "tokenizer buffers");
    size_t *lens = NULL, n_lens = 0, cap = 0;
    bn_bigram_heap heap = {0};
    bool ok = cps && enc && sym;
    size_t n = 0;
    for (size_t i = 0; ok && i < len; n++) i += bn_utf8_decode((const uint8_t *)text + i, len - i, &cps[n]);
    if (ok) ok = bn_pretokenize(t->pre, cps, n, &lens, &n_lens, &cap);
    for (size_t w = 0, start = 0; ok && w < n_lens; start += lens[w++]) {
        size_t enc_len = encode_word(cps + start, lens[w], enc);
        ok = merge_word(t, enc, enc_len, sym, &heap, out);
    }
    if (!ok) bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
    free(cps);
    free(enc);
    free(sym);
    free(lens);
    free(heap.v);
    return ok && !out->failed;
}
