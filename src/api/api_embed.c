/* api_embed: embeddings (include/bitnet.h, "Embeddings"): the pooling names, llama.cpp's
 * normalizations, the pooler that both bitnet_session_embed and the batch's embedding slots
 * (api_batch.c) feed with hidden-state rows, and bitnet_session_embed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "util.h"

static const char *const POOLING_NAMES[] = {"mean", "last", "cls", "none"};
enum { N_POOLINGS = sizeof POOLING_NAMES / sizeof POOLING_NAMES[0] };

BITNET_API int bitnet_pooling_from_name(const char *name, bitnet_pooling *out) {
    for (int i = 0; name && out && i < N_POOLINGS; i++)
        if (!strcmp(name, POOLING_NAMES[i])) {
            *out = (bitnet_pooling)i;
            return 0;
        }
    return bn_error(BITNET_ERR_INVALID_ARGUMENT, "pooling '%s': must be mean, last, cls or none", name ? name : "(null)");
}

BITNET_API const char *bitnet_pooling_name(bitnet_pooling pooling) {
    return (int)pooling >= 0 && (int)pooling < N_POOLINGS ? POOLING_NAMES[pooling] : "?";
}

BITNET_API int bitnet_embedding_normalize(float *v, int64_t n, int norm) {
    if (!v || n < 0 || norm < -1)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_embedding_normalize: NULL vector, negative length or norm %d < -1", norm);
    double size = 0; /* the norm the vector is divided by */
    if (norm == -1) return 0;
    if (norm == 0) {
        for (int64_t i = 0; i < n; i++) size = fmax(size, fabs((double)v[i]));
        size /= 32760.0;
    } else if (norm == 2) {
        for (int64_t i = 0; i < n; i++) size += (double)v[i] * v[i];
        size = sqrt(size);
    } else {
        for (int64_t i = 0; i < n; i++) size += pow(fabs((double)v[i]), norm);
        size = pow(size, 1.0 / norm);
    }
    double scale = size > 0 ? 1.0 / size : 0.0;
    for (int64_t i = 0; i < n; i++) v[i] = (float)(v[i] * scale);
    return 0;
}

int bn_pooler_init(bn_pooler *p, bitnet_pooling pooling, int64_t n_embd, int n_tokens, float *out) {
    memset(p, 0, sizeof *p);
    if ((int)pooling < 0 || (int)pooling >= N_POOLINGS)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "unknown pooling %d", (int)pooling);
    *p = (bn_pooler){.pooling = pooling, .n_embd = n_embd, .n_tokens = n_tokens, .out = out};
    if (pooling == BITNET_POOLING_MEAN && !(p->sum = bn_calloc((size_t)n_embd, sizeof *p->sum, "mean pooling")))
        return BITNET_ERR_OUT_OF_MEMORY;
    return 0;
}

bool bn_pooler_wants(const bn_pooler *p, int index) {
    switch (p->pooling) {
    case BITNET_POOLING_LAST: return index == p->n_tokens - 1;
    case BITNET_POOLING_CLS: return index == 0;
    default: return true;
    }
}

void bn_pooler_add(bn_pooler *p, int index, const float *row) {
    if (!bn_pooler_wants(p, index)) return;
    size_t bytes = (size_t)p->n_embd * sizeof *row;
    if (p->pooling == BITNET_POOLING_MEAN)
        for (int64_t i = 0; i < p->n_embd; i++) p->sum[i] += row[i];
    else if (p->pooling == BITNET_POOLING_NONE)
        memcpy(p->out + (int64_t)index * p->n_embd, row, bytes);
    else
        memcpy(p->out, row, bytes);
}

void bn_pooler_finish(bn_pooler *p) {
    if (p->pooling == BITNET_POOLING_MEAN && p->sum)
        for (int64_t i = 0; i < p->n_embd; i++) p->out[i] = (float)(p->sum[i] / p->n_tokens);
    bn_pooler_free(p);
}

void bn_pooler_free(bn_pooler *p) {
    free(p->sum);
    p->sum = NULL;
}

/* The tokens in chunks of the state's batch size, their rows pooled as they come. */
static int embed_chunks(bitnet_session *s, const int32_t *tokens, int n, bn_pooler *pool) {
    int chunk = bn_state_max_batch(s->state);
    float *rows = bn_malloc((size_t)chunk * (size_t)pool->n_embd * sizeof *rows, "embedding rows");
    if (!rows) return BITNET_ERR_OUT_OF_MEMORY;
    int64_t start = bn_state_n_past(s->state);
    int rc = 0;
    for (int done = 0; done < n && !rc; done += chunk) {
        int k = n - done < chunk ? n - done : chunk;
        if ((rc = bn_state_eval_hidden(s->state, tokens + done, k, rows))) break;
        for (int t = 0; t < k; t++) bn_pooler_add(pool, done + t, rows + (int64_t)t * pool->n_embd);
    }
    free(rows);
    if (rc) bn_state_truncate(s->state, start); /* all or nothing, as bitnet_session_eval */
    return rc;
}

BITNET_API int bitnet_session_embed(bitnet_session *s, const int32_t *tokens, int n, bitnet_pooling pooling, float *out) {
    if (!s || !tokens || n < 1 || !out)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_session_embed: NULL session, tokens or out, or n < 1");
    pthread_mutex_lock(&s->lock);
    int rc;
    if (bn_state_n_past(s->state) + n > bn_state_n_ctx(s->state))
        rc = bn_error(BITNET_ERR_CONTEXT_EXCEEDED, "bitnet_session_embed: %lld positions used + %d tokens > context length %lld",
                      (long long)bn_state_n_past(s->state), n, (long long)bn_state_n_ctx(s->state));
    else {
        bn_pooler pool;
        rc = bn_pooler_init(&pool, pooling, s->model->m->hp.n_embd, n, out);
        if (!rc) rc = embed_chunks(s, tokens, n, &pool);
        if (!rc) bn_pooler_finish(&pool);
        else bn_pooler_free(&pool);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
