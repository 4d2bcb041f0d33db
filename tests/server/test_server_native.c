/* Tests of the request parser of server/openai.c for llama-server's /completion (API_NATIVE):
 * its defaults (the library's sampling, no token limit), n_predict and its aliases (0: the
 * prompt only), n_probs and "logprobs", llama-server's other samplers (read, on the chat route
 * too; bad values refused), code completion's fields, id_slot and n_cache_reuse, the server's
 * defaults (llama-server's sampling options), the prompt forms (string, ids, ids and strings mixed; several
 * prompts), its temperature range beside OpenAI's, the fields it refuses, and logit_bias
 * with llama-server's strings in place of token ids (kept for request.c to tokenize). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai.h"
#include "test.h"

/* Parses a /completion body; returns the status (0 accepted), *r filled when accepted. */
static int parse_as(api_kind kind, const char *body, api_request *r, api_error *err) {
    return api_parse_request(kind, body, strlen(body), 7, NULL, r, err) ? err->status : 0;
}

static int parse(const char *body, api_request *r, api_error *err) { return parse_as(API_NATIVE, body, r, err); }

/* The body is a 400 on the route of `kind` whose message holds `words`. */
static void check_refused_as(api_kind kind, const char *body, const char *words) {
    api_request r;
    api_error err;
    CHECK_EQ_INT(parse_as(kind, body, &r, &err), 400);
    CHECK_MSG(strstr(err.message, words) != NULL, "'%s' not in: %s", words, err.message);
}

static void check_refused(const char *body, const char *words) { check_refused_as(API_NATIVE, body, words); }

/* A refused input (a whole body, or fields spliced into one) and words its 400 must hold. */
typedef struct {
    const char *text, *words;
} refusal;

TEST(defaults_are_llama_servers) {
    api_request r;
    api_error err;
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\"}", &r, &err), 0);
    bitnet_sampling_params lib = bitnet_sampling_default_params();
    CHECK(r.gen.sampling.temperature == lib.temperature && r.gen.sampling.top_k == lib.top_k && r.gen.sampling.top_p == lib.top_p &&
          r.gen.sampling.min_p == lib.min_p && r.gen.sampling.repeat_penalty == 1.0f && r.gen.sampling.penalty_last_n == 64);
    CHECK(fabsf(r.gen.sampling.temperature - 0.8f) < 1e-6f && r.gen.sampling.top_k == 40);
    CHECK_EQ_INT(r.gen.sampling.seed, 7);
    CHECK_EQ_INT(r.gen.max_tokens, 0);
    CHECK_EQ_INT(r.n_top_logprobs, -1);
    CHECK(!r.prompt_only && !r.return_tokens && !r.stream);
    CHECK(r.n_prompts == 1 && !r.several_prompts && r.prompts[0].n_parts == 1);
    CHECK_STR(r.prompts[0].parts[0].text, "Hi");
    api_request_free(&r);
}

TEST(n_predict_and_its_aliases) {
    static const struct {
        const char *fields;
        int max_tokens;
        bool prompt_only;
    } cases[] = {
        {"\"n_predict\":5", 5, false},
        {"\"n_predict\":-1", 0, false},
        {"\"n_predict\":0", 1, true}, /* one step runs; its token is dropped */
        {"\"max_tokens\":3", 3, false},
        {"\"max_completion_tokens\":4", 4, false},
        {"\"max_tokens\":3,\"n_predict\":9", 9, false},
        {"\"n_predict\":null,\"max_tokens\":2", 2, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"prompt\":\"Hi\",%s}", cases[i].fields);
        api_request r;
        api_error err;
        CHECK_EQ_INT(parse(body, &r, &err), 0);
        CHECK_MSG(r.gen.max_tokens == cases[i].max_tokens && r.prompt_only == cases[i].prompt_only, "%s: max_tokens %d",
                  cases[i].fields, r.gen.max_tokens);
        api_request_free(&r);
    }
    check_refused("{\"prompt\":\"Hi\",\"n_predict\":-2}", "'n_predict' must be between -1");
    check_refused("{\"prompt\":\"Hi\",\"n_predict\":\"8\"}", "'n_predict' must be an integer");
}

TEST(probabilities_and_other_fields) {
    api_request r;
    api_error err;
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"n_probs\":3,\"logprobs\":9,\"return_tokens\":true,\"repeat_last_n\":-1,"
                       "\"cache_prompt\":false,\"temperature\":5,\"stream\":true}",
                       &r, &err),
                 0);
    CHECK(r.n_top_logprobs == 3 && r.return_tokens && r.stream && r.gen.sampling.penalty_last_n == -1);
    CHECK(r.gen.sampling.temperature == 5.0f); /* any temperature, as llama-server */
    api_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"logprobs\":2}", &r, &err), 0);
    CHECK_EQ_INT(r.n_top_logprobs, 2);
    api_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"n_probs\":0,\"temperature\":-1}", &r, &err), 0);
    CHECK(r.n_top_logprobs == -1 && r.gen.sampling.temperature == 0.0f); /* below 0: greedy */
    api_request_free(&r);
    CHECK_EQ_INT(parse_as(API_COMPLETION, "{\"prompt\":\"Hi\",\"temperature\":5}", &r, &err), 400); /* OpenAI's 0..2 */
    check_refused("{\"prompt\":\"Hi\",\"n_probs\":21}", "'n_probs' must be between 0 and 20");
    check_refused("{\"prompt\":\"Hi\",\"return_tokens\":1}", "'return_tokens' must be a boolean");
    check_refused("{\"prompt\":\"Hi\",\"post_sampling_probs\":1}", "'post_sampling_probs' must be a boolean");
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"n_probs\":3,\"post_sampling_probs\":true}", &r, &err), 0);
    CHECK(r.post_sampling_probs && r.n_top_logprobs == 3);
    api_request_free(&r);
    check_refused("{\"prompt\":\"Hi\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}", "'tools' are only");
}

TEST(front_end_fields) {
    api_request r;
    api_error err;
    /* what front-ends send with every request: each sampler off */
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"typical_p\":1,\"mirostat\":0,\"dry_multiplier\":0,\"xtc_probability\":0,"
                       "\"dynatemp_range\":0,\"top_n_sigma\":-1,\"n_indent\":0,\"n_cmpl\":1,\"post_sampling_probs\":false}",
                       &r, &err),
                 0);
    api_request_free(&r);
    /* code completion's limits, the slot and cache reuse (engine.c and the batch apply them) */
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"n_indent\":4,\"t_max_predict_ms\":250,\"id_slot\":2,\"n_cache_reuse\":16}", &r, &err), 0);
    CHECK(r.n_indent == 4 && r.t_max_predict_ms == 250 && r.id_slot == 2 && r.n_cache_reuse == 16);
    api_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\"}", &r, &err), 0);
    CHECK(r.n_indent == 0 && r.t_max_predict_ms == 0 && r.id_slot == -1 && r.n_cache_reuse == -1);
    api_request_free(&r);
    check_refused("{\"prompt\":\"Hi\",\"n_indent\":\"on\"}", "'n_indent' must be an integer");
    check_refused("{\"prompt\":\"Hi\",\"n_indent\":-1}", "'n_indent' must be between 0");
    check_refused("{\"prompt\":\"Hi\",\"id_slot\":-2}", "'id_slot' must be between -1");
    check_refused("{\"prompt\":\"Hi\",\"n_cache_reuse\":-1}", "'n_cache_reuse' must be between 0");
}

/* The server's defaults (llama-server's sampling options as request fields): a body without a
 * field gets the default's, one with it keeps its own; max_tokens only without any token
 * limit of the body's; an out-of-range default is refused as the field would be. */
