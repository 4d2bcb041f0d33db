/* tokenizer: building a tokenizer (from a GGUF or from arrays), the lookup tables, special
 * token splitting, the bn_tokenize entry point, pieces and the streaming detokenizer. The
 * two algorithms live in tokenizer_bpe.c and tokenizer_spm.c. */
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_impl.h"
#include "text/unicode.h"
#include "util.h"

/* ---------------------------------------------------------------- hash tables */

static uint64_t hash_bytes(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull; /* FNV-1a */
    return h;
}
#define HASH_SEED 0xcbf29ce484222325ull

static uint64_t hash_pair(const char *l, size_t ln, const char *r, size_t rn) {
    /* Mixing in the left length keeps ("ab","c") and ("a","bc") apart. */
    uint64_t h = hash_bytes(HASH_SEED, l, ln);
    h = (h ^ ln) * 0x100000001b3ull;
    return hash_bytes(h, r, rn);
}

static bool strmap_init(bn_strmap *m, uint32_t n_entries) {
    uint64_t cap = 16;
    while (cap < 2ull * n_entries) cap *= 2;
    m->slots = bn_calloc(cap, sizeof *m->slots, "tokenizer hash table");
    m->mask = (uint32_t)(cap - 1);
    return m->slots != NULL;
}

int32_t bn_tok_lookup(const bn_tokenizer *t, const char *s, size_t n) {
    for (uint32_t i = (uint32_t)hash_bytes(HASH_SEED, s, n) & t->token_map.mask;;
         i = (i + 1) & t->token_map.mask) {
        uint32_t v = t->token_map.slots[i];
        if (v == 0) return -1;
        size_t len;
        const char *text = bn_tok_text(t, (int32_t)(v - 1), &len);
        if (len == n && memcmp(text, s, n) == 0) return (int32_t)(v - 1);
    }
}

/* Inserts id unless its text is already present; returns the id already there, or -1. */
static int32_t token_map_insert(bn_tokenizer *t, int32_t id) {
    size_t n;
    const char *s = bn_tok_text(t, id, &n);
    uint32_t i = (uint32_t)hash_bytes(HASH_SEED, s, n) & t->token_map.mask;
    for (;; i = (i + 1) & t->token_map.mask) {
        uint32_t v = t->token_map.slots[i];
        if (v == 0) break;
        size_t len;
        const char *text = bn_tok_text(t, (int32_t)(v - 1), &len);
        if (len == n && memcmp(text, s, n) == 0) return (int32_t)(v - 1);
    }
    t->token_map.slots[i] = (uint32_t)id + 1;
    return -1;
}

static void merge_parts(const bn_tokenizer *t, uint32_t rank, const char **l, size_t *ln,
                        const char **r, size_t *rn) {
    const char *s = t->merge_text + t->merge_off[rank];
    size_t total = (size_t)(t->merge_off[rank + 1] - t->merge_off[rank]);
    *l = s;
    *ln = t->merge_left_len[rank];
    /* A merge without a separating space has empty parts (llama.cpp keeps it as ("","")). */
    *r = s + (*ln < total ? *ln + 1 : total);
    *rn = *ln < total ? total - *ln - 1 : 0;
}

int32_t bn_merge_rank(const bn_tokenizer *t, const char *l, size_t ln, const char *r, size_t rn) {
    if (!t->merge_map.slots) return -1;
    for (uint32_t i = (uint32_t)hash_pair(l, ln, r, rn) & t->merge_map.mask;;
         i = (i + 1) & t->merge_map.mask) {
        uint32_t v = t->merge_map.slots[i];
        if (v == 0) return -1;
        const char *ml, *mr;
        size_t mln, mrn;
        merge_parts(t, v - 1, &ml, &mln, &mr, &mrn);
        if (mln == ln && mrn == rn && memcmp(ml, l, ln) == 0 && memcmp(mr, r, rn) == 0)
            return (int32_t)(v - 1);
    }
}

/* Inserts merge `rank` unless the same pair came earlier (the lower rank wins). */
static void merge_map_insert(bn_tokenizer *t, uint32_t rank) {
    const char *l, *r;
    size_t ln, rn;
    merge_parts(t, rank, &l, &ln, &r, &rn);
    if (bn_merge_rank(t, l, ln, r, rn) >= 0) return;
    uint32_t i = (uint32_t)hash_pair(l, ln, r, rn) & t->merge_map.mask;
    while (t->merge_map.slots[i]) i = (i + 1) & t->merge_map.mask;
    t->merge_map.slots[i] = rank + 1;
}

