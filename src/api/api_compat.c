/* api_compat: the compatibility surface's registry, models, metrics, devices and threads
 * (see api_compat.h; inference lives in api_compat_infer.c, streams in api_compat_stream.c).
 * Every entry point validates its arguments, never crashes on a bad id, and reports failures
 * through the thread-local last error. */
#include "api/api_compat.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/cpu.h"
#include "util.h"

/* ---- registry ---- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static compat_obj **g_objs;      /* live objects, unordered */
static int g_n_objs, g_cap_objs;
static int g_next_id = 1;        /* never reused: a freed id stays invalid */
static atomic_uint g_threads;    /* bitnet_set_num_threads; 0: all online CPUs */

void bn_compat_lock(void) { pthread_mutex_lock(&g_lock); }
void bn_compat_unlock(void) { pthread_mutex_unlock(&g_lock); }

int bn_compat_register(compat_obj *o) {
    int rc = 0;
    pthread_mutex_lock(&g_lock);
    if (g_next_id == INT_MAX) {
        rc = bn_error(BITNET_ERR_INTERNAL, "all ids of this process have been used");
    } else if (g_n_objs == g_cap_objs) {
        int cap = g_cap_objs ? 2 * g_cap_objs : 16;
        compat_obj **grown = realloc(g_objs, (size_t)cap * sizeof *grown);
        if (!grown) rc = bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory growing the id table");
        else g_objs = grown, g_cap_objs = cap;
    }
    if (!rc) {
        o->id = g_next_id++;
        o->refs = 1;
        g_objs[g_n_objs++] = o;
        rc = o->id;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static const char *kind_name(compat_kind k) { return k == COMPAT_MODEL ? "model" : "stream"; }

/* Index of id in the table, or -1 (with the error set). Registry lock held. */
static int find_locked(int id, compat_kind kind, const char *fn) {
    for (int i = 0; i < g_n_objs; i++)
        if (g_objs[i]->id == id) {
            if (g_objs[i]->kind == kind) return i;
            bn_error(BITNET_ERR_INVALID_ID, "%s: id %d is a %s, not a %s", fn, id, kind_name(g_objs[i]->kind), kind_name(kind));
            return -1;
        }
    if (id > 0 && id < g_next_id)
        bn_error(BITNET_ERR_INVALID_ID, "%s: %s id %d was already freed", fn, kind_name(kind), id);
    else
        bn_error(BITNET_ERR_INVALID_ID, "%s: no %s has id %d", fn, kind_name(kind), id);
    return -1;
}

compat_obj *bn_compat_acquire(int id, compat_kind kind, const char *fn) {
    pthread_mutex_lock(&g_lock);
    int i = find_locked(id, kind, fn);
    compat_obj *o = i >= 0 ? g_objs[i] : NULL;
    if (o) o->refs++;
    pthread_mutex_unlock(&g_lock);
    return o;
}

void bn_compat_release(compat_obj *o) {
    if (!o) return;
    pthread_mutex_lock(&g_lock);
    bool last = --o->refs == 0;
    pthread_mutex_unlock(&g_lock);
    if (last) o->destroy(o);
}

int bn_compat_unlink(int id, compat_kind kind, const char *fn, int (*veto)(compat_obj *o)) {
    pthread_mutex_lock(&g_lock);
    int i = find_locked(id, kind, fn);
    int rc = i < 0 ? BITNET_ERR_INVALID_ID : veto ? veto(g_objs[i]) : 0;
    compat_obj *o = NULL;
    if (!rc) {
        o = g_objs[i];
        g_objs[i] = g_objs[--g_n_objs];
    }
    pthread_mutex_unlock(&g_lock);
    bn_compat_release(o);
    return rc;
}

compat_model *bn_compat_model(int id, const char *fn) {
    return (compat_model *)bn_compat_acquire(id, COMPAT_MODEL, fn);
}

/* ---- defaults ---- */

BITNET_API BitNetCConfig bitnet_config_default(void) {
    BitNetCConfig c;
    memset(&c, 0, sizeof c);
    c.batch_size = 1;
    return c;
}

BITNET_API BitNetCInferenceConfig bitnet_inference_config_default(void) {
    BitNetCInferenceConfig c;
    memset(&c, 0, sizeof c);
    c.max_length = 2048;
    c.max_new_tokens = 512;
    c.temperature = 1.0f;
    c.top_k = 50;
    c.top_p = 0.9f;
    c.repetition_penalty = 1.1f;
    c.do_sample = 1;
    c.stream_buffer_size = 64;
    return c;
}

BITNET_API BitNetCStreamConfig bitnet_stream_config_default(void) {
    BitNetCStreamConfig c;
    memset(&c, 0, sizeof c);
    c.buffer_size = 64;
    c.yield_interval = 1;
    c.enable_backpressure = 1;
    c.timeout_ms = 5000;
    return c;
}

/* ---- models ---- */

static void destroy_model(compat_obj *o) {
    compat_model *cm = (compat_model *)o;
    for (int i = 0; i < cm->n_idle; i++) bitnet_session_free(cm->idle[i]);
    free(cm->idle);
    /* Every session is back by now: calls and streams hold references until they return
     * theirs, so the close cannot be refused. */
    bitnet_model_close(cm->model);
    pthread_mutex_destroy(&cm->lock);
    free(cm);
}

/* A non-zero shape field must match the file: a config meant for another model is caught. */
static int check_shape(const BitNetCConfig *c, const bitnet_model_desc *d) {
    struct { const char *name; uint32_t want; int64_t have; } f[] = {
        {"vocab_size", c->vocab_size, d->n_vocab},   {"hidden_size", c->hidden_size, d->n_embd},
        {"num_layers", c->num_layers, d->n_layer},   {"num_heads", c->num_heads, d->n_head},
        {"intermediate_size", c->intermediate_size, d->n_ff},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].want && f[i].want != f[i].have)
            return bn_error(BITNET_ERR_INVALID_ARGUMENT, "BitNetCConfig.%s is %u but the model has %lld", f[i].name, f[i].want,
                            (long long)f[i].have);
    return 0;
}

static int check_config(const BitNetCConfig *c) {
    if (c->model_format != BITNET_FORMAT_GGUF)
        return bn_error(BITNET_ERR_UNSUPPORTED, "BitNetCConfig.model_format %u: only GGUF (0) is supported", c->model_format);
    if (c->use_gpu) return bn_error(BITNET_ERR_UNSUPPORTED, "BitNetCConfig.use_gpu: this build has no GPU backend");
    if (c->num_threads > 1024) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "BitNetCConfig.num_threads %u > 1024", c->num_threads);
    if (c->batch_size > 65536) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "BitNetCConfig.batch_size %u > 65536", c->batch_size);
    return 0;
}

