/* cli_util: argument parsing and error printing shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/unicode.h"

static void vreport(const char *cmd, const char *fmt, va_list ap) {
    fprintf(stderr, "bitnet %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'bitnet %s --help'.\n", cmd);
    return 2;
}

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, fmt, ap);
    va_end(ap);
    return 1;
}

bool cli_parse_int(const char *s, long long min, long long max, long long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

bool cli_parse_float(const char *s, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

int cli_parse_id_list(const char *s, int32_t **out) {
    *out = NULL;
    if (!s) return -1;
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += (*p == ',' || *p == ' ');
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return -1;
    int n = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',' && *end != ' ')) {
            free(ids);
            return -1;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    *out = ids;
    return n;
}

int cli_opt(int argc, char **argv, int *i, const char *name, const char *alias, const char **value) {
    const char *a = argv[*i];
    if (strcmp(a, name) != 0 && !(alias && strcmp(a, alias) == 0)) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "bitnet: option %s needs a value\n", a);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

bool cli_flag(char **argv, int i, const char *name, const char *alias) {
    return strcmp(argv[i], name) == 0 || (alias && strcmp(argv[i], alias) == 0);
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The byte that the escape at s[0] == '\\' names, and its length in *seq; -1 when s is no escape. */
static int escape_at(const char *s, size_t left, size_t *seq) {
    static const char from[] = "nrt'\"\\", to[] = "\n\r\t'\"\\";
    if (left < 2 || s[0] != '\\') return -1;
    const char *k = s[1] ? strchr(from, s[1]) : NULL;
    if (k) {
        *seq = 2;
        return (unsigned char)to[k - from];
    }
    if (s[1] == 'x' && left >= 4 && hex_digit(s[2]) >= 0 && hex_digit(s[3]) >= 0) {
        *seq = 4;
        return hex_digit(s[2]) * 16 + hex_digit(s[3]);
    }
    return -1;
}

size_t cli_unescape(char *s, size_t len) {
    size_t out = 0, seq;
    for (size_t i = 0; i < len;) {
        int b = escape_at(s + i, len - i, &seq);
        if (b < 0) {
            s[out++] = s[i++];
            continue;
        }
        s[out++] = (char)b;
        i += seq;
    }
    return out;
}

bool cli_has_escape(const char *s) {
    size_t seq, len = strlen(s);
    for (size_t i = 0; i < len; i++)
        if (escape_at(s + i, len - i, &seq) >= 0) return true;
    return false;
}

void cli_json_string(FILE *out, const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = u[i];
        size_t seq = bn_utf8_valid_len(u + i, len - i);
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c == '\r') fputs("\\r", out);
        else if (c < 0x20 || c == 0x7f) fprintf(out, "\\u%04x", c);
        else if (!seq) fputs("\\ufffd", out); /* a byte of no character (a token may end inside one): JSON text is UTF-8 */
        else {
            fwrite(u + i, 1, seq, out);
            i += seq - 1;
        }
    }
    fputc('"', out);
}

const char *cli_human_bytes(double bytes, char *buf, size_t cap) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, cap, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

double cli_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cli_positional(const char *cmd, const char *arg, const char **pos, int *npos, int max) {
    if (arg[0] == '-') return cli_usage_error(cmd, "unknown option '%s'", arg);
    if (*npos >= max) return cli_usage_error(cmd, "too many arguments ('%s')", arg);
    pos[(*npos)++] = arg;
    return 0;
}
