/* hf_tokenizer: tokenizer.json + tokenizer_config.json + generation_config.json -> GGUF
 * tokenizer.* keys (see hf_tokenizer.h). */
#include "convert/hf_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/hf.h"
#include "convert/hf_spm.h"
#include "formats/mapfile.h"
#include "formats/json.h"
#include "util.h"

#define MAX_TOKENIZER_BYTES (512u << 20)

enum { TOK_NORMAL = 1, TOK_CONTROL = 3, TOK_USER_DEFINED = 4, TOK_UNUSED = 5 };

/* The LLaMA-3 pre-tokenizer regex (tokenizer.json Split pattern of Meta-Llama-3 and of
 * microsoft/bitnet-b1.58-2B-4T). */
static const char llama3_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static bool is_llama3_pre(const bn_json *pre) {
    const bn_json *list = bn_json_get(pre, "pretokenizers");
    const char *type = bn_json_get_str(pre, "type");
    if (!type || strcmp(type, "Sequence") || !list || list->type != BN_JSON_ARRAY || list->n != 2) return false;
    const bn_json *split = &list->items[0], *bl = &list->items[1];
    const char *st = bn_json_get_str(split, "type"), *bt = bn_json_get_str(bl, "type");
    const char *rx = bn_json_get_str(bn_json_get(split, "pattern"), "Regex");
    const char *behavior = bn_json_get_str(split, "behavior");
    bool invert = true, use_regex = true;
    bn_json_get_bool(split, "invert", &invert);
    bn_json_get_bool(bl, "use_regex", &use_regex);
    return st && !strcmp(st, "Split") && rx && !strcmp(rx, llama3_regex) && behavior && !strcmp(behavior, "Isolated") &&
           !invert && bt && !strcmp(bt, "ByteLevel") && !use_regex;
}

typedef struct {
    int64_t n;
    char **tokens;      /* owned copies */
    int32_t *types;
    float *scores;      /* SentencePiece only */
} vocab;

static void vocab_free(vocab *v) {
    for (int64_t i = 0; v->tokens && i < v->n; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->types);
    free(v->scores);
}

static int put_token(vocab *v, const bn_json *id, const char *text, size_t len, int32_t type, const char *what) {
    if (!id || id->type != BN_JSON_NUMBER || !id->is_uint || id->u >= (uint64_t)v->n)
        return bn_error(BITNET_ERR_UNSUPPORTED, "tokenizer.json: %s \"%.60s\" has an id outside 0..%lld (the model's vocab_size)",
                        what, text, (long long)v->n - 1);
    if (strlen(text) != len) return bn_error(BITNET_ERR_UNSUPPORTED, "tokenizer.json: %s with an id %llu holds a NUL", what, (unsigned long long)id->u);
    char **slot = &v->tokens[id->u];
    if (*slot) {
        if (strcmp(*slot, text))
            return bn_error(BITNET_ERR_UNSUPPORTED, "tokenizer.json: id %llu is both \"%.60s\" and \"%.60s\"", (unsigned long long)id->u, *slot, text);
        if (v->scores) return 0; /* a SentencePiece piece keeps its own type (<unk> stays UNKNOWN) */
    } else if (!(*slot = bn_strdup(text))) {
        return BITNET_ERR_OUT_OF_MEMORY;
    }
    v->types[id->u] = type;
    return 0;
}

static int vocab_alloc(vocab *v) {
    if (!(v->tokens = bn_calloc((size_t)v->n, sizeof *v->tokens, "tokens")) || !(v->types = bn_calloc((size_t)v->n, sizeof *v->types, "types")) ||
        !(v->scores = bn_calloc((size_t)v->n, sizeof *v->scores, "scores")))
        return BITNET_ERR_OUT_OF_MEMORY;
    return 0;
}

/* tokenizer.json's added_tokens (special -> CONTROL, others USER_DEFINED), then "[PAD<id>]"
 * UNUSED tokens in the ids nothing named. */
