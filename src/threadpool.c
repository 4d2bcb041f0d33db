/* threadpool: persistent workers woken by a generation counter under a mutex/condvar.
 * Simple and correct first; the speed work may replace the wait with a short spin. */
#include "threadpool.h"

#include <pthread.h>
#include <stdlib.h>

#include "util.h"

struct bn_threadpool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* workers wait here for a new generation */
    pthread_cond_t done;     /* the caller waits here for pending == 0 */
    unsigned long generation;
    int pending;             /* workers still running the current task */
    int stop;
    bn_task_fn fn;
    void *ctx;
};

typedef struct {
    bn_threadpool *pool;
    int index;
} worker_arg;

static void *worker_main(void *p) {
    worker_arg arg = *(worker_arg *)p;
    free(p);
    bn_threadpool *pool = arg.pool;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        while (!pool->stop && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->mu);
        if (pool->stop) {
            pthread_mutex_unlock(&pool->mu);
            return NULL;
        }
        seen = pool->generation;
        bn_task_fn fn = pool->fn;
        void *ctx = pool->ctx;
        pthread_mutex_unlock(&pool->mu);

        fn(ctx, arg.index, pool->n_threads);

        pthread_mutex_lock(&pool->mu);
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
        pthread_mutex_unlock(&pool->mu);
    }
}

bn_threadpool *bn_threadpool_create(int n_threads) {
    if (n_threads < 1 || n_threads > 1024) {
        bn_error(BITNET_ERR_INVALID_ARGUMENT, "thread count %d is outside 1..1024", n_threads);
        return NULL;
    }
    bn_threadpool *pool = bn_calloc(1, sizeof *pool, "thread pool");
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->threads = bn_calloc((size_t)n_threads, sizeof *pool->threads, "thread handles");
    if (!pool->threads) {
        bn_threadpool_free(pool);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (arg) {
            arg->pool = pool;
            arg->index = i;
        }
        if (!arg || pthread_create(&pool->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
            pool->n_threads = i; /* join only the ones started */
            bn_threadpool_free(pool);
            bn_error(BITNET_ERR_INTERNAL, "could not start worker thread %d", i);
            return NULL;
        }
    }
    return pool;
}

void bn_threadpool_free(bn_threadpool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n_threads; i++)
        if (pool->threads) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

int bn_threadpool_size(const bn_threadpool *pool) { return pool ? pool->n_threads : 1; }

void bn_threadpool_run(bn_threadpool *pool, bn_task_fn fn, void *ctx) {
    if (!pool || pool->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->pending = pool->n_threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);

    fn(ctx, 0, pool->n_threads);

    pthread_mutex_lock(&pool->mu);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}

void bn_split_range(long long total, int i, int n, long long align, long long *begin, long long *end) {
    if (align < 1) align = 1;
    long long units = (total + align - 1) / align;
    long long b = units * i / n * align, e = units * (i + 1) / n * align;
    *begin = b < total ? b : total;
    *end = e < total ? e : total;
}
