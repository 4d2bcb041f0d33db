/* compat_truncation: an embedder of the INSTALLED libbitnet (tests/scripts/test_abi_install.sh
 * builds it with pkg-config only) that calls the compatibility text functions with small
 * buffers from several threads at once and checks BitNet-rs's contract: a reply cut to fit is
 * a success returning the bytes written, NUL-terminated, whole UTF-8 characters, nothing
 * written past the buffer (guard bytes), the cut noted in the thread's last error, and the
 * generation stopped early (the metrics count far fewer tokens than max_new_tokens allows).
 * Prints "ok - name" / "not ok - name" lines; exit status 1 when a check failed.
 * Usage: compat_truncation MODEL.gguf (a model with a tokenizer and a long context) */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <bitnet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum { N_THREADS = 4, N_ROUNDS = 2, GUARD = 32, MAX_NEW = 400 };
static const size_t CAPS[3] = {8, 16, 29}; /* output buffer sizes, NUL included */
static const unsigned char GUARD_BYTE = 0xA5;
static const char *PROMPTS[2] = {"Once upon a time", "The capital of France is"};

static int g_model, g_failed;
static pthread_mutex_t g_print = PTHREAD_MUTEX_INITIALIZER;

static void report(bool ok, const char *name, const char *detail) {
    pthread_mutex_lock(&g_print);
    printf("%s - compat_truncation/%s\n", ok ? "ok" : "not ok", name);
    if (!ok) printf("    %s\n", detail);
    if (!ok) g_failed = 1;
    pthread_mutex_unlock(&g_print);
}

static bool utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n) return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

/* A buffer of cap bytes followed by GUARD guard bytes. */
typedef struct guarded {
    unsigned char mem[64 + GUARD];
    size_t cap;
} guarded;

static void guard_init(guarded *g, size_t cap) {
    memset(g->mem, GUARD_BYTE, sizeof g->mem);
    g->cap = cap;
}

/* Checks one result: success, cut to fit, NUL-terminated, valid UTF-8, guards intact, the
 * cut noted in this thread's last error. Returns NULL or what was wrong. */
static const char *check_cut(const guarded *g, int rc, const char *what, char *why, size_t why_cap) {
    const char *text = (const char *)g->mem;
    size_t nul = strnlen(text, g->cap);
    for (size_t i = g->cap; i < g->cap + GUARD; i++)
        if (g->mem[i] != GUARD_BYTE) return snprintf(why, why_cap, "%s: byte %zu past the %zu-byte buffer was written", what, i, g->cap), why;
    if (rc < 0) return snprintf(why, why_cap, "%s: returned %d (%s)", what, rc, bitnet_get_last_error()), why;
    if (nul == g->cap || (size_t)rc != nul) return snprintf(why, why_cap, "%s: returned %d, text of %zu bytes, buffer %zu", what, rc, nul, g->cap), why;
    if (!utf8_valid(g->mem, nul)) return snprintf(why, why_cap, "%s: the text is not valid UTF-8", what), why;
    if (!strstr(bitnet_get_last_error(), "output truncated"))
        return snprintf(why, why_cap, "%s: %d bytes in a %zu-byte buffer but no truncation note (last error '%s')", what, rc, g->cap,
                        bitnet_get_last_error()), why;
    return NULL;
}

static BitNetCInferenceConfig config(int greedy) {
    BitNetCInferenceConfig c = bitnet_inference_config_default();
    c.max_new_tokens = MAX_NEW;
    c.do_sample = greedy ? 0 : 1;
    return c;
}

/* One round of a worker: bitnet_inference, bitnet_inference_with_config and
 * bitnet_batch_inference (two prompts), each into a small guarded buffer. */