void bn_ids_push(bn_ids *ids, int32_t id) {
    if (ids->failed) return;
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = realloc(ids->v, cap * sizeof *v);
        if (!v) {
            ids->failed = true;
            bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
            return;
        }
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
}

/* ---------------------------------------------------------------- building */

void bn_tokenizer_free(bn_tokenizer *t) {
    if (!t) return;
    free(t->text);
    free(t->text_off);
    free(t->scores);
    free(t->types);
    free(t->token_map.slots);
    free(t->merge_text);
    free(t->merge_off);
    free(t->merge_left_len);
    free(t->merge_map.slots);
    free(t->piece);
    free(t->piece_off);
    free(t->special);
    free(t);
}

/* Copies the token texts (an empty one becomes "[EMPTY_<id>]", as in llama.cpp). */
static int copy_tokens(bn_tokenizer *t, const bn_vocab_spec *s) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < s->n_tokens; i++) total += s->token_lens[i] ? s->token_lens[i] : 24;
    t->text = bn_malloc(total + 1, "token texts");
    t->text_off = bn_malloc((s->n_tokens + 1ull) * sizeof *t->text_off, "token offsets");
    t->scores = bn_calloc(s->n_tokens + 1ull, sizeof *t->scores, "token scores");
    t->types = bn_malloc(s->n_tokens + 1ull, "token types");
    if (!t->text || !t->text_off || !t->scores || !t->types) return BITNET_ERR_OUT_OF_MEMORY;
    uint64_t off = 0;
    for (uint32_t i = 0; i < s->n_tokens; i++) {
        t->text_off[i] = off;
        if (s->token_lens[i]) {
            memcpy(t->text + off, s->tokens[i], s->token_lens[i]);
            off += s->token_lens[i];
        } else {
            off += (uint64_t)snprintf(t->text + off, 24, "[EMPTY_%u]", i);
        }
        if (s->scores) t->scores[i] = s->scores[i];
        int32_t type = s->token_types ? s->token_types[i] : BN_TT_NORMAL;
        t->types[i] = (type >= BN_TT_NORMAL && type <= BN_TT_BYTE) ? (uint8_t)type : BN_TT_UNDEFINED;
    }
    t->text_off[s->n_tokens] = off;
    t->n_tokens = s->n_tokens;
    if (!strmap_init(&t->token_map, s->n_tokens)) return BITNET_ERR_OUT_OF_MEMORY;
    for (uint32_t i = 0; i < s->n_tokens; i++) {
        int32_t dup = token_map_insert(t, (int32_t)i);
        if (dup >= 0)
            return bn_error(BITNET_ERR_LOAD_FAILED,
                            "tokenizer.ggml.tokens: tokens %d and %u have the same text", dup, i);
    }
    return 0;
}

static int copy_merges(bn_tokenizer *t, const bn_vocab_spec *s) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < s->n_merges; i++) total += s->merge_lens[i];
    t->merge_text = bn_malloc(total + 1, "merges");
    t->merge_off = bn_malloc((s->n_merges + 1ull) * sizeof *t->merge_off, "merge offsets");
    t->merge_left_len = bn_malloc((s->n_merges + 1ull) * sizeof *t->merge_left_len, "merges");
    if (!t->merge_text || !t->merge_off || !t->merge_left_len) return BITNET_ERR_OUT_OF_MEMORY;
    uint64_t off = 0;
    for (uint32_t i = 0; i < s->n_merges; i++) {
        const char *m = s->merges[i];
        uint32_t n = s->merge_lens[i];
        memcpy(t->merge_text + off, m, n);
        t->merge_off[i] = off;
        off += n;
        /* The separator is the first space after the first byte (a part may start with one). */
        const char *sp = n > 1 ? memchr(m + 1, ' ', n - 1) : NULL;
        t->merge_left_len[i] = sp ? (uint32_t)(sp - m) : n;
    }
    t->merge_off[s->n_merges] = off;
    t->n_merges = s->n_merges;
    if (!strmap_init(&t->merge_map, s->n_merges)) return BITNET_ERR_OUT_OF_MEMORY;
    for (uint32_t i = 0; i < s->n_merges; i++) merge_map_insert(t, i);
    return 0;
}