TEST(server_defaults) {
    api_request r;
    api_error err;
    json_t *d = json_pack("{s:f, s:i, s:i}", "temperature", 0.25, "top_k", 3, "max_tokens", 5);
    const char *bodies[] = {"{\"prompt\":\"Hi\"}", "{\"prompt\":\"Hi\",\"temperature\":0.9,\"n_predict\":2}",
                            "{\"prompt\":\"Hi\",\"max_completion_tokens\":4}"};
    const float temp[] = {0.25f, 0.9f, 0.25f};
    const int max_tokens[] = {5, 2, 4};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(api_parse_request(API_NATIVE, bodies[i], strlen(bodies[i]), 7, d, &r, &err), 0);
        CHECK_MSG(r.gen.sampling.temperature == temp[i] && r.gen.sampling.top_k == 3 && r.gen.max_tokens == max_tokens[i],
                  "body %d: temperature %g, top_k %d, max_tokens %d", i, r.gen.sampling.temperature, r.gen.sampling.top_k, r.gen.max_tokens);
        api_request_free(&r);
    }
    const char *chat = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}";
    CHECK_EQ_INT(api_parse_request(API_CHAT, chat, strlen(chat), 7, d, &r, &err), 0);
    CHECK(r.gen.sampling.temperature == 0.25f && r.gen.max_tokens == 5);
    api_request_free(&r);
    json_object_set_new(d, "temperature", json_real(3.0));
    CHECK_EQ_INT(api_parse_request(API_CHAT, chat, strlen(chat), 7, d, &r, &err), -1);
    CHECK(strstr(err.message, "'temperature' must be between 0 and 2") != NULL);
    json_decref(d);
}

/* llama-server's other samplers: read into gen.sampling_extra (defaults: off), on every route;
 * out-of-range values refused naming the field. */
TEST(other_samplers_read) {
    api_request r;
    api_error err;
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\"}", &r, &err), 0);
    bitnet_sampling_extra d = bitnet_sampling_extra_default_params();
    CHECK(memcmp(&r.gen.sampling_extra, &d, sizeof d) == 0);
    api_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"typical_p\":0.5,\"top_n_sigma\":1.5,\"xtc_probability\":0.25,\"xtc_threshold\":0.2,"
                       "\"dynatemp_range\":0.3,\"dynatemp_exponent\":2,\"mirostat\":2,\"mirostat_tau\":4,\"mirostat_eta\":0.2}",
                       &r, &err),
                 0);
    const bitnet_sampling_extra *x = &r.gen.sampling_extra;
    CHECK(x->typical_p == 0.5f && x->top_n_sigma == 1.5f && x->xtc_probability == 0.25f && x->xtc_threshold == 0.2f &&
          x->dynatemp_range == 0.3f && x->dynatemp_exponent == 2.0f && x->mirostat == 2 && x->mirostat_tau == 4.0f &&
          x->mirostat_eta == 0.2f);
    api_request_free(&r);
    api_request c;
    CHECK_EQ_INT(parse_as(API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"mirostat\":1}", &c, &err), 0);
    CHECK_EQ_INT(c.gen.sampling_extra.mirostat, 1);
    api_request_free(&c);
    check_refused("{\"prompt\":\"Hi\",\"mirostat\":3}", "'mirostat' must be between 0 and 2");
    check_refused("{\"prompt\":\"Hi\",\"typical_p\":0}", "'typical_p'");
    check_refused("{\"prompt\":\"Hi\",\"xtc_probability\":1.5}", "'xtc_probability'");
    check_refused("{\"prompt\":\"Hi\",\"mirostat_tau\":-1}", "'mirostat_tau'");
    check_refused("{\"prompt\":\"Hi\",\"mirostat\":\"on\"}", "'mirostat' must be an integer");
    /* DRY: its fields, the breakers (a copy the request owns), a dry_base below 1 is the default */
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"dry_multiplier\":0.8,\"dry_base\":0.5,\"dry_allowed_length\":3,\"dry_penalty_last_n\":-1,"
                       "\"dry_sequence_breakers\":[\"\\n\",\"END\"]}",
                       &r, &err),
                 0);
    CHECK(x->dry_multiplier == 0.8f && x->dry_base == 1.75f && x->dry_allowed_length == 3 && x->dry_penalty_last_n == INT32_MAX);
    CHECK(x->n_dry_sequence_breakers == 2 && !strcmp(x->dry_sequence_breakers[0], "\n") && !strcmp(x->dry_sequence_breakers[1], "END"));
    api_request_free(&r);
    /* [] is no breakers (a non-NULL list of 0: the library's "none"), as --dry-sequence-breaker none */
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"dry_sequence_breakers\":[]}", &r, &err), 0);
    CHECK(x->dry_sequence_breakers != NULL && x->n_dry_sequence_breakers == 0);
    api_request_free(&r);
    check_refused("{\"prompt\":\"Hi\",\"dry_sequence_breakers\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\","
                  "\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}",
                  "'dry_sequence_breakers' must be an array of 0 to 16");
    check_refused("{\"prompt\":\"Hi\",\"dry_sequence_breakers\":[\"a\",\"\"]}", "'dry_sequence_breakers[1]' must be a non-empty string");
    check_refused("{\"prompt\":\"Hi\",\"dry_sequence_breakers\":\"\\n\"}", "'dry_sequence_breakers' must be an array");
    check_refused("{\"prompt\":\"Hi\",\"dry_multiplier\":-1}", "'dry_multiplier'");
}

