/* llama_args: llama-server's command-line options beyond bitnet-server's own (main.c), so that
 * a llama-server command line runs here unchanged:
 *   - its default sampling and constraints of requests (--temp, --top-k, -n, --seed, ...,
 *     --grammar, -j, -l): kept as a JSON object
 *     of the request fields they stand for (server_options.request_defaults), which
 *     api_parse_request gives every request that does not set them itself (as llama-server does);
 *   - options whose behaviour this server always has (--metrics, --slots, -cb): taken silently;
 *   - options without meaning on this engine (GPU offload, flash attention, memory locking, Jinja
 *     templates, ...): taken with a note on stderr saying they change nothing;
 *   - options for what it does not have (LoRA, multimodal, no continuous batching): refused.
 * Its names for options of ours (-a, -to/--timeout, --no-webui) are main.c's. */
#ifndef BITNET_SERVER_LLAMA_ARGS_H
#define BITNET_SERVER_LLAMA_ARGS_H

#include "server.h"

/* argv[*i] when it is one of those options: 1 when taken (its value too: *i advanced), 0 when it
 * is not one of them, 2 after printing a usage error. */
int llama_args_take(server_options *o, int argc, char **argv, int *i);
/* After the options (m NULL), and again once the model is loaded (m: what requests are built
 * with): 0, or 2 after printing why the default options are refused (a request with nothing but
 * them must parse, and with the model build, on /completion and on the OpenAI routes). */
struct request_model;
int llama_args_check(const server_options *o, const struct request_model *m);
/* argv with llama-server's environment variables (LLAMA_ARG_MODEL, LLAMA_ARG_PORT, LLAMA_API_KEY,
 * ...) turned into their options before the command line's, which then win (the options are
 * last-wins); each one taken is said on stderr (keys not shown). *out_argv is malloc'd (its
 * strings are argv's and the environment's). 0, or 2 after printing why not (a switch's value
 * that is neither true nor false). */
int llama_args_with_env(int argc, char **argv, int *out_argc, char ***out_argv);
/* The text of an option's file (at most 1 MiB, no NUL bytes; malloc'd), or NULL after printing
 * why not ("bitnet-server: ARG PATH: reason"). */
char *llama_args_read_file(const char *arg, const char *path);

#endif
