/* threadpool: a persistent pool of worker threads with cheap fork/join.
 * bn_threadpool_run(pool, fn, ctx) calls fn(ctx, i, n) once for every thread index i in [0, n)
 * (index 0 runs on the calling thread) and returns when all calls have returned. Calls to
 * bn_threadpool_run on one pool must not overlap (one session owns one pool). */
#ifndef BITNET_THREADPOOL_H
#define BITNET_THREADPOOL_H

typedef struct bn_threadpool bn_threadpool;
typedef void (*bn_task_fn)(void *ctx, int thread_index, int n_threads);

/* n_threads >= 1 (the caller counts as one). NULL + bn_error on failure. */
bn_threadpool *bn_threadpool_create(int n_threads);
void bn_threadpool_free(bn_threadpool *pool); /* NULL ok; joins the workers */
int bn_threadpool_size(const bn_threadpool *pool);
/* pool may be NULL: then fn(ctx, 0, 1) runs on the caller. */
void bn_threadpool_run(bn_threadpool *pool, bn_task_fn fn, void *ctx);

/* Splits [0, total) into n nearly equal parts aligned to `align`; part i is [*begin, *end). */
void bn_split_range(long long total, int i, int n, long long align, long long *begin, long long *end);

#endif
