/* metrics: the server's counters and histograms, rendered in the Prometheus text exposition
 * format (GET /metrics).
 *
 * Every value is an atomic: the HTTP threads count requests by endpoint and status, the engine
 * thread counts tokens and observes time-to-first-token and inter-token latency, and the
 * /metrics handler reads them all without a lock (a scrape may see one request's counters
 * half-updated, never torn values). Gauges (active and queued requests, KV cache use) are not
 * stored here: the handler reads them from the engine and passes them to metrics_render().
 *
 * Besides the bitnet_* names, the exposition has llama-server's own (llamacpp:*, with its
 * meanings), so that dashboards, alerts and autoscalers written for llama-server read this
 * server unchanged. Two of those are rates since the previous scrape, as llama-server's are
 * (its "buckets" reset by each /metrics request): the render keeps the last scrape's totals. */
#ifndef BITNET_SERVER_METRICS_H
#define BITNET_SERVER_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bitnet.h"

#define METRICS_MAX_ENDPOINTS 48
#define METRICS_MIN_STATUS 100
#define METRICS_N_STATUS 500          /* statuses 100..599 */
#define METRICS_MAX_BUCKETS 16

/* Seconds in buckets; bucket[n_bounds] counts what is above the last bound. The sum is kept
 * in microseconds. */
typedef struct metrics_histogram {
    const double *bounds;
    int n_bounds;
    atomic_uint_fast64_t bucket[METRICS_MAX_BUCKETS + 1];
    atomic_uint_fast64_t sum_us;
} metrics_histogram;

typedef struct metrics {
    const char *const *endpoints;     /* label of each endpoint index; the last one: anything else */
    int n_endpoints;
    atomic_uint_fast64_t requests[METRICS_MAX_ENDPOINTS][METRICS_N_STATUS];
    atomic_uint_fast64_t prompt_tokens, cached_tokens, generated_tokens;
    atomic_uint_fast64_t drafted_tokens, draft_tokens_taken, draft_passes; /* --lookup, predictions */
    atomic_uint_fast64_t taken_at[BITNET_DRAFT_MAX];           /* draft tokens taken, by position in their draft */
    atomic_int draft_longest;                                  /* the longest draft checked so far (0: none) */
    atomic_uint_fast64_t masks_best, masks_all;                /* constrained draws, by how they were masked */
    atomic_uint_fast64_t prompt_us, decode_us;   /* finished generations' prompt and decode times, summed */
    atomic_uint_fast64_t n_tokens_max;           /* longest prompt + generated of one generation */
    atomic_uint_fast64_t decode_calls, busy_slot_calls; /* forward passes with work, and the busy slots of each summed */
    metrics_histogram ttft, itl;
    pthread_mutex_t scrape_mu;                   /* the last scrape's totals (the rates since then) */
    uint64_t scraped_prompt, scraped_prompt_us, scraped_generated, scraped_decode_us;
} metrics;

/* What the engine says at the time of a scrape. */
typedef struct metrics_gauges {
    int requests_active, requests_queued, slots;
    int64_t kv_positions_used, kv_positions_total;
    uint64_t kv_cache_bytes;
    /* the engine's LM head counters (bitnet_batch_desc): screened rows, their candidate rows,
     * fallbacks to the whole head, rows the plain head computed (all 0 without a screened head) */
    uint64_t head_rows_screened, head_candidate_rows, head_rows_fallback, head_rows_plain;
    /* the prompt cache in host memory (--cache-ram): bytes and prompts held, tokens taken back */
    uint64_t prompt_cache_bytes, prompt_cache_prompts, prompt_cache_tokens_restored;
} metrics_gauges;

/* Monotonic seconds (CLOCK_MONOTONIC), for every timing the server measures. */
double metrics_now(void);

/* endpoints: n labels (at most METRICS_MAX_ENDPOINTS), kept by pointer. */
void metrics_init(metrics *m, const char *const *endpoints, int n);
/* One answered request; an endpoint index out of range counts as the last label. */
void metrics_request(metrics *m, int endpoint, unsigned status);
void metrics_tokens(metrics *m, int n_prompt, int n_cached, int n_generated);
/* A finished generation's prompt and decode times (bitnet_generate_result's) and its length. */
void metrics_times(metrics *m, double prompt_seconds, double decode_seconds, int n_tokens);
/* One forward pass of the engine with n_busy slots running (n_busy > 0). */
void metrics_decode(metrics *m, int n_busy);
/* A finished generation's drafts (--lookup, predictions): tokens drafted and taken, the passes
 * that checked them, and the taken ones by draft position. */
void metrics_lookup(metrics *m, const bitnet_generate_result *r);
/* a finished generation's constrained draws (bitnet_generate_result.n_mask_best / n_mask_all) */
void metrics_constraint(metrics *m, int n_best, int n_all);
void metrics_observe(metrics_histogram *h, double seconds);
/* The whole exposition, malloc'd (NULL when out of memory); *len its length. */
char *metrics_render(metrics *m, const metrics_gauges *g, size_t *len);

#endif
