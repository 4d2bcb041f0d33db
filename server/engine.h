/* engine: the one thread that drives the server's bitnet_batch.
 *
 * HTTP threads build a job (prompt ids + generation params) and hand it to engine_enqueue();
 * it waits in a bounded FIFO until bitnet_batch_pick_slot() finds an idle slot, is submitted,
 * and every bitnet_batch_step() advances all running jobs at once. The callbacks of the batch
 * run on the engine thread and append each job's text (and, when asked, the log-probabilities
 * of its tokens) to the job's output, which the HTTP thread takes with job_take().
 *
 * A job is reference-counted: the HTTP thread holds one reference, the engine another while
 * the job is queued or running. job_cancel() (the client went away) removes a queued job at
 * once and makes a running one stop at the next step: its on_token callback returns non-zero
 * and the engine calls bitnet_batch_cancel() for it before stepping again. */
#ifndef BITNET_SERVER_ENGINE_H
#define BITNET_SERVER_ENGINE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bitnet.h"
#include "metrics.h"

#define JOB_MAX_TOP_LOGPROBS 20
/* A generation's n_keep when its request gave none: the server's --keep applies (engine_params). */
#define JOB_N_KEEP_UNSET INT_MIN

typedef struct engine engine;
typedef struct job job;

/* Wakes one thread that waits for the output of several jobs (a stream of several choices):
 * every job it is set on (job_set_waker) adds one to `news` and broadcasts, whenever it would
 * wake a job_take. Read `news` (job_waker_news) before taking from the jobs, then wait for a
 * change (job_waker_wait): an output that came in between is not missed. */
typedef struct job_waker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned long news;
} job_waker;

typedef struct engine_params {
    int n_slots;
    int64_t n_ctx;             /* positions per slot; 0: the library's default */
    int n_threads, n_batch;    /* 0: the library's defaults */
    bitnet_act_quant act_quant;
    bitnet_kv_type kv_type_k, kv_type_v;
    int prefix_share_min;      /* bitnet_batch_params' (0: the library's default, < 0: off) */
    uint64_t prompt_cache_bytes; /* bitnet_batch_params' (0: none) */
    int lookup_draft;          /* every generation's bitnet_generate_params.lookup_draft (0: off) */
    bool context_shift;        /* every generation's bitnet_generate_params.context_shift */
    int n_keep;                /* a generation's n_keep where its request gave none (JOB_N_KEEP_UNSET) */
    int max_queue;             /* requests that may wait for a slot */
    bool verbose;              /* one line per finished generation on stderr */
    metrics *metrics;          /* tokens, time to first token, inter-token latency; NULL: none */
} engine_params;

/* The log-probability of one generated token and the most likely alternatives. */
typedef struct job_logprob {
    int32_t token;
    float logprob;
    int n_top;
    int32_t top_token[JOB_MAX_TOP_LOGPROBS];
    float top_logprob[JOB_MAX_TOP_LOGPROBS];
} job_logprob;

/* A generated token's timings when it was drawn (llama-server's timings_per_token). */
typedef struct job_timing {
    int cache_n, prompt_n, predicted_n;
    double prompt_ms, predicted_ms;
} job_timing;

/* One piece of a job's output: what the library reported in one token callback (a token's
 * text, possibly held back and flushed with later tokens', and that token's log-probabilities
 * when asked for). A stream sends one event per piece, whatever the client's pace. */
typedef struct job_piece {
    size_t text_len; /* bytes of job_output.text, the pieces in order (0 for a token whose text is held back) */
    bool logprob;    /* takes the next entry of job_output.logprobs */
    bool timed;      /* job_report_timings: timing holds the token's timings */
    int32_t token;   /* the generated token; -1 for text flushed at the end */
    job_timing timing;
} job_piece;

/* Prompt processing progress (job_report_progress; llama-server's prompt_progress object). */
typedef struct job_progress {
    int total, cache, processed; /* the prompt's tokens; those taken from caches; those in the cache now */
    double time_ms;              /* since the job got its slot */
} job_progress;