/* The bytes one token stands for (render_special form). */
static size_t render_piece(const bn_tokenizer *t, int32_t id, char *out) {
    size_t n;
    const char *s = bn_tok_text(t, id, &n);
    switch (t->types[id]) {
    case BN_TT_CONTROL: case BN_TT_UNKNOWN: case BN_TT_USER_DEFINED:
        memcpy(out, s, n);
        return n;
    case BN_TT_BYTE:
        if (n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>') {
            char hex[3] = {s[3], s[4], 0};
            out[0] = (char)strtol(hex, NULL, 16);
            return 1;
        }
        memcpy(out, s, n);
        return n;
    case BN_TT_NORMAL:
        break;
    default:
        return 0; /* unused / undefined tokens render as nothing, as in llama.cpp */
    }
    size_t o = 0;
    if (t->kind == BN_VOCAB_SPM) { /* U+2581 (E2 96 81) -> space */
        for (size_t i = 0; i < n; i++) {
            if (i + 2 < n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                out[o++] = ' ';
                i += 2;
            } else {
                out[o++] = s[i];
            }
        }
        return o;
    }
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = bn_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        int b = bn_gpt2_cp_to_byte(cp);
        if (b >= 0) out[o++] = (char)b;
        else memcpy(out + o, s + i, k), o += k;
        i += k;
    }
    return o;
}

static int build_pieces(bn_tokenizer *t) {
    /* A piece is never longer than its text. */
    t->piece = bn_malloc(t->text_off[t->n_tokens] + 1, "token pieces");
    t->piece_off = bn_malloc((t->n_tokens + 1ull) * sizeof *t->piece_off, "token pieces");
    if (!t->piece || !t->piece_off) return BITNET_ERR_OUT_OF_MEMORY;
    uint64_t off = 0;
    for (uint32_t i = 0; i < t->n_tokens; i++) {
        t->piece_off[i] = off;
        off += render_piece(t, (int32_t)i, t->piece + off);
    }
    t->piece_off[t->n_tokens] = off;
    return 0;
}

typedef struct { uint64_t len; int32_t id; } special_entry;

static int cmp_special(const void *a, const void *b) {
    const special_entry *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static bool is_special_type(uint8_t ty) {
    return ty == BN_TT_CONTROL || ty == BN_TT_USER_DEFINED || ty == BN_TT_UNKNOWN;
}

/* The ids split out of the text before tokenizing, longest text first (ties by id). */
static int build_special_list(bn_tokenizer *t) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n_tokens; i++) n += is_special_type(t->types[i]);
    special_entry *e = bn_malloc((n + 1ull) * sizeof *e, "special tokens");
    t->special = bn_malloc((n + 1ull) * sizeof *t->special, "special tokens");
    if (!e || !t->special) {
        free(e);
        return BITNET_ERR_OUT_OF_MEMORY;
    }
    for (uint32_t i = 0; i < t->n_tokens; i++)
        if (is_special_type(t->types[i]))
            e[t->n_special++] = (special_entry){t->text_off[i + 1] - t->text_off[i], (int32_t)i};
    qsort(e, t->n_special, sizeof *e, cmp_special);
    for (uint32_t i = 0; i < t->n_special; i++) t->special[i] = e[i].id;
    free(e);
    return 0;
}

static int32_t find_token(const bn_tokenizer *t, const char *s) {
    return bn_tok_lookup(t, s, strlen(s));
}

static int32_t valid_id(const bn_tokenizer *t, int64_t id, int32_t fallback) {
    return (id >= 0 && id < (int64_t)t->n_tokens) ? (int32_t)id : fallback;
}

static void add_eog(bn_tokenizer *t, int32_t id) {
    if (id < 0) return;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return;
    if (t->n_eog < (int)(sizeof t->eog / sizeof t->eog[0])) t->eog[t->n_eog++] = id;
}

