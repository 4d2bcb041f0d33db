/* cli_gen: sampling, stop and chat options (see cli_gen.h). */
#include "cli_gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "text/chat.h"
#include "text/gbnf.h"
#include "text/json_schema.h"
#include "util.h"
#include "cli.h"
#include "cli_prompt.h"

const char *const cli_gen_opts_help =
    "  -n, --max-tokens N    (also --n-predict) tokens to generate [128]; 0, -1 or -2 (llama-cli's\n"
    "                        values): until end of generation or a full context\n"
    "  --greedy              greedy decoding (same as --temperature 0)\n"
    "  --temperature T       (also --temp) [0.8]; 0 = greedy\n"
    "  --top-k K             [40]; 0 = off\n"
    "  --top-p P             [0.95]; 1 = off\n"
    "  --min-p P             [0.05]; 0 = off\n"
    "  --repeat-penalty R    [1.0 = off]\n"
    "  --repeat-last-n N     window of the penalties [64]; -1 = whole history\n"
    "  --presence-penalty P  [0]\n"
    "  --frequency-penalty P [0]\n"
    "  llama.cpp's other samplers, in its chain order (typical, XTC and the dynamic temperature\n"
    "  after --top-k see its K best; without it, and with mirostat or --top-nsigma, the whole\n"
    "  LM head is computed):\n"
    "  --top-nsigma N        (also --top-n-sigma) keep logits >= max - N standard deviations [-1 = off]\n"
    "  --typical P           (also --typical-p) locally typical sampling [1 = off]\n"
    "  --xtc-probability P   XTC: chance of dropping the likeliest tokens [0 = off]\n"
    "  --xtc-threshold T     XTC: tokens with p >= T are dropped but the least likely [0.1]\n"
    "  --dynatemp-range R    dynamic temperature: temperature +- R by the entropy [0 = off]\n"
    "  --dynatemp-exp E      its exponent [1]\n"
    "  --mirostat N          1: Mirostat, 2: Mirostat 2.0, instead of top-k/top-p/min-p, the\n"
    "                        penalties and the above [0 = off]\n"
    "  --mirostat-ent TAU    Mirostat's target surprise in bits [5]\n"
    "  --mirostat-lr ETA     Mirostat's learning rate [0.1]\n"
    "  --samplers LIST       the chain, names separated by ';' (llama.cpp's, e.g. top_k;top_p;temperature)\n"
    "                        [penalties;dry;top_n_sigma;top_k;typ_p;top_p;min_p;xtc;temperature]; those\n"
    "                        left out are off (without temperature, draws at 1); in another order (or\n"
    "                        one named twice) they run as given, as llama.cpp runs them (the filters\n"
    "                        after temperature see the tempered distribution), and the whole LM head\n"
    "                        is computed\n"
    "  --sampling-seq S      the same with llama.cpp's letters (e d s k y p m x t a), e.g. kpt\n"
    "  --adaptive-target P   adaptive-p, with adaptive_p in --samplers (as in llama.cpp, e.g.\n"
    "                        --samplers 'min_p;adaptive_p'): draw tokens near probability P so that\n"
    "                        the drawn tokens' average probability stays near P [-1 = off]\n"
    "  --adaptive-decay D    adaptive-p's memory: that average weighs a token drawn n tokens ago\n"
    "                        by D^n [0.9]; 0 .. 0.99\n"
    "  --dry-multiplier M    DRY: a token that would extend a repeat of the last --dry-penalty-last-n\n"
    "                        tokens longer than --dry-allowed-length loses M * base^(length - allowed)\n"
    "                        from its logit [0 = off]\n"
    "  --dry-base B          [1.75]\n"
    "  --dry-allowed-length N [2]\n"
    "  --dry-penalty-last-n N [64]; 0 = off\n"
    "  --dry-sequence-breaker S  a repeat does not reach back across S; repeatable, replaces the\n"
    "                        defaults (\\n : \" *); \"none\": no breakers\n"
    "  -s, --seed S          sampler seed [42]; -1: a random one, printed on stderr (llama-cli's\n"
    "                        -1); also BITNET_SEED\n"
    "  --lookup N            speculative decoding by prompt lookup (llama.cpp's lookup decoding): when\n"
    "                        the last 2-4 tokens occurred before, up to N (<= 16) tokens that followed\n"
    "                        are checked in the same pass; the same tokens, faster where the text\n"
    "                        repeats earlier text [0 = off]\n"
    "  --stop STR            stop when STR appears (not printed); repeatable; also llama-cli's\n"
    "                        -r/--reverse-prompt (which prints it)\n"
    "  --stop-id ID          stop when token ID is sampled; repeatable\n"
    "  -l, --logit-bias ID(+|-)B  add B to token ID's logit before sampling (15043+1, 15043-0.5;\n"
    "                        15043-inf bans it); repeatable, at most 64\n"
    "  --ignore-eos          keep generating past end-of-generation tokens\n"
    "  --json-object         the output is one JSON object: tokens that would break it are masked\n"
    "                        (every logit is computed) and generation ends when it closes\n"
    "  -j, --json-schema S   the output is a value valid against JSON Schema S (inline JSON), masked\n"
    "                        and ended like --json-object; properties in the schema's order;\n"
    "                        keywords it cannot enforce (not, if, ...) are refused\n"
    "  --json-schema-file F  the same with the schema read from file F\n"
    "  --grammar G           the output is a text of GBNF grammar G (llama.cpp's notation, rule\n"
    "                        root), masked like --json-object; end-of-generation tokens may end it\n"
    "                        once it is complete; one of --json-object, --json-schema, --grammar\n"
    "  --grammar-file F      the same with the grammar read from file F\n"
    "  --system TEXT         system message (chat; also -sys, --system-prompt)\n"
    "  -e, --escape          turn \\n \\r \\t \\' \\\" \\\\ \\xHH into the characters they name in the\n"
    "                        prompt (-p and -f), the system message, --stop and --dry-sequence-breaker\n"
    "                        texts, as llama-cli does by default; here texts are taken as written\n"
    "                        unless -e is given (a note says when -p holds such a sequence;\n"
    "                        --no-escape, llama-cli's way to turn it off, silences it)\n"
    "  --chat-template NAME  bitnet | llama3 | chatml | falcon3 | plain [detected from the model]; also\n"
    "                        llama.cpp's Jinja template text of one of them (recognized, not run)\n"
    "  --chat-template-file F  the same, the template read from file F\n";

