/* bitnet.h: the public C API of libbitnet, an inference engine for BitNet b1.58
 * ternary-weight language models. This is the only public header.
 * (The full API with its usage example is documented below as it grows.) */
#ifndef BITNET_H
#define BITNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define BITNET_API __declspec(dllexport)
#elif defined(__GNUC__)
#define BITNET_API __attribute__((visibility("default")))
#else
#define BITNET_API
#endif

#define BITNET_VERSION_MAJOR 0
#define BITNET_VERSION_MINOR 1
#define BITNET_VERSION_PATCH 0
#define BITNET_VERSION_STRING "0.1.0"
/* Bumped whenever a public struct or signature changes incompatibly. */
#define BITNET_ABI_VERSION 1

/* Status codes: every function that can fail returns 0 (or a positive id / count) on success
 * and one of these negative values otherwise; bitnet_get_last_error() then says why. The
 * values are pinned and will not change. */
typedef enum bitnet_status {
    BITNET_OK = 0,
    BITNET_ERR_INVALID_ARGUMENT = -1,
    BITNET_ERR_NOT_FOUND = -2,
    BITNET_ERR_LOAD_FAILED = -3,
    BITNET_ERR_INFERENCE_FAILED = -4,
    BITNET_ERR_OUT_OF_MEMORY = -5,
    BITNET_ERR_INVALID_ID = -6,
    BITNET_ERR_CONTEXT_EXCEEDED = -7,
    BITNET_ERR_UNSUPPORTED = -8,
    BITNET_ERR_BUFFER_TOO_SMALL = -9,
    BITNET_ERR_INTERNAL = -10,
    BITNET_ERR_CANCELLED = -11,
    BITNET_ERR_IO = -12,
} bitnet_status;

/* A short constant name for a status ("BITNET_ERR_NOT_FOUND"); "unknown status" otherwise. */
BITNET_API const char *bitnet_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif
