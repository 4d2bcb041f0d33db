/* threadpool: persistent workers with a spin-then-sleep fork/join.
 *
 * A fork publishes (fn, ctx) and bumps `generation`; workers that are spinning see it within
 * a few hundred nanoseconds, workers that went to sleep (after SPIN_ROUNDS idle polls) are
 * woken through the condition variable. A join spins on `pending` (then yields). The decode
 * step forks ~150 times per token, so a condvar round trip each time (tens of microseconds)
 * was a visible share of a 2-core token; spinning makes it ~1 us.
 *
 * No lost wake-up: a worker announces itself in `sleepers` (seq_cst) and re-checks
 * `generation` under the mutex before waiting; the forker bumps `generation` (seq_cst) and
 * then reads `sleepers`. One of the two sees the other's store, and the broadcast is sent
 * under the mutex, which the worker holds from its re-check until it waits. */
#include "model/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "util.h"

#define SPIN_ROUNDS (1 << 12)   /* polls before sleeping (workers) or yielding (the joiner): a pause is
                                 * ~40-140 cycles, so ~0.1-0.3 ms; longer spins only burn a core that
                                 * another process (or our other thread) could use on a busy machine */

struct bn_threadpool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;           /* sleeping workers wait here for a new generation */
    atomic_ulong generation;
    atomic_int pending;            /* workers still running the current task */
    atomic_int sleepers;           /* workers inside the sleep path */
    atomic_int stop;
    bn_task_fn fn;                 /* published before the generation bump (release) */
    void *ctx;
};

typedef struct {
    bn_threadpool *pool;
    int index;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield"); /* the spin-wait hint of ARMv8 */
#endif
}

/* Waits until generation != seen (or stop); returns the new generation. */
static unsigned long wait_generation(bn_threadpool *pool, unsigned long seen) {
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        unsigned long g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&pool->stop, memory_order_relaxed)) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&pool->mu);
    atomic_fetch_add(&pool->sleepers, 1);
    unsigned long g;
    while ((g = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stop)) pthread_cond_wait(&pool->wake, &pool->mu);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mu);
    return g;
}

static void *worker_main(void *p) {
    worker_arg arg = *(worker_arg *)p;
    free(p);
    bn_threadpool *pool = arg.pool;
    unsigned long seen = 0;
    for (;;) {
        seen = wait_generation(pool, seen);
        if (atomic_load(&pool->stop)) return NULL;
        pool->fn(pool->ctx, arg.index, pool->n_threads);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
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
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->stop, 0);
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
    atomic_store(&pool->stop, 1);
    atomic_fetch_add(&pool->generation, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->n_threads; i++)
        if (pool->threads) pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->wake);
    free(pool->threads);
    free(pool);
}

int bn_threadpool_size(const bn_threadpool *pool) { return pool ? pool->n_threads : 1; }

void bn_threadpool_run(bn_threadpool *pool, bn_task_fn fn, void *ctx) {
    if (!pool || pool->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store_explicit(&pool->pending, pool->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add(&pool->generation, 1); /* seq_cst: publishes fn/ctx/pending, orders vs sleepers */
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mu);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mu);
    }

    fn(ctx, 0, pool->n_threads);

    for (long spins = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) > 0; spins++) {
        if (spins < SPIN_ROUNDS) cpu_relax();
        else sched_yield(); /* a worker lost its CPU (machine busy): let it run */
    }
}

void bn_split_range(long long total, int i, int n, long long align, long long *begin, long long *end) {
    if (align < 1) align = 1;
    long long units = (total + align - 1) / align;
    long long b = units * i / n * align, e = units * (i + 1) / n * align;
    *begin = b < total ? b : total;
    *end = e < total ? e : total;
}
