/* util: last-error state, float conversions, allocation helpers, clock. See util.h. */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* The only mutable global state of the library: each thread's last error. */
static _Thread_local char tls_error_message[1024];
static _Thread_local int tls_error_status;

int bn_error(int status, const char *fmt, ...) {
    /* Format into a local buffer first: callers may pass bn_last_error_message() as an
     * argument to wrap the previous error with context. */
    char buf[sizeof tls_error_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(tls_error_message, buf, sizeof buf);
    tls_error_status = status;
    return status;
}

const char *bn_last_error_message(void) { return tls_error_message; }
int bn_last_error_status(void) { return tls_error_status; }

void bn_clear_error(void) {
    tls_error_message[0] = '\0';
    tls_error_status = 0;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float bn_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13)); /* inf / NaN */
    if (exp != 0) return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return bits_f32(sign);
    /* subnormal half: mant * 2^-24 is exact in float */
    float v = (float)mant * 5.9604644775390625e-8f;
    return sign ? -v : v;
}

uint16_t bn_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf or NaN */
        return (uint16_t)(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0));
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds past 65504: inf */
    if (abs < 0x38800000u) {                                  /* below 2^-14: subnormal */
        /* value / 2^-24, rounded to nearest even; float arithmetic is exact enough here
         * because the result has at most 10 significant bits. */
        float scaled = bits_f32(abs) * 16777216.0f;
        uint32_t q = (uint32_t)scaled;
        float rem = scaled - (float)q;
        if (rem > 0.5f || (rem == 0.5f && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t mant = abs & 0x7fffff;
    uint32_t exp = (abs >> 23) - 112;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++; /* carries into exponent correctly */
    return (uint16_t)(sign | h);
}

float bn_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t bn_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

double bn_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void *bn_malloc(size_t n, const char *what) {
    void *p = malloc(n ? n : 1);
    if (!p) bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *bn_malloc_lines(size_t n, const char *what) {
    void *p = NULL;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (rounded < n || posix_memalign(&p, 64, rounded ? rounded : 64) != 0) {
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s", n, what);
        return NULL;
    }
    return p;
}

void *bn_calloc(size_t count, size_t size, const char *what) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory allocating %zu x %zu bytes for %s", count, size, what);
    return p;
}

enum { HUGE_PAGE = 2u << 20 };

static size_t huge_rounded(size_t n) { return (n + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1); }

void *bn_malloc_large(size_t n, const char *what) {
#ifdef BN_ASAN_BUILD
    return bn_malloc_lines(n, what);
#endif
    size_t len = huge_rounded(n ? n : 1), span = len + HUGE_PAGE;
    char *p = len < n || span < len ? MAP_FAILED : mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        bn_error(BITNET_ERR_OUT_OF_MEMORY, "out of memory mapping %zu bytes for %s", n, what);
        return NULL;
    }
    /* keep the 2 MiB-aligned len bytes inside the span; unmap the rest */
    char *start = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (start > p) munmap(p, (size_t)(start - p));
    if (start + len < p + span) munmap(start + len, (size_t)(p + span - (start + len)));
#ifdef MADV_HUGEPAGE
    madvise(start, len, MADV_HUGEPAGE); /* a hint: without THP the buffer still works */
#endif
    return start;
}

void bn_free_large(void *p, size_t n) {
#ifdef BN_ASAN_BUILD
    free(p);
    return;
#endif
    if (p) munmap(p, huge_rounded(n ? n : 1));
}

char *bn_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = bn_malloc(n, "string");
    if (p) memcpy(p, s, n);
    return p;
}