void cli_gen_opts_init(cli_gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_samplers = -1;
    o->escape = -1;
    o->gen = bitnet_generate_default_params();
    o->gen.stop_strings = o->stops;
    o->gen.stop_ids = o->stop_ids;
    o->gen.logit_bias = o->logit_bias;
}

void cli_gen_opts_free(cli_gen_opts *o) {
    free(o->schema_file_text);
    free(o->grammar_file_text);
    free(o->chat_template_file_text);
    o->schema_file_text = o->grammar_file_text = o->chat_template_file_text = NULL;
    o->gen.json_schema = o->gen.grammar = NULL;
}

/* One constraint at most: a usage error naming opt when another one was given before it. */
static int only_constraint(const cli_gen_opts *o, const char *opt, const char *cmd) {
    if (o->gen.json_object || o->gen.json_schema || o->gen.grammar)
        return cli_usage_error(cmd, "%s: give one of --json-object, --json-schema(-file) and --grammar(-file)", opt);
    return 0;
}

/* bn_gbnf_token_lookup for the check before the model loads: any text stands for a token here
 * (generation compiles the grammar again and finds the token, or fails naming the text). */
static int64_t any_token(void *ctx, const char *text, size_t len) {
    (void)ctx, (void)text, (void)len;
    return 0;
}

/* --json-schema(-file) / --grammar(-file): the text (inline, or read from the file named v) is
 * compiled here so that a bad one is a usage error before the model loads (generation
 * compiles it again). */
static int constraint_opt(const char *v, const char *opt, bool is_file, bool grammar, cli_gen_opts *o, const char *cmd) {
    size_t len = strlen(v);
    const char *text = v;
    char **file_text = grammar ? &o->grammar_file_text : &o->schema_file_text;
    if (only_constraint(o, opt, cmd)) return 2;
    if (is_file) {
        free(*file_text);
        if (!(*file_text = cli_read_text_file(v, &len))) return cli_usage_error(cmd, "%s: cannot read '%s'", opt, v);
        text = *file_text;
    }
    bn_json_schema *schema = grammar ? NULL : bn_json_schema_compile(text, len);
    bn_gbnf *g = grammar ? bn_gbnf_compile_tokens(text, len, any_token, NULL) : NULL;
    if (!schema && !g) {
        cli_usage_error(cmd, "%s: %s", opt, bn_last_error_message());
        cli_gen_opts_free(o);
        return 2;
    }
    bn_json_schema_free(schema);
    bn_gbnf_free(g);
    if (grammar) o->gen.grammar = text;
    else o->gen.json_schema = text;
    return 0;
}

