/* util: the library's error reporting (the one thread-local last error), half/bfloat16
 * conversion, overflow-checked size arithmetic and a monotonic clock. Everything else in the
 * library reports failures through bn_error(), which records a status code and a message. */
#ifndef BITNET_UTIL_H
#define BITNET_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bitnet.h"

/* AddressSanitizer builds (gcc's __SANITIZE_ADDRESS__, clang's __has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define BN_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BN_ASAN_BUILD 1
#endif
#endif

#if defined(__GNUC__)
#define BN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define BN_PRINTF(f, a)
#endif

/* Records `status` and a printf-style message as this thread's last error; returns `status`
 * so that callers can write `return bn_error(BITNET_ERR_..., "...")`. */
int bn_error(int status, const char *fmt, ...) BN_PRINTF(2, 3);
/* The last error's message ("" when none) and status (0 when none). */
const char *bn_last_error_message(void);
int bn_last_error_status(void);
void bn_clear_error(void);

/* IEEE half and bfloat16 <-> float. bn_f32_to_f16 rounds to nearest even, saturating to inf;
 * bn_f32_to_bf16 rounds to nearest even and keeps NaN a NaN. */
float bn_f16_to_f32(uint16_t h);
uint16_t bn_f32_to_f16(float f);
float bn_bf16_to_f32(uint16_t h);
uint16_t bn_f32_to_bf16(float f);

/* Overflow-checked arithmetic: return false (and leave *out unspecified) on overflow. */
static inline bool bn_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool bn_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* splitmix64's finalizer: spreads any value over all 64 bits (neighbouring inputs give
 * unrelated outputs). */
static inline uint64_t bn_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Seconds from an arbitrary fixed point (CLOCK_MONOTONIC). */
double bn_time_now(void);

/* malloc/calloc that set BITNET_ERR_OUT_OF_MEMORY (naming `what`) on failure. */
void *bn_malloc(size_t n, const char *what);
void *bn_calloc(size_t count, size_t size, const char *what);
/* bn_malloc aligned to a 64-byte cache line, its size rounded up to whole lines (free with
 * free()): for buffers the kernels read with 64-byte vector loads, which are slower when they
 * straddle two lines (the screened head's pass ran ~1.4x slower in cache). */
void *bn_malloc_lines(size_t n, const char *what);
/* A large buffer written whole at once (the prompt cache's KV images, the kernels' tiles, the
 * screened head's copy): an anonymous mapping aligned to 2 MiB with transparent huge pages
 * asked for (MADV_HUGEPAGE; THP's "madvise" mode, the common default, gives them only when
 * asked). Filling 115 MB of fresh memory took ~325 ms of 4 KiB page faults on the Zen 5 VM of
 * 2026-12-07 against ~23 ms in huge pages. Under AddressSanitizer (BN_ASAN_BUILD) it is
 * bn_malloc_lines, so that reads past the end meet a redzone. Free with bn_free_large(p, n);
 * NULL with BITNET_ERR_OUT_OF_MEMORY on failure. */
void *bn_malloc_large(size_t n, const char *what);
void bn_free_large(void *p, size_t n);
char *bn_strdup(const char *s);

#endif