/* llama-server's "samplers": names in any of llama.cpp's spellings, or letters, in any order
 * (a name may repeat), into gen.samplers in our names (the library turns off the samplers left
 * out); unknown names skipped; more than 32 and infill refused; adaptive-p's fields read. */
TEST(sampler_order) {
    api_request r;
    api_error err;
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"repeat_penalty\":1.3,\"typical_p\":0.5,\"samplers\":[\"Top-K\",\"tfs_z\",\"nucleus\",\"temp\"]}", &r, &err), 0);
    CHECK(r.n_samplers == 3 && r.samplers[0] == BN_SAMPLER_TOP_K && r.samplers[1] == BN_SAMPLER_TOP_P &&
          r.samplers[2] == BN_SAMPLER_TEMPERATURE);
    CHECK(r.gen.samplers && strcmp(r.gen.samplers, "top_k;top_p;temperature") == 0);
    CHECK(r.gen.sampling.repeat_penalty == 1.3f && r.gen.sampling_extra.typical_p == 0.5f); /* as given: the library turns them off */
    api_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"samplers\":\"tkk\"}", &r, &err), 0);
    CHECK(r.n_samplers == 3 && r.gen.samplers && strcmp(r.gen.samplers, "temperature;top_k;top_k") == 0);
    api_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"samplers\":[]}", &r, &err), 0);
    CHECK(r.n_samplers == 0 && r.gen.samplers && r.gen.samplers[0] == '\0');
    api_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\"}", &r, &err), 0);
    CHECK(r.n_samplers == -1 && r.gen.samplers == NULL);
    api_request_free(&r);
    check_refused("{\"prompt\":\"Hi\",\"samplers\":\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"}", "more than 32 samplers");
    check_refused("{\"prompt\":\"Hi\",\"samplers\":[\"infill\"]}", "no infill sampler");
    check_refused("{\"prompt\":\"Hi\",\"samplers\":\"ki\"}", "no infill sampler");
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"samplers\":\"ka\",\"adaptive_target\":0.4,\"adaptive_decay\":0.5}", &r, &err), 0);
    CHECK(r.gen.samplers && strcmp(r.gen.samplers, "top_k;adaptive_p") == 0 && r.gen.adaptive_target == 0.4f && r.gen.adaptive_decay == 0.5f);
    api_request_free(&r);
    check_refused("{\"prompt\":\"Hi\",\"adaptive_target\":1.5}", "'adaptive_target'");
    check_refused("{\"prompt\":\"Hi\",\"samplers\":[1]}", "'samplers[0]' must be a string");
    check_refused("{\"prompt\":\"Hi\",\"samplers\":5}", "'samplers' must be an array");
}

/* Whether prompt i of r is the text `text` (one part). */
static bool is_text(const api_request *r, int i, const char *text) {
    return i < r->n_prompts && r->prompts[i].n_parts == 1 && r->prompts[i].parts[0].text && !strcmp(r->prompts[i].parts[0].text, text);
}

/* Whether prompt i of r is the token ids ids[0, n). */
static bool is_ids(const api_request *r, int i, const int32_t *ids, int n) {
    if (i >= r->n_prompts || r->prompts[i].n_parts != n) return false;
    for (int k = 0; k < n; k++)
        if (r->prompts[i].parts[k].text || r->prompts[i].parts[k].id != ids[k]) return false;
    return true;
}

/* llama-server's forms, on /completion and /v1/completions alike: one prompt (a string, ids,
 * ids and strings mixed), or several (an array holding no number: strings, id arrays, mixed
 * arrays, {"prompt_string"}), each with n completions, at most API_MAX_JOBS in all. */