static int float_opt(const char *v, float *dst, double lo, double hi, const char *name, const char *cmd) {
    double d;
    if (!cli_parse_float(v, &d) || d < lo || d > hi) return cli_usage_error(cmd, "%s needs a number in [%g, %g]", name, lo, hi);
    *dst = (float)d;
    return 0;
}

/* "ID+B" or "ID-B" (llama.cpp's -l syntax); B a finite number, or "inf" after '-' (a ban). */
static int logit_bias_opt(const char *v, cli_gen_opts *o, const char *cmd) {
    const char *sign = v + strspn(v, "0123456789");
    char id_text[16];
    long long id;
    double b;
    size_t id_len = (size_t)(sign - v);
    bool ok = id_len > 0 && id_len < sizeof id_text && (*sign == '+' || *sign == '-');
    if (ok) {
        memcpy(id_text, v, id_len);
        id_text[id_len] = '\0';
        ok = cli_parse_int(id_text, 0, INT32_MAX, &id);
    }
    if (ok && *sign == '-' && !strcmp(sign + 1, "inf")) b = INFINITY; /* the magnitude: a ban */
    else if (ok) ok = cli_parse_float(sign + 1, &b) && sign[1] != '+' && sign[1] != '-' && isfinite(b);
    if (!ok || o->gen.n_logit_bias >= CLI_MAX_LOGIT_BIAS)
        return cli_usage_error(cmd, "--logit-bias needs TOKEN_ID+BIAS or TOKEN_ID-BIAS (e.g. 15043+1, 15043-inf; at most %d), got '%s'",
                               CLI_MAX_LOGIT_BIAS, v);
    o->logit_bias[o->gen.n_logit_bias++] = (bitnet_logit_bias){(int32_t)id, *sign == '-' ? (float)-b : (float)b};
    return 0;
}

/* --samplers (names separated by ';') or --sampling-seq (letters): into o->samplers; 2 with a
 * usage error for a name that is not one of ours or more than BN_SAMPLER_ORDER_MAX. */
static int samplers_opt(const char *v, bool letters, cli_gen_opts *o, const char *cmd) {
    const char *opt = letters ? "--sampling-seq" : "--samplers";
    o->n_samplers = 0;
    for (const char *p = v; *p;) {
        char name[32];
        size_t len = letters ? 1 : strcspn(p, ";");
        if (len >= sizeof name) return cli_usage_error(cmd, "%s: '%.*s' is not a sampler", opt, (int)len, p);
        memcpy(name, p, len);
        name[len] = '\0';
        p += len + (!letters && p[len] == ';');
        int kind = letters ? bn_sampler_kind_of_char(name[0]) : bn_sampler_kind_of_name(name);
        if (kind == BN_SAMPLER_NOT_OFFERED) return cli_usage_error(cmd, "%s: this build has no '%s' sampler", opt, name);
        if (kind == BN_SAMPLER_UNKNOWN) return cli_usage_error(cmd, "%s: unknown sampler '%s'", opt, name);
        if (bn_sampler_kinds_append(o->samplers, &o->n_samplers, kind))
            return cli_usage_error(cmd, "%s: more than %d samplers", opt, BN_SAMPLER_ORDER_MAX);
    }
    return 0;
}

/* -e: s (a string of argv, which C lets a program change) with its escapes made bytes. */
static int unescape_arg(const char *s, const char *opt, const char *cmd) {
    char *w = (char *)s;
    size_t len = cli_unescape(w, strlen(w));
    w[len] = '\0';
    if (strlen(w) != len) return cli_usage_error(cmd, "-e: a \\x00 in %s would end the text there", opt);
    return 0;
}

/* The texts that -e changes. */
static int unescape_texts(cli_gen_opts *o, const char *cmd) {
    if (o->system && unescape_arg(o->system, "the system message", cmd)) return 2;
    for (int k = 0; k < o->gen.n_stop_strings; k++)
        if (unescape_arg(o->stops[k], "--stop", cmd)) return 2;
    for (int k = 0; k < o->n_dry_breakers; k++)
        if (unescape_arg(o->dry_breakers[k], "--dry-sequence-breaker", cmd)) return 2;
    return 0;
}

