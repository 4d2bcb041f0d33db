/* cpu: what the processor (and the OS) lets the kernels use, as one ordered "tier", and a
 * streaming-read bandwidth probe for `bitnet bench`.
 *
 * Tiers, in order: scalar < avx2 < avxvnni < avx512 < amx on x86-64, scalar < neon < dotprod
 * on aarch64 (neon: Advanced SIMD, baseline ARMv8-A; dotprod: + SDOT/UDOT, ARMv8.2-A's
 * FEAT_DotProd). A machine only ever has the tiers of its own architecture. Each tier has its own
 * requirements (avx512 = F+BW+VL+DQ+VNNI+VBMI with the ZMM state enabled; amx = avx512 plus
 * AMX-TILE/AMX-INT8, the tile state enabled by XGETBV and granted by Linux's
 * arch_prctl(ARCH_REQ_XCOMP_PERM)); a CPU may have a higher tier without a lower one (an
 * AVX-512 part without AVX-VNNI), so "available" is checked per tier.
 * Detection runs once (pthread_once); the results never change afterwards.
 * BITNET_FORCE_TIER=scalar|avx2|avxvnni|avx512|amx|neon|dotprod caps the tier in use: the best
 * available tier at or below the named one within its architecture's order (naming a tier of
 * the other architecture gives scalar, with a note). The library never prints: bn_cpu_tier_note() says what
 * happened to the request (unknown name, tier not available here). */
#ifndef BITNET_CPU_H
#define BITNET_CPU_H

#include <stdbool.h>
#include <stdint.h>

typedef enum bn_cpu_tier {
    BN_TIER_SCALAR = 0,
    BN_TIER_AVX2 = 1,
    BN_TIER_AVXVNNI = 2,
    BN_TIER_AVX512 = 3,
    BN_TIER_AMX = 4,
    BN_TIER_NEON = 5,    /* aarch64 */
    BN_TIER_DOTPROD = 6, /* aarch64 */
    BN_TIER_COUNT = 7,
} bn_cpu_tier;

/* "scalar", "avx2", "avxvnni", "avx512", "amx", "neon", "dotprod" ("?" out of range). */
const char *bn_cpu_tier_name(bn_cpu_tier t);
/* Name -> tier; false on unknown names (NULL included). */
bool bn_cpu_tier_parse(const char *name, bn_cpu_tier *out);
/* True when this CPU and OS support everything tier t needs (scalar: always). */
bool bn_cpu_has_tier(bn_cpu_tier t);
/* The vector instructions of a tier's float code (row passes, log-probabilities): AVX-512 for
 * avx512 and amx, AVX2 for avx2 and avxvnni, NEON for neon and dotprod; BN_VEC_NONE for scalar
 * and for a tier this CPU lacks. */
typedef enum bn_vec_isa { BN_VEC_NONE, BN_VEC_AVX2, BN_VEC_AVX512, BN_VEC_NEON } bn_vec_isa;
bn_vec_isa bn_cpu_vec_isa(bn_cpu_tier t);
/* The highest supported tier, ignoring BITNET_FORCE_TIER. */
bn_cpu_tier bn_cpu_best_tier(void);
/* The tier in use: the best supported tier at or below BITNET_FORCE_TIER (read once). */
bn_cpu_tier bn_cpu_active_tier(void);
/* The best supported tier at or below `cap` (scalar at worst). */
bn_cpu_tier bn_cpu_tier_capped(bn_cpu_tier cap);
/* "" when BITNET_FORCE_TIER is unset or honoured as asked; otherwise one sentence saying
 * what was used instead and why. Static text, valid for the life of the process. */
const char *bn_cpu_tier_note(void);
/* Comma-separated feature names seen (e.g. "avx2,fma,f16c,avx512f,...,amx-int8";
 * "asimd,asimddp,i8mm" on aarch64). */
const char *bn_cpu_features(void);
/* Number of online CPUs (>= 1): the default thread count. */
int bn_cpu_count(void);
/* Rows the one-token F16/Q8_0 LM-head kernels (kernels/float_avx512.c, float_rows.h) and the
 * several-token q8 rows head (q8_rows.h) read side by side: 1 on AMD x86 CPUs (one memory
 * stream per thread: measured faster on Zen 4), 4 elsewhere (what this project's Intel VM
 * measured faster); BITNET_HEAD_ROWS=1 or 4 overrides it (the tests run both). A row's result
 * is the same bits either way. */
int bn_cpu_head_rows(void);
/* The cpuid family of an AMD x86 CPU (base + extended: 0x17 Zen 1/2, 0x19 Zen 3/4, 0x1A Zen 5);
 * 0 on other CPUs. For streaming choices measured differently on Zen 4 and Zen 5. */
int bn_cpu_amd_family(void);

/* Streaming-read bandwidth in GB/s (1e9 bytes/s): n_threads threads (>= 1) each read their
 * share of a `bytes`-sized buffer (allocated, filled, then read 6 times in three patterns:
 * one stream, 2 and 8 interleaved streams with software prefetch; the best pass counts).
 * Returns a negative value (with bn_error set) when the buffer cannot be allocated. */
double bn_measure_read_bandwidth(uint64_t bytes, int n_threads);

#endif
