/* cpu: feature detection (x86-64: CPUID + XGETBV + Linux's AMX permission; aarch64: the
 * kernel's hardware capability bits), the tier cap from BITNET_FORCE_TIER, and the
 * read-bandwidth probe. See cpu.h. */
#include "kernels/cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define BN_X86 1
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

static const char *const tier_names[BN_TIER_COUNT] = {"scalar", "avx2", "avxvnni", "avx512", "amx", "neon", "dotprod"};

typedef struct cpu_state {
    bool has[BN_TIER_COUNT];
    bool amd;      /* cpuid vendor "AuthenticAMD" */
    int amd_family; /* bn_cpu_amd_family */
    int head_rows; /* bn_cpu_head_rows */
    bn_cpu_tier best, active;
    char features[256];
    char note[160];
} cpu_state;

/* Written once under pthread_once, read-only afterwards. */
static cpu_state g_cpu;
static pthread_once_t g_cpu_once = PTHREAD_ONCE_INIT;

const char *bn_cpu_tier_name(bn_cpu_tier t) {
    return (unsigned)t < BN_TIER_COUNT ? tier_names[t] : "?";
}

bool bn_cpu_tier_parse(const char *name, bn_cpu_tier *out) {
    for (int t = 0; name && t < BN_TIER_COUNT; t++)
        if (strcmp(name, tier_names[t]) == 0) {
            *out = (bn_cpu_tier)t;
            return true;
        }
    return false;
}

static void add_feature(cpu_state *s, const char *name) {
    size_t len = strlen(s->features);
    if (len + strlen(name) + 2 >= sizeof s->features) return;
    if (len) strcat(s->features, ",");
    strcat(s->features, name);
}

#ifdef BN_X86
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Linux keeps the 8 KiB AMX tile state off until a process asks (ARCH_REQ_XCOMP_PERM). */
static bool request_amx_permission(void) {
#if defined(__linux__) && defined(__x86_64__)
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return false;
#endif
}

static void detect_x86(cpu_state *s) {
    unsigned a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d)) s->amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u; /* "Auth" "enti" "cAMD" */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int base_family = (int)((a >> 8) & 0xf); /* extended family added only when the base is 0xf */
    if (s->amd) s->amd_family = base_family + (base_family == 0xf ? (int)((a >> 20) & 0xff) : 0);
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!osxsave || !avx) return;
    uint64_t xcr0 = read_xcr0();
    bool ymm_os = (xcr0 & 0x6) == 0x6;          /* SSE + AVX state */
    bool zmm_os = (xcr0 & 0xe6) == 0xe6;        /* + opmask, ZMM_Hi256, Hi16_ZMM */
    bool tile_os = (xcr0 & 0x60000) == 0x60000; /* XTILECFG + XTILEDATA */
    unsigned b7 = 0, c7 = 0, d7 = 0, a71 = 0;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b7, c7, d7);
        unsigned b71, c71, d71;
        __cpuid_count(7, 1, a71, b71, c71, d71);
    }
    bool avx2 = b7 & (1u << 5), f512 = b7 & (1u << 16), dq = b7 & (1u << 17);
    bool bw = b7 & (1u << 30), vl = b7 & (1u << 31);
    bool vbmi = c7 & (1u << 1), vnni512 = c7 & (1u << 11);
    bool amx_tile = d7 & (1u << 24), amx_int8 = d7 & (1u << 25);
    bool avxvnni = a71 & (1u << 4);
    const struct { bool on; const char *name; } seen[] = {
        {avx2, "avx2"}, {fma, "fma"}, {f16c, "f16c"}, {avxvnni, "avx-vnni"}, {f512, "avx512f"},
        {bw, "avx512bw"}, {vl, "avx512vl"}, {dq, "avx512dq"}, {vnni512, "avx512vnni"},
        {vbmi, "avx512vbmi"}, {amx_tile, "amx-tile"}, {amx_int8, "amx-int8"},
    };
    for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++)
        if (seen[i].on) add_feature(s, seen[i].name);
    s->has[BN_TIER_AVX2] = ymm_os && avx2 && fma && f16c;
    s->has[BN_TIER_AVXVNNI] = s->has[BN_TIER_AVX2] && avxvnni;
    s->has[BN_TIER_AVX512] = s->has[BN_TIER_AVX2] && zmm_os && f512 && bw && vl && dq && vnni512 && vbmi;
    s->has[BN_TIER_AMX] = s->has[BN_TIER_AVX512] && tile_os && amx_tile && amx_int8 && request_amx_permission();
}
#endif

#if defined(__aarch64__)
/* Linux: the kernel's HWCAP bits (getauxval). macOS (not built or tested here: no Apple
 * machine) has no auxv; the same facts come from sysctlbyname's hw.optional.* keys. Other
 * systems: Advanced SIMD only (the compiler's aarch64 baseline assumes it anyway). */