void cli_note_escapes(const cli_gen_opts *o, const char *what, const char *text) {
    if (o->escape < 0 && text && cli_has_escape(text))
        fprintf(stderr, "note: %s is taken as written, its backslash sequences included (llama-cli turns \\n and the "
                        "like into characters by default); -e/--escape does that here\n", what);
}

/* --seed -1: 32 bits (llama-cli's seeds are 32-bit too) from the clock and the process id,
 * different from run to run; said on stderr, so that the run can be repeated with --seed. */
static void draw_seed(cli_gen_opts *o) {
    const char *env = getenv("BITNET_SEED");
    if (env && *env) { /* the library takes it over any seed given */
        fprintf(stderr, "note: --seed -1: BITNET_SEED=%s is the seed\n", env);
        return;
    }
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t x = bn_mix64((uint64_t)t.tv_sec * 0x9E3779B97F4A7C15ull ^ (uint64_t)t.tv_nsec ^ (uint64_t)getpid() << 32);
    o->gen.sampling.seed = x >> 32;
    fprintf(stderr, "note: --seed -1: sampling with seed %llu (--seed %llu repeats this run)\n",
            (unsigned long long)o->gen.sampling.seed, (unsigned long long)o->gen.sampling.seed);
}

int cli_gen_opts_finish(cli_gen_opts *o, const char *cmd) {
    if (o->escape == 1 && unescape_texts(o, cmd)) return 2;
    if (o->random_seed) draw_seed(o);
    cli_note_escapes(o, "the system message", o->system);
    bool adaptive = false;
    for (int i = 0; i < o->n_samplers; i++) adaptive |= o->samplers[i] == BN_SAMPLER_ADAPTIVE_P;
    if (o->gen.adaptive_target >= 0.0f && !adaptive)
        fprintf(stderr, "note: --adaptive-target takes effect with adaptive_p in --samplers (as in llama.cpp), e.g. --samplers "
                        "'min_p;temperature;adaptive_p'\n");
    if (o->n_samplers < 0) return 0;
    bn_sampler_kinds_join(o->samplers, o->n_samplers, o->samplers_text);
    o->gen.samplers = o->samplers_text;
    return 0;
}