static int add_added_and_pads(const bn_json *tj, vocab *v, hf_tokenizer_report *rep) {
    const bn_json *added = bn_json_get(tj, "added_tokens");
    int rc = 0;
    for (size_t i = 0; !rc && added && added->type == BN_JSON_ARRAY && i < added->n; i++) {
        const bn_json *a = &added->items[i];
        const bn_json *content = bn_json_get(a, "content");
        bool special = false;
        bn_json_get_bool(a, "special", &special);
        if (!content || content->type != BN_JSON_STRING) return bn_error(BITNET_ERR_UNSUPPORTED, "tokenizer.json: added_tokens[%zu] has no content", i);
        rc = put_token(v, bn_json_get(a, "id"), content->str, content->str_len, special ? TOK_CONTROL : TOK_USER_DEFINED, "added token");
        rep->n_added++;
    }
    for (int64_t i = 0; !rc && i < v->n; i++)
        if (!v->tokens[i]) {
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%lld]", (long long)i);
            if (!(v->tokens[i] = bn_strdup(pad))) rc = BITNET_ERR_OUT_OF_MEMORY;
            v->types[i] = TOK_UNUSED;
            rep->n_pad++;
        }
    rep->n_vocab = v->n;
    return rc;
}

static int read_vocab(const bn_json *tj, vocab *v, hf_tokenizer_report *rep) {
    const bn_json *vj = bn_json_get(bn_json_get(tj, "model"), "vocab");
    if (!vj || vj->type != BN_JSON_OBJECT) return bn_error(BITNET_ERR_UNSUPPORTED, "tokenizer.json: model.vocab is not an object");
    int rc = vocab_alloc(v);
    for (size_t i = 0; !rc && i < vj->n; i++) rc = put_token(v, &vj->items[i], vj->items[i].key, vj->items[i].key_len, TOK_NORMAL, "token");
    return rc ? rc : add_added_and_pads(tj, v, rep);
}

/* Merges as "a b" strings (pair entries are joined). */
static int write_merges(const bn_json *model, gguf_writer *w, hf_tokenizer_report *rep) {
    const bn_json *m = bn_json_get(model, "merges");
    if (!m || m->type != BN_JSON_ARRAY) return bn_error(BITNET_ERR_UNSUPPORTED, "tokenizer.json: model.merges is not a list");
    char **owned = bn_calloc(m->n + 1, sizeof *owned, "merges");
    const char **list = bn_calloc(m->n + 1, sizeof *list, "merges");
    int rc = owned && list ? 0 : BITNET_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; !rc && i < m->n; i++) {
        const bn_json *e = &m->items[i];
        if (e->type == BN_JSON_STRING && strchr(e->str, ' ') && strlen(e->str) == e->str_len) {
            list[i] = e->str;
        } else if (e->type == BN_JSON_ARRAY && e->n == 2 && e->items[0].type == BN_JSON_STRING && e->items[1].type == BN_JSON_STRING &&
                   !strchr(e->items[0].str, ' ') && !strchr(e->items[1].str, ' ')) {
            size_t n = e->items[0].str_len + e->items[1].str_len + 2;
            if (!(owned[i] = bn_malloc(n, "merge"))) { rc = BITNET_ERR_OUT_OF_MEMORY; break; }
            snprintf(owned[i], n, "%s %s", e->items[0].str, e->items[1].str);
            list[i] = owned[i];
        } else {
            rc = bn_error(BITNET_ERR_UNSUPPORTED, "tokenizer.json: merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", i);
        }
    }
    if (!rc) rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", list, m->n);
    for (size_t i = 0; owned && i < m->n; i++) free(owned[i]);
    free(owned);
    free(list);
    rep->n_merges = (int64_t)m->n;
    return rc;
}

static int32_t find_id(const vocab *v, const char *text) {
    for (int64_t i = v->n - 1; text && i >= 0; i--)
        if (!strcmp(v->tokens[i], text)) return (int32_t)i;
    return -1;
}

/* A token named in tokenizer_config.json: "text" or {"content": "text", ...}. */
static const char *token_name(const bn_json *cfg, const char *key) {
    const bn_json *t = bn_json_get(cfg, key);
    if (t && t->type == BN_JSON_STRING) return t->str;
    return bn_json_get_str(t, "content");
}

static int set_id(gguf_writer *w, const char *key, int32_t id) {
    return id >= 0 ? gguf_writer_set_u32(w, key, (uint32_t)id) : 0;
}

/* The end-of-generation ids of generation_config.json other than eos: the first becomes eot. */
static int32_t eot_from_generation(const char *dir, const vocab *v, int32_t eos) {
    if (!hf_file_exists(dir, "generation_config.json")) return -1;
    char *p = hf_path(dir, "generation_config.json");
    bn_json *g = p ? bn_json_parse_file(p, 1u << 20) : NULL;
    free(p);
    const bn_json *e = bn_json_get(g, "eos_token_id");
    int32_t eot = -1;
    size_t n = e && e->type == BN_JSON_ARRAY ? e->n : e ? 1 : 0;
    for (size_t i = 0; i < n && eot < 0; i++) {
        const bn_json *x = e->type == BN_JSON_ARRAY ? &e->items[i] : e;
        if (x->type == BN_JSON_NUMBER && x->is_uint && x->u < (uint64_t)v->n && (int32_t)x->u != eos) eot = (int32_t)x->u;
    }
    bn_json_free(g);
    bn_clear_error(); /* a missing or odd generation_config.json only loses the eot id */
    return eot;
}