static void meta_or(const bitnet_model *m, const char *key, char *buf, size_t cap, const char *fallback) {
    if (bitnet_model_meta_str(m, key, buf, cap) < 0) snprintf(buf, cap, "%s", fallback);
    bitnet_clear_last_error();
}

static int fill_model(compat_model *cm, const char *path, const BitNetCConfig *c) {
    bitnet_model_desc d = {.struct_size = sizeof d};
    int rc = bitnet_model_describe(cm->model, &d);
    if (!rc) rc = check_shape(c, &d);
    if (rc) return rc;
    const char *base = strrchr(path, '/');
    meta_or(cm->model, "general.name", cm->name, sizeof cm->name, base ? base + 1 : path);
    meta_or(cm->model, "general.version", cm->version, sizeof cm->version, "");
    struct stat st;
    cm->file_size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    cm->weight_bytes = d.weight_bytes;
    if (c->max_position_embeddings) cm->n_ctx = c->max_position_embeddings;
    cm->n_threads = (int)c->num_threads;
    cm->n_batch = c->batch_size > 1 ? (int)c->batch_size : 0;
    cm->memory_limit = c->memory_limit;
    if (cm->memory_limit && cm->weight_bytes > cm->memory_limit)
        return bn_error(BITNET_ERR_OUT_OF_MEMORY, "the model's weights take %llu bytes, over memory_limit %llu",
                        (unsigned long long)cm->weight_bytes, (unsigned long long)cm->memory_limit);
    return 0;
}