TEST(prompt_forms) {
    static const api_kind kinds[] = {API_NATIVE, API_COMPLETION};
    static const int32_t ids567[] = {5, 6, 7}, ids1[] = {1}, ids2[] = {2, 3};
    for (size_t k = 0; k < 2; k++) {
        api_request r;
        api_error err;
        CHECK_EQ_INT(parse_as(kinds[k], "{\"prompt\":[\"Hi\"]}", &r, &err), 0);
        CHECK(r.n_prompts == 1 && r.several_prompts && is_text(&r, 0, "Hi"));
        api_request_free(&r);
        CHECK_EQ_INT(parse_as(kinds[k], "{\"prompt\":[5,6,7]}", &r, &err), 0);
        CHECK(r.n_prompts == 1 && !r.several_prompts && is_ids(&r, 0, ids567, 3));
        api_request_free(&r);
        CHECK_EQ_INT(parse_as(kinds[k], "{\"prompt\":[[5,6,7]]}", &r, &err), 0);
        CHECK(r.n_prompts == 1 && is_ids(&r, 0, ids567, 3));
        api_request_free(&r);
        CHECK_EQ_INT(parse_as(kinds[k], "{\"prompt\":[12,\"a b\",34,\"\"]}", &r, &err), 0);
        CHECK_EQ_INT(r.n_prompts, 1);
        CHECK(r.prompts[0].n_parts == 4 && !r.prompts[0].parts[0].text && r.prompts[0].parts[0].id == 12 &&
              !strcmp(r.prompts[0].parts[1].text, "a b") && r.prompts[0].parts[2].id == 34 && !strcmp(r.prompts[0].parts[3].text, ""));
        api_request_free(&r);
        CHECK_EQ_INT(parse_as(kinds[k], "{\"prompt\":[\"a\",[1],{\"prompt_string\":\"c\"},[2,3],[4,\"d\"]],\"n\":2}", &r, &err), 0);
        CHECK(r.n_prompts == 5 && r.several_prompts && r.n_choices == 2 && is_text(&r, 0, "a") && is_ids(&r, 1, ids1, 1) &&
              is_text(&r, 2, "c") && is_ids(&r, 3, ids2, 2) && r.prompts[4].n_parts == 2 && r.prompts[4].parts[0].id == 4);
        api_request_free(&r);
    }
    check_refused("{\"prompt\":[1,{\"prompt_string\":\"x\"}]}", "'prompt[1]' must be a token id or a string");
    check_refused("{\"prompt\":[[1],{\"x\":1}]}", "'prompt[1]' must be a string");
    check_refused("{\"prompt\":[[[1]]]}", "'prompt[0][0]' must be a token id or a string");
    check_refused("{\"prompt\":[\"a\",5.5]}", "'prompt[1]' must be a string");
    check_refused("{\"prompt\":[1,2.5]}", "'prompt[1]' must be a token id");
    check_refused("{\"prompt\":[1,\"a\",-3]}", "'prompt[2]' must be a token id or a string");
    check_refused("{\"prompt\":[]}", "'prompt' must not be empty");
    check_refused("{\"n_predict\":1}", "'prompt' must be");
    /* at most API_MAX_JOBS completions: prompts times n */
    char body[8192];
    int at = snprintf(body, sizeof body, "{\"n\":2,\"prompt\":[");
    for (int i = 0; i < API_MAX_JOBS / 2 + 1; i++) at += snprintf(body + at, sizeof body - (size_t)at, "%s\"p\"", i ? "," : "");
    snprintf(body + at, sizeof body - (size_t)at, "]}");
    check_refused(body, "ask for 258 completions; one request may ask for at most 256");
    body[5] = '1'; /* n 1: 129 prompts are fine */
    api_request r;
    api_error err;
    CHECK_EQ_INT(parse(body, &r, &err), 0);
    CHECK_EQ_INT(r.n_prompts, API_MAX_JOBS / 2 + 1);
    api_request_free(&r);
}

/* /v1/completions' legacy fields: echo (with logprobs too, not with post_sampling_probs), max_tokens 0, best_of (at least n,
 * not streamed), suffix only empty; the other routes leave them alone. */