static int write_specials(const char *dir, const bn_json *tj, const vocab *v, gguf_writer *w, hf_tokenizer_report *rep) {
    bn_json *cfg = NULL;
    if (hf_file_exists(dir, "tokenizer_config.json")) {
        char *p = hf_path(dir, "tokenizer_config.json");
        cfg = p ? bn_json_parse_file(p, 64u << 20) : NULL;
        free(p);
        if (!cfg) return bn_last_error_status();
    }
    /* Ids preset by the tokenizer model (SentencePiece's trainer spec) stay unless
     * tokenizer_config.json names a token that exists. */
    int32_t id;
    if ((id = find_id(v, token_name(cfg, "bos_token"))) >= 0) rep->bos = id;
    if ((id = find_id(v, token_name(cfg, "eos_token"))) >= 0) rep->eos = id;
    if ((id = find_id(v, token_name(cfg, "pad_token"))) >= 0) rep->pad = id;
    int32_t pad = rep->pad;
    rep->eot = eot_from_generation(dir, v, rep->eos);
    if (rep->eos < 0 && rep->eot >= 0) rep->eos = rep->eot, rep->eot = -1;
    int rc = set_id(w, "tokenizer.ggml.bos_token_id", rep->bos);
    if (!rc) rc = set_id(w, "tokenizer.ggml.eos_token_id", rep->eos);
    if (!rc) rc = set_id(w, "tokenizer.ggml.eot_token_id", rep->eot);
    if (!rc) rc = set_id(w, "tokenizer.ggml.padding_token_id", pad);
    bool flag;
    if (!rc && bn_json_get_bool(cfg, "add_bos_token", &flag)) rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", flag);
    if (!rc && bn_json_get_bool(cfg, "add_eos_token", &flag)) rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", flag);
    const char *tmpl = bn_json_get_str(cfg, "chat_template");
    if (!rc && tmpl) rc = gguf_writer_set_str(w, "tokenizer.chat_template", tmpl), rep->chat_template = 1;
    (void)tj;
    bn_json_free(cfg);
    return rc;
}

static int check_model(const char *dir, const bn_json *tj, const char *force_pre, hf_tokenizer_report *rep) {
    const bn_json *model = bn_json_get(tj, "model");
    const char *type = bn_json_get_str(model, "type");
    bool byte_fallback = false;
    bn_json_get_bool(model, "byte_fallback", &byte_fallback);
    if (!type || strcmp(type, "BPE"))
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s/tokenizer.json: model type %s is not supported (byte-level BPE only)", dir, type ? type : "(none)");
    if (byte_fallback)
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s/tokenizer.json: a SentencePiece-style BPE (byte_fallback) without its "
                        "tokenizer.model is not supported; add tokenizer.model or pass --vocab-from a GGUF with the same vocabulary", dir);
    const bn_json *norm = bn_json_get(tj, "normalizer");
    if (norm && norm->type != BN_JSON_NULL)
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s/tokenizer.json: a normalizer is not supported (byte-level BPE has none)", dir);
    if (force_pre) {
        rep->pre = force_pre;
    } else if (is_llama3_pre(bn_json_get(tj, "pre_tokenizer"))) {
        rep->pre = "llama-bpe";
    } else {
        return bn_error(BITNET_ERR_UNSUPPORTED, "%s/tokenizer.json: the pre-tokenizer is not the LLaMA-3 one (Split with its "
                        "regex + ByteLevel), the only one recognised; --tokenizer-pre default forces llama.cpp's default regexes", dir);
    }
    return 0;
}

/* ---- SentencePiece ---- */

