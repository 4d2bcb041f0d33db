/* api_slot: slot files, the tokens a sequence holds and their KV cache entries on disk
 * (bitnet_batch_slot_save / bitnet_batch_slot_restore, api_batch.c; a session's, as llama.cpp's
 * prompt cache: bitnet_session_save_file / bitnet_session_load_file, below). Layout, little-endian
 * (the x86-64 and aarch64 targets are):
 *   "BNSLOT\r\n" (8 bytes), then slot_header: the version (1), the cache types and activation
 *   numerics, the shapes, a 32-byte fingerprint of the weights (BLAKE3 of every matrix's first
 *   4 KiB, the norms and the token embedding's first and last 64 KiB: another model with the
 *   same shapes is refused), and n_tokens;
 *   int32 tokens[n_tokens];
 *   the cache memory of positions [0, n_tokens) in bn_state_seq_kv_regions' order;
 *   the 32-byte BLAKE3 of everything before it (a damaged file is refused, never half used).
 * A file is only read back into a state of the same model, cache types and numerics, whose
 * context holds its tokens. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "debug/blake3.h"
#include "util.h"

static const char SLOT_MAGIC[8] = {'B', 'N', 'S', 'L', 'O', 'T', '\r', '\n'};
enum { SLOT_VERSION = 1, SAMPLE = 4096, EMBD_SAMPLE = 65536 };

typedef struct slot_header {
    uint32_t version, kv_type_k, kv_type_v, act_quant;
    uint32_t n_layer, n_head_kv, head_dim, reserved;
    int64_t n_vocab, n_embd;
    uint8_t fingerprint[BN_BLAKE3_OUT_LEN];
    int64_t n_tokens;
} slot_header;

static void hash_bytes(bn_blake3_hasher *h, const void *data, uint64_t n, uint64_t cap) {
    if (data) bn_blake3_update(h, data, (size_t)(n < cap ? n : cap));
}

static uint64_t linear_bytes(const bn_linear *w) { return w->row_bytes * (uint64_t)w->out; }

void bn_slot_fingerprint(const bn_model *m, uint8_t out[32]) {
    bn_blake3_hasher h;
    bn_blake3_init(&h);
    const bn_hparams *hp = &m->hp;
    uint64_t embd = linear_bytes(&m->tok_embd);
    hash_bytes(&h, m->tok_embd.data, embd, EMBD_SAMPLE);
    if (embd > EMBD_SAMPLE) hash_bytes(&h, m->tok_embd.data + embd - EMBD_SAMPLE, EMBD_SAMPLE, EMBD_SAMPLE);
    hash_bytes(&h, m->output.data, linear_bytes(&m->output), SAMPLE);
    for (int l = 0; l < hp->n_layer; l++) {
        const bn_layer *L = &m->layers[l];
        const bn_linear *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) hash_bytes(&h, ws[i]->data, linear_bytes(ws[i]), SAMPLE);
        hash_bytes(&h, L->attn_norm, (uint64_t)hp->n_embd * sizeof(float), SAMPLE);
    }
    bn_blake3_finalize(&h, out);
}

static slot_header header_of(const bn_model *m, const uint8_t *fp, const bn_state *s, int64_t n_tokens) {
    slot_header hd = {.version = SLOT_VERSION, .kv_type_k = (uint32_t)bn_state_kv_type_k(s),
                      .kv_type_v = (uint32_t)bn_state_kv_type_v(s), .act_quant = (uint32_t)bn_state_act_quant(s),
                      .n_layer = (uint32_t)m->hp.n_layer, .n_head_kv = (uint32_t)m->hp.n_head_kv,
                      .head_dim = (uint32_t)m->hp.head_dim, .n_vocab = m->hp.n_vocab, .n_embd = m->hp.n_embd,
                      .n_tokens = n_tokens};
    memcpy(hd.fingerprint, fp, sizeof hd.fingerprint);
    return hd;
}

/* A file being written or read, every byte through the hash. */
typedef struct slot_io {
    FILE *f;
    const char *path;
    bn_blake3_hasher hash;
} slot_io;