/* What job_take() hands over: the output produced since the last take (malloc'd; free it
 * with job_output_free), cut into its pieces, and whether the job has ended. */
typedef struct job_output {
    char *text;
    size_t text_len;
    job_logprob *logprobs;
    size_t n_logprobs;
    /* job_score_prompt: the prompt's tokens, each with its log-probability after the tokens
     * before it (the first's is NaN: nothing comes before it), all of them in the first output
     * that holds a piece or the end */
    job_logprob *prompt_logprobs;
    size_t n_prompt_logprobs;
    /* job_report_progress: the prompt's progress since the last take (the latest report) */
    bool has_progress;
    job_progress progress;
    job_piece *pieces;
    size_t n_pieces;
    bool done;
} job_output;

typedef enum engine_enqueue_status {
    ENGINE_QUEUED = 0,
    ENGINE_QUEUE_FULL = 1,
    ENGINE_STOPPING = 2,
} engine_enqueue_status;

/* Creates the batch and starts the engine thread. Returns 0, or a negative bitnet status
 * (the last error says why). */
int engine_start(bitnet_model *model, const engine_params *params, engine **out);
/* Stops the thread: running jobs are cancelled (they end with BITNET_STOP_CALLBACK), queued
 * ones fail with BITNET_ERR_CANCELLED; later engine_enqueue() calls return ENGINE_STOPPING. */
void engine_stop(engine *e);
void engine_free(engine *e); /* after engine_stop; NULL is accepted */

int64_t engine_slot_ctx(const engine *e);
int engine_n_slots(const engine *e);

typedef struct engine_slot_info {
    bool busy;
    uint64_t n_requests;       /* requests this slot has run (or is running) */
    int n_prompt, n_generated; /* of the last finished request */
    int n_cached;
} engine_slot_info;
/* Copies the state of every slot (engine_n_slots() entries) into out. */
void engine_slots(engine *e, engine_slot_info *out);
/* What POST /slots/{id}?action= does with an idle slot (on the engine thread, between steps). */
typedef enum engine_slot_op { ENGINE_SLOT_SAVE, ENGINE_SLOT_RESTORE, ENGINE_SLOT_ERASE } engine_slot_op;
/* Runs op on slot (path: the slot file of SAVE and RESTORE) and waits for it. Returns the
 * number of tokens saved, restored or erased, and the file's size in *bytes; or a negative
 * status and why in message[cap]: BITNET_ERR_INVALID_ARGUMENT for a busy or unknown slot,
 * BITNET_ERR_CANCELLED when the engine stops, else bitnet_batch_slot_save / _restore's. */
int64_t engine_slot_action(engine *e, int slot, engine_slot_op op, const char *path, uint64_t *bytes, char *message,
                           size_t cap);
/* Requests waiting for a slot now. */
int engine_n_waiting(engine *e);
/* Running and queued requests, slots and KV cache use now (for /metrics). */
void engine_gauges(engine *e, metrics_gauges *out);

/* A job for prompt[0, n_prompt) (copied). gen is copied; stops (n_stops strings) is taken
 * over (freed with the job). n_top_logprobs < 0: no log-probabilities; 0..20: the chosen
 * token's and that many alternatives, from the logits, or with post_sampling from the
 * distribution each token was drawn from (llama-server's post_sampling_probs). Returns NULL
 * when out of memory. */
job *job_create(const int32_t *prompt, int n_prompt, const bitnet_generate_params *gen, char **stops, int n_stops,
                int n_top_logprobs, bool post_sampling);
/* An embedding job (bitnet_batch_submit_embed): prompt[0, n_prompt) copied, its pooled vector
 * ([n_embd], or [n_prompt][n_embd] with pooling none) read with job_embedding() once job_take()
 * reported the end with status 0. NULL when out of memory. */
