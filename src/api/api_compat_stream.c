/* api_compat_stream: streams of the compatibility surface. A stream owns a borrowed session
 * and a stepped generation (bn_gen_*): pull style generates on each
 * bitnet_stream_next_token call, push style runs to the end inside bitnet_start_streaming.
 * No background thread: the caller's thread does the work. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_compat.h"
#include "util.h"

typedef struct compat_stream {
    compat_obj obj;
    compat_model *cm;          /* holds a reference */
    pthread_mutex_t lock;      /* serializes the calls on this stream */
    BitNetCStreamConfig sc;
    bitnet_generate_params gp;
    bitnet_session *session;   /* borrowed until the stream finishes */
    bn_gen *gen;               /* NULL once finished */
    compat_text pending;       /* generated text not handed out yet: pending.data[taken, len) */
    size_t taken;
    int error;                 /* the status of a failed step: every later call returns it */
    float *top_logits;         /* [logits_top_k] */
    int32_t *top_ids;
    double busy_seconds;       /* time spent inside this stream's calls */
    bitnet_generate_result res;
} compat_stream;

/* Ends generation: records the metrics, gives the session back. Stream lock held. */
static void finish(compat_stream *st) {
    if (!st->gen) return;
    bn_gen_result(st->gen, &st->res);
    bn_gen_end(st->gen);
    st->gen = NULL;
    bn_compat_return(st->cm, st->session);
    st->session = NULL;
    bn_compat_record(st->cm, &st->res, st->busy_seconds);
}

static void destroy_stream(compat_obj *o) {
    compat_stream *st = (compat_stream *)o;
    finish(st);
    bn_compat_release(&st->cm->obj);
    pthread_mutex_destroy(&st->lock);
    free(st->pending.data);
    free(st->top_logits);
    free(st->top_ids);
    free(st);
}

/* The k largest of logits[n], descending, with their ids (a partial insertion sort: k is
 * small). */
static void top_k(const float *logits, int64_t n, int k, float *vals, int32_t *ids) {
    int have = 0;
    for (int64_t i = 0; i < n; i++) {
        if (have == k && !(logits[i] > vals[k - 1])) continue;
        int j = have < k ? have++ : k - 1;
        while (j > 0 && vals[j - 1] < logits[i]) {
            vals[j] = vals[j - 1];
            ids[j] = ids[j - 1];
            j--;
        }
        vals[j] = logits[i];
        ids[j] = (int32_t)i;
    }
}

static int call_logits_callback(compat_stream *st, int32_t token, size_t text_from) {
    const float *logits = bn_gen_logits(st->gen);
    int64_t n_vocab = bn_gen_n_vocab(st->gen);
    const char *text = st->pending.data ? st->pending.data + text_from : "";
    size_t text_len = st->pending.len - text_from;
    if (!st->top_ids) return st->sc.logits_callback(token, text, text_len, logits, NULL, (int)n_vocab, st->sc.user_data);
    int k = (int64_t)st->sc.logits_top_k < n_vocab ? (int)st->sc.logits_top_k : (int)n_vocab;
    top_k(logits, n_vocab, k, st->top_logits, st->top_ids);
    return st->sc.logits_callback(token, text, text_len, st->top_logits, st->top_ids, k, st->sc.user_data);
}

/* One generation step; returns 0 (going on), 1 (finished) or a negative status. Stream lock
 * held. */
static int step(compat_stream *st) {
    if (st->error) return bn_error(st->error, "the stream failed earlier (%s); stop it", bitnet_status_name(st->error));
    if (!st->gen) return 1;
    size_t before = st->pending.len;
    int32_t token;
    pthread_mutex_lock(&st->session->lock);
    int why = bn_gen_step(st->gen, &token);
    pthread_mutex_unlock(&st->session->lock);
    if (why >= 0 && st->pending.oom) why = bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory buffering stream text");
    if (why < 0) {
        st->error = why;
        finish(st);
        return why;
    }
    if (token >= 0 && st->sc.logits_callback && call_logits_callback(st, token, before)) why = BITNET_STOP_CALLBACK;
    if (why) finish(st);
    return why ? 1 : 0;
}

/* Push style: every piece to the callback, until the end or the callback says stop. */
static int push_all(compat_stream *st) {
    for (;;) {
        int rc = step(st);
        if (rc < 0) return rc;
        if (st->pending.len > st->taken) {
            int stop = st->sc.callback(st->pending.data + st->taken, st->sc.user_data);
            st->taken = st->pending.len = 0; /* handed out: reuse the buffer */
            if (stop) {
                finish(st);
                return 0;
            }
        }
        if (rc) return 0;
    }
}

