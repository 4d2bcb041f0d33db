/* accesslog: one line on stderr per answered request.
 *
 * text: bitnet-server: <time> <method> <path> <status> <duration> ms [prompt=N cached=N generated=N ttft=X ms finish=R] client=A
 * json: {"time", "method", "path", "status", "duration_ms"[, "prompt_tokens", "cached_tokens",
 *        "completion_tokens", "ttft_ms", "finish_reason"], "client"}, one object per line.
 * The client is the peer's address and port (IPv6 in brackets), or "unix" on a Unix socket.
 * The generation fields appear for completions that ran. Each line goes out in one write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openai.h"
#include "server.h"

/* UTC, ISO 8601 with milliseconds. */
static void timestamp(char *buf, size_t cap) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

static void log_text(const char *when, const char *method, const char *path, const char *client, const http_stats *st, double ms) {
    char line[1024];
    int n = snprintf(line, sizeof line, "bitnet-server: %s %s %s %u %.1f ms", when, method, path, st->status, ms);
    if (st->generation && n > 0 && (size_t)n < sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, " prompt=%d cached=%d generated=%d ttft=%.1f ms finish=%s",
                      st->n_prompt, st->n_cached, st->n_generated, st->ttft_ms, st->finish ? st->finish : "error");
    if (n > 0 && (size_t)n < sizeof line) n += snprintf(line + n, sizeof line - (size_t)n, " client=%s", client);
    if (n < 0) return;
    if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
    line[n] = '\n';
    fwrite(line, 1, (size_t)n + 1, stderr);
}

static void log_json(const char *when, const char *method, const char *path, const char *client, const http_stats *st, double ms) {
    json_t *o = json_pack("{s:s, s:s, s:o, s:i, s:f}", "time", when, "method", method, "path",
                          api_text(path, strlen(path)), "status", (int)st->status, "duration_ms", ms);
    if (o && st->generation) {
        json_object_set_new(o, "prompt_tokens", json_integer(st->n_prompt));
        json_object_set_new(o, "cached_tokens", json_integer(st->n_cached));
        json_object_set_new(o, "completion_tokens", json_integer(st->n_generated));
        json_object_set_new(o, "ttft_ms", st->ttft_ms >= 0 ? json_real(st->ttft_ms) : json_null());
        json_object_set_new(o, "finish_reason", st->finish ? json_string(st->finish) : json_null());
    }
    if (o) json_object_set_new(o, "client", json_string(client));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) return;
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return;
    }
    line[n] = '\n';
    fwrite(line, 1, n + 1, stderr);
    free(line);
}

void access_log(log_format format, const char *method, const char *path, const char *client, const http_stats *st, double duration_ms) {
    char when[40];
    timestamp(when, sizeof when);
    if (format == LOG_JSON) log_json(when, method, path, client, st, duration_ms);
    else log_text(when, method, path, client, st, duration_ms);
}
