/* metrics: counters, histograms and their Prometheus text rendering (see metrics.h). */
#include "metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Time to first token: from the request's arrival (queue wait included) to its first token. */
static const double ttft_bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
/* Inter-token latency: between two tokens of one request (one batch step). */
static const double itl_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5};

#define COUNT(a) ((int)(sizeof a / sizeof a[0]))

double metrics_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void metrics_init(metrics *m, const char *const *endpoints, int n) {
    m->endpoints = endpoints;
    m->n_endpoints = n > METRICS_MAX_ENDPOINTS ? METRICS_MAX_ENDPOINTS : n;
    m->ttft.bounds = ttft_bounds;
    m->ttft.n_bounds = COUNT(ttft_bounds);
    m->itl.bounds = itl_bounds;
    m->itl.n_bounds = COUNT(itl_bounds);
    pthread_mutex_init(&m->scrape_mu, NULL);
}

/* A count from the engine's int fields, negative ones (never expected) as 0. */
static uint64_t count_of(int n) { return n > 0 ? (uint64_t)n : 0; }

static void add(atomic_uint_fast64_t *v, uint64_t n) { atomic_fetch_add_explicit(v, n, memory_order_relaxed); }
static uint64_t get(atomic_uint_fast64_t *v) { return atomic_load_explicit(v, memory_order_relaxed); }

void metrics_request(metrics *m, int endpoint, unsigned status) {
    if (m->n_endpoints < 1) return;
    if (endpoint < 0 || endpoint >= m->n_endpoints) endpoint = m->n_endpoints - 1;
    if (status < METRICS_MIN_STATUS || status >= METRICS_MIN_STATUS + METRICS_N_STATUS) status = 500;
    add(&m->requests[endpoint][status - METRICS_MIN_STATUS], 1);
}

void metrics_tokens(metrics *m, int n_prompt, int n_cached, int n_generated) {
    add(&m->prompt_tokens, count_of(n_prompt));
    add(&m->cached_tokens, count_of(n_cached));
    add(&m->generated_tokens, count_of(n_generated));
}

static uint64_t microseconds(double seconds) { return seconds > 0 ? (uint64_t)(seconds * 1e6 + 0.5) : 0; }

void metrics_times(metrics *m, double prompt_seconds, double decode_seconds, int n_tokens) {
    add(&m->prompt_us, microseconds(prompt_seconds));
    add(&m->decode_us, microseconds(decode_seconds));
    uint64_t n = count_of(n_tokens), max = get(&m->n_tokens_max);
    while (n > max && !atomic_compare_exchange_weak(&m->n_tokens_max, &max, n)) {
    }
}

void metrics_decode(metrics *m, int n_busy) {
    add(&m->decode_calls, 1);
    add(&m->busy_slot_calls, count_of(n_busy));
}

void metrics_lookup(metrics *m, const bitnet_generate_result *r) {
    add(&m->drafted_tokens, count_of(r->n_drafted));
    add(&m->draft_passes, count_of(r->n_draft_passes));
    add(&m->draft_tokens_taken, count_of(r->n_draft_accepted));
    int longest = r->n_draft_longest < BITNET_DRAFT_MAX ? r->n_draft_longest : BITNET_DRAFT_MAX;
    for (int i = 0; i < longest; i++) add(&m->taken_at[i], count_of(r->n_draft_accepted_at[i]));
    int seen = atomic_load(&m->draft_longest);
    while (longest > seen && !atomic_compare_exchange_weak(&m->draft_longest, &seen, longest)) {
    }
}

void metrics_constraint(metrics *m, int n_best, int n_all) {
    add(&m->masks_best, count_of(n_best));
    add(&m->masks_all, count_of(n_all));
}

void metrics_observe(metrics_histogram *h, double seconds) {
    if (!(seconds >= 0)) seconds = 0;
    int b = 0;
    while (b < h->n_bounds && seconds > h->bounds[b]) b++;
    add(&h->bucket[b], 1);
    add(&h->sum_us, microseconds(seconds));
}

/* ===================================================================== rendering */

static void header(FILE *f, const char *name, const char *type, const char *help) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v) {
    header(f, name, "counter", help);
    fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(FILE *f, const char *name, const char *help, double v) {
    header(f, name, "gauge", help);
    fprintf(f, "%s %.17g\n", name, v);
}

/* How the LM head served the logits rows (the engine's counters; all 0 without a screened head). */
static void head_counters(FILE *f, const metrics_gauges *g) {
    header(f, "bitnet_lm_head_rows_total", "counter",
           "Logits rows of generation steps by how the LM head served them: screened (only the rows that "
           "can be drawn computed exactly), fallback (too many candidates, or a constraint refused the "
           "row's best tokens: the whole head), plain (the sampling needs every logit: the whole head).");
    const struct { const char *way; uint64_t rows; } ways[] = {
        {"screened", g->head_rows_screened}, {"fallback", g->head_rows_fallback}, {"plain", g->head_rows_plain}};
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++)
        fprintf(f, "bitnet_lm_head_rows_total{way=\"%s\"} %llu\n", ways[i].way, (unsigned long long)ways[i].rows);
    counter(f, "bitnet_lm_head_candidate_rows_total", "Head rows the screened head computed exactly, over all screened logits rows.",
            g->head_candidate_rows);
}

