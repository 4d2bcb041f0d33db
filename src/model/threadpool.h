/* threadpool: a persistent pool of worker threads with cheap fork/join.
 * bn_threadpool_run(pool, fn, ctx) calls fn(ctx, i, n) once for every thread index i in [0, n)
 * (index 0 runs on the calling thread) and returns when all calls have returned. Calls to
 * bn_threadpool_run on one pool must not overlap (one session owns one pool). */
#ifndef BITNET_THREADPOOL_H
#define BITNET_THREADPOOL_H

#include <stdatomic.h>

typedef struct bn_threadpool bn_threadpool;
typedef void (*bn_task_fn)(void *ctx, int thread_index, int n_threads);

/* n_threads >= 1 (the caller counts as one). NULL + bn_error on failure. */
bn_threadpool *bn_threadpool_create(int n_threads);
void bn_threadpool_free(bn_threadpool *pool); /* NULL ok; joins the workers */
int bn_threadpool_size(const bn_threadpool *pool);
/* pool may be NULL: then fn(ctx, 0, 1) runs on the caller. */
void bn_threadpool_run(bn_threadpool *pool, bn_task_fn fn, void *ctx);

/* Dynamic work sharing inside one bn_threadpool_run: the task's threads take item indices
 * 0, 1, ... from a shared counter until bn_work_next returns -1, so a thread that lost its
 * CPU for a while (a busy machine) leaves its share to the others instead of making them wait
 * at the join. Items must be independent: which thread computes one must not matter. */
typedef struct bn_work {
    atomic_long next;
    long n;
} bn_work;

static inline void bn_work_init(bn_work *w, long n_items) {
    atomic_init(&w->next, 0);
    w->n = n_items;
}

static inline long bn_work_next(bn_work *w) {
    long i = atomic_fetch_add_explicit(&w->next, 1, memory_order_relaxed);
    return i < w->n ? i : -1;
}

/* Splits [0, total) into n nearly equal parts aligned to `align`; part i is [*begin, *end). */
void bn_split_range(long long total, int i, int n, long long align, long long *begin, long long *end);

#endif