static void resolve_special_ids(bn_tokenizer *t, const bn_vocab_spec *s) {
    bool spm = t->kind == BN_VOCAB_SPM;
    t->bos = valid_id(t, s->bos_id, valid_id(t, spm ? 1 : -1, -1));
    t->eos = valid_id(t, s->eos_id, valid_id(t, spm ? 2 : -1, -1));
    t->unk = valid_id(t, s->unk_id, valid_id(t, spm ? 0 : -1, -1));
    t->pad = valid_id(t, s->pad_id, -1);
    t->eom = valid_id(t, s->eom_id, find_token(t, "<|eom_id|>"));
    static const char *const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>",
                                            "<end_of_turn>", "<|endoftext|>"};
    t->eot = valid_id(t, s->eot_id, -1);
    for (size_t i = 0; t->eot < 0 && i < sizeof eot_texts / sizeof eot_texts[0]; i++)
        t->eot = find_token(t, eot_texts[i]);
    add_eog(t, t->eos);
    add_eog(t, t->eot);
    add_eog(t, t->eom);
    for (size_t i = 0; i < sizeof eot_texts / sizeof eot_texts[0]; i++)
        add_eog(t, find_token(t, eot_texts[i]));
}

static bool pre_is_llama3_name(const char *p, size_t n) {
    static const char *const names[] = {"llama3", "llama-v3", "llama-bpe"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (n == strlen(names[i]) && memcmp(p, names[i], n) == 0) return true;
    return false;
}

static int choose_pre(bn_tokenizer *t, const bn_vocab_spec *s, bn_pre_tokenizer want) {
    if (t->kind == BN_VOCAB_SPM) {
        t->pre = BN_PRE_DEFAULT;
        return 0;
    }
    bn_pre_tokenizer from_file = BN_PRE_AUTO;
    if (s->pre) {
        if (pre_is_llama3_name(s->pre, s->pre_len)) from_file = BN_PRE_LLAMA3;
        else if (s->pre_len == 7 && memcmp(s->pre, "default", 7) == 0) from_file = BN_PRE_DEFAULT;
        else if (want == BN_PRE_AUTO)
            return bn_error(BITNET_ERR_UNSUPPORTED,
                            "tokenizer.ggml.pre = '%.*s' is not supported (supported: llama3, "
                            "llama-v3, llama-bpe, default; or force one with the "
                            "pre-tokenizer option)", (int)(s->pre_len > 64 ? 64 : s->pre_len), s->pre);
    } else {
        bool llama3_vocab = t->n_tokens >= 128000 && find_token(t, "<|begin_of_text|>") >= 0;
        from_file = llama3_vocab ? BN_PRE_LLAMA3 : BN_PRE_DEFAULT;
    }
    t->pre = want == BN_PRE_AUTO ? from_file : want;
    return 0;
}

bn_tokenizer *bn_tokenizer_build(const bn_vocab_spec *s, const bn_tokenizer_options *opt) {
    bn_pre_tokenizer want = opt ? opt->pre : BN_PRE_AUTO;
    if (want != BN_PRE_AUTO && want != BN_PRE_DEFAULT && want != BN_PRE_LLAMA3) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "unknown pre-tokenizer option %d", (int)want);
        return NULL;
    }
    if (s->kind != BN_VOCAB_BPE && s->kind != BN_VOCAB_SPM) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "unknown vocabulary kind %d", (int)s->kind);
        return NULL;
    }
    if (s->n_tokens == 0 || s->n_tokens > INT32_MAX - 1) {
        bn_error(BITNET_ERR_LOAD_FAILED, "tokenizer.ggml.tokens: bad token count %u", s->n_tokens);
        return NULL;
    }
    bn_tokenizer *t = bn_calloc(1, sizeof *t, "tokenizer");
    if (!t) return NULL;
    t->kind = s->kind;
    int rc = copy_tokens(t, s);
    if (!rc && s->kind == BN_VOCAB_BPE) rc = copy_merges(t, s);
    if (!rc) rc = choose_pre(t, s, want);
    if (!rc) rc = build_pieces(t);
    if (!rc) rc = build_special_list(t);
    if (rc) {
        bn_tokenizer_free(t);
        return NULL;
    }
    bool llama3 = t->kind == BN_VOCAB_BPE && t->pre == BN_PRE_LLAMA3;
    t->ignore_merges = llama3;
    t->add_bos = s->add_bos >= 0 ? s->add_bos != 0 : (t->kind == BN_VOCAB_SPM || llama3);
    t->add_eos = s->add_eos >= 0 ? s->add_eos != 0 : false;
    t->add_space_prefix = t->kind == BN_VOCAB_SPM &&
                          (s->add_space_prefix >= 0 ? s->add_space_prefix != 0 : true);
    resolve_special_ids(t, s);
    return t;
}