int cli_gen_opt(int argc, char **argv, int *i, cli_gen_opts *o, const char *cmd) {
    const char *v;
    int r;
    long long n;
    bitnet_sampling_params *sp = &o->gen.sampling;
    bitnet_sampling_extra *x = &o->gen.sampling_extra;
    struct { const char *name, *alias; float *dst; double lo, hi; } floats[] = {
        {"--temperature", "--temp", &sp->temperature, 0, 100}, {"--top-p", NULL, &sp->top_p, 1e-6, 1},
        {"--min-p", NULL, &sp->min_p, 0, 1}, {"--repeat-penalty", NULL, &sp->repeat_penalty, 1e-3, 100},
        {"--presence-penalty", NULL, &sp->presence_penalty, -100, 100}, {"--frequency-penalty", NULL, &sp->frequency_penalty, -100, 100},
        {"--top-nsigma", "--top-n-sigma", &x->top_n_sigma, -1, 100}, {"--typical", "--typical-p", &x->typical_p, 1e-6, 1},
        {"--xtc-probability", NULL, &x->xtc_probability, 0, 1}, {"--xtc-threshold", NULL, &x->xtc_threshold, 0, 1},
        {"--dynatemp-range", NULL, &x->dynatemp_range, 0, 100}, {"--dynatemp-exp", NULL, &x->dynatemp_exponent, 0, 100},
        {"--mirostat-ent", NULL, &x->mirostat_tau, 0, 100}, {"--mirostat-lr", NULL, &x->mirostat_eta, 0, 100},
        {"--dry-multiplier", NULL, &x->dry_multiplier, 0, 1e6}, {"--dry-base", NULL, &x->dry_base, 1, 1e6},
        {"--adaptive-target", NULL, &o->gen.adaptive_target, -1, 1}, {"--adaptive-decay", NULL, &o->gen.adaptive_decay, 0, 0.99}};
    for (size_t k = 0; k < sizeof floats / sizeof floats[0]; k++) {
        if ((r = cli_opt(argc, argv, i, floats[k].name, floats[k].alias, &v)) == 0) continue;
        if (r < 0 || float_opt(v, floats[k].dst, floats[k].lo, floats[k].hi, floats[k].name, cmd)) return 2;
        return 1;
    }
    if ((r = cli_opt(argc, argv, i, "--max-tokens", "-n", &v)) || (r = cli_opt(argc, argv, i, "--n-predict", "--predict", &v))) {
        if (r < 0 || !cli_parse_int(v, -2, 1 << 24, &n)) /* -1 and -2: llama-cli's "infinite" and "until the context is full" */
            return cli_usage_error(cmd, "--max-tokens needs an integer in -2..%d (<= 0: until end of generation or a full context)",
                                   1 << 24);
        o->gen.max_tokens = (int)n;
    } else if ((r = cli_opt(argc, argv, i, "--top-k", NULL, &v))) {
        if (r < 0 || !cli_parse_int(v, 0, 1 << 24, &n)) return cli_usage_error(cmd, "--top-k needs a non-negative integer");
        sp->top_k = (int)n;
    } else if ((r = cli_opt(argc, argv, i, "--mirostat", NULL, &v))) {
        if (r < 0 || !cli_parse_int(v, 0, 2, &n)) return cli_usage_error(cmd, "--mirostat needs 0 (off), 1 or 2");
        x->mirostat = (int)n;
    } else if ((r = cli_opt(argc, argv, i, "--dry-allowed-length", NULL, &v))) {
        if (r < 0 || !cli_parse_int(v, 0, 1 << 24, &n)) return cli_usage_error(cmd, "--dry-allowed-length needs a non-negative integer");
        x->dry_allowed_length = (int)n;
    } else if ((r = cli_opt(argc, argv, i, "--dry-penalty-last-n", NULL, &v))) {
        if (r < 0 || !cli_parse_int(v, 0, 1 << 20, &n)) return cli_usage_error(cmd, "--dry-penalty-last-n needs an integer in 0..%d", 1 << 20);
        x->dry_penalty_last_n = (int)n;
    } else if ((r = cli_opt(argc, argv, i, "--dry-sequence-breaker", NULL, &v))) {
        if (r < 0 || !*v || o->n_dry_breakers >= CLI_MAX_STOPS)
            return cli_usage_error(cmd, "--dry-sequence-breaker needs a non-empty string (at most %d)", CLI_MAX_STOPS);
        x->dry_sequence_breakers = o->dry_breakers; /* the first one replaces the defaults */
        if (strcmp(v, "none")) o->dry_breakers[o->n_dry_breakers++] = v;
        x->n_dry_sequence_breakers = o->n_dry_breakers;
    } else if ((r = cli_opt(argc, argv, i, "--samplers", NULL, &v))) {
        if (r < 0 || samplers_opt(v, false, o, cmd)) return 2;
    } else if ((r = cli_opt(argc, argv, i, "--sampling-seq", "--sampler-seq", &v))) {
        if (r < 0 || samplers_opt(v, true, o, cmd)) return 2;
    } else if ((r = cli_opt(argc, argv, i, "--repeat-last-n", NULL, &v))) {
        if (r < 0 || !cli_parse_int(v, -1, 1 << 24, &n)) return cli_usage_error(cmd, "--repeat-last-n needs an integer >= -1");
        sp->penalty_last_n = (int)n;
    } else if ((r = cli_opt(argc, argv, i, "--seed", "-s", &v))) {
        if (r < 0 || !cli_parse_int(v, -1, INT64_MAX, &n))
            return cli_usage_error(cmd, "--seed needs a non-negative integer, or -1 for a random one");
        o->random_seed = n < 0;
        sp->seed = n < 0 ? 0 : (uint64_t)n;
    } else if ((r = cli_opt(argc, argv, i, "--lookup", NULL, &v))) {
        if (r < 0 || !cli_parse_int(v, 0, 16, &n)) return cli_usage_error(cmd, "--lookup needs a draft length in 0..16");
        o->gen.lookup_draft = (int)n;
    } else if ((r = cli_opt(argc, argv, i, "--stop", NULL, &v)) || (r = cli_opt(argc, argv, i, "--reverse-prompt", "-r", &v))) {
        if (r < 0 || !*v || o->gen.n_stop_strings >= CLI_MAX_STOPS)
            return cli_usage_error(cmd, "%s needs a non-empty string (at most %d)", argv[*i - 1], CLI_MAX_STOPS);
        bool reverse = strcmp(argv[*i - 1], "--stop") != 0; /* llama-cli's name */
        if (reverse && !o->noted_reverse_prompt)
            fprintf(stderr, "note: %s is a stop string here: generation stops where the text appears, which is not printed "
                            "(llama-cli prints it)\n", argv[*i - 1]);
        o->noted_reverse_prompt |= reverse;
        o->stops[o->gen.n_stop_strings++] = v;
    } else if ((r = cli_opt(argc, argv, i, "--stop-id", NULL, &v))) {
        if (r < 0 || !cli_parse_int(v, 0, INT32_MAX, &n) || o->gen.n_stop_ids >= CLI_MAX_STOPS)
            return cli_usage_error(cmd, "--stop-id needs a token id (at most %d)", CLI_MAX_STOPS);
        o->stop_ids[o->gen.n_stop_ids++] = (int32_t)n;
    } else if ((r = cli_opt(argc, argv, i, "--logit-bias", "-l", &v))) {
        if (r < 0 || logit_bias_opt(v, o, cmd)) return 2;
    } else if ((r = cli_opt(argc, argv, i, "--json-schema", "-j", &v))) {
        if (r < 0 || constraint_opt(v, "--json-schema", false, false, o, cmd)) return 2;
    } else if ((r = cli_opt(argc, argv, i, "--json-schema-file", NULL, &v))) {
        if (r < 0 || constraint_opt(v, "--json-schema-file", true, false, o, cmd)) return 2;
    } else if ((r = cli_opt(argc, argv, i, "--grammar", NULL, &v))) {
        if (r < 0 || constraint_opt(v, "--grammar", false, true, o, cmd)) return 2;
    } else if ((r = cli_opt(argc, argv, i, "--grammar-file", NULL, &v))) {
        if (r < 0 || constraint_opt(v, "--grammar-file", true, true, o, cmd)) return 2;
    } else if ((r = cli_opt(argc, argv, i, "--system", "-sys", &v)) || (r = cli_opt(argc, argv, i, "--system-prompt", NULL, &v))) {
        if (r < 0) return 2;
        o->system = v;
    } else if ((r = cli_opt(argc, argv, i, "--chat-template", NULL, &v))) {
        if (r < 0) return 2;
        o->chat_template = v;
    } else if ((r = cli_opt(argc, argv, i, "--chat-template-file", NULL, &v))) {
        size_t len;
        if (r < 0) return 2;
        free(o->chat_template_file_text);
        if (!(o->chat_template = o->chat_template_file_text = cli_read_text_file(v, &len)))
            return cli_usage_error(cmd, "--chat-template-file: cannot read '%s'", v);
    } else if (cli_flag(argv, *i, "--escape", "-e") || !strcmp(argv[*i], "--no-escape")) {
        o->escape = strcmp(argv[*i], "--no-escape") != 0;
    } else if (!strcmp(argv[*i], "--greedy")) {
        sp->temperature = 0.0f;
    } else if (!strcmp(argv[*i], "--ignore-eos")) {
        o->gen.ignore_eog = 1;
    } else if (!strcmp(argv[*i], "--json-object")) {
        if (only_constraint(o, "--json-object", cmd)) return 2;
        o->gen.json_object = 1;
    } else {
        return 0;
    }
    return 1;
}