static bool arm_feature(const char *name, unsigned long hwcap_bit, bool in_hwcap2) {
#if defined(__linux__)
    (void)name;
    return (getauxval(in_hwcap2 ? AT_HWCAP2 : AT_HWCAP) & hwcap_bit) != 0;
#elif defined(__APPLE__)
    (void)hwcap_bit, (void)in_hwcap2;
    int v = 0;
    size_t len = sizeof v;
    return sysctlbyname(name, &v, &len, NULL, 0) == 0 && v != 0;
#else
    (void)name, (void)in_hwcap2;
    return hwcap_bit == (1ul << 1);
#endif
}

static void detect_arm(cpu_state *s) {
    /* HWCAP_ASIMD, HWCAP_ASIMDDP, HWCAP2_I8MM (asm/hwcap.h), spelled out for older headers */
    bool asimd = arm_feature("hw.optional.AdvSIMD", 1ul << 1, false);
    bool dotprod = arm_feature("hw.optional.arm.FEAT_DotProd", 1ul << 20, false);
    bool i8mm = arm_feature("hw.optional.arm.FEAT_I8MM", 1ul << 13, true);
    const struct { bool on; const char *name; } seen[] = {{asimd, "asimd"}, {dotprod, "asimddp"}, {i8mm, "i8mm"}};
    for (size_t i = 0; i < sizeof seen / sizeof seen[0]; i++)
        if (seen[i].on) add_feature(s, seen[i].name);
    s->has[BN_TIER_NEON] = asimd;
    s->has[BN_TIER_DOTPROD] = asimd && dotprod;
}
#endif

/* Tiers of one architecture: capping never crosses from one order to the other. */
static bool same_arch(int a, int b) { return (a >= BN_TIER_NEON) == (b >= BN_TIER_NEON); }

static bn_cpu_tier capped(const cpu_state *s, bn_cpu_tier cap) {
    for (int t = cap; t > BN_TIER_SCALAR; t--)
        if (s->has[t] && same_arch(t, cap)) return (bn_cpu_tier)t;
    return BN_TIER_SCALAR;
}

static void detect_once(void) {
    cpu_state *s = &g_cpu;
    s->has[BN_TIER_SCALAR] = true;
#ifdef BN_X86
    detect_x86(s);
#endif
#if defined(__aarch64__)
    detect_arm(s);
#endif
    const char *rows = getenv("BITNET_HEAD_ROWS");
    s->head_rows = rows && !strcmp(rows, "1") ? 1 : rows && !strcmp(rows, "4") ? 4 : s->amd ? 1 : 4;
    s->best = capped(s, BN_TIER_AMX);
    if (s->best == BN_TIER_SCALAR) s->best = capped(s, BN_TIER_DOTPROD);
    s->active = s->best;
    const char *force = getenv("BITNET_FORCE_TIER");
    if (!force || !*force) return;
    bn_cpu_tier want;
    if (!bn_cpu_tier_parse(force, &want)) {
        snprintf(s->note, sizeof s->note, "BITNET_FORCE_TIER=%.24s is not a tier name (scalar|avx2|avxvnni|avx512|amx|neon|dotprod); using %s",
                 force, tier_names[s->best]);
        return;
    }
    s->active = capped(s, want);
    if (s->active != want)
        snprintf(s->note, sizeof s->note, "BITNET_FORCE_TIER=%s is not available on this CPU; using %s",
                 tier_names[want], tier_names[s->active]);
}

static const cpu_state *state(void) {
    pthread_once(&g_cpu_once, detect_once);
    return &g_cpu;
}

bool bn_cpu_has_tier(bn_cpu_tier t) { return (unsigned)t < BN_TIER_COUNT && state()->has[t]; }
bn_vec_isa bn_cpu_vec_isa(bn_cpu_tier t) {
    if (!bn_cpu_has_tier(t)) return BN_VEC_NONE;
    switch (t) {
    case BN_TIER_AVX2: case BN_TIER_AVXVNNI: return BN_VEC_AVX2;
    case BN_TIER_AVX512: case BN_TIER_AMX: return BN_VEC_AVX512;
    case BN_TIER_NEON: case BN_TIER_DOTPROD: return BN_VEC_NEON;
    default: return BN_VEC_NONE;
    }
}
bn_cpu_tier bn_cpu_best_tier(void) { return state()->best; }
bn_cpu_tier bn_cpu_active_tier(void) { return state()->active; }
bn_cpu_tier bn_cpu_tier_capped(bn_cpu_tier cap) {
    if ((unsigned)cap >= BN_TIER_COUNT) return state()->best;
    return capped(state(), cap);
}
const char *bn_cpu_tier_note(void) { return state()->note; }
const char *bn_cpu_features(void) { return state()->features; }
int bn_cpu_head_rows(void) { return state()->head_rows; }
int bn_cpu_amd_family(void) { return state()->amd_family; }

/* ---- read bandwidth ---- */