TEST(legacy_completion_fields) {
    api_request r;
    api_error err;
    CHECK_EQ_INT(parse_as(API_COMPLETION, "{\"prompt\":\"Hi\",\"echo\":true,\"best_of\":2,\"n\":2,\"suffix\":\"\"}", &r, &err), 0);
    CHECK(r.echo && r.n_choices == 2 && r.best_of == 2);
    api_request_free(&r);
    CHECK_EQ_INT(parse_as(API_COMPLETION, "{\"prompt\":[\"a\",\"b\"],\"best_of\":4,\"n\":2}", &r, &err), 0);
    CHECK(r.n_choices == 2 && r.best_of == 4 && r.n_prompts == 2);
    api_request_free(&r);
    CHECK_EQ_INT(parse_as(API_COMPLETION, "{\"prompt\":\"Hi\",\"echo\":false,\"logprobs\":2,\"best_of\":null,\"suffix\":null}", &r, &err), 0);
    CHECK(!r.echo && r.n_top_logprobs == 2 && !r.prompt_only && r.gen.max_tokens == 0);
    api_request_free(&r);
    CHECK_EQ_INT(parse_as(API_COMPLETION, "{\"prompt\":[[1,2],[3]],\"echo\":true,\"logprobs\":1,\"max_tokens\":1}", &r, &err), 0);
    CHECK(r.echo && r.n_top_logprobs == 1 && r.n_prompts == 2);
    api_request_free(&r);
    /* max_tokens 0: the prompt only (one step runs, its token dropped); a chat still needs 1 */
    CHECK_EQ_INT(parse_as(API_COMPLETION, "{\"prompt\":\"Hi\",\"echo\":true,\"max_tokens\":0}", &r, &err), 0);
    CHECK(r.prompt_only && r.gen.max_tokens == 1 && r.echo);
    api_request_free(&r);
    CHECK_EQ_INT(parse_as(API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":0}", &r, &err), 400);
    static const refusal refused[] = {
        {"{\"prompt\":\"Hi\",\"echo\":true,\"logprobs\":0,\"post_sampling_probs\":true}", "'post_sampling_probs' does not apply"},
        {"{\"prompt\":\"Hi\",\"echo\":1}", "'echo' must be"},
        {"{\"prompt\":\"Hi\",\"best_of\":3,\"stream\":true}", "cannot be streamed"},
        {"{\"prompt\":\"Hi\",\"best_of\":1,\"n\":2}", "'best_of' = 1 must be at least 'n' (2)"},
        {"{\"prompt\":\"Hi\",\"best_of\":17}", "'best_of' must be"},
        {"{\"prompt\":\"Hi\",\"suffix\":\" end\"}", "'suffix'"},
        {"{\"prompt\":\"Hi\",\"suffix\":3}", "'suffix'"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) check_refused_as(API_COMPLETION, refused[i].text, refused[i].words);
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"echo\":true,\"best_of\":3,\"suffix\":\"x\"}", &r, &err), 0); /* /completion */
    CHECK(!r.echo);
    api_request_free(&r);
}

/* llama-server's chat rendering fields: add_generation_prompt, continue_final_message (true or
 * "content", with add_generation_prompt false, after an assistant message). */