/* _bucket lines are cumulative; _count is the +Inf bucket, so the two always agree. */
static void histogram(FILE *f, const char *name, const char *help, metrics_histogram *h) {
    header(f, name, "histogram", help);
    uint64_t total = 0;
    for (int b = 0; b <= h->n_bounds; b++) {
        total += get(&h->bucket[b]);
        if (b < h->n_bounds) fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[b], (unsigned long long)total);
        else fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)total);
    }
    fprintf(f, "%s_sum %.6f\n%s_count %llu\n", name, (double)get(&h->sum_us) / 1e6, name, (unsigned long long)total);
}

static void requests(FILE *f, metrics *m) {
    header(f, "bitnet_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
    for (int e = 0; e < m->n_endpoints; e++)
        for (int s = 0; s < METRICS_N_STATUS; s++) {
            uint64_t n = get(&m->requests[e][s]);
            if (n)
                fprintf(f, "bitnet_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", m->endpoints[e],
                        s + METRICS_MIN_STATUS, (unsigned long long)n);
        }
}

static void gauges(FILE *f, const metrics_gauges *g) {
    gauge(f, "bitnet_requests_active", "Requests being generated now (each holds a slot).", g->requests_active);
    gauge(f, "bitnet_requests_queued", "Requests waiting for a free slot.", g->requests_queued);
    gauge(f, "bitnet_slots", "Slots (requests generated at once, --parallel).", g->slots);
    gauge(f, "bitnet_kv_cache_positions_used", "KV cache positions holding tokens, over all slots.",
          (double)g->kv_positions_used);
    gauge(f, "bitnet_kv_cache_positions_total", "KV cache positions, over all slots.", (double)g->kv_positions_total);
    gauge(f, "bitnet_kv_cache_usage_ratio", "KV cache positions used over total (0..1).",
          g->kv_positions_total > 0 ? (double)g->kv_positions_used / (double)g->kv_positions_total : 0.0);
    gauge(f, "bitnet_kv_cache_bytes", "Memory of the KV cache, all slots.", (double)g->kv_cache_bytes);
    gauge(f, "bitnet_prompt_cache_bytes", "Host memory the prompt cache (--cache-ram) holds.", (double)g->prompt_cache_bytes);
    gauge(f, "bitnet_prompt_cache_prompts", "Prompts the prompt cache (--cache-ram) holds.", (double)g->prompt_cache_prompts);
    counter(f, "bitnet_prompt_cache_tokens_restored_total", "Prompt tokens taken back from the prompt cache (--cache-ram).",
            g->prompt_cache_tokens_restored);
}

/* Tokens per second of processing time between two scrapes (0 when none ran). */
static double rate(uint64_t tokens, uint64_t us) { return us ? (double)tokens * 1e6 / (double)us : 0.0; }

/* llama-server's metrics (its names, types and meanings; server-task.cpp's to_metrics). Its
 * prompt tokens exclude the cached ones; its throughput gauges cover the time since the last
 * scrape; its accepted tokens per draft position appear once a draft was checked, positions 0
 * up to the longest draft checked so far (llama-server's: up to its configured draft length). */
static void llamacpp_metrics(FILE *f, metrics *m, const metrics_gauges *g) {
    uint64_t prompt = get(&m->prompt_tokens), cached = get(&m->cached_tokens), evaluated = prompt > cached ? prompt - cached : 0;
    uint64_t prompt_us = get(&m->prompt_us), generated = get(&m->generated_tokens), decode_us = get(&m->decode_us);
    uint64_t calls = get(&m->decode_calls);
    pthread_mutex_lock(&m->scrape_mu);
    double prompt_rate = rate(evaluated - m->scraped_prompt, prompt_us - m->scraped_prompt_us);
    double predicted_rate = rate(generated - m->scraped_generated, decode_us - m->scraped_decode_us);
    m->scraped_prompt = evaluated, m->scraped_prompt_us = prompt_us, m->scraped_generated = generated, m->scraped_decode_us = decode_us;
    pthread_mutex_unlock(&m->scrape_mu);
    const struct { const char *name, *help; double v; bool is_counter; } items[] = {
        {"llamacpp:prompt_tokens_total", "Number of prompt tokens processed, excluding cached tokens.", (double)evaluated, true},
        {"llamacpp:prompt_tokens_cached_total", "Number of prompt tokens reused from the cache.", (double)cached, true},
        {"llamacpp:prompt_seconds_total", "Total time spent processing prompts.", (double)prompt_us / 1e6, true},
        {"llamacpp:tokens_predicted_total", "Number of generation tokens processed.", (double)generated, true},
        {"llamacpp:tokens_predicted_seconds_total", "Total time spent generating tokens.", (double)decode_us / 1e6, true},
        {"llamacpp:n_decode_total", "Total number of forward passes (batch steps with work).", (double)calls, true},
        {"llamacpp:n_tokens_max", "Largest observed sequence length (prompt + generation).", (double)get(&m->n_tokens_max), true},
        {"llamacpp:spec_decode_num_draft_tokens_total", "Speculative: total draft tokens (--lookup, predictions).",
         (double)get(&m->drafted_tokens), true},
        {"llamacpp:spec_decode_num_accepted_tokens_total", "Speculative: draft tokens accepted.", (double)get(&m->draft_tokens_taken), true},
        {"llamacpp:spec_decode_num_drafts_total", "Speculative: passes that checked a draft.", (double)get(&m->draft_passes), true},
        {"llamacpp:prompt_tokens_seconds", "Average prompt throughput in tokens/s (since the last scrape).", prompt_rate, false},
        {"llamacpp:predicted_tokens_seconds", "Average generation throughput in tokens/s (since the last scrape).", predicted_rate, false},
        {"llamacpp:requests_processing", "Number of requests processing.", g->requests_active, false},
        {"llamacpp:requests_deferred", "Number of requests deferred.", g->requests_queued, false},
        {"llamacpp:n_busy_slots_per_decode", "Average number of busy slots per forward pass.",
         (double)get(&m->busy_slot_calls) / (double)(calls ? calls : 1), false},
        /* older llama-server versions' gauges, which dashboards still read */
        {"llamacpp:kv_cache_usage_ratio", "KV-cache usage. 1 means 100 percent usage.",
         g->kv_positions_total > 0 ? (double)g->kv_positions_used / (double)g->kv_positions_total : 0.0, false},
        {"llamacpp:kv_cache_tokens", "KV-cache tokens.", (double)g->kv_positions_used, false},
    };
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        header(f, items[i].name, items[i].is_counter ? "counter" : "gauge", items[i].help);
        fprintf(f, "%s %.15g\n", items[i].name, items[i].v);
    }
    int positions = atomic_load(&m->draft_longest);
    if (positions > 0) header(f, "llamacpp:spec_decode_num_accepted_tokens_per_pos_total", "counter", "Accepted tokens per draft position.");
    for (int i = 0; i < positions; i++)
        fprintf(f, "llamacpp:spec_decode_num_accepted_tokens_per_pos_total{position=\"%d\"} %llu\n", i,
                (unsigned long long)get(&m->taken_at[i]));
}