typedef struct read_job {
    const uint64_t *p;
    size_t words;
    int streams;   /* the share is read as this many equal parts, interleaved line by line */
    bool prefetch; /* each line read comes with a prefetch 2 KiB ahead in its part */
    uint64_t sink;
    pthread_t th;
} read_job;

/* Sixteen-byte vector sums (SSE2 in the baseline build), four independent ones per 64-byte
 * line, each a named local so that it lives in a register: enough loads in flight to be
 * limited by memory, not by the core. (The earlier scalar 8-byte loop topped out near 4 GB/s
 * on 2 threads of a machine that streams 20+ GB/s; a later version summed into an array that
 * gcc kept on the stack, a load-add-store chain per 16 bytes that capped it at ~24 GB/s per
 * core, 45 GB/s on a 2-core Zen 5 VM that streams ~75: either made kernels look like they
 * beat the "bandwidth".) */
typedef uint64_t bn_v2u64 __attribute__((vector_size(16)));

static void *read_words(void *arg) {
    read_job *j = arg;
    bn_v2u64 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    size_t part = j->words / (size_t)j->streams / 8 * 8; /* whole lines per part */
    for (size_t i = 0; i < part; i += 8)
        for (int st = 0; st < j->streams; st++) {
            const uint64_t *line = j->p + (size_t)st * part + i;
            if (j->prefetch) __builtin_prefetch(line + 256, 0, 3);
            bn_v2u64 v0, v1, v2, v3;
            memcpy(&v0, line, sizeof v0);
            memcpy(&v1, line + 2, sizeof v1);
            memcpy(&v2, line + 4, sizeof v2);
            memcpy(&v3, line + 6, sizeof v3);
            s0 += v0;
            s1 += v1;
            s2 += v2;
            s3 += v3;
        }
    uint64_t sum = 0;
    for (size_t i = part * (size_t)j->streams; i < j->words; i++) sum += j->p[i];
    bn_v2u64 s = s0 + s1 + s2 + s3;
    j->sink = sum + s[0] + s[1];
    return NULL;
}

/* Read patterns tried, the best pass of all counting: one sequential stream per thread (what
 * the hardware prefetcher alone sustains), 2 interleaved streams without and with software
 * prefetch, and 4 or 8 with it. On the 2-core Intel VM the first gave ~14.5 GB/s and the
 * prefetched ones 21-25 GB/s: a one-pattern probe under-reads the machine by a third. On the
 * 2-core Zen 5 VM (2026-12-05) one stream gave ~65 GB/s, the others 70-78. */
static const struct { int streams; bool prefetch; } read_patterns[] = {{1, false}, {2, false}, {2, true}, {4, true}, {8, true}};

double bn_measure_read_bandwidth(uint64_t bytes, int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 256) n_threads = 256;
    size_t words = (size_t)(bytes / 8);
    if (words < 1024) words = 1024;
    uint64_t *buf = bn_malloc(words * 8, "bandwidth probe buffer");
    read_job *jobs = bn_calloc((size_t)n_threads, sizeof *jobs, "bandwidth probe jobs");
    if (!buf || !jobs) {
        free(buf);
        free(jobs);
        return -1.0;
    }
    for (size_t i = 0; i < words; i++) buf[i] = i * 0x9e3779b97f4a7c15ull;
    double best = 0.0;
    uint64_t sink = 0;
    const int n_patterns = (int)(sizeof read_patterns / sizeof read_patterns[0]);
    for (int pass = 0; pass < 2 * n_patterns; pass++) {
        double t0 = bn_time_now();
        for (int i = 0; i < n_threads; i++) {
            size_t w0 = words * (size_t)i / (size_t)n_threads, w1 = words * (size_t)(i + 1) / (size_t)n_threads;
            jobs[i].p = buf + w0;
            jobs[i].words = w1 - w0;
            jobs[i].streams = read_patterns[pass % n_patterns].streams;
            jobs[i].prefetch = read_patterns[pass % n_patterns].prefetch;
            if (i > 0 && pthread_create(&jobs[i].th, NULL, read_words, &jobs[i]) != 0) jobs[i].th = 0;
        }
        read_words(&jobs[0]);
        for (int i = 1; i < n_threads; i++) {
            if (jobs[i].th) pthread_join(jobs[i].th, NULL);
            else read_words(&jobs[i]); /* could not start a thread: read its share here */
            sink += jobs[i].sink;
        }
        sink += jobs[0].sink;
        double dt = bn_time_now() - t0;
        if (dt > 0 && (double)words * 8 / dt > best) best = (double)words * 8 / dt;
    }
    free(buf);
    free(jobs);
    /* The sums are stored to a volatile so that the compiler cannot drop the reads. */
    volatile uint64_t keep = sink;
    (void)keep;
    return best / 1e9;
}

/* POSIX enough for Linux and macOS. On Apple silicon this counts efficiency cores too; a
 * macOS port may prefer sysctlbyname("hw.perflevel0.logicalcpu") (performance cores only). */
int bn_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