BITNET_API int bitnet_model_load_with_config(const char *path, const BitNetCConfig *config) {
    if (!path) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_load: path is NULL");
    BitNetCConfig defaults = bitnet_config_default();
    const BitNetCConfig *c = config ? config : &defaults;
    int rc = check_config(c);
    if (rc) return rc;
    compat_model *cm = bn_calloc(1, sizeof *cm, "model record");
    if (!cm) return BITNET_ERR_OUT_OF_MEMORY;
    cm->obj.kind = COMPAT_MODEL;
    cm->obj.destroy = destroy_model;
    pthread_mutex_init(&cm->lock, NULL);
    rc = bitnet_model_open(path, NULL, &cm->model);
    if (!rc) rc = fill_model(cm, path, c);
    if (!rc) rc = bn_compat_register(&cm->obj);
    if (rc < 0) destroy_model(&cm->obj);
    return rc;
}

BITNET_API int bitnet_model_load(const char *path) { return bitnet_model_load_with_config(path, NULL); }

static int veto_open_streams(compat_obj *o) {
    compat_model *cm = (compat_model *)o;
    if (cm->n_streams > 0)
        return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_free: model %d has %d open stream(s); stop them first (nothing freed)",
                        o->id, cm->n_streams);
    return 0;
}

BITNET_API int bitnet_model_free(int model_id) {
    return bn_compat_unlink(model_id, COMPAT_MODEL, "bitnet_model_free", veto_open_streams);
}

BITNET_API int bitnet_model_is_loaded(int model_id) {
    compat_model *cm = bn_compat_model(model_id, "bitnet_model_is_loaded");
    if (!cm) {
        bitnet_clear_last_error(); /* "not loaded" is an answer, not a failure */
        return 0;
    }
    bn_compat_release(&cm->obj);
    return 1;
}

static uint64_t memory_bytes(compat_model *cm) {
    pthread_mutex_lock(&cm->lock);
    uint64_t b = cm->weight_bytes + cm->session_bytes;
    pthread_mutex_unlock(&cm->lock);
    return b;
}

static uint32_t clamp_u32(int64_t v) { return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; }

static uint32_t quant_code(const char *weight_type) {
    if (!strcmp(weight_type, "i2_s")) return BITNET_QUANT_I2S;
    if (!strcmp(weight_type, "tl1")) return BITNET_QUANT_TL1;
    if (!strcmp(weight_type, "tl2")) return BITNET_QUANT_TL2;
    return BITNET_QUANT_OTHER;
}

BITNET_API int bitnet_model_get_info(int model_id, BitNetCModel *info) {
    if (!info) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_model_get_info: info is NULL");
    compat_model *cm = bn_compat_model(model_id, "bitnet_model_get_info");
    if (!cm) return BITNET_ERR_INVALID_ID;
    bitnet_model_desc d = {.struct_size = sizeof d};
    int rc = bitnet_model_describe(cm->model, &d);
    if (!rc) {
        memset(info, 0, sizeof *info);
        info->name = cm->name;
        info->version = cm->version;
        info->architecture = cm->model->m->hp.arch;
        info->vocab_size = clamp_u32(d.n_vocab);
        info->context_length = clamp_u32(d.n_ctx_train);
        info->hidden_size = clamp_u32(d.n_embd);
        info->num_layers = clamp_u32(d.n_layer);
        info->num_heads = clamp_u32(d.n_head);
        info->intermediate_size = clamp_u32(d.n_ff);
        info->quantization_type = quant_code(d.weight_type);
        info->file_size = cm->file_size;
        info->memory_usage = memory_bytes(cm);
    }
    bn_compat_release(&cm->obj);
    return rc;
}

BITNET_API int bitnet_model_n_vocab(int model_id) {
    compat_model *cm = bn_compat_model(model_id, "bitnet_model_n_vocab");
    if (!cm) return BITNET_ERR_INVALID_ID;
    int64_t n = cm->model->m->hp.n_vocab;
    bn_compat_release(&cm->obj);
    return n > INT_MAX ? bn_error(BITNET_ERR_UNSUPPORTED, "vocabulary too large") : (int)n;
}

/* ---- session pool ---- */

enum { MAX_IDLE_SESSIONS = 4 };

static int resolved_threads(const compat_model *cm) {
    if (cm->n_threads) return cm->n_threads;
    unsigned t = atomic_load(&g_threads);
    return t ? (int)t : bn_cpu_count();
}

static uint64_t session_bytes(const bitnet_session *s) {
    bitnet_session_desc d = {.struct_size = sizeof d};
    return bitnet_session_describe(s, &d) == 0 ? d.kv_cache_bytes + d.scratch_bytes : 0;
}