int cli_chat_format(const cli_gen_opts *o, const bitnet_model *m, const char *cmd, int *format) {
    bn_chat_format f;
    if (o->chat_template) {
        if (bn_chat_format_from_template(o->chat_template, &f) != 0) return cli_usage_error(cmd, "--chat-template: %s", bitnet_get_last_error());
        *format = (int)f;
        return 0;
    }
    int len = bitnet_model_meta_str(m, "tokenizer.chat_template", NULL, 0);
    char *tmpl = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (tmpl && bitnet_model_meta_str(m, "tokenizer.chat_template", tmpl, (size_t)len + 1) < 0) {
        free(tmpl);
        tmpl = NULL;
    }
    *format = (int)bn_chat_detect(tmpl);
    free(tmpl);
    return 0;
}

const char *cli_stop_reason_name(bitnet_stop_reason r) {
    switch (r) {
    case BITNET_STOP_MAX_TOKENS: return "max_tokens";
    case BITNET_STOP_EOG: return "eog";
    case BITNET_STOP_STRING: return "stop_string";
    case BITNET_STOP_ID: return "stop_id";
    case BITNET_STOP_CALLBACK: return "interrupted";
    case BITNET_STOP_CONTEXT_FULL: return "context_full";
    case BITNET_STOP_JSON_COMPLETE: return "json_complete";
    case BITNET_STOP_GRAMMAR_COMPLETE: return "grammar_complete";
    }
    return "unknown";
}