/* ---------------------------------------------------------------- loading from GGUF */

/* Finds a string array key; *kv NULL when absent. Error when present with another type. */
static int get_str_array(const gguf_file *f, const char *key, const gguf_kv **kv) {
    *kv = gguf_find_kv(f, key);
    if (*kv && ((*kv)->type != GGUF_VT_ARRAY || (*kv)->arr_type != GGUF_VT_STRING))
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: %s must be an array of strings", f->path, key);
    return 0;
}

/* Gathers pointer/length arrays for a string array (pointing into the mapping). */
static int gather_strings(const gguf_file *f, const gguf_kv *kv, uint32_t n, const char ***ptrs,
                          uint32_t **lens) {
    *ptrs = bn_malloc((n + 1ull) * sizeof **ptrs, "tokenizer strings");
    *lens = bn_malloc((n + 1ull) * sizeof **lens, "tokenizer strings");
    if (!*ptrs || !*lens) return BITNET_ERR_OUT_OF_MEMORY;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t len = 0;
        const char *s = gguf_arr_str(kv, i, &len, f);
        if (!s || len > UINT32_MAX)
            return bn_error(BITNET_ERR_LOAD_FAILED, "%s: %s[%u] is unreadable", f->path, kv->key, i);
        (*ptrs)[i] = s;
        (*lens)[i] = (uint32_t)len;
    }
    return 0;
}

static int64_t get_id(const gguf_file *f, const char *key) {
    int64_t v;
    return gguf_get_int(f, key, &v) ? v : -1;
}

static int get_flag(const gguf_file *f, const char *key) {
    bool v;
    return gguf_get_bool(f, key, &v) ? (int)v : -1;
}

/* Reads an optional per-token numeric array of at least n_tokens elements into a new array. */
static int get_token_numbers(const gguf_file *f, const char *key, uint32_t n_tokens, bool want_float,
                             void **out) {
    *out = NULL;
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return 0;
    bool ok_type = kv->type == GGUF_VT_ARRAY &&
                   (kv->arr_type == GGUF_VT_INT32 || (want_float && kv->arr_type == GGUF_VT_FLOAT32));
    if (!ok_type)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: %s has type %s, expected an array of %s",
                        f->path, key, gguf_value_type_name(kv->type),
                        want_float ? "f32 or i32" : "i32");
    if (kv->arr_n < n_tokens)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: %s has %llu elements for %u tokens", f->path,
                        key, (unsigned long long)kv->arr_n, n_tokens);
    if (want_float) {
        float *v = bn_malloc((n_tokens + 1ull) * sizeof *v, key);
        if (!v) return BITNET_ERR_OUT_OF_MEMORY;
        for (uint32_t i = 0; i < n_tokens; i++)
            v[i] = kv->arr_type == GGUF_VT_FLOAT32 ? gguf_arr_f32(kv, i) : (float)gguf_arr_int(kv, i);
        *out = v;
    } else {
        int32_t *v = bn_malloc((n_tokens + 1ull) * sizeof *v, key);
        if (!v) return BITNET_ERR_OUT_OF_MEMORY;
        for (uint32_t i = 0; i < n_tokens; i++) v[i] = (int32_t)gguf_arr_int(kv, i);
        *out = v;
    }
    return 0;
}