char *metrics_render(metrics *m, const metrics_gauges *g, size_t *len) {
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f) return NULL;
    requests(f, m);
    counter(f, "bitnet_prompt_tokens_total", "Prompt tokens of finished requests (cached ones included).",
            get(&m->prompt_tokens));
    counter(f, "bitnet_prompt_tokens_cached_total", "Prompt tokens a slot already held (not evaluated again).",
            get(&m->cached_tokens));
    counter(f, "bitnet_generated_tokens_total", "Tokens generated.", get(&m->generated_tokens));
    counter(f, "bitnet_lookup_drafted_tokens_total", "Draft tokens evaluated (--lookup, requests' predictions).", get(&m->drafted_tokens));
    counter(f, "bitnet_lookup_taken_tokens_total", "Draft tokens sampled as drafted: no pass of their own (--lookup, predictions).",
            get(&m->draft_tokens_taken));
    header(f, "bitnet_constraint_draws_total", "counter",
           "Draws under a JSON or grammar constraint by how their mask was made: best (the likeliest tokens "
           "settled the draw), all (every token of the vocabulary checked).");
    fprintf(f, "bitnet_constraint_draws_total{way=\"best\"} %llu\nbitnet_constraint_draws_total{way=\"all\"} %llu\n",
            (unsigned long long)get(&m->masks_best), (unsigned long long)get(&m->masks_all));
    histogram(f, "bitnet_time_to_first_token_seconds", "From a request's arrival (queue included) to its first token.",
              &m->ttft);
    histogram(f, "bitnet_inter_token_latency_seconds", "Between two consecutive tokens of one request.", &m->itl);
    gauges(f, g);
    head_counters(f, g);
    llamacpp_metrics(f, m, g);
    if (fclose(f)) {
        free(text);
        return NULL;
    }
    return text;
}
