/* sampler_order: llama.cpp's sampler names and the chains callers name (see sampler_order.h). */
#include "text/sampler_order.h"

#include <ctype.h>
#include <string.h>

#include "util.h"

const char *const bn_sampler_kind_names[BN_N_SAMPLER_KINDS + 1] = {"penalties", "dry",   "top_n_sigma", "top_k",       "typ_p",
                                                                    "top_p",     "min_p", "xtc",         "temperature", "adaptive_p"};

int bn_sampler_kind_of_name(const char *name) {
    char lower[32];
    size_t n = strlen(name);
    if (n >= sizeof lower) return BN_SAMPLER_UNKNOWN;
    for (size_t i = 0; i <= n; i++) lower[i] = (char)tolower((unsigned char)name[i]);
    for (int k = 0; k <= BN_SAMPLER_ADAPTIVE_P; k++) {
        char kebab[32], bare[32];
        size_t b = 0, i = 0;
        for (; bn_sampler_kind_names[k][i]; i++) {
            char ch = bn_sampler_kind_names[k][i];
            kebab[i] = ch == '_' ? '-' : ch;
            if (ch != '_') bare[b++] = ch;
        }
        kebab[i] = bare[b] = '\0';
        if (!strcmp(lower, bn_sampler_kind_names[k]) || !strcmp(lower, kebab) || !strcmp(lower, bare)) return k;
    }
    if (!strcmp(lower, "nucleus")) return BN_SAMPLER_TOP_P;
    if (!strcmp(lower, "temp")) return BN_SAMPLER_TEMPERATURE;
    if (!strcmp(lower, "typ")) return BN_SAMPLER_TYP_P;
    return !strcmp(lower, "infill") ? BN_SAMPLER_NOT_OFFERED : BN_SAMPLER_UNKNOWN;
}

int bn_sampler_kind_of_char(char c) {
    static const char letters[BN_SAMPLER_ADAPTIVE_P + 2] = "edskypmxta";
    const char *at = c ? strchr(letters, c) : NULL;
    return at ? (int)(at - letters) : c == 'i' ? BN_SAMPLER_NOT_OFFERED : BN_SAMPLER_UNKNOWN;
}

int bn_sampler_kinds_append(unsigned char *kinds, int *n, int kind) {
    if (*n >= BN_SAMPLER_ORDER_MAX) return 1;
    kinds[(*n)++] = (unsigned char)kind;
    return 0;
}

void bn_sampler_kinds_join(const unsigned char *kinds, int n, char *out) {
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < n && i < BN_SAMPLER_ORDER_MAX; i++) {
        size_t len = strlen(bn_sampler_kind_names[kinds[i]]);
        if (i) out[at++] = ';';
        memcpy(out + at, bn_sampler_kind_names[kinds[i]], len + 1);
        at += len;
    }
}

int bn_sampler_kinds_parse(const char *list, unsigned char *kinds, int *n) {
    const int bad = BITNET_ERR_INVALID_ARGUMENT;
    *n = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ";");
        char name[32];
        if (len >= sizeof name) return bn_error(bad, "samplers: '%.*s...' is not a sampler", 31, p);
        memcpy(name, p, len);
        name[len] = '\0';
        int kind = bn_sampler_kind_of_name(name);
        if (kind == BN_SAMPLER_NOT_OFFERED) return bn_error(bad, "samplers: this engine has no '%s' sampler", name);
        if (kind < 0)
            return bn_error(bad, "samplers: '%s' is not a sampler (penalties, dry, top_n_sigma, top_k, typ_p, top_p, min_p, xtc, temperature, "
                            "adaptive_p)", name);
        if (bn_sampler_kinds_append(kinds, n, kind)) return bn_error(bad, "samplers: more than %d names", BN_SAMPLER_ORDER_MAX);
        p += len + (p[len] == ';');
    }
    return 0;
}

bool bn_sampler_kinds_in_default_order(const unsigned char *kinds, int n) {
    for (int i = 0, last = -1; i < n; i++) {
        int k = kinds[i];
        if (k == BN_SAMPLER_ADAPTIVE_P) continue;
        if (k <= last) return false;
        last = k;
    }
    return true;
}

bool bn_sampler_kinds_take_adaptive(unsigned char *kinds, int *n) {
    int m = 0;
    for (int i = 0; i < *n; i++)
        if (kinds[i] != BN_SAMPLER_ADAPTIVE_P) kinds[m++] = kinds[i];
    bool taken = m < *n;
    *n = m;
    return taken;
}

/* Turns one kind off. */
static void leave_out(bitnet_generate_params *gp, int kind) {
    bitnet_sampling_params *s = &gp->sampling;
    bitnet_sampling_extra *x = &gp->sampling_extra;
    switch (kind) {
    case BN_SAMPLER_PENALTIES: s->repeat_penalty = 1.0f, s->presence_penalty = s->frequency_penalty = 0.0f; break;
    case BN_SAMPLER_DRY: x->dry_multiplier = 0.0f; break;
    case BN_SAMPLER_TOP_N_SIGMA: x->top_n_sigma = -1.0f; break;
    case BN_SAMPLER_TOP_K: s->top_k = 0; break;
    case BN_SAMPLER_TYP_P: x->typical_p = 1.0f; break;
    case BN_SAMPLER_TOP_P: s->top_p = 1.0f; break;
    case BN_SAMPLER_MIN_P: s->min_p = 0.0f; break;
    case BN_SAMPLER_XTC: x->xtc_probability = 0.0f; break;
    default: s->temperature = 1.0f, x->dynatemp_range = 0.0f; break;
    }
}

void bn_sampler_keep_only(bitnet_generate_params *gp, const unsigned char *kinds, int n) {
    if (gp->sampling_extra.mirostat) return;
    bool named[BN_N_SAMPLER_KINDS + 1] = {false};
    for (int i = 0; i < n; i++) named[kinds[i]] = true;
    for (int k = 0; k < BN_N_SAMPLER_KINDS; k++)
        if (!named[k]) leave_out(gp, k);
}