static int read_spec(const gguf_file *f, bn_vocab_spec *s, void **scores, void **types) {
    const char *model;
    uint64_t model_len;
    if (!gguf_get_str(f, "tokenizer.ggml.model", &model, &model_len))
        return bn_error(BITNET_ERR_LOAD_FAILED,
                        "%s: no tokenizer (key tokenizer.ggml.model is missing or not a string)", f->path);
    if (model_len == 4 && memcmp(model, "gpt2", 4) == 0) s->kind = BN_VOCAB_BPE;
    else if (model_len == 5 && memcmp(model, "llama", 5) == 0) s->kind = BN_VOCAB_SPM;
    else
        return bn_error(BITNET_ERR_UNSUPPORTED,
                        "%s: tokenizer.ggml.model = '%.*s' is not supported (supported: gpt2, llama)",
                        f->path, (int)(model_len > 64 ? 64 : model_len), model);
    const gguf_kv *tokens, *merges;
    int rc = get_str_array(f, "tokenizer.ggml.tokens", &tokens);
    if (rc) return rc;
    if (!tokens) return bn_error(BITNET_ERR_LOAD_FAILED, "%s: tokenizer.ggml.tokens is missing", f->path);
    if (tokens->arr_n == 0 || tokens->arr_n > INT32_MAX - 1)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: tokenizer.ggml.tokens has %llu tokens", f->path,
                        (unsigned long long)tokens->arr_n);
    s->n_tokens = (uint32_t)tokens->arr_n;
    rc = gather_strings(f, tokens, s->n_tokens, (const char ***)&s->tokens, (uint32_t **)&s->token_lens);
    if (rc) return rc;
    rc = get_str_array(f, "tokenizer.ggml.merges", &merges);
    if (rc) return rc;
    if (s->kind == BN_VOCAB_BPE) {
        if (!merges)
            return bn_error(BITNET_ERR_LOAD_FAILED, "%s: tokenizer.ggml.merges is missing (needed by "
                            "a gpt2 tokenizer)", f->path);
        if (merges->arr_n > INT32_MAX - 1)
            return bn_error(BITNET_ERR_LOAD_FAILED, "%s: too many merges", f->path);
        s->n_merges = (uint32_t)merges->arr_n;
        rc = gather_strings(f, merges, s->n_merges, (const char ***)&s->merges, (uint32_t **)&s->merge_lens);
        if (rc) return rc;
    }
    rc = get_token_numbers(f, "tokenizer.ggml.scores", s->n_tokens, true, scores);
    if (!rc) rc = get_token_numbers(f, "tokenizer.ggml.token_type", s->n_tokens, false, types);
    if (rc) return rc;
    s->scores = *scores;
    s->token_types = *types;
    const char *pre;
    uint64_t pre_len;
    if (gguf_get_str(f, "tokenizer.ggml.pre", &pre, &pre_len)) s->pre = pre, s->pre_len = pre_len;
    s->bos_id = get_id(f, "tokenizer.ggml.bos_token_id");
    s->eos_id = get_id(f, "tokenizer.ggml.eos_token_id");
    s->unk_id = get_id(f, "tokenizer.ggml.unknown_token_id");
    s->eot_id = get_id(f, "tokenizer.ggml.eot_token_id");
    s->eom_id = get_id(f, "tokenizer.ggml.eom_token_id");
    s->pad_id = get_id(f, "tokenizer.ggml.padding_token_id");
    s->add_bos = get_flag(f, "tokenizer.ggml.add_bos_token");
    s->add_eos = get_flag(f, "tokenizer.ggml.add_eos_token");
    s->add_space_prefix = get_flag(f, "tokenizer.ggml.add_space_prefix");
    return 0;
}

bn_tokenizer *bn_tokenizer_load(const gguf_file *f, const bn_tokenizer_options *opt) {
    if (!f) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "bn_tokenizer_load: no file");
        return NULL;
    }
    bn_vocab_spec s = {0};
    void *scores = NULL, *types = NULL;
    bn_tokenizer *t = NULL;
    if (read_spec(f, &s, &scores, &types) == 0) {
        t = bn_tokenizer_build(&s, opt);
        if (!t && bn_last_error_status() != BITNET_ERR_OUT_OF_MEMORY) {
            /* Name the file in messages from the builder (copy first: bn_error overwrites). */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", bn_last_error_message());
            bn_error(bn_last_error_status(), "%s: %s", f->path, msg);
        }
    }
    free((void *)s.tokens);
    free((void *)s.token_lens);
    free((void *)s.merges);
    free((void *)s.merge_lens);
    free(scores);
    free(types);
    return t;
}

/* ---------------------------------------------------------------- tokenizing */

/* A piece of the input: raw text [off, off+len) or a special token. */
typedef struct { size_t off, len; int32_t id; } fragment;

typedef struct { fragment *v; size_t n, cap; } fragments;

static bool fragments_push(fragments *fs, fragment f) {
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        fragment *v = realloc(fs->v, cap * sizeof *v);
        if (!v) return false;
        fs->v = v;
        fs->cap = cap;
    }
    fs->v[fs->n++] = f;
    return true;
}

/* Splits every raw fragment of *fs at the occurrences of special token `id` (leftmost first).
 * Uses *tmp as the output buffer and swaps. */