static void drop_session(compat_model *cm, bitnet_session *s) {
    uint64_t b = session_bytes(s);
    bitnet_session_free(s);
    pthread_mutex_lock(&cm->lock);
    cm->session_bytes -= b;
    pthread_mutex_unlock(&cm->lock);
}

static int create_session(compat_model *cm, int n_threads, bitnet_session **out) {
    bitnet_session_params sp = bitnet_session_default_params();
    sp.n_ctx = cm->n_ctx;
    sp.n_threads = n_threads;
    sp.n_batch = cm->n_batch;
    int rc = bitnet_session_create(cm->model, &sp, out);
    if (rc) return rc;
    uint64_t b = session_bytes(*out);
    pthread_mutex_lock(&cm->lock);
    uint64_t total = cm->weight_bytes + cm->session_bytes + b;
    bool over = cm->memory_limit && total > cm->memory_limit;
    if (!over) cm->session_bytes += b;
    pthread_mutex_unlock(&cm->lock);
    if (over) {
        bitnet_session_free(*out);
        *out = NULL;
        return bn_error(BITNET_ERR_OUT_OF_MEMORY, "a new session (%llu bytes of KV cache and scratch) would take the model to %llu bytes, over memory_limit %llu",
                        (unsigned long long)b, (unsigned long long)total, (unsigned long long)cm->memory_limit);
    }
    return 0;
}

int bn_compat_borrow(compat_model *cm, bitnet_session **out) {
    int n_threads = resolved_threads(cm);
    for (;;) {
        bitnet_session *s = NULL;
        pthread_mutex_lock(&cm->lock);
        if (cm->n_idle) s = cm->idle[--cm->n_idle];
        pthread_mutex_unlock(&cm->lock);
        if (!s) return create_session(cm, n_threads, out);
        bitnet_session_desc d = {.struct_size = sizeof d};
        if (bitnet_session_describe(s, &d) == 0 && d.n_threads == n_threads) {
            *out = s;
            return 0;
        }
        drop_session(cm, s); /* made before bitnet_set_num_threads changed the count */
    }
}

void bn_compat_return(compat_model *cm, bitnet_session *s) {
    if (!s) return;
    bitnet_session_reset(s);
    pthread_mutex_lock(&cm->lock);
    if (!cm->idle) cm->idle = calloc(MAX_IDLE_SESSIONS, sizeof *cm->idle);
    bool kept = cm->idle && cm->n_idle < MAX_IDLE_SESSIONS;
    if (kept) cm->idle[cm->n_idle++] = s;
    pthread_mutex_unlock(&cm->lock);
    if (!kept) drop_session(cm, s);
}

/* ---- metrics ---- */

void bn_compat_record(compat_model *cm, const bitnet_generate_result *r, double wall_seconds) {
    pthread_mutex_lock(&cm->lock);
    compat_metrics *m = &cm->metrics;
    m->n_calls++;
    m->prompt_tokens += (uint64_t)r->n_prompt;
    m->generated_tokens += (uint64_t)r->n_generated;
    m->wall_seconds += wall_seconds;
    m->decode_seconds += r->decode_seconds;
    m->ttft_seconds += r->time_to_first_token_seconds;
    pthread_mutex_unlock(&cm->lock);
}

BITNET_API int bitnet_get_performance_metrics(int model_id, BitNetCPerformanceMetrics *out) {
    if (!out) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_get_performance_metrics: metrics is NULL");
    compat_model *cm = bn_compat_model(model_id, "bitnet_get_performance_metrics");
    if (!cm) return BITNET_ERR_INVALID_ID;
    pthread_mutex_lock(&cm->lock);
    compat_metrics m = cm->metrics;
    uint64_t mem = cm->weight_bytes + cm->session_bytes;
    pthread_mutex_unlock(&cm->lock);
    memset(out, 0, sizeof *out);
    out->tokens_per_second = m.decode_seconds > 0 ? (float)(m.generated_tokens / m.decode_seconds) : 0.0f;
    out->latency_ms = m.n_calls ? (float)(1e3 * m.wall_seconds / (double)m.n_calls) : 0.0f;
    out->memory_usage_mb = (float)((double)mem / (1024.0 * 1024.0));
    out->gpu_utilization = -1.0f;
    out->total_inference_time_ms = (float)(1e3 * m.wall_seconds);
    out->time_to_first_token_ms = m.n_calls ? (float)(1e3 * m.ttft_seconds / (double)m.n_calls) : 0.0f;
    out->tokens_generated = clamp_u32((int64_t)m.generated_tokens);
    out->prompt_tokens = clamp_u32((int64_t)m.prompt_tokens);
    bn_compat_release(&cm->obj);
    return 0;
}

