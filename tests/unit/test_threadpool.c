/* test_threadpool: bn_threadpool_run calls every index exactly once per run, over many runs
 * and pool sizes, bn_work hands out every item exactly once, and bn_split_range tiles
 * [0, total) exactly. TSAN_RELEVANT: the runner also
 * runs the ThreadSanitizer build of this program. */
#include <stdatomic.h>

#include "test.h"
#include "model/threadpool.h"

typedef struct run_ctx {
    int hits[16];            /* each index writes only its own slot */
    atomic_int calls;
    int n_seen[16];
    long long sum[16];
} run_ctx;

static void count_task(void *p, int i, int n) {
    run_ctx *c = p;
    c->hits[i]++;
    c->n_seen[i] = n;
    atomic_fetch_add(&c->calls, 1);
    long long b, e;
    bn_split_range(1000, i, n, 16, &b, &e);
    for (long long k = b; k < e; k++) c->sum[i] += k;
}

TEST(run_calls_each_index_once) {
    const int sizes[] = {1, 2, 3, 5};
    for (size_t si = 0; si < 4; si++) {
        int n = sizes[si];
        bn_threadpool *pool = bn_threadpool_create(n);
        CHECK(pool != NULL);
        if (!pool) continue;
        CHECK_EQ_INT(bn_threadpool_size(pool), n);
        run_ctx c;
        memset(&c, 0, sizeof c);
        atomic_init(&c.calls, 0);
        const int reps = 2000;
        for (int r = 0; r < reps; r++) bn_threadpool_run(pool, count_task, &c);
        CHECK_EQ_INT(atomic_load(&c.calls), reps * n);
        long long total = 0;
        for (int i = 0; i < n; i++) {
            CHECK_EQ_INT(c.hits[i], reps);
            CHECK_EQ_INT(c.n_seen[i], n);
            total += c.sum[i];
        }
        CHECK_EQ_INT(total, (long long)reps * (999LL * 1000 / 2));
        bn_threadpool_free(pool);
    }
}

TEST(null_pool_runs_inline) {
    run_ctx c;
    memset(&c, 0, sizeof c);
    atomic_init(&c.calls, 0);
    bn_threadpool_run(NULL, count_task, &c);
    CHECK_EQ_INT(c.hits[0], 1);
    CHECK_EQ_INT(c.n_seen[0], 1);
    CHECK_EQ_INT(bn_threadpool_size(NULL), 1);
    bn_threadpool_free(NULL);
    CHECK(bn_threadpool_create(0) == NULL);
}

/* bn_work: over a run, the threads together take every item exactly once (each item's slot
 * is written by the one thread that took it), then get -1. */
typedef struct work_ctx {
    bn_work work;
    int taken[997];
    atomic_int done;
} work_ctx;

static void work_task(void *p, int i, int n) {
    work_ctx *c = p;
    (void)i, (void)n;
    for (long w; (w = bn_work_next(&c->work)) >= 0;) c->taken[w]++;
    CHECK(bn_work_next(&c->work) == -1);
    atomic_fetch_add(&c->done, 1);
}

TEST(work_items_taken_once) {
    const int sizes[] = {1, 2, 3};
    const long items[] = {0, 1, 5, 997};
    for (size_t si = 0; si < 3; si++) {
        bn_threadpool *pool = bn_threadpool_create(sizes[si]);
        CHECK(pool != NULL);
        for (size_t ii = 0; pool && ii < 4; ii++)
            for (int rep = 0; rep < 200; rep++) {
                work_ctx c;
                memset(&c, 0, sizeof c);
                atomic_init(&c.done, 0);
                bn_work_init(&c.work, items[ii]);
                bn_threadpool_run(pool, work_task, &c);
                CHECK_EQ_INT(atomic_load(&c.done), sizes[si]);
                for (long k = 0; k < 997; k++) CHECK_EQ_INT(c.taken[k], k < items[ii] ? 1 : 0);
            }
        bn_threadpool_free(pool);
    }
}

TEST(split_range_tiles_exactly) {
    const long long totals[] = {0, 1, 15, 16, 17, 1000, 6912, 128256};
    for (size_t ti = 0; ti < 8; ti++)
        for (int n = 1; n <= 7; n++)
            for (long long align = 1; align <= 64; align *= 4) {
                long long expect = 0;
                for (int i = 0; i < n; i++) {
                    long long b, e;
                    bn_split_range(totals[ti], i, n, align, &b, &e);
                    CHECK(b == expect && e >= b && e <= totals[ti]);
                    if (e < totals[ti]) CHECK(e % align == 0);
                    expect = e;
                }
                CHECK_EQ_INT(expect, totals[ti]);
            }
}

TEST_MAIN_BEGIN("test_threadpool")
RUN(run_calls_each_index_once);
RUN(null_pool_runs_inline);
RUN(work_items_taken_once);
RUN(split_range_tiles_exactly);
TEST_MAIN_END()