job *job_create_embed(const int32_t *prompt, int n_prompt, bitnet_pooling pooling, int64_t n_embd);
float *job_embedding(job *j);
void job_release(job *j); /* drops the caller's reference */

engine_enqueue_status engine_enqueue(engine *e, job *j);
/* The client no longer wants the job (see above). Safe at any time, also after the end. */
void job_cancel(job *j);
/* Ends a job that was never queued as failed with status and message (the engine refused it):
 * job_take reports the end, job_status the failure. */
void job_fail(job *j, int status, const char *message);
/* Asks for the log-probabilities of the job's prompt tokens too (OpenAI's echo with logprobs),
 * with the job's n_top_logprobs alternatives (a generation job made with n_top_logprobs >= 0;
 * before engine_enqueue). The prompt is then
 * evaluated whole, its KV entries taken from no cache. */
void job_score_prompt(job *j);
/* Asks for the prompt processing progress (llama-server's return_progress), handed over by
 * job_take after each step that evaluated prompt rows (before engine_enqueue). */
void job_report_progress(job *j);
/* Asks for each generated token's timings in its piece (llama-server's timings_per_token;
 * before engine_enqueue). */
void job_report_timings(job *j);
/* A time limit in seconds from the job's creation (before engine_enqueue; 0: none). */
void job_set_time_limit(job *j, double seconds);
/* llama-server's t_max_predict_ms (before engine_enqueue; 0: none): once `seconds` have passed
 * since the first generated token, the generation ends at the next token whose text holds a
 * newline (stop reason BITNET_STOP_MAX_TOKENS: finish_reason "length"), that token included. */
void job_set_predict_limit(job *j, double seconds);
/* llama-server's n_indent (before engine_enqueue; 0: none): after the reply's first newline, a
 * line that starts with fewer than n spaces and tabs (an empty line too) ends the reply there,
 * its indentation kept and the rest dropped (stop reason BITNET_STOP_MAX_TOKENS: "length"). */
void job_set_min_indent(job *j, int n);
/* llama-server's id_slot (before engine_enqueue; 0 <= slot < engine_n_slots, -1: any): the job
 * runs in that slot, waiting while it is busy (later jobs that can run meanwhile go first). */
void job_want_slot(job *j, int slot);
/* Cancels the job when its time limit has passed (called by the thread that waits for it).
 * A job stopped so while generating ends normally with stop reason BITNET_STOP_MAX_TOKENS
 * (its reply so far, finish_reason "length"); one still queued fails with
 * BITNET_ERR_CANCELLED and a message that says so. */
void job_check_time_limit(job *j);

/* Waits up to timeout_ms (0: not at all) for output or the end and moves it into *out. Returns
 * 1 when *out holds something new (text, log-probabilities, progress or the end), 0 on timeout. */
int job_take(job *j, job_output *out, int timeout_ms);
void job_output_free(job_output *out);

void job_waker_init(job_waker *w);
void job_waker_destroy(job_waker *w);
/* Makes every later output and the end of j wake w too (NULL: no longer; once it returns, the
 * engine no longer touches the previous waker). */
void job_set_waker(job *j, job_waker *w);
unsigned long job_waker_news(job_waker *w);
/* Waits up to timeout_ms for w's news to differ from `seen`. */
void job_waker_wait(job_waker *w, unsigned long seen, int timeout_ms);
/* After job_take() reported done: 0 and the result, or the negative status and a message. */
int job_status(const job *j, bitnet_generate_result *result, const char **message);
int job_n_prompt(const job *j);
/* The slot that ran the job (-1: it never got one). Read after job_take() reported the end. */
int job_slot(const job *j);
/* Stop string i of the job (NULL when there is no such one). */
const char *job_stop_string(const job *j, int i);
/* Seconds from the job's creation to its first token; < 0 when it produced none. Read after
 * job_take() reported the end. */
double job_ttft(const job *j);

#endif