static int io_write(void *ctx, void *data, size_t n) {
    slot_io *io = ctx;
    bn_blake3_update(&io->hash, data, n);
    if (n && fwrite(data, 1, n, io->f) != n) return bn_error(BITNET_ERR_IO, "%s: write failed: %s", io->path, strerror(errno));
    return 0;
}

static int io_read(void *ctx, void *data, size_t n) {
    slot_io *io = ctx;
    if (n && fread(data, 1, n, io->f) != n)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: the file ends early (a damaged or partial slot file)", io->path);
    bn_blake3_update(&io->hash, data, n);
    return 0;
}

int bn_slot_file_write(const bn_model *m, const uint8_t *fp, bn_state *s, int seq, const int32_t *tokens, int64_t n_tokens,
                       const char *path, uint64_t *bytes) {
    slot_io io = {.f = fopen(path, "wb"), .path = path};
    if (!io.f) return bn_error(BITNET_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    bn_blake3_init(&io.hash);
    slot_header hd = header_of(m, fp, s, n_tokens);
    uint8_t digest[BN_BLAKE3_OUT_LEN];
    int rc = io_write(&io, (void *)SLOT_MAGIC, sizeof SLOT_MAGIC);
    if (!rc) rc = io_write(&io, &hd, sizeof hd);
    if (!rc) rc = io_write(&io, (void *)tokens, sizeof *tokens * (size_t)n_tokens);
    if (!rc) rc = bn_state_seq_kv_regions(s, seq, n_tokens, io_write, &io);
    bn_blake3_finalize(&io.hash, digest);
    if (!rc && fwrite(digest, 1, sizeof digest, io.f) != sizeof digest) rc = bn_error(BITNET_ERR_IO, "%s: write failed", path);
    if (!rc && bytes) *bytes = (uint64_t)ftell(io.f);
    if (fclose(io.f) != 0 && !rc) rc = bn_error(BITNET_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (rc) remove(path); /* no partial file is left to be read back */
    return rc;
}

static const char *kv_name(uint32_t t) { return t == BN_KV_F32 ? "f32" : t == BN_KV_F16 ? "f16" : t == BN_KV_Q8_0 ? "q8_0" : "?"; }

/* The header read against this model and state: a message naming the first difference. */
static int check_header(const slot_header *got, const slot_header *want, int64_t n_ctx, const char *path) {
    if (got->version != SLOT_VERSION) return bn_error(BITNET_ERR_LOAD_FAILED, "%s: slot file version %u (this library reads 1)", path, got->version);
    if (got->n_layer != want->n_layer || got->n_head_kv != want->n_head_kv || got->head_dim != want->head_dim ||
        got->n_vocab != want->n_vocab || got->n_embd != want->n_embd || memcmp(got->fingerprint, want->fingerprint, sizeof got->fingerprint))
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: saved from another model", path);
    if (got->kv_type_k != want->kv_type_k || got->kv_type_v != want->kv_type_v)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: saved with other KV cache types (K %s, V %s; these are %s, %s)", path,
                        kv_name(got->kv_type_k), kv_name(got->kv_type_v), kv_name(want->kv_type_k), kv_name(want->kv_type_v));
    if (got->act_quant != want->act_quant)
        return bn_error(BITNET_ERR_LOAD_FAILED, "%s: saved with other activation numerics (--act-quant)", path);
    if (got->n_tokens < 0 || got->n_tokens > n_ctx)
        return bn_error(BITNET_ERR_CONTEXT_EXCEEDED, "%s: %lld tokens do not fit a context of %lld", path, (long long)got->n_tokens,
                        (long long)n_ctx);
    return 0;
}

/* The tokens (into *tokens, malloc'd) and the KV entries; the header is checked first. */
static int read_body(const bn_model *m, const uint8_t *fp, bn_state *s, int seq, slot_io *io, int32_t **tokens, int64_t *n_tokens) {
    char magic[sizeof SLOT_MAGIC];
    slot_header got, want = header_of(m, fp, s, 0);
    int rc = io_read(io, magic, sizeof magic);
    if (!rc && memcmp(magic, SLOT_MAGIC, sizeof magic)) rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: not a slot file", io->path);
    if (!rc) rc = io_read(io, &got, sizeof got);
    if (!rc) rc = check_header(&got, &want, bn_state_n_ctx(s), io->path);
    if (rc) return rc;
    *n_tokens = got.n_tokens;
    if (!(*tokens = bn_malloc(sizeof **tokens * (size_t)(got.n_tokens + 1), "slot tokens"))) return BITNET_ERR_OUT_OF_MEMORY;
    if ((rc = io_read(io, *tokens, sizeof **tokens * (size_t)got.n_tokens))) return rc;
    for (int64_t i = 0; i < got.n_tokens; i++)
        if ((*tokens)[i] < 0 || (*tokens)[i] >= m->hp.n_vocab) return bn_error(BITNET_ERR_LOAD_FAILED, "%s: token %lld is not of this model", io->path, (long long)i);
    return bn_state_seq_kv_regions(s, seq, got.n_tokens, io_read, io);
}

int bn_slot_file_read(const bn_model *m, const uint8_t *fp, bn_state *s, int seq, const char *path, int32_t **tokens,
                      int64_t *n_tokens, uint64_t *bytes) {
    *tokens = NULL;
    *n_tokens = 0;
    slot_io io = {.f = fopen(path, "rb"), .path = path};
    if (!io.f) return bn_error(errno == ENOENT ? BITNET_ERR_NOT_FOUND : BITNET_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    bn_blake3_init(&io.hash);
    int rc = read_body(m, fp, s, seq, &io, tokens, n_tokens);
    uint8_t want[BN_BLAKE3_OUT_LEN], got[BN_BLAKE3_OUT_LEN];
    bn_blake3_finalize(&io.hash, want);
    if (!rc && fread(got, 1, sizeof got, io.f) != sizeof got) rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: the file ends early", path);
    if (!rc && memcmp(got, want, sizeof got)) rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: damaged (its checksum does not match)", path);
    if (!rc && fgetc(io.f) != EOF) rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: bytes after the end of the slot file", path);
    if (!rc && bytes) *bytes = (uint64_t)ftell(io.f);
    fclose(io.f);
    if (rc) {
        free(*tokens);
        *tokens = NULL;
        *n_tokens = 0;
    }
    return rc;
}

/* ===================================================================== session files */

BITNET_API int bitnet_session_save_file(bitnet_session *s, const int32_t *tokens, int64_t n, const char *path) {
    if (!s || !path || n < 0 || (n > 0 && !tokens))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_save_file: NULL session, tokens or path, or n < 0");
    uint8_t fp[BN_BLAKE3_OUT_LEN];
    bn_slot_fingerprint(s->model->m, fp);
    pthread_mutex_lock(&s->lock);
    int rc = n != bn_state_n_past(s->state)
                 ? bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_save_file: %lld tokens given, the session holds %lld", (long long)n,
                            (long long)bn_state_n_past(s->state))
                 : bn_slot_file_write(s->model->m, fp, s->state, 0, tokens, n, path, NULL);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

BITNET_API int64_t bitnet_session_load_file(bitnet_session *s, const char *path, int32_t *tokens, int64_t cap) {
    if (!s || !path || cap < 0 || (cap > 0 && !tokens))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_load_file: NULL session, path or tokens, or cap < 0");
    uint8_t fp[BN_BLAKE3_OUT_LEN];
    bn_slot_fingerprint(s->model->m, fp);
    pthread_mutex_lock(&s->lock);
    bn_state_reset(s->state); /* the file's entries overwrite the cache: nothing of it stays valid */
    int32_t *read;
    int64_t n;
    int rc = bn_slot_file_read(s->model->m, fp, s->state, 0, path, &read, &n, NULL);
    if (!rc && n > cap) rc = bn_error(BITNET_ERR_BUFFER_TOO_SMALL, "bitnet_session_load_file: %s holds %lld tokens, room for %lld", path,
                                      (long long)n, (long long)cap);
    if (!rc) {
        if (n) memcpy(tokens, read, sizeof *read * (size_t)n);
        bn_state_seq_set_n_past(s->state, 0, n);
    }
    free(read);
    pthread_mutex_unlock(&s->lock);
    return rc ? rc : n;
}
