/* hf_spm: a minimal protobuf reader for SentencePiece's tokenizer.model (see hf_spm.h). Every
 * length is checked against the enclosing message; varints are at most 10 bytes. */
#include "convert/hf_spm.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct {
    const uint8_t *base, *p, *end;
    const char *name;
} pb;

static int pb_fail(const pb *r, const char *what) {
    return bn_error(BITNET_ERR_LOAD_FAILED, "%s: offset %zu: %s", r->name, (size_t)(r->p - r->base), what);
}

static int varint(pb *r, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->end) return pb_fail(r, "truncated varint");
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return pb_fail(r, "varint longer than 10 bytes");
}

/* One field: its number, wire type, and for wire type 2 the sub-range; scalars in *v. */
typedef struct { uint32_t field, wire; uint64_t v; const uint8_t *sub; size_t sub_len; } pb_field;

static int next_field(pb *r, pb_field *f) {
    uint64_t key;
    if (varint(r, &key)) return -1;
    f->field = (uint32_t)(key >> 3), f->wire = (uint32_t)(key & 7);
    if (key >> 3 == 0 || key >> 3 > 0x1FFFFFFF) return pb_fail(r, "bad field number");
    switch (f->wire) {
    case 0: return varint(r, &f->v);
    case 1:
    case 5: {
        size_t n = f->wire == 1 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n) return pb_fail(r, "truncated fixed-size field");
        f->v = 0;
        memcpy(&f->v, r->p, n); /* little-endian host (as the rest of the library assumes) */
        r->p += n;
        return 0;
    }
    case 2:
        if (varint(r, &f->v)) return -1;
        if (f->v > (uint64_t)(r->end - r->p)) return pb_fail(r, "length-delimited field runs past its message");
        f->sub = r->p, f->sub_len = (size_t)f->v;
        r->p += f->v;
        return 0;
    default: return pb_fail(r, "unsupported wire type (groups or reserved)");
    }
}

static int parse_piece(const pb *outer, const pb_field *f, spm_piece *piece) {
    pb r = {outer->base, f->sub, f->sub + f->sub_len, outer->name};
    piece->type = 1; /* NORMAL (the proto defaults) */
    piece->score = 0.0f;
    piece->text = NULL;
    while (r.p < r.end) {
        pb_field g;
        if (next_field(&r, &g)) return -1;
        if (g.field == 1 && g.wire == 2) {
            if (g.sub_len > UINT32_MAX) return pb_fail(&r, "piece too long");
            piece->text = (const char *)g.sub, piece->len = (uint32_t)g.sub_len;
        } else if (g.field == 2 && g.wire == 5) {
            uint32_t bits = (uint32_t)g.v;
            memcpy(&piece->score, &bits, 4);
        } else if (g.field == 3 && g.wire == 0) {
            if (g.v < 1 || g.v > 6) return pb_fail(&r, "piece type outside 1..6");
            piece->type = (int32_t)g.v;
        }
    }
    if (!piece->text) return pb_fail(&r, "piece without text");
    if (memchr(piece->text, 0, piece->len)) return pb_fail(&r, "piece text holds a NUL byte");
    return 0;
}

static int32_t as_id(uint64_t v) { return (int32_t)(uint32_t)v; } /* int32 fields: -1 is 2^64-1 */

static int parse_sub(const pb *outer, const pb_field *f, spm_model *m, bool trainer) {
    pb r = {outer->base, f->sub, f->sub + f->sub_len, outer->name};
    while (r.p < r.end) {
        pb_field g;
        if (next_field(&r, &g)) return -1;
        if (g.wire != 0) continue;
        if (trainer) {
            if (g.field == 3) m->model_type = (int32_t)g.v;
            else if (g.field == 4) m->vocab_size = (int64_t)(int32_t)(uint32_t)g.v;
            else if (g.field == 40) m->unk_id = as_id(g.v);
            else if (g.field == 41) m->bos_id = as_id(g.v);
            else if (g.field == 42) m->eos_id = as_id(g.v);
            else if (g.field == 43) m->pad_id = as_id(g.v);
        } else if (g.field == 3) {
            m->add_dummy_prefix = g.v != 0;
        }
    }
    return 0;
}

int spm_parse(const uint8_t *data, size_t size, const char *name, spm_model *m) {
    memset(m, 0, sizeof *m);
    m->model_type = 1, m->vocab_size = 0, m->unk_id = 0, m->bos_id = 1, m->eos_id = 2, m->pad_id = -1, m->add_dummy_prefix = true;
    pb r = {data, data, data + size, name};
    size_t cap = 0;
    int rc = 0;
    while (!rc && r.p < r.end) {
        pb_field f;
        if (next_field(&r, &f)) { rc = -1; break; }
        if (f.wire != 2) continue;
        if (f.field == 1) {
            if (m->n == cap) {
                size_t nc = cap ? 2 * cap : 1024;
                spm_piece *np = realloc(m->pieces, nc * sizeof *np);
                if (!np) { rc = bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory reading %s", name); break; }
                m->pieces = np, cap = nc;
            }
            rc = parse_piece(&r, &f, &m->pieces[m->n]);
            if (!rc) m->n++;
        } else if (f.field == 2 || f.field == 3) {
            rc = parse_sub(&r, &f, m, f.field == 2);
        }
    }
    if (!rc && m->n == 0) rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: no pieces (not a SentencePiece model?)", name);
    /* A protobuf cut at a field boundary still parses: the trainer's vocab_size catches it. */
    if (!rc && m->vocab_size > 0 && (uint64_t)m->vocab_size != m->n)
        rc = bn_error(BITNET_ERR_LOAD_FAILED, "%s: %zu pieces but its trainer spec says vocab_size %lld (truncated file?)", name,
                      m->n, (long long)m->vocab_size);
    if (!rc && m->model_type != 2)
        rc = bn_error(BITNET_ERR_UNSUPPORTED, "%s: SentencePiece model type %d is not supported (only BPE, type 2; "
                      "unigram models need another tokenizer)", name, m->model_type);
    if (rc) spm_free(m);
    return rc;
}

void spm_free(spm_model *m) {
    free(m->pieces);
    m->pieces = NULL;
    m->n = 0;
}
