/* mapfile: read-only mapping of a whole regular file, shared by the readers of outside files
 * (gguf.c, safetensors.c). */
#ifndef BITNET_MAPFILE_H
#define BITNET_MAPFILE_H

#include <stdint.h>

/* Maps `path` read-only: *base (NULL for an empty file) and *size. Returns 0, or
 * BITNET_ERR_LOAD_FAILED with the last error "<path>: cannot open / not a regular file /
 * cannot map ...". */
int bn_map_file(const char *path, const uint8_t **base, uint64_t *size);
/* Releases a mapping from bn_map_file (NULL is accepted). */
void bn_unmap_file(const uint8_t *base, uint64_t size);

#endif