static int start(compat_stream *st, const char *prompt, const BitNetCInferenceConfig *config) {
    int rc = bn_compat_generate_params(config, &st->gp);
    if (rc) return rc;
    st->gp.on_token = bn_compat_collect_text;
    st->gp.user_data = &st->pending;
    if (st->sc.logits_callback && st->sc.logits_top_k) {
        st->top_logits = bn_malloc(st->sc.logits_top_k * sizeof(float), "top-k logits");
        st->top_ids = bn_malloc(st->sc.logits_top_k * sizeof(int32_t), "top-k ids");
        if (!st->top_logits || !st->top_ids) return BITNET_ERR_OUT_OF_MEMORY;
    }
    int32_t *ids;
    int n = bn_compat_tokenize_prompt(st->cm, prompt, &ids);
    if (n < 0) return n;
    rc = bn_compat_borrow(st->cm, &st->session);
    if (!rc) {
        rc = bn_compat_fit(config, st->session, n, &st->gp);
        pthread_mutex_lock(&st->session->lock);
        if (!rc) rc = bn_gen_begin(st->session, ids, n, &st->gp, st->sc.logits_callback != NULL, &st->gen);
        pthread_mutex_unlock(&st->session->lock);
        if (rc) {
            bn_compat_return(st->cm, st->session);
            st->session = NULL;
        }
    }
    free(ids);
    return rc;
}

static int open_stream_on(compat_model *cm) {
    bn_compat_lock();
    cm->n_streams++;
    bn_compat_unlock();
    return 0;
}

static void close_stream_on(compat_model *cm) {
    bn_compat_lock();
    cm->n_streams--;
    bn_compat_unlock();
}

BITNET_API int bitnet_start_streaming(int model_id, const char *prompt, const BitNetCInferenceConfig *config,
                                      const BitNetCStreamConfig *stream_config) {
    if (!prompt) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_start_streaming: prompt is NULL");
    if (stream_config && stream_config->logits_top_k > (1u << 24))
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_start_streaming: logits_top_k %u is too large", stream_config->logits_top_k);
    compat_model *cm = bn_compat_model(model_id, "bitnet_start_streaming");
    if (!cm) return BITNET_ERR_INVALID_ID;
    compat_stream *st = bn_calloc(1, sizeof *st, "stream");
    if (!st) {
        bn_compat_release(&cm->obj);
        return BITNET_ERR_OUT_OF_MEMORY;
    }
    double t0 = bn_time_now();
    st->obj.kind = COMPAT_STREAM;
    st->obj.destroy = destroy_stream;
    st->cm = cm; /* the stream keeps the reference taken above */
    st->sc = stream_config ? *stream_config : bitnet_stream_config_default();
    pthread_mutex_init(&st->lock, NULL);
    open_stream_on(cm);
    int rc = start(st, prompt, config);
    if (!rc && st->sc.callback) rc = push_all(st);
    st->busy_seconds += bn_time_now() - t0;
    if (!rc) rc = bn_compat_register(&st->obj);
    if (rc < 0) {
        close_stream_on(cm);
        destroy_stream(&st->obj);
    }
    return rc;
}

BITNET_API int bitnet_stream_next_token(int stream_id, char *token, size_t max_len) {
    if (!token || max_len == 0) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_stream_next_token: token is NULL or max_len is 0");
    token[0] = '\0';
    compat_stream *st = (compat_stream *)bn_compat_acquire(stream_id, COMPAT_STREAM, "bitnet_stream_next_token");
    if (!st) return BITNET_ERR_INVALID_ID;
    pthread_mutex_lock(&st->lock);
    double t0 = bn_time_now();
    int rc = 0;
    while (rc == 0 && st->pending.len == st->taken && st->gen) rc = step(st);
    if (rc >= 0) {
        size_t avail = st->pending.len - st->taken;
        size_t k = bn_compat_utf8_prefix(st->pending.data + st->taken, avail, max_len - 1);
        if (avail && !k) {
            rc = bn_error(BITNET_ERR_BUFFER_TOO_SMALL, "bitnet_stream_next_token: the next character needs more than %zu bytes + NUL", max_len - 1);
        } else {
            memcpy(token, st->pending.data + st->taken, k);
            token[k] = '\0';
            st->taken += k;
            if (st->taken == st->pending.len) st->taken = st->pending.len = 0; /* all handed out */
            rc = k > INT_MAX ? INT_MAX : (int)k;
        }
    }
    st->busy_seconds += bn_time_now() - t0;
    pthread_mutex_unlock(&st->lock);
    bn_compat_release(&st->obj);
    return rc;
}

/* Runs under the registry lock as the stream leaves the table: the model can be freed now. */
static int unlink_from_model(compat_obj *o) {
    ((compat_stream *)o)->cm->n_streams--;
    return 0;
}

BITNET_API int bitnet_stop_streaming(int stream_id) {
    return bn_compat_unlink(stream_id, COMPAT_STREAM, "bitnet_stop_streaming", unlink_from_model);
}