static bool split_at_special(const char *text, int32_t id, const char *tok, size_t tok_len,
                             fragments *fs, fragments *tmp) {
    tmp->n = 0;
    for (size_t i = 0; i < fs->n; i++) {
        fragment f = fs->v[i];
        if (f.id >= 0) {
            if (!fragments_push(tmp, f)) return false;
            continue;
        }
        size_t pos = f.off, end = f.off + f.len;
        while (pos < end) {
            const char *m = memmem(text + pos, end - pos, tok, tok_len);
            if (!m) break;
            size_t at = (size_t)(m - text);
            if (at > pos && !fragments_push(tmp, (fragment){pos, at - pos, -1})) return false;
            if (!fragments_push(tmp, (fragment){at, tok_len, id})) return false;
            pos = at + tok_len;
        }
        if (pos < end && !fragments_push(tmp, (fragment){pos, end - pos, -1})) return false;
    }
    fragments swap = *fs;
    *fs = *tmp;
    *tmp = swap;
    return true;
}

static bool tokenize_fragments(const bn_tokenizer *t, const char *text, const fragments *fs,
                               bn_ids *out) {
    bool prev_special = true; /* SPM: the first text fragment gets a space prefix */
    char *buf = NULL;
    size_t buf_cap = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < fs->n; i++) {
        const fragment *f = &fs->v[i];
        if (f->id >= 0) {
            bn_ids_push(out, f->id);
            prev_special = true;
            continue;
        }
        if (t->kind == BN_VOCAB_BPE) {
            ok = bn_bpe_tokenize_fragment(t, text + f->off, f->len, out);
            continue;
        }
        /* SPM: prefix a space after a special token (and at the start) when asked to. */
        size_t need = f->len + 1;
        if (need > buf_cap) {
            char *nb = realloc(buf, need);
            if (!nb) {
                ok = false;
                break;
            }
            buf = nb;
            buf_cap = need;
        }
        size_t n = 0;
        if (t->add_space_prefix && prev_special) buf[n++] = ' ';
        memcpy(buf + n, text + f->off, f->len);
        ok = bn_spm_tokenize_fragment(t, buf, n + f->len, out);
        prev_special = false;
    }
    free(buf);
    return ok && !out->failed;
}

int bn_tokenize(const bn_tokenizer *t, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t *out, int max_out) {
    if (!t || (!text && len) || max_out < 0 || (!out && max_out > 0)) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "bn_tokenize: invalid arguments");
        return BN_TOKENIZER_FAILED;
    }
    fragments fs = {0}, tmp = {0};
    bn_ids ids = {0};
    bool ok = true;
    if (len > 0) ok = fragments_push(&fs, (fragment){0, len, -1});
    for (uint32_t i = 0; ok && i < t->n_special; i++) {
        int32_t id = t->special[i];
        if (!parse_special && t->types[id] != BN_TT_USER_DEFINED) continue;
        size_t tok_len;
        const char *tok = bn_tok_text(t, id, &tok_len);
        ok = split_at_special(text, id, tok, tok_len, &fs, &tmp);
    }
    if (ok && add_special && t->add_bos && t->bos >= 0) bn_ids_push(&ids, t->bos);
    if (ok) ok = tokenize_fragments(t, text, &fs, &ids);
    if (ok && add_special && t->add_eos && t->eos >= 0) bn_ids_push(&ids, t->eos);
    free(fs.v);
    free(tmp.v);
    int result;
    if (!ok || ids.failed) {
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory while tokenizing %zu bytes", len);
        result = BN_TOKENIZER_FAILED;
    } else if (ids.n > (size_t)INT_MAX) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "text gives more than INT_MAX tokens");
        result = BN_TOKENIZER_FAILED;
    } else if (ids.n > (size_t)max_out) {
        result = -(int)ids.n;
    } else {
        if (ids.n) memcpy(out, ids.v, ids.n * sizeof *out);
        result = (int)ids.n;
    }
    free(ids.v);
    return result;
}

/* ---------------------------------------------------------------- pieces and getters */

