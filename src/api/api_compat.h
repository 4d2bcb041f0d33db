/* api_compat: internals of the id-based compatibility surface (BitNet-rs's C API names) built
 * on the core API: the id registry, the per-model record (session pool, metrics, memory) and
 * helpers shared by api_compat.c, api_compat_infer.c and api_compat_stream.c.
 *
 * The registry is the library's one piece of process-wide state besides the thread-local
 * last error: ids must name objects across calls and threads, so it cannot live elsewhere.
 * It is a mutex-protected table; ids come from a counter and are never reused. */
#ifndef BITNET_API_COMPAT_H
#define BITNET_API_COMPAT_H

#include <pthread.h>
#include <stdbool.h>

#include "api/api_internal.h"

typedef enum { COMPAT_MODEL = 1, COMPAT_STREAM = 2 } compat_kind;

/* Common head of registered objects. refs: the table's reference plus one per call in
 * flight; the object is destroyed when the last reference goes (both under the registry
 * lock). */
typedef struct compat_obj {
    compat_kind kind;
    int id;
    int refs;
    void (*destroy)(struct compat_obj *o);
} compat_obj;

typedef struct compat_metrics {
    uint64_t n_calls, prompt_tokens, generated_tokens;
    double wall_seconds, decode_seconds, ttft_seconds;
} compat_metrics;

typedef struct compat_model {
    compat_obj obj;
    bitnet_model *model;
    char name[128], version[64];
    uint64_t file_size, weight_bytes;
    int64_t n_ctx;             /* session context; 0: the model's default */
    int n_threads, n_batch;    /* 0: the global setting / default */
    uint64_t memory_limit;     /* 0: none */
    int n_streams;             /* open streams (registry lock) */
    pthread_mutex_t lock;      /* guards what follows */
    bitnet_session **idle;     /* sessions ready for reuse (reset) */
    int n_idle;
    uint64_t session_bytes;    /* KV + scratch of all live sessions of this model */
    compat_metrics metrics;
} compat_model;

/* Registry. register: stores o (refs = 1) and returns its new id, or a negative status. */
int bn_compat_register(compat_obj *o);
/* The object of `id` with one more reference, or NULL (BITNET_ERR_INVALID_ID set). */
compat_obj *bn_compat_acquire(int id, compat_kind kind, const char *fn);
void bn_compat_release(compat_obj *o);
/* Takes id out of the table (the id is dead from now on) unless veto(o) (called under the
 * lock) returns a non-zero status; then drops the table's reference. Returns 0 or a status. */
int bn_compat_unlink(int id, compat_kind kind, const char *fn, int (*veto)(compat_obj *o));
void bn_compat_lock(void);
void bn_compat_unlock(void);

compat_model *bn_compat_model(int id, const char *fn); /* acquire as a model */

/* Session pool: a reset session of the model for one call (created when none is idle). */
int bn_compat_borrow(compat_model *cm, bitnet_session **out);
void bn_compat_return(compat_model *cm, bitnet_session *s);
void bn_compat_record(compat_model *cm, const bitnet_generate_result *r, double wall_seconds);

/* Generation options from a config (NULL: defaults). */
int bn_compat_generate_params(const BitNetCInferenceConfig *c, bitnet_generate_params *out);
/* Caps gp->max_tokens by config->max_length and the session's context for a prompt of
 * n_prompt tokens; BITNET_ERR_CONTEXT_EXCEEDED when the prompt leaves no room. */
int bn_compat_fit(const BitNetCInferenceConfig *c, bitnet_session *s, int n_prompt, bitnet_generate_params *gp);
/* Tokenizes a prompt into a malloc'ed array; returns the count (>= 1) or a status. */
int bn_compat_tokenize_prompt(compat_model *cm, const char *prompt, int32_t **out);

/* A growable byte buffer (used as the on_token sink). limit: 0 for none; else the sink
 * stops generation (bn_compat_collect_text returns non-zero) once len >= limit, i.e. as soon
 * as the text no longer fits an output buffer of `limit` bytes (NUL included). */
typedef struct compat_text {
    char *data;
    size_t len, cap;
    size_t limit;
    bool oom;
} compat_text;
bool bn_compat_text_append(compat_text *t, const char *bytes, size_t n);
int bn_compat_collect_text(int32_t token, const char *text, size_t len, void *user_data);

/* Copies n bytes of src into dst[cap] NUL-terminated and returns the bytes written. When they
 * do not fit it writes the longest prefix that ends on a UTF-8 character boundary, still
 * returns its length (a success, as BitNet-rs does) and leaves the note "<what>: output
 * truncated to K bytes ..." as the thread's last error (status BITNET_ERR_BUFFER_TOO_SMALL,
 * see bn_compat_truncated); when they fit it clears the last error. */
int bn_compat_copy_text(const char *src, size_t n, char *dst, size_t cap, const char *what);
/* Whether the last bn_compat_copy_text on this thread cut its text (the note above). */
bool bn_compat_truncated(void);
/* Length of the longest prefix of src[0, n) of at most max bytes that ends on a character
 * boundary. */
size_t bn_compat_utf8_prefix(const char *src, size_t n, size_t max);

#endif