TEST(chat_rendering_fields) {
    api_request r;
    api_error err;
    static const char user_then_assistant[] = "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"A\"}]";
    char body[512];
    CHECK_EQ_INT(parse_as(API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", &r, &err), 0);
    CHECK(!r.no_generation_prompt && !r.continue_final);
    api_request_free(&r);
    snprintf(body, sizeof body, "{%s,\"add_generation_prompt\":false,\"continue_final_message\":\"content\"}", user_then_assistant);
    CHECK_EQ_INT(parse_as(API_CHAT, body, &r, &err), 0);
    CHECK(r.no_generation_prompt && r.continue_final);
    api_request_free(&r);
    snprintf(body, sizeof body, "{%s,\"add_generation_prompt\":false,\"continue_final_message\":false}", user_then_assistant);
    CHECK_EQ_INT(parse_as(API_CHAT, body, &r, &err), 0);
    CHECK(r.no_generation_prompt && !r.continue_final);
    api_request_free(&r);
    static const refusal refused[] = {
        {"\"continue_final_message\":true", "set 'add_generation_prompt' to false"},
        {"\"add_generation_prompt\":false,\"continue_final_message\":\"reasoning_content\"", "no reasoning content"},
        {"\"add_generation_prompt\":false,\"continue_final_message\":2", "must be true, false or \"content\""},
        {"\"add_generation_prompt\":\"no\"", "'add_generation_prompt' must be"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(body, sizeof body, "{%s,%s}", user_then_assistant, refused[i].text);
        check_refused_as(API_CHAT, body, refused[i].words);
    }
    check_refused_as(API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"add_generation_prompt\":false,\"continue_final_message\":true}",
                     "ends with an assistant message");
}

/* best_of's ranking: per prompt, the choices with the highest mean token log-probability, best
 * first (a tie keeps the earlier, no tokens ranks last), re-indexed, logprobs dropped unless asked. */
TEST(best_of_keeps_the_best) {
    json_t *reply = json_loads("{\"choices\":["
                               "{\"index\":0,\"text\":\"a0\",\"logprobs\":{\"token_logprobs\":[-1,-3]}},"
                               "{\"index\":1,\"text\":\"a1\",\"logprobs\":{\"token_logprobs\":[-0.5]}},"
                               "{\"index\":2,\"text\":\"a2\",\"logprobs\":{\"token_logprobs\":[-2,-2,-2]}},"
                               "{\"index\":3,\"text\":\"b0\",\"logprobs\":{\"token_logprobs\":[]}},"
                               "{\"index\":4,\"text\":\"b1\",\"logprobs\":{\"token_logprobs\":[-4]}},"
                               "{\"index\":5,\"text\":\"b2\",\"logprobs\":{\"token_logprobs\":[-4]}}],"
                               "\"usage\":{\"completion_tokens\":8}}", 0, NULL);
    CHECK(reply != NULL);
    json_t *copy = json_deep_copy(reply);
    api_response_keep_best(reply, 3, 2, false, NULL);
    json_t *c = json_object_get(reply, "choices");
    static const char *const want[] = {"a1", "a0", "b1", "b2"};
    CHECK_EQ_INT((int)json_array_size(c), 4);
    for (size_t i = 0; i < 4 && i < json_array_size(c); i++) {
        json_t *ch = json_array_get(c, i);
        CHECK_STR(json_string_value(json_object_get(ch, "text")), want[i]);
        CHECK_EQ_INT((int)json_integer_value(json_object_get(ch, "index")), (int)i);
        CHECK(json_is_null(json_object_get(ch, "logprobs")));
    }
    CHECK_EQ_INT((int)json_integer_value(json_object_get(json_object_get(reply, "usage"), "completion_tokens")), 8);
    api_response_keep_best(copy, 3, 1, true, NULL); /* logprobs kept when asked */
    c = json_object_get(copy, "choices");
    CHECK(json_array_size(c) == 2 && json_is_object(json_object_get(json_array_get(c, 0), "logprobs")));
    CHECK_STR(json_string_value(json_object_get(json_array_get(c, 1), "text")), "b1");
    json_decref(reply);
    json_decref(copy);
    /* echo with logprobs: each prompt's first entries are its prompt's, left out of the mean (with
     * them the other choices would win) */
    reply = json_loads("{\"choices\":["
                       "{\"text\":\"p0\",\"logprobs\":{\"token_logprobs\":[null,-9,-1]}},"
                       "{\"text\":\"p1\",\"logprobs\":{\"token_logprobs\":[null,-0.1,-2]}},"
                       "{\"text\":\"q0\",\"logprobs\":{\"token_logprobs\":[null,-2.5]}},"
                       "{\"text\":\"q1\",\"logprobs\":{\"token_logprobs\":[null,-1,-3.5]}}]}", 0, NULL);
    int prompt_tokens[2] = {2, 1};
    api_response_keep_best(reply, 2, 1, true, prompt_tokens);
    c = json_object_get(reply, "choices");
    CHECK(json_array_size(c) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(c, 0), "text")), "p0");
    CHECK_STR(json_string_value(json_object_get(json_array_get(c, 1), "text")), "q1"); /* (-1 - 3.5) / 2 over -2.5 (not so with the prompt's) */
    json_decref(reply);
}

TEST(logit_bias_strings) {
    api_request r;
    api_error err;
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"logit_bias\":[[15,-1],[\" Hello\",false],[\"x\",2.5]]}", &r, &err), 0);
    CHECK(r.n_logit_bias == 1 && r.logit_bias[0].token == 15 && r.logit_bias[0].bias == -1.0f);
    CHECK(r.gen.logit_bias == r.logit_bias && r.gen.n_logit_bias == 1);
    CHECK_EQ_INT(r.n_bias_texts, 2);
    CHECK(!strcmp(r.bias_texts[0].text, " Hello") && isinf(r.bias_texts[0].bias) && r.bias_texts[0].bias < 0);
    CHECK(!strcmp(r.bias_texts[1].text, "x") && r.bias_texts[1].bias == 2.5f);
    api_request_free(&r);
    /* object keys: a whole number is a token id, anything else a string (llama-server's strtol) */
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"logit_bias\":{\"7\":1,\"7a\":2,\"hello\":false}}", &r, &err), 0);
    CHECK(r.n_logit_bias == 1 && r.logit_bias[0].token == 7);
    CHECK(r.n_bias_texts == 2 && !strcmp(r.bias_texts[0].text, "7a") && !strcmp(r.bias_texts[1].text, "hello"));
    api_request_free(&r);
    check_refused("{\"prompt\":\"Hi\",\"logit_bias\":[[1,1],[\"\",1]]}", "'logit_bias[1]': an empty string has no tokens");
    check_refused("{\"prompt\":\"Hi\",\"logit_bias\":{\"\":1}}", "'logit_bias' key \"\": an empty string");
    check_refused("{\"prompt\":\"Hi\",\"logit_bias\":{\"-3\":1}}", "'logit_bias' key \"-3\" is not a token id");
    check_refused("{\"prompt\":\"Hi\",\"logit_bias\":[[\"a\",\"x\"]]}", "'logit_bias[0]' must be a number");
    check_refused("{\"prompt\":\"Hi\",\"logit_bias\":[[1.5,1]]}", "'logit_bias[0]' must be a pair [token id or string, bias]");
}


