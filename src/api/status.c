/* status: names of the public status codes. */
#include "bitnet.h"

BITNET_API const char *bitnet_status_name(int status) {
    switch (status) {
    case BITNET_OK: return "BITNET_OK";
    case BITNET_ERR_INVALID_ARGUMENT: return "BITNET_ERR_INVALID_ARGUMENT";
    case BITNET_ERR_NOT_FOUND: return "BITNET_ERR_NOT_FOUND";
    case BITNET_ERR_LOAD_FAILED: return "BITNET_ERR_LOAD_FAILED";
    case BITNET_ERR_INFERENCE_FAILED: return "BITNET_ERR_INFERENCE_FAILED";
    case BITNET_ERR_OUT_OF_MEMORY: return "BITNET_ERR_OUT_OF_MEMORY";
    case BITNET_ERR_INVALID_ID: return "BITNET_ERR_INVALID_ID";
    case BITNET_ERR_CONTEXT_EXCEEDED: return "BITNET_ERR_CONTEXT_EXCEEDED";
    case BITNET_ERR_UNSUPPORTED: return "BITNET_ERR_UNSUPPORTED";
    case BITNET_ERR_BUFFER_TOO_SMALL: return "BITNET_ERR_BUFFER_TOO_SMALL";
    case BITNET_ERR_INTERNAL: return "BITNET_ERR_INTERNAL";
    case BITNET_ERR_CANCELLED: return "BITNET_ERR_CANCELLED";
    case BITNET_ERR_IO: return "BITNET_ERR_IO";
    default: return "unknown status";
    }
}