/* The pieces of tokenizer.model (text, score, type), tokenizer.json's added tokens above them. */
static int read_spm_vocab(const char *dir, const bn_json *tj, vocab *v, hf_tokenizer_report *rep, bool *add_space) {
    char *p = hf_path(dir, "tokenizer.model");
    const uint8_t *base = NULL;
    uint64_t size = 0;
    int rc = p ? bn_map_file(p, &base, &size) : BITNET_ERR_OUT_OF_MEMORY;
    spm_model m = {0};
    if (!rc) rc = spm_parse(base, (size_t)size, p, &m);
    if (!rc && (int64_t)m.n > v->n)
        rc = bn_error(BITNET_ERR_UNSUPPORTED, "%s: %zu pieces but the model's vocab_size is %lld", p, m.n, (long long)v->n);
    if (!rc) rc = vocab_alloc(v);
    for (size_t i = 0; !rc && i < m.n; i++) {
        if (!(v->tokens[i] = bn_malloc(m.pieces[i].len + 1, "piece"))) { rc = BITNET_ERR_OUT_OF_MEMORY; break; }
        memcpy(v->tokens[i], m.pieces[i].text, m.pieces[i].len);
        v->tokens[i][m.pieces[i].len] = 0;
        v->types[i] = m.pieces[i].type, v->scores[i] = m.pieces[i].score;
    }
    if (!rc) {
        rep->bos = m.bos_id >= 0 && m.bos_id < (int64_t)m.n ? m.bos_id : -1;
        rep->eos = m.eos_id >= 0 && m.eos_id < (int64_t)m.n ? m.eos_id : -1;
        rep->unk = m.unk_id >= 0 && m.unk_id < (int64_t)m.n ? m.unk_id : -1;
        rep->pad = m.pad_id >= 0 && m.pad_id < (int64_t)m.n ? m.pad_id : -1;
        *add_space = m.add_dummy_prefix;
        rc = add_added_and_pads(tj, v, rep);
    }
    spm_free(&m);
    bn_unmap_file(base, size);
    free(p);
    return rc;
}

static int write_spm(const char *dir, const bn_json *tj, vocab *v, gguf_writer *w, hf_tokenizer_report *rep) {
    bool add_space = true;
    int rc = read_spm_vocab(dir, tj, v, rep, &add_space);
    rep->pre = "(SentencePiece BPE)";
    if (!rc) rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    if (!rc) rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, (uint64_t)v->n);
    if (!rc) rc = gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", v->scores, (uint64_t)v->n);
    if (!rc) rc = gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", v->types, (uint64_t)v->n);
    if (!rc) rc = set_id(w, "tokenizer.ggml.unknown_token_id", rep->unk);
    if (!rc) rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", add_space);
    if (!rc) rc = write_specials(dir, tj, v, w, rep);
    return rc;
}

/* SentencePiece when tokenizer.model is there and tokenizer.json is absent or is the
 * byte-fallback BPE that transformers derives from it. */
static bool use_spm(const char *dir, const bn_json *tj) {
    bool byte_fallback = false;
    bn_json_get_bool(bn_json_get(tj, "model"), "byte_fallback", &byte_fallback);
    return hf_file_exists(dir, "tokenizer.model") && (!tj || byte_fallback);
}

int hf_tokenizer_write(const char *dir, int64_t n_vocab, const char *force_pre, gguf_writer *w, hf_tokenizer_report *rep) {
    memset(rep, 0, sizeof *rep);
    rep->bos = rep->eos = rep->eot = rep->unk = rep->pad = -1;
    bn_json *tj = NULL;
    if (hf_file_exists(dir, "tokenizer.json")) {
        char *p = hf_path(dir, "tokenizer.json");
        tj = p ? bn_json_parse_file(p, MAX_TOKENIZER_BYTES) : NULL;
        free(p);
        if (!tj) return bn_last_error_status();
    } else if (!hf_file_exists(dir, "tokenizer.model")) {
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: no tokenizer.json or tokenizer.model (or pass --vocab-from VOCAB.gguf)", dir);
    }
    vocab v = {n_vocab, NULL, NULL, NULL};
    if (use_spm(dir, tj)) {
        int rc = write_spm(dir, tj, &v, w, rep);
        vocab_free(&v);
        bn_json_free(tj);
        return rc;
    }
    int rc = check_model(dir, tj, force_pre, rep);
    if (!rc) rc = read_vocab(tj, &v, rep);
    if (!rc) rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (!rc) rc = gguf_writer_set_str(w, "tokenizer.ggml.pre", rep->pre);
    if (!rc) rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tokens, (uint64_t)v.n);
    if (!rc) rc = gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", v.types, (uint64_t)v.n);
    if (!rc) rc = write_merges(bn_json_get(tj, "model"), w, rep);
    if (!rc) rc = write_specials(dir, tj, &v, w, rep);
    vocab_free(&v);
    bn_json_free(tj);
    return rc;
}