static const char *round_once(int t, int r, char *why, size_t why_cap) {
    guarded a, b, c, d;
    size_t cap = CAPS[(size_t)(t + r) % 3];
    const char *bad;
    guard_init(&a, cap);
    if ((bad = check_cut(&a, bitnet_inference(g_model, PROMPTS[t % 2], (char *)a.mem, cap), "bitnet_inference", why, why_cap)))
        return bad;
    BitNetCInferenceConfig cfg = config(t % 2);
    guard_init(&b, cap);
    if ((bad = check_cut(&b, bitnet_inference_with_config(g_model, PROMPTS[r % 2], &cfg, (char *)b.mem, cap),
                         "bitnet_inference_with_config", why, why_cap)))
        return bad;
    guard_init(&c, cap);
    guard_init(&d, CAPS[0]);
    char *outs[2] = {(char *)c.mem, (char *)d.mem};
    size_t lens[2] = {c.cap, d.cap};
    int ok = bitnet_batch_inference(g_model, PROMPTS, 2, &cfg, outs, lens);
    if (ok != 2) return snprintf(why, why_cap, "bitnet_batch_inference: %d of 2 succeeded (%s)", ok, bitnet_get_last_error()), why;
    if ((bad = check_cut(&c, (int)strlen(outs[0]), "bitnet_batch_inference[0]", why, why_cap))) return bad;
    return check_cut(&d, (int)strlen(outs[1]), "bitnet_batch_inference[1]", why, why_cap);
}

static void *worker(void *arg) {
    int t = (int)(size_t)arg;
    char why[512], name[64];
    for (int r = 0; r < N_ROUNDS; r++) {
        const char *bad = round_once(t, r, why, sizeof why);
        snprintf(name, sizeof name, "thread%d_round%d_cut_replies_succeed", t, r);
        report(!bad, name, bad ? bad : "");
    }
    return NULL;
}

/* Far fewer tokens than max_new_tokens: each cut call stops at the token that overflowed. */
static void check_metrics(void) {
    BitNetCPerformanceMetrics m;
    int rc = bitnet_get_performance_metrics(g_model, &m);
    unsigned calls = N_THREADS * N_ROUNDS * 4;
    char why[256];
    snprintf(why, sizeof why, "rc %d: %u tokens generated in %u calls of max_new_tokens %d into buffers of at most %zu bytes", rc,
             m.tokens_generated, calls, MAX_NEW, CAPS[2]);
    printf("# %u tokens generated in %u calls (max_new_tokens %d)\n", m.tokens_generated, calls, MAX_NEW);
    report(rc == 0 && m.tokens_generated >= calls && m.tokens_generated <= calls * (CAPS[2] + 4) && m.tokens_generated * 10 < calls * MAX_NEW,
           "generation_stops_when_the_buffer_is_full", why);
}

/* bitnet_detokenize follows the same contract; a text that fits leaves the last error "". */
static void check_detokenize_and_fit(void) {
    int32_t ids[64];
    const char *text = "Hello world, caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 and more words";
    int n = bitnet_tokenize(g_model, text, 0, ids, 64);
    guarded g;
    guard_init(&g, 19);
    char why[512];
    const char *bad = n > 0 ? check_cut(&g, bitnet_detokenize(g_model, ids, n, (char *)g.mem, g.cap), "bitnet_detokenize", why, sizeof why)
                            : "bitnet_tokenize failed";
    report(!bad, "detokenize_cut_succeeds", bad ? bad : "");
    char big[8192];
    BitNetCInferenceConfig c = config(1);
    c.max_new_tokens = 2;
    int rc = bitnet_inference_with_config(g_model, PROMPTS[0], &c, big, sizeof big);
    snprintf(why, sizeof why, "rc %d, last error '%s'", rc, bitnet_get_last_error());
    report(rc >= 0 && bitnet_get_last_error()[0] == '\0', "whole_reply_leaves_no_note", why);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
        return 2;
    }
    g_model = bitnet_model_load(argv[1]);
    if (g_model < 0) {
        printf("not ok - compat_truncation/load\n    %s\n", bitnet_get_last_error());
        return 1;
    }
    bitnet_set_num_threads(1);
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)(size_t)t);
    for (int t = 0; t < N_THREADS; t++) pthread_join(th[t], NULL);
    check_metrics();
    check_detokenize_and_fit();
    bitnet_model_free(g_model);
    return g_failed;
}