/* OpenAI's "n" on chat and completions (1..API_MAX_CHOICES, streamed too); /completion's
 * llama-server n_cmpl, "n" its alias. */
TEST(choices) {
    api_request r;
    api_error err;
    CHECK_EQ_INT(parse_as(API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"n\":3}", &r, &err), 0);
    CHECK_EQ_INT(r.n_choices, 3);
    api_request_free(&r);
    CHECK_EQ_INT(parse_as(API_COMPLETION, "{\"prompt\":\"Hi\"}", &r, &err), 0);
    CHECK_EQ_INT(r.n_choices, 1);
    api_request_free(&r);
    CHECK_EQ_INT(parse_as(API_COMPLETION, "{\"prompt\":\"Hi\",\"n\":17}", &r, &err), 400);
    CHECK(strstr(err.message, "'n' must be between 1 and 16") != NULL);
    CHECK_EQ_INT(parse_as(API_COMPLETION, "{\"prompt\":\"Hi\",\"n\":2,\"stream\":true}", &r, &err), 0);
    CHECK(r.n_choices == 2 && r.stream);
    api_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"n_cmpl\":3,\"n\":2}", &r, &err), 0); /* n_cmpl first */
    CHECK_EQ_INT(r.n_choices, 3);
    api_request_free(&r);
    CHECK_EQ_INT(parse("{\"prompt\":\"Hi\",\"n\":2}", &r, &err), 0);
    CHECK_EQ_INT(r.n_choices, 2);
    api_request_free(&r);
    check_refused("{\"prompt\":\"Hi\",\"n_cmpl\":17}", "'n_cmpl' must be between 1 and 16");
}

TEST_MAIN_BEGIN("test_server_native")
    RUN(defaults_are_llama_servers);
    RUN(n_predict_and_its_aliases);
    RUN(probabilities_and_other_fields);
    RUN(front_end_fields);
    RUN(server_defaults);
    RUN(other_samplers_read);
    RUN(sampler_order);
    RUN(prompt_forms);
    RUN(legacy_completion_fields);
    RUN(best_of_keeps_the_best);
    RUN(chat_rendering_fields);
    RUN(logit_bias_strings);
RUN(choices);
TEST_MAIN_END()