int bn_token_to_piece(const bn_tokenizer *t, int32_t id, bool render_special, char *buf, int cap) {
    if (!t || id < 0 || (uint32_t)id >= t->n_tokens) {
        bn_error(BITNET_ERR_INVALID_ID, "token id %d is out of range (vocabulary of %d)", (int)id,
                 t ? (int)t->n_tokens : 0);
        return BN_TOKENIZER_FAILED;
    }
    if (!render_special && (t->types[id] == BN_TT_CONTROL || t->types[id] == BN_TT_UNKNOWN)) return 0;
    size_t n = (size_t)(t->piece_off[id + 1] - t->piece_off[id]);
    if (cap < 0 || (size_t)cap < n) return -(int)n;
    if (n) memcpy(buf, t->piece + t->piece_off[id], n);
    return (int)n;
}

int32_t bn_tokenizer_n_vocab(const bn_tokenizer *t) { return (int32_t)t->n_tokens; }
int32_t bn_tokenizer_bos(const bn_tokenizer *t) { return t->bos; }
int32_t bn_tokenizer_eos(const bn_tokenizer *t) { return t->eos; }
int32_t bn_tokenizer_eot(const bn_tokenizer *t) { return t->eot; }
bool bn_tokenizer_add_bos(const bn_tokenizer *t) { return t->add_bos; }
bool bn_tokenizer_add_eos(const bn_tokenizer *t) { return t->add_eos; }
bn_vocab_kind bn_tokenizer_kind(const bn_tokenizer *t) { return t->kind; }
bn_pre_tokenizer bn_tokenizer_pre(const bn_tokenizer *t) { return t->pre; }

bool bn_tokenizer_is_eog(const bn_tokenizer *t, int32_t id) {
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    return false;
}

const char *bn_tokenizer_token_text(const bn_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || (uint32_t)id >= t->n_tokens) return NULL;
    return bn_tok_text(t, id, len);
}

/* ---------------------------------------------------------------- streaming detokenizer */

struct bn_detok_stream {
    const bn_tokenizer *t;
    bool render_special;
    char *buf;       /* [0, held) held bytes of an incomplete character, then new bytes */
    size_t held, cap;
    char *out;       /* what the last call returned */
    size_t out_cap;
};

bn_detok_stream *bn_detok_stream_new(const bn_tokenizer *t, bool render_special) {
    bn_detok_stream *s = bn_calloc(1, sizeof *s, "detokenizer");
    if (!s) return NULL;
    s->t = t;
    s->render_special = render_special;
    return s;
}

void bn_detok_stream_free(bn_detok_stream *s) {
    if (!s) return;
    free(s->buf);
    free(s->out);
    free(s);
}

static bool grow(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    char *np = realloc(*p, c);
    if (!np) return false;
    *p = np;
    *cap = c;
    return true;
}

/* Where the trailing incomplete UTF-8 character of b[0..n) starts (n when there is none):
 * a lead byte within the last 3 bytes followed only by continuation bytes, fewer than its
 * sequence needs. */
static size_t incomplete_tail(const uint8_t *b, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        uint8_t c = b[n - k];
        if ((c & 0xC0) == 0x80) continue;
        size_t need = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                    : (c >= 0xF0 && c <= 0xF4) ? 4 : 1;
        return need > k ? n - k : n;
    }
    return n;
}

const char *bn_detok_stream_push(bn_detok_stream *s, int32_t id, size_t *len) {
    *len = 0;
    int n = bn_token_to_piece(s->t, id, s->render_special, NULL, 0);
    if (n == BN_TOKENIZER_FAILED) return NULL;
    size_t piece = (size_t)(n < 0 ? -n : n);
    if (!grow(&s->buf, &s->cap, s->held + piece) || !grow(&s->out, &s->out_cap, s->held + piece + 1)) {
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory in the detokenizer");
        return NULL;
    }
    if (piece) bn_token_to_piece(s->t, id, s->render_special, s->buf + s->held, (int)piece);
    size_t total = s->held + piece;
    size_t ready = incomplete_tail((const uint8_t *)s->buf, total);
    if (ready) { /* buf may still be NULL after empty pieces (control tokens) */
        memcpy(s->out, s->buf, ready);
        memmove(s->buf, s->buf + ready, total - ready);
    }
    s->held = total - ready;
    *len = ready;
    return s->out;
}

const char *bn_detok_stream_flush(bn_detok_stream *s, size_t *len) {
    if (!grow(&s->out, &s->out_cap, s->held + 1)) {
        *len = 0;
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory in the detokenizer");
        return NULL;
    }
    if (s->held) memcpy(s->out, s->buf, s->held);
    *len = s->held;
    s->held = 0;
    return s->out;
}