BITNET_API int bitnet_reset_performance_metrics(int model_id) {
    compat_model *cm = bn_compat_model(model_id, "bitnet_reset_performance_metrics");
    if (!cm) return BITNET_ERR_INVALID_ID;
    pthread_mutex_lock(&cm->lock);
    memset(&cm->metrics, 0, sizeof cm->metrics);
    pthread_mutex_unlock(&cm->lock);
    bn_compat_release(&cm->obj);
    return 0;
}

/* ---- devices and threads ---- */

BITNET_API int bitnet_is_gpu_available(void) { return 0; }

BITNET_API int bitnet_set_gpu_enabled(int enable) {
    if (enable) return bn_error(BITNET_ERR_UNSUPPORTED, "bitnet_set_gpu_enabled: this build has no GPU backend; inference runs on the CPU");
    return 0;
}

BITNET_API int bitnet_switch_model_backend(int model_id, uint32_t backend_preference) {
    compat_model *cm = bn_compat_model(model_id, "bitnet_switch_model_backend");
    if (!cm) return BITNET_ERR_INVALID_ID;
    bn_compat_release(&cm->obj);
    if (backend_preference == BITNET_BACKEND_AUTO || backend_preference == BITNET_BACKEND_CPU) return 0;
    if (backend_preference == BITNET_BACKEND_GPU)
        return bn_error(BITNET_ERR_UNSUPPORTED, "bitnet_switch_model_backend: this build has no GPU backend; the model stays on the CPU");
    return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_switch_model_backend: unknown backend %u (0 auto, 1 cpu, 2 gpu)", backend_preference);
}

BITNET_API int bitnet_set_num_threads(uint32_t num_threads) {
    if (num_threads > 1024) return bn_error(BITNET_ERR_INVALID_ARGUMENT, "bitnet_set_num_threads: %u > 1024", num_threads);
    atomic_store(&g_threads, num_threads);
    return 0;
}

BITNET_API uint32_t bitnet_get_num_threads(void) {
    unsigned t = atomic_load(&g_threads);
    return t ? t : (uint32_t)bn_cpu_count();
}

/* ---- text helpers ---- */

bool bn_compat_text_append(compat_text *t, const char *bytes, size_t n) {
    if (t->oom) return false;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        char *grown = realloc(t->data, cap);
        if (!grown) {
            t->oom = true;
            return false;
        }
        t->data = grown, t->cap = cap;
    }
    memcpy(t->data + t->len, bytes, n);
    t->len += n;
    t->data[t->len] = '\0';
    return true;
}

int bn_compat_collect_text(int32_t token, const char *text, size_t len, void *user_data) {
    compat_text *t = user_data;
    if (!bn_compat_text_append(t, text, len)) return 1; /* out of memory: stop generating */
    return t->limit && t->len >= t->limit;              /* the output buffer is full: stop */
}

size_t bn_compat_utf8_prefix(const char *src, size_t n, size_t max) {
    if (n <= max) return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)src[k] & 0xC0) == 0x80) k--; /* src[k] continues a character */
    return k;
}

int bn_compat_copy_text(const char *src, size_t n, char *dst, size_t cap, const char *what) {
    size_t k = bn_compat_utf8_prefix(src, n, cap - 1);
    memcpy(dst, src, k);
    dst[k] = '\0';
    if (k < n)
        bn_error(BITNET_ERR_BUFFER_TOO_SMALL, "%s: output truncated to %zu bytes to fit max_len %zu (a success: the text did not fit, so it stopped there)",
                 what, k, cap);
    else bitnet_clear_last_error();
    return k > INT_MAX ? INT_MAX : (int)k;
}

bool bn_compat_truncated(void) { return bn_last_error_status() == BITNET_ERR_BUFFER_TOO_SMALL; }
