/* cli: the `bitnet` command. main.c dispatches to one cmd_<name>() per subcommand, each in
 * its own file cli/cmd_<name>.c. Conventions: results on stdout, logs and errors on stderr;
 * exit 0 on success, 1 on a failed check or a runtime error, 2 on bad usage. */
#ifndef BITNET_CLI_H
#define BITNET_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_compat_check(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_logits_diff(int argc, char **argv);
int cmd_trace_diff(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_gen_model(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

/* Prints "bitnet <cmd>: <message>" to stderr and returns 2 (usage error). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "bitnet <cmd>: <message>" to stderr and returns 1 (runtime failure). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing: whole string must be consumed, value in range. */
bool cli_parse_int(const char *s, long long min, long long max, long long *out);
bool cli_parse_float(const char *s, double *out);
/* Parses "1,2,3" into a malloc'd int32 array; returns count or -1 on a malformed list. */
int cli_parse_id_list(const char *s, int32_t **out);

/* Option matching: when argv[*i] is `name` (or `alias`, which may be NULL), stores the next
 * argument in *value, advances *i and returns 1; returns -1 when the value is missing
 * (after printing a usage error); 0 when argv[*i] is another option. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char *alias, const char **value);
bool cli_flag(char **argv, int i, const char *name, const char *alias);
/* The last branch of an option loop: `arg` is an unknown option (usage error) or the next
 * positional argument, stored in pos[*npos] while *npos < max. Returns 0, or 2 after printing
 * the usage error. */
int cli_positional(const char *cmd, const char *arg, const char **pos, int *npos, int max);

/* llama-cli's escape sequences (its -e/--escape, on there by default): \n \r \t \' \" \\ and
 * \xHH become the byte they name; any other backslash stays as written. In place; returns the
 * new length (the text may now hold NUL bytes, from \x00). */
size_t cli_unescape(char *s, size_t len);
/* Whether s holds a sequence cli_unescape would change. */
bool cli_has_escape(const char *s);

/* Writes s (len bytes; may contain any bytes) as a JSON string literal with escapes; bytes that
 * are not well-formed UTF-8 (a token may end inside a character) become \ufffd. */
#include <stddef.h>
#include <stdio.h>
void cli_json_string(FILE *out, const char *s, size_t len);
/* Formats a byte count as "1.23 GiB" style text into buf. */
const char *cli_human_bytes(double bytes, char *buf, size_t cap);

/* Monotonic seconds. */
double cli_seconds(void);

#endif
